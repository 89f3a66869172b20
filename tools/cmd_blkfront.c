/* SPDX-License-Identifier: MIT */
/*
 * pvio blkfront: a guest domain (a process) that opens its virtual block
 * device through blkfront and runs the block workload on it
 * (blk_workload.h). pvio blk runs the same body, blkfront_side_run(), in a
 * forked child.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvio/domain.h>

#include "blk_workload.h"
#include "cli.h"
#include "domains.h"
#include "reconnector.h"

#define DEFAULT_RUN_DIR "/run/pvio"

/* Pseudo-physical pages the guest needs: the workload's zero-copy
 * buffers, each queue's ring, shadow and persistent/bounce pool, slack. */
uint32_t blkfront_side_pages(const struct blk_workload_config *wl, uint32_t ring_pages)
{
	uint64_t stride = ((uint64_t)wl->bs + 4095) / 4096;
	uint64_t bufs = (uint64_t)wl->numjobs * wl->iodepth * stride;
	uint32_t r = ring_pages ? ring_pages : 1;

	if (bufs > 48ull * 1024)
		bufs = 48ull * 1024; /* the rest is plain memory, copied */
	return (uint32_t)(bufs + (uint64_t)wl->numjobs * (1200 + 80 * r) + 2048);
}

/* One line: to pvio blk over the status pipe, or on stderr. */
#define side_fail(o, type, ...) \
	dom_side_fail((o)->cmd, (o)->status_fd, type, __VA_ARGS__)

static bool bf_recovering_hook(void *dev)
{
	return pvio_blkfront_recovering(dev);
}

static int bf_check_hook(void *dev, int timeout_ms)
{
	return pvio_blkfront_check_backend(dev, timeout_ms);
}

static int bf_reconnect_hook(void *dev, int timeout_ms)
{
	return pvio_blkfront_reconnect(dev, timeout_ms);
}

static const struct reconnector_ops blkfront_reconnect_ops = {
	.recovering = bf_recovering_hook,
	.check = bf_check_hook,
	.reconnect = bf_reconnect_hook,
};

int blkfront_side_run(const struct blkfront_side_opts *o)
{
	struct reconnector rec = { .running = false };
	struct pvio_domain_config dc = { .name = "blkfront" };
	struct pvio_blkfront_config fc = { 0 };
	struct pvio_domain *d = NULL;
	struct pvio_blkfront *bf = NULL;
	struct blk_workload_result *res = NULL;
	struct blk_workload_config wl = o->wl;
	char msg[256];
	int rc, status = PVIO_EXIT_FAIL;

	dc.nr_pages = blkfront_side_pages(&o->wl, o->ring_pages);
	rc = pvio_domain_connect(o->run_dir, &dc, &d);
	if (rc == -ENOENT || rc == -ECONNREFUSED) {
		side_fail(o, BLK_MSG_ERROR, "no pvio hostd serves %s (start one: "
			  "pvio hostd --run-dir %s)", o->run_dir, o->run_dir);
		return PVIO_EXIT_FAIL;
	}
	if (rc) {
		side_fail(o, BLK_MSG_ERROR, "cannot become a domain of hostd at %s "
			  "(%u pages): %s", o->run_dir, dc.nr_pages, strerror(-rc));
		return PVIO_EXIT_FAIL;
	}
	pvio_xs_set_timeout(d->xs, 10000);
	if (o->status_fd >= 0) {
		uint32_t id = d->domid;

		if (blk_msg_send(o->status_fd, BLK_MSG_DOMID, &id, sizeof(id)) ||
		    (o->ctl_fd >= 0 && !dom_wait_go(o->ctl_fd)))
			goto out; /* pvio blk gave up: it reports why */
	} else if (isatty(STDERR_FILENO)) {
		fprintf(stderr, "pvio %s: domain %u waits for vbd %u (the backend: "
			"pvio blkback --run-dir %s --frontend %u --disk ...)\n", o->cmd,
			(unsigned)d->domid, o->devid, o->run_dir, (unsigned)d->domid);
	}
	rc = dom_wait_device(d, "vbd", o->devid, o->wait_s);
	if (rc == -EINTR)
		goto out;
	if (rc == -ECONNRESET) {
		side_fail(o, BLK_MSG_ERROR, "hostd at %s went away", o->run_dir);
		goto out;
	}
	if (rc) {
		side_fail(o, BLK_MSG_ERROR, "vbd %u of domain %u %s", o->devid,
			  (unsigned)d->domid, rc == -ETIMEDOUT ? "did not appear in time" :
			  strerror(-rc));
		goto out;
	}
	fc.max_queues = o->wl.numjobs;
	fc.max_ring_pages = o->ring_pages ? o->ring_pages : 1;
	fc.no_persistent = o->no_persistent;
	fc.timeout_ms = o->wait_s * 1000;
	{
		cpu_set_t set;

		/* Alone on one CPU with its backend: polling only delays it. */
		fc.no_spin = sched_getaffinity(0, sizeof(set), &set) == 0 &&
			     CPU_COUNT(&set) == 1;
	}
	fc.reconnect = o->reconnect_s > 0;
	rc = pvio_blkfront_open_devid(d, o->devid, &fc, &bf);
	if (rc && !pvio_domain_hostd_alive(d)) {
		side_fail(o, BLK_MSG_ERROR, "hostd at %s went away", o->run_dir);
		goto out;
	}
	if (rc) {
		side_fail(o, BLK_MSG_ERROR, "cannot connect vbd %u: %s", o->devid,
			  rc == -ETIMEDOUT ? "the backend did not answer in time" : strerror(-rc));
		goto out;
	}
	if (fc.reconnect && reconnector_start(&rec, &blkfront_reconnect_ops, bf, o->cmd,
					      o->reconnect_s, &blk_stop_requested)) {
		side_fail(o, BLK_MSG_ERROR, "cannot start the reconnect thread");
		goto out;
	}
	res = calloc(1, sizeof(*res));
	if (!res) {
		side_fail(o, BLK_MSG_ERROR, "no memory");
		goto out;
	}
	wl.progress = wl.progress && isatty(STDOUT_FILENO);
	rc = blk_workload_run(bf, &wl, &blk_stop_requested, res, msg, sizeof(msg));
	reconnector_stop(&rec);
	if (rc != -EINVAL && (rc || rec.err || !blk_workload_ok(res)) &&
	    frontend_hostd_died(d, 1000)) {
		/* Its I/O errors are a consequence: name the cause alone. */
		side_fail(o, BLK_MSG_ERROR, "hostd at %s went away (%" PRIu64
			  " requests failed)", o->run_dir,
			  res->read_errors + res->write_errors);
		goto out;
	}
	if (rec.err) {
		side_fail(o, BLK_MSG_ERROR, "backend lost, and %s", rec.err == -ETIMEDOUT ?
			  "no new one came in time" : strerror(-rec.err));
		goto out;
	}
	if (rc == -EINVAL) {
		side_fail(o, BLK_MSG_USAGE, "%s", msg);
		status = PVIO_EXIT_USAGE;
		goto out;
	}
	if (rc) {
		side_fail(o, BLK_MSG_ERROR, "%s", msg);
		goto out;
	}
	status = blk_workload_ok(res) ? PVIO_EXIT_OK : PVIO_EXIT_FAIL;
	if (o->status_fd >= 0) {
		blk_msg_send(o->status_fd, BLK_MSG_RESULT, res, sizeof(*res));
	} else {
		if (o->json)
			blk_report_json(stdout, o->cmd, res, NULL, NULL);
		else
			blk_report_text(stdout, o->cmd, res, NULL, NULL);
		fflush(stdout);
		if (status)
			blk_report_failure(stderr, o->cmd, res);
	}
out:
	reconnector_stop(&rec);
	if (bf) {
		rc = pvio_blkfront_close(bf);
		if (rc && rc != -EBUSY && o->status_fd < 0 && status == PVIO_EXIT_OK)
			fprintf(stderr, "pvio %s: closing vbd %u: %s\n", o->cmd, o->devid,
				strerror(-rc));
	}
	free(res);
	pvio_domain_disconnect(d);
	return status;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pvio blkfront [--run-dir DIR] [--devid N | --vdev NAME]\n"
		"                     [workload flags] [--persistent on|off]\n"
		"                     [--ring-pages N] [--wait SECS] [--json]\n"
		"\n"
		"Become a guest domain of the hostd serving DIR, wait for its virtual\n"
		"block device (created by the toolstack: pvio blkback --frontend DOMID\n"
		"does it), connect through blkfront and run a workload with data\n"
		"verification. Prints the domain's id on stderr once connected, and a\n"
		"summary at the end (a progress line each second when stdout is a\n"
		"terminal). Writes destroy the disk's data.\n"
		"\n"
		"  --run-dir DIR     the hostd to join (default " DEFAULT_RUN_DIR ")\n"
		"  --devid N         the vbd's device id (default 51712 = xvda)\n"
		"  --vdev NAME       the same, as a name: xvda, hdc, sdb, d0p0 ...\n"
		"%s"
		"  --persistent on|off  offer persistent grants (default off: the\n"
		"                    workload's buffers are granted directly, zero\n"
		"                    copy, which measured faster at 4k to 1m)\n"
		"  --ring-pages N    pages per ring asked for: 1, 2, 4, 8, 16 (default 1;\n"
		"                    the backend may give fewer)\n"
		"  --wait SECS       how long to wait for the device and the backend,\n"
		"                    1..3600 (default 30)\n"
		"  --reconnect SECS  when the backend is lost (killed, closed), wait up\n"
		"                    to SECS for a new one (pvio blkback started again\n"
		"                    with the same --frontend and --disk) and carry on:\n"
		"                    requests it did not answer are issued again, none\n"
		"                    fails. 1..3600; default: a lost backend fails the\n"
		"                    requests in flight\n"
		"  --json            print one JSON object instead of text\n"
		"  --help            this text\n"
		"\n"
		"The summary has the frontend's kicks only; pvio blkback prints the\n"
		"backend's counters when it exits, pvio blk both.\n"
		"exit status: 0 every request succeeded and verified, 1 a failed run\n"
		"(I/O errors, a mismatch, no device or backend), 2 bad usage.\n",
		blk_workload_help);
}

uint32_t blk_parse_ring_pages(const char *cmd, const char *v)
{
	uint64_t p = cli_parse_u64(cmd, "--ring-pages", v, 1, 16);

	if (p & (p - 1))
		cli_usage_error(cmd, "--ring-pages must be 1, 2, 4, 8 or 16, got %s", v);
	return (uint32_t)p;
}

uint32_t blk_parse_vdev(const char *cmd, const char *v)
{
	uint32_t devid;

	if (pvio_blkback_vdev_to_devid(v, &devid))
		cli_usage_error(cmd, "--vdev: '%s' is not a virtual device name "
				"(xvda, hdc, sdb, d0p0 or a number)", v);
	return devid;
}

int cmd_blkfront(int argc, char **argv)
{
	struct blkfront_side_opts o = { .run_dir = DEFAULT_RUN_DIR, .devid = 51712,
					.ring_pages = 1, .wait_s = 30, .status_fd = -1,
					.ctl_fd = -1, .cmd = "blkfront",
					/* zero copy: blkback/README.md */
					.no_persistent = true };
	const char *v;

	blk_workload_defaults(&o.wl);
	o.wl.progress = true;
	o.wl.progress_prefix = "pvio blkfront";
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return PVIO_EXIT_OK;
		} else if (blk_workload_flag("blkfront", &o.wl, argc, argv, &i)) {
			continue;
		} else if ((v = cli_flag_value("blkfront", "--run-dir", argc, argv, &i))) {
			if (!*v)
				cli_usage_error("blkfront", "--run-dir needs a directory");
			o.run_dir = v;
		} else if ((v = cli_flag_value("blkfront", "--devid", argc, argv, &i))) {
			o.devid = (uint32_t)cli_parse_u64("blkfront", "--devid", v, 0, UINT32_MAX);
		} else if ((v = cli_flag_value("blkfront", "--vdev", argc, argv, &i))) {
			o.devid = blk_parse_vdev("blkfront", v);
		} else if ((v = cli_flag_value("blkfront", "--persistent", argc, argv, &i))) {
			o.no_persistent = !blk_parse_onoff("blkfront", "--persistent", v);
		} else if ((v = cli_flag_value("blkfront", "--ring-pages", argc, argv, &i))) {
			o.ring_pages = blk_parse_ring_pages("blkfront", v);
		} else if ((v = cli_flag_value("blkfront", "--wait", argc, argv, &i))) {
			o.wait_s = (int)cli_parse_u64("blkfront", "--wait", v, 1, 3600);
		} else if ((v = cli_flag_value("blkfront", "--reconnect", argc, argv, &i))) {
			o.reconnect_s = (int)cli_parse_u64("blkfront", "--reconnect", v, 1, 3600);
		} else if (!strcmp(argv[i], "--json")) {
			o.json = true;
		} else {
			cli_usage_error("blkfront", "unknown flag '%s'", argv[i]);
		}
	}
	blk_install_stop_handlers();
	return blkfront_side_run(&o);
}
