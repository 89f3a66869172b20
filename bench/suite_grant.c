/* SPDX-License-Identifier: MIT */
/*
 * Suite "grant": pvio's grant operations against the memcpy they replace,
 * on one pinned CPU (0), on the shared engine (suite_common.c). Every body
 * runs on one CPU, so every row is labelled local.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "suite_common.h"

#define PROG "pvio-bench"

/* Bodies as the engine sees them: a grant body and a copy size. */
enum {
	GB_MAP1, GB_MEMCPY_HOT, GB_MAP32, GB_COPY_HOT, GB_COPY_COLD,
	GB_MEMCPY_COLD, GB_CACHE_HIT, GB_FLIP1, GB_FLIP32, GB_REMAP,
	GB_HOT_512, GB_HOT_1K, GB_HOT_2K, GB_COLD_512, GB_COLD_1K, GB_COLD_2K,
	GB_NR
};

static const struct { enum pvio_bench_grant_body body; uint32_t bytes; } gbodies[GB_NR] = {
	[GB_MAP1] = { PVIO_BENCH_G_MAP1, 4096 },
	[GB_MEMCPY_HOT] = { PVIO_BENCH_G_MEMCPY_HOT, 4096 },
	[GB_MAP32] = { PVIO_BENCH_G_MAP32, 4096 },
	[GB_COPY_HOT] = { PVIO_BENCH_G_COPY_HOT, 4096 },
	[GB_COPY_COLD] = { PVIO_BENCH_G_COPY_COLD, 4096 },
	[GB_MEMCPY_COLD] = { PVIO_BENCH_G_MEMCPY_COLD, 4096 },
	[GB_CACHE_HIT] = { PVIO_BENCH_G_CACHE_HIT, 4096 },
	[GB_FLIP1] = { PVIO_BENCH_G_FLIP1, 4096 },
	[GB_FLIP32] = { PVIO_BENCH_G_FLIP32, 4096 },
	[GB_REMAP] = { PVIO_BENCH_G_REMAP, 4096 },
	[GB_HOT_512] = { PVIO_BENCH_G_MEMCPY_HOT, 512 },
	[GB_HOT_1K] = { PVIO_BENCH_G_MEMCPY_HOT, 1024 },
	[GB_HOT_2K] = { PVIO_BENCH_G_MEMCPY_HOT, 2048 },
	[GB_COLD_512] = { PVIO_BENCH_G_MEMCPY_COLD, 512 },
	[GB_COLD_1K] = { PVIO_BENCH_G_MEMCPY_COLD, 1024 },
	[GB_COLD_2K] = { PVIO_BENCH_G_MEMCPY_COLD, 2048 },
};

static const char *const gnames[GB_NR] = {
	"map+unmap", "memcpy hot", "map+unmap batch=32", "grant copy hot",
	"grant copy cold", "memcpy cold", "cache hit", "flip", "flip batch=32",
	"mmap remap", "memcpy hot 512 B", "memcpy hot 1 KiB", "memcpy hot 2 KiB",
	"memcpy cold 512 B", "memcpy cold 1 KiB", "memcpy cold 2 KiB",
};

static const struct pvio_bench_cmp_def gcmps[] = {
	{ "map+unmap 1 page", "ns", GB_MAP1, GB_MEMCPY_HOT, "memcpy hot", false },
	{ "map+unmap batch=32 /page", "ns", GB_MAP32, GB_MEMCPY_HOT, "memcpy hot", false },
	{ "grant copy 4K hot", "ns", GB_COPY_HOT, GB_MEMCPY_HOT, "memcpy hot", false },
	{ "grant copy 4K cold", "ns", GB_COPY_COLD, GB_MEMCPY_COLD, "memcpy cold", false },
	{ "persistent-cache hit", "ns", GB_CACHE_HIT, GB_MAP1, "map+unmap", false },
	{ "flip 1 page", "ns", GB_FLIP1, GB_MEMCPY_HOT, "memcpy hot", false },
	{ "flip 1 page", "ns", GB_FLIP1, GB_MEMCPY_COLD, "memcpy cold", false },
	{ "flip batch=32 /page", "ns", GB_FLIP32, GB_MEMCPY_HOT, "memcpy hot", false },
	{ "flip batch=32 /page", "ns", GB_FLIP32, GB_MEMCPY_COLD, "memcpy cold", false },
	{ "flip 1 page", "ns", GB_FLIP1, GB_REMAP, "mmap remap", false },
};

static int grant_run(void *ctx, unsigned body, uint64_t count,
		     struct pvio_bench_sample *s)
{
	struct pvio_bench_local_result res;
	int err;

	(void)ctx;
	err = pvio_bench_grant_run(gbodies[body].body, gbodies[body].bytes,
				   count, &res);
	if (err)
		return err;
	if (res.status)
		return res.status;
	s->ns = res.ns;
	s->offcpu_ns = res.offcpu_ns;
	s->value = res.ops ? (double)res.ns / (double)res.ops : 0;
	return 0;
}

/*
 * Break-even: the copy size at which copying costs what one flip costs,
 * interpolated linearly between the measured sizes (512 B .. 4 KiB), or
 * extrapolated from the 2-4 KiB slope past 4 KiB (flipping a page then
 * never beats copying it). The row: unit B, pvio = that size, baseline
 * "page" = 4096, ratio 4096/size (> 1: a flip beats copying the page).
 */
static double break_even(const double sz[4], const double ns[4], double flip)
{
	for (int i = 0; i < 4; i++)
		if (isnan(ns[i]))
			return NAN;
	if (flip <= ns[0])
		return sz[0] * flip / ns[0];
	for (int i = 1; i < 4; i++)
		if (flip <= ns[i])
			return sz[i - 1] + (sz[i] - sz[i - 1]) *
				(flip - ns[i - 1]) / (ns[i] - ns[i - 1]);
	double slope = (ns[3] - ns[2]) / (sz[3] - sz[2]);
	return slope > 0 ? sz[3] + (flip - ns[3]) / slope : INFINITY;
}

static bool grant_extra(void *ctx, struct pvio_bench_engine *eng, unsigned label)
{
	static const double sz[4] = { 512, 1024, 2048, 4096 };
	static const unsigned hot[4] = { GB_HOT_512, GB_HOT_1K, GB_HOT_2K, GB_MEMCPY_HOT };
	static const unsigned cold[4] = { GB_COLD_512, GB_COLD_1K, GB_COLD_2K, GB_MEMCPY_COLD };
	unsigned n, nf;
	bool any = false;

	(void)ctx;
	double flip = pvio_bench_engine_median(eng, GB_FLIP1, label, &nf);
	if (!nf)
		return false;
	for (int k = 0; k < 2; k++) {
		const unsigned *b = k ? cold : hot;
		unsigned row_label = label;
		double ns[4], fl = flip;
		bool ok = true;

		for (int i = 0; i < 4 && ok; i++) {
			ns[i] = pvio_bench_engine_median(eng, b[i], label, &n);
			ok = n;
		}
		/* A copy body whose every repetition was busy still gets its
		 * row, over all repetitions and without a ratio, rather than
		 * none at all. */
		if (!ok) {
			row_label = PVIO_BENCH_UNPAIRED;
			fl = pvio_bench_engine_median(eng, GB_FLIP1, row_label, &nf);
			for (int i = 0; i < 4; i++)
				ns[i] = pvio_bench_engine_median(eng, b[i], row_label, &n);
		}
		double be = break_even(sz, ns, fl);
		pvio_bench_engine_row(eng, k ? "flip wins from (cold copy)" :
					       "flip wins from (hot copy)",
				      "B", be, "page", 4096.0,
				      pvio_bench_engine_ratio("B", be, 4096.0), row_label);
		any = true;
	}
	return any;
}

/* The grant targets, stated with their figures. */
static void grant_summary(void *ctx, struct pvio_bench_engine *eng)
{
	double p, b;
	unsigned l;

	(void)ctx;
	pvio_bench_engine_pair(eng, GB_COPY_HOT, GB_MEMCPY_HOT, &p, &b, &l);
	printf("\ngrant copy 4K hot: %.1f ns vs memcpy %.1f ns = %.2fx memcpy [%s] "
	       "(target: within 1.3x: %s)\n", p, b, p / b, pvio_bench_label_name(l),
	       pvio_bench_engine_verdict(l, p <= 1.3 * b));
	pvio_bench_engine_pair(eng, GB_MAP32, GB_MEMCPY_HOT, &p, &b, &l);
	printf("map+unmap batch=32: %.1f ns a page vs memcpy %.1f ns = %.2fx memcpy [%s] "
	       "(target: under 2x: %s)\n", p, b, p / b, pvio_bench_label_name(l),
	       pvio_bench_engine_verdict(l, p < 2 * b));
}

int pvio_bench_suite_grant(const struct pvio_bench_opts *opts)
{
	uint32_t cold_pages = opts->smoke ? 1024 : 16384; /* 64 MiB a side */
	int err = pvio_bench_grant_setup(0, cold_pages);

	if (err) {
		fprintf(stderr, PROG ": grant: cannot set up machine memory on CPU 0: %s\n",
			strerror(-err));
		return 1;
	}
	struct pvio_bench_suite_def def = {
		.name = "grant",
		.title = "grant ops vs memcpy, one thread pinned to CPU 0, ns per 4 KiB page",
		.notes = "Every body runs on CPU 0 alone, so rows are labelled local (no "
			 "cross-core regime).\ncold: each op touches a page untouched for "
			 "64 MiB. flip: frontend offer + backend\ntransfer + frontend end. "
			 "\"flip wins from\": the copy size whose copy costs one\nflip "
			 "(memcpy of 512 B..4 KiB measured; past 4 KiB extrapolated); "
			 "ratio 4096/size.\n",
		.nr_bodies = GB_NR,
		.body_names = gnames,
		.local_mask = ~0ull,
		.target_ns = opts->quick ? 20000000ull : 100000000ull,
		.first_count = 256,
		.reps = 21,
		.quick_reps = 7,
		.nr_cmps = sizeof(gcmps) / sizeof(gcmps[0]),
		.cmps = gcmps,
		.run = grant_run,
		.extra = grant_extra,
		.summary = grant_summary,
	};
	int status = pvio_bench_engine_run(&def, opts);
	pvio_bench_grant_teardown();
	return status;
}
