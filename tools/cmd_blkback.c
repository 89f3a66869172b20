/* SPDX-License-Identifier: MIT */
/*
 * pvio blkback: the driver domain (domid 0) as a process, serving one
 * virtual block device from an image file or block device until
 * SIGINT/SIGTERM. With --frontend it also plays the toolstack for that
 * device: once the guest domain exists it creates the device's two store
 * dirs (pvio_xenbus_device_create), and again for the next guest that
 * takes that domid after one leaves. pvio blk runs the same body,
 * blkback_side_run(), in a forked child and gets the counters back over
 * a pipe (blk_workload.h: BLK_MSG_BSTATS).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pvio/domain.h>

#include "blk_workload.h"
#include "cli.h"
#include "domains.h"

#define DEFAULT_RUN_DIR "/run/pvio"
#define POLL_MS 100

uint32_t blkback_side_map_handles(uint32_t queues, uint32_t ring_pages)
{
	uint64_t slots = 32ull * (ring_pages ? ring_pages : 1);
	uint64_t n = (uint64_t)(queues ? queues : 4) * (1056 + slots * (256 + 8)) + 1024;

	return n > (1u << 21) ? (1u << 21) : (uint32_t)n;
}

const char *blk_parse_engine(const char *cmd, const char *v)
{
	static const char *const names[] = { "io_uring", "libaio", "sync", "null" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(v, names[i]))
			return names[i];
	cli_usage_error(cmd, "--engine takes io_uring, libaio, sync or null, got '%s'", v);
}

/* The guest side of the device, "/local/domain/<fe>/device/vbd/<devid>". */

/* One line: to the toolstack over the status pipe, or on stderr. */
#define side_fail(o, ...) \
	dom_side_fail("blkback", (o)->status_fd, BLK_MSG_ERROR, __VA_ARGS__)

static void fe_dir(char *buf, size_t n, pvio_domid_t fe, uint32_t devid)
{
	pvio_xenbus_frontend_path(buf, n, "vbd", fe, devid);
}

/*
 * Which frontend to serve. With --frontend F: wait for domain F to exist
 * and create the device if it is not there (*created). Without: find a
 * device of our devid under /local/domain/0/backend/vbd/<fe>/. Returns 0,
 * -EINTR (stop asked), or a store error.
 */
static int find_frontend(const struct blkback_side_opts *o, struct pvio_xs *ts,
			 pvio_domid_t *fe, bool *created)
{
	uint32_t devid = o->disk->devid;
	char path[PVIO_XENBUS_PATH_MAX + 32], dir[PVIO_XENBUS_PATH_MAX];

	*created = false;
	for (;;) {
		if (o->frontend >= 0) {
			snprintf(path, sizeof(path), "/local/domain/%d/domid", o->frontend);
			if (dom_node_exists(ts, path)) {
				/* Our own dir, not the guest's backend key: a
				 * backend that died (kill -9) took its dir with
				 * it, and the guest waits for the device to be
				 * offered again (blkfront reconnects). */
				snprintf(path, sizeof(path),
					 "/local/domain/0/backend/vbd/%d/%u/frontend",
					 o->frontend, devid);
				*fe = (pvio_domid_t)o->frontend;
				if (dom_node_exists(ts, path))
					return 0;
				if (o->no_create)
					goto next; /* pvio blk creates it */
				struct pvio_xenbus_kv bk[] = {
					{ "params", o->disk->target },
					{ "mode", o->disk->readonly ? "r" : "w" },
					{ "dev", o->disk->vdev },
					{ "device-type", o->disk->cdrom ? "cdrom" : "disk" },
				};
				char vd[16];

				snprintf(vd, sizeof(vd), "%u", devid);
				struct pvio_xenbus_kv fk[] = {
					{ "virtual-device", vd },
					{ "device-type", o->disk->cdrom ? "cdrom" : "disk" },
				};
				struct pvio_xenbus_device_keys keys = {
					.frontend = fk, .nr_frontend = 2,
					.backend = bk, .nr_backend = 4,
				};
				int rc = pvio_xenbus_device_create(ts, "vbd", 0, *fe, devid, &keys);
				if (rc)
					return rc;
				*created = true;
				return 0;
			}
		} else {
			char list[4096];
			unsigned nr = 0;
			int rc = pvio_xs_directory(ts, PVIO_XS_TX_NONE,
						   "/local/domain/0/backend/vbd", list,
						   sizeof(list), &nr);

			for (const char *p = list; rc == 0 && *p; p += strlen(p) + 1) {
				uint64_t id;

				if (pvio_xs_parse_uint(p, 0x7fef, &id))
					continue;
				snprintf(path, sizeof(path), "/local/domain/0/backend/vbd/%u/%u/frontend",
					 (unsigned)id, devid);
				fe_dir(dir, sizeof(dir), (pvio_domid_t)id, devid);
				snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/state");
				if (dom_node_exists(ts, path) && dom_node_exists(ts, dir)) {
					*fe = (pvio_domid_t)id;
					return 0;
				}
			}
		}
next:
		if (ts->error)
			return ts->error;
		if (dom_stop_asked(o->ctl_fd, POLL_MS))
			return -EINTR;
	}
}

static void stats_add(struct pvio_blkback_stats *a, const struct pvio_blkback_stats *b)
{
#define ADD(f) a->f += b->f
	ADD(req_read); ADD(req_write); ADD(req_barrier); ADD(req_flush); ADD(req_discard);
	ADD(req_indirect); ADD(sectors_read); ADD(sectors_written); ADD(err_op);
	ADD(err_segments); ADD(err_sect); ADD(err_range); ADD(err_grant); ADD(err_readonly);
	ADD(err_unsupported); ADD(err_io); ADD(err_nospc); ADD(err_protocol);
	ADD(grant_maps); ADD(grant_unmaps); ADD(persistent_hits); ADD(persistent_misses);
	ADD(persistent_evictions); ADD(kicks_sent); ADD(wakeups); ADD(events);
	ADD(engine_submits); ADD(connects);
#undef ADD
	a->broken |= b->broken;
	if (b->nr_queues)
		a->nr_queues = b->nr_queues;
	if (b->ring_pages)
		a->ring_pages = b->ring_pages;
	a->persistent |= b->persistent;
	a->state = b->state;
}

static void print_stats(const struct blkback_side_opts *o, const struct pvio_blkback_stats *s)
{
	uint64_t reqs = s->req_read + s->req_write;
	uint64_t lookups = s->persistent_hits + s->persistent_misses;
	uint64_t errs = s->err_op + s->err_segments + s->err_sect + s->err_range +
			s->err_grant + s->err_readonly + s->err_unsupported + s->err_io +
			s->err_nospc + s->err_protocol;

	if (o->json) {
		printf("{\"command\": \"blkback\", \"connects\": %u, \"req_read\": %" PRIu64
		       ", \"req_write\": %" PRIu64 ", \"req_flush\": %" PRIu64
		       ", \"req_discard\": %" PRIu64 ", \"req_indirect\": %" PRIu64
		       ", \"sectors_read\": %" PRIu64 ", \"sectors_written\": %" PRIu64
		       ", \"errors\": %" PRIu64 ", \"err_io\": %" PRIu64 ", \"err_nospc\": %" PRIu64
		       ", \"err_readonly\": %" PRIu64 ", \"err_range\": %" PRIu64
		       ", \"err_grant\": %" PRIu64 ", \"err_protocol\": %" PRIu64
		       ", \"grant_maps\": %" PRIu64 ", \"persistent_hits\": %" PRIu64
		       ", \"persistent_misses\": %" PRIu64 ", \"kicks\": %" PRIu64
		       ", \"wakeups\": %" PRIu64 ", \"grant_maps_per_req\": %.6f"
		       ", \"persistent_hit_rate\": %.6f}\n",
		       s->connects, s->req_read, s->req_write, s->req_flush, s->req_discard,
		       s->req_indirect, s->sectors_read, s->sectors_written, errs, s->err_io,
		       s->err_nospc, s->err_readonly, s->err_range, s->err_grant,
		       s->err_protocol, s->grant_maps, s->persistent_hits,
		       s->persistent_misses, s->kicks_sent, s->wakeups,
		       reqs ? (double)s->grant_maps / (double)reqs : 0,
		       lookups ? (double)s->persistent_hits / (double)lookups : 0);
	} else {
		printf("pvio blkback: %u connection%s, %" PRIu64 " reads, %" PRIu64
		       " writes (%" PRIu64 " indirect), %" PRIu64 " flushes, %" PRIu64
		       " discards\n", s->connects, s->connects == 1 ? "" : "s", s->req_read,
		       s->req_write, s->req_indirect, s->req_flush, s->req_discard);
		printf("  errors %" PRIu64 " (io %" PRIu64 ", no space %" PRIu64 ", read-only %"
		       PRIu64 ", range %" PRIu64 ", grant %" PRIu64 ", protocol %" PRIu64 ")\n",
		       errs, s->err_io, s->err_nospc, s->err_readonly, s->err_range,
		       s->err_grant, s->err_protocol);
		printf("  kicks %" PRIu64 ", wake-ups %" PRIu64 ", grant maps/request %.4f, "
		       "persistent-grant hit rate %.1f%%\n", s->kicks_sent, s->wakeups,
		       reqs ? (double)s->grant_maps / (double)reqs : 0,
		       lookups ? 100.0 * (double)s->persistent_hits / (double)lookups : 0);
	}
	fflush(stdout);
}

/* Up to 10 s for InitWait; a control thread that gave up (Closed) fails
 * at once. */
static int wait_init_wait(const struct pvio_blkback *bb)
{
	for (int ms = 0; ms < 10000; ms += 10) {
		struct pvio_blkback_stats st;

		pvio_blkback_stats(bb, &st);
		if (st.state == PVIO_XENBUS_INIT_WAIT || st.state == PVIO_XENBUS_CONNECTED)
			return 0;
		if (st.state == PVIO_XENBUS_CLOSED || st.broken)
			return -ENODEV;
		poll(NULL, 0, 10);
	}
	return -ETIMEDOUT;
}

static const char *create_error(int rc)
{
	switch (rc) {
	case -ENOENT: return "no such file, or unknown engine";
	case -EROFS: return "the backing is read-only (use access=ro)";
	default: return strerror(-rc);
	}
}

/* What is wrong with the target itself, when pvio_blkback_create's
 * -EINVAL is its refusing the target (a directory, a tty, an empty
 * image); NULL otherwise. */
static const char *target_problem(int rc, const char *path)
{
	struct stat st;

	if (rc != -EINVAL || stat(path, &st))
		return NULL;
	if (S_ISDIR(st.st_mode))
		return "it is a directory";
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return "it is not a regular file or a block device";
	if (S_ISREG(st.st_mode) && st.st_size == 0)
		return "it is empty (0 bytes)";
	if (S_ISREG(st.st_mode) && st.st_size < 512)
		return "it is smaller than one 512-byte sector";
	return NULL;
}

int blkback_side_run(const struct blkback_side_opts *o)
{
	struct pvio_domain_config dc = { .name = "blkback", .nr_pages = 1024,
					 .driver_domain = true };
	struct pvio_domain *d = NULL;
	struct pvio_xs_host ts_host = { .fd = -1 };
	struct pvio_xs ts;
	struct pvio_xs_event ts_ev[8];
	struct pvio_blkback_stats total = { 0 };
	int status = PVIO_EXIT_FAIL, rc;
	struct stat sb;

	/* The backing first: the commonest mistake gets the plainest line. */
	if (stat(o->disk->target, &sb)) {
		side_fail(o, "disk %s: %s", o->disk->target, strerror(errno));
		return PVIO_EXIT_FAIL;
	}
	dc.nr_map_handles = blkback_side_map_handles(o->queues, o->ring_pages);
	rc = pvio_domain_connect(o->run_dir, &dc, &d);
	if (rc == -ENOENT || rc == -ECONNREFUSED) {
		side_fail(o, "no pvio hostd serves %s (start one: pvio hostd --run-dir %s)",
			  o->run_dir, o->run_dir);
		return PVIO_EXIT_FAIL;
	}
	if (rc == -EBUSY) {
		side_fail(o, "domid 0 is taken: another driver domain serves %s", o->run_dir);
		return PVIO_EXIT_FAIL;
	}
	if (rc) {
		side_fail(o, "cannot become the driver domain of hostd at %s: %s",
			  o->run_dir, strerror(-rc));
		return PVIO_EXIT_FAIL;
	}
	rc = pvio_xs_host_open(&ts_host, &ts, o->run_dir, ts_ev, 8, DOM_STORE_TIMEOUT_MS);
	if (rc) {
		side_fail(o, "cannot reach the store at %s/socket: %s", o->run_dir,
			  strerror(-rc));
		goto out;
	}
	if (o->status_fd >= 0) {
		uint32_t id = d->domid;

		/* pvio blk creates the device now, then we find it. */
		blk_msg_send(o->status_fd, BLK_MSG_DOMID, &id, sizeof(id));
	}

	for (bool first = true;; first = false) {
		struct pvio_xs_host bx_host = { .fd = -1 };
		struct pvio_xs bx;
		struct pvio_xs_event bx_ev[16];
		struct pvio_blkback_config cfg = { 0 };
		struct pvio_blkback *bb = NULL;
		struct pvio_blkback_stats st;
		char dir[PVIO_XENBUS_PATH_MAX], state[PVIO_XENBUS_PATH_MAX + 16];
		pvio_domid_t fe = 0;
		bool created = false, gone = false;

		rc = find_frontend(o, &ts, &fe, &created);
		if (rc == -EINTR) {
			status = PVIO_EXIT_OK;
			break;
		}
		if (rc && !pvio_domain_hostd_alive(d)) {
			side_fail(o, "hostd at %s went away", o->run_dir);
			break;
		}
		if (rc) {
			side_fail(o, "creating or finding vbd %u in the store: %s",
				  o->disk->devid, strerror(-rc));
			break;
		}
		rc = pvio_xs_host_open(&bx_host, &bx, o->run_dir, bx_ev, 16, DOM_STORE_TIMEOUT_MS);
		if (rc && !pvio_domain_hostd_alive(d)) {
			side_fail(o, "hostd at %s went away", o->run_dir);
			break;
		}
		if (rc) {
			side_fail(o, "cannot reach the store at %s/socket: %s", o->run_dir,
				  strerror(-rc));
			break;
		}
		pvio_blkback_config_from_domain(&cfg, d);
		cfg.fe = fe;
		cfg.xs = &bx;
		cfg.disk = o->disk;
		cfg.engine = o->engine;
		cfg.max_queues = o->queues;
		if (o->ring_pages)
			cfg.max_ring_page_order = (uint32_t)__builtin_ctz(o->ring_pages);
		/* Order 0 in the config takes the default (16 pages); without
		 * ring_ops blkback offers single-page rings only. */
		if (o->ring_pages == 1 || o->no_optional)
			cfg.ring_ops = NULL;
		cfg.no_persistent = o->no_persistent || o->no_optional;
		if (o->no_optional) {
			cfg.no_indirect = cfg.no_flush = cfg.no_discard = true;
			cfg.max_queues = 1;
		}
		rc = pvio_blkback_create(&cfg, &bb);
		if (rc == 0)
			rc = pvio_blkback_start(bb);
		if (rc) {
			const char *why = target_problem(rc, o->disk->target);

			if (why)
				side_fail(o, "cannot serve %s: %s", o->disk->target, why);
			else
				side_fail(o, "cannot serve %s with engine %s: %s", o->disk->target,
					  o->engine ? o->engine : "io_uring", create_error(rc));
			pvio_blkback_destroy(bb);
			pvio_xs_host_close(&bx_host);
			if (created)
				pvio_xenbus_device_destroy(&ts, "vbd", 0, fe, o->disk->devid);
			break;
		}
		rc = wait_init_wait(bb);
		if (rc) {
			side_fail(o, "vbd %u did not reach InitWait: %s", o->disk->devid,
				  strerror(-rc));
			pvio_blkback_destroy(bb);
			pvio_xs_host_close(&bx_host);
			break;
		}
		if (o->status_fd >= 0) {
			blk_msg_send(o->status_fd, BLK_MSG_READY, NULL, 0);
		} else if (first || created) {
			printf("pvio blkback: serving vbd %u (%s) of domain %u from %s, "
			       "engine %s%s\n", o->disk->devid, o->disk->vdev, (unsigned)fe,
			       o->disk->target, o->engine ? o->engine : "io_uring",
			       o->disk->readonly ? ", read-only" : "");
			fflush(stdout);
		}

		/* Serve until stopped or the guest's side of the device goes
		 * (its domain died: hostd removed its store home). */
		fe_dir(dir, sizeof(dir), fe, o->disk->devid);
		snprintf(state, sizeof(state), "%s/state", dir);
		while (!dom_stop_asked(o->ctl_fd, 200)) {
			if (!pvio_domain_hostd_alive(d)) {
				side_fail(o, "hostd at %s went away", o->run_dir);
				gone = true;
				status = PVIO_EXIT_FAIL;
				break;
			}
			if (!dom_node_exists(&ts, state)) {
				gone = true;
				break;
			}
		}
		pvio_blkback_stop(bb);
		pvio_blkback_stats(bb, &st);
		stats_add(&total, &st);
		pvio_blkback_destroy(bb);
		pvio_xs_host_close(&bx_host);
		if (created && !gone)
			pvio_xenbus_device_destroy(&ts, "vbd", 0, fe, o->disk->devid);
		if (gone && pvio_domain_hostd_alive(d) && o->status_fd < 0) {
			printf("pvio blkback: domain %u left; waiting for the next guest\n",
			       (unsigned)fe);
			fflush(stdout);
			continue;
		}
		if (pvio_domain_hostd_alive(d))
			status = PVIO_EXIT_OK;
		break;
	}
	if (o->status_fd >= 0)
		blk_msg_send(o->status_fd, BLK_MSG_BSTATS, &total, sizeof(total));
	else if (status == PVIO_EXIT_OK)
		print_stats(o, &total);
out:
	pvio_xs_host_close(&ts_host);
	pvio_domain_disconnect(d);
	return status;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pvio blkback --disk SPEC [--engine E] [--run-dir DIR]\n"
		"                    [--frontend DOMID] [--persistent on|off]\n"
		"                    [--queues N] [--ring-pages N] [--features all|none]\n"
		"                    [--json]\n"
		"\n"
		"Become the driver domain (domid 0) of the hostd serving DIR and serve\n"
		"one virtual block device from an image file or block device until\n"
		"SIGINT or SIGTERM, then print the backend's counters. The device is\n"
		"the vbd SPEC's vdev names, of one guest:\n"
		"  with --frontend DOMID, once that domain exists, blkback creates the\n"
		"  device in the store itself (the toolstack's step) unless it is there,\n"
		"  and does so again for the next domain DOMID when the guest leaves;\n"
		"  without, it serves the first device of that vdev a toolstack created\n"
		"  under /local/domain/0/backend/vbd/.\n"
		"\n"
		"  --disk SPEC       the disk, in xl's syntax (xl-disk-configuration(5)):\n"
		"                    'format=raw,vdev=xvda,access=rw,target=/path' or\n"
		"                    'file:/path,xvda,w' ('access=ro' / ',r': read-only)\n"
		"  --engine E        io_uring (default), libaio, sync or null (no data\n"
		"                    kept: reads return whatever the buffer held)\n"
		"  --run-dir DIR     the hostd to join (default " DEFAULT_RUN_DIR ")\n"
		"  --frontend DOMID  the guest, 1..32751; see above\n"
		"  --persistent on|off  offer persistent grants (default on)\n"
		"  --queues N        most queues a frontend may use, 1..16 (default 4)\n"
		"  --ring-pages N    largest ring offered: 1, 2, 4, 8, 16 (default 16)\n"
		"  --features all|none  none: offer no optional blkif feature (no\n"
		"                    persistent grants, indirect segments, flush, barrier\n"
		"                    or discard; one queue, a one-page ring), as a\n"
		"                    minimal backend does (default all)\n"
		"  --json            print the final counters as one JSON object\n"
		"  --help            this text\n"
		"\n"
		"If blkback dies (even kill -9), run the same command again (same --disk\n"
		"and --frontend): it offers the device anew, and a guest running pvio\n"
		"blkfront --reconnect SECS reconnects and issues again every request the\n"
		"dead backend did not answer: no acknowledged write is lost.\n"
		"exit status: 0 stopped by a signal, 1 could not serve (no such disk,\n"
		"engine failed, no hostd, domid 0 taken), 2 bad usage.\n");
}

int cmd_blkback(int argc, char **argv)
{
	struct blkback_side_opts o = { .run_dir = DEFAULT_RUN_DIR, .frontend = -1,
				       .status_fd = -1, .ctl_fd = -1 };
	struct pvio_blkback_disk_spec spec;
	const char *v, *disk = NULL;
	char err[256];

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return PVIO_EXIT_OK;
		} else if ((v = cli_flag_value("blkback", "--disk", argc, argv, &i))) {
			disk = v;
		} else if ((v = cli_flag_value("blkback", "--engine", argc, argv, &i))) {
			o.engine = blk_parse_engine("blkback", v);
		} else if ((v = cli_flag_value("blkback", "--run-dir", argc, argv, &i))) {
			if (!*v)
				cli_usage_error("blkback", "--run-dir needs a directory");
			o.run_dir = v;
		} else if ((v = cli_flag_value("blkback", "--frontend", argc, argv, &i))) {
			o.frontend = (int)cli_parse_u64("blkback", "--frontend", v, 1, 0x7fef);
		} else if ((v = cli_flag_value("blkback", "--persistent", argc, argv, &i))) {
			o.no_persistent = !blk_parse_onoff("blkback", "--persistent", v);
		} else if ((v = cli_flag_value("blkback", "--queues", argc, argv, &i))) {
			o.queues = (uint32_t)cli_parse_u64("blkback", "--queues", v, 1,
							   PVIO_BLKFRONT_MAX_QUEUES);
		} else if ((v = cli_flag_value("blkback", "--ring-pages", argc, argv, &i))) {
			o.ring_pages = blk_parse_ring_pages("blkback", v);
		} else if ((v = cli_flag_value("blkback", "--features", argc, argv, &i))) {
			if (strcmp(v, "all") && strcmp(v, "none"))
				cli_usage_error("blkback", "--features: '%s' (want all or none)", v);
			o.no_optional = !strcmp(v, "none");
		} else if (!strcmp(argv[i], "--json")) {
			o.json = true;
		} else {
			cli_usage_error("blkback", "unknown flag '%s'", argv[i]);
		}
	}
	if (!disk)
		cli_usage_error("blkback", "--disk SPEC is required");
	if (o.no_optional && (o.queues > 1 || o.ring_pages > 1))
		cli_usage_error("blkback", "--features none offers one queue and a "
				"one-page ring: drop --queues and --ring-pages");
	if (pvio_blkback_disk_spec_parse(disk, &spec, err, sizeof(err)))
		cli_usage_error("blkback", "--disk: %s", err);
	o.disk = &spec;
	blk_install_stop_handlers();
	return blkback_side_run(&o);
}
