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

static inline uint64_t entry_make(uint32_t state, pvio_domid_t dom, uint32_t port)
{
	return (uint64_t)(state & 0xffu) | ((uint64_t)dom << 16) | ((uint64_t)port << 32);
}

static inline uint32_t entry_state(uint64_t e) { return (uint32_t)(e & 0xffu); }
static inline pvio_domid_t entry_dom(uint64_t e) { return (pvio_domid_t)(e >> 16); }
static inline uint32_t entry_port(uint64_t e) { return (uint32_t)(e >> 32); }

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

/* The control-operation lock (a test-and-test-and-set spinlock). */
void evt_lock(struct pvio_evtchn_region *r, pvio_domid_t who);
void evt_unlock(struct pvio_evtchn_region *r);

/*
 * Raise port of domain s (its pending bit is already set): unless masked,
 * set its selector bit and wake its waiter if it sleeps. Counts a wake in
 * counters (the caller's page), if not NULL. Used by notify, unmask and
 * domain destroy.
 */
void evt_raise(struct pvio_evtchn_shared *s, pvio_domid_t dom, uint32_t port,
	       const struct pvio_evtchn_wait_ops *ops, void *ctx,
	       struct pvio_evtchn_shared *counters);

#endif /* PVIO_EVTCHN_COMMON_H */
