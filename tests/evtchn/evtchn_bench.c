/* SPDX-License-Identifier: MIT */
/*
 * evtchn-bench-raw: notify-to-wake round trips between two processes (and
 * two threads), in BLOCK, POLL and ADAPTIVE modes, on the futex and the
 * eventfd platform, against the raw baselines: a bare shared-cache-line
 * ping-pong, a raw eventfd ping-pong and a raw futex ping-pong. Also the
 * CPU an idle 200 ms wait costs in each mode (getrusage).
 *
 * Each case is bracketed by a bare cache-line ping-pong that labels it
 * near / far / mixed (see shared/BENCHMARKING.md section 1); compare cases
 * only within one regime. Each repetition runs its round-trip count or
 * 0.3 s, whichever ends first. Output: one line per case, ns per round trip
 * (median of 5 repetitions), or --json.
 *
 * These are benchmark bodies; bench/ will register them later.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvio/evtchn_host.h>
#include <pvio/host.h>

#define REPS 5

struct shm {
	_Alignas(64) _Atomic uint64_t ping;
	_Alignas(64) _Atomic uint64_t pong;
	_Alignas(64) _Atomic uint32_t stop;
	_Atomic uint32_t fw[2]; /* raw futex words */
};

static struct shm *g;
static bool g_json;

static int g_cpus; /* counted once, before anything is pinned */

/* Parent on CPU 0, echo side on CPU 1, when there are two. */
static void pin(int cpu)
{
	if (g_cpus >= 2)
		pvio_cpu_pin(cpu);
}

/*
 * Every ping-pong below runs for at most iters round trips or MAX_NS,
 * whichever comes first (a loaded machine can make a spinning round trip
 * cost a scheduler time slice), then sets g->stop and kicks the echo side.
 */
#define MAX_NS 300000000ull

static bool time_up(uint64_t i, uint64_t t0)
{
	return (i & 255) == 0 && pvio_now_ns() - t0 > MAX_NS;
}

/* ---- bare cache-line ping-pong (the floor; also the regime probe) ---- */

static double spin_rt(uint64_t iters)
{
	atomic_store(&g->ping, 0);
	atomic_store(&g->pong, 0);
	atomic_store(&g->stop, 0);
	pid_t pid = fork();
	if (pid == 0) {
		pin(1);
		uint64_t last = 0, v;
		for (;;) {
			while ((v = atomic_load_explicit(&g->ping, memory_order_acquire)) == last)
				if (atomic_load_explicit(&g->stop, memory_order_relaxed))
					_exit(0);
			atomic_store_explicit(&g->pong, v, memory_order_release);
			last = v;
		}
	}
	pin(0);
	uint64_t t0 = pvio_now_ns(), i;
	for (i = 1; i <= iters && !time_up(i, t0); i++) {
		atomic_store_explicit(&g->ping, i, memory_order_release);
		while (atomic_load_explicit(&g->pong, memory_order_acquire) != i)
			;
	}
	uint64_t t1 = pvio_now_ns();
	atomic_store(&g->stop, 1);
	waitpid(pid, NULL, 0);
	return (double)(t1 - t0) / (double)(i - 1);
}

/* ---- raw eventfd ping-pong ---- */

static double eventfd_rt(uint64_t iters)
{
	int a = eventfd(0, 0), b = eventfd(0, 0);
	uint64_t v = 1;

	atomic_store(&g->stop, 0);
	pid_t pid = fork();
	if (pid == 0) {
		pin(1);
		for (;;) {
			if (read(a, &v, 8) != 8 || atomic_load(&g->stop) || write(b, &v, 8) != 8)
				_exit(0);
		}
	}
	pin(0);
	uint64_t t0 = pvio_now_ns(), i;
	for (i = 1; i <= iters && !time_up(i, t0); i++) {
		if (write(a, &v, 8) != 8 || read(b, &v, 8) != 8)
			abort();
	}
	uint64_t t1 = pvio_now_ns();
	atomic_store(&g->stop, 1);
	if (write(a, &v, 8) != 8)
		abort();
	waitpid(pid, NULL, 0);
	close(a);
	close(b);
	return (double)(t1 - t0) / (double)(i - 1);
}

/* ---- raw futex ping-pong on a MAP_SHARED word ---- */

static void fwait(_Atomic uint32_t *w, uint32_t val)
{
	while (atomic_load(w) == val)
		syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT, val, NULL, NULL, 0);
}

static void fpost(_Atomic uint32_t *w)
{
	atomic_fetch_add(w, 1);
	syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE, 1, NULL, NULL, 0);
}

static double futex_rt(uint64_t iters)
{
	atomic_store(&g->fw[0], 0);
	atomic_store(&g->fw[1], 0);
	atomic_store(&g->stop, 0);
	pid_t pid = fork();
	if (pid == 0) {
		pin(1);
		for (uint32_t i = 0;; i++) {
			fwait(&g->fw[0], i);
			if (atomic_load(&g->stop))
				_exit(0);
			fpost(&g->fw[1]);
		}
	}
	pin(0);
	uint64_t t0 = pvio_now_ns();
	uint32_t i;
	for (i = 0; i < iters && !time_up(i + 1, t0); i++) {
		fpost(&g->fw[0]);
		fwait(&g->fw[1], i);
	}
	uint64_t t1 = pvio_now_ns();
	atomic_store(&g->stop, 1);
	fpost(&g->fw[0]);
	waitpid(pid, NULL, 0);
	return (double)(t1 - t0) / (double)i;
}

/* ---- pvio event channel round trip ---- */

struct ev_env {
	int fd;
	void *mem;
	size_t bytes;
	struct pvio_evtchn h[2];
	uint32_t port[2];
	struct pvio_evtchn_host_efd efd;
	bool efd_on;
	enum pvio_evtchn_wait_mode mode;
	uint64_t iters;
};

static int ev_setup(struct ev_env *e, bool use_efd, enum pvio_evtchn_wait_mode mode)
{
	const struct pvio_evtchn_wait_ops *ops = &pvio_evtchn_host_futex_ops;
	void *ctx = NULL;

	memset(e, 0, sizeof(*e));
	e->mode = mode;
	if (pvio_evtchn_host_region_create(2, &e->fd, &e->mem, &e->bytes))
		return -1;
	if (use_efd) {
		if (pvio_evtchn_host_efd_init(&e->efd, 2) || pvio_evtchn_host_efd_create(&e->efd, 0) ||
		    pvio_evtchn_host_efd_create(&e->efd, 1))
			return -1;
		e->efd_on = true;
		ops = &pvio_evtchn_host_eventfd_ops;
		ctx = &e->efd;
	}
	for (pvio_domid_t d = 0; d < 2; d++)
		if (pvio_evtchn_domain_create(e->mem, d) ||
		    pvio_evtchn_attach(&e->h[d], e->mem, e->bytes, d, ops, ctx))
			return -1;
	if (pvio_evtchn_alloc_unbound(&e->h[0], 1, &e->port[0]) ||
	    pvio_evtchn_bind_interdomain(&e->h[1], 0, e->port[0], &e->port[1]))
		return -1;
	return 0;
}

static void ev_teardown(struct ev_env *e)
{
	if (e->efd_on)
		pvio_evtchn_host_efd_fini(&e->efd);
	pvio_evtchn_host_region_unmap(e->mem, e->bytes);
	close(e->fd);
}

static void ev_echo(struct ev_env *e)
{
	uint32_t got[4];

	for (;;) {
		while (pvio_evtchn_wait(&e->h[1], e->mode, PVIO_EVTCHN_FOREVER, got, 4) <= 0)
			;
		if (atomic_load(&g->stop))
			return;
		pvio_evtchn_notify(&e->h[1], e->port[1]);
	}
}

static void *ev_echo_thread(void *arg)
{
	pin(1);
	ev_echo(arg);
	return NULL;
}

static double ev_ping(struct ev_env *e)
{
	uint32_t got[4];
	uint64_t i;

	pin(0);
	uint64_t t0 = pvio_now_ns();
	for (i = 1; i <= e->iters && !time_up(i, t0); i++) {
		pvio_evtchn_notify(&e->h[0], e->port[0]);
		while (pvio_evtchn_wait(&e->h[0], e->mode, PVIO_EVTCHN_FOREVER, got, 4) <= 0)
			;
	}
	uint64_t t1 = pvio_now_ns();
	e->iters = i - 1;
	atomic_store(&g->stop, 1);
	pvio_evtchn_notify(&e->h[0], e->port[0]);
	return (double)(t1 - t0) / (double)e->iters;
}

static double ev_rt(bool use_efd, enum pvio_evtchn_wait_mode mode, bool threads,
		    uint64_t iters, double *wakes_per_rt)
{
	struct ev_env e;
	double ns;

	if (ev_setup(&e, use_efd, mode))
		return -1;
	e.iters = iters;
	atomic_store(&g->stop, 0);
	if (threads) {
		pthread_t t;
		pthread_create(&t, NULL, ev_echo_thread, &e);
		ns = ev_ping(&e);
		pthread_join(t, NULL);
	} else {
		pid_t pid = fork();
		if (pid == 0) {
			pin(1);
			ev_echo(&e);
			_exit(0);
		}
		ns = ev_ping(&e);
		waitpid(pid, NULL, 0);
	}
	struct pvio_evtchn_stats a, b;
	pvio_evtchn_stats_get(&e.h[0], &a);
	pvio_evtchn_stats_get(&e.h[1], &b);
	*wakes_per_rt = (double)(a.wakes + b.wakes) / (double)e.iters;
	ev_teardown(&e);
	return ns;
}

/* ---- idle CPU of a 200 ms wait with nothing arriving ---- */

static double idle_cpu_us(enum pvio_evtchn_wait_mode mode)
{
	struct ev_env e;
	struct rusage r0, r1;
	uint32_t got;

	if (ev_setup(&e, false, mode))
		return -1;
	getrusage(RUSAGE_SELF, &r0);
	pvio_evtchn_wait(&e.h[0], mode, 200000000ull, &got, 1);
	getrusage(RUSAGE_SELF, &r1);
	ev_teardown(&e);
	double us0 = (double)r0.ru_utime.tv_sec * 1e6 + (double)r0.ru_utime.tv_usec +
		     (double)r0.ru_stime.tv_sec * 1e6 + (double)r0.ru_stime.tv_usec;
	double us1 = (double)r1.ru_utime.tv_sec * 1e6 + (double)r1.ru_utime.tv_usec +
		     (double)r1.ru_stime.tv_sec * 1e6 + (double)r1.ru_stime.tv_usec;
	return us1 - us0;
}

/* ---- driver ---- */

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static const char *regime(double before, double after)
{
	bool nb = before < 150, na = after < 150;
	return nb && na ? "near" : !nb && !na ? "far" : "mixed";
}

enum kind { K_SPIN, K_EFD, K_FUTEX, K_EV };

struct bcase {
	const char *name;
	enum kind kind;
	bool efd, threads;
	enum pvio_evtchn_wait_mode mode;
	uint64_t iters;
};

static void run_case(const struct bcase *c, bool first)
{
	double v[REPS], w = 0, lo = 1e18, hi = 0;
	const char *reg[REPS];
	int near = 0, far = 0;

	for (int r = 0; r < REPS; r++) {
		double before = spin_rt(2000);
		switch (c->kind) {
		case K_SPIN: v[r] = spin_rt(c->iters); break;
		case K_EFD: v[r] = eventfd_rt(c->iters); break;
		case K_FUTEX: v[r] = futex_rt(c->iters); break;
		case K_EV: v[r] = ev_rt(c->efd, c->mode, c->threads, c->iters, &w); break;
		}
		double after = spin_rt(2000);
		reg[r] = regime(before, after);
		near += reg[r][0] == 'n';
		far += reg[r][0] == 'f';
		if (v[r] < lo) lo = v[r];
		if (v[r] > hi) hi = v[r];
	}
	double s[REPS];
	memcpy(s, v, sizeof(s));
	qsort(s, REPS, sizeof(double), cmp_d);
	if (g_json) {
		printf("%s{\"case\":\"%s\",\"median_ns\":%.1f,\"min_ns\":%.1f,\"max_ns\":%.1f,"
		       "\"wakes_per_rt\":%.3f,\"reps_near\":%d,\"reps_far\":%d,\"reps\":[",
		       first ? "" : ",", c->name, s[REPS / 2], lo, hi, w, near, far);
		for (int r = 0; r < REPS; r++)
			printf("%s{\"ns\":%.1f,\"regime\":\"%s\"}", r ? "," : "", v[r], reg[r]);
		printf("]}\n");
	} else {
		printf("%-34s median %9.1f ns/rt  (min %9.1f max %9.1f)  wakes/rt %.3f  regimes:",
		       c->name, s[REPS / 2], lo, hi, w);
		for (int r = 0; r < REPS; r++)
			printf(" %s", reg[r]);
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			g_json = true;
		else {
			fprintf(stderr, "usage: %s [--json]\n", argv[0]);
			return 2;
		}
	}
	g_cpus = pvio_cpu_count();
	g = mmap(NULL, sizeof(*g), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	const struct bcase cases[] = {
		{ "raw spin (cache line), procs", K_SPIN, .iters = 200000 },
		{ "raw eventfd, procs", K_EFD, .iters = 5000 },
		{ "raw futex, procs", K_FUTEX, .iters = 5000 },
		{ "evtchn futex POLL, procs", K_EV, false, false, PVIO_EVTCHN_POLL, 200000 },
		{ "evtchn futex ADAPTIVE, procs", K_EV, false, false, PVIO_EVTCHN_ADAPTIVE, 200000 },
		{ "evtchn futex BLOCK, procs", K_EV, false, false, PVIO_EVTCHN_BLOCK, 5000 },
		{ "evtchn eventfd POLL, procs", K_EV, true, false, PVIO_EVTCHN_POLL, 200000 },
		{ "evtchn eventfd ADAPTIVE, procs", K_EV, true, false, PVIO_EVTCHN_ADAPTIVE, 200000 },
		{ "evtchn eventfd BLOCK, procs", K_EV, true, false, PVIO_EVTCHN_BLOCK, 5000 },
		{ "evtchn futex POLL, threads", K_EV, false, true, PVIO_EVTCHN_POLL, 200000 },
		{ "evtchn futex ADAPTIVE, threads", K_EV, false, true, PVIO_EVTCHN_ADAPTIVE, 200000 },
		{ "evtchn futex BLOCK, threads", K_EV, false, true, PVIO_EVTCHN_BLOCK, 5000 },
	};
	if (g_json)
		printf("{\"round_trips\":[\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i], i == 0);
	static const char *const mode_name[] = { "BLOCK", "POLL", "ADAPTIVE" };
	if (g_json)
		printf("],\"idle_200ms_cpu_us\":{");
	for (int m = 0; m < 3; m++) {
		double us = idle_cpu_us((enum pvio_evtchn_wait_mode)m);
		if (g_json)
			printf("%s\"%s\":%.0f", m ? "," : "", mode_name[m], us);
		else
			printf("idle 200 ms wait, %-8s          CPU %8.0f us (%.2f%% of a CPU)\n",
			       mode_name[m], us, us / 2000.0);
	}
	if (g_json)
		printf("}}\n");
	return 0;
}
