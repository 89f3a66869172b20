/* SPDX-License-Identifier: MIT */
/*
 * blkfront: the block frontend driver of a guest domain (Xen's blkif
 * protocol, as Linux's xen-blkfront speaks it).
 *
 *   application            pvio_blkfront_submit / pread / pwrite ...
 *        |                            |
 *   blkfront   shadow table, splitting, bounce / persistent pages, grants
 *        |  one ring + one event channel per queue (multi-queue)
 *   blkback (another domain)
 *
 * A device is opened on a struct pvio_domain (<pvio/domain.h>) by its
 * frontend dir in the store (or its devid under device/vbd). Open runs the
 * xenbus handshake:
 *
 *   frontend Initialising -- wait backend InitWait -- allocate rings,
 *   grant them, allocate event channels, write the keys below --
 *   Initialised -- wait backend Connected -- read geometry and features --
 *   Connected.
 *
 * Close waits for requests in flight, then Closing -- backend Closing or
 * Closed -- Closed, and revokes every grant (retrying ones the backend
 * still has mapped).
 *
 * Keys the frontend writes (its own dir, read by the backend):
 *   ring-ref            uint32; single-page ring (order 0): its grant ref.
 *   ring-page-order     uint 0..4; written when the ring has 2^order > 1
 *                       pages; then ring-ref0 .. ring-ref<2^order - 1>.
 *   event-channel       uint32; the ring's port (unbound for the backend).
 *   protocol            "x86_64-abi": the layout of the structs in blkif.h.
 *   feature-persistent  "0"/"1": the frontend can use persistent grants.
 *   multi-queue-num-queues  uint; written only with more than one queue;
 *                       then each queue's ring-ref*, event-channel live in
 *                       queue-<N>/ below the frontend dir.
 *
 * Keys the frontend reads (backend dir, written by the backend):
 *   sectors             uint64, required at Connected: the size in 512-byte
 *                       sectors (as Linux's blkback writes it).
 *   info                uint, default 0: VDISK_* bits (cdrom 1, removable 2,
 *                       read-only 4).
 *   sector-size         uint, required: logical sector size in bytes
 *                       (a power of two >= 512). Requests are multiples.
 *   physical-sector-size uint, default sector-size.
 *   feature-flush-cache bool, default 0: BLKIF_OP_FLUSH_DISKCACHE works.
 *   feature-barrier     bool, default 0: BLKIF_OP_WRITE_BARRIER works (used
 *                       for flush when flush-cache is absent).
 *   feature-discard     bool, default 0: BLKIF_OP_DISCARD works; then
 *                       discard-granularity (bytes, default sector-size),
 *                       discard-alignment (bytes, default 0) and
 *                       discard-secure (bool, default 0).
 *   feature-persistent  bool, default 0: the backend keeps grants mapped.
 *   feature-max-indirect-segments uint, default 0 (no indirect requests).
 *   max-ring-page-order uint 0..4, default 0.
 *   multi-queue-max-queues uint, default 1.
 *   mode                "r" or "w", default "w": "r" makes the device
 *                       read-only (writes fail with -EROFS).
 *
 * Threads: submission, polling and waiting may be called from any number
 * of threads at once (each queue has its own lock). open and close use
 * the domain's store connection d->xs, which belongs to one thread at a
 * time: the caller serialises them with its other store users.
 * Completion callbacks run in whichever thread reaps them (poll, wait,
 * the synchronous wrappers), with no blkfront lock held; a callback may
 * submit.
 *
 * Freestanding: the driver needs no libc; private memory comes from the
 * domain's own pages (pvio_domain_page_alloc), sleeping from the event
 * channel layer's platform ops.
 *
 * Every function returns 0 (or a count where it says so) or a negative
 * errno.
 */
#ifndef PVIO_BLKFRONT_H
#define PVIO_BLKFRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pvio_domain;
struct pvio_blkfront;

/* Submit to the next queue in turn. */
#define PVIO_BLKFRONT_QUEUE_ANY UINT32_MAX
/* pvio_blkfront_getevents / drain: no timeout. */
#define PVIO_BLKFRONT_FOREVER UINT64_MAX
/* Most queues a device negotiates. */
#define PVIO_BLKFRONT_MAX_QUEUES 16u

/* VDISK_* bits of the backend's "info" key. */
#define PVIO_BLKFRONT_VDISK_CDROM     0x1u
#define PVIO_BLKFRONT_VDISK_REMOVABLE 0x2u
#define PVIO_BLKFRONT_VDISK_READONLY  0x4u

/* What the caller wants; zero-filled means the defaults. */
struct pvio_blkfront_config {
	uint32_t max_queues;      /* 0: 4; at most the backend's max, 16 */
	uint32_t max_ring_pages;  /* per queue, power of two <= 16; 0: 4 */
	uint32_t max_indirect_segments; /* 0: 256; at most 4096 */
	bool no_persistent;       /* do not offer persistent grants */
	bool no_indirect;         /* never send indirect requests */
	bool no_spin;             /* sleep at once instead of polling first */
	uint32_t spin_ns;         /* poll budget before sleeping; 0: 200 us */
	uint32_t pool_pages;      /* bounce/persistent pages per queue; 0: 1056 */
	int timeout_ms;           /* each handshake wait; 0: 10000; -1 forever */
	uint32_t evtchn_waiter;   /* the domain's event channel waiter the
				   * device's ports are routed to and its
				   * waits sleep on (pvio_evtchn_bind_waiter);
				   * 0: the domain's default waiter. Give each
				   * device (or thread) its own to keep them
				   * from stealing each other's events. */
	bool reconnect;           /* a backend that leaves (dies, closes, its
				   * event channel unbound) is not the end:
				   * requests in flight stay in the shadow
				   * table and new ones queue until
				   * pvio_blkfront_reconnect() connects a new
				   * backend, which gets every unanswered
				   * request again. Off: they fail with -EIO. */
};

/* What was negotiated. */
struct pvio_blkfront_info {
	uint64_t sectors;             /* device size in 512-byte sectors */
	uint32_t sector_size;         /* logical, bytes */
	uint32_t physical_sector_size;
	uint32_t vdisk_info;          /* PVIO_BLKFRONT_VDISK_* */
	bool readonly;                /* info bit or mode "r" */
	bool flush;                   /* pvio_blkfront flush works */
	bool flush_is_barrier;        /* ... as WRITE_BARRIER (no flush-cache) */
	bool discard;
	bool secure_discard;
	uint32_t discard_granularity; /* bytes */
	uint32_t discard_alignment;   /* bytes */
	bool persistent;              /* both ends: persistent grants in use */
	uint32_t max_indirect_segments; /* 0: no indirect requests */
	uint32_t max_segments;        /* per ring request: 11 or the above */
	uint32_t ring_pages;          /* per queue */
	uint32_t ring_slots;          /* requests in flight per queue */
	uint32_t nr_queues;
	uint16_t backend_id;
	uint32_t devid;
};

/* Counters, summed over the queues (a relaxed snapshot). */
struct pvio_blkfront_stats {
	uint64_t requests;        /* user requests submitted */
	uint64_t ring_requests;   /* ring requests (parts) pushed */
	uint64_t indirect_requests;
	uint64_t kicks;           /* event channel notifies sent */
	uint64_t kicks_avoided;   /* pushes the backend's event index hid */
	uint64_t wakeups;         /* sleeps on the event channel ended by an event */
	uint64_t polls_hit;       /* completions found while polling */
	uint64_t grants;          /* grants made */
	uint64_t revokes;         /* grants ended */
	uint64_t revokes_deferred; /* revokes that found the page mapped (-EBUSY) */
	uint64_t revokes_pending; /* still waiting to be revoked now */
	uint64_t persistent_hits; /* persistent grants reused */
	uint64_t bounced_bytes;   /* bytes copied through bounce/persistent pages */
	uint64_t zero_copy_segments;
	uint64_t protocol_errors; /* responses that broke the device */
	uint64_t errors;          /* user requests completed with an error */
	uint64_t reconnects;      /* handshakes with a new backend after a loss */
	uint64_t reissued;        /* user requests given again to a new backend */
	uint64_t rings_leaked;    /* ring pages a dead backend still pinned:
				   * replaced, never reused */
};

enum pvio_blkfront_op {
	PVIO_BLKFRONT_OP_READ = 0,
	PVIO_BLKFRONT_OP_WRITE = 1,
	PVIO_BLKFRONT_OP_FLUSH = 2,          /* flush-cache or barrier */
	PVIO_BLKFRONT_OP_DISCARD = 3,
	PVIO_BLKFRONT_OP_SECURE_DISCARD = 4,
};

struct pvio_blkfront_req;

/*
 * A request's completion: res is 0, -EIO (backend error, device broken or
 * gone), -EOPNOTSUPP (the backend refused the operation), -EROFS.
 */
typedef void (*pvio_blkfront_done_fn)(struct pvio_blkfront_req *req, int res);

/*
 * One user request. The caller owns the memory and keeps it (and buf)
 * untouched from submit until completion. Fill the first block; blkfront
 * splits it into as many ring requests as it needs.
 */
struct pvio_blkfront_req {
	uint32_t op;          /* enum pvio_blkfront_op */
	uint64_t sector;      /* start, in 512-byte units (multiple of the
			       * logical sector size); ignored for flush */
	void *buf;            /* read/write data: any caller memory, or a
			       * pvio_blkfront_buf_alloc() buffer (zero-copy) */
	uint64_t nr_bytes;    /* read/write/discard length, a multiple of
			       * sector_size; 0 for flush */
	pvio_blkfront_done_fn done; /* NULL: completion goes to getevents() */
	void *user;           /* the caller's */
	int res;              /* out: the result, once complete */
	struct {              /* private to blkfront */
		struct pvio_blkfront_req *next;
		uint64_t issued;      /* bytes handed to ring requests */
		uint32_t inflight;    /* ring requests not yet answered */
		uint32_t queue;
		uint32_t zc_pfn;      /* zero-copy: pfn of buf's first page */
		int err;
		bool zc;
		bool queued;
	} pvt;
};

/*
 * Open the device whose frontend dir is path (e.g.
 * "/local/domain/1/device/vbd/51712") in domain d, and run the handshake
 * up to Connected. cfg may be NULL. The calling thread uses d->xs.
 * Returns 0; -EINVAL (bad path or config); -ENOENT (no such device);
 * -ETIMEDOUT (the backend did not answer within cfg->timeout_ms);
 * -ECONNRESET (the backend closed); -EPROTO (the backend's keys are
 * missing or malformed: the device is left Closed with an error node);
 * -ENOMEM, -ENOSPC (no pages, grants or ports); or a store error.
 */
int pvio_blkfront_open(struct pvio_domain *d, const char *path,
		       const struct pvio_blkfront_config *cfg,
		       struct pvio_blkfront **out);

/* As pvio_blkfront_open() for "/local/domain/<d->domid>/device/vbd/<devid>". */
int pvio_blkfront_open_devid(struct pvio_domain *d, uint32_t devid,
			     const struct pvio_blkfront_config *cfg,
			     struct pvio_blkfront **out);

/*
 * Wait for every request in flight (a dead backend fails them, and so
 * does a lost one the device was still waiting to reconnect), switch to
 * Closing, wait (cfg->timeout_ms) for the backend to close, switch to
 * Closed, revoke every grant and free everything; bf is gone. Grants the
 * backend still maps are retried for up to timeout_ms; any left then are
 * counted in the return value: their pages are deliberately not reused.
 * The calling thread uses d->xs; no other call on bf may be in progress.
 * Returns 0, -EBUSY (n grants could not be revoked: leaked on purpose,
 * the backend still maps them), or a store error (closed anyway). NULL: 0.
 */
int pvio_blkfront_close(struct pvio_blkfront *bf);

/* The negotiated geometry and features. Any thread. 0 or -EINVAL. */
int pvio_blkfront_get_info(const struct pvio_blkfront *bf,
			   struct pvio_blkfront_info *info);

/* Counters. Any thread. */
void pvio_blkfront_get_stats(const struct pvio_blkfront *bf,
			     struct pvio_blkfront_stats *st);

/*
 * Queue req on queue (0 .. nr_queues - 1, or PVIO_BLKFRONT_QUEUE_ANY for
 * round-robin) and push what fits into the ring now; the rest goes out as
 * responses free slots (during poll/wait). Never sleeps. Any thread.
 * Returns 0 (req will complete exactly once); or, with req not queued:
 * -EINVAL (bad op, misaligned sector or length, beyond the device end,
 * bad queue), -EOPNOTSUPP (flush/discard not offered), -EROFS (write or
 * discard on a read-only device), -EIO (the device is broken or gone).
 */
int pvio_blkfront_submit(struct pvio_blkfront *bf, uint32_t queue,
			 struct pvio_blkfront_req *req);

/*
 * Process every response available now, without waiting: completes
 * requests (callbacks run here), pushes queued requests, retries deferred
 * revokes. Any thread. Returns the number of requests completed (>= 0).
 */
int pvio_blkfront_poll(struct pvio_blkfront *bf);

/*
 * Completion-queue style: take up to max completed requests submitted
 * without a callback into reqs[] (each with req->res set), waiting up to
 * timeout_ns (relative; 0: do not wait) until at least min are there.
 * Waits adaptively: polls the rings for the spin budget, then sleeps on
 * the event channels. Any thread.
 * Returns the count (>= min, or fewer with 0 wait), -ETIMEDOUT (fewer than
 * min arrived; none are taken), -EINVAL (max 0, min > max).
 */
int pvio_blkfront_getevents(struct pvio_blkfront *bf,
			    struct pvio_blkfront_req **reqs, unsigned min,
			    unsigned max, uint64_t timeout_ns);

/*
 * Wait until no request is in flight or queued, up to timeout_ns. Any
 * thread. Returns 0 or -ETIMEDOUT.
 */
int pvio_blkfront_drain(struct pvio_blkfront *bf, uint64_t timeout_ns);

/*
 * Synchronous wrappers: submit one request and wait for it. offset and
 * len are bytes, multiples of the logical sector size. Any thread.
 * Return 0 or the request's error (see pvio_blkfront_submit and the
 * completion codes).
 */
int pvio_blkfront_pread(struct pvio_blkfront *bf, void *buf, uint64_t len,
			uint64_t offset);
int pvio_blkfront_pwrite(struct pvio_blkfront *bf, const void *buf,
			 uint64_t len, uint64_t offset);
int pvio_blkfront_flush(struct pvio_blkfront *bf);
int pvio_blkfront_discard(struct pvio_blkfront *bf, uint64_t offset,
			  uint64_t len, bool secure);

/*
 * Zero-copy buffers: len bytes (rounded up to pages) of the domain's own
 * pages, mapped contiguously. Data of a request whose buf lies in such a
 * buffer (512-byte aligned) is granted to the backend in place when
 * persistent grants are not in use; otherwise it is copied like any
 * memory. Any thread. alloc: 0, -EINVAL (len 0 or above 4 MiB), -ENOMEM,
 * -ENOSPC (too many buffers). free: 0, -EINVAL (not a buffer of bf). A
 * buffer must not be freed while a request uses it.
 */
int pvio_blkfront_buf_alloc(struct pvio_blkfront *bf, size_t len, void **buf);
int pvio_blkfront_buf_free(struct pvio_blkfront *bf, void *buf);

/*
 * Control path: read the backend's state from the store (waiting up to
 * timeout_ms for a change; 0: look only). If the backend left Connected
 * (Closing, Closed, gone), the device is marked gone: everything in
 * flight and every later request fails with -EIO; with cfg.reconnect it
 * is marked recovering instead (requests wait for
 * pvio_blkfront_reconnect()). The calling thread uses d->xs. Returns 0
 * (connected), -ENOTCONN (gone or recovering), or a store error.
 */
int pvio_blkfront_check_backend(struct pvio_blkfront *bf, int timeout_ms);

/* Is the device waiting for pvio_blkfront_reconnect() (cfg.reconnect and
 * the backend left)? Any thread. */
bool pvio_blkfront_recovering(const struct pvio_blkfront *bf);

/*
 * Control path, cfg.reconnect only: recover from a lost backend, as
 * Linux's blkfront_resume()/blkif_recover(). Takes back every request the
 * old backend did not answer (answers it did publish are taken first) and
 * ends their grants; goes Closed, waits up to timeout_ms (-1 forever) for
 * a backend to offer the device again (InitWait: the toolstack recreated
 * it, e.g. pvio blkback started again), then runs the handshake again on
 * fresh rings and event channels (Initialising ... Connected) and issues
 * every unanswered request anew, ahead of those queued meanwhile. Callers
 * see their requests complete as if nothing had happened. The new backend
 * must offer at least the ring size and queue count negotiated at open;
 * fewer is -EPROTO. Grants the dead backend still pins are left alone
 * (retried as usual); a ring it pins is replaced (rings_leaked).
 * Called on a connected device, it first drops that backend.
 * The calling thread uses d->xs; other threads may submit and wait
 * meanwhile. Returns 0 (connected again); -EINVAL (bf NULL or no
 * cfg.reconnect); -EIO (the device is broken or closed); or, with the
 * device then gone (everything in flight and later fails with -EIO):
 * -ETIMEDOUT (no backend in time), -ECONNRESET (the new backend left
 * during the handshake), -EPROTO, -ENOMEM, -ENOSPC, or a store error.
 */
int pvio_blkfront_reconnect(struct pvio_blkfront *bf, int timeout_ms);

#endif /* PVIO_BLKFRONT_H */
