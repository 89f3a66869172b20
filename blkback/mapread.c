/* SPDX-License-Identifier: MIT */
/*
 * Reads from a memory file system through a shared mapping of the file,
 * surviving SIGBUS.
 *
 * A 4 KiB preadv() from tmpfs costs 1.6-1.7 us of CPU on the reference
 * VMs, a memcpy from a mapping of the same file 0.6-0.75 us (README,
 * "Memory file systems"). A mapping has two hazards a read() has not:
 *
 *   - a page beyond the end of the file (another program truncated the
 *     image) raises SIGBUS;
 *   - a read fault on a hole allocates a page (tmpfs has no shared zero
 *     page), so reads would fill a sparse image, and on a full tmpfs the
 *     allocation fails with SIGBUS.
 *
 * So a file is mapped only when it has no holes (bb_map_open), the
 * caller stops using the mapping once it punches holes itself (discard),
 * and every copy runs under a process-wide SIGBUS handler that jumps back
 * into bb_map_copy, which then reports -EFAULT: the caller serves that
 * I/O (and every later one) with preadv, whose errors are ordinary.
 *
 * A hole punched by someone else (another program, or a discard through
 * another queue's engine instance, which has its own mapping) is read
 * through the mapping as zeros, as it should be, at the price of a page
 * of tmpfs memory; where none is left, that is the SIGBUS above.
 *
 * The handler is installed once, keeping the previous action. A SIGBUS
 * that is not ours (no copy running on the faulting thread) puts the
 * previous action back and returns: the faulting instruction runs again
 * and meets it, as if this file did not exist. From then on copies are
 * refused (-ENOTSUP) and callers read with preadv.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common.h"

static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static struct sigaction old_bus;
static _Atomic bool handler_live;
static _Thread_local sigjmp_buf *volatile copy_jmp;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *j = copy_jmp;

	(void)sig;
	(void)si;
	(void)uc;
	if (j) {
		copy_jmp = NULL;
		siglongjmp(*j, 1);
	}
	atomic_store(&handler_live, false);
	sigaction(SIGBUS, &old_bus, NULL);
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &old_bus) == 0)
		atomic_store(&handler_live, true);
}

int bb_map_open(struct bb_map *m, int fd, uint64_t size)
{
	void *p;
	off_t hole;

	m->base = NULL;
	m->len = 0;
	if (size == 0 || size > (uint64_t)SIZE_MAX)
		return -EINVAL;
	/* A hole would be filled by the first read of it (see above). */
	hole = lseek(fd, 0, SEEK_HOLE);
	if (hole < 0)
		return -errno;
	if ((uint64_t)hole < size)
		return -ENODATA;
	pthread_once(&install_once, install);
	if (!atomic_load(&handler_live))
		return -ENOTSUP;
	p = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	m->base = p;
	m->len = (size_t)size;
	return 0;
}

void bb_map_close(struct bb_map *m)
{
	if (m->base)
		munmap(m->base, m->len);
	m->base = NULL;
	m->len = 0;
}

/* Out of line: nothing the copy changes lives in bb_map_copy's frame
 * across the sigsetjmp. */
static __attribute__((noinline)) void copy_out(const char *src, const struct iovec *iov,
					       uint32_t nr_iov)
{
	for (uint32_t i = 0; i < nr_iov; i++) {
		memcpy(iov[i].iov_base, src, iov[i].iov_len);
		src += iov[i].iov_len;
	}
}

int bb_map_copy(const struct bb_map *m, uint64_t off, const struct iovec *iov,
		uint32_t nr_iov)
{
	sigjmp_buf env;
	uint64_t len = 0;

	if (!m->base || !atomic_load_explicit(&handler_live, memory_order_relaxed))
		return -ENOTSUP;
	for (uint32_t i = 0; i < nr_iov; i++)
		len += iov[i].iov_len;
	if (off > m->len || len > m->len - off)
		return -ERANGE;
	if (sigsetjmp(env, 0)) {
		/* Back from the handler: SIGBUS is still blocked here (the
		 * mask was not saved, which keeps sigsetjmp a few
		 * instructions). */
		sigset_t bus;

		sigemptyset(&bus);
		sigaddset(&bus, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &bus, NULL);
		return -EFAULT;
	}
	copy_jmp = &env;
	atomic_signal_fence(memory_order_seq_cst);
	copy_out(m->base + off, iov, nr_iov);
	atomic_signal_fence(memory_order_seq_cst);
	copy_jmp = NULL;
	return 0;
}
