/* SPDX-License-Identifier: MIT */
/*
 * The reverse direction: a backend that breaks every rule against the
 * real blkfront (hostd in threads mode; the lying backend is
 * tests/blkfront's fake_back.c, and for indices the test itself writes the
 * shared ring as the backend). For each lie: the request it touches fails
 * with -EIO, the device is marked broken (one protocol error) and later
 * requests fail at once, closing does not hang, and nothing outside the
 * caller's buffers changed: each buffer sits between canary pages (heap:
 * under ASan a stray byte is also a report).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvio/host.h>

#include "../blkfront/harness.h"
#include "common.h" /* blkfront's private header: its rings */

#define PG 4096u

struct fx {
	struct h_env *env;
	struct fake_back *fb;
	struct pvio_blkfront *bf;
};

static struct fx *fx_open(enum fb_misbehave m, uint32_t after)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct fb_config bc = { .misbehave = m, .misbehave_after = after };
	struct pvio_blkfront_config fc = { .timeout_ms = 2000 };

	assert_non_null(x);
	x->env = h_env_new();
	h_device_create(x->env, false);
	x->fb = fb_start(x->env, &bc);
	assert_int_equal(pvio_blkfront_open(x->env->frontp, "/local/domain/1/device/vbd/51712",
					    &fc, &x->bf), 0);
	return x;
}

static void fx_close(struct fx *x)
{
	uint64_t t0 = pvio_now_ns();

	/* A broken device may close with an error; it must not hang. */
	(void)pvio_blkfront_close(x->bf);
	assert_true(pvio_now_ns() - t0 < 30ull * 1000000000ull);
	atomic_store(&x->fb->stop, true);
	fb_join(x->fb);
	fb_free(x->fb);
	h_env_free(x->env);
	free(x);
}

/* A buffer of n pages between two canary pages. */
struct guarded {
	unsigned char *all;
	unsigned char *buf;
	size_t n;
};

static struct guarded guarded_new(size_t n)
{
	struct guarded g = { .n = n };

	g.all = malloc(n + 2 * PG);
	assert_non_null(g.all);
	memset(g.all, 0xa5, n + 2 * PG);
	g.buf = g.all + PG;
	return g;
}

static void guarded_check_free(struct guarded *g)
{
	for (size_t i = 0; i < PG; i++) {
		assert_int_equal(g->all[i], 0xa5);
		assert_int_equal(g->all[PG + g->n + i], 0xa5);
	}
	free(g->all);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed);
}

/*
 * Two honest round trips (one through an unaligned buffer: bounced), then
 * the backend lies on every answer. The lie fails the request and breaks
 * the device; the caller's read buffer keeps its old bytes (nothing was
 * copied in from a response that was not the request's) and the canaries
 * hold.
 */
static void lie(enum fb_misbehave m)
{
	struct fx *x = fx_open(m, 2);
	struct guarded w = guarded_new(2 * PG), r = guarded_new(2 * PG + 1);
	struct pvio_blkfront_stats st;
	uint64_t t0;

	fill(w.buf, 2 * PG, 1);
	assert_int_equal(pvio_blkfront_pwrite(x->bf, w.buf, 2 * PG, 0), 0);
	memset(r.buf + 1, 0, 2 * PG);
	assert_int_equal(pvio_blkfront_pread(x->bf, r.buf + 1, 2 * PG, 0), 0);
	assert_memory_equal(r.buf + 1, w.buf, 2 * PG);
	/* DUP_ID answers its first bad request honestly and repeats that
	 * answer's id for the next one. */
	if (m == FB_DUP_ID)
		assert_int_equal(pvio_blkfront_pread(x->bf, r.buf + 1, 2 * PG, 0), 0);
	/* the lie: a read whose answer cannot be trusted */
	memset(r.buf + 1, 0x5a, 2 * PG);
	assert_int_equal(pvio_blkfront_pread(x->bf, r.buf + 1, 2 * PG, 0), -EIO);
	for (size_t i = 0; i < 2 * PG; i++)
		assert_int_equal(r.buf[1 + i], 0x5a);
	/* broken: later requests fail at once */
	t0 = pvio_now_ns();
	for (int i = 0; i < 10; i++) {
		assert_int_equal(pvio_blkfront_pread(x->bf, r.buf + 1, PG, 0), -EIO);
		assert_int_equal(pvio_blkfront_pwrite(x->bf, w.buf, PG, 0), -EIO);
	}
	assert_true(pvio_now_ns() - t0 < 5ull * 1000000000ull);
	pvio_blkfront_get_stats(x->bf, &st);
	assert_int_equal(st.protocol_errors, 1);
	guarded_check_free(&w);
	guarded_check_free(&r);
	fx_close(x);
}

static void response_id_beyond_the_shadow_table_fails_the_request(void **s)
{
	(void)s;
	lie(FB_BAD_ID);
}

static void response_id_of_an_old_generation_fails_the_request(void **s)
{
	(void)s;
	lie(FB_STALE_ID);
}

static void unknown_response_status_fails_the_request(void **s)
{
	(void)s;
	lie(FB_BAD_STATUS);
}

static void response_for_another_operation_fails_the_request(void **s)
{
	(void)s;
	lie(FB_BAD_OP);
}

static void duplicate_response_fails_the_request(void **s)
{
	(void)s;
	lie(FB_DUP_ID);
}

static void rsp_prod_far_ahead_fails_the_request(void **s)
{
	(void)s;
	lie(FB_PROD_BEYOND);
}

/*
 * The test plays the backend's last word itself: with a request in
 * flight it publishes an rsp_prod that moved backwards, or one half the
 * index space away (wrapped). Either breaks the device: the request
 * completes with -EIO, nothing is read from a slot.
 */
static void indices(uint32_t (*bad)(const struct pvio_ring_front *))
{
	struct fx *x = fx_open(FB_STALL, 2);
	struct guarded r = guarded_new(PG);
	struct pvio_blkfront_req req = { .op = PVIO_BLKFRONT_OP_READ, .nr_bytes = PG };
	struct pvio_blkfront_req *got[1];
	struct pvio_blkfront_stats st;
	struct pvio_ring_front *ring = &x->bf->q[0].ring;

	assert_int_equal(pvio_blkfront_pread(x->bf, r.buf, PG, 0), 0);
	assert_int_equal(pvio_blkfront_pread(x->bf, r.buf, PG, 0), 0);
	memset(r.buf, 0x5a, PG);
	req.buf = r.buf;
	assert_int_equal(pvio_blkfront_submit(x->bf, 0, &req), 0);
	/* the backend took it (and stalls): now it lies about rsp_prod */
	for (int i = 0; i < 10000 && atomic_load(&x->fb->nr_requests) < 3; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&x->fb->nr_requests), 3);
	pvio_store_release(&ring->sring->rsp_prod, bad(ring));
	(void)pvio_blkfront_poll(x->bf); /* as if kicked */
	assert_int_equal(pvio_blkfront_getevents(x->bf, got, 1, 1, 5000000000ull), 1);
	assert_ptr_equal(got[0], &req);
	assert_int_equal(req.res, -EIO);
	for (size_t i = 0; i < PG; i++)
		assert_int_equal(r.buf[i], 0x5a);
	pvio_blkfront_get_stats(x->bf, &st);
	assert_int_equal(st.protocol_errors, 1);
	assert_int_equal(pvio_blkfront_pread(x->bf, r.buf, PG, 0), -EIO);
	guarded_check_free(&r);
	fx_close(x);
}

static uint32_t backwards(const struct pvio_ring_front *f)
{
	return f->rsp_cons - 2;
}

static uint32_t wrapped(const struct pvio_ring_front *f)
{
	return f->rsp_cons + 0x80000000u;
}

static uint32_t one_more_than_asked(const struct pvio_ring_front *f)
{
	return f->req_prod_pvt + 1; /* a response for a request never made */
}

static void rsp_prod_moving_backwards_fails_the_request(void **s)
{
	(void)s;
	indices(backwards);
}

static void rsp_prod_wrapped_fails_the_request(void **s)
{
	(void)s;
	indices(wrapped);
}

static void rsp_prod_past_the_requests_fails_the_request(void **s)
{
	(void)s;
	indices(one_more_than_asked);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(response_id_beyond_the_shadow_table_fails_the_request),
		cmocka_unit_test(response_id_of_an_old_generation_fails_the_request),
		cmocka_unit_test(unknown_response_status_fails_the_request),
		cmocka_unit_test(response_for_another_operation_fails_the_request),
		cmocka_unit_test(duplicate_response_fails_the_request),
		cmocka_unit_test(rsp_prod_far_ahead_fails_the_request),
		cmocka_unit_test(rsp_prod_moving_backwards_fails_the_request),
		cmocka_unit_test(rsp_prod_wrapped_fails_the_request),
		cmocka_unit_test(rsp_prod_past_the_requests_fails_the_request),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
