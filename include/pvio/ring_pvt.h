/* SPDX-License-Identifier: MIT */
/*
 * Inline fast paths of the ring. Include <pvio/ring.h>, not this file.
 *
 * Ordering points (each pair is labelled at both ends):
 *   R1 front_push stores req_prod (release)   pairs with A1 back_refresh
 *   R2 back_push stores rsp_prod (release)    pairs with A2 front_refresh
 *   F1 front_push: req_prod store, then req_event load  (store_fenced)
 *      pairs with F2 back_final_check: req_event store, then req_prod load
 *   F3 back_push: rsp_prod store, then rsp_event load
 *      pairs with F4 front_final_check: rsp_event store, then rsp_prod load
 * F1/F2 (and F3/F4) form Xen's "store; mb(); load" Dekker pair: either the
 * producer sees the consumer's new event index and kicks, or the consumer's
 * re-check sees the new producer index. Nothing else needs a full fence.
 */
#ifndef PVIO_RING_H
#error "include <pvio/ring.h>, not <pvio/ring_pvt.h>"
#endif
#ifndef PVIO_RING_PVT_H
#define PVIO_RING_PVT_H

#ifndef EPROTO
#define EPROTO 71
#endif
#ifndef ENOSPC
#define ENOSPC 28
#endif
#ifndef EINVAL
#define EINVAL 22
#endif

/*
 * After a message is copied out of its slot: the compiler must treat the
 * shared slot as changed from here on, so it can never serve a later use of
 * the copy by reading the slot again (a compiler-made double fetch: the
 * peer could rewrite the slot between the check and the use, XSA-155).
 * Emits no instruction.
 */
#define pvio_ring__copied() atomic_signal_fence(memory_order_seq_cst)

static inline void *pvio_ring__slot(unsigned char *slots, uint32_t nr_slots,
				    uint32_t slot_size, uint32_t idx)
{
	return slots + (size_t)(idx & (nr_slots - 1)) * slot_size;
}

/*
 * Newly published entries [from, to) will be read and then overwritten by
 * this side (a response reuses its request's slot, a request reuses a
 * consumed response's slot): fetch their lines for writing in one go, so
 * each costs one cache-line transfer instead of a transfer and an upgrade,
 * and the transfers overlap instead of following one another. A single
 * entry is left alone: there is nothing to overlap, it is read at once
 * anyway, and taking the line exclusive right behind the peer's write
 * measured ~25 ns slower per round trip with one request in flight.
 */
static inline void pvio_ring__prefetch(unsigned char *slots, uint32_t nr_slots,
				       uint32_t slot_size, uint32_t from,
				       uint32_t to)
{
	uint32_t step = slot_size >= 64 ? 1 : 64 / slot_size;

	if ((uint32_t)(to - from) < 2)
		return;
	for (uint32_t i = from; i != to; ) {
		const unsigned char *p = slots + (size_t)(i & (nr_slots - 1)) * slot_size;
		for (uint32_t off = 0; off < slot_size; off += 64)
			pvio_prefetch_for_write(p + off);
		i = (uint32_t)(to - i) > step ? i + step : to;
	}
}

/* Xen's notify rule: kick if the peer's event index lies in (old, new]. */
static inline bool pvio_ring_need_kick(uint32_t old, uint32_t new_prod,
				       uint32_t event)
{
	return (uint32_t)(new_prod - event) < (uint32_t)(new_prod - old);
}

/* ------------------------------------------------------------------ front */

/* Request slots the frontend may still fill before it must wait. */
static inline uint32_t pvio_ring_front_free_slots(const struct pvio_ring_front *f)
{
	return f->nr_slots - (f->req_prod_pvt - f->rsp_cons);
}

/*
 * The next free request slot, to be filled in place; it is published by the
 * next pvio_ring_front_push(). Returns NULL when the ring is full or broken.
 */
static inline void *pvio_ring_front_next_req(struct pvio_ring_front *f)
{
	if (f->error || f->req_prod_pvt - f->rsp_cons >= f->nr_slots)
		return NULL;
	return pvio_ring__slot(f->slots, f->nr_slots, f->slot_size,
			       f->req_prod_pvt++);
}

/*
 * Reserve up to max free request slots (it->first..), to be filled in
 * place and published by the next pvio_ring_front_push(). Slots of at
 * least len bytes. Returns it->n (0: the ring is full), -EINVAL or -EPROTO.
 */
static inline int pvio_ring_front_reserve_burst(struct pvio_ring_front *f,
						uint32_t max, size_t len,
						struct pvio_ring_burst *it)
{
	it->first = f->req_prod_pvt;
	it->n = 0;
	if (f->error)
		return f->error;
	if (len > f->slot_size)
		return -EINVAL;
	uint32_t n = f->nr_slots - (f->req_prod_pvt - f->rsp_cons);

	it->n = n < max ? n : max;
	f->req_prod_pvt += it->n;
	return (int)it->n;
}

/* Copy len bytes of req into the next slot. 0, -ENOSPC, -EINVAL, -EPROTO. */
static inline int pvio_ring_front_put_req(struct pvio_ring_front *f,
					  const void *req, size_t len)
{
	if (len > f->slot_size)
		return -EINVAL;
	if (f->error)
		return f->error;
	void *slot = pvio_ring_front_next_req(f);
	if (!slot)
		return -ENOSPC;
	__builtin_memcpy(slot, req, len);
	return 0;
}

/*
 * Publish every request filled since the last push (Xen's
 * RING_PUSH_REQUESTS_AND_CHECK_NOTIFY). Returns 1 if the backend must be
 * kicked, 0 if its event index says it will look anyway, -EPROTO if broken.
 */
static inline int pvio_ring_front_push(struct pvio_ring_front *f)
{
	uint32_t old = f->req_prod_pub, new_prod = f->req_prod_pvt;

	if (f->error)
		return f->error;
	if (old == new_prod)
		return 0;
	/* R1 + F1: the slots are visible before req_prod (pairs with A1), and
	 * req_prod before the req_event load below (pairs with F2). */
	pvio_store_fenced(&f->sring->req_prod, new_prod);
	f->req_prod_pub = new_prod;
	uint32_t event = pvio_load_fenced(&f->sring->req_event);
	f->stats.pushes++;
	if (pvio_ring_need_kick(old, new_prod, event)) {
		f->stats.kicks_sent++;
		return 1;
	}
	f->stats.kicks_avoided++;
	return 0;
}

int pvio_ring__front_fail(struct pvio_ring_front *f);

/* Re-read and check rsp_prod. Returns the unconsumed count or -EPROTO. */
static inline int pvio_ring__front_refresh(struct pvio_ring_front *f,
					   bool fenced)
{
	/* A2: pairs with R2 in pvio_ring_back_push(); F4 when fenced. */
	uint32_t prod = fenced ? pvio_load_fenced(&f->sring->rsp_prod)
			       : pvio_load_acquire(&f->sring->rsp_prod);
	/* A backend can answer only requests it was shown; anything else
	 * (too far ahead, or moved backwards, which wraps) is hostile. */
	if ((uint32_t)(prod - f->rsp_cons) > (uint32_t)(f->req_prod_pub - f->rsp_cons))
		return pvio_ring__front_fail(f);
	pvio_ring__prefetch(f->slots, f->nr_slots, f->slot_size,
			    f->rsp_prod_seen, prod);
	f->rsp_prod_seen = prod;
	return (int)(prod - f->rsp_cons);
}

/*
 * Responses published and not yet consumed; reads the shared index only
 * when every response seen so far is consumed. Returns >= 0 or -EPROTO.
 */
static inline int pvio_ring_front_unconsumed(struct pvio_ring_front *f)
{
	if (f->error)
		return f->error;
	if (f->rsp_prod_seen != f->rsp_cons)
		return (int)(f->rsp_prod_seen - f->rsp_cons);
	return pvio_ring__front_refresh(f, false);
}

/*
 * The next response's slot, consumed (rsp_cons moves past it), or NULL
 * when none is pending, the ring is broken or len exceeds a slot
 * (pvio_ring__front_none() then says which). For the get_rsp calls.
 */
static inline const void *pvio_ring__front_take(struct pvio_ring_front *f,
						size_t len)
{
	if (pvio_ring_front_unconsumed(f) <= 0 || len > f->slot_size)
		return NULL;
	return pvio_ring__slot(f->slots, f->nr_slots, f->slot_size,
			       f->rsp_cons++);
}

/* Why pvio_ring__front_take() gave NULL: -EPROTO, 0 (none) or -EINVAL. */
static inline int pvio_ring__front_none(const struct pvio_ring_front *f)
{
	/* error is 0 or negative; "< 0" lets the compiler see this never
	 * returns 1, so a caller's copy is known written when it gets 1. */
	if (f->error < 0)
		return f->error;
	return f->rsp_prod_seen == f->rsp_cons ? 0 : -EINVAL;
}

/*
 * Copy the next response (len bytes, at most the slot size) into out and
 * free its slot. Returns 1, 0 (none), -EINVAL or -EPROTO.
 */
static inline int pvio_ring_front_get_rsp(struct pvio_ring_front *f, void *out,
					  size_t len)
{
	const void *slot = pvio_ring__front_take(f, len);

	if (!slot)
		return pvio_ring__front_none(f);
	__builtin_memcpy(out, slot, len);
	pvio_ring__copied();
	return 1;
}

/*
 * Consume up to max pending responses at once (it->first..): copy each out
 * with the typed front_burst_rsp() before filling any request (their slots
 * are free again). Slots of at least len bytes. Returns it->n (0: none
 * pending), -EINVAL or -EPROTO.
 */
static inline int pvio_ring_front_take_burst(struct pvio_ring_front *f,
					     uint32_t max, size_t len,
					     struct pvio_ring_burst *it)
{
	int n = pvio_ring_front_unconsumed(f);

	it->first = f->rsp_cons;
	it->n = 0;
	if (n <= 0)
		return n;
	if (len > f->slot_size)
		return -EINVAL;
	it->n = (uint32_t)n < max ? (uint32_t)n : max;
	f->rsp_cons += it->n;
	return (int)it->n;
}

/*
 * Xen's RING_FINAL_CHECK_FOR_RESPONSES: if nothing is pending, ask to be
 * kicked at the next response and look once more. Call before sleeping.
 * Returns the pending count (> 0 means do not sleep), 0, or -EPROTO.
 */
static inline int pvio_ring_front_final_check(struct pvio_ring_front *f)
{
	int n = pvio_ring_front_unconsumed(f);

	if (n != 0)
		return n;
	uint32_t want = f->rsp_cons + 1;
	/* The event index is ours alone to write; when it already holds
	 * want, the fenced store that put it there precedes every later
	 * load, so the Dekker pair still holds without a second store. */
	if (f->rsp_event_set != want) {
		/* F4: pairs with F3 in pvio_ring_back_push(). */
		pvio_store_fenced(&f->sring->rsp_event, want);
		f->rsp_event_set = want;
		f->stats.events_armed++;
	}
	return pvio_ring__front_refresh(f, true);
}

/* ------------------------------------------------------------------- back */

int pvio_ring__back_fail(struct pvio_ring_back *b);

/*
 * Re-read and check req_prod. Returns the unconsumed count or -EPROTO.
 *
 * Nothing new, in lockstep (b->lockstep: our last two pushes were each
 * one response the frontend had asked to be kicked for, so it sends its
 * next request after reading that one): ask for the next request's slot
 * line for writing while we poll. The frontend takes it back to fill the
 * request, and our next poll fetches it again at the same time as the
 * header line with the new req_prod, instead of after it: one line
 * transfer off each round trip, 650 -> 560 ns when the two CPUs share no
 * cache, level when they do. A streaming frontend fills slots while we
 * poll, and a poll that pulled the slot it is filling would cost it a
 * transfer per request (batch 1, window 32: 29 -> 7 M round trips/s),
 * hence only in lockstep, and only from the second such push on: a
 * streaming frontend that waits now and then makes single kicked pushes,
 * rarely two in a row.
 */
static inline int pvio_ring__back_refresh(struct pvio_ring_back *b, bool fenced)
{
	/* A1: pairs with R1 in pvio_ring_front_push(); F2 when fenced. */
	uint32_t prod = fenced ? pvio_load_fenced(&b->sring->req_prod)
			       : pvio_load_acquire(&b->sring->req_prod);
	/* The frontend can reuse a slot only after reading its published
	 * response, so at most nr_slots requests are beyond rsp_prod_pub;
	 * and unconsumed ones are a subset of those (catches moving back). */
	uint32_t in_flight = prod - b->rsp_prod_pub;
	if (in_flight > b->nr_slots || (uint32_t)(prod - b->req_cons) > in_flight)
		return pvio_ring__back_fail(b);
	if (prod != b->req_cons)
		pvio_ring__prefetch(b->slots, b->nr_slots, b->slot_size,
				    b->req_prod_seen, prod);
	else if (b->lockstep >= 2)
		pvio_prefetch_for_write(pvio_ring__slot(b->slots, b->nr_slots,
							b->slot_size, prod));
	b->req_prod_seen = prod;
	return (int)(prod - b->req_cons);
}

/* Requests published and not yet consumed. Returns >= 0 or -EPROTO. */
static inline int pvio_ring_back_unconsumed(struct pvio_ring_back *b)
{
	if (b->error)
		return b->error;
	if (b->req_prod_seen != b->req_cons)
		return (int)(b->req_prod_seen - b->req_cons);
	return pvio_ring__back_refresh(b, false);
}

/* The back's pvio_ring__front_take(): the next request's slot, consumed. */
static inline const void *pvio_ring__back_take(struct pvio_ring_back *b,
					       size_t len)
{
	if (pvio_ring_back_unconsumed(b) <= 0 || len > b->slot_size)
		return NULL;
	return pvio_ring__slot(b->slots, b->nr_slots, b->slot_size,
			       b->req_cons++);
}

/* Why pvio_ring__back_take() gave NULL: -EPROTO, 0 (none) or -EINVAL. */
static inline int pvio_ring__back_none(const struct pvio_ring_back *b)
{
	/* error is 0 or negative; "< 0" lets the compiler see this never
	 * returns 1, so a caller's copy is known written when it gets 1. */
	if (b->error < 0)
		return b->error;
	return b->req_prod_seen == b->req_cons ? 0 : -EINVAL;
}

/*
 * Consume up to max pending requests at once (it->first..): copy each out
 * once with the typed back_burst_req() and validate the copy. Slots of at
 * least len bytes. Returns it->n (0: none pending), -EINVAL or -EPROTO.
 */
static inline int pvio_ring_back_take_burst(struct pvio_ring_back *b,
					    uint32_t max, size_t len,
					    struct pvio_ring_burst *it)
{
	int n = pvio_ring_back_unconsumed(b);

	it->first = b->req_cons;
	it->n = 0;
	if (n <= 0)
		return n;
	if (len > b->slot_size)
		return -EINVAL;
	it->n = (uint32_t)n < max ? (uint32_t)n : max;
	b->req_cons += it->n;
	return (int)it->n;
}

/*
 * Reserve up to max response slots (it->first..), one per consumed request
 * not yet answered, in order; filled in place and published by the next
 * pvio_ring_back_push(). Returns it->n, -EINVAL or -EPROTO.
 */
static inline int pvio_ring_back_reserve_burst(struct pvio_ring_back *b,
					       uint32_t max, size_t len,
					       struct pvio_ring_burst *it)
{
	it->first = b->rsp_prod_pvt;
	it->n = 0;
	if (b->error)
		return b->error;
	if (len > b->slot_size)
		return -EINVAL;
	uint32_t n = b->req_cons - b->rsp_prod_pvt;

	it->n = n < max ? n : max;
	b->rsp_prod_pvt += it->n;
	return (int)it->n;
}

/*
 * Copy the next request (len bytes) out of its slot into out: the only read
 * of that slot the backend makes, so a frontend rewriting it afterwards
 * cannot change what was validated. Returns 1, 0, -EINVAL or -EPROTO.
 */
static inline int pvio_ring_back_get_req(struct pvio_ring_back *b, void *out,
					 size_t len)
{
	const void *slot = pvio_ring__back_take(b, len);

	if (!slot)
		return pvio_ring__back_none(b);
	__builtin_memcpy(out, slot, len);
	pvio_ring__copied();
	return 1;
}

/*
 * The slot for the next response, to be filled in place and published by
 * pvio_ring_back_push(). NULL when every consumed request is answered.
 */
static inline void *pvio_ring_back_next_rsp(struct pvio_ring_back *b)
{
	if (b->error || b->rsp_prod_pvt == b->req_cons)
		return NULL;
	return pvio_ring__slot(b->slots, b->nr_slots, b->slot_size,
			       b->rsp_prod_pvt++);
}

/* Copy len bytes of rsp into the next response slot. 0, -ENOSPC, ... */
static inline int pvio_ring_back_put_rsp(struct pvio_ring_back *b,
					 const void *rsp, size_t len)
{
	if (len > b->slot_size)
		return -EINVAL;
	if (b->error)
		return b->error;
	void *slot = pvio_ring_back_next_rsp(b);
	if (!slot)
		return -ENOSPC;
	__builtin_memcpy(slot, rsp, len);
	return 0;
}

/* RING_PUSH_RESPONSES_AND_CHECK_NOTIFY. 1 kick, 0 none needed, -EPROTO. */
static inline int pvio_ring_back_push(struct pvio_ring_back *b)
{
	uint32_t old = b->rsp_prod_pub, new_prod = b->rsp_prod_pvt;

	if (b->error)
		return b->error;
	if (old == new_prod)
		return 0;
	/* R2 + F3: slots before rsp_prod (pairs with A2), rsp_prod before
	 * the rsp_event load (pairs with F4). */
	pvio_store_fenced(&b->sring->rsp_prod, new_prod);
	b->rsp_prod_pub = new_prod;
	uint32_t event = pvio_load_fenced(&b->sring->rsp_event);
	b->stats.pushes++;
	bool kick = pvio_ring_need_kick(old, new_prod, event);

	/* See pvio_ring__back_refresh(). */
	if (!kick || new_prod - old != 1)
		b->lockstep = 0;
	else if (b->lockstep < 2)
		b->lockstep++;
	if (kick) {
		b->stats.kicks_sent++;
		return 1;
	}
	b->stats.kicks_avoided++;
	return 0;
}

/* RING_FINAL_CHECK_FOR_REQUESTS. Returns pending count, 0, or -EPROTO. */
static inline int pvio_ring_back_final_check(struct pvio_ring_back *b)
{
	int n = pvio_ring_back_unconsumed(b);

	if (n != 0)
		return n;
	uint32_t want = b->req_cons + 1;
	if (b->req_event_set != want) {
		/* F2: pairs with F1 in pvio_ring_front_push(). */
		pvio_store_fenced(&b->sring->req_event, want);
		b->req_event_set = want;
		b->stats.events_armed++;
	}
	return pvio_ring__back_refresh(b, true);
}

#endif /* PVIO_RING_PVT_H */
