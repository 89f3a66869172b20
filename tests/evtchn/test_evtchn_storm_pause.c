/* SPDX-License-Identifier: MIT */
/*
 * pvio_evtchn_ratelimit_pause(), the host's event-storm pause: nothing
 * masked within the burst; past it the ports are masked for the delay and
 * unmasked after, and an event the frontend sends during the pause is not
 * lost but raised when the pause ends.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pvio/evtchn_ratelimit.h>

#include "helpers.h"

static bool masked(struct pvio_evtchn *h, uint32_t port)
{
	struct pvio_evtchn_status st;

	assert_int_equal(pvio_evtchn_status(h, port, &st), 0);
	return st.masked;
}

static void within_the_burst_nothing_is_masked(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_ratelimit rl;
	uint32_t p0, p1;
	bool began = true;

	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &p0), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, p0, &p1), 0);
	pvio_evtchn_ratelimit_init(&rl, 3, 1000, 1000);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pvio_evtchn_ratelimit_pause(&fx->h[1], &rl, &p1, 1, &began), 0);
		assert_false(began);
		assert_false(masked(&fx->h[1], p1));
	}
	assert_int_equal(rl.delays, 0);
}

static void past_the_burst_it_pauses_and_unmasks_every_port(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_ratelimit rl;
	uint32_t a0, a1, b0, b1, ports[3];
	bool began = false;

	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &a0), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, a0, &a1), 0);
	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &b0), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, b0, &b1), 0);
	ports[0] = a1;
	ports[1] = b1;
	ports[2] = a1;   /* shared, as a netback queue's tx and rx port */
	pvio_evtchn_ratelimit_init(&rl, 1, 1000, 4000);
	assert_int_equal(pvio_evtchn_ratelimit_pause(&fx->h[1], &rl, ports, 3, NULL), 0);
	assert_int_equal(pvio_evtchn_ratelimit_pause(&fx->h[1], &rl, ports, 3, &began), 1000);
	assert_true(began);
	assert_int_equal(pvio_evtchn_ratelimit_pause(&fx->h[1], &rl, ports, 3, &began), 2000);
	assert_false(began);
	assert_false(masked(&fx->h[1], a1));
	assert_false(masked(&fx->h[1], b1));
	assert_int_equal(rl.delays, 2);
}

/* The frontend: once the backend's port is masked (the pause has begun),
 * notify it, and see the event held pending behind the mask. */
struct front {
	struct fixture *fx;
	uint32_t p0, p1;
	_Atomic bool done;      /* the pause returned */
	bool sent_masked;       /* notified while masked, seen pending */
};

static void *front_main(void *arg)
{
	struct front *f = arg;
	struct pvio_evtchn_status st;

	while (!atomic_load(&f->done)) {
		if (pvio_evtchn_status(&f->fx->h[1], f->p1, &st) == 0 && st.masked) {
			(void)pvio_evtchn_notify(&f->fx->h[0], f->p0);
			if (pvio_evtchn_status(&f->fx->h[1], f->p1, &st) == 0)
				f->sent_masked = st.masked && st.pending;
			return NULL;
		}
		sched_yield();
	}
	return NULL;
}

static void an_event_sent_during_the_pause_is_raised_after_it(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_ratelimit rl;
	struct front f = { .fx = fx };
	pthread_t t;
	uint32_t got[4];

	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &f.p0), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, f.p0, &f.p1), 0);
	/* A pause of a second: long enough for the frontend thread to run
	 * inside it however loaded the machine. */
	pvio_evtchn_ratelimit_init(&rl, 1, 1000000000ull, 1000000000ull);
	(void)pvio_evtchn_ratelimit_pause(&fx->h[1], &rl, &f.p1, 1, NULL);
	assert_int_equal(pthread_create(&t, NULL, front_main, &f), 0);
	assert_int_equal(pvio_evtchn_ratelimit_pause(&fx->h[1], &rl, &f.p1, 1, NULL),
			 1000000000ull);
	atomic_store(&f.done, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(f.sent_masked);
	assert_false(masked(&fx->h[1], f.p1));
	assert_int_equal(pvio_evtchn_consume(&fx->h[1], got, 4), 1);
	assert_int_equal(got[0], f.p1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(within_the_burst_nothing_is_masked),
		T(past_the_burst_it_pauses_and_unmasks_every_port),
		T(an_event_sent_during_the_pause_is_raised_after_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
