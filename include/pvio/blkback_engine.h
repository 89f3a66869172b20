/* SPDX-License-Identifier: MIT */
/*
 * blkback's driver SDK: the I/O engine interface.
 *
 * blkback turns each validated blkif request into one struct blkback_io
 * (read, write, flush, discard) whose buffers are the granted pages
 * themselves, mapped into the driver domain (zero copy), and hands batches
 * of them to an engine. An engine is a const ops table (STYLE practice 10)
 * listed in the explicit array blkback_engines[]; there is no constructor
 * magic, so an embedder links only the engines it lists.
 *
 *   engine      submit                      reap
 *   io_uring    one io_uring_submit a batch  CQEs (peek, or wait for one)
 *   libaio      one io_submit a batch        io_getevents
 *   sync        pread/pwrite/fdatasync now   the finished list
 *   null        nothing (pure protocol cost) the finished list
 *
 * Threading: blkback opens one engine instance per queue (ring) and drives
 * it from that queue's thread only; an instance needs no locks. Instances
 * of one device share the struct blkback_backing (read-only after open).
 *
 * Every function returns 0 (or a count where it says so) or -errno.
 */
#ifndef PVIO_BLKBACK_ENGINE_H
#define PVIO_BLKBACK_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* What an I/O does. */
enum blkback_io_op {
	BLKBACK_IO_READ = 0,          /* backing -> iov */
	BLKBACK_IO_WRITE = 1,         /* iov -> backing */
	BLKBACK_IO_FLUSH = 2,         /* make completed writes durable (fdatasync) */
	BLKBACK_IO_DISCARD = 3,       /* [offset, offset + len) may read back as anything */
	BLKBACK_IO_SECURE_DISCARD = 4 /* ... and is securely erased (block devices only) */
};

/*
 * One I/O. The request path fills everything but result, and owns the
 * memory; the engine owns the I/O from submit until reap returns it.
 */
struct blkback_io {
	uint8_t op;            /* enum blkback_io_op */
	bool direct;           /* offset, len and every iov are aligned to
				  backing->direct_align: the O_DIRECT fd may serve it */
	uint32_t nr_iov;       /* read/write: 1..; else 0 */
	uint64_t offset;       /* bytes from the start of the backing */
	uint64_t len;          /* bytes (read/write: the iovs' sum) */
	struct iovec *iov;
	int64_t result;        /* out: bytes transferred (read/write), 0
				  (flush/discard), or -errno */
	void *owner;           /* the request path's cookie; engines ignore it */
};

/*
 * The backing store of one device, opened once by blkback
 * (pvio_blkback_create) and shared by every queue's engine.
 */
struct blkback_backing {
	int fd;                /* buffered, O_RDWR (or O_RDONLY when readonly) */
	int direct_fd;         /* the same file with O_DIRECT, or -1 when the
				  file system refuses O_DIRECT */
	bool is_blockdev;
	bool readonly;
	bool can_discard;      /* BLKDISCARD or fallocate(PUNCH_HOLE) works */
	bool can_secure;       /* BLKSECDISCARD works (never for files) */
	uint32_t logical_block;  /* bytes: 512 for files */
	uint32_t physical_block; /* bytes */
	uint32_t direct_align;   /* O_DIRECT alignment: logical_block */
	uint32_t discard_granularity; /* bytes */
	uint64_t size;         /* bytes, a multiple of 512 */
};

/* What blkback tells an engine instance at open. */
struct blkback_engine_params {
	const struct blkback_backing *backing;
	uint32_t depth;        /* most I/Os in flight at once (>= 1) */
	/*
	 * Every buffer blkback will pass lies inside [buf_base, buf_base +
	 * buf_len) (the machine pool mapping on the host platform), or
	 * buf_base is NULL. io_uring may register it as one fixed buffer.
	 */
	void *buf_base;
	size_t buf_len;
	bool fixed_buffers;    /* io_uring: register buf_base (measured) */
};

/* An engine's counters (per instance, read by its owner thread). */
struct blkback_engine_stats {
	uint64_t submits;      /* submit syscalls (or batches) */
	uint64_t ios;          /* I/Os submitted */
	uint64_t fixed_ios;    /* io_uring: served by READ/WRITE_FIXED */
	uint64_t sync_fallbacks; /* done synchronously (discard on a block
				    device, a refused async op) */
	uint64_t inline_ios;   /* io_uring: reads/writes done at submit on a
				  memory file system (tmpfs, ramfs) */
	uint64_t mapped_reads; /* ... of which reads copied from a mapping of
				  the file (no holes in it, no SIGBUS) */
};

struct blkback_engine_ops {
	const char *name;
	/* Open an instance for p (copied). 0, -ENOMEM, -errno of the kernel
	 * (-ENOSYS/-EPERM: the engine is unavailable here). */
	int (*open)(const struct blkback_engine_params *p, void **ctx);
	/*
	 * Start ios[0..n-1]. Returns how many were accepted (0..n, in
	 * order); the caller retries the rest after reaping. An I/O that
	 * fails at once is accepted and reaped with its -errno.
	 */
	int (*submit)(void *ctx, struct blkback_io *const *ios, uint32_t n);
	/*
	 * Move up to max finished I/Os into done[]. With wait, block until at
	 * least one finishes, if any is in flight. Returns the count or
	 * -errno (the instance is unusable).
	 */
	int (*reap)(void *ctx, struct blkback_io **done, uint32_t max, bool wait);
	/* I/Os submitted and not yet reaped. */
	uint32_t (*inflight)(void *ctx);
	void (*stats)(void *ctx, struct blkback_engine_stats *st);
	/*
	 * Optional (NULL means 0). The most I/Os blkback should hand to one
	 * submit call while it is still taking requests off its ring, so
	 * that a device starts on the first ones while the rest are being
	 * prepared; 0: no limit (the whole batch in one call). An instance
	 * whose submit does the work itself (memory, null, sync) has nothing
	 * to start early and answers 0. Constant for the instance's life.
	 */
	uint32_t (*submit_chunk)(void *ctx);
	/* Close; every I/O must have been reaped. */
	void (*close)(void *ctx);
};

/* Every engine built in, NULL-terminated; the first is the default. */
extern const struct blkback_engine_ops *const blkback_engines[];

/* The engine called name ("io_uring", "libaio", "sync", "null"), or the
 * default for NULL; NULL if none is called name. */
const struct blkback_engine_ops *blkback_engine_find(const char *name);

/* ---- helpers engines share ---------------------------------------------- */

/*
 * Do io synchronously on backing (preadv/pwritev until done, fdatasync,
 * fallocate(PUNCH_HOLE) or BLKDISCARD/BLKSECDISCARD), using the O_DIRECT
 * fd when io->direct and one is open. Sets and returns io->result.
 * Any thread.
 */
int64_t blkback_io_do_sync(const struct blkback_backing *backing,
			   struct blkback_io *io);

/* The fd io should go to. */
static inline int blkback_io_fd(const struct blkback_backing *b,
				const struct blkback_io *io)
{
	return io->direct && b->direct_fd >= 0 ? b->direct_fd : b->fd;
}

#endif /* PVIO_BLKBACK_ENGINE_H */
