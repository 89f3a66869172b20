/* SPDX-License-Identifier: MIT */
/*
 * The xenbus handshake across processes: a store server process, the
 * toolstack (this process, dom0) creating the device, a backend process
 * (dom1) and a frontend process (dom2), each with its own connection
 * through the host transport over a socketpair:
 *
 *   backend   Initialising -> InitWait -> Connected -> Closing -> Closed
 *   frontend  Initialising -> Initialised -> Connected -> Closing -> Closed
 *
 * and a broken frontend (never publishes ring-ref): the backend's read is
 * fatal, it goes Closed with an error node, and the frontend waiting for
 * Connected sees -ECONNRESET instead of hanging.
 *
 * Run against the real store (platform/host/xenstored, when built with
 * PVIO_HAVE_XENSTORED) and against the test's fake server.
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
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_xs.h"
#ifdef PVIO_HAVE_XENSTORED
#include <pvio/xenstored.h>
#endif

#define FE "/local/domain/2/device/vif/0"
#define BE "/local/domain/1/backend/vif/2/0"
#define BIT(s) PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_##s)
#define WAIT_MS 10000
#define NEVENTS 8

enum server_kind { SERVER_FAKE, SERVER_REAL };

/* In the children: report the failing line and exit non-zero. */
#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "%s:%d: %s failed\n", __FILE__,     \
				__LINE__, #cond);                           \
			_exit(1);                                           \
		}                                                           \
	} while (0)
#define CHECK_EQ(a, b)                                                      \
	do {                                                                \
		long long a_ = (long long)(a), b_ = (long long)(b);        \
		if (a_ != b_) {                                             \
			fprintf(stderr, "%s:%d: %s == %lld, want %lld\n",   \
				__FILE__, __LINE__, #a, a_, b_);            \
			_exit(1);                                           \
		}                                                           \
	} while (0)

/* A client connection over the host transport, on the heap. */
struct client {
	struct pvio_xs_host host;
	struct pvio_xs xs;
	struct pvio_xs_event ev[NEVENTS];
	struct pvio_xenbus_device dev;
};

static struct client *client_new(int fd)
{
	struct client *c = calloc(1, sizeof(*c));

	pvio_xs_host_attach_fd(&c->host, fd);
	if (pvio_xs_init(&c->xs, &pvio_xs_host_ops, &c->host, c->ev,
			 NEVENTS) != 0)
		abort();
	pvio_xs_set_timeout(&c->xs, WAIT_MS);
	return c;
}

static void client_free(struct client *c)
{
	pvio_xs_host_close(&c->host);
	free(c);
}

static void backend_main(int fd, bool expect_broken_frontend)
{
	struct client *c = client_new(fd);
	struct pvio_xenbus_device *d = &c->dev;
	enum pvio_xenbus_state st;
	uint64_t ref, port;

	alarm(30);
	CHECK_EQ(pvio_xenbus_backend_attach(d, &c->xs, "vif", 1, 2, 0), 0);
	CHECK_EQ(d->state, PVIO_XENBUS_INITIALISING);
	CHECK_EQ(pvio_xenbus_write_feature(&c->xs, 0, d->nodename, "rx-copy",
					   true), 0);
	CHECK_EQ(pvio_xenbus_switch_state(d, PVIO_XENBUS_INIT_WAIT), 0);
	CHECK_EQ(pvio_xenbus_wait_otherend(d, BIT(INITIALISED) |
					   BIT(CONNECTED), WAIT_MS, &st), 0);
	if (expect_broken_frontend) {
		CHECK_EQ(pvio_xenbus_otherend_read_uint(d, "ring-ref",
							UINT32_MAX, &ref),
			 -ENOENT);
		CHECK_EQ(d->state, PVIO_XENBUS_CLOSED);
		client_free(c);
		_exit(0);
	}
	CHECK_EQ(pvio_xenbus_otherend_read_uint(d, "ring-ref", UINT32_MAX,
						&ref), 0);
	CHECK_EQ(ref, 8);
	CHECK_EQ(pvio_xenbus_otherend_read_uint(d, "event-channel", 0xffff,
						&port), 0);
	CHECK_EQ(port, 3);
	CHECK_EQ(pvio_xenbus_switch_state(d, PVIO_XENBUS_CONNECTED), 0);
	/* The frontend connects, then asks to close. */
	CHECK_EQ(pvio_xenbus_wait_otherend(d, BIT(CLOSING) | BIT(CLOSED),
					   WAIT_MS, &st), 0);
	CHECK_EQ(pvio_xenbus_switch_state(d, PVIO_XENBUS_CLOSING), 0);
	CHECK_EQ(pvio_xenbus_wait_otherend(d, BIT(CLOSED), WAIT_MS, &st), 0);
	CHECK_EQ(pvio_xenbus_switch_state(d, PVIO_XENBUS_CLOSED), 0);
	CHECK_EQ(pvio_xenbus_detach(d), 0);
	client_free(c);
	_exit(0);
}

static void frontend_main(int fd, bool broken)
{
	struct client *c = client_new(fd);
	struct pvio_xenbus_device *d = &c->dev;
	enum pvio_xenbus_state st;
	char path[PVIO_XENBUS_PATH_MAX + 32];
	bool copy = false;

	alarm(30);
	CHECK_EQ(pvio_xenbus_frontend_attach(d, &c->xs, "vif", 2, 0), 0);
	CHECK_EQ(d->otherend_id, 1);
	CHECK(strcmp(d->otherend, BE) == 0);
	CHECK_EQ(pvio_xenbus_wait_otherend(d, BIT(INIT_WAIT), WAIT_MS, &st), 0);
	CHECK_EQ(pvio_xenbus_read_feature(&c->xs, 0, d->otherend, "rx-copy",
					  false, &copy), 0);
	CHECK(copy);
	if (!broken) {
		snprintf(path, sizeof(path), "%s/ring-ref", d->nodename);
		CHECK_EQ(pvio_xs_write_uint(&c->xs, 0, path, 8), 0);
		snprintf(path, sizeof(path), "%s/event-channel", d->nodename);
		CHECK_EQ(pvio_xs_write_uint(&c->xs, 0, path, 3), 0);
	}
	CHECK_EQ(pvio_xenbus_switch_state(d, PVIO_XENBUS_INITIALISED), 0);
	if (broken) {
		CHECK_EQ(pvio_xenbus_wait_otherend(d, BIT(CONNECTED), WAIT_MS,
						   &st), -ECONNRESET);
		CHECK_EQ(st, PVIO_XENBUS_CLOSED);
		CHECK_EQ(pvio_xenbus_switch_state(d, PVIO_XENBUS_CLOSED), 0);
		client_free(c);
		_exit(0);
	}
	CHECK_EQ(pvio_xenbus_wait_otherend(d, BIT(CONNECTED), WAIT_MS, &st), 0);
	CHECK_EQ(pvio_xenbus_switch_state(d, PVIO_XENBUS_CONNECTED), 0);
	CHECK_EQ(pvio_xenbus_switch_state(d, PVIO_XENBUS_CLOSING), 0);
	CHECK_EQ(pvio_xenbus_wait_otherend(d, BIT(CLOSING) | BIT(CLOSED),
					   WAIT_MS, &st), 0);
	CHECK_EQ(pvio_xenbus_switch_state(d, PVIO_XENBUS_CLOSED), 0);
	CHECK_EQ(pvio_xenbus_detach(d), 0);
	client_free(c);
	_exit(0);
}

/* ---- servers: each runs in its own process until every client left ---- */

static void fake_server_main(const int *fds, const uint16_t *domids, int n)
{
	struct fake_xs *fx = fake_xs_new();
	int err = fake_xs_serve(fx, fds, domids, n);

	fake_xs_free(fx);
	_exit(err == 0 ? 0 : 1);
}

#ifdef PVIO_HAVE_XENSTORED
static void real_server_main(const int *fds, const uint16_t *domids, int n)
{
	struct pvio_xenstored *srv;
	struct pvio_xenstored_stats st;

	CHECK_EQ(pvio_xenstored_create(&srv, NULL, NULL), 0);
	/* hostd introduces each domain: /local/domain/<id> owned by it. */
	CHECK_EQ(pvio_xenstored_introduce_domain(srv, 1), 0);
	CHECK_EQ(pvio_xenstored_introduce_domain(srv, 2), 0);
	for (int i = 0; i < n; i++)
		CHECK_EQ(pvio_xenstored_adopt_fd(srv, fds[i], domids[i]), 0);
	alarm(60);
	do {
		int r = pvio_xenstored_step(srv, 100);

		CHECK(r >= 0 || r == -EINTR);
		pvio_xenstored_get_stats(srv, &st);
	} while (st.connections > 0);
	pvio_xenstored_destroy(srv);
	_exit(0);
}
#endif

static pid_t spawn_server(enum server_kind kind, int sv[3][2])
{
	const uint16_t domids[3] = { 0, 1, 2 };
	int fds[3];
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid != 0)
		return pid;
	for (int i = 0; i < 3; i++) {
		close(sv[i][1]);
		fds[i] = sv[i][0];
	}
#ifdef PVIO_HAVE_XENSTORED
	if (kind == SERVER_REAL)
		real_server_main(fds, domids, 3);
#endif
	(void)kind;
	fake_server_main(fds, domids, 3);
	return 0;
}

static pid_t spawn(void (*fn)(int, bool), int fd, bool flag, int sv[3][2])
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		for (int i = 0; i < 3; i++)
			if (sv[i][1] != fd)
				close(sv[i][1]);
		fn(fd, flag);
	}
	return pid;
}

static void expect_exit_0(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void run(enum server_kind kind, bool broken)
{
	int sv[3][2];
	pid_t server, be, fe;
	struct client *ts;
	char buf[128];

	for (int i = 0; i < 3; i++)
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
					    0, sv[i]), 0);
	server = spawn_server(kind, sv);
	for (int i = 0; i < 3; i++)
		close(sv[i][0]);

	ts = client_new(sv[0][1]);
	if (kind == SERVER_FAKE) {
		/* What the real store's introduce does: homes owned by each. */
		for (uint16_t d = 1; d <= 2; d++) {
			const struct pvio_xs_perm p = { d, PVIO_XS_PERM_NONE };

			snprintf(buf, sizeof(buf), "/local/domain/%u", d);
			assert_int_equal(pvio_xs_mkdir(&ts->xs, 0, buf), 0);
			assert_int_equal(pvio_xs_set_perms(&ts->xs, 0, buf, &p,
							   1), 0);
		}
	}
	assert_int_equal(pvio_xenbus_device_create(&ts->xs, "vif", 1, 2, 0,
						   NULL), 0);
	be = spawn(backend_main, sv[1][1], broken, sv);
	fe = spawn(frontend_main, sv[2][1], broken, sv);
	close(sv[1][1]);
	close(sv[2][1]);
	expect_exit_0(be);
	expect_exit_0(fe);

	assert_int_equal(pvio_xs_read(&ts->xs, 0, FE "/state", buf,
				      sizeof(buf), NULL), 0);
	assert_string_equal(buf, "6");
	assert_int_equal(pvio_xs_read(&ts->xs, 0, BE "/state", buf,
				      sizeof(buf), NULL), 0);
	assert_string_equal(buf, "6");
	if (broken) {
		assert_int_equal(pvio_xs_read(&ts->xs, 0, BE "/error", buf,
					      sizeof(buf), NULL), 0);
		assert_string_equal(buf, "2 reading " FE "/ring-ref");
		assert_int_equal(pvio_xs_read(&ts->xs, 0,
					      "/local/domain/1/error/backend/"
					      "vif/2/0/error", buf,
					      sizeof(buf), NULL), 0);
		assert_string_equal(buf, "2 reading " FE "/ring-ref");
	} else {
		assert_int_equal(pvio_xs_read(&ts->xs, 0, BE "/error", buf,
					      sizeof(buf), NULL), -ENOENT);
		assert_int_equal(pvio_xs_read(&ts->xs, 0, FE "/error", buf,
					      sizeof(buf), NULL), -ENOENT);
	}
	assert_int_equal(pvio_xenbus_device_destroy(&ts->xs, "vif", 1, 2, 0),
			 0);
	assert_int_equal(pvio_xs_read(&ts->xs, 0, FE "/state", buf,
				      sizeof(buf), NULL), -ENOENT);
	assert_int_equal(pvio_xs_read(&ts->xs, 0, BE, buf, sizeof(buf), NULL),
			 -ENOENT);
	client_free(ts);
	expect_exit_0(server);
}

static void handshake_over_the_fake_store(void **state)
{
	(void)state;
	run(SERVER_FAKE, false);
}

static void broken_frontend_over_the_fake_store(void **state)
{
	(void)state;
	run(SERVER_FAKE, true);
}

#ifdef PVIO_HAVE_XENSTORED
static void handshake_over_the_real_store(void **state)
{
	(void)state;
	run(SERVER_REAL, false);
}

static void broken_frontend_over_the_real_store(void **state)
{
	(void)state;
	run(SERVER_REAL, true);
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
#ifdef PVIO_HAVE_XENSTORED
		cmocka_unit_test(handshake_over_the_real_store),
		cmocka_unit_test(broken_frontend_over_the_real_store),
#endif
		cmocka_unit_test(handshake_over_the_fake_store),
		cmocka_unit_test(broken_frontend_over_the_fake_store),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("xenbus_handshake", tests, NULL,
					   NULL);
}
