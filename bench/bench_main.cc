// SPDX-License-Identifier: MIT
//
// The only C++ in bench/: Google Benchmark registrations over the C bodies,
// and main(). `pvio-bench --gbench [--benchmark_*]` runs the registrations;
// anything else goes to the C suite runner (runner.c), which is the tool
// that compares pvio with its baselines (interleaved, regime-labelled).
// The registrations run one body at a time and are for profiling one path.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bench.h"

namespace {

void run_case(benchmark::State &st, pvio_bench_impl impl,
	      const pvio_bench_ring_cfg &cfg, bool latency)
{
	uint64_t rts = 0, reqs = 0, kicks = 0, offcpu = 0, timed = 0;
	double probe_sum = 0;
	unsigned probes = 0, near = 0;

	for (auto _ : st) {
		// The regime probe is outside the manual timing.
		double pp = pvio_bench_regime_probe();
		pvio_bench_ring_result res;
		int err = pvio_bench_ring_run(impl, &cfg, &res);

		if (err || res.errors || pp < 0) {
			st.SkipWithError(err ? "run failed" : "wrong responses or stall");
			break;
		}
		st.SetIterationTime((double)res.ns * 1e-9);
		rts += res.round_trips;
		reqs += res.requests;
		kicks += res.front_kicks + res.back_kicks;
		offcpu += res.offcpu_ns;
		timed += res.ns;
		probe_sum += pp;
		probes++;
		near += pp < PVIO_BENCH_NEAR_MAX_NS;
	}
	using benchmark::Counter;
	if (latency)
		st.counters["s/rt"] = Counter((double)rts,
					      Counter::kIsRate | Counter::kInvert);
	else
		st.counters["rt/s"] = Counter((double)rts, Counter::kIsRate);
	if (impl == PVIO_BENCH_PVIO || impl == PVIO_BENCH_XEN)
		st.counters["kicks/req"] = reqs ? (double)kicks / (double)reqs : 0;
	st.counters["probe_ns"] = probes ? probe_sum / probes : 0;
	st.counters["near"] = probes ? (double)near / probes : 0;
	st.counters["offcpu"] = timed ? (double)offcpu / (double)timed : 0;
}

void ring_rt(benchmark::State &st, pvio_bench_impl impl)
{
	pvio_bench_ring_cfg cfg{};

	cfg.batch = (uint32_t)st.range(0);
	cfg.window = PVIO_BENCH_RING_SLOTS;
	cfg.warmup = 4096;
	cfg.count = 1u << 18;
	run_case(st, impl, cfg, false);
}

void ring_rtt(benchmark::State &st, pvio_bench_impl impl)
{
	pvio_bench_ring_cfg cfg{};

	cfg.batch = 1;
	cfg.window = 1;
	cfg.warmup = 1024;
	cfg.count = 1u << 15;
	run_case(st, impl, cfg, true);
}

void rate_args(benchmark::internal::Benchmark *b)
{
	b->ArgName("batch");
	for (int batch : { 1, 4, 8, 16, 32 })
		b->Arg(batch);
	b->UseManualTime();
}

// Suite grant's bodies, one thread on CPU 0 (pvio_bench_grant_setup pins
// it; the worker is not used). ns per page via manual time.
void grant_body(benchmark::State &st, pvio_bench_grant_body body, uint32_t bytes)
{
	static bool up;
	uint64_t pages = 0;

	if (!up && pvio_bench_grant_setup(0, 16384) == 0)
		up = true;
	if (!up) {
		st.SkipWithError("grant setup failed");
		return;
	}
	for (auto _ : st) {
		pvio_bench_local_result res;
		if (pvio_bench_grant_run(body, bytes, 1u << 14, &res) || res.status) {
			st.SkipWithError("grant run failed");
			break;
		}
		st.SetIterationTime((double)res.ns * 1e-9);
		pages += res.ops;
	}
	st.counters["s/page"] = benchmark::Counter((double)pages,
		benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// Suite evtchn's round trips: the caller on CPU 0, a forked child on CPU 1.
// Needs CPU 1 free: run with --benchmark_filter=evtchn alone.
void evtchn_rt(benchmark::State &st, pvio_bench_evtchn_body body)
{
	uint64_t rts = 0, wakes = 0;
	uint64_t count = body == PVIO_BENCH_E_BLOCK || body == PVIO_BENCH_E_EVENTFD ?
				 1000 : 20000;

	// The spinning worker would take the child's CPU: off while we run.
	pvio_bench_worker_stop();
	for (auto _ : st) {
		pvio_bench_local_result res;
		if (pvio_bench_evtchn_rt(body, count, 1000000000ull, &res) || res.status) {
			st.SkipWithError("evtchn run failed");
			break;
		}
		st.SetIterationTime((double)res.ns * 1e-9);
		rts += res.ops;
		wakes += res.wakes;
	}
	st.counters["s/rt"] = benchmark::Counter((double)rts,
		benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
	st.counters["wakes/rt"] = rts ? (double)wakes / (double)rts : 0;
	if (pvio_bench_worker_start(0, 1))
		st.SkipWithError("cannot restart the worker");
}

} // namespace

BENCHMARK_CAPTURE(grant_body, map1, PVIO_BENCH_G_MAP1, 4096u)->UseManualTime();
BENCHMARK_CAPTURE(grant_body, map32, PVIO_BENCH_G_MAP32, 4096u)->UseManualTime();
BENCHMARK_CAPTURE(grant_body, copy_hot, PVIO_BENCH_G_COPY_HOT, 4096u)->UseManualTime();
BENCHMARK_CAPTURE(grant_body, copy_cold, PVIO_BENCH_G_COPY_COLD, 4096u)->UseManualTime();
BENCHMARK_CAPTURE(grant_body, memcpy_hot, PVIO_BENCH_G_MEMCPY_HOT, 4096u)->UseManualTime();
BENCHMARK_CAPTURE(grant_body, memcpy_cold, PVIO_BENCH_G_MEMCPY_COLD, 4096u)->UseManualTime();
BENCHMARK_CAPTURE(grant_body, cache_hit, PVIO_BENCH_G_CACHE_HIT, 4096u)->UseManualTime();
BENCHMARK_CAPTURE(grant_body, flip1, PVIO_BENCH_G_FLIP1, 4096u)->UseManualTime();
BENCHMARK_CAPTURE(grant_body, flip32, PVIO_BENCH_G_FLIP32, 4096u)->UseManualTime();
BENCHMARK_CAPTURE(grant_body, remap, PVIO_BENCH_G_REMAP, 4096u)->UseManualTime();
BENCHMARK_CAPTURE(evtchn_rt, block, PVIO_BENCH_E_BLOCK)->UseManualTime();
BENCHMARK_CAPTURE(evtchn_rt, poll, PVIO_BENCH_E_POLL)->UseManualTime();
BENCHMARK_CAPTURE(evtchn_rt, adaptive, PVIO_BENCH_E_ADAPTIVE)->UseManualTime();
BENCHMARK_CAPTURE(evtchn_rt, eventfd, PVIO_BENCH_E_EVENTFD)->UseManualTime();
BENCHMARK_CAPTURE(evtchn_rt, spin, PVIO_BENCH_E_SPIN)->UseManualTime();

BENCHMARK_CAPTURE(ring_rt, pvio, PVIO_BENCH_PVIO)->Apply(rate_args);
BENCHMARK_CAPTURE(ring_rt, xen, PVIO_BENCH_XEN)->Apply(rate_args);
BENCHMARK_CAPTURE(ring_rt, dpdk, PVIO_BENCH_DPDK)->Apply(rate_args);
BENCHMARK_CAPTURE(ring_rtt, pvio, PVIO_BENCH_PVIO)->UseManualTime();
BENCHMARK_CAPTURE(ring_rtt, xen, PVIO_BENCH_XEN)->UseManualTime();
BENCHMARK_CAPTURE(ring_rtt, pingpong, PVIO_BENCH_BARE)->UseManualTime();

int main(int argc, char **argv)
{
	std::vector<char *> args;
	bool gbench = false;

	args.push_back(argv[0]);
	for (int i = 1; i < argc; i++) {
		if (!std::strcmp(argv[i], "--gbench"))
			gbench = true;
		else
			args.push_back(argv[i]);
	}
	if (!gbench)
		return pvio_bench_run(argc, argv);

	int n = (int)args.size();
	args.push_back(nullptr);
	benchmark::Initialize(&n, args.data());
	if (benchmark::ReportUnrecognizedArguments(n, args.data()))
		return 2;
	int err = pvio_bench_worker_start(0, 1);
	if (err) {
		std::fprintf(stderr, "pvio-bench: cannot pin the thread pair to "
			     "CPUs 0 and 1: %s\n", std::strerror(-err));
		return 1;
	}
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	pvio_bench_worker_stop();
	return 0;
}
