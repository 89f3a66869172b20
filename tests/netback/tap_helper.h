/* SPDX-License-Identifier: MIT */
/*
 * A network namespace of a test's own, for vifs on TAP ports: created and
 * removed through ip(8), packet sockets opened inside it on a device
 * there (the TAP netback made), and the vifs themselves. Shared by
 * tests/netback/test_netback_tap.c and tests/fault/test_fault_tap.c.
 * Needs root.
 */
#ifndef PVIO_TEST_TAP_HELPER_H
#define PVIO_TEST_TAP_HELPER_H

#include <linux/if_packet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/domain.h>
#include <pvio/netback.h>
#include <pvio/xenbus.h>

/*
 * Run the shell command printf(fmt, ...) makes (at most 511 bytes).
 * Returns its exit status, or -1 when it could not be run.
 */
int tap_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Create the namespace "<prefix>-<pid>", its name into ns[size], with
 * IPv6 off in it (no router solicitations or MLD reports on the test's
 * links). Returns 0, or -EPERM when ip could not create it (not root).
 */
int tap_ns_create(char *ns, size_t size, const char *prefix);

/* Remove namespace ns and what is left in it. */
void tap_ns_remove(const char *ns);

/*
 * A packet socket for every protocol (ETH_P_ALL), made in namespace ns and
 * bound to its device ifname; sock_flags are more socket() type flags
 * (SOCK_NONBLOCK). The device's index goes to *ifindex. The caller owns
 * the socket. Fails the test (cmocka) when the namespace, the device or
 * the socket is missing; the calling thread is back in its own namespace.
 */
int tap_ns_packet_socket(const char *ns, const char *ifname, int sock_flags,
			 int *ifindex);

/* Where a packet socket sends a frame for mac out of device ifindex. */
struct sockaddr_ll tap_ll_to(int ifindex, const uint8_t *mac);

/* What tap_vif_new() makes a vif from. */
struct tap_vif_cfg {
	const char *run_dir;      /* hostd's: the vif's own store connection */
	struct pvio_xs *ts;       /* the toolstack's store connection */
	struct pvio_domain *be;   /* the driver domain serving the vif */
	const char *ns;           /* namespace the TAP device is made in */
	pvio_domid_t fe;
	const char *spec;         /* a --vif spec (mac=...,devid=...) */
	uint32_t max_queues;      /* 0: netback's default */
	bool run_script;          /* run the spec's hotplug script */
};

/* A vif on a TAP port: its store connection, spec and netback. */
struct tap_vif {
	struct pvio_xs_host host;
	struct pvio_xs xs;
	struct pvio_xs_event ev[16];
	struct pvio_netback_vif_spec spec;
	struct pvio_netback *nb;
	int sock, ifindex;        /* a packet socket on the TAP, if the test
				     opens one (else -1); closed by free */
};

/*
 * Parse c->spec, create the vif's device in the store (backend domain
 * 0), connect a store client of its own, and create and start netback on
 * a "tap" port in c->ns. *v receives the vif even when starting failed
 * (free it with tap_vif_free()). Returns pvio_netback_start()'s result;
 * fails the test (cmocka) on anything before it.
 */
int tap_vif_new(const struct tap_vif_cfg *c, struct tap_vif **v);

/* Destroy the vif's netback, close its socket and store client, free it. */
void tap_vif_free(struct tap_vif *v);

#endif /* PVIO_TEST_TAP_HELPER_H */
