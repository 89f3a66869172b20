/* SPDX-License-Identifier: MIT */
/*
 * The worker pins its caller only while it runs. The net and blk suites
 * fork pvio's processes between runs; a caller left pinned to one CPU
 * put netfront and netback on that one CPU (a 7x lower tx rate).
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "bench.h"

static void worker_gives_back_the_callers_cpus(void **state)
{
	cpu_set_t before, during, after;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(before), &before), 0);
	/* The test needs two CPUs to tell "pinned" from "not pinned". */
	assert_true(CPU_COUNT(&before) >= 2);
	assert_int_equal(pvio_bench_worker_start(0, 1), 0);
	assert_int_equal(sched_getaffinity(0, sizeof(during), &during), 0);
	assert_int_equal(CPU_COUNT(&during), 1);
	assert_true(CPU_ISSET(0, &during));
	pvio_bench_worker_stop();
	assert_int_equal(sched_getaffinity(0, sizeof(after), &after), 0);
	assert_true(CPU_EQUAL(&before, &after));
}

static void a_failed_start_leaves_the_caller_alone(void **state)
{
	cpu_set_t before, after;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(before), &before), 0);
	assert_int_equal(pvio_bench_worker_start(0, CPU_SETSIZE), -EINVAL);
	assert_int_equal(sched_getaffinity(0, sizeof(after), &after), 0);
	assert_true(CPU_EQUAL(&before, &after));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(worker_gives_back_the_callers_cpus),
		cmocka_unit_test(a_failed_start_leaves_the_caller_alone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
