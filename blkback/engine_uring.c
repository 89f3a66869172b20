/* SPDX-License-Identifier: MIT */
/*
 * The io_uring engine (the default). One ring per queue. A batch is
 * prepared as SQEs and handed to the kernel with one io_uring_submit();
 * completions are reaped from the CQ without a syscall when present.
 *
 * - Fixed files: the buffered and O_DIRECT fds are registered (indexes 0
 *   and 1), so the kernel skips the fd table on every I/O.
 * - Fixed buffer (params.fixed_buffers): the whole machine pool mapping is
 *   registered as buffer 0. Every granted page lies inside it, so a
 *   single-iovec read/write becomes READ_FIXED/WRITE_FIXED and the kernel
 *   skips pinning the pages per I/O. Registering pins the whole pool
 *   (populating a sparse memfd), so it is opt-in; see the README's figures.
 *   Multi-iovec requests still use readv/writev (liburing 2.3 has no
 *   vectored fixed op).
 * - Reads and writes on a memory file system (tmpfs, ramfs) run inline,
 *   in the queue thread at submit time. Such a file cannot be read or
 *   written nonblocking (preadv2 RWF_NOWAIT answers EOPNOTSUPP), so
 *   io_uring hands every one of them to an io-wq kernel worker: a wake-up
 *   and a thread switch per 4 KiB memcpy, and on two CPUs a third thread
 *   competing with the frontend and the queue thread. Inline they cost
 *   the copy alone and can never wait for a device. Reads go further:
 *   from a file without holes they are a memcpy from a shared mapping of
 *   it (mapread.c: half the CPU of preadv, and a SIGBUS from a shrunken
 *   file falls back to preadv). Measured in blkback/README.md ("Memory
 *   file systems").
 * - Submission in chunks of URING_CHUNK (submit_chunk): io_uring plugs
 *   the block queue for the length of one io_uring_enter() with more
 *   than two SQEs, so the first of 32 O_DIRECT reads reached the device
 *   only once all 32 had been built (~2 us each on the reference VM).
 *   That device (a virtio disk) answers a whole batch together, so it
 *   then sat empty for that long on every round trip. Measured in
 *   blkback/README.md ("Keeping the disk busy"). Inline I/O has no
 *   device to start early: no chunks there.
 * - Flush is IORING_OP_FSYNC (DATASYNC); discard on a file is
 *   IORING_OP_FALLOCATE(PUNCH_HOLE|KEEP_SIZE); discard on a block device
 *   has no io_uring op here and runs synchronously (BLKDISCARD).
 */
#include <errno.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>

#include "common.h"

#define FIX_BUFFERED 0
#define FIX_DIRECT   1
#define URING_CHUNK  4

struct uring_ctx {
	const struct blkback_backing *b;
	struct io_uring ring;
	bool ring_ok;
	bool fixed_files;
	bool fixed_buf;
	bool inline_rw;            /* memory file system: read/write inline */
	struct bb_map map;         /* inline_rw: reads from here when mapped */
	char *buf_base;
	size_t buf_len;
	struct blkback_io **done;  /* finished synchronously */
	uint32_t depth, head, count, inflight;
	struct blkback_engine_stats st;
};

static void uring_close(void *ctx);

/* Is the backing a file on a memory file system (data in RAM, no device
 * behind it, no nonblocking I/O)? */
static bool memory_backed(const struct blkback_backing *b)
{
	struct statfs sfs;

	if (b->is_blockdev || fstatfs(b->fd, &sfs))
		return false;
	return sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC;
}

static int uring_open(const struct blkback_engine_params *p, void **out)
{
	struct uring_ctx *c = calloc(1, sizeof(*c));
	unsigned entries = 1;
	int rc;

	if (!c)
		return -ENOMEM;
	c->b = p->backing;
	c->depth = p->depth;
	c->inline_rw = memory_backed(c->b);
	if (c->inline_rw)
		(void)bb_map_open(&c->map, c->b->fd, c->b->size); /* else preadv */
	c->done = calloc(p->depth, sizeof(*c->done));
	if (!c->done) {
		uring_close(c);
		return -ENOMEM;
	}
	while (entries < p->depth)
		entries <<= 1;
	rc = io_uring_queue_init(entries, &c->ring, 0);
	if (rc < 0) {
		uring_close(c);
		return rc;
	}
	c->ring_ok = true;
	{
		int fds[2] = { c->b->fd, c->b->direct_fd >= 0 ? c->b->direct_fd : c->b->fd };

		c->fixed_files = io_uring_register_files(&c->ring, fds, 2) == 0;
	}
	if (p->fixed_buffers && p->buf_base && p->buf_len) {
		struct iovec v = { p->buf_base, p->buf_len };

		if (io_uring_register_buffers(&c->ring, &v, 1) == 0) {
			c->fixed_buf = true;
			c->buf_base = p->buf_base;
			c->buf_len = p->buf_len;
		}
	}
	*out = c;
	return 0;
}

static bool in_fixed(const struct uring_ctx *c, const struct iovec *v)
{
	const char *a = v->iov_base;

	return c->fixed_buf && a >= c->buf_base &&
	       (size_t)(a - c->buf_base) <= c->buf_len &&
	       v->iov_len <= c->buf_len - (size_t)(a - c->buf_base);
}

/* A read or write on a memory file system, done now. */
static void inline_rw(struct uring_ctx *c, struct blkback_io *io)
{
	c->st.inline_ios++;
	if (io->op == BLKBACK_IO_READ && c->map.base) {
		int r = bb_map_copy(&c->map, io->offset, io->iov, io->nr_iov);

		if (r == 0) {
			io->result = (int64_t)io->len;
			c->st.mapped_reads++;
			return;
		}
		if (r != -ERANGE)
			bb_map_close(&c->map);
	}
	blkback_io_do_sync(c->b, io);
}

static int uring_submit(void *ctx, struct blkback_io *const *ios, uint32_t n)
{
	struct uring_ctx *c = ctx;
	uint32_t i, prepared = 0;

	for (i = 0; i < n; i++) {
		struct blkback_io *io = ios[i];
		struct io_uring_sqe *sqe;
		bool direct = io->direct && c->b->direct_fd >= 0;
		int fd = c->fixed_files ? (direct ? FIX_DIRECT : FIX_BUFFERED)
					: blkback_io_fd(c->b, io);

		if (c->inflight + c->count + prepared >= c->depth)
			break;
		if (c->inline_rw && io->op <= BLKBACK_IO_WRITE) {
			inline_rw(c, io);
			c->done[(c->head + c->count++) % c->depth] = io;
			continue;
		}
		if (io->op == BLKBACK_IO_DISCARD && c->map.base)
			bb_map_close(&c->map); /* holes from now on */
		if (io->op == BLKBACK_IO_SECURE_DISCARD ||
		    (io->op == BLKBACK_IO_DISCARD && c->b->is_blockdev)) {
			if (prepared > 0)
				break; /* accepted ones stay a prefix */
			blkback_io_do_sync(c->b, io);
			c->done[(c->head + c->count++) % c->depth] = io;
			c->st.sync_fallbacks++;
			continue;
		}
		sqe = io_uring_get_sqe(&c->ring);
		if (!sqe)
			break;
		switch (io->op) {
		case BLKBACK_IO_READ:
			if (io->nr_iov == 1 && in_fixed(c, &io->iov[0])) {
				io_uring_prep_read_fixed(sqe, fd, io->iov[0].iov_base,
							 (unsigned)io->iov[0].iov_len,
							 io->offset, 0);
				c->st.fixed_ios++;
			} else {
				io_uring_prep_readv(sqe, fd, io->iov, io->nr_iov, io->offset);
			}
			break;
		case BLKBACK_IO_WRITE:
			if (io->nr_iov == 1 && in_fixed(c, &io->iov[0])) {
				io_uring_prep_write_fixed(sqe, fd, io->iov[0].iov_base,
							  (unsigned)io->iov[0].iov_len,
							  io->offset, 0);
				c->st.fixed_ios++;
			} else {
				io_uring_prep_writev(sqe, fd, io->iov, io->nr_iov, io->offset);
			}
			break;
		case BLKBACK_IO_FLUSH:
			io_uring_prep_fsync(sqe, c->fixed_files ? FIX_BUFFERED : c->b->fd,
					    IORING_FSYNC_DATASYNC);
			break;
		default: /* BLKBACK_IO_DISCARD on a file */
			io_uring_prep_fallocate(sqe, c->fixed_files ? FIX_BUFFERED : c->b->fd,
						FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						io->offset, io->len);
			break;
		}
		if (c->fixed_files)
			sqe->flags |= IOSQE_FIXED_FILE;
		io_uring_sqe_set_data(sqe, io);
		prepared++;
	}
	if (prepared > 0) {
		int r;

		do {
			r = io_uring_submit(&c->ring);
		} while (r == -EINTR);
		c->st.submits++;
		if (r < 0) {
			/* The SQEs stay queued in the SQ ring and go with the
			 * next submit; count them in flight. */
			r = (int)prepared;
		}
		c->inflight += prepared;
		c->st.ios += prepared;
	}
	return (int)i;
}

static int uring_reap(void *ctx, struct blkback_io **done, uint32_t max, bool wait)
{
	struct uring_ctx *c = ctx;
	struct io_uring_cqe *cqe;
	uint32_t n = 0;

	while (n < max && c->count > 0) {
		done[n++] = c->done[c->head];
		c->head = (c->head + 1) % c->depth;
		c->count--;
	}
	if (n == 0 && wait && c->inflight > 0) {
		int r;

		do {
			r = io_uring_wait_cqe(&c->ring, &cqe);
		} while (r == -EINTR);
		if (r < 0)
			return r;
	}
	while (n < max && c->inflight > 0) {
		unsigned head, seen = 0;

		io_uring_for_each_cqe(&c->ring, head, cqe) {
			struct blkback_io *io = io_uring_cqe_get_data(cqe);

			io->result = cqe->res;
			done[n++] = io;
			seen++;
			c->inflight--;
			if (n == max)
				break;
		}
		io_uring_cq_advance(&c->ring, seen);
		if (seen == 0)
			break;
	}
	return (int)n;
}

static uint32_t uring_inflight(void *ctx)
{
	struct uring_ctx *c = ctx;

	return c->inflight + c->count;
}

static void uring_stats(void *ctx, struct blkback_engine_stats *st)
{
	*st = ((struct uring_ctx *)ctx)->st;
}

static uint32_t uring_submit_chunk(void *ctx)
{
	return ((struct uring_ctx *)ctx)->inline_rw ? 0 : URING_CHUNK;
}

static void uring_close(void *ctx)
{
	struct uring_ctx *c = ctx;

	bb_map_close(&c->map);
	if (c->ring_ok)
		io_uring_queue_exit(&c->ring);
	free(c->done);
	free(c);
}

const struct blkback_engine_ops blkback_uring_engine = {
	.name = "io_uring",
	.open = uring_open,
	.submit = uring_submit,
	.reap = uring_reap,
	.inflight = uring_inflight,
	.stats = uring_stats,
	.submit_chunk = uring_submit_chunk,
	.close = uring_close,
};
