/* SPDX-License-Identifier: MIT */
/*
 * pvio netfront: a guest domain (a process) that opens its vif through
 * netfront and either runs the network workload on it (net_workload.h)
 * or, with --tap IFNAME, bridges it to a TAP device so the Linux stack of
 * the network namespace the process runs in sends and receives through
 * netfront -> ring -> netback (pvio_netfront_tap_bridge_run). pvio net
 * runs the same body, netfront_side_run(), in a forked child.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvio/domain.h>

#include "blk_workload.h"
#include "cli.h"
#include "domains.h"
#include "net_workload.h"
#include "netfront_tap.h"
#include "reconnector.h"

#define DEFAULT_RUN_DIR "/run/pvio"

/* The TAP bridge's stop flag: set by SIGINT/SIGTERM. */

/* One line: to pvio net over the status pipe, or on stderr. */
#define side_fail(o, type, ...) \
	dom_side_fail((o)->cmd, (o)->status_fd, type, __VA_ARGS__)

static _Atomic int tap_stop;

static void on_tap_stop(int sig)
{
	(void)sig;
	atomic_store(&tap_stop, 1);
	blk_stop_requested = 1;
}

static void tap_ready(void *arg, const char *ifname)
{
	const struct netfront_side_opts *o = arg;

	printf("pvio %s: %s is up, bridged to netfront\n", o->cmd, ifname);
	fflush(stdout);
}

static int run_tap(const struct netfront_side_opts *o, struct pvio_netfront *nf)
{
	struct pvio_netfront_tap_stats ts = { 0 };
	struct pvio_netfront_tap_opts to = { .stop = &tap_stop, .ready = tap_ready,
					     .arg = (void *)o, .stats = &ts };
	struct sigaction sa;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tap_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (blk_stop_requested)
		atomic_store(&tap_stop, 1);
	rc = pvio_netfront_tap_bridge_run(nf, o->tap, &to);
	if (rc) {
		side_fail(o, NET_MSG_ERROR, "TAP %s: %s", o->tap,
			  rc == -EIO ? "netfront failed or its backend went away" :
			  rc == -EPERM ? "not permitted (needs CAP_NET_ADMIN)" : strerror(-rc));
		return PVIO_EXIT_FAIL;
	}
	if (o->json)
		printf("{\"command\": \"%s\", \"tap\": \"%s\", \"tap_frames\": %" PRIu64
		       ", \"tx_sent\": %" PRIu64 ", \"tx_dropped\": %" PRIu64
		       ", \"rx_frames\": %" PRIu64 ", \"rx_written\": %" PRIu64
		       ", \"rx_dropped\": %" PRIu64 "}\n", o->cmd, o->tap, ts.tap_frames,
		       ts.tx_sent, ts.tx_dropped, ts.rx_frames, ts.rx_written, ts.rx_dropped);
	else
		printf("pvio %s: %s: %" PRIu64 " frames sent (%" PRIu64 " dropped), %" PRIu64
		       " received (%" PRIu64 " dropped)\n", o->cmd, o->tap, ts.tx_sent,
		       ts.tx_dropped, ts.rx_written, ts.rx_dropped);
	fflush(stdout);
	return PVIO_EXIT_OK;
}

static bool nf_recovering_hook(void *dev)
{
	return pvio_netfront_recovering(dev);
}

static int nf_check_hook(void *dev, int timeout_ms)
{
	return pvio_netfront_check_backend(dev, timeout_ms);
}

static int nf_reconnect_hook(void *dev, int timeout_ms)
{
	return pvio_netfront_reconnect(dev, timeout_ms);
}

static const struct reconnector_ops netfront_reconnect_ops = {
	.recovering = nf_recovering_hook,
	.check = nf_check_hook,
	.reconnect = nf_reconnect_hook,
};

int netfront_side_run(const struct netfront_side_opts *o)
{
	struct reconnector rec = { .running = false };
	struct pvio_domain_config dc = { .name = "netfront" };
	struct pvio_netfront_config fc = { 0 };
	struct pvio_domain *d = NULL;
	struct pvio_netfront *nf = NULL;
	struct net_workload_result *res = NULL;
	struct net_workload_config wl = o->wl;
	char msg[256];
	int rc, status = PVIO_EXIT_FAIL;

	dc.nr_pages = netfront_side_pages(&o->wl);
	rc = pvio_domain_connect(o->run_dir, &dc, &d);
	if (rc == -ENOENT || rc == -ECONNREFUSED) {
		side_fail(o, NET_MSG_ERROR, "no pvio hostd serves %s (start one: "
			  "pvio hostd --run-dir %s)", o->run_dir, o->run_dir);
		return PVIO_EXIT_FAIL;
	}
	if (rc) {
		side_fail(o, NET_MSG_ERROR, "cannot become a domain of hostd at %s (%u pages): %s",
			  o->run_dir, dc.nr_pages, strerror(-rc));
		return PVIO_EXIT_FAIL;
	}
	pvio_xs_set_timeout(d->xs, 10000);
	if (o->status_fd >= 0) {
		uint32_t id = d->domid;

		if (blk_msg_send(o->status_fd, NET_MSG_DOMID, &id, sizeof(id)) ||
		    (o->ctl_fd >= 0 && !dom_wait_go(o->ctl_fd)))
			goto out;
	} else {
		fprintf(stderr, "pvio %s: domain %u waits for vif %u (the backend: pvio netback "
			"--run-dir %s --frontend %u ...)\n", o->cmd, (unsigned)d->domid, o->devid,
			o->run_dir, (unsigned)d->domid);
	}
	rc = dom_wait_device(d, "vif", o->devid, o->wait_s);
	if (rc == -EINTR)
		goto out;
	if (rc == -ECONNRESET) {
		side_fail(o, NET_MSG_ERROR, "hostd at %s went away", o->run_dir);
		goto out;
	}
	if (rc) {
		side_fail(o, NET_MSG_ERROR, "vif %u of domain %u %s", o->devid,
			  (unsigned)d->domid, rc == -ETIMEDOUT ? "did not appear in time" :
			  strerror(-rc));
		goto out;
	}
	fc.max_queues = o->wl.queues;
	fc.rx_mode = o->wl.rx_mode;
	fc.timeout_ms = o->wait_s * 1000;
	fc.reconnect = o->reconnect_s > 0;
	/* The TAP bridge hands partial IPv6 checksums to the Linux stack
	 * both ways, so it takes them: that is what lets TCPv6 GSO through. */
	fc.ipv6_csum_offload = o->tap != NULL;
	rc = pvio_netfront_open_devid(d, o->devid, &fc, &nf);
	if (rc && !pvio_domain_hostd_alive(d)) {
		side_fail(o, NET_MSG_ERROR, "hostd at %s went away", o->run_dir);
		goto out;
	}
	if (rc) {
		side_fail(o, NET_MSG_ERROR, "cannot connect vif %u: %s", o->devid,
			  rc == -ETIMEDOUT ? "the backend did not answer in time" : strerror(-rc));
		goto out;
	}
	if (fc.reconnect && reconnector_start(&rec, &netfront_reconnect_ops, nf, o->cmd,
					      o->reconnect_s, o->tap ? NULL : &blk_stop_requested)) {
		side_fail(o, NET_MSG_ERROR, "cannot start the reconnect thread");
		goto out;
	}
	if (o->tap) {
		status = run_tap(o, nf);
		goto out;
	}
	res = calloc(1, sizeof(*res));
	if (!res) {
		side_fail(o, NET_MSG_ERROR, "no memory");
		goto out;
	}
	wl.progress = wl.progress && isatty(STDOUT_FILENO);
	rc = net_workload_run(nf, &wl, &blk_stop_requested, res, msg, sizeof(msg));
	reconnector_stop(&rec);
	if (rc != -EINVAL && (rc || rec.err || !net_workload_ok(res, NULL)) &&
	    frontend_hostd_died(d, 1000)) {
		/* Its errors are a consequence: name the cause alone. */
		side_fail(o, NET_MSG_ERROR, "hostd at %s went away", o->run_dir);
		goto out;
	}
	if (rec.err) {
		side_fail(o, NET_MSG_ERROR, "backend lost, and %s", rec.err == -ETIMEDOUT ?
			  "no new one came in time" : strerror(-rec.err));
		goto out;
	}
	if (rc == -EINVAL) {
		side_fail(o, NET_MSG_USAGE, "%s", msg);
		status = PVIO_EXIT_USAGE;
		goto out;
	}
	if (rc) {
		side_fail(o, NET_MSG_ERROR, "%s", msg);
		goto out;
	}
	status = net_workload_ok(res, NULL) ? PVIO_EXIT_OK : PVIO_EXIT_FAIL;
	if (o->status_fd >= 0) {
		blk_msg_send(o->status_fd, NET_MSG_RESULT, res, sizeof(*res));
	} else {
		if (o->json)
			net_report_json(stdout, o->cmd, res, NULL, NULL, NULL);
		else
			net_report_text(stdout, o->cmd, res, NULL, NULL, NULL);
		fflush(stdout);
		if (status)
			net_report_failure(stderr, o->cmd, res, NULL);
	}
out:
	reconnector_stop(&rec);
	if (nf) {
		rc = pvio_netfront_close(nf);
		if (rc && rc != -EBUSY && o->status_fd < 0 && status == PVIO_EXIT_OK)
			fprintf(stderr, "pvio %s: closing vif %u: %s\n", o->cmd, o->devid,
				strerror(-rc));
	}
	free(res);
	pvio_domain_disconnect(d);
	return status;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pvio netfront [--run-dir DIR] [--devid N] [--tap IFNAME]\n"
		"                     [workload flags] [--wait SECS] [--json]\n"
		"\n"
		"Become a guest domain of the hostd serving DIR, wait for its vif\n"
		"(created by the toolstack: pvio netback --frontend DOMID does it) and\n"
		"connect through netfront. Then either run a workload (send --size\n"
		"frames toward the backend's port, count what comes back) and print a\n"
		"summary, or with --tap bridge the vif to a TAP device until SIGINT or\n"
		"SIGTERM, so the Linux stack of the network namespace this process runs\n"
		"in (ip netns exec NS pvio netfront --tap eth0) sends and receives\n"
		"through netfront -> ring -> netback. The TAP gets the vif's MAC and\n"
		"MTU; give it addresses with ip(8) once it is up.\n"
		"\n"
		"  --run-dir DIR     the hostd to join (default " DEFAULT_RUN_DIR ")\n"
		"  --devid N         the vif's device id (default 0)\n"
		"  --tap IFNAME      bridge to this TAP device (created if absent)\n"
		"%s"
		"  --wait SECS       how long to wait for the device and the backend,\n"
		"                    1..3600 (default 30)\n"
		"  --reconnect SECS  when the backend is lost (killed, closed), wait up\n"
		"                    to SECS for a new one (pvio netback started again\n"
		"                    with the same --frontend) and carry on; packets in\n"
		"                    flight are lost. 1..3600; default: a lost backend\n"
		"                    ends the run\n"
		"  --json            print one JSON object instead of text\n"
		"  --help            this text\n"
		"\n"
		"The summary has the frontend's counters only; pvio netback prints the\n"
		"backend's when it exits, pvio net both.\n"
		"exit status: 0 packets moved without errors (or the bridge stopped\n"
		"cleanly), 1 a failed run, 2 bad usage.\n",
		net_workload_help);
}

int cmd_netfront(int argc, char **argv)
{
	struct netfront_side_opts o = { .run_dir = DEFAULT_RUN_DIR, .wait_s = 30,
					.status_fd = -1, .ctl_fd = -1, .cmd = "netfront" };
	const char *v;

	net_workload_defaults(&o.wl);
	o.wl.progress = true;
	o.wl.progress_prefix = "pvio netfront";
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return PVIO_EXIT_OK;
		} else if (net_workload_flag("netfront", &o.wl, argc, argv, &i)) {
			continue;
		} else if ((v = cli_flag_value("netfront", "--run-dir", argc, argv, &i))) {
			if (!*v)
				cli_usage_error("netfront", "--run-dir needs a directory");
			o.run_dir = v;
		} else if ((v = cli_flag_value("netfront", "--devid", argc, argv, &i))) {
			o.devid = (uint32_t)cli_parse_u64("netfront", "--devid", v, 0, UINT32_MAX);
		} else if ((v = cli_flag_value("netfront", "--tap", argc, argv, &i))) {
			if (!*v || strlen(v) >= 16)
				cli_usage_error("netfront", "--tap needs an interface name of 1..15 "
						"characters");
			o.tap = v;
		} else if ((v = cli_flag_value("netfront", "--wait", argc, argv, &i))) {
			o.wait_s = (int)cli_parse_u64("netfront", "--wait", v, 1, 3600);
		} else if ((v = cli_flag_value("netfront", "--reconnect", argc, argv, &i))) {
			o.reconnect_s = (int)cli_parse_u64("netfront", "--reconnect", v, 1, 3600);
		} else if (!strcmp(argv[i], "--json")) {
			o.json = true;
		} else {
			cli_usage_error("netfront", "unknown flag '%s'", argv[i]);
		}
	}
	blk_install_stop_handlers();
	return netfront_side_run(&o);
}
