/* SPDX-License-Identifier: MIT */
/*
 * The data path: notify, mask/unmask, test_and_clear, consume(_on),
 * wait(_on).
 * No lock, no daemon; the platform is called only to sleep and to wake a
 * sleeper. Freestanding.
 *
 * Waiters: every port is routed to one of the domain's waiters (the
 * waiter field of its port entry). The pending and mask bitmaps are the
 * domain's; the selector and the sleeping word are the waiter's (struct
 * pvio_evtchn_waiter, one line each). A raise sets the selector of the
 * waiter the port is routed to and wakes that waiter only; a waiter's
 * scan takes only the pending ports routed to it. So each pair below
 * holds per waiter: waiter v's W1 pairs with the N1 of raisers of ports
 * routed to v, on v's own selector and sleeping word.
 *
 * Ordering points, each labelled where it is used:
 *
 *   N0/U0  notify sets pending then reads mask; unmask clears mask then
 *          reads pending (both seq_cst): at least one of them sees the
 *          other, so an event raced with an unmask is raised by one of
 *          them (possibly both: harmless).
 *   B1/B2  bind_waiter (port.c) stores the new routing then reads pending
 *          and mask; notify and unmask make the event visible (set
 *          pending / clear mask) then read the routing (all seq_cst):
 *          either the raiser reads the new routing, or bind_waiter sees
 *          the event and raises it on the new waiter itself. An event
 *          raised on the old waiter after the move is skipped by its scan
 *          (S2), which then reads the new routing.
 *   N1/W1  a raiser sets the waiter's selector bit then reads its
 *          sleeping word; the waiter stores sleeping = 1 then reads its
 *          selector (all seq_cst, the "store; mb(); load" pair): either
 *          the waiter sees the event and does not sleep, or the raiser
 *          sees it asleep and wakes it.
 *   N2/W2  the raiser that swaps sleeping 1 -> 0 makes the wake call; the
 *          platform's sleep returns at once if the word is no longer 1, so
 *          a wake that lands before the waiter is inside sleep() is not
 *          lost.
 *   S1/C1  consume takes the waiter's selector with acq_rel; it pairs
 *          with the raiser's seq_cst RMW on the selector (N1), so the
 *          pending bits set before it (N0) and the routing the raiser read
 *          (B1/B2) are visible to the scan.
 *   S2     the scan's acquire load of each candidate port's entry: the
 *          routing as of the raise that brought the waiter here (S1), or
 *          newer.
 *   P2     notify's acquire load of its port entry pairs with P1 (port.c,
 *          region.c): a port seen bound names a live remote page.
 */
#include "common.h"

static bool handle_ok(const struct pvio_evtchn *h)
{
	return h && h->region && h->shared && h->ports && h->ops;
}

/* Wake waiter of domain dom through ops (wake_on if the table has it). */
static void ops_wake(const struct pvio_evtchn_wait_ops *ops, void *ctx, pvio_domid_t dom,
		     uint32_t waiter, _Atomic uint32_t *word)
{
	if (ops->wake_on)
		ops->wake_on(ctx, dom, waiter, word);
	else
		ops->wake(ctx, dom, word);
}

void evt_raise(struct pvio_evtchn_region *r, pvio_domid_t dom, uint32_t port,
	       uint32_t waiter, const struct pvio_evtchn_wait_ops *ops, void *ctx,
	       struct pvio_evtchn_shared *counters)
{
	uint32_t w = port_word(port);
	struct pvio_evtchn_shared *s = region_shared(r, dom);
	struct pvio_evtchn_waiter *wt = region_waiter(r, dom, waiter);

	/* N0 (load half): pairs with U0 in pvio_evtchn_unmask(); also B1's
	 * mask check when bind_waiter raises. */
	if (evt_load_fenced64(&s->mask[w]) & port_bit(port))
		return;
	/* N1 (store half): pairs with W1 in sleep_once() of this waiter. */
	evt_or_fenced64(&wt->pending_sel, (uint64_t)1 << w);
	/* N1 (load half): a plain load first, so an awake waiter costs no
	 * locked instruction on its line. */
	if (!pvio_load_fenced(&wt->sleeping))
		return;
	/* Without a way to wake it, leave the flag for a raiser that has
	 * one: clearing it here would make later raisers skip the wake. */
	if (!ops_can_wake(ops))
		return;
	/* N2: only the raiser that flips 1 -> 0 wakes; pairs with W2. */
	if (evt_xchg_fenced32(&wt->sleeping, 0) != 1)
		return;
	if (counters)
		evt_count(&counters->wakes, 1);
	ops_wake(ops, ctx, dom, waiter, &wt->sleeping);
}

int pvio_evtchn_notify(struct pvio_evtchn *h, uint32_t port)
{
	if (!handle_ok(h) || port >= PVIO_EVTCHN_NR_PORTS)
		return -EINVAL;
	struct pvio_evtchn_region *r = h->region;
	/* P2: acquire; pairs with P1 in the control operations. This one
	 * word is the cached binding: state, remote domain, remote port. */
	uint64_t e = evt_load_acquire64(&h->ports->entry[port]);

	switch (entry_state(e)) {
	case PVIO_EVTCHN_PORT_INTERDOMAIN:
		break;
	case PVIO_EVTCHN_PORT_UNBOUND:
		return -ENOTCONN;
	default:
		return -EINVAL;
	}
	pvio_domid_t rd = entry_dom(e);
	uint32_t rp = entry_port(e);
	if (rd >= r->nr_domains || !port_valid(rp))
		return -ENOTCONN; /* a corrupted entry: never index with it */
	struct pvio_evtchn_shared *rs = region_shared(r, rd);

	evt_count(&h->shared->sent, 1);
	/* N0 (store half): pairs with U0 in pvio_evtchn_unmask().
	 * B2 (store half): the event is visible before we read the routing. */
	uint64_t old = evt_or_fenced64(&rs->pending[port_word(rp)], port_bit(rp));
	if (old & port_bit(rp)) {
		/* Coalesced: whoever set the bit raises it (or unmask, or
		 * bind_waiter, will). */
		evt_count(&h->shared->coalesced, 1);
		return 0;
	}
	/* B2 (load half): the waiter the remote port is routed to, from the
	 * remote port's own entry (written only by control operations and
	 * bind_waiter, so it stays cached); pairs with B1 in bind_waiter(). */
	uint64_t re = evt_load_fenced64(&region_table(r, rd)->entry[rp]);
	evt_raise(r, rd, rp, entry_waiter(re), h->ops, h->ops_ctx, h->shared);
	return 0;
}

int pvio_evtchn_mask(struct pvio_evtchn *h, uint32_t port)
{
	if (!handle_ok(h) || !port_valid(port))
		return -EINVAL;
	evt_or_fenced64(&h->shared->mask[port_word(port)], port_bit(port));
	return 0;
}

int pvio_evtchn_unmask(struct pvio_evtchn *h, uint32_t port)
{
	if (!handle_ok(h) || !port_valid(port))
		return -EINVAL;
	struct pvio_evtchn_shared *s = h->shared;
	uint32_t w = port_word(port);

	/* U0: clear the mask, then (seq_cst) look at pending; pairs with N0
	 * in pvio_evtchn_notify(). */
	uint64_t old = evt_and_fenced64(&s->mask[w], ~port_bit(port));
	if ((old & port_bit(port)) && (evt_load_fenced64(&s->pending[w]) & port_bit(port))) {
		/* B2 (load half): the mask is clear before we read the
		 * routing; pairs with B1 in pvio_evtchn_bind_waiter(). */
		uint64_t e = evt_load_fenced64(&h->ports->entry[port]);
		evt_raise(h->region, h->domid, port, entry_waiter(e), h->ops, h->ops_ctx, s);
	}
	return 0;
}

int pvio_evtchn_test_and_clear(struct pvio_evtchn *h, uint32_t port)
{
	if (!handle_ok(h) || !port_valid(port))
		return -EINVAL;
	uint64_t old = evt_and_fenced64(&h->shared->pending[port_word(port)],
					~port_bit(port));
	if (!(old & port_bit(port)))
		return 0;
	evt_count(&h->shared->received, 1);
	return 1;
}

/* Lowest set bit of a non-zero word. */
static uint32_t lowest_bit(uint64_t x)
{
	return (uint32_t)__builtin_ctzll(x);
}

/* Take up to max pending unmasked ports of h routed to waiter v. */
static uint32_t consume(struct pvio_evtchn *h, uint32_t v, uint32_t *ports, uint32_t max)
{
	struct pvio_evtchn_shared *s = h->shared;
	const struct pvio_evtchn_port_table *t = h->ports;
	struct pvio_evtchn_waiter *wt = region_waiter(h->region, h->domid, v);
	/* S1: take the selector; acq_rel pairs with N1 in evt_raise(). */
	uint64_t sel = evt_xchg_acq_rel64(&wt->pending_sel, 0);
	uint32_t n = 0;

	while (sel) {
		uint32_t w = lowest_bit(sel);
		uint64_t want = evt_load_relaxed64(&s->pending[w]) &
				~evt_load_relaxed64(&s->mask[w]);
		uint64_t take = 0;
		for (uint32_t room = max - n; want && room;) {
			uint64_t bit = want & -want; /* lowest pending unmasked port */
			want &= want - 1;
			/* S2: acquire; only ports routed to this waiter. Ports
			 * of other waiters stay pending for them: their raise
			 * set their own selector. */
			uint64_t e = evt_load_acquire64(&t->entry[w * PVIO_EVTCHN_WORD_BITS +
								  lowest_bit(bit)]);
			if (entry_waiter(e) != v)
				continue;
			take |= bit;
			room--;
		}
		if (take) {
			/* C1: clear exactly the bits we report. */
			uint64_t got = evt_and_fenced64(&s->pending[w], ~take) & take;
			while (got) {
				ports[n++] = w * PVIO_EVTCHN_WORD_BITS + lowest_bit(got);
				got &= got - 1;
			}
		}
		if (want) {
			/* ports[] is full: leave this word and the rest raised
			 * (what is left may be other waiters' ports only: then
			 * the next scan finds nothing, which is harmless). */
			evt_or_fenced64(&wt->pending_sel, sel);
			break;
		}
		sel &= sel - 1;
	}
	if (n)
		evt_count(&wt->received, n);
	return n;
}

int pvio_evtchn_consume_on(struct pvio_evtchn *h, uint32_t waiter, uint32_t *ports,
			   uint32_t max)
{
	if (!handle_ok(h) || !ports || max == 0 || waiter >= PVIO_EVTCHN_NR_WAITERS)
		return -EINVAL;
	if (!evt_load_relaxed64(&region_waiter(h->region, h->domid, waiter)->pending_sel))
		return 0;
	return (int)consume(h, waiter, ports, max);
}

int pvio_evtchn_consume(struct pvio_evtchn *h, uint32_t *ports, uint32_t max)
{
	return pvio_evtchn_consume_on(h, 0, ports, max);
}

static uint64_t deadline_after(uint64_t now, uint64_t ns)
{
	if (ns == PVIO_EVTCHN_FOREVER || now + ns < now)
		return PVIO_EVTCHN_FOREVER;
	return now + ns;
}

/* Spin on waiter v's selector until something is raised or until; 1 if
 * raised. */
static bool spin_until(struct pvio_evtchn *h, uint32_t v, uint64_t until)
{
	const _Atomic uint64_t *sel = &region_waiter(h->region, h->domid, v)->pending_sel;

	for (uint32_t i = 1;; i++) {
		if (evt_load_relaxed64(sel))
			return true;
		pvio_cpu_relax();
		if ((i & 63) == 0 && until != PVIO_EVTCHN_FOREVER &&
		    h->ops->now_ns(h->ops_ctx) >= until)
			return evt_load_relaxed64(sel) != 0;
	}
}

#define ALREADY_RAISED 1

/* One attempt to sleep as waiter v: ALREADY_RAISED if an event is
 * raised, else what the platform's sleep returned (0, -ETIMEDOUT, -EINTR,
 * another -errno). */
static int sleep_once(struct pvio_evtchn *h, uint32_t v, uint64_t deadline)
{
	struct pvio_evtchn_waiter *wt = region_waiter(h->region, h->domid, v);
	const struct pvio_evtchn_wait_ops *ops = h->ops;

	/* W1: announce the sleep, then (seq_cst) re-check the selector;
	 * pairs with N1 in evt_raise() by a raiser of a port routed to v. */
	pvio_store_fenced(&wt->sleeping, 1);
	if (evt_load_fenced64(&wt->pending_sel)) {
		pvio_store_relaxed(&wt->sleeping, 0);
		return ALREADY_RAISED;
	}
	evt_count(&wt->sleeps, 1);
	/* W2: the platform sleeps only while sleeping is still 1; pairs
	 * with N2 in evt_raise(). */
	int rc = ops->sleep_on
		 ? ops->sleep_on(h->ops_ctx, h->domid, v, &wt->sleeping, 1, deadline)
		 : ops->sleep(h->ops_ctx, h->domid, &wt->sleeping, 1, deadline);
	pvio_store_relaxed(&wt->sleeping, 0);
	return rc;
}

int pvio_evtchn_wait_on(struct pvio_evtchn *h, uint32_t v,
			enum pvio_evtchn_wait_mode mode, uint64_t timeout_ns,
			uint32_t *ports, uint32_t max)
{
	if (!handle_ok(h) || !ports || max == 0 || v >= PVIO_EVTCHN_NR_WAITERS ||
	    (mode != PVIO_EVTCHN_BLOCK && mode != PVIO_EVTCHN_POLL &&
	     mode != PVIO_EVTCHN_ADAPTIVE))
		return -EINVAL;
	uint32_t n = consume(h, v, ports, max);
	if (n)
		return (int)n;
	if (timeout_ns == 0)
		return -ETIMEDOUT;

	uint64_t now = h->ops->now_ns(h->ops_ctx);
	uint64_t deadline = deadline_after(now, timeout_ns);

	if (mode != PVIO_EVTCHN_BLOCK) {
		uint64_t until = deadline;
		if (mode == PVIO_EVTCHN_ADAPTIVE) {
			uint64_t spin_end = deadline_after(now, h->spin_ns);
			if (spin_end < until)
				until = spin_end;
		}
		while (h->spin_ns || mode == PVIO_EVTCHN_POLL) {
			if (!spin_until(h, v, until))
				break;
			n = consume(h, v, ports, max);
			if (n)
				return (int)n;
			/* Raised but nothing unmasked pending: spin on. */
		}
		if (mode == PVIO_EVTCHN_POLL)
			return -ETIMEDOUT;
	}

	for (;;) {
		int rc = sleep_once(h, v, deadline);
		n = consume(h, v, ports, max);
		if (n)
			return (int)n;
		if (rc == -ETIMEDOUT ||
		    (deadline != PVIO_EVTCHN_FOREVER && h->ops->now_ns(h->ops_ctx) >= deadline))
			return -ETIMEDOUT;
		if (rc < 0 && rc != -EINTR)
			return rc; /* the platform cannot sleep this waiter */
		if (rc != ALREADY_RAISED)
			evt_count(&region_waiter(h->region, h->domid, v)->spurious, 1);
	}
}

int pvio_evtchn_wait(struct pvio_evtchn *h, enum pvio_evtchn_wait_mode mode,
		     uint64_t timeout_ns, uint32_t *ports, uint32_t max)
{
	return pvio_evtchn_wait_on(h, 0, mode, timeout_ns, ports, max);
}
