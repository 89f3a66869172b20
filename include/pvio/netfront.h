/* SPDX-License-Identifier: MIT */
/*
 * netfront: the network frontend driver of a guest domain (Xen's netif
 * protocol, as Linux's xen-netfront speaks it).
 *
 *   application / TAP bridge     pvio_netfront_send / recv_burst / recv_cb
 *        |
 *   netfront   tx: shadow table, slot splitting, zero-copy or copied pages
 *              rx: posted buffers (rx-copy grants or rx-flip accept-transfer
 *                  grants), multi-slot reassembly, extra info
 *        |  per queue: a tx ring, an rx ring, one event channel (or two)
 *   netback (another domain)
 *
 * A vif is opened on a struct pvio_domain (<pvio/domain.h>) by its
 * frontend dir in the store (or its devid under device/vif). Open runs the
 * handshake as Linux's netfront does:
 *
 *   frontend Initialising -- wait backend InitWait -- read the backend's
 *   features; allocate rings, grant them, allocate event channels, post rx
 *   buffers; write the keys below (one transaction) -- Connected (netfront
 *   goes straight there, there is no Initialised step) -- wait backend
 *   Connected.
 *
 * Close: Closing -- backend Closing or Closed -- Closed; every grant is
 * ended (tx pages, rx buffers, rings), retrying ones the backend still has
 * mapped.
 *
 * Rx-copy buffers are pages of a per-queue pool that only ever hold what
 * the backend copied in; each is granted on its first post and keeps that
 * grant until disconnect or close (not ended per packet, as Linux's
 * netfront does): the backend keeps write access to them meanwhile, so a
 * pvio_netfront_recv_cb() callback that must not see bytes change under
 * it copies them first (pvio_netfront_recv_burst() does).
 *
 * Keys the frontend writes (its own dir; with more than one queue the
 * ring and port keys move to queue-<N>/):
 *   tx-ring-ref, rx-ring-ref   uint32: grant refs of the one-page rings.
 *   event-channel              uint32: the queue's port, tx and rx; or,
 *   event-channel-tx/-rx       when the backend offers
 *                              feature-split-event-channels and the config
 *                              allows, one port per direction.
 *   multi-queue-num-queues     uint, written when more than one queue is
 *                              used (at most the backend's
 *                              multi-queue-max-queues).
 *   request-rx-copy            "1": the backend copies into granted rx
 *                              pages; "0": it flips pages (rx-flip, only
 *                              when the backend offers feature-rx-flip and
 *                              the config asks for it).
 *   feature-rx-notify          "1": rx requests are notified (kicks).
 *   feature-sg                 bool: rx packets may span several slots.
 *   feature-gso-tcpv4/-tcpv6   bool: rx packets may carry GSO extra info
 *                              (only with feature-sg).
 *   feature-no-csum-offload    bool: rx packets must have full checksums
 *                              (the backend may not send csum_blank).
 *   feature-ipv6-csum-offload  bool: rx IPv6 packets may be csum_blank.
 *
 * Keys the frontend reads:
 *   mac (frontend dir, else backend dir)  "xx:xx:xx:xx:xx:xx", required.
 *   mtu (frontend dir)         uint, default 1500; reported only.
 *   backend: feature-rx-copy, feature-rx-flip (bool, default 0; one is
 *   required), feature-sg, feature-gso-tcpv4, feature-gso-tcpv6 (default
 *   0), feature-no-csum-offload (default 0: IPv4 checksum offload on),
 *   feature-ipv6-csum-offload (default 0), feature-split-event-channels
 *   (default 0), multi-queue-max-queues (uint, default 1).
 *
 * Threads: sending (per queue, a tx lock) and receiving (per queue, an rx
 * lock) may run in different threads at once; so may poll and wait.
 * open, close and check_backend use the domain's store connection d->xs,
 * which belongs to one thread at a time. The tx_done callback runs in the
 * thread that reaps the completion (send, poll, wait, tx_drain), with no
 * netfront lock held.
 *
 * Never trusting the backend: each response is copied out of the ring once
 * and checked: a tx id must name a slot in flight of the same generation
 * (16-bit ids carry a generation above the slot index); an rx response
 * must carry the id posted at its ring position. A bad or repeated id, an
 * unknown tx status or a ring index out of range breaks the device (every
 * call then fails with -EIO, pvio_netfront_error() says -EPROTO, the
 * event channels are masked). A bad rx size, offset, status, extra info or
 * slot count drops that packet and counts it (rx_errors).
 *
 * Freestanding: the driver needs no libc; private memory comes from the
 * domain's own pages. The TAP bridge (<tools/netfront_tap.h>) is separate.
 *
 * Every function returns 0 (or a count where it says so) or a negative
 * errno.
 */
#ifndef PVIO_NETFRONT_H
#define PVIO_NETFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pvio_domain;
struct pvio_netfront;

#define PVIO_NETFRONT_MAX_QUEUES 8u
/* send: pick the queue by a hash of the addresses; recv: every queue. */
#define PVIO_NETFRONT_QUEUE_ANY UINT32_MAX
#define PVIO_NETFRONT_FOREVER UINT64_MAX
/* Largest frame (Xen's XEN_NETIF_MAX_TX_SIZE). */
#define PVIO_NETFRONT_MAX_FRAME 0xFFFFu
/* Slots a packet may use (Xen's XEN_NETIF_NR_SLOTS_MIN, what every
 * backend accepts; netif has no key to negotiate more). */
#define PVIO_NETFRONT_MAX_SLOTS 18u

enum pvio_netfront_rx_mode {
	PVIO_NETFRONT_RX_COPY = 0, /* backend copies into granted pages */
	PVIO_NETFRONT_RX_FLIP = 1, /* backend transfers its frames to us */
};

/* Packet flags (pvio_netfront_pkt.flags). */
#define PVIO_NETFRONT_F_CSUM_BLANK     (1u << 0) /* L4 checksum not filled */
#define PVIO_NETFRONT_F_DATA_VALIDATED (1u << 1) /* checksum known good */
#define PVIO_NETFRONT_F_TRUNCATED      (1u << 2) /* recv: cap too small */

/* GSO types (pvio_netfront_pkt.gso_type), Xen's values. */
#define PVIO_NETFRONT_GSO_NONE  0u
#define PVIO_NETFRONT_GSO_TCPV4 1u
#define PVIO_NETFRONT_GSO_TCPV6 2u

/* wait: what to wait for. */
#define PVIO_NETFRONT_WAIT_RX (1u << 0) /* rx responses arrived */
#define PVIO_NETFRONT_WAIT_TX (1u << 1) /* tx completions (ring space) */

/*
 * A packet to send, or a buffer to receive into.
 * send: data/len is the frame (any memory; zero-copy when it lies in a
 * pvio_netfront_buf_alloc() buffer); flags, gso_type, gso_size (the MSS,
 * with gso_type other than NONE; needs CSUM_BLANK) as the frame needs;
 * user is handed to cfg.tx_done. The frame is copied (or granted) by
 * send: a copied frame's memory is free again when send returns, a
 * zero-copy one when tx_done reports it (or tx_drain returns).
 * recv: data/cap is the caller's buffer; len, flags, gso_type, gso_size
 * and queue are filled in.
 */
struct pvio_netfront_pkt {
	void *data;
	uint32_t len;
	uint32_t cap;
	uint16_t flags;     /* PVIO_NETFRONT_F_* */
	uint16_t gso_type;  /* PVIO_NETFRONT_GSO_* */
	uint16_t gso_size;
	uint16_t queue;     /* recv: the queue it arrived on */
	void *user;
};

/* A received packet as the callback of pvio_netfront_recv_cb() sees it:
 * fragments in the rx pages, valid only during the call. */
struct pvio_netfront_frag {
	const void *data;
	uint32_t len;
};
struct pvio_netfront_rx {
	const struct pvio_netfront_frag *frags;
	uint32_t nr_frags;
	uint32_t len;       /* sum of the fragments */
	uint16_t flags, gso_type, gso_size, queue;
};
typedef void (*pvio_netfront_rx_fn)(void *arg, const struct pvio_netfront_rx *pkt);

/* A sent packet is done: status 0, -EIO (backend error), -ENOBUFS
 * (backend dropped it), -ECANCELED (device broken or closed first). */
typedef void (*pvio_netfront_tx_done_fn)(void *arg, void *user, int status);

/* What the caller wants; zero-filled means the defaults. */
struct pvio_netfront_config {
	uint32_t max_queues;      /* 0: 1; at most the backend's max and 8 */
	uint32_t rx_mode;         /* enum pvio_netfront_rx_mode; flip falls
				   * back to copy when not offered */
	uint32_t rx_buffers;      /* rx buffers kept posted per queue; 0 or
				   * more than the ring: the ring's slots */
	uint32_t rx_refill_threshold; /* automatic refill tops up to
				   * rx_buffers when fewer are posted; 0:
				   * rx_buffers * 3 / 4 */
	bool manual_refill;       /* no automatic refill: pvio_netfront_rx_refill */
	bool no_sg;               /* single-slot packets only */
	bool no_gso;              /* no GSO either way */
	bool no_csum_offload;     /* no csum_blank either way (IPv4) */
	bool ipv6_csum_offload;   /* allow IPv6 csum_blank (backend must too) */
	bool no_split_evtchn;     /* one port per queue even if offered */
	uint32_t tx_pages;        /* copy pages per queue; 0: 256 */
	int timeout_ms;           /* each handshake wait; 0: 10000; -1 forever */
	uint32_t evtchn_waiter;   /* the event channel waiter the ports are
				   * routed to and waits sleep on; 0: default */
	uint32_t spin_ns;         /* poll budget before sleeping; 0: 50 us */
	bool no_spin;             /* sleep at once */
	pvio_netfront_tx_done_fn tx_done; /* optional */
	void *tx_done_arg;
	bool reconnect;           /* a backend that leaves (dies, closes, its
				   * event channel unbound) is not the end:
				   * send says -EAGAIN and receive finds
				   * nothing until pvio_netfront_reconnect()
				   * connects a new backend. Off: every call
				   * fails with -EIO. */
};

/* What was negotiated. */
struct pvio_netfront_info {
	uint8_t mac[6];
	uint32_t mtu;
	uint32_t nr_queues;
	uint32_t rx_mode;         /* enum pvio_netfront_rx_mode in use */
	bool split_evtchn;
	/* tx: what send may ask of the backend */
	bool tx_sg;               /* multi-slot packets (else one page) */
	bool tx_gso_tcpv4, tx_gso_tcpv6;
	bool tx_csum_ipv4, tx_csum_ipv6; /* CSUM_BLANK allowed */
	/* rx: what the backend may send us */
	bool rx_sg, rx_gso_tcpv4, rx_gso_tcpv6, rx_csum_ipv4, rx_csum_ipv6;
	uint32_t max_tx_slots;    /* per packet */
	uint32_t max_tx_frame;    /* largest frame send accepts */
	uint32_t tx_ring_slots, rx_ring_slots;
	uint32_t rx_buffers;      /* posted per queue when full */
	uint16_t backend_id;
	uint32_t devid;
};

/* Counters, summed over the queues (a relaxed snapshot). */
struct pvio_netfront_stats {
	uint64_t tx_packets, tx_bytes;   /* completed OK */
	uint64_t tx_errors;              /* backend answered ERROR */
	uint64_t tx_dropped;             /* backend answered DROPPED */
	uint64_t tx_slots;               /* data slots sent */
	uint64_t tx_gso;                 /* packets with GSO extra info */
	uint64_t tx_copied, tx_copied_bytes; /* packets copied into tx pages */
	uint64_t tx_zero_copy;           /* packets granted in place */
	uint64_t tx_kicks;
	uint64_t rx_packets, rx_bytes;   /* delivered */
	uint64_t rx_errors;              /* packets dropped: bad response,
					  * error status, bad extra info */
	uint64_t rx_dropped;             /* backend said DROPPED, or a
					  * transfer that brought no frame */
	uint64_t rx_truncated;           /* recv_burst buffers too small */
	uint64_t rx_slots;               /* data responses consumed */
	uint64_t rx_copies;              /* rx-copy buffers filled */
	uint64_t rx_flips;               /* frames received by transfer */
	uint64_t rx_gso;
	uint64_t rx_posted;              /* rx requests posted */
	uint64_t rx_kicks;
	uint64_t grants, revokes, revokes_deferred, revokes_pending;
	uint64_t protocol_errors;        /* responses that broke the device */
	uint64_t wakeups;
	uint64_t reconnects;             /* handshakes with a new backend */
	uint64_t tx_lost;                /* packets in flight when a backend
					  * was lost (tx_done: -ECANCELED) */
	uint64_t rings_leaked;           /* ring pages a dead backend still
					  * pinned: replaced, never reused */
};

/*
 * Open the vif whose frontend dir is path (e.g.
 * "/local/domain/1/device/vif/0") in domain d and run the handshake up to
 * Connected. cfg may be NULL. The calling thread uses d->xs.
 * Returns 0; -EINVAL (bad path or config); -ENOENT (no such device, or no
 * mac key); -ETIMEDOUT (the backend did not answer within timeout_ms);
 * -ECONNRESET (the backend closed); -EPROTO (a backend key malformed, or
 * neither rx-copy nor rx-flip offered: the device is left Closed with an
 * error node); -ENOMEM, -ENOSPC (no pages, grants or ports); or a store
 * error.
 */
int pvio_netfront_open(struct pvio_domain *d, const char *path,
		       const struct pvio_netfront_config *cfg,
		       struct pvio_netfront **out);

/* As open for "/local/domain/<d->domid>/device/vif/<devid>". */
int pvio_netfront_open_devid(struct pvio_domain *d, uint32_t devid,
			     const struct pvio_netfront_config *cfg,
			     struct pvio_netfront **out);

/*
 * Wait (timeout_ms) for sent packets, switch to Closing, wait for the
 * backend to close, switch to Closed, end every grant and free
 * everything; nf is gone. Packets still in flight complete with
 * -ECANCELED. Grants the backend still maps are retried for up to
 * timeout_ms; pages still granted then are leaked on purpose.
 * The calling thread uses d->xs; no other call on nf may be in progress.
 * Returns 0, -EBUSY (grants left), or a store error (closed anyway).
 * NULL: 0.
 */
int pvio_netfront_close(struct pvio_netfront *nf);

/* The negotiated features. Any thread. 0 or -EINVAL. */
int pvio_netfront_get_info(const struct pvio_netfront *nf,
			   struct pvio_netfront_info *info);

/* Counters. Any thread. */
void pvio_netfront_get_stats(const struct pvio_netfront *nf,
			     struct pvio_netfront_stats *st);

/* 0 while usable; -EPROTO (the backend broke the protocol), -ENOTCONN
 * (the backend went away or closed). Any thread. */
int pvio_netfront_error(const struct pvio_netfront *nf);

/*
 * Send one packet on queue (0 .. nr_queues - 1, or QUEUE_ANY). Reaps tx
 * completions first. Never sleeps. Any thread.
 * Returns 0 (the packet is on the ring); -EAGAIN (no ring slot, tx page
 * or grant now: wait for PVIO_NETFRONT_WAIT_TX and retry); -EINVAL (len
 * 0, NULL data, bad queue, bad gso); -EMSGSIZE (longer than
 * info.max_tx_frame); -EOPNOTSUPP (an offload not negotiated); -EIO (the
 * device is broken or gone).
 */
int pvio_netfront_send(struct pvio_netfront *nf, uint32_t queue,
		       const struct pvio_netfront_pkt *pkt);

/*
 * Send up to n packets with one ring push and at most one kick.
 * Returns how many were placed (in order; stops at the first that does
 * not fit), or the first packet's error when none was placed.
 */
int pvio_netfront_send_burst(struct pvio_netfront *nf, uint32_t queue,
			     const struct pvio_netfront_pkt *pkts, unsigned n);

/*
 * Receive up to max packets from queue (or QUEUE_ANY: every queue in
 * turn) without waiting, copying each into pkts[i].data (cap bytes; a
 * longer packet is cut and flagged TRUNCATED). Refills rx buffers
 * automatically unless cfg.manual_refill. Any thread.
 * Returns the count (>= 0), -EINVAL, -EIO (device broken or gone).
 */
int pvio_netfront_recv_burst(struct pvio_netfront *nf, uint32_t queue,
			     struct pvio_netfront_pkt *pkts, unsigned max);

/*
 * As recv_burst, but hand each packet to fn as fragments in the rx pages
 * (no copy; valid only during the call). fn must not call netfront's rx
 * functions for the same queue. Returns the count, -EINVAL, -EIO.
 */
int pvio_netfront_recv_cb(struct pvio_netfront *nf, uint32_t queue,
			  pvio_netfront_rx_fn fn, void *arg, unsigned max);

/*
 * Post up to n more rx buffers on queue (QUEUE_ANY: each queue), beyond
 * the automatic level if asked, limited by the ring. Returns the number
 * posted (>= 0), -EINVAL, -EIO.
 */
int pvio_netfront_rx_refill(struct pvio_netfront *nf, uint32_t queue, unsigned n);

/*
 * Without waiting: reap tx completions (tx_done runs here), retry
 * deferred revokes, refill rx (unless manual). Any thread. Returns the
 * number of tx packets completed, or -EIO.
 */
int pvio_netfront_poll(struct pvio_netfront *nf);

/*
 * Wait up to timeout_ns (relative) until what (PVIO_NETFRONT_WAIT_*)
 * happened: rx responses are waiting on some queue (WAIT_RX), or tx
 * packets completed or none are in flight (WAIT_TX). Polls for the spin
 * budget, then sleeps on the event channels. Any thread; several may wait
 * at once. Returns 0, -ETIMEDOUT, -EINVAL, -EIO (broken or gone).
 */
int pvio_netfront_wait(struct pvio_netfront *nf, unsigned what,
		       uint64_t timeout_ns);

/* Wait until no tx packet is in flight. 0, -ETIMEDOUT, -EIO. */
int pvio_netfront_tx_drain(struct pvio_netfront *nf, uint64_t timeout_ns);

/*
 * Zero-copy buffers: len bytes (rounded up to pages) of the domain's own
 * pages, mapped contiguously. A frame sent from such a buffer is granted
 * to the backend in place (one slot per page it touches) when it fits the
 * slot limit; it must stay untouched until its tx_done. Any thread.
 * alloc: 0, -EINVAL (len 0 or above 4 MiB), -ENOMEM, -ENOSPC (too many
 * buffers). free: 0, -EINVAL (not a buffer of nf).
 */
int pvio_netfront_buf_alloc(struct pvio_netfront *nf, size_t len, void **buf);
int pvio_netfront_buf_free(struct pvio_netfront *nf, void *buf);

/*
 * Control path: read the backend's state (waiting up to timeout_ms for a
 * change; 0: look only). If it left Connected the device is marked gone.
 * The calling thread uses d->xs. Returns 0, -ENOTCONN, or a store error.
 */
int pvio_netfront_check_backend(struct pvio_netfront *nf, int timeout_ms);

/* Is the vif waiting for pvio_netfront_reconnect() (cfg.reconnect and the
 * backend left)? Any thread. */
bool pvio_netfront_recovering(const struct pvio_netfront *nf);

/*
 * Control path, cfg.reconnect only: recover from a lost backend, as
 * Linux's netfront_resume(). Packets in flight are lost, as on a wire
 * (tx_done gets -ECANCELED; counted in tx_lost); posted rx buffers are
 * taken back. Goes Closed, waits up to timeout_ms (-1 forever) for a
 * backend in InitWait (the toolstack recreated the vif, e.g. pvio netback
 * started again), then runs the handshake again on fresh rings and event
 * channels, posts rx buffers and resumes. The new backend must allow the
 * queue count negotiated at open (fewer is -EPROTO). Called on a
 * connected vif, it first drops that backend. The calling thread uses
 * d->xs; other threads may send and receive meanwhile (-EAGAIN, nothing).
 * Returns 0 (connected again); -EINVAL (nf NULL or no cfg.reconnect);
 * -EIO (broken or closed); or, with the vif then gone (every call fails
 * with -EIO): -ETIMEDOUT (no backend in time), -ECONNRESET (the new
 * backend left during the handshake), -EPROTO, -ENOMEM, -ENOSPC, or a
 * store error.
 */
int pvio_netfront_reconnect(struct pvio_netfront *nf, int timeout_ms);

#endif /* PVIO_NETFRONT_H */
