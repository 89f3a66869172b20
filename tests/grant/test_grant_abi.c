/* SPDX-License-Identifier: MIT */
/* pvio's grant entry and constants against Xen's public grant_table.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <xen/xen.h>
#include <xen/grant_table.h>

#include <pvio/grant.h>

static void entry_layout_matches_grant_entry_v1(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct pvio_grant_entry_v1), sizeof(struct grant_entry_v1));
	assert_int_equal(offsetof(struct pvio_grant_entry_v1, flags),
			 offsetof(struct grant_entry_v1, flags));
	assert_int_equal(offsetof(struct pvio_grant_entry_v1, domid),
			 offsetof(struct grant_entry_v1, domid));
	assert_int_equal(offsetof(struct pvio_grant_entry_v1, frame),
			 offsetof(struct grant_entry_v1, frame));
	assert_int_equal(sizeof(((struct pvio_grant_entry_v1 *)0)->flags),
			 sizeof(((struct grant_entry_v1 *)0)->flags));
	assert_int_equal(sizeof(((struct pvio_grant_entry_v1 *)0)->domid),
			 sizeof(((struct grant_entry_v1 *)0)->domid));
	assert_int_equal(sizeof(((struct pvio_grant_entry_v1 *)0)->frame),
			 sizeof(((struct grant_entry_v1 *)0)->frame));
	assert_int_equal(PVIO_GNT_PER_FRAME, 4096 / sizeof(grant_entry_v1_t));
	assert_int_equal(sizeof(pvio_grant_ref_t), sizeof(grant_ref_t));
	assert_int_equal(sizeof(pvio_domid_t), sizeof(domid_t));
}

static void hdr_word_is_flags_then_domid(void **state)
{
	struct pvio_grant_entry_v1 e = { 0 };

	(void)state;
	atomic_store(&e.hdr, 0x00070001u);
	assert_int_equal(e.flags, GTF_permit_access);
	assert_int_equal(e.domid, 7);
}

static void gtf_flags_match_xen(void **state)
{
	(void)state;
	assert_int_equal(PVIO_GTF_invalid, GTF_invalid);
	assert_int_equal(PVIO_GTF_permit_access, GTF_permit_access);
	assert_int_equal(PVIO_GTF_accept_transfer, GTF_accept_transfer);
	assert_int_equal(PVIO_GTF_transitive, GTF_transitive);
	assert_int_equal(PVIO_GTF_type_mask, GTF_type_mask);
	assert_int_equal(PVIO_GTF_readonly, GTF_readonly);
	assert_int_equal(PVIO_GTF_reading, GTF_reading);
	assert_int_equal(PVIO_GTF_writing, GTF_writing);
	assert_int_equal(PVIO_GTF_transfer_committed, GTF_transfer_committed);
	assert_int_equal(PVIO_GTF_transfer_completed, GTF_transfer_completed);
}

static void gntst_values_match_xen(void **state)
{
	(void)state;
	assert_int_equal(PVIO_GNTST_okay, GNTST_okay);
	assert_int_equal(PVIO_GNTST_general_error, GNTST_general_error);
	assert_int_equal(PVIO_GNTST_bad_domain, GNTST_bad_domain);
	assert_int_equal(PVIO_GNTST_bad_gntref, GNTST_bad_gntref);
	assert_int_equal(PVIO_GNTST_bad_handle, GNTST_bad_handle);
	assert_int_equal(PVIO_GNTST_permission_denied, GNTST_permission_denied);
	assert_int_equal(PVIO_GNTST_bad_page, GNTST_bad_page);
	assert_int_equal(PVIO_GNTST_bad_copy_arg, GNTST_bad_copy_arg);
	assert_int_equal(PVIO_GNTST_eagain, GNTST_eagain);
	assert_int_equal(PVIO_GNTST_no_space, GNTST_no_space);
}

static void gntmap_and_gntcopy_flags_match_xen(void **state)
{
	(void)state;
	assert_int_equal(PVIO_GNTMAP_host_map, GNTMAP_host_map);
	assert_int_equal(PVIO_GNTMAP_readonly, GNTMAP_readonly);
	assert_int_equal(PVIO_GNTCOPY_source_gref, GNTCOPY_source_gref);
	assert_int_equal(PVIO_GNTCOPY_dest_gref, GNTCOPY_dest_gref);
}

static void special_domids_match_xen(void **state)
{
	(void)state;
	assert_int_equal(PVIO_DOMID_SELF, DOMID_SELF);
	assert_int_equal(PVIO_DOMID_XEN, DOMID_XEN);
	assert_int_equal(PVIO_DOMID_INVALID, DOMID_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(entry_layout_matches_grant_entry_v1),
		cmocka_unit_test(hdr_word_is_flags_then_domid),
		cmocka_unit_test(gtf_flags_match_xen),
		cmocka_unit_test(gntst_values_match_xen),
		cmocka_unit_test(gntmap_and_gntcopy_flags_match_xen),
		cmocka_unit_test(special_domids_match_xen),
	};
	return cmocka_run_group_tests_name("grant_abi", tests, NULL, NULL);
}
