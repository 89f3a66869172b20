/* SPDX-License-Identifier: MIT */
/*
 * struct pvio_host_thread (<pvio/host.h>), a backend's control thread:
 * it runs until stopped, a second start is refused while it runs, stop
 * joins it and is harmless when not started, and it starts again after;
 * a harness can run its loop on the calling thread and end it from inside.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pvio/host.h>

struct body {
	struct pvio_host_thread t;
	_Atomic unsigned rounds;
	_Atomic bool returned;
};

static void *body_main(void *arg)
{
	struct body *b = arg;

	while (!pvio_host_thread_stopping(&b->t)) {
		atomic_fetch_add(&b->rounds, 1);
		sched_yield();
	}
	atomic_store(&b->returned, true);
	return NULL;
}

static void it_runs_until_stopped_and_stop_joins_it(void **state)
{
	struct body b = { 0 };

	(void)state;
	assert_int_equal(pvio_host_thread_start(&b.t, body_main, &b), 0);
	while (atomic_load(&b.rounds) == 0)
		sched_yield();
	assert_false(atomic_load(&b.returned));
	pvio_host_thread_stop(&b.t);
	assert_true(atomic_load(&b.returned));   /* joined: it has returned */
	assert_false(b.t.started);
}

static void a_second_start_is_refused_while_it_runs(void **state)
{
	struct body b = { 0 };

	(void)state;
	assert_int_equal(pvio_host_thread_start(&b.t, body_main, &b), 0);
	assert_int_equal(pvio_host_thread_start(&b.t, body_main, &b), -EALREADY);
	pvio_host_thread_stop(&b.t);
	/* and it starts again once stopped */
	atomic_store(&b.returned, false);
	assert_int_equal(pvio_host_thread_start(&b.t, body_main, &b), 0);
	pvio_host_thread_stop(&b.t);
	assert_true(atomic_load(&b.returned));
}

static void stop_without_start_and_bad_arguments_are_harmless(void **state)
{
	struct body b = { 0 };

	(void)state;
	pvio_host_thread_stop(&b.t);
	pvio_host_thread_stop(&b.t);
	pvio_host_thread_stop(NULL);
	assert_int_equal(pvio_host_thread_start(NULL, body_main, &b), -EINVAL);
	assert_int_equal(pvio_host_thread_start(&b.t, NULL, &b), -EINVAL);
	assert_false(b.t.started);
}

/* A body that asks itself to stop every third round, as a harness's
 * idle hook does. */
static void *self_stopping_main(void *arg)
{
	struct body *b = arg;

	while (!pvio_host_thread_stopping(&b->t)) {
		if ((atomic_fetch_add(&b->rounds, 1) + 1) % 3 == 0)
			pvio_host_thread_ask_stop(&b->t);
	}
	atomic_store(&b->returned, true);
	return NULL;
}

static void run_here_clears_a_stop_request_and_ends_when_asked_from_inside(void **state)
{
	struct body b = { 0 };

	(void)state;
	pvio_host_thread_ask_stop(&b.t);   /* left over from a last run */
	assert_int_equal(pvio_host_thread_run_here(&b.t, self_stopping_main, &b), 0);
	assert_int_equal(atomic_load(&b.rounds), 3);
	assert_true(atomic_load(&b.returned));
	assert_true(pvio_host_thread_stopping(&b.t));
	assert_int_equal(pvio_host_thread_run_here(&b.t, self_stopping_main, &b), 0);
	assert_int_equal(atomic_load(&b.rounds), 6);
	pvio_host_thread_ask_stop(NULL);
	assert_int_equal(pvio_host_thread_run_here(NULL, body_main, &b), -EINVAL);
	assert_int_equal(pvio_host_thread_run_here(&b.t, NULL, &b), -EINVAL);
}

static void run_here_is_refused_while_the_thread_runs(void **state)
{
	struct body b = { 0 }, other = { 0 };

	(void)state;
	assert_int_equal(pvio_host_thread_start(&b.t, body_main, &b), 0);
	assert_int_equal(pvio_host_thread_run_here(&b.t, self_stopping_main, &other),
			 -EALREADY);
	assert_int_equal(atomic_load(&other.rounds), 0);
	pvio_host_thread_stop(&b.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(it_runs_until_stopped_and_stop_joins_it),
		cmocka_unit_test(a_second_start_is_refused_while_it_runs),
		cmocka_unit_test(stop_without_start_and_bad_arguments_are_harmless),
		cmocka_unit_test(run_here_clears_a_stop_request_and_ends_when_asked_from_inside),
		cmocka_unit_test(run_here_is_refused_while_the_thread_runs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
