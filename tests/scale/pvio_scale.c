/* SPDX-License-Identifier: MIT */
/*
 * pvio-scale: many guests on one backend process (issue: hardening,
 * "Scale"). See tests/scale/README.md.
 *
 *   pvio-scale (the toolstack and the judge)
 *     |-- fork: hostd             pvio_hostd_run() on a run dir in /dev/shm
 *     |-- fork: the backend       ONE driver-domain process serving, for
 *     |                           every guest, a vbd (blkback, null engine
 *     |                           by default) and a vif (netback on a DPDK
 *     |                           net_null uplink through netback's L2
 *     |                           switch, 32 vifs a bridge)
 *     '-- fork x N: the guests    blkfront + netfront each, a block thread
 *                                 (random 4 KiB reads/writes) and a net
 *                                 thread (64-byte frames to the paired
 *                                 guest 2k^1 through the switch)
 *
 * Processes share one anonymous MAP_SHARED page set (struct shm) made
 * before the forks: phase commands go down, counters come up. The judge
 * reads every guest's counters at the same two instants, so each guest's
 * throughput is over the same window whatever its start-up took.
 *
 * Phases: every guest opens its vbd (backend memory snapshot), then its
 * vif (snapshot), then all run; counters are taken over the window; then
 * a churn: some guests leave (half cleanly, half by SIGKILL) while the
 * others keep running, and new guests take their slots; then all stop,
 * the backend tears every device down (snapshot) and reports its totals.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pvio/blkback.h>
#include <pvio/blkfront.h>
#include <pvio/domain.h>
#include <pvio/netback.h>
#include <pvio/netfront.h>
#include <pvio/xenbus.h>

#include "../common/heap_use.h"

#define MAX_GUESTS 256u
#define VIFS_PER_BRIDGE 32u    /* the switch holds 63 vifs; pairs stay inside */
#define GUEST_PAGES 1536u
#define BLK_DEVID 51712u       /* xvda */
#define BLK_QD 8u
#define NET_BURST 32u
#define FRAME 64u
#define WAIT_SHORT_MS 20

/* ---- options ---------------------------------------------------------------------- */

struct opts {
	uint32_t guests;
	uint32_t seconds;      /* the measured window */
	uint32_t churn;        /* guests replaced while the others run */
	double min_jain;       /* fail below, net tx (and block unless set) */
	double min_jain_blk;   /* fail below, block; < 0: min_jain */
	const char *engine;    /* blkback engine */
	bool backend_block;    /* backend queue threads sleep at once */
	bool json;
	bool verbose;          /* per-guest figures */
	uint32_t max_dev_kib;  /* fail when a device costs more backend memory */
};

/* ---- the shared pages ------------------------------------------------------------- */

enum guest_state {
	G_EMPTY = 0, G_CONNECTED, G_BLK_OPEN, G_NET_OPEN, G_RUNNING, G_DONE, G_FAILED,
};

enum phase { P_BLK = 0, P_NET, P_RUN, P_STOP };

struct mem_snap {
	uint64_t rss_kib, anon_kib, file_kib, shmem_kib;
	uint64_t malloc_inuse, malloc_arena; /* bytes */
	uint32_t threads;
	uint32_t vbds, vifs;                 /* devices served at the snapshot */
	uint64_t blk_ring_pages, blk_grants_mapped, blk_persistent;
	uint64_t net_ring_pages, net_queues, net_rx_queued_pkts, net_rx_queued_bytes;
};

enum snap_id { S_BASE = 0, S_BLK, S_NET, S_RUN, S_CHURN, S_EMPTY, S_COUNT };
static const char *const snap_name[S_COUNT] = {
	"base", "vbds", "vbds+vifs", "after run", "after churn", "all gone",
};

struct guest_slot {
	_Atomic int state;
	_Atomic int exit_cmd;        /* 1: close everything and exit 0 */
	_Atomic uint32_t domid;
	_Atomic uint32_t gen;
	_Atomic uint32_t killed_gen1; /* gen + 1 of the incarnation SIGKILLed */
	_Atomic uint64_t blk_ops, blk_errs;
	_Atomic uint64_t net_tx, net_rx, net_errs;
	char err[160];
};

struct shm {
	_Atomic int phase;
	/* backend */
	_Atomic int be_ready;        /* 1 serving, -1 failed */
	_Atomic int be_exit;
	_Atomic uint32_t be_vbd_connected, be_vif_connected, be_managers;
	_Atomic uint32_t snap_req, snap_done;
	_Atomic uint64_t be_broken, be_blk_errs, be_net_errs;
	_Atomic uint64_t be_blk_reqs, be_net_tx, be_net_rx, be_devices_served;
	_Atomic uint64_t be_net_drops;
	/* errors on the devices of guests killed with requests in flight:
	 * expected (grant copies into a dead domain), counted apart */
	_Atomic uint64_t be_errs_killed;
	struct mem_snap snap[S_COUNT];
	char be_err[256];
	char be_note[256];           /* a device not connected, at the last survey */
	/* the slowest step of a guest's teardown in the backend */
	_Atomic uint64_t slow_ms;
	char slow_step[96];
	struct guest_slot g[MAX_GUESTS];
};

static struct shm *S;
static struct opts O;
static char run_dir[256], image[300];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void msleep(int ms)
{
	poll(NULL, 0, ms);
}

static void set_err(char *buf, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}

/* In a child: die with the judge. */
static void child_init(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
}

static void slot_mac(uint32_t slot, uint8_t mac[6])
{
	mac[0] = 0x00; mac[1] = 0x16; mac[2] = 0x3e; mac[3] = 0x5c;
	mac[4] = (uint8_t)(slot >> 8);
	mac[5] = (uint8_t)slot;
}

/* The store timeout of every client here: 64 guests' worth of store traffic
 * on a loaded machine. */
#define STORE_TIMEOUT_MS 30000

/* ---- the backend: one process, every guest's vbd and vif ---------------------------- */

/* One guest's devices, served by a manager thread of the backend. */
struct mgr {
	pvio_domid_t fe;
	char name[64];
	uint32_t slot, gen;
	pthread_t thread;
	_Atomic bool stop, done;
	pthread_mutex_t lock;        /* bb/nb against the main thread's stats */
	struct pvio_blkback *bb;
	struct pvio_netback *nb;
	struct mgr *next;
};

static struct pvio_domain *be_dom;
static struct pvio_blkback_disk_spec be_disk;

/*
 * The toolstack's store transactions, one at a time (as libxl's are):
 * 64 managers racing create/destroy transactions would mostly make each
 * other retry until pvio_xenbus_device_create() gives up with -EAGAIN.
 */
static pthread_mutex_t ts_lock = PTHREAD_MUTEX_INITIALIZER;

static int dev_create(struct pvio_xs *ts, const char *type, pvio_domid_t fe, uint32_t devid,
		      const struct pvio_xenbus_device_keys *keys)
{
	int rc;

	pthread_mutex_lock(&ts_lock);
	rc = pvio_xenbus_device_create(ts, type, 0, fe, devid, keys);
	pthread_mutex_unlock(&ts_lock);
	return rc;
}

static void dev_destroy(struct pvio_xs *ts, const char *type, pvio_domid_t fe, uint32_t devid)
{
	pthread_mutex_lock(&ts_lock);
	(void)pvio_xenbus_device_destroy(ts, type, 0, fe, devid);
	pthread_mutex_unlock(&ts_lock);
}

/* Time one teardown step from *t0 (moved to now); keep the slowest. */
static void slow_note(const struct mgr *m, const char *step, uint64_t *t0)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	uint64_t now = now_ms(), ms = now - *t0;

	*t0 = now;
	pthread_mutex_lock(&lock);
	if (ms > atomic_load(&S->slow_ms)) {
		atomic_store(&S->slow_ms, ms);
		snprintf(S->slow_step, sizeof(S->slow_step), "%s of %s", step, m->name);
	}
	pthread_mutex_unlock(&lock);
}

static bool node_is(struct pvio_xs *xs, const char *path, const char *want)
{
	char v[96];

	if (pvio_xs_read(xs, PVIO_XS_TX_NONE, path, v, sizeof(v), NULL))
		return false;
	return !want || !strcmp(v, want);
}

static void be_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void be_fail(const char *fmt, ...)
{
	va_list ap;

	if (S->be_err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(S->be_err, sizeof(S->be_err), fmt, ap);
	va_end(ap);
}

static int mgr_vbd(struct mgr *m, struct pvio_xs *ts, struct pvio_xs *bx)
{
	struct pvio_xenbus_kv bk[] = {
		{ "params", be_disk.target }, { "mode", "w" }, { "dev", be_disk.vdev },
		{ "device-type", "disk" },
	};
	char vd[16];
	struct pvio_blkback_config cfg = { 0 };
	struct pvio_blkback *bb = NULL;
	int rc;

	snprintf(vd, sizeof(vd), "%u", BLK_DEVID);
	struct pvio_xenbus_kv fk[] = { { "virtual-device", vd }, { "device-type", "disk" } };
	struct pvio_xenbus_device_keys keys = {
		.frontend = fk, .nr_frontend = 2, .backend = bk, .nr_backend = 4,
	};

	pvio_blkback_config_from_domain(&cfg, be_dom);
	cfg.fe = m->fe;
	cfg.xs = bx;
	cfg.disk = &be_disk;
	cfg.engine = O.engine;
	cfg.max_queues = 1;
	if (O.backend_block) {
		cfg.wait_mode = PVIO_EVTCHN_BLOCK;
		cfg.wait_mode_set = true;
	}
	/* The toolstack's step first: blkback attaches to the dirs. */
	rc = dev_create(ts, "vbd", m->fe, BLK_DEVID, &keys);
	if (rc == 0)
		rc = pvio_blkback_create(&cfg, &bb);
	if (rc == 0)
		rc = pvio_blkback_start(bb);
	if (rc) {
		pvio_blkback_destroy(bb);
		return rc;
	}
	pthread_mutex_lock(&m->lock);
	m->bb = bb;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int mgr_vif(struct mgr *m, struct pvio_xs *ts, struct pvio_xs *nx,
		   struct pvio_netback_vif_spec *spec)
{
	char s[128], mac[18], dev[64], err[160], handle[8] = "0";
	uint8_t a[6];
	uint32_t bridge = m->slot / VIFS_PER_BRIDGE;
	struct pvio_netback_config cfg = { 0 };
	struct pvio_netback *nb = NULL;
	int rc;

	slot_mac(m->slot, a);
	pvio_netback_mac_format(a, mac);
	snprintf(s, sizeof(s), "mac=%s,bridge=scalebr%u", mac, bridge);
	if (pvio_netback_vif_spec_parse(s, spec, err, sizeof(err))) {
		be_fail("vif spec %s: %s", s, err);
		return -EINVAL;
	}
	/* The uplink: a net_null that swallows and never receives. */
	snprintf(dev, sizeof(dev), "net_null%u,no-rx=1", bridge);
	struct pvio_xenbus_kv kv[] = { { "mac", mac }, { "handle", handle } };
	struct pvio_xenbus_device_keys keys = {
		.frontend = kv, .nr_frontend = 2, .backend = kv, .nr_backend = 2,
	};

	pvio_netback_config_from_domain(&cfg, be_dom);
	cfg.fe = m->fe;
	cfg.xs = nx;
	cfg.vif = spec;
	cfg.port = "dpdk";
	cfg.port_dev = dev;
	cfg.max_queues = 1;
	if (O.backend_block) {
		cfg.wait_mode = PVIO_EVTCHN_BLOCK;
		cfg.wait_mode_set = true;
	}
	rc = dev_create(ts, "vif", m->fe, 0, &keys);
	if (rc == 0)
		rc = pvio_netback_create(&cfg, &nb);
	if (rc == 0)
		rc = pvio_netback_start(nb);
	if (rc) {
		pvio_netback_destroy(nb);
		return rc;
	}
	pthread_mutex_lock(&m->lock);
	m->nb = nb;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

/*
 * The guest is gone when its home no longer carries its name. A read that
 * failed otherwise (a store timeout under load) says nothing: taken for
 * "gone", it tore a live guest's devices down, and be_discover() then
 * made new ones that the guest never handshook with (a vif left in
 * InitWait after the guest had made progress).
 */
static bool mgr_guest_gone(struct mgr *m, struct pvio_xs *ts)
{
	char path[64], v[96];
	int rc;

	snprintf(path, sizeof(path), "/local/domain/%u/name", (unsigned)m->fe);
	rc = pvio_xs_read(ts, PVIO_XS_TX_NONE, path, v, sizeof(v), NULL);
	if (rc == -ENOENT || rc == -EACCES)
		return true;
	return rc == 0 && strcmp(v, m->name) != 0;
}

static void *mgr_main(void *arg)
{
	struct mgr *m = arg;
	struct pvio_xs_host th = { .fd = -1 }, bh = { .fd = -1 }, nh = { .fd = -1 };
	struct pvio_xs ts, bx, nx;
	struct pvio_xs_event tev[4], bev[16], nev[16];
	struct pvio_netback_vif_spec spec;
	struct pvio_blkback *bb;
	struct pvio_netback *nb;
	uint64_t t0;
	bool killed;
	int rc;

	if ((rc = pvio_xs_host_open(&th, &ts, run_dir, tev, 4, STORE_TIMEOUT_MS)) ||
	    (rc = pvio_xs_host_open(&bh, &bx, run_dir, bev, 16, STORE_TIMEOUT_MS)) ||
	    (rc = pvio_xs_host_open(&nh, &nx, run_dir, nev, 16, STORE_TIMEOUT_MS))) {
		be_fail("guest %u: cannot reach the store: %s", (unsigned)m->fe, strerror(-rc));
		goto out;
	}
	rc = mgr_vbd(m, &ts, &bx);
	if (rc) {
		be_fail("guest %u: vbd: %s", (unsigned)m->fe, strerror(-rc));
		goto out;
	}
	while (!atomic_load(&m->stop) && atomic_load(&S->phase) < P_NET &&
	       !mgr_guest_gone(m, &ts))
		msleep(WAIT_SHORT_MS);
	if (!atomic_load(&m->stop) && !mgr_guest_gone(m, &ts)) {
		rc = mgr_vif(m, &ts, &nx, &spec);
		if (rc)
			be_fail("guest %u: vif: %s", (unsigned)m->fe, strerror(-rc));
	}
	while (!atomic_load(&m->stop) && !mgr_guest_gone(m, &ts))
		msleep(50);
out:
	killed = atomic_load(&S->g[m->slot].killed_gen1) == m->gen + 1;
	t0 = now_ms();
	/*
	 * Take the devices out of the survey's sight, then tear them down
	 * without m->lock: a teardown may take seconds on a loaded machine,
	 * and be_survey() holding on to the lock meanwhile froze the
	 * backend's whole loop (no new guest discovered, no snapshot, the
	 * connected counts and the note on a device left as they were).
	 */
	pthread_mutex_lock(&m->lock);
	bb = m->bb;
	nb = m->nb;
	m->bb = NULL;
	m->nb = NULL;
	pthread_mutex_unlock(&m->lock);
	if (bb) {
		struct pvio_blkback_stats st;

		pvio_blkback_stop(bb);
		slow_note(m, "blkback stop", &t0);
		pvio_blkback_stats(bb, &st);
		S->be_blk_reqs += st.req_read + st.req_write;
		*(killed ? &S->be_errs_killed : &S->be_blk_errs) += st.err_op + st.err_segments + st.err_sect + st.err_range +
				  st.err_grant + st.err_readonly + st.err_unsupported +
				  st.err_io + st.err_nospc + st.err_protocol;
		S->be_broken += st.broken;
		pvio_blkback_destroy(bb);
		slow_note(m, "blkback destroy", &t0);
		S->be_devices_served++;
	}
	if (nb) {
		struct pvio_netback_stats st;

		pvio_netback_stop(nb);
		slow_note(m, "netback stop", &t0);
		pvio_netback_stats(nb, &st);
		S->be_net_tx += st.tx_packets;
		S->be_net_rx += st.rx_packets;
		*(killed ? &S->be_errs_killed : &S->be_net_errs) += st.tx_err_size + st.tx_err_offset + st.tx_err_slots +
				  st.tx_err_extra + st.tx_err_gso + st.tx_err_grant +
				  st.tx_err_csum + st.tx_fatal + st.rx_err_grant + st.err_protocol;
		S->be_net_drops += st.tx_drop_port + st.tx_drop_spoof + st.rx_drop_full +
				   st.rx_drop_stall + st.rx_drop_toobig;
		S->be_broken += st.broken;
		pvio_netback_destroy(nb);
		slow_note(m, "netback destroy", &t0);
		S->be_devices_served++;
	}
	if (th.fd >= 0) {
		dev_destroy(&ts, "vbd", m->fe, BLK_DEVID);
		dev_destroy(&ts, "vif", m->fe, 0);
		slow_note(m, "removing the store dirs", &t0);
	}
	pvio_xs_host_close(&th);
	pvio_xs_host_close(&bh);
	pvio_xs_host_close(&nh);
	atomic_store(&m->done, true);
	return NULL;
}

static void snap_proc(struct mem_snap *s)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");
	struct heap_use h = heap_use();

	s->malloc_inuse = h.in_use;
	s->malloc_arena = h.arena;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long v;

		if (sscanf(line, "VmRSS: %llu", &v) == 1)
			s->rss_kib = v;
		else if (sscanf(line, "RssAnon: %llu", &v) == 1)
			s->anon_kib = v;
		else if (sscanf(line, "RssFile: %llu", &v) == 1)
			s->file_kib = v;
		else if (sscanf(line, "RssShmem: %llu", &v) == 1)
			s->shmem_kib = v;
		else if (sscanf(line, "Threads: %llu", &v) == 1)
			s->threads = (uint32_t)v;
	}
	fclose(f);
}

/* Count connected devices, and on request sum what they pin. */
static void be_survey(struct mgr *list, struct mem_snap *s)
{
	uint32_t vbds = 0, vifs = 0, managers = 0;
	struct mem_snap pins = { 0 };
	char note[sizeof(S->be_note)] = "";

	for (struct mgr *m = list; m; m = m->next) {
		managers++;
		pthread_mutex_lock(&m->lock);
		if (m->bb) {
			struct pvio_blkback_stats st;

			pvio_blkback_stats(m->bb, &st);
			if (st.state != PVIO_XENBUS_CONNECTED && !note[0])
				snprintf(note, sizeof(note), "vbd of %s (domid %u) in state %u",
					 m->name, (unsigned)m->fe, st.state);
			if (st.state == PVIO_XENBUS_CONNECTED) {
				vbds++;
				pins.blk_ring_pages += (uint64_t)st.ring_pages * st.nr_queues;
				pins.blk_grants_mapped += st.grant_maps - st.grant_unmaps;
				pins.blk_persistent += st.persistent_misses - st.persistent_evictions;
			}
		}
		if (m->nb) {
			struct pvio_netback_stats st;

			pvio_netback_stats(m->nb, &st);
			if (st.state != PVIO_XENBUS_CONNECTED && !note[0])
				snprintf(note, sizeof(note), "vif of %s (domid %u) in state %u%s, "
					 "%u connects",
					 m->name, (unsigned)m->fe, st.state,
					 st.broken ? ", broken" : "", st.connects);
			if (st.state == PVIO_XENBUS_CONNECTED) {
				vifs++;
				pins.net_queues += st.nr_queues;
				pins.net_ring_pages += 2ull * st.nr_queues;
				pins.net_rx_queued_pkts += st.rx_queued_pkts;
				pins.net_rx_queued_bytes += st.rx_queued_bytes;
			}
		}
		pthread_mutex_unlock(&m->lock);
	}
	memcpy(S->be_note, note, sizeof(note));
	atomic_store(&S->be_vbd_connected, vbds);
	atomic_store(&S->be_vif_connected, vifs);
	atomic_store(&S->be_managers, managers);
	if (s) {
		*s = pins;
		s->vbds = vbds;
		s->vifs = vifs;
		snap_proc(s);
	}
}

/* New guests: a domain home whose name is "scale-<slot>-<gen>". */
static void be_discover(struct pvio_xs *ts, struct mgr **list)
{
	char names[8192];
	unsigned nr = 0;

	if (pvio_xs_directory(ts, PVIO_XS_TX_NONE, "/local/domain", names, sizeof(names), &nr))
		return;
	for (const char *p = names; *p; p += strlen(p) + 1) {
		uint64_t id;
		char path[64], name[64];
		unsigned slot, gen;
		bool known = false;

		if (pvio_xs_parse_uint(p, 0x7fef, &id) || id == 0)
			continue;
		snprintf(path, sizeof(path), "/local/domain/%u/name", (unsigned)id);
		if (pvio_xs_read(ts, PVIO_XS_TX_NONE, path, name, sizeof(name), NULL) ||
		    sscanf(name, "scale-%u-%u", &slot, &gen) != 2 || slot >= O.guests)
			continue;
		for (struct mgr *m = *list; m; m = m->next)
			if (m->fe == id && !strcmp(m->name, name) && !atomic_load(&m->done))
				known = true;
		if (known)
			continue;
		struct mgr *m = calloc(1, sizeof(*m));

		if (!m) {
			be_fail("out of memory");
			return;
		}
		m->fe = (pvio_domid_t)id;
		m->slot = slot;
		m->gen = gen;
		snprintf(m->name, sizeof(m->name), "%s", name);
		pthread_mutex_init(&m->lock, NULL);
		if (pthread_create(&m->thread, NULL, mgr_main, m)) {
			be_fail("pthread_create failed");
			free(m);
			return;
		}
		m->next = *list;
		*list = m;
	}
}

/* Join managers that finished (their guest left). */
static void be_reap(struct mgr **list)
{
	for (struct mgr **pp = list; *pp;) {
		struct mgr *m = *pp;

		if (!atomic_load(&m->done)) {
			pp = &m->next;
			continue;
		}
		pthread_join(m->thread, NULL);
		pthread_mutex_destroy(&m->lock);
		*pp = m->next;
		free(m);
	}
}

static int backend_main(void)
{
	struct pvio_domain_config dc = { .name = "scale-backend", .driver_domain = true };
	struct pvio_xs_host th = { .fd = -1 };
	struct pvio_xs ts;
	struct pvio_xs_event tev[4];
	struct mgr *list = NULL;
	char spec[400], err[160], eal[256];
	int rc;

	/* Each vif's tx copy pool (1023 frames) and each bridge's rx pool
	 * (2047) are the backend's own pages (netback/port_dpdk.c). */
	dc.nr_pages = O.guests * 1100u + (O.guests / VIFS_PER_BRIDGE + 1) * 2100u + 8192u;
	dc.nr_map_handles = O.guests * 512u + 8192u;
	snprintf(spec, sizeof(spec), "format=raw,vdev=xvda,access=rw,target=%s", image);
	if (pvio_blkback_disk_spec_parse(spec, &be_disk, err, sizeof(err))) {
		be_fail("disk spec: %s", err);
		goto fail;
	}
	rc = pvio_domain_connect(run_dir, &dc, &be_dom);
	if (rc) {
		be_fail("cannot become the driver domain: %s", strerror(-rc));
		goto fail;
	}
	snprintf(eal, sizeof(eal), "--no-huge --no-pci -m %u --no-shconf --no-telemetry "
		 "--file-prefix=pvio-scale-%d --log-level=error", 256u + O.guests * 8u,
		 (int)getpid());
	rc = pvio_netback_dpdk_init(eal);
	if (rc) {
		be_fail("DPDK: %s", strerror(-rc));
		goto fail;
	}
	rc = pvio_xs_host_open(&th, &ts, run_dir, tev, 4, STORE_TIMEOUT_MS);
	if (rc) {
		be_fail("store: %s", strerror(-rc));
		goto fail;
	}
	be_survey(NULL, &S->snap[S_BASE]);
	atomic_store(&S->be_ready, 1);
	while (!atomic_load(&S->be_exit)) {
		uint32_t req = atomic_load(&S->snap_req);

		be_discover(&ts, &list);
		be_reap(&list);
		if (req != atomic_load(&S->snap_done)) {
			/* req - 1 names the snapshot asked for */
			be_survey(list, &S->snap[(req - 1) % S_COUNT]);
			atomic_store(&S->snap_done, req);
		} else {
			be_survey(list, NULL);
		}
		msleep(WAIT_SHORT_MS);
	}
	for (struct mgr *m = list; m; m = m->next)
		atomic_store(&m->stop, true);
	while (list) {
		be_reap(&list);
		msleep(WAIT_SHORT_MS);
	}
	pvio_xs_host_close(&th);
	pvio_domain_disconnect(be_dom);
	return S->be_err[0] ? 1 : 0;
fail:
	atomic_store(&S->be_ready, -1);
	pvio_xs_host_close(&th);
	pvio_domain_disconnect(be_dom);
	return 1;
}

/* ---- a guest ------------------------------------------------------------------------ */

struct guest {
	uint32_t slot;
	struct guest_slot *g;
	struct pvio_domain *d;
	struct pvio_blkfront *bf;
	struct pvio_netfront *nf;
	_Atomic bool stop;
};

static bool guest_should_stop(struct guest *gu)
{
	return atomic_load(&gu->g->exit_cmd) || atomic_load(&S->phase) >= P_STOP;
}

static void count_rx(void *arg, const struct pvio_netfront_rx *pkt)
{
	(void)arg;
	(void)pkt;
}

/*
 * A guest's workers run at nice GUEST_NICE: on a 2-core machine 128 busy
 * workers at the toolstack's priority would leave hostd, the store and
 * the backend's control threads a 1/200 share, and a guest joining or
 * leaving would take minutes (Xen gives dom0 its own scheduler weight
 * for the same reason). Every guest gets the same nice, so fairness
 * between guests is untouched.
 */
#define GUEST_NICE 5

static void worker_nice(void)
{
	(void)setpriority(PRIO_PROCESS, (id_t)gettid(), GUEST_NICE);
}

static void *guest_net(void *arg)
{
	struct guest *gu = arg;
	uint32_t peer = gu->slot ^ 1u;
	uint8_t frame[FRAME], me[6], to[6];
	struct pvio_netfront_pkt pkts[NET_BURST];
	struct pvio_netfront_stats st;

	slot_mac(gu->slot, me);
	slot_mac(peer, to);
	memset(frame, 0, sizeof(frame));
	memcpy(frame, to, 6);
	memcpy(frame + 6, me, 6);
	frame[12] = 0x88; /* IEEE local experimental EtherType */
	frame[13] = 0xb5;
	for (uint32_t i = 0; i < NET_BURST; i++)
		pkts[i] = (struct pvio_netfront_pkt){ .data = frame, .len = FRAME };
	worker_nice();
	while (!atomic_load(&gu->stop)) {
		int n = 0;

		/* A peer that is not there would make its frames unknown
		 * unicast, flooded to the whole bridge: wait for it. */
		if (peer < O.guests && atomic_load(&S->g[peer].state) == G_RUNNING)
			n = pvio_netfront_send_burst(gu->nf, 0, pkts, NET_BURST);
		else
			(void)pvio_netfront_wait(gu->nf, PVIO_NETFRONT_WAIT_RX, 1000000ull);
		if (n == -EAGAIN)
			(void)pvio_netfront_wait(gu->nf, PVIO_NETFRONT_WAIT_TX | PVIO_NETFRONT_WAIT_RX,
						 1000000ull);
		else if (n < 0) {
			set_err(gu->g->err, sizeof(gu->g->err), "netfront send: %s", strerror(-n));
			atomic_fetch_add(&gu->g->net_errs, 1);
			break;
		}
		n = pvio_netfront_recv_cb(gu->nf, PVIO_NETFRONT_QUEUE_ANY, count_rx, NULL, 256);
		if (n < 0) {
			set_err(gu->g->err, sizeof(gu->g->err), "netfront recv: %s", strerror(-n));
			atomic_fetch_add(&gu->g->net_errs, 1);
			break;
		}
		pvio_netfront_get_stats(gu->nf, &st);
		atomic_store(&gu->g->net_tx, st.tx_packets);
		atomic_store(&gu->g->net_rx, st.rx_packets);
		if (st.tx_errors || st.rx_errors || st.protocol_errors)
			atomic_store(&gu->g->net_errs, st.tx_errors + st.rx_errors + st.protocol_errors);
	}
	(void)pvio_netfront_tx_drain(gu->nf, 5000000000ull);
	return NULL;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int guest_blk(struct guest *gu)
{
	struct pvio_blkfront_info info;
	struct pvio_blkfront_req req[BLK_QD], *done[BLK_QD];
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ ((uint64_t)gu->slot << 32 | gu->g->gen);
	void *buf = NULL;
	int rc = 0;
	uint32_t inflight = 0;

	if (pvio_blkfront_get_info(gu->bf, &info) || info.sectors < 64)
		return -EINVAL;
	if (posix_memalign(&buf, 4096, (size_t)BLK_QD * 4096))
		return -ENOMEM;
	worker_nice();
	memset(buf, 0xa5, (size_t)BLK_QD * 4096);
	for (uint32_t i = 0; i < BLK_QD; i++)
		memset(&req[i], 0, sizeof(req[i]));
	for (;;) {
		bool stopping = guest_should_stop(gu);

		if (stopping)
			atomic_store(&gu->stop, true);

		for (uint32_t i = 0; !stopping && i < BLK_QD; i++) {
			if (req[i].user)
				continue; /* in flight */
			req[i].op = (xorshift(&seed) & 1) ? PVIO_BLKFRONT_OP_WRITE
							    : PVIO_BLKFRONT_OP_READ;
			req[i].sector = (xorshift(&seed) % (info.sectors / 8)) * 8;
			req[i].buf = (char *)buf + (size_t)i * 4096;
			req[i].nr_bytes = 4096;
			req[i].done = NULL;
			req[i].user = &req[i];
			rc = pvio_blkfront_submit(gu->bf, PVIO_BLKFRONT_QUEUE_ANY, &req[i]);
			if (rc) {
				req[i].user = NULL;
				set_err(gu->g->err, sizeof(gu->g->err), "blkfront submit: %s",
					strerror(-rc));
				goto out;
			}
			inflight++;
		}
		if (!inflight)
			break;
		int n = pvio_blkfront_getevents(gu->bf, done, 1, BLK_QD, 100000000ull);

		if (n == -ETIMEDOUT)
			continue;
		if (n < 0) {
			rc = n;
			set_err(gu->g->err, sizeof(gu->g->err), "blkfront getevents: %s",
				strerror(-n));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			if (done[i]->res)
				atomic_fetch_add(&gu->g->blk_errs, 1);
			else
				atomic_fetch_add(&gu->g->blk_ops, 1);
			done[i]->user = NULL;
			inflight--;
		}
	}
out:
	if (inflight)
		(void)pvio_blkfront_drain(gu->bf, 10000000000ull);
	free(buf);
	return rc;
}

/*
 * Open a device once the toolstack (the backend process) made it: wait
 * for the frontend dir to name its backend and for the backend's state
 * node, then open once (a failed open has already moved the device's
 * state, so it is not retried).
 */
static int open_when_there(struct guest *gu, bool net)
{
	uint64_t deadline = now_ms() + 120000;
	char fe[PVIO_XENBUS_PATH_MAX], path[PVIO_XENBUS_PATH_MAX + 16];
	char be[PVIO_XENBUS_PATH_MAX];

	pvio_xenbus_frontend_path(fe, sizeof(fe), net ? "vif" : "vbd", gu->d->domid,
				  net ? 0 : BLK_DEVID);
	snprintf(path, sizeof(path), "%s/backend", fe);
	for (;;) {
		if (pvio_xs_read(gu->d->xs, PVIO_XS_TX_NONE, path, be, sizeof(be), NULL) == 0) {
			snprintf(path, sizeof(path), "%s/state", be);
			if (node_is(gu->d->xs, path, NULL))
				break;
			snprintf(path, sizeof(path), "%s/backend", fe);
		}
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		if (guest_should_stop(gu))
			return -EINTR;
		msleep(WAIT_SHORT_MS);
	}
	if (net) {
		struct pvio_netfront_config c = {
			.max_queues = 1, .tx_pages = 64, .timeout_ms = 60000, .evtchn_waiter = 2,
			.no_spin = true,
		};
		return pvio_netfront_open_devid(gu->d, 0, &c, &gu->nf);
	}
	struct pvio_blkfront_config c = {
		.max_queues = 1, .max_ring_pages = 1, .pool_pages = 64, .timeout_ms = 60000,
		.evtchn_waiter = 1, .no_spin = true,
	};
	return pvio_blkfront_open_devid(gu->d, BLK_DEVID, &c, &gu->bf);
}

static int guest_main(uint32_t slot, uint32_t gen)
{
	struct guest gu = { .slot = slot, .g = &S->g[slot] };
	struct pvio_domain_config dc = { .nr_pages = GUEST_PAGES };
	char name[64];
	pthread_t net;
	int rc, status = 1;

	snprintf(name, sizeof(name), "scale-%u-%u", slot, gen);
	dc.name = name;
	rc = pvio_domain_connect(run_dir, &dc, &gu.d);
	if (rc) {
		set_err(gu.g->err, sizeof(gu.g->err), "connect: %s", strerror(-rc));
		goto out;
	}
	pvio_xs_set_timeout(gu.d->xs, 60000);
	atomic_store(&gu.g->domid, gu.d->domid);
	atomic_store(&gu.g->state, G_CONNECTED);
	rc = open_when_there(&gu, false);
	if (rc) {
		set_err(gu.g->err, sizeof(gu.g->err), "blkfront open: %s", strerror(-rc));
		goto out;
	}
	atomic_store(&gu.g->state, G_BLK_OPEN);
	while (atomic_load(&S->phase) < P_NET && !guest_should_stop(&gu))
		msleep(WAIT_SHORT_MS);
	rc = open_when_there(&gu, true);
	if (rc) {
		set_err(gu.g->err, sizeof(gu.g->err), "netfront open: %s", strerror(-rc));
		goto out;
	}
	atomic_store(&gu.g->state, G_NET_OPEN);
	while (atomic_load(&S->phase) < P_RUN && !guest_should_stop(&gu))
		msleep(WAIT_SHORT_MS);
	if (guest_should_stop(&gu)) {
		status = 0;
		goto out;
	}
	atomic_store(&gu.g->state, G_RUNNING);
	if (pthread_create(&net, NULL, guest_net, &gu)) {
		set_err(gu.g->err, sizeof(gu.g->err), "pthread_create failed");
		goto out;
	}
	/* The block workload in this thread; it also tells the net thread
	 * to stop. */
	rc = guest_blk(&gu);
	atomic_store(&gu.stop, true);
	pthread_join(net, NULL);
	if (rc == 0 && !gu.g->err[0])
		status = 0;
out:
	if (gu.nf)
		(void)pvio_netfront_close(gu.nf);
	if (gu.bf)
		(void)pvio_blkfront_close(gu.bf);
	pvio_domain_disconnect(gu.d);
	atomic_store(&gu.g->state, status ? G_FAILED : G_DONE);
	return status;
}

/* ---- hostd -------------------------------------------------------------------------- */

static struct pvio_hostd *hostd_h;

static void hostd_on_term(int sig)
{
	(void)sig;
	pvio_hostd_stop(hostd_h);
}

static int hostd_main(int ready_fd)
{
	struct pvio_hostd_config cfg = { .run_dir = run_dir };
	int rc;

	/* The backend's pages, every guest's, replacements while the old
	 * guests' frames are still mapped, and room. */
	cfg.nr_frames = O.guests * 1100u + (O.guests / VIFS_PER_BRIDGE + 1) * 2100u + 8192u +
			(O.guests + O.churn) * GUEST_PAGES + 16384u;
	cfg.max_domains = 2 * O.guests + O.churn + 8;
	rc = pvio_hostd_create(&cfg, &hostd_h);
	if (rc) {
		dprintf(ready_fd, "pvio hostd: %s\n", strerror(-rc));
		return 1;
	}
	signal(SIGTERM, hostd_on_term);
	/* hostd plays Xen and xenstored: like the hypervisor, it must not
	 * queue behind the guests' busy workers (best effort). */
	(void)setpriority(PRIO_PROCESS, 0, -5);
	if (write(ready_fd, "ready\n", 6) != 6)
		return 1;
	close(ready_fd);
	rc = pvio_hostd_run(hostd_h);
	pvio_hostd_destroy(hostd_h);
	return rc ? 1 : 0;
}

/* ---- the judge ----------------------------------------------------------------------- */

static pid_t hostd_pid, backend_pid, backend_pid0, guest_pid[MAX_GUESTS];
static int failures;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok && O.json)
		return;
	fprintf(ok ? stdout : stderr, ok ? "ok   " : "FAIL ");
	va_start(ap, fmt);
	vfprintf(ok ? stdout : stderr, fmt, ap);
	va_end(ap);
	fputc('\n', ok ? stdout : stderr);
	failures += !ok;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static uint64_t t_start;

static void say(const char *fmt, ...)
{
	va_list ap;

	if (O.json)
		return;
	printf("[%6.1f] ", (double)(now_ms() - t_start) / 1000);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static pid_t spawn(int (*body)(void *), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		child_init();
		_exit(body(arg));
	}
	return pid;
}

static int guest_body(void *arg)
{
	uint32_t slot = (uint32_t)(uintptr_t)arg;

	return guest_main(slot, atomic_load(&S->g[slot].gen));
}

static int backend_body(void *arg)
{
	(void)arg;
	return backend_main();
}

static int start_hostd(void)
{
	int p[2];
	char buf[256] = "";
	ssize_t n;

	if (pipe(p))
		return -1;
	fflush(NULL);
	hostd_pid = fork();
	if (hostd_pid == 0) {
		child_init();
		close(p[0]);
		_exit(hostd_main(p[1]));
	}
	close(p[1]);
	n = read(p[0], buf, sizeof(buf) - 1);
	close(p[0]);
	if (n <= 0 || strncmp(buf, "ready", 5)) {
		fprintf(stderr, "pvio-scale: hostd did not start: %s\n", n > 0 ? buf : "it exited");
		return -1;
	}
	return 0;
}

/* A child that died early says why. */
static void guest_reap_failed(void)
{
	for (uint32_t i = 0; i < O.guests; i++) {
		int st;

		if (guest_pid[i] > 0 && waitpid(guest_pid[i], &st, WNOHANG) == guest_pid[i]) {
			guest_pid[i] = 0;
			if (!WIFEXITED(st) || WEXITSTATUS(st))
				check(false, "guest %u died early (%s): %s", i,
				      WIFEXITED(st) ? "exit" : "signal", S->g[i].err);
		}
	}
}

static uint32_t count_state(int at_least)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < O.guests; i++) {
		int s = atomic_load(&S->g[i].state);

		n += s >= at_least && s != G_FAILED && s != G_DONE;
	}
	return n;
}

/* Wait until every guest reached state and the backend serves vbds/vifs. */
static bool wait_all(int state, uint32_t vbds, uint32_t vifs, int ms, const char *what)
{
	uint64_t deadline = now_ms() + (uint64_t)ms;

	for (;;) {
		uint32_t g = count_state(state);

		if (g == O.guests && atomic_load(&S->be_vbd_connected) >= vbds &&
		    atomic_load(&S->be_vif_connected) >= vifs)
			return true;
		guest_reap_failed();
		if (failures || S->be_err[0] || now_ms() > deadline) {
			check(false, "%s: %u of %u guests, backend %u vbds %u vifs connected%s%s%s%s",
			      what, g, O.guests, atomic_load(&S->be_vbd_connected),
			      atomic_load(&S->be_vif_connected), S->be_err[0] ? "; backend: " : "",
			      S->be_err, S->be_note[0] ? "; " : "", S->be_note);
			return false;
		}
		msleep(WAIT_SHORT_MS);
	}
}

static bool snapshot(enum snap_id id)
{
	uint32_t req = (uint32_t)id + 1;
	uint64_t deadline = now_ms() + 30000;

	atomic_store(&S->snap_req, req);
	while (atomic_load(&S->snap_done) != req) {
		if (now_ms() > deadline) {
			check(false, "backend snapshot %s: no answer", snap_name[id]);
			return false;
		}
		msleep(5);
	}
	return true;
}

static double jain(const double *x, uint32_t n)
{
	double s = 0, s2 = 0;

	for (uint32_t i = 0; i < n; i++) {
		s += x[i];
		s2 += x[i] * x[i];
	}
	return s2 > 0 ? s * s / ((double)n * s2) : 0;
}

struct window {
	double secs;
	double blk[MAX_GUESTS], tx[MAX_GUESTS], rx[MAX_GUESTS];
	double jain_blk, jain_tx, jain_rx;
	double min_blk, min_tx, sum_blk, sum_tx, sum_rx;
};

static void sample(uint64_t *blk, uint64_t *tx, uint64_t *rx)
{
	for (uint32_t i = 0; i < O.guests; i++) {
		blk[i] = atomic_load(&S->g[i].blk_ops);
		tx[i] = atomic_load(&S->g[i].net_tx);
		rx[i] = atomic_load(&S->g[i].net_rx);
	}
}

static void measure(struct window *w)
{
	static uint64_t b0[MAX_GUESTS], t0[MAX_GUESTS], r0[MAX_GUESTS];
	static uint64_t b1[MAX_GUESTS], t1[MAX_GUESTS], r1[MAX_GUESTS];
	uint64_t a, b;

	a = now_ms();
	sample(b0, t0, r0);
	msleep((int)O.seconds * 1000);
	sample(b1, t1, r1);
	b = now_ms();
	w->secs = (double)(b - a) / 1000.0;
	w->min_blk = w->min_tx = INFINITY;
	w->sum_blk = w->sum_tx = w->sum_rx = 0;
	for (uint32_t i = 0; i < O.guests; i++) {
		w->blk[i] = (double)(b1[i] - b0[i]) / w->secs;
		w->tx[i] = (double)(t1[i] - t0[i]) / w->secs;
		w->rx[i] = (double)(r1[i] - r0[i]) / w->secs;
		w->min_blk = fmin(w->min_blk, w->blk[i]);
		w->min_tx = fmin(w->min_tx, w->tx[i]);
		w->sum_blk += w->blk[i];
		w->sum_tx += w->tx[i];
		w->sum_rx += w->rx[i];
	}
	w->jain_blk = jain(w->blk, O.guests);
	w->jain_tx = jain(w->tx, O.guests);
	w->jain_rx = jain(w->rx, O.guests);
	for (uint32_t i = 0; O.verbose && i < O.guests; i++)
		say("  guest %2u (domid %3u): block %8.0f IOPS, tx %8.0f pps, rx %8.0f pps\n", i,
		    atomic_load(&S->g[i].domid), w->blk[i], w->tx[i], w->rx[i]);
}

/* Replace churn guests while the others run; check both kinds progress. */
static void churn(void)
{
	uint32_t victims[MAX_GUESTS], k = O.churn;
	static uint64_t b0[MAX_GUESTS], t0[MAX_GUESTS], r0[MAX_GUESTS];
	static uint64_t b1[MAX_GUESTS], t1[MAX_GUESTS], r1[MAX_GUESTS];
	uint64_t deadline;
	uint32_t stalled = 0, killed = 0;

	if (k == 0)
		return;
	for (uint32_t i = 0; i < k; i++)
		victims[i] = (uint32_t)(((uint64_t)i * O.guests) / k + (i % 2)) % O.guests;
	sample(b0, t0, r0);
	for (uint32_t i = 0; i < k; i++) {
		uint32_t v = victims[i];

		if (i % 2) {
			atomic_store(&S->g[v].killed_gen1, atomic_load(&S->g[v].gen) + 1);
			kill(guest_pid[v], SIGKILL); /* a guest that dies */
			killed++;
		} else {
			atomic_store(&S->g[v].exit_cmd, 1); /* a guest that leaves */
		}
	}
	say("churn: %u guests leaving\n", k);
	deadline = now_ms() + 60000;
	for (uint32_t i = 0; i < k; i++) {
		uint32_t v = victims[i];
		int st = 0;
		pid_t r;

		while ((r = waitpid(guest_pid[v], &st, WNOHANG)) == 0 && now_ms() < deadline)
			msleep(WAIT_SHORT_MS);
		if (r != guest_pid[v]) {
			check(false, "churn: guest %u did not leave", v);
			return;
		}
		guest_pid[v] = 0;
		if (i % 2 == 0)
			check(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			      "churn: guest %u closed its devices and left cleanly%s%s", v,
			      S->g[v].err[0] ? ": " : "", S->g[v].err);
	}
	say("churn: they left\n");
	/* The backend notices and tears their devices down. */
	while (atomic_load(&S->be_managers) > O.guests - k && now_ms() < deadline)
		msleep(WAIT_SHORT_MS);
	check(atomic_load(&S->be_managers) == O.guests - k,
	      "churn: the backend released the %u departed guests' devices (%u served)", k,
	      atomic_load(&S->be_managers));
	for (uint32_t i = 0; i < k; i++) {
		struct guest_slot *g = &S->g[victims[i]];

		atomic_store(&g->state, G_EMPTY);
		atomic_store(&g->exit_cmd, 0);
		atomic_store(&g->blk_ops, 0);
		atomic_store(&g->net_tx, 0);
		atomic_store(&g->net_rx, 0);
		g->err[0] = '\0';
		atomic_fetch_add(&g->gen, 1);
		guest_pid[victims[i]] = spawn(guest_body, (void *)(uintptr_t)victims[i]);
	}
	say("churn: the backend let go of them; %u newcomers\n", k);
	/* The newcomers run, and make progress. */
	for (uint32_t i = 0; i < k; i++) {
		struct guest_slot *g = &S->g[victims[i]];
		int seen = G_EMPTY;

		while ((atomic_load(&g->blk_ops) == 0 || atomic_load(&g->net_tx) == 0) &&
		       atomic_load(&g->state) != G_FAILED && now_ms() < deadline + 60000) {
			if (O.verbose && atomic_load(&g->state) != seen) {
				seen = atomic_load(&g->state);
				say("churn: slot %u newcomer in state %d\n", victims[i], seen);
			}
			msleep(WAIT_SHORT_MS);
		}
		check(atomic_load(&g->blk_ops) > 0 && atomic_load(&g->net_tx) > 0,
		      "churn: new guest in slot %u connected and made progress (blk %" PRIu64
		      ", net tx %" PRIu64 ")%s%s", victims[i], atomic_load(&g->blk_ops),
		      atomic_load(&g->net_tx), g->err[0] ? ": " : "", g->err);
	}
	say("churn: the newcomers run\n");
	sample(b1, t1, r1);
	for (uint32_t i = 0; i < O.guests; i++) {
		bool victim = false;

		for (uint32_t j = 0; j < k; j++)
			victim |= victims[j] == i;
		if (!victim && (b1[i] == b0[i] || t1[i] == t0[i]))
			stalled++;
	}
	check(stalled == 0, "churn: the %u other guests kept making progress (%u stalled)",
	      O.guests - k, stalled);
	say("churn: %u guests replaced (%u killed, %u left cleanly)\n", k, killed, k - killed);
}

static void print_snap(const char *label, const struct mem_snap *s)
{
	say("  %-12s rss %7" PRIu64 " KiB (anon %7" PRIu64 ", shmem %7" PRIu64 "), malloc %7"
	    PRIu64 " KiB, %4u threads, %3u vbds %3u vifs\n", label, s->rss_kib, s->anon_kib,
	    s->shmem_kib, s->malloc_inuse / 1024, s->threads, s->vbds, s->vifs);
}

static int64_t d_kib(uint64_t a, uint64_t b)
{
	return (int64_t)a - (int64_t)b;
}

static void report(const struct window *w)
{
	const struct mem_snap *m = S->snap;
	uint32_t n = O.guests;
	int64_t blk_rss = d_kib(m[S_BLK].rss_kib, m[S_BASE].rss_kib) / (int64_t)n;
	int64_t blk_anon = d_kib(m[S_BLK].anon_kib, m[S_BASE].anon_kib) / (int64_t)n;
	int64_t blk_mall = d_kib(m[S_BLK].malloc_inuse, m[S_BASE].malloc_inuse) / 1024 / (int64_t)n;
	int64_t net_rss = d_kib(m[S_NET].rss_kib, m[S_BLK].rss_kib) / (int64_t)n;
	int64_t net_anon = d_kib(m[S_NET].anon_kib, m[S_BLK].anon_kib) / (int64_t)n;
	int64_t net_mall = d_kib(m[S_NET].malloc_inuse, m[S_BLK].malloc_inuse) / 1024 / (int64_t)n;
	int64_t run_rss = d_kib(m[S_RUN].rss_kib, m[S_BASE].rss_kib) / (int64_t)(2 * n);
	int64_t run_anon = d_kib(m[S_RUN].anon_kib, m[S_BASE].anon_kib) / (int64_t)(2 * n);
	int64_t leak = d_kib(m[S_EMPTY].malloc_inuse, m[S_BASE].malloc_inuse) / 1024;
	int64_t churn_growth = O.churn ? d_kib(m[S_CHURN].malloc_inuse, m[S_RUN].malloc_inuse) / 1024
				       : 0;

	if (O.json) {
		printf("{\"guests\": %u, \"seconds\": %.2f, \"engine\": \"%s\", "
		       "\"blk_iops_total\": %.0f, \"blk_iops_min\": %.0f, \"jain_blk\": %.4f, "
		       "\"net_tx_pps_total\": %.0f, \"net_tx_pps_min\": %.0f, \"jain_net_tx\": %.4f, "
		       "\"net_rx_pps_total\": %.0f, \"jain_net_rx\": %.4f, "
		       "\"per_vbd_rss_kib\": %" PRId64 ", \"per_vbd_anon_kib\": %" PRId64
		       ", \"per_vbd_malloc_kib\": %" PRId64 ", \"per_vif_rss_kib\": %" PRId64
		       ", \"per_vif_anon_kib\": %" PRId64 ", \"per_vif_malloc_kib\": %" PRId64
		       ", \"per_device_rss_after_run_kib\": %" PRId64
		       ", \"per_device_anon_after_run_kib\": %" PRId64
		       ", \"blk_grants_mapped_per_vbd\": %.1f, \"blk_ring_pages_per_vbd\": %.1f"
		       ", \"net_ring_pages_per_vif\": %.1f, \"net_rx_queued_bytes_per_vif\": %.1f"
		       ", \"malloc_after_all_gone_minus_base_kib\": %" PRId64
		       ", \"malloc_churn_growth_kib\": %" PRId64 ", \"backend_threads_peak\": %u"
		       ", \"failures\": %d}\n",
		       n, w->secs, O.engine, w->sum_blk, w->min_blk, w->jain_blk, w->sum_tx,
		       w->min_tx, w->jain_tx, w->sum_rx, w->jain_rx, blk_rss, blk_anon, blk_mall,
		       net_rss, net_anon, net_mall, run_rss, run_anon,
		       (double)m[S_RUN].blk_grants_mapped / n, (double)m[S_RUN].blk_ring_pages / n,
		       (double)m[S_RUN].net_ring_pages / n,
		       (double)m[S_RUN].net_rx_queued_bytes / n, leak, churn_growth,
		       m[S_RUN].threads, failures);
		return;
	}
	say("window %.2f s, %u guests, engine %s\n", w->secs, n, O.engine);
	say("  block: %.0f IOPS in all, per guest min %.0f mean %.0f, Jain %.4f\n", w->sum_blk,
	    w->min_blk, w->sum_blk / n, w->jain_blk);
	say("  net tx: %.0f pps in all, per guest min %.0f mean %.0f, Jain %.4f\n", w->sum_tx,
	    w->min_tx, w->sum_tx / n, w->jain_tx);
	say("  net rx: %.0f pps in all, Jain %.4f\n", w->sum_rx, w->jain_rx);
	say("backend memory (one process, %u vbds + %u vifs):\n", n, n);
	for (int i = 0; i < S_COUNT; i++)
		if (i != S_CHURN || O.churn)
			print_snap(snap_name[i], &m[i]);
	say("  per vbd at connect: rss %" PRId64 " KiB (anon %" PRId64 "), malloc %" PRId64
	    " KiB\n", blk_rss, blk_anon, blk_mall);
	say("  per vif at connect: rss %" PRId64 " KiB (anon %" PRId64 "), malloc %" PRId64
	    " KiB\n", net_rss, net_anon, net_mall);
	say("  per device after the run: rss %" PRId64 " KiB (anon %" PRId64 ")\n", run_rss,
	    run_anon);
	say("  pinned per vbd: %.1f ring pages, %.1f grants mapped (%.1f persistent)\n",
	    (double)m[S_RUN].blk_ring_pages / n, (double)m[S_RUN].blk_grants_mapped / n,
	    (double)m[S_RUN].blk_persistent / n);
	say("  pinned per vif: %.1f ring pages, %.1f queues, %.1f packets / %.0f bytes "
	    "queued for the guest; plus netback's fixed pools (netback/port_dpdk.c)\n",
	    (double)m[S_RUN].net_ring_pages / n, (double)m[S_RUN].net_queues / n,
	    (double)m[S_RUN].net_rx_queued_pkts / n, (double)m[S_RUN].net_rx_queued_bytes / n);
	say("  malloc after every device is gone, against the base: %+" PRId64 " KiB; "
	    "growth over the churn: %+" PRId64 " KiB\n", leak, churn_growth);
	say("slowest teardown step in the backend: %" PRIu64 " ms (%s)\n",
	    atomic_load(&S->slow_ms), S->slow_step[0] ? S->slow_step : "none");
	say("backend totals: %" PRIu64 " devices served, %" PRIu64 " block requests, %" PRIu64
	    " tx / %" PRIu64 " rx packets, %" PRIu64 " drops, %" PRIu64 " errors on the "
	    "devices of killed guests\n", S->be_devices_served, S->be_blk_reqs, S->be_net_tx,
	    S->be_net_rx, S->be_net_drops, S->be_errs_killed);
}

static void judge_fairness(const struct window *w)
{
	uint32_t idle_blk = 0, idle_tx = 0, idle_rx = 0;

	for (uint32_t i = 0; i < O.guests; i++) {
		idle_blk += w->blk[i] <= 0;
		idle_tx += w->tx[i] <= 0;
		idle_rx += w->rx[i] <= 0;
	}
	check(idle_blk == 0, "every guest made block progress in the window (%u did not)",
	      idle_blk);
	check(idle_tx == 0, "every guest sent packets in the window (%u did not)", idle_tx);
	check(idle_rx == 0, "every guest received packets in the window (%u did not)", idle_rx);
	double min_blk = O.min_jain_blk < 0 ? O.min_jain : O.min_jain_blk;

	check(w->jain_blk >= min_blk, "block fairness: Jain %.4f >= %.2f", w->jain_blk,
	      min_blk);
	check(w->jain_tx >= O.min_jain, "net tx fairness: Jain %.4f >= %.2f", w->jain_tx,
	      O.min_jain);
}

static void judge_memory(void)
{
	const struct mem_snap *m = S->snap;
	int64_t per_dev = (d_kib(m[S_RUN].anon_kib, m[S_BASE].anon_kib) +
			   d_kib(m[S_RUN].malloc_inuse / 1024, m[S_BASE].malloc_inuse / 1024)) /
			  (int64_t)(2 * O.guests);
	int64_t leak = d_kib(m[S_EMPTY].malloc_inuse, m[S_BASE].malloc_inuse) / 1024;

	check(per_dev <= (int64_t)O.max_dev_kib,
	      "backend private memory per device %" PRId64 " KiB <= %u KiB", per_dev,
	      O.max_dev_kib);
	/* Every device gone: what malloc holds returns to the base, give or
	 * take what DPDK and glibc keep for reuse. */
	check(leak <= 4096, "backend malloc returns to its base once every device is gone "
	      "(%+" PRId64 " KiB)", leak);
	check(m[S_EMPTY].vbds == 0 && m[S_EMPTY].vifs == 0 && m[S_EMPTY].threads <= m[S_BASE].threads + 2,
	      "no device or device thread left (%u threads, %u at base)", m[S_EMPTY].threads,
	      m[S_BASE].threads);
}

static void stop_all(void)
{
	uint64_t deadline = now_ms() + 60000;

	atomic_store(&S->phase, P_STOP);
	for (uint32_t i = 0; i < O.guests; i++) {
		int st;
		pid_t r = 0;

		if (guest_pid[i] <= 0)
			continue;
		while ((r = waitpid(guest_pid[i], &st, WNOHANG)) == 0 && now_ms() < deadline)
			msleep(WAIT_SHORT_MS);
		if (r != guest_pid[i]) {
			kill(guest_pid[i], SIGKILL);
			waitpid(guest_pid[i], &st, 0);
			check(false, "guest %u did not stop", i);
		} else if (!WIFEXITED(st) || WEXITSTATUS(st)) {
			check(false, "guest %u ended badly: %s", i, S->g[i].err);
		}
		guest_pid[i] = 0;
	}
}

static void cleanup(void)
{
	int st;

	for (uint32_t i = 0; i < O.guests; i++)
		if (guest_pid[i] > 0) {
			kill(guest_pid[i], SIGKILL);
			waitpid(guest_pid[i], &st, 0);
		}
	if (backend_pid > 0) {
		kill(backend_pid, SIGKILL);
		waitpid(backend_pid, &st, 0);
	}
	if (hostd_pid > 0) {
		kill(hostd_pid, SIGTERM);
		waitpid(hostd_pid, &st, 0);
	}
	if (backend_pid0 > 0) {
		char p[64];

		/* EAL's (empty) runtime dir of the backend's --file-prefix */
		snprintf(p, sizeof(p), "/var/run/dpdk/pvio-scale-%d", (int)backend_pid0);
		rmdir(p);
	}
	if (image[0])
		unlink(image);
	if (run_dir[0]) {
		char p[300];

		snprintf(p, sizeof(p), "%s/hostd.lock", run_dir);
		unlink(p);
		rmdir(run_dir);
	}
}

static int run(void)
{
	struct window w;
	int fd, st;
	uint64_t deadline;

	snprintf(run_dir, sizeof(run_dir), "/dev/shm/pvio-scale-XXXXXX");
	if (!mkdtemp(run_dir)) {
		fprintf(stderr, "pvio-scale: cannot create a run dir in /dev/shm: %s\n",
			strerror(errno));
		run_dir[0] = '\0';
		return 1;
	}
	snprintf(image, sizeof(image), "%s/disk.img", run_dir);
	fd = open(image, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, 64 << 20)) {
		fprintf(stderr, "pvio-scale: cannot create %s: %s\n", image, strerror(errno));
		return 1;
	}
	close(fd);
	if (start_hostd())
		return 1;
	backend_pid = backend_pid0 = spawn(backend_body, NULL);
	deadline = now_ms() + 60000;
	while (atomic_load(&S->be_ready) == 0 && now_ms() < deadline)
		msleep(WAIT_SHORT_MS);
	if (atomic_load(&S->be_ready) != 1) {
		check(false, "the backend did not start: %s", S->be_err);
		return 1;
	}
	say("hostd and the backend up; starting %u guests\n", O.guests);
	uint64_t t0 = now_ms();

	for (uint32_t i = 0; i < O.guests; i++)
		guest_pid[i] = spawn(guest_body, (void *)(uintptr_t)i);
	if (!wait_all(G_BLK_OPEN, O.guests, 0, 180000, "every vbd connected"))
		return 1;
	say("%u vbds connected in %.1f s\n", O.guests, (double)(now_ms() - t0) / 1000);
	if (!snapshot(S_BLK))
		return 1;
	t0 = now_ms();
	atomic_store(&S->phase, P_NET);
	if (!wait_all(G_NET_OPEN, O.guests, O.guests, 180000, "every vif connected"))
		return 1;
	say("%u vifs connected in %.1f s\n", O.guests, (double)(now_ms() - t0) / 1000);
	if (!snapshot(S_NET))
		return 1;
	atomic_store(&S->phase, P_RUN);
	if (!wait_all(G_RUNNING, O.guests, O.guests, 60000, "every guest running"))
		return 1;
	msleep(1000); /* past the start-up transients */
	measure(&w);
	if (!snapshot(S_RUN))
		return 1;
	judge_fairness(&w);
	churn();
	if (O.churn) {
		if (!wait_all(G_RUNNING, O.guests, O.guests, 60000, "every guest back after churn") ||
		    !snapshot(S_CHURN))
			return 1;
	}
	say("stopping\n");
	stop_all();
	say("every guest stopped\n");
	deadline = now_ms() + 60000;
	while (atomic_load(&S->be_managers) > 0 && now_ms() < deadline)
		msleep(WAIT_SHORT_MS);
	check(atomic_load(&S->be_managers) == 0, "the backend released every guest's devices");
	if (!snapshot(S_EMPTY))
		return 1;
	say("the backend released every device\n");
	atomic_store(&S->be_exit, 1);
	if (waitpid(backend_pid, &st, 0) == backend_pid) {
		backend_pid = 0;
		check(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the backend exited cleanly%s%s",
		      S->be_err[0] ? ": " : "", S->be_err);
	}
	check(S->be_broken == 0, "no device was broken (%" PRIu64 ")", S->be_broken);
	check(S->be_blk_errs == 0 && S->be_net_errs == 0,
	      "the backend answered no request with an error (block %" PRIu64 ", net %" PRIu64 ")",
	      S->be_blk_errs, S->be_net_errs);
	uint64_t gerr = 0;

	for (uint32_t i = 0; i < O.guests; i++)
		gerr += S->g[i].blk_errs + S->g[i].net_errs;
	check(gerr == 0, "no guest saw an error (%" PRIu64 ")", gerr);
	judge_memory();
	report(&w);
	return failures ? 1 : 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pvio-scale [--guests N] [--seconds S] [--churn K] [--min-jain J]\n"
		"                  [--min-jain-blk J]\n"
		"                  [--engine null|sync|io_uring|libaio] [--backend-wait block]\n"
		"                  [--max-device-kib N] [--json]\n"
		"\n"
		"N guest processes (default 64, even, <= %u), each with a vbd and a vif,\n"
		"on ONE backend process; S seconds measured (default 3, or\n"
		"$PVIO_SCALE_SECONDS); K guests replaced while the others run (default\n"
		"4); fails when a guest stalls, Jain's index of block or net tx throughput\n"
		"is below J (default 0.9; block's own bound with --min-jain-blk), a device\n"
		"costs the backend more than N KiB of\n"
		"private memory (default 4096), or memory does not come back.\n"
		"exit status: 0 pass, 1 fail, 2 bad usage.\n", MAX_GUESTS);
}

static uint64_t arg_u64(const char *flag, const char *v, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = v ? strtoull(v, &end, 10) : 0;
	if (!v || errno || *end || x < min || x > max) {
		fprintf(stderr, "pvio-scale: %s takes %" PRIu64 "..%" PRIu64 "\n", flag, min, max);
		exit(2);
	}
	return x;
}

int main(int argc, char **argv)
{
	const char *env = getenv("PVIO_SCALE_SECONDS");
	int rc;

	O = (struct opts){ .guests = 64, .seconds = 3, .churn = 4, .min_jain = 0.9,
			   .min_jain_blk = -1,
			   .engine = "null", .max_dev_kib = 4096 };
	if (env && *env)
		O.seconds = (uint32_t)arg_u64("PVIO_SCALE_SECONDS", env, 1, 3600);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--guests")) {
			O.guests = (uint32_t)arg_u64(a, v, 2, MAX_GUESTS);
			i++;
		} else if (!strcmp(a, "--seconds")) {
			O.seconds = (uint32_t)arg_u64(a, v, 1, 3600);
			i++;
		} else if (!strcmp(a, "--churn")) {
			O.churn = (uint32_t)arg_u64(a, v, 0, MAX_GUESTS);
			i++;
		} else if (!strcmp(a, "--min-jain")) {
			O.min_jain = v ? strtod(v, NULL) : -1;
			if (!(O.min_jain >= 0 && O.min_jain <= 1)) {
				fprintf(stderr, "pvio-scale: --min-jain takes 0..1\n");
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--min-jain-blk")) {
			O.min_jain_blk = v ? strtod(v, NULL) : -1;
			if (!(O.min_jain_blk >= 0 && O.min_jain_blk <= 1)) {
				fprintf(stderr, "pvio-scale: --min-jain-blk takes 0..1\n");
				return 2;
			}
			i++;
		} else if (!strcmp(a, "--engine")) {
			if (!v || (strcmp(v, "null") && strcmp(v, "sync") && strcmp(v, "io_uring") &&
				   strcmp(v, "libaio"))) {
				fprintf(stderr, "pvio-scale: --engine takes null, sync, io_uring or libaio\n");
				return 2;
			}
			O.engine = v;
			i++;
		} else if (!strcmp(a, "--backend-wait")) {
			if (!v || (strcmp(v, "block") && strcmp(v, "adaptive"))) {
				fprintf(stderr, "pvio-scale: --backend-wait takes block or adaptive\n");
				return 2;
			}
			O.backend_block = !strcmp(v, "block");
			i++;
		} else if (!strcmp(a, "--max-device-kib")) {
			O.max_dev_kib = (uint32_t)arg_u64(a, v, 1, 1u << 30);
			i++;
		} else if (!strcmp(a, "--verbose")) {
			O.verbose = true;
		} else if (!strcmp(a, "--json")) {
			O.json = true;
		} else {
			fprintf(stderr, "pvio-scale: unknown flag '%s' (see --help)\n", a);
			return 2;
		}
	}
	if (O.guests % 2) {
		fprintf(stderr, "pvio-scale: --guests must be even (guests send in pairs)\n");
		return 2;
	}
	if (O.churn > O.guests / 2) {
		fprintf(stderr, "pvio-scale: --churn at most half the guests\n");
		return 2;
	}
	S = mmap(NULL, sizeof(*S), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (S == MAP_FAILED) {
		fprintf(stderr, "pvio-scale: mmap: %s\n", strerror(errno));
		return 1;
	}
	memset(S, 0, sizeof(*S));
	signal(SIGPIPE, SIG_IGN);
	t_start = now_ms();
	rc = run();
	cleanup();
	if (rc && !failures)
		fprintf(stderr, "pvio-scale: failed\n");
	return rc;
}
