/* SPDX-License-Identifier: MIT */
/*
 * The backend of test_kill.py's blk_frontend case: one driver domain
 * process (domid 0) serving vbd 51712 of two guests at once through the
 * blkback library, each from its own image. It plays the toolstack too:
 * it creates each device once its guest exists. When a guest dies (its
 * frontend dir goes with its domain) it tears that device down and says
 * what the device held and gave back, while the other keeps running.
 *
 *   kill_blk_backend2 RUN_DIR FE_A IMG_A FE_B IMG_B
 *
 * stdout: "serving A B" once both devices are in InitWait; for each
 * device torn down one JSON object {"freed": FE, "grant_maps", "grant_unmaps",
 * "handles_before", "handles_after", "ports_before", "ports_after",
 * "heap_before", "heap_after", "backend_dir_gone", "frontend_gone"};
 * "handles N ports P heap B" (grant mappings held, event channel ports
 * open, heap bytes in use, now) on SIGUSR1;
 * "done" when both are gone or on SIGTERM. Exit 0, or 1 on a set-up error
 * (one line on stderr).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvio/blkback.h>
#include <pvio/domain.h>

#include "../common/heap_use.h"

#define DEVID 51712u

struct dev {
	pvio_domid_t fe;
	char spec_text[512];
	struct pvio_blkback_disk_spec spec;
	struct pvio_xs_host xh;
	struct pvio_xs xs;
	struct pvio_xs_event ev[16];
	struct pvio_blkback *bb;
	bool live;
};

static volatile sig_atomic_t stop, snapshot;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	snapshot = 1;
}

static bool exists(struct pvio_xs *xs, const char *path)
{
	char v[64];

	return pvio_xs_read(xs, PVIO_XS_TX_NONE, path, v, sizeof(v), NULL) != -ENOENT;
}

/* Grant mappings the driver domain holds now, over every device. */
static uint32_t handles_in_use(const struct pvio_domain *d)
{
	/* Under the maptrack lock: blkback's threads map and unmap now. */
	return pvio_gnt_nr_mapped(d->gnt_back);
}

/* Event channel ports this domain has open (unbound or connected). */
static uint32_t ports_in_use(const struct pvio_domain *d)
{
	struct pvio_evtchn_status st;
	uint32_t n = 0;

	for (uint32_t p = 1; p < PVIO_EVTCHN_NR_PORTS; p++)
		if (pvio_evtchn_status(d->evtchn, p, &st) == 0 &&
		    st.state != PVIO_EVTCHN_PORT_FREE)
			n++;
	return n;
}

static int dev_start(struct pvio_domain *d, struct pvio_xs *ts, const char *run_dir,
		     struct dev *v)
{
	char path[256], vd[16];
	int rc;

	snprintf(path, sizeof(path), "/local/domain/%u/domid", (unsigned)v->fe);
	while (!exists(ts, path)) {
		if (stop)
			return -EINTR;
		poll(NULL, 0, 50);
	}
	snprintf(vd, sizeof(vd), "%u", DEVID);
	struct pvio_xenbus_kv bk[] = {
		{ "params", v->spec.target }, { "mode", "w" },
		{ "dev", "xvda" }, { "device-type", "disk" },
	};
	struct pvio_xenbus_kv fk[] = { { "virtual-device", vd }, { "device-type", "disk" } };
	struct pvio_xenbus_device_keys keys = { .frontend = fk, .nr_frontend = 2,
						.backend = bk, .nr_backend = 4 };
	rc = pvio_xenbus_device_create(ts, "vbd", 0, v->fe, DEVID, &keys);
	if (rc)
		return rc;
	rc = pvio_xs_host_open(&v->xh, &v->xs, run_dir, v->ev, 16, 10000);
	if (rc)
		return rc;
	struct pvio_blkback_config cfg = { 0 };
	pvio_blkback_config_from_domain(&cfg, d);
	cfg.fe = v->fe;
	cfg.xs = &v->xs;
	cfg.disk = &v->spec;
	rc = pvio_blkback_create(&cfg, &v->bb);
	if (rc == 0)
		rc = pvio_blkback_start(v->bb);
	if (rc == 0)
		rc = pvio_blkback_wait_state(v->bb, PVIO_XENBUS_INIT_WAIT, 10000);
	v->live = rc == 0;
	return rc;
}

/* The guest is gone: stop the device, give everything back, report. */
static void dev_free(struct pvio_domain *d, struct pvio_xs *ts, struct dev *v)
{
	struct pvio_blkback_stats st;
	char bdir[256], fdir[256];
	uint32_t before = handles_in_use(d), ports_before = ports_in_use(d);
	uint64_t heap_before = heap_use().in_use;

	pvio_blkback_stop(v->bb);
	pvio_blkback_stats(v->bb, &st);
	pvio_blkback_destroy(v->bb);
	v->bb = NULL;
	pvio_xs_host_close(&v->xh);
	pvio_xenbus_device_destroy(ts, "vbd", 0, v->fe, DEVID);
	v->live = false;
	snprintf(bdir, sizeof(bdir), "/local/domain/0/backend/vbd/%u/%u/state",
		 (unsigned)v->fe, DEVID);
	snprintf(fdir, sizeof(fdir), "/local/domain/%u/device/vbd/%u/state",
		 (unsigned)v->fe, DEVID);
	printf("{\"freed\": %u, \"grant_maps\": %" PRIu64 ", \"grant_unmaps\": %" PRIu64
	       ", \"connects\": %u, \"handles_before\": %u, \"handles_after\": %u"
	       ", \"ports_before\": %u, \"ports_after\": %u, \"heap_before\": %" PRIu64
	       ", \"heap_after\": %" PRIu64 ", \"backend_dir_gone\": %s, \"frontend_gone\": %s}\n",
	       (unsigned)v->fe, st.grant_maps, st.grant_unmaps, st.connects, before,
	       handles_in_use(d), ports_before, ports_in_use(d), heap_before, heap_use().in_use,
	       exists(ts, bdir) ? "false" : "true",
	       exists(ts, fdir) ? "false" : "true");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct dev devs[2];
	struct pvio_domain *d = NULL;
	struct pvio_domain_config dc = { .name = "kill-blk-backend2", .nr_pages = 1024,
					 .driver_domain = true, .nr_map_handles = 65536 };
	char err[256];
	int rc;

	if (argc != 6) {
		fprintf(stderr, "usage: kill_blk_backend2 RUN_DIR FE_A IMG_A FE_B IMG_B\n");
		return 2;
	}
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	signal(SIGUSR1, on_usr1);
	memset(devs, 0, sizeof(devs));
	for (int i = 0; i < 2; i++) {
		devs[i].fe = (pvio_domid_t)strtoul(argv[2 + 2 * i], NULL, 0);
		snprintf(devs[i].spec_text, sizeof(devs[i].spec_text),
			 "format=raw,vdev=xvda,access=rw,target=%s", argv[3 + 2 * i]);
		if (pvio_blkback_disk_spec_parse(devs[i].spec_text, &devs[i].spec, err,
						 sizeof(err))) {
			fprintf(stderr, "kill_blk_backend2: %s\n", err);
			return 2;
		}
	}
	rc = pvio_domain_connect(argv[1], &dc, &d);
	if (rc) {
		fprintf(stderr, "kill_blk_backend2: connect: %s\n", strerror(-rc));
		return 1;
	}
	pvio_xs_set_timeout(d->xs, 10000);
	for (int i = 0; i < 2; i++) {
		rc = dev_start(d, d->xs, argv[1], &devs[i]);
		if (rc) {
			fprintf(stderr, "kill_blk_backend2: device of domain %u: %s\n",
				(unsigned)devs[i].fe, strerror(-rc));
			return 1;
		}
	}
	printf("serving %u %u\n", (unsigned)devs[0].fe, (unsigned)devs[1].fe);
	fflush(stdout);
	while (!stop && (devs[0].live || devs[1].live)) {
		poll(NULL, 0, 100);
		if (snapshot) {
			snapshot = 0;
			printf("handles %u ports %u heap %" PRIu64 "\n", handles_in_use(d),
			       ports_in_use(d), heap_use().in_use);
			fflush(stdout);
		}
		if (!pvio_domain_hostd_alive(d)) {
			fprintf(stderr, "kill_blk_backend2: hostd went away\n");
			return 1;
		}
		for (int i = 0; i < 2; i++) {
			char path[256];

			if (!devs[i].live)
				continue;
			snprintf(path, sizeof(path), "/local/domain/%u/device/vbd/%u/state",
				 (unsigned)devs[i].fe, DEVID);
			if (!exists(d->xs, path))
				dev_free(d, d->xs, &devs[i]);
		}
	}
	for (int i = 0; i < 2; i++)
		if (devs[i].live)
			dev_free(d, d->xs, &devs[i]);
	printf("done\n");
	fflush(stdout);
	pvio_domain_disconnect(d);
	return 0;
}
