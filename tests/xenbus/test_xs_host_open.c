/* SPDX-License-Identifier: MIT */
/*
 * pvio_xs_host_open(): a store client joined to a run dir's socket, served
 * by the fake store in a forked process; its timeout bounds every call; a
 * run dir without a store, a path too long for a Unix address and bad
 * arguments fail with their codes and leave the socket closed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_xs.h"

struct env {
	char dir[64];
	char sock[96];
	int lfd;                /* listening at dir/socket */
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/pvio-xs-open-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->sock, sizeof(e->sock), "%s/socket", e->dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", e->sock);
	e->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(e->lfd >= 0);
	assert_int_equal(bind(e->lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(e->lfd, 4), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	close(e->lfd);
	unlink(e->sock);
	rmdir(e->dir);
	free(e);
	return 0;
}

/* A child that serves one connection with the fake store, as dom0. */
static pid_t serve_one(struct env *e)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = accept(e->lfd, NULL, NULL);
		uint16_t domid = 0;
		struct fake_xs *fx = fake_xs_new();

		_exit(fd >= 0 && fake_xs_serve(fx, &fd, &domid, 1) == 0 ? 0 : 1);
	}
	return pid;
}

static void open_reaches_the_store_of_the_run_dir(void **state)
{
	struct env *e = *state;
	struct pvio_xs_host h;
	struct pvio_xs xs;
	struct pvio_xs_event ev[4];
	pid_t pid = serve_one(e);
	char buf[16];
	int st;

	assert_int_equal(pvio_xs_host_open(&h, &xs, e->dir, ev, 4, 30000), 0);
	assert_true(h.fd >= 0);
	assert_int_equal(pvio_xs_write(&xs, 0, "/k", "v"), 0);
	assert_int_equal(pvio_xs_read(&xs, 0, "/k", buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "v");
	pvio_xs_host_close(&h);
	assert_int_equal(h.fd, -1);
	/* the server ends once its client has gone */
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void open_bounds_every_call_by_its_timeout(void **state)
{
	struct env *e = *state;
	struct pvio_xs_host h;
	struct pvio_xs xs;
	struct pvio_xs_event ev[1];
	char buf[16];

	/* The listen backlog takes the connection; nobody ever answers. */
	assert_int_equal(pvio_xs_host_open(&h, &xs, e->dir, ev, 1, 50), 0);
	assert_int_equal(pvio_xs_read(&xs, 0, "/k", buf, sizeof(buf), NULL), -ETIMEDOUT);
	pvio_xs_host_close(&h);
}

static void open_of_a_dir_without_a_store_is_enoent(void **state)
{
	struct env *e = *state;
	struct pvio_xs_host h = { .fd = 123 };
	struct pvio_xs xs;
	struct pvio_xs_event ev[1];
	char other[96];

	snprintf(other, sizeof(other), "%s/nothing-here", e->dir);
	assert_int_equal(pvio_xs_host_open(&h, &xs, other, ev, 1, 1000), -ENOENT);
	assert_int_equal(h.fd, -1);
}

static void open_of_a_path_too_long_for_a_socket_is_enametoolong(void **state)
{
	struct pvio_xs_host h = { .fd = 123 };
	struct pvio_xs xs;
	struct pvio_xs_event ev[1];
	char dir[200];

	(void)state;
	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	assert_int_equal(pvio_xs_host_open(&h, &xs, dir, ev, 1, 1000), -ENAMETOOLONG);
	assert_int_equal(h.fd, -1);
}

static void open_without_event_slots_is_einval_and_connects_nothing(void **state)
{
	struct env *e = *state;
	struct pvio_xs_host h = { .fd = 123 };
	struct pvio_xs xs;
	struct pvio_xs_event ev[1];

	assert_int_equal(pvio_xs_host_open(&h, &xs, e->dir, ev, 0, 1000), -EINVAL);
	assert_int_equal(h.fd, -1);
	assert_int_equal(pvio_xs_host_open(&h, &xs, NULL, ev, 1, 1000), -EINVAL);
	assert_int_equal(h.fd, -1);
	assert_int_equal(pvio_xs_host_open(NULL, &xs, e->dir, ev, 1, 1000), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(open_reaches_the_store_of_the_run_dir, setup,
						teardown),
		cmocka_unit_test_setup_teardown(open_bounds_every_call_by_its_timeout, setup,
						teardown),
		cmocka_unit_test_setup_teardown(open_of_a_dir_without_a_store_is_enoent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(open_of_a_path_too_long_for_a_socket_is_enametoolong,
						setup, teardown),
		cmocka_unit_test_setup_teardown(open_without_event_slots_is_einval_and_connects_nothing,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
