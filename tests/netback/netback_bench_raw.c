/* SPDX-License-Identifier: MIT */
/*
 * netback bench bodies (a standalone program, not a test; to move into
 * bench/ behind the Google Benchmark shim):
 *
 *   tx  DPDK straight to net_null (baseline: mbuf alloc + tx_burst, what
 *       any DPDK app pays) vs a guest's tx ring through netback to
 *       net_null, zero copy (mapped grants attached as extbufs) and copy
 *       (grant copy into a backend-frame mbuf), at 64/512/1500 B;
 *   rx  net_null (copy=1) through netback into a guest's rx ring, grant
 *       copy vs page flip, by size.
 *
 * The guest side runs in this thread with the raw ring/grant/evtchn APIs;
 * netback's queue thread polls (PVIO_EVTCHN_POLL) on the other CPU.
 * Repetitions are interleaved (baseline, zc, copy, baseline, ...) and each
 * is labelled with the cache-line ping-pong regime measured around it
 * (near/far/mixed, BENCHMARKING.md): compare within one regime only.
 *
 * usage: netback-bench-raw [ms_per_rep] [reps]   (default 300 3)
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <pvio/domain.h>
#include <pvio/host.h>

#include "common.h"

#define NPAGES 256

static char dir[64];
static struct pvio_hostd *hostd;
static struct pvio_domain *be;
static struct pvio_xs_host ts_host;
static struct pvio_xs ts;
static struct pvio_xs_event ts_ev[8];
static unsigned ms_per_rep = 300, reps = 3;

static void die(const char *what, int rc)
{
	fprintf(stderr, "netback-bench-raw: %s: %d\n", what, rc);
	exit(1);
}

/* ---- regime: bare cache-line ping-pong ------------------------------------------ */

static _Atomic uint32_t pp_word;
static _Atomic bool pp_stop;

static void *pp_peer(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&pp_stop, memory_order_relaxed)) {
		uint32_t v = atomic_load_explicit(&pp_word, memory_order_acquire);

		if (v & 1)
			atomic_store_explicit(&pp_word, v + 1, memory_order_release);
	}
	return NULL;
}

static double pingpong_ns(void)
{
	pthread_t t;
	uint64_t t0;
	const int n = 3000;

	atomic_store(&pp_stop, false);
	atomic_store(&pp_word, 0);
	pthread_create(&t, NULL, pp_peer, NULL);
	for (int i = 0; i < 100; i++) { /* warm */
		uint32_t v = atomic_load(&pp_word);

		atomic_store(&pp_word, v + 1);
		while (atomic_load_explicit(&pp_word, memory_order_acquire) == v + 1)
			;
	}
	t0 = pvio_now_ns();
	for (int i = 0; i < n; i++) {
		uint32_t v = atomic_load(&pp_word);

		atomic_store(&pp_word, v + 1);
		while (atomic_load_explicit(&pp_word, memory_order_acquire) == v + 1)
			;
	}
	t0 = pvio_now_ns() - t0;
	atomic_store(&pp_stop, true);
	pthread_join(t, NULL);
	return (double)t0 / n;
}

static const char *regime(double a, double b)
{
	bool na = a < 180, nb = b < 180;

	return na && nb ? "near" : !na && !nb ? "far" : "mixed";
}

/* ---- baseline: DPDK to net_null ---------------------------------------------------- */

static uint16_t base_port;
static struct rte_mempool *base_pool;

static void baseline_init(void)
{
	struct rte_eth_conf conf;

	if (rte_eth_dev_get_port_by_name("net_null0", &base_port) != 0)
		die("net_null0", -ENODEV);
	base_pool = rte_pktmbuf_pool_create("bbase", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					    SOCKET_ID_ANY);
	memset(&conf, 0, sizeof(conf));
	if (!base_pool || rte_eth_dev_configure(base_port, 1, 1, &conf) < 0 ||
	    rte_eth_rx_queue_setup(base_port, 0, 512, SOCKET_ID_ANY, NULL, base_pool) < 0 ||
	    rte_eth_tx_queue_setup(base_port, 0, 512, SOCKET_ID_ANY, NULL) < 0 ||
	    rte_eth_dev_start(base_port) < 0)
		die("baseline port", -EIO);
}

static double baseline_mpps(uint32_t size)
{
	struct rte_mbuf *m[32];
	uint64_t n = 0, t0 = pvio_now_ns(), end = t0 + ms_per_rep * 1000000ull;

	while (pvio_now_ns() < end) {
		for (int k = 0; k < 64; k++) {
			if (rte_pktmbuf_alloc_bulk(base_pool, m, 32) != 0)
				continue;
			for (int i = 0; i < 32; i++) {
				m[i]->data_len = (uint16_t)size;
				m[i]->pkt_len = size;
			}
			uint16_t s = rte_eth_tx_burst(base_port, 0, m, 32);

			if (s < 32)
				rte_pktmbuf_free_bulk(m + s, 32u - s);
			n += s;
		}
	}
	return (double)n / ((double)(pvio_now_ns() - t0) / 1e3);
}

/* ---- a vif and its guest ------------------------------------------------------------- */

struct guest {
	struct pvio_domain *d;
	struct pvio_xenbus_device x;
	struct pvio_xs_host host;
	struct pvio_xs xs;
	struct pvio_xs_event ev[16];
	struct pvio_netback *nb;
	struct pvio_netback_vif_spec spec;
	struct pvio_ring_front tx, rx;
	uint32_t port;
	uint32_t data_pfn;
	pvio_grant_ref_t ref[NPAGES];
	bool flip;
};

static void fe_key(struct guest *g, const char *k, uint64_t v)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];

	pvio_xs_join(path, sizeof(path), g->x.nodename, k);
	if (pvio_xs_write_uint(g->d->xs, 0, path, v))
		die("store write", -EIO);
}

static void guest_up(struct guest *g, uint32_t devid, const char *dev, bool zc_off,
		     bool flip)
{
	struct pvio_domain_config dc = { .name = "bench", .nr_pages = 4096 };
	struct pvio_netback_config cfg = { 0 };
	enum pvio_xenbus_state st;
	uint32_t tp, rp;
	pvio_grant_ref_t tr, rr;
	char path[128];
	int rc;

	memset(g, 0, sizeof(*g));
	g->flip = flip;
	if ((rc = pvio_domain_connect(dir, &dc, &g->d)))
		die("domain", rc);
	pvio_netback_vif_spec_parse("mac=00:16:3e:0b:00:01", &g->spec, NULL, 0);
	if ((rc = pvio_xenbus_device_create(&ts, "vif", 0, g->d->domid, devid, NULL)))
		die("device_create", rc);
	snprintf(path, sizeof(path), "%s/socket", dir);
	pvio_xs_host_connect(&g->host, path);
	pvio_xs_init(&g->xs, &pvio_xs_host_ops, &g->host, g->ev, 16);
	pvio_netback_config_from_domain(&cfg, be);
	cfg.fe = g->d->domid;
	cfg.devid = devid;
	cfg.xs = &g->xs;
	cfg.vif = &g->spec;
	cfg.port = "dpdk";
	cfg.port_dev = dev;
	cfg.wait_mode = PVIO_EVTCHN_POLL;
	cfg.wait_mode_set = true;
	if (zc_off)
		cfg.zerocopy_off = true;
	else
		cfg.copy_threshold = 1; /* everything zero copy */
	if ((rc = pvio_netback_create(&cfg, &g->nb)) || (rc = pvio_netback_start(g->nb)))
		die("netback", rc);
	pvio_xenbus_frontend_attach(&g->x, g->d->xs, "vif", g->d->domid, devid);
	if ((rc = pvio_xenbus_wait_otherend(&g->x, PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_INIT_WAIT),
					    10000, &st)))
		die("InitWait", rc);
	pvio_domain_page_alloc(g->d, 1, &tp);
	pvio_domain_page_alloc(g->d, 1, &rp);
	pvio_gnt_grant(g->d->gnt, 0, tp, false, &tr);
	pvio_gnt_grant(g->d->gnt, 0, rp, false, &rr);
	pvio_netif_tx_front_init(&g->tx, pvio_domain_page(g->d, tp), PVIO_PAGE_SIZE);
	pvio_netif_rx_front_init(&g->rx, pvio_domain_page(g->d, rp), PVIO_PAGE_SIZE);
	pvio_evtchn_alloc_unbound(g->d->evtchn, 0, &g->port);
	fe_key(g, "tx-ring-ref", tr);
	fe_key(g, "rx-ring-ref", rr);
	fe_key(g, "event-channel", g->port);
	fe_key(g, "request-rx-copy", !flip);
	fe_key(g, "feature-rx-notify", 1);
	fe_key(g, "feature-sg", 1);
	pvio_domain_page_alloc(g->d, NPAGES, &g->data_pfn);
	for (uint32_t k = 0; k < NPAGES; k++) {
		memset(pvio_domain_page(g->d, g->data_pfn + k), 0x5a, PVIO_PAGE_SIZE);
		memcpy((uint8_t *)pvio_domain_page(g->d, g->data_pfn + k) + 6, g->spec.mac, 6);
		if (!flip)
			pvio_gnt_grant(g->d->gnt, 0, g->data_pfn + k, false, &g->ref[k]);
	}
	pvio_xenbus_switch_state(&g->x, PVIO_XENBUS_CONNECTED);
	if ((rc = pvio_xenbus_wait_otherend(&g->x, PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_CONNECTED),
					    10000, &st)))
		die("Connected", rc);
}

static void guest_down(struct guest *g)
{
	enum pvio_xenbus_state st;

	pvio_xenbus_switch_state(&g->x, PVIO_XENBUS_CLOSING);
	pvio_xenbus_wait_otherend(&g->x, PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_CLOSING) |
				  PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_CLOSED), 10000, &st);
	pvio_xenbus_switch_state(&g->x, PVIO_XENBUS_CLOSED);
	pvio_xenbus_detach(&g->x);
	pvio_netback_destroy(g->nb);
	pvio_xs_host_close(&g->host);
	pvio_domain_disconnect(g->d);
}

/* Guest tx: keep the ring full of size-byte packets; count answers. */
static double tx_mpps(struct guest *g, uint32_t size)
{
	uint64_t n = 0, t0 = pvio_now_ns(), end = t0 + ms_per_rep * 1000000ull;
	uint32_t k = 0;
	uint16_t id = 0;
	struct pvio_netif_tx_response rsp;

	while (pvio_now_ns() < end) {
		for (int b = 0; b < 32 && pvio_ring_front_free_slots(&g->tx) > 0; b++) {
			struct pvio_netif_tx_request *r = pvio_netif_tx_front_next_req(&g->tx);

			r->gref = g->ref[k++ % NPAGES];
			r->offset = 0;
			r->flags = 0;
			r->id = id++;
			r->size = (uint16_t)size;
		}
		if (pvio_ring_front_push(&g->tx) == 1)
			pvio_evtchn_notify(g->d->evtchn, g->port);
		while (pvio_netif_tx_front_get_rsp(&g->tx, &rsp) == 1)
			n++;
	}
	/* drain what is in flight before the next repetition */
	for (uint64_t e2 = pvio_now_ns() + 1000000000ull; pvio_now_ns() < e2 &&
	     pvio_ring_front_free_slots(&g->tx) < g->tx.nr_slots;)
		(void)pvio_netif_tx_front_get_rsp(&g->tx, &rsp);
	return (double)n / ((double)(pvio_now_ns() - t0) / 1e3);
}

/* Guest rx: keep the ring full of buffers; count packets. */
static double rx_mpps(struct guest *g)
{
	uint64_t n = 0, t0, end;
	uint32_t k = 0;
	struct pvio_netif_rx_response rsp;

	t0 = pvio_now_ns();
	end = t0 + ms_per_rep * 1000000ull;
	while (pvio_now_ns() < end) {
		for (int b = 0; b < 32 && pvio_ring_front_free_slots(&g->rx) > 0; b++) {
			struct pvio_netif_rx_request *r = pvio_netif_rx_front_next_req(&g->rx);
			uint32_t i = k++ % NPAGES;

			if (g->flip)
				pvio_gnt_grant_transfer(g->d->gnt, 0, g->data_pfn + i, &g->ref[i]);
			r->id = (uint16_t)i;
			r->gref = g->ref[i];
		}
		if (pvio_ring_front_push(&g->rx) == 1)
			pvio_evtchn_notify(g->d->evtchn, g->port);
		while (pvio_netif_rx_front_get_rsp(&g->rx, &rsp) == 1) {
			if (g->flip) {
				uint32_t mfn;

				pvio_gnt_transfer_end(g->d->gnt, g->ref[rsp.id % NPAGES], &mfn);
			}
			if (rsp.status > 0)
				n++;
		}
	}
	return (double)n / ((double)(pvio_now_ns() - t0) / 1e3);
}

static void line(const char *what, uint32_t size, double mpps, double base, const char *reg,
		 const struct pvio_netback_stats *st)
{
	printf("%-22s %5u B  %7.3f Mpps  %7.2f Gbit/s", what, size, mpps,
	       mpps * size * 8 / 1e3);
	if (base > 0)
		printf("  ratio %.3f", mpps / base);
	else
		printf("              ");
	printf("  [%s]", reg);
	if (st) {
		double pk = (double)(st->tx_packets + st->rx_packets);

		printf("  kicks/pkt %.4f wakeups/pkt %.4f events/pkt %.4f",
		       pk ? (double)st->kicks / pk : 0.0, pk ? (double)st->wakeups / pk : 0.0,
		       pk ? (double)st->events / pk : 0.0);
	}
	printf("\n");
}

int main(int argc, char **argv)
{
	struct pvio_hostd_config hc = { 0 };
	struct pvio_domain_config dc = { .name = "idd", .nr_pages = 32768, .driver_domain = true };
	static const uint32_t txs[] = { 64, 512, 1500 };
	static const uint32_t rxs[] = { 64, 512, 1500, 3900 };
	char args[256], path[128];
	int rc;

	if (argc > 1)
		ms_per_rep = (unsigned)atoi(argv[1]);
	if (argc > 2)
		reps = (unsigned)atoi(argv[2]);
	strcpy(dir, "/tmp/pvio-nbb-XXXXXX");
	if (!mkdtemp(dir))
		die("mkdtemp", -errno);
	hc.run_dir = dir;
	hc.nr_frames = 65536;
	if ((rc = pvio_hostd_create(&hc, &hostd)) || (rc = pvio_hostd_start(hostd)) ||
	    (rc = pvio_domain_connect(dir, &dc, &be)))
		die("hostd", rc);
	snprintf(path, sizeof(path), "%s/socket", dir);
	pvio_xs_host_connect(&ts_host, path);
	pvio_xs_init(&ts, &pvio_xs_host_ops, &ts_host, ts_ev, 8);
	snprintf(args, sizeof(args), "--no-huge --no-pci -m 512 --no-shconf --no-telemetry "
		 "--file-prefix=pvio-nbb-%d --log-level=error --vdev=net_null0 --vdev=net_null1",
		 (int)getpid());
	if ((rc = pvio_netback_dpdk_init(args)))
		die("EAL", rc);
	baseline_init();
	{
		double l1, l5, l15;
		FILE *la = fopen("/proc/loadavg", "r");

		/* Other processes spinning on these 2 CPUs make every figure
		 * below noise: say so in the output. */
		if (la && fscanf(la, "%lf %lf %lf", &l1, &l5, &l15) == 3)
			printf("# load average %.2f (figures are only meaningful near 0)\n", l1);
		if (la)
			fclose(la);
		printf("# ping-pong %.0f ns\n", pingpong_ns());
	}

	printf("# tx: guest ring -> netback -> net_null; baseline: DPDK alloc+tx_burst "
	       "to net_null (ratio = netback / baseline, same regime only)\n");
	{
		struct guest zc, cp;

		/* one vif per mode on the same net_null1 is not allowed (direct
		 * mode owns the ethdev): run them one after the other */
		for (size_t si = 0; si < sizeof(txs) / sizeof(txs[0]); si++) {
			for (unsigned r = 0; r < reps; r++) {
				struct pvio_netback_stats st;
				double p0 = pingpong_ns(), b, z, c, p1 = 0;

				b = baseline_mpps(txs[si]);
				guest_up(&zc, 1, "net_null1", false, false);
				z = tx_mpps(&zc, txs[si]);
				pvio_netback_stats(zc.nb, &st);
				guest_down(&zc);
				guest_up(&cp, 2, "net_null1", true, false);
				c = tx_mpps(&cp, txs[si]);
				{
					struct pvio_netback_stats sc;

					pvio_netback_stats(cp.nb, &sc);
					guest_down(&cp);
					p1 = pingpong_ns();
					line("dpdk-baseline", txs[si], b, 0, regime(p0, p1), NULL);
					line("netback-tx-zerocopy", txs[si], z, b, regime(p0, p1), &st);
					line("netback-tx-copy", txs[si], c, b, regime(p0, p1), &sc);
				}
			}
		}
	}
	printf("# rx: net_null(copy=1,size) -> netback -> guest ring, grant copy vs flip\n");
	for (size_t si = 0; si < sizeof(rxs) / sizeof(rxs[0]); si++) {
		for (unsigned r = 0; r < reps; r++) {
			struct guest gc, gf;
			struct pvio_netback_stats sc, sf;
			char dev[64];
			double p0 = pingpong_ns(), c, f, p1;

			snprintf(dev, sizeof(dev), "net_null%zu%u,copy=1,size=%u", 10 + si, r, rxs[si]);
			guest_up(&gc, 3, dev, false, false);
			c = rx_mpps(&gc);
			pvio_netback_stats(gc.nb, &sc);
			guest_down(&gc);
			snprintf(dev, sizeof(dev), "net_null%zu%u,copy=1,size=%u", 20 + si, r, rxs[si]);
			guest_up(&gf, 4, dev, false, true);
			f = rx_mpps(&gf);
			pvio_netback_stats(gf.nb, &sf);
			guest_down(&gf);
			p1 = pingpong_ns();
			line("netback-rx-copy", rxs[si], c, 0, regime(p0, p1), &sc);
			line("netback-rx-flip", rxs[si], f, c, regime(p0, p1), &sf);
			printf("    flips of the port's own frame: %llu of %llu\n",
			       (unsigned long long)sf.rx_flip_zerocopy,
			       (unsigned long long)sf.rx_flipped);
		}
	}
	pvio_xs_host_close(&ts_host);
	pvio_domain_disconnect(be);
	pvio_hostd_destroy(hostd);
	rte_eal_cleanup();
	snprintf(path, sizeof(path), "rm -rf /var/run/dpdk/pvio-nbb-%d", (int)getpid());
	if (system(path) != 0)
		fprintf(stderr, "netback-bench-raw: could not remove the EAL runtime dir\n");
	snprintf(path, sizeof(path), "%s/hostd.lock", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}
