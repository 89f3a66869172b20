/* SPDX-License-Identifier: MIT */
/* The granting side: grant, revoke, table growth, the free-ref list. */
#include <errno.h>

#include "grant_test_util.h"

static void grant_writes_entry_as_xen_does(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t rw, ro;

	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 5, false, &rw), 0);
	assert_int_equal(pvio_gnt_grant(env->f, 7, 6, true, &ro), 0);
	assert_true(rw >= PVIO_GNT_NR_RESERVED);
	assert_int_not_equal(rw, ro);
	assert_int_equal(gt_entry(env, rw)->flags, PVIO_GTF_permit_access);
	assert_int_equal(gt_entry(env, rw)->domid, BACK_ID);
	assert_int_equal(atomic_load(&gt_entry(env, rw)->frame), 5);
	assert_int_equal(gt_entry(env, ro)->flags, PVIO_GTF_permit_access | PVIO_GTF_readonly);
	assert_int_equal(gt_entry(env, ro)->domid, 7);
}

static void grant_rejects_unpopulated_pfn_and_bad_domid(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref;

	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 64, false, &ref), -EINVAL);
	assert_int_equal(pvio_gnt_grant(env->f, PVIO_DOMID_SELF, 1, false, &ref), -EINVAL);
	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 1, false, NULL), -EINVAL);
}

static void revoke_clears_entry_and_frees_ref(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref, again;
	uint32_t before = pvio_gnt_nr_free(env->f);

	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 1, false, &ref), 0);
	assert_int_equal(pvio_gnt_nr_free(env->f), before - 1);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), 0);
	assert_int_equal(gt_flags(env, ref), 0);
	assert_int_equal(pvio_gnt_nr_free(env->f), before);
	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 2, false, &again), 0);
	assert_int_equal(again, ref); /* LIFO, like Linux */
}

static void revoke_rejects_bad_refs(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref;

	assert_int_equal(pvio_gnt_revoke(env->f, 0), -EINVAL);        /* reserved */
	assert_int_equal(pvio_gnt_revoke(env->f, 100), -EINVAL);      /* never granted */
	assert_int_equal(pvio_gnt_revoke(env->f, 1u << 20), -EINVAL); /* out of range */
	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 1, false, &ref), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), -EINVAL);      /* twice */
	assert_int_equal(pvio_gnt_grant_transfer(env->f, BACK_ID, 1, &ref), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), -EINVAL);      /* not access */
}

static void revoke_is_busy_while_pin_bits_are_set(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref;

	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 1, false, &ref), 0);
	/* What a backend's map leaves in the entry. */
	atomic_fetch_or(&gt_entry(env, ref)->hdr, PVIO_GTF_reading);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), -EBUSY);
	atomic_fetch_or(&gt_entry(env, ref)->hdr, PVIO_GTF_writing);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), -EBUSY);
	atomic_fetch_and(&gt_entry(env, ref)->hdr, ~(uint32_t)PVIO_GTF_reading);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), -EBUSY);
	atomic_fetch_and(&gt_entry(env, ref)->hdr, ~(uint32_t)PVIO_GTF_writing);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), 0);
}

static void table_grows_by_frames_then_enospc_at_max(void **state)
{
	struct gt_env *env = *state; /* max_gnt_frames 4 */
	struct pvio_mach_dom *d = pvio_mach_dom(env->m, FRONT_ID);
	uint32_t total = 4 * PVIO_GNT_PER_FRAME - PVIO_GNT_NR_RESERVED;
	pvio_grant_ref_t ref, last = 0;

	assert_int_equal(atomic_load(&d->nr_gnt_frames), 1);
	for (uint32_t i = 0; i < total; i++) {
		assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, i % 64, true, &ref), 0);
		assert_true(ref < 4 * PVIO_GNT_PER_FRAME);
		last = ref;
	}
	assert_int_equal(atomic_load(&d->nr_gnt_frames), 4);
	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 0, true, &ref), -ENOSPC);
	assert_int_equal(pvio_gnt_grant_transfer(env->f, BACK_ID, 0, &ref), -ENOSPC);
	assert_int_equal(pvio_gnt_revoke(env->f, last), 0);
	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 0, true, &ref), 0);
	assert_int_equal(ref, last);
}

static void refs_get_is_all_or_nothing(void **state)
{
	struct gt_env *env = *state;
	static pvio_grant_ref_t refs[4 * 512];
	uint32_t total = 4 * PVIO_GNT_PER_FRAME - PVIO_GNT_NR_RESERVED;

	assert_int_equal(pvio_gnt_refs_get(env->f, total + 1, refs), -ENOSPC);
	assert_int_equal(pvio_gnt_refs_get(env->f, 10, refs), 0);
	assert_int_equal(pvio_gnt_grant_ref(env->f, refs[0], BACK_ID, 3, false), 0);
	assert_int_equal(pvio_gnt_grant_ref(env->f, refs[0], BACK_ID, 3, false), -EINVAL);
	assert_int_equal(pvio_gnt_transfer_ref(env->f, refs[1], BACK_ID, 4), 0);
	assert_int_equal(gt_entry(env, refs[1])->flags, PVIO_GTF_accept_transfer);
	assert_int_equal(pvio_gnt_revoke_ref(env->f, refs[0]), 0);
	uint32_t before = pvio_gnt_nr_free(env->f);
	pvio_grant_ref_t bad[2] = { refs[2], 3 };
	assert_int_equal(pvio_gnt_refs_put(env->f, bad, 2), -EINVAL);
	assert_int_equal(pvio_gnt_nr_free(env->f), before);
	assert_int_equal(pvio_gnt_refs_put(env->f, refs, 1), 0);
	assert_int_equal(pvio_gnt_nr_free(env->f), before + 1);
}

static void transfer_end_without_transfer_is_enoent(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref, acc;
	uint32_t mfn;

	assert_int_equal(pvio_gnt_grant_transfer(env->f, BACK_ID, 9, &ref), 0);
	assert_int_equal(gt_entry(env, ref)->flags, PVIO_GTF_accept_transfer);
	assert_int_equal(pvio_gnt_transfer_query(env->f, ref, &mfn), -EAGAIN);
	assert_int_equal(pvio_gnt_transfer_end(env->f, ref, &mfn), -ENOENT);
	assert_int_equal(gt_flags(env, ref), 0);
	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 1, false, &acc), 0);
	assert_int_equal(pvio_gnt_transfer_query(env->f, acc, &mfn), -EINVAL);
	assert_int_equal(pvio_gnt_transfer_end(env->f, acc, &mfn), -EINVAL);
}

static void transfer_end_is_busy_while_committed(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref;
	uint32_t mfn;

	assert_int_equal(pvio_gnt_grant_transfer(env->f, BACK_ID, 9, &ref), 0);
	atomic_fetch_or(&gt_entry(env, ref)->hdr, PVIO_GTF_transfer_committed);
	assert_int_equal(pvio_gnt_transfer_end(env->f, ref, &mfn), -EBUSY);
	assert_int_equal(pvio_gnt_transfer_query(env->f, ref, &mfn), -EAGAIN);
}

static void front_reattach_keeps_live_grants(void **state)
{
	struct gt_env *env = *state;
	struct pvio_gnt_front *again;
	pvio_grant_ref_t ref, r2;

	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 1, false, &ref), 0);
	assert_int_equal(pvio_gnt_front_create(env->m, FRONT_ID, &again), 0);
	assert_int_equal(pvio_gnt_grant(again, BACK_ID, 2, false, &r2), 0);
	assert_int_not_equal(r2, ref);
	assert_int_equal(pvio_gnt_revoke(again, ref), 0);
	pvio_gnt_front_destroy(again);
	assert_int_equal(pvio_gnt_front_create(env->m, 5, &again), -EINVAL);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, gt_setup, gt_teardown)
	const struct CMUnitTest tests[] = {
		T(grant_writes_entry_as_xen_does),
		T(grant_rejects_unpopulated_pfn_and_bad_domid),
		T(revoke_clears_entry_and_frees_ref),
		T(revoke_rejects_bad_refs),
		T(revoke_is_busy_while_pin_bits_are_set),
		T(table_grows_by_frames_then_enospc_at_max),
		T(refs_get_is_all_or_nothing),
		T(transfer_end_without_transfer_is_enoent),
		T(transfer_end_is_busy_while_committed),
		T(front_reattach_keeps_live_grants),
	};
	return cmocka_run_group_tests_name("grant_front", tests, NULL, NULL);
}
