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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvio/xenbus.h>

#include "blk_workload.h"
#include "cli.h"
#include "domains.h"

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
	struct dom_run d;
	struct blk_opts o;
	struct pvio_blkback_disk_spec spec;
	char image[4096];           /* ours, removed at the end */
	uint32_t fe;
};

static void cleanup(struct blk_run *r)
{
	dom_cleanup(&r->d);
	if (r->image[0])
		unlink(r->image);
	r->image[0] = '\0';
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
		dom_fail(&r->d, "cannot create a temp image in %s: %s", tmp, strerror(errno));
		r->image[0] = '\0';
		return -1;
	}
	if (ftruncate(fd, (off_t)r->o.wl.size)) {
		dom_fail(&r->d, "cannot size the temp image %s: %s", r->image, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	snprintf(spec, spec_size, "format=raw,vdev=xvda,access=rw,target=%s", r->image);
	return 0;
}

/* The frontend domain's process (dom_spawn). */
static int front_main(void *arg, int st_fd, int ctl_fd)
{
	struct blk_run *r = arg;
	struct blkfront_side_opts fo = {
		.run_dir = r->d.run_dir, .devid = r->spec.devid, .wl = r->o.wl,
		.no_persistent = r->o.no_persistent, .ring_pages = r->o.ring_pages,
		.wait_s = 30, .status_fd = st_fd, .ctl_fd = ctl_fd, .cmd = "blk",
	};
	int rc = blkfront_side_run(&fo);

	free(r); /* this child's copy of the run: leave nothing behind */
	return rc;
}

/* The backend domain's process (dom_spawn). */
static int back_main(void *arg, int st_fd, int ctl_fd)
{
	struct blk_run *r = arg;
	struct blkback_side_opts bo = {
		.run_dir = r->d.run_dir, .disk = &r->spec, .engine = r->o.engine,
		.frontend = (int)r->fe, .no_persistent = r->o.no_persistent,
		.queues = r->o.wl.numjobs, .ring_pages = r->o.ring_pages,
		.status_fd = st_fd, .ctl_fd = ctl_fd, .no_create = true,
	};
	int rc = blkback_side_run(&bo);

	free(r);
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
		"  --persistent on|off  persistent grants, both ends (default off: the\n"
		"                    workload's buffers are granted to the backend\n"
		"                    directly, zero copy, which measured faster than\n"
		"                    copying through persistent grants at 4k to 1m)\n"
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
		fprintf(stderr, "pvio blk: no memory\n");
		free(r);
		free(res);
		return PVIO_EXIT_FAIL;
	}
	dom_run_init(&r->d, "blk");
	blk_workload_defaults(&r->o.wl);
	r->o.ring_pages = 1;
	/* Zero copy by default: see blkback/README.md, "Persistent grants or
	 * zero copy". */
	r->o.no_persistent = true;
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
			dom_fail(&r->d, "temp image spec: %s", err);
			goto out;
		}
	}
	if (r->o.run_dir) {
		r->d.run_dir = r->o.run_dir;
	} else {
		uint64_t frames = (uint64_t)blkfront_side_pages(&r->o.wl, r->o.ring_pages) +
				  1024 + 4096;

		if (dom_hostd_start(&r->d, (uint32_t)frames))
			goto out;
	}
	if (dom_toolstack_open(&r->d) || dom_spawn(&r->d, &r->d.front, false, front_main, r))
		goto out;
	rc = dom_expect(&r->d, r->d.front.st, "frontend", BLK_MSG_DOMID, &r->fe,
			sizeof(r->fe), READY_MS);
	if (rc) {
		status = rc;
		goto out;
	}

	/* The driver domain first: hostd resets a new domain's store home,
	 * /local/domain/0 included, so the device goes in after it. */
	/* ^C stops the frontend's workload, not the backend. */
	if (dom_spawn(&r->d, &r->d.back, true, back_main, r))
		goto out;
	{
		uint32_t be_id;

		rc = dom_expect(&r->d, r->d.back.st, "backend", BLK_MSG_DOMID, &be_id,
				sizeof(be_id), READY_MS);
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

		if (dom_device_create(&r->d, "vbd", r->fe, r->spec.devid, &keys))
			goto out;
	}

	rc = dom_expect(&r->d, r->d.back.st, "backend", BLK_MSG_READY, NULL, 0, READY_MS);
	if (rc) {
		status = rc;
		goto out;
	}
	if (write(r->d.front.ctl, "g", 1) != 1) {
		dom_fail(&r->d, "the frontend process exited unexpectedly");
		goto out;
	}
	rc = dom_expect(&r->d, r->d.front.st, "frontend", BLK_MSG_RESULT, res, sizeof(*res),
			(int)r->o.wl.runtime_ms + 60000);
	if (rc) {
		status = rc;
		goto out;
	}
	have_res = true;
	/* The frontend closes its device and leaves; then the backend stops. */
	dom_reap(r->d.front.pid, 15000, 0);
	r->d.front.pid = 0;
	close(r->d.back.ctl);
	r->d.back.ctl = -1;
	if (dom_expect(&r->d, r->d.back.st, "backend", BLK_MSG_BSTATS, &bstats,
		       sizeof(bstats), 15000) == 0)
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
