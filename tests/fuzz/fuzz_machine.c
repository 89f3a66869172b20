/* SPDX-License-Identifier: MIT */
/* The shared machine of the ring fuzz targets: see fuzz_machine.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_machine.h"
#include "fuzz_util.h"

static struct fm fm_one;
static bool fm_ready;

struct fm *fm_get(void)
{
	struct pvio_mem_config cfg = { .nr_frames = 8192, .max_domains = 4 };
	struct fm *f = &fm_one;

	if (fm_ready)
		return f;
	FZ_CHECK(pvio_mem_create(&cfg, &f->mem) == 0);
	f->m = pvio_mem_machine(f->mem);
	FZ_CHECK(pvio_mem_domain_create(f->mem, FM_BE, 512, 4) == 0);
	FZ_CHECK(pvio_mem_domain_create(f->mem, FM_FE, FM_FE_PAGES, 4) == 0);
	FZ_CHECK(pvio_gnt_front_create(f->m, FM_FE, &f->gf) == 0);
	FZ_CHECK(pvio_gnt_back_create(f->m, FM_BE, FM_HANDLES, &f->gb) == 0);
	for (uint32_t i = 0; i < FM_NDATA; i++) {
		f->pfn[i] = i;
		FZ_CHECK(pvio_gnt_grant(f->gf, FM_BE, i, i >= FM_NDATA - FM_NRO,
					&f->ref[i]) == 0);
	}
	f->next_pfn = FM_NDATA;
	fm_ready = true;
	return f;
}

struct pvio_grant_entry_v1 *fm_entry(const struct fm *f, pvio_grant_ref_t r)
{
	if (r / PVIO_GNT_PER_FRAME >= f->gf->nr_frames)
		return NULL;
	return &f->gf->table[r / PVIO_GNT_PER_FRAME][r % PVIO_GNT_PER_FRAME];
}

static void entry_write(struct pvio_grant_entry_v1 *e, uint16_t flags,
			uint16_t domid, uint32_t frame)
{
	atomic_store(&e->frame, frame);
	atomic_store(&e->hdr, (uint32_t)flags | (uint32_t)domid << 16);
}

uint32_t fm_mapped(const struct fm *f)
{
	return f->gb->nr_mt - f->gb->nr_free;
}

void fm_reset(struct fm *f)
{
	FZ_CHECK(fm_mapped(f) == 0);
	for (uint32_t i = 0; i < FM_NDATA; i++)
		entry_write(fm_entry(f, f->ref[i]),
			    (uint16_t)(PVIO_GTF_permit_access |
				       (i >= FM_NDATA - FM_NRO ? PVIO_GTF_readonly : 0)),
			    FM_BE, f->pfn[i]);
}

pvio_grant_ref_t fm_ref(const struct fm *f, uint32_t sel)
{
	return sel < FM_NDATA ? f->ref[sel] : sel;
}

void fm_edit(struct fm *f, uint32_t idx, uint16_t flags, uint16_t domid,
	     uint32_t frame)
{
	entry_write(fm_entry(f, f->ref[idx % FM_NDATA]), flags, domid, frame);
}

void *fm_page(const struct fm *f, uint32_t idx)
{
	return pvio_mach_pfn_ptr(f->m, FM_FE, f->pfn[idx % FM_NDATA]);
}
