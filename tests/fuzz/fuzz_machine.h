/* SPDX-License-Identifier: MIT */
/*
 * Fixtures shared by the ring fuzz targets.
 *
 * A machine (the host platform's real machine memory, grant tables and
 * grant mapping code) with a driver domain FM_BE and a guest FM_FE, made
 * once per process. The guest grants FM_NDATA data pages to the driver
 * domain (the last FM_NRO of them read-only); the fuzzer addresses them
 * by index ("ref selectors") and may also rewrite their grant entries, as
 * a hostile guest can. fm_reset() puts every entry back before each input.
 *
 * Event channels are stubbed (fuzz_evtchn_stub.c): a notify is counted, a
 * wait tells the harness the driver went idle.
 */
#ifndef PVIO_FUZZ_MACHINE_H
#define PVIO_FUZZ_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include <pvio/evtchn.h>
#include <pvio/grant.h>
#include <pvio/host_memory.h>
#include <pvio/memory.h>

#define FM_BE 0
#define FM_FE 1
#define FM_NDATA 64u
#define FM_NRO 16u
#define FM_FE_PAGES 2048u
#define FM_HANDLES 2048u  /* the driver domain's maptrack */

struct fm {
	struct pvio_mem *mem;
	const struct pvio_machine *m;
	struct pvio_gnt_front *gf;      /* the guest's grant table */
	struct pvio_gnt_back *gb;       /* the driver domain's mappings */
	pvio_grant_ref_t ref[FM_NDATA];
	uint32_t pfn[FM_NDATA];
	uint32_t next_pfn;              /* guest pfns not used by the fixture */
};

/* The process's machine, built on first use (aborts if it cannot be). */
struct fm *fm_get(void);
/* Mappings the driver domain holds (its maptrack's count: O(1)). */
uint32_t fm_mapped(const struct fm *f);
/* Every data grant back as granted; no mapping may be held. */
void fm_reset(struct fm *f);
/*
 * fuzz_front_rsp's reset: the first call records the machine as it is
 * (nothing mapped); every later one checks that no frame holds a
 * reference and puts back the frame table, both domains' records and
 * P2Ms, the allocator's hint and the guest's grant table (its frames,
 * size and free list) exactly as recorded, so an input runs the same
 * whatever ran before it. Not for targets that keep mappings between
 * inputs.
 */
void fm_restore(struct fm *f);
/* A selector as a grant ref: < FM_NDATA picks data ref sel; else raw. */
pvio_grant_ref_t fm_ref(const struct fm *f, uint32_t sel);
/* The hostile guest rewrites data entry idx % FM_NDATA. */
void fm_edit(struct fm *f, uint32_t idx, uint16_t flags, uint16_t domid,
	     uint32_t frame);
/* The guest's view of data page idx % FM_NDATA. */
void *fm_page(const struct fm *f, uint32_t idx);
/* Grant ref r's entry in the guest's table, or NULL. */
struct pvio_grant_entry_v1 *fm_entry(const struct fm *f, pvio_grant_ref_t r);

/* ---- the event-channel stub (fuzz_evtchn_stub.c) ---- */

/* Counted notifies; the idle hook is called from every wait. */
extern uint64_t fz_evtchn_notifies;
extern void (*fz_evtchn_idle)(void);
/* A handle to pass where a struct pvio_evtchn * is wanted. */
extern struct pvio_evtchn fz_evtchn_handle;

/* ---- the guest as a platform domain (fuzz_domain.c) ---- */

struct pvio_domain;
/* FM_FE as a struct pvio_domain: pages above the fixture's, vmap. */
struct pvio_domain *fz_domain(void);
/* Pages the drivers hold now (0 once they freed everything). */
uint32_t fz_domain_pages_used(void);

#endif /* PVIO_FUZZ_MACHINE_H */
