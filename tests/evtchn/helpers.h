/* SPDX-License-Identifier: MIT */
/* Shared by the evtchn tests: a region with domains and a fake platform. */
#ifndef PVIO_TEST_EVTCHN_HELPERS_H
#define PVIO_TEST_EVTCHN_HELPERS_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <pvio/evtchn.h>

/* A platform that never sleeps: sleep() jumps the clock to the deadline
 * and times out; wake() counts. fake_ops has only the waiter-0 functions
 * (sleep/wake: a table from before waiters); fake_on_ops has only
 * sleep_on/wake_on. */
struct fake_plat {
	int wakes;
	pvio_domid_t last_woken;
	uint32_t last_waiter;          /* set by wake_on only */
	_Atomic uint32_t *last_word;   /* the word the last wake was given */
	int sleeps;
	uint64_t now;
};

static inline int fake_sleep(void *ctx, pvio_domid_t self, _Atomic uint32_t *word,
			     uint32_t val, uint64_t deadline)
{
	struct fake_plat *f = ctx;

	(void)self;
	f->sleeps++;
	if (atomic_load(word) != val)
		return 0;
	if (deadline != PVIO_EVTCHN_FOREVER && deadline > f->now)
		f->now = deadline;
	return -ETIMEDOUT;
}

static inline int fake_wake(void *ctx, pvio_domid_t dom, _Atomic uint32_t *word)
{
	struct fake_plat *f = ctx;

	f->wakes++;
	f->last_woken = dom;
	f->last_word = word;
	return 0;
}

static inline int fake_sleep_on(void *ctx, pvio_domid_t self, uint32_t waiter,
				_Atomic uint32_t *word, uint32_t val, uint64_t deadline)
{
	(void)waiter;
	return fake_sleep(ctx, self, word, val, deadline);
}

static inline int fake_wake_on(void *ctx, pvio_domid_t dom, uint32_t waiter,
			       _Atomic uint32_t *word)
{
	struct fake_plat *f = ctx;

	f->last_waiter = waiter;
	return fake_wake(ctx, dom, word);
}

static inline uint64_t fake_now(void *ctx)
{
	struct fake_plat *f = ctx;

	return f->now += 1000; /* time passes while polling */
}

static const struct pvio_evtchn_wait_ops fake_ops = {
	.name = "fake", .sleep = fake_sleep, .wake = fake_wake, .now_ns = fake_now,
};

static const struct pvio_evtchn_wait_ops fake_on_ops = {
	.name = "fake_on", .now_ns = fake_now,
	.sleep_on = fake_sleep_on, .wake_on = fake_wake_on,
};

#define TEST_NR_DOMS 4

/* Domains 0, 1, 2 alive; 3 never created. */
struct fixture {
	void *mem;
	size_t bytes;
	struct fake_plat plat;
	struct pvio_evtchn h[3];
};

static inline int fixture_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->bytes = pvio_evtchn_region_size(TEST_NR_DOMS);
	fx->mem = aligned_alloc(4096, fx->bytes);
	if (!fx->mem)
		return -1;
	memset(fx->mem, 0, fx->bytes);
	if (pvio_evtchn_region_init(fx->mem, fx->bytes, TEST_NR_DOMS))
		return -1;
	for (pvio_domid_t d = 0; d < 3; d++) {
		if (pvio_evtchn_domain_create(fx->mem, d))
			return -1;
		if (pvio_evtchn_attach(&fx->h[d], fx->mem, fx->bytes, d, &fake_ops, &fx->plat))
			return -1;
	}
	*state = fx;
	return 0;
}

static inline int fixture_teardown(void **state)
{
	struct fixture *fx = *state;

	free(fx->mem);
	free(fx);
	return 0;
}

#endif
