/* SPDX-License-Identifier: MIT */
/* The fake store server of the xenbus tests; see fake_xs.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fake_xs.h"

#define FX_MAX_PERMS 16
#define FX_MAX_CONNS 16
#define FX_MAX_TXS 32
#define FX_MAX_WATCHES 128

struct fx_node {
	char *path;
	char *val;
	size_t vlen;
	struct pvio_xs_perm perms[FX_MAX_PERMS];
	unsigned nperms;
};

struct fx_tree {
	struct fx_node *v;
	size_t n, cap;
};

struct fx_change {
	char *path;
	bool rm;
};

struct fx_changes {
	struct fx_change *v;
	size_t n, cap;
};

struct fx_tx {
	bool used;
	uint32_t id;
	struct fake_conn *conn;
	uint64_t gen;
	struct fx_tree tree;
	struct fx_changes changes;
};

struct fx_watch {
	bool used;
	struct fake_conn *conn;
	char *path;
	char *token;
};

struct fake_conn {
	bool used;
	struct fake_xs *fx;
	uint16_t domid;
	struct fake_hooks hooks;
	unsigned char in[sizeof(struct pvio_xs_msg_hdr) + PVIO_XS_PAYLOAD_MAX];
	size_t in_len;
	unsigned char *out;
	size_t out_len, out_off, out_cap;
	unsigned char *held;    /* the reply drop_next kept */
	size_t held_len;
};

struct fake_xs {
	struct fx_tree tree;
	uint64_t gen;
	uint32_t next_tx;
	unsigned force_eagain, commits, eagains;
	struct fake_conn conns[FX_MAX_CONNS];
	struct fx_tx txs[FX_MAX_TXS];
	struct fx_watch watches[FX_MAX_WATCHES];
};

/* ---- tree --------------------------------------------------------------- */

static long tree_find(const struct fx_tree *t, const char *path)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].path, path) == 0)
			return (long)i;
	return -1;
}

static struct fx_node *tree_get(const struct fx_tree *t, const char *path)
{
	long i = tree_find(t, path);

	return i < 0 ? NULL : &t->v[i];
}

static struct fx_node *tree_add(struct fx_tree *t, const char *path,
				const struct fx_node *parent, uint16_t creator)
{
	struct fx_node *n;
	struct fx_node inherit;

	if (parent != NULL)
		inherit = *parent;  /* realloc below may move it */
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 64;
		t->v = realloc(t->v, t->cap * sizeof(*t->v));
	}
	n = &t->v[t->n++];
	memset(n, 0, sizeof(*n));
	n->path = strdup(path);
	n->val = strdup("");
	if (parent != NULL) {
		memcpy(n->perms, inherit.perms, sizeof(n->perms));
		n->nperms = inherit.nperms;
		if (creator != 0)
			n->perms[0].domid = creator;
	} else {
		n->perms[0] = (struct pvio_xs_perm){ 0, PVIO_XS_PERM_NONE };
		n->nperms = 1;
	}
	return n;
}

static void node_free(struct fx_node *n)
{
	free(n->path);
	free(n->val);
}

static void tree_free(struct fx_tree *t)
{
	for (size_t i = 0; i < t->n; i++)
		node_free(&t->v[i]);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static void tree_clone(struct fx_tree *dst, const struct fx_tree *src)
{
	dst->n = src->n;
	dst->cap = src->n ? src->n : 1;
	dst->v = calloc(dst->cap, sizeof(*dst->v));
	for (size_t i = 0; i < src->n; i++) {
		dst->v[i] = src->v[i];
		dst->v[i].path = strdup(src->v[i].path);
		dst->v[i].val = malloc(src->v[i].vlen + 1);
		memcpy(dst->v[i].val, src->v[i].val, src->v[i].vlen + 1);
	}
}

/* Is path equal to or below dir? */
static bool under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return path[0] == '/';
	return strncmp(path, dir, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

static bool is_child(const char *path, const char *dir)
{
	const char *rest;

	if (!under(path, dir) || strcmp(path, dir) == 0)
		return false;
	rest = path + (strcmp(dir, "/") == 0 ? 1 : strlen(dir) + 1);
	return strchr(rest, '/') == NULL;
}

/* The parent of path into buf ("/" for "/x"). */
static void parent_of(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash == path ? 1 : (size_t)(slash - path);

	snprintf(buf, size, "%.*s", (int)n, path);
}

static bool can(const struct fx_node *n, uint16_t domid, char want)
{
	char a = n->perms[0].access;

	if (domid == 0 || n->perms[0].domid == domid)
		return true;
	for (unsigned i = 1; i < n->nperms; i++)
		if (n->perms[i].domid == domid)
			a = n->perms[i].access;
	return a == PVIO_XS_PERM_BOTH || a == want;
}

/* ---- changes and watches ------------------------------------------------ */

static void changes_add(struct fx_changes *c, const char *path, bool rm)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n].path = strdup(path);
	c->v[c->n].rm = rm;
	c->n++;
}

static void changes_free(struct fx_changes *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].path);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static void out_put(struct fake_conn *c, const void *buf, size_t len)
{
	if (c->out_len + len > c->out_cap) {
		c->out_cap = (c->out_len + len) * 2;
		c->out = realloc(c->out, c->out_cap);
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
}

static void out_msg(struct fake_conn *c, uint32_t type, uint32_t req_id,
		    uint32_t tx_id, const void *payload, uint32_t len)
{
	struct pvio_xs_msg_hdr h = { type, req_id, tx_id, len };

	out_put(c, &h, sizeof(h));
	out_put(c, payload, len);
}

static void send_event(struct fake_conn *c, const char *path,
		       const char *token)
{
	char buf[PVIO_XS_PAYLOAD_MAX];
	size_t pl = strlen(path) + 1, tl = strlen(token) + 1;

	memcpy(buf, path, pl);
	memcpy(buf + pl, token, tl);
	out_msg(c, PVIO_XS_WATCH_EVENT, 0, 0, buf, (uint32_t)(pl + tl));
}

static void fire(struct fake_xs *fx, const char *path, bool rm)
{
	for (int i = 0; i < FX_MAX_WATCHES; i++) {
		struct fx_watch *w = &fx->watches[i];

		if (!w->used)
			continue;
		if (under(path, w->path))
			send_event(w->conn, path, w->token);
		else if (rm && under(w->path, path))
			send_event(w->conn, w->path, w->token);
	}
}

static void fire_all(struct fake_xs *fx, const struct fx_changes *c)
{
	for (size_t i = 0; i < c->n; i++)
		fire(fx, c->v[i].path, c->v[i].rm);
}

/* ---- operations --------------------------------------------------------- */

static bool path_ok(const char *p)
{
	size_t n = strlen(p);

	if (p[0] != '/' || strstr(p, "//") != NULL)
		return false;
	return n == 1 || p[n - 1] != '/';
}

/* Create path and missing parents. 0 or -errno. */
static int op_create(struct fx_tree *t, struct fx_changes *ch,
		     const char *path, uint16_t domid, struct fx_node **out)
{
	char parent[PVIO_XS_PAYLOAD_MAX];
	struct fx_node *pn;
	int err;

	*out = tree_get(t, path);
	if (*out != NULL)
		return 0;
	parent_of(path, parent, sizeof(parent));
	pn = tree_get(t, parent);
	if (pn == NULL) {
		err = op_create(t, ch, parent, domid, &pn);
		if (err < 0)
			return err;
	} else if (!can(pn, domid, 'w')) {
		return -EACCES;
	}
	pn = tree_get(t, parent);   /* realloc may have moved it */
	*out = tree_add(t, path, pn, domid);
	changes_add(ch, path, false);
	return 0;
}

static int op_write(struct fx_tree *t, struct fx_changes *ch, uint16_t domid,
		    const char *path, const char *val, size_t vlen)
{
	struct fx_node *n = tree_get(t, path);
	int err;

	if (n != NULL && !can(n, domid, 'w'))
		return -EACCES;
	if (n == NULL) {
		err = op_create(t, ch, path, domid, &n);
		if (err < 0)
			return err;
	} else {
		changes_add(ch, path, false);
	}
	free(n->val);
	n->val = malloc(vlen + 1);
	memcpy(n->val, val, vlen);
	n->val[vlen] = '\0';
	n->vlen = vlen;
	return 0;
}

static int op_rm(struct fx_tree *t, struct fx_changes *ch, uint16_t domid,
		 const char *path)
{
	char parent[PVIO_XS_PAYLOAD_MAX];
	struct fx_node *n = tree_get(t, path);
	size_t j = 0;

	if (strcmp(path, "/") == 0)
		return -EINVAL;
	if (n == NULL) {
		parent_of(path, parent, sizeof(parent));
		return tree_get(t, parent) != NULL ? 0 : -ENOENT;
	}
	if (!can(n, domid, 'w'))
		return -EACCES;
	for (size_t i = 0; i < t->n; i++) {
		if (under(t->v[i].path, path))
			node_free(&t->v[i]);
		else
			t->v[j++] = t->v[i];
	}
	t->n = j;
	changes_add(ch, path, true);
	return 0;
}

static struct fx_tx *tx_find(struct fake_xs *fx, struct fake_conn *c,
			     uint32_t id)
{
	for (int i = 0; i < FX_MAX_TXS; i++)
		if (fx->txs[i].used && fx->txs[i].id == id &&
		    fx->txs[i].conn == c)
			return &fx->txs[i];
	return NULL;
}

static void tx_drop(struct fx_tx *tx)
{
	tree_free(&tx->tree);
	changes_free(&tx->changes);
	tx->used = false;
}

/* The reply being built for one request. */
struct fx_reply {
	char buf[PVIO_XS_PAYLOAD_MAX];
	uint32_t len;
	int err;
	bool ack_then_event;    /* watch: fire once after the ack */
};

static void reply_str(struct fx_reply *r, const char *s)
{
	size_t n = strlen(s) + 1;

	memcpy(r->buf + r->len, s, n);
	r->len += (uint32_t)n;
}

/*
 * Absolute path of a request's payload string (relative ones are below the
 * connection's home). NULL if malformed.
 */
static const char *abs_path(struct fake_conn *c, const char *p, char *buf,
			    size_t size)
{
	if (p[0] != '/') {
		if ((size_t)snprintf(buf, size, "/local/domain/%u/%s",
				     c->domid, p) >= size)
			return NULL;
		p = buf;
	}
	return path_ok(p) ? p : NULL;
}

static void handle(struct fake_conn *c, const struct pvio_xs_msg_hdr *h,
		   const char *payload, struct fx_reply *r)
{
	struct fake_xs *fx = c->fx;
	struct fx_tx *tx = NULL;
	struct fx_tree *t = &fx->tree;
	struct fx_changes direct = { 0 };
	struct fx_changes *ch = &direct;
	char pbuf[PVIO_XS_PAYLOAD_MAX];
	size_t first = strnlen(payload, h->len);
	const char *path = NULL;
	struct fx_node *n;
	int err = 0;

	if (h->tx_id != 0) {
		tx = tx_find(fx, c, h->tx_id);
		if (tx == NULL) {
			r->err = -ENOENT;
			return;
		}
		t = &tx->tree;
		ch = &tx->changes;
	}
	switch (h->type) {
	case PVIO_XS_READ:
	case PVIO_XS_WRITE:
	case PVIO_XS_MKDIR:
	case PVIO_XS_RM:
	case PVIO_XS_DIRECTORY:
	case PVIO_XS_GET_PERMS:
	case PVIO_XS_SET_PERMS:
	case PVIO_XS_WATCH:
	case PVIO_XS_UNWATCH:
		if (first >= h->len ||
		    (path = abs_path(c, payload, pbuf, sizeof(pbuf))) == NULL) {
			r->err = -EINVAL;
			return;
		}
		break;
	default:
		break;
	}

	switch (h->type) {
	case PVIO_XS_READ:
		n = tree_get(t, path);
		if (n == NULL)
			err = -ENOENT;
		else if (!can(n, c->domid, 'r'))
			err = -EACCES;
		else {
			memcpy(r->buf, n->val, n->vlen);
			r->len = (uint32_t)n->vlen;
		}
		break;
	case PVIO_XS_WRITE:
		err = op_write(t, ch, c->domid, path, payload + first + 1,
			       h->len - first - 1);
		break;
	case PVIO_XS_MKDIR:
		err = op_create(t, ch, path, c->domid, &n);
		break;
	case PVIO_XS_RM:
		err = op_rm(t, ch, c->domid, path);
		break;
	case PVIO_XS_DIRECTORY:
		n = tree_get(t, path);
		if (n == NULL)
			err = -ENOENT;
		else if (!can(n, c->domid, 'r'))
			err = -EACCES;
		else
			for (size_t i = 0; i < t->n; i++)
				if (is_child(t->v[i].path, path))
					reply_str(r, strrchr(t->v[i].path,
							     '/') + 1);
		break;
	case PVIO_XS_GET_PERMS:
		n = tree_get(t, path);
		if (n == NULL)
			err = -ENOENT;
		else if (!can(n, c->domid, 'r'))
			err = -EACCES;
		else
			for (unsigned i = 0; i < n->nperms; i++) {
				char e[16];

				snprintf(e, sizeof(e), "%c%u",
					 n->perms[i].access,
					 n->perms[i].domid);
				reply_str(r, e);
			}
		break;
	case PVIO_XS_SET_PERMS: {
		struct pvio_xs_perm p[FX_MAX_PERMS];
		unsigned np = 0;

		n = tree_get(t, path);
		if (n == NULL) {
			err = -ENOENT;
			break;
		}
		if (!can(n, c->domid, 'w')) {
			err = -EACCES;
			break;
		}
		for (size_t off = first + 1; off < h->len;) {
			const char *e = payload + off;
			char *end;
			unsigned long d;

			if (np == FX_MAX_PERMS || !strchr("nrwb", e[0]) ||
			    e[0] == '\0') {
				err = -EINVAL;
				break;
			}
			d = strtoul(e + 1, &end, 10);
			if (end == e + 1 || *end != '\0' || d > 0xffff) {
				err = -EINVAL;
				break;
			}
			p[np].access = e[0];
			p[np].domid = (uint16_t)d;
			np++;
			off += strlen(e) + 1;
		}
		if (err == 0 && np == 0)
			err = -EINVAL;
		if (err == 0 && c->domid != 0 && p[0].domid != n->perms[0].domid)
			err = -EPERM;
		if (err == 0) {
			memcpy(n->perms, p, sizeof(p[0]) * np);
			n->nperms = np;
			changes_add(ch, path, false);
		}
		break;
	}
	case PVIO_XS_WATCH:
	case PVIO_XS_UNWATCH: {
		const char *token = payload + first + 1;
		struct fx_watch *w = NULL, *free_w = NULL;

		if (first + 1 >= h->len || strnlen(token, h->len - first - 1) ==
					       h->len - first - 1) {
			err = -EINVAL;
			break;
		}
		for (int i = 0; i < FX_MAX_WATCHES; i++) {
			struct fx_watch *x = &fx->watches[i];

			if (!x->used) {
				if (free_w == NULL)
					free_w = x;
			} else if (x->conn == c && !strcmp(x->path, path) &&
				   !strcmp(x->token, token)) {
				w = x;
			}
		}
		if (h->type == PVIO_XS_WATCH) {
			if (w != NULL)
				err = -EEXIST;
			else if (free_w == NULL)
				err = -E2BIG;
			else {
				free_w->used = true;
				free_w->conn = c;
				free_w->path = strdup(path);
				free_w->token = strdup(token);
				r->ack_then_event = true;
			}
		} else if (w == NULL) {
			err = -ENOENT;
		} else {
			free(w->path);
			free(w->token);
			w->used = false;
		}
		if (err == 0 && h->type == PVIO_XS_WATCH) {
			/* Remember path and token for the first event. */
			size_t pl = strlen(path) + 1;

			memmove(r->buf, path, pl);
			memcpy(r->buf + pl, token, strlen(token) + 1);
		}
		break;
	}
	case PVIO_XS_TRANSACTION_START: {
		struct fx_tx *nt = NULL;
		char id[16];

		if (h->tx_id != 0) {
			err = -EBUSY;
			break;
		}
		for (int i = 0; i < FX_MAX_TXS && nt == NULL; i++)
			if (!fx->txs[i].used)
				nt = &fx->txs[i];
		if (nt == NULL) {
			err = -ENOSPC;
			break;
		}
		memset(nt, 0, sizeof(*nt));
		nt->used = true;
		nt->id = ++fx->next_tx;
		nt->conn = c;
		nt->gen = fx->gen;
		tree_clone(&nt->tree, &fx->tree);
		snprintf(id, sizeof(id), "%u", nt->id);
		reply_str(r, id);
		break;
	}
	case PVIO_XS_TRANSACTION_END:
		if (tx == NULL) {
			err = -ENOENT;
			break;
		}
		if (h->len < 1 || (payload[0] != 'T' && payload[0] != 'F')) {
			err = -EINVAL;
			break;
		}
		if (payload[0] == 'T') {
			if (fx->force_eagain > 0 || tx->gen != fx->gen) {
				if (fx->force_eagain > 0)
					fx->force_eagain--;
				fx->eagains++;
				err = -EAGAIN;
			} else {
				tree_free(&fx->tree);
				fx->tree = tx->tree;
				tx->tree = (struct fx_tree){ 0 };
				fx->gen++;
				fx->commits++;
				fire_all(fx, &tx->changes);
			}
		}
		tx_drop(tx);
		break;
	case PVIO_XS_GET_DOMAIN_PATH: {
		char dp[40];

		snprintf(dp, sizeof(dp), "/local/domain/%.8s", payload);
		reply_str(r, dp);
		break;
	}
	default:
		err = -ENOSYS;
		break;
	}
	r->err = err;
	if (tx == NULL && err == 0 && direct.n > 0) {
		fx->gen++;
		fire_all(fx, &direct);
	}
	changes_free(&direct);
}

/* Emit r as the reply to h, applying the one-shot hooks. */
static void emit_reply(struct fake_conn *c, const struct pvio_xs_msg_hdr *h,
		       struct fx_reply *r)
{
	struct fake_hooks *k = &c->hooks;
	uint32_t type = h->type;
	const char *name;

	for (unsigned i = 0; i < k->events_before_reply; i++) {
		char p[32];

		snprintf(p, sizeof(p), "/hook/ev%u", i);
		send_event(c, p, "hooktok");
	}
	k->events_before_reply = 0;
	if (k->stale_before_reply)
		out_msg(c, type, h->req_id + 1000, h->tx_id, "0", 2);
	k->stale_before_reply = false;
	if (k->bad_len_next) {
		struct pvio_xs_msg_hdr bad = { type, h->req_id, h->tx_id, 5000 };

		k->bad_len_next = false;
		out_put(c, &bad, sizeof(bad));
		return;
	}
	if (k->error_next != NULL) {
		name = k->error_next;
		k->error_next = NULL;
		out_msg(c, PVIO_XS_ERROR, h->req_id, h->tx_id, name,
			(uint32_t)strlen(name) + 1);
		return;
	}
	if (k->wrong_type_next) {
		k->wrong_type_next = false;
		type = type == PVIO_XS_READ ? PVIO_XS_DIRECTORY : PVIO_XS_READ;
	}
	if (r->err != 0) {
		name = pvio_xs_errno_name(r->err);
		out_msg(c, PVIO_XS_ERROR, h->req_id, h->tx_id, name,
			(uint32_t)strlen(name) + 1);
		return;
	}
	if (k->drop_next) {
		size_t start = c->out_len;

		k->drop_next = false;
		out_msg(c, type, h->req_id, h->tx_id,
			r->ack_then_event ? "OK" : r->buf,
			r->ack_then_event ? 3 : r->len);
		c->held_len = c->out_len - start;
		c->held = malloc(c->held_len);
		memcpy(c->held, c->out + start, c->held_len);
		c->out_len = start;
		return;
	}
	if (r->ack_then_event) {
		size_t pl = strlen(r->buf) + 1;

		out_msg(c, type, h->req_id, h->tx_id, "OK", 3);
		send_event(c, r->buf, r->buf + pl);  /* Xen fires once */
		return;
	}
	if (type == PVIO_XS_WRITE || type == PVIO_XS_MKDIR ||
	    type == PVIO_XS_RM || type == PVIO_XS_SET_PERMS ||
	    type == PVIO_XS_UNWATCH || type == PVIO_XS_TRANSACTION_END) {
		out_msg(c, type, h->req_id, h->tx_id, "OK", 3);
		return;
	}
	out_msg(c, type, h->req_id, h->tx_id, r->buf, r->len);
}

static void conn_input(struct fake_conn *c, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	const size_t hl = sizeof(struct pvio_xs_msg_hdr);

	while (len > 0) {
		struct pvio_xs_msg_hdr h;
		size_t take = sizeof(c->in) - c->in_len;
		char payload[PVIO_XS_PAYLOAD_MAX + 1];
		struct fx_reply *r;

		if (take > len)
			take = len;
		memcpy(c->in + c->in_len, p, take);
		c->in_len += take;
		p += take;
		len -= take;
		while (c->in_len >= hl) {
			memcpy(&h, c->in, hl);
			if (h.len > PVIO_XS_PAYLOAD_MAX) {
				c->in_len = 0;  /* garbage: drop it */
				break;
			}
			if (c->in_len < hl + h.len)
				break;
			memcpy(payload, c->in + hl, h.len);
			payload[h.len] = '\0';
			memmove(c->in, c->in + hl + h.len,
				c->in_len - hl - h.len);
			c->in_len -= hl + h.len;
			r = calloc(1, sizeof(*r));
			handle(c, &h, payload, r);
			emit_reply(c, &h, r);
			free(r);
		}
	}
}

/* ---- public ------------------------------------------------------------- */

struct fake_xs *fake_xs_new(void)
{
	struct fake_xs *fx = calloc(1, sizeof(*fx));

	tree_add(&fx->tree, "/", NULL, 0);
	return fx;
}

static void conn_drop(struct fake_conn *c)
{
	struct fake_xs *fx = c->fx;

	for (int i = 0; i < FX_MAX_WATCHES; i++)
		if (fx->watches[i].used && fx->watches[i].conn == c) {
			free(fx->watches[i].path);
			free(fx->watches[i].token);
			fx->watches[i].used = false;
		}
	for (int i = 0; i < FX_MAX_TXS; i++)
		if (fx->txs[i].used && fx->txs[i].conn == c)
			tx_drop(&fx->txs[i]);
	free(c->out);
	free(c->held);
	memset(c, 0, sizeof(*c));
}

void fake_xs_free(struct fake_xs *fx)
{
	if (fx == NULL)
		return;
	for (int i = 0; i < FX_MAX_CONNS; i++)
		if (fx->conns[i].used)
			conn_drop(&fx->conns[i]);
	tree_free(&fx->tree);
	free(fx);
}

struct fake_conn *fake_xs_connect(struct fake_xs *fx, uint16_t domid)
{
	for (int i = 0; i < FX_MAX_CONNS; i++) {
		struct fake_conn *c = &fx->conns[i];

		if (!c->used) {
			memset(c, 0, sizeof(*c));
			c->used = true;
			c->fx = fx;
			c->domid = domid;
			return c;
		}
	}
	return NULL;
}

struct fake_hooks *fake_conn_hooks(struct fake_conn *c)
{
	return &c->hooks;
}

void fake_conn_release(struct fake_conn *c)
{
	if (c->held != NULL)
		out_put(c, c->held, c->held_len);
	free(c->held);
	c->held = NULL;
	c->held_len = 0;
}

void fake_conn_inject_event(struct fake_conn *c, const char *path,
			    const char *token)
{
	send_event(c, path, token);
}

size_t fake_conn_pending(const struct fake_conn *c)
{
	return c->out_len - c->out_off;
}

void fake_xs_force_eagain(struct fake_xs *fx, unsigned n)
{
	fx->force_eagain = n;
}

unsigned fake_xs_commits(const struct fake_xs *fx)
{
	return fx->commits;
}

unsigned fake_xs_eagains(const struct fake_xs *fx)
{
	return fx->eagains;
}

const char *fake_xs_value(const struct fake_xs *fx, const char *path)
{
	struct fx_node *n = tree_get(&fx->tree, path);

	return n == NULL ? NULL : n->val;
}

int fake_xs_get_perms(const struct fake_xs *fx, const char *path,
		      struct pvio_xs_perm *perms, unsigned max)
{
	struct fx_node *n = tree_get(&fx->tree, path);

	if (n == NULL)
		return -ENOENT;
	for (unsigned i = 0; i < n->nperms && i < max; i++)
		perms[i] = n->perms[i];
	return (int)n->nperms;
}

void fake_xs_set(struct fake_xs *fx, const char *path, const char *value)
{
	struct fx_changes ch = { 0 };

	if (op_write(&fx->tree, &ch, 0, path, value, strlen(value)) == 0) {
		fx->gen++;
		fire_all(fx, &ch);
	}
	changes_free(&ch);
}

void fake_xs_rm(struct fake_xs *fx, const char *path)
{
	struct fx_changes ch = { 0 };

	if (op_rm(&fx->tree, &ch, 0, path) == 0) {
		fx->gen++;
		fire_all(fx, &ch);
	}
	changes_free(&ch);
}

/* ---- transports --------------------------------------------------------- */

static int fake_send(void *ctx, const void *buf, size_t len)
{
	conn_input(ctx, buf, len);
	return 0;
}

static int fake_recv(void *ctx, void *buf, size_t len, int timeout_ms)
{
	struct fake_conn *c = ctx;
	size_t avail = c->out_len - c->out_off;

	(void)timeout_ms;   /* nothing else can produce bytes meanwhile */
	if (avail == 0)
		return -ETIMEDOUT;
	if (len > avail)
		len = avail;
	if (c->hooks.recv_chunk != 0 && len > c->hooks.recv_chunk)
		len = c->hooks.recv_chunk;
	memcpy(buf, c->out + c->out_off, len);
	c->out_off += len;
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	return (int)len;
}

const struct pvio_xs_transport_ops fake_transport_ops = {
	.send = fake_send,
	.recv = fake_recv,
	.now_ms = NULL,
};

static int flush(struct fake_conn *c, int fd)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(fd, c->out + c->out_off,
				  c->out_len - c->out_off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return 0;
}

int fake_xs_serve(struct fake_xs *fx, const int *fds, const uint16_t *domids,
		  int n)
{
	struct pollfd pfd[FX_MAX_CONNS];
	struct fake_conn *conns[FX_MAX_CONNS];
	int open = n;

	if (n > FX_MAX_CONNS)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		conns[i] = fake_xs_connect(fx, domids[i]);
		pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	}
	while (open > 0) {
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			unsigned char buf[8192];
			ssize_t got;

			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			got = read(pfd[i].fd, buf, sizeof(buf));
			if (got <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				conn_drop(conns[i]);
				conns[i] = NULL;
				open--;
				continue;
			}
			conn_input(conns[i], buf, (size_t)got);
			for (int j = 0; j < n; j++)
				if (conns[j] != NULL &&
				    flush(conns[j], pfd[j].fd) < 0) {
					/* peer gone: poll reports it */
				}
		}
	}
	return 0;
}

/* ---- test clients ------------------------------------------------------- */

struct xb_client *xb_client_new(struct fake_xs *fx, uint16_t domid,
				unsigned nr_events)
{
	struct xb_client *cl = calloc(1, sizeof(*cl));

	if (nr_events == 0 || nr_events > XB_CLIENT_EVENTS)
		nr_events = XB_CLIENT_EVENTS;
	cl->conn = fake_xs_connect(fx, domid);
	if (pvio_xs_init(&cl->xs, &fake_transport_ops, cl->conn, cl->ev,
			 nr_events) != 0)
		abort();
	return cl;
}

void xb_client_free(struct xb_client *cl)
{
	free(cl);
}

void xb_make_home(struct xb_client *ts, uint16_t domid)
{
	char path[32];
	const struct pvio_xs_perm p = { domid, PVIO_XS_PERM_NONE };

	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	if (pvio_xs_mkdir(&ts->xs, 0, path) != 0 ||
	    pvio_xs_set_perms(&ts->xs, 0, path, &p, 1) != 0)
		abort();
}

void xb_vif_env_init(struct xb_vif_env *v)
{
	v->fx = fake_xs_new();
	v->ts = xb_client_new(v->fx, 0, 0);
	v->fe = xb_client_new(v->fx, 2, 0);
	v->be = xb_client_new(v->fx, 1, 0);
	xb_make_home(v->ts, 1);
	xb_make_home(v->ts, 2);
	if (pvio_xenbus_device_create(&v->ts->xs, "vif", 1, 2, 0, NULL) != 0)
		abort();
}

void xb_vif_env_fini(struct xb_vif_env *v)
{
	xb_client_free(v->ts);
	xb_client_free(v->fe);
	xb_client_free(v->be);
	fake_xs_free(v->fx);
}
