/* SPDX-License-Identifier: MIT */
/*
 * Port -> guest: the rx ring.
 *
 *   port recv --> bounded queue (packets and bytes capped per queue;
 *   packets older than the drain timeout dropped: a guest that posts no
 *   rx buffers cannot make the backend hoard memory) --> filters
 *   (multicast control, size, GSO the guest did not ask for) --> rx
 *   requests copied out --> grant copy into the posted pages (or, for a
 *   source outside backend frames, the posted pages mapped and memcpy'd;
 *   when the backend's mappings run out, the packet is copied into bounce
 *   frames of its own and grant-copied from there instead: slower, but
 *   it neither errors nor stalls), or page flip (pvio_gnt_transfer) of a
 *   whole backend frame: the port's own frame when it gives it up, else a
 *   spare frame the data is copied into --> responses in the slots of
 *   their requests (netfront relies on it), push + kick.
 *
 * Response layout per packet (copy mode), as Linux's netback:
 *   [gso prefix slot, if the guest asked for feature-gso-*-prefix]
 *   data slot 0 (flags csum/data_validated, extra_info, more_data)
 *   [GSO extra-info slot, if the guest takes GSO]
 *   data slots 1.. (more_data on all but the last); each data slot holds
 *   up to a page from offset 0.
 * Flip mode: one slot per packet, offset = where the data sits in the page.
 *
 * A flipped frame carries only its packet: the rest of the page is zeroed
 * first, so nothing of earlier packets (other guests' data) goes along.
 *
 * This file never reads the store (STYLE practice 11).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pvio/host.h>

#include "common.h"

#define RX_MAX_SLOTS 20u       /* 17 pages + prefix + extra + slack */
#define RX_MAX_OPS (RX_MAX_SLOTS * 2 + NETBACK_MAX_FRAGS)
#define RX_BOUNCE_PAGES 17u    /* the largest packet, 64 KiB */

enum rx_kind { RX_COPY, RX_MAP, RX_FLIP, RX_FLIP_ZC };

/* One packet of the delivery batch. */
struct rxb {
	struct netback_pkt *pkt;
	uint32_t req;          /* first of its requests in q->rxreq */
	uint32_t need;         /* requests (= responses) */
	uint32_t npages;       /* data slots */
	uint32_t op_first, op_n;
	uint32_t spare_pfn;    /* RX_FLIP: the frame sent */
	uint16_t rflags;       /* NETRXF_* for the first data slot */
	uint8_t kind;
	bool prefix, extra;
};

/* ---- the bounded queue --------------------------------------------------------- */

static void publish_gauges(struct nb_queue *q)
{
	atomic_store_explicit(&q->bl_count_pub, q->bl_count, memory_order_relaxed);
	atomic_store_explicit(&q->bl_bytes_pub, q->bl_bytes, memory_order_relaxed);
}

/* Release n packets starting at backlog index i (wrapping). */
static void release_run(struct nb_queue *q, uint32_t i, uint32_t n)
{
	struct pvio_netback *nb = q->nb;

	while (n) {
		uint32_t k = q->bl_cap - i < n ? q->bl_cap - i : n;

		nb->port->rx_release(nb->port_ctx, q->idx, &q->bl[i], k);
		n -= k;
		i = (i + k) % q->bl_cap;
	}
}

/* Take the head packet off the queue (its buffers released later). */
static struct netback_pkt *pop_head(struct nb_queue *q)
{
	struct netback_pkt *p = &q->bl[q->bl_head];

	/* no %: a division per packet costs more than the rest of this */
	if (++q->bl_head == q->bl_cap)
		q->bl_head = 0;
	q->bl_count--;
	q->bl_bytes -= p->len;
	return p;
}

static uint32_t pull(struct nb_queue *q, uint64_t now)
{
	struct pvio_netback *nb = q->nb;
	uint32_t got = 0;

	while (q->bl_count < q->bl_cap && q->bl_bytes < nb->rx_max_bytes) {
		uint32_t tail = (q->bl_head + q->bl_count) % q->bl_cap;
		uint32_t room = q->bl_cap - tail;
		int n;

		if (room > q->bl_cap - q->bl_count)
			room = q->bl_cap - q->bl_count;
		if (room > NB_RX_BATCH)
			room = NB_RX_BATCH;
		n = nb->port->recv(nb->port_ctx, q->idx, &q->bl[tail], room);
		if (n <= 0)
			break;
		for (int i = 0; i < n; i++) {
			q->bl[tail + (uint32_t)i].t_ns = now;
			q->bl[tail + (uint32_t)i].flags &= (uint16_t)~NETBACK_PKT_FLIPPED;
			q->bl_bytes += q->bl[tail + (uint32_t)i].len;
		}
		q->bl_count += (uint32_t)n;
		got += (uint32_t)n;
		if ((uint32_t)n < room)
			break;
	}
	/* Over the byte cap by the last batch: drop the newest (Linux drops
	 * what arrives for a full queue). */
	while (q->bl_count > 1 && q->bl_bytes > nb->rx_max_bytes) {
		uint32_t last = (q->bl_head + q->bl_count - 1) % q->bl_cap;

		q->bl_bytes -= q->bl[last].len;
		q->bl_count--;
		release_run(q, last, 1);
		nb_count(&q->cnt, C_RX_DROP_FULL, 1);
	}
	return got;
}

/* ---- filters ---------------------------------------------------------------------- */

/* Slots the packet needs, or 0 to drop it (counted). Sets b's layout. */
static uint32_t plan(struct nb_queue *q, struct netback_pkt *p, struct rxb *b)
{
	struct pvio_netback *nb = q->nb;
	uint32_t gso = p->flags & NETBACK_PKT_GSO_MASK;

	b->prefix = b->extra = false;
	b->rflags = 0;
	/* len is the sum of the fragments (the port's contract) */
	if (p->len < 6 || p->len > 65535) {
		nb_count(&q->cnt, C_RX_DROP_TOOBIG, 1);
		return 0;
	}
	if (nb->mcast_ctrl) {
		uint8_t dst[6];

		if (nb_pkt_gather(p, dst, 6) < 6) {
			nb_count(&q->cnt, C_RX_DROP_TOOBIG, 1);
			return 0;
		}
		if ((dst[0] & 1) && !nb_mcast_allowed(nb, dst)) {
			nb_count(&q->cnt, C_RX_DROP_MCAST, 1);
			return 0;
		}
	}
	if (p->flags & (NETBACK_PKT_CSUM_PARTIAL | NETBACK_PKT_GSO_MASK)) {
		uint8_t hdr[128];
		uint32_t got = nb_pkt_gather(p, hdr, sizeof(hdr));
		struct netback_pkt meta = *p;
		bool ok;

		if (nb_pkt_parse(hdr, got, &meta) != 0) {
			/* Unparsable: the port's csum_start/offset, if any. */
			ok = false;
			if (gso || !(p->flags & NETBACK_PKT_CSUM_PARTIAL) || !p->csum_start) {
				p->flags &= (uint16_t)~(NETBACK_PKT_CSUM_PARTIAL |
							NETBACK_PKT_GSO_MASK);
				if (gso) {
					nb_count(&q->cnt, C_RX_DROP_GSO, 1);
					return 0;
				}
				goto sized;
			}
		} else {
			ok = meta.ipv6 ? nb->fe_csum6 : nb->fe_csum4;
			p->ipv6 = meta.ipv6;
			p->l4_proto = meta.l4_proto;
			if (!(p->flags & NETBACK_PKT_CSUM_PARTIAL) || !p->csum_start) {
				p->csum_start = meta.csum_start;
				p->csum_offset = meta.csum_offset;
			}
		}
		if (gso) {
			bool v6 = gso == NETBACK_PKT_GSO_TCPV6;
			bool take = v6 ? (nb->fe_gso6 || nb->fe_gso6_prefix)
				       : (nb->fe_gso4 || nb->fe_gso4_prefix);

			if (!take || nb->rx_flip || !nb->fe_sg || !ok || !p->gso_size) {
				nb_count(&q->cnt, C_RX_DROP_GSO, 1);
				return 0;
			}
			if (v6 ? nb->fe_gso6 : nb->fe_gso4)
				b->extra = true;
			else
				b->prefix = true;
		}
		p->flags |= NETBACK_PKT_CSUM_PARTIAL;
		if (ok) {
			b->rflags |= PVIO_NETRXF_csum_blank | PVIO_NETRXF_data_validated;
		} else {
			/* The guest cannot finish it: do it here. */
			nb_pkt_csum_complete(p);
			nb_count(&q->cnt, C_RX_CSUM_SW, 1);
			b->rflags |= PVIO_NETRXF_data_validated;
		}
	} else if (p->flags & NETBACK_PKT_DATA_VALID) {
		b->rflags |= PVIO_NETRXF_data_validated;
	}
sized:
	if (nb->rx_flip) {
		if (p->len > PVIO_PAGE_SIZE) {
			nb_count(&q->cnt, C_RX_DROP_TOOBIG, 1);
			return 0;
		}
		b->npages = 1;
		return 1;
	}
	b->npages = (p->len + PVIO_PAGE_SIZE - 1) / PVIO_PAGE_SIZE;
	if ((!nb->fe_sg && b->npages > 1) || b->npages > 17) {
		nb_count(&q->cnt, C_RX_DROP_TOOBIG, 1);
		return 0;
	}
	return b->npages + b->prefix + b->extra;
}

/* ---- staging ---------------------------------------------------------------------- */

/* Grant-copy ops for a packet whose fragments all sit in backend frames. */
static bool stage_copy(struct nb_queue *q, struct rxb *b, uint32_t *nops)
{
	struct pvio_netback *nb = q->nb;
	struct netback_pkt *p = b->pkt;
	uint32_t dslot = b->req + b->prefix, page = 0, doff = 0;

	if (p->nr_frags == 1 && b->npages == 1) {
		/* The common small packet: one fragment, one op. */
		struct pvio_gnt_copy_op *op = &q->rxcopy[*nops];

		if (p->frag[0].pfn == NETBACK_PFN_NONE)
			return false;
		op->source.u.pfn = p->frag[0].pfn;
		op->source.domid = PVIO_DOMID_SELF;
		op->source.offset = (uint16_t)((uintptr_t)p->frag[0].addr & (PVIO_PAGE_SIZE - 1));
		op->dest.u.ref = q->rxreq[dslot].gref;
		op->dest.domid = nb->cfg.fe;
		op->dest.offset = 0;
		op->len = (uint16_t)p->frag[0].len;
		op->flags = PVIO_GNTCOPY_dest_gref;
		b->op_first = (*nops)++;
		b->op_n = 1;
		return true;
	}
	for (uint32_t i = 0; i < p->nr_frags; i++)
		if (p->frag[i].pfn == NETBACK_PFN_NONE)
			return false;
	b->op_first = *nops;
	for (uint32_t i = 0; i < p->nr_frags; i++) {
		uint32_t left = p->frag[i].len;
		uint32_t soff = (uint32_t)((uintptr_t)p->frag[i].addr & (PVIO_PAGE_SIZE - 1));

		while (left) {
			uint32_t chunk = PVIO_PAGE_SIZE - doff < left ? PVIO_PAGE_SIZE - doff : left;
			/* data slot `page` is request dslot + page, skipping the
			 * extra slot after the first data slot */
			uint32_t r = dslot + page + (b->extra && page > 0);
			struct pvio_gnt_copy_op *op = &q->rxcopy[(*nops)++];

			op->source.u.pfn = p->frag[i].pfn;
			op->source.domid = PVIO_DOMID_SELF;
			op->source.offset = (uint16_t)soff;
			op->dest.u.ref = q->rxreq[r].gref;
			op->dest.domid = nb->cfg.fe;
			op->dest.offset = (uint16_t)doff;
			op->len = (uint16_t)chunk;
			op->flags = PVIO_GNTCOPY_dest_gref;
			soff += chunk;
			doff += chunk;
			left -= chunk;
			if (doff == PVIO_PAGE_SIZE) {
				doff = 0;
				page++;
			}
		}
	}
	b->op_n = *nops - b->op_first;
	return true;
}

static uint32_t data_req(const struct rxb *b, uint32_t page)
{
	return b->req + b->prefix + page + (b->extra && page > 0);
}

/* Map the guest's pages (writable) for a memcpy from port memory. */
static void stage_map(struct nb_queue *q, struct rxb *b, uint32_t *nmaps)
{
	b->op_first = *nmaps;
	for (uint32_t k = 0; k < b->npages; k++) {
		struct pvio_gnt_map_op *op = &q->rxmap[(*nmaps)++];

		op->ref = q->rxreq[data_req(b, k)].gref;
		op->dom = q->nb->cfg.fe;
		op->flags = 0;
		op->status = 0;
		op->addr = NULL;
	}
	b->op_n = b->npages;
}

/* The packet's bytes into pages[0..], a page each from offset 0. */
static void scatter(const struct netback_pkt *p, void *const *pages)
{
	uint32_t page = 0, doff = 0;

	for (uint32_t i = 0; i < p->nr_frags; i++) {
		const uint8_t *s = p->frag[i].addr;
		uint32_t left = p->frag[i].len;

		while (left) {
			uint32_t chunk = PVIO_PAGE_SIZE - doff < left ? PVIO_PAGE_SIZE - doff : left;

			memcpy((uint8_t *)pages[page] + doff, s, chunk);
			s += chunk;
			doff += chunk;
			left -= chunk;
			if (doff == PVIO_PAGE_SIZE) {
				doff = 0;
				page++;
			}
		}
	}
}

static void do_memcpy(struct nb_queue *q, const struct rxb *b)
{
	void *pages[RX_MAX_SLOTS];

	for (uint32_t k = 0; k < b->npages; k++)
		pages[k] = q->rxmap[b->op_first + k].addr;
	scatter(b->pkt, pages);
}

/* Flip: the port's own frame, or a spare one with the data copied in. */
static bool stage_flip(struct nb_queue *q, struct rxb *b, uint32_t *nx)
{
	struct pvio_netback *nb = q->nb;
	struct netback_pkt *p = b->pkt;
	struct pvio_gnt_transfer_op *op = &q->xfer[*nx];
	uint8_t *frame;
	uint32_t off;

	if ((p->flags & NETBACK_PKT_FLIPPABLE) && p->nr_frags == 1 &&
	    p->frag[0].pfn != NETBACK_PFN_NONE) {
		frame = pvio_mach_pfn_ptr(nb->cfg.machine, nb->cfg.be, p->frag[0].pfn);
		if (!frame)
			return false;
		off = (uint32_t)((uintptr_t)p->frag[0].addr & (PVIO_PAGE_SIZE - 1));
		b->kind = RX_FLIP_ZC;
		b->spare_pfn = p->frag[0].pfn;
	} else {
		/* A frame lost in an earlier flip (no exchange frame came
		 * back, nor a replacement then): try again now. */
		if (q->nr_spare == 0 &&
		    nb->cfg.page_ops->alloc(nb->cfg.page_ctx, 1, &q->spare[q->nr_spare]) == 0)
			q->nr_spare++;
		if (q->nr_spare == 0)
			return false;
		b->spare_pfn = q->spare[--q->nr_spare];
		frame = pvio_mach_pfn_ptr(nb->cfg.machine, nb->cfg.be, b->spare_pfn);
		if (!frame)
			return false;
		off = 0;
		(void)nb_pkt_gather(p, frame, p->len);
		b->kind = RX_FLIP;
	}
	/* Only the packet goes: clear the rest of the frame. */
	memset(frame, 0, off);
	memset(frame + off + p->len, 0, PVIO_PAGE_SIZE - off - p->len);
	op->pfn = b->spare_pfn;
	op->domid = nb->cfg.fe;
	op->ref = q->rxreq[b->req].gref;
	op->status = 0;
	b->op_first = (*nx)++;
	b->op_n = 1;
	/* The offset travels in the response. */
	b->npages = off; /* reused below as the data offset */
	return true;
}

/*
 * The guest's pages could not be mapped for lack of mapping resources in
 * the backend (maptrack full, pin counts at their limit): that is our
 * shortage, not the guest's fault, so take the copy path instead. The
 * packet goes into backend bounce frames (taken once, on the first need,
 * and kept: exhaustion tends to come back) and is grant-copied into the
 * posted pages, which needs no mapping. Returns true when every byte
 * arrived.
 */
static bool copy_fallback(struct nb_queue *q, const struct rxb *b)
{
	struct pvio_netback *nb = q->nb;
	const struct netback_pkt *p = b->pkt;
	struct pvio_gnt_copy_op ops[RX_MAX_SLOTS];
	void *pages[RX_MAX_SLOTS];
	uint32_t n = 0;

	if (!q->bounce_pfn_ok) {
		if (nb->cfg.page_ops->alloc(nb->cfg.page_ctx, RX_BOUNCE_PAGES, &q->bounce_pfn))
			return false;
		q->bounce_pfn_ok = true;
	}
	for (uint32_t k = 0; k < b->npages; k++) {
		uint32_t len = p->len - k * PVIO_PAGE_SIZE;
		struct pvio_gnt_copy_op *op = &ops[n++];

		pages[k] = pvio_mach_pfn_ptr(nb->cfg.machine, nb->cfg.be, q->bounce_pfn + k);
		if (!pages[k])
			return false;
		if (len > PVIO_PAGE_SIZE)
			len = PVIO_PAGE_SIZE;
		op->source.u.pfn = q->bounce_pfn + k;
		op->source.domid = PVIO_DOMID_SELF;
		op->source.offset = 0;
		op->dest.u.ref = q->rxreq[data_req(b, k)].gref;
		op->dest.domid = nb->cfg.fe;
		op->dest.offset = 0;
		op->len = (uint16_t)len;
		op->flags = PVIO_GNTCOPY_dest_gref;
	}
	scatter(p, pages);
	(void)pvio_gnt_copy(nb->cfg.gnt, ops, n);
	for (uint32_t k = 0; k < n; k++)
		if (ops[k].status != PVIO_GNTST_okay)
			return false;
	return true;
}

/* ---- responses -------------------------------------------------------------------- */

static void respond(struct nb_queue *q, uint16_t id, uint16_t off, uint16_t flags,
		    int16_t status)
{
	struct pvio_netif_rx_response *r = pvio_netif_rx_back_next_rsp(&q->rx);

	if (!r)
		return;
	r->id = id;
	r->offset = off;
	r->flags = flags;
	r->status = status;
}

static void respond_extra(struct nb_queue *q, const struct netback_pkt *p)
{
	struct pvio_netif_extra_info *e =
		(struct pvio_netif_extra_info *)pvio_netif_rx_back_next_rsp(&q->rx);

	_Static_assert(sizeof(*e) == sizeof(struct pvio_netif_rx_response),
		       "an extra fills an rx slot");
	if (!e)
		return;
	memset(e, 0, sizeof(*e));
	e->type = PVIO_NETIF_EXTRA_TYPE_GSO;
	e->flags = 0;
	e->u.gso.size = p->gso_size;
	e->u.gso.type = (p->flags & NETBACK_PKT_GSO_TCPV6) ? PVIO_NETIF_GSO_TYPE_TCPV6
							   : PVIO_NETIF_GSO_TYPE_TCPV4;
	e->u.gso.features = 0;
}

/* All responses of one packet; ok false answers every slot ERROR. */
static void answer(struct nb_queue *q, const struct rxb *b, bool ok)
{
	const struct netback_pkt *p = b->pkt;
	uint32_t r = b->req;

	if (b->kind == RX_FLIP || b->kind == RX_FLIP_ZC) {
		respond(q, q->rxreq[r].id, (uint16_t)b->npages,
			b->rflags, ok ? (int16_t)p->len : PVIO_NETIF_RSP_ERROR);
		return;
	}
	if (b->prefix) {
		respond(q, q->rxreq[r].id, p->gso_size,
			PVIO_NETRXF_gso_prefix | PVIO_NETRXF_more_data, 0);
		r++;
	}
	for (uint32_t k = 0; k < b->npages; k++) {
		uint32_t len = p->len - k * PVIO_PAGE_SIZE;
		uint16_t fl = k == 0 ? b->rflags : 0;

		if (len > PVIO_PAGE_SIZE)
			len = PVIO_PAGE_SIZE;
		if (k + 1 < b->npages)
			fl |= PVIO_NETRXF_more_data;
		if (k == 0 && b->extra)
			fl |= PVIO_NETRXF_extra_info;
		respond(q, q->rxreq[r].id, 0, fl, ok ? (int16_t)len : PVIO_NETIF_RSP_ERROR);
		r++;
		if (k == 0 && b->extra) {
			respond_extra(q, p);
			r++;
		}
	}
}

static void rx_push(struct nb_queue *q)
{
	if (pvio_ring_back_push(&q->rx) == 1) {
		(void)pvio_evtchn_notify(q->nb->cfg.evtchn, q->rx_port);
		nb_count(&q->cnt, C_KICKS, 1);
	}
}

/* ---- one round --------------------------------------------------------------------- */

int nb_rx_round(struct nb_queue *q, uint32_t *blocked)
{
	struct pvio_netback *nb = q->nb;
	struct rxb bt[NB_RX_BATCH];
	uint64_t now = pvio_now_ns();
	uint64_t drain = (uint64_t)nb->drain_ms * 1000000ull;
	uint32_t nb_ = 0, nops = 0, nmaps = 0, nx = 0, nreq = 0;
	uint32_t popped = 0, pop_from;
	uint32_t by_kind[RX_FLIP_ZC + 1] = { 0 };  /* delivered, counted once */
	uint64_t bytes = 0;
	int work;

	*blocked = 0;
	work = (int)pull(q, now);
	/* A guest that takes nothing: its packets go after the timeout. */
	while (q->bl_count && now - q->bl[q->bl_head].t_ns > drain) {
		uint32_t h = q->bl_head;

		(void)pop_head(q);
		release_run(q, h, 1);
		nb_count(&q->cnt, C_RX_DROP_STALL, 1);
		nb_log(nb, "netback %u/%u queue %u: guest posted no rx buffers for "
		       "%u ms; packet dropped", nb->cfg.fe, nb->devid, q->idx, nb->drain_ms);
		work++;
	}
	pop_from = q->bl_head;
	while (q->bl_count && nb_ < NB_RX_BATCH) {
		struct netback_pkt *p = &q->bl[q->bl_head];
		struct rxb *b = &bt[nb_];
		uint32_t need;
		int avail;

		b->pkt = p;
		need = plan(q, p, b);
		if (need == 0) {
			(void)pop_head(q);
			popped++;
			b->pkt = NULL;
			continue;
		}
		avail = pvio_ring_back_unconsumed(&q->rx);
		if (avail < 0)
			return -EPROTO;
		if ((uint32_t)avail < need) {
			*blocked = need;
			break;
		}
		b->req = nreq;
		b->need = need;
		for (uint32_t k = 0; k < need; k++)
			if (pvio_netif_rx_back_get_req(&q->rx, &q->rxreq[nreq++]) != 1)
				return -EPROTO;
		(void)pop_head(q);
		popped++;
		if (nb->rx_flip) {
			if (!stage_flip(q, b, &nx)) {
				b->kind = RX_FLIP;
				b->op_n = 0;
				b->npages = 0;
			}
		} else if (stage_copy(q, b, &nops)) {
			b->kind = RX_COPY;
		} else {
			b->kind = RX_MAP;
			stage_map(q, b, &nmaps);
		}
		nb_++;
	}
	if (nops)
		(void)pvio_gnt_copy(nb->cfg.gnt, q->rxcopy, nops);
	if (nmaps)
		(void)pvio_gnt_map(nb->cfg.gnt, q->rxmap, nmaps);
	if (nx)
		(void)pvio_gnt_transfer(nb->cfg.gnt, q->xfer, nx);

	for (uint32_t i = 0; i < nb_; i++) {
		struct rxb *b = &bt[i];
		bool ok = b->op_n > 0 || b->kind == RX_COPY;

		switch (b->kind) {
		case RX_COPY:
			for (uint32_t k = 0; k < b->op_n; k++)
				ok &= q->rxcopy[b->op_first + k].status == PVIO_GNTST_okay;
			break;
		case RX_MAP: {
			bool starved = false;

			for (uint32_t k = 0; k < b->op_n; k++) {
				int16_t st = q->rxmap[b->op_first + k].status;

				ok &= st == PVIO_GNTST_okay;
				starved |= st == PVIO_GNTST_no_space;
			}
			if (ok) {
				do_memcpy(q, b);
			} else if (starved) {
				ok = copy_fallback(q, b);
				if (ok) {
					nb_count(&q->cnt, C_RX_COPY_FALLBACK, 1);
					nb_log(nb, "netback %u/%u queue %u: backend grant mappings "
					       "exhausted; rx packets go by grant copy",
					       nb->cfg.fe, nb->devid, q->idx);
				}
			}
			break;
		}
		case RX_FLIP:
		case RX_FLIP_ZC:
			if (b->op_n == 0)
				break;
			ok = q->xfer[b->op_first].status == PVIO_GNTST_okay;
			if (b->kind == RX_FLIP_ZC) {
				if (ok)
					b->pkt->flags |= NETBACK_PKT_FLIPPED;
			} else if (pvio_mach_pfn_to_mfn(nb->cfg.machine, nb->cfg.be,
							b->spare_pfn) != PVIO_MFN_INVALID) {
				q->spare[q->nr_spare++] = b->spare_pfn;
			} else {
				/* No exchange frame came back: replace it. */
				uint32_t pfn;

				if (nb->cfg.page_ops->alloc(nb->cfg.page_ctx, 1, &pfn) == 0)
					q->spare[q->nr_spare++] = pfn;
			}
			break;
		}
		answer(q, b, ok);
		if (!ok) {
			nb_count(&q->cnt, C_RX_ERR_GRANT, 1);
			nb_log(nb, "netback %u/%u queue %u: rx buffer grant refused; "
			       "packet dropped", nb->cfg.fe, nb->devid, q->idx);
			continue;
		}
		bytes += b->pkt->len;
		by_kind[b->kind]++;
	}
	if (nb_) {
		uint32_t pkts = by_kind[RX_COPY] + by_kind[RX_MAP] + by_kind[RX_FLIP] +
				by_kind[RX_FLIP_ZC];

		nb_count(&q->cnt, C_RX_PKTS, pkts);
		nb_count(&q->cnt, C_RX_BYTES, bytes);
		nb_count(&q->cnt, C_RX_COPY, by_kind[RX_COPY] + by_kind[RX_MAP]);
		nb_count(&q->cnt, C_RX_FLIP, by_kind[RX_FLIP] + by_kind[RX_FLIP_ZC]);
		nb_count(&q->cnt, C_RX_FLIP_ZC, by_kind[RX_FLIP_ZC]);
	}
	if (nmaps) {
		uint32_t nu = 0;

		for (uint32_t k = 0; k < nmaps; k++)
			if (q->rxmap[k].status == PVIO_GNTST_okay)
				q->unmapops[nu++].handle = q->rxmap[k].handle;
		if (nu)
			(void)pvio_gnt_unmap(nb->cfg.gnt, q->unmapops, nu);
	}
	if (popped)
		release_run(q, pop_from, popped);
	if (nb_)
		rx_push(q);
	publish_gauges(q);
	return work + (int)popped;
}

/* ---- set-up / tear-down ------------------------------------------------------------ */

int nb_rx_init(struct nb_queue *q)
{
	struct pvio_netback *nb = q->nb;

	q->bl_cap = nb->rx_max_pkts;
	q->bl_head = q->bl_count = 0;
	q->bl_bytes = 0;
	q->bl = calloc(q->bl_cap, sizeof(*q->bl));
	q->rxcopy = calloc(NB_RX_BATCH * RX_MAX_OPS, sizeof(*q->rxcopy));
	q->rxmap = calloc(NB_RX_BATCH * RX_MAX_SLOTS, sizeof(*q->rxmap));
	q->xfer = calloc(NB_RX_BATCH, sizeof(*q->xfer));
	q->rxreq = calloc(NB_RX_BATCH * RX_MAX_SLOTS, sizeof(*q->rxreq));
	if (!q->unmapops)
		q->unmapops = calloc(NB_RX_BATCH * RX_MAX_SLOTS, sizeof(*q->unmapops));
	if (!q->bl || !q->rxcopy || !q->rxmap || !q->xfer || !q->rxreq || !q->unmapops)
		goto fail;
	if (nb->rx_flip) {
		q->spare_cap = NB_RX_BATCH;
		q->spare = calloc(q->spare_cap, sizeof(*q->spare));
		if (!q->spare)
			goto fail;
		for (uint32_t i = 0; i < q->spare_cap; i++) {
			uint32_t pfn;

			if (nb->cfg.page_ops->alloc(nb->cfg.page_ctx, 1, &pfn))
				goto fail;
			q->spare[q->nr_spare++] = pfn;
		}
	}
	return 0;
fail:
	nb_rx_fini(q);
	return -ENOMEM;
}

void nb_rx_fini(struct nb_queue *q)
{
	struct pvio_netback *nb = q->nb;

	if (q->bl && q->bl_count) {
		release_run(q, q->bl_head, q->bl_count);
		q->bl_count = 0;
		q->bl_bytes = 0;
	}
	publish_gauges(q);
	for (uint32_t i = 0; i < q->nr_spare; i++)
		(void)nb->cfg.page_ops->free(nb->cfg.page_ctx, q->spare[i], 1);
	q->nr_spare = 0;
	if (q->bounce_pfn_ok)
		(void)nb->cfg.page_ops->free(nb->cfg.page_ctx, q->bounce_pfn, RX_BOUNCE_PAGES);
	q->bounce_pfn_ok = false;
	free(q->spare);
	free(q->bl);
	free(q->rxcopy);
	free(q->rxmap);
	free(q->xfer);
	free(q->rxreq);
	q->spare = NULL;
	q->bl = NULL;
	q->rxcopy = NULL;
	q->rxmap = NULL;
	q->xfer = NULL;
	q->rxreq = NULL;
}
