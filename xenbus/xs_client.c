/* SPDX-License-Identifier: MIT */
/*
 * The store client's message path: framing over the transport, one request
 * in flight, replies matched by req_id, and the bounded watch-event queue.
 * Freestanding.
 */
#include "common.h"

int pvio_xs_init(struct pvio_xs *xs, const struct pvio_xs_transport_ops *ops,
		 void *ctx, struct pvio_xs_event *events, uint32_t nr_events)
{
	if (xs == NULL || ops == NULL || ops->send == NULL ||
	    ops->recv == NULL || events == NULL || nr_events == 0)
		return -EINVAL;
	xs->ops = ops;
	xs->ctx = ctx;
	xs->timeout_ms = -1;
	xs->error = 0;
	xs->next_req_id = 1;
	xs->next_seq = 0;
	xs->q = events;
	xs->q_cap = nr_events;
	xs->q_count = 0;
	xs->event_fn = NULL;
	xs->event_arg = NULL;
	xs->stats = (struct pvio_xs_stats){ 0 };
	xs->rx_have = 0;
	for (uint32_t i = 0; i < nr_events; i++)
		events[i].len = 0;      /* len 0 marks a free slot */
	return 0;
}

void pvio_xs_set_timeout(struct pvio_xs *xs, int timeout_ms)
{
	xs->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
}

const char *pvio_xs_event_token(const struct pvio_xs_event *ev)
{
	return ev->data + xb_strlen(ev->data) + 1;
}

/* ---- deadlines ---------------------------------------------------------- */

struct xs_deadline {
	bool forever;
	bool clocked;
	uint64_t end_ms;
	int timeout_ms;
};

static void deadline_start(struct pvio_xs *xs, struct xs_deadline *d,
			   int timeout_ms)
{
	d->forever = timeout_ms < 0;
	d->timeout_ms = timeout_ms;
	d->clocked = xs->ops->now_ms != NULL;
	d->end_ms = d->clocked && !d->forever ?
		xs->ops->now_ms(xs->ctx) + (uint64_t)timeout_ms : 0;
}

/* Milliseconds left for the next wait (-1 forever, 0 expired). */
static int deadline_left(struct pvio_xs *xs, const struct xs_deadline *d)
{
	uint64_t now;

	if (d->forever)
		return -1;
	if (!d->clocked)
		return d->timeout_ms;
	now = xs->ops->now_ms(xs->ctx);
	if (now >= d->end_ms)
		return 0;
	return d->end_ms - now > 0x7fffffff ? 0x7fffffff :
		(int)(d->end_ms - now);
}

/* ---- receiving ---------------------------------------------------------- */

static int xs_break(struct pvio_xs *xs, int err)
{
	if (xs->error == 0)
		xs->error = err;
	return xs->error;
}

/*
 * Receive one whole message into xs->rx (payload NUL-terminated), keeping a
 * partial one across timeouts. Returns 0, -ETIMEDOUT, or a sticky error.
 */
static int xs_recv_msg(struct pvio_xs *xs, const struct xs_deadline *d)
{
	unsigned char *raw = (unsigned char *)&xs->rx;
	const size_t hdr_len = sizeof(struct pvio_xs_msg_hdr);

	for (;;) {
		size_t need = hdr_len;
		int n;

		if (xs->rx_have >= hdr_len) {
			if (xs->rx.hdr.len > PVIO_XS_PAYLOAD_MAX)
				return xs_break(xs, -EPROTO);
			need = hdr_len + xs->rx.hdr.len;
			if (xs->rx_have == need)
				break;
		}
		n = xs->ops->recv(xs->ctx, raw + xs->rx_have,
				  need - xs->rx_have, deadline_left(xs, d));
		if (n == -ETIMEDOUT)
			return -ETIMEDOUT;
		if (n < 0)
			return xs_break(xs, n);
		if (n == 0 || (size_t)n > need - xs->rx_have)
			return xs_break(xs, -EPROTO); /* transport broke its contract */
		xs->rx_have += (size_t)n;
	}
	xs->rx.payload[xs->rx.hdr.len] = '\0';
	xs->rx_have = 0;
	return 0;
}

/* ---- the event queue ----------------------------------------------------- */

/* Queue the watch event in xs->rx. Malformed ones are counted and dropped. */
static void xs_queue_event(struct pvio_xs *xs)
{
	uint32_t len = xs->rx.hdr.len;
	const char *p = xs->rx.payload;
	size_t path_len = xb_strnlen(p, len);
	struct pvio_xs_event *free_slot = NULL;

	/* "path\0token\0": two strings, both terminated inside len. */
	if (path_len == 0 || path_len >= len ||
	    xb_strnlen(p + path_len + 1, len - path_len - 1) !=
		    len - path_len - 2) {
		xs->stats.events_malformed++;
		return;
	}
	for (uint32_t i = 0; i < xs->q_cap; i++) {
		struct pvio_xs_event *ev = &xs->q[i];

		if (ev->len == 0) {
			if (free_slot == NULL)
				free_slot = ev;
		} else if (ev->len == len && xb_memeq(ev->data, p, len)) {
			xs->stats.events_coalesced++;
			return;
		}
	}
	if (free_slot == NULL) {
		xs->stats.events_dropped++;
		return;
	}
	__builtin_memcpy(free_slot->data, p, len);
	free_slot->data[len] = '\0';
	free_slot->len = len;
	free_slot->seq = xs->next_seq++;
	xs->q_count++;
	xs->stats.events_queued++;
}

/* The oldest queued event (with token, if not NULL), or NULL. */
static struct pvio_xs_event *xs_oldest(struct pvio_xs *xs, const char *token)
{
	struct pvio_xs_event *best = NULL;

	for (uint32_t i = 0; i < xs->q_cap; i++) {
		struct pvio_xs_event *ev = &xs->q[i];

		if (ev->len == 0)
			continue;
		if (token != NULL && !xb_streq(pvio_xs_event_token(ev), token))
			continue;
		/* seq wraps: compare by distance from the next one. */
		if (best == NULL ||
		    (uint32_t)(ev->seq - xs->next_seq) <
			    (uint32_t)(best->seq - xs->next_seq))
			best = ev;
	}
	return best;
}

static void xs_slot_free(struct pvio_xs *xs, struct pvio_xs_event *ev)
{
	ev->len = 0;
	xs->q_count--;
}

void xs_purge_events(struct pvio_xs *xs, const char *path, const char *token)
{
	for (uint32_t i = 0; i < xs->q_cap; i++) {
		struct pvio_xs_event *ev = &xs->q[i];

		size_t n = xb_strlen(path);

		/* The watch's events: its token, its path or one below it. */
		if (ev->len != 0 && xb_streq(pvio_xs_event_token(ev), token) &&
		    xb_memeq(ev->data, path, n) &&
		    (ev->data[n] == '\0' || ev->data[n] == '/'))
			xs_slot_free(xs, ev);
	}
}

/*
 * Read messages until the deadline or until an event (with token, if not
 * NULL) is queued: queue events, discard replies (none is awaited).
 * Returns 0 (an event came, or the deadline passed), or a sticky error.
 */
static int xs_pump(struct pvio_xs *xs, const struct xs_deadline *d,
		   const char *token)
{
	for (;;) {
		int err = xs_recv_msg(xs, d);

		if (err == -ETIMEDOUT)
			return 0;
		if (err < 0)
			return err;
		if (xs->rx.hdr.type != PVIO_XS_WATCH_EVENT) {
			xs->stats.replies_stale++;
			continue;
		}
		xs_queue_event(xs);
		if (xs_oldest(xs, token) != NULL)
			return 0;
	}
}

int pvio_xs_next_event(struct pvio_xs *xs, struct pvio_xs_event *out,
		       int timeout_ms)
{
	struct pvio_xs_event *ev;

	if (xs->error)
		return xs->error;
	ev = xs_oldest(xs, NULL);
	if (ev == NULL) {
		struct xs_deadline d;
		int err;

		deadline_start(xs, &d, timeout_ms);
		err = xs_pump(xs, &d, NULL);
		if (err < 0)
			return err;
		ev = xs_oldest(xs, NULL);
	}
	if (ev == NULL)
		return 0;
	__builtin_memcpy(out->data, ev->data, ev->len + 1);
	out->len = ev->len;
	out->seq = ev->seq;
	xs_slot_free(xs, ev);
	return 1;
}

int pvio_xs_wait_token(struct pvio_xs *xs, const char *token, int timeout_ms)
{
	struct pvio_xs_event *ev;
	int found = 0;

	if (xs->error)
		return xs->error;
	if (xs_oldest(xs, token) == NULL) {
		struct xs_deadline d;
		int err;

		deadline_start(xs, &d, timeout_ms);
		err = xs_pump(xs, &d, token);
		if (err < 0)
			return err;
	}
	while ((ev = xs_oldest(xs, token)) != NULL) {
		xs_slot_free(xs, ev);
		found = 1;
	}
	return found;
}

void pvio_xs_set_event_handler(struct pvio_xs *xs, pvio_xs_event_fn fn,
			       void *arg)
{
	xs->event_fn = fn;
	xs->event_arg = arg;
}

int pvio_xs_dispatch(struct pvio_xs *xs, int timeout_ms)
{
	struct pvio_xs_event ev;
	int delivered = 0;
	int r;

	if (xs->event_fn == NULL)
		return -EINVAL;
	/* Wait only for the first; then drain what is queued. */
	while ((r = pvio_xs_next_event(xs, &ev,
				       delivered ? 0 : timeout_ms)) == 1) {
		xs->event_fn(xs->event_arg, pvio_xs_event_path(&ev),
			     pvio_xs_event_token(&ev));
		delivered++;
	}
	return r < 0 ? r : delivered;
}

/* ---- requests ---------------------------------------------------------- */

int xs_request(struct pvio_xs *xs, pvio_xs_tx_t t, enum pvio_xs_type type,
	       const struct xs_part *parts, unsigned nr_parts,
	       const char **reply, uint32_t *reply_len)
{
	struct xs_deadline d;
	size_t len = 0;
	uint32_t req_id;
	int err;

	if (xs->error)
		return xs->error;
	for (unsigned i = 0; i < nr_parts; i++) {
		if (parts[i].len > PVIO_XS_PAYLOAD_MAX - len)
			return -E2BIG;
		__builtin_memcpy(xs->tx.payload + len, parts[i].ptr,
				 parts[i].len);
		len += parts[i].len;
	}
	req_id = xs->next_req_id++;
	if (xs->next_req_id == 0)
		xs->next_req_id = 1;    /* 0 is what events carry */
	xs->tx.hdr.type = (uint32_t)type;
	xs->tx.hdr.req_id = req_id;
	xs->tx.hdr.tx_id = t;
	xs->tx.hdr.len = (uint32_t)len;
	err = xs->ops->send(xs->ctx, &xs->tx,
			    sizeof(struct pvio_xs_msg_hdr) + len);
	if (err < 0)
		return xs_break(xs, err);
	xs->stats.requests++;

	deadline_start(xs, &d, xs->timeout_ms);
	for (;;) {
		err = xs_recv_msg(xs, &d);
		if (err < 0)
			return err;
		if (xs->rx.hdr.type == PVIO_XS_WATCH_EVENT) {
			xs_queue_event(xs);
			continue;
		}
		if (xs->rx.hdr.req_id != req_id) {
			/* A reply to a request that timed out earlier. */
			xs->stats.replies_stale++;
			continue;
		}
		break;
	}
	if (xs->rx.hdr.type == PVIO_XS_ERROR)
		return pvio_xs_error_errno(xs->rx.payload);
	if (xs->rx.hdr.type != (uint32_t)type)
		return -EPROTO;
	if (reply != NULL)
		*reply = xs->rx.payload;
	if (reply_len != NULL)
		*reply_len = xs->rx.hdr.len;
	return 0;
}
