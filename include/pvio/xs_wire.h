/* SPDX-License-Identifier: MIT */
/*
 * The store's wire protocol, byte-identical to Xen's public io/xs_wire.h
 * (checked in tests/store/test_store_abi.c), and the xenbus device states
 * of io/xenbus.h. Freestanding.
 *
 * A message is a 16-byte header followed by len bytes of payload (at most
 * PVIO_XS_PAYLOAD_MAX), usually NUL-terminated strings. A reply echoes
 * req_id and tx_id; an error reply has type PVIO_XS_ERROR and an errno name
 * ("ENOENT") as payload. Watch events arrive unsolicited as
 * PVIO_XS_WATCH_EVENT with "path\0token\0".
 */
#ifndef PVIO_XS_WIRE_H
#define PVIO_XS_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum pvio_xs_type {
	PVIO_XS_CONTROL = 0,
	PVIO_XS_DIRECTORY = 1,
	PVIO_XS_READ = 2,
	PVIO_XS_GET_PERMS = 3,
	PVIO_XS_WATCH = 4,
	PVIO_XS_UNWATCH = 5,
	PVIO_XS_TRANSACTION_START = 6,
	PVIO_XS_TRANSACTION_END = 7,
	PVIO_XS_INTRODUCE = 8,
	PVIO_XS_RELEASE = 9,
	PVIO_XS_GET_DOMAIN_PATH = 10,
	PVIO_XS_WRITE = 11,
	PVIO_XS_MKDIR = 12,
	PVIO_XS_RM = 13,
	PVIO_XS_SET_PERMS = 14,
	PVIO_XS_WATCH_EVENT = 15,
	PVIO_XS_ERROR = 16,
	PVIO_XS_IS_DOMAIN_INTRODUCED = 17,
	PVIO_XS_RESUME = 18,
	PVIO_XS_SET_TARGET = 19,
	PVIO_XS_RESET_WATCHES = 21,
	PVIO_XS_DIRECTORY_PART = 22,
	PVIO_XS_TYPE_COUNT = 23,
	PVIO_XS_INVALID = 0xffff,
};

struct pvio_xs_msg_hdr {
	uint32_t type;   /* enum pvio_xs_type */
	uint32_t req_id; /* echoed in the reply */
	uint32_t tx_id;  /* transaction id, 0 outside a transaction */
	uint32_t len;    /* payload bytes that follow */
};
_Static_assert(sizeof(struct pvio_xs_msg_hdr) == 16, "xs_wire ABI");

#define PVIO_XS_PAYLOAD_MAX   4096
#define PVIO_XS_ABS_PATH_MAX  3072
#define PVIO_XS_REL_PATH_MAX  2048

/* Device states (io/xenbus.h), written to each end's "state" key. */
enum pvio_xenbus_state {
	PVIO_XENBUS_UNKNOWN = 0,
	PVIO_XENBUS_INITIALISING = 1,
	PVIO_XENBUS_INIT_WAIT = 2,     /* backend: waiting for frontend info */
	PVIO_XENBUS_INITIALISED = 3,   /* frontend: ring refs etc. published */
	PVIO_XENBUS_CONNECTED = 4,
	PVIO_XENBUS_CLOSING = 5,
	PVIO_XENBUS_CLOSED = 6,
	PVIO_XENBUS_RECONFIGURING = 7,
	PVIO_XENBUS_RECONFIGURED = 8,
};

#endif /* PVIO_XS_WIRE_H */
