/* SPDX-License-Identifier: MIT */
/* Page flipping: a frame changes owner and P2M slot, nothing is copied. */
#include <errno.h>

#include "grant_test_util.h"

static void transfer_moves_the_frame_and_swaps_p2m(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref;
	uint32_t back_mfn = pvio_mach_pfn_to_mfn(env->m, BACK_ID, 7);
	uint32_t front_old = pvio_mach_pfn_to_mfn(env->m, FRONT_ID, 9);
	unsigned char *bp = pvio_mach_pfn_ptr(env->m, BACK_ID, 7);
	uint32_t mfn;

	for (int i = 0; i < 4096; i++)
		bp[i] = (unsigned char)(i ^ 0x5a);
	assert_int_equal(pvio_gnt_grant_transfer(env->f, BACK_ID, 9, &ref), 0);
	struct pvio_gnt_transfer_op op = { .pfn = 7, .domid = FRONT_ID, .ref = ref };
	assert_int_equal(pvio_gnt_transfer(env->b, &op, 1), 0);
	assert_int_equal(op.status, PVIO_GNTST_okay);
	/* The entry, as Xen leaves it. */
	assert_int_equal(gt_flags(env, ref), PVIO_GTF_accept_transfer |
			 PVIO_GTF_transfer_committed | PVIO_GTF_transfer_completed);
	assert_int_equal(atomic_load(&gt_entry(env, ref)->frame), back_mfn);
	assert_int_equal(pvio_gnt_transfer_query(env->f, ref, &mfn), 0);
	assert_int_equal(mfn, back_mfn);
	/* Both P2Ms and the owner table rewritten; the bytes never moved. */
	assert_int_equal(pvio_mach_pfn_to_mfn(env->m, FRONT_ID, 9), back_mfn);
	assert_int_equal(pvio_mach_pfn_to_mfn(env->m, BACK_ID, 7), front_old);
	assert_int_equal(pvio_frame_owner(gt_frame_word(env, back_mfn)), FRONT_ID);
	assert_int_equal(pvio_frame_owner(gt_frame_word(env, front_old)), BACK_ID);
	assert_ptr_equal(gt_front_page(env, 9), bp);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(gt_front_page(env, 9)[i], (unsigned char)(i ^ 0x5a));
	assert_int_equal(pvio_gnt_transfer_end(env->f, ref, &mfn), 0);
	assert_int_equal(mfn, back_mfn);
	assert_int_equal(gt_flags(env, ref), 0);
}

static void transfer_without_accept_grant_fails(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t acc, other;
	uint32_t back_mfn = pvio_mach_pfn_to_mfn(env->m, BACK_ID, 7);
	struct pvio_gnt_transfer_op ops[5];

	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 9, false, &acc), 0);
	assert_int_equal(pvio_gnt_grant_transfer(env->f, OTHER_ID, 9, &other), 0);
	ops[0] = (struct pvio_gnt_transfer_op){ .pfn = 7, .domid = FRONT_ID, .ref = acc };
	ops[1] = (struct pvio_gnt_transfer_op){ .pfn = 7, .domid = FRONT_ID, .ref = 200 };
	ops[2] = (struct pvio_gnt_transfer_op){ .pfn = 7, .domid = FRONT_ID, .ref = 9000 };
	ops[3] = (struct pvio_gnt_transfer_op){ .pfn = 7, .domid = FRONT_ID, .ref = other };
	ops[4] = (struct pvio_gnt_transfer_op){ .pfn = 7, .domid = 6, .ref = other };
	assert_int_equal(pvio_gnt_transfer(env->b, ops, 5), 0);
	assert_int_equal(ops[0].status, PVIO_GNTST_bad_gntref);
	assert_int_equal(ops[1].status, PVIO_GNTST_bad_gntref);
	assert_int_equal(ops[2].status, PVIO_GNTST_bad_gntref);
	assert_int_equal(ops[3].status, PVIO_GNTST_bad_gntref);
	assert_int_equal(ops[4].status, PVIO_GNTST_bad_domain);
	/* Nothing moved. */
	assert_int_equal(pvio_mach_pfn_to_mfn(env->m, BACK_ID, 7), back_mfn);
	assert_int_equal(pvio_frame_owner(gt_frame_word(env, back_mfn)), BACK_ID);
	assert_int_equal(gt_flags(env, other), PVIO_GTF_accept_transfer);
}

static void accept_grant_is_used_once(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref;

	assert_int_equal(pvio_gnt_grant_transfer(env->f, BACK_ID, 9, &ref), 0);
	struct pvio_gnt_transfer_op ops[2] = {
		{ .pfn = 7, .domid = FRONT_ID, .ref = ref },
		{ .pfn = 8, .domid = FRONT_ID, .ref = ref },
	};
	assert_int_equal(pvio_gnt_transfer(env->b, ops, 2), 0);
	assert_int_equal(ops[0].status, PVIO_GNTST_okay);
	assert_int_equal(ops[1].status, PVIO_GNTST_bad_gntref);
}

static void transfer_of_a_mapped_or_missing_frame_is_bad_page(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref, mine;
	struct pvio_gnt_front *bf;
	void *page;
	uint32_t h;

	assert_int_equal(pvio_gnt_grant_transfer(env->f, BACK_ID, 9, &ref), 0);
	/* The backend's pfn 7 is granted to and mapped by OTHER. */
	assert_int_equal(pvio_gnt_front_create(env->m, BACK_ID, &bf), 0);
	assert_int_equal(pvio_gnt_grant(bf, OTHER_ID, 7, false, &mine), 0);
	assert_int_equal(pvio_gnt_map_one(env->other, BACK_ID, mine, 0, &page, &h), 0);
	struct pvio_gnt_transfer_op ops[2] = {
		{ .pfn = 7, .domid = FRONT_ID, .ref = ref },
		{ .pfn = 64, .domid = FRONT_ID, .ref = ref },
	};
	assert_int_equal(pvio_gnt_transfer(env->b, ops, 2), 0);
	assert_int_equal(ops[0].status, PVIO_GNTST_bad_page);
	assert_int_equal(ops[1].status, PVIO_GNTST_bad_page);
	assert_int_equal(gt_flags(env, ref), PVIO_GTF_accept_transfer); /* unused */
	assert_int_equal(pvio_gnt_unmap_one(env->other, h), 0);
	assert_int_equal(pvio_gnt_revoke(bf, mine), 0);
	pvio_gnt_front_destroy(bf);
}

static void backend_gets_fresh_frame_when_front_slot_is_mapped(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t acc, xfer;
	uint32_t old = pvio_mach_pfn_to_mfn(env->m, FRONT_ID, 9);
	uint32_t back_mfn = pvio_mach_pfn_to_mfn(env->m, BACK_ID, 7);
	unsigned char *page;
	uint32_t h, mfn;

	/* OTHER maps the frontend's pfn 9, then the frontend offers pfn 9. */
	assert_int_equal(pvio_gnt_grant(env->f, OTHER_ID, 9, false, &acc), 0);
	assert_int_equal(pvio_gnt_map_one(env->other, FRONT_ID, acc, 0, (void **)&page,
					  &h), 0);
	page[0] = 0x99;
	assert_int_equal(pvio_gnt_grant_transfer(env->f, BACK_ID, 9, &xfer), 0);
	struct pvio_gnt_transfer_op op = { .pfn = 7, .domid = FRONT_ID, .ref = xfer };
	assert_int_equal(pvio_gnt_transfer(env->b, &op, 1), 0);
	assert_int_equal(op.status, PVIO_GNTST_okay);
	mfn = pvio_mach_pfn_to_mfn(env->m, BACK_ID, 7);
	assert_int_not_equal(mfn, old);
	assert_int_not_equal(mfn, PVIO_MFN_INVALID);
	assert_int_equal(pvio_mach_pfn_to_mfn(env->m, FRONT_ID, 9), back_mfn);
	/* The old frame left the frontend but lives while mapped. */
	assert_int_equal(pvio_frame_state(gt_frame_word(env, old)), PVIO_FRAME_ORPHAN);
	assert_int_equal(page[0], 0x99);
	assert_int_equal(pvio_gnt_unmap_one(env->other, h), 0);
	assert_int_equal(gt_frame_word(env, old), 0);
}

static void accept_grant_naming_a_hole_completes_empty(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref;
	uint32_t back_mfn = pvio_mach_pfn_to_mfn(env->m, BACK_ID, 7);
	uint32_t mfn = 1;

	assert_int_equal(pvio_gnt_grant_transfer(env->f, BACK_ID, 9, &ref), 0);
	atomic_store(&gt_entry(env, ref)->frame, 5000); /* hostile rewrite */
	struct pvio_gnt_transfer_op op = { .pfn = 7, .domid = FRONT_ID, .ref = ref };
	assert_int_equal(pvio_gnt_transfer(env->b, &op, 1), 0);
	assert_int_equal(op.status, PVIO_GNTST_bad_page);
	assert_int_equal(pvio_mach_pfn_to_mfn(env->m, BACK_ID, 7), back_mfn);
	assert_int_equal(pvio_frame_owner(gt_frame_word(env, back_mfn)), BACK_ID);
	assert_int_equal(pvio_gnt_transfer_end(env->f, ref, &mfn), 0);
	assert_int_equal(mfn, PVIO_MFN_INVALID);
}

static void flips_conserve_frames(void **state)
{
	struct gt_env *env = *state;
	struct pvio_mem_stats before, after;

	pvio_mem_stats(env->mem, &before);
	for (int i = 0; i < 1000; i++) {
		pvio_grant_ref_t ref;
		uint32_t mfn;

		assert_int_equal(pvio_gnt_grant_transfer(env->f, BACK_ID, i % 64, &ref), 0);
		struct pvio_gnt_transfer_op op = { .pfn = (uint32_t)(i * 7) % 64,
						   .domid = FRONT_ID, .ref = ref };
		assert_int_equal(pvio_gnt_transfer(env->b, &op, 1), 0);
		assert_int_equal(op.status, PVIO_GNTST_okay);
		assert_int_equal(pvio_gnt_transfer_end(env->f, ref, &mfn), 0);
	}
	pvio_mem_stats(env->mem, &after);
	assert_int_equal(after.nr_free, before.nr_free);
	assert_int_equal(after.nr_owned, before.nr_owned);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, gt_setup, gt_teardown)
	const struct CMUnitTest tests[] = {
		T(transfer_moves_the_frame_and_swaps_p2m),
		T(transfer_without_accept_grant_fails),
		T(accept_grant_is_used_once),
		T(transfer_of_a_mapped_or_missing_frame_is_bad_page),
		T(backend_gets_fresh_frame_when_front_slot_is_mapped),
		T(accept_grant_naming_a_hole_completes_empty),
		T(flips_conserve_frames),
	};
	return cmocka_run_group_tests_name("grant_transfer", tests, NULL, NULL);
}
