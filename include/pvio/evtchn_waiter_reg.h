/* SPDX-License-Identifier: MIT */
/*
 * Host (library pvio_evtchn_host, not freestanding): a process-wide
 * registry of the event-channel waiters a backend driver's queue threads
 * take on a domain's handle.
 *
 * Each queue thread waits on a waiter of its own (Xen's per-vCPU
 * delivery): its ports are routed there with pvio_evtchn_bind_waiter(),
 * so a kick wakes exactly that thread. Two threads on one waiter would
 * steal each other's events and leave one asleep until its timeout, so a
 * driver takes its waiters from a registry, and drivers that may share a
 * handle (blkback and netback in one driver domain) each own a registry
 * over a range of waiters the other's does not overlap. Waiter 0 stays
 * with whoever else uses the handle: no range should hold it.
 *
 * A registry only hands out numbers; it never touches the handle.
 */
#ifndef PVIO_EVTCHN_WAITER_REG_H
#define PVIO_EVTCHN_WAITER_REG_H

#include <pthread.h>
#include <stdint.h>

#include <pvio/evtchn.h>

/* What pvio_evtchn_waiter_reg_get() gives when no waiter is free. */
#define PVIO_EVTCHN_NO_WAITER UINT32_MAX

/* Handles one registry tracks at a time. */
#define PVIO_EVTCHN_WAITER_REG_HANDLES 16u

/*
 * Waiters first..last of every handle, handed out in that order (first >
 * last counts down). Both below PVIO_EVTCHN_NR_WAITERS. Define it static
 * with PVIO_EVTCHN_WAITER_REG_INIT(); its fields are the functions' own.
 */
struct pvio_evtchn_waiter_reg {
	pthread_mutex_t lock;
	uint32_t first, last;
	struct {
		const struct pvio_evtchn *h;  /* NULL: slot free */
		uint64_t used[PVIO_EVTCHN_NR_WAITERS / 64]; /* bit w: waiter w
							      * handed out */
	} slot[PVIO_EVTCHN_WAITER_REG_HANDLES];
};

#define PVIO_EVTCHN_WAITER_REG_INIT(first_, last_) \
	{ .lock = PTHREAD_MUTEX_INITIALIZER, .first = (first_), .last = (last_) }

/*
 * Take the first free waiter of the range on handle h. Returns its number,
 * or PVIO_EVTCHN_NO_WAITER when all of the range are taken on h or the
 * registry already tracks PVIO_EVTCHN_WAITER_REG_HANDLES other handles
 * (the caller then polls its ports instead of sleeping). Any thread.
 */
uint32_t pvio_evtchn_waiter_reg_get(struct pvio_evtchn_waiter_reg *reg,
				    const struct pvio_evtchn *h);

/*
 * Give back waiter w of handle h, taken with pvio_evtchn_waiter_reg_get();
 * PVIO_EVTCHN_NO_WAITER, or a w not held, is ignored. A handle's slot is
 * freed with its last waiter, so a handle closed afterwards leaves nothing
 * behind. Any thread.
 */
void pvio_evtchn_waiter_reg_put(struct pvio_evtchn_waiter_reg *reg,
				const struct pvio_evtchn *h, uint32_t w);

#endif /* PVIO_EVTCHN_WAITER_REG_H */
