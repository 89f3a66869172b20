/* SPDX-License-Identifier: MIT */
/*
 * fuzz_front_rsp, blkfront half: blkfront's response path (queue_reap ->
 * pvio_blkif_front_get_rsp -> bf_shadow_check -> shadow_end (bounce copy
 * back, grant end) -> part_finish -> deliver; backlog_run; bf_mark_dead on
 * a protocol error) under responses the script writes.
 *
 * Oracles, besides the sanitizers: every request submitted completes
 * exactly once, with 0 or a negative errno; once the device is broken
 * nothing more completes twice; at tear-down every grant is revocable
 * (this backend maps nothing) and every page is given back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../blkfront/common.h"

#include "fuzz_formats.h"
#include "fuzz_machine.h"
#include "fuzz_util.h"

void front_blk_run(struct fz *in, uint8_t cfg);

#define NUREQ 128

struct ureq {
	struct pvio_blkfront_req r;
	void *mem;
	int done;
};

static struct ureq ureq[NUREQ];
static uint32_t nureq;

/* The callers' buffers (fz_arena_get): one arena per slot. */
#define UREQ_ARENA (512u * 512u + 4096u)

static unsigned char *arena[NUREQ];

static void __attribute__((destructor)) arenas_free(void)
{
	fz_arenas_free(arena, NUREQ, UREQ_ARENA);
}

static void ureq_done(struct pvio_blkfront_req *req, int res)
{
	struct ureq *u = req->user;

	FZ_CHECK(u->done++ == 0);  /* exactly once */
	FZ_CHECK(res <= 0);
}

/* The backend: what it has read of the ring, what it answered. */
struct bback {
	struct bf_queue *q;
	unsigned char *slots;
	uint32_t req_cons, rsp_prod;
	struct { uint64_t id; uint8_t op, data_op; } open[256];
	uint32_t nopen;
	uint64_t last_id;
	uint8_t last_op;
};

static void bback_refresh(struct bback *b)
{
	uint32_t prod = pvio_load_acquire(&b->q->ring.sring->req_prod);

	while (b->req_cons != prod && b->nopen < 256) {
		const unsigned char *s = b->slots + (size_t)(b->req_cons & (b->q->nr_slots - 1)) *
					 sizeof(union pvio_blkif_slot);
		struct pvio_blkif_request r;

		memcpy(&r, s, sizeof(r));
		b->open[b->nopen].id = r.id;
		b->open[b->nopen].op = r.operation;
		b->open[b->nopen].data_op = s[1];
		b->nopen++;
		b->req_cons++;
	}
}

static void bback_put(struct bback *b, uint64_t id, uint8_t op, int16_t status)
{
	struct pvio_blkif_response rsp = { .id = id, .operation = op, .status = status };

	memcpy(b->slots + (size_t)(b->rsp_prod++ & (b->q->nr_slots - 1)) *
	       sizeof(union pvio_blkif_slot), &rsp, sizeof(rsp));
	b->last_id = id;
	b->last_op = op;
}

static void op_submit(struct pvio_blkfront *bf, struct fz *in)
{
	uint8_t op = fz_u8(in) % 5;
	uint32_t sectors = 1 + fz_u16(in) % 512;
	uint64_t sector = fz_u32(in) % (bf->info.sectors + 8);
	uint8_t flags = fz_u8(in);
	struct ureq *u;
	size_t off = flags & 1 ? 1 + (flags >> 1) % 4095 : 0;

	if (nureq == NUREQ)
		return;
	u = &ureq[nureq];
	memset(u, 0, sizeof(*u));
	u->r.op = op;
	u->r.sector = sector;
	u->r.nr_bytes = op == PVIO_BLKFRONT_OP_FLUSH ? 0 : (uint64_t)sectors * 512;
	if (op <= PVIO_BLKFRONT_OP_WRITE) {
		/* An exact-size buffer, at any alignment: ASan sees overruns. */
		u->mem = fz_arena_get(&arena[nureq], UREQ_ARENA, u->r.nr_bytes + off);
		memset(u->mem, 0x33, u->r.nr_bytes + off);
		u->r.buf = (unsigned char *)u->mem + off;
	}
	u->r.done = ureq_done;
	u->r.user = u;
	if (pvio_blkfront_submit(bf, 0, &u->r) == 0) {
		nureq++;
	} else {
		FZ_CHECK(u->done == 0); /* refused: never completes */
		fz_arena_put(arena[nureq], UREQ_ARENA);
	}
}

static void op_rsp(struct bback *b, struct fz *in)
{
	uint8_t mode = fz_u8(in), pick = fz_u8(in);
	uint16_t status = fz_u16(in);
	uint64_t raw;
	int16_t st;

	(void)fz_u16(in);
	(void)fz_u16(in);
	raw = fz_u64(in);
	st = mode & 4 ? (int16_t)status : (int16_t)-(int16_t)(status % 3);
	bback_refresh(b);
	switch (mode % 4) {
	case 0:
	case 3:
		if (b->nopen) {
			uint32_t k = pick % b->nopen;
			uint8_t op = b->open[k].op;

			if (op == PVIO_BLKIF_OP_INDIRECT && !(mode & 8))
				op = b->open[k].data_op;
			bback_put(b, b->open[k].id, op, st);
			b->open[k] = b->open[--b->nopen];
			break;
		}
		/* fall through: nothing open, say anything */
		/* FALLTHROUGH */
	case 1:
		bback_put(b, raw, (uint8_t)pick, st);
		break;
	case 2:
		bback_put(b, b->last_id, b->last_op, st); /* the same one again */
		break;
	}
}

static void op_publish(struct bback *b, struct fz *in)
{
	uint8_t mode;
	uint32_t v = b->rsp_prod;

	(void)fz_u8(in);
	mode = fz_u8(in) % 3;
	if (mode == 1)
		v = fz_u32(in);
	else if (mode == 2)
		v = pvio_load_relaxed(&b->q->ring.sring->rsp_prod) +
		    (uint32_t)(int32_t)(int8_t)fz_u8(in);
	pvio_store_release(&b->q->ring.sring->rsp_prod, v);
}

void front_blk_run(struct fz *in, uint8_t cfg)
{
	struct fm *f = fm_get();
	struct pvio_blkfront *bf = calloc(1, sizeof(*bf));
	struct bf_queue *q;
	struct bback b;
	uint32_t ops = 0, grant_frames = f->gf->nr_frames, free_refs;

	FZ_CHECK(bf);
	free_refs = pvio_gnt_nr_free(f->gf);
	nureq = 0;
	bf->d = fz_domain();
	bf->cfg.pool_pages = 8 + (cfg >> 4) * 8;
	bf->info.backend_id = FM_BE;
	bf->info.sectors = 1u << 16;
	bf->info.sector_size = 512;
	bf->info.physical_sector_size = 512;
	bf->info.readonly = cfg & 64;
	bf->info.flush = cfg & 4;
	bf->info.discard = cfg & 8;
	bf->info.secure_discard = cfg & 8;
	bf->persistent = cfg & 1;
	bf->info.persistent = bf->persistent;
	bf->indirect = cfg & 2;
	bf->max_segs = bf->indirect ? 64 : PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST;
	bf->max_ind_pages = bf->indirect ? bf_indirect_pages(bf->max_segs) : 0;
	bf->info.max_indirect_segments = bf->indirect ? bf->max_segs : 0;
	bf->info.max_segments = bf->max_segs;
	atomic_store(&bf->flush_ok, bf->info.flush);
	atomic_store(&bf->discard_ok, bf->info.discard);
	bf->nr_queues = 1;
	bf->info.nr_queues = 1;
	q = &bf->q[0];
	q->bf = bf;
	q->idx = 0;
	FZ_CHECK(bf_queue_ring_alloc(q, 1u << ((cfg >> 4) % 3)) == 0);
	FZ_CHECK(bf_queue_data_alloc(q) == 0);
	bf->info.ring_slots = q->nr_slots;
	atomic_store(&bf->state, BF_CONNECTED);

	memset(&b, 0, sizeof(b));
	b.q = q;
	b.slots = (unsigned char *)q->sring + sizeof(struct pvio_sring_hdr);

	while (fz_left(in) > 0 && ops++ < 512) {
		switch (fz_u8(in) % FR_OP_COUNT) {
		case FR_OP_SUBMIT:
			op_submit(bf, in);
			break;
		case FR_OP_RSP:
			op_rsp(&b, in);
			break;
		case FR_OP_RAW_SLOT: {
			uint8_t slot;

			(void)fz_u8(in);
			slot = fz_u8(in);
			fz_bytes(in, b.slots + (size_t)(slot & (q->nr_slots - 1)) *
				 sizeof(union pvio_blkif_slot), 16);
			break;
		}
		case FR_OP_PUBLISH:
			op_publish(&b, in);
			break;
		case FR_OP_POLL:
		case FR_OP_FLIP:
			(void)pvio_blkfront_poll(bf);
			break;
		}
	}
	/* An honest backend from here: answer everything until idle. Each
	 * round must make progress (the frontend publishes new requests or
	 * completes some): a round without either, with requests still
	 * outstanding, is a frontend that stopped (a lost request). */
	while (atomic_load(&bf->state) == BF_CONNECTED &&
	       atomic_load(&bf->outstanding) > 0) {
		uint32_t cons0 = b.req_cons, done0 = 0, done1 = 0;

		for (uint32_t i = 0; i < nureq; i++)
			done0 += (uint32_t)ureq[i].done;
		bback_refresh(&b);
		while (b.nopen) {
			uint8_t op = b.open[b.nopen - 1].op;

			if (op == PVIO_BLKIF_OP_INDIRECT)
				op = b.open[b.nopen - 1].data_op;
			bback_put(&b, b.open[b.nopen - 1].id, op, PVIO_BLKIF_RSP_OKAY);
			b.nopen--;
		}
		/* Responses may only follow requests: resync a ring the
		 * script left inconsistent, or the device breaks (fine). */
		pvio_store_release(&q->ring.sring->rsp_prod, b.rsp_prod);
		(void)pvio_blkfront_poll(bf);
		for (uint32_t i = 0; i < nureq; i++)
			done1 += (uint32_t)ureq[i].done;
		bback_refresh(&b);
		FZ_CHECK(b.req_cons != cons0 || done1 != done0 ||
			 atomic_load(&bf->state) != BF_CONNECTED);
	}
	if (fz_debug()) {
		fprintf(stderr, "blk: state %u outstanding %llu inflight %u backlog %p "
			"ring req_prod_pvt %u pub %u rsp_cons %u | back cons %u rsp %u open %u\n",
			atomic_load(&bf->state),
			(unsigned long long)atomic_load(&bf->outstanding), q->nr_inflight,
			(void *)q->backlog, q->ring.req_prod_pvt, q->ring.req_prod_pub,
			q->ring.rsp_cons, b.req_cons, b.rsp_prod, b.nopen);
		for (uint32_t i = 0; i < nureq; i++)
			fprintf(stderr, "  req %u op %u sector %llu bytes %llu done %d inflight %u\n",
				i, ureq[i].r.op, (unsigned long long)ureq[i].r.sector,
				(unsigned long long)ureq[i].r.nr_bytes, ureq[i].done,
				ureq[i].r.pvt.inflight);
	}
	if (atomic_load(&bf->state) == BF_CONNECTED)
		for (uint32_t i = 0; i < nureq; i++)
			FZ_CHECK(ureq[i].done == 1); /* none lost */

	/* Tear down as xenbus.c does on close. */
	bf_mark_dead(bf, BF_GONE);
	FZ_CHECK(bf_revoke_all(bf) == 0);
	bf_queue_free(q);
	for (uint32_t i = 0; i < nureq; i++) {
		FZ_CHECK(ureq[i].done == 1);
		fz_arena_put(arena[i], UREQ_ARENA);
	}
	if (f->gf->nr_frames == grant_frames)
		FZ_CHECK(pvio_gnt_nr_free(f->gf) == free_refs);
	free(bf);
}
