/* SPDX-License-Identifier: MIT */
/*
 * The request path: one thread per queue.
 *
 *   ring --get_req (copy out once)--> bb_req_check --> indirect pages
 *   (mapped read-only, segments copied out, unmapped) --> bb_segs_check
 *   --> data pages (persistent cache or map per request) --> iovecs
 *   straight into the granted pages (zero copy) --> engine batch
 *   --> completion --> unmap / cache put --> response --> push + kick
 *
 * The loop drains the ring (every request it can take), handing the
 * engine its batch (in chunks where the engine asks), reaps
 * what finished, pushes all responses with one push (one kick at most),
 * and only when there is nothing to do re-arms req_event (final check)
 * and waits for an event.
 *
 * A request the frontend got wrong is answered at once with ERROR (or
 * EOPNOTSUPP) and counted. A ring protocol violation (-EPROTO from the
 * ring) stops this queue: its event channel is masked, the device is
 * flagged broken, and the control thread (xenbus.c) makes it fatal.
 * Nothing the frontend writes can make this thread crash or read outside
 * a granted page: segment bounds are checked on private copies before any
 * pointer is formed.
 *
 * This file never reads the store (STYLE practice 11).
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pvio/evtchn_waiter_reg.h>
#include <pvio/host.h>

#include "common.h"

#define NIL UINT32_MAX

/* ---- grant policy ----------------------------------------------------------- */

/*
 * Persistent cache or map per request, decided per request. Measured with
 * tests/blkback/blkback_grant_bench.c (figures in blkback/README.md;
 * grant cost per request, one CPU): while the frontend's working set
 * (queue depth x pages per request) fits the cache (1056 refs per ring),
 * hits cost 12-30 ns a request for 1-4 pages and ~7 ns a page beyond,
 * against 46 ns (1 page) to ~300-400 ns a page for batched map + unmap:
 * the cache wins 3x to 50x. Once the working set exceeds the cache, every
 * lookup misses, evicts (unmap) and maps, and the cache loses 1.3x-1.7x
 * to plain map + unmap (11 pages x QD128, 32 x QD128, 128 x QD32).
 * So: use the cache while it has room or is mostly hitting; once it is
 * full and thrashing (more than half the recent lookups missed), map per
 * request, probing the cache every 64th request to notice recovery.
 */
static bool bb_use_cache(struct bb_queue *q, uint32_t n)
{
	enum pvio_blkback_grant_policy pol = q->bb->cfg.grant_policy;

	if (!q->persistent || pol == PVIO_BLKBACK_GRANTS_MAP)
		return false;
	if (pol == PVIO_BLKBACK_GRANTS_PERSISTENT)
		return true;
	if (q->cache.nr + n <= q->cache.cap)
		return true;   /* room: every miss is a plain map, kept */
	if (q->win_misses * 2 <= q->win_lookups)
		return true;   /* full but mostly hitting */
	/* Thrashing: map per request, probing the cache now and then so a
	 * frontend that settles back into its working set is noticed. */
	return (++q->probe & 63) == 0;
}

/* ---- pending requests ----------------------------------------------------------- */

static struct bb_pending *pend_get(struct bb_queue *q)
{
	struct bb_pending *p;

	if (q->free_head == NIL)
		return NULL;
	p = &q->pend[q->free_head];
	q->free_head = p->next_free;
	p->in_use = true;
	p->nr_pages = p->nr_mapped = 0;
	p->stage = 0;
	memset(&p->io, 0, sizeof(p->io));
	p->io.owner = p;
	p->io.iov = p->iov;
	return p;
}

static void pend_put(struct bb_queue *q, struct bb_pending *p)
{
	p->in_use = false;
	p->next_free = q->free_head;
	q->free_head = (uint32_t)(p - q->pend);
}

/* ---- responses ------------------------------------------------------------------- */

static void respond(struct bb_queue *q, uint64_t id, uint8_t op, int16_t status)
{
	struct pvio_blkif_response *rsp = pvio_blkif_back_next_rsp(&q->ring);

	if (!rsp)
		return; /* broken ring: nothing more goes out */
	rsp->id = id;
	rsp->operation = op;
	rsp->pad = 0;
	rsp->status = status;
	rsp->pad1 = 0;
}

/* Publish responses; kick the frontend if its rsp_event asks for it. */
static void push_responses(struct bb_queue *q)
{
	if (pvio_ring_back_push(&q->ring) == 1) {
		(void)pvio_evtchn_notify(q->bb->cfg.evtchn, q->port);
		bb_count(&q->cnt, C_KICKS, 1);
	}
}

/* A refused request: logged (rate-limited) with the reason. */
static void log_refused(struct bb_queue *q, uint64_t id, const char *why)
{
	bb_log(q->bb, "blkback %u/%u queue %u: request %llu refused (%s)",
	       q->bb->cfg.fe, q->bb->devid, q->idx, (unsigned long long)id, why);
}

static void count_verdict(struct bb_queue *q, enum bb_verdict v, uint64_t id)
{
	static const enum bb_ctr map[] = {
		[BB_BAD_OP] = C_ERR_OP,
		[BB_BAD_SEGMENTS] = C_ERR_SEGMENTS,
		[BB_BAD_SECT] = C_ERR_SECT,
		[BB_BAD_RANGE] = C_ERR_RANGE,
		[BB_READONLY] = C_ERR_READONLY,
		[BB_UNSUPPORTED] = C_ERR_UNSUPPORTED,
	};

	static const char *const why[] = {
		[BB_BAD_OP] = "bad operation",
		[BB_BAD_SEGMENTS] = "bad segment count",
		[BB_BAD_SECT] = "bad sector in a segment",
		[BB_BAD_RANGE] = "beyond the disk",
		[BB_READONLY] = "read-only disk",
		[BB_UNSUPPORTED] = "feature not offered",
	};

	if (v != BB_OK)
		bb_count(&q->cnt, map[v], 1);
	if (v != BB_OK && v != BB_UNSUPPORTED)
		log_refused(q, id, why[v]);
}

/* ---- grants -------------------------------------------------------------------- */

static void sync_cache_counters(struct bb_queue *q, const struct pvio_gnt_cache_stats *before,
				uint32_t nr_before)
{
	uint64_t hits = q->cache.st.hits - before->hits;
	uint64_t misses = q->cache.st.misses - before->misses;
	uint64_t evictions = q->cache.st.evictions - before->evictions;

	bb_count(&q->cnt, C_PERS_HITS, hits);
	bb_count(&q->cnt, C_PERS_MISSES, misses);
	bb_count(&q->cnt, C_PERS_EVICT, evictions);
	/* A miss that found no room (-ENOSPC) or failed to map counts as a
	 * miss but maps nothing: count the maps from the entries instead. */
	bb_count(&q->cnt, C_GNT_MAPS, (uint64_t)(q->cache.nr - nr_before) + evictions);
	bb_count(&q->cnt, C_GNT_UNMAPS, evictions);
	/* The policy's window: recent lookups, halved as it fills. */
	q->win_lookups += (uint32_t)(hits + misses);
	q->win_misses += (uint32_t)misses;
	if (q->win_lookups >= 4096) {
		q->win_lookups /= 2;
		q->win_misses /= 2;
	}
}

/* Give back every page of p (cache put or unmap). */
static void pages_release(struct bb_queue *q, struct bb_pending *p)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < p->nr_pages; i++) {
		struct bb_page *pg = &p->pages[i];

		if (pg->ce)
			pvio_gnt_cache_put(&q->cache, pg->ce);
		else if (pg->handle != NIL)
			q->unmapops[n++].handle = pg->handle;
		pg->ce = NULL;
		pg->handle = NIL;
	}
	if (n) {
		(void)pvio_gnt_unmap(q->bb->cfg.gnt, q->unmapops, n);
		bb_count(&q->cnt, C_GNT_UNMAPS, n);
	}
	p->nr_pages = 0;
}

/*
 * Make segs[0..n-1] into p->iov, mapping their pages. Read requests map
 * writable (the backend writes the guest's page), writes read-only.
 * Returns 0 or -EACCES (a grant failed: nothing stays mapped).
 */
static int pages_map(struct bb_queue *q, struct bb_pending *p,
		     const struct pvio_blkif_segment *segs, uint32_t n, bool to_guest)
{
	struct pvio_blkback *bb = q->bb;
	uint16_t flags = to_guest ? 0 : PVIO_GNTMAP_readonly;
	bool cache = bb_use_cache(q, n);
	struct pvio_gnt_cache_stats before = q->cache.st;
	uint32_t nr_before = q->cache.nr, nmap = 0, niov = 0;
	bool failed = false;

	p->nr_pages = n;
	for (uint32_t i = 0; i < n; i++) {
		struct bb_page *pg = &p->pages[i];

		pg->ce = NULL;
		pg->handle = NIL;
		pg->addr = NULL;
		if (cache) {
			/* Persistent grants are mapped writable, as Linux does:
			 * the same ref may serve reads and writes later. A
			 * read-only grant (-EACCES) or a cache full of pages in
			 * use (-ENOSPC) maps per request instead. */
			if (pvio_gnt_cache_get(&q->cache, bb->cfg.fe, segs[i].gref, 0,
					       ++q->tick, &pg->ce) == 0) {
				pg->addr = pg->ce->addr;
				continue;
			}
			pg->ce = NULL;
		}
		q->mapops[nmap].ref = segs[i].gref;
		q->mapops[nmap].dom = bb->cfg.fe;
		q->mapops[nmap].flags = flags;
		q->mapops[nmap].status = 0;
		q->mapops[nmap].addr = NULL;
		q->mapidx[nmap++] = i;
	}
	if (cache)
		sync_cache_counters(q, &before, nr_before);
	if (nmap) {
		(void)pvio_gnt_map(bb->cfg.gnt, q->mapops, nmap);
		for (uint32_t k = 0; k < nmap; k++) {
			struct bb_page *pg = &p->pages[q->mapidx[k]];

			if (q->mapops[k].status != PVIO_GNTST_okay) {
				failed = true;
				continue;
			}
			pg->handle = q->mapops[k].handle;
			pg->addr = q->mapops[k].addr;
			bb_count(&q->cnt, C_GNT_MAPS, 1);
		}
	}
	if (failed) {
		pages_release(q, p);
		return -EACCES;
	}
	/* The iovecs: page + first_sect, merging neighbours in memory. */
	for (uint32_t i = 0; i < n; i++) {
		char *base = (char *)p->pages[i].addr +
			     (size_t)segs[i].first_sect * BB_SECTOR_SIZE;
		size_t len = (size_t)(segs[i].last_sect - segs[i].first_sect + 1) *
			     BB_SECTOR_SIZE;

		if (niov > 0 && (char *)p->iov[niov - 1].iov_base +
					p->iov[niov - 1].iov_len == base) {
			p->iov[niov - 1].iov_len += len;
		} else {
			p->iov[niov].iov_base = base;
			p->iov[niov].iov_len = len;
			niov++;
		}
	}
	p->io.nr_iov = niov;
	return 0;
}

/*
 * Copy the segments of an indirect request out of its indirect pages
 * (mapped read-only for the copy only) into q->segs.
 * Returns 0 or -EACCES.
 */
static int indirect_copy_out(struct bb_queue *q, const struct bb_req *req)
{
	struct pvio_blkback *bb = q->bb;
	uint32_t left = req->nr_segs, out = 0;
	int rc = 0;

	for (uint32_t i = 0; i < req->nr_indirect; i++) {
		q->mapops[i].ref = req->indirect_grefs[i];
		q->mapops[i].dom = bb->cfg.fe;
		q->mapops[i].flags = PVIO_GNTMAP_readonly;
		q->mapops[i].status = 0;
	}
	(void)pvio_gnt_map(bb->cfg.gnt, q->mapops, req->nr_indirect);
	for (uint32_t i = 0; i < req->nr_indirect; i++) {
		uint32_t n = left < PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE ?
				     left : (uint32_t)PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE;

		if (q->mapops[i].status != PVIO_GNTST_okay) {
			rc = -EACCES;
			continue;
		}
		bb_count(&q->cnt, C_GNT_MAPS, 1);
		if (rc == 0) {
			/* The only read of the indirect page: a private copy. */
			memcpy(&q->segs[out], q->mapops[i].addr,
			       n * sizeof(struct pvio_blkif_segment));
			out += n;
			left -= n;
		}
	}
	{
		uint32_t nu = 0;

		for (uint32_t i = 0; i < req->nr_indirect; i++)
			if (q->mapops[i].status == PVIO_GNTST_okay)
				q->unmapops[nu++].handle = q->mapops[i].handle;
		if (nu) {
			(void)pvio_gnt_unmap(bb->cfg.gnt, q->unmapops, nu);
			bb_count(&q->cnt, C_GNT_UNMAPS, nu);
		}
	}
	return rc;
}

/* ---- requests -------------------------------------------------------------------- */

static void batch_add(struct bb_queue *q, struct bb_pending *p)
{
	q->batch[q->nr_batch++] = &p->io;
}

/* Can the O_DIRECT fd serve this I/O? Offsets and every iovec aligned. */
static bool io_direct_ok(const struct bb_queue *q, const struct blkback_io *io)
{
	const struct blkback_backing *b = &q->bb->backing;
	uint32_t a = b->direct_align;

	if (b->direct_fd < 0 || (io->offset % a) != 0)
		return false;
	for (uint32_t i = 0; i < io->nr_iov; i++)
		if (((uintptr_t)io->iov[i].iov_base % a) || (io->iov[i].iov_len % a))
			return false;
	return true;
}

static void handle_request(struct bb_queue *q, const struct pvio_blkif_request *raw)
{
	struct pvio_blkback *bb = q->bb;
	struct bb_req req;
	enum bb_verdict v = bb_req_check(&bb->lim, raw, &req);
	uint8_t rsp_op = req.wire_op;
	struct bb_pending *p;
	const struct pvio_blkif_segment *segs;
	uint64_t nr_sectors = 0;

	switch (req.kind) {
	case BB_KIND_READ:
		if (v != BB_BAD_OP)
			bb_count(&q->cnt, C_REQ_READ, 1);
		break;
	case BB_KIND_WRITE:
		bb_count(&q->cnt, C_REQ_WRITE, 1);
		break;
	case BB_KIND_FLUSH:
		bb_count(&q->cnt, C_REQ_FLUSH, 1);
		break;
	case BB_KIND_BARRIER:
		bb_count(&q->cnt, C_REQ_BARRIER, 1);
		break;
	case BB_KIND_DISCARD:
		bb_count(&q->cnt, C_REQ_DISCARD, 1);
		break;
	}
	if (req.indirect) {
		bb_count(&q->cnt, C_REQ_INDIRECT, 1);
		if (v == BB_OK)
			rsp_op = req.kind == BB_KIND_READ ? PVIO_BLKIF_OP_READ
							  : PVIO_BLKIF_OP_WRITE;
	}
	if (v != BB_OK)
		goto refuse;

	p = pend_get(q); /* cannot fail: one pending per ring slot */
	p->id = req.id;
	p->wire_op = rsp_op;
	p->kind = req.kind;

	if (req.kind == BB_KIND_DISCARD) {
		p->io.op = req.secure ? BLKBACK_IO_SECURE_DISCARD : BLKBACK_IO_DISCARD;
		p->io.offset = req.sector * BB_SECTOR_SIZE;
		p->io.len = req.nr_sectors * BB_SECTOR_SIZE;
		p->nr_sectors = 0;
		batch_add(q, p);
		return;
	}
	if (req.nr_segs == 0) { /* flush or barrier without data */
		p->io.op = BLKBACK_IO_FLUSH;
		p->stage = 1;
		goto queue;
	}
	segs = req.seg;
	if (req.indirect) {
		if (indirect_copy_out(q, &req)) {
			pend_put(q, p);
			bb_count(&q->cnt, C_ERR_GRANT, 1);
			log_refused(q, req.id, "an indirect page's grant did not map");
			respond(q, req.id, rsp_op, PVIO_BLKIF_RSP_ERROR);
			return;
		}
		segs = q->segs;
	}
	v = bb_segs_check(&bb->lim, req.sector, segs, req.nr_segs, &nr_sectors);
	if (v != BB_OK) {
		pend_put(q, p);
		goto refuse;
	}
	if (pages_map(q, p, segs, req.nr_segs, req.kind == BB_KIND_READ)) {
		pend_put(q, p);
		bb_count(&q->cnt, C_ERR_GRANT, 1);
		log_refused(q, req.id, "a data page's grant did not map");
		respond(q, req.id, rsp_op, PVIO_BLKIF_RSP_ERROR);
		return;
	}
	p->io.op = req.kind == BB_KIND_READ ? BLKBACK_IO_READ : BLKBACK_IO_WRITE;
	p->io.offset = req.sector * BB_SECTOR_SIZE;
	p->io.len = nr_sectors * BB_SECTOR_SIZE;
	p->io.direct = io_direct_ok(q, &p->io);
	p->nr_sectors = nr_sectors;
queue:
	if (req.kind == BB_KIND_BARRIER && (q->inflight > 0 || q->nr_batch > 0)) {
		q->held = p; /* drain first, as Linux's xen_blk_drain_io */
		return;
	}
	batch_add(q, p);
	return;
refuse:
	count_verdict(q, v, req.id);
	respond(q, req.id, rsp_op, bb_verdict_status(v));
}

static void complete(struct bb_queue *q, struct blkback_io *io)
{
	struct bb_pending *p = io->owner;
	int16_t status = PVIO_BLKIF_RSP_OKAY;

	if (io->result == -EINVAL && io->direct) {
		/* The file system refused this O_DIRECT I/O after all. */
		io->direct = false;
		blkback_io_do_sync(&q->bb->backing, io);
	}
	if (io->op <= BLKBACK_IO_WRITE && io->result >= 0 &&
	    (uint64_t)io->result != io->len)
		io->result = -EIO; /* short: the backing shrank under us */
	if (io->result >= 0 && p->stage == 0 &&
	    (p->kind == BB_KIND_FLUSH || p->kind == BB_KIND_BARRIER)) {
		/* Data written: now make it (and all before) durable. */
		pages_release(q, p);
		if (io->op == BLKBACK_IO_WRITE)
			bb_count(&q->cnt, C_SECT_WRITTEN, p->nr_sectors);
		p->stage = 1;
		memset(&p->io, 0, sizeof(p->io));
		p->io.owner = p;
		p->io.iov = p->iov;
		p->io.op = BLKBACK_IO_FLUSH;
		batch_add(q, p);
		return;
	}
	if (io->result < 0) {
		int64_t e = io->result;

		if ((io->op == BLKBACK_IO_FLUSH || io->op >= BLKBACK_IO_DISCARD) &&
		    (e == -EOPNOTSUPP || e == -ENOTTY)) {
			status = PVIO_BLKIF_RSP_EOPNOTSUPP;
			bb_count(&q->cnt, C_ERR_UNSUPPORTED, 1);
		} else {
			status = PVIO_BLKIF_RSP_ERROR;
			bb_count(&q->cnt, e == -ENOSPC || e == -EDQUOT ? C_ERR_NOSPC
								       : C_ERR_IO, 1);
		}
	} else if (io->op == BLKBACK_IO_READ) {
		bb_count(&q->cnt, C_SECT_READ, p->nr_sectors);
	} else if (io->op == BLKBACK_IO_WRITE) {
		bb_count(&q->cnt, C_SECT_WRITTEN, p->nr_sectors);
	}
	pages_release(q, p);
	respond(q, p->id, p->wire_op, status);
	pend_put(q, p);
}

/* Submit the batch; what the engine cannot take yet stays queued. */
static void submit_batch(struct bb_queue *q)
{
	uint32_t off = 0;

	while (off < q->nr_batch) {
		int k = q->eng->submit(q->eng_ctx, q->batch + off, q->nr_batch - off);

		if (k <= 0)
			break;
		bb_count(&q->cnt, C_ENG_SUBMITS, 1);
		q->inflight += (uint32_t)k;
		off += (uint32_t)k;
	}
	if (off > 0 && off < q->nr_batch)
		memmove(q->batch, q->batch + off, (q->nr_batch - off) * sizeof(*q->batch));
	q->nr_batch -= off;
}

/* Reap finished I/O; returns how many. */
static int reap(struct bb_queue *q, bool wait)
{
	int n = q->eng->reap(q->eng_ctx, q->done, q->nr_pend, wait);

	if (n <= 0)
		return n;
	q->inflight -= (uint32_t)n;
	for (int i = 0; i < n; i++)
		complete(q, q->done[i]);
	if (q->held && q->inflight == 0 && q->nr_batch == 0) {
		batch_add(q, q->held);
		q->held = NULL;
	}
	return n;
}

/*
 * Take every request the ring holds (while pending slots last). Where the
 * engine asks for chunks (a device behind io_uring or libaio), hand them
 * over that many at a time as they come, so the device starts on the
 * first ones while the rest are being checked and mapped (why:
 * engine_uring.c); else in one call after the loop.
 * Returns the count or -EPROTO.
 */
static int consume(struct bb_queue *q)
{
	int n = 0;

	while (q->free_head != NIL && !q->held) {
		struct pvio_blkif_request raw;
		int r = pvio_blkif_back_get_req(&q->ring, &raw);

		if (r < 0)
			return r;
		if (r == 0)
			break;
		handle_request(q, &raw);
		n++;
		if (q->submit_chunk && q->nr_batch >= q->submit_chunk)
			submit_batch(q);
	}
	return n;
}

/* ---- waiting ------------------------------------------------------------------- */

/*
 * Each queue thread waits on its own event-channel waiter (Xen's
 * per-vCPU delivery): its port is routed there with
 * pvio_evtchn_bind_waiter(), so a kick wakes exactly this thread. Waiter
 * 0 stays with whoever else uses the domain's handle; blkback takes 1..127
 * from its process-wide registry per handle. With none free (more than
 * 127 queues on one handle) a queue polls its port instead, sleeping in
 * growing steps up to 1 ms: it answers later than a queue with a waiter
 * and costs a wake-up per step, which is why there are so many. With 15,
 * 49 of the scale test's 64 vbd queues polled; with a waiter each, its
 * block IOPS went from 125-132K to 189-194K (tests/scale/README.md).
 */
/* netback takes the waiters from 255 down to 128 of the same handle, from
 * its own registry (netback/interface.c): blkback keeps below, so a
 * driver domain serving both never has two threads on one waiter (each
 * would steal the other's events and leave it asleep until its 50 ms
 * timeout). */
static struct pvio_evtchn_waiter_reg bb_waiters =
	PVIO_EVTCHN_WAITER_REG_INIT(1, PVIO_EVTCHN_NR_WAITERS / 2 - 1);

/* Wait for this queue's event (or ~50 ms, to notice a stop).
 * Returns whether an event arrived. */
static bool wait_event(struct bb_queue *q)
{
	struct pvio_evtchn *ev = q->bb->cfg.evtchn;

	if (q->waiter != PVIO_EVTCHN_NO_WAITER) {
		uint32_t ports[4];
		struct pvio_evtchn_stats a, b;
		enum pvio_evtchn_wait_mode mode = q->wait_mode;
		int r;

		if (mode == PVIO_EVTCHN_ADAPTIVE) {
			/* Poll the ring itself for our own adaptive budget
			 * (none while polling does not pay, as in
			 * poll_busy()), then block (the handle's ADAPTIVE
			 * budget is fixed). */
			uint64_t budget = pvio_host_polling_pays() ? bb_spin_budget(&q->spin_ring)
								  : 0;
			uint64_t end = pvio_now_ns() + budget;

			for (uint32_t i = 0; budget; i++) {
				if (pvio_ring_back_unconsumed(&q->ring) != 0) {
					bb_spin_result(&q->spin_ring, true);
					return false;
				}
				if (pvio_host_thread_stopping(&q->thr))
					return false;
				pvio_cpu_relax();
				if ((i & 31) != 31)
					continue;
				if (pvio_now_ns() >= end) {
					bb_spin_result(&q->spin_ring, false);
					break;
				}
				sched_yield();
			}
			mode = PVIO_EVTCHN_BLOCK;
		}
		(void)pvio_evtchn_stats_get_on(ev, q->waiter, &a);
		pvio_host_asleep();
		r = pvio_evtchn_wait_on(ev, q->waiter, mode, 50000000ull,
					ports, 4);
		pvio_host_awake();
		(void)pvio_evtchn_stats_get_on(ev, q->waiter, &b);
		if (r > 0)
			bb_count(&q->cnt, C_EVENTS, (uint64_t)r);
		bb_count(&q->cnt, C_WAKEUPS, b.sleeps - a.sleeps);
		return r > 0;
	}

	uint64_t start = pvio_now_ns();
	long sleep_ns = 20000;

	for (;;) {
		if (pvio_evtchn_test_and_clear(ev, q->port) > 0) {
			bb_count(&q->cnt, C_EVENTS, 1);
			return true;
		}
		if (pvio_host_thread_stopping(&q->thr) ||
		    pvio_ring_back_unconsumed(&q->ring) != 0)
			return false;
		if (q->wait_mode != PVIO_EVTCHN_BLOCK && pvio_host_polling_pays() &&
		    (q->wait_mode == PVIO_EVTCHN_POLL ||
		     pvio_now_ns() - start < q->spin_ring.max_ns)) {
			pvio_cpu_relax();
			continue;
		}
		struct timespec ts = { 0, sleep_ns };

		pvio_host_asleep();
		nanosleep(&ts, NULL);
		pvio_host_awake();
		bb_count(&q->cnt, C_WAKEUPS, 1);
		if (sleep_ns < 1000000)
			sleep_ns *= 2;
		if (sleep_ns >= 1000000)
			return false; /* let the loop look at stop and the ring */
	}
}

/*
 * I/O in flight and nothing else to do: poll the engine's completions and
 * the ring for up to q->spin_ns before blocking in the engine. A sleeping
 * thread takes 40-55 us to wake here (shared/BENCHMARKING.md, section 3),
 * far more than a tmpfs or null I/O; polling keeps the backend awake for
 * the next completion and the frontend's next request. No sched_yield()
 * here, unlike the idle ring poll in wait_event(): only an asynchronous
 * engine (a disk) leaves I/O in flight, its completions come every few
 * microseconds at depth, so the budget stays full and the thread polls
 * for as long as the I/O runs; with other programs runnable on its CPU
 * each yield handed them the CPU for a time slice of milliseconds. The
 * disk then sat idle most of the time (vda inflight 0 in 64-81% of 20 ms
 * samples, against 13% for fio), and 4k randread QD32 on the root file
 * system fell to 5-15K IOPS where fio did 31-76K. (No polling when the
 * queue waits in BLOCK mode, which it does alone on one CPU.)
 * Returns > 0 when there is work, 0 when the budget ran out or the
 * engine failed (block in the engine).
 */
static int poll_busy(struct bb_queue *q)
{
	uint64_t budget = pvio_host_polling_pays() ? bb_spin_budget(&q->spin_io) : 0, end = 0;

	for (uint32_t i = 0; budget; i++) {
		int n = reap(q, false);

		if (n > 0) {
			bb_spin_result(&q->spin_io, true);
			return n;
		}
		if (n < 0)
			break; /* the blocking reap reports it */
		if (pvio_ring_back_unconsumed(&q->ring) != 0 ||
		    pvio_host_thread_stopping(&q->thr))
			return 1;
		pvio_cpu_relax();
		if ((i & 31) != 31)
			continue;
		if (!end)
			end = pvio_now_ns() + budget;
		else if (pvio_now_ns() >= end)
			break;
	}
	if (budget)
		bb_spin_result(&q->spin_io, false);
	return 0;
}

/*
 * An event brought no work. Past the storm threshold keep the port
 * masked for the rate limiter's delay (the storm's notifies coalesce and
 * wake nobody), then unmask: a pending event is raised again, so a request
 * posted meanwhile is seen. Returns whether it paused.
 */
static bool storm_pause(struct bb_queue *q)
{
	struct pvio_blkback *bb = q->bb;
	bool began;

	if (!pvio_evtchn_ratelimit_pause(bb->cfg.evtchn, &q->rl, &q->port, 1, &began))
		return false;
	if (began)
		bb_log(bb, "blkback %u/%u queue %u: event storm (%u empty events "
		       "in a row); rate limiting its event channel",
		       bb->cfg.fe, bb->devid, q->idx, q->rl.burst);
	bb_count(&q->cnt, C_STORM_DELAYS, 1);
	return true;
}

/* ---- the queue thread -------------------------------------------------------------- */

static void queue_broken(struct bb_queue *q)
{
	struct pvio_blkback *bb = q->bb;

	bb_count(&q->cnt, C_ERR_PROTOCOL, 1);
	(void)pvio_evtchn_mask(bb->cfg.evtchn, q->port);
	atomic_store(&bb->broken, true);
	bb_log(bb, "blkback %u/%u queue %u: frontend broke the ring protocol "
	       "(req_prod out of range); device marked broken",
	       bb->cfg.fe, bb->devid, q->idx);
}

static void *queue_main(void *arg)
{
	struct bb_queue *q = arg;
	bool broken = false, evented = false;

	pvio_host_awake();
	while (!pvio_host_thread_stopping(&q->thr)) {
		int got = 0, r;

		if (q->inflight)
			got += reap(q, false);
		r = consume(q);
		if (r < 0) {
			broken = true;
			break;
		}
		got += r;
		submit_batch(q);
		push_responses(q);
		if (got) {
			(void)pvio_evtchn_ratelimit_note(&q->rl, true, NULL);
			evented = false;
			continue;
		}
		if (q->inflight > 0) {
			if (poll_busy(q) == 0) {
				pvio_host_asleep();
				reap(q, true);
				pvio_host_awake();
			}
			submit_batch(q);
			push_responses(q);
			continue;
		}
		r = pvio_ring_back_final_check(&q->ring);
		if (r < 0) {
			broken = true;
			break;
		}
		if (r > 0)
			continue;
		if (evented && storm_pause(q)) {
			evented = false;
			continue;
		}
		evented = wait_event(q);
	}
	if (broken)
		queue_broken(q);
	/* Finish what is in flight: the engine owns those pages. */
	while (q->inflight > 0 || q->nr_batch > 0 || q->held) {
		if (q->held && q->inflight == 0 && q->nr_batch == 0) {
			batch_add(q, q->held);
			q->held = NULL;
		}
		submit_batch(q);
		if (reap(q, true) < 0)
			break;
	}
	if (!broken)
		push_responses(q);
	pvio_host_asleep();
	return NULL;
}

/* ---- connect / disconnect ----------------------------------------------------------- */

static void queue_free(struct bb_queue *q)
{
	if (q->pend) {
		free(q->pend[0].pages);
		free(q->pend[0].iov);
	}
	free(q->pend);
	free(q->batch);
	free(q->done);
	free(q->mapops);
	free(q->unmapops);
	free(q->segs);
	free(q->mapidx);
	free(q->cache_e);
	free(q->cache_b);
	q->pend = NULL;
	q->batch = q->done = NULL;
	q->mapops = NULL;
	q->unmapops = NULL;
	q->segs = NULL;
	q->mapidx = NULL;
	q->cache_e = NULL;
	q->cache_b = NULL;
}

static void ring_unmap(struct pvio_blkback *bb, struct bb_queue *q)
{
	if (!q->ring_va)
		return;
	if (bb->cfg.ring_ops)
		bb->cfg.ring_ops->unmap(bb->cfg.ring_ctx, q->ring_va, q->ring_pages,
					q->ring_handles);
	else
		(void)pvio_gnt_unmap_one(bb->cfg.gnt, q->ring_handles[0]);
	q->ring_va = NULL;
}

int bb_queue_connect(struct pvio_blkback *bb, struct bb_queue *q)
{
	struct blkback_engine_params ep;
	uint32_t max_segs, n;
	int rc;

	q->bb = bb;
	max_segs = bb->lim.max_indirect > PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST ?
			   bb->lim.max_indirect : PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST;
	q->max_segs = max_segs;
	q->wait_mode = bb->cfg.wait_mode_set ? bb->cfg.wait_mode : PVIO_EVTCHN_ADAPTIVE;
	{
		cpu_set_t set;

		/* One CPU for everything: a spinning backend only keeps the
		 * frontend (and io_uring's workers) from running. */
		if (!bb->cfg.wait_mode_set && sched_getaffinity(0, sizeof(set), &set) == 0 &&
		    CPU_COUNT(&set) == 1)
			q->wait_mode = PVIO_EVTCHN_BLOCK;
	}
	q->spin_io.max_ns = q->wait_mode == PVIO_EVTCHN_ADAPTIVE ? BB_SPIN_NS : 0;
	q->spin_io.cur_ns = q->spin_io.max_ns;
	q->spin_ring = q->spin_io;
	q->waiter = PVIO_EVTCHN_NO_WAITER;
	pvio_evtchn_ratelimit_init(&q->rl, 0, 0, 0);

	/* The ring. */
	if (bb->cfg.ring_ops) {
		rc = bb->cfg.ring_ops->map(bb->cfg.ring_ctx, bb->cfg.fe, q->ring_refs,
					   q->ring_pages, &q->ring_va, q->ring_handles);
		if (rc)
			return rc;
	} else {
		int st = pvio_gnt_map_one(bb->cfg.gnt, bb->cfg.fe, q->ring_refs[0], 0,
					  &q->ring_va, &q->ring_handles[0]);
		if (st != PVIO_GNTST_okay)
			return -EACCES;
	}
	rc = pvio_blkif_back_attach(&q->ring, q->ring_va,
				    (size_t)q->ring_pages * PVIO_PAGE_SIZE, 0);
	if (rc)
		goto fail_ring;

	/* Per-request storage: one pending per ring slot. */
	n = q->ring.nr_slots;
	q->nr_pend = n;
	q->pend = calloc(n, sizeof(*q->pend));
	q->batch = calloc(n, sizeof(*q->batch));
	q->done = calloc(n, sizeof(*q->done));
	q->mapops = calloc(max_segs, sizeof(*q->mapops));
	q->unmapops = calloc(max_segs, sizeof(*q->unmapops));
	q->segs = calloc(max_segs, sizeof(*q->segs));
	q->mapidx = calloc(max_segs, sizeof(*q->mapidx));
	if (!q->pend || !q->batch || !q->done || !q->mapops || !q->unmapops ||
	    !q->segs || !q->mapidx) {
		rc = -ENOMEM;
		goto fail_mem;
	}
	{
		struct bb_page *pages = calloc((size_t)n * max_segs, sizeof(*pages));
		struct iovec *iov = calloc((size_t)n * max_segs, sizeof(*iov));

		if (!pages || !iov) {
			free(pages);
			free(iov);
			rc = -ENOMEM;
			goto fail_mem;
		}
		for (uint32_t i = 0; i < n; i++) {
			q->pend[i].pages = pages + (size_t)i * max_segs;
			q->pend[i].iov = iov + (size_t)i * max_segs;
			q->pend[i].next_free = i + 1 < n ? i + 1 : NIL;
		}
		q->free_head = 0;
	}
	if (q->persistent) {
		uint32_t cap = bb->persistent_cap, nb = 1;

		while (nb < cap)
			nb <<= 1;
		q->cache_e = calloc(cap, sizeof(*q->cache_e));
		q->cache_b = calloc(nb, sizeof(*q->cache_b));
		if (!q->cache_e || !q->cache_b ||
		    pvio_gnt_cache_init(&q->cache, bb->cfg.gnt, q->cache_e, cap,
					q->cache_b, nb)) {
			rc = -ENOMEM;
			goto fail_mem;
		}
	}

	/* The engine instance. */
	memset(&ep, 0, sizeof(ep));
	ep.backing = &bb->backing;
	ep.depth = n;
	if (bb->cfg.machine) {
		ep.buf_base = bb->cfg.machine->pool;
		ep.buf_len = (size_t)bb->cfg.machine->nr_frames * PVIO_PAGE_SIZE;
	}
	ep.fixed_buffers = bb->cfg.fixed_buffers;
	rc = bb->eng->open(&ep, &q->eng_ctx);
	if (rc)
		goto fail_mem;
	q->eng = bb->eng;
	q->submit_chunk = q->eng->submit_chunk ? q->eng->submit_chunk(q->eng_ctx) : 0;

	/* The event channel, last: once bound the frontend may kick. */
	rc = pvio_evtchn_bind_interdomain(bb->cfg.evtchn, bb->cfg.fe, q->remote_port,
					  &q->port);
	if (rc)
		goto fail_engine;
	q->waiter = pvio_evtchn_waiter_reg_get(&bb_waiters, bb->cfg.evtchn);
	if (q->waiter != PVIO_EVTCHN_NO_WAITER &&
	    pvio_evtchn_bind_waiter(bb->cfg.evtchn, q->port, q->waiter) != 0) {
		pvio_evtchn_waiter_reg_put(&bb_waiters, bb->cfg.evtchn, q->waiter);
		q->waiter = PVIO_EVTCHN_NO_WAITER;
	}
	return 0;

fail_engine:
	q->eng->close(q->eng_ctx);
	q->eng_ctx = NULL;
fail_mem:
	if (q->persistent && q->cache_e)
		(void)pvio_gnt_cache_flush(&q->cache);
	queue_free(q);
fail_ring:
	ring_unmap(bb, q);
	return rc;
}

int bb_queue_start(struct bb_queue *q)
{
	return pvio_host_thread_start(&q->thr, queue_main, q);
}

void bb_queue_disconnect(struct bb_queue *q)
{
	struct pvio_blkback *bb = q->bb;

	if (!bb)
		return;
	pvio_host_thread_stop(&q->thr);
	if (q->port) {
		(void)pvio_evtchn_close(bb->cfg.evtchn, q->port);
		q->port = 0;
	}
	pvio_evtchn_waiter_reg_put(&bb_waiters, bb->cfg.evtchn, q->waiter);
	q->waiter = PVIO_EVTCHN_NO_WAITER;
	if (q->eng_ctx) {
		q->eng->close(q->eng_ctx);
		q->eng_ctx = NULL;
	}
	if (q->persistent && q->cache_e) {
		struct pvio_gnt_cache_stats before = q->cache.st;
		uint32_t n = q->cache.nr;

		(void)pvio_gnt_cache_flush(&q->cache);
		(void)before;
		bb_count(&q->cnt, C_GNT_UNMAPS, n - q->cache.nr);
	}
	queue_free(q);
	ring_unmap(bb, q);
}
