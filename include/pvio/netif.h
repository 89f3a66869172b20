/* SPDX-License-Identifier: MIT */
/*
 * The network protocol's messages, ABI-identical to Xen's public
 * io/netif.h; checked field by field in tests/ring/test_ring_abi.c.
 */
#ifndef PVIO_NETIF_H
#define PVIO_NETIF_H

#include <stddef.h>
#include <stdint.h>

#include <pvio/ring.h>
#include <pvio/types.h>



/* Slots a packet may use that every backend must accept. */
#define PVIO_NETIF_NR_SLOTS_MIN 18
#define PVIO_NETIF_MAX_TX_SIZE  0xFFFF

/* tx request flags */
#define PVIO_NETTXF_csum_blank     (1u << 0)
#define PVIO_NETTXF_data_validated (1u << 1)
#define PVIO_NETTXF_more_data      (1u << 2)
#define PVIO_NETTXF_extra_info     (1u << 3)

/* rx response flags */
#define PVIO_NETRXF_data_validated (1u << 0)
#define PVIO_NETRXF_csum_blank     (1u << 1)
#define PVIO_NETRXF_more_data      (1u << 2)
#define PVIO_NETRXF_extra_info     (1u << 3)
#define PVIO_NETRXF_gso_prefix     (1u << 4)

#define PVIO_NETIF_RSP_DROPPED (-2)
#define PVIO_NETIF_RSP_ERROR   (-1)
#define PVIO_NETIF_RSP_OKAY    0
#define PVIO_NETIF_RSP_NULL    1 /* the slot held extra info, no data */

#define PVIO_NETIF_EXTRA_TYPE_NONE      0
#define PVIO_NETIF_EXTRA_TYPE_GSO       1
#define PVIO_NETIF_EXTRA_TYPE_MCAST_ADD 2
#define PVIO_NETIF_EXTRA_TYPE_MCAST_DEL 3
#define PVIO_NETIF_EXTRA_TYPE_HASH      4
#define PVIO_NETIF_EXTRA_TYPE_MAX       5
#define PVIO_NETIF_EXTRA_FLAG_MORE      (1u << 0)

#define PVIO_NETIF_GSO_TYPE_NONE  0
#define PVIO_NETIF_GSO_TYPE_TCPV4 1
#define PVIO_NETIF_GSO_TYPE_TCPV6 2

struct pvio_netif_tx_request {
	pvio_grant_ref_t gref;
	uint16_t offset; /* within the granted page */
	uint16_t flags;  /* PVIO_NETTXF_* */
	uint16_t id;     /* echoed in the response */
	uint16_t size;   /* first slot: whole packet; later slots: this slot */
};

/* Follows a tx request with extra_info, or an rx response with it. */
struct pvio_netif_extra_info {
	uint8_t type;  /* PVIO_NETIF_EXTRA_TYPE_* */
	uint8_t flags; /* PVIO_NETIF_EXTRA_FLAG_* */
	union {
		struct {
			uint16_t size; /* gso segment size (MSS) */
			uint8_t type;  /* PVIO_NETIF_GSO_TYPE_* */
			uint8_t pad;
			uint16_t features;
		} gso;
		struct {
			uint8_t addr[6];
		} mcast;
		struct {
			uint8_t type;
			uint8_t algorithm;
			uint8_t value[4];
		} hash;
		uint16_t pad[3];
	} u;
};

struct pvio_netif_tx_response {
	uint16_t id;
	int16_t status; /* PVIO_NETIF_RSP_* */
};

struct pvio_netif_rx_request {
	uint16_t id;
	uint16_t pad;
	pvio_grant_ref_t gref; /* page the backend copies or flips into */
};

struct pvio_netif_rx_response {
	uint16_t id;
	uint16_t offset; /* of the data within the page */
	uint16_t flags;  /* PVIO_NETRXF_* */
	int16_t status;  /* length if >= 0, else PVIO_NETIF_RSP_* */
};

_Static_assert(sizeof(struct pvio_netif_tx_request) == 12, "netif ABI");
_Static_assert(sizeof(struct pvio_netif_extra_info) == 8, "netif ABI");
_Static_assert(sizeof(struct pvio_netif_tx_response) == 4, "netif ABI");
_Static_assert(sizeof(struct pvio_netif_rx_request) == 8, "netif ABI");
_Static_assert(sizeof(struct pvio_netif_rx_response) == 8, "netif ABI");
_Static_assert(offsetof(struct pvio_netif_tx_request, size) == 10, "netif ABI");
_Static_assert(offsetof(struct pvio_netif_rx_request, gref) == 4, "netif ABI");

PVIO_RING_DEFINE(pvio_netif_tx, struct pvio_netif_tx_request,
		 struct pvio_netif_tx_response);
PVIO_RING_DEFINE(pvio_netif_rx, struct pvio_netif_rx_request,
		 struct pvio_netif_rx_response);

#endif /* PVIO_NETIF_H */
