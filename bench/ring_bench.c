/* SPDX-License-Identifier: MIT */
/*
 * Ring benchmark bodies, pvio side, and the dispatcher over all
 * implementations. The shape of a run (window, batch, wait protocol) is
 * the same in ring_bench_xen.c and ring_bench_dpdk.c; keep them in step.
 *
 * Frontend (calling thread): while the window allows, reserve a burst of
 * batch slots, fill the requests in place and push once (a kick is counted
 * when push says so); then collect the oldest batch of responses in
 * bursts, copying each out and checking it. Backend (worker thread): take
 * every request available as one burst, copy each out, answer it in place
 * in a burst of response slots, push once per pass.
 * Waiting, either side: when nothing is pending, run the final check (arm
 * the event index, look again); if still nothing, spin on the plain check
 * until something arrives. That spin stands where a real driver would
 * sleep until kicked; a kick here is only a counter.
 */
#include <errno.h>
#include <stdlib.h>

#include <pvio/host.h>
#include <pvio/ring.h>

#include "bench_pvt.h"

/* The typed ring a driver would define: fixed-size copies of the message. */
PVIO_RING_DEFINE(bmsg, struct pvio_bench_msg, struct pvio_bench_msg);

struct pvio_front_state {
	struct pvio_ring_front ring;
	uint64_t kicks;
	uint64_t errors;
	uint64_t sent;
	uint64_t t0, t1;
	int rc;
};

struct pvio_back_state {
	struct pvio_ring_back ring;
	uint64_t kicks;
	int rc;
};

struct pvio_run {
	alignas(PVIO_BENCH_ALIGN) struct pvio_front_state front;
	alignas(PVIO_BENCH_ALIGN) struct pvio_back_state back;
	struct pvio_bench_ctl ctl;
	/* Read-only while the run lasts; shared by both sides. */
	alignas(PVIO_BENCH_ALIGN) struct pvio_bench_plan plan;
	void *shm;
};

const char *pvio_bench_impl_name(enum pvio_bench_impl impl)
{
	switch (impl) {
	case PVIO_BENCH_PVIO:
		return "pvio";
	case PVIO_BENCH_XEN:
		return "xen";
	case PVIO_BENCH_DPDK:
		return "dpdk";
	case PVIO_BENCH_BARE:
		return "pingpong";
	default:
		return "?";
	}
}

static uint64_t round_up(uint64_t v, uint32_t to)
{
	return (v + to - 1) / to * to;
}

int pvio_bench_plan_make(const struct pvio_bench_ring_cfg *cfg,
			 struct pvio_bench_plan *plan)
{
	if (!cfg || !plan || cfg->batch < 1 ||
	    cfg->batch > PVIO_BENCH_RING_SLOTS || cfg->window < cfg->batch ||
	    cfg->window > PVIO_BENCH_RING_SLOTS || cfg->count < 1 ||
	    cfg->count > (1ull << 48) || cfg->warmup > (1ull << 48))
		return -EINVAL;
	plan->batch = cfg->batch;
	plan->window = cfg->window;
	plan->warm = round_up(cfg->warmup, cfg->batch);
	plan->total = plan->warm + round_up(cfg->count, cfg->batch);
	return 0;
}

int pvio_bench_ring_run(enum pvio_bench_impl impl,
			const struct pvio_bench_ring_cfg *cfg,
			struct pvio_bench_ring_result *res)
{
	struct pvio_bench_plan plan;
	int rc = pvio_bench_plan_make(cfg, &plan);

	if (rc || !res)
		return -EINVAL;
	*res = (struct pvio_bench_ring_result){ 0 };
	uint64_t wall = pvio_now_ns(), cpu = pvio_bench_thread_cpu_ns();
	switch (impl) {
	case PVIO_BENCH_PVIO:
		rc = pvio_bench_ring_run_pvio(&plan, res);
		break;
	case PVIO_BENCH_XEN:
		rc = pvio_bench_ring_run_xen(&plan, res);
		break;
	case PVIO_BENCH_DPDK:
		rc = pvio_bench_ring_run_dpdk(&plan, res);
		break;
	case PVIO_BENCH_BARE:
		if (plan.batch != 1 || plan.window != 1)
			return -EINVAL;
		rc = pvio_bench_pingpong_run(&plan, res);
		break;
	default:
		return -EINVAL;
	}
	wall = pvio_now_ns() - wall;
	cpu = pvio_bench_thread_cpu_ns() - cpu;
	uint64_t front_off = wall > cpu ? wall - cpu : 0;
	uint64_t back_off = pvio_bench_worker_offcpu_ns();
	res->offcpu_ns = front_off > back_off ? front_off : back_off;
	return rc;
}

/* ---------------------------------------------------------------- front */

/* Spin until a response is pending (where a driver would sleep). */
static int front_wait(struct pvio_ring_front *f, struct pvio_bench_ctl *ctl)
{
	uint64_t since = 0;
	uint32_t spins = 0;
	int n;

	while ((n = pvio_ring_front_unconsumed(f)) == 0) {
		pvio_cpu_relax();
		if (!(++spins & PVIO_BENCH_SPIN_MASK) &&
		    pvio_bench_spin_stalled(ctl, &since))
			return -ETIMEDOUT;
	}
	return n;
}

static void pvio_front(struct pvio_run *r)
{
	struct pvio_ring_front *f = &r->front.ring;
	const uint32_t batch = r->plan.batch, window = r->plan.window;
	const uint64_t warm = r->plan.warm, total = r->plan.total;
	uint64_t sent = 0, done = 0, kicks = 0, errors = 0;
	struct pvio_bench_msg rsp;
	struct pvio_ring_burst it;
	int rc = 0;

	r->front.t0 = pvio_now_ns();
	while (done < total) {
		/* Fill and push whole batches while the window allows. */
		while (sent < total && sent - done + batch <= window) {
			rc = pvio_ring_front_reserve_burst(f, batch, sizeof(rsp), &it);
			if (rc != (int)batch) {
				rc = rc < 0 ? rc : -ENOSPC;
				goto out;
			}
			for (uint32_t i = 0; i < batch; i++)
				pvio_bench_msg_fill(bmsg_front_burst_req(f, &it, i), sent++);
			rc = pvio_ring_front_push(f);
			if (rc < 0)
				goto out;
			kicks += (uint64_t)rc;
		}
		/* Collect the oldest batch, in bursts. */
		for (uint32_t got = 0; got < batch;) {
			rc = pvio_ring_front_take_burst(f, batch - got, sizeof(rsp), &it);
			if (rc > 0) {
				for (uint32_t i = 0; i < it.n; i++) {
					bmsg_front_burst_rsp(f, &it, i, &rsp);
					errors += pvio_bench_msg_bad(&rsp, done++);
				}
				got += it.n;
				continue;
			}
			if (rc == 0)
				rc = pvio_ring_front_final_check(f);
			if (rc == 0)
				rc = front_wait(f, &r->ctl);
			if (rc < 0)
				goto out;
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

/* Spin until a request is pending (where a driver would sleep). */
static int back_wait(struct pvio_ring_back *b, struct pvio_bench_ctl *ctl)
{
	uint64_t since = 0;
	uint32_t spins = 0;
	int n;

	while ((n = pvio_ring_back_unconsumed(b)) == 0) {
		pvio_cpu_relax();
		if (!(++spins & PVIO_BENCH_SPIN_MASK) &&
		    pvio_bench_spin_stalled(ctl, &since))
			return -ETIMEDOUT;
	}
	return n;
}

static void pvio_back(void *arg)
{
	struct pvio_run *r = arg;
	struct pvio_ring_back *b = &r->back.ring;
	uint64_t left = r->plan.total, kicks = 0;
	struct pvio_bench_msg req;
	int rc;

	/* Attach here, so the backend's private state is first touched by
	 * the backend's CPU. */
	rc = bmsg_back_attach(b, r->shm, PVIO_BENCH_RING_BYTES, 0);
	while (!rc && left) {
		int n = pvio_ring_back_unconsumed(b);

		if (n == 0)
			n = pvio_ring_back_final_check(b);
		if (n == 0)
			n = back_wait(b, &r->ctl);
		if (n < 0) {
			rc = n;
			break;
		}
		if ((uint64_t)n > left) {
			rc = -EPROTO;
			break;
		}
		struct pvio_ring_burst in, out;

		if (pvio_ring_back_take_burst(b, (uint32_t)n, sizeof(req), &in) != n ||
		    pvio_ring_back_reserve_burst(b, (uint32_t)n, sizeof(req), &out) != n) {
			rc = b->error ? b->error : -EPROTO;
			break;
		}
		for (int i = 0; i < n; i++) {
			bmsg_back_burst_req(b, &in, (uint32_t)i, &req);
			pvio_bench_msg_answer(bmsg_back_burst_rsp(b, &out, (uint32_t)i), &req);
		}
		left -= (uint64_t)n;
		rc = pvio_ring_back_push(b);
		if (rc < 0)
			break;
		kicks += (uint64_t)rc;
		rc = 0;
	}
	if (rc < 0)
		pvio_store_relaxed(&r->ctl.abort, 1);
	r->back.rc = rc;
	r->back.kicks = kicks;
}

int pvio_bench_ring_run_pvio(const struct pvio_bench_plan *plan,
			     struct pvio_bench_ring_result *res)
{
	struct pvio_run *r = pvio_bench_state_alloc(sizeof(*r));
	int rc = -ENOMEM;

	if (!r)
		return -ENOMEM;
	r->plan = *plan;
	r->shm = pvio_bench_shm_alloc(PVIO_BENCH_RING_BYTES);
	if (!r->shm)
		goto out;
	rc = bmsg_front_init(&r->front.ring, r->shm, PVIO_BENCH_RING_BYTES);
	if (rc)
		goto out;
	if (r->front.ring.nr_slots != PVIO_BENCH_RING_SLOTS) {
		rc = -EINVAL;
		goto out;
	}
	rc = pvio_bench_worker_post(pvio_back, r);
	if (rc)
		goto out;
	pvio_front(r);
	pvio_bench_worker_wait();

	res->ns = r->front.t1 - r->front.t0;
	res->round_trips = plan->total - plan->warm;
	res->requests = r->front.sent;
	res->front_kicks = r->front.kicks;
	res->back_kicks = r->back.kicks;
	res->errors = r->front.errors + (r->front.rc < 0) + (r->back.rc < 0) +
		      r->front.ring.stats.protocol_errors +
		      r->back.ring.stats.protocol_errors;
	res->status = pvio_bench_status(r->front.rc, r->back.rc);
	rc = 0;
out:
	pvio_bench_shm_free(r->shm, PVIO_BENCH_RING_BYTES);
	free(r);
	return rc;
}
