/* SPDX-License-Identifier: MIT */
/* The embedding API: step() on the poll fd in one thread, run()/stop(),
 * the listening socket, stats, and clean teardown with open connections. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_client.h"

/* Step the server until fd has something to read (single thread). */
static void step_until_readable(struct pvio_xenstored *srv, int fd)
{
	for (int i = 0; i < 10000; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 0) == 1)
			return;
		struct pollfd s = { .fd = pvio_xenstored_fd(srv), .events = POLLIN };

		assert_true(poll(&s, 1, 60000) >= 0);
		assert_true(pvio_xenstored_step(srv, 0) >= 0);
	}
	fail_msg("server never answered");
}

static void step_api_serves_one_thread(void **state)
{
	struct pvio_xenstored *srv;
	int sv[2];
	struct tc c;
	struct tc_msg m;
	struct {
		struct pvio_xs_msg_hdr h;
		char d[16];
	} msg = { .h = { .type = PVIO_XS_WRITE, .req_id = 9, .len = 6 } };

	(void)state;
	assert_int_equal(pvio_xenstored_create(&srv, NULL, NULL), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pvio_xenstored_adopt_fd(srv, sv[1], 0), 0);
	assert_int_equal(tc_open(&c, sv[0]), 0);
	memcpy(msg.d, "/k\0val", 6);
	assert_int_equal(tc_send_raw(&c, &msg, sizeof(msg.h) + 6), 0);
	step_until_readable(srv, sv[0]);
	assert_int_equal(tc_recv(&c, &m), 0);
	assert_int_equal(m.h.req_id, 9);
	assert_string_equal(m.data, "OK");
	/* Nothing to do: a zero timeout returns at once. */
	assert_true(pvio_xenstored_step(srv, 0) >= 0);
	/* stop() makes the next step report it. */
	pvio_xenstored_stop(srv);
	assert_int_equal(pvio_xenstored_step(srv, 60000), -ECANCELED);
	struct pvio_xenstored_stats st;

	pvio_xenstored_get_stats(srv, &st);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.connections, 1);
	assert_int_equal(st.nodes, 4); /* /, /tool, /tool/xenstored, /k */
	tc_close(&c);
	pvio_xenstored_destroy(srv);
}

static void destroy_with_open_connections_frees_everything(void **state)
{
	struct tc_fixture f;
	struct tc a, b;
	uint32_t tx;

	(void)state;
	assert_int_equal(tc_fixture_start(&f, NULL), 0);
	assert_int_equal(pvio_xenstored_introduce_domain(f.srv, 3), 0);
	assert_int_equal(tc_connect(&f, 3, &a), 0);
	assert_int_equal(tc_connect(&f, 0, &b), 0);
	assert_int_equal(tc_watch(&a, "x", "t"), 0);
	assert_int_equal(tc_tx_start(&a, &tx), 0);
	assert_int_equal(tc_write(&a, tx, "x/y", "1"), 0);
	assert_int_equal(tc_tx_start(&b, &tx), 0);
	assert_int_equal(tc_write(&b, tx, "/q", "1"), 0);
	/* Leak checking (ASan) covers what destroy frees. */
	tc_fixture_stop(&f);
	tc_close(&a);
	tc_close(&b);
}

static void listener_gives_privileged_connections(void **state)
{
	char dir[] = "/tmp/pvio-store-api.XXXXXX";
	struct pvio_xenstored *srv;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;
	struct tc c;
	struct tc_msg m;
	struct {
		struct pvio_xs_msg_hdr h;
		char d[16];
	} msg = { .h = { .type = PVIO_XS_WRITE, .req_id = 1, .len = 6 } };

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(pvio_xenstored_create(&srv, dir, NULL), 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/socket", dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(tc_open(&c, fd), 0);
	memcpy(msg.d, "/p\0dom", 6); /* "/" is n0: only dom0 may write */
	assert_int_equal(tc_send_raw(&c, &msg, sizeof(msg.h) + 6), 0);
	step_until_readable(srv, fd);
	assert_int_equal(tc_recv(&c, &m), 0);
	assert_int_equal(m.h.type, PVIO_XS_WRITE);
	tc_close(&c);
	pvio_xenstored_destroy(srv);
	/* The socket is gone with the server. */
	assert_int_equal(access(sa.sun_path, F_OK), -1);
	assert_int_equal(rmdir(dir), 0);
}

static void create_refuses_bad_arguments(void **state)
{
	struct pvio_xenstored *srv;
	char longdir[200];

	(void)state;
	assert_int_equal(pvio_xenstored_create(NULL, NULL, NULL), -EINVAL);
	memset(longdir, 'a', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	assert_int_equal(pvio_xenstored_create(&srv, longdir, NULL), -EINVAL);
	assert_int_equal(pvio_xenstored_create(&srv, "/nonexistent/dir", NULL),
			 -ENOENT);
	assert_int_equal(pvio_xenstored_adopt_fd(NULL, -1, 0), -EBADF);
}

static void run_returns_after_stop_from_another_thread(void **state)
{
	struct tc_fixture f;

	(void)state;
	assert_int_equal(tc_fixture_start(&f, NULL), 0);
	assert_int_equal(tc_sync(&f.dom0), 0);
	tc_fixture_stop(&f); /* joins the thread inside run() */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(step_api_serves_one_thread),
		cmocka_unit_test(destroy_with_open_connections_frees_everything),
		cmocka_unit_test(listener_gives_privileged_connections),
		cmocka_unit_test(create_refuses_bad_arguments),
		cmocka_unit_test(run_returns_after_stop_from_another_thread),
	};

	return cmocka_run_group_tests_name("store_api", tests, NULL, NULL);
}
