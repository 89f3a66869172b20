/* SPDX-License-Identifier: MIT */
/*
 * A domain's side of pvio hostd: connect on DIR/hostd.sock (wire.h),
 * receive the memfds and the store socket, attach every layer, keep the
 * control socket open as the lifeline. Plus the domain's page allocator
 * and the set-up-time mappings that put frames side by side.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvio/domain.h>
#include <pvio/evtchn_host.h>
#include <pvio/host_memory.h>

#include "wire.h"

#define DEFAULT_NR_PAGES       16384u
#define DEFAULT_MAP_HANDLES    8192u
#define CONNECT_TIMEOUT_MS     60000
/* Watch events queued on the domain's store connection. */
#define XS_EVENTS              32u

struct domain_priv {
	struct pvio_domain pub;   /* first: pvio_domain * is domain_priv * */
	int ctrl_fd;              /* the lifeline to hostd */
	_Atomic bool hostd_dead;
	struct pvio_mem *mem;
	void *evt_mem;
	size_t evt_bytes;
	struct pvio_evtchn evtchn;
	struct pvio_xs_host xs_host;
	pthread_mutex_t alloc_lock;
	uint64_t *used;           /* page bitmap: 1 = allocated */
	uint32_t hint;            /* where the next first-fit scan starts */
	struct pvio_xs xs;
	struct pvio_xs_event xs_ev[XS_EVENTS];
};

static struct domain_priv *priv(struct pvio_domain *d)
{
	return (struct domain_priv *)d;
}

/* ---- the control exchange ---------------------------------------------- */

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Receive the reply and the fds riding on it. *nr_fds counts every fd
 * received (all kept in fds[] if they fit; any beyond are closed and make
 * the reply a protocol error). Returns 0, -ETIMEDOUT, -ECONNRESET, -EPROTO.
 */
static int recv_reply(int fd, struct hostd_wire_reply *rep, int *fds,
		      unsigned *nr_fds)
{
	size_t have = 0;
	bool extra = false;

	*nr_fds = 0;
	while (have < sizeof(*rep)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		union {
			char buf[CMSG_SPACE(HOSTD_NR_FDS * sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov = { .iov_base = (char *)rep + have,
				     .iov_len = sizeof(*rep) - have };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = u.buf,
				      .msg_controllen = sizeof(u.buf) };
		int r = poll(&p, 1, CONNECT_TIMEOUT_MS);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? -ETIMEDOUT : -errno;
		ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);

		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < k; i++) {
				int f;

				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(f));
				if (*nr_fds < HOSTD_NR_FDS)
					fds[(*nr_fds)++] = f;
				else {
					close(f);
					extra = true;
				}
			}
		}
		if (msg.msg_flags & MSG_CTRUNC)
			extra = true;
		if (n == 0)
			return -ECONNRESET;
		have += (size_t)n;
	}
	return extra ? -EPROTO : 0;
}

/* Check the reply: 0 (CONNECTED), hostd's -errno (ERROR), or -EPROTO. */
static int check_reply(const struct hostd_wire_reply *rep, unsigned nr_fds,
		       const struct pvio_domain_config *cfg, uint32_t nr_pages)
{
	if (rep->hdr.magic != HOSTD_WIRE_MAGIC || rep->hdr.len != sizeof(*rep) ||
	    rep->hdr.pad)
		return -EPROTO;
	if (rep->hdr.type == HOSTD_MSG_ERROR)
		return rep->status < 0 && rep->status > -4096 && nr_fds == 0 ?
			rep->status : -EPROTO;
	if (rep->hdr.type != HOSTD_MSG_CONNECTED ||
	    rep->hdr.version != HOSTD_WIRE_VERSION || rep->status != 0 ||
	    rep->nr_fds != HOSTD_NR_FDS || nr_fds != HOSTD_NR_FDS ||
	    rep->nr_pages != nr_pages || rep->domid >= PVIO_DOMID_SELF ||
	    (cfg->driver_domain != (rep->domid == 0)))
		return -EPROTO;
	return 0;
}

static bool name_ok(const char *name)
{
	size_t len;

	if (!name || (len = strlen(name)) == 0 || len > PVIO_DOMAIN_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] > 0x7e)
			return false;
	return true;
}

static int ctrl_open(const char *run_dir, int *out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", run_dir,
			     HOSTD_SOCK_NAME) >= sizeof(sa.sun_path))
		return -EINVAL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	*out = fd;
	return 0;
}

/* ---- attach and detach --------------------------------------------------- */

static void domain_free(struct domain_priv *p)
{
	pvio_xs_host_close(&p->xs_host);
	if (p->pub.evtchn)
		pvio_evtchn_detach(&p->evtchn);
	if (p->evt_mem)
		pvio_evtchn_host_region_unmap(p->evt_mem, p->evt_bytes);
	pvio_gnt_back_destroy(p->pub.gnt_back);
	pvio_gnt_front_destroy(p->pub.gnt);
	pvio_mem_close(p->mem);
	if (p->ctrl_fd >= 0)
		close(p->ctrl_fd); /* last: hostd now destroys the domain */
	pthread_mutex_destroy(&p->alloc_lock);
	free(p->used);
	free(p);
}

/* Attach every layer to the fds hostd sent (consumed, also on error). */
static int domain_attach(struct domain_priv *p, int *fds, uint32_t nr_map_handles)
{
	struct pvio_domain *d = &p->pub;
	const struct pvio_machine *m;
	int rc;

	rc = pvio_mem_attach(fds[HOSTD_FD_POOL], fds[HOSTD_FD_HV], &p->mem);
	close(fds[HOSTD_FD_POOL]);
	close(fds[HOSTD_FD_HV]);
	fds[HOSTD_FD_POOL] = fds[HOSTD_FD_HV] = -1;
	if (rc)
		goto out;
	m = pvio_mem_machine(p->mem);
	rc = -EPROTO;
	if (d->domid >= m->max_domains || d->nr_pages > m->max_pages)
		goto out;
	d->machine = m;
	rc = pvio_gnt_front_create(m, d->domid, &d->gnt);
	if (!rc)
		rc = pvio_gnt_back_create(m, d->domid, nr_map_handles, &d->gnt_back);
	if (rc)
		goto out;

	rc = pvio_evtchn_host_region_map(fds[HOSTD_FD_EVTCHN], &p->evt_mem,
					 &p->evt_bytes);
	close(fds[HOSTD_FD_EVTCHN]);
	fds[HOSTD_FD_EVTCHN] = -1;
	if (rc)
		goto out;
	/* futex wake-ups: nothing more to pass, peers wake us by the page. */
	rc = pvio_evtchn_attach(&p->evtchn, p->evt_mem, p->evt_bytes, d->domid,
				&pvio_evtchn_host_futex_ops, NULL);
	if (rc)
		goto out;
	d->evtchn = &p->evtchn;

	pvio_xs_host_attach_fd(&p->xs_host, fds[HOSTD_FD_STORE]);
	fds[HOSTD_FD_STORE] = -1;
	rc = pvio_xs_init(&p->xs, &pvio_xs_host_ops, &p->xs_host, p->xs_ev, XS_EVENTS);
	if (rc)
		goto out;
	d->xs = &p->xs;

	p->used = calloc((d->nr_pages + 63) / 64, sizeof(uint64_t));
	rc = p->used ? 0 : -ENOMEM;
out:
	close_fds(fds, HOSTD_NR_FDS);
	return rc;
}

int pvio_domain_connect(const char *run_dir, const struct pvio_domain_config *cfg,
			struct pvio_domain **out)
{
	struct hostd_wire_connect req;
	struct hostd_wire_reply rep;
	struct domain_priv *p;
	int fds[HOSTD_NR_FDS] = { -1, -1, -1, -1 };
	unsigned nr_fds = 0;
	int rc;

	if (!run_dir || !cfg || !out || !name_ok(cfg->name))
		return -EINVAL;
	uint32_t nr_pages = cfg->nr_pages ? cfg->nr_pages : DEFAULT_NR_PAGES;

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ctrl_fd = -1;
	p->xs_host.fd = -1;
	pthread_mutex_init(&p->alloc_lock, NULL);

	rc = ctrl_open(run_dir, &p->ctrl_fd);
	if (rc)
		goto fail;
	memset(&req, 0, sizeof(req));
	req.hdr.magic = HOSTD_WIRE_MAGIC;
	req.hdr.version = HOSTD_WIRE_VERSION;
	req.hdr.type = HOSTD_MSG_CONNECT;
	req.hdr.len = sizeof(req);
	req.nr_pages = nr_pages;
	req.flags = cfg->driver_domain ? HOSTD_CONNECT_DRIVER_DOMAIN : 0;
	strncpy(req.name, cfg->name, sizeof(req.name) - 1);
	rc = send_all(p->ctrl_fd, &req, sizeof(req));
	if (!rc)
		rc = recv_reply(p->ctrl_fd, &rep, fds, &nr_fds);
	if (!rc)
		rc = check_reply(&rep, nr_fds, cfg, nr_pages);
	if (rc) {
		close_fds(fds, nr_fds);
		goto fail;
	}
	p->pub.domid = rep.domid;
	p->pub.nr_pages = rep.nr_pages;
	rc = domain_attach(p, fds, cfg->nr_map_handles ? cfg->nr_map_handles :
			   DEFAULT_MAP_HANDLES);
	if (rc)
		goto fail;
	*out = &p->pub;
	return 0;
fail:
	domain_free(p);
	return rc;
}

void pvio_domain_disconnect(struct pvio_domain *d)
{
	if (d)
		domain_free(priv(d));
}

bool pvio_domain_hostd_alive(struct pvio_domain *d)
{
	struct domain_priv *p = priv(d);
	char byte;

	if (!d || atomic_load_explicit(&p->hostd_dead, memory_order_relaxed))
		return false;
	/* hostd never writes after the reply: readable means EOF or error. */
	ssize_t n = recv(p->ctrl_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		atomic_store_explicit(&p->hostd_dead, true, memory_order_relaxed);
		return false;
	}
	return true;
}

/* ---- pages ------------------------------------------------------------- */

static bool bit_test(const uint64_t *bm, uint32_t i)
{
	return bm[i / 64] >> (i % 64) & 1;
}

static void bits_set(uint64_t *bm, uint32_t first, uint32_t n, bool on)
{
	for (uint32_t i = first; i < first + n; i++) {
		if (on)
			bm[i / 64] |= (uint64_t)1 << (i % 64);
		else
			bm[i / 64] &= ~((uint64_t)1 << (i % 64));
	}
}

/* First fit from start: the first run of n free pages at or after start. */
static bool find_run(const uint64_t *bm, uint32_t nr, uint32_t start, uint32_t n,
		     uint32_t *first)
{
	uint32_t run = 0;

	for (uint32_t i = start; i < nr; i++) {
		if (bm[i / 64] == UINT64_MAX && i % 64 == 0 && i + 64 <= nr) {
			run = 0;
			i += 63;
			continue;
		}
		run = bit_test(bm, i) ? 0 : run + 1;
		if (run == n) {
			*first = i + 1 - n;
			return true;
		}
	}
	return false;
}

int pvio_domain_page_alloc(struct pvio_domain *d, uint32_t n, uint32_t *pfn)
{
	struct domain_priv *p = priv(d);
	uint32_t first;
	bool found;

	if (!d || !pfn || n == 0 || n > d->nr_pages)
		return -EINVAL;
	pthread_mutex_lock(&p->alloc_lock);
	found = find_run(p->used, d->nr_pages, p->hint, n, &first) ||
		(p->hint && find_run(p->used, d->nr_pages, 0, n, &first));
	if (found) {
		bits_set(p->used, first, n, true);
		p->hint = first + n < d->nr_pages ? first + n : 0;
	}
	pthread_mutex_unlock(&p->alloc_lock);
	if (!found)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		void *pg = pvio_mach_pfn_ptr(d->machine, d->domid, first + i);

		if (pg)
			memset(pg, 0, PVIO_PAGE_SIZE);
	}
	*pfn = first;
	return 0;
}

int pvio_domain_page_free(struct pvio_domain *d, uint32_t pfn, uint32_t n)
{
	struct domain_priv *p = priv(d);
	int rc = 0;

	if (!d || n == 0 || pfn >= d->nr_pages || n > d->nr_pages - pfn)
		return -EINVAL;
	pthread_mutex_lock(&p->alloc_lock);
	for (uint32_t i = pfn; i < pfn + n; i++)
		if (!bit_test(p->used, i))
			rc = -EINVAL;
	if (!rc)
		bits_set(p->used, pfn, n, false);
	pthread_mutex_unlock(&p->alloc_lock);
	return rc;
}

void *pvio_domain_page(struct pvio_domain *d, uint32_t pfn)
{
	if (!d || pfn >= d->nr_pages)
		return NULL;
	return pvio_mach_pfn_ptr(d->machine, d->domid, pfn);
}

/* ---- frames side by side (set-up time only) ------------------------------ */

static bool va_ok(const void *va)
{
	return va && ((uintptr_t)va & (PVIO_PAGE_SIZE - 1)) == 0;
}

int pvio_domain_vmap(struct pvio_domain *d, const uint32_t *pfns, uint32_t n,
		     void **va)
{
	uint32_t *mfns;
	int rc;

	if (!d || !pfns || !va || n == 0 || n > PVIO_DOMAIN_VMAP_MAX)
		return -EINVAL;
	mfns = malloc(n * sizeof(*mfns));
	if (!mfns)
		return -ENOMEM;
	rc = 0;
	for (uint32_t i = 0; i < n && !rc; i++) {
		mfns[i] = pfns[i] < d->nr_pages ?
			pvio_mach_pfn_to_mfn(d->machine, d->domid, pfns[i]) :
			PVIO_MFN_INVALID;
		if (mfns[i] == PVIO_MFN_INVALID)
			rc = -EINVAL;
	}
	if (!rc)
		rc = pvio_mem_map_frames(priv(d)->mem, mfns, n, va);
	free(mfns);
	return rc;
}

int pvio_domain_vunmap(struct pvio_domain *d, void *va, uint32_t n)
{
	if (!d || !va_ok(va) || n == 0 || n > PVIO_DOMAIN_VMAP_MAX)
		return -EINVAL;
	return pvio_mem_unmap_frames(priv(d)->mem, va, n);
}

/* Unmap the grants of ops[] that mapped; returns -EINVAL if one failed. */
static int unmap_handles(struct pvio_gnt_back *b, const uint32_t *handles,
			 uint32_t n)
{
	int rc = 0;

	for (uint32_t i = 0; i < n; i++)
		if (pvio_gnt_unmap_one(b, handles[i]) != PVIO_GNTST_okay)
			rc = -EINVAL;
	return rc;
}

int pvio_domain_map_ring(struct pvio_domain *d, pvio_domid_t dom,
			 const pvio_grant_ref_t *refs, uint32_t n, void **va,
			 uint32_t *handles)
{
	struct pvio_gnt_map_op *ops;
	uint32_t *mfns, nr_ok = 0;
	int rc = 0;

	if (!d || !refs || !va || !handles || n == 0 || n > PVIO_DOMAIN_VMAP_MAX)
		return -EINVAL;
	ops = calloc(n, sizeof(*ops));
	mfns = calloc(n, sizeof(*mfns));
	if (!ops || !mfns) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		ops[i].ref = refs[i];
		ops[i].dom = dom;
		ops[i].flags = 0; /* read-write */
	}
	rc = pvio_gnt_map(d->gnt_back, ops, n);
	if (rc)
		goto out;
	const unsigned char *pool = d->machine->pool;

	for (uint32_t i = 0; i < n; i++) {
		if (ops[i].status != PVIO_GNTST_okay) {
			if (!rc)
				rc = ops[i].status == PVIO_GNTST_no_space ? -ENOMEM : -EACCES;
			continue;
		}
		handles[nr_ok++] = ops[i].handle;
		mfns[i] = (uint32_t)(((const unsigned char *)ops[i].addr - pool) >>
				     PVIO_PAGE_SHIFT);
	}
	if (!rc)
		rc = pvio_mem_map_frames(priv(d)->mem, mfns, n, va);
	if (rc)
		unmap_handles(d->gnt_back, handles, nr_ok);
out:
	free(ops);
	free(mfns);
	return rc;
}

int pvio_domain_unmap_ring(struct pvio_domain *d, void *va, uint32_t n,
			   const uint32_t *handles)
{
	int rc;

	if (!d || !va_ok(va) || !handles || n == 0 || n > PVIO_DOMAIN_VMAP_MAX)
		return -EINVAL;
	/* The view goes first: nothing may reach a frame after its unmap. */
	rc = pvio_mem_unmap_frames(priv(d)->mem, va, n);
	int urc = unmap_handles(d->gnt_back, handles, n);

	return rc ? rc : urc;
}
