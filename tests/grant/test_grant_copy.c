/* SPDX-License-Identifier: MIT */
/* Grant copy (GNTTABOP_copy): data movement and each per-op status. */
#include <errno.h>

#include "grant_test_util.h"

static pvio_grant_ref_t grant(struct gt_env *env, uint32_t pfn, bool ro)
{
	pvio_grant_ref_t ref;

	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, pfn, ro, &ref), 0);
	return ref;
}

static struct pvio_gnt_copy_op from_grant(pvio_grant_ref_t ref, uint16_t soff,
					  uint32_t local_pfn, uint16_t doff,
					  uint16_t len)
{
	return (struct pvio_gnt_copy_op){
		.source = { .u.ref = ref, .domid = FRONT_ID, .offset = soff },
		.dest = { .u.pfn = local_pfn, .domid = PVIO_DOMID_SELF, .offset = doff },
		.len = len, .flags = PVIO_GNTCOPY_source_gref,
	};
}

static void copy_from_grant_to_local_page(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref = grant(env, 4, true);
	unsigned char *dst = pvio_mach_pfn_ptr(env->m, BACK_ID, 2);
	struct pvio_gnt_copy_op op = from_grant(ref, 100, 2, 10, 200);

	for (int i = 0; i < 4096; i++)
		gt_front_page(env, 4)[i] = (unsigned char)(i * 7);
	assert_int_equal(pvio_gnt_copy(env->b, &op, 1), 0);
	assert_int_equal(op.status, PVIO_GNTST_okay);
	assert_memory_equal(dst + 10, gt_front_page(env, 4) + 100, 200);
	assert_int_equal(dst[9], 0);
	assert_int_equal(dst[210], 0);
	/* Pins are gone: the frontend can revoke. */
	assert_int_equal(gt_flags(env, ref), PVIO_GTF_permit_access | PVIO_GTF_readonly);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), 0);
}

static void copy_from_local_page_to_grant(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref = grant(env, 4, false);
	unsigned char *src = pvio_mach_pfn_ptr(env->m, BACK_ID, 2);
	struct pvio_gnt_copy_op op = {
		.source = { .u.pfn = 2, .domid = BACK_ID },
		.dest = { .u.ref = ref, .domid = FRONT_ID, .offset = 96 },
		.len = 4000, .flags = PVIO_GNTCOPY_dest_gref,
	};

	memset(src, 0x3c, 4096);
	assert_int_equal(pvio_gnt_copy(env->b, &op, 1), 0);
	assert_int_equal(op.status, PVIO_GNTST_okay);
	assert_int_equal(gt_front_page(env, 4)[95], 0);
	assert_int_equal(gt_front_page(env, 4)[96], 0x3c);
	assert_int_equal(gt_front_page(env, 4)[4095], 0x3c);
}

static void copy_grant_to_grant(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t s = grant(env, 4, true), d = grant(env, 5, false);
	struct pvio_gnt_copy_op op = {
		.source = { .u.ref = s, .domid = FRONT_ID },
		.dest = { .u.ref = d, .domid = FRONT_ID },
		.len = 4096, .flags = PVIO_GNTCOPY_source_gref | PVIO_GNTCOPY_dest_gref,
	};

	memset(gt_front_page(env, 4), 0xe1, 4096);
	assert_int_equal(pvio_gnt_copy(env->b, &op, 1), 0);
	assert_int_equal(op.status, PVIO_GNTST_okay);
	assert_memory_equal(gt_front_page(env, 5), gt_front_page(env, 4), 4096);
}

static void copy_past_the_page_is_bad_copy_arg(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref = grant(env, 4, false);
	struct pvio_gnt_copy_op ops[4] = {
		from_grant(ref, 4000, 2, 0, 97),
		from_grant(ref, 0, 2, 4095, 2),
		from_grant(ref, 0xffff, 2, 0, 1),
		/* overlap within one frame (grant to the same grant) */
		{ .source = { .u.ref = ref, .domid = FRONT_ID, .offset = 0 },
		  .dest = { .u.ref = ref, .domid = FRONT_ID, .offset = 10 },
		  .len = 20, .flags = PVIO_GNTCOPY_source_gref | PVIO_GNTCOPY_dest_gref },
	};

	assert_int_equal(pvio_gnt_copy(env->b, ops, 4), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(ops[i].status, PVIO_GNTST_bad_copy_arg);
	assert_int_equal(gt_flags(env, ref), PVIO_GTF_permit_access);
}

static void copy_statuses_per_op(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ro = grant(env, 4, true), rw = grant(env, 5, false);
	pvio_grant_ref_t other;
	struct pvio_gnt_copy_op ops[9];

	assert_int_equal(pvio_gnt_grant(env->f, OTHER_ID, 6, false, &other), 0);
	ops[0] = from_grant(rw, 0, 1, 0, 64);                 /* okay */
	ops[1] = from_grant(300, 0, 1, 0, 64);                /* never granted */
	ops[2] = from_grant(5000, 0, 1, 0, 64);               /* out of range */
	ops[3] = from_grant(rw, 0, 1, 0, 64);
	ops[3].source.domid = 6;                              /* no such domain */
	ops[4] = from_grant(other, 0, 1, 0, 64);              /* not granted to us */
	ops[5] = (struct pvio_gnt_copy_op){                   /* write to r/o */
		.source = { .u.pfn = 1, .domid = PVIO_DOMID_SELF },
		.dest = { .u.ref = ro, .domid = FRONT_ID },
		.len = 8, .flags = PVIO_GNTCOPY_dest_gref };
	ops[6] = from_grant(rw, 0, 64, 0, 64);                /* local hole */
	ops[7] = from_grant(rw, 0, 1, 0, 64);
	ops[7].dest.domid = OTHER_ID;                         /* local, not ours */
	ops[8] = from_grant(rw, 0, 1, 0, 64);
	ops[8].flags |= 0x80;                                 /* unknown flag */
	assert_int_equal(pvio_gnt_copy(env->b, ops, 9), 0);
	assert_int_equal(ops[0].status, PVIO_GNTST_okay);
	assert_int_equal(ops[1].status, PVIO_GNTST_bad_gntref);
	assert_int_equal(ops[2].status, PVIO_GNTST_bad_gntref);
	assert_int_equal(ops[3].status, PVIO_GNTST_bad_domain);
	assert_int_equal(ops[4].status, PVIO_GNTST_permission_denied);
	assert_int_equal(ops[5].status, PVIO_GNTST_permission_denied);
	assert_int_equal(ops[6].status, PVIO_GNTST_bad_page);
	assert_int_equal(ops[7].status, PVIO_GNTST_bad_domain);
	assert_int_equal(ops[8].status, PVIO_GNTST_general_error);
	/* No failed op left a pin behind. */
	assert_int_equal(pvio_gnt_revoke(env->f, ro), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, rw), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, other), 0);
	assert_int_equal(pvio_gnt_copy(env->b, NULL, 1), -EINVAL);
}

static void copy_of_zero_bytes_is_okay(void **state)
{
	struct gt_env *env = *state;
	struct pvio_gnt_copy_op op = from_grant(grant(env, 4, true), 4096, 1, 4096, 0);

	assert_int_equal(pvio_gnt_copy(env->b, &op, 1), 0);
	assert_int_equal(op.status, PVIO_GNTST_okay);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, gt_setup, gt_teardown)
	const struct CMUnitTest tests[] = {
		T(copy_from_grant_to_local_page),
		T(copy_from_local_page_to_grant),
		T(copy_grant_to_grant),
		T(copy_past_the_page_is_bad_copy_arg),
		T(copy_statuses_per_op),
		T(copy_of_zero_bytes_is_okay),
	};
	return cmocka_run_group_tests_name("grant_copy", tests, NULL, NULL);
}
