/* SPDX-License-Identifier: MIT */
/*
 * The platform's domain functions (<pvio/domain.h>) for the guest of the
 * shared fuzz machine, as tests/blkfront/fake_domain.c provides them for
 * its harness: page allocation from the guest's pfns the fixture leaves
 * free, and vmap through the machine pool's fd.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include <pvio/domain.h>

#include "fuzz_machine.h"
#include "fuzz_util.h"

static uint8_t used[FM_FE_PAGES];
static uint32_t nused;      /* pages set in used[] */
/* Where the next search for free pages starts (next fit): searching from
 * the first pfn each time walked over every page in use, for every page
 * a driver took (hundreds of rx buffers: a fifth of front_rsp's time).
 * Back to the first pfn for each driver set up, so an input always gets
 * the same pages. */
static uint32_t cursor;

struct pvio_domain *fz_domain(void)
{
	static struct pvio_domain d;
	struct fm *f = fm_get();

	cursor = f->next_pfn;
	d.domid = FM_FE;
	d.nr_pages = FM_FE_PAGES;
	d.machine = f->m;
	d.gnt = f->gf;
	d.gnt_back = NULL;
	d.evtchn = &fz_evtchn_handle;
	d.xs = NULL;
	return &d;
}

uint32_t fz_domain_pages_used(void)
{
	return nused;
}

/*
 * The allocator and the vmap cache below are harness code: left out of
 * the coverage instrumentation (ASan still checks them) as the input
 * reader is. They ran for every page a driver took (256 rx buffers per
 * netfront set-up) and their comparisons' callbacks cost more than the
 * search itself; what the drivers do with the result is still covered.
 */

/* n free pages from pfn start on (below end): 0 and *pfn, or -ENOMEM;
 * -EFAULT when the run found has a page a flip left empty. */
static FZ_HARNESS int page_find(struct pvio_domain *d, uint32_t start, uint32_t end, uint32_t n,
		     uint32_t *pfn)
{
	for (uint32_t p = start; p + n <= end; p++) {
		uint32_t k = 0;

		while (k < n && !used[p + k])
			k++;
		if (k < n) {
			p += k;
			continue;
		}
		for (uint32_t i = 0; i < n; i++)
			if (!pvio_mach_pfn_ptr(d->machine, d->domid, p + i))
				return -EFAULT;
		*pfn = p;
		return 0;
	}
	return -ENOMEM;
}

FZ_HARNESS int pvio_domain_page_alloc(struct pvio_domain *d, uint32_t n, uint32_t *pfn)
{
	uint32_t first = fm_get()->next_pfn, p = 0;
	int rc;

	if (n == 0 || n > d->nr_pages)
		return -EINVAL;
	if (cursor < first || cursor >= d->nr_pages)
		cursor = first;
	rc = page_find(d, cursor, d->nr_pages, n, &p);
	if (rc == -ENOMEM && cursor > first)
		/* wrapped: up to where the first search began, plus a run
		 * that may straddle it */
		rc = page_find(d, first, cursor + n - 1 < d->nr_pages ? cursor + n - 1
								   : d->nr_pages, n, &p);
	if (rc == -EFAULT)
		return -ENOMEM; /* a flip left it empty */
	if (rc)
		return rc;
	memset(&used[p], 1, n);
	nused += n;
	for (uint32_t i = 0; i < n; i++)
		memset(pvio_mach_pfn_ptr(d->machine, d->domid, p + i), 0, PVIO_PAGE_SIZE);
	cursor = p + n;
	*pfn = p;
	return 0;
}

FZ_HARNESS int pvio_domain_page_free(struct pvio_domain *d, uint32_t pfn, uint32_t n)
{
	if (pfn < fm_get()->next_pfn || pfn + n > d->nr_pages)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		FZ_CHECK(used[pfn + i]); /* a double free is a driver bug */
		used[pfn + i] = 0;
	}
	nused -= n;
	return 0;
}

FZ_HARNESS void *pvio_domain_page(struct pvio_domain *d, uint32_t pfn)
{
	return pvio_mach_pfn_ptr(d->machine, d->domid, pfn);
}

/*
 * vmap is an mmap per page plus a reservation, and vunmap a munmap: the
 * drivers vmap their rings and pools for every input, the same frames
 * each time (the allocator starts over per driver), and those calls were
 * a tenth of fuzz_front_rsp's time. So a vunmapped range is kept,
 * poisoned for ASan (a use after vunmap is reported as a use after
 * poison: every driver access is instrumented), and handed out again by
 * a vmap of the same frames (mfns, not pfns: a flip moves frames). The
 * range was kept PROT_NONE before, two mprotect calls per vmap, 5 % of
 * the target's time; a poisoned range is unpoisoned before it is
 * unmapped, so no later mapping at its address inherits the poison.
 */
#define VMAP_CACHE 16u

static struct vmap_kept {
	unsigned char *va;       /* NULL: empty slot */
	uint32_t n;
	bool busy;               /* handed out */
	uint64_t used;           /* last handed out (LRU) */
	uint32_t mfn[PVIO_DOMAIN_VMAP_MAX];
} vmaps[VMAP_CACHE];
static uint64_t vmap_clock;

static int vmap_new(const uint32_t *mfns, uint32_t n, unsigned char **va)
{
	int pool_fd, hv_fd;
	unsigned char *base;

	pvio_mem_fds(fm_get()->mem, &pool_fd, &hv_fd);
	base = mmap(NULL, (size_t)n * PVIO_PAGE_SIZE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if (mmap(base + (size_t)i * PVIO_PAGE_SIZE, PVIO_PAGE_SIZE,
			 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, pool_fd,
			 (off_t)mfns[i] * PVIO_PAGE_SIZE) == MAP_FAILED) {
			munmap(base, (size_t)n * PVIO_PAGE_SIZE);
			return -ENOMEM;
		}
	}
	*va = base;
	return 0;
}

FZ_HARNESS int pvio_domain_vmap(struct pvio_domain *d, const uint32_t *pfns, uint32_t n,
		     void **va)
{
	static uint32_t mfns[PVIO_DOMAIN_VMAP_MAX];
	struct vmap_kept *k, *victim = NULL;
	unsigned char *base;

	if (n == 0 || n > PVIO_DOMAIN_VMAP_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		mfns[i] = pvio_mach_pfn_to_mfn(d->machine, d->domid, pfns[i]);
		if (mfns[i] == PVIO_MFN_INVALID)
			return -ENOMEM;
	}
	for (k = vmaps; k < vmaps + VMAP_CACHE; k++) {
		if (k->va && !k->busy && k->n == n &&
		    memcmp(k->mfn, mfns, n * sizeof(*mfns)) == 0) {
			ASAN_UNPOISON_MEMORY_REGION(k->va, (size_t)n * PVIO_PAGE_SIZE);
			k->busy = true;
			k->used = ++vmap_clock;
			*va = k->va;
			return 0;
		}
	}
	if (vmap_new(mfns, n, &base) != 0)
		return -ENOMEM;
	/* Kept in an empty slot, or in place of the least recently used
	 * idle one; with every slot handed out, not kept. */
	for (k = vmaps; k < vmaps + VMAP_CACHE; k++) {
		if (!k->va) {
			victim = k;
			break;
		}
		if (!k->busy && (!victim || k->used < victim->used))
			victim = k;
	}
	if (victim) {
		if (victim->va) {
			ASAN_UNPOISON_MEMORY_REGION(victim->va,
						    (size_t)victim->n * PVIO_PAGE_SIZE);
			munmap(victim->va, (size_t)victim->n * PVIO_PAGE_SIZE);
		}
		victim->va = base;
		victim->n = n;
		victim->busy = true;
		victim->used = ++vmap_clock;
		memcpy(victim->mfn, mfns, n * sizeof(*mfns));
	}
	*va = base;
	return 0;
}

FZ_HARNESS int pvio_domain_vunmap(struct pvio_domain *d, void *va, uint32_t n)
{
	(void)d;
	for (struct vmap_kept *k = vmaps; k < vmaps + VMAP_CACHE; k++) {
		if (k->va == va && k->busy) {
			FZ_CHECK(k->n == n); /* the size it was mapped with */
			k->busy = false;
			ASAN_POISON_MEMORY_REGION(va, (size_t)n * PVIO_PAGE_SIZE);
			return 0;
		}
	}
	return munmap(va, (size_t)n * PVIO_PAGE_SIZE) ? -errno : 0;
}

int pvio_domain_map_ring(struct pvio_domain *d, pvio_domid_t dom,
			 const pvio_grant_ref_t *refs, uint32_t n, void **va,
			 uint32_t *handles)
{
	(void)d;
	(void)dom;
	(void)refs;
	(void)n;
	(void)va;
	(void)handles;
	return -ENOSYS;
}

int pvio_domain_unmap_ring(struct pvio_domain *d, void *va, uint32_t n,
			   const uint32_t *handles)
{
	(void)d;
	(void)va;
	(void)n;
	(void)handles;
	return 0;
}

bool pvio_domain_hostd_alive(struct pvio_domain *d)
{
	(void)d;
	return true;
}
