/* SPDX-License-Identifier: MIT */
/*
 * The ring with no C library at all: built with -ffreestanding -nostdlib
 * -static together with ring/ring.c, its own _start, memcpy and memset, and
 * nothing but <stdint.h>, <stddef.h>, <stdbool.h>, <stdatomic.h> and pvio
 * headers. Runs blkif round trips on a static ring (one page and four,
 * from index 0 and across 2^32), checks the event-index kick and a hostile
 * index, and exits 0 on success, 1 on failure (via the exit_group syscall).
 *
 * x86-64 Linux only (the _start and the syscall are inline asm).
 */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/blkif.h>
#include <pvio/ring.h>

#if !defined(__x86_64__) || !defined(__linux__)
#error "freestanding_main.c has an x86-64 Linux _start only"
#endif

/* The compiler may emit calls to these even with -ffreestanding. The
 * volatile stores keep it from turning the loops back into calls to
 * themselves. */
void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memset(void *dst, int c, size_t n);
int main(void);

void *memcpy(void *restrict dst, const void *restrict src, size_t n)
{
	volatile unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	volatile unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

/* The kernel enters with the stack 16-byte aligned, argc at (%rsp). */
__asm__(".text\n"
	".globl _start\n"
	".type _start, @function\n"
	"_start:\n"
	"	xor %ebp, %ebp\n"
	"	and $-16, %rsp\n"
	"	call main\n"
	"	mov %eax, %edi\n"
	"	mov $231, %eax\n" /* exit_group */
	"	syscall\n"
	"	hlt\n"
	".size _start, . - _start\n");

#define MAX_PAGES 4
static _Alignas(4096) unsigned char ring_mem[MAX_PAGES * PVIO_PAGE_SIZE];

#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			return false; \
	} while (0)

static void fill_req(struct pvio_blkif_request *r, uint64_t seq)
{
	memset(r, 0, sizeof(*r));
	r->operation = (uint8_t)(seq & 1);
	r->nr_segments = (uint8_t)(1 + seq % PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST);
	r->handle = 3;
	r->id = seq ^ 0x5a5a5a5a00000000ull;
	r->sector_number = seq * 8;
	for (unsigned i = 0; i < r->nr_segments; i++)
		r->seg[i] = (struct pvio_blkif_segment){
			.gref = (pvio_grant_ref_t)(seq + i), .first_sect = 0,
			.last_sect = 7 };
}

static bool req_ok(const struct pvio_blkif_request *r, uint64_t seq)
{
	CHECK(r->operation == (seq & 1));
	CHECK(r->nr_segments == 1 + seq % PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST);
	CHECK(r->handle == 3);
	CHECK(r->id == (seq ^ 0x5a5a5a5a00000000ull));
	CHECK(r->sector_number == seq * 8);
	for (unsigned i = 0; i < r->nr_segments; i++)
		CHECK(r->seg[i].gref == (pvio_grant_ref_t)(seq + i) &&
		      r->seg[i].last_sect == 7);
	return true;
}

static bool round_trips(size_t bytes, uint32_t start, uint32_t trips)
{
	struct pvio_ring_front f;
	struct pvio_ring_back b;
	uint64_t seq = 0, rsp_seq = 0, served = 0;

	pvio_sring_init((struct pvio_sring_hdr *)ring_mem, start);
	CHECK(pvio_ring_front_attach(&f, ring_mem, bytes,
				     sizeof(union pvio_blkif_slot), start) == 0);
	CHECK(pvio_blkif_back_attach(&b, ring_mem, bytes, start) == 0);
	CHECK(f.nr_slots == pvio_blkif_ring_nr_slots(bytes));

	for (uint32_t t = 0; t < trips; t++) {
		uint32_t k = 1 + t % f.nr_slots;
		struct pvio_blkif_request *r;

		/* The backend went idle: the next push must kick it. */
		bool armed = pvio_ring_back_final_check(&b) == 0;
		for (uint32_t i = 0; i < k && (r = pvio_blkif_front_next_req(&f)); i++)
			fill_req(r, seq++);
		int kick = pvio_ring_front_push(&f);
		CHECK(kick >= 0 && (!armed || kick == 1));

		struct pvio_blkif_request req;
		int rc;
		while ((rc = pvio_blkif_back_get_req(&b, &req)) == 1) {
			CHECK(req_ok(&req, served++));
			struct pvio_blkif_response *rsp = pvio_blkif_back_next_rsp(&b);
			CHECK(rsp != NULL);
			*rsp = (struct pvio_blkif_response){
				.id = req.id, .operation = req.operation,
				.status = PVIO_BLKIF_RSP_OKAY };
		}
		CHECK(rc == 0);
		CHECK(pvio_ring_back_push(&b) >= 0);

		struct pvio_blkif_response rsp;
		while ((rc = pvio_blkif_front_get_rsp(&f, &rsp)) == 1) {
			CHECK(rsp.id == (rsp_seq ^ 0x5a5a5a5a00000000ull));
			CHECK(rsp.operation == (rsp_seq & 1));
			CHECK(rsp.status == PVIO_BLKIF_RSP_OKAY);
			rsp_seq++;
		}
		CHECK(rc == 0);
	}
	CHECK(rsp_seq == seq && served == seq && seq > 0);
	CHECK(f.rsp_cons == (uint32_t)(start + seq));
	CHECK(f.stats.protocol_errors == 0 && b.stats.protocol_errors == 0);
	CHECK(f.stats.kicks_sent + f.stats.kicks_avoided == f.stats.pushes);

	/* A frontend claiming more than a ring of requests breaks the ring. */
	struct pvio_sring_hdr *s = (struct pvio_sring_hdr *)ring_mem;
	struct pvio_blkif_request req;
	atomic_store(&s->req_prod, b.rsp_prod_pub + b.nr_slots + 1);
	CHECK(pvio_blkif_back_get_req(&b, &req) == -EPROTO);
	CHECK(pvio_blkif_back_next_rsp(&b) == NULL);
	CHECK(b.stats.protocol_errors == 1);
	return true;
}

int main(void)
{
	if (!round_trips(PVIO_PAGE_SIZE, 0, 3000))
		return 1;
	if (!round_trips(PVIO_PAGE_SIZE, 0xffffffffu - 5, 3000))
		return 1;
	if (!round_trips(MAX_PAGES * PVIO_PAGE_SIZE, 0xfffff000u, 3000))
		return 1;
	return 0;
}
