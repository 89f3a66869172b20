/* SPDX-License-Identifier: MIT */
/*
 * The burst calls (pvio_ring_*_burst and the typed *_burst_req/_rsp): a
 * real frontend and backend on one page in one thread, each burst checked
 * against what the single-message calls would have done, the limits (ring
 * full, nothing pending, every request answered), bad sizes, a hostile
 * peer index, and wrap-around at 2^32 with random burst sizes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pvio/ring.h>

#include "ring_test_util.h"

PVIO_RING_DEFINE(tm, struct test_msg, struct test_msg);

#define PAGE PVIO_PAGE_SIZE

struct pair {
	void *mem;
	struct pvio_ring_front f;
	struct pvio_ring_back b;
	struct pvio_sring_hdr *s;
	uint32_t nr;
	uint64_t sent, served, done; /* request seqs: filled, answered, checked */
};

static void pair_attach(struct pair *p, uint32_t start)
{
	pvio_sring_init(p->mem, start);
	assert_int_equal(pvio_ring_front_attach(&p->f, p->mem, PAGE, sizeof(struct test_msg),
						start), 0);
	assert_int_equal(tm_back_attach(&p->b, p->mem, PAGE, start), 0);
	p->s = p->mem;
	p->nr = p->f.nr_slots;
	p->sent = p->served = p->done = 0;
}

static int setup(void **state)
{
	struct pair *p = calloc(1, sizeof(*p));

	p->mem = ring_mem_alloc(PAGE);
	pair_attach(p, 0);
	assert_int_equal(p->nr, 32);
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;

	free(p->mem);
	free(p);
	return 0;
}

/* Frontend: reserve up to n slots, fill them, push. Returns how many. */
static uint32_t front_send(struct pair *p, uint32_t n)
{
	struct pvio_ring_burst it;
	int rc = pvio_ring_front_reserve_burst(&p->f, n, sizeof(struct test_msg), &it);

	assert_true(rc >= 0);
	assert_int_equal(it.n, (uint32_t)rc);
	for (uint32_t k = 0; k < it.n; k++)
		test_msg_fill_req(tm_front_burst_req(&p->f, &it, k), p->sent++);
	assert_true(pvio_ring_front_push(&p->f) >= 0);
	return it.n;
}

/* Backend: take up to max requests, answer each in place, push. */
static uint32_t back_serve(struct pair *p, uint32_t max)
{
	struct pvio_ring_burst in, out;
	struct test_msg req;
	int rc = pvio_ring_back_take_burst(&p->b, max, sizeof(req), &in);

	assert_true(rc >= 0);
	assert_int_equal(pvio_ring_back_reserve_burst(&p->b, in.n, sizeof(req), &out),
			 (int)in.n);
	for (uint32_t k = 0; k < in.n; k++) {
		tm_back_burst_req(&p->b, &in, k, &req);
		assert_true(test_msg_req_ok(&req, p->served++));
		test_msg_fill_rsp(tm_back_burst_rsp(&p->b, &out, k), &req);
	}
	assert_true(pvio_ring_back_push(&p->b) >= 0);
	return in.n;
}

/* Frontend: collect up to max responses, checking each. */
static uint32_t front_collect(struct pair *p, uint32_t max)
{
	struct pvio_ring_burst it;
	struct test_msg rsp;
	int rc = pvio_ring_front_take_burst(&p->f, max, sizeof(rsp), &it);

	assert_true(rc >= 0);
	for (uint32_t k = 0; k < it.n; k++) {
		tm_front_burst_rsp(&p->f, &it, k, &rsp);
		assert_true(test_msg_rsp_ok(&rsp, p->done++));
	}
	return it.n;
}

static void reserve_burst_stops_at_a_full_ring(void **state)
{
	struct pair *p = *state;

	assert_int_equal(front_send(p, 20), 20);
	assert_int_equal(front_send(p, 20), 12); /* 32 slots */
	assert_int_equal(front_send(p, 5), 0);
	assert_int_equal(p->f.req_prod_pvt, 32);
	/* Answered and collected, the slots are free again. */
	assert_int_equal(back_serve(p, 100), 32);
	assert_int_equal(front_collect(p, 100), 32);
	assert_int_equal(front_send(p, 40), 32);
}

static void take_burst_returns_0_when_nothing_is_pending(void **state)
{
	struct pair *p = *state;
	struct pvio_ring_burst it;

	assert_int_equal(pvio_ring_back_take_burst(&p->b, 8, sizeof(struct test_msg), &it), 0);
	assert_int_equal(it.n, 0);
	assert_int_equal(pvio_ring_front_take_burst(&p->f, 8, sizeof(struct test_msg), &it), 0);
	assert_int_equal(it.n, 0);
	/* Filled but not pushed: still nothing for the backend. */
	struct pvio_ring_burst r;
	assert_int_equal(pvio_ring_front_reserve_burst(&p->f, 3, sizeof(struct test_msg), &r), 3);
	assert_int_equal(pvio_ring_back_take_burst(&p->b, 8, sizeof(struct test_msg), &it), 0);
}

static void take_burst_takes_at_most_max_in_order(void **state)
{
	struct pair *p = *state;

	assert_int_equal(front_send(p, 10), 10);
	assert_int_equal(back_serve(p, 4), 4);
	assert_int_equal(back_serve(p, 4), 4);
	assert_int_equal(back_serve(p, 4), 2);
	assert_int_equal(back_serve(p, 4), 0);
	assert_int_equal(front_collect(p, 3), 3);
	assert_int_equal(front_collect(p, 30), 7);
	assert_int_equal(p->done, 10);
}

static void reserve_burst_answers_only_consumed_requests(void **state)
{
	struct pair *p = *state;
	struct pvio_ring_burst in, out;

	assert_int_equal(front_send(p, 6), 6);
	assert_int_equal(pvio_ring_back_reserve_burst(&p->b, 6, sizeof(struct test_msg), &out), 0);
	assert_int_equal(pvio_ring_back_take_burst(&p->b, 4, sizeof(struct test_msg), &in), 4);
	assert_int_equal(pvio_ring_back_reserve_burst(&p->b, 6, sizeof(struct test_msg), &out), 4);
	assert_int_equal(out.first, in.first);
	assert_int_equal(pvio_ring_back_reserve_burst(&p->b, 6, sizeof(struct test_msg), &out), 0);
	/* The single-message call agrees: nothing left to answer. */
	assert_null(tm_back_next_rsp(&p->b));
}

static void bursts_mix_with_single_message_calls(void **state)
{
	struct pair *p = *state;
	struct test_msg m;

	assert_int_equal(front_send(p, 5), 5);
	/* One request the single way, the rest as a burst. */
	assert_int_equal(tm_back_get_req(&p->b, &m), 1);
	assert_true(test_msg_req_ok(&m, p->served++));
	test_msg_fill_rsp(tm_back_next_rsp(&p->b), &m);
	assert_int_equal(back_serve(p, 10), 4);
	assert_int_equal(tm_front_get_rsp(&p->f, &m), 1);
	assert_true(test_msg_rsp_ok(&m, p->done++));
	assert_int_equal(front_collect(p, 10), 4);
	struct test_msg *slot = tm_front_next_req(&p->f);
	assert_non_null(slot);
	test_msg_fill_req(slot, p->sent++);
	assert_int_equal(front_send(p, 2), 2);
	assert_int_equal(back_serve(p, 10), 3);
	assert_int_equal(front_collect(p, 10), 3);
}

static void bursts_reject_a_message_larger_than_a_slot(void **state)
{
	struct pair *p = *state;
	struct pvio_ring_burst it;
	size_t big = sizeof(struct test_msg) + 4;

	assert_int_equal(front_send(p, 2), 2);
	assert_int_equal(pvio_ring_front_reserve_burst(&p->f, 1, big, &it), -EINVAL);
	assert_int_equal(it.n, 0);
	assert_int_equal(pvio_ring_back_take_burst(&p->b, 2, big, &it), -EINVAL);
	assert_int_equal(it.n, 0);
	assert_int_equal(p->b.req_cons, 0); /* nothing consumed */
	assert_int_equal(back_serve(p, 2), 2);
	assert_int_equal(pvio_ring_back_reserve_burst(&p->b, 1, big, &it), -EINVAL);
	assert_int_equal(pvio_ring_front_take_burst(&p->f, 2, big, &it), -EINVAL);
	assert_int_equal(front_collect(p, 2), 2);
}

static void take_burst_refuses_a_hostile_index_and_stays_broken(void **state)
{
	struct pair *p = *state;
	struct pvio_ring_burst it;

	assert_int_equal(front_send(p, 3), 3);
	hdr_set(&p->s->req_prod, 3 + p->nr); /* more than the ring holds */
	assert_int_equal(pvio_ring_back_take_burst(&p->b, 8, sizeof(struct test_msg), &it),
			 -EPROTO);
	assert_int_equal(it.n, 0);
	assert_int_equal(pvio_ring_back_reserve_burst(&p->b, 8, sizeof(struct test_msg), &it),
			 -EPROTO);
	hdr_set(&p->s->req_prod, 3);
	assert_int_equal(pvio_ring_back_take_burst(&p->b, 8, sizeof(struct test_msg), &it),
			 -EPROTO);

	/* The frontend's side: a response index beyond what it published. */
	hdr_set(&p->s->rsp_prod, 4);
	assert_int_equal(pvio_ring_front_take_burst(&p->f, 8, sizeof(struct test_msg), &it),
			 -EPROTO);
	assert_int_equal(pvio_ring_front_reserve_burst(&p->f, 8, sizeof(struct test_msg), &it),
			 -EPROTO);
}

static void bursts_round_trip_across_2_to_the_32(void **state)
{
	struct pair *p = *state;
	uint64_t rnd = 0x9e3779b97f4a7c15ull;

	pair_attach(p, UINT32_MAX - 100);
	while (p->done < 20000) {
		front_send(p, 1 + (uint32_t)(test_rand(&rnd) % 40));
		back_serve(p, 1 + (uint32_t)(test_rand(&rnd) % 40));
		front_collect(p, 1 + (uint32_t)(test_rand(&rnd) % 40));
		if (pvio_ring_front_free_slots(&p->f) == 0) {
			back_serve(p, p->nr);
			front_collect(p, p->nr);
		}
	}
	assert_int_equal(p->f.stats.protocol_errors + p->b.stats.protocol_errors, 0);
	assert_true(p->f.rsp_cons < 20000); /* wrapped */
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(reserve_burst_stops_at_a_full_ring),
		T(take_burst_returns_0_when_nothing_is_pending),
		T(take_burst_takes_at_most_max_in_order),
		T(reserve_burst_answers_only_consumed_requests),
		T(bursts_mix_with_single_message_calls),
		T(bursts_reject_a_message_larger_than_a_slot),
		T(take_burst_refuses_a_hostile_index_and_stays_broken),
		T(bursts_round_trip_across_2_to_the_32),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
