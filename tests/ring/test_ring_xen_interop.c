/* SPDX-License-Identifier: MIT */
/*
 * pvio's ring against Xen's own ring macros (xen/io/ring.h), both ways,
 * over one shared 4096-byte page:
 *
 *   - a frontend written with Xen's macros drives a pvio backend, and a
 *     pvio frontend drives a backend written with Xen's macros;
 *   - in one thread in lockstep, where every notify decision of one side
 *     is compared exactly with what the other implementation decides for
 *     the same state, and no side may sleep through work;
 *   - across two threads and across two processes (fork, memfd page), with
 *     PVIO_INTEROP_DEFAULT_REQUESTS requests each way, every payload checked
 *     by both sides.
 *
 * Kicks are modelled by one shared counter per direction: after a push
 * that says "notify", the producer increments the consumer's counter. A
 * consumer with nothing to do spins a while, then snapshots its counter,
 * does the final check (arming its event index) and, if that still finds
 * nothing, waits for the counter to move: a short spin, then a futex wait
 * on the counter (the kicker wakes it only if it said it sleeps), as an
 * event channel's sleeping peer blocks on its eventfd. Blocking rather than
 * yielding matters on a loaded machine: a thread that sched_yield()s to a
 * CPU hog gets the CPU back only after the hog's time slice, a thread woken
 * from a futex preempts it; measured on 2 busy cores, yielding made a
 * configuration take minutes. A wait that outlives a kick by a second while
 * work sits on the ring is a lost wakeup and fails the test instead of
 * hanging it.
 *
 * Besides test_ring_abi.c this is the only file that includes a Xen header
 * (xen/io/ring.h only: its macros are the peer under test).
 *
 * ThreadSanitizer: Xen's macros read and write the shared indices with
 * plain accesses ordered by fences (mb/wmb/rmb), which TSan neither models
 * nor accepts next to pvio's C11 atomics. The functions that play the Xen
 * side are therefore XEN_SIDE, i.e. no_sanitize("thread"), and they touch
 * slots only through volatile word copies (never a memcpy call, which TSan
 * would intercept and instrument anyway). Everything pvio does stays
 * instrumented, and the pvio-to-pvio configuration runs fully under TSan.
 * The file is built with -fno-strict-aliasing because the same page is
 * reached through Xen's struct and pvio's.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/*
 * The barriers Xen's ring.h expects from its includer. On x86 these are
 * what a Linux guest's virt_mb()/virt_rmb()/virt_wmb() are: TSO orders
 * everything but a store before a later load, so only mb() is a fence. As
 * asm they are also invisible to TSan, which rejects atomic_thread_fence.
 */
#if defined(__x86_64__) || defined(__i386__)
#define mb()  __asm__ __volatile__("mfence" ::: "memory")
#define rmb() __asm__ __volatile__("" ::: "memory")
#define wmb() __asm__ __volatile__("" ::: "memory")
#else
#define mb()  __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#endif
#include <xen/io/ring.h>

#include <pvio/host.h>
#include <pvio/ring.h>

#include "ring_test_util.h"

/* Requests each way per configuration; PVIO_INTEROP_REQUESTS overrides. */
#define PVIO_INTEROP_DEFAULT_REQUESTS 10000000ull

#define RING_BYTES 4096u
#define NR_SLOTS   32u   /* (4096 - 64) / 64 rounded down */

/* Waiting: spins before arming (cycling through these, so that some waits
 * arm at once and sleep often, others rarely sleep); spins after arming
 * before blocking; the longest a block lasts before the watchdog looks. */
static const int spin_before_arm[] = { 0, 256, 8, 64 };
#define SPINS_BEFORE_BLOCK 128
#define BLOCK_NS           20000000L
/* A wait is a lost wakeup once work has sat on the ring for
 * LOST_CONFIRM_NS without a kick, checked after LOST_AFTER_NS of waiting. */
#define LOST_AFTER_NS     2000000000ull
#define LOST_CONFIRM_NS   1000000000ull
#define HANG_NS           120000000000ull

DEFINE_RING_TYPES(xtest, struct test_msg, struct test_msg);

#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8)
#define XEN_SIDE __attribute__((no_sanitize("thread"), noinline))
#else
#define XEN_SIDE __attribute__((noinline))
#endif

/* --------------------------------------------------------- shared state */

struct side_result {
	uint64_t msgs;                /* front: responses checked; back: requests served */
	uint64_t bad_payloads;
	uint64_t pushes;              /* pushes that published something */
	uint64_t kicks_sent;
	uint64_t kicks_avoided;
	uint64_t decisions_compared;  /* pushes whose event index held still */
	uint64_t decision_mismatches;
	uint64_t ring_stats_mismatches; /* pvio's own stats vs the test's counts */
	uint64_t sleeps;
	uint64_t wakeups;
	uint64_t lost_wakeups;
	uint64_t errors;
	uint64_t timed_out;
};

/* A direction's event channel: kicks sent, and whether its consumer may be
 * blocked in futex_wait (then the kicker must wake it). */
struct kickq {
	_Alignas(64) _Atomic uint32_t count;
	_Atomic uint32_t sleeping;
};

/* Page 2 of the shared memory: kick counters and results. */
struct ctl {
	struct kickq to_back;
	struct kickq to_front;
	_Alignas(64) _Atomic int abort;
	_Alignas(64) struct side_result front;
	_Alignas(64) struct side_result back;
};
_Static_assert(sizeof(struct ctl) <= 4096, "ctl fits its page");

struct side {
	void *ring;            /* the shared 4096-byte page */
	struct ctl *ctl;
	struct side_result *res;
	uint64_t n;            /* requests to send / serve */
	uint32_t start;        /* ring index both ends start at */
	pid_t peer;            /* fork: the child the parent watches, else 0 */
	bool peer_reaped;
	int peer_status;
	unsigned waits;
};

static uint64_t nr_requests(void)
{
	const char *s = getenv("PVIO_INTEROP_REQUESTS");

	if (s && *s) {
		char *end;
		unsigned long long v = strtoull(s, &end, 0);
		if (*end == '\0' && v > 0 && v < (1ull << 31))
			return v;
		fprintf(stderr, "ignoring PVIO_INTEROP_REQUESTS=%s\n", s);
	}
	return PVIO_INTEROP_DEFAULT_REQUESTS;
}

/* Shared (not private) futexes: the page may be mapped by two processes. */
static void futex_wait(_Atomic uint32_t *word, uint32_t val, long ns)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = ns };

	syscall(SYS_futex, (void *)word, FUTEX_WAIT, val, &ts, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (void *)word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/*
 * K1: count++ then load sleeping; pairs with K2 in wait_for_work(): store
 * sleeping then load count (inside FUTEX_WAIT's compare, after the seq_cst
 * store). Either the kicker sees the sleeper and wakes it, or the sleeper
 * sees the new count and does not block.
 */
static void kick(struct kickq *q)
{
	atomic_fetch_add_explicit(&q->count, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&q->sleeping, memory_order_seq_cst))
		futex_wake(&q->count);
}

/* ------------------------------------------------------------- waiting */

/* A backend publishes what it answered every this many responses: every
 * fourth round in parts of 1..8 (pushes of every size, a frontend woken
 * before the batch is done), otherwise once at the end of the round. */
static uint32_t partial_push(uint64_t round)
{
	return round % 4 ? UINT32_MAX : (uint32_t)(round / 4 % 8) + 1;
}

static void fail_side(struct side *sd)
{
	sd->res->errors++;
	atomic_store(&sd->ctl->abort, 1);
}

static bool aborted(struct side *sd)
{
	return atomic_load_explicit(&sd->ctl->abort, memory_order_relaxed);
}

struct waiter {
	bool (*peek)(void *ring);  /* work visible? (does not arm) */
	int (*final)(void *ring);  /* final check: > 0 work, 0 none, < 0 error */
	void *ring;
};

static bool peer_gone(struct side *sd)
{
	if (sd->peer <= 0 || sd->peer_reaped)
		return sd->peer_reaped;
	if (waitpid(sd->peer, &sd->peer_status, WNOHANG) == sd->peer)
		sd->peer_reaped = true;
	return sd->peer_reaped;
}

/*
 * Wait until there may be work: spin, then arm and re-check, then wait for
 * a kick. Returns 0 to go on, -1 to stop (abort, peer gone, hang).
 */
static int wait_for_work(struct side *sd, struct kickq *q, const struct waiter *w)
{
	int spins = spin_before_arm[sd->waits++ % (sizeof(spin_before_arm) /
						    sizeof(spin_before_arm[0]))];

	for (int i = 0; i < spins; i++) {
		if (w->peek(w->ring))
			return 0;
		pvio_cpu_relax();
	}
	/* Snapshot the counter before arming: a kick for anything the final
	 * check misses is sent after the peer read our new event index, so
	 * after this load. */
	uint32_t k0 = atomic_load_explicit(&q->count, memory_order_seq_cst);
	int n = w->final(w->ring);
	if (n < 0) {
		fail_side(sd); /* the peer broke the protocol */
		return -1;
	}
	if (n > 0)
		return 0;
	sd->res->sleeps++;
	uint64_t t0 = pvio_now_ns(), seen = 0;
	for (unsigned it = 0;; it++) {
		if (atomic_load_explicit(&q->count, memory_order_seq_cst) != k0) {
			sd->res->wakeups++;
			return 0;
		}
		if (atomic_load_explicit(&sd->ctl->abort, memory_order_relaxed))
			return -1;
		if (it < SPINS_BEFORE_BLOCK) {
			pvio_cpu_relax();
			continue;
		}
		/* K2: pairs with K1 in kick(). */
		atomic_store_explicit(&q->sleeping, 1, memory_order_seq_cst);
		futex_wait(&q->count, k0, BLOCK_NS);
		atomic_store_explicit(&q->sleeping, 0, memory_order_relaxed);
		if (atomic_load_explicit(&q->count, memory_order_seq_cst) != k0)
			continue; /* kicked: counted at the top of the loop */

		/* The watchdog: a lost wakeup is work on the ring and no kick
		 * for LOST_CONFIRM_NS after LOST_AFTER_NS of waiting. */
		uint64_t now = pvio_now_ns();
		if (now - t0 > LOST_AFTER_NS) {
			if (!seen) {
				if (w->peek(w->ring))
					seen = now;
			} else if (now - seen > LOST_CONFIRM_NS) {
				/* One is enough: stop rather than lose more. */
				sd->res->lost_wakeups++;
				atomic_store(&sd->ctl->abort, 1);
				return -1;
			}
		}
		if (now - t0 > HANG_NS) {
			sd->res->timed_out++;
			atomic_store(&sd->ctl->abort, 1);
			return -1;
		}
		/* A peer process that exited can kick no more: work it left
		 * without a kick was a lost wakeup, no work is an error. */
		if (peer_gone(sd) &&
		    atomic_load_explicit(&q->count, memory_order_seq_cst) == k0) {
			if (w->peek(w->ring)) {
				sd->res->lost_wakeups++;
				atomic_store(&sd->ctl->abort, 1);
				return -1;
			}
			sd->res->errors++;
			atomic_store(&sd->ctl->abort, 1);
			return -1;
		}
	}
}

/*
 * Requests a frontend publishes at once. Batch i: every 16th is a sync
 * point of 1..32 requests that the frontend lets drain completely before
 * it produces more (so it sleeps with few requests in flight, where a
 * wrongly armed event index loses the wakeup); every 4th otherwise is
 * 1..32; the rest fill the ring.
 */
static uint32_t batch_size(uint64_t i, bool *sync)
{
	*sync = i % 16 == 0;
	if (*sync)
		return (uint32_t)(i / 16 % NR_SLOTS) + 1;
	return i % 4 ? NR_SLOTS : (uint32_t)(i / 4 % NR_SLOTS) + 1;
}

/* Record one push decision. e1, e2: the peer's event index read just
 * before and just after the push; when they agree, that is the value the
 * push used, and its decision is checked against Xen's rule and pvio's. */
static void record_push(struct side_result *r, uint32_t old, uint32_t new_prod,
			uint32_t e1, uint32_t e2, int notify)
{
	r->pushes++;
	if (notify)
		r->kicks_sent++;
	else
		r->kicks_avoided++;
	if (e1 != e2)
		return;
	r->decisions_compared++;
	if (notify != (int)xen_rule_notify(old, new_prod, e1) ||
	    notify != (int)pvio_ring_need_kick(old, new_prod, e1))
		r->decision_mismatches++;
}

/* ------------------------------------------------------------ Xen side */

/* RING_COPY_REQUEST/RESPONSE's volatile read, word by word. */
XEN_SIDE static void xen_copy_in(struct test_msg *dst, const void *slot)
{
	const volatile uint32_t *s = slot;
	uint32_t *d = (uint32_t *)dst;

	for (size_t i = 0; i < sizeof(*dst) / 4; i++)
		d[i] = s[i];
}

XEN_SIDE static void xen_copy_out(void *slot, const struct test_msg *src)
{
	volatile uint32_t *d = slot;
	const uint32_t *s = (const uint32_t *)src;

	for (size_t i = 0; i < sizeof(*src) / 4; i++)
		d[i] = s[i];
}

XEN_SIDE static uint32_t xen_load(const RING_IDX *p)
{
	return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* A Xen-macro frontend or backend: just the private ring struct. */
XEN_SIDE static bool xen_front_peek(void *ring)
{
	xtest_front_ring_t *fr = ring;

	return RING_HAS_UNCONSUMED_RESPONSES(fr) != 0;
}

XEN_SIDE static int xen_front_final(void *ring)
{
	xtest_front_ring_t *fr = ring;
	int more;

	RING_FINAL_CHECK_FOR_RESPONSES(fr, more);
	return more != 0;
}

XEN_SIDE static bool xen_back_peek(void *ring)
{
	xtest_back_ring_t *br = ring;

	return RING_HAS_UNCONSUMED_REQUESTS(br) != 0;
}

XEN_SIDE static int xen_back_final(void *ring)
{
	xtest_back_ring_t *br = ring;
	int more;

	RING_FINAL_CHECK_FOR_REQUESTS(br, more);
	return more != 0;
}

/* The Xen frontend's set-up: SHARED_RING_INIT, moved to start. */
XEN_SIDE static void xen_shared_init(void *page, uint32_t start)
{
	xtest_sring_t *s = page;

	SHARED_RING_INIT(s);
	s->req_prod = s->rsp_prod = start;
	s->req_event = s->rsp_event = start + 1;
	mb();
}

XEN_SIDE static void xen_front_run(struct side *sd)
{
	struct side_result *r = sd->res;
	xtest_front_ring_t fr;
	const struct waiter w = { xen_front_peek, xen_front_final, &fr };
	uint64_t sent = 0, recv = 0, batch = 0;
	bool draining = false;

	FRONT_RING_ATTACH(&fr, (xtest_sring_t *)sd->ring, sd->start, RING_BYTES);
	if (RING_SIZE(&fr) != NR_SLOTS) {
		fail_side(sd);
		return;
	}
	while (recv < sd->n && !aborted(sd)) {
		/* Fill up to a batch and publish. */
		bool sync = false;
		uint32_t want = draining ? 0 : batch_size(batch++, &sync), produced = 0;
		while (sent < sd->n && produced < want && !RING_FULL(&fr)) {
			struct test_msg m;
			test_msg_fill_req(&m, sent++);
			xen_copy_out(RING_GET_REQUEST(&fr, fr.req_prod_pvt), &m);
			fr.req_prod_pvt++;
			produced++;
		}
		if (produced) {
			RING_IDX old = fr.sring->req_prod, new_prod = fr.req_prod_pvt;
			uint32_t e1 = xen_load(&fr.sring->req_event);
			int notify;
			RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify);
			uint32_t e2 = xen_load(&fr.sring->req_event);
			record_push(r, old, new_prod, e1, e2, notify);
			if (notify)
				kick(&sd->ctl->to_back);
			draining = sync;
		}
		/* Collect every response. */
		RING_IDX rp = fr.sring->rsp_prod;
		rmb(); /* responses after the index that published them */
		if (RING_RESPONSE_PROD_OVERFLOW(&fr, rp) ||
		    (RING_IDX)(rp - fr.rsp_cons) > (RING_IDX)(fr.req_prod_pvt - fr.rsp_cons)) {
			fail_side(sd);
			break;
		}
		uint32_t got = rp - fr.rsp_cons;
		for (; fr.rsp_cons != rp; fr.rsp_cons++) {
			struct test_msg m;
			xen_copy_in(&m, RING_GET_RESPONSE(&fr, fr.rsp_cons));
			if (!test_msg_rsp_ok(&m, recv))
				r->bad_payloads++;
			recv++;
		}
		if (recv == sent)
			draining = false;
		if (produced || got)
			continue;
		if (wait_for_work(sd, &sd->ctl->to_front, &w))
			break;
	}
	r->msgs = recv;
}

XEN_SIDE static void xen_back_push(struct side *sd, xtest_back_ring_t *br)
{
	RING_IDX old = br->sring->rsp_prod, new_prod = br->rsp_prod_pvt;
	int notify;

	if (old == new_prod)
		return;
	uint32_t e1 = xen_load(&br->sring->rsp_event);
	RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(br, notify);
	uint32_t e2 = xen_load(&br->sring->rsp_event);
	record_push(sd->res, old, new_prod, e1, e2, notify);
	if (notify)
		kick(&sd->ctl->to_front);
}

XEN_SIDE static void xen_back_run(struct side *sd)
{
	struct side_result *r = sd->res;
	xtest_back_ring_t br;
	const struct waiter w = { xen_back_peek, xen_back_final, &br };
	uint64_t served = 0, round = 0;

	BACK_RING_ATTACH(&br, (xtest_sring_t *)sd->ring, sd->start, RING_BYTES);
	if (RING_SIZE(&br) != NR_SLOTS) {
		fail_side(sd);
		return;
	}
	while (served < sd->n && !aborted(sd)) {
		RING_IDX rc = br.req_cons, rp = br.sring->req_prod;
		rmb(); /* requests after the index that published them */
		if (RING_REQUEST_PROD_OVERFLOW(&br, rp)) {
			fail_side(sd);
			break;
		}
		uint32_t got = 0, part = partial_push(round++);
		while (rc != rp && !RING_REQUEST_CONS_OVERFLOW(&br, rc)) {
			struct test_msg req, rsp;
			xen_copy_in(&req, RING_GET_REQUEST(&br, rc));
			br.req_cons = ++rc;
			if (!test_msg_req_ok(&req, served))
				r->bad_payloads++;
			test_msg_fill_rsp(&rsp, &req);
			xen_copy_out(RING_GET_RESPONSE(&br, br.rsp_prod_pvt), &rsp);
			br.rsp_prod_pvt++;
			served++;
			got++;
			/* Publish in parts now and then, as a backend finishing
			 * I/O out of a batch would. */
			if (got % part == 0)
				xen_back_push(sd, &br);
		}
		xen_back_push(sd, &br);
		if (got)
			continue;
		if (wait_for_work(sd, &sd->ctl->to_back, &w))
			break;
	}
	r->msgs = served;
}

/* ----------------------------------------------------------- pvio side */

static bool pvio_front_peek(void *ring)
{
	return pvio_ring_front_unconsumed(ring) != 0;
}

static int pvio_front_final(void *ring)
{
	return pvio_ring_front_final_check(ring);
}

static bool pvio_back_peek(void *ring)
{
	return pvio_ring_back_unconsumed(ring) != 0;
}

static int pvio_back_final(void *ring)
{
	return pvio_ring_back_final_check(ring);
}

static void check_stats(struct side_result *r, const struct pvio_ring_stats *st)
{
	if (st->pushes != r->pushes || st->kicks_sent != r->kicks_sent ||
	    st->kicks_avoided != r->kicks_avoided || st->protocol_errors != 0)
		r->ring_stats_mismatches++;
}

static void pvio_front_run(struct side *sd)
{
	struct side_result *r = sd->res;
	struct pvio_ring_front f;
	const struct waiter w = { pvio_front_peek, pvio_front_final, &f };
	uint64_t sent = 0, recv = 0, batch = 0;
	bool draining = false;

	if (pvio_ring_front_attach(&f, sd->ring, RING_BYTES, sizeof(struct test_msg),
				   sd->start) || f.nr_slots != NR_SLOTS) {
		fail_side(sd);
		return;
	}
	while (recv < sd->n && !aborted(sd)) {
		bool sync = false;
		uint32_t want = draining ? 0 : batch_size(batch++, &sync), produced = 0;
		struct test_msg *m;
		while (sent < sd->n && produced < want &&
		       (m = pvio_ring_front_next_req(&f)) != NULL) {
			test_msg_fill_req(m, sent++);
			produced++;
		}
		if (produced) {
			uint32_t old = f.req_prod_pub, new_prod = f.req_prod_pvt;
			uint32_t e1 = pvio_load_acquire(&f.sring->req_event);
			int notify = pvio_ring_front_push(&f);
			uint32_t e2 = pvio_load_acquire(&f.sring->req_event);
			if (notify < 0) {
				fail_side(sd);
				break;
			}
			record_push(r, old, new_prod, e1, e2, notify);
			if (notify)
				kick(&sd->ctl->to_back);
			draining = sync;
		}
		struct test_msg rsp;
		int rc;
		uint32_t got = 0;
		while ((rc = pvio_ring_front_get_rsp(&f, &rsp, sizeof(rsp))) == 1) {
			if (!test_msg_rsp_ok(&rsp, recv))
				r->bad_payloads++;
			recv++;
			got++;
		}
		if (rc < 0) {
			fail_side(sd);
			break;
		}
		if (recv == sent)
			draining = false;
		if (produced || got)
			continue;
		if (wait_for_work(sd, &sd->ctl->to_front, &w))
			break;
	}
	r->msgs = recv;
	check_stats(r, &f.stats);
}

static void pvio_back_push(struct side *sd, struct pvio_ring_back *b)
{
	uint32_t old = b->rsp_prod_pub, new_prod = b->rsp_prod_pvt;

	if (old == new_prod)
		return;
	uint32_t e1 = pvio_load_acquire(&b->sring->rsp_event);
	int notify = pvio_ring_back_push(b);
	uint32_t e2 = pvio_load_acquire(&b->sring->rsp_event);
	if (notify < 0) {
		fail_side(sd);
		return;
	}
	record_push(sd->res, old, new_prod, e1, e2, notify);
	if (notify)
		kick(&sd->ctl->to_front);
}

static void pvio_back_run(struct side *sd)
{
	struct side_result *r = sd->res;
	struct pvio_ring_back b;
	const struct waiter w = { pvio_back_peek, pvio_back_final, &b };
	uint64_t served = 0, round = 0;

	if (pvio_ring_back_attach(&b, sd->ring, RING_BYTES, sizeof(struct test_msg),
				  sd->start) || b.nr_slots != NR_SLOTS) {
		fail_side(sd);
		return;
	}
	while (served < sd->n && !aborted(sd)) {
		struct test_msg req;
		uint32_t got = 0, part = partial_push(round++);
		int rc;
		while ((rc = pvio_ring_back_get_req(&b, &req, sizeof(req))) == 1) {
			if (!test_msg_req_ok(&req, served))
				r->bad_payloads++;
			struct test_msg *rsp = pvio_ring_back_next_rsp(&b);
			if (!rsp) {
				fail_side(sd);
				break;
			}
			test_msg_fill_rsp(rsp, &req);
			served++;
			got++;
			if (got % part == 0)
				pvio_back_push(sd, &b);
		}
		if (rc < 0) {
			fail_side(sd);
			break;
		}
		pvio_back_push(sd, &b);
		if (got)
			continue;
		if (wait_for_work(sd, &sd->ctl->to_back, &w))
			break;
	}
	r->msgs = served;
	check_stats(r, &b.stats);
}

/* ------------------------------------------------------ configurations */

typedef void (*side_fn)(struct side *);

enum impl { XEN, PVIO };

static const side_fn front_fn[] = { [XEN] = xen_front_run, [PVIO] = pvio_front_run };
static const side_fn back_fn[] = { [XEN] = xen_back_run, [PVIO] = pvio_back_run };
static const char *const impl_name[] = { [XEN] = "xen", [PVIO] = "pvio" };

static bool side_clean(const struct side_result *r, uint64_t n)
{
	return r->msgs == n && r->bad_payloads == 0 && r->decision_mismatches == 0 &&
	       r->ring_stats_mismatches == 0 && r->lost_wakeups == 0 &&
	       r->errors == 0 && r->timed_out == 0 &&
	       r->kicks_sent + r->kicks_avoided == r->pushes;
}

struct thread_arg {
	side_fn fn;
	struct side sd;
};

static void *run_thread(void *arg)
{
	struct thread_arg *t = arg;

	t->fn(&t->sd);
	return NULL;
}

static void print_side(const char *what, const char *impl,
		       const struct side_result *r)
{
	print_message("  %-5s %-4s msgs %" PRIu64 " pushes %" PRIu64
		      " kicks %" PRIu64 " avoided %" PRIu64
		      " compared %" PRIu64 " sleeps %" PRIu64 " wakeups %" PRIu64
		      " lost %" PRIu64 " bad %" PRIu64 " errors %" PRIu64 "\n",
		      what, impl, r->msgs, r->pushes, r->kicks_sent,
		      r->kicks_avoided, r->decisions_compared, r->sleeps,
		      r->wakeups, r->lost_wakeups, r->bad_payloads, r->errors);
}

static void assert_side(const struct side_result *r, uint64_t n)
{
	assert_int_equal(r->msgs, n);
	assert_int_equal(r->bad_payloads, 0);
	assert_int_equal(r->errors, 0);
	assert_int_equal(r->timed_out, 0);
	assert_int_equal(r->lost_wakeups, 0);
	assert_int_equal(r->decision_mismatches, 0);
	assert_true(r->decisions_compared > 0);
	assert_int_equal(r->kicks_sent + r->kicks_avoided, r->pushes);
	assert_int_equal(r->ring_stats_mismatches, 0);
}

static void run_config(enum impl front, enum impl back, bool processes)
{
	const uint64_t n = nr_requests();
	/* Start half the run below 2^32: the indices wrap mid-run. */
	const uint32_t start = 0u - (uint32_t)(n / 2);
	const size_t bytes = 2 * RING_BYTES;
	void *mem;
	int fd = -1;

	if (processes)
		assert_int_equal(pvio_shm_create("pvio-interop", bytes, &fd, &mem), 0);
	else
		mem = ring_mem_alloc(bytes);
	struct ctl *ctl = (struct ctl *)((char *)mem + RING_BYTES);
	memset(ctl, 0, sizeof(*ctl));
	if (front == XEN)
		xen_shared_init(mem, start);
	else
		pvio_sring_init(mem, start);

	struct side fs = { .ring = mem, .ctl = ctl, .res = &ctl->front, .n = n,
			   .start = start };
	uint64_t t0 = pvio_now_ns();

	if (!processes) {
		struct thread_arg bt = { back_fn[back], { .ring = mem, .ctl = ctl,
				.res = &ctl->back, .n = n, .start = start } };
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, run_thread, &bt), 0);
		front_fn[front](&fs);
		assert_int_equal(pthread_join(th, NULL), 0);
	} else {
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			/* The backend domain: its own mapping of the page. */
			void *m2;
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (pvio_shm_map(fd, bytes, &m2))
				_exit(2);
			struct ctl *c2 = (struct ctl *)((char *)m2 + RING_BYTES);
			struct side bs = { .ring = m2, .ctl = c2, .res = &c2->back,
					   .n = n, .start = start };
			back_fn[back](&bs);
			_exit(side_clean(&c2->back, n) ? 0 : 1);
		}
		fs.peer = pid;
		front_fn[front](&fs);
		if (!fs.peer_reaped) {
			if (fs.res->errors || fs.res->timed_out)
				kill(pid, SIGKILL);
			assert_int_equal(waitpid(pid, &fs.peer_status, 0), pid);
		}
	}
	double secs = (double)(pvio_now_ns() - t0) / 1e9;

	print_message("%s front -> %s back across %s: %" PRIu64
		      " requests in %.2f s (%.2f M round trips/s)\n",
		      impl_name[front], impl_name[back],
		      processes ? "processes" : "threads", n, secs, (double)n / secs / 1e6);
	print_side("front", impl_name[front], &ctl->front);
	print_side("back", impl_name[back], &ctl->back);

	assert_side(&ctl->front, n);
	assert_side(&ctl->back, n);
	if (processes) {
		/* The child's own verdict on its side. */
		assert_true(WIFEXITED(fs.peer_status));
		assert_int_equal(WEXITSTATUS(fs.peer_status), 0);
	}
	/* Every kick a producer decided on reached its consumer's counter. */
	assert_int_equal(atomic_load(&ctl->to_back.count), ctl->front.kicks_sent);
	assert_int_equal(atomic_load(&ctl->to_front.count), ctl->back.kicks_sent);

	if (processes) {
		pvio_shm_unmap(mem, bytes);
		close(fd);
	} else {
		free(mem);
	}
}

static void xen_front_drives_pvio_back_across_threads(void **state)
{
	(void)state;
	run_config(XEN, PVIO, false);
}

static void pvio_front_drives_xen_back_across_threads(void **state)
{
	(void)state;
	run_config(PVIO, XEN, false);
}

static void pvio_front_drives_pvio_back_across_threads(void **state)
{
	(void)state;
	run_config(PVIO, PVIO, false);
}

static void pvio_front_drives_pvio_back_across_processes(void **state)
{
	(void)state;
	run_config(PVIO, PVIO, true);
}

static void xen_front_drives_pvio_back_across_processes(void **state)
{
	(void)state;
	run_config(XEN, PVIO, true);
}

static void pvio_front_drives_xen_back_across_processes(void **state)
{
	(void)state;
	run_config(PVIO, XEN, true);
}

/* ------------------------------------------------------------- lockstep */

/*
 * One thread plays both ends in a random schedule. A side is awake or
 * asleep; it sleeps only after pushing what it has and a final check that
 * finds nothing, and only a kick wakes it. At every push the notify
 * decision is compared with the other implementation's for the same state
 * (pvio's push against Xen's macro run on a copy of the header; Xen's
 * macro against pvio_ring_need_kick), and a push that publishes while the
 * peer sleeps must kick. Both sides asleep with requests outstanding would
 * be a lost wakeup.
 */
struct lockstep {
	_Alignas(4096) unsigned char page[RING_BYTES];
	_Alignas(64) unsigned char shadow[RING_BYTES]; /* Xen macros on a copy */
	bool front_asleep, back_asleep;
	uint64_t sent, recv, served;
	uint64_t kicks_to_front, kicks_to_back, pushes;
	uint64_t rng;
};

static struct lockstep ls;

static void ls_reset(uint64_t seed)
{
	memset(&ls, 0, sizeof(ls));
	ls.rng = seed;
}

/* Xen front, on the shared page. */
static void ls_xen_front_push(xtest_front_ring_t *fr)
{
	RING_IDX old = fr->sring->req_prod, new_prod = fr->req_prod_pvt;
	uint32_t event = fr->sring->req_event;
	int notify;

	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(fr, notify);
	if (old == new_prod)
		return; /* nothing published: no decision to check */
	ls.pushes++;
	assert_int_equal(notify, pvio_ring_need_kick(old, new_prod, event));
	assert_int_equal(notify, event_in_published_range(old, new_prod, event));
	if (ls.back_asleep)
		assert_true(notify); /* else the backend sleeps through work */
	if (notify) {
		ls.kicks_to_back++;
		ls.back_asleep = false;
	}
}

/* pvio back, checked against Xen's macro on a copy of the same state. */
static void ls_pvio_back_push(struct pvio_ring_back *b)
{
	xtest_back_ring_t shadow;
	int xen_notify;

	memcpy(ls.shadow, ls.page, 64);
	BACK_RING_ATTACH(&shadow, (xtest_sring_t *)ls.shadow, b->req_cons, RING_BYTES);
	shadow.rsp_prod_pvt = b->rsp_prod_pvt;
	RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&shadow, xen_notify);

	uint32_t old = b->rsp_prod_pub, new_prod = b->rsp_prod_pvt;
	int rc = pvio_ring_back_push(b);
	assert_true(rc >= 0);
	/* Same header after the push as after Xen's. */
	assert_memory_equal(ls.shadow, ls.page, 64);
	if (old == new_prod) {
		assert_int_equal(rc, 0);
		return;
	}
	ls.pushes++;
	assert_int_equal(rc, xen_notify);
	if (ls.front_asleep)
		assert_int_equal(rc, 1);
	if (rc) {
		ls.kicks_to_front++;
		ls.front_asleep = false;
	}
}

static void xen_front_and_pvio_back_agree_on_every_kick_in_lockstep(void **state)
{
	static const uint32_t starts[] = { 0, 0xffffff00u };
	xtest_front_ring_t fr;
	struct pvio_ring_back b;

	(void)state;
	for (size_t si = 0; si < 2; si++) {
		uint32_t start = starts[si];

		ls_reset(0x1234567 + si);
		xen_shared_init(ls.page, start);
		FRONT_RING_ATTACH(&fr, (xtest_sring_t *)ls.page, start, RING_BYTES);
		assert_int_equal(pvio_ring_back_attach(&b, ls.page, RING_BYTES,
						       sizeof(struct test_msg), start), 0);
		for (int step = 0; step < 300000; step++) {
			if (ls.front_asleep && ls.back_asleep) {
				/* Only allowed when nothing is outstanding; then
				 * the application wakes the frontend. */
				assert_int_equal(ls.sent, ls.recv);
				ls.front_asleep = false;
			}
			bool front_turn = ls.back_asleep ||
					  (!ls.front_asleep && test_rand(&ls.rng) % 2);
			uint32_t action = (uint32_t)(test_rand(&ls.rng) % 4);
			if (front_turn) {
				struct test_msg m;
				switch (action) {
				case 0: { /* produce */
					uint32_t k = (uint32_t)(test_rand(&ls.rng) % 8);
					while (k-- && !RING_FULL(&fr)) {
						test_msg_fill_req(&m, ls.sent++);
						*RING_GET_REQUEST(&fr, fr.req_prod_pvt) = m;
						fr.req_prod_pvt++;
					}
					break;
				}
				case 1:
					ls_xen_front_push(&fr);
					break;
				case 2: /* consume */
					while (fr.rsp_cons != fr.sring->rsp_prod) {
						m = *RING_GET_RESPONSE(&fr, fr.rsp_cons);
						fr.rsp_cons++;
						assert_true(test_msg_rsp_ok(&m, ls.recv++));
					}
					break;
				case 3: { /* push, then final check; sleep if idle */
					int more;
					ls_xen_front_push(&fr);
					RING_FINAL_CHECK_FOR_RESPONSES(&fr, more);
					if (!more)
						ls.front_asleep = true;
					break;
				}
				}
			} else {
				struct test_msg req;
				switch (action) {
				case 0:
				case 1: { /* take and answer a few */
					uint32_t k = 1 + (uint32_t)(test_rand(&ls.rng) % 6);
					while (k-- && pvio_ring_back_get_req(&b, &req,
									    sizeof(req)) == 1) {
						assert_true(test_msg_req_ok(&req, ls.served++));
						test_msg_fill_rsp(pvio_ring_back_next_rsp(&b), &req);
					}
					break;
				}
				case 2:
					ls_pvio_back_push(&b);
					break;
				case 3: { /* answer all, push, final check, sleep */
					while (pvio_ring_back_get_req(&b, &req, sizeof(req)) == 1) {
						assert_true(test_msg_req_ok(&req, ls.served++));
						test_msg_fill_rsp(pvio_ring_back_next_rsp(&b), &req);
					}
					ls_pvio_back_push(&b);
					memcpy(ls.shadow, ls.page, 64);
					xtest_back_ring_t shadow;
					int xen_more;
					BACK_RING_ATTACH(&shadow, (xtest_sring_t *)ls.shadow,
							 b.req_cons, RING_BYTES);
					shadow.rsp_prod_pvt = b.rsp_prod_pvt;
					RING_FINAL_CHECK_FOR_REQUESTS(&shadow, xen_more);
					int n = pvio_ring_back_final_check(&b);
					assert_true(n >= 0);
					assert_int_equal(n != 0, xen_more != 0);
					/* pvio armed the same event index Xen would. */
					assert_int_equal(hdr_get(&((struct pvio_sring_hdr *)ls.page)->req_event),
							 ((xtest_sring_t *)ls.shadow)->req_event);
					if (n == 0)
						ls.back_asleep = true;
					break;
				}
				}
			}
		}
		assert_true(ls.recv > 100000);
		assert_true(ls.kicks_to_back > 1000 && ls.kicks_to_front > 1000);
		assert_true(ls.pushes > ls.kicks_to_back + ls.kicks_to_front);
		assert_int_equal(b.stats.protocol_errors, 0);
	}
}

/* pvio front, checked against Xen's macro on a copy of the same state. */
static void ls_pvio_front_push(struct pvio_ring_front *f)
{
	xtest_front_ring_t shadow;
	int xen_notify;

	memcpy(ls.shadow, ls.page, 64);
	FRONT_RING_ATTACH(&shadow, (xtest_sring_t *)ls.shadow, f->rsp_cons, RING_BYTES);
	shadow.req_prod_pvt = f->req_prod_pvt;
	RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&shadow, xen_notify);

	uint32_t old = f->req_prod_pub, new_prod = f->req_prod_pvt;
	int rc = pvio_ring_front_push(f);
	assert_true(rc >= 0);
	assert_memory_equal(ls.shadow, ls.page, 64);
	if (old == new_prod) {
		assert_int_equal(rc, 0);
		return;
	}
	ls.pushes++;
	assert_int_equal(rc, xen_notify);
	if (ls.back_asleep)
		assert_int_equal(rc, 1);
	if (rc) {
		ls.kicks_to_back++;
		ls.back_asleep = false;
	}
}

static void ls_xen_back_push(xtest_back_ring_t *br)
{
	RING_IDX old = br->sring->rsp_prod, new_prod = br->rsp_prod_pvt;
	uint32_t event = br->sring->rsp_event;
	int notify;

	RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(br, notify);
	if (old == new_prod)
		return;
	ls.pushes++;
	assert_int_equal(notify, pvio_ring_need_kick(old, new_prod, event));
	assert_int_equal(notify, event_in_published_range(old, new_prod, event));
	if (ls.front_asleep)
		assert_true(notify);
	if (notify) {
		ls.kicks_to_front++;
		ls.front_asleep = false;
	}
}

static void pvio_front_and_xen_back_agree_on_every_kick_in_lockstep(void **state)
{
	static const uint32_t starts[] = { 0, 0xfffffff0u };
	struct pvio_ring_front f;
	xtest_back_ring_t br;

	(void)state;
	for (size_t si = 0; si < 2; si++) {
		uint32_t start = starts[si];

		ls_reset(0x7654321 + si);
		pvio_sring_init((struct pvio_sring_hdr *)ls.page, start);
		assert_int_equal(pvio_ring_front_attach(&f, ls.page, RING_BYTES,
							sizeof(struct test_msg), start), 0);
		BACK_RING_ATTACH(&br, (xtest_sring_t *)ls.page, start, RING_BYTES);
		for (int step = 0; step < 300000; step++) {
			if (ls.front_asleep && ls.back_asleep) {
				assert_int_equal(ls.sent, ls.recv);
				ls.front_asleep = false;
			}
			bool front_turn = ls.back_asleep ||
					  (!ls.front_asleep && test_rand(&ls.rng) % 2);
			uint32_t action = (uint32_t)(test_rand(&ls.rng) % 4);
			if (front_turn) {
				struct test_msg m, *slot;
				switch (action) {
				case 0: {
					uint32_t k = (uint32_t)(test_rand(&ls.rng) % 8);
					while (k-- && (slot = pvio_ring_front_next_req(&f)) != NULL)
						test_msg_fill_req(slot, ls.sent++);
					break;
				}
				case 1:
					ls_pvio_front_push(&f);
					break;
				case 2:
					while (pvio_ring_front_get_rsp(&f, &m, sizeof(m)) == 1)
						assert_true(test_msg_rsp_ok(&m, ls.recv++));
					break;
				case 3: {
					ls_pvio_front_push(&f);
					memcpy(ls.shadow, ls.page, 64);
					xtest_front_ring_t shadow;
					int xen_more;
					FRONT_RING_ATTACH(&shadow, (xtest_sring_t *)ls.shadow,
							  f.rsp_cons, RING_BYTES);
					shadow.req_prod_pvt = f.req_prod_pvt;
					RING_FINAL_CHECK_FOR_RESPONSES(&shadow, xen_more);
					int n = pvio_ring_front_final_check(&f);
					assert_true(n >= 0);
					assert_int_equal(n != 0, xen_more != 0);
					assert_int_equal(hdr_get(&((struct pvio_sring_hdr *)ls.page)->rsp_event),
							 ((xtest_sring_t *)ls.shadow)->rsp_event);
					if (n == 0)
						ls.front_asleep = true;
					break;
				}
				}
			} else {
				RING_IDX rp = br.sring->req_prod;
				switch (action) {
				case 0:
				case 1: {
					uint32_t k = 1 + (uint32_t)(test_rand(&ls.rng) % 6);
					assert_false(RING_REQUEST_PROD_OVERFLOW(&br, rp));
					while (k-- && br.req_cons != rp) {
						struct test_msg req;
						RING_COPY_REQUEST(&br, br.req_cons, &req);
						br.req_cons++;
						assert_true(test_msg_req_ok(&req, ls.served++));
						test_msg_fill_rsp(RING_GET_RESPONSE(&br, br.rsp_prod_pvt),
								  &req);
						br.rsp_prod_pvt++;
					}
					break;
				}
				case 2:
					ls_xen_back_push(&br);
					break;
				case 3: {
					int more;
					while (br.req_cons != rp) {
						struct test_msg req;
						RING_COPY_REQUEST(&br, br.req_cons, &req);
						br.req_cons++;
						assert_true(test_msg_req_ok(&req, ls.served++));
						test_msg_fill_rsp(RING_GET_RESPONSE(&br, br.rsp_prod_pvt),
								  &req);
						br.rsp_prod_pvt++;
					}
					ls_xen_back_push(&br);
					RING_FINAL_CHECK_FOR_REQUESTS(&br, more);
					if (!more)
						ls.back_asleep = true;
					break;
				}
				}
			}
		}
		assert_true(ls.recv > 100000);
		assert_true(ls.kicks_to_back > 1000 && ls.kicks_to_front > 1000);
		assert_true(ls.pushes > ls.kicks_to_back + ls.kicks_to_front);
		assert_int_equal(f.stats.protocol_errors, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(xen_front_and_pvio_back_agree_on_every_kick_in_lockstep),
		cmocka_unit_test(pvio_front_and_xen_back_agree_on_every_kick_in_lockstep),
		cmocka_unit_test(xen_front_drives_pvio_back_across_threads),
		cmocka_unit_test(pvio_front_drives_xen_back_across_threads),
		cmocka_unit_test(pvio_front_drives_pvio_back_across_threads),
		cmocka_unit_test(xen_front_drives_pvio_back_across_processes),
		cmocka_unit_test(pvio_front_drives_xen_back_across_processes),
		cmocka_unit_test(pvio_front_drives_pvio_back_across_processes),
	};

	print_message("interop: %" PRIu64 " requests each way per configuration\n",
		      nr_requests());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
