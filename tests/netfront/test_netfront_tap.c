/* SPDX-License-Identifier: MIT */
/*
 * The TAP bridge: netfront bridged to a TAP device that the test moves
 * into a network namespace of its own (created and removed here). The
 * namespace's stack is the guest: its frames come out of the test's
 * netback, and the netback's frames reach it. The netback plays a peer
 * at 10.99.0.2 that answers ARP and ping; it also asks the namespace
 * (10.99.0.1) for its MAC and expects the answer.
 *
 * Needs root (namespaces, TAP) and iproute2 + ping; fails without them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "netfront_tap.h"

static const uint8_t peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t peer_ip[4] = { 10, 99, 0, 2 };
static const uint8_t ns_ip[4] = { 10, 99, 0, 1 };

struct tap_fx {
	struct h_env *env;
	struct fake_netback *fb;
	struct pvio_netfront *nf;
	char ns[32];
	char ifname[32];
	_Atomic int ready;         /* 1 configured, -1 failed */
	_Atomic int stop;
	_Atomic int arp_requests, arp_replies, echo_requests, syns, syn_csum_blank;
	struct pvio_netfront_tap_stats st;
	int bridge_ret;
	pthread_t thr;
};

__attribute__((format(printf, 1, 2)))
static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int r = system(cmd);
	if (r != 0)
		fprintf(stderr, "command failed (%d): %s\n", r, cmd);
	return r;
}

static uint16_t csum(const unsigned char *p, size_t len)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		s += (uint32_t)p[len - 1] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

/* An ARP packet from the peer. */
static void send_arp(struct fake_netback *fb, uint16_t op, const uint8_t *dst_mac,
		     const uint8_t *tha, const uint8_t *tpa)
{
	unsigned char f[60] = { 0 };

	memcpy(f, dst_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, 0x0806);
	put16(f + 14, 1);       /* Ethernet */
	put16(f + 16, 0x0800);  /* IPv4 */
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, op);
	memcpy(f + 22, peer_mac, 6);
	memcpy(f + 28, peer_ip, 4);
	memcpy(f + 32, tha, 6);
	memcpy(f + 38, tpa, 4);
	fnb_inject(fb, 0, f, sizeof(f), 0, 0, 0);
}

/* The peer: answer ARP for 10.99.0.2 and ping; note what it sees. */
static void peer(struct fake_netback *fb, const struct fnb_frame *f, void *arg)
{
	struct tap_fx *x = arg;
	const unsigned char *p = f->data;

	if (f->len < 42)
		return;
	uint16_t type = (uint16_t)(p[12] << 8 | p[13]);
	if (type == 0x0806) {
		uint16_t op = (uint16_t)(p[20] << 8 | p[21]);
		if (op == 1 && memcmp(p + 38, peer_ip, 4) == 0) {
			atomic_fetch_add(&x->arp_requests, 1);
			send_arp(fb, 2, p + 6, p + 22, p + 28);
		} else if (op == 2 && memcmp(p + 28, ns_ip, 4) == 0 &&
			   memcmp(p + 32, peer_mac, 6) == 0) {
			atomic_fetch_add(&x->arp_replies, 1);
		}
		return;
	}
	if (type != 0x0800 || memcmp(p + 30, peer_ip, 4) != 0)
		return;
	uint32_t ihl = (uint32_t)(p[14] & 0xf) * 4;
	uint32_t tot = (uint32_t)(p[16] << 8 | p[17]);
	if (tot + 14 > f->len || ihl < 20)
		return;
	if (p[23] == 6) {
		/* TCP: only count SYNs (nobody listens on the peer). */
		if (p[14 + ihl + 13] & 0x02) {
			atomic_fetch_add(&x->syns, 1);
			if (f->flags & PVIO_NETTXF_csum_blank)
				atomic_fetch_add(&x->syn_csum_blank, 1);
		}
		return;
	}
	if (p[23] != 1 || p[14 + ihl] != 8)
		return;
	atomic_fetch_add(&x->echo_requests, 1);
	/* Echo reply: swap the addresses, type 0, fresh checksums. */
	unsigned char r[1600];
	uint32_t len = 14 + tot;
	if (len > sizeof(r))
		return;
	memcpy(r, p, len);
	memcpy(r, p + 6, 6);
	memcpy(r + 6, peer_mac, 6);
	memcpy(r + 26, p + 30, 4);
	memcpy(r + 30, p + 26, 4);
	r[22] = 64;
	put16(r + 24, 0);
	put16(r + 24, csum(r + 14, ihl));
	r[14 + ihl] = 0;
	put16(r + 14 + ihl + 2, 0);
	put16(r + 14 + ihl + 2, csum(r + 14 + ihl, tot - ihl));
	fnb_inject(fb, 0, r, len, 0, 0, 0);
}

/* The bridge's ready hook: move the TAP into the namespace, address it. */
static void on_ready(void *arg, const char *ifname)
{
	struct tap_fx *x = arg;

	snprintf(x->ifname, sizeof(x->ifname), "%s", ifname);
	int r = sh("ip link set %s netns %s", ifname, x->ns);
	if (!r)
		r = sh("ip -n %s addr add 10.99.0.1/24 dev %s", x->ns, ifname);
	if (!r)
		r = sh("ip -n %s link set %s up", x->ns, ifname);
	atomic_store(&x->ready, r ? -1 : 1);
}

static void *bridge_main(void *arg)
{
	struct tap_fx *x = arg;
	struct pvio_netfront_tap_opts o = {
		.stop = &x->stop, .ready = on_ready, .arg = x, .stats = &x->st,
	};

	x->bridge_ret = pvio_netfront_tap_bridge_run(x->nf, x->ns, &o);
	if (atomic_load(&x->ready) == 0)
		atomic_store(&x->ready, -1);
	return NULL;
}

static bool wait_for(_Atomic int *v, int at_least)
{
	for (int i = 0; i < 1000; i++) {
		if (atomic_load(v) >= at_least)
			return true;
		struct timespec ts = { .tv_nsec = 10000000 };
		nanosleep(&ts, NULL);
	}
	return false;
}

/* A TCP SYN from inside the namespace (this thread enters it). */
static void *syn_main(void *arg)
{
	struct tap_fx *x = arg;
	char path[64];

	snprintf(path, sizeof(path), "/var/run/netns/%s", x->ns);
	int nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0)
		return (void *)1;
	close(nsfd);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(80) };
	memcpy(&a.sin_addr, peer_ip, 4);
	(void)connect(s, (struct sockaddr *)&a, sizeof(a));
	wait_for(&x->syns, 1);
	close(s);
	return NULL;
}

static void namespace_stack_talks_through_netfront_and_the_tap(void **state)
{
	struct tap_fx *x = calloc(1, sizeof(*x));
	struct fnb_config bc = { .sg = true, .gso4 = true, .rx_copy = true };
	pthread_t syn;
	void *syn_ret;

	(void)state;
	assert_int_equal(access("/dev/net/tun", R_OK | W_OK), 0);
	snprintf(x->ns, sizeof(x->ns), "pvnf%d", (int)getpid());
	assert_int_equal(sh("ip netns add %s", x->ns), 0);
	assert_int_equal(sh("ip -n %s link set lo up", x->ns), 0);
	/* Quiet: no IPv6 autoconfiguration chatter on the link. */
	sh("ip netns exec %s sysctl -qw net.ipv6.conf.default.disable_ipv6=1", x->ns);

	x->env = h_env_new();
	h_device_create(x->env, H_MAC_BOTH);
	x->fb = fnb_start(x->env, &bc);
	x->fb->on_tx = peer;
	x->fb->on_tx_arg = x;
	assert_int_equal(pvio_netfront_open(x->env->frontp, H_PATH, NULL, &x->nf), 0);
	assert_int_equal(pthread_create(&x->thr, NULL, bridge_main, x), 0);
	assert_true(wait_for(&x->ready, 1));

	/* Out of the namespace: ARP, then ICMP echo, answered by the peer. */
	assert_int_equal(sh("ip netns exec %s ping -q -c 3 -i 0.2 -W 5 10.99.0.2 >/dev/null",
			    x->ns), 0);
	assert_true(atomic_load(&x->arp_requests) >= 1);
	assert_true(atomic_load(&x->echo_requests) >= 1);

	/* Into the namespace: the peer asks who has 10.99.0.1. */
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t zero[6] = { 0 };
	send_arp(x->fb, 1, bcast, zero, ns_ip);
	assert_true(wait_for(&x->arp_replies, 1));

	/* A TCP SYN leaves with its checksum offloaded (csum_blank). */
	assert_int_equal(pthread_create(&syn, NULL, syn_main, x), 0);
	pthread_join(syn, &syn_ret);
	assert_null(syn_ret);
	assert_true(atomic_load(&x->syns) >= 1);
	assert_true(atomic_load(&x->syn_csum_blank) >= 1);

	atomic_store(&x->stop, 1);
	pthread_join(x->thr, NULL);
	assert_int_equal(x->bridge_ret, 0);
	assert_true(x->st.tx_sent >= 3);
	assert_true(x->st.rx_written >= 3);
	assert_int_equal(pvio_netfront_close(x->nf), 0);
	assert_int_equal(fnb_wait_closed(x->fb), 0);
	fnb_stop(x->fb);
	h_env_free(x->env);
	free(x);
}

/* Whatever happened, the namespace goes (and the TAP with it). */
static int remove_namespace(void **state)
{
	char cmd[96];

	(void)state;
	snprintf(cmd, sizeof(cmd), "ip netns del pvnf%d 2>/dev/null", (int)getpid());
	(void)!system(cmd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(namespace_stack_talks_through_netfront_and_the_tap),
	};
	return cmocka_run_group_tests(tests, NULL, remove_namespace);
}
