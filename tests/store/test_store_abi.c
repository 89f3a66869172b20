/* SPDX-License-Identifier: MIT */
/* pvio's xs_wire.h against Xen's own io/xs_wire.h: layout and values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <xen/io/xs_wire.h>
#include <xen/io/xenbus.h>

#include <pvio/xs_wire.h>

#include "store_client.h"

#define SAME_FIELD(f)                                                      \
	do {                                                               \
		assert_int_equal(offsetof(struct pvio_xs_msg_hdr, f),      \
				 offsetof(struct xsd_sockmsg, f));         \
		assert_int_equal(sizeof(((struct pvio_xs_msg_hdr *)0)->f), \
				 sizeof(((struct xsd_sockmsg *)0)->f));    \
	} while (0)

static void header_layout_is_xens(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct pvio_xs_msg_hdr),
			 sizeof(struct xsd_sockmsg));
	SAME_FIELD(type);
	SAME_FIELD(req_id);
	SAME_FIELD(tx_id);
	SAME_FIELD(len);
	assert_int_equal(PVIO_XS_PAYLOAD_MAX, XENSTORE_PAYLOAD_MAX);
	assert_int_equal(PVIO_XS_ABS_PATH_MAX, XENSTORE_ABS_PATH_MAX);
	assert_int_equal(PVIO_XS_REL_PATH_MAX, XENSTORE_REL_PATH_MAX);
}

static void message_types_are_xens(void **state)
{
	(void)state;
	assert_int_equal(PVIO_XS_CONTROL, XS_CONTROL);
	assert_int_equal(PVIO_XS_CONTROL, XS_DEBUG);
	assert_int_equal(PVIO_XS_DIRECTORY, XS_DIRECTORY);
	assert_int_equal(PVIO_XS_READ, XS_READ);
	assert_int_equal(PVIO_XS_GET_PERMS, XS_GET_PERMS);
	assert_int_equal(PVIO_XS_WATCH, XS_WATCH);
	assert_int_equal(PVIO_XS_UNWATCH, XS_UNWATCH);
	assert_int_equal(PVIO_XS_TRANSACTION_START, XS_TRANSACTION_START);
	assert_int_equal(PVIO_XS_TRANSACTION_END, XS_TRANSACTION_END);
	assert_int_equal(PVIO_XS_INTRODUCE, XS_INTRODUCE);
	assert_int_equal(PVIO_XS_RELEASE, XS_RELEASE);
	assert_int_equal(PVIO_XS_GET_DOMAIN_PATH, XS_GET_DOMAIN_PATH);
	assert_int_equal(PVIO_XS_WRITE, XS_WRITE);
	assert_int_equal(PVIO_XS_MKDIR, XS_MKDIR);
	assert_int_equal(PVIO_XS_RM, XS_RM);
	assert_int_equal(PVIO_XS_SET_PERMS, XS_SET_PERMS);
	assert_int_equal(PVIO_XS_WATCH_EVENT, XS_WATCH_EVENT);
	assert_int_equal(PVIO_XS_ERROR, XS_ERROR);
	assert_int_equal(PVIO_XS_IS_DOMAIN_INTRODUCED, XS_IS_DOMAIN_INTRODUCED);
	assert_int_equal(PVIO_XS_RESUME, XS_RESUME);
	assert_int_equal(PVIO_XS_SET_TARGET, XS_SET_TARGET);
	assert_int_equal(PVIO_XS_RESET_WATCHES, XS_RESET_WATCHES);
	assert_int_equal(PVIO_XS_DIRECTORY_PART, XS_DIRECTORY_PART);
	assert_int_equal(PVIO_XS_TYPE_COUNT, XS_TYPE_COUNT);
	assert_int_equal(PVIO_XS_INVALID, XS_INVALID);
}

static void xenbus_states_are_xens(void **state)
{
	(void)state;
	assert_int_equal(PVIO_XENBUS_UNKNOWN, XenbusStateUnknown);
	assert_int_equal(PVIO_XENBUS_INITIALISING, XenbusStateInitialising);
	assert_int_equal(PVIO_XENBUS_INIT_WAIT, XenbusStateInitWait);
	assert_int_equal(PVIO_XENBUS_INITIALISED, XenbusStateInitialised);
	assert_int_equal(PVIO_XENBUS_CONNECTED, XenbusStateConnected);
	assert_int_equal(PVIO_XENBUS_CLOSING, XenbusStateClosing);
	assert_int_equal(PVIO_XENBUS_CLOSED, XenbusStateClosed);
	assert_int_equal(PVIO_XENBUS_RECONFIGURING, XenbusStateReconfiguring);
	assert_int_equal(PVIO_XENBUS_RECONFIGURED, XenbusStateReconfigured);
}

/* Every name in Xen's xsd_errors is one the tests' client understands,
 * with the same errno: the server's table is the same list. */
static void error_names_are_xens(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		assert_int_equal(tc_errno_of(xsd_errors[i].errstring),
				 xsd_errors[i].errnum);
}

/* The server really answers with those names (a sample over the wire). */
static void server_error_replies_use_xsd_errors_names(void **state)
{
	struct tc_fixture f;
	struct tc_msg m;
	const char *p = "/none";

	(void)state;
	assert_int_equal(tc_fixture_start(&f, NULL), 0);
	assert_int_equal(tc_req_strs(&f.dom0, PVIO_XS_READ, 0, &m, &p, 1),
			 -ENOENT);
	assert_string_equal(m.data, xsd_errors[4].errstring); /* ENOENT */
	assert_int_equal(xsd_errors[4].errnum, ENOENT);
	tc_fixture_stop(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(header_layout_is_xens),
		cmocka_unit_test(message_types_are_xens),
		cmocka_unit_test(xenbus_states_are_xens),
		cmocka_unit_test(error_names_are_xens),
		cmocka_unit_test(server_error_replies_use_xsd_errors_names),
	};

	return cmocka_run_group_tests_name("store_abi", tests, NULL, NULL);
}
