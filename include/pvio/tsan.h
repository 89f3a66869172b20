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
 * - Objects handed over by a library TSan cannot see into: DPDK's rings
 *   and ethdev queues synchronise with plain accesses and compiler
 *   barriers (x86's ordering), much of it inside uninstrumented libraries.
 *   Where an mbuf (or a pointer pvio gave DPDK, as a zero-copy mbuf's
 *   free-callback argument) goes into DPDK in one thread and comes out in
 *   another, pvio_tsan_release(obj) / pvio_tsan_release_each() before the
 *   hand-over and pvio_tsan_acquire(obj) / pvio_tsan_acquire_each() where
 *   it comes out state the order DPDK guarantees: everything the sender
 *   did before (the packet's bytes too) is before what the receiver does.
 *   The same for the mempool: release before freeing an mbuf that was
 *   used, acquire after allocating one.
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

static inline void pvio_tsan_release(void *obj)
{
	__tsan_release(obj);
}

static inline void pvio_tsan_acquire(void *obj)
{
	__tsan_acquire(obj);
}

static inline void pvio_tsan_release_each(void *const *objs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		__tsan_release(objs[i]);
}

static inline void pvio_tsan_acquire_each(void *const *objs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		__tsan_acquire(objs[i]);
}
#else
static inline void pvio_tsan_wire_sent(void)
{
}

static inline void pvio_tsan_wire_received(void)
{
}

static inline void pvio_tsan_release(void *obj)
{
	(void)obj;
}

static inline void pvio_tsan_acquire(void *obj)
{
	(void)obj;
}

static inline void pvio_tsan_release_each(void *const *objs, unsigned n)
{
	(void)objs;
	(void)n;
}

static inline void pvio_tsan_acquire_each(void *const *objs, unsigned n)
{
	(void)objs;
	(void)n;
}
#endif

#endif /* PVIO_TSAN_H */
