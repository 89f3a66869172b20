/* SPDX-License-Identifier: MIT */
/*
 * The libaio engine: Linux native AIO. A batch is one io_submit; reaping
 * is io_getevents. Reads, writes and fdatasync (IOCB_CMD_FDSYNC) go
 * asynchronously; discard has no AIO command and runs synchronously, as
 * does an fdsync the file system refuses (EINVAL).
 * Native AIO is asynchronous only with O_DIRECT; buffered requests block
 * in io_submit, which is still correct. io_submit plugs the block queue
 * for more than two iocbs, as io_uring_enter does, so blkback hands it
 * AIO_CHUNK at a time (engine_uring.c has why; not measured for libaio).
 */
#include <errno.h>
#include <libaio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

struct aio_ctx {
	const struct blkback_backing *b;
	io_context_t ioctx;
	struct iocb *iocbs;
	struct iocb **ptrs;          /* submission scratch */
	uint32_t *free_list;
	uint32_t nr_free;
	struct io_event *events;
	struct blkback_io **done;    /* finished synchronously */
	uint32_t depth, head, count, inflight;
	struct blkback_engine_stats st;
};

#define AIO_CHUNK 4

static void aio_close(void *ctx);

static int aio_open(const struct blkback_engine_params *p, void **out)
{
	struct aio_ctx *c = calloc(1, sizeof(*c));
	int rc;

	if (!c)
		return -ENOMEM;
	c->b = p->backing;
	c->depth = p->depth;
	c->iocbs = calloc(p->depth, sizeof(*c->iocbs));
	c->ptrs = calloc(p->depth, sizeof(*c->ptrs));
	c->free_list = calloc(p->depth, sizeof(*c->free_list));
	c->events = calloc(p->depth, sizeof(*c->events));
	c->done = calloc(p->depth, sizeof(*c->done));
	if (!c->iocbs || !c->ptrs || !c->free_list || !c->events || !c->done) {
		aio_close(c);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < p->depth; i++)
		c->free_list[i] = p->depth - 1 - i;
	c->nr_free = p->depth;
	rc = io_setup((int)p->depth, &c->ioctx);
	if (rc < 0) {
		c->ioctx = 0;
		aio_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

static void finish_now(struct aio_ctx *c, struct blkback_io *io)
{
	c->done[(c->head + c->count++) % c->depth] = io;
	c->st.sync_fallbacks++;
}

static int aio_submit(void *ctx, struct blkback_io *const *ios, uint32_t n)
{
	struct aio_ctx *c = ctx;
	uint32_t i, nr = 0;

	for (i = 0; i < n; i++) {
		struct blkback_io *io = ios[i];
		int fd = blkback_io_fd(c->b, io);
		struct iocb *cb;

		if (c->inflight + c->count + nr >= c->depth)
			break;
		if (io->op == BLKBACK_IO_DISCARD || io->op == BLKBACK_IO_SECURE_DISCARD) {
			/* Accepted ones must be a prefix: only with nothing
			 * queued before it in this batch. */
			if (nr > 0)
				break;
			blkback_io_do_sync(c->b, io);
			finish_now(c, io);
			continue;
		}
		cb = &c->iocbs[c->free_list[--c->nr_free]];
		if (io->op == BLKBACK_IO_READ)
			io_prep_preadv(cb, fd, io->iov, (int)io->nr_iov, (long long)io->offset);
		else if (io->op == BLKBACK_IO_WRITE)
			io_prep_pwritev(cb, fd, io->iov, (int)io->nr_iov, (long long)io->offset);
		else
			io_prep_fdsync(cb, c->b->fd);
		cb->data = io;
		c->ptrs[nr++] = cb;
	}
	uint32_t off = 0;
	while (off < nr) {
		int r = io_submit(c->ioctx, (long)(nr - off), c->ptrs + off);

		c->st.submits++;
		if (r > 0) {
			c->inflight += (uint32_t)r;
			c->st.ios += (uint32_t)r;
			off += (uint32_t)r;
			continue;
		}
		if (r == -EAGAIN || r == 0)
			break;
		/* The first one was refused: finish it here (fdsync the file
		 * system lacks, or a bad request), then go on. */
		struct blkback_io *io = c->ptrs[off]->data;

		if (io->op == BLKBACK_IO_FLUSH && r == -EINVAL)
			blkback_io_do_sync(c->b, io);
		else
			io->result = r;
		c->free_list[c->nr_free++] = (uint32_t)(c->ptrs[off] - c->iocbs);
		finish_now(c, io);
		off++;
	}
	if (off < nr) {
		/* Not accepted: give the iocbs back; the caller retries. */
		struct blkback_io *first = c->ptrs[off]->data;

		for (uint32_t k = off; k < nr; k++)
			c->free_list[c->nr_free++] = (uint32_t)(c->ptrs[k] - c->iocbs);
		for (i = 0; i < n && ios[i] != first; i++)
			;
	}
	return (int)i;
}

static int aio_reap(void *ctx, struct blkback_io **done, uint32_t max, bool wait)
{
	struct aio_ctx *c = ctx;
	uint32_t n = 0;

	while (n < max && c->count > 0) {
		done[n++] = c->done[c->head];
		c->head = (c->head + 1) % c->depth;
		c->count--;
	}
	if (n < max && c->inflight > 0) {
		long want = (long)(max - n);
		int r;

		if (want > (long)c->inflight)
			want = (long)c->inflight;
		do {
			r = io_getevents(c->ioctx, (wait && n == 0) ? 1 : 0, want,
					 c->events, NULL);
		} while (r == -EINTR);
		if (r < 0)
			return n ? (int)n : r;
		for (int k = 0; k < r; k++) {
			struct blkback_io *io = c->events[k].data;
			long res = (long)c->events[k].res;

			io->result = res;
			c->free_list[c->nr_free++] = (uint32_t)(c->events[k].obj - c->iocbs);
			c->inflight--;
			done[n++] = io;
		}
	}
	return (int)n;
}

static uint32_t aio_inflight(void *ctx)
{
	struct aio_ctx *c = ctx;

	return c->inflight + c->count;
}

static void aio_stats(void *ctx, struct blkback_engine_stats *st)
{
	*st = ((struct aio_ctx *)ctx)->st;
}

static void aio_close(void *ctx)
{
	struct aio_ctx *c = ctx;

	if (c->ioctx)
		io_destroy(c->ioctx);
	free(c->iocbs);
	free(c->ptrs);
	free(c->free_list);
	free(c->events);
	free(c->done);
	free(c);
}

static uint32_t aio_submit_chunk(void *ctx)
{
	(void)ctx;
	return AIO_CHUNK;
}

const struct blkback_engine_ops blkback_aio_engine = {
	.name = "libaio",
	.open = aio_open,
	.submit = aio_submit,
	.reap = aio_reap,
	.inflight = aio_inflight,
	.stats = aio_stats,
	.submit_chunk = aio_submit_chunk,
	.close = aio_close,
};
