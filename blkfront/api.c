/* SPDX-License-Identifier: MIT */
/*
 * blkfront's device lifetime: open (config, then xenbus.c's handshake),
 * close (drain, xenbus.c's disconnect, revoke, free), info and counters.
 */
#include "common.h"

static void config_defaults(struct pvio_blkfront_config *c,
			    const struct pvio_blkfront_config *in)
{
	if (in)
		*c = *in;
	else
		bf_memset(c, 0, sizeof(*c));
	if (c->max_queues == 0)
		c->max_queues = 4;
	if (c->max_queues > PVIO_BLKFRONT_MAX_QUEUES)
		c->max_queues = PVIO_BLKFRONT_MAX_QUEUES;
	if (c->max_ring_pages == 0)
		c->max_ring_pages = 4;
	if (c->max_ring_pages > BF_MAX_RING_PAGES)
		c->max_ring_pages = BF_MAX_RING_PAGES;
	if (c->max_indirect_segments == 0)
		c->max_indirect_segments = 256;
	if (c->max_indirect_segments > BF_MAX_IND_SEGS)
		c->max_indirect_segments = BF_MAX_IND_SEGS;
	if (c->spin_ns == 0)
		c->spin_ns = BF_DEFAULT_SPIN_NS;
	if (c->pool_pages == 0)
		c->pool_pages = 1056;
	if (c->timeout_ms == 0)
		c->timeout_ms = 10000;
}

/* Wait for up to timeout_ms without an event (a bounded pause). */
static void pause_ms(struct pvio_blkfront *bf, uint32_t ms)
{
	const struct pvio_evtchn *h = bf->d->evtchn;
	_Atomic uint32_t word = 0;
	uint64_t until = h->ops->now_ns(h->ops_ctx) + (uint64_t)ms * 1000000u;

	while (h->ops->now_ns(h->ops_ctx) < until)
		h->ops->sleep(h->ops_ctx, bf->d->domid, &word, 0, until);
}

/* Revoke everything, retrying grants still mapped until the timeout.
 * Returns the grants left. */
static uint32_t revoke_with_retry(struct pvio_blkfront *bf)
{
	const struct pvio_evtchn *h = bf->d->evtchn;
	uint64_t start = h->ops->now_ns(h->ops_ctx);
	uint64_t limit = bf->cfg.timeout_ms < 0 ? UINT64_MAX :
			 (uint64_t)bf->cfg.timeout_ms * 1000000u;
	uint32_t left;

	while ((left = bf_revoke_all(bf)) != 0 &&
	       h->ops->now_ns(h->ops_ctx) - start < limit)
		pause_ms(bf, 2);
	return left;
}

static void teardown(struct pvio_blkfront *bf)
{
	for (uint32_t n = 0; n < PVIO_BLKFRONT_MAX_QUEUES; n++)
		if (bf->q[n].bf)
			bf_queue_free(&bf->q[n]);
	pvio_xenbus_detach(&bf->xb);
	bf_free(bf->d, bf);
}

int pvio_blkfront_open(struct pvio_domain *d, const char *path,
		       const struct pvio_blkfront_config *cfg,
		       struct pvio_blkfront **out)
{
	struct pvio_blkfront *bf;
	int err;

	if (!d || !path || !out || !d->xs || !d->gnt || !d->evtchn)
		return -EINVAL;
	if (cfg && (cfg->max_ring_pages & (cfg->max_ring_pages - 1) ||
		    cfg->evtchn_waiter >= PVIO_EVTCHN_NR_WAITERS))
		return -EINVAL;
	bf = bf_alloc(d, sizeof(*bf));
	if (!bf)
		return -ENOMEM;
	bf->d = d;
	config_defaults(&bf->cfg, cfg);
	bf->spin_cur = bf->cfg.no_spin ? 0 : bf->cfg.spin_ns;
	atomic_store(&bf->state, BF_CONNECTING);
	err = bf_xenbus_attach(bf, path);
	if (err) {
		bf_free(d, bf);
		return err;
	}
	err = bf_xenbus_connect(bf);
	if (err) {
		if (bf->xb.state != PVIO_XENBUS_CLOSED)
			pvio_xenbus_switch_state(&bf->xb, PVIO_XENBUS_CLOSED);
		atomic_store(&bf->state, BF_GONE);
		bf_revoke_all(bf);
		teardown(bf);
		return err;
	}
	*out = bf;
	return 0;
}

int pvio_blkfront_open_devid(struct pvio_domain *d, uint32_t devid,
			     const struct pvio_blkfront_config *cfg,
			     struct pvio_blkfront **out)
{
	char path[PVIO_XENBUS_PATH_MAX];
	int err;

	if (!d)
		return -EINVAL;
	err = pvio_xenbus_frontend_path(path, sizeof(path), "vbd", d->domid, devid);
	return err ? err : pvio_blkfront_open(d, path, cfg, out);
}

int pvio_blkfront_close(struct pvio_blkfront *bf)
{
	uint64_t t;
	int err;

	if (!bf)
		return 0;
	t = bf->cfg.timeout_ms < 0 ? PVIO_BLKFRONT_FOREVER :
	    (uint64_t)bf->cfg.timeout_ms * 1000000u;
	/* Recovering: no reconnect can come now; the backend is dead. */
	if (atomic_load(&bf->state) == BF_RECOVERING ||
	    pvio_blkfront_drain(bf, t) != 0)
		bf_mark_dead(bf, BF_GONE);
	err = bf_xenbus_disconnect(bf);
	/* No request can be in flight now; make later calls fail. */
	bf_mark_dead(bf, BF_GONE);
	uint32_t left = revoke_with_retry(bf);
	teardown(bf);
	if (left)
		return -EBUSY;
	return err;
}

int pvio_blkfront_get_info(const struct pvio_blkfront *bf,
			   struct pvio_blkfront_info *info)
{
	if (!bf || !info)
		return -EINVAL;
	*info = bf->info;
	info->flush = atomic_load((_Atomic bool *)&bf->flush_ok);
	info->discard = atomic_load((_Atomic bool *)&bf->discard_ok);
	return 0;
}

void pvio_blkfront_get_stats(const struct pvio_blkfront *bf,
			     struct pvio_blkfront_stats *st)
{
	bf_memset(st, 0, sizeof(*st));
	if (!bf)
		return;
	for (uint32_t n = 0; n < bf->nr_queues; n++) {
		const struct bf_queue *q = &bf->q[n];
		st->requests += q->requests;
		st->ring_requests += q->ring_requests;
		st->indirect_requests += q->indirect_requests;
		st->kicks += q->kicks;
		st->kicks_avoided += q->ring.stats.kicks_avoided;
		st->grants += q->grants;
		st->revokes += q->revokes;
		st->revokes_deferred += q->revokes_deferred;
		st->revokes_pending += q->nr_revoke;
		st->persistent_hits += q->persistent_hits;
		st->bounced_bytes += q->bounced_bytes;
		st->zero_copy_segments += q->zero_copy_segments;
	}
	st->wakeups = atomic_load_explicit(&bf->wakeups, memory_order_relaxed);
	st->polls_hit = atomic_load_explicit(&bf->polls_hit, memory_order_relaxed);
	st->protocol_errors = atomic_load_explicit(&bf->protocol_errors, memory_order_relaxed);
	st->errors = atomic_load_explicit(&bf->errors, memory_order_relaxed);
	st->reconnects = atomic_load_explicit(&bf->reconnects, memory_order_relaxed);
	st->reissued = atomic_load_explicit(&bf->reissued, memory_order_relaxed);
	st->rings_leaked = atomic_load_explicit(&bf->rings_leaked, memory_order_relaxed);
}

int pvio_blkfront_check_backend(struct pvio_blkfront *bf, int timeout_ms)
{
	if (!bf)
		return -EINVAL;
	if (atomic_load(&bf->state) != BF_CONNECTED)
		return -ENOTCONN;
	int err = bf_xenbus_check(bf, timeout_ms);
	if (err == -ENOTCONN)
		bf_backend_lost(bf);
	return err;
}

int pvio_blkfront_reconnect(struct pvio_blkfront *bf, int timeout_ms)
{
	if (!bf || !bf->cfg.reconnect)
		return -EINVAL;
	uint32_t st = BF_CONNECTED;
	/* Asked on a connected device: drop that backend first. */
	atomic_compare_exchange_strong(&bf->state, &st, BF_RECOVERING);
	if (atomic_load(&bf->state) != BF_RECOVERING)
		return -EIO;
	int err = bf_xenbus_reconnect(bf, timeout_ms);
	if (err)
		bf_mark_dead(bf, BF_GONE); /* given up: fail what waits, now */
	return err;
}
