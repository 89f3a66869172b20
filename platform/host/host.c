/* SPDX-License-Identifier: MIT */
/* Shared memory, CPU placement, clocks, backend threads and rate-limited
 * logging on a Linux host. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pvio/host.h>

static size_t round_to_pages(size_t bytes)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (bytes + page - 1) / page * page;
}

#if PVIO_SHM_ONE_VIEW
/*
 * One view per shared object per process. ThreadSanitizer tracks memory
 * by virtual address: when two domains of one process map the same memfd
 * twice, a release store through one view and the acquire load through
 * the other do not pair, and every page the two sides then hand over is
 * reported as a race. Under TSan a second pvio_shm_map() of an object
 * already mapped at the same size returns the first mapping (counted);
 * the last pvio_shm_unmap() unmaps it. Normal builds map every time.
 */
struct one_view {
	struct one_view *next;
	dev_t dev;
	ino_t ino;
	size_t bytes;
	void *mem;
	unsigned long refs;
};

static pthread_mutex_t views_lock = PTHREAD_MUTEX_INITIALIZER;
static struct one_view *views;

static int view_map(int fd, size_t bytes, void **mem)
{
	struct one_view *v;
	struct stat st;
	int rc = 0;

	if (fstat(fd, &st))
		return -errno;
	pthread_mutex_lock(&views_lock);
	for (v = views; v; v = v->next)
		if (v->dev == st.st_dev && v->ino == st.st_ino && v->bytes == bytes)
			break;
	if (v) {
		v->refs++;
		*mem = v->mem;
	} else if (!(v = calloc(1, sizeof(*v)))) {
		rc = -ENOMEM;
	} else {
		void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

		if (p == MAP_FAILED) {
			rc = -errno;
			free(v);
		} else {
			*v = (struct one_view){ .next = views, .dev = st.st_dev,
						.ino = st.st_ino, .bytes = bytes,
						.mem = p, .refs = 1 };
			views = v;
			*mem = p;
		}
	}
	pthread_mutex_unlock(&views_lock);
	return rc;
}

/* Drop one reference: 1 (still mapped for others), 0 (the last: unmap
 * it), -ENOENT (not a shared view: the caller unmaps). */
static int view_unmap(void *mem, size_t bytes)
{
	int rc = -ENOENT;

	pthread_mutex_lock(&views_lock);
	for (struct one_view **pv = &views; *pv; pv = &(*pv)->next) {
		struct one_view *v = *pv;

		if (v->mem != mem || v->bytes != bytes)
			continue;
		rc = --v->refs ? 1 : 0;
		if (!rc) {
			*pv = v->next;
			free(v);
		}
		break;
	}
	pthread_mutex_unlock(&views_lock);
	return rc;
}
#endif

int pvio_shm_map(int fd, size_t bytes, void **mem)
{
	if (fd < 0 || bytes == 0 || !mem)
		return -EINVAL;
#if PVIO_SHM_ONE_VIEW
	return view_map(fd, round_to_pages(bytes), mem);
#else
	void *p = mmap(NULL, round_to_pages(bytes), PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*mem = p;
	return 0;
#endif
}

int pvio_shm_create(const char *name, size_t bytes, int *fd, void **mem)
{
	if (bytes == 0 || !fd || !mem)
		return -EINVAL;
	int f = memfd_create(name ? name : "pvio-shm", MFD_CLOEXEC);
	if (f < 0)
		return -errno;
	if (ftruncate(f, (off_t)round_to_pages(bytes)) < 0) {
		int err = -errno;
		close(f);
		return err;
	}
	int rc = pvio_shm_map(f, bytes, mem);
	if (rc) {
		close(f);
		return rc;
	}
	*fd = f;
	return 0;
}

int pvio_shm_unmap(void *mem, size_t bytes)
{
	if (!mem || bytes == 0)
		return -EINVAL;
#if PVIO_SHM_ONE_VIEW
	if (view_unmap(mem, round_to_pages(bytes)) == 1)
		return 0;
#endif
	return munmap(mem, round_to_pages(bytes)) ? -errno : 0;
}

int pvio_cpu_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

int pvio_cpu_count(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 1;
	int n = CPU_COUNT(&set);
	return n > 0 ? n : 1;
}

/* Data-path threads awake (see pvio_host_polling_pays()), and the CPU
 * count, read once: a sched_getaffinity() per wait would cost more than
 * the poll it decides on. */
static _Atomic uint32_t awake_threads;
static _Atomic uint32_t awake_cpus;

void pvio_host_awake(void)
{
	atomic_fetch_add_explicit(&awake_threads, 1, memory_order_relaxed);
}

void pvio_host_asleep(void)
{
	atomic_fetch_sub_explicit(&awake_threads, 1, memory_order_relaxed);
}

bool pvio_host_polling_pays(void)
{
	uint32_t cpus = atomic_load_explicit(&awake_cpus, memory_order_relaxed);

	if (!cpus) {
		cpus = (uint32_t)pvio_cpu_count();
		atomic_store_explicit(&awake_cpus, cpus, memory_order_relaxed);
	}
	return atomic_load_explicit(&awake_threads, memory_order_relaxed) <= cpus;
}

uint64_t pvio_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int pvio_host_thread_start(struct pvio_host_thread *t, void *(*fn)(void *),
			   void *arg)
{
	int rc;

	if (!t || !fn)
		return -EINVAL;
	if (t->started)
		return -EALREADY;
	atomic_store(&t->stop, false);
	rc = pthread_create(&t->thread, NULL, fn, arg);
	if (rc)
		return -rc;
	t->started = true;
	return 0;
}

int pvio_host_thread_run_here(struct pvio_host_thread *t,
			      void *(*fn)(void *), void *arg)
{
	if (!t || !fn)
		return -EINVAL;
	if (t->started)
		return -EALREADY;
	atomic_store_explicit(&t->stop, false, memory_order_relaxed);
	(void)fn(arg);
	return 0;
}

void pvio_host_thread_ask_stop(struct pvio_host_thread *t)
{
	if (!t)
		return;
	/* R1: pairs with A1 in pvio_host_thread_stopping(). */
	atomic_store_explicit(&t->stop, true, memory_order_release);
}

void pvio_host_thread_stop(struct pvio_host_thread *t)
{
	if (!t || !t->started)
		return;
	pvio_host_thread_ask_stop(t);
	pthread_join(t->thread, NULL);
	t->started = false;
}

void pvio_host_ratelog_init(struct pvio_host_ratelog *rl, uint32_t per_sec)
{
	pthread_mutex_init(&rl->lock, NULL);
	rl->window_ns = 0;
	rl->count = 0;
	rl->per_sec = per_sec;
}

void pvio_host_ratelog_fini(struct pvio_host_ratelog *rl)
{
	pthread_mutex_destroy(&rl->lock);
}

bool pvio_host_ratelog_allow(struct pvio_host_ratelog *rl, uint64_t now_ns)
{
	bool ok;

	pthread_mutex_lock(&rl->lock);
	if (now_ns - rl->window_ns > 1000000000ull) {
		rl->window_ns = now_ns;
		rl->count = 0;
	}
	ok = rl->count++ < rl->per_sec;
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

bool pvio_host_ratelog_vprintf(struct pvio_host_ratelog *rl, const char *fmt,
			       va_list ap)
{
	if (!pvio_host_ratelog_allow(rl, pvio_now_ns()))
		return false;
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	return true;
}
