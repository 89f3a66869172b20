/* SPDX-License-Identifier: MIT */
/*
 * Event channels on the host platform: the region in a memfd, and two ways
 * for a domain to sleep and be woken (struct pvio_evtchn_wait_ops).
 *
 *  - futex (the default): a waiter sleeps with FUTEX_WAIT_BITSET on its
 *    own sleeping word in the shared page (one per waiter), a notifier
 *    wakes it with FUTEX_WAKE on the same word. The memfd is MAP_SHARED, so
 *    the futex is keyed by the file page and works across processes and
 *    threads alike, with nothing to pass but the region's fd, for any
 *    number of waiters. One syscall to sleep, one to wake.
 *  - eventfd: one eventfd per domain waiter (created only for the waiters
 *    used); its owner polls it to sleep, any notifier writes it to wake.
 *    Costs ppoll + read to sleep and needs the fds passed (inherited or
 *    SCM_RIGHTS), but the fd can join an epoll set with other work (a
 *    backend serving many domains from one loop).
 *
 * Measured (evtchn-bench-raw, tests/evtchn/, two processes, a loaded
 * 2-vCPU machine, medians): raw futex ping-pong 40 us vs raw eventfd 99 us;
 * evtchn BLOCK round trip 103 us on futex vs 940 us on eventfd; the hammer
 * test, unloaded, 0.56 s on futex vs 0.92 s on eventfd for the same work.
 * So futex is the default; eventfd stays for epoll integration.
 * Only code under platform/, tools/, bench/ and tests/ includes this header.
 */
#ifndef PVIO_EVTCHN_HOST_H
#define PVIO_EVTCHN_HOST_H

#include <stddef.h>
#include <stdint.h>

#include <pvio/evtchn.h>

/* Futex sleep/wake for every waiter; ctx is unused (pass NULL). */
extern const struct pvio_evtchn_wait_ops pvio_evtchn_host_futex_ops;

/* Eventfd sleep/wake (sleep_on/wake_on per waiter); ctx is a struct
 * pvio_evtchn_host_efd. */
extern const struct pvio_evtchn_wait_ops pvio_evtchn_host_eventfd_ops;

/*
 * The eventfd table: fd[domid] is domain domid's waiter 0 eventfd or -1;
 * wfd[domid * PVIO_EVTCHN_NR_WAITERS + w] is its waiter w's (w >= 1; the
 * w = 0 entries are unused) or -1. Filled by the functions below only.
 * A waiter without an eventfd cannot sleep: its BLOCK/ADAPTIVE wait fails
 * with -EINVAL, and notifies to it do not wake it.
 */
struct pvio_evtchn_host_efd {
	int *fd;
	uint32_t nr;
	int *wfd;
};

/* Allocate a table for nr_domains domains, all -1. 0, -EINVAL, -ENOMEM. */
int pvio_evtchn_host_efd_init(struct pvio_evtchn_host_efd *e, uint32_t nr_domains);
/* Create domain domid's (waiter 0) eventfd (non-blocking, close-on-exec;
 * inherited by fork). 0, -EINVAL (domid out of range or already set),
 * -errno. */
int pvio_evtchn_host_efd_create(struct pvio_evtchn_host_efd *e, pvio_domid_t domid);
/* The same for waiter of domid. 0, -EINVAL (domid or waiter out of range,
 * already set), -errno. */
int pvio_evtchn_host_efd_create_on(struct pvio_evtchn_host_efd *e, pvio_domid_t domid,
				   uint32_t waiter);
/* Adopt fd (received over SCM_RIGHTS) as domid's (waiter 0) eventfd; the
 * table owns it. 0, -EINVAL. */
int pvio_evtchn_host_efd_set(struct pvio_evtchn_host_efd *e, pvio_domid_t domid, int fd);
/* The same for waiter of domid. 0, -EINVAL. */
int pvio_evtchn_host_efd_set_on(struct pvio_evtchn_host_efd *e, pvio_domid_t domid,
				uint32_t waiter, int fd);
/* The eventfd of domid's waiter (to pass it on, or to add it to an epoll
 * set: readable when the waiter is woken), or -1. The table keeps it. */
int pvio_evtchn_host_efd_get(const struct pvio_evtchn_host_efd *e, pvio_domid_t domid,
			     uint32_t waiter);
/* Close every fd and free the table. */
void pvio_evtchn_host_efd_fini(struct pvio_evtchn_host_efd *e);

/*
 * Create a region for nr_domains domains in a new memfd and format it.
 * *fd receives the memfd (close-on-exec; pass it or let fork inherit the
 * mapping), *mem the mapping, *bytes its size.
 * Returns 0, -EINVAL (nr_domains 0 or > PVIO_EVTCHN_MAX_DOMAINS), -errno.
 */
int pvio_evtchn_host_region_create(uint32_t nr_domains, int *fd, void **mem,
				   size_t *bytes);
/* Map a region received as fd; *bytes is the memfd's size.
 * Returns 0, -EINVAL (not a region), -errno. */
int pvio_evtchn_host_region_map(int fd, void **mem, size_t *bytes);
/* Unmap a region mapped by either function above. 0 or -errno. */
int pvio_evtchn_host_region_unmap(void *mem, size_t bytes);

#endif /* PVIO_EVTCHN_HOST_H */
