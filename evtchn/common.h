/* SPDX-License-Identifier: MIT */
/*
 * Private to evtchn/: region layout arithmetic, port entry encoding, the
 * control-operation lock and the 64-bit named atomics the bitmaps need.
 * Freestanding.
 */
#ifndef PVIO_EVTCHN_COMMON_H
#define PVIO_EVTCHN_COMMON_H

#include <pvio/atomic.h>
#include <pvio/evtchn.h>

/* Linux errno values, for freestanding builds without <errno.h>. */
#ifndef EINVAL
#define EINVAL 22
#endif
#ifndef ESRCH
#define ESRCH 3
#endif
#ifndef EACCES
#define EACCES 13
#endif
#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef ENOSPC
#define ENOSPC 28
#endif
#ifndef ENOTCONN
#define ENOTCONN 107
#endif
#ifndef ETIMEDOUT
#define ETIMEDOUT 110
#endif
#ifndef EINTR
#define EINTR 4
#endif

#define REGION_HDR_BYTES  sizeof(struct pvio_evtchn_region)
#define SHARED_BYTES      sizeof(struct pvio_evtchn_shared)
#define TABLE_BYTES       sizeof(struct pvio_evtchn_port_table)
#define MORE_BYTES        sizeof(struct pvio_evtchn_more_waiters)

/* ---- 64-bit named atomics (bitmaps, selector, counters) ---- */

static inline uint64_t evt_load_acquire64(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_acquire);
}

static inline uint64_t evt_load_relaxed64(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* Sequentially consistent load: the load half of a store;fence;load pair. */
static inline uint64_t evt_load_fenced64(const _Atomic uint64_t *p)
{
	return atomic_load_explicit(p, memory_order_seq_cst);
}

static inline void evt_store_release64(_Atomic uint64_t *p, uint64_t v)
{
	atomic_store_explicit(p, v, memory_order_release);
}

static inline void evt_store_relaxed64(_Atomic uint64_t *p, uint64_t v)
{
	atomic_store_explicit(p, v, memory_order_relaxed);
}

/* Sequentially consistent store: the store half of a store;fence;load
 * pair (also a release). */
static inline void evt_store_fenced64(_Atomic uint64_t *p, uint64_t v)
{
	atomic_store_explicit(p, v, memory_order_seq_cst);
}

/* Sequentially consistent RMWs: a full fence on both sides (lock or). */
static inline uint64_t evt_or_fenced64(_Atomic uint64_t *p, uint64_t v)
{
	return atomic_fetch_or_explicit(p, v, memory_order_seq_cst);
}

static inline uint64_t evt_and_fenced64(_Atomic uint64_t *p, uint64_t v)
{
	return atomic_fetch_and_explicit(p, v, memory_order_seq_cst);
}

/* Take a whole word, acquiring what its setters published. */
static inline uint64_t evt_xchg_acq_rel64(_Atomic uint64_t *p, uint64_t v)
{
	return atomic_exchange_explicit(p, v, memory_order_acq_rel);
}

static inline uint32_t evt_xchg_fenced32(_Atomic uint32_t *p, uint32_t v)
{
	return atomic_exchange_explicit(p, v, memory_order_seq_cst);
}

/* Statistics: this domain's own line, any of its threads. */
static inline void evt_count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---- Port table entries: one word, one load on the fast path ---- */

#define ENTRY_WAITER_SHIFT 8
#define ENTRY_WAITER_MASK  ((uint64_t)0xff << ENTRY_WAITER_SHIFT)

/* A new entry routed to waiter 0 (a fresh or freed port). */
static inline uint64_t entry_make(uint32_t state, pvio_domid_t dom, uint32_t port)
{
	return (uint64_t)(state & 0xffu) | ((uint64_t)dom << 16) | ((uint64_t)port << 32);
}

/* The same, keeping the routing of old (a binding that changes under a
 * port, by the remote end's bind, close or death, keeps its waiter). */
static inline uint64_t entry_remake(uint64_t old, uint32_t state, pvio_domid_t dom,
				    uint32_t port)
{
	return entry_make(state, dom, port) | (old & ENTRY_WAITER_MASK);
}

static inline uint64_t entry_with_waiter(uint64_t e, uint32_t waiter)
{
	return (e & ~ENTRY_WAITER_MASK) | ((uint64_t)(waiter & 0xffu) << ENTRY_WAITER_SHIFT);
}

static inline uint32_t entry_state(uint64_t e) { return (uint32_t)(e & 0xffu); }
static inline pvio_domid_t entry_dom(uint64_t e) { return (pvio_domid_t)(e >> 16); }
static inline uint32_t entry_port(uint64_t e) { return (uint32_t)(e >> 32); }

/* The waiter a port is routed to; a corrupted (out of range) field reads
 * as 0, so it is never an index outside the page. */
static inline uint32_t entry_waiter(uint64_t e)
{
	uint32_t w = (uint32_t)((e & ENTRY_WAITER_MASK) >> ENTRY_WAITER_SHIFT);

	return w < PVIO_EVTCHN_NR_WAITERS ? w : 0;
}

/* ---- Region layout ---- */

static inline struct pvio_evtchn_shared *region_shared(struct pvio_evtchn_region *r,
						       pvio_domid_t d)
{
	return (struct pvio_evtchn_shared *)((unsigned char *)r + REGION_HDR_BYTES +
					     (size_t)d * SHARED_BYTES);
}

static inline struct pvio_evtchn_port_table *region_table(struct pvio_evtchn_region *r,
							  pvio_domid_t d)
{
	return (struct pvio_evtchn_port_table *)((unsigned char *)r + REGION_HDR_BYTES +
						 (size_t)r->nr_domains * SHARED_BYTES +
						 (size_t)d * TABLE_BYTES);
}

/* Domain d's waiter v (< PVIO_EVTCHN_NR_WAITERS): a line of its shared
 * page, or of its block after the port tables. */
static inline struct pvio_evtchn_waiter *region_waiter(struct pvio_evtchn_region *r,
							pvio_domid_t d, uint32_t v)
{
	if (v < PVIO_EVTCHN_SHARED_WAITERS)
		return &region_shared(r, d)->waiter[v];
	struct pvio_evtchn_more_waiters *m =
		(struct pvio_evtchn_more_waiters *)((unsigned char *)r + REGION_HDR_BYTES +
						    (size_t)r->nr_domains *
							    (SHARED_BYTES + TABLE_BYTES) +
						    (size_t)d * MORE_BYTES);
	return &m->line[v - PVIO_EVTCHN_SHARED_WAITERS];
}

static inline bool port_valid(uint32_t port)
{
	return port != 0 && port < PVIO_EVTCHN_NR_PORTS;
}

static inline uint64_t port_bit(uint32_t port)
{
	return (uint64_t)1 << (port % PVIO_EVTCHN_WORD_BITS);
}

static inline uint32_t port_word(uint32_t port)
{
	return port / PVIO_EVTCHN_WORD_BITS;
}

/* Region checks shared by region.c and port.c. */
bool evt_region_ok(const struct pvio_evtchn_region *r);
bool evt_domain_alive(struct pvio_evtchn_region *r, pvio_domid_t d);

/*
 * The control-operation lock: a test-and-test-and-set spinlock whose word
 * names its holder, domid + 1 for a domain's own operation (taken with
 * its handle's domid) or EVT_LOCK_TOOLSTACK for domain create/destroy.
 */
#define EVT_LOCK_DOMAIN(d)  ((uint32_t)(d) + 1u)
#define EVT_LOCK_TOOLSTACK  0xffffffffu
void evt_lock(struct pvio_evtchn_region *r, uint32_t tag);
void evt_unlock(struct pvio_evtchn_region *r);

/*
 * Raise port of domain dom of region r on waiter (its pending bit is
 * already set, its routing already read): unless masked, set the
 * waiter's selector bit and wake the waiter if it sleeps. Counts a wake
 * in counters (the caller's page), if not NULL. Used by notify, unmask,
 * bind_waiter and domain destroy.
 */
void evt_raise(struct pvio_evtchn_region *r, pvio_domid_t dom, uint32_t port,
	       uint32_t waiter, const struct pvio_evtchn_wait_ops *ops, void *ctx,
	       struct pvio_evtchn_shared *counters);

/* Can ops wake a waiter at all (wake or wake_on)? */
static inline bool ops_can_wake(const struct pvio_evtchn_wait_ops *ops)
{
	return ops && (ops->wake_on || ops->wake);
}

static inline bool ops_can_sleep(const struct pvio_evtchn_wait_ops *ops)
{
	return ops && (ops->sleep_on || ops->sleep);
}

#endif /* PVIO_EVTCHN_COMMON_H */
