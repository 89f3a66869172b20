/* SPDX-License-Identifier: MIT */
/*
 * blkback on the host platform: multi-page rings mapped through the
 * domain's pool view (pvio_domain_map_ring). Library pvio_blkback_host,
 * so the core blkback library does not depend on hostd.
 */
#include <pvio/domain.h>

#include "common.h"

static int domain_map(void *ctx, pvio_domid_t fe, const pvio_grant_ref_t *refs,
		      uint32_t n, void **va, uint32_t *handles)
{
	return pvio_domain_map_ring(ctx, fe, refs, n, va, handles);
}

static int domain_unmap(void *ctx, void *va, uint32_t n, const uint32_t *handles)
{
	return pvio_domain_unmap_ring(ctx, va, n, handles);
}

const struct pvio_blkback_ring_ops pvio_blkback_domain_ring_ops = {
	.map = domain_map,
	.unmap = domain_unmap,
};

void pvio_blkback_config_from_domain(struct pvio_blkback_config *cfg,
				     struct pvio_domain *d)
{
	cfg->be = d->domid;
	cfg->machine = d->machine;
	cfg->gnt = d->gnt_back;
	cfg->evtchn = d->evtchn;
	cfg->ring_ops = &pvio_blkback_domain_ring_ops;
	cfg->ring_ctx = d;
}
