/* SPDX-License-Identifier: MIT */
/*
 * The host platform's basic services: shared memory between processes,
 * CPU placement and clocks. Only code under platform/, tools/, bench/ and
 * tests/ includes this; the core layers stay freestanding.
 *
 * Every function returns 0 or a negative errno unless it says otherwise.
 */
#ifndef PVIO_HOST_H
#define PVIO_HOST_H

#include <stddef.h>
#include <stdint.h>

/*
 * Create an anonymous shared memory object of bytes (rounded up to pages),
 * zero-filled, and map it read-write. *fd receives the memfd (the caller
 * owns it and may pass it to another process); *mem the mapping.
 * Returns 0, -EINVAL (bytes 0), or the errno of memfd_create/ftruncate/mmap.
 */
int pvio_shm_create(const char *name, size_t bytes, int *fd, void **mem);

/* Map bytes of an existing shared memory fd read-write. 0 or -errno. */
int pvio_shm_map(int fd, size_t bytes, void **mem);

/* Undo pvio_shm_map()/pvio_shm_create()'s mapping. 0 or -errno. */
int pvio_shm_unmap(void *mem, size_t bytes);

/* Pin the calling thread to one CPU. 0, -EINVAL (no such CPU), -errno. */
int pvio_cpu_pin(int cpu);

/* Number of CPUs this process may run on (>= 1). */
int pvio_cpu_count(void);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t pvio_now_ns(void);

#endif /* PVIO_HOST_H */
