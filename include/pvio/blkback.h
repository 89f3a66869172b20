/* SPDX-License-Identifier: MIT */
/*
 * blkback: the block backend of the driver domain (Xen blkif protocol).
 *
 * One struct pvio_blkback serves one virtual block device (one
 * frontend's vbd) from a backing raw image file or block device:
 *
 *   pvio_blkback_create()   open the backing, check the configuration
 *   pvio_blkback_start()    control thread: xenbus negotiation
 *                           (InitWait -> Connected), then one thread per
 *                           queue (ring + event channel + engine instance)
 *   pvio_blkback_stop()     disconnect, state Closed, join every thread
 *   pvio_blkback_destroy()  close the backing, free
 *
 * What the backend offers and reads in the store (backend dir
 * /local/domain/<be>/backend/vbd/<fe>/<devid>, frontend dir
 * /local/domain/<fe>/device/vbd/<devid>) is documented where the keys are
 * defined, in blkback/xenbus.c; every key and value is Xen's
 * (xen/io/blkif.h).
 *
 * Failure model (DESIGN.md decision 3): a request the frontend got wrong
 * is answered BLKIF_RSP_ERROR (BLKIF_RSP_EOPNOTSUPP for a barrier or
 * discard not offered) and counted; an I/O error of the backing (EIO,
 * ENOSPC) fails that request only. A frontend that breaks the ring
 * protocol (bad indices) gets its device marked broken: event channel
 * masked, xenbus fatal (error node, state Closed), logged once; every other
 * device keeps serving.
 *
 * Every function returns 0 or -errno unless it says otherwise.
 */
#ifndef PVIO_BLKBACK_H
#define PVIO_BLKBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/evtchn.h>
#include <pvio/grant.h>
#include <pvio/types.h>
#include <pvio/xenbus.h>

/* ---- disk specifications ------------------------------------------------ */

#define PVIO_BLKBACK_TARGET_MAX 1024

/*
 * A disk as xl describes it (xl-disk-configuration(5)). Only what pvio
 * can serve is accepted: format raw, backendtype phy or qdisk-less
 * defaults, no scripts.
 */
struct pvio_blkback_disk_spec {
	char target[PVIO_BLKBACK_TARGET_MAX]; /* image file or block device */
	char vdev[32];     /* "xvda", "hdc", "sdb1", "d0p0" or a number */
	uint32_t devid;    /* the vbd's xenstore device id, from vdev */
	bool readonly;     /* access=ro/r (cdrom implies it) */
	bool cdrom;        /* devtype=cdrom: info gets VDISK_CDROM|REMOVABLE */
	int discard;       /* 1 discard, 0 no-discard, -1 not said (offer if
			      the backing supports it) */
	bool direct_io_safe; /* accepted for compatibility; pvio uses O_DIRECT
				when the backing takes it regardless */
};

/*
 * Parse an xl DISKSPEC, both forms:
 *   "format=raw, vdev=xvda, access=rw, target=/path"   (keys, any order;
 *        target= takes the rest of the string, commas included)
 *   "/path,raw,xvda,rw"                               (positional:
 *        target, format, vdev, access; empty fields keep defaults)
 *   "file:/path,xvda,w" / "phy:/dev/sdb,xvdb:cdrom,r"  (legacy prefixes
 *        phy: file: raw: aio: tap:aio: tap2:aio:; vdev may carry :cdrom)
 * plus flags "cdrom", "discard", "no-discard", "direct-io-safe" and the
 * keys devtype=cdrom|disk, backendtype=phy|tap|qdisk, backend=0.
 * Strict: an unknown key, a second value for one parameter, a format other
 * than raw, a bad vdev or an empty target is an error.
 * On error, err[err_size] (may be NULL) gets one line naming the problem.
 * Any thread. Returns 0 or -EINVAL.
 */
int pvio_blkback_disk_spec_parse(const char *s,
				 struct pvio_blkback_disk_spec *spec,
				 char *err, size_t err_size);

/*
 * Xen's virtual device number for vdev (libxl's encoding): xvdX[N] ->
 * 202<<8 | disk<<4 | N (disk < 16, N < 16), else 1<<28 | disk<<8 | N;
 * hdX[N] -> 3<<8 or 22<<8 | (disk%2)<<6 | N; sdX[N] -> 8<<8 | disk<<4 | N;
 * dNpM -> 1<<28 | N<<8 | M; a plain decimal as is.
 * Returns 0 or -EINVAL.
 */
int pvio_blkback_vdev_to_devid(const char *vdev, uint32_t *devid);

/* ---- a backend device --------------------------------------------------- */

struct pvio_blkback;

/*
 * Map granted pages side by side (a multi-page ring). The host platform's
 * implementation is pvio_domain_map_ring()/pvio_domain_unmap_ring()
 * (<pvio/domain.h>); tests pass their own. Returns 0 or -errno; on error
 * nothing stays mapped.
 */
struct pvio_blkback_ring_ops {
	int (*map)(void *ctx, pvio_domid_t fe, const pvio_grant_ref_t *refs,
		   uint32_t n, void **va, uint32_t *handles);
	int (*unmap)(void *ctx, void *va, uint32_t n, const uint32_t *handles);
};

/*
 * Host platform (library pvio_blkback_host, which links hostd's domain
 * side): ring ops over pvio_domain_map_ring() with ring_ctx = the
 * struct pvio_domain *, and a helper filling cfg's be, machine, gnt,
 * evtchn, ring_ops and ring_ctx from a connected driver domain (xs is left
 * to the caller: each device's control thread needs a connection of its
 * own, e.g. pvio_xs_host_connect() to the store's privileged socket).
 */
struct pvio_domain;
extern const struct pvio_blkback_ring_ops pvio_blkback_domain_ring_ops;
struct pvio_blkback_config;
void pvio_blkback_config_from_domain(struct pvio_blkback_config *cfg,
				     struct pvio_domain *d);

/* Whether a request's data pages go through the persistent-grant cache. */
enum pvio_blkback_grant_policy {
	/* The measured policy (blkback/blkback.c, bb_use_cache()): the cache
	 * when the frontend offered feature-persistent, except where mapping
	 * per request was measured to win. */
	PVIO_BLKBACK_GRANTS_AUTO = 0,
	PVIO_BLKBACK_GRANTS_PERSISTENT = 1, /* cache whenever negotiated */
	PVIO_BLKBACK_GRANTS_MAP = 2,        /* map + unmap per request */
};

struct pvio_blkback_config {
	/* The driver domain's platform. All must outlive the device. */
	pvio_domid_t be;                 /* the driver domain's domid */
	pvio_domid_t fe;                 /* the frontend's domid */
	uint32_t devid;                  /* 0: the disk spec's devid */
	const struct pvio_machine *machine; /* NULL: no fixed buffers */
	struct pvio_gnt_back *gnt;       /* grant mapping of the driver domain */
	struct pvio_evtchn *evtchn;      /* the driver domain's event channels */
	/* Store connection (as the driver domain), used only by this
	 * device's control thread between start and stop. */
	struct pvio_xs *xs;
	/* NULL: single-page rings only (max-ring-page-order 0). */
	const struct pvio_blkback_ring_ops *ring_ops;
	void *ring_ctx;

	const struct pvio_blkback_disk_spec *disk;
	const char *engine;              /* NULL: io_uring, the default */

	/* What is offered; 0 takes the default. */
	uint32_t max_queues;             /* multi-queue-max-queues; default 4 */
	uint32_t max_ring_page_order;    /* default 4 with ring_ops, else 0 */
	uint32_t max_indirect_segments;  /* default 256; at most 8 * 512 */
	uint32_t persistent_cap;         /* per ring; default 1056 (Linux) */
	bool no_persistent;              /* do not offer feature-persistent */
	bool no_indirect;
	bool no_flush;                   /* no flush-cache, no barrier */
	bool no_discard;
	enum pvio_blkback_grant_policy grant_policy;
	bool fixed_buffers;              /* io_uring: register the pool */
	/* How queue threads wait for events (default ADAPTIVE). */
	enum pvio_evtchn_wait_mode wait_mode;
	bool wait_mode_set;              /* false: wait_mode ignored */
};

/*
 * Open the backing named by cfg->disk (O_DIRECT when the file system takes
 * it, else buffered), probe size, block sizes and discard support, and
 * check the configuration. Nothing touches the store before start.
 * Any thread. Returns 0, -EINVAL (bad config), -ENOENT (unknown engine or
 * backing), -EROFS, -ENOMEM, or the errno of open/ioctl.
 */
int pvio_blkback_create(const struct pvio_blkback_config *cfg,
			struct pvio_blkback **out);

/*
 * Start the control thread: attach to the backend dir, write the
 * features, switch to InitWait and follow the frontend through connect,
 * disconnect and reconnect until stop. Once per device.
 * Returns 0, -EALREADY, or the errno of pthread_create.
 */
int pvio_blkback_start(struct pvio_blkback *bb);

/*
 * Stop serving: queue threads finish their in-flight I/O and exit, rings
 * and grants are unmapped, event channels closed, the backend state
 * becomes Closed. Joins every thread; blocks for at most the longest
 * outstanding backing I/O plus ~100 ms. Not from a blkback thread.
 */
void pvio_blkback_stop(struct pvio_blkback *bb);

/* Stop if running, close the backing and free. Safe on NULL. */
void pvio_blkback_destroy(struct pvio_blkback *bb);

/* Counters of one device, summed over its queues (relaxed snapshot). */
struct pvio_blkback_stats {
	/* requests by operation */
	uint64_t req_read, req_write, req_barrier, req_flush, req_discard;
	uint64_t req_indirect;           /* also counted under read/write */
	uint64_t sectors_read, sectors_written;
	/* errors by kind: requests answered with an error status */
	uint64_t err_op;                 /* unknown or reserved operation */
	uint64_t err_segments;           /* nr_segments 0 / too many */
	uint64_t err_sect;               /* first_sect/last_sect outside page */
	uint64_t err_range;              /* sectors beyond the disk */
	uint64_t err_grant;              /* a grant did not map */
	uint64_t err_readonly;           /* write to a read-only disk */
	uint64_t err_unsupported;        /* barrier/discard/flush not offered */
	uint64_t err_io;                 /* the backing failed (EIO ...) */
	uint64_t err_nospc;              /* the backing is full */
	uint64_t err_protocol;           /* ring protocol violations (broken) */
	/* grants */
	uint64_t grant_maps, grant_unmaps;
	uint64_t persistent_hits, persistent_misses, persistent_evictions;
	/* notifications */
	uint64_t kicks_sent;             /* notify calls to the frontend */
	uint64_t wakeups;                /* queue thread sleeps that ended */
	uint64_t events;                 /* events consumed */
	uint64_t storm_delays;           /* empty events answered with a
					    masked pause (event storm) */
	/* engine */
	uint64_t engine_submits;         /* engine submit calls that started
					    I/O (io_uring and libaio on a
					    device: one per 4 requests or
					    fewer; see submit_chunk) */
	uint32_t nr_queues;              /* connected queues now */
	uint32_t state;                  /* enum pvio_xenbus_state, own */
	bool broken;                     /* a protocol violation closed it */
	bool persistent;                 /* negotiated */
	uint32_t ring_pages;             /* negotiated per queue */
	uint32_t connects;               /* times it reached Connected */
};

/* Snapshot counters. Any thread. */
void pvio_blkback_stats(const struct pvio_blkback *bb,
			struct pvio_blkback_stats *st);

/*
 * Wait until the device's own xenbus state is state (or it is broken),
 * up to timeout_ms. For tests and tools. Returns 0, -ETIMEDOUT, -EPIPE
 * (broken).
 */
int pvio_blkback_wait_state(const struct pvio_blkback *bb,
			    enum pvio_xenbus_state state, int timeout_ms);

#endif /* PVIO_BLKBACK_H */
