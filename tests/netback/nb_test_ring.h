/* SPDX-License-Identifier: MIT */
/*
 * DPDK ring ports as the wire of a netback test (tests/netback's backend
 * test, tests/fault's netback test): EAL and the test's mbuf pool, frames
 * put where the port receives them and taken from where it sends them.
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
	memcpy(rte_pktmbuf_append(m, (uint16_t)len), data, len);
	if (mss) {
		m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_IPV4;
		m->tso_segsz = mss;
		m->l2_len = 14;
		m->l3_len = 20;
		m->l4_len = 20;
	}
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

#endif /* NB_TEST_RING_H */
