/* SPDX-License-Identifier: MIT */
/* Host constructors: malloc'd storage for the grant core's private state. */
#include <errno.h>
#include <stdlib.h>

#include <pvio/host_memory.h>

int pvio_gnt_front_create(const struct pvio_machine *m, pvio_domid_t domid,
			  struct pvio_gnt_front **out)
{
	struct pvio_mach_dom *d;
	struct pvio_gnt_front *f;
	uint32_t n;
	uint32_t *storage;
	int rc;

	if (!m || !out || !(d = pvio_mach_dom(m, domid)))
		return -EINVAL;
	n = PVIO_GNT_FRONT_STORAGE(atomic_load(&d->max_gnt_frames));
	if (n == 0)
		return -EINVAL;
	f = malloc(sizeof(*f));
	storage = malloc((size_t)n * sizeof(*storage));
	if (!f || !storage) {
		free(f);
		free(storage);
		return -ENOMEM;
	}
	rc = pvio_gnt_front_init(f, m, domid, storage, n);
	if (rc) {
		free(f);
		free(storage);
		return rc;
	}
	*out = f;
	return 0;
}

void pvio_gnt_front_destroy(struct pvio_gnt_front *f)
{
	if (!f)
		return;
	free(f->next);
	free(f);
}

int pvio_gnt_back_create(const struct pvio_machine *m, pvio_domid_t domid,
			 uint32_t nr_handles, struct pvio_gnt_back **out)
{
	struct pvio_gnt_back *b;
	struct pvio_gnt_maptrack *mt;
	int rc;

	if (!m || !out || nr_handles == 0)
		return -EINVAL;
	b = malloc(sizeof(*b));
	mt = calloc(nr_handles, sizeof(*mt));
	if (!b || !mt) {
		free(b);
		free(mt);
		return -ENOMEM;
	}
	rc = pvio_gnt_back_init(b, m, domid, mt, nr_handles);
	if (rc) {
		free(b);
		free(mt);
		return rc;
	}
	*out = b;
	return 0;
}

void pvio_gnt_back_destroy(struct pvio_gnt_back *b)
{
	if (!b)
		return;
	free(b->mt);
	free(b);
}

int pvio_gnt_cache_create(struct pvio_gnt_back *b, uint32_t cap,
			  struct pvio_gnt_cache **out)
{
	struct pvio_gnt_cache *c;
	struct pvio_gnt_cache_entry *e;
	uint32_t *buckets, nb = 1;
	int rc;

	if (!b || !out)
		return -EINVAL;
	if (cap == 0)
		cap = PVIO_GNT_CACHE_DEFAULT_CAP;
	if (cap > (1u << 30))
		return -EINVAL;
	while (nb < cap * 2)
		nb <<= 1;
	c = malloc(sizeof(*c));
	e = calloc(cap, sizeof(*e));
	buckets = calloc(nb, sizeof(*buckets));
	if (!c || !e || !buckets) {
		free(c);
		free(e);
		free(buckets);
		return -ENOMEM;
	}
	rc = pvio_gnt_cache_init(c, b, e, cap, buckets, nb);
	if (rc) {
		free(c);
		free(e);
		free(buckets);
		return rc;
	}
	*out = c;
	return 0;
}

void pvio_gnt_cache_destroy(struct pvio_gnt_cache *c)
{
	if (!c)
		return;
	free(c->e);
	free(c->bucket);
	free(c);
}
