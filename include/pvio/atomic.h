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
 * This is the "store; mb(); load" of Xen's event-index protocol expressed
 * as a sequentially consistent store/load pair: of two sides that each do
 * store_fenced(A) then load_fenced(B) (and B, A), at least one sees the
 * other's store. A seq_cst store is one xchg on x86-64, cheaper than
 * mov + mfence, and it also has release semantics for the slots.
 */
static inline void pvio_store_fenced(_Atomic uint32_t *p, uint32_t v)
{
	atomic_store_explicit(p, v, memory_order_seq_cst);
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
