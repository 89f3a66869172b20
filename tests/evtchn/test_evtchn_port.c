/* SPDX-License-Identifier: MIT */
/* The control operations: region, domains, alloc/bind/close/status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "helpers.h"

static void region_size_rejects_zero_and_too_many_domains(void **state)
{
	(void)state;
	assert_int_equal(pvio_evtchn_region_size(0), 0);
	assert_int_equal(pvio_evtchn_region_size(PVIO_EVTCHN_MAX_DOMAINS + 1), 0);
	assert_int_equal(pvio_evtchn_region_size(1),
			 4096 + 4096 + 8 * PVIO_EVTCHN_NR_PORTS +
				 64 * (PVIO_EVTCHN_NR_WAITERS - PVIO_EVTCHN_SHARED_WAITERS));
}

static void region_init_rejects_short_or_misaligned_memory(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(pvio_evtchn_region_init(fx->mem, 4096, 2), -EINVAL);
	assert_int_equal(pvio_evtchn_region_init((char *)fx->mem + 8, fx->bytes - 8, 1), -EINVAL);
	assert_int_equal(pvio_evtchn_region_init(NULL, fx->bytes, 1), -EINVAL);
}

static void attach_rejects_non_region_and_missing_domain(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn h;
	static char junk[65536] __attribute__((aligned(64)));

	assert_int_equal(pvio_evtchn_attach(&h, junk, sizeof(junk), 0, &fake_ops, NULL), -EINVAL);
	assert_int_equal(pvio_evtchn_attach(&h, fx->mem, fx->bytes, 3, &fake_ops, NULL), -ESRCH);
	assert_int_equal(pvio_evtchn_attach(&h, fx->mem, fx->bytes, TEST_NR_DOMS, &fake_ops, NULL), -EINVAL);
	assert_int_equal(pvio_evtchn_attach(&h, fx->mem, 4096, 0, &fake_ops, NULL), -EINVAL);
	struct pvio_evtchn_wait_ops no_wake = fake_ops;
	no_wake.wake = NULL;
	assert_int_equal(pvio_evtchn_attach(&h, fx->mem, fx->bytes, 0, &no_wake, NULL), -EINVAL);
}

static void domain_create_twice_fails_eexist_and_destroy_twice_esrch(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(pvio_evtchn_domain_create(fx->mem, 1), -EEXIST);
	assert_int_equal(pvio_evtchn_domain_create(fx->mem, TEST_NR_DOMS), -EINVAL);
	assert_int_equal(pvio_evtchn_domain_destroy(fx->mem, 3, NULL, NULL), -ESRCH);
	assert_int_equal(pvio_evtchn_domain_create(fx->mem, 3), 0);
	assert_int_equal(pvio_evtchn_domain_destroy(fx->mem, 3, NULL, NULL), 0);
	assert_int_equal(pvio_evtchn_domain_destroy(fx->mem, 3, NULL, NULL), -ESRCH);
}

static void alloc_unbound_gives_port_unbound_for_remote(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_status st;
	uint32_t p = 0;

	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &p), 0);
	assert_int_not_equal(p, 0);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], p, &st), 0);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_UNBOUND);
	assert_int_equal(st.remote_dom, 1);
	assert_false(st.pending);
	assert_false(st.masked);
}

static void alloc_unbound_for_missing_domain_fails_esrch(void **state)
{
	struct fixture *fx = *state;
	uint32_t p;

	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 3, &p), -ESRCH);
	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 999, &p), -ESRCH);
	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, NULL), -EINVAL);
}

static void alloc_unbound_runs_out_with_enospc(void **state)
{
	struct fixture *fx = *state;
	uint32_t p;

	for (uint32_t i = 1; i < PVIO_EVTCHN_NR_PORTS; i++) {
		assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &p), 0);
		assert_int_equal(p, i);
	}
	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &p), -ENOSPC);
	assert_int_equal(pvio_evtchn_close(&fx->h[0], 77), 0);
	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &p), 0);
	assert_int_equal(p, 77);
}

static void bind_interdomain_connects_both_ends(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_status st;
	uint32_t p0, p1;

	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &p0), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, p0, &p1), 0);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], p0, &st), 0);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_INTERDOMAIN);
	assert_int_equal(st.remote_dom, 1);
	assert_int_equal(st.remote_port, p1);
	assert_int_equal(pvio_evtchn_status(&fx->h[1], p1, &st), 0);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_INTERDOMAIN);
	assert_int_equal(st.remote_dom, 0);
	assert_int_equal(st.remote_port, p0);
}

static void bind_to_port_unbound_for_another_domain_fails_eacces(void **state)
{
	struct fixture *fx = *state;
	uint32_t p0, p;

	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 2, &p0), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, p0, &p), -EACCES);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[2], 0, p0, &p), 0);
}

static void bind_to_bad_free_or_bound_port_fails_einval(void **state)
{
	struct fixture *fx = *state;
	uint32_t p0, p1, p;

	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, 0, &p), -EINVAL);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, PVIO_EVTCHN_NR_PORTS, &p), -EINVAL);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, 5, &p), -EINVAL);
	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &p0), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, p0, &p1), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, p0, &p), -EINVAL);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, p0, NULL), -EINVAL);
}

static void bind_to_missing_domain_fails_esrch(void **state)
{
	struct fixture *fx = *state;
	uint32_t p;

	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 3, 1, &p), -ESRCH);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 60000, 1, &p), -ESRCH);
}

static void loopback_bind_to_own_domain_works(void **state)
{
	struct fixture *fx = *state;
	uint32_t a, b, got;

	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 0, &a), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[0], 0, a, &b), 0);
	assert_int_not_equal(a, b);
	assert_int_equal(pvio_evtchn_notify(&fx->h[0], b), 0);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], &got, 1), 1);
	assert_int_equal(got, a);
}

static void close_interdomain_makes_remote_unbound_again(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_status st;
	uint32_t p0, p1, p1b;

	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &p0), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, p0, &p1), 0);
	assert_int_equal(pvio_evtchn_close(&fx->h[1], p1), 0);
	assert_int_equal(pvio_evtchn_status(&fx->h[1], p1, &st), 0);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_FREE);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], p0, &st), 0);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_UNBOUND);
	assert_int_equal(st.remote_dom, 1);
	/* The unbound end can be bound again, as in Xen. */
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, p0, &p1b), 0);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], p0, &st), 0);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_INTERDOMAIN);
	assert_int_equal(st.remote_port, p1b);
}

static void double_close_fails_einval(void **state)
{
	struct fixture *fx = *state;
	uint32_t p;

	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &p), 0);
	assert_int_equal(pvio_evtchn_close(&fx->h[0], p), 0);
	assert_int_equal(pvio_evtchn_close(&fx->h[0], p), -EINVAL);
}

static void close_bad_port_fails_einval(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_status st;

	assert_int_equal(pvio_evtchn_close(&fx->h[0], 0), -EINVAL);
	assert_int_equal(pvio_evtchn_close(&fx->h[0], PVIO_EVTCHN_NR_PORTS), -EINVAL);
	assert_int_equal(pvio_evtchn_close(&fx->h[0], 12), -EINVAL);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], PVIO_EVTCHN_NR_PORTS, &st), -EINVAL);
}

static void close_clears_pending(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_status st;
	uint32_t p0, p1, q;

	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &p0), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, p0, &p1), 0);
	assert_int_equal(pvio_evtchn_notify(&fx->h[1], p1), 0);
	assert_int_equal(pvio_evtchn_close(&fx->h[0], p0), 0);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], p0, &st), 0);
	assert_false(st.pending);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], &q, 1), 0);
}

static void destroy_domain_unbinds_and_raises_peers(void **state)
{
	struct fixture *fx = *state;
	struct pvio_evtchn_status st;
	uint32_t p0, p1, got;

	assert_int_equal(pvio_evtchn_alloc_unbound(&fx->h[0], 1, &p0), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[1], 0, p0, &p1), 0);
	atomic_store(&fx->h[0].shared->waiter[0].sleeping, 1); /* domain 0 is asleep */
	assert_int_equal(pvio_evtchn_domain_destroy(fx->mem, 1, &fake_ops, &fx->plat), 0);
	assert_int_equal(fx->plat.wakes, 1);
	assert_int_equal(fx->plat.last_woken, 0);
	assert_int_equal(pvio_evtchn_consume(&fx->h[0], &got, 1), 1);
	assert_int_equal(got, p0);
	assert_int_equal(pvio_evtchn_status(&fx->h[0], p0, &st), 0);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_UNBOUND);
	assert_int_equal(pvio_evtchn_notify(&fx->h[0], p0), -ENOTCONN);
	assert_int_equal(pvio_evtchn_bind_interdomain(&fx->h[2], 1, p1, &got), -ESRCH);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fixture_setup, fixture_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(region_size_rejects_zero_and_too_many_domains),
		T(region_init_rejects_short_or_misaligned_memory),
		T(attach_rejects_non_region_and_missing_domain),
		T(domain_create_twice_fails_eexist_and_destroy_twice_esrch),
		T(alloc_unbound_gives_port_unbound_for_remote),
		T(alloc_unbound_for_missing_domain_fails_esrch),
		T(alloc_unbound_runs_out_with_enospc),
		T(bind_interdomain_connects_both_ends),
		T(bind_to_port_unbound_for_another_domain_fails_eacces),
		T(bind_to_bad_free_or_bound_port_fails_einval),
		T(bind_to_missing_domain_fails_esrch),
		T(loopback_bind_to_own_domain_works),
		T(close_interdomain_makes_remote_unbound_again),
		T(double_close_fails_einval),
		T(close_bad_port_fails_einval),
		T(close_clears_pending),
		T(destroy_domain_unbinds_and_raises_peers),
	};
	return cmocka_run_group_tests_name("evtchn_port", tests, NULL, NULL);
}
