/* SPDX-License-Identifier: MIT */
/*
 * The ring's backend on its own: one thread, a ring in ordinary memory (or
 * in guarded pages for the hostile-frontend tests), and a fake frontend
 * that writes slots and the shared header directly, so it can also lie.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pvio/blkif.h>
#include <pvio/netif.h>
#include <pvio/ring.h>

#include "ring_test_util.h"

#define SLOT sizeof(struct test_msg)
#define PAGE PVIO_PAGE_SIZE

struct bx {
	void *mem;             /* ordinary memory, or NULL if guarded */
	struct guarded_ring g;
	void *shared;
	size_t bytes;
	struct pvio_ring_back b;
	struct pvio_sring_hdr *s;
	uint32_t nr;
	uint32_t pub;          /* fake frontend: req_prod it published */
	uint32_t collected;    /* fake frontend: its rsp_cons */
	uint64_t seq;          /* next request sequence number to publish */
	uint64_t served;       /* next sequence number the backend must see */
	uint64_t rsp_seq;      /* next response the fake frontend expects */
};

static void bx_attach(struct bx *x, uint32_t start)
{
	pvio_sring_init(x->shared, start);
	assert_int_equal(pvio_ring_back_attach(&x->b, x->shared, x->bytes, SLOT,
					       start), 0);
	x->s = x->shared;
	x->nr = x->b.nr_slots;
	x->pub = x->collected = start;
	x->seq = x->served = x->rsp_seq = 0;
}

static int setup_page(void **state)
{
	struct bx *x = calloc(1, sizeof(*x));

	x->mem = ring_mem_alloc(PAGE);
	x->shared = x->mem;
	x->bytes = PAGE;
	bx_attach(x, 0);
	*state = x;
	return 0;
}

static int setup_guarded(void **state)
{
	struct bx *x = calloc(1, sizeof(*x));

	guarded_ring_map(&x->g, 1);
	x->shared = x->g.shared;
	x->bytes = x->g.ring_bytes;
	bx_attach(x, 0);
	assert_int_equal(x->nr, 64);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct bx *x = *state;

	if (x->mem)
		free(x->mem);
	else
		guarded_ring_unmap(&x->g);
	free(x);
	return 0;
}

/* Fake frontend: write k requests into their slots (not published). */
static void fake_front_fill(struct bx *x, uint32_t k)
{
	for (uint32_t i = 0; i < k; i++)
		test_msg_fill_req(test_slot(x->shared, x->nr, SLOT, x->pub + i),
				  x->seq++);
	x->pub += k;
}

/* Fake frontend: fill and publish k requests, as a well-behaved one. */
static void fake_front_publish(struct bx *x, uint32_t k)
{
	assert_true(x->pub + k - x->collected <= x->nr);
	fake_front_fill(x, k);
	hdr_set(&x->s->req_prod, x->pub);
}

/* Fake frontend: consume and check every published response. */
static uint32_t fake_front_collect(struct bx *x)
{
	uint32_t prod = hdr_get(&x->s->rsp_prod), n = 0;

	for (; x->collected != prod; x->collected++, n++) {
		struct test_msg *m = test_slot(x->shared, x->nr, SLOT, x->collected);
		assert_true(test_msg_rsp_ok(m, x->rsp_seq++));
	}
	return n;
}

/* Backend: take every pending request (checked) and answer it in place. */
static uint32_t serve(struct bx *x)
{
	struct test_msg req;
	uint32_t n = 0;
	int rc;

	while ((rc = pvio_ring_back_get_req(&x->b, &req, sizeof(req))) == 1) {
		assert_true(test_msg_req_ok(&req, x->served++));
		struct test_msg *rsp = pvio_ring_back_next_rsp(&x->b);
		assert_non_null(rsp);
		test_msg_fill_rsp(rsp, &req);
		n++;
	}
	assert_int_equal(rc, 0);
	return n;
}

/* ------------------------------------------------------------------ attach */

static void back_attach_rejects_null_memory(void **state)
{
	struct pvio_ring_back b;

	(void)state;
	assert_int_equal(pvio_ring_back_attach(&b, NULL, PAGE, SLOT, 0), -EINVAL);
}

static void back_attach_rejects_memory_not_64_byte_aligned(void **state)
{
	struct bx *x = *state;
	struct pvio_ring_back b;

	assert_int_equal(pvio_ring_back_attach(&b, (char *)x->mem + 4, PAGE - 64,
					       SLOT, 0), -EINVAL);
	assert_int_equal(pvio_ring_back_attach(&b, (char *)x->mem + 48, PAGE - 64,
					       SLOT, 0), -EINVAL);
}

static void back_attach_rejects_zero_slot_size(void **state)
{
	struct bx *x = *state;
	struct pvio_ring_back b;

	assert_int_equal(pvio_ring_back_attach(&b, x->mem, PAGE, 0, 0), -EINVAL);
}

static void back_attach_rejects_slot_size_not_multiple_of_4(void **state)
{
	struct bx *x = *state;
	struct pvio_ring_back b;

	assert_int_equal(pvio_ring_back_attach(&b, x->mem, PAGE, 2, 0), -EINVAL);
	assert_int_equal(pvio_ring_back_attach(&b, x->mem, PAGE, 113, 0), -EINVAL);
}

static void back_attach_rejects_ring_without_room_for_one_slot(void **state)
{
	struct bx *x = *state;
	struct pvio_ring_back b;

	assert_int_equal(pvio_ring_back_attach(&b, x->mem, 64 + SLOT - 1, SLOT, 0),
			 -EINVAL);
	assert_int_equal(pvio_ring_back_attach(&b, x->mem, 32, SLOT, 0), -EINVAL);
	assert_int_equal(pvio_ring_back_attach(&b, x->mem, 64 + SLOT, SLOT, 0), 0);
	assert_int_equal(b.nr_slots, 1);
}

static void back_attach_writes_nothing_to_shared_memory(void **state)
{
	struct bx *x = *state;
	struct pvio_ring_back b;
	unsigned char before[PAGE];

	memset(x->mem, 0x3c, PAGE);
	memcpy(before, x->mem, PAGE);
	assert_int_equal(pvio_ring_back_attach(&b, x->mem, PAGE, SLOT, 0xabcdef01u), 0);
	assert_int_equal(pvio_ring_back_attach(&b, x->mem, PAGE, 3, 0), -EINVAL);
	assert_memory_equal(before, x->mem, PAGE);
}

static void back_attach_sizes_ring_as_xen_does(void **state)
{
	struct bx *x = *state;

	assert_int_equal(x->b.nr_slots, 32);
	assert_int_equal(x->b.slot_size, SLOT);
	assert_ptr_equal(x->b.slots, (unsigned char *)x->mem + 64);
	assert_int_equal(x->b.req_cons, 0);
	assert_int_equal(x->b.rsp_prod_pvt, 0);
}

/* ---------------------------------------------------------------- requests */

static void back_get_req_returns_0_on_empty_ring(void **state)
{
	struct bx *x = *state;
	struct test_msg req;

	assert_int_equal(pvio_ring_back_get_req(&x->b, &req, sizeof(req)), 0);
	assert_int_equal(pvio_ring_back_unconsumed(&x->b), 0);
	assert_int_equal(x->b.req_cons, 0);
}

static void back_get_req_sees_nothing_until_req_prod_is_published(void **state)
{
	struct bx *x = *state;
	struct test_msg req;

	fake_front_fill(x, 3);
	assert_int_equal(pvio_ring_back_get_req(&x->b, &req, sizeof(req)), 0);
	hdr_set(&x->s->req_prod, x->pub);
	assert_int_equal(pvio_ring_back_unconsumed(&x->b), 3);
	assert_int_equal(serve(x), 3);
}

static void back_get_req_returns_requests_in_order(void **state)
{
	struct bx *x = *state;

	for (int i = 0; i < 20; i++) {
		fake_front_publish(x, 1 + (uint32_t)i % x->nr);
		assert_int_equal(serve(x), 1 + (uint32_t)i % x->nr);
		pvio_ring_back_push(&x->b);
		fake_front_collect(x);
	}
	assert_int_equal(x->served, x->seq);
}

static void back_get_req_copies_request_once(void **state)
{
	struct bx *x = *state;
	struct test_msg req;

	fake_front_publish(x, 2);
	assert_int_equal(pvio_ring_back_get_req(&x->b, &req, sizeof(req)), 1);
	/* The frontend rewrites the slot after the backend took it: what the
	 * backend validated is what it keeps. */
	memset(test_slot(x->shared, x->nr, SLOT, 0), 0xee, SLOT);
	assert_true(test_msg_req_ok(&req, 0));
	/* The next request is the next slot, not a re-read of this one. */
	assert_int_equal(pvio_ring_back_get_req(&x->b, &req, sizeof(req)), 1);
	assert_true(test_msg_req_ok(&req, 1));
	assert_int_equal(pvio_ring_back_get_req(&x->b, &req, sizeof(req)), 0);
	assert_true(test_msg_req_ok(&req, 1));
}

static void back_get_req_rejects_len_beyond_slot_size(void **state)
{
	struct bx *x = *state;
	unsigned char big[SLOT + 8];

	fake_front_publish(x, 1);
	assert_int_equal(pvio_ring_back_get_req(&x->b, big, sizeof(big)), -EINVAL);
	assert_int_equal(x->b.req_cons, 0);
	assert_int_equal(pvio_ring_back_get_req(&x->b, big, SLOT), 1);
}

/* --------------------------------------------------------------- responses */

static void back_next_rsp_returns_null_when_every_request_is_answered(void **state)
{
	struct bx *x = *state;
	struct test_msg req;

	assert_null(pvio_ring_back_next_rsp(&x->b));
	fake_front_publish(x, 2);
	assert_null(pvio_ring_back_next_rsp(&x->b)); /* published, not taken */
	assert_int_equal(pvio_ring_back_get_req(&x->b, &req, sizeof(req)), 1);
	assert_non_null(pvio_ring_back_next_rsp(&x->b));
	assert_null(pvio_ring_back_next_rsp(&x->b));
}

static void back_next_rsp_reuses_the_request_slot(void **state)
{
	struct bx *x = *state;
	struct test_msg req;

	for (uint32_t i = 0; i < 3 * x->nr; i++) {
		fake_front_publish(x, 1);
		assert_int_equal(pvio_ring_back_get_req(&x->b, &req, sizeof(req)), 1);
		void *rsp = pvio_ring_back_next_rsp(&x->b);
		assert_ptr_equal(rsp, test_slot(x->shared, x->nr, SLOT, i));
		test_msg_fill_rsp(rsp, &req);
		pvio_ring_back_push(&x->b);
		assert_int_equal(fake_front_collect(x), 1);
	}
}

static void back_put_rsp_returns_enospc_when_no_request_is_pending(void **state)
{
	struct bx *x = *state;
	struct test_msg req, rsp;

	test_msg_fill_req(&rsp, 0);
	assert_int_equal(pvio_ring_back_put_rsp(&x->b, &rsp, sizeof(rsp)), -ENOSPC);
	fake_front_publish(x, 1);
	assert_int_equal(pvio_ring_back_get_req(&x->b, &req, sizeof(req)), 1);
	test_msg_fill_rsp(&rsp, &req);
	assert_int_equal(pvio_ring_back_put_rsp(&x->b, &rsp, sizeof(rsp)), 0);
	assert_int_equal(pvio_ring_back_put_rsp(&x->b, &rsp, sizeof(rsp)), -ENOSPC);
	pvio_ring_back_push(&x->b);
	assert_int_equal(fake_front_collect(x), 1);
}

static void back_put_rsp_rejects_len_beyond_slot_size(void **state)
{
	struct bx *x = *state;
	struct test_msg req;
	unsigned char big[SLOT + 4] = { 0 };

	fake_front_publish(x, 1);
	assert_int_equal(pvio_ring_back_get_req(&x->b, &req, sizeof(req)), 1);
	assert_int_equal(pvio_ring_back_put_rsp(&x->b, big, sizeof(big)), -EINVAL);
	assert_int_equal(x->b.rsp_prod_pvt, 0);
}

static void back_responses_are_invisible_until_push(void **state)
{
	struct bx *x = *state;

	fake_front_publish(x, 4);
	assert_int_equal(serve(x), 4);
	assert_int_equal(hdr_get(&x->s->rsp_prod), 0);
	assert_int_equal(pvio_ring_back_push(&x->b), 1);
	assert_int_equal(hdr_get(&x->s->rsp_prod), 4);
	assert_int_equal(x->b.rsp_prod_pub, 4);
	assert_int_equal(fake_front_collect(x), 4);
}

static void back_push_with_nothing_new_returns_0_and_counts_nothing(void **state)
{
	struct bx *x = *state;

	assert_int_equal(pvio_ring_back_push(&x->b), 0);
	fake_front_publish(x, 2);
	assert_int_equal(serve(x), 2);
	assert_int_equal(pvio_ring_back_push(&x->b), 1);
	assert_int_equal(pvio_ring_back_push(&x->b), 0);
	assert_int_equal(x->b.stats.pushes, 1);
	assert_int_equal(x->b.stats.kicks_sent + x->b.stats.kicks_avoided, 1);
}

static void back_push_kicks_exactly_when_rsp_event_in_published_range(void **state)
{
	static const uint32_t starts[] = { 0, 0xffffffe0u, 0x80000000u - 7, 0xffffffffu };
	static const int64_t far[] = { 0x7fffffff, 0x80000000, -0x7fffffff,
				       0x10000, -64 };
	struct bx *x = *state;

	for (size_t si = 0; si < sizeof(starts) / sizeof(starts[0]); si++) {
		uint64_t pushes = 0, kicks = 0;

		bx_attach(x, starts[si]);
		for (uint32_t batch = 1; batch <= x->nr; batch++) {
			for (int64_t d = -3; d <= (int64_t)batch + 3 + 5; d++) {
				uint32_t old = x->b.rsp_prod_pub;
				int64_t delta = d <= (int64_t)batch + 3 ? d
						: far[d - batch - 4];
				uint32_t event = old + (uint32_t)delta;

				fake_front_publish(x, batch);
				assert_int_equal(serve(x), batch);
				uint32_t new_prod = x->b.rsp_prod_pvt;
				hdr_set(&x->s->rsp_event, event);
				int rc = pvio_ring_back_push(&x->b);
				assert_int_equal(rc, event_in_published_range(old, new_prod,
									       event));
				assert_int_equal(rc, xen_rule_notify(old, new_prod, event));
				assert_int_equal(hdr_get(&x->s->rsp_event), event);
				assert_int_equal(hdr_get(&x->s->rsp_prod), new_prod);
				pushes++;
				kicks += (uint64_t)rc;
				assert_int_equal(fake_front_collect(x), batch);
			}
		}
		assert_int_equal(x->b.stats.pushes, pushes);
		assert_int_equal(x->b.stats.kicks_sent, kicks);
		assert_int_equal(x->b.stats.kicks_avoided, pushes - kicks);
	}
}

/* Take and answer up to k requests, without pushing. */
static void answer(struct bx *x, uint32_t k)
{
	struct test_msg req;

	for (uint32_t i = 0; i < k; i++) {
		assert_int_equal(pvio_ring_back_get_req(&x->b, &req, sizeof(req)), 1);
		assert_true(test_msg_req_ok(&req, x->served++));
		test_msg_fill_rsp(pvio_ring_back_next_rsp(&x->b), &req);
	}
}

static void back_push_counts_every_kick_sent_and_avoided(void **state)
{
	struct bx *x = *state;

	fake_front_publish(x, 8);
	answer(x, 3); /* rsp_event 1 (initial) is in (0, 3]: kick */
	assert_int_equal(pvio_ring_back_push(&x->b), 1);
	answer(x, 2); /* 1 is not in (3, 5]: the frontend is awake */
	assert_int_equal(pvio_ring_back_push(&x->b), 0);
	hdr_set(&x->s->rsp_event, 8);
	answer(x, 3); /* 8 is in (5, 8]: kick */
	assert_int_equal(pvio_ring_back_push(&x->b), 1);
	assert_int_equal(x->b.stats.pushes, 3);
	assert_int_equal(x->b.stats.kicks_sent, 2);
	assert_int_equal(x->b.stats.kicks_avoided, 1);
	assert_int_equal(fake_front_collect(x), 8);
}

/* A frontend that armed its event in a final check gets one kick for the
 * backend's next push, then none until it arms again. */
static void back_push_kicks_once_per_frontend_arm(void **state)
{
	struct bx *x = *state;
	struct pvio_ring_front f;
	struct test_msg r;
	uint64_t seq = 0;

	assert_int_equal(pvio_ring_front_init(&f, x->shared, x->bytes, SLOT), 0);
	for (int round = 0; round < 100; round++) {
		uint32_t k = 2 + (uint32_t)round % 7;
		for (uint32_t i = 0; i < k; i++)
			test_msg_fill_req(pvio_ring_front_next_req(&f), seq++);
		pvio_ring_front_push(&f);
		assert_int_equal(pvio_ring_front_final_check(&f), 0); /* arms */
		struct test_msg req;
		assert_int_equal(pvio_ring_back_get_req(&x->b, &req, sizeof(req)), 1);
		test_msg_fill_rsp(pvio_ring_back_next_rsp(&x->b), &req);
		assert_int_equal(pvio_ring_back_push(&x->b), 1);
		while (pvio_ring_back_get_req(&x->b, &req, sizeof(req)) == 1)
			test_msg_fill_rsp(pvio_ring_back_next_rsp(&x->b), &req);
		assert_int_equal(pvio_ring_back_push(&x->b), 0);
		while (pvio_ring_front_get_rsp(&f, &r, sizeof(r)) == 1)
			;
	}
	assert_int_equal(x->b.stats.kicks_sent, 100);
	assert_int_equal(x->b.stats.kicks_avoided, 100);
}

/*
 * Lockstep (one response per push, each one the frontend asked to be
 * kicked for, twice in a row) is what makes an idle poll take the next
 * request's slot line ahead of the request; a push of more, or one the
 * frontend did not wait for, ends it. Polling in lockstep changes no
 * result, also with the next slot the last one of the ring.
 */
static void back_lockstep_only_after_a_single_kicked_response(void **state)
{
	struct bx *x = *state;

	assert_int_equal(x->b.lockstep, 0);
	for (uint32_t i = 0; i < x->nr + 3; i++) {
		hdr_set(&x->s->rsp_event, x->collected + 1); /* the front waits */
		fake_front_publish(x, 1);
		assert_int_equal(serve(x), 1);
		assert_int_equal(pvio_ring_back_push(&x->b), 1);
		assert_int_equal(x->b.lockstep, i == 0 ? 1 : 2);
		assert_int_equal(fake_front_collect(x), 1);
		/* Idle polls in lockstep: still nothing, nothing armed twice. */
		assert_int_equal(pvio_ring_back_unconsumed(&x->b), 0);
		assert_int_equal(pvio_ring_back_final_check(&x->b), 0);
		assert_int_equal(pvio_ring_back_unconsumed(&x->b), 0);
	}
	hdr_set(&x->s->rsp_event, x->collected + 1);
	fake_front_publish(x, 2);
	assert_int_equal(serve(x), 2);
	assert_int_equal(pvio_ring_back_push(&x->b), 1); /* kicked, but two */
	assert_int_equal(x->b.lockstep, 0);
	assert_int_equal(fake_front_collect(x), 2);
	fake_front_publish(x, 1);
	assert_int_equal(serve(x), 1);
	assert_int_equal(pvio_ring_back_push(&x->b), 0); /* nobody waits */
	assert_int_equal(x->b.lockstep, 0);
	assert_int_equal(fake_front_collect(x), 1);
	assert_int_equal(x->b.stats.protocol_errors, 0);
}

/* ------------------------------------------------------------- final check */

static void back_final_check_arms_req_event_at_next_request(void **state)
{
	struct bx *x = *state;

	hdr_set(&x->s->req_event, 0xdeadbeefu);
	assert_int_equal(pvio_ring_back_final_check(&x->b), 0);
	assert_int_equal(hdr_get(&x->s->req_event), 1);
	assert_int_equal(x->b.stats.events_armed, 1);
	fake_front_publish(x, 5);
	assert_int_equal(pvio_ring_back_final_check(&x->b), 5);
	assert_int_equal(serve(x), 5);
	assert_int_equal(pvio_ring_back_final_check(&x->b), 0);
	assert_int_equal(hdr_get(&x->s->req_event), 6);
	assert_int_equal(x->b.stats.events_armed, 2);
}

static void back_final_check_stores_req_event_only_when_it_changes(void **state)
{
	struct bx *x = *state;

	assert_int_equal(pvio_ring_back_final_check(&x->b), 0);
	assert_int_equal(x->b.stats.events_armed, 1);
	hdr_set(&x->s->req_event, 0x5a5a5a5au);
	for (int i = 0; i < 10; i++)
		assert_int_equal(pvio_ring_back_final_check(&x->b), 0);
	assert_int_equal(hdr_get(&x->s->req_event), 0x5a5a5a5au);
	assert_int_equal(x->b.stats.events_armed, 1);
	fake_front_publish(x, 1);
	assert_int_equal(serve(x), 1);
	assert_int_equal(pvio_ring_back_final_check(&x->b), 0);
	assert_int_equal(hdr_get(&x->s->req_event), 2);
	assert_int_equal(x->b.stats.events_armed, 2);
}

static void back_final_check_reports_pending_without_arming(void **state)
{
	struct bx *x = *state;

	fake_front_publish(x, 3);
	hdr_set(&x->s->req_event, 0x12345678u);
	assert_int_equal(pvio_ring_back_final_check(&x->b), 3);
	assert_int_equal(hdr_get(&x->s->req_event), 0x12345678u);
	assert_int_equal(x->b.stats.events_armed, 0);
}

/* ------------------------------------------------------ hostile frontend */

static void assert_back_broken(struct bx *x)
{
	struct test_msg out, rsp;

	memset(&out, 0xcc, sizeof(out));
	test_msg_fill_req(&rsp, 7);
	assert_int_equal(pvio_ring_back_get_req(&x->b, &out, sizeof(out)), -EPROTO);
	assert_int_equal(pvio_ring_back_unconsumed(&x->b), -EPROTO);
	assert_int_equal(pvio_ring_back_final_check(&x->b), -EPROTO);
	assert_null(pvio_ring_back_next_rsp(&x->b));
	assert_int_equal(pvio_ring_back_put_rsp(&x->b, &rsp, sizeof(rsp)), -EPROTO);
	assert_int_equal(pvio_ring_back_push(&x->b), -EPROTO);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(((unsigned char *)&out)[i], 0xcc);
	assert_int_equal(x->b.error, -EPROTO);
	assert_int_equal(x->b.stats.protocol_errors, 1);
}

/* Publish req_prod = bad with every slot PROT_NONE: get_req must fail
 * without reading a slot (it would fault) or writing out. */
static void hostile_req_prod(struct bx *x, uint32_t bad)
{
	struct test_msg out;

	memset(&out, 0xcc, sizeof(out));
	hdr_set(&x->s->req_prod, bad);
	guarded_ring_slots_access(&x->g, false);
	assert_int_equal(pvio_ring_back_get_req(&x->b, &out, sizeof(out)), -EPROTO);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(((unsigned char *)&out)[i], 0xcc);
	assert_int_equal(x->b.stats.protocol_errors, 1);
}

static void back_rejects_prod_beyond_ring_size(void **state)
{
	struct bx *x = *state;

	hostile_req_prod(x, x->nr + 1);
}

static void back_accepts_prod_exactly_ring_size_ahead(void **state)
{
	struct bx *x = *state;

	fake_front_publish(x, x->nr);
	assert_int_equal(pvio_ring_back_unconsumed(&x->b), (int)x->nr);
	assert_int_equal(serve(x), x->nr);
	assert_int_equal(x->b.stats.protocol_errors, 0);
}

static void back_rejects_prod_far_ahead(void **state)
{
	struct bx *x = *state;

	hostile_req_prod(x, 0x80000000u);
}

/* A frontend may reuse a slot only after it saw that slot's response
 * published. Answered-but-unpublished responses free nothing, so a
 * req_prod beyond rsp_prod_pub + nr_slots is hostile even though it is
 * within nr_slots of the private rsp_prod_pvt (Xen's looser
 * RING_REQUEST_PROD_OVERFLOW would let it through). */
static void back_rejects_prod_reusing_slots_of_unpublished_responses(void **state)
{
	struct bx *x = *state;

	fake_front_publish(x, x->nr);
	assert_int_equal(serve(x), x->nr); /* answered, not pushed */
	hostile_req_prod(x, x->nr + 1);
}

static void back_accepts_prod_reusing_slots_of_published_responses(void **state)
{
	struct bx *x = *state;

	fake_front_publish(x, x->nr);
	assert_int_equal(serve(x), x->nr);
	pvio_ring_back_push(&x->b);
	assert_int_equal(fake_front_collect(x), x->nr);
	fake_front_publish(x, x->nr);
	assert_int_equal(serve(x), x->nr);
	assert_int_equal(x->b.stats.protocol_errors, 0);
}

static void back_rejects_prod_moving_backwards(void **state)
{
	struct bx *x = *state;

	fake_front_publish(x, 6);
	assert_int_equal(serve(x), 6);
	hostile_req_prod(x, 3);
}

static void back_rejects_prod_moving_backwards_across_wrap(void **state)
{
	struct bx *x = *state;

	bx_attach(x, 0xfffffffcu);
	fake_front_publish(x, 6); /* req_prod 2, past 2^32 */
	assert_int_equal(serve(x), 6);
	pvio_ring_back_push(&x->b);
	fake_front_collect(x);
	hostile_req_prod(x, 0xfffffffeu);
}

static void back_rejects_prod_beyond_ring_size_across_wrap(void **state)
{
	struct bx *x = *state;

	bx_attach(x, 0xfffffff0u);
	hostile_req_prod(x, 0xfffffff0u + x->nr + 1); /* wraps to 0x31 */
}

static void back_final_check_rejects_bad_req_prod(void **state)
{
	struct bx *x = *state;

	hdr_set(&x->s->req_prod, 0xffffffffu);
	guarded_ring_slots_access(&x->g, false);
	assert_int_equal(pvio_ring_back_final_check(&x->b), -EPROTO);
	assert_int_equal(x->b.stats.protocol_errors, 1);
}

static void back_stays_broken_after_protocol_error(void **state)
{
	struct bx *x = *state;
	unsigned char hdr[64];

	fake_front_publish(x, 4);
	assert_int_equal(serve(x), 4); /* answered, not published */
	hostile_req_prod(x, 0x7fffffffu);
	/* Back to a plausible value: still broken, and the broken backend
	 * publishes nothing (not even the four answered responses). */
	hdr_set(&x->s->req_prod, 4);
	memcpy(hdr, x->shared, sizeof(hdr));
	for (int i = 0; i < 3; i++)
		assert_back_broken(x);
	assert_memory_equal(hdr, x->shared, sizeof(hdr));
}

/* ------------------------------------------------------------- wrap-around */

static void back_round_trips_across_2_to_the_32(void **state)
{
	static const uint32_t starts[] = { 0xffffffffu - 5, 0xffffffffu - 64,
					   0xffffffffu, 0u - 200, 0x7fffffffu - 2 };
	struct bx *x = *state;
	uint64_t rng = 0xc0ffee123456789ull;

	for (size_t si = 0; si < sizeof(starts) / sizeof(starts[0]); si++) {
		uint32_t start = starts[si];

		bx_attach(x, start);
		for (int trip = 0; trip < 4000; trip++) {
			uint32_t room = x->nr - (x->pub - x->collected);
			if (room)
				fake_front_publish(x, 1 + (uint32_t)(test_rand(&rng) % room));
			/* serve part of the backlog, then push */
			uint32_t want = (uint32_t)(test_rand(&rng) % (x->nr + 1));
			struct test_msg req;
			for (uint32_t i = 0; i < want &&
			     pvio_ring_back_get_req(&x->b, &req, sizeof(req)) == 1; i++) {
				assert_true(test_msg_req_ok(&req, x->served++));
				test_msg_fill_rsp(pvio_ring_back_next_rsp(&x->b), &req);
			}
			assert_true(pvio_ring_back_push(&x->b) >= 0);
			fake_front_collect(x);
			assert_true(pvio_ring_back_final_check(&x->b) >= 0);
		}
		serve(x);
		pvio_ring_back_push(&x->b);
		fake_front_collect(x);
		assert_int_equal(x->rsp_seq, x->seq);
		assert_int_equal(x->b.rsp_prod_pub, (uint32_t)(start + x->seq));
		assert_int_equal(x->b.stats.protocol_errors, 0);
		assert_true(x->seq > 0xffffffffu - start || si == 4);
	}
}

/* ------------------------------------------- typed rings, 1 to 16 pages */

/* For every order: a typed backend accepts req_prod == nr_slots and
 * refuses nr_slots + 1, for blkif, netif tx and netif rx. */
static void back_typed_rings_reject_prod_beyond_ring_size_at_every_order(void **state)
{
	(void)state;
	for (unsigned order = 0; order <= PVIO_RING_MAX_PAGE_ORDER; order++) {
		size_t bytes = (size_t)PAGE << order;
		void *mem = ring_mem_alloc(bytes);
		struct pvio_sring_hdr *s = mem;
		struct pvio_ring_back b;
		struct {
			int (*attach)(struct pvio_ring_back *, void *, size_t, uint32_t);
			uint32_t nr;
		} rings[] = {
			{ pvio_blkif_back_attach, 32u << order },
			{ pvio_netif_tx_back_attach, 256u << order },
			{ pvio_netif_rx_back_attach, 256u << order },
		};
		for (size_t i = 0; i < 3; i++) {
			pvio_sring_init(s, 0);
			assert_int_equal(rings[i].attach(&b, mem, bytes, 0), 0);
			assert_int_equal(b.nr_slots, rings[i].nr);
			hdr_set(&s->req_prod, rings[i].nr);
			assert_int_equal(pvio_ring_back_unconsumed(&b), (int)rings[i].nr);
			assert_int_equal(rings[i].attach(&b, mem, bytes, 0), 0);
			hdr_set(&s->req_prod, rings[i].nr + 1);
			assert_int_equal(pvio_ring_back_unconsumed(&b), -EPROTO);
		}
		free(mem);
	}
}

/* A blkif backend attached at a live ring's index (as on reconnect) serves
 * every slot of rings of every order, across 2^32. */
static void back_blkif_serves_rings_of_1_to_16_pages_across_wrap(void **state)
{
	(void)state;
	for (unsigned order = 0; order <= PVIO_RING_MAX_PAGE_ORDER; order++) {
		size_t bytes = (size_t)PAGE << order;
		void *mem = ring_mem_alloc(bytes);
		struct pvio_ring_front f;
		struct pvio_ring_back b;
		const uint32_t start = 0u - (40u << order);
		uint64_t seq = 0, rsp_seq = 0;

		pvio_sring_init(mem, start);
		assert_int_equal(pvio_ring_front_attach(&f, mem, bytes,
							sizeof(union pvio_blkif_slot),
							start), 0);
		assert_int_equal(pvio_blkif_back_attach(&b, mem, bytes, start), 0);
		for (int round = 0; round < 6; round++) {
			struct pvio_blkif_request *r;
			while ((r = pvio_blkif_front_next_req(&f)) != NULL) {
				memset(r, 0, sizeof(*r));
				r->operation = PVIO_BLKIF_OP_READ;
				r->nr_segments = 1;
				r->id = seq;
				r->sector_number = seq++ * 8;
				r->seg[0] = (struct pvio_blkif_segment){
					.gref = (pvio_grant_ref_t)seq, .last_sect = 7 };
			}
			pvio_ring_front_push(&f);
			struct pvio_blkif_request req;
			uint32_t got = 0;
			while (pvio_blkif_back_get_req(&b, &req) == 1) {
				assert_int_equal(req.id, rsp_seq + got);
				assert_int_equal(req.sector_number, (rsp_seq + got) * 8);
				assert_int_equal(req.seg[0].gref, (uint32_t)(rsp_seq + got + 1));
				struct pvio_blkif_response *rsp = pvio_blkif_back_next_rsp(&b);
				*rsp = (struct pvio_blkif_response){
					.id = req.id, .operation = req.operation,
					.status = PVIO_BLKIF_RSP_OKAY };
				got++;
			}
			assert_int_equal(got, 32u << order);
			pvio_ring_back_push(&b);
			struct pvio_blkif_response rsp;
			while (pvio_blkif_front_get_rsp(&f, &rsp) == 1)
				assert_int_equal(rsp.id, rsp_seq++);
		}
		assert_int_equal(rsp_seq, seq);
		assert_int_equal(b.rsp_prod_pub, (uint32_t)(start + seq));
		assert_true(seq > (40u << order));
		assert_int_equal(b.stats.protocol_errors + f.stats.protocol_errors, 0);
		free(mem);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_page, teardown)
#define G(fn) cmocka_unit_test_setup_teardown(fn, setup_guarded, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(back_attach_rejects_null_memory),
		T(back_attach_rejects_memory_not_64_byte_aligned),
		T(back_attach_rejects_zero_slot_size),
		T(back_attach_rejects_slot_size_not_multiple_of_4),
		T(back_attach_rejects_ring_without_room_for_one_slot),
		T(back_attach_writes_nothing_to_shared_memory),
		T(back_attach_sizes_ring_as_xen_does),
		T(back_get_req_returns_0_on_empty_ring),
		T(back_get_req_sees_nothing_until_req_prod_is_published),
		T(back_get_req_returns_requests_in_order),
		T(back_get_req_copies_request_once),
		T(back_get_req_rejects_len_beyond_slot_size),
		T(back_next_rsp_returns_null_when_every_request_is_answered),
		T(back_next_rsp_reuses_the_request_slot),
		T(back_put_rsp_returns_enospc_when_no_request_is_pending),
		T(back_put_rsp_rejects_len_beyond_slot_size),
		T(back_responses_are_invisible_until_push),
		T(back_push_with_nothing_new_returns_0_and_counts_nothing),
		T(back_push_kicks_exactly_when_rsp_event_in_published_range),
		T(back_push_counts_every_kick_sent_and_avoided),
		T(back_push_kicks_once_per_frontend_arm),
		G(back_lockstep_only_after_a_single_kicked_response),
		T(back_final_check_arms_req_event_at_next_request),
		T(back_final_check_stores_req_event_only_when_it_changes),
		T(back_final_check_reports_pending_without_arming),
		G(back_rejects_prod_beyond_ring_size),
		G(back_accepts_prod_exactly_ring_size_ahead),
		G(back_rejects_prod_far_ahead),
		G(back_rejects_prod_reusing_slots_of_unpublished_responses),
		G(back_accepts_prod_reusing_slots_of_published_responses),
		G(back_rejects_prod_moving_backwards),
		G(back_rejects_prod_moving_backwards_across_wrap),
		G(back_rejects_prod_beyond_ring_size_across_wrap),
		G(back_final_check_rejects_bad_req_prod),
		G(back_stays_broken_after_protocol_error),
		G(back_round_trips_across_2_to_the_32),
		cmocka_unit_test(back_typed_rings_reject_prod_beyond_ring_size_at_every_order),
		cmocka_unit_test(back_blkif_serves_rings_of_1_to_16_pages_across_wrap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
