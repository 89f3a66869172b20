/* SPDX-License-Identifier: MIT */
/*
 * Domains as processes against the real `pvio hostd` binary, started as a
 * child on a temporary run dir. Sides are forks of this binary running the
 * exchange of exchange.h; each connects after the fork, so no process
 * holds another's lifeline.
 *   test_host_procs PVIO exchange     (suite grant) the whole exchange
 *   test_host_procs PVIO death        (suite evtchn) SIGKILL the frontend
 *                                     while the backend maps its pages and
 *                                     waits on it; a second guest lives on
 *   test_host_procs PVIO hostd-death  (suite store) SIGKILL hostd: domains
 *                                     notice, store calls fail promptly
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
#include <unistd.h>

#include <cmocka.h>

#include <pvio/domain.h>

#include "exchange.h"
#include "host_test_util.h"

static const char *pvio_path;

struct fixture {
	char dir[64];
	pid_t hostd;
};

static int hostd_up(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || test_run_dir(f->dir) || test_hostd_spawn(pvio_path, f->dir, &f->hostd))
		return -1;
	*state = f;
	return 0;
}

static int hostd_down(void **state)
{
	struct fixture *f = *state;

	if (f->hostd > 0) {
		kill(f->hostd, SIGTERM);
		test_waitpid(f->hostd, XCHG_TIMEOUT_MS);
	}
	test_run_dir_remove(f->dir);
	free(f);
	return 0;
}

static pid_t side_fork(int (*fn)(const struct xchg *), const struct xchg *x)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(4 * XCHG_TIMEOUT_MS / 1000); /* against hangs only */
		_exit(fn(x) == 0 ? 0 : 1);
	}
	return pid;
}

static void assert_exited_ok(pid_t pid, const char *what)
{
	int st = test_waitpid(pid, 3 * XCHG_TIMEOUT_MS);

	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("%s failed (wait status %d)", what, st);
}

static void exchange_between_domain_processes(void **state)
{
	struct fixture *f = *state;
	struct xchg x = { .run_dir = f->dir, .ready_fd = -1, .kill_fd = -1 };
	pid_t front = side_fork(xchg_front, &x);
	pid_t back = side_fork(xchg_back, &x);

	assert_exited_ok(front, "front");
	assert_exited_ok(back, "back");
}

static void sigkilled_frontend_leaves_backend_awake_with_its_pages(void **state)
{
	struct fixture *f = *state;
	struct xchg x = { .run_dir = f->dir, .death = true, .kill_fd = -1 };
	int back_ready[2], front2_ready[2], st;

	assert_int_equal(pipe(back_ready), 0);
	assert_int_equal(pipe(front2_ready), 0);
	x.ready_fd = -1;
	pid_t front = side_fork(xchg_front, &x);

	x.ready_fd = front2_ready[1];
	pid_t front2 = side_fork(xchg_front2, &x);

	x.ready_fd = back_ready[1];
	pid_t back = side_fork(xchg_back, &x);

	assert_int_equal(test_read_byte(front2_ready[0], 2 * XCHG_TIMEOUT_MS), 'R');
	assert_int_equal(test_read_byte(back_ready[0], 2 * XCHG_TIMEOUT_MS), 'B');
	assert_int_equal(kill(front, SIGKILL), 0);
	st = test_waitpid(front, XCHG_TIMEOUT_MS);
	assert_true(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	assert_exited_ok(back, "back");
	assert_exited_ok(front2, "front2");
	for (int i = 0; i < 2; i++) {
		close(back_ready[i]);
		close(front2_ready[i]);
	}
}

static void killed_hostd_is_noticed_and_store_calls_fail(void **state)
{
	struct fixture *f = *state;
	struct pvio_domain_config cfg = { .name = "survivor", .nr_pages = 16 };
	struct pvio_domain *d = NULL;
	char val[64];
	int st, tries = 0;

	/* This process becomes a domain (hostd was forked before). */
	assert_int_equal(pvio_domain_connect(f->dir, &cfg, &d), 0);
	assert_true(pvio_domain_hostd_alive(d));
	assert_int_equal(pvio_xs_read(d->xs, 0, "/local/domain/1/name", val,
				      sizeof(val), NULL), 0);
	assert_string_equal(val, "survivor");

	assert_int_equal(kill(f->hostd, SIGKILL), 0);
	st = test_waitpid(f->hostd, XCHG_TIMEOUT_MS);
	assert_true(st >= 0 && WIFSIGNALED(st));
	f->hostd = 0;
	/* Its sockets closed with it; the alive check only peeks. */
	while (pvio_domain_hostd_alive(d) && ++tries < 30000)
		usleep(1000);
	assert_false(pvio_domain_hostd_alive(d));
	alarm(XCHG_TIMEOUT_MS / 1000); /* a hang fails the test */
	assert_true(pvio_xs_read(d->xs, 0, "/local/domain/1/name", val,
				 sizeof(val), NULL) < 0);
	assert_true(pvio_xs_write(d->xs, 0, "/local/domain/1/x", "y") < 0);
	alarm(0);
	pvio_domain_disconnect(d);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest exchange[] = {
		cmocka_unit_test_setup_teardown(exchange_between_domain_processes,
						hostd_up, hostd_down),
	};
	const struct CMUnitTest death[] = {
		cmocka_unit_test_setup_teardown(sigkilled_frontend_leaves_backend_awake_with_its_pages,
						hostd_up, hostd_down),
	};
	const struct CMUnitTest hostd_death[] = {
		cmocka_unit_test_setup_teardown(killed_hostd_is_noticed_and_store_calls_fail,
						hostd_up, hostd_down),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: %s PVIO exchange|death|hostd-death\n", argv[0]);
		return 2;
	}
	pvio_path = argv[1];
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(argv[2], "exchange"))
		return cmocka_run_group_tests_name("host_procs_exchange", exchange, NULL, NULL);
	if (!strcmp(argv[2], "death"))
		return cmocka_run_group_tests_name("host_procs_death", death, NULL, NULL);
	if (!strcmp(argv[2], "hostd-death"))
		return cmocka_run_group_tests_name("host_procs_hostd_death", hostd_death,
						   NULL, NULL);
	fprintf(stderr, "%s: unknown group '%s'\n", argv[0], argv[2]);
	return 2;
}
