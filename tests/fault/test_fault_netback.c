/* SPDX-License-Identifier: MIT */
/*
 * A frontend that breaks every rule, against the real netback, in one
 * process: hostd in threads mode, the driver domain serving two vifs on
 * DPDK ring ports (rte_eth_from_rings: the test plays the wire). The
 * "good" guest's traffic, both ways and checked byte for byte, runs
 * between and during the attacks of the "evil" guest; each case checks
 * the evil guest's packets are refused or dropped (counted, logged within
 * the rate limit), or only its vif is disabled, and that the good guest
 * never noticed.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <pvio/domain.h>
#include <pvio/host.h>

#include "common.h" /* netback's private header */

#include "../netback/nb_test_fe.h"
#include "fault_log.h"

static int setup_more(struct env *e)
{
	char args[160];
	int rc;

	snprintf(args, sizeof(args), "--no-huge --no-pci -m 512 --no-shconf --no-telemetry "
		 "--file-prefix=pvio-fault-%d --log-level=error", (int)getpid());
	rc = pvio_netback_dpdk_init(args);
	if (rc != 0 && rc != -EALREADY)
		return rc;
	e->mp = rte_pktmbuf_pool_create("fault", 4095, 0, 0, 8192 + RTE_PKTMBUF_HEADROOM,
					SOCKET_ID_ANY);
	return e->mp ? 0 : -ENOMEM;
}

static const uint8_t PEER[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x99 };

/* ---- a vif on a ring port ---------------------------------------------------- */

struct vif {
	struct pvio_xs_host host;
	struct pvio_xs xs;
	struct pvio_xs_event ev[16];
	struct pvio_netback_vif_spec spec;
	struct pvio_netback *nb;
	struct rte_ring *rxr, *txr; /* the wire: we enqueue rx, dequeue tx */
	char dev[RTE_ETH_NAME_MAX_LEN];
};

static void small_rx_queue(struct pvio_netback_config *c)
{
	c->rx_queue_max_pkts = 32;
	c->rx_queue_max_bytes = 32 * 1024;
	c->rx_drain_timeout_ms = 200;
}

static struct vif *vif_new(pvio_domid_t fe, const char *mac,
			   void (*tweak)(struct pvio_netback_config *))
{
	struct vif *v = calloc(1, sizeof(*v));
	struct pvio_netback_config cfg = { 0 };
	char name[32], spec[64], err[128];
	struct pvio_xenbus_kv fk[1] = { { .key = "mac", .value = mac } };
	struct pvio_xenbus_device_keys keys = { .frontend = fk, .nr_frontend = 1 };
	int id = E->seq++, port;

	assert_non_null(v);
	snprintf(name, sizeof(name), "flt%d_rx", id);
	v->rxr = rte_ring_create(name, 1024, SOCKET_ID_ANY, 0);
	snprintf(name, sizeof(name), "flt%d_tx", id);
	v->txr = rte_ring_create(name, 1024, SOCKET_ID_ANY, 0);
	assert_non_null(v->rxr);
	assert_non_null(v->txr);
	snprintf(name, sizeof(name), "flt%d", id);
	port = rte_eth_from_rings(name, &v->rxr, 1, &v->txr, 1, SOCKET_ID_ANY);
	assert_true(port >= 0);
	assert_int_equal(rte_eth_dev_get_name_by_port((uint16_t)port, v->dev), 0);

	snprintf(spec, sizeof(spec), "mac=%s", mac);
	assert_int_equal(pvio_netback_vif_spec_parse(spec, &v->spec, err, sizeof(err)), 0);
	assert_int_equal(pvio_xenbus_device_create(&E->ts, "vif", 0, fe, v->spec.devid,
						   &keys), 0);
	xs_connect(&v->host, &v->xs, v->ev, 16);
	pvio_netback_config_from_domain(&cfg, E->be);
	cfg.fe = fe;
	cfg.xs = &v->xs;
	cfg.vif = &v->spec;
	cfg.port = "dpdk";
	cfg.port_dev = v->dev;
	cfg.max_queues = 1;
	if (tweak)
		tweak(&cfg);
	assert_int_equal(pvio_netback_create(&cfg, &v->nb), 0);
	assert_int_equal(pvio_netback_start(v->nb), 0);
	return v;
}

static void vif_free(struct vif *v)
{
	pvio_netback_destroy(v->nb);
	pvio_xs_host_close(&v->host);
	free(v);
}

static struct pvio_netback_stats stats(struct vif *v)
{
	struct pvio_netback_stats st;

	pvio_netback_stats(v->nb, &st);
	return st;
}

static void inject(struct rte_ring *r, const uint8_t *data, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc((struct rte_mempool *)E->mp);

	assert_non_null(m);
	pvio_tsan_acquire(m);
	memcpy(rte_pktmbuf_append(m, (uint16_t)len), data, len);
	pvio_tsan_release(m);
	assert_int_equal(rte_ring_enqueue(r, m), 0);
}

static struct rte_mbuf *take(struct rte_ring *r, unsigned ms)
{
	void *m = NULL;
	uint64_t end = pvio_now_ns() + (uint64_t)ms * 1000000u;

	while (rte_ring_dequeue(r, &m) != 0) {
		if (pvio_now_ns() > end)
			return NULL;
		msleep(1);
	}
	pvio_tsan_acquire(m); /* DPDK's hand-over, for TSan (<pvio/tsan.h>) */
	return m;
}

static uint32_t mbuf_bytes(const struct rte_mbuf *m, uint8_t *buf, size_t size)
{
	uint32_t n = 0;

	for (; m; m = m->next) {
		assert_true(n + m->data_len <= size);
		memcpy(buf + n, rte_pktmbuf_mtod(m, const void *), m->data_len);
		n += m->data_len;
	}
	return n;
}

/* Send one frame of len bytes from f to v's wire and check it arrived
 * whole; zero-copy packets are answered once the wire freed the mbuf. */
static void tx_verified(struct fe *f, struct vif *v, const uint8_t *pkt, uint32_t len)
{
	uint8_t got[4096];
	struct pvio_netif_tx_response rsp;
	struct rte_mbuf *m;

	(void)fe_tx(f, 0, pkt, len, len, 0, 0);
	m = take(v->txr, WAIT_MS);
	assert_non_null(m);
	assert_int_equal(mbuf_bytes(m, got, sizeof(got)), len);
	assert_memory_equal(got, pkt, len);
	rte_pktmbuf_free(m);
	fe_tx_rsps(f, 0, 1, &rsp);
	assert_int_equal(rsp.status, PVIO_NETIF_RSP_OKAY);
}

/* ---- the good guest ---------------------------------------------------------- */

struct good {
	struct pvio_domain *d;
	struct vif *v;
	struct fe f;
	unsigned rounds;
};

static struct good *good_up(void)
{
	struct good *g = calloc(1, sizeof(*g));
	struct fe_opts o = { 0 };

	assert_non_null(g);
	g->d = domain_new("good");
	g->v = vif_new(g->d->domid, "00:16:3e:00:00:01", NULL);
	assert_int_equal(fe_connect(&g->f, g->d, 0, &o), 0);
	return g;
}

/* One verified packet each way: guest -> wire, wire -> guest. */
static void good_round(struct good *g)
{
	uint8_t pkt[1200], got[4096];
	struct rxinfo in;
	unsigned seed = g->rounds++;

	eth_frame(pkt, sizeof(pkt), PEER, g->v->spec.mac, seed);
	tx_verified(&g->f, g->v, pkt, sizeof(pkt));

	eth_frame(pkt, sizeof(pkt), g->v->spec.mac, PEER, seed + 1000);
	fe_post_rx(&g->f, 0, 1);
	inject(g->v->rxr, pkt, sizeof(pkt));
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
	assert_int_equal(st.tx_err_grant + st.tx_err_size + st.tx_err_offset + st.rx_err_grant +
			 st.rx_drop_stall + st.rx_drop_full + st.err_protocol, 0);
	assert_int_equal(st.tx_packets, g->rounds);
	assert_int_equal(st.rx_packets, g->rounds);
	fe_close(&g->f);
	pvio_domain_disconnect(g->d);
	vif_free(g->v);
	free(g);
}

/* ---- the cases --------------------------------------------------------------- */

static void guest_posting_no_rx_buffers_is_capped_and_dropped(void **s)
{
	struct good *g = good_up();
	struct pvio_domain *d = domain_new("norx");
	struct vif *v = vif_new(d->domid, "00:16:3e:00:00:02", small_rx_queue);
	struct fe f;
	struct fe_opts o = { 0 };
	struct pvio_netback_stats st;
	uint8_t pkt[1500];
	uint32_t peak_pkts = 0;
	uint64_t peak_bytes = 0, end;
	unsigned n, secs;
	const int total = 1500;

	(void)s;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	log_begin();
	eth_frame(pkt, sizeof(pkt), v->spec.mac, PEER, 3);
	for (int i = 0; i < total; i++) {
		while (rte_ring_full(v->rxr))
			msleep(1);
		inject(v->rxr, pkt, sizeof(pkt));
		st = stats(v);
		if (st.rx_queued_pkts > peak_pkts)
			peak_pkts = (uint32_t)st.rx_queued_pkts;
		if (st.rx_queued_bytes > peak_bytes)
			peak_bytes = st.rx_queued_bytes;
		if (i % 100 == 0)
			good_round(g);
	}
	end = pvio_now_ns() + (uint64_t)WAIT_MS * 1000000u;
	do {
		good_round(g);
		st = stats(v);
	} while (st.rx_drop_stall + st.rx_drop_full < (uint64_t)total && pvio_now_ns() < end);
	n = log_end("posted no rx buffers", &secs);
	print_message("no rx buffers: %d packets for the guest, queue peak %u packets / %llu "
		      "bytes (caps 32 / 32768), %llu dropped at the cap, %llu after the 200 ms "
		      "timeout, %u log lines in %u s\n", total, peak_pkts,
		      (unsigned long long)peak_bytes, (unsigned long long)st.rx_drop_full,
		      (unsigned long long)st.rx_drop_stall, n, secs);
	assert_true(peak_pkts <= 32);
	assert_true(peak_bytes <= 32 * 1024);
	assert_int_equal(st.rx_drop_stall + st.rx_drop_full, total);
	assert_true(st.rx_drop_stall > 0);
	assert_int_equal(st.rx_packets, 0);
	assert_int_equal(st.rx_queued_pkts, 0);
	assert_false(st.broken);
	assert_true(n >= 1 && n <= 10 * (secs + 1));
	/* Once it posts buffers it receives again. */
	{
		uint8_t got[2048];
		struct rxinfo in;

		fe_post_rx(&f, 0, 1);
		eth_frame(pkt, 100, v->spec.mac, PEER, 4);
		inject(v->rxr, pkt, 100);
		in = fe_rx_pkt(&f, 0, got, sizeof(got));
		assert_int_equal(in.len, 100);
		assert_memory_equal(got, pkt, 100);
	}
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
	good_down(g);
}

static void bad_tx_and_rx_grants_and_shapes_are_refused_and_logged(void **s)
{
	struct good *g = good_up();
	struct pvio_domain *d = domain_new("badtx");
	struct vif *v = vif_new(d->domid, "00:16:3e:00:00:03", NULL);
	struct fe f;
	struct fe_opts o = { 0 };
	struct pvio_netback_stats st;
	pvio_grant_ref_t other;
	uint32_t pfn;
	unsigned n, secs, refused = 0;
	uint8_t pkt[200];

	(void)s;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	assert_int_equal(pvio_domain_page_alloc(d, 1, &pfn), 0);
	assert_int_equal(pvio_gnt_grant(d->gnt, g->d->domid, pfn, true, &other), 0);
	eth_frame(pvio_domain_page(d, f.data_pfn), 200, PEER, v->spec.mac, 5);
	log_begin();
	for (int round = 0; round < 60; round++) {
		static const pvio_grant_ref_t bad_refs[] = { 0x7fffffffu, 0xffffffffu, 5000 };
		struct pvio_netif_tx_request r[6];
		struct pvio_netif_tx_response rsp[6];

		for (int k = 0; k < 6; k++)
			r[k] = (struct pvio_netif_tx_request){ .gref = f.data_ref[0], .offset = 0,
							       .id = f.next_id++, .size = 200 };
		r[0].gref = bad_refs[round % 3];         /* out of range / never granted */
		r[1].gref = other;                       /* granted to another domain */
		r[2].offset = 4000;                      /* past the page */
		r[3].size = 10;                          /* shorter than a header */
		r[4].size = 1500;                        /* bigger than its one slot */
		r[4].offset = 3000;
		fe_put_raw(&f, 0, r, 5);
		fe_tx_rsps(&f, 0, 5, rsp);
		/* Refused shapes are answered at once, failed grants after
		 * the batch's grant ops: match the answers by id. */
		for (int k = 0; k < 5; k++) {
			int found = 0;

			for (int j = 0; j < 5; j++)
				found += rsp[j].id == r[k].id;
			assert_int_equal(found, 1);
			assert_int_equal(rsp[k].status, PVIO_NETIF_RSP_ERROR);
		}
		refused += 5;
		if (round % 10 == 0)
			good_round(g);
	}
	/* rx: buffers whose grants are bogus: the packets are dropped with an
	 * error response, the vif lives */
	for (int i = 0; i < 20; i++) {
		struct pvio_netif_rx_request rq = { .id = (uint16_t)i, .gref = 0x7ffffff0u };
		struct pvio_netif_rx_response rr;

		assert_int_equal(pvio_ring_front_put_req(&f.q[0].rx, &rq, sizeof(rq)), 0);
		if (pvio_ring_front_push(&f.q[0].rx) == 1)
			fe_kick(&f, f.q[0].port_rx);
		eth_frame(pkt, sizeof(pkt), v->spec.mac, PEER, (unsigned)i);
		inject(v->rxr, pkt, sizeof(pkt));
		rr = fe_rx_rsp(&f, 0);
		assert_int_equal(rr.id, i);
		assert_true(rr.status < 0);
	}
	n = log_end("refused", &secs);
	st = stats(v);
	print_message("bad tx/rx: %u tx packets refused (%llu grant, %llu offset, %llu size), "
		      "%llu rx buffers refused, %u log lines in %u s\n", refused,
		      (unsigned long long)st.tx_err_grant, (unsigned long long)st.tx_err_offset,
		      (unsigned long long)st.tx_err_size, (unsigned long long)st.rx_err_grant,
		      n, secs);
	assert_int_equal(st.tx_err_grant + st.tx_err_offset + st.tx_err_size, refused);
	assert_int_equal(st.tx_err_grant, 2 * 60);
	assert_int_equal(st.rx_err_grant, 20);
	assert_int_equal(st.tx_packets, 0);
	assert_false(st.broken);
	assert_true(n >= 1 && n <= 10 * (secs + 1));
	/* Nothing bad reached the wire. */
	assert_int_equal(rte_ring_count(v->txr), 0);
	/* And a good packet from the same guest still goes out. */
	eth_frame(pkt, sizeof(pkt), PEER, v->spec.mac, 9);
	tx_verified(&f, v, pkt, sizeof(pkt));
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
	good_down(g);
}

static void ring_attack(struct good *g, const char *name, const char *mac, bool rx)
{
	struct pvio_domain *d = domain_new(name);
	struct vif *v = vif_new(d->domid, mac, NULL);
	struct fe f;
	struct fe_opts o = { 0 };
	struct pvio_netback_stats st;
	struct pvio_ring_front *r;
	uint8_t pkt[100];

	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	r = rx ? &f.q[0].rx : &f.q[0].tx;
	pvio_store_release(&r->sring->req_prod, r->req_prod_pvt + r->nr_slots + 7);
	fe_kick(&f, f.q[0].port_tx);
	if (rx) { /* the backend looks at the rx ring when it has a packet */
		eth_frame(pkt, sizeof(pkt), v->spec.mac, PEER, 1);
		inject(v->rxr, pkt, sizeof(pkt));
	}
	assert_int_equal(pvio_netback_wait_state(v->nb, PVIO_XENBUS_CLOSED, WAIT_MS), 0);
	st = stats(v);
	assert_true(st.broken);
	assert_int_equal(st.err_protocol, 1);
	for (int i = 0; i < 1000; i++)
		fe_kick(&f, f.q[0].port_tx);
	good_round(g);
	assert_int_equal(stats(v).err_protocol, 1);
	(void)pvio_xenbus_detach(&f.x);
	pvio_domain_disconnect(d);
	vif_free(v);
}

static void tx_or_rx_indices_out_of_range_disable_only_that_vif(void **s)
{
	struct good *g = good_up();
	unsigned n;

	(void)s;
	log_begin();
	ring_attack(g, "evtx", "00:16:3e:00:00:04", false);
	ring_attack(g, "evrx", "00:16:3e:00:00:05", true);
	n = log_end("vif disabled", NULL);
	assert_int_equal(n, 2); /* once per vif */
	good_down(g);
}

/*
 * A frontend whose ring refs or event channel are garbage: that vif fails
 * its connect (Closed, an error node, logged) at once rather than sitting
 * in InitWait, and the good guest never notices.
 */
static void garbage_handshake_keys_fail_only_that_vif(void **s)
{
	static const char *const lies[][2] = {
		{ "tx-ring-ref", "12abc" }, { "rx-ring-ref", "" },
		{ "event-channel", "99999999999" }, { "tx-ring-ref", "4000" },
	};
	struct good *g = good_up();
	unsigned n;

	(void)s;
	log_begin();
	for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
		struct pvio_domain *d = domain_new("liar");
		char mac[18];
		struct vif *v;
		struct pvio_xenbus_device x;
		enum pvio_xenbus_state st;
		char path[PVIO_XENBUS_PATH_MAX + 32], msg[256];
		uint32_t pfn, port;
		pvio_grant_ref_t ref;
		static const char *const keys[] = { "tx-ring-ref", "rx-ring-ref", "event-channel" };

		snprintf(mac, sizeof(mac), "00:16:3e:00:01:%02x", (unsigned)i);
		v = vif_new(d->domid, mac, NULL);
		assert_int_equal(pvio_xenbus_frontend_attach(&x, d->xs, "vif", d->domid, 0), 0);
		assert_int_equal(pvio_xenbus_wait_otherend(&x, BIT(INIT_WAIT), WAIT_MS, &st), 0);
		assert_int_equal(pvio_domain_page_alloc(d, 1, &pfn), 0);
		assert_int_equal(pvio_gnt_grant(d->gnt, 0, pfn, false, &ref), 0);
		assert_int_equal(pvio_evtchn_alloc_unbound(d->evtchn, 0, &port), 0);
		for (int k = 0; k < 3; k++) {
			char val[16];

			snprintf(val, sizeof(val), "%u", k == 2 ? port : ref);
			if (!strcmp(keys[k], lies[i][0]))
				snprintf(val, sizeof(val), "%s", lies[i][1]);
			assert_int_equal(pvio_xs_join(path, sizeof(path), x.nodename, keys[k]), 0);
			assert_int_equal(pvio_xs_write(d->xs, 0, path, val), 0);
		}
		assert_int_equal(pvio_xs_join(path, sizeof(path), x.nodename, "request-rx-copy"), 0);
		assert_int_equal(pvio_xs_write(d->xs, 0, path, "1"), 0);
		assert_int_equal(pvio_xenbus_switch_state(&x, PVIO_XENBUS_CONNECTED), 0);
		assert_int_equal(pvio_netback_wait_state(v->nb, PVIO_XENBUS_CLOSED, WAIT_MS), 0);
		snprintf(path, sizeof(path), "%s/error", x.otherend);
		assert_int_equal(pvio_xs_read(&E->ts, 0, path, msg, sizeof(msg), NULL), 0);
		assert_int_equal(stats(v).nr_queues, 0);
		good_round(g);
		(void)pvio_xenbus_detach(&x);
		pvio_domain_disconnect(d);
		vif_free(v);
	}
	n = log_end("netback", NULL);
	assert_true(n >= 4);
	good_down(g);
}

/*
 * A thread rewrites the offset and size of every tx slot while netback
 * reads them (they do not overlap the 4-byte responses written back into
 * the same slots). Valid values: offset 0 or 100, size 200, 1200 or
 * 3000; invalid: offset 4090, size 8. Each request must be answered
 * OKAY or ERROR and each frame that reached the wire must be the page's
 * bytes from a valid offset: a backend that checked one read and used
 * another would send bytes from past the checked range.
 */
struct flipper {
	struct pvio_ring_front *ring;
	_Atomic uint32_t target; /* the slot index being published */
	_Atomic bool stop;
};

/* Its writes race with both ends' reads of the slot by design: that is
 * the attack. Not instrumented, so TSan reports only races of the
 * drivers themselves. */
__attribute__((no_sanitize("thread")))
static void *flipper_main(void *arg)
{
	struct flipper *fl = arg;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	while (!atomic_load_explicit(&fl->stop, memory_order_relaxed)) {
		/* Hammer the slot being published and its neighbour. */
		for (uint32_t j = 0; j < 2; j++) {
			uint32_t i = (atomic_load_explicit(&fl->target, memory_order_relaxed) + j) &
				     (fl->ring->nr_slots - 1);
			volatile struct pvio_netif_tx_request *r =
				(volatile struct pvio_netif_tx_request *)
				(fl->ring->slots + i * fl->ring->slot_size);

			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			r->offset = (x & 3) == 0 ? 4090 : (x & 1) ? 0 : 100;
			r->size = (x & 12) == 0 ? 8 : (x & 16) ? 3000 : (x & 32) ? 200 : 1200;
		}
	}
	return NULL;
}

static void tx_slots_rewritten_while_read_send_one_consistent_copy(void **s)
{
	struct good *g = good_up();
	struct pvio_domain *d = domain_new("racer");
	struct vif *v = vif_new(d->domid, "00:16:3e:00:00:06", NULL);
	struct fe f;
	struct fe_opts o = { 0 };
	struct flipper fl = { 0 };
	pthread_t t;
	uint8_t *page, got[4096];
	unsigned okay = 0, err = 0, wire = 0;
	uint64_t t0;

	(void)s;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	page = pvio_domain_page(d, f.data_pfn);
	/* A page whose every byte says where it is, with a valid Ethernet
	 * header at both valid offsets. */
	for (int i = 0; i < 4096; i++)
		page[i] = (uint8_t)(i * 7 + i / 256);
	for (int off = 0; off <= 100; off += 100) {
		memcpy(page + off, PEER, 6);
		memcpy(page + off + 6, v->spec.mac, 6);
	}
	fl.ring = &f.q[0].tx;
	log_begin();
	assert_int_equal(pthread_create(&t, NULL, flipper_main, &fl), 0);
	t0 = pvio_now_ns();
	/* 300 to 3000 packets in about 1.5 s, longer (up to 10 s) until the
	 * flipper has won at least one race. */
	for (int i = 0; (i < 3000 && (i < 300 || pvio_now_ns() - t0 < 1500000000ull)) ||
			(err == 0 && pvio_now_ns() - t0 < 10000000000ull); i++) {
		struct pvio_netif_tx_request r = { .gref = f.data_ref[0], .offset = 0,
						   .id = f.next_id++, .size = 200 };
		struct pvio_netif_tx_response rsp;
		struct rte_mbuf *m;

		uint64_t end;

		atomic_store(&fl.target, f.q[0].tx.req_prod_pvt);
		fe_put_raw(&f, 0, &r, 1);
		/* Drain the wire while waiting: zero-copy packets are
		 * answered only once their mbuf is freed. */
		end = pvio_now_ns() + (uint64_t)WAIT_MS * 1000000u;
		for (;;) {
			while ((m = take(v->txr, 0)) != NULL) {
				uint32_t len = mbuf_bytes(m, got, sizeof(got));
				bool match = false;

				for (int off = 0; off <= 100 && !match; off += 100)
					match = (len == 200 || len == 1200 || len == 3000) &&
						memcmp(got, page + off, len) == 0;
				rte_pktmbuf_free(m);
				if (!match)
					fail_msg("a %u-byte frame not from a checked offset", len);
				wire++;
			}
			if (fe_try_tx_rsp(&f, 0, &rsp) == 1)
				break;
			if (pvio_now_ns() > end)
				fail_msg("no tx response");
		}
		assert_int_equal(rsp.id, r.id);
		if (rsp.status == PVIO_NETIF_RSP_OKAY)
			okay++;
		else if (rsp.status == PVIO_NETIF_RSP_ERROR)
			err++;
		else
			fail_msg("tx status %d", rsp.status);
	}
	atomic_store(&fl.stop, true);
	pthread_join(t, NULL);
	(void)log_end("refused", NULL);
	{
		struct rte_mbuf *m;

		while ((m = take(v->txr, 200)) != NULL) {
			rte_pktmbuf_free(m);
			wire++;
		}
	}
	print_message("tx double fetch: %u sent (%u ok, %u refused), %u frames on the wire\n",
		      okay + err, okay, err, wire);
	assert_true(err > 0);
	assert_int_equal(wire + stats(v).tx_drop_port + stats(v).tx_drop_spoof, okay);
	assert_false(stats(v).broken);
	good_round(g);
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
	good_down(g);
}

/*
 * The driver domain's grant mappings run out: tx packets that netback
 * would map (zero copy) are answered with an error at once, small ones
 * it copies (no mapping needed) still go out; rx packets (from port
 * memory: the guest's buffer would be mapped for a memcpy) fall back to a
 * grant copy through netback's own bounce frames and arrive intact, one
 * page or several, one at a time or a ring's worth at once; nothing
 * stalls, no vif breaks, and all serves again once mappings are free.
 */
static void maptrack_exhausted_falls_back_to_copy_never_stalls(void **s)
{
	struct good *g = good_up();
	struct maptrack_hog hog;
	static uint8_t big[1400], small[100], in[8000], got[8192];
	const uint32_t burst = 24;
	uint64_t t0;

	(void)s;
	(void)maptrack_fill(&hog, E->be->gnt_back, g->d->gnt, g->d->domid, 0,
			    g->f.data_pfn + NDATA - 1);
	log_begin();
	t0 = pvio_now_ns();
	eth_frame(big, sizeof(big), PEER, g->v->spec.mac, 1);
	eth_frame(small, sizeof(small), PEER, g->v->spec.mac, 2);
	for (int i = 0; i < 20; i++) {
		struct pvio_netif_tx_response rsp;
		struct rxinfo ri;
		uint32_t len = i % 2 ? 1400 : 8000; /* one page, two pages */

		(void)fe_tx(&g->f, 0, big, sizeof(big), sizeof(big), 0, 0);
		fe_tx_rsps(&g->f, 0, 1, &rsp);
		assert_int_equal(rsp.status, PVIO_NETIF_RSP_ERROR);
		tx_verified(&g->f, g->v, small, sizeof(small));
		eth_frame(in, len, g->v->spec.mac, PEER, (unsigned)i);
		fe_post_rx(&g->f, 0, 2);
		inject(g->v->rxr, in, len);
		ri = fe_rx_pkt(&g->f, 0, got, sizeof(got));
		assert_int_equal(ri.len, len);
		assert_memory_equal(got, in, len);
	}
	/* A burst the queue thread takes in one round: every packet its own
	 * fallback copy, in order, none held back. */
	fe_post_rx(&g->f, 0, burst);
	for (uint32_t i = 0; i < burst; i++) {
		eth_frame(in, 1000 + i, g->v->spec.mac, PEER, 100 + i);
		inject(g->v->rxr, in, 1000 + i);
	}
	for (uint32_t i = 0; i < burst; i++) {
		struct rxinfo ri = fe_rx_pkt(&g->f, 0, got, sizeof(got));

		eth_frame(in, 1000 + i, g->v->spec.mac, PEER, 100 + i);
		assert_int_equal(ri.len, 1000 + i);
		assert_memory_equal(got, in, 1000 + i);
	}
	assert_true(pvio_now_ns() - t0 < 20ull * WAIT_MS * 1000000ull);
	(void)log_end("refused", NULL);
	assert_int_equal(stats(g->v).tx_err_grant, 20);
	assert_int_equal(stats(g->v).rx_err_grant, 0);
	assert_int_equal(stats(g->v).rx_copy_fallback, 20 + burst);
	assert_int_equal(stats(g->v).rx_packets, 20 + burst);
	assert_false(stats(g->v).broken);
	maptrack_release(&hog);
	tx_verified(&g->f, g->v, big, sizeof(big));
	{
		struct rxinfo ri;

		eth_frame(in, 1400, g->v->spec.mac, PEER, 77);
		fe_post_rx(&g->f, 0, 1);
		inject(g->v->rxr, in, 1400);
		ri = fe_rx_pkt(&g->f, 0, got, sizeof(got));
		assert_int_equal(ri.len, 1400);
		assert_memory_equal(got, in, 1400);
		/* mapped again, not copied: the fallback is for shortage only */
		assert_int_equal(stats(g->v).rx_copy_fallback, 20 + burst);
	}
	/* good_down() counts this guest's errors: these 20 were the test's. */
	fe_close(&g->f);
	pvio_domain_disconnect(g->d);
	vif_free(g->v);
	free(g);
}

/*
 * The guest revokes a tx packet's grant right after posting it: either
 * the revoke wins (the packet is refused) or netback does (the page is
 * mapped: the revoke says -EBUSY until the wire let go of the frame,
 * which then is the guest's bytes). Never a hang, never a stale mapping.
 */
static void tx_grant_revoked_mid_packet_fails_or_completes_cleanly(void **s)
{
	struct good *g = good_up();
	struct pvio_domain *d = domain_new("revoker");
	struct vif *v = vif_new(d->domid, "00:16:3e:00:00:08", NULL);
	struct fe f;
	struct fe_opts o = { 0 };
	unsigned ok = 0, refused = 0, busy = 0;

	(void)s;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	log_begin();
	for (int i = 0; i < 100; i++) {
		uint32_t k = (uint32_t)i % 8;
		uint8_t *page = pvio_domain_page(d, f.data_pfn + k), got[2048];
		struct pvio_netif_tx_request r = { .gref = f.data_ref[k], .id = f.next_id++,
						   .size = 1400 };
		struct pvio_netif_tx_response rsp;
		struct rte_mbuf *m = NULL;
		uint64_t end = pvio_now_ns() + (uint64_t)WAIT_MS * 1000000u;
		int rc;

		eth_frame(page, 1400, PEER, v->spec.mac, (unsigned)i);
		fe_put_raw(&f, 0, &r, 1);
		rc = pvio_gnt_revoke(d->gnt, f.data_ref[k]);
		if (rc == -EBUSY)
			busy++;
		else
			assert_int_equal(rc, 0);
		for (;;) { /* the frame (if sent) must go before its answer */
			if (!m && (m = take(v->txr, 0)) != NULL) {
				assert_int_equal(mbuf_bytes(m, got, sizeof(got)), 1400);
				assert_memory_equal(got, page, 1400);
				rte_pktmbuf_free(m);
			}
			if (fe_try_tx_rsp(&f, 0, &rsp) == 1)
				break;
			assert_true(pvio_now_ns() < end);
			msleep(1);
		}
		assert_int_equal(rsp.id, r.id);
		if (rsp.status == PVIO_NETIF_RSP_OKAY)
			ok++;
		else
			refused++;
		while (rc == -EBUSY && pvio_now_ns() < end)
			if ((rc = pvio_gnt_revoke(d->gnt, f.data_ref[k])) == -EBUSY)
				msleep(1);
		assert_int_equal(rc, 0);
		/* read-only, as fe_connect grants tx pages */
		assert_int_equal(pvio_gnt_grant(d->gnt, 0, f.data_pfn + k, true, &f.data_ref[k]), 0);
		if (i % 20 == 0)
			good_round(g);
	}
	(void)log_end("refused", NULL);
	print_message("tx revoke mid-packet: %u sent, %u refused, %u revokes found the page "
		      "mapped\n", ok, refused, busy);
	assert_int_equal(ok + refused, 100);
	assert_int_equal(stats(v).tx_err_grant, refused);
	assert_false(stats(v).broken);
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
	good_down(g);
}

struct stormer {
	struct pvio_domain *d;
	uint32_t port;
	_Atomic bool stop;
	_Atomic uint64_t sent;   /* published every 1024 notifies */
};

static void *stormer_main(void *arg)
{
	struct stormer *s = arg;

	uint64_t n = 0;

	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		(void)pvio_evtchn_notify(s->d->evtchn, s->port);
		if ((++n & 1023) == 0)
			atomic_store_explicit(&s->sent, n, memory_order_relaxed);
	}
	atomic_store(&s->sent, n);
	return NULL;
}

static void event_storm_on_a_vif_is_rate_limited(void **s)
{
	struct good *g = good_up();
	struct pvio_domain *d = domain_new("storm");
	struct vif *v = vif_new(d->domid, "00:16:3e:00:00:07", NULL);
	struct fe f;
	struct fe_opts o = { 0 };
	struct stormer sm = { 0 };
	struct pvio_netback_stats st0, st1;
	pthread_t t;
	uint64_t cpu0, cpu1, t0, wall;
	unsigned n, secs, rounds = 0;

	(void)s;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	sm.d = d;
	sm.port = f.q[0].port_tx;
	st0 = stats(v);
	pthread_mutex_lock(&v->nb->lock);
	cpu0 = thread_cpu_ns(v->nb->q[0].thread);
	pthread_mutex_unlock(&v->nb->lock);
	log_begin();
	t0 = pvio_now_ns();
	assert_int_equal(pthread_create(&t, NULL, stormer_main, &sm), 0);
	while (pvio_now_ns() - t0 < 2000000000ull ||
	       (atomic_load(&sm.sent) < 1000000 && pvio_now_ns() - t0 < 10000000000ull)) {
		good_round(g);
		rounds++;
	}
	atomic_store(&sm.stop, true);
	pthread_join(t, NULL);
	wall = pvio_now_ns() - t0;
	pthread_mutex_lock(&v->nb->lock);
	cpu1 = thread_cpu_ns(v->nb->q[0].thread);
	pthread_mutex_unlock(&v->nb->lock);
	st1 = stats(v);
	n = log_end("event storm", &secs);
	print_message("vif event storm: %llu notifies in %.2f s; the stormed queue thread used "
		      "%.1f ms CPU, consumed %llu events, paused %llu times; the good guest did "
		      "%u verified round trips meanwhile\n", (unsigned long long)atomic_load(&sm.sent),
		      (double)wall / 1e9, (double)(cpu1 - cpu0) / 1e6,
		      (unsigned long long)(st1.events - st0.events),
		      (unsigned long long)(st1.storm_delays - st0.storm_delays), rounds);
	assert_true(atomic_load(&sm.sent) >= 1000000);
	assert_true(st1.storm_delays > st0.storm_delays);
	assert_true(st1.events - st0.events <
		    PVIO_EVTCHN_RL_DEFAULT_BURST + 16 + wall / 10000000u);
	assert_true(cpu1 - cpu0 < wall / 2);
	assert_true(n >= 1 && n <= 10 * (secs + 1));
	assert_true(rounds > 0);
	assert_false(st1.broken);
	/* The stormer's vif still carries its traffic afterwards. */
	{
		uint8_t pkt[300];

		eth_frame(pkt, sizeof(pkt), PEER, v->spec.mac, 2);
		tx_verified(&f, v, pkt, sizeof(pkt));
	}
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
	good_down(g);
}

/* A failed case leaves its log capture open: show it (cmocka's message
 * is in it). Its vifs are left running; the next cases use others. */
static int case_teardown(void **s)
{
	(void)s;
	(void)fault_case_unfinished(false);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(guest_posting_no_rx_buffers_is_capped_and_dropped, case_teardown),
		cmocka_unit_test_teardown(bad_tx_and_rx_grants_and_shapes_are_refused_and_logged, case_teardown),
		cmocka_unit_test_teardown(tx_or_rx_indices_out_of_range_disable_only_that_vif, case_teardown),
		cmocka_unit_test_teardown(garbage_handshake_keys_fail_only_that_vif, case_teardown),
		cmocka_unit_test_teardown(tx_slots_rewritten_while_read_send_one_consistent_copy, case_teardown),
		cmocka_unit_test_teardown(tx_grant_revoked_mid_packet_fails_or_completes_cleanly, case_teardown),
		cmocka_unit_test_teardown(maptrack_exhausted_falls_back_to_copy_never_stalls, case_teardown),
		cmocka_unit_test_teardown(event_storm_on_a_vif_is_rate_limited, case_teardown),
	};
	int rc = cmocka_run_group_tests(tests, setup, teardown);

	rte_eal_cleanup();
	{ /* EAL leaves its runtime dir behind */
		char cmd[96];

		snprintf(cmd, sizeof(cmd), "rm -rf /var/run/dpdk/pvio-fault-%d", (int)getpid());
		if (system(cmd) != 0)
			rc = rc ? rc : 1;
	}
	return rc;
}
