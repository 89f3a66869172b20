/* SPDX-License-Identifier: MIT */
/*
 * The store's tree: nodes in a path-keyed hash map, per-domain node
 * accounting, and transactions as overlay maps with generation checks.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* --- hash map ---------------------------------------------------------- */

static uint64_t path_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	while (*s) {
		h ^= (unsigned char)*s++;
		h *= 0x100000001b3ull;
	}
	return h;
}

int xsd_map_init(struct xsd_map *m)
{
	m->size = 64;
	m->count = 0;
	m->tab = calloc(m->size, sizeof(*m->tab));
	return m->tab ? 0 : -ENOMEM;
}

struct xsd_node *xsd_map_find(const struct xsd_map *m, const char *path)
{
	struct xsd_node *n = m->tab[path_hash(path) & (m->size - 1)];

	while (n && strcmp(n->path, path) != 0)
		n = n->hnext;
	return n;
}

/* Double the table; on allocation failure keep the old one (longer chains). */
static void map_grow(struct xsd_map *m)
{
	size_t nsize = m->size * 2;
	struct xsd_node **nt = calloc(nsize, sizeof(*nt));

	if (!nt)
		return;
	for (size_t i = 0; i < m->size; i++) {
		struct xsd_node *n = m->tab[i];

		while (n) {
			struct xsd_node *next = n->hnext;
			size_t b = path_hash(n->path) & (nsize - 1);

			n->hnext = nt[b];
			nt[b] = n;
			n = next;
		}
	}
	free(m->tab);
	m->tab = nt;
	m->size = nsize;
}

/* Insert n, whose path must not be in m. Never fails. */
void xsd_map_insert(struct xsd_map *m, struct xsd_node *n)
{
	if (m->count >= m->size)
		map_grow(m);
	size_t b = path_hash(n->path) & (m->size - 1);

	n->hnext = m->tab[b];
	m->tab[b] = n;
	m->count++;
}

struct xsd_node *xsd_map_remove(struct xsd_map *m, const char *path)
{
	struct xsd_node **pp = &m->tab[path_hash(path) & (m->size - 1)];

	while (*pp) {
		struct xsd_node *n = *pp;

		if (strcmp(n->path, path) == 0) {
			*pp = n->hnext;
			n->hnext = NULL;
			m->count--;
			return n;
		}
		pp = &n->hnext;
	}
	return NULL;
}

/* Unlink every node into one list (map left empty), for walking safely. */
static struct xsd_node *map_take_all(struct xsd_map *m)
{
	struct xsd_node *all = NULL;

	for (size_t i = 0; i < m->size; i++) {
		while (m->tab[i]) {
			struct xsd_node *n = m->tab[i];

			m->tab[i] = n->hnext;
			n->hnext = all;
			all = n;
		}
	}
	m->count = 0;
	return all;
}

void xsd_map_destroy(struct xsd_map *m)
{
	if (!m->tab)
		return;
	struct xsd_node *n = map_take_all(m);

	while (n) {
		struct xsd_node *next = n->hnext;

		xsd_node_free(n);
		n = next;
	}
	free(m->tab);
	m->tab = NULL;
}

/* --- nodes ------------------------------------------------------------- */

struct xsd_node *xsd_node_new(const char *path)
{
	struct xsd_node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->path = strdup(path);
	if (!n->path) {
		free(n);
		return NULL;
	}
	return n;
}

static void node_clear(struct xsd_node *n)
{
	free(n->value);
	free(n->perms);
	free(n->children);
	n->value = NULL;
	n->perms = NULL;
	n->children = NULL;
	n->vlen = n->nperms = n->childlen = 0;
}

void xsd_node_free(struct xsd_node *n)
{
	if (!n)
		return;
	node_clear(n);
	free(n->path);
	free(n);
}

int xsd_node_set_value(struct xsd_node *n, const void *v, uint32_t len)
{
	char *nv = malloc(len ? len : 1);

	if (!nv)
		return -ENOMEM;
	if (len)
		memcpy(nv, v, len);
	free(n->value);
	n->value = nv;
	n->vlen = len;
	return 0;
}

int xsd_node_set_perms(struct xsd_node *n, const struct xsd_perm *p,
		       uint32_t np)
{
	struct xsd_perm *q = malloc(np * sizeof(*q));

	if (!q)
		return -ENOMEM;
	memcpy(q, p, np * sizeof(*q));
	free(n->perms);
	n->perms = q;
	n->nperms = np;
	return 0;
}

int xsd_node_add_child(struct xsd_node *n, const char *name)
{
	size_t l = strlen(name) + 1;
	char *c = realloc(n->children, n->childlen + l);

	if (!c)
		return -ENOMEM;
	memcpy(c + n->childlen, name, l);
	n->children = c;
	n->childlen += (uint32_t)l;
	return 0;
}

void xsd_node_del_child(struct xsd_node *n, const char *name)
{
	uint32_t off = 0;

	while (off < n->childlen) {
		char *c = n->children + off;
		uint32_t l = (uint32_t)strlen(c) + 1;

		if (strcmp(c, name) == 0) {
			memmove(c, c + l, n->childlen - off - l);
			n->childlen -= l;
			return;
		}
		off += l;
	}
}

/* Deep copy of src's content into dst (path and links untouched). */
static int node_copy_content(struct xsd_node *dst, const struct xsd_node *src)
{
	struct xsd_node tmp = { 0 };

	if (xsd_node_set_value(&tmp, src->value, src->vlen) ||
	    xsd_node_set_perms(&tmp, src->perms, src->nperms))
		goto fail;
	if (src->childlen) {
		tmp.children = malloc(src->childlen);
		if (!tmp.children)
			goto fail;
		memcpy(tmp.children, src->children, src->childlen);
		tmp.childlen = src->childlen;
	}
	node_clear(dst);
	dst->value = tmp.value;
	dst->vlen = tmp.vlen;
	dst->perms = tmp.perms;
	dst->nperms = tmp.nperms;
	dst->children = tmp.children;
	dst->childlen = tmp.childlen;
	return 0;
fail:
	node_clear(&tmp);
	return -ENOMEM;
}

/* Move src's content into dst, leaving src empty. */
static void node_move_content(struct xsd_node *dst, struct xsd_node *src)
{
	node_clear(dst);
	dst->value = src->value;
	dst->vlen = src->vlen;
	dst->perms = src->perms;
	dst->nperms = src->nperms;
	dst->children = src->children;
	dst->childlen = src->childlen;
	src->value = NULL;
	src->perms = NULL;
	src->children = NULL;
	src->vlen = src->nperms = src->childlen = 0;
}

/* --- store and domains ------------------------------------------------- */

int xsd_store_init(struct xsd_store *st)
{
	st->gen = 0;
	st->domains = NULL;
	return xsd_map_init(&st->nodes);
}

void xsd_store_destroy(struct xsd_store *st)
{
	xsd_map_destroy(&st->nodes);
	while (st->domains) {
		struct xsd_domain *d = st->domains;

		st->domains = d->next;
		free(d);
	}
}

struct xsd_domain *xsd_domain_get(struct xsd_store *st, uint32_t domid,
				  bool create)
{
	struct xsd_domain *d;

	for (d = st->domains; d; d = d->next)
		if (d->domid == domid)
			return d;
	if (!create)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->domid = domid;
	d->next = st->domains;
	st->domains = d;
	return d;
}

uint32_t xsd_domain_entries(struct xsd_store *st, uint32_t domid)
{
	struct xsd_domain *d = xsd_domain_get(st, domid, false);

	return d ? d->entries : 0;
}

/* Count a main-tree node for (delta > 0) or against its owner. */
static void account(struct xsd_store *st, const struct xsd_node *n, int delta)
{
	if (!n->nperms)
		return;
	struct xsd_domain *d = xsd_domain_get(st, n->perms[0].id, delta > 0);

	if (!d)
		return; /* out of memory: the count stays low, never corrupt */
	if (delta > 0)
		d->entries++;
	else if (d->entries)
		d->entries--;
}

static void tx_account(struct xsd_txn *tx, const struct xsd_node *n, int delta)
{
	if (n->nperms && n->perms[0].id == tx->domid)
		tx->entry_delta += delta;
}

/* --- views: the main tree, or a transaction's overlay over it ---------- */

/* A new overlay entry for path, recording what the main tree holds now. */
static int overlay_add(struct xsd_view *v, const char *path,
		       struct xsd_node **out)
{
	struct xsd_txn *tx = v->tx;

	if (tx->max_nodes && tx->overlay.count >= tx->max_nodes)
		return -ENOSPC;
	struct xsd_node *m = xsd_map_find(&v->st->nodes, path);
	struct xsd_node *e = xsd_node_new(path);

	if (!e)
		return -ENOMEM;
	e->gen = m ? m->gen : 0;
	e->kind = m ? XSD_READ : XSD_DELETED;
	xsd_map_insert(&tx->overlay, e);
	*out = e;
	return 0;
}

/*
 * Look path up. *out is the node, or NULL when it does not exist in this
 * view. In a transaction the access is recorded for the commit check.
 * Returns 0, -ENOMEM, -ENOSPC (transaction touches too many nodes).
 */
int xsd_view_get(struct xsd_view *v, const char *path,
		 const struct xsd_node **out)
{
	if (!v->tx) {
		*out = xsd_map_find(&v->st->nodes, path);
		return 0;
	}
	struct xsd_node *e = xsd_map_find(&v->tx->overlay, path);

	if (!e) {
		int r = overlay_add(v, path, &e);

		if (r)
			return r;
	}
	if (e->kind == XSD_LIVE)
		*out = e;
	else if (e->kind == XSD_DELETED)
		*out = NULL;
	else /* seen: the main tree's (if changed since, commit fails) */
		*out = xsd_map_find(&v->st->nodes, path);
	return 0;
}

/*
 * A node of this view to change in place; *out NULL if path is absent.
 * On the main tree the node gets a new generation now, so the caller must
 * change it. Owner changes go through xsd_view_set_perms().
 * Returns 0, -ENOMEM, -ENOSPC.
 */
int xsd_view_mut(struct xsd_view *v, const char *path, struct xsd_node **out)
{
	*out = NULL;
	if (!v->tx) {
		struct xsd_node *n = xsd_map_find(&v->st->nodes, path);

		if (n)
			n->gen = ++v->st->gen;
		*out = n;
		return 0;
	}
	struct xsd_node *e = xsd_map_find(&v->tx->overlay, path);

	if (!e) {
		int r = overlay_add(v, path, &e);

		if (r)
			return r;
	}
	if (e->kind == XSD_READ) {
		struct xsd_node *m = xsd_map_find(&v->st->nodes, path);

		if (!m)
			return 0; /* gone meanwhile: commit will fail anyway */
		if (node_copy_content(e, m))
			return -ENOMEM;
		e->kind = XSD_LIVE;
	}
	if (e->kind == XSD_LIVE)
		*out = e;
	return 0;
}

/* Replace n's permissions (n from xsd_view_mut() on v). 0 or -ENOMEM. */
int xsd_view_set_perms(struct xsd_view *v, struct xsd_node *n,
		       const struct xsd_perm *p, uint32_t np)
{
	struct xsd_node tmp = { 0 };

	if (xsd_node_set_perms(&tmp, p, np))
		return -ENOMEM;
	if (v->tx)
		tx_account(v->tx, n, -1);
	else
		account(v->st, n, -1);
	free(n->perms);
	n->perms = tmp.perms;
	n->nperms = tmp.nperms;
	if (v->tx)
		tx_account(v->tx, n, +1);
	else
		account(v->st, n, +1);
	return 0;
}

/*
 * Create path, absent in this view, with value and perms (np >= 1). The
 * caller links it into its parent. Returns 0, -ENOMEM, -ENOSPC.
 */
int xsd_view_create(struct xsd_view *v, const char *path, const void *value,
		    uint32_t vlen, const struct xsd_perm *p, uint32_t np)
{
	struct xsd_node *e;

	if (!v->tx) {
		e = xsd_node_new(path);
		if (!e)
			return -ENOMEM;
		if (xsd_node_set_value(e, value, vlen) ||
		    xsd_node_set_perms(e, p, np)) {
			xsd_node_free(e);
			return -ENOMEM;
		}
		e->gen = ++v->st->gen;
		xsd_map_insert(&v->st->nodes, e);
		account(v->st, e, +1);
		return 0;
	}
	e = xsd_map_find(&v->tx->overlay, path);
	if (!e) {
		int r = overlay_add(v, path, &e);

		if (r)
			return r;
	}
	struct xsd_node tmp = { 0 };

	if (xsd_node_set_value(&tmp, value, vlen) ||
	    xsd_node_set_perms(&tmp, p, np)) {
		node_clear(&tmp);
		return -ENOMEM;
	}
	node_move_content(e, &tmp);
	e->kind = XSD_LIVE;
	tx_account(v->tx, e, +1);
	return 0;
}

/*
 * Delete the single node path (the caller deletes children first and
 * unlinks it from its parent). Absent: nothing. 0, -ENOMEM, -ENOSPC.
 */
int xsd_view_delete(struct xsd_view *v, const char *path)
{
	if (!v->tx) {
		struct xsd_node *n = xsd_map_remove(&v->st->nodes, path);

		if (n) {
			account(v->st, n, -1);
			xsd_node_free(n);
		}
		return 0;
	}
	const struct xsd_node *cur;
	int r = xsd_view_get(v, path, &cur);

	if (r || !cur)
		return r;
	tx_account(v->tx, cur, -1);
	struct xsd_node *e = xsd_map_find(&v->tx->overlay, path);

	node_clear(e);
	e->kind = XSD_DELETED;
	return 0;
}

/* --- transactions ------------------------------------------------------ */

struct xsd_txn *xsd_txn_new(uint32_t id, uint32_t domid, uint32_t max_nodes)
{
	struct xsd_txn *tx = calloc(1, sizeof(*tx));

	if (!tx)
		return NULL;
	if (xsd_map_init(&tx->overlay)) {
		free(tx);
		return NULL;
	}
	tx->id = id;
	tx->domid = domid;
	tx->max_nodes = max_nodes;
	tx->changes_tail = &tx->changes;
	return tx;
}

void xsd_txn_free(struct xsd_txn *tx)
{
	if (!tx)
		return;
	xsd_map_destroy(&tx->overlay);
	while (tx->changes) {
		struct xsd_change *ch = tx->changes;

		tx->changes = ch->next;
		free(ch->perms);
		free(ch);
	}
	free(tx);
}

/*
 * Remember a watch to fire at commit; a repeat of (path, recurse) replaces
 * the remembered perms. Bounded like the overlay: the paths a transaction
 * changes are overlay entries. Returns 0 or -ENOMEM.
 */
int xsd_txn_add_change(struct xsd_txn *tx, const char *path, bool recurse,
		       const struct xsd_perm *p, uint32_t np)
{
	struct xsd_perm *q = malloc((np ? np : 1) * sizeof(*q));

	if (!q)
		return -ENOMEM;
	if (np)
		memcpy(q, p, np * sizeof(*q));
	for (struct xsd_change *ch = tx->changes; ch; ch = ch->next) {
		if (ch->recurse == recurse && strcmp(ch->path, path) == 0) {
			free(ch->perms);
			ch->perms = q;
			ch->nperms = np;
			return 0;
		}
	}
	size_t l = strlen(path) + 1;
	struct xsd_change *ch = malloc(sizeof(*ch) + l);

	if (!ch) {
		free(q);
		return -ENOMEM;
	}
	ch->next = NULL;
	ch->recurse = recurse;
	ch->perms = q;
	ch->nperms = np;
	memcpy(ch->path, path, l);
	*tx->changes_tail = ch;
	tx->changes_tail = &ch->next;
	return 0;
}

/* 0 if nothing tx saw has changed in the main tree since, else -EAGAIN. */
int xsd_txn_check(struct xsd_store *st, const struct xsd_txn *tx)
{
	const struct xsd_map *o = &tx->overlay;

	for (size_t i = 0; i < o->size; i++) {
		for (const struct xsd_node *e = o->tab[i]; e; e = e->hnext) {
			const struct xsd_node *m = xsd_map_find(&st->nodes, e->path);

			if ((m ? m->gen : 0) != e->gen)
				return -EAGAIN;
		}
	}
	return 0;
}

/* Move tx's changes into the main tree (after xsd_txn_check()). No allocation. */
void xsd_txn_apply(struct xsd_store *st, struct xsd_txn *tx)
{
	struct xsd_node *e = map_take_all(&tx->overlay);

	while (e) {
		struct xsd_node *next = e->hnext;
		struct xsd_node *m = xsd_map_find(&st->nodes, e->path);

		e->hnext = NULL;
		if (e->kind == XSD_LIVE && m) {
			account(st, m, -1);
			node_move_content(m, e);
			m->gen = ++st->gen;
			account(st, m, +1);
			xsd_node_free(e);
		} else if (e->kind == XSD_LIVE) {
			e->gen = ++st->gen;
			xsd_map_insert(&st->nodes, e);
			account(st, e, +1);
		} else {
			if (e->kind == XSD_DELETED && m) {
				xsd_map_remove(&st->nodes, m->path);
				account(st, m, -1);
				xsd_node_free(m);
			}
			xsd_node_free(e);
		}
		e = next;
	}
}
