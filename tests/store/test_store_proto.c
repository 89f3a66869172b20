/* SPDX-License-Identifier: MIT */
/* Malformed and awkward messages: an error reply or a closed connection,
 * never a crash, and every other connection keeps being served. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_client.h"

static void still_serving(struct tc_fixture *f)
{
	char buf[16];

	assert_int_equal(tc_write(&f->dom0, 0, "/alive", "yes"), 0);
	assert_int_equal(tc_read(&f->dom0, 0, "/alive", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "yes");
}

static void oversized_length_closes_the_connection(void **state)
{
	struct tc_fixture *f = *state;
	struct tc c;
	struct tc_msg m;
	struct pvio_xs_msg_hdr h = { .type = PVIO_XS_READ, .req_id = 1,
				     .len = PVIO_XS_PAYLOAD_MAX + 1 };

	assert_int_equal(tc_connect(f, 5, &c), 0);
	assert_int_equal(tc_send_raw(&c, &h, sizeof(h)), 0);
	assert_int_equal(tc_recv(&c, &m), -EPIPE);
	tc_close(&c);
	assert_int_equal(tc_connect(f, 0, &c), 0);
	h.len = 0xffffffffu;
	assert_int_equal(tc_send_raw(&c, &h, sizeof(h)), 0);
	assert_int_equal(tc_recv(&c, &m), -EPIPE);
	tc_close(&c);
	still_serving(f);
}

static void unknown_and_server_only_types_are_enosys(void **state)
{
	struct tc_fixture *f = *state;
	static const uint32_t types[] = {
		PVIO_XS_WATCH_EVENT, PVIO_XS_ERROR, 20, PVIO_XS_TYPE_COUNT, 1000,
		PVIO_XS_INVALID, 0xffffffffu,
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		assert_int_equal(tc_req(&f->dom0, types[i], 0, "/\0", 2, NULL),
				 -ENOSYS);
	still_serving(f);
}

static void arguments_without_nul_are_einval(void **state)
{
	struct tc_fixture *f = *state;

	assert_int_equal(tc_req(&f->dom0, PVIO_XS_READ, 0, "/tool", 5, NULL),
			 -EINVAL);
	assert_int_equal(tc_req(&f->dom0, PVIO_XS_READ, 0, "", 0, NULL), -EINVAL);
	assert_int_equal(tc_req(&f->dom0, PVIO_XS_READ, 0, "/tool\0/x", 9, NULL),
			 -EINVAL);
	assert_int_equal(tc_req(&f->dom0, PVIO_XS_WRITE, 0, "/nonul", 6, NULL),
			 -EINVAL);
	assert_int_equal(tc_req(&f->dom0, PVIO_XS_WATCH, 0, "/a\0tok", 6, NULL),
			 -EINVAL);
	assert_int_equal(tc_req(&f->dom0, PVIO_XS_MKDIR, 0, "/a\0\0", 4, NULL),
			 -EINVAL);
	assert_int_equal(tc_req(&f->dom0, PVIO_XS_SET_PERMS, 0, "/tool\0n0", 8,
				NULL), -EINVAL);
	still_serving(f);
}

static void bad_paths_are_einval(void **state)
{
	struct tc_fixture *f = *state;
	static const char *const bad[] = {
		"/a//b", "/a/", "//", "/a b", "/a\tb", "/a.b", "/a\xc3\xa9",
		"/\xff\xfe", "@foo", "/a\\b", "/a*b", "/../x", "",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(tc_write(&f->dom0, 0, bad[i], "v"), -EINVAL);
		assert_int_equal(tc_read(&f->dom0, 0, bad[i], (char[8]){0}, 8),
				 -EINVAL);
	}
	/* Xen's allowed set. */
	assert_int_equal(tc_write(&f->dom0, 0, "/Az09-_/x@y", "v"), 0);
	still_serving(f);
}

static void a_message_in_single_bytes_is_reassembled(void **state)
{
	struct tc_fixture *f = *state;
	struct {
		struct pvio_xs_msg_hdr h;
		char d[16];
	} msg = { .h = { .type = PVIO_XS_WRITE, .req_id = 77, .len = 11 } };
	struct tc_msg m;

	memcpy(msg.d, "/bytes\0slow", 11);
	for (size_t i = 0; i < sizeof(msg.h) + 11; i++)
		assert_int_equal(tc_send_raw(&f->dom0, (char *)&msg + i, 1), 0);
	assert_int_equal(tc_recv(&f->dom0, &m), 0);
	assert_int_equal(m.h.type, PVIO_XS_WRITE);
	assert_int_equal(m.h.req_id, 77);
	assert_string_equal(m.data, "OK");
	char buf[16];

	assert_int_equal(tc_read(&f->dom0, 0, "/bytes", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "slow");
}

static void pipelined_requests_get_replies_in_order(void **state)
{
	struct tc_fixture *f = *state;
	enum { N = 100 }; /* small enough for the socket buffers */
	struct {
		struct pvio_xs_msg_hdr h;
		char d[8];
	} msg = { .h = { .type = PVIO_XS_READ, .len = 6 } };
	struct tc_msg m;

	memcpy(msg.d, "/tool", 6);
	/* All requests before any reply is read: the server stops reading
	 * while its replies are not taken, so this cannot grow its memory. */
	for (uint32_t i = 0; i < N; i++) {
		msg.h.req_id = 1000 + i;
		assert_int_equal(tc_send_raw(&f->dom0, &msg,
					     sizeof(msg.h) + msg.h.len), 0);
	}
	for (uint32_t i = 0; i < N; i++) {
		assert_int_equal(tc_recv(&f->dom0, &m), 0);
		assert_int_equal(m.h.type, PVIO_XS_READ);
		assert_int_equal(m.h.req_id, 1000 + i);
	}
	still_serving(f);
}

static void replies_echo_req_id_and_tx_id(void **state)
{
	struct tc_fixture *f = *state;
	struct tc_msg m;
	uint32_t tx;

	assert_int_equal(tc_tx_start(&f->dom0, &tx), 0);
	assert_int_equal(tc_req(&f->dom0, PVIO_XS_READ, tx, "/tool\0", 6, &m), 0);
	assert_int_equal(m.h.tx_id, tx);
	assert_int_equal(tc_req(&f->dom0, PVIO_XS_READ, tx, "/no\0", 4, &m),
			 -ENOENT);
	assert_int_equal(m.h.tx_id, tx);
	assert_int_equal(tc_tx_end(&f->dom0, tx, false), 0);
}

static void random_garbage_never_crashes_the_server(void **state)
{
	struct tc_fixture *f = *state;
	unsigned int seed = 12345;

	for (int round = 0; round < 200; round++) {
		struct tc c;
		struct {
			struct pvio_xs_msg_hdr h;
			unsigned char d[256];
		} msg;
		uint32_t len = (uint32_t)rand_r(&seed) % sizeof(msg.d);

		assert_int_equal(tc_connect(f, (uint16_t)(round % 3 ? 9 : 0), &c), 0);
		msg.h.type = (uint32_t)rand_r(&seed) % (PVIO_XS_TYPE_COUNT + 2);
		msg.h.req_id = (uint32_t)round;
		msg.h.tx_id = rand_r(&seed) % 4 ? 0 : (uint32_t)rand_r(&seed);
		msg.h.len = len;
		for (uint32_t i = 0; i < len; i++) {
			static const char alpha[] = "/a@\0\0-_b1\xff ";

			msg.d[i] = (unsigned char)alpha[rand_r(&seed) %
							(sizeof(alpha) - 1)];
		}
		assert_int_equal(tc_send_raw(&c, &msg, sizeof(msg.h) + len), 0);
		/* A reply (any) or EOF; then drop the connection. */
		struct tc_msg m;
		int r = tc_recv(&c, &m);

		assert_true(r == 0 || r == -EPIPE);
		tc_close(&c);
	}
	still_serving(f);
}

static void control_is_minimal_and_privileged(void **state)
{
	struct tc_fixture *f = *state;
	const char *a[2] = { "print", "hello" }, *h = "help", *bad = "nope";
	struct tc_msg m;

	assert_int_equal(tc_req_strs(&f->dom0, PVIO_XS_CONTROL, 0, &m, a, 2), 0);
	assert_string_equal(m.data, "OK");
	assert_int_equal(tc_req_strs(&f->dom0, PVIO_XS_CONTROL, 0, &m, &h, 1), 0);
	assert_int_equal(tc_req_strs(&f->dom0, PVIO_XS_CONTROL, 0, &m, &bad, 1),
			 -EINVAL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tc_setup, tc_teardown)
	const struct CMUnitTest tests[] = {
		T(oversized_length_closes_the_connection),
		T(unknown_and_server_only_types_are_enosys),
		T(arguments_without_nul_are_einval),
		T(bad_paths_are_einval),
		T(a_message_in_single_bytes_is_reassembled),
		T(pipelined_requests_get_replies_in_order),
		T(replies_echo_req_id_and_tx_id),
		T(random_garbage_never_crashes_the_server),
		T(control_is_minimal_and_privileged),
	};

	return cmocka_run_group_tests_name("store_proto", tests, NULL, NULL);
}
