/* SPDX-License-Identifier: MIT */
/*
 * fuzz_netback_tx: netback's guest -> port path, driven by a hostile guest.
 *
 * The real tx code (netback/tx.c: nb_tx_round -> slot chains copied out
 * one slot at a time -> nb_tx_check -> grant copy into a port buffer or
 * grant map for zero copy -> nb_pkt_parse / checksum offloads -> port
 * xmit -> responses; nb_tx_reap and netback_port_tx_done for zero-copy
 * completions; nb_tx_fini with packets still held) runs over a tx ring
 * whose slots, extras, indices, data pages and grant entries are the
 * fuzzer's. The loop around it is the tx half of netback's queue thread
 * (interface.c queue_main: reap, round, push, then the sleeping flag and
 * the final check). Grants: real grant tables over real machine memory
 * (fuzz_machine.c). The port is a checking port (below).
 *
 * Oracles, besides ASan/UBSan/LSan:
 *  - every packet the port gets is well formed: fragments inside machine
 *    memory and inside one page each, their lengths summing to the packet
 *    length, a copy buffer inside the frame it names, checksum offsets
 *    inside the packet (the port reads every byte);
 *  - when the queue goes idle on a healthy ring, every slot consumed is
 *    answered, except those of packets the port holds and of a chain the
 *    guest has not finished publishing; the only grants mapped are the
 *    held packets' pages;
 *  - after nb_tx_fini and the port letting go: no grant mapped.
 * Input format: fuzz_formats.h (NT_*).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../netback/common.h"

#include "fuzz_formats.h"
#include "fuzz_machine.h"
#include "fuzz_util.h"

/* interface.c's versions also mask ports and log; here, a flag. */
void nb_vif_fatal(struct nb_queue *q, const char *fmt, ...)
{
	(void)fmt;
	atomic_store(&q->nb->broken, true);
}

void nb_log(struct pvio_netback *nb, const char *fmt, ...)
{
	(void)nb;
	(void)fmt;
}

/* interface.c's, as it is: the guest's multicast filter. */
void nb_mcast_update(struct pvio_netback *nb, const uint8_t *mac, bool add)
{
	for (uint32_t i = 0; i < nb->nr_mcast; i++) {
		if (memcmp(nb->mcast[i], mac, 6) != 0)
			continue;
		if (!add) {
			memmove(nb->mcast[i], nb->mcast[i + 1], (nb->nr_mcast - i - 1) * 6);
			nb->nr_mcast--;
		}
		return;
	}
	if (add && nb->nr_mcast < NB_MCAST_MAX && (mac[0] & 1))
		memcpy(nb->mcast[nb->nr_mcast++], mac, 6);
}

/* ---- the checking port ------------------------------------------------------- */

#define CP_BUF_PFN0 64u       /* backend pfns 64.. hold copy buffers */
#define CP_MAX_HELD 512u

static struct {
	const struct pvio_machine *m;
	uint8_t mode;             /* bit 0 hold, 1 drop, 2 filter, 3 offset bufs */
	uint64_t rng;
	uint32_t next_buf;
	void *held[CP_MAX_HELD];
	uint32_t nr_held;
	uint32_t held_slots;      /* ring slots the held packets answer */
	uint32_t held_handles;
} cp;

static uint32_t cp_rand(void)
{
	cp.rng ^= cp.rng << 13;
	cp.rng ^= cp.rng >> 7;
	cp.rng ^= cp.rng << 17;
	return (uint32_t)cp.rng;
}

static int cp_copy_buf(void *ctx, uint32_t q, struct netback_pkt *pkt)
{
	uint32_t pfn = CP_BUF_PFN0 + cp.next_buf++ % NB_TX_BATCH, off = 0;

	(void)ctx;
	(void)q;
	if (pkt->len > PVIO_PAGE_SIZE)
		return -ENOBUFS;
	if (cp.mode & 8)
		off = cp_rand() % (PVIO_PAGE_SIZE - pkt->len + 1);
	pkt->frag[0].addr = (uint8_t *)pvio_mach_pfn_ptr(cp.m, FM_BE, pfn) + off;
	pkt->frag[0].pfn = pfn;
	pkt->frag[0].len = pkt->len;
	pkt->port_priv = pkt->frag[0].addr;
	return 0;
}

static void cp_copy_abort(void *ctx, uint32_t q, struct netback_pkt *pkt)
{
	(void)ctx;
	(void)q;
	FZ_CHECK(pkt->flags & NETBACK_PKT_PORTBUF || pkt->port_priv);
}

/* Where cp_check() reads each fragment to (at most a page: checked). */
static uint8_t cp_sink[PVIO_PAGE_SIZE];

static void cp_check(const struct netback_pkt *pkt)
{
	const uint8_t *pool = cp.m->pool;
	size_t pool_len = (size_t)cp.m->nr_frames * PVIO_PAGE_SIZE;
	uint32_t sum = 0;

	FZ_CHECK(pkt->nr_frags >= 1 && pkt->nr_frags <= NETBACK_MAX_FRAGS);
	FZ_CHECK(pkt->len >= NB_ETH_HLEN);
	for (uint32_t i = 0; i < pkt->nr_frags; i++) {
		const uint8_t *a = pkt->frag[i].addr;
		uint32_t len = pkt->frag[i].len;

		FZ_CHECK(a >= pool && (size_t)(a - pool) + len <= pool_len);
		/* A fragment never crosses its page. */
		FZ_CHECK(((uintptr_t)(a - pool) & (PVIO_PAGE_SIZE - 1)) + len <= PVIO_PAGE_SIZE);
		if (pkt->frag[i].pfn != NETBACK_PFN_NONE)
			FZ_CHECK(pvio_mach_pfn_ptr(cp.m, FM_BE, pkt->frag[i].pfn) ==
				 (const void *)((uintptr_t)a & ~(uintptr_t)(PVIO_PAGE_SIZE - 1)));
		/* Read every byte: memcpy, not a byte loop, whose coverage
		 * callbacks were a tenth of an input's time. */
		memcpy(cp_sink, a, len);
		sum += len;
	}
	FZ_CHECK(sum == pkt->len);
	FZ_CHECK(!!(pkt->flags & NETBACK_PKT_ZEROCOPY) != !!(pkt->flags & NETBACK_PKT_PORTBUF));
	if (pkt->flags & NETBACK_PKT_CSUM_PARTIAL)
		FZ_CHECK((uint32_t)pkt->csum_start + pkt->csum_offset + 2 <= pkt->len);
	if (pkt->flags & NETBACK_PKT_GSO_MASK)
		FZ_CHECK(pkt->gso_size > 0 && (pkt->flags & NETBACK_PKT_CSUM_PARTIAL));
}

static void cp_xmit(void *ctx, uint32_t q, struct netback_pkt **pkts,
		    void **owners, int *status, uint32_t n)
{
	(void)ctx;
	(void)q;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t r = cp_rand() % 8;

		cp_check(pkts[i]);
		status[i] = NETBACK_TX_SENT;
		if ((cp.mode & 1) && r < 4 && (pkts[i]->flags & NETBACK_PKT_ZEROCOPY) &&
		    cp.nr_held < CP_MAX_HELD) {
			struct nb_txp *p = owners[i];

			status[i] = NETBACK_TX_HELD;
			cp.held[cp.nr_held++] = owners[i];
			cp.held_slots += p->nr_ids + p->nr_extras;
			cp.held_handles += p->nr_handles;
		} else if ((cp.mode & 2) && r == 4) {
			status[i] = NETBACK_TX_DROPPED;
		} else if ((cp.mode & 4) && r == 5) {
			status[i] = NETBACK_TX_FILTERED;
		}
	}
}

/* The port lets go of every held packet. */
static void cp_complete_all(void)
{
	for (uint32_t i = 0; i < cp.nr_held; i++)
		netback_port_tx_done(cp.held[i]);
	cp.nr_held = 0;
	cp.held_slots = 0;
	cp.held_handles = 0;
}

static int cp_recv(void *ctx, uint32_t q, struct netback_pkt *pkts, uint32_t max)
{
	(void)ctx;
	(void)q;
	(void)pkts;
	(void)max;
	return 0;
}

static const struct netback_port_ops cp_port_copy = {
	.name = "fuzz-check",
	.tx_copy_buf = cp_copy_buf,
	.tx_copy_abort = cp_copy_abort,
	.xmit = cp_xmit,
	.recv = cp_recv,
};

static const struct netback_port_ops cp_port_nocopy = {
	.name = "fuzz-check-zc",
	.xmit = cp_xmit,
	.recv = cp_recv,
};

/* ---- the guest ------------------------------------------------------------------ */

struct guest {
	struct fm *f;
	struct pvio_sring_hdr *sring;
	unsigned char *slots;
	uint32_t nr_slots;
	uint32_t prod;
};

static void *guest_slot(struct guest *g, uint32_t i)
{
	return g->slots + (size_t)(i & (g->nr_slots - 1)) * sizeof(union pvio_netif_tx_slot);
}

static void op_slot(struct guest *g, struct fz *in)
{
	struct pvio_netif_tx_request r;

	r.gref = fm_ref(g->f, fz_u8(in));
	r.offset = fz_u16(in);
	r.flags = fz_u16(in);
	r.id = fz_u16(in);
	r.size = fz_u16(in);
	memcpy(guest_slot(g, g->prod++), &r, sizeof(r));
}

static void op_extra(struct guest *g, struct fz *in)
{
	struct pvio_netif_extra_info e;

	memset(&e, 0, sizeof(e));
	e.type = fz_u8(in);
	e.flags = fz_u8(in);
	fz_bytes(in, &e.u, sizeof(e.u));
	memset(guest_slot(g, g->prod), 0, sizeof(union pvio_netif_tx_slot));
	memcpy(guest_slot(g, g->prod++), &e, sizeof(e));
}

static void op_data(struct guest *g, struct fz *in)
{
	uint8_t *page = fm_page(g->f, fz_u8(in));
	uint32_t off = fz_u16(in) % PVIO_PAGE_SIZE, len = fz_u8(in);

	if (len > PVIO_PAGE_SIZE - off)
		len = PVIO_PAGE_SIZE - off;
	fz_bytes(in, page + off, len);
}

static void op_publish(struct guest *g, struct fz *in)
{
	uint8_t mode = fz_u8(in) % 3;
	uint32_t v = g->prod;

	if (mode == 1)
		v = fz_u32(in);
	else if (mode == 2)
		v = atomic_load(&g->sring->req_prod) + (uint32_t)(int32_t)(int8_t)fz_u8(in);
	pvio_store_release(&g->sring->req_prod, v);
}

/* ---- the queue thread's tx loop, until it would sleep ------------------------------ */

static void run(struct nb_queue *q, struct fz *in)
{
	struct pvio_netback *nb = q->nb;
	uint32_t iters = 0;

	cp.mode = fz_u8(in);
	cp.rng = (uint64_t)fz_u32(in) * 2654435761u + 1;
	if (atomic_load(&nb->broken))
		return; /* the vif is disabled: its thread is gone */
	for (;;) {
		int w = 0, r;

		FZ_CHECK(iters++ < 100000); /* no livelock */
		w += nb_tx_reap(q);
		r = nb_tx_round(q);
		if (r == -EPROTO)
			nb_vif_fatal(q, "tx ring protocol");
		if (r < 0)
			break;
		w += r;
		nb_tx_push(q);
		if (w)
			continue;
		atomic_store(&q->zc->sleeping, 1);
		if (atomic_load(&q->zc->done)) {
			atomic_store(&q->zc->sleeping, 0);
			continue;
		}
		r = pvio_ring_back_final_check(&q->tx);
		if (r != 0) {
			atomic_store(&q->zc->sleeping, 0);
			if (r < 0) {
				nb_vif_fatal(q, "tx ring protocol");
				break;
			}
			continue;
		}
		break; /* asleep */
	}
	if (fz_debug()) {
		fprintf(stderr, "run: broken %d cons %u rsp %u nchain %u held %u |",
			(int)atomic_load(&nb->broken), q->tx.req_cons,
			q->tx.rsp_prod_pvt, q->nchain, cp.nr_held);
		for (int i = 0; i < C_RX_PKTS; i++)
			fprintf(stderr, " %llu", (unsigned long long)q->cnt.v[i]);
		fprintf(stderr, "\n");
	}
	if (atomic_load(&nb->broken))
		return;
	/* Idle on a healthy ring: every slot answered but held/unfinished. */
	FZ_CHECK(q->tx.rsp_prod_pvt + cp.held_slots + q->nchain == q->tx.req_cons);
	FZ_CHECK(q->tx.rsp_prod_pub == q->tx.rsp_prod_pvt);
	FZ_CHECK(fm_mapped(fm_get()) == cp.held_handles);
}

/*
 * The queue's tx state is kept between inputs: nb_tx_init() allocates
 * the pending-packet array (ring slots x ~800 bytes, which ASan serves
 * by mmap, fresh pages to fault in on every input) and nb_tx_fini()
 * frees it, most of an input's time. A kept queue is put back exactly as
 * a zeroed queue plus nb_tx_init() leaves it (kept_reset(), which also
 * reallocates the grant-op arrays, sized by fatal_slots, when that
 * changes). The real nb_tx_fini() still runs whenever the port holds
 * packets at tear-down (the orphaned path) and for inputs whose cfg has
 * bits 5-7 all set; the next input then runs the real nb_tx_init().
 */
static struct {
	struct pvio_netback *nb;
	struct nb_queue *q;
	unsigned char *ring;
	uint32_t fatal_slots;
	bool live;               /* q holds nb_tx_init()'s state */
} kept;

static void kept_reset(struct nb_queue *q)
{
	struct nb_txzc *zc = q->zc;
	uint32_t ops = NB_TX_BATCH * q->nb->fatal_slots;

	if (q->nb->fatal_slots != kept.fatal_slots) {
		/* Sized for this input's fatal_slots, as nb_tx_init() does. */
		free(q->mapops);
		free(q->cmapops);
		free(q->copies);
		free(q->unmapops);
		q->mapops = calloc(ops, sizeof(*q->mapops));
		q->cmapops = calloc(ops, sizeof(*q->cmapops));
		q->copies = calloc(ops, sizeof(*q->copies));
		q->unmapops = calloc(ops, sizeof(*q->unmapops));
		FZ_CHECK(q->mapops && q->cmapops && q->copies && q->unmapops);
		kept.fatal_slots = q->nb->fatal_slots;
	} else {
		memset(q->mapops, 0, ops * sizeof(*q->mapops));
		memset(q->cmapops, 0, ops * sizeof(*q->cmapops));
		memset(q->copies, 0, ops * sizeof(*q->copies));
		memset(q->unmapops, 0, ops * sizeof(*q->unmapops));
	}
	FZ_CHECK(zc->nr_pend == q->tx.nr_slots);
	memset(zc->pend, 0, zc->nr_pend * sizeof(*zc->pend));
	atomic_store(&zc->done, NULL);
	atomic_store(&zc->outstanding, 1);
	atomic_store(&zc->orphaned, false);
	atomic_store(&zc->freed, false);
	atomic_store(&zc->sleeping, 0);
	zc->gnt = q->nb->cfg.gnt;
	zc->ev = q->nb->cfg.evtchn;
	zc->kick_port = q->loop_peer;
	zc->local = NULL;
	q->txp_free = NULL;
	for (uint32_t i = zc->nr_pend; i-- > 0;) {
		zc->pend[i].zc = zc;
		zc->pend[i].next = q->txp_free;
		q->txp_free = &zc->pend[i];
	}
	q->nchain = 0;
}

/* The real tear-down, with the port letting go of what it holds. */
static void kept_fini(void)
{
	if (!kept.live)
		return;
	nb_tx_fini(kept.q, 0);
	cp_complete_all();
	FZ_CHECK(fm_mapped(fm_get()) == 0);
	kept.live = false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fm *f = fm_get();
	struct pvio_netback *nb;
	struct nb_queue *q;
	unsigned char *ring;
	struct guest g;
	struct fz in;
	uint8_t cfg;
	uint32_t ops = 0, max_slots, fatal_slots;
	struct nb_txzc *zc = NULL;
	void *mapops = NULL, *cmapops = NULL, *copies = NULL, *unmapops = NULL;

	fz_init(&in, data, size);
	fm_reset(f);
	memset(&cp, 0, sizeof(cp));
	cp.m = f->m;
	cfg = fz_u8(&in);
	max_slots = 1 + fz_u8(&in) % PVIO_NETIF_NR_SLOTS_MIN;
	fatal_slots = max_slots + fz_u8(&in) % 8;

	if (!kept.nb) {
		kept.nb = malloc(sizeof(*kept.nb));
		kept.q = malloc(sizeof(*kept.q));
		kept.ring = aligned_alloc(PVIO_PAGE_SIZE, PVIO_PAGE_SIZE);
		FZ_CHECK(kept.nb && kept.q && kept.ring);
	}
	nb = kept.nb;
	q = kept.q;
	ring = kept.ring;
	if (kept.live) {
		zc = q->zc;
		mapops = q->mapops;
		cmapops = q->cmapops;
		copies = q->copies;
		unmapops = q->unmapops;
	}
	/* As calloc() left them before. */
	memset(nb, 0, sizeof(*nb));
	memset(q, 0, sizeof(*q));
	nb->cfg.be = FM_BE;
	nb->cfg.fe = FM_FE;
	nb->cfg.gnt = f->gb;
	nb->cfg.evtchn = &fz_evtchn_handle;
	nb->port = cfg & 8 ? &cp_port_copy : &cp_port_nocopy;
	nb->lim.gso_tcpv4 = cfg & 1;
	nb->lim.gso_tcpv6 = cfg & 2;
	nb->lim.mcast = cfg & 4;
	nb->lim.max_slots = max_slots;
	nb->max_slots = nb->lim.max_slots;
	nb->fatal_slots = fatal_slots;
	nb->copy_threshold = fz_u16(&in);
	q->nb = nb;
	q->tx_port = q->rx_port = 1;
	q->loop_peer = 2;
	memset(ring, 0, PVIO_PAGE_SIZE);
	pvio_sring_init((struct pvio_sring_hdr *)ring, 0);
	FZ_CHECK(pvio_netif_tx_back_attach(&q->tx, ring, PVIO_PAGE_SIZE, 0) == 0);
	if (kept.live) {
		q->zc = zc;
		q->mapops = mapops;
		q->cmapops = cmapops;
		q->copies = copies;
		q->unmapops = unmapops;
		kept_reset(q);
	} else {
		FZ_CHECK(nb_tx_init(q) == 0);
		kept.live = true;
		kept.fatal_slots = fatal_slots;
	}

	g.f = f;
	g.sring = (struct pvio_sring_hdr *)ring;
	g.slots = ring + sizeof(struct pvio_sring_hdr);
	g.nr_slots = q->tx.nr_slots;
	g.prod = 0;

	while (fz_left(&in) > 0 && ops++ < 1024) {
		switch (fz_u8(&in) % NT_OP_COUNT) {
		case NT_OP_SLOT:
			op_slot(&g, &in);
			break;
		case NT_OP_EXTRA:
			op_extra(&g, &in);
			break;
		case NT_OP_RAW_SLOT: {
			uint8_t slot = fz_u8(&in);

			fz_bytes(&in, guest_slot(&g, slot), sizeof(union pvio_netif_tx_slot));
			break;
		}
		case NT_OP_DATA:
			op_data(&g, &in);
			break;
		case NT_OP_PUBLISH:
			op_publish(&g, &in);
			break;
		case NT_OP_GRANT: {
			uint8_t idx = fz_u8(&in);
			uint16_t fl = fz_u16(&in), dom = fz_u16(&in);

			fm_edit(f, idx, fl, dom, fz_u32(&in));
			break;
		}
		case NT_OP_RUN:
			run(q, &in);
			break;
		case NT_OP_COMPLETE:
			cp_complete_all();
			break;
		case NT_OP_CONSUME:
			/* Responses are the guest's to read; the backend does
			 * not care when. Nothing to do. */
			break;
		}
	}
	run(q, &in);
	/* Tear-down: sometimes the port still holds packets (orphaned: the
	 * last completion unmaps and frees), sometimes not. */
	if (cfg & 16)
		cp_complete_all();
	if (cp.nr_held > 0 || (cfg & 0xe0) == 0xe0) {
		kept_fini();
		return 0;
	}
	/* Nothing held: what nb_tx_fini() does before it frees. */
	(void)nb_tx_reap(q);
	if (!q->tx.error)
		nb_tx_push(q);
	FZ_CHECK(atomic_load(&q->zc->outstanding) == 1);
	FZ_CHECK(atomic_load(&q->zc->done) == NULL);
	FZ_CHECK(fm_mapped(f) == 0);
	return 0;
}

/* Tear down at exit so LeakSanitizer sees a clean process. */
static void __attribute__((destructor)) fuzz_fini(void)
{
	kept_fini();
	free(kept.ring);
	free(kept.q);
	free(kept.nb);
}
