/* SPDX-License-Identifier: MIT */
/*
 * The null engine: every I/O completes at once, successfully, touching
 * nothing. What remains is the protocol's own cost (ring, grants, event
 * channels), which is what it is for.
 */
#include <errno.h>
#include <stdlib.h>

#include "common.h"

struct null_ctx {
	struct blkback_io **done;
	uint32_t depth, head, count;
	struct blkback_engine_stats st;
};

static int null_open(const struct blkback_engine_params *p, void **out)
{
	struct null_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->depth = p->depth;
	c->done = calloc(p->depth, sizeof(*c->done));
	if (!c->done) {
		free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

static int null_submit(void *ctx, struct blkback_io *const *ios, uint32_t n)
{
	struct null_ctx *c = ctx;
	uint32_t i;

	for (i = 0; i < n && c->count < c->depth; i++) {
		struct blkback_io *io = ios[i];

		io->result = io->op <= BLKBACK_IO_WRITE ? (int64_t)io->len : 0;
		c->done[(c->head + c->count++) % c->depth] = io;
		c->st.ios++;
	}
	if (i)
		c->st.submits++;
	return (int)i;
}

static int null_reap(void *ctx, struct blkback_io **done, uint32_t max, bool wait)
{
	struct null_ctx *c = ctx;
	uint32_t n = 0;

	(void)wait;
	while (n < max && c->count > 0) {
		done[n++] = c->done[c->head];
		c->head = (c->head + 1) % c->depth;
		c->count--;
	}
	return (int)n;
}

static uint32_t null_inflight(void *ctx)
{
	return ((struct null_ctx *)ctx)->count;
}

static void null_stats(void *ctx, struct blkback_engine_stats *st)
{
	*st = ((struct null_ctx *)ctx)->st;
}

static void null_close(void *ctx)
{
	struct null_ctx *c = ctx;

	free(c->done);
	free(c);
}

const struct blkback_engine_ops blkback_null_engine = {
	.name = "null",
	.open = null_open,
	.submit = null_submit,
	.reap = null_reap,
	.inflight = null_inflight,
	.stats = null_stats,
	.close = null_close,
};
