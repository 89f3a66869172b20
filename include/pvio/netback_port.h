/* SPDX-License-Identifier: MIT */
/*
 * netback's port SDK: what a network port (DPDK ethdev, TAP device, ...)
 * implements so netback can move packets between a guest's rings and it.
 *
 *   guest tx ring --netback (grants mapped or copied)--> ops->xmit()
 *   guest rx ring <--netback (grant copy or page flip)-- ops->recv()
 *
 * A port is a const ops table (STYLE practice 10) listed in
 * netback/ports.c's explicit array. One instance per vif: open() when the
 * backend device is created (Linux creates the vif netdev at probe, so the
 * hotplug script can plug it into a bridge before the guest connects),
 * start() when the frontend connects with its queue count, stop() at
 * disconnect, close() at destroy. Queue q's data path functions are called
 * only from netback's thread for queue q; different queues run
 * concurrently. open/close/start/stop come from the vif's control thread.
 *
 * Memory. Packets are described by fragments. A fragment inside a frame
 * the backend domain owns carries that frame's pfn (netback can grant-copy
 * it, or flip the frame to a guest); anything else has pfn
 * NETBACK_PFN_NONE. env->page_alloc gives a port backend-owned frames.
 *
 * Every function returns 0 (or a count) or a negative errno.
 */
#ifndef PVIO_NETBACK_PORT_H
#define PVIO_NETBACK_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <pvio/memory.h>
#include <pvio/types.h>

/* Fragments a packet may have: 18 guest slots (XEN_NETIF_NR_SLOTS_MIN)
 * plus one; 64 KiB in 4 KiB frames is 17. */
#define NETBACK_MAX_FRAGS 19
#define NETBACK_PFN_NONE  UINT32_MAX

/* struct netback_pkt.flags */
#define NETBACK_PKT_CSUM_PARTIAL (1u << 0) /* L4 checksum to be completed:
					      csum_start/csum_offset valid */
#define NETBACK_PKT_DATA_VALID   (1u << 1) /* checksums already verified */
#define NETBACK_PKT_GSO_TCPV4    (1u << 2) /* segment at gso_size (TSO) */
#define NETBACK_PKT_GSO_TCPV6    (1u << 3)
#define NETBACK_PKT_ZEROCOPY     (1u << 4) /* tx: frags are mapped guest
					      pages that stay valid until
					      netback_port_tx_done() */
#define NETBACK_PKT_PORTBUF      (1u << 5) /* tx: frag[0] is the port's own
					      buffer from tx_copy_buf() */
#define NETBACK_PKT_FLIPPABLE    (1u << 6) /* rx: frag[0] fills one whole
					      backend frame the port gives up
					      for a page flip */
#define NETBACK_PKT_FLIPPED      (1u << 7) /* rx, set by netback: frag[0]'s
					      frame went to the guest */
#define NETBACK_PKT_GSO_MASK (NETBACK_PKT_GSO_TCPV4 | NETBACK_PKT_GSO_TCPV6)

struct netback_frag {
	void *addr;
	uint32_t len;
	uint32_t pfn;       /* backend pfn of the frame holding addr, or NONE;
			       when set, addr .. addr+len stays in that frame */
};

/* One packet, either direction. Headers are parsed by netback for tx. */
struct netback_pkt {
	uint32_t len;            /* sum of frag lens */
	uint16_t nr_frags;
	uint16_t flags;          /* NETBACK_PKT_* */
	uint16_t csum_start;     /* CSUM_PARTIAL: L4 header offset */
	uint16_t csum_offset;    /* of the checksum field from csum_start */
	uint16_t gso_size;       /* GSO: MSS */
	uint16_t l3_len;         /* tx: parsed header lengths (0: unknown) */
	uint8_t l2_len, l4_len;
	uint8_t l4_proto;        /* 6 TCP, 17 UDP, 0 unknown */
	uint8_t ipv6;            /* 1: IPv6, 0: IPv4 or unknown */
	void *port_priv;         /* the port's handle (mbuf, buffer) */
	uint32_t port_aux;
	uint64_t t_ns;           /* rx: when netback queued it */
	uint64_t port_scratch[6];/* the port's; tx: valid until the packet
				    is done (a HELD one: until
				    netback_port_tx_done) */
	struct netback_frag frag[NETBACK_MAX_FRAGS];
};

/* ops->xmit() per-packet results */
#define NETBACK_TX_SENT      0  /* done with the frags (copied or sent) */
#define NETBACK_TX_HELD      1  /* zero copy: netback_port_tx_done(owner)
				   follows once the port lets go */
#define NETBACK_TX_DROPPED  (-1) /* port full or failed: dropped */
#define NETBACK_TX_FILTERED (-2) /* refused by policy (anti-spoofing) */

/* What netback lends a port. */
struct netback_port_env {
	const struct pvio_machine *machine; /* to reach backend frames */
	pvio_domid_t be;                    /* the backend domain */
	/* n contiguous backend pfns (zeroed); 0 or -ENOMEM. Any thread. */
	int (*page_alloc)(void *ctx, uint32_t n, uint32_t *pfn);
	int (*page_free)(void *ctx, uint32_t pfn, uint32_t n);
	void *page_ctx;
};

struct netback_port_params {
	const char *dev;        /* port device (DPDK: ethdev or vdev args) */
	const char *ifname;     /* the vif's name, vif<domid>.<devid> */
	const char *bridge;     /* DPDK: built-in switch to join ("": none) */
	const char *netns;      /* TAP: network namespace (name or path) */
	const uint8_t *mac;     /* the guest's MAC (6 bytes) */
	uint32_t max_queues;
	const struct netback_port_env *env;
};

/* Offloads the guest accepts on rx (start()'s rx_offloads). */
#define NETBACK_RXOFF_CSUM4 (1u << 0)
#define NETBACK_RXOFF_CSUM6 (1u << 1)
#define NETBACK_RXOFF_TSO4  (1u << 2)
#define NETBACK_RXOFF_TSO6  (1u << 3)

struct netback_port_ops {
	const char *name;
	/* Create the port instance for one vif (its device, buffers). */
	int (*open)(const struct netback_port_params *p, void **ctx);
	void (*close)(void *ctx);
	/* Frontend connected with nr_queues queues (<= max_queues). */
	int (*start)(void *ctx, uint32_t nr_queues, uint32_t rx_offloads);
	void (*stop)(void *ctx);
	/* Optional: called in queue q's thread at its start / end. */
	int (*thread_init)(void *ctx, uint32_t q);
	void (*thread_fini)(void *ctx, uint32_t q);
	/*
	 * Optional, the small-packet copy path: point pkt->frag[0] at a port
	 * buffer inside one backend frame (pfn set) with room for pkt->len
	 * bytes, set pkt->port_priv; netback copies the guest's data into
	 * it (from a read-only grant map) and hands the packet to xmit()
	 * with NETBACK_PKT_PORTBUF.
	 * Returns 0 or -ENOBUFS. tx_copy_abort() gives it back unsent.
	 */
	int (*tx_copy_buf)(void *ctx, uint32_t q, struct netback_pkt *pkt);
	void (*tx_copy_abort)(void *ctx, uint32_t q, struct netback_pkt *pkt);
	/*
	 * Send n packets. status[i] receives NETBACK_TX_*; owners[i] is what
	 * to pass to netback_port_tx_done() for a HELD packet. Only packets
	 * flagged ZEROCOPY may be HELD; PORTBUF packets' buffers are the
	 * port's whatever the status.
	 */
	void (*xmit)(void *ctx, uint32_t q, struct netback_pkt **pkts,
		     void **owners, int *status, uint32_t n);
	/* Receive up to max packets into pkts[] (fragments, offload flags).
	 * Returns the count, 0, or -errno. Non-blocking. */
	int (*recv)(void *ctx, uint32_t q, struct netback_pkt *pkts, uint32_t max);
	/*
	 * netback is done with received packets (delivered or dropped). A
	 * packet flagged NETBACK_PKT_FLIPPED had frag[0]'s whole frame moved
	 * to the guest: backend pfn frag[0].pfn now holds another frame (the
	 * one the guest gave in exchange), so the port re-points its buffer
	 * at pvio_mach_pfn_ptr(machine, be, pfn) before reusing it; if that
	 * is NULL (no exchange frame could be had) it retires the buffer.
	 */
	void (*rx_release)(void *ctx, uint32_t q, struct netback_pkt *pkts, uint32_t n);
	/* Optional: an fd readable when queue q has packets; absent or -1:
	 * netback polls recv() (every ~1 ms when idle). */
	int (*rx_fd)(void *ctx, uint32_t q);
	/* Optional: NETBACK_TXCAP_* the opened port can honour; absent: all.
	 * netback offers the guest only what the port can do. */
	uint32_t (*tx_caps)(void *ctx);
};

#define NETBACK_TXCAP_GSO (1u << 0) /* GSO packets (TSO or pass-through) */

/*
 * A HELD packet's port is done with its fragments: netback unmaps the
 * guest's pages and answers the guest. Any thread, any context that may
 * take no lock (a DPDK mbuf free callback); wait-free.
 */
void netback_port_tx_done(void *owner);

/* Internet checksum helpers for ports (ones-complement sum over bytes). */
uint32_t netback_csum_add(uint32_t sum, const void *data, uint32_t len, bool odd);
uint16_t netback_csum_fold(uint32_t sum);

#endif /* PVIO_NETBACK_PORT_H */
