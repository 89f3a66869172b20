/* SPDX-License-Identifier: MIT */
/*
 * Hammer: two domains (threads of one process, or two processes sharing
 * the region memfd) notify, mask, unmask and wait in all three modes, with
 * the futex and the eventfd platform, and check that no wake-up is lost.
 *
 * Phase 1, ping-pong: round i, domain A publishes seq[A] = i and notifies;
 * B waits until it sees seq[A] == i, publishes seq[B] = i and notifies; A
 * waits for that. Each side picks its wait mode per round, and now and
 * then masks its port, waits for the peer's sequence by polling memory,
 * then unmasks (the peer's notify arrived while masked, so only unmask's
 * raise delivers it) and must then get an event from a BLOCK wait.
 * Phase 2, stream: both sides send PVIO_EVTCHN_HAMMER_STREAM notifies as
 * fast as they can (most coalesce), consuming as they go, then wait until
 * the peer's count is complete: the last notify after the last consume
 * must wake them.
 *
 * A lost wake-up makes a wait time out (5 s) while the peer's sequence
 * already says it notified: the test fails naming the side and round. A
 * watchdog (alarm) fails the test with a message if anything hangs.
 * PVIO_EVTCHN_HAMMER_ROUNDS (default 1000000) / PVIO_EVTCHN_HAMMER_STREAM
 * (default 4000000) set the counts; the ping-pong phase also stops after
 * PVIO_EVTCHN_HAMMER_SECONDS (default 5): on a loaded 2-CPU machine a POLL
 * round can cost a scheduler time slice, so counts alone cannot bound it.
 *
 * Multi-waiter variant ("multi-threads", "multi-processes"): the two
 * domains are joined by HAMMER_MULTI_CHANNELS channels, and each end of
 * channel k is routed (bind_waiter) to its own waiter, served by its own
 * thread with wait_on/consume_on: domain A's threads on waiters 0 and 5,
 * B's on 2 and 31; the threads of one domain share one handle. Every
 * channel runs the phases above independently, so a domain's waiters
 * sleep, spin and are woken concurrently; each waiter checks that it only
 * ever receives its own port, and a lost wake-up times out as above. With
 * twice the threads on the same CPUs, its defaults are smaller: 2 s of
 * ping-pong and 1000000 stream notifies per channel side.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <pvio/evtchn_host.h>
#include <pvio/host.h>

#define WAIT_NS (5ull * 1000000000u)
#define WATCHDOG_S 240
#define POLL_SLICE_NS 200000u
#define HAMMER_MULTI_CHANNELS 2

/* The waiters each channel's ends are routed to, per variant: [chan][role]. */
static const uint32_t single_waiters[1][2] = { { 0, 0 } };
static const uint32_t multi_waiters[HAMMER_MULTI_CHANNELS][2] = {
	{ 0, 2 },
	{ 5, PVIO_EVTCHN_NR_WAITERS - 1 },
};

/* One channel's sequence words, on its own line. */
struct chan_shared {
	_Alignas(64) _Atomic uint64_t last; /* A's last ping-pong round, once it decides */
	_Atomic uint64_t seq[2];
	_Atomic uint64_t stream[2];
};

struct hammer_shared {
	struct chan_shared ch[HAMMER_MULTI_CHANNELS];
	_Atomic uint32_t failed;
	char msg[256];
};

struct side {
	struct pvio_evtchn *h; /* the domain's handle, shared by its sides */
	uint32_t waiter;
	uint32_t port;
	int role; /* 0: A, 1: B */
	int chan;
	struct chan_shared *c;
	struct hammer_shared *t;
	uint64_t rounds, stream;
	uint64_t budget_ns; /* ping-pong stops after this long (A decides) */
	uint64_t events;
};

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : def;
}

static void fail_side(struct side *s, const char *what, uint64_t i, int rc)
{
	if (atomic_exchange(&s->t->failed, 1) == 0)
		snprintf(s->t->msg, sizeof(s->t->msg),
			 "side %c channel %d waiter %u round %llu: %s (rc %d)",
			 'A' + s->role, s->chan, s->waiter, (unsigned long long)i, what, rc);
}

/* Cheap per-round pseudo-random choice, different per side. */
static uint32_t mix(uint64_t i, int role)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(role + 1) * 0xbf58476d1ce4e5b9ull;
	x ^= x >> 31;
	return (uint32_t)(x * 0x94d049bb133111ebull >> 40);
}

static enum pvio_evtchn_wait_mode pick_mode(uint64_t i, int role)
{
	uint32_t r = mix(i, role) % 16;

	/* BLOCK costs a ~50 us wake-up: keep it to 1 round in 8 so the
	 * default run stays short; ADAPTIVE, which also sleeps when the
	 * peer is slow, half the time. */
	return r < 2 ? PVIO_EVTCHN_BLOCK : r < 8 ? PVIO_EVTCHN_POLL : PVIO_EVTCHN_ADAPTIVE;
}

static int check_ports(struct side *s, int n, const uint32_t *got, uint64_t i)
{
	for (int k = 0; k < n; k++)
		if (got[k] != s->port) {
			fail_side(s, "event on a foreign port", i, (int)got[k]);
			return -1;
		}
	s->events += (uint64_t)n;
	return 0;
}

/* Wait until *peer >= want, consuming events. */
static int await(struct side *s, _Atomic uint64_t *peer, uint64_t want, uint64_t i)
{
	uint32_t got[4];
	uint64_t deadline = pvio_now_ns() + WAIT_NS;

	while (atomic_load_explicit(peer, memory_order_acquire) < want) {
		enum pvio_evtchn_wait_mode mode = pick_mode(i, s->role);
		uint64_t now = pvio_now_ns();
		uint64_t left = now < deadline ? deadline - now : 0;
		/* POLL in slices, yielding between them: with more runnable
		 * threads than CPUs the peer may need our CPU to answer. */
		int n = pvio_evtchn_wait_on(s->h, s->waiter, mode,
					    mode == PVIO_EVTCHN_POLL && left > POLL_SLICE_NS
					    ? POLL_SLICE_NS : left, got, 4);
		if (n == -ETIMEDOUT && pvio_now_ns() < deadline) {
			sched_yield();
			continue;
		}
		if (n == -ETIMEDOUT) {
			if (atomic_load(peer) >= want)
				fail_side(s, "LOST WAKE-UP: peer notified, wait timed out", i, n);
			else
				fail_side(s, "peer made no progress for 5 s", i, n);
			return -1;
		}
		if (n < 0) {
			fail_side(s, "wait failed", i, n);
			return -1;
		}
		if (check_ports(s, n, got, i) || atomic_load(&s->t->failed))
			return -1;
	}
	return 0;
}

/* Masked round: poll memory, unmask, then the event must come. */
static int await_masked(struct side *s, _Atomic uint64_t *peer, uint64_t i)
{
	uint32_t got[4];
	int rc = pvio_evtchn_mask(s->h, s->port);

	if (rc) {
		fail_side(s, "mask", i, rc);
		return -1;
	}
	uint64_t t0 = pvio_now_ns();
	for (uint32_t k = 0; atomic_load_explicit(peer, memory_order_acquire) < i; k++) {
		if ((k & 255) == 255) {
			sched_yield();
			if (atomic_load(&s->t->failed))
				return -1;
			if (pvio_now_ns() - t0 > WAIT_NS) {
				fail_side(s, "peer made no progress (masked) for 5 s", i, 0);
				return -1;
			}
		}
	}
	rc = pvio_evtchn_unmask(s->h, s->port);
	if (rc) {
		fail_side(s, "unmask", i, rc);
		return -1;
	}
	/* The peer stored its sequence before notifying: the event is
	 * pending or on its way. If unmask lost it, this times out. */
	int n = pvio_evtchn_wait_on(s->h, s->waiter, PVIO_EVTCHN_BLOCK, WAIT_NS, got, 4);
	if (n < 0) {
		fail_side(s, "LOST WAKE-UP: no event after unmask with pending", i, n);
		return -1;
	}
	return check_ports(s, n, got, i);
}

static int notify(struct side *s, uint64_t i)
{
	int rc = pvio_evtchn_notify(s->h, s->port);

	if (rc)
		fail_side(s, "notify", i, rc);
	return rc;
}

static int run_side(struct side *s)
{
	struct chan_shared *t = s->c;
	int me = s->role, peer = 1 - me;

	uint64_t t0 = pvio_now_ns();

	for (uint64_t i = 1; i <= s->rounds; i++) {
		if (me == 0) {
			/* On a loaded machine POLL rounds can cost a time slice
			 * each: cap the phase's time so the test stays short.
			 * Published before seq (release) so B reads it. */
			if (i == s->rounds ||
			    ((i & 1023) == 0 && pvio_now_ns() - t0 > s->budget_ns))
				atomic_store_explicit(&t->last, i, memory_order_relaxed);
			atomic_store_explicit(&t->seq[0], i, memory_order_release);
			if (notify(s, i))
				return -1;
		}
		int rc = mix(i, me + 7) % 13 == 0 ? await_masked(s, &t->seq[peer], i)
						  : await(s, &t->seq[peer], i, i);
		if (rc)
			return -1;
		if (me == 1) {
			atomic_store_explicit(&t->seq[1], i, memory_order_release);
			if (notify(s, i))
				return -1;
		}
		if (atomic_load_explicit(&t->last, memory_order_relaxed) == i)
			break;
	}
	for (uint64_t j = 1; j <= s->stream; j++) {
		atomic_store_explicit(&t->stream[me], j, memory_order_release);
		if (notify(s, j))
			return -1;
		if ((j & 63) == 0) {
			uint32_t got[4];
			int n = pvio_evtchn_consume_on(s->h, s->waiter, got, 4);
			if (n < 0 || check_ports(s, n, got, j))
				return -1;
		}
		if ((j & 4095) == 0) { /* mask/unmask under fire */
			pvio_evtchn_mask(s->h, s->port);
			pvio_evtchn_unmask(s->h, s->port);
		}
	}
	return await(s, &t->stream[peer], s->stream, s->stream);
}

/* ---- set-up shared by the thread and process variants ---- */

struct hammer {
	int region_fd;
	void *mem;
	size_t bytes;
	struct hammer_shared *t;
	struct pvio_evtchn h[2];  /* domains A (1) and B (2) */
	int nch;                  /* channels */
	struct side side[HAMMER_MULTI_CHANNELS][2];
	struct pvio_evtchn_host_efd efd;
	bool use_efd;
};

static void watchdog(int sig)
{
	static const char m[] = "evtchn hammer: WATCHDOG fired: a wait hung (lost wake-up?)\n";
	(void)sig;
	if (write(2, m, sizeof(m) - 1) < 0) {
	}
	_exit(3);
}

/* nch 1: today's single-waiter hammer (waiter 0 on both sides); nch
 * HAMMER_MULTI_CHANNELS: one waiter per channel end (multi_waiters). */
static void hammer_setup(struct hammer *hm, bool use_efd, int nch)
{
	const uint32_t (*wv)[2] = nch == 1 ? single_waiters : multi_waiters;

	memset(hm, 0, sizeof(*hm));
	hm->use_efd = use_efd;
	hm->nch = nch;
	assert_int_equal(pvio_evtchn_host_region_create(3, &hm->region_fd, &hm->mem, &hm->bytes), 0);
	hm->t = mmap(NULL, sizeof(*hm->t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(hm->t != MAP_FAILED);
	const struct pvio_evtchn_wait_ops *ops = &pvio_evtchn_host_futex_ops;
	void *ctx = NULL;
	if (use_efd) {
		assert_int_equal(pvio_evtchn_host_efd_init(&hm->efd, 3), 0);
		for (int k = 0; k < nch; k++)
			for (int r = 0; r < 2; r++)
				assert_int_equal(pvio_evtchn_host_efd_create_on(&hm->efd,
						(pvio_domid_t)(r + 1), wv[k][r]), 0);
		ops = &pvio_evtchn_host_eventfd_ops;
		ctx = &hm->efd;
	}
	bool multi = nch > 1;
	uint64_t rounds = env_u64("PVIO_EVTCHN_HAMMER_ROUNDS", 1000000);
	uint64_t stream = env_u64("PVIO_EVTCHN_HAMMER_STREAM", multi ? 1000000 : 4000000);
	uint64_t budget = env_u64("PVIO_EVTCHN_HAMMER_SECONDS", multi ? 2 : 5) * 1000000000u;
	for (int r = 0; r < 2; r++) {
		assert_int_equal(pvio_evtchn_domain_create(hm->mem, (pvio_domid_t)(r + 1)), 0);
		assert_int_equal(pvio_evtchn_attach(&hm->h[r], hm->mem, hm->bytes,
						    (pvio_domid_t)(r + 1), ops, ctx), 0);
	}
	for (int k = 0; k < nch; k++) {
		for (int r = 0; r < 2; r++) {
			struct side *s = &hm->side[k][r];
			s->h = &hm->h[r];
			s->waiter = wv[k][r];
			s->role = r;
			s->chan = k;
			s->c = &hm->t->ch[k];
			s->t = hm->t;
			s->rounds = rounds;
			s->stream = stream;
			s->budget_ns = budget;
		}
		struct side *a = &hm->side[k][0], *b = &hm->side[k][1];
		/* A routes its port before B binds (the routing must survive
		 * the bind), B after binding. */
		assert_int_equal(pvio_evtchn_alloc_unbound(a->h, 2, &a->port), 0);
		assert_int_equal(pvio_evtchn_bind_waiter(a->h, a->port, a->waiter), 0);
		assert_int_equal(pvio_evtchn_bind_interdomain(b->h, 1, a->port, &b->port), 0);
		assert_int_equal(pvio_evtchn_bind_waiter(b->h, b->port, b->waiter), 0);
	}
	signal(SIGALRM, watchdog);
	alarm(WATCHDOG_S);
}

static void hammer_report(struct hammer *hm, const char *name, uint64_t t0)
{
	struct pvio_evtchn_stats a, b;

	alarm(0);
	pvio_evtchn_stats_get(&hm->h[0], &a);
	pvio_evtchn_stats_get(&hm->h[1], &b);
	printf("# %s: %d channel(s), %llu ping-pong rounds (channel 0) + %llu stream "
	       "notifies/side/channel in %.2f s; "
	       "A sent %llu (coalesced %llu) recv %llu wakes %llu sleeps %llu spurious %llu; "
	       "B sent %llu (coalesced %llu) recv %llu wakes %llu sleeps %llu spurious %llu\n",
	       name, hm->nch, (unsigned long long)atomic_load(&hm->t->ch[0].last),
	       (unsigned long long)hm->side[0][0].stream, (double)(pvio_now_ns() - t0) / 1e9,
	       (unsigned long long)a.sent, (unsigned long long)a.coalesced,
	       (unsigned long long)a.received, (unsigned long long)a.wakes,
	       (unsigned long long)a.sleeps, (unsigned long long)a.spurious,
	       (unsigned long long)b.sent, (unsigned long long)b.coalesced,
	       (unsigned long long)b.received, (unsigned long long)b.wakes,
	       (unsigned long long)b.sleeps, (unsigned long long)b.spurious);
	/* Every event received was sent: received <= sent by the peer. */
	assert_true(a.received <= b.sent + 1); /* +1: a domain-destroy raise */
	assert_true(b.received <= a.sent + 1);
	assert_true(a.received > 0 && b.received > 0);
	/* Each waiter received events (its own: run_side checks the ports),
	 * and the waiters nobody uses none. */
	static bool used[2][PVIO_EVTCHN_NR_WAITERS];
	memset(used, 0, sizeof(used));
	for (int k = 0; k < hm->nch; k++)
		for (int r = 0; r < 2; r++) {
			struct pvio_evtchn_stats w;
			const struct side *s = &hm->side[k][r];
			assert_int_equal(pvio_evtchn_stats_get_on(s->h, s->waiter, &w), 0);
			assert_true(w.received > 0);
			used[r][s->waiter] = true;
		}
	for (int r = 0; r < 2; r++)
		for (uint32_t v = 0; v < PVIO_EVTCHN_NR_WAITERS; v++) {
			struct pvio_evtchn_stats w;
			assert_int_equal(pvio_evtchn_stats_get_on(&hm->h[r], v, &w), 0);
			if (!used[r][v])
				assert_int_equal(w.received + w.sleeps, 0);
		}
}

static void hammer_teardown(struct hammer *hm)
{
	if (hm->use_efd)
		pvio_evtchn_host_efd_fini(&hm->efd);
	munmap(hm->t, sizeof(*hm->t));
	pvio_evtchn_host_region_unmap(hm->mem, hm->bytes);
	close(hm->region_fd);
}

static void *side_thread(void *arg)
{
	struct side *s = arg;
	int rc = run_side(s);

	if (rc)
		atomic_store(&s->t->failed, 1); /* let the other channels stop */
	return (void *)(intptr_t)rc;
}

/* Run the sides of role (every channel's end in one domain): channel 0 on
 * this thread, the others each on a thread of their own. -1 if any failed. */
static int run_role(struct hammer *hm, int role)
{
	pthread_t t[HAMMER_MULTI_CHANNELS];
	int rc = 0;

	for (int k = 1; k < hm->nch; k++)
		if (pthread_create(&t[k], NULL, side_thread, &hm->side[k][role]))
			return -1;
	if (run_side(&hm->side[0][role])) {
		atomic_store(&hm->t->failed, 1);
		rc = -1;
	}
	for (int k = 1; k < hm->nch; k++) {
		void *r;
		if (pthread_join(t[k], &r) || r)
			rc = -1;
	}
	return rc;
}

static void *role_b_thread(void *arg)
{
	return (void *)(intptr_t)run_role(arg, 1);
}

static void hammer_threads(bool use_efd, int nch, const char *name)
{
	struct hammer hm;
	pthread_t t;
	void *rb;

	hammer_setup(&hm, use_efd, nch);
	uint64_t t0 = pvio_now_ns();
	assert_int_equal(pthread_create(&t, NULL, role_b_thread, &hm), 0);
	int ra = run_role(&hm, 0);
	if (ra)
		atomic_store(&hm.t->failed, 1);
	assert_int_equal(pthread_join(t, &rb), 0);
	if (hm.t->failed)
		fail_msg("%s: %s", name, hm.t->msg);
	assert_int_equal(ra, 0);
	assert_int_equal((intptr_t)rb, 0);
	hammer_report(&hm, name, t0);
	hammer_teardown(&hm);
}

static void hammer_processes(bool use_efd, int nch, const char *name)
{
	struct hammer hm;
	int status;

	hammer_setup(&hm, use_efd, nch);
	uint64_t t0 = pvio_now_ns();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Domain B: its own process (one thread per channel); it
		 * shares only the memfd pages (and the inherited eventfds). */
		alarm(WATCHDOG_S);
		_exit(run_role(&hm, 1) ? 1 : 0);
	}
	int ra = run_role(&hm, 0);
	if (ra) {
		atomic_store(&hm.t->failed, 1);
		/* B may be waiting for a peer that gave up. */
		struct timespec ts = { .tv_sec = 6 };
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (hm.t->failed)
		fail_msg("%s: %s", name, hm.t->msg);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(ra, 0);
	hammer_report(&hm, name, t0);
	hammer_teardown(&hm);
}

static void threads_futex_lose_no_wakeup(void **state)
{
	(void)state;
	hammer_threads(false, 1, "threads/futex");
}

static void threads_eventfd_lose_no_wakeup(void **state)
{
	(void)state;
	hammer_threads(true, 1, "threads/eventfd");
}

static void processes_futex_lose_no_wakeup(void **state)
{
	(void)state;
	hammer_processes(false, 1, "processes/futex");
}

static void processes_eventfd_lose_no_wakeup(void **state)
{
	(void)state;
	hammer_processes(true, 1, "processes/eventfd");
}

static void multi_waiter_threads_futex_get_own_ports_and_lose_no_wakeup(void **state)
{
	(void)state;
	hammer_threads(false, HAMMER_MULTI_CHANNELS, "multi-waiter threads/futex");
}

static void multi_waiter_threads_eventfd_get_own_ports_and_lose_no_wakeup(void **state)
{
	(void)state;
	hammer_threads(true, HAMMER_MULTI_CHANNELS, "multi-waiter threads/eventfd");
}

static void multi_waiter_processes_futex_get_own_ports_and_lose_no_wakeup(void **state)
{
	(void)state;
	hammer_processes(false, HAMMER_MULTI_CHANNELS, "multi-waiter processes/futex");
}

static void multi_waiter_processes_eventfd_get_own_ports_and_lose_no_wakeup(void **state)
{
	(void)state;
	hammer_processes(true, HAMMER_MULTI_CHANNELS, "multi-waiter processes/eventfd");
}

int main(int argc, char **argv)
{
	const struct CMUnitTest threads[] = {
		cmocka_unit_test(threads_futex_lose_no_wakeup),
		cmocka_unit_test(threads_eventfd_lose_no_wakeup),
	};
	const struct CMUnitTest procs[] = {
		cmocka_unit_test(processes_futex_lose_no_wakeup),
		cmocka_unit_test(processes_eventfd_lose_no_wakeup),
	};
	const struct CMUnitTest multi_threads[] = {
		cmocka_unit_test(multi_waiter_threads_futex_get_own_ports_and_lose_no_wakeup),
		cmocka_unit_test(multi_waiter_threads_eventfd_get_own_ports_and_lose_no_wakeup),
	};
	const struct CMUnitTest multi_procs[] = {
		cmocka_unit_test(multi_waiter_processes_futex_get_own_ports_and_lose_no_wakeup),
		cmocka_unit_test(multi_waiter_processes_eventfd_get_own_ports_and_lose_no_wakeup),
	};
	/* argv[1]: "threads", "processes", "multi-threads" or
	 * "multi-processes" (meson runs them as four tests); none: all. */
	const char *want = argc < 2 ? NULL : argv[1];
	int rc = 0;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!want || !strcmp(want, "threads"))
		rc |= cmocka_run_group_tests_name("evtchn_hammer_threads", threads, NULL, NULL);
	if (!want || !strcmp(want, "processes"))
		rc |= cmocka_run_group_tests_name("evtchn_hammer_processes", procs, NULL, NULL);
	if (!want || !strcmp(want, "multi-threads"))
		rc |= cmocka_run_group_tests_name("evtchn_hammer_multi_threads", multi_threads,
						  NULL, NULL);
	if (!want || !strcmp(want, "multi-processes"))
		rc |= cmocka_run_group_tests_name("evtchn_hammer_multi_processes", multi_procs,
						  NULL, NULL);
	return rc;
}
