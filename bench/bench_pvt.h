/* SPDX-License-Identifier: MIT */
/*
 * Private to bench/ (C only): the message every ring case carries, the
 * worker thread's job interface, the run plan and the stall guard.
 */
#ifndef PVIO_BENCH_PVT_H
#define PVIO_BENCH_PVT_H

#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/atomic.h>

#include "bench.h"

/*
 * Each side's private state starts on its own 128-byte boundary: 64 keeps
 * it off the peer's lines, 128 also keeps the adjacent-line prefetcher from
 * pulling the peer's line along with ours.
 */
#define PVIO_BENCH_ALIGN 128

/*
 * A 64-byte message, one slot. The frontend writes a sequence number into
 * each request, the backend copies the whole request out (each API's own
 * copy: pvio_ring_back_get_req, RING_COPY_REQUEST, the rte_ring dequeue)
 * and answers seq + 1, the frontend copies the response out and checks it.
 * Every implementation moves and touches the same bytes; the rest of the
 * slot is payload nobody reads (the compiler may drop its copy, equally for
 * every implementation).
 */
struct pvio_bench_msg {
	uint64_t seq;
	uint64_t payload[7];
};
_Static_assert(sizeof(struct pvio_bench_msg) == PVIO_BENCH_MSG_BYTES,
	       "a message is one 64-byte slot");

static inline void pvio_bench_msg_fill(struct pvio_bench_msg *req, uint64_t seq)
{
	req->seq = seq;
}

static inline void pvio_bench_msg_answer(struct pvio_bench_msg *rsp,
					 const struct pvio_bench_msg *req)
{
	rsp->seq = req->seq + 1;
}

/* True when rsp is not the answer to request seq. */
static inline bool pvio_bench_msg_bad(const struct pvio_bench_msg *rsp,
				      uint64_t seq)
{
	return rsp->seq != seq + 1;
}

/* A checked pvio_bench_ring_cfg, in requests. */
struct pvio_bench_plan {
	uint32_t batch;
	uint32_t window;
	uint64_t warm;  /* requests before the clock starts; multiple of batch */
	uint64_t total; /* warm + timed requests; multiple of batch */
};

/* Returns 0 or -EINVAL. */
int pvio_bench_plan_make(const struct pvio_bench_ring_cfg *cfg,
			 struct pvio_bench_plan *plan);

/*
 * The stop line both sides of a run share. Written once, by the side that
 * gives up; read only from idle spins (every PVIO_BENCH_SPIN_MASK + 1).
 */
struct pvio_bench_ctl {
	alignas(PVIO_BENCH_ALIGN) _Atomic uint32_t abort;
};

#define PVIO_BENCH_SPIN_MASK 0xffffu
#define PVIO_BENCH_STALL_NS  (5ull * 1000000000ull)

/*
 * Called from an idle spin every PVIO_BENCH_SPIN_MASK + 1 iterations;
 * *since is 0 at the start of each wait. True when the wait must end: the
 * peer aborted, or nothing arrived for PVIO_BENCH_STALL_NS (then this side
 * sets the abort flag).
 */
bool pvio_bench_spin_stalled(struct pvio_bench_ctl *ctl, uint64_t *since);

/* The status of a run from both sides' codes: a real failure wins over the
 * other side's -ETIMEDOUT (which usually only means "my peer gave up"). */
static inline int32_t pvio_bench_status(int front_rc, int back_rc)
{
	if (front_rc < 0 && front_rc != -ETIMEDOUT)
		return front_rc;
	if (back_rc < 0)
		return back_rc;
	return front_rc < 0 ? front_rc : 0;
}

/* Ring memory: one page-aligned shared mapping (a memfd, as between domains). */
void *pvio_bench_shm_alloc(size_t bytes);
void pvio_bench_shm_free(void *mem, size_t bytes);

/* Memory for a side-state struct, aligned to PVIO_BENCH_ALIGN and zeroed. */
void *pvio_bench_state_alloc(size_t bytes);

/*
 * The worker (backend) thread. post() hands it fn(arg) and returns at once;
 * wait() spins until that job is done. One job at a time, from the thread
 * that started the worker. Returns 0 or -ENOTCONN (no worker).
 */
typedef void (*pvio_bench_job_fn)(void *arg);
int pvio_bench_worker_post(pvio_bench_job_fn fn, void *arg);
void pvio_bench_worker_wait(void);

/* Wall time minus the worker's CPU time during its last job, in ns. */
uint64_t pvio_bench_worker_offcpu_ns(void);

/* CPU time of the calling thread, in ns. */
uint64_t pvio_bench_thread_cpu_ns(void);

/* The bodies behind pvio_bench_ring_run(), one per implementation. */
int pvio_bench_ring_run_pvio(const struct pvio_bench_plan *plan,
			     struct pvio_bench_ring_result *res);
int pvio_bench_ring_run_xen(const struct pvio_bench_plan *plan,
			    struct pvio_bench_ring_result *res);
int pvio_bench_ring_run_dpdk(const struct pvio_bench_plan *plan,
			     struct pvio_bench_ring_result *res);
int pvio_bench_pingpong_run(const struct pvio_bench_plan *plan,
			    struct pvio_bench_ring_result *res);

/*
 * Bare ping-pong in chunks: after warm round trips, chunks chunks of
 * per_chunk round trips each, chunk_ns[i] the wall time of chunk i.
 * Returns 0, -EINVAL, -ENOMEM, -ENOTCONN or -ETIMEDOUT.
 */
int pvio_bench_pingpong_chunks(uint32_t warm, uint32_t chunks,
			       uint32_t per_chunk, uint64_t *chunk_ns);

/* The suites pvio_bench_run() dispatches to. Same exit codes. */
struct pvio_bench_opts {
	bool quick;
	bool json;
	bool smoke;    /* PVIO_BENCH_SMOKE=1: tiny repetitions, behaviour only */
	unsigned reps; /* 0: the suite's default */
};
int pvio_bench_suite_ring(const struct pvio_bench_opts *opts);

#endif /* PVIO_BENCH_PVT_H */
