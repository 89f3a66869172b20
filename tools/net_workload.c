/* SPDX-License-Identifier: MIT */
/*
 * The network workload: a frame generator and counter over netfront (the
 * guest's side), the net_ring generator of the backend's process (the
 * port's side), the flags and the summaries. See net_workload.h.
 */
#define ALLOW_EXPERIMENTAL_API 1

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvio/tsan.h>

#include "cli.h"
#include "net_workload.h"

#ifdef NET_WORKLOAD_HAVE_DPDK
#include <rte_ethdev.h>
#include <rte_eth_ring.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#endif

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The peer's MAC (a locally administered unicast) and our EtherType
 * (IEEE local experimental 1). */
static const uint8_t peer_mac[6] = { 0x02, 0x70, 0x76, 0x69, 0x6f, 0x01 };
#define NET_ETHERTYPE 0x88b5

static void frame_fill(uint8_t *f, uint32_t size, const uint8_t dst[6], const uint8_t src[6])
{
	memset(f, 0, size);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = NET_ETHERTYPE >> 8;
	f[13] = NET_ETHERTYPE & 0xff;
	for (uint32_t i = 14; i < size; i++)
		f[i] = (uint8_t)i;
}

/* ---- flags ------------------------------------------------------------------------ */

void net_workload_defaults(struct net_workload_config *c)
{
	memset(c, 0, sizeof(*c));
	c->size = 64;
	c->burst = 32;
	c->duration_ms = 5000;
	c->queues = 1;
	c->rx_mode = PVIO_NETFRONT_RX_COPY;
	c->dir = NET_DIR_TX;
}

const char net_workload_help[] =
	"  --size BYTES      frame size without FCS, 60..65535 (default 64)\n"
	"  --burst N         packets per send (one ring push, one kick at most),\n"
	"                    1..256 (default 32)\n"
	"  --rate PPS        tx packets per second, k/m/g suffixes (x1000);\n"
	"                    0: as fast as it goes (default 0)\n"
	"  --duration SECS   how long to send, 0.01..3600, decimals allowed\n"
	"                    (default 5)\n"
	"  --queues N        queues (multi-queue), 1..8 (default 1)\n"
	"  --rx copy|flip    how the backend fills the guest's rx buffers: grant\n"
	"                    copy (default) or page flip (transfer)\n"
	"  --direction tx|rx|both  tx: the guest sends (default); rx: the port side\n"
	"                    sends to the guest (net_null produces zero-filled\n"
	"                    frames of --size on its own, unpaced; net_ring is fed\n"
	"                    by the backend process at --rate); both: the two\n"
	"                    at once\n";

const char net_tx_copy_help[] =
	"  --tx-copy auto|always|never|BYTES  how netback takes tx frames: grant\n"
	"                    copy up to BYTES (60..65535), map (zero copy) above;\n"
	"                    auto: its measured default (netback/README.md)\n";

bool net_tx_copy_flag(const char *cmd, struct net_workload_config *c, int argc, char **argv,
		      int *i)
{
	const char *v = cli_flag_value(cmd, "--tx-copy", argc, argv, i);

	if (!v)
		return false;
	if (!strcmp(v, "auto"))
		c->tx_copy = 0;
	else if (!strcmp(v, "always"))
		c->tx_copy = NET_TX_COPY_ALWAYS;
	else if (!strcmp(v, "never"))
		c->tx_copy = NET_TX_COPY_NEVER;
	else
		c->tx_copy = (uint32_t)cli_parse_u64(cmd, "--tx-copy", v, NET_SIZE_MIN, 65535);
	return true;
}

const char *net_dir_name(enum net_dir d)
{
	return d == NET_DIR_TX ? "tx" : d == NET_DIR_RX ? "rx" : "both";
}

bool net_workload_flag(const char *cmd, struct net_workload_config *c, int argc,
		       char **argv, int *i)
{
	const char *v;

	if ((v = cli_flag_value(cmd, "--size", argc, argv, i))) {
		c->size = (uint32_t)cli_parse_u64(cmd, "--size", v, NET_SIZE_MIN, 65535);
	} else if ((v = cli_flag_value(cmd, "--burst", argc, argv, i))) {
		c->burst = (uint32_t)cli_parse_u64(cmd, "--burst", v, 1, NET_BURST_MAX);
	} else if ((v = cli_flag_value(cmd, "--rate", argc, argv, i))) {
		c->rate = cli_parse_u64(cmd, "--rate", v, 0, 1000000000ull);
	} else if ((v = cli_flag_value(cmd, "--duration", argc, argv, i))) {
		char *end;
		double d;

		errno = 0;
		d = strtod(v, &end);
		if (errno || end == v || *end || !(d >= 0.01 && d <= 3600))
			cli_usage_error(cmd, "--duration takes seconds 0.01..3600, got '%s'", v);
		c->duration_ms = (uint32_t)(d * 1000.0 + 0.5);
	} else if ((v = cli_flag_value(cmd, "--queues", argc, argv, i))) {
		c->queues = (uint32_t)cli_parse_u64(cmd, "--queues", v, 1,
						    PVIO_NETFRONT_MAX_QUEUES);
	} else if ((v = cli_flag_value(cmd, "--rx", argc, argv, i))) {
		if (!strcmp(v, "copy"))
			c->rx_mode = PVIO_NETFRONT_RX_COPY;
		else if (!strcmp(v, "flip"))
			c->rx_mode = PVIO_NETFRONT_RX_FLIP;
		else
			cli_usage_error(cmd, "--rx takes copy or flip, got '%s'", v);
	} else if ((v = cli_flag_value(cmd, "--direction", argc, argv, i))) {
		if (!strcmp(v, "tx"))
			c->dir = NET_DIR_TX;
		else if (!strcmp(v, "rx"))
			c->dir = NET_DIR_RX;
		else if (!strcmp(v, "both"))
			c->dir = NET_DIR_BOTH;
		else
			cli_usage_error(cmd, "--direction takes tx, rx or both, got '%s'", v);
	} else {
		return false;
	}
	return true;
}

void net_parse_port(const char *cmd, const char *v, struct net_port_choice *pc)
{
	memset(pc, 0, sizeof(*pc));
	if (!*v)
		cli_usage_error(cmd, "--port needs null, ring, tap, af_packet or a DPDK vdev");
	if (strlen(v) >= sizeof(pc->dev))
		cli_usage_error(cmd, "--port: '%.40s...' is too long", v);
	static const char *const kinds[] = { "null", "ring", "tap", "af_packet" };

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (!strcmp(v, kinds[k]))
			snprintf(pc->name, sizeof(pc->name), "%s", kinds[k]);
	if (!pc->name[0]) {
		snprintf(pc->name, sizeof(pc->name), "vdev");
		snprintf(pc->dev, sizeof(pc->dev), "%s", v);
	}
	pc->tap = !strcmp(pc->name, "tap");
	pc->ring = !strcmp(pc->name, "ring");
}

void net_port_dev(const struct net_port_choice *pc, const struct net_workload_config *wl,
		  char *dev, size_t size)
{
	if (!strcmp(pc->name, "null")) {
		if (wl->dir == NET_DIR_TX)
			snprintf(dev, size, "net_null0,no-rx=1");
		else
			snprintf(dev, size, "net_null0,size=%u", wl->size > 4096 ? 4096 : wl->size);
	} else if (!strcmp(pc->name, "af_packet")) {
		/* A veth/any netdev named by the vif spec would do; lo is there. */
		snprintf(dev, size, "net_af_packet0,iface=lo");
	} else {
		snprintf(dev, size, "%s", pc->dev);
	}
}

/* ---- the frontend's generator ----------------------------------------------------------- */

struct rx_count {
	uint64_t packets, bytes;
};

static void rx_one(void *arg, const struct pvio_netfront_rx *pkt)
{
	struct rx_count *c = arg;

	c->packets++;
	c->bytes += pkt->len;
}

uint32_t netfront_side_pages(const struct net_workload_config *wl)
{
	/* Per queue: two rings, 256 rx buffers, 256 tx copy pages, slack. */
	return wl->queues * (2 + 256 + 256 + 64) + 2048;
}

static void progress_line(const struct net_workload_config *cfg, uint64_t t0, uint64_t now,
			  uint64_t tx, uint64_t rx, uint64_t *ptx, uint64_t *prx, uint64_t *pt)
{
	double dt = (double)(now - *pt) / 1e9;

	printf("%s: %3" PRIu64 " s  tx %.3f Mpps  rx %.3f Mpps\n",
	       cfg->progress_prefix ? cfg->progress_prefix : "pvio",
	       (uint64_t)((now - t0) / 1000000000u),
	       dt > 0 ? (double)(tx - *ptx) / dt / 1e6 : 0,
	       dt > 0 ? (double)(rx - *prx) / dt / 1e6 : 0);
	fflush(stdout);
	*ptx = tx;
	*prx = rx;
	*pt = now;
}

int net_workload_run(struct pvio_netfront *nf, const struct net_workload_config *cfg,
		     _Atomic int *stop, struct net_workload_result *res,
		     char *msg, size_t msg_size)
{
	struct pvio_netfront_pkt pkts[NET_BURST_MAX];
	struct pvio_netfront_stats s0, s;
	struct rx_count rc = { 0 };
	uint8_t *frame;
	bool send = cfg->dir != NET_DIR_RX;
	uint32_t q = 0;
	uint64_t sent = 0;

	memset(res, 0, sizeof(*res));
	res->cfg = *cfg;
	pvio_netfront_get_info(nf, &res->info);
	if (send && cfg->size > res->info.max_tx_frame) {
		snprintf(msg, msg_size, "--size %u is above the largest frame the device "
			 "sends (%u)", cfg->size, res->info.max_tx_frame);
		return -EINVAL;
	}
	frame = malloc(cfg->size);
	if (!frame) {
		snprintf(msg, msg_size, "no memory for a %u-byte frame", cfg->size);
		return -ENOMEM;
	}
	frame_fill(frame, cfg->size, peer_mac, res->info.mac);
	for (uint32_t i = 0; i < NET_BURST_MAX; i++)
		pkts[i] = (struct pvio_netfront_pkt){ .data = frame, .len = cfg->size };

	pvio_netfront_get_stats(nf, &s0);
	uint64_t t0 = mono_ns(), now = t0, end = t0 + (uint64_t)cfg->duration_ms * 1000000ull;
	uint64_t next = t0 + 1000000000ull, ptx = 0, prx = 0, pt = t0;
	uint32_t nq = res->info.nr_queues ? res->info.nr_queues : 1;

	while (now < end && !(stop && *stop)) {
		bool idle = true;

		if (send) {
			uint64_t n = cfg->burst;

			if (cfg->rate) {
				uint64_t allowed = (uint64_t)((double)cfg->rate *
							      (double)(now - t0) / 1e9) + 1;
				n = allowed > sent ? allowed - sent : 0;
				if (n > cfg->burst)
					n = cfg->burst;
			}
			if (n) {
				int r = pvio_netfront_send_burst(nf, q, pkts, (unsigned)n);

				if (r == -EAGAIN) {
					res->send_again++;
					(void)pvio_netfront_wait(nf, PVIO_NETFRONT_WAIT_TX |
								 PVIO_NETFRONT_WAIT_RX, 1000000);
				} else if (r < 0) {
					res->first_error = r;
					break;
				} else {
					sent += (uint64_t)r;
					idle = false;
				}
				q = (q + 1) % nq;
			}
		}
		int r = pvio_netfront_recv_cb(nf, PVIO_NETFRONT_QUEUE_ANY, rx_one, &rc, 256);

		if (r < 0) {
			res->first_error = r;
			break;
		}
		if (r > 0)
			idle = false;
		now = mono_ns();
		if (idle) {
			if (!send || cfg->rate)
				(void)pvio_netfront_wait(nf, PVIO_NETFRONT_WAIT_RX, 1000000);
			now = mono_ns();
		}
		if (cfg->progress && now >= next) {
			pvio_netfront_get_stats(nf, &s);
			progress_line(cfg, t0, now, s.tx_packets - s0.tx_packets, rc.packets,
				      &ptx, &prx, &pt);
			next += 1000000000ull;
		}
	}
	res->ns = mono_ns() - t0;
	res->rx_packets = rc.packets;
	res->rx_bytes = rc.bytes;
	int d = pvio_netfront_tx_drain(nf, 5000000000ull);

	res->drained = d == 0;
	if (d && !res->first_error && d != -ETIMEDOUT)
		res->first_error = d;
	pvio_netfront_get_stats(nf, &s);
	res->front = s;
	res->tx_packets = s.tx_packets - s0.tx_packets;
	res->tx_bytes = s.tx_bytes - s0.tx_bytes;
	res->tx_errors = s.tx_errors - s0.tx_errors;
	res->tx_dropped = s.tx_dropped - s0.tx_dropped;
	res->rx_errors = s.rx_errors - s0.rx_errors;
	res->rx_dropped = s.rx_dropped - s0.rx_dropped;
	res->rx_truncated = s.rx_truncated - s0.rx_truncated;
	free(frame);
	return 0;
}

/* ---- summaries --------------------------------------------------------------------------- */

uint64_t net_errors(const struct net_workload_result *r, const struct pvio_netback_stats *b)
{
	uint64_t e = r->tx_errors + r->rx_errors + r->front.protocol_errors +
		     (r->first_error ? 1 : 0);

	if (b)
		e += b->tx_err_size + b->tx_err_offset + b->tx_err_slots + b->tx_err_extra +
		     b->tx_err_gso + b->tx_err_grant + b->tx_err_csum + b->tx_fatal +
		     b->rx_err_grant + b->err_protocol;
	return e;
}

uint64_t net_drops(const struct net_workload_result *r, const struct pvio_netback_stats *b)
{
	uint64_t d = r->tx_dropped + r->rx_dropped + r->rx_truncated;

	if (b)
		d += b->tx_drop_port + b->tx_drop_spoof + b->rx_drop_full + b->rx_drop_stall +
		     b->rx_drop_toobig + b->rx_drop_gso + b->rx_drop_mcast;
	return d;
}

bool net_workload_ok(const struct net_workload_result *r, const struct pvio_netback_stats *b)
{
	uint64_t moved = r->cfg.dir == NET_DIR_RX ? r->rx_packets :
			 r->cfg.dir == NET_DIR_TX ? r->tx_packets :
			 (r->tx_packets && r->rx_packets ? 1 : 0);

	return net_errors(r, b) == 0 && r->drained && moved > 0 && !(b && b->broken);
}

struct figures {
	double secs, mpps, gbit, tx_mpps, rx_mpps, kicks_per_pkt;
	uint64_t packets, kicks;
};

static void figures(const struct net_workload_result *r, const struct pvio_netback_stats *b,
		    struct figures *f)
{
	uint64_t bytes = r->tx_bytes + r->rx_bytes;

	f->secs = (double)r->ns / 1e9;
	f->packets = r->tx_packets + r->rx_packets;
	f->mpps = f->secs > 0 ? (double)f->packets / f->secs / 1e6 : 0;
	f->tx_mpps = f->secs > 0 ? (double)r->tx_packets / f->secs / 1e6 : 0;
	f->rx_mpps = f->secs > 0 ? (double)r->rx_packets / f->secs / 1e6 : 0;
	f->gbit = f->secs > 0 ? (double)bytes * 8 / f->secs / 1e9 : 0;
	f->kicks = r->front.tx_kicks + r->front.rx_kicks + (b ? b->kicks : 0);
	f->kicks_per_pkt = f->packets ? (double)f->kicks / (double)f->packets : 0;
}

void net_report_text(FILE *out, const char *cmd, const struct net_workload_result *r,
		     const struct pvio_netback_stats *b, const struct net_port_result *p,
		     const char *port_name)
{
	struct figures f;

	figures(r, b, &f);
	fprintf(out, "pvio %s: %s, %u-byte frames, %u queue%s, rx %s, burst %u%s%s, %.2f s\n",
		cmd, net_dir_name(r->cfg.dir), r->cfg.size, r->info.nr_queues,
		r->info.nr_queues == 1 ? "" : "s",
		r->info.rx_mode == PVIO_NETFRONT_RX_FLIP ? "flip" : "copy", r->cfg.burst,
		port_name ? ", port " : "", port_name ? port_name : "", f.secs);
	fprintf(out, "  packets  %" PRIu64 " (tx %" PRIu64 ", rx %" PRIu64 ")\n", f.packets,
		r->tx_packets, r->rx_packets);
	fprintf(out, "  rate     %.3f Mpps (tx %.3f, rx %.3f), %.3f Gbit/s\n", f.mpps,
		f.tx_mpps, f.rx_mpps, f.gbit);
	fprintf(out, "  drops    %" PRIu64 ", errors %" PRIu64 "\n", net_drops(r, b),
		net_errors(r, b));
	fprintf(out, "  kicks    %.4f per packet (frontend tx %" PRIu64 ", rx %" PRIu64,
		f.kicks_per_pkt, r->front.tx_kicks, r->front.rx_kicks);
	if (b)
		fprintf(out, ", backend %" PRIu64, b->kicks);
	fprintf(out, ")\n");
	if (b)
		fprintf(out, "  backend  tx zero-copy %" PRIu64 ", tx copied %" PRIu64
			", rx copied %" PRIu64 ", rx flipped %" PRIu64 " (%" PRIu64
			" of the port's own frames)\n", b->tx_zerocopy, b->tx_copied,
			b->rx_copied, b->rx_flipped, b->rx_flip_zerocopy);
	fprintf(out, "  frontend tx copied %" PRIu64 ", tx zero-copy %" PRIu64
		", rx copies %" PRIu64 ", rx flips %" PRIu64 "\n", r->front.tx_copied,
		r->front.tx_zero_copy, r->front.rx_copies, r->front.rx_flips);
	if (p && p->ring)
		fprintf(out, "  port     injected %" PRIu64 " (%" PRIu64 " refused, ring full), "
			"transmitted %" PRIu64 "\n", p->injected, p->inject_full, p->sunk);
}

void net_report_json(FILE *out, const char *cmd, const struct net_workload_result *r,
		     const struct pvio_netback_stats *b, const struct net_port_result *p,
		     const char *port_name)
{
	struct figures f;

	figures(r, b, &f);
	fprintf(out, "{\"command\": \"%s\", \"direction\": \"%s\", \"port\": \"%s\", "
		"\"size\": %u, \"burst\": %u, \"queues\": %u, \"rx_mode\": \"%s\", "
		"\"seconds\": %.6f, \"packets\": %" PRIu64 ", \"tx_packets\": %" PRIu64
		", \"rx_packets\": %" PRIu64 ", \"tx_bytes\": %" PRIu64 ", \"rx_bytes\": %" PRIu64
		", \"mpps\": %.6f, \"tx_mpps\": %.6f, \"rx_mpps\": %.6f, \"gbit_per_s\": %.6f"
		", \"drops\": %" PRIu64 ", \"errors\": %" PRIu64 ", \"kicks\": %" PRIu64
		", \"kicks_per_packet\": %.6f, \"frontend_tx_copied\": %" PRIu64
		", \"frontend_tx_zero_copy\": %" PRIu64 ", \"frontend_rx_copies\": %" PRIu64
		", \"frontend_rx_flips\": %" PRIu64,
		cmd, net_dir_name(r->cfg.dir), port_name ? port_name : "", r->cfg.size,
		r->cfg.burst, r->info.nr_queues,
		r->info.rx_mode == PVIO_NETFRONT_RX_FLIP ? "flip" : "copy", f.secs, f.packets,
		r->tx_packets, r->rx_packets, r->tx_bytes, r->rx_bytes, f.mpps, f.tx_mpps,
		f.rx_mpps, f.gbit, net_drops(r, b), net_errors(r, b), f.kicks,
		f.kicks_per_pkt, r->front.tx_copied, r->front.tx_zero_copy, r->front.rx_copies,
		r->front.rx_flips);
	if (b)
		fprintf(out, ", \"backend\": {\"tx_packets\": %" PRIu64 ", \"tx_zerocopy\": %"
			PRIu64 ", \"tx_copied\": %" PRIu64 ", \"rx_packets\": %" PRIu64
			", \"rx_copied\": %" PRIu64 ", \"rx_flipped\": %" PRIu64
			", \"rx_flip_zerocopy\": %" PRIu64 ", \"kicks\": %" PRIu64
			", \"tx_drop_port\": %" PRIu64 ", \"rx_drop_full\": %" PRIu64
			", \"rx_drop_stall\": %" PRIu64 ", \"err_protocol\": %" PRIu64
			", \"broken\": %s}", b->tx_packets, b->tx_zerocopy, b->tx_copied,
			b->rx_packets, b->rx_copied, b->rx_flipped, b->rx_flip_zerocopy,
			b->kicks, b->tx_drop_port, b->rx_drop_full, b->rx_drop_stall,
			b->err_protocol, b->broken ? "true" : "false");
	if (p && p->ring)
		fprintf(out, ", \"port_injected\": %" PRIu64 ", \"port_inject_full\": %" PRIu64
			", \"port_transmitted\": %" PRIu64, p->injected, p->inject_full, p->sunk);
	fprintf(out, ", \"ok\": %s}\n", net_workload_ok(r, b) ? "true" : "false");
}

void net_report_failure(FILE *out, const char *cmd, const struct net_workload_result *r,
			const struct pvio_netback_stats *b)
{
	if (r->first_error)
		fprintf(out, "pvio %s: the device failed: %s\n", cmd, strerror(-r->first_error));
	else if (net_errors(r, b))
		fprintf(out, "pvio %s: %" PRIu64 " errors (frontend tx %" PRIu64 ", rx %" PRIu64
			")\n", cmd, net_errors(r, b), r->tx_errors, r->rx_errors);
	else if (!r->drained)
		fprintf(out, "pvio %s: tx packets did not come back within 5 s\n", cmd);
	else
		fprintf(out, "pvio %s: no packets moved (%s)\n", cmd, net_dir_name(r->cfg.dir));
}

/* ---- the port-side generator ------------------------------------------------------------- */

#ifdef NET_WORKLOAD_HAVE_DPDK

#define GEN_RING 1024u
#define GEN_BURST 32u

struct net_port_gen {
	uint32_t nq;
	struct rte_ring *rx[PVIO_NETFRONT_MAX_QUEUES], *tx[PVIO_NETFRONT_MAX_QUEUES];
	struct rte_mempool *pool;
	pthread_t thread;
	bool running;
	_Atomic int stop;
	bool inject;
	struct net_workload_config wl;
	uint8_t mac[6];
	struct net_port_result res;
};

static atomic_uint gen_seq;

int net_port_gen_create(uint32_t queues, char *dev, size_t dev_size, struct net_port_gen **out)
{
	struct net_port_gen *g = calloc(1, sizeof(*g));
	char name[RTE_RING_NAMESIZE], ename[RTE_ETH_NAME_MAX_LEN];
	unsigned id = atomic_fetch_add(&gen_seq, 1);
	int port;

	if (!g)
		return -ENOMEM;
	g->nq = queues ? queues : 1;
	if (g->nq > PVIO_NETFRONT_MAX_QUEUES)
		g->nq = PVIO_NETFRONT_MAX_QUEUES;
	for (uint32_t i = 0; i < g->nq; i++) {
		snprintf(name, sizeof(name), "pvg%u_rx%u", id, i);
		g->rx[i] = rte_ring_create(name, GEN_RING, SOCKET_ID_ANY, RING_F_SP_ENQ);
		snprintf(name, sizeof(name), "pvg%u_tx%u", id, i);
		g->tx[i] = rte_ring_create(name, GEN_RING, SOCKET_ID_ANY, RING_F_SC_DEQ);
		if (!g->rx[i] || !g->tx[i]) {
			net_port_gen_destroy(g);
			return -ENOMEM;
		}
	}
	snprintf(name, sizeof(name), "pvg%u_pool", id);
	g->pool = rte_pktmbuf_pool_create(name, 4095, 64, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					  SOCKET_ID_ANY);
	if (!g->pool) {
		net_port_gen_destroy(g);
		return -ENOMEM;
	}
	snprintf(name, sizeof(name), "pvg%u", id);
	port = rte_eth_from_rings(name, g->rx, g->nq, g->tx, g->nq, SOCKET_ID_ANY);
	if (port < 0 || rte_eth_dev_get_name_by_port((uint16_t)port, ename) != 0) {
		net_port_gen_destroy(g);
		return -ENODEV;
	}
	snprintf(dev, dev_size, "%s", ename);
	g->res.ring = true;
	*out = g;
	return 0;
}

static void *gen_main(void *arg)
{
	struct net_port_gen *g = arg;
	struct rte_mbuf *m[GEN_BURST];
	uint32_t size = g->wl.size > RTE_MBUF_DEFAULT_DATAROOM ? RTE_MBUF_DEFAULT_DATAROOM :
			g->wl.size;
	uint8_t *frame = malloc(size);
	uint64_t t0 = mono_ns(), sent = 0;
	uint32_t q = 0;

	if (!frame)
		return NULL;
	frame_fill(frame, size, g->mac, peer_mac);
	while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
		bool idle = true;

		for (uint32_t i = 0; i < g->nq; i++) {
			unsigned n = rte_ring_dequeue_burst(g->tx[i], (void **)m, GEN_BURST, NULL);

			pvio_tsan_acquire_each((void **)m, n); /* <pvio/tsan.h> */

			for (unsigned k = 0; k < n; k++) {
				g->res.sunk_bytes += rte_pktmbuf_pkt_len(m[k]);
				pvio_tsan_release(m[k]); /* back to the pool */
				rte_pktmbuf_free(m[k]);
			}
			g->res.sunk += n;
			if (n)
				idle = false;
		}
		if (g->inject) {
			uint64_t n = GEN_BURST;

			if (g->wl.rate) {
				uint64_t allowed = (uint64_t)((double)g->wl.rate *
							      (double)(mono_ns() - t0) / 1e9) + 1;
				n = allowed > sent ? allowed - sent : 0;
				if (n > GEN_BURST)
					n = GEN_BURST;
			}
			if (n && rte_pktmbuf_alloc_bulk(g->pool, m, (unsigned)n) == 0) {
				pvio_tsan_acquire_each((void **)m, (unsigned)n);
				for (uint64_t k = 0; k < n; k++) {
					char *d = rte_pktmbuf_append(m[k], (uint16_t)size);

					if (d)
						memcpy(d, frame, size);
				}
				pvio_tsan_release_each((void **)m, (unsigned)n);
				unsigned put = rte_ring_enqueue_burst(g->rx[q], (void **)m,
								      (unsigned)n, NULL);

				if (put < n) {
					g->res.inject_full += n - put;
					rte_pktmbuf_free_bulk(m + put, (unsigned)n - put);
				}
				g->res.injected += put;
				sent += n;
				q = (q + 1) % g->nq;
				if (put)
					idle = false;
			}
		}
		if (idle)
			usleep(50);
	}
	free(frame);
	return NULL;
}

int net_port_gen_start(struct net_port_gen *g, const struct net_workload_config *wl,
		       bool inject, const uint8_t mac[6])
{
	int rc;

	g->wl = *wl;
	g->inject = inject;
	memcpy(g->mac, mac, 6);
	rc = pthread_create(&g->thread, NULL, gen_main, g);
	if (rc)
		return -rc;
	g->running = true;
	return 0;
}

void net_port_gen_stop(struct net_port_gen *g, struct net_port_result *res)
{
	if (!g)
		return;
	if (g->running) {
		atomic_store(&g->stop, 1);
		pthread_join(g->thread, NULL);
		g->running = false;
	}
	if (res)
		*res = g->res;
}

void net_port_gen_destroy(struct net_port_gen *g)
{
	struct rte_mbuf *m[GEN_BURST];
	unsigned n;

	if (!g)
		return;
	net_port_gen_stop(g, NULL);
	/* The ethdev (netback closed it) keeps pointers to the rings; they
	 * are drained but left allocated, as the process exits next. */
	for (uint32_t i = 0; i < g->nq; i++) {
		while (g->rx[i] && (n = rte_ring_dequeue_burst(g->rx[i], (void **)m, GEN_BURST,
							       NULL)) > 0)
			rte_pktmbuf_free_bulk(m, n);
		while (g->tx[i] && (n = rte_ring_dequeue_burst(g->tx[i], (void **)m, GEN_BURST,
							       NULL)) > 0)
			rte_pktmbuf_free_bulk(m, n);
	}
	free(g);
}


/* ---- the DPDK baseline ---------------------------------------------------------------- */

int net_baseline_run(const struct net_workload_config *wl, struct net_workload_result *res,
		     char *msg, size_t msg_size)
{
	struct rte_mbuf *m[NET_BURST_MAX];
	struct rte_eth_conf conf;
	struct rte_mempool *pool;
	uint8_t *frame;
	uint16_t port;
	char eal[256], vdev[64];
	int rc;

	memset(res, 0, sizeof(*res));
	res->cfg = *wl;
	if (wl->size > 9216) {
		snprintf(msg, msg_size, "--baseline takes frames up to 9216 bytes, not %u",
			 wl->size);
		return -EINVAL;
	}
	snprintf(vdev, sizeof(vdev), "net_null_base%d", (int)getpid() % 100000);
	snprintf(eal, sizeof(eal), "--no-huge --no-pci -m 256 --no-shconf "
		 "--file-prefix=pvio-base-%d --no-telemetry --log-level=error "
		 "--vdev=%s,no-rx=1", (int)getpid(), vdev);
	rc = pvio_netback_dpdk_init(eal);
	if (rc && rc != -EALREADY) {
		snprintf(msg, msg_size, "DPDK did not initialise: %s", strerror(-rc));
		return rc;
	}
	if (rte_eth_dev_get_port_by_name(vdev, &port) != 0) {
		snprintf(msg, msg_size, "no DPDK net_null port (%s)", vdev);
		return -ENODEV;
	}
	/* Enough mbufs for the port's ring plus one burst in hand. */
	pool = rte_pktmbuf_pool_create("pvio_base", 4095, 256, 0,
				       (uint16_t)(RTE_PKTMBUF_HEADROOM +
						  (wl->size > 2048 ? wl->size : 2048)),
				       SOCKET_ID_ANY);
	frame = malloc(wl->size);
	memset(&conf, 0, sizeof(conf));
	if (!pool || !frame) {
		free(frame);
		snprintf(msg, msg_size, "no memory for the baseline's mbufs");
		return -ENOMEM;
	}
	if (rte_eth_dev_configure(port, 1, 1, &conf) < 0 ||
	    rte_eth_rx_queue_setup(port, 0, 512, SOCKET_ID_ANY, NULL, pool) < 0 ||
	    rte_eth_tx_queue_setup(port, 0, 512, SOCKET_ID_ANY, NULL) < 0 ||
	    rte_eth_dev_start(port) < 0) {
		free(frame);
		snprintf(msg, msg_size, "cannot start the net_null port");
		return -ENODEV;
	}
	frame_fill(frame, wl->size, peer_mac, peer_mac);
	uint64_t t0 = mono_ns(), now = t0, end = t0 + (uint64_t)wl->duration_ms * 1000000ull;
	uint64_t sent = 0;
	unsigned burst = wl->burst;

	while (now < end) {
		/* A few bursts between clock reads: the clock is not free. */
		for (int k = 0; k < 16; k++) {
			if (rte_pktmbuf_alloc_bulk(pool, m, burst) != 0)
				break;
			pvio_tsan_acquire_each((void **)m, burst);
			for (unsigned i = 0; i < burst; i++) {
				char *d = rte_pktmbuf_append(m[i], (uint16_t)wl->size);

				memcpy(d, frame, wl->size);
			}
			pvio_tsan_release_each((void **)m, burst);
			uint16_t put = rte_eth_tx_burst(port, 0, m, (uint16_t)burst);

			if (put < burst)
				rte_pktmbuf_free_bulk(m + put, burst - put);
			sent += put;
		}
		now = mono_ns();
	}
	res->ns = now - t0;
	res->tx_packets = sent;
	res->tx_bytes = sent * wl->size;
	res->drained = true;
	rte_eth_dev_stop(port);
	free(frame);
	return 0;
}

#else

int net_baseline_run(const struct net_workload_config *wl, struct net_workload_result *res,
		     char *msg, size_t msg_size)
{
	memset(res, 0, sizeof(*res));
	res->cfg = *wl;
	snprintf(msg, msg_size, "built without DPDK: no baseline");
	return -ENOTSUP;
}

int net_port_gen_create(uint32_t queues, char *dev, size_t dev_size, struct net_port_gen **out)
{
	(void)queues;
	(void)dev;
	(void)dev_size;
	*out = NULL;
	return -ENOTSUP;
}

int net_port_gen_start(struct net_port_gen *g, const struct net_workload_config *wl,
		       bool inject, const uint8_t mac[6])
{
	(void)g;
	(void)wl;
	(void)inject;
	(void)mac;
	return -ENOTSUP;
}

void net_port_gen_stop(struct net_port_gen *g, struct net_port_result *res)
{
	(void)g;
	if (res)
		memset(res, 0, sizeof(*res));
}

void net_port_gen_destroy(struct net_port_gen *g)
{
	(void)g;
}

#endif
