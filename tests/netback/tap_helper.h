/* SPDX-License-Identifier: MIT */
/*
 * A network namespace of a test's own, for vifs on TAP ports: created and
 * removed through ip(8), and packet sockets opened inside it on a device
 * there (the TAP netback made). Shared by tests/netback/test_netback_tap.c
 * and tests/fault/test_fault_tap.c. Needs root.
 */
#ifndef PVIO_TEST_TAP_HELPER_H
#define PVIO_TEST_TAP_HELPER_H

#include <stddef.h>

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

#endif /* PVIO_TEST_TAP_HELPER_H */
