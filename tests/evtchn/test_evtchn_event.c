/* SPDX-License-Identifier: MIT */
/* The data path: notify, mask/unmask, test_and_clear, consume, wait. */
#include <pthread.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pvio/evtchn_host.h>

#include "helpers.h"

/* Domain 0 port *a bound to domain 1 port *b. */
static void connect01(struct fixture *fx, uint32_t *a, uint32_t *b)
{
	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, a), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, *a, b), 0);
}

static void notify_sets_remote_pending_and_consume_returns_port(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_status st;
	uint32_t a, b, got[4];

	connect01(fx, &a, &b);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], a, &st), 0);
	assert_true(st.pending);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], got, 4), 1);
	assert_int_equal(got[0], a);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], got, 4), 0);
	/* The other direction too. */
	assert_int_equal(pvio_evtchn_notify(&fx->h[0], a), 0);
	assert_int_equal(pvio_evtchn_wait(&fx->h[1], PVIO_EVTCHN_BLOCK, 0, got, 4), 1);
	assert_int_equal(got[0], b);
}

static void notify_on_unbound_port_fails_enotconn(void **state)
{
	struct fixture *fx = *state;
	uint32_t a;

	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &a), 0);
	assert_int_equal(pvio_evtchn_notify(&fx->h[0], a), -ENOTCONN);
}

static void notify_on_free_or_bad_port_fails_einval(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(pvio_evtchn_notify(&fx->h[0], 0), -EINVAL);
	assert_int_equal(pvio_evtchn_notify(&fx->h[0], 9), -EINVAL);
	assert_int_equal(pvio_evtchn_notify(&fx->h[0], PVIO_EVTCHN_NR_PORTS), -EINVAL);
	assert_int_equal(pvio_evtchn_notify(NULL, 1), -EINVAL);
}

static void notify_on_closed_port_fails_cleanly(void **state)
{
	struct fixture *fx = *state;
	uint32_t a, b;

	connect01(fx, &a, &b);
	assert_int_equal(pvio_evtchn_close(&fx->h[0], a), 0);
	assert_int_equal(pvio_evtchn_notify(&fx->h[0], a), -EINVAL);   /* ours: free */
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), -ENOTCONN); /* peer's: unbound */
}

static void notifications_coalesce_into_one_event(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_stats s0, s1;
	uint32_t a, b, got[4];

	connect01(fx, &a, &b);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], got, 4), 1);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], got, 4), 0);
	pvio_evtchn_stats_get(&fx->h[1], &s1);
	pvio_evtchn_stats_get(&fx->h[0], &s0);
	assert_int_equal(s1.sent, 3);
	assert_int_equal(s1.coalesced, 2);
	assert_int_equal(s0.received, 1);
}

static void notify_wakes_remote_only_when_asleep(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_stats s1;
	uint32_t a, b, got;

	connect01(fx, &a, &b);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(fx->plat.wakes, 0); /* awake: no wake call */
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], &got, 1), 1);
	atomic_store(&fx->h[0].shared->waiter[0].sleeping, 1);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(fx->plat.wakes, 1);
	assert_int_equal(fx->plat.last_woken, 0);
	assert_int_equal(atomic_load(&fx->h[0].shared->waiter[0].sleeping), 0);
	pvio_evtchn_stats_get(&fx->h[1], &s1);
	assert_int_equal(s1.wakes, 1);
}

static void masked_port_stays_pending_and_is_not_returned(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_status st;
	uint32_t a, b, got;

	connect01(fx, &a, &b);
	assert_int_equal(pvio_evtchn_mask(&fx->h[0], a), 0);
	atomic_store(&fx->h[0].shared->waiter[0].sleeping, 1);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(fx->plat.wakes, 0); /* masked: no wake */
	assert_int_equal(pvio_evtchn_wait(&fx->h[0], PVIO_EVTCHN_POLL, 0, &got, 1), -ETIMEDOUT);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], a, &st), 0);
	assert_true(st.pending);
	assert_true(st.masked);
}

static void unmask_with_pending_raises_and_wakes_own_domain(void **state)
{
	struct fixture *fx = *state;
	uint32_t a, b, got;

	connect01(fx, &a, &b);
	assert_int_equal(pvio_evtchn_mask(&fx->h[0], a), 0);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	atomic_store(&fx->h[0].shared->waiter[0].sleeping, 1); /* waiter asleep */
	assert_int_equal(pvio_evtchn_unmask(&fx->h[0], a), 0);
	assert_int_equal(fx->plat.wakes, 1);
	assert_int_equal(fx->plat.last_woken, 0);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], &got, 1), 1);
	assert_int_equal(got, a);
}

static void unmask_without_pending_does_not_wake(void **state)
{
	struct fixture *fx = *state;
	uint32_t a, b, got;

	connect01(fx, &a, &b);
	assert_int_equal(pvio_evtchn_mask(&fx->h[0], a), 0);
	atomic_store(&fx->h[0].shared->waiter[0].sleeping, 1);
	assert_int_equal(pvio_evtchn_unmask(&fx->h[0], a), 0);
	assert_int_equal(pvio_evtchn_unmask(&fx->h[0], a), 0); /* idempotent */
	assert_int_equal(fx->plat.wakes, 0);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], &got, 1), 0);
	assert_int_equal(pvio_evtchn_mask(&fx->h[0], 0), -EINVAL);
	assert_int_equal(pvio_evtchn_unmask(&fx->h[0], PVIO_EVTCHN_NR_PORTS), -EINVAL);
}

static void test_and_clear_consumes_once_even_when_masked(void **state)
{
	struct fixture *fx = *state;
	uint32_t a, b, got;

	connect01(fx, &a, &b);
	assert_int_equal(pvio_evtchn_test_and_clear(&fx->h[0], a), 0);
	assert_int_equal(pvio_evtchn_mask(&fx->h[0], a), 0);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(pvio_evtchn_test_and_clear(&fx->h[0], a), 1);
	assert_int_equal(pvio_evtchn_test_and_clear(&fx->h[0], a), 0);
	assert_int_equal(pvio_evtchn_unmask(&fx->h[0], a), 0);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], &got, 1), 0);
	assert_int_equal(pvio_evtchn_test_and_clear(&fx->h[0], 0), -EINVAL);
}

static void consume_respects_max_and_keeps_the_rest_raised(void **state)
{
	struct fixture *fx = *state;
	uint32_t a[5], b[5], got[8], seen = 0;

	for (int i = 0; i < 5; i++)
		connect01(fx, &a[i], &b[i]);
	for (int i = 0; i < 5; i++)
		assert_int_equal(pvio_evtchn_notify(&fx->h[1], b[i]), 0);
	for (int r = 0; r < 3; r++) {
		int n = pvio_evtchn_consume(&fx->h[0], got, 2);
		assert_int_equal(n, r < 2 ? 2 : 1);
		for (int i = 0; i < n; i++)
			seen |= 1u << (got[i] - a[0]);
	}
	assert_int_equal(seen, 0x1f);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], got, 8), 0);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], got, 0), -EINVAL);
}

static void ports_in_many_words_are_all_returned(void **state)
{
	struct fixture *fx = *state;
	static uint32_t a[300], b[300], got[300];

	for (int i = 0; i < 300; i++)
		connect01(fx, &a[i], &b[i]);
	for (int i = 0; i < 300; i += 3)
		assert_int_equal(pvio_evtchn_notify(&fx->h[1], b[i]), 0);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], got, 300), 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(got[i], a[3 * i]); /* lowest word first */
}

static void wait_times_out_in_every_mode(void **state)
{
	struct fixture *fx = *state;
	uint32_t got;
	struct pvio_evtchn_stats st;

	for (int m = 0; m < 3; m++)
		assert_int_equal(pvio_evtchn_wait(&fx->h[0], m, 1000000, &got, 1), -ETIMEDOUT);
	pvio_evtchn_stats_get(&fx->h[0], &st);
	assert_int_equal(st.sleeps, 2); /* BLOCK and ADAPTIVE slept, POLL did not */
	assert_int_equal(st.spurious, 0);
	pvio_evtchn_set_spin(&fx->h[0], 0);
	assert_int_equal(pvio_evtchn_wait(&fx->h[0], PVIO_EVTCHN_ADAPTIVE, 1000, &got, 1), -ETIMEDOUT);
}

static void wait_rejects_bad_arguments(void **state)
{
	struct fixture *fx = *state;
	uint32_t got;

	assert_int_equal(pvio_evtchn_wait(&fx->h[0], 7, 0, &got, 1), -EINVAL);
	assert_int_equal(pvio_evtchn_wait(&fx->h[0], PVIO_EVTCHN_BLOCK, 0, NULL, 1), -EINVAL);
	assert_int_equal(pvio_evtchn_wait(&fx->h[0], PVIO_EVTCHN_BLOCK, 0, &got, 0), -EINVAL);
	assert_int_equal(pvio_evtchn_wait(NULL, PVIO_EVTCHN_BLOCK, 0, &got, 1), -EINVAL);
}

static void wait_returns_pending_event_in_every_mode(void **state)
{
	struct fixture *fx = *state;
	uint32_t a, b, got;

	connect01(fx, &a, &b);
	for (int m = 0; m < 3; m++) {
		assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
		assert_int_equal(pvio_evtchn_wait(&fx->h[0], m, PVIO_EVTCHN_FOREVER, &got, 1), 1);
		assert_int_equal(got, a);
	}
}

/* ---- with the real host platform and a second thread ---- */

struct waiter {
	struct pvio_evtchn *h;
	int mode;
	int rc;
	uint32_t port;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	w->rc = pvio_evtchn_wait(w->h, w->mode, 10ull * 1000000000u, &w->port, 1);
	return NULL;
}

static void blocked_waiter_wakes(struct fixture *fx,
				 const struct pvio_evtchn_wait_ops *ops, void *ctx,
				 bool by_unmask)
{
	uint32_t a, b;

	assert_int_equal(pvio_evtchn_attach(&fx->h[0], fx->mem, fx->bytes, 0, ops, ctx), 0);
	assert_int_equal(pvio_evtchn_attach(&fx->h[1], fx->mem, fx->bytes, 1, ops, ctx), 0);
	connect01(fx, &a, &b);
	for (int m = 0; m < 3; m++) {
		struct waiter w = { .h = &fx->h[0], .mode = m };
		pthread_t t;
		if (by_unmask)
			assert_int_equal(pvio_evtchn_mask(&fx->h[0], a), 0);
		assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
		/* Give the waiter time to go to sleep; correctness does not
		 * depend on it (the event is never lost either way). */
		if (m != PVIO_EVTCHN_POLL)
			for (int i = 0; i < 1000 && !atomic_load(&fx->h[0].shared->waiter[0].sleeping); i++)
				usleep(100);
		assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
		if (by_unmask)
			assert_int_equal(pvio_evtchn_unmask(&fx->h[0], a), 0);
		assert_int_equal(pthread_join(t, NULL), 0);
		assert_int_equal(w.rc, 1);
		assert_int_equal(w.port, a);
	}
}

static void blocked_waiter_is_woken_by_notify_futex(void **state)
{
	blocked_waiter_wakes(*state, &pvio_evtchn_host_futex_ops, NULL, false);
}

static void blocked_waiter_is_woken_by_unmask_with_pending_futex(void **state)
{
	blocked_waiter_wakes(*state, &pvio_evtchn_host_futex_ops, NULL, true);
}

static void blocked_waiter_is_woken_by_notify_eventfd(void **state)
{
	struct pvio_evtchn_host_efd e;

	assert_int_equal(pvio_evtchn_host_efd_init(&e, TEST_NR_DOMS), 0);
	assert_int_equal(pvio_evtchn_host_efd_create(&e, 0), 0);
	assert_int_equal(pvio_evtchn_host_efd_create(&e, 1), 0);
	blocked_waiter_wakes(*state, &pvio_evtchn_host_eventfd_ops, &e, false);
	blocked_waiter_wakes(*state, &pvio_evtchn_host_eventfd_ops, &e, true);
	pvio_evtchn_host_efd_fini(&e);
}

static void host_wait_times_out_cleanly(void **state)
{
	struct fixture *fx = *state;
	uint32_t got;

	assert_int_equal(pvio_evtchn_attach(&fx->h[0], fx->mem, fx->bytes, 0,
					    &pvio_evtchn_host_futex_ops, NULL), 0);
	for (int m = 0; m < 3; m++)
		assert_int_equal(pvio_evtchn_wait(&fx->h[0], m, 2000000, &got, 1), -ETIMEDOUT);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(notify_sets_remote_pending_and_consume_returns_port),
		T(notify_on_unbound_port_fails_enotconn),
		T(notify_on_free_or_bad_port_fails_einval),
		T(notify_on_closed_port_fails_cleanly),
		T(notifications_coalesce_into_one_event),
		T(notify_wakes_remote_only_when_asleep),
		T(masked_port_stays_pending_and_is_not_returned),
		T(unmask_with_pending_raises_and_wakes_own_domain),
		T(unmask_without_pending_does_not_wake),
		T(test_and_clear_consumes_once_even_when_masked),
		T(consume_respects_max_and_keeps_the_rest_raised),
		T(ports_in_many_words_are_all_returned),
		T(wait_times_out_in_every_mode),
		T(wait_rejects_bad_arguments),
		T(wait_returns_pending_event_in_every_mode),
		T(blocked_waiter_is_woken_by_notify_futex),
		T(blocked_waiter_is_woken_by_unmask_with_pending_futex),
		T(blocked_waiter_is_woken_by_notify_eventfd),
		T(host_wait_times_out_cleanly),
	};
	return cmocka_run_group_tests_name("evtchn_event", tests, NULL, NULL);
}
