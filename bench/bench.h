/* SPDX-License-Identifier: MIT */
/*
 * pvio-bench: the benchmark bodies, as plain C functions.
 *
 * This header is what the C++ shim (bench_main.cc) sees, so it holds only
 * plain functions, enums and structs of fixed-width integers: no _Atomic,
 * no inline code, nothing from <pvio/ring.h>. The bodies live in
 * ring_bench.c (pvio), ring_bench_xen.c (Xen's io/ring.h macros),
 * ring_bench_dpdk.c (rte_ring), pingpong.c (the bare cache-line floor);
 * regime.c labels repetitions near/far; runner.c is the suite runner.
 *
 * Threads: every run uses two threads, the caller (frontend) and one
 * worker thread (backend) started by pvio_bench_worker_start(). Call
 * everything here from the thread that started the worker.
 *
 * Returns: 0 or a negative errno unless a function says otherwise.
 */
#ifndef PVIO_BENCH_H
#define PVIO_BENCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ring geometry every ring case uses: one page, 32 slots of 64 bytes. */
#define PVIO_BENCH_RING_BYTES 4096u
#define PVIO_BENCH_RING_SLOTS 32u
#define PVIO_BENCH_MSG_BYTES  64u

/* What a run drives. */
enum pvio_bench_impl {
	PVIO_BENCH_PVIO = 0, /* pvio's ring API (ring_bench.c) */
	PVIO_BENCH_XEN,      /* Xen io/ring.h macros (ring_bench_xen.c) */
	PVIO_BENCH_DPDK,     /* rte_ring SP/SC request + response rings */
	PVIO_BENCH_BARE,     /* bare cache-line ping-pong (batch 1, window 1) */
	PVIO_BENCH_NR_IMPL
};

/* "pvio", "xen", "dpdk", "pingpong"; "?" for anything else. */
const char *pvio_bench_impl_name(enum pvio_bench_impl impl);

/*
 * One run. The frontend keeps at most window requests in flight; it fills
 * batch requests, pushes them once, and when no further batch fits it
 * collects batch responses (the oldest). window 32 is the throughput shape
 * (the ring kept as full as batches allow), window 1 with batch 1 is the
 * one-in-flight ping-pong. warmup round trips run before the clock starts,
 * in the same loop, so the timed part starts in steady state. warmup and
 * count are rounded up to multiples of batch.
 */
struct pvio_bench_ring_cfg {
	uint32_t batch;  /* 1..32 */
	uint32_t window; /* batch..32 */
	uint64_t warmup; /* round trips, untimed */
	uint64_t count;  /* round trips, timed; >= 1 */
};

struct pvio_bench_ring_result {
	uint64_t ns;          /* wall time of the timed round trips */
	uint64_t round_trips; /* timed round trips (request answered) */
	uint64_t requests;    /* every request sent, warm-up included */
	uint64_t front_kicks; /* pushes after which the backend needed a kick */
	uint64_t back_kicks;  /* pushes after which the frontend needed a kick */
	uint64_t errors;      /* wrong responses, protocol errors, stalls */
	uint64_t offcpu_ns;   /* the longer time either thread spent off
			       * its CPU during the run (wall minus thread
			       * CPU time): another task ran there */
	int32_t status;       /* 0, or the first failure of either side:
			       * -EPROTO (peer broke the ring protocol),
			       * -ETIMEDOUT (no progress for 5 s) */
};

/*
 * Pin the calling thread to front_cpu and start the backend worker thread
 * pinned to back_cpu; it spins waiting for work (no sleeping between runs).
 * Returns 0, -EALREADY, -EINVAL (no such CPU) or another -errno.
 */
int pvio_bench_worker_start(int front_cpu, int back_cpu);

/* Stop and join the worker. Safe to call when it is not running. */
void pvio_bench_worker_stop(void);

/*
 * Run one case to completion on the pinned pair. Returns 0 with *res
 * filled (check res->errors), -EINVAL (bad cfg or impl), -ENOTCONN (no
 * worker), -ENOMEM, or the ring's own error. DPDK reports no kicks (it
 * has no notification protocol): front_kicks = back_kicks = 0.
 */
int pvio_bench_ring_run(enum pvio_bench_impl impl,
			const struct pvio_bench_ring_cfg *cfg,
			struct pvio_bench_ring_result *res);

/* Placement regime of the two CPUs, from a bare ping-pong probe. */
enum pvio_bench_regime {
	PVIO_BENCH_NEAR = 0, /* cores share a cache: RTT below the threshold */
	PVIO_BENCH_FAR,      /* RTT at or above it */
	PVIO_BENCH_MIXED,    /* before and after a repetition disagree */
	PVIO_BENCH_BUSY,     /* another task took a run's CPU (> 2% of it) */
	PVIO_BENCH_NR_REGIME
};

/* Threshold between near and far, in ns of cache-line round trip. */
#define PVIO_BENCH_NEAR_MAX_NS 150.0

/*
 * Measure the bare cache-line round trip now: 2048 round trips in 16
 * chunks, returning the median chunk's mean RTT in ns (< 1 ms in all).
 * Returns a negative value (-errno) when the worker is not running.
 */
double pvio_bench_regime_probe(void);

/* Label a repetition from the probes taken before and after it. */
enum pvio_bench_regime pvio_bench_regime_of(double before_ns, double after_ns);

/* "near", "far", "mixed", "busy". */
const char *pvio_bench_regime_name(enum pvio_bench_regime regime);

/*
 * The suite runner: pvio-bench SUITE [--quick] [--json] [--reps N].
 * Returns the process exit code: 0, 1 (failed run), 2 (bad usage).
 */
int pvio_bench_run(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* PVIO_BENCH_H */
