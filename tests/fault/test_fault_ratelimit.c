/* SPDX-License-Identifier: MIT */
/* The event-storm rate limiter (<pvio/evtchn_ratelimit.h>), pure logic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pvio/evtchn_ratelimit.h>

static void defaults_fill_zero_arguments(void **s)
{
	struct pvio_evtchn_ratelimit rl;

	(void)s;
	pvio_evtchn_ratelimit_init(&rl, 0, 0, 0);
	assert_int_equal(rl.burst, PVIO_EVTCHN_RL_DEFAULT_BURST);
	assert_int_equal(rl.min_ns, PVIO_EVTCHN_RL_DEFAULT_MIN_NS);
	assert_int_equal(rl.max_ns, PVIO_EVTCHN_RL_DEFAULT_MAX_NS);
	pvio_evtchn_ratelimit_init(&rl, 3, 500, 100);
	assert_int_equal(rl.max_ns, 500); /* raised to min */
}

static void empty_events_within_the_burst_are_free(void **s)
{
	struct pvio_evtchn_ratelimit rl;
	bool began = true;

	(void)s;
	pvio_evtchn_ratelimit_init(&rl, 4, 1000, 8000);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pvio_evtchn_ratelimit_note(&rl, false, &began), 0);
		assert_false(began);
	}
	assert_int_equal(rl.storms, 0);
}

static void a_storm_doubles_its_pause_up_to_the_cap(void **s)
{
	struct pvio_evtchn_ratelimit rl;
	bool began;
	static const uint64_t want[] = { 1000, 2000, 4000, 8000, 8000, 8000 };

	(void)s;
	pvio_evtchn_ratelimit_init(&rl, 2, 1000, 8000);
	(void)pvio_evtchn_ratelimit_note(&rl, false, NULL);
	(void)pvio_evtchn_ratelimit_note(&rl, false, NULL);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(pvio_evtchn_ratelimit_note(&rl, false, &began), want[i]);
		assert_int_equal(began, i == 0); /* reported once per storm */
	}
	assert_int_equal(rl.storms, 1);
	assert_int_equal(rl.delays, 6);
}

static void work_ends_the_storm_and_a_new_one_counts_again(void **s)
{
	struct pvio_evtchn_ratelimit rl;
	bool began;

	(void)s;
	pvio_evtchn_ratelimit_init(&rl, 1, 1000, 8000);
	(void)pvio_evtchn_ratelimit_note(&rl, false, NULL);
	assert_int_equal(pvio_evtchn_ratelimit_note(&rl, false, NULL), 1000);
	assert_int_equal(pvio_evtchn_ratelimit_note(&rl, false, NULL), 2000);
	assert_int_equal(pvio_evtchn_ratelimit_note(&rl, true, &began), 0);
	assert_false(began);
	/* the burst is forgiven again, then the pause starts from min */
	assert_int_equal(pvio_evtchn_ratelimit_note(&rl, false, NULL), 0);
	assert_int_equal(pvio_evtchn_ratelimit_note(&rl, false, &began), 1000);
	assert_true(began);
	assert_int_equal(rl.storms, 2);
}

static void a_huge_cap_does_not_overflow(void **s)
{
	struct pvio_evtchn_ratelimit rl;
	uint64_t last = 0;

	(void)s;
	pvio_evtchn_ratelimit_init(&rl, 1, 1, UINT64_MAX);
	for (int i = 0; i < 200; i++) {
		uint64_t d = pvio_evtchn_ratelimit_note(&rl, false, NULL);

		assert_true(d >= last);
		last = d;
	}
	assert_int_equal(last, UINT64_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_fill_zero_arguments),
		cmocka_unit_test(empty_events_within_the_burst_are_free),
		cmocka_unit_test(a_storm_doubles_its_pause_up_to_the_cap),
		cmocka_unit_test(work_ends_the_storm_and_a_new_one_counts_again),
		cmocka_unit_test(a_huge_cap_does_not_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
