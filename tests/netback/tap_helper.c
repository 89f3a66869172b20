/* SPDX-License-Identifier: MIT */
/* A test's network namespace for TAP ports: see tap_helper.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tap_helper.h"

int tap_sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

int tap_ns_create(char *ns, size_t size, const char *prefix)
{
	snprintf(ns, size, "%s-%d", prefix, (int)getpid());
	if (tap_sh("ip netns add %s", ns) != 0)
		return -EPERM;
	(void)tap_sh("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
		     "net.ipv6.conf.default.disable_ipv6=1", ns);
	return 0;
}

void tap_ns_remove(const char *ns)
{
	(void)tap_sh("ip netns del %s", ns);
}

int tap_ns_packet_socket(const char *ns, const char *ifname, int sock_flags,
			 int *ifindex)
{
	char path[64];
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int nsfd, s;
	struct sockaddr_ll sll;

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(self >= 0 && nsfd >= 0);
	assert_int_equal(setns(nsfd, CLONE_NEWNET), 0);
	*ifindex = (int)if_nametoindex(ifname);
	s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | sock_flags, htons(ETH_P_ALL));
	assert_int_equal(setns(self, CLONE_NEWNET), 0);
	close(nsfd);
	close(self);
	assert_true(*ifindex > 0);
	assert_true(s >= 0);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = *ifindex;
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}
