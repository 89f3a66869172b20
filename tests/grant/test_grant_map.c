/* SPDX-License-Identifier: MIT */
/* The mapping side: map, unmap, the pin protocol and every map error. */
#include <errno.h>

#include "grant_test_util.h"

static pvio_grant_ref_t grant(struct gt_env *env, pvio_domid_t to, uint32_t pfn,
			      bool ro)
{
	pvio_grant_ref_t ref;

	assert_int_equal(pvio_gnt_grant(env->f, to, pfn, ro, &ref), 0);
	return ref;
}

static void map_gives_the_granted_page(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref = grant(env, BACK_ID, 3, false);
	unsigned char *page;
	uint32_t h;

	memset(gt_front_page(env, 3), 0xab, 4096);
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, 0, (void **)&page, &h),
			 PVIO_GNTST_okay);
	assert_ptr_equal(page, gt_front_page(env, 3));
	assert_int_equal(page[4095], 0xab);
	page[0] = 0x11; /* writable */
	assert_int_equal(gt_front_page(env, 3)[0], 0x11);
	assert_int_equal(gt_flags(env, ref),
			 PVIO_GTF_permit_access | PVIO_GTF_reading | PVIO_GTF_writing);
	assert_int_equal(pvio_gnt_nr_mapped(env->b), 1);
	assert_int_equal(pvio_gnt_unmap_one(env->b, h), PVIO_GNTST_okay);
	assert_int_equal(gt_flags(env, ref), PVIO_GTF_permit_access);
	assert_int_equal(pvio_gnt_nr_mapped(env->b), 0);
}

static void readonly_map_sets_reading_only(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref = grant(env, BACK_ID, 3, true);
	void *page;
	uint32_t h;

	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, PVIO_GNTMAP_readonly,
					  &page, &h), PVIO_GNTST_okay);
	assert_int_equal(gt_flags(env, ref),
			 PVIO_GTF_permit_access | PVIO_GTF_readonly | PVIO_GTF_reading);
	assert_int_equal(pvio_gnt_unmap_one(env->b, h), PVIO_GNTST_okay);
}

static void writable_map_of_readonly_grant_is_permission_denied(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref = grant(env, BACK_ID, 3, true);
	void *page = (void *)1;
	uint32_t h;

	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, 0, &page, &h),
			 PVIO_GNTST_permission_denied);
	assert_null(page);
	assert_int_equal(gt_flags(env, ref), PVIO_GTF_permit_access | PVIO_GTF_readonly);
	assert_int_equal(pvio_gnt_nr_mapped(env->b), 0);
}

static void map_by_wrong_domain_is_permission_denied(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref = grant(env, BACK_ID, 3, false);
	void *page;
	uint32_t h;

	assert_int_equal(pvio_gnt_map_one(env->other, FRONT_ID, ref, 0, &page, &h),
			 PVIO_GNTST_permission_denied);
	assert_int_equal(gt_flags(env, ref), PVIO_GTF_permit_access);
}

static void map_of_bad_refs_is_bad_gntref(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t xfer;
	void *page;
	uint32_t h;

	/* Out of the table the hypervisor knows: one frame = 512 refs. */
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, 512, 0, &page, &h),
			 PVIO_GNTST_bad_gntref);
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, 0xffffffffu, 0, &page, &h),
			 PVIO_GNTST_bad_gntref);
	/* In range, never granted. */
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, 100, 0, &page, &h),
			 PVIO_GNTST_bad_gntref);
	/* Revoked. */
	pvio_grant_ref_t ref = grant(env, BACK_ID, 3, false);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), 0);
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, 0, &page, &h),
			 PVIO_GNTST_bad_gntref);
	/* An accept-transfer grant is not an access grant. */
	assert_int_equal(pvio_gnt_grant_transfer(env->f, BACK_ID, 3, &xfer), 0);
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, xfer, 0, &page, &h),
			 PVIO_GNTST_bad_gntref);
	assert_int_equal(pvio_gnt_nr_mapped(env->b), 0);
}

static void map_from_missing_domain_is_bad_domain(void **state)
{
	struct gt_env *env = *state;
	void *page;
	uint32_t h;

	assert_int_equal(pvio_gnt_map_one(env->b, 5, 10, 0, &page, &h),
			 PVIO_GNTST_bad_domain);    /* never built */
	assert_int_equal(pvio_gnt_map_one(env->b, 9999, 10, 0, &page, &h),
			 PVIO_GNTST_bad_domain);    /* out of range */
}

static void map_of_entry_naming_a_hole_is_bad_page(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref = grant(env, BACK_ID, 3, false);
	void *page;
	uint32_t h;

	/* A hostile granter rewrites its frame to a pfn it does not have. */
	atomic_store(&gt_entry(env, ref)->frame, 1u << 20);
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, 0, &page, &h),
			 PVIO_GNTST_bad_page);
	assert_int_equal(gt_flags(env, ref), PVIO_GTF_permit_access); /* undone */
}

static void double_unmap_is_bad_handle(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref = grant(env, BACK_ID, 3, false);
	void *page;
	uint32_t h;

	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, 0, &page, &h), 0);
	assert_int_equal(pvio_gnt_unmap_one(env->b, h), PVIO_GNTST_okay);
	assert_int_equal(pvio_gnt_unmap_one(env->b, h), PVIO_GNTST_bad_handle);
	assert_int_equal(pvio_gnt_unmap_one(env->b, 123456), PVIO_GNTST_bad_handle);
	assert_int_equal(pvio_gnt_unmap_one(env->b, PVIO_GNT_REF_INVALID),
			 PVIO_GNTST_bad_handle);
	assert_int_equal(gt_flags(env, ref), PVIO_GTF_permit_access);
}

static void revoke_while_mapped_is_ebusy_then_ok_after_unmap(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref = grant(env, BACK_ID, 3, false);
	void *p1, *p2;
	uint32_t h1, h2;

	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, 0, &p1, &h1), 0);
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, PVIO_GNTMAP_readonly,
					  &p2, &h2), 0);
	assert_ptr_equal(p1, p2);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), -EBUSY);
	assert_int_equal(pvio_gnt_unmap_one(env->b, h1), 0);
	/* The read-only pin remains: writing cleared, reading kept. */
	assert_int_equal(gt_flags(env, ref), PVIO_GTF_permit_access | PVIO_GTF_reading);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), -EBUSY);
	assert_int_equal(pvio_gnt_unmap_one(env->b, h2), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), 0);
}

static void batch_map_reports_status_per_op(void **state)
{
	struct gt_env *env = *state;
	struct pvio_gnt_map_op ops[32];
	struct pvio_gnt_unmap_op un[32];

	for (uint32_t i = 0; i < 32; i++) {
		ops[i] = (struct pvio_gnt_map_op){ .dom = FRONT_ID, .flags = 0 };
		ops[i].ref = grant(env, BACK_ID, i, i == 7);
		gt_front_page(env, i)[0] = (unsigned char)i;
	}
	ops[5].ref = 511;       /* never granted */
	assert_int_equal(pvio_gnt_map(env->b, ops, 32), 0);
	for (uint32_t i = 0; i < 32; i++) {
		if (i == 5) {
			assert_int_equal(ops[i].status, PVIO_GNTST_bad_gntref);
		} else if (i == 7) {
			assert_int_equal(ops[i].status, PVIO_GNTST_permission_denied);
		} else {
			assert_int_equal(ops[i].status, PVIO_GNTST_okay);
			assert_int_equal(((unsigned char *)ops[i].addr)[0], i);
		}
		un[i].handle = ops[i].handle;
	}
	assert_int_equal(pvio_gnt_nr_mapped(env->b), 30);
	assert_int_equal(pvio_gnt_unmap(env->b, un, 32), 0);
	for (uint32_t i = 0; i < 32; i++)
		assert_int_equal(un[i].status, (i == 5 || i == 7) ? PVIO_GNTST_bad_handle
								  : PVIO_GNTST_okay);
	assert_int_equal(pvio_gnt_nr_mapped(env->b), 0);
	assert_int_equal(pvio_gnt_map(env->b, NULL, 1), -EINVAL);
}

/* References on FRONT_ID's table frame pair i (grant entries, active). */
static uint32_t table_refs(struct gt_env *env, uint32_t i, bool act)
{
	struct pvio_mach_dom *d = pvio_mach_dom(env->m, FRONT_ID);
	uint32_t mfn = act ? d->act_frames[i] : d->gnt_frames[i];

	return pvio_frame_refs(env->m->frames[mfn]);
}

static void assert_table_refs(struct gt_env *env, const uint32_t base[2][2],
			      uint32_t in0, uint32_t in1)
{
	assert_int_equal(table_refs(env, 0, false), base[0][0] + in0);
	assert_int_equal(table_refs(env, 0, true), base[0][1] + in0);
	assert_int_equal(table_refs(env, 1, false), base[1][0] + in1);
	assert_int_equal(table_refs(env, 1, true), base[1][1] + in1);
}

/*
 * A batch takes table-frame references per run of ops on one table frame:
 * every mapping still holds exactly one pair, failed ops and copies hold
 * none afterwards, and unmapping gives every pair back.
 */
static void batch_table_frame_references_balance(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t r[PVIO_GNT_PER_FRAME + 8];
	struct pvio_gnt_map_op ops[8];
	struct pvio_gnt_unmap_op un[9];
	struct pvio_gnt_copy_op cp[4];
	uint32_t base[2][2];

	/* Enough grants to fill table frame 0 and start frame 1. */
	for (uint32_t i = 0; i < PVIO_GNT_PER_FRAME + 8; i++)
		r[i] = grant(env, BACK_ID, i % 64, false);
	assert_true(r[PVIO_GNT_PER_FRAME + 7] >= PVIO_GNT_PER_FRAME);
	for (uint32_t i = 0; i < 2; i++) {
		base[i][0] = table_refs(env, i, false);
		base[i][1] = table_refs(env, i, true);
	}
	pvio_grant_ref_t a = r[10], b = r[11], c = r[PVIO_GNT_PER_FRAME + 6];
	pvio_grant_ref_t d = r[PVIO_GNT_PER_FRAME + 7];
	assert_int_equal(a >> 9, 0);
	assert_int_equal(c >> 9, 1);
	assert_int_equal(pvio_gnt_revoke(env->f, b), 0); /* b: no longer granted */
	pvio_grant_ref_t refs[8] = { a, b, a, c, d, c, a, 4 * PVIO_GNT_PER_FRAME };
	int16_t want[8] = { PVIO_GNTST_okay, PVIO_GNTST_bad_gntref, PVIO_GNTST_okay,
			    PVIO_GNTST_okay, PVIO_GNTST_okay, PVIO_GNTST_okay,
			    PVIO_GNTST_okay, PVIO_GNTST_bad_gntref };

	for (uint32_t i = 0; i < 8; i++)
		ops[i] = (struct pvio_gnt_map_op){ .ref = refs[i], .dom = FRONT_ID };
	assert_int_equal(pvio_gnt_map(env->b, ops, 8), 0);
	for (uint32_t i = 0; i < 8; i++) {
		assert_int_equal(ops[i].status, want[i]);
		un[i].handle = ops[i].handle;
	}
	assert_table_refs(env, base, 3, 3);

	/* Copies borrow a pair per side for the batch and give it back. */
	for (uint32_t i = 0; i < 4; i++)
		cp[i] = (struct pvio_gnt_copy_op){
			.source = { .u.pfn = i, .domid = PVIO_DOMID_SELF },
			.dest = { .u.ref = i < 2 ? a : d, .domid = FRONT_ID,
				  .offset = (uint16_t)(64 * i) },
			.len = 64, .flags = PVIO_GNTCOPY_dest_gref };
	cp[2].dest.u.ref = b; /* revoked: bad_gntref in the middle */
	assert_int_equal(pvio_gnt_copy(env->b, cp, 4), 0);
	assert_int_equal(cp[0].status, PVIO_GNTST_okay);
	assert_int_equal(cp[1].status, PVIO_GNTST_okay);
	assert_int_equal(cp[2].status, PVIO_GNTST_bad_gntref);
	assert_int_equal(cp[3].status, PVIO_GNTST_okay);
	assert_table_refs(env, base, 3, 3);

	/* Unmap all, with one handle twice: the second is bad_handle. */
	un[8].handle = ops[0].handle;
	assert_int_equal(pvio_gnt_unmap(env->b, un, 9), 0);
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(un[i].status, want[i] == PVIO_GNTST_okay ?
				 PVIO_GNTST_okay : PVIO_GNTST_bad_handle);
	assert_int_equal(un[8].status, PVIO_GNTST_bad_handle);
	assert_table_refs(env, base, 0, 0);
	assert_int_equal(pvio_gnt_nr_mapped(env->b), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, a), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, d), 0);
}

static void out_of_handles_is_no_space(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref = grant(env, OTHER_ID, 3, false);
	uint32_t h[65];
	void *page;

	for (int i = 0; i < 64; i++)
		assert_int_equal(pvio_gnt_map_one(env->other, FRONT_ID, ref, 0, &page,
						  &h[i]), 0);
	assert_int_equal(pvio_gnt_map_one(env->other, FRONT_ID, ref, 0, &page, &h[64]),
			 PVIO_GNTST_no_space);
	for (int i = 0; i < 64; i++)
		assert_int_equal(pvio_gnt_unmap_one(env->other, h[i]), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), 0);
}

static void mapping_outlives_granter_death_until_unmap(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref = grant(env, BACK_ID, 3, false);
	struct pvio_mem_stats st;
	unsigned char *page;
	uint32_t h, mfn = pvio_mach_pfn_to_mfn(env->m, FRONT_ID, 3);

	memset(gt_front_page(env, 3), 0x77, 4096);
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, 0, (void **)&page, &h), 0);
	assert_int_equal(pvio_mem_domain_destroy(env->mem, FRONT_ID), 0);
	/* The frame and the table frames stay, orphaned. */
	assert_int_equal(pvio_frame_state(gt_frame_word(env, mfn)), PVIO_FRAME_ORPHAN);
	pvio_mem_stats(env->mem, &st);
	assert_int_equal(st.nr_orphan, 3);
	assert_int_equal(page[100], 0x77);
	page[100] = 0x78;
	/* Nobody may map it any more. */
	void *p2;
	uint32_t h2;
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, 0, &p2, &h2),
			 PVIO_GNTST_bad_domain);
	assert_int_equal(pvio_gnt_unmap_one(env->b, h), PVIO_GNTST_okay);
	assert_int_equal(gt_frame_word(env, mfn), 0);
	pvio_mem_stats(env->mem, &st);
	assert_int_equal(st.nr_orphan, 0);
}

static void pins_beyond_255_of_a_kind_are_no_space(void **state)
{
	struct gt_env *env = *state;
	static uint32_t h[256];
	pvio_grant_ref_t ref;
	void *page;

	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 5, false, &ref), 0);
	for (int i = 0; i < 255; i++)
		assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, PVIO_GNTMAP_readonly,
						  &page, &h[i]), PVIO_GNTST_okay);
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, PVIO_GNTMAP_readonly,
					  &page, &h[255]), PVIO_GNTST_no_space);
	/* The writable count is separate (Xen's is too). */
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, 0, &page, &h[255]),
			 PVIO_GNTST_okay);
	for (int i = 0; i < 256; i++)
		assert_int_equal(pvio_gnt_unmap_one(env->b, h[i]), PVIO_GNTST_okay);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), 0);
}

static void entry_rewritten_under_pins_does_not_let_another_domain_in(void **state)
{
	struct gt_env *env = *state;
	struct pvio_grant_entry_v1 *e;
	pvio_grant_ref_t ref;
	uint32_t h, h2;
	void *page;

	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 5, false, &ref), 0);
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, 0, &page, &h), 0);
	/* A hostile granter hands the pinned entry to OTHER_ID by a plain
	 * store, bypassing revoke. */
	e = gt_entry(env, ref);
	atomic_store(&e->hdr, (atomic_load(&e->hdr) & 0xffffu) | (uint32_t)OTHER_ID << 16);
	assert_int_equal(pvio_gnt_map_one(env->other, FRONT_ID, ref, 0, &page, &h2),
			 PVIO_GNTST_permission_denied);
	/* Our mapping is still ours to unmap. */
	assert_int_equal(pvio_gnt_unmap_one(env->b, h), PVIO_GNTST_okay);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, gt_setup, gt_teardown)
	const struct CMUnitTest tests[] = {
		T(map_gives_the_granted_page),
		T(readonly_map_sets_reading_only),
		T(writable_map_of_readonly_grant_is_permission_denied),
		T(map_by_wrong_domain_is_permission_denied),
		T(map_of_bad_refs_is_bad_gntref),
		T(map_from_missing_domain_is_bad_domain),
		T(map_of_entry_naming_a_hole_is_bad_page),
		T(double_unmap_is_bad_handle),
		T(revoke_while_mapped_is_ebusy_then_ok_after_unmap),
		T(batch_map_reports_status_per_op),
		T(batch_table_frame_references_balance),
		T(out_of_handles_is_no_space),
		T(mapping_outlives_granter_death_until_unmap),
		T(pins_beyond_255_of_a_kind_are_no_space),
		T(entry_rewritten_under_pins_does_not_let_another_domain_in),
	};
	return cmocka_run_group_tests_name("grant_map", tests, NULL, NULL);
}
