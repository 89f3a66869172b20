/* SPDX-License-Identifier: MIT */
/* The event-storm pause on the host (see <pvio/evtchn_ratelimit.h>). */
#include <stdbool.h>
#include <time.h>

#include <pvio/evtchn.h>
#include <pvio/evtchn_ratelimit.h>

/* Whether ports[i] already stood earlier in ports[]. */
static bool seen_before(const uint32_t *ports, uint32_t i)
{
	for (uint32_t k = 0; k < i; k++)
		if (ports[k] == ports[i])
			return true;
	return false;
}

uint64_t pvio_evtchn_ratelimit_pause(struct pvio_evtchn *h,
				     struct pvio_evtchn_ratelimit *rl,
				     const uint32_t *ports, uint32_t nr_ports,
				     bool *storm_began)
{
	uint64_t ns = pvio_evtchn_ratelimit_note(rl, false, storm_began);
	struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

	if (!ns)
		return 0;
	for (uint32_t i = 0; i < nr_ports; i++)
		if (!seen_before(ports, i))
			(void)pvio_evtchn_mask(h, ports[i]);
	/* A signal cuts the pause short: the ring is looked at early, no harm. */
	nanosleep(&ts, NULL);
	for (uint32_t i = 0; i < nr_ports; i++)
		if (!seen_before(ports, i))
			(void)pvio_evtchn_unmask(h, ports[i]);
	return ns;
}
