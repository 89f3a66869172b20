/* SPDX-License-Identifier: MIT */
/*
 * blkback's negotiation: the store keys and the xenbus state machine, as
 * Linux's xen-blkback/xenbus.c follows them. Runs in the device's control
 * thread; never touches ring slots (STYLE practice 11).
 *
 * Backend state machine (own "state"), driven by the shared helper in
 * xenbus/backend.c (pvio/xenbus_backend.h) through bb_xenbus_ops:
 *
 *   Initialising --(features written)--> InitWait
 *   InitWait --(frontend Initialised or Connected: rings mapped, event
 *              channels bound, disk info written)--> Connected
 *   any --(frontend Closing)--> Closing
 *   any --(frontend Closed: queues torn down)--> Closed
 *   Closed --(frontend Initialising again)--> InitWait      (reconnect)
 *   any --(ring protocol violation, bad frontend keys)--> Closed + error
 *          node (pvio_xenbus_dev_fatal)
 *   any --(pvio_blkback_stop, or online=0 with frontend Closed)--> Closed
 *
 * Keys in the backend dir (/local/domain/<be>/backend/vbd/<fe>/<devid>),
 * all written by the backend, read by the frontend unless noted; values as
 * xen/io/blkif.h defines them:
 *   mode                  "r" | "w"; the access the disk spec grants
 *                         (normally the toolstack's; written here so a
 *                         bare store is complete). Read by tools.
 *   params                string; the backing path. Read by tools.
 *   type                  "phy" (block device) | "file". Read by tools.
 *   discard-enable        READ from the toolstack; 0/1, default 1: 0
 *                         withholds discard even if the backing has it.
 *   feature-flush-cache   0/1, default 0: FLUSH_DISKCACHE accepted.
 *   feature-barrier       0/1, default 0: WRITE_BARRIER accepted
 *                         (drain, write, flush). Offered with flush.
 *   feature-discard       0/1, default 0: DISCARD accepted; when 1 also
 *     discard-granularity uint32 bytes, default sector-size
 *     discard-alignment   uint32 bytes, default 0 (always 0 here)
 *     discard-secure      0/1, default 0: BLKIF_DISCARD_SECURE honoured
 *                         (block devices with BLKSECDISCARD only)
 *   feature-persistent    0/1, default 0: grants may be kept mapped
 *   feature-max-indirect-segments  uint32, absent = no INDIRECT; the most
 *                         segments one indirect request may carry
 *   max-ring-page-order   uint32, default 0: largest ring-page-order
 *   multi-queue-max-queues uint32, default 1: most queues the frontend
 *                         may ask for
 *   sectors               uint64, at connect: disk size in 512-byte units
 *                         (Linux's convention, whatever sector-size is)
 *   info                  uint32 bitmap, at connect: VDISK_CDROM 1,
 *                         VDISK_REMOVABLE 2, VDISK_READONLY 4
 *   sector-size           uint32, at connect: 512 (files) or the block
 *                         device's logical block size
 *   physical-sector-size  uint32, at connect: physical block size
 *
 * Keys read from the frontend dir (/local/domain/<fe>/device/vbd/<devid>):
 *   multi-queue-num-queues  uint32, default 1; 1..multi-queue-max-queues.
 *                         With more than 1, each queue's ring-ref* and
 *                         event-channel are in queue-<n>/ subdirs.
 *   ring-page-order       uint32, default 0; <= max-ring-page-order. With
 *                         it: ring-ref0..ring-ref<2^order - 1>; without:
 *                         ring-ref (one page).
 *   event-channel         uint32: the frontend's unbound port per queue.
 *   protocol              string, default native: only "x86_64-abi" (the
 *                         native ABI of pvio's struct layout) is accepted;
 *                         "x86_32-abi", "arm-abi" and anything else are
 *                         refused with a fatal error naming them.
 *   feature-persistent    0/1, default 0: the frontend reuses its grants.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvio/xenbus_backend.h>

#include "common.h"

#define POLL_MS 50
#define NATIVE_PROTOCOL "x86_64-abi"

static int write_key(struct pvio_xs *xs, pvio_xs_tx_t t, const char *dir,
		     const char *key, const char *value)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];
	int rc = pvio_xs_join(path, sizeof(path), dir, key);

	return rc ? rc : pvio_xs_write(xs, t, path, value);
}

static int write_u64(struct pvio_xs *xs, pvio_xs_tx_t t, const char *dir,
		     const char *key, uint64_t v)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];
	int rc = pvio_xs_join(path, sizeof(path), dir, key);

	return rc ? rc : pvio_xs_write_uint(xs, t, path, v);
}

/* What the backend offers: written before InitWait (Linux: probe). */
static int write_features(struct pvio_xs *xs, pvio_xs_tx_t t, void *arg)
{
	struct pvio_blkback *bb = arg;
	const char *dir = bb->xdev.nodename;
	int rc = 0;

	rc = rc ? rc : write_key(xs, t, dir, "mode", bb->disk.readonly ? "r" : "w");
	rc = rc ? rc : write_key(xs, t, dir, "params", bb->disk.target);
	rc = rc ? rc : write_key(xs, t, dir, "type", bb->backing.is_blockdev ? "phy" : "file");
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "flush-cache", bb->offer.flush);
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "barrier", bb->offer.barrier);
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "discard", bb->offer.discard);
	if (bb->offer.discard) {
		rc = rc ? rc : write_u64(xs, t, dir, "discard-granularity",
					 bb->backing.discard_granularity);
		rc = rc ? rc : write_u64(xs, t, dir, "discard-alignment", 0);
		rc = rc ? rc : write_u64(xs, t, dir, "discard-secure", bb->offer.secure);
	}
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "persistent",
						 bb->offer_persistent);
	if (bb->max_indirect)
		rc = rc ? rc : write_u64(xs, t, dir, "feature-max-indirect-segments",
					 bb->max_indirect);
	rc = rc ? rc : write_u64(xs, t, dir, "max-ring-page-order", bb->max_ring_order);
	rc = rc ? rc : write_u64(xs, t, dir, "multi-queue-max-queues", bb->max_queues);
	return rc;
}

/* The disk as the frontend sees it: written at connect (Linux: connect). */
static int write_disk_info(struct pvio_xs *xs, pvio_xs_tx_t t, void *arg)
{
	struct pvio_blkback *bb = arg;
	const char *dir = bb->xdev.nodename;
	uint32_t info = 0, lbs = bb->backing.logical_block;
	int rc = 0;

	if (bb->disk.readonly)
		info |= BB_VDISK_READONLY;
	if (bb->disk.cdrom)
		info |= BB_VDISK_CDROM | BB_VDISK_REMOVABLE;
	/* In 512-byte units whatever the sector size, as Linux's blkback
	 * writes it and blkfront reads it (requests count 512-byte units
	 * too: feature-large-sector-size is not negotiated). */
	rc = rc ? rc : write_u64(xs, t, dir, "sectors", bb->backing.size / BB_SECTOR_SIZE);
	rc = rc ? rc : write_u64(xs, t, dir, "info", info);
	rc = rc ? rc : write_u64(xs, t, dir, "sector-size", lbs);
	rc = rc ? rc : write_u64(xs, t, dir, "physical-sector-size",
				 bb->backing.physical_block);
	/* Linux rewrites the features at connect too (they may change). */
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "flush-cache", bb->offer.flush);
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "barrier", bb->offer.barrier);
	return rc;
}

/* Read an optional unsigned key of the frontend; absent gives def. */
static int read_opt_uint(struct pvio_blkback *bb, const char *node, uint64_t max,
			 uint64_t def, uint64_t *out)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];
	int rc = pvio_xs_join(path, sizeof(path), bb->xdev.otherend, node);

	if (rc)
		return rc;
	rc = pvio_xs_read_uint(bb->cfg.xs, PVIO_XS_TX_NONE, path, max, out);
	if (rc == -ENOENT) {
		*out = def;
		return 0;
	}
	return rc;
}

static int fatal(struct pvio_blkback *bb, int err, const char *msg)
{
	bb_log(bb, "blkback %u/%u: %s (%d)", bb->cfg.fe, bb->devid, msg, err);
	pvio_xenbus_dev_fatal(&bb->xdev, err, msg);
	atomic_store(&bb->state, (uint32_t)bb->xdev.state);
	return err;
}

/* Read one queue's ring refs and event channel (Linux: read_per_ring_refs). */
static int read_queue_keys(struct pvio_blkback *bb, struct bb_queue *q,
			   const char *sub, uint32_t order, bool ordered)
{
	char node[96];
	uint64_t v;
	int rc;

	q->ring_pages = 1u << order;
	for (uint32_t i = 0; i < q->ring_pages; i++) {
		if (ordered)
			snprintf(node, sizeof(node), "%sring-ref%u", sub, i);
		else
			snprintf(node, sizeof(node), "%sring-ref", sub);
		rc = pvio_xenbus_otherend_read_uint(&bb->xdev, node, UINT32_MAX, &v);
		if (rc)
			return rc; /* fatal already */
		q->ring_refs[i] = (pvio_grant_ref_t)v;
	}
	snprintf(node, sizeof(node), "%sevent-channel", sub);
	rc = pvio_xenbus_otherend_read_uint(&bb->xdev, node, PVIO_EVTCHN_NR_PORTS - 1, &v);
	if (rc)
		return rc;
	q->remote_port = (uint32_t)v;
	return 0;
}

/* Map the frontend's rings and start serving (Linux: connect_ring + connect). */
static int connect(struct pvio_blkback *bb)
{
	char proto[32], path[PVIO_XENBUS_PATH_MAX + 32];
	uint64_t nq, order;
	bool ordered, persistent = false;
	struct bb_queue *q;
	int rc;

	rc = read_opt_uint(bb, "multi-queue-num-queues", UINT32_MAX, 1, &nq);
	if (rc || nq == 0 || nq > bb->max_queues)
		return fatal(bb, rc ? rc : -EINVAL,
			     "multi-queue-num-queues is 0, above multi-queue-max-queues, or garbage");
	rc = pvio_xs_join(path, sizeof(path), bb->xdev.otherend, "ring-page-order");
	if (rc == 0)
		rc = pvio_xs_read_uint(bb->cfg.xs, PVIO_XS_TX_NONE, path, UINT32_MAX, &order);
	if (rc == -ENOENT) {
		ordered = false;
		order = 0;
	} else if (rc || order > bb->max_ring_order) {
		return fatal(bb, rc ? rc : -EINVAL,
			     "ring-page-order above max-ring-page-order, or garbage");
	} else {
		ordered = true;
	}
	rc = pvio_xs_join(path, sizeof(path), bb->xdev.otherend, "protocol");
	if (rc == 0)
		rc = pvio_xs_read(bb->cfg.xs, PVIO_XS_TX_NONE, path, proto, sizeof(proto), NULL);
	if (rc == 0 && strcmp(proto, NATIVE_PROTOCOL) != 0) {
		char msg[96];

		/* The frontend's string goes to the log and the error node:
		 * printable ASCII only, no injected lines or escapes. */
		for (char *c = proto; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				*c = '?';

		snprintf(msg, sizeof(msg), "protocol \"%s\" not supported (only "
			 NATIVE_PROTOCOL ")", proto);
		return fatal(bb, -ENOSYS, msg);
	}
	if (rc && rc != -ENOENT)
		return fatal(bb, rc, "reading protocol");
	if (bb->offer_persistent &&
	    pvio_xenbus_read_feature(bb->cfg.xs, PVIO_XS_TX_NONE, bb->xdev.otherend,
				     "persistent", false, &persistent) != 0)
		persistent = false; /* garbage: treat as not offered */

	q = calloc(nq, sizeof(*q));
	if (!q)
		return fatal(bb, -ENOMEM, "allocating queues");
	for (uint32_t i = 0; i < nq; i++) {
		char sub[32] = "";

		if (nq > 1)
			snprintf(sub, sizeof(sub), "queue-%u/", i);
		q[i].idx = i;
		q[i].persistent = persistent;
		rc = read_queue_keys(bb, &q[i], sub, (uint32_t)order, ordered);
		if (rc) {
			free(q);
			/* The read was fatal already (xenbus): mirror the
			 * state it left and log, as fatal() does. */
			atomic_store(&bb->state, (uint32_t)bb->xdev.state);
			bb_log(bb, "blkback %u/%u: ring-ref or event-channel missing or "
			       "garbage (%d)", bb->cfg.fe, bb->devid, rc);
			return rc;
		}
	}

	bb->lim = bb->offer;
	atomic_store(&bb->broken, false);
	atomic_store(&bb->fatal_done, false);
	for (uint32_t i = 0; i < nq; i++) {
		rc = bb_queue_connect(bb, &q[i]);
		if (rc) {
			char msg[64];

			for (uint32_t k = 0; k < i; k++)
				bb_queue_disconnect(&q[k]);
			free(q);
			snprintf(msg, sizeof(msg), "mapping ring or binding event channel of queue %u", i);
			return fatal(bb, rc, msg);
		}
	}
	pthread_mutex_lock(&bb->lock); /* stats() reads these under it */
	bb->q = q;
	bb->nr_q = (uint32_t)nq;
	bb->persistent = persistent;
	bb->ring_pages = 1u << order;
	pthread_mutex_unlock(&bb->lock);

	rc = pvio_xs_transact(bb->cfg.xs, write_disk_info, bb, 0);
	if (rc) {
		bb_queues_destroy(bb);
		return fatal(bb, rc, "writing sectors/info/sector-size");
	}
	for (uint32_t i = 0; i < nq; i++) {
		rc = bb_queue_start(&q[i]);
		if (rc) {
			bb_queues_destroy(bb);
			return fatal(bb, rc, "starting queue threads");
		}
	}
	/* Counted before the helper publishes Connected, so a waiter
	 * for Connected sees the count. */
	atomic_fetch_add(&bb->connects, 1);
	return 0;
}

static int bb_connect(void *arg)
{
	return connect(arg);
}

static void bb_disconnect(void *arg)
{
	bb_queues_destroy(arg);
}

/* Between looks at the frontend: the device's own events. */
static bool bb_poll(void *arg)
{
	struct pvio_blkback *bb = arg;

	if (atomic_load(&bb->broken) && !atomic_load(&bb->fatal_done)) {
		/* A queue saw bad ring indices: its port is masked and its
		 * thread gone. The whole device goes (STYLE 8). */
		atomic_store(&bb->fatal_done, true);
		bb_queues_destroy(bb);
		fatal(bb, -EPROTO, "frontend broke the ring protocol");
	}
	return !pvio_host_thread_stopping(&bb->ctl);
}

static void bb_state_changed(void *arg, enum pvio_xenbus_state s)
{
	struct pvio_blkback *bb = arg;

	atomic_store(&bb->state, (uint32_t)s);
}

static const struct pvio_xenbus_backend_ops bb_xenbus_ops = {
	.features = write_features,
	.connect = bb_connect,
	.disconnect = bb_disconnect,
	.poll = bb_poll,
	.state_changed = bb_state_changed,
};

void *bb_xenbus_main(void *arg)
{
	struct pvio_blkback *bb = arg;
	struct pvio_xenbus_backend run = {
		.dev = &bb->xdev, .ops = &bb_xenbus_ops, .ctx = bb, .poll_ms = POLL_MS,
	};
	int rc;

	rc = pvio_xenbus_backend_attach(&bb->xdev, bb->cfg.xs, "vbd", bb->cfg.be,
					bb->cfg.fe, bb->devid);
	if (rc) {
		bb_log(bb, "blkback %u/%u: backend dir not usable (%d)", bb->cfg.fe,
		       bb->devid, rc);
		atomic_store(&bb->state, PVIO_XENBUS_CLOSED);
		return NULL;
	}
	atomic_store(&bb->state, (uint32_t)bb->xdev.state);
	rc = pvio_xenbus_backend_run(&run);
	if (rc && run.failure)
		bb_log(bb, "blkback %u/%u: %s (%d)", bb->cfg.fe, bb->devid,
		       run.failure, rc);
	(void)pvio_xenbus_detach(&bb->xdev);
	return NULL;
}
