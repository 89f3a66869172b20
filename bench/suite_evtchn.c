/* SPDX-License-Identifier: MIT */
/*
 * Suite "evtchn": pvio event-channel notify-to-wake round trips between two
 * processes (caller on CPU 0, a forked echo child on CPU 1) in BLOCK, POLL
 * and ADAPTIVE modes against a raw eventfd round trip and a raw spinning
 * cache-line round trip; and the CPU an idle wait burns in each mode
 * against a raw poll() on an eventfd.
 *
 * Round trips are cross-core: each repetition is labelled near/far/mixed by
 * the bare ping-pong probe (bench/regime.c) before and after it. The probe
 * needs the pinned worker thread on CPU 1, which spins and would steal the
 * child's CPU, so the worker is started for each probe and stopped again.
 * Idle waits use one CPU: labelled local. Runs on the shared engine
 * (suite_common.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <pvio/host.h>

#include "suite_common.h"

#define PROG "pvio-bench"

enum {
	EB_BLOCK, EB_POLL, EB_ADAPTIVE, EB_EVENTFD, EB_SPIN,
	EB_IDLE_BLOCK, EB_IDLE_POLL, EB_IDLE_ADAPTIVE, EB_IDLE_EVENTFD,
	EB_NR
};

static const char *const enames[EB_NR] = {
	"rt BLOCK", "rt POLL", "rt ADAPTIVE", "rt eventfd", "rt spin",
	"idle BLOCK", "idle POLL", "idle ADAPTIVE", "idle eventfd",
};

static const enum pvio_bench_evtchn_body ebody[EB_NR] = {
	PVIO_BENCH_E_BLOCK, PVIO_BENCH_E_POLL, PVIO_BENCH_E_ADAPTIVE,
	PVIO_BENCH_E_EVENTFD, PVIO_BENCH_E_SPIN,
	PVIO_BENCH_E_BLOCK, PVIO_BENCH_E_POLL, PVIO_BENCH_E_ADAPTIVE,
	PVIO_BENCH_E_EVENTFD,
};

static const struct pvio_bench_cmp_def ecmps[] = {
	{ "rt BLOCK", "ns", EB_BLOCK, EB_EVENTFD, "eventfd", false },
	{ "rt BLOCK", "ns", EB_BLOCK, EB_SPIN, "spin", false },
	{ "rt POLL", "ns", EB_POLL, EB_EVENTFD, "eventfd", false },
	{ "rt POLL", "ns", EB_POLL, EB_SPIN, "spin", false },
	{ "rt ADAPTIVE", "ns", EB_ADAPTIVE, EB_EVENTFD, "eventfd", false },
	{ "rt ADAPTIVE", "ns", EB_ADAPTIVE, EB_SPIN, "spin", false },
	{ "idle CPU BLOCK", "%cpu", EB_IDLE_BLOCK, EB_IDLE_EVENTFD, "eventfd poll", false },
	{ "idle CPU POLL", "%cpu", EB_IDLE_POLL, EB_IDLE_EVENTFD, "eventfd poll", false },
	{ "idle CPU ADAPTIVE", "%cpu", EB_IDLE_ADAPTIVE, EB_IDLE_EVENTFD, "eventfd poll", false },
};

struct ectx {
	uint64_t max_ns;  /* a round-trip run stops after this */
	uint64_t idle_ns; /* an idle wait */
};

static int evtchn_run(void *ctx, unsigned body, uint64_t count,
		      struct pvio_bench_sample *s)
{
	struct ectx *c = ctx;
	struct pvio_bench_local_result res;
	int err;

	if (body >= EB_IDLE_BLOCK) {
		double frac;
		uint64_t t0 = pvio_now_ns();

		(void)count;
		err = pvio_bench_evtchn_idle(ebody[body], c->idle_ns, &frac);
		if (err)
			return err;
		s->ns = pvio_now_ns() - t0;
		s->offcpu_ns = 0; /* idle is the point */
		s->value = 100.0 * frac;
		return 0;
	}
	err = pvio_bench_evtchn_rt(ebody[body], count, c->max_ns, &res);
	if (err)
		return err;
	if (res.status)
		return res.status;
	s->ns = res.ns;
	s->offcpu_ns = res.offcpu_ns;
	s->value = (double)res.ns / (double)res.ops;
	return 0;
}

/*
 * The two figures for ADAPTIVE, side by side: its round trip
 * against the spin round trip while traffic flows (target: within 2x),
 * and what it burns while nothing comes (target: nothing).
 */
static void evtchn_summary(void *ctx, struct pvio_bench_engine *eng)
{
	const struct ectx *c = ctx;
	double rt, spin, idle, efd;
	unsigned lr, li;

	pvio_bench_engine_pair(eng, EB_ADAPTIVE, EB_SPIN, &rt, &spin, &lr);
	pvio_bench_engine_pair(eng, EB_IDLE_ADAPTIVE, EB_IDLE_EVENTFD, &idle, &efd, &li);
	printf("\nADAPTIVE, traffic flowing: round trip %.1f ns vs spin %.1f ns "
	       "= %.2fx spin [%s] (target: within 2x: %s)\n",
	       rt, spin, rt / spin, pvio_bench_label_name(lr),
	       pvio_bench_engine_verdict(lr, rt <= 2 * spin));
	printf("ADAPTIVE, idle: %.3f %% of one CPU, %.0f us of CPU time in a %llu ms "
	       "wait (eventfd poll: %.3f %%) [%s] (target: no CPU burnt: %s)\n",
	       idle, idle / 100.0 * (double)c->idle_ns / 1000.0,
	       (unsigned long long)(c->idle_ns / 1000000u), efd,
	       pvio_bench_label_name(li), pvio_bench_engine_verdict(li, idle < 1.0));
}

static double evtchn_probe(void *ctx)
{
	(void)ctx;
	int err = pvio_bench_worker_start(0, 1);
	if (err)
		return err;
	double ns = pvio_bench_regime_probe();
	pvio_bench_worker_stop();
	return ns;
}

int pvio_bench_suite_evtchn(const struct pvio_bench_opts *opts)
{
	struct ectx c = {
		.idle_ns = opts->smoke ? 20000000ull : 200000000ull,
	};
	struct pvio_bench_suite_def def = {
		.name = "evtchn",
		.title = "notify-to-wake round trips, two processes on CPUs 0 and 1; "
			 "idle CPU of a wait",
		.nr_bodies = EB_NR,
		.body_names = enames,
		.local_mask = (1ull << EB_IDLE_BLOCK) | (1ull << EB_IDLE_POLL) |
			      (1ull << EB_IDLE_ADAPTIVE) | (1ull << EB_IDLE_EVENTFD),
		.fixed_mask = (1ull << EB_IDLE_BLOCK) | (1ull << EB_IDLE_POLL) |
			      (1ull << EB_IDLE_ADAPTIVE) | (1ull << EB_IDLE_EVENTFD),
		.target_ns = opts->quick ? 30000000ull : 200000000ull,
		.first_count = opts->smoke ? 64 : 64,
		.reps = 15,
		.quick_reps = 5,
		.nr_cmps = sizeof(ecmps) / sizeof(ecmps[0]),
		.cmps = ecmps,
		.ctx = &c,
		.run = evtchn_run,
		.probe = evtchn_probe,
		.summary = evtchn_summary,
	};
	c.max_ns = 4 * def.target_ns;
	static char notes[512];
	snprintf(notes, sizeof(notes),
		 "rt: ns per round trip (notify, the peer wakes and notifies back), "
		 "pvio's host futex\nplatform; eventfd: a raw eventfd pair with blocking "
		 "reads; spin: a raw shared cache\nline. BLOCK and eventfd sleep by "
		 "design, so they are never labelled busy.\nidle CPU: %% of one CPU "
		 "burnt by a %llu ms wait with nothing arriving (local: one CPU).\n",
		 (unsigned long long)(c.idle_ns / 1000000u));
	def.notes = notes;
	if (pvio_cpu_count() < 2) {
		fprintf(stderr, PROG ": evtchn: needs CPUs 0 and 1\n");
		return 1;
	}
	return pvio_bench_engine_run(&def, opts);
}
