/* SPDX-License-Identifier: MIT */
/*
 * pvio blk: the block path's demo and measuring tool. It builds a small
 * host out of processes and drives a workload through it:
 *
 *   pvio blk (the toolstack) --- fork+exec ---> pvio hostd --run-dir DIR
 *      |  fork ---> frontend domain: blkfront_side_run() (cmd_blkfront.c)
 *      |  fork ---> backend domain:  blkback_side_run()  (cmd_blkback.c)
 *      '  store client on DIR/socket (privileged): creates the vbd
 *
 * Order: hostd; the frontend connects and sends its domid; the toolstack
 * step (pvio_xenbus_device_create for vbd/xvda, be 0, fe domid); the
 * backend starts on the device and says ready; the frontend is told to
 * go, opens the device, runs the workload (blk_workload.c) and sends its
 * result; the backend is told to stop and sends its counters
 * (struct pvio_blkback_stats over its pipe: blk_workload.h's messages);
 * the device is destroyed, hostd stopped, the temp image and dir removed.
 * Every wait for another process has a timeout, and children die with
 * pvio blk (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pvio/xenbus.h>

#include "blk_workload.h"
#include "cli.h"

#define DEFAULT_SIZE (1ull << 30)
#define READY_MS 15000

struct blk_opts {
	const char *disk;           /* NULL: a temp image */
	const char *engine;
	const char *run_dir;        /* NULL: start our own hostd */
	bool no_persistent;
	bool verify_set;
	uint32_t ring_pages;
	bool json;
	struct blk_workload_config wl;
};

struct blk_run {
	struct blk_opts o;
	struct pvio_blkback_disk_spec spec;
	char image[4096];           /* ours, removed at the end */
	char dir[4096];             /* ours, removed at the end */
	const char *run_dir;
	pid_t hostd, front, back;
	int front_st, front_ctl, back_st, back_ctl;
	struct pvio_xs_host ts_host;
	struct pvio_xs ts;
	struct pvio_xs_event ts_ev[8];
	bool ts_open, device;
	uint32_t fe;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void fail_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void fail_line(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pvio blk: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Wait for pid up to ms; then SIGKILL it. Returns its wait status or -1. */
static int reap(pid_t pid, int ms, int sig)
{
	uint64_t deadline = mono_ms() + (uint64_t)ms;
	int status;

	if (pid <= 0)
		return -1;
	if (sig)
		kill(pid, sig);
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR)
			return -1;
		if (mono_ms() >= deadline)
			break;
		poll(NULL, 0, 10);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return -1;
}

static void cleanup(struct blk_run *r)
{
	/* Children first (they let go of their domains), then the device,
	 * then hostd. */
	if (r->front_ctl >= 0)
		close(r->front_ctl); /* EOF: no go */
	r->front_ctl = -1;
	if (r->front > 0)
		reap(r->front, 15000, SIGTERM);
	r->front = 0;
	if (r->back > 0) {
		if (r->back_ctl >= 0)
			close(r->back_ctl); /* EOF: stop */
		r->back_ctl = -1;
		reap(r->back, 15000, 0);
	}
	r->back = 0;
	if (r->device && r->ts_open)
		pvio_xenbus_device_destroy(&r->ts, "vbd", 0, (pvio_domid_t)r->fe,
					   r->spec.devid);
	if (r->ts_open)
		pvio_xs_host_close(&r->ts_host);
	r->ts_open = false;
	if (r->hostd > 0)
		reap(r->hostd, 10000, SIGTERM);
	r->hostd = 0;
	for (int *fd = &r->front_st; fd <= &r->back_ctl; fd++)
		if (*fd >= 0) {
			close(*fd);
			*fd = -1;
		}
	if (r->image[0])
		unlink(r->image);
	if (r->dir[0]) {
		char p[4200];

		snprintf(p, sizeof(p), "%s/hostd.lock", r->dir);
		unlink(p);
		rmdir(r->dir);
	}
}

/* In a child: die with the parent, keep no stdio buffers of it. */
static void child_init(void)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
}

static int make_image(struct blk_run *r, char *spec, size_t spec_size)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	if (!tmp || !*tmp)
		tmp = "/var/tmp";
	snprintf(r->image, sizeof(r->image), "%s/pvio-blk-XXXXXX.img", tmp);
	fd = mkstemps(r->image, 4);
	if (fd < 0) {
		fail_line("cannot create a temp image in %s: %s", tmp, strerror(errno));
		r->image[0] = '\0';
		return -1;
	}
	if (ftruncate(fd, (off_t)r->o.wl.size)) {
		fail_line("cannot size the temp image %s: %s", r->image, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	snprintf(spec, spec_size, "format=raw,vdev=xvda,access=rw,target=%s", r->image);
	return 0;
}

/* fork+exec pvio hostd on a temp dir and wait for its ready line. */
static int start_hostd(struct blk_run *r, uint32_t frames)
{
	char frames_s[16], line[512];
	size_t have = 0;
	int pfd[2];

	snprintf(r->dir, sizeof(r->dir), "/tmp/pvio-blk-XXXXXX");
	if (!mkdtemp(r->dir)) {
		fail_line("cannot create a run dir in /tmp: %s", strerror(errno));
		r->dir[0] = '\0';
		return -1;
	}
	r->run_dir = r->dir;
	if (pipe2(pfd, O_CLOEXEC)) {
		fail_line("pipe: %s", strerror(errno));
		return -1;
	}
	snprintf(frames_s, sizeof(frames_s), "%u", frames);
	fflush(NULL);
	r->hostd = fork();
	if (r->hostd < 0) {
		fail_line("fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	}
	if (r->hostd == 0) {
		child_init();
		setpgid(0, 0); /* ^C goes to pvio blk, which stops hostd last */
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		char *argv[] = { "pvio", "hostd", "--run-dir", r->dir, "--frames", frames_s,
				 NULL };
		int err = cli_exec_self(argv);

		fprintf(stderr, "cannot run /proc/self/exe: %s\n", strerror(-err));
		_exit(PVIO_EXIT_FAIL);
	}
	close(pfd[1]);
	uint64_t deadline = mono_ms() + READY_MS;
	for (;;) {
		struct pollfd p = { .fd = pfd[0], .events = POLLIN };
		uint64_t now = mono_ms();
		int rc;

		if (now >= deadline) {
			fail_line("pvio hostd did not start within %d s", READY_MS / 1000);
			break;
		}
		rc = poll(&p, 1, (int)(deadline - now));
		if (rc <= 0)
			continue;
		ssize_t n = read(pfd[0], line + have, sizeof(line) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			have += (size_t)n;
			line[have] = '\0';
			if (strstr(line, "pvio hostd: serving")) {
				close(pfd[0]); /* hostd ignores SIGPIPE */
				return 0;
			}
			if (have < sizeof(line) - 1)
				continue;
		}
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		fail_line("pvio hostd did not start: %s", have ? line : "it exited");
		break;
	}
	close(pfd[0]);
	return -1;
}

static int toolstack_open(struct blk_run *r)
{
	char path[4200];
	int rc;

	snprintf(path, sizeof(path), "%s/socket", r->run_dir);
	rc = pvio_xs_host_connect(&r->ts_host, path);
	if (rc == 0) {
		rc = pvio_xs_init(&r->ts, &pvio_xs_host_ops, &r->ts_host, r->ts_ev, 8);
		if (rc)
			pvio_xs_host_close(&r->ts_host);
	}
	if (rc) {
		fail_line("cannot reach the store at %s: %s", path, strerror(-rc));
		return -1;
	}
	pvio_xs_set_timeout(&r->ts, 10000);
	r->ts_open = true;
	return 0;
}

static int spawn_front(struct blk_run *r)
{
	int st[2], ctl[2];

	if (pipe2(st, O_CLOEXEC) || pipe2(ctl, O_CLOEXEC)) {
		fail_line("pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	r->front = fork();
	if (r->front < 0) {
		fail_line("fork: %s", strerror(errno));
		return -1;
	}
	if (r->front == 0) {
		struct blkfront_side_opts fo = {
			.run_dir = r->run_dir, .devid = r->spec.devid, .wl = r->o.wl,
			.no_persistent = r->o.no_persistent, .ring_pages = r->o.ring_pages,
			.wait_s = 30, .status_fd = st[1], .ctl_fd = ctl[0], .cmd = "blk",
		};

		child_init();
		close(st[0]);
		close(ctl[1]);
		if (r->ts_open)
			close(r->ts_host.fd);
		int rc = blkfront_side_run(&fo);

		free(r); /* this child's copy of the run: leave nothing behind */
		_exit(rc);
	}
	close(st[1]);
	close(ctl[0]);
	r->front_st = st[0];
	r->front_ctl = ctl[1];
	return 0;
}

static int spawn_back(struct blk_run *r)
{
	int st[2], ctl[2];

	if (pipe2(st, O_CLOEXEC) || pipe2(ctl, O_CLOEXEC)) {
		fail_line("pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	r->back = fork();
	if (r->back < 0) {
		fail_line("fork: %s", strerror(errno));
		return -1;
	}
	if (r->back == 0) {
		struct blkback_side_opts bo = {
			.run_dir = r->run_dir, .disk = &r->spec, .engine = r->o.engine,
			.frontend = (int)r->fe, .no_persistent = r->o.no_persistent,
			.queues = r->o.wl.numjobs, .ring_pages = r->o.ring_pages,
			.status_fd = st[1], .ctl_fd = ctl[0], .no_create = true,
		};

		child_init();
		setpgid(0, 0); /* ^C stops the frontend's workload, not this */
		close(st[0]);
		close(ctl[1]);
		close(r->front_st);
		close(r->front_ctl);
		close(r->ts_host.fd);
		int rc = blkback_side_run(&bo);

		free(r); /* this child's copy of the run: leave nothing behind */
		_exit(rc);
	}
	close(st[1]);
	close(ctl[0]);
	r->back_st = st[0];
	r->back_ctl = ctl[1];
	return 0;
}

/* Receive want into buf, or report what came instead. 0, 1 (exit 1), 2 (exit 2). */
static int expect(struct blk_run *r, int fd, const char *who, int want, void *buf,
		  uint32_t size, int timeout_ms)
{
	/* A buffer big enough for any message: the payload or a text line. */
	union {
		struct blk_workload_result res;
		char text[600];
	} *u = malloc(sizeof(*u));
	int type, rc = PVIO_EXIT_FAIL;

	if (!u) {
		fail_line("no memory");
		return PVIO_EXIT_FAIL;
	}
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	bool forwarded = false;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = mono_ms();

		if (now >= deadline) {
			fail_line("the %s did not answer within %d s", who, timeout_ms / 1000);
			goto out;
		}
		if (blk_stop_requested && !forwarded && r->front > 0) {
			kill(r->front, SIGINT);
			forwarded = true;
		}
		if (poll(&p, 1, 200) > 0)
			break;
	}
	uint32_t len = 0;

	type = blk_msg_recv(fd, u, sizeof(*u), &len, 10000);
	if (type == want && len == size) {
		if (size)
			memcpy(buf, u, size);
		rc = 0;
	} else if (type == BLK_MSG_ERROR || type == BLK_MSG_USAGE) {
		u->text[sizeof(u->text) - 1] = '\0';
		fail_line("%s: %s", who, u->text);
		rc = type == BLK_MSG_USAGE ? PVIO_EXIT_USAGE : PVIO_EXIT_FAIL;
	} else if (type == -EPIPE) {
		fail_line("the %s process exited unexpectedly", who);
	} else if (type < 0) {
		fail_line("reading from the %s: %s", who, strerror(-type));
	} else {
		fail_line("the %s sent an unexpected message (%d)", who, type);
	}
out:
	free(u);
	return rc;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pvio blk [--disk SPEC] [--engine E] [workload flags]\n"
		"                [--persistent on|off] [--ring-pages N] [--json]\n"
		"                [--run-dir DIR]\n"
		"\n"
		"Run the block path end to end and measure it: start pvio hostd, a\n"
		"backend domain (blkback) and a frontend domain (blkfront) as separate\n"
		"processes, create the virtual disk xvda between them as the toolstack,\n"
		"and drive a workload through the frontend with every read verified.\n"
		"With no flags: a temporary 1 GiB sparse image (in $TMPDIR or /var/tmp,\n"
		"removed after), 5 s of 4 KiB random reads and writes at queue depth\n"
		"32. Prints a progress line each second when stdout is a terminal, then\n"
		"IOPS, MiB/s, latency percentiles, errors, verification, kicks and\n"
		"grant maps per request and the persistent-grant hit rate (the\n"
		"backend's counters come back from its process over a pipe).\n"
		"\n"
		"  --disk SPEC       use this disk instead of a temp image, in xl's syntax\n"
		"                    ('format=raw,vdev=xvda,access=rw,target=/path' or\n"
		"                    'file:/path,xvda,w'); writes destroy its data;\n"
		"                    unwritten blocks must read the same each time\n"
		"  --engine E        blkback's engine: io_uring (default), libaio, sync,\n"
		"                    or null (no data kept: --verify defaults to off)\n"
		"%s"
		"                    (--size also sizes the temp image; default 1g)\n"
		"  --persistent on|off  persistent grants, both ends (default on)\n"
		"  --ring-pages N    pages per ring: 1 (default), 2, 4, 8, 16\n"
		"  --json            print one JSON object instead of text\n"
		"  --run-dir DIR     join the pvio hostd serving DIR instead of starting\n"
		"                    one (its domid 0 must be free)\n"
		"  --help            this text\n"
		"\n"
		"exit status: 0 every request succeeded and verified, 1 a failed run\n"
		"(I/O errors, a mismatch, a side that would not start), 2 bad usage.\n",
		blk_workload_help);
}

static void parse(struct blk_opts *o, int argc, char **argv)
{
	const char *v;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (cli_is_help(arg)) {
			usage(stdout);
			exit(PVIO_EXIT_OK);
		} else if (!strncmp(arg, "--verify", 8) &&
			   blk_workload_flag("blk", &o->wl, argc, argv, &i)) {
			o->verify_set = true;
		} else if (blk_workload_flag("blk", &o->wl, argc, argv, &i)) {
			continue;
		} else if ((v = cli_flag_value("blk", "--disk", argc, argv, &i))) {
			o->disk = v;
		} else if ((v = cli_flag_value("blk", "--engine", argc, argv, &i))) {
			o->engine = blk_parse_engine("blk", v);
		} else if ((v = cli_flag_value("blk", "--run-dir", argc, argv, &i))) {
			if (!*v)
				cli_usage_error("blk", "--run-dir needs a directory");
			o->run_dir = v;
		} else if ((v = cli_flag_value("blk", "--persistent", argc, argv, &i))) {
			o->no_persistent = !blk_parse_onoff("blk", "--persistent", v);
		} else if ((v = cli_flag_value("blk", "--ring-pages", argc, argv, &i))) {
			o->ring_pages = blk_parse_ring_pages("blk", v);
		} else if (!strcmp(arg, "--json")) {
			o->json = true;
		} else {
			cli_usage_error("blk", "unknown flag '%s'", arg);
		}
	}
	if (o->engine && !strcmp(o->engine, "null")) {
		if (o->verify_set && o->wl.verify)
			cli_usage_error("blk", "--verify on cannot pass with --engine null "
					"(it keeps no data)");
		o->wl.verify = false;
	}
}

int cmd_blk(int argc, char **argv)
{
	struct blk_run *r = calloc(1, sizeof(*r));
	struct blk_workload_result *res = calloc(1, sizeof(*res));
	struct pvio_blkback_stats bstats = { 0 };
	char spec_text[4200], err[256];
	int status = PVIO_EXIT_FAIL, rc;
	bool have_bstats = false, have_res = false;

	if (!r || !res) {
		fail_line("no memory");
		return PVIO_EXIT_FAIL;
	}
	r->front_st = r->front_ctl = r->back_st = r->back_ctl = -1;
	r->ts_host.fd = -1;
	blk_workload_defaults(&r->o.wl);
	r->o.ring_pages = 1;
	r->o.wl.progress = true;
	r->o.wl.progress_prefix = "pvio blk";
	parse(&r->o, argc, argv);
	if (r->o.disk) {
		if (pvio_blkback_disk_spec_parse(r->o.disk, &r->spec, err, sizeof(err)))
			cli_usage_error("blk", "--disk: %s", err);
	}
	blk_install_stop_handlers();

	if (!r->o.disk) {
		r->o.wl.fresh = true;
		if (!r->o.wl.size)
			r->o.wl.size = DEFAULT_SIZE;
		if (make_image(r, spec_text, sizeof(spec_text)))
			goto out;
		if (pvio_blkback_disk_spec_parse(spec_text, &r->spec, err, sizeof(err))) {
			fail_line("temp image spec: %s", err);
			goto out;
		}
	}
	if (r->o.run_dir) {
		r->run_dir = r->o.run_dir;
	} else {
		uint64_t frames = (uint64_t)blkfront_side_pages(&r->o.wl, r->o.ring_pages) +
				  1024 + 4096;

		if (start_hostd(r, (uint32_t)frames))
			goto out;
	}
	if (toolstack_open(r) || spawn_front(r))
		goto out;
	rc = expect(r, r->front_st, "frontend", BLK_MSG_DOMID, &r->fe, sizeof(r->fe), READY_MS);
	if (rc) {
		status = rc;
		goto out;
	}

	/* The driver domain first: hostd resets a new domain's store home,
	 * /local/domain/0 included, so the device goes in after it. */
	if (spawn_back(r))
		goto out;
	{
		uint32_t be_id;

		rc = expect(r, r->back_st, "backend", BLK_MSG_DOMID, &be_id, sizeof(be_id),
			    READY_MS);
		if (rc) {
			status = rc;
			goto out;
		}
	}
	/* The toolstack's step: both device dirs, as libxl creates them. */
	{
		char vd[16];
		struct pvio_xenbus_kv bk[] = {
			{ "params", r->spec.target },
			{ "mode", r->spec.readonly ? "r" : "w" },
			{ "dev", r->spec.vdev },
			{ "device-type", r->spec.cdrom ? "cdrom" : "disk" },
		};
		snprintf(vd, sizeof(vd), "%u", r->spec.devid);
		struct pvio_xenbus_kv fk[] = {
			{ "virtual-device", vd },
			{ "device-type", r->spec.cdrom ? "cdrom" : "disk" },
		};
		struct pvio_xenbus_device_keys keys = {
			.frontend = fk, .nr_frontend = 2, .backend = bk, .nr_backend = 4,
		};

		rc = pvio_xenbus_device_create(&r->ts, "vbd", 0, (pvio_domid_t)r->fe,
					       r->spec.devid, &keys);
		if (rc) {
			fail_line("creating vbd %u for domain %u in the store: %s",
				  r->spec.devid, r->fe, strerror(-rc));
			goto out;
		}
		r->device = true;
	}

	rc = expect(r, r->back_st, "backend", BLK_MSG_READY, NULL, 0, READY_MS);
	if (rc) {
		status = rc;
		goto out;
	}
	if (write(r->front_ctl, "g", 1) != 1) {
		fail_line("the frontend process exited unexpectedly");
		goto out;
	}
	rc = expect(r, r->front_st, "frontend", BLK_MSG_RESULT, res, sizeof(*res),
		    (int)r->o.wl.runtime_ms + 60000);
	if (rc) {
		status = rc;
		goto out;
	}
	have_res = true;
	/* The frontend closes its device and leaves; then the backend stops. */
	reap(r->front, 15000, 0);
	r->front = 0;
	close(r->back_ctl);
	r->back_ctl = -1;
	if (expect(r, r->back_st, "backend", BLK_MSG_BSTATS, &bstats, sizeof(bstats),
		   15000) == 0)
		have_bstats = true;
	status = blk_workload_ok(res) ? PVIO_EXIT_OK : PVIO_EXIT_FAIL;
out:
	cleanup(r);
	if (have_res) {
		if (r->o.json)
			blk_report_json(stdout, "blk", res, have_bstats ? &bstats : NULL,
					r->o.engine ? r->o.engine : "io_uring");
		else
			blk_report_text(stdout, "blk", res, have_bstats ? &bstats : NULL,
					r->o.engine ? r->o.engine : "io_uring");
		fflush(stdout);
		if (!blk_workload_ok(res))
			blk_report_failure(stderr, "blk", res);
	}
	free(res);
	free(r);
	return status;
}
