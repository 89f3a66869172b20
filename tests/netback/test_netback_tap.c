/* SPDX-License-Identifier: MIT */
/*
 * The TAP port in a network namespace the test creates and removes: the
 * vif's TAP device appears there as vif<domid>.<devid>; a frame the guest
 * sends is read by a raw socket in the namespace, and a frame the raw
 * socket sends reaches the guest. The vif-bridge hotplug script plugs the
 * vif into a bridge there. Checksum and GSO offloads cross the TAP as
 * virtio-net headers both ways (a packet socket with PACKET_VNET_HDR sees
 * and makes them), TCPv4 and TCPv6; a guest without feature-gso-tcpv6
 * gets a TCPv6 GSO frame as segments; a multi-queue vif gets a multi-queue TAP whose queues
 * all carry frames. Needs root (namespaces, TAP): fails otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <poll.h>
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
#include <linux/virtio_net.h>

#include <pvio/domain.h>
#include <pvio/host.h>

#include "common.h"
#include "nb_test_fe.h"
#include "tap_helper.h"

static char NS[32];

static int setup_more(struct env *e)
{
	(void)e;
	return tap_ns_create(NS, sizeof(NS), "pvio-nbt");
}

static int teardown_ns(void **state)
{
	tap_ns_remove(NS);
	return teardown(state);
}

static struct tap_vif *tvif_new(pvio_domid_t fe, const char *spec, bool script)
{
	const struct tap_vif_cfg c = { .run_dir = E->dir, .ts = &E->ts, .be = E->be,
				       .ns = NS, .fe = fe, .spec = spec,
				       .run_script = script };
	struct tap_vif *v;

	assert_int_equal(tap_vif_new(&c, &v), 0);
	return v;
}

static struct pvio_netback_stats stats_tap(struct tap_vif *v)
{
	struct pvio_netback_stats st;

	pvio_netback_stats(v->nb, &st);
	return st;
}

static const uint8_t PEER[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x77 };

static void tap_frames_cross_between_guest_and_namespace(void **state)
{
	struct pvio_domain *d = domain_new("tap");
	struct tap_vif *v = tvif_new(d->domid, "mac=00:16:3e:00:02:01,devid=1", false);
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
	s = tap_ns_packet_socket(NS, ifname, 0, &ifindex);

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
		struct sockaddr_ll to = tap_ll_to(ifindex, v->spec.mac);
		struct rxinfo in;

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
	tap_vif_free(v);
}

/* Receive the next frame on s of ethertype type (0x0800 IPv4, 0x86dd
 * IPv6) into buf after its virtio-net header; returns its length (0: none
 * in 5 s). */
static size_t recv_vnet(int s, uint16_t type, struct virtio_net_hdr *h, uint8_t *buf,
			size_t size)
{
	uint64_t end = pvio_now_ns() + 5000000000ull;
	static uint8_t got[sizeof(*h) + 65536];

	while (pvio_now_ns() < end) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recv(s, got, sizeof(got), 0);
		if (n < (ssize_t)(sizeof(*h) + 14) || got[sizeof(*h) + 12] != type >> 8 ||
		    got[sizeof(*h) + 13] != (type & 0xff))
			continue;
		memcpy(h, got, sizeof(*h));
		n -= (ssize_t)sizeof(*h);
		assert_true((size_t)n <= size);
		memcpy(buf, got + sizeof(*h), (size_t)n);
		return (size_t)n;
	}
	return 0;
}

static size_t recv_vnet_ipv4(int s, struct virtio_net_hdr *h, uint8_t *buf, size_t size)
{
	return recv_vnet(s, 0x0800, h, buf, size);
}

static void send_vnet(int s, int ifindex, const uint8_t *mac, const struct virtio_net_hdr *h,
		      const uint8_t *pkt, size_t len)
{
	static uint8_t buf[sizeof(struct virtio_net_hdr) + 65536];
	struct sockaddr_ll to = tap_ll_to(ifindex, mac);

	memcpy(buf, h, sizeof(*h));
	memcpy(buf + sizeof(*h), pkt, len);
	assert_int_equal(sendto(s, buf, sizeof(*h) + len, 0, (struct sockaddr *)&to, sizeof(to)),
			 (ssize_t)(sizeof(*h) + len));
}

/* An IPv4/TCP frame the kernel takes as such: addresses, a header
 * checksum, ports; the TCP checksum field holds the pseudo-header sum. */
static void real_tcp_frame(uint8_t *p, size_t n, const uint8_t *dst, const uint8_t *src)
{
	uint32_t sum = 0;

	tcp_frame(p, n, dst, src);
	memset(p + 18, 0, 2);                 /* id */
	p[22] = 64;                           /* ttl */
	memset(p + 24, 0, 2);                 /* header checksum */
	memcpy(p + 26, (const uint8_t[]){ 10, 9, 1, 1, 10, 9, 1, 2 }, 8);
	for (int i = 14; i < 34; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	p[24] = (uint8_t)(~sum >> 8);
	p[25] = (uint8_t)~sum;
	p[34] = 0x30; p[35] = 0x39;           /* ports 12345 -> 80 */
	p[36] = 0; p[37] = 80;
	p[47] = 0x18;                         /* PSH ACK */
	p[48] = 0xff; p[49] = 0xff;           /* window */
	p[52] = p[53] = 0;                    /* urgent */
	sum = 0x0a09 + 0x0101 + 0x0a09 + 0x0102 + 6 + (uint32_t)(n - 34);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	p[50] = (uint8_t)(sum >> 8);
	p[51] = (uint8_t)sum;
}

static void tap_offloads_pass_through_as_virtio_net_headers(void **state)
{
	struct pvio_domain *d = domain_new("tapoff");
	struct tap_vif *v = tvif_new(d->domid, "mac=00:16:3e:00:02:04,devid=4", false);
	struct fe f;
	struct fe_opts o = { .gso4 = true };
	static uint8_t pkt[3000], got[65536];
	struct pvio_netif_tx_response rsp[4];
	struct virtio_net_hdr h;
	char ifname[16];
	int ifindex, s, on = 1;

	(void)state;
	snprintf(ifname, sizeof(ifname), "vif%u.4", d->domid);
	assert_int_equal(fe_connect(&f, d, 4, &o), 0);
	s = tap_ns_packet_socket(NS, ifname, 0, &ifindex);
	assert_int_equal(setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof(on)), 0);

	/* guest -> namespace, checksum left to the stack: NEEDS_CSUM */
	real_tcp_frame(pkt, 200, PEER, v->spec.mac);
	(void)fe_tx(&f, 0, pkt, 200, 4096, PVIO_NETTXF_csum_blank | PVIO_NETTXF_data_validated, 0);
	fe_tx_rsps(&f, 0, 1, rsp);
	assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_OKAY);
	assert_int_equal(recv_vnet_ipv4(s, &h, got, sizeof(got)), 200);
	assert_memory_equal(got, pkt, 200);
	assert_true(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.csum_start, 34);
	assert_int_equal(h.csum_offset, 16);
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);

	/* guest -> namespace, a 3000-byte TCPv4 GSO packet in 3 slots, whole */
	real_tcp_frame(pkt, sizeof(pkt), PEER, v->spec.mac);
	assert_int_equal(fe_tx(&f, 0, pkt, sizeof(pkt), 1000,
			       PVIO_NETTXF_csum_blank | PVIO_NETTXF_data_validated, 1400), 4);
	fe_tx_rsps(&f, 0, 4, rsp);
	assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_OKAY);
	assert_int_equal(recv_vnet_ipv4(s, &h, got, sizeof(got)), sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	assert_int_equal(h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN, VIRTIO_NET_HDR_GSO_TCPV4);
	assert_int_equal(h.gso_size, 1400);
	assert_true(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);

	/* namespace -> guest: a partial checksum arrives as csum_blank */
	fe_post_rx(&f, 0, 32);
	real_tcp_frame(pkt, 300, v->spec.mac, PEER);
	memset(&h, 0, sizeof(h));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 34;
	h.csum_offset = 16;
	send_vnet(s, ifindex, v->spec.mac, &h, pkt, 300);
	for (;;) {
		struct rxinfo in = fe_rx_pkt(&f, 0, got, sizeof(got));

		if (in.len < 14 || got[12] != 0x08 || got[13] != 0x00)
			continue; /* the stack's own chatter */
		assert_int_equal(in.len, 300);
		assert_memory_equal(got, pkt, 300);
		assert_true(in.flags & PVIO_NETRXF_csum_blank);
		assert_true(in.flags & PVIO_NETRXF_data_validated);
		break;
	}

	/* namespace -> guest: a GSO packet the guest asked for (gso-tcpv4) */
	real_tcp_frame(pkt, sizeof(pkt), v->spec.mac, PEER);
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 1200;
	h.hdr_len = 54;
	send_vnet(s, ifindex, v->spec.mac, &h, pkt, sizeof(pkt));
	for (;;) {
		struct rxinfo in = fe_rx_pkt(&f, 0, got, sizeof(got));

		if (in.len < 14 || got[12] != 0x08 || got[13] != 0x00)
			continue;
		assert_int_equal(in.len, sizeof(pkt));
		assert_memory_equal(got, pkt, sizeof(pkt));
		assert_int_equal(in.gso_type, PVIO_NETIF_GSO_TYPE_TCPV4);
		assert_int_equal(in.gso_size, 1200);
		break;
	}
	close(s);
	fe_close(&f);
	pvio_domain_disconnect(d);
	tap_vif_free(v);
}

/* An IPv6/TCP frame of n bytes (headers 74: no extension headers),
 * fd00::2 port 12345 -> fd00::1 port 80 (dst is the guest's side when
 * to_guest), sequence number seq; the TCP checksum field holds the
 * pseudo-header sum, as a checksum-partial packet carries it. */
static void real_tcp6_frame(uint8_t *p, size_t n, const uint8_t *dst, const uint8_t *src,
			    uint32_t seq)
{
	static const uint8_t a1[16] = { 0xfd, [15] = 1 }, a2[16] = { 0xfd, [15] = 2 };
	uint32_t sum = 6 + (uint32_t)(n - 54);

	fill(p, n, 11);
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	p[12] = 0x86;
	p[13] = 0xdd;
	p[14] = 0x60;                         /* version 6, no class/flow */
	p[15] = p[16] = p[17] = 0;
	p[18] = (uint8_t)((n - 54) >> 8);     /* payload length */
	p[19] = (uint8_t)(n - 54);
	p[20] = 6;                            /* next header: TCP */
	p[21] = 64;                           /* hop limit */
	memcpy(p + 22, a2, 16);
	memcpy(p + 38, a1, 16);
	p[54] = 0x30; p[55] = 0x39;           /* ports 12345 -> 80 */
	p[56] = 0; p[57] = 80;
	p[58] = (uint8_t)(seq >> 24); p[59] = (uint8_t)(seq >> 16);
	p[60] = (uint8_t)(seq >> 8); p[61] = (uint8_t)seq;
	p[66] = 0x50;                         /* doff 5 */
	p[67] = 0x18;                         /* PSH ACK */
	p[68] = 0xff; p[69] = 0xff;           /* window */
	p[72] = p[73] = 0;                    /* urgent */
	for (int i = 22; i < 54; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	p[70] = (uint8_t)(sum >> 8);
	p[71] = (uint8_t)sum;
}

/* Send a TCPv6 GSO frame (partial checksum, MSS mss) out of the TAP's
 * namespace side, as a virtio-net frame. */
static void send_tcp6_gso(int s, int ifindex, const uint8_t *mac, const uint8_t *pkt,
			  size_t len, uint16_t mss)
{
	struct virtio_net_hdr h;

	memset(&h, 0, sizeof(h));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 54;
	h.csum_offset = 16;
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
	h.gso_size = mss;
	h.hdr_len = 74;
	send_vnet(s, ifindex, mac, &h, pkt, len);
}

/* The next IPv6 packet the guest receives (the stack's chatter skipped). */
static struct rxinfo fe_rx_ipv6(struct fe *f, uint8_t *buf, size_t size)
{
	for (;;) {
		struct rxinfo in = fe_rx_pkt(f, 0, buf, size);

		if (in.len >= 14 && buf[12] == 0x86 && buf[13] == 0xdd)
			return in;
	}
}

static void tap_tcpv6_gso_crosses_both_ways_as_virtio_net_headers(void **state)
{
	struct pvio_domain *d = domain_new("tapgso6");
	struct tap_vif *v = tvif_new(d->domid, "mac=00:16:3e:00:02:06,devid=6", false);
	struct fe f;
	struct fe_opts o = { .gso4 = true, .gso6 = true, .csum6 = true };
	static uint8_t pkt[3000], got[65536];
	struct pvio_netif_tx_response rsp[4];
	struct virtio_net_hdr h;
	struct rxinfo in;
	char ifname[16];
	int ifindex, s, on = 1;

	(void)state;
	snprintf(ifname, sizeof(ifname), "vif%u.6", d->domid);
	assert_int_equal(fe_connect(&f, d, 6, &o), 0);
	assert_int_equal(be_read(&f, "feature-gso-tcpv6"), 1);
	s = tap_ns_packet_socket(NS, ifname, 0, &ifindex);
	assert_int_equal(setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof(on)), 0);

	/* guest -> namespace: a 3000-byte TCPv6 GSO packet in 3 slots plus
	 * its GSO extra leaves the TAP whole, as a TCPV6 virtio-net frame */
	real_tcp6_frame(pkt, sizeof(pkt), PEER, v->spec.mac, 1000);
	assert_int_equal(fe_tx(&f, 0, pkt, sizeof(pkt), 1000,
			       PVIO_NETTXF_csum_blank | PVIO_NETTXF_data_validated, 1400), 4);
	fe_tx_rsps(&f, 0, 4, rsp);
	assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_OKAY);
	assert_int_equal(recv_vnet(s, 0x86dd, &h, got, sizeof(got)), sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	assert_int_equal(h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN, VIRTIO_NET_HDR_GSO_TCPV6);
	assert_int_equal(h.gso_size, 1400);
	assert_true(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(h.csum_start, 54);
	assert_int_equal(h.csum_offset, 16);
	assert_int_equal(stats_tap(v).tx_err_gso, 0);

	/* namespace -> guest: a TCPV6 virtio-net frame reaches the guest
	 * whole, with a TCPv6 GSO extra and a blank checksum */
	fe_post_rx(&f, 0, 32);
	real_tcp6_frame(pkt, sizeof(pkt), v->spec.mac, PEER, 5000);
	send_tcp6_gso(s, ifindex, v->spec.mac, pkt, sizeof(pkt), 1200);
	in = fe_rx_ipv6(&f, got, sizeof(got));
	assert_int_equal(in.len, sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	assert_int_equal(in.gso_type, PVIO_NETIF_GSO_TYPE_TCPV6);
	assert_int_equal(in.gso_size, 1200);
	assert_true(in.flags & PVIO_NETRXF_csum_blank);
	assert_int_equal(stats_tap(v).rx_drop_gso, 0);
	close(s);
	fe_close(&f);
	pvio_domain_disconnect(d);
	tap_vif_free(v);
}

/*
 * A guest that takes TCPv4 GSO but not TCPv6: the TAP is not given
 * TUN_F_TSO6, so the kernel segments a TCPv6 GSO frame before netback
 * reads it; the guest receives MSS-sized segments carrying the payload
 * in order, nothing is dropped.
 */
static void tap_tcpv6_gso_is_segmented_for_a_guest_without_gso_tcpv6(void **state)
{
	struct pvio_domain *d = domain_new("tapseg6");
	struct tap_vif *v = tvif_new(d->domid, "mac=00:16:3e:00:02:07,devid=7", false);
	struct fe f;
	struct fe_opts o = { .gso4 = true, .csum6 = true };
	static uint8_t pkt[3000], got[65536];
	const uint32_t mss = 1200, payload = sizeof(pkt) - 74;
	char ifname[16];
	int ifindex, s, on = 1;
	uint32_t at = 0, segs = 0;

	(void)state;
	snprintf(ifname, sizeof(ifname), "vif%u.7", d->domid);
	assert_int_equal(fe_connect(&f, d, 7, &o), 0);
	s = tap_ns_packet_socket(NS, ifname, 0, &ifindex);
	assert_int_equal(setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof(on)), 0);
	fe_post_rx(&f, 0, 32);
	real_tcp6_frame(pkt, sizeof(pkt), v->spec.mac, PEER, 7000);
	send_tcp6_gso(s, ifindex, v->spec.mac, pkt, sizeof(pkt), (uint16_t)mss);
	while (at < payload) {
		struct rxinfo in = fe_rx_ipv6(&f, got, sizeof(got));
		uint32_t seg = in.len - 74;
		uint32_t seq = (uint32_t)got[58] << 24 | (uint32_t)got[59] << 16 |
			       (uint32_t)got[60] << 8 | got[61];

		assert_true(in.len > 74);
		assert_int_equal(in.gso_type, 0);
		assert_int_equal(seg, payload - at < mss ? payload - at : mss);
		assert_int_equal((uint32_t)got[18] << 8 | got[19], 20 + seg);
		assert_int_equal(seq, 7000 + at);
		assert_memory_equal(got + 74, pkt + 74 + at, seg);
		at += seg;
		segs++;
	}
	assert_int_equal(segs, 3);
	assert_int_equal(stats_tap(v).rx_drop_gso, 0);
	close(s);
	fe_close(&f);
	pvio_domain_disconnect(d);
	tap_vif_free(v);
}

/* feature-gso-tcpv{4,6}-prefix (the old Windows frontends' layout): a GSO
 * packet reaches the guest whole, behind a prefix slot whose offset is the
 * gso size; no extra info segment. */
static void tap_gso_reaches_a_prefix_guest_behind_a_prefix_slot(void **state)
{
	struct pvio_domain *d = domain_new("tapgsopfx");
	struct tap_vif *v = tvif_new(d->domid, "mac=00:16:3e:00:02:08,devid=8", false);
	struct fe f;
	struct fe_opts o = { .gso4_prefix = true, .gso6_prefix = true, .csum6 = true };
	static uint8_t pkt4[3000], pkt6[5000], got[65536];
	struct virtio_net_hdr h;
	char ifname[16];
	int ifindex, s, on = 1;
	struct rxinfo in;

	(void)state;
	snprintf(ifname, sizeof(ifname), "vif%u.8", d->domid);
	assert_int_equal(fe_connect(&f, d, 8, &o), 0);
	assert_int_equal(be_read(&f, "feature-gso-tcpv4"), 1); /* tx side: the backend's own */
	s = tap_ns_packet_socket(NS, ifname, 0, &ifindex);
	assert_int_equal(setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &on, sizeof(on)), 0);
	fe_post_rx(&f, 0, 32);

	real_tcp_frame(pkt4, sizeof(pkt4), v->spec.mac, PEER);
	memset(&h, 0, sizeof(h));
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.csum_start = 34;
	h.csum_offset = 16;
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.gso_size = 1300;
	h.hdr_len = 54;
	send_vnet(s, ifindex, v->spec.mac, &h, pkt4, sizeof(pkt4));
	do
		in = fe_rx_pkt(&f, 0, got, sizeof(got));
	while (in.len < 14 || got[12] != 0x08 || got[13] != 0x00);
	assert_true(in.prefix);
	assert_int_equal(in.prefix_status, 0);
	assert_int_equal(in.gso_size, 1300);
	assert_false(in.flags & PVIO_NETRXF_extra_info);
	assert_true(in.flags & PVIO_NETRXF_csum_blank);
	assert_int_equal(in.len, sizeof(pkt4));
	assert_memory_equal(got, pkt4, sizeof(pkt4));
	assert_int_equal(in.slots, 1 + 1); /* prefix + one page */

	/* TCPv6, two pages */
	real_tcp6_frame(pkt6, sizeof(pkt6), v->spec.mac, PEER, 9000);
	send_tcp6_gso(s, ifindex, v->spec.mac, pkt6, sizeof(pkt6), 1100);
	do /* past any ND/MLD chatter of the namespace's stack */
		in = fe_rx_ipv6(&f, got, sizeof(got));
	while (in.len < 74 || got[20] != 6);
	assert_true(in.prefix);
	assert_int_equal(in.gso_size, 1100);
	assert_false(in.flags & PVIO_NETRXF_extra_info);
	assert_int_equal(in.len, sizeof(pkt6));
	assert_memory_equal(got, pkt6, sizeof(pkt6));
	assert_int_equal(in.slots, 1 + 2);
	assert_int_equal(stats_tap(v).rx_drop_gso, 0);
	close(s);
	fe_close(&f);
	pvio_domain_disconnect(d);
	tap_vif_free(v);
}

static void multi_queue_vif_gets_a_multi_queue_tap(void **state)
{
	struct pvio_domain *d = domain_new("tapmq");
	struct tap_vif *v = tvif_new(d->domid, "mac=00:16:3e:00:02:05,devid=5", false);
	struct fe f;
	struct fe_opts o = { .nq = 2 };
	uint8_t pkt[600], got[4096];
	struct pvio_netif_tx_response rsp[1];
	char ifname[16], cmd[128], out[1024] = "";
	int ifindex, s;
	FILE *p;

	(void)state;
	snprintf(ifname, sizeof(ifname), "vif%u.5", d->domid);
	assert_int_equal(fe_connect(&f, d, 5, &o), 0);
	assert_int_equal(be_read(&f, "multi-queue-max-queues") >= 2, 1);
	snprintf(cmd, sizeof(cmd), "ip -d -n %s link show dev %s", NS, ifname);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(out + strlen(out), (int)(sizeof(out) - strlen(out)), p))
		;
	pclose(p);
	assert_non_null(strstr(out, "multi_queue"));
	assert_non_null(strstr(out, "vnet_hdr on"));
	s = tap_ns_packet_socket(NS, ifname, 0, &ifindex);

	/* each guest queue's frame reaches the namespace */
	for (uint32_t q = 0; q < 2; q++) {
		bool seen = false;
		uint64_t end = pvio_now_ns() + 5000000000ull;

		eth_frame(pkt, sizeof(pkt), PEER, v->spec.mac, 10 + q);
		(void)fe_tx(&f, q, pkt, sizeof(pkt), 4096, 0, 0);
		fe_tx_rsps(&f, q, 1, rsp);
		assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_OKAY);
		while (!seen && pvio_now_ns() < end) {
			struct pollfd pf = { .fd = s, .events = POLLIN };
			ssize_t n;

			if (poll(&pf, 1, 100) <= 0)
				continue;
			n = recv(s, got, sizeof(got), 0);
			seen = n == (ssize_t)sizeof(pkt) && memcmp(got, pkt, sizeof(pkt)) == 0;
		}
		assert_true(seen);
	}
	/* frames from the namespace reach the guest on one queue or the other */
	fe_post_rx(&f, 0, 32);
	fe_post_rx(&f, 1, 32);
	{
		unsigned want = 8, seen = 0;
		uint64_t end = pvio_now_ns() + (uint64_t)WAIT_MS * 1000000u;
		struct sockaddr_ll to = tap_ll_to(ifindex, v->spec.mac);

		for (unsigned i = 0; i < want; i++) {
			eth_frame(pkt, sizeof(pkt), v->spec.mac, PEER, 20 + i);
			assert_int_equal(sendto(s, pkt, sizeof(pkt), 0, (struct sockaddr *)&to,
						sizeof(to)), (ssize_t)sizeof(pkt));
		}
		while (seen < want && pvio_now_ns() < end) {
			for (uint32_t q = 0; q < 2; q++) {
				struct pvio_netif_rx_response r;
				int rc = pvio_netif_rx_front_get_rsp(&f.q[q].rx, &r);

				assert_true(rc >= 0);
				if (rc != 1)
					continue;
				assert_true(r.status > 0);
				const uint8_t *pg = pvio_domain_page(d, f.rx_buf_pfn + r.id % NDATA);

				if (r.status == (int16_t)sizeof(pkt) && pg[r.offset + 12] == 0x88 &&
				    pg[r.offset + 13] == 0xb5)
					seen++;
			}
			msleep(1);
		}
		assert_int_equal(seen, want);
	}
	assert_true(stats_tap(v).tx_packets >= 2);
	close(s);
	fe_close(&f);
	pvio_domain_disconnect(d);
	tap_vif_free(v);
}

static void vif_bridge_script_plugs_the_vif_into_the_bridge(void **state)
{
	struct tap_vif *v;
	char out[512] = "";
	FILE *p;

	(void)state;
	assert_int_equal(tap_sh("ip -n %s link add nbtbr0 type bridge && "
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
	assert_int_equal(tap_sh("ip netns exec %s nft list table bridge pvio_vif2_3 >/dev/null", NS),
			 0);
	tap_vif_free(v);
	/* offline removed the table; the device went with the vif */
	assert_int_not_equal(tap_sh("ip netns exec %s nft list table bridge pvio_vif2_3 "
				    ">/dev/null 2>&1", NS), 0);
	assert_int_not_equal(tap_sh("ip -n %s link show dev vif2.3 >/dev/null 2>&1", NS), 0);
	(void)tap_sh("ip -n %s link del nbtbr0", NS);
}

static void missing_namespace_fails_with_one_clear_error(void **state)
{
	const struct tap_vif_cfg c = { .run_dir = E->dir, .ts = &E->ts, .be = E->be,
				       .ns = "pvio-no-such-namespace", .fe = 3,
				       .spec = "devid=9" };
	struct tap_vif *v;

	(void)state;
	assert_int_equal(tap_vif_new(&c, &v), -ENOENT);
	tap_vif_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tap_frames_cross_between_guest_and_namespace),
		cmocka_unit_test(tap_offloads_pass_through_as_virtio_net_headers),
		cmocka_unit_test(tap_tcpv6_gso_crosses_both_ways_as_virtio_net_headers),
		cmocka_unit_test(tap_tcpv6_gso_is_segmented_for_a_guest_without_gso_tcpv6),
		cmocka_unit_test(tap_gso_reaches_a_prefix_guest_behind_a_prefix_slot),
		cmocka_unit_test(multi_queue_vif_gets_a_multi_queue_tap),
		cmocka_unit_test(vif_bridge_script_plugs_the_vif_into_the_bridge),
		cmocka_unit_test(missing_namespace_fails_with_one_clear_error),
	};

	return cmocka_run_group_tests(tests, setup, teardown_ns);
}
