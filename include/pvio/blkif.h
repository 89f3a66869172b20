/* SPDX-License-Identifier: MIT */
/*
 * The block protocol's messages, ABI-identical to Xen's public io/blkif.h
 * (x86-64 and arm64 layout). tests/ring/test_ring_abi.c checks every size
 * and offset against Xen's own header; this header never includes it.
 */
#ifndef PVIO_BLKIF_H
#define PVIO_BLKIF_H

#include <stddef.h>
#include <stdint.h>

#include <pvio/ring.h>
#include <pvio/types.h>


typedef uint16_t pvio_blkif_vdev_t;
typedef uint64_t pvio_blkif_sector_t;

#define PVIO_BLKIF_OP_READ            0
#define PVIO_BLKIF_OP_WRITE           1
#define PVIO_BLKIF_OP_WRITE_BARRIER   2
#define PVIO_BLKIF_OP_FLUSH_DISKCACHE 3
#define PVIO_BLKIF_OP_RESERVED_1      4
#define PVIO_BLKIF_OP_DISCARD         5
#define PVIO_BLKIF_OP_INDIRECT        6

/* Segments carried in the request itself, and indirect pages per request. */
#define PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST       11
#define PVIO_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST 8
/* 512-byte sectors, whatever the device's logical sector size. */
#define PVIO_BLKIF_SECTOR_SHIFT 9
#define PVIO_BLKIF_DISCARD_SECURE (1u << 0)

#define PVIO_BLKIF_RSP_EOPNOTSUPP (-2)
#define PVIO_BLKIF_RSP_ERROR      (-1)
#define PVIO_BLKIF_RSP_OKAY       0

/* One granted page (or part of it): sectors first_sect..last_sect. */
struct pvio_blkif_segment {
	pvio_grant_ref_t gref;
	uint8_t first_sect; /* inclusive, 0..7 within the 4 KiB page */
	uint8_t last_sect;  /* inclusive, >= first_sect */
	uint8_t pad[2];
};

struct pvio_blkif_request {
	uint8_t operation;   /* PVIO_BLKIF_OP_READ / _WRITE / _WRITE_BARRIER / _FLUSH_DISKCACHE */
	uint8_t nr_segments; /* 1..11 for read/write; 0 allowed for flush */
	pvio_blkif_vdev_t handle;
	uint32_t pad;
	uint64_t id;         /* the frontend's value, echoed in the response */
	pvio_blkif_sector_t sector_number;
	struct pvio_blkif_segment seg[PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST];
};

/* operation == PVIO_BLKIF_OP_DISCARD. */
struct pvio_blkif_request_discard {
	uint8_t operation;
	uint8_t flag; /* PVIO_BLKIF_DISCARD_SECURE or 0 */
	pvio_blkif_vdev_t handle;
	uint32_t pad;
	uint64_t id;
	pvio_blkif_sector_t sector_number;
	uint64_t nr_sectors;
};

/* operation == PVIO_BLKIF_OP_INDIRECT: segments live in granted pages. */
struct pvio_blkif_request_indirect {
	uint8_t operation;
	uint8_t indirect_op;  /* PVIO_BLKIF_OP_READ or _WRITE */
	uint16_t nr_segments; /* up to the negotiated feature-max-indirect-segments */
	uint32_t pad0;
	uint64_t id;
	pvio_blkif_sector_t sector_number;
	pvio_blkif_vdev_t handle;
	uint16_t pad1;
	pvio_grant_ref_t indirect_grefs[PVIO_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	uint32_t pad2;
};

/* Segments one indirect page holds. */
#define PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE \
	(PVIO_PAGE_SIZE / sizeof(struct pvio_blkif_segment))

struct pvio_blkif_response {
	uint64_t id;       /* copied from the request */
	uint8_t operation; /* copied from the request */
	uint8_t pad;
	int16_t status;    /* PVIO_BLKIF_RSP_* */
	uint32_t pad1;
};

_Static_assert(sizeof(struct pvio_blkif_segment) == 8, "blkif ABI");
_Static_assert(sizeof(struct pvio_blkif_request) == 112, "blkif ABI");
_Static_assert(offsetof(struct pvio_blkif_request, id) == 8, "blkif ABI");
_Static_assert(offsetof(struct pvio_blkif_request, sector_number) == 16, "blkif ABI");
_Static_assert(offsetof(struct pvio_blkif_request, seg) == 24, "blkif ABI");
_Static_assert(sizeof(struct pvio_blkif_request_discard) == 32, "blkif ABI");
_Static_assert(sizeof(struct pvio_blkif_request_indirect) == 64, "blkif ABI");
_Static_assert(offsetof(struct pvio_blkif_request_indirect, indirect_grefs) == 28,
	       "blkif ABI");
_Static_assert(sizeof(struct pvio_blkif_response) == 16, "blkif ABI");
_Static_assert(offsetof(struct pvio_blkif_response, status) == 10, "blkif ABI");

/* Requests share a slot with their response; discard/indirect are views. */
PVIO_RING_DEFINE(pvio_blkif, struct pvio_blkif_request, struct pvio_blkif_response);
_Static_assert(sizeof(union pvio_blkif_slot) == 112, "blkif slot size");

#endif /* PVIO_BLKIF_H */
