/* SPDX-License-Identifier: MIT */
/*
 * Machine memory: the frames every domain's memory is made of, who owns
 * each frame, and each domain's P2M (its frame numbers -> machine frames).
 * Freestanding: <stdint.h>, <stddef.h>, <stdbool.h>, <stdatomic.h> only.
 *
 * The model (DESIGN.md decision 4). A *pool* of 4 KiB machine frames (mfn
 * 0 .. nr_frames-1) lives in one shared memory object that every domain
 * maps once. A separate shared object, *hypervisor memory*, holds
 *   - the header (geometry, fixed at creation),
 *   - the frame table: one 64-bit word per mfn (owner, state, references),
 *   - the domain table: one record per domid (state, grant-table frames),
 *   - the P2M tables: per domid, max_pages 32-bit entries pfn -> mfn.
 * A domain reaches its frame pfn at pool + p2m[pfn] * 4096. A flip
 * (grant transfer) rewrites two P2M entries and two frame-table words;
 * nothing is remapped.
 *
 * mfn 0 is reserved and never allocated, so a zero P2M entry means "no
 * frame here" and a freshly created (sparse, zero) object is consistent.
 *
 * Who writes what. Only pvio's "hypervisor role" code writes hypervisor
 * memory: the host toolstack (platform/host/memory: pool, allocator,
 * domain create/destroy) and the grant core (grant/: table growth, map
 * pins, transfer). Every field is read with a named atomic, and every size
 * the code relies on is the copy in struct pvio_machine, taken once when
 * the process attached, never re-read from shared memory.
 */
#ifndef PVIO_MEMORY_H
#define PVIO_MEMORY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/types.h>

#define PVIO_PAGE_SHIFT 12
#define PVIO_PAGE_SIZE  (1u << PVIO_PAGE_SHIFT)

/* "No frame": a P2M hole, or a failed lookup. mfn 0 is never allocated. */
#define PVIO_MFN_INVALID 0u

/* Xen's special domids (xen/xen.h), used as owners and in copy ops. */
#define PVIO_DOMID_SELF    ((pvio_domid_t)0x7FF0)
#define PVIO_DOMID_XEN     ((pvio_domid_t)0x7FF2) /* owner of frames in flight */
#define PVIO_DOMID_INVALID ((pvio_domid_t)0x7FF4)

/* Hard limit on a domain's grant-table frames (Xen's default max is 64). */
#define PVIO_GNT_FRAMES_LIMIT 64u

#define PVIO_MACH_MAGIC   0x4d564950u /* "PIVM" */
#define PVIO_MACH_VERSION 1u

/*
 * Frame-table word, one per mfn:
 *   bits  0..15 owner domid
 *   bits 16..23 state (PVIO_FRAME_*)
 *   bits 32..63 references: mappings (grant map pins) that keep the frame
 *               alive after its owner lets go of it.
 * Every transition is one compare-and-swap on the word, so an owner dying
 * and a backend unmapping can race without a lock: whoever drops the last
 * hold on an ORPHAN frame frees it.
 */
enum pvio_frame_state {
	PVIO_FRAME_FREE = 0,     /* in the allocator; word is all zero */
	PVIO_FRAME_OWNED = 1,    /* owned by the domid in bits 0..15 */
	PVIO_FRAME_ORPHAN = 2,   /* owner gone, still referenced; freed at 0 */
	PVIO_FRAME_RESERVED = 3, /* mfn 0 */
};

static inline uint64_t pvio_frame_word(pvio_domid_t owner, uint32_t state,
				       uint32_t refs)
{
	return (uint64_t)refs << 32 | (uint64_t)(state & 0xff) << 16 | owner;
}
static inline pvio_domid_t pvio_frame_owner(uint64_t w) { return (pvio_domid_t)w; }
static inline uint32_t pvio_frame_state(uint64_t w) { return (uint32_t)(w >> 16) & 0xff; }
static inline uint32_t pvio_frame_refs(uint64_t w) { return (uint32_t)(w >> 32); }

/* Geometry, written once by pvio_mem_create() before anyone attaches. */
struct pvio_mach_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t nr_frames;   /* pool size in frames, including mfn 0 */
	uint32_t max_domains; /* domids 0 .. max_domains-1 */
	uint32_t max_pages;   /* P2M entries per domain */
	uint32_t pad0;
	uint64_t frames_off;  /* byte offsets into hypervisor memory */
	uint64_t doms_off;
	uint64_t p2m_off;
	uint64_t hv_bytes;
	_Atomic uint32_t alloc_hint; /* where the next allocation scan starts */
	uint32_t pad1[17];
};
_Static_assert(sizeof(struct pvio_mach_hdr) == 128, "hypervisor memory layout");

enum pvio_dom_state {
	PVIO_DOM_FREE = 0,
	PVIO_DOM_BUILDING = 1, /* toolstack populating memory */
	PVIO_DOM_ALIVE = 2,
	PVIO_DOM_DYING = 3,    /* toolstack tearing down */
};

/*
 * A domain record. gnt_frames[i] is the mfn of grant-table frame i (shared
 * with the domain: it writes its grant entries there); act_frames[i] holds
 * the 512 active entries (pin counts, pinned mfn) for those refs, which
 * only the hypervisor role touches. Both are pool frames owned by the
 * domain and kept out of its P2M. nr_gnt_frames only grows while ALIVE and
 * is published after the frame numbers it covers (R: grow_table(), A:
 * every reader of the table size).
 */
struct pvio_mach_dom {
	_Atomic uint32_t state;
	_Atomic uint32_t nr_pages;
	_Atomic uint32_t nr_gnt_frames;
	_Atomic uint32_t max_gnt_frames;
	_Atomic uint32_t gnt_frames[PVIO_GNT_FRAMES_LIMIT];
	_Atomic uint32_t act_frames[PVIO_GNT_FRAMES_LIMIT];
	uint32_t pad[12];
};
_Static_assert(sizeof(struct pvio_mach_dom) == 576, "hypervisor memory layout");

/*
 * Platform services the grant core needs (STYLE practice 9): frames for a
 * growing grant table and for a transfer's exchange. The host
 * implementation is platform/host/memory; tests may pass fakes.
 */
struct pvio_mem_ops {
	/* Allocate one zero-filled frame owned by owner. 0 or -ENOMEM. */
	int (*frame_alloc)(void *ctx, pvio_domid_t owner, uint32_t *mfn);
	/* Optional: give up the CPU for a moment (a lock's holder may be
	 * preempted and runnable behind the caller). NULL: the waiter spins. */
	void (*yield)(void *ctx);
};

/*
 * One process's view of machine memory: private copies of the geometry
 * (validated once at attach) and its own addresses of the shared objects.
 * Filled by pvio_mem_create()/pvio_mem_attach() on the host platform.
 * Read-only after that; any number of threads may share it.
 */
struct pvio_machine {
	unsigned char *pool;            /* this process's mapping of mfn 0 */
	_Atomic uint64_t *frames;       /* frame table, nr_frames words */
	struct pvio_mach_dom *doms;     /* max_domains records */
	_Atomic uint32_t *p2m;          /* max_domains * max_pages entries */
	struct pvio_mach_hdr *hdr;
	uint32_t nr_frames;
	uint32_t max_domains;
	uint32_t max_pages;
	const struct pvio_mem_ops *ops;
	void *ops_ctx;
};

/* Address of machine frame mfn in this process. mfn must be < nr_frames. */
static inline void *pvio_mach_frame(const struct pvio_machine *m, uint32_t mfn)
{
	return m->pool + ((size_t)mfn << PVIO_PAGE_SHIFT);
}

/* The domain record of domid, or NULL if domid is out of range. */
static inline struct pvio_mach_dom *pvio_mach_dom(const struct pvio_machine *m,
						  pvio_domid_t domid)
{
	return domid < m->max_domains ? &m->doms[domid] : NULL;
}

/* The P2M entry of (domid, pfn), or NULL if either is out of range. */
static inline _Atomic uint32_t *pvio_mach_p2m_slot(const struct pvio_machine *m,
						  pvio_domid_t domid, uint32_t pfn)
{
	if (domid >= m->max_domains || pfn >= m->max_pages)
		return NULL;
	return &m->p2m[(size_t)domid * m->max_pages + pfn];
}

/*
 * Translate a domain's pfn: the mfn, or PVIO_MFN_INVALID for a hole or an
 * out-of-range argument. The acquire pairs with the release store of a P2M
 * entry (domain build, transfer): the frame's new contents and owner are
 * visible before the entry is.
 */
static inline uint32_t pvio_mach_pfn_to_mfn(const struct pvio_machine *m,
					    pvio_domid_t domid, uint32_t pfn)
{
	_Atomic uint32_t *slot = pvio_mach_p2m_slot(m, domid, pfn);
	uint32_t mfn;

	if (!slot)
		return PVIO_MFN_INVALID;
	mfn = atomic_load_explicit(slot, memory_order_acquire);
	return mfn < m->nr_frames ? mfn : PVIO_MFN_INVALID;
}

/*
 * A domain's own page pfn in this process, or NULL. This is how a guest
 * (and only the guest) reaches its memory; re-read it after a transfer.
 */
static inline void *pvio_mach_pfn_ptr(const struct pvio_machine *m,
				      pvio_domid_t domid, uint32_t pfn)
{
	uint32_t mfn = pvio_mach_pfn_to_mfn(m, domid, pfn);

	return mfn == PVIO_MFN_INVALID ? NULL : pvio_mach_frame(m, mfn);
}

/*
 * Frame-table transitions. Each is one CAS loop on the word; each returns
 * true if it happened. mfn is range-checked here, so callers may pass a
 * value read from shared memory.
 */

/* FREE -> OWNED by owner (the allocator's claim). */
static inline bool pvio_frame_claim(const struct pvio_machine *m, uint32_t mfn,
				    pvio_domid_t owner)
{
	uint64_t expect = 0;

	if (mfn == PVIO_MFN_INVALID || mfn >= m->nr_frames)
		return false;
	return atomic_compare_exchange_strong_explicit(&m->frames[mfn], &expect,
			pvio_frame_word(owner, PVIO_FRAME_OWNED, 0),
			memory_order_acq_rel, memory_order_relaxed);
}

/*
 * Take n references at once on a frame OWNED by owner (Xen's get_page, n
 * times in one CAS: a batch that will pin n grants of one table frame).
 * n must be at least 1. False if the frame is not owner's or the count
 * would overflow; then nothing is taken.
 */
static inline bool pvio_frame_get_n(const struct pvio_machine *m, uint32_t mfn,
				    pvio_domid_t owner, uint32_t n)
{
	uint64_t w;

	if (mfn == PVIO_MFN_INVALID || mfn >= m->nr_frames)
		return false;
	w = atomic_load_explicit(&m->frames[mfn], memory_order_relaxed);
	do {
		if (pvio_frame_state(w) != PVIO_FRAME_OWNED ||
		    pvio_frame_owner(w) != owner || pvio_frame_refs(w) > UINT32_MAX - n)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&m->frames[mfn], &w,
			w + ((uint64_t)n << 32), memory_order_acq_rel,
			memory_order_relaxed));
	return true;
}

/* Take a reference on a frame OWNED by owner (Xen's get_page). */
static inline bool pvio_frame_get(const struct pvio_machine *m, uint32_t mfn,
				  pvio_domid_t owner)
{
	return pvio_frame_get_n(m, mfn, owner, 1);
}

/*
 * Drop n references taken by pvio_frame_get[_n]() in one CAS. The last
 * reference on an ORPHAN frame frees it: returns true exactly then. The
 * release orders the caller's accesses to the frame before its reuse.
 * Dropping more than the frame holds drops nothing (a caller bug).
 */
static inline bool pvio_frame_put_n(const struct pvio_machine *m, uint32_t mfn,
				    uint32_t n)
{
	uint64_t w, nw;

	if (mfn == PVIO_MFN_INVALID || mfn >= m->nr_frames)
		return false;
	w = atomic_load_explicit(&m->frames[mfn], memory_order_relaxed);
	do {
		if (pvio_frame_refs(w) < n || n == 0)
			return false; /* not ours to drop: caller bug */
		nw = w - ((uint64_t)n << 32);
		if (pvio_frame_state(nw) == PVIO_FRAME_ORPHAN && pvio_frame_refs(nw) == 0)
			nw = 0;
	} while (!atomic_compare_exchange_weak_explicit(&m->frames[mfn], &w, nw,
			memory_order_acq_rel, memory_order_relaxed));
	return nw == 0;
}

/* Drop one reference: pvio_frame_put_n() of 1. */
static inline bool pvio_frame_put(const struct pvio_machine *m, uint32_t mfn)
{
	return pvio_frame_put_n(m, mfn, 1);
}

/*
 * The owner lets go (domain death, or a frame leaving a P2M): free now if
 * unreferenced, else ORPHAN until the last reference goes.
 * Returns true if the frame was freed now.
 */
static inline bool pvio_frame_disown(const struct pvio_machine *m, uint32_t mfn,
				     pvio_domid_t owner)
{
	uint64_t w, nw;

	if (mfn == PVIO_MFN_INVALID || mfn >= m->nr_frames)
		return false;
	w = atomic_load_explicit(&m->frames[mfn], memory_order_relaxed);
	do {
		if (pvio_frame_state(w) != PVIO_FRAME_OWNED || pvio_frame_owner(w) != owner)
			return false;
		nw = pvio_frame_refs(w) ? pvio_frame_word(owner, PVIO_FRAME_ORPHAN,
							  pvio_frame_refs(w)) : 0;
	} while (!atomic_compare_exchange_weak_explicit(&m->frames[mfn], &w, nw,
			memory_order_acq_rel, memory_order_relaxed));
	return nw == 0;
}

/*
 * Change the owner of an unreferenced frame (a transfer's ownership step,
 * Xen's steal_page + assign_pages). Fails if the frame is not OWNED by
 * from, or is referenced (mapped).
 */
static inline bool pvio_frame_move(const struct pvio_machine *m, uint32_t mfn,
				   pvio_domid_t from, pvio_domid_t to)
{
	uint64_t expect = pvio_frame_word(from, PVIO_FRAME_OWNED, 0);

	if (mfn == PVIO_MFN_INVALID || mfn >= m->nr_frames)
		return false;
	return atomic_compare_exchange_strong_explicit(&m->frames[mfn], &expect,
			pvio_frame_word(to, PVIO_FRAME_OWNED, 0),
			memory_order_acq_rel, memory_order_relaxed);
}

#endif /* PVIO_MEMORY_H */
