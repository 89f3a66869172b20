/* SPDX-License-Identifier: MIT */
/*
 * ThreadSanitizer support for the host platform. TSan sees one process
 * and models its synchronisation by address and by file descriptor; two
 * places where the host platform defeats that model are fixed here, in
 * TSan builds only (PVIO_TSAN 1). Normal builds compile to nothing.
 *
 * - Two mappings of one memfd (domains of one process attaching the same
 *   pool): see PVIO_SHM_ONE_VIEW in <pvio/host.h>.
 * - Sockets passed with SCM_RIGHTS: TSan gives every received fd a fresh
 *   synchronisation object, so a send() on it and the recv() at the other
 *   end (the store daemon's socketpair end, in the same process when
 *   hostd runs domains as threads) do not pair, and everything a domain
 *   published before a store message looks unordered to its reader. The
 *   store's two transports (xenbus/host_transport.c and the daemon's
 *   connections) call pvio_tsan_wire_sent() before each send and
 *   pvio_tsan_wire_received() after each receive: one release/acquire
 *   object for every store socket, which is how TSan itself treats the
 *   sockets it creates (one object for all of them).
 */
#ifndef PVIO_TSAN_H
#define PVIO_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define PVIO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PVIO_TSAN 1
#endif
#endif
#ifndef PVIO_TSAN
#define PVIO_TSAN 0
#endif

#if PVIO_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
/* Weak: one object for the process, whichever libraries define it. */
__attribute__((weak)) char pvio_tsan_wire_sync;

static inline void pvio_tsan_wire_sent(void)
{
	__tsan_release(&pvio_tsan_wire_sync);
}

static inline void pvio_tsan_wire_received(void)
{
	__tsan_acquire(&pvio_tsan_wire_sync);
}
#else
static inline void pvio_tsan_wire_sent(void)
{
}

static inline void pvio_tsan_wire_received(void)
{
}
#endif

#endif /* PVIO_TSAN_H */
