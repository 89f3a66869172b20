/* SPDX-License-Identifier: MIT */
/* The registry of a driver's event-channel waiters (see
 * <pvio/evtchn_waiter_reg.h>). */
#include <stdbool.h>
#include <stddef.h>

#include <pvio/evtchn.h>
#include <pvio/evtchn_waiter_reg.h>

_Static_assert(PVIO_EVTCHN_NR_WAITERS % 64 == 0, "a handle's waiters fill the used bitmap");

static bool is_used(const uint64_t *used, uint32_t w)
{
	return used[w / 64] & (UINT64_C(1) << (w % 64));
}

static bool none_used(const uint64_t *used)
{
	for (uint32_t i = 0; i < PVIO_EVTCHN_NR_WAITERS / 64; i++)
		if (used[i])
			return false;
	return true;
}

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
			if (!is_used(reg->slot[slot].used, k)) {
				reg->slot[slot].used[k / 64] |= UINT64_C(1) << (k % 64);
				w = k;
				break;
			}
			if (k == reg->last)
				break;
		}
		if (none_used(reg->slot[slot].used))
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
			reg->slot[i].used[w / 64] &= ~(UINT64_C(1) << (w % 64));
			if (none_used(reg->slot[i].used))
				reg->slot[i].h = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&reg->lock);
}
