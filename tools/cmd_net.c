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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvio/tsan.h>
#include <pvio/xenbus.h>

#include "blk_workload.h"
#include "cli.h"
#include "domains.h"
#include "net_workload.h"

/* The backend's DPDK start-up is several times slower under TSan. */
#define READY_MS (PVIO_TSAN ? 60000 : 15000)

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
	struct dom_run d;
	uint32_t fe, devid;
};

/* The frontend domain's process (dom_spawn). */
static int front_main(void *arg, int st_fd, int ctl_fd)
{
	struct net_run *r = arg;
	struct netfront_side_opts fo = {
		.run_dir = r->d.run_dir, .devid = r->devid, .wl = r->o.wl,
		.wait_s = 30, .status_fd = st_fd, .ctl_fd = ctl_fd, .cmd = "net",
	};
	int rc = netfront_side_run(&fo);

	free(r); /* this child's copy of the run: leave nothing behind */
	return rc;
}

/* The backend domain's process (dom_spawn). */
static int back_main(void *arg, int st_fd, int ctl_fd)
{
	struct net_run *r = arg;
	struct netback_side_opts bo = {
		.run_dir = r->d.run_dir, .vif = &r->spec, .port = r->o.port,
		.wl = r->o.wl, .frontend = (int)r->fe, .queues = r->o.wl.queues,
		.status_fd = st_fd, .ctl_fd = ctl_fd, .no_create = true,
	};

	if (!getenv("PVIO_NET_DEBUG")) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null >= 0) {
			dup2(null, STDERR_FILENO);
			dup2(null, STDOUT_FILENO);
			close(null);
		}
	}
	int rc = netback_side_run(&bo);

	free(r);
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
		fprintf(stderr, "pvio net: no memory\n");
		free(r);
		return PVIO_EXIT_FAIL;
	}
	dom_run_init(&r->d, "net");
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
			dom_fail(&r->d, "--baseline: %s", err);
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
		r->d.run_dir = r->o.run_dir;
	} else {
		uint32_t frames = netfront_side_pages(&r->o.wl) + NETBACK_SIDE_PAGES + 4096;

		if (dom_hostd_start(&r->d, frames))
			goto out;
	}
	if (dom_toolstack_open(&r->d) || dom_spawn(&r->d, &r->d.front, false, front_main, r))
		goto out;
	rc = dom_expect(&r->d, r->d.front.st, "frontend", NET_MSG_DOMID, &r->fe,
			sizeof(r->fe), READY_MS);
	if (rc) {
		status = rc;
		goto out;
	}
	/* ^C stops the frontend's workload, not the backend. */
	if (dom_spawn(&r->d, &r->d.back, true, back_main, r))
		goto out;
	{
		uint32_t be_id;

		rc = dom_expect(&r->d, r->d.back.st, "backend", NET_MSG_DOMID, &be_id,
				sizeof(be_id), READY_MS);
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

		if (dom_device_create(&r->d, "vif", r->fe, r->devid, &keys))
			goto out;
	}
	rc = dom_expect(&r->d, r->d.back.st, "backend", NET_MSG_READY, NULL, 0, READY_MS);
	if (rc) {
		status = rc;
		goto out;
	}
	if (write(r->d.front.ctl, "g", 1) != 1) {
		dom_fail(&r->d, "the frontend process exited unexpectedly");
		goto out;
	}
	rc = dom_expect(&r->d, r->d.front.st, "frontend", NET_MSG_RESULT, res, sizeof(*res),
			(int)r->o.wl.duration_ms + 60000);
	if (rc) {
		status = rc;
		goto out;
	}
	have_res = true;
	dom_reap(r->d.front.pid, 15000, 0);
	r->d.front.pid = 0;
	close(r->d.back.ctl);
	r->d.back.ctl = -1;
	if (dom_expect(&r->d, r->d.back.st, "backend", NET_MSG_NSTATS, bres, sizeof(*bres),
		       15000) == 0)
		have_bstats = true;
	status = net_workload_ok(res, have_bstats ? &bres->nb : NULL) ? PVIO_EXIT_OK :
									 PVIO_EXIT_FAIL;
out:
	dom_cleanup(&r->d);
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
