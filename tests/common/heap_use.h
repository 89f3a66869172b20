/* SPDX-License-Identifier: MIT */
/*
 * What this process's heap holds, for the tests that say what a backend
 * gave back (tests/kill) or what it costs a guest (tests/scale). Static
 * inline: include it once per program.
 */
#ifndef PVIO_TEST_HEAP_USE_H
#define PVIO_TEST_HEAP_USE_H

#include <malloc.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HEAP_USE_SANITIZER 1
/* The sanitizer runtime's allocator interface
 * (<sanitizer/allocator_interface.h>, not installed with every gcc). */
size_t __sanitizer_get_current_allocated_bytes(void);
size_t __sanitizer_get_heap_size(void);
#endif

struct heap_use {
	uint64_t in_use; /* bytes handed out by malloc and not freed */
	uint64_t arena;  /* bytes the allocator holds from the system */
};

/* Both figures from one look, over every malloc arena. */
static inline struct heap_use heap_use(void)
{
	struct heap_use h;
#ifdef HEAP_USE_SANITIZER
	/* ASan's and TSan's allocators replace glibc's: mallinfo2() would
	 * read 0 (kill_blk_frontend's heap check failed under TSan). */
	h.in_use = __sanitizer_get_current_allocated_bytes();
	h.arena = __sanitizer_get_heap_size();
#else
	struct mallinfo2 mi = mallinfo2();

	h.in_use = mi.uordblks + mi.hblkhd;
	h.arena = mi.arena + mi.hblkhd;
#endif
	return h;
}

#endif /* PVIO_TEST_HEAP_USE_H */
