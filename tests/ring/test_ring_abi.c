/* SPDX-License-Identifier: MIT */
/*
 * pvio's shared layouts and constants against Xen's public headers.
 *
 * This is the only test that includes Xen's headers (Debian libxen-dev).
 * Every size, every field offset and every field width of every struct a
 * peer sees is compared, and so is every protocol constant, the slot count
 * of every ring size and the initial header.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Xen's ring.h leaves the barriers to its includer (legacy interface). */
#define mb()  __sync_synchronize()
#define rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#include <xen/grant_table.h>
#include <xen/io/ring.h>
#include <xen/io/blkif.h>
#include <xen/io/netif.h>

#include <pvio/blkif.h>
#include <pvio/netif.h>
#include <pvio/ring.h>
#include <pvio/types.h>

#include "ring_test_util.h"

#define MEMBER(type, f) (((type *)0)->f)

/* Same offset and width; field names may differ between the two. */
#define CHECK_FIELD2(ptype, pf, xtype, xf)                                    \
	do {                                                                  \
		assert_int_equal(offsetof(ptype, pf), offsetof(xtype, xf));   \
		assert_int_equal(sizeof(MEMBER(ptype, pf)),                   \
				 sizeof(MEMBER(xtype, xf)));                  \
	} while (0)
#define CHECK_FIELD(ptype, xtype, f) CHECK_FIELD2(ptype, f, xtype, f)

/* A scalar field: also the same signedness (status fields are signed). */
#define IS_UNSIGNED(lvalue) ((__typeof__(lvalue))-1 > (__typeof__(lvalue))0)
#define CHECK_SCALAR2(ptype, pf, xtype, xf)                                   \
	do {                                                                  \
		CHECK_FIELD2(ptype, pf, xtype, xf);                           \
		assert_int_equal(IS_UNSIGNED(MEMBER(ptype, pf)),                \
				 IS_UNSIGNED(MEMBER(xtype, xf)));               \
	} while (0)
#define CHECK_SCALAR(ptype, xtype, f) CHECK_SCALAR2(ptype, f, xtype, f)

/* pvio names a hole Xen leaves implicit: the pad must fill exactly the
 * bytes between Xen's field prev and the offset where Xen resumes. */
#define CHECK_PAD(ptype, pad, xtype, prev, resume)                            \
	do {                                                                  \
		assert_int_equal(offsetof(ptype, pad),                        \
				 offsetof(xtype, prev) +                      \
					 sizeof(MEMBER(xtype, prev)));        \
		assert_int_equal(offsetof(ptype, pad) +                       \
					 sizeof(MEMBER(ptype, pad)),          \
				 (size_t)(resume));                           \
	} while (0)

#define CHECK_SIZE(ptype, xtype)                                              \
	do {                                                                  \
		assert_int_equal(sizeof(ptype), sizeof(xtype));               \
		assert_int_equal(_Alignof(ptype), _Alignof(xtype));           \
	} while (0)

/* ------------------------------------------------------------ sring header */

static void sring_header_matches_xen_sring_up_to_ring(void **state)
{
	(void)state;
	assert_int_equal(sizeof(struct pvio_sring_hdr),
			 offsetof(struct blkif_sring, ring));
	/* Every ring type Xen defines puts its slots at the same offset. */
	assert_int_equal(offsetof(struct blkif_sring, ring),
			 offsetof(struct netif_tx_sring, ring));
	assert_int_equal(offsetof(struct blkif_sring, ring),
			 offsetof(struct netif_rx_sring, ring));
	CHECK_FIELD(struct pvio_sring_hdr, struct blkif_sring, req_prod);
	CHECK_FIELD(struct pvio_sring_hdr, struct blkif_sring, req_event);
	CHECK_FIELD(struct pvio_sring_hdr, struct blkif_sring, rsp_prod);
	CHECK_FIELD(struct pvio_sring_hdr, struct blkif_sring, rsp_event);
	CHECK_FIELD2(struct pvio_sring_hdr, pvt, struct blkif_sring, pvt);
	CHECK_FIELD2(struct pvio_sring_hdr, pvt, struct blkif_sring, pvt.pvt_pad);
	assert_int_equal(offsetof(struct pvio_sring_hdr, pvt),
			 offsetof(struct netif_tx_sring, pvt.netif.smartpoll_active));
	CHECK_FIELD2(struct pvio_sring_hdr, pad, struct blkif_sring, __pad);
}

static void sring_indices_have_xen_ring_idx_width(void **state)
{
	(void)state;
	assert_int_equal(sizeof(RING_IDX), sizeof(uint32_t));
	assert_int_equal(sizeof(MEMBER(struct pvio_sring_hdr, req_prod)),
			 sizeof(RING_IDX));
	/* RING_IDX is unsigned: index arithmetic wraps the same way. */
	assert_true((RING_IDX)-1 > 0);
}

/* Whole pages, filled with different garbage: the two inits must write the
 * same 64 header bytes and leave the slots alone. */
static void sring_init_matches_shared_ring_init(void **state)
{
	unsigned char *mine = ring_mem_alloc(PVIO_PAGE_SIZE);
	unsigned char *xen = ring_mem_alloc(PVIO_PAGE_SIZE);
	struct blkif_sring *x = (struct blkif_sring *)xen;

	(void)state;
	memset(mine, 0xa5, PVIO_PAGE_SIZE);
	memset(xen, 0x5a, PVIO_PAGE_SIZE);
	pvio_sring_init((struct pvio_sring_hdr *)mine, 0);
	SHARED_RING_INIT(x);
	assert_memory_equal(mine, xen, 64);
	assert_int_equal(x->req_prod, 0);
	assert_int_equal(x->rsp_prod, 0);
	assert_int_equal(x->req_event, 1);
	assert_int_equal(x->rsp_event, 1);
	for (size_t i = 64; i < PVIO_PAGE_SIZE; i++)
		assert_int_equal(mine[i], 0xa5);
	free(mine);
	free(xen);
}

static void sring_init_at_start_is_shared_ring_init_shifted(void **state)
{
	static const uint32_t starts[] = { 1, 0x7fffffffu, 0xfffffffau, 0xffffffffu };
	unsigned char *mine = ring_mem_alloc(PVIO_PAGE_SIZE);
	unsigned char *xen = ring_mem_alloc(PVIO_PAGE_SIZE);
	struct blkif_sring *x = (struct blkif_sring *)xen;

	(void)state;
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		memset(mine, 0xa5, PVIO_PAGE_SIZE);
		memset(xen, 0x5a, PVIO_PAGE_SIZE);
		pvio_sring_init((struct pvio_sring_hdr *)mine, starts[i]);
		SHARED_RING_INIT(x);
		x->req_prod = x->rsp_prod = starts[i];
		x->req_event = x->rsp_event = starts[i] + 1;
		assert_memory_equal(mine, xen, 64);
	}
	free(mine);
	free(xen);
}

/* ------------------------------------------------------------------ blkif */

static void grant_ref_has_xen_width(void **state)
{
	(void)state;
	assert_int_equal(sizeof(pvio_grant_ref_t), sizeof(grant_ref_t));
	assert_int_equal((pvio_grant_ref_t)-1 > 0, (grant_ref_t)-1 > 0);
	assert_int_equal(sizeof(pvio_domid_t), sizeof(domid_t));
	assert_int_equal(sizeof(pvio_blkif_vdev_t), sizeof(blkif_vdev_t));
	assert_int_equal(sizeof(pvio_blkif_sector_t), sizeof(blkif_sector_t));
}

static void blkif_segment_matches_xen(void **state)
{
	(void)state;
	CHECK_SIZE(struct pvio_blkif_segment, struct blkif_request_segment);
	CHECK_SCALAR(struct pvio_blkif_segment, struct blkif_request_segment, gref);
	CHECK_SCALAR(struct pvio_blkif_segment, struct blkif_request_segment,
		     first_sect);
	CHECK_SCALAR(struct pvio_blkif_segment, struct blkif_request_segment,
		     last_sect);
	CHECK_PAD(struct pvio_blkif_segment, pad, struct blkif_request_segment,
		  last_sect, sizeof(struct blkif_request_segment));
}

static void blkif_request_matches_xen(void **state)
{
	(void)state;
	CHECK_SIZE(struct pvio_blkif_request, struct blkif_request);
	CHECK_SCALAR(struct pvio_blkif_request, struct blkif_request, operation);
	CHECK_SCALAR(struct pvio_blkif_request, struct blkif_request, nr_segments);
	CHECK_SCALAR(struct pvio_blkif_request, struct blkif_request, handle);
	CHECK_SCALAR(struct pvio_blkif_request, struct blkif_request, id);
	CHECK_SCALAR(struct pvio_blkif_request, struct blkif_request,
		     sector_number);
	CHECK_FIELD(struct pvio_blkif_request, struct blkif_request, seg);
	CHECK_FIELD(struct pvio_blkif_request, struct blkif_request, seg[0]);
	CHECK_FIELD(struct pvio_blkif_request, struct blkif_request, seg[1].gref);
	CHECK_FIELD(struct pvio_blkif_request, struct blkif_request,
		    seg[PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST - 1].last_sect);
	CHECK_PAD(struct pvio_blkif_request, pad, struct blkif_request, handle,
		  offsetof(struct blkif_request, id));
}

static void blkif_request_discard_matches_xen(void **state)
{
	(void)state;
	CHECK_SIZE(struct pvio_blkif_request_discard, struct blkif_request_discard);
	CHECK_SCALAR(struct pvio_blkif_request_discard,
		     struct blkif_request_discard, operation);
	CHECK_SCALAR(struct pvio_blkif_request_discard,
		     struct blkif_request_discard, flag);
	CHECK_SCALAR(struct pvio_blkif_request_discard,
		     struct blkif_request_discard, handle);
	CHECK_SCALAR(struct pvio_blkif_request_discard,
		     struct blkif_request_discard, id);
	CHECK_SCALAR(struct pvio_blkif_request_discard,
		     struct blkif_request_discard, sector_number);
	CHECK_SCALAR(struct pvio_blkif_request_discard,
		     struct blkif_request_discard, nr_sectors);
	CHECK_PAD(struct pvio_blkif_request_discard, pad,
		  struct blkif_request_discard, handle,
		  offsetof(struct blkif_request_discard, id));
}

static void blkif_request_indirect_matches_xen(void **state)
{
	(void)state;
	CHECK_SIZE(struct pvio_blkif_request_indirect,
		   struct blkif_request_indirect);
	CHECK_SCALAR(struct pvio_blkif_request_indirect,
		     struct blkif_request_indirect, operation);
	CHECK_SCALAR(struct pvio_blkif_request_indirect,
		     struct blkif_request_indirect, indirect_op);
	CHECK_SCALAR(struct pvio_blkif_request_indirect,
		     struct blkif_request_indirect, nr_segments);
	CHECK_SCALAR(struct pvio_blkif_request_indirect,
		     struct blkif_request_indirect, id);
	CHECK_SCALAR(struct pvio_blkif_request_indirect,
		     struct blkif_request_indirect, sector_number);
	CHECK_SCALAR(struct pvio_blkif_request_indirect,
		     struct blkif_request_indirect, handle);
	CHECK_FIELD(struct pvio_blkif_request_indirect,
		    struct blkif_request_indirect, indirect_grefs);
	CHECK_SCALAR(struct pvio_blkif_request_indirect,
		     struct blkif_request_indirect, indirect_grefs[0]);
	CHECK_PAD(struct pvio_blkif_request_indirect, pad0,
		  struct blkif_request_indirect, nr_segments,
		  offsetof(struct blkif_request_indirect, id));
	CHECK_PAD(struct pvio_blkif_request_indirect, pad1,
		  struct blkif_request_indirect, handle,
		  offsetof(struct blkif_request_indirect, indirect_grefs));
	CHECK_PAD(struct pvio_blkif_request_indirect, pad2,
		  struct blkif_request_indirect, indirect_grefs,
		  sizeof(struct blkif_request_indirect));
	/* The operation byte is where a plain request has it: a backend may
	 * read it before choosing the view. */
	assert_int_equal(offsetof(struct pvio_blkif_request_indirect, operation),
			 offsetof(struct blkif_request, operation));
	assert_int_equal(offsetof(struct pvio_blkif_request_indirect, id),
			 offsetof(struct blkif_request, id));
}

static void blkif_response_matches_xen(void **state)
{
	(void)state;
	CHECK_SIZE(struct pvio_blkif_response, struct blkif_response);
	CHECK_SCALAR(struct pvio_blkif_response, struct blkif_response, id);
	CHECK_SCALAR(struct pvio_blkif_response, struct blkif_response, operation);
	CHECK_SCALAR(struct pvio_blkif_response, struct blkif_response, status);
	CHECK_PAD(struct pvio_blkif_response, pad, struct blkif_response,
		  operation, offsetof(struct blkif_response, status));
	CHECK_PAD(struct pvio_blkif_response, pad1, struct blkif_response,
		  status, sizeof(struct blkif_response));
}

static void blkif_slot_matches_xen_sring_entry(void **state)
{
	(void)state;
	CHECK_SIZE(union pvio_blkif_slot, union blkif_sring_entry);
	CHECK_FIELD(union pvio_blkif_slot, union blkif_sring_entry, req);
	CHECK_FIELD(union pvio_blkif_slot, union blkif_sring_entry, rsp);
}

static void blkif_constants_match_xen(void **state)
{
	(void)state;
	assert_int_equal(PVIO_BLKIF_OP_READ, BLKIF_OP_READ);
	assert_int_equal(PVIO_BLKIF_OP_WRITE, BLKIF_OP_WRITE);
	assert_int_equal(PVIO_BLKIF_OP_WRITE_BARRIER, BLKIF_OP_WRITE_BARRIER);
	assert_int_equal(PVIO_BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_FLUSH_DISKCACHE);
	assert_int_equal(PVIO_BLKIF_OP_RESERVED_1, BLKIF_OP_RESERVED_1);
	assert_int_equal(PVIO_BLKIF_OP_DISCARD, BLKIF_OP_DISCARD);
	assert_int_equal(PVIO_BLKIF_OP_INDIRECT, BLKIF_OP_INDIRECT);
	assert_int_equal(PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST,
			 BLKIF_MAX_SEGMENTS_PER_REQUEST);
	assert_int_equal(PVIO_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST,
			 BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
	assert_int_equal(PVIO_BLKIF_DISCARD_SECURE, BLKIF_DISCARD_SECURE);
	assert_int_equal(PVIO_BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_EOPNOTSUPP);
	assert_int_equal(PVIO_BLKIF_RSP_ERROR, BLKIF_RSP_ERROR);
	assert_int_equal(PVIO_BLKIF_RSP_OKAY, BLKIF_RSP_OKAY);
	/* Linux's XEN_PAGE_SIZE / sizeof(struct blkif_request_segment). */
	assert_int_equal(PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE,
			 (1u << XEN_PAGE_SHIFT) / sizeof(struct blkif_request_segment));
	assert_int_equal(PVIO_PAGE_SHIFT, XEN_PAGE_SHIFT);
}

/* ------------------------------------------------------------------ netif */

static void netif_tx_request_matches_xen(void **state)
{
	(void)state;
	CHECK_SIZE(struct pvio_netif_tx_request, struct netif_tx_request);
	CHECK_SCALAR(struct pvio_netif_tx_request, struct netif_tx_request, gref);
	CHECK_SCALAR(struct pvio_netif_tx_request, struct netif_tx_request, offset);
	CHECK_SCALAR(struct pvio_netif_tx_request, struct netif_tx_request, flags);
	CHECK_SCALAR(struct pvio_netif_tx_request, struct netif_tx_request, id);
	CHECK_SCALAR(struct pvio_netif_tx_request, struct netif_tx_request, size);
}

static void netif_tx_response_matches_xen(void **state)
{
	(void)state;
	CHECK_SIZE(struct pvio_netif_tx_response, struct netif_tx_response);
	CHECK_SCALAR(struct pvio_netif_tx_response, struct netif_tx_response, id);
	CHECK_SCALAR(struct pvio_netif_tx_response, struct netif_tx_response,
		     status);
}

static void netif_rx_request_matches_xen(void **state)
{
	(void)state;
	CHECK_SIZE(struct pvio_netif_rx_request, struct netif_rx_request);
	CHECK_SCALAR(struct pvio_netif_rx_request, struct netif_rx_request, id);
	CHECK_SCALAR(struct pvio_netif_rx_request, struct netif_rx_request, pad);
	CHECK_SCALAR(struct pvio_netif_rx_request, struct netif_rx_request, gref);
}

static void netif_rx_response_matches_xen(void **state)
{
	(void)state;
	CHECK_SIZE(struct pvio_netif_rx_response, struct netif_rx_response);
	CHECK_SCALAR(struct pvio_netif_rx_response, struct netif_rx_response, id);
	CHECK_SCALAR(struct pvio_netif_rx_response, struct netif_rx_response,
		     offset);
	CHECK_SCALAR(struct pvio_netif_rx_response, struct netif_rx_response,
		     flags);
	CHECK_SCALAR(struct pvio_netif_rx_response, struct netif_rx_response,
		     status);
}

static void netif_extra_info_matches_xen(void **state)
{
	(void)state;
	CHECK_SIZE(struct pvio_netif_extra_info, struct netif_extra_info);
	CHECK_SCALAR(struct pvio_netif_extra_info, struct netif_extra_info, type);
	CHECK_SCALAR(struct pvio_netif_extra_info, struct netif_extra_info, flags);
	CHECK_FIELD(struct pvio_netif_extra_info, struct netif_extra_info, u);
	/* gso */
	CHECK_FIELD(struct pvio_netif_extra_info, struct netif_extra_info, u.gso);
	CHECK_SCALAR(struct pvio_netif_extra_info, struct netif_extra_info,
		     u.gso.size);
	CHECK_SCALAR(struct pvio_netif_extra_info, struct netif_extra_info,
		     u.gso.type);
	CHECK_SCALAR(struct pvio_netif_extra_info, struct netif_extra_info,
		     u.gso.pad);
	CHECK_SCALAR(struct pvio_netif_extra_info, struct netif_extra_info,
		     u.gso.features);
	/* mcast */
	CHECK_FIELD(struct pvio_netif_extra_info, struct netif_extra_info, u.mcast);
	CHECK_FIELD(struct pvio_netif_extra_info, struct netif_extra_info,
		    u.mcast.addr);
	/* hash */
	CHECK_FIELD(struct pvio_netif_extra_info, struct netif_extra_info, u.hash);
	CHECK_SCALAR(struct pvio_netif_extra_info, struct netif_extra_info,
		     u.hash.type);
	CHECK_SCALAR(struct pvio_netif_extra_info, struct netif_extra_info,
		     u.hash.algorithm);
	CHECK_FIELD(struct pvio_netif_extra_info, struct netif_extra_info,
		    u.hash.value);
	/* pad */
	CHECK_FIELD(struct pvio_netif_extra_info, struct netif_extra_info, u.pad);
	/* An extra_info travels in a tx request slot. */
	assert_true(sizeof(struct pvio_netif_extra_info) <=
		    sizeof(union pvio_netif_tx_slot));
}

static void netif_slots_match_xen_sring_entries(void **state)
{
	(void)state;
	CHECK_SIZE(union pvio_netif_tx_slot, union netif_tx_sring_entry);
	CHECK_FIELD(union pvio_netif_tx_slot, union netif_tx_sring_entry, req);
	CHECK_FIELD(union pvio_netif_tx_slot, union netif_tx_sring_entry, rsp);
	CHECK_SIZE(union pvio_netif_rx_slot, union netif_rx_sring_entry);
	CHECK_FIELD(union pvio_netif_rx_slot, union netif_rx_sring_entry, req);
	CHECK_FIELD(union pvio_netif_rx_slot, union netif_rx_sring_entry, rsp);
}

static void netif_constants_match_xen(void **state)
{
	(void)state;
	assert_int_equal(PVIO_NETIF_NR_SLOTS_MIN, XEN_NETIF_NR_SLOTS_MIN);
	assert_int_equal(PVIO_NETIF_MAX_TX_SIZE, XEN_NETIF_MAX_TX_SIZE);

	assert_int_equal(PVIO_NETTXF_csum_blank, NETTXF_csum_blank);
	assert_int_equal(PVIO_NETTXF_data_validated, NETTXF_data_validated);
	assert_int_equal(PVIO_NETTXF_more_data, NETTXF_more_data);
	assert_int_equal(PVIO_NETTXF_extra_info, NETTXF_extra_info);

	assert_int_equal(PVIO_NETRXF_data_validated, NETRXF_data_validated);
	assert_int_equal(PVIO_NETRXF_csum_blank, NETRXF_csum_blank);
	assert_int_equal(PVIO_NETRXF_more_data, NETRXF_more_data);
	assert_int_equal(PVIO_NETRXF_extra_info, NETRXF_extra_info);
	assert_int_equal(PVIO_NETRXF_gso_prefix, NETRXF_gso_prefix);

	assert_int_equal(PVIO_NETIF_RSP_DROPPED, NETIF_RSP_DROPPED);
	assert_int_equal(PVIO_NETIF_RSP_ERROR, NETIF_RSP_ERROR);
	assert_int_equal(PVIO_NETIF_RSP_OKAY, NETIF_RSP_OKAY);
	assert_int_equal(PVIO_NETIF_RSP_NULL, NETIF_RSP_NULL);

	assert_int_equal(PVIO_NETIF_EXTRA_TYPE_NONE, XEN_NETIF_EXTRA_TYPE_NONE);
	assert_int_equal(PVIO_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_EXTRA_TYPE_GSO);
	assert_int_equal(PVIO_NETIF_EXTRA_TYPE_MCAST_ADD,
			 XEN_NETIF_EXTRA_TYPE_MCAST_ADD);
	assert_int_equal(PVIO_NETIF_EXTRA_TYPE_MCAST_DEL,
			 XEN_NETIF_EXTRA_TYPE_MCAST_DEL);
	assert_int_equal(PVIO_NETIF_EXTRA_TYPE_HASH, XEN_NETIF_EXTRA_TYPE_HASH);
	assert_int_equal(PVIO_NETIF_EXTRA_TYPE_MAX, XEN_NETIF_EXTRA_TYPE_MAX);
	assert_int_equal(PVIO_NETIF_EXTRA_FLAG_MORE, XEN_NETIF_EXTRA_FLAG_MORE);

	assert_int_equal(PVIO_NETIF_GSO_TYPE_NONE, XEN_NETIF_GSO_TYPE_NONE);
	assert_int_equal(PVIO_NETIF_GSO_TYPE_TCPV4, XEN_NETIF_GSO_TYPE_TCPV4);
	assert_int_equal(PVIO_NETIF_GSO_TYPE_TCPV6, XEN_NETIF_GSO_TYPE_TCPV6);
}

/* ------------------------------------------------------------- slot counts */

/* Ring sizes Xen's blkif allows (ring-page-order 0..4), in bytes. */
static const size_t ring_pages[] = { 1, 2, 4, 8, 16 };
#define NR_RING_SIZES (sizeof(ring_pages) / sizeof(ring_pages[0]))

static void blkif_slot_count_matches_xen_ring_size(void **state)
{
	(void)state;
	for (size_t i = 0; i < NR_RING_SIZES; i++) {
		size_t bytes = ring_pages[i] * PVIO_PAGE_SIZE;
		void *page = ring_mem_alloc(bytes);
		struct blkif_sring *s = page;

		assert_int_equal(pvio_ring_nr_slots(bytes, sizeof(union pvio_blkif_slot)),
				 __CONST_RING_SIZE(blkif, bytes));
		assert_int_equal(pvio_blkif_ring_nr_slots(bytes),
				 __RING_SIZE(s, bytes));
		free(page);
	}
	assert_int_equal(pvio_blkif_ring_nr_slots(PVIO_PAGE_SIZE), 32);
}

static void netif_tx_slot_count_matches_xen_ring_size(void **state)
{
	(void)state;
	for (size_t i = 0; i < NR_RING_SIZES; i++) {
		size_t bytes = ring_pages[i] * PVIO_PAGE_SIZE;
		void *page = ring_mem_alloc(bytes);
		struct netif_tx_sring *s = page;

		assert_int_equal(pvio_ring_nr_slots(bytes,
						    sizeof(union pvio_netif_tx_slot)),
				 __CONST_RING_SIZE(netif_tx, bytes));
		assert_int_equal(pvio_netif_tx_ring_nr_slots(bytes),
				 __RING_SIZE(s, bytes));
		free(page);
	}
	assert_int_equal(pvio_netif_tx_ring_nr_slots(PVIO_PAGE_SIZE), 256);
}

static void netif_rx_slot_count_matches_xen_ring_size(void **state)
{
	(void)state;
	for (size_t i = 0; i < NR_RING_SIZES; i++) {
		size_t bytes = ring_pages[i] * PVIO_PAGE_SIZE;
		void *page = ring_mem_alloc(bytes);
		struct netif_rx_sring *s = page;

		assert_int_equal(pvio_ring_nr_slots(bytes,
						    sizeof(union pvio_netif_rx_slot)),
				 __CONST_RING_SIZE(netif_rx, bytes));
		assert_int_equal(pvio_netif_rx_ring_nr_slots(bytes),
				 __RING_SIZE(s, bytes));
		free(page);
	}
	assert_int_equal(pvio_netif_rx_ring_nr_slots(PVIO_PAGE_SIZE), 256);
}

/* Every size from one slot up to a few pages, for three slot widths: the
 * round-down-to-a-power-of-two is Xen's __RD32 for each. */
static void slot_count_matches_xen_rd32_for_every_size(void **state)
{
	(void)state;
	for (size_t bytes = 64 + 8; bytes <= 4 * PVIO_PAGE_SIZE; bytes += 4) {
		struct blkif_sring *b = NULL;
		size_t nb = bytes - offsetof(struct blkif_sring, ring);

		assert_int_equal(pvio_ring_nr_slots(bytes, sizeof(b->ring[0])),
				 __RD32(nb / sizeof(b->ring[0])));
		assert_int_equal(pvio_ring_nr_slots(bytes, 12), __RD32(nb / 12));
		assert_int_equal(pvio_ring_nr_slots(bytes, 8), __RD32(nb / 8));
	}
	/* Too small for one slot: no ring. */
	assert_int_equal(pvio_ring_nr_slots(64 + 111, 112), 0);
	assert_int_equal(pvio_ring_nr_slots(64 + 112, 112), 1);
	assert_int_equal(pvio_ring_nr_slots(0, 112), 0);
	assert_int_equal(pvio_ring_nr_slots(4096, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sring_header_matches_xen_sring_up_to_ring),
		cmocka_unit_test(sring_indices_have_xen_ring_idx_width),
		cmocka_unit_test(sring_init_matches_shared_ring_init),
		cmocka_unit_test(sring_init_at_start_is_shared_ring_init_shifted),
		cmocka_unit_test(grant_ref_has_xen_width),
		cmocka_unit_test(blkif_segment_matches_xen),
		cmocka_unit_test(blkif_request_matches_xen),
		cmocka_unit_test(blkif_request_discard_matches_xen),
		cmocka_unit_test(blkif_request_indirect_matches_xen),
		cmocka_unit_test(blkif_response_matches_xen),
		cmocka_unit_test(blkif_slot_matches_xen_sring_entry),
		cmocka_unit_test(blkif_constants_match_xen),
		cmocka_unit_test(netif_tx_request_matches_xen),
		cmocka_unit_test(netif_tx_response_matches_xen),
		cmocka_unit_test(netif_rx_request_matches_xen),
		cmocka_unit_test(netif_rx_response_matches_xen),
		cmocka_unit_test(netif_extra_info_matches_xen),
		cmocka_unit_test(netif_slots_match_xen_sring_entries),
		cmocka_unit_test(netif_constants_match_xen),
		cmocka_unit_test(blkif_slot_count_matches_xen_ring_size),
		cmocka_unit_test(netif_tx_slot_count_matches_xen_ring_size),
		cmocka_unit_test(netif_rx_slot_count_matches_xen_ring_size),
		cmocka_unit_test(slot_count_matches_xen_rd32_for_every_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
