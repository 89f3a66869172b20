/* SPDX-License-Identifier: MIT */
/*
 * netfront's transmit path: splitting a frame into slots (one per page it
 * touches), granting the caller's pages in place or copying into granted
 * tx pages, GSO extra info, the tx shadow table, and the response path
 * with its checks. Never reads the store.
 *
 * Wire format of one packet (Xen's netif.h):
 *   [data slot 0: size = whole frame, flags = csum bits | extra_info |
 *    more_data] [extra info (GSO)] [data slot 1: size = its bytes,
 *    more_data] ... [data slot n-1: flags 0]
 * Every data slot is answered with its id; every extra slot with an
 * RSP_NULL response carrying no id.
 */
#include "common.h"

#define NF_DONE_BATCH 64u

struct nf_done {
	void *user;
	int status;
};

/* ------------------------------------------------------------ splitting */

/* The exported helpers are unit-tested; the data path uses these inline
 * bodies (a call each per slot was a measurable share of a packet). */
static inline uint32_t slot_count(uint32_t page_off, uint32_t len)
{
	if (len == 0)
		return 0;
	return (uint32_t)(((uint64_t)page_off + len + PVIO_PAGE_SIZE - 1) / PVIO_PAGE_SIZE);
}

uint32_t nf_slot_count(uint32_t page_off, uint32_t len)
{
	return slot_count(page_off, len);
}

static inline uint32_t slot_len(uint32_t page_off, uint32_t len, uint32_t k, uint16_t *off)
{
	uint64_t start = k == 0 ? page_off : (uint64_t)k * PVIO_PAGE_SIZE;
	uint64_t end = (uint64_t)(k + 1) * PVIO_PAGE_SIZE;
	uint64_t last = (uint64_t)page_off + len;

	*off = (uint16_t)(start % PVIO_PAGE_SIZE);
	if (start >= last)
		return 0;
	return (uint32_t)((end < last ? end : last) - start);
}

uint32_t nf_slot_len(uint32_t page_off, uint32_t len, uint32_t k, uint16_t *off)
{
	return slot_len(page_off, len, k, off);
}

/* ---------------------------------------------------------- validation */

static inline int status_errno(int16_t status)
{
	switch (status) {
	case PVIO_NETIF_RSP_OKAY:
		return 0;
	case PVIO_NETIF_RSP_ERROR:
		return -EIO;
	case PVIO_NETIF_RSP_DROPPED:
		return -ENOBUFS;
	default:
		return -EPROTO;
	}
}

int nf_tx_status_to_errno(int16_t status)
{
	return status_errno(status);
}

static inline int tx_check(const struct nf_queue *q, const struct pvio_netif_tx_response *rsp,
			   uint32_t *idx)
{
	/* An extra slot's answer: no id (it overlays our extra info).
	 * Allowed only as many times as we sent extra slots. */
	if (rsp->status == PVIO_NETIF_RSP_NULL)
		return q->tx_null_expected ? 1 : -EPROTO;
	uint32_t mask = (1u << q->tx_bits) - 1;
	uint32_t i = rsp->id & mask, gen = (uint32_t)rsp->id >> q->tx_bits;
	uint32_t gen_mask = (1u << (16 - q->tx_bits)) - 1;

	if (i >= q->tx_nr)
		return -EPROTO;
	const struct nf_txslot *s = &q->txs[i];
	if (s->state != NF_TX_INFLIGHT || (s->gen & gen_mask) != gen)
		return -EPROTO; /* made up, stale, or answered twice */
	if (status_errno(rsp->status) == -EPROTO)
		return -EPROTO;
	*idx = i;
	return 0;
}

int nf_tx_check(const struct nf_queue *q, const struct pvio_netif_tx_response *rsp,
		uint32_t *idx)
{
	return tx_check(q, rsp, idx);
}

/* -------------------------------------------------------- pages, grants */

/*
 * Copy pages. Each is granted (read-only) to the backend at its first use
 * and stays granted until the ring is renewed or closed: no grant and no
 * revoke per packet, and the grant entry, which then only the backend
 * writes (its pin bits), stays in the backend's cache instead of moving
 * between the two CPUs twice a packet. Frames share pages: a slot takes
 * the next 64-byte aligned chunk of the page being filled (txp_cur), so
 * the backend pins one page for a burst of small frames. The backend can
 * read nothing through these grants but bytes this guest sent it.
 */
#define NF_TX_ALIGN 64u

/* Counter increments of one send or reap, added once at its end (an
 * atomic add per packet and counter costs more than the rest of it). */
struct nf_tally {
	uint64_t grants, slots, gso, zc, copied, copied_bytes;
	uint64_t packets, bytes, dropped, errors;
};

static void tally_flush(struct nf_queue *q, const struct nf_tally *t)
{
	if (t->grants)
		nf_count(&q->grants, t->grants);
	if (t->slots) {
		nf_count(&q->tx_slots, t->slots);
		if (t->gso)
			nf_count(&q->tx_gso, t->gso);
		if (t->zc)
			nf_count(&q->tx_zero_copy, t->zc);
		if (t->copied) {
			nf_count(&q->tx_copied, t->copied);
			nf_count(&q->tx_copied_bytes, t->copied_bytes);
		}
	}
	if (t->packets) {
		nf_count(&q->tx_packets, t->packets);
		nf_count(&q->tx_bytes, t->bytes);
	}
	if (t->dropped)
		nf_count(&q->tx_dropped, t->dropped);
	if (t->errors)
		nf_count(&q->tx_errors, t->errors);
}

static void txp_put(struct nf_queue *q, uint32_t page)
{
	q->txp[page].next = q->txp_free;
	q->txp_free = page;
	q->txp_nr_free++;
}

/* A free copy page, granted. 0, -EAGAIN (none left) or -errno. */
static int txp_get(struct nf_queue *q, uint32_t *out, uint64_t *grants)
{
	struct pvio_netfront *nf = q->nf;
	struct pvio_domain *d = nf->d;
	struct nf_page *p;
	uint32_t i, pfn;
	int err;

	if (q->txp_free != NF_NONE) {
		i = q->txp_free;
		q->txp_free = q->txp[i].next;
		q->txp_nr_free--;
	} else {
		if (q->txp_n >= q->txp_cap)
			return -EAGAIN;
		err = pvio_domain_page_alloc(d, 1, &pfn);
		if (err)
			return err;
		p = &q->txp[q->txp_n];
		p->va = pvio_domain_page(d, pfn);
		if (!p->va) {
			pvio_domain_page_free(d, pfn, 1);
			return -ENOMEM;
		}
		p->pfn = pfn;
		p->gref = PVIO_GNT_REF_INVALID;
		p->users = 0;
		i = q->txp_n++;
	}
	p = &q->txp[i];
	if (p->gref == PVIO_GNT_REF_INVALID) {
		err = pvio_gnt_grant(d->gnt, nf->info.backend_id, p->pfn, true, &p->gref);
		if (err) {
			p->gref = PVIO_GNT_REF_INVALID;
			txp_put(q, i);
			return err;
		}
		(*grants)++;
	}
	*out = i;
	return 0;
}

static uint32_t txp_available(const struct nf_queue *q)
{
	return q->txp_nr_free + (q->txp_cap - q->txp_n);
}

/* Does a chunk of len bytes fit the page being filled? */
static bool txp_fits(const struct nf_queue *q, uint32_t len)
{
	return q->txp_cur != NF_NONE && q->txp_off + len <= PVIO_PAGE_SIZE;
}

/* A chunk of len (<= a page) bytes in a granted copy page: *page, *off.
 * Returns 0, -EAGAIN (no page now) or a grant error. */
static int txp_chunk(struct nf_queue *q, uint32_t len, uint32_t *page, uint32_t *off,
		     uint64_t *grants)
{
	if (!txp_fits(q, len)) {
		uint32_t fresh, old = q->txp_cur;
		int err = txp_get(q, &fresh, grants);

		if (err)
			return err;
		/* The page left behind goes back with its last slot. */
		if (old != NF_NONE && q->txp[old].users == 0)
			txp_put(q, old);
		q->txp_cur = fresh;
		q->txp_off = 0;
	}
	*page = q->txp_cur;
	*off = q->txp_off;
	q->txp_off += (len + NF_TX_ALIGN - 1) & ~(NF_TX_ALIGN - 1);
	q->txp[*page].users++;
	return 0;
}

/*
 * The chunks a burst of bytes will fill were last read by the backend
 * (its copies): ask for them in exclusive state now, so the misses
 * overlap instead of stalling the copies one line at a time.
 */
static void txp_prefetch(const struct nf_queue *q, uint32_t bytes)
{
	uint32_t off = q->txp_off, end;
	const unsigned char *va;

	if (q->txp_cur != NF_NONE && off < PVIO_PAGE_SIZE) {
		va = q->txp[q->txp_cur].va;
		end = bytes < PVIO_PAGE_SIZE - off ? off + bytes : PVIO_PAGE_SIZE;
		bytes -= end - off;
		for (; off < end; off += NF_TX_ALIGN)
			pvio_prefetch_for_write(va + off);
	}
	if (bytes && q->txp_free != NF_NONE) {
		va = q->txp[q->txp_free].va;
		end = bytes < PVIO_PAGE_SIZE ? bytes : PVIO_PAGE_SIZE;
		for (off = 0; off < end; off += NF_TX_ALIGN)
			pvio_prefetch_for_write(va + off);
	}
}

/* A slot let go of its chunk. */
static void txp_release(struct nf_queue *q, uint32_t page)
{
	if (--q->txp[page].users)
		return;
	if (page == q->txp_cur)
		q->txp_off = 0; /* empty: fill it again from its start */
	else
		txp_put(q, page);
}

/* A slot is done: a copy slot lets go of its chunk (the page stays
 * granted); a zero-copy slot ends its grant. */
static void tx_slot_end(struct nf_queue *q, pvio_grant_ref_t ref, uint32_t page)
{
	if (page != NF_NONE) {
		txp_release(q, page);
		return;
	}
	if (ref == PVIO_GNT_REF_INVALID)
		return;
	if (pvio_gnt_revoke(q->nf->d->gnt, ref) == -EBUSY) {
		nf_count(&q->revokes_deferred, 1);
		if (q->tx_nr_rev < q->tx_rev_cap)
			q->tx_rev[q->tx_nr_rev++] = (struct nf_revoke){
				.gref = ref, .page = NF_NONE };
		return;
	}
	nf_count(&q->revokes, 1);
}

/* Retry deferred revokes: zero-copy slots' grants (page NF_NONE) and
 * copy pages' grants (the page is free again once its grant ended). */
static void tx_revoke_retry(struct nf_queue *q)
{
	uint32_t kept = 0;

	for (uint32_t i = 0; i < q->tx_nr_rev; i++) {
		struct nf_revoke r = q->tx_rev[i];
		if (pvio_gnt_revoke(q->nf->d->gnt, r.gref) == -EBUSY) {
			q->tx_rev[kept++] = r;
			continue;
		}
		nf_count(&q->revokes, 1);
		if (r.page != NF_NONE) {
			q->txp[r.page].users = 0;
			txp_put(q, r.page);
		}
	}
	q->tx_nr_rev = kept;
}

/*
 * End the grants of the copy pages (ring renewed or closing: nothing is
 * in flight) and rebuild their free list. A page the backend still maps
 * waits on tx_rev. Returns the pages still in flight (not expected: their
 * last slot puts them back granted; the caller tries again). tx locked.
 */
static uint32_t txp_end_grants(struct nf_queue *q)
{
	uint32_t busy = 0;

	if (q->tx_nr_rev)
		tx_revoke_retry(q);
	q->txp_cur = NF_NONE;
	q->txp_off = 0;
	q->txp_free = NF_NONE;
	q->txp_nr_free = 0;
	for (uint32_t i = q->txp_n; i-- > 0;) {
		struct nf_page *p = &q->txp[i];

		if (p->users == NF_NONE)
			continue; /* on tx_rev */
		if (p->users) {
			busy++;
			continue;
		}
		if (p->gref != PVIO_GNT_REF_INVALID) {
			int err = pvio_gnt_revoke(q->nf->d->gnt, p->gref);

			if (err == -EBUSY) {
				nf_count(&q->revokes_deferred, 1);
				/* Not reused until its grant ends (never, if
				 * tx_rev is full). */
				p->users = NF_NONE;
				if (q->tx_nr_rev < q->tx_rev_cap)
					q->tx_rev[q->tx_nr_rev++] = (struct nf_revoke){
						.gref = p->gref, .page = i };
				p->gref = PVIO_GNT_REF_INVALID;
				continue;
			}
			if (err == 0)
				nf_count(&q->revokes, 1);
			p->gref = PVIO_GNT_REF_INVALID;
		}
		txp_put(q, i);
	}
	return busy;
}

/* -------------------------------------------------------- shadow table */

static uint32_t txs_take(struct nf_queue *q)
{
	uint32_t i = q->tx_free;
	struct nf_txslot *s = &q->txs[i];

	q->tx_free = s->next_free;
	q->tx_nr_free--;
	s->gen++;
	s->state = NF_TX_INFLIGHT;
	s->gref = PVIO_GNT_REF_INVALID;
	s->page = NF_NONE;
	return i;
}

static void txs_release(struct nf_queue *q, uint32_t i)
{
	struct nf_txslot *s = &q->txs[i];

	s->state = NF_TX_FREE;
	s->user = NULL;
	s->next_free = q->tx_free;
	q->tx_free = i;
	q->tx_nr_free++;
}

static void deliver_done(struct pvio_netfront *nf, const struct nf_done *done, uint32_t n)
{
	if (!nf->cfg.tx_done)
		return;
	for (uint32_t i = 0; i < n; i++)
		nf->cfg.tx_done(nf->cfg.tx_done_arg, done[i].user, done[i].status);
}

/* ------------------------------------------------------------- reaping */

/* Take responses until done[] is full. *got receives the packets
 * completed into done[], also when a bad response stops the reap (their
 * slots are already released: the caller must still deliver them).
 * Returns *got or -EPROTO. tx locked. */
static int reap_locked(struct nf_queue *q, struct nf_done *done, uint32_t cap,
		       uint32_t *got)
{
	struct pvio_netif_tx_response rsp;
	struct nf_tally t = { 0 };
	uint32_t n = 0, idx;
	int r = 0;

	*got = 0;
	while (n < cap) {
		r = pvio_netif_tx_front_get_rsp(&q->tx, &rsp);
		if (r == 0)
			break;
		if (r < 0)
			break;
		r = tx_check(q, &rsp, &idx);
		if (r < 0)
			break;
		if (r == 1) {
			q->tx_null_expected--;
			continue;
		}
		struct nf_txslot *s = &q->txs[idx];
		uint32_t hi = s->head;
		struct nf_txslot *h = &q->txs[hi];
		int st = status_errno(rsp.status);
		tx_slot_end(q, s->gref, s->page);
		s->gref = PVIO_GNT_REF_INVALID;
		s->page = NF_NONE;
		if (st && !h->err)
			h->err = st;
		if (idx != hi)
			txs_release(q, idx);
		else
			s->state = NF_TX_ANSWERED;
		if (--h->pending)
			continue;
		/* The whole packet is answered. */
		if (h->err == 0) {
			t.packets++;
			t.bytes += h->bytes;
		} else if (h->err == -ENOBUFS) {
			t.dropped++;
		} else {
			t.errors++;
		}
		done[n++] = (struct nf_done){ .user = h->user, .status = h->err };
		*got = n;
		q->tx_packets_inflight--;
		txs_release(q, hi);
	}
	tally_flush(q, &t);
	atomic_store_explicit(&q->tx_cons_seen, q->tx.rsp_cons, memory_order_relaxed);
	return r < 0 ? -EPROTO : (int)n;
}

int nf_tx_reap(struct nf_queue *q)
{
	struct pvio_netfront *nf = q->nf;
	struct nf_done done[NF_DONE_BATCH];
	int total = 0;

	for (;;) {
		nf_lock(&q->tx_lock);
		if (!nf_alive(nf)) {
			if (q->tx_nr_rev)
				tx_revoke_retry(q);
			nf_unlock(&q->tx_lock);
			return total;
		}
		if (q->tx_nr_rev)
			tx_revoke_retry(q);
		uint32_t got;
		int n = reap_locked(q, done, NF_DONE_BATCH, &got);
		nf_unlock(&q->tx_lock);
		/* Packets completed before a bad response are done too. */
		deliver_done(nf, done, got);
		if (n < 0) {
			atomic_fetch_add_explicit(&nf->protocol_errors, 1, memory_order_relaxed);
			nf_mark_dead(nf, NF_BROKEN);
			return -EPROTO;
		}
		total += n;
		if ((uint32_t)n < NF_DONE_BATCH)
			return total;
	}
}

bool nf_tx_busy(struct nf_queue *q)
{
	nf_lock(&q->tx_lock);
	bool busy = q->tx_packets_inflight != 0;
	nf_unlock(&q->tx_lock);
	return busy;
}

uint32_t nf_tx_cancel(struct nf_queue *q)
{
	struct pvio_netfront *nf = q->nf;
	struct nf_done done[NF_DONE_BATCH];
	uint32_t n, total = 0;

	if (!q->txs)
		return 0;
	do {
		n = 0;
		nf_lock(&q->tx_lock);
		for (uint32_t i = 0; i < q->tx_nr && n < NF_DONE_BATCH; i++) {
			struct nf_txslot *s = &q->txs[i];
			if (s->state == NF_TX_FREE || s->head != i)
				continue;
			/* A head: end every slot of its packet. */
			for (uint32_t k = 0; k < q->tx_nr; k++) {
				struct nf_txslot *o = &q->txs[k];
				if (k == i || o->state != NF_TX_INFLIGHT || o->head != i)
					continue;
				tx_slot_end(q, o->gref, o->page);
				txs_release(q, k);
			}
			tx_slot_end(q, s->gref, s->page);
			done[n++] = (struct nf_done){ .user = s->user, .status = -ECANCELED };
			q->tx_packets_inflight--;
			txs_release(q, i);
		}
		q->tx_null_expected = 0;
		tx_revoke_retry(q);
		nf_unlock(&q->tx_lock);
		deliver_done(nf, done, n);
		total += n;
	} while (n == NF_DONE_BATCH);
	return total;
}

/* ------------------------------------------------------------- sending */

static bool zc_lookup(struct pvio_netfront *nf, const void *data, uint32_t len,
		      uint32_t *pfn0)
{
	uintptr_t p = (uintptr_t)data;
	bool found = false;

	/* Most senders register no buffer: no lock, no scan. A buffer is
	 * published (bufs_hi raised) before buf_alloc returns it. */
	if (!atomic_load_explicit(&nf->bufs_hi, memory_order_acquire))
		return false;
	nf_lock(&nf->buf_lock);
	for (uint32_t i = 0, end = atomic_load_explicit(&nf->bufs_hi, memory_order_relaxed);
	     i < end; i++) {
		const struct nf_buf *b = &nf->bufs[i];
		uintptr_t lo = (uintptr_t)b->va;
		uintptr_t hi = lo + (uintptr_t)b->n * PVIO_PAGE_SIZE;
		if (!b->va || p < lo || p >= hi || len > hi - p)
			continue;
		*pfn0 = b->pfn + (uint32_t)((p - lo) / PVIO_PAGE_SIZE);
		found = true;
		break;
	}
	nf_unlock(&nf->buf_lock);
	return found;
}

static int pkt_check(const struct pvio_netfront *nf, const struct pvio_netfront_pkt *pkt)
{
	const struct pvio_netfront_info *in = &nf->info;

	if (!pkt->data || pkt->len == 0)
		return -EINVAL;
	if (pkt->len > in->max_tx_frame)
		return -EMSGSIZE;
	if ((pkt->flags & PVIO_NETFRONT_F_CSUM_BLANK) &&
	    !in->tx_csum_ipv4 && !in->tx_csum_ipv6)
		return -EOPNOTSUPP;
	switch (pkt->gso_type) {
	case PVIO_NETFRONT_GSO_NONE:
		return 0;
	case PVIO_NETFRONT_GSO_TCPV4:
		if (!in->tx_gso_tcpv4)
			return -EOPNOTSUPP;
		break;
	case PVIO_NETFRONT_GSO_TCPV6:
		if (!in->tx_gso_tcpv6)
			return -EOPNOTSUPP;
		break;
	default:
		return -EINVAL;
	}
	if (pkt->gso_size == 0 || !(pkt->flags & PVIO_NETFRONT_F_CSUM_BLANK))
		return -EINVAL;
	return 0;
}

/*
 * Place one packet on the ring (not pushed). Returns 0, -EAGAIN (no room
 * now), or a hard error for this packet. tx locked.
 */
static int send_locked(struct nf_queue *q, const struct pvio_netfront_pkt *pkt,
		       uint32_t pfn_zc, bool zc, struct nf_tally *t)
{
	struct pvio_netfront *nf = q->nf;
	const struct pvio_netfront_info *in = &nf->info;
	uint32_t page_off = zc ? (uint32_t)((uintptr_t)pkt->data & (PVIO_PAGE_SIZE - 1)) : 0;
	uint32_t n = slot_count(page_off, pkt->len);
	uint32_t extras = pkt->gso_type != PVIO_NETFRONT_GSO_NONE;
	pvio_grant_ref_t refs[PVIO_NETFRONT_MAX_SLOTS];
	uint32_t idx[PVIO_NETFRONT_MAX_SLOTS];
	uint16_t offs[PVIO_NETFRONT_MAX_SLOTS];
	uint32_t lens[PVIO_NETFRONT_MAX_SLOTS];
	int err;

	if (zc && n > in->max_tx_slots) {
		/* Too many pages to grant in place (or, without sg, a frame
		 * crossing a page): copy it into whole pages instead. */
		zc = false;
		page_off = 0;
		n = slot_count(0, pkt->len);
	}
	if (n == 0 || n > in->max_tx_slots)
		return n ? -EMSGSIZE : -EINVAL;
	if (pvio_ring_front_free_slots(&q->tx) < n + extras || q->tx_nr_free < n)
		return -EAGAIN;
	if (zc) {
		err = pvio_gnt_refs_get(nf->d->gnt, n, refs);
		if (err)
			return q->tx_packets_inflight ? -EAGAIN : err;
	} else if (txp_available(q) < n && !(n == 1 && txp_fits(q, pkt->len))) {
		return -EAGAIN;
	}

	/* Data and grants first: nothing below can fail once they are in. */
	uint32_t made = 0;
	for (uint32_t k = 0; k < n; k++) {
		uint16_t off;
		uint32_t slen = slot_len(page_off, pkt->len, k, &off);
		uint32_t i = txs_take(q);
		struct nf_txslot *s = &q->txs[i];
		idx[k] = i;
		if (zc) {
			err = pvio_gnt_grant_ref(nf->d->gnt, refs[k], in->backend_id,
						 pfn_zc + k, true);
			if (err) {
				txs_release(q, i);
				goto undo;
			}
			s->gref = refs[k];
		} else {
			uint32_t pos = k * PVIO_PAGE_SIZE, coff;

			err = txp_chunk(q, slen, &s->page, &coff, &t->grants);
			if (err) {
				txs_release(q, i);
				goto undo;
			}
			nf_memcpy((unsigned char *)q->txp[s->page].va + coff,
				  (const unsigned char *)pkt->data + pos, slen);
			s->gref = q->txp[s->page].gref;
			off = (uint16_t)coff;
		}
		offs[k] = off;
		lens[k] = slen;
		made++;
	}

	/* The slots, built in place (the backend copies each out once). */
	uint32_t hi = idx[0];
	struct nf_txslot *h = &q->txs[hi];
	h->pending = n;
	h->err = 0;
	h->bytes = pkt->len;
	h->user = pkt->user;
	h->extras = (uint8_t)extras;
	for (uint32_t k = 0; k < n; k++) {
		struct nf_txslot *s = &q->txs[idx[k]];
		struct pvio_netif_tx_request *req = pvio_netif_tx_front_next_req(&q->tx);
		uint16_t flags = k + 1 < n ? PVIO_NETTXF_more_data : 0;

		s->head = hi;
		if (k == 0) {
			if (pkt->flags & PVIO_NETFRONT_F_CSUM_BLANK)
				flags |= PVIO_NETTXF_csum_blank | PVIO_NETTXF_data_validated;
			else if (pkt->flags & PVIO_NETFRONT_F_DATA_VALIDATED)
				flags |= PVIO_NETTXF_data_validated;
			if (extras)
				flags |= PVIO_NETTXF_extra_info;
		}
		req->gref = s->gref;
		req->offset = offs[k];
		req->flags = flags;
		req->id = nf_make_id(idx[k], s->gen, q->tx_bits);
		req->size = (uint16_t)(k == 0 ? pkt->len : lens[k]);
		if (k == 0 && extras) {
			/* Room was checked above: the slot exists. */
			struct pvio_netif_tx_request *slot = pvio_netif_tx_front_next_req(&q->tx);
			struct pvio_netif_extra_info *x = (void *)slot;
			*slot = (struct pvio_netif_tx_request){ 0 };
			x->type = PVIO_NETIF_EXTRA_TYPE_GSO;
			x->flags = 0;
			x->u.gso.size = pkt->gso_size;
			x->u.gso.type = (uint8_t)pkt->gso_type;
			x->u.gso.features = 0;
		}
	}
	q->tx_null_expected += extras;
	q->tx_packets_inflight++;
	t->grants += zc ? n : 0;
	t->slots += n;
	t->gso += extras;
	if (zc) {
		t->zc++;
	} else {
		t->copied++;
		t->copied_bytes += pkt->len;
	}
	return 0;

undo:
	for (uint32_t k = 0; k < made; k++) {
		struct nf_txslot *s = &q->txs[idx[k]];
		if (zc)
			(void)pvio_gnt_revoke_ref(nf->d->gnt, refs[k]); /* never mapped */
		else
			txp_release(q, s->page);
		s->page = NF_NONE;
		txs_release(q, idx[k]);
	}
	if (zc)
		pvio_gnt_refs_put(nf->d->gnt, refs, n);
	return err == -EAGAIN && q->tx_packets_inflight ? -EAGAIN : err;
}

/* A queue for QUEUE_ANY: hash the IPv4/IPv6 addresses, so a flow stays
 * on one queue (and in order). */
static uint32_t pick_queue(const struct pvio_netfront *nf, const struct pvio_netfront_pkt *pkt)
{
	const unsigned char *p = pkt->data;
	uint32_t h = 0, from = 0, to = 0;

	if (nf->nr_queues == 1 || pkt->len < 14)
		return 0;
	uint16_t type = (uint16_t)(p[12] << 8 | p[13]);
	if (type == 0x0800 && pkt->len >= 34) {
		from = 26;
		to = 34;
	} else if (type == 0x86dd && pkt->len >= 54) {
		from = 22;
		to = 54;
	}
	for (uint32_t i = from; i < to; i++)
		h = h * 31 + p[i];
	return h % nf->nr_queues;
}

static int send_many(struct pvio_netfront *nf, uint32_t queue,
		     const struct pvio_netfront_pkt *pkts, unsigned n)
{
	if (!nf || !pkts || n == 0)
		return -EINVAL;
	if (queue == PVIO_NETFRONT_QUEUE_ANY)
		queue = pick_queue(nf, &pkts[0]);
	if (queue >= nf->nr_queues)
		return -EINVAL;
	if (!nf_alive(nf))
		return nf_dead_errno(nf, -EAGAIN);
	struct nf_queue *q = &nf->q[queue];
	/* Reap first: completions free slots and pages (Linux's
	 * xennet_tx_buf_gc on every transmit). */
	if (nf_tx_reap(q) < 0)
		return -EIO;

	struct nf_tally t = { 0 };
	int placed = 0, err = 0;
	uint32_t ep = nf_epoch(nf);
	nf_lock(&q->tx_lock);
	if (!nf_alive(nf)) {
		/* Lost since the look above: a reconnect renews this ring
		 * under the lock, so nothing may go on it now. */
		nf_unlock(&q->tx_lock);
		return nf_dead_errno(nf, -EAGAIN);
	}
	if (!atomic_load_explicit(&nf->bufs_hi, memory_order_relaxed)) {
		uint32_t bytes = 0;

		for (unsigned i = 0; i < n; i++)
			bytes += (pkts[i].len + NF_TX_ALIGN - 1) & ~(NF_TX_ALIGN - 1);
		txp_prefetch(q, bytes);
	}
	for (unsigned i = 0; i < n; i++) {
		uint32_t pfn = 0;
		err = pkt_check(nf, &pkts[i]);
		if (!err) {
			bool zc = zc_lookup(nf, pkts[i].data, pkts[i].len, &pfn);
			err = send_locked(q, &pkts[i], pfn, zc, &t);
		}
		if (err)
			break;
		placed++;
	}
	tally_flush(q, &t);
	int kick = placed ? pvio_ring_front_push(&q->tx) : 0;
	if (kick == 1)
		nf_count(&q->tx_kicks, 1);
	nf_unlock(&q->tx_lock);
	if (kick == 1 && !nf_kick(nf, q->port_tx))
		nf_backend_lost(nf, ep);
	return placed ? placed : err;
}

int pvio_netfront_send(struct pvio_netfront *nf, uint32_t queue,
		       const struct pvio_netfront_pkt *pkt)
{
	int r = send_many(nf, queue, pkt, 1);

	return r < 0 ? r : 0;
}

int pvio_netfront_send_burst(struct pvio_netfront *nf, uint32_t queue,
			     const struct pvio_netfront_pkt *pkts, unsigned n)
{
	return send_many(nf, queue, pkts, n);
}

/* ------------------------------------------------------ set-up, teardown */

int nf_txq_alloc(struct nf_queue *q)
{
	struct pvio_netfront *nf = q->nf;
	struct pvio_domain *d = nf->d;
	int err;

	q->tx_ring_ref = PVIO_GNT_REF_INVALID;
	q->txp_free = NF_NONE;
	q->txp_cur = NF_NONE;
	q->txp_off = 0;
	err = pvio_domain_page_alloc(d, 1, &q->tx_ring_pfn);
	if (err)
		return err;
	q->tx_sring = pvio_domain_page(d, q->tx_ring_pfn);
	if (!q->tx_sring)
		return -ENOMEM;
	err = pvio_netif_tx_front_init(&q->tx, q->tx_sring, PVIO_PAGE_SIZE);
	if (err)
		return err;
	atomic_store_explicit(&q->tx_cons_seen, q->tx.rsp_cons, memory_order_relaxed);
	q->tx_nr = q->tx.nr_slots;
	q->tx_bits = nf_log2(q->tx_nr);
	err = pvio_gnt_grant(d->gnt, nf->info.backend_id, q->tx_ring_pfn, false,
			     &q->tx_ring_ref);
	if (err)
		return err;
	nf_count(&q->grants, 1);
	q->txs = nf_alloc(d, (size_t)q->tx_nr * sizeof(struct nf_txslot));
	if (!q->txs)
		return -ENOMEM;
	for (uint32_t i = 0; i < q->tx_nr; i++)
		q->txs[i].next_free = i + 1 < q->tx_nr ? i + 1 : NF_NONE;
	q->tx_free = 0;
	q->tx_nr_free = q->tx_nr;
	q->txp_cap = nf->cfg.tx_pages;
	if (q->txp_cap < PVIO_NETFRONT_MAX_SLOTS)
		q->txp_cap = PVIO_NETFRONT_MAX_SLOTS;
	q->txp = nf_alloc(d, (size_t)q->txp_cap * sizeof(struct nf_page));
	if (!q->txp)
		return -ENOMEM;
	q->tx_rev_cap = q->tx_nr + q->txp_cap;
	q->tx_rev = nf_alloc(d, (size_t)q->tx_rev_cap * sizeof(struct nf_revoke));
	return q->tx_rev ? 0 : -ENOMEM;
}

int nf_txq_renew(struct nf_queue *q)
{
	nf_lock(&q->tx_lock);
	/* The copy pages are granted again, to the new backend, as used. */
	(void)txp_end_grants(q);
	int err = nf_ring_page_renew(q->nf, &q->tx_ring_pfn, &q->tx_sring, &q->tx_ring_ref);
	if (!err)
		err = pvio_netif_tx_front_init(&q->tx, q->tx_sring, PVIO_PAGE_SIZE);
	atomic_store_explicit(&q->tx_cons_seen, q->tx.rsp_cons, memory_order_relaxed);
	q->tx_null_expected = 0;
	nf_unlock(&q->tx_lock);
	return err;
}

uint32_t nf_tx_revoke_all(struct nf_queue *q)
{
	uint32_t left = 0;

	nf_lock(&q->tx_lock);
	uint32_t busy = q->txp ? txp_end_grants(q) : 0;
	if (q->tx_ring_ref != PVIO_GNT_REF_INVALID &&
	    pvio_gnt_revoke(q->nf->d->gnt, q->tx_ring_ref) != -EBUSY) {
		q->tx_ring_ref = PVIO_GNT_REF_INVALID;
		nf_count(&q->revokes, 1);
	}
	left = q->tx_nr_rev + busy + (q->tx_ring_ref != PVIO_GNT_REF_INVALID);
	nf_unlock(&q->tx_lock);
	return left;
}

void nf_txq_free(struct nf_queue *q)
{
	struct pvio_domain *d = q->nf->d;

	if (q->txp) {
		/* Pages still granted (revoke list, or a grant that will not
		 * end now) stay allocated. */
		for (uint32_t i = 0; i < q->tx_nr_rev; i++)
			if (q->tx_rev[i].page != NF_NONE)
				q->txp[q->tx_rev[i].page].pfn = NF_NONE;
		for (uint32_t i = 0; i < q->txp_n; i++) {
			struct nf_page *p = &q->txp[i];

			if (p->users == NF_NONE)
				p->pfn = NF_NONE;
			else if (p->gref != PVIO_GNT_REF_INVALID &&
				 pvio_gnt_revoke(q->nf->d->gnt, p->gref) == -EBUSY)
				p->pfn = NF_NONE;
		}
		for (uint32_t i = 0; i < q->txp_n; i++)
			if (q->txp[i].pfn != NF_NONE)
				pvio_domain_page_free(d, q->txp[i].pfn, 1);
	}
	nf_free(d, q->txp);
	nf_free(d, q->txs);
	nf_free(d, q->tx_rev);
	q->txp = NULL;
	q->txs = NULL;
	q->tx_rev = NULL;
	if (q->tx_sring && q->tx_ring_ref == PVIO_GNT_REF_INVALID)
		pvio_domain_page_free(d, q->tx_ring_pfn, 1);
	q->tx_sring = NULL;
}
