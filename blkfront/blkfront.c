/* SPDX-License-Identifier: MIT */
/*
 * blkfront's request path: splitting user requests into ring requests,
 * the shadow table, bounce and persistent pages, grants, the response
 * path and its validation. Never reads the store (xenbus.c does).
 */
#include "common.h"

/* ------------------------------------------------------------ splitting */

uint32_t bf_seg_count(uint32_t page_off, uint64_t len)
{
	return (uint32_t)((page_off + len + PVIO_PAGE_SIZE - 1) / PVIO_PAGE_SIZE);
}

uint32_t bf_indirect_pages(uint32_t nsegs)
{
	return (uint32_t)((nsegs + PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE - 1) /
			  PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE);
}

uint64_t bf_split_next(uint32_t page_off, uint64_t remaining, uint32_t max_segs,
		       uint32_t sector_size, uint32_t *nsegs)
{
	uint64_t room = (uint64_t)max_segs * PVIO_PAGE_SIZE - page_off;
	uint64_t len = remaining < room ? remaining : room;

	if (len < remaining)
		len -= len % sector_size; /* parts end on logical sectors */
	*nsegs = len ? bf_seg_count(page_off, len) : 0;
	return len;
}

uint64_t bf_split_count(uint32_t page_off, uint64_t len, uint32_t max_segs,
			uint32_t sector_size)
{
	uint64_t parts = 0;
	uint32_t nsegs;

	while (len) {
		uint64_t part = bf_split_next(page_off, len, max_segs,
					      sector_size, &nsegs);
		if (part == 0)
			break;
		page_off = (uint32_t)((page_off + part) % PVIO_PAGE_SIZE);
		len -= part;
		parts++;
	}
	return parts;
}

/* ---------------------------------------------------------- validation */

int bf_status_to_errno(int16_t status)
{
	switch (status) {
	case PVIO_BLKIF_RSP_OKAY:
		return 0;
	case PVIO_BLKIF_RSP_ERROR:
		return -EIO;
	case PVIO_BLKIF_RSP_EOPNOTSUPP:
		return -EOPNOTSUPP;
	default:
		return -EPROTO;
	}
}

/*
 * The id is ours: (gen << 32) | index. Anything but an entry in flight of
 * the same generation and operation is the backend lying (stale,
 * duplicate, made up). Returns 0 (*idx valid) or -EPROTO.
 */
int bf_shadow_check(const struct bf_queue *q, const struct pvio_blkif_response *rsp,
		    uint32_t *idx)
{
	uint64_t id = rsp->id;
	uint32_t i = (uint32_t)id, gen = (uint32_t)(id >> 32);

	if (i >= q->nr_slots)
		return -EPROTO;
	const struct bf_shadow *s = &q->shadow[i];
	if (s->state != BF_SH_INFLIGHT || s->gen != gen)
		return -EPROTO;
	/* An indirect request's response carries the inner operation (as
	 * Linux's blkback writes it); accept the outer one too. */
	if (rsp->operation != s->op &&
	    !(s->op == PVIO_BLKIF_OP_INDIRECT && rsp->operation == s->data_op))
		return -EPROTO;
	if (bf_status_to_errno(rsp->status) == -EPROTO)
		return -EPROTO;
	*idx = i;
	return 0;
}

/* --------------------------------------------------------- pages, grants */

static int pool_get(struct bf_queue *q, uint32_t *out)
{
	struct pvio_domain *d = q->bf->d;

	if (q->page_free != BF_NONE) {
		*out = q->page_free;
		q->page_free = q->pages[*out].next;
		q->nr_page_free--;
		return 0;
	}
	if (q->nr_pages >= q->pages_cap)
		return -EAGAIN;
	uint32_t pfn;
	int err = pvio_domain_page_alloc(d, 1, &pfn);
	if (err)
		return err;
	struct bf_page *p = &q->pages[q->nr_pages];
	p->va = pvio_domain_page(d, pfn);
	if (!p->va) {
		pvio_domain_page_free(d, pfn, 1);
		return -ENOMEM;
	}
	p->pfn = pfn;
	p->gref = PVIO_GNT_REF_INVALID;
	*out = q->nr_pages++;
	return 0;
}

static void pool_put(struct bf_queue *q, uint32_t page)
{
	q->pages[page].next = q->page_free;
	q->page_free = page;
	q->nr_page_free++;
}

/* Grant a pool page: persistent ones once, others per request. */
static int page_grant(struct bf_queue *q, uint32_t page, bool readonly,
		      pvio_grant_ref_t *ref)
{
	struct pvio_blkfront *bf = q->bf;
	struct bf_page *p = &q->pages[page];
	int err;

	if (bf->persistent) {
		if (p->gref != PVIO_GNT_REF_INVALID) {
			q->persistent_hits++;
			*ref = p->gref;
			return 0;
		}
		err = pvio_gnt_grant(bf->d->gnt, bf->info.backend_id, p->pfn,
				     false, &p->gref);
		if (err) {
			p->gref = PVIO_GNT_REF_INVALID;
			return err;
		}
		q->grants++;
		*ref = p->gref;
		return 0;
	}
	err = pvio_gnt_grant(bf->d->gnt, bf->info.backend_id, p->pfn, readonly, ref);
	if (err == 0)
		q->grants++;
	return err;
}

/*
 * End a per-request grant and give back its pool page (BF_NONE: a caller
 * page). A page the backend still maps goes on the revoke list, and its
 * pool page with it. Persistent grants stay.
 */
static void grant_end(struct bf_queue *q, pvio_grant_ref_t ref, uint32_t page)
{
	struct pvio_blkfront *bf = q->bf;

	if (page != BF_NONE && bf->persistent) {
		pool_put(q, page);
		return;
	}
	if (ref != PVIO_GNT_REF_INVALID) {
		int err = pvio_gnt_revoke(bf->d->gnt, ref);
		if (err == -EBUSY) {
			q->revokes_deferred++;
			if (q->nr_revoke < q->revoke_cap) {
				q->revoke[q->nr_revoke].gref = ref;
				q->revoke[q->nr_revoke].page = page;
				q->nr_revoke++;
			} else if (page != BF_NONE) {
				q->pages_leaked++; /* never reused: still mapped */
			}
			return;
		}
		q->revokes++;
	}
	if (page != BF_NONE)
		pool_put(q, page);
}

static void revoke_retry(struct bf_queue *q)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < q->nr_revoke; i++) {
		struct bf_revoke r = q->revoke[i];
		if (pvio_gnt_revoke(q->bf->d->gnt, r.gref) == -EBUSY) {
			q->revoke[kept++] = r;
			continue;
		}
		q->revokes++;
		if (r.page != BF_NONE) {
			/* Always: a reconnect may have ended persistence while
			 * this persistent grant waited, and a stale ref must
			 * never be revoked again (refs are reused). */
			q->pages[r.page].gref = PVIO_GNT_REF_INVALID;
			pool_put(q, r.page);
		}
	}
	q->nr_revoke = kept;
}

/* ------------------------------------------------------- request lists */

struct done_list {
	struct pvio_blkfront_req *head, *tail;
};

static void done_add(struct done_list *l, struct pvio_blkfront_req *req)
{
	req->pvt.next = NULL;
	if (l->tail)
		l->tail->pvt.next = req;
	else
		l->head = req;
	l->tail = req;
}

static void backlog_pop(struct bf_queue *q)
{
	struct pvio_blkfront_req *req = q->backlog;

	q->backlog = req->pvt.next;
	if (!q->backlog)
		q->backlog_tail = NULL;
	req->pvt.next = NULL;
	req->pvt.queued = false;
}

static void part_finish(struct pvio_blkfront_req *req, int res,
			struct done_list *done)
{
	if (res && !req->pvt.err)
		req->pvt.err = res;
	req->pvt.inflight--;
	if (req->pvt.inflight == 0 && !req->pvt.queued)
		done_add(done, req);
}

/* Complete user requests outside every queue lock. */
static void deliver(struct pvio_blkfront *bf, struct done_list *done)
{
	struct pvio_blkfront_req *req = done->head, *next;
	bool any = req != NULL;

	for (; req; req = next) {
		next = req->pvt.next;
		req->res = req->pvt.err;
		if (req->res)
			atomic_fetch_add_explicit(&bf->errors, 1, memory_order_relaxed);
		if (req->done) {
			pvio_blkfront_done_fn fn = req->done;
			atomic_fetch_sub_explicit(&bf->outstanding, 1, memory_order_acq_rel);
			fn(req, req->res); /* req may be gone after this */
		} else {
			req->pvt.next = NULL;
			bf_lock(&bf->cq_lock);
			if (bf->cq_tail)
				bf->cq_tail->pvt.next = req;
			else
				bf->cq_head = req;
			bf->cq_tail = req;
			atomic_store_explicit(&bf->cq_len, atomic_load_explicit(
				&bf->cq_len, memory_order_relaxed) + 1, memory_order_release);
			bf_unlock(&bf->cq_lock);
			atomic_fetch_sub_explicit(&bf->outstanding, 1, memory_order_acq_rel);
		}
	}
	done->head = done->tail = NULL;
	if (any) {
		/* Sleepers compare seq with what they saw before sleeping. */
		atomic_fetch_add_explicit(&bf->seq, 1, memory_order_seq_cst);
		if (atomic_load_explicit(&bf->sleepers, memory_order_seq_cst)) {
			const struct pvio_evtchn *h = bf->d->evtchn;
			h->ops->wake(h->ops_ctx, bf->d->domid, &bf->seq);
		}
	}
}

/* ---------------------------------------------------------- the shadow */

static void shadow_release(struct bf_queue *q, uint32_t i)
{
	struct bf_shadow *s = &q->shadow[i];

	s->state = BF_SH_FREE;
	s->req = NULL;
	s->next_free = q->shadow_free;
	q->shadow_free = i;
	q->nr_inflight--;
}

/* End a ring request's grants; copy read data back when res is 0. */
static void shadow_end(struct bf_queue *q, uint32_t i, int res)
{
	struct bf_shadow *s = &q->shadow[i];
	struct pvio_blkfront_req *req = s->req;
	bool copy_back = res == 0 && s->data_op == PVIO_BLKIF_OP_READ;

	for (uint32_t k = 0; k < s->nr_segs; k++) {
		struct bf_seg *g = &s->seg[k];
		if (copy_back && g->page != BF_NONE) {
			unsigned char *dst = (unsigned char *)req->buf + s->part_off + g->user_off;
			bf_memcpy(dst, (unsigned char *)q->pages[g->page].va + g->off, g->len);
			q->bounced_bytes += g->len;
		}
		grant_end(q, g->gref, g->page);
	}
	for (uint32_t k = 0; k < s->nr_ind; k++)
		grant_end(q, s->ind_gref[k], s->ind_page[k]);
	s->nr_segs = 0;
	s->nr_ind = 0;
}

/* Undo a part that was built but never pushed. */
static void shadow_abort(struct bf_queue *q, uint32_t i)
{
	shadow_end(q, i, -EIO);
	shadow_release(q, i);
}

/* ------------------------------------------------------------- issuing */

static uint8_t ring_op_of(struct pvio_blkfront *bf, uint32_t op)
{
	switch (op) {
	case PVIO_BLKFRONT_OP_READ:
		return PVIO_BLKIF_OP_READ;
	case PVIO_BLKFRONT_OP_WRITE:
		return PVIO_BLKIF_OP_WRITE;
	case PVIO_BLKFRONT_OP_FLUSH:
		return bf->info.flush_is_barrier ? PVIO_BLKIF_OP_WRITE_BARRIER
						 : PVIO_BLKIF_OP_FLUSH_DISKCACHE;
	default:
		return PVIO_BLKIF_OP_DISCARD;
	}
}

static uint32_t shadow_take(struct bf_queue *q)
{
	uint32_t i = q->shadow_free;
	struct bf_shadow *s = &q->shadow[i];

	q->shadow_free = s->next_free;
	s->gen++;
	s->state = BF_SH_INFLIGHT;
	s->nr_segs = 0;
	s->nr_ind = 0;
	q->nr_inflight++;
	return i;
}

/*
 * Build and place the next ring request of req. Returns 0 (one part
 * placed), -EAGAIN (no slot, page or grant now: retry after responses),
 * or a hard error for the whole request.
 */
static int issue_part(struct bf_queue *q, struct pvio_blkfront_req *req)
{
	struct pvio_blkfront *bf = q->bf;
	uint64_t remaining = req->nr_bytes - req->pvt.issued;
	uint32_t nsegs = 0, nr_ind = 0, i;
	uint64_t part = 0;
	uint8_t op = ring_op_of(bf, req->op), data_op = op;
	uintptr_t base = 0;
	int err;

	if (q->shadow_free == BF_NONE || pvio_ring_front_free_slots(&q->ring) == 0)
		return -EAGAIN;

	if (op == PVIO_BLKIF_OP_READ || op == PVIO_BLKIF_OP_WRITE) {
		uint32_t page_off = 0;
		if (req->pvt.zc) {
			base = (uintptr_t)req->buf & (PVIO_PAGE_SIZE - 1);
			page_off = (uint32_t)((base + req->pvt.issued) % PVIO_PAGE_SIZE);
		}
		part = bf_split_next(page_off, remaining, bf->max_segs,
				     bf->info.sector_size, &nsegs);
		if (nsegs > PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST) {
			nr_ind = bf_indirect_pages(nsegs);
			op = PVIO_BLKIF_OP_INDIRECT;
		}
		uint32_t need = (req->pvt.zc ? 0 : nsegs) + nr_ind;
		if (need > q->nr_page_free + (q->pages_cap - q->nr_pages))
			return -EAGAIN;
	}

	i = shadow_take(q);
	struct bf_shadow *s = &q->shadow[i];
	s->op = op;
	s->data_op = data_op;
	s->req = req;
	s->part_off = req->pvt.issued;

	/* Data segments. */
	bool ro = data_op == PVIO_BLKIF_OP_WRITE;
	uint64_t done_bytes = 0;
	for (uint32_t k = 0; k < nsegs; k++) {
		struct bf_seg *g = &s->seg[k];
		uint64_t abs = base + req->pvt.issued + done_bytes;
		uint32_t off = req->pvt.zc ? (uint32_t)(abs % PVIO_PAGE_SIZE) : 0;
		uint64_t left = part - done_bytes;
		uint32_t len = (uint32_t)(PVIO_PAGE_SIZE - off < left ? PVIO_PAGE_SIZE - off : left);

		g->off = (uint16_t)off;
		g->len = (uint16_t)len;
		g->user_off = (uint32_t)done_bytes;
		g->gref = PVIO_GNT_REF_INVALID;
		g->page = BF_NONE;
		s->nr_segs = k + 1;
		if (req->pvt.zc) {
			uint32_t pfn = req->pvt.zc_pfn + (uint32_t)(abs / PVIO_PAGE_SIZE);
			err = pvio_gnt_grant(bf->d->gnt, bf->info.backend_id, pfn,
					     ro, &g->gref);
			if (err)
				goto fail;
			q->grants++;
			q->zero_copy_segments++;
		} else {
			err = pool_get(q, &g->page);
			if (err)
				goto fail;
			err = page_grant(q, g->page, ro, &g->gref);
			if (err)
				goto fail;
			if (data_op == PVIO_BLKIF_OP_WRITE) {
				bf_memcpy(q->pages[g->page].va,
					  (unsigned char *)req->buf + req->pvt.issued + done_bytes,
					  len);
				q->bounced_bytes += len;
			}
		}
		done_bytes += len;
	}

	/* Indirect pages: the segment array. */
	for (uint32_t k = 0; k < nr_ind; k++) {
		s->ind_gref[k] = PVIO_GNT_REF_INVALID;
		s->ind_page[k] = BF_NONE;
		s->nr_ind = (uint8_t)(k + 1);
		err = pool_get(q, &s->ind_page[k]);
		if (err)
			goto fail;
		err = page_grant(q, s->ind_page[k], true, &s->ind_gref[k]);
		if (err)
			goto fail;
		struct pvio_blkif_segment *arr = q->pages[s->ind_page[k]].va;
		for (uint32_t j = 0; j < PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE; j++) {
			uint32_t n = k * (uint32_t)PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE + j;
			if (n >= nsegs)
				break;
			arr[j].gref = s->seg[n].gref;
			arr[j].first_sect = (uint8_t)(s->seg[n].off / BF_SECTOR);
			arr[j].last_sect = (uint8_t)((s->seg[n].off + s->seg[n].len) / BF_SECTOR - 1);
			arr[j].pad[0] = arr[j].pad[1] = 0;
		}
	}

	/* The slot, built in place (the backend copies it out once). */
	union pvio_blkif_slot *slot = (void *)pvio_blkif_front_next_req(&q->ring);
	bf_memset(slot, 0, sizeof(*slot));
	uint64_t id = (uint64_t)s->gen << 32 | i;
	uint64_t sector = req->sector + req->pvt.issued / BF_SECTOR;
	if (op == PVIO_BLKIF_OP_INDIRECT) {
		struct pvio_blkif_request_indirect *r = (void *)slot;
		r->operation = op;
		r->indirect_op = data_op;
		r->nr_segments = (uint16_t)nsegs;
		r->id = id;
		r->sector_number = sector;
		r->handle = (pvio_blkif_vdev_t)bf->info.devid;
		for (uint32_t k = 0; k < nr_ind; k++)
			r->indirect_grefs[k] = s->ind_gref[k];
		q->indirect_requests++;
	} else if (op == PVIO_BLKIF_OP_DISCARD) {
		struct pvio_blkif_request_discard *r = (void *)slot;
		r->operation = op;
		r->flag = req->op == PVIO_BLKFRONT_OP_SECURE_DISCARD ?
			  PVIO_BLKIF_DISCARD_SECURE : 0;
		r->handle = (pvio_blkif_vdev_t)bf->info.devid;
		r->id = id;
		r->sector_number = req->sector;
		r->nr_sectors = req->nr_bytes / BF_SECTOR;
		part = req->nr_bytes;
	} else {
		struct pvio_blkif_request *r = &slot->req;
		r->operation = op;
		r->nr_segments = (uint8_t)nsegs;
		r->handle = (pvio_blkif_vdev_t)bf->info.devid;
		r->id = id;
		r->sector_number = op == PVIO_BLKIF_OP_READ || op == PVIO_BLKIF_OP_WRITE ?
				   sector : 0;
		for (uint32_t k = 0; k < nsegs; k++) {
			r->seg[k].gref = s->seg[k].gref;
			r->seg[k].first_sect = (uint8_t)(s->seg[k].off / BF_SECTOR);
			r->seg[k].last_sect = (uint8_t)((s->seg[k].off + s->seg[k].len) /
							BF_SECTOR - 1);
		}
	}
	req->pvt.issued += part;
	req->pvt.inflight++;
	q->ring_requests++;
	return 0;

fail:
	shadow_abort(q, i);
	/* Out of pages or grants with other requests in flight: wait for
	 * them. With nothing in flight waiting would never end. */
	if ((err == -EAGAIN || err == -ENOSPC || err == -ENOMEM) && q->nr_inflight)
		return -EAGAIN;
	return err;
}

/* Push as much of the backlog as fits. Queue locked. */
static void backlog_run(struct bf_queue *q, struct done_list *done)
{
	while (q->backlog) {
		struct pvio_blkfront_req *req = q->backlog;
		int err = issue_part(q, req);
		if (err == -EAGAIN)
			break;
		if (err) {
			if (!req->pvt.err)
				req->pvt.err = err;
			backlog_pop(q);
			if (req->pvt.inflight == 0)
				done_add(done, req);
			continue;
		}
		if (req->pvt.issued >= req->nr_bytes)
			backlog_pop(q);
	}
}

/* Publish; returns true when the backend must be kicked. Queue locked. */
static bool ring_push(struct bf_queue *q)
{
	if (pvio_ring_front_push(&q->ring) != 1)
		return false;
	q->kicks++;
	return true;
}

/* Returns false when the backend is gone (notify says unbound). */
static bool kick(struct bf_queue *q)
{
	int err = pvio_evtchn_notify(q->bf->d->evtchn, q->port);

	return err != -ENOTCONN && err != -EINVAL;
}

/* Fail everything in flight and queued on q. Queue locked. */
static void queue_fail_locked(struct bf_queue *q, struct done_list *done)
{
	for (uint32_t i = 0; i < q->nr_slots && q->shadow; i++) {
		struct bf_shadow *s = &q->shadow[i];
		if (s->state != BF_SH_INFLIGHT)
			continue;
		struct pvio_blkfront_req *req = s->req;
		shadow_end(q, i, -EIO);
		shadow_release(q, i);
		part_finish(req, -EIO, done);
	}
	while (q->backlog) {
		struct pvio_blkfront_req *req = q->backlog;
		backlog_pop(q);
		if (!req->pvt.err)
			req->pvt.err = -EIO;
		if (req->pvt.inflight == 0)
			done_add(done, req);
	}
	revoke_retry(q);
}

void bf_mark_dead(struct pvio_blkfront *bf, enum bf_state why)
{
	uint32_t st = atomic_load_explicit(&bf->state, memory_order_acquire);

	while (st == BF_CONNECTED || st == BF_CONNECTING || st == BF_RECOVERING) {
		if (atomic_compare_exchange_weak_explicit(&bf->state, &st, why,
				memory_order_acq_rel, memory_order_acquire))
			break;
	}
	for (uint32_t n = 0; n < bf->nr_queues; n++) {
		struct bf_queue *q = &bf->q[n];
		struct done_list done = { 0 };
		bf_lock(&q->lock);
		queue_fail_locked(q, &done);
		bf_unlock(&q->lock);
		deliver(bf, &done);
	}
}

static bool bf_alive(const struct pvio_blkfront *bf)
{
	return atomic_load_explicit(&bf->state, memory_order_acquire) == BF_CONNECTED;
}

static bool bf_recovering(const struct pvio_blkfront *bf)
{
	return atomic_load_explicit(&bf->state, memory_order_acquire) == BF_RECOVERING;
}

bool pvio_blkfront_recovering(const struct pvio_blkfront *bf)
{
	return bf && bf_recovering(bf);
}

/*
 * epoch: bf->epoch when the caller looked at the ports it found unbound;
 * a reconnect since then renewed them, so the news is stale.
 */
static void backend_lost_at(struct pvio_blkfront *bf, uint32_t epoch)
{
	uint32_t st = BF_CONNECTED;

	if (atomic_load_explicit(&bf->epoch, memory_order_acquire) != epoch)
		return;
	if (!bf->cfg.reconnect) {
		bf_mark_dead(bf, BF_GONE);
		return;
	}
	/* Everything stays where it is; pvio_blkfront_reconnect() takes it. */
	atomic_compare_exchange_strong_explicit(&bf->state, &st, BF_RECOVERING,
						memory_order_acq_rel, memory_order_acquire);
}

void bf_backend_lost(struct pvio_blkfront *bf)
{
	backend_lost_at(bf, atomic_load_explicit(&bf->epoch, memory_order_acquire));
}

/* ------------------------------------------------------------ reaping */

/* Complete the ring request a checked response (shadow idx) answers. */
static void rsp_complete(struct bf_queue *q, uint32_t idx,
			 const struct pvio_blkif_response *rsp, struct done_list *done)
{
	struct pvio_blkfront *bf = q->bf;
	struct bf_shadow *s = &q->shadow[idx];
	struct pvio_blkfront_req *req = s->req;
	int res = bf_status_to_errno(rsp->status);

	if (res == -EOPNOTSUPP) {
		if (s->op == PVIO_BLKIF_OP_DISCARD)
			atomic_store(&bf->discard_ok, false);
		else if (s->op == PVIO_BLKIF_OP_FLUSH_DISKCACHE ||
			 s->op == PVIO_BLKIF_OP_WRITE_BARRIER)
			atomic_store(&bf->flush_ok, false);
	}
	shadow_end(q, idx, res);
	shadow_release(q, idx);
	part_finish(req, res, done);
}

/* Take every response q has; returns completions, or -EPROTO when the
 * backend broke the protocol (the caller marks the device broken). */
static int queue_reap(struct bf_queue *q, struct done_list *done, bool *kick_needed)
{
	struct pvio_blkfront *bf = q->bf;
	struct pvio_blkif_response rsp;
	int n = 0, r;
	uint32_t idx;

	bf_lock(&q->lock);
	if (!bf_alive(bf)) {
		/* Dead: only grants a backend held past its death are left. */
		if (q->nr_revoke)
			revoke_retry(q);
		bf_unlock(&q->lock);
		return 0;
	}
	for (;;) {
		r = pvio_blkif_front_get_rsp(&q->ring, &rsp);
		if (r == 0)
			break;
		if (r < 0 || bf_shadow_check(q, &rsp, &idx) != 0) {
			/* Stop reading this ring: everything goes -EIO. */
			atomic_store_explicit(&bf->state, BF_BROKEN, memory_order_release);
			atomic_fetch_add_explicit(&bf->protocol_errors, 1, memory_order_relaxed);
			queue_fail_locked(q, done);
			bf_unlock(&q->lock);
			return -EPROTO;
		}
		rsp_complete(q, idx, &rsp, done);
		n++;
	}
	if (q->nr_revoke)
		revoke_retry(q);
	backlog_run(q, done);
	*kick_needed = ring_push(q);
	atomic_store_explicit(&q->rsp_cons_seen, q->ring.rsp_cons, memory_order_relaxed);
	bf_unlock(&q->lock);
	return n;
}

static int poll_all(struct pvio_blkfront *bf)
{
	int total = 0;

	for (uint32_t n = 0; n < bf->nr_queues; n++) {
		struct bf_queue *q = &bf->q[n];
		struct done_list done = { 0 };
		bool k = false;
		uint32_t ep = atomic_load_explicit(&bf->epoch, memory_order_acquire);
		int r = queue_reap(q, &done, &k);
		if (k && !kick(q))
			r = -ENOTCONN;
		deliver(bf, &done);
		if (r == -EPROTO)
			bf_mark_dead(bf, BF_BROKEN);
		else if (r == -ENOTCONN)
			backend_lost_at(bf, ep);
		else
			total += r;
	}
	return total;
}

int pvio_blkfront_poll(struct pvio_blkfront *bf)
{
	return bf ? poll_all(bf) : -EINVAL;
}

/* ------------------------------------------------------------- waiting */

#define BF_SLICE_NS 20000000ull /* longest single sleep: 20 ms */

static uint64_t now_ns(const struct pvio_blkfront *bf)
{
	const struct pvio_evtchn *h = bf->d->evtchn;

	return h->ops->now_ns(h->ops_ctx);
}

static bool responses_waiting(struct pvio_blkfront *bf)
{
	for (uint32_t n = 0; n < bf->nr_queues; n++) {
		struct bf_queue *q = &bf->q[n];
		/* A peek without the lock: only a hint to stop polling;
		 * queue_reap() reads the ring properly under it. */
		uint32_t prod = pvio_load_acquire(&q->ring.sring->rsp_prod);
		if (prod != atomic_load_explicit(&q->rsp_cons_seen, memory_order_relaxed))
			return true;
	}
	return false;
}

/* Is every queue's port still bound to the backend? */
static bool ports_bound(struct pvio_blkfront *bf)
{
	for (uint32_t n = 0; n < bf->nr_queues; n++) {
		struct pvio_evtchn_status st;
		if (pvio_evtchn_status(bf->d->evtchn, bf->q[n].port, &st) != 0 ||
		    st.state != PVIO_EVTCHN_PORT_INTERDOMAIN)
			return false;
	}
	return true;
}

typedef bool (*bf_pred_fn)(struct pvio_blkfront *bf, void *arg);

/*
 * Adaptive wait: reap; poll the rings for the spin budget; arm the event
 * indices (final check); sleep on the event channel waiter the ports are
 * routed to (cfg.evtchn_waiter). One thread at a time owns that wait
 * (bf->waiter); the others sleep on bf->seq,
 * which deliver() bumps. Every sleep is bounded by a slice, so a stolen
 * event or a lost wake-up costs at most a slice, never a hang.
 */
static int wait_until(struct pvio_blkfront *bf, bf_pred_fn pred, void *arg,
		      uint64_t timeout_ns)
{
	const struct pvio_evtchn *h = bf->d->evtchn;
	uint64_t start = now_ns(bf);
	uint64_t deadline = timeout_ns == PVIO_BLKFRONT_FOREVER || start + timeout_ns < start ?
			    UINT64_MAX : start + timeout_ns;
	uint64_t max_spin = bf->cfg.no_spin ? 0 : bf->cfg.spin_ns;

	for (;;) {
		uint32_t seq0 = atomic_load_explicit(&bf->seq, memory_order_seq_cst);
		poll_all(bf);
		if (pred(bf, arg))
			return 0;
		if (atomic_load_explicit(&bf->outstanding, memory_order_acquire) == 0 &&
		    !pred(bf, arg))
			return -ETIMEDOUT; /* nothing left that could satisfy it */
		uint64_t now = now_ns(bf);
		if (now >= deadline)
			return -ETIMEDOUT;
		uint64_t until = deadline - now < BF_SLICE_NS ? deadline : now + BF_SLICE_NS;

		if (bf_recovering(bf)) {
			/* Nothing to reap until pvio_blkfront_reconnect()
			 * (another thread) resumes the device: it bumps seq. */
			atomic_fetch_add_explicit(&bf->sleepers, 1, memory_order_seq_cst);
			if (atomic_load_explicit(&bf->seq, memory_order_seq_cst) == seq0)
				h->ops->sleep(h->ops_ctx, bf->d->domid, &bf->seq, seq0, until);
			atomic_fetch_sub_explicit(&bf->sleepers, 1, memory_order_seq_cst);
			continue;
		}
		uint32_t ep = atomic_load_explicit(&bf->epoch, memory_order_acquire);
		uint32_t expect = 0;
		if (!atomic_compare_exchange_strong_explicit(&bf->waiter, &expect, 1,
				memory_order_acquire, memory_order_relaxed)) {
			atomic_fetch_add_explicit(&bf->sleepers, 1, memory_order_seq_cst);
			if (atomic_load_explicit(&bf->seq, memory_order_seq_cst) == seq0)
				h->ops->sleep(h->ops_ctx, bf->d->domid, &bf->seq, seq0, until);
			atomic_fetch_sub_explicit(&bf->sleepers, 1, memory_order_seq_cst);
			continue;
		}

		/*
		 * The poll budget adapts: a poll that finds responses restores
		 * it, one that runs out halves it, down to none (sleep at once;
		 * every 64th wait polls in full to notice a fast backend again).
		 * When the CPUs are shared, polling only keeps the backend from
		 * running, so polls fail and the budget drops away.
		 */
		bool found = false;
		uint64_t spin = bf->spin_cur;
		if (!spin && max_spin && (++bf->spin_probe & 63) == 0)
			spin = max_spin;
		uint64_t spin_end = now + spin;
		while (spin && !found && now_ns(bf) < spin_end && bf_alive(bf)) {
			for (int k = 0; k < 64 && !found; k++) {
				found = responses_waiting(bf);
				pvio_cpu_relax();
			}
		}
		if (spin)
			bf->spin_cur = found ? (uint32_t)max_spin :
				       bf->spin_cur / 2 < 1000 ? 0 : bf->spin_cur / 2;
		if (found) {
			atomic_fetch_add_explicit(&bf->polls_hit, 1, memory_order_relaxed);
		} else if (bf_alive(bf)) {
			int pending = 0;
			for (uint32_t n = 0; n < bf->nr_queues; n++) {
				struct bf_queue *q = &bf->q[n];
				bf_lock(&q->lock);
				int r = pvio_ring_front_final_check(&q->ring);
				bf_unlock(&q->lock);
				if (r != 0)
					pending = 1; /* responses, or -EPROTO for reap */
			}
			if (!pending && !ports_bound(bf)) {
				atomic_store_explicit(&bf->waiter, 0, memory_order_release);
				backend_lost_at(bf, ep);
				continue;
			}
			if (!pending) {
				uint32_t ports[16];
				uint64_t t = now_ns(bf);
				int r = pvio_evtchn_wait_on(bf->d->evtchn,
							    bf->cfg.evtchn_waiter,
							    PVIO_EVTCHN_BLOCK,
							    until > t ? until - t : 0,
							    ports, 16);
				if (r > 0)
					atomic_fetch_add_explicit(&bf->wakeups, 1,
								  memory_order_relaxed);
			}
		}
		atomic_store_explicit(&bf->waiter, 0, memory_order_release);
	}
}

static bool pred_idle(struct pvio_blkfront *bf, void *arg)
{
	(void)arg;
	return atomic_load_explicit(&bf->outstanding, memory_order_acquire) == 0;
}

int pvio_blkfront_drain(struct pvio_blkfront *bf, uint64_t timeout_ns)
{
	if (!bf)
		return -EINVAL;
	poll_all(bf);
	if (pred_idle(bf, NULL))
		return 0;
	return wait_until(bf, pred_idle, NULL, timeout_ns);
}

static bool pred_cq(struct pvio_blkfront *bf, void *arg)
{
	unsigned min = *(unsigned *)arg;

	return atomic_load_explicit(&bf->cq_len, memory_order_acquire) >= min;
}

int pvio_blkfront_getevents(struct pvio_blkfront *bf,
			    struct pvio_blkfront_req **reqs, unsigned min,
			    unsigned max, uint64_t timeout_ns)
{
	if (!bf || !reqs || max == 0 || min > max)
		return -EINVAL;
	poll_all(bf);
	if (min && !pred_cq(bf, &min)) {
		if (timeout_ns == 0)
			return -ETIMEDOUT;
		int err = wait_until(bf, pred_cq, &min, timeout_ns);
		if (err)
			return err;
	}
	unsigned n = 0;
	bf_lock(&bf->cq_lock);
	while (n < max && bf->cq_head) {
		struct pvio_blkfront_req *req = bf->cq_head;
		bf->cq_head = req->pvt.next;
		if (!bf->cq_head)
			bf->cq_tail = NULL;
		req->pvt.next = NULL;
		atomic_store_explicit(&bf->cq_len, atomic_load_explicit(
			&bf->cq_len, memory_order_relaxed) - 1, memory_order_relaxed);
		reqs[n++] = req;
	}
	bf_unlock(&bf->cq_lock);
	return (int)n;
}

/* ---------------------------------------------------------- submission */

static bool zc_lookup(struct pvio_blkfront *bf, struct pvio_blkfront_req *req)
{
	uintptr_t p = (uintptr_t)req->buf;
	bool found = false;

	if (bf->persistent || (p & (BF_SECTOR - 1)))
		return false;
	bf_lock(&bf->buf_lock);
	for (uint32_t i = 0; i < BF_MAX_BUFS; i++) {
		struct bf_buf *b = &bf->bufs[i];
		uintptr_t lo = (uintptr_t)b->va;
		uintptr_t hi = lo + (uintptr_t)b->n * PVIO_PAGE_SIZE;
		if (!b->va || p < lo || p >= hi || req->nr_bytes > hi - p)
			continue;
		req->pvt.zc_pfn = b->pfn + (uint32_t)((p - lo) / PVIO_PAGE_SIZE);
		found = true;
		break;
	}
	bf_unlock(&bf->buf_lock);
	return found;
}

static int submit_check(struct pvio_blkfront *bf, const struct pvio_blkfront_req *req)
{
	const struct pvio_blkfront_info *in = &bf->info;
	uint32_t ss_sectors = in->sector_size / BF_SECTOR;

	switch (req->op) {
	case PVIO_BLKFRONT_OP_READ:
	case PVIO_BLKFRONT_OP_WRITE:
		if (!req->buf || req->nr_bytes == 0)
			return -EINVAL;
		if (req->op == PVIO_BLKFRONT_OP_WRITE && in->readonly)
			return -EROFS;
		break;
	case PVIO_BLKFRONT_OP_FLUSH:
		if (!atomic_load(&bf->flush_ok))
			return -EOPNOTSUPP;
		return 0;
	case PVIO_BLKFRONT_OP_DISCARD:
	case PVIO_BLKFRONT_OP_SECURE_DISCARD:
		if (!atomic_load(&bf->discard_ok) ||
		    (req->op == PVIO_BLKFRONT_OP_SECURE_DISCARD && !in->secure_discard))
			return -EOPNOTSUPP;
		if (in->readonly)
			return -EROFS;
		if (req->nr_bytes == 0)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (req->nr_bytes % in->sector_size || req->sector % ss_sectors)
		return -EINVAL;
	uint64_t n = req->nr_bytes / BF_SECTOR;
	if (req->sector > in->sectors || n > in->sectors - req->sector)
		return -EINVAL;
	return 0;
}

int pvio_blkfront_submit(struct pvio_blkfront *bf, uint32_t queue,
			 struct pvio_blkfront_req *req)
{
	if (!bf || !req)
		return -EINVAL;
	if (queue == PVIO_BLKFRONT_QUEUE_ANY)
		queue = atomic_fetch_add_explicit(&bf->rr, 1, memory_order_relaxed) %
			bf->nr_queues;
	if (queue >= bf->nr_queues)
		return -EINVAL;
	if (!bf_alive(bf) && !bf_recovering(bf))
		return -EIO;
	int err = submit_check(bf, req);
	if (err)
		return err;

	struct bf_queue *q = &bf->q[queue];
	struct done_list done = { 0 };
	req->res = 0;
	req->pvt.next = NULL;
	req->pvt.issued = 0;
	req->pvt.inflight = 0;
	req->pvt.queue = queue;
	req->pvt.err = 0;
	req->pvt.zc = false;
	if (req->op == PVIO_BLKFRONT_OP_READ || req->op == PVIO_BLKFRONT_OP_WRITE)
		req->pvt.zc = zc_lookup(bf, req);
	req->pvt.queued = true;
	atomic_fetch_add_explicit(&bf->outstanding, 1, memory_order_acq_rel);

	bf_lock(&q->lock);
	q->requests++;
	if (q->backlog_tail)
		q->backlog_tail->pvt.next = req;
	else
		q->backlog = req;
	q->backlog_tail = req;
	bool k = false;
	uint32_t ep = atomic_load_explicit(&bf->epoch, memory_order_acquire);
	if (bf_alive(bf)) {
		/* Flush and discard have no bytes to issue: one part each. */
		backlog_run(q, &done);
		k = ring_push(q);
	} else if (!bf_recovering(bf)) {
		queue_fail_locked(q, &done); /* recovering: it waits queued */
	}
	bf_unlock(&q->lock);
	bool gone = k && !kick(q);
	deliver(bf, &done);
	if (gone)
		backend_lost_at(bf, ep);
	return 0;
}

/* -------------------------------------------------------- synchronous */

struct sync_wait {
	_Atomic uint32_t done;
	int res;
};

static void sync_done(struct pvio_blkfront_req *req, int res)
{
	struct sync_wait *w = req->user;

	w->res = res;
	atomic_store_explicit(&w->done, 1, memory_order_release);
}

static bool pred_sync(struct pvio_blkfront *bf, void *arg)
{
	struct sync_wait *w = arg;

	(void)bf;
	return atomic_load_explicit(&w->done, memory_order_acquire) != 0;
}

static int sync_io(struct pvio_blkfront *bf, uint32_t op, void *buf,
		   uint64_t len, uint64_t offset)
{
	struct sync_wait w = { .done = 0, .res = 0 };
	struct pvio_blkfront_req req;

	if (!bf)
		return -EINVAL;
	if (offset % BF_SECTOR)
		return -EINVAL;
	bf_memset(&req, 0, sizeof(req));
	req.op = op;
	req.sector = offset / BF_SECTOR;
	req.buf = buf;
	req.nr_bytes = len;
	req.done = sync_done;
	req.user = &w;
	int err = pvio_blkfront_submit(bf, PVIO_BLKFRONT_QUEUE_ANY, &req);
	if (err)
		return err;
	/* Completes exactly once: a dead backend fails it, never hangs. */
	while (wait_until(bf, pred_sync, &w, PVIO_BLKFRONT_FOREVER) != 0 &&
	       !pred_sync(bf, &w))
		;
	return w.res;
}

int pvio_blkfront_pread(struct pvio_blkfront *bf, void *buf, uint64_t len,
			uint64_t offset)
{
	return sync_io(bf, PVIO_BLKFRONT_OP_READ, buf, len, offset);
}

int pvio_blkfront_pwrite(struct pvio_blkfront *bf, const void *buf,
			 uint64_t len, uint64_t offset)
{
	/* Only read through: the cast drops const for the shared struct. */
	return sync_io(bf, PVIO_BLKFRONT_OP_WRITE, (void *)(uintptr_t)buf, len, offset);
}

int pvio_blkfront_flush(struct pvio_blkfront *bf)
{
	return sync_io(bf, PVIO_BLKFRONT_OP_FLUSH, NULL, 0, 0);
}

int pvio_blkfront_discard(struct pvio_blkfront *bf, uint64_t offset,
			  uint64_t len, bool secure)
{
	return sync_io(bf, secure ? PVIO_BLKFRONT_OP_SECURE_DISCARD :
		       PVIO_BLKFRONT_OP_DISCARD, NULL, len, offset);
}

/* --------------------------------------------------- zero-copy buffers */

int pvio_blkfront_buf_alloc(struct pvio_blkfront *bf, size_t len, void **buf)
{
	uint32_t n, pfn;
	void *va;
	int err;

	if (!bf || !buf || len == 0 || len > (size_t)BF_ALLOC_MAX_PAGES * PVIO_PAGE_SIZE)
		return -EINVAL;
	n = (uint32_t)((len + PVIO_PAGE_SIZE - 1) / PVIO_PAGE_SIZE);
	err = pvio_domain_page_alloc(bf->d, n, &pfn);
	if (err)
		return err;
	err = bf_vmap_range(bf->d, pfn, n, &va);
	if (err) {
		pvio_domain_page_free(bf->d, pfn, n);
		return err;
	}
	bf_lock(&bf->buf_lock);
	for (uint32_t i = 0; i < BF_MAX_BUFS; i++) {
		if (bf->bufs[i].va)
			continue;
		bf->bufs[i] = (struct bf_buf){ .va = va, .pfn = pfn, .n = n };
		bf_unlock(&bf->buf_lock);
		*buf = va;
		return 0;
	}
	bf_unlock(&bf->buf_lock);
	if (n > 1)
		pvio_domain_vunmap(bf->d, va, n);
	pvio_domain_page_free(bf->d, pfn, n);
	return -ENOSPC;
}

int pvio_blkfront_buf_free(struct pvio_blkfront *bf, void *buf)
{
	struct bf_buf b = { 0 };

	if (!bf || !buf)
		return -EINVAL;
	bf_lock(&bf->buf_lock);
	for (uint32_t i = 0; i < BF_MAX_BUFS; i++) {
		if (bf->bufs[i].va == buf) {
			b = bf->bufs[i];
			bf->bufs[i] = (struct bf_buf){ 0 };
			break;
		}
	}
	bf_unlock(&bf->buf_lock);
	if (!b.va)
		return -EINVAL;
	if (b.n > 1)
		pvio_domain_vunmap(bf->d, b.va, b.n);
	return pvio_domain_page_free(bf->d, b.pfn, b.n);
}

/* ------------------------------------------------------------ recovery */

/*
 * Answers the dead backend published before it died are real: the I/O
 * was done. Take them; stop at the first one that fails the checks (a
 * backend dying mid-write may leave junk), whose request is reissued.
 * Queue locked, state RECOVERING.
 */
static void recover_reap_locked(struct bf_queue *q, struct done_list *done)
{
	struct pvio_blkif_response rsp;
	uint32_t idx;

	while (pvio_blkif_front_get_rsp(&q->ring, &rsp) == 1 &&
	       bf_shadow_check(q, &rsp, &idx) == 0)
		rsp_complete(q, idx, &rsp, done);
}

/*
 * Every request with a part the old backend did not answer goes back to
 * the front of the backlog, whole (Linux's blkif_recover() requeues whole
 * requests too): parts answered already are done again, harmless for
 * reads, writes, flushes and discards of the same buffer. Their grants
 * end now (a dead backend's pins defer the revoke). Returns how many user
 * requests were taken back. Queue locked.
 */
static uint32_t requeue_inflight_locked(struct bf_queue *q)
{
	struct pvio_blkfront_req *head = NULL, *tail = NULL;
	uint32_t n = 0;

	for (uint32_t i = 0; i < q->nr_slots && q->shadow; i++) {
		struct bf_shadow *s = &q->shadow[i];
		if (s->state != BF_SH_INFLIGHT)
			continue;
		struct pvio_blkfront_req *req = s->req;
		shadow_end(q, i, -EIO);
		shadow_release(q, i);
		req->pvt.inflight--;
		req->pvt.issued = 0;
		if (req->pvt.queued)
			continue; /* partly issued: already at the backlog's head */
		req->pvt.queued = true;
		req->pvt.next = NULL;
		if (tail)
			tail->pvt.next = req;
		else
			head = req;
		tail = req;
		n++;
	}
	if (head) {
		tail->pvt.next = q->backlog;
		if (!q->backlog)
			q->backlog_tail = tail;
		q->backlog = head;
	}
	return n;
}

/*
 * Persistent grants of free pool pages end now: the new backend may be
 * another domain or not offer persistence. Pages the dead backend still
 * pins wait on the revoke list (out of the pool) like any other.
 * Queue locked, nothing in flight.
 */
static void pool_ungrant_locked(struct bf_queue *q)
{
	uint32_t i = q->page_free;

	q->page_free = BF_NONE;
	while (i != BF_NONE) {
		struct bf_page *p = &q->pages[i];
		uint32_t next = p->next;

		if (p->gref != PVIO_GNT_REF_INVALID) {
			if (pvio_gnt_revoke(q->bf->d->gnt, p->gref) == -EBUSY) {
				q->revokes_deferred++;
				if (q->nr_revoke < q->revoke_cap) {
					q->revoke[q->nr_revoke].gref = p->gref;
					q->revoke[q->nr_revoke].page = i;
					q->nr_revoke++;
				} else {
					q->pages_leaked++;
				}
				i = next;
				continue;
			}
			p->gref = PVIO_GNT_REF_INVALID;
			q->revokes++;
		}
		pool_put(q, i);
		i = next;
	}
}

/* A new ring and event channel for the backend bf->info.backend_id. The
 * old ring is freed, or left allocated when the dead backend still pins
 * it (a page it maps must never be reused). */
static int queue_ring_renew(struct bf_queue *q)
{
	struct pvio_blkfront *bf = q->bf;
	struct pvio_domain *d = bf->d;
	bool pinned = false;

	if (q->port_allocated) {
		pvio_evtchn_close(d->evtchn, q->port);
		q->port_allocated = false;
	}
	for (uint32_t i = 0; i < BF_MAX_RING_PAGES; i++) {
		if (q->ring_ref[i] == PVIO_GNT_REF_INVALID)
			continue;
		if (pvio_gnt_revoke(d->gnt, q->ring_ref[i]) == -EBUSY) {
			pinned = true;
			continue;
		}
		q->ring_ref[i] = PVIO_GNT_REF_INVALID;
		q->revokes++;
	}
	if (q->sring && pinned) {
		atomic_fetch_add_explicit(&bf->rings_leaked, q->nr_ring_pages, memory_order_relaxed);
	} else if (q->sring) {
		if (q->nr_ring_pages > 1)
			pvio_domain_vunmap(d, q->sring, q->nr_ring_pages);
		pvio_domain_page_free(d, q->ring_pfn, q->nr_ring_pages);
	}
	q->sring = NULL;
	return bf_queue_ring_alloc(q, q->nr_ring_pages);
}

int bf_recover_rings(struct pvio_blkfront *bf)
{
	uint32_t taken = 0;

	for (uint32_t n = 0; n < bf->nr_queues; n++) {
		struct bf_queue *q = &bf->q[n];
		struct done_list done = { 0 };

		bf_lock(&q->lock);
		recover_reap_locked(q, &done);
		taken += requeue_inflight_locked(q);
		if (q->nr_revoke)
			revoke_retry(q);
		pool_ungrant_locked(q);
		bf_unlock(&q->lock);
		deliver(bf, &done);
		/* Nobody touches the ring while RECOVERING. */
		int err = queue_ring_renew(q);
		if (err)
			return err;
	}
	atomic_fetch_add_explicit(&bf->reissued, taken, memory_order_relaxed);
	return (int)taken;
}

void bf_recover_resume(struct pvio_blkfront *bf)
{
	atomic_fetch_add_explicit(&bf->epoch, 1, memory_order_acq_rel);
	atomic_store_explicit(&bf->state, BF_CONNECTED, memory_order_release);
	for (uint32_t n = 0; n < bf->nr_queues; n++) {
		struct bf_queue *q = &bf->q[n];
		struct done_list done = { 0 };
		uint32_t ep = atomic_load_explicit(&bf->epoch, memory_order_acquire);

		bf_lock(&q->lock);
		backlog_run(q, &done);
		bool k = ring_push(q);
		bf_unlock(&q->lock);
		bool gone = k && !kick(q);
		deliver(bf, &done);
		if (gone)
			backend_lost_at(bf, ep);
	}
	/* Wake threads that slept through the recovery (deliver() bumps seq
	 * only when something completed). */
	atomic_fetch_add_explicit(&bf->seq, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&bf->sleepers, memory_order_seq_cst)) {
		const struct pvio_evtchn *h = bf->d->evtchn;
		h->ops->wake(h->ops_ctx, bf->d->domid, &bf->seq);
	}
}

/* ------------------------------------------------------ set-up, teardown */

int bf_queue_ring_alloc(struct bf_queue *q, uint32_t nr_pages)
{
	struct pvio_blkfront *bf = q->bf;
	struct pvio_domain *d = bf->d;
	int err;

	for (uint32_t i = 0; i < BF_MAX_RING_PAGES; i++)
		q->ring_ref[i] = PVIO_GNT_REF_INVALID;
	err = pvio_domain_page_alloc(d, nr_pages, &q->ring_pfn);
	if (err)
		return err;
	q->nr_ring_pages = nr_pages;
	err = bf_vmap_range(d, q->ring_pfn, nr_pages, &q->sring);
	if (err) {
		pvio_domain_page_free(d, q->ring_pfn, nr_pages);
		q->sring = NULL;
		return err;
	}
	err = pvio_blkif_front_init(&q->ring, q->sring, (size_t)nr_pages * PVIO_PAGE_SIZE);
	if (err)
		return err;
	atomic_store_explicit(&q->rsp_cons_seen, q->ring.rsp_cons, memory_order_relaxed);
	q->nr_slots = q->ring.nr_slots;
	for (uint32_t i = 0; i < nr_pages; i++) {
		err = pvio_gnt_grant(d->gnt, bf->info.backend_id, q->ring_pfn + i,
				     false, &q->ring_ref[i]);
		if (err)
			return err;
		q->grants++;
	}
	err = pvio_evtchn_alloc_unbound(d->evtchn, bf->info.backend_id, &q->port);
	if (err)
		return err;
	q->port_allocated = true;
	if (bf->cfg.evtchn_waiter) {
		err = pvio_evtchn_bind_waiter(d->evtchn, q->port, bf->cfg.evtchn_waiter);
		if (err)
			return err;
	}
	return 0;
}

int bf_queue_data_alloc(struct bf_queue *q)
{
	struct pvio_blkfront *bf = q->bf;
	struct pvio_domain *d = bf->d;
	uint32_t segs = bf->max_segs;
	size_t seg_bytes = (size_t)segs * sizeof(struct bf_seg);

	q->shadow = bf_alloc(d, (size_t)q->nr_slots * sizeof(struct bf_shadow));
	if (!q->shadow)
		return -ENOMEM;
	q->seg_cap = segs;
	/* Segment arrays in chunks that each fit one allocation. */
	uint32_t per_chunk = (uint32_t)(((size_t)(BF_ALLOC_MAX_PAGES - 1) * PVIO_PAGE_SIZE - 64) /
					seg_bytes);
	if (per_chunk == 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->nr_slots; i += per_chunk) {
		uint32_t n = q->nr_slots - i < per_chunk ? q->nr_slots - i : per_chunk;
		struct bf_seg *chunk = bf_alloc(d, n * seg_bytes);
		if (!chunk)
			return -ENOMEM;
		for (uint32_t k = 0; k < n; k++)
			q->shadow[i + k].seg = chunk + (size_t)k * segs;
	}
	for (uint32_t i = 0; i < q->nr_slots; i++) {
		q->shadow[i].next_free = i + 1 < q->nr_slots ? i + 1 : BF_NONE;
		q->shadow[i].gen = 0;
	}
	q->shadow_free = 0;

	uint32_t need = segs + bf->max_ind_pages;
	q->pages_cap = bf->cfg.pool_pages < need ? need : bf->cfg.pool_pages;
	q->pages = bf_alloc(d, (size_t)q->pages_cap * sizeof(struct bf_page));
	if (!q->pages)
		return -ENOMEM;
	q->page_free = BF_NONE;
	q->nr_page_free = 0;
	q->revoke_cap = q->nr_slots * (segs + bf->max_ind_pages) + q->pages_cap;
	q->revoke = bf_alloc(d, (size_t)q->revoke_cap * sizeof(struct bf_revoke));
	if (!q->revoke)
		return -ENOMEM;
	return 0;
}

uint32_t bf_revoke_all(struct pvio_blkfront *bf)
{
	uint32_t left = 0;

	for (uint32_t n = 0; n < bf->nr_queues; n++) {
		struct bf_queue *q = &bf->q[n];
		bf_lock(&q->lock);
		revoke_retry(q);
		/* Persistent grants: end them now (the backend has unmapped
		 * them by Closed, or they go on the revoke list). */
		for (uint32_t i = 0; q->pages && i < q->nr_pages; i++) {
			struct bf_page *p = &q->pages[i];
			if (p->gref == PVIO_GNT_REF_INVALID)
				continue;
			int err = pvio_gnt_revoke(bf->d->gnt, p->gref);
			if (err == -EBUSY)
				continue;
			p->gref = PVIO_GNT_REF_INVALID;
			q->revokes++;
		}
		for (uint32_t i = 0; i < BF_MAX_RING_PAGES; i++) {
			if (q->ring_ref[i] == PVIO_GNT_REF_INVALID)
				continue;
			if (pvio_gnt_revoke(bf->d->gnt, q->ring_ref[i]) == -EBUSY)
				continue;
			q->ring_ref[i] = PVIO_GNT_REF_INVALID;
			q->revokes++;
		}
		left += q->nr_revoke;
		for (uint32_t i = 0; q->pages && i < q->nr_pages; i++)
			left += q->pages[i].gref != PVIO_GNT_REF_INVALID;
		for (uint32_t i = 0; i < BF_MAX_RING_PAGES; i++)
			left += q->ring_ref[i] != PVIO_GNT_REF_INVALID;
		bf_unlock(&q->lock);
	}
	return left;
}

/* Free what was revoked; pages still granted are left (leaked on purpose). */
void bf_queue_free(struct bf_queue *q)
{
	struct pvio_blkfront *bf = q->bf;
	struct pvio_domain *d = bf->d;
	bool ring_granted = false;

	if (q->port_allocated) {
		pvio_evtchn_close(d->evtchn, q->port);
		q->port_allocated = false;
	}
	for (uint32_t i = 0; i < BF_MAX_RING_PAGES; i++)
		ring_granted |= q->ring_ref[i] != PVIO_GNT_REF_INVALID;
	if (q->pages) {
		/* Pool pages in the revoke list are still granted. */
		for (uint32_t i = 0; i < q->nr_revoke; i++)
			if (q->revoke[i].page != BF_NONE)
				q->pages[q->revoke[i].page].gref = q->revoke[i].gref;
		for (uint32_t i = 0; i < q->nr_pages; i++) {
			if (q->pages[i].gref == PVIO_GNT_REF_INVALID)
				pvio_domain_page_free(d, q->pages[i].pfn, 1);
		}
	}
	if (q->shadow) {
		size_t seg_bytes = (size_t)q->seg_cap * sizeof(struct bf_seg);
		uint32_t per_chunk = (uint32_t)(((size_t)(BF_ALLOC_MAX_PAGES - 1) *
						 PVIO_PAGE_SIZE - 64) / seg_bytes);
		for (uint32_t i = 0; i < q->nr_slots; i += per_chunk)
			bf_free(d, q->shadow[i].seg);
		bf_free(d, q->shadow);
		q->shadow = NULL;
	}
	bf_free(d, q->pages);
	q->pages = NULL;
	bf_free(d, q->revoke);
	q->revoke = NULL;
	/* A ring the backend still maps stays allocated (leaked on purpose). */
	if (q->sring && !ring_granted) {
		if (q->nr_ring_pages > 1)
			pvio_domain_vunmap(d, q->sring, q->nr_ring_pages);
		pvio_domain_page_free(d, q->ring_pfn, q->nr_ring_pages);
		q->sring = NULL;
	}
	q->nr_revoke = 0;
}
