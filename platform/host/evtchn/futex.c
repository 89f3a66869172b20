/* SPDX-License-Identifier: MIT */
/* Event channel sleep/wake on a futex: each waiter's sleeping word in the
 * domain's shared page. */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <pvio/evtchn_host.h>
#include <pvio/host.h>

static int futex_sleep(void *ctx, pvio_domid_t self, _Atomic uint32_t *word,
		       uint32_t val, uint64_t deadline_ns)
{
	struct timespec ts, *tsp = NULL;

	(void)ctx;
	(void)self;
	if (deadline_ns != PVIO_EVTCHN_FOREVER) {
		ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
		ts.tv_nsec = (long)(deadline_ns % 1000000000u);
		tsp = &ts;
	}
	/* Not FUTEX_PRIVATE: the word is in a MAP_SHARED memfd page that
	 * other processes wait on and wake. The timeout is absolute on
	 * CLOCK_MONOTONIC (FUTEX_WAIT_BITSET without FUTEX_CLOCK_REALTIME). */
	long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, val, tsp,
			  NULL, FUTEX_BITSET_MATCH_ANY);
	if (rc == 0 || errno == EAGAIN) /* EAGAIN: *word != val already */
		return 0;
	return errno == ETIMEDOUT ? -ETIMEDOUT : errno == EINTR ? -EINTR : -errno;
}

static int futex_wake(void *ctx, pvio_domid_t dom, _Atomic uint32_t *word)
{
	(void)ctx;
	(void)dom;
	long rc = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	return rc < 0 ? -errno : 0;
}

/* Every waiter has its own word in the shared page: the word is the key,
 * the waiter number is not needed and no fd is. */
static int futex_sleep_on(void *ctx, pvio_domid_t self, uint32_t waiter,
			  _Atomic uint32_t *word, uint32_t val, uint64_t deadline_ns)
{
	(void)waiter;
	return futex_sleep(ctx, self, word, val, deadline_ns);
}

static int futex_wake_on(void *ctx, pvio_domid_t dom, uint32_t waiter,
			 _Atomic uint32_t *word)
{
	(void)waiter;
	return futex_wake(ctx, dom, word);
}

static uint64_t host_now(void *ctx)
{
	(void)ctx;
	return pvio_now_ns();
}

const struct pvio_evtchn_wait_ops pvio_evtchn_host_futex_ops = {
	.name = "futex",
	.sleep = futex_sleep,
	.wake = futex_wake,
	.now_ns = host_now,
	.sleep_on = futex_sleep_on,
	.wake_on = futex_wake_on,
};
