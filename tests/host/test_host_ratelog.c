/* SPDX-License-Identifier: MIT */
/*
 * struct pvio_host_ratelog (<pvio/host.h>), blkback's and netback's
 * rate-limited log: per_sec lines in a window of a second and no more,
 * from any number of threads; the next window opens only past the second;
 * the lines printed reach stderr whole, with their newline.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvio/host.h>

#define SEC 1000000000ull
#define T0 (5 * SEC)

static void per_sec_lines_a_second_and_no_more(void **state)
{
	struct pvio_host_ratelog rl;
	unsigned ok = 0;

	(void)state;
	pvio_host_ratelog_init(&rl, 10);
	for (int i = 0; i < 100; i++)
		ok += pvio_host_ratelog_allow(&rl, T0 + (uint64_t)i * 1000000u);
	assert_int_equal(ok, 10);
	/* a second to the nanosecond after the window opened: still in it */
	assert_false(pvio_host_ratelog_allow(&rl, T0 + SEC));
	/* past it: a new window, per_sec more */
	ok = 0;
	for (int i = 0; i < 100; i++)
		ok += pvio_host_ratelog_allow(&rl, T0 + SEC + 1);
	assert_int_equal(ok, 10);
	pvio_host_ratelog_fini(&rl);
}

static void zero_per_sec_prints_nothing(void **state)
{
	struct pvio_host_ratelog rl;

	(void)state;
	pvio_host_ratelog_init(&rl, 0);
	for (int i = 0; i < 3; i++)
		assert_false(pvio_host_ratelog_allow(&rl, T0 + (uint64_t)i * 2 * SEC));
	pvio_host_ratelog_fini(&rl);
}

struct shared {
	struct pvio_host_ratelog rl;
	_Atomic unsigned ok;
};

static void *ask_many(void *arg)
{
	struct shared *s = arg;

	for (int i = 0; i < 1000; i++)
		if (pvio_host_ratelog_allow(&s->rl, T0))
			atomic_fetch_add(&s->ok, 1);
	return NULL;
}

static void threads_together_get_per_sec_lines(void **state)
{
	struct shared s = { .ok = 0 };
	pthread_t t[4];

	(void)state;
	pvio_host_ratelog_init(&s.rl, 10);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, ask_many, &s), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(atomic_load(&s.ok), 10);
	pvio_host_ratelog_fini(&s.rl);
}

static bool __attribute__((format(printf, 2, 3)))
say(struct pvio_host_ratelog *rl, const char *fmt, ...)
{
	va_list ap;
	bool printed;

	va_start(ap, fmt);
	printed = pvio_host_ratelog_vprintf(rl, fmt, ap);
	va_end(ap);
	return printed;
}

/* Through the real clock: what reaches stderr is at most per_sec lines for
 * each second (or part) the loop took, and at least the first window's. */
static void vprintf_prints_only_what_the_limit_lets_through(void **state)
{
	struct pvio_host_ratelog rl;
	char path[] = "/tmp/pvio-ratelog-XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	unsigned printed = 0, lines = 0;
	uint64_t t0, secs;
	char buf[8192];
	ssize_t n;

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	pvio_host_ratelog_init(&rl, 10);
	fflush(stderr);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	t0 = pvio_now_ns();
	for (int i = 0; i < 200; i++)
		printed += say(&rl, "blkback %u/%u: line %d", 1u, 51712u, i);
	secs = (pvio_now_ns() - t0) / SEC;
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	pvio_host_ratelog_fini(&rl);

	assert_true(printed >= 10);
	assert_true(printed <= 10 * (secs + 1));
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	assert_true(n > 0);
	buf[n] = 0;
	for (char *p = buf; (p = strchr(p, '\n')); p++)
		lines++;
	assert_int_equal(lines, printed);
	assert_true(strncmp(buf, "blkback 1/51712: line 0\nblkback 1/51712: line 1\n", 48) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(per_sec_lines_a_second_and_no_more),
		cmocka_unit_test(zero_per_sec_prints_nothing),
		cmocka_unit_test(threads_together_get_per_sec_lines),
		cmocka_unit_test(vprintf_prints_only_what_the_limit_lets_through),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
