/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ring_test_util.h"

/* A 32-bit mix of (seq, word): distinct for every word of every message. */
static uint32_t mix32(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (uint32_t)x;
}

static uint32_t rsp_word(uint32_t req_word, unsigned i)
{
	unsigned r = (i % 31) + 1;

	return ((req_word << r) | (req_word >> (32 - r))) ^ 0x5bd1e995u;
}

void test_msg_fill_req(struct test_msg *m, uint64_t seq)
{
	m->seq = seq;
	for (unsigned i = 0; i < TEST_MSG_WORDS; i++)
		m->w[i] = mix32(seq * TEST_MSG_WORDS + i);
}

bool test_msg_req_ok(const struct test_msg *m, uint64_t seq)
{
	if (m->seq != seq)
		return false;
	for (unsigned i = 0; i < TEST_MSG_WORDS; i++)
		if (m->w[i] != mix32(seq * TEST_MSG_WORDS + i))
			return false;
	return true;
}

void test_msg_fill_rsp(struct test_msg *rsp, const struct test_msg *req)
{
	rsp->seq = ~req->seq;
	for (unsigned i = 0; i < TEST_MSG_WORDS; i++)
		rsp->w[i] = rsp_word(req->w[i], i);
}

bool test_msg_rsp_ok(const struct test_msg *m, uint64_t seq)
{
	if (m->seq != ~seq)
		return false;
	for (unsigned i = 0; i < TEST_MSG_WORDS; i++)
		if (m->w[i] != rsp_word(mix32(seq * TEST_MSG_WORDS + i), i))
			return false;
	return true;
}

void guarded_ring_map(struct guarded_ring *g, unsigned slot_pages)
{
	const size_t page = PVIO_PAGE_SIZE;

	g->map_len = (size_t)(slot_pages + 3) * page;
	g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g->map == MAP_FAILED) {
		perror("mmap");
		abort();
	}
	if (mprotect(g->map, page, PROT_NONE) ||
	    mprotect(g->map + g->map_len - page, page, PROT_NONE)) {
		perror("mprotect");
		abort();
	}
	g->slots = g->map + 2 * page;
	g->slot_bytes = (size_t)slot_pages * page;
	g->shared = g->slots - sizeof(struct pvio_sring_hdr);
	g->ring_bytes = sizeof(struct pvio_sring_hdr) + g->slot_bytes;
}

void guarded_ring_unmap(struct guarded_ring *g)
{
	munmap(g->map, g->map_len);
	memset(g, 0, sizeof(*g));
}

void guarded_ring_slots_access(struct guarded_ring *g, bool accessible)
{
	if (mprotect(g->slots, g->slot_bytes,
		     accessible ? PROT_READ | PROT_WRITE : PROT_NONE)) {
		perror("mprotect");
		abort();
	}
}

void *ring_mem_alloc(size_t bytes)
{
	void *p = aligned_alloc(PVIO_PAGE_SIZE, bytes);

	if (!p) {
		perror("aligned_alloc");
		abort();
	}
	memset(p, 0, bytes);
	return p;
}
