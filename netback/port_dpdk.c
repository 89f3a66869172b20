/* SPDX-License-Identifier: MIT */
/*
 * The DPDK port: a vif on an ethdev (any PMD: a NIC, or the vdevs
 * net_null, net_ring, net_tap, net_af_packet), either alone on it
 * ("direct": vif queue i is ethdev queue i mod the ethdev's queues) or,
 * when the vif names a bridge, on netback's built-in L2 switch whose
 * uplink is the ethdev (switch.c: learning, flooding, ageing,
 * anti-spoofing; vif-to-vif traffic never leaves the process).
 *
 * tx zero copy: each mapped guest page becomes an mbuf segment through
 * rte_pktmbuf_attach_extbuf(); the packet's segments share one
 * rte_mbuf_ext_shared_info (kept in the packet's port_scratch, which
 * netback keeps alive until the completion) with refcnt = segments, whose
 * free callback runs netback_port_tx_done() once the PMD (or whoever got
 * the mbufs) frees the last one: only then does the guest get its tx
 * response and its pages unmapped.
 * tx copy (small packets, tx_copy_buf): an mbuf of the vif's copy pool,
 * whose buffers are frames the backend domain owns; netback fills it from
 * a read-only map of the guest's page (a grant copy into the frame when
 * it has no mapping handle left).
 * rx: the ethdev receives into the device's frame pool
 * (rte_pktmbuf_pool_create_extbuf over backend-owned frames, one mbuf per
 * 4 KiB frame), so netback can grant-copy from it, or flip the frame
 * itself to the guest; after a flip the mbuf is re-pointed at the frame
 * the guest gave in exchange before it returns to the pool. Mbufs that
 * come from elsewhere (net_ring hands over the sender's own mbufs) are
 * copied (rx copy: the guest's pages mapped and memcpy'd; flip: into a
 * spare backend frame that is then flipped).
 *
 * Memory for real NICs: the frame pools and mapped grants are pages of
 * pvio's machine pool, not DPDK memory. In IOVA-as-VA mode (VFIO with an
 * IOMMU) their IOVA is their address once the pool is registered
 * (rte_extmem_register + rte_dev_dma_map, done at open, errors ignored
 * for vdevs); in PA mode pvio passes RTE_BAD_IOVA, which vdevs never use.
 *
 * Offloads: checksum/TSO requests travel as mbuf offload flags when the
 * ethdev offers them, or when it is a pass-through vdev (net_ring,
 * net_null: the receiver gets the flags as they are); otherwise
 * checksums are completed in software (for zero copy, in a copy of the
 * headers: the guest's page is mapped read-only) and GSO is not offered.
 */
#define ALLOW_EXPERIMENTAL_API 1

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <rte_spinlock.h>

#include <pvio/host.h>

#include "common.h"

#define DEV_RX_FRAMES 2047u   /* per ethdev: rx buffers (8 MiB) */
#define VIF_COPY_FRAMES 1023u /* per vif: tx copy buffers (4 MiB) */
#define HDR_MBUFS 8191u       /* per vif: mbufs for attached guest pages */
#define FRAME_CACHE 64u       /* per lcore, of each frame pool: NB_TX_BATCH */
#define INBOX 1024u           /* per vif in switch mode */
#define NDESC 512u
#define BURST 32u
#define PRIV 8u               /* mbuf private area: the frame's pfn */

/* ---- EAL --------------------------------------------------------------------- */

static pthread_mutex_t eal_lock = PTHREAD_MUTEX_INITIALIZER;
static bool eal_done;
static int eal_rc;
static bool iova_va;

static int eal_init_locked(const char *args)
{
	char buf[1024], *argv[64], *save = NULL;
	int argc = 0, rc;
	cpu_set_t cpus;
	bool have_cpus;

	snprintf(buf, sizeof(buf), "%s", args);
	argv[argc++] = (char *)"pvio-netback";
	for (char *t = strtok_r(buf, " ", &save); t && argc < 63; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	argv[argc] = NULL;
	/* rte_eal_init pins the calling thread to the main lcore: undo it. */
	have_cpus = pthread_getaffinity_np(pthread_self(), sizeof(cpus), &cpus) == 0;
	rc = rte_eal_init(argc, argv);
	if (have_cpus)
		(void)pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	eal_done = true;
	eal_rc = rc < 0 ? -(rte_errno ? rte_errno : EINVAL) : 0;
	iova_va = rc >= 0 && rte_eal_iova_mode() == RTE_IOVA_VA;
	/* EAL makes /var/run/dpdk/<file-prefix> and never removes it. With
	 * --no-shconf (no IPC socket, no shared config) nothing goes in it
	 * and every process left an empty one behind: remove it now. rmdir
	 * leaves a directory that holds anything. */
	if (rc >= 0 && rte_eal_get_runtime_dir())
		(void)rmdir(rte_eal_get_runtime_dir());
	if (eal_rc)
		fprintf(stderr, "netback: DPDK EAL init failed (%s): %s\n", args,
			rte_strerror(-eal_rc));
	return eal_rc;
}

int pvio_netback_dpdk_init(const char *args)
{
	int rc;

	pthread_mutex_lock(&eal_lock);
	rc = eal_done ? -EALREADY : eal_init_locked(args ? args : "");
	pthread_mutex_unlock(&eal_lock);
	return rc;
}

static int eal_ready(void)
{
	int rc;

	pthread_mutex_lock(&eal_lock);
	if (!eal_done) {
		char args[192];

		snprintf(args, sizeof(args), "--no-huge --no-pci -m 256 --no-shconf "
			 "--file-prefix=pvio-nb-%d --no-telemetry --log-level=error",
			 (int)getpid());
		eal_init_locked(args);
	}
	rc = eal_rc;
	pthread_mutex_unlock(&eal_lock);
	return rc;
}

static rte_iova_t va2iova(const void *a)
{
	return iova_va ? (rte_iova_t)(uintptr_t)a : RTE_BAD_IOVA;
}

/* ---- frame pools ------------------------------------------------------------------ */

static _Atomic uint32_t pool_seq;

struct addr_pfn {
	uintptr_t addr;
	uint32_t pfn;
};

static int cmp_addr(const void *a, const void *b)
{
	uintptr_t x = ((const struct addr_pfn *)a)->addr, y = ((const struct addr_pfn *)b)->addr;

	return x < y ? -1 : x > y;
}

struct pfn_ctx {
	struct addr_pfn *map;
	uint32_t n;
};

static void set_pfn(struct rte_mempool *mp, void *arg, void *obj, unsigned int i)
{
	struct pfn_ctx *c = arg;
	struct rte_mbuf *m = obj;
	struct addr_pfn key = { .addr = (uintptr_t)m->buf_addr };
	struct addr_pfn *hit = bsearch(&key, c->map, c->n, sizeof(key), cmp_addr);

	(void)mp;
	(void)i;
	*(uint32_t *)rte_mbuf_to_priv(m) = hit ? hit->pfn : NETBACK_PFN_NONE;
}

static bool is_frame_pool(const struct rte_mempool *mp)
{
	return mp && strncmp(mp->name, "nbf", 3) == 0;
}

static uint32_t mbuf_pfn(const struct rte_mbuf *m)
{
	return is_frame_pool(m->pool) ? *(const uint32_t *)rte_mbuf_to_priv((struct rte_mbuf *)m)
				      : NETBACK_PFN_NONE;
}

/* n mbufs whose buffers are backend-owned frames, one each. */
static struct rte_mempool *frame_pool_create(const struct netback_port_env *env, uint32_t n,
					     uint32_t *base)
{
	struct rte_pktmbuf_extmem *ext;
	struct pfn_ctx c;
	struct rte_mempool *mp = NULL;
	char name[RTE_MEMPOOL_NAMESIZE];

	if (env->page_alloc(env->page_ctx, n, base))
		return NULL;
	ext = calloc(n, sizeof(*ext));
	c.map = calloc(n, sizeof(*c.map));
	c.n = n;
	if (!ext || !c.map)
		goto out;
	for (uint32_t i = 0; i < n; i++) {
		void *a = pvio_mach_pfn_ptr(env->machine, env->be, *base + i);

		ext[i].buf_ptr = a;
		ext[i].buf_iova = va2iova(a);
		ext[i].buf_len = PVIO_PAGE_SIZE;
		ext[i].elt_size = PVIO_PAGE_SIZE;
		c.map[i].addr = (uintptr_t)a;
		c.map[i].pfn = *base + i;
	}
	qsort(c.map, n, sizeof(*c.map), cmp_addr);
	snprintf(name, sizeof(name), "nbf%u", atomic_fetch_add(&pool_seq, 1));
	/* A per-lcore cache (queue threads register as lcores): without one,
	 * every alloc and every free of a copy or rx mbuf is a CAS on the
	 * pool's ring (~135 instructions a packet, callgrind). It holds a
	 * whole tx batch (NB_TX_BATCH): with 32, half of each batch's copy
	 * mbufs went through the ring and came back cold (SCHED_FIFO A/B at
	 * 64 B: 10.6 -> 11.6 Mpps median). At most 8 queues x 1.5 x
	 * FRAME_CACHE = 768 frames sit in caches, below VIF_COPY_FRAMES. */
	mp = rte_pktmbuf_pool_create_extbuf(name, n, FRAME_CACHE, PRIV, PVIO_PAGE_SIZE,
					    SOCKET_ID_ANY, ext, n);
	if (mp)
		rte_mempool_obj_iter(mp, set_pfn, &c);
out:
	free(ext);
	free(c.map);
	if (!mp)
		(void)env->page_free(env->page_ctx, *base, n);
	return mp;
}

/* Free a pool unless mbufs of it are still out there (then it leaks:
 * freeing would let their later free touch freed memory). */
static void pool_release(struct rte_mempool *mp, const struct netback_port_env *env,
			 uint32_t base, uint32_t n)
{
	if (!mp)
		return;
	if (rte_mempool_in_use_count(mp) != 0) {
		fprintf(stderr, "netback: mempool %s has %u mbufs out; kept\n", mp->name,
			rte_mempool_in_use_count(mp));
		return;
	}
	rte_mempool_free(mp);
	if (env && n)
		(void)env->page_free(env->page_ctx, base, n);
}

/* ---- devices and vifs ------------------------------------------------------------- */

struct dpdk_vif;

struct dpdk_dev {
	char name[128];
	uint16_t port;
	int refs;
	bool direct;              /* owned by one vif, no switch */
	bool started;
	bool passthrough;         /* net_ring / net_null: flags pass as is */
	uint64_t tx_offl;         /* offloads enabled on the ethdev */
	uint32_t ndq;             /* ethdev queues configured */
	struct netback_port_env env; /* a copy: the first vif may go first */
	struct rte_mempool *rx_pool;
	uint32_t rx_base;
	struct rte_mempool *clone_pool;
	rte_spinlock_t txl[NB_MAX_QUEUES], rxl[NB_MAX_QUEUES];
	/* switch mode */
	struct nb_switch sw;
	bool sw_on;
	pthread_rwlock_t vlock;
	struct dpdk_vif *vport[NB_SW_MAX_PORTS];
	struct dpdk_dev *next;
};

struct dpdk_vif {
	struct dpdk_dev *d;
	const struct netback_port_env *env;
	uint8_t mac[6];
	bool switched;
	uint32_t sw_port;
	uint32_t nq;
	struct rte_ring *inbox;
	struct rte_mempool *hdr_pool, *copy_pool;
	uint32_t copy_base;
	_Atomic uint64_t dropped; /* inside the port (full rings, no mbufs) */
};

static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dpdk_dev *devs;

static int dev_configure(struct dpdk_dev *d, uint32_t nq)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	int rc;

	if (rte_eth_dev_info_get(d->port, &info) != 0)
		return -ENODEV;
	if (nq > info.max_rx_queues)
		nq = info.max_rx_queues;
	if (nq > info.max_tx_queues)
		nq = info.max_tx_queues;
	if (nq == 0)
		nq = 1;
	memset(&conf, 0, sizeof(conf));
	d->tx_offl = info.tx_offload_capa &
		     (RTE_ETH_TX_OFFLOAD_TCP_TSO | RTE_ETH_TX_OFFLOAD_TCP_CKSUM |
		      RTE_ETH_TX_OFFLOAD_UDP_CKSUM | RTE_ETH_TX_OFFLOAD_IPV4_CKSUM |
		      RTE_ETH_TX_OFFLOAD_MULTI_SEGS);
	conf.txmode.offloads = d->tx_offl;
	rc = rte_eth_dev_configure(d->port, (uint16_t)nq, (uint16_t)nq, &conf);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < nq; i++) {
		rc = rte_eth_rx_queue_setup(d->port, (uint16_t)i, NDESC, SOCKET_ID_ANY, NULL,
					    d->rx_pool);
		if (rc < 0)
			return rc;
		rc = rte_eth_tx_queue_setup(d->port, (uint16_t)i, NDESC, SOCKET_ID_ANY, NULL);
		if (rc < 0)
			return rc;
	}
	rc = rte_eth_dev_start(d->port);
	if (rc < 0)
		return rc;
	(void)rte_eth_promiscuous_enable(d->port);
	d->ndq = nq;
	d->started = true;
	return 0;
}

static void dev_stop(struct dpdk_dev *d)
{
	if (d->started) {
		(void)rte_eth_dev_stop(d->port);
		d->started = false;
	}
}

/* Find or create the device record of p->dev. dev_lock held. */
static int dev_get(const struct netback_port_params *p, bool direct, struct dpdk_dev **out)
{
	char name[128];
	struct dpdk_dev *d;
	uint16_t pid;
	struct rte_eth_dev_info info;

	snprintf(name, sizeof(name), "%s", p->dev);
	name[strcspn(name, ",")] = 0;
	if (!name[0])
		return -EINVAL;
	for (d = devs; d; d = d->next) {
		if (strcmp(d->name, name) == 0) {
			if (direct || d->direct)
				return -EBUSY; /* one vif owns it, or a switch does */
			d->refs++;
			*out = d;
			return 0;
		}
	}
	if (rte_eth_dev_get_port_by_name(name, &pid) != 0) {
		/* Not there yet: a vdev to create ("net_null1", "net_tap0,iface=x"). */
		if (rte_dev_probe(p->dev) != 0 || rte_eth_dev_get_port_by_name(name, &pid) != 0)
			return -ENODEV;
	}
	if (rte_eth_dev_info_get(pid, &info) != 0)
		return -ENODEV;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->port = pid;
	d->refs = 1;
	d->direct = direct;
	d->env = *p->env;
	d->passthrough = info.driver_name && (strstr(info.driver_name, "net_ring") ||
					      strstr(info.driver_name, "net_null"));
	for (uint32_t i = 0; i < NB_MAX_QUEUES; i++) {
		rte_spinlock_init(&d->txl[i]);
		rte_spinlock_init(&d->rxl[i]);
	}
	d->rx_pool = frame_pool_create(p->env, DEV_RX_FRAMES, &d->rx_base);
	if (!d->rx_pool) {
		free(d);
		return -ENOMEM;
	}
	{
		char cn[RTE_MEMPOOL_NAMESIZE];

		snprintf(cn, sizeof(cn), "nbk%u", atomic_fetch_add(&pool_seq, 1));
		d->clone_pool = rte_pktmbuf_pool_create(cn, 4095, 32, 0, 0, SOCKET_ID_ANY);
	}
	if (!d->clone_pool) {
		pool_release(d->rx_pool, p->env, d->rx_base, DEV_RX_FRAMES);
		free(d);
		return -ENOMEM;
	}
	/* For real NICs: let the device reach the machine pool. */
	if (!d->passthrough && iova_va) {
		size_t len = (size_t)p->env->machine->nr_frames * PVIO_PAGE_SIZE;

		if (rte_extmem_register(p->env->machine->pool, len, NULL, 0, PVIO_PAGE_SIZE) == 0 ||
		    rte_errno == EEXIST) {
			struct rte_eth_dev_info di;

			if (rte_eth_dev_info_get(pid, &di) == 0 && di.device)
				(void)rte_dev_dma_map(di.device, p->env->machine->pool,
						      (uint64_t)(uintptr_t)p->env->machine->pool, len);
		}
	}
	if (!direct) {
		if (nb_switch_init(&d->sw, 4096, 0)) {
			rte_mempool_free(d->clone_pool);
			pool_release(d->rx_pool, p->env, d->rx_base, DEV_RX_FRAMES);
			free(d);
			return -ENOMEM;
		}
		uint32_t up;

		(void)nb_switch_port_add(&d->sw, NULL, &up);
		d->sw_on = true;
		/* Writers first: every queue thread of the bridge read-locks
		 * per packet, and under load one of them is nearly always
		 * preempted inside, so with glibc's default (readers first) a
		 * vif joining or leaving waited for a moment without readers
		 * for seconds (16-50 s seen), holding dev_lock, which stalled
		 * every other vif's connect and teardown meanwhile. */
		pthread_rwlockattr_t ra;

		pthread_rwlockattr_init(&ra);
		pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&d->vlock, &ra);
		pthread_rwlockattr_destroy(&ra);
	}
	d->next = devs;
	devs = d;
	*out = d;
	return 0;
}

/* dev_lock held. */
static void dev_put(struct dpdk_dev *d)
{
	struct dpdk_dev **pp;

	if (--d->refs > 0)
		return;
	dev_stop(d);
	for (pp = &devs; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	if (d->sw_on) {
		nb_switch_fini(&d->sw);
		pthread_rwlock_destroy(&d->vlock);
	}
	pool_release(d->clone_pool, NULL, 0, 0);
	pool_release(d->rx_pool, &d->env, d->rx_base, DEV_RX_FRAMES);
	free(d);
}

static int dpdk_open(const struct netback_port_params *p, void **ctx)
{
	struct dpdk_vif *v;
	char name[RTE_MEMPOOL_NAMESIZE];
	bool direct = !p->bridge || !p->bridge[0];
	int rc = eal_ready();

	if (rc)
		return rc;
	if (!p->dev || !p->dev[0])
		return -EINVAL;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->env = p->env;
	memcpy(v->mac, p->mac, 6);
	snprintf(name, sizeof(name), "nbh%u", atomic_fetch_add(&pool_seq, 1));
	v->hdr_pool = rte_pktmbuf_pool_create(name, HDR_MBUFS, 64, 0, 0, SOCKET_ID_ANY);
	v->copy_pool = frame_pool_create(p->env, VIF_COPY_FRAMES, &v->copy_base);
	if (!v->hdr_pool || !v->copy_pool) {
		rc = -ENOMEM;
		goto fail;
	}
	pthread_mutex_lock(&dev_lock);
	rc = dev_get(p, direct, &v->d);
	if (rc == 0 && !direct) {
		snprintf(name, sizeof(name), "nbi%u", atomic_fetch_add(&pool_seq, 1));
		v->inbox = rte_ring_create(name, INBOX, SOCKET_ID_ANY, 0);
		rc = v->inbox ? nb_switch_port_add(&v->d->sw, v->mac, &v->sw_port) : -ENOMEM;
		if (rc == 0) {
			pthread_rwlock_wrlock(&v->d->vlock);
			v->d->vport[v->sw_port] = v;
			pthread_rwlock_unlock(&v->d->vlock);
			v->switched = true;
		} else {
			if (v->inbox)
				rte_ring_free(v->inbox);
			v->inbox = NULL;
			dev_put(v->d);
			v->d = NULL;
		}
	}
	pthread_mutex_unlock(&dev_lock);
	if (rc)
		goto fail;
	*ctx = v;
	return 0;
fail:
	if (v->hdr_pool)
		rte_mempool_free(v->hdr_pool);
	pool_release(v->copy_pool, p->env, v->copy_base, VIF_COPY_FRAMES);
	free(v);
	return rc;
}

static void drain_inbox(struct dpdk_vif *v)
{
	struct rte_mbuf *m[BURST];
	unsigned int n;

	if (!v->inbox)
		return;
	while ((n = rte_ring_dequeue_burst(v->inbox, (void **)m, BURST, NULL)) > 0)
		rte_pktmbuf_free_bulk(m, n);
}

static void dpdk_close(void *ctx)
{
	struct dpdk_vif *v = ctx;

	pthread_mutex_lock(&dev_lock);
	if (v->switched) {
		pthread_rwlock_wrlock(&v->d->vlock);
		v->d->vport[v->sw_port] = NULL;
		pthread_rwlock_unlock(&v->d->vlock);
		nb_switch_port_del(&v->d->sw, v->sw_port);
		drain_inbox(v);
		rte_ring_free(v->inbox);
	}
	dev_put(v->d);
	pthread_mutex_unlock(&dev_lock);
	pool_release(v->hdr_pool, NULL, 0, 0);
	pool_release(v->copy_pool, v->env, v->copy_base, VIF_COPY_FRAMES);
	free(v);
}

static int dpdk_start(void *ctx, uint32_t nq, uint32_t offl)
{
	struct dpdk_vif *v = ctx;
	int rc = 0;

	(void)offl; /* received packets keep their offload flags; netback
		       completes what the guest cannot take */
	pthread_mutex_lock(&dev_lock);
	if (!v->d->started)
		rc = dev_configure(v->d, v->switched ? 1 : nq);
	pthread_mutex_unlock(&dev_lock);
	if (rc < 0)
		return rc;
	v->nq = nq;
	return 0;
}

static void dpdk_stop(void *ctx)
{
	struct dpdk_vif *v = ctx;

	pthread_mutex_lock(&dev_lock);
	if (v->d->direct)
		dev_stop(v->d); /* frees what the PMD holds (held tx mbufs) */
	pthread_mutex_unlock(&dev_lock);
	drain_inbox(v);
}

static int dpdk_thread_init(void *ctx, uint32_t q)
{
	(void)ctx;
	(void)q;
	/* An lcore id gives this thread mempool caches. */
	return rte_thread_register() == 0 ? 0 : -rte_errno;
}

static void dpdk_thread_fini(void *ctx, uint32_t q)
{
	(void)ctx;
	(void)q;
	rte_thread_unregister();
}

static uint32_t dpdk_tx_caps(void *ctx)
{
	struct dpdk_vif *v = ctx;
	struct rte_eth_dev_info info;

	if (v->d->passthrough)
		return NETBACK_TXCAP_GSO;
	if (rte_eth_dev_info_get(v->d->port, &info) == 0 &&
	    (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_TCP_TSO) &&
	    (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS))
		return NETBACK_TXCAP_GSO;
	return 0;
}

/* ---- tx ---------------------------------------------------------------------------- */

static int dpdk_tx_copy_buf(void *ctx, uint32_t q, struct netback_pkt *pkt)
{
	struct dpdk_vif *v = ctx;
	struct rte_mbuf *m = rte_pktmbuf_alloc(v->copy_pool);

	(void)q;
	if (!m)
		return -ENOBUFS;
	pvio_tsan_acquire(m); /* its last owner's release (<pvio/tsan.h>) */
	if (pkt->len > rte_pktmbuf_tailroom(m)) {
		rte_pktmbuf_free(m);
		return -ENOBUFS;
	}
	pkt->frag[0].addr = rte_pktmbuf_mtod(m, void *);
	pkt->frag[0].len = pkt->len;
	pkt->frag[0].pfn = mbuf_pfn(m);
	pkt->port_priv = m;
	return 0;
}

static void dpdk_tx_copy_abort(void *ctx, uint32_t q, struct netback_pkt *pkt)
{
	(void)ctx;
	(void)q;
	rte_pktmbuf_free(pkt->port_priv);
	pkt->port_priv = NULL;
}

static void zc_free(void *addr, void *opaque)
{
	(void)addr;
	pvio_tsan_acquire(opaque); /* build_zc()'s release: DPDK's order */
	netback_port_tx_done(opaque);
}

/* Set offload flags; false if a software checksum is needed. */
static bool set_offloads(const struct dpdk_dev *d, struct rte_mbuf *m,
			 const struct netback_pkt *p)
{
	bool hw_csum = d->passthrough ||
		       (d->tx_offl & (p->l4_proto == 6 ? RTE_ETH_TX_OFFLOAD_TCP_CKSUM
							: RTE_ETH_TX_OFFLOAD_UDP_CKSUM));

	if (!(p->flags & NETBACK_PKT_CSUM_PARTIAL))
		return true;
	if (!hw_csum && !(p->flags & NETBACK_PKT_GSO_MASK))
		return false;
	m->l2_len = p->l2_len;
	m->l3_len = p->l3_len;
	m->l4_len = p->l4_len;
	m->ol_flags |= p->ipv6 ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4;
	if (p->flags & NETBACK_PKT_GSO_MASK) {
		m->ol_flags |= RTE_MBUF_F_TX_TCP_SEG;
		m->tso_segsz = p->gso_size;
	} else {
		m->ol_flags |= p->l4_proto == 6 ? RTE_MBUF_F_TX_TCP_CKSUM
						: RTE_MBUF_F_TX_UDP_CKSUM;
	}
	return true;
}

/* A software checksum over an mbuf chain whose headers are writable. */
static void mbuf_csum(struct rte_mbuf *m, const struct netback_pkt *p)
{
	struct netback_pkt view;
	uint32_t k = 0;

	memset(&view, 0, offsetof(struct netback_pkt, frag));
	view.len = p->len;
	view.csum_start = p->csum_start;
	view.csum_offset = p->csum_offset;
	view.l4_proto = p->l4_proto;
	for (struct rte_mbuf *s = m; s && k < NETBACK_MAX_FRAGS; s = s->next, k++) {
		view.frag[k].addr = rte_pktmbuf_mtod(s, void *);
		view.frag[k].len = s->data_len;
	}
	view.nr_frags = (uint16_t)k;
	nb_pkt_csum_complete(&view);
}

/*
 * The zero-copy chain of a packet: mapped guest pages attached as
 * external buffers. hdr > 0 copies the first hdr bytes into a writable
 * copy-pool mbuf first (for a software checksum). *ext receives whether
 * any guest page was attached (then the free callback will come).
 */
static struct rte_mbuf *build_zc(struct dpdk_vif *v, struct netback_pkt *p, void *owner,
				 uint32_t hdr, bool *ext)
{
	struct rte_mbuf_ext_shared_info *sh = (void *)p->port_scratch;
	struct rte_mbuf *segs[NETBACK_MAX_FRAGS], *head = NULL, *h = NULL;
	uint32_t nseg = 0, skip = hdr;

	_Static_assert(sizeof(*sh) <= sizeof(p->port_scratch), "shinfo fits the scratch");
	*ext = false;
	for (uint32_t k = 0, s = hdr; k < p->nr_frags; k++) {
		if (s >= p->frag[k].len) {
			s -= p->frag[k].len;
			continue;
		}
		s = 0;
		nseg++;
	}
	if (hdr) {
		h = rte_pktmbuf_alloc(v->copy_pool);
		if (!h || rte_pktmbuf_tailroom(h) < hdr) {
			rte_pktmbuf_free(h);
			return NULL;
		}
		pvio_tsan_acquire(h);
		(void)nb_pkt_gather(p, rte_pktmbuf_mtod(h, uint8_t *), hdr);
		h->data_len = (uint16_t)hdr;
	}
	if (nseg && rte_pktmbuf_alloc_bulk(v->hdr_pool, segs, nseg) != 0) {
		rte_pktmbuf_free(h);
		return NULL;
	}
	pvio_tsan_acquire_each((void **)segs, nseg);
	sh->free_cb = zc_free;
	sh->fcb_opaque = owner;
	/* The owner comes back in zc_free(), in whichever thread frees the
	 * last segment, ordered by DPDK's ring and refcount: TSan cannot see
	 * that order (<pvio/tsan.h>), so state it. */
	pvio_tsan_release(owner);
	rte_mbuf_ext_refcnt_set(sh, (uint16_t)nseg);
	head = h;
	{
		struct rte_mbuf *tail = h;
		uint32_t i = 0;

		for (uint32_t k = 0; k < p->nr_frags; k++) {
			uint8_t *a = p->frag[k].addr;
			uint32_t len = p->frag[k].len;
			struct rte_mbuf *m;

			if (skip >= len) {
				skip -= len;
				continue;
			}
			a += skip;
			len -= skip;
			skip = 0;
			m = segs[i++];
			rte_pktmbuf_attach_extbuf(m, a, va2iova(a), (uint16_t)len, sh);
			m->data_len = (uint16_t)len;
			if (tail)
				tail->next = m;
			else
				head = m;
			tail = m;
		}
	}
	head->nb_segs = (uint16_t)(nseg + (h != NULL));
	head->pkt_len = p->len;
	*ext = nseg > 0;
	return head;
}

/* Whether set_offloads() can express p's offloads (else a software
 * checksum is needed). */
static bool offloads_ok(const struct dpdk_dev *d, const struct netback_pkt *p)
{
	if (!(p->flags & NETBACK_PKT_CSUM_PARTIAL) || (p->flags & NETBACK_PKT_GSO_MASK) ||
	    d->passthrough)
		return true;
	return d->tx_offl & (p->l4_proto == 6 ? RTE_ETH_TX_OFFLOAD_TCP_CKSUM
					      : RTE_ETH_TX_OFFLOAD_UDP_CKSUM);
}

/* The mbuf for one packet, or NULL (status set). */
static struct rte_mbuf *pkt_mbuf(struct dpdk_vif *v, struct netback_pkt *p, void *owner,
				 int *status, bool *held)
{
	struct rte_mbuf *m;
	bool ext = false;

	*held = false;
	if (p->flags & NETBACK_PKT_PORTBUF) {
		m = p->port_priv;
		m->data_len = (uint16_t)p->len;
		m->pkt_len = p->len;
		if (!set_offloads(v->d, m, p))
			nb_pkt_csum_complete(p); /* our own buffer: writable */
		*status = NETBACK_TX_SENT;
		return m;
	}
	if ((p->flags & NETBACK_PKT_GSO_MASK) && !dpdk_tx_caps(v)) {
		*status = NETBACK_TX_DROPPED;
		return NULL;
	}
	{
		bool hw = offloads_ok(v->d, p);

		m = build_zc(v, p, owner, hw ? 0 : (uint32_t)p->csum_start + p->csum_offset + 2,
			     &ext);
		if (!m) {
			*status = NETBACK_TX_DROPPED;
			return NULL;
		}
		if (hw)
			(void)set_offloads(v->d, m, p);
		else
			mbuf_csum(m, p);
	}
	*held = ext;
	*status = ext ? NETBACK_TX_HELD : NETBACK_TX_SENT;
	return m;
}

static uint16_t uplink_send(struct dpdk_dev *d, uint32_t dq, struct rte_mbuf **m, uint16_t n)
{
	uint16_t sent = 0;

	pvio_tsan_release_each((void **)m, n); /* <pvio/tsan.h> */
	rte_spinlock_lock(&d->txl[dq]);
	for (int tries = 0; sent < n && tries < 4; tries++)
		sent += rte_eth_tx_burst(d->port, (uint16_t)dq, m + sent, n - sent);
	rte_spinlock_unlock(&d->txl[dq]);
	return sent;
}

/* Deliver one mbuf to a vif's inbox (switch mode), or free it. */
static void to_vport(struct dpdk_vif *to, struct rte_mbuf *m)
{
	pvio_tsan_release(m);
	if (!to || rte_ring_enqueue(to->inbox, m) != 0) {
		if (to)
			atomic_fetch_add_explicit(&to->dropped, 1, memory_order_relaxed);
		rte_pktmbuf_free(m);
	}
}

/* Switch: send m where the table says; vlock held for reading. */
static void switch_out(struct dpdk_dev *d, uint32_t in, enum nb_sw_action act, uint32_t out,
		       struct rte_mbuf *m)
{
	if (act == NB_SW_UNICAST) {
		if (out == NB_SW_UPLINK) {
			if (uplink_send(d, 0, &m, 1) != 1)
				rte_pktmbuf_free(m);
		} else {
			to_vport(d->vport[out], m);
		}
		return;
	}
	if (act != NB_SW_FLOOD) {
		rte_pktmbuf_free(m);
		return;
	}
	/* Flood: a clone for every destination but the last. */
	uint32_t dest[NB_SW_MAX_PORTS], nd = 0;

	if (in != NB_SW_UPLINK)
		dest[nd++] = NB_SW_UPLINK;
	for (uint32_t p = 1; p < NB_SW_MAX_PORTS; p++)
		if (p != in && d->vport[p])
			dest[nd++] = p;
	for (uint32_t i = 0; i < nd; i++) {
		struct rte_mbuf *c = i + 1 < nd ? rte_pktmbuf_clone(m, d->clone_pool) : m;

		if (!c)
			continue;
		if (dest[i] == NB_SW_UPLINK) {
			if (uplink_send(d, 0, &c, 1) != 1)
				rte_pktmbuf_free(c);
		} else {
			to_vport(d->vport[dest[i]], c);
		}
	}
	if (nd == 0)
		rte_pktmbuf_free(m);
}

static void dpdk_xmit(void *ctx, uint32_t q, struct netback_pkt **pkts, void **owners,
		      int *status, uint32_t n)
{
	struct dpdk_vif *v = ctx;
	struct dpdk_dev *d = v->d;
	struct rte_mbuf *out[NB_TX_BATCH];
	uint32_t idx[NB_TX_BATCH], k = 0;
	uint64_t now = v->switched ? pvio_now_ns() : 0;

	if (!d->started) {
		for (uint32_t i = 0; i < n; i++) {
			if (pkts[i]->flags & NETBACK_PKT_PORTBUF)
				rte_pktmbuf_free(pkts[i]->port_priv);
			status[i] = NETBACK_TX_DROPPED;
		}
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct netback_pkt *p = pkts[i];
		struct rte_mbuf *m;
		bool held;

		if (v->switched) {
			uint8_t h[12];
			uint32_t to = 0;
			enum nb_sw_action act;

			if (nb_pkt_gather(p, h, 12) < 12 || memcmp(h + 6, v->mac, 6) != 0) {
				/* Anti-spoofing: not the vif's own source. */
				if (p->flags & NETBACK_PKT_PORTBUF)
					rte_pktmbuf_free(p->port_priv);
				status[i] = NETBACK_TX_FILTERED;
				continue;
			}
			act = nb_switch_forward(&d->sw, v->sw_port, h, now, &to);
			if (act == NB_SW_DROP) {
				if (p->flags & NETBACK_PKT_PORTBUF)
					rte_pktmbuf_free(p->port_priv);
				status[i] = NETBACK_TX_DROPPED;
				continue;
			}
			m = pkt_mbuf(v, p, owners[i], &status[i], &held);
			if (!m) {
				if (p->flags & NETBACK_PKT_PORTBUF)
					rte_pktmbuf_free(p->port_priv);
				continue;
			}
			pthread_rwlock_rdlock(&d->vlock);
			switch_out(d, v->sw_port, act, to, m);
			pthread_rwlock_unlock(&d->vlock);
			continue;
		}
		m = pkt_mbuf(v, p, owners[i], &status[i], &held);
		if (!m) {
			if (p->flags & NETBACK_PKT_PORTBUF)
				rte_pktmbuf_free(p->port_priv);
			continue;
		}
		idx[k] = i;
		out[k++] = m;
	}
	if (k) {
		uint16_t sent = uplink_send(d, q % d->ndq, out, (uint16_t)k);

		for (uint32_t j = sent; j < k; j++) {
			/* Not taken: a held packet completes through the free
			 * callback; a copied one is dropped. */
			if (status[idx[j]] != NETBACK_TX_HELD)
				status[idx[j]] = NETBACK_TX_DROPPED;
			rte_pktmbuf_free(out[j]);
		}
	}
}

/* ---- rx ------------------------------------------------------------------------------ */

static void to_pkt(struct rte_mbuf *m, struct netback_pkt *p)
{
	uint32_t k = 0;
	uint64_t f = m->ol_flags;

	memset(p, 0, offsetof(struct netback_pkt, frag));
	p->len = m->pkt_len;
	for (struct rte_mbuf *s = m; s && k < NETBACK_MAX_FRAGS; s = s->next, k++) {
		p->frag[k].addr = rte_pktmbuf_mtod(s, void *);
		p->frag[k].len = s->data_len;
		p->frag[k].pfn = mbuf_pfn(s);
	}
	p->nr_frags = (uint16_t)k;
	p->port_priv = m;
	if (k == 1 && p->frag[0].pfn != NETBACK_PFN_NONE && rte_mbuf_refcnt_read(m) == 1 &&
	    RTE_MBUF_HAS_PINNED_EXTBUF(m) && rte_mbuf_ext_refcnt_read(m->shinfo) == 1)
		p->flags |= NETBACK_PKT_FLIPPABLE;
	/* Offload requests of the sender (pass-through rings, the switch). */
	if (f & RTE_MBUF_F_TX_TCP_SEG) {
		p->flags |= (f & RTE_MBUF_F_TX_IPV6) ? NETBACK_PKT_GSO_TCPV6 : NETBACK_PKT_GSO_TCPV4;
		p->flags |= NETBACK_PKT_CSUM_PARTIAL;
		p->gso_size = m->tso_segsz;
		p->csum_start = (uint16_t)(m->l2_len + m->l3_len);
		p->csum_offset = 16;
	} else if ((f & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_TCP_CKSUM ||
		   (f & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_UDP_CKSUM) {
		p->flags |= NETBACK_PKT_CSUM_PARTIAL;
		p->csum_start = (uint16_t)(m->l2_len + m->l3_len);
		p->csum_offset = (f & RTE_MBUF_F_TX_L4_MASK) == RTE_MBUF_F_TX_TCP_CKSUM ? 16 : 6;
	} else if ((f & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD) {
		p->flags |= NETBACK_PKT_DATA_VALID;
	}
	if (k < m->nb_segs)
		p->len = 0; /* more segments than netback takes: plan() drops it */
}

/* Switch mode: take what the uplink has and hand it out. */
static void uplink_poll(struct dpdk_dev *d)
{
	struct rte_mbuf *m[BURST];
	uint16_t n;
	uint64_t now;

	if (!d->started || !rte_spinlock_trylock(&d->rxl[0]))
		return;
	n = rte_eth_rx_burst(d->port, 0, m, BURST);
	pvio_tsan_acquire_each((void **)m, n);
	now = n ? pvio_now_ns() : 0;
	pthread_rwlock_rdlock(&d->vlock);
	for (uint16_t i = 0; i < n; i++) {
		uint32_t to = 0;
		enum nb_sw_action act = NB_SW_DROP;

		if (m[i]->data_len >= NB_ETH_HLEN)
			act = nb_switch_forward(&d->sw, NB_SW_UPLINK,
						rte_pktmbuf_mtod(m[i], uint8_t *), now, &to);
		switch_out(d, NB_SW_UPLINK, act, to, m[i]);
	}
	pthread_rwlock_unlock(&d->vlock);
	rte_spinlock_unlock(&d->rxl[0]);
}

static int dpdk_recv(void *ctx, uint32_t q, struct netback_pkt *pkts, uint32_t max)
{
	struct dpdk_vif *v = ctx;
	struct dpdk_dev *d = v->d;
	struct rte_mbuf *m[BURST];
	uint32_t n;

	if (max > BURST)
		max = BURST;
	if (v->switched) {
		uplink_poll(d);
		n = rte_ring_dequeue_burst(v->inbox, (void **)m, max, NULL);
	} else {
		uint32_t dq = q % d->ndq;

		if (!d->started)
			return 0;
		/* Queues beyond the ethdev's share its queues. */
		if (v->nq > d->ndq)
			rte_spinlock_lock(&d->rxl[dq]);
		n = rte_eth_rx_burst(d->port, (uint16_t)dq, m, (uint16_t)max);
		if (v->nq > d->ndq)
			rte_spinlock_unlock(&d->rxl[dq]);
	}
	pvio_tsan_acquire_each((void **)m, n);
	for (uint32_t i = 0; i < n; i++)
		to_pkt(m[i], &pkts[i]);
	return (int)n;
}

static void dpdk_rx_release(void *ctx, uint32_t q, struct netback_pkt *pkts, uint32_t n)
{
	struct dpdk_vif *v = ctx;
	struct rte_mbuf *m[BURST];
	uint32_t nm = 0;

	(void)q;
	for (uint32_t i = 0; i < n; i++) {
		struct rte_mbuf *mb = pkts[i].port_priv;

		if (!mb)
			continue;
		if (pkts[i].flags & NETBACK_PKT_FLIPPED) {
			/* The frame went to the guest; the pfn holds the one it
			 * gave back. Re-point the mbuf, or retire it. */
			void *a = pvio_mach_pfn_ptr(v->env->machine, v->env->be, pkts[i].frag[0].pfn);

			if (!a)
				continue;
			mb->buf_addr = a;
			rte_mbuf_iova_set(mb, va2iova(a));
		}
		/* one mempool put per burst, not one per packet */
		m[nm++] = mb;
		if (nm == BURST) {
			/* Back to the pool: the next owner acquires it. */
			pvio_tsan_release_each((void **)m, nm);
			rte_pktmbuf_free_bulk(m, nm);
			nm = 0;
		}
		pkts[i].port_priv = NULL;
	}
	if (nm) {
		pvio_tsan_release_each((void **)m, nm);
		rte_pktmbuf_free_bulk(m, nm);
	}
}

const struct netback_port_ops nb_port_dpdk = {
	.name = "dpdk",
	.open = dpdk_open,
	.close = dpdk_close,
	.start = dpdk_start,
	.stop = dpdk_stop,
	.thread_init = dpdk_thread_init,
	.thread_fini = dpdk_thread_fini,
	.tx_copy_buf = dpdk_tx_copy_buf,
	.tx_copy_abort = dpdk_tx_copy_abort,
	.xmit = dpdk_xmit,
	.recv = dpdk_recv,
	.rx_release = dpdk_rx_release,
	.tx_caps = dpdk_tx_caps,
};
