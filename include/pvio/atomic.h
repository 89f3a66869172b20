/* SPDX-License-Identifier: MIT */
/*
 * Named atomics for memory shared with another domain.
 *
 * Every shared index in pvio is an _Atomic uint32_t and is touched only
 * through these helpers, so that each ordering point in the code has a name
 * and a comment saying what it pairs with (R1 pairs with A1, F1 with F2).
 * On x86-64 acquire/release compile to plain moves; the "fenced" pair is the
 * only one that costs a locked instruction, and is used only where the
 * event-index protocol needs a store to be visible before a later load.
 *
 * Freestanding: needs only <stdatomic.h> and <stdint.h>.
 */
#ifndef PVIO_ATOMIC_H
#define PVIO_ATOMIC_H

#include <stdatomic.h>
#include <stdint.h>

/* Whether this is a ThreadSanitizer build (gcc defines the macro, clang
 * answers __has_feature). */
#if defined(__SANITIZE_THREAD__)
#define PVIO_ATOMIC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PVIO_ATOMIC_TSAN 1
#endif
#endif
#ifndef PVIO_ATOMIC_TSAN
#define PVIO_ATOMIC_TSAN 0
#endif

/* Load a peer-written index; later loads of data it publishes see that data. */
static inline uint32_t pvio_load_acquire(const _Atomic uint32_t *p)
{
	return atomic_load_explicit(p, memory_order_acquire);
}

/* Load with no ordering: for a value only this side writes, or statistics. */
static inline uint32_t pvio_load_relaxed(const _Atomic uint32_t *p)
{
	return atomic_load_explicit(p, memory_order_relaxed);
}

/* Publish an index: every earlier store (the slots) is visible first. */
static inline void pvio_store_release(_Atomic uint32_t *p, uint32_t v)
{
	atomic_store_explicit(p, v, memory_order_release);
}

static inline void pvio_store_relaxed(_Atomic uint32_t *p, uint32_t v)
{
	atomic_store_explicit(p, v, memory_order_relaxed);
}

/*
 * Store, then act as a full fence before any later pvio_load_fenced().
 * This is the "store; mb(); load" of Xen's event-index protocol: of two
 * sides that each do store_fenced(A) then load_fenced(B) (and B, A), at
 * least one sees the other's store. The store is also a release (the slots
 * are visible first).
 *
 * On x86-64 the fence is a locked add of 0 to the top of our own stack, as
 * Linux's mb() for a Xen guest: a locked instruction drains the store
 * buffer, so the index store is globally visible before any later load
 * (the StoreLoad order the protocol needs), and nothing else is touched.
 * It is cheaper than the xchg of a seq_cst store, which must own the
 * contended header line for the whole locked operation, and than mfence
 * (what clang emits for a C11 seq_cst fence). Elsewhere, and under TSan
 * (which must see a C11 operation), a seq_cst store: on ARMv8 stlr, which
 * a later ldar (the seq_cst load below) does not pass.
 */
static inline void pvio_store_fenced(_Atomic uint32_t *p, uint32_t v)
{
#if (defined(__x86_64__) || defined(__i386__)) && !PVIO_ATOMIC_TSAN
	atomic_store_explicit(p, v, memory_order_release);
#if defined(__x86_64__)
	__asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc");
#else
	__asm__ __volatile__("lock; addl $0,-4(%%esp)" ::: "memory", "cc");
#endif
#else
	atomic_store_explicit(p, v, memory_order_seq_cst);
#endif
}

/* The load half of the pair above. */
static inline uint32_t pvio_load_fenced(const _Atomic uint32_t *p)
{
	return atomic_load_explicit(p, memory_order_seq_cst);
}

/* A full fence, for code that must order plain stores before plain loads. */
static inline void pvio_fence_full(void)
{
	atomic_thread_fence(memory_order_seq_cst);
}

/*
 * Ask for the cache line at p in exclusive state: we will read it and then
 * write it. Fetching a peer-written slot this way costs one transfer where
 * a read followed by a write costs a transfer and an invalidation.
 * PREFETCHW is a no-op on x86-64 CPUs that lack it; it never faults.
 */
static inline void pvio_prefetch_for_write(const void *p)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("prefetchw %0" : : "m"(*(const char *)p));
#else
	__builtin_prefetch(p, 1, 3);
#endif
}

/* Tell the CPU we are spinning (cheaper for the sibling hyperthread). */
static inline void pvio_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

#endif /* PVIO_ATOMIC_H */
