/* SPDX-License-Identifier: MIT */
/*
 * The whole backend, in one process: hostd in threads mode plays Xen,
 * xenstored and the toolstack; the driver domain (domid 0) runs netback on
 * DPDK ports made of rte_rings (rte_eth_from_rings: what netback transmits
 * the test dequeues, what the test enqueues netback receives); frontends
 * are domains too, and the test plays each one with the raw ring, grant,
 * event-channel and xenbus APIs (no netfront), so it can misbehave on
 * purpose.
 */
#include <errno.h>
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

#include "common.h"

#include "nb_test_fe.h"

static int setup_more(struct env *e)
{
	char args[160];
	int rc;

	snprintf(args, sizeof(args), "--no-huge --no-pci -m 512 --no-shconf --no-telemetry "
		 "--file-prefix=pvio-nbt-%d --log-level=error", (int)getpid());
	rc = pvio_netback_dpdk_init(args);

	if (rc != 0 && rc != -EALREADY)
		return rc;
	e->mp = rte_pktmbuf_pool_create("nbtest", 4095, 0, 0, 8192 + RTE_PKTMBUF_HEADROOM,
					SOCKET_ID_ANY);
	return e->mp ? 0 : -ENOMEM;
}

/* ---- a backend vif on a ring port -------------------------------------------------- */

struct vif {
	struct pvio_xs_host host;
	struct pvio_xs xs;
	struct pvio_xs_event ev[16];
	struct pvio_netback_vif_spec spec;
	struct pvio_netback *nb;
	pvio_domid_t fe;
	uint32_t devid;
	struct rte_ring *rxr[4], *txr[4];
	char dev[64];
};

typedef void (*tweak_fn)(struct pvio_netback_config *);

/* A ring ethdev of n queue pairs; its name in v->dev. */
static void ring_port(char *dev, size_t size, uint32_t n, struct rte_ring **rxr,
		      struct rte_ring **txr)
{
	char name[32];
	int id = E->seq++;

	snprintf(dev, size, "nbr%d", id);
	for (uint32_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "nbr%d_rx%u", id, i);
		rxr[i] = rte_ring_create(name, 1024, SOCKET_ID_ANY, 0);
		snprintf(name, sizeof(name), "nbr%d_tx%u", id, i);
		txr[i] = rte_ring_create(name, 1024, SOCKET_ID_ANY, 0);
		assert_non_null(rxr[i]);
		assert_non_null(txr[i]);
	}
	{
		int port = rte_eth_from_rings(dev, rxr, (unsigned)n, txr, (unsigned)n,
					      SOCKET_ID_ANY);
		char real[RTE_ETH_NAME_MAX_LEN];

		assert_true(port >= 0);
		/* the ethdev's name ("net_ring_<name>") is what netback opens */
		assert_int_equal(rte_eth_dev_get_name_by_port((uint16_t)port, real), 0);
		snprintf(dev, size, "%s", real);
	}
}

static struct vif *vif_new_on(pvio_domid_t fe, const char *spec, const char *dev,
			      tweak_fn tweak)
{
	struct vif *v = calloc(1, sizeof(*v));
	struct pvio_netback_config cfg = { 0 };
	char err[128], mac[18];
	struct pvio_xenbus_kv fk[1];
	struct pvio_xenbus_device_keys keys = { 0 };

	assert_int_equal(pvio_netback_vif_spec_parse(spec, &v->spec, err, sizeof(err)), 0);
	v->fe = fe;
	v->devid = v->spec.devid;
	snprintf(v->dev, sizeof(v->dev), "%s", dev);
	pvio_netback_mac_format(v->spec.mac, mac);
	fk[0].key = "mac";
	fk[0].value = mac;
	keys.frontend = fk;
	keys.nr_frontend = 1;
	assert_int_equal(pvio_xenbus_device_create(&E->ts, "vif", 0, fe, v->devid, &keys), 0);
	xs_connect(&v->host, &v->xs, v->ev, 16);
	pvio_netback_config_from_domain(&cfg, E->be);
	cfg.fe = fe;
	cfg.xs = &v->xs;
	cfg.vif = &v->spec;
	cfg.port = "dpdk";
	cfg.port_dev = v->dev;
	if (tweak)
		tweak(&cfg);
	assert_int_equal(pvio_netback_create(&cfg, &v->nb), 0);
	assert_int_equal(pvio_netback_start(v->nb), 0);
	return v;
}

static struct vif *vif_new(pvio_domid_t fe, const char *spec, uint32_t nq, tweak_fn tweak)
{
	char dev[64];
	struct rte_ring *rxr[4], *txr[4];
	struct vif *v;

	ring_port(dev, sizeof(dev), nq, rxr, txr);
	v = vif_new_on(fe, spec, dev, tweak);
	memcpy(v->rxr, rxr, sizeof(rxr));
	memcpy(v->txr, txr, sizeof(txr));
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

/* Take one mbuf from a ring, waiting. NULL on timeout. */
static struct rte_mbuf *ring_take(struct rte_ring *r, unsigned ms)
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

/* Enqueue a frame where the ethdev receives it, with TSO flags if mss. */
static void inject_tso(struct rte_ring *r, const uint8_t *data, uint32_t len, uint16_t mss)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc((struct rte_mempool *)E->mp);

	assert_non_null(m);
	pvio_tsan_acquire(m);
	memcpy(rte_pktmbuf_append(m, (uint16_t)len), data, len);
	if (mss) {
		m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4;
		m->tso_segsz = mss;
		m->l2_len = 14;
		m->l3_len = 20;
		m->l4_len = 20;
	}
	pvio_tsan_release(m);
	assert_int_equal(rte_ring_enqueue(r, m), 0);
}

static void inject(struct rte_ring *r, const uint8_t *data, uint32_t len)
{
	inject_tso(r, data, len, 0);
}

static const uint8_t PEER[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x99 };

/* ---- tests ------------------------------------------------------------------------------- */

static void handshake_writes_every_backend_key_and_connects(void **state)
{
	struct pvio_domain *d = domain_new("hs");
	struct vif *v = vif_new(d->domid, "mac=00:16:3e:00:00:01,devid=0", 1, NULL);
	struct fe f;
	struct fe_opts o = { 0 };
	char buf[64];

	(void)state;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	assert_int_equal(be_read(&f, "feature-sg"), 1);
	assert_int_equal(be_read(&f, "feature-gso-tcpv4"), 1);
	assert_int_equal(be_read(&f, "feature-gso-tcpv6"), 1);
	assert_int_equal(be_read(&f, "feature-ipv6-csum-offload"), 1);
	assert_int_equal(be_read(&f, "feature-rx-copy"), 1);
	assert_int_equal(be_read(&f, "feature-rx-flip"), 1);
	assert_int_equal(be_read(&f, "feature-multicast-control"), 1);
	assert_int_equal(be_read(&f, "feature-split-event-channels"), 1);
	assert_int_equal(be_read(&f, "multi-queue-max-queues"), 4);
	assert_int_equal(be_read(&f, "handle"), 0);
	assert_int_equal(be_read_str(&f, "mac", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "00:16:3e:00:00:01");
	assert_int_equal(stats(v).nr_queues, 1);
	assert_false(stats(v).rx_flip);
	assert_false(stats(v).split_evtchn);
	assert_int_equal(stats(v).connects, 1);
	fe_close(&f);
	assert_int_equal(pvio_netback_wait_state(v->nb, PVIO_XENBUS_CLOSED, WAIT_MS), 0);
	pvio_domain_disconnect(d);
	vif_free(v);
}

static void multi_slot_tx_reaches_the_port_byte_for_byte(void **state)
{
	struct pvio_domain *d = domain_new("ms");
	struct vif *v = vif_new(d->domid, "mac=00:16:3e:00:00:02", 1, NULL);
	struct fe f;
	struct fe_opts o = { 0 };
	uint8_t pkt[9000], got[9000];
	struct pvio_netif_tx_response rsp[8];
	struct rte_mbuf *m;
	uint32_t n;

	(void)state;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	eth_frame(pkt, sizeof(pkt), PEER, v->spec.mac, 1);
	n = fe_tx(&f, 0, pkt, 9000, 2000, 0, 0); /* 5 slots */
	assert_int_equal(n, 5);
	m = ring_take(v->txr[0], WAIT_MS);
	assert_non_null(m);
	assert_int_equal(m->pkt_len, 9000);
	assert_true(m->nb_segs >= 5);
	assert_int_equal(mbuf_bytes(m, got, sizeof(got)), 9000);
	assert_memory_equal(got, pkt, 9000);
	rte_pktmbuf_free(m);
	fe_tx_rsps(&f, 0, 5, rsp);
	for (int i = 0; i < 5; i++)
		assert_int_equal(rsp[i].status, PVIO_NETIF_RSP_OKAY);
	assert_int_equal(stats(v).tx_packets, 1);
	assert_int_equal(stats(v).tx_bytes, 9000);
	assert_int_equal(stats(v).tx_zerocopy, 1);
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
}

static void gso_tx_carries_mss_and_offload_flags_to_the_port(void **state)
{
	struct pvio_domain *d = domain_new("gso");
	struct vif *v = vif_new(d->domid, "mac=00:16:3e:00:00:03", 1, NULL);
	struct fe f;
	struct fe_opts o = { 0 };
	uint8_t pkt[20000], got[20000];
	struct pvio_netif_tx_response rsp[16];
	struct rte_mbuf *m;
	uint32_t n;

	(void)state;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	tcp_frame(pkt, sizeof(pkt), PEER, v->spec.mac);
	n = fe_tx(&f, 0, pkt, sizeof(pkt), 4096, PVIO_NETTXF_csum_blank, 1448);
	assert_int_equal(n, 6); /* 5 data slots + the GSO extra */
	m = ring_take(v->txr[0], WAIT_MS);
	assert_non_null(m);
	assert_true(m->ol_flags & RTE_MBUF_F_TX_TCP_SEG);
	assert_true(m->ol_flags & RTE_MBUF_F_TX_IPV4);
	assert_int_equal(m->tso_segsz, 1448);
	assert_int_equal(m->l2_len, 14);
	assert_int_equal(m->l3_len, 20);
	assert_int_equal(m->l4_len, 20);
	assert_int_equal(mbuf_bytes(m, got, sizeof(got)), sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	rte_pktmbuf_free(m);
	fe_tx_rsps(&f, 0, n, rsp);
	/* the extra's slot is answered RSP_NULL, every data slot OKAY */
	assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_OKAY);
	assert_int_equal(rsp[1].status, PVIO_NETIF_RSP_NULL);
	for (uint32_t i = 2; i < n; i++)
		assert_int_equal(rsp[i].status, PVIO_NETIF_RSP_OKAY);
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
}

static void tx_zero_copy_answers_only_after_the_mbuf_is_freed(void **state)
{
	struct pvio_domain *d = domain_new("zc");
	struct vif *v = vif_new(d->domid, "mac=00:16:3e:00:00:04", 1, NULL);
	struct fe f;
	struct fe_opts o = { 0 };
	uint8_t pkt[1500];
	struct pvio_netif_tx_response rsp;
	struct rte_mbuf *m;

	(void)state;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	eth_frame(pkt, sizeof(pkt), PEER, v->spec.mac, 4);
	(void)fe_tx(&f, 0, pkt, sizeof(pkt), 4096, 0, 0);
	m = ring_take(v->txr[0], WAIT_MS);
	assert_non_null(m);
	assert_true(RTE_MBUF_HAS_EXTBUF(m));
	/* The mbuf holds the guest's page: no answer while it is held. */
	msleep(100);
	assert_int_equal(fe_try_tx_rsp(&f, 0, &rsp), 0);
	rte_pktmbuf_free(m);
	fe_tx_rsps(&f, 0, 1, &rsp);
	assert_int_equal(rsp.status, PVIO_NETIF_RSP_OKAY);
	assert_int_equal(stats(v).tx_zerocopy, 1);
	assert_int_equal(stats(v).tx_copied, 0);
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
}

static void small_tx_is_copied_and_answered_at_once(void **state)
{
	struct pvio_domain *d = domain_new("cp");
	struct vif *v = vif_new(d->domid, "mac=00:16:3e:00:00:05", 1, NULL);
	struct fe f;
	struct fe_opts o = { 0 };
	uint8_t pkt[64], got[64];
	struct pvio_netif_tx_response rsp;
	struct rte_mbuf *m;

	(void)state;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	eth_frame(pkt, sizeof(pkt), PEER, v->spec.mac, 5);
	(void)fe_tx(&f, 0, pkt, sizeof(pkt), 4096, 0, 0);
	/* answered while the mbuf still sits in the ring */
	fe_tx_rsps(&f, 0, 1, &rsp);
	assert_int_equal(rsp.status, PVIO_NETIF_RSP_OKAY);
	m = ring_take(v->txr[0], WAIT_MS);
	assert_non_null(m);
	assert_false(RTE_MBUF_HAS_EXTBUF(m) && !RTE_MBUF_HAS_PINNED_EXTBUF(m));
	assert_int_equal(mbuf_bytes(m, got, sizeof(got)), 64);
	assert_memory_equal(got, pkt, 64);
	rte_pktmbuf_free(m);
	assert_int_equal(stats(v).tx_copied, 1);
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
}

/* Small frames packed into one granted page (as netfront does), with a
 * slot naming a grant that does not exist among them, all in one batch:
 * every good frame reaches the port intact, in order, answered OKAY; the
 * bad one alone gets an error. */
static void small_tx_frames_sharing_a_grant_are_copied_and_a_bad_grant_fails_alone(void **state)
{
	struct pvio_domain *d = domain_new("pk");
	struct vif *v = vif_new(d->domid, "mac=00:16:3e:00:00:0b", 1, NULL);
	struct fe f;
	struct fe_opts o = { 0 };
	struct pvio_netif_tx_request r[9];
	struct pvio_netif_tx_response rsp[9];
	uint8_t pkt[8][100], got[128];
	uint32_t pg;

	(void)state;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	pg = f.next_data++ % NDATA;
	for (uint32_t i = 0, k = 0; i < 9; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].id = (uint16_t)(100 + i);
		if (i == 4) {
			r[i].gref = 0x7ff0; /* never granted */
			r[i].size = 64;
			continue;
		}
		eth_frame(pkt[k], 60 + k, PEER, v->spec.mac, 20 + k);
		memcpy((uint8_t *)pvio_domain_page(d, f.data_pfn + pg) + 128 * k, pkt[k], 60 + k);
		r[i].gref = f.data_ref[pg];
		r[i].offset = (uint16_t)(128 * k);
		r[i].size = (uint16_t)(60 + k);
		k++;
	}
	fe_put_raw(&f, 0, r, 9);
	fe_tx_rsps(&f, 0, 9, rsp);
	for (uint32_t i = 0; i < 9; i++) {
		uint32_t at = rsp[i].id - 100;

		assert_true(at < 9);
		assert_int_equal(rsp[i].status, at == 4 ? PVIO_NETIF_RSP_ERROR : PVIO_NETIF_RSP_OKAY);
	}
	for (uint32_t k = 0; k < 8; k++) {
		struct rte_mbuf *m = ring_take(v->txr[0], WAIT_MS);

		assert_non_null(m);
		assert_int_equal(mbuf_bytes(m, got, sizeof(got)), 60 + k);
		assert_memory_equal(got, pkt[k], 60 + k);
		rte_pktmbuf_free(m);
	}
	assert_int_equal(stats(v).tx_copied, 8);
	assert_int_equal(stats(v).tx_err_grant, 1);
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
}

/* Send the same frames to a copy guest and a flip guest. */
static void rx_copy_and_rx_flip_deliver_identical_bytes(void **state)
{
	struct pvio_domain *dc = domain_new("rxc"), *df = domain_new("rxf");
	struct vif *vc = vif_new(dc->domid, "mac=00:16:3e:00:00:06", 1, NULL);
	struct vif *vf = vif_new(df->domid, "mac=00:16:3e:00:00:07", 1, NULL);
	struct fe fc, ff;
	struct fe_opts oc = { 0 }, of = { .flip = true };
	static const uint32_t sizes[] = { 60, 64, 512, 1500, 4000 };
	uint8_t pkt[4096], a[4096], b[4096];

	(void)state;
	assert_int_equal(fe_connect(&fc, dc, 0, &oc), 0);
	assert_int_equal(fe_connect(&ff, df, 0, &of), 0);
	assert_true(stats(vf).rx_flip);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct rxinfo ic, iff;
		uint32_t pfn = ff.rx_buf_pfn + ff.next_rx % NDATA;
		uint32_t before = pvio_mach_pfn_to_mfn(df->machine, df->domid, pfn);

		eth_frame(pkt, sizes[i], vc->spec.mac, PEER, (unsigned)i);
		fe_post_rx(&fc, 0, 1);
		inject(vc->rxr[0], pkt, sizes[i]);
		ic = fe_rx_pkt(&fc, 0, a, sizeof(a));
		eth_frame(pkt, sizes[i], vc->spec.mac, PEER, (unsigned)i);
		fe_post_rx(&ff, 0, 1);
		inject(vf->rxr[0], pkt, sizes[i]);
		iff = fe_rx_pkt(&ff, 0, b, sizeof(b));
		assert_int_equal(ic.len, sizes[i]);
		assert_int_equal(iff.len, sizes[i]);
		assert_memory_equal(a, pkt, sizes[i]);
		assert_memory_equal(b, a, sizes[i]);
		/* a real flip: the guest's pfn now has another machine frame */
		assert_int_equal(pvio_mach_pfn_to_mfn(df->machine, df->domid, pfn), iff.flipped_mfn);
		assert_int_not_equal(iff.flipped_mfn, before);
	}
	assert_int_equal(stats(vc).rx_copied, 5);
	assert_int_equal(stats(vf).rx_flipped, 5);
	assert_int_equal(stats(vc).rx_bytes, stats(vf).rx_bytes);
	fe_close(&fc);
	fe_close(&ff);
	pvio_domain_disconnect(dc);
	pvio_domain_disconnect(df);
	vif_free(vc);
	vif_free(vf);
}

/* net_null (copy=1) receives into netback's own frame pool: the frame
 * itself is flipped, nothing copied. */
static void rx_flip_moves_the_port_frame_itself(void **state)
{
	struct pvio_domain *d = domain_new("fz");
	struct vif *v = vif_new_on(d->domid, "mac=00:16:3e:00:00:08", "net_null7,copy=1,size=128",
				   NULL);
	struct fe f;
	struct fe_opts o = { .flip = true };
	uint8_t buf[4096], zero[128];

	(void)state;
	memset(zero, 0, sizeof(zero));
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	fe_post_rx(&f, 0, 8);
	for (int i = 0; i < 8; i++) {
		struct rxinfo in = fe_rx_pkt(&f, 0, buf, sizeof(buf));

		assert_int_equal(in.len, 128);
		assert_memory_equal(buf, zero, 128);
	}
	assert_true(stats(v).rx_flip_zerocopy >= 8);
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
}

static void multi_queue_uses_every_queue(void **state)
{
	struct pvio_domain *d = domain_new("mq");
	struct vif *v = vif_new(d->domid, "mac=00:16:3e:00:00:09", 2, NULL);
	struct fe f;
	struct fe_opts o = { .nq = 2 };
	uint8_t pkt[1000], got[4096];
	struct pvio_netif_tx_response rsp;

	(void)state;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	assert_int_equal(stats(v).nr_queues, 2);
	for (uint32_t qi = 0; qi < 2; qi++) {
		struct rte_mbuf *m;
		struct rxinfo in;

		eth_frame(pkt, sizeof(pkt), PEER, v->spec.mac, 10 + qi);
		(void)fe_tx(&f, qi, pkt, sizeof(pkt), 4096, 0, 0);
		m = ring_take(v->txr[qi], WAIT_MS); /* queue i is ethdev queue i */
		assert_non_null(m);
		assert_int_equal(mbuf_bytes(m, got, sizeof(got)), sizeof(pkt));
		assert_memory_equal(got, pkt, sizeof(pkt));
		rte_pktmbuf_free(m);
		fe_tx_rsps(&f, qi, 1, &rsp);
		assert_int_equal(rsp.status, PVIO_NETIF_RSP_OKAY);

		eth_frame(pkt, sizeof(pkt), v->spec.mac, PEER, 20 + qi);
		fe_post_rx(&f, qi, 1);
		inject(v->rxr[qi], pkt, sizeof(pkt));
		in = fe_rx_pkt(&f, qi, got, sizeof(got));
		assert_int_equal(in.len, sizeof(pkt));
		assert_memory_equal(got, pkt, sizeof(pkt));
	}
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
}

static void split_event_channels_carry_tx_and_rx(void **state)
{
	struct pvio_domain *d = domain_new("split");
	struct vif *v = vif_new(d->domid, "mac=00:16:3e:00:00:0a", 1, NULL);
	struct fe f;
	struct fe_opts o = { .split = true };
	uint8_t pkt[300], got[4096];
	struct pvio_netif_tx_response rsp;
	struct rte_mbuf *m;
	struct rxinfo in;

	(void)state;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	assert_true(stats(v).split_evtchn);
	assert_int_not_equal(f.q[0].port_tx, f.q[0].port_rx);
	eth_frame(pkt, sizeof(pkt), PEER, v->spec.mac, 30);
	(void)fe_tx(&f, 0, pkt, sizeof(pkt), 4096, 0, 0);
	m = ring_take(v->txr[0], WAIT_MS);
	assert_non_null(m);
	rte_pktmbuf_free(m);
	fe_tx_rsps(&f, 0, 1, &rsp);
	/* rx: post buffers after the packet is queued, kick on the rx port */
	eth_frame(pkt, sizeof(pkt), v->spec.mac, PEER, 31);
	inject(v->rxr[0], pkt, sizeof(pkt));
	msleep(20);
	fe_post_rx(&f, 0, 1);
	in = fe_rx_pkt(&f, 0, got, sizeof(got));
	assert_int_equal(in.len, sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
}

static void malformed_tx_requests_get_error_responses_and_counters(void **state)
{
	struct pvio_domain *d = domain_new("bad");
	struct vif *v = vif_new(d->domid, "mac=00:16:3e:00:00:0b", 1, NULL);
	struct fe f;
	struct fe_opts o = { 0 };
	struct pvio_netif_tx_request r[20];
	struct pvio_netif_tx_response rsp[20];
	struct pvio_netif_extra_info e;
	struct pvio_netback_stats st;
	uint8_t pkt[100];
	struct rte_mbuf *m;

	(void)state;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	/* size below an Ethernet header */
	r[0] = (struct pvio_netif_tx_request){ .gref = f.data_ref[0], .id = 1, .size = 10 };
	fe_put_raw(&f, 0, r, 1);
	fe_tx_rsps(&f, 0, 1, rsp);
	assert_int_equal(rsp[0].id, 1);
	assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_ERROR);
	/* offset + size past the page */
	r[0] = (struct pvio_netif_tx_request){ .gref = f.data_ref[0], .offset = 4000,
					       .id = 2, .size = 200 };
	fe_put_raw(&f, 0, r, 1);
	fe_tx_rsps(&f, 0, 1, rsp);
	assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_ERROR);
	/* 19 slots: over the 18-slot limit, under the fatal one: dropped */
	for (uint16_t i = 0; i < 19; i++)
		r[i] = (struct pvio_netif_tx_request){
			.gref = f.data_ref[i], .id = (uint16_t)(10 + i),
			.size = i == 0 ? 19 * 100 : 100,
			.flags = i < 18 ? PVIO_NETTXF_more_data : 0 };
	fe_put_raw(&f, 0, r, 19);
	fe_tx_rsps(&f, 0, 19, rsp);
	for (int i = 0; i < 19; i++)
		assert_int_equal(rsp[i].status, PVIO_NETIF_RSP_ERROR);
	/* extra info of an unknown type */
	r[0] = (struct pvio_netif_tx_request){ .gref = f.data_ref[0], .id = 40, .size = 60,
					       .flags = PVIO_NETTXF_extra_info };
	memset(&e, 0, sizeof(e));
	e.type = 9;
	memset(&r[1], 0, sizeof(r[1]));
	memcpy(&r[1], &e, sizeof(e));
	fe_put_raw(&f, 0, r, 2);
	fe_tx_rsps(&f, 0, 2, rsp);
	assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_ERROR);
	assert_int_equal(rsp[1].status, PVIO_NETIF_RSP_NULL);
	/* GSO of size 0 */
	e.type = PVIO_NETIF_EXTRA_TYPE_GSO;
	e.u.gso.size = 0;
	e.u.gso.type = PVIO_NETIF_GSO_TYPE_TCPV4;
	r[0].id = 41;
	memcpy(&r[1], &e, sizeof(e));
	fe_put_raw(&f, 0, r, 2);
	fe_tx_rsps(&f, 0, 2, rsp);
	assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_ERROR);
	/* a grant ref that does not exist */
	r[0] = (struct pvio_netif_tx_request){ .gref = 60000, .id = 42, .size = 1000 };
	fe_put_raw(&f, 0, r, 1);
	fe_tx_rsps(&f, 0, 1, rsp);
	assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_ERROR);
	/* a small one too (the copy path) */
	r[0] = (struct pvio_netif_tx_request){ .gref = 60001, .id = 43, .size = 60 };
	fe_put_raw(&f, 0, r, 1);
	fe_tx_rsps(&f, 0, 1, rsp);
	assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_ERROR);

	st = stats(v);
	assert_int_equal(st.tx_err_size, 1);
	assert_int_equal(st.tx_err_offset, 1);
	assert_int_equal(st.tx_err_slots, 1);
	assert_int_equal(st.tx_err_extra, 1);
	assert_int_equal(st.tx_err_gso, 1);
	assert_int_equal(st.tx_err_grant, 2);
	assert_int_equal(st.tx_packets, 0);
	assert_false(st.broken);
	/* and the vif still works (a zero-copy answer waits for the mbuf) */
	eth_frame(pkt, sizeof(pkt), PEER, v->spec.mac, 50);
	(void)fe_tx(&f, 0, pkt, sizeof(pkt), 4096, 0, 0);
	m = ring_take(v->txr[0], WAIT_MS);
	assert_non_null(m);
	rte_pktmbuf_free(m);
	fe_tx_rsps(&f, 0, 1, rsp);
	assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_OKAY);
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
}

static void tx_past_the_fatal_limit_disables_only_that_vif(void **state)
{
	struct pvio_domain *d1 = domain_new("evil"), *d2 = domain_new("good");
	struct vif *v1 = vif_new(d1->domid, "mac=00:16:3e:00:00:0c", 1, NULL);
	struct vif *v2 = vif_new(d2->domid, "mac=00:16:3e:00:00:0d", 1, NULL);
	struct fe f1, f2;
	struct fe_opts o = { 0 };
	struct pvio_netif_tx_request r[24];
	struct pvio_netif_tx_response rsp;
	uint8_t pkt[800];
	char err[128];
	struct rte_mbuf *m;

	(void)state;
	assert_int_equal(fe_connect(&f1, d1, 0, &o), 0);
	assert_int_equal(fe_connect(&f2, d2, 0, &o), 0);
	for (uint16_t i = 0; i < 24; i++)
		r[i] = (struct pvio_netif_tx_request){
			.gref = f1.data_ref[i], .id = i, .size = i == 0 ? 2400 : 100,
			.flags = PVIO_NETTXF_more_data };
	fe_put_raw(&f1, 0, r, 24);
	assert_int_equal(pvio_netback_wait_state(v1->nb, PVIO_XENBUS_CLOSED, WAIT_MS), 0);
	assert_true(stats(v1).broken);
	assert_int_equal(stats(v1).tx_fatal, 1);
	assert_int_equal(be_read_str(&f1, "error", err, sizeof(err)), 0);
	assert_non_null(strstr(err, "slots"));
	/* the other vif keeps working */
	eth_frame(pkt, sizeof(pkt), PEER, v2->spec.mac, 60);
	(void)fe_tx(&f2, 0, pkt, sizeof(pkt), 4096, 0, 0);
	m = ring_take(v2->txr[0], WAIT_MS);
	assert_non_null(m);
	rte_pktmbuf_free(m);
	fe_tx_rsps(&f2, 0, 1, &rsp);
	assert_int_equal(rsp.status, PVIO_NETIF_RSP_OKAY);
	assert_false(stats(v2).broken);
	fe_close(&f1);
	fe_close(&f2);
	pvio_domain_disconnect(d1);
	pvio_domain_disconnect(d2);
	vif_free(v1);
	vif_free(v2);
}

static void small_queue_short_timeout(struct pvio_netback_config *c)
{
	c->rx_queue_max_pkts = 16;
	c->rx_queue_max_bytes = 16 * 1024;
	c->rx_drain_timeout_ms = 100;
}

static void guest_without_rx_buffers_has_its_packets_dropped(void **state)
{
	struct pvio_domain *d = domain_new("norx");
	struct vif *v = vif_new(d->domid, "mac=00:16:3e:00:00:0e", 1, small_queue_short_timeout);
	struct fe f;
	struct fe_opts o = { 0 };
	uint8_t pkt[1500];
	struct pvio_netback_stats st;
	uint64_t end;

	(void)state;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	eth_frame(pkt, sizeof(pkt), v->spec.mac, PEER, 70);
	for (int i = 0; i < 200; i++) {
		while (rte_ring_full(v->rxr[0]))
			msleep(1);
		inject(v->rxr[0], pkt, sizeof(pkt));
		st = stats(v);
		assert_true(st.rx_queued_pkts <= 16);
		assert_true(st.rx_queued_bytes <= 16 * 1024);
	}
	/* everything ends up dropped: nothing is delivered, nothing piles up */
	end = pvio_now_ns() + (uint64_t)WAIT_MS * 1000000u;
	do {
		msleep(20);
		st = stats(v);
		assert_true(st.rx_queued_pkts <= 16);
	/* The counters are published per round, not as one snapshot: wait
	 * for the drops and the emptied queue both. */
	} while ((st.rx_drop_stall + st.rx_drop_full < 200 || st.rx_queued_pkts != 0) &&
		 pvio_now_ns() < end);
	assert_int_equal(st.rx_drop_stall + st.rx_drop_full, 200);
	assert_true(st.rx_drop_stall > 0);
	assert_int_equal(st.rx_packets, 0);
	assert_int_equal(st.rx_queued_pkts, 0);
	assert_int_equal(rte_ring_count(v->rxr[0]), 0);
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
}

static void multicast_control_filters_what_the_guest_receives(void **state)
{
	struct pvio_domain *d = domain_new("mc");
	struct vif *v = vif_new(d->domid, "mac=00:16:3e:00:00:0f", 1, NULL);
	struct fe f;
	struct fe_opts o = { .mcast = true };
	static const uint8_t G1[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x01 };
	static const uint8_t G2[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0x02 };
	struct pvio_netif_tx_request r[2];
	struct pvio_netif_tx_response rsp[2];
	struct pvio_netif_extra_info e;
	uint8_t pkt[200], got[4096];
	struct rxinfo in;

	(void)state;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	assert_true(stats(v).multicast_control);
	/* the dummy request carrying MCAST_ADD G1 */
	r[0] = (struct pvio_netif_tx_request){ .gref = f.data_ref[0], .id = 1, .size = 14,
					       .flags = PVIO_NETTXF_extra_info };
	memset(&e, 0, sizeof(e));
	e.type = PVIO_NETIF_EXTRA_TYPE_MCAST_ADD;
	memcpy(e.u.mcast.addr, G1, 6);
	memset(&r[1], 0, sizeof(r[1]));
	memcpy(&r[1], &e, sizeof(e));
	fe_put_raw(&f, 0, r, 2);
	fe_tx_rsps(&f, 0, 2, rsp);
	assert_int_equal(rsp[0].status, PVIO_NETIF_RSP_OKAY);
	assert_int_equal(stats(v).nr_mcast, 1);
	assert_int_equal(stats(v).tx_packets, 0); /* answered, never sent */
	/* G2 is dropped, G1 delivered */
	fe_post_rx(&f, 0, 2);
	eth_frame(pkt, sizeof(pkt), G2, PEER, 80);
	inject(v->rxr[0], pkt, sizeof(pkt));
	eth_frame(pkt, sizeof(pkt), G1, PEER, 81);
	inject(v->rxr[0], pkt, sizeof(pkt));
	in = fe_rx_pkt(&f, 0, got, sizeof(got));
	assert_int_equal(in.len, sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	assert_int_equal(stats(v).rx_drop_mcast, 1);
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
}

static void gso_rx_arrives_with_its_extra_info(void **state)
{
	struct pvio_domain *d = domain_new("gsorx");
	struct vif *v = vif_new(d->domid, "mac=00:16:3e:00:00:10", 1, NULL);
	struct fe f;
	struct fe_opts o = { .gso4 = true };
	static uint8_t pkt[8000], got[20000];
	struct rxinfo in;

	(void)state;
	assert_int_equal(fe_connect(&f, d, 0, &o), 0);
	tcp_frame(pkt, sizeof(pkt), v->spec.mac, PEER);
	fe_post_rx(&f, 0, 8);
	inject_tso(v->rxr[0], pkt, sizeof(pkt), 1448);
	in = fe_rx_pkt(&f, 0, got, sizeof(got));
	assert_int_equal(in.len, sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	assert_int_equal(in.gso_size, 1448);
	assert_int_equal(in.gso_type, PVIO_NETIF_GSO_TYPE_TCPV4);
	assert_true(in.flags & PVIO_NETRXF_csum_blank);
	assert_true(in.flags & PVIO_NETRXF_extra_info);
	assert_int_equal(in.slots, 2 + 1); /* two pages and the extra */
	fe_close(&f);
	pvio_domain_disconnect(d);
	vif_free(v);
}

static void switch_forwards_between_vifs_and_drops_spoofed_frames(void **state)
{
	char dev[64];
	struct rte_ring *rxr[1], *txr[1];
	struct vif *v1, *v2;
	struct pvio_domain *d1 = domain_new("sw1"), *d2 = domain_new("sw2");
	struct fe f1, f2;
	struct fe_opts o = { 0 };
	uint8_t pkt[700], got[4096];
	static const uint8_t BC[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct pvio_netif_tx_response rsp;
	struct rxinfo in;
	struct rte_mbuf *m;

	(void)state;
	ring_port(dev, sizeof(dev), 1, rxr, txr);
	v1 = vif_new_on(d1->domid, "mac=00:16:3e:00:01:01,bridge=br0", dev, NULL);
	v2 = vif_new_on(d2->domid, "mac=00:16:3e:00:01:02,bridge=br0", dev, NULL);
	assert_int_equal(fe_connect(&f1, d1, 0, &o), 0);
	assert_int_equal(fe_connect(&f2, d2, 0, &o), 0);
	fe_post_rx(&f1, 0, 8);
	fe_post_rx(&f2, 0, 8);
	/* vif1 -> vif2 directly, nothing on the uplink */
	eth_frame(pkt, sizeof(pkt), v2->spec.mac, v1->spec.mac, 90);
	(void)fe_tx(&f1, 0, pkt, sizeof(pkt), 4096, 0, 0);
	in = fe_rx_pkt(&f2, 0, got, sizeof(got));
	assert_int_equal(in.len, sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	fe_tx_rsps(&f1, 0, 1, &rsp);
	assert_int_equal(rsp.status, PVIO_NETIF_RSP_OKAY);
	assert_int_equal(rte_ring_count(txr[0]), 0);
	/* spoofed source: answered, dropped, counted */
	eth_frame(pkt, sizeof(pkt), v2->spec.mac, PEER, 91);
	(void)fe_tx(&f1, 0, pkt, sizeof(pkt), 4096, 0, 0);
	fe_tx_rsps(&f1, 0, 1, &rsp);
	assert_int_equal(rsp.status, PVIO_NETIF_RSP_OKAY);
	assert_int_equal(stats(v1).tx_drop_spoof, 1);
	/* broadcast: the uplink and the other vif */
	eth_frame(pkt, sizeof(pkt), BC, v1->spec.mac, 92);
	(void)fe_tx(&f1, 0, pkt, sizeof(pkt), 4096, 0, 0);
	m = ring_take(txr[0], WAIT_MS);
	assert_non_null(m);
	assert_int_equal(mbuf_bytes(m, got, sizeof(got)), sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	rte_pktmbuf_free(m);
	in = fe_rx_pkt(&f2, 0, got, sizeof(got));
	assert_int_equal(in.len, sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	fe_tx_rsps(&f1, 0, 1, &rsp);
	/* from the uplink to vif1 only (its MAC is known) */
	eth_frame(pkt, sizeof(pkt), v1->spec.mac, PEER, 93);
	inject(rxr[0], pkt, sizeof(pkt));
	in = fe_rx_pkt(&f1, 0, got, sizeof(got));
	assert_int_equal(in.len, sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	msleep(50);
	assert_int_equal(stats(v2).rx_packets, 2);
	fe_close(&f1);
	fe_close(&f2);
	pvio_domain_disconnect(d1);
	pvio_domain_disconnect(d2);
	vif_free(v1);
	vif_free(v2);
}

static void reconnect_after_close_serves_again(void **state)
{
	struct pvio_domain *d = domain_new("re");
	struct vif *v = vif_new(d->domid, "mac=00:16:3e:00:00:11", 1, NULL);
	struct fe f;
	struct fe_opts o = { 0 };
	uint8_t pkt[400];
	struct pvio_netif_tx_response rsp;
	struct rte_mbuf *m;

	(void)state;
	for (int round = 0; round < 2; round++) {
		assert_int_equal(fe_connect(&f, d, 0, &o), 0);
		eth_frame(pkt, sizeof(pkt), PEER, v->spec.mac, 100 + (unsigned)round);
		(void)fe_tx(&f, 0, pkt, sizeof(pkt), 4096, 0, 0);
		m = ring_take(v->txr[0], WAIT_MS);
		assert_non_null(m);
		rte_pktmbuf_free(m);
		fe_tx_rsps(&f, 0, 1, &rsp);
		assert_int_equal(rsp.status, PVIO_NETIF_RSP_OKAY);
		fe_close(&f);
		assert_int_equal(pvio_netback_wait_state(v->nb, PVIO_XENBUS_CLOSED, WAIT_MS), 0);
	}
	assert_int_equal(stats(v).connects, 2);
	pvio_domain_disconnect(d);
	vif_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handshake_writes_every_backend_key_and_connects),
		cmocka_unit_test(multi_slot_tx_reaches_the_port_byte_for_byte),
		cmocka_unit_test(gso_tx_carries_mss_and_offload_flags_to_the_port),
		cmocka_unit_test(tx_zero_copy_answers_only_after_the_mbuf_is_freed),
		cmocka_unit_test(small_tx_is_copied_and_answered_at_once),
		cmocka_unit_test(small_tx_frames_sharing_a_grant_are_copied_and_a_bad_grant_fails_alone),
		cmocka_unit_test(rx_copy_and_rx_flip_deliver_identical_bytes),
		cmocka_unit_test(rx_flip_moves_the_port_frame_itself),
		cmocka_unit_test(multi_queue_uses_every_queue),
		cmocka_unit_test(split_event_channels_carry_tx_and_rx),
		cmocka_unit_test(malformed_tx_requests_get_error_responses_and_counters),
		cmocka_unit_test(tx_past_the_fatal_limit_disables_only_that_vif),
		cmocka_unit_test(guest_without_rx_buffers_has_its_packets_dropped),
		cmocka_unit_test(multicast_control_filters_what_the_guest_receives),
		cmocka_unit_test(gso_rx_arrives_with_its_extra_info),
		cmocka_unit_test(switch_forwards_between_vifs_and_drops_spoofed_frames),
		cmocka_unit_test(reconnect_after_close_serves_again),
	};

	int rc = cmocka_run_group_tests(tests, setup, teardown);

	rte_eal_cleanup();
	{ /* EAL leaves its runtime dir behind */
		char cmd[96];

		snprintf(cmd, sizeof(cmd), "rm -rf /var/run/dpdk/pvio-nbt-%d", (int)getpid());
		if (system(cmd) != 0)
			rc = rc ? rc : 1;
	}
	return rc;
}
