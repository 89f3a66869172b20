/* SPDX-License-Identifier: MIT */
/*
 * Persistent grants for a backend ring (Linux blkback's persistent_gnt
 * tree, as a hash + LRU list over caller storage): map once, keep mapped.
 * Single-threaded per cache. Freestanding.
 */
#include "common.h"

#define NIL 0xffffffffu
#define CE_RO PVIO_GNTMAP_readonly

static uint32_t hash(const struct pvio_gnt_cache *c, pvio_domid_t dom,
		     pvio_grant_ref_t ref)
{
	uint32_t x = ref ^ ((uint32_t)dom << 16);

	x *= 0x9e3779b1u;
	x ^= x >> 15;
	return x & (c->nr_buckets - 1);
}

int pvio_gnt_cache_init(struct pvio_gnt_cache *c, struct pvio_gnt_back *b,
			struct pvio_gnt_cache_entry *entries, uint32_t cap,
			uint32_t *buckets, uint32_t nr_buckets)
{
	if (!c || !b || !entries || !buckets || cap == 0 || cap == NIL ||
	    nr_buckets == 0 || (nr_buckets & (nr_buckets - 1)))
		return -EINVAL;
	gnt_memset(c, 0, sizeof(*c));
	c->b = b;
	c->e = entries;
	c->bucket = buckets;
	c->cap = cap;
	c->nr_buckets = nr_buckets;
	c->lru_head = c->lru_tail = NIL;
	for (uint32_t i = 0; i < nr_buckets; i++)
		buckets[i] = NIL;
	for (uint32_t i = 0; i < cap; i++) {
		gnt_memset(&entries[i], 0, sizeof(entries[i]));
		entries[i].hnext = i + 1 < cap ? i + 1 : NIL;
	}
	c->free_head = 0;
	c->st.cap = cap;
	return 0;
}

static void lru_unlink(struct pvio_gnt_cache *c, uint32_t i)
{
	struct pvio_gnt_cache_entry *e = &c->e[i];

	if (e->lru_prev != NIL)
		c->e[e->lru_prev].lru_next = e->lru_next;
	else
		c->lru_head = e->lru_next;
	if (e->lru_next != NIL)
		c->e[e->lru_next].lru_prev = e->lru_prev;
	else
		c->lru_tail = e->lru_prev;
}

static void lru_push_front(struct pvio_gnt_cache *c, uint32_t i)
{
	struct pvio_gnt_cache_entry *e = &c->e[i];

	e->lru_prev = NIL;
	e->lru_next = c->lru_head;
	if (c->lru_head != NIL)
		c->e[c->lru_head].lru_prev = i;
	else
		c->lru_tail = i;
	c->lru_head = i;
}

static uint32_t lookup(const struct pvio_gnt_cache *c, pvio_domid_t dom,
		       pvio_grant_ref_t ref)
{
	for (uint32_t i = c->bucket[hash(c, dom, ref)]; i != NIL; i = c->e[i].hnext)
		if (c->e[i].ref == ref && c->e[i].dom == dom)
			return i;
	return NIL;
}

/* Unmap entry i and return it to the free list. */
static void drop(struct pvio_gnt_cache *c, uint32_t i)
{
	struct pvio_gnt_cache_entry *e = &c->e[i];
	uint32_t *link = &c->bucket[hash(c, e->dom, e->ref)];

	while (*link != i)
		link = &c->e[*link].hnext;
	*link = e->hnext;
	lru_unlink(c, i);
	/* eagain only if a dead backend holds the pin lock: give it time. */
	for (int tries = 0; tries < 1000; tries++)
		if (pvio_gnt_unmap_one(c->b, e->handle) != PVIO_GNTST_eagain)
			break;
	e->addr = NULL;
	e->hnext = c->free_head;
	c->free_head = i;
	c->nr--;
}

int pvio_gnt_cache_get(struct pvio_gnt_cache *c, pvio_domid_t dom,
		       pvio_grant_ref_t ref, uint16_t flags, uint64_t now,
		       struct pvio_gnt_cache_entry **out)
{
	uint32_t i;
	void *addr;
	uint32_t handle;
	int st;

	if (!c || !out)
		return -EINVAL;
	i = lookup(c, dom, ref);
	if (i != NIL) {
		struct pvio_gnt_cache_entry *e = &c->e[i];

		if ((e->flags & CE_RO) && !(flags & PVIO_GNTMAP_readonly))
			return -EACCES;
		c->st.hits++;
		e->users++;
		e->last_used = now;
		if (c->lru_head != i) {
			lru_unlink(c, i);
			lru_push_front(c, i);
		}
		*out = e;
		return 0;
	}
	c->st.misses++;
	if (c->nr == c->cap) {
		uint32_t v = c->lru_tail;

		while (v != NIL && c->e[v].users)
			v = c->e[v].lru_prev;
		if (v == NIL)
			return -ENOSPC;
		drop(c, v);
		c->st.evictions++;
	}
	st = pvio_gnt_map_one(c->b, dom, ref, flags & PVIO_GNTMAP_readonly,
			      &addr, &handle);
	if (st != PVIO_GNTST_okay)
		return pvio_gntst_to_errno(st);
	i = c->free_head;
	c->free_head = c->e[i].hnext;
	c->nr++;

	struct pvio_gnt_cache_entry *e = &c->e[i];
	uint32_t h = hash(c, dom, ref);

	e->addr = addr;
	e->handle = handle;
	e->dom = dom;
	e->ref = ref;
	e->flags = flags & PVIO_GNTMAP_readonly;
	e->users = 1;
	e->last_used = now;
	e->hnext = c->bucket[h];
	c->bucket[h] = i;
	lru_push_front(c, i);
	*out = e;
	return 0;
}

void pvio_gnt_cache_put(struct pvio_gnt_cache *c, struct pvio_gnt_cache_entry *e)
{
	(void)c;
	if (e && e->users)
		e->users--;
}

uint32_t pvio_gnt_cache_purge(struct pvio_gnt_cache *c, uint64_t now, uint64_t idle)
{
	uint32_t n = 0, i;

	if (!c)
		return 0;
	i = c->lru_tail;
	/* The list is in last-use order: stop at the first recent entry. */
	while (i != NIL && now - c->e[i].last_used > idle) {
		uint32_t prev = c->e[i].lru_prev;

		if (c->e[i].users == 0) {
			drop(c, i);
			n++;
		}
		i = prev;
	}
	c->st.purged += n;
	return n;
}

uint32_t pvio_gnt_cache_flush(struct pvio_gnt_cache *c)
{
	uint32_t i;

	if (!c)
		return 0;
	i = c->lru_tail;
	while (i != NIL) {
		uint32_t prev = c->e[i].lru_prev;

		if (c->e[i].users == 0)
			drop(c, i);
		i = prev;
	}
	return c->nr;
}

void pvio_gnt_cache_stats(const struct pvio_gnt_cache *c,
			  struct pvio_gnt_cache_stats *st)
{
	*st = c->st;
	st->nr_entries = c->nr;
	st->cap = c->cap;
}
