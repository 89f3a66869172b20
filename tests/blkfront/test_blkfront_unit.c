/* SPDX-License-Identifier: MIT */
/*
 * blkfront's pure logic: splitting transfers into ring requests and
 * indirect pages, shadow-table id validation, response status mapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../blkfront/common.h"

static void split_page_aligned_11_segments_per_request(void **state)
{
	uint32_t nsegs;

	(void)state;
	assert_int_equal(bf_split_next(0, 4096, 11, 512, &nsegs), 4096);
	assert_int_equal(nsegs, 1);
	assert_int_equal(bf_split_next(0, 11 * 4096, 11, 512, &nsegs), 11 * 4096);
	assert_int_equal(nsegs, 11);
	assert_int_equal(bf_split_next(0, 12 * 4096, 11, 512, &nsegs), 11 * 4096);
	assert_int_equal(nsegs, 11);
	/* 1 MiB = 256 pages -> 24 requests of up to 11 pages. */
	assert_int_equal(bf_split_count(0, 1 << 20, 11, 512), 24);
}

static void split_unaligned_start_spans_one_more_page(void **state)
{
	uint32_t nsegs;

	(void)state;
	/* 512 bytes in, 4 KiB long: two partial pages. */
	assert_int_equal(bf_split_next(512, 4096, 11, 512, &nsegs), 4096);
	assert_int_equal(nsegs, 2);
	/* A request starting 512 in holds 11 pages minus 512 bytes. */
	assert_int_equal(bf_split_next(512, 1 << 20, 11, 512, &nsegs), 11 * 4096 - 512);
	assert_int_equal(nsegs, 11);
	assert_int_equal(bf_seg_count(3584, 1024), 2);
	assert_int_equal(bf_seg_count(0, 512), 1);
}

static void split_respects_logical_sector_size(void **state)
{
	uint32_t nsegs;

	(void)state;
	/* 4 KiB sectors, start 512 into a page: the part is cut to 40 KiB
	 * (10 sectors), not 44 KiB - 512. */
	uint64_t part = bf_split_next(512, 1 << 20, 11, 4096, &nsegs);
	assert_int_equal(part % 4096, 0);
	assert_int_equal(part, 10 * 4096);
	assert_int_equal(nsegs, 11);
}

static void split_indirect_uses_pages_of_512_segments(void **state)
{
	uint32_t nsegs;

	(void)state;
	assert_int_equal(bf_indirect_pages(1), 1);
	assert_int_equal(bf_indirect_pages(512), 1);
	assert_int_equal(bf_indirect_pages(513), 2);
	assert_int_equal(bf_indirect_pages(4096), 8);
	assert_int_equal(bf_split_next(0, 8 << 20, 1024, 512, &nsegs), 4 << 20);
	assert_int_equal(nsegs, 1024);
	assert_int_equal(bf_split_count(0, 8 << 20, 1024, 512), 2);
	assert_int_equal(bf_split_count(0, 1 << 20, 256, 512), 1);
}

/* A queue with a 4-entry shadow table, entry 2 in flight (gen 5, read). */
static void make_queue(struct bf_queue *q, struct bf_shadow *sh)
{
	memset(q, 0, sizeof(*q));
	memset(sh, 0, 4 * sizeof(*sh));
	q->shadow = sh;
	q->nr_slots = 4;
	sh[2].state = BF_SH_INFLIGHT;
	sh[2].gen = 5;
	sh[2].op = PVIO_BLKIF_OP_READ;
	sh[2].data_op = PVIO_BLKIF_OP_READ;
}

static struct pvio_blkif_response rsp(uint64_t id, uint8_t op, int16_t st)
{
	struct pvio_blkif_response r = { .id = id, .operation = op, .status = st };
	return r;
}

static void shadow_accepts_the_id_it_issued(void **state)
{
	struct bf_queue q;
	struct bf_shadow sh[4];
	uint32_t idx = 99;
	struct pvio_blkif_response r = rsp(5ull << 32 | 2, PVIO_BLKIF_OP_READ, 0);

	(void)state;
	make_queue(&q, sh);
	assert_int_equal(bf_shadow_check(&q, &r, &idx), 0);
	assert_int_equal(idx, 2);
}

static void shadow_rejects_out_of_range_id(void **state)
{
	struct bf_queue q;
	struct bf_shadow sh[4];
	uint32_t idx;
	struct pvio_blkif_response r = rsp(5ull << 32 | 4, PVIO_BLKIF_OP_READ, 0);

	(void)state;
	make_queue(&q, sh);
	assert_int_equal(bf_shadow_check(&q, &r, &idx), -EPROTO);
	r.id = UINT64_MAX;
	assert_int_equal(bf_shadow_check(&q, &r, &idx), -EPROTO);
}

static void shadow_rejects_id_not_in_flight(void **state)
{
	struct bf_queue q;
	struct bf_shadow sh[4];
	uint32_t idx;
	struct pvio_blkif_response r = rsp(0, PVIO_BLKIF_OP_READ, 0);

	(void)state;
	make_queue(&q, sh);
	assert_int_equal(bf_shadow_check(&q, &r, &idx), -EPROTO);
}

static void shadow_rejects_duplicate_and_stale_ids(void **state)
{
	struct bf_queue q;
	struct bf_shadow sh[4];
	uint32_t idx;
	struct pvio_blkif_response r = rsp(5ull << 32 | 2, PVIO_BLKIF_OP_READ, 0);

	(void)state;
	make_queue(&q, sh);
	/* Stale: right slot, older generation. */
	r.id = 4ull << 32 | 2;
	assert_int_equal(bf_shadow_check(&q, &r, &idx), -EPROTO);
	/* Duplicate: answered once (entry freed), answered again. */
	r.id = 5ull << 32 | 2;
	assert_int_equal(bf_shadow_check(&q, &r, &idx), 0);
	sh[2].state = BF_SH_FREE;
	assert_int_equal(bf_shadow_check(&q, &r, &idx), -EPROTO);
}

static void shadow_rejects_wrong_operation(void **state)
{
	struct bf_queue q;
	struct bf_shadow sh[4];
	uint32_t idx;
	struct pvio_blkif_response r = rsp(5ull << 32 | 2, PVIO_BLKIF_OP_WRITE, 0);

	(void)state;
	make_queue(&q, sh);
	assert_int_equal(bf_shadow_check(&q, &r, &idx), -EPROTO);
	/* Indirect: the inner operation (Linux) or the outer one. */
	sh[2].op = PVIO_BLKIF_OP_INDIRECT;
	r.operation = PVIO_BLKIF_OP_READ;
	assert_int_equal(bf_shadow_check(&q, &r, &idx), 0);
	r.operation = PVIO_BLKIF_OP_INDIRECT;
	assert_int_equal(bf_shadow_check(&q, &r, &idx), 0);
	r.operation = PVIO_BLKIF_OP_WRITE;
	assert_int_equal(bf_shadow_check(&q, &r, &idx), -EPROTO);
}

static void response_status_maps_to_errno_or_protocol_error(void **state)
{
	struct bf_queue q;
	struct bf_shadow sh[4];
	uint32_t idx;
	struct pvio_blkif_response r = rsp(5ull << 32 | 2, PVIO_BLKIF_OP_READ, 3);

	(void)state;
	assert_int_equal(bf_status_to_errno(PVIO_BLKIF_RSP_OKAY), 0);
	assert_int_equal(bf_status_to_errno(PVIO_BLKIF_RSP_ERROR), -EIO);
	assert_int_equal(bf_status_to_errno(PVIO_BLKIF_RSP_EOPNOTSUPP), -EOPNOTSUPP);
	assert_int_equal(bf_status_to_errno(1), -EPROTO);
	assert_int_equal(bf_status_to_errno(-3), -EPROTO);
	make_queue(&q, sh);
	assert_int_equal(bf_shadow_check(&q, &r, &idx), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(split_page_aligned_11_segments_per_request),
		cmocka_unit_test(split_unaligned_start_spans_one_more_page),
		cmocka_unit_test(split_respects_logical_sector_size),
		cmocka_unit_test(split_indirect_uses_pages_of_512_segments),
		cmocka_unit_test(shadow_accepts_the_id_it_issued),
		cmocka_unit_test(shadow_rejects_out_of_range_id),
		cmocka_unit_test(shadow_rejects_id_not_in_flight),
		cmocka_unit_test(shadow_rejects_duplicate_and_stale_ids),
		cmocka_unit_test(shadow_rejects_wrong_operation),
		cmocka_unit_test(response_status_maps_to_errno_or_protocol_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
