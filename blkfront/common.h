/* SPDX-License-Identifier: MIT */
/*
 * blkfront's private state, shared by xenbus.c (negotiation), blkfront.c
 * (the request path) and mem.c (memory from the domain's own pages).
 *
 * Memory layout of one queue:
 *
 *   ring       2^order pages of the domain, vmapped contiguously, granted
 *              to the backend once (ring-ref*).
 *   shadow[]   one entry per ring slot; the request id the backend sees is
 *              (generation << 32) | index, and a response's id is checked
 *              against this table (index in range, entry in flight, same
 *              generation, same operation) before anything is trusted.
 *   seg[]      per shadow entry, max_segs entries: where each segment's
 *              data lives (a pool page or a zero-copy caller page) and
 *              its grant.
 *   pool       bounce pages (granted per request, revoked on completion)
 *              or, with persistent grants, pages granted once and reused.
 *   revoke[]   grants the backend still had mapped when we revoked them:
 *              retried on every reap and at close; their pages stay out of
 *              the pool until the revoke succeeds.
 *
 * Locks: each queue has a spinlock (q->lock) over everything above and the
 * queue's backlog. Completed user requests are collected under the lock
 * and completed (callbacks, CQ) after it is dropped. The device CQ has its
 * own spinlock. No lock is held while sleeping.
 */
#ifndef PVIO_BLKFRONT_COMMON_H
#define PVIO_BLKFRONT_COMMON_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/blkfront.h>
#include <pvio/blkif.h>
#include <pvio/domain.h>
#include <pvio/evtchn.h>
#include <pvio/grant.h>
#include <pvio/ring.h>
#include <pvio/xenbus.h>

#ifndef EOPNOTSUPP
#define EOPNOTSUPP 95
#endif
#ifndef EROFS
#define EROFS 30
#endif
#ifndef ENOTCONN
#define ENOTCONN 107
#endif
#ifndef ENODEV
#define ENODEV 19
#endif

#define BF_SECTOR 512u
#define BF_NONE UINT32_MAX
#define BF_MAX_IND_PAGES PVIO_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST
#define BF_MAX_IND_SEGS (BF_MAX_IND_PAGES * PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE)
#define BF_MAX_RING_PAGES (1u << PVIO_RING_MAX_PAGE_ORDER)
#define BF_MAX_BUFS 64u
/*
 * Poll budget before sleeping. It must outlast the backend's wake-up
 * (40-55 us on the reference VMs, more under load): with a shorter one,
 * each side gives up just before the other answers, and every batch pays
 * two sleeps and two wake-ups (measured: ~120 us a cycle at QD1 and QD32).
 */
#define BF_DEFAULT_SPIN_NS 200000u
/* Largest single allocation from domain pages (the pfn list of its vmap
 * fits one page). */
#define BF_ALLOC_MAX_PAGES 1024u

/* ---- memory from the domain's own pages (mem.c) ---- */

void *bf_alloc(struct pvio_domain *d, size_t bytes);
void bf_free(struct pvio_domain *d, void *p);
/* n contiguous pfns from pfn0 as one range of this process. 0 or -errno. */
int bf_vmap_range(struct pvio_domain *d, uint32_t pfn0, uint32_t n, void **va);
void bf_memcpy(void *dst, const void *src, size_t n);
void bf_memset(void *dst, int c, size_t n);

/* ---- spinlock ---- */

static inline void bf_lock(_Atomic uint32_t *l)
{
	for (;;) {
		if (!atomic_exchange_explicit(l, 1, memory_order_acquire))
			return;
		while (atomic_load_explicit(l, memory_order_relaxed))
			pvio_cpu_relax();
	}
}

static inline void bf_unlock(_Atomic uint32_t *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

/* ---- splitting (pure; unit-tested) ---- */

/*
 * Bytes of the next ring request for a transfer whose next byte sits at
 * page_off within its page, with remaining bytes left, at most max_segs
 * pages per request, in whole logical sectors. *nsegs receives the pages
 * it spans. 0 only when remaining is 0.
 */
uint64_t bf_split_next(uint32_t page_off, uint64_t remaining, uint32_t max_segs,
		       uint32_t sector_size, uint32_t *nsegs);
/* Pages a byte range starting at page_off spans. */
uint32_t bf_seg_count(uint32_t page_off, uint64_t len);
/* Indirect pages for nsegs segments. */
uint32_t bf_indirect_pages(uint32_t nsegs);
/* Ring requests a transfer needs (the sum of bf_split_next's parts). */
uint64_t bf_split_count(uint32_t page_off, uint64_t len, uint32_t max_segs,
			uint32_t sector_size);

/* ---- the request path ---- */

enum bf_shadow_state { BF_SH_FREE = 0, BF_SH_INFLIGHT = 1 };

struct bf_seg {
	uint32_t page;          /* pool page, or BF_NONE: a zero-copy page */
	pvio_grant_ref_t gref;  /* PVIO_GNT_REF_INVALID when none */
	uint16_t off, len;      /* bytes used within the page */
	uint32_t user_off;      /* offset of these bytes in the part */
};

struct bf_shadow {
	uint32_t gen;
	uint8_t state;          /* enum bf_shadow_state */
	uint8_t op;             /* ring operation (PVIO_BLKIF_OP_*) */
	uint8_t data_op;        /* READ/WRITE inside an indirect request */
	uint8_t nr_ind;
	uint32_t nr_segs;
	uint32_t next_free;
	uint64_t part_off;      /* where the part starts in the user request */
	struct pvio_blkfront_req *req;
	struct bf_seg *seg;     /* max_segs entries */
	uint32_t ind_page[BF_MAX_IND_PAGES];
	pvio_grant_ref_t ind_gref[BF_MAX_IND_PAGES];
};

struct bf_page {
	void *va;
	uint32_t pfn;
	pvio_grant_ref_t gref;  /* persistent: granted once; else INVALID */
	uint32_t next;
};

struct bf_revoke {
	pvio_grant_ref_t gref;
	uint32_t page;          /* pool page to free once revoked, or BF_NONE */
};

struct bf_queue {
	struct pvio_blkfront *bf;
	uint32_t idx;
	_Atomic uint32_t lock;
	struct pvio_ring_front ring;
	/* ring.rsp_cons as the last reap left it, for the lock-free peek of
	 * threads that spin (ring.rsp_cons itself is the lock holder's). */
	_Atomic uint32_t rsp_cons_seen;
	void *sring;
	uint32_t ring_pfn;
	uint32_t nr_ring_pages;
	pvio_grant_ref_t ring_ref[BF_MAX_RING_PAGES];
	uint32_t port;
	bool port_allocated;
	uint32_t nr_slots;
	uint32_t seg_cap;       /* bf_seg entries per shadow, as allocated */
	struct bf_shadow *shadow;
	uint32_t shadow_free;
	uint32_t nr_inflight;
	struct bf_page *pages;  /* pool descriptors, pages_cap entries */
	uint32_t nr_pages;      /* pages allocated so far */
	uint32_t pages_cap;
	uint32_t page_free;     /* free list head */
	uint32_t nr_page_free;  /* pages on the free list */
	uint32_t pages_leaked;
	struct bf_revoke *revoke;
	uint32_t nr_revoke, revoke_cap;
	struct pvio_blkfront_req *backlog, *backlog_tail;
	/* counters (written under the lock, read relaxed) */
	uint64_t requests, ring_requests, indirect_requests, kicks, grants, revokes, revokes_deferred,
		 persistent_hits, bounced_bytes, zero_copy_segments;
};

struct bf_buf {
	void *va;
	uint32_t pfn;
	uint32_t n;
};

enum bf_state {
	BF_CONNECTING = 0,
	BF_CONNECTED = 1,
	BF_BROKEN = 2,   /* the backend broke the protocol */
	BF_GONE = 3,     /* the backend left (closed, died) */
	BF_RECOVERING = 4, /* it left, cfg.reconnect: requests wait in the
			    * shadow and the backlog for a new backend */
};

struct pvio_blkfront {
	struct pvio_domain *d;
	struct pvio_xenbus_device xb;
	struct pvio_blkfront_config cfg;
	struct pvio_blkfront_info info;
	_Atomic uint32_t state;       /* enum bf_state */
	uint32_t nr_queues;
	uint32_t max_segs;            /* per ring request */
	uint32_t max_ind_pages;
	bool indirect;
	bool persistent;
	_Atomic bool flush_ok, discard_ok; /* cleared by -EOPNOTSUPP answers */
	_Atomic uint32_t rr;
	/* waiting */
	_Atomic uint32_t waiter;      /* 1: a thread owns the event channel wait */
	_Atomic uint32_t seq;         /* bumped after reaping; others sleep on it */
	_Atomic uint32_t sleepers;
	/* adaptive poll budget (as blkback's struct bb_spin), owned by the
	 * thread that holds waiter */
	uint32_t spin_cur, spin_probe;
	_Atomic uint32_t epoch;       /* bumped by each reconnect (new ports) */
	_Atomic uint64_t outstanding; /* user requests submitted, not complete */
	/* completion queue of requests without a callback */
	_Atomic uint32_t cq_lock;
	struct pvio_blkfront_req *cq_head, *cq_tail;
	_Atomic uint32_t cq_len;      /* written under cq_lock, read without */
	/* zero-copy buffers */
	_Atomic uint32_t buf_lock;
	struct bf_buf bufs[BF_MAX_BUFS];
	/* device-wide counters */
	_Atomic uint64_t wakeups, polls_hit, protocol_errors, errors;
	/* control path's; pvio_blkfront_get_stats() reads them from any thread */
	_Atomic uint64_t reconnects, reissued, rings_leaked;
	struct bf_queue q[PVIO_BLKFRONT_MAX_QUEUES];
};

/* blkfront.c: data path set-up used by xenbus.c. */
int bf_queue_ring_alloc(struct bf_queue *q, uint32_t nr_pages);
int bf_queue_data_alloc(struct bf_queue *q);
void bf_queue_free(struct bf_queue *q);
/* Fail everything in flight and queued with -EIO; state BROKEN or GONE. */
void bf_mark_dead(struct pvio_blkfront *bf, enum bf_state why);
/* Revoke what can be; returns grants still pending. */
uint32_t bf_revoke_all(struct pvio_blkfront *bf);
/* The backend left: BF_RECOVERING with cfg.reconnect, else BF_GONE. */
void bf_backend_lost(struct pvio_blkfront *bf);
/*
 * Reconnect, step 1 (state BF_RECOVERING): take the answers the old ring
 * holds, then every unanswered request back to the front of its queue's
 * backlog (grants ended); renew each queue's ring and event channel for
 * the backend domain bf->info.backend_id. Returns the user requests taken
 * back, or -errno (ring or port allocation).
 */
int bf_recover_rings(struct pvio_blkfront *bf);
/* Reconnect, step 2: CONNECTED again; push the backlogs and kick. */
void bf_recover_resume(struct pvio_blkfront *bf);

/* Shadow id validation (exposed for unit tests). */
int bf_shadow_check(const struct bf_queue *q, const struct pvio_blkif_response *rsp,
		    uint32_t *idx);
/* BLKIF_RSP_* -> 0 / -EIO / -EOPNOTSUPP; other values -EPROTO. */
int bf_status_to_errno(int16_t status);

/* xenbus.c */
int bf_xenbus_attach(struct pvio_blkfront *bf, const char *path);
int bf_xenbus_connect(struct pvio_blkfront *bf);
int bf_xenbus_check(struct pvio_blkfront *bf, int timeout_ms);
int bf_xenbus_disconnect(struct pvio_blkfront *bf);
int bf_xenbus_reconnect(struct pvio_blkfront *bf, int timeout_ms);

#endif /* PVIO_BLKFRONT_COMMON_H */
