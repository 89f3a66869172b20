/* SPDX-License-Identifier: MIT */
/*
 * A blkback device: configuration, the backing, the control thread's
 * lifetime, counters and logging. Negotiation is xenbus.c's, the data
 * path blkback.c's.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pvio/host.h>

#include "common.h"

void bb_log(struct pvio_blkback *bb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)pvio_host_ratelog_vprintf(&bb->log, fmt, ap);
	va_end(ap);
}

const struct blkback_engine_ops *blkback_engine_find(const char *name)
{
	if (!name)
		return blkback_engines[0];
	for (size_t i = 0; blkback_engines[i]; i++)
		if (strcmp(blkback_engines[i]->name, name) == 0)
			return blkback_engines[i];
	return NULL;
}

int pvio_blkback_create(const struct pvio_blkback_config *cfg,
			struct pvio_blkback **out)
{
	struct pvio_blkback *bb;
	int rc;

	if (!cfg || !out || !cfg->disk || !cfg->gnt || !cfg->evtchn || !cfg->xs)
		return -EINVAL;
	if (cfg->ring_ops && (!cfg->ring_ops->map || !cfg->ring_ops->unmap))
		return -EINVAL;
	if (cfg->max_queues > BB_MAX_QUEUES ||
	    cfg->max_ring_page_order > PVIO_RING_MAX_PAGE_ORDER ||
	    (!cfg->ring_ops && cfg->max_ring_page_order > 0) ||
	    cfg->max_indirect_segments > BB_MAX_INDIRECT_SEGS ||
	    cfg->grant_policy > PVIO_BLKBACK_GRANTS_MAP)
		return -EINVAL;
	bb = calloc(1, sizeof(*bb));
	if (!bb)
		return -ENOMEM;
	bb->cfg = *cfg;
	bb->disk = *cfg->disk;
	bb->cfg.disk = &bb->disk;
	bb->devid = cfg->devid ? cfg->devid : cfg->disk->devid;
	bb->eng = blkback_engine_find(cfg->engine);
	if (!bb->eng) {
		free(bb);
		return -ENOENT;
	}
	rc = bb_backing_open(&bb->backing, bb->disk.target, bb->disk.readonly);
	if (rc) {
		free(bb);
		return rc;
	}
	pthread_mutex_init(&bb->lock, NULL);
	pvio_host_ratelog_init(&bb->log, BB_LOG_PER_SEC);

	bb->max_queues = cfg->max_queues ? cfg->max_queues : BB_DEFAULT_MAX_QUEUES;
	bb->max_ring_order = cfg->ring_ops ? (cfg->max_ring_page_order ?
					      cfg->max_ring_page_order :
					      PVIO_RING_MAX_PAGE_ORDER) : 0;
	bb->max_indirect = cfg->no_indirect ? 0 :
			   cfg->max_indirect_segments ? cfg->max_indirect_segments :
			   BB_DEFAULT_INDIRECT_SEGS;
	if (bb->max_indirect && bb->max_indirect <= PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST)
		bb->max_indirect = 0; /* no more than direct requests carry */
	bb->persistent_cap = cfg->persistent_cap ? cfg->persistent_cap
						 : PVIO_GNT_CACHE_DEFAULT_CAP;
	bb->offer_persistent = !cfg->no_persistent;

	bb->offer.sectors = bb->backing.size / BB_SECTOR_SIZE;
	bb->offer.readonly = bb->disk.readonly;
	bb->offer.flush = !cfg->no_flush && !bb->disk.readonly;
	bb->offer.barrier = bb->offer.flush;
	bb->offer.discard = !cfg->no_discard && bb->disk.discard != 0 &&
			    bb->backing.can_discard && !bb->disk.readonly;
	bb->offer.secure = bb->offer.discard && bb->backing.can_secure;
	bb->offer.max_indirect = bb->max_indirect;
	bb->lim = bb->offer;
	atomic_store(&bb->state, PVIO_XENBUS_UNKNOWN);
	*out = bb;
	return 0;
}

int pvio_blkback_start(struct pvio_blkback *bb)
{
	if (!bb)
		return -EINVAL;
	return pvio_host_thread_start(&bb->ctl, bb_xenbus_main, bb);
}

void pvio_blkback_stop(struct pvio_blkback *bb)
{
	if (bb)
		pvio_host_thread_stop(&bb->ctl);
}

void pvio_blkback_destroy(struct pvio_blkback *bb)
{
	if (!bb)
		return;
	pvio_blkback_stop(bb);
	bb_queues_destroy(bb);
	bb_backing_close(&bb->backing);
	pthread_mutex_destroy(&bb->lock);
	pvio_host_ratelog_fini(&bb->log);
	free(bb);
}

void bb_queues_destroy(struct pvio_blkback *bb)
{
	struct bb_queue *q;
	uint32_t n;

	pthread_mutex_lock(&bb->lock);
	q = bb->q;
	n = bb->nr_q;
	pthread_mutex_unlock(&bb->lock);
	/* Join outside the lock: stats() stays responsive meanwhile. */
	for (uint32_t i = 0; i < n; i++)
		bb_queue_disconnect(&q[i]);
	pthread_mutex_lock(&bb->lock);
	for (uint32_t i = 0; i < n; i++)
		for (int c = 0; c < C_NR; c++)
			bb_count(&bb->retired, (enum bb_ctr)c,
				 atomic_load_explicit(&q[i].cnt.v[c], memory_order_relaxed));
	bb->q = NULL;
	bb->nr_q = 0;
	pthread_mutex_unlock(&bb->lock);
	free(q);
}

void pvio_blkback_stats(const struct pvio_blkback *cbb, struct pvio_blkback_stats *st)
{
	struct pvio_blkback *bb = (struct pvio_blkback *)cbb;
	uint64_t v[C_NR];

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&bb->lock);
	for (int c = 0; c < C_NR; c++) {
		v[c] = atomic_load_explicit(&bb->retired.v[c], memory_order_relaxed);
		for (uint32_t i = 0; i < bb->nr_q; i++)
			v[c] += atomic_load_explicit(&bb->q[i].cnt.v[c], memory_order_relaxed);
	}
	st->nr_queues = bb->nr_q;
	st->persistent = bb->persistent;
	st->ring_pages = bb->ring_pages;
	pthread_mutex_unlock(&bb->lock);

	st->req_read = v[C_REQ_READ];
	st->req_write = v[C_REQ_WRITE];
	st->req_barrier = v[C_REQ_BARRIER];
	st->req_flush = v[C_REQ_FLUSH];
	st->req_discard = v[C_REQ_DISCARD];
	st->req_indirect = v[C_REQ_INDIRECT];
	st->sectors_read = v[C_SECT_READ];
	st->sectors_written = v[C_SECT_WRITTEN];
	st->err_op = v[C_ERR_OP];
	st->err_segments = v[C_ERR_SEGMENTS];
	st->err_sect = v[C_ERR_SECT];
	st->err_range = v[C_ERR_RANGE];
	st->err_grant = v[C_ERR_GRANT];
	st->err_readonly = v[C_ERR_READONLY];
	st->err_unsupported = v[C_ERR_UNSUPPORTED];
	st->err_io = v[C_ERR_IO];
	st->err_nospc = v[C_ERR_NOSPC];
	st->err_protocol = v[C_ERR_PROTOCOL];
	st->grant_maps = v[C_GNT_MAPS];
	st->grant_unmaps = v[C_GNT_UNMAPS];
	st->persistent_hits = v[C_PERS_HITS];
	st->persistent_misses = v[C_PERS_MISSES];
	st->persistent_evictions = v[C_PERS_EVICT];
	st->kicks_sent = v[C_KICKS];
	st->wakeups = v[C_WAKEUPS];
	st->events = v[C_EVENTS];
	st->storm_delays = v[C_STORM_DELAYS];
	st->engine_submits = v[C_ENG_SUBMITS];
	st->state = atomic_load(&bb->state);
	st->broken = atomic_load(&bb->broken);
	st->connects = atomic_load(&bb->connects);
}

int pvio_blkback_wait_state(const struct pvio_blkback *bb,
			    enum pvio_xenbus_state state, int timeout_ms)
{
	uint64_t end = pvio_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	for (;;) {
		if (atomic_load(&bb->state) == (uint32_t)state)
			return 0;
		if (atomic_load(&bb->broken) && state != PVIO_XENBUS_CLOSED)
			return -EPIPE;
		if (timeout_ms >= 0 && pvio_now_ns() >= end)
			return -ETIMEDOUT;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}
