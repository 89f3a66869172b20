/* SPDX-License-Identifier: MIT */
/*
 * The reverse direction: a backend that breaks every rule against the
 * real netfront (hostd in threads mode; the lying backend is
 * tests/netfront's fake_back.c, and for rx indices the test itself writes
 * the shared ring as the backend). A lie about a tx response breaks the
 * device (-EIO, one protocol error); a lie about one rx packet (offset or
 * size past its page, unknown status, too many slots, unknown extra)
 * drops that packet and the device goes on. Receive buffers sit between
 * canary pages on the heap: nothing is copied outside them (ASan reports
 * a stray byte too), and what is delivered is exactly what was sent.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pvio/host.h>

#include "../netfront/harness.h"
#include "common.h" /* netfront's private header: its rings */

#define SEC 1000000000ull
#define PG 4096u
#define CAP 65536u

static const struct fnb_config backend = {
	.sg = true, .gso4 = true, .rx_copy = true,
};

struct fx {
	struct h_env *env;
	struct fake_netback *fb;
	struct pvio_netfront *nf;
};

static struct fx *fx_open(enum fnb_misbehave m, uint32_t after)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct fnb_config bc = backend;

	assert_non_null(x);
	bc.misbehave = m;
	bc.misbehave_after = after;
	x->env = h_env_new();
	h_device_create(x->env, H_MAC_BOTH);
	x->fb = fnb_start(x->env, &bc);
	assert_int_equal(pvio_netfront_open(x->env->frontp, H_PATH, NULL, &x->nf), 0);
	return x;
}

static void fx_close(struct fx *x)
{
	uint64_t t0 = pvio_now_ns();

	(void)pvio_netfront_close(x->nf);
	assert_true(pvio_now_ns() - t0 < 30 * SEC);
	fnb_stop(x->fb);
	h_env_free(x->env);
	free(x);
}

/* A receive buffer of CAP bytes between two canary pages. */
static unsigned char *guarded_new(void)
{
	unsigned char *all = malloc(CAP + 2 * PG);

	assert_non_null(all);
	memset(all, 0xa5, CAP + 2 * PG);
	return all;
}

static void guarded_check_free(unsigned char *all)
{
	for (size_t i = 0; i < PG; i++) {
		assert_int_equal(all[i], 0xa5);
		assert_int_equal(all[PG + CAP + i], 0xa5);
	}
	free(all);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 7 + seed + (i >> 8));
}

/* Receive one packet (up to 10 s). Returns recv's count or an error. */
static int recv_one(struct pvio_netfront *nf, struct pvio_netfront_pkt *pkt)
{
	for (int i = 0; i < 100; i++) {
		int n = pvio_netfront_recv_burst(nf, 0, pkt, 1);

		if (n != 0)
			return n;
		n = pvio_netfront_wait(nf, PVIO_NETFRONT_WAIT_RX, SEC / 10);
		if (n && n != -ETIMEDOUT)
			return n;
	}
	return 0;
}

/*
 * One honest packet, then one the backend lies about (dropped, counted,
 * nothing written outside or into the buffer), then honest ones again:
 * the lying fake backend lies about every packet after the first, so the
 * test checks the drops pile up one per packet, never a crash or a
 * delivery.
 */
static void rx_lie(enum fnb_misbehave m, uint32_t len)
{
	struct fx *x = fx_open(m, 1);
	unsigned char *g = guarded_new(), *buf = g + PG;
	unsigned char sent[3000];
	struct pvio_netfront_pkt r = { .data = buf, .cap = CAP };
	struct pvio_netfront_stats st;

	fill(sent, sizeof(sent), 3);
	fnb_inject(x->fb, 0, sent, len, 0, 0, 0);
	assert_int_equal(recv_one(x->nf, &r), 1);
	assert_int_equal(r.len, len);
	assert_memory_equal(buf, sent, len);
	memset(buf, 0x5a, CAP);
	for (int k = 0; k < 5; k++) {
		fnb_inject(x->fb, 0, sent, len, 0, k & 1 ? PVIO_NETIF_GSO_TYPE_TCPV4 : 0,
			   k & 1 ? 1000 : 0);
		for (int i = 0; i < 100; i++) {
			r.len = 0;
			assert_int_equal(pvio_netfront_recv_burst(x->nf, 0, &r, 1), 0);
			pvio_netfront_get_stats(x->nf, &st);
			if (st.rx_errors + st.rx_dropped >= (uint64_t)k + 1)
				break;
			pvio_netfront_wait(x->nf, PVIO_NETFRONT_WAIT_RX, SEC / 10);
		}
		pvio_netfront_get_stats(x->nf, &st);
		assert_int_equal(st.rx_errors, (uint64_t)k + 1);
	}
	for (size_t i = 0; i < CAP; i++)
		assert_int_equal(buf[i], 0x5a);
	assert_int_equal(st.rx_packets, 1);
	assert_int_equal(st.protocol_errors, 0);
	assert_int_equal(pvio_netfront_error(x->nf), 0);
	/* tx still works on the same device */
	{
		struct pvio_netfront_pkt p = { .data = sent, .len = 200 };

		assert_int_equal(pvio_netfront_send(x->nf, 0, &p), 0);
		assert_int_equal(pvio_netfront_tx_drain(x->nf, 10 * SEC), 0);
		assert_int_equal(fnb_wait_tx(x->fb, 1), 1);
		assert_memory_equal(x->fb->tx[0]->data, sent, 200);
	}
	guarded_check_free(g);
	fx_close(x);
}

static void rx_offset_past_the_page_is_dropped_and_nothing_read_outside(void **s)
{
	(void)s;
	rx_lie(FNB_RX_BAD_OFFSET, 200);
}

static void rx_size_past_the_page_is_dropped_and_nothing_read_outside(void **s)
{
	(void)s;
	rx_lie(FNB_RX_BAD_SIZE, 200);
}

static void rx_unknown_status_is_dropped(void **s)
{
	(void)s;
	rx_lie(FNB_RX_BAD_STATUS, 200);
}

static void rx_packet_of_too_many_slots_is_dropped(void **s)
{
	(void)s;
	rx_lie(FNB_RX_TOO_MANY_SLOTS, 1280);
}

static void rx_unknown_extra_is_dropped(void **s)
{
	(void)s;
	rx_lie(FNB_RX_BAD_EXTRA, 200);
}

/* A lie about a tx response breaks the device; buffers are untouched. */
static void tx_lie(enum fnb_misbehave m)
{
	struct fx *x = fx_open(m, 2);
	unsigned char *g = guarded_new(), *buf = g + PG;
	struct pvio_netfront_pkt p = { .data = buf, .len = 400 };
	struct pvio_netfront_stats st;
	int err = 0;

	fill(buf, 400, 1);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pvio_netfront_send(x->nf, 0, &p), 0);
		assert_int_equal(pvio_netfront_tx_drain(x->nf, 10 * SEC), 0);
	}
	for (int i = 0; i < 4 && err == 0; i++) {
		err = pvio_netfront_send(x->nf, 0, &p);
		if (err == 0)
			err = pvio_netfront_tx_drain(x->nf, 10 * SEC);
	}
	assert_int_equal(err, -EIO);
	assert_int_equal(pvio_netfront_error(x->nf), -EPROTO);
	for (int i = 0; i < 10; i++)
		assert_int_equal(pvio_netfront_send(x->nf, 0, &p), -EIO);
	pvio_netfront_get_stats(x->nf, &st);
	assert_int_equal(st.protocol_errors, 1);
	/* the caller's buffer: only read, never written */
	{
		unsigned char want[400];

		fill(want, 400, 1);
		assert_memory_equal(buf, want, 400);
	}
	for (size_t i = 400; i < CAP; i++)
		assert_int_equal(buf[i], 0xa5);
	guarded_check_free(g);
	fx_close(x);
}

static void tx_bad_id_breaks_the_device(void **s)
{
	(void)s;
	tx_lie(FNB_TX_BAD_ID);
}

static void tx_stale_id_breaks_the_device(void **s)
{
	(void)s;
	tx_lie(FNB_TX_STALE_ID);
}

static void tx_duplicate_response_breaks_the_device(void **s)
{
	(void)s;
	tx_lie(FNB_TX_DUP_ID);
}

static void tx_unknown_status_breaks_the_device(void **s)
{
	(void)s;
	tx_lie(FNB_TX_BAD_STATUS);
}

static void tx_rsp_prod_far_ahead_breaks_the_device(void **s)
{
	(void)s;
	tx_lie(FNB_TX_PROD_BEYOND);
}

/*
 * The test writes the rx ring's rsp_prod as the backend would: moving
 * backwards or wrapped half the index space. The device breaks; nothing
 * is delivered.
 */
static void rx_indices(uint32_t (*bad)(const struct pvio_ring_front *))
{
	struct fx *x = fx_open(FNB_GOOD, 0);
	unsigned char *g = guarded_new(), *buf = g + PG, sent[300];
	struct pvio_netfront_pkt r = { .data = buf, .cap = CAP };
	struct pvio_ring_front *ring = &x->nf->q[0].rx;
	int rc = 0;

	fill(sent, sizeof(sent), 5);
	fnb_inject(x->fb, 0, sent, sizeof(sent), 0, 0, 0);
	assert_int_equal(recv_one(x->nf, &r), 1);
	assert_memory_equal(buf, sent, sizeof(sent));
	memset(buf, 0x5a, CAP);
	pvio_store_release(&ring->sring->rsp_prod, bad(ring));
	for (int i = 0; i < 50 && rc == 0; i++) {
		rc = pvio_netfront_recv_burst(x->nf, 0, &r, 1);
		if (rc == 0)
			pvio_netfront_wait(x->nf, PVIO_NETFRONT_WAIT_RX, SEC / 50);
	}
	assert_int_equal(rc, -EIO);
	assert_int_equal(pvio_netfront_error(x->nf), -EPROTO);
	for (size_t i = 0; i < CAP; i++)
		assert_int_equal(buf[i], 0x5a);
	guarded_check_free(g);
	fx_close(x);
}

static uint32_t backwards(const struct pvio_ring_front *f)
{
	return f->rsp_cons - 3;
}

static uint32_t wrapped(const struct pvio_ring_front *f)
{
	return f->rsp_cons + 0x80000000u;
}

static void rx_rsp_prod_moving_backwards_breaks_the_device(void **s)
{
	(void)s;
	rx_indices(backwards);
}

static void rx_rsp_prod_wrapped_breaks_the_device(void **s)
{
	(void)s;
	rx_indices(wrapped);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rx_offset_past_the_page_is_dropped_and_nothing_read_outside),
		cmocka_unit_test(rx_size_past_the_page_is_dropped_and_nothing_read_outside),
		cmocka_unit_test(rx_unknown_status_is_dropped),
		cmocka_unit_test(rx_packet_of_too_many_slots_is_dropped),
		cmocka_unit_test(rx_unknown_extra_is_dropped),
		cmocka_unit_test(tx_bad_id_breaks_the_device),
		cmocka_unit_test(tx_stale_id_breaks_the_device),
		cmocka_unit_test(tx_duplicate_response_breaks_the_device),
		cmocka_unit_test(tx_unknown_status_breaks_the_device),
		cmocka_unit_test(tx_rsp_prod_far_ahead_breaks_the_device),
		cmocka_unit_test(rx_rsp_prod_moving_backwards_breaks_the_device),
		cmocka_unit_test(rx_rsp_prod_wrapped_breaks_the_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
