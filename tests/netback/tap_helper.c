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

/* The store's reply wait, as nb_test_fe.h's WAIT_MS. */
#define TAP_WAIT_MS 10000

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

struct sockaddr_ll tap_ll_to(int ifindex, const uint8_t *mac)
{
	struct sockaddr_ll to;

	memset(&to, 0, sizeof(to));
	to.sll_family = AF_PACKET;
	to.sll_ifindex = ifindex;
	to.sll_halen = 6;
	memcpy(to.sll_addr, mac, 6);
	return to;
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

int tap_vif_new(const struct tap_vif_cfg *c, struct tap_vif **out)
{
	struct tap_vif *v = calloc(1, sizeof(*v));
	struct pvio_netback_config cfg = { 0 };
	char err[128] = "";

	assert_non_null(v);
	v->sock = -1;
	if (pvio_netback_vif_spec_parse(c->spec, &v->spec, err, sizeof(err)) != 0)
		fail_msg("vif spec %s: %s", c->spec, err);
	assert_int_equal(pvio_xenbus_device_create(c->ts, "vif", 0, c->fe, v->spec.devid,
						   NULL), 0);
	assert_int_equal(pvio_xs_host_open(&v->host, &v->xs, c->run_dir, v->ev, 16,
					   TAP_WAIT_MS), 0);
	pvio_netback_config_from_domain(&cfg, c->be);
	cfg.fe = c->fe;
	cfg.xs = &v->xs;
	cfg.vif = &v->spec;
	cfg.port = "tap";
	cfg.netns = c->ns;
	cfg.max_queues = c->max_queues;
	cfg.run_script = c->run_script;
	assert_int_equal(pvio_netback_create(&cfg, &v->nb), 0);
	*out = v;
	return pvio_netback_start(v->nb);
}

void tap_vif_free(struct tap_vif *v)
{
	if (v->sock >= 0)
		close(v->sock);
	pvio_netback_destroy(v->nb);
	pvio_xs_host_close(&v->host);
	free(v);
}
