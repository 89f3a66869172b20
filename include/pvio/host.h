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
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/tsan.h>

/*
 * PVIO_SHM_ONE_VIEW is 1 in ThreadSanitizer builds: there a process maps
 * each shared object once (pvio_shm_map() of an object it has mapped at
 * the same size returns that mapping, counted; the last pvio_shm_unmap()
 * unmaps it) and maps frames side by side by pointing into the pool
 * (<pvio/host_memory.h>), so that every domain of the process sees one
 * address per byte and TSan pairs their release/acquire. 0 otherwise:
 * one mapping per call, as on separate machines.
 */
#define PVIO_SHM_ONE_VIEW PVIO_TSAN

/*
 * Create an anonymous shared memory object of bytes (rounded up to pages),
 * zero-filled, and map it read-write. *fd receives the memfd (the caller
 * owns it and may pass it to another process); *mem the mapping.
 * Returns 0, -EINVAL (bytes 0), or the errno of memfd_create/ftruncate/mmap.
 */
int pvio_shm_create(const char *name, size_t bytes, int *fd, void **mem);

/* Map bytes of an existing shared memory fd read-write (see
 * PVIO_SHM_ONE_VIEW). 0 or -errno. */
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
 * thread or a queue's data-path thread: its function looks at
 * pvio_host_thread_stopping() between rounds and returns once it is true.
 * Caller-allocated and zeroed (not started); one owner starts and stops
 * it, never from the thread itself. A thread that sleeps on something
 * else (a condition variable, a poll) is stopped in three steps:
 * pvio_host_thread_ask_stop(), the owner's own wake-up, then
 * pvio_host_thread_stop() to join it.
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

/* Run fn(arg) on the calling thread, as if started (the stop request is
 * cleared first), and return when fn does: for a harness that drives
 * the thread's loop itself and ends it with pvio_host_thread_ask_stop()
 * from inside. 0, -EINVAL (NULL t or fn) or -EALREADY (started). */
int pvio_host_thread_run_here(struct pvio_host_thread *t,
			      void *(*fn)(void *), void *arg);

/* Ask the thread to stop without waiting for it. Any thread, the thread
 * itself included; nothing on NULL. */
void pvio_host_thread_ask_stop(struct pvio_host_thread *t);

/* Ask the thread to stop and join it. Nothing when not started (so safe
 * twice, and on NULL). */
void pvio_host_thread_stop(struct pvio_host_thread *t);

/* Whether the owner asked the thread to stop. Any thread; inline as data
 * path loops look at it on every round. */
static inline bool pvio_host_thread_stopping(const struct pvio_host_thread *t)
{
	/* A1: pairs with R1 in pvio_host_thread_ask_stop(): what the owner
	 * wrote before asking is seen by the loop that sees the request. */
	return atomic_load_explicit(&t->stop, memory_order_acquire);
}

/*
 * Whether polling pays. A backend's data-path thread polls (its ring, an
 * engine's completions) before it sleeps, which saves a wake-up of 40-55
 * us when the peer answers soon, but only when the poller has a CPU to
 * itself: with more threads awake than CPUs it keeps the peer it waits
 * for, or another queue's thread, from running, and the queues that poll
 * in step with their frontend take the machine from the rest (64 guests
 * on one backend, 2 CPUs: block Jain 0.40 polling against 0.79 sleeping,
 * and fewer IOPS in all). So the process counts its data-path threads
 * that are awake, and they poll only while that count is at most the
 * CPUs the process may run on.
 *
 * A data-path thread calls pvio_host_awake() when it starts and after
 * every sleep, and pvio_host_asleep() right before every sleep and when it
 * ends; pvio_host_polling_pays() before it polls. Any thread; lock-free.
 */
void pvio_host_awake(void);
void pvio_host_asleep(void);
bool pvio_host_polling_pays(void);

/*
 * Rate-limited logging for a backend device: at most per_sec lines in any
 * window of a second, so a frontend that misbehaves on every request
 * cannot flood the driver domain's log. A window opens with the first
 * line after the last one closed; lines beyond the limit within it are
 * dropped, not delayed. Caller-allocated; any thread once set up.
 */
struct pvio_host_ratelog {
	pthread_mutex_t lock;
	uint64_t window_ns;  /* when the current window opened */
	uint32_t count;      /* lines asked for in it */
	uint32_t per_sec;
};

/* Set up rl for per_sec lines a second (0: none printed). Before use. */
void pvio_host_ratelog_init(struct pvio_host_ratelog *rl, uint32_t per_sec);

/* Release what init took. No line may be in flight. */
void pvio_host_ratelog_fini(struct pvio_host_ratelog *rl);

/* Count one line asked for at now_ns (CLOCK_MONOTONIC, pvio_now_ns())
 * and say whether it may be printed. */
bool pvio_host_ratelog_allow(struct pvio_host_ratelog *rl, uint64_t now_ns);

/* Print fmt with ap and a newline on stderr if pvio_host_ratelog_allow()
 * lets it now. Returns whether it printed. The caller's message carries
 * its own prefix ("blkback 1/51200: ..."). */
bool pvio_host_ratelog_vprintf(struct pvio_host_ratelog *rl, const char *fmt,
			       va_list ap) __attribute__((format(printf, 2, 0)));

#endif /* PVIO_HOST_H */
