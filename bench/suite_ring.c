/* SPDX-License-Identifier: MIT */
/*
 * Suite "ring": pvio's ring against Xen's io/ring.h macros and DPDK's
 * rte_ring, in one run, on CPUs 0 and 1. Each repetition of each case runs
 * pvio, then its baselines (pvio, xen, dpdk, pvio, xen, dpdk, ...), each
 * bracketed by a bare ping-pong probe that labels it near, far or mixed.
 * Medians are taken per regime and pvio is compared with a baseline only
 * within one regime (BENCHMARKING.md section 1).
 *
 * Cases: round trips per second at batch 1, 4, 8, 16, 32 (window 32) vs
 * xen and dpdk; one-in-flight round-trip time vs xen and the bare
 * ping-pong; kicks per request vs xen at every batch.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvio/host.h>

#include "bench_pvt.h"

#define PROG "pvio-bench"

enum case_kind {
	CASE_RATE, /* round trips per second, window 32 */
	CASE_RTT,  /* ns per round trip, one in flight */
};

#define MAX_IMPLS 3

/* A repetition in which a benchmark thread spent more than 1/BUSY_FRACTION
 * of the run off its CPU (another task ran there) is labelled busy and
 * compared with nothing. Kernel threads take ~0.5% on a quiet machine. */
#define BUSY_FRACTION 50

struct sample {
	double value;   /* rt/s or ns */
	double kicks;   /* (front + back kicks) / request */
	enum pvio_bench_regime regime;
};

struct ring_case {
	char name[32];
	enum case_kind kind;
	uint32_t batch, window;
	unsigned nr_impls;
	enum pvio_bench_impl impl[MAX_IMPLS]; /* [0] is pvio */
	uint64_t count[MAX_IMPLS];            /* timed round trips per rep */
	struct sample *samples[MAX_IMPLS];    /* reps each */
	unsigned nr_samples[MAX_IMPLS];
};

static const uint32_t rate_batches[] = { 1, 4, 8, 16, 32 };
#define NR_CASES (sizeof(rate_batches) / sizeof(rate_batches[0]) + 1)

struct ring_suite {
	const struct pvio_bench_opts *opts;
	struct ring_case cases[NR_CASES];
	unsigned reps;
	uint64_t target_ns;   /* per repetition, in the calibration's regime */
	unsigned regime_count[PVIO_BENCH_NR_REGIME];
	uint64_t offcpu_ns;   /* over all repetitions */
	uint64_t run_ns;
	double *probes[2];    /* probe RTTs, near and far */
	unsigned nr_probes[2];
	size_t probe_cap;
	bool progress;
};

static void cases_init(struct ring_suite *s)
{
	unsigned c = 0;

	for (size_t i = 0; i < sizeof(rate_batches) / sizeof(rate_batches[0]); i++, c++) {
		struct ring_case *rc = &s->cases[c];

		snprintf(rc->name, sizeof(rc->name), "rt/s batch=%u", rate_batches[i]);
		rc->kind = CASE_RATE;
		rc->batch = rate_batches[i];
		rc->window = PVIO_BENCH_RING_SLOTS;
		rc->nr_impls = 3;
		rc->impl[0] = PVIO_BENCH_PVIO;
		rc->impl[1] = PVIO_BENCH_XEN;
		rc->impl[2] = PVIO_BENCH_DPDK;
	}
	struct ring_case *rtt = &s->cases[c];
	snprintf(rtt->name, sizeof(rtt->name), "rtt");
	rtt->kind = CASE_RTT;
	rtt->batch = 1;
	rtt->window = 1;
	rtt->nr_impls = 3;
	rtt->impl[0] = PVIO_BENCH_PVIO;
	rtt->impl[1] = PVIO_BENCH_XEN;
	rtt->impl[2] = PVIO_BENCH_BARE;
}

static void cases_free(struct ring_suite *s)
{
	for (unsigned c = 0; c < NR_CASES; c++)
		for (unsigned i = 0; i < MAX_IMPLS; i++)
			free(s->cases[c].samples[i]);
	free(s->probes[0]);
	free(s->probes[1]);
}

static int fail_run(const struct ring_case *rc, unsigned i,
		    const struct pvio_bench_ring_result *res, int err)
{
	if (err)
		fprintf(stderr, PROG ": ring %s %s: cannot run: %s\n", rc->name,
			pvio_bench_impl_name(rc->impl[i]), strerror(-err));
	else
		fprintf(stderr, PROG ": ring %s %s: failed run: %llu errors (%s)\n",
			rc->name, pvio_bench_impl_name(rc->impl[i]),
			(unsigned long long)res->errors,
			res->status ? strerror(-res->status) : "wrong responses");
	return 1;
}

static uint64_t warmup_for(const struct ring_case *rc, uint64_t count)
{
	uint64_t w = count / 16;

	return w < 4u * rc->window ? 4u * rc->window : w;
}

/*
 * Size a repetition: run with growing counts until one takes at least an
 * eighth of the target, then scale. Doubles as the case's first warm-up.
 */
static int calibrate(struct ring_suite *s, struct ring_case *rc, unsigned i)
{
	struct pvio_bench_ring_result res;
	struct pvio_bench_ring_cfg cfg = {
		.batch = rc->batch, .window = rc->window,
	};
	uint64_t n = 1024;
	int err;

	for (;;) {
		cfg.count = n;
		cfg.warmup = warmup_for(rc, n);
		err = pvio_bench_ring_run(rc->impl[i], &cfg, &res);
		if (err || res.errors)
			return fail_run(rc, i, &res, err);
		if (res.ns >= s->target_ns / 8 || n >= (1ull << 36))
			break;
		n *= 4;
	}
	double scaled = (double)n * (double)s->target_ns / (double)(res.ns ? res.ns : 1);
	rc->count[i] = scaled < 1024 ? 1024 : (uint64_t)scaled;
	return 0;
}

static void probe_note(struct ring_suite *s, double ns)
{
	int k = ns < PVIO_BENCH_NEAR_MAX_NS ? 0 : 1;

	if (s->nr_probes[k] < s->probe_cap)
		s->probes[k][s->nr_probes[k]++] = ns;
}

static int run_one(struct ring_suite *s, struct ring_case *rc, unsigned i)
{
	struct pvio_bench_ring_result res = { 0 };
	struct pvio_bench_ring_cfg cfg = {
		.batch = rc->batch, .window = rc->window,
		.count = rc->count[i], .warmup = warmup_for(rc, rc->count[i]),
	};
	double before = pvio_bench_regime_probe();
	int err = before < 0 ? (int)before : 0;
	double after = 0;

	if (!err)
		err = pvio_bench_ring_run(rc->impl[i], &cfg, &res);
	if (!err) {
		after = pvio_bench_regime_probe();
		err = after < 0 ? (int)after : 0;
	}
	if (err || res.errors)
		return fail_run(rc, i, &res, err);
	probe_note(s, before);
	probe_note(s, after);

	struct sample *sm = &rc->samples[i][rc->nr_samples[i]++];
	double secs = (double)res.ns * 1e-9;
	sm->regime = res.offcpu_ns * BUSY_FRACTION > res.ns ?
			     PVIO_BENCH_BUSY : pvio_bench_regime_of(before, after);
	s->offcpu_ns += res.offcpu_ns;
	s->run_ns += res.ns;
	if (rc->kind == CASE_RATE)
		sm->value = secs > 0 ? (double)res.round_trips / secs : 0;
	else
		sm->value = (double)res.ns / (double)res.round_trips;
	sm->kicks = res.requests ? (double)(res.front_kicks + res.back_kicks) /
					   (double)res.requests : 0;
	s->regime_count[sm->regime]++;
	return 0;
}

/* ------------------------------------------------------------- results */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median of v[0..n). Sorts v. */
static double median(double *v, unsigned n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Regime filter for medians: one regime, or every sample. */
#define ANY_REGIME PVIO_BENCH_NR_REGIME

static double sample_median(const struct ring_case *rc, unsigned i,
			    unsigned regime, bool kicks, unsigned *n_out)
{
	double *v = malloc((rc->nr_samples[i] + 1) * sizeof(*v));
	unsigned n = 0;
	double m;

	if (!v) {
		if (n_out)
			*n_out = 0;
		return NAN;
	}
	for (unsigned k = 0; k < rc->nr_samples[i]; k++) {
		const struct sample *sm = &rc->samples[i][k];

		if (regime == ANY_REGIME || sm->regime == regime)
			v[n++] = kicks ? sm->kicks : sm->value;
	}
	if (n_out)
		*n_out = n;
	m = median(v, n);
	free(v);
	return m;
}

struct row {
	char name[48];
	const char *unit;
	double pvio, base, ratio; /* ratio NAN: none (null in JSON) */
	const char *baseline;
	const char *regime;
};

struct rows {
	struct row v[96];
	unsigned n;
};

static void row_add(struct rows *rows, const char *name, const char *unit,
		    double pvio, const char *baseline, double base,
		    double ratio, const char *regime)
{
	if (rows->n >= sizeof(rows->v) / sizeof(rows->v[0]))
		return;
	struct row *r = &rows->v[rows->n++];

	snprintf(r->name, sizeof(r->name), "%s [%s]", name, regime);
	r->unit = unit;
	r->pvio = pvio;
	r->baseline = baseline;
	r->base = base;
	r->ratio = ratio;
	r->regime = regime;
}

/* > 1 means pvio wins. Not inlined: with a constant unit, gcc's
 * -Wstring-compare at -O2 flags the branches that cannot match. */
__attribute__((noinline)) static double ratio_of(const char *unit, double pvio, double base)
{
	if (!strcmp(unit, "rt/s"))
		return base > 0 ? pvio / base : NAN;
	if (!strcmp(unit, "kicks/req")) {
		if (pvio == 0 && base == 0)
			return 1.0;
		return pvio > 0 ? base / pvio : NAN;
	}
	return pvio > 0 ? base / pvio : NAN; /* ns */
}

static void build_rows(const struct ring_suite *s, struct rows *rows)
{
	/* Which (case, baseline) pairs got a comparable row: [case][impl],
	 * impl index MAX_IMPLS stands for the kick row. */
	bool paired[NR_CASES][MAX_IMPLS + 1];

	memset(paired, 0, sizeof(paired));
	for (unsigned g = PVIO_BENCH_NEAR; g <= PVIO_BENCH_FAR; g++) {
		const char *gname = pvio_bench_regime_name(g);

		for (unsigned c = 0; c < NR_CASES; c++) {
			const struct ring_case *rc = &s->cases[c];
			const char *unit = rc->kind == CASE_RATE ? "rt/s" : "ns";
			unsigned np, nb;
			double p = sample_median(rc, 0, g, false, &np);

			for (unsigned i = 1; i < rc->nr_impls; i++) {
				double b = sample_median(rc, i, g, false, &nb);

				if (!np || !nb)
					continue;
				row_add(rows, rc->name, unit, p,
					pvio_bench_impl_name(rc->impl[i]), b,
					ratio_of(unit, p, b), gname);
				paired[c][i] = true;
			}
		}
		for (unsigned c = 0; c < NR_CASES; c++) {
			const struct ring_case *rc = &s->cases[c];
			unsigned np, nb;

			if (rc->kind != CASE_RATE)
				continue;
			double p = sample_median(rc, 0, g, true, &np);
			double b = sample_median(rc, 1, g, true, &nb);
			if (!np || !nb)
				continue;
			char name[32];
			snprintf(name, sizeof(name), "kicks/req batch=%u", rc->batch);
			row_add(rows, name, "kicks/req", p, "xen", b,
				ratio_of("kicks/req", p, b), gname);
			paired[c][MAX_IMPLS] = true;
		}
	}
	/* Nothing comparable (pvio and a baseline never shared a regime, or
	 * every repetition was mixed): show both over all repetitions, with
	 * no ratio, so every case is still reported. */
	for (unsigned c = 0; c < NR_CASES; c++) {
		const struct ring_case *rc = &s->cases[c];
		const char *unit = rc->kind == CASE_RATE ? "rt/s" : "ns";

		for (unsigned i = 1; i < rc->nr_impls; i++) {
			if (paired[c][i])
				continue;
			row_add(rows, rc->name, unit,
				sample_median(rc, 0, ANY_REGIME, false, NULL),
				pvio_bench_impl_name(rc->impl[i]),
				sample_median(rc, i, ANY_REGIME, false, NULL),
				NAN, "unpaired");
		}
		if (rc->kind == CASE_RATE && !paired[c][MAX_IMPLS]) {
			char name[32];
			snprintf(name, sizeof(name), "kicks/req batch=%u", rc->batch);
			row_add(rows, name, "kicks/req",
				sample_median(rc, 0, ANY_REGIME, true, NULL), "xen",
				sample_median(rc, 1, ANY_REGIME, true, NULL), NAN,
				"unpaired");
		}
	}
}

static void fmt_value(char *buf, size_t len, const char *unit, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else if (!strcmp(unit, "rt/s"))
		snprintf(buf, len, "%.2f M", v / 1e6);
	else if (!strcmp(unit, "ns"))
		snprintf(buf, len, "%.1f ns", v);
	else
		snprintf(buf, len, "%.4f", v);
}

static void json_number(double v)
{
	if (isnan(v) || isinf(v))
		printf("null");
	else
		printf("%.9g", v);
}

static void json_string(const char *str)
{
	putchar('"');
	for (const char *p = str; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if ((unsigned char)*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

static void print_json(const struct ring_suite *s, const struct rows *rows)
{
	printf("{\"suite\": \"ring\", \"cases\": [");
	for (unsigned k = 0; k < rows->n; k++) {
		const struct row *r = &rows->v[k];

		printf("%s\n  {\"name\": ", k ? "," : "");
		json_string(r->name);
		printf(", \"unit\": ");
		json_string(r->unit);
		printf(", \"pvio\": ");
		json_number(r->pvio);
		printf(", \"baseline\": ");
		json_string(r->baseline);
		printf(", \"baseline_value\": ");
		json_number(r->base);
		printf(", \"ratio\": ");
		json_number(r->ratio);
		printf(", \"regime\": ");
		json_string(r->regime);
		printf("}");
	}
	printf("\n], \"regimes\": {\"near\": %u, \"far\": %u, \"mixed\": %u, "
	       "\"busy\": %u}}\n",
	       s->regime_count[PVIO_BENCH_NEAR], s->regime_count[PVIO_BENCH_FAR],
	       s->regime_count[PVIO_BENCH_MIXED], s->regime_count[PVIO_BENCH_BUSY]);
}

static void print_table(struct ring_suite *s, const struct rows *rows,
			double secs)
{
	char pv[32], bv[32], ra[32];

	printf("pvio-bench ring: %u-slot ring (%u B page, %u B messages), "
	       "CPUs 0 and 1, %u repetitions%s\n\n",
	       PVIO_BENCH_RING_SLOTS, PVIO_BENCH_RING_BYTES, PVIO_BENCH_MSG_BYTES,
	       s->reps, s->opts->quick ? " (quick)" : "");
	printf("%-26s | %12s | %-8s | %14s | %6s\n", "case", "pvio", "baseline",
	       "baseline value", "ratio");
	printf("---------------------------+--------------+----------+----------------+-------\n");
	for (unsigned k = 0; k < rows->n; k++) {
		const struct row *r = &rows->v[k];

		fmt_value(pv, sizeof(pv), r->unit, r->pvio);
		fmt_value(bv, sizeof(bv), r->unit, r->base);
		if (isnan(r->ratio))
			snprintf(ra, sizeof(ra), "%s", r->pvio == 0 ? "inf" : "-");
		else
			snprintf(ra, sizeof(ra), "%.2f", r->ratio);
		printf("%-26s | %12s | %-8s | %14s | %6s\n", r->name, pv,
		       r->baseline, bv, ra);
	}
	printf("\nregimes (repetitions): near %u, far %u, mixed %u, busy %u "
	       "(threads off-CPU %.2f%% of run time)\n",
	       s->regime_count[PVIO_BENCH_NEAR], s->regime_count[PVIO_BENCH_FAR],
	       s->regime_count[PVIO_BENCH_MIXED], s->regime_count[PVIO_BENCH_BUSY],
	       s->run_ns ? 100.0 * (double)s->offcpu_ns / (double)s->run_ns : 0.0);
	printf("bare ping-pong probe, median: near %.1f ns (%u probes), "
	       "far %.1f ns (%u probes)\n",
	       median(s->probes[0], s->nr_probes[0]), s->nr_probes[0],
	       median(s->probes[1], s->nr_probes[1]), s->nr_probes[1]);
	printf("ratio > 1 means pvio is better: rt/s pvio/baseline; ns and "
	       "kicks/req baseline/pvio.\n"
	       "Rows compare medians of repetitions with the same regime label; "
	       "mixed repetitions\nand busy ones (a benchmark thread was off its "
	       "CPU for over 2%% of the run) are\ncounted but not compared; \"unpaired\" "
	       "rows (no common regime) carry no ratio.\n"
	       "kicks/req: (frontend + backend kicks) / request. dpdk (rte_ring) "
	       "has no notification\nprotocol, so it has no kick rows (it would "
	       "be 0: nothing to arm or kick).\n"
	       "took %.1f s\n", secs);
}

int pvio_bench_suite_ring(const struct pvio_bench_opts *opts)
{
	struct ring_suite s = { .opts = opts };
	struct rows *rows = NULL;
	uint64_t t_start = pvio_now_ns();
	int status = 1;

	s.reps = opts->reps ? opts->reps : opts->quick ? 7 : 31;
	s.target_ns = opts->quick ? 30000000ull : 200000000ull;
	s.progress = !opts->json && isatty(STDERR_FILENO);
	cases_init(&s);
	s.probe_cap = 2u * s.reps * NR_CASES * MAX_IMPLS;
	s.probes[0] = calloc(s.probe_cap, sizeof(double));
	s.probes[1] = calloc(s.probe_cap, sizeof(double));
	rows = calloc(1, sizeof(*rows));
	if (!s.probes[0] || !s.probes[1] || !rows) {
		fprintf(stderr, PROG ": out of memory\n");
		goto out;
	}
	for (unsigned c = 0; c < NR_CASES; c++) {
		for (unsigned i = 0; i < s.cases[c].nr_impls; i++) {
			s.cases[c].samples[i] = calloc(s.reps, sizeof(struct sample));
			if (!s.cases[c].samples[i]) {
				fprintf(stderr, PROG ": out of memory\n");
				goto out;
			}
		}
	}

	int err = pvio_bench_worker_start(0, 1);
	if (err) {
		fprintf(stderr, PROG ": cannot pin the thread pair to CPUs 0 and 1: %s\n",
			strerror(-err));
		goto out;
	}

	/* Size every repetition (and warm every path up once). */
	for (unsigned c = 0; c < NR_CASES; c++) {
		struct ring_case *rc = &s.cases[c];

		for (unsigned i = 0; i < rc->nr_impls; i++) {
			if (opts->smoke) {
				rc->count[i] = rc->kind == CASE_RATE ? 4096 : 512;
				continue;
			}
			if (s.progress)
				fprintf(stderr, "\rring: sizing %-14s %-8s", rc->name,
					pvio_bench_impl_name(rc->impl[i]));
			if (calibrate(&s, rc, i))
				goto stop;
		}
	}

	/* The measured repetitions: per case, pvio then its baselines. */
	for (unsigned r = 0; r < s.reps; r++) {
		if (s.progress)
			fprintf(stderr, "\rring: repetition %u/%u              ",
				r + 1, s.reps);
		for (unsigned c = 0; c < NR_CASES; c++)
			for (unsigned i = 0; i < s.cases[c].nr_impls; i++)
				if (run_one(&s, &s.cases[c], i))
					goto stop;
	}
	if (s.progress)
		fprintf(stderr, "\r%50s\r", "");
	pvio_bench_worker_stop();

	build_rows(&s, rows);
	if (opts->json)
		print_json(&s, rows);
	else
		print_table(&s, rows, (double)(pvio_now_ns() - t_start) * 1e-9);
	fflush(stdout);
	unsigned nr_runs = 0;
	for (unsigned g = 0; g < PVIO_BENCH_NR_REGIME; g++)
		nr_runs += s.regime_count[g];
	if (s.regime_count[PVIO_BENCH_BUSY])
		fprintf(stderr, PROG ": warning: %u of %u repetitions lost their "
			"CPU to other tasks (the machine is not quiet); they are not "
			"compared\n", s.regime_count[PVIO_BENCH_BUSY], nr_runs);
	status = 0;
	goto out;
stop:
	pvio_bench_worker_stop();
out:
	free(rows);
	cases_free(&s);
	return status;
}
