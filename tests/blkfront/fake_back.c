/* SPDX-License-Identifier: MIT */
/*
 * A blkback for the tests, in a thread as domain 0: the handshake,
 * read/write/indirect/flush/barrier/discard against a RAM disk, persistent
 * grants through the grant cache, and the misbehaviours of fb_config.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define BIT(s) PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_##s)
#define WAIT_MS 10000

struct fb_queue {
	struct pvio_ring_back ring;
	void *va;
	uint32_t handles[16];
	uint32_t nr_pages;
	uint32_t port;
	struct pvio_gnt_cache *cache;
};

struct fb_ctx {
	struct fake_back *fb;
	struct pvio_domain *d;
	struct pvio_xenbus_device dev;
	struct fb_queue q[PVIO_BLKFRONT_MAX_QUEUES];
	uint32_t nq;
	bool persistent;
	uint64_t served;
	bool dup_pending;
	uint64_t dup_id;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct fb_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fb->err, sizeof(c->fb->err), fmt, ap);
	va_end(ap);
	atomic_store(&c->fb->phase, -1);
	return -1;
}

static int w_uint(struct fb_ctx *c, const char *node, uint64_t v)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", c->dev.nodename, node);
	return pvio_xs_write_uint(c->d->xs, 0, path, v);
}

static int r_uint(struct fb_ctx *c, const char *dir, const char *node,
		  uint64_t *v)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", dir, node);
	return pvio_xs_read_uint(c->d->xs, 0, path, UINT32_MAX, v);
}

static int connect_queue(struct fb_ctx *c, struct fb_queue *q, const char *dir,
			 uint32_t order)
{
	pvio_grant_ref_t refs[16];
	uint64_t v;
	char node[32];

	q->nr_pages = 1u << order;
	for (uint32_t i = 0; i < q->nr_pages; i++) {
		if (q->nr_pages == 1)
			snprintf(node, sizeof(node), "ring-ref");
		else
			snprintf(node, sizeof(node), "ring-ref%u", i);
		if (r_uint(c, dir, node, &v))
			return fail(c, "no %s/%s", dir, node);
		refs[i] = (pvio_grant_ref_t)v;
	}
	if (r_uint(c, dir, "event-channel", &v))
		return fail(c, "no event-channel");
	if (pvio_domain_map_ring(c->d, H_FRONT_ID, refs, q->nr_pages, &q->va,
				 q->handles))
		return fail(c, "map ring");
	if (pvio_blkif_back_attach(&q->ring, q->va, (size_t)q->nr_pages * PVIO_PAGE_SIZE, 0))
		return fail(c, "attach ring");
	if (pvio_evtchn_bind_interdomain(c->d->evtchn, H_FRONT_ID, (uint32_t)v, &q->port))
		return fail(c, "bind port");
	if (c->persistent && pvio_gnt_cache_create(c->d->gnt_back, 0, &q->cache))
		return fail(c, "cache");
	return 0;
}

/* Map one data page; persistent through the cache. */
static void *seg_map(struct fb_ctx *c, struct fb_queue *q, pvio_grant_ref_t ref,
		     bool ro, uint32_t *handle, struct pvio_gnt_cache_entry **e)
{
	void *addr = NULL;

	*e = NULL;
	if (c->persistent) {
		if (pvio_gnt_cache_get(q->cache, H_FRONT_ID, ref, 0, 0, e))
			return NULL;
		return (*e)->addr;
	}
	if (pvio_gnt_map_one(c->d->gnt_back, H_FRONT_ID, ref,
			     ro ? PVIO_GNTMAP_readonly : 0, &addr, handle))
		return NULL;
	return addr;
}

static void seg_unmap(struct fb_ctx *c, struct fb_queue *q, uint32_t handle,
		      struct pvio_gnt_cache_entry *e)
{
	if (e)
		pvio_gnt_cache_put(q->cache, e);
	else
		pvio_gnt_unmap_one(c->d->gnt_back, handle);
}

/* Do a read/write of segs; returns a BLKIF_RSP_* status. */
static int16_t do_rw(struct fb_ctx *c, struct fb_queue *q, uint8_t op,
		     uint64_t sector, const struct pvio_blkif_segment *segs,
		     uint32_t n)
{
	struct fake_back *fb = c->fb;
	uint64_t pos = sector * 512;

	for (uint32_t i = 0; i < n; i++) {
		const struct pvio_blkif_segment s = segs[i];
		uint32_t handle;
		struct pvio_gnt_cache_entry *e;
		if (s.first_sect > 7 || s.last_sect > 7 || s.last_sect < s.first_sect)
			return PVIO_BLKIF_RSP_ERROR;
		uint32_t off = s.first_sect * 512u, len = (s.last_sect + 1u - s.first_sect) * 512u;
		if (pos + len > fb->disk_bytes)
			return PVIO_BLKIF_RSP_ERROR;
		unsigned char *page = seg_map(c, q, s.gref, op == PVIO_BLKIF_OP_WRITE,
					      &handle, &e);
		if (!page)
			return PVIO_BLKIF_RSP_ERROR;
		if (op == PVIO_BLKIF_OP_WRITE)
			memcpy(fb->disk + pos, page + off, len);
		else
			memcpy(page + off, fb->disk + pos, len);
		seg_unmap(c, q, handle, e);
		pos += len;
	}
	return PVIO_BLKIF_RSP_OKAY;
}

static int16_t do_indirect(struct fb_ctx *c, struct fb_queue *q,
			   const struct pvio_blkif_request_indirect *r)
{
	static struct pvio_blkif_segment segs[4096];
	uint32_t n = r->nr_segments, pages = (n + 511) / 512;

	if (n == 0 || n > c->fb->cfg.max_indirect || pages > 8 ||
	    (r->indirect_op != PVIO_BLKIF_OP_READ && r->indirect_op != PVIO_BLKIF_OP_WRITE))
		return PVIO_BLKIF_RSP_ERROR;
	for (uint32_t p = 0; p < pages; p++) {
		uint32_t handle;
		struct pvio_gnt_cache_entry *e;
		void *page = seg_map(c, q, r->indirect_grefs[p], true, &handle, &e);
		if (!page)
			return PVIO_BLKIF_RSP_ERROR;
		uint32_t k = n - p * 512 < 512 ? n - p * 512 : 512;
		memcpy(&segs[p * 512], page, k * sizeof(segs[0]));
		seg_unmap(c, q, handle, e);
	}
	if (n > c->fb->max_segs_seen)
		c->fb->max_segs_seen = n;
	atomic_fetch_add(&c->fb->nr_indirect, 1);
	return do_rw(c, q, r->indirect_op, r->sector_number, segs, n);
}

/* Answer one request; returns false when the backend "dies". */
static bool handle(struct fb_ctx *c, struct fb_queue *q,
		   const union pvio_blkif_slot *in)
{
	struct fake_back *fb = c->fb;
	const struct pvio_blkif_request *r = &in->req;
	int16_t st = PVIO_BLKIF_RSP_ERROR;
	uint8_t op = r->operation;
	bool bad = fb->cfg.misbehave != FB_GOOD && c->served >= fb->cfg.misbehave_after;

	atomic_fetch_add(&fb->nr_requests, 1);
	if (bad && fb->cfg.misbehave == FB_STALL)
		return true;
	if (bad && fb->cfg.misbehave == FB_DIE) {
		void *addr;
		pvio_grant_ref_t ref = r->operation == PVIO_BLKIF_OP_INDIRECT ?
			((const struct pvio_blkif_request_indirect *)r)->indirect_grefs[0] :
			r->seg[0].gref;
		if (pvio_gnt_map_one(c->d->gnt_back, H_FRONT_ID, ref,
				     PVIO_GNTMAP_readonly, &addr, &fb->held_handle) == 0)
			fb->holding = true;
		return false;
	}
	switch (op) {
	case PVIO_BLKIF_OP_READ:
	case PVIO_BLKIF_OP_WRITE:
		if (r->nr_segments == 0 || r->nr_segments > 11)
			break;
		if (r->nr_segments > fb->max_segs_seen)
			fb->max_segs_seen = r->nr_segments;
		atomic_fetch_add(op == PVIO_BLKIF_OP_READ ? &fb->nr_read : &fb->nr_write, 1);
		st = do_rw(c, q, op, r->sector_number, r->seg, r->nr_segments);
		break;
	case PVIO_BLKIF_OP_INDIRECT: {
		const struct pvio_blkif_request_indirect *ri = (const void *)r;
		if (!fb->cfg.max_indirect)
			break;
		op = ri->indirect_op; /* Linux's blkback answers with the inner op */
		atomic_fetch_add(op == PVIO_BLKIF_OP_READ ? &fb->nr_read : &fb->nr_write, 1);
		st = do_indirect(c, q, ri);
		break;
	}
	case PVIO_BLKIF_OP_FLUSH_DISKCACHE:
		atomic_fetch_add(&fb->nr_flush, 1);
		st = fb->cfg.flush ? PVIO_BLKIF_RSP_OKAY : PVIO_BLKIF_RSP_EOPNOTSUPP;
		break;
	case PVIO_BLKIF_OP_WRITE_BARRIER:
		atomic_fetch_add(&fb->nr_barrier, 1);
		st = fb->cfg.barrier ? PVIO_BLKIF_RSP_OKAY : PVIO_BLKIF_RSP_EOPNOTSUPP;
		break;
	case PVIO_BLKIF_OP_DISCARD: {
		const struct pvio_blkif_request_discard *rd = (const void *)r;
		if (!fb->cfg.discard) {
			st = PVIO_BLKIF_RSP_EOPNOTSUPP;
			break;
		}
		atomic_fetch_add(&fb->nr_discard, 1);
		if (rd->flag & PVIO_BLKIF_DISCARD_SECURE)
			atomic_fetch_add(&fb->nr_secure, 1);
		if ((rd->sector_number + rd->nr_sectors) * 512 > fb->disk_bytes)
			break;
		memset(fb->disk + rd->sector_number * 512, 0, rd->nr_sectors * 512);
		st = PVIO_BLKIF_RSP_OKAY;
		break;
	}
	default:
		break;
	}
	c->served++;

	struct pvio_blkif_response *rsp = pvio_blkif_back_next_rsp(&q->ring);
	rsp->id = r->id;
	rsp->operation = op;
	rsp->status = st;
	if (c->dup_pending) {
		/* The id of a request already answered. */
		rsp->id = c->dup_id;
		c->dup_pending = false;
		return true;
	}
	if (!bad)
		return true;
	switch (fb->cfg.misbehave) {
	case FB_BAD_ID:
		rsp->id = 1000000;
		break;
	case FB_STALE_ID:
		rsp->id = r->id + (1ull << 32);
		break;
	case FB_BAD_STATUS:
		rsp->status = 7;
		break;
	case FB_BAD_OP:
		rsp->operation = 42;
		break;
	case FB_DUP_ID:
		c->dup_pending = true;
		c->dup_id = r->id;
		break;
	default:
		break;
	}
	return true;
}

static bool serve_queue(struct fb_ctx *c, struct fb_queue *q)
{
	union pvio_blkif_slot req;
	int r;

	for (;;) {
		while ((r = pvio_blkif_back_get_req(&q->ring, &req.req)) == 1) {
			if (!handle(c, q, &req))
				return false;
		}
		if (r < 0)
			return false;
		if (c->fb->cfg.misbehave == FB_PROD_BEYOND &&
		    c->served > c->fb->cfg.misbehave_after) {
			pvio_store_release(&q->ring.sring->rsp_prod,
					   q->ring.rsp_prod_pub + 1000);
			pvio_evtchn_notify(c->d->evtchn, q->port);
			return true;
		}
		if (pvio_ring_back_push(&q->ring) == 1)
			pvio_evtchn_notify(c->d->evtchn, q->port);
		if (pvio_ring_back_final_check(&q->ring) <= 0)
			return true;
	}
}

static void disconnect(struct fb_ctx *c)
{
	for (uint32_t n = 0; n < c->nq; n++) {
		struct fb_queue *q = &c->q[n];
		if (q->cache) {
			pvio_gnt_cache_flush(q->cache);
			pvio_gnt_cache_destroy(q->cache);
			q->cache = NULL;
		}
		if (q->va) {
			pvio_domain_unmap_ring(c->d, q->va, q->nr_pages, q->handles);
			q->va = NULL;
		}
		if (q->port)
			pvio_evtchn_close(c->d->evtchn, q->port);
		q->port = 0;
	}
}

static int run(struct fb_ctx *c)
{
	struct fake_back *fb = c->fb;
	const struct fb_config *cfg = &fb->cfg;
	enum pvio_xenbus_state st;
	char path[512];
	uint64_t v;

	if (pvio_xenbus_backend_attach(&c->dev, c->d->xs, "vbd", H_BACK_ID,
				       H_FRONT_ID, H_DEVID))
		return fail(c, "attach");
	if (cfg->max_ring_order)
		w_uint(c, "max-ring-page-order", cfg->max_ring_order);
	if (cfg->max_queues)
		w_uint(c, "multi-queue-max-queues", cfg->max_queues);
	if (cfg->max_indirect)
		w_uint(c, "feature-max-indirect-segments", cfg->max_indirect);
	pvio_xenbus_write_feature(c->d->xs, 0, c->dev.nodename, "persistent", cfg->persistent);
	if (cfg->flush)
		pvio_xenbus_write_feature(c->d->xs, 0, c->dev.nodename, "flush-cache", true);
	if (cfg->barrier)
		pvio_xenbus_write_feature(c->d->xs, 0, c->dev.nodename, "barrier", true);
	if (cfg->discard) {
		pvio_xenbus_write_feature(c->d->xs, 0, c->dev.nodename, "discard", true);
		w_uint(c, "discard-granularity", 4096);
		w_uint(c, "discard-alignment", 0);
		w_uint(c, "discard-secure", cfg->secure);
	}
	if (pvio_xenbus_switch_state(&c->dev, PVIO_XENBUS_INIT_WAIT))
		return fail(c, "InitWait");
	if (pvio_xenbus_wait_otherend(&c->dev, BIT(INITIALISED) | BIT(CONNECTED),
				      WAIT_MS, &st))
		return fail(c, "waiting Initialised");

	const char *fe = c->dev.otherend;
	uint32_t order = 0;
	if (r_uint(c, fe, "ring-page-order", &v) == 0)
		order = (uint32_t)v;
	fb->ring_order_seen = order;
	c->nq = 1;
	if (r_uint(c, fe, "multi-queue-num-queues", &v) == 0)
		c->nq = (uint32_t)v;
	fb->nr_queues_seen = c->nq;
	if (c->nq == 0 || c->nq > PVIO_BLKFRONT_MAX_QUEUES || order > cfg->max_ring_order)
		return fail(c, "bad queues/order");
	snprintf(path, sizeof(path), "%s/protocol", fe);
	char proto[32];
	fb->protocol_ok = pvio_xs_read(c->d->xs, 0, path, proto, sizeof(proto), NULL) == 0 &&
			  strcmp(proto, "x86_64-abi") == 0;
	bool fe_pers = false;
	pvio_xenbus_read_feature(c->d->xs, 0, fe, "persistent", false, &fe_pers);
	fb->fe_persistent = fe_pers;
	c->persistent = fe_pers && cfg->persistent;
	for (uint32_t n = 0; n < c->nq; n++) {
		if (c->nq == 1) {
			snprintf(path, sizeof(path), "%s", fe);
		} else {
			snprintf(path, sizeof(path), "%s/queue-%u", fe, n);
		}
		if (connect_queue(c, &c->q[n], path, order))
			return -1;
	}
	if (!cfg->no_sectors)
		w_uint(c, "sectors", fb->disk_bytes / 512);
	w_uint(c, "info", cfg->info);
	w_uint(c, "sector-size", cfg->sector_size);
	w_uint(c, "physical-sector-size", cfg->sector_size);
	if (pvio_xenbus_switch_state(&c->dev, PVIO_XENBUS_CONNECTED))
		return fail(c, "Connected");
	atomic_store(&fb->phase, 1);

	/* Serve until the frontend closes. */
	bool alive = true, left = false;
	while (!atomic_load(&fb->stop)) {
		uint32_t ports[16];
		if (!left && atomic_load(&fb->leave)) {
			int err = w_uint(c, "state", PVIO_XENBUS_CLOSING);
			atomic_store(&fb->leave, false); /* written (or failed) */
			if (err)
				return fail(c, "leave");
			left = true;
		}
		for (uint32_t n = 0; n < c->nq && alive; n++)
			alive = serve_queue(c, &c->q[n]);
		if (!alive)
			break;
		if (pvio_xs_wait_token(c->d->xs, c->dev.token, 0) == 1 &&
		    pvio_xenbus_read_otherend_state(&c->dev, &st) == 0 &&
		    (st == PVIO_XENBUS_CLOSING || st == PVIO_XENBUS_CLOSED))
			break;
		pvio_evtchn_wait(c->d->evtchn, PVIO_EVTCHN_BLOCK, 5000000, ports, 16);
	}
	if (!alive) {
		/* Death: the domain's event channels go, the peer is raised. */
		atomic_store(&fb->dead, true);
		if (fb->env->evr)
			pvio_evtchn_domain_destroy(fb->env->evr, H_BACK_ID,
						   &pvio_evtchn_host_futex_ops, NULL);
		for (uint32_t n = 0; n < c->nq; n++)
			c->q[n].port = 0; /* gone with the domain */
		disconnect(c); /* hostd's clean-up of the ring; the data page stays mapped */
		atomic_store(&fb->phase, 2);
		return 0;
	}
	pvio_xenbus_switch_state(&c->dev, PVIO_XENBUS_CLOSING);
	pvio_xenbus_wait_otherend(&c->dev, BIT(CLOSED), WAIT_MS, &st);
	disconnect(c);
	pvio_xenbus_switch_state(&c->dev, PVIO_XENBUS_CLOSED);
	pvio_xenbus_detach(&c->dev);
	atomic_store(&fb->phase, 2);
	return 0;
}

static void *fb_main(void *arg)
{
	struct fb_ctx *c = calloc(1, sizeof(*c));

	c->fb = arg;
	c->d = c->fb->env->backp;
	run(c);
	if (atomic_load(&c->fb->phase) != 2)
		disconnect(c);
	free(c);
	return NULL;
}

struct fake_back *fb_start(struct h_env *env, const struct fb_config *cfg)
{
	struct fake_back *fb = calloc(1, sizeof(*fb));

	fb->env = env;
	fb->cfg = *cfg;
	if (!fb->cfg.sector_size)
		fb->cfg.sector_size = 512;
	fb->disk_bytes = (fb->cfg.sectors ? fb->cfg.sectors : 8192) * 512;
	fb->disk = calloc(1, fb->disk_bytes);
	if (pthread_create(&fb->thr, NULL, fb_main, fb))
		abort();
	return fb;
}

int fb_join(struct fake_back *fb)
{
	pthread_join(fb->thr, NULL);
	return atomic_load(&fb->phase) == 2 ? 0 : -1;
}

void fb_release_held(struct fake_back *fb)
{
	if (fb->holding)
		pvio_gnt_unmap_one(fb->env->backp->gnt_back, fb->held_handle);
	fb->holding = false;
}

void fb_free(struct fake_back *fb)
{
	free(fb->disk);
	free(fb);
}
