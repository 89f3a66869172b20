/* SPDX-License-Identifier: MIT */
/*
 * A netfront that breaks every tx rule, against the real netback on TAP
 * ports (the kernel's own device, so what netback writes is judged by
 * tun's checks, not by a test double): hostd in threads mode, the driver
 * domain serving a good and an evil vif whose TAP devices (flt-good,
 * flt-evil) live in a network namespace of this test (flt-tap-<pid>). Packet sockets in the
 * namespace see every frame netback writes to either TAP.
 *
 * The evil guest sends bad requests (grants never given, slots past their
 * page, runts, sizes that do not add up), GSO extras with absurd sizes and
 * types, packets over the slot limit, and packets asking for checksum
 * offload with a header too short to hold the checksum; between attacks a
 * legitimate marker frame. Each case checks that every bad packet is
 * answered with an error (or, past the fatal slot count, that the vif
 * alone is disabled), that the only frames on the evil TAP are the
 * markers byte for byte, that no write was refused by the kernel (netback
 * counts none dropped by the port; tun counts no frame error), that the
 * backend's log stays within its limit, and that the good vif carries
 * verified frames both ways throughout. Needs root (namespaces, TAP).
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

#include <pvio/domain.h>
#include <pvio/host.h>

#include "common.h" /* netback's private header */

#include "../netback/nb_test_fe.h"
#include "../netback/tap_helper.h"
#include "fault_log.h"

static char NS[32];

static int setup_more(struct env *e)
{
	(void)e;
	return tap_ns_create(NS, sizeof(NS), "flt-tap");
}

/* A failed case leaves its vifs running: the machine is then leaked,
 * not torn down under their threads. */
static bool machine_left;

static int teardown_ns(void **state)
{
	tap_ns_remove(NS);
	return machine_left ? 0 : teardown(state);
}

/* A failed case left its log capture open: show it (cmocka's message is
 * in it). */
static int case_teardown(void **s)
{
	(void)s;
	machine_left |= fault_case_unfinished(false);
	return 0;
}

static const uint8_t PEER[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x99 };

/* ---- a vif on a TAP port, and a packet socket on that TAP --------------------- */

/* The TAP is named ifname (this helper's prefix, flt) in the namespace. */
static struct tap_vif *tvif_new(pvio_domid_t fe, const char *mac, uint32_t devid,
				const char *ifname)
{
	char spec[128];
	const struct tap_vif_cfg c = { .run_dir = E->dir, .ts = &E->ts, .be = E->be,
				       .ns = NS, .fe = fe, .spec = spec, .max_queues = 1 };
	struct tap_vif *v;

	snprintf(spec, sizeof(spec), "mac=%s,devid=%u,vifname=%s", mac, devid, ifname);
	assert_int_equal(tap_vif_new(&c, &v), 0);
	assert_string_equal(pvio_netback_ifname(v->nb), ifname);
	return v;
}

static struct pvio_netback_stats stats(struct tap_vif *v)
{
	struct pvio_netback_stats st;

	pvio_netback_stats(v->nb, &st);
	return st;
}

/* One counter of a TAP device, as the kernel keeps it (tun counts a
 * write it refused, a bad virtio-net header say, as a frame error). */
static uint64_t if_counter(const struct tap_vif *v, const char *name)
{
	char cmd[256], line[64];
	unsigned long long n = ~0ull;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ip netns exec %s cat /sys/class/net/%s/statistics/%s",
		 NS, pvio_netback_ifname(v->nb), name);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fgets(line, sizeof(line), p))
		n = strtoull(line, NULL, 10);
	pclose(p);
	assert_true(n != ~0ull);
	return n;
}

/* The next frame on s (0: none within ms). Only frames the TAP received
 * from netback: what the namespace itself sends out is PACKET_OUTGOING. */
static size_t tap_recv(int s, uint8_t *buf, size_t size, unsigned ms)
{
	uint64_t end = pvio_now_ns() + (uint64_t)ms * 1000000u;

	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		n = recvfrom(s, buf, size, MSG_TRUNC, (struct sockaddr *)&from, &fl);
		if (n >= 0) {
			if (from.sll_pkttype == PACKET_OUTGOING)
				continue;
			assert_true((size_t)n <= size);
			return (size_t)n;
		}
		assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
		if (pvio_now_ns() >= end)
			return 0;
		(void)poll(&p, 1, 20);
	}
}

/* ---- the good guest: verified frames both ways --------------------------------- */

struct good {
	struct pvio_domain *d;
	struct tap_vif *v;
	struct fe f;
	unsigned rounds;
};

static struct good *good_up(void)
{
	struct good *g = calloc(1, sizeof(*g));
	struct fe_opts o = { 0 };

	assert_non_null(g);
	g->d = domain_new("tgood");
	g->v = tvif_new(g->d->domid, "00:16:3e:00:0f:01", 0, "flt-good");
	assert_int_equal(fe_connect(&g->f, g->d, 0, &o), 0);
	g->v->sock = tap_ns_packet_socket(NS, pvio_netback_ifname(g->v->nb), SOCK_NONBLOCK,
					&g->v->ifindex);
	return g;
}

static void good_round(struct good *g)
{
	uint8_t pkt[1200], got[4096];
	struct pvio_netif_tx_response rsp;
	struct sockaddr_ll to;
	struct rxinfo in;
	unsigned seed = g->rounds++;
	size_t n;

	/* guest -> TAP */
	eth_frame(pkt, sizeof(pkt), PEER, g->v->spec.mac, seed);
	(void)fe_tx(&g->f, 0, pkt, sizeof(pkt), sizeof(pkt), 0, 0);
	fe_tx_rsps(&g->f, 0, 1, &rsp);
	assert_int_equal(rsp.status, PVIO_NETIF_RSP_OKAY);
	n = tap_recv(g->v->sock, got, sizeof(got), WAIT_MS);
	assert_int_equal(n, sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));

	/* TAP -> guest */
	eth_frame(pkt, sizeof(pkt), g->v->spec.mac, PEER, seed + 1000);
	to = tap_ll_to(g->v->ifindex, g->v->spec.mac);
	fe_post_rx(&g->f, 0, 1);
	assert_int_equal(sendto(g->v->sock, pkt, sizeof(pkt), 0, (struct sockaddr *)&to,
				sizeof(to)), (ssize_t)sizeof(pkt));
	in = fe_rx_pkt(&g->f, 0, got, sizeof(got));
	assert_int_equal(in.len, sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
}

static void good_down(struct good *g)
{
	struct pvio_netback_stats st;

	good_round(g);
	st = stats(g->v);
	assert_false(st.broken);
	assert_int_equal(st.tx_err_grant + st.tx_err_size + st.tx_err_offset + st.tx_err_slots +
			 st.tx_err_extra + st.tx_err_gso + st.tx_err_csum + st.tx_drop_port +
			 st.rx_err_grant + st.err_protocol, 0);
	assert_int_equal(st.tx_packets, g->rounds);
	assert_int_equal(st.rx_packets, g->rounds);
	assert_int_equal(if_counter(g->v, "rx_frame_errors"), 0);
	assert_int_equal(if_counter(g->v, "rx_errors"), 0);
	fe_close(&g->f);
	pvio_domain_disconnect(g->d);
	tap_vif_free(g->v);
	free(g);
}

/* ---- the evil guest ------------------------------------------------------------- */

struct evil {
	struct pvio_domain *d;
	struct tap_vif *v;
	struct fe f;
	unsigned markers;   /* legitimate frames sent */
	unsigned refused;   /* packets answered with an error */
};

static void evil_up(struct evil *e)
{
	struct fe_opts o = { .gso4 = true };

	memset(e, 0, sizeof(*e));
	e->d = domain_new("tevil");
	e->v = tvif_new(e->d->domid, "00:16:3e:00:0f:02", 0, "flt-evil");
	assert_int_equal(fe_connect(&e->f, e->d, 0, &o), 0);
	e->v->sock = tap_ns_packet_socket(NS, pvio_netback_ifname(e->v->nb), SOCK_NONBLOCK,
					&e->v->ifindex);
}

static void evil_down(struct evil *e)
{
	(void)pvio_xenbus_detach(&e->f.x);
	pvio_domain_disconnect(e->d);
	tap_vif_free(e->v);
}

/*
 * Send a legitimate frame and check that it, and only it, reached the
 * TAP: whatever an attack before it might have made netback write would
 * be read first and differ.
 */
static void evil_marker(struct evil *e)
{
	uint8_t pkt[300], got[70000];
	struct pvio_netif_tx_response rsp;
	size_t n;

	eth_frame(pkt, sizeof(pkt), PEER, e->v->spec.mac, 200 + e->markers++);
	(void)fe_tx(&e->f, 0, pkt, sizeof(pkt), sizeof(pkt), 0, 0);
	fe_tx_rsps(&e->f, 0, 1, &rsp);
	assert_int_equal(rsp.status, PVIO_NETIF_RSP_OKAY);
	n = tap_recv(e->v->sock, got, sizeof(got), WAIT_MS);
	if (n != sizeof(pkt) || memcmp(got, pkt, sizeof(pkt)) != 0)
		fail_msg("the evil TAP got a %zu-byte frame that is not marker %u", n,
			 e->markers - 1);
	assert_int_equal(tap_recv(e->v->sock, got, sizeof(got), 0), 0);
}

/* Put one packet of n raw slots, `extras` of them extra info: every data
 * slot must be answered with an error, every extra with a NULL. */
static void evil_refused(struct evil *e, const char *what,
			 const struct pvio_netif_tx_request *r, uint32_t n, uint32_t extras)
{
	struct pvio_netif_tx_response rsp[NB_FATAL_SLOTS_LIMIT];
	uint32_t nulls = 0;

	fe_put_raw(&e->f, 0, r, n);
	fe_tx_rsps(&e->f, 0, n, rsp);
	for (uint32_t i = 0; i < n; i++) {
		if (rsp[i].status == PVIO_NETIF_RSP_NULL)
			nulls++;
		else if (rsp[i].status != PVIO_NETIF_RSP_ERROR)
			fail_msg("%s: response %u is %d, not an error", what, i,
				 rsp[i].status);
	}
	assert_int_equal(nulls, extras);
	e->refused++;
}

/* A slot of data page k (its bytes already there). */
static struct pvio_netif_tx_request slot(struct evil *e, uint32_t k, uint16_t off,
					 uint16_t size, uint16_t flags)
{
	return (struct pvio_netif_tx_request){ .gref = e->f.data_ref[k], .offset = off,
					       .id = e->f.next_id++, .size = size,
					       .flags = flags };
}

/* A GSO extra-info slot. */
static struct pvio_netif_tx_request gso_extra(uint16_t size, uint8_t type, uint8_t xtype)
{
	struct pvio_netif_extra_info x;
	struct pvio_netif_tx_request r;

	memset(&x, 0, sizeof(x));
	x.type = xtype;
	x.u.gso.size = size;
	x.u.gso.type = type;
	memset(&r, 0, sizeof(r));
	memcpy(&r, &x, sizeof(x));
	return r;
}

/* ---- the cases ------------------------------------------------------------------ */

static void bad_tx_requests_get_errors_and_nothing_malformed_reaches_the_tap(void **s)
{
	struct good *g = good_up();
	struct evil e;
	struct pvio_netback_stats st;
	struct pvio_netif_tx_request r[NB_FATAL_SLOTS_LIMIT];
	uint8_t *p0;
	unsigned n, secs;
	const uint16_t CB = PVIO_NETTXF_csum_blank | PVIO_NETTXF_data_validated;

	(void)s;
	evil_up(&e);
	p0 = pvio_domain_page(e.d, e.f.data_pfn);
	log_begin();
	evil_marker(&e);
	for (int round = 0; round < 3; round++) {
		/* -- bad requests -- */
		eth_frame(p0, 400, PEER, e.v->spec.mac, 7);
		r[0] = slot(&e, 0, 0, 400, 0);
		r[0].gref = 5000;                         /* never granted */
		evil_refused(&e, "never granted", r, 1, 0);
		r[0] = slot(&e, 0, 4000, 400, 0);         /* past its page */
		evil_refused(&e, "past its page", r, 1, 0);
		r[0] = slot(&e, 0, 0, 10, 0);             /* shorter than a header */
		evil_refused(&e, "runt", r, 1, 0);
		r[0] = slot(&e, 0, 0, 100, PVIO_NETTXF_more_data); /* the rest is longer */
		r[1] = slot(&e, 1, 0, 300, 0);
		evil_refused(&e, "sizes do not add up", r, 2, 0);
		evil_marker(&e);

		/* -- GSO extras: a real TCPv4 frame, absurd GSO sizes and types -- */
		tcp_frame(p0, 1400, PEER, e.v->spec.mac);
		static const struct { uint16_t size; uint8_t type; uint8_t xtype; } gx[] = {
			{ 0, PVIO_NETIF_GSO_TYPE_TCPV4, PVIO_NETIF_EXTRA_TYPE_GSO },
			{ 0xffff, PVIO_NETIF_GSO_TYPE_TCPV4, PVIO_NETIF_EXTRA_TYPE_GSO },
			{ 1400, 99, PVIO_NETIF_EXTRA_TYPE_GSO },
			{ 1400, PVIO_NETIF_GSO_TYPE_NONE, PVIO_NETIF_EXTRA_TYPE_GSO },
			{ 1400, PVIO_NETIF_GSO_TYPE_TCPV6, PVIO_NETIF_EXTRA_TYPE_GSO },
			{ 1400, PVIO_NETIF_GSO_TYPE_TCPV4, 0 },   /* extra of type none */
			{ 1400, PVIO_NETIF_GSO_TYPE_TCPV4, 200 }, /* of an unknown type */
		};
		for (size_t i = 0; i < sizeof(gx) / sizeof(gx[0]); i++) {
			char what[64];

			snprintf(what, sizeof(what), "GSO extra type %u, GSO type %u, size %u",
				 gx[i].xtype, gx[i].type, gx[i].size);
			r[0] = slot(&e, 0, 0, 1400, CB | PVIO_NETTXF_extra_info);
			r[1] = gso_extra(gx[i].size, gx[i].type, gx[i].xtype);
			evil_refused(&e, what, r, 2, 1);
		}
		/* GSO asked on a UDP frame */
		p0[23] = 17;
		r[0] = slot(&e, 0, 0, 1400, CB | PVIO_NETTXF_extra_info);
		r[1] = gso_extra(1000, PVIO_NETIF_GSO_TYPE_TCPV4, PVIO_NETIF_EXTRA_TYPE_GSO);
		evil_refused(&e, "GSO on UDP", r, 2, 1);
		evil_marker(&e);

		/* -- over the slot limit (18) but under the fatal count (20) -- */
		eth_frame(p0, 100, PEER, e.v->spec.mac, 8);
		for (uint32_t k = 0; k < 19; k++)
			r[k] = slot(&e, k, 0, k == 0 ? 19 * 100 : 100,
				    k < 18 ? PVIO_NETTXF_more_data : 0);
		evil_refused(&e, "19 slots", r, 19, 0);
		evil_marker(&e);

		/* -- checksum offload asked with a header too short to hold it -- */
		tcp_frame(p0, 200, PEER, e.v->spec.mac);
		r[0] = slot(&e, 0, 0, 20, CB);            /* 6 bytes of IPv4 */
		evil_refused(&e, "csum: 6 bytes of IPv4", r, 1, 0);
		r[0] = slot(&e, 0, 0, 34 + 10, CB);       /* TCP header cut at 10 bytes */
		evil_refused(&e, "csum: TCP header cut", r, 1, 0);
		p0[14] = 0x4f;                            /* IHL 60 bytes in a 50-byte frame */
		r[0] = slot(&e, 0, 0, 50, CB);
		evil_refused(&e, "csum: IHL past the end", r, 1, 0);
		p0[14] = 0x45;
		p0[12] = 0x88;                            /* not IP at all */
		p0[13] = 0xb5;
		r[0] = slot(&e, 0, 0, 200, CB);
		evil_refused(&e, "csum: not IP", r, 1, 0);
		evil_marker(&e);
		good_round(g);
	}
	n = log_end("refused", &secs);
	st = stats(e.v);
	print_message("TAP: %u bad tx packets refused (grant %llu, offset %llu, size %llu, "
		      "slots %llu, extra %llu, gso %llu, csum %llu), %u markers on the TAP and "
		      "nothing else, %u log lines in %u s\n", e.refused,
		      (unsigned long long)st.tx_err_grant, (unsigned long long)st.tx_err_offset,
		      (unsigned long long)st.tx_err_size, (unsigned long long)st.tx_err_slots,
		      (unsigned long long)st.tx_err_extra, (unsigned long long)st.tx_err_gso,
		      (unsigned long long)st.tx_err_csum, e.markers, n, secs);
	assert_int_equal(st.tx_err_grant + st.tx_err_offset + st.tx_err_size + st.tx_err_slots +
			 st.tx_err_extra + st.tx_err_gso + st.tx_err_csum, e.refused);
	assert_int_equal(st.tx_err_slots, 3);
	assert_int_equal(st.tx_packets, e.markers);
	assert_int_equal(st.tx_drop_port, 0);     /* the TAP refused no write */
	assert_false(st.broken);
	assert_int_equal(if_counter(e.v, "rx_frame_errors"), 0);
	assert_int_equal(if_counter(e.v, "rx_errors"), 0);
	assert_true(n >= 1 && n <= 10 * (secs + 1));
	evil_down(&e);
	good_down(g);
}

/* Past the fatal slot count: the evil vif is disabled (Closed, broken),
 * nothing of the chain reaches its TAP, the good vif goes on. */
static void a_packet_past_the_fatal_slot_count_disables_only_that_vif(void **s)
{
	struct good *g = good_up();
	struct evil e;
	struct pvio_netback_stats st;
	struct pvio_netif_tx_request r[NB_FATAL_SLOTS_LIMIT];
	uint8_t got[70000];
	unsigned n;

	(void)s;
	evil_up(&e);
	log_begin();
	evil_marker(&e);
	eth_frame(pvio_domain_page(e.d, e.f.data_pfn), 100, PEER, e.v->spec.mac, 9);
	for (uint32_t k = 0; k < 24; k++)
		r[k] = slot(&e, k, 0, k == 0 ? 24 * 100 : 100, k < 23 ? PVIO_NETTXF_more_data : 0);
	fe_put_raw(&e.f, 0, r, 24);
	assert_int_equal(pvio_netback_wait_state(e.v->nb, PVIO_XENBUS_CLOSED, WAIT_MS), 0);
	good_round(g);
	n = log_end("vif disabled", NULL);
	st = stats(e.v);
	assert_true(st.broken);
	assert_int_equal(st.tx_fatal, 1);
	assert_int_equal(st.tx_packets, e.markers);
	assert_int_equal(st.tx_drop_port, 0);
	assert_int_equal(n, 1);
	assert_int_equal(tap_recv(e.v->sock, got, sizeof(got), 200), 0);
	assert_int_equal(if_counter(e.v, "rx_frame_errors"), 0);
	for (int i = 0; i < 5; i++)
		good_round(g);
	evil_down(&e);
	good_down(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(bad_tx_requests_get_errors_and_nothing_malformed_reaches_the_tap,
					  case_teardown),
		cmocka_unit_test_teardown(a_packet_past_the_fatal_slot_count_disables_only_that_vif,
					  case_teardown),
	};
	return cmocka_run_group_tests(tests, setup, teardown_ns);
}
