/* SPDX-License-Identifier: MIT */
/*
 * netback's private header: the vif, its queues, the tx checks, the
 * switch, the ports.
 *
 * Split by job (STYLE practice 11), as Linux's xen-netback:
 *   interface.c  create/start/stop/destroy, queue connect/disconnect and
 *                threads, counters, logging, scripts
 *   xenbus.c     negotiation only: store keys and the state machine
 *   tx.c         guest -> port: slot chains, checks, map / copy, xmit,
 *                zero-copy completion
 *   rx.c         port -> guest: bounded queue, grant copy / page flip
 *   switch.c     the built-in L2 switch (MAC learning, flooding, ageing,
 *                anti-spoofing), pure
 *   vif_spec.c   xl vif specifications
 *   port_*.c     one file per port; ports.c lists them
 */
#ifndef NETBACK_COMMON_H
#define NETBACK_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <pvio/evtchn.h>
#include <pvio/host.h>
#include <pvio/evtchn_ratelimit.h>
#include <pvio/grant.h>
#include <pvio/netback.h>
#include <pvio/netback_port.h>
#include <pvio/netif.h>
#include <pvio/ring.h>
#include <pvio/xenbus.h>

#define NB_ETH_HLEN 14u
#define NB_DEFAULT_MAX_QUEUES 4u
#define NB_MAX_QUEUES 16u
#define NB_DEFAULT_FATAL_SLOTS 20u        /* Linux's fatal_skb_slots */
#define NB_FATAL_SLOTS_LIMIT 64u          /* largest fatal_slots accepted */
#define NB_DEFAULT_RX_PKTS 1024u
#define NB_DEFAULT_RX_BYTES (512u * 1024u) /* Linux XENVIF_RX_QUEUE_BYTES */
#define NB_DEFAULT_DRAIN_MS 10000u        /* Linux rx_drain_timeout_msecs */
#define NB_MCAST_MAX 64u                  /* Linux XEN_NETBK_MCAST_MAX */
#define NB_TX_BATCH 64u
#define NB_RX_BATCH 32u

/* ---- tx checks (tx.c, pure) ------------------------------------------------ */

struct nb_tx_limits {
	uint32_t max_slots;   /* data slots per packet; more: dropped */
	bool gso_tcpv4;       /* offered feature-gso-tcpv4 */
	bool gso_tcpv6;
	bool mcast;           /* offered feature-multicast-control */
};

enum nb_tx_verdict {
	NB_TX_OK = 0,
	NB_TX_BAD_SIZE,     /* first size < 14, or later slots sum above it */
	NB_TX_BAD_OFFSET,   /* a slot's offset + its bytes past the page */
	NB_TX_TOO_MANY_SLOTS,
	NB_TX_BAD_EXTRA,    /* extra of type NONE/unknown, or twice */
	NB_TX_BAD_GSO,      /* gso size 0, unknown type, not offered */
};

/* A checked packet: the data slots and what the extras said. */
struct nb_tx_desc {
	uint32_t nr_data;                /* data slots */
	uint32_t nr_extras;              /* extra-info slots */
	uint32_t len;                    /* first slot's size: the packet */
	uint16_t flags;                  /* first slot's PVIO_NETTXF_* */
	uint16_t gso_size;
	uint8_t gso_type;                /* PVIO_NETIF_GSO_TYPE_* or 0 */
	bool mcast_add, mcast_del;
	uint8_t mcast_add_addr[6], mcast_del_addr[6];
	/* per data slot: id, gref, offset, bytes */
	uint16_t id[NB_FATAL_SLOTS_LIMIT];
	pvio_grant_ref_t gref[NB_FATAL_SLOTS_LIMIT];
	uint16_t off[NB_FATAL_SLOTS_LIMIT];
	uint16_t size[NB_FATAL_SLOTS_LIMIT];
};

/*
 * Chain assembly: what the slot after `slots[0..n-1]` is, given the chain
 * so far. Returns 1 when the chain is complete, 0 when it continues.
 * Slot 0 is the first request; extras follow it while EXTRA_FLAG_MORE;
 * data slots follow while the previous data slot has more_data.
 */
int nb_tx_chain_complete(const struct pvio_netif_tx_request *slots, uint32_t n);

/*
 * Check a complete chain of n copied-out slots (the ring is never read
 * again) and fill *d. Slot ids are in d->id even when the verdict is not
 * NB_TX_OK, so every slot can be answered. Returns enum nb_tx_verdict.
 */
enum nb_tx_verdict nb_tx_check(const struct nb_tx_limits *lim,
			       const struct pvio_netif_tx_request *slots,
			       uint32_t n, struct nb_tx_desc *d);

/*
 * Parse Ethernet/IPv4/IPv6 + TCP/UDP headers from hdr[0..len) (the first
 * bytes of the frame) into pkt's l2_len/l3_len/l4_len/l4_proto/ipv6, and
 * for csum set csum_start/csum_offset. Returns 0, -EINVAL (not
 * IPv4/IPv6 TCP/UDP, truncated, IPv4 fragment).
 */
int nb_pkt_parse(const uint8_t *hdr, uint32_t len, struct netback_pkt *pkt);

/* Complete a CSUM_PARTIAL packet's checksum in place (software). */
void nb_pkt_csum_complete(struct netback_pkt *pkt);

/* Copy up to max bytes from the start of the packet into buf. */
uint32_t nb_pkt_gather(const struct netback_pkt *pkt, uint8_t *buf, uint32_t max);

/* ---- the switch (switch.c, pure apart from a lock) ---------------------------- */

#define NB_SW_MAX_PORTS 64u
#define NB_SW_UPLINK 0u              /* port 0: the uplink, no anti-spoofing */
#define NB_SW_DEFAULT_AGEING_NS (300ull * 1000000000ull) /* Linux bridge */

enum nb_sw_action {
	NB_SW_DROP = 0,     /* spoofed source, unknown port, or to itself */
	NB_SW_UNICAST,      /* *out: the one port */
	NB_SW_FLOOD,        /* every port in use but the ingress */
};

struct nb_sw_entry {
	uint8_t mac[6];
	uint8_t used;       /* 0 empty, 1 learned, 2 static (a vif's own) */
	uint8_t pad;
	uint32_t port;
	uint64_t seen_ns;
};

struct nb_sw_stats {
	uint64_t learned, moved, aged, flooded, unicast, dropped_spoof,
		 dropped_self, table_full;
};

struct nb_switch {
	pthread_mutex_t lock;
	struct nb_sw_entry *tab;     /* open addressing, power of two */
	uint32_t nr_slots, nr_used;
	uint64_t ageing_ns;
	uint64_t last_age_ns;
	uint64_t ports_used;         /* bit p: port p exists */
	uint8_t port_mac[NB_SW_MAX_PORTS][6];
	struct nb_sw_stats st;
};

/* nr_entries rounded up to a power of two (>= 16). 0, -ENOMEM. */
int nb_switch_init(struct nb_switch *sw, uint32_t nr_entries, uint64_t ageing_ns);
void nb_switch_fini(struct nb_switch *sw);
/* The uplink is port 0 (mac NULL); vifs get 1.. with their MAC installed
 * static. 0, -ENOSPC, -EEXIST (uplink twice, MAC of another vif). */
int nb_switch_port_add(struct nb_switch *sw, const uint8_t *mac, uint32_t *port);
/* Remove a port and every entry pointing at it. */
void nb_switch_port_del(struct nb_switch *sw, uint32_t port);
/*
 * Where does a frame from in_port go? Learns its source (not from vif
 * ports: their only source is their own MAC, anything else is dropped as
 * spoofed), ages the table at most once a second. frame has >= 12 bytes.
 */
enum nb_sw_action nb_switch_forward(struct nb_switch *sw, uint32_t in_port,
				    const uint8_t *frame, uint64_t now_ns,
				    uint32_t *out);
/* Drop learned entries idle since now - ageing. Returns how many. */
uint32_t nb_switch_age(struct nb_switch *sw, uint64_t now_ns);
/* The port a MAC is known on (true) or not (false). */
bool nb_switch_lookup(struct nb_switch *sw, const uint8_t *mac, uint32_t *port);
void nb_switch_stats(struct nb_switch *sw, struct nb_sw_stats *st);

/* ---- ports (ports.c) -------------------------------------------------------- */

/* The port called name, or NULL. NULL name: "tap". */
const struct netback_port_ops *nb_port_find(const char *name);
extern const struct netback_port_ops nb_port_tap;
extern const struct netback_port_ops nb_port_dpdk;

/* ---- counters ------------------------------------------------------------- */

enum nb_ctr {
	C_TX_PKTS, C_TX_BYTES, C_TX_ZC, C_TX_COPY,
	C_TX_ERR_SIZE, C_TX_ERR_OFFSET, C_TX_ERR_SLOTS, C_TX_ERR_EXTRA,
	C_TX_ERR_GSO, C_TX_ERR_GRANT, C_TX_ERR_CSUM, C_TX_DROP_PORT,
	C_TX_DROP_SPOOF, C_TX_MCAST, C_TX_FATAL,
	C_RX_PKTS, C_RX_BYTES, C_RX_COPY, C_RX_FLIP, C_RX_FLIP_ZC, C_RX_COPY_FALLBACK,
	C_RX_DROP_FULL, C_RX_DROP_STALL, C_RX_DROP_TOOBIG, C_RX_DROP_GSO,
	C_RX_DROP_MCAST, C_RX_ERR_GRANT, C_RX_CSUM_SW,
	C_KICKS, C_WAKEUPS, C_EVENTS, C_PROTO, C_STORM_DELAYS,
	C_NR
};

struct nb_counters {
	_Atomic uint64_t v[C_NR];
};

/* One writer (the queue thread), any reader. */
static inline void nb_count(struct nb_counters *c, enum nb_ctr i, uint64_t n)
{
	atomic_store_explicit(&c->v[i],
			      atomic_load_explicit(&c->v[i], memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* ---- tx in flight ------------------------------------------------------------ */

struct nb_txzc;

/* A copy-path slot: its bytes in the batch's copy mapping `map`. */
struct nb_txcopy {
	uint32_t map;
	uint16_t off, len;
};

/* One tx packet between the ring and its responses. */
struct nb_txp {
	struct nb_txzc *zc;
	struct nb_txp *next;          /* free list / done stack */
	uint32_t nr_ids;              /* data slots to answer */
	uint32_t nr_extras;           /* RSP_NULL slots after the first */
	uint32_t nr_handles;
	uint16_t ids[NB_FATAL_SLOTS_LIMIT];
	uint32_t handles[NB_FATAL_SLOTS_LIMIT];
	struct netback_pkt pkt;
};

/*
 * Zero-copy completions. Ports call netback_port_tx_done() from any
 * thread; it pushes the packet on `done` (a lock-free stack the queue
 * thread takes whole) and kicks the queue thread if it sleeps. This
 * struct outlives its queue while a port still holds packets: a queue
 * torn down with packets out marks it orphaned, and the last completion
 * unmaps, and frees it.
 */
struct nb_txzc {
	_Atomic(struct nb_txp *) done;
	_Atomic uint32_t outstanding;  /* packets HELD by the port */
	_Atomic bool orphaned;
	_Atomic bool freed;
	_Atomic uint32_t sleeping;     /* the queue thread is (about to be)
					  asleep: kick it */
	struct pvio_gnt_back *gnt;
	struct pvio_evtchn *ev;
	uint32_t kick_port;            /* notify: raises the loop port */
	struct nb_txp *pend;           /* nr_pend packets */
	uint32_t nr_pend;
	/* Completions the port makes in the queue thread's own xmit call
	 * (a PMD freeing sent mbufs in tx_burst): a plain list, no atomics. */
	struct nb_txp *local;
};

/* ---- a queue ----------------------------------------------------------------- */

struct pvio_netback;

struct nb_queue {
	struct pvio_netback *nb;
	uint32_t idx;
	struct pvio_host_thread thr;

	/* negotiated (control thread, before the thread starts) */
	pvio_grant_ref_t tx_ref, rx_ref;
	uint32_t tx_handle, rx_handle;
	void *tx_va, *rx_va;
	uint32_t remote_tx_port, remote_rx_port; /* equal unless split */
	uint32_t tx_port, rx_port;               /* local; equal unless split */
	uint32_t loop_port, loop_peer;           /* self channel: wake-ups */
	uint32_t waiter;
	enum pvio_evtchn_wait_mode wait_mode;
	struct pvio_evtchn_ratelimit rl;    /* event storms */

	struct pvio_ring_back tx, rx;

	/* tx */
	struct nb_txzc *zc;
	struct nb_txp *txp_free;
	struct pvio_netif_tx_request chain[NB_FATAL_SLOTS_LIMIT + 1];
	uint32_t nchain;
	struct nb_txp *batch[NB_TX_BATCH];
	struct netback_pkt *bpkts[NB_TX_BATCH];
	void *bowners[NB_TX_BATCH];
	int bstatus[NB_TX_BATCH];
	struct pvio_gnt_map_op *mapops;     /* NB_TX_BATCH * max_slots */
	struct pvio_gnt_map_op *cmapops;    /* copy path: one map per grant
					       run in the batch */
	struct nb_txcopy *copies;           /* copy path: one per slot */
	struct pvio_gnt_unmap_op *unmapops;
	uint32_t scratch_pfn;               /* copy targets without tx_copy_buf */
	uint32_t nr_scratch;
	struct nb_tx_desc desc;

	/* rx: the bounded queue of packets for the guest */
	struct netback_pkt *bl;
	uint32_t bl_cap, bl_head, bl_count;
	uint64_t bl_bytes;
	_Atomic uint64_t bl_count_pub, bl_bytes_pub; /* for stats() */
	uint32_t *spare;                    /* flip: backend pfns to fill */
	uint32_t nr_spare, spare_cap;
	struct pvio_gnt_copy_op *rxcopy;    /* NB_RX_BATCH * 18 */
	uint32_t *rxcopy_pkt;
	struct pvio_gnt_map_op *rxmap;
	struct pvio_gnt_transfer_op *xfer;
	struct pvio_netif_rx_request *rxreq; /* NB_RX_BATCH * 20 */
	uint32_t bounce_pfn;                /* mappings exhausted: copy via */
	bool bounce_pfn_ok;

	/* port readiness watcher (ports with an rx fd) */
	int rx_fd;
	struct pvio_host_thread watcher;
	pthread_mutex_t wlock;
	pthread_cond_t wcond;
	bool armed;

	struct nb_counters cnt;
};

int nb_queue_connect(struct pvio_netback *nb, struct nb_queue *q);
int nb_queue_start(struct nb_queue *q);
void nb_queue_disconnect(struct nb_queue *q);

/* tx.c: one round of tx work. Returns work done (>0), 0, or -EPROTO /
 * -EBADMSG (fatal: the vif must be disabled). */
int nb_tx_round(struct nb_queue *q);
/* Answer completed zero-copy packets. Returns how many. */
int nb_tx_reap(struct nb_queue *q);
/* Allocate / free the tx state of a queue. */
int nb_tx_init(struct nb_queue *q);
/* Wait up to timeout_ms for held packets, then orphan what remains. */
void nb_tx_fini(struct nb_queue *q, uint32_t timeout_ms);
/* Push responses and kick. */
void nb_tx_push(struct nb_queue *q);
/* rx.c */
int nb_rx_init(struct nb_queue *q);
void nb_rx_fini(struct nb_queue *q);
/* One round: pull from the port, drop stale, deliver. Returns work done,
 * 0, or -EPROTO. *blocked: the rx requests the head packet waits for
 * (0: not waiting). */
int nb_rx_round(struct nb_queue *q, uint32_t *blocked);

/* ---- the vif ------------------------------------------------------------------ */

struct pvio_netback {
	struct pvio_netback_config cfg;
	struct pvio_netback_vif_spec vif;
	const struct netback_port_ops *port;
	void *port_ctx;
	bool port_open;
	struct netback_port_env env;
	uint32_t devid;
	char ifname[16];
	char port_dev[PVIO_NETBACK_STR_MAX];
	char netns[PVIO_NETBACK_STR_MAX];
	char script_dir[PVIO_NETBACK_STR_MAX];
	bool script_ran;

	/* offered (fixed at create) */
	uint32_t max_queues, max_slots, fatal_slots;
	uint32_t rx_max_pkts, rx_max_bytes, drain_ms, copy_threshold;
	bool offer_flip, offer_gso, offer_split, offer_mcast;

	/* negotiated (control thread; read by queues after they start) */
	bool rx_flip;              /* request-rx-copy 0 */
	bool split;
	bool fe_sg, fe_gso4, fe_gso6, fe_gso4_prefix, fe_gso6_prefix;
	bool fe_csum4, fe_csum6;   /* guest takes csum_blank packets */
	bool fe_rx_notify;
	bool mcast_ctrl;
	struct nb_tx_limits lim;

	/* the guest's multicast filter (tx extras write it, rx reads) */
	pthread_mutex_t mcast_lock;
	uint8_t mcast[NB_MCAST_MAX][6];
	uint32_t nr_mcast;

	/* control */
	struct pvio_host_thread ctl;
	_Atomic bool broken;
	_Atomic bool fatal_done;
	_Atomic uint32_t state;
	_Atomic uint32_t connects;
	char fatal_msg[160];
	struct pvio_xenbus_device xdev;

	pthread_mutex_t lock;      /* q/nr_q against stats() */
	struct nb_queue *q;
	uint32_t nr_q;
	struct nb_counters retired;

	pthread_mutex_t fatal_lock;   /* broken and fatal_msg, set once */
	struct pvio_host_ratelog log; /* nb_log()'s, NB_LOG_PER_SEC */
};

void *nb_xenbus_main(void *arg);
void nb_queues_destroy(struct pvio_netback *nb);
/* Disable the vif from a queue thread (fatal frontend error): mask its
 * ports, flag broken, log once. The control thread makes it fatal. */
void nb_vif_fatal(struct nb_queue *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Rate-limited log line on stderr: at most NB_LOG_PER_SEC a second per
 * vif. */
#define NB_LOG_PER_SEC 10u
void nb_log(struct pvio_netback *nb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Multicast filter: true if the guest wants frames to mac. */
bool nb_mcast_allowed(struct pvio_netback *nb, const uint8_t *mac);
void nb_mcast_update(struct pvio_netback *nb, const uint8_t *mac, bool add);

#endif /* NETBACK_COMMON_H */
