/* SPDX-License-Identifier: MIT */
/*
 * The store's requests, as Xen's C xenstored answers them: argument
 * parsing, path rules, permissions, watches, transactions and domains.
 *
 * Everything a client sends is hostile: each handler checks its payload
 * (the NUL-terminated strings it needs, path characters and length) and
 * answers a bad request with XS_ERROR, never with a crash.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Xen's xsd_errors names, the only error strings on the wire. */
static const struct {
	int err;
	const char *name;
} xsd_errors[] = {
	{ EINVAL, "EINVAL" }, { EACCES, "EACCES" }, { EEXIST, "EEXIST" },
	{ EISDIR, "EISDIR" }, { ENOENT, "ENOENT" }, { ENOMEM, "ENOMEM" },
	{ ENOSPC, "ENOSPC" }, { EIO, "EIO" }, { ENOTEMPTY, "ENOTEMPTY" },
	{ ENOSYS, "ENOSYS" }, { EROFS, "EROFS" }, { EBUSY, "EBUSY" },
	{ EAGAIN, "EAGAIN" }, { EISCONN, "EISCONN" }, { E2BIG, "E2BIG" },
	{ EPERM, "EPERM" },
};

/* One request being handled. */
struct req {
	struct pvio_xenstored *srv;
	struct xsd_conn *c;
	const struct pvio_xs_msg_hdr *h;
	const char *data;
	uint32_t len;
	struct xsd_view view;
};

static void send_reply(struct req *r, uint32_t type, const void *data,
		       uint32_t len);

static void send_error(struct req *r, int err)
{
	const char *name = "EIO";

	if (err < 0)
		err = -err;
	for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (xsd_errors[i].err == err)
			name = xsd_errors[i].name;
	r->srv->stats.errors++;
	xsd_conn_send(r->c, PVIO_XS_ERROR, r->h->req_id, r->h->tx_id, name,
		      (uint32_t)strlen(name) + 1, false);
}

static void send_reply(struct req *r, uint32_t type, const void *data,
		       uint32_t len)
{
	if (len > PVIO_XS_PAYLOAD_MAX) {
		send_error(r, E2BIG);
		return;
	}
	xsd_conn_send(r->c, type, r->h->req_id, r->h->tx_id, data, len, false);
}

static void send_ack(struct req *r)
{
	send_reply(r, r->h->type, "OK", 3);
}

/* --- arguments --------------------------------------------------------- */

/* The payload as exactly one NUL-terminated string, or NULL. */
static const char *onearg(const struct req *r)
{
	if (r->len == 0 || r->data[r->len - 1] != '\0' ||
	    strlen(r->data) != r->len - 1)
		return NULL;
	return r->data;
}

/* Split the payload into at most n NUL-terminated strings; the count. */
static unsigned int get_strings(const struct req *r, const char **vec,
				unsigned int n)
{
	unsigned int i = 0;
	uint32_t off = 0;

	while (i < n && off < r->len) {
		const char *s = r->data + off;
		const char *nul = memchr(s, '\0', r->len - off);

		if (!nul)
			break;
		vec[i++] = s;
		off += (uint32_t)(nul - s) + 1;
	}
	return i;
}

/* A decimal domid 0..65535 with nothing after it. */
static int parse_domid(const char *s, uint32_t *out)
{
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);

	if (errno || *end || v > 0xffff)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

/* --- paths ------------------------------------------------------------- */

static bool valid_chars(const char *p)
{
	static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "abcdefghijklmnopqrstuvwxyz"
				 "0123456789-/_@";

	return p[strspn(p, ok)] == '\0';
}

static int domain_path(uint32_t domid, char *buf, size_t size)
{
	return snprintf(buf, size, "/local/domain/%" PRIu32, domid);
}

/*
 * Xen's canonicalize() + is_valid_nodename(): a relative path is below
 * the caller's /local/domain/<id>; "@name" only where allow_special;
 * characters A-Za-z0-9-/_@; no "//", no trailing "/" but for "/".
 * Writes the absolute path to out (XSD_PATH_BUF). 0 or -EINVAL.
 */
static int canonical(const struct req *r, const char *in, char *out,
		     bool allow_special)
{
	const struct pvio_xenstored_config *cfg = &r->srv->cfg;
	size_t inlen = strlen(in);

	if (in[0] == '@') {
		if (!allow_special || inlen > PVIO_XS_REL_PATH_MAX ||
		    !valid_chars(in))
			return -EINVAL;
		memcpy(out, in, inlen + 1);
		return 0;
	}
	if (in[0] == '/') {
		if (inlen > cfg->max_path_len)
			return -EINVAL;
		memcpy(out, in, inlen + 1);
	} else {
		char pre[32];
		int pl = domain_path(r->c->who.domid, pre, sizeof(pre));

		if (inlen + (size_t)pl + 1 > cfg->max_path_len)
			return -EINVAL;
		memcpy(out, pre, (size_t)pl);
		out[pl] = '/';
		memcpy(out + pl + 1, in, inlen + 1);
	}
	size_t len = strlen(out);

	if (len > 1 && out[len - 1] == '/')
		return -EINVAL;
	if (strstr(out, "//") || !valid_chars(out))
		return -EINVAL;
	if (!r->c->who.priv) {
		unsigned int id;
		int off = 0;

		if (sscanf(out, "/local/domain/%5u/%n", &id, &off) != 1)
			off = 0;
		if (len - (size_t)off > cfg->max_rel_path_len)
			return -EINVAL;
	}
	return 0;
}

/* Parent of an absolute path other than "/", into out. */
static void parent_of(const char *path, char *out)
{
	const char *slash = strrchr(path, '/');
	size_t l = (size_t)(slash - path);

	if (l == 0)
		l = 1; /* "/a" -> "/" */
	memcpy(out, path, l);
	out[l] = '\0';
}

static const char *base_of(const char *path)
{
	return strrchr(path, '/') + 1;
}

/* --- permissions ------------------------------------------------------- */

static unsigned int perm_for(struct pvio_xenstored *srv,
			     const struct xsd_actor *who,
			     const struct xsd_perm *p, uint32_t np)
{
	const unsigned int all = XSD_PERM_READ | XSD_PERM_WRITE | XSD_PERM_OWNER;
	struct xsd_domain *d = xsd_domain_get(&srv->st, who->domid, false);
	bool tgt = d && d->has_target;

	/* Owners and tools get it all... */
	if (who->priv || np == 0 || p[0].id == who->domid ||
	    (tgt && p[0].id == d->target))
		return all;
	for (uint32_t i = 1; i < np; i++)
		if (p[i].id == who->domid || (tgt && p[i].id == d->target))
			return p[i].perm & (XSD_PERM_READ | XSD_PERM_WRITE);
	return p[0].perm & (XSD_PERM_READ | XSD_PERM_WRITE);
}

/*
 * Xen's get_node(): the node if the caller has perm on it. Otherwise
 * -ENOENT or -EACCES, chosen (as errno_from_parents) so that the error
 * says nothing about a node the caller may not see: -ENOENT only when
 * the nearest existing ancestor grants perm. -ENOMEM/-ENOSPC from the view.
 */
static int get_node(struct req *r, const char *path, unsigned int perm,
		    const struct xsd_node **out)
{
	const struct xsd_node *n;
	int err, ret = xsd_view_get(&r->view, path, &n);

	*out = NULL;
	if (ret)
		return ret;
	if (n) {
		if ((perm_for(r->srv, &r->c->who, n->perms, n->nperms) & perm) ==
		    perm) {
			*out = n;
			return 0;
		}
		err = -EACCES;
	} else {
		err = -ENOENT;
	}
	char up[XSD_PATH_BUF];

	strcpy(up, path);
	do {
		char tmp[XSD_PATH_BUF];

		if (strcmp(up, "/") == 0)
			return -EACCES; /* no root: cannot happen */
		parent_of(up, tmp);
		strcpy(up, tmp);
		ret = xsd_view_get(&r->view, up, &n);
		if (ret)
			return ret;
	} while (!n);
	if (perm_for(r->srv, &r->c->who, n->perms, n->nperms) & perm)
		return err;
	return -EACCES;
}

/* --- watches ----------------------------------------------------------- */

/* Is child below parent, or equal? (Xen's is_child; "/" holds all.) */
static bool is_child(const char *child, const char *parent)
{
	size_t l = strlen(parent);

	if (strcmp(parent, "/") == 0)
		return child[0] == '/';
	return strncmp(child, parent, l) == 0 &&
	       (child[l] == '/' || child[l] == '\0');
}

static void queue_event(struct xsd_conn *c, const struct xsd_watch *w,
			const char *name)
{
	char buf[PVIO_XS_PAYLOAD_MAX];

	if (w->relative) {
		char pre[32];
		int pl = domain_path(c->who.domid, pre, sizeof(pre));

		if (strncmp(name, pre, (size_t)pl) == 0) {
			name += pl;
			if (*name == '/')
				name++;
		}
	}
	size_t nl = strlen(name) + 1, tl = strlen(w->token) + 1;

	if (nl + tl > sizeof(buf))
		return;
	memcpy(buf, name, nl);
	memcpy(buf + nl, w->token, tl);
	xsd_conn_send(c, PVIO_XS_WATCH_EVENT, 0, 0, buf, (uint32_t)(nl + tl),
		      true);
}

/*
 * A change to path (recurse: path and everything below it removed): every
 * watch on path or an ancestor fires with path; with recurse, every watch
 * below path fires with its own path. A guest only hears about nodes it
 * may read (perms: the node's, for a removal the removed root's).
 */
static void fire_watches(struct pvio_xenstored *srv, const char *path,
			 bool recurse, const struct xsd_perm *p, uint32_t np)
{
	for (struct xsd_conn *c = srv->conns; c; c = c->next) {
		if (c->dead)
			continue;
		bool may = perm_for(srv, &c->who, p, np) & XSD_PERM_READ;

		for (struct xsd_watch *w = c->watches; w; w = w->next) {
			const char *name;

			if (w->path[0] == '@')
				continue;
			if (is_child(path, w->path))
				name = path;
			else if (recurse && is_child(w->path, path))
				name = w->path;
			else
				continue;
			if (may)
				queue_event(c, w, name);
		}
	}
}

static void fire_special(struct pvio_xenstored *srv, int which)
{
	const struct xsd_special *s = &srv->special[which];

	for (struct xsd_conn *c = srv->conns; c; c = c->next) {
		if (c->dead || !(perm_for(srv, &c->who, s->perms, s->nperms) &
				 XSD_PERM_READ))
			continue;
		for (struct xsd_watch *w = c->watches; w; w = w->next)
			if (strcmp(w->path, s->name) == 0)
				queue_event(c, w, s->name);
	}
}

/* Fire now, or at commit when the request is in a transaction. */
static int changed(struct req *r, const char *path, bool recurse,
		   const struct xsd_perm *p, uint32_t np)
{
	if (r->view.tx)
		return xsd_txn_add_change(r->view.tx, path, recurse, p, np);
	fire_watches(r->srv, path, recurse, p, np);
	return 0;
}

static void watch_free(struct xsd_watch *w)
{
	free(w->path);
	free(w->token);
	free(w);
}

/* Drop every watch and transaction of c (RESET_WATCHES, close). */
void xsd_conn_drop_state(struct xsd_conn *c)
{
	while (c->watches) {
		struct xsd_watch *w = c->watches;

		c->watches = w->next;
		watch_free(w);
	}
	c->nwatches = 0;
	while (c->txns) {
		struct xsd_txn *tx = c->txns;

		c->txns = tx->next;
		xsd_txn_free(tx);
	}
	c->ntxns = 0;
}

/* --- node creation and removal ----------------------------------------- */

/*
 * Xen's create_node(): path and any missing ancestors, each inheriting
 * its parent's permissions, owned by the caller when it is a guest.
 * Checks the guest's node quota for all of them first. The caller fires
 * the watch. Returns 0, -ENOSPC, -ENOMEM.
 */
static int create_node(struct req *r, const struct xsd_actor *who,
		       const char *path, const void *value, uint32_t vlen)
{
	char chain[XSD_PATH_BUF];
	const struct xsd_node *n;
	unsigned int missing = 0;
	int ret;

	/* Count the missing ancestors (the path itself is missing). */
	strcpy(chain, path);
	for (;;) {
		char up[XSD_PATH_BUF];

		missing++;
		parent_of(chain, up);
		ret = xsd_view_get(&r->view, up, &n);
		if (ret)
			return ret;
		if (n)
			break;
		strcpy(chain, up);
	}
	if (!who->priv) {
		int64_t have = xsd_domain_entries(&r->srv->st, who->domid);

		if (r->view.tx && r->view.tx->domid == who->domid)
			have += r->view.tx->entry_delta;
		if (have + missing > r->srv->cfg.max_entries_per_domain)
			return -ENOSPC;
	}
	/* chain is the topmost missing node; create downwards to path. */
	for (;;) {
		char up[XSD_PATH_BUF];
		struct xsd_node *parent;
		bool last = strcmp(chain, path) == 0;

		parent_of(chain, up);
		ret = xsd_view_mut(&r->view, up, &parent);
		if (ret)
			return ret;
		if (!parent)
			return -ENOENT;
		uint32_t np = parent->nperms ? parent->nperms : 1;
		struct xsd_perm *perms = calloc(np, sizeof(*perms));

		if (!perms)
			return -ENOMEM;
		if (parent->nperms)
			memcpy(perms, parent->perms, np * sizeof(*perms));
		if (!who->priv)
			perms[0].id = who->domid;
		ret = xsd_node_add_child(parent, base_of(chain));
		if (!ret) {
			ret = xsd_view_create(&r->view, chain, last ? value : "",
					      last ? vlen : 0, perms, np);
			if (ret)
				xsd_node_del_child(parent, base_of(chain));
		}
		free(perms);
		if (ret || last)
			return ret;
		/* Next level down: the component of path after chain. */
		size_t l = strlen(chain);
		const char *next = strchr(path + l + 1, '/');

		l = next ? (size_t)(next - path) : strlen(path);
		memcpy(chain, path, l);
		chain[l] = '\0';
	}
}

/* A growable list of paths, for removing a subtree without recursion. */
struct pathlist {
	char **v;
	size_t n, cap;
};

static int pathlist_add(struct pathlist *pl, const char *p, size_t len)
{
	if (pl->n == pl->cap) {
		size_t ncap = pl->cap ? pl->cap * 2 : 16;
		char **nv = realloc(pl->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		pl->v = nv;
		pl->cap = ncap;
	}
	char *s = malloc(len + 1);

	if (!s)
		return -ENOMEM;
	memcpy(s, p, len);
	s[len] = '\0';
	pl->v[pl->n++] = s;
	return 0;
}

static void pathlist_free(struct pathlist *pl)
{
	for (size_t i = 0; i < pl->n; i++)
		free(pl->v[i]);
	free(pl->v);
}

/*
 * Remove path (not "/") and everything below it, and unlink it from its
 * parent. Descendants are collected breadth-first, then deleted.
 * Returns 0, -ENOMEM, -ENOSPC.
 */
static int remove_subtree(struct xsd_view *v, const char *path)
{
	struct pathlist pl = { 0 };
	int ret = pathlist_add(&pl, path, strlen(path));

	for (size_t i = 0; !ret && i < pl.n; i++) {
		const struct xsd_node *n;

		ret = xsd_view_get(v, pl.v[i], &n);
		if (ret || !n)
			continue;
		for (uint32_t off = 0; !ret && off < n->childlen;) {
			const char *child = n->children + off;
			size_t cl = strlen(child), pl0 = strlen(pl.v[i]);
			char buf[XSD_PATH_BUF];

			off += (uint32_t)cl + 1;
			if (pl0 + 1 + cl >= sizeof(buf))
				continue; /* cannot exist: longer than any path */
			memcpy(buf, pl.v[i], pl0);
			buf[pl0] = '/';
			memcpy(buf + pl0 + 1, child, cl + 1);
			/* n stays put: pathlist_add() does not touch the tree */
			ret = pathlist_add(&pl, buf, pl0 + 1 + cl);
		}
	}
	for (size_t i = pl.n; !ret && i-- > 0;)
		ret = xsd_view_delete(v, pl.v[i]);
	if (!ret) {
		char up[XSD_PATH_BUF];
		struct xsd_node *parent;

		parent_of(path, up);
		ret = xsd_view_mut(v, up, &parent);
		if (!ret && parent)
			xsd_node_del_child(parent, base_of(path));
	}
	pathlist_free(&pl);
	return ret;
}

/* --- handlers ---------------------------------------------------------- */

static int do_read(struct req *r)
{
	const char *arg = onearg(r);
	char path[XSD_PATH_BUF];
	const struct xsd_node *n;
	int ret;

	if (!arg || canonical(r, arg, path, false))
		return -EINVAL;
	ret = get_node(r, path, XSD_PERM_READ, &n);
	if (ret)
		return ret;
	if (r->h->type == PVIO_XS_READ)
		send_reply(r, PVIO_XS_READ, n->value, n->vlen);
	else
		send_reply(r, PVIO_XS_DIRECTORY, n->children, n->childlen);
	return 0;
}

/* Xen's do_directory_part(): "gen\0" + children from byte offset. */
static int do_directory_part(struct req *r)
{
	const char *vec[2];
	char path[XSD_PATH_BUF], buf[PVIO_XS_PAYLOAD_MAX];
	const struct xsd_node *n;
	char *end;
	int ret;

	if (get_strings(r, vec, 2) != 2 || canonical(r, vec[0], path, false))
		return -EINVAL;
	errno = 0;
	unsigned long off = strtoul(vec[1], &end, 10);

	if (errno || *end || end == vec[1])
		return -EINVAL;
	ret = get_node(r, path, XSD_PERM_READ, &n);
	if (ret)
		return ret;
	int gl = snprintf(buf, sizeof(buf), "%" PRIu64, n->gen) + 1;

	if (off >= n->childlen) {
		buf[gl] = '\0';
		send_reply(r, PVIO_XS_DIRECTORY_PART, buf, (uint32_t)gl + 1);
		return 0;
	}
	/* Children must start at a name boundary. */
	if (off > 0 && n->children[off - 1] != '\0')
		return -EINVAL;
	size_t len = 0, maxlen = sizeof(buf) - (size_t)gl - 1;
	const char *child = n->children + off;

	while (len + strlen(child) < maxlen) {
		len += strlen(child) + 1;
		child += strlen(child) + 1;
		if (off + len == n->childlen)
			break;
	}
	memcpy(buf + gl, n->children + off, len);
	if (off + len == n->childlen)
		buf[gl + len++] = '\0';
	send_reply(r, PVIO_XS_DIRECTORY_PART, buf, (uint32_t)(gl + len));
	return 0;
}

static int do_write(struct req *r)
{
	const char *nul = memchr(r->data, '\0', r->len);
	char path[XSD_PATH_BUF];
	const struct xsd_node *n;
	int ret;

	if (!nul || canonical(r, r->data, path, false))
		return -EINVAL;
	const char *value = nul + 1;
	uint32_t vlen = r->len - (uint32_t)(value - r->data);

	if (!r->c->who.priv && vlen > r->srv->cfg.max_value_size)
		return -ENOSPC;
	ret = get_node(r, path, XSD_PERM_WRITE, &n);
	if (ret == -ENOENT) {
		ret = create_node(r, &r->c->who, path, value, vlen);
	} else if (!ret) {
		struct xsd_node *m;

		ret = xsd_view_mut(&r->view, path, &m);
		if (!ret && m)
			ret = xsd_node_set_value(m, value, vlen);
	}
	if (ret)
		return ret;
	ret = get_node(r, path, 0, &n);
	if (!ret && n)
		ret = changed(r, path, false, n->perms, n->nperms);
	if (ret)
		return ret;
	send_ack(r);
	return 0;
}

static int do_mkdir(struct req *r)
{
	const char *arg = onearg(r);
	char path[XSD_PATH_BUF];
	const struct xsd_node *n;
	int ret;

	if (!arg || canonical(r, arg, path, false))
		return -EINVAL;
	ret = get_node(r, path, XSD_PERM_WRITE, &n);
	if (ret == -ENOENT) {
		ret = create_node(r, &r->c->who, path, "", 0);
		if (!ret)
			ret = get_node(r, path, 0, &n);
		if (!ret && n)
			ret = changed(r, path, false, n->perms, n->nperms);
	}
	if (ret)
		return ret;
	send_ack(r);
	return 0;
}

static int do_rm(struct req *r)
{
	const char *arg = onearg(r);
	char path[XSD_PATH_BUF];
	const struct xsd_node *n;
	int ret;

	if (!arg || canonical(r, arg, path, false))
		return -EINVAL;
	ret = get_node(r, path, XSD_PERM_WRITE, &n);
	if (ret == -ENOENT) {
		/* Didn't exist already? Fine, if parent exists. */
		char up[XSD_PATH_BUF];

		parent_of(path, up);
		ret = xsd_view_get(&r->view, up, &n);
		if (ret)
			return ret;
		if (!n)
			return -ENOENT;
		send_ack(r);
		return 0;
	}
	if (ret)
		return ret;
	if (strcmp(path, "/") == 0)
		return -EINVAL;
	struct xsd_perm *perms = malloc(n->nperms * sizeof(*perms));
	uint32_t np = n->nperms;

	if (!perms)
		return -ENOMEM;
	memcpy(perms, n->perms, np * sizeof(*perms));
	ret = remove_subtree(&r->view, path);
	if (!ret)
		ret = changed(r, path, true, perms, np);
	free(perms);
	if (ret)
		return ret;
	send_ack(r);
	return 0;
}

static void perms_to_string(const struct xsd_perm *p, uint32_t np, char *buf,
			    size_t size, uint32_t *len)
{
	static const char c[4] = { 'n', 'r', 'w', 'b' };
	size_t off = 0;

	for (uint32_t i = 0; i < np && off < size; i++) {
		int l = snprintf(buf + off, size - off, "%c%" PRIu32,
				 c[p[i].perm & 3], p[i].id);

		off += (size_t)l + 1; /* keep the NUL */
	}
	*len = (uint32_t)(off > size ? size + 1 : off); /* > size: E2BIG */
}

static struct xsd_special *find_special(struct pvio_xenstored *srv,
					const char *name)
{
	for (int i = 0; i < XSD_SPECIAL_COUNT; i++)
		if (strcmp(srv->special[i].name, name) == 0)
			return &srv->special[i];
	return NULL;
}

static int do_get_perms(struct req *r)
{
	const char *arg = onearg(r);
	char path[XSD_PATH_BUF], buf[PVIO_XS_PAYLOAD_MAX];
	const struct xsd_perm *p;
	uint32_t np, len;

	if (!arg || canonical(r, arg, path, true))
		return -EINVAL;
	if (path[0] == '@') {
		struct xsd_special *s = find_special(r->srv, path);

		if (!s)
			return -ENOENT;
		p = s->perms;
		np = s->nperms;
	} else {
		const struct xsd_node *n;
		int ret = get_node(r, path, XSD_PERM_READ, &n);

		if (ret)
			return ret;
		p = n->perms;
		np = n->nperms;
	}
	perms_to_string(p, np, buf, sizeof(buf), &len);
	send_reply(r, PVIO_XS_GET_PERMS, buf, len);
	return 0;
}

static int parse_perm(const char *s, struct xsd_perm *out)
{
	switch (s[0]) {
	case 'n': out->perm = XSD_PERM_NONE; break;
	case 'r': out->perm = XSD_PERM_READ; break;
	case 'w': out->perm = XSD_PERM_WRITE; break;
	case 'b': out->perm = XSD_PERM_READ | XSD_PERM_WRITE; break;
	default: return -EINVAL;
	}
	return parse_domid(s + 1, &out->id);
}

static int do_set_perms(struct req *r)
{
	const char *vec[1];
	char path[XSD_PATH_BUF];
	struct xsd_perm *perms;
	uint32_t np = 0;
	int ret = 0;

	if (get_strings(r, vec, 1) != 1 || canonical(r, vec[0], path, true))
		return -EINVAL;
	/* The rest: one or more perm strings, each NUL-terminated. */
	uint32_t off = (uint32_t)strlen(vec[0]) + 1, start = off;

	while (off < r->len) {
		const char *nul = memchr(r->data + off, '\0', r->len - off);

		if (!nul)
			return -EINVAL;
		off = (uint32_t)(nul - r->data) + 1;
		np++;
	}
	if (np == 0)
		return -EINVAL;
	if (!r->c->who.priv && np > r->srv->cfg.max_perms_per_node)
		return -ENOSPC;
	perms = calloc(np, sizeof(*perms));
	if (!perms)
		return -ENOMEM;
	off = start;
	for (uint32_t i = 0; i < np && !ret; i++) {
		ret = parse_perm(r->data + off, &perms[i]);
		off += (uint32_t)strlen(r->data + off) + 1;
	}
	if (ret)
		goto out;
	if (path[0] == '@') {
		struct xsd_special *s = find_special(r->srv, path);

		if (!r->c->who.priv) {
			ret = -EACCES;
		} else if (!s) {
			ret = -ENOENT;
		} else {
			free(s->perms);
			s->perms = perms;
			s->nperms = np;
			perms = NULL;
		}
		goto out;
	}
	const struct xsd_node *n;

	ret = get_node(r, path, XSD_PERM_WRITE | XSD_PERM_OWNER, &n);
	if (ret)
		goto out;
	/* Unprivileged domains may not change the owner. */
	if (!r->c->who.priv && perms[0].id != n->perms[0].id) {
		ret = -EPERM;
		goto out;
	}
	struct xsd_node *m;

	ret = xsd_view_mut(&r->view, path, &m);
	if (!ret && m)
		ret = xsd_view_set_perms(&r->view, m, perms, np);
	if (!ret)
		ret = changed(r, path, false, perms, np);
out:
	free(perms);
	if (!ret)
		send_ack(r);
	return ret;
}

static int do_watch(struct req *r)
{
	const char *vec[2];
	char path[XSD_PATH_BUF];
	struct xsd_conn *c = r->c;

	if (get_strings(r, vec, 2) != 2)
		return -EINVAL;
	bool relative = vec[0][0] != '/' && vec[0][0] != '@';

	if (canonical(r, vec[0], path, true))
		return -EINVAL;
	for (struct xsd_watch *w = c->watches; w; w = w->next)
		if (strcmp(w->path, path) == 0 && strcmp(w->token, vec[1]) == 0)
			return -EEXIST;
	if (c->nwatches >= r->srv->cfg.max_watches_per_conn)
		return -E2BIG;
	struct xsd_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->path = strdup(path);
	w->token = strdup(vec[1]);
	if (!w->path || !w->token) {
		watch_free(w);
		return -ENOMEM;
	}
	w->relative = relative;
	/* Append: events keep registration order. */
	struct xsd_watch **pp = &c->watches;

	while (*pp)
		pp = &(*pp)->next;
	*pp = w;
	c->nwatches++;
	send_ack(r);
	/* We fire once up front, as Xen: simplifies clients and restart. */
	queue_event(c, w, w->path);
	return 0;
}

static int do_unwatch(struct req *r)
{
	const char *vec[2];
	char path[XSD_PATH_BUF];

	if (get_strings(r, vec, 2) != 2 || canonical(r, vec[0], path, true))
		return -EINVAL;
	for (struct xsd_watch **pp = &r->c->watches; *pp; pp = &(*pp)->next) {
		struct xsd_watch *w = *pp;

		if (strcmp(w->path, path) == 0 && strcmp(w->token, vec[1]) == 0) {
			*pp = w->next;
			watch_free(w);
			r->c->nwatches--;
			send_ack(r);
			return 0;
		}
	}
	return -ENOENT;
}

static int do_transaction_start(struct req *r)
{
	struct xsd_conn *c = r->c;
	char buf[16];

	if (r->h->tx_id)
		return -EBUSY;
	if (c->ntxns >= r->srv->cfg.max_transactions_per_conn)
		return -ENOSPC;
	/* An id not in use on this connection, never 0. */
	uint32_t id;
	bool used;

	do {
		id = ++r->srv->next_txid;
		used = id == 0;
		for (struct xsd_txn *t = c->txns; t && !used; t = t->next)
			used = t->id == id;
	} while (used);
	struct xsd_txn *tx = xsd_txn_new(id, c->who.domid,
					 c->who.priv ? 0 :
					 r->srv->cfg.max_nodes_per_transaction);

	if (!tx)
		return -ENOMEM;
	tx->next = c->txns;
	c->txns = tx;
	c->ntxns++;
	int l = snprintf(buf, sizeof(buf), "%" PRIu32, id);

	send_reply(r, PVIO_XS_TRANSACTION_START, buf, (uint32_t)l + 1);
	return 0;
}

static int do_transaction_end(struct req *r)
{
	const char *arg = onearg(r);
	struct xsd_txn *tx = r->view.tx;
	int ret = 0;

	if (!tx)
		return -ENOENT;
	if (!arg || (strcmp(arg, "T") != 0 && strcmp(arg, "F") != 0))
		return -EINVAL;
	/* Unlink: the transaction ends whatever the outcome. */
	for (struct xsd_txn **pp = &r->c->txns; *pp; pp = &(*pp)->next) {
		if (*pp == tx) {
			*pp = tx->next;
			break;
		}
	}
	r->c->ntxns--;
	r->view.tx = NULL;
	if (arg[0] == 'T') {
		ret = xsd_txn_check(&r->srv->st, tx);
		if (!ret) {
			xsd_txn_apply(&r->srv->st, tx);
			for (struct xsd_change *ch = tx->changes; ch; ch = ch->next)
				fire_watches(r->srv, ch->path, ch->recurse,
					     ch->perms, ch->nperms);
		}
	}
	xsd_txn_free(tx);
	if (!ret)
		send_ack(r);
	return ret;
}

static int need_priv(const struct req *r)
{
	return r->c->who.priv ? 0 : -EACCES;
}

static int do_introduce(struct req *r)
{
	const char *vec[3];
	uint32_t domid;
	int ret = need_priv(r);

	if (ret)
		return ret;
	if (get_strings(r, vec, 3) != 3 || parse_domid(vec[0], &domid) ||
	    domid == 0)
		return -EINVAL;
	ret = xsd_introduce(r->srv, domid);
	if (!ret)
		send_ack(r);
	return ret;
}

static int domid_arg(const struct req *r, uint32_t *domid)
{
	const char *arg = onearg(r);

	return arg ? parse_domid(arg, domid) : -EINVAL;
}

static int do_release(struct req *r)
{
	uint32_t domid;
	int ret = need_priv(r);

	if (!ret)
		ret = domid_arg(r, &domid);
	if (!ret && domid == 0)
		ret = -EINVAL;
	if (!ret)
		ret = xsd_release(r->srv, domid);
	if (!ret)
		send_ack(r);
	return ret;
}

static bool introduced(struct pvio_xenstored *srv, uint32_t domid)
{
	struct xsd_domain *d = xsd_domain_get(&srv->st, domid, false);

	return domid == 0 || (d && d->introduced);
}

static int do_get_domain_path(struct req *r)
{
	uint32_t domid;
	char buf[32];

	if (domid_arg(r, &domid))
		return -EINVAL;
	int l = domain_path(domid, buf, sizeof(buf));

	send_reply(r, PVIO_XS_GET_DOMAIN_PATH, buf, (uint32_t)l + 1);
	return 0;
}

static int do_is_domain_introduced(struct req *r)
{
	uint32_t domid;

	if (domid_arg(r, &domid))
		return -EINVAL;
	send_reply(r, PVIO_XS_IS_DOMAIN_INTRODUCED,
		   introduced(r->srv, domid) ? "T" : "F", 2);
	return 0;
}

static int do_resume(struct req *r)
{
	uint32_t domid;
	int ret = need_priv(r);

	if (!ret)
		ret = domid_arg(r, &domid);
	if (!ret && !introduced(r->srv, domid))
		ret = -ENOENT;
	if (!ret)
		send_ack(r);
	return ret;
}

static int do_set_target(struct req *r)
{
	const char *vec[2];
	uint32_t domid, target;
	int ret = need_priv(r);

	if (ret)
		return ret;
	if (get_strings(r, vec, 2) != 2 || parse_domid(vec[0], &domid) ||
	    parse_domid(vec[1], &target))
		return -EINVAL;
	if (!introduced(r->srv, domid) || !introduced(r->srv, target))
		return -ENOENT;
	struct xsd_domain *d = xsd_domain_get(&r->srv->st, domid, true);

	if (!d)
		return -ENOMEM;
	d->has_target = true;
	d->target = target;
	send_ack(r);
	return 0;
}

static int do_reset_watches(struct req *r)
{
	xsd_conn_drop_state(r->c);
	r->view.tx = NULL;
	send_ack(r);
	return 0;
}

/* CONTROL, minimal: "print <text>" logs nothing and acks; "help" lists. */
static int do_control(struct req *r)
{
	const char *vec[1];
	int ret = need_priv(r);

	if (ret)
		return ret;
	if (get_strings(r, vec, 1) != 1)
		return -EINVAL;
	if (strcmp(vec[0], "print") == 0) {
		send_ack(r);
		return 0;
	}
	if (strcmp(vec[0], "help") == 0) {
		static const char help[] = "help\nprint <text>\n";

		send_reply(r, PVIO_XS_CONTROL, help, sizeof(help));
		return 0;
	}
	return -EINVAL;
}

void xsd_handle_msg(struct pvio_xenstored *srv, struct xsd_conn *c,
		    const struct pvio_xs_msg_hdr *h, const char *payload)
{
	struct req r = {
		.srv = srv, .c = c, .h = h, .data = payload, .len = h->len,
		.view = { .st = &srv->st, .tx = NULL },
	};
	int ret;

	srv->stats.requests++;
	if (h->tx_id && h->type != PVIO_XS_TRANSACTION_START) {
		for (r.view.tx = c->txns; r.view.tx; r.view.tx = r.view.tx->next)
			if (r.view.tx->id == h->tx_id)
				break;
		if (!r.view.tx) {
			send_error(&r, ENOENT);
			return;
		}
	}
	switch (h->type) {
	case PVIO_XS_READ:
	case PVIO_XS_DIRECTORY: ret = do_read(&r); break;
	case PVIO_XS_DIRECTORY_PART: ret = do_directory_part(&r); break;
	case PVIO_XS_WRITE: ret = do_write(&r); break;
	case PVIO_XS_MKDIR: ret = do_mkdir(&r); break;
	case PVIO_XS_RM: ret = do_rm(&r); break;
	case PVIO_XS_GET_PERMS: ret = do_get_perms(&r); break;
	case PVIO_XS_SET_PERMS: ret = do_set_perms(&r); break;
	case PVIO_XS_WATCH: ret = do_watch(&r); break;
	case PVIO_XS_UNWATCH: ret = do_unwatch(&r); break;
	case PVIO_XS_TRANSACTION_START: ret = do_transaction_start(&r); break;
	case PVIO_XS_TRANSACTION_END: ret = do_transaction_end(&r); break;
	case PVIO_XS_INTRODUCE: ret = do_introduce(&r); break;
	case PVIO_XS_RELEASE: ret = do_release(&r); break;
	case PVIO_XS_GET_DOMAIN_PATH: ret = do_get_domain_path(&r); break;
	case PVIO_XS_IS_DOMAIN_INTRODUCED: ret = do_is_domain_introduced(&r); break;
	case PVIO_XS_RESUME: ret = do_resume(&r); break;
	case PVIO_XS_SET_TARGET: ret = do_set_target(&r); break;
	case PVIO_XS_RESET_WATCHES: ret = do_reset_watches(&r); break;
	case PVIO_XS_CONTROL: ret = do_control(&r); break;
	default: ret = -ENOSYS; break; /* WATCH_EVENT, ERROR, unknown */
	}
	if (ret)
		send_error(&r, ret);
}

/* --- domains ----------------------------------------------------------- */

int xsd_introduce(struct pvio_xenstored *srv, uint32_t domid)
{
	struct xsd_domain *d = xsd_domain_get(&srv->st, domid, true);
	char path[32];
	const struct xsd_node *n;
	int ret;

	if (!d)
		return -ENOMEM;
	if (d->introduced)
		return 0;
	domain_path(domid, path, sizeof(path));
	if (!xsd_map_find(&srv->st.nodes, path)) {
		/* As the toolstack would: dom0 makes it, then gives it away. */
		struct xsd_actor dom0 = { .domid = 0, .priv = true };
		struct xsd_conn fake = { .who = dom0, .srv = srv };
		struct pvio_xs_msg_hdr h = { 0 };
		struct req r = { .srv = srv, .c = &fake, .h = &h,
				 .view = { .st = &srv->st } };
		struct xsd_perm own = { .id = domid, .perm = XSD_PERM_NONE };
		struct xsd_node *m;

		ret = create_node(&r, &dom0, path, "", 0);
		if (!ret)
			ret = xsd_view_mut(&r.view, path, &m);
		if (!ret && m)
			ret = xsd_view_set_perms(&r.view, m, &own, 1);
		if (ret)
			return ret;
		n = xsd_map_find(&srv->st.nodes, path);
		fire_watches(srv, path, false, n->perms, n->nperms);
	}
	d->introduced = true;
	fire_special(srv, XSD_SPECIAL_INTRODUCE);
	return 0;
}

/* Give domid's nodes to dom0 and drop its perm entries (Xen, XSA-322). */
static void disown_nodes(struct pvio_xenstored *srv, uint32_t domid)
{
	struct xsd_map *m = &srv->st.nodes;
	struct xsd_view v = { .st = &srv->st };

	for (size_t i = 0; i < m->size; i++) {
		for (struct xsd_node *n = m->tab[i]; n; n = n->hnext) {
			bool hit = false;

			for (uint32_t k = 0; k < n->nperms; k++)
				hit |= n->perms[k].id == domid;
			if (!hit)
				continue;
			uint32_t out = 1;
			struct xsd_perm *q = malloc(n->nperms * sizeof(*q));

			if (!q)
				continue;
			q[0] = n->perms[0];
			if (q[0].id == domid)
				q[0].id = 0;
			for (uint32_t k = 1; k < n->nperms; k++)
				if (n->perms[k].id != domid)
					q[out++] = n->perms[k];
			n->gen = ++srv->st.gen;
			xsd_view_set_perms(&v, n, q, out);
			free(q);
		}
	}
}

int xsd_release(struct pvio_xenstored *srv, uint32_t domid)
{
	struct xsd_domain *d = xsd_domain_get(&srv->st, domid, false);

	if (!d || !d->introduced)
		return -ENOENT;
	struct xsd_conn *c = srv->conns;

	while (c) {
		struct xsd_conn *next = c->next; /* close relinks c */

		if (!c->dead && !c->who.priv && c->who.domid == domid)
			xsd_conn_close(c, false);
		c = next;
	}
	disown_nodes(srv, domid);
	if (srv->cfg.release_removes_domain_path) {
		char path[32];
		struct xsd_view v = { .st = &srv->st };
		const struct xsd_node *n;

		domain_path(domid, path, sizeof(path));
		n = xsd_map_find(&srv->st.nodes, path);
		if (n) {
			struct xsd_perm p = n->perms[0];

			if (!remove_subtree(&v, path))
				fire_watches(srv, path, true, &p, 1);
		}
	}
	d->introduced = false;
	d->has_target = false;
	for (struct xsd_domain *o = srv->st.domains; o; o = o->next)
		if (o->has_target && o->target == domid)
			o->has_target = false;
	fire_special(srv, XSD_SPECIAL_RELEASE);
	return 0;
}

/* Xen's initial tree: "/", "/tool", "/tool/xenstored", all "n0". */
int xsd_setup_tree(struct pvio_xenstored *srv)
{
	static const char *const paths[] = { "/", "/tool", "/tool/xenstored" };
	struct xsd_perm dom0 = { .id = 0, .perm = XSD_PERM_NONE };
	struct xsd_view v = { .st = &srv->st };

	for (size_t i = 0; i < 3; i++) {
		if (xsd_view_create(&v, paths[i], "", 0, &dom0, 1))
			return -ENOMEM;
		if (i > 0) {
			struct xsd_node *parent;

			xsd_view_mut(&v, paths[i - 1], &parent);
			if (xsd_node_add_child(parent, base_of(paths[i])))
				return -ENOMEM;
		}
	}
	srv->special[XSD_SPECIAL_INTRODUCE].name = "@introduceDomain";
	srv->special[XSD_SPECIAL_RELEASE].name = "@releaseDomain";
	for (int i = 0; i < XSD_SPECIAL_COUNT; i++) {
		srv->special[i].perms = malloc(sizeof(dom0));
		if (!srv->special[i].perms)
			return -ENOMEM;
		srv->special[i].perms[0] = dom0;
		srv->special[i].nperms = 1;
	}
	return 0;
}
