/* SPDX-License-Identifier: MIT */
/* Event channel sleep/wake on one eventfd per domain waiter. */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <pvio/evtchn_host.h>
#include <pvio/host.h>

/* The slot of domid's waiter: fd[domid] for waiter 0, wfd[] otherwise;
 * NULL when out of range. */
static int *efd_slot(const struct pvio_evtchn_host_efd *e, pvio_domid_t domid,
		     uint32_t waiter)
{
	if (!e || !e->fd || domid >= e->nr || waiter >= PVIO_EVTCHN_NR_WAITERS)
		return NULL;
	if (waiter == 0)
		return &e->fd[domid];
	if (!e->wfd)
		return NULL;
	return &e->wfd[(size_t)domid * PVIO_EVTCHN_NR_WAITERS + waiter];
}

int pvio_evtchn_host_efd_init(struct pvio_evtchn_host_efd *e, uint32_t nr_domains)
{
	if (!e || nr_domains == 0 || nr_domains > PVIO_EVTCHN_MAX_DOMAINS)
		return -EINVAL;
	size_t nw = (size_t)nr_domains * PVIO_EVTCHN_NR_WAITERS;
	e->fd = malloc(sizeof(int) * nr_domains);
	e->wfd = malloc(sizeof(int) * nw);
	if (!e->fd || !e->wfd) {
		free(e->fd);
		free(e->wfd);
		e->fd = NULL;
		e->wfd = NULL;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nr_domains; i++)
		e->fd[i] = -1;
	for (size_t i = 0; i < nw; i++)
		e->wfd[i] = -1;
	e->nr = nr_domains;
	return 0;
}

int pvio_evtchn_host_efd_create_on(struct pvio_evtchn_host_efd *e, pvio_domid_t domid,
				   uint32_t waiter)
{
	int *slot = efd_slot(e, domid, waiter);

	if (!slot || *slot >= 0)
		return -EINVAL;
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	*slot = fd;
	return 0;
}

int pvio_evtchn_host_efd_create(struct pvio_evtchn_host_efd *e, pvio_domid_t domid)
{
	return pvio_evtchn_host_efd_create_on(e, domid, 0);
}

int pvio_evtchn_host_efd_set_on(struct pvio_evtchn_host_efd *e, pvio_domid_t domid,
				uint32_t waiter, int fd)
{
	int *slot = efd_slot(e, domid, waiter);

	if (!slot || fd < 0)
		return -EINVAL;
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
	return 0;
}

int pvio_evtchn_host_efd_set(struct pvio_evtchn_host_efd *e, pvio_domid_t domid, int fd)
{
	return pvio_evtchn_host_efd_set_on(e, domid, 0, fd);
}

int pvio_evtchn_host_efd_get(const struct pvio_evtchn_host_efd *e, pvio_domid_t domid,
			     uint32_t waiter)
{
	int *slot = efd_slot(e, domid, waiter);

	return slot ? *slot : -1;
}

void pvio_evtchn_host_efd_fini(struct pvio_evtchn_host_efd *e)
{
	if (!e || !e->fd)
		return;
	for (uint32_t i = 0; i < e->nr; i++)
		if (e->fd[i] >= 0)
			close(e->fd[i]);
	if (e->wfd)
		for (size_t i = 0; i < (size_t)e->nr * PVIO_EVTCHN_NR_WAITERS; i++)
			if (e->wfd[i] >= 0)
				close(e->wfd[i]);
	free(e->fd);
	free(e->wfd);
	e->fd = NULL;
	e->wfd = NULL;
	e->nr = 0;
}

static int efd_sleep_on(void *ctx, pvio_domid_t self, uint32_t waiter,
			_Atomic uint32_t *word, uint32_t val, uint64_t deadline_ns)
{
	int *slot = efd_slot(ctx, self, waiter);
	struct timespec ts, *tsp = NULL;

	if (!slot || *slot < 0)
		return -EINVAL;
	int fd = *slot;
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
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int rc = ppoll(&pfd, 1, tsp, NULL);
	if (rc < 0)
		return errno == EINTR ? -EINTR : -errno;
	if (rc == 0)
		return -ETIMEDOUT;
	uint64_t v;
	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static int efd_wake_on(void *ctx, pvio_domid_t dom, uint32_t waiter,
		       _Atomic uint32_t *word)
{
	int *slot = efd_slot(ctx, dom, waiter);
	uint64_t one = 1;

	(void)word;
	if (!slot || *slot < 0)
		return -EINVAL;
	if (write(*slot, &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static int efd_sleep(void *ctx, pvio_domid_t self, _Atomic uint32_t *word,
		     uint32_t val, uint64_t deadline_ns)
{
	return efd_sleep_on(ctx, self, 0, word, val, deadline_ns);
}

static int efd_wake(void *ctx, pvio_domid_t dom, _Atomic uint32_t *word)
{
	return efd_wake_on(ctx, dom, 0, word);
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
	.sleep_on = efd_sleep_on,
	.wake_on = efd_wake_on,
};
