/* SPDX-License-Identifier: MIT */
/*
 * blkfront against the test's backend (fake_back.c) over the real ring,
 * grant, event channel and store code: the handshake and its keys, every
 * operation, persistent grants on and off, zero-copy and bounced buffers,
 * multi-page rings, multi-queue, a backend with no optional feature, a
 * malicious backend and one that dies mid-request.
 *
 * Built twice: against the harness's own machine (test_blkfront_io) and,
 * with H_HOSTD, against pvio hostd in threads mode (test_blkfront_hostd).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

struct fx {
	struct h_env *env;
	struct fake_back *fb;
	struct pvio_blkfront *bf;
};

static struct fx *fx_open(const struct fb_config *bc,
			  const struct pvio_blkfront_config *fc, int want)
{
	struct fx *x = calloc(1, sizeof(*x));

	x->env = h_env_new();
	h_device_create(x->env, false);
	x->fb = fb_start(x->env, bc);
	int err = pvio_blkfront_open(x->env->frontp,
				     "/local/domain/1/device/vbd/51712", fc, &x->bf);
	if (err != want)
		fprintf(stderr, "open: %d, backend: %s\n", err, x->fb->err);
	assert_int_equal(err, want);
	return x;
}

static void fx_close(struct fx *x, int want_close)
{
	if (x->bf)
		assert_int_equal(pvio_blkfront_close(x->bf), want_close);
	atomic_store(&x->fb->stop, true);
	fb_join(x->fb);
	fb_free(x->fb);
	h_env_free(x->env);
	free(x);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed + (i >> 9));
}

/* Write len bytes at off through buf, read them back through another. */
static void roundtrip(struct pvio_blkfront *bf, unsigned char *wbuf,
		      unsigned char *rbuf, size_t len, uint64_t off, unsigned seed)
{
	fill(wbuf, len, seed);
	memset(rbuf, 0, len);
	assert_int_equal(pvio_blkfront_pwrite(bf, wbuf, len, off), 0);
	assert_int_equal(pvio_blkfront_pread(bf, rbuf, len, off), 0);
	assert_memory_equal(wbuf, rbuf, len);
}

/* ---- handshake ---- */

static void handshake_publishes_keys_and_reads_geometry(void **state)
{
	struct fb_config bc = { .max_ring_order = 2, .persistent = true,
				.max_indirect = 256, .flush = true,
				.discard = true, .secure = true,
				.sector_size = 512, .sectors = 8192, .info = 0 };
	struct pvio_blkfront_config fc = { .max_ring_pages = 4 };
	struct pvio_blkfront_info in;

	(void)state;
	struct fx *x = fx_open(&bc, &fc, 0);
	assert_int_equal(pvio_blkfront_get_info(x->bf, &in), 0);
	assert_int_equal(in.sectors, 8192);
	assert_int_equal(in.sector_size, 512);
	assert_int_equal(in.physical_sector_size, 512);
	assert_true(in.flush);
	assert_false(in.flush_is_barrier);
	assert_true(in.discard);
	assert_true(in.secure_discard);
	assert_int_equal(in.discard_granularity, 4096);
	assert_true(in.persistent);
	assert_int_equal(in.max_indirect_segments, 256);
	assert_int_equal(in.ring_pages, 4);
	assert_int_equal(in.nr_queues, 1);
	assert_int_equal(in.backend_id, H_BACK_ID);
	assert_false(in.readonly);
	assert_true(x->fb->protocol_ok);
	assert_true(x->fb->fe_persistent);
	assert_int_equal(x->fb->ring_order_seen, 2);
	assert_int_equal(x->fb->nr_queues_seen, 1);
	fx_close(x, 0);
}

static void open_by_devid_works_and_close_reaches_closed(void **state)
{
	struct fb_config bc = { 0 };
	struct fx *x = calloc(1, sizeof(*x));
	char path[256], val[16];

	(void)state;
	x->env = h_env_new();
	h_device_create(x->env, false);
	x->fb = fb_start(x->env, &bc);
	assert_int_equal(pvio_blkfront_open_devid(x->env->frontp, H_DEVID, NULL, &x->bf), 0);
	assert_int_equal(pvio_blkfront_close(x->bf), 0);
	x->bf = NULL;
	assert_int_equal(fb_join(x->fb), 0);
	snprintf(path, sizeof(path), "/local/domain/1/device/vbd/%u/state", H_DEVID);
	assert_int_equal(pvio_xs_read(x->env->frontp->xs, 0, path, val, sizeof(val), NULL), 0);
	assert_string_equal(val, "6");
	fx_close(x, 0);
}

static void missing_sectors_key_fails_open_with_eproto(void **state)
{
	struct fb_config bc = { .no_sectors = true };

	(void)state;
	struct fx *x = fx_open(&bc, NULL, -EPROTO);
	x->bf = NULL;
	atomic_store(&x->fb->stop, true);
	fx_close(x, 0);
}

/* ---- a backend with no optional feature ---- */

static void minimal_backend_reads_writes_and_refuses_flush_discard(void **state)
{
	struct fb_config bc = { 0 };
	struct pvio_blkfront_info in;
	struct pvio_blkfront_stats st;
	unsigned char *w = malloc(1 << 20), *r = malloc(1 << 20);

	(void)state;
	struct fx *x = fx_open(&bc, NULL, 0);
	pvio_blkfront_get_info(x->bf, &in);
	assert_false(in.persistent);
	assert_false(in.flush);
	assert_false(in.discard);
	assert_int_equal(in.max_indirect_segments, 0);
	assert_int_equal(in.max_segments, 11);
	assert_int_equal(in.ring_pages, 1);
	assert_int_equal(in.ring_slots, 32);
	assert_int_equal(in.nr_queues, 1);
	roundtrip(x->bf, w, r, 4096, 0, 1);
	roundtrip(x->bf, w, r, 512, 3 * 512, 2);
	assert_int_equal(pvio_blkfront_flush(x->bf), -EOPNOTSUPP);
	assert_int_equal(pvio_blkfront_discard(x->bf, 0, 4096, false), -EOPNOTSUPP);
	pvio_blkfront_get_stats(x->bf, &st);
	assert_int_equal(st.persistent_hits, 0);
	assert_true(st.grants > 0);
	/* Every data grant was ended (the ring's stay until close). */
	assert_int_equal(st.grants - st.revokes, 1);
	assert_int_equal(st.revokes_pending, 0);
	fx_close(x, 0);
	free(w);
	free(r);
}

static void large_io_splits_into_11_segment_requests(void **state)
{
	struct fb_config bc = { 0 };
	struct pvio_blkfront_stats st;
	unsigned char *w = malloc(1 << 20), *r = malloc(1 << 20);

	(void)state;
	struct fx *x = fx_open(&bc, NULL, 0);
	fill(w, 1 << 20, 7);
	assert_int_equal(pvio_blkfront_pwrite(x->bf, w, 1 << 20, 0), 0);
	pvio_blkfront_get_stats(x->bf, &st);
	assert_int_equal(st.ring_requests, 24);
	assert_int_equal(st.indirect_requests, 0);
	assert_int_equal(x->fb->max_segs_seen, 11);
	assert_int_equal(pvio_blkfront_pread(x->bf, r, 1 << 20, 0), 0);
	assert_memory_equal(w, r, 1 << 20);
	/* More than the ring holds at once (32 slots): 4 MiB = 94 parts. */
	unsigned char *big = malloc(4 << 20), *big2 = malloc(4 << 20);
	roundtrip(x->bf, big, big2, 4 << 20, 0, 9);
	free(big);
	free(big2);
	fx_close(x, 0);
	free(w);
	free(r);
}

static void unaligned_caller_buffer_is_bounced(void **state)
{
	struct fb_config bc = { 0 };
	struct pvio_blkfront_stats st;
	unsigned char *w = malloc(70000), *r = malloc(70000);

	(void)state;
	struct fx *x = fx_open(&bc, NULL, 0);
	roundtrip(x->bf, w + 3, r + 5, 65536, 4096, 3);
	pvio_blkfront_get_stats(x->bf, &st);
	assert_true(st.bounced_bytes >= 2 * 65536);
	assert_int_equal(st.zero_copy_segments, 0);
	/* Bad geometry is refused before anything is queued. */
	assert_int_equal(pvio_blkfront_pread(x->bf, r, 100, 0), -EINVAL);
	assert_int_equal(pvio_blkfront_pread(x->bf, r, 512, 8192 * 512), -EINVAL);
	fx_close(x, 0);
	free(w);
	free(r);
}

/* ---- optional features ---- */

static void indirect_requests_carry_large_io(void **state)
{
	struct fb_config bc = { .max_indirect = 1024 };
	struct pvio_blkfront_config fc = { .max_indirect_segments = 1024 };
	struct pvio_blkfront_stats st;
	unsigned char *w = malloc(4 << 20), *r = malloc(4 << 20);

	(void)state;
	struct fx *x = fx_open(&bc, &fc, 0);
	roundtrip(x->bf, w, r, 4 << 20, 0, 11);
	pvio_blkfront_get_stats(x->bf, &st);
	/* 1024 pages, one request each way, two indirect pages each. */
	assert_int_equal(st.ring_requests, 2);
	assert_int_equal(st.indirect_requests, 2);
	assert_int_equal(x->fb->max_segs_seen, 1024);
	/* Small I/O still goes direct. */
	roundtrip(x->bf, w, r, 8192, 512, 12);
	pvio_blkfront_get_stats(x->bf, &st);
	assert_int_equal(st.indirect_requests, 2);
	fx_close(x, 0);
	free(w);
	free(r);
}

static void persistent_grants_are_reused(void **state)
{
	struct fb_config bc = { .persistent = true, .max_indirect = 64 };
	struct pvio_blkfront_stats st1, st2;
	unsigned char *w = malloc(1 << 18), *r = malloc(1 << 18);

	(void)state;
	struct fx *x = fx_open(&bc, NULL, 0);
	roundtrip(x->bf, w, r, 1 << 18, 0, 5);
	pvio_blkfront_get_stats(x->bf, &st1);
	for (int i = 0; i < 8; i++)
		roundtrip(x->bf, w, r, 1 << 18, 1 << 18, 6 + (unsigned)i);
	pvio_blkfront_get_stats(x->bf, &st2);
	assert_int_equal(st2.grants, st1.grants); /* no new grant */
	assert_true(st2.persistent_hits > st1.persistent_hits);
	assert_int_equal(st2.revokes, 0);
	fx_close(x, 0);
	free(w);
	free(r);
}

static void persistent_offered_but_refused_by_frontend_is_off(void **state)
{
	struct fb_config bc = { .persistent = true };
	struct pvio_blkfront_config fc = { .no_persistent = true };
	struct pvio_blkfront_info in;
	unsigned char w[4096], r[4096];

	(void)state;
	struct fx *x = fx_open(&bc, &fc, 0);
	pvio_blkfront_get_info(x->bf, &in);
	assert_false(in.persistent);
	assert_false(x->fb->fe_persistent);
	roundtrip(x->bf, w, r, 4096, 0, 1);
	fx_close(x, 0);
}

static void zero_copy_buffers_are_granted_in_place(void **state)
{
	struct fb_config bc = { .max_indirect = 64 };
	struct pvio_blkfront_stats st;
	unsigned char *w, *r;

	(void)state;
	struct fx *x = fx_open(&bc, NULL, 0);
	assert_int_equal(pvio_blkfront_buf_alloc(x->bf, 1 << 18, (void **)&w), 0);
	assert_int_equal(pvio_blkfront_buf_alloc(x->bf, 1 << 18, (void **)&r), 0);
	roundtrip(x->bf, w, r, 1 << 18, 0, 21);
	/* 512-aligned but not page-aligned: still in place. */
	roundtrip(x->bf, w + 512, r + 1024, 8192, 4096, 22);
	pvio_blkfront_get_stats(x->bf, &st);
	assert_int_equal(st.bounced_bytes, 0);
	assert_true(st.zero_copy_segments >= 128);
	assert_int_equal(pvio_blkfront_buf_free(x->bf, w), 0);
	assert_int_equal(pvio_blkfront_buf_free(x->bf, r), 0);
	assert_int_equal(pvio_blkfront_buf_free(x->bf, r), -EINVAL);
	fx_close(x, 0);
}

static void flush_uses_flush_cache_or_barrier(void **state)
{
	struct fb_config bc1 = { .flush = true }, bc2 = { .barrier = true };
	struct pvio_blkfront_info in;

	(void)state;
	struct fx *x = fx_open(&bc1, NULL, 0);
	assert_int_equal(pvio_blkfront_flush(x->bf), 0);
	assert_int_equal(x->fb->nr_flush, 1);
	assert_int_equal(x->fb->nr_barrier, 0);
	fx_close(x, 0);

	x = fx_open(&bc2, NULL, 0);
	pvio_blkfront_get_info(x->bf, &in);
	assert_true(in.flush_is_barrier);
	assert_int_equal(pvio_blkfront_flush(x->bf), 0);
	assert_int_equal(x->fb->nr_barrier, 1);
	assert_int_equal(x->fb->nr_flush, 0);
	fx_close(x, 0);
}

static void discard_and_secure_discard(void **state)
{
	struct fb_config bc = { .discard = true, .secure = true };
	unsigned char w[8192], r[8192], z[8192] = { 0 };

	(void)state;
	struct fx *x = fx_open(&bc, NULL, 0);
	fill(w, sizeof(w), 4);
	assert_int_equal(pvio_blkfront_pwrite(x->bf, w, 8192, 0), 0);
	assert_int_equal(pvio_blkfront_discard(x->bf, 0, 4096, false), 0);
	assert_int_equal(pvio_blkfront_discard(x->bf, 4096, 4096, true), 0);
	assert_int_equal(pvio_blkfront_pread(x->bf, r, 8192, 0), 0);
	assert_memory_equal(r, z, 8192);
	assert_int_equal(x->fb->nr_discard, 2);
	assert_int_equal(x->fb->nr_secure, 1);
	fx_close(x, 0);
}

static void readonly_device_refuses_writes(void **state)
{
	struct fb_config bc = { .info = PVIO_BLKFRONT_VDISK_READONLY };
	unsigned char b[512];

	(void)state;
	struct fx *x = fx_open(&bc, NULL, 0);
	assert_int_equal(pvio_blkfront_pwrite(x->bf, b, 512, 0), -EROFS);
	assert_int_equal(pvio_blkfront_pread(x->bf, b, 512, 0), 0);
	fx_close(x, 0);
}

static void four_kib_sectors_split_on_sector_boundaries(void **state)
{
	struct fb_config bc = { .sector_size = 4096 };
	unsigned char *w = malloc(1 << 20), *r = malloc(1 << 20);

	(void)state;
	struct fx *x = fx_open(&bc, NULL, 0);
	assert_int_equal(pvio_blkfront_pread(x->bf, r, 512, 0), -EINVAL);
	roundtrip(x->bf, w, r, 1 << 19, 4096, 8);
	fx_close(x, 0);
	free(w);
	free(r);
}

/* ---- rings and queues ---- */

static void multi_page_ring_holds_more_requests(void **state)
{
	struct fb_config bc = { .max_ring_order = 4 };
	struct pvio_blkfront_config fc = { .max_ring_pages = 16 };
	struct pvio_blkfront_info in;
	unsigned char *w = malloc(1 << 21), *r = malloc(1 << 21);

	(void)state;
	struct fx *x = fx_open(&bc, &fc, 0);
	pvio_blkfront_get_info(x->bf, &in);
	assert_int_equal(in.ring_pages, 16);
	assert_int_equal(in.ring_slots, 512);
	assert_int_equal(x->fb->ring_order_seen, 4);
	roundtrip(x->bf, w, r, 1 << 21, 0, 13);
	fx_close(x, 0);
	free(w);
	free(r);
}

struct cb_count {
	_Atomic int n;
	_Atomic int bad;
};

static void count_done(struct pvio_blkfront_req *req, int res)
{
	struct cb_count *c = req->user;

	if (res)
		atomic_fetch_add(&c->bad, 1);
	atomic_fetch_add(&c->n, 1);
}

static void multi_queue_async_callbacks_and_completion_queue(void **state)
{
	struct fb_config bc = { .max_queues = 4, .max_ring_order = 1 };
	struct pvio_blkfront_config fc = { .max_queues = 4, .max_ring_pages = 2,
					   .evtchn_waiter = 3 };
	struct pvio_blkfront_info in;
	enum { N = 64, SZ = 16384 };
	static struct pvio_blkfront_req reqs[N];
	static unsigned char bufs[N][SZ], back[N][SZ];
	struct pvio_blkfront_req *got[N];
	struct cb_count cc = { 0, 0 };

	(void)state;
	struct fx *x = fx_open(&bc, &fc, 0);
	pvio_blkfront_get_info(x->bf, &in);
	assert_int_equal(in.nr_queues, 4);
	assert_int_equal(x->fb->nr_queues_seen, 4);
	assert_int_equal(in.ring_pages, 2);
	/* Writes with callbacks, round-robin. */
	for (int i = 0; i < N; i++) {
		fill(bufs[i], SZ, (unsigned)i);
		memset(&reqs[i], 0, sizeof(reqs[i]));
		reqs[i].op = PVIO_BLKFRONT_OP_WRITE;
		reqs[i].sector = (uint64_t)i * SZ / 512;
		reqs[i].buf = bufs[i];
		reqs[i].nr_bytes = SZ;
		reqs[i].done = count_done;
		reqs[i].user = &cc;
		assert_int_equal(pvio_blkfront_submit(x->bf, PVIO_BLKFRONT_QUEUE_ANY, &reqs[i]), 0);
	}
	assert_int_equal(pvio_blkfront_drain(x->bf, PVIO_BLKFRONT_FOREVER), 0);
	assert_int_equal(cc.n, N);
	assert_int_equal(cc.bad, 0);
	/* Reads into the completion queue, each queue chosen explicitly. */
	for (int i = 0; i < N; i++) {
		memset(&reqs[i], 0, sizeof(reqs[i]));
		reqs[i].op = PVIO_BLKFRONT_OP_READ;
		reqs[i].sector = (uint64_t)i * SZ / 512;
		reqs[i].buf = back[i];
		reqs[i].nr_bytes = SZ;
		assert_int_equal(pvio_blkfront_submit(x->bf, (uint32_t)i % 4, &reqs[i]), 0);
	}
	int total = 0;
	while (total < N) {
		int n = pvio_blkfront_getevents(x->bf, got, 1, N, PVIO_BLKFRONT_FOREVER);
		assert_true(n >= 1);
		for (int k = 0; k < n; k++)
			assert_int_equal(got[k]->res, 0);
		total += n;
	}
	for (int i = 0; i < N; i++)
		assert_memory_equal(bufs[i], back[i], SZ);
	assert_int_equal(pvio_blkfront_submit(x->bf, 4, &reqs[0]), -EINVAL);
	assert_int_equal(pvio_blkfront_getevents(x->bf, got, 1, N, 0), -ETIMEDOUT);
	fx_close(x, 0);
}

/* ---- a malicious backend ---- */

static void hostile(enum fb_misbehave m)
{
	struct fb_config bc = { .misbehave = m, .misbehave_after = 1 };
	struct pvio_blkfront_stats st;
	unsigned char b[4096];

	struct fx *x = fx_open(&bc, NULL, 0);
	/* The first request is answered well. */
	assert_int_equal(pvio_blkfront_pread(x->bf, b, 4096, 0), 0);
	/* Then the backend lies: the request fails, the device is broken. */
	assert_int_equal(pvio_blkfront_pread(x->bf, b, 4096, 0), -EIO);
	assert_int_equal(pvio_blkfront_pread(x->bf, b, 4096, 0), -EIO);
	pvio_blkfront_get_stats(x->bf, &st);
	assert_int_equal(st.protocol_errors, 1);
	fx_close(x, 0);
}

static void bad_id_breaks_the_device(void **state)
{
	(void)state;
	hostile(FB_BAD_ID);
}

static void stale_id_breaks_the_device(void **state)
{
	(void)state;
	hostile(FB_STALE_ID);
}

static void bad_status_breaks_the_device(void **state)
{
	(void)state;
	hostile(FB_BAD_STATUS);
}

static void wrong_operation_breaks_the_device(void **state)
{
	(void)state;
	hostile(FB_BAD_OP);
}

static void rsp_prod_beyond_requests_breaks_the_device(void **state)
{
	(void)state;
	hostile(FB_PROD_BEYOND);
}

static void duplicate_id_breaks_the_device(void **state)
{
	struct fb_config bc = { .misbehave = FB_DUP_ID, .misbehave_after = 1 };
	struct pvio_blkfront_stats st;
	unsigned char b[4096];

	(void)state;
	struct fx *x = fx_open(&bc, NULL, 0);
	assert_int_equal(pvio_blkfront_pread(x->bf, b, 4096, 0), 0);
	assert_int_equal(pvio_blkfront_pread(x->bf, b, 4096, 0), 0);
	/* Answered with the previous request's id. */
	assert_int_equal(pvio_blkfront_pread(x->bf, b, 4096, 0), -EIO);
	assert_int_equal(pvio_blkfront_submit(x->bf, 0, &(struct pvio_blkfront_req){
		.op = PVIO_BLKFRONT_OP_READ, .buf = b, .nr_bytes = 512 }), -EIO);
	pvio_blkfront_get_stats(x->bf, &st);
	assert_int_equal(st.protocol_errors, 1);
	fx_close(x, 0);
}

/* ---- a backend that dies ---- */

static __attribute__((unused)) void
backend_dying_mid_request_fails_it_and_leaks_nothing(void **state)
{
	struct fb_config bc = { .misbehave = FB_DIE, .misbehave_after = 1 };
	struct pvio_blkfront_config fc = { .timeout_ms = 300 };
	struct pvio_blkfront_stats st;
	unsigned char b[4096];

	(void)state;
	struct fx *x = fx_open(&bc, &fc, 0);
	uint32_t free0 = pvio_gnt_nr_free(x->env->frontp->gnt);
	assert_int_equal(pvio_blkfront_pwrite(x->bf, b, 4096, 0), 0);
	assert_int_equal(pvio_blkfront_pwrite(x->bf, b, 4096, 0), -EIO);
	assert_int_equal(pvio_blkfront_pread(x->bf, b, 4096, 0), -EIO);
	assert_true(atomic_load(&x->fb->dead));
	pvio_blkfront_get_stats(x->bf, &st);
	assert_int_equal(st.revokes_pending, 1); /* still mapped by the corpse */
	fb_release_held(x->fb);
	pvio_blkfront_poll(x->bf);
	pvio_blkfront_get_stats(x->bf, &st);
	assert_int_equal(st.revokes_pending, 0);
	assert_int_equal(pvio_gnt_nr_free(x->env->frontp->gnt), free0);
	fx_close(x, 0);
}

static void backend_leaving_is_seen_by_check_backend(void **state)
{
	struct fb_config bc = { .misbehave = FB_STALL, .misbehave_after = 0 };
	struct pvio_blkfront_config fc = { .timeout_ms = 300 };
	struct pvio_blkfront_req req = { .op = PVIO_BLKFRONT_OP_READ, .nr_bytes = 512 };
	struct pvio_blkfront_req *got[1];
	unsigned char b[512];

	(void)state;
	struct fx *x = fx_open(&bc, &fc, 0);
	req.buf = b;
	assert_int_equal(pvio_blkfront_submit(x->bf, 0, &req), 0);
	assert_int_equal(pvio_blkfront_getevents(x->bf, got, 1, 1, 50000000), -ETIMEDOUT);
	assert_int_equal(pvio_blkfront_check_backend(x->bf, 0), 0);
	/* The backend goes away (its thread writes: it owns the connection). */
	atomic_store(&x->fb->leave, true);
	while (atomic_load(&x->fb->leave))
		usleep(1000);
	assert_int_equal(pvio_blkfront_check_backend(x->bf, 2000), -ENOTCONN);
	assert_int_equal(pvio_blkfront_getevents(x->bf, got, 1, 1, 0), 1);
	assert_int_equal(got[0]->res, -EIO);
	atomic_store(&x->fb->stop, true);
	fx_close(x, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handshake_publishes_keys_and_reads_geometry),
		cmocka_unit_test(open_by_devid_works_and_close_reaches_closed),
		cmocka_unit_test(missing_sectors_key_fails_open_with_eproto),
		cmocka_unit_test(minimal_backend_reads_writes_and_refuses_flush_discard),
		cmocka_unit_test(large_io_splits_into_11_segment_requests),
		cmocka_unit_test(unaligned_caller_buffer_is_bounced),
		cmocka_unit_test(indirect_requests_carry_large_io),
		cmocka_unit_test(persistent_grants_are_reused),
		cmocka_unit_test(persistent_offered_but_refused_by_frontend_is_off),
		cmocka_unit_test(zero_copy_buffers_are_granted_in_place),
		cmocka_unit_test(flush_uses_flush_cache_or_barrier),
		cmocka_unit_test(discard_and_secure_discard),
		cmocka_unit_test(readonly_device_refuses_writes),
		cmocka_unit_test(four_kib_sectors_split_on_sector_boundaries),
		cmocka_unit_test(multi_page_ring_holds_more_requests),
		cmocka_unit_test(multi_queue_async_callbacks_and_completion_queue),
		cmocka_unit_test(bad_id_breaks_the_device),
		cmocka_unit_test(stale_id_breaks_the_device),
		cmocka_unit_test(bad_status_breaks_the_device),
		cmocka_unit_test(wrong_operation_breaks_the_device),
		cmocka_unit_test(rsp_prod_beyond_requests_breaks_the_device),
		cmocka_unit_test(duplicate_id_breaks_the_device),
#ifndef H_HOSTD /* the test's own machine kills the backend's event channels */
		cmocka_unit_test(backend_dying_mid_request_fails_it_and_leaks_nothing),
#endif
		cmocka_unit_test(backend_leaving_is_seen_by_check_backend),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
