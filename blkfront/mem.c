/* SPDX-License-Identifier: MIT */
/*
 * blkfront's private memory, taken from the domain's own pages as a guest
 * kernel's allocator would: no libc. An allocation is n contiguous pfns
 * seen through one vmap, with a small header in front that records how to
 * give it back. Only set-up and teardown allocate; the data path never.
 */
#include "common.h"

#define HDR_BYTES 64u
#define HDR_MAGIC 0x62666d65u /* "bfme" */

struct bf_alloc_hdr {
	uint32_t magic;
	uint32_t pfn;
	uint32_t n;
	uint32_t pad;
};
_Static_assert(sizeof(struct bf_alloc_hdr) <= HDR_BYTES, "allocation header");

void bf_memcpy(void *dst, const void *src, size_t n)
{
	__builtin_memcpy(dst, src, n);
}

void bf_memset(void *dst, int c, size_t n)
{
	__builtin_memset(dst, c, n);
}

int bf_vmap_range(struct pvio_domain *d, uint32_t pfn0, uint32_t n, void **va)
{
	uint32_t tmp_pfn;
	uint32_t *pfns;
	int err;

	if (n == 0 || n > BF_ALLOC_MAX_PAGES)
		return -EINVAL;
	if (n == 1) {
		*va = pvio_domain_page(d, pfn0);
		return *va ? 0 : -EINVAL;
	}
	/* The pfn list of the vmap lives in one scratch page of our own. */
	err = pvio_domain_page_alloc(d, 1, &tmp_pfn);
	if (err)
		return err;
	pfns = pvio_domain_page(d, tmp_pfn);
	if (!pfns) {
		pvio_domain_page_free(d, tmp_pfn, 1);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		pfns[i] = pfn0 + i;
	err = pvio_domain_vmap(d, pfns, n, va);
	pvio_domain_page_free(d, tmp_pfn, 1);
	return err;
}

static void vunmap_range(struct pvio_domain *d, void *va, uint32_t n)
{
	if (n > 1)
		pvio_domain_vunmap(d, va, n);
}

void *bf_alloc(struct pvio_domain *d, size_t bytes)
{
	size_t total = bytes + HDR_BYTES;
	uint32_t n, pfn;
	void *va;

	if (bytes == 0 || total / PVIO_PAGE_SIZE >= BF_ALLOC_MAX_PAGES)
		return NULL;
	n = (uint32_t)((total + PVIO_PAGE_SIZE - 1) / PVIO_PAGE_SIZE);
	if (pvio_domain_page_alloc(d, n, &pfn) != 0)
		return NULL;
	if (bf_vmap_range(d, pfn, n, &va) != 0) {
		pvio_domain_page_free(d, pfn, n);
		return NULL;
	}
	/* Pages come zeroed from the domain. */
	struct bf_alloc_hdr *h = va;
	h->magic = HDR_MAGIC;
	h->pfn = pfn;
	h->n = n;
	return (unsigned char *)va + HDR_BYTES;
}

void bf_free(struct pvio_domain *d, void *p)
{
	if (!p)
		return;
	struct bf_alloc_hdr *h = (void *)((unsigned char *)p - HDR_BYTES);
	uint32_t pfn = h->pfn, n = h->n;

	if (h->magic != HDR_MAGIC)
		return;
	h->magic = 0;
	vunmap_range(d, h, n);
	pvio_domain_page_free(d, pfn, n);
}
