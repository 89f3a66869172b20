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

#include <pthread.h>
#include <stdbool.h>
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

/*
 * A thread that runs until asked to stop, as a backend device's control
 * thread: its function looks at pvio_host_thread_stopping() between
 * rounds and returns once it is true. Caller-allocated and zeroed (not
 * started); one owner starts and stops it, never from the thread itself.
 */
struct pvio_host_thread {
	pthread_t thread;
	_Atomic bool stop;
	bool started;
};

/* Run fn(arg) on a new thread. 0, -EINVAL (NULL t or fn), -EALREADY
 * (started and not stopped), or pthread_create()'s -errno. */
int pvio_host_thread_start(struct pvio_host_thread *t, void *(*fn)(void *),
			   void *arg);

/* Ask the thread to stop and join it. Nothing when not started (so safe
 * twice, and on NULL). */
void pvio_host_thread_stop(struct pvio_host_thread *t);

/* Whether the owner asked the thread to stop. Any thread. */
bool pvio_host_thread_stopping(struct pvio_host_thread *t);

#endif /* PVIO_HOST_H */
