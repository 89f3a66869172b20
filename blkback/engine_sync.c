/* SPDX-License-Identifier: MIT */
/*
 * The sync engine: pread/pwrite/fdatasync/discard in the queue thread, at
 * submit time. For backings that refuse O_DIRECT and async I/O, and as
 * the reference the other engines are tested against.
 */
#include <errno.h>
#include <stdlib.h>

#include "common.h"

struct sync_ctx {
	const struct blkback_backing *b;
	struct blkback_io **done;
	uint32_t depth, head, count;
	struct blkback_engine_stats st;
};

static int sync_open(const struct blkback_engine_params *p, void **out)
{
	struct sync_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->b = p->backing;
	c->depth = p->depth;
	c->done = calloc(p->depth, sizeof(*c->done));
	if (!c->done) {
		free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

static int sync_submit(void *ctx, struct blkback_io *const *ios, uint32_t n)
{
	struct sync_ctx *c = ctx;
	uint32_t i;

	for (i = 0; i < n && c->count < c->depth; i++) {
		blkback_io_do_sync(c->b, ios[i]);
		c->done[(c->head + c->count++) % c->depth] = ios[i];
		c->st.ios++;
		c->st.submits++;
	}
	return (int)i;
}

static int sync_reap(void *ctx, struct blkback_io **done, uint32_t max, bool wait)
{
	struct sync_ctx *c = ctx;
	uint32_t n = 0;

	(void)wait;
	while (n < max && c->count > 0) {
		done[n++] = c->done[c->head];
		c->head = (c->head + 1) % c->depth;
		c->count--;
	}
	return (int)n;
}

static uint32_t sync_inflight(void *ctx)
{
	return ((struct sync_ctx *)ctx)->count;
}

static void sync_stats(void *ctx, struct blkback_engine_stats *st)
{
	*st = ((struct sync_ctx *)ctx)->st;
}

static void sync_close(void *ctx)
{
	struct sync_ctx *c = ctx;

	free(c->done);
	free(c);
}

const struct blkback_engine_ops blkback_sync_engine = {
	.name = "sync",
	.open = sync_open,
	.submit = sync_submit,
	.reap = sync_reap,
	.inflight = sync_inflight,
	.stats = sync_stats,
	.close = sync_close,
};
