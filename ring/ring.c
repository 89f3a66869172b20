/* SPDX-License-Identifier: MIT */
/*
 * Ring set-up and the cold paths; the fast paths are inline in
 * <pvio/ring_pvt.h>. Freestanding: no libc.
 */
#include <pvio/ring.h>

/* Xen's __RD32: round down to a power of two (0 stays 0). */
static uint32_t round_down_pow2(uint32_t x)
{
	uint32_t p = 1;

	if (x == 0)
		return 0;
	while (p <= x / 2)
		p <<= 1;
	return p;
}

uint32_t pvio_ring_nr_slots(size_t ring_bytes, size_t slot_size)
{
	if (slot_size == 0 || ring_bytes < sizeof(struct pvio_sring_hdr) + slot_size)
		return 0;
	size_t n = (ring_bytes - sizeof(struct pvio_sring_hdr)) / slot_size;
	if (n > 0xffffffffu)
		n = 0xffffffffu;
	return round_down_pow2((uint32_t)n);
}

void pvio_sring_init(struct pvio_sring_hdr *sring, uint32_t start)
{
	/* Private bytes first, indices last, as the peer may already look. */
	for (size_t i = 0; i < sizeof(sring->pvt); i++)
		sring->pvt[i] = 0;
	for (size_t i = 0; i < sizeof(sring->pad); i++)
		sring->pad[i] = 0;
	pvio_store_relaxed(&sring->req_event, start + 1);
	pvio_store_relaxed(&sring->rsp_event, start + 1);
	pvio_store_relaxed(&sring->rsp_prod, start);
	pvio_store_release(&sring->req_prod, start);
}

static int check_geometry(const void *shared, size_t ring_bytes,
			  size_t slot_size, uint32_t *nr_slots)
{
	if (!shared || ((uintptr_t)shared & 63) || slot_size == 0 ||
	    (slot_size & 3) || slot_size > 0xffffffffu)
		return -EINVAL;
	*nr_slots = pvio_ring_nr_slots(ring_bytes, slot_size);
	/* Counts are returned as int: keep them far from INT_MAX. */
	return *nr_slots && *nr_slots <= (1u << 24) ? 0 : -EINVAL;
}

int pvio_ring_front_attach(struct pvio_ring_front *f, void *shared,
			   size_t ring_bytes, size_t slot_size, uint32_t start)
{
	uint32_t nr;
	int rc = check_geometry(shared, ring_bytes, slot_size, &nr);

	if (rc)
		return rc;
	*f = (struct pvio_ring_front){
		.sring = shared,
		.slots = (unsigned char *)shared + sizeof(struct pvio_sring_hdr),
		.nr_slots = nr,
		.slot_size = (uint32_t)slot_size,
		.req_prod_pvt = start,
		.req_prod_pub = start,
		.rsp_cons = start,
		.rsp_prod_seen = start,
		/* Unknown: the first final check always stores. */
		.rsp_event_set = start,
	};
	return 0;
}

int pvio_ring_front_init(struct pvio_ring_front *f, void *shared,
			 size_t ring_bytes, size_t slot_size)
{
	uint32_t nr;
	int rc = check_geometry(shared, ring_bytes, slot_size, &nr);

	if (rc)
		return rc;
	pvio_sring_init(shared, 0);
	return pvio_ring_front_attach(f, shared, ring_bytes, slot_size, 0);
}

int pvio_ring_back_attach(struct pvio_ring_back *b, void *shared,
			  size_t ring_bytes, size_t slot_size, uint32_t start)
{
	uint32_t nr;
	int rc = check_geometry(shared, ring_bytes, slot_size, &nr);

	if (rc)
		return rc;
	*b = (struct pvio_ring_back){
		.sring = shared,
		.slots = (unsigned char *)shared + sizeof(struct pvio_sring_hdr),
		.nr_slots = nr,
		.slot_size = (uint32_t)slot_size,
		.req_cons = start,
		.req_prod_seen = start,
		.rsp_prod_pvt = start,
		.rsp_prod_pub = start,
		.req_event_set = start,
	};
	return 0;
}

/* Cold: the peer published an impossible index. The ring stays broken. */
int pvio_ring__front_fail(struct pvio_ring_front *f)
{
	f->error = -EPROTO;
	f->stats.protocol_errors++;
	return -EPROTO;
}

int pvio_ring__back_fail(struct pvio_ring_back *b)
{
	b->error = -EPROTO;
	b->stats.protocol_errors++;
	return -EPROTO;
}
