/* SPDX-License-Identifier: MIT */
/*
 * pvio net: the network path's demo and measuring tool, built as pvio blk
 * is (cmd_blk.c):
 *
 *   pvio net (the toolstack) --- fork+exec ---> pvio hostd --run-dir DIR
 *      |  fork ---> frontend domain: netfront_side_run() (cmd_netfront.c)
 *      |  fork ---> backend domain:  netback_side_run()  (cmd_netback.c)
 *      '  store client on DIR/socket (privileged): creates the vif
 *
 * Order: hostd; the frontend connects and sends its domid; the backend
 * connects (domid 0; with --port ring it creates the net_ring ethdev it
 * feeds) and sends its domid; the toolstack step
 * (pvio_xenbus_device_create for vif/<devid>, the MAC in both dirs); the
 * backend starts on the device and says ready; the frontend is told to
 * go, opens the vif, runs the workload (net_workload.c) and sends its
 * result; the backend is told to stop and sends its counters (struct
 * net_back_result over its pipe). The device is destroyed, hostd
 * stopped, the temp dir removed. Every wait has a timeout; children die
 * with pvio net (PR_SET_PDEATHSIG). The backend's stderr (DPDK's EAL and
 * port lines) is discarded unless PVIO_NET_DEBUG is set: its errors come
 * back over the pipe as one line.
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
#include "net_workload.h"

#define READY_MS 15000

struct net_opts {
	const char *vif;
	const char *run_dir;        /* NULL: start our own hostd */
	struct net_port_choice port;
	bool json;
	bool baseline;
	struct net_workload_config wl;
};

struct net_run {
	/* the results live here, so a forked side frees all in one */
	struct net_workload_result res;
	struct net_back_result bres;
	struct net_opts o;
	struct pvio_netback_vif_spec spec;
	char dir[4096];             /* ours, removed at the end */
	const char *run_dir;
	pid_t hostd, front, back;
	int front_st, front_ctl, back_st, back_ctl;
	struct pvio_xs_host ts_host;
	struct pvio_xs ts;
	struct pvio_xs_event ts_ev[8];
	bool ts_open, device;
	uint32_t fe, devid;
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

	fprintf(stderr, "pvio net: ");
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

static void cleanup(struct net_run *r)
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
		pvio_xenbus_device_destroy(&r->ts, "vif", 0, (pvio_domid_t)r->fe,
					   r->devid);
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

/* fork+exec pvio hostd on a temp dir and wait for its ready line. */
static int start_hostd(struct net_run *r, uint32_t frames)
{
	char frames_s[16], line[512];
	size_t have = 0;
	int pfd[2];

	snprintf(r->dir, sizeof(r->dir), "/tmp/pvio-net-XXXXXX");
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
		setpgid(0, 0); /* ^C goes to pvio net, which stops hostd last */
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

static int toolstack_open(struct net_run *r)
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

static int spawn_front(struct net_run *r)
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
		struct netfront_side_opts fo = {
			.run_dir = r->run_dir, .devid = r->devid, .wl = r->o.wl,
			.wait_s = 30, .status_fd = st[1], .ctl_fd = ctl[0], .cmd = "net",
		};

		child_init();
		close(st[0]);
		close(ctl[1]);
		if (r->ts_open)
			close(r->ts_host.fd);
		int rc = netfront_side_run(&fo);

		free(r); /* this child's copy of the run: leave nothing behind */
		_exit(rc);
	}
	close(st[1]);
	close(ctl[0]);
	r->front_st = st[0];
	r->front_ctl = ctl[1];
	return 0;
}

static int spawn_back(struct net_run *r)
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
		struct netback_side_opts bo = {
			.run_dir = r->run_dir, .vif = &r->spec, .port = r->o.port,
			.wl = r->o.wl, .frontend = (int)r->fe, .queues = r->o.wl.queues,
			.status_fd = st[1], .ctl_fd = ctl[0], .no_create = true,
		};

		child_init();
		setpgid(0, 0); /* ^C stops the frontend's workload, not this */
		close(st[0]);
		close(ctl[1]);
		close(r->front_st);
		close(r->front_ctl);
		close(r->ts_host.fd);
		if (!getenv("PVIO_NET_DEBUG")) {
			int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

			if (null >= 0) {
				dup2(null, STDERR_FILENO);
				dup2(null, STDOUT_FILENO);
				close(null);
			}
		}
		int rc = netback_side_run(&bo);

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
static int expect(struct net_run *r, int fd, const char *who, int want, void *buf,
		  uint32_t size, int timeout_ms)
{
	union {
		struct net_workload_result res;
		struct net_back_result nb;
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
	} else if (type == NET_MSG_ERROR || type == NET_MSG_USAGE) {
		u->text[sizeof(u->text) - 1] = '\0';
		fail_line("%s: %s", who, u->text);
		rc = type == NET_MSG_USAGE ? PVIO_EXIT_USAGE : PVIO_EXIT_FAIL;
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
		"usage: pvio net [--vif SPEC] [--port PORT] [workload flags] [--json]\n"
		"                [--run-dir DIR]\n"
		"\n"
		"Run the network path end to end and measure it: start pvio hostd, a\n"
		"backend domain (netback on a port) and a frontend domain (netfront) as\n"
		"separate processes, create the vif between them as the toolstack, and\n"
		"move frames through netfront -> ring -> netback -> port (tx) and back\n"
		"(rx). With no flags: DPDK's net_null port, 5 s of 64-byte frames sent\n"
		"by the guest as fast as they go. Prints a progress line each second\n"
		"when stdout is a terminal, then packets, Mpps, Gbit/s (frame bytes),\n"
		"drops, errors, kicks per packet, and how the backend moved the data:\n"
		"zero-copy vs copied sends, copied vs flipped receives (the backend's\n"
		"counters come back from its process over a pipe).\n"
		"\n"
		"  --vif SPEC        the vif in xl's syntax ('mac=00:16:3e:00:00:01,\n"
		"                    devid=0'); default: a random Xen MAC, devid 0\n"
		"  --port PORT       null (default: DPDK net_null; for tx it swallows\n"
		"                    frames, for rx it makes zero-filled ones of --size\n"
		"                    on its own, unpaced), ring (a net_ring ethdev the\n"
		"                    backend process drains, and feeds at --rate for rx),\n"
		"                    tap (a TAP vif in the Linux stack: rx counts what the\n"
		"                    stack sends), af_packet (DPDK net_af_packet on lo),\n"
		"                    or a DPDK vdev string ('net_null5,size=128')\n"
		"%s%s"
		"  --json            print one JSON object instead of text (mpps,\n"
		"                    gbit_per_s, tx_packets, rx_packets, drops, errors ...)\n"
		"  --run-dir DIR     join the pvio hostd serving DIR instead of starting\n"
		"                    one (its domid 0 must be free)\n"
		"  --baseline        no domains: DPDK alone sends --size frames to\n"
		"                    net_null for --duration (bulk mbuf alloc, frame\n"
		"                    written, tx_burst of --burst), the bar pvio-bench\n"
		"                    net compares pvio net with\n"
		"  --help            this text\n"
		"\n"
		"exit status: 0 packets moved with no errors on either end, 1 a failed\n"
		"run (errors, nothing moved, a missing DPDK device, a side that would\n"
		"not start), 2 bad usage.\n",
		net_workload_help, net_tx_copy_help);
}

static void parse(struct net_opts *o, int argc, char **argv)
{
	const char *v;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (cli_is_help(arg)) {
			usage(stdout);
			exit(PVIO_EXIT_OK);
		} else if (net_workload_flag("net", &o->wl, argc, argv, &i) ||
			   net_tx_copy_flag("net", &o->wl, argc, argv, &i)) {
			continue;
		} else if ((v = cli_flag_value("net", "--vif", argc, argv, &i))) {
			o->vif = v;
		} else if ((v = cli_flag_value("net", "--port", argc, argv, &i))) {
			net_parse_port("net", v, &o->port);
		} else if ((v = cli_flag_value("net", "--run-dir", argc, argv, &i))) {
			if (!*v)
				cli_usage_error("net", "--run-dir needs a directory");
			o->run_dir = v;
		} else if (!strcmp(arg, "--json")) {
			o->json = true;
		} else if (!strcmp(arg, "--baseline")) {
			o->baseline = true;
		} else {
			cli_usage_error("net", "unknown flag '%s'", arg);
		}
	}
}

int cmd_net(int argc, char **argv)
{
	struct net_run *r = calloc(1, sizeof(*r));
	struct net_workload_result *res = r ? &r->res : NULL;
	struct net_back_result *bres = r ? &r->bres : NULL;
	char err[256], port_label[300];
	int status = PVIO_EXIT_FAIL, rc;
	bool have_bstats = false, have_res = false;

	if (!r || !res || !bres) {
		fail_line("no memory");
		return PVIO_EXIT_FAIL;
	}
	r->front_st = r->front_ctl = r->back_st = r->back_ctl = -1;
	r->ts_host.fd = -1;
	net_workload_defaults(&r->o.wl);
	net_parse_port("net", "null", &r->o.port);
	r->o.vif = "";
	r->o.wl.progress = true;
	r->o.wl.progress_prefix = "pvio net";
	parse(&r->o, argc, argv);
	if (pvio_netback_vif_spec_parse(r->o.vif, &r->spec, err, sizeof(err)))
		cli_usage_error("net", "--vif: %s", err);
	r->devid = r->spec.devid_set ? r->spec.devid : 0;
	if (r->o.port.ring || r->o.port.tap)
		snprintf(port_label, sizeof(port_label), "%s", r->o.port.name);
	else
		net_port_dev(&r->o.port, &r->o.wl, port_label, sizeof(port_label));
	if (r->o.baseline) {
		if (r->o.wl.dir != NET_DIR_TX || r->o.run_dir || r->o.port.ring ||
		    r->o.port.tap || strcmp(r->o.port.name, "null"))
			cli_usage_error("net", "--baseline sends to net_null only: no --direction, "
					"--port or --run-dir");
		rc = net_baseline_run(&r->o.wl, res, err, sizeof(err));
		if (rc) {
			fail_line("--baseline: %s", err);
			goto done;
		}
		snprintf(port_label, sizeof(port_label), "net_null (DPDK alone)");
		if (r->o.json) {
			net_report_json(stdout, "net --baseline", res, NULL, NULL, port_label);
		} else {
			double s = (double)res->ns / 1e9;

			printf("pvio net --baseline: DPDK alone to net_null, %u-byte frames, "
			       "burst %u, %.2f s\n  packets  %" PRIu64 "\n  rate     %.3f Mpps, "
			       "%.3f Gbit/s\n", r->o.wl.size, r->o.wl.burst, s, res->tx_packets,
			       (double)res->tx_packets / s / 1e6,
			       (double)res->tx_bytes * 8 / s / 1e9);
		}
		status = net_workload_ok(res, NULL) ? PVIO_EXIT_OK : PVIO_EXIT_FAIL;
		goto done;
	}
	blk_install_stop_handlers();

	if (r->o.run_dir) {
		r->run_dir = r->o.run_dir;
	} else {
		uint32_t frames = netfront_side_pages(&r->o.wl) + NETBACK_SIDE_PAGES + 4096;

		if (start_hostd(r, frames))
			goto out;
	}
	if (toolstack_open(r) || spawn_front(r))
		goto out;
	rc = expect(r, r->front_st, "frontend", NET_MSG_DOMID, &r->fe, sizeof(r->fe), READY_MS);
	if (rc) {
		status = rc;
		goto out;
	}
	if (spawn_back(r))
		goto out;
	{
		uint32_t be_id;

		rc = expect(r, r->back_st, "backend", NET_MSG_DOMID, &be_id, sizeof(be_id),
			    READY_MS);
		if (rc) {
			status = rc;
			goto out;
		}
	}
	/* The toolstack's step: both device dirs, as libxl creates them. */
	{
		char mac[18], handle[16];

		pvio_netback_mac_format(r->spec.mac, mac);
		snprintf(handle, sizeof(handle), "%u", r->devid);
		struct pvio_xenbus_kv fk[] = { { "mac", mac }, { "handle", handle } };
		struct pvio_xenbus_kv bk[] = { { "mac", mac }, { "handle", handle } };
		struct pvio_xenbus_device_keys keys = {
			.frontend = fk, .nr_frontend = 2, .backend = bk, .nr_backend = 2,
		};

		rc = pvio_xenbus_device_create(&r->ts, "vif", 0, (pvio_domid_t)r->fe, r->devid,
					       &keys);
		if (rc) {
			fail_line("creating vif %u for domain %u in the store: %s", r->devid, r->fe,
				  strerror(-rc));
			goto out;
		}
		r->device = true;
	}
	rc = expect(r, r->back_st, "backend", NET_MSG_READY, NULL, 0, READY_MS);
	if (rc) {
		status = rc;
		goto out;
	}
	if (write(r->front_ctl, "g", 1) != 1) {
		fail_line("the frontend process exited unexpectedly");
		goto out;
	}
	rc = expect(r, r->front_st, "frontend", NET_MSG_RESULT, res, sizeof(*res),
		    (int)r->o.wl.duration_ms + 60000);
	if (rc) {
		status = rc;
		goto out;
	}
	have_res = true;
	reap(r->front, 15000, 0);
	r->front = 0;
	close(r->back_ctl);
	r->back_ctl = -1;
	if (expect(r, r->back_st, "backend", NET_MSG_NSTATS, bres, sizeof(*bres), 15000) == 0)
		have_bstats = true;
	status = net_workload_ok(res, have_bstats ? &bres->nb : NULL) ? PVIO_EXIT_OK :
									 PVIO_EXIT_FAIL;
out:
	cleanup(r);
	if (have_res) {
		const struct pvio_netback_stats *bb = have_bstats ? &bres->nb : NULL;
		const struct net_port_result *pr = have_bstats ? &bres->port : NULL;

		if (r->o.json)
			net_report_json(stdout, "net", res, bb, pr, port_label);
		else
			net_report_text(stdout, "net", res, bb, pr, port_label);
		fflush(stdout);
		if (status)
			net_report_failure(stderr, "net", res, bb);
	}
done:
	free(r);
	return status;
}
