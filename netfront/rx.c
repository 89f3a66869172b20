/* SPDX-License-Identifier: MIT */
/*
 * netfront's receive path: posting rx buffers (access grants for
 * rx-copy, accept-transfer grants for rx-flip), taking responses, checking
 * each one's copy, reassembling multi-slot packets with their extra info,
 * and handing packets to the caller. Never reads the store.
 *
 * Wire format of one packet (Xen's netif.h):
 *   [data 0: offset, status = its bytes, flags = csum bits | extra_info |
 *    more_data] [extra info ...] [data 1: more_data] ... [data n-1]
 * Each response sits in the ring slot of the request it answers, so the
 * buffer of the response at position p is the one posted at p; an extra
 * info slot uses up the buffer posted there without data.
 *
 * Rx-copy buffers come from a pool of pages that hold nothing but what
 * the backend copied into them, and each pool page is granted to the
 * backend once, on its first post, and stays granted until the queue is
 * taken back (disconnect, close): posting a buffer reuses its page's
 * grant, taking a response ends nothing. Granting and revoking per packet
 * cost the grant table's lock three locked instructions a packet and
 * moved the grant entry's cache line between the two CPUs twice; what
 * keeping the grant gives the backend is write access to pages that only
 * ever hold its own data, and Xen's copy semantics are unchanged for it
 * (it still grant-copies per request). A callback reading a packet in
 * place could see the backend rewrite it; pvio_netfront_recv_burst()
 * copies it out first. Rx-flip grants are one-shot by nature: ended per
 * buffer as before.
 */
#include "common.h"

/*
 * Per-packet counts gathered in plain memory while the rx lock is held and
 * added to the queue's shared counters once per run: an atomic add per
 * counter per packet was five locked instructions a packet (the counters
 * are shared with tx and read by stats() from any thread, so each add
 * must be atomic; there just need not be one per packet).
 */
struct rx_tally {
	uint64_t slots, copies, flips, packets, bytes, gso, dropped, errors,
		 truncated, revokes;
};

static void tally_flush(struct nf_queue *q, struct rx_tally *t)
{
	if (t->slots)
		nf_count(&q->rx_slots, t->slots);
	if (t->copies)
		nf_count(&q->rx_copies, t->copies);
	if (t->flips)
		nf_count(&q->rx_flips, t->flips);
	if (t->packets) {
		nf_count(&q->rx_packets, t->packets);
		nf_count(&q->rx_bytes, t->bytes);
	}
	if (t->gso)
		nf_count(&q->rx_gso, t->gso);
	if (t->dropped)
		nf_count(&q->rx_dropped, t->dropped);
	if (t->errors)
		nf_count(&q->rx_errors, t->errors);
	if (t->truncated)
		nf_count(&q->rx_truncated, t->truncated);
	if (t->revokes)
		nf_count(&q->revokes, t->revokes);
	nf_memset(t, 0, sizeof(*t));
}

/* ------------------------------------------------------------- pages */

static int rxp_get(struct nf_queue *q, uint32_t *out)
{
	struct pvio_domain *d = q->nf->d;
	uint32_t pfn;

	if (q->rxp_free != NF_NONE) {
		*out = q->rxp_free;
		q->rxp_free = q->rxp[*out].next;
		return 0;
	}
	if (q->rxp_n >= q->rxp_cap)
		return -EAGAIN;
	int err = pvio_domain_page_alloc(d, 1, &pfn);
	if (err)
		return err;
	struct nf_page *p = &q->rxp[q->rxp_n];
	p->pfn = pfn;
	p->va = pvio_domain_page(d, pfn);
	if (!p->va) {
		pvio_domain_page_free(d, pfn, 1);
		return -ENOMEM;
	}
	*out = q->rxp_n++;
	return 0;
}

static void rxp_put(struct nf_queue *q, uint32_t page)
{
	if (page == NF_NONE)
		return;
	q->rxp[page].next = q->rxp_free;
	q->rxp_free = page;
}

static bool flip_mode(const struct nf_queue *q)
{
	return q->nf->info.rx_mode == PVIO_NETFRONT_RX_FLIP;
}

static void rx_defer(struct nf_queue *q, pvio_grant_ref_t ref, uint32_t page, bool transfer)
{
	nf_count(&q->revokes_deferred, 1);
	if (q->rx_nr_rev < q->rx_rev_cap)
		q->rx_rev[q->rx_nr_rev++] = (struct nf_revoke){
			.gref = ref, .page = page, .transfer = transfer };
}

/*
 * Take back the page of the buffer posted at shadow index i: rx-flip ends
 * its accept-transfer grant; rx-copy keeps the page's grant (see the top
 * of this file). *frame: a transfer brought a frame (flip). Returns the
 * page, or NF_NONE when a transfer grant could not be ended yet (a
 * transfer in progress): the page is then not ours to read.
 */
static uint32_t rx_buf_end(struct nf_queue *q, uint32_t i, bool *frame, struct rx_tally *t)
{
	struct pvio_netfront *nf = q->nf;
	struct nf_rxslot *s = &q->rxs[i];
	uint32_t page = s->page, mfn;
	int err;

	s->state = NF_RX_EMPTY;
	s->page = NF_NONE;
	*frame = false;
	if (!flip_mode(q))
		return page;
	err = pvio_gnt_transfer_end(nf->d->gnt, s->gref, &mfn);
	if (err == -EBUSY) {
		rx_defer(q, s->gref, page, true);
		return NF_NONE;
	}
	t->revokes++;
	if (err == 0) {
		/* A new frame sits behind our pfn: look it up again. */
		*frame = true;
		q->rxp[page].va = pvio_domain_page(nf->d, q->rxp[page].pfn);
		if (!q->rxp[page].va)
			return NF_NONE;
	}
	return page;
}

static void rx_revoke_retry(struct nf_queue *q)
{
	struct pvio_netfront *nf = q->nf;
	uint32_t kept = 0, mfn;

	for (uint32_t i = 0; i < q->rx_nr_rev; i++) {
		struct nf_revoke r = q->rx_rev[i];
		int err = r.transfer ? pvio_gnt_transfer_end(nf->d->gnt, r.gref, &mfn)
				     : pvio_gnt_revoke(nf->d->gnt, r.gref);
		if (err == -EBUSY) {
			q->rx_rev[kept++] = r;
			continue;
		}
		nf_count(&q->revokes, 1);
		if (r.page != NF_NONE) {
			q->rxp[r.page].va = pvio_domain_page(nf->d, q->rxp[r.page].pfn);
			rxp_put(q, r.page);
		}
	}
	q->rx_nr_rev = kept;
}

/* ------------------------------------------------------------- posting */

uint32_t nf_rx_post_locked(struct nf_queue *q, uint32_t n)
{
	struct pvio_netfront *nf = q->nf;
	uint32_t posted = 0, granted = 0;

	while (posted < n && pvio_ring_front_free_slots(&q->rx) > 0) {
		uint32_t i = q->rx.req_prod_pvt & (q->rx_nr - 1), page;
		struct nf_rxslot *s = &q->rxs[i];
		pvio_grant_ref_t ref;
		int err;

		if (s->state != NF_RX_EMPTY || rxp_get(q, &page) != 0)
			break;
		if (flip_mode(q)) {
			err = pvio_gnt_grant_transfer(nf->d->gnt, nf->info.backend_id,
						      q->rxp[page].pfn, &ref);
			granted++;
		} else if (q->rxp_ref[page] != PVIO_GNT_REF_INVALID) {
			ref = q->rxp_ref[page];
			err = 0;
		} else {
			err = pvio_gnt_grant(nf->d->gnt, nf->info.backend_id,
					     q->rxp[page].pfn, false, &ref);
			if (!err)
				q->rxp_ref[page] = ref;
			granted++;
		}
		if (err) {
			granted--;
			rxp_put(q, page);
			break;
		}
		s->gen++;
		s->id = nf_make_id(i, s->gen, q->rx_bits);
		s->page = page;
		s->gref = ref;
		s->state = NF_RX_POSTED;
		struct pvio_netif_rx_request *req = pvio_netif_rx_front_next_req(&q->rx);
		req->id = s->id;
		req->pad = 0;
		req->gref = ref;
		posted++;
	}
	if (granted)
		nf_count(&q->grants, granted);
	nf_count(&q->rx_posted, posted);
	return posted;
}

static uint32_t rx_posted_now(const struct nf_queue *q)
{
	return q->rx.req_prod_pvt - q->rx.rsp_cons;
}

/* Automatic refill, rx locked. Returns true when the backend must be
 * kicked. */
static bool refill_locked(struct nf_queue *q, uint32_t extra)
{
	uint32_t now = rx_posted_now(q), want = 0;

	if (q->rx_nr_rev)
		rx_revoke_retry(q);
	if (!q->nf->cfg.manual_refill && now < q->rx_threshold)
		want = q->rx_target - now;
	want += extra;
	if (want)
		nf_rx_post_locked(q, want);
	if (pvio_ring_front_push(&q->rx) != 1)
		return false;
	nf_count(&q->rx_kicks, 1);
	return true;
}

void nf_rx_refill_auto(struct nf_queue *q)
{
	struct pvio_netfront *nf = q->nf;

	nf_lock(&q->rx_lock);
	uint32_t ep = nf_epoch(nf);
	bool kick = nf_alive(nf) && refill_locked(q, 0);
	nf_unlock(&q->rx_lock);
	if (kick && !nf_kick(nf, q->port_rx))
		nf_backend_lost(nf, ep);
}

bool nf_rx_pending(const struct nf_queue *q)
{
	/* A peek without the lock, only a hint: rx_run() reads the ring
	 * properly under it. */
	return pvio_load_acquire(&q->rx.sring->rsp_prod) !=
	       atomic_load_explicit(&q->rx_cons_seen, memory_order_relaxed);
}

/* ---------------------------------------------------------- validation */

int nf_rx_check_id(const struct nf_queue *q, uint32_t pos,
		   const struct pvio_netif_rx_response *rsp)
{
	const struct nf_rxslot *s = &q->rxs[pos & (q->rx_nr - 1)];

	if (s->state != NF_RX_POSTED || rsp->id != s->id)
		return -EPROTO; /* made up, stale, or not this slot's */
	return 0;
}

/* ---------------------------------------------------- reassembly, sinks */

struct rx_sink {
	struct pvio_netfront_pkt *pkts;   /* burst: copy into these */
	pvio_netfront_rx_fn fn;           /* or hand fragments to fn */
	void *arg;
	unsigned max, n;
	struct rx_tally t;
};

static uint16_t pkt_flags(uint16_t rxf)
{
	uint16_t f = 0;

	if (rxf & PVIO_NETRXF_csum_blank)
		f |= PVIO_NETFRONT_F_CSUM_BLANK | PVIO_NETFRONT_F_DATA_VALIDATED;
	else if (rxf & PVIO_NETRXF_data_validated)
		f |= PVIO_NETFRONT_F_DATA_VALIDATED;
	return f;
}

static void deliver(struct nf_queue *q, struct nf_rxpkt *p, struct rx_sink *k)
{
	uint16_t flags = pkt_flags(p->flags);

	if (k->fn) {
		struct pvio_netfront_frag fr[NF_MAX_RX_FRAGS];
		for (uint32_t i = 0; i < p->nr_frags; i++) {
			const struct nf_rxfrag *f = &p->frag[i];
			fr[i].data = (const unsigned char *)q->rxp[f->page].va + f->off;
			fr[i].len = f->len;
		}
		struct pvio_netfront_rx rx = {
			.frags = fr, .nr_frags = p->nr_frags, .len = p->len,
			.flags = flags, .gso_type = p->gso_type,
			.gso_size = p->gso_size, .queue = (uint16_t)q->idx,
		};
		k->fn(k->arg, &rx);
	} else {
		struct pvio_netfront_pkt *out = &k->pkts[k->n];
		uint32_t done = 0;
		for (uint32_t i = 0; i < p->nr_frags && done < out->cap; i++) {
			const struct nf_rxfrag *f = &p->frag[i];
			uint32_t len = f->len < out->cap - done ? f->len : out->cap - done;
			nf_memcpy((unsigned char *)out->data + done,
				  (const unsigned char *)q->rxp[f->page].va + f->off, len);
			done += len;
		}
		out->len = p->len;
		out->flags = flags;
		if (p->len > out->cap) {
			out->flags |= PVIO_NETFRONT_F_TRUNCATED;
			k->t.truncated++;
		}
		out->gso_type = p->gso_type;
		out->gso_size = p->gso_size;
		out->queue = (uint16_t)q->idx;
	}
	k->n++;
}

/* The packet is complete: deliver or drop it, give its pages back. */
static void pkt_finish(struct nf_queue *q, struct rx_sink *k)
{
	struct nf_rxpkt *p = &q->pkt;

	if (p->len == 0)
		p->drop = true;
	if (p->drop) {
		if (p->dropped_by_backend)
			k->t.dropped++;
		else
			k->t.errors++;
	} else {
		deliver(q, p, k);
		k->t.packets++;
		k->t.bytes += p->len;
		if (p->gso_type != PVIO_NETFRONT_GSO_NONE)
			k->t.gso++;
	}
	for (uint32_t i = 0; i < p->nr_frags; i++)
		rxp_put(q, p->frag[i].page);
	nf_memset(p, 0, sizeof(*p));
}

/* An extra info slot (its bytes overlay a response). */
static void take_extra(struct nf_queue *q, const struct pvio_netif_rx_response *rsp)
{
	const struct pvio_netfront_info *in = &q->nf->info;
	struct nf_rxpkt *p = &q->pkt;
	struct pvio_netif_extra_info x;

	_Static_assert(sizeof(x) == sizeof(*rsp), "extra info overlays a response");
	nf_memcpy(&x, rsp, sizeof(x));
	p->nr_extras++;
	p->want_extra = (x.flags & PVIO_NETIF_EXTRA_FLAG_MORE) != 0;
	if (x.type == PVIO_NETIF_EXTRA_TYPE_NONE || x.type >= PVIO_NETIF_EXTRA_TYPE_MAX ||
	    p->nr_extras > NF_MAX_EXTRAS) {
		p->drop = true;
		return;
	}
	if (x.type != PVIO_NETIF_EXTRA_TYPE_GSO)
		return; /* hash: not asked for; multicast: tx only. Ignored. */
	bool ok = x.u.gso.size != 0 &&
		  ((x.u.gso.type == PVIO_NETIF_GSO_TYPE_TCPV4 && in->rx_gso_tcpv4) ||
		   (x.u.gso.type == PVIO_NETIF_GSO_TYPE_TCPV6 && in->rx_gso_tcpv6));
	if (!ok) {
		p->drop = true;
		return;
	}
	p->gso_type = x.u.gso.type;
	p->gso_size = x.u.gso.size;
}

/* A data response at ring position pos. Returns 0 or -EPROTO. */
static int take_data(struct nf_queue *q, uint32_t pos,
		     const struct pvio_netif_rx_response *rsp, struct rx_tally *t)
{
	struct nf_rxpkt *p = &q->pkt;
	bool frame;

	if (nf_rx_check_id(q, pos, rsp))
		return -EPROTO;
	uint32_t page = rx_buf_end(q, pos & (q->rx_nr - 1), &frame, t);
	t->slots++;
	if (!p->active) {
		p->active = true;
		p->flags = rsp->flags;
		p->want_extra = (rsp->flags & PVIO_NETRXF_extra_info) != 0;
	}
	p->more = (rsp->flags & PVIO_NETRXF_more_data) != 0;
	if (p->more && !q->nf->info.rx_sg)
		p->drop = true; /* several slots when we did not offer sg */

	bool bad = page == NF_NONE;
	if (rsp->status < 0) {
		bad = true;
		if (rsp->status == PVIO_NETIF_RSP_DROPPED)
			p->dropped_by_backend = true;
	} else if ((uint32_t)rsp->offset + (uint32_t)rsp->status > PVIO_PAGE_SIZE) {
		bad = true;
	} else if (flip_mode(q) && rsp->status > 0 && !frame) {
		bad = true; /* a length, but no frame came */
		p->dropped_by_backend = true;
	} else if (p->nr_frags >= NF_MAX_RX_FRAGS) {
		bad = true;
	}
	if (bad) {
		p->drop = true;
		rxp_put(q, page);
		return 0;
	}
	if (frame)
		t->flips++;
	else
		t->copies++;
	p->frag[p->nr_frags++] = (struct nf_rxfrag){
		.page = page, .off = rsp->offset, .len = (uint16_t)rsp->status };
	p->len += (uint32_t)rsp->status;
	return 0;
}

/* Take responses until k is full. rx locked. Returns 0 or -EPROTO. */
static int rx_run_locked(struct nf_queue *q, struct rx_sink *k)
{
	struct pvio_netif_rx_response rsp;
	int r;

	for (;;) {
		struct nf_rxpkt *p = &q->pkt;
		if (!p->active && k->n >= k->max)
			return 0;
		uint32_t pos = q->rx.rsp_cons;
		r = pvio_netif_rx_front_get_rsp(&q->rx, &rsp);
		if (r == 0)
			return 0;
		if (r < 0)
			return -EPROTO;
		if (p->want_extra) {
			/* The buffer posted here carries no data. */
			bool frame;
			if (q->rxs[pos & (q->rx_nr - 1)].state != NF_RX_POSTED)
				return -EPROTO;
			rxp_put(q, rx_buf_end(q, pos & (q->rx_nr - 1), &frame, &k->t));
			take_extra(q, &rsp);
		} else if (take_data(q, pos, &rsp, &k->t)) {
			return -EPROTO;
		}
		if (!p->want_extra && !p->more)
			pkt_finish(q, k);
	}
}

static int rx_run(struct nf_queue *q, struct rx_sink *k)
{
	struct pvio_netfront *nf = q->nf;
	int err = 0;

	uint32_t ep = nf_epoch(nf);
	nf_lock(&q->rx_lock);
	if (!nf_alive(nf)) {
		if (q->rx_nr_rev)
			rx_revoke_retry(q);
		nf_unlock(&q->rx_lock);
		return nf_dead_errno(nf, 0);
	}
	/* A callback runs under the rx lock (its fragments live in pages
	 * the lock protects): it must not re-enter this queue's rx. */
	err = rx_run_locked(q, k);
	atomic_store_explicit(&q->rx_cons_seen, q->rx.rsp_cons, memory_order_relaxed);
	tally_flush(q, &k->t);
	bool kick = !err && refill_locked(q, 0);
	nf_unlock(&q->rx_lock);
	if (err) {
		atomic_fetch_add_explicit(&nf->protocol_errors, 1, memory_order_relaxed);
		nf_mark_dead(nf, NF_BROKEN);
		return -EIO;
	}
	if (kick && !nf_kick(nf, q->port_rx))
		nf_backend_lost(nf, ep);
	return 0;
}

static int recv_any(struct pvio_netfront *nf, uint32_t queue, struct rx_sink *k)
{
	if (!nf || k->max == 0)
		return -EINVAL;
	if (queue != PVIO_NETFRONT_QUEUE_ANY && queue >= nf->nr_queues)
		return -EINVAL;
	if (!nf_alive(nf))
		return nf_dead_errno(nf, 0);
	uint32_t first = queue == PVIO_NETFRONT_QUEUE_ANY ? 0 : queue;
	uint32_t count = queue == PVIO_NETFRONT_QUEUE_ANY ? nf->nr_queues : 1;
	for (uint32_t i = 0; i < count && k->n < k->max; i++) {
		int err = rx_run(&nf->q[first + i], k);
		if (err)
			return k->n ? (int)k->n : err;
	}
	return (int)k->n;
}

int pvio_netfront_recv_burst(struct pvio_netfront *nf, uint32_t queue,
			     struct pvio_netfront_pkt *pkts, unsigned max)
{
	struct rx_sink k = { .pkts = pkts, .max = max };

	if (!pkts)
		return -EINVAL;
	return recv_any(nf, queue, &k);
}

int pvio_netfront_recv_cb(struct pvio_netfront *nf, uint32_t queue,
			  pvio_netfront_rx_fn fn, void *arg, unsigned max)
{
	struct rx_sink k = { .fn = fn, .arg = arg, .max = max };

	if (!fn)
		return -EINVAL;
	return recv_any(nf, queue, &k);
}

int pvio_netfront_rx_refill(struct pvio_netfront *nf, uint32_t queue, unsigned n)
{
	uint32_t total = 0;

	if (!nf || (queue != PVIO_NETFRONT_QUEUE_ANY && queue >= nf->nr_queues))
		return -EINVAL;
	if (!nf_alive(nf))
		return nf_dead_errno(nf, 0);
	uint32_t ep = nf_epoch(nf);
	for (uint32_t i = 0; i < nf->nr_queues; i++) {
		if (queue != PVIO_NETFRONT_QUEUE_ANY && i != queue)
			continue;
		struct nf_queue *q = &nf->q[i];
		nf_lock(&q->rx_lock);
		uint32_t before = (uint32_t)atomic_load(&q->rx_posted);
		bool kick = refill_locked(q, n);
		total += (uint32_t)atomic_load(&q->rx_posted) - before;
		nf_unlock(&q->rx_lock);
		if (kick && !nf_kick(nf, q->port_rx)) {
			nf_backend_lost(nf, ep);
			return nf_dead_errno(nf, (int)total);
		}
	}
	return (int)total;
}

/* ------------------------------------------------------ set-up, teardown */

int nf_rxq_alloc(struct nf_queue *q)
{
	struct pvio_netfront *nf = q->nf;
	struct pvio_domain *d = nf->d;
	int err;

	q->rx_ring_ref = PVIO_GNT_REF_INVALID;
	q->rxp_free = NF_NONE;
	err = pvio_domain_page_alloc(d, 1, &q->rx_ring_pfn);
	if (err)
		return err;
	q->rx_sring = pvio_domain_page(d, q->rx_ring_pfn);
	if (!q->rx_sring)
		return -ENOMEM;
	err = pvio_netif_rx_front_init(&q->rx, q->rx_sring, PVIO_PAGE_SIZE);
	if (err)
		return err;
	atomic_store_explicit(&q->rx_cons_seen, q->rx.rsp_cons, memory_order_relaxed);
	q->rx_nr = q->rx.nr_slots;
	q->rx_bits = nf_log2(q->rx_nr);
	err = pvio_gnt_grant(d->gnt, nf->info.backend_id, q->rx_ring_pfn, false,
			     &q->rx_ring_ref);
	if (err)
		return err;
	nf_count(&q->grants, 1);
	q->rxs = nf_alloc(d, (size_t)q->rx_nr * sizeof(struct nf_rxslot));
	if (!q->rxs)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->rx_nr; i++)
		q->rxs[i].page = NF_NONE;
	q->rx_target = nf->cfg.rx_buffers;
	if (q->rx_target == 0 || q->rx_target > q->rx_nr)
		q->rx_target = q->rx_nr;
	q->rx_threshold = nf->cfg.rx_refill_threshold;
	if (q->rx_threshold == 0 || q->rx_threshold > q->rx_target)
		q->rx_threshold = q->rx_target * 3 / 4 ? q->rx_target * 3 / 4 : 1;
	q->rxp_cap = q->rx_nr + NF_MAX_RX_FRAGS + 8;
	q->rxp = nf_alloc(d, (size_t)q->rxp_cap * sizeof(struct nf_page));
	q->rxp_ref = nf_alloc(d, (size_t)q->rxp_cap * sizeof(*q->rxp_ref));
	if (!q->rxp || !q->rxp_ref)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->rxp_cap; i++)
		q->rxp_ref[i] = PVIO_GNT_REF_INVALID;
	q->rx_rev_cap = q->rxp_cap;
	q->rx_rev = nf_alloc(d, (size_t)q->rx_rev_cap * sizeof(struct nf_revoke));
	return q->rx_rev ? 0 : -ENOMEM;
}

/*
 * End the grants rx-copy pool pages keep. Every such page is on the free
 * list by now; one the backend still maps leaves it, its grant deferred,
 * so it is neither posted again nor freed before the revoke goes through
 * (rx_revoke_retry() puts it back; nf_rxq_free() leaks it on purpose).
 * rx locked.
 */
static void rx_end_page_grants(struct nf_queue *q)
{
	struct pvio_netfront *nf = q->nf;
	uint32_t *link = &q->rxp_free, revoked = 0;

	while (*link != NF_NONE) {
		uint32_t page = *link;
		pvio_grant_ref_t ref = q->rxp_ref[page];

		if (ref == PVIO_GNT_REF_INVALID) {
			link = &q->rxp[page].next;
			continue;
		}
		q->rxp_ref[page] = PVIO_GNT_REF_INVALID;
		if (pvio_gnt_revoke(nf->d->gnt, ref) != -EBUSY) {
			revoked++;
			link = &q->rxp[page].next;
			continue;
		}
		*link = q->rxp[page].next;
		rx_defer(q, ref, page, false);
	}
	if (revoked)
		nf_count(&q->revokes, revoked);
}

/* End every posted buffer's grant and drop a packet half reassembled.
 * rx locked. */
static void rx_take_back_locked(struct nf_queue *q)
{
	struct rx_tally t = { 0 };
	bool frame;

	for (uint32_t i = 0; i < q->rx_nr; i++)
		if (q->rxs[i].state == NF_RX_POSTED)
			rxp_put(q, rx_buf_end(q, i, &frame, &t));
	tally_flush(q, &t);
	if (q->pkt.active) {
		for (uint32_t i = 0; i < q->pkt.nr_frags; i++)
			rxp_put(q, q->pkt.frag[i].page);
		nf_memset(&q->pkt, 0, sizeof(q->pkt));
	}
	rx_end_page_grants(q);
}

void nf_rx_stop(struct nf_queue *q)
{
	nf_lock(&q->rx_lock);
	if (q->rxs)
		rx_take_back_locked(q);
	if (q->rx_nr_rev)
		rx_revoke_retry(q);
	nf_unlock(&q->rx_lock);
}

int nf_rxq_renew(struct nf_queue *q)
{
	nf_lock(&q->rx_lock);
	int err = nf_ring_page_renew(q->nf, &q->rx_ring_pfn, &q->rx_sring, &q->rx_ring_ref);
	if (!err)
		err = pvio_netif_rx_front_init(&q->rx, q->rx_sring, PVIO_PAGE_SIZE);
	atomic_store_explicit(&q->rx_cons_seen, q->rx.rsp_cons, memory_order_relaxed);
	if (!err) {
		/* Posted before the backend looks, as at open. */
		nf_rx_post_locked(q, q->rx_target);
		pvio_ring_front_push(&q->rx);
	}
	nf_unlock(&q->rx_lock);
	return err;
}

uint32_t nf_rx_revoke_all(struct nf_queue *q)
{
	uint32_t left;

	nf_lock(&q->rx_lock);
	if (q->rxs)
		rx_take_back_locked(q);
	if (q->rx_nr_rev)
		rx_revoke_retry(q);
	if (q->rx_ring_ref != PVIO_GNT_REF_INVALID &&
	    pvio_gnt_revoke(q->nf->d->gnt, q->rx_ring_ref) != -EBUSY) {
		q->rx_ring_ref = PVIO_GNT_REF_INVALID;
		nf_count(&q->revokes, 1);
	}
	left = q->rx_nr_rev + (q->rx_ring_ref != PVIO_GNT_REF_INVALID);
	nf_unlock(&q->rx_lock);
	return left;
}

void nf_rxq_free(struct nf_queue *q)
{
	struct pvio_domain *d = q->nf->d;

	if (q->rxp) {
		for (uint32_t i = 0; i < q->rx_nr_rev; i++)
			if (q->rx_rev[i].page != NF_NONE)
				q->rxp[q->rx_rev[i].page].pfn = NF_NONE;
		for (uint32_t i = 0; i < q->rxp_n; i++)
			if (q->rxp[i].pfn != NF_NONE)
				pvio_domain_page_free(d, q->rxp[i].pfn, 1);
	}
	nf_free(d, q->rxp);
	nf_free(d, q->rxp_ref);
	nf_free(d, q->rxs);
	nf_free(d, q->rx_rev);
	q->rxp = NULL;
	q->rxp_ref = NULL;
	q->rxs = NULL;
	q->rx_rev = NULL;
	if (q->rx_sring && q->rx_ring_ref == PVIO_GNT_REF_INVALID)
		pvio_domain_page_free(d, q->rx_ring_pfn, 1);
	q->rx_sring = NULL;
}
