/* SPDX-License-Identifier: MIT */
/*
 * pvio_host_awake() / pvio_host_asleep() / pvio_host_polling_pays()
 * (<pvio/host.h>): polling pays while no more data-path threads are awake
 * than the process has CPUs, not once one more is; the count comes back
 * when threads go to sleep, also when many threads count at once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pvio/host.h>

/* Make n threads awake (n < 0: that many asleep). */
static void wake_n(int n)
{
	for (; n > 0; n--)
		pvio_host_awake();
	for (; n < 0; n++)
		pvio_host_asleep();
}

static void pays_up_to_the_cpu_count_and_not_past_it(void **state)
{
	int cpus = pvio_cpu_count();

	(void)state;
	assert_true(pvio_host_polling_pays()); /* nobody awake */
	wake_n(cpus);
	assert_true(pvio_host_polling_pays());
	wake_n(1);
	assert_false(pvio_host_polling_pays());
	wake_n(100);
	assert_false(pvio_host_polling_pays());
	wake_n(-101);
	assert_true(pvio_host_polling_pays());
	wake_n(-cpus);
	assert_true(pvio_host_polling_pays());
}

#define ROUNDS 200000

static void *flap_main(void *arg)
{
	(void)arg;
	pvio_host_awake();
	for (int i = 0; i < ROUNDS; i++) {
		pvio_host_asleep();
		pvio_host_awake();
	}
	pvio_host_asleep();
	return NULL;
}

/* Threads going to sleep and waking at once leave the count where it was:
 * afterwards exactly cpus more awake still pays and one more does not. */
static void concurrent_counting_comes_back_to_where_it_was(void **state)
{
	pthread_t th[4];
	int cpus = pvio_cpu_count();

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, flap_main, NULL), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	wake_n(cpus);
	assert_true(pvio_host_polling_pays());
	wake_n(1);
	assert_false(pvio_host_polling_pays());
	wake_n(-cpus - 1);
	assert_true(pvio_host_polling_pays());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pays_up_to_the_cpu_count_and_not_past_it),
		cmocka_unit_test(concurrent_counting_comes_back_to_where_it_was),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
