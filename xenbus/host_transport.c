/* SPDX-License-Identifier: MIT */
/*
 * The host transport: the store's Unix stream socket, with poll() for
 * timeouts. Not freestanding; built as the library pvio_xenbus_host so the
 * core library stays free of libc.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <pvio/tsan.h>
#include <pvio/xenbus.h>

static int host_send(void *ctx, const void *buf, size_t len)
{
	struct pvio_xs_host *h = ctx;
	const char *p = buf;

	pvio_tsan_wire_sent();
	while (len > 0) {
		ssize_t n = send(h->fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int host_recv(void *ctx, void *buf, size_t len, int timeout_ms)
{
	struct pvio_xs_host *h = ctx;

	for (;;) {
		struct pollfd pfd = { .fd = h->fd, .events = POLLIN };
		int r = poll(&pfd, 1, timeout_ms);
		ssize_t n;

		if (r < 0) {
			if (errno == EINTR)
				continue;   /* restarts the timeout: bounded by caller */
			return -errno;
		}
		if (r == 0)
			return -ETIMEDOUT;
		n = recv(h->fd, buf, len, 0);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		pvio_tsan_wire_received();
		return (int)n;
	}
}

static uint64_t host_now_ms(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const struct pvio_xs_transport_ops pvio_xs_host_ops = {
	.send = host_send,
	.recv = host_recv,
	.now_ms = host_now_ms,
};

int pvio_xs_host_connect(struct pvio_xs_host *h, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	h->fd = -1;
	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	h->fd = fd;
	return 0;
}

void pvio_xs_host_attach_fd(struct pvio_xs_host *h, int fd)
{
	h->fd = fd;
}

void pvio_xs_host_close(struct pvio_xs_host *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

int pvio_xs_host_open(struct pvio_xs_host *h, struct pvio_xs *xs,
		      const char *run_dir, struct pvio_xs_event *events,
		      uint32_t nr_events, int timeout_ms)
{
	char path[PATH_MAX];
	int n, rc;

	if (!h)
		return -EINVAL;
	h->fd = -1;
	if (!xs || !run_dir || !events || nr_events == 0)
		return -EINVAL;
	n = snprintf(path, sizeof(path), "%s/socket", run_dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	rc = pvio_xs_host_connect(h, path);
	if (rc)
		return rc;
	rc = pvio_xs_init(xs, &pvio_xs_host_ops, h, events, nr_events);
	if (rc) {
		pvio_xs_host_close(h);
		return rc;
	}
	pvio_xs_set_timeout(xs, timeout_ms);
	return 0;
}
