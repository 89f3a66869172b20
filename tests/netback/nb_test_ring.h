/* SPDX-License-Identifier: MIT */
/*
 * DPDK ring ports as the wire of a netback test (tests/netback's backend
 * test, tests/fault's netback test): EAL and the test's mbuf pool, frames
 * put where the port receives them and taken from where it sends them,
 * and vifs served by netback on such ports.
 * Static functions: include once, after nb_test_fe.h, <rte_ethdev.h>,
 * <rte_mbuf.h> and <rte_ring.h>.
 */
#ifndef NB_TEST_RING_H
#define NB_TEST_RING_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* EAL (no hugepages, no PCI, its runtime files under prefix-<pid>) and a
 * mempool for the test's own mbufs in e->mp. Returns 0 or -errno. */
static inline int nb_ring_eal_init(struct env *e, const char *prefix)
{
	char args[160];
	int rc;

	snprintf(args, sizeof(args), "--no-huge --no-pci -m 512 --no-shconf --no-telemetry "
		 "--file-prefix=%s-%d --log-level=error", prefix, (int)getpid());
	rc = pvio_netback_dpdk_init(args);
	if (rc != 0 && rc != -EALREADY)
		return rc;
	e->mp = rte_pktmbuf_pool_create(prefix, 4095, 0, 0, 8192 + RTE_PKTMBUF_HEADROOM,
					SOCKET_ID_ANY);
	return e->mp ? 0 : -ENOMEM;
}

/* After the tests: EAL down and its runtime dir (which it leaves behind)
 * removed. Returns rc, the tests' result, or 1 if that failed. */
static inline int nb_ring_eal_fini(int rc, const char *prefix)
{
	char cmd[96];

	rte_eal_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf /var/run/dpdk/%s-%d", prefix, (int)getpid());
	if (system(cmd) != 0)
		rc = rc ? rc : 1;
	return rc;
}

/* ---- the wire ---------------------------------------------------------------- */

/* Take one mbuf from a ring, waiting up to ms. NULL on timeout. */
static inline struct rte_mbuf *ring_take(struct rte_ring *r, unsigned ms)
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

/* Copy an mbuf chain's bytes into buf (the test fails past size);
 * returns how many. */
static inline uint32_t mbuf_bytes(const struct rte_mbuf *m, uint8_t *buf, size_t size)
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
static inline void inject_tso(struct rte_ring *r, const uint8_t *data, uint32_t len,
			      uint16_t mss)
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

static inline void inject(struct rte_ring *r, const uint8_t *data, uint32_t len)
{
	inject_tso(r, data, len, 0);
}

/* Send one frame of len bytes (one slot) from f's queue qi and check it
 * arrived whole on txr, the port's tx ring, and was answered OKAY; a
 * zero-copy packet is answered once the wire freed the mbuf. */
static inline void tx_verified(struct fe *f, uint32_t qi, struct rte_ring *txr,
			       const uint8_t *pkt, uint32_t len)
{
	uint8_t got[PVIO_PAGE_SIZE];
	struct pvio_netif_tx_response rsp;
	struct rte_mbuf *m;

	assert_true(len <= sizeof(got));
	(void)fe_tx(f, qi, pkt, len, len, 0, 0);
	m = ring_take(txr, WAIT_MS);
	assert_non_null(m);
	assert_int_equal(mbuf_bytes(m, got, sizeof(got)), len);
	assert_memory_equal(got, pkt, len);
	rte_pktmbuf_free(m);
	fe_tx_rsps(f, qi, 1, &rsp);
	assert_int_equal(rsp.status, PVIO_NETIF_RSP_OKAY);
}

/* ---- a vif on a ring port ---------------------------------------------------- */

struct vif {
	struct pvio_xs_host host;
	struct pvio_xs xs;
	struct pvio_xs_event ev[16];
	struct pvio_netback_vif_spec spec;
	struct pvio_netback *nb;
	pvio_domid_t fe;
	uint32_t devid;
	struct rte_ring *rxr[4], *txr[4]; /* vif_new's port: we enqueue rx, dequeue tx */
	char dev[64];
};

typedef void (*tweak_fn)(struct pvio_netback_config *);

/* A ring ethdev of n queue pairs; its name in v->dev. */
static inline void ring_port(char *dev, size_t size, uint32_t n, struct rte_ring **rxr,
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

/* A vif of domain fe from an xl vif spec, served by netback (started) on
 * ethdev dev: its device in the store and its own store connection;
 * tweak (may be NULL) adjusts netback's config. */
static inline struct vif *vif_new_on(pvio_domid_t fe, const char *spec, const char *dev,
				     tweak_fn tweak)
{
	struct vif *v = calloc(1, sizeof(*v));
	struct pvio_netback_config cfg = { 0 };
	char err[128], mac[18];
	struct pvio_xenbus_kv fk[1];
	struct pvio_xenbus_device_keys keys = { 0 };

	assert_non_null(v);
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

/* The same on a ring port of its own with nq queue pairs. */
static inline struct vif *vif_new(pvio_domid_t fe, const char *spec, uint32_t nq, tweak_fn tweak)
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

static inline void vif_free(struct vif *v)
{
	pvio_netback_destroy(v->nb);
	pvio_xs_host_close(&v->host);
	free(v);
}

static inline struct pvio_netback_stats stats(struct vif *v)
{
	struct pvio_netback_stats st;

	pvio_netback_stats(v->nb, &st);
	return st;
}

#endif /* NB_TEST_RING_H */
