/* SPDX-License-Identifier: MIT */
/*
 * The shared backend state machine (xenbus/backend.c) against the fake
 * server, in one thread: the frontend is moved from inside the backend's
 * poll op, and the fake's hooks make the backend's reads of the frontend's
 * state fail (as a store timing out under load would) to check that a
 * change whose read failed is still seen.
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

#include <pvio/xenbus_backend.h>

#include "fake_xs.h"

#define FE XB_VIF_FE
#define BE XB_VIF_BE
/* Polls before a test gives up on what it waits for. Each poll is a pass
 * through the loop; the fake answers at once, so this is not a clock. */
#define MAX_POLLS 2000

struct env;
typedef bool (*script_fn)(struct env *e);

struct env {
	struct xb_vif_env x;       /* the store, its clients, the vif */
	struct pvio_xenbus_device fdev, bdev;
	struct pvio_xenbus_backend run;
	script_fn script;          /* called from poll; false ends the run */
	unsigned polls, step;
	unsigned connects, disconnects, connected_now;
	unsigned fail_reads;       /* state reads still to make fail */
	unsigned fail_connects;    /* connects still to fail, device left as is */
	enum pvio_xenbus_state published;
};

static int features(struct pvio_xs *xs, pvio_xs_tx_t t, void *arg)
{
	(void)arg;
	return pvio_xenbus_write_feature(xs, t, BE, "sg", true);
}

static int op_connect(void *arg)
{
	struct env *e = arg;

	e->connects++;
	if (e->fail_connects > 0) {
		/* As a store read that timed out in connect: no fatal. */
		e->fail_connects--;
		return -ETIMEDOUT;
	}
	e->connected_now = 1;
	return 0;
}

static void op_disconnect(void *arg)
{
	struct env *e = arg;

	e->disconnects++;
	e->connected_now = 0;
}

static bool op_poll(void *arg)
{
	struct env *e = arg;

	struct fake_hooks *h = fake_conn_hooks(e->x.be->conn);
	bool go;

	if (++e->polls > MAX_POLLS)
		return false;
	go = e->script(e);
	if (e->fail_reads > 0 && h->error_next == NULL) {
		/* The backend's next reply is its next state read: the loop
		 * sends nothing else between polls. Armed again only once
		 * the last failure was delivered. */
		h->error_next = "EIO";
		e->fail_reads--;
	}
	return go;
}

static void op_state_changed(void *arg, enum pvio_xenbus_state s)
{
	struct env *e = arg;

	e->published = s;
}

static const struct pvio_xenbus_backend_ops test_ops = {
	.features = features,
	.connect = op_connect,
	.disconnect = op_disconnect,
	.poll = op_poll,
	.state_changed = op_state_changed,
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	xb_vif_env_init(&e->x);
	assert_int_equal(pvio_xenbus_frontend_attach(&e->fdev, &e->x.fe->xs,
						     "vif", 2, 0), 0);
	assert_int_equal(pvio_xenbus_backend_attach(&e->bdev, &e->x.be->xs,
						    "vif", 1, 2, 0), 0);
	e->run.dev = &e->bdev;
	e->run.ops = &test_ops;
	e->run.ctx = e;
	e->run.poll_ms = 1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	(void)pvio_xenbus_detach(&e->fdev);
	(void)pvio_xenbus_detach(&e->bdev);
	xb_vif_env_fini(&e->x);
	free(e);
	return 0;
}

static void fe_switch(struct env *e, enum pvio_xenbus_state s)
{
	assert_int_equal(pvio_xenbus_switch_state(&e->fdev, s), 0);
}

/* A script's step: once the backend is in state when, move the frontend
 * to state to and go on to step next. Whether it did. */
static bool fe_step(struct env *e, enum pvio_xenbus_state when,
		    enum pvio_xenbus_state to, unsigned next)
{
	if (e->bdev.state != when)
		return false;
	fe_switch(e, to);
	e->step = next;
	return true;
}

/* Frontend Connected once the backend is in InitWait; stop once the
 * backend is Connected. */
static bool connect_script(struct env *e)
{
	if (e->step == 0)
		(void)fe_step(e, PVIO_XENBUS_INIT_WAIT, PVIO_XENBUS_CONNECTED, 1);
	return e->bdev.state != PVIO_XENBUS_CONNECTED;
}

static void a_handshake_connects_and_a_stop_closes(void **state)
{
	struct env *e = *state;

	e->script = connect_script;
	assert_int_equal(pvio_xenbus_backend_run(&e->run), 0);
	assert_int_equal(e->connects, 1);
	assert_int_equal(e->run.read_retries, 0);
	assert_string_equal(fake_xs_value(e->x.fx, BE "/feature-sg"), "1");
	/* Stopped by poll: disconnected and Closed, as published. */
	assert_int_equal(e->connected_now, 0);
	assert_string_equal(fake_xs_value(e->x.fx, BE "/state"), "6");
	assert_int_equal(e->published, PVIO_XENBUS_CLOSED);
}

/* The frontend's change comes with its watch event, and the read that the
 * event prompts fails. */
static bool failed_read_script(struct env *e)
{
	if (e->step == 0 && e->polls > 3 &&
	    fe_step(e, PVIO_XENBUS_INIT_WAIT, PVIO_XENBUS_CONNECTED, 1))
		e->fail_reads = 1;
	return e->bdev.state != PVIO_XENBUS_CONNECTED;
}

static void a_change_whose_read_failed_is_still_seen(void **state)
{
	struct env *e = *state;

	e->script = failed_read_script;
	assert_int_equal(pvio_xenbus_backend_run(&e->run), 0);
	assert_int_equal(e->run.read_retries, 1);
	assert_int_equal(e->run.last_read_error, -EIO);
	/* No second watch event came: only the retry can have seen it. */
	assert_int_equal(e->connects, 1);
	assert_true(e->polls <= MAX_POLLS);
}

static bool repeated_failures_script(struct env *e)
{
	if (e->step == 0 && fe_step(e, PVIO_XENBUS_INIT_WAIT, PVIO_XENBUS_CONNECTED, 1))
		e->fail_reads = 5;
	return e->bdev.state != PVIO_XENBUS_CONNECTED;
}

static void reads_failing_again_and_again_are_retried_until_one_works(void **state)
{
	struct env *e = *state;

	e->script = repeated_failures_script;
	assert_int_equal(pvio_xenbus_backend_run(&e->run), 0);
	assert_int_equal(e->run.read_retries, 5);
	assert_int_equal(e->connects, 1);
	/* Backoff: 1 + 2 + 4 + 8 + 16 periods before the read that worked. */
	assert_true(e->polls >= 31);
}

/* connect fails on a transient store error, leaving InitWait; the
 * frontend is Connected already and writes nothing more. */
static bool failed_connect_script(struct env *e)
{
	/* connect runs after this poll returns: failing it now is in time. */
	if (e->step == 0 && fe_step(e, PVIO_XENBUS_INIT_WAIT, PVIO_XENBUS_CONNECTED, 1))
		e->fail_connects = 2;
	return e->bdev.state != PVIO_XENBUS_CONNECTED;
}

static void a_connect_that_failed_without_closing_is_tried_again(void **state)
{
	struct env *e = *state;

	e->script = failed_connect_script;
	assert_int_equal(pvio_xenbus_backend_run(&e->run), 0);
	/* Two failed tries, then one that worked, with no watch event. */
	assert_int_equal(e->connects, 3);
	assert_int_equal(e->run.read_retries, 0);
	assert_true(e->polls <= MAX_POLLS);
}

/* Connected, then frontend Closing, then its state node removed. */
static bool close_and_remove_script(struct env *e)
{
	switch (e->step) {
	case 0:
		(void)fe_step(e, PVIO_XENBUS_INIT_WAIT, PVIO_XENBUS_CONNECTED, 1);
		break;
	case 1:
		(void)fe_step(e, PVIO_XENBUS_CONNECTED, PVIO_XENBUS_CLOSING, 2);
		break;
	case 2:
		if (e->bdev.state == PVIO_XENBUS_CLOSING) {
			assert_int_equal(e->connected_now, 0);
			assert_int_equal(e->published, PVIO_XENBUS_CLOSING);
			assert_int_equal(pvio_xs_rm(&e->x.ts->xs, 0, FE "/state"), 0);
			e->step = 3;
		}
		break;
	default:
		break;
	}
	return true;
}

static void frontend_closing_disconnects_and_its_removal_ends_the_run(void **state)
{
	struct env *e = *state;

	e->script = close_and_remove_script;
	assert_int_equal(pvio_xenbus_backend_run(&e->run), 0);
	assert_int_equal(e->step, 3);
	assert_true(e->polls <= MAX_POLLS);
	assert_int_equal(e->connects, 1);
	assert_int_equal(e->connected_now, 0);
	assert_string_equal(fake_xs_value(e->x.fx, BE "/state"), "6");
}

/* Frontend Closed while online is 1: the backend waits Closed for a
 * reconnect, and a new Initialising brings it back to InitWait. */
static bool reconnect_script(struct env *e)
{
	switch (e->step) {
	case 0:
		(void)fe_step(e, PVIO_XENBUS_INIT_WAIT, PVIO_XENBUS_CONNECTED, 1);
		break;
	case 1:
		if (fe_step(e, PVIO_XENBUS_CONNECTED, PVIO_XENBUS_CLOSING, 2))
			fe_switch(e, PVIO_XENBUS_CLOSED);
		break;
	case 2:
		(void)fe_step(e, PVIO_XENBUS_CLOSED, PVIO_XENBUS_INITIALISING, 3);
		break;
	case 3:
		(void)fe_step(e, PVIO_XENBUS_INIT_WAIT, PVIO_XENBUS_CONNECTED, 4);
		break;
	default:
		return e->bdev.state != PVIO_XENBUS_CONNECTED;
	}
	return true;
}

static void frontend_closed_while_online_waits_for_a_reconnect(void **state)
{
	struct env *e = *state;

	assert_int_equal(pvio_xenbus_device_set_online(&e->x.ts->xs, "vif", 1, 2,
						       0, true), 0);
	e->script = reconnect_script;
	assert_int_equal(pvio_xenbus_backend_run(&e->run), 0);
	assert_int_equal(e->step, 4);
	assert_int_equal(e->connects, 2);
	assert_true(e->disconnects >= 2);
}

static void features_failing_is_fatal(void **state)
{
	struct env *e = *state;

	e->script = connect_script;
	/* The transaction start is the backend's first request. */
	fake_conn_hooks(e->x.be->conn)->error_next = "EACCES";
	assert_int_equal(pvio_xenbus_backend_run(&e->run), -EACCES);
	assert_string_equal(e->run.failure, "writing backend features");
	assert_int_equal(e->connects, 0);
	assert_int_equal(e->polls, 0);
	assert_string_equal(fake_xs_value(e->x.fx, BE "/state"), "6");
	assert_non_null(fake_xs_value(e->x.fx, BE "/error"));
}

static void missing_ops_are_refused(void **state)
{
	struct env *e = *state;
	const struct pvio_xenbus_backend_ops none = { 0 };

	e->run.ops = &none;
	assert_int_equal(pvio_xenbus_backend_run(&e->run), -EINVAL);
	assert_int_equal(pvio_xenbus_backend_run(NULL), -EINVAL);
	assert_string_equal(fake_xs_value(e->x.fx, BE "/state"), "1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_handshake_connects_and_a_stop_closes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_change_whose_read_failed_is_still_seen,
						setup, teardown),
		cmocka_unit_test_setup_teardown(reads_failing_again_and_again_are_retried_until_one_works,
						setup, teardown),
		cmocka_unit_test_setup_teardown(a_connect_that_failed_without_closing_is_tried_again,
						setup, teardown),
		cmocka_unit_test_setup_teardown(frontend_closing_disconnects_and_its_removal_ends_the_run,
						setup, teardown),
		cmocka_unit_test_setup_teardown(frontend_closed_while_online_waits_for_a_reconnect,
						setup, teardown),
		cmocka_unit_test_setup_teardown(features_failing_is_fatal,
						setup, teardown),
		cmocka_unit_test_setup_teardown(missing_ops_are_refused,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
