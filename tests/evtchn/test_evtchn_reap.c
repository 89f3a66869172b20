/* SPDX-License-Identifier: MIT */
/*
 * A domain process killed inside a control operation: the region lock it
 * held is named in the lock word, and the toolstack's reap takes it over
 * and repairs what the operation left half done. The region is a memfd
 * shared with forked children (as hostd shares it with domains).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvio/evtchn_host.h>

#include "helpers.h"

#define NR_DOMS 4
#define ROUNDS 12

struct rfx {
	int fd;
	void *mem;
	size_t bytes;
	struct fake_plat plat;
	struct pvio_evtchn h0; /* domain 0: this process */
};

static struct pvio_evtchn_region *region(struct rfx *x)
{
	return x->mem;
}

static int rfx_setup(void **state)
{
	struct rfx *x = calloc(1, sizeof(*x));

	if (!x || pvio_evtchn_host_region_create(NR_DOMS, &x->fd, &x->mem, &x->bytes) ||
	    pvio_evtchn_domain_create(x->mem, 0) || pvio_evtchn_domain_create(x->mem, 1) ||
	    pvio_evtchn_attach(&x->h0, x->mem, x->bytes, 0, &fake_ops, &x->plat))
		return -1;
	*state = x;
	return 0;
}

static int rfx_teardown(void **state)
{
	struct rfx *x = *state;

	pvio_evtchn_host_region_unmap(x->mem, x->bytes);
	close(x->fd);
	free(x);
	return 0;
}

/* The wake-up a control operation makes under the lock kills the caller:
 * the process dies inside the operation, lock held. */
static int die_in_wake(void *ctx, pvio_domid_t dom, _Atomic uint32_t *word)
{
	(void)ctx;
	(void)dom;
	(void)word;
	raise(SIGKILL);
	return 0;
}

static const struct pvio_evtchn_wait_ops dying_ops = {
	.name = "dying", .sleep = fake_sleep, .wake = die_in_wake, .now_ns = fake_now,
};

#define CHILD_CHECK(c) do { if (!(c)) _exit(10 + __LINE__ % 100); } while (0)

/* The child as domain 1, its port *p1 bound to the parent's port0. */
static void child_attach(struct rfx *x, const struct pvio_evtchn_wait_ops *ops,
			 struct fake_plat *plat, struct pvio_evtchn *h,
			 uint32_t port0, uint32_t *p1)
{
	CHILD_CHECK(pvio_evtchn_attach(h, x->mem, x->bytes, 1, ops, plat) == 0);
	CHILD_CHECK(pvio_evtchn_bind_interdomain(h, 0, port0, p1) == 0);
}

static void child_dies_in_bind_waiter(struct rfx *x, uint32_t port0)
{
	struct fake_plat plat = { 0 };
	struct pvio_evtchn h;
	uint32_t p1, a, b;

	/* A channel with the parent, and a loopback pair with an event on b. */
	child_attach(x, &dying_ops, &plat, &h, port0, &p1);
	CHILD_CHECK(pvio_evtchn_alloc_unbound(&h, 1, &a) == 0);
	CHILD_CHECK(pvio_evtchn_bind_interdomain(&h, 1, a, &b) == 0);
	CHILD_CHECK(pvio_evtchn_notify(&h, a) == 0);
	/* Waiter 1 says it sleeps: routing b to it wakes it, under the lock. */
	atomic_store(&h.shared->waiter[1].sleeping, 1);
	pvio_evtchn_bind_waiter(&h, b, 1);
	_exit(1); /* not reached */
}

static void reap_takes_over_the_lock_a_killed_domain_held(void **state)
{
	struct rfx *x = *state;
	struct pvio_evtchn_status st;
	uint32_t port0, p;
	int status;

	assert_int_equal(pvio_evtchn_alloc_unbound(&x->h0, 1, &port0), 0);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		child_dies_in_bind_waiter(x, port0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* It died holding the lock, and the word says who. */
	assert_int_equal(atomic_load(&region(x)->lock), 1u + 1u);
	pvio_evtchn_status(&x->h0, port0, &st);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_INTERDOMAIN);

	assert_int_equal(pvio_evtchn_domain_reap(x->mem, 1, &fake_ops, &x->plat), 0);
	assert_int_equal(atomic_load(&region(x)->lock), 0);
	/* Our end is unbound and raised; control operations work again. */
	pvio_evtchn_status(&x->h0, port0, &st);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_UNBOUND);
	assert_true(st.pending);
	assert_int_equal(pvio_evtchn_alloc_unbound(&x->h0, 1, &p), -ESRCH);
	assert_int_equal(pvio_evtchn_alloc_unbound(&x->h0, 0, &p), 0);
	assert_int_equal(pvio_evtchn_close(&x->h0, p), 0);
	assert_int_equal(pvio_evtchn_close(&x->h0, port0), 0);
	/* The domain can be built again. */
	assert_int_equal(pvio_evtchn_domain_create(x->mem, 1), 0);
	assert_int_equal(pvio_evtchn_domain_reap(x->mem, 1, &fake_ops, &x->plat), 0);
	assert_int_equal(pvio_evtchn_domain_reap(x->mem, 1, &fake_ops, &x->plat), -ESRCH);
}

/* The child: control operations back to back, until killed. */
static void child_churns(struct rfx *x, uint32_t port0)
{
	struct fake_plat plat = { 0 };
	struct pvio_evtchn h;
	uint32_t p1, a, b;

	child_attach(x, &fake_ops, &plat, &h, port0, &p1);
	for (uint32_t i = 0;; i++) {
		CHILD_CHECK(pvio_evtchn_alloc_unbound(&h, 1, &a) == 0);
		CHILD_CHECK(pvio_evtchn_bind_interdomain(&h, 1, a, &b) == 0);
		pvio_evtchn_bind_waiter(&h, b, i % PVIO_EVTCHN_NR_WAITERS);
		CHILD_CHECK(pvio_evtchn_close(&h, b) == 0);
		CHILD_CHECK(pvio_evtchn_close(&h, a) == 0);
		CHILD_CHECK(pvio_evtchn_close(&h, p1) == 0);
		CHILD_CHECK(pvio_evtchn_alloc_unbound(&h, 0, &p1) == 0);
		CHILD_CHECK(pvio_evtchn_close(&h, p1) == 0);
		/* Our parent's port is unbound now: bind it again. */
		CHILD_CHECK(pvio_evtchn_bind_interdomain(&h, 0, port0, &p1) == 0);
	}
}

/* No end of domain 0 is still bound to dead domain 1. */
static void assert_nothing_bound_to_1(struct rfx *x)
{
	for (uint32_t p = 1; p < PVIO_EVTCHN_NR_PORTS; p++) {
		struct pvio_evtchn_status st;

		pvio_evtchn_status(&x->h0, p, &st);
		assert_false(st.state == PVIO_EVTCHN_PORT_INTERDOMAIN && st.remote_dom == 1);
	}
}

static void domains_killed_at_random_points_are_reaped(void **state)
{
	struct rfx *x = *state;
	unsigned held = 0;

	srand((unsigned)time(NULL));
	for (int round = 0; round < ROUNDS; round++) {
		uint32_t port0, p;
		int status;

		assert_int_equal(pvio_evtchn_alloc_unbound(&x->h0, 1, &port0), 0);
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0)
			child_churns(x, port0);
		/* Let it run a while (it has to bind port0 first). */
		for (int tries = 0; tries < 100000; tries++) {
			struct pvio_evtchn_status st;

			pvio_evtchn_status(&x->h0, port0, &st);
			if (st.state == PVIO_EVTCHN_PORT_INTERDOMAIN)
				break;
			usleep(100);
		}
		usleep((useconds_t)(rand() % 3000));
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		held += atomic_load(&region(x)->lock) == 2;

		alarm(60); /* a reap or operation that hangs fails the test */
		assert_int_equal(pvio_evtchn_domain_reap(x->mem, 1, &fake_ops, &x->plat), 0);
		assert_int_equal(atomic_load(&region(x)->lock), 0);
		assert_nothing_bound_to_1(x);
		assert_int_equal(pvio_evtchn_alloc_unbound(&x->h0, 0, &p), 0);
		assert_int_equal(pvio_evtchn_close(&x->h0, p), 0);
		assert_int_equal(pvio_evtchn_close(&x->h0, port0), 0);
		assert_int_equal(pvio_evtchn_domain_create(x->mem, 1), 0);
		alarm(0);
	}
	print_message("%u of %d kills landed with the lock held\n", held, ROUNDS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(reap_takes_over_the_lock_a_killed_domain_held,
						rfx_setup, rfx_teardown),
		cmocka_unit_test_setup_teardown(domains_killed_at_random_points_are_reaped,
						rfx_setup, rfx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
