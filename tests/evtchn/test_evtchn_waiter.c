/* SPDX-License-Identifier: MIT */
/*
 * Waiters (per-vCPU delivery): bind_waiter, consume_on, wait_on, routed
 * notify/unmask/destroy, the ops fallback, and two threads of one domain
 * each waiting for its own port on the host platform.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

#include <pvio/evtchn_host.h>
#include <pvio/host.h>

#include "helpers.h"

#define LAST_WAITER (PVIO_EVTCHN_NR_WAITERS - 1)

/* Domain 0 port *a bound to domain 1 port *b. */
static void connect01(struct fixture *fx, uint32_t *a, uint32_t *b)
{
	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, a), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, *a, b), 0);
}

/* Re-attach domains 0 and 1 with the table that has wake_on. */
static void use_on_ops(struct fixture *fx)
{
	for (pvio_domid_t d = 0; d < 2; d++)
		assert_int_equal(pvio_evtchn_attach(&fx->h[d], fx->mem, fx->bytes, d,
						    &fake_on_ops, &fx->plat), 0);
}

static _Atomic uint32_t *sleeping_of(struct fixture *fx, pvio_domid_t d, uint32_t v)
{
	return &pvio_evtchn_waiter_line(&fx->h[d], v)->sleeping;
}

/* Every waiter line of the three domains is its own 64 bytes inside the
 * region: lines 32..255 (the block after the port tables) overlap neither
 * another domain's lines nor a shared page nor a port table. */
static void waiter_lines_are_distinct_and_inside_the_region(void **state)
{
	struct fixture *fx = *state;
	const unsigned char *lo = fx->mem, *hi = lo + fx->bytes;
	const unsigned char *tables_end = lo + 4096 + 4 * (4096 + 8 * PVIO_EVTCHN_NR_PORTS);
	static const unsigned char *seen[3 * PVIO_EVTCHN_NR_WAITERS];
	unsigned n = 0;

	assert_null(pvio_evtchn_waiter_line(&fx->h[0], PVIO_EVTCHN_NR_WAITERS));
	assert_null(pvio_evtchn_waiter_line(NULL, 0));
	for (pvio_domid_t d = 0; d < 3; d++) {
		for (uint32_t v = 0; v < PVIO_EVTCHN_NR_WAITERS; v++) {
			const unsigned char *p = (const void *)pvio_evtchn_waiter_line(&fx->h[d], v);

			assert_non_null(p);
			assert_true(p >= lo && p + 64 <= hi);
			assert_int_equal((uintptr_t)p % 64, 0);
			if (v < PVIO_EVTCHN_SHARED_WAITERS)
				assert_ptr_equal(p, &fx->h[d].shared->waiter[v]);
			else
				assert_true(p >= tables_end);
			for (unsigned k = 0; k < n; k++)
				assert_true(p + 64 <= seen[k] || seen[k] + 64 <= p);
			seen[n++] = p;
		}
	}
	/* a word of domain 0's waiter 200 is not domain 1's */
	atomic_store(sleeping_of(fx, 0, 200), 1);
	assert_int_equal(atomic_load(sleeping_of(fx, 1, 200)), 0);
	atomic_store(sleeping_of(fx, 0, 200), 0);
}

static void bind_waiter_rejects_bad_port_waiter_and_free_port(void **state)
{
	struct fixture *fx = *state;
	uint32_t a, b;

	connect01(fx, &a, &b);
	assert_int_equal(pvio_evtchn_bind_waiter(NULL, a, 1), -EINVAL);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], 0, 1), -EINVAL);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], PVIO_EVTCHN_NR_PORTS, 1), -EINVAL);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a + 100, 1), -EINVAL); /* free */
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a, PVIO_EVTCHN_NR_WAITERS), -EINVAL);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a, UINT32_MAX), -EINVAL);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a, LAST_WAITER), 0);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a, LAST_WAITER), 0); /* idempotent */
}

static void new_port_is_routed_to_waiter_0_and_status_shows_routing(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_status st;
	uint32_t a, b;

	connect01(fx, &a, &b);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], a, &st), 0);
	assert_int_equal(st.waiter, 0);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a, 9), 0);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], a, &st), 0);
	assert_int_equal(st.waiter, 9);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_INTERDOMAIN); /* binding untouched */
	assert_int_equal(st.remote_dom, 1);
	assert_int_equal(st.remote_port, b);
}

static void routed_port_is_consumed_only_by_its_waiter(void **state)
{
	struct fixture *fx = *state;
	uint32_t a, b, c, d, got[4];

	connect01(fx, &a, &b);
	connect01(fx, &c, &d); /* same pending word as a, stays on waiter 0 */
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a, 3), 0);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], d), 0);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], got, 4), 1);
	assert_int_equal(got[0], c);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], 4, got, 4), 0);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], 3, got, 4), 1);
	assert_int_equal(got[0], a);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], 3, got, 4), 0);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], PVIO_EVTCHN_NR_WAITERS, got, 4), -EINVAL);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], 3, got, 0), -EINVAL);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], 3, NULL, 1), -EINVAL);
}

static void notify_wakes_exactly_the_waiter_the_port_is_routed_to(void **state)
{
	struct fixture *fx = *state;
	uint32_t a, b;

	use_on_ops(fx);
	connect01(fx, &a, &b);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a, 5), 0);
	atomic_store(sleeping_of(fx, 0, 0), 1);
	atomic_store(sleeping_of(fx, 0, 4), 1);
	atomic_store(sleeping_of(fx, 0, 5), 1);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(fx->plat.wakes, 1);
	assert_int_equal(fx->plat.last_woken, 0);
	assert_int_equal(fx->plat.last_waiter, 5);
	assert_ptr_equal(fx->plat.last_word, sleeping_of(fx, 0, 5));
	assert_int_equal(atomic_load(sleeping_of(fx, 0, 5)), 0);
	assert_int_equal(atomic_load(sleeping_of(fx, 0, 0)), 1); /* not touched */
	assert_int_equal(atomic_load(sleeping_of(fx, 0, 4)), 1);
	assert_int_equal(atomic_load(&fx->h[0].shared->waiter[0].pending_sel), 0);
	assert_int_not_equal(atomic_load(&fx->h[0].shared->waiter[5].pending_sel), 0);
}

static void ops_without_wake_on_are_given_the_waiters_own_word(void **state)
{
	struct fixture *fx = *state;
	uint32_t a, b, got;

	connect01(fx, &a, &b); /* fake_ops: sleep/wake only */
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a, 2), 0);
	atomic_store(sleeping_of(fx, 0, 2), 1);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(fx->plat.wakes, 1);
	assert_ptr_equal(fx->plat.last_word, sleeping_of(fx, 0, 2));
	assert_int_equal(pvio_evtchn_wait_on(&fx->h[0], 2, PVIO_EVTCHN_BLOCK, 0, &got, 1), 1);
	assert_int_equal(got, a);
	/* ...and sleep with it: a BLOCK wait on waiter 2 sleeps on its word. */
	assert_int_equal(pvio_evtchn_wait_on(&fx->h[0], 2, PVIO_EVTCHN_BLOCK, 1000000, &got, 1),
			 -ETIMEDOUT);
	assert_int_equal(fx->plat.sleeps, 1);
}

static void bind_waiter_moves_a_pending_event_to_the_new_waiter(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_status st;
	uint32_t a, b, got;

	use_on_ops(fx);
	connect01(fx, &a, &b);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0); /* raised on waiter 0 */
	atomic_store(sleeping_of(fx, 0, 7), 1);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a, 7), 0);
	assert_int_equal(fx->plat.wakes, 1); /* the move woke waiter 7 */
	assert_int_equal(fx->plat.last_waiter, 7);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], a, &st), 0);
	assert_true(st.pending);
	/* Waiter 0 was raised but the port is no longer its own. */
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], &got, 1), 0);
	assert_int_equal(pvio_evtchn_wait_on(&fx->h[0], 7, PVIO_EVTCHN_POLL, 0, &got, 1), 1);
	assert_int_equal(got, a);
	/* And back again, with nothing pending: no raise, no wake. */
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a, 0), 0);
	assert_int_equal(fx->plat.wakes, 1);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], 7, &got, 1), 0);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], &got, 1), 1);
	assert_int_equal(got, a);
}

static void masked_pending_port_moves_and_unmask_raises_on_new_waiter(void **state)
{
	struct fixture *fx = *state;
	uint32_t a, b, got;

	use_on_ops(fx);
	connect01(fx, &a, &b);
	assert_int_equal(pvio_evtchn_mask(&fx->h[0], a), 0);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a, 4), 0);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], 4, &got, 1), 0); /* masked */
	atomic_store(sleeping_of(fx, 0, 0), 1);
	atomic_store(sleeping_of(fx, 0, 4), 1);
	assert_int_equal(pvio_evtchn_unmask(&fx->h[0], a), 0);
	assert_int_equal(fx->plat.wakes, 1);
	assert_int_equal(fx->plat.last_waiter, 4);
	assert_int_equal(atomic_load(sleeping_of(fx, 0, 0)), 1);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], &got, 1), 0);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], 4, &got, 1), 1);
	assert_int_equal(got, a);
}

static void routing_survives_remote_bind_and_close_and_resets_on_own_close(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_status st;
	uint32_t a, b, b2, got;

	/* A backend routes its port before the frontend binds it. */
	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &a), 0);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a, 6), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, a, &b), 0);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], a, &st), 0);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_INTERDOMAIN);
	assert_int_equal(st.waiter, 6);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], 6, &got, 1), 1);
	/* The frontend closes and binds again (a reconnect). */
	assert_int_equal(pvio_evtchn_close(&fx->h[1], b), 0);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], a, &st), 0);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_UNBOUND);
	assert_int_equal(st.waiter, 6);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, a, &b2), 0);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b2), 0);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], 6, &got, 1), 1);
	assert_int_equal(got, a);
	/* Closing our own port frees it: reused, it starts on waiter 0. */
	assert_int_equal(pvio_evtchn_close(&fx->h[0], a), 0);
	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &got), 0);
	assert_int_equal(got, a);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], a, &st), 0);
	assert_int_equal(st.waiter, 0);
}

static void destroy_raises_each_peer_port_on_its_own_waiter(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_status st;
	uint32_t a1, b1, a2, b2, a3, b3, got;

	use_on_ops(fx);
	connect01(fx, &a1, &b1);
	connect01(fx, &a2, &b2);
	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 2, &a3), 0); /* another peer */
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[2], 0, a3, &b3), 0);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a1, 1), 0);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a2, LAST_WAITER), 0);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a3, 2), 0);
	for (uint32_t v = 0; v < PVIO_EVTCHN_NR_WAITERS; v++)
		atomic_store(sleeping_of(fx, 0, v), 1);
	assert_int_equal(pvio_evtchn_domain_destroy(fx->mem, 1, &fake_on_ops, &fx->plat), 0);
	assert_int_equal(fx->plat.wakes, 2);
	assert_int_equal(atomic_load(sleeping_of(fx, 0, 1)), 0);
	assert_int_equal(atomic_load(sleeping_of(fx, 0, LAST_WAITER)), 0);
	assert_int_equal(atomic_load(sleeping_of(fx, 0, 2)), 1); /* not bound to 1 */
	assert_int_equal(atomic_load(sleeping_of(fx, 0, 0)), 1);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], 1, &got, 1), 1);
	assert_int_equal(got, a1);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], LAST_WAITER, &got, 1), 1);
	assert_int_equal(got, a2);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], 2, &got, 1), 0);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], a2, &st), 0);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_UNBOUND);
	assert_int_equal(st.waiter, LAST_WAITER); /* routing kept */
}

static void wait_on_rejects_bad_waiter_and_times_out_per_waiter(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_stats st;
	uint32_t got;

	assert_int_equal(pvio_evtchn_wait_on(&fx->h[0], PVIO_EVTCHN_NR_WAITERS, PVIO_EVTCHN_POLL,
					     0, &got, 1), -EINVAL);
	assert_int_equal(pvio_evtchn_wait_on(&fx->h[0], 1, 7, 0, &got, 1), -EINVAL);
	assert_int_equal(pvio_evtchn_wait_on(NULL, 1, PVIO_EVTCHN_POLL, 0, &got, 1), -EINVAL);
	for (int m = 0; m < 3; m++)
		assert_int_equal(pvio_evtchn_wait_on(&fx->h[0], 3, m, 1000000, &got, 1), -ETIMEDOUT);
	assert_int_equal(pvio_evtchn_stats_get_on(&fx->h[0], 3, &st), 0);
	assert_int_equal(st.sleeps, 2); /* BLOCK and ADAPTIVE */
	assert_int_equal(pvio_evtchn_stats_get_on(&fx->h[0], 0, &st), 0);
	assert_int_equal(st.sleeps, 0);
	assert_int_equal(pvio_evtchn_stats_get_on(&fx->h[0], PVIO_EVTCHN_NR_WAITERS, &st), -EINVAL);
}

static void stats_count_per_waiter_and_sum_per_domain(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_stats st;
	uint32_t a, b, c, d, got;

	connect01(fx, &a, &b);
	connect01(fx, &c, &d);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], c, 8), 0);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], d), 0);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], &got, 1), 1);
	assert_int_equal(pvio_evtchn_consume_on(&fx->h[0], 8, &got, 1), 1);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
	assert_int_equal(pvio_evtchn_test_and_clear(&fx->h[0], a), 1);
	assert_int_equal(pvio_evtchn_stats_get_on(&fx->h[0], 8, &st), 0);
	assert_int_equal(st.received, 1);
	assert_int_equal(pvio_evtchn_stats_get_on(&fx->h[0], 0, &st), 0);
	assert_int_equal(st.received, 1);
	pvio_evtchn_stats_get(&fx->h[0], &st);
	assert_int_equal(st.received, 3);
}

/* ---- the host platform: two threads of domain 0, one per waiter ---- */

struct waiter_thread {
	struct pvio_evtchn *h; /* shared by both threads */
	uint32_t waiter;
	uint32_t port;         /* the one port routed to it */
	int mode;
	int rounds;
	_Atomic int *go;       /* round number the notifier has reached */
	_Atomic int done;      /* rounds completed */
	int bad;               /* foreign ports or failed waits */
};

static void *waiter_thread_main(void *arg)
{
	struct waiter_thread *w = arg;

	for (int r = 1; r <= w->rounds; r++) {
		uint32_t got[8];
		int n = pvio_evtchn_wait_on(w->h, w->waiter, w->mode, 10ull * 1000000000u, got, 8);
		if (n <= 0) {
			w->bad++;
			break;
		}
		for (int i = 0; i < n; i++)
			if (got[i] != w->port)
				w->bad++;
		atomic_store(&w->done, r);
	}
	return NULL;
}

static bool asleep(struct pvio_evtchn *h, uint32_t v)
{
	return atomic_load(&pvio_evtchn_waiter_line(h, v)->sleeping) != 0;
}

/*
 * Domain 0 has two threads, on waiters wv[0] and wv[1], each waiting for
 * its own port; domain 1 notifies both every round. In BLOCK and ADAPTIVE
 * the notifier waits (briefly, best effort) until both are asleep, so the
 * wake-up path is what delivers. Every waiter must get exactly its port.
 */
static void two_waiters_get_only_their_own_ports(struct fixture *fx,
						 const struct pvio_evtchn_wait_ops *ops,
						 void *ctx, const uint32_t wv[2])
{
	enum { ROUNDS = 50 };
	uint32_t a[2], b[2];

	assert_int_equal(pvio_evtchn_attach(&fx->h[0], fx->mem, fx->bytes, 0, ops, ctx), 0);
	assert_int_equal(pvio_evtchn_attach(&fx->h[1], fx->mem, fx->bytes, 1, ops, ctx), 0);
	pvio_evtchn_set_spin(&fx->h[0], 20000);
	for (int k = 0; k < 2; k++) {
		connect01(fx, &a[k], &b[k]);
		assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a[k], wv[k]), 0);
	}
	for (int m = 0; m < 3; m++) {
		struct waiter_thread w[2];
		pthread_t t[2];
		for (int k = 0; k < 2; k++) {
			w[k] = (struct waiter_thread){ .h = &fx->h[0], .waiter = wv[k],
						       .port = a[k], .mode = m,
						       .rounds = ROUNDS };
			assert_int_equal(pthread_create(&t[k], NULL, waiter_thread_main, &w[k]), 0);
		}
		for (int r = 1; r <= ROUNDS; r++) {
			/* Both done with the previous round. */
			for (int k = 0; k < 2; k++)
				for (int i = 0; i < 100000 && atomic_load(&w[k].done) < r - 1; i++)
					usleep(10);
			if (m != PVIO_EVTCHN_POLL)
				for (int i = 0; i < 200 && !(asleep(&fx->h[0], wv[0]) &&
							     asleep(&fx->h[0], wv[1])); i++)
					usleep(50);
			/* Alternate the order so either may be woken first. */
			assert_int_equal(pvio_evtchn_notify(&fx->h[1], b[r & 1]), 0);
			assert_int_equal(pvio_evtchn_notify(&fx->h[1], b[!(r & 1)]), 0);
		}
		for (int k = 0; k < 2; k++) {
			assert_int_equal(pthread_join(t[k], NULL), 0);
			assert_int_equal(w[k].bad, 0);
			assert_int_equal(atomic_load(&w[k].done), ROUNDS);
		}
	}
}

static const uint32_t waiters_0_and_1[2] = { 0, 1 };
static const uint32_t waiters_2_and_last[2] = { 2, LAST_WAITER };

static void two_waiters_of_one_domain_futex(void **state)
{
	two_waiters_get_only_their_own_ports(*state, &pvio_evtchn_host_futex_ops, NULL,
					     waiters_0_and_1);
	assert_int_equal(fixture_teardown(state), 0);
	assert_int_equal(fixture_setup(state), 0);
	two_waiters_get_only_their_own_ports(*state, &pvio_evtchn_host_futex_ops, NULL,
					     waiters_2_and_last);
}

static void two_waiters_of_one_domain_eventfd(void **state)
{
	struct pvio_evtchn_host_efd e;

	assert_int_equal(pvio_evtchn_host_efd_init(&e, TEST_NR_DOMS), 0);
	assert_int_equal(pvio_evtchn_host_efd_create(&e, 0), 0);
	assert_int_equal(pvio_evtchn_host_efd_create_on(&e, 0, 1), 0);
	assert_int_equal(pvio_evtchn_host_efd_create_on(&e, 0, 1), -EINVAL); /* twice */
	assert_int_equal(pvio_evtchn_host_efd_create_on(&e, 0, PVIO_EVTCHN_NR_WAITERS), -EINVAL);
	assert_int_not_equal(pvio_evtchn_host_efd_get(&e, 0, 1), -1);
	assert_int_equal(pvio_evtchn_host_efd_get(&e, 0, 2), -1);
	two_waiters_get_only_their_own_ports(*state, &pvio_evtchn_host_eventfd_ops, &e,
					     waiters_0_and_1);
	pvio_evtchn_host_efd_fini(&e);
}

static void notify_to_one_waiter_leaves_the_other_asleep_futex(void **state)
{
	struct fixture *fx = *state;
	struct waiter_thread w[2];
	pthread_t t[2];
	uint32_t a[2], b[2];
	struct pvio_evtchn_stats st;

	assert_int_equal(pvio_evtchn_attach(&fx->h[0], fx->mem, fx->bytes, 0,
					    &pvio_evtchn_host_futex_ops, NULL), 0);
	assert_int_equal(pvio_evtchn_attach(&fx->h[1], fx->mem, fx->bytes, 1,
					    &pvio_evtchn_host_futex_ops, NULL), 0);
	for (int k = 0; k < 2; k++) {
		connect01(fx, &a[k], &b[k]);
		assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], a[k], 10 + (uint32_t)k), 0);
		w[k] = (struct waiter_thread){ .h = &fx->h[0], .waiter = 10 + (uint32_t)k,
					       .port = a[k], .mode = PVIO_EVTCHN_BLOCK,
					       .rounds = 1 };
		assert_int_equal(pthread_create(&t[k], NULL, waiter_thread_main, &w[k]), 0);
	}
	for (int i = 0; i < 2000 && !(asleep(&fx->h[0], 10) && asleep(&fx->h[0], 11)); i++)
		usleep(100);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b[0]), 0);
	assert_int_equal(pthread_join(t[0], NULL), 0);
	assert_int_equal(w[0].bad, 0);
	usleep(20000);
	assert_int_equal(atomic_load(&w[1].done), 0); /* still asleep, not woken */
	assert_int_equal(pvio_evtchn_stats_get_on(&fx->h[0], 11, &st), 0);
	assert_int_equal(st.spurious, 0);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], b[1]), 0);
	assert_int_equal(pthread_join(t[1], NULL), 0);
	assert_int_equal(w[1].bad, 0);
}

static void eventfd_waiter_without_fd_fails_einval_instead_of_spinning(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_host_efd e;
	uint32_t got;

	assert_int_equal(pvio_evtchn_host_efd_init(&e, TEST_NR_DOMS), 0);
	assert_int_equal(pvio_evtchn_host_efd_create(&e, 0), 0);
	assert_int_equal(pvio_evtchn_attach(&fx->h[0], fx->mem, fx->bytes, 0,
					    &pvio_evtchn_host_eventfd_ops, &e), 0);
	assert_int_equal(pvio_evtchn_wait_on(&fx->h[0], 1, PVIO_EVTCHN_BLOCK,
					     PVIO_EVTCHN_FOREVER, &got, 1), -EINVAL);
	assert_int_equal(pvio_evtchn_wait_on(&fx->h[0], 0, PVIO_EVTCHN_BLOCK, 1000000, &got, 1),
			 -ETIMEDOUT);
	pvio_evtchn_host_efd_fini(&e);
}

/*
 * bind_waiter under fire: a port is moved between waiters 1 and 2 as fast
 * as a thread can while domain 1 ping-pongs on it (seq, then notify; the
 * waiter that gets the event acknowledges). The event may land on either
 * waiter, but it must land: a raise lost between a notify that read the
 * old routing and the move (pairs B1/B2) leaves the notifier waiting for
 * its acknowledgement until it fails. Bounded to ~1 s.
 */
struct mover_world {
	struct pvio_evtchn *h0;
	uint32_t port;
	_Atomic uint64_t seq, ack;
	_Atomic int stop;
	_Atomic uint64_t moves;
	_Atomic int bad;
};

struct mover_waiter {
	struct mover_world *w;
	uint32_t waiter;
	uint64_t got;
};

static void *mover_main(void *arg)
{
	struct mover_world *w = arg;

	for (uint32_t i = 0; !atomic_load(&w->stop); i++) {
		if (pvio_evtchn_bind_waiter(w->h0, w->port, 1 + (i & 1)))
			atomic_store(&w->bad, 1);
		atomic_fetch_add(&w->moves, 1);
		if ((i & 7) == 0)
			sched_yield();
	}
	return NULL;
}

static void *mover_waiter_main(void *arg)
{
	struct mover_waiter *mw = arg;
	struct mover_world *w = mw->w;

	for (uint32_t i = 0; !atomic_load(&w->stop); i++) {
		uint32_t got[4];
		int mode = (int)(i % 3);
		int n = pvio_evtchn_wait_on(w->h0, mw->waiter, mode, 2000000, got, 4);
		if (n == -ETIMEDOUT)
			continue;
		if (n <= 0 || got[0] != w->port) {
			atomic_store(&w->bad, 1);
			return NULL;
		}
		mw->got += (uint64_t)n;
		/* The event came after seq was stored: acknowledge it. */
		uint64_t s = atomic_load(&w->seq);
		uint64_t a = atomic_load(&w->ack);
		while (a < s && !atomic_compare_exchange_weak(&w->ack, &a, s))
			;
	}
	return NULL;
}

static void rebinding_under_fire_loses_no_event(void **state)
{
	struct fixture *fx = *state;
	struct mover_world w = { .h0 = &fx->h[0] };
	struct mover_waiter mw[2] = { { .w = &w, .waiter = 1 }, { .w = &w, .waiter = 2 } };
	pthread_t tm, tw[2];
	uint32_t b;

	assert_int_equal(pvio_evtchn_attach(&fx->h[0], fx->mem, fx->bytes, 0,
					    &pvio_evtchn_host_futex_ops, NULL), 0);
	assert_int_equal(pvio_evtchn_attach(&fx->h[1], fx->mem, fx->bytes, 1,
					    &pvio_evtchn_host_futex_ops, NULL), 0);
	pvio_evtchn_set_spin(&fx->h[0], 10000);
	connect01(fx, &w.port, &b);
	assert_int_equal(pvio_evtchn_bind_waiter(&fx->h[0], w.port, 1), 0);
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_create(&tw[k], NULL, mover_waiter_main, &mw[k]), 0);
	assert_int_equal(pthread_create(&tm, NULL, mover_main, &w), 0);
	uint64_t t0 = pvio_now_ns(), i;
	bool lost = false;
	for (i = 1; pvio_now_ns() - t0 < 1000000000u && !atomic_load(&w.bad); i++) {
		atomic_store(&w.seq, i);
		assert_int_equal(pvio_evtchn_notify(&fx->h[1], b), 0);
		uint64_t t1 = pvio_now_ns();
		while (atomic_load(&w.ack) < i && !atomic_load(&w.bad)) {
			if (pvio_now_ns() - t1 > 3000000000u) {
				lost = true;
				break;
			}
			sched_yield();
		}
		if (lost)
			break;
	}
	atomic_store(&w.stop, 1);
	assert_int_equal(pthread_join(tm, NULL), 0);
	for (int k = 0; k < 2; k++)
		assert_int_equal(pthread_join(tw[k], NULL), 0);
	print_message("# %llu rounds, %llu moves, waiter 1 got %llu, waiter 2 got %llu\n",
		      (unsigned long long)i, (unsigned long long)atomic_load(&w.moves),
		      (unsigned long long)mw[0].got, (unsigned long long)mw[1].got);
	assert_false(lost);
	assert_int_equal(atomic_load(&w.bad), 0);
	assert_true(mw[0].got + mw[1].got >= i - 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(waiter_lines_are_distinct_and_inside_the_region),
		T(bind_waiter_rejects_bad_port_waiter_and_free_port),
		T(new_port_is_routed_to_waiter_0_and_status_shows_routing),
		T(routed_port_is_consumed_only_by_its_waiter),
		T(notify_wakes_exactly_the_waiter_the_port_is_routed_to),
		T(ops_without_wake_on_are_given_the_waiters_own_word),
		T(bind_waiter_moves_a_pending_event_to_the_new_waiter),
		T(masked_pending_port_moves_and_unmask_raises_on_new_waiter),
		T(routing_survives_remote_bind_and_close_and_resets_on_own_close),
		T(destroy_raises_each_peer_port_on_its_own_waiter),
		T(wait_on_rejects_bad_waiter_and_times_out_per_waiter),
		T(stats_count_per_waiter_and_sum_per_domain),
		T(two_waiters_of_one_domain_futex),
		T(two_waiters_of_one_domain_eventfd),
		T(notify_to_one_waiter_leaves_the_other_asleep_futex),
		T(eventfd_waiter_without_fd_fails_einval_instead_of_spinning),
		T(rebinding_under_fire_loses_no_event),
	};
	return cmocka_run_group_tests_name("evtchn_waiter", tests, NULL, NULL);
}
