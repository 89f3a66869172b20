/* SPDX-License-Identifier: MIT */
/*
 * netfront's private state, shared by xenbus.c (negotiation), tx.c (the
 * transmit path), rx.c (the receive path), api.c (lifetime, waiting) and
 * mem.c (memory from the domain's own pages).
 *
 * One queue:
 *
 *   tx ring    one page, granted once (tx-ring-ref).
 *   txs[]      the tx shadow, one entry per ring slot. A tx request's id
 *              is (gen << tx_idx_bits) | index; a response's id is checked
 *              against it (index in range, entry in flight, same
 *              generation) before anything is trusted. Each data slot of
 *              a packet has its own entry; the first (head) also holds the
 *              packet: slots still unanswered, worst status, bytes, user.
 *   txp[]      copy pages: granted per slot, revoked on its response.
 *   rx ring    one page (rx-ring-ref).
 *   rxs[]      the rx shadow, by ring position: netif's rule is that a
 *              response sits in the slot of the request it answers (extra
 *              info overlays the id), so the buffer of the response at
 *              position p is rxs[p & mask]; its id must be the one posted
 *              there (again generation-tagged).
 *   rxp[]      rx pages. Each is looked up by pfn after every response:
 *              an rx-flip transfer replaces the frame behind the pfn.
 *   revoke[]   grants the backend still held when we ended them (-EBUSY):
 *              retried on every poll and at close; their pages stay out of
 *              the pools until it succeeds.
 *
 * Locks: per queue a tx spinlock (tx ring, txs, txp, tx part of revoke)
 * and an rx spinlock (rx ring, rxs, rxp, reassembly). tx_done callbacks
 * run after the lock is dropped. No lock is held while sleeping.
 */
#ifndef PVIO_NETFRONT_COMMON_H
#define PVIO_NETFRONT_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/domain.h>
#include <pvio/evtchn.h>
#include <pvio/grant.h>
#include <pvio/netfront.h>
#include <pvio/netif.h>
#include <pvio/ring.h>
#include <pvio/xenbus.h>

#ifndef EOPNOTSUPP
#define EOPNOTSUPP 95
#endif
#ifndef ENOTCONN
#define ENOTCONN 107
#endif
#ifndef EMSGSIZE
#define EMSGSIZE 90
#endif
#ifndef ENOBUFS
#define ENOBUFS 105
#endif
#ifndef ECANCELED
#define ECANCELED 125
#endif
#ifndef EIO
#define EIO 5
#endif

#define NF_NONE UINT32_MAX
#define NF_MAX_BUFS 64u
#define NF_ALLOC_MAX_PAGES 1024u
/* Fragments one rx packet may use (data slots). */
#define NF_MAX_RX_FRAGS PVIO_NETFRONT_MAX_SLOTS
/* Extra info slots one packet may carry (one of each type). */
#define NF_MAX_EXTRAS (PVIO_NETIF_EXTRA_TYPE_MAX - 1)

/* ---- memory from the domain's own pages (mem.c) ---- */

void *nf_alloc(struct pvio_domain *d, size_t bytes);
void nf_free(struct pvio_domain *d, void *p);
int nf_vmap_range(struct pvio_domain *d, uint32_t pfn0, uint32_t n, void **va);
void nf_vunmap_range(struct pvio_domain *d, void *va, uint32_t n);

static inline void nf_memcpy(void *dst, const void *src, size_t n)
{
	__builtin_memcpy(dst, src, n);
}

static inline void nf_memset(void *dst, int c, size_t n)
{
	__builtin_memset(dst, c, n);
}

/* ---- spinlock ---- */

static inline void nf_lock(_Atomic uint32_t *l)
{
	for (;;) {
		if (!atomic_exchange_explicit(l, 1, memory_order_acquire))
			return;
		while (atomic_load_explicit(l, memory_order_relaxed))
			pvio_cpu_relax();
	}
}

static inline void nf_unlock(_Atomic uint32_t *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

/* Counter bump (relaxed: statistics only; read by get_stats). */
static inline void nf_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- pure helpers (unit-tested) ---- */

/* Slots a frame of len bytes starting at page_off needs (one per page). */
uint32_t nf_slot_count(uint32_t page_off, uint32_t len);
/*
 * Bytes of slot k of a frame at page_off, len bytes long: the first slot
 * runs to the end of its page, later ones a page each, the last the rest.
 * *off receives the slot's offset in its page.
 */
uint32_t nf_slot_len(uint32_t page_off, uint32_t len, uint32_t k, uint16_t *off);

/* id layout: (gen << bits) | index, 16 bits in all. */
static inline uint16_t nf_make_id(uint32_t idx, uint32_t gen, uint32_t bits)
{
	return (uint16_t)(((gen << bits) | idx) & 0xffffu);
}

static inline uint32_t nf_log2(uint32_t v)
{
	uint32_t r = 0;

	while (v > 1) {
		v >>= 1;
		r++;
	}
	return r;
}

/* ---- tx ---- */

enum nf_tx_state { NF_TX_FREE = 0, NF_TX_INFLIGHT = 1, NF_TX_ANSWERED = 2 };

struct nf_txslot {
	uint16_t gen;
	uint8_t state;          /* enum nf_tx_state */
	uint8_t extras;         /* head: extra info slots after it */
	pvio_grant_ref_t gref;  /* PVIO_GNT_REF_INVALID when none */
	uint32_t page;          /* copy page, or NF_NONE (zero-copy) */
	uint32_t head;          /* the packet's first entry */
	uint32_t next_free;
	/* head only */
	uint32_t pending;       /* data slots not yet answered */
	int err;
	uint32_t bytes;
	void *user;
};

struct nf_page {
	void *va;               /* as of the last look-up (rx: after a flip) */
	uint32_t pfn;
	uint32_t next;
	/* tx copy pages only: the page's grant, kept from its first use
	 * until the ring is renewed or closed (PVIO_GNT_REF_INVALID: none),
	 * and the slots in flight with bytes in it (NF_NONE: its grant is
	 * being ended, on tx_rev). */
	pvio_grant_ref_t gref;
	uint32_t users;
};

struct nf_revoke {
	pvio_grant_ref_t gref;
	uint32_t page;          /* pool page to free once ended, or NF_NONE */
	bool transfer;          /* an accept-transfer grant (rx-flip) */
};

/* ---- rx ---- */

enum nf_rx_state { NF_RX_EMPTY = 0, NF_RX_POSTED = 1 };

struct nf_rxslot {
	uint16_t id;            /* as posted */
	uint8_t state;          /* enum nf_rx_state */
	uint8_t gen;
	uint32_t page;          /* rx page */
	pvio_grant_ref_t gref;
};

struct nf_rxfrag {
	uint32_t page;          /* rx page holding it, or NF_NONE */
	uint16_t off, len;
};

/* A packet being reassembled (may span calls). */
struct nf_rxpkt {
	bool active;            /* its first response was consumed */
	bool want_extra;        /* the next slot is extra info */
	bool more;              /* the last data slot had more_data */
	bool drop;              /* something was wrong: drop when complete */
	bool dropped_by_backend;
	uint8_t nr_extras;
	uint16_t flags;         /* NETRXF_* of the first slot */
	uint16_t gso_type, gso_size;
	uint32_t nr_frags;
	uint32_t len;
	struct nf_rxfrag frag[NF_MAX_RX_FRAGS];
};

struct nf_queue {
	struct pvio_netfront *nf;
	uint32_t idx;
	uint32_t port_tx, port_rx;      /* equal unless split */
	bool port_tx_alloc, port_rx_alloc;

	/* tx (tx_lock) */
	_Atomic uint32_t tx_lock;
	struct pvio_ring_front tx;
	/* tx.rsp_cons as the last reap left it, for lock-free peeks (the
	 * ring's own field is the lock holder's); rx_cons_seen the same. */
	_Atomic uint32_t tx_cons_seen;
	void *tx_sring;
	uint32_t tx_ring_pfn;
	pvio_grant_ref_t tx_ring_ref;
	uint32_t tx_nr;                 /* ring slots = shadow entries */
	uint32_t tx_bits;
	struct nf_txslot *txs;
	uint32_t tx_free;               /* free list head */
	uint32_t tx_nr_free;
	uint32_t tx_null_expected;      /* extra slots sent, not answered */
	uint32_t tx_packets_inflight;
	struct nf_page *txp;
	uint32_t txp_cap, txp_n, txp_free, txp_nr_free;
	uint32_t txp_cur, txp_off;      /* page being filled, its next byte */
	struct nf_revoke *tx_rev;
	uint32_t tx_nr_rev, tx_rev_cap;

	/* rx (rx_lock) */
	_Atomic uint32_t rx_lock;
	struct pvio_ring_front rx;
	_Atomic uint32_t rx_cons_seen;
	void *rx_sring;
	uint32_t rx_ring_pfn;
	pvio_grant_ref_t rx_ring_ref;
	uint32_t rx_nr;
	uint32_t rx_bits;
	struct nf_rxslot *rxs;
	struct nf_page *rxp;
	pvio_grant_ref_t *rxp_ref;      /* rx-copy: each pool page's grant,
					   kept while connected (rx.c) */
	uint32_t rxp_cap, rxp_n, rxp_free;
	struct nf_revoke *rx_rev;
	uint32_t rx_nr_rev, rx_rev_cap;
	uint32_t rx_target, rx_threshold;
	struct nf_rxpkt pkt;

	/* counters (written under the queue's locks, read relaxed) */
	_Atomic uint64_t tx_packets, tx_bytes, tx_errors, tx_dropped, tx_slots,
		tx_gso, tx_copied, tx_copied_bytes, tx_zero_copy, tx_kicks;
	_Atomic uint64_t rx_packets, rx_bytes, rx_errors, rx_dropped,
		rx_truncated, rx_slots, rx_copies, rx_flips, rx_gso, rx_posted,
		rx_kicks;
	_Atomic uint64_t grants, revokes, revokes_deferred;
};

struct nf_buf {
	void *va;
	uint32_t pfn;
	uint32_t n;
};

enum nf_state {
	NF_CONNECTING = 0,
	NF_CONNECTED = 1,
	NF_BROKEN = 2,   /* the backend broke the protocol */
	NF_GONE = 3,     /* the backend left (closed, died), or closing */
	NF_RECOVERING = 4, /* it left, cfg.reconnect: waiting for a new one */
};

struct pvio_netfront {
	struct pvio_domain *d;
	struct pvio_xenbus_device xb;
	struct pvio_netfront_config cfg;
	struct pvio_netfront_info info;
	_Atomic uint32_t state;         /* enum nf_state */
	uint32_t nr_queues;
	/* waiting */
	_Atomic uint32_t waiter;        /* 1: a thread owns the event wait */
	_Atomic uint32_t seq;           /* bumped when something happened */
	_Atomic uint32_t sleepers;
	_Atomic uint64_t wakeups, protocol_errors;
	_Atomic uint32_t epoch;         /* bumped by each reconnect (new ports) */
	/* control path's; pvio_netfront_get_stats() reads them from any thread */
	_Atomic uint64_t reconnects, rings_leaked;
	_Atomic uint64_t tx_lost;
	/* zero-copy buffers */
	_Atomic uint32_t buf_lock;
	struct nf_buf bufs[NF_MAX_BUFS];
	/* One past the highest slot of bufs in use (written under buf_lock):
	 * the tx path scans no further, and not at all when it is 0. */
	_Atomic uint32_t bufs_hi;
	struct nf_queue q[PVIO_NETFRONT_MAX_QUEUES];
};

/* ---- shared between the files ---- */

static inline bool nf_alive(const struct pvio_netfront *nf)
{
	return atomic_load_explicit(&nf->state, memory_order_acquire) == NF_CONNECTED;
}

static inline bool nf_recovering(const struct pvio_netfront *nf)
{
	return atomic_load_explicit(&nf->state, memory_order_acquire) == NF_RECOVERING;
}

/* Broken or gone: mask the ports, fail tx in flight (-ECANCELED). */
void nf_mark_dead(struct pvio_netfront *nf, enum nf_state why);
/*
 * The backend left. epoch: nf->epoch when the caller looked at the port
 * it found unbound (a reconnect since renewed it: stale news, ignored).
 * cfg.reconnect: NF_RECOVERING; else nf_mark_dead(NF_GONE).
 */
void nf_backend_lost(struct pvio_netfront *nf, uint32_t epoch);
static inline uint32_t nf_epoch(const struct pvio_netfront *nf)
{
	return atomic_load_explicit(&nf->epoch, memory_order_acquire);
}
/* What a data-path call says on a device that is not connected. */
static inline int nf_dead_errno(const struct pvio_netfront *nf, int recovering)
{
	return nf_recovering(nf) ? recovering : -EIO;
}
/*
 * A queue ring's page for a new backend: the old grant is ended and the
 * page reused, or, when the dead backend still pins it, left allocated
 * (counted in rings_leaked) and a new page taken; then granted to
 * info.backend_id. *sring is the page's address. 0 or -errno.
 */
int nf_ring_page_renew(struct pvio_netfront *nf, uint32_t *pfn, void **sring,
		       pvio_grant_ref_t *ref);
/* Bump seq and wake threads sleeping in pvio_netfront_wait(). */
void nf_wake_waiters(struct pvio_netfront *nf);
/* notify: false when the port is unbound (the backend is gone). */
bool nf_kick(struct pvio_netfront *nf, uint32_t port);

/* tx.c */
/* Validate one tx response (exposed for unit tests). Returns 0 (*idx
 * valid), 1 (an RSP_NULL answering an extra slot: no id), -EPROTO. */
int nf_tx_check(const struct nf_queue *q, const struct pvio_netif_tx_response *rsp,
		uint32_t *idx);
int nf_tx_status_to_errno(int16_t status);
int nf_txq_alloc(struct nf_queue *q);
/* Reap tx responses (takes the tx lock; tx_done runs after it is
 * dropped). Returns completions, or -EPROTO: the device is marked broken. */
int nf_tx_reap(struct nf_queue *q);
/* Cancel every packet in flight (dead device). Returns how many. */
uint32_t nf_tx_cancel(struct nf_queue *q);
/* Reconnect: a fresh tx ring for the new backend (tx cancelled). */
int nf_txq_renew(struct nf_queue *q);
/* End what can be ended; returns grants left. */
uint32_t nf_tx_revoke_all(struct nf_queue *q);
void nf_txq_free(struct nf_queue *q);
bool nf_tx_busy(struct nf_queue *q);

/* rx.c */
/* Validate the id of a data response at ring position pos (exposed for
 * unit tests). Returns 0 or -EPROTO. */
int nf_rx_check_id(const struct nf_queue *q, uint32_t pos,
		   const struct pvio_netif_rx_response *rsp);
int nf_rxq_alloc(struct nf_queue *q);
/* Post up to n buffers. Returns the count posted. rx locked by caller. */
uint32_t nf_rx_post_locked(struct nf_queue *q, uint32_t n);
uint32_t nf_rx_revoke_all(struct nf_queue *q);
void nf_rxq_free(struct nf_queue *q);
/* Refill to the target and push (locks). Kicks when needed. */
void nf_rx_refill_auto(struct nf_queue *q);
/* Racy peek: responses waiting on the rx ring. */
bool nf_rx_pending(const struct nf_queue *q);
/* Reconnect: take every posted buffer back (grants ended). */
void nf_rx_stop(struct nf_queue *q);
/* Reconnect: a fresh rx ring for the new backend, buffers posted. */
int nf_rxq_renew(struct nf_queue *q);

/* xenbus.c */
int nf_xenbus_attach(struct pvio_netfront *nf, const char *path);
int nf_xenbus_connect(struct pvio_netfront *nf);
int nf_xenbus_disconnect(struct pvio_netfront *nf);
int nf_xenbus_check(struct pvio_netfront *nf, int timeout_ms);
int nf_xenbus_reconnect(struct pvio_netfront *nf, int timeout_ms);
/* Parse "xx:xx:xx:xx:xx:xx". 0 or -EINVAL. */
int nf_parse_mac(const char *s, uint8_t mac[6]);

#endif /* PVIO_NETFRONT_COMMON_H */
