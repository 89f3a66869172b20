/* SPDX-License-Identifier: MIT */
/*
 * fuzz_store_wire: both ends of the store protocol, fed hostile bytes.
 *
 * Byte 0, bit 0 picks the side.
 *
 * The daemon (platform/host/xenstored: server.c's framing, ops.c's
 * request handling, tree.c's tree and transactions): a fresh daemon per
 * input with three connections adopted over socketpairs, dom0
 * (privileged) and guests 1 and 2, exactly as hostd hands domains their
 * store connection. The script sends messages on any of them: well-framed
 * ones with a fuzzer type, transaction id and payload (a transaction id
 * selector can name one the daemon handed out, so transactions get
 * exercised), or raw byte chunks (broken framing, oversized lengths,
 * split headers). The daemon steps after each; every byte it sends back is
 * parsed and checked: whole messages, length <= 4096, a reply's req_id
 * echoing a request on that connection (or 0 for a watch event), an error
 * reply's payload a NUL-terminated errno name. A connection the daemon
 * closes for abuse is re-adopted.
 *
 * The client (xenbus/: xs_client.c's reply reader, xs_ops.c's reply
 * parsers, xenbus_state.c's state machine and state-value parsing,
 * xenbus_device.c's feature keys) over a scripted transport: each call the
 * script makes gets the replies the script supplies next (right or wrong
 * type, right or stale req_id, watch events in between, any payload,
 * delivered whole or a few bytes per read); the script running dry is a
 * timeout. Checked: results are NUL-terminated within their buffers and
 * within the sizes the caller gave, counts agree with what was returned.
 * Input format: fuzz_formats.h (SW_*).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <pvio/xenbus.h>
#include <pvio/xenstored.h>
#include <pvio/xs_wire.h>

#include "fuzz_formats.h"
#include "fuzz_util.h"

/* ---- the daemon ---------------------------------------------------------------- */

#define NCONN 3

struct dconn {
	int fd;                  /* our end; -1 when closed */
	uint16_t domid;
	uint32_t next_req;
	uint32_t txids[4];       /* the latest transaction ids handed out */
	uint32_t ntx;
	unsigned char in[sizeof(struct pvio_xs_msg_hdr) + PVIO_XS_PAYLOAD_MAX];
	uint32_t in_have;
	/* Requests sent and not yet answered, in order (the daemon answers
	 * each connection's requests in the order it got them). */
	struct { uint32_t type, req_id; } fifo[1024];
	uint32_t fifo_head, fifo_count;
	bool fifo_lost;          /* overflowed: stop checking */
	/* Framing of what we sent (raw chunks too), to know each req_id's
	 * type: header bytes gathered, payload bytes still to skip. */
	unsigned char out_hdr[sizeof(struct pvio_xs_msg_hdr)];
	uint32_t out_hdr_have, out_skip;
};

/* Track the request stream we send, message by message. */
static void dconn_sent(struct dconn *c, const unsigned char *b, size_t len)
{
	while (len > 0) {
		if (c->out_skip) {
			size_t k = len < c->out_skip ? len : c->out_skip;

			c->out_skip -= (uint32_t)k;
			b += k;
			len -= k;
			continue;
		}
		c->out_hdr[c->out_hdr_have++] = *b++;
		len--;
		if (c->out_hdr_have == sizeof(c->out_hdr)) {
			struct pvio_xs_msg_hdr h;

			memcpy(&h, c->out_hdr, sizeof(h));
			if (c->fifo_count == 1024) {
				c->fifo_lost = true;
			} else {
				uint32_t i = (c->fifo_head + c->fifo_count++) % 1024;

				c->fifo[i].type = h.type;
				c->fifo[i].req_id = h.req_id;
			}
			c->out_skip = h.len;
			c->out_hdr_have = 0;
		}
	}
}

static void dconn_open(struct pvio_xenstored *srv, struct dconn *c, uint16_t domid)
{
	int sv[2];

	FZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	FZ_CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	c->fd = sv[0];
	c->domid = domid;
	c->in_have = 0;
	c->ntx = 0;
	c->out_hdr_have = c->out_skip = 0;
	c->fifo_head = c->fifo_count = 0;
	c->fifo_lost = false;
	FZ_CHECK(pvio_xenstored_adopt_fd(srv, sv[1], domid) == 0);
}

/* Parse what the daemon sent; false when the connection is gone. */
static bool dconn_drain(struct dconn *c)
{
	const size_t hl = sizeof(struct pvio_xs_msg_hdr);

	for (;;) {
		ssize_t n = recv(c->fd, c->in + c->in_have, sizeof(c->in) - c->in_have,
				 MSG_DONTWAIT);

		if (n == 0)
			return false;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		c->in_have += (uint32_t)n;
		while (c->in_have >= hl) {
			struct pvio_xs_msg_hdr h;
			const char *p = (const char *)c->in + hl;

			memcpy(&h, c->in, hl);
			FZ_CHECK(h.len <= PVIO_XS_PAYLOAD_MAX);
			if (c->in_have < hl + h.len)
				break;
			if (h.type == PVIO_XS_WATCH_EVENT) {
				FZ_CHECK(h.req_id == 0);
				/* "path\0token\0" */
				FZ_CHECK(h.len >= 2 && p[h.len - 1] == '\0');
			} else {
				/* The answer to the oldest open request. */
				FZ_CHECK(c->fifo_lost || c->fifo_count > 0);
				if (!c->fifo_lost) {
					FZ_CHECK(h.req_id == c->fifo[c->fifo_head].req_id);
					FZ_CHECK(h.type == PVIO_XS_ERROR ||
						 h.type == c->fifo[c->fifo_head].type);
					c->fifo_head = (c->fifo_head + 1) % 1024;
					c->fifo_count--;
				}
				if (h.type == PVIO_XS_ERROR)
					FZ_CHECK(h.len >= 2 && p[h.len - 1] == '\0' &&
						 pvio_xs_error_errno(p) < 0);
				if (h.type == PVIO_XS_TRANSACTION_START && h.len > 0 &&
				    p[h.len - 1] == '\0') {
					uint64_t id;

					if (pvio_xs_parse_uint(p, UINT32_MAX, &id) == 0)
						c->txids[c->ntx++ % 4] = (uint32_t)id;
				}
			}
			memmove(c->in, c->in + hl + h.len, c->in_have - hl - h.len);
			c->in_have -= hl + (uint32_t)h.len;
		}
	}
}

static void dsend(struct pvio_xenstored *srv, struct dconn *c, const void *buf,
		  size_t len)
{
	const unsigned char *b = buf;
	int spins = 0;

	while (len > 0 && c->fd >= 0) {
		ssize_t n = send(c->fd, b, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			dconn_sent(c, b, (size_t)n);
			b += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return; /* closed by the daemon; noticed by the drain */
		/* Full: let the daemon read, and read its replies. */
		FZ_CHECK(spins++ < 10000);
		(void)pvio_xenstored_step(srv, 0);
		if (!dconn_drain(c))
			return;
	}
}

static void daemon_run(struct fz *in)
{
	struct pvio_xenstored *srv;
	struct pvio_xenstored_config cfg;
	struct dconn conn[NCONN];
	uint32_t ops = 0;

	pvio_xenstored_config_default(&cfg);
	/* Small limits, so the fuzzer reaches them. */
	cfg.max_entries_per_domain = 64;
	cfg.max_watches_per_conn = 8;
	cfg.max_transactions_per_conn = 3;
	cfg.max_nodes_per_transaction = 32;
	cfg.max_queued_events_per_conn = 16;
	cfg.release_removes_domain_path = fz_u8(in) & 1;
	FZ_CHECK(pvio_xenstored_create(&srv, NULL, &cfg) == 0);
	FZ_CHECK(pvio_xenstored_introduce_domain(srv, 1) == 0);
	FZ_CHECK(pvio_xenstored_introduce_domain(srv, 2) == 0);
	memset(conn, 0, sizeof(conn));
	for (int i = 0; i < NCONN; i++)
		dconn_open(srv, &conn[i], (uint16_t)i);

	while (fz_left(in) > 0 && ops++ < 256) {
		struct dconn *c = &conn[fz_u8(in) % NCONN];
		uint8_t type = fz_u8(in);
		unsigned char msg[sizeof(struct pvio_xs_msg_hdr) + PVIO_XS_PAYLOAD_MAX];

		if (type == SW_RAW) {
			uint16_t len = fz_u16(in) % sizeof(msg);

			fz_bytes(in, msg, len);
			dsend(srv, c, msg, len);
		} else {
			struct pvio_xs_msg_hdr h;
			uint8_t txsel = fz_u8(in);
			uint16_t len = fz_u16(in) % (PVIO_XS_PAYLOAD_MAX + 1);

			h.type = type;
			h.req_id = ++c->next_req;
			if (txsel == 0)
				h.tx_id = 0;
			else if (txsel < 8)
				h.tx_id = c->txids[txsel % 4];
			else
				h.tx_id = fz_u32(in);
			h.len = len;
			memcpy(msg, &h, sizeof(h));
			fz_bytes(in, msg + sizeof(h), len);
			dsend(srv, c, msg, sizeof(h) + len);
		}
		for (int k = 0; k < 4; k++)
			(void)pvio_xenstored_step(srv, 0);
		for (int i = 0; i < NCONN; i++) {
			if (!dconn_drain(&conn[i])) {
				/* Closed for abuse: the domain reconnects. */
				close(conn[i].fd);
				dconn_open(srv, &conn[i], conn[i].domid);
			}
		}
	}
	for (int i = 0; i < NCONN; i++)
		close(conn[i].fd);
	(void)pvio_xenstored_step(srv, 0);
	if (fz_u8(in) & 1) {
		(void)pvio_xenstored_release_domain(srv, 1);
		(void)pvio_xenstored_release_domain(srv, 2);
	}
	pvio_xenstored_destroy(srv);
}

/* ---- the client --------------------------------------------------------------- */

struct script {
	struct fz *in;
	uint32_t last_req, last_type;
	unsigned char out[sizeof(struct pvio_xs_msg_hdr) + PVIO_XS_PAYLOAD_MAX];
	size_t out_len, out_off;
	uint32_t chunk;          /* bytes per recv, 0: all */
	uint32_t replies;
};

static int st_send(void *ctx, const void *buf, size_t len)
{
	struct script *s = ctx;
	struct pvio_xs_msg_hdr h;

	FZ_CHECK(len >= sizeof(h) && len <= sizeof(s->out));
	memcpy(&h, buf, sizeof(h));
	FZ_CHECK(h.len == len - sizeof(h));
	s->last_req = h.req_id;
	s->last_type = h.type;
	return 0;
}

/* The next scripted reply into out[]; false when the script is dry. */
static bool st_next(struct script *s)
{
	struct pvio_xs_msg_hdr h;
	uint8_t sel, flags;
	uint16_t len;

	if (fz_left(s->in) == 0 || s->replies++ > 64)
		return false;
	sel = fz_u8(s->in);
	flags = fz_u8(s->in);
	len = fz_u16(s->in) % (PVIO_XS_PAYLOAD_MAX + 1);
	h.type = sel == 0 ? s->last_type : sel == 1 ? PVIO_XS_ERROR :
		 sel == 2 ? PVIO_XS_WATCH_EVENT : sel;
	h.req_id = flags & 1 ? fz_u32(s->in) :
		   h.type == PVIO_XS_WATCH_EVENT ? 0 : s->last_req;
	h.tx_id = 0;
	/* A lying length now and then (the client must refuse > 4096). */
	h.len = flags & 2 ? fz_u16(s->in) : len;
	memcpy(s->out, &h, sizeof(h));
	fz_bytes(s->in, s->out + sizeof(h), len);
	s->out_len = sizeof(h) + len;
	s->out_off = 0;
	s->chunk = flags & 4 ? 1 + (flags >> 4) : 0;
	return true;
}

static int st_recv(void *ctx, void *buf, size_t len, int timeout_ms)
{
	struct script *s = ctx;
	size_t n;

	(void)timeout_ms;
	FZ_CHECK(len > 0);
	if (s->out_off == s->out_len && !st_next(s))
		return -ETIMEDOUT;
	n = s->out_len - s->out_off;
	if (n > len)
		n = len;
	if (s->chunk && n > s->chunk)
		n = s->chunk;
	memcpy(buf, s->out + s->out_off, n);
	s->out_off += n;
	return (int)n;
}

static const struct pvio_xs_transport_ops st_ops = {
	.send = st_send,
	.recv = st_recv,
};

static void check_str(const char *buf, size_t size, size_t len)
{
	FZ_CHECK(len < size);
	FZ_CHECK(buf[len] == '\0');
}

static void client_run(struct fz *in)
{
	static struct pvio_xs_event events[4], ev;
	static char buf[PVIO_XS_PAYLOAD_MAX + 8];
	struct pvio_xenbus_device dev;
	struct script s;
	struct pvio_xs xs;
	bool attached = false;
	uint32_t ops = 0;

	memset(&s, 0, sizeof(s));
	s.in = in;
	FZ_CHECK(pvio_xs_init(&xs, &st_ops, &s, events, 4) == 0);
	pvio_xs_set_timeout(&xs, 0);
	memset(&dev, 0, sizeof(dev));

	while (fz_left(in) > 0 && ops++ < 64) {
		uint8_t call = fz_u8(in);
		size_t size = 1 + fz_u16(in) % sizeof(buf), len = 0;
		pvio_xs_tx_t t = fz_u8(in) & 1 ? 0 : 7;
		unsigned nr = 0;
		uint64_t v;
		int r;

		memset(buf, 0x7f, sizeof(buf));
		switch (call % 16) {
		case 0:
			r = pvio_xs_read(&xs, t, "device/vbd/51712/state", buf, size, &len);
			if (r == 0)
				check_str(buf, size, len);
			break;
		case 1:
			r = pvio_xs_directory(&xs, t, "backend/vbd", buf, size, &nr);
			if (r == 0) {
				/* nr names, each NUL-terminated, inside size. */
				size_t off = 0;

				for (unsigned i = 0; i < nr; i++) {
					const char *e = memchr(buf + off, '\0', size - off);

					FZ_CHECK(e != NULL);
					off = (size_t)(e - buf) + 1;
				}
			}
			break;
		case 2: {
			struct pvio_xs_perm perms[4];

			r = pvio_xs_get_perms(&xs, t, "/local/domain/1", perms, 4, &nr);
			if (r == 0)
				FZ_CHECK(nr <= 4);
			break;
		}
		case 3: {
			pvio_xs_tx_t nt = 0;

			(void)pvio_xs_transaction_start(&xs, &nt);
			break;
		}
		case 4:
			(void)pvio_xs_transaction_end(&xs, t, fz_u8(in) & 1);
			break;
		case 5:
			(void)pvio_xs_watch(&xs, "backend", "tok");
			break;
		case 6:
			r = pvio_xs_next_event(&xs, &ev, 0);
			if (r > 0 || r == 0) {
				/* An event's path and token are inside it. */
				if (r > 0) {
					FZ_CHECK(ev.len <= PVIO_XS_PAYLOAD_MAX);
					FZ_CHECK(strlen(pvio_xs_event_path(&ev)) < ev.len);
				}
			}
			break;
		case 7:
			(void)pvio_xs_read_uint(&xs, t, "ring-ref", fz_u32(in), &v);
			break;
		case 8:
			r = pvio_xs_get_domain_path(&xs, (pvio_domid_t)fz_u8(in), buf, size);
			if (r == 0)
				FZ_CHECK(memchr(buf, '\0', size) != NULL);
			break;
		case 9: {
			bool f = false;

			(void)pvio_xenbus_read_feature(&xs, t, "backend/vbd/1/51712",
						       "feature-persistent", fz_u8(in) & 1, &f);
			break;
		}
		case 10:
			if (!attached) {
				if (fz_u8(in) & 1)
					r = pvio_xenbus_frontend_attach(&dev, &xs, "vbd", 1, 51712);
				else
					r = pvio_xenbus_backend_attach(&dev, &xs, "vbd", 0, 1, 51712);
				attached = r == 0;
			}
			break;
		case 11:
			if (attached) {
				enum pvio_xenbus_state st;

				r = pvio_xenbus_read_otherend_state(&dev, &st);
				if (r == 0)
					FZ_CHECK(st <= PVIO_XENBUS_RECONFIGURED);
			}
			break;
		case 12:
			if (attached)
				(void)pvio_xenbus_switch_state(&dev,
					(enum pvio_xenbus_state)(fz_u8(in) % 10));
			break;
		case 13:
			if (attached) {
				enum pvio_xenbus_state st;

				(void)pvio_xenbus_wait_otherend(&dev, fz_u16(in), 0, &st);
			}
			break;
		case 14:
			if (attached)
				(void)pvio_xenbus_otherend_read_uint(&dev, "sectors",
								     UINT64_MAX, &v);
			break;
		case 15:
			if (attached) {
				(void)pvio_xenbus_detach(&dev);
				attached = false;
			}
			break;
		}
		/* A broken client stays broken; nothing more to learn. */
		if (xs.error)
			break;
	}
	if (attached)
		(void)pvio_xenbus_detach(&dev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in;

	fz_init(&in, data, size);
	if (fz_u8(&in) & 1)
		client_run(&in);
	else
		daemon_run(&in);
	return 0;
}
