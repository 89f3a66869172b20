/* SPDX-License-Identifier: MIT */
/*
 * The mapping side: the pin protocol (Xen's _set_status_v1 and active
 * entries), map/unmap with a private maptrack table, and grant copy.
 * Freestanding.
 */
#include "common.h"

/* How long to wait for an active entry's lock before GNTST_eagain. */
#define ACT_SPIN_LIMIT (1u << 22)
/* How often a granter may change its entry under us (Xen gives up at 4). */
#define STATUS_RETRIES 4

#define MT_RESERVED 1u /* handle taken by a map in progress */
#define MT_INUSE    2u /* mapped: unmap may take it */
#define MT_RO       4u

/* The pin path's steps, inlined into map, unmap and copy: out of line
 * each call spills the same pointers again (callgrind: ~60 instructions
 * per map+unmap). */
#define GNT_HOT static inline __attribute__((always_inline))

/* A5: pairs with R5 in act_unlock(). false if the lock stays held. */
GNT_HOT bool act_lock(_Atomic uint64_t *act, uint64_t *out)
{
	uint64_t a = atomic_load_explicit(act, memory_order_relaxed);
	uint32_t spins = 0;

	for (;;) {
		if (!(a & ACT_LOCK)) {
			if (atomic_compare_exchange_weak_explicit(act, &a, a | ACT_LOCK,
					memory_order_acquire, memory_order_relaxed)) {
				*out = a;
				return true;
			}
			continue;
		}
		if (++spins >= ACT_SPIN_LIMIT)
			return false;
		pvio_cpu_relax();
		a = atomic_load_explicit(act, memory_order_relaxed);
	}
}

/* R5: pairs with A5. a must not carry ACT_LOCK. */
GNT_HOT void act_unlock(_Atomic uint64_t *act, uint64_t a)
{
	atomic_store_explicit(act, a & ~ACT_LOCK, memory_order_release);
}

/*
 * Make the entry's pin bits match the pin counts after a decrement or a
 * failed first pin. R3: the release orders our accesses to the page before
 * the clear; pairs with A3, the granter's revoke CAS.
 */
GNT_HOT void fix_status(struct pvio_grant_entry_v1 *e, uint32_t rd, uint32_t wr)
{
	uint32_t clear = 0;

	if (rd + wr == 0)
		clear = PVIO_GTF_reading | PVIO_GTF_writing;
	else if (wr == 0)
		clear = PVIO_GTF_writing;
	if (clear)
		atomic_fetch_and_explicit(&e->hdr, ~clear, memory_order_release);
}

/*
 * Xen's _set_status_v1: copy the entry header once, check the copy, and
 * set the pin bits with a CAS against it, so the check and the marking are
 * one atomic step the granter's revoke cannot slip between.
 */
GNT_HOT int pin_status(struct pvio_grant_entry_v1 *e, pvio_domid_t mapper,
		      bool readonly)
{
	uint32_t need = PVIO_GTF_reading | (readonly ? 0 : PVIO_GTF_writing);
	/* A2: pairs with R2 in fill_entry(); frame is read after this. */
	uint32_t h = atomic_load_explicit(&e->hdr, memory_order_acquire);

	for (int tries = 0;; tries++) {
		uint16_t fl = hdr_flags(h);

		if ((fl & PVIO_GTF_type_mask) != PVIO_GTF_permit_access)
			return PVIO_GNTST_bad_gntref;
		if (hdr_domid(h) != mapper)
			return PVIO_GNTST_permission_denied;
		if (!readonly && (fl & PVIO_GTF_readonly))
			return PVIO_GNTST_permission_denied;
		if ((fl & need) == need)
			return PVIO_GNTST_okay;
		if (tries == STATUS_RETRIES)
			return PVIO_GNTST_general_error; /* entry unstable */
		/* A2 (as above), on the CAS path. */
		if (atomic_compare_exchange_strong_explicit(&e->hdr, &h, h | need,
				memory_order_acq_rel, memory_order_acquire))
			return PVIO_GNTST_okay;
	}
}

GNT_HOT void gnt_pin_locate(const struct pvio_machine *m, struct gnt_pin *p,
			    pvio_grant_ref_t ref)
{
	p->e = (struct pvio_grant_entry_v1 *)pvio_mach_frame(m, p->gnt_mfn) +
	       (ref & GNT_MASK);
	p->act = (_Atomic uint64_t *)pvio_mach_frame(m, p->act_mfn) + (ref & GNT_MASK);
}

/*
 * References on one granter's table frame pair (grant entries and active
 * entries for refs idx*512 .. idx*512+511), taken in one CAS each for
 * several pins: a batch pays for each table frame once, not per op. Every
 * live pin is backed by one of these references on each frame, whether a
 * map keeps it or a copy borrows it, so the dead-mapper sweep
 * (release_entry(), one pair per pin) never drops more than were taken.
 * n == 0: nothing held.
 */
struct tbl_hold {
	pvio_domid_t dom;
	uint32_t idx;
	uint32_t gnt_mfn, act_mfn;
	uint32_t n; /* references held on each frame, not given away yet */
};

GNT_HOT void hold_drop(const struct pvio_machine *m, struct tbl_hold *h)
{
	if (h->n) {
		pvio_frame_put_n(m, h->act_mfn, h->n);
		pvio_frame_put_n(m, h->gnt_mfn, h->n);
		h->n = 0;
	}
}

/* Take n references on (granter, ref)'s table frames, replacing h. */
GNT_HOT int hold_take(const struct pvio_machine *m, struct tbl_hold *h,
		     pvio_domid_t granter, pvio_grant_ref_t ref, uint32_t n)
{
	struct pvio_mach_dom *d = pvio_mach_dom(m, granter);
	uint32_t nr, i = ref >> GNT_SHIFT;

	hold_drop(m, h);
	if (!d || pvio_load_acquire(&d->state) != PVIO_DOM_ALIVE)
		return PVIO_GNTST_bad_domain;
	/* A1: pairs with R1 in grow_table(); the size is the hypervisor's. */
	nr = pvio_load_acquire(&d->nr_gnt_frames);
	if (nr > PVIO_GNT_FRAMES_LIMIT)
		nr = PVIO_GNT_FRAMES_LIMIT;
	if (i >= nr)
		return PVIO_GNTST_bad_gntref;
	h->gnt_mfn = pvio_load_relaxed(&d->gnt_frames[i]);
	h->act_mfn = pvio_load_relaxed(&d->act_frames[i]);
	/* Hold the table frames so they outlive the granter while pinned. */
	if (!pvio_frame_get_n(m, h->gnt_mfn, granter, n))
		return PVIO_GNTST_bad_domain;
	if (!pvio_frame_get_n(m, h->act_mfn, granter, n)) {
		pvio_frame_put_n(m, h->gnt_mfn, n);
		return PVIO_GNTST_bad_domain;
	}
	h->dom = granter;
	h->idx = i;
	h->n = n;
	return PVIO_GNTST_okay;
}

/* Whether h already holds the table frames of (granter, ref). */
GNT_HOT bool hold_covers(const struct tbl_hold *h, pvio_domid_t granter,
			pvio_grant_ref_t ref)
{
	return h->n && h->dom == granter && h->idx == ref >> GNT_SHIFT;
}

/*
 * Before an op uses a hold an earlier op took: GNTST_okay, or bad_domain
 * if the granter is gone. Each op sees the granter as of its own time, as
 * one op at a time would: it may have died since h was taken, or died and
 * been created again under its domid; then the table frames h keeps are
 * disowned (destroy disowns them before the domid is free again; the
 * acquire orders that before the frame word's load).
 */
GNT_HOT int hold_recheck(const struct pvio_machine *m, const struct tbl_hold *h)
{
	uint64_t w;

	if (pvio_load_acquire(&m->doms[h->dom].state) != PVIO_DOM_ALIVE)
		return PVIO_GNTST_bad_domain;
	w = atomic_load_explicit(&m->frames[h->gnt_mfn], memory_order_relaxed);
	if (pvio_frame_state(w) != PVIO_FRAME_OWNED || pvio_frame_owner(w) != h->dom)
		return PVIO_GNTST_bad_domain;
	return PVIO_GNTST_okay;
}

/*
 * The active-entry half of a pin, on table frames h holds: under the
 * entry's lock validate and mark the entry, and on the first pin
 * translate and reference the granted frame. The caller gives the pin one
 * of h's references if it keeps the pin past the batch.
 */
GNT_HOT int pin_entry(const struct pvio_machine *m, const struct tbl_hold *h,
		     pvio_grant_ref_t ref, pvio_domid_t mapper, bool readonly,
		     struct gnt_pin *p)
{
	uint32_t rd, wr, mfn;
	uint64_t a;
	int st;

	p->gnt_mfn = h->gnt_mfn;
	p->act_mfn = h->act_mfn;
	gnt_pin_locate(m, p, ref);
	p->granter = h->dom;
	p->readonly = readonly;
	if (!act_lock(p->act, &a))
		return PVIO_GNTST_eagain;
	rd = ACT_RD(a);
	wr = ACT_WR(a);
	mfn = ACT_MFN(a);
	if ((readonly ? rd : wr) == ACT_PIN_MAX) {
		st = PVIO_GNTST_no_space;
		goto unlock;
	}
	if (rd + wr && ACT_DOM(a) != mapper) {
		/* Pinned by another domain: the granter rewrote the entry
		 * under the pins (Xen refuses the same way). */
		st = PVIO_GNTST_permission_denied;
		goto unlock;
	}
	st = pin_status(p->e, mapper, readonly);
	if (st != PVIO_GNTST_okay)
		goto unlock;
	if (rd + wr == 0) {
		/* First pin: read the frame once, after the status is set. */
		uint32_t pfn = pvio_load_relaxed(&p->e->frame);

		mfn = pvio_mach_pfn_to_mfn(m, h->dom, pfn);
		if (!pvio_frame_get(m, mfn, h->dom)) {
			fix_status(p->e, 0, 0);
			st = PVIO_GNTST_bad_page;
			goto unlock;
		}
	}
	if (readonly)
		rd++;
	else
		wr++;
	act_unlock(p->act, ACT_MAKE(rd, wr, mapper, mfn));
	p->mfn = mfn;
	p->mapper = mapper;
	return PVIO_GNTST_okay;
unlock:
	act_unlock(p->act, a);
	return st;
}

/*
 * The active-entry half of an unpin. Returns GNTST_okay (the caller drops
 * the pin's table-frame references), eagain (pin still held), or
 * bad_handle (the pin was dropped by the toolstack, references and all).
 */
GNT_HOT int unpin_entry(const struct pvio_machine *m, const struct gnt_pin *p)
{
	uint32_t rd, wr, mfn;
	uint64_t a;

	if (!act_lock(p->act, &a))
		return PVIO_GNTST_eagain;
	rd = ACT_RD(a);
	wr = ACT_WR(a);
	mfn = ACT_MFN(a);
	if ((p->readonly ? rd : wr) == 0 || ACT_DOM(a) != p->mapper) {
		/* Not ours any more: the toolstack dropped our pins when it
		 * destroyed our domain (pvio_gnt_mapper_release()). */
		act_unlock(p->act, a);
		return PVIO_GNTST_bad_handle;
	}
	if (p->readonly)
		rd--;
	else
		wr--;
	fix_status(p->e, rd, wr); /* R3 */
	act_unlock(p->act, rd + wr ? ACT_MAKE(rd, wr, p->mapper, mfn) : 0);
	if (rd + wr == 0)
		pvio_frame_put(m, mfn);
	return PVIO_GNTST_okay;
}

/*
 * Undo a pin that borrowed its table-frame references from h (a copy's).
 * If the toolstack dropped the pin, it dropped one of h's reference pairs
 * with it.
 */
GNT_HOT void unpin_borrowed(const struct pvio_machine *m, struct tbl_hold *h,
			   const struct gnt_pin *p)
{
	int st;

	while ((st = unpin_entry(m, p)) == PVIO_GNTST_eagain)
		;
	if (st == PVIO_GNTST_bad_handle)
		h->n--;
}

int pvio_gnt_back_init(struct pvio_gnt_back *b, const struct pvio_machine *m,
		       pvio_domid_t domid, struct pvio_gnt_maptrack *storage,
		       uint32_t nr_handles)
{
	if (!b || !m || !storage || nr_handles == 0 || domid >= m->max_domains)
		return -EINVAL;
	gnt_memset(b, 0, sizeof(*b));
	b->m = m;
	b->domid = domid;
	b->mt = storage;
	b->nr_mt = nr_handles;
	for (uint32_t h = 0; h < nr_handles; h++) {
		storage[h].flags = 0;
		storage[h].next = h + 1 < nr_handles ? h + 1 : PVIO_GNT_REF_INVALID;
	}
	b->free_head = 0;
	b->nr_free = nr_handles;
	return 0;
}

static void handle_free_locked(struct pvio_gnt_back *b, uint32_t h)
{
	b->mt[h].flags = 0;
	b->mt[h].next = b->free_head;
	b->free_head = h;
	b->nr_free++;
}

/* Under b->lock: a handle for a map in progress, or PVIO_GNT_REF_INVALID
 * when the maptrack is full. */
static uint32_t mt_reserve(struct pvio_gnt_back *b)
{
	uint32_t h = b->free_head;

	if (b->nr_free == 0)
		return PVIO_GNT_REF_INVALID;
	b->free_head = b->mt[h].next;
	b->nr_free--;
	b->mt[h].flags = MT_RESERVED;
	return h;
}

/* Under b->lock: the map op reserved its handle for has ended. */
static void mt_commit(struct pvio_gnt_back *b, struct pvio_gnt_map_op *op)
{
	if (op->handle == PVIO_GNT_REF_INVALID)
		return;
	if (op->status == PVIO_GNTST_okay) {
		b->mt[op->handle].flags = MT_INUSE |
			((op->flags & PVIO_GNTMAP_readonly) ? MT_RO : 0);
	} else {
		handle_free_locked(b, op->handle);
		op->handle = PVIO_GNT_REF_INVALID;
	}
}

/* Pin op's grant on the table frames hold covers and record the mapping
 * in op's reserved handle, which keeps one of hold's reference pairs. */
GNT_HOT void map_pin(struct pvio_gnt_back *b, struct tbl_hold *hold,
		     struct pvio_gnt_map_op *op)
{
	struct gnt_pin p;

	op->status = (int16_t)pin_entry(b->m, hold, op->ref, b->domid,
					op->flags & PVIO_GNTMAP_readonly, &p);
	if (op->status == PVIO_GNTST_okay) {
		struct pvio_gnt_maptrack *t = &b->mt[op->handle];

		hold->n--;
		t->gnt_mfn = p.gnt_mfn;
		t->act_mfn = p.act_mfn;
		t->ref = op->ref;
		t->dom = op->dom;
		op->addr = pvio_mach_frame(b->m, p.mfn);
	}
}

static void map_one(struct pvio_gnt_back *b, struct pvio_gnt_map_op *op)
{
	struct tbl_hold hold = { .n = 0 };

	gnt_spin_lock(b->m, &b->lock);
	op->handle = mt_reserve(b);
	gnt_spin_unlock(&b->lock);
	op->addr = NULL;
	if (op->handle == PVIO_GNT_REF_INVALID) {
		op->status = PVIO_GNTST_no_space;
		return;
	}
	op->status = (int16_t)hold_take(b->m, &hold, op->dom, op->ref, 1);
	if (op->status == PVIO_GNTST_okay) {
		map_pin(b, &hold, op);
		hold_drop(b->m, &hold); /* the pin's pair, if it failed */
	}
	gnt_spin_lock(b->m, &b->lock);
	mt_commit(b, op);
	gnt_spin_unlock(&b->lock);
}

int pvio_gnt_map(struct pvio_gnt_back *b, struct pvio_gnt_map_op *ops, uint32_t n)
{
	struct tbl_hold hold = { .n = 0 };

	if (!b || (n && !ops))
		return -EINVAL;
	if (n == 1) {
		map_one(b, ops);
		return 0;
	}
	/* Reserve handles for the whole batch under one lock round. */
	gnt_spin_lock(b->m, &b->lock);
	for (uint32_t i = 0; i < n; i++)
		ops[i].handle = mt_reserve(b);
	gnt_spin_unlock(&b->lock);

	for (uint32_t i = 0; i < n; i++) {
		struct pvio_gnt_map_op *op = &ops[i];

		op->addr = NULL;
		if (op->handle == PVIO_GNT_REF_INVALID) {
			op->status = PVIO_GNTST_no_space;
			continue;
		}
		if (!hold_covers(&hold, op->dom, op->ref)) {
			/* One reference pair per op of this run on the same
			 * table frame; a failed op's goes back at the end. */
			uint32_t run = 1;

			while (i + run < n && ops[i + run].dom == op->dom &&
			       ops[i + run].ref >> GNT_SHIFT == op->ref >> GNT_SHIFT)
				run++;
			op->status = (int16_t)hold_take(b->m, &hold, op->dom, op->ref, run);
		} else {
			op->status = (int16_t)hold_recheck(b->m, &hold);
		}
		if (op->status == PVIO_GNTST_okay)
			map_pin(b, &hold, op);
	}
	hold_drop(b->m, &hold);

	gnt_spin_lock(b->m, &b->lock);
	for (uint32_t i = 0; i < n; i++)
		mt_commit(b, &ops[i]);
	gnt_spin_unlock(&b->lock);
	return 0;
}

int pvio_gnt_map_one(struct pvio_gnt_back *b, pvio_domid_t dom,
		     pvio_grant_ref_t ref, uint16_t flags, void **addr,
		     uint32_t *handle)
{
	struct pvio_gnt_map_op op = { .ref = ref, .dom = dom, .flags = flags };

	if (!addr || !handle || pvio_gnt_map(b, &op, 1))
		return PVIO_GNTST_general_error;
	*addr = op.addr;
	*handle = op.handle;
	return op.status;
}

/* Under b->lock: take mapped handle h for an unmap (a racing unmap of h
 * now fails), copying its entry to *t. false if h is not mapped. */
static bool mt_claim(struct pvio_gnt_back *b, uint32_t h, struct pvio_gnt_maptrack *t)
{
	if (h >= b->nr_mt || !(b->mt[h].flags & MT_INUSE))
		return false;
	*t = b->mt[h];
	b->mt[h].flags = MT_RESERVED;
	return true;
}

/* Under b->lock: an unmap of h (entry t) ended with status st. */
static void mt_settle(struct pvio_gnt_back *b, uint32_t h,
		      const struct pvio_gnt_maptrack *t, int st)
{
	if (st == PVIO_GNTST_eagain)
		b->mt[h].flags = t->flags; /* still mapped; the caller may retry */
	else
		handle_free_locked(b, h);
}

/* Unpin the mapping t records. On GNTST_okay the caller drops the pin's
 * table-frame references (t->gnt_mfn, t->act_mfn). */
GNT_HOT int mt_unpin(struct pvio_gnt_back *b, const struct pvio_gnt_maptrack *t)
{
	struct gnt_pin p;

	p.gnt_mfn = t->gnt_mfn;
	p.act_mfn = t->act_mfn;
	p.granter = t->dom;
	p.mapper = b->domid;
	p.readonly = t->flags & MT_RO;
	gnt_pin_locate(b->m, &p, t->ref);
	return unpin_entry(b->m, &p);
}

static int unmap_one(struct pvio_gnt_back *b, uint32_t h)
{
	struct pvio_gnt_maptrack t;
	bool ok;
	int st;

	gnt_spin_lock(b->m, &b->lock);
	ok = mt_claim(b, h, &t);
	gnt_spin_unlock(&b->lock);
	if (!ok)
		return PVIO_GNTST_bad_handle;
	st = mt_unpin(b, &t);
	if (st == PVIO_GNTST_okay) {
		pvio_frame_put(b->m, t.act_mfn);
		pvio_frame_put(b->m, t.gnt_mfn);
	}
	gnt_spin_lock(b->m, &b->lock);
	mt_settle(b, h, &t, st);
	gnt_spin_unlock(&b->lock);
	return st;
}

/* Unmaps done under one round of the maptrack lock each way. */
#define UNMAP_CHUNK 32u

static void unmap_chunk(struct pvio_gnt_back *b, struct pvio_gnt_unmap_op *ops,
			uint32_t n)
{
	struct pvio_gnt_maptrack t[UNMAP_CHUNK];
	bool mine[UNMAP_CHUNK];
	/* The table-frame references of consecutive unpins on one frame
	 * pair, dropped in one CAS each. */
	struct tbl_hold puts = { .n = 0 };

	gnt_spin_lock(b->m, &b->lock);
	for (uint32_t i = 0; i < n; i++)
		mine[i] = mt_claim(b, ops[i].handle, &t[i]);
	gnt_spin_unlock(&b->lock);

	for (uint32_t i = 0; i < n; i++) {
		if (!mine[i]) {
			ops[i].status = PVIO_GNTST_bad_handle;
			continue;
		}
		ops[i].status = (int16_t)mt_unpin(b, &t[i]);
		if (ops[i].status != PVIO_GNTST_okay)
			continue; /* eagain: still ours; bad_handle: dropped */
		if (!puts.n || puts.gnt_mfn != t[i].gnt_mfn || puts.act_mfn != t[i].act_mfn) {
			hold_drop(b->m, &puts);
			puts.gnt_mfn = t[i].gnt_mfn;
			puts.act_mfn = t[i].act_mfn;
		}
		puts.n++;
	}
	hold_drop(b->m, &puts);

	gnt_spin_lock(b->m, &b->lock);
	for (uint32_t i = 0; i < n; i++)
		if (mine[i])
			mt_settle(b, ops[i].handle, &t[i], ops[i].status);
	gnt_spin_unlock(&b->lock);
}

int pvio_gnt_unmap(struct pvio_gnt_back *b, struct pvio_gnt_unmap_op *ops, uint32_t n)
{
	if (!b || (n && !ops))
		return -EINVAL;
	if (n == 1) {
		ops[0].status = (int16_t)unmap_one(b, ops[0].handle);
		return 0;
	}
	for (uint32_t i = 0; i < n; i += UNMAP_CHUNK)
		unmap_chunk(b, ops + i, n - i < UNMAP_CHUNK ? n - i : UNMAP_CHUNK);
	return 0;
}

int pvio_gnt_unmap_one(struct pvio_gnt_back *b, uint32_t handle)
{
	if (!b)
		return PVIO_GNTST_general_error;
	return unmap_one(b, handle);
}

uint32_t pvio_gnt_nr_mapped(const struct pvio_gnt_back *b)
{
	/* Handles in use or reserved by a map in progress are the ones off
	 * the free list; read under the lock, as map/unmap change them
	 * from other threads. */
	struct pvio_gnt_back *w = (struct pvio_gnt_back *)b;
	uint32_t n;

	gnt_spin_lock(w->m, &w->lock);
	n = b->nr_mt - b->nr_free;
	gnt_spin_unlock(&w->lock);
	return n;
}

/*
 * One side of a copy: a pinned grant or one of our own pages. A grant's
 * pin borrows its table-frame references from h, this side's hold for
 * the batch: consecutive ops on one table frame pay for it once.
 */
GNT_HOT int copy_side(struct pvio_gnt_back *b, const struct pvio_gnt_copy_ptr *ptr,
		     bool gref, bool readonly, struct tbl_hold *h, struct gnt_pin *p,
		     bool *pinned, unsigned char **page)
{
	*pinned = false;
	if (gref) {
		int st;

		if (!hold_covers(h, ptr->domid, ptr->u.ref))
			st = hold_take(b->m, h, ptr->domid, ptr->u.ref, 1);
		else
			st = hold_recheck(b->m, h);
		if (st == PVIO_GNTST_okay)
			st = pin_entry(b->m, h, ptr->u.ref, b->domid, readonly, p);
		if (st != PVIO_GNTST_okay)
			return st;
		*pinned = true;
		*page = pvio_mach_frame(b->m, p->mfn);
		return PVIO_GNTST_okay;
	}
	if (ptr->domid != PVIO_DOMID_SELF && ptr->domid != b->domid)
		return PVIO_GNTST_bad_domain;
	uint32_t mfn = pvio_mach_pfn_to_mfn(b->m, b->domid, ptr->u.pfn);

	if (mfn == PVIO_MFN_INVALID)
		return PVIO_GNTST_bad_page;
	*page = pvio_mach_frame(b->m, mfn);
	return PVIO_GNTST_okay;
}

GNT_HOT int copy_one(struct pvio_gnt_back *b, const struct pvio_gnt_copy_op *op,
		    struct tbl_hold *sh, struct tbl_hold *dh)
{
	struct gnt_pin sp, dp;
	bool s_pinned, d_pinned;
	unsigned char *src, *dst;
	int st;

	if (op->flags & ~(PVIO_GNTCOPY_source_gref | PVIO_GNTCOPY_dest_gref))
		return PVIO_GNTST_general_error;
	if ((uint32_t)op->source.offset + op->len > PVIO_PAGE_SIZE ||
	    (uint32_t)op->dest.offset + op->len > PVIO_PAGE_SIZE)
		return PVIO_GNTST_bad_copy_arg;
	st = copy_side(b, &op->source, op->flags & PVIO_GNTCOPY_source_gref,
		       true, sh, &sp, &s_pinned, &src);
	if (st != PVIO_GNTST_okay)
		return st;
	st = copy_side(b, &op->dest, op->flags & PVIO_GNTCOPY_dest_gref,
		       false, dh, &dp, &d_pinned, &dst);
	if (st == PVIO_GNTST_okay && src == dst &&
	    op->source.offset < op->dest.offset + op->len &&
	    op->dest.offset < op->source.offset + op->len)
		st = PVIO_GNTST_bad_copy_arg; /* overlapping within one frame */
	else if (st == PVIO_GNTST_okay)
		gnt_memcpy(dst + op->dest.offset, src + op->source.offset, op->len);
	if (d_pinned)
		unpin_borrowed(b->m, dh, &dp);
	if (s_pinned)
		unpin_borrowed(b->m, sh, &sp);
	return st;
}

int pvio_gnt_copy(struct pvio_gnt_back *b, struct pvio_gnt_copy_op *ops, uint32_t n)
{
	/* One hold per side: a pin on each side may be live at once, and
	 * each live pin must be backed by a reference pair of its own. */
	struct tbl_hold sh = { .n = 0 }, dh = { .n = 0 };

	if (!b || (n && !ops))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		ops[i].status = (int16_t)copy_one(b, &ops[i], &sh, &dh);
	hold_drop(b->m, &sh);
	hold_drop(b->m, &dh);
	return 0;
}

/* ---- Toolstack: a dead mapper's pins ------------------------------------ */

/* A holder of an active entry's lock gets this long before the sweep
 * takes the lock over (8x a pin's patience: only a holder that is dead,
 * or stopped for that long, loses it). */
#define RELEASE_SPIN_LIMIT (ACT_SPIN_LIMIT * 8u)

/*
 * Drop dead's pins on one active entry. The entry belongs to dead when
 * its recorded mapper is dead (then every pin on it is dead's: one mapper
 * per grant), or, with no pins, when dead died holding its lock in a first
 * pin (the granted entry names dead). Returns the pins dropped.
 */
static uint32_t release_entry(const struct pvio_machine *m,
			      struct pvio_grant_entry_v1 *e, _Atomic uint64_t *act,
			      uint32_t gnt_mfn, uint32_t act_mfn, pvio_domid_t dead)
{
	uint64_t a = atomic_load_explicit(act, memory_order_relaxed);
	uint32_t spins = 0, n;

	/* A5 (as in act_lock()), with a longer patience and a take-over. */
	for (;;) {
		if (a == 0)
			return 0; /* no pins, nobody inside: nothing of dead's */
		if (!(a & ACT_LOCK)) {
			if (atomic_compare_exchange_weak_explicit(act, &a, a | ACT_LOCK,
					memory_order_acquire, memory_order_relaxed))
				break;
			continue;
		}
		if (++spins >= RELEASE_SPIN_LIMIT) {
			/* The holder died inside pin or unpin. Take over
			 * only what is dead's; a live holder would be ours
			 * to wait for, and it does not hold this long. */
			a = atomic_load_explicit(act, memory_order_acquire);
			if (!(a & ACT_LOCK)) {
				spins = 0; /* released after all: lock it */
				continue;
			}
			a &= ~ACT_LOCK;
			if (ACT_RD(a) + ACT_WR(a) ? ACT_DOM(a) != dead :
			    hdr_domid(atomic_load_explicit(&e->hdr,
					memory_order_acquire)) != dead)
				return 0;
			break;
		}
		pvio_cpu_relax();
		a = atomic_load_explicit(act, memory_order_relaxed);
	}
	n = ACT_RD(a) + ACT_WR(a);
	if (n == 0 || ACT_DOM(a) == dead) {
		/* R3 (as in fix_status()): no pins left, the granter may
		 * revoke. A first pin dead did not finish may have set the
		 * bits with no count yet: cleared too. */
		if (n || hdr_domid(atomic_load_explicit(&e->hdr, memory_order_relaxed)) == dead)
			atomic_fetch_and_explicit(&e->hdr,
				~(uint32_t)(PVIO_GTF_reading | PVIO_GTF_writing),
				memory_order_release);
		act_unlock(act, 0); /* R5 */
		if (n)
			pvio_frame_put(m, ACT_MFN(a));
		/* Each pin is backed by one reference on each table frame
		 * (a map's own, or a copy's borrowed from its batch; see
		 * struct tbl_hold). A pin or unpin dead was inside keeps
		 * its own: it may or may not have been counted, and
		 * dropping one too many could free a table frame under
		 * another mapper; at worst the frame outlives its granter
		 * (orphaned, not reused), as do references a batch of
		 * dead's held for pins it had not made yet. */
		pvio_frame_put_n(m, act_mfn, n);
		pvio_frame_put_n(m, gnt_mfn, n);
		return n;
	}
	act_unlock(act, a);
	return 0;
}

uint32_t pvio_gnt_mapper_release(const struct pvio_machine *m, pvio_domid_t dead)
{
	uint32_t released = 0;

	if (!m || dead >= m->max_domains)
		return 0;
	for (pvio_domid_t g = 0; g < m->max_domains; g++) {
		struct pvio_mach_dom *d = &m->doms[g];
		uint32_t st = pvio_load_acquire(&d->state);

		if (st != PVIO_DOM_ALIVE && st != PVIO_DOM_DYING)
			continue;
		/* A1: pairs with R1 in grow_table(). */
		uint32_t nr = pvio_load_acquire(&d->nr_gnt_frames);

		if (nr > PVIO_GNT_FRAMES_LIMIT)
			nr = PVIO_GNT_FRAMES_LIMIT;
		for (uint32_t i = 0; i < nr; i++) {
			uint32_t gnt_mfn = pvio_load_relaxed(&d->gnt_frames[i]);
			uint32_t act_mfn = pvio_load_relaxed(&d->act_frames[i]);

			/* Hold the table frames while we walk them. */
			if (!pvio_frame_get(m, gnt_mfn, g))
				continue;
			if (!pvio_frame_get(m, act_mfn, g)) {
				pvio_frame_put(m, gnt_mfn);
				continue;
			}
			struct pvio_grant_entry_v1 *e = pvio_mach_frame(m, gnt_mfn);
			_Atomic uint64_t *act = pvio_mach_frame(m, act_mfn);

			for (uint32_t k = 0; k < PVIO_GNT_PER_FRAME; k++)
				released += release_entry(m, &e[k], &act[k], gnt_mfn,
							  act_mfn, dead);
			pvio_frame_put(m, act_mfn);
			pvio_frame_put(m, gnt_mfn);
		}
	}
	return released;
}
