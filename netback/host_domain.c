/* SPDX-License-Identifier: MIT */
/*
 * netback on the host platform: backend-owned pages from the driver
 * domain's allocator. Library pvio_netback_host, so the core netback
 * library does not depend on hostd.
 */
#include <pvio/domain.h>

#include "common.h"

static int domain_page_alloc(void *ctx, uint32_t n, uint32_t *pfn)
{
	return pvio_domain_page_alloc(ctx, n, pfn);
}

static int domain_page_free(void *ctx, uint32_t pfn, uint32_t n)
{
	return pvio_domain_page_free(ctx, pfn, n);
}

const struct pvio_netback_page_ops pvio_netback_domain_page_ops = {
	.alloc = domain_page_alloc,
	.free = domain_page_free,
};

void pvio_netback_config_from_domain(struct pvio_netback_config *cfg,
				     struct pvio_domain *d)
{
	cfg->be = d->domid;
	cfg->machine = d->machine;
	cfg->gnt = d->gnt_back;
	cfg->evtchn = d->evtchn;
	cfg->page_ops = &pvio_netback_domain_page_ops;
	cfg->page_ctx = d;
}
