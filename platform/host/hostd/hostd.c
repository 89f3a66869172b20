/* SPDX-License-Identifier: MIT */
/*
 * pvio hostd: Xen, xenstored and the toolstack of the host platform.
 *
 * One thread serves everything from one epoll set:
 *   - DIR/hostd.sock, the control socket domains connect to (wire.h),
 *   - every control connection (a domain's lifeline),
 *   - the store's own epoll fd (pvio_xenstored_fd/step: the store serves
 *     DIR/socket and every domain's adopted socketpair end),
 *   - an eventfd that pvio_hostd_stop() writes.
 *
 * The toolstack writes the store as dom0 through an ordinary pvio_xs client
 * on a socketpair whose other end the store adopted as domid 0. Its
 * transport "pumps": while it waits for a reply it drives the store with
 * pvio_xenstored_step() from the same thread, so a toolstack write is a
 * synchronous call although the store is served by that very thread.
 *
 * Building a domain (CONNECT):      tearing it down (EOF on its lifeline):
 *   memory   pvio_mem_domain_create    store socket shut down
 *   evtchn   pvio_evtchn_domain_create evtchn reap: peers unbound, woken
 *   store    home dir, name, domid     memory destroy: its maps released,
 *                                        mapped frames orphan
 *            adopt the domain's end    store release: home removed, the
 *            introduce: @introduceDomain  domain's watches go, @releaseDomain
 *   reply    domid + fds (SCM_RIGHTS)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvio/domain.h>
#include <pvio/evtchn_host.h>
#include <pvio/host.h>
#include <pvio/host_memory.h>
#include <pvio/xenstored.h>

#include "wire.h"

#define DEFAULT_FRAMES      65536u
#define DEFAULT_MAX_DOMAINS 64u
/* Control connections not yet a domain, beyond max_domains. */
#define EXTRA_CONNS         16u
/* Bound on one toolstack store call, so a wedged store cannot hang us. */
#define TOOL_TIMEOUT_MS     10000

enum conn_state {
	CONN_HELLO,  /* waiting for the CONNECT request */
	CONN_DOMAIN, /* a built domain's lifeline */
};

struct hostd_conn {
	struct hostd_conn *next;
	int fd;
	enum conn_state state;
	bool dead;               /* closed in this epoll batch; freed after */
	size_t have;             /* request bytes received */
	union {
		struct hostd_wire_connect req;
		unsigned char buf[sizeof(struct hostd_wire_connect)];
	} in;
	pvio_domid_t domid;      /* CONN_DOMAIN */
	int store_fd;            /* dup of the store's end of the domain's
				    socketpair: shut down at death */
	char name[HOSTD_NAME_MAX + 1];
};

enum { TAG_LISTEN, TAG_STOP, TAG_STORE, NR_TAGS };

struct pvio_hostd {
	char *run_dir;
	char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint32_t max_domains;
	uint32_t max_pages;
	bool verbose;

	int lock_fd;
	int listen_fd;
	int epfd;
	int stop_fd;
	char tags[NR_TAGS];          /* their addresses tag epoll events */

	struct pvio_mem *mem;
	int evt_fd;
	void *evt_mem;
	size_t evt_bytes;
	struct pvio_xenstored *srv;

	/* The toolstack's store connection (dom0), pumped: see tool_recv(). */
	int tool_fd;
	struct pvio_xs *tool;
	struct pvio_xs_event tool_ev[1];

	struct hostd_conn *conns;     /* open control connections */
	struct hostd_conn *graveyard; /* closed during the current batch */
	struct hostd_conn **dom;      /* domid -> its connection, or NULL */
	uint32_t nr_conns;
	pvio_domid_t next_guest;

	pthread_t thread;
	bool started;
	_Atomic bool stopping;
};

#define logv(h, ...) do { if ((h)->verbose) { \
	fprintf(stderr, "pvio hostd: " __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* ---- the toolstack's store transport -------------------------------- */

static int tool_send(void *ctx, const void *buf, size_t len)
{
	struct pvio_hostd *h = ctx;
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(h->tool_fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return errno == EPIPE ? -ECONNRESET : -errno;
			/* The store has not read yet: let it. */
			int r = pvio_xenstored_step(h->srv, 10);

			if (r < 0 && r != -EINTR && r != -ECANCELED)
				return r;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Wait for the store's reply by serving the store: each step handles the
 * I/O that is ready (our request among it) and flushes replies. hostd
 * never calls pvio_xenstored_stop(), so -ECANCELED does not happen.
 */
static int tool_recv(void *ctx, void *buf, size_t len, int timeout_ms)
{
	struct pvio_hostd *h = ctx;
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX :
		pvio_now_ns() + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		ssize_t n = recv(h->tool_fd, buf, len, MSG_DONTWAIT);

		if (n > 0)
			return (int)n;
		if (n == 0)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		uint64_t now = pvio_now_ns();

		if (now >= deadline)
			return -ETIMEDOUT;
		uint64_t left_ms = (deadline - now) / 1000000u;
		int r = pvio_xenstored_step(h->srv, left_ms > 50 ? 50 : (int)left_ms);

		if (r < 0 && r != -EINTR && r != -ECANCELED)
			return r;
	}
}

static uint64_t tool_now_ms(void *ctx)
{
	(void)ctx;
	return pvio_now_ns() / 1000000u;
}

static const struct pvio_xs_transport_ops tool_ops = {
	.send = tool_send,
	.recv = tool_recv,
	.now_ms = tool_now_ms,
};

/* ---- the store side of a domain ------------------------------------- */

struct home_args {
	pvio_domid_t domid;
	const char *name;
};

/*
 * /local/domain/<id> with name and domid, in one transaction so watchers
 * see all or nothing; a guest owns its home ("n<id>": nobody else reads).
 * A stale home of an earlier domain with this id is replaced.
 */
static int home_body(struct pvio_xs *xs, pvio_xs_tx_t t, void *arg)
{
	const struct home_args *a = arg;
	char path[64], key[80], val[16];
	int rc;

	snprintf(path, sizeof(path), "/local/domain/%u", a->domid);
	rc = pvio_xs_rm(xs, t, path);
	if (rc && rc != -ENOENT)
		return rc;
	rc = pvio_xs_mkdir(xs, t, path);
	if (!rc && a->domid != 0) {
		struct pvio_xs_perm own = { .domid = a->domid, .access = PVIO_XS_PERM_NONE };

		rc = pvio_xs_set_perms(xs, t, path, &own, 1);
	}
	snprintf(key, sizeof(key), "%s/name", path);
	if (!rc)
		rc = pvio_xs_write(xs, t, key, a->name);
	snprintf(key, sizeof(key), "%s/domid", path);
	snprintf(val, sizeof(val), "%u", a->domid);
	if (!rc)
		rc = pvio_xs_write(xs, t, key, val);
	return rc;
}

static int home_create(struct pvio_hostd *h, pvio_domid_t domid, const char *name)
{
	struct home_args a = { .domid = domid, .name = name };

	return pvio_xs_transact(h->tool, home_body, &a, 0);
}

static void home_remove(struct pvio_hostd *h, pvio_domid_t domid)
{
	char path[64];

	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	(void)pvio_xs_rm(h->tool, PVIO_XS_TX_NONE, path);
}

/* ---- domains ---------------------------------------------------------- */

/*
 * Undo a domain built (fully or in part) by dom_build(). Order: cut its
 * store connection; close its event channels, waking every peer; give its
 * memory back (frames a backend still maps stay until unmapped); then the
 * store forgets it: home removed, @releaseDomain, so a watcher that sees
 * the event finds the domain entirely gone.
 */
static void dom_teardown(struct pvio_hostd *h, pvio_domid_t domid, int store_fd,
			 bool evtchn, bool introduced)
{
	if (store_fd >= 0) {
		shutdown(store_fd, SHUT_RDWR);
		close(store_fd);
	}
	if (evtchn) /* also takes over a lock it died holding */
		pvio_evtchn_domain_reap(h->evt_mem, domid,
					&pvio_evtchn_host_futex_ops, NULL);
	pvio_mem_domain_destroy(h->mem, domid);
	if (introduced)
		pvio_xenstored_release_domain(h->srv, domid); /* removes the home */
	else
		home_remove(h, domid);
}

/* domid 0 for the driver domain if free; guests round-robin from 1. */
static int dom_pick(struct pvio_hostd *h, bool driver, pvio_domid_t *domid)
{
	if (driver) {
		if (h->dom[0])
			return -EBUSY;
		*domid = 0;
		return 0;
	}
	for (uint32_t i = 1; i < h->max_domains; i++) {
		pvio_domid_t id = h->next_guest;

		h->next_guest = id + 1u >= h->max_domains ? 1 : (pvio_domid_t)(id + 1);
		if (!h->dom[id]) {
			*domid = id;
			return 0;
		}
	}
	return -ENOSPC;
}

static int send_reply(int fd, const struct hostd_wire_reply *rep, const int *fds,
		      unsigned nr_fds)
{
	struct iovec iov = { .iov_base = (void *)rep, .iov_len = sizeof(*rep) };
	union {
		char buf[CMSG_SPACE(HOSTD_NR_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nr_fds) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(nr_fds * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nr_fds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nr_fds * sizeof(int));
	}
	/* The socket's buffer is empty (one request, one reply): a 48-byte
	 * message goes whole or not at all. */
	ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(*rep) ? 0 : -EIO;
}

static void reply_error(int fd, int status)
{
	struct hostd_wire_reply rep = {
		.hdr = { .magic = HOSTD_WIRE_MAGIC, .version = HOSTD_WIRE_VERSION,
			 .type = HOSTD_MSG_ERROR, .len = sizeof(rep) },
		.status = status,
	};

	(void)send_reply(fd, &rep, NULL, 0);
}

/* Build domain domid for connection c and answer it. 0 or -errno (then
 * nothing of the domain is left and no answer was sent). */
static int dom_build(struct pvio_hostd *h, struct hostd_conn *c, pvio_domid_t domid,
		     uint32_t nr_pages)
{
	int sv[2] = { -1, -1 }, store_dup = -1, rc;
	bool evtchn = false, introduced = false;

	rc = pvio_mem_domain_create(h->mem, domid, nr_pages, 0);
	if (rc)
		return rc == -ENOMEM ? -ENOSPC : rc == -EEXIST ? -EBUSY : rc;
	rc = pvio_evtchn_domain_create(h->evt_mem, domid);
	if (rc)
		goto fail;
	evtchn = true;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    (store_dup = fcntl(sv[0], F_DUPFD_CLOEXEC, 0)) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = home_create(h, domid, c->name);
	if (rc)
		goto fail;
	rc = pvio_xenstored_adopt_fd(h->srv, sv[0], domid);
	sv[0] = -1; /* the store owns it now, even on error */
	if (rc)
		goto fail;
	if (domid != 0) {
		rc = pvio_xenstored_introduce_domain(h->srv, domid);
		if (rc)
			goto fail;
		introduced = true;
	}

	struct hostd_wire_reply rep = {
		.hdr = { .magic = HOSTD_WIRE_MAGIC, .version = HOSTD_WIRE_VERSION,
			 .type = HOSTD_MSG_CONNECTED, .len = sizeof(rep) },
		.status = 0,
		.domid = domid,
		.nr_fds = HOSTD_NR_FDS,
		.nr_pages = nr_pages,
	};
	int fds[HOSTD_NR_FDS];

	pvio_mem_fds(h->mem, &fds[HOSTD_FD_POOL], &fds[HOSTD_FD_HV]);
	fds[HOSTD_FD_EVTCHN] = h->evt_fd;
	fds[HOSTD_FD_STORE] = sv[1];
	rc = send_reply(c->fd, &rep, fds, HOSTD_NR_FDS);
	if (rc)
		goto fail;
	close(sv[1]);
	c->domid = domid;
	c->store_fd = store_dup;
	c->state = CONN_DOMAIN;
	h->dom[domid] = c;
	logv(h, "domain %u \"%s\" created, %u pages", domid, c->name, nr_pages);
	return 0;
fail:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	dom_teardown(h, domid, store_dup, evtchn, introduced);
	return rc;
}

/* ---- control connections ---------------------------------------------- */

static void conn_close(struct pvio_hostd *h, struct hostd_conn *c)
{
	struct hostd_conn **pp;

	if (c->dead)
		return;
	if (c->state == CONN_DOMAIN) {
		h->dom[c->domid] = NULL;
		dom_teardown(h, c->domid, c->store_fd, true, c->domid != 0);
		c->store_fd = -1;
		logv(h, "domain %u \"%s\" destroyed", c->domid, c->name);
	}
	epoll_ctl(h->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->dead = true;
	for (pp = &h->conns; *pp; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	c->next = h->graveyard;
	h->graveyard = c;
	h->nr_conns--;
}

static void free_graveyard(struct pvio_hostd *h)
{
	while (h->graveyard) {
		struct hostd_conn *c = h->graveyard;

		h->graveyard = c->next;
		free(c);
	}
}

/* A name is printable ASCII, non-empty, NUL-terminated and NUL-padded. */
static bool name_valid(const char *name, size_t size)
{
	size_t len = strnlen(name, size);

	if (len == 0 || len == size)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e)
			return false;
	for (size_t i = len; i < size; i++)
		if (name[i])
			return false;
	return true;
}

/*
 * A whole CONNECT arrived (header already checked: magic, type, len).
 * Refusals get an ERROR reply and close; success leaves c a domain.
 */
static void conn_connect(struct pvio_hostd *h, struct hostd_conn *c)
{
	const struct hostd_wire_connect *req = &c->in.req;
	pvio_domid_t domid;
	int rc;

	if (req->hdr.version != HOSTD_WIRE_VERSION) {
		rc = -EPROTO;
		goto refuse;
	}
	rc = -EINVAL;
	if (req->hdr.pad || req->flags & ~HOSTD_CONNECT_FLAGS_KNOWN ||
	    !name_valid(req->name, sizeof(req->name)) ||
	    req->nr_pages == 0 || req->nr_pages > h->max_pages)
		goto refuse;
	for (size_t i = 0; i < sizeof(req->reserved); i++)
		if (req->reserved[i])
			goto refuse;
	memcpy(c->name, req->name, sizeof(c->name));
	rc = dom_pick(h, req->flags & HOSTD_CONNECT_DRIVER_DOMAIN, &domid);
	if (!rc)
		rc = dom_build(h, c, domid, req->nr_pages);
	if (!rc)
		return;
refuse:
	logv(h, "refused a domain: %s", strerror(-rc));
	reply_error(c->fd, rc);
	conn_close(h, c);
}

static void conn_event(struct pvio_hostd *h, struct hostd_conn *c, uint32_t events)
{
	if (c->dead)
		return;
	if (c->state == CONN_DOMAIN) {
		char byte;
		ssize_t n = recv(c->fd, &byte, 1, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
		    !(events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
			return;
		if (n > 0)
			logv(h, "domain %u sent garbage on its control socket", c->domid);
		conn_close(h, c); /* EOF, error or garbage: the domain is gone */
		return;
	}
	ssize_t n = recv(c->fd, c->in.buf + c->have, sizeof(c->in) - c->have,
			 MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(h, c);
		return;
	}
	c->have += (size_t)n;
	if (c->have >= sizeof(struct hostd_wire_hdr)) {
		const struct hostd_wire_hdr *hd = &c->in.req.hdr;

		/* Not our protocol at all: close without an answer. */
		if (hd->magic != HOSTD_WIRE_MAGIC || hd->type != HOSTD_MSG_CONNECT ||
		    hd->len != sizeof(struct hostd_wire_connect)) {
			logv(h, "closed a control connection: garbage");
			conn_close(h, c);
			return;
		}
	}
	if (c->have == sizeof(c->in))
		conn_connect(h, c);
}

static void accept_all(struct pvio_hostd *h)
{
	for (;;) {
		int fd = accept4(h->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return; /* EAGAIN, or a transient error: epoll says again */
		if (h->nr_conns >= h->max_domains + EXTRA_CONNS) {
			close(fd);
			continue;
		}
		struct hostd_conn *c = calloc(1, sizeof(*c));
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };

		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->store_fd = -1;
		ev.data.ptr = c;
		if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = h->conns;
		h->conns = c;
		h->nr_conns++;
	}
}

/* ---- lifecycle --------------------------------------------------------- */

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, 0755) < 0 && errno != EEXIST)
				return -errno;
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

static int epoll_add_tag(struct pvio_hostd *h, int fd, int tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &h->tags[tag] };

	return epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int listen_control(struct pvio_hostd *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memcpy(sa.sun_path, h->sock_path, sizeof(sa.sun_path));
	h->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->listen_fd < 0)
		return -errno;
	unlink(h->sock_path); /* we hold the lock: any socket there is stale */
	if (bind(h->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (chmod(h->sock_path, 0600) < 0 || listen(h->listen_fd, 64) < 0) {
		int rc = -errno;

		unlink(h->sock_path);
		return rc;
	}
	return 0;
}

static int tool_connect(struct pvio_hostd *h)
{
	int sv[2], rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	h->tool_fd = sv[1];
	rc = pvio_xenstored_adopt_fd(h->srv, sv[0], 0);
	if (rc)
		return rc;
	h->tool = calloc(1, sizeof(*h->tool));
	if (!h->tool)
		return -ENOMEM;
	rc = pvio_xs_init(h->tool, &tool_ops, h, h->tool_ev, 1);
	if (rc)
		return rc;
	pvio_xs_set_timeout(h->tool, TOOL_TIMEOUT_MS);
	/* So that `xenstore-ls /local/domain` works before any domain. */
	return pvio_xs_mkdir(h->tool, PVIO_XS_TX_NONE, "/local/domain");
}

int pvio_hostd_create(const struct pvio_hostd_config *cfg, struct pvio_hostd **out)
{
	struct pvio_hostd *h;
	char lock_path[PATH_MAX];
	int rc;

	if (!cfg || !out || !cfg->run_dir || !cfg->run_dir[0])
		return -EINVAL;
	uint32_t nr_frames = cfg->nr_frames ? cfg->nr_frames : DEFAULT_FRAMES;
	uint32_t max_domains = cfg->max_domains ? cfg->max_domains : DEFAULT_MAX_DOMAINS;

	if (nr_frames < 2 || max_domains > PVIO_EVTCHN_MAX_DOMAINS)
		return -EINVAL;
	if (strlen(cfg->run_dir) + sizeof("/" HOSTD_SOCK_NAME) >
	    sizeof(((struct sockaddr_un *)0)->sun_path))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->lock_fd = h->listen_fd = h->epfd = h->stop_fd = h->evt_fd = h->tool_fd = -1;
	h->max_domains = max_domains;
	h->verbose = cfg->verbose;
	h->next_guest = 1;
	h->run_dir = strdup(cfg->run_dir);
	h->dom = calloc(max_domains, sizeof(*h->dom));
	if (!h->run_dir || !h->dom) {
		rc = -ENOMEM;
		goto fail;
	}
	snprintf(h->sock_path, sizeof(h->sock_path), "%s/%s", cfg->run_dir,
		 HOSTD_SOCK_NAME);
	rc = mkdir_p(cfg->run_dir);
	if (rc)
		goto fail;

	/* One hostd per run dir: the lock is held until destroy (or death). */
	snprintf(lock_path, sizeof(lock_path), "%s/%s", cfg->run_dir, HOSTD_LOCK_NAME);
	h->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (h->lock_fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (flock(h->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
		close(h->lock_fd);
		h->lock_fd = -1;
		goto fail;
	}

	struct pvio_mem_config mc = { .nr_frames = nr_frames,
				      .max_domains = max_domains };

	rc = pvio_mem_create(&mc, &h->mem);
	if (rc)
		goto fail;
	h->max_pages = pvio_mem_machine(h->mem)->max_pages;
	rc = pvio_evtchn_host_region_create(max_domains, &h->evt_fd, &h->evt_mem,
					    &h->evt_bytes);
	if (rc)
		goto fail;

	struct pvio_xenstored_config sc;

	pvio_xenstored_config_default(&sc);
	sc.release_removes_domain_path = true;
	rc = pvio_xenstored_create(&h->srv, cfg->run_dir, &sc);
	if (rc)
		goto fail;
	rc = tool_connect(h);
	if (rc)
		goto fail;
	rc = listen_control(h);
	if (rc)
		goto fail;

	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	h->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (h->epfd < 0 || h->stop_fd < 0) {
		rc = -errno;
		goto fail;
	}
	if ((rc = epoll_add_tag(h, h->listen_fd, TAG_LISTEN)) ||
	    (rc = epoll_add_tag(h, h->stop_fd, TAG_STOP)) ||
	    (rc = epoll_add_tag(h, pvio_xenstored_fd(h->srv), TAG_STORE)))
		goto fail;
	*out = h;
	return 0;
fail:
	pvio_hostd_destroy(h);
	return rc;
}

int pvio_hostd_run(struct pvio_hostd *h)
{
	struct epoll_event evs[32];

	if (!h)
		return -EINVAL;
	while (!atomic_load_explicit(&h->stopping, memory_order_acquire)) {
		int n = epoll_wait(h->epfd, evs, 32, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;

			if (p == &h->tags[TAG_STOP]) {
				uint64_t v;

				(void)!read(h->stop_fd, &v, sizeof(v));
			} else if (p == &h->tags[TAG_LISTEN]) {
				accept_all(h);
			} else if (p == &h->tags[TAG_STORE]) {
				(void)pvio_xenstored_step(h->srv, 0);
			} else {
				conn_event(h, p, evs[i].events);
			}
		}
		free_graveyard(h);
	}
	return 0;
}

static void *hostd_thread(void *arg)
{
	struct pvio_hostd *h = arg;
	int rc = pvio_hostd_run(h);

	if (rc)
		fprintf(stderr, "pvio hostd: serving stopped: %s\n", strerror(-rc));
	return NULL;
}

int pvio_hostd_start(struct pvio_hostd *h)
{
	int rc;

	if (!h || h->started)
		return -EINVAL;
	rc = pthread_create(&h->thread, NULL, hostd_thread, h);
	if (rc)
		return -rc;
	h->started = true;
	return 0;
}

void pvio_hostd_stop(struct pvio_hostd *h)
{
	uint64_t one = 1;

	if (!h)
		return;
	/* Async-signal-safe: a lock-free atomic store and a write(2). */
	atomic_store_explicit(&h->stopping, true, memory_order_release);
	if (h->stop_fd >= 0)
		(void)!write(h->stop_fd, &one, sizeof(one));
}

void pvio_hostd_destroy(struct pvio_hostd *h)
{
	if (!h)
		return;
	if (h->started) {
		pvio_hostd_stop(h);
		pthread_join(h->thread, NULL);
		h->started = false;
	}
	while (h->conns)
		conn_close(h, h->conns);
	free_graveyard(h);
	if (h->tool_fd >= 0)
		close(h->tool_fd);
	free(h->tool);
	pvio_xenstored_destroy(h->srv); /* unlinks DIR/socket */
	if (h->listen_fd >= 0) {
		close(h->listen_fd);
		unlink(h->sock_path);
	}
	if (h->epfd >= 0)
		close(h->epfd);
	if (h->stop_fd >= 0)
		close(h->stop_fd);
	if (h->evt_mem)
		pvio_evtchn_host_region_unmap(h->evt_mem, h->evt_bytes);
	if (h->evt_fd >= 0)
		close(h->evt_fd);
	pvio_mem_close(h->mem);
	if (h->lock_fd >= 0)
		close(h->lock_fd); /* releases the flock */
	free(h->dom);
	free(h->run_dir);
	free(h);
}
