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

#include <stdbool.h>
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

/*
 * Stop and join the worker and give the calling thread back the affinity it
 * had before start (children it forks later must not inherit front_cpu).
 * Safe to call when it is not running.
 */
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

/* ---- suites grant and evtchn (grant_bench.c, evtchn_bench.c) ---------- */

/* One timed run of a single-sided or a two-process body. */
struct pvio_bench_local_result {
	uint64_t ns;        /* wall time of the timed part */
	uint64_t ops;       /* pages (grant) or round trips (evtchn) timed */
	uint64_t offcpu_ns; /* longest time a benchmark thread or process spent
			     * off its CPU during the run (wall minus CPU) */
	uint64_t wakes;     /* evtchn: platform wake-ups sent (both sides) */
	int32_t status;     /* 0, or the body's first failure (-errno) */
};

/* Grant bodies, all on the calling thread (grant_bench.c). */
enum pvio_bench_grant_body {
	PVIO_BENCH_G_MEMCPY_HOT = 0, /* memcpy of bytes, one hot buffer */
	PVIO_BENCH_G_MEMCPY_COLD,    /* memcpy of bytes, cold pages */
	PVIO_BENCH_G_MAP1,           /* map+unmap one page */
	PVIO_BENCH_G_MAP32,          /* map+unmap a batch of 32 pages */
	PVIO_BENCH_G_COPY_HOT,       /* grant copy 4 KiB, same page */
	PVIO_BENCH_G_COPY_COLD,      /* grant copy 4 KiB, cold pages */
	PVIO_BENCH_G_CACHE_HIT,      /* persistent-cache get+put, hit */
	PVIO_BENCH_G_FLIP1,          /* transfer (flip) one page */
	PVIO_BENCH_G_FLIP32,         /* transfer a batch of 32 pages */
	PVIO_BENCH_G_REMAP,          /* mmap MAP_FIXED remap + first touch */
	PVIO_BENCH_G_NR
};

/* Pin the caller to cpu and build the machine memory, both domains and
 * their grants; cold_pages pages per domain for the cold bodies (64 MiB
 * is 16384). Returns 0, -EALREADY or -errno. */
int pvio_bench_grant_setup(int cpu, uint32_t cold_pages);
void pvio_bench_grant_teardown(void);
const char *pvio_bench_grant_body_name(enum pvio_bench_grant_body body);
/* Pages per step of the body (32 for the batches, else 1). */
uint64_t pvio_bench_grant_unit(enum pvio_bench_grant_body body);
/* count pages (rounded up to the unit); bytes only for the memcpy bodies
 * (1..4096; 4096 for the others). Returns 0 with res filled (check
 * res->status), -ENOTCONN (no setup) or -EINVAL. */
int pvio_bench_grant_run(enum pvio_bench_grant_body body, uint32_t bytes,
			 uint64_t count, struct pvio_bench_local_result *res);

/* Event channel bodies (evtchn_bench.c): the caller (CPU 0) and a forked
 * child pinned to CPU 1 bounce a notification. */
enum pvio_bench_evtchn_body {
	PVIO_BENCH_E_BLOCK = 0,  /* pvio_evtchn_wait, PVIO_EVTCHN_BLOCK */
	PVIO_BENCH_E_POLL,       /* PVIO_EVTCHN_POLL */
	PVIO_BENCH_E_ADAPTIVE,   /* PVIO_EVTCHN_ADAPTIVE */
	PVIO_BENCH_E_EVENTFD,    /* raw eventfd pair, blocking read */
	PVIO_BENCH_E_SPIN,       /* raw shared cache line, spinning */
	PVIO_BENCH_E_NR
};

const char *pvio_bench_evtchn_body_name(enum pvio_bench_evtchn_body body);
/* Round trips: at most count, stopping early after max_ns. The caller is
 * pinned to CPU 0, the child to CPU 1. Returns 0 with res filled (check
 * res->status), -EINVAL or -errno (fork, eventfd, region). */
int pvio_bench_evtchn_rt(enum pvio_bench_evtchn_body body, uint64_t count,
			 uint64_t max_ns, struct pvio_bench_local_result *res);
/* CPU the calling thread burns waiting wait_ns for an event that never
 * comes (BLOCK, POLL, ADAPTIVE; EVENTFD: poll() on an eventfd), as a
 * fraction of one CPU in *cpu_frac. Returns 0 or -errno. */
int pvio_bench_evtchn_idle(enum pvio_bench_evtchn_body body, uint64_t wait_ns,
			   double *cpu_frac);

/* Suites grant and evtchn (suite_grant.c, suite_evtchn.c on suite_common.c). */
struct pvio_bench_opts;
int pvio_bench_suite_grant(const struct pvio_bench_opts *opts);
int pvio_bench_suite_evtchn(const struct pvio_bench_opts *opts);
int pvio_bench_suite_net(const struct pvio_bench_opts *opts);
/* suite_blk.c: pvio blk vs fio, both run as programs (bench/README.md). */
int pvio_bench_suite_blk(const struct pvio_bench_opts *opts);

/*
 * The suite runner: pvio-bench SUITE [--quick] [--json] [--reps N].
 * Returns the process exit code: 0, 1 (failed run), 2 (bad usage).
 */
int pvio_bench_run(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* PVIO_BENCH_H */
