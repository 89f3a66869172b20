/* SPDX-License-Identifier: MIT */
/*
 * Event channels for the ring fuzz targets: no shared pages, no sleeping.
 * A notify is counted; a wait (the driver found nothing to do) calls the
 * harness's idle hook, which stops the driver loop it is running. Ports
 * bind to 1; everything else succeeds.
 */
#include <string.h>

#include "fuzz_machine.h"

uint64_t fz_evtchn_notifies;
void (*fz_evtchn_idle)(void);
struct pvio_evtchn fz_evtchn_handle;

static void idle(void)
{
	if (fz_evtchn_idle)
		fz_evtchn_idle();
}

int pvio_evtchn_alloc_unbound(struct pvio_evtchn *h, pvio_domid_t remote_dom,
			      uint32_t *port)
{
	(void)h;
	(void)remote_dom;
	*port = 1;
	return 0;
}

int pvio_evtchn_bind_interdomain(struct pvio_evtchn *h, pvio_domid_t remote_dom,
				 uint32_t remote_port, uint32_t *local_port)
{
	(void)h;
	(void)remote_dom;
	(void)remote_port;
	*local_port = 1;
	return 0;
}

int pvio_evtchn_close(struct pvio_evtchn *h, uint32_t port)
{
	(void)h;
	(void)port;
	return 0;
}

int pvio_evtchn_bind_waiter(struct pvio_evtchn *h, uint32_t port, uint32_t waiter)
{
	(void)h;
	(void)port;
	(void)waiter;
	return 0;
}

int pvio_evtchn_notify(struct pvio_evtchn *h, uint32_t port)
{
	(void)h;
	(void)port;
	fz_evtchn_notifies++;
	return 0;
}

int pvio_evtchn_mask(struct pvio_evtchn *h, uint32_t port)
{
	(void)h;
	(void)port;
	return 0;
}

int pvio_evtchn_unmask(struct pvio_evtchn *h, uint32_t port)
{
	(void)h;
	(void)port;
	return 0;
}

int pvio_evtchn_test_and_clear(struct pvio_evtchn *h, uint32_t port)
{
	(void)h;
	(void)port;
	idle();
	return 0;
}

int pvio_evtchn_wait(struct pvio_evtchn *h, enum pvio_evtchn_wait_mode mode,
		     uint64_t timeout_ns, uint32_t *ports, uint32_t max)
{
	(void)h;
	(void)mode;
	(void)timeout_ns;
	(void)ports;
	(void)max;
	idle();
	return 0;
}

int pvio_evtchn_wait_on(struct pvio_evtchn *h, uint32_t waiter,
			enum pvio_evtchn_wait_mode mode, uint64_t timeout_ns,
			uint32_t *ports, uint32_t max)
{
	(void)h;
	(void)waiter;
	(void)mode;
	(void)timeout_ns;
	(void)ports;
	(void)max;
	idle();
	return 0;
}

int pvio_evtchn_stats_get_on(const struct pvio_evtchn *h, uint32_t waiter,
			     struct pvio_evtchn_stats *st)
{
	(void)h;
	(void)waiter;
	memset(st, 0, sizeof(*st));
	return 0;
}

void pvio_evtchn_stats_get(const struct pvio_evtchn *h, struct pvio_evtchn_stats *st)
{
	(void)h;
	memset(st, 0, sizeof(*st));
}

int pvio_evtchn_status(struct pvio_evtchn *h, uint32_t port,
		       struct pvio_evtchn_status *st)
{
	(void)h;
	(void)port;
	memset(st, 0, sizeof(*st));
	return 0;
}
