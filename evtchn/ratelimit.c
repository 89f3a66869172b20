/* SPDX-License-Identifier: MIT */
/* Event-storm rate limiting (see <pvio/evtchn_ratelimit.h>). */
#include <pvio/evtchn_ratelimit.h>

void pvio_evtchn_ratelimit_init(struct pvio_evtchn_ratelimit *rl, uint32_t burst,
				uint64_t min_ns, uint64_t max_ns)
{
	rl->burst = burst ? burst : PVIO_EVTCHN_RL_DEFAULT_BURST;
	rl->min_ns = min_ns ? min_ns : PVIO_EVTCHN_RL_DEFAULT_MIN_NS;
	rl->max_ns = max_ns ? max_ns : PVIO_EVTCHN_RL_DEFAULT_MAX_NS;
	if (rl->max_ns < rl->min_ns)
		rl->max_ns = rl->min_ns;
	rl->run = 0;
	rl->delay_ns = 0;
	rl->storms = 0;
	rl->delays = 0;
}

uint64_t pvio_evtchn_ratelimit_note(struct pvio_evtchn_ratelimit *rl, bool work,
				    bool *storm_began)
{
	if (storm_began)
		*storm_began = false;
	if (work) {
		rl->run = 0;
		rl->delay_ns = 0;
		return 0;
	}
	if (rl->run < UINT32_MAX)
		rl->run++;
	if (rl->run <= rl->burst)
		return 0;
	if (rl->delay_ns == 0) {
		rl->delay_ns = rl->min_ns;
		rl->storms++;
		if (storm_began)
			*storm_began = true;
	} else {
		/* Doubling, capped: a storm that persists costs one empty
		 * wake-up per max_ns. */
		rl->delay_ns = rl->delay_ns > rl->max_ns / 2 ? rl->max_ns : rl->delay_ns * 2;
	}
	rl->delays++;
	return rl->delay_ns;
}
