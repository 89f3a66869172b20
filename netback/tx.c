/* SPDX-License-Identifier: MIT */
/*
 * Guest -> port: the tx ring.
 *
 *   ring --get_req (each slot copied out once)--> chain of slots (first,
 *   extras, more_data slots) --> nb_tx_check() on the copies --> small
 *   packets: copied into a port buffer from a read-only map of the
 *   guest's page, one map per run of slots naming the same grant in the
 *   batch (response at once); others: grants mapped read-only and handed
 *   to the port as they are (zero copy; response when the port lets go)
 *   --> port xmit --> responses, one per slot (RSP_NULL for extras),
 *   push + kick.
 *
 * Policy, as Linux's xen-netback: a packet the frontend got wrong is
 * answered NETIF_RSP_ERROR on every slot and counted; a chain longer than
 * fatal_slots (or bad ring indices) disables the vif (nb_vif_fatal). A
 * chain the frontend has not finished publishing is kept (already copied
 * out) until the rest arrives.
 *
 * Zero-copy completion comes from the port in any thread
 * (netback_port_tx_done): a lock-free stack per queue (struct nb_txzc)
 * that the queue thread takes whole; a completion inside the queue
 * thread's own xmit call (a PMD freeing what it sent) goes on a plain
 * list instead, answered as soon as xmit returns. The guest's pages stay mapped until
 * then, so nothing the port reads can change under it, except by the
 * guest itself writing a page it granted, which only corrupts its own
 * packet.
 *
 * This file never reads the store (STYLE practice 11).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pvio/host.h>

#include "common.h"

/* ---- checks (pure) ---------------------------------------------------------- */

static struct pvio_netif_extra_info slot_extra(const struct pvio_netif_tx_request *s)
{
	struct pvio_netif_extra_info e;

	_Static_assert(sizeof(e) <= sizeof(*s), "an extra fits a tx slot");
	memcpy(&e, s, sizeof(e));
	return e;
}

int nb_tx_chain_complete(const struct pvio_netif_tx_request *slots, uint32_t n)
{
	uint32_t i = 1;
	bool more;

	if (n == 0)
		return 0;
	if (slots[0].flags & PVIO_NETTXF_extra_info) {
		for (;;) {
			if (i >= n)
				return 0;
			struct pvio_netif_extra_info e = slot_extra(&slots[i++]);

			if (!(e.flags & PVIO_NETIF_EXTRA_FLAG_MORE))
				break;
		}
	}
	more = slots[0].flags & PVIO_NETTXF_more_data;
	while (more) {
		if (i >= n)
			return 0;
		more = slots[i++].flags & PVIO_NETTXF_more_data;
	}
	return 1;
}

/* The largest MSS a packet can carry: 65535 bytes less the smallest
 * Ethernet, IPv4 and TCP headers. A bigger gso_size describes no segment
 * of any packet, and 0xffff is the kernel's GSO_BY_FRAGS marker, which a
 * TAP refuses as a malformed virtio-net header. */
#define NB_GSO_SIZE_MAX (65535u - NB_ETH_HLEN - 20u - 20u)

enum nb_tx_verdict nb_tx_check(const struct nb_tx_limits *lim,
			       const struct pvio_netif_tx_request *slots,
			       uint32_t n, struct nb_tx_desc *d)
{
	enum nb_tx_verdict v = NB_TX_OK;
	uint32_t i = 1, seen = 0, rest = 0;
	const struct pvio_netif_tx_request *first = &slots[0];

	d->nr_data = 0;
	d->nr_extras = 0;
	d->len = first->size;
	d->flags = first->flags;
	d->gso_size = 0;
	d->gso_type = 0;
	d->mcast_add = d->mcast_del = false;

	if (first->flags & PVIO_NETTXF_extra_info) {
		while (i < n) {
			struct pvio_netif_extra_info e = slot_extra(&slots[i++]);

			d->nr_extras++;
			if (e.type == PVIO_NETIF_EXTRA_TYPE_NONE ||
			    e.type >= PVIO_NETIF_EXTRA_TYPE_MAX ||
			    (seen & (1u << e.type))) {
				if (v == NB_TX_OK)
					v = NB_TX_BAD_EXTRA;
			} else {
				seen |= 1u << e.type;
				switch (e.type) {
				case PVIO_NETIF_EXTRA_TYPE_GSO:
					d->gso_size = e.u.gso.size;
					d->gso_type = e.u.gso.type;
					if (v == NB_TX_OK &&
					    (e.u.gso.size == 0 || e.u.gso.size > NB_GSO_SIZE_MAX ||
					     (e.u.gso.type == PVIO_NETIF_GSO_TYPE_TCPV4 && !lim->gso_tcpv4) ||
					     (e.u.gso.type == PVIO_NETIF_GSO_TYPE_TCPV6 && !lim->gso_tcpv6) ||
					     (e.u.gso.type != PVIO_NETIF_GSO_TYPE_TCPV4 &&
					      e.u.gso.type != PVIO_NETIF_GSO_TYPE_TCPV6)))
						v = NB_TX_BAD_GSO;
					break;
				case PVIO_NETIF_EXTRA_TYPE_MCAST_ADD:
					d->mcast_add = true;
					memcpy(d->mcast_add_addr, e.u.mcast.addr, 6);
					break;
				case PVIO_NETIF_EXTRA_TYPE_MCAST_DEL:
					d->mcast_del = true;
					memcpy(d->mcast_del_addr, e.u.mcast.addr, 6);
					break;
				default: /* HASH: accepted, not used */
					break;
				}
			}
			if (!(e.flags & PVIO_NETIF_EXTRA_FLAG_MORE))
				break;
		}
	}
	/* Data slots: the first, then what follows the extras. */
	d->id[0] = first->id;
	d->gref[0] = first->gref;
	d->off[0] = first->offset;
	d->nr_data = 1;
	for (; i < n && d->nr_data < NB_FATAL_SLOTS_LIMIT; i++) {
		uint32_t k = d->nr_data++;

		d->id[k] = slots[i].id;
		d->gref[k] = slots[i].gref;
		d->off[k] = slots[i].offset;
		d->size[k] = slots[i].size;
		rest += slots[i].size;
	}
	if (v != NB_TX_OK)
		return v;
	if (d->nr_data > lim->max_slots)
		return NB_TX_TOO_MANY_SLOTS;
	/* The first slot's size is the packet's; its own bytes are what the
	 * later slots leave (Linux: first->size -= txp->size). */
	if (first->size < NB_ETH_HLEN || rest > first->size)
		return NB_TX_BAD_SIZE;
	d->size[0] = (uint16_t)(first->size - rest);
	for (uint32_t k = 0; k < d->nr_data; k++)
		if ((uint32_t)d->off[k] + d->size[k] > PVIO_PAGE_SIZE)
			return NB_TX_BAD_OFFSET;
	return NB_TX_OK;
}

/* ---- headers and checksums (pure) ------------------------------------------------ */

int nb_pkt_parse(const uint8_t *h, uint32_t len, struct netback_pkt *pkt)
{
	uint32_t l2 = NB_ETH_HLEN, l3, l4 = 0;
	uint16_t type;
	uint8_t proto;

	if (len < NB_ETH_HLEN)
		return -EINVAL;
	type = (uint16_t)(h[12] << 8 | h[13]);
	if (type == 0x8100 || type == 0x88a8) {
		if (len < 18)
			return -EINVAL;
		l2 = 18;
		type = (uint16_t)(h[16] << 8 | h[17]);
	}
	if (type == 0x0800) {
		if (len < l2 + 20)
			return -EINVAL;
		l3 = (uint32_t)(h[l2] & 0x0f) * 4;
		if ((h[l2] >> 4) != 4 || l3 < 20 || len < l2 + l3)
			return -EINVAL;
		if (((h[l2 + 6] << 8 | h[l2 + 7]) & 0x3fff) != 0)
			return -EINVAL; /* a fragment: no L4 header to offload */
		proto = h[l2 + 9];
		pkt->ipv6 = 0;
	} else if (type == 0x86dd) {
		if (len < l2 + 40 || (h[l2] >> 4) != 6)
			return -EINVAL;
		l3 = 40;
		proto = h[l2 + 6];
		/* hop-by-hop, routing, destination options */
		while (proto == 0 || proto == 43 || proto == 60) {
			if (len < l2 + l3 + 8)
				return -EINVAL;
			proto = h[l2 + l3];
			l3 += ((uint32_t)h[l2 + l3 + 1] + 1) * 8;
			if (l3 > 255)
				return -EINVAL;
		}
		pkt->ipv6 = 1;
	} else {
		return -EINVAL;
	}
	if (proto == 6) {
		if (len < l2 + l3 + 20)
			return -EINVAL;
		l4 = (uint32_t)(h[l2 + l3 + 12] >> 4) * 4;
		if (l4 < 20)
			return -EINVAL;
		pkt->csum_offset = 16;
	} else if (proto == 17) {
		if (len < l2 + l3 + 8)
			return -EINVAL;
		l4 = 8;
		pkt->csum_offset = 6;
	} else {
		return -EINVAL;
	}
	pkt->l2_len = (uint8_t)l2;
	pkt->l3_len = (uint16_t)l3;
	pkt->l4_len = (uint8_t)l4;
	pkt->l4_proto = proto;
	pkt->csum_start = (uint16_t)(l2 + l3);
	return 0;
}

uint32_t nb_pkt_gather(const struct netback_pkt *pkt, uint8_t *buf, uint32_t max)
{
	uint32_t got = 0;

	for (uint32_t i = 0; i < pkt->nr_frags && got < max; i++) {
		uint32_t n = pkt->frag[i].len < max - got ? pkt->frag[i].len : max - got;

		memcpy(buf + got, pkt->frag[i].addr, n);
		got += n;
	}
	return got;
}

uint32_t netback_csum_add(uint32_t sum, const void *data, uint32_t len, bool odd)
{
	const uint8_t *p = data;
	uint64_t s = sum;

	if (odd && len) {
		s += *p++;
		len--;
	}
	while (len >= 2) {
		s += (uint32_t)(p[0] << 8 | p[1]);
		p += 2;
		len -= 2;
	}
	if (len)
		s += (uint32_t)p[0] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t netback_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Byte at offset off of the packet (for the checksum field). */
static uint8_t *pkt_byte(struct netback_pkt *pkt, uint32_t off)
{
	for (uint32_t i = 0; i < pkt->nr_frags; i++) {
		if (off < pkt->frag[i].len)
			return (uint8_t *)pkt->frag[i].addr + off;
		off -= pkt->frag[i].len;
	}
	return NULL;
}

void nb_pkt_csum_complete(struct netback_pkt *pkt)
{
	uint32_t start = pkt->csum_start, pos = 0, sum = 0, done = 0;
	uint8_t *f0, *f1;
	uint16_t c;

	f0 = pkt_byte(pkt, start + pkt->csum_offset);
	f1 = pkt_byte(pkt, start + pkt->csum_offset + 1);
	if (!f0 || !f1)
		return;
	for (uint32_t i = 0; i < pkt->nr_frags; i++) {
		const uint8_t *a = pkt->frag[i].addr;
		uint32_t len = pkt->frag[i].len, skip = 0;

		if (pos + len <= start) {
			pos += len;
			continue;
		}
		if (pos < start)
			skip = start - pos;
		sum = netback_csum_add(sum, a + skip, len - skip, (done & 1) != 0);
		done += len - skip;
		pos += len;
	}
	c = (uint16_t)~netback_csum_fold(sum);
	if (c == 0 && pkt->l4_proto == 17)
		c = 0xffff;
	*f0 = (uint8_t)(c >> 8);
	*f1 = (uint8_t)c;
}

/* ---- responses ------------------------------------------------------------------ */

static void respond(struct nb_queue *q, uint16_t id, int16_t status)
{
	struct pvio_netif_tx_response *rsp = pvio_netif_tx_back_next_rsp(&q->tx);

	if (!rsp)
		return; /* broken ring */
	rsp->id = id;
	rsp->status = status;
}

/* One response per slot: the first, RSP_NULL per extra, then the rest. */
static void answer(struct nb_queue *q, struct nb_txp *p, int16_t status)
{
	respond(q, p->ids[0], status);
	for (uint32_t i = 0; i < p->nr_extras; i++)
		respond(q, 0, PVIO_NETIF_RSP_NULL);
	for (uint32_t i = 1; i < p->nr_ids; i++)
		respond(q, p->ids[i], status);
}

void nb_tx_push(struct nb_queue *q)
{
	if (pvio_ring_back_push(&q->tx) == 1) {
		(void)pvio_evtchn_notify(q->nb->cfg.evtchn, q->tx_port);
		nb_count(&q->cnt, C_KICKS, 1);
	}
}

/* ---- packets in flight ---------------------------------------------------------- */

static struct nb_txp *txp_get(struct nb_queue *q)
{
	struct nb_txp *p = q->txp_free;

	if (p)
		q->txp_free = p->next;
	return p;
}

static void txp_put(struct nb_queue *q, struct nb_txp *p)
{
	p->next = q->txp_free;
	q->txp_free = p;
}

static void unmap_handles(struct pvio_gnt_back *g, struct nb_txp *p)
{
	struct pvio_gnt_unmap_op ops[NB_FATAL_SLOTS_LIMIT];

	for (uint32_t i = 0; i < p->nr_handles; i++)
		ops[i].handle = p->handles[i];
	if (p->nr_handles)
		(void)pvio_gnt_unmap(g, ops, p->nr_handles);
	p->nr_handles = 0;
}

/* The queue is gone: unmap here; the last reference frees the struct. */
static void zc_put(struct nb_txzc *zc)
{
	if (atomic_fetch_sub_explicit(&zc->outstanding, 1, memory_order_acq_rel) == 1) {
		free(zc->pend);
		free(zc);
	}
}

static void zc_drain_orphaned(struct nb_txzc *zc)
{
	struct nb_txp *p = atomic_exchange_explicit(&zc->done, NULL, memory_order_acquire);

	while (p) {
		struct nb_txp *next = p->next;

		unmap_handles(zc->gnt, p);
		zc_put(zc); /* the packet's reference; ours keeps zc alive */
		p = next;
	}
}

/* The completion block whose xmit this thread is inside (tx_round). */
static _Thread_local struct nb_txzc *xmit_zc;

void netback_port_tx_done(void *owner)
{
	struct nb_txp *p = owner;
	struct nb_txzc *zc = p->zc;
	struct nb_txp *head;

	if (zc == xmit_zc) {
		/* The queue thread itself, inside its own xmit: it takes
		 * the list as soon as xmit returns. */
		p->next = zc->local;
		zc->local = p;
		return;
	}
	/* Our own reference while we touch zc (the packet's may be dropped
	 * by a concurrent drainer once p is on the stack). */
	atomic_fetch_add_explicit(&zc->outstanding, 1, memory_order_relaxed);
	head = atomic_load_explicit(&zc->done, memory_order_relaxed);
	do {
		p->next = head;
		/* D1: p's contents before it is visible (pairs with D2). */
	} while (!atomic_compare_exchange_weak_explicit(&zc->done, &head, p,
							memory_order_release,
							memory_order_relaxed));
	if (atomic_load_explicit(&zc->orphaned, memory_order_seq_cst)) {
		zc_drain_orphaned(zc);
	} else if (atomic_load_explicit(&zc->sleeping, memory_order_seq_cst)) {
		/* K1: the push above is before this load (seq_cst), and the
		 * queue thread stores sleeping before its last look at done
		 * (K2): one of us sees the other. */
		(void)pvio_evtchn_notify(zc->ev, zc->kick_port);
	}
	zc_put(zc);
}

/*
 * Answer a list of packets the port let go of: every mapping ended in one
 * unmap call (before any response: the guest may revoke as soon as it
 * sees one), then OKAY on each. Returns the packets; the caller drops
 * their references on zc->outstanding.
 */
static uint32_t answer_done(struct nb_queue *q, struct nb_txp *list)
{
	struct pvio_gnt_back *g = q->nb->cfg.gnt;
	uint32_t cap = NB_TX_BATCH * q->nb->fatal_slots, nu = 0, n = 0;

	for (struct nb_txp *p = list; p; p = p->next) {
		if (nu + p->nr_handles > cap) {
			(void)pvio_gnt_unmap(g, q->unmapops, nu);
			nu = 0;
		}
		for (uint32_t i = 0; i < p->nr_handles; i++)
			q->unmapops[nu++].handle = p->handles[i];
		p->nr_handles = 0;
	}
	if (nu)
		(void)pvio_gnt_unmap(g, q->unmapops, nu);
	while (list) {
		struct nb_txp *next = list->next;

		answer(q, list, PVIO_NETIF_RSP_OKAY);
		txp_put(q, list);
		n++;
		list = next;
	}
	return n;
}

int nb_tx_reap(struct nb_queue *q)
{
	struct nb_txzc *zc = q->zc;
	uint32_t n;

	if (!atomic_load_explicit(&zc->done, memory_order_relaxed))
		return 0;
	/* D2: pairs with D1 in netback_port_tx_done(). */
	n = answer_done(q, atomic_exchange_explicit(&zc->done, NULL, memory_order_acquire));
	atomic_fetch_sub_explicit(&zc->outstanding, n, memory_order_relaxed);
	return (int)n;
}

/* ---- one round ------------------------------------------------------------------ */

static void count_verdict(struct nb_queue *q, enum nb_tx_verdict v)
{
	static const enum nb_ctr map[] = {
		[NB_TX_BAD_SIZE] = C_TX_ERR_SIZE,
		[NB_TX_BAD_OFFSET] = C_TX_ERR_OFFSET,
		[NB_TX_TOO_MANY_SLOTS] = C_TX_ERR_SLOTS,
		[NB_TX_BAD_EXTRA] = C_TX_ERR_EXTRA,
		[NB_TX_BAD_GSO] = C_TX_ERR_GSO,
	};
	static const char *const why[] = {
		[NB_TX_BAD_SIZE] = "bad size",
		[NB_TX_BAD_OFFSET] = "slot past its page",
		[NB_TX_TOO_MANY_SLOTS] = "too many slots",
		[NB_TX_BAD_EXTRA] = "bad extra info",
		[NB_TX_BAD_GSO] = "bad GSO",
	};

	nb_count(&q->cnt, map[v], 1);
	nb_log(q->nb, "netback %u/%u queue %u: tx packet refused (%s)",
	       q->nb->cfg.fe, q->nb->devid, q->idx, why[v]);
}

/* Per packet of the batch: where its grant ops are (copy: q->copies,
 * map: q->mapops). */
struct stage {
	uint32_t first, n;
	bool copy;
};

/* Hot counters of one round, stored once at its end. */
struct nb_tally {
	uint64_t pkts, bytes, zc, copy;
};

static void tally_flush(struct nb_queue *q, const struct nb_tally *t)
{
	if (!t->pkts)
		return;
	nb_count(&q->cnt, C_TX_PKTS, t->pkts);
	nb_count(&q->cnt, C_TX_BYTES, t->bytes);
	if (t->zc)
		nb_count(&q->cnt, C_TX_ZC, t->zc);
	if (t->copy)
		nb_count(&q->cnt, C_TX_COPY, t->copy);
}

/* Fill offload metadata from the guest's flags and the parsed headers.
 * Returns 0 or -EINVAL (csum/GSO asked on a packet we cannot parse). */
static int tx_offloads(struct nb_txp *p, const struct nb_tx_desc *d)
{
	struct netback_pkt *pkt = &p->pkt;
	uint8_t hdr[128];
	uint32_t got;

	pkt->flags &= (uint16_t)~(NETBACK_PKT_CSUM_PARTIAL | NETBACK_PKT_DATA_VALID |
				  NETBACK_PKT_GSO_MASK);
	pkt->l2_len = 0;
	pkt->l3_len = 0;
	pkt->l4_len = 0;
	pkt->l4_proto = 0;
	pkt->gso_size = 0;
	if (d->flags & PVIO_NETTXF_data_validated)
		pkt->flags |= NETBACK_PKT_DATA_VALID;
	if (!(d->flags & PVIO_NETTXF_csum_blank) && !d->gso_type)
		return 0;
	got = nb_pkt_gather(pkt, hdr, sizeof(hdr));
	if (nb_pkt_parse(hdr, got, pkt))
		return -EINVAL;
	/* A GSO packet is always checksum-partial (Linux forces it). */
	pkt->flags |= NETBACK_PKT_CSUM_PARTIAL;
	if (d->gso_type) {
		if (pkt->l4_proto != 6 ||
		    (d->gso_type == PVIO_NETIF_GSO_TYPE_TCPV6) != (pkt->ipv6 != 0))
			return -EINVAL;
		pkt->flags |= d->gso_type == PVIO_NETIF_GSO_TYPE_TCPV4 ?
			      NETBACK_PKT_GSO_TCPV4 : NETBACK_PKT_GSO_TCPV6;
		pkt->gso_size = d->gso_size;
	}
	return 0;
}

/*
 * A copy slot whose grant could not be mapped for want of mapping handles
 * (something else holds them all): copied the old way, a grant copy,
 * which needs none, into the port buffer's frame. done: the packet's
 * bytes already in the buffer.
 */
static bool copy_by_grant(struct nb_queue *q, const struct pvio_gnt_map_op *m,
			  const struct nb_txcopy *c, const struct netback_pkt *pkt, uint32_t done)
{
	uint32_t doff = (uint32_t)((uintptr_t)pkt->frag[0].addr & (PVIO_PAGE_SIZE - 1)) + done;
	struct pvio_gnt_copy_op op = {
		.source = { .u.ref = m->ref, .domid = m->dom, .offset = c->off },
		.dest = { .u.pfn = pkt->frag[0].pfn, .domid = PVIO_DOMID_SELF,
			  .offset = (uint16_t)doff },
		.len = c->len,
		.flags = PVIO_GNTCOPY_source_gref,
	};

	if (pkt->frag[0].pfn == NETBACK_PFN_NONE || doff + c->len > PVIO_PAGE_SIZE)
		return false;
	return pvio_gnt_copy(q->nb->cfg.gnt, &op, 1) == 0 && op.status == PVIO_GNTST_okay;
}

/*
 * The copy path maps instead of grant-copying: one read-only map per run
 * of slots naming the same grant (netfront packs a burst of small frames
 * into one page), memcpy from it into the port's buffer, and one unmap
 * call for the batch. The grant is checked by the map exactly as a grant
 * copy checks it; each slot's offset + size was checked on its copy
 * (nb_tx_check) and the mapping is read-only. A grant copy pins and
 * unpins per slot (about 300 instructions and a dozen atomic operations).
 */
int nb_tx_round(struct nb_queue *q)
{
	struct pvio_netback *nb = q->nb;
	const struct netback_port_ops *port = nb->port;
	struct stage st[NB_TX_BATCH];
	struct nb_tally t = { 0 };
	pvio_grant_ref_t last_ref = PVIO_GNT_REF_INVALID;
	uint32_t npk = 0, nmap = 0, ncmap = 0, ncopy = 0, nx = 0, nzc = 0;
	int work = 0;

	while (npk < NB_TX_BATCH && q->txp_free) {
		struct nb_tx_desc *d = &q->desc;
		struct nb_txp *p;
		enum nb_tx_verdict v;

		/* Collect one chain, one copied-out slot at a time. */
		while (q->nchain == 0 || !nb_tx_chain_complete(q->chain, q->nchain)) {
			int r;

			if (q->nchain >= nb->fatal_slots) {
				nb_count(&q->cnt, C_TX_FATAL, 1);
				nb_vif_fatal(q, "tx packet of more than %u slots", nb->fatal_slots);
				return -EBADMSG;
			}
			r = pvio_netif_tx_back_get_req(&q->tx, &q->chain[q->nchain]);
			if (r < 0)
				return -EPROTO;
			if (r == 0)
				goto run; /* the rest is not published yet */
			q->nchain++;
		}
		work++;
		p = txp_get(q);
		v = nb_tx_check(&nb->lim, q->chain, q->nchain, d);
		q->nchain = 0;
		p->nr_ids = d->nr_data;
		memcpy(p->ids, d->id, d->nr_data * sizeof(p->ids[0]));
		p->nr_extras = d->nr_extras;
		p->nr_handles = 0;
		if (v != NB_TX_OK) {
			count_verdict(q, v);
			answer(q, p, PVIO_NETIF_RSP_ERROR);
			txp_put(q, p);
			continue;
		}
		if (d->mcast_add || d->mcast_del) {
			/* A dummy request carrying the filter change (Linux:
			 * answered, never sent). */
			if (d->mcast_add)
				nb_mcast_update(nb, d->mcast_add_addr, true);
			if (d->mcast_del)
				nb_mcast_update(nb, d->mcast_del_addr, false);
			nb_count(&q->cnt, C_TX_MCAST, 1);
			answer(q, p, PVIO_NETIF_RSP_OKAY);
			txp_put(q, p);
			continue;
		}
		/* Stage its grant operations. */
		struct netback_pkt *pkt = &p->pkt;
		struct stage *s = &st[npk];

		pkt->len = d->len;
		pkt->flags = 0;
		pkt->port_priv = NULL;
		pkt->nr_frags = 0;
		s->copy = d->len <= nb->copy_threshold && port->tx_copy_buf &&
			  port->tx_copy_buf(nb->port_ctx, q->idx, pkt) == 0;
		s->n = d->nr_data;
		if (s->copy) {
			s->first = ncopy;
			for (uint32_t k = 0; k < d->nr_data; k++) {
				if (d->gref[k] != last_ref || ncmap == 0) {
					struct pvio_gnt_map_op *op = &q->cmapops[ncmap++];

					op->ref = d->gref[k];
					op->dom = nb->cfg.fe;
					op->flags = PVIO_GNTMAP_readonly;
					op->status = 0;
					op->addr = NULL;
					last_ref = d->gref[k];
				}
				q->copies[ncopy++] = (struct nb_txcopy){
					.map = ncmap - 1, .off = d->off[k], .len = d->size[k] };
			}
			pkt->frag[0].len = d->len;
			pkt->nr_frags = 1;
			pkt->flags |= NETBACK_PKT_PORTBUF;
		} else {
			s->first = nmap;
			for (uint32_t k = 0; k < d->nr_data; k++) {
				struct pvio_gnt_map_op *op = &q->mapops[nmap++];

				op->ref = d->gref[k];
				op->dom = nb->cfg.fe;
				op->flags = PVIO_GNTMAP_readonly;
				op->status = 0;
				op->addr = NULL;
				pkt->frag[k].len = d->size[k];
				pkt->frag[k].pfn = NETBACK_PFN_NONE;
				pkt->frag[k].addr = (void *)(uintptr_t)d->off[k]; /* + page */
			}
			pkt->nr_frags = (uint16_t)d->nr_data;
			pkt->flags |= NETBACK_PKT_ZEROCOPY;
		}
		/* The guest's offload wishes travel with the packet. */
		pkt->port_aux = (uint32_t)d->flags | (uint32_t)d->gso_type << 16;
		pkt->gso_size = d->gso_size;
		q->batch[npk++] = p;
	}
run:
	if (npk == 0)
		return work;
	if (ncmap) {
		(void)pvio_gnt_map(nb->cfg.gnt, q->cmapops, ncmap);
		/* The guest wrote these lines on its CPU: start every miss
		 * now, so they overlap instead of stalling each memcpy. */
		for (uint32_t i = 0; i < ncopy; i++) {
			const struct nb_txcopy *c = &q->copies[i];
			const uint8_t *a = q->cmapops[c->map].addr;

			if (!a)
				continue;
			for (uint32_t o = c->off & ~63u; o < (uint32_t)c->off + c->len; o += 64)
				__builtin_prefetch(a + o, 0, 3);
		}
	}
	if (nmap)
		(void)pvio_gnt_map(nb->cfg.gnt, q->mapops, nmap);

	for (uint32_t i = 0; i < npk; i++) {
		struct nb_txp *p = q->batch[i];
		struct netback_pkt *pkt = &p->pkt;
		struct stage *s = &st[i];
		struct nb_tx_desc d; /* only the offload fields */
		bool bad = false;

		if (s->copy) {
			uint8_t *dst = pkt->frag[0].addr;

			for (uint32_t k = 0; k < s->n && !bad; k++) {
				const struct nb_txcopy *c = &q->copies[s->first + k];
				const struct pvio_gnt_map_op *op = &q->cmapops[c->map];

				if (op->status == PVIO_GNTST_okay)
					memcpy(dst, (const uint8_t *)op->addr + c->off, c->len);
				else
					bad = op->status != PVIO_GNTST_no_space ||
					      !copy_by_grant(q, op, c, pkt,
							     (uint32_t)(dst - (uint8_t *)pkt->frag[0].addr));
				dst += c->len;
			}
			if (bad)
				port->tx_copy_abort(nb->port_ctx, q->idx, pkt);
		} else {
			for (uint32_t k = 0; k < s->n; k++) {
				struct pvio_gnt_map_op *op = &q->mapops[s->first + k];

				if (op->status != PVIO_GNTST_okay) {
					bad = true;
					continue;
				}
				p->handles[p->nr_handles++] = op->handle;
				pkt->frag[k].addr = (uint8_t *)op->addr +
						    (uintptr_t)pkt->frag[k].addr;
			}
			if (bad)
				unmap_handles(nb->cfg.gnt, p);
		}
		if (bad) {
			nb_count(&q->cnt, C_TX_ERR_GRANT, 1);
			nb_log(nb, "netback %u/%u queue %u: tx packet refused (a grant "
			       "did not map)", nb->cfg.fe, nb->devid, q->idx);
			answer(q, p, PVIO_NETIF_RSP_ERROR);
			txp_put(q, p);
			continue;
		}
		d.flags = (uint16_t)(pkt->port_aux & 0xffff);
		d.gso_type = (uint8_t)(pkt->port_aux >> 16);
		d.gso_size = pkt->gso_size;
		if (tx_offloads(p, &d)) {
			if (s->copy)
				port->tx_copy_abort(nb->port_ctx, q->idx, pkt);
			else
				unmap_handles(nb->cfg.gnt, p);
			nb_count(&q->cnt, C_TX_ERR_CSUM, 1);
			answer(q, p, PVIO_NETIF_RSP_ERROR);
			txp_put(q, p);
			continue;
		}
		pkt->port_aux = 0;
		nzc += !s->copy;
		q->bpkts[nx] = pkt;
		q->bowners[nx] = p;
		q->batch[nx++] = p;
	}
	if (ncmap) {
		/* The copies are made: end the copy mappings, one call. */
		uint32_t nu = 0;

		for (uint32_t i = 0; i < ncmap; i++)
			if (q->cmapops[i].status == PVIO_GNTST_okay)
				q->unmapops[nu++].handle = q->cmapops[i].handle;
		(void)pvio_gnt_unmap(nb->cfg.gnt, q->unmapops, nu);
	}
	if (nx == 0)
		return work;
	/* Mapped packets count before the port sees them: a completion may
	 * come from another thread before xmit returns. */
	if (nzc)
		atomic_fetch_add_explicit(&q->zc->outstanding, nzc, memory_order_relaxed);
	xmit_zc = q->zc;
	port->xmit(nb->port_ctx, q->idx, q->bpkts, q->bowners, q->bstatus, nx);
	xmit_zc = NULL;
	uint32_t released = 0;

	for (uint32_t i = 0; i < nx; i++) {
		struct nb_txp *p = q->batch[i];
		bool zc = p->pkt.flags & NETBACK_PKT_ZEROCOPY;
		int stt = q->bstatus[i];

		if (stt == NETBACK_TX_HELD && zc) {
			t.pkts++;
			t.bytes += p->pkt.len;
			t.zc++;
			continue;
		}
		released += zc;
		if (stt == NETBACK_TX_SENT) {
			t.pkts++;
			t.bytes += p->pkt.len;
			t.zc += zc;
			t.copy += !zc;
		} else if (stt == NETBACK_TX_FILTERED) {
			nb_count(&q->cnt, C_TX_DROP_SPOOF, 1);
		} else {
			nb_count(&q->cnt, C_TX_DROP_PORT, 1);
		}
		if (p->nr_handles)
			unmap_handles(nb->cfg.gnt, p);
		/* Linux answers OKAY for what its stack dropped too: the guest
		 * did nothing wrong. */
		answer(q, p, PVIO_NETIF_RSP_OKAY);
		txp_put(q, p);
	}
	/* Held packets the port already let go of, in this thread. */
	if (q->zc->local) {
		released += answer_done(q, q->zc->local);
		q->zc->local = NULL;
	}
	if (released)
		atomic_fetch_sub_explicit(&q->zc->outstanding, released, memory_order_relaxed);
	tally_flush(q, &t);
	return work;
}

/* ---- set-up / tear-down ---------------------------------------------------------- */

int nb_tx_init(struct nb_queue *q)
{
	struct pvio_netback *nb = q->nb;
	uint32_t n = q->tx.nr_slots, ops = NB_TX_BATCH * nb->fatal_slots;
	struct nb_txzc *zc = calloc(1, sizeof(*zc));

	q->mapops = calloc(ops, sizeof(*q->mapops));
	q->cmapops = calloc(ops, sizeof(*q->cmapops));
	q->copies = calloc(ops, sizeof(*q->copies));
	q->unmapops = calloc(ops, sizeof(*q->unmapops));
	if (!zc || !q->mapops || !q->cmapops || !q->copies || !q->unmapops)
		goto fail;
	zc->pend = calloc(n, sizeof(*zc->pend));
	if (!zc->pend)
		goto fail;
	zc->nr_pend = n;
	zc->gnt = nb->cfg.gnt;
	zc->ev = nb->cfg.evtchn;
	zc->kick_port = q->loop_peer;
	atomic_init(&zc->outstanding, 1); /* the queue's own reference */
	q->txp_free = NULL;
	for (uint32_t i = n; i-- > 0;) {
		zc->pend[i].zc = zc;
		zc->pend[i].next = q->txp_free;
		q->txp_free = &zc->pend[i];
	}
	q->zc = zc;
	q->nchain = 0;
	return 0;
fail:
	if (zc)
		free(zc->pend);
	free(zc);
	free(q->mapops);
	free(q->cmapops);
	free(q->copies);
	free(q->unmapops);
	q->mapops = NULL;
	q->cmapops = NULL;
	q->copies = NULL;
	q->unmapops = NULL;
	return -ENOMEM;
}

void nb_tx_fini(struct nb_queue *q, uint32_t timeout_ms)
{
	struct nb_txzc *zc = q->zc;
	uint64_t end = pvio_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	if (!zc)
		return;
	/* Give the port time to let go of held packets, answering them. */
	while (atomic_load(&zc->outstanding) > 1 && pvio_now_ns() < end) {
		if (nb_tx_reap(q) == 0) {
			struct timespec ts = { 0, 200000 };

			nanosleep(&ts, NULL);
		}
	}
	(void)nb_tx_reap(q);
	if (!q->tx.error)
		nb_tx_push(q);
	if (atomic_load(&zc->outstanding) > 1)
		nb_log(q->nb, "netback %u/%u queue %u: port still holds %u tx packets; "
		       "their grants stay mapped until it lets go",
		       q->nb->cfg.fe, q->nb->devid, q->idx,
		       atomic_load(&zc->outstanding) - 1);
	atomic_store_explicit(&zc->orphaned, true, memory_order_seq_cst);
	zc_drain_orphaned(zc);
	zc_put(zc); /* the queue's reference */
	q->zc = NULL;
	q->txp_free = NULL;
	free(q->mapops);
	free(q->cmapops);
	free(q->copies);
	free(q->unmapops);
	q->mapops = NULL;
	q->cmapops = NULL;
	q->copies = NULL;
	q->unmapops = NULL;
}
