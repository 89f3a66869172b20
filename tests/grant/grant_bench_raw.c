/* SPDX-License-Identifier: MIT */
/*
 * grant-bench-raw: benchmark bodies for grant/ (bench/ will register them).
 * One thread, pinned; every figure is ns per page, the median of REPS
 * repetitions, each pvio repetition interleaved with its baseline's.
 *   map+unmap (1 and batch 32)      vs hot 4 KiB memcpy
 *   grant copy 4 KiB, hot and cold  vs memcpy hot and cold
 *   persistent-cache hit
 *   transfer (flip), batch 1/8/32   vs copying the page; break-even size
 *   mmap(MAP_FIXED) remap of a frame (the design's rejected alternative)
 * usage: grant-bench-raw [--quick]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvio/grant.h>
#include <pvio/host.h>
#include <pvio/host_memory.h>

#define BACK 0
#define FRONT 1
#define COLD_PAGES 16384u /* 64 MiB: past the caches */
#define REPS 7

static struct pvio_mem *mem;
static const struct pvio_machine *m;
static struct pvio_gnt_front *f;
static struct pvio_gnt_back *b;
static unsigned iters = 200000;
static volatile unsigned char sink;
/* Through a volatile pointer so the compiler cannot elide repeated copies. */
static void *(*volatile copy_fn)(void *, const void *, size_t) = memcpy;

static void die(const char *what, int rc)
{
	fprintf(stderr, "grant-bench-raw: %s: %d\n", what, rc);
	exit(1);
}

static int cmp_double(const void *a, const void *b2)
{
	double x = *(const double *)a, y = *(const double *)b2;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

typedef double (*body_fn)(void *arg); /* returns ns per page */

/* Interleave A and B, REPS times each; medians out. */
static void ab(body_fn a, void *aa, body_fn bb, void *ba, double *ma, double *mb)
{
	double ra[REPS], rb[REPS];

	for (int r = 0; r < REPS; r++) {
		ra[r] = a(aa);
		rb[r] = bb ? bb(ba) : 0;
	}
	*ma = median(ra, REPS);
	*mb = bb ? median(rb, REPS) : 0;
}

/* ---- bodies ---------------------------------------------------------- */

static pvio_grant_ref_t hot_ref;
static pvio_grant_ref_t refs32[32];
static pvio_grant_ref_t *cold_refs;
static unsigned char hot_src[4096] __attribute__((aligned(64)));
static unsigned char hot_dst[4096] __attribute__((aligned(64)));

static double b_memcpy_hot(void *arg)
{
	(void)arg;
	uint64_t t0 = pvio_now_ns();
	for (unsigned i = 0; i < iters; i++) {
		copy_fn(hot_dst, hot_src, 4096);
	}
	return (double)(pvio_now_ns() - t0) / iters;
}

static double b_map_unmap_1(void *arg)
{
	void *page;
	uint32_t h;

	(void)arg;
	uint64_t t0 = pvio_now_ns();
	for (unsigned i = 0; i < iters; i++) {
		if (pvio_gnt_map_one(b, FRONT, hot_ref, 0, &page, &h))
			die("map", -1);
		sink = *(volatile unsigned char *)page;
		pvio_gnt_unmap_one(b, h);
	}
	return (double)(pvio_now_ns() - t0) / iters;
}

static double b_map_unmap_32(void *arg)
{
	struct pvio_gnt_map_op ops[32];
	struct pvio_gnt_unmap_op un[32];
	unsigned n = iters / 32;

	(void)arg;
	uint64_t t0 = pvio_now_ns();
	for (unsigned i = 0; i < n; i++) {
		for (int k = 0; k < 32; k++)
			ops[k] = (struct pvio_gnt_map_op){ .ref = refs32[k], .dom = FRONT };
		pvio_gnt_map(b, ops, 32);
		for (int k = 0; k < 32; k++) {
			if (ops[k].status)
				die("map batch", ops[k].status);
			un[k].handle = ops[k].handle;
		}
		pvio_gnt_unmap(b, un, 32);
	}
	return (double)(pvio_now_ns() - t0) / (n * 32.0);
}

static double b_copy_hot(void *arg)
{
	struct pvio_gnt_copy_op op = {
		.source = { .u.ref = hot_ref, .domid = FRONT },
		.dest = { .u.pfn = 0, .domid = PVIO_DOMID_SELF },
		.len = 4096, .flags = PVIO_GNTCOPY_source_gref,
	};

	(void)arg;
	uint64_t t0 = pvio_now_ns();
	for (unsigned i = 0; i < iters; i++) {
		pvio_gnt_copy(b, &op, 1);
		if (op.status)
			die("copy", op.status);
	}
	return (double)(pvio_now_ns() - t0) / iters;
}

/* Cold: each op touches a page not touched for 64 MiB. */
static double b_copy_cold(void *arg)
{
	struct pvio_gnt_copy_op op = {
		.dest = { .domid = PVIO_DOMID_SELF }, .len = 4096,
		.flags = PVIO_GNTCOPY_source_gref,
		.source = { .domid = FRONT },
	};

	(void)arg;
	uint64_t t0 = pvio_now_ns();
	for (unsigned i = 0; i < COLD_PAGES; i++) {
		op.source.u.ref = cold_refs[i];
		op.dest.u.pfn = i;
		pvio_gnt_copy(b, &op, 1);
		if (op.status)
			die("copy cold", op.status);
	}
	return (double)(pvio_now_ns() - t0) / COLD_PAGES;
}

static double b_memcpy_cold(void *arg)
{
	(void)arg;
	uint64_t t0 = pvio_now_ns();
	for (unsigned i = 0; i < COLD_PAGES; i++) {
		copy_fn(pvio_mach_pfn_ptr(m, BACK, i), pvio_mach_pfn_ptr(m, FRONT, i), 4096);
	}
	return (double)(pvio_now_ns() - t0) / COLD_PAGES;
}

static double b_cache_hit(void *arg)
{
	struct pvio_gnt_cache *c = arg;
	struct pvio_gnt_cache_entry *e;

	uint64_t t0 = pvio_now_ns();
	for (unsigned i = 0; i < iters; i++) {
		if (pvio_gnt_cache_get(c, FRONT, refs32[i & 31], 0, i, &e))
			die("cache", -1);
		sink = *(volatile unsigned char *)e->addr;
		pvio_gnt_cache_put(c, e);
	}
	return (double)(pvio_now_ns() - t0) / iters;
}

/*
 * Flip, batch of flip_batch pages, everything a flip needs on the clock:
 * the frontend's offers, the backend's transfer op, the frontend's end.
 */
static unsigned flip_batch = 1;
static double b_flip(void *arg)
{
	struct pvio_gnt_transfer_op ops[32];
	pvio_grant_ref_t r[32];
	unsigned n = iters / 8 / flip_batch;
	uint32_t mfn;

	(void)arg;
	uint64_t t0 = pvio_now_ns();
	for (unsigned i = 0; i < n; i++) {
		for (unsigned k = 0; k < flip_batch; k++) {
			pvio_gnt_grant_transfer(f, BACK, 100 + k, &r[k]);
			ops[k] = (struct pvio_gnt_transfer_op){ .pfn = 200 + k,
				.domid = FRONT, .ref = r[k] };
		}
		pvio_gnt_transfer(b, ops, flip_batch);
		for (unsigned k = 0; k < flip_batch; k++) {
			if (ops[k].status)
				die("transfer", ops[k].status);
			pvio_gnt_transfer_end(f, r[k], &mfn);
		}
	}
	return (double)(pvio_now_ns() - t0) / (n * flip_batch);
}

/* Flip round trip: frontend offer + backend transfer + frontend end. */
static double b_flip_rt(void *arg)
{
	struct pvio_gnt_transfer_op op = { .pfn = 200, .domid = FRONT };
	unsigned n = iters / 8;
	uint32_t mfn;

	(void)arg;
	uint64_t t0 = pvio_now_ns();
	for (unsigned i = 0; i < n; i++) {
		pvio_gnt_grant_transfer(f, BACK, 100, &op.ref);
		pvio_gnt_transfer(b, &op, 1);
		pvio_gnt_transfer_end(f, op.ref, &mfn);
	}
	return (double)(pvio_now_ns() - t0) / n;
}

/* The rejected alternative: move a frame by remapping it. */
static void *remap_area;
static int pool_fd;
static unsigned remap_pages = 1;
static double b_remap(void *arg)
{
	unsigned n = 2000 / remap_pages + 1;

	(void)arg;
	uint64_t t0 = pvio_now_ns();
	for (unsigned i = 0; i < n; i++) {
		off_t off = (off_t)(1000 + (i & 1) * 64) * 4096;
		void *p = mmap(remap_area, 4096 * remap_pages, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_FIXED, pool_fd, off);
		if (p == MAP_FAILED)
			die("mmap", -errno);
		for (unsigned k = 0; k < remap_pages; k++)
			((volatile unsigned char *)p)[k * 4096] = 1; /* fault it in */
	}
	return (double)(pvio_now_ns() - t0) / (n * remap_pages);
}

int main(int argc, char **argv)
{
	struct pvio_mem_config cfg = { .nr_frames = 2 * COLD_PAGES + 4096,
				       .max_domains = 4,
				       .max_pages = COLD_PAGES + 512 };
	struct pvio_gnt_cache *cache;
	double a, c;
	int rc;

	if (argc > 1 && !strcmp(argv[1], "--quick"))
		iters = 20000;
	else if (argc > 1) {
		fprintf(stderr, "usage: grant-bench-raw [--quick]\n");
		return 2;
	}
	pvio_cpu_pin(0);
	if ((rc = pvio_mem_create(&cfg, &mem)) ||
	    (rc = pvio_mem_domain_create(mem, BACK, COLD_PAGES + 256, 1)) ||
	    (rc = pvio_mem_domain_create(mem, FRONT, COLD_PAGES, 64)))
		die("machine memory", rc);
	m = pvio_mem_machine(mem);
	if ((rc = pvio_gnt_front_create(m, FRONT, &f)) ||
	    (rc = pvio_gnt_back_create(m, BACK, 4096, &b)) ||
	    (rc = pvio_gnt_cache_create(b, 0, &cache)))
		die("grant state", rc);
	pvio_mem_fds(mem, &pool_fd, NULL);
	if (pvio_gnt_grant(f, BACK, 1, false, &hot_ref))
		die("grant", -1);
	for (int k = 0; k < 32; k++)
		if (pvio_gnt_grant(f, BACK, 2 + (uint32_t)k, false, &refs32[k]))
			die("grant", -1);
	cold_refs = malloc(COLD_PAGES * sizeof(*cold_refs));
	for (uint32_t i = 0; i < COLD_PAGES; i++) {
		if ((rc = pvio_gnt_grant(f, BACK, i, true, &cold_refs[i])))
			die("grant cold", rc);
		memset(pvio_mach_pfn_ptr(m, FRONT, i), (int)i, 4096);
		memset(pvio_mach_pfn_ptr(m, BACK, i), 1, 4096);
	}
	memset(hot_src, 7, sizeof(hot_src));

	printf("grant-bench-raw: ns per 4 KiB page, median of %d (iters %u)\n", REPS, iters);
	ab(b_map_unmap_1, NULL, b_memcpy_hot, NULL, &a, &c);
	printf("map+unmap, 1 page          %8.1f   memcpy 4 KiB hot %8.1f   ratio memcpy/map %.2f\n",
	       a, c, c / a);
	ab(b_map_unmap_32, NULL, b_memcpy_hot, NULL, &a, &c);
	printf("map+unmap, batch 32        %8.1f   memcpy 4 KiB hot %8.1f   ratio memcpy/map %.2f\n",
	       a, c, c / a);
	ab(b_copy_hot, NULL, b_memcpy_hot, NULL, &a, &c);
	printf("grant copy 4 KiB hot       %8.1f   memcpy 4 KiB hot %8.1f   ratio memcpy/copy %.2f\n",
	       a, c, c / a);
	ab(b_copy_cold, NULL, b_memcpy_cold, NULL, &a, &c);
	printf("grant copy 4 KiB cold      %8.1f   memcpy 4 KiB cold%8.1f   ratio memcpy/copy %.2f\n",
	       a, c, c / a);
	double cold = c;
	ab(b_cache_hit, cache, NULL, NULL, &a, &c);
	printf("persistent-cache hit       %8.1f\n", a);
	double gcopy_hot, gcopy_cold;
	ab(b_copy_hot, NULL, b_copy_cold, NULL, &gcopy_hot, &gcopy_cold);
	for (unsigned bs = 1; bs <= 32; bs *= 2) {
		if (bs != 1 && bs != 8 && bs != 32)
			continue;
		flip_batch = bs;
		ab(b_flip, NULL, b_memcpy_hot, NULL, &a, &c);
		printf("transfer (flip), batch %-2u  %8.1f   memcpy 4 KiB hot %8.1f   ratio memcpy/flip %.2f, cold memcpy/flip %.2f, grant copy hot/flip %.2f, cold/flip %.2f\n",
		       bs, a, c, c / a, cold / a, gcopy_hot / a, gcopy_cold / a);
		printf("   flipping beats copying above %.0f B (hot memcpy), %.0f B (cold memcpy)\n",
		       4096.0 * a / c, 4096.0 * a / cold);
	}
	ab(b_flip_rt, NULL, NULL, NULL, &a, &c);
	printf("flip round trip, batch 1 (b_flip_rt)  %8.1f\n", a);

	/* The alternative DESIGN.md rejects: remapping. */
	remap_area = mmap(NULL, 32 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	remap_pages = 1;
	ab(b_remap, NULL, NULL, NULL, &a, &c);
	printf("mmap MAP_FIXED remap, 1 page       %8.1f (incl. first-touch fault)\n", a);
	remap_pages = 32;
	ab(b_remap, NULL, NULL, NULL, &a, &c);
	printf("mmap MAP_FIXED remap, 32 contiguous %7.1f per page\n", a);

	pvio_gnt_cache_flush(cache);
	pvio_gnt_cache_destroy(cache);
	pvio_gnt_back_destroy(b);
	pvio_gnt_front_destroy(f);
	free(cold_refs);
	pvio_mem_close(mem);
	return 0;
}
