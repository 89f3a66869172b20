/* SPDX-License-Identifier: MIT */
/*
 * Request checks (blkback/validate.c) on copied-out requests: one rule
 * per test, as Linux's xen-blkback applies them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common.h"

#define DISK_SECTORS 2048u

static struct bb_limits lim_all(void)
{
	struct bb_limits l = {
		.sectors = DISK_SECTORS, .max_indirect = 256, .readonly = false,
		.flush = true, .barrier = true, .discard = true, .secure = false,
	};
	return l;
}

static struct pvio_blkif_request rw(uint8_t op, uint64_t sector, uint8_t nseg)
{
	struct pvio_blkif_request r;

	memset(&r, 0, sizeof(r));
	r.operation = op;
	r.nr_segments = nseg;
	r.id = 0x1234;
	r.sector_number = sector;
	for (uint8_t i = 0; i < nseg && i < 11; i++) {
		r.seg[i].gref = 100 + i;
		r.seg[i].first_sect = 0;
		r.seg[i].last_sect = 7;
	}
	return r;
}

static enum bb_verdict full_check(const struct bb_limits *l,
				  const struct pvio_blkif_request *raw)
{
	struct bb_req req;
	uint64_t n;
	enum bb_verdict v = bb_req_check(l, raw, &req);

	if (v != BB_OK || req.indirect || req.kind == BB_KIND_DISCARD)
		return v;
	return bb_segs_check(l, req.sector, req.seg, req.nr_segs, &n);
}

static void read_with_valid_segments_passes(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_READ, 0, 11);
	struct bb_req req;
	uint64_t n;

	(void)s;
	assert_int_equal(bb_req_check(&l, &r, &req), BB_OK);
	assert_int_equal(req.kind, BB_KIND_READ);
	assert_int_equal(req.nr_segs, 11);
	assert_int_equal(req.id, 0x1234);
	assert_int_equal(bb_segs_check(&l, req.sector, req.seg, 11, &n), BB_OK);
	assert_int_equal(n, 88);
}

static void unknown_operation_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(7, 0, 1);

	(void)s;
	assert_int_equal(full_check(&l, &r), BB_BAD_OP);
	r.operation = 255;
	assert_int_equal(full_check(&l, &r), BB_BAD_OP);
	assert_int_equal(bb_verdict_status(BB_BAD_OP), PVIO_BLKIF_RSP_ERROR);
}

static void reserved_operation_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_RESERVED_1, 0, 1);

	(void)s;
	assert_int_equal(full_check(&l, &r), BB_BAD_OP);
}

static void read_with_zero_segments_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_READ, 0, 0);

	(void)s;
	assert_int_equal(full_check(&l, &r), BB_BAD_SEGMENTS);
}

static void write_with_zero_segments_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_WRITE, 0, 0);

	(void)s;
	assert_int_equal(full_check(&l, &r), BB_BAD_SEGMENTS);
}

static void more_than_11_direct_segments_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_WRITE, 0, 11);

	(void)s;
	r.nr_segments = 12;
	assert_int_equal(full_check(&l, &r), BB_BAD_SEGMENTS);
	r.nr_segments = 255;
	assert_int_equal(full_check(&l, &r), BB_BAD_SEGMENTS);
}

static void flush_with_zero_segments_passes(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_FLUSH_DISKCACHE, 0, 0);

	(void)s;
	assert_int_equal(full_check(&l, &r), BB_OK);
}

static void first_sect_after_last_sect_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_READ, 0, 2);

	(void)s;
	r.seg[1].first_sect = 5;
	r.seg[1].last_sect = 4;
	assert_int_equal(full_check(&l, &r), BB_BAD_SECT);
}

static void last_sect_beyond_page_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_WRITE, 0, 1);

	(void)s;
	r.seg[0].last_sect = 8;
	assert_int_equal(full_check(&l, &r), BB_BAD_SECT);
	r.seg[0].first_sect = 200;
	r.seg[0].last_sect = 255;
	assert_int_equal(full_check(&l, &r), BB_BAD_SECT);
}

static void partial_page_segment_passes(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_READ, 10, 1);
	struct bb_req req;
	uint64_t n;

	(void)s;
	r.seg[0].first_sect = 3;
	r.seg[0].last_sect = 3;
	assert_int_equal(bb_req_check(&l, &r, &req), BB_OK);
	assert_int_equal(bb_segs_check(&l, req.sector, req.seg, 1, &n), BB_OK);
	assert_int_equal(n, 1);
}

static void request_ending_at_disk_end_passes(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_READ, DISK_SECTORS - 8, 1);

	(void)s;
	assert_int_equal(full_check(&l, &r), BB_OK);
}

static void request_past_disk_end_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_READ, DISK_SECTORS - 7, 1);

	(void)s;
	assert_int_equal(full_check(&l, &r), BB_BAD_RANGE);
	r.sector_number = DISK_SECTORS;
	assert_int_equal(full_check(&l, &r), BB_BAD_RANGE);
}

static void sector_range_that_wraps_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_WRITE, UINT64_MAX - 3, 1);

	(void)s;
	assert_int_equal(full_check(&l, &r), BB_BAD_RANGE);
	r.sector_number = UINT64_MAX;
	assert_int_equal(full_check(&l, &r), BB_BAD_RANGE);
}

static void write_to_readonly_disk_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_WRITE, 0, 1);

	(void)s;
	l.readonly = true;
	assert_int_equal(full_check(&l, &r), BB_READONLY);
	assert_int_equal(bb_verdict_status(BB_READONLY), PVIO_BLKIF_RSP_ERROR);
	r.operation = PVIO_BLKIF_OP_READ;
	assert_int_equal(full_check(&l, &r), BB_OK);
}

static void indirect_write_to_readonly_disk_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r;
	struct pvio_blkif_request_indirect *ind = (void *)&r;
	struct bb_req req;

	(void)s;
	memset(&r, 0, sizeof(r));
	ind->operation = PVIO_BLKIF_OP_INDIRECT;
	ind->indirect_op = PVIO_BLKIF_OP_WRITE;
	ind->nr_segments = 20;
	l.readonly = true;
	assert_int_equal(bb_req_check(&l, &r, &req), BB_READONLY);
}

static void barrier_not_offered_is_eopnotsupp(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_WRITE_BARRIER, 0, 0);

	(void)s;
	l.barrier = false;
	assert_int_equal(full_check(&l, &r), BB_UNSUPPORTED);
	assert_int_equal(bb_verdict_status(BB_UNSUPPORTED), PVIO_BLKIF_RSP_EOPNOTSUPP);
}

static void flush_not_offered_is_eopnotsupp(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = rw(PVIO_BLKIF_OP_FLUSH_DISKCACHE, 0, 0);

	(void)s;
	l.flush = false;
	assert_int_equal(full_check(&l, &r), BB_UNSUPPORTED);
}

static struct pvio_blkif_request discard(uint64_t sector, uint64_t n, uint8_t flag)
{
	struct pvio_blkif_request r;
	struct pvio_blkif_request_discard d = {
		.operation = PVIO_BLKIF_OP_DISCARD, .flag = flag, .id = 9,
		.sector_number = sector, .nr_sectors = n,
	};

	memset(&r, 0, sizeof(r));
	memcpy(&r, &d, sizeof(d));
	return r;
}

static void discard_within_disk_passes(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = discard(8, DISK_SECTORS - 8, 0);
	struct bb_req req;

	(void)s;
	assert_int_equal(bb_req_check(&l, &r, &req), BB_OK);
	assert_int_equal(req.kind, BB_KIND_DISCARD);
	assert_int_equal(req.nr_sectors, DISK_SECTORS - 8);
}

static void discard_not_offered_is_eopnotsupp(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = discard(0, 8, 0);
	struct bb_req req;

	(void)s;
	l.discard = false;
	assert_int_equal(bb_req_check(&l, &r, &req), BB_UNSUPPORTED);
}

static void secure_discard_not_offered_is_eopnotsupp(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = discard(0, 8, PVIO_BLKIF_DISCARD_SECURE);
	struct bb_req req;

	(void)s;
	assert_int_equal(bb_req_check(&l, &r, &req), BB_UNSUPPORTED);
	l.secure = true;
	assert_int_equal(bb_req_check(&l, &r, &req), BB_OK);
	assert_true(req.secure);
}

static void discard_past_disk_end_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = discard(DISK_SECTORS - 4, 8, 0);
	struct bb_req req;

	(void)s;
	assert_int_equal(bb_req_check(&l, &r, &req), BB_BAD_RANGE);
	r = discard(4, UINT64_MAX, 0);
	assert_int_equal(bb_req_check(&l, &r, &req), BB_BAD_RANGE);
	r = discard(0, 0, 0);
	assert_int_equal(bb_req_check(&l, &r, &req), BB_BAD_RANGE);
}

static void discard_on_readonly_disk_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = discard(0, 8, 0);
	struct bb_req req;

	(void)s;
	l.readonly = true;
	assert_int_equal(bb_req_check(&l, &r, &req), BB_READONLY);
}

static struct pvio_blkif_request indirect(uint8_t op, uint16_t nseg)
{
	struct pvio_blkif_request r;
	struct pvio_blkif_request_indirect ind;

	memset(&r, 0, sizeof(r));
	memset(&ind, 0, sizeof(ind));
	ind.operation = PVIO_BLKIF_OP_INDIRECT;
	ind.indirect_op = op;
	ind.nr_segments = nseg;
	ind.id = 77;
	for (int i = 0; i < 8; i++)
		ind.indirect_grefs[i] = 500 + (uint32_t)i;
	memcpy(&r, &ind, sizeof(ind));
	return r;
}

static void indirect_read_within_limit_passes(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = indirect(PVIO_BLKIF_OP_READ, 256);
	struct bb_req req;

	(void)s;
	assert_int_equal(bb_req_check(&l, &r, &req), BB_OK);
	assert_true(req.indirect);
	assert_int_equal(req.nr_segs, 256);
	assert_int_equal(req.nr_indirect, 1);
	assert_int_equal(req.indirect_grefs[0], 500);
	r = indirect(PVIO_BLKIF_OP_READ, 12);
	l.max_indirect = 1024;
	r = indirect(PVIO_BLKIF_OP_WRITE, 513);
	assert_int_equal(bb_req_check(&l, &r, &req), BB_OK);
	assert_int_equal(req.nr_indirect, 2);
}

static void indirect_above_negotiated_max_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = indirect(PVIO_BLKIF_OP_READ, 257);
	struct bb_req req;

	(void)s;
	assert_int_equal(bb_req_check(&l, &r, &req), BB_BAD_SEGMENTS);
	r = indirect(PVIO_BLKIF_OP_READ, 0);
	assert_int_equal(bb_req_check(&l, &r, &req), BB_BAD_SEGMENTS);
	l.max_indirect = 8 * 512;
	r = indirect(PVIO_BLKIF_OP_READ, 8 * 512 + 1);
	assert_int_equal(bb_req_check(&l, &r, &req), BB_BAD_SEGMENTS);
}

static void indirect_when_not_offered_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = indirect(PVIO_BLKIF_OP_READ, 4);
	struct bb_req req;

	(void)s;
	l.max_indirect = 0;
	assert_int_equal(bb_req_check(&l, &r, &req), BB_BAD_OP);
}

static void indirect_with_bad_inner_op_is_refused(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_request r = indirect(PVIO_BLKIF_OP_DISCARD, 4);
	struct bb_req req;

	(void)s;
	assert_int_equal(bb_req_check(&l, &r, &req), BB_BAD_OP);
	r = indirect(PVIO_BLKIF_OP_INDIRECT, 4);
	assert_int_equal(bb_req_check(&l, &r, &req), BB_BAD_OP);
}

static void indirect_segments_are_checked_like_direct_ones(void **s)
{
	struct bb_limits l = lim_all();
	struct pvio_blkif_segment segs[300];
	uint64_t n;

	(void)s;
	for (int i = 0; i < 300; i++)
		segs[i] = (struct pvio_blkif_segment){ .gref = 9, .first_sect = 0, .last_sect = 7 };
	assert_int_equal(bb_segs_check(&l, 0, segs, 256, &n), BB_OK);
	assert_int_equal(n, 2048);
	assert_int_equal(bb_segs_check(&l, 8, segs, 256, &n), BB_BAD_RANGE);
	segs[200].last_sect = 9;
	assert_int_equal(bb_segs_check(&l, 0, segs, 256, &n), BB_BAD_SECT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(read_with_valid_segments_passes),
		cmocka_unit_test(unknown_operation_is_refused),
		cmocka_unit_test(reserved_operation_is_refused),
		cmocka_unit_test(read_with_zero_segments_is_refused),
		cmocka_unit_test(write_with_zero_segments_is_refused),
		cmocka_unit_test(more_than_11_direct_segments_is_refused),
		cmocka_unit_test(flush_with_zero_segments_passes),
		cmocka_unit_test(first_sect_after_last_sect_is_refused),
		cmocka_unit_test(last_sect_beyond_page_is_refused),
		cmocka_unit_test(partial_page_segment_passes),
		cmocka_unit_test(request_ending_at_disk_end_passes),
		cmocka_unit_test(request_past_disk_end_is_refused),
		cmocka_unit_test(sector_range_that_wraps_is_refused),
		cmocka_unit_test(write_to_readonly_disk_is_refused),
		cmocka_unit_test(indirect_write_to_readonly_disk_is_refused),
		cmocka_unit_test(barrier_not_offered_is_eopnotsupp),
		cmocka_unit_test(flush_not_offered_is_eopnotsupp),
		cmocka_unit_test(discard_within_disk_passes),
		cmocka_unit_test(discard_not_offered_is_eopnotsupp),
		cmocka_unit_test(secure_discard_not_offered_is_eopnotsupp),
		cmocka_unit_test(discard_past_disk_end_is_refused),
		cmocka_unit_test(discard_on_readonly_disk_is_refused),
		cmocka_unit_test(indirect_read_within_limit_passes),
		cmocka_unit_test(indirect_above_negotiated_max_is_refused),
		cmocka_unit_test(indirect_when_not_offered_is_refused),
		cmocka_unit_test(indirect_with_bad_inner_op_is_refused),
		cmocka_unit_test(indirect_segments_are_checked_like_direct_ones),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
