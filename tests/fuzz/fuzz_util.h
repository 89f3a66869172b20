/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the fuzz targets: a reader over the fuzzer's bytes
 * (every read past the end yields zeros, so any input is a valid script)
 * and FZ_CHECK, the harness's own oracle: an invariant of the code under
 * test that failed aborts, which libFuzzer reports as a crash.
 */
#ifndef PVIO_FUZZ_UTIL_H
#define PVIO_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#define FZ_CHECK(cond)                                                        \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",      \
				__FILE__, __LINE__, #cond);                   \
			abort();                                              \
		}                                                             \
	} while (0)

struct fz {
	const uint8_t *p;
	size_t n, off;
};

/*
 * The reader is the harness's, not code under test: it is left out of the
 * coverage instrumentation (ASan still checks it). Its length comparisons
 * taught the fuzzer nothing, and their callbacks, one per byte field read,
 * were a fifth of fuzz_netback_tx's time and a tenth of
 * fuzz_blkback_ring's.
 */
#define FZ_READER static inline __attribute__((no_sanitize("coverage")))
/* The same for other harness functions (the fuzz platform's allocator). */
#define FZ_HARNESS __attribute__((no_sanitize("coverage")))

FZ_READER void fz_init(struct fz *f, const uint8_t *p, size_t n)
{
	f->p = p;
	f->n = n;
	f->off = 0;
}

FZ_READER size_t fz_left(const struct fz *f)
{
	return f->n - f->off;
}

/* Copy len bytes out (zero-filled past the end). */
FZ_READER void fz_bytes(struct fz *f, void *out, size_t len)
{
	size_t k = fz_left(f) < len ? fz_left(f) : len;

	memcpy(out, f->p + f->off, k);
	memset((uint8_t *)out + k, 0, len - k);
	f->off += k;
}

FZ_READER uint8_t fz_u8(struct fz *f)
{
	return f->off < f->n ? f->p[f->off++] : 0;
}

FZ_READER uint16_t fz_u16(struct fz *f)
{
	uint16_t v;

	fz_bytes(f, &v, 2);
	return v;
}

FZ_READER uint32_t fz_u32(struct fz *f)
{
	uint32_t v;

	fz_bytes(f, &v, 4);
	return v;
}

FZ_READER uint64_t fz_u64(struct fz *f)
{
	uint64_t v;

	fz_bytes(f, &v, 8);
	return v;
}

/* PVIO_FUZZ_DEBUG set: harnesses narrate what they do (corpus work). */
static inline int fz_debug(void)
{
	static int on = -1;

	if (on < 0)
		on = getenv("PVIO_FUZZ_DEBUG") != NULL;
	return on;
}

/*
 * Callers' buffers kept for the whole run. A fresh malloc per buffer was
 * served by mmap (big ones) or by memory ASan's quarantine had not yet
 * handed back, with a page fault per page, and filled by the allocator:
 * a large part of fuzz_front_rsp's time. A buffer of len bytes ends where
 * its arena of cap bytes ends, so an overrun hits the allocator's redzone
 * as before; the rest of the arena is poisoned while the buffer is in use
 * (an underrun is caught to within the 8-byte granule), and all of it once
 * the buffer is given back with fz_arena_put().
 */
static inline FZ_HARNESS void *fz_arena_get(unsigned char **arena, size_t cap, size_t len)
{
	unsigned char *a = *arena;

	if (!a) {
		a = *arena = malloc(cap);
		FZ_CHECK(a);
	}
	FZ_CHECK(len <= cap);
	ASAN_POISON_MEMORY_REGION(a, cap - len);
	ASAN_UNPOISON_MEMORY_REGION(a + cap - len, len);
	return a + cap - len;
}

static inline FZ_HARNESS void fz_arena_put(unsigned char *arena, size_t cap)
{
	if (arena)
		ASAN_POISON_MEMORY_REGION(arena, cap);
}

/* At exit, so that LeakSanitizer sees a clean process. */
static inline void fz_arenas_free(unsigned char **arena, size_t n, size_t cap)
{
	for (size_t i = 0; i < n; i++) {
		if (arena[i])
			ASAN_UNPOISON_MEMORY_REGION(arena[i], cap);
		free(arena[i]);
		arena[i] = NULL;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#endif /* PVIO_FUZZ_UTIL_H */
