/* SPDX-License-Identifier: MIT */
/*
 * The control operations on ports (Xen's EVTCHNOP_alloc_unbound,
 * bind_interdomain, close, status): the "hypervisor" role, run by the
 * calling domain itself under the region lock; and bind_waiter
 * (EVTCHNOP_bind_vcpu), which changes only a port's routing. Every table
 * write is a release store (P1) that notify's acquire load (P2, event.c)
 * pairs with. A port's routing (its waiter) is set to 0 when the port is
 * allocated or freed and kept when the remote end rewrites the entry.
 * Freestanding.
 */
#include "common.h"

static bool handle_ok(const struct pvio_evtchn *h)
{
	return h && h->region && h->shared && h->ports;
}

/* Lowest free port of table t, or 0. Caller holds the lock. */
static uint32_t find_free(struct pvio_evtchn_port_table *t)
{
	for (uint32_t p = 1; p < PVIO_EVTCHN_NR_PORTS; p++)
		if (entry_state(evt_load_relaxed64(&t->entry[p])) == PVIO_EVTCHN_PORT_FREE)
			return p;
	return 0;
}

/* A fresh port: nothing pending, unmasked. Caller holds the lock. */
static void port_reset(struct pvio_evtchn_shared *s, uint32_t port)
{
	evt_and_fenced64(&s->pending[port_word(port)], ~port_bit(port));
	evt_and_fenced64(&s->mask[port_word(port)], ~port_bit(port));
}

int pvio_evtchn_alloc_unbound(struct pvio_evtchn *h, pvio_domid_t remote_dom,
			      uint32_t *port)
{
	if (!handle_ok(h) || !port)
		return -EINVAL;
	struct pvio_evtchn_region *r = h->region;
	int rc = 0;

	evt_lock(r, EVT_LOCK_DOMAIN(h->domid));
	if (!evt_domain_alive(r, remote_dom) || !evt_domain_alive(r, h->domid)) {
		rc = -ESRCH;
		goto out;
	}
	uint32_t p = find_free(h->ports);
	if (!p) {
		rc = -ENOSPC;
		goto out;
	}
	port_reset(h->shared, p);
	/* P1: release; pairs with P2 in pvio_evtchn_notify(). */
	evt_store_release64(&h->ports->entry[p],
			    entry_make(PVIO_EVTCHN_PORT_UNBOUND, remote_dom, 0));
	*port = p;
out:
	evt_unlock(r);
	return rc;
}

int pvio_evtchn_bind_interdomain(struct pvio_evtchn *h, pvio_domid_t remote_dom,
				 uint32_t remote_port, uint32_t *local_port)
{
	if (!handle_ok(h) || !local_port)
		return -EINVAL;
	struct pvio_evtchn_region *r = h->region;
	int rc = 0;

	evt_lock(r, EVT_LOCK_DOMAIN(h->domid));
	if (!evt_domain_alive(r, remote_dom) || !evt_domain_alive(r, h->domid)) {
		rc = -ESRCH;
		goto out;
	}
	if (!port_valid(remote_port)) {
		rc = -EINVAL;
		goto out;
	}
	struct pvio_evtchn_port_table *rt = region_table(r, remote_dom);
	uint64_t re = evt_load_relaxed64(&rt->entry[remote_port]);
	if (entry_state(re) != PVIO_EVTCHN_PORT_UNBOUND) {
		rc = -EINVAL;
		goto out;
	}
	if (entry_dom(re) != h->domid) {
		rc = -EACCES;
		goto out;
	}
	/* Loopback (remote_dom is this domain) works: remote_port is not
	 * free, so find_free() never hands it out again. */
	uint32_t p = find_free(h->ports);
	if (!p) {
		rc = -ENOSPC;
		goto out;
	}
	port_reset(h->shared, p);
	/* P1 (both ends): release; pairs with P2 in pvio_evtchn_notify(). */
	evt_store_release64(&h->ports->entry[p],
			    entry_make(PVIO_EVTCHN_PORT_INTERDOMAIN, remote_dom, remote_port));
	evt_store_release64(&rt->entry[remote_port],
			    entry_remake(re, PVIO_EVTCHN_PORT_INTERDOMAIN, h->domid, p));
	*local_port = p;
out:
	evt_unlock(r);
	return rc;
}

int pvio_evtchn_close(struct pvio_evtchn *h, uint32_t port)
{
	if (!handle_ok(h) || !port_valid(port))
		return -EINVAL;
	struct pvio_evtchn_region *r = h->region;
	int rc = 0;

	evt_lock(r, EVT_LOCK_DOMAIN(h->domid));
	uint64_t e = evt_load_relaxed64(&h->ports->entry[port]);
	switch (entry_state(e)) {
	case PVIO_EVTCHN_PORT_UNBOUND:
		break;
	case PVIO_EVTCHN_PORT_INTERDOMAIN: {
		pvio_domid_t rd = entry_dom(e);
		uint32_t rp = entry_port(e);
		if (rd < r->nr_domains && port_valid(rp) && evt_domain_alive(r, rd)) {
			struct pvio_evtchn_port_table *rt = region_table(r, rd);
			uint64_t re = evt_load_relaxed64(&rt->entry[rp]);
			/* Only undo the remote end if it still points here. */
			if (entry_state(re) == PVIO_EVTCHN_PORT_INTERDOMAIN &&
			    entry_dom(re) == h->domid && entry_port(re) == port)
				/* P1: release; pairs with P2 in notify(). */
				evt_store_release64(&rt->entry[rp],
					entry_remake(re, PVIO_EVTCHN_PORT_UNBOUND, h->domid, 0));
		}
		break;
	}
	default:
		rc = -EINVAL;
		goto out;
	}
	/* P1: release; pairs with P2 in notify(). */
	evt_store_release64(&h->ports->entry[port], 0);
	evt_and_fenced64(&h->shared->pending[port_word(port)], ~port_bit(port));
out:
	evt_unlock(r);
	return rc;
}

int pvio_evtchn_status(struct pvio_evtchn *h, uint32_t port,
		       struct pvio_evtchn_status *st)
{
	if (!handle_ok(h) || !st || port >= PVIO_EVTCHN_NR_PORTS)
		return -EINVAL;
	uint64_t e = evt_load_acquire64(&h->ports->entry[port]);
	st->state = entry_state(e);
	st->remote_dom = entry_dom(e);
	st->remote_port = entry_port(e);
	st->pending = evt_load_relaxed64(&h->shared->pending[port_word(port)]) & port_bit(port);
	st->masked = evt_load_relaxed64(&h->shared->mask[port_word(port)]) & port_bit(port);
	st->waiter = entry_waiter(e);
	return 0;
}

int pvio_evtchn_bind_waiter(struct pvio_evtchn *h, uint32_t port, uint32_t waiter)
{
	if (!handle_ok(h) || !port_valid(port) || waiter >= PVIO_EVTCHN_NR_WAITERS)
		return -EINVAL;
	struct pvio_evtchn_region *r = h->region;
	struct pvio_evtchn_shared *s = h->shared;
	int rc = 0;

	evt_lock(r, EVT_LOCK_DOMAIN(h->domid));
	uint64_t e = evt_load_relaxed64(&h->ports->entry[port]);
	if (entry_state(e) == PVIO_EVTCHN_PORT_FREE) {
		rc = -EINVAL;
		goto out;
	}
	uint64_t ne = entry_with_waiter(e, waiter);
	if (ne == e)
		goto out;
	/* B1 (store half): the new routing, seq_cst (also P1: it releases
	 * like every table write); pairs with B2 in notify() and unmask(),
	 * which make the event visible (pending set / mask cleared) and then
	 * read the routing. */
	evt_store_fenced64(&h->ports->entry[port], ne);
	/* B1 (load half): an event made visible before the store above may
	 * have been raised on the old waiter: raise it on the new one (the
	 * old one skips the port when it scans, as it now reads the new
	 * routing, or took it already: then this raise is spurious).
	 * evt_raise() reads the mask after this, which covers an unmask
	 * racing with us. */
	if (evt_load_fenced64(&s->pending[port_word(port)]) & port_bit(port))
		evt_raise(r, h->domid, port, waiter, h->ops, h->ops_ctx, s);
out:
	evt_unlock(r);
	return rc;
}
