/* SPDX-License-Identifier: MIT */
/*
 * The block commands' shared engine (pvio blk, pvio blkfront, pvio
 * blkback): the workload that drives an open blkfront device with data
 * verification and a latency histogram, the summary printers, the flags
 * the commands share, and the pipe messages by which pvio blk collects
 * results from its backend and frontend processes.
 *
 * Verification (--verify on): every block (one --bs unit) of the region
 * has 8 bytes of state in the frontend's memory: a 29-bit generation, a
 * 32-bit checksum of the whole block, and flags. A write stamps its
 * buffer with {magic, byte offset, generation} followed by data derived
 * from both, and records the checksum when it completes. A read of a block
 * written in this run must carry the right stamp and checksum; a read of a
 * block never written must be zeros (a fresh image) or, on a disk of
 * unknown content, the same bytes as the first read of it in this run. A
 * block whose write failed is not checked until written again. At most one
 * request per block is in flight, so the expectation is never ambiguous.
 */
#ifndef PVIO_TOOLS_BLK_WORKLOAD_H
#define PVIO_TOOLS_BLK_WORKLOAD_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <pvio/blkback.h>
#include <pvio/blkfront.h>

/* ---- workload ------------------------------------------------------------ */

enum blk_rw {
	BLK_RW_READ,      /* sequential reads */
	BLK_RW_WRITE,     /* sequential writes */
	BLK_RW_RANDREAD,
	BLK_RW_RANDWRITE,
	BLK_RW_RANDRW,    /* random, half reads, half writes */
};

#define BLK_BS_MAX (4u << 20)   /* one zero-copy buffer at most */
#define BLK_IODEPTH_MAX 1024u
#define BLK_JOBS_MAX PVIO_BLKFRONT_MAX_QUEUES

struct blk_workload_config {
	enum blk_rw rw;         /* default randrw */
	uint32_t bs;            /* bytes, multiple of 512; default 4096 */
	uint32_t iodepth;       /* per job; default 32 */
	uint32_t numjobs;       /* jobs = queues; default 1 */
	uint32_t runtime_ms;    /* default 5000 */
	uint64_t size;          /* region from offset 0; 0: the whole device */
	bool verify;            /* default on */
	bool fresh;             /* the image is new: unwritten blocks are zero */
	bool progress;          /* a line a second on stdout */
	const char *progress_prefix; /* "pvio blk" */
};

/* A log-linear latency histogram: 16 buckets per power of two, in ns. */
#define BLK_HIST_SUB 16u
#define BLK_HIST_BUCKETS (64u * BLK_HIST_SUB)

struct blk_hist {
	uint64_t count[BLK_HIST_BUCKETS];
	uint64_t n, sum_ns, max_ns;
};

void blk_hist_add(struct blk_hist *h, uint64_t ns);
/* The value at quantile q (0..1), in ns: the midpoint of its bucket. */
double blk_hist_quantile(const struct blk_hist *h, double q);

/* What one run measured. Plain data: it crosses a pipe as is. */
struct blk_workload_result {
	uint64_t ns;                    /* first submit .. last completion */
	uint64_t reads, writes;         /* completed, with or without error */
	uint64_t read_bytes, write_bytes; /* completed without error */
	uint64_t read_errors, write_errors;
	uint64_t verify_checked, verify_failures;
	bool verify_on;
	bool drained;                   /* every request came back */
	/* The first error and the first mismatch, for the one-line report. */
	int first_error;                /* -errno, 0: none */
	uint32_t first_error_op;        /* PVIO_BLKFRONT_OP_* */
	uint64_t first_error_offset;
	uint64_t first_bad_offset;
	uint32_t first_bad_expect_gen, first_bad_read_gen; /* 0: unwritten */
	uint32_t first_bad_expect_sum, first_bad_read_sum;
	struct blk_hist lat;
	struct pvio_blkfront_info info;
	struct pvio_blkfront_stats front;
	struct blk_workload_config cfg;  /* as run (size resolved) */
};

/*
 * Run cfg on bf from the calling thread until runtime or *stop, then wait
 * (up to 30 s) for everything in flight. Returns 0 (res filled; errors and
 * mismatches are in res), -EINVAL with msg (cfg does not fit the device:
 * bs or size not a multiple of the sector size, region beyond the end),
 * -ENOMEM (buffers or verify state) with msg.
 */
int blk_workload_run(struct pvio_blkfront *bf, const struct blk_workload_config *cfg,
		     _Atomic int *stop, struct blk_workload_result *res,
		     char *msg, size_t msg_size);

/* Did the run pass: no I/O error, no mismatch, everything drained? */
bool blk_workload_ok(const struct blk_workload_result *res);

/*
 * The summary, text or one JSON object, on out. bb (may be NULL: a
 * frontend alone) adds the backend's counters: kicks both ways, grant maps
 * and the persistent-grant hit rate. engine may be NULL.
 */
void blk_report_text(FILE *out, const char *cmd, const struct blk_workload_result *res,
		     const struct pvio_blkback_stats *bb, const char *engine);
void blk_report_json(FILE *out, const char *cmd, const struct blk_workload_result *res,
		     const struct pvio_blkback_stats *bb, const char *engine);
/* The one stderr line of a failed run (errors / mismatch / not drained). */
void blk_report_failure(FILE *out, const char *cmd, const struct blk_workload_result *res);

/* ---- flags the block commands share ------------------------------------------ */

/*
 * Sizes as fio writes them: a number with an optional k, m, g or t
 * suffix (powers of 1024; "KiB", "K", "kb" all accepted). Out of
 * [min, max] or garbage exits 2 naming the flag.
 */
uint64_t blk_parse_size(const char *cmd, const char *flag, const char *value,
			uint64_t min, uint64_t max);

/* "on"/"off" (also 1/0, yes/no); anything else exits 2. */
bool blk_parse_onoff(const char *cmd, const char *flag, const char *value);

/* --runtime as fio writes it: "5" or "5s" (seconds, 1..86400) or "500ms"
 * (100..86400000); returns milliseconds, exits 2 on anything else. */
uint32_t blk_parse_runtime(const char *cmd, const char *value);

/*
 * If argv[*i] is a workload flag (--rw --bs --iodepth --numjobs/--queues
 * --runtime --size --verify), parse it into c, advance *i past its value
 * and return true.
 */
bool blk_workload_flag(const char *cmd, struct blk_workload_config *c, int argc,
		       char **argv, int *i);
void blk_workload_defaults(struct blk_workload_config *c);
/* The flags' help text, one block for every command that takes them. */
extern const char blk_workload_help[];
const char *blk_rw_name(enum blk_rw rw);

/* ---- the two sides, as functions pvio blk forks ------------------------------ */

/*
 * pvio blk runs each side in a forked child (no exec) and reads messages
 * from its pipe: one header then len bytes. The same binary is on both
 * ends, so payloads are the plain structs below.
 */
enum blk_msg_type {
	BLK_MSG_DOMID = 1,   /* frontend: uint32_t domid, connected */
	BLK_MSG_READY = 2,   /* backend: serving (InitWait), no payload */
	BLK_MSG_ERROR = 3,   /* either: a one-line message, then it exits 1 */
	BLK_MSG_RESULT = 4,  /* frontend: struct blk_workload_result */
	BLK_MSG_BSTATS = 5,  /* backend: struct pvio_blkback_stats, at exit */
	BLK_MSG_USAGE = 6,   /* frontend: a one-line usage problem, exit 2 */
};

struct blk_msg_hdr {
	uint32_t type;
	uint32_t len;
};

/* Write one message (all of it, retrying EINTR). 0 or -errno. */
int blk_msg_send(int fd, uint32_t type, const void *payload, uint32_t len);
/*
 * Read one message into buf[size] (payload; *len gets its length), waiting
 * at most timeout_ms for all of it. Returns the type, -ETIMEDOUT, -EPIPE
 * (the writer closed: the side exited), -EPROTO (too large), -errno.
 */
int blk_msg_recv(int fd, void *buf, uint32_t size, uint32_t *len, int timeout_ms);

struct blkback_side_opts {
	const char *run_dir;
	const struct pvio_blkback_disk_spec *disk;
	const char *engine;       /* NULL: io_uring */
	int frontend;             /* -1: find the device in the store */
	bool no_persistent;
	uint32_t queues;          /* offered; 0: 4 */
	uint32_t ring_pages;      /* largest ring offered; 0: 16 */
	bool json;                /* final stats as JSON (standalone) */
	/* Set by pvio blk: report on status_fd, stop on ctl_fd, serve one
	 * frontend only (no waiting for a new one after it leaves). */
	int status_fd;            /* -1: none */
	int ctl_fd;               /* -1: none; readable or EOF: stop */
	bool no_create;           /* wait for the toolstack to create it */
	bool no_optional;         /* --features none: offer no optional
				   * feature (persistent, indirect, flush,
				   * barrier, discard), 1 queue, 1 ring page */
};

/* The backend domain's process body. Returns an exit status. */
int blkback_side_run(const struct blkback_side_opts *o);

struct blkfront_side_opts {
	const char *run_dir;
	uint32_t devid;
	struct blk_workload_config wl;
	bool no_persistent;
	uint32_t ring_pages;      /* asked for; 0: 1 */
	int wait_s;               /* for the device and its backend */
	int reconnect_s;          /* > 0: a lost backend is waited for this
				   * long and reconnected (cfg.reconnect) */
	bool json;
	int status_fd;            /* -1: standalone: print the summary */
	int ctl_fd;               /* -1: none; else wait for a byte: go */
	const char *cmd;          /* "blkfront" / "blk", for messages */
};

/* The frontend domain's process body. Returns an exit status. */
int blkfront_side_run(const struct blkfront_side_opts *o);

/* The guest's pseudo-physical pages for this workload (hostd sizing). */
uint32_t blkfront_side_pages(const struct blk_workload_config *wl, uint32_t ring_pages);
/* Grant mappings the driver domain may need at once: queues x (the
 * persistent cache + every slot's indirect segments). */
uint32_t blkback_side_map_handles(uint32_t queues, uint32_t ring_pages);

/* --ring-pages 1|2|4|8|16 and --vdev NAME, exiting 2 on a bad value. */
uint32_t blk_parse_ring_pages(const char *cmd, const char *value);
uint32_t blk_parse_vdev(const char *cmd, const char *value);
/* --engine: one of blkback's engines, else exit 2. */
const char *blk_parse_engine(const char *cmd, const char *value);

/* Set by SIGINT/SIGTERM handlers the block commands install. */
extern _Atomic int blk_stop_requested;
void blk_install_stop_handlers(void);

#endif
