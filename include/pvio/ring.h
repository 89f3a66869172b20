/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory request/response ring.
 *
 * A ring is one shared header (struct pvio_sring_hdr, 64 bytes) followed by
 * a power-of-two number of fixed-size slots, over 1..16 pages. It is
 * byte-for-byte the ring of Xen's public io/ring.h: same header layout, same
 * initial values, same slot count for a given size, same event-index
 * notification protocol, so either end can be a Xen-macro peer.
 *
 * The frontend produces requests and consumes responses; the backend
 * consumes requests and produces responses, reusing each request's slot for
 * its response. Each end's private indices live in its own struct
 * (pvio_ring_front / pvio_ring_back), never in shared memory.
 *
 * Never trust the peer: every index read from the shared header is checked
 * against what the protocol allows before it is used; a violation returns
 * -EPROTO and the ring stays broken (every call returns -EPROTO) until it is
 * re-attached. Messages are copied out of their slot once (get_req/get_rsp)
 * and the copy is what callers validate and use.
 *
 * Threading: one thread drives an end at a time (single producer, single
 * consumer per direction). The two ends may be in different threads,
 * processes or domains. No function here allocates, sleeps or logs; all of
 * them compile freestanding.
 *
 * Returns: 0 or a positive count on success, a negative errno on failure.
 */
#ifndef PVIO_RING_H
#define PVIO_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/atomic.h>

#define PVIO_PAGE_SHIFT 12
#define PVIO_PAGE_SIZE  (1u << PVIO_PAGE_SHIFT)
/* ring-page-order 0..4: 1, 2, 4, 8 or 16 pages, as Xen's blkif allows. */
#define PVIO_RING_MAX_PAGE_ORDER 4

/* The shared header. Xen ABI: offsets 0, 4, 8, 12; private 4 bytes; pad. */
struct pvio_sring_hdr {
	_Atomic uint32_t req_prod;  /* frontend writes: requests published   */
	_Atomic uint32_t req_event; /* backend writes: kick me at this index  */
	_Atomic uint32_t rsp_prod;  /* backend writes: responses published   */
	_Atomic uint32_t rsp_event; /* frontend writes: kick me at this index */
	uint8_t pvt[4];             /* Xen's netif smartpoll byte; zeroed     */
	uint8_t pad[44];
};
_Static_assert(sizeof(struct pvio_sring_hdr) == 64, "ring header is ABI");
_Static_assert(offsetof(struct pvio_sring_hdr, req_prod) == 0, "ABI");
_Static_assert(offsetof(struct pvio_sring_hdr, req_event) == 4, "ABI");
_Static_assert(offsetof(struct pvio_sring_hdr, rsp_prod) == 8, "ABI");
_Static_assert(offsetof(struct pvio_sring_hdr, rsp_event) == 12, "ABI");
_Static_assert(offsetof(struct pvio_sring_hdr, pvt) == 16, "ABI");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "shared indices are 32-bit");

/* Counters each end keeps about its own ring. Plain private memory. */
struct pvio_ring_stats {
	uint64_t pushes;          /* push calls that published something   */
	uint64_t kicks_sent;      /* pushes after which the peer must be kicked */
	uint64_t kicks_avoided;   /* pushes the peer's event index suppressed */
	uint64_t events_armed;    /* final checks that stored a new event index */
	uint64_t protocol_errors; /* bad indices seen from the peer (0 or 1)  */
};

/* The frontend's private view: produces requests, consumes responses. */
struct pvio_ring_front {
	struct pvio_sring_hdr *sring;
	unsigned char *slots;
	uint32_t nr_slots;      /* power of two */
	uint32_t slot_size;
	uint32_t req_prod_pvt;  /* next request slot to fill */
	uint32_t req_prod_pub;  /* last value stored to sring->req_prod */
	uint32_t rsp_cons;      /* next response to consume */
	uint32_t rsp_prod_seen; /* last checked sring->rsp_prod */
	uint32_t rsp_event_set; /* value last stored to sring->rsp_event */
	int error;              /* 0, or -EPROTO once the peer broke the rules */
	struct pvio_ring_stats stats;
};

/*
 * A burst of consecutive slots taken at once (pvio_ring_*_burst): slots
 * first .. first + n - 1. Plain values: the loop over a burst keeps its
 * index in a register instead of moving a ring index in memory per
 * message, a store-to-load chain every next message would wait on.
 */
struct pvio_ring_burst {
	uint32_t first;
	uint32_t n;
};

/* The backend's private view: consumes requests, produces responses. */
struct pvio_ring_back {
	struct pvio_sring_hdr *sring;
	unsigned char *slots;
	uint32_t nr_slots;
	uint32_t slot_size;
	uint32_t req_cons;      /* next request to consume */
	uint32_t req_prod_seen; /* last checked sring->req_prod */
	uint32_t rsp_prod_pvt;  /* next response slot to fill */
	uint32_t rsp_prod_pub;  /* last value stored to sring->rsp_prod */
	uint32_t req_event_set; /* value last stored to sring->req_event */
	uint8_t lockstep;       /* pushes in a row of one response that kicked,
				 * up to 2 (pvio_ring__back_refresh()) */
	int error;
	struct pvio_ring_stats stats;
};

/*
 * Number of slots of slot_size bytes that a ring of ring_bytes holds,
 * computed as Xen's __RING_SIZE does: (bytes - 64) / slot_size rounded down
 * to a power of two. Returns 0 when not even one slot fits.
 */
uint32_t pvio_ring_nr_slots(size_t ring_bytes, size_t slot_size);

/*
 * Initialise a shared ring header as Xen's SHARED_RING_INIT does, but with
 * both producer indices at start and both event indices at start + 1.
 * start is 0 for a new ring; tests use values near 2^32 to exercise
 * wrap-around. Called by the side that allocates the ring (the frontend),
 * before the peer attaches.
 */
void pvio_sring_init(struct pvio_sring_hdr *sring, uint32_t start);

/*
 * Attach a frontend to a shared ring of ring_bytes at shared, whose private
 * indices start at start (matching the header's). The caller keeps owning
 * the memory; the ring only points into it.
 * Returns 0, -EINVAL (NULL or misaligned memory, slot_size 0 or not a
 * multiple of 4, or no slot fits).
 */
int pvio_ring_front_attach(struct pvio_ring_front *f, void *shared,
			   size_t ring_bytes, size_t slot_size, uint32_t start);

/* pvio_sring_init(shared, 0) then pvio_ring_front_attach(.., 0). */
int pvio_ring_front_init(struct pvio_ring_front *f, void *shared,
			 size_t ring_bytes, size_t slot_size);

/*
 * Attach a backend to a ring the frontend initialised. start is the index
 * both ends agreed on: 0 for a new ring, or the shared rsp_prod when a new
 * backend takes over a live ring (as Linux blkback does on reconnect).
 * Returns 0 or -EINVAL as pvio_ring_front_attach().
 */
int pvio_ring_back_attach(struct pvio_ring_back *b, void *shared,
			  size_t ring_bytes, size_t slot_size, uint32_t start);

#include <pvio/ring_pvt.h>

/*
 * Typed rings. PVIO_RING_DEFINE(blkif, struct pvio_blkif_request,
 * struct pvio_blkif_response) gives union blkif_slot and typed wrappers
 * blkif_ring_nr_slots(), blkif_front_init(), blkif_back_attach(),
 * blkif_front_next_req(), blkif_front_get_rsp(), blkif_back_get_req(),
 * blkif_back_next_rsp(). The index logic stays in the functions above;
 * get_rsp/get_req copy the message out of its slot once, as a typed
 * assignment whose size is known at compile time (the compiler may leave
 * out the fields the caller never reads, but after the copy it may not go
 * back to the slot for the ones it does: pvio_ring__copied()).
 *
 * Bursts, for loops over many messages: take or reserve n slots at once
 * with the pvio_ring_*_burst() calls below (struct pvio_ring_burst), then
 * blkif_front_burst_req(f, &it, k) is request slot k to fill in place,
 * blkif_front_burst_rsp(f, &it, k, &out) copies response k out (once),
 * blkif_back_burst_req(b, &it, k, &out) copies request k out (once) and
 * blkif_back_burst_rsp(b, &it, k) is response slot k to fill in place,
 * for k < it.n. No checks inside the loop: the burst call made them.
 */
#define PVIO_RING_DEFINE(name, req_type, rsp_type)                             \
	union name##_slot {                                                    \
		req_type req;                                                  \
		rsp_type rsp;                                                  \
	};                                                                     \
	static inline uint32_t name##_ring_nr_slots(size_t ring_bytes)         \
	{                                                                      \
		return pvio_ring_nr_slots(ring_bytes, sizeof(union name##_slot)); \
	}                                                                      \
	static inline int name##_front_init(struct pvio_ring_front *f,         \
					    void *shared, size_t ring_bytes)   \
	{                                                                      \
		return pvio_ring_front_init(f, shared, ring_bytes,             \
					    sizeof(union name##_slot));        \
	}                                                                      \
	static inline int name##_back_attach(struct pvio_ring_back *b,         \
					     void *shared, size_t ring_bytes,  \
					     uint32_t start)                   \
	{                                                                      \
		return pvio_ring_back_attach(b, shared, ring_bytes,            \
					     sizeof(union name##_slot), start);\
	}                                                                      \
	static inline req_type *name##_front_next_req(struct pvio_ring_front *f) \
	{                                                                      \
		return (req_type *)pvio_ring_front_next_req(f);                \
	}                                                                      \
	static inline int name##_front_get_rsp(struct pvio_ring_front *f,      \
					       rsp_type *out)                  \
	{                                                                      \
		const void *slot = pvio_ring__front_take(f, sizeof(*out));     \
		if (!slot)                                                     \
			return pvio_ring__front_none(f);                       \
		*out = *(const rsp_type *)slot;                                \
		pvio_ring__copied();                                           \
		return 1;                                                      \
	}                                                                      \
	static inline int name##_back_get_req(struct pvio_ring_back *b,        \
					      req_type *out)                   \
	{                                                                      \
		const void *slot = pvio_ring__back_take(b, sizeof(*out));      \
		if (!slot)                                                     \
			return pvio_ring__back_none(b);                        \
		*out = *(const req_type *)slot;                                \
		pvio_ring__copied();                                           \
		return 1;                                                      \
	}                                                                      \
	static inline req_type *name##_front_burst_req(                        \
		const struct pvio_ring_front *f,                               \
		const struct pvio_ring_burst *it, uint32_t k)                  \
	{                                                                      \
		return (req_type *)pvio_ring__slot(f->slots, f->nr_slots,      \
						   f->slot_size, it->first + k); \
	}                                                                      \
	static inline void name##_front_burst_rsp(                             \
		const struct pvio_ring_front *f,                               \
		const struct pvio_ring_burst *it, uint32_t k, rsp_type *out)   \
	{                                                                      \
		*out = *(const rsp_type *)pvio_ring__slot(                     \
			f->slots, f->nr_slots, f->slot_size, it->first + k);   \
		pvio_ring__copied();                                           \
	}                                                                      \
	static inline void name##_back_burst_req(                              \
		const struct pvio_ring_back *b,                                \
		const struct pvio_ring_burst *it, uint32_t k, req_type *out)   \
	{                                                                      \
		*out = *(const req_type *)pvio_ring__slot(                     \
			b->slots, b->nr_slots, b->slot_size, it->first + k);   \
		pvio_ring__copied();                                           \
	}                                                                      \
	static inline rsp_type *name##_back_burst_rsp(                         \
		const struct pvio_ring_back *b,                                \
		const struct pvio_ring_burst *it, uint32_t k)                  \
	{                                                                      \
		return (rsp_type *)pvio_ring__slot(b->slots, b->nr_slots,      \
						   b->slot_size, it->first + k); \
	}                                                                      \
	static inline rsp_type *name##_back_next_rsp(struct pvio_ring_back *b) \
	{                                                                      \
		return (rsp_type *)pvio_ring_back_next_rsp(b);                 \
	}                                                                      \
	_Static_assert(sizeof(union name##_slot) % 4 == 0,                     \
		       #name " slot size is a multiple of 4")

#endif /* PVIO_RING_H */
