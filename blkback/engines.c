/* SPDX-License-Identifier: MIT */
/* The engines built in, in an explicit array (STYLE practice 10). */
#include <string.h>

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

const struct blkback_engine_ops *blkback_engine_find(const char *name)
{
	if (!name)
		return blkback_engines[0];
	for (size_t i = 0; blkback_engines[i]; i++)
		if (strcmp(blkback_engines[i]->name, name) == 0)
			return blkback_engines[i];
	return NULL;
}
