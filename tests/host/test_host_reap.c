/* SPDX-License-Identifier: MIT */
/*
 * hostd reaps what a dead domain process held, against the real `pvio
 * hostd` binary:
 *   test_host_reap PVIO maps   (suite grant) a backend process maps a
 *                              frontend's grant and is SIGKILLed: hostd
 *                              drops its pins, the frontend's end access
 *                              (revoke) succeeds again
 *   test_host_reap PVIO lock   (suite evtchn) a domain process doing event
 *                              channel control operations back to back is
 *                              SIGKILLed, often holding the region lock:
 *                              the other domain's control operations work
 *                              once hostd reaps it
 * Each side connects after its fork, so no process holds another's
 * lifeline.
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
#include <pvio/evtchn.h>
#include <pvio/grant.h>

#include "host_test_util.h"

#define TIMEOUT_MS 30000
#define LOCK_ROUNDS 6

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
		test_waitpid(f->hostd, TIMEOUT_MS);
	}
	test_run_dir_remove(f->dir);
	free(f);
	return 0;
}

static int xread(int fd, void *buf, size_t n)
{
	return read(fd, buf, n) == (ssize_t)n ? 0 : -1;
}

static int xwrite(int fd, const void *buf, size_t n)
{
	return write(fd, buf, n) == (ssize_t)n ? 0 : -1;
}

#define CHILD_CHECK(c) do { if (!(c)) { fprintf(stderr, "child: %s failed (line %d)\n", \
				#c, __LINE__); _exit(1); } } while (0)

struct grant_msg {
	pvio_domid_t front;
	pvio_grant_ref_t ref;
};

/* The backend: map the frontend's grant, write through it, wait to die. */
static void backend_main(const char *dir, int in, int out)
{
	struct pvio_domain_config cfg = { .name = "back", .nr_pages = 64,
					  .driver_domain = true };
	struct pvio_domain *d;
	struct grant_msg g;
	unsigned char *page;
	uint32_t h;

	alarm(TIMEOUT_MS / 1000 * 4); /* against hangs only */
	CHILD_CHECK(pvio_domain_connect(dir, &cfg, &d) == 0);
	CHILD_CHECK(xwrite(out, &d->domid, sizeof(d->domid)) == 0);
	CHILD_CHECK(xread(in, &g, sizeof(g)) == 0);
	CHILD_CHECK(pvio_gnt_map_one(d->gnt_back, g.front, g.ref, 0, (void **)&page,
				     &h) == PVIO_GNTST_okay);
	page[0] = 0xbe;
	CHILD_CHECK(xwrite(out, "M", 1) == 0);
	for (;;)
		pause();
}

static void killed_backend_mappings_are_released(void **state)
{
	struct fixture *f = *state;
	struct pvio_domain_config cfg = { .name = "front", .nr_pages = 64 };
	struct pvio_domain *d = NULL;
	int to_child[2], from_child[2], st, rc, tries = 0;
	pvio_domid_t back;
	uint32_t pfn;

	assert_int_equal(pipe(to_child), 0);
	assert_int_equal(pipe(from_child), 0);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		backend_main(f->dir, to_child[0], from_child[1]);
	assert_int_equal(xread(from_child[0], &back, sizeof(back)), 0);
	assert_int_equal(pvio_domain_connect(f->dir, &cfg, &d), 0);
	assert_int_equal(pvio_domain_page_alloc(d, 1, &pfn), 0);
	unsigned char *mine = pvio_domain_page(d, pfn);
	memset(mine, 0x11, 4096);
	struct grant_msg g = { .front = d->domid };
	assert_int_equal(pvio_gnt_grant(d->gnt, back, pfn, false, &g.ref), 0);
	assert_int_equal(xwrite(to_child[1], &g, sizeof(g)), 0);
	assert_int_equal(test_read_byte(from_child[0], TIMEOUT_MS), 'M');
	assert_int_equal(mine[0], 0xbe); /* written through the mapping */
	assert_int_equal(pvio_gnt_revoke(d->gnt, g.ref), -EBUSY);

	assert_int_equal(kill(pid, SIGKILL), 0);
	st = test_waitpid(pid, TIMEOUT_MS);
	assert_true(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* hostd reaps the backend when it reads EOF on its lifeline. */
	while ((rc = pvio_gnt_revoke(d->gnt, g.ref)) == -EBUSY && ++tries < TIMEOUT_MS)
		usleep(1000);
	assert_int_equal(rc, 0);
	assert_int_equal(mine[1], 0x11); /* our page, untouched since */
	pvio_domain_disconnect(d);
	for (int i = 0; i < 2; i++) {
		close(to_child[i]);
		close(from_child[i]);
	}
}

/* A domain doing control operations back to back on a channel with peer,
 * until killed. */
static void churn_main(const char *dir, int in, int out)
{
	struct pvio_domain_config cfg = { .name = "churn", .nr_pages = 16 };
	struct pvio_domain *d;
	pvio_domid_t peer;
	uint32_t port0, p, a, b;

	alarm(TIMEOUT_MS / 1000 * 4);
	CHILD_CHECK(pvio_domain_connect(dir, &cfg, &d) == 0);
	CHILD_CHECK(xwrite(out, &d->domid, sizeof(d->domid)) == 0);
	CHILD_CHECK(xread(in, &peer, sizeof(peer)) == 0);
	CHILD_CHECK(xread(in, &port0, sizeof(port0)) == 0);
	CHILD_CHECK(pvio_evtchn_bind_interdomain(d->evtchn, peer, port0, &p) == 0);
	CHILD_CHECK(xwrite(out, "B", 1) == 0);
	for (;;) {
		CHILD_CHECK(pvio_evtchn_alloc_unbound(d->evtchn, d->domid, &a) == 0);
		CHILD_CHECK(pvio_evtchn_bind_interdomain(d->evtchn, d->domid, a, &b) == 0);
		CHILD_CHECK(pvio_evtchn_close(d->evtchn, b) == 0);
		CHILD_CHECK(pvio_evtchn_close(d->evtchn, a) == 0);
		CHILD_CHECK(pvio_evtchn_close(d->evtchn, p) == 0);
		CHILD_CHECK(pvio_evtchn_bind_interdomain(d->evtchn, peer, port0, &p) == 0);
	}
}

static void domain_killed_in_control_operations_does_not_wedge_the_region(void **state)
{
	struct fixture *f = *state;
	struct pvio_domain_config cfg = { .name = "peer", .nr_pages = 16 };

	for (int round = 0; round < LOCK_ROUNDS; round++) {
		struct pvio_domain *d = NULL;
		struct pvio_evtchn_status est;
		int to_child[2], from_child[2], st;
		pvio_domid_t churn;
		uint32_t port0, p;

		assert_int_equal(pipe(to_child), 0);
		assert_int_equal(pipe(from_child), 0);
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0)
			churn_main(f->dir, to_child[0], from_child[1]);
		assert_int_equal(xread(from_child[0], &churn, sizeof(churn)), 0);
		assert_int_equal(pvio_domain_connect(f->dir, &cfg, &d), 0);
		assert_int_equal(pvio_evtchn_alloc_unbound(d->evtchn, churn, &port0), 0);
		assert_int_equal(xwrite(to_child[1], &d->domid, sizeof(d->domid)), 0);
		assert_int_equal(xwrite(to_child[1], &port0, sizeof(port0)), 0);
		assert_int_equal(test_read_byte(from_child[0], TIMEOUT_MS), 'B');
		usleep(1000u + (unsigned)round * 700u);
		assert_int_equal(kill(pid, SIGKILL), 0);
		st = test_waitpid(pid, TIMEOUT_MS);
		assert_true(st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

		alarm(TIMEOUT_MS / 1000); /* a wedged control operation fails */
		/* Once hostd has reaped it, our end is unbound (and raised). */
		for (int tries = 0; tries < TIMEOUT_MS; tries++) {
			assert_int_equal(pvio_evtchn_status(d->evtchn, port0, &est), 0);
			if (est.state == PVIO_EVTCHN_PORT_UNBOUND && est.remote_dom == churn)
				break;
			usleep(1000);
		}
		assert_int_equal(est.state, PVIO_EVTCHN_PORT_UNBOUND);
		assert_int_equal(pvio_evtchn_alloc_unbound(d->evtchn, d->domid, &p), 0);
		assert_int_equal(pvio_evtchn_close(d->evtchn, p), 0);
		assert_int_equal(pvio_evtchn_close(d->evtchn, port0), 0);
		alarm(0);
		pvio_domain_disconnect(d);
		for (int i = 0; i < 2; i++) {
			close(to_child[i]);
			close(from_child[i]);
		}
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest maps[] = {
		cmocka_unit_test_setup_teardown(killed_backend_mappings_are_released,
						hostd_up, hostd_down),
	};
	const struct CMUnitTest lock[] = {
		cmocka_unit_test_setup_teardown(
			domain_killed_in_control_operations_does_not_wedge_the_region,
			hostd_up, hostd_down),
	};

	if (argc != 3) {
		fprintf(stderr, "usage: %s PVIO maps|lock\n", argv[0]);
		return 2;
	}
	pvio_path = argv[1];
	signal(SIGPIPE, SIG_IGN);
	if (!strcmp(argv[2], "maps"))
		return cmocka_run_group_tests(maps, NULL, NULL);
	if (!strcmp(argv[2], "lock"))
		return cmocka_run_group_tests(lock, NULL, NULL);
	fprintf(stderr, "%s: unknown test %s\n", argv[0], argv[2]);
	return 2;
}
