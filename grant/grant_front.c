/* SPDX-License-Identifier: MIT */
/*
 * The granting side: the domain's grant table frames, its free-ref list,
 * granting and revoking access, offering pages for transfer.
 * Freestanding.
 */
#include "common.h"

#define ANY_PIN (PVIO_GTF_reading | PVIO_GTF_writing)

static void push_ref(struct pvio_gnt_front *f, pvio_grant_ref_t ref)
{
	f->next[ref] = f->free_head;
	f->free_head = ref;
	f->nr_free++;
}

static pvio_grant_ref_t pop_ref(struct pvio_gnt_front *f)
{
	pvio_grant_ref_t ref = f->free_head;

	f->free_head = f->next[ref];
	f->nr_free--;
	return ref;
}

/* Put the refs of frame i on the free list, lowest ref first out. */
static void add_frame_refs(struct pvio_gnt_front *f, uint32_t i)
{
	uint32_t first = i << GNT_SHIFT;

	for (uint32_t r = first + PVIO_GNT_PER_FRAME; r-- > first;) {
		if (r < PVIO_GNT_NR_RESERVED)
			break;
		if (hdr_flags(atomic_load_explicit(&f->table[i][r & GNT_MASK].hdr,
						   memory_order_relaxed)) == 0)
			push_ref(f, r);
	}
}

/*
 * GNTTABOP_setup_table's growth, done by the domain's own pvio code in its
 * hypervisor role: two frames (entries, active entries), published to
 * hypervisor memory, then the size (R1). Called with f->lock held.
 */
static int grow_table(struct pvio_gnt_front *f)
{
	struct pvio_mach_dom *d = pvio_mach_dom(f->m, f->domid);
	uint32_t n = f->nr_frames, gnt, act;

	if (n >= f->max_frames)
		return -ENOSPC;
	if (!f->m->ops || !f->m->ops->frame_alloc)
		return -ENOMEM;
	if (f->m->ops->frame_alloc(f->m->ops_ctx, f->domid, &gnt))
		return -ENOMEM;
	if (f->m->ops->frame_alloc(f->m->ops_ctx, f->domid, &act)) {
		pvio_frame_disown(f->m, gnt, f->domid);
		return -ENOMEM;
	}
	atomic_store_explicit(&d->gnt_frames[n], gnt, memory_order_relaxed);
	atomic_store_explicit(&d->act_frames[n], act, memory_order_relaxed);
	/* R1: pairs with A1 in hold_take()/transfer_one(). */
	pvio_store_release(&d->nr_gnt_frames, n + 1);
	f->table[n] = pvio_mach_frame(f->m, gnt);
	f->nr_frames = n + 1;
	add_frame_refs(f, n);
	return 0;
}

int pvio_gnt_front_init(struct pvio_gnt_front *f, const struct pvio_machine *m,
			pvio_domid_t domid, uint32_t *storage, uint32_t storage_entries)
{
	struct pvio_mach_dom *d;
	uint32_t max, nr;

	if (!f || !m || !storage)
		return -EINVAL;
	d = pvio_mach_dom(m, domid);
	if (!d || pvio_load_acquire(&d->state) != PVIO_DOM_ALIVE)
		return -EINVAL;
	max = pvio_load_relaxed(&d->max_gnt_frames);
	if (max > PVIO_GNT_FRAMES_LIMIT)
		max = PVIO_GNT_FRAMES_LIMIT;
	if (max == 0 || storage_entries < PVIO_GNT_FRONT_STORAGE(max))
		return -EINVAL;
	gnt_memset(f, 0, sizeof(*f));
	f->m = m;
	f->domid = domid;
	f->next = storage;
	f->cap = storage_entries;
	f->max_frames = max;
	f->free_head = PVIO_GNT_REF_INVALID;
	/* A1: the domain may re-attach to a table it set up before. */
	nr = pvio_load_acquire(&d->nr_gnt_frames);
	if (nr > max)
		return -EINVAL;
	for (uint32_t i = 0; i < nr; i++) {
		uint32_t gnt = pvio_load_relaxed(&d->gnt_frames[i]);

		if (gnt == PVIO_MFN_INVALID || gnt >= m->nr_frames)
			return -EINVAL;
		f->table[i] = pvio_mach_frame(m, gnt);
		f->nr_frames = i + 1;
		add_frame_refs(f, i);
	}
	return nr ? 0 : grow_table(f);
}

static struct pvio_grant_entry_v1 *entry_of(struct pvio_gnt_front *f,
					    pvio_grant_ref_t ref)
{
	if (ref < PVIO_GNT_NR_RESERVED || (ref >> GNT_SHIFT) >= f->nr_frames)
		return NULL;
	return &f->table[ref >> GNT_SHIFT][ref & GNT_MASK];
}

/* gnttab_grant_foreign_access_ref: frame and domid, then flags (R2). */
static void fill_entry(struct pvio_grant_entry_v1 *e, pvio_domid_t domid,
		       uint32_t pfn, uint16_t flags)
{
	atomic_store_explicit(&e->frame, pfn, memory_order_relaxed);
	/* R2: pairs with A2, the backend's CAS on hdr before it reads frame. */
	atomic_store_explicit(&e->hdr, hdr_make(flags, domid), memory_order_release);
}

static int check_target(struct pvio_gnt_front *f, pvio_domid_t domid, uint32_t pfn)
{
	if (domid >= PVIO_DOMID_SELF)
		return -EINVAL;
	if (pvio_mach_pfn_to_mfn(f->m, f->domid, pfn) == PVIO_MFN_INVALID)
		return -EINVAL;
	return 0;
}

static int grant_new(struct pvio_gnt_front *f, pvio_domid_t domid, uint32_t pfn,
		     uint16_t flags, pvio_grant_ref_t *ref)
{
	int rc = check_target(f, domid, pfn);

	if (rc)
		return rc;
	if (!ref)
		return -EINVAL;
	gnt_spin_lock(f->m, &f->lock);
	if (f->nr_free == 0 && (rc = grow_table(f)) != 0) {
		gnt_spin_unlock(&f->lock);
		return rc;
	}
	*ref = pop_ref(f);
	fill_entry(entry_of(f, *ref), domid, pfn, flags);
	gnt_spin_unlock(&f->lock);
	return 0;
}

int pvio_gnt_grant(struct pvio_gnt_front *f, pvio_domid_t domid, uint32_t pfn,
		   bool readonly, pvio_grant_ref_t *ref)
{
	return grant_new(f, domid, pfn, PVIO_GTF_permit_access |
			 (readonly ? PVIO_GTF_readonly : 0), ref);
}

int pvio_gnt_grant_transfer(struct pvio_gnt_front *f, pvio_domid_t domid,
			    uint32_t pfn, pvio_grant_ref_t *ref)
{
	return grant_new(f, domid, pfn, PVIO_GTF_accept_transfer, ref);
}

/*
 * gnttab_end_foreign_access_ref (v1): clear the flags only if no pin bit is
 * set, in one CAS, so a backend cannot pin between the check and the clear.
 * Called with f->lock held.
 */
static int revoke_locked(struct pvio_gnt_front *f, pvio_grant_ref_t ref)
{
	struct pvio_grant_entry_v1 *e = entry_of(f, ref);
	uint32_t h;

	if (!e)
		return -EINVAL;
	h = atomic_load_explicit(&e->hdr, memory_order_relaxed);
	do {
		if ((hdr_flags(h) & PVIO_GTF_type_mask) != PVIO_GTF_permit_access)
			return -EINVAL;
		if (hdr_flags(h) & ANY_PIN)
			return -EBUSY;
		/* A3: pairs with R3 in unpin_entry(). */
	} while (!atomic_compare_exchange_weak_explicit(&e->hdr, &h,
			hdr_make(0, hdr_domid(h)), memory_order_acq_rel,
			memory_order_relaxed));
	return 0;
}

int pvio_gnt_revoke(struct pvio_gnt_front *f, pvio_grant_ref_t ref)
{
	int rc;

	if (!f)
		return -EINVAL;
	gnt_spin_lock(f->m, &f->lock);
	rc = revoke_locked(f, ref);
	if (rc == 0)
		push_ref(f, ref);
	gnt_spin_unlock(&f->lock);
	return rc;
}

int pvio_gnt_revoke_ref(struct pvio_gnt_front *f, pvio_grant_ref_t ref)
{
	int rc;

	if (!f)
		return -EINVAL;
	gnt_spin_lock(f->m, &f->lock);
	rc = revoke_locked(f, ref);
	gnt_spin_unlock(&f->lock);
	return rc;
}

int pvio_gnt_transfer_query(struct pvio_gnt_front *f, pvio_grant_ref_t ref,
			    uint32_t *mfn)
{
	struct pvio_grant_entry_v1 *e;
	uint32_t h;

	if (!f || !mfn)
		return -EINVAL;
	gnt_spin_lock(f->m, &f->lock);
	e = entry_of(f, ref);
	gnt_spin_unlock(&f->lock);
	if (!e)
		return -EINVAL;
	/* A4: pairs with R4 in transfer_one(). */
	h = pvio_load_acquire(&e->hdr);
	if ((hdr_flags(h) & PVIO_GTF_type_mask) != PVIO_GTF_accept_transfer)
		return -EINVAL;
	if (!(hdr_flags(h) & PVIO_GTF_transfer_completed))
		return -EAGAIN;
	*mfn = pvio_load_relaxed(&e->frame);
	return 0;
}

int pvio_gnt_transfer_end(struct pvio_gnt_front *f, pvio_grant_ref_t ref,
			  uint32_t *mfn)
{
	struct pvio_grant_entry_v1 *e;
	uint32_t h;
	int rc;

	if (!f || !mfn)
		return -EINVAL;
	gnt_spin_lock(f->m, &f->lock);
	e = entry_of(f, ref);
	if (!e) {
		gnt_spin_unlock(&f->lock);
		return -EINVAL;
	}
	/* A4: pairs with R4 in transfer_one(). */
	h = pvio_load_acquire(&e->hdr);
	for (;;) {
		uint16_t fl = hdr_flags(h);

		if ((fl & PVIO_GTF_type_mask) != PVIO_GTF_accept_transfer) {
			rc = -EINVAL;
			break;
		}
		if (fl & PVIO_GTF_transfer_completed) {
			*mfn = pvio_load_relaxed(&e->frame);
			atomic_store_explicit(&e->hdr, hdr_make(0, hdr_domid(h)),
					      memory_order_relaxed);
			rc = 0;
			break;
		}
		if (fl & PVIO_GTF_transfer_committed) {
			rc = -EBUSY;
			break;
		}
		/* Withdraw the offer unless a backend commits first. */
		if (atomic_compare_exchange_weak_explicit(&e->hdr, &h,
				hdr_make(0, hdr_domid(h)), memory_order_acq_rel,
				memory_order_acquire)) {
			rc = -ENOENT;
			break;
		}
	}
	if (rc == 0 || rc == -ENOENT)
		push_ref(f, ref);
	gnt_spin_unlock(&f->lock);
	return rc;
}

int pvio_gnt_refs_get(struct pvio_gnt_front *f, uint32_t n, pvio_grant_ref_t *refs)
{
	int rc = 0;

	if (!f || (n && !refs))
		return -EINVAL;
	gnt_spin_lock(f->m, &f->lock);
	while (f->nr_free < n && rc == 0)
		rc = grow_table(f);
	if (rc == 0)
		for (uint32_t i = 0; i < n; i++)
			refs[i] = pop_ref(f);
	gnt_spin_unlock(&f->lock);
	return rc;
}

int pvio_gnt_refs_put(struct pvio_gnt_front *f, const pvio_grant_ref_t *refs,
		      uint32_t n)
{
	if (!f || (n && !refs))
		return -EINVAL;
	gnt_spin_lock(f->m, &f->lock);
	for (uint32_t i = 0; i < n; i++)
		if (!entry_of(f, refs[i])) {
			gnt_spin_unlock(&f->lock);
			return -EINVAL;
		}
	for (uint32_t i = 0; i < n; i++)
		push_ref(f, refs[i]);
	gnt_spin_unlock(&f->lock);
	return 0;
}

static int fill_ref(struct pvio_gnt_front *f, pvio_grant_ref_t ref,
		    pvio_domid_t domid, uint32_t pfn, uint16_t flags)
{
	struct pvio_grant_entry_v1 *e;
	int rc = check_target(f, domid, pfn);

	if (rc)
		return rc;
	gnt_spin_lock(f->m, &f->lock);
	e = entry_of(f, ref);
	if (!e || hdr_flags(atomic_load_explicit(&e->hdr, memory_order_relaxed))
			& PVIO_GTF_type_mask) {
		gnt_spin_unlock(&f->lock);
		return -EINVAL; /* out of range, or still granted */
	}
	fill_entry(e, domid, pfn, flags);
	gnt_spin_unlock(&f->lock);
	return 0;
}

int pvio_gnt_grant_ref(struct pvio_gnt_front *f, pvio_grant_ref_t ref,
		       pvio_domid_t domid, uint32_t pfn, bool readonly)
{
	if (!f)
		return -EINVAL;
	return fill_ref(f, ref, domid, pfn, PVIO_GTF_permit_access |
			(readonly ? PVIO_GTF_readonly : 0));
}

int pvio_gnt_transfer_ref(struct pvio_gnt_front *f, pvio_grant_ref_t ref,
			  pvio_domid_t domid, uint32_t pfn)
{
	if (!f)
		return -EINVAL;
	return fill_ref(f, ref, domid, pfn, PVIO_GTF_accept_transfer);
}

uint32_t pvio_gnt_nr_free(struct pvio_gnt_front *f)
{
	uint32_t n;

	gnt_spin_lock(f->m, &f->lock);
	n = f->nr_free;
	gnt_spin_unlock(&f->lock);
	return n;
}

int pvio_gntst_to_errno(int gntst)
{
	switch (gntst) {
	case PVIO_GNTST_okay: return 0;
	case PVIO_GNTST_bad_domain: return -ESRCH;
	case PVIO_GNTST_bad_gntref: return -ENOENT;
	case PVIO_GNTST_bad_handle: return -EINVAL;
	case PVIO_GNTST_permission_denied: return -EACCES;
	case PVIO_GNTST_bad_page: return -EFAULT;
	case PVIO_GNTST_bad_copy_arg: return -EINVAL;
	case PVIO_GNTST_eagain: return -EAGAIN;
	case PVIO_GNTST_no_space: return -ENOSPC;
	default: return -EIO;
	}
}
