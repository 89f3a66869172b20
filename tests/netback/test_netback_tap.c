/* SPDX-License-Identifier: MIT */
/*
 * The TAP port in a network namespace the test creates and removes: the
 * vif's TAP device appears there as vif<domid>.<devid>; a frame the guest
 * sends is read by a raw socket in the namespace, and a frame the raw
 * socket sends reaches the guest. The vif-bridge hotplug script plugs the
 * vif into a bridge there. Needs root (namespaces, TAP): fails otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvio/domain.h>
#include <pvio/host.h>

#include "common.h"
#include "nb_test_fe.h"

static char NS[32];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
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

static int setup_more(struct env *e)
{
	(void)e;
	snprintf(NS, sizeof(NS), "pvio-nbt-%d", (int)getpid());
	if (sh("ip netns add %s", NS) != 0)
		return -EPERM;
	/* no IPv6 chatter (router solicitations, MLD) on the test's links */
	(void)sh("ip netns exec %s sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
		 "net.ipv6.conf.default.disable_ipv6=1", NS);
	return 0;
}

static int teardown_ns(void **state)
{
	(void)sh("ip netns del %s", NS);
	return teardown(state);
}

struct tvif {
	struct pvio_xs_host host;
	struct pvio_xs xs;
	struct pvio_xs_event ev[16];
	struct pvio_netback_vif_spec spec;
	struct pvio_netback *nb;
};

static struct tvif *tvif_new(pvio_domid_t fe, const char *spec, bool script)
{
	struct tvif *v = calloc(1, sizeof(*v));
	struct pvio_netback_config cfg = { 0 };
	char err[128];

	assert_int_equal(pvio_netback_vif_spec_parse(spec, &v->spec, err, sizeof(err)), 0);
	assert_int_equal(pvio_xenbus_device_create(&E->ts, "vif", 0, fe, v->spec.devid, NULL), 0);
	xs_connect(&v->host, &v->xs, v->ev, 16);
	pvio_netback_config_from_domain(&cfg, E->be);
	cfg.fe = fe;
	cfg.xs = &v->xs;
	cfg.vif = &v->spec;
	cfg.port = "tap";
	cfg.netns = NS;
	cfg.run_script = script;
	assert_int_equal(pvio_netback_create(&cfg, &v->nb), 0);
	assert_int_equal(pvio_netback_start(v->nb), 0);
	return v;
}

static struct pvio_netback_stats stats_tap(struct tvif *v)
{
	struct pvio_netback_stats st;

	pvio_netback_stats(v->nb, &st);
	return st;
}

static void tvif_free(struct tvif *v)
{
	pvio_netback_destroy(v->nb);
	pvio_xs_host_close(&v->host);
	free(v);
}

/* A raw socket on ifname inside the namespace. */
static int ns_raw_socket(const char *ifname, int *ifindex)
{
	char path[64];
	int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	int ns, s;
	struct sockaddr_ll sll;

	snprintf(path, sizeof(path), "/run/netns/%s", NS);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(self >= 0 && ns >= 0);
	assert_int_equal(setns(ns, CLONE_NEWNET), 0);
	*ifindex = (int)if_nametoindex(ifname);
	s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_int_equal(setns(self, CLONE_NEWNET), 0);
	close(ns);
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

static const uint8_t PEER[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x77 };

static void tap_frames_cross_between_guest_and_namespace(void **state)
{
	struct pvio_domain *d = domain_new("tap");
	struct tvif *v = tvif_new(d->domid, "mac=00:16:3e:00:02:01,devid=1", false);
	char ifname[16];
	struct fe f;
	struct fe_opts o = { 0 };
	uint8_t pkt[1000], got[4096];
	struct pvio_netif_tx_response rsp[3];
	int ifindex, s;
	bool seen = false;
	uint64_t end;

	(void)state;
	snprintf(ifname, sizeof(ifname), "vif%u.1", d->domid);
	assert_string_equal(pvio_netback_ifname(v->nb), ifname);
	assert_int_equal(fe_connect(&f, d, 1, &o), 0);
	s = ns_raw_socket(ifname, &ifindex);

	/* guest -> namespace */
	eth_frame(pkt, sizeof(pkt), PEER, v->spec.mac, 1);
	(void)fe_tx(&f, 0, pkt, sizeof(pkt), 400, 0, 0); /* 3 slots */
	fe_tx_rsps(&f, 0, 3, rsp);
	assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_OKAY);
	end = pvio_now_ns() + 5000000000ull;
	while (!seen && pvio_now_ns() < end) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(s, got, sizeof(got), 0);
		if (n == (ssize_t)sizeof(pkt) && memcmp(got, pkt, sizeof(pkt)) == 0)
			seen = true;
	}
	assert_true(seen);
	assert_int_equal(stats_tap(v).tx_packets, 1);

	/* namespace -> guest */
	{
		struct sockaddr_ll to;
		struct rxinfo in;

		memset(&to, 0, sizeof(to));
		to.sll_family = AF_PACKET;
		to.sll_ifindex = ifindex;
		to.sll_halen = 6;
		memcpy(to.sll_addr, v->spec.mac, 6);
		eth_frame(pkt, sizeof(pkt), v->spec.mac, PEER, 2);
		fe_post_rx(&f, 0, 16);
		assert_int_equal(sendto(s, pkt, sizeof(pkt), 0, (struct sockaddr *)&to,
					sizeof(to)), (ssize_t)sizeof(pkt));
		for (;;) { /* skip anything the stack sent on its own */
			in = fe_rx_pkt(&f, 0, got, sizeof(got));
			if (in.len >= 14 && got[12] == 0x88 && got[13] == 0xb5)
				break;
		}
		assert_int_equal(in.len, sizeof(pkt));
		assert_memory_equal(got, pkt, sizeof(pkt));
	}
	close(s);
	fe_close(&f);
	pvio_domain_disconnect(d);
	tvif_free(v);
}

static void vif_bridge_script_plugs_the_vif_into_the_bridge(void **state)
{
	struct tvif *v;
	char out[512] = "";
	FILE *p;

	(void)state;
	assert_int_equal(sh("ip -n %s link add nbtbr0 type bridge && "
			    "ip -n %s link set nbtbr0 up", NS, NS), 0);
	v = tvif_new(2, "mac=00:16:3e:00:02:02,devid=3,bridge=nbtbr0,script=vif-bridge,"
		     "ip=10.9.0.2", true);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "ip -n %s -o link show dev vif2.3", NS);
		p = popen(cmd, "r");
		assert_non_null(p);
		assert_non_null(fgets(out, sizeof(out), p));
		pclose(p);
	}
	assert_non_null(strstr(out, "master nbtbr0"));
	assert_non_null(strstr(out, "UP"));
	/* the anti-spoofing table for ip= */
	assert_int_equal(sh("ip netns exec %s nft list table bridge pvio_vif2_3 >/dev/null", NS), 0);
	tvif_free(v);
	/* offline removed the table; the device went with the vif */
	assert_int_not_equal(sh("ip netns exec %s nft list table bridge pvio_vif2_3 "
				">/dev/null 2>&1", NS), 0);
	assert_int_not_equal(sh("ip -n %s link show dev vif2.3 >/dev/null 2>&1", NS), 0);
	(void)sh("ip -n %s link del nbtbr0", NS);
}

static void missing_namespace_fails_with_one_clear_error(void **state)
{
	struct tvif *v = calloc(1, sizeof(*v));
	struct pvio_netback_config cfg = { 0 };

	(void)state;
	assert_int_equal(pvio_netback_vif_spec_parse("devid=9", &v->spec, NULL, 0), 0);
	xs_connect(&v->host, &v->xs, v->ev, 16);
	pvio_netback_config_from_domain(&cfg, E->be);
	cfg.fe = 3;
	cfg.xs = &v->xs;
	cfg.vif = &v->spec;
	cfg.port = "tap";
	cfg.netns = "pvio-no-such-namespace";
	assert_int_equal(pvio_netback_create(&cfg, &v->nb), 0);
	assert_int_equal(pvio_netback_start(v->nb), -ENOENT);
	tvif_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tap_frames_cross_between_guest_and_namespace),
		cmocka_unit_test(vif_bridge_script_plugs_the_vif_into_the_bridge),
		cmocka_unit_test(missing_namespace_fails_with_one_clear_error),
	};

	return cmocka_run_group_tests(tests, setup, teardown_ns);
}
