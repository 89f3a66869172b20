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

/*
 * fuzz_front_rsp's fixed state. Its inputs change the machine in ways
 * that outlive them: a flip swaps frames between the two domains' P2Ms
 * (and may allocate one), the guest's grant table grows by frames as the
 * drivers take refs and its free list comes back in whatever order the
 * drivers ended their grants. An input then ran differently after another
 * one (a ref value, a frame number, a growth that happened or not), and a
 * crash did not replay alone. Nothing is mapped between inputs, so the
 * hypervisor's view of both domains, the frame table and the guest's own
 * grant-table bookkeeping can be put back as they were after set-up.
 */
static struct {
	bool taken;
	uint64_t *frames;                     /* every frame's word */
	_Atomic uint32_t *p2m;                /* FM_BE's and FM_FE's P2M */
	size_t p2m_n;
	struct pvio_mach_dom dom[2];
	uint32_t alloc_hint;
	struct pvio_gnt_front gf;             /* the guest's table, its free list */
	uint32_t *next;
	unsigned char *pages;                 /* its grant and active frames */
	uint32_t nr_tbl;
} snap;

/* The table's frames (grant entries, then active entries) in order. */
static void table_frames(const struct fm *f, uint32_t i, uint32_t *gnt, uint32_t *act)
{
	const struct pvio_mach_dom *d = &f->m->doms[FM_FE];

	*gnt = atomic_load_explicit(&d->gnt_frames[i], memory_order_relaxed);
	*act = atomic_load_explicit(&d->act_frames[i], memory_order_relaxed);
}

static void snapshot_take(struct fm *f)
{
	const struct pvio_machine *m = f->m;

	_Static_assert(FM_BE == 0 && FM_FE == 1, "the two domains' P2Ms are adjacent");
	snap.frames = malloc((size_t)m->nr_frames * sizeof(*snap.frames));
	snap.p2m_n = 2 * (size_t)m->max_pages;
	snap.p2m = malloc(snap.p2m_n * sizeof(*snap.p2m));
	snap.next = malloc((size_t)f->gf->cap * sizeof(*snap.next));
	snap.nr_tbl = f->gf->nr_frames;
	snap.pages = malloc((size_t)snap.nr_tbl * 2 * PVIO_PAGE_SIZE);
	FZ_CHECK(snap.frames && snap.p2m && snap.next && snap.pages);
	memcpy(snap.frames, (const void *)m->frames, (size_t)m->nr_frames * sizeof(*snap.frames));
	memcpy(snap.p2m, (const void *)m->p2m, snap.p2m_n * sizeof(*snap.p2m));
	memcpy(snap.dom, (const void *)m->doms, sizeof(snap.dom));
	snap.alloc_hint = atomic_load(&m->hdr->alloc_hint);
	memcpy(&snap.gf, f->gf, sizeof(snap.gf));
	memcpy(snap.next, f->gf->next, (size_t)f->gf->cap * sizeof(*snap.next));
	for (uint32_t i = 0; i < snap.nr_tbl; i++) {
		uint32_t gnt, act;

		table_frames(f, i, &gnt, &act);
		memcpy(snap.pages + (size_t)(2 * i) * PVIO_PAGE_SIZE,
		       pvio_mach_frame(m, gnt), PVIO_PAGE_SIZE);
		memcpy(snap.pages + (size_t)(2 * i + 1) * PVIO_PAGE_SIZE,
		       pvio_mach_frame(m, act), PVIO_PAGE_SIZE);
	}
	snap.taken = true;
}

static void __attribute__((destructor)) snapshot_free(void)
{
	free(snap.frames);
	free(snap.p2m);
	free(snap.next);
	free(snap.pages);
	memset(&snap, 0, sizeof(snap));
}

/* Copies back only what differs: most inputs flip nothing, and a
 * comparison only reads (no page of the snapshot's is written). */
static __attribute__((no_sanitize("coverage"))) void put_back(void *cur, const void *was, size_t n)
{
	if (memcmp(cur, was, n) != 0)
		memcpy(cur, was, n);
}

/* Harness code: not coverage-instrumented (a callback per comparison). */
__attribute__((no_sanitize("coverage"))) void fm_restore(struct fm *f)
{
	const struct pvio_machine *m = f->m;

	if (!snap.taken) {
		snapshot_take(f);
		return;
	}
	FZ_CHECK(fm_mapped(f) == 0);
	if (memcmp((const void *)m->frames, snap.frames,
		   (size_t)m->nr_frames * sizeof(*snap.frames)) != 0) {
		/* Nothing may pin a frame between inputs: a reference still
		 * held is a leak (a grant map or a transfer not undone). */
		for (uint32_t i = 0; i < m->nr_frames; i++)
			FZ_CHECK(pvio_frame_refs(atomic_load_explicit(
					 &m->frames[i], memory_order_relaxed)) ==
				 pvio_frame_refs(snap.frames[i]));
		memcpy((void *)m->frames, snap.frames,
		       (size_t)m->nr_frames * sizeof(*snap.frames));
	}
	put_back((void *)m->p2m, snap.p2m, snap.p2m_n * sizeof(*snap.p2m));
	put_back((void *)m->doms, snap.dom, sizeof(snap.dom));
	atomic_store(&m->hdr->alloc_hint, snap.alloc_hint);
	for (uint32_t i = 0; i < snap.nr_tbl; i++) {
		uint32_t gnt, act;

		table_frames(f, i, &gnt, &act);
		put_back(pvio_mach_frame(m, gnt), snap.pages + (size_t)(2 * i) * PVIO_PAGE_SIZE,
			 PVIO_PAGE_SIZE);
		put_back(pvio_mach_frame(m, act),
			 snap.pages + (size_t)(2 * i + 1) * PVIO_PAGE_SIZE, PVIO_PAGE_SIZE);
	}
	FZ_CHECK(atomic_load(&f->gf->lock) == 0);
	put_back(f->gf->next, snap.next, (size_t)f->gf->cap * sizeof(*snap.next));
	put_back(f->gf, &snap.gf, sizeof(snap.gf));
}
