/* SPDX-License-Identifier: MIT */
/*
 * The pinned thread pair every cross-core run uses: the calling thread is
 * the frontend, one long-lived worker thread is the backend. The worker
 * spins on a mailbox between jobs instead of sleeping, so no run starts
 * with a 40-55 us wake-up, and no thread is created inside any run.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvio/host.h>

#include "bench_pvt.h"

/*
 * The mailbox. Its lines are touched only between runs: the frontend
 * writes job + go, the worker writes done.
 */
static struct {
	alignas(PVIO_BENCH_ALIGN) _Atomic uint32_t go; /* job sequence number */
	pvio_bench_job_fn fn;                          /* NULL: exit */
	void *arg;
	alignas(PVIO_BENCH_ALIGN) _Atomic uint32_t done; /* last job finished */
	uint64_t job_offcpu_ns;                          /* during that job */
	_Atomic int pin_rc;                              /* 1: not yet known */
	alignas(PVIO_BENCH_ALIGN) pthread_t thread;
	int back_cpu;
	bool running;
	bool caller_saved;
	cpu_set_t caller_cpus; /* the caller's affinity before we pinned it */
	uint32_t posted; /* frontend's count of jobs posted */
} mbox;

static void *worker_main(void *unused)
{
	uint32_t seen = 0;

	(void)unused;
	int rc = pvio_cpu_pin(mbox.back_cpu);
	atomic_store_explicit(&mbox.pin_rc, rc, memory_order_release);
	if (rc)
		return NULL;
	for (;;) {
		/* A1: pairs with R1 in pvio_bench_worker_post(). */
		while (pvio_load_acquire(&mbox.go) == seen)
			pvio_cpu_relax();
		seen++;
		pvio_bench_job_fn fn = mbox.fn;
		if (!fn)
			break;
		uint64_t wall = pvio_now_ns(), cpu = pvio_bench_thread_cpu_ns();
		fn(mbox.arg);
		wall = pvio_now_ns() - wall;
		cpu = pvio_bench_thread_cpu_ns() - cpu;
		mbox.job_offcpu_ns = wall > cpu ? wall - cpu : 0;
		/* R2: the job's results are visible first; pairs with A2. */
		pvio_store_release(&mbox.done, seen);
	}
	return NULL;
}

static void worker_unpin_caller(void)
{
	if (mbox.caller_saved)
		sched_setaffinity(0, sizeof(mbox.caller_cpus), &mbox.caller_cpus);
	mbox.caller_saved = false;
}

int pvio_bench_worker_start(int front_cpu, int back_cpu)
{
	int rc;

	if (mbox.running)
		return -EALREADY;
	/* Saved so that stop can give it back: processes the caller forks
	 * between runs (pvio net, pvio blk, fio) inherit its affinity, and
	 * would otherwise all share the frontend's one CPU. */
	mbox.caller_saved = !sched_getaffinity(0, sizeof(mbox.caller_cpus), &mbox.caller_cpus);
	rc = pvio_cpu_pin(front_cpu);
	if (rc)
		return rc;
	atomic_store(&mbox.go, 0);
	atomic_store(&mbox.done, 0);
	atomic_store(&mbox.pin_rc, 1);
	mbox.posted = 0;
	mbox.back_cpu = back_cpu;
	/* Born on its own CPU: under a real-time policy (chrt -f, inherited)
	 * a worker first placed on the spinning frontend's CPU would never
	 * run to pin itself. */
	pthread_attr_t attr;
	cpu_set_t set;
	if (back_cpu < 0 || back_cpu >= CPU_SETSIZE) {
		worker_unpin_caller();
		return -EINVAL;
	}
	CPU_ZERO(&set);
	CPU_SET(back_cpu, &set);
	rc = pthread_attr_init(&attr);
	if (rc)
		return -rc;
	rc = pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	if (!rc)
		rc = pthread_create(&mbox.thread, &attr, worker_main, NULL);
	pthread_attr_destroy(&attr);
	if (rc) {
		worker_unpin_caller();
		return -rc;
	}
	while ((rc = atomic_load_explicit(&mbox.pin_rc, memory_order_acquire)) == 1)
		pvio_cpu_relax();
	if (rc) {
		pthread_join(mbox.thread, NULL);
		worker_unpin_caller();
		return rc;
	}
	mbox.running = true;
	return 0;
}

int pvio_bench_worker_post(pvio_bench_job_fn fn, void *arg)
{
	if (!mbox.running)
		return -ENOTCONN;
	mbox.fn = fn;
	mbox.arg = arg;
	/* R1: fn and arg are visible before go; pairs with A1. */
	pvio_store_release(&mbox.go, ++mbox.posted);
	return 0;
}

void pvio_bench_worker_wait(void)
{
	if (!mbox.running)
		return;
	/* A2: pairs with R2 in worker_main(). */
	while (pvio_load_acquire(&mbox.done) != mbox.posted)
		pvio_cpu_relax();
}

uint64_t pvio_bench_worker_offcpu_ns(void)
{
	return mbox.job_offcpu_ns;
}

uint64_t pvio_bench_thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void pvio_bench_worker_stop(void)
{
	if (!mbox.running)
		return;
	pvio_bench_worker_wait();
	mbox.fn = NULL;
	mbox.arg = NULL;
	pvio_store_release(&mbox.go, ++mbox.posted);
	pthread_join(mbox.thread, NULL);
	mbox.running = false;
	worker_unpin_caller();
}

bool pvio_bench_spin_stalled(struct pvio_bench_ctl *ctl, uint64_t *since)
{
	if (pvio_load_relaxed(&ctl->abort))
		return true;
	uint64_t now = pvio_now_ns();
	if (!*since) {
		*since = now;
		return false;
	}
	if (now - *since < PVIO_BENCH_STALL_NS)
		return false;
	pvio_store_relaxed(&ctl->abort, 1);
	return true;
}

void *pvio_bench_shm_alloc(size_t bytes)
{
	void *mem;
	int fd;

	if (pvio_shm_create("pvio-bench-ring", bytes, &fd, &mem))
		return NULL;
	/* The mapping keeps the memory; nobody else needs the fd. */
	close(fd);
	return mem;
}

void pvio_bench_shm_free(void *mem, size_t bytes)
{
	if (mem)
		pvio_shm_unmap(mem, bytes);
}

void *pvio_bench_state_alloc(size_t bytes)
{
	size_t rounded = (bytes + PVIO_BENCH_ALIGN - 1) / PVIO_BENCH_ALIGN *
			 PVIO_BENCH_ALIGN;
	void *p = aligned_alloc(PVIO_BENCH_ALIGN, rounded);

	if (p)
		memset(p, 0, rounded);
	return p;
}
