/* SPDX-License-Identifier: MIT */
/*
 * What the commands that run domains as processes share: `pvio blk` and
 * `pvio net` act as a toolstack (start hostd, fork a frontend and a
 * backend domain, create the device between them, collect results over
 * status pipes), and their sides (`pvio blkfront`, `pvio netback`, ...)
 * wait for the toolstack's steps. The status pipes carry blk_msg_send()
 * frames; BLK_MSG_ERROR and BLK_MSG_USAGE mean the same for every command.
 */
#ifndef PVIO_TOOLS_DOMAINS_H
#define PVIO_TOOLS_DOMAINS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <pvio/domain.h>
#include <pvio/xenbus.h>
#include <pvio/xenstored.h>

uint64_t dom_mono_ms(void);

/* Signal pid with sig (0: none), wait up to ms, then SIGKILL it.
 * Returns its wait status, or -1 when it had to be killed or was no child. */
int dom_reap(pid_t pid, int ms, int sig);

/* ------------------------------------------------------------ toolstack */

/* A forked side: its pid and our ends of its two pipes (-1: closed). */
struct dom_side {
	pid_t pid;
	int st;  /* status pipe, read end: the side's blk_msg frames */
	int ctl; /* control pipe, write end: a byte or EOF tells it to go/stop */
};

/* One run of `pvio CMD`: hostd, two sides and the store client. */
struct dom_run {
	const char *cmd;         /* "blk", "net": messages and the run dir name */
	char dir[4096];          /* the run dir of our hostd; removed at the end */
	const char *run_dir;     /* dir, or the one --run-dir named */
	pid_t hostd;
	struct dom_side front, back;
	struct pvio_xs_host ts_host;
	struct pvio_xs ts;
	struct pvio_xs_event ts_ev[8];
	bool ts_open;
	const char *dev_kind;    /* the device dom_device_create() made, */
	uint32_t dev_fe, dev_id; /* destroyed by dom_cleanup() */
	bool device;
};

void dom_run_init(struct dom_run *r, const char *cmd);

/* "pvio CMD: MSG" on stderr, one line. */
void dom_fail(const struct dom_run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* fork+exec `pvio hostd --frames frames` on a new /tmp/pvio-CMD-XXXXXX and
 * wait for its ready line; r->run_dir points at it. 0 or -1 (reported). */
int dom_hostd_start(struct dom_run *r, uint32_t frames);

/* Connect the toolstack's store client to r->run_dir. 0 or -1 (reported). */
int dom_toolstack_open(struct dom_run *r);

/*
 * Fork a side with a status and a control pipe. The child dies with us
 * (PR_SET_PDEATHSIG), ignores SIGPIPE, leads its own process group when
 * own_group (so ^C reaches only the frontend's workload), closes every
 * descriptor of r's, runs fn(arg, status_fd, ctl_fd) and exits with its
 * return value; fn frees whatever the child's copy of the run owns.
 * Returns 0 or -1 (reported).
 */
int dom_spawn(struct dom_run *r, struct dom_side *s, bool own_group,
	      int (*fn)(void *arg, int st_fd, int ctl_fd), void *arg);

/*
 * Receive a message of type want and exactly size bytes into buf from fd
 * within timeout_ms; a stop asked by a signal meanwhile is forwarded to
 * the frontend as SIGINT. Returns 0, or the exit code (PVIO_EXIT_FAIL,
 * PVIO_EXIT_USAGE for a side's usage error) after reporting what came
 * instead.
 */
int dom_expect(struct dom_run *r, int fd, const char *who, int want, void *buf,
	       uint32_t size, int timeout_ms);

/* The toolstack's step: create the device kind/devid between backend
 * domain 0 and frontend fe, as libxl does. 0 or -1 (reported). */
int dom_device_create(struct dom_run *r, const char *kind, uint32_t fe,
		      uint32_t devid, const struct pvio_xenbus_device_keys *keys);

/* Undo a run: the frontend (EOF on its control pipe, then SIGTERM), the
 * backend (EOF: stop), the device, the store client, hostd, the run dir. */
void dom_cleanup(struct dom_run *r);

/* ---------------------------------------------------------------- sides */

/* One line: to the toolstack as a blk_msg of type over status_fd, or as
 * "pvio WHO: MSG" on stderr when there is no pipe (status_fd < 0). */
void dom_side_fail(const char *who, int status_fd, uint32_t type,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A stop asked: a signal (blk_stop_requested), or ctl_fd readable or
 * closed; waits up to timeout_ms. */
bool dom_stop_asked(int ctl_fd, int timeout_ms);

/* Wait up to a minute for the toolstack's go (one byte on fd). */
bool dom_wait_go(int fd);

/* Wait until the toolstack created our device kind/devid (its "backend"
 * key). 0, -EINTR (stop asked), -ETIMEDOUT, -ECONNRESET (hostd gone), or
 * a store error. */
int dom_wait_device(struct pvio_domain *d, const char *kind, uint32_t devid,
		    int wait_s);

/* The store timeout of the commands' clients (pvio_xs_host_open()). */
#define DOM_STORE_TIMEOUT_MS 10000

bool dom_node_exists(struct pvio_xs *xs, const char *path);

#endif
