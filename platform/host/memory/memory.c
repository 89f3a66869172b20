/* SPDX-License-Identifier: MIT */
/*
 * Machine memory on a Linux host: two sparse memfds (the frame pool and
 * hypervisor memory), the frame allocator, and the toolstack's domain
 * build and destroy. See <pvio/host_memory.h> and <pvio/memory.h>.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvio/host.h>
#include <pvio/host_memory.h>

#define DEFAULT_FRAMES 16384u
#define DEFAULT_DOMAINS 64u
#define DEFAULT_GNT_FRAMES 32u

struct pvio_mem {
	struct pvio_machine m;
	int pool_fd, hv_fd;
	size_t pool_bytes, hv_bytes;
};

static size_t page_round(size_t n)
{
	return (n + PVIO_PAGE_SIZE - 1) & ~(size_t)(PVIO_PAGE_SIZE - 1);
}

/* The layout of hypervisor memory follows from the geometry alone. */
static void layout(struct pvio_mach_hdr *h)
{
	h->frames_off = PVIO_PAGE_SIZE;
	h->doms_off = page_round(h->frames_off + (uint64_t)h->nr_frames * 8);
	h->p2m_off = page_round(h->doms_off +
				(uint64_t)h->max_domains * sizeof(struct pvio_mach_dom));
	h->hv_bytes = page_round(h->p2m_off +
				 (uint64_t)h->max_domains * h->max_pages * 4);
}

static int mem_frame_alloc(void *ctx, pvio_domid_t owner, uint32_t *mfn)
{
	return pvio_mem_frame_alloc(ctx, owner, mfn);
}

static void mem_yield(void *ctx)
{
	(void)ctx;
	sched_yield();
}

static const struct pvio_mem_ops host_mem_ops = {
	.frame_alloc = mem_frame_alloc,
	.yield = mem_yield,
};

static void fill_view(struct pvio_mem *mem, unsigned char *pool,
		      struct pvio_mach_hdr *h)
{
	unsigned char *hv = (unsigned char *)h;

	mem->m.pool = pool;
	mem->m.hdr = h;
	mem->m.frames = (_Atomic uint64_t *)(hv + h->frames_off);
	mem->m.doms = (struct pvio_mach_dom *)(hv + h->doms_off);
	mem->m.p2m = (_Atomic uint32_t *)(hv + h->p2m_off);
	mem->m.nr_frames = h->nr_frames;
	mem->m.max_domains = h->max_domains;
	mem->m.max_pages = h->max_pages;
	mem->m.ops = &host_mem_ops;
	mem->m.ops_ctx = mem;
}

static int new_memfd(const char *name, size_t bytes, int *fd)
{
	int f = memfd_create(name, MFD_CLOEXEC);

	if (f < 0)
		return -errno;
	if (ftruncate(f, (off_t)bytes) < 0) {
		int err = -errno;

		close(f);
		return err;
	}
	*fd = f;
	return 0;
}

/* Through pvio_shm_map(): under TSan, one view per process (<pvio/host.h>). */
static void *map_fd(int fd, size_t bytes)
{
	void *p;
	int rc = pvio_shm_map(fd, bytes, &p);

	if (rc) {
		errno = -rc;
		return NULL;
	}
	return p;
}

void pvio_mem_close(struct pvio_mem *mem)
{
	if (!mem)
		return;
	if (mem->m.pool)
		pvio_shm_unmap(mem->m.pool, mem->pool_bytes);
	if (mem->m.hdr)
		pvio_shm_unmap(mem->m.hdr, mem->hv_bytes);
	if (mem->pool_fd >= 0)
		close(mem->pool_fd);
	if (mem->hv_fd >= 0)
		close(mem->hv_fd);
	free(mem);
}

int pvio_mem_create(const struct pvio_mem_config *cfg, struct pvio_mem **out)
{
	struct pvio_mach_hdr g = { 0 };
	struct pvio_mem *mem;
	unsigned char *pool;
	struct pvio_mach_hdr *h;
	int rc;

	if (!out)
		return -EINVAL;
	g.nr_frames = cfg && cfg->nr_frames ? cfg->nr_frames : DEFAULT_FRAMES;
	g.max_domains = cfg && cfg->max_domains ? cfg->max_domains : DEFAULT_DOMAINS;
	g.max_pages = cfg && cfg->max_pages ? cfg->max_pages : g.nr_frames;
	if (g.nr_frames < 2 || g.nr_frames >= 0x80000000u ||
	    g.max_domains > PVIO_DOMID_SELF)
		return -EINVAL;
	layout(&g);
	mem = calloc(1, sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	mem->pool_fd = mem->hv_fd = -1;
	mem->pool_bytes = (size_t)g.nr_frames * PVIO_PAGE_SIZE;
	mem->hv_bytes = g.hv_bytes;
	rc = new_memfd("pvio-pool", mem->pool_bytes, &mem->pool_fd);
	if (!rc)
		rc = new_memfd("pvio-hv", mem->hv_bytes, &mem->hv_fd);
	if (rc)
		goto fail;
	pool = map_fd(mem->pool_fd, mem->pool_bytes);
	h = pool ? map_fd(mem->hv_fd, mem->hv_bytes) : NULL;
	if (!h) {
		rc = -errno;
		if (pool)
			pvio_shm_unmap(pool, mem->pool_bytes);
		goto fail;
	}
	g.magic = 0;
	g.version = PVIO_MACH_VERSION;
	memcpy(h, &g, sizeof(g));
	fill_view(mem, pool, h);
	atomic_store_explicit(&mem->m.frames[0],
			      pvio_frame_word(PVIO_DOMID_XEN, PVIO_FRAME_RESERVED, 0),
			      memory_order_relaxed);
	atomic_store_explicit(&h->alloc_hint, 1, memory_order_relaxed);
	/* Magic last: an attacher that sees it sees the whole header. */
	atomic_store_explicit((_Atomic uint32_t *)&h->magic, PVIO_MACH_MAGIC,
			      memory_order_release);
	*out = mem;
	return 0;
fail:
	pvio_mem_close(mem);
	return rc;
}

int pvio_mem_attach(int pool_fd, int hv_fd, struct pvio_mem **out)
{
	struct pvio_mach_hdr g;
	struct pvio_mem *mem;
	struct stat st_pool, st_hv;
	void *hv;
	int rc = -EINVAL;

	if (!out || pool_fd < 0 || hv_fd < 0)
		return -EINVAL;
	if (fstat(pool_fd, &st_pool) || fstat(hv_fd, &st_hv))
		return -errno;
	if ((size_t)st_hv.st_size < PVIO_PAGE_SIZE)
		return -EINVAL;
	/* Read the geometry from a private copy of the first page, check it. */
	hv = mmap(NULL, PVIO_PAGE_SIZE, PROT_READ, MAP_SHARED, hv_fd, 0);
	if (hv == MAP_FAILED)
		return -errno;
	memcpy(&g, hv, sizeof(g));
	munmap(hv, PVIO_PAGE_SIZE);
	{
		struct pvio_mach_hdr want = g;

		layout(&want);
		if (g.magic != PVIO_MACH_MAGIC || g.version != PVIO_MACH_VERSION ||
		    g.nr_frames < 2 || g.nr_frames >= 0x80000000u ||
		    g.max_domains > PVIO_DOMID_SELF ||
		    want.frames_off != g.frames_off || want.doms_off != g.doms_off ||
		    want.p2m_off != g.p2m_off || want.hv_bytes != g.hv_bytes ||
		    (uint64_t)st_hv.st_size < g.hv_bytes ||
		    (uint64_t)st_pool.st_size < (uint64_t)g.nr_frames * PVIO_PAGE_SIZE)
			return -EINVAL;
	}
	mem = calloc(1, sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	mem->pool_bytes = (size_t)g.nr_frames * PVIO_PAGE_SIZE;
	mem->hv_bytes = g.hv_bytes;
	mem->pool_fd = fcntl(pool_fd, F_DUPFD_CLOEXEC, 0);
	mem->hv_fd = fcntl(hv_fd, F_DUPFD_CLOEXEC, 0);
	if (mem->pool_fd < 0 || mem->hv_fd < 0) {
		rc = -errno;
		goto fail;
	}
	unsigned char *pool = map_fd(mem->pool_fd, mem->pool_bytes);
	struct pvio_mach_hdr *h = pool ? map_fd(mem->hv_fd, mem->hv_bytes) : NULL;

	if (!h) {
		rc = -errno;
		if (pool)
			pvio_shm_unmap(pool, mem->pool_bytes);
		goto fail;
	}
	/* Use the checked copy of the geometry, not the shared header. */
	mem->m.pool = pool;
	mem->m.hdr = h;
	{
		unsigned char *b = (unsigned char *)h;

		mem->m.frames = (_Atomic uint64_t *)(b + g.frames_off);
		mem->m.doms = (struct pvio_mach_dom *)(b + g.doms_off);
		mem->m.p2m = (_Atomic uint32_t *)(b + g.p2m_off);
		mem->m.nr_frames = g.nr_frames;
		mem->m.max_domains = g.max_domains;
		mem->m.max_pages = g.max_pages;
		mem->m.ops = &host_mem_ops;
		mem->m.ops_ctx = mem;
	}
	*out = mem;
	return 0;
fail:
	pvio_mem_close(mem);
	return rc;
}

void pvio_mem_fds(const struct pvio_mem *mem, int *pool_fd, int *hv_fd)
{
	if (pool_fd)
		*pool_fd = mem->pool_fd;
	if (hv_fd)
		*hv_fd = mem->hv_fd;
}

const struct pvio_machine *pvio_mem_machine(const struct pvio_mem *mem)
{
	return &mem->m;
}

/* The frames are consecutive in the pool (so the pool shows them side by
 * side already). */
static bool frames_consecutive(const uint32_t *mfns, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++)
		if (mfns[i] != mfns[0] + i)
			return false;
	return true;
}

static bool in_pool(const struct pvio_mem *mem, const void *va)
{
	const unsigned char *p = va;

	return p >= mem->m.pool && p < mem->m.pool + mem->pool_bytes;
}

int pvio_mem_map_frames(const struct pvio_mem *mem, const uint32_t *mfns,
			uint32_t n, void **va)
{
	if (!mem || !mfns || !va || n == 0 || n > mem->m.nr_frames)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (mfns[i] == 0 || mfns[i] >= mem->m.nr_frames)
			return -EINVAL;
	if (PVIO_SHM_ONE_VIEW && frames_consecutive(mfns, n)) {
		*va = mem->m.pool + ((size_t)mfns[0] << PVIO_PAGE_SHIFT);
		return 0;
	}
	size_t bytes = (size_t)n << PVIO_PAGE_SHIFT;
	unsigned char *area = mmap(NULL, bytes, PROT_NONE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (area == MAP_FAILED)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		void *at = area + ((size_t)i << PVIO_PAGE_SHIFT);
		void *got = mmap(at, PVIO_PAGE_SIZE, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, mem->pool_fd,
				 (off_t)mfns[i] << PVIO_PAGE_SHIFT);

		if (got == MAP_FAILED) {
			munmap(area, bytes);
			return -ENOMEM;
		}
	}
	*va = area;
	return 0;
}

int pvio_mem_unmap_frames(const struct pvio_mem *mem, void *va, uint32_t n)
{
	if (!mem || !va || ((uintptr_t)va & (PVIO_PAGE_SIZE - 1)) || n == 0 ||
	    n > mem->m.nr_frames)
		return -EINVAL;
	/* A view inside the pool is the pool itself (PVIO_SHM_ONE_VIEW):
	 * nothing of its own to unmap. Anywhere else it is a mapping of
	 * pvio_mem_map_frames(). */
	if (in_pool(mem, va))
		return PVIO_SHM_ONE_VIEW ? 0 : -EINVAL;
	return munmap(va, (size_t)n << PVIO_PAGE_SHIFT) ? -errno : 0;
}

/*
 * Claim a free frame by CAS on its word, scanning from a shared hint (the
 * scan is lock-free, so a process killed mid-allocation blocks nobody),
 * then zero it: a frame never carries a previous owner's data.
 */
int pvio_mem_frame_alloc(struct pvio_mem *mem, pvio_domid_t owner, uint32_t *mfn)
{
	const struct pvio_machine *m = &mem->m;
	uint32_t n = m->nr_frames - 1; /* frames 1..nr_frames-1 */
	uint32_t start = atomic_load_explicit(&m->hdr->alloc_hint,
					      memory_order_relaxed);

	if (!mfn)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t f = 1 + (start - 1 + i) % n;

		if (atomic_load_explicit(&m->frames[f], memory_order_relaxed) != 0)
			continue;
		if (pvio_frame_claim(m, f, owner)) {
			atomic_store_explicit(&m->hdr->alloc_hint, f % n + 1,
					      memory_order_relaxed);
			memset(pvio_mach_frame(m, f), 0, PVIO_PAGE_SIZE);
			*mfn = f;
			return 0;
		}
	}
	return -ENOMEM;
}

int pvio_mem_frame_free(struct pvio_mem *mem, pvio_domid_t owner, uint32_t mfn)
{
	uint64_t w;

	if (mfn == PVIO_MFN_INVALID || mfn >= mem->m.nr_frames)
		return -EINVAL;
	w = atomic_load_explicit(&mem->m.frames[mfn], memory_order_relaxed);
	if (pvio_frame_state(w) != PVIO_FRAME_OWNED || pvio_frame_owner(w) != owner)
		return -EINVAL;
	pvio_frame_disown(&mem->m, mfn, owner);
	return 0;
}

/* Empty the domain's P2M and table frames; frames still mapped orphan. */
static void release_frames(struct pvio_mem *mem, pvio_domid_t domid,
			   uint32_t nr_pages)
{
	const struct pvio_machine *m = &mem->m;
	struct pvio_mach_dom *d = &m->doms[domid];
	uint32_t nr = atomic_load_explicit(&d->nr_gnt_frames, memory_order_acquire);

	for (uint32_t pfn = 0; pfn < nr_pages; pfn++) {
		_Atomic uint32_t *slot = pvio_mach_p2m_slot(m, domid, pfn);
		/* F2: pairs with F1 in transfer_one() (seq_cst). */
		uint32_t mfn = atomic_exchange_explicit(slot, PVIO_MFN_INVALID,
							memory_order_seq_cst);

		if (mfn != PVIO_MFN_INVALID)
			pvio_frame_disown(m, mfn, domid);
	}
	if (nr > PVIO_GNT_FRAMES_LIMIT)
		nr = PVIO_GNT_FRAMES_LIMIT;
	for (uint32_t i = 0; i < nr; i++) {
		pvio_frame_disown(m, atomic_exchange(&d->gnt_frames[i], 0), domid);
		pvio_frame_disown(m, atomic_exchange(&d->act_frames[i], 0), domid);
	}
	atomic_store_explicit(&d->nr_gnt_frames, 0, memory_order_relaxed);
	atomic_store_explicit(&d->nr_pages, 0, memory_order_relaxed);
}

int pvio_mem_domain_create(struct pvio_mem *mem, pvio_domid_t domid,
			   uint32_t nr_pages, uint32_t max_gnt_frames)
{
	const struct pvio_machine *m;
	struct pvio_mach_dom *d;
	uint32_t expect = PVIO_DOM_FREE;

	if (!mem)
		return -EINVAL;
	m = &mem->m;
	d = pvio_mach_dom(m, domid);
	if (max_gnt_frames == 0)
		max_gnt_frames = DEFAULT_GNT_FRAMES;
	if (!d || nr_pages > m->max_pages || max_gnt_frames > PVIO_GNT_FRAMES_LIMIT)
		return -EINVAL;
	if (!atomic_compare_exchange_strong(&d->state, &expect, PVIO_DOM_BUILDING))
		return -EEXIST;
	atomic_store_explicit(&d->nr_gnt_frames, 0, memory_order_relaxed);
	atomic_store_explicit(&d->max_gnt_frames, max_gnt_frames, memory_order_relaxed);
	for (uint32_t pfn = 0; pfn < nr_pages; pfn++) {
		uint32_t mfn;

		if (pvio_mem_frame_alloc(mem, domid, &mfn)) {
			release_frames(mem, domid, pfn);
			atomic_store_explicit(&d->state, PVIO_DOM_FREE, memory_order_release);
			return -ENOMEM;
		}
		atomic_store_explicit(pvio_mach_p2m_slot(m, domid, pfn), mfn,
				      memory_order_release);
	}
	atomic_store_explicit(&d->nr_pages, nr_pages, memory_order_relaxed);
	/* The domain exists once everything above is visible. */
	atomic_store_explicit(&d->state, PVIO_DOM_ALIVE, memory_order_release);
	return 0;
}

int pvio_mem_domain_destroy(struct pvio_mem *mem, pvio_domid_t domid)
{
	struct pvio_mach_dom *d;
	uint32_t expect = PVIO_DOM_ALIVE;

	if (!mem || !(d = pvio_mach_dom(&mem->m, domid)))
		return -EINVAL;
	/* F2 (state half): seq_cst, before the P2M sweep. */
	if (!atomic_compare_exchange_strong_explicit(&d->state, &expect, PVIO_DOM_DYING,
			memory_order_seq_cst, memory_order_relaxed))
		return -ESRCH;
	/* Its mappings of other domains' grants first (its own grants may
	 * be among them), while every granter's table is still there. */
	pvio_gnt_mapper_release(&mem->m, domid);
	release_frames(mem, domid, atomic_load_explicit(&d->nr_pages,
							memory_order_relaxed));
	atomic_store_explicit(&d->state, PVIO_DOM_FREE, memory_order_release);
	return 0;
}

void pvio_mem_stats(const struct pvio_mem *mem, struct pvio_mem_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->nr_frames = mem->m.nr_frames;
	for (uint32_t f = 1; f < mem->m.nr_frames; f++) {
		uint64_t w = atomic_load_explicit(&mem->m.frames[f], memory_order_relaxed);

		switch (pvio_frame_state(w)) {
		case PVIO_FRAME_FREE: st->nr_free++; break;
		case PVIO_FRAME_OWNED: st->nr_owned++; break;
		case PVIO_FRAME_ORPHAN: st->nr_orphan++; break;
		default: break;
		}
	}
}
