/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the ring tests: a test message with a checkable
 * payload, guarded ring memory, and a fake peer that writes the shared
 * header directly (the unit tests' stand-in for a frontend or backend that
 * may lie).
 */
#ifndef PVIO_TEST_RING_UTIL_H
#define PVIO_TEST_RING_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/ring.h>

/*
 * One 64-byte slot: a request carries its sequence number and a pattern
 * derived from it; the response carries ~seq and a pattern derived from the
 * request's, so a slot the backend forgot to overwrite never passes as a
 * response.
 */
#define TEST_MSG_WORDS 14
struct test_msg {
	uint64_t seq;
	uint32_t w[TEST_MSG_WORDS];
};
_Static_assert(sizeof(struct test_msg) == 64, "one cache line per slot");

void test_msg_fill_req(struct test_msg *m, uint64_t seq);
bool test_msg_req_ok(const struct test_msg *m, uint64_t seq);
void test_msg_fill_rsp(struct test_msg *rsp, const struct test_msg *req);
bool test_msg_rsp_ok(const struct test_msg *m, uint64_t seq);

/* Xen's notify rule, written as io/ring.h writes it (not pvio's helper). */
static inline bool xen_rule_notify(uint32_t old, uint32_t new_prod,
				   uint32_t event)
{
	return (uint32_t)(new_prod - event) < (uint32_t)(new_prod - old);
}

/* The same decision in words: the peer asked to be kicked at an index in
 * (old, new_prod]. A third formulation, so a shared typo cannot hide. */
static inline bool event_in_published_range(uint32_t old, uint32_t new_prod,
					    uint32_t event)
{
	uint32_t dist = event - old;

	return dist != 0 && dist <= (uint32_t)(new_prod - old);
}

/*
 * Ring memory laid out so that a stray access faults:
 *
 *   [PROT_NONE][header page: header in its last 64 bytes][slot pages][PROT_NONE]
 *
 * The slots start on a page boundary and the last slot ends exactly at the
 * trailing guard page, so reading past the ring crashes, and the slot pages
 * can be made PROT_NONE on their own to prove a call reads no slot at all.
 */
struct guarded_ring {
	unsigned char *map;
	size_t map_len;
	void *shared;       /* the ring: header, then slots */
	size_t ring_bytes;  /* 64 + slot_pages * 4096 */
	unsigned char *slots;
	size_t slot_bytes;
};

/* Map a guarded ring with slot_pages pages of slots. Aborts on failure. */
void guarded_ring_map(struct guarded_ring *g, unsigned slot_pages);
void guarded_ring_unmap(struct guarded_ring *g);
/* Make the slot pages inaccessible (false) or read-write again (true). */
void guarded_ring_slots_access(struct guarded_ring *g, bool accessible);

/* Page-aligned zeroed ordinary memory (aligned_alloc 4096). */
void *ring_mem_alloc(size_t bytes);

/* Address of slot idx in a ring of nr slots of slot_size at shared. */
static inline void *test_slot(void *shared, uint32_t nr, size_t slot_size,
			      uint32_t idx)
{
	return (unsigned char *)shared + sizeof(struct pvio_sring_hdr) +
	       (size_t)(idx & (nr - 1)) * slot_size;
}

/* Fake peers: read/write the shared header as a peer would. */
static inline void hdr_set(_Atomic uint32_t *field, uint32_t v)
{
	atomic_store_explicit(field, v, memory_order_seq_cst);
}

static inline uint32_t hdr_get(const _Atomic uint32_t *field)
{
	return atomic_load_explicit(field, memory_order_seq_cst);
}

/* Small deterministic PRNG (xorshift64*), for schedules and batch sizes. */
static inline uint64_t test_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1Dull;
}

#endif /* PVIO_TEST_RING_UTIL_H */
