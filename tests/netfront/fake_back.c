/* SPDX-License-Identifier: MIT */
/*
 * A netback for the tests, in a thread as domain 0: the handshake with
 * every optional feature on a switch; tx by mapping the frontend's
 * grants; rx by grant copy (rx-copy) or page transfer (rx-flip); and the
 * misbehaviours of fnb_config.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pvio/xenbus.h>

#include "harness.h"

#define BIT(s) PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_##s)
#define WAIT_MS 10000

struct fnb_queue {
	uint32_t idx;
	struct pvio_ring_back tx, rx;
	void *tx_va, *rx_va;
	uint32_t tx_handle, rx_handle;
	uint32_t port_tx, port_rx;
	uint32_t page_pfn;      /* a page of ours for rx data */
};

struct fnb_ctx {
	struct fake_netback *fb;
	struct pvio_domain *d;
	struct pvio_xenbus_device dev;
	struct fnb_queue q[PVIO_NETFRONT_MAX_QUEUES];
	uint32_t nq;
	bool flip;
	bool dup_pending;
	uint16_t dup_id;
};

__attribute__((format(printf, 2, 3)))
static int fail(struct fnb_ctx *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->fb->err, sizeof(c->fb->err), fmt, ap);
	va_end(ap);
	atomic_store(&c->fb->phase, -1);
	return -1;
}

static void w_uint(struct fnb_ctx *c, const char *node, uint64_t v)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", c->dev.nodename, node);
	pvio_xs_write_uint(c->d->xs, 0, path, v);
}

static int r_uint(struct fnb_ctx *c, const char *dir, const char *node, uint64_t *v)
{
	char path[2048];

	snprintf(path, sizeof(path), "%s/%s", dir, node);
	return pvio_xs_read_uint(c->d->xs, 0, path, UINT32_MAX, v);
}

static bool r_feature(struct fnb_ctx *c, const char *name)
{
	bool v = false;

	pvio_xenbus_read_feature(c->d->xs, 0, c->dev.otherend, name, false, &v);
	return v;
}

static bool bad_now(struct fnb_ctx *c, enum fnb_misbehave m)
{
	struct fake_netback *fb = c->fb;

	return fb->cfg.misbehave == m &&
	       atomic_load(&fb->tx_handled) + atomic_load(&fb->rx_sent) >=
	       fb->cfg.misbehave_after;
}

static void kick(struct fnb_ctx *c, uint32_t port)
{
	pvio_evtchn_notify(c->d->evtchn, port);
}

/* ------------------------------------------------------------------ tx */

/* Copy a request out; waits a little for a frontend mid-push. */
static int get_tx(struct fnb_queue *q, struct pvio_netif_tx_request *r)
{
	for (int i = 0; i < 100000; i++) {
		int n = pvio_netif_tx_back_get_req(&q->tx, r);
		if (n != 0)
			return n;
	}
	return 0;
}

static void tx_respond(struct fnb_queue *q, uint16_t id, int16_t st)
{
	struct pvio_netif_tx_response *rsp = pvio_netif_tx_back_next_rsp(&q->tx);

	rsp->id = id;
	rsp->status = st;
}

/* One packet: returns false on a ring error. */
static bool tx_one(struct fnb_ctx *c, struct fnb_queue *q,
		   const struct pvio_netif_tx_request *first)
{
	struct fake_netback *fb = c->fb;
	struct pvio_netif_tx_request slot[PVIO_NETFRONT_MAX_SLOTS + 4];
	struct pvio_netif_extra_info x[4];
	uint32_t ns = 1, nx = 0;
	struct fnb_frame *f = calloc(1, sizeof(*f));

	slot[0] = *first;
	f->flags = first->flags;
	f->gref0 = first->gref;
	f->offset0 = first->offset;
	if (first->flags & PVIO_NETTXF_extra_info) {
		bool more = true;
		while (more && nx < 4) {
			struct pvio_netif_tx_request r;
			if (get_tx(q, &r) != 1)
				return false;
			memcpy(&x[nx], &r, sizeof(x[nx]));
			more = x[nx].flags & PVIO_NETIF_EXTRA_FLAG_MORE;
			if (x[nx].type == PVIO_NETIF_EXTRA_TYPE_GSO) {
				f->gso_type = x[nx].u.gso.type;
				f->gso_size = x[nx].u.gso.size;
			}
			nx++;
		}
	}
	while ((slot[ns - 1].flags & PVIO_NETTXF_more_data) &&
	       ns < PVIO_NETFRONT_MAX_SLOTS + 4) {
		if (get_tx(q, &slot[ns]) != 1)
			return false;
		ns++;
	}
	/* Data: slot 0 holds the total; its own bytes are the rest. */
	uint32_t rest = 0;
	for (uint32_t i = 1; i < ns; i++)
		rest += slot[i].size;
	int16_t st = PVIO_NETIF_RSP_OKAY;
	if (rest > first->size) {
		st = PVIO_NETIF_RSP_ERROR;
	} else {
		uint32_t pos = 0;
		for (uint32_t i = 0; i < ns && st == PVIO_NETIF_RSP_OKAY; i++) {
			uint32_t len = i == 0 ? first->size - rest : slot[i].size;
			void *page;
			uint32_t handle;
			if (slot[i].offset + len > PVIO_PAGE_SIZE ||
			    pvio_gnt_map_one(c->d->gnt_back, H_FRONT_ID, slot[i].gref,
					     PVIO_GNTMAP_readonly, &page, &handle)) {
				st = PVIO_NETIF_RSP_ERROR;
				break;
			}
			memcpy(f->data + pos, (unsigned char *)page + slot[i].offset, len);
			pvio_gnt_unmap_one(c->d->gnt_back, handle);
			pos += len;
		}
		f->len = pos;
	}
	f->slots = ns;
	f->queue = q->idx;

	/* Responses: slot 0, NULL for each extra, then the other slots. */
	bool bad = fb->cfg.misbehave != FNB_GOOD &&
		   atomic_load(&fb->tx_handled) >= fb->cfg.misbehave_after;
	for (uint32_t i = 0; i < ns; i++) {
		uint16_t id = slot[i].id;
		int16_t s = st;
		if (bad && i == 0) {
			switch (fb->cfg.misbehave) {
			case FNB_TX_BAD_ID:
				id = 0xffff;
				break;
			case FNB_TX_STALE_ID:
				id = (uint16_t)(id + 0x100); /* 256-slot ring: gen + 1 */
				break;
			case FNB_TX_BAD_STATUS:
				s = 7;
				break;
			case FNB_TX_NULL:
				s = PVIO_NETIF_RSP_NULL;
				break;
			default:
				break;
			}
		}
		tx_respond(q, id, s);
		if (i == 0)
			for (uint32_t k = 0; k < nx; k++)
				tx_respond(q, 0, PVIO_NETIF_RSP_NULL);
	}
	if (bad && fb->cfg.misbehave == FNB_TX_DUP_ID) {
		/* The ring has room for one more only if the frontend sent
		 * another request: answer the old id in the next one's slot. */
		c->dup_pending = true;
		c->dup_id = slot[0].id;
	}
	if (st == PVIO_NETIF_RSP_OKAY) {
		if (fb->on_tx)
			fb->on_tx(fb, f, fb->on_tx_arg);
		pthread_mutex_lock(&fb->lock);
		if (fb->nr_tx < FNB_MAX_FRAMES) {
			fb->tx[fb->nr_tx++] = f;
			f = NULL;
		}
		pthread_cond_broadcast(&fb->cond);
		pthread_mutex_unlock(&fb->lock);
	}
	free(f);
	atomic_fetch_add(&fb->tx_handled, 1);
	return true;
}

static bool serve_tx(struct fnb_ctx *c, struct fnb_queue *q)
{
	struct pvio_netif_tx_request r;
	int n;

	for (;;) {
		while ((n = pvio_netif_tx_back_get_req(&q->tx, &r)) == 1) {
			if (c->dup_pending) {
				/* Answer this request with the old id. */
				tx_respond(q, c->dup_id, PVIO_NETIF_RSP_OKAY);
				c->dup_pending = false;
				continue;
			}
			if (!tx_one(c, q, &r))
				return false;
		}
		if (n < 0)
			return false;
		if (c->fb->cfg.misbehave == FNB_TX_PROD_BEYOND &&
		    atomic_load(&c->fb->tx_handled) > c->fb->cfg.misbehave_after) {
			pvio_store_release(&q->tx.sring->rsp_prod, q->tx.rsp_prod_pub + 1000);
			kick(c, q->port_tx);
			return true;
		}
		if (pvio_ring_back_push(&q->tx) == 1)
			kick(c, q->port_tx);
		if (pvio_ring_back_final_check(&q->tx) <= 0)
			return true;
	}
}

/* ------------------------------------------------------------------ rx */

static struct fnb_frame *rx_peek(struct fake_netback *fb, uint32_t queue)
{
	struct fnb_frame *f = NULL;

	pthread_mutex_lock(&fb->lock);
	if (fb->rx_head != fb->rx_tail && fb->rx[fb->rx_head % FNB_MAX_FRAMES]->queue == queue)
		f = fb->rx[fb->rx_head % FNB_MAX_FRAMES];
	pthread_mutex_unlock(&fb->lock);
	return f;
}

static void rx_pop(struct fake_netback *fb)
{
	pthread_mutex_lock(&fb->lock);
	free(fb->rx[fb->rx_head % FNB_MAX_FRAMES]);
	fb->rx_head++;
	pthread_cond_broadcast(&fb->cond);
	pthread_mutex_unlock(&fb->lock);
}

/* Put len bytes into the frontend's buffer ref; false on failure. */
static bool rx_fill(struct fnb_ctx *c, struct fnb_queue *q, pvio_grant_ref_t ref,
		    const unsigned char *src, uint32_t len)
{
	unsigned char *page = pvio_domain_page(c->d, q->page_pfn);

	memset(page, 0, PVIO_PAGE_SIZE);
	memcpy(page, src, len);
	if (c->flip) {
		struct pvio_gnt_transfer_op op = { .pfn = q->page_pfn,
						   .domid = H_FRONT_ID, .ref = ref };
		return pvio_gnt_transfer(c->d->gnt_back, &op, 1) == 0 &&
		       op.status == PVIO_GNTST_okay;
	}
	struct pvio_gnt_copy_op op = {
		.source = { .u.pfn = q->page_pfn, .domid = H_BACK_ID, .offset = 0 },
		.dest = { .u.ref = ref, .domid = H_FRONT_ID, .offset = 0 },
		.len = (uint16_t)len,
		.flags = PVIO_GNTCOPY_dest_gref,
	};
	return pvio_gnt_copy(c->d->gnt_back, &op, 1) == 0 && op.status == PVIO_GNTST_okay;
}

static bool rx_one(struct fnb_ctx *c, struct fnb_queue *q, const struct fnb_frame *f)
{
	struct fake_netback *fb = c->fb;
	uint32_t n = (f->len + PVIO_PAGE_SIZE - 1) / PVIO_PAGE_SIZE;
	bool gso = f->gso_type != 0;
	bool bad_slots = bad_now(c, FNB_RX_TOO_MANY_SLOTS);
	bool bad_extra = bad_now(c, FNB_RX_BAD_EXTRA);
	uint32_t chunk = PVIO_PAGE_SIZE;

	if (bad_slots) {
		chunk = 64; /* a 20-slot chain for a 1280-byte frame */
		n = (f->len + chunk - 1) / chunk;
	}
	if (n == 0)
		n = 1;
	if (n > 1 && !fb->fe_sg) {
		atomic_fetch_add(&fb->rx_dropped, 1);
		return true;
	}
	uint32_t need = n + (gso || bad_extra);
	int avail = pvio_ring_back_unconsumed(&q->rx);
	if (avail < 0)
		return false;
	if ((uint32_t)avail < need)
		return false; /* wait for buffers */
	for (uint32_t k = 0; k < n; k++) {
		struct pvio_netif_rx_request req;
		if (pvio_netif_rx_back_get_req(&q->rx, &req) != 1)
			return false;
		uint32_t off = k * chunk;
		uint32_t len = f->len - off < chunk ? f->len - off : chunk;
		bool ok = rx_fill(c, q, req.gref, f->data + off, len);
		struct pvio_netif_rx_response *rsp = pvio_netif_rx_back_next_rsp(&q->rx);
		rsp->id = req.id;
		rsp->offset = 0;
		rsp->flags = k + 1 < n ? PVIO_NETRXF_more_data : 0;
		rsp->status = ok ? (int16_t)len : PVIO_NETIF_RSP_ERROR;
		if (k == 0) {
			rsp->flags |= f->flags & (PVIO_NETRXF_csum_blank | PVIO_NETRXF_data_validated);
			if (gso || bad_extra)
				rsp->flags |= PVIO_NETRXF_extra_info;
			if (bad_now(c, FNB_RX_BAD_ID))
				rsp->id = (uint16_t)(req.id ^ 0x8000);
			if (bad_now(c, FNB_RX_BAD_OFFSET))
				rsp->offset = 4000;
			if (bad_now(c, FNB_RX_BAD_SIZE))
				rsp->status = 5000;
			if (bad_now(c, FNB_RX_BAD_STATUS))
				rsp->status = -7;
		}
		if (k == 0 && (gso || bad_extra)) {
			struct pvio_netif_rx_request r2;
			if (pvio_netif_rx_back_get_req(&q->rx, &r2) != 1)
				return false;
			struct pvio_netif_extra_info *x = (void *)pvio_netif_rx_back_next_rsp(&q->rx);
			memset(x, 0, sizeof(*x));
			x->type = bad_extra ? 9 : PVIO_NETIF_EXTRA_TYPE_GSO;
			x->u.gso.type = (uint8_t)f->gso_type;
			x->u.gso.size = f->gso_size;
		}
	}
	atomic_fetch_add(&fb->rx_sent, 1);
	return true;
}

static bool serve_rx(struct fnb_ctx *c, struct fnb_queue *q)
{
	struct fnb_frame *f;
	bool pushed = false;

	while ((f = rx_peek(c->fb, q->idx)) != NULL) {
		if (!rx_one(c, q, f))
			break;
		rx_pop(c->fb);
		pushed = true;
	}
	if (pushed && pvio_ring_back_push(&q->rx) == 1)
		kick(c, q->port_rx);
	/* Ask to be kicked when buffers arrive. */
	pvio_ring_back_final_check(&q->rx);
	return !q->rx.error;
}

/* ------------------------------------------------------------ handshake */

static int connect_queue(struct fnb_ctx *c, struct fnb_queue *q, const char *dir)
{
	uint64_t tx_ref, rx_ref, p1, p2;

	if (r_uint(c, dir, "tx-ring-ref", &tx_ref) || r_uint(c, dir, "rx-ring-ref", &rx_ref))
		return fail(c, "no ring refs in %s", dir);
	if (c->fb->split_seen) {
		if (r_uint(c, dir, "event-channel-tx", &p1) ||
		    r_uint(c, dir, "event-channel-rx", &p2))
			return fail(c, "no split ports");
	} else {
		if (r_uint(c, dir, "event-channel", &p1))
			return fail(c, "no event-channel");
		p2 = p1;
	}
	pvio_grant_ref_t r1 = (pvio_grant_ref_t)tx_ref, r2 = (pvio_grant_ref_t)rx_ref;
	if (pvio_domain_map_ring(c->d, H_FRONT_ID, &r1, 1, &q->tx_va, &q->tx_handle) ||
	    pvio_domain_map_ring(c->d, H_FRONT_ID, &r2, 1, &q->rx_va, &q->rx_handle))
		return fail(c, "map rings");
	if (pvio_netif_tx_back_attach(&q->tx, q->tx_va, PVIO_PAGE_SIZE, 0) ||
	    pvio_netif_rx_back_attach(&q->rx, q->rx_va, PVIO_PAGE_SIZE, 0))
		return fail(c, "attach rings");
	if (pvio_evtchn_bind_interdomain(c->d->evtchn, H_FRONT_ID, (uint32_t)p1, &q->port_tx))
		return fail(c, "bind port");
	q->port_rx = q->port_tx;
	if (p2 != p1 &&
	    pvio_evtchn_bind_interdomain(c->d->evtchn, H_FRONT_ID, (uint32_t)p2, &q->port_rx))
		return fail(c, "bind rx port");
	if (pvio_domain_page_alloc(c->d, 1, &q->page_pfn))
		return fail(c, "page");
	return 0;
}

static void disconnect(struct fnb_ctx *c)
{
	for (uint32_t n = 0; n < c->nq; n++) {
		struct fnb_queue *q = &c->q[n];
		if (q->tx_va)
			pvio_domain_unmap_ring(c->d, q->tx_va, 1, &q->tx_handle);
		if (q->rx_va)
			pvio_domain_unmap_ring(c->d, q->rx_va, 1, &q->rx_handle);
		q->tx_va = q->rx_va = NULL;
		if (q->port_rx && q->port_rx != q->port_tx)
			pvio_evtchn_close(c->d->evtchn, q->port_rx);
		if (q->port_tx)
			pvio_evtchn_close(c->d->evtchn, q->port_tx);
		q->port_tx = q->port_rx = 0;
	}
}

static int run(struct fnb_ctx *c)
{
	struct fake_netback *fb = c->fb;
	const struct fnb_config *cfg = &fb->cfg;
	enum pvio_xenbus_state st;
	const char *dn;
	char path[512], fe[PVIO_XENBUS_PATH_MAX];
	uint64_t v;

	if (pvio_xenbus_backend_attach(&c->dev, c->d->xs, "vif", H_BACK_ID, H_FRONT_ID, H_DEVID))
		return fail(c, "attach");
	dn = c->dev.nodename;
	pvio_xenbus_write_feature(c->d->xs, 0, dn, "rx-copy", cfg->rx_copy);
	if (cfg->rx_flip)
		pvio_xenbus_write_feature(c->d->xs, 0, dn, "rx-flip", true);
	if (cfg->sg)
		pvio_xenbus_write_feature(c->d->xs, 0, dn, "sg", true);
	if (cfg->gso4)
		pvio_xenbus_write_feature(c->d->xs, 0, dn, "gso-tcpv4", true);
	if (cfg->gso6)
		pvio_xenbus_write_feature(c->d->xs, 0, dn, "gso-tcpv6", true);
	if (cfg->no_csum)
		pvio_xenbus_write_feature(c->d->xs, 0, dn, "no-csum-offload", true);
	if (cfg->ipv6_csum)
		pvio_xenbus_write_feature(c->d->xs, 0, dn, "ipv6-csum-offload", true);
	if (cfg->split)
		pvio_xenbus_write_feature(c->d->xs, 0, dn, "split-event-channels", true);
	if (cfg->max_queues)
		w_uint(c, "multi-queue-max-queues", cfg->max_queues);
	if (pvio_xenbus_switch_state(&c->dev, PVIO_XENBUS_INIT_WAIT))
		return fail(c, "InitWait");
	/* netfront goes straight to Connected; Linux's netback connects then. */
	if (pvio_xenbus_wait_otherend(&c->dev, BIT(CONNECTED), WAIT_MS, &st))
		return fail(c, "waiting for the frontend");
	snprintf(fe, sizeof(fe), "%s", c->dev.otherend);

	c->nq = 1;
	if (r_uint(c, fe, "multi-queue-num-queues", &v) == 0)
		c->nq = (uint32_t)v;
	fb->nr_queues_seen = c->nq;
	if (c->nq == 0 || c->nq > PVIO_NETFRONT_MAX_QUEUES ||
	    (c->nq > 1 && c->nq > cfg->max_queues))
		return fail(c, "bad queue count %u", c->nq);
	char probe[600];
	snprintf(probe, sizeof(probe), c->nq > 1 ? "%s/queue-0" : "%s", fe);
	fb->split_seen = r_uint(c, probe, "event-channel-tx", &v) == 0;
	if (r_uint(c, fe, "request-rx-copy", &v))
		v = 0;
	fb->rx_copy_seen = v == 1;
	c->flip = !fb->rx_copy_seen;
	if (c->flip && !cfg->rx_flip)
		return fail(c, "flip asked, not offered");
	fb->rx_notify_seen = r_feature(c, "rx-notify");
	fb->fe_sg = r_feature(c, "sg");
	fb->fe_gso4 = r_feature(c, "gso-tcpv4");
	fb->fe_gso6 = r_feature(c, "gso-tcpv6");
	fb->fe_no_csum = r_feature(c, "no-csum-offload");
	fb->fe_ipv6_csum = r_feature(c, "ipv6-csum-offload");
	for (uint32_t n = 0; n < c->nq; n++) {
		c->q[n].idx = n;
		if (c->nq == 1)
			snprintf(path, sizeof(path), "%s", fe);
		else
			snprintf(path, sizeof(path), "%s/queue-%u", fe, n);
		if (connect_queue(c, &c->q[n], path))
			return -1;
	}
	if (pvio_xenbus_switch_state(&c->dev, PVIO_XENBUS_CONNECTED))
		return fail(c, "Connected");
	atomic_store(&fb->phase, 1);

	bool alive = true;
	while (!atomic_load(&fb->stop) && alive) {
		uint32_t ports[16];
		for (uint32_t n = 0; n < c->nq && alive; n++)
			alive = serve_tx(c, &c->q[n]) && serve_rx(c, &c->q[n]);
		if (pvio_xs_wait_token(c->d->xs, c->dev.token, 0) == 1 &&
		    pvio_xenbus_read_otherend_state(&c->dev, &st) == 0 &&
		    (st == PVIO_XENBUS_CLOSING || st == PVIO_XENBUS_CLOSED))
			break;
		pvio_evtchn_wait(c->d->evtchn, PVIO_EVTCHN_BLOCK, 2000000, ports, 16);
	}
	if (atomic_load(&fb->stop)) {
		/* Stopped by the test: leave the frontend to find out. */
		disconnect(c);
		atomic_store(&fb->phase, 2);
		return 0;
	}
	pvio_xenbus_switch_state(&c->dev, PVIO_XENBUS_CLOSING);
	pvio_xenbus_wait_otherend(&c->dev, BIT(CLOSED) | BIT(UNKNOWN), WAIT_MS, &st);
	disconnect(c);
	pvio_xenbus_switch_state(&c->dev, PVIO_XENBUS_CLOSED);
	pvio_xenbus_detach(&c->dev);
	atomic_store(&fb->phase, 2);
	return 0;
}

static void *fnb_main(void *arg)
{
	struct fnb_ctx *c = calloc(1, sizeof(*c));

	c->fb = arg;
	c->d = c->fb->env->backp;
	run(c);
	if (atomic_load(&c->fb->phase) != 2)
		disconnect(c);
	pthread_mutex_lock(&c->fb->lock);
	pthread_cond_broadcast(&c->fb->cond);
	pthread_mutex_unlock(&c->fb->lock);
	free(c);
	return NULL;
}

struct fake_netback *fnb_start(struct h_env *env, const struct fnb_config *cfg)
{
	struct fake_netback *fb = calloc(1, sizeof(*fb));

	fb->env = env;
	fb->cfg = *cfg;
	pthread_mutex_init(&fb->lock, NULL);
	pthread_cond_init(&fb->cond, NULL);
	if (pthread_create(&fb->thr, NULL, fnb_main, fb))
		abort();
	return fb;
}

void fnb_stop(struct fake_netback *fb)
{
	atomic_store(&fb->stop, true);
	pthread_join(fb->thr, NULL);
	for (uint32_t i = 0; i < fb->nr_tx; i++)
		free(fb->tx[i]);
	for (uint32_t i = fb->rx_head; i != fb->rx_tail; i++)
		free(fb->rx[i % FNB_MAX_FRAMES]);
	pthread_mutex_destroy(&fb->lock);
	pthread_cond_destroy(&fb->cond);
	free(fb);
}

void fnb_inject(struct fake_netback *fb, uint32_t queue, const void *data,
		uint32_t len, uint16_t flags, uint16_t gso_type, uint16_t gso_size)
{
	struct fnb_frame *f = calloc(1, sizeof(*f));

	memcpy(f->data, data, len);
	f->len = len;
	f->flags = flags;
	f->gso_type = gso_type;
	f->gso_size = gso_size;
	f->queue = queue;
	pthread_mutex_lock(&fb->lock);
	if (fb->rx_tail - fb->rx_head < FNB_MAX_FRAMES) {
		fb->rx[fb->rx_tail++ % FNB_MAX_FRAMES] = f;
		f = NULL;
	}
	pthread_mutex_unlock(&fb->lock);
	free(f); /* the backend thread polls every 2 ms: no wake-up needed */
}

static void deadline_in(struct timespec *ts, int sec)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += sec;
}

uint32_t fnb_wait_tx(struct fake_netback *fb, uint32_t n)
{
	struct timespec ts;
	uint32_t have;

	deadline_in(&ts, 10);
	pthread_mutex_lock(&fb->lock);
	while (fb->nr_tx < n && atomic_load(&fb->phase) >= 0 &&
	       pthread_cond_timedwait(&fb->cond, &fb->lock, &ts) == 0)
		;
	have = fb->nr_tx;
	pthread_mutex_unlock(&fb->lock);
	return have;
}

int fnb_wait_closed(struct fake_netback *fb)
{
	for (int i = 0; i < 1000 && atomic_load(&fb->phase) != 2; i++) {
		struct timespec ts = { .tv_nsec = 10000000 };
		nanosleep(&ts, NULL);
	}
	return atomic_load(&fb->phase) == 2 ? 0 : -1;
}
