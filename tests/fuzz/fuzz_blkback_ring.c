/* SPDX-License-Identifier: MIT */
/*
 * fuzz_blkback_ring: blkback's request path, driven by a hostile guest.
 *
 * The real request path (blkback/blkback.c, included below so its static
 * functions run as they are: queue_main -> consume -> handle_request ->
 * bb_req_check / indirect_copy_out / bb_segs_check / pages_map -> engine
 * -> complete -> respond -> push) runs over a shared ring whose slots and
 * indices, and the indirect pages and grant entries it reaches, are the
 * fuzzer's bytes. Grants are the host platform's real grant tables and
 * mapping code over real machine memory (fuzz_machine.c); the engine is a
 * checking engine (below); event channels are stubs whose "wait" ends the
 * queue thread's loop, so one RUN is exactly "the queue thread runs until
 * it would sleep, then drains".
 *
 * Oracles, besides ASan/UBSan/LSan:
 *  - every I/O the engine sees is well formed: a known op the device
 *    offers, sector-aligned, inside the disk, its iovecs inside machine
 *    memory and summing to its length (the engine writes reads into them
 *    and reads writes from them, so a bad pointer faults);
 *  - after a RUN on a healthy ring: nothing in flight, every request
 *    consumed has been answered and published, every pending slot free,
 *    and no grant stays mapped except persistent-cache entries;
 *  - after disconnect: no grant mapped at all.
 * Input format: fuzz_formats.h (BR_*).
 */
#include "../../blkback/blkback.c"

#include <stdlib.h>

#include "fuzz_formats.h"
#include "fuzz_machine.h"
#include "fuzz_util.h"

/* device.c's is rate-limited printing to stderr; here, silence. */
void bb_log(struct pvio_blkback *bb, const char *fmt, ...)
{
	(void)bb;
	(void)fmt;
}

/* ---- the ring pages: an exact-size allocation per connected queue -------- */

static unsigned char *ring_mem;

static int fz_ring_map(void *ctx, pvio_domid_t fe, const pvio_grant_ref_t *refs,
		       uint32_t n, void **va, uint32_t *handles)
{
	(void)ctx;
	(void)fe;
	(void)refs;
	for (uint32_t i = 0; i < n; i++)
		handles[i] = i;
	*va = ring_mem;
	return 0;
}

static int fz_ring_unmap(void *ctx, void *va, uint32_t n, const uint32_t *handles)
{
	(void)ctx;
	(void)va;
	(void)n;
	(void)handles;
	return 0;
}

static const struct pvio_blkback_ring_ops fz_ring_ops = {
	.map = fz_ring_map,
	.unmap = fz_ring_unmap,
};

/* ---- the checking engine --------------------------------------------------- */

struct ce_ctx {
	struct blkback_io **q;
	uint32_t depth, head, count;
};

static struct {
	const struct bb_limits *lim;
	const struct pvio_machine *m;
	uint32_t max_segs;
	uint8_t mode;      /* bit 0 partial submits, 1 partial reaps, 2 errors */
	uint64_t rng;
} ce;

static uint32_t ce_rand(void)
{
	ce.rng ^= ce.rng << 13;
	ce.rng ^= ce.rng >> 7;
	ce.rng ^= ce.rng << 17;
	return (uint32_t)ce.rng;
}

static int ce_open(const struct blkback_engine_params *p, void **out)
{
	struct ce_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->depth = p->depth;
	c->q = calloc(p->depth, sizeof(*c->q));
	if (!c->q) {
		free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

static void ce_check(struct blkback_io *io)
{
	uint64_t disk = ce.lim->sectors * BB_SECTOR_SIZE, sum = 0;
	const unsigned char *pool = ce.m->pool;
	size_t pool_len = (size_t)ce.m->nr_frames * PVIO_PAGE_SIZE;

	switch (io->op) {
	case BLKBACK_IO_READ:
	case BLKBACK_IO_WRITE:
		FZ_CHECK(io->op == BLKBACK_IO_READ || !ce.lim->readonly);
		FZ_CHECK(io->nr_iov >= 1 && io->nr_iov <= ce.max_segs);
		FZ_CHECK(io->len > 0 && io->len % BB_SECTOR_SIZE == 0);
		FZ_CHECK(io->offset % BB_SECTOR_SIZE == 0);
		FZ_CHECK(io->offset <= disk && io->len <= disk - io->offset);
		for (uint32_t i = 0; i < io->nr_iov; i++) {
			unsigned char *b = io->iov[i].iov_base;
			size_t len = io->iov[i].iov_len;

			FZ_CHECK(len > 0 && len % BB_SECTOR_SIZE == 0);
			FZ_CHECK(b >= pool && len <= pool_len &&
				 (size_t)(b - pool) <= pool_len - len);
			if (io->op == BLKBACK_IO_READ) {
				memset(b, 0x5a, len);
			} else {
				volatile unsigned char x = 0;

				for (size_t k = 0; k < len; k += 64)
					x ^= b[k];
				(void)x;
			}
			sum += len;
		}
		FZ_CHECK(sum == io->len);
		break;
	case BLKBACK_IO_FLUSH:
		FZ_CHECK(io->nr_iov == 0);
		FZ_CHECK(ce.lim->flush || ce.lim->barrier);
		break;
	case BLKBACK_IO_DISCARD:
	case BLKBACK_IO_SECURE_DISCARD:
		FZ_CHECK(ce.lim->discard && !ce.lim->readonly);
		FZ_CHECK(io->op == BLKBACK_IO_DISCARD || ce.lim->secure);
		FZ_CHECK(io->len > 0 && io->offset <= disk &&
			 io->len <= disk - io->offset);
		break;
	default:
		FZ_CHECK(!"unknown engine op");
	}
}

static int ce_submit(void *ctx, struct blkback_io *const *ios, uint32_t n)
{
	struct ce_ctx *c = ctx;
	uint32_t take = n, i;

	if (ce.mode & 1) {
		take = ce_rand() % (n + 1);
		if (take == 0 && c->count == 0)
			take = 1; /* an idle engine always takes one */
	}
	for (i = 0; i < take && c->count < c->depth; i++) {
		struct blkback_io *io = ios[i];
		uint32_t r = ce_rand() % 16;

		ce_check(io);
		io->result = io->op <= BLKBACK_IO_WRITE ? (int64_t)io->len : 0;
		if (ce.mode & 4) {
			if (r == 0)
				io->result = -EIO;
			else if (r == 1)
				io->result = -ENOSPC;
			else if (r == 2)
				io->result = -EOPNOTSUPP;
			else if (r == 3 && io->op <= BLKBACK_IO_WRITE)
				io->result = (int64_t)io->len - BB_SECTOR_SIZE;
		}
		c->q[(c->head + c->count++) % c->depth] = io;
	}
	return (int)i;
}

static int ce_reap(void *ctx, struct blkback_io **done, uint32_t max, bool wait)
{
	struct ce_ctx *c = ctx;
	uint32_t n = 0, want = c->count < max ? c->count : max;

	if ((ce.mode & 2) && want > 0) {
		uint32_t k = ce_rand() % (want + 1);

		want = wait && k == 0 ? 1 : k;
	}
	while (n < want) {
		done[n++] = c->q[c->head];
		c->head = (c->head + 1) % c->depth;
		c->count--;
	}
	return (int)n;
}

static uint32_t ce_inflight(void *ctx)
{
	return ((struct ce_ctx *)ctx)->count;
}

static void ce_stats(void *ctx, struct blkback_engine_stats *st)
{
	(void)ctx;
	memset(st, 0, sizeof(*st));
}

static void ce_close(void *ctx)
{
	struct ce_ctx *c = ctx;

	FZ_CHECK(c->count == 0); /* every I/O reaped before close */
	free(c->q);
	free(c);
}

static const struct blkback_engine_ops ce_engine = {
	.name = "fuzz-check",
	.open = ce_open,
	.submit = ce_submit,
	.reap = ce_reap,
	.inflight = ce_inflight,
	.stats = ce_stats,
	.close = ce_close,
};

/* ---- the guest ------------------------------------------------------------- */

static struct bb_queue *cur_q;

static void on_idle(void)
{
	/* The queue thread would sleep now: end its loop. */
	pvio_host_thread_ask_stop(&cur_q->thr);
}

struct guest {
	struct fm *f;
	struct pvio_sring_hdr *sring;
	unsigned char *slots;
	uint32_t nr_slots;
	uint32_t prod;       /* next request slot the guest fills */
};

static struct pvio_blkif_request *guest_slot(struct guest *g, uint32_t i)
{
	return (struct pvio_blkif_request *)(g->slots +
		(size_t)(i & (g->nr_slots - 1)) * sizeof(union pvio_blkif_slot));
}

static void seg_read(struct fz *in, const struct fm *f, struct pvio_blkif_segment *s)
{
	s->gref = fm_ref(f, fz_u8(in));
	s->first_sect = fz_u8(in);
	s->last_sect = fz_u8(in);
	s->pad[0] = s->pad[1] = 0;
}

static void op_req(struct guest *g, struct fz *in)
{
	struct pvio_blkif_request r;

	memset(&r, 0, sizeof(r));
	r.operation = fz_u8(in);
	r.nr_segments = fz_u8(in) % (PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST + 1);
	r.id = fz_u64(in);
	r.sector_number = fz_u64(in);
	for (uint32_t i = 0; i < r.nr_segments; i++)
		seg_read(in, g->f, &r.seg[i]);
	memcpy(guest_slot(g, g->prod++), &r, sizeof(r));
}

static void op_indirect(struct guest *g, struct fz *in)
{
	struct pvio_blkif_request_indirect r;
	uint32_t np;

	memset(&r, 0, sizeof(r));
	r.operation = PVIO_BLKIF_OP_INDIRECT;
	r.indirect_op = fz_u8(in);
	r.nr_segments = fz_u16(in);
	r.id = fz_u64(in);
	r.sector_number = fz_u64(in);
	np = fz_u8(in) % (PVIO_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST + 1);
	for (uint32_t i = 0; i < np; i++)
		r.indirect_grefs[i] = fm_ref(g->f, fz_u8(in));
	memcpy(guest_slot(g, g->prod++), &r, sizeof(r));
}

static void op_discard(struct guest *g, struct fz *in)
{
	struct pvio_blkif_request_discard r;

	memset(&r, 0, sizeof(r));
	r.operation = PVIO_BLKIF_OP_DISCARD;
	r.flag = fz_u8(in);
	r.id = fz_u64(in);
	r.sector_number = fz_u64(in);
	r.nr_sectors = fz_u64(in);
	memcpy(guest_slot(g, g->prod++), &r, sizeof(r));
}

static void op_segpage(struct guest *g, struct fz *in)
{
	struct pvio_blkif_segment *page = fm_page(g->f, fz_u8(in));
	uint32_t first = fz_u16(in) % PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE;
	uint32_t n = fz_u8(in);

	for (uint32_t i = 0; i < n; i++)
		seg_read(in, g->f, &page[(first + i) % PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE]);
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

static void op_hdr(struct guest *g, struct fz *in)
{
	uint8_t field = fz_u8(in) % 3;
	uint32_t v = fz_u32(in);

	if (field == 0)
		atomic_store(&g->sring->req_event, v);
	else if (field == 1)
		atomic_store(&g->sring->rsp_prod, v);
	else
		atomic_store(&g->sring->rsp_event, v);
}

/* ---- a RUN and what must hold after it --------------------------------------- */

static uint32_t free_pending(const struct bb_queue *q)
{
	uint32_t n = 0;

	for (uint32_t i = q->free_head; i != NIL; i = q->pend[i].next_free) {
		FZ_CHECK(n < q->nr_pend);
		n++;
	}
	return n;
}

static void run(struct bb_queue *q, struct fz *in)
{
	ce.mode = fz_u8(in);
	ce.rng = (uint64_t)fz_u32(in) * 2654435761u + 1;
	FZ_CHECK(pvio_host_thread_run_here(&q->thr, queue_main, q) == 0);
	/* Drained, whatever the ring said. */
	FZ_CHECK(q->inflight == 0 && q->nr_batch == 0 && q->held == NULL);
	FZ_CHECK(free_pending(q) == q->nr_pend);
	FZ_CHECK(fm_mapped(fm_get()) == (q->persistent ? q->cache.nr : 0));
	if (q->ring.error) {
		FZ_CHECK(atomic_load(&q->bb->broken));
		return;
	}
	/* No request lost: each one consumed is answered and published. */
	FZ_CHECK(q->ring.rsp_prod_pvt == q->ring.req_cons);
	FZ_CHECK(q->ring.rsp_prod_pub == q->ring.rsp_prod_pvt);
}

/*
 * Connected queues are kept between inputs, up to KEPT_MAX of them, one
 * per geometry (ring pages, indirect segments, persistent grants):
 * connecting allocates ring slots x segments of per-request storage
 * (megabytes with 4096 indirect segments), which ASan serves by mmap,
 * poisons and unpoisons, and which dominated the run time when one kept
 * queue was reconnected for every input of another geometry (a quarter
 * of them). Before each input a kept queue is put back exactly as
 * bb_queue_connect() leaves it: ring re-attached, pending list rebuilt in
 * order, engine reopened, persistent cache allocated for this input's
 * size and initialised as connect does, counters and policy state
 * cleared. The least recently used queue is disconnected for real when a
 * new geometry needs its place.
 */
#define KEPT_MAX 8u

static struct kept_q {
	struct pvio_blkback *bb;
	struct bb_queue *q;      /* NULL: a free place */
	unsigned char *ring;
	uint32_t key;
	uint64_t used;
} kept[KEPT_MAX];
static uint64_t kept_clock;

static void kept_drop(struct kept_q *k)
{
	if (!k->q)
		return;
	ring_mem = k->ring;
	bb_queue_disconnect(k->q);
	FZ_CHECK(fm_mapped(fm_get()) == 0);
	FZ_CHECK(pvio_gnt_nr_mapped(fm_get()->gb) == 0);
	free(k->ring);
	free(k->q);
	free(k->bb);
	memset(k, 0, sizeof(*k));
	ring_mem = NULL;
}

/* The kept queue of this geometry, or a place for one (emptied). */
static struct kept_q *kept_find(uint32_t key)
{
	struct kept_q *victim = NULL;

	for (struct kept_q *k = kept; k < kept + KEPT_MAX; k++) {
		if (k->q && k->key == key)
			return k;
		if (!victim || (victim->q && (!k->q || k->used < victim->used)))
			victim = k;
	}
	kept_drop(victim);
	return victim;
}

static void kept_reset(struct bb_queue *q)
{
	struct pvio_blkback *bb = q->bb;

	if (q->persistent) {
		uint32_t nb = 1;

		(void)pvio_gnt_cache_flush(&q->cache);
		while (nb < bb->persistent_cap)
			nb <<= 1;
		/* Sized for this input's cap, as bb_queue_connect() does. */
		free(q->cache_e);
		free(q->cache_b);
		q->cache_e = calloc(bb->persistent_cap, sizeof(*q->cache_e));
		q->cache_b = calloc(nb, sizeof(*q->cache_b));
		FZ_CHECK(q->cache_e && q->cache_b);
		FZ_CHECK(pvio_gnt_cache_init(&q->cache, bb->cfg.gnt, q->cache_e,
					     bb->persistent_cap, q->cache_b, nb) == 0);
	}
	FZ_CHECK(fm_mapped(fm_get()) == 0);
	memset(ring_mem, 0, (size_t)q->ring_pages * PVIO_PAGE_SIZE);
	pvio_sring_init((struct pvio_sring_hdr *)ring_mem, 0);
	FZ_CHECK(pvio_blkif_back_attach(&q->ring, ring_mem,
					(size_t)q->ring_pages * PVIO_PAGE_SIZE, 0) == 0);
	for (uint32_t i = 0; i < q->nr_pend; i++) {
		q->pend[i].next_free = i + 1 < q->nr_pend ? i + 1 : NIL;
		q->pend[i].in_use = false;
	}
	q->free_head = 0;
	q->eng->close(q->eng_ctx);
	{
		struct blkback_engine_params ep = { .backing = &bb->backing,
						    .depth = q->nr_pend };

		FZ_CHECK(q->eng->open(&ep, &q->eng_ctx) == 0);
	}
	memset(&q->cnt, 0, sizeof(q->cnt));
	q->tick = 0;
	q->win_lookups = q->win_misses = q->probe = 0;
	atomic_store(&bb->broken, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t max_ind[] = { 0, 16, 256, BB_MAX_INDIRECT_SEGS };
	struct fm *f = fm_get();
	struct pvio_blkback *bb;
	struct bb_queue *q;
	struct kept_q *k;
	struct guest g;
	struct fz in;
	uint8_t cfg, ring, ind, cap;
	uint32_t pages, ops = 0, key;

	fz_init(&in, data, size);
	cfg = fz_u8(&in);
	ring = fz_u8(&in);
	ind = fz_u8(&in);
	cap = fz_u8(&in);
	pages = 1u << (ring % 3);
	key = pages | (uint32_t)(ind % 4) << 8 | (uint32_t)((cfg & 32) != 0) << 24;
	k = kept_find(key);
	fm_reset(f);

	if (!k->q) {
		bb = calloc(1, sizeof(*bb));
		q = calloc(1, sizeof(*q));
		FZ_CHECK(bb && q);
		bb->cfg.be = FM_BE;
		bb->cfg.fe = FM_FE;
		bb->cfg.machine = f->m;
		bb->cfg.gnt = f->gb;
		bb->cfg.evtchn = &fz_evtchn_handle;
		bb->cfg.ring_ops = &fz_ring_ops;
		bb->lim.max_indirect = max_ind[ind % 4];
		bb->persistent_cap = 1 + cap % 64;
		bb->backing.fd = -1;
		bb->backing.direct_fd = -1;
		bb->eng = &ce_engine;
		q->persistent = cfg & 32;
		q->ring_pages = pages;
		q->remote_port = 1;
		ring_mem = aligned_alloc(PVIO_PAGE_SIZE, (size_t)pages * PVIO_PAGE_SIZE);
		FZ_CHECK(ring_mem);
		memset(ring_mem, 0, (size_t)pages * PVIO_PAGE_SIZE);
		pvio_sring_init((struct pvio_sring_hdr *)ring_mem, 0);
		FZ_CHECK(bb_queue_connect(bb, q) == 0);
		k->bb = bb;
		k->q = q;
		k->ring = ring_mem;
		k->key = key;
	} else {
		bb = k->bb;
		q = k->q;
		ring_mem = k->ring;
		bb->persistent_cap = 1 + cap % 64;
		kept_reset(q);
	}
	k->used = ++kept_clock;
	/* What may change per input without reconnecting. */
	/*
	 * The adaptive polls (poll_busy(), wait_event()) spin for up to
	 * BB_SPIN_NS of wall time: 200 us of sched_yield() per wait, most of
	 * an input's run time, and a different path for the same input
	 * depending on the clock. Only inputs with bit 7 of cap poll, and
	 * for 2 us at most: their paths are still reached, the rest run
	 * at full speed.
	 */
	q->spin_io.max_ns = q->spin_io.cur_ns = cap & 0x80 ? 2000 : 0;
	q->spin_io.probe = 0;
	q->spin_ring = q->spin_io;
	bb->cfg.grant_policy = (enum pvio_blkback_grant_policy)((cfg >> 6) % 3);
	bb->lim.readonly = cfg & 1;
	bb->lim.flush = cfg & 2;
	bb->lim.barrier = cfg & 4;
	bb->lim.discard = cfg & 8;
	bb->lim.secure = cfg & 16;
	bb->lim.sectors = (uint64_t)fz_u16(&in) + 1;
	bb->backing.size = bb->lim.sectors * BB_SECTOR_SIZE;
	ce.lim = &bb->lim;
	ce.m = f->m;
	ce.max_segs = q->max_segs;
	cur_q = q;
	fz_evtchn_idle = on_idle;

	g.f = f;
	g.sring = (struct pvio_sring_hdr *)ring_mem;
	g.slots = ring_mem + sizeof(struct pvio_sring_hdr);
	g.nr_slots = q->ring.nr_slots;
	g.prod = 0;

	while (fz_left(&in) > 0 && ops++ < 512) {
		switch (fz_u8(&in) % BR_OP_COUNT) {
		case BR_OP_REQ:
			op_req(&g, &in);
			break;
		case BR_OP_INDIRECT:
			op_indirect(&g, &in);
			break;
		case BR_OP_DISCARD:
			op_discard(&g, &in);
			break;
		case BR_OP_RAW_SLOT: {
			uint8_t slot = fz_u8(&in);

			fz_bytes(&in, guest_slot(&g, slot), sizeof(union pvio_blkif_slot));
			break;
		}
		case BR_OP_SEGPAGE:
			op_segpage(&g, &in);
			break;
		case BR_OP_PUBLISH:
			op_publish(&g, &in);
			break;
		case BR_OP_HDR:
			op_hdr(&g, &in);
			break;
		case BR_OP_GRANT: {
			uint8_t idx = fz_u8(&in);
			uint16_t fl = fz_u16(&in), dom = fz_u16(&in);

			fm_edit(f, idx, fl, dom, fz_u32(&in));
			break;
		}
		case BR_OP_RUN:
			run(q, &in);
			break;
		}
	}
	/* A last run with whatever was published. */
	run(q, &in);
	fz_evtchn_idle = NULL;
	/* Persistent entries are unmapped here, so fm_reset() finds none. */
	if (q->persistent)
		(void)pvio_gnt_cache_flush(&q->cache);
	FZ_CHECK(fm_mapped(f) == 0);
	/* Now and then, the whole disconnect path too. */
	if ((cfg ^ ring ^ ind) == 0x5a)
		kept_drop(k);
	return 0;
}

/* Disconnect at exit so LeakSanitizer sees a clean process. */
static void __attribute__((destructor)) fuzz_fini(void)
{
	for (uint32_t i = 0; i < KEPT_MAX; i++)
		kept_drop(&kept[i]);
}
