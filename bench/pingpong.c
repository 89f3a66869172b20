/* SPDX-License-Identifier: MIT */
/*
 * The bare cache-line ping-pong: the physical floor of any cross-core
 * handoff. One counter on its own line; the frontend writes an odd value
 * and waits for the next even one, the backend waits for the odd value and
 * writes the even one. One round trip moves the line there and back.
 *
 * Used two ways: as a long run (the latency floor, PVIO_BENCH_BARE) and as
 * the short probe that labels each repetition near or far (regime.c).
 */
#include <errno.h>
#include <stdlib.h>

#include <pvio/host.h>

#include "bench_pvt.h"

struct pp_run {
	/* The one shared line. */
	alignas(PVIO_BENCH_ALIGN) _Atomic uint64_t line;
	alignas(PVIO_BENCH_ALIGN) int front_rc;
	alignas(PVIO_BENCH_ALIGN) int back_rc;
	struct pvio_bench_ctl ctl;
	/* Read-only while the run lasts. */
	alignas(PVIO_BENCH_ALIGN) uint64_t warm;
	uint64_t total;
	uint32_t chunks, per_chunk;
	uint64_t *stamps; /* chunks + 1 entries; the frontend's alone */
};

static int pp_wait(struct pp_run *r, uint64_t want)
{
	uint64_t since = 0;
	uint32_t spins = 0;

	/* A1: pairs with R1 on the other side. */
	while (atomic_load_explicit(&r->line, memory_order_acquire) != want) {
		pvio_cpu_relax();
		if (!(++spins & PVIO_BENCH_SPIN_MASK) &&
		    pvio_bench_spin_stalled(&r->ctl, &since))
			return -ETIMEDOUT;
	}
	return 0;
}

static int pp_front(struct pp_run *r)
{
	uint64_t v = 0;
	int rc;

	for (uint64_t i = 0; i < r->warm; i++) {
		/* R1: pairs with A1 in pp_wait() on the other side. */
		atomic_store_explicit(&r->line, ++v, memory_order_release);
		if ((rc = pp_wait(r, ++v)) < 0)
			return rc;
	}
	r->stamps[0] = pvio_now_ns();
	for (uint32_t c = 0; c < r->chunks; c++) {
		for (uint32_t k = 0; k < r->per_chunk; k++) {
			atomic_store_explicit(&r->line, ++v, memory_order_release);
			if ((rc = pp_wait(r, ++v)) < 0)
				return rc;
		}
		r->stamps[c + 1] = pvio_now_ns();
	}
	return 0;
}

static void pp_back(void *arg)
{
	struct pp_run *r = arg;
	uint64_t v = 0;
	int rc = 0;

	for (uint64_t i = 0; i < r->total; i++) {
		if ((rc = pp_wait(r, ++v)) < 0)
			break;
		atomic_store_explicit(&r->line, ++v, memory_order_release);
	}
	if (rc < 0)
		pvio_store_relaxed(&r->ctl.abort, 1);
	r->back_rc = rc;
}

/* Run the pair; stamps[0..chunks] filled. Returns the run's status. */
static int pp_run(uint64_t warm, uint32_t chunks, uint32_t per_chunk,
		  uint64_t *stamps)
{
	struct pp_run *r = pvio_bench_state_alloc(sizeof(*r));
	int rc;

	if (!r)
		return -ENOMEM;
	r->warm = warm;
	r->chunks = chunks;
	r->per_chunk = per_chunk;
	r->total = warm + (uint64_t)chunks * per_chunk;
	r->stamps = stamps;
	rc = pvio_bench_worker_post(pp_back, r);
	if (rc) {
		free(r);
		return rc;
	}
	r->front_rc = pp_front(r);
	if (r->front_rc < 0)
		pvio_store_relaxed(&r->ctl.abort, 1);
	pvio_bench_worker_wait();
	rc = pvio_bench_status(r->front_rc, r->back_rc);
	free(r);
	return rc;
}

int pvio_bench_pingpong_chunks(uint32_t warm, uint32_t chunks,
			       uint32_t per_chunk, uint64_t *chunk_ns)
{
	uint64_t *stamps;
	int rc;

	if (!chunks || !per_chunk || !chunk_ns)
		return -EINVAL;
	stamps = calloc(chunks + 1u, sizeof(*stamps));
	if (!stamps)
		return -ENOMEM;
	rc = pp_run(warm, chunks, per_chunk, stamps);
	for (uint32_t c = 0; !rc && c < chunks; c++)
		chunk_ns[c] = stamps[c + 1] - stamps[c];
	free(stamps);
	return rc;
}

int pvio_bench_pingpong_run(const struct pvio_bench_plan *plan,
			    struct pvio_bench_ring_result *res)
{
	uint64_t stamps[2] = { 0, 0 };
	uint64_t count = plan->total - plan->warm;
	int rc;

	if (count > UINT32_MAX)
		return -EINVAL;
	rc = pp_run(plan->warm, 1, (uint32_t)count, stamps);
	if (rc == -ENOMEM || rc == -ENOTCONN)
		return rc;
	res->ns = stamps[1] - stamps[0];
	res->round_trips = count;
	res->requests = plan->total;
	res->errors = rc < 0;
	res->status = rc;
	return 0;
}
