/* SPDX-License-Identifier: MIT */
/*
 * A domain dies (its process is killed with SIGKILL): the toolstack
 * destroys it, and its peer's notify fails cleanly with -ENOTCONN and the
 * peer's blocking wait returns. Without the destroy, the peer's wait times
 * out cleanly and nothing crashes.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <pvio/evtchn_host.h>
#include <pvio/host.h>

struct world {
	int fd;
	void *mem;
	size_t bytes;
	struct pvio_evtchn h; /* domain 1, this process */
	uint32_t port;
	pid_t child;          /* domain 2 */
};

/* Domain 2 in a child: map the region from the inherited fd, bind to
 * domain 1's port, kick it once, then wait to be killed. */
static void child_main(int fd, uint32_t port)
{
	void *mem;
	size_t bytes;
	struct pvio_evtchn h;
	uint32_t p, got;

	if (pvio_evtchn_host_region_map(fd, &mem, &bytes) ||
	    pvio_evtchn_attach(&h, mem, bytes, 2, &pvio_evtchn_host_futex_ops, NULL) ||
	    pvio_evtchn_bind_interdomain(&h, 1, port, &p) || pvio_evtchn_notify(&h, p))
		_exit(1);
	for (;;)
		pvio_evtchn_wait(&h, PVIO_EVTCHN_BLOCK, PVIO_EVTCHN_FOREVER, &got, 1);
}

static void world_start(struct world *w)
{
	uint32_t got;

	memset(w, 0, sizeof(*w));
	assert_int_equal(pvio_evtchn_host_region_create(3, &w->fd, &w->mem, &w->bytes), 0);
	assert_int_equal(pvio_evtchn_domain_create(w->mem, 1), 0);
	assert_int_equal(pvio_evtchn_domain_create(w->mem, 2), 0);
	assert_int_equal(pvio_evtchn_attach(&w->h, w->mem, w->bytes, 1,
					    &pvio_evtchn_host_futex_ops, NULL), 0);
	assert_int_equal(pvio_evtchn_alloc_unbound(&w->h, 2, &w->port), 0);
	w->child = fork();
	assert_true(w->child >= 0);
	if (w->child == 0)
		child_main(w->fd, w->port);
	/* The child's kick says it is bound. */
	assert_int_equal(pvio_evtchn_wait(&w->h, PVIO_EVTCHN_BLOCK, 10ull * 1000000000u, &got, 1), 1);
	assert_int_equal(got, w->port);
	assert_int_equal(pvio_evtchn_notify(&w->h, w->port), 0);
}

static void world_kill(struct world *w)
{
	int status;

	assert_int_equal(kill(w->child, SIGKILL), 0);
	assert_int_equal(waitpid(w->child, &status, 0), w->child);
	assert_true(WIFSIGNALED(status));
}

static void world_end(struct world *w)
{
	pvio_evtchn_host_region_unmap(w->mem, w->bytes);
	close(w->fd);
}

struct waiter {
	struct pvio_evtchn *h;
	int rc;
	uint32_t port;
};

static void *waiter_main(void *arg)
{
	struct waiter *wt = arg;

	wt->rc = pvio_evtchn_wait(wt->h, PVIO_EVTCHN_BLOCK, 20ull * 1000000000u, &wt->port, 1);
	return NULL;
}

static void peer_death_wakes_blocked_waiter_and_notify_fails_enotconn(void **state)
{
	struct world w;
	struct waiter wt;
	struct pvio_evtchn_status st;
	pthread_t t;

	(void)state;
	world_start(&w);
	wt = (struct waiter){ .h = &w.h };
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &wt), 0);
	for (int i = 0; i < 1000 && !atomic_load(&w.h.shared->waiter[0].sleeping); i++)
		usleep(100);
	world_kill(&w);
	/* Until the toolstack notices, notify still "works" (into a dead
	 * page) and must not crash. */
	assert_int_equal(pvio_evtchn_notify(&w.h, w.port), 0);
	/* The toolstack (this process plays hostd) destroys domain 2. */
	assert_int_equal(pvio_evtchn_domain_destroy(w.mem, 2, &pvio_evtchn_host_futex_ops, NULL), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(wt.rc, 1);
	assert_int_equal(wt.port, w.port);
	assert_int_equal(pvio_evtchn_notify(&w.h, w.port), -ENOTCONN);
	assert_int_equal(pvio_evtchn_status(&w.h, w.port, &st), 0);
	assert_int_equal(st.state, PVIO_EVTCHN_PORT_UNBOUND);
	assert_int_equal(st.remote_dom, 2);
	/* The port can be closed and reused; domain 2 can come back. */
	assert_int_equal(pvio_evtchn_close(&w.h, w.port), 0);
	assert_int_equal(pvio_evtchn_domain_create(w.mem, 2), 0);
	world_end(&w);
}

static void peer_death_without_destroy_lets_wait_time_out(void **state)
{
	struct world w;
	uint32_t got;

	(void)state;
	world_start(&w);
	world_kill(&w);
	for (int m = 0; m < 3; m++)
		assert_int_equal(pvio_evtchn_wait(&w.h, m, 20000000, &got, 1), -ETIMEDOUT);
	assert_int_equal(pvio_evtchn_notify(&w.h, w.port), 0);
	world_end(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(peer_death_wakes_blocked_waiter_and_notify_fails_enotconn),
		cmocka_unit_test(peer_death_without_destroy_lets_wait_time_out),
	};
	return cmocka_run_group_tests_name("evtchn_death", tests, NULL, NULL);
}
