/* SPDX-License-Identifier: MIT */
/*
 * The control protocol on DIR/hostd.sock, private to platform/host/hostd
 * (hostd.c serves it, domain.c speaks it).
 *
 * A Unix stream socket; every message is one fixed-size struct below,
 * little-endian host order (both ends are on the same machine), starting
 * with struct hostd_wire_hdr. One exchange per connection:
 *
 *   domain -> hostd   HOSTD_MSG_CONNECT      struct hostd_wire_connect
 *   hostd  -> domain  HOSTD_MSG_CONNECTED    struct hostd_wire_reply, status 0,
 *                     with SCM_RIGHTS on its first byte carrying exactly
 *                     HOSTD_NR_FDS fds in the order of enum hostd_fd
 *                  or HOSTD_MSG_ERROR        struct hostd_wire_reply,
 *                     status -errno, no fds; hostd then closes
 *
 * After CONNECTED the connection stays open, silent, as the domain's
 * lifeline: hostd destroys the domain when it reads EOF, and also when it
 * reads anything at all (a domain has nothing more to say in version 1).
 * The domain learns that hostd died by reading EOF.
 *
 * hostd treats every byte from a domain as hostile: a wrong magic, length
 * or type, or any byte past the one request, closes the connection with no
 * answer; a request hostd understands but refuses (bad version, bad field,
 * no resources) gets HOSTD_MSG_ERROR first. hostd never accepts fds from a
 * domain (it reads with recv(), which discards them).
 */
#ifndef PVIO_HOSTD_WIRE_H
#define PVIO_HOSTD_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define HOSTD_WIRE_MAGIC   0x44545648u /* "HVTD" */
#define HOSTD_WIRE_VERSION 1u

/* The control socket's name under the run dir. */
#define HOSTD_SOCK_NAME "hostd.sock"
/* Held with flock() for hostd's lifetime: one hostd per run dir. */
#define HOSTD_LOCK_NAME "hostd.lock"

enum hostd_msg_type {
	HOSTD_MSG_CONNECT = 1,   /* domain -> hostd */
	HOSTD_MSG_CONNECTED = 2, /* hostd -> domain, with fds */
	HOSTD_MSG_ERROR = 3,     /* hostd -> domain */
};

struct hostd_wire_hdr {
	uint32_t magic;   /* HOSTD_WIRE_MAGIC */
	uint16_t version; /* HOSTD_WIRE_VERSION of the sender */
	uint16_t type;    /* enum hostd_msg_type */
	uint32_t len;     /* bytes of the whole message, header included */
	uint32_t pad;     /* 0 */
};
_Static_assert(sizeof(struct hostd_wire_hdr) == 16, "hostd wire is ABI");

/* CONNECT flags. */
#define HOSTD_CONNECT_DRIVER_DOMAIN 0x1u /* ask for domid 0 */
#define HOSTD_CONNECT_FLAGS_KNOWN   HOSTD_CONNECT_DRIVER_DOMAIN

/* Longest domain name, NUL excluded; printable ASCII (0x20..0x7e). */
#define HOSTD_NAME_MAX 63

struct hostd_wire_connect {
	struct hostd_wire_hdr hdr;  /* type CONNECT, len = sizeof(*this) */
	uint32_t nr_pages;          /* 1 .. hostd's max pages per domain */
	uint32_t flags;             /* HOSTD_CONNECT_*; unknown bits: refused */
	char name[HOSTD_NAME_MAX + 1]; /* NUL-terminated, NUL-padded, non-empty */
	uint8_t reserved[24];       /* 0 */
};
_Static_assert(sizeof(struct hostd_wire_connect) == 112, "hostd wire is ABI");

/* The fds of a CONNECTED reply, in this order. */
enum hostd_fd {
	HOSTD_FD_POOL = 0,   /* machine memory: the frame pool memfd */
	HOSTD_FD_HV = 1,     /* machine memory: hypervisor memory memfd */
	HOSTD_FD_EVTCHN = 2, /* the event-channel region memfd */
	HOSTD_FD_STORE = 3,  /* a stream socket the store serves as domid */
	HOSTD_NR_FDS = 4,
};

struct hostd_wire_reply {
	struct hostd_wire_hdr hdr;  /* type CONNECTED or ERROR, len = sizeof */
	int32_t status;             /* 0 (CONNECTED) or -errno (ERROR) */
	uint16_t domid;             /* CONNECTED: the new domain's id */
	uint16_t nr_fds;            /* CONNECTED: HOSTD_NR_FDS; ERROR: 0 */
	uint32_t nr_pages;          /* CONNECTED: pfns 0 .. nr_pages-1 */
	uint32_t reserved[5];       /* 0 */
};
_Static_assert(sizeof(struct hostd_wire_reply) == 48, "hostd wire is ABI");

#endif /* PVIO_HOSTD_WIRE_H */
