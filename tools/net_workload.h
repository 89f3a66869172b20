/* SPDX-License-Identifier: MIT */
/*
 * The network commands' shared engine (pvio net, pvio netfront, pvio
 * netback): the traffic generator and counter that drives an open
 * netfront device, the port-side generator of the backend (a net_ring
 * ethdev the backend process feeds and drains itself), the summary
 * printers, the flags the commands share, and the pipe messages (the
 * block commands' blk_msg_send/recv framing) by which pvio net collects
 * results from its two domains.
 *
 * Directions:
 *   tx    the guest sends --size frames (netfront -> ring -> netback ->
 *         port); the port swallows them (net_null with no-rx=1, or the
 *         backend drains net_ring's tx rings).
 *   rx    the port side produces frames for the guest: net_null's rx
 *         returns zero-filled frames of its size= on its own, as fast as
 *         netback pulls (--rate cannot pace it); with net_ring the backend
 *         process injects frames of --size at --rate into the ring's rx.
 *   both  both at once.
 * Other ports (tap, af_packet, a vdev string) carry what the outside
 * gives them; rx counts whatever arrives.
 */
#ifndef PVIO_TOOLS_NET_WORKLOAD_H
#define PVIO_TOOLS_NET_WORKLOAD_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <pvio/netback.h>
#include <pvio/netfront.h>

enum net_dir {
	NET_DIR_TX,
	NET_DIR_RX,
	NET_DIR_BOTH,
};

#define NET_BURST_MAX 256u
#define NET_SIZE_MIN 60u      /* the smallest Ethernet frame without FCS */
#define NET_TX_COPY_ALWAYS UINT32_MAX
#define NET_TX_COPY_NEVER 1u  /* no frame is that small: every one mapped */

struct net_workload_config {
	uint32_t size;          /* frame bytes, FCS excluded; default 64 */
	uint32_t burst;         /* packets per send_burst; default 32 */
	uint64_t rate;          /* tx packets/s; 0: as fast as it goes */
	uint32_t duration_ms;   /* default 5000 (--duration takes seconds,
				   decimals allowed: 0.25) */
	uint32_t queues;        /* default 1 */
	uint32_t rx_mode;       /* enum pvio_netfront_rx_mode; default copy */
	enum net_dir dir;       /* default tx */
	uint32_t tx_copy;       /* backend tx copy threshold in bytes (copy up
				   to, map above); 0: netback's default;
				   NET_TX_COPY_ALWAYS / NET_TX_COPY_NEVER */
	bool progress;          /* a line a second on stdout (a TTY) */
	const char *progress_prefix;
};

/* What the frontend measured. Plain data: it crosses a pipe as is. */
struct net_workload_result {
	uint64_t ns;                   /* the measured interval */
	uint64_t tx_packets, tx_bytes; /* completed OK by the backend */
	uint64_t rx_packets, rx_bytes; /* received in the interval */
	uint64_t tx_errors, tx_dropped; /* backend answered ERROR / DROPPED */
	uint64_t rx_errors, rx_dropped, rx_truncated;
	uint64_t send_again;           /* send_burst said -EAGAIN (ring full) */
	int first_error;               /* -errno that ended the run, 0: none */
	bool drained;                  /* every tx packet came back */
	struct pvio_netfront_info info;
	struct pvio_netfront_stats front;
	struct net_workload_config cfg;
};

/*
 * Run cfg on nf from the calling thread until its duration or *stop,
 * then wait (up to 5 s) for every tx packet to complete. Returns 0 (res
 * filled; errors are in res), -EINVAL with msg (cfg does not fit the
 * device: --size above the frame it takes), -ENOMEM with msg.
 */
int net_workload_run(struct pvio_netfront *nf, const struct net_workload_config *cfg,
		     _Atomic int *stop, struct net_workload_result *res,
		     char *msg, size_t msg_size);

/* The port-side counters of the backend process (net_ring generator). */
struct net_port_result {
	uint64_t injected;       /* frames put on the port's rx */
	uint64_t inject_full;    /* ... refused: the port's rx ring full */
	uint64_t sunk, sunk_bytes; /* frames the port transmitted (drained) */
	bool ring;               /* a net_ring port the backend fed */
};

/* Errors and drops, summed over both ends (bb may be NULL). */
uint64_t net_errors(const struct net_workload_result *res, const struct pvio_netback_stats *bb);
uint64_t net_drops(const struct net_workload_result *res, const struct pvio_netback_stats *bb);
/* Did the run pass: no error on either end, packets moved, drained. */
bool net_workload_ok(const struct net_workload_result *res, const struct pvio_netback_stats *bb);

/*
 * The summary, text or one JSON object, on out. bb and port (may be
 * NULL: a frontend alone) add the backend's counters: copies, zero-copy
 * sends, flips, kicks, drops. port_name may be NULL.
 */
void net_report_text(FILE *out, const char *cmd, const struct net_workload_result *res,
		     const struct pvio_netback_stats *bb, const struct net_port_result *port,
		     const char *port_name);
void net_report_json(FILE *out, const char *cmd, const struct net_workload_result *res,
		     const struct pvio_netback_stats *bb, const struct net_port_result *port,
		     const char *port_name);
/* The one stderr line of a failed run. */
void net_report_failure(FILE *out, const char *cmd, const struct net_workload_result *res,
			const struct pvio_netback_stats *bb);

/* ---- flags ------------------------------------------------------------------- */

/*
 * If argv[*i] is a workload flag (--size --burst --rate --duration
 * --queues --rx --direction), parse it into c, advance *i past its value
 * and return true. A bad value exits 2 naming the flag.
 */
bool net_workload_flag(const char *cmd, struct net_workload_config *c, int argc,
		       char **argv, int *i);
void net_workload_defaults(struct net_workload_config *c);
/* --tx-copy (the backend's copy threshold, into c->tx_copy): as
 * net_workload_flag; the commands that run netback take it. */
bool net_tx_copy_flag(const char *cmd, struct net_workload_config *c, int argc, char **argv,
		      int *i);
extern const char net_tx_copy_help[];
extern const char net_workload_help[];
const char *net_dir_name(enum net_dir d);

/*
 * --port: "null", "ring", "tap", "af_packet" or a DPDK vdev string
 * ("net_null3,size=128"). Fills the netback port kind ("dpdk"/"tap") and
 * the device; ring leaves dev empty (the backend creates it). Exits 2 on
 * an empty value.
 */
struct net_port_choice {
	char name[16];           /* null, ring, tap, af_packet, vdev */
	char dev[256];           /* the DPDK device string */
	bool tap;
	bool ring;
};
void net_parse_port(const char *cmd, const char *value, struct net_port_choice *pc);
/* The device string for a port choice and workload (null: no-rx when the
 * direction is tx, size= of the frames otherwise). */
void net_port_dev(const struct net_port_choice *pc, const struct net_workload_config *wl,
		  char *dev, size_t size);

/* ---- the port-side generator (DPDK net_ring) ------------------------------------- */

struct net_port_gen;
/*
 * Create a net_ring ethdev of queues queue pairs (EAL initialised by
 * pvio_netback_dpdk_init first); its ethdev name goes to dev. Then
 * start(): a thread that drains the tx rings (counting), and, when
 * inject, feeds the rx rings with frames of wl's size at wl's rate
 * addressed to mac. Returns 0, -ENOTSUP (no DPDK), -ENOMEM, -errno.
 */
int net_port_gen_create(uint32_t queues, char *dev, size_t dev_size,
			struct net_port_gen **out);
int net_port_gen_start(struct net_port_gen *g, const struct net_workload_config *wl,
		       bool inject, const uint8_t mac[6]);
void net_port_gen_stop(struct net_port_gen *g, struct net_port_result *res);
void net_port_gen_destroy(struct net_port_gen *g);

/*
 * The baseline pvio net --baseline runs: DPDK alone, no domains. EAL
 * initialised here (no hugepages, its own file prefix); one pinned-free
 * loop allocates wl->burst mbufs of wl->size in bulk, writes each frame,
 * rte_eth_tx_burst()s them to net_null (no-rx=1), frees what the port
 * refused, for wl->duration_ms. res gets ns, tx_packets, tx_bytes (cfg
 * copied). Returns 0, -ENOTSUP (built without DPDK), -ENODEV, -ENOMEM
 * (msg says which).
 */
int net_baseline_run(const struct net_workload_config *wl, struct net_workload_result *res,
		     char *msg, size_t msg_size);

/* ---- the two sides, as functions pvio net forks ----------------------------------- */

/* Message types on the status pipes (framing: blk_msg_send/recv). */
enum net_msg_type {
	NET_MSG_DOMID = 1,   /* either: uint32_t domid, connected to hostd */
	NET_MSG_READY = 2,   /* backend: serving (InitWait), no payload */
	NET_MSG_ERROR = 3,   /* either: a one-line message, then exit 1 */
	NET_MSG_RESULT = 4,  /* frontend: struct net_workload_result */
	NET_MSG_NSTATS = 5,  /* backend: struct net_back_result, at exit */
	NET_MSG_USAGE = 6,   /* frontend: a one-line usage problem, exit 2 */
};

struct net_back_result {
	struct pvio_netback_stats nb;
	struct net_port_result port;
};

struct netback_side_opts {
	const char *run_dir;
	const struct pvio_netback_vif_spec *vif;
	struct net_port_choice port;
	struct net_workload_config wl; /* rx generator of a ring port */
	int frontend;             /* -1: find the device in the store */
	uint32_t queues;          /* offered; 0: 4 */
	bool json;
	const char *netns;        /* tap: create the vif in this namespace */
	int status_fd;            /* -1: standalone */
	int ctl_fd;               /* -1: none; readable or EOF: stop */
	bool no_create;           /* pvio net creates the device */
};
int netback_side_run(const struct netback_side_opts *o);

struct netfront_side_opts {
	const char *run_dir;
	uint32_t devid;
	struct net_workload_config wl;
	const char *tap;          /* non-NULL: bridge to this TAP, no workload */
	int wait_s;
	int reconnect_s;          /* > 0: a lost backend is waited for this
				   * long and reconnected (cfg.reconnect) */
	bool json;
	int status_fd;
	int ctl_fd;
	const char *cmd;
};
int netfront_side_run(const struct netfront_side_opts *o);

/* Guest pages for a workload: rings, rx buffers and tx pages per queue. */
uint32_t netfront_side_pages(const struct net_workload_config *wl);
#define NETBACK_SIDE_PAGES 16384u

#endif
