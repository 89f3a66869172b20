/* SPDX-License-Identifier: MIT */
/*
 * Event storms: a backend's defence against a frontend that notifies far
 * more often than it posts work (Xen's late EOI with spurious-event delay,
 * Linux drivers/xen/events lateeoi).
 *
 * A backend thread reports, after each event it was woken for, whether the
 * event led to any work. A run of more than `burst` consecutive events with
 * no work is a storm: from then on each further empty event earns a delay,
 * doubling from min_ns up to max_ns, during which the caller keeps the
 * port masked (the storm's notifies coalesce into one pending bit and wake
 * nobody), then unmasks it (a pending event is raised again, so nothing
 * posted meanwhile is lost) and looks at the ring. The first event that
 * brings work ends the storm. A storming device thus costs its thread at
 * most one empty wake-up per max_ns, and a well-behaved frontend, which
 * notifies only for work (plus the odd race-born spurious event), is never
 * delayed.
 *
 * Pure logic, freestanding: the caller masks, sleeps and unmasks.
 * One struct per port (per queue), used by that queue's thread only.
 */
#ifndef PVIO_EVTCHN_RATELIMIT_H
#define PVIO_EVTCHN_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#define PVIO_EVTCHN_RL_DEFAULT_BURST 64u
#define PVIO_EVTCHN_RL_DEFAULT_MIN_NS 100000ull    /* 100 us */
#define PVIO_EVTCHN_RL_DEFAULT_MAX_NS 20000000ull  /* 20 ms */

struct pvio_evtchn_ratelimit {
	uint32_t burst;       /* empty events tolerated in a row */
	uint32_t run;         /* empty events in a row now */
	uint64_t min_ns, max_ns;
	uint64_t delay_ns;    /* the last delay given; 0: not storming */
	uint64_t storms;      /* runs that crossed burst (counter) */
	uint64_t delays;      /* delays given (counter) */
};

/*
 * Set up rl. burst 0, min_ns 0 or max_ns 0 take the defaults above;
 * max_ns below min_ns is raised to min_ns. Any thread, before use.
 */
void pvio_evtchn_ratelimit_init(struct pvio_evtchn_ratelimit *rl, uint32_t burst,
				uint64_t min_ns, uint64_t max_ns);

/*
 * Report one event's outcome: work true if it led to any (a request
 * consumed, a response taken), false if it was empty. Returns the delay in
 * ns to keep the port masked before looking again (0: none). Sets
 * *storm_began (may be NULL) when this call starts a storm, so the caller
 * can log once per storm. The owning queue's thread only.
 */
uint64_t pvio_evtchn_ratelimit_note(struct pvio_evtchn_ratelimit *rl, bool work,
				    bool *storm_began);

/* ------------------------------------------------------------------------
 * Host (library pvio_evtchn_host, not freestanding): the pause itself, for
 * a backend's queue thread. It sleeps the calling thread with nanosleep():
 * the event channel's own sleep (struct pvio_evtchn_wait_ops) waits on a
 * domain's waiter, which the eventfd platform keys on the domain, not on
 * this thread, and the freestanding core has no other way to sleep.
 * ------------------------------------------------------------------------ */

struct pvio_evtchn;

/*
 * An event of a queue brought no work: note it in rl and, when the rate
 * limiter answers with a delay, mask ports[0..nr_ports) of h, sleep that
 * long, then unmask them in the same order (an event that came meanwhile
 * is raised again, so nothing posted in the pause is missed). A port
 * equal to an earlier one in ports[] is skipped (a queue whose tx and rx
 * share one). Logging and counting the pause stay with the caller.
 * The owning queue's thread only.
 * Returns the pause in ns, 0 when none was due (nothing masked);
 * *storm_began (may be NULL) as for pvio_evtchn_ratelimit_note().
 */
uint64_t pvio_evtchn_ratelimit_pause(struct pvio_evtchn *h,
				     struct pvio_evtchn_ratelimit *rl,
				     const uint32_t *ports, uint32_t nr_ports,
				     bool *storm_began);

#endif /* PVIO_EVTCHN_RATELIMIT_H */
