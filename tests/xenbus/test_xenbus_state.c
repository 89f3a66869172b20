/* SPDX-License-Identifier: MIT */
/*
 * The xenbus device state machine against the fake server, both ends in
 * one process over separate connections: attach, the handshake, valid and
 * invalid transitions at each end, missing and malformed keys (fatal:
 * error node written, device Closed), waiting for the other end, and a
 * reconnecting frontend's wait for a new backend.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_xs.h"

#define FE XB_VIF_FE
#define BE XB_VIF_BE
#define BIT(s) PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_##s)

struct env {
	struct xb_vif_env x;       /* the store, its clients, the vif */
	struct pvio_xenbus_device fdev, bdev;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	xb_vif_env_init(&e->x);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	xb_vif_env_fini(&e->x);
	free(e);
	return 0;
}

static void attach_both(struct env *e)
{
	assert_int_equal(pvio_xenbus_frontend_attach(&e->fdev, &e->x.fe->xs,
						     "vif", 2, 0), 0);
	assert_int_equal(pvio_xenbus_backend_attach(&e->bdev, &e->x.be->xs,
						    "vif", 1, 2, 0), 0);
}

static void expect_fatal(struct env *e, const char *dir, const char *tree,
			 const char *prefix)
{
	char path[128];
	const char *v;

	snprintf(path, sizeof(path), "%s/state", dir);
	assert_string_equal(fake_xs_value(e->x.fx, path), "6");
	snprintf(path, sizeof(path), "%s/error", dir);
	v = fake_xs_value(e->x.fx, path);
	assert_non_null(v);
	assert_memory_equal(v, prefix, strlen(prefix));
	v = fake_xs_value(e->x.fx, tree);
	assert_non_null(v);
	assert_memory_equal(v, prefix, strlen(prefix));
}

static void the_table_follows_the_diagram(void **state)
{
	const enum pvio_xenbus_role F = PVIO_XENBUS_FRONTEND;
	const enum pvio_xenbus_role B = PVIO_XENBUS_BACKEND;

	(void)state;
	assert_true(pvio_xenbus_transition_valid(F, PVIO_XENBUS_INITIALISING,
						 PVIO_XENBUS_INITIALISED));
	assert_true(pvio_xenbus_transition_valid(F, PVIO_XENBUS_INITIALISING,
						 PVIO_XENBUS_CONNECTED));
	assert_true(pvio_xenbus_transition_valid(F, PVIO_XENBUS_CONNECTED,
						 PVIO_XENBUS_CLOSING));
	assert_true(pvio_xenbus_transition_valid(F, PVIO_XENBUS_CLOSED,
						 PVIO_XENBUS_INITIALISING));
	assert_false(pvio_xenbus_transition_valid(F, PVIO_XENBUS_INITIALISING,
						  PVIO_XENBUS_INIT_WAIT));
	assert_false(pvio_xenbus_transition_valid(F, PVIO_XENBUS_CLOSING,
						  PVIO_XENBUS_CONNECTED));
	assert_false(pvio_xenbus_transition_valid(F, PVIO_XENBUS_CONNECTED,
						  PVIO_XENBUS_INITIALISED));
	assert_true(pvio_xenbus_transition_valid(B, PVIO_XENBUS_INITIALISING,
						 PVIO_XENBUS_INIT_WAIT));
	assert_true(pvio_xenbus_transition_valid(B, PVIO_XENBUS_INIT_WAIT,
						 PVIO_XENBUS_CONNECTED));
	assert_true(pvio_xenbus_transition_valid(B, PVIO_XENBUS_CLOSED,
						 PVIO_XENBUS_INIT_WAIT));
	assert_true(pvio_xenbus_transition_valid(B, PVIO_XENBUS_CONNECTED,
						 PVIO_XENBUS_RECONFIGURING));
	assert_true(pvio_xenbus_transition_valid(B, PVIO_XENBUS_RECONFIGURED,
						 PVIO_XENBUS_CONNECTED));
	assert_false(pvio_xenbus_transition_valid(B, PVIO_XENBUS_INITIALISING,
						  PVIO_XENBUS_INITIALISED));
	assert_false(pvio_xenbus_transition_valid(B, PVIO_XENBUS_INITIALISING,
						  PVIO_XENBUS_CONNECTED));
	assert_false(pvio_xenbus_transition_valid(B, PVIO_XENBUS_CLOSED,
						  PVIO_XENBUS_CONNECTED));
	/* Every role: anything but Closing may close; nothing goes Unknown. */
	for (int s = 1; s <= 8; s++) {
		assert_true(pvio_xenbus_transition_valid(F, s,
							 PVIO_XENBUS_CLOSED));
		assert_true(pvio_xenbus_transition_valid(B, s,
							 PVIO_XENBUS_CLOSED));
		assert_false(pvio_xenbus_transition_valid(F, s,
							  PVIO_XENBUS_UNKNOWN));
	}
	assert_false(pvio_xenbus_transition_valid(F, 9, PVIO_XENBUS_CLOSED));
	assert_string_equal(pvio_xenbus_state_name(PVIO_XENBUS_INIT_WAIT),
			    "InitWait");
	assert_string_equal(pvio_xenbus_state_name(42), "Invalid");
}

static void attach_reads_the_other_ends_dir(void **state)
{
	struct env *e = *state;

	attach_both(e);
	assert_string_equal(e->fdev.nodename, FE);
	assert_string_equal(e->fdev.otherend, BE);
	assert_int_equal(e->fdev.otherend_id, 1);
	assert_int_equal(e->fdev.state, PVIO_XENBUS_INITIALISING);
	assert_string_equal(e->bdev.nodename, BE);
	assert_string_equal(e->bdev.otherend, FE);
	assert_int_equal(e->bdev.otherend_id, 2);
	assert_int_equal(pvio_xenbus_detach(&e->fdev), 0);
	assert_int_equal(pvio_xenbus_detach(&e->bdev), 0);
}

static void the_handshake_connects_and_closes_both_ends(void **state)
{
	struct env *e = *state;
	enum pvio_xenbus_state st;
	uint64_t ref;
	bool feat;

	attach_both(e);
	/* backend: InitWait, with its features published */
	assert_int_equal(pvio_xenbus_write_feature(&e->x.be->xs, 0, BE,
						   "rx-copy", true), 0);
	assert_int_equal(pvio_xenbus_switch_state(&e->bdev,
						  PVIO_XENBUS_INIT_WAIT), 0);
	/* frontend: sees InitWait, publishes its ring, Initialised */
	assert_int_equal(pvio_xenbus_wait_otherend(&e->fdev, BIT(INIT_WAIT), 10,
						   &st), 0);
	assert_int_equal(st, PVIO_XENBUS_INIT_WAIT);
	assert_int_equal(pvio_xenbus_read_feature(&e->x.fe->xs, 0,
						  e->fdev.otherend, "rx-copy",
						  false, &feat), 0);
	assert_true(feat);
	assert_int_equal(pvio_xs_write_uint(&e->x.fe->xs, 0, FE "/ring-ref", 8),
			 0);
	assert_int_equal(pvio_xenbus_switch_state(&e->fdev,
						  PVIO_XENBUS_INITIALISED), 0);
	/* backend: reads the ring, Connected */
	assert_int_equal(pvio_xenbus_wait_otherend(&e->bdev, BIT(INITIALISED) |
						   BIT(CONNECTED), 10, &st), 0);
	assert_int_equal(pvio_xenbus_otherend_read_uint(&e->bdev, "ring-ref",
							UINT32_MAX, &ref), 0);
	assert_int_equal(ref, 8);
	assert_int_equal(pvio_xenbus_switch_state(&e->bdev,
						  PVIO_XENBUS_CONNECTED), 0);
	/* frontend: Connected */
	assert_int_equal(pvio_xenbus_wait_otherend(&e->fdev, BIT(CONNECTED), 10,
						   &st), 0);
	assert_int_equal(pvio_xenbus_switch_state(&e->fdev,
						  PVIO_XENBUS_CONNECTED), 0);
	assert_string_equal(fake_xs_value(e->x.fx, FE "/state"), "4");
	assert_string_equal(fake_xs_value(e->x.fx, BE "/state"), "4");
	/* frontend closes; backend follows; both Closed */
	assert_int_equal(pvio_xenbus_switch_state(&e->fdev,
						  PVIO_XENBUS_CLOSING), 0);
	assert_int_equal(pvio_xenbus_wait_otherend(&e->bdev, BIT(CLOSING) |
						   BIT(CLOSED), 10, &st), 0);
	assert_int_equal(pvio_xenbus_switch_state(&e->bdev,
						  PVIO_XENBUS_CLOSING), 0);
	assert_int_equal(pvio_xenbus_wait_otherend(&e->fdev, BIT(CLOSING) |
						   BIT(CLOSED), 10, &st), 0);
	assert_int_equal(pvio_xenbus_switch_state(&e->fdev,
						  PVIO_XENBUS_CLOSED), 0);
	assert_int_equal(pvio_xenbus_wait_otherend(&e->bdev, BIT(CLOSED), 10,
						   &st), 0);
	assert_int_equal(pvio_xenbus_switch_state(&e->bdev,
						  PVIO_XENBUS_CLOSED), 0);
	assert_string_equal(fake_xs_value(e->x.fx, FE "/state"), "6");
	assert_string_equal(fake_xs_value(e->x.fx, BE "/state"), "6");
	assert_null(fake_xs_value(e->x.fx, FE "/error"));
	assert_null(fake_xs_value(e->x.fx, BE "/error"));
	/* Reconnect: backend Closed -> InitWait, frontend -> Initialising. */
	assert_int_equal(pvio_xenbus_switch_state(&e->fdev,
						  PVIO_XENBUS_INITIALISING), 0);
	assert_int_equal(pvio_xenbus_switch_state(&e->bdev,
						  PVIO_XENBUS_INIT_WAIT), 0);
	assert_int_equal(pvio_xenbus_detach(&e->fdev), 0);
	assert_int_equal(pvio_xenbus_detach(&e->bdev), 0);
}

static void switching_to_the_current_state_writes_nothing(void **state)
{
	struct env *e = *state;

	attach_both(e);
	fake_xs_force_eagain(e->x.fx, 0);
	unsigned commits = fake_xs_commits(e->x.fx);

	assert_int_equal(pvio_xenbus_switch_state(&e->fdev,
						  PVIO_XENBUS_INITIALISING), 0);
	assert_int_equal(fake_xs_commits(e->x.fx), commits);
}

static void switch_state_retries_a_racing_transaction(void **state)
{
	struct env *e = *state;

	attach_both(e);
	fake_xs_force_eagain(e->x.fx, 2);
	assert_int_equal(pvio_xenbus_switch_state(&e->bdev,
						  PVIO_XENBUS_INIT_WAIT), 0);
	assert_string_equal(fake_xs_value(e->x.fx, BE "/state"), "2");
}

static void frontend_invalid_transition_is_fatal_and_closes(void **state)
{
	struct env *e = *state;

	attach_both(e);
	assert_int_equal(pvio_xenbus_switch_state(&e->fdev,
						  PVIO_XENBUS_INIT_WAIT),
			 -EINVAL);
	assert_int_equal(e->fdev.state, PVIO_XENBUS_CLOSED);
	assert_int_equal(e->fdev.error, -EINVAL);
	expect_fatal(e, FE, "/local/domain/2/error/device/vif/0/error",
		     "22 invalid transition Initialising -> InitWait");
	/* Nothing but the way back out is allowed from Closed. */
	assert_int_equal(pvio_xenbus_switch_state(&e->fdev,
						  PVIO_XENBUS_CONNECTED),
			 -EINVAL);
	/* The backend waiting for the frontend is not left hanging. */
	assert_int_equal(pvio_xenbus_wait_otherend(&e->bdev, BIT(INITIALISED),
						   10, NULL), -ECONNRESET);
}

static void backend_invalid_transition_is_fatal_and_closes(void **state)
{
	struct env *e = *state;

	attach_both(e);
	assert_int_equal(pvio_xenbus_switch_state(&e->bdev,
						  PVIO_XENBUS_INIT_WAIT), 0);
	assert_int_equal(pvio_xenbus_switch_state(&e->bdev,
						  PVIO_XENBUS_INITIALISED),
			 -EINVAL);
	assert_int_equal(e->bdev.state, PVIO_XENBUS_CLOSED);
	expect_fatal(e, BE, "/local/domain/1/error/backend/vif/2/0/error",
		     "22 invalid transition InitWait -> Initialised");
	assert_int_equal(pvio_xenbus_wait_otherend(&e->fdev, BIT(CONNECTED),
						   10, NULL), -ECONNRESET);
}

static void closing_may_only_go_to_closed(void **state)
{
	struct env *e = *state;

	attach_both(e);
	assert_int_equal(pvio_xenbus_switch_state(&e->bdev,
						  PVIO_XENBUS_CLOSING), 0);
	assert_int_equal(pvio_xenbus_switch_state(&e->bdev,
						  PVIO_XENBUS_CONNECTED),
			 -EINVAL);
	assert_string_equal(fake_xs_value(e->x.fx, BE "/state"), "6");
	assert_int_equal(pvio_xenbus_switch_state(&e->bdev, 0), -EINVAL);
}

static void a_missing_backend_key_fails_attach_and_closes(void **state)
{
	struct env *e = *state;

	fake_xs_rm(e->x.fx, FE "/backend");
	assert_int_equal(pvio_xenbus_frontend_attach(&e->fdev, &e->x.fe->xs,
						     "vif", 2, 0), -ENOENT);
	assert_int_equal(e->fdev.state, PVIO_XENBUS_CLOSED);
	expect_fatal(e, FE, "/local/domain/2/error/device/vif/0/error",
		     "2 reading " FE "/backend");
}

static void a_wrong_frontend_id_fails_backend_attach(void **state)
{
	struct env *e = *state;

	fake_xs_set(e->x.fx, BE "/frontend-id", "3");
	assert_int_equal(pvio_xenbus_backend_attach(&e->bdev, &e->x.be->xs,
						    "vif", 1, 2, 0), -EINVAL);
	expect_fatal(e, BE, "/local/domain/1/error/backend/vif/2/0/error",
		     "22 reading " BE "/frontend-id");
	fake_xs_set(e->x.fx, BE "/frontend-id", "2x");
	assert_int_equal(pvio_xenbus_backend_attach(&e->bdev, &e->x.be->xs,
						    "vif", 1, 2, 0), -EINVAL);
}

static void a_missing_ring_key_closes_the_backend(void **state)
{
	struct env *e = *state;
	uint64_t ref;

	attach_both(e);
	assert_int_equal(pvio_xenbus_switch_state(&e->bdev,
						  PVIO_XENBUS_INIT_WAIT), 0);
	/* The frontend says Initialised but never wrote ring-ref. */
	assert_int_equal(pvio_xenbus_switch_state(&e->fdev,
						  PVIO_XENBUS_INITIALISED), 0);
	assert_int_equal(pvio_xenbus_wait_otherend(&e->bdev, BIT(INITIALISED),
						   10, NULL), 0);
	assert_int_equal(pvio_xenbus_otherend_read_uint(&e->bdev, "ring-ref",
							UINT32_MAX, &ref),
			 -ENOENT);
	assert_int_equal(e->bdev.state, PVIO_XENBUS_CLOSED);
	expect_fatal(e, BE, "/local/domain/1/error/backend/vif/2/0/error",
		     "2 reading " FE "/ring-ref");
	/* The frontend waiting for Connected learns, rather than hangs. */
	assert_int_equal(pvio_xenbus_wait_otherend(&e->fdev, BIT(CONNECTED),
						   10, NULL), -ECONNRESET);
}

static void a_peer_writing_a_non_state_is_fatal(void **state)
{
	struct env *e = *state;
	enum pvio_xenbus_state st;

	attach_both(e);
	fake_xs_set(e->x.fx, BE "/state", "42");
	assert_int_equal(pvio_xenbus_read_otherend_state(&e->fdev, &st),
			 -EINVAL);
	assert_int_equal(pvio_xenbus_wait_otherend(&e->fdev, BIT(CONNECTED),
						   10, NULL), -EINVAL);
	assert_int_equal(e->fdev.state, PVIO_XENBUS_CLOSED);
	assert_string_equal(fake_xs_value(e->x.fx, FE "/state"), "6");
}

static void waiting_for_a_quiet_peer_times_out(void **state)
{
	struct env *e = *state;
	enum pvio_xenbus_state st;

	attach_both(e);
	assert_int_equal(pvio_xenbus_wait_otherend(&e->fdev, BIT(CONNECTED),
						   10, &st), -ETIMEDOUT);
	assert_int_equal(st, PVIO_XENBUS_INITIALISING);
}

static void a_removed_device_is_enoent_not_a_hang(void **state)
{
	struct env *e = *state;

	attach_both(e);
	assert_int_equal(pvio_xenbus_device_destroy(&e->x.ts->xs, "vif", 1, 2,
						    0), 0);
	assert_int_equal(pvio_xenbus_wait_otherend(&e->fdev, BIT(CONNECTED),
						   10, NULL), -ENOENT);
	assert_int_equal(pvio_xenbus_switch_state(&e->fdev,
						  PVIO_XENBUS_INITIALISED),
			 -ENOENT);
	assert_int_equal(e->fdev.state, PVIO_XENBUS_CLOSED);
	assert_null(fake_xs_value(e->x.fx, FE "/state"));   /* not recreated */
}

/* ---- pvio_xenbus_frontend_wait_backend() -------------------------------- */

#define BE3 "/local/domain/3/backend/vif/2/0"

/* The driver's side of the wait: its attach and nap, counted. */
struct looker {
	struct env *e;
	int looks, naps;
	int missing_until;      /* looks before this one: -ENOENT, no attach */
	int new_backend_at;     /* on this look the toolstack made BE3 */
	int fail_at, fail_err;  /* on this look attach fails with fail_err */
};

static int look_attach(void *arg, const char *nodename)
{
	struct looker *l = arg;
	struct env *e = l->e;
	const struct pvio_xs_perm p[2] = { { 3, PVIO_XS_PERM_NONE },
					   { 2, PVIO_XS_PERM_READ } };

	assert_string_equal(nodename, FE);
	l->looks++;
	if (l->looks == l->fail_at)
		return l->fail_err;
	if (l->looks < l->missing_until)
		return -ENOENT;
	if (l->looks == l->new_backend_at) {
		/* As a toolstack re-creating the vif at another backend. */
		xb_make_home(e->x.ts, 3);
		assert_int_equal(pvio_xs_mkdir(&e->x.ts->xs, 0, BE3), 0);
		assert_int_equal(pvio_xs_set_perms(&e->x.ts->xs, 0, BE3, p, 2), 0);
		assert_int_equal(pvio_xs_write(&e->x.ts->xs, 0, BE3 "/state", "2"), 0);
		assert_int_equal(pvio_xs_write(&e->x.ts->xs, 0, FE "/backend", BE3), 0);
		assert_int_equal(pvio_xs_write(&e->x.ts->xs, 0, FE "/backend-id", "3"), 0);
	}
	return pvio_xenbus_frontend_attach(&e->fdev, &e->x.fe->xs, "vif", 2, 0);
}

static void look_nap(void *arg, int ms)
{
	struct looker *l = arg;

	assert_true(ms > 0 && ms <= 200);
	l->naps++;
}

static void wait_backend_finds_a_new_backend_in_initwait(void **state)
{
	struct env *e = *state;
	struct looker l = { .e = e, .new_backend_at = 3 };

	attach_both(e);
	assert_int_equal(pvio_xenbus_frontend_wait_backend(&e->fdev, -1, look_attach,
							   look_nap, &l), 0);
	assert_int_equal(l.looks, 3);
	assert_int_equal(l.naps, 0);   /* attached each time: the watch waited */
	assert_string_equal(e->fdev.otherend, BE3);
	assert_int_equal(e->fdev.otherend_id, 3);
	assert_true(e->fdev.watching);
	assert_int_equal(e->fdev.otherend_state, PVIO_XENBUS_INIT_WAIT);
}

static void wait_backend_naps_while_the_frontend_cannot_attach(void **state)
{
	struct env *e = *state;
	struct looker l = { .e = e, .missing_until = 3 };

	attach_both(e);
	assert_int_equal(pvio_xenbus_switch_state(&e->bdev, PVIO_XENBUS_INIT_WAIT), 0);
	assert_int_equal(pvio_xenbus_frontend_wait_backend(&e->fdev, -1, look_attach,
							   look_nap, &l), 0);
	assert_int_equal(l.looks, 3);
	assert_int_equal(l.naps, 2);
	assert_string_equal(e->fdev.otherend, BE);
}

static void wait_backend_times_out_when_none_comes(void **state)
{
	struct env *e = *state;
	struct looker l = { .e = e };

	attach_both(e);   /* its backend stays Initialising */
	assert_int_equal(pvio_xenbus_frontend_wait_backend(&e->fdev, 1000, look_attach,
							   look_nap, &l), -ETIMEDOUT);
	assert_true(l.looks > 1);
}

static void wait_backend_returns_an_attach_error_at_once(void **state)
{
	struct env *e = *state;
	struct looker l = { .e = e, .fail_at = 2, .fail_err = -EIO };

	attach_both(e);
	assert_int_equal(pvio_xenbus_frontend_wait_backend(&e->fdev, -1, look_attach,
							   look_nap, &l), -EIO);
	assert_int_equal(l.looks, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_table_follows_the_diagram),
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(attach_reads_the_other_ends_dir),
		T(the_handshake_connects_and_closes_both_ends),
		T(switching_to_the_current_state_writes_nothing),
		T(switch_state_retries_a_racing_transaction),
		T(frontend_invalid_transition_is_fatal_and_closes),
		T(backend_invalid_transition_is_fatal_and_closes),
		T(closing_may_only_go_to_closed),
		T(a_missing_backend_key_fails_attach_and_closes),
		T(a_wrong_frontend_id_fails_backend_attach),
		T(a_missing_ring_key_closes_the_backend),
		T(a_peer_writing_a_non_state_is_fatal),
		T(waiting_for_a_quiet_peer_times_out),
		T(a_removed_device_is_enoent_not_a_hang),
		T(wait_backend_finds_a_new_backend_in_initwait),
		T(wait_backend_naps_while_the_frontend_cannot_attach),
		T(wait_backend_times_out_when_none_comes),
		T(wait_backend_returns_an_attach_error_at_once),
#undef T
	};

	return cmocka_run_group_tests_name("xenbus_state", tests, NULL, NULL);
}
