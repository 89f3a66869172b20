/* SPDX-License-Identifier: MIT */
/*
 * Placement regime labels (see BENCHMARKING.md section 1). The two vCPUs
 * sit on cores that share a cache ("near", ~64 ns cache-line round trip)
 * or not ("far", ~320 ns), and that flips every few seconds. Every
 * repetition is bracketed by a short probe; a repetition whose probes
 * disagree is "mixed" and is compared with nothing.
 */
#include <stdlib.h>

#include "bench_pvt.h"

#define PROBE_WARM      64u
#define PROBE_CHUNKS    16u
#define PROBE_PER_CHUNK 128u

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

double pvio_bench_regime_probe(void)
{
	uint64_t ns[PROBE_CHUNKS];
	int rc = pvio_bench_pingpong_chunks(PROBE_WARM, PROBE_CHUNKS,
					    PROBE_PER_CHUNK, ns);

	if (rc)
		return rc;
	/* The median chunk: an interrupt or a preemption spoils a chunk, not
	 * the label. */
	qsort(ns, PROBE_CHUNKS, sizeof(ns[0]), cmp_u64);
	return (double)(ns[PROBE_CHUNKS / 2 - 1] + ns[PROBE_CHUNKS / 2]) / 2.0 /
	       PROBE_PER_CHUNK;
}

enum pvio_bench_regime pvio_bench_regime_of(double before_ns, double after_ns)
{
	bool near_before = before_ns < PVIO_BENCH_NEAR_MAX_NS;
	bool near_after = after_ns < PVIO_BENCH_NEAR_MAX_NS;

	if (near_before != near_after)
		return PVIO_BENCH_MIXED;
	return near_before ? PVIO_BENCH_NEAR : PVIO_BENCH_FAR;
}

const char *pvio_bench_regime_name(enum pvio_bench_regime regime)
{
	switch (regime) {
	case PVIO_BENCH_NEAR:
		return "near";
	case PVIO_BENCH_FAR:
		return "far";
	case PVIO_BENCH_MIXED:
		return "mixed";
	case PVIO_BENCH_BUSY:
		return "busy";
	default:
		return "?";
	}
}
