/* SPDX-License-Identifier: MIT */
/*
 * netback: the network backend of the driver domain (Xen netif protocol).
 *
 * One struct pvio_netback serves one vif (one frontend's network device)
 * and connects it to a port: a DPDK ethdev (directly, or through netback's
 * built-in L2 switch shared by every vif naming the same bridge) or a TAP
 * device vif<domid>.<devid> in the Linux stack.
 *
 *   pvio_netback_create()   parse nothing, check the configuration
 *   pvio_netback_start()    open the port (the TAP device appears), run the
 *                           hotplug script "online" if asked, control
 *                           thread: xenbus negotiation (InitWait ->
 *                           Connected), then one thread per queue
 *   pvio_netback_stop()     disconnect, state Closed, join every thread
 *   pvio_netback_destroy()  script "offline", close the port, free
 *
 * What the backend offers and reads in the store (backend dir
 * /local/domain/<be>/backend/vif/<fe>/<devid>, frontend dir
 * /local/domain/<fe>/device/vif/<devid>) is documented where the keys are
 * defined, in netback/xenbus.c; every key and value is Xen's
 * (xen/io/netif.h).
 *
 * Failure model (DESIGN.md decision 3): a tx request the frontend got
 * wrong (size, offset, slot count below the fatal limit, extra info, bad
 * grant) is answered NETIF_RSP_ERROR and counted. A frontend that breaks
 * the ring protocol (bad indices) or sends a packet past the fatal slot
 * limit gets its vif disabled: event channels masked, xenbus fatal (error
 * node, state Closed), logged once; every other vif keeps serving.
 *
 * Memory is bounded: each queue holds at most rx_queue_max_pkts /
 * rx_queue_max_bytes packets for its guest; packets the guest does not
 * take within rx_drain_timeout_ms (no rx buffers posted) are dropped.
 *
 * Every function returns 0 or -errno unless it says otherwise.
 */
#ifndef PVIO_NETBACK_H
#define PVIO_NETBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/evtchn.h>
#include <pvio/grant.h>
#include <pvio/types.h>
#include <pvio/xenbus.h>

/* ---- vif specifications (xl-network-configuration(5)) -------------------- */

#define PVIO_NETBACK_STR_MAX 256

struct pvio_netback_vif_spec {
	uint8_t mac[6];      /* mac=; random 00:16:3e:xx:xx:xx when absent */
	bool mac_set;        /* mac= was given */
	char bridge[64];     /* bridge= (TAP: Linux bridge; DPDK: switch) */
	char script[PVIO_NETBACK_STR_MAX]; /* script= (default vif-bridge) */
	char ip[PVIO_NETBACK_STR_MAX];     /* ip= space-separated addresses */
	char vifname[16];    /* vifname= (IFNAMSIZ); "" means vif<fe>.<devid> */
	char gatewaydev[16]; /* gatewaydev= (vif-route / vif-nat) */
	char model[32];      /* model= (ignored by PV, kept for tools) */
	char type[8];        /* type= "vif" (default) or "ioemu" */
	uint32_t devid;      /* devid= */
	bool devid_set;
	uint32_t mtu;        /* mtu=; 0: default 1500 */
	int backend;         /* backend= domid; -1 not given */
	int trusted;         /* trusted / untrusted: 1 / 0; -1 not given */
};

/*
 * Parse an xl VIFSPEC: comma-separated key=value (any order), e.g.
 * "mac=00:16:3e:01:02:03,bridge=xenbr0,script=vif-bridge,ip=10.0.0.2".
 * Keys: mac, bridge, script, ip, vifname, gatewaydev, model, type, devid,
 * mtu, backend (a domid), and the flags trusted / untrusted. Strict: an
 * unknown key, a key given twice, a malformed or multicast MAC, an empty
 * value or a value too long is an error; rate= and accel= are refused as
 * not supported. A missing mac gets a random one with Xen's OUI 00:16:3e.
 * On error err[err_size] (may be NULL) gets one line naming the problem.
 * Any thread. Returns 0 or -EINVAL.
 */
int pvio_netback_vif_spec_parse(const char *s, struct pvio_netback_vif_spec *spec,
				char *err, size_t err_size);

/* "00:16:3e:01:02:03" into buf (>= 18 bytes). */
void pvio_netback_mac_format(const uint8_t mac[6], char *buf);

/* ---- a backend vif -------------------------------------------------------- */

struct pvio_netback;

/*
 * Backend-owned pages (flip frames, copy buffers, TAP receive buffers).
 * The host platform's are pvio_domain_page_alloc/free on the driver
 * domain (pvio_netback_config_from_domain() fills them).
 */
struct pvio_netback_page_ops {
	int (*alloc)(void *ctx, uint32_t n, uint32_t *pfn);
	int (*free)(void *ctx, uint32_t pfn, uint32_t n);
};

struct pvio_netback_config {
	/* The driver domain's platform. All must outlive the vif. */
	pvio_domid_t be;
	pvio_domid_t fe;
	uint32_t devid;                     /* 0: the spec's devid (or 0) */
	const struct pvio_machine *machine; /* required */
	struct pvio_gnt_back *gnt;          /* required */
	struct pvio_evtchn *evtchn;         /* required */
	struct pvio_xs *xs;                 /* this vif's control thread only */
	const struct pvio_netback_page_ops *page_ops; /* required */
	void *page_ctx;

	const struct pvio_netback_vif_spec *vif; /* NULL: defaults, random MAC */
	const char *port;      /* "tap" (default) or "dpdk" */
	const char *port_dev;  /* dpdk: ethdev name or vdev args ("net_null0",
				  "net_tap0,iface=x"); tap: unused */
	const char *netns;     /* tap: create the device in this namespace
				  (a name under /run/netns or a path) */

	/* What is offered; 0 takes the default. */
	uint32_t max_queues;        /* multi-queue-max-queues; default 4 */
	uint32_t max_slots;         /* drop beyond; default 18 (NR_SLOTS_MIN) */
	uint32_t fatal_slots;       /* disable the vif at; default 20 (Linux) */
	uint32_t rx_queue_max_pkts; /* per queue; default 1024 */
	uint32_t rx_queue_max_bytes;/* per queue; default 512 KiB (Linux) */
	uint32_t rx_drain_timeout_ms; /* default 10000 (Linux) */
	uint32_t copy_threshold;    /* tx: copy packets up to this many bytes,
				       map the rest (zero copy); 0: default
				       (measured, netback/README.md);
				       UINT32_MAX: always copy */
	bool zerocopy_off;          /* tx: never map (copy every packet) */
	bool no_rx_flip;            /* do not offer feature-rx-flip */
	bool no_gso;                /* no feature-gso-tcpv4/-tcpv6 */
	bool no_split_evtchn;       /* no feature-split-event-channels */
	bool no_multicast;          /* no feature-multicast-control */
	bool run_script;            /* run the vif's script online/offline */
	const char *script_dir;     /* where relative script names live;
				       default scripts/vif of the source tree */
	/* How queue threads wait for events (default ADAPTIVE). */
	enum pvio_evtchn_wait_mode wait_mode;
	bool wait_mode_set;
};

/* Host platform (library pvio_netback_host): fill be, machine, gnt,
 * evtchn, page_ops and page_ctx from a connected driver domain. */
struct pvio_domain;
extern const struct pvio_netback_page_ops pvio_netback_domain_page_ops;
void pvio_netback_config_from_domain(struct pvio_netback_config *cfg,
				     struct pvio_domain *d);

/*
 * Check the configuration and find the port. Nothing touches the store or
 * the port before start. Any thread. Returns 0, -EINVAL (bad config),
 * -ENOENT (unknown port kind), -ENOMEM.
 */
int pvio_netback_create(const struct pvio_netback_config *cfg,
			struct pvio_netback **out);

/*
 * Open the port (the TAP device or the DPDK ethdev: a missing or unusable
 * one fails here with one line on stderr naming it), run the script
 * "online" when asked, start the control thread. Once per vif.
 * Returns 0, -EALREADY, the port's error, or the errno of pthread_create.
 */
int pvio_netback_start(struct pvio_netback *nb);

/* Disconnect, state Closed, join every thread. Not from a netback thread. */
void pvio_netback_stop(struct pvio_netback *nb);

/* Stop if running, script "offline", close the port, free. NULL safe. */
void pvio_netback_destroy(struct pvio_netback *nb);

/* The vif's interface name (vif<fe>.<devid> or the spec's vifname). */
const char *pvio_netback_ifname(const struct pvio_netback *nb);

/* Counters of one vif, summed over its queues (relaxed snapshot). */
struct pvio_netback_stats {
	/* guest -> port */
	uint64_t tx_packets, tx_bytes;
	uint64_t tx_zerocopy;      /* packets sent from mapped guest pages */
	uint64_t tx_copied;        /* packets grant-copied into port buffers */
	uint64_t tx_err_size;      /* size < 14, or slot sizes above the first */
	uint64_t tx_err_offset;    /* offset + size past the page */
	uint64_t tx_err_slots;     /* more than max_slots slots: dropped */
	uint64_t tx_err_extra;     /* extra info of unknown or repeated type */
	uint64_t tx_err_gso;       /* bad GSO type/size, or GSO not offered */
	uint64_t tx_err_grant;     /* a grant did not map / copy */
	uint64_t tx_err_csum;      /* csum_blank on a packet we cannot parse */
	uint64_t tx_drop_port;     /* the port dropped (full) */
	uint64_t tx_drop_spoof;    /* source MAC not the vif's (switch) */
	uint64_t tx_mcast_ops;     /* multicast add/del extra infos */
	uint64_t tx_fatal;         /* fatal errors (vif disabled) */
	/* port -> guest */
	uint64_t rx_packets, rx_bytes;
	uint64_t rx_copied;        /* delivered by grant copy */
	uint64_t rx_flipped;       /* delivered by page flip */
	uint64_t rx_flip_zerocopy; /* ... of the port's own frame (no copy) */
	uint64_t rx_copy_fallback; /* ... by copy through bounce frames: the
				      guest's pages could not be mapped for
				      lack of backend grant mappings */
	uint64_t rx_drop_full;     /* queue over its packet/byte cap */
	uint64_t rx_drop_stall;    /* guest posted no buffers in time */
	uint64_t rx_drop_toobig;   /* does not fit what the guest can take */
	uint64_t rx_drop_gso;      /* GSO the guest did not negotiate */
	uint64_t rx_drop_mcast;    /* multicast not in the guest's filter */
	uint64_t rx_err_grant;     /* a copy/flip into the guest failed */
	uint64_t rx_csum_sw;       /* checksums completed in software */
	uint64_t rx_queued_pkts, rx_queued_bytes; /* now, all queues */
	/* notifications */
	uint64_t kicks;            /* notify calls to the frontend */
	uint64_t wakeups;          /* queue thread sleeps that ended */
	uint64_t events;           /* events consumed */
	uint64_t storm_delays;     /* empty events answered with a masked
				      pause (event storm) */
	uint64_t err_protocol;     /* ring protocol violations */
	uint32_t nr_queues;        /* connected queues now */
	uint32_t state;            /* own xenbus state */
	uint32_t connects;         /* times it reached Connected */
	bool broken;               /* disabled for a fatal frontend error */
	bool rx_flip;              /* negotiated: flip (else copy) */
	bool split_evtchn;         /* negotiated */
	bool multicast_control;    /* negotiated and sampled */
	uint32_t nr_mcast;         /* addresses in the guest's filter */
};

void pvio_netback_stats(const struct pvio_netback *nb, struct pvio_netback_stats *st);

/*
 * Wait until the vif's own xenbus state is state (or it is broken), up
 * to timeout_ms. For tests and tools. Returns 0, -ETIMEDOUT, -EPIPE
 * (broken).
 */
int pvio_netback_wait_state(const struct pvio_netback *nb,
			    enum pvio_xenbus_state state, int timeout_ms);

/* ---- DPDK -------------------------------------------------------------- */

/*
 * Initialise DPDK's EAL for the "dpdk" port, once per process, with
 * args (space-separated, e.g. "--no-huge --no-pci -m 256 --no-shconf
 * --vdev=net_null0"). Without this call the port initialises it on first
 * use with "--no-huge --no-pci -m 256 --no-shconf --file-prefix=pvio-nb-
 * <pid> --no-telemetry --log-level=error". The
 * calling thread keeps its CPU affinity. Returns 0, -EALREADY (already
 * initialised: args ignored), -ENOTSUP (built without DPDK), -errno.
 */
int pvio_netback_dpdk_init(const char *args);

#endif /* PVIO_NETBACK_H */
