/* SPDX-License-Identifier: MIT */
/* The engines built in, in an explicit array (STYLE practice 10). The
 * lookup is in device.c, so that a program linking its own
 * blkback_engines[] (a test's extra engine) does not pull this file. */
#include "common.h"

extern const struct blkback_engine_ops blkback_uring_engine;
extern const struct blkback_engine_ops blkback_aio_engine;
extern const struct blkback_engine_ops blkback_sync_engine;
extern const struct blkback_engine_ops blkback_null_engine;

const struct blkback_engine_ops *const blkback_engines[] = {
	&blkback_uring_engine, /* the default */
	&blkback_aio_engine,
	&blkback_sync_engine,
	&blkback_null_engine,
	NULL,
};
