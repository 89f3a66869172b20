/* SPDX-License-Identifier: MIT */
/*
 * The toolstack side of `pvio blk` / `pvio net` and the waits of their
 * sides (domains.h). Every wait for another process has a timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blk_workload.h"
#include "cli.h"
#include "domains.h"

#define HOSTD_READY_MS 15000

uint64_t dom_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int dom_reap(pid_t pid, int ms, int sig)
{
	uint64_t deadline = dom_mono_ms() + (uint64_t)ms;
	int status;

	if (pid <= 0)
		return -1;
	if (sig)
		kill(pid, sig);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		if (dom_mono_ms() >= deadline)
			break;
		poll(NULL, 0, 10);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return -1;
}

/* ------------------------------------------------------------ toolstack */

void dom_run_init(struct dom_run *r, const char *cmd)
{
	memset(r, 0, sizeof(*r));
	r->cmd = cmd;
	r->front.st = r->front.ctl = r->back.st = r->back.ctl = -1;
	r->ts_host.fd = -1;
}

void dom_fail(const struct dom_run *r, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pvio %s: ", r->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* In a child: die with the parent, keep no stdio buffers of it. */
static void child_init(void)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
}

/* Read hostd's output until its ready line. 0 or -1 (reported). */
static int hostd_wait_ready(struct dom_run *r, int fd)
{
	uint64_t deadline = dom_mono_ms() + HOSTD_READY_MS;
	char line[512];
	size_t have = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = dom_mono_ms();

		if (now >= deadline) {
			dom_fail(r, "pvio hostd did not start within %d s",
				 HOSTD_READY_MS / 1000);
			return -1;
		}
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		ssize_t n = read(fd, line + have, sizeof(line) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			have += (size_t)n;
			line[have] = '\0';
			if (strstr(line, "pvio hostd: serving"))
				return 0;
			if (have < sizeof(line) - 1)
				continue;
		}
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		dom_fail(r, "pvio hostd did not start: %s", have ? line : "it exited");
		return -1;
	}
}

int dom_hostd_start(struct dom_run *r, uint32_t frames)
{
	char frames_s[16];
	int pfd[2];

	snprintf(r->dir, sizeof(r->dir), "/tmp/pvio-%s-XXXXXX", r->cmd);
	if (!mkdtemp(r->dir)) {
		dom_fail(r, "cannot create a run dir in /tmp: %s", strerror(errno));
		r->dir[0] = '\0';
		return -1;
	}
	r->run_dir = r->dir;
	if (pipe2(pfd, O_CLOEXEC)) {
		dom_fail(r, "pipe: %s", strerror(errno));
		return -1;
	}
	snprintf(frames_s, sizeof(frames_s), "%u", frames);
	fflush(NULL);
	r->hostd = fork();
	if (r->hostd < 0) {
		dom_fail(r, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (r->hostd == 0) {
		child_init();
		setpgid(0, 0); /* ^C goes to pvio CMD, which stops hostd last */
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		char *argv[] = { "pvio", "hostd", "--run-dir", r->dir, "--frames",
				 frames_s, NULL };
		int err = cli_exec_self(argv);

		fprintf(stderr, "cannot run /proc/self/exe: %s\n", strerror(-err));
		_exit(PVIO_EXIT_FAIL);
	}
	close(pfd[1]);
	int rc = hostd_wait_ready(r, pfd[0]);
	close(pfd[0]); /* hostd ignores SIGPIPE */
	return rc;
}

int dom_toolstack_open(struct dom_run *r)
{
	int rc = pvio_xs_host_open(&r->ts_host, &r->ts, r->run_dir, r->ts_ev,
				   sizeof(r->ts_ev) / sizeof(r->ts_ev[0]), DOM_STORE_TIMEOUT_MS);

	if (rc) {
		dom_fail(r, "cannot reach the store at %s/socket: %s", r->run_dir,
			 strerror(-rc));
		return -1;
	}
	r->ts_open = true;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int dom_spawn(struct dom_run *r, struct dom_side *s, bool own_group,
	      int (*fn)(void *arg, int st_fd, int ctl_fd), void *arg)
{
	int st[2], ctl[2];

	if (pipe2(st, O_CLOEXEC)) {
		dom_fail(r, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(ctl, O_CLOEXEC)) {
		dom_fail(r, "pipe: %s", strerror(errno));
		close(st[0]);
		close(st[1]);
		return -1;
	}
	fflush(NULL);
	s->pid = fork();
	if (s->pid < 0) {
		dom_fail(r, "fork: %s", strerror(errno));
		s->pid = 0;
		close(st[0]);
		close(st[1]);
		close(ctl[0]);
		close(ctl[1]);
		return -1;
	}
	if (s->pid == 0) {
		child_init();
		if (own_group)
			setpgid(0, 0);
		close(st[0]);
		close(ctl[1]);
		close_fd(&r->front.st);
		close_fd(&r->front.ctl);
		close_fd(&r->back.st);
		close_fd(&r->back.ctl);
		if (r->ts_open)
			close(r->ts_host.fd);
		_exit(fn(arg, st[1], ctl[0]));
	}
	close(st[1]);
	close(ctl[0]);
	s->st = st[0];
	s->ctl = ctl[1];
	return 0;
}

int dom_expect(struct dom_run *r, int fd, const char *who, int want, void *buf,
	       uint32_t size, int timeout_ms)
{
	/* Room for the payload or a text line, whichever is larger. */
	uint32_t cap = size > 600 ? size : 600;
	char *u = malloc(cap);
	int type, rc = PVIO_EXIT_FAIL;

	if (!u) {
		dom_fail(r, "no memory");
		return PVIO_EXIT_FAIL;
	}
	uint64_t deadline = dom_mono_ms() + (uint64_t)timeout_ms;
	bool forwarded = false;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (dom_mono_ms() >= deadline) {
			dom_fail(r, "the %s did not answer within %d s", who,
				 timeout_ms / 1000);
			goto out;
		}
		if (blk_stop_requested && !forwarded && r->front.pid > 0) {
			kill(r->front.pid, SIGINT);
			forwarded = true;
		}
		if (poll(&p, 1, 200) > 0)
			break;
	}
	uint32_t len = 0;

	type = blk_msg_recv(fd, u, cap, &len, 10000);
	if (type == want && len == size) {
		if (size)
			memcpy(buf, u, size);
		rc = 0;
	} else if (type == BLK_MSG_ERROR || type == BLK_MSG_USAGE) {
		u[len < cap ? len : cap - 1] = '\0';
		dom_fail(r, "%s: %s", who, u);
		rc = type == BLK_MSG_USAGE ? PVIO_EXIT_USAGE : PVIO_EXIT_FAIL;
	} else if (type == -EPIPE) {
		dom_fail(r, "the %s process exited unexpectedly", who);
	} else if (type < 0) {
		dom_fail(r, "reading from the %s: %s", who, strerror(-type));
	} else {
		dom_fail(r, "the %s sent an unexpected message (%d)", who, type);
	}
out:
	free(u);
	return rc;
}

int dom_device_create(struct dom_run *r, const char *kind, uint32_t fe,
		      uint32_t devid, const struct pvio_xenbus_device_keys *keys)
{
	int rc = pvio_xenbus_device_create(&r->ts, kind, 0, (pvio_domid_t)fe, devid,
					   keys);

	if (rc) {
		dom_fail(r, "creating %s %u for domain %u in the store: %s", kind,
			 devid, fe, strerror(-rc));
		return -1;
	}
	r->dev_kind = kind;
	r->dev_fe = fe;
	r->dev_id = devid;
	r->device = true;
	return 0;
}

void dom_cleanup(struct dom_run *r)
{
	/* Children first (they let go of their domains), then the device,
	 * then hostd. */
	close_fd(&r->front.ctl); /* EOF: no go */
	if (r->front.pid > 0)
		dom_reap(r->front.pid, 15000, SIGTERM);
	r->front.pid = 0;
	if (r->back.pid > 0) {
		close_fd(&r->back.ctl); /* EOF: stop */
		dom_reap(r->back.pid, 15000, 0);
	}
	r->back.pid = 0;
	if (r->device && r->ts_open)
		pvio_xenbus_device_destroy(&r->ts, r->dev_kind, 0,
					   (pvio_domid_t)r->dev_fe, r->dev_id);
	r->device = false;
	if (r->ts_open)
		pvio_xs_host_close(&r->ts_host);
	r->ts_open = false;
	if (r->hostd > 0)
		dom_reap(r->hostd, 10000, SIGTERM);
	r->hostd = 0;
	close_fd(&r->front.st);
	close_fd(&r->front.ctl);
	close_fd(&r->back.st);
	close_fd(&r->back.ctl);
	if (r->dir[0]) {
		char p[4200];

		snprintf(p, sizeof(p), "%s/hostd.lock", r->dir);
		unlink(p);
		rmdir(r->dir);
		r->dir[0] = '\0';
	}
}

/* ---------------------------------------------------------------- sides */

void dom_side_fail(const char *who, int status_fd, uint32_t type,
		   const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (status_fd >= 0)
		blk_msg_send(status_fd, type, msg, (uint32_t)strlen(msg) + 1);
	else
		fprintf(stderr, "pvio %s: %s\n", who, msg);
}

bool dom_stop_asked(int ctl_fd, int timeout_ms)
{
	if (blk_stop_requested)
		return true;
	if (ctl_fd >= 0) {
		struct pollfd p = { .fd = ctl_fd, .events = POLLIN };

		if (poll(&p, 1, timeout_ms) > 0)
			return true;
	} else {
		poll(NULL, 0, timeout_ms);
	}
	return blk_stop_requested != 0;
}

bool dom_wait_go(int fd)
{
	uint64_t deadline = dom_mono_ms() + 60000;
	char c;

	while (dom_mono_ms() < deadline && !blk_stop_requested) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (poll(&p, 1, 200) > 0)
			return read(fd, &c, 1) == 1;
	}
	return false;
}

int dom_wait_device(struct pvio_domain *d, const char *kind, uint32_t devid,
		    int wait_s)
{
	char dir[PVIO_XENBUS_PATH_MAX], path[PVIO_XENBUS_PATH_MAX + 16], val[256];
	uint64_t deadline = dom_mono_ms() + (uint64_t)wait_s * 1000u;
	int rc;

	rc = pvio_xenbus_frontend_path(dir, sizeof(dir), kind, d->domid, devid);
	if (rc == 0)
		rc = pvio_xs_join(path, sizeof(path), dir, "backend");
	if (rc)
		return rc;
	for (;;) {
		rc = pvio_xs_read(d->xs, PVIO_XS_TX_NONE, path, val, sizeof(val), NULL);
		if (rc != -ENOENT)
			return rc;
		if (blk_stop_requested)
			return -EINTR;
		if (dom_mono_ms() >= deadline)
			return -ETIMEDOUT;
		if (!pvio_domain_hostd_alive(d))
			return -ECONNRESET;
		poll(NULL, 0, 50);
	}
}

bool dom_node_exists(struct pvio_xs *xs, const char *path)
{
	char v[64];

	return pvio_xs_read(xs, PVIO_XS_TX_NONE, path, v, sizeof(v), NULL) != -ENOENT;
}
