/* SPDX-License-Identifier: MIT */
/*
 * nbdkit-pvio-plugin: export a blkfront device over NBD, so that any NBD
 * client (nbdcopy, qemu-img, qemu-io, fio's nbd engine, nbd-client) does
 * its I/O through the frontend, the ring, the grants and the backend.
 *
 *   NBD client --unix socket--> nbdkit worker threads
 *        |  pread / pwrite / flush / trim / zero
 *   this plugin: one guest domain (pvio_domain_connect), one blkfront device
 *        |  each worker thread -> its own queue (round-robin on first use)
 *   blkfront ==ring + grants + event channel==> blkback (the driver domain)
 *
 *   nbdkit -U SOCK --foreground ./nbdkit-pvio-plugin.so run-dir=/run/pvio
 *
 * Parameters:
 *   run-dir=DIR     the pvio hostd to join (required; DIR/hostd.sock)
 *   devid=N         the vbd's xenstore device id     } at most one;
 *   vdev=NAME       ... or its name (xvda, hdc, sdb) } default xvda (51712)
 *   queues=N        most queues to negotiate, 1..16 (default 4; the
 *                   backend's multi-queue-max-queues caps it)
 *   ring-pages=N    ring pages per queue, power of two 1..16 (default 4)
 *   persistent=BOOL offer persistent grants (default on)
 *   name=NAME       this domain's name in the store (default "nbdkit")
 *   pages=N         this domain's memory in 4 KiB pages (default: hostd's)
 *   wait=SECONDS    how long to wait for the toolstack to create the
 *                   device after this domain exists (default 30)
 *   timeout=SECONDS blkfront's bound on each handshake wait and on close
 *                   (waiting for the backend to close and to unmap grants;
 *                   a backend that died holding persistent grants costs
 *                   the full timeout at shutdown). Default 10.
 *
 * Life cycle. The domain is joined and the device opened in .after_fork,
 * never in .load/.get_ready: a domain must not fork while connected (its
 * lifeline would be shared), and nbdkit forks to daemonise. On the host
 * platform a guest gets its domid when it connects, and hostd clears
 * /local/domain/<domid> then, so the toolstack can only create the device
 * afterwards: .after_fork waits (up to wait=) for the device dir to
 * appear, then opens it. .cleanup closes the device and leaves the domain.
 *
 * Threads. NBDKIT_THREAD_MODEL_PARALLEL. A worker thread takes a queue on
 * its first request (a thread-local index, round-robin over the
 * negotiated queues) and submits only there, so threads do not contend on
 * one ring lock. With one queue every thread shares queue 0: blkfront
 * serialises submission on that queue's lock while requests still overlap
 * on the ring.
 * Waiting: every request goes to blkfront's completion queue; a thread
 * waits in pvio_blkfront_getevents() and hands each completion it takes
 * to the thread that owns it (see io_wait()).
 *
 * Data semantics:
 *   pread/pwrite   sector-aligned requests go straight to the device;
 *                  unaligned heads/tails (NBD clients may ignore
 *                  .block_size) are read-modify-written under an
 *                  exclusive lock that aligned writes take shared.
 *   flush          BLKIF_OP_FLUSH_DISKCACHE (or WRITE_BARRIER); offered
 *                  when the backend has feature-flush-cache/-barrier.
 *   FUA            native: the write (zero, trim) then a flush.
 *   trim           BLKIF_OP_DISCARD on the part of the range aligned to
 *                  discard-granularity/-alignment (trim is advisory; what
 *                  falls outside is left alone). Offered with
 *                  feature-discard on a writable device.
 *   zero           written as zero blocks: blkif's discard promises
 *                  nothing about what reads return afterwards (a block
 *                  device may keep the data), so discard never stands in
 *                  for write-zeroes; NBDKIT_FLAG_MAY_TRIM is accepted and
 *                  ignored. Fast-zero is advertised and always refused
 *                  (ENOTSUP), which tells clients that zeroing costs as
 *                  much as writing.
 *   read-only      the backend's VDISK_READONLY bit or mode "r": can_write
 *                  is false and nbdkit refuses writes (EPERM to the client).
 *   multi-conn     on: every connection is served by the one device, and a
 *                  blkif flush covers every write completed before it.
 */
#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nbdkit-plugin.h>

#include <pvio/blkback.h>   /* pvio_blkback_vdev_to_devid() only */
#include <pvio/blkfront.h>
#include <pvio/domain.h>
#include <pvio/xenbus.h>

#define SECTOR 512u
#define DEFAULT_DEVID ((202u << 8) | (0u << 4)) /* xvda */
#define ZERO_CHUNK (1u << 20)     /* one zero-write request */
#define ZERO_BATCH 16u            /* zero-write requests in flight at once */
#define MAX_REQUEST (32u << 20)   /* the block_size maximum we advertise */
#define WAIT_SLICE_NS 2000000ull  /* one getevents wait; see io_wait() */
#define STORE_TIMEOUT_MS 15000

/* ---- configuration (set before .get_ready, read-only afterwards) ------- */

static const char *cfg_run_dir;
static char *cfg_name;
static uint32_t cfg_devid = DEFAULT_DEVID;
static bool cfg_devid_set;
static uint32_t cfg_queues;       /* 0: blkfront's default */
static uint32_t cfg_ring_pages;   /* 0: blkfront's default */
static bool cfg_persistent = true;
static uint32_t cfg_pages;        /* 0: hostd's default */
static unsigned cfg_wait_s = 30;
static unsigned cfg_timeout_s;    /* 0: blkfront's default (10 s) */

/* ---- the device (set in .after_fork, torn down in .cleanup) ------------ */

static struct pvio_domain *dom;
static struct pvio_blkfront *bf;
static struct pvio_blkfront_info info;
static uint32_t ss;               /* logical sector size, bytes */
/* Unaligned writes (read-modify-write) exclusive, aligned ones shared;
 * writer-preferring, so a stream of aligned writes cannot starve an RMW. */
static pthread_rwlock_t rmw_lock = PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
static void *zero_buf;            /* ZERO_CHUNK zero bytes, only ever read */

static _Atomic uint32_t next_queue;
static _Thread_local uint32_t my_queue_plus1; /* 0: not assigned yet */

static void plugin_unload(void)
{
	free(cfg_name);
	cfg_name = NULL;
}

static int parse_u32_range(const char *key, const char *value, uint32_t lo,
			   uint32_t hi, uint32_t *out)
{
	uint32_t v;

	if (nbdkit_parse_uint32_t(key, value, &v) == -1)
		return -1;
	if (v < lo || v > hi) {
		nbdkit_error("%s=%s: must be %" PRIu32 "..%" PRIu32, key, value, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int plugin_config(const char *key, const char *value)
{
	if (strcmp(key, "run-dir") == 0) {
		cfg_run_dir = value;
	} else if (strcmp(key, "devid") == 0 || strcmp(key, "vdev") == 0) {
		if (cfg_devid_set) {
			nbdkit_error("give the device once: devid= or vdev=");
			return -1;
		}
		if (strcmp(key, "devid") == 0) {
			if (nbdkit_parse_uint32_t(key, value, &cfg_devid) == -1)
				return -1;
		} else if (pvio_blkback_vdev_to_devid(value, &cfg_devid) != 0) {
			nbdkit_error("vdev=%s: not a virtual device name (xvda, hdc, sdb, d0p0)",
				     value);
			return -1;
		}
		cfg_devid_set = true;
	} else if (strcmp(key, "queues") == 0) {
		return parse_u32_range(key, value, 1, PVIO_BLKFRONT_MAX_QUEUES, &cfg_queues);
	} else if (strcmp(key, "ring-pages") == 0) {
		if (parse_u32_range(key, value, 1, 16, &cfg_ring_pages) == -1)
			return -1;
		if (cfg_ring_pages & (cfg_ring_pages - 1)) {
			nbdkit_error("ring-pages=%s: must be a power of two", value);
			return -1;
		}
	} else if (strcmp(key, "persistent") == 0) {
		int b = nbdkit_parse_bool(value);
		if (b == -1)
			return -1;
		cfg_persistent = b;
	} else if (strcmp(key, "name") == 0) {
		size_t n = strlen(value);
		if (n == 0 || n > PVIO_DOMAIN_NAME_MAX) {
			nbdkit_error("name=%s: 1..%d characters", value, PVIO_DOMAIN_NAME_MAX);
			return -1;
		}
		free(cfg_name);
		cfg_name = strdup(value);
		if (!cfg_name) {
			nbdkit_error("strdup: %m");
			return -1;
		}
	} else if (strcmp(key, "pages") == 0) {
		return parse_u32_range(key, value, 256, UINT32_MAX, &cfg_pages);
	} else if (strcmp(key, "wait") == 0) {
		return nbdkit_parse_unsigned(key, value, &cfg_wait_s);
	} else if (strcmp(key, "timeout") == 0) {
		uint32_t v;
		if (parse_u32_range(key, value, 1, 3600, &v) == -1)
			return -1;
		cfg_timeout_s = v;
	} else {
		nbdkit_error("unknown parameter '%s'", key);
		return -1;
	}
	return 0;
}

static int plugin_config_complete(void)
{
	if (!cfg_run_dir) {
		nbdkit_error("run-dir=DIR is required (the directory pvio hostd serves)");
		return -1;
	}
	return 0;
}

#define plugin_config_help \
	"run-dir=DIR         (required) the pvio hostd to join\n" \
	"devid=N | vdev=NAME the vbd to open (default vdev=xvda)\n" \
	"queues=N            most blkfront queues, 1..16 (default 4)\n" \
	"ring-pages=N        ring pages per queue, 1,2,4,8,16 (default 4)\n" \
	"persistent=BOOL     offer persistent grants (default on)\n" \
	"name=NAME           this domain's name (default nbdkit)\n" \
	"pages=N             this domain's memory in 4 KiB pages\n" \
	"wait=SECONDS        wait for the device to be created (default 30)\n" \
	"timeout=SECONDS     each handshake step, and closing (default 10)"

static int plugin_get_ready(void)
{
	char path[4096];

	/* Everything short of connecting, where errors are still visible. */
	if (snprintf(path, sizeof(path), "%s/hostd.sock", cfg_run_dir) >= (int)sizeof(path)) {
		nbdkit_error("run-dir=%s: path too long", cfg_run_dir);
		return -1;
	}
	if (access(path, F_OK) != 0) {
		nbdkit_error("run-dir=%s: no pvio hostd there (%s: %m)", cfg_run_dir, path);
		return -1;
	}
	return 0;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int plugin_after_fork(void)
{
	struct pvio_domain_config dc = {
		.name = cfg_name ? cfg_name : "nbdkit",
		.nr_pages = cfg_pages,
	};
	struct pvio_blkfront_config fc = {
		.max_queues = cfg_queues,
		.max_ring_pages = cfg_ring_pages,
		.no_persistent = !cfg_persistent,
		.timeout_ms = (int)cfg_timeout_s * 1000,
	};
	char path[PVIO_XENBUS_PATH_MAX + 16];
	uint64_t deadline;
	int err;

	err = pvio_domain_connect(cfg_run_dir, &dc, &dom);
	if (err) {
		nbdkit_error("joining pvio hostd at %s: %s", cfg_run_dir, strerror(-err));
		return -1;
	}
	pvio_xs_set_timeout(dom->xs, STORE_TIMEOUT_MS);
	nbdkit_debug("pvio: domain %u (%s) joined %s; opening vbd %" PRIu32,
		     (unsigned)dom->domid, dc.name, cfg_run_dir, cfg_devid);

	/*
	 * The toolstack creates the device once it sees this domain. Only
	 * look (a read has no side effects) until the device's frontend dir
	 * is there: a failed open is not harmless, xenbus marks the dir it
	 * could not attach to Closed with an error node, which would race
	 * with the toolstack's create. The create is one transaction, so
	 * once "backend" exists, the whole dir does.
	 */
	deadline = mono_ms() + (uint64_t)cfg_wait_s * 1000u;
	err = pvio_xenbus_frontend_path(path, sizeof(path), "vbd", dom->domid, cfg_devid);
	if (!err && strlen(path) + sizeof("/backend") > sizeof(path))
		err = -ENAMETOOLONG;
	if (!err) {
		strcat(path, "/backend");
		for (;;) {
			char be[PVIO_XENBUS_PATH_MAX];
			err = pvio_xs_read(dom->xs, PVIO_XS_TX_NONE, path, be, sizeof(be), NULL);
			if (err != -ENOENT || mono_ms() >= deadline)
				break;
			usleep(20000);
		}
	}
	if (!err)
		err = pvio_blkfront_open_devid(dom, cfg_devid, &fc, &bf);
	if (err) {
		nbdkit_error("opening vbd %" PRIu32 " of domain %u: %s%s", cfg_devid,
			     (unsigned)dom->domid, strerror(-err),
			     err == -ENOENT ? " (no such device: did the toolstack create it?)" : "");
		goto fail;
	}
	pvio_blkfront_get_info(bf, &info);
	ss = info.sector_size;
	if (ss < SECTOR || (ss & (ss - 1)) || ss > MAX_REQUEST) {
		nbdkit_error("vbd %" PRIu32 ": unusable sector size %" PRIu32, cfg_devid, ss);
		goto fail;
	}
	zero_buf = calloc(1, ZERO_CHUNK);
	if (!zero_buf) {
		nbdkit_error("calloc: %m");
		goto fail;
	}
	nbdkit_debug("pvio: vbd %" PRIu32 " connected: %" PRIu64 " bytes, sector %" PRIu32
		     ", %s, queues %" PRIu32 ", ring pages %" PRIu32 ", flush %d, discard %d, "
		     "persistent %d, indirect %" PRIu32, cfg_devid, info.sectors * SECTOR, ss,
		     info.readonly ? "read-only" : "read-write", info.nr_queues, info.ring_pages,
		     info.flush, info.discard, info.persistent, info.max_indirect_segments);
	return 0;

fail:
	if (bf)
		pvio_blkfront_close(bf);
	bf = NULL;
	pvio_domain_disconnect(dom);
	dom = NULL;
	return -1;
}

static void plugin_cleanup(void)
{
	if (bf) {
		int err = pvio_blkfront_close(bf);
		if (err)
			nbdkit_debug("pvio: closing the device: %s", strerror(-err));
		bf = NULL;
	}
	pvio_domain_disconnect(dom);
	dom = NULL;
	free(zero_buf);
	zero_buf = NULL;
}

/* ---- the data path ------------------------------------------------------ */

/* One request and the thread that waits for it. */
struct io {
	struct pvio_blkfront_req req;
	_Atomic uint32_t done;    /* R1: pairs with A1 in io_hand_over() */
	int res;
};

static uint32_t my_queue(void)
{
	if (info.nr_queues <= 1)
		return 0;
	if (my_queue_plus1 == 0)
		my_queue_plus1 = atomic_fetch_add_explicit(&next_queue, 1,
							   memory_order_relaxed) %
				 info.nr_queues + 1;
	return my_queue_plus1 - 1;
}

static int io_submit(struct io *io, uint32_t op, void *buf, uint64_t len,
		     uint64_t offset)
{
	memset(io, 0, sizeof(*io));
	io->req.op = op;
	io->req.sector = offset / SECTOR;
	io->req.buf = buf;
	io->req.nr_bytes = len;
	io->req.done = NULL;      /* to the completion queue */
	io->req.user = io;
	return pvio_blkfront_submit(bf, my_queue(), &io->req);
}

/* Give a completion taken from the queue to the thread that waits for it.
 * The owner may return (and its io go away) as soon as done is set. */
static void io_hand_over(struct pvio_blkfront_req *req)
{
	struct io *o = req->user;

	o->res = req->res;
	/* A1: pairs with R1 in io_wait(); publishes res. */
	atomic_store_explicit(&o->done, 1, memory_order_release);
}

/*
 * Wait until io completes. blkfront has one completion queue per device;
 * whichever thread takes a completion hands it to its owner, so every
 * waiting thread both reaps and dispatches (no extra reaper thread, no
 * extra wake-up on the fast path). A thread whose completion another one
 * took sees getevents return empty-handed and finds its done flag set a
 * moment later; it spins for that moment rather than sleeping again, and
 * every sleep is bounded by WAIT_SLICE_NS anyway.
 */
static int io_wait(struct io *io)
{
	struct pvio_blkfront_req *got[32];

	for (;;) {
		/* R1: pairs with A1 in io_hand_over(). */
		if (atomic_load_explicit(&io->done, memory_order_acquire))
			return io->res;
		int n = pvio_blkfront_getevents(bf, got, 1, 32, WAIT_SLICE_NS);
		for (int i = 0; i < n; i++)
			io_hand_over(got[i]);
		if (n > 0)
			continue;
		/* Empty-handed: our completion may be in another thread's hands. */
		for (int spin = 0; spin < 64; spin++) {
			if (atomic_load_explicit(&io->done, memory_order_acquire))
				break;
			sched_yield();
		}
	}
}

/* Submit one request and wait for it. 0 or -errno. */
static int io_sync(uint32_t op, void *buf, uint64_t len, uint64_t offset)
{
	struct io io;
	int err = io_submit(&io, op, buf, len, offset);

	return err ? err : io_wait(&io);
}

/* nbdkit wants -1 with the error set. */
static int fail_errno(const char *what, uint64_t len, uint64_t offset, int err)
{
	int e = -err;

	switch (e) {
	case EROFS: case EPERM: case EINVAL: case ENOSPC:
	case EOPNOTSUPP: case EIO: case ENOMEM:
		break;
	default:
		e = EIO;
	}
	if (len)
		nbdkit_error("pvio: %s of %" PRIu64 " bytes at %" PRIu64 ": %s", what, len,
			     offset, strerror(-err));
	else
		nbdkit_error("pvio: %s: %s", what, strerror(-err));
	if (err == -EIO) {
		struct pvio_blkfront_stats st;
		pvio_blkfront_get_stats(bf, &st);
		nbdkit_debug("pvio: device: %" PRIu64 " errors, %" PRIu64 " protocol errors",
			     st.errors, st.protocol_errors);
	}
	nbdkit_set_error(e);
	return -1;
}

static int do_flush(void)
{
	int err = io_sync(PVIO_BLKFRONT_OP_FLUSH, NULL, 0, 0);

	return err ? fail_errno("flush", 0, 0, err) : 0;
}

/* Sector-aligned I/O: one user request each (blkfront splits it). */
static int read_aligned(void *buf, uint64_t len, uint64_t offset)
{
	return len ? io_sync(PVIO_BLKFRONT_OP_READ, buf, len, offset) : 0;
}

static int write_aligned(const void *buf, uint64_t len, uint64_t offset)
{
	/* blkfront only reads a write's buffer. */
	return len ? io_sync(PVIO_BLKFRONT_OP_WRITE, (void *)(uintptr_t)buf, len, offset) : 0;
}

static bool aligned(uint64_t len, uint64_t offset)
{
	return (offset | len) % ss == 0;
}

static int plugin_pread(void *handle, void *buf, uint32_t count, uint64_t offset,
			uint32_t flags)
{
	(void)handle;
	(void)flags;
	if (aligned(count, offset)) {
		int err = read_aligned(buf, count, offset);
		return err ? fail_errno("read", count, offset, err) : 0;
	}

	/* Unaligned: partial head sector, aligned middle, partial tail. */
	uint8_t *p = buf, *bounce = malloc(ss);
	uint64_t pos = offset, end = offset + count;
	int err = bounce ? 0 : -ENOMEM;

	while (!err && pos < end) {
		uint64_t base = pos - pos % ss;
		if (pos % ss || end - pos < ss) {
			uint64_t n = base + ss - pos;
			if (n > end - pos)
				n = end - pos;
			err = read_aligned(bounce, ss, base);
			if (!err)
				memcpy(p, bounce + (pos - base), n);
			p += n;
			pos += n;
		} else {
			uint64_t n = (end - pos) - (end - pos) % ss;
			err = read_aligned(p, n, pos);
			p += n;
			pos += n;
		}
	}
	free(bounce);
	return err ? fail_errno("read", count, offset, err) : 0;
}

/* Write [pos, pos+n) within the sector at base by read-modify-write. The
 * caller holds rmw_lock exclusively. */
static int rmw_sector(uint8_t *bounce, uint64_t base, uint64_t pos,
		      const uint8_t *src, uint64_t n)
{
	int err = read_aligned(bounce, ss, base);

	if (err)
		return err;
	if (src)
		memcpy(bounce + (pos - base), src, n);
	else
		memset(bounce + (pos - base), 0, n);
	return write_aligned(bounce, ss, base);
}

/* Zero a sector-aligned range: ZERO_CHUNK writes, ZERO_BATCH in flight. */
static int zero_aligned(uint64_t len, uint64_t offset)
{
	struct io ios[ZERO_BATCH];

	while (len) {
		unsigned k = 0;
		int err = 0;
		for (; k < ZERO_BATCH && len; k++) {
			uint64_t n = len < ZERO_CHUNK ? len : ZERO_CHUNK;
			err = io_submit(&ios[k], PVIO_BLKFRONT_OP_WRITE, zero_buf, n, offset);
			if (err)
				break;
			offset += n;
			len -= n;
		}
		for (unsigned i = 0; i < k; i++) {
			int r = io_wait(&ios[i]);
			if (r && !err)
				err = r;
		}
		if (err)
			return err;
	}
	return 0;
}

/* Write count bytes of buf (NULL: zeroes) at offset, aligned or not. */
static int write_range(const uint8_t *buf, uint64_t count, uint64_t offset)
{
	uint64_t pos = offset, end = offset + count;
	int err = 0;

	if (aligned(count, offset)) {
		pthread_rwlock_rdlock(&rmw_lock);
		err = buf ? write_aligned(buf, count, offset) : zero_aligned(count, offset);
		pthread_rwlock_unlock(&rmw_lock);
		return err;
	}

	uint8_t *bounce = malloc(ss);
	if (!bounce)
		return -ENOMEM;
	pthread_rwlock_wrlock(&rmw_lock);
	while (!err && pos < end) {
		uint64_t base = pos - pos % ss;
		const uint8_t *src = buf ? buf + (pos - offset) : NULL;
		if (pos % ss || end - pos < ss) {
			uint64_t n = base + ss - pos;
			if (n > end - pos)
				n = end - pos;
			err = rmw_sector(bounce, base, pos, src, n);
			pos += n;
		} else {
			uint64_t n = (end - pos) - (end - pos) % ss;
			err = src ? write_aligned(src, n, pos) : zero_aligned(n, pos);
			pos += n;
		}
	}
	pthread_rwlock_unlock(&rmw_lock);
	free(bounce);
	return err;
}

static int plugin_pwrite(void *handle, const void *buf, uint32_t count,
			 uint64_t offset, uint32_t flags)
{
	(void)handle;
	int err = write_range(buf, count, offset);

	if (err)
		return fail_errno("write", count, offset, err);
	return flags & NBDKIT_FLAG_FUA ? do_flush() : 0;
}

static int plugin_zero(void *handle, uint32_t count, uint64_t offset,
		       uint32_t flags)
{
	(void)handle;
	if (flags & NBDKIT_FLAG_FAST_ZERO) {
		/* Zeroing is writing here: no faster than pwrite. */
		nbdkit_set_error(ENOTSUP);
		return -1;
	}
	int err = write_range(NULL, count, offset);
	if (err)
		return fail_errno("write-zeroes", count, offset, err);
	return flags & NBDKIT_FLAG_FUA ? do_flush() : 0;
}

static int plugin_trim(void *handle, uint32_t count, uint64_t offset,
		       uint32_t flags)
{
	(void)handle;
	/* Discard only whole granules: trim is advisory, the rest stays. */
	uint64_t gran = info.discard_granularity > ss ? info.discard_granularity : ss;
	uint64_t align = info.discard_alignment % gran;
	uint64_t end = offset + count;
	uint64_t first = offset < align ? align :
			 offset + (gran - (offset - align) % gran) % gran;
	uint64_t last = end < align ? 0 : end - (end - align) % gran;
	int err = 0;

	if (gran % ss || align % ss) { /* a backend we cannot honour exactly */
		gran = ss;
		first = offset + (ss - offset % ss) % ss;
		last = end - end % ss;
	}
	if (first < last) {
		err = io_sync(PVIO_BLKFRONT_OP_DISCARD, NULL, last - first, first);
		if (err)
			return fail_errno("trim", last - first, first, err);
	}
	return flags & NBDKIT_FLAG_FUA ? do_flush() : 0;
}

static int plugin_flush(void *handle, uint32_t flags)
{
	(void)handle;
	(void)flags;
	return do_flush();
}

/* ---- negotiation -------------------------------------------------------- */

static void *plugin_open(int readonly)
{
	(void)readonly;
	if (!bf) {
		nbdkit_error("pvio: no device (did .after_fork fail?)");
		return NULL;
	}
	return bf; /* every connection shares the one device */
}

static int64_t plugin_get_size(void *handle)
{
	(void)handle;
	return (int64_t)(info.sectors * SECTOR);
}

static int plugin_block_size(void *handle, uint32_t *minimum, uint32_t *preferred,
			     uint32_t *maximum)
{
	(void)handle;
	uint32_t pref = info.physical_sector_size > 4096 ? info.physical_sector_size : 4096;

	if (pref < ss || pref % ss)
		pref = ss;
	*minimum = ss;
	*preferred = pref;
	*maximum = MAX_REQUEST;
	return 0;
}

static int plugin_can_write(void *handle)
{
	(void)handle;
	return !info.readonly;
}

static int plugin_can_flush(void *handle)
{
	(void)handle;
	return info.flush;
}

static int plugin_can_fua(void *handle)
{
	(void)handle;
	return info.flush ? NBDKIT_FUA_NATIVE : NBDKIT_FUA_NONE;
}

static int plugin_can_trim(void *handle)
{
	(void)handle;
	return info.discard && !info.readonly;
}

static int plugin_can_zero(void *handle)
{
	(void)handle;
	return !info.readonly;
}

static int plugin_can_fast_zero(void *handle)
{
	(void)handle;
	return 1; /* and plugin_zero() refuses every fast zero at once */
}

static int plugin_can_multi_conn(void *handle)
{
	(void)handle;
	return 1;
}

static int plugin_is_rotational(void *handle)
{
	(void)handle;
	return 0;
}

static void plugin_dump_plugin(void)
{
	printf("pvio_max_queues=%u\n", PVIO_BLKFRONT_MAX_QUEUES);
	printf("pvio_default_vdev=xvda\n");
}

static struct nbdkit_plugin plugin = {
	.name = "pvio",
	.longname = "pvio blkfront (Xen blkif split driver)",
	.version = "0.1.0",
	.description = "Export a pvio blkfront device: I/O through ring, grants and blkback",
	.unload = plugin_unload,
	.config = plugin_config,
	.config_complete = plugin_config_complete,
	.config_help = plugin_config_help,
	.get_ready = plugin_get_ready,
	.after_fork = plugin_after_fork,
	.cleanup = plugin_cleanup,
	.dump_plugin = plugin_dump_plugin,
	.open = plugin_open,
	.get_size = plugin_get_size,
	.block_size = plugin_block_size,
	.can_write = plugin_can_write,
	.can_flush = plugin_can_flush,
	.can_fua = plugin_can_fua,
	.can_trim = plugin_can_trim,
	.can_zero = plugin_can_zero,
	.can_fast_zero = plugin_can_fast_zero,
	.can_multi_conn = plugin_can_multi_conn,
	.is_rotational = plugin_is_rotational,
	.pread = plugin_pread,
	.pwrite = plugin_pwrite,
	.flush = plugin_flush,
	.trim = plugin_trim,
	.zero = plugin_zero,
	.errno_is_preserved = 0,
};

/* What NBDKIT_REGISTER_PLUGIN defines (for -Wmissing-prototypes). */
NBDKIT_DLL_PUBLIC struct nbdkit_plugin *plugin_init(void);

NBDKIT_REGISTER_PLUGIN(plugin)
