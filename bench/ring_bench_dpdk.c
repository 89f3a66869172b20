/* SPDX-License-Identifier: MIT */
/*
 * The DPDK baseline: the same run over two rte_ring SP/SC rings of 64-byte
 * elements, one for requests and one for responses, each holding exactly
 * 32 (RING_F_EXACT_SZ: the element array has 64 entries, capacity 32).
 * The rings live in our own memory (rte_ring_get_memsize_elem +
 * rte_ring_init); rte_ring_init needs no EAL, so none is started.
 *
 * rte_ring has no notification protocol: nothing to arm, nothing to kick.
 * A waiting side just spins on a dequeue, and the run reports 0 kicks.
 * Requests are built in a local array and copied in by the enqueue;
 * dequeues copy out; the backend answers in its local array and enqueues
 * the answers. Only this file sees DPDK's headers and compile flags.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <pvio/host.h>

#include "bench_pvt.h"

#define DPDK_RING_FLAGS (RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ)

struct dpdk_front_state {
	struct pvio_bench_msg buf[PVIO_BENCH_RING_SLOTS];
	uint64_t errors;
	uint64_t sent;
	uint64_t t0, t1;
	int rc;
};

struct dpdk_back_state {
	struct pvio_bench_msg buf[PVIO_BENCH_RING_SLOTS];
	int rc;
};

struct dpdk_run {
	alignas(PVIO_BENCH_ALIGN) struct dpdk_front_state front;
	alignas(PVIO_BENCH_ALIGN) struct dpdk_back_state back;
	struct pvio_bench_ctl ctl;
	alignas(PVIO_BENCH_ALIGN) struct pvio_bench_plan plan;
	struct rte_ring *req, *rsp;
	void *mem;
	size_t ring_bytes, mem_bytes;
};

/* ---------------------------------------------------------------- front */

static void dpdk_front(struct dpdk_run *r)
{
	struct pvio_bench_msg *buf = r->front.buf;
	const uint32_t batch = r->plan.batch, window = r->plan.window;
	const uint64_t warm = r->plan.warm, total = r->plan.total;
	uint64_t sent = 0, done = 0, errors = 0, since = 0;
	uint32_t spins = 0;
	int rc = 0;

	r->front.t0 = pvio_now_ns();
	while (done < total) {
		while (sent < total && sent - done + batch <= window) {
			for (uint32_t i = 0; i < batch; i++)
				pvio_bench_msg_fill(&buf[i], sent + i);
			if (rte_ring_enqueue_burst_elem(r->req, buf, sizeof(*buf),
							batch, NULL) != batch) {
				rc = -ENOSPC;
				goto out;
			}
			sent += batch;
		}
		for (uint32_t got = 0; got < batch;) {
			unsigned int n = rte_ring_dequeue_burst_elem(
				r->rsp, buf, sizeof(*buf), batch - got, NULL);

			for (unsigned int i = 0; i < n; i++, done++)
				errors += pvio_bench_msg_bad(&buf[i], done);
			got += n;
			if (n) {
				since = 0;
				continue;
			}
			pvio_cpu_relax();
			if (!(++spins & PVIO_BENCH_SPIN_MASK) &&
			    pvio_bench_spin_stalled(&r->ctl, &since)) {
				rc = -ETIMEDOUT;
				goto out;
			}
		}
		if (done == warm)
			r->front.t0 = pvio_now_ns();
	}
	rc = 0;
out:
	r->front.t1 = pvio_now_ns();
	if (rc < 0)
		pvio_store_relaxed(&r->ctl.abort, 1);
	r->front.rc = rc;
	r->front.errors = errors;
	r->front.sent = sent;
}

/* ----------------------------------------------------------------- back */

static void dpdk_back(void *arg)
{
	struct dpdk_run *r = arg;
	struct pvio_bench_msg *buf = r->back.buf;
	uint64_t left = r->plan.total, since = 0;
	uint32_t spins = 0;
	int rc = 0;

	while (left) {
		unsigned int n = rte_ring_dequeue_burst_elem(
			r->req, buf, sizeof(*buf), PVIO_BENCH_RING_SLOTS, NULL);

		if (!n) {
			pvio_cpu_relax();
			if (!(++spins & PVIO_BENCH_SPIN_MASK) &&
			    pvio_bench_spin_stalled(&r->ctl, &since)) {
				rc = -ETIMEDOUT;
				break;
			}
			continue;
		}
		since = 0;
		if (n > left) {
			rc = -EPROTO;
			break;
		}
		/* Answer in place: word i + 1, as every other backend. */
		for (unsigned int i = 0; i < n; i++)
			pvio_bench_msg_answer(&buf[i], &buf[i]);
		if (rte_ring_enqueue_burst_elem(r->rsp, buf, sizeof(*buf), n,
						NULL) != n) {
			rc = -ENOSPC;
			break;
		}
		left -= n;
	}
	if (rc < 0)
		pvio_store_relaxed(&r->ctl.abort, 1);
	r->back.rc = rc;
}

int pvio_bench_ring_run_dpdk(const struct pvio_bench_plan *plan,
			     struct pvio_bench_ring_result *res)
{
	struct dpdk_run *r = pvio_bench_state_alloc(sizeof(*r));
	ssize_t sz;
	int rc = -ENOMEM;

	if (!r)
		return -ENOMEM;
	r->plan = *plan;
	/* EXACT_SZ sizes the element array for count + 1 rounded up. */
	sz = rte_ring_get_memsize_elem(sizeof(struct pvio_bench_msg),
				       rte_align32pow2(PVIO_BENCH_RING_SLOTS + 1));
	if (sz <= 0) {
		rc = sz < 0 ? (int)sz : -EINVAL;
		goto out;
	}
	/* Each ring on its own pages: requests, then responses. */
	r->ring_bytes = ((size_t)sz + 4095) & ~(size_t)4095;
	r->mem_bytes = 2 * r->ring_bytes;
	r->mem = pvio_bench_shm_alloc(r->mem_bytes);
	if (!r->mem)
		goto out;
	r->req = r->mem;
	r->rsp = (struct rte_ring *)((char *)r->mem + r->ring_bytes);
	rc = rte_ring_init(r->req, "pvio_bench_req", PVIO_BENCH_RING_SLOTS,
			   DPDK_RING_FLAGS);
	if (!rc)
		rc = rte_ring_init(r->rsp, "pvio_bench_rsp",
				   PVIO_BENCH_RING_SLOTS, DPDK_RING_FLAGS);
	if (rc)
		goto out;
	if (rte_ring_get_capacity(r->req) != PVIO_BENCH_RING_SLOTS) {
		rc = -EINVAL;
		goto out;
	}
	rc = pvio_bench_worker_post(dpdk_back, r);
	if (rc)
		goto out;
	dpdk_front(r);
	pvio_bench_worker_wait();

	res->ns = r->front.t1 - r->front.t0;
	res->round_trips = plan->total - plan->warm;
	res->requests = r->front.sent;
	res->front_kicks = 0;
	res->back_kicks = 0;
	res->errors = r->front.errors + (r->front.rc < 0) + (r->back.rc < 0);
	res->status = pvio_bench_status(r->front.rc, r->back.rc);
	rc = 0;
out:
	pvio_bench_shm_free(r->mem, r->mem_bytes);
	free(r);
	return rc;
}
