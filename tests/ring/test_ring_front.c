/* SPDX-License-Identifier: MIT */
/*
 * The ring's frontend on its own: one thread, a ring in ordinary memory (or
 * in guarded pages for the hostile-backend tests), and a fake backend that
 * writes the shared header directly so it can also lie.
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

#define SLOT     sizeof(struct test_msg)
#define PAGE     PVIO_PAGE_SIZE
#define NR_PAGE  32u /* 64-byte slots in one page: (4096 - 64) / 64 -> 32 */

struct fx {
	void *mem;              /* ordinary memory, or NULL if guarded */
	struct guarded_ring g;  /* guarded pages, if mem is NULL */
	void *shared;
	size_t bytes;
	struct pvio_ring_front f;
	struct pvio_sring_hdr *s;
	uint32_t nr;
	uint32_t answered;      /* fake backend: responses it published */
	uint64_t next_seq;      /* next request's sequence number */
	uint64_t rsp_seq;       /* next response's expected sequence number */
};

static void fx_attach(struct fx *x, uint32_t start)
{
	pvio_sring_init(x->shared, start);
	assert_int_equal(pvio_ring_front_attach(&x->f, x->shared, x->bytes, SLOT,
						start), 0);
	x->s = x->shared;
	x->nr = x->f.nr_slots;
	x->answered = start;
	x->next_seq = x->rsp_seq = 0;
}

static int setup_page(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	x->mem = ring_mem_alloc(PAGE);
	x->shared = x->mem;
	x->bytes = PAGE;
	assert_int_equal(pvio_ring_front_init(&x->f, x->shared, x->bytes, SLOT), 0);
	x->s = x->shared;
	x->nr = x->f.nr_slots;
	*state = x;
	return 0;
}

/* Header at the end of a page, 64 slots on the next page, then a guard. */
static int setup_guarded(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	guarded_ring_map(&x->g, 1);
	x->shared = x->g.shared;
	x->bytes = x->g.ring_bytes;
	assert_int_equal(pvio_ring_front_init(&x->f, x->shared, x->bytes, SLOT), 0);
	x->s = x->shared;
	x->nr = x->f.nr_slots;
	assert_int_equal(x->nr, 64);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	if (x->mem)
		free(x->mem);
	else
		guarded_ring_unmap(&x->g);
	free(x);
	return 0;
}

/* Fill k request slots (in place) with the next sequence numbers. */
static void produce(struct fx *x, uint32_t k)
{
	for (uint32_t i = 0; i < k; i++) {
		struct test_msg *m = pvio_ring_front_next_req(&x->f);
		assert_non_null(m);
		test_msg_fill_req(m, x->next_seq++);
	}
}

/* Fake backend: answer the next k published requests in place, publish. */
static void fake_back_answer(struct fx *x, uint32_t k)
{
	for (uint32_t i = 0; i < k; i++) {
		struct test_msg *slot = test_slot(x->shared, x->nr, SLOT,
						  x->answered + i);
		struct test_msg req = *slot;
		test_msg_fill_rsp(slot, &req);
	}
	x->answered += k;
	hdr_set(&x->s->rsp_prod, x->answered);
}

/* Consume every published response, checking each payload. */
static uint32_t drain(struct fx *x)
{
	struct test_msg r;
	uint32_t n = 0;
	int rc;

	while ((rc = pvio_ring_front_get_rsp(&x->f, &r, sizeof(r))) == 1) {
		assert_true(test_msg_rsp_ok(&r, x->rsp_seq));
		x->rsp_seq++;
		n++;
	}
	assert_int_equal(rc, 0);
	return n;
}

/* ------------------------------------------------------- init and attach */

static void front_init_rejects_null_memory(void **state)
{
	struct pvio_ring_front f;

	(void)state;
	assert_int_equal(pvio_ring_front_init(&f, NULL, PAGE, SLOT), -EINVAL);
}

static void front_init_rejects_memory_not_64_byte_aligned(void **state)
{
	struct fx *x = *state;
	struct pvio_ring_front f;

	assert_int_equal(pvio_ring_front_init(&f, (char *)x->mem + 4, PAGE - 64,
					      SLOT), -EINVAL);
	assert_int_equal(pvio_ring_front_init(&f, (char *)x->mem + 32, PAGE - 64,
					      SLOT), -EINVAL);
}

static void front_init_rejects_zero_slot_size(void **state)
{
	struct fx *x = *state;
	struct pvio_ring_front f;

	assert_int_equal(pvio_ring_front_init(&f, x->mem, PAGE, 0), -EINVAL);
}

static void front_init_rejects_slot_size_not_multiple_of_4(void **state)
{
	struct fx *x = *state;
	struct pvio_ring_front f;

	assert_int_equal(pvio_ring_front_init(&f, x->mem, PAGE, 6), -EINVAL);
	assert_int_equal(pvio_ring_front_init(&f, x->mem, PAGE, 65), -EINVAL);
}

static void front_init_rejects_ring_without_room_for_one_slot(void **state)
{
	struct fx *x = *state;
	struct pvio_ring_front f;

	assert_int_equal(pvio_ring_front_init(&f, x->mem, 64 + SLOT - 1, SLOT),
			 -EINVAL);
	assert_int_equal(pvio_ring_front_init(&f, x->mem, 64, SLOT), -EINVAL);
	assert_int_equal(pvio_ring_front_init(&f, x->mem, 0, SLOT), -EINVAL);
}

static void front_init_accepts_ring_with_room_for_exactly_one_slot(void **state)
{
	struct fx *x = *state;
	struct pvio_ring_front f;

	assert_int_equal(pvio_ring_front_init(&f, x->mem, 64 + SLOT, SLOT), 0);
	assert_int_equal(f.nr_slots, 1);
	assert_non_null(pvio_ring_front_next_req(&f));
	assert_null(pvio_ring_front_next_req(&f));
}

static void front_init_failure_leaves_shared_memory_untouched(void **state)
{
	struct fx *x = *state;
	struct pvio_ring_front f;
	unsigned char before[PAGE];

	memset(x->mem, 0x5c, PAGE);
	memcpy(before, x->mem, PAGE);
	assert_int_equal(pvio_ring_front_init(&f, x->mem, PAGE, 6), -EINVAL);
	assert_int_equal(pvio_ring_front_init(&f, x->mem, 100, SLOT), -EINVAL);
	assert_memory_equal(before, x->mem, PAGE);
}

static void front_init_writes_xen_initial_header(void **state)
{
	struct fx *x = *state;
	struct pvio_ring_front f;
	const unsigned char *p = x->mem;

	memset(x->mem, 0xee, PAGE);
	assert_int_equal(pvio_ring_front_init(&f, x->mem, PAGE, SLOT), 0);
	assert_int_equal(hdr_get(&x->s->req_prod), 0);
	assert_int_equal(hdr_get(&x->s->rsp_prod), 0);
	assert_int_equal(hdr_get(&x->s->req_event), 1);
	assert_int_equal(hdr_get(&x->s->rsp_event), 1);
	for (size_t i = 16; i < 64; i++)
		assert_int_equal(p[i], 0);
	/* The slots are the frontend's to fill: init leaves them alone. */
	for (size_t i = 64; i < PAGE; i++)
		assert_int_equal(p[i], 0xee);
}

static void front_init_sizes_ring_as_xen_does(void **state)
{
	struct fx *x = *state;

	assert_int_equal(x->f.nr_slots, NR_PAGE);
	assert_int_equal(x->f.slot_size, SLOT);
	assert_int_equal(pvio_ring_front_free_slots(&x->f), NR_PAGE);
	assert_ptr_equal(x->f.slots, (unsigned char *)x->mem + 64);
}

static void front_attach_rejects_bad_geometry(void **state)
{
	struct fx *x = *state;
	struct pvio_ring_front f;

	assert_int_equal(pvio_ring_front_attach(&f, NULL, PAGE, SLOT, 0), -EINVAL);
	assert_int_equal(pvio_ring_front_attach(&f, (char *)x->mem + 8, PAGE - 64,
						SLOT, 0), -EINVAL);
	assert_int_equal(pvio_ring_front_attach(&f, x->mem, PAGE, 0, 0), -EINVAL);
	assert_int_equal(pvio_ring_front_attach(&f, x->mem, PAGE, 10, 0), -EINVAL);
	assert_int_equal(pvio_ring_front_attach(&f, x->mem, 64 + SLOT - 4, SLOT, 0),
			 -EINVAL);
}

static void front_attach_writes_nothing_to_shared_memory(void **state)
{
	struct fx *x = *state;
	struct pvio_ring_front f;
	unsigned char before[PAGE];

	memset(x->mem, 0x77, PAGE);
	memcpy(before, x->mem, PAGE);
	assert_int_equal(pvio_ring_front_attach(&f, x->mem, PAGE, SLOT,
						0xfffffff0u), 0);
	assert_memory_equal(before, x->mem, PAGE);
	assert_int_equal(f.req_prod_pvt, 0xfffffff0u);
	assert_int_equal(f.rsp_cons, 0xfffffff0u);
}

/* ---------------------------------------------------------------- requests */

static void front_next_req_returns_consecutive_slots_in_ring_order(void **state)
{
	struct fx *x = *state;
	unsigned char *base = (unsigned char *)x->mem + 64;

	for (uint32_t round = 0; round < 3; round++) {
		for (uint32_t i = 0; i < x->nr; i++)
			assert_ptr_equal(pvio_ring_front_next_req(&x->f),
					 base + i * SLOT);
		assert_int_equal(pvio_ring_front_push(&x->f) >= 0, 1);
		hdr_set(&x->s->rsp_prod, hdr_get(&x->s->req_prod));
		struct test_msg r;
		for (uint32_t i = 0; i < x->nr; i++)
			assert_int_equal(pvio_ring_front_get_rsp(&x->f, &r, SLOT), 1);
	}
}

static void front_next_req_returns_null_when_ring_full(void **state)
{
	struct fx *x = *state;

	produce(x, x->nr);
	assert_int_equal(pvio_ring_front_free_slots(&x->f), 0);
	assert_null(pvio_ring_front_next_req(&x->f));
	/* Publishing does not free a slot; only a consumed response does. */
	assert_int_equal(pvio_ring_front_push(&x->f), 1);
	assert_null(pvio_ring_front_next_req(&x->f));
	fake_back_answer(x, 1);
	assert_null(pvio_ring_front_next_req(&x->f));
	struct test_msg r;
	assert_int_equal(pvio_ring_front_get_rsp(&x->f, &r, sizeof(r)), 1);
	assert_int_equal(pvio_ring_front_free_slots(&x->f), 1);
	assert_non_null(pvio_ring_front_next_req(&x->f));
	assert_null(pvio_ring_front_next_req(&x->f));
}

static void front_put_req_returns_enospc_when_ring_full(void **state)
{
	struct fx *x = *state;
	struct test_msg m;

	for (uint32_t i = 0; i < x->nr; i++) {
		test_msg_fill_req(&m, i);
		assert_int_equal(pvio_ring_front_put_req(&x->f, &m, sizeof(m)), 0);
	}
	assert_int_equal(pvio_ring_front_put_req(&x->f, &m, sizeof(m)), -ENOSPC);
	assert_int_equal(x->f.req_prod_pvt, x->nr);
}

static void front_put_req_copies_message_into_next_slot(void **state)
{
	struct fx *x = *state;
	struct test_msg m;

	produce(x, 3);
	test_msg_fill_req(&m, 1234);
	assert_int_equal(pvio_ring_front_put_req(&x->f, &m, sizeof(m)), 0);
	assert_true(test_msg_req_ok(test_slot(x->shared, x->nr, SLOT, 3), 1234));
	/* A shorter message fills the start of the slot only. */
	memset(test_slot(x->shared, x->nr, SLOT, 4), 0xab, SLOT);
	assert_int_equal(pvio_ring_front_put_req(&x->f, &m, 8), 0);
	const unsigned char *slot = test_slot(x->shared, x->nr, SLOT, 4);
	assert_memory_equal(slot, &m, 8);
	assert_int_equal(slot[8], 0xab);
}

static void front_put_req_rejects_len_beyond_slot_size(void **state)
{
	struct fx *x = *state;
	unsigned char big[SLOT + 4] = { 0 };

	assert_int_equal(pvio_ring_front_put_req(&x->f, big, sizeof(big)), -EINVAL);
	assert_int_equal(x->f.req_prod_pvt, 0);
}

static void front_requests_are_invisible_until_push(void **state)
{
	struct fx *x = *state;

	produce(x, 5);
	assert_int_equal(hdr_get(&x->s->req_prod), 0);
	assert_int_equal(pvio_ring_front_push(&x->f), 1);
	assert_int_equal(hdr_get(&x->s->req_prod), 5);
	produce(x, 2);
	assert_int_equal(hdr_get(&x->s->req_prod), 5);
	assert_int_equal(x->f.req_prod_pub, 5);
}

static void front_push_with_nothing_new_returns_0_and_counts_nothing(void **state)
{
	struct fx *x = *state;

	assert_int_equal(pvio_ring_front_push(&x->f), 0);
	produce(x, 1);
	assert_int_equal(pvio_ring_front_push(&x->f), 1);
	assert_int_equal(pvio_ring_front_push(&x->f), 0);
	assert_int_equal(x->f.stats.pushes, 1);
	assert_int_equal(x->f.stats.kicks_sent + x->f.stats.kicks_avoided, 1);
	assert_int_equal(hdr_get(&x->s->req_prod), 1);
}

/*
 * The decision push() returns against the rule computed here from the
 * req_event this test stores, for every batch size, events before, inside
 * and after the published range, far away, and across 2^32.
 */
static void front_push_kicks_exactly_when_req_event_in_published_range(void **state)
{
	static const uint32_t starts[] = { 0, 0xfffffff0u, 0x7ffffff8u, 0xffffffffu };
	static const int64_t far[] = { 0x7fffffff, 0x80000000, -0x7fffffff,
				       0x40000000, -1000 };
	struct fx *x = *state;
	uint64_t pushes = 0, kicks = 0;

	for (size_t si = 0; si < sizeof(starts) / sizeof(starts[0]); si++) {
		fx_attach(x, starts[si]);
		for (uint32_t batch = 1; batch <= x->nr; batch++) {
			for (int64_t d = -3; d <= (int64_t)batch + 3 + 5; d++) {
				uint32_t old = x->f.req_prod_pub;
				int64_t delta = d <= (int64_t)batch + 3 ? d
						: far[d - batch - 4];
				uint32_t event = old + (uint32_t)delta;

				produce(x, batch);
				uint32_t new_prod = x->f.req_prod_pvt;
				hdr_set(&x->s->req_event, event);
				int rc = pvio_ring_front_push(&x->f);
				bool want = event_in_published_range(old, new_prod,
								     event);
				assert_int_equal(rc, want);
				assert_int_equal(rc, xen_rule_notify(old, new_prod, event));
				/* push never writes the backend's event index */
				assert_int_equal(hdr_get(&x->s->req_event), event);
				assert_int_equal(hdr_get(&x->s->req_prod), new_prod);
				pushes++;
				kicks += (uint64_t)rc;
				fake_back_answer(x, batch);
				assert_int_equal(drain(x), batch);
			}
		}
		assert_int_equal(x->f.stats.pushes, pushes);
		assert_int_equal(x->f.stats.kicks_sent, kicks);
		assert_int_equal(x->f.stats.kicks_avoided, pushes - kicks);
		pushes = kicks = 0;
	}
}

static void front_push_counts_every_kick_sent_and_avoided(void **state)
{
	struct fx *x = *state;

	/* event 1 (initial): first push of [0,3) kicks */
	produce(x, 3);
	assert_int_equal(pvio_ring_front_push(&x->f), 1);
	/* event still 1: nothing new for the backend to hear about */
	produce(x, 2);
	assert_int_equal(pvio_ring_front_push(&x->f), 0);
	hdr_set(&x->s->req_event, 7);
	produce(x, 2);
	assert_int_equal(pvio_ring_front_push(&x->f), 1);
	assert_int_equal(x->f.stats.pushes, 3);
	assert_int_equal(x->f.stats.kicks_sent, 2);
	assert_int_equal(x->f.stats.kicks_avoided, 1);
	assert_int_equal(x->f.stats.protocol_errors, 0);
}

/* The event-index protocol end to end: a backend that armed its event in
 * a final check gets exactly one kick for the next push, then none until
 * it arms again. */
static void front_push_kicks_once_per_backend_arm(void **state)
{
	struct fx *x = *state;
	struct pvio_ring_back b;
	struct test_msg req;

	assert_int_equal(pvio_ring_back_attach(&b, x->shared, x->bytes, SLOT, 0), 0);
	for (int round = 0; round < 100; round++) {
		assert_int_equal(pvio_ring_back_final_check(&b), 0); /* arms */
		produce(x, 1 + (uint32_t)round % 5);
		assert_int_equal(pvio_ring_front_push(&x->f), 1);
		produce(x, 1);
		assert_int_equal(pvio_ring_front_push(&x->f), 0);
		while (pvio_ring_back_get_req(&b, &req, sizeof(req)) == 1)
			test_msg_fill_rsp(pvio_ring_back_next_rsp(&b), &req);
		pvio_ring_back_push(&b);
		drain(x);
	}
	assert_int_equal(x->f.stats.kicks_sent, 100);
	assert_int_equal(x->f.stats.kicks_avoided, 100);
}

/* --------------------------------------------------------------- responses */

static void front_get_rsp_returns_0_when_nothing_published(void **state)
{
	struct fx *x = *state;
	struct test_msg r;

	assert_int_equal(pvio_ring_front_get_rsp(&x->f, &r, sizeof(r)), 0);
	produce(x, 2);
	pvio_ring_front_push(&x->f);
	assert_int_equal(pvio_ring_front_get_rsp(&x->f, &r, sizeof(r)), 0);
	assert_int_equal(pvio_ring_front_unconsumed(&x->f), 0);
}

static void front_get_rsp_returns_responses_in_order(void **state)
{
	struct fx *x = *state;

	produce(x, 10);
	pvio_ring_front_push(&x->f);
	fake_back_answer(x, 4);
	assert_int_equal(pvio_ring_front_unconsumed(&x->f), 4);
	assert_int_equal(drain(x), 4);
	fake_back_answer(x, 6);
	assert_int_equal(drain(x), 6);
	assert_int_equal(x->rsp_seq, 10);
}

static void front_get_rsp_copies_response_once(void **state)
{
	struct fx *x = *state;
	struct test_msg r;

	produce(x, 1);
	pvio_ring_front_push(&x->f);
	fake_back_answer(x, 1);
	assert_int_equal(pvio_ring_front_get_rsp(&x->f, &r, sizeof(r)), 1);
	/* A backend rewriting the slot afterwards changes nothing we hold. */
	memset(test_slot(x->shared, x->nr, SLOT, 0), 0xff, SLOT);
	assert_true(test_msg_rsp_ok(&r, 0));
	assert_int_equal(pvio_ring_front_get_rsp(&x->f, &r, sizeof(r)), 0);
	assert_true(test_msg_rsp_ok(&r, 0));
}

static void front_get_rsp_rejects_len_beyond_slot_size(void **state)
{
	struct fx *x = *state;
	unsigned char big[SLOT + 4];

	produce(x, 1);
	pvio_ring_front_push(&x->f);
	fake_back_answer(x, 1);
	assert_int_equal(pvio_ring_front_get_rsp(&x->f, big, sizeof(big)), -EINVAL);
	assert_int_equal(x->f.rsp_cons, 0); /* nothing consumed */
	assert_int_equal(pvio_ring_front_get_rsp(&x->f, big, SLOT), 1);
}

static void front_frees_slots_only_as_responses_are_consumed(void **state)
{
	struct fx *x = *state;
	struct test_msg r;

	produce(x, x->nr);
	pvio_ring_front_push(&x->f);
	fake_back_answer(x, x->nr);
	assert_int_equal(pvio_ring_front_free_slots(&x->f), 0);
	for (uint32_t i = 1; i <= x->nr; i++) {
		assert_int_equal(pvio_ring_front_get_rsp(&x->f, &r, sizeof(r)), 1);
		assert_int_equal(pvio_ring_front_free_slots(&x->f), i);
	}
}

/* ------------------------------------------------------------- final check */

static void front_final_check_arms_rsp_event_at_next_response(void **state)
{
	struct fx *x = *state;

	produce(x, 3);
	pvio_ring_front_push(&x->f);
	hdr_set(&x->s->rsp_event, 0xdeadbeefu);
	assert_int_equal(pvio_ring_front_final_check(&x->f), 0);
	assert_int_equal(hdr_get(&x->s->rsp_event), 1);
	assert_int_equal(x->f.stats.events_armed, 1);

	fake_back_answer(x, 2);
	assert_int_equal(pvio_ring_front_final_check(&x->f), 2);
	assert_int_equal(drain(x), 2);
	assert_int_equal(pvio_ring_front_final_check(&x->f), 0);
	assert_int_equal(hdr_get(&x->s->rsp_event), 3);
	assert_int_equal(x->f.stats.events_armed, 2);
}

static void front_final_check_stores_rsp_event_only_when_it_changes(void **state)
{
	struct fx *x = *state;

	produce(x, 1);
	pvio_ring_front_push(&x->f);
	assert_int_equal(pvio_ring_front_final_check(&x->f), 0);
	assert_int_equal(x->f.stats.events_armed, 1);
	/* Armed at 1 already: a second final check must not store again. A
	 * sentinel in the shared field shows whether it did. */
	hdr_set(&x->s->rsp_event, 0x5a5a5a5au);
	for (int i = 0; i < 10; i++)
		assert_int_equal(pvio_ring_front_final_check(&x->f), 0);
	assert_int_equal(hdr_get(&x->s->rsp_event), 0x5a5a5a5au);
	assert_int_equal(x->f.stats.events_armed, 1);
	/* Progress moves the wanted index: the next final check stores. */
	fake_back_answer(x, 1);
	drain(x);
	assert_int_equal(pvio_ring_front_final_check(&x->f), 0);
	assert_int_equal(hdr_get(&x->s->rsp_event), 2);
	assert_int_equal(x->f.stats.events_armed, 2);
}

static void front_final_check_reports_pending_without_arming(void **state)
{
	struct fx *x = *state;

	produce(x, 4);
	pvio_ring_front_push(&x->f);
	fake_back_answer(x, 3);
	hdr_set(&x->s->rsp_event, 0x12345678u);
	assert_int_equal(pvio_ring_front_final_check(&x->f), 3);
	assert_int_equal(hdr_get(&x->s->rsp_event), 0x12345678u);
	assert_int_equal(x->f.stats.events_armed, 0);
}

/* ------------------------------------------------------- hostile backend */

/* Everything a broken frontend must refuse, with its slots unreadable. */
static void assert_front_broken(struct fx *x)
{
	struct test_msg m, out;

	memset(&out, 0xcc, sizeof(out));
	test_msg_fill_req(&m, 99);
	assert_int_equal(pvio_ring_front_get_rsp(&x->f, &out, sizeof(out)), -EPROTO);
	assert_int_equal(pvio_ring_front_unconsumed(&x->f), -EPROTO);
	assert_int_equal(pvio_ring_front_final_check(&x->f), -EPROTO);
	assert_null(pvio_ring_front_next_req(&x->f));
	assert_int_equal(pvio_ring_front_put_req(&x->f, &m, sizeof(m)), -EPROTO);
	assert_int_equal(pvio_ring_front_push(&x->f), -EPROTO);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(((unsigned char *)&out)[i], 0xcc);
	assert_int_equal(x->f.error, -EPROTO);
	assert_int_equal(x->f.stats.protocol_errors, 1);
}

/* Publish rsp_prod = bad with the slots PROT_NONE; get_rsp must fail
 * without reading a slot or writing out. */
static void hostile_rsp_prod(struct fx *x, uint32_t bad)
{
	struct test_msg out;

	memset(&out, 0xcc, sizeof(out));
	hdr_set(&x->s->rsp_prod, bad);
	guarded_ring_slots_access(&x->g, false);
	assert_int_equal(pvio_ring_front_get_rsp(&x->f, &out, sizeof(out)), -EPROTO);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(((unsigned char *)&out)[i], 0xcc);
	assert_int_equal(x->f.stats.protocol_errors, 1);
}

static void front_rejects_rsp_prod_ahead_of_published_requests(void **state)
{
	struct fx *x = *state;

	produce(x, 3);
	pvio_ring_front_push(&x->f);
	hostile_rsp_prod(x, 4);
}

static void front_rejects_responses_to_requests_not_yet_pushed(void **state)
{
	struct fx *x = *state;

	produce(x, 3);
	pvio_ring_front_push(&x->f);
	produce(x, 2); /* filled, not published: the backend cannot know them */
	hostile_rsp_prod(x, 5);
}

static void front_rejects_rsp_prod_far_ahead(void **state)
{
	struct fx *x = *state;

	hostile_rsp_prod(x, 0x80000000u);
}

static void front_rejects_rsp_prod_beyond_ring_size(void **state)
{
	struct fx *x = *state;

	produce(x, x->nr);
	pvio_ring_front_push(&x->f);
	hostile_rsp_prod(x, x->nr + 1);
}

static void front_rejects_rsp_prod_moving_backwards(void **state)
{
	struct fx *x = *state;

	produce(x, 6);
	pvio_ring_front_push(&x->f);
	fake_back_answer(x, 4);
	assert_int_equal(drain(x), 4);
	hostile_rsp_prod(x, 3);
}

static void front_rejects_rsp_prod_moving_backwards_across_wrap(void **state)
{
	struct fx *x = *state;

	fx_attach(x, 0xfffffffeu);
	produce(x, 6);
	pvio_ring_front_push(&x->f);
	fake_back_answer(x, 4); /* rsp_prod 2, past 2^32 */
	assert_int_equal(drain(x), 4);
	hostile_rsp_prod(x, 0xffffffffu);
}

static void front_accepts_rsp_prod_equal_to_published_requests(void **state)
{
	struct fx *x = *state;

	produce(x, x->nr);
	pvio_ring_front_push(&x->f);
	fake_back_answer(x, x->nr);
	assert_int_equal(pvio_ring_front_unconsumed(&x->f), (int)x->nr);
	assert_int_equal(drain(x), x->nr);
	assert_int_equal(x->f.stats.protocol_errors, 0);
}

static void front_final_check_rejects_bad_rsp_prod(void **state)
{
	struct fx *x = *state;

	produce(x, 1);
	pvio_ring_front_push(&x->f);
	hdr_set(&x->s->rsp_prod, 9);
	guarded_ring_slots_access(&x->g, false);
	assert_int_equal(pvio_ring_front_final_check(&x->f), -EPROTO);
	assert_int_equal(x->f.stats.protocol_errors, 1);
}

static void front_stays_broken_after_protocol_error(void **state)
{
	struct fx *x = *state;
	unsigned char hdr[64];

	produce(x, 2);
	pvio_ring_front_push(&x->f);
	hostile_rsp_prod(x, 0xfffffff0u);
	/* Even once the backend behaves again, and with nothing more written
	 * to the shared header by the broken frontend. */
	hdr_set(&x->s->rsp_prod, 0);
	memcpy(hdr, x->shared, sizeof(hdr));
	for (int i = 0; i < 3; i++)
		assert_front_broken(x);
	assert_memory_equal(hdr, x->shared, sizeof(hdr));
}

/* ------------------------------------------------------------- wrap-around */

static void front_round_trips_across_2_to_the_32(void **state)
{
	struct fx *x = *state;
	const uint32_t starts[] = { 0xffffffffu - 5, 0xffffffffu - 64,
				    0xffffffffu, 0u - 3 * 64, 0x7fffffffu - 3 };
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	for (size_t si = 0; si < sizeof(starts) / sizeof(starts[0]); si++) {
		uint32_t start = starts[si];
		uint64_t done = 0;

		fx_attach(x, start);
		for (int trip = 0; trip < 4000; trip++) {
			uint32_t room = pvio_ring_front_free_slots(&x->f);
			if (room) {
				produce(x, 1 + (uint32_t)(test_rand(&rng) % room));
				assert_true(pvio_ring_front_push(&x->f) >= 0);
			}
			uint32_t pending = (uint32_t)(x->f.req_prod_pub - x->answered);
			uint32_t a = (uint32_t)(test_rand(&rng) % (pending + 1));
			fake_back_answer(x, a);
			if (pvio_ring_front_final_check(&x->f) > 0)
				done += drain(x);
		}
		fake_back_answer(x, (uint32_t)(x->f.req_prod_pub - x->answered));
		done += drain(x);
		assert_int_equal(done, x->next_seq);
		assert_int_equal(x->f.rsp_cons, (uint32_t)(start + done));
		assert_int_equal(x->f.stats.protocol_errors, 0);
		/* The indices really did pass 2^32 (or 2^31 for the last). */
		assert_true(done > 0xffffffffu - start || si == 4);
	}
}

/* ------------------------------------------- typed rings, 1 to 16 pages */

static void blkif_fill(struct pvio_blkif_request *r, uint64_t seq)
{
	memset(r, 0, sizeof(*r));
	r->operation = seq & 1 ? PVIO_BLKIF_OP_WRITE : PVIO_BLKIF_OP_READ;
	r->nr_segments = (uint8_t)(1 + seq % PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST);
	r->handle = 0x51;
	r->id = seq;
	r->sector_number = seq * 8;
	for (unsigned i = 0; i < r->nr_segments; i++) {
		r->seg[i].gref = (pvio_grant_ref_t)(seq * 16 + i);
		r->seg[i].first_sect = (uint8_t)(i % 8);
		r->seg[i].last_sect = 7;
	}
}

static bool blkif_req_ok(const struct pvio_blkif_request *r, uint64_t seq)
{
	struct pvio_blkif_request want;

	blkif_fill(&want, seq);
	return memcmp(r, &want, sizeof(want)) == 0;
}

static void front_blkif_fills_every_slot_of_rings_of_1_to_16_pages(void **state)
{
	(void)state;
	for (unsigned order = 0; order <= PVIO_RING_MAX_PAGE_ORDER; order++) {
		size_t bytes = (size_t)PAGE << order;
		void *mem = ring_mem_alloc(bytes);
		struct pvio_ring_front f;
		struct pvio_ring_back b;
		uint64_t seq = 0, rsp_seq = 0;

		assert_int_equal(pvio_blkif_front_init(&f, mem, bytes), 0);
		assert_int_equal(pvio_blkif_back_attach(&b, mem, bytes, 0), 0);
		assert_int_equal(f.nr_slots, 32u << order);
		assert_int_equal(pvio_blkif_ring_nr_slots(bytes), 32u << order);
		for (int round = 0; round < 5; round++) {
			/* Fill to full (different amounts each round, so the
			 * slots wrap), publish, answer all, collect all. */
			uint32_t k = round == 0 ? f.nr_slots : f.nr_slots - (uint32_t)round * 3;
			for (uint32_t i = 0; i < k; i++) {
				struct pvio_blkif_request *r = pvio_blkif_front_next_req(&f);
				assert_non_null(r);
				assert_true((unsigned char *)r + sizeof(*r) <=
					    (unsigned char *)mem + bytes);
				blkif_fill(r, seq++);
			}
			if (k == f.nr_slots)
				assert_null(pvio_blkif_front_next_req(&f));
			assert_true(pvio_ring_front_push(&f) >= 0);
			struct pvio_blkif_request req;
			uint32_t got = 0;
			while (pvio_blkif_back_get_req(&b, &req) == 1) {
				assert_true(blkif_req_ok(&req, rsp_seq + got));
				struct pvio_blkif_response *rsp = pvio_blkif_back_next_rsp(&b);
				assert_non_null(rsp);
				*rsp = (struct pvio_blkif_response){
					.id = req.id,
					.operation = req.operation,
					.status = (int16_t)(req.id % 3 ? PVIO_BLKIF_RSP_OKAY
								       : PVIO_BLKIF_RSP_ERROR),
				};
				got++;
			}
			assert_int_equal(got, k);
			assert_null(pvio_blkif_back_next_rsp(&b));
			assert_true(pvio_ring_back_push(&b) >= 0);
			struct pvio_blkif_response rsp;
			for (uint32_t i = 0; i < k; i++, rsp_seq++) {
				assert_int_equal(pvio_blkif_front_get_rsp(&f, &rsp), 1);
				assert_int_equal(rsp.id, rsp_seq);
				assert_int_equal(rsp.operation, rsp_seq & 1);
				assert_int_equal(rsp.status, rsp_seq % 3 ? 0 : -1);
			}
			assert_int_equal(pvio_blkif_front_get_rsp(&f, &rsp), 0);
		}
		assert_int_equal(f.stats.protocol_errors + b.stats.protocol_errors, 0);
		free(mem);
	}
}

static void front_netif_tx_fills_every_slot_of_rings_of_1_to_16_pages(void **state)
{
	(void)state;
	for (unsigned order = 0; order <= PVIO_RING_MAX_PAGE_ORDER; order++) {
		size_t bytes = (size_t)PAGE << order;
		void *mem = ring_mem_alloc(bytes);
		struct pvio_ring_front f;
		struct pvio_ring_back b;
		uint32_t seq = 0, rsp_seq = 0;

		assert_int_equal(pvio_netif_tx_front_init(&f, mem, bytes), 0);
		assert_int_equal(pvio_netif_tx_back_attach(&b, mem, bytes, 0), 0);
		assert_int_equal(f.nr_slots, 256u << order);
		assert_int_equal(pvio_netif_tx_ring_nr_slots(bytes), 256u << order);
		for (int round = 0; round < 4; round++) {
			uint32_t k = f.nr_slots - (uint32_t)round * 7;
			for (uint32_t i = 0; i < k; i++, seq++) {
				struct pvio_netif_tx_request *r = pvio_netif_tx_front_next_req(&f);
				assert_non_null(r);
				*r = (struct pvio_netif_tx_request){
					.gref = seq * 3,
					.offset = (uint16_t)(seq % 4096),
					.flags = (uint16_t)(seq & PVIO_NETTXF_more_data),
					.id = (uint16_t)seq,
					.size = (uint16_t)(60 + seq % 1455),
				};
			}
			if (round == 0)
				assert_null(pvio_netif_tx_front_next_req(&f));
			pvio_ring_front_push(&f);
			struct pvio_netif_tx_request req;
			for (uint32_t i = 0; i < k; i++) {
				uint32_t s = rsp_seq + i;
				assert_int_equal(pvio_netif_tx_back_get_req(&b, &req), 1);
				assert_int_equal(req.gref, s * 3);
				assert_int_equal(req.offset, s % 4096);
				assert_int_equal(req.id, (uint16_t)s);
				assert_int_equal(req.size, 60 + s % 1455);
				struct pvio_netif_tx_response *rsp = pvio_netif_tx_back_next_rsp(&b);
				assert_non_null(rsp);
				rsp->id = req.id;
				rsp->status = PVIO_NETIF_RSP_OKAY;
			}
			assert_int_equal(pvio_netif_tx_back_get_req(&b, &req), 0);
			pvio_ring_back_push(&b);
			struct pvio_netif_tx_response rsp;
			for (uint32_t i = 0; i < k; i++, rsp_seq++) {
				assert_int_equal(pvio_netif_tx_front_get_rsp(&f, &rsp), 1);
				assert_int_equal(rsp.id, (uint16_t)rsp_seq);
				assert_int_equal(rsp.status, PVIO_NETIF_RSP_OKAY);
			}
		}
		free(mem);
	}
}

static void front_netif_rx_fills_every_slot_of_rings_of_1_to_16_pages(void **state)
{
	(void)state;
	for (unsigned order = 0; order <= PVIO_RING_MAX_PAGE_ORDER; order++) {
		size_t bytes = (size_t)PAGE << order;
		void *mem = ring_mem_alloc(bytes);
		struct pvio_ring_front f;
		struct pvio_ring_back b;
		uint32_t seq = 0, rsp_seq = 0;

		assert_int_equal(pvio_netif_rx_front_init(&f, mem, bytes), 0);
		assert_int_equal(pvio_netif_rx_back_attach(&b, mem, bytes, 0), 0);
		assert_int_equal(f.nr_slots, 256u << order);
		assert_int_equal(pvio_netif_rx_ring_nr_slots(bytes), 256u << order);
		for (int round = 0; round < 4; round++) {
			uint32_t k = f.nr_slots - (uint32_t)round * 5;
			for (uint32_t i = 0; i < k; i++, seq++) {
				struct pvio_netif_rx_request *r = pvio_netif_rx_front_next_req(&f);
				assert_non_null(r);
				*r = (struct pvio_netif_rx_request){
					.id = (uint16_t)seq, .gref = seq + 1000 };
			}
			if (round == 0)
				assert_null(pvio_netif_rx_front_next_req(&f));
			pvio_ring_front_push(&f);
			struct pvio_netif_rx_request req;
			for (uint32_t i = 0; i < k; i++) {
				uint32_t s = rsp_seq + i;
				assert_int_equal(pvio_netif_rx_back_get_req(&b, &req), 1);
				assert_int_equal(req.id, (uint16_t)s);
				assert_int_equal(req.gref, s + 1000);
				struct pvio_netif_rx_response *rsp = pvio_netif_rx_back_next_rsp(&b);
				assert_non_null(rsp);
				*rsp = (struct pvio_netif_rx_response){
					.id = req.id,
					.offset = (uint16_t)(s % 64),
					.flags = PVIO_NETRXF_data_validated,
					.status = (int16_t)(s % 1500),
				};
			}
			pvio_ring_back_push(&b);
			struct pvio_netif_rx_response rsp;
			for (uint32_t i = 0; i < k; i++, rsp_seq++) {
				assert_int_equal(pvio_netif_rx_front_get_rsp(&f, &rsp), 1);
				assert_int_equal(rsp.id, (uint16_t)rsp_seq);
				assert_int_equal(rsp.offset, rsp_seq % 64);
				assert_int_equal(rsp.flags, PVIO_NETRXF_data_validated);
				assert_int_equal(rsp.status, rsp_seq % 1500);
			}
		}
		free(mem);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_page, teardown)
#define G(fn) cmocka_unit_test_setup_teardown(fn, setup_guarded, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(front_init_rejects_null_memory),
		T(front_init_rejects_memory_not_64_byte_aligned),
		T(front_init_rejects_zero_slot_size),
		T(front_init_rejects_slot_size_not_multiple_of_4),
		T(front_init_rejects_ring_without_room_for_one_slot),
		T(front_init_accepts_ring_with_room_for_exactly_one_slot),
		T(front_init_failure_leaves_shared_memory_untouched),
		T(front_init_writes_xen_initial_header),
		T(front_init_sizes_ring_as_xen_does),
		T(front_attach_rejects_bad_geometry),
		T(front_attach_writes_nothing_to_shared_memory),
		T(front_next_req_returns_consecutive_slots_in_ring_order),
		T(front_next_req_returns_null_when_ring_full),
		T(front_put_req_returns_enospc_when_ring_full),
		T(front_put_req_copies_message_into_next_slot),
		T(front_put_req_rejects_len_beyond_slot_size),
		T(front_requests_are_invisible_until_push),
		T(front_push_with_nothing_new_returns_0_and_counts_nothing),
		T(front_push_kicks_exactly_when_req_event_in_published_range),
		T(front_push_counts_every_kick_sent_and_avoided),
		T(front_push_kicks_once_per_backend_arm),
		T(front_get_rsp_returns_0_when_nothing_published),
		T(front_get_rsp_returns_responses_in_order),
		T(front_get_rsp_copies_response_once),
		T(front_get_rsp_rejects_len_beyond_slot_size),
		T(front_frees_slots_only_as_responses_are_consumed),
		T(front_final_check_arms_rsp_event_at_next_response),
		T(front_final_check_stores_rsp_event_only_when_it_changes),
		T(front_final_check_reports_pending_without_arming),
		G(front_rejects_rsp_prod_ahead_of_published_requests),
		G(front_rejects_responses_to_requests_not_yet_pushed),
		G(front_rejects_rsp_prod_far_ahead),
		G(front_rejects_rsp_prod_beyond_ring_size),
		G(front_rejects_rsp_prod_moving_backwards),
		G(front_rejects_rsp_prod_moving_backwards_across_wrap),
		G(front_accepts_rsp_prod_equal_to_published_requests),
		G(front_final_check_rejects_bad_rsp_prod),
		G(front_stays_broken_after_protocol_error),
		G(front_round_trips_across_2_to_the_32),
		cmocka_unit_test(front_blkif_fills_every_slot_of_rings_of_1_to_16_pages),
		cmocka_unit_test(front_netif_tx_fills_every_slot_of_rings_of_1_to_16_pages),
		cmocka_unit_test(front_netif_rx_fills_every_slot_of_rings_of_1_to_16_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
