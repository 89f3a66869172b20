/* SPDX-License-Identifier: MIT */
/*
 * Grant tables (v1): how a domain lets another reach one of its pages.
 * Freestanding: <stdint.h>, <stddef.h>, <stdbool.h>, <stdatomic.h> only.
 *
 *   frontend (granting domain)          backend (driver domain)
 *   pvio_gnt_grant()   -> ref  -------> pvio_gnt_map() -> pointer, handle
 *                                       ... I/O on the page ...
 *   pvio_gnt_revoke()  (-EBUSY while    pvio_gnt_unmap()
 *                       still mapped)
 *                                       pvio_gnt_copy()     checked memcpy
 *   pvio_gnt_grant_transfer() -> ref -> pvio_gnt_transfer() page flip
 *   pvio_gnt_transfer_end()  <- frame
 *                                       pvio_gnt_cache_*()  persistent maps
 *
 * The grant entry is Xen's struct grant_entry_v1, bit for bit; its pages
 * belong to the granting domain, which writes them; the hypervisor role
 * (pvio's backend-side code, on the host platform) sets and clears
 * GTF_reading/GTF_writing with atomic operations, so a frontend's revoke
 * sees a page that is still mapped. Pin counts live in "active entries" in
 * hypervisor-only frames (see <pvio/memory.h>).
 *
 * Never trust the granter: a backend reads the table size from hypervisor
 * memory, copies each entry once (one atomic load) and validates the copy,
 * and makes every state change with a compare-and-swap against that copy.
 *
 * Return conventions. Functions taking a frontend or cache return 0 or
 * -errno. Backend operations work like Xen's GNTTABOP_*: a batch call
 * returns 0 or -EINVAL (bad arguments) and leaves a GNTST_* status in each
 * op; the _one() variants return the GNTST_* status itself (0 is okay).
 */
#ifndef PVIO_GRANT_H
#define PVIO_GRANT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/memory.h>
#include <pvio/types.h>

#ifndef EINVAL
#define EINVAL 22
#endif
#ifndef ENOSPC
#define ENOSPC 28
#endif
#ifndef ENOMEM
#define ENOMEM 12
#endif
#ifndef EBUSY
#define EBUSY 16
#endif
#ifndef EAGAIN
#define EAGAIN 11
#endif
#ifndef ENOENT
#define ENOENT 2
#endif
#ifndef EACCES
#define EACCES 13
#endif
#ifndef ESRCH
#define ESRCH 3
#endif
#ifndef EFAULT
#define EFAULT 14
#endif
#ifndef EIO
#define EIO 5
#endif

/* ---- The shared grant entry: Xen's grant_entry_v1 ------------------- */

/*
 * flags (GTF_*) and domid form the first 32-bit word; pvio reads and
 * changes them only as that word (hdr = flags | domid << 16, which needs a
 * little-endian CPU, as Xen's cmpxchg on the pair does). frame is the
 * granted pfn (for an accept-transfer entry, the pfn to fill; after the
 * transfer, the mfn that arrived).
 */
struct pvio_grant_entry_v1 {
	union {
		struct {
			uint16_t flags; /* GTF_*; Xen's names, for the ABI check */
			uint16_t domid; /* the domain allowed in */
		};
		_Atomic uint32_t hdr;   /* what pvio actually touches */
	};
	_Atomic uint32_t frame;
};
_Static_assert(sizeof(struct pvio_grant_entry_v1) == 8, "grant_entry_v1 is ABI");
_Static_assert(offsetof(struct pvio_grant_entry_v1, frame) == 4, "grant_entry_v1 is ABI");
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pvio's grant entry word assumes a little-endian CPU"
#endif

#define PVIO_GNT_PER_FRAME (PVIO_PAGE_SIZE / sizeof(struct pvio_grant_entry_v1))
/* Refs 0..7 are reserved for the toolstack (console, store), as on Xen. */
#define PVIO_GNT_NR_RESERVED 8u
#define PVIO_GNT_REF_INVALID ((pvio_grant_ref_t)~0u)

/* GTF_* (xen/grant_table.h) */
#define PVIO_GTF_invalid            0x0000u
#define PVIO_GTF_permit_access      0x0001u
#define PVIO_GTF_accept_transfer    0x0002u
#define PVIO_GTF_transitive         0x0003u
#define PVIO_GTF_type_mask          0x0003u
#define PVIO_GTF_readonly           0x0004u
#define PVIO_GTF_reading            0x0008u
#define PVIO_GTF_writing            0x0010u
#define PVIO_GTF_transfer_committed 0x0004u
#define PVIO_GTF_transfer_completed 0x0008u

/* GNTST_* status values (xen/grant_table.h) */
#define PVIO_GNTST_okay               0
#define PVIO_GNTST_general_error    (-1)
#define PVIO_GNTST_bad_domain       (-2)
#define PVIO_GNTST_bad_gntref       (-3)
#define PVIO_GNTST_bad_handle       (-4)
#define PVIO_GNTST_permission_denied (-8)
#define PVIO_GNTST_bad_page         (-9)
#define PVIO_GNTST_bad_copy_arg    (-10)
#define PVIO_GNTST_eagain          (-12)
#define PVIO_GNTST_no_space        (-13)

/* GNTMAP_* map flags (only readonly changes anything; host_map is implied) */
#define PVIO_GNTMAP_host_map  (1u << 1)
#define PVIO_GNTMAP_readonly  (1u << 2)

/* GNTCOPY_* copy flags */
#define PVIO_GNTCOPY_source_gref (1u << 0)
#define PVIO_GNTCOPY_dest_gref   (1u << 1)

/* A GNTST_* status as -errno (for callers that speak errno). */
int pvio_gntst_to_errno(int gntst);

/* ---- Frontend: the granting domain --------------------------------- */

/*
 * A domain's own view of its grant table. One per domain (it owns the
 * domain's free-ref list); any thread of that domain may use it, calls are
 * serialised by an internal spinlock. next[] is caller storage of
 * PVIO_GNT_FRONT_STORAGE(max_gnt_frames) entries, private to the domain.
 */
struct pvio_gnt_front {
	const struct pvio_machine *m;
	pvio_domid_t domid;
	_Atomic uint32_t lock;
	uint32_t *next;         /* free-list links, indexed by ref */
	uint32_t cap;           /* refs next[] can hold */
	uint32_t free_head;
	uint32_t nr_free;
	uint32_t nr_frames;     /* grant frames set up so far */
	uint32_t max_frames;    /* copy of the domain's max_gnt_frames */
	struct pvio_grant_entry_v1 *table[PVIO_GNT_FRAMES_LIMIT];
};
#define PVIO_GNT_FRONT_STORAGE(max_frames) ((uint32_t)(max_frames) * PVIO_GNT_PER_FRAME)

/*
 * Attach domain domid (created by the toolstack, ALIVE) to its grant
 * table; sets up the first frame if it has none. Called once per domain by
 * the domain itself. Returns 0, -EINVAL (bad domid, domain not alive,
 * storage too small), -ENOMEM (no frame for the table).
 */
int pvio_gnt_front_init(struct pvio_gnt_front *f, const struct pvio_machine *m,
			pvio_domid_t domid, uint32_t *storage, uint32_t storage_entries);

/*
 * Let domid reach the granting domain's page pfn, read-write or read-only.
 * *ref receives the grant reference to hand to the backend. Grows the table
 * by a frame when the free list is empty.
 * Returns 0, -EINVAL (pfn is not populated, domid invalid), -ENOSPC (all
 * refs in use at max_gnt_frames), -ENOMEM (no frame to grow the table).
 */
int pvio_gnt_grant(struct pvio_gnt_front *f, pvio_domid_t domid, uint32_t pfn,
		   bool readonly, pvio_grant_ref_t *ref);

/*
 * End access (gnttab_end_foreign_access_ref): one CAS that clears the entry
 * only if neither GTF_reading nor GTF_writing is set, then frees ref.
 * Returns 0, -EBUSY (the backend still has it mapped: nothing changed, try
 * again after it unmaps), -EINVAL (ref out of range, reserved, or not an
 * access grant).
 */
int pvio_gnt_revoke(struct pvio_gnt_front *f, pvio_grant_ref_t ref);

/*
 * Offer pfn as the slot a page transferred by domid will fill
 * (GTF_accept_transfer). The frame at pfn now belongs to the transfer: the
 * backend receives it, unscrubbed, in exchange for the frame it sends.
 * Returns 0, -EINVAL, -ENOSPC, -ENOMEM as pvio_gnt_grant().
 */
int pvio_gnt_grant_transfer(struct pvio_gnt_front *f, pvio_domid_t domid,
			    uint32_t pfn, pvio_grant_ref_t *ref);

/*
 * Has a transfer into ref completed? *mfn receives the machine frame that
 * arrived (the domain's P2M already maps the pfn to it).
 * Returns 0 (completed), -EAGAIN (not yet, or committed and in progress),
 * -EINVAL (not an accept-transfer grant).
 */
int pvio_gnt_transfer_query(struct pvio_gnt_front *f, pvio_grant_ref_t ref,
			    uint32_t *mfn);

/*
 * End an accept-transfer grant (gnttab_end_foreign_transfer_ref) and free
 * ref. Returns 0 (a frame arrived: *mfn), -ENOENT (none arrived; the offer
 * is withdrawn), -EBUSY (a transfer is committed but not complete: call
 * again), -EINVAL (not an accept-transfer grant).
 */
int pvio_gnt_transfer_end(struct pvio_gnt_front *f, pvio_grant_ref_t ref,
			  uint32_t *mfn);

/*
 * Free-ref list management, for callers that reserve refs up front
 * (gnttab_alloc_grant_references and friends). pvio_gnt_refs_get takes n
 * refs or none: 0, -ENOSPC, -ENOMEM. pvio_gnt_grant_ref / _transfer_ref
 * fill a reserved ref (0, -EINVAL); pvio_gnt_revoke_ref ends access
 * without freeing the ref (0, -EBUSY, -EINVAL); pvio_gnt_refs_put returns
 * unused or revoked refs (0, -EINVAL if one is out of range: none freed).
 */
int pvio_gnt_refs_get(struct pvio_gnt_front *f, uint32_t n, pvio_grant_ref_t *refs);
int pvio_gnt_refs_put(struct pvio_gnt_front *f, const pvio_grant_ref_t *refs, uint32_t n);
int pvio_gnt_grant_ref(struct pvio_gnt_front *f, pvio_grant_ref_t ref,
		       pvio_domid_t domid, uint32_t pfn, bool readonly);
int pvio_gnt_transfer_ref(struct pvio_gnt_front *f, pvio_grant_ref_t ref,
			  pvio_domid_t domid, uint32_t pfn);
int pvio_gnt_revoke_ref(struct pvio_gnt_front *f, pvio_grant_ref_t ref);

/* Free refs available without growing the table. */
uint32_t pvio_gnt_nr_free(struct pvio_gnt_front *f);

/* ---- Backend: the mapping domain ------------------------------------ */

/*
 * A mapping, private to the backend (Xen's maptrack entry). Everything
 * unmap needs is here, so an unmap never consults the granter, which may
 * be dead.
 */
struct pvio_gnt_maptrack {
	uint32_t gnt_mfn;  /* grant-table frame holding the entry */
	uint32_t act_mfn;  /* active-entry frame for the ref */
	uint32_t ref;
	uint32_t next;     /* free-list link when not in use */
	pvio_domid_t dom;
	uint16_t flags;    /* MT_* private */
};

/*
 * A backend domain's grant state: its maptrack table (caller storage of
 * nr_handles entries, private) and counters. Any thread may use it; handle
 * allocation takes an internal spinlock.
 */
struct pvio_gnt_back {
	const struct pvio_machine *m;
	pvio_domid_t domid;
	_Atomic uint32_t lock;
	struct pvio_gnt_maptrack *mt;
	uint32_t nr_mt;
	uint32_t free_head;
	uint32_t nr_free;
};

/* Attach backend domid. Returns 0 or -EINVAL (bad domid, no storage). */
int pvio_gnt_back_init(struct pvio_gnt_back *b, const struct pvio_machine *m,
		       pvio_domid_t domid, struct pvio_gnt_maptrack *storage,
		       uint32_t nr_handles);

/* GNTTABOP_map_grant_ref: IN ref, dom, flags; OUT status, handle, addr. */
struct pvio_gnt_map_op {
	pvio_grant_ref_t ref;
	pvio_domid_t dom;      /* the granting domain */
	uint16_t flags;        /* PVIO_GNTMAP_readonly or 0 */
	int16_t status;        /* GNTST_* */
	uint32_t handle;       /* for pvio_gnt_unmap() */
	void *addr;            /* the granted page, PVIO_PAGE_SIZE bytes */
};

/*
 * Map granted pages (single and batched). For each op: the granter must be
 * alive (else GNTST_bad_domain), ref within the table size hypervisor
 * memory records and an access grant (GNTST_bad_gntref), granted to this
 * backend (GNTST_permission_denied), writable unless GNTMAP_readonly is
 * asked (writable map of a read-only grant: GNTST_permission_denied),
 * naming a populated pfn (GNTST_bad_page); GNTST_no_space when out of
 * handles or when the grant already has 255 pins of that kind (Xen's
 * limit), GNTST_eagain if the entry's pin lock stays held (a backend died
 * holding it), GNTST_general_error if the granter keeps rewriting the
 * entry. On success GTF_reading (and GTF_writing) are set in the entry and
 * the frame stays valid, even if the granter dies, until unmapped.
 * A read-only mapping is not write-protected on the host platform; pvio's
 * own code does not write through it.
 * pvio_gnt_map returns 0 or -EINVAL (NULL ops); pvio_gnt_map_one returns
 * the status.
 */
int pvio_gnt_map(struct pvio_gnt_back *b, struct pvio_gnt_map_op *ops, uint32_t n);
int pvio_gnt_map_one(struct pvio_gnt_back *b, pvio_domid_t dom,
		     pvio_grant_ref_t ref, uint16_t flags, void **addr,
		     uint32_t *handle);

/* GNTTABOP_unmap_grant_ref: IN handle; OUT status. */
struct pvio_gnt_unmap_op {
	uint32_t handle;
	int16_t status;
};

/*
 * Unmap. The caller stops touching the page first. A handle not currently
 * mapped (double unmap, garbage) gets GNTST_bad_handle and changes nothing;
 * so does a mapping the toolstack already dropped when it destroyed this
 * backend's domain (pvio_gnt_mapper_release()), whose handle is freed.
 * pvio_gnt_unmap returns 0 or -EINVAL; pvio_gnt_unmap_one the status.
 */
int pvio_gnt_unmap(struct pvio_gnt_back *b, struct pvio_gnt_unmap_op *ops, uint32_t n);
int pvio_gnt_unmap_one(struct pvio_gnt_back *b, uint32_t handle);

/*
 * Toolstack, domain death (Xen's gnttab_release_mappings): drop every pin
 * domain dead holds on any live domain's grants - mappings, and a copy or
 * map it was inside when it died - so each granter's revoke succeeds
 * again and frames a dead granter left behind are freed. Works from the
 * active entries in hypervisor memory (each records its one mapping
 * domain), not from dead's private maptrack, which died with it. Call it
 * once no thread of dead runs (pvio_mem_domain_destroy() does, on the
 * host platform). An entry lock dead died holding is taken over after a
 * long wait. Pins on grants of a granter that died before dead are not
 * reachable: those frames stay orphaned. Returns the pins dropped.
 */
uint32_t pvio_gnt_mapper_release(const struct pvio_machine *m, pvio_domid_t dead);

/* Mappings currently held (in use or being made). Any thread. */
uint32_t pvio_gnt_nr_mapped(const struct pvio_gnt_back *b);

/* GNTTABOP_copy, with a pfn of the caller instead of Xen's gmfn. */
struct pvio_gnt_copy_ptr {
	union {
		pvio_grant_ref_t ref; /* GNTCOPY_*_gref set: a grant of domid */
		uint32_t pfn;         /* else: the backend's own pfn */
	} u;
	pvio_domid_t domid;   /* the granter; for a local pfn, DOMID_SELF or own */
	uint16_t offset;
};
struct pvio_gnt_copy_op {
	struct pvio_gnt_copy_ptr source, dest;
	uint16_t len;
	uint16_t flags;       /* PVIO_GNTCOPY_source_gref | _dest_gref */
	int16_t status;
};

/*
 * Copy len bytes per op, each side a grant (source needs read, dest write
 * access) or one of the backend's own pages. Statuses: GNTST_okay;
 * bad_copy_arg (offset + len past the page, or source and destination
 * overlapping in one frame); general_error (unknown flags); bad_domain
 * (granter not alive, local side naming another domain); bad_gntref;
 * permission_denied (not granted to us, dest grant read-only); bad_page
 * (unpopulated pfn); eagain/general_error as for map. Ops are independent;
 * a failed op copies nothing. Returns 0 or -EINVAL (NULL ops).
 */
int pvio_gnt_copy(struct pvio_gnt_back *b, struct pvio_gnt_copy_op *ops, uint32_t n);

/* GNTTABOP_transfer: IN pfn (the backend's), domid, ref; OUT status. */
struct pvio_gnt_transfer_op {
	uint32_t pfn;
	pvio_domid_t domid;
	int16_t status;
	pvio_grant_ref_t ref;
};

/*
 * Page flipping. Moves the machine frame at the backend's pfn into the
 * frontend's pfn named by accept-transfer grant ref (which must be
 * GTF_accept_transfer for this backend, not yet committed), and gives the
 * backend's pfn the frontend's previous frame in exchange (a fresh zeroed
 * frame if that one is mapped or absent). Both P2M entries and the frame
 * table are rewritten; no data is copied. The entry ends as
 * GTF_accept_transfer|committed|completed with frame = the new mfn.
 * Statuses: okay; bad_domain; bad_gntref (out of range, not an accept
 * grant, not for us, already used); bad_page (backend pfn empty, or its
 * frame is mapped; also a grant naming a pfn outside the frontend: then
 * the entry completes with frame 0 and the backend keeps its frame).
 * If no exchange frame can be had, the backend's pfn is left empty.
 * Returns 0 or -EINVAL (NULL ops).
 */
int pvio_gnt_transfer(struct pvio_gnt_back *b, struct pvio_gnt_transfer_op *ops,
		      uint32_t n);

/* ---- Persistent-grant cache (backend) ------------------------------- */

#define PVIO_GNT_CACHE_DEFAULT_CAP 1056u /* Linux blkback, per ring */

struct pvio_gnt_cache_entry {
	void *addr;           /* the mapped page */
	uint64_t last_used;   /* caller's clock at the last get */
	pvio_grant_ref_t ref;
	uint32_t handle;
	uint32_t users;       /* gets not yet put */
	uint32_t lru_prev, lru_next, hnext;
	pvio_domid_t dom;
	uint16_t flags;       /* GNTMAP_readonly if mapped so; in-use bit */
};

struct pvio_gnt_cache_stats {
	uint64_t hits, misses, evictions, purged;
	uint32_t nr_entries, cap;
};

/*
 * Map once, keep mapped: persistent grants keyed by (domid, ref), least
 * recently used evicted beyond cap. One per ring; not thread-safe (the
 * ring's thread owns it). entries: cap entries; buckets: nr_buckets
 * (a power of two, >= cap recommended) hash heads. Caller storage.
 */
struct pvio_gnt_cache {
	struct pvio_gnt_back *b;
	struct pvio_gnt_cache_entry *e;
	uint32_t *bucket;
	uint32_t cap, nr_buckets, nr, free_head;
	uint32_t lru_head, lru_tail;  /* head = most recently used */
	struct pvio_gnt_cache_stats st;
};

/* 0 or -EINVAL (cap 0, nr_buckets not a power of two, NULL storage). */
int pvio_gnt_cache_init(struct pvio_gnt_cache *c, struct pvio_gnt_back *b,
			struct pvio_gnt_cache_entry *entries, uint32_t cap,
			uint32_t *buckets, uint32_t nr_buckets);

/*
 * The page of (dom, ref), mapped on a miss (flags: PVIO_GNTMAP_readonly or
 * 0). Marks it in use until pvio_gnt_cache_put(). now is the caller's
 * clock (any unit, the one given to purge). *e receives the entry; the page
 * is (*e)->addr. Returns 0, -ENOSPC (full of entries in use: map this one
 * without the cache), -EACCES (cached read-only, write asked; or
 * permission denied), or the map failure as -errno (pvio_gntst_to_errno).
 */
int pvio_gnt_cache_get(struct pvio_gnt_cache *c, pvio_domid_t dom,
		       pvio_grant_ref_t ref, uint16_t flags, uint64_t now,
		       struct pvio_gnt_cache_entry **e);

/* Done with an entry from pvio_gnt_cache_get(); it stays mapped. */
void pvio_gnt_cache_put(struct pvio_gnt_cache *c, struct pvio_gnt_cache_entry *e);

/* Unmap entries not in use and idle since before now - idle. Count. */
uint32_t pvio_gnt_cache_purge(struct pvio_gnt_cache *c, uint64_t now, uint64_t idle);

/* Unmap every entry not in use (disconnect). Returns entries left (in use). */
uint32_t pvio_gnt_cache_flush(struct pvio_gnt_cache *c);

void pvio_gnt_cache_stats(const struct pvio_gnt_cache *c,
			  struct pvio_gnt_cache_stats *st);

#endif /* PVIO_GRANT_H */
