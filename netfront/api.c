/* SPDX-License-Identifier: MIT */
/*
 * netfront's device lifetime (open: config, then xenbus.c's handshake;
 * close: drain, disconnect, end grants, free), the dead-device path,
 * waiting on the event channels, info, counters and zero-copy buffers.
 */
#include "common.h"

/* ---------------------------------------------------------- small parts */

static uint64_t now_ns(const struct pvio_netfront *nf)
{
	const struct pvio_evtchn *h = nf->d->evtchn;

	return h->ops->now_ns(h->ops_ctx);
}

/* Sleep on word (while it holds val) until deadline, through the
 * platform: the same primitive the event channel layer sleeps with. */
static void sleep_on_word(struct pvio_netfront *nf, _Atomic uint32_t *word,
			  uint32_t val, uint64_t deadline)
{
	const struct pvio_evtchn *h = nf->d->evtchn;

	if (h->ops->sleep)
		h->ops->sleep(h->ops_ctx, nf->d->domid, word, val, deadline);
	else
		h->ops->sleep_on(h->ops_ctx, nf->d->domid, nf->cfg.evtchn_waiter,
				 word, val, deadline);
}

void nf_wake_waiters(struct pvio_netfront *nf)
{
	const struct pvio_evtchn *h = nf->d->evtchn;

	/* W1: the seq bump is ordered before the sleepers load; pairs with
	 * S1 in pvio_netfront_wait() (sleepers bump, then seq re-read). */
	atomic_fetch_add_explicit(&nf->seq, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&nf->sleepers, memory_order_seq_cst) == 0)
		return;
	if (h->ops->wake)
		h->ops->wake(h->ops_ctx, nf->d->domid, &nf->seq);
	else
		h->ops->wake_on(h->ops_ctx, nf->d->domid, nf->cfg.evtchn_waiter, &nf->seq);
}

bool nf_kick(struct pvio_netfront *nf, uint32_t port)
{
	int err = pvio_evtchn_notify(nf->d->evtchn, port);

	return err != -ENOTCONN && err != -EINVAL;
}

void nf_mark_dead(struct pvio_netfront *nf, enum nf_state why)
{
	uint32_t st = atomic_load_explicit(&nf->state, memory_order_acquire);

	while (st == NF_CONNECTED || st == NF_CONNECTING || st == NF_RECOVERING) {
		if (atomic_compare_exchange_weak_explicit(&nf->state, &st, why,
				memory_order_acq_rel, memory_order_acquire))
			break;
	}
	for (uint32_t n = 0; n < nf->nr_queues; n++) {
		struct nf_queue *q = &nf->q[n];
		/* A misbehaving or gone peer: stop listening to it. */
		if (q->port_tx_alloc)
			pvio_evtchn_mask(nf->d->evtchn, q->port_tx);
		if (q->port_rx_alloc)
			pvio_evtchn_mask(nf->d->evtchn, q->port_rx);
		nf_tx_cancel(q);
	}
	nf_wake_waiters(nf);
}

void nf_backend_lost(struct pvio_netfront *nf, uint32_t epoch)
{
	uint32_t st = NF_CONNECTED;

	if (nf_epoch(nf) != epoch)
		return;
	if (!nf->cfg.reconnect) {
		nf_mark_dead(nf, NF_GONE);
		return;
	}
	/* Rings stay as they are until pvio_netfront_reconnect(). */
	if (atomic_compare_exchange_strong_explicit(&nf->state, &st, NF_RECOVERING,
						    memory_order_acq_rel, memory_order_acquire))
		nf_wake_waiters(nf);
}

bool pvio_netfront_recovering(const struct pvio_netfront *nf)
{
	return nf && nf_recovering(nf);
}

int nf_ring_page_renew(struct pvio_netfront *nf, uint32_t *pfn, void **sring,
		       pvio_grant_ref_t *ref)
{
	struct pvio_domain *d = nf->d;
	int err;

	if (*ref != PVIO_GNT_REF_INVALID) {
		if (pvio_gnt_revoke(d->gnt, *ref) == -EBUSY) {
			/* Pinned by the dead backend: never reuse the page. */
			atomic_fetch_add_explicit(&nf->rings_leaked, 1, memory_order_relaxed);
			*sring = NULL;
		}
		*ref = PVIO_GNT_REF_INVALID;
	}
	if (!*sring) {
		err = pvio_domain_page_alloc(d, 1, pfn);
		if (err)
			return err;
		*sring = pvio_domain_page(d, *pfn);
		if (!*sring)
			return -ENOMEM;
	}
	err = pvio_gnt_grant(d->gnt, nf->info.backend_id, *pfn, false, ref);
	return err;
}

static void config_defaults(struct pvio_netfront_config *c,
			    const struct pvio_netfront_config *in)
{
	if (in)
		*c = *in;
	else
		nf_memset(c, 0, sizeof(*c));
	if (c->max_queues == 0)
		c->max_queues = 1;
	if (c->max_queues > PVIO_NETFRONT_MAX_QUEUES)
		c->max_queues = PVIO_NETFRONT_MAX_QUEUES;
	if (c->tx_pages == 0)
		c->tx_pages = 256;
	if (c->timeout_ms == 0)
		c->timeout_ms = 10000;
	if (c->spin_ns == 0)
		c->spin_ns = PVIO_EVTCHN_DEFAULT_SPIN_NS;
}

/* ---------------------------------------------------------- lifetime */

static uint32_t end_grants(struct pvio_netfront *nf)
{
	uint32_t left = 0;

	for (uint32_t n = 0; n < nf->nr_queues; n++) {
		struct nf_queue *q = &nf->q[n];
		if (q->tx_sring)
			left += nf_tx_revoke_all(q);
		if (q->rx_sring)
			left += nf_rx_revoke_all(q);
	}
	return left;
}

/* End every grant, retrying ones still mapped until the timeout. */
static uint32_t end_grants_retry(struct pvio_netfront *nf)
{
	uint64_t start = now_ns(nf);
	uint64_t limit = nf->cfg.timeout_ms < 0 ? UINT64_MAX :
			 (uint64_t)nf->cfg.timeout_ms * 1000000u;
	uint32_t left;

	while ((left = end_grants(nf)) != 0 && now_ns(nf) - start < limit) {
		_Atomic uint32_t word = 0;
		sleep_on_word(nf, &word, 0, now_ns(nf) + 2000000u);
	}
	return left;
}

static void teardown(struct pvio_netfront *nf)
{
	for (uint32_t n = 0; n < PVIO_NETFRONT_MAX_QUEUES; n++) {
		struct nf_queue *q = &nf->q[n];
		if (!q->nf)
			continue;
		if (q->port_tx_alloc)
			pvio_evtchn_close(nf->d->evtchn, q->port_tx);
		if (q->port_rx_alloc)
			pvio_evtchn_close(nf->d->evtchn, q->port_rx);
		q->port_tx_alloc = q->port_rx_alloc = false;
		nf_txq_free(q);
		nf_rxq_free(q);
	}
	pvio_xenbus_detach(&nf->xb);
	nf_free(nf->d, nf);
}

int pvio_netfront_open(struct pvio_domain *d, const char *path,
		       const struct pvio_netfront_config *cfg,
		       struct pvio_netfront **out)
{
	struct pvio_netfront *nf;
	int err;

	if (!d || !path || !out || !d->xs || !d->gnt || !d->evtchn)
		return -EINVAL;
	if (cfg && (cfg->evtchn_waiter >= PVIO_EVTCHN_NR_WAITERS ||
		    cfg->rx_mode > PVIO_NETFRONT_RX_FLIP))
		return -EINVAL;
	nf = nf_alloc(d, sizeof(*nf));
	if (!nf)
		return -ENOMEM;
	nf->d = d;
	config_defaults(&nf->cfg, cfg);
	atomic_store(&nf->state, NF_CONNECTING);
	err = nf_xenbus_attach(nf, path);
	if (err) {
		nf_free(d, nf);
		return err;
	}
	err = nf_xenbus_connect(nf);
	if (err) {
		if (nf->xb.state != PVIO_XENBUS_CLOSED)
			pvio_xenbus_switch_state(&nf->xb, PVIO_XENBUS_CLOSED);
		atomic_store(&nf->state, NF_GONE);
		end_grants(nf);
		teardown(nf);
		return err;
	}
	*out = nf;
	return 0;
}

int pvio_netfront_open_devid(struct pvio_domain *d, uint32_t devid,
			     const struct pvio_netfront_config *cfg,
			     struct pvio_netfront **out)
{
	char path[PVIO_XENBUS_PATH_MAX];
	int err;

	if (!d)
		return -EINVAL;
	err = pvio_xenbus_frontend_path(path, sizeof(path), "vif", d->domid, devid);
	return err ? err : pvio_netfront_open(d, path, cfg, out);
}

int pvio_netfront_close(struct pvio_netfront *nf)
{
	if (!nf)
		return 0;
	uint64_t t = nf->cfg.timeout_ms < 0 ? PVIO_NETFRONT_FOREVER :
		     (uint64_t)nf->cfg.timeout_ms * 1000000u;
	if (nf_alive(nf))
		(void)pvio_netfront_tx_drain(nf, t);
	int err = nf_xenbus_disconnect(nf);
	/* Nothing more goes out or comes in; what is in flight is cancelled. */
	nf_mark_dead(nf, NF_GONE);
	uint32_t left = end_grants_retry(nf);
	teardown(nf);
	return left ? -EBUSY : err;
}

int pvio_netfront_get_info(const struct pvio_netfront *nf,
			   struct pvio_netfront_info *info)
{
	if (!nf || !info)
		return -EINVAL;
	*info = nf->info;
	return 0;
}

int pvio_netfront_error(const struct pvio_netfront *nf)
{
	if (!nf)
		return -EINVAL;
	switch (atomic_load_explicit(&nf->state, memory_order_acquire)) {
	case NF_CONNECTED:
		return 0;
	case NF_BROKEN:
		return -EPROTO;
	default:
		return -ENOTCONN;
	}
}

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void pvio_netfront_get_stats(const struct pvio_netfront *nf,
			     struct pvio_netfront_stats *st)
{
	nf_memset(st, 0, sizeof(*st));
	if (!nf)
		return;
	for (uint32_t n = 0; n < nf->nr_queues; n++) {
		const struct nf_queue *q = &nf->q[n];
		st->tx_packets += LD(q->tx_packets);
		st->tx_bytes += LD(q->tx_bytes);
		st->tx_errors += LD(q->tx_errors);
		st->tx_dropped += LD(q->tx_dropped);
		st->tx_slots += LD(q->tx_slots);
		st->tx_gso += LD(q->tx_gso);
		st->tx_copied += LD(q->tx_copied);
		st->tx_copied_bytes += LD(q->tx_copied_bytes);
		st->tx_zero_copy += LD(q->tx_zero_copy);
		st->tx_kicks += LD(q->tx_kicks);
		st->rx_packets += LD(q->rx_packets);
		st->rx_bytes += LD(q->rx_bytes);
		st->rx_errors += LD(q->rx_errors);
		st->rx_dropped += LD(q->rx_dropped);
		st->rx_truncated += LD(q->rx_truncated);
		st->rx_slots += LD(q->rx_slots);
		st->rx_copies += LD(q->rx_copies);
		st->rx_flips += LD(q->rx_flips);
		st->rx_gso += LD(q->rx_gso);
		st->rx_posted += LD(q->rx_posted);
		st->rx_kicks += LD(q->rx_kicks);
		st->grants += LD(q->grants);
		st->revokes += LD(q->revokes);
		st->revokes_deferred += LD(q->revokes_deferred);
		st->revokes_pending += q->tx_nr_rev + q->rx_nr_rev;
	}
	st->protocol_errors = LD(nf->protocol_errors);
	st->wakeups = LD(nf->wakeups);
	st->reconnects = LD(nf->reconnects);
	st->rings_leaked = LD(nf->rings_leaked);
	st->tx_lost = LD(nf->tx_lost);
}

/* ------------------------------------------------------------ polling */

static int reap_all(struct pvio_netfront *nf)
{
	int total = 0;

	for (uint32_t n = 0; n < nf->nr_queues; n++) {
		int r = nf_tx_reap(&nf->q[n]);
		if (r < 0)
			return -EIO;
		total += r;
	}
	if (total)
		nf_wake_waiters(nf);
	return total;
}

int pvio_netfront_poll(struct pvio_netfront *nf)
{
	if (!nf)
		return -EINVAL;
	if (!nf_alive(nf))
		return nf_dead_errno(nf, 0);
	int r = reap_all(nf);
	if (r < 0)
		return r;
	for (uint32_t n = 0; n < nf->nr_queues; n++)
		nf_rx_refill_auto(&nf->q[n]);
	return nf_alive(nf) ? r : nf_dead_errno(nf, r);
}

/* ------------------------------------------------------------- waiting */

#define NF_SLICE_NS 20000000ull /* longest single sleep: 20 ms */

static bool any_rx(const struct pvio_netfront *nf)
{
	for (uint32_t n = 0; n < nf->nr_queues; n++)
		if (nf_rx_pending(&nf->q[n]))
			return true;
	return false;
}

static bool any_tx_rsp(const struct pvio_netfront *nf)
{
	for (uint32_t n = 0; n < nf->nr_queues; n++) {
		const struct nf_queue *q = &nf->q[n];
		if (pvio_load_acquire(&q->tx.sring->rsp_prod) !=
		    atomic_load_explicit(&q->tx_cons_seen, memory_order_relaxed))
			return true;
	}
	return false;
}

static bool tx_idle(struct pvio_netfront *nf)
{
	for (uint32_t n = 0; n < nf->nr_queues; n++)
		if (nf_tx_busy(&nf->q[n]))
			return false;
	return true;
}

static bool ports_bound(struct pvio_netfront *nf)
{
	for (uint32_t n = 0; n < nf->nr_queues; n++) {
		const struct nf_queue *q = &nf->q[n];
		uint32_t ports[2] = { q->port_tx, q->port_rx };
		for (int k = 0; k < 2; k++) {
			struct pvio_evtchn_status st;
			if (pvio_evtchn_status(nf->d->evtchn, ports[k], &st) != 0 ||
			    st.state != PVIO_EVTCHN_PORT_INTERDOMAIN)
				return false;
		}
	}
	return true;
}

/* Arm both rings' event indices; true if something arrived meanwhile. */
static bool final_check(struct pvio_netfront *nf)
{
	bool pending = false;

	for (uint32_t n = 0; n < nf->nr_queues; n++) {
		struct nf_queue *q = &nf->q[n];
		nf_lock(&q->rx_lock);
		pending |= pvio_ring_front_final_check(&q->rx) != 0;
		nf_unlock(&q->rx_lock);
		nf_lock(&q->tx_lock);
		pending |= pvio_ring_front_final_check(&q->tx) != 0;
		nf_unlock(&q->tx_lock);
	}
	return pending;
}

/*
 * Adaptive wait, as blkfront's: poll the rings for the spin budget, arm
 * the event indices, sleep on the event channel waiter the ports are
 * routed to. One thread at a time owns that sleep (nf->waiter); the
 * others sleep on nf->seq, bumped whenever something happens. Every sleep
 * is bounded by a slice, so a stolen event costs at most a slice.
 */
static int wait_for(struct pvio_netfront *nf, unsigned what, uint64_t timeout_ns,
		    bool drain)
{
	const uint64_t start = now_ns(nf);
	const uint64_t deadline = timeout_ns == PVIO_NETFRONT_FOREVER ||
				  start + timeout_ns < start ? UINT64_MAX : start + timeout_ns;
	const uint32_t seq_entry = atomic_load_explicit(&nf->seq, memory_order_seq_cst);
	const uint64_t spin = nf->cfg.no_spin ? 0 : nf->cfg.spin_ns;

	for (;;) {
		uint32_t seq0 = atomic_load_explicit(&nf->seq, memory_order_seq_cst);
		if (nf_recovering(nf)) {
			/* Nothing moves until pvio_netfront_reconnect()
			 * (another thread) resumes: it wakes us. */
			uint64_t now = now_ns(nf);
			if (now >= deadline)
				return -ETIMEDOUT;
			uint64_t until = deadline - now < NF_SLICE_NS ? deadline :
					 now + NF_SLICE_NS;
			atomic_fetch_add_explicit(&nf->sleepers, 1, memory_order_seq_cst);
			if (atomic_load_explicit(&nf->seq, memory_order_seq_cst) == seq0)
				sleep_on_word(nf, &nf->seq, seq0, until);
			atomic_fetch_sub_explicit(&nf->sleepers, 1, memory_order_seq_cst);
			continue;
		}
		if (!nf_alive(nf))
			return -EIO;
		uint32_t ep = nf_epoch(nf);
		int reaped = reap_all(nf);
		if (reaped < 0)
			return -EIO;
		if (drain) {
			if (tx_idle(nf))
				return 0;
		} else {
			if ((what & PVIO_NETFRONT_WAIT_RX) && any_rx(nf))
				return 0;
			if ((what & PVIO_NETFRONT_WAIT_TX) &&
			    (reaped > 0 || seq0 != seq_entry || tx_idle(nf)))
				return 0;
		}
		uint64_t now = now_ns(nf);
		if (now >= deadline)
			return -ETIMEDOUT;
		uint64_t until = deadline - now < NF_SLICE_NS ? deadline : now + NF_SLICE_NS;

		uint32_t expect = 0;
		if (!atomic_compare_exchange_strong_explicit(&nf->waiter, &expect, 1,
				memory_order_acquire, memory_order_relaxed)) {
			/* S1: announce, then re-read seq; pairs with W1. */
			atomic_fetch_add_explicit(&nf->sleepers, 1, memory_order_seq_cst);
			if (atomic_load_explicit(&nf->seq, memory_order_seq_cst) == seq0)
				sleep_on_word(nf, &nf->seq, seq0, until);
			atomic_fetch_sub_explicit(&nf->sleepers, 1, memory_order_seq_cst);
			continue;
		}

		bool found = false;
		uint64_t spin_end = now + spin;
		while (spin && !found && now_ns(nf) < spin_end && nf_alive(nf)) {
			for (int k = 0; k < 64 && !found; k++) {
				found = any_rx(nf) || any_tx_rsp(nf);
				pvio_cpu_relax();
			}
		}
		if (!found && nf_alive(nf) && !final_check(nf)) {
			if (!ports_bound(nf)) {
				atomic_store_explicit(&nf->waiter, 0, memory_order_release);
				nf_backend_lost(nf, ep);
				continue;
			}
			uint32_t ports[16];
			uint64_t t = now_ns(nf);
			int r = pvio_evtchn_wait_on(nf->d->evtchn, nf->cfg.evtchn_waiter,
						    PVIO_EVTCHN_BLOCK, until > t ? until - t : 0,
						    ports, 16);
			if (r > 0)
				atomic_fetch_add_explicit(&nf->wakeups, 1, memory_order_relaxed);
		}
		atomic_store_explicit(&nf->waiter, 0, memory_order_release);
		nf_wake_waiters(nf);
	}
}

int pvio_netfront_wait(struct pvio_netfront *nf, unsigned what, uint64_t timeout_ns)
{
	if (!nf || what == 0 ||
	    (what & ~(PVIO_NETFRONT_WAIT_RX | PVIO_NETFRONT_WAIT_TX)))
		return -EINVAL;
	return wait_for(nf, what, timeout_ns, false);
}

int pvio_netfront_tx_drain(struct pvio_netfront *nf, uint64_t timeout_ns)
{
	if (!nf)
		return -EINVAL;
	return wait_for(nf, PVIO_NETFRONT_WAIT_TX, timeout_ns, true);
}

int pvio_netfront_check_backend(struct pvio_netfront *nf, int timeout_ms)
{
	if (!nf)
		return -EINVAL;
	if (!nf_alive(nf))
		return -ENOTCONN;
	uint32_t ep = nf_epoch(nf);
	int err = nf_xenbus_check(nf, timeout_ms);
	if (err == -ENOTCONN)
		nf_backend_lost(nf, ep);
	return err;
}

int pvio_netfront_reconnect(struct pvio_netfront *nf, int timeout_ms)
{
	if (!nf || !nf->cfg.reconnect)
		return -EINVAL;
	uint32_t st = NF_CONNECTED;
	/* Asked on a connected vif: drop that backend first. */
	atomic_compare_exchange_strong(&nf->state, &st, NF_RECOVERING);
	if (!nf_recovering(nf))
		return -EIO;
	/* What the old backend held is lost or taken back now, while the
	 * old negotiation (rx-copy or flip) still says how to end it. */
	for (uint32_t n = 0; n < nf->nr_queues; n++) {
		uint32_t lost = nf_tx_cancel(&nf->q[n]);
		atomic_fetch_add_explicit(&nf->tx_lost, lost, memory_order_relaxed);
		nf_rx_stop(&nf->q[n]);
	}
	int err = nf_xenbus_reconnect(nf, timeout_ms);
	if (err)
		nf_mark_dead(nf, NF_GONE); /* given up: every call fails now */
	return err;
}

/* --------------------------------------------------- zero-copy buffers */

int pvio_netfront_buf_alloc(struct pvio_netfront *nf, size_t len, void **buf)
{
	uint32_t n, pfn;
	void *va;
	int err;

	if (!nf || !buf || len == 0 || len > (size_t)NF_ALLOC_MAX_PAGES * PVIO_PAGE_SIZE)
		return -EINVAL;
	n = (uint32_t)((len + PVIO_PAGE_SIZE - 1) / PVIO_PAGE_SIZE);
	err = pvio_domain_page_alloc(nf->d, n, &pfn);
	if (err)
		return err;
	err = nf_vmap_range(nf->d, pfn, n, &va);
	if (err) {
		pvio_domain_page_free(nf->d, pfn, n);
		return err;
	}
	nf_lock(&nf->buf_lock);
	for (uint32_t i = 0; i < NF_MAX_BUFS; i++) {
		if (nf->bufs[i].va)
			continue;
		nf->bufs[i] = (struct nf_buf){ .va = va, .pfn = pfn, .n = n };
		if (i + 1 > atomic_load_explicit(&nf->bufs_hi, memory_order_relaxed))
			atomic_store_explicit(&nf->bufs_hi, i + 1, memory_order_release);
		nf_unlock(&nf->buf_lock);
		*buf = va;
		return 0;
	}
	nf_unlock(&nf->buf_lock);
	nf_vunmap_range(nf->d, va, n);
	pvio_domain_page_free(nf->d, pfn, n);
	return -ENOSPC;
}

int pvio_netfront_buf_free(struct pvio_netfront *nf, void *buf)
{
	struct nf_buf b = { 0 };

	if (!nf || !buf)
		return -EINVAL;
	nf_lock(&nf->buf_lock);
	for (uint32_t i = 0; i < NF_MAX_BUFS; i++) {
		if (nf->bufs[i].va == buf) {
			b = nf->bufs[i];
			nf->bufs[i] = (struct nf_buf){ 0 };
			break;
		}
	}
	{
		uint32_t hi = atomic_load_explicit(&nf->bufs_hi, memory_order_relaxed);

		while (hi && !nf->bufs[hi - 1].va)
			hi--;
		atomic_store_explicit(&nf->bufs_hi, hi, memory_order_release);
	}
	nf_unlock(&nf->buf_lock);
	if (!b.va)
		return -EINVAL;
	nf_vunmap_range(nf->d, b.va, b.n);
	return pvio_domain_page_free(nf->d, b.pfn, b.n);
}
