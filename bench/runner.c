/* SPDX-License-Identifier: MIT */
/*
 * The command line of `pvio-bench SUITE [--quick] [--json] [--reps N]`:
 * parses it and dispatches to a suite (suite_ring.c, ...). Usage errors
 * exit 2 with one line on stderr naming the problem.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_pvt.h"

#define PROG "pvio-bench"

/* ------------------------------------------------------------ arguments */

struct suite {
	const char *name;
	const char *what;
	int (*run)(const struct pvio_bench_opts *opts);
};

static const struct suite suites[] = {
	{ "ring", "pvio ring vs Xen io/ring.h macros and DPDK rte_ring",
	  pvio_bench_suite_ring },
	{ "grant", "grant map/copy/cache/flip vs memcpy, one pinned CPU",
	  pvio_bench_suite_grant },
	{ "evtchn", "event-channel round trips (BLOCK/POLL/ADAPTIVE) vs eventfd and spin; idle CPU",
	  pvio_bench_suite_evtchn },
	{ "net", "pvio net vs DPDK to net_null; copy/zero copy, copy/flip; iperf3 TAP vs veth",
	  pvio_bench_suite_net },
	{ "blk", "pvio blk vs fio (io_uring, null) on tmpfs and the root fs, same CPUs",
	  pvio_bench_suite_blk },
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: " PROG " SUITE [--quick] [--json] [--reps N]\n"
		"       " PROG " --gbench [Google Benchmark flags]\n"
		"\n"
		"Runs pvio and its baselines in the same run on two pinned CPUs\n"
		"(0 and 1), interleaving repetitions, labels each repetition by\n"
		"placement regime (near/far, from a bare cache-line ping-pong\n"
		"before and after it) and compares medians within one regime.\n"
		"\n"
		"suites:\n");
	for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
		fprintf(out, "  %-8s %s\n", suites[i].name, suites[i].what);
	fprintf(out,
		"\n"
		"options:\n"
		"  --quick    short repetitions (~30 ms) and fewer of them: well under a\n"
		"             minute (the default: ~200 ms each, about 2 minutes)\n"
		"  --json     print one JSON document on stdout and nothing else\n"
		"  --reps N   repetitions per case and implementation (default 31,\n"
		"             quick 7)\n"
		"  --gbench   run the same bodies as Google Benchmark benchmarks; the\n"
		"             other arguments go to Google Benchmark\n"
		"             (e.g. --benchmark_filter=ring_rt/pvio)\n"
		"  --help     this text\n"
		"\n"
		"environment:\n"
		"  PVIO_BENCH_SMOKE=1  tiny repetitions: checks behaviour, not speed\n"
		"\n"
		"exit status: 0 ok, 1 failed run (wrong response, protocol error,\n"
		"stall, no CPUs 0/1), 2 bad usage.\n");
}

static int parse_reps(const char *s, unsigned *reps)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 100000 || s[0] == '-')
		return -EINVAL;
	*reps = (unsigned)v;
	return 0;
}

int pvio_bench_run(int argc, char **argv)
{
	struct pvio_bench_opts opts = { 0 };
	const struct suite *suite = NULL;
	const char *env = getenv("PVIO_BENCH_SMOKE");

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--quick")) {
			opts.quick = true;
		} else if (!strcmp(a, "--json")) {
			opts.json = true;
		} else if (!strcmp(a, "--reps") || !strncmp(a, "--reps=", 7)) {
			const char *v = a[6] == '=' ? a + 7 : (i + 1 < argc ? argv[++i] : NULL);

			if (!v) {
				fprintf(stderr, PROG ": --reps needs a number\n");
				return 2;
			}
			if (parse_reps(v, &opts.reps)) {
				fprintf(stderr, PROG ": bad --reps value '%s' (want 1..100000)\n", v);
				return 2;
			}
		} else if (a[0] == '-') {
			fprintf(stderr, PROG ": unknown option '%s' (try --help)\n", a);
			return 2;
		} else if (suite) {
			fprintf(stderr, PROG ": unexpected argument '%s' (one SUITE only)\n", a);
			return 2;
		} else {
			for (size_t s = 0; s < sizeof(suites) / sizeof(suites[0]); s++)
				if (!strcmp(a, suites[s].name))
					suite = &suites[s];
			if (!suite) {
				fprintf(stderr, PROG ": unknown suite '%s' (try --help)\n", a);
				return 2;
			}
		}
	}
	if (!suite) {
		fprintf(stderr, PROG ": no SUITE given (try --help)\n");
		return 2;
	}
	opts.smoke = env && *env && strcmp(env, "0") != 0;
	return suite->run(&opts);
}
