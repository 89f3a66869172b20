/* SPDX-License-Identifier: MIT */
/*
 * The guest-side TAP bridge: netfront <-> a Linux TAP device, so the
 * Linux network stack (in a network namespace, say) sends and receives
 * through the split driver.
 *
 *   TAP (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)        netfront
 *   read: virtio_net_hdr + frame  ---- tx thread ---> pvio_netfront_send
 *   write: virtio_net_hdr + frame <--- rx loop ------ pvio_netfront_recv_cb
 *
 * Offloads (virtio_net_hdr <-> netif flags):
 *   NEEDS_CSUM        <-> csum_blank (+ data_validated). When the backend
 *                         takes no checksum offload for that IP version,
 *                         the bridge fills the checksum in software. On
 *                         the way in, the pseudo-header sum is recomputed
 *                         (netif's csum_blank leaves the field blank) and
 *                         csum_start/csum_offset found from the headers.
 *   DATA_VALID        <-> data_validated.
 *   GSO_TCPV4/TCPV6   <-> GSO extra info (gso_size), when negotiated;
 *                         the TAP is told (TUNSETOFFLOAD) to hand over
 *                         only what netfront can send.
 * The TAP's MAC is set to the vif's, its MTU to the vif's mtu.
 *
 * Host only (libc, Linux ioctls, one helper thread).
 */
#ifndef PVIO_NETFRONT_TAP_H
#define PVIO_NETFRONT_TAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct pvio_netfront;

/* Counters of one bridge run. */
struct pvio_netfront_tap_stats {
	uint64_t tap_frames;        /* frames read from the TAP */
	uint64_t tx_sent;           /* ... handed to netfront */
	uint64_t tx_dropped;        /* ... refused (too big, bad offload) */
	uint64_t tx_sw_csum;        /* checksums the bridge filled in */
	uint64_t rx_frames;         /* frames received from netfront */
	uint64_t rx_written;        /* ... written to the TAP */
	uint64_t rx_dropped;        /* ... not (unparsable csum_blank, write error) */
};

struct pvio_netfront_tap_opts {
	/* Run until *stop becomes non-zero (checked every 50 ms; may be set
	 * from a signal handler). NULL: until netfront fails. */
	const _Atomic int *stop;
	/* Called once, from the calling thread, when the TAP is open and up
	 * (before any frame moves): a test moves it into a namespace here. */
	void (*ready)(void *arg, const char *ifname);
	void *arg;
	bool no_offload;            /* no TAP offloads: full frames only */
	bool keep_mac;              /* leave the TAP's own MAC */
	/* Counters, updated while running (relaxed); may be NULL. */
	struct pvio_netfront_tap_stats *stats;
};

/*
 * Open (or create) TAP device tap_name ("" or NULL: the kernel picks
 * pvio%d) and move frames both ways between it and nf until stopped.
 * opts may be NULL. Blocks the calling thread (which receives from
 * netfront; a helper thread sends). Returns 0 (stopped), -EIO (netfront
 * broke or its backend went away), or a setup error: -errno of opening
 * /dev/net/tun or of TUNSETIFF (-EPERM without CAP_NET_ADMIN, -EBUSY when
 * the name is taken by another kind of device), -EINVAL.
 */
int pvio_netfront_tap_bridge_run(struct pvio_netfront *nf, const char *tap_name,
				 const struct pvio_netfront_tap_opts *opts);

#endif /* PVIO_NETFRONT_TAP_H */
