/* SPDX-License-Identifier: MIT */
/* The tests' store client and server fixture; see store_client.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "store_client.h"

static const struct {
	int err;
	const char *name;
} names[] = {
	{ EINVAL, "EINVAL" }, { EACCES, "EACCES" }, { EEXIST, "EEXIST" },
	{ EISDIR, "EISDIR" }, { ENOENT, "ENOENT" }, { ENOMEM, "ENOMEM" },
	{ ENOSPC, "ENOSPC" }, { EIO, "EIO" }, { ENOTEMPTY, "ENOTEMPTY" },
	{ ENOSYS, "ENOSYS" }, { EROFS, "EROFS" }, { EBUSY, "EBUSY" },
	{ EAGAIN, "EAGAIN" }, { EISCONN, "EISCONN" }, { E2BIG, "E2BIG" },
	{ EPERM, "EPERM" },
};

int tc_errno_of(const char *name)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i].name, name) == 0)
			return names[i].err;
	return 0;
}

int tc_open(struct tc *c, int fd)
{
	struct timeval tv = { .tv_sec = 60 };

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->next_req = 1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return 0;
}

void tc_close(struct tc *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->ev);
	c->ev = NULL;
}

int tc_send_raw(struct tc *c, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int tc_recv(struct tc *c, struct tc_msg *m)
{
	int r = recv_all(c->fd, &m->h, sizeof(m->h));

	if (r)
		return r;
	if (m->h.len > PVIO_XS_PAYLOAD_MAX)
		return -EPROTO;
	r = recv_all(c->fd, m->data, m->h.len);
	m->data[m->h.len] = '\0';
	return r;
}

static int queue_event(struct tc *c, const struct tc_msg *m)
{
	const char *path = m->data;
	size_t pl = strnlen(path, m->h.len);

	if (pl >= m->h.len || c->nev == TC_MAX_EVENTS)
		return -EPROTO;
	if (!c->ev) {
		c->ev = calloc(TC_MAX_EVENTS, sizeof(*c->ev));
		if (!c->ev)
			return -ENOMEM;
	}
	struct tc_event *e = &c->ev[(c->ev_head + c->nev) % TC_MAX_EVENTS];

	const char *tok = path + pl + 1;
	size_t tl = strnlen(tok, m->h.len - pl - 1);

	if (pl >= sizeof(e->path))
		pl = sizeof(e->path) - 1;
	if (tl >= sizeof(e->token))
		tl = sizeof(e->token) - 1;
	memcpy(e->path, path, pl);
	e->path[pl] = '\0';
	memcpy(e->token, tok, tl);
	e->token[tl] = '\0';
	c->nev++;
	return 0;
}

int tc_req(struct tc *c, uint32_t type, uint32_t tx, const void *payload,
	   uint32_t len, struct tc_msg *reply)
{
	struct {
		struct pvio_xs_msg_hdr h;
		char d[PVIO_XS_PAYLOAD_MAX];
	} out;
	struct tc_msg tmp;
	int r;

	if (!reply)
		reply = &tmp;
	if (len > sizeof(out.d))
		return -E2BIG;
	out.h.type = type;
	out.h.req_id = c->next_req++;
	out.h.tx_id = tx;
	out.h.len = len;
	if (len)
		memcpy(out.d, payload, len);
	r = tc_send_raw(c, &out, sizeof(out.h) + len);
	if (r)
		return r;
	for (;;) {
		r = tc_recv(c, reply);
		if (r)
			return r;
		if (reply->h.type == PVIO_XS_WATCH_EVENT) {
			r = queue_event(c, reply);
			if (r)
				return r;
			continue;
		}
		if (reply->h.req_id != out.h.req_id || reply->h.tx_id != tx)
			return -EPROTO;
		if (reply->h.type == PVIO_XS_ERROR) {
			int e = tc_errno_of(reply->data);

			return e ? -e : -EPROTO;
		}
		return reply->h.type == type ? 0 : -EPROTO;
	}
}

int tc_req_strs(struct tc *c, uint32_t type, uint32_t tx,
		struct tc_msg *reply, const char *const *args, int nargs)
{
	char buf[PVIO_XS_PAYLOAD_MAX];
	size_t off = 0;

	for (int i = 0; i < nargs; i++) {
		size_t l = strlen(args[i]) + 1;

		if (off + l > sizeof(buf))
			return -E2BIG;
		memcpy(buf + off, args[i], l);
		off += l;
	}
	return tc_req(c, type, tx, buf, (uint32_t)off, reply);
}

static int ack(int r, const struct tc_msg *m)
{
	if (r)
		return r;
	return (m->h.len == 3 && memcmp(m->data, "OK", 3) == 0) ? 0 : -EPROTO;
}

int tc_write(struct tc *c, uint32_t tx, const char *path, const char *value)
{
	char buf[PVIO_XS_PAYLOAD_MAX];
	size_t pl = strlen(path) + 1, vl = strlen(value);
	struct tc_msg m;

	if (pl + vl > sizeof(buf))
		return -E2BIG;
	memcpy(buf, path, pl);
	memcpy(buf + pl, value, vl);
	return ack(tc_req(c, PVIO_XS_WRITE, tx, buf, (uint32_t)(pl + vl), &m),
		   &m);
}

int tc_read(struct tc *c, uint32_t tx, const char *path, char *buf,
	    size_t size)
{
	struct tc_msg m;
	int r = tc_req_strs(c, PVIO_XS_READ, tx, &m, &path, 1);

	if (r)
		return r;
	snprintf(buf, size, "%.*s", (int)m.h.len, m.data);
	return 0;
}

int tc_mkdir(struct tc *c, uint32_t tx, const char *path)
{
	struct tc_msg m;

	return ack(tc_req_strs(c, PVIO_XS_MKDIR, tx, &m, &path, 1), &m);
}

int tc_rm(struct tc *c, uint32_t tx, const char *path)
{
	struct tc_msg m;

	return ack(tc_req_strs(c, PVIO_XS_RM, tx, &m, &path, 1), &m);
}

/* NUL-separated list to "a,b,c". */
static void join(const struct tc_msg *m, char *buf, size_t size)
{
	size_t o = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < m->h.len && o + 1 < size; i++) {
		char ch = m->data[i] ? m->data[i] : ',';

		if (!m->data[i] && i + 1 == m->h.len)
			break; /* the last terminator */
		buf[o++] = ch;
	}
	buf[o] = '\0';
}

int tc_dir(struct tc *c, uint32_t tx, const char *path, char *buf,
	   size_t size)
{
	struct tc_msg m;
	int r = tc_req_strs(c, PVIO_XS_DIRECTORY, tx, &m, &path, 1);

	if (!r)
		join(&m, buf, size);
	return r;
}

int tc_set_perms(struct tc *c, uint32_t tx, const char *path,
		 const char *perms)
{
	char buf[PVIO_XS_PAYLOAD_MAX];
	size_t pl = strlen(path) + 1, ql = strlen(perms) + 1;
	struct tc_msg m;

	if (pl + ql > sizeof(buf))
		return -E2BIG;
	memcpy(buf, path, pl);
	memcpy(buf + pl, perms, ql);
	for (size_t i = pl; i < pl + ql; i++)
		if (buf[i] == ',')
			buf[i] = '\0';
	return ack(tc_req(c, PVIO_XS_SET_PERMS, tx, buf, (uint32_t)(pl + ql),
			     &m), &m);
}

int tc_get_perms(struct tc *c, uint32_t tx, const char *path, char *buf,
		 size_t size)
{
	struct tc_msg m;
	int r = tc_req_strs(c, PVIO_XS_GET_PERMS, tx, &m, &path, 1);

	if (!r)
		join(&m, buf, size);
	return r;
}

int tc_watch(struct tc *c, const char *path, const char *token)
{
	const char *a[2] = { path, token };
	struct tc_msg m;

	return ack(tc_req_strs(c, PVIO_XS_WATCH, 0, &m, a, 2), &m);
}

int tc_unwatch(struct tc *c, const char *path, const char *token)
{
	const char *a[2] = { path, token };
	struct tc_msg m;

	return ack(tc_req_strs(c, PVIO_XS_UNWATCH, 0, &m, a, 2), &m);
}

int tc_tx_start(struct tc *c, uint32_t *tx)
{
	const char *a[1] = { "" };
	struct tc_msg m;
	int r = tc_req_strs(c, PVIO_XS_TRANSACTION_START, 0, &m, a, 1);

	if (r)
		return r;
	*tx = (uint32_t)strtoul(m.data, NULL, 10);
	return *tx ? 0 : -EPROTO;
}

int tc_tx_end(struct tc *c, uint32_t tx, bool commit)
{
	const char *a[1] = { commit ? "T" : "F" };
	struct tc_msg m;

	return ack(tc_req_strs(c, PVIO_XS_TRANSACTION_END, tx, &m, a, 1), &m);
}

int tc_sync(struct tc *c)
{
	const char *a[1] = { "0" };

	return tc_req_strs(c, PVIO_XS_GET_DOMAIN_PATH, 0, NULL, a, 1);
}

unsigned int tc_events(const struct tc *c)
{
	return c->nev;
}

int tc_next_event(struct tc *c, struct tc_event *ev)
{
	while (!c->nev) {
		struct tc_msg m;
		int r = tc_recv(c, &m);

		if (r)
			return r;
		if (m.h.type != PVIO_XS_WATCH_EVENT)
			return -EPROTO;
		r = queue_event(c, &m);
		if (r)
			return r;
	}
	*ev = c->ev[c->ev_head];
	c->ev_head = (c->ev_head + 1) % TC_MAX_EVENTS;
	c->nev--;
	return 0;
}

unsigned int tc_drain(struct tc *c)
{
	unsigned int n;

	tc_sync(c);
	n = c->nev;
	c->nev = 0;
	return n;
}

static void *server_main(void *arg)
{
	struct tc_fixture *f = arg;

	pvio_xenstored_run(f->srv);
	return NULL;
}

int tc_fixture_start(struct tc_fixture *f,
		     const struct pvio_xenstored_config *cfg)
{
	int r = pvio_xenstored_create(&f->srv, NULL, cfg);

	if (r)
		return r;
	r = pthread_create(&f->thread, NULL, server_main, f);
	if (r) {
		pvio_xenstored_destroy(f->srv);
		return -r;
	}
	return tc_connect(f, 0, &f->dom0);
}

void tc_fixture_stop(struct tc_fixture *f)
{
	tc_close(&f->dom0);
	pvio_xenstored_stop(f->srv);
	pthread_join(f->thread, NULL);
	pvio_xenstored_destroy(f->srv);
	f->srv = NULL;
}

int tc_connect(struct tc_fixture *f, uint16_t domid, struct tc *c)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	int r = pvio_xenstored_adopt_fd(f->srv, sv[1], domid);

	if (r) {
		close(sv[0]);
		return r;
	}
	return tc_open(c, sv[0]);
}

int tc_setup(void **state)
{
	struct tc_fixture *f = calloc(1, sizeof(*f));

	if (!f || tc_fixture_start(f, NULL)) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

int tc_teardown(void **state)
{
	tc_fixture_stop(*state);
	free(*state);
	return 0;
}
