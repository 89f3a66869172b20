/* SPDX-License-Identifier: MIT */
/*
 * The checks every request passes, on the backend's private copy of its
 * ring slot (STYLE practice 6: copy out once, check the copy, never read
 * the slot again). Pure functions: no grants, no I/O, no store, so each
 * rule has its own unit test (tests/blkback/test_blkback_validate.c).
 *
 * The rules, as Linux's xen-blkback applies them (dispatch_rw_block_io,
 * dispatch_discard_io, xen_blkbk_parse_indirect), plus the read-only and
 * feature checks a frontend cannot be trusted to respect:
 *   operation   READ, WRITE, WRITE_BARRIER, FLUSH_DISKCACHE, DISCARD,
 *               INDIRECT (indirect_op READ or WRITE); anything else ERROR
 *   segments    READ/WRITE 1..11; BARRIER/FLUSH 0..11; INDIRECT
 *               1..negotiated max (<= 8 pages of 512)
 *   per segment first_sect <= last_sect <= 7 (4 KiB page, 512 B sectors)
 *   range       sector + sectors <= disk sectors, computed without wrap
 *   features    barrier/flush/discard/secure not offered: EOPNOTSUPP;
 *               indirect not offered: ERROR (its op is unknown to us)
 *   read-only   any write, data-carrying flush/barrier or discard: ERROR
 */
#include <string.h>

#include "common.h"

int16_t bb_verdict_status(enum bb_verdict v)
{
	if (v == BB_OK)
		return PVIO_BLKIF_RSP_OKAY;
	if (v == BB_UNSUPPORTED)
		return PVIO_BLKIF_RSP_EOPNOTSUPP;
	return PVIO_BLKIF_RSP_ERROR;
}

static enum bb_verdict check_discard(const struct bb_limits *lim,
				     const struct pvio_blkif_request *raw,
				     struct bb_req *out)
{
	struct pvio_blkif_request_discard d;

	memcpy(&d, raw, sizeof(d));
	out->kind = BB_KIND_DISCARD;
	out->secure = (d.flag & PVIO_BLKIF_DISCARD_SECURE) != 0;
	out->sector = d.sector_number;
	out->nr_sectors = d.nr_sectors;
	if (!lim->discard || (out->secure && !lim->secure))
		return BB_UNSUPPORTED;
	if (lim->readonly)
		return BB_READONLY;
	if (d.nr_sectors == 0 || d.nr_sectors > lim->sectors ||
	    d.sector_number > lim->sectors - d.nr_sectors)
		return BB_BAD_RANGE;
	return BB_OK;
}

static enum bb_verdict check_indirect(const struct bb_limits *lim,
				      const struct pvio_blkif_request *raw,
				      struct bb_req *out)
{
	struct pvio_blkif_request_indirect ind;

	memcpy(&ind, raw, sizeof(ind));
	out->indirect = true;
	out->sector = ind.sector_number;
	if (lim->max_indirect == 0)
		return BB_BAD_OP;
	if (ind.indirect_op == PVIO_BLKIF_OP_READ)
		out->kind = BB_KIND_READ;
	else if (ind.indirect_op == PVIO_BLKIF_OP_WRITE)
		out->kind = BB_KIND_WRITE;
	else
		return BB_BAD_OP;
	if (ind.nr_segments == 0 || ind.nr_segments > lim->max_indirect ||
	    ind.nr_segments > BB_MAX_INDIRECT_SEGS)
		return BB_BAD_SEGMENTS;
	out->nr_segs = ind.nr_segments;
	out->nr_indirect = (uint16_t)((ind.nr_segments +
				       PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE - 1) /
				      PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE);
	memcpy(out->indirect_grefs, ind.indirect_grefs,
	       sizeof(out->indirect_grefs));
	if (out->kind == BB_KIND_WRITE && lim->readonly)
		return BB_READONLY;
	return BB_OK;
}

enum bb_verdict bb_req_check(const struct bb_limits *lim,
			     const struct pvio_blkif_request *raw,
			     struct bb_req *out)
{
	memset(out, 0, sizeof(*out));
	out->id = raw->id;
	out->wire_op = raw->operation;

	switch (raw->operation) {
	case PVIO_BLKIF_OP_READ:
		out->kind = BB_KIND_READ;
		break;
	case PVIO_BLKIF_OP_WRITE:
		out->kind = BB_KIND_WRITE;
		break;
	case PVIO_BLKIF_OP_WRITE_BARRIER:
		out->kind = BB_KIND_BARRIER;
		break;
	case PVIO_BLKIF_OP_FLUSH_DISKCACHE:
		out->kind = BB_KIND_FLUSH;
		break;
	case PVIO_BLKIF_OP_DISCARD:
		return check_discard(lim, raw, out);
	case PVIO_BLKIF_OP_INDIRECT:
		return check_indirect(lim, raw, out);
	default:
		return BB_BAD_OP;
	}

	out->sector = raw->sector_number;
	if ((out->kind == BB_KIND_BARRIER && !lim->barrier) ||
	    (out->kind == BB_KIND_FLUSH && !lim->flush))
		return BB_UNSUPPORTED;
	if (raw->nr_segments > PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST)
		return BB_BAD_SEGMENTS;
	if (raw->nr_segments == 0 &&
	    (out->kind == BB_KIND_READ || out->kind == BB_KIND_WRITE))
		return BB_BAD_SEGMENTS;
	out->nr_segs = raw->nr_segments;
	memcpy(out->seg, raw->seg, sizeof(out->seg[0]) * out->nr_segs);
	if (lim->readonly && (out->kind == BB_KIND_WRITE ||
			      ((out->kind == BB_KIND_FLUSH ||
				out->kind == BB_KIND_BARRIER) && out->nr_segs)))
		return BB_READONLY;
	return BB_OK;
}

enum bb_verdict bb_segs_check(const struct bb_limits *lim, uint64_t sector,
			      const struct pvio_blkif_segment *segs,
			      uint32_t n, uint64_t *nr_sectors)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint8_t first = segs[i].first_sect, last = segs[i].last_sect;

		if (first > last || last >= BB_SECTORS_PER_PAGE)
			return BB_BAD_SECT;
		total += (uint64_t)(last - first) + 1;
	}
	*nr_sectors = total;
	if (total > lim->sectors || sector > lim->sectors - total)
		return BB_BAD_RANGE;
	return BB_OK;
}
