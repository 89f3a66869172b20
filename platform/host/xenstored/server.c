/* SPDX-License-Identifier: MIT */
/*
 * The store's connections and event loop: the DIR/socket listener,
 * adopted per-domain sockets, non-blocking reads of one message at a time,
 * an output queue per connection, epoll, and the public API.
 *
 * Memory per connection is bounded: one input message (16 + 4096 bytes),
 * at most XSD_MAX_PENDING_REPLIES unsent replies (we stop reading while
 * the peer does not take them) and max_queued_events_per_conn events
 * (more are dropped and counted).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvio/tsan.h>

#include "common.h"

#define HDR_LEN ((uint32_t)sizeof(struct pvio_xs_msg_hdr))
/* Messages handled per connection per wakeup, for fairness. */
#define MSGS_PER_WAKEUP 64

void pvio_xenstored_config_default(struct pvio_xenstored_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_entries_per_domain = 1000;
	cfg->max_value_size = 4096;
	cfg->max_watches_per_conn = 128;
	cfg->max_transactions_per_conn = 10;
	cfg->max_nodes_per_transaction = 1024;
	cfg->max_perms_per_node = 5;
	cfg->max_queued_events_per_conn = 1024;
	cfg->max_path_len = PVIO_XS_ABS_PATH_MAX;
	cfg->max_rel_path_len = PVIO_XS_REL_PATH_MAX;
	cfg->max_connections = 1024;
}

static void config_fill(struct pvio_xenstored_config *dst,
			const struct pvio_xenstored_config *src)
{
	struct pvio_xenstored_config def;

	pvio_xenstored_config_default(&def);
	*dst = src ? *src : def;
#define DEF(f) do { if (!dst->f) dst->f = def.f; } while (0)
	DEF(max_entries_per_domain);
	DEF(max_value_size);
	DEF(max_watches_per_conn);
	DEF(max_transactions_per_conn);
	DEF(max_nodes_per_transaction);
	DEF(max_perms_per_node);
	DEF(max_queued_events_per_conn);
	DEF(max_path_len);
	DEF(max_rel_path_len);
	DEF(max_connections);
#undef DEF
	if (dst->max_path_len > PVIO_XS_ABS_PATH_MAX)
		dst->max_path_len = PVIO_XS_ABS_PATH_MAX;
}

/* --- connections ------------------------------------------------------- */

static void conn_update_epoll(struct xsd_conn *c)
{
	uint32_t want = 0;

	if (c->dead)
		return;
	if (c->out_replies < XSD_MAX_PENDING_REPLIES)
		want |= EPOLLIN;
	if (c->out_head)
		want |= EPOLLOUT;
	if (want == c->epoll_mask)
		return;
	struct epoll_event ev = { .events = want, .data.ptr = c };

	if (epoll_ctl(c->srv->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->epoll_mask = want;
}

int xsd_conn_send(struct xsd_conn *c, uint32_t type, uint32_t req_id,
		  uint32_t tx_id, const void *data, uint32_t len,
		  bool is_event)
{
	struct pvio_xenstored *srv = c->srv;

	if (c->dead || c->fd < 0)
		return -EPIPE; /* also the fake connection of xsd_introduce() */
	if (is_event) {
		if (c->out_events >= srv->cfg.max_queued_events_per_conn) {
			srv->stats.events_dropped++;
			return -ENOSPC;
		}
	}
	struct xsd_msg *m = malloc(sizeof(*m) + HDR_LEN + len);

	if (!m) {
		if (is_event)
			srv->stats.events_dropped++;
		return -ENOMEM;
	}
	struct pvio_xs_msg_hdr h = {
		.type = type, .req_id = req_id, .tx_id = tx_id, .len = len,
	};

	m->next = NULL;
	m->is_event = is_event;
	m->len = HDR_LEN + len;
	m->off = 0;
	memcpy(m->data, &h, HDR_LEN);
	if (len)
		memcpy(m->data + HDR_LEN, data, len);
	if (c->out_tail) {
		c->out_tail->next = m;
	} else {
		c->out_head = m;
		conn_update_epoll(c); /* EPOLLOUT while anything is queued */
	}
	c->out_tail = m;
	if (is_event) {
		c->out_events++;
		srv->stats.events_sent++;
	} else {
		c->out_replies++;
	}
	return 0;
}

static void conn_free(struct xsd_conn *c)
{
	while (c->out_head) {
		struct xsd_msg *m = c->out_head;

		c->out_head = m->next;
		free(m);
	}
	free(c);
}

/*
 * Close c: drop its watches and transactions now, unlink it, and leave the
 * memory for the end of step() (an epoll batch may still name it).
 */
void xsd_conn_close(struct xsd_conn *c, bool bad)
{
	struct pvio_xenstored *srv = c->srv;

	if (c->dead)
		return;
	c->dead = true;
	if (bad)
		srv->stats.conns_closed_bad++;
	xsd_conn_drop_state(c);
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	for (struct xsd_conn **pp = &srv->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	srv->nconns--;
	c->next = srv->graveyard;
	srv->graveyard = c;
}

static int conn_add(struct pvio_xenstored *srv, int fd, uint32_t domid,
		    bool priv)
{
	if (srv->nconns >= srv->cfg.max_connections) {
		close(fd);
		return -EMFILE;
	}
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	struct xsd_conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->srv = srv;
	c->fd = fd;
	c->who.domid = domid;
	c->who.priv = priv;
	c->epoll_mask = EPOLLIN;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;

		free(c);
		close(fd);
		return -e;
	}
	c->next = srv->conns;
	srv->conns = c;
	srv->nconns++;
	return 0;
}

/* Send what the socket takes. 0, or -1 after closing c. */
static int conn_flush(struct xsd_conn *c)
{
	while (c->out_head) {
		struct xsd_msg *m = c->out_head;
		pvio_tsan_wire_sent();
		ssize_t n = send(c->fd, m->data + m->off, m->len - m->off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == ENOTSOCK)
			n = write(c->fd, m->data + m->off, m->len - m->off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			xsd_conn_close(c, false);
			return -1;
		}
		m->off += (uint32_t)n;
		if (m->off < m->len)
			break;
		c->out_head = m->next;
		if (!c->out_head)
			c->out_tail = NULL;
		if (m->is_event)
			c->out_events--;
		else
			c->out_replies--;
		free(m);
	}
	conn_update_epoll(c);
	return 0;
}

static bool msg_complete(const struct xsd_conn *c)
{
	struct pvio_xs_msg_hdr h;

	if (c->in_have < HDR_LEN)
		return false;
	memcpy(&h, c->in, HDR_LEN);
	return c->in_have == HDR_LEN + h.len;
}

static bool reply_room(const struct xsd_conn *c)
{
	return c->out_replies < XSD_MAX_PENDING_REPLIES;
}

/*
 * Read and handle messages: header first, then exactly len payload bytes,
 * so a partial message waits in c->in. A header announcing more than
 * PVIO_XS_PAYLOAD_MAX closes the connection (as Xen). Stops when the
 * socket is empty, when the peer must read its replies first (a complete
 * message then waits in c->in), or, before reading more, when *budget is
 * spent. Returns whether it handled a message.
 */
static bool conn_pump_in(struct xsd_conn *c, unsigned int *budget)
{
	bool progress = false;

	while (!c->dead) {
		struct pvio_xs_msg_hdr h;
		uint32_t need = HDR_LEN;

		if (c->in_have >= HDR_LEN) {
			memcpy(&h, c->in, HDR_LEN);
			if (h.len > PVIO_XS_PAYLOAD_MAX) {
				xsd_conn_close(c, true);
				break;
			}
			need = HDR_LEN + h.len;
			if (c->in_have == need) {
				if (!reply_room(c))
					break; /* the peer must read first */
				/* A NUL after the payload: string calls on an
				 * argument stop inside the copy. */
				char payload[PVIO_XS_PAYLOAD_MAX + 1];

				memcpy(payload, c->in + HDR_LEN, h.len);
				payload[h.len] = '\0';
				c->in_have = 0;
				xsd_handle_msg(c->srv, c, &h, payload);
				progress = true;
				if (*budget)
					(*budget)--;
				continue;
			}
		}
		if (*budget == 0)
			break;
		ssize_t n = recv(c->fd, c->in + c->in_have, need - c->in_have,
				 MSG_DONTWAIT);

		if (n < 0 && errno == ENOTSOCK)
			n = read(c->fd, c->in + c->in_have, need - c->in_have);
		if (n == 0) {
			xsd_conn_close(c, false);
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				xsd_conn_close(c, false);
			break;
		}
		pvio_tsan_wire_received();
		c->in_have += (uint32_t)n;
	}
	return progress;
}

/* Handle input and push output until neither moves. */
static void conn_service(struct xsd_conn *c)
{
	unsigned int budget = MSGS_PER_WAKEUP;

	for (;;) {
		bool progress = conn_pump_in(c, &budget);

		if (c->dead || conn_flush(c) || !progress)
			return;
		if (budget == 0 && !(msg_complete(c) && reply_room(c)))
			return; /* more input: level-triggered epoll calls again */
	}
}

static void accept_all(struct pvio_xenstored *srv)
{
	for (;;) {
		int fd = accept4(srv->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return; /* EAGAIN, or a transient error: epoll retries */
		conn_add(srv, fd, 0, true);
	}
}

/* --- public API -------------------------------------------------------- */

static int listen_on(struct pvio_xenstored *srv, const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t dl = strlen(dir);

	if (dl + sizeof("/socket") > sizeof(sa.sun_path))
		return -EINVAL;
	memcpy(sa.sun_path, dir, dl);
	memcpy(sa.sun_path + dl, "/socket", sizeof("/socket"));
	srv->sock_path = strdup(sa.sun_path);
	if (!srv->sock_path)
		return -ENOMEM;
	srv->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
				SOCK_CLOEXEC, 0);
	if (srv->listen_fd < 0)
		return -errno;
	unlink(sa.sun_path); /* a stale socket of an earlier run */
	if (bind(srv->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(sa.sun_path, 0600) < 0 || listen(srv->listen_fd, 64) < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN,
				  .data.ptr = &srv->listen_fd };

	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->listen_fd, &ev) < 0)
		return -errno;
	return 0;
}

int pvio_xenstored_create(struct pvio_xenstored **out, const char *dir,
			  const struct pvio_xenstored_config *cfg)
{
	struct pvio_xenstored *srv;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->epfd = srv->listen_fd = srv->stop_fd = -1;
	config_fill(&srv->cfg, cfg);
	pthread_mutex_init(&srv->lock, NULL);
	ret = xsd_store_init(&srv->st);
	if (!ret)
		ret = xsd_setup_tree(srv);
	if (ret)
		goto fail;
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (srv->epfd < 0 || srv->stop_fd < 0) {
		ret = -errno;
		goto fail;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &srv->stop_fd };

	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, srv->stop_fd, &ev) < 0) {
		ret = -errno;
		goto fail;
	}
	if (dir) {
		ret = listen_on(srv, dir);
		if (ret)
			goto fail;
	}
	*out = srv;
	return 0;
fail:
	pvio_xenstored_destroy(srv);
	return ret;
}

static void free_graveyard(struct pvio_xenstored *srv)
{
	while (srv->graveyard) {
		struct xsd_conn *c = srv->graveyard;

		srv->graveyard = c->next;
		conn_free(c);
	}
}

void pvio_xenstored_destroy(struct pvio_xenstored *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		xsd_conn_close(srv->conns, false);
	free_graveyard(srv);
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		if (srv->sock_path)
			unlink(srv->sock_path);
	}
	free(srv->sock_path);
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	for (int i = 0; i < XSD_SPECIAL_COUNT; i++)
		free(srv->special[i].perms);
	xsd_store_destroy(&srv->st);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

int pvio_xenstored_adopt_fd(struct pvio_xenstored *srv, int fd,
			    uint16_t domid)
{
	int ret;

	if (fd < 0)
		return -EBADF;
	if (!srv) {
		close(fd);
		return -EINVAL;
	}
	pthread_mutex_lock(&srv->lock);
	ret = conn_add(srv, fd, domid, domid == 0);
	pthread_mutex_unlock(&srv->lock);
	return ret;
}

/* Push queued output everywhere (events land on connections we did not
 * just read from). */
static void flush_all(struct pvio_xenstored *srv)
{
	struct xsd_conn *c = srv->conns;

	while (c) {
		struct xsd_conn *next = c->next;

		if (c->out_head && conn_flush(c) == 0 && msg_complete(c) &&
		    reply_room(c))
			conn_service(c);
		c = next;
	}
}

int pvio_xenstored_introduce_domain(struct pvio_xenstored *srv,
				    uint16_t domid)
{
	if (!srv || domid == 0)
		return -EINVAL;
	pthread_mutex_lock(&srv->lock);
	int ret = xsd_introduce(srv, domid);

	flush_all(srv);
	pthread_mutex_unlock(&srv->lock);
	return ret;
}

int pvio_xenstored_release_domain(struct pvio_xenstored *srv, uint16_t domid)
{
	if (!srv || domid == 0)
		return -EINVAL;
	pthread_mutex_lock(&srv->lock);
	int ret = xsd_release(srv, domid);

	flush_all(srv);
	/* The closed connections may be named by a concurrent epoll batch:
	 * step() frees them. */
	pthread_mutex_unlock(&srv->lock);
	return ret;
}

int pvio_xenstored_fd(const struct pvio_xenstored *srv)
{
	return srv->epfd;
}

void pvio_xenstored_stop(struct pvio_xenstored *srv)
{
	uint64_t one = 1;

	/* Only a full counter (never) makes this fail; stop is then pending. */
	if (write(srv->stop_fd, &one, sizeof(one)) < 0)
		return;
}

int pvio_xenstored_step(struct pvio_xenstored *srv, int timeout_ms)
{
	struct epoll_event evs[32];
	bool stop = false;
	int n = epoll_wait(srv->epfd, evs, 32, timeout_ms);

	if (n < 0)
		return -errno;
	pthread_mutex_lock(&srv->lock);
	for (int i = 0; i < n; i++) {
		void *p = evs[i].data.ptr;

		if (p == &srv->stop_fd) {
			uint64_t v;

			if (read(srv->stop_fd, &v, sizeof(v)) == sizeof(v))
				stop = true;
			continue;
		}
		if (p == &srv->listen_fd) {
			accept_all(srv);
			continue;
		}
		struct xsd_conn *c = p;

		if (c->dead)
			continue;
		conn_service(c);
	}
	flush_all(srv);
	free_graveyard(srv);
	pthread_mutex_unlock(&srv->lock);
	return stop ? -ECANCELED : n;
}

int pvio_xenstored_run(struct pvio_xenstored *srv)
{
	for (;;) {
		int r = pvio_xenstored_step(srv, -1);

		if (r == -ECANCELED)
			return 0;
		if (r < 0 && r != -EINTR)
			return r;
	}
}

void pvio_xenstored_get_stats(struct pvio_xenstored *srv,
			      struct pvio_xenstored_stats *st)
{
	pthread_mutex_lock(&srv->lock);
	*st = srv->stats;
	st->connections = srv->nconns;
	st->nodes = (uint32_t)srv->st.nodes.count;
	pthread_mutex_unlock(&srv->lock);
}
