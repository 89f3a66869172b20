/* SPDX-License-Identifier: MIT */
/*
 * One frontend/backend exchange through pvio hostd, written once and run
 * both ways (DESIGN.md decision 6): as threads of the test process
 * (test_host_threads) and as processes (test_host_procs, against the real
 * `pvio hostd`). Each side is a domain that finds its peer through the
 * store, as drivers do:
 *
 *   front (guest "front")                  back (driver domain 0)
 *   4 ring pages + 1 data page, patterns
 *   grant all 5 to dom0, alloc_unbound(0)
 *   test/{ring-ref0..3,data-ref,port},
 *   test/state = ready          ---------> finds "front" ready (watch)
 *                                          bind_interdomain, map data page,
 *                                          map_ring 4 pages: patterns match;
 *                                          writes "hello from back" and a
 *                              <---------  ring marker; notify
 *   sees them; revoke data-ref: -EBUSY
 *   notify                      ---------> unmap data page, unmap ring
 *                              <---------  notify
 *   revoke every ref: 0
 *
 * Death variant: after its notify the backend watches @releaseDomain and
 * blocks in evtchn wait; the harness kills the frontend (SIGKILL, or a
 * disconnect in threads mode); the backend checks that its wait returned,
 * the port is unbound (notify -ENOTCONN), the mapping is still readable,
 * unmap works, @releaseDomain fired and /local/domain/<fe> is gone, then
 * exchanges events with a second guest ("front2") that lived throughout.
 *
 * Sides report failures on stderr (one line naming the check) and return
 * -1; 0 on success. No CMocka inside: they run in threads and children.
 */
#ifndef PVIO_TESTS_HOST_EXCHANGE_H
#define PVIO_TESTS_HOST_EXCHANGE_H

#include <stdbool.h>

struct xchg {
	const char *run_dir;
	bool death;    /* the death variant */
	int ready_fd;  /* back (death): writes 'B' before blocking;
			  front2: writes 'R' once its port is published */
	int kill_fd;   /* front (death): -1 to block until SIGKILLed, else
			  read one byte and disconnect without cleaning up */
};

int xchg_front(const struct xchg *x);
int xchg_back(const struct xchg *x);
int xchg_front2(const struct xchg *x);

/* Generous bound on every wait, against hangs only. */
#define XCHG_TIMEOUT_MS 60000

#endif
