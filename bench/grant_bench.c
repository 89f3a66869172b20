/* SPDX-License-Identifier: MIT */
/*
 * Suite "grant" bodies: grant-table operations of one backend on one pinned
 * CPU against the memcpy they stand in for (moved from
 * tests/grant/grant_bench_raw.c). Everything runs on the calling thread:
 * a backend domain (BACK) maps, copies and flips pages a frontend domain
 * (FRONT) granted it, in one host machine memory (pvio_mem).
 *
 *   memcpy hot/cold (BYTES)  copy_fn over one hot buffer / over cold pages
 *   map+unmap 1, batch 32    pvio_gnt_map_one / pvio_gnt_map of 32 refs
 *   grant copy 4 KiB hot     one ref, pvio_gnt_copy to our pfn 0
 *   grant copy 4 KiB cold    every op touches a page untouched for
 *                            cold_pages pages (64 MiB by default)
 *   persistent-cache hit     pvio_gnt_cache_get/put of 32 mapped refs
 *   flip, batch 1 / 32       offer (front) + transfer (back) + end (front)
 *   mmap MAP_FIXED remap     the design's rejected alternative
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

#include "bench_pvt.h"

#define BACK 0
#define FRONT 1
#define PAGE 4096u

static struct {
	bool up;
	struct pvio_mem *mem;
	const struct pvio_machine *m;
	struct pvio_gnt_front *f;
	struct pvio_gnt_back *b;
	struct pvio_gnt_cache *cache;
	pvio_grant_ref_t hot_ref;
	pvio_grant_ref_t refs32[32];
	pvio_grant_ref_t *cold_refs;
	uint32_t cold_pages;
	int pool_fd;
	void *remap_area;
} G;

static volatile unsigned char sink;
/* Through a volatile pointer so the compiler cannot elide repeated copies. */
static void *(*volatile copy_fn)(void *, const void *, size_t) = memcpy;
static unsigned char hot_src[PAGE] __attribute__((aligned(64)));
static unsigned char hot_dst[PAGE] __attribute__((aligned(64)));

static const char *const body_names[PVIO_BENCH_G_NR] = {
	[PVIO_BENCH_G_MEMCPY_HOT] = "memcpy hot",
	[PVIO_BENCH_G_MEMCPY_COLD] = "memcpy cold",
	[PVIO_BENCH_G_MAP1] = "map+unmap",
	[PVIO_BENCH_G_MAP32] = "map+unmap batch=32",
	[PVIO_BENCH_G_COPY_HOT] = "grant copy hot",
	[PVIO_BENCH_G_COPY_COLD] = "grant copy cold",
	[PVIO_BENCH_G_CACHE_HIT] = "cache hit",
	[PVIO_BENCH_G_FLIP1] = "flip",
	[PVIO_BENCH_G_FLIP32] = "flip batch=32",
	[PVIO_BENCH_G_REMAP] = "mmap remap",
};

const char *pvio_bench_grant_body_name(enum pvio_bench_grant_body body)
{
	return (unsigned)body < PVIO_BENCH_G_NR ? body_names[body] : "?";
}

void pvio_bench_grant_teardown(void)
{
	if (G.remap_area)
		munmap(G.remap_area, 32 * PAGE);
	if (G.cache) {
		pvio_gnt_cache_flush(G.cache);
		pvio_gnt_cache_destroy(G.cache);
	}
	if (G.b)
		pvio_gnt_back_destroy(G.b);
	if (G.f)
		pvio_gnt_front_destroy(G.f);
	free(G.cold_refs);
	if (G.mem)
		pvio_mem_close(G.mem);
	memset(&G, 0, sizeof(G));
}

int pvio_bench_grant_setup(int cpu, uint32_t cold_pages)
{
	int rc;

	if (G.up)
		return -EALREADY;
	if (cold_pages < 64)
		cold_pages = 64;
	struct pvio_mem_config cfg = { .nr_frames = 2 * cold_pages + 4096,
				       .max_domains = 4,
				       .max_pages = cold_pages + 512 };
	if ((rc = pvio_cpu_pin(cpu)))
		return rc;
	G.cold_pages = cold_pages;
	if ((rc = pvio_mem_create(&cfg, &G.mem)) ||
	    (rc = pvio_mem_domain_create(G.mem, BACK, cold_pages + 256, 1)) ||
	    (rc = pvio_mem_domain_create(G.mem, FRONT, cold_pages, 64)))
		goto fail;
	G.m = pvio_mem_machine(G.mem);
	if ((rc = pvio_gnt_front_create(G.m, FRONT, &G.f)) ||
	    (rc = pvio_gnt_back_create(G.m, BACK, 4096, &G.b)) ||
	    (rc = pvio_gnt_cache_create(G.b, 0, &G.cache)))
		goto fail;
	pvio_mem_fds(G.mem, &G.pool_fd, NULL);
	if ((rc = pvio_gnt_grant(G.f, BACK, 1, false, &G.hot_ref)))
		goto fail;
	for (uint32_t k = 0; k < 32; k++)
		if ((rc = pvio_gnt_grant(G.f, BACK, 2 + k, false, &G.refs32[k])))
			goto fail;
	G.cold_refs = malloc(cold_pages * sizeof(*G.cold_refs));
	if (!G.cold_refs) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < cold_pages; i++) {
		if ((rc = pvio_gnt_grant(G.f, BACK, i, true, &G.cold_refs[i])))
			goto fail;
		memset(pvio_mach_pfn_ptr(G.m, FRONT, i), (int)i, PAGE);
		memset(pvio_mach_pfn_ptr(G.m, BACK, i), 1, PAGE);
	}
	memset(hot_src, 7, sizeof(hot_src));
	G.remap_area = mmap(NULL, 32 * PAGE, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (G.remap_area == MAP_FAILED) {
		G.remap_area = NULL;
		rc = -errno;
		goto fail;
	}
	G.up = true;
	return 0;
fail:
	pvio_bench_grant_teardown();
	return rc < 0 ? rc : -EIO;
}

/* ---- bodies: each returns 0 or -errno, *pages the pages it moved ---- */

static int b_memcpy_hot(uint64_t count, uint32_t bytes)
{
	for (uint64_t i = 0; i < count; i++)
		copy_fn(hot_dst, hot_src, bytes);
	return 0;
}

static int b_memcpy_cold(uint64_t count, uint32_t bytes)
{
	uint32_t p = 0;

	for (uint64_t i = 0; i < count; i++) {
		copy_fn(pvio_mach_pfn_ptr(G.m, BACK, p),
			pvio_mach_pfn_ptr(G.m, FRONT, p), bytes);
		if (++p == G.cold_pages)
			p = 0;
	}
	return 0;
}

static int b_map1(uint64_t count)
{
	void *page;
	uint32_t h;
	int rc;

	for (uint64_t i = 0; i < count; i++) {
		if ((rc = pvio_gnt_map_one(G.b, FRONT, G.hot_ref, 0, &page, &h)))
			return rc < 0 ? rc : -EIO;
		sink = *(volatile unsigned char *)page;
		pvio_gnt_unmap_one(G.b, h);
	}
	return 0;
}

static int b_map32(uint64_t count)
{
	struct pvio_gnt_map_op ops[32];
	struct pvio_gnt_unmap_op un[32];

	for (uint64_t i = 0; i < count / 32; i++) {
		for (int k = 0; k < 32; k++)
			ops[k] = (struct pvio_gnt_map_op){ .ref = G.refs32[k], .dom = FRONT };
		pvio_gnt_map(G.b, ops, 32);
		for (int k = 0; k < 32; k++) {
			if (ops[k].status)
				return ops[k].status < 0 ? ops[k].status : -EIO;
			un[k].handle = ops[k].handle;
		}
		pvio_gnt_unmap(G.b, un, 32);
	}
	return 0;
}

static int b_copy_hot(uint64_t count)
{
	struct pvio_gnt_copy_op op = {
		.source = { .u.ref = G.hot_ref, .domid = FRONT },
		.dest = { .u.pfn = 0, .domid = PVIO_DOMID_SELF },
		.len = PAGE, .flags = PVIO_GNTCOPY_source_gref,
	};

	for (uint64_t i = 0; i < count; i++) {
		pvio_gnt_copy(G.b, &op, 1);
		if (op.status)
			return -EIO;
	}
	return 0;
}

static int b_copy_cold(uint64_t count)
{
	struct pvio_gnt_copy_op op = {
		.dest = { .domid = PVIO_DOMID_SELF }, .len = PAGE,
		.flags = PVIO_GNTCOPY_source_gref,
		.source = { .domid = FRONT },
	};
	uint32_t p = 0;

	for (uint64_t i = 0; i < count; i++) {
		op.source.u.ref = G.cold_refs[p];
		op.dest.u.pfn = p;
		pvio_gnt_copy(G.b, &op, 1);
		if (op.status)
			return -EIO;
		if (++p == G.cold_pages)
			p = 0;
	}
	return 0;
}

static int b_cache_hit(uint64_t count)
{
	struct pvio_gnt_cache_entry *e;
	int rc;

	for (uint64_t i = 0; i < count; i++) {
		if ((rc = pvio_gnt_cache_get(G.cache, FRONT, G.refs32[i & 31], 0,
					     (uint32_t)i, &e)))
			return rc < 0 ? rc : -EIO;
		sink = *(volatile unsigned char *)e->addr;
		pvio_gnt_cache_put(G.cache, e);
	}
	return 0;
}

/* Everything a flip needs on the clock: the frontend's offers, the
 * backend's transfer op, the frontend's end. */
static int b_flip(uint64_t count, unsigned batch)
{
	struct pvio_gnt_transfer_op ops[32];
	pvio_grant_ref_t r[32];
	uint32_t mfn;
	int rc;

	for (uint64_t i = 0; i < count / batch; i++) {
		for (unsigned k = 0; k < batch; k++) {
			if ((rc = pvio_gnt_grant_transfer(G.f, BACK, 100 + k, &r[k])))
				return rc < 0 ? rc : -EIO;
			ops[k] = (struct pvio_gnt_transfer_op){ .pfn = 200 + k,
				.domid = FRONT, .ref = r[k] };
		}
		pvio_gnt_transfer(G.b, ops, batch);
		for (unsigned k = 0; k < batch; k++) {
			if (ops[k].status)
				return ops[k].status < 0 ? ops[k].status : -EIO;
			pvio_gnt_transfer_end(G.f, r[k], &mfn);
		}
	}
	return 0;
}

/* Move a frame by remapping it (and faulting it in). */
static int b_remap(uint64_t count)
{
	for (uint64_t i = 0; i < count; i++) {
		off_t off = (off_t)(1000 + (i & 1) * 64) * PAGE;
		void *p = mmap(G.remap_area, PAGE, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_FIXED, G.pool_fd, off);
		if (p == MAP_FAILED)
			return -errno;
		((volatile unsigned char *)p)[0] = 1;
	}
	return 0;
}

uint64_t pvio_bench_grant_unit(enum pvio_bench_grant_body body)
{
	return body == PVIO_BENCH_G_MAP32 || body == PVIO_BENCH_G_FLIP32 ? 32 : 1;
}

int pvio_bench_grant_run(enum pvio_bench_grant_body body, uint32_t bytes,
			 uint64_t count, struct pvio_bench_local_result *res)
{
	uint64_t unit = pvio_bench_grant_unit(body);
	int rc;

	memset(res, 0, sizeof(*res));
	if (!G.up)
		return -ENOTCONN;
	if ((unsigned)body >= PVIO_BENCH_G_NR || bytes == 0 || bytes > PAGE)
		return -EINVAL;
	count = (count + unit - 1) / unit * unit;
	if (!count)
		count = unit;
	uint64_t cpu = pvio_bench_thread_cpu_ns();
	uint64_t t0 = pvio_now_ns();
	switch (body) {
	case PVIO_BENCH_G_MEMCPY_HOT: rc = b_memcpy_hot(count, bytes); break;
	case PVIO_BENCH_G_MEMCPY_COLD: rc = b_memcpy_cold(count, bytes); break;
	case PVIO_BENCH_G_MAP1: rc = b_map1(count); break;
	case PVIO_BENCH_G_MAP32: rc = b_map32(count); break;
	case PVIO_BENCH_G_COPY_HOT: rc = b_copy_hot(count); break;
	case PVIO_BENCH_G_COPY_COLD: rc = b_copy_cold(count); break;
	case PVIO_BENCH_G_CACHE_HIT: rc = b_cache_hit(count); break;
	case PVIO_BENCH_G_FLIP1: rc = b_flip(count, 1); break;
	case PVIO_BENCH_G_FLIP32: rc = b_flip(count, 32); break;
	case PVIO_BENCH_G_REMAP: rc = b_remap(count); break;
	default: rc = -EINVAL; break;
	}
	res->ns = pvio_now_ns() - t0;
	cpu = pvio_bench_thread_cpu_ns() - cpu;
	res->ops = count;
	res->offcpu_ns = res->ns > cpu ? res->ns - cpu : 0;
	res->status = rc;
	return 0;
}
