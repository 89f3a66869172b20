/* SPDX-License-Identifier: MIT */
/*
 * The block workload (blk_workload.h): one thread drives every job, each
 * job a stream of requests on its own blkfront queue with iodepth in
 * flight; completions come back through blkfront's completion queue
 * (pvio_blkfront_getevents), which reaps all queues at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blk_workload.h"
#include "cli.h"

/* ---- time ------------------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- latency histogram ---------------------------------------------------- */

static uint32_t hist_index(uint64_t ns)
{
	if (ns < BLK_HIST_SUB)
		return (uint32_t)ns;
	uint32_t msb = 63u - (uint32_t)__builtin_clzll(ns);
	uint32_t sub = (uint32_t)(ns >> (msb - 4)) & (BLK_HIST_SUB - 1);

	return (msb - 3) * BLK_HIST_SUB + sub;
}

/* [lo, hi) of bucket i. */
static void hist_bounds(uint32_t i, double *lo, double *hi)
{
	if (i < BLK_HIST_SUB) {
		*lo = i;
		*hi = i + 1;
		return;
	}
	uint32_t msb = i / BLK_HIST_SUB + 3, sub = i % BLK_HIST_SUB;
	double base = (double)(1ull << msb), step = base / BLK_HIST_SUB;

	*lo = base + sub * step;
	*hi = *lo + step;
}

void blk_hist_add(struct blk_hist *h, uint64_t ns)
{
	h->count[hist_index(ns)]++;
	h->n++;
	h->sum_ns += ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

double blk_hist_quantile(const struct blk_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (h->n == 0)
		return 0;
	rank = (uint64_t)(q * (double)h->n);
	if (rank >= h->n)
		rank = h->n - 1;
	for (uint32_t i = 0; i < BLK_HIST_BUCKETS; i++) {
		seen += h->count[i];
		if (seen > rank) {
			double lo, hi;

			hist_bounds(i, &lo, &hi);
			double mid = (lo + hi) / 2;
			return mid > (double)h->max_ns ? (double)h->max_ns : mid;
		}
	}
	return (double)h->max_ns;
}

/* ---- block contents and checksums ---------------------------------------------- */

#define STAMP_MAGIC 0x314b4c424f495650ull /* "PVIOBLK1" */

/* Per-block state: genf holds the generation and the flags. */
#define ST_BUSY    (1u << 31) /* a request on this block is in flight */
#define ST_SEEN    (1u << 30) /* never written; sum is its first read */
#define ST_UNKNOWN (1u << 29) /* a write failed: contents unknown */
#define ST_GEN     ((1u << 29) - 1)

struct blk_state {
	uint32_t sum;
	uint32_t genf;
};

static inline uint64_t mix(uint64_t h, uint64_t w)
{
	h ^= w;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 31);
}

static uint32_t fold(const uint64_t l[4])
{
	uint64_t h = mix(mix(mix(mix(0x243f6a8885a308d3ull, l[0]), l[1]), l[2]), l[3]);

	return (uint32_t)(h ^ (h >> 32));
}

/* The checksum of a block: four independent lanes, one pass. */
static uint32_t block_sum(const void *buf, uint32_t bs)
{
	const uint64_t *w = buf;
	uint64_t l[4] = { 1, 2, 3, 4 };

	for (uint32_t i = 0; i < bs / 8; i += 4) {
		l[0] = mix(l[0], w[i]);
		l[1] = mix(l[1], w[i + 1]);
		l[2] = mix(l[2], w[i + 2]);
		l[3] = mix(l[3], w[i + 3]);
	}
	return fold(l);
}

/* Stamp and fill a block for (offset, gen); returns its checksum. */
static uint32_t block_fill(void *buf, uint32_t bs, uint64_t offset, uint32_t gen)
{
	uint64_t *w = buf;
	uint64_t x = (offset * 0xff51afd7ed558ccdull) ^ ((uint64_t)gen << 32) ^ 0x5deece66dull;
	uint64_t l[4] = { 1, 2, 3, 4 };

	w[0] = STAMP_MAGIC;
	w[1] = offset;
	w[2] = gen;
	w[3] = ~offset ^ gen;
	for (uint32_t i = 4; i < bs / 8; i++) {
		x ^= x << 13; /* xorshift64 */
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
	for (uint32_t i = 0; i < bs / 8; i += 4) {
		l[0] = mix(l[0], w[i]);
		l[1] = mix(l[1], w[i + 1]);
		l[2] = mix(l[2], w[i + 2]);
		l[3] = mix(l[3], w[i + 3]);
	}
	return fold(l);
}

/* ---- the run ------------------------------------------------------------------ */

struct wl_job;

struct wl_slot {
	struct pvio_blkfront_req req;
	struct wl_job *job;
	uint8_t *buf;
	uint64_t block;
	uint64_t t0;
	uint32_t gen, sum;
	bool busy;
};

struct wl_job {
	uint32_t idx, queue;
	uint64_t nblocks;       /* blocks idx, idx + numjobs, ... */
	uint64_t cursor;        /* sequential modes */
	uint64_t rng;
	uint32_t depth, inflight;
	struct wl_slot *slots;
	struct wl_slot **idle;  /* slots not in flight: a stack */
	uint32_t nidle;
};

struct wl {
	const struct blk_workload_config *cfg;
	struct pvio_blkfront *bf;
	struct blk_workload_result *res;
	struct blk_state *st;   /* NULL: verify off */
	uint64_t nblocks;
	uint32_t zero_sum;
	struct wl_job jobs[BLK_JOBS_MAX];
	uint32_t njobs;
	uint32_t inflight;
	bool dead;              /* the device is gone: stop submitting */
	bool readback;          /* the verify pass after a write-only run */
	/* zero-copy buffers (or plain memory when those run out) */
	void *zc[64];
	uint32_t nzc;
	void *plain;
};

static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

static bool is_random(enum blk_rw rw)
{
	return rw == BLK_RW_RANDREAD || rw == BLK_RW_RANDWRITE || rw == BLK_RW_RANDRW;
}

static bool pick_write(struct wl_job *j, enum blk_rw rw)
{
	switch (rw) {
	case BLK_RW_WRITE:
	case BLK_RW_RANDWRITE:
		return true;
	case BLK_RW_RANDRW:
		return rng_next(&j->rng) >> 63;
	default:
		return false;
	}
}

/* A block of job j with no request in flight. */
static uint64_t pick_block(struct wl *w, struct wl_job *j)
{
	uint64_t k = is_random(w->cfg->rw) ? rng_next(&j->rng) % j->nblocks
					   : j->cursor++ % j->nblocks;

	for (uint32_t tries = 0; w->st && tries <= j->depth; tries++) {
		uint64_t b = k * w->njobs + j->idx;
		if (!(w->st[b].genf & ST_BUSY))
			return b;
		k = (k + 1) % j->nblocks;
	}
	return k * w->njobs + j->idx;
}

static void note_error(struct wl *w, uint32_t op, uint64_t offset, int res)
{
	if (w->res->first_error == 0) {
		w->res->first_error = res;
		w->res->first_error_op = op;
		w->res->first_error_offset = offset;
	}
}

static void verify_read(struct wl *w, struct wl_slot *s)
{
	struct blk_state *st = &w->st[s->block];
	struct blk_workload_result *r = w->res;
	uint32_t bs = w->cfg->bs;
	uint64_t off = s->block * bs;
	const uint64_t *words = (const uint64_t *)s->buf;
	uint32_t sum, gen = st->genf & ST_GEN, got_gen;
	bool bad;

	if (st->genf & ST_UNKNOWN)
		return;
	sum = block_sum(s->buf, bs);
	got_gen = words[0] == STAMP_MAGIC ? (uint32_t)words[2] : 0;
	if (gen) {
		bad = words[0] != STAMP_MAGIC || words[1] != off || words[2] != gen ||
		      sum != st->sum;
	} else if (w->cfg->fresh) {
		bad = sum != w->zero_sum;
		st->sum = w->zero_sum;
	} else if (!(st->genf & ST_SEEN)) {
		st->sum = sum; /* the image's content: the first read sets it */
		st->genf |= ST_SEEN;
		bad = false;
	} else {
		bad = sum != st->sum;
	}
	r->verify_checked++;
	if (!bad)
		return;
	if (r->verify_failures++ == 0) {
		r->first_bad_offset = off;
		r->first_bad_expect_gen = gen;
		r->first_bad_read_gen = got_gen;
		r->first_bad_expect_sum = st->sum;
		r->first_bad_read_sum = sum;
	}
}

static void complete(struct wl *w, struct wl_slot *s, int res, uint64_t now)
{
	struct blk_workload_result *r = w->res;
	struct blk_state *st = w->st ? &w->st[s->block] : NULL;
	uint64_t off = s->block * w->cfg->bs;

	if (w->readback) { /* not the workload's I/O: no figures */
		if (res == 0) {
			verify_read(w, s);
		} else {
			r->read_errors++;
			note_error(w, PVIO_BLKFRONT_OP_READ, off, res);
		}
		st->genf &= ~ST_BUSY;
		s->busy = false;
		s->job->idle[s->job->nidle++] = s;
		return;
	}
	blk_hist_add(&r->lat, now > s->t0 ? now - s->t0 : 0);
	if (s->req.op == PVIO_BLKFRONT_OP_WRITE) {
		r->writes++;
		if (res == 0) {
			r->write_bytes += w->cfg->bs;
			if (st) {
				st->sum = s->sum;
				st->genf = s->gen;
			}
		} else {
			r->write_errors++;
			note_error(w, PVIO_BLKFRONT_OP_WRITE, off, res);
			if (st)
				st->genf |= ST_UNKNOWN;
		}
	} else {
		r->reads++;
		if (res == 0) {
			r->read_bytes += w->cfg->bs;
			if (st)
				verify_read(w, s);
		} else {
			r->read_errors++;
			note_error(w, PVIO_BLKFRONT_OP_READ, off, res);
		}
	}
	if (st)
		st->genf &= ~ST_BUSY;
	s->busy = false;
	s->job->idle[s->job->nidle++] = s;
}

/* Submit one request of job j; false if none could go (slot or device). */
static bool submit_one(struct wl *w, struct wl_job *j)
{
	struct wl_slot *s;
	uint32_t bs = w->cfg->bs;

	if (!j->nidle)
		return false;
	s = j->idle[j->nidle - 1];
	if (w->readback) {
		/* The next block this job wrote (and whose write succeeded). */
		while (j->cursor < j->nblocks) {
			uint32_t g = w->st[j->cursor * w->njobs + j->idx].genf;

			if ((g & ST_GEN) && !(g & ST_UNKNOWN))
				break;
			j->cursor++;
		}
		if (j->cursor >= j->nblocks)
			return false;
		s->block = j->cursor++ * w->njobs + j->idx;
	} else {
		s->block = pick_block(w, j);
	}
	bool write = !w->readback && pick_write(j, w->cfg->rw);
	struct blk_state *st = w->st ? &w->st[s->block] : NULL;

	if (st && (st->genf & ST_BUSY))
		return false; /* every block of the job is busy (tiny region) */
	j->nidle--;
	memset(&s->req, 0, sizeof(s->req));
	s->req.op = write ? PVIO_BLKFRONT_OP_WRITE : PVIO_BLKFRONT_OP_READ;
	s->req.sector = s->block * bs / 512;
	s->req.buf = s->buf;
	s->req.nr_bytes = bs;
	s->req.user = s;
	if (write) {
		uint32_t gen = st ? ((st->genf & ST_GEN) + 1) & ST_GEN : 1;
		s->gen = gen ? gen : 1;
		s->sum = block_fill(s->buf, bs, s->block * bs, s->gen);
	}
	s->busy = true;
	if (st)
		st->genf |= ST_BUSY;
	s->t0 = now_ns();
	int rc = pvio_blkfront_submit(w->bf, j->queue, &s->req);
	if (rc) {
		/* Refused at once (-EROFS, -EIO): a request that failed. */
		complete(w, s, rc, s->t0);
		if (rc == -EIO)
			w->dead = true;
		return false;
	}
	j->inflight++;
	w->inflight++;
	return true;
}

static int buffers_alloc(struct wl *w, char *msg, size_t msg_size)
{
	uint32_t bs = w->cfg->bs;
	size_t stride = ((size_t)bs + 4095) & ~(size_t)4095;
	uint32_t per = (uint32_t)(BLK_BS_MAX / stride), total = 0, next = 0;
	struct wl_slot **all;

	for (uint32_t j = 0; j < w->njobs; j++)
		total += w->jobs[j].depth;
	all = calloc(total, sizeof(*all));
	if (!all)
		goto nomem;
	for (uint32_t j = 0; j < w->njobs; j++)
		for (uint32_t i = 0; i < w->jobs[j].depth; i++)
			all[next++] = &w->jobs[j].slots[i];
	next = 0;
	/* Zero-copy buffers of the domain's own pages while they last
	 * (blkfront grants them in place); then ordinary memory. */
	while (next < total && w->nzc < 48) {
		uint32_t n = total - next < per ? total - next : per;
		void *va;

		if (pvio_blkfront_buf_alloc(w->bf, n * stride, &va))
			break;
		w->zc[w->nzc++] = va;
		for (uint32_t i = 0; i < n; i++)
			all[next++]->buf = (uint8_t *)va + i * stride;
	}
	if (next < total) {
		if (posix_memalign(&w->plain, 4096, (total - next) * stride))
			goto nomem;
		for (uint32_t i = 0; next < total; i++)
			all[next++]->buf = (uint8_t *)w->plain + i * stride;
	}
	free(all);
	return 0;
nomem:
	free(all);
	snprintf(msg, msg_size, "no memory for %u buffers of %u bytes", total, bs);
	return -ENOMEM;
}

static void buffers_free(struct wl *w)
{
	for (uint32_t i = 0; i < w->nzc; i++)
		pvio_blkfront_buf_free(w->bf, w->zc[i]);
	free(w->plain);
}

static void progress_line(const struct wl *w, uint64_t t_start, uint64_t now,
			  uint64_t *last_ios, uint64_t *last_bytes, uint64_t *last_t)
{
	const struct blk_workload_result *r = w->res;
	uint64_t ios = r->reads + r->writes;
	uint64_t bytes = r->read_bytes + r->write_bytes;
	double dt = (double)(now - *last_t) / 1e9;

	printf("%s: [%3.0fs] %8.1fK IOPS %9.1f MiB/s  errors %" PRIu64 "%s\n",
	       w->cfg->progress_prefix ? w->cfg->progress_prefix : "pvio",
	       (double)(now - t_start) / 1e9,
	       dt > 0 ? (double)(ios - *last_ios) / dt / 1e3 : 0,
	       dt > 0 ? (double)(bytes - *last_bytes) / dt / 1048576.0 : 0,
	       r->read_errors + r->write_errors,
	       r->verify_failures ? "  VERIFY FAILED" : "");
	fflush(stdout);
	*last_ios = ios;
	*last_bytes = bytes;
	*last_t = now;
}

/*
 * A write-only run reads nothing back while it runs: then read every
 * block it wrote and check it (as fio's do_verify does after a write
 * phase). Outside the figures: only verify_checked/failures and
 * read_errors count it. The blkfront counters were taken before.
 */
static void readback(struct wl *w, struct pvio_blkfront_req **reqs,
		     _Atomic int *stop)
{
	uint64_t drain_deadline = 0;
	bool submitting = true;

	w->readback = true;
	for (uint32_t j = 0; j < w->njobs; j++)
		w->jobs[j].cursor = 0;
	for (;;) {
		bool more = false;

		if (submitting && ((stop && *stop) || w->dead)) {
			submitting = false;
			drain_deadline = now_ns() + 30000000000ull;
		}
		for (uint32_t j = 0; submitting && j < w->njobs; j++) {
			while (w->jobs[j].inflight < w->jobs[j].depth &&
			       submit_one(w, &w->jobs[j]))
				;
			more |= w->jobs[j].cursor < w->jobs[j].nblocks;
		}
		if (w->inflight == 0 && (!more || !submitting))
			break;
		int n = pvio_blkfront_getevents(w->bf, reqs, 1, 256, 20000000ull);
		uint64_t now = now_ns();

		for (int i = 0; i < n; i++) {
			struct wl_slot *s = reqs[i]->user;

			s->job->inflight--;
			w->inflight--;
			complete(w, s, reqs[i]->res, now);
		}
		if (drain_deadline && w->inflight && now >= drain_deadline) {
			w->res->drained = false;
			break;
		}
	}
	w->readback = false;
}

int blk_workload_run(struct pvio_blkfront *bf, const struct blk_workload_config *cfg_in,
		     _Atomic int *stop, struct blk_workload_result *res,
		     char *msg, size_t msg_size)
{
	struct wl *w = calloc(1, sizeof(*w));
	struct blk_workload_config *cfg = &res->cfg;
	struct pvio_blkfront_req *reqs[256];
	uint64_t dev_bytes;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	*cfg = *cfg_in;
	if (!w) {
		snprintf(msg, msg_size, "no memory");
		return -ENOMEM;
	}
	pvio_blkfront_get_info(bf, &res->info);
	dev_bytes = res->info.sectors * 512;
	if (cfg->size == 0)
		cfg->size = dev_bytes;
	if (cfg->bs % res->info.sector_size) {
		snprintf(msg, msg_size, "--bs %u is not a multiple of the device's "
			 "%u-byte sectors", cfg->bs, res->info.sector_size);
		rc = -EINVAL;
		goto out;
	}
	if (cfg->size > dev_bytes) {
		snprintf(msg, msg_size, "--size %" PRIu64 " is beyond the device's "
			 "%" PRIu64 " bytes", cfg->size, dev_bytes);
		rc = -EINVAL;
		goto out;
	}
	w->nblocks = cfg->size / cfg->bs;
	if (w->nblocks < cfg->numjobs && cfg_in->size == 0) {
		/* No --size: the disk itself is too small, not the usage. */
		if (cfg->numjobs == 1)
			snprintf(msg, msg_size, "the disk's %" PRIu64 " bytes are less than "
				 "one block of %u bytes (--bs)", dev_bytes, cfg->bs);
		else
			snprintf(msg, msg_size, "the disk's %" PRIu64 " bytes hold fewer "
				 "than %u blocks of %u bytes (--bs; one per job)",
				 dev_bytes, cfg->numjobs, cfg->bs);
		rc = -ENOSPC;
		goto out;
	}
	if (w->nblocks < cfg->numjobs) {
		snprintf(msg, msg_size, "--size %" PRIu64 " holds fewer than %u blocks "
			 "of --bs %u (one per job)", cfg->size, cfg->numjobs, cfg->bs);
		rc = -EINVAL;
		goto out;
	}
	cfg->size = w->nblocks * cfg->bs;
	w->cfg = cfg;
	w->bf = bf;
	w->res = res;
	w->njobs = cfg->numjobs;
	res->verify_on = cfg->verify;
	if (cfg->verify) {
		void *zero = calloc(1, cfg->bs);

		w->st = calloc(w->nblocks, sizeof(*w->st));
		if (!w->st || !zero) {
			free(zero);
			snprintf(msg, msg_size, "no memory for the verify state of %" PRIu64
				 " blocks (use --size or --verify off)", w->nblocks);
			rc = -ENOMEM;
			goto out;
		}
		w->zero_sum = block_sum(zero, cfg->bs);
		free(zero);
	}
	for (uint32_t j = 0; j < w->njobs; j++) {
		struct wl_job *job = &w->jobs[j];

		job->idx = j;
		job->queue = j % res->info.nr_queues;
		job->nblocks = w->nblocks / w->njobs + (j < w->nblocks % w->njobs);
		job->depth = cfg->iodepth < job->nblocks ? cfg->iodepth : (uint32_t)job->nblocks;
		job->rng = 0x9e3779b97f4a7c15ull * (j + 1) ^ (uint64_t)now_ns();
		job->rng |= 1;
		job->slots = calloc(job->depth, sizeof(*job->slots));
		job->idle = calloc(job->depth, sizeof(*job->idle));
		if (!job->slots || !job->idle) {
			snprintf(msg, msg_size, "no memory");
			rc = -ENOMEM;
			goto out;
		}
		for (uint32_t i = 0; i < job->depth; i++) {
			job->slots[i].job = job;
			job->idle[job->nidle++] = &job->slots[job->depth - 1 - i];
		}
	}
	rc = buffers_alloc(w, msg, msg_size);
	if (rc)
		goto out;

	uint64_t t_start = now_ns(), last_done = t_start;
	uint64_t deadline = t_start + (uint64_t)cfg->runtime_ms * 1000000ull;
	uint64_t drain_deadline = 0, next_progress = t_start + 1000000000ull;
	uint64_t p_ios = 0, p_bytes = 0, p_t = t_start;
	bool submitting = true;

	res->drained = true;
	for (;;) {
		uint64_t now = now_ns();

		if (submitting && (now >= deadline || (stop && *stop) || w->dead)) {
			submitting = false;
			drain_deadline = now + 30000000000ull;
		}
		if (submitting)
			for (uint32_t j = 0; j < w->njobs; j++)
				while (w->jobs[j].inflight < w->jobs[j].depth &&
				       submit_one(w, &w->jobs[j]))
					;
		if (w->inflight == 0) {
			if (!submitting)
				break;
			/* Everything failed at once (read-only): try again. */
			continue;
		}
		int n = pvio_blkfront_getevents(bf, reqs, 1, 256, 20000000ull);
		now = now_ns();
		for (int i = 0; i < n; i++) {
			struct wl_slot *s = reqs[i]->user;

			s->job->inflight--;
			w->inflight--;
			complete(w, s, reqs[i]->res, now);
			last_done = now;
		}
		if (!submitting && w->inflight && now >= drain_deadline) {
			res->drained = false;
			break;
		}
		if (cfg->progress && now >= next_progress) {
			progress_line(w, t_start, now, &p_ios, &p_bytes, &p_t);
			next_progress += 1000000000ull;
		}
	}
	res->ns = last_done - t_start;
	pvio_blkfront_get_stats(bf, &res->front);
	if (w->st && (cfg->rw == BLK_RW_WRITE || cfg->rw == BLK_RW_RANDWRITE) &&
	    res->drained && !w->dead && !(stop && *stop))
		readback(w, reqs, stop);
	if (res->drained)
		buffers_free(w);
	/* else: the backend may still write into them; leak on purpose. */
out:
	for (uint32_t j = 0; j < BLK_JOBS_MAX; j++) {
		free(w->jobs[j].slots);
		free(w->jobs[j].idle);
	}
	free(w->st);
	free(w);
	return rc;
}

bool blk_workload_ok(const struct blk_workload_result *r)
{
	return r->drained && r->read_errors == 0 && r->write_errors == 0 &&
	       r->verify_failures == 0;
}

/* ---- reports --------------------------------------------------------------------- */

static const char *op_name(uint32_t op)
{
	return op == PVIO_BLKFRONT_OP_WRITE ? "write" : "read";
}

static void fmt_bytes(char *buf, size_t n, uint64_t v)
{
	if (v >= (1ull << 30) && v % (1ull << 30) == 0)
		snprintf(buf, n, "%" PRIu64 " GiB", v >> 30);
	else if (v >= (1ull << 20) && v % (1ull << 20) == 0)
		snprintf(buf, n, "%" PRIu64 " MiB", v >> 20);
	else if (v >= 1024 && v % 1024 == 0)
		snprintf(buf, n, "%" PRIu64 " KiB", v >> 10);
	else
		snprintf(buf, n, "%" PRIu64 " B", v);
}

struct figures {
	double secs, iops, riops, wiops, mibs, rmibs, wmibs;
	double p50, p99, p999, mean, max;
	double kpr, mpr, hit;
	uint64_t ios, errors, front_kicks, back_kicks;
	bool have_hit;
};

static void figures(const struct blk_workload_result *r, const struct pvio_blkback_stats *bb,
		    struct figures *f)
{
	memset(f, 0, sizeof(*f));
	f->secs = (double)r->ns / 1e9;
	f->ios = r->reads + r->writes;
	f->errors = r->read_errors + r->write_errors;
	if (f->secs > 0) {
		f->iops = (double)f->ios / f->secs;
		f->riops = (double)r->reads / f->secs;
		f->wiops = (double)r->writes / f->secs;
		f->rmibs = (double)r->read_bytes / f->secs / 1048576.0;
		f->wmibs = (double)r->write_bytes / f->secs / 1048576.0;
		f->mibs = f->rmibs + f->wmibs;
	}
	f->p50 = blk_hist_quantile(&r->lat, 0.50) / 1e3;
	f->p99 = blk_hist_quantile(&r->lat, 0.99) / 1e3;
	f->p999 = blk_hist_quantile(&r->lat, 0.999) / 1e3;
	f->mean = r->lat.n ? (double)r->lat.sum_ns / (double)r->lat.n / 1e3 : 0;
	f->max = (double)r->lat.max_ns / 1e3;
	f->front_kicks = r->front.kicks;
	f->back_kicks = bb ? bb->kicks_sent : 0;
	if (f->ios) {
		f->kpr = (double)(f->front_kicks + f->back_kicks) / (double)f->ios;
		if (bb)
			f->mpr = (double)bb->grant_maps / (double)f->ios;
	}
	if (bb && bb->persistent_hits + bb->persistent_misses) {
		f->have_hit = true;
		f->hit = (double)bb->persistent_hits /
			 (double)(bb->persistent_hits + bb->persistent_misses);
	}
}

static const char *verify_word(const struct blk_workload_result *r)
{
	return !r->verify_on ? "off" : r->verify_failures ? "failed" : "ok";
}

void blk_report_text(FILE *out, const char *cmd, const struct blk_workload_result *r,
		     const struct pvio_blkback_stats *bb, const char *engine)
{
	const struct blk_workload_config *c = &r->cfg;
	const struct pvio_blkfront_info *in = &r->info;
	struct figures f;
	char bs[32], size[32];

	figures(r, bb, &f);
	fmt_bytes(bs, sizeof(bs), c->bs);
	fmt_bytes(size, sizeof(size), c->size);
	fprintf(out, "pvio %s: %s %s, iodepth %u, %u job%s, %g s over %s; "
		"%u queue%s, %u-page rings, %u-byte sectors, persistent grants %s%s%s\n",
		cmd, blk_rw_name(c->rw), bs, c->iodepth, c->numjobs,
		c->numjobs == 1 ? "" : "s", c->runtime_ms / 1e3, size, in->nr_queues,
		in->nr_queues == 1 ? "" : "s", in->ring_pages, in->sector_size,
		in->persistent ? "on" : "off", engine ? ", engine " : "",
		engine ? engine : "");
	if (r->reads)
		fprintf(out, "  read : %10.1fK IOPS %9.1f MiB/s\n", f.riops / 1e3, f.rmibs);
	if (r->writes)
		fprintf(out, "  write: %10.1fK IOPS %9.1f MiB/s\n", f.wiops / 1e3, f.wmibs);
	fprintf(out, "  total: %10.1fK IOPS %9.1f MiB/s  (%" PRIu64 " requests in %.3f s)\n",
		f.iops / 1e3, f.mibs, f.ios, f.secs);
	fprintf(out, "  latency (us): p50 %.1f  p99 %.1f  p99.9 %.1f  mean %.1f  max %.1f\n",
		f.p50, f.p99, f.p999, f.mean, f.max);
	fprintf(out, "  errors: %" PRIu64 " (read %" PRIu64 ", write %" PRIu64 ")",
		f.errors, r->read_errors, r->write_errors);
	if (r->first_error)
		fprintf(out, "; first: %s at offset %" PRIu64 ": %s", op_name(r->first_error_op),
			r->first_error_offset, strerror(-r->first_error));
	fprintf(out, "%s\n", r->drained ? "" : "; requests still in flight at the end");
	if (!r->verify_on)
		fprintf(out, "  verify: off\n");
	else if (!r->verify_failures)
		fprintf(out, "  verify: ok (%" PRIu64 " reads checked)\n", r->verify_checked);
	else
		fprintf(out, "  verify: FAILED: %" PRIu64 " of %" PRIu64 " reads; first at "
			"offset %" PRIu64 " (expected generation %u checksum %08x, read "
			"generation %u checksum %08x)\n", r->verify_failures, r->verify_checked,
			r->first_bad_offset, r->first_bad_expect_gen, r->first_bad_expect_sum,
			r->first_bad_read_gen, r->first_bad_read_sum);
	if (bb) {
		fprintf(out, "  kicks/request %.4f (frontend %" PRIu64 ", backend %" PRIu64 ")"
			"  grant maps/request %.4f  persistent-grant hit rate ",
			f.kpr, f.front_kicks, f.back_kicks, f.mpr);
		if (f.have_hit)
			fprintf(out, "%.1f%%\n", f.hit * 100);
		else
			fprintf(out, "n/a\n");
		if (bb->err_io + bb->err_nospc + bb->err_readonly + bb->err_range +
		    bb->err_grant + bb->err_protocol)
			fprintf(out, "  backend errors: io %" PRIu64 ", no space %" PRIu64
				", read-only %" PRIu64 ", range %" PRIu64 ", grant %" PRIu64
				", protocol %" PRIu64 "\n", bb->err_io, bb->err_nospc,
				bb->err_readonly, bb->err_range, bb->err_grant, bb->err_protocol);
	} else {
		fprintf(out, "  kicks/request %.4f (frontend only; the backend reports its own)\n",
			f.kpr);
	}
}

void blk_report_json(FILE *out, const char *cmd, const struct blk_workload_result *r,
		     const struct pvio_blkback_stats *bb, const char *engine)
{
	const struct blk_workload_config *c = &r->cfg;
	const struct pvio_blkfront_info *in = &r->info;
	struct figures f;

	figures(r, bb, &f);
	fprintf(out, "{\"command\": \"%s\", \"rw\": \"%s\", \"bs\": %u, \"iodepth\": %u, "
		"\"numjobs\": %u, \"runtime_s\": %g, \"size\": %" PRIu64 ", ",
		cmd, blk_rw_name(c->rw), c->bs, c->iodepth, c->numjobs, c->runtime_ms / 1e3,
		c->size);
	if (engine)
		fprintf(out, "\"engine\": \"%s\", ", engine);
	fprintf(out, "\"queues\": %u, \"ring_pages\": %u, \"sector_size\": %u, "
		"\"persistent\": %s, \"seconds\": %.6f, \"requests\": %" PRIu64 ", "
		"\"reads\": %" PRIu64 ", \"writes\": %" PRIu64 ", "
		"\"iops\": %.1f, \"read_iops\": %.1f, \"write_iops\": %.1f, "
		"\"mib_per_s\": %.3f, \"read_mib_per_s\": %.3f, \"write_mib_per_s\": %.3f, "
		"\"lat_us\": {\"p50\": %.3f, \"p99\": %.3f, \"p999\": %.3f, \"mean\": %.3f, "
		"\"max\": %.3f}, ",
		in->nr_queues, in->ring_pages, in->sector_size, in->persistent ? "true" : "false",
		f.secs, f.ios, r->reads, r->writes, f.iops, f.riops, f.wiops, f.mibs, f.rmibs,
		f.wmibs, f.p50, f.p99, f.p999, f.mean, f.max);
	/* What the frontend negotiated; flush: how a flush goes to the backend. */
	fprintf(out, "\"features\": {\"flush\": \"%s\", \"discard\": %s, "
		"\"secure_discard\": %s, \"max_indirect_segments\": %u}, ",
		!in->flush ? "off" : in->flush_is_barrier ? "barrier" : "flush-cache",
		in->discard ? "true" : "false",
		in->secure_discard ? "true" : "false", in->max_indirect_segments);
	fprintf(out, "\"errors\": %" PRIu64 ", \"read_errors\": %" PRIu64 ", "
		"\"write_errors\": %" PRIu64 ", \"drained\": %s, ",
		f.errors, r->read_errors, r->write_errors, r->drained ? "true" : "false");
	if (r->first_error)
		fprintf(out, "\"first_error\": {\"op\": \"%s\", \"offset\": %" PRIu64 ", "
			"\"errno\": %d}, ", op_name(r->first_error_op), r->first_error_offset,
			-r->first_error);
	fprintf(out, "\"verify\": \"%s\", \"verify_checked\": %" PRIu64 ", "
		"\"verify_failures\": %" PRIu64 ", ", verify_word(r), r->verify_checked,
		r->verify_failures);
	if (r->verify_failures)
		fprintf(out, "\"first_mismatch\": {\"offset\": %" PRIu64 ", \"expected_generation\": %u, "
			"\"read_generation\": %u}, ", r->first_bad_offset,
			r->first_bad_expect_gen, r->first_bad_read_gen);
	fprintf(out, "\"kicks_per_req\": %.6f, \"front_kicks\": %" PRIu64 ", "
		"\"front_wakeups\": %" PRIu64 ", \"front_polls_hit\": %" PRIu64 ", "
		"\"front_persistent_hits\": %" PRIu64 ", "
		"\"bounced_bytes\": %" PRIu64 ", \"zero_copy_segments\": %" PRIu64,
		f.kpr, f.front_kicks, r->front.wakeups, r->front.polls_hit,
		r->front.persistent_hits,
		r->front.bounced_bytes, r->front.zero_copy_segments);
	if (bb) {
		fprintf(out, ", \"back_kicks\": %" PRIu64 ", \"back_wakeups\": %" PRIu64 ", "
			"\"grant_maps_per_req\": %.6f, \"persistent_hit_rate\": ",
			bb->kicks_sent, bb->wakeups, f.mpr);
		if (f.have_hit)
			fprintf(out, "%.6f", f.hit);
		else
			fprintf(out, "null");
		fprintf(out, ", \"backend\": {\"req_read\": %" PRIu64 ", \"req_write\": %" PRIu64
			", \"req_indirect\": %" PRIu64 ", \"grant_maps\": %" PRIu64
			", \"persistent_hits\": %" PRIu64 ", \"persistent_misses\": %" PRIu64
			", \"err_io\": %" PRIu64 ", \"err_nospc\": %" PRIu64
			", \"err_readonly\": %" PRIu64 ", \"err_range\": %" PRIu64
			", \"err_grant\": %" PRIu64 ", \"err_protocol\": %" PRIu64
			", \"engine_submits\": %" PRIu64 "}",
			bb->req_read, bb->req_write, bb->req_indirect, bb->grant_maps,
			bb->persistent_hits, bb->persistent_misses, bb->err_io, bb->err_nospc,
			bb->err_readonly, bb->err_range, bb->err_grant, bb->err_protocol,
			bb->engine_submits);
	}
	fprintf(out, ", \"ok\": %s}\n", blk_workload_ok(r) ? "true" : "false");
}

void blk_report_failure(FILE *out, const char *cmd, const struct blk_workload_result *r)
{
	if (r->verify_failures)
		fprintf(out, "pvio %s: run failed: %" PRIu64 " reads failed verification, "
			"first at offset %" PRIu64 " (expected generation %u, read %u)\n",
			cmd, r->verify_failures, r->first_bad_offset, r->first_bad_expect_gen,
			r->first_bad_read_gen);
	else if (r->read_errors + r->write_errors)
		fprintf(out, "pvio %s: run failed: %" PRIu64 " I/O errors (read %" PRIu64
			", write %" PRIu64 "), first: %s at offset %" PRIu64 ": %s\n", cmd,
			r->read_errors + r->write_errors, r->read_errors, r->write_errors,
			op_name(r->first_error_op), r->first_error_offset,
			strerror(-r->first_error));
	else if (!r->drained)
		fprintf(out, "pvio %s: run failed: requests still in flight 30 s after the end\n",
			cmd);
}

/* ---- flags ---------------------------------------------------------------------- */

const char blk_workload_help[] =
	"  --rw MODE         read, write (sequential), randread, randwrite or\n"
	"                    randrw (half each; default)\n"
	"  --bs SIZE         block size, a multiple of 512 up to 4m (default 4k;\n"
	"                    k/m/g are powers of 1024, as fio's)\n"
	"  --iodepth N       requests in flight per job, 1..1024 (default 32)\n"
	"  --numjobs N       jobs, 1..16 (default 1); each has its own blkfront\n"
	"                    queue (ring + event channel) and iodepth; one thread\n"
	"                    drives them all\n"
	"  --queues N        the same as --numjobs\n"
	"  --runtime TIME    how long to submit: seconds (1..86400, default 5),\n"
	"                    or with a unit, as fio's: 30s, 500ms (from 100ms)\n"
	"  --size SIZE       region used, from offset 0 (default: all the disk)\n"
	"  --verify on|off   check every read (default on): writes stamp each\n"
	"                    block with offset, generation and data whose checksum\n"
	"                    is kept in memory; reads of written blocks must match,\n"
	"                    unwritten blocks must read as the image's content;\n"
	"                    after a write or randwrite run every block written\n"
	"                    is read back and checked (outside the figures)\n";

const char *blk_rw_name(enum blk_rw rw)
{
	static const char *const names[] = { "read", "write", "randread", "randwrite",
					     "randrw" };

	return (unsigned)rw < 5 ? names[rw] : "?";
}

uint64_t blk_parse_size(const char *cmd, const char *flag, const char *value,
			uint64_t min, uint64_t max)
{
	char *end = NULL;
	unsigned long long v;
	unsigned shift = 0;

	if (!value || !*value || *value < '0' || *value > '9')
		cli_usage_error(cmd, "%s needs a size like 4k or 1g, got '%s'", flag,
				value ? value : "");
	errno = 0;
	v = strtoull(value, &end, 10);
	if (errno)
		cli_usage_error(cmd, "%s: '%s' is not a size", flag, value);
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if (shift && (!strcmp(end, "iB") || !strcmp(end, "ib") || !strcmp(end, "b") ||
		      !strcmp(end, "B")))
		end += strlen(end);
	if (!shift && (!strcmp(end, "b") || !strcmp(end, "B")))
		end++;
	if (*end)
		cli_usage_error(cmd, "%s: '%s' is not a size", flag, value);
	if (shift && v > (UINT64_MAX >> shift))
		cli_usage_error(cmd, "%s: %s is too large", flag, value);
	v <<= shift;
	if (v < min || v > max)
		cli_usage_error(cmd, "%s: %s is out of range %llu..%llu bytes", flag, value,
				(unsigned long long)min, (unsigned long long)max);
	return v;
}

uint32_t blk_parse_runtime(const char *cmd, const char *value)
{
	char tmp[32];
	size_t n = strlen(value);
	uint64_t mult = 1000;

	/* As fio: seconds, or with an "s" or "ms" suffix. */
	if (n > 2 && n < sizeof(tmp) && !strcmp(value + n - 2, "ms")) {
		n -= 2;
		mult = 1;
	} else if (n > 1 && n < sizeof(tmp) && value[n - 1] == 's') {
		n -= 1;
	}
	if (n >= sizeof(tmp))
		cli_usage_error(cmd, "--runtime: '%s' is not a duration", value);
	memcpy(tmp, value, n);
	tmp[n] = '\0';
	return (uint32_t)(cli_parse_u64(cmd, "--runtime", tmp, mult == 1 ? 100 : 1,
					mult == 1 ? 86400000 : 86400) * mult);
}

bool blk_parse_onoff(const char *cmd, const char *flag, const char *value)
{
	if (!strcmp(value, "on") || !strcmp(value, "1") || !strcmp(value, "yes"))
		return true;
	if (!strcmp(value, "off") || !strcmp(value, "0") || !strcmp(value, "no"))
		return false;
	cli_usage_error(cmd, "%s takes on or off, got '%s'", flag, value);
}

void blk_workload_defaults(struct blk_workload_config *c)
{
	memset(c, 0, sizeof(*c));
	c->rw = BLK_RW_RANDRW;
	c->bs = 4096;
	c->iodepth = 32;
	c->numjobs = 1;
	c->runtime_ms = 5000;
	c->verify = true;
}

bool blk_workload_flag(const char *cmd, struct blk_workload_config *c, int argc,
		       char **argv, int *i)
{
	const char *v;

	if ((v = cli_flag_value(cmd, "--rw", argc, argv, i))) {
		for (int m = 0; m <= BLK_RW_RANDRW; m++)
			if (!strcmp(v, blk_rw_name((enum blk_rw)m))) {
				c->rw = (enum blk_rw)m;
				return true;
			}
		if (!strcmp(v, "readwrite") || !strcmp(v, "rw"))
			cli_usage_error(cmd, "--rw %s: only randrw mixes reads and writes", v);
		cli_usage_error(cmd, "--rw takes read, write, randread, randwrite or "
				"randrw, got '%s'", v);
	} else if ((v = cli_flag_value(cmd, "--bs", argc, argv, i))) {
		c->bs = (uint32_t)blk_parse_size(cmd, "--bs", v, 512, BLK_BS_MAX);
		if (c->bs % 512)
			cli_usage_error(cmd, "--bs %s is not a multiple of 512", v);
	} else if ((v = cli_flag_value(cmd, "--iodepth", argc, argv, i))) {
		c->iodepth = (uint32_t)cli_parse_u64(cmd, "--iodepth", v, 1, BLK_IODEPTH_MAX);
	} else if ((v = cli_flag_value(cmd, "--numjobs", argc, argv, i))) {
		c->numjobs = (uint32_t)cli_parse_u64(cmd, "--numjobs", v, 1, BLK_JOBS_MAX);
	} else if ((v = cli_flag_value(cmd, "--queues", argc, argv, i))) {
		c->numjobs = (uint32_t)cli_parse_u64(cmd, "--queues", v, 1, BLK_JOBS_MAX);
	} else if ((v = cli_flag_value(cmd, "--runtime", argc, argv, i))) {
		c->runtime_ms = blk_parse_runtime(cmd, v);
	} else if ((v = cli_flag_value(cmd, "--size", argc, argv, i))) {
		c->size = blk_parse_size(cmd, "--size", v, 512, 1ull << 50);
		if (c->size % 512)
			cli_usage_error(cmd, "--size %s is not a multiple of 512", v);
	} else if ((v = cli_flag_value(cmd, "--verify", argc, argv, i))) {
		c->verify = blk_parse_onoff(cmd, "--verify", v);
	} else {
		return false;
	}
	return true;
}

/* ---- pipe messages ---------------------------------------------------------------- */

int blk_msg_send(int fd, uint32_t type, const void *payload, uint32_t len)
{
	struct blk_msg_hdr h = { .type = type, .len = len };
	const uint8_t *parts[2] = { (const uint8_t *)&h, payload };
	size_t sizes[2] = { sizeof(h), len };

	for (int p = 0; p < 2; p++) {
		size_t done = 0;

		while (done < sizes[p]) {
			ssize_t n = write(fd, parts[p] + done, sizes[p] - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EPIPE;
			done += (size_t)n;
		}
	}
	return 0;
}

static int read_full(int fd, void *buf, size_t len, uint64_t deadline)
{
	size_t done = 0;

	while (done < len) {
		uint64_t now = now_ns();
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (now >= deadline)
			return -ETIMEDOUT;
		int rc = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return -errno;
		if (rc == 0)
			continue;
		ssize_t n = read(fd, (uint8_t *)buf + done, len - done);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		done += (size_t)n;
	}
	return 0;
}

int blk_msg_recv(int fd, void *buf, uint32_t size, uint32_t *len, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct blk_msg_hdr h;
	int rc = read_full(fd, &h, sizeof(h), deadline);

	if (rc)
		return rc;
	if (h.len > size)
		return -EPROTO;
	rc = read_full(fd, buf, h.len, deadline);
	if (rc)
		return rc;
	if (len)
		*len = h.len;
	return (int)h.type;
}

/* ---- signals ------------------------------------------------------------------------ */

/* Atomic, not volatile sig_atomic_t: the reconnector thread sets it too
 * (a lock-free atomic is as safe in a signal handler). */
_Atomic int blk_stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	blk_stop_requested = 1;
}

void blk_install_stop_handlers(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}
