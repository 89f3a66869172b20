/* SPDX-License-Identifier: MIT */
/*
 * Suite "evtchn" bodies (moved from tests/evtchn/evtchn_bench.c):
 * notify-to-wake round trips between two processes, the caller on CPU 0
 * and a forked echo child on CPU 1, in pvio's BLOCK, POLL and ADAPTIVE
 * wait modes (host futex platform) and with the raw baselines: an eventfd
 * pair (blocking reads) and a bare shared cache line (spinning). Also the
 * CPU an idle wait costs in each mode.
 *
 * Each run stops after count round trips or max_ns, whichever comes first
 * (on a loaded machine a spinning round trip can cost a time slice). The
 * child dies with its parent (PR_SET_PDEATHSIG) and is reaped with wait4()
 * so its CPU time gives its off-CPU time.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvio/evtchn_host.h>
#include <pvio/host.h>

#include "bench_pvt.h"

/* Shared between parent and child (MAP_SHARED | MAP_ANONYMOUS). */
struct ev_shm {
	alignas(PVIO_BENCH_ALIGN) _Atomic uint64_t ping;
	alignas(PVIO_BENCH_ALIGN) _Atomic uint64_t pong;
	alignas(PVIO_BENCH_ALIGN) _Atomic uint32_t stop;
	_Atomic int32_t child_rc;
};

static const char *const body_names[PVIO_BENCH_E_NR] = {
	[PVIO_BENCH_E_BLOCK] = "BLOCK",
	[PVIO_BENCH_E_POLL] = "POLL",
	[PVIO_BENCH_E_ADAPTIVE] = "ADAPTIVE",
	[PVIO_BENCH_E_EVENTFD] = "eventfd",
	[PVIO_BENCH_E_SPIN] = "spin",
};

const char *pvio_bench_evtchn_body_name(enum pvio_bench_evtchn_body body)
{
	return (unsigned)body < PVIO_BENCH_E_NR ? body_names[body] : "?";
}

static enum pvio_evtchn_wait_mode mode_of(enum pvio_bench_evtchn_body body)
{
	return body == PVIO_BENCH_E_POLL ? PVIO_EVTCHN_POLL :
	       body == PVIO_BENCH_E_ADAPTIVE ? PVIO_EVTCHN_ADAPTIVE :
					       PVIO_EVTCHN_BLOCK;
}

static bool time_up(uint64_t i, uint64_t t0, uint64_t max_ns)
{
	return (i & 63) == 0 && pvio_now_ns() - t0 > max_ns;
}

/* ---- pvio event channels: two domains in one region ---- */

struct ev_env {
	int fd;
	void *mem;
	size_t bytes;
	struct pvio_evtchn h[2];
	uint32_t port[2];
};

static int ev_setup(struct ev_env *e)
{
	const struct pvio_evtchn_wait_ops *ops = &pvio_evtchn_host_futex_ops;
	int rc;

	memset(e, 0, sizeof(*e));
	e->fd = -1;
	if ((rc = pvio_evtchn_host_region_create(2, &e->fd, &e->mem, &e->bytes)))
		return rc < 0 ? rc : -EIO;
	for (pvio_domid_t d = 0; d < 2; d++)
		if ((rc = pvio_evtchn_domain_create(e->mem, d)) ||
		    (rc = pvio_evtchn_attach(&e->h[d], e->mem, e->bytes, d, ops, NULL)))
			goto fail;
	if ((rc = pvio_evtchn_alloc_unbound(&e->h[0], 1, &e->port[0])) ||
	    (rc = pvio_evtchn_bind_interdomain(&e->h[1], 0, e->port[0], &e->port[1])))
		goto fail;
	return 0;
fail:
	pvio_evtchn_host_region_unmap(e->mem, e->bytes);
	close(e->fd);
	return rc < 0 ? rc : -EIO;
}

static void ev_teardown(struct ev_env *e)
{
	pvio_evtchn_host_region_unmap(e->mem, e->bytes);
	close(e->fd);
}

/* ---- the child: echo until stop ---- */

static void child_start(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(1);
	/* The machine's CPUs, not our affinity: the parent pinned itself to
	 * CPU 0 in an earlier run and we inherited that mask, so counting it
	 * would leave both sides on CPU 0 (8 ms spin round trips). */
	if (sysconf(_SC_NPROCESSORS_ONLN) >= 2)
		pvio_cpu_pin(1);
}

static _Noreturn void child_spin(struct ev_shm *g)
{
	uint64_t last = 0, v;

	child_start();
	for (;;) {
		while ((v = atomic_load_explicit(&g->ping, memory_order_acquire)) == last) {
			if (atomic_load_explicit(&g->stop, memory_order_relaxed))
				_exit(0);
			pvio_cpu_relax();
		}
		atomic_store_explicit(&g->pong, v, memory_order_release);
		last = v;
	}
}

static _Noreturn void child_eventfd(struct ev_shm *g, int a, int b)
{
	uint64_t v;

	child_start();
	for (;;) {
		if (read(a, &v, 8) != 8) {
			atomic_store(&g->child_rc, -EIO);
			_exit(1);
		}
		if (atomic_load(&g->stop))
			_exit(0);
		if (write(b, &v, 8) != 8) {
			atomic_store(&g->child_rc, -EIO);
			_exit(1);
		}
	}
}

static _Noreturn void child_evtchn(struct ev_shm *g, struct ev_env *e,
				   enum pvio_evtchn_wait_mode mode)
{
	uint32_t got[4];
	int n;

	child_start();
	for (;;) {
		while ((n = pvio_evtchn_wait(&e->h[1], mode, PVIO_EVTCHN_FOREVER,
					     got, 4)) <= 0) {
			if (n < 0 && n != -EINTR && n != -ETIMEDOUT) {
				atomic_store(&g->child_rc, n);
				_exit(1);
			}
		}
		if (atomic_load(&g->stop))
			_exit(0);
		pvio_evtchn_notify(&e->h[1], e->port[1]);
	}
}

/* ---- the parent's side of each kind ---- */

static int ping_spin(struct ev_shm *g, uint64_t count, uint64_t max_ns,
		     uint64_t *done)
{
	uint64_t t0 = pvio_now_ns(), i;

	for (i = 1; i <= count && !time_up(i, t0, max_ns); i++) {
		atomic_store_explicit(&g->ping, i, memory_order_release);
		while (atomic_load_explicit(&g->pong, memory_order_acquire) != i)
			pvio_cpu_relax();
	}
	*done = i - 1;
	return 0;
}

static int ping_eventfd(int a, int b, uint64_t count, uint64_t max_ns,
			uint64_t *done)
{
	uint64_t t0 = pvio_now_ns(), i, v = 1;

	for (i = 1; i <= count && !time_up(i, t0, max_ns); i++)
		if (write(a, &v, 8) != 8 || read(b, &v, 8) != 8)
			return -EIO;
	*done = i - 1;
	return 0;
}

static int ping_evtchn(struct ev_env *e, enum pvio_evtchn_wait_mode mode,
		       uint64_t count, uint64_t max_ns, uint64_t *done)
{
	uint64_t t0 = pvio_now_ns(), i;
	uint32_t got[4];
	int n;

	for (i = 1; i <= count && !time_up(i, t0, max_ns); i++) {
		pvio_evtchn_notify(&e->h[0], e->port[0]);
		while ((n = pvio_evtchn_wait(&e->h[0], mode, PVIO_EVTCHN_FOREVER,
					     got, 4)) <= 0)
			if (n < 0 && n != -EINTR && n != -ETIMEDOUT)
				return n;
	}
	*done = i - 1;
	return 0;
}

static uint64_t tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000000u + (uint64_t)tv->tv_usec * 1000u;
}

int pvio_bench_evtchn_rt(enum pvio_bench_evtchn_body body, uint64_t count,
			 uint64_t max_ns, struct pvio_bench_local_result *res)
{
	struct ev_env e;
	int efd[2] = { -1, -1 };
	int rc = 0;
	uint64_t done = 0, v = 1;

	memset(res, 0, sizeof(*res));
	if ((unsigned)body >= PVIO_BENCH_E_NR || !count)
		return -EINVAL;
	struct ev_shm *g = mmap(NULL, sizeof(*g), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (g == MAP_FAILED)
		return -errno;
	bool is_ev = body <= PVIO_BENCH_E_ADAPTIVE;
	if (is_ev && (rc = ev_setup(&e))) {
		munmap(g, sizeof(*g));
		return rc;
	}
	if (body == PVIO_BENCH_E_EVENTFD) {
		efd[0] = eventfd(0, 0);
		efd[1] = eventfd(0, 0);
		if (efd[0] < 0 || efd[1] < 0) {
			rc = -errno;
			goto out;
		}
	}

	uint64_t wall0 = pvio_now_ns();
	pid_t pid = fork();
	if (pid < 0) {
		rc = -errno;
		goto out;
	}
	if (pid == 0) {
		if (is_ev)
			child_evtchn(g, &e, mode_of(body));
		else if (body == PVIO_BENCH_E_EVENTFD)
			child_eventfd(g, efd[0], efd[1]);
		else
			child_spin(g);
	}
	if (pvio_cpu_count() >= 2)
		pvio_cpu_pin(0);

	/* A few untimed round trips: the child is running and pinned. */
	uint64_t warm = count / 16 < 8 ? 8 : count / 16, w;
	int prc;
	if (is_ev)
		prc = ping_evtchn(&e, mode_of(body), warm, max_ns, &w);
	else if (body == PVIO_BENCH_E_EVENTFD)
		prc = ping_eventfd(efd[0], efd[1], warm, max_ns, &w);
	else
		prc = ping_spin(g, warm, max_ns, &w);

	struct pvio_evtchn_stats s0[2] = { 0 }, s1[2] = { 0 };
	if (is_ev) {
		pvio_evtchn_stats_get(&e.h[0], &s0[0]);
		pvio_evtchn_stats_get(&e.h[1], &s0[1]);
	}
	uint64_t cpu = pvio_bench_thread_cpu_ns();
	uint64_t t0 = pvio_now_ns();
	if (prc)
		;
	else if (is_ev)
		prc = ping_evtchn(&e, mode_of(body), count, max_ns, &done);
	else if (body == PVIO_BENCH_E_EVENTFD)
		prc = ping_eventfd(efd[0], efd[1], count, max_ns, &done);
	else
		prc = ping_spin(g, count, max_ns, &done);
	res->ns = pvio_now_ns() - t0;
	cpu = pvio_bench_thread_cpu_ns() - cpu;
	if (is_ev) {
		pvio_evtchn_stats_get(&e.h[0], &s1[0]);
		pvio_evtchn_stats_get(&e.h[1], &s1[1]);
		res->wakes = (s1[0].wakes - s0[0].wakes) + (s1[1].wakes - s0[1].wakes);
	}

	/* Stop the child and reap it with its CPU time. */
	atomic_store(&g->stop, 1);
	if (is_ev)
		pvio_evtchn_notify(&e.h[0], e.port[0]);
	else if (body == PVIO_BENCH_E_EVENTFD && write(efd[0], &v, 8) != 8)
		kill(pid, SIGKILL);
	struct rusage ru;
	int wst;
	if (prc)
		kill(pid, SIGKILL);
	if (wait4(pid, &wst, 0, &ru) < 0)
		memset(&ru, 0, sizeof(ru));
	uint64_t wall = pvio_now_ns() - wall0;
	uint64_t ccpu = tv_ns(&ru.ru_utime) + tv_ns(&ru.ru_stime);
	uint64_t off_parent = res->ns > cpu ? res->ns - cpu : 0;
	uint64_t off_child = wall > ccpu ? wall - ccpu : 0;
	/* Sleeping is the point of BLOCK and eventfd: off-CPU time says
	 * nothing about other tasks there. */
	if (body == PVIO_BENCH_E_BLOCK || body == PVIO_BENCH_E_EVENTFD)
		res->offcpu_ns = 0;
	else
		res->offcpu_ns = off_parent > off_child ? off_parent : off_child;
	res->ops = done;
	res->status = prc ? prc : atomic_load(&g->child_rc);
	if (!res->status && !prc && (!WIFEXITED(wst) || WEXITSTATUS(wst)))
		res->status = -ECHILD;
	if (!res->status && !done)
		res->status = -ETIMEDOUT;
out:
	if (efd[0] >= 0)
		close(efd[0]);
	if (efd[1] >= 0)
		close(efd[1]);
	if (is_ev)
		ev_teardown(&e);
	munmap(g, sizeof(*g));
	return rc;
}

int pvio_bench_evtchn_idle(enum pvio_bench_evtchn_body body, uint64_t wait_ns,
			   double *cpu_frac)
{
	struct ev_env e;
	uint32_t got;
	int rc;

	*cpu_frac = 0;
	if (body == PVIO_BENCH_E_SPIN || (unsigned)body >= PVIO_BENCH_E_NR)
		return -EINVAL;
	if (body == PVIO_BENCH_E_EVENTFD) {
		int fd = eventfd(0, 0);
		if (fd < 0)
			return -errno;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t cpu = pvio_bench_thread_cpu_ns(), t0 = pvio_now_ns();
		rc = poll(&p, 1, (int)(wait_ns / 1000000u));
		uint64_t wall = pvio_now_ns() - t0;
		cpu = pvio_bench_thread_cpu_ns() - cpu;
		close(fd);
		if (rc < 0)
			return -errno;
		*cpu_frac = wall ? (double)cpu / (double)wall : 0;
		return 0;
	}
	if ((rc = ev_setup(&e)))
		return rc;
	uint64_t cpu = pvio_bench_thread_cpu_ns(), t0 = pvio_now_ns();
	rc = pvio_evtchn_wait(&e.h[0], mode_of(body), wait_ns, &got, 1);
	uint64_t wall = pvio_now_ns() - t0;
	cpu = pvio_bench_thread_cpu_ns() - cpu;
	ev_teardown(&e);
	if (rc < 0 && rc != -ETIMEDOUT)
		return rc;
	if (rc > 0)
		return -EPROTO; /* nobody sent anything */
	*cpu_frac = wall ? (double)cpu / (double)wall : 0;
	return 0;
}
