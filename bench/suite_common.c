/* SPDX-License-Identifier: MIT */
/*
 * The engine of the table-driven suites (see suite_common.h): sizing,
 * interleaved repetitions, labels, medians per label, rows, table and JSON
 * in the ring suite's format.
 *
 * Labels: single-CPU bodies have no placement regime, so their repetitions
 * are labelled "local" (or "busy" when the thread spent over 2% of the run
 * off its CPU); cross-core bodies are labelled near/far/mixed/busy by the
 * bare ping-pong probe before and after, as in suite ring.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvio/host.h>

#include "suite_common.h"

#define PROG "pvio-bench"
#define BUSY_FRACTION 50
#define MAX_ROWS 96

struct erow {
	char name[64];
	const char *unit;
	double pvio, base, ratio;
	const char *baseline;
	const char *label;
};

struct pvio_bench_engine {
	const struct pvio_bench_suite_def *def;
	unsigned reps;
	uint64_t count[64];
	struct pvio_bench_sample *samples[64]; /* reps each */
	unsigned nr_samples[64];
	unsigned label_count[PVIO_BENCH_NR_LABEL];
	double *probes[2];
	unsigned nr_probes[2];
	size_t probe_cap;
	struct erow rows[MAX_ROWS];
	unsigned nr_rows;
};

static const char *const label_names[] = {
	"near", "far", "mixed", "busy", "local", "unpaired",
};

const char *pvio_bench_label_name(unsigned label)
{
	return label <= PVIO_BENCH_UNPAIRED ? label_names[label] : "?";
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double sample_median(const struct pvio_bench_engine *eng, unsigned body,
			    unsigned label, bool aux, unsigned *n_out)
{
	unsigned n = 0, have = body < eng->def->nr_bodies ? eng->nr_samples[body] : 0;
	double *v = malloc((have + 1) * sizeof(*v)), m;

	if (!v)
		have = 0;
	for (unsigned k = 0; k < have; k++) {
		const struct pvio_bench_sample *s = &eng->samples[body][k];

		if (label == PVIO_BENCH_UNPAIRED || s->label == label)
			v[n++] = aux ? s->aux : s->value;
	}
	if (n_out)
		*n_out = n;
	m = v ? median(v, n) : NAN;
	free(v);
	return m;
}

double pvio_bench_engine_median(const struct pvio_bench_engine *eng,
				unsigned body, unsigned label, unsigned *n_out)
{
	return sample_median(eng, body, label, false, n_out);
}

double pvio_bench_engine_ratio(const char *unit, double pvio, double base)
{
	if (!strcmp(unit, "rt/s"))
		return base > 0 ? pvio / base : NAN;
	if ((!strcmp(unit, "%cpu") || !strcmp(unit, "kicks/req")) && pvio == 0)
		return base == 0 ? 1.0 : NAN;
	return pvio > 0 ? base / pvio : NAN;
}

void pvio_bench_engine_row(struct pvio_bench_engine *eng, const char *name,
			   const char *unit, double pvio, const char *baseline,
			   double base, double ratio, unsigned label)
{
	if (eng->nr_rows >= MAX_ROWS)
		return;
	struct erow *r = &eng->rows[eng->nr_rows++];

	snprintf(r->name, sizeof(r->name), "%s [%s]", name,
		 pvio_bench_label_name(label));
	r->unit = unit;
	r->pvio = pvio;
	r->baseline = baseline;
	r->base = base;
	r->ratio = label == PVIO_BENCH_UNPAIRED ? NAN : ratio;
	r->label = pvio_bench_label_name(label);
}

void pvio_bench_engine_pair(const struct pvio_bench_engine *eng, unsigned pvio,
			    unsigned base, double *pv, double *bv, unsigned *label)
{
	static const unsigned labels[] = { PVIO_BENCH_NEAR, PVIO_BENCH_FAR,
					   PVIO_BENCH_LOCAL, PVIO_BENCH_UNPAIRED };

	for (unsigned g = 0; g < 4; g++) {
		unsigned np, nb;

		*pv = pvio_bench_engine_median(eng, pvio, labels[g], &np);
		*bv = pvio_bench_engine_median(eng, base, labels[g], &nb);
		*label = labels[g];
		if (np && nb)
			return;
	}
}

const char *pvio_bench_engine_verdict(unsigned label, bool met)
{
	if (label == PVIO_BENCH_UNPAIRED)
		return "not compared: no repetitions share a label";
	return met ? "met" : "missed";
}

static void build_rows(struct pvio_bench_engine *eng)
{
	const struct pvio_bench_suite_def *def = eng->def;
	static const unsigned labels[] = { PVIO_BENCH_NEAR, PVIO_BENCH_FAR,
					   PVIO_BENCH_LOCAL };
	bool paired[64] = { false }, extra = false;

	for (unsigned g = 0; g < 3; g++) {
		for (unsigned c = 0; c < def->nr_cmps && c < 64; c++) {
			const struct pvio_bench_cmp_def *cd = &def->cmps[c];
			unsigned np, nb;
			double p = sample_median(eng, cd->pvio, labels[g], cd->aux, &np);
			double b = sample_median(eng, cd->base, labels[g], cd->aux, &nb);

			if (!np || !nb)
				continue;
			pvio_bench_engine_row(eng, cd->name, cd->unit, p, cd->baseline, b,
					      pvio_bench_engine_ratio(cd->unit, p, b),
					      labels[g]);
			paired[c] = true;
		}
		if (def->extra && def->extra(def->ctx, eng, labels[g]))
			extra = true;
	}
	for (unsigned c = 0; c < def->nr_cmps && c < 64; c++) {
		const struct pvio_bench_cmp_def *cd = &def->cmps[c];

		if (paired[c])
			continue;
		pvio_bench_engine_row(eng, cd->name, cd->unit,
			sample_median(eng, cd->pvio, PVIO_BENCH_UNPAIRED, cd->aux, NULL),
			cd->baseline,
			sample_median(eng, cd->base, PVIO_BENCH_UNPAIRED, cd->aux, NULL),
			NAN, PVIO_BENCH_UNPAIRED);
	}
	if (def->extra && !extra)
		def->extra(def->ctx, eng, PVIO_BENCH_UNPAIRED);
}

static bool is_local(const struct pvio_bench_suite_def *def, unsigned body)
{
	return !def->probe || (def->local_mask >> body & 1);
}

static void probe_note(struct pvio_bench_engine *eng, double ns)
{
	int k = ns < PVIO_BENCH_NEAR_MAX_NS ? 0 : 1;

	if (eng->nr_probes[k] < eng->probe_cap)
		eng->probes[k][eng->nr_probes[k]++] = ns;
}

static int fail_body(const struct pvio_bench_engine *eng, unsigned body, int err)
{
	fprintf(stderr, PROG ": %s %s: failed run: %s\n", eng->def->name,
		eng->def->body_names[body], strerror(err < 0 ? -err : err));
	return 1;
}

static int run_rep(struct pvio_bench_engine *eng, unsigned body)
{
	const struct pvio_bench_suite_def *def = eng->def;
	struct pvio_bench_sample s = { 0 };
	bool local = is_local(def, body);
	double before = 0, after = 0;
	int err;

	if (!local && (before = def->probe(def->ctx)) < 0)
		return fail_body(eng, body, (int)before);
	if ((err = def->run(def->ctx, body, eng->count[body], &s)))
		return fail_body(eng, body, err);
	if (!local && (after = def->probe(def->ctx)) < 0)
		return fail_body(eng, body, (int)after);
	if (s.offcpu_ns * BUSY_FRACTION > s.ns)
		s.label = PVIO_BENCH_BUSY;
	else if (local)
		s.label = PVIO_BENCH_LOCAL;
	else
		s.label = pvio_bench_regime_of(before, after);
	if (!local) {
		probe_note(eng, before);
		probe_note(eng, after);
	}
	eng->samples[body][eng->nr_samples[body]++] = s;
	eng->label_count[s.label]++;
	return 0;
}

static int size_body(struct pvio_bench_engine *eng, unsigned body, bool smoke)
{
	const struct pvio_bench_suite_def *def = eng->def;
	struct pvio_bench_sample s;
	uint64_t n = def->first_count;
	int err;

	if (def->fixed_mask >> body & 1) {
		eng->count[body] = 1;
		return 0;
	}
	if (smoke) {
		eng->count[body] = n;
		return 0;
	}
	for (;;) {
		memset(&s, 0, sizeof(s));
		if ((err = def->run(def->ctx, body, n, &s)))
			return fail_body(eng, body, err);
		if (s.ns >= def->target_ns / 8 || n >= (1ull << 36))
			break;
		n *= 4;
	}
	double scaled = (double)n * (double)def->target_ns / (double)(s.ns ? s.ns : 1);
	eng->count[body] = scaled < (double)def->first_count ? def->first_count :
							     (uint64_t)scaled;
	return 0;
}

static void fmt_value(char *buf, size_t len, const char *unit, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else if (!strcmp(unit, "rt/s"))
		snprintf(buf, len, "%.2f M", v / 1e6);
	else if (!strcmp(unit, "ns"))
		snprintf(buf, len, "%.1f ns", v);
	else if (!strcmp(unit, "%cpu"))
		snprintf(buf, len, "%.2f %%", v);
	else if (!strcmp(unit, "B"))
		snprintf(buf, len, "%.0f B", v);
	else
		snprintf(buf, len, "%.4g", v);
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

static void print_json(const struct pvio_bench_engine *eng)
{
	printf("{\"suite\": ");
	json_string(eng->def->name);
	printf(", \"cases\": [");
	for (unsigned k = 0; k < eng->nr_rows; k++) {
		const struct erow *r = &eng->rows[k];

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
		json_string(r->label);
		printf("}");
	}
	printf("\n], \"regimes\": {");
	for (unsigned g = 0; g < PVIO_BENCH_NR_LABEL; g++)
		printf("%s\"%s\": %u", g ? ", " : "", label_names[g],
		       eng->label_count[g]);
	printf("}}\n");
}

static void print_table(struct pvio_bench_engine *eng, bool quick, double secs)
{
	char pv[32], bv[32], ra[32];

	printf("pvio-bench %s: %s, %u repetitions%s\n\n", eng->def->name,
	       eng->def->title, eng->reps, quick ? " (quick)" : "");
	printf("%-34s | %12s | %-14s | %14s | %6s\n", "case", "pvio", "baseline",
	       "baseline value", "ratio");
	printf("-----------------------------------+--------------+----------------+"
	       "----------------+-------\n");
	for (unsigned k = 0; k < eng->nr_rows; k++) {
		const struct erow *r = &eng->rows[k];

		fmt_value(pv, sizeof(pv), r->unit, r->pvio);
		fmt_value(bv, sizeof(bv), r->unit, r->base);
		if (isnan(r->ratio))
			snprintf(ra, sizeof(ra), "%s", r->pvio == 0 ? "inf" : "-");
		else
			snprintf(ra, sizeof(ra), "%.2f", r->ratio);
		printf("%-34s | %12s | %-14s | %14s | %6s\n", r->name, pv,
		       r->baseline, bv, ra);
	}
	printf("\nlabels (repetitions): near %u, far %u, mixed %u, busy %u, local %u\n",
	       eng->label_count[PVIO_BENCH_NEAR], eng->label_count[PVIO_BENCH_FAR],
	       eng->label_count[PVIO_BENCH_MIXED], eng->label_count[PVIO_BENCH_BUSY],
	       eng->label_count[PVIO_BENCH_LOCAL]);
	if (eng->def->probe)
		printf("bare ping-pong probe, median: near %.1f ns (%u probes), "
		       "far %.1f ns (%u probes)\n",
		       median(eng->probes[0], eng->nr_probes[0]), eng->nr_probes[0],
		       median(eng->probes[1], eng->nr_probes[1]), eng->nr_probes[1]);
	printf("ratio > 1 means pvio is better (ns, B, %%cpu: baseline/pvio).\n"
	       "Rows compare medians of repetitions with the same label; mixed and "
	       "busy ones (a\nbenchmark thread or process was off its CPU for over "
	       "2%% of the run) are counted\nbut not compared; \"unpaired\" rows "
	       "carry no ratio.\n%s"
	       "took %.1f s\n", eng->def->notes ? eng->def->notes : "", secs);
}

int pvio_bench_engine_run(const struct pvio_bench_suite_def *def,
			  const struct pvio_bench_opts *opts)
{
	struct pvio_bench_engine *eng = calloc(1, sizeof(*eng));
	uint64_t t_start = pvio_now_ns();
	bool progress = !opts->json && isatty(STDERR_FILENO);
	int status = 1;

	if (!eng || def->nr_bodies > 64) {
		fprintf(stderr, PROG ": out of memory\n");
		free(eng);
		return 1;
	}
	eng->def = def;
	eng->reps = opts->reps ? opts->reps : opts->quick ? def->quick_reps : def->reps;
	eng->probe_cap = 2u * eng->reps * def->nr_bodies;
	eng->probes[0] = calloc(eng->probe_cap, sizeof(double));
	eng->probes[1] = calloc(eng->probe_cap, sizeof(double));
	if (!eng->probes[0] || !eng->probes[1])
		goto oom;
	for (unsigned b = 0; b < def->nr_bodies; b++)
		if (!(eng->samples[b] = calloc(eng->reps, sizeof(struct pvio_bench_sample))))
			goto oom;

	for (unsigned b = 0; b < def->nr_bodies; b++) {
		if (progress)
			fprintf(stderr, "\r%s: sizing %-24s", def->name, def->body_names[b]);
		if (size_body(eng, b, opts->smoke))
			goto out;
	}
	for (unsigned r = 0; r < eng->reps; r++) {
		if (progress)
			fprintf(stderr, "\r%s: repetition %u/%u                   ",
				def->name, r + 1, eng->reps);
		for (unsigned b = 0; b < def->nr_bodies; b++)
			if (run_rep(eng, b))
				goto out;
	}
	if (progress)
		fprintf(stderr, "\r%60s\r", "");
	build_rows(eng);
	if (opts->json)
		print_json(eng);
	else {
		print_table(eng, opts->quick, (double)(pvio_now_ns() - t_start) * 1e-9);
		if (def->summary)
			def->summary(def->ctx, eng);
	}
	fflush(stdout);
	if (eng->label_count[PVIO_BENCH_BUSY])
		fprintf(stderr, PROG ": warning: %u repetitions lost their CPU to "
			"other tasks (the machine is not quiet); they are not compared\n",
			eng->label_count[PVIO_BENCH_BUSY]);
	status = 0;
	goto out;
oom:
	fprintf(stderr, PROG ": out of memory\n");
out:
	for (unsigned b = 0; b < 64; b++)
		free(eng->samples[b]);
	free(eng->probes[0]);
	free(eng->probes[1]);
	free(eng);
	return status;
}
