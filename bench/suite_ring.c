/* SPDX-License-Identifier: MIT */
/*
 * Suite "ring": pvio's ring against Xen's io/ring.h macros and DPDK's
 * rte_ring, in one run, on CPUs 0 and 1, through the shared engine
 * (suite_common.c): each repetition runs every case's pvio body next to
 * its baselines, each bracketed by a bare ping-pong probe that labels it
 * near, far or mixed, and pvio is compared with a baseline only within one
 * label (BENCHMARKING.md section 1).
 *
 * Cases: round trips per second at batch 1, 4, 8, 16, 32 (window 32) vs
 * xen and dpdk; one-in-flight round-trip time vs xen and the bare
 * ping-pong; kicks per request vs xen at every batch (a second figure of
 * the rate runs).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "suite_common.h"

#define PROG "pvio-bench"

static const uint32_t rate_batches[] = { 1, 4, 8, 16, 32 };
#define NR_RATE (sizeof(rate_batches) / sizeof(rate_batches[0]))
#define NR_CASES (NR_RATE + 1) /* the rate cases, then rtt */
#define NR_IMPLS 3             /* per case: pvio, then two baselines */
#define NR_BODIES (NR_CASES * NR_IMPLS)
#define RTT_CASE NR_RATE
#define RTT_TARGET 1.5         /* rtt within 1.5x the bare ping-pong */

static const enum pvio_bench_impl rate_impls[NR_IMPLS] = {
	PVIO_BENCH_PVIO, PVIO_BENCH_XEN, PVIO_BENCH_DPDK,
};
static const enum pvio_bench_impl rtt_impls[NR_IMPLS] = {
	PVIO_BENCH_PVIO, PVIO_BENCH_XEN, PVIO_BENCH_BARE,
};

struct ring_ctx {
	char case_names[NR_CASES][24];
	char kick_names[NR_RATE][24];
	char body_names[NR_BODIES][32];
	const char *body_ptrs[NR_BODIES];
	struct pvio_bench_cmp_def cmps[NR_RATE * 3 + 2];
};

static unsigned body_of(unsigned c, unsigned i)
{
	return c * NR_IMPLS + i;
}

static enum pvio_bench_impl impl_of(unsigned body)
{
	unsigned c = body / NR_IMPLS, i = body % NR_IMPLS;

	return c == RTT_CASE ? rtt_impls[i] : rate_impls[i];
}

static void ring_ctx_init(struct ring_ctx *x)
{
	unsigned n = 0;

	for (unsigned c = 0; c < NR_CASES; c++) {
		if (c == RTT_CASE)
			snprintf(x->case_names[c], sizeof(x->case_names[c]), "rtt");
		else
			snprintf(x->case_names[c], sizeof(x->case_names[c]),
				 "rt/s batch=%u", rate_batches[c]);
		for (unsigned i = 0; i < NR_IMPLS; i++) {
			unsigned b = body_of(c, i);

			snprintf(x->body_names[b], sizeof(x->body_names[b]), "%s %s",
				 x->case_names[c], pvio_bench_impl_name(impl_of(b)));
			x->body_ptrs[b] = x->body_names[b];
		}
	}
	/* Rows in the order of the table: rates, rtt, then kicks. */
	for (unsigned c = 0; c < NR_CASES; c++) {
		for (unsigned i = 1; i < NR_IMPLS; i++)
			x->cmps[n++] = (struct pvio_bench_cmp_def){
				.name = x->case_names[c],
				.unit = c == RTT_CASE ? "ns" : "rt/s",
				.pvio = body_of(c, 0),
				.base = body_of(c, i),
				.baseline = pvio_bench_impl_name(impl_of(body_of(c, i))),
			};
	}
	for (unsigned c = 0; c < NR_RATE; c++) {
		snprintf(x->kick_names[c], sizeof(x->kick_names[c]),
			 "kicks/req batch=%u", rate_batches[c]);
		x->cmps[n++] = (struct pvio_bench_cmp_def){
			.name = x->kick_names[c],
			.unit = "kicks/req",
			.pvio = body_of(c, 0),
			.base = body_of(c, 1),
			.baseline = "xen",
			.aux = true,
		};
	}
}

/* Warm-up ahead of the timed part: a sixteenth, and at least four windows. */
static uint64_t warmup_for(uint32_t window, uint64_t count)
{
	uint64_t w = count / 16;

	return w < 4u * window ? 4u * window : w;
}

static int ring_run(void *ctx, unsigned body, uint64_t count,
		    struct pvio_bench_sample *s)
{
	struct ring_ctx *x = ctx;
	unsigned c = body / NR_IMPLS;
	struct pvio_bench_ring_cfg cfg = {
		.batch = c == RTT_CASE ? 1 : rate_batches[c],
		.window = c == RTT_CASE ? 1 : PVIO_BENCH_RING_SLOTS,
		.count = count,
	};
	struct pvio_bench_ring_result res = { 0 };

	cfg.warmup = warmup_for(cfg.window, count);
	int err = pvio_bench_ring_run(impl_of(body), &cfg, &res);
	if (err)
		return err;
	if (res.errors) {
		fprintf(stderr, PROG ": ring %s: %llu errors (%s)\n",
			x->body_names[body], (unsigned long long)res.errors,
			res.status ? strerror(-res.status) : "wrong responses");
		return res.status ? res.status : -EBADMSG;
	}
	double secs = (double)res.ns * 1e-9;

	s->ns = res.ns;
	s->offcpu_ns = res.offcpu_ns;
	if (c == RTT_CASE)
		s->value = (double)res.ns / (double)res.round_trips;
	else
		s->value = secs > 0 ? (double)res.round_trips / secs : 0;
	s->aux = res.requests ? (double)(res.front_kicks + res.back_kicks) /
					(double)res.requests : 0;
	return 0;
}

static double ring_probe(void *ctx)
{
	(void)ctx;
	return pvio_bench_regime_probe();
}

/* The targets, per placement label, with the figures behind them. */
static void ring_summary(void *ctx, struct pvio_bench_engine *eng)
{
	(void)ctx;
	for (unsigned g = PVIO_BENCH_NEAR; g <= PVIO_BENCH_FAR; g++) {
		double worst = INFINITY, best = 0;
		unsigned worst_b = 0, best_b = 0, paired = 0, np, nb;

		for (unsigned c = 0; c < NR_RATE; c++) {
			double p = pvio_bench_engine_median(eng, body_of(c, 0), g, &np);
			double b = pvio_bench_engine_median(eng, body_of(c, 1), g, &nb);
			if (!np || !nb || !(b > 0))
				continue;
			paired++;
			if (p / b < worst)
				worst = p / b, worst_b = rate_batches[c];
			if (p / b > best)
				best = p / b, best_b = rate_batches[c];
		}
		double rtt = pvio_bench_engine_median(eng, body_of(RTT_CASE, 0), g, &np);
		double bare = pvio_bench_engine_median(eng, body_of(RTT_CASE, 2), g, &nb);
		const char *lname = pvio_bench_label_name(g);

		if (paired)
			printf("\ntargets [%s]: never slower than xen: %s (lowest ratio "
			       "%.2f at batch %u; highest %.2f at batch %u, 1.5x "
			       "wanted where the floor allows)\n",
			       lname, worst >= 1.0 ? "met" : "missed", worst, worst_b,
			       best, best_b);
		if (np && nb && bare > 0)
			printf("%srtt within %.1fx the bare ping-pong: %.2fx (%.1f vs "
			       "%.1f ns): %s\n", paired ? "" : "\n", RTT_TARGET,
			       rtt / bare, rtt, bare,
			       rtt <= RTT_TARGET * bare ? "met" : "missed");
	}
}

int pvio_bench_suite_ring(const struct pvio_bench_opts *opts)
{
	static struct ring_ctx x;
	static char title[96];

	ring_ctx_init(&x);
	snprintf(title, sizeof(title), "%u-slot ring (%u B page, %u B messages), "
		 "CPUs 0 and 1", PVIO_BENCH_RING_SLOTS, PVIO_BENCH_RING_BYTES,
		 PVIO_BENCH_MSG_BYTES);
	struct pvio_bench_suite_def def = {
		.name = "ring",
		.title = title,
		.notes = "rt/s: round trips per second, ratio pvio/baseline; rtt: "
			 "ns per round trip with one\nin flight. kicks/req: (frontend "
			 "+ backend kicks) / request. dpdk (rte_ring) has\nno "
			 "notification protocol, so it has no kick rows (it would be "
			 "0: nothing to\narm or kick).\n",
		.nr_bodies = NR_BODIES,
		.body_names = x.body_ptrs,
		.target_ns = opts->quick ? 30000000ull : 200000000ull,
		.first_count = 1024,
		.reps = 31,
		.quick_reps = 7,
		.nr_cmps = sizeof(x.cmps) / sizeof(x.cmps[0]),
		.cmps = x.cmps,
		.ctx = &x,
		.run = ring_run,
		.probe = ring_probe,
		.summary = ring_summary,
	};
	int err = pvio_bench_worker_start(0, 1);
	if (err) {
		fprintf(stderr, PROG ": cannot pin the thread pair to CPUs 0 and 1: %s\n",
			strerror(-err));
		return 1;
	}
	int status = pvio_bench_engine_run(&def, opts);
	pvio_bench_worker_stop();
	return status;
}
