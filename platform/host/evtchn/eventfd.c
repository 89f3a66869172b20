/* SPDX-License-Identifier: MIT */
/* Event channel sleep/wake on one eventfd per domain. */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <pvio/evtchn_host.h>
#include <pvio/host.h>

int pvio_evtchn_host_efd_init(struct pvio_evtchn_host_efd *e, uint32_t nr_domains)
{
	if (!e || nr_domains == 0 || nr_domains > PVIO_EVTCHN_MAX_DOMAINS)
		return -EINVAL;
	e->fd = malloc(sizeof(int) * nr_domains);
	if (!e->fd)
		return -ENOMEM;
	for (uint32_t i = 0; i < nr_domains; i++)
		e->fd[i] = -1;
	e->nr = nr_domains;
	return 0;
}

int pvio_evtchn_host_efd_create(struct pvio_evtchn_host_efd *e, pvio_domid_t domid)
{
	if (!e || !e->fd || domid >= e->nr || e->fd[domid] >= 0)
		return -EINVAL;
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	e->fd[domid] = fd;
	return 0;
}

int pvio_evtchn_host_efd_set(struct pvio_evtchn_host_efd *e, pvio_domid_t domid, int fd)
{
	if (!e || !e->fd || domid >= e->nr || fd < 0)
		return -EINVAL;
	if (e->fd[domid] >= 0)
		close(e->fd[domid]);
	e->fd[domid] = fd;
	return 0;
}

void pvio_evtchn_host_efd_fini(struct pvio_evtchn_host_efd *e)
{
	if (!e || !e->fd)
		return;
	for (uint32_t i = 0; i < e->nr; i++)
		if (e->fd[i] >= 0)
			close(e->fd[i]);
	free(e->fd);
	e->fd = NULL;
	e->nr = 0;
}

static int efd_sleep(void *ctx, pvio_domid_t self, _Atomic uint32_t *word,
		     uint32_t val, uint64_t deadline_ns)
{
	struct pvio_evtchn_host_efd *e = ctx;
	struct timespec ts, *tsp = NULL;

	if (!e || self >= e->nr || e->fd[self] < 0)
		return -EINVAL;
	if (atomic_load_explicit(word, memory_order_acquire) != val)
		return 0;
	if (deadline_ns != PVIO_EVTCHN_FOREVER) {
		uint64_t now = pvio_now_ns();
		uint64_t left = deadline_ns > now ? deadline_ns - now : 0;
		ts.tv_sec = (time_t)(left / 1000000000u);
		ts.tv_nsec = (long)(left % 1000000000u);
		tsp = &ts;
	}
	/* A write before this poll leaves the counter non-zero: not lost. */
	struct pollfd pfd = { .fd = e->fd[self], .events = POLLIN };
	int rc = ppoll(&pfd, 1, tsp, NULL);
	if (rc < 0)
		return errno == EINTR ? -EINTR : -errno;
	if (rc == 0)
		return -ETIMEDOUT;
	uint64_t v;
	if (read(e->fd[self], &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static int efd_wake(void *ctx, pvio_domid_t dom, _Atomic uint32_t *word)
{
	struct pvio_evtchn_host_efd *e = ctx;
	uint64_t one = 1;

	(void)word;
	if (!e || dom >= e->nr || e->fd[dom] < 0)
		return -EINVAL;
	if (write(e->fd[dom], &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static uint64_t host_now(void *ctx)
{
	(void)ctx;
	return pvio_now_ns();
}

const struct pvio_evtchn_wait_ops pvio_evtchn_host_eventfd_ops = {
	.name = "eventfd",
	.sleep = efd_sleep,
	.wake = efd_wake,
	.now_ns = host_now,
};
