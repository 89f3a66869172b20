/* SPDX-License-Identifier: MIT */
/*
 * pvio-nbd-backend: the driver domain and toolstack the NBD tests need, in
 * one process (a stand-in until `pvio blkback` lands in tools/):
 *
 *   pvio-nbd-backend --run-dir DIR --disk SPEC --frontend DOMID
 *                    [--engine NAME] [--max-queues N] [--no-persistent]
 *                    [--no-discard] [--wait SECONDS]
 *
 * Joins hostd as the driver domain (domid 0), waits for the frontend
 * domain to exist (hostd clears a domain's store home when it joins, so
 * the device can only be created afterwards), creates the vbd's two store
 * dirs as the toolstack (pvio_xenbus_device_create), and serves SPEC (an
 * xl disk spec: "format=raw,vdev=xvda,access=rw,target=FILE") with
 * blkback until SIGTERM/SIGINT. Prints
 *   pvio-nbd-backend: serving FILE as vbd DEVID of domain FE
 * once the device is created, and
 * when the frontend reaches Connected, with what was negotiated:
 *   pvio-nbd-backend: connected queues=N ring_pages=N persistent=0|1
 * Exit: 0 after a signal, 1 on a failure, 2 on bad usage.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvio/blkback.h>
#include <pvio/domain.h>
#include <pvio/xenbus.h>

#define STORE_TIMEOUT_MS 15000

static void usage_error(const char *msg)
{
	fprintf(stderr, "pvio-nbd-backend: %s (usage: pvio-nbd-backend --run-dir DIR "
		"--disk SPEC --frontend DOMID [--engine NAME] [--max-queues N] "
		"[--no-persistent] [--no-discard] [--wait SECONDS])\n", msg);
	exit(2);
}

static unsigned long parse_num(const char *opt, const char *v, unsigned long max)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || end == v || *end || n > max) {
		char msg[128];
		snprintf(msg, sizeof(msg), "%s: bad number '%s'", opt, v);
		usage_error(msg);
	}
	return n;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Wait until /local/domain/<fe> has its name: the domain exists. */
static int wait_domain(struct pvio_xs *xs, unsigned fe, unsigned wait_s)
{
	char path[64], buf[128];
	uint64_t deadline = mono_ms() + (uint64_t)wait_s * 1000u;

	snprintf(path, sizeof(path), "/local/domain/%u/name", fe);
	for (;;) {
		int err = pvio_xs_read(xs, PVIO_XS_TX_NONE, path, buf, sizeof(buf), NULL);
		if (err != -ENOENT)
			return err;
		if (mono_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(20000);
	}
}

struct watcher {
	struct pvio_blkback *bb;
	_Atomic bool stop;
};

/* Log the first Connected; polls in short waits so main can stop it. */
static void *watch_connected(void *arg)
{
	struct watcher *w = arg;

	while (!atomic_load(&w->stop)) {
		int err = pvio_blkback_wait_state(w->bb, PVIO_XENBUS_CONNECTED, 200);
		if (err == 0) {
			struct pvio_blkback_stats st;
			pvio_blkback_stats(w->bb, &st);
			printf("pvio-nbd-backend: connected queues=%u ring_pages=%u persistent=%d\n",
			       st.nr_queues, st.ring_pages, st.persistent);
			fflush(stdout);
			break;
		}
		if (err == -EPIPE) {
			fprintf(stderr, "pvio-nbd-backend: the device broke (protocol error)\n");
			break;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *run_dir = NULL, *disk = NULL, *engine = NULL;
	long fe = -1;
	unsigned max_queues = 0, wait_s = 60;
	bool no_persistent = false, no_discard = false;
	struct pvio_blkback_disk_spec spec;
	char err_msg[256];
	sigset_t sigs;
	int err, sig, rc = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--no-persistent")) {
			no_persistent = true;
			continue;
		}
		if (!strcmp(a, "--no-discard")) {
			no_discard = true;
			continue;
		}
		if (!v) {
			char msg[128];
			snprintf(msg, sizeof(msg), "unknown or incomplete option '%s'", a);
			usage_error(msg);
		}
		i++;
		if (!strcmp(a, "--run-dir"))
			run_dir = v;
		else if (!strcmp(a, "--disk"))
			disk = v;
		else if (!strcmp(a, "--frontend"))
			fe = (long)parse_num(a, v, 0x7fef);
		else if (!strcmp(a, "--engine"))
			engine = v;
		else if (!strcmp(a, "--max-queues"))
			max_queues = (unsigned)parse_num(a, v, 16);
		else if (!strcmp(a, "--wait"))
			wait_s = (unsigned)parse_num(a, v, 3600);
		else {
			char msg[128];
			snprintf(msg, sizeof(msg), "unknown option '%s'", a);
			usage_error(msg);
		}
	}
	if (!run_dir || !disk || fe < 1)
		usage_error("--run-dir, --disk and --frontend (a guest domid >= 1) are required");
	if (pvio_blkback_disk_spec_parse(disk, &spec, err_msg, sizeof(err_msg)) != 0) {
		fprintf(stderr, "pvio-nbd-backend: --disk: %s\n", err_msg);
		return 2;
	}

	/* Signals go to sigwait() below, not to blkback's threads. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	struct pvio_domain_config dc = { .name = "nbd-backend", .nr_pages = 1024,
					 .driver_domain = true,
					 .nr_map_handles = 32768 };
	struct pvio_domain *d = NULL;
	struct pvio_xs_host ts_host = { .fd = -1 }, bb_host = { .fd = -1 };
	struct pvio_xs ts, bbxs;
	struct pvio_xs_event ts_ev[8], bb_ev[16];
	struct pvio_blkback *bb = NULL;
	bool created = false;

	err = pvio_domain_connect(run_dir, &dc, &d);
	if (err) {
		fprintf(stderr, "pvio-nbd-backend: joining hostd at %s as domain 0: %s\n",
			run_dir, strerror(-err));
		return 1;
	}
	err = pvio_xs_host_open(&ts_host, &ts, run_dir, ts_ev, 8, STORE_TIMEOUT_MS);
	if (!err)
		err = pvio_xs_host_open(&bb_host, &bbxs, run_dir, bb_ev, 16, STORE_TIMEOUT_MS);
	if (err) {
		fprintf(stderr, "pvio-nbd-backend: the store at %s/socket: %s\n", run_dir,
			strerror(-err));
		goto out;
	}
	err = wait_domain(&ts, (unsigned)fe, wait_s);
	if (err) {
		fprintf(stderr, "pvio-nbd-backend: waiting for domain %ld: %s\n", fe,
			strerror(-err));
		goto out;
	}

	struct pvio_blkback_config cfg = { 0 };
	pvio_blkback_config_from_domain(&cfg, d);
	cfg.fe = (pvio_domid_t)fe;
	cfg.xs = &bbxs;
	cfg.disk = &spec;
	cfg.engine = engine;
	cfg.max_queues = max_queues;
	cfg.no_persistent = no_persistent;
	cfg.no_discard = no_discard;
	err = pvio_blkback_create(&cfg, &bb);
	if (err) {
		fprintf(stderr, "pvio-nbd-backend: %s: %s\n", spec.target, strerror(-err));
		goto out;
	}
	err = pvio_xenbus_device_create(&ts, "vbd", d->domid, (pvio_domid_t)fe,
					spec.devid, NULL);
	if (err) {
		fprintf(stderr, "pvio-nbd-backend: creating vbd %u: %s\n", spec.devid,
			strerror(-err));
		goto out;
	}
	created = true;
	err = pvio_blkback_start(bb);
	if (err) {
		fprintf(stderr, "pvio-nbd-backend: starting blkback: %s\n", strerror(-err));
		goto out;
	}
	printf("pvio-nbd-backend: serving %s as vbd %u of domain %ld\n", spec.target,
	       spec.devid, fe);
	fflush(stdout);

	struct watcher w = { .bb = bb, .stop = false };
	pthread_t wt;
	bool watching = pthread_create(&wt, NULL, watch_connected, &w) == 0;

	sigwait(&sigs, &sig);
	rc = 0;
	{
		struct pvio_blkback_stats st;
		pvio_blkback_stats(bb, &st);
		printf("pvio-nbd-backend: stats read=%llu write=%llu flush=%llu discard=%llu "
		       "indirect=%llu err_op=%llu err_segments=%llu err_sect=%llu "
		       "err_range=%llu err_grant=%llu err_readonly=%llu "
		       "err_unsupported=%llu err_io=%llu err_nospc=%llu err_protocol=%llu "
		       "broken=%d connects=%u\n",
		       (unsigned long long)st.req_read, (unsigned long long)st.req_write,
		       (unsigned long long)st.req_flush, (unsigned long long)st.req_discard,
		       (unsigned long long)st.req_indirect, (unsigned long long)st.err_op,
		       (unsigned long long)st.err_segments, (unsigned long long)st.err_sect,
		       (unsigned long long)st.err_range, (unsigned long long)st.err_grant,
		       (unsigned long long)st.err_readonly,
		       (unsigned long long)st.err_unsupported, (unsigned long long)st.err_io,
		       (unsigned long long)st.err_nospc, (unsigned long long)st.err_protocol,
		       st.broken, st.connects);
		fflush(stdout);
	}
	if (watching) {
		atomic_store(&w.stop, true);
		pthread_join(wt, NULL);
	}
out:
	pvio_blkback_destroy(bb);
	if (created)
		pvio_xenbus_device_destroy(&ts, "vbd", d->domid, (pvio_domid_t)fe, spec.devid);
	if (bb_host.fd >= 0)
		pvio_xs_host_close(&bb_host);
	if (ts_host.fd >= 0)
		pvio_xs_host_close(&ts_host);
	pvio_domain_disconnect(d);
	return rc;
}
