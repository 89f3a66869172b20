/* SPDX-License-Identifier: MIT */
/*
 * blkback's private header: the device, its queues, the request checks.
 *
 * Split by job (STYLE practice 11):
 *   device.c     create/start/stop/destroy, stats, logging
 *   xenbus.c     negotiation only: store keys and the state machine
 *   blkback.c    the request path: one thread per queue, ring -> grants ->
 *                engine -> responses; never reads the store
 *   validate.c   the checks every copied-out request passes (pure)
 *   disk_spec.c  xl disk specifications
 *   backing.c    opening and probing the backing; the synchronous I/O
 *                helper every engine may use
 *   engine_*.c   one file per engine; engines.c lists them
 */
#ifndef BLKBACK_COMMON_H
#define BLKBACK_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <pvio/blkback.h>
#include <pvio/blkback_engine.h>
#include <pvio/blkif.h>
#include <pvio/evtchn.h>
#include <pvio/host.h>
#include <pvio/evtchn_ratelimit.h>
#include <pvio/grant.h>
#include <pvio/ring.h>
#include <pvio/xenbus.h>

#define BB_SECTOR_SIZE 512u
#define BB_SECTORS_PER_PAGE (PVIO_PAGE_SIZE / BB_SECTOR_SIZE) /* 8 */
#define BB_MAX_INDIRECT_SEGS \
	(PVIO_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * PVIO_BLKIF_SEGS_PER_INDIRECT_PAGE)
#define BB_DEFAULT_INDIRECT_SEGS 256u   /* Linux's MAX_INDIRECT_SEGMENTS */
#define BB_DEFAULT_MAX_QUEUES 4u
#define BB_MAX_QUEUES 16u
/* Poll budget of a queue thread before it sleeps (ADAPTIVE): longer than
 * the frontend's wake-up, as BF_DEFAULT_SPIN_NS and for the same reason. */
#define BB_SPIN_NS 200000u

/*
 * An adaptive poll budget. A poll that finds work restores the full
 * budget; one that runs out halves it, down to none (sleep at once), and
 * then every 64th wait polls the full budget again to notice a peer that
 * has become fast. On a quiet machine polls find the peer and the budget
 * stays full; when the CPUs are shared (load, one CPU), a polling thread
 * only keeps its peer from running, polls fail and the budget drops away.
 */
struct bb_spin {
	uint32_t cur_ns, max_ns, probe;
};

static inline uint64_t bb_spin_budget(struct bb_spin *s)
{
	if (s->cur_ns)
		return s->cur_ns;
	return s->max_ns && (++s->probe & 63) == 0 ? s->max_ns : 0;
}

static inline void bb_spin_result(struct bb_spin *s, bool found)
{
	if (found)
		s->cur_ns = s->max_ns;
	else
		s->cur_ns = s->cur_ns / 2 < 1000 ? 0 : s->cur_ns / 2;
}

/* Xen's VDISK_* bits of the "info" key (xen/io/blkif.h). */
#define BB_VDISK_CDROM     0x1u
#define BB_VDISK_REMOVABLE 0x2u
#define BB_VDISK_READONLY  0x4u

/* ---- request checks (validate.c) ---------------------------------------- */

/* What the device offers, as the checks see it. */
struct bb_limits {
	uint64_t sectors;        /* disk size in 512-byte sectors */
	uint32_t max_indirect;   /* negotiated indirect segments; 0: none */
	bool readonly;
	bool flush;              /* feature-flush-cache offered */
	bool barrier;            /* feature-barrier offered */
	bool discard;            /* feature-discard offered */
	bool secure;             /* discard-secure offered */
};

/* Why a request was refused (each has a counter and a named test). */
enum bb_verdict {
	BB_OK = 0,
	BB_BAD_OP,          /* unknown, reserved, or bad indirect_op */
	BB_BAD_SEGMENTS,    /* nr_segments 0 or above the limit */
	BB_BAD_SECT,        /* first_sect > last_sect, or last_sect > 7 */
	BB_BAD_RANGE,       /* sectors beyond the disk (or wrapping) */
	BB_READONLY,        /* write/flush-with-data/discard on a r/o disk */
	BB_UNSUPPORTED,     /* barrier/flush/discard/secure not offered */
};

/* What the request path does with a request: the wire op resolved. */
enum bb_kind {
	BB_KIND_READ = 0,
	BB_KIND_WRITE,
	BB_KIND_FLUSH,      /* FLUSH_DISKCACHE: data (if any) then flush */
	BB_KIND_BARRIER,    /* WRITE_BARRIER: drain, data (if any), flush */
	BB_KIND_DISCARD,
};

/*
 * A request after its header passed the checks. Built from the private
 * copy of the slot; the slot is never read again.
 */
struct bb_req {
	uint64_t id;
	uint8_t wire_op;          /* echoed in the response */
	uint8_t kind;             /* enum bb_kind */
	bool indirect;
	bool secure;              /* discard with BLKIF_DISCARD_SECURE */
	uint16_t nr_segs;         /* data segments */
	uint16_t nr_indirect;     /* indirect pages holding them */
	uint64_t sector;          /* first 512-byte sector */
	uint64_t nr_sectors;      /* discard: its length; else summed later */
	pvio_grant_ref_t indirect_grefs[PVIO_BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
	struct pvio_blkif_segment seg[PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST];
};

/*
 * Check the header of a copied-out request (operation, segment count,
 * discard range, read-only, features) and fill *out. Direct segments are
 * copied into out->seg but not yet checked. Returns enum bb_verdict.
 */
enum bb_verdict bb_req_check(const struct bb_limits *lim,
			     const struct pvio_blkif_request *raw,
			     struct bb_req *out);

/*
 * Check segs[0..n-1] (each first_sect <= last_sect <= 7) and that the
 * request's sectors [sector, sector + sum) lie within the disk, overflow
 * safe. *nr_sectors receives the sum. Returns BB_OK, BB_BAD_SECT,
 * BB_BAD_RANGE.
 */
enum bb_verdict bb_segs_check(const struct bb_limits *lim, uint64_t sector,
			      const struct pvio_blkif_segment *segs,
			      uint32_t n, uint64_t *nr_sectors);

/* The blkif status for a refused request. */
int16_t bb_verdict_status(enum bb_verdict v);

/* ---- counters ------------------------------------------------------------ */

enum bb_ctr {
	C_REQ_READ, C_REQ_WRITE, C_REQ_BARRIER, C_REQ_FLUSH, C_REQ_DISCARD,
	C_REQ_INDIRECT, C_SECT_READ, C_SECT_WRITTEN,
	C_ERR_OP, C_ERR_SEGMENTS, C_ERR_SECT, C_ERR_RANGE, C_ERR_GRANT,
	C_ERR_READONLY, C_ERR_UNSUPPORTED, C_ERR_IO, C_ERR_NOSPC,
	C_ERR_PROTOCOL,
	C_GNT_MAPS, C_GNT_UNMAPS, C_PERS_HITS, C_PERS_MISSES, C_PERS_EVICT,
	C_KICKS, C_WAKEUPS, C_EVENTS, C_STORM_DELAYS, C_ENG_SUBMITS,
	C_NR
};

/* Written by one thread (relaxed add), read by any (relaxed load). */
struct bb_counters {
	_Atomic uint64_t v[C_NR];
};

static inline void bb_count(struct bb_counters *c, enum bb_ctr i, uint64_t n)
{
	atomic_store_explicit(&c->v[i],
			      atomic_load_explicit(&c->v[i], memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* ---- the request path (blkback.c) ---------------------------------------- */

struct pvio_blkback;

/* Where a data page came from, to give it back after the I/O. */
struct bb_page {
	struct pvio_gnt_cache_entry *ce; /* persistent; else NULL */
	uint32_t handle;                 /* mapped for this request, or ~0 */
	void *addr;                      /* the page */
};

/* One request in flight: its I/O, pages and iovecs. */
struct bb_pending {
	struct blkback_io io;
	uint64_t id;
	uint8_t wire_op;
	uint8_t kind;
	uint8_t stage;            /* 0: data or the only op; 1: flush after */
	bool in_use;
	uint32_t nr_pages;
	uint32_t nr_mapped;       /* pages[] entries holding a handle */
	uint64_t nr_sectors;
	struct bb_page *pages;    /* [max_segs] */
	struct iovec *iov;        /* [max_segs] */
	uint32_t next_free;
};

/* One queue: a ring, its event channel, its thread and engine instance. */
struct bb_queue {
	struct pvio_blkback *bb;
	uint32_t idx;
	struct pvio_host_thread thr;

	/* negotiated (written by the control thread before the thread starts) */
	pvio_grant_ref_t ring_refs[1u << PVIO_RING_MAX_PAGE_ORDER];
	uint32_t ring_handles[1u << PVIO_RING_MAX_PAGE_ORDER];
	uint32_t ring_pages;
	void *ring_va;
	uint32_t remote_port;
	uint32_t port;            /* local port, 0: not bound */
	bool persistent;

	struct pvio_ring_back ring;
	const struct blkback_engine_ops *eng;
	void *eng_ctx;
	uint32_t submit_chunk;    /* the engine's submit_chunk, 0: no limit */

	struct pvio_gnt_cache cache;
	struct pvio_gnt_cache_entry *cache_e;
	uint32_t *cache_b;

	struct bb_pending *pend;
	uint32_t nr_pend, free_head, inflight;
	struct bb_pending *held;  /* a barrier waiting for in-flight I/O */
	struct blkback_io **batch;
	uint32_t nr_batch;
	struct blkback_io **done;
	struct pvio_gnt_map_op *mapops;     /* [max_segs] scratch */
	struct pvio_gnt_unmap_op *unmapops; /* [max_segs] scratch */
	struct pvio_blkif_segment *segs;    /* [max_segs] copy-out scratch */
	uint32_t *mapidx;                   /* [max_segs] page of each map op */
	uint32_t max_segs;
	uint32_t waiter;                    /* evtchn waiter slot, or ~0 */
	enum pvio_evtchn_wait_mode wait_mode;
	struct bb_spin spin_io;             /* polling completions */
	struct bb_spin spin_ring;           /* polling the ring when idle */
	uint64_t tick;                      /* the cache's clock */
	uint32_t win_lookups, win_misses;   /* grant policy window */
	uint32_t probe;
	struct pvio_evtchn_ratelimit rl;    /* event storms */

	struct bb_counters cnt;
};

/* Map the ring, bind the event channel, open the engine, allocate.
 * Control thread. 0 or -errno (everything undone). */
int bb_queue_connect(struct pvio_blkback *bb, struct bb_queue *q);
/* Start the queue's thread. 0 or -errno. */
int bb_queue_start(struct bb_queue *q);
/* Stop and join the thread (it drains in-flight I/O), then undo connect.
 * Control thread. */
void bb_queue_disconnect(struct bb_queue *q);

/* ---- the device (device.c) ------------------------------------------------ */

struct pvio_blkback {
	struct pvio_blkback_config cfg;
	struct pvio_blkback_disk_spec disk;
	struct blkback_backing backing;
	const struct blkback_engine_ops *eng;
	uint32_t devid;

	/* offered (fixed at create) */
	struct bb_limits offer;
	uint32_t max_queues, max_ring_order, max_indirect, persistent_cap;
	bool offer_persistent;

	/* negotiated (control thread; read by queues after they start) */
	struct bb_limits lim;
	bool persistent;
	uint32_t ring_pages;

	/* control */
	struct pvio_host_thread ctl;
	_Atomic bool broken;       /* a queue saw a protocol violation */
	_Atomic bool fatal_done;
	_Atomic uint32_t state;    /* own xenbus state, mirrored */
	_Atomic uint32_t connects;
	struct pvio_xenbus_device xdev;

	pthread_mutex_t lock;      /* q/nr_q against stats() */
	struct bb_queue *q;
	uint32_t nr_q;
	struct bb_counters retired; /* counters of queues gone */

	struct pvio_host_ratelog log; /* bb_log()'s, BB_LOG_PER_SEC */
};

/* The control thread's body (xenbus.c). */
void *bb_xenbus_main(void *arg);

/* Tear down every queue (control thread; takes bb->lock). */
void bb_queues_destroy(struct pvio_blkback *bb);

/* Rate-limited log line on stderr: at most BB_LOG_PER_SEC a second per
 * device. */
#define BB_LOG_PER_SEC 10u
void bb_log(struct pvio_blkback *bb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- mapped reads from a memory file system (mapread.c) -------------------- */

/* A read-only shared mapping of a whole backing file. */
struct bb_map {
	char *base;   /* NULL: not mapped */
	size_t len;
};

/*
 * Map the first size bytes of fd (a file on a memory file system) for
 * bb_map_copy, installing the process's SIGBUS handler once. Refuses a
 * file with a hole below size (-ENODATA: reading it through the mapping
 * would allocate the hole's pages). 0 or -errno; m->base NULL on error.
 */
int bb_map_open(struct bb_map *m, int fd, uint64_t size);
void bb_map_close(struct bb_map *m);
/*
 * Copy [off, off + the iovecs' total) of the file into iov. 0; -ERANGE
 * (beyond the mapping), -ENOTSUP (no mapping, or SIGBUS is no longer
 * ours), -EFAULT (SIGBUS: the file shrank, or a hole could not be
 * filled). On an error nothing is promised about iov: read it with
 * preadv instead, and after -EFAULT stop using the mapping.
 */
int bb_map_copy(const struct bb_map *m, uint64_t off, const struct iovec *iov,
		uint32_t nr_iov);

/* ---- backing (backing.c) ---------------------------------------------------- */

/* Open and probe path; readonly opens O_RDONLY. 0 or -errno. */
int bb_backing_open(struct blkback_backing *b, const char *path, bool readonly);
void bb_backing_close(struct blkback_backing *b);

#endif /* BLKBACK_COMMON_H */
