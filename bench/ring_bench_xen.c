/* SPDX-License-Identifier: MIT */
/*
 * The baseline: the same run as ring_bench.c, written with Xen's public
 * io/ring.h macros the way Linux's blkfront/blkback use them. This is the
 * only file that includes Xen's header.
 *
 * Barriers are Linux's for a Xen guest on x86-64 (virt_mb/virt_rmb/
 * virt_wmb): a locked add on the stack for xen_mb(), compiler barriers for
 * xen_rmb()/xen_wmb() (x86 is TSO). The macros read and write the shared
 * indices as plain memory; compiler barriers (in the spin loops too, as
 * Linux's cpu_relax() is) keep those reads fresh, as in Linux.
 *
 * Frontend: RING_GET_REQUEST filled in place, RING_PUSH_REQUESTS_AND_
 * CHECK_NOTIFY, responses copied out with RING_COPY_RESPONSE after
 * RING_RESPONSE_PROD_OVERFLOW is checked, RING_FINAL_CHECK_FOR_RESPONSES
 * before waiting. Backend: RING_REQUEST_PROD_OVERFLOW check,
 * RING_COPY_REQUEST, response in RING_GET_RESPONSE, one
 * RING_PUSH_RESPONSES_AND_CHECK_NOTIFY per pass,
 * RING_FINAL_CHECK_FOR_REQUESTS before waiting.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pvio/host.h>

#include "bench_pvt.h"

/* A guest built against the latest interface supplies its own barriers. */
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#if defined(__x86_64__)
#define xen_mb() __asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc")
#define xen_rmb() __asm__ __volatile__("" ::: "memory")
#define xen_wmb() __asm__ __volatile__("" ::: "memory")
#else
#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define xen_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define xen_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif
#include <xen/io/ring.h>

DEFINE_RING_TYPES(benchxen, struct pvio_bench_msg, struct pvio_bench_msg);

/* Linux's cpu_relax(): pause, and a compiler barrier for the plain reads. */
static inline void xen_spin_relax(void)
{
	pvio_cpu_relax();
	__asm__ __volatile__("" ::: "memory");
}

struct xen_front_state {
	benchxen_front_ring_t ring;
	uint64_t kicks;
	uint64_t errors;
	uint64_t sent;
	uint64_t t0, t1;
	int rc;
};

struct xen_back_state {
	benchxen_back_ring_t ring;
	uint64_t kicks;
	int rc;
};

struct xen_run {
	alignas(PVIO_BENCH_ALIGN) struct xen_front_state front;
	alignas(PVIO_BENCH_ALIGN) struct xen_back_state back;
	struct pvio_bench_ctl ctl;
	alignas(PVIO_BENCH_ALIGN) struct pvio_bench_plan plan;
	benchxen_sring_t *sring;
};

/* ---------------------------------------------------------------- front */

static int xen_front_wait(benchxen_front_ring_t *fr, struct pvio_bench_ctl *ctl)
{
	uint64_t since = 0;
	uint32_t spins = 0;

	while (!RING_HAS_UNCONSUMED_RESPONSES(fr)) {
		xen_spin_relax();
		if (!(++spins & PVIO_BENCH_SPIN_MASK) &&
		    pvio_bench_spin_stalled(ctl, &since))
			return -ETIMEDOUT;
	}
	return 0;
}

static void xen_front(struct xen_run *r)
{
	benchxen_front_ring_t *fr = &r->front.ring;
	const uint32_t batch = r->plan.batch, window = r->plan.window;
	const uint64_t warm = r->plan.warm, total = r->plan.total;
	uint64_t sent = 0, done = 0, kicks = 0, errors = 0;
	struct pvio_bench_msg rsp;
	int rc = 0, notify, more;

	r->front.t0 = pvio_now_ns();
	while (done < total) {
		while (sent < total && sent - done + batch <= window) {
			if (RING_FREE_REQUESTS(fr) < batch) {
				rc = -ENOSPC;
				goto out;
			}
			for (uint32_t i = 0; i < batch; i++) {
				pvio_bench_msg_fill(RING_GET_REQUEST(fr, fr->req_prod_pvt),
						    sent++);
				fr->req_prod_pvt++;
			}
			RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(fr, notify);
			kicks += notify != 0;
		}
		for (uint32_t got = 0; got < batch;) {
			RING_IDX rp = fr->sring->rsp_prod;
			RING_IDX i = fr->rsp_cons;

			xen_rmb(); /* responses after rsp_prod */
			if (RING_RESPONSE_PROD_OVERFLOW(fr, rp)) {
				rc = -EPROTO;
				goto out;
			}
			for (; i != rp && got < batch; i++, got++, done++) {
				RING_COPY_RESPONSE(fr, i, &rsp);
				errors += pvio_bench_msg_bad(&rsp, done);
			}
			fr->rsp_cons = i;
			if (got == batch)
				break;
			if (i == rp) {
				RING_FINAL_CHECK_FOR_RESPONSES(fr, more);
				if (!more && (rc = xen_front_wait(fr, &r->ctl)) < 0)
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
	r->front.kicks = kicks;
	r->front.errors = errors;
	r->front.sent = sent;
}

/* ----------------------------------------------------------------- back */

static int xen_back_wait(benchxen_back_ring_t *br, struct pvio_bench_ctl *ctl)
{
	uint64_t since = 0;
	uint32_t spins = 0;

	while (!RING_HAS_UNCONSUMED_REQUESTS(br)) {
		xen_spin_relax();
		if (!(++spins & PVIO_BENCH_SPIN_MASK) &&
		    pvio_bench_spin_stalled(ctl, &since))
			return -ETIMEDOUT;
	}
	return 0;
}

static void xen_back(void *arg)
{
	struct xen_run *r = arg;
	benchxen_back_ring_t *br = &r->back.ring;
	uint64_t left = r->plan.total, kicks = 0;
	struct pvio_bench_msg req;
	int rc = 0, notify, more;

	BACK_RING_INIT(br, r->sring, PVIO_BENCH_RING_BYTES);
	while (left) {
		RING_IDX rc_idx = br->req_cons;
		RING_IDX rp = br->sring->req_prod;

		xen_rmb(); /* requests after req_prod */
		if (RING_REQUEST_PROD_OVERFLOW(br, rp) ||
		    (uint64_t)(RING_IDX)(rp - rc_idx) > left) {
			rc = -EPROTO;
			break;
		}
		if (rc_idx == rp) {
			RING_FINAL_CHECK_FOR_REQUESTS(br, more);
			if (!more && (rc = xen_back_wait(br, &r->ctl)) < 0)
				break;
			continue;
		}
		while (rc_idx != rp) {
			if (RING_REQUEST_CONS_OVERFLOW(br, rc_idx))
				break;
			RING_COPY_REQUEST(br, rc_idx, &req);
			br->req_cons = ++rc_idx;
			pvio_bench_msg_answer(RING_GET_RESPONSE(br, br->rsp_prod_pvt),
					      &req);
			br->rsp_prod_pvt++;
			left--;
		}
		RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(br, notify);
		kicks += notify != 0;
	}
	if (rc < 0)
		pvio_store_relaxed(&r->ctl.abort, 1);
	r->back.rc = rc;
	r->back.kicks = kicks;
}

int pvio_bench_ring_run_xen(const struct pvio_bench_plan *plan,
			    struct pvio_bench_ring_result *res)
{
	struct xen_run *r = pvio_bench_state_alloc(sizeof(*r));
	int rc = -ENOMEM;

	if (!r)
		return -ENOMEM;
	r->plan = *plan;
	r->sring = pvio_bench_shm_alloc(PVIO_BENCH_RING_BYTES);
	if (!r->sring)
		goto out;
	SHARED_RING_INIT(r->sring);
	FRONT_RING_INIT(&r->front.ring, r->sring, PVIO_BENCH_RING_BYTES);
	if (RING_SIZE(&r->front.ring) != PVIO_BENCH_RING_SLOTS) {
		rc = -EINVAL;
		goto out;
	}
	rc = pvio_bench_worker_post(xen_back, r);
	if (rc)
		goto out;
	xen_front(r);
	pvio_bench_worker_wait();

	res->ns = r->front.t1 - r->front.t0;
	res->round_trips = plan->total - plan->warm;
	res->requests = r->front.sent;
	res->front_kicks = r->front.kicks;
	res->back_kicks = r->back.kicks;
	res->errors = r->front.errors + (r->front.rc < 0) + (r->back.rc < 0);
	res->status = pvio_bench_status(r->front.rc, r->back.rc);
	rc = 0;
out:
	pvio_bench_shm_free(r->sring, PVIO_BENCH_RING_BYTES);
	free(r);
	return rc;
}
