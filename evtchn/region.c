/* SPDX-License-Identifier: MIT */
/*
 * The region and its domains: layout, formatting, domain create/destroy,
 * the control-operation lock, attaching a domain's handle. Freestanding.
 */
#include "common.h"

size_t pvio_evtchn_region_size(uint32_t nr_domains)
{
	if (nr_domains == 0 || nr_domains > PVIO_EVTCHN_MAX_DOMAINS)
		return 0;
	return REGION_HDR_BYTES + (size_t)nr_domains * (SHARED_BYTES + TABLE_BYTES + MORE_BYTES);
}

bool evt_region_ok(const struct pvio_evtchn_region *r)
{
	return r && r->magic == PVIO_EVTCHN_REGION_MAGIC &&
	       r->version == PVIO_EVTCHN_REGION_VERSION &&
	       r->nr_ports == PVIO_EVTCHN_NR_PORTS &&
	       r->nr_waiters == PVIO_EVTCHN_NR_WAITERS && r->nr_domains != 0 &&
	       r->nr_domains <= PVIO_EVTCHN_MAX_DOMAINS &&
	       r->bytes >= pvio_evtchn_region_size(r->nr_domains);
}

bool evt_domain_alive(struct pvio_evtchn_region *r, pvio_domid_t d)
{
	if (d >= r->nr_domains)
		return false;
	/* A2: pairs with R2 in pvio_evtchn_domain_create(): a domain seen
	 * alive has its page and table formatted. */
	return pvio_load_acquire(&region_shared(r, d)->state) == PVIO_EVTCHN_DOM_ALIVE;
}

void evt_lock(struct pvio_evtchn_region *r, uint32_t tag)
{
	for (;;) {
		uint32_t free_word = 0;

		/* L1: acquire; pairs with U1 in evt_unlock(): the previous
		 * holder's table writes are visible. The word names the
		 * holder in the same atomic step that takes it, so a holder
		 * that dies is always known (pvio_evtchn_domain_reap()). */
		if (atomic_compare_exchange_weak_explicit(&r->lock, &free_word, tag,
				memory_order_acquire, memory_order_relaxed))
			return;
		while (pvio_load_relaxed(&r->lock) != 0)
			pvio_cpu_relax();
	}
}

void evt_unlock(struct pvio_evtchn_region *r)
{
	/* U1: release; pairs with L1. */
	pvio_store_release(&r->lock, 0);
}

int pvio_evtchn_region_init(void *mem, size_t bytes, uint32_t nr_domains)
{
	struct pvio_evtchn_region *r = mem;
	size_t need = pvio_evtchn_region_size(nr_domains);

	if (!mem || ((uintptr_t)mem & 63) || need == 0 || bytes < need)
		return -EINVAL;
	r->magic = 0;
	r->version = PVIO_EVTCHN_REGION_VERSION;
	r->nr_domains = nr_domains;
	r->nr_ports = PVIO_EVTCHN_NR_PORTS;
	r->nr_waiters = PVIO_EVTCHN_NR_WAITERS;
	r->bytes = bytes;
	pvio_store_relaxed(&r->lock, 0);
	pvio_store_relaxed(&r->unused_holder, 0);
	for (uint32_t d = 0; d < nr_domains; d++)
		pvio_store_relaxed(&region_shared(r, (pvio_domid_t)d)->state,
				   PVIO_EVTCHN_DOM_FREE);
	/* Magic last: a half-formatted region is not a region. Attaching
	 * happens after this returns (by the same thread or after a fork,
	 * fd pass or thread start, all of which order memory). */
	atomic_thread_fence(memory_order_release);
	r->magic = PVIO_EVTCHN_REGION_MAGIC;
	return 0;
}

int pvio_evtchn_domain_create(void *region, pvio_domid_t domid)
{
	struct pvio_evtchn_region *r = region;

	if (!evt_region_ok(r) || domid >= r->nr_domains)
		return -EINVAL;
	evt_lock(r, EVT_LOCK_TOOLSTACK);
	struct pvio_evtchn_shared *s = region_shared(r, domid);
	if (pvio_load_relaxed(&s->state) == PVIO_EVTCHN_DOM_ALIVE) {
		evt_unlock(r);
		return -EEXIST;
	}
	struct pvio_evtchn_port_table *t = region_table(r, domid);
	for (uint32_t p = 0; p < PVIO_EVTCHN_NR_PORTS; p++)
		evt_store_relaxed64(&t->entry[p], 0);
	for (uint32_t w = 0; w < PVIO_EVTCHN_NR_WORDS; w++) {
		evt_store_relaxed64(&s->pending[w], 0);
		evt_store_relaxed64(&s->mask[w], 0);
	}
	for (uint32_t v = 0; v < PVIO_EVTCHN_NR_WAITERS; v++) {
		struct pvio_evtchn_waiter *wt = region_waiter(r, domid, v);
		evt_store_relaxed64(&wt->pending_sel, 0);
		pvio_store_relaxed(&wt->sleeping, 0);
		evt_store_relaxed64(&wt->received, 0);
		evt_store_relaxed64(&wt->sleeps, 0);
		evt_store_relaxed64(&wt->spurious, 0);
	}
	evt_store_relaxed64(&s->sent, 0);
	evt_store_relaxed64(&s->coalesced, 0);
	evt_store_relaxed64(&s->wakes, 0);
	evt_store_relaxed64(&s->received, 0);
	/* R2: release; pairs with A2 in evt_domain_alive(). */
	pvio_store_release(&s->state, PVIO_EVTCHN_DOM_ALIVE);
	evt_unlock(r);
	return 0;
}

/* Unbind and raise the peer end (rd, rp) of a channel of dying domain
 * domid. Caller holds the lock. */
static void peer_unbind(struct pvio_evtchn_region *r, pvio_domid_t domid,
			pvio_domid_t rd, uint32_t rp,
			const struct pvio_evtchn_wait_ops *ops, void *ctx)
{
	struct pvio_evtchn_port_table *rt = region_table(r, rd);
	struct pvio_evtchn_shared *rs = region_shared(r, rd);
	/* The peer's routing stays; only bind_waiter changes it, under
	 * this lock. */
	uint64_t re = evt_load_relaxed64(&rt->entry[rp]);
	/* P1: release; pairs with P2 in notify(). */
	evt_store_release64(&rt->entry[rp],
			    entry_remake(re, PVIO_EVTCHN_PORT_UNBOUND, domid, 0));
	/* Raise the peer's port on the waiter it is routed to, so each of
	 * the peer's waiters with a port bound here returns and finds it
	 * unbound. */
	uint64_t old = evt_or_fenced64(&rs->pending[port_word(rp)], port_bit(rp));
	if (!(old & port_bit(rp)))
		evt_raise(r, rd, rp, entry_waiter(re), ops, ctx, NULL);
}

/* Destroy with the lock held (taken as tag by the caller). */
static int destroy_locked(struct pvio_evtchn_region *r, pvio_domid_t domid,
			  const struct pvio_evtchn_wait_ops *ops, void *ctx)
{
	struct pvio_evtchn_shared *s = region_shared(r, domid);
	if (pvio_load_relaxed(&s->state) != PVIO_EVTCHN_DOM_ALIVE)
		return -ESRCH;
	/* Dead first: no new binding to it from here on (binders check
	 * liveness under this lock). */
	pvio_store_release(&s->state, PVIO_EVTCHN_DOM_DEAD);
	struct pvio_evtchn_port_table *t = region_table(r, domid);
	for (uint32_t p = 1; p < PVIO_EVTCHN_NR_PORTS; p++) {
		uint64_t e = evt_load_relaxed64(&t->entry[p]);
		if (entry_state(e) == PVIO_EVTCHN_PORT_INTERDOMAIN) {
			pvio_domid_t rd = entry_dom(e);
			uint32_t rp = entry_port(e);
			if (rd < r->nr_domains && port_valid(rp) && rd != domid &&
			    evt_domain_alive(r, rd))
				peer_unbind(r, domid, rd, rp, ops, ctx);
		}
		evt_store_release64(&t->entry[p], 0);
	}
	return 0;
}

int pvio_evtchn_domain_destroy(void *region, pvio_domid_t domid,
			       const struct pvio_evtchn_wait_ops *ops, void *ctx)
{
	struct pvio_evtchn_region *r = region;

	if (!evt_region_ok(r) || domid >= r->nr_domains)
		return -EINVAL;
	evt_lock(r, EVT_LOCK_TOOLSTACK);
	int rc = destroy_locked(r, domid, ops, ctx);
	evt_unlock(r);
	return rc;
}

/*
 * Every end still bound to domid after its own table is cleared. A
 * control operation of domid's that died half way may have written one
 * end of a channel and not the other (bind writes domid's end first,
 * close the peer's first); destroy_locked() already unbinds every peer
 * domid's table names, and this sweep catches any other end left
 * pointing at it. Caller holds the lock.
 */
static void sweep_peers(struct pvio_evtchn_region *r, pvio_domid_t domid,
			const struct pvio_evtchn_wait_ops *ops, void *ctx)
{
	for (pvio_domid_t rd = 0; rd < r->nr_domains; rd++) {
		if (rd == domid || !evt_domain_alive(r, rd))
			continue;
		struct pvio_evtchn_port_table *rt = region_table(r, rd);
		for (uint32_t rp = 1; rp < PVIO_EVTCHN_NR_PORTS; rp++) {
			uint64_t re = evt_load_relaxed64(&rt->entry[rp]);
			if (entry_state(re) == PVIO_EVTCHN_PORT_INTERDOMAIN &&
			    entry_dom(re) == domid)
				peer_unbind(r, domid, rd, rp, ops, ctx);
		}
	}
}

/* Spins that see the dead domain's tag before the lock is taken over. */
#define REAP_PATIENCE (1u << 16)

int pvio_evtchn_domain_reap(void *region, pvio_domid_t domid,
			    const struct pvio_evtchn_wait_ops *ops, void *ctx)
{
	struct pvio_evtchn_region *r = region;
	uint32_t dead_tag = EVT_LOCK_DOMAIN(domid);

	if (!evt_region_ok(r) || domid >= r->nr_domains)
		return -EINVAL;
	for (uint32_t seen_dead = 0;;) {
		uint32_t w = 0;

		/* L1 (as in evt_lock()). Or take over the lock domid died
		 * holding: it is named in the word, and no thread of domid
		 * runs (the caller's promise), so it is never released. The
		 * patience only softens a caller that broke the promise. */
		if (atomic_compare_exchange_weak_explicit(&r->lock, &w,
				EVT_LOCK_TOOLSTACK, memory_order_acquire,
				memory_order_relaxed))
			break;
		seen_dead = w == dead_tag ? seen_dead + 1 : 0;
		if (seen_dead >= REAP_PATIENCE &&
		    atomic_compare_exchange_strong_explicit(&r->lock, &w,
				EVT_LOCK_TOOLSTACK, memory_order_acquire,
				memory_order_relaxed))
			break;
		pvio_cpu_relax();
	}
	int rc = destroy_locked(r, domid, ops, ctx);
	if (rc == 0)
		sweep_peers(r, domid, ops, ctx);
	evt_unlock(r);
	return rc;
}

int pvio_evtchn_attach(struct pvio_evtchn *h, void *mem, size_t bytes,
		       pvio_domid_t domid, const struct pvio_evtchn_wait_ops *ops,
		       void *ctx)
{
	struct pvio_evtchn_region *r = mem;

	if (!h || !mem || !ops_can_sleep(ops) || !ops_can_wake(ops) || !ops->now_ns)
		return -EINVAL;
	if (bytes < REGION_HDR_BYTES || !evt_region_ok(r) || r->bytes > bytes ||
	    domid >= r->nr_domains)
		return -EINVAL;
	if (!evt_domain_alive(r, domid))
		return -ESRCH;
	h->region = r;
	h->shared = region_shared(r, domid);
	h->ports = region_table(r, domid);
	h->ops = ops;
	h->ops_ctx = ctx;
	h->spin_ns = PVIO_EVTCHN_DEFAULT_SPIN_NS;
	h->domid = domid;
	return 0;
}

void pvio_evtchn_detach(struct pvio_evtchn *h)
{
	if (!h)
		return;
	h->region = NULL;
	h->shared = NULL;
	h->ports = NULL;
	h->ops = NULL;
	h->ops_ctx = NULL;
}

void pvio_evtchn_set_spin(struct pvio_evtchn *h, uint64_t spin_ns)
{
	if (h)
		h->spin_ns = spin_ns;
}

void pvio_evtchn_stats_get(const struct pvio_evtchn *h, struct pvio_evtchn_stats *st)
{
	if (!h || !st || !h->shared)
		return;
	const struct pvio_evtchn_shared *s = h->shared;
	st->sent = evt_load_relaxed64(&s->sent);
	st->coalesced = evt_load_relaxed64(&s->coalesced);
	st->wakes = evt_load_relaxed64(&s->wakes);
	st->received = evt_load_relaxed64(&s->received);
	st->sleeps = 0;
	st->spurious = 0;
	for (uint32_t v = 0; v < PVIO_EVTCHN_NR_WAITERS; v++) {
		const struct pvio_evtchn_waiter *wt = region_waiter(h->region, h->domid, v);
		st->received += evt_load_relaxed64(&wt->received);
		st->sleeps += evt_load_relaxed64(&wt->sleeps);
		st->spurious += evt_load_relaxed64(&wt->spurious);
	}
}

int pvio_evtchn_stats_get_on(const struct pvio_evtchn *h, uint32_t waiter,
			     struct pvio_evtchn_stats *st)
{
	if (!h || !st || !h->shared || waiter >= PVIO_EVTCHN_NR_WAITERS)
		return -EINVAL;
	const struct pvio_evtchn_waiter *wt = region_waiter(h->region, h->domid, waiter);
	st->sent = 0;
	st->coalesced = 0;
	st->wakes = 0;
	st->received = evt_load_relaxed64(&wt->received);
	st->sleeps = evt_load_relaxed64(&wt->sleeps);
	st->spurious = evt_load_relaxed64(&wt->spurious);
	return 0;
}

struct pvio_evtchn_waiter *pvio_evtchn_waiter_line(const struct pvio_evtchn *h, uint32_t v)
{
	if (!h || !h->region || !h->shared || v >= PVIO_EVTCHN_NR_WAITERS)
		return NULL;
	return region_waiter(h->region, h->domid, v);
}
