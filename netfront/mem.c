/* SPDX-License-Identifier: MIT */
/*
 * netfront's private memory: whole pages of the domain, as a guest
 * kernel's page allocator would hand them out. An allocation is n
 * contiguous pfns seen through one mapping, preceded by a 64-byte record
 * of what to give back. Only open and close allocate.
 */
#include "common.h"

#define NF_HDR 64u
#define NF_MAGIC 0x6e666d6du /* "nfmm" */

struct nf_hdr {
	uint32_t magic;
	uint32_t pfn;
	uint32_t n;
};
_Static_assert(sizeof(struct nf_hdr) <= NF_HDR, "allocation record fits");

int nf_vmap_range(struct pvio_domain *d, uint32_t pfn0, uint32_t n, void **va)
{
	uint32_t list_pfn, *pfns;
	int err;

	if (n == 0 || n > NF_ALLOC_MAX_PAGES)
		return -EINVAL;
	if (n == 1) {
		*va = pvio_domain_page(d, pfn0);
		return *va ? 0 : -EINVAL;
	}
	/* The pfn list for the mapping call: one page of our own, freed
	 * right after (n <= 1024 entries fit). */
	err = pvio_domain_page_alloc(d, 1, &list_pfn);
	if (err)
		return err;
	pfns = pvio_domain_page(d, list_pfn);
	if (!pfns) {
		err = -ENOMEM;
	} else {
		for (uint32_t i = 0; i < n; i++)
			pfns[i] = pfn0 + i;
		err = pvio_domain_vmap(d, pfns, n, va);
	}
	pvio_domain_page_free(d, list_pfn, 1);
	return err;
}

void nf_vunmap_range(struct pvio_domain *d, void *va, uint32_t n)
{
	if (va && n > 1)
		pvio_domain_vunmap(d, va, n);
}

void *nf_alloc(struct pvio_domain *d, size_t bytes)
{
	uint32_t n, pfn;
	void *va;

	if (bytes == 0 || bytes > (size_t)(NF_ALLOC_MAX_PAGES - 1) * PVIO_PAGE_SIZE)
		return NULL;
	n = (uint32_t)((bytes + NF_HDR + PVIO_PAGE_SIZE - 1) / PVIO_PAGE_SIZE);
	if (pvio_domain_page_alloc(d, n, &pfn) != 0)
		return NULL;
	if (nf_vmap_range(d, pfn, n, &va) != 0) {
		pvio_domain_page_free(d, pfn, n);
		return NULL;
	}
	struct nf_hdr *h = va; /* the pages come zeroed */
	h->magic = NF_MAGIC;
	h->pfn = pfn;
	h->n = n;
	return (unsigned char *)va + NF_HDR;
}

void nf_free(struct pvio_domain *d, void *p)
{
	if (!p)
		return;
	struct nf_hdr *h = (struct nf_hdr *)(void *)((unsigned char *)p - NF_HDR);
	uint32_t pfn = h->pfn, n = h->n;

	if (h->magic != NF_MAGIC)
		return;
	h->magic = 0;
	nf_vunmap_range(d, h, n);
	pvio_domain_page_free(d, pfn, n);
}
