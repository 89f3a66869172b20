/* SPDX-License-Identifier: MIT */
/*
 * The benchmark engine the table-driven suites share (ring, grant,
 * evtchn, blk, net): a suite describes its bodies and comparisons in a
 * struct pvio_bench_suite_def, the engine sizes, interleaves, labels,
 * takes medians and prints the table or the JSON of bench/README.md.
 */
#ifndef PVIO_BENCH_SUITE_COMMON_H
#define PVIO_BENCH_SUITE_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "bench_pvt.h"

/*
 * The engine the suites share (suite_common.c): sizing,
 * interleaved repetitions (every body of the suite once per repetition, in
 * order, pvio bodies next to their baselines), labels, medians per label,
 * rows, table and JSON in the ring suite's format. A body is one thing
 * timed; a comparison pairs a pvio body with a baseline body.
 */
struct pvio_bench_opts;
struct pvio_bench_engine;

/* Labels: enum pvio_bench_regime, then these. */
#define PVIO_BENCH_LOCAL    4u /* single-CPU body: no cross-core regime */
#define PVIO_BENCH_UNPAIRED 5u /* row only: no common label, no ratio */
#define PVIO_BENCH_NR_LABEL 5u /* labels a repetition can get */

struct pvio_bench_sample {
	double value;       /* the body's figure (ns, fraction of a CPU...) */
	uint64_t ns;        /* wall time of the timed part */
	uint64_t offcpu_ns; /* see pvio_bench_local_result */
	double aux;         /* a second figure of the same run (ring:
			     * kicks/req), compared by a cmp with aux set */
	unsigned label;     /* set by the engine */
};

struct pvio_bench_cmp_def {
	const char *name;     /* row name, " [label]" is appended */
	const char *unit;     /* "ns", "%cpu", "B", "rt/s" or "kicks/req" */
	unsigned pvio, base;  /* body indices */
	const char *baseline; /* the baseline column */
	bool aux;             /* compare the samples' aux, not value */
};

struct pvio_bench_suite_def {
	const char *name;        /* "grant" */
	const char *title;       /* first line of the table */
	const char *notes;       /* after the table */
	unsigned nr_bodies;      /* <= 64 */
	const char *const *body_names;
	uint64_t local_mask;     /* bodies on one CPU: labelled local/busy */
	uint64_t fixed_mask;     /* bodies run with count 1, never sized */
	uint64_t target_ns;      /* per sized repetition */
	uint64_t first_count;    /* sizing starts here; smoke runs use it */
	unsigned reps, quick_reps; /* defaults */
	unsigned nr_cmps;
	const struct pvio_bench_cmp_def *cmps;
	void *ctx;
	/* Run body count times (count in the body's units): fill value, ns,
	 * offcpu_ns. Returns 0 or -errno (stops the suite, exit 1). */
	int (*run)(void *ctx, unsigned body, uint64_t count,
		   struct pvio_bench_sample *s);
	/* Cross-core label probe (bare ping-pong RTT in ns, < 0: -errno);
	 * NULL when every body is local. */
	double (*probe)(void *ctx);
	/* Extra rows for label (PVIO_BENCH_UNPAIRED: over every sample,
	 * no ratio); returns true when it added any. May be NULL. */
	bool (*extra)(void *ctx, struct pvio_bench_engine *eng, unsigned label);
	/* Lines after the table (not in JSON), e.g. the suite's targets
	 * stated with their figures. May be NULL. */
	void (*summary)(void *ctx, struct pvio_bench_engine *eng);
};

int pvio_bench_engine_run(const struct pvio_bench_suite_def *def,
			  const struct pvio_bench_opts *opts);
/* Median of body's samples with label (PVIO_BENCH_UNPAIRED: all); *n the
 * count (NAN when 0). */
double pvio_bench_engine_median(const struct pvio_bench_engine *eng,
				unsigned body, unsigned label, unsigned *n);
void pvio_bench_engine_row(struct pvio_bench_engine *eng, const char *name,
			   const char *unit, double pvio, const char *baseline,
			   double base, double ratio, unsigned label);
/* > 1 means pvio wins: rt/s is pvio/baseline; ns, B, %cpu and kicks/req
 * are baseline/pvio (%cpu, kicks/req: 1 when both are 0, NAN when only
 * pvio is). */
double pvio_bench_engine_ratio(const char *unit, double pvio, double base);
const char *pvio_bench_label_name(unsigned label);

/*
 * For summaries: the median of body's samples in the first label of
 * near, far, local that has both pvio and base samples; *label receives
 * it (PVIO_BENCH_UNPAIRED and medians over everything when none has).
 */
void pvio_bench_engine_pair(const struct pvio_bench_engine *eng, unsigned pvio,
			    unsigned base, double *pv, double *bv, unsigned *label);
/* "met", "missed", or why there is no verdict (label PVIO_BENCH_UNPAIRED). */
const char *pvio_bench_engine_verdict(unsigned label, bool met);

#endif /* PVIO_BENCH_SUITE_COMMON_H */
