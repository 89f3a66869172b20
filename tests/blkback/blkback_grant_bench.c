/* SPDX-License-Identifier: MIT */
/*
 * Persistent grants vs map per request: the grant cost of one blkif
 * request of n pages, for a frontend cycling over qd requests' worth of
 * distinct grants (its working set is qd * n refs).
 *
 *   map        pvio_gnt_map(n) + pvio_gnt_unmap(n), batched, per request
 *   persistent pvio_gnt_cache_get/put per page (cap 1056, Linux's)
 *
 * The data I/O is the same zero-copy I/O into the mapped page either way,
 * so only this cost differs. Prints ns per request (median of 5 runs).
 * Single thread; not a test (bench/ registers the suites).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvio/grant.h>
#include <pvio/host.h>
#include <pvio/host_memory.h>

#define CAP 1056u

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 1, 4, 11, 32, 128 };
	static const uint32_t depths[] = { 1, 8, 32, 128 };
	struct pvio_mem_config mc = { .nr_frames = 65536, .max_domains = 4 };
	struct pvio_mem *mem;
	const struct pvio_machine *m;
	struct pvio_gnt_front *f;
	struct pvio_gnt_back *b;
	uint32_t nrefs = 16384;
	pvio_grant_ref_t *refs = calloc(nrefs, sizeof(*refs));
	uint64_t iters = argc > 1 ? strtoull(argv[1], NULL, 0) : 20000;

	if (pvio_mem_create(&mc, &mem) || !refs)
		return 1;
	m = pvio_mem_machine(mem);
	if (pvio_mem_domain_create(mem, 0, 16, 4) ||
	    pvio_mem_domain_create(mem, 1, nrefs + 16, 64) ||
	    pvio_gnt_front_create(m, 1, &f) || pvio_gnt_back_create(m, 0, 8192, &b))
		return 1;
	for (uint32_t i = 0; i < nrefs; i++)
		if (pvio_gnt_grant(f, 0, i, false, &refs[i]))
			return 1;

	printf("%-6s %-5s %-8s %12s %12s %10s %s\n", "pages", "qd", "working", "map ns/req",
	       "pers ns/req", "pers/map", "winner");
	for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		for (size_t di = 0; di < sizeof(depths) / sizeof(depths[0]); di++) {
			uint32_t n = sizes[si], qd = depths[di], ws = n * qd;
			struct pvio_gnt_map_op *ops = calloc(n, sizeof(*ops));
			struct pvio_gnt_unmap_op *uops = calloc(n, sizeof(*uops));
			struct pvio_gnt_cache_entry **ce = calloc(n, sizeof(*ce));
			double tm[5], tp[5];

			if (ws > nrefs)
				continue;
			for (int rep = 0; rep < 5; rep++) {
				uint64_t t0 = pvio_now_ns();

				for (uint64_t it = 0; it < iters; it++) {
					uint32_t base = (uint32_t)(it % qd) * n;

					for (uint32_t k = 0; k < n; k++)
						ops[k] = (struct pvio_gnt_map_op){ .ref = refs[base + k], .dom = 1 };
					pvio_gnt_map(b, ops, n);
					for (uint32_t k = 0; k < n; k++)
						uops[k].handle = ops[k].handle;
					pvio_gnt_unmap(b, uops, n);
				}
				tm[rep] = (double)(pvio_now_ns() - t0) / (double)iters;

				struct pvio_gnt_cache *c;

				if (pvio_gnt_cache_create(b, CAP, &c))
					return 1;
				t0 = pvio_now_ns();
				for (uint64_t it = 0; it < iters; it++) {
					uint32_t base = (uint32_t)(it % qd) * n;

					for (uint32_t k = 0; k < n; k++)
						if (pvio_gnt_cache_get(c, 1, refs[base + k], 0, it, &ce[k]))
							ce[k] = NULL;
					for (uint32_t k = 0; k < n; k++)
						if (ce[k])
							pvio_gnt_cache_put(c, ce[k]);
				}
				tp[rep] = (double)(pvio_now_ns() - t0) / (double)iters;
				pvio_gnt_cache_flush(c);
				pvio_gnt_cache_destroy(c);
			}
			qsort(tm, 5, sizeof(double), cmp);
			qsort(tp, 5, sizeof(double), cmp);
			printf("%-6u %-5u %-8u %12.0f %12.0f %10.2f %s\n", n, qd, ws, tm[2], tp[2],
			       tp[2] / tm[2], tp[2] < tm[2] ? "persistent" : "map");
			free(ops);
			free(uops);
			free(ce);
		}
	}
	pvio_gnt_back_destroy(b);
	pvio_gnt_front_destroy(f);
	pvio_mem_close(mem);
	free(refs);
	return 0;
}
