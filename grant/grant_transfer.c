/* SPDX-License-Identifier: MIT */
/*
 * Page flipping (GNTTABOP_transfer) on machine memory: a frame changes
 * owner and P2M slot; no byte of the page is copied, nothing is remapped.
 * Freestanding.
 */
#include "common.h"

/*
 * Xen's gnttab_prepare_for_transfer: the entry must be exactly an
 * uncommitted accept-transfer grant for us; commit it with one CAS against
 * the copy we checked. After this the granter must not touch the entry
 * until GTF_transfer_completed (and its transfer_end() says -EBUSY).
 */
static int prepare(struct pvio_grant_entry_v1 *e, pvio_domid_t backend)
{
	/* A2: pairs with R2 in fill_entry(); frame is read after this. */
	uint32_t h = atomic_load_explicit(&e->hdr, memory_order_acquire);

	for (int tries = 0; tries < 4; tries++) {
		if (hdr_flags(h) != PVIO_GTF_accept_transfer || hdr_domid(h) != backend)
			return PVIO_GNTST_bad_gntref;
		if (atomic_compare_exchange_strong_explicit(&e->hdr, &h,
				h | PVIO_GTF_transfer_committed,
				memory_order_acq_rel, memory_order_acquire))
			return PVIO_GNTST_okay;
	}
	return PVIO_GNTST_general_error;
}

/* R4: frame, then completed; pairs with A4 in the frontend. */
static void complete(struct pvio_grant_entry_v1 *e, uint32_t mfn)
{
	atomic_store_explicit(&e->frame, mfn, memory_order_relaxed);
	atomic_fetch_or_explicit(&e->hdr, PVIO_GTF_transfer_completed,
				 memory_order_release);
}

static int transfer_one(struct pvio_gnt_back *b, const struct pvio_gnt_transfer_op *op)
{
	const struct pvio_machine *m = b->m;
	struct pvio_mach_dom *d = pvio_mach_dom(m, op->domid);
	_Atomic uint32_t *bslot = pvio_mach_p2m_slot(m, b->domid, op->pfn);
	_Atomic uint32_t *fslot;
	struct pvio_grant_entry_v1 *e;
	uint32_t nr, i, gnt, mfn, fpfn, old, give;
	int st;

	if (!d || op->domid == b->domid ||
	    pvio_load_acquire(&d->state) != PVIO_DOM_ALIVE)
		return PVIO_GNTST_bad_domain;
	/* A1: pairs with R1 in grow_table(). */
	nr = pvio_load_acquire(&d->nr_gnt_frames);
	i = op->ref >> GNT_SHIFT;
	if (nr > PVIO_GNT_FRAMES_LIMIT)
		nr = PVIO_GNT_FRAMES_LIMIT;
	if (i >= nr)
		return PVIO_GNTST_bad_gntref;
	gnt = pvio_load_relaxed(&d->gnt_frames[i]);
	if (!pvio_frame_get(m, gnt, op->domid))
		return PVIO_GNTST_bad_domain;
	e = (struct pvio_grant_entry_v1 *)pvio_mach_frame(m, gnt) + (op->ref & GNT_MASK);

	/* Steal our frame: ours, unmapped; in flight it belongs to "Xen". */
	mfn = bslot ? pvio_load_acquire(bslot) : PVIO_MFN_INVALID;
	if (!pvio_frame_move(m, mfn, b->domid, PVIO_DOMID_XEN)) {
		st = PVIO_GNTST_bad_page;
		goto out;
	}
	st = prepare(e, b->domid);
	if (st != PVIO_GNTST_okay) {
		pvio_frame_move(m, mfn, PVIO_DOMID_XEN, b->domid);
		goto out;
	}
	fpfn = pvio_load_relaxed(&e->frame);
	fslot = pvio_mach_p2m_slot(m, op->domid, fpfn);
	if (!fslot || fpfn >= pvio_load_relaxed(&d->nr_pages) ||
	    !pvio_frame_move(m, mfn, PVIO_DOMID_XEN, op->domid)) {
		/* The granter named no page of its own: nothing moves. */
		pvio_frame_move(m, mfn, PVIO_DOMID_XEN, b->domid);
		complete(e, PVIO_MFN_INVALID);
		st = PVIO_GNTST_bad_page;
		goto out;
	}
	/*
	 * The frame is the frontend's now; publish it in its P2M (release:
	 * ownership first). The frame it replaces comes to us if nobody maps
	 * it; otherwise it is disowned (freed when unmapped) and we take a
	 * fresh one.
	 */
	old = atomic_exchange_explicit(fslot, mfn, memory_order_seq_cst);
	/*
	 * F1: the slot store, then the state load (seq_cst both); pairs with
	 * F2 in the toolstack's destroy (state store, then the P2M sweep). If
	 * the frontend began dying, its sweep may have missed our frame: take
	 * it back out ourselves; whoever empties the slot disowns the frame.
	 */
	if (atomic_load_explicit(&d->state, memory_order_seq_cst) != PVIO_DOM_ALIVE) {
		uint32_t x = atomic_exchange_explicit(fslot, PVIO_MFN_INVALID,
						      memory_order_seq_cst);
		if (x != PVIO_MFN_INVALID)
			pvio_frame_disown(m, x, op->domid);
	}
	give = PVIO_MFN_INVALID;
	if (old != PVIO_MFN_INVALID) {
		if (pvio_frame_move(m, old, op->domid, b->domid))
			give = old;
		else
			pvio_frame_disown(m, old, op->domid);
	}
	if (give == PVIO_MFN_INVALID && m->ops && m->ops->frame_alloc &&
	    m->ops->frame_alloc(m->ops_ctx, b->domid, &give))
		give = PVIO_MFN_INVALID;
	atomic_store_explicit(bslot, give, memory_order_release);
	complete(e, mfn);
out:
	pvio_frame_put(m, gnt);
	return st;
}

int pvio_gnt_transfer(struct pvio_gnt_back *b, struct pvio_gnt_transfer_op *ops,
		      uint32_t n)
{
	if (!b || (n && !ops))
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		ops[i].status = (int16_t)transfer_one(b, &ops[i]);
	return 0;
}
