/* SPDX-License-Identifier: MIT */
/* The registry of a driver's event-channel waiters (see
 * <pvio/evtchn_waiter_reg.h>). */
#include <stddef.h>

#include <pvio/evtchn.h>
#include <pvio/evtchn_waiter_reg.h>

_Static_assert(PVIO_EVTCHN_NR_WAITERS <= 32, "a handle's waiters fit the used bitmap");

uint32_t pvio_evtchn_waiter_reg_get(struct pvio_evtchn_waiter_reg *reg,
				    const struct pvio_evtchn *h)
{
	uint32_t w = PVIO_EVTCHN_NO_WAITER;
	int step = reg->first <= reg->last ? 1 : -1;
	size_t slot = SIZE_MAX;

	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < PVIO_EVTCHN_WAITER_REG_HANDLES; i++) {
		if (reg->slot[i].h == h) {
			slot = i;
			break;
		}
		if (!reg->slot[i].h && slot == SIZE_MAX)
			slot = i;
	}
	if (slot != SIZE_MAX) {
		reg->slot[slot].h = h;
		for (uint32_t k = reg->first;; k += (uint32_t)step) {
			if (!(reg->slot[slot].used & (1u << k))) {
				reg->slot[slot].used |= 1u << k;
				w = k;
				break;
			}
			if (k == reg->last)
				break;
		}
		if (!reg->slot[slot].used)
			reg->slot[slot].h = NULL;
	}
	pthread_mutex_unlock(&reg->lock);
	return w;
}

void pvio_evtchn_waiter_reg_put(struct pvio_evtchn_waiter_reg *reg,
				const struct pvio_evtchn *h, uint32_t w)
{
	if (w >= PVIO_EVTCHN_NR_WAITERS)
		return;
	pthread_mutex_lock(&reg->lock);
	for (size_t i = 0; i < PVIO_EVTCHN_WAITER_REG_HANDLES; i++) {
		if (reg->slot[i].h == h) {
			reg->slot[i].used &= ~(1u << w);
			if (!reg->slot[i].used)
				reg->slot[i].h = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&reg->lock);
}
