/* SPDX-License-Identifier: MIT */
/*
 * Private to grant/: locks, entry access, the active-entry word and the
 * pin/unpin protocol that map and copy share.
 *
 * Ordering points:
 *   R1 grow_table(): nr_gnt_frames stored (release) after the frame mfns;
 *      pairs with A1 in every reader of the table size (pin, transfer).
 *   R2 grant_entry(): hdr stored (release) after frame and domid;
 *      pairs with A2, the CAS in pin_status()/prepare_transfer() that
 *      takes the entry (acq_rel), after which frame is read.
 *   R3 unpin_entry(): GTF_reading/writing cleared (release) after the backend's
 *      last access to the page; pairs with A3, the revoke CAS (acq_rel):
 *      a successful revoke happens after every access through the mapping.
 *   R4 transfer: frame then GTF_transfer_completed (release); pairs with
 *      A4 in pvio_gnt_transfer_query()/_end() (acquire), after which the
 *      frame field and the P2M entry are the new ones.
 *   R5 act_unlock() (release) pairs with A5 act_lock() (acquire): the
 *      active entry's pin counts move under the entry's lock bit.
 */
#ifndef PVIO_GRANT_COMMON_H
#define PVIO_GRANT_COMMON_H

#include <pvio/atomic.h>
#include <pvio/grant.h>

/* Freestanding: the compiler turns these into memcpy/memset calls. */
#define gnt_memcpy(d, s, n) __builtin_memcpy((d), (s), (n))
#define gnt_memset(d, c, n) __builtin_memset((d), (c), (n))

#define GNT_SHIFT 9u                     /* log2(PVIO_GNT_PER_FRAME) */
#define GNT_MASK (PVIO_GNT_PER_FRAME - 1)
_Static_assert(PVIO_GNT_PER_FRAME == 1u << GNT_SHIFT, "512 entries a frame");

/* Pauses a waiter for gnt_spin_lock() spins before it yields its CPU. */
#define GNT_LOCK_SPINS 128u

/*
 * A spinlock for one process's private structures (free lists), taken by
 * every queue thread of a backend. Its critical sections are a few loads
 * and stores, but the holder can be preempted in one: with more runnable
 * threads than CPUs (64 guests' queues on 2 CPUs) the waiters spun for
 * the holder's whole time slice, 16% of the backend's CPU in pvio_gnt_map
 * alone. So past a short spin a waiter gives its CPU away through the
 * platform's yield (sched_yield() on the host), when it has one.
 */
static inline void gnt_spin_lock(const struct pvio_machine *m, _Atomic uint32_t *l)
{
	while (atomic_exchange_explicit(l, 1, memory_order_acquire)) {
		for (uint32_t i = 0; atomic_load_explicit(l, memory_order_relaxed); i++) {
			if (i >= GNT_LOCK_SPINS && m && m->ops && m->ops->yield) {
				m->ops->yield(m->ops_ctx);
				i = 0;
				continue;
			}
			pvio_cpu_relax();
		}
	}
}

static inline void gnt_spin_unlock(_Atomic uint32_t *l)
{
	atomic_store_explicit(l, 0, memory_order_release);
}

static inline uint32_t hdr_make(uint16_t flags, pvio_domid_t domid)
{
	return (uint32_t)flags | (uint32_t)domid << 16;
}
static inline uint16_t hdr_flags(uint32_t h) { return (uint16_t)h; }
static inline pvio_domid_t hdr_domid(uint32_t h) { return (pvio_domid_t)(h >> 16); }

/*
 * Active entry, one 64-bit word per ref in the granter's act frames:
 *   bits  0..7  read-only pins, 8..15 writable pins (Xen's active entry
 *               also counts 8 bits per kind: 255 pins, then no_space),
 *   bits 16..31 the mapping domain (one per grant: the entry's domid at
 *               the first pin), so the toolstack can drop a dead
 *               domain's pins without its private maptrack,
 *   bits 32..62 mfn pinned by the first pin, bit 63 lock.
 * Only the hypervisor role touches it, under its lock bit.
 */
#define ACT_LOCK   ((uint64_t)1 << 63)
#define ACT_RD(a)  ((uint32_t)(a) & 0xffu)
#define ACT_WR(a)  (((uint32_t)(a) >> 8) & 0xffu)
#define ACT_DOM(a) ((pvio_domid_t)((a) >> 16))
#define ACT_MFN(a) ((uint32_t)((a) >> 32) & 0x7fffffffu)
#define ACT_MAKE(rd, wr, dom, mfn) ((uint64_t)(mfn) << 32 | (uint64_t)(dom) << 16 | \
				    (uint64_t)(wr) << 8 | (rd))
#define ACT_PIN_MAX 0xffu

/* A pinned grant: what map keeps in its maptrack and copy on its stack. */
struct gnt_pin {
	struct pvio_grant_entry_v1 *e;
	_Atomic uint64_t *act;
	uint32_t gnt_mfn, act_mfn, mfn;
	pvio_domid_t granter, mapper;
	bool readonly;
};

#endif /* PVIO_GRANT_COMMON_H */
