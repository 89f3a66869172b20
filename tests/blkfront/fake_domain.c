/* SPDX-License-Identifier: MIT */
/* The domain functions of <pvio/domain.h> over the test's own machine
 * (harness.c), for builds without pvio hostd's library. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct h_domain *hd(struct pvio_domain *d)
{
	return (struct h_domain *)d;
}

/* ---- <pvio/domain.h> ---- */

int pvio_domain_page_alloc(struct pvio_domain *d, uint32_t n, uint32_t *pfn)
{
	struct h_domain *h = hd(d);
	int err = -ENOMEM;

	if (n == 0 || n > d->nr_pages)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	for (uint32_t p = 1; p + n <= d->nr_pages; p++) {
		uint32_t k = 0;
		while (k < n && !h->used[p + k])
			k++;
		if (k < n) {
			p += k;
			continue;
		}
		memset(&h->used[p], 1, n);
		for (uint32_t i = 0; i < n; i++)
			memset(pvio_mach_pfn_ptr(d->machine, d->domid, p + i), 0,
			       PVIO_PAGE_SIZE);
		*pfn = p;
		err = 0;
		break;
	}
	pthread_mutex_unlock(&h->lock);
	return err;
}

int pvio_domain_page_free(struct pvio_domain *d, uint32_t pfn, uint32_t n)
{
	struct h_domain *h = hd(d);

	if (pfn == 0 || pfn + n > d->nr_pages)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	for (uint32_t i = 0; i < n; i++) {
		if (!h->used[pfn + i])
			abort(); /* double free: a driver bug the test must see */
		h->used[pfn + i] = 0;
	}
	pthread_mutex_unlock(&h->lock);
	return 0;
}

void *pvio_domain_page(struct pvio_domain *d, uint32_t pfn)
{
	return pvio_mach_pfn_ptr(d->machine, d->domid, pfn);
}

static int map_mfns(struct pvio_domain *d, const uint32_t *mfns, uint32_t n,
		    void **va)
{
	return pvio_mem_map_frames(hd(d)->env->mem, mfns, n, va);
}

int pvio_domain_vmap(struct pvio_domain *d, const uint32_t *pfns, uint32_t n,
		     void **va)
{
	uint32_t mfns[1024];

	if (n == 0 || n > 1024)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		mfns[i] = pvio_mach_pfn_to_mfn(d->machine, d->domid, pfns[i]);
		if (mfns[i] == PVIO_MFN_INVALID)
			return -EINVAL;
	}
	return map_mfns(d, mfns, n, va);
}

int pvio_domain_vunmap(struct pvio_domain *d, void *va, uint32_t n)
{
	return pvio_mem_unmap_frames(hd(d)->env->mem, va, n);
}

int pvio_domain_map_ring(struct pvio_domain *d, pvio_domid_t dom,
			 const pvio_grant_ref_t *refs, uint32_t n, void **va,
			 uint32_t *handles)
{
	uint32_t mfns[16];

	if (n == 0 || n > 16)
		return -EINVAL;
	for (uint32_t i = 0; i < n; i++) {
		void *addr;
		if (pvio_gnt_map_one(d->gnt_back, dom, refs[i], 0, &addr,
				     &handles[i]) != 0) {
			while (i--)
				pvio_gnt_unmap_one(d->gnt_back, handles[i]);
			return -EACCES;
		}
		mfns[i] = (uint32_t)(((unsigned char *)addr - d->machine->pool) /
				     PVIO_PAGE_SIZE);
	}
	int err = map_mfns(d, mfns, n, va);
	if (err)
		for (uint32_t i = 0; i < n; i++)
			pvio_gnt_unmap_one(d->gnt_back, handles[i]);
	return err;
}

int pvio_domain_unmap_ring(struct pvio_domain *d, void *va, uint32_t n,
			   const uint32_t *handles)
{
	pvio_mem_unmap_frames(hd(d)->env->mem, va, n);
	for (uint32_t i = 0; i < n; i++)
		pvio_gnt_unmap_one(d->gnt_back, handles[i]);
	return 0;
}

bool pvio_domain_hostd_alive(struct pvio_domain *d)
{
	(void)d;
	return true;
}

