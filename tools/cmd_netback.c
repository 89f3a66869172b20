/* SPDX-License-Identifier: MIT */
/*
 * pvio netback: the driver domain (domid 0) as a process, serving one vif
 * on a port (a DPDK ethdev or vdev, or a TAP device vif<domid>.<devid>
 * plugged in by the vif's hotplug script) until SIGINT/SIGTERM. With
 * --frontend it also plays the toolstack for that vif: once the guest
 * domain exists it creates the device's two store dirs, and again for
 * the next guest that takes that domid. pvio net runs the same body,
 * netback_side_run(), in a forked child and gets the counters back over
 * a pipe (net_workload.h: NET_MSG_NSTATS).
 *
 * --port ring: the process creates a net_ring ethdev itself and drains
 * its tx rings (and, for the rx direction, feeds its rx rings), so the
 * counters show what the port really carried.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvio/domain.h>

#include "blk_workload.h"
#include "cli.h"
#include "domains.h"
#include "net_workload.h"

#define DEFAULT_RUN_DIR "/run/pvio"
#define POLL_MS 100

/* One line: to the toolstack over the status pipe, or on stderr. */
#define side_fail(o, ...) \
	dom_side_fail("netback", (o)->status_fd, NET_MSG_ERROR, __VA_ARGS__)

static uint32_t vif_devid(const struct netback_side_opts *o)
{
	return o->vif->devid_set ? o->vif->devid : 0;
}

/* Toolstack: the vif's two dirs, with the guest's MAC in the frontend's. */
static int vif_create(struct pvio_xs *ts, const struct pvio_netback_vif_spec *vif,
		      pvio_domid_t fe, uint32_t devid)
{
	char mac[18], handle[16];

	pvio_netback_mac_format(vif->mac, mac);
	snprintf(handle, sizeof(handle), "%u", devid);
	struct pvio_xenbus_kv fk[] = { { "mac", mac }, { "handle", handle } };
	struct pvio_xenbus_kv bk[] = { { "mac", mac }, { "handle", handle } };
	struct pvio_xenbus_device_keys keys = {
		.frontend = fk, .nr_frontend = 2, .backend = bk, .nr_backend = 2,
	};

	return pvio_xenbus_device_create(ts, "vif", 0, fe, devid, &keys);
}

/* Which frontend to serve (as pvio blkback's find_frontend). */
static int find_frontend(const struct netback_side_opts *o, struct pvio_xs *ts,
			 pvio_domid_t *fe, bool *created)
{
	uint32_t devid = vif_devid(o);
	char path[PVIO_XENBUS_PATH_MAX + 32], dir[PVIO_XENBUS_PATH_MAX];

	*created = false;
	for (;;) {
		if (o->frontend >= 0) {
			snprintf(path, sizeof(path), "/local/domain/%d/domid", o->frontend);
			if (dom_node_exists(ts, path)) {
				/* Our own dir, not the guest's backend key: a
				 * netback that died took its dir with it, and
				 * the guest waits for the vif to be offered
				 * again (netfront reconnects). */
				snprintf(path, sizeof(path),
					 "/local/domain/0/backend/vif/%d/%u/frontend",
					 o->frontend, devid);
				*fe = (pvio_domid_t)o->frontend;
				if (dom_node_exists(ts, path))
					return 0;
				if (o->no_create)
					goto next;
				int rc = vif_create(ts, o->vif, *fe, devid);
				if (rc)
					return rc;
				*created = true;
				return 0;
			}
		} else {
			char list[4096];
			unsigned nr = 0;
			int rc = pvio_xs_directory(ts, PVIO_XS_TX_NONE, "/local/domain/0/backend/vif",
						   list, sizeof(list), &nr);

			for (const char *p = list; rc == 0 && nr && *p; p += strlen(p) + 1) {
				uint64_t id;

				if (pvio_xs_parse_uint(p, 0x7fef, &id))
					continue;
				snprintf(path, sizeof(path),
					 "/local/domain/0/backend/vif/%u/%u/frontend", (unsigned)id,
					 devid);
				pvio_xenbus_frontend_path(dir, sizeof(dir), "vif", (pvio_domid_t)id,
							  devid);
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

static void stats_add(struct pvio_netback_stats *a, const struct pvio_netback_stats *b)
{
#define ADD(f) a->f += b->f
	ADD(tx_packets); ADD(tx_bytes); ADD(tx_zerocopy); ADD(tx_copied); ADD(tx_err_size);
	ADD(tx_err_offset); ADD(tx_err_slots); ADD(tx_err_extra); ADD(tx_err_gso);
	ADD(tx_err_grant); ADD(tx_err_csum); ADD(tx_drop_port); ADD(tx_drop_spoof);
	ADD(tx_mcast_ops); ADD(tx_fatal); ADD(rx_packets); ADD(rx_bytes); ADD(rx_copied);
	ADD(rx_flipped); ADD(rx_flip_zerocopy); ADD(rx_copy_fallback); ADD(rx_drop_full);
	ADD(rx_drop_stall);
	ADD(rx_drop_toobig); ADD(rx_drop_gso); ADD(rx_drop_mcast); ADD(rx_err_grant);
	ADD(rx_csum_sw); ADD(kicks); ADD(wakeups); ADD(events); ADD(err_protocol);
	ADD(connects);
#undef ADD
	a->broken |= b->broken;
	if (b->nr_queues)
		a->nr_queues = b->nr_queues;
	a->rx_flip |= b->rx_flip;
	a->split_evtchn |= b->split_evtchn;
	a->state = b->state;
}

static void print_stats(const struct netback_side_opts *o, const struct net_back_result *r)
{
	const struct pvio_netback_stats *s = &r->nb;
	uint64_t errs = s->tx_err_size + s->tx_err_offset + s->tx_err_slots + s->tx_err_extra +
			s->tx_err_gso + s->tx_err_grant + s->tx_err_csum + s->tx_fatal +
			s->rx_err_grant + s->err_protocol;
	uint64_t drops = s->tx_drop_port + s->tx_drop_spoof + s->rx_drop_full +
			 s->rx_drop_stall + s->rx_drop_toobig + s->rx_drop_gso + s->rx_drop_mcast;

	if (o->json) {
		printf("{\"command\": \"netback\", \"connects\": %u, \"tx_packets\": %" PRIu64
		       ", \"tx_bytes\": %" PRIu64 ", \"tx_zerocopy\": %" PRIu64
		       ", \"tx_copied\": %" PRIu64 ", \"rx_packets\": %" PRIu64
		       ", \"rx_bytes\": %" PRIu64 ", \"rx_copied\": %" PRIu64
		       ", \"rx_flipped\": %" PRIu64 ", \"kicks\": %" PRIu64 ", \"drops\": %" PRIu64
		       ", \"errors\": %" PRIu64 "}\n", s->connects, s->tx_packets, s->tx_bytes,
		       s->tx_zerocopy, s->tx_copied, s->rx_packets, s->rx_bytes, s->rx_copied,
		       s->rx_flipped, s->kicks, drops, errs);
	} else {
		printf("pvio netback: %u connection%s, tx %" PRIu64 " packets (%" PRIu64
		       " zero-copy, %" PRIu64 " copied), rx %" PRIu64 " packets (%" PRIu64
		       " copied, %" PRIu64 " flipped)\n", s->connects, s->connects == 1 ? "" : "s",
		       s->tx_packets, s->tx_zerocopy, s->tx_copied, s->rx_packets, s->rx_copied,
		       s->rx_flipped);
		printf("  drops %" PRIu64 ", errors %" PRIu64 ", kicks %" PRIu64 "\n", drops, errs,
		       s->kicks);
		if (r->port.ring)
			printf("  port: injected %" PRIu64 ", transmitted %" PRIu64 "\n",
			       r->port.injected, r->port.sunk);
	}
	fflush(stdout);
}

static int wait_init_wait(const struct pvio_netback *nb)
{
	for (int ms = 0; ms < 10000; ms += 10) {
		struct pvio_netback_stats st;

		pvio_netback_stats(nb, &st);
		if (st.state == PVIO_XENBUS_INIT_WAIT || st.state == PVIO_XENBUS_CONNECTED)
			return 0;
		if (st.state == PVIO_XENBUS_CLOSED || st.broken)
			return -ENODEV;
		poll(NULL, 0, 10);
	}
	return -ETIMEDOUT;
}

static const char *port_error(int rc)
{
	switch (rc) {
	case -ENODEV: return "no such device (a bad vdev, or the device is missing)";
	case -ENOENT: return "unknown port kind";
	case -EBUSY: return "the device is in use by another vif";
	case -ENOTSUP: return "pvio was built without DPDK";
	default: return strerror(-rc);
	}
}

int netback_side_run(const struct netback_side_opts *o)
{
	struct pvio_domain_config dc = { .name = "netback", .nr_pages = NETBACK_SIDE_PAGES,
					 .driver_domain = true };
	struct pvio_domain *d = NULL;
	struct pvio_xs_host ts_host = { .fd = -1 };
	struct pvio_xs ts;
	struct pvio_xs_event ts_ev[8];
	struct net_back_result total;
	struct net_port_gen *gen = NULL;
	char dev[256] = "";
	int status = PVIO_EXIT_FAIL, rc;

	memset(&total, 0, sizeof(total));
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
		side_fail(o, "cannot become the driver domain of hostd at %s: %s", o->run_dir,
			  strerror(-rc));
		return PVIO_EXIT_FAIL;
	}
	rc = pvio_xs_host_open(&ts_host, &ts, o->run_dir, ts_ev, 8, DOM_STORE_TIMEOUT_MS);
	if (rc) {
		side_fail(o, "cannot reach the store at %s/socket: %s", o->run_dir, strerror(-rc));
		goto out;
	}
	if (o->port.ring) {
		char eal[160];

		/* netback's own defaults, so that the ring exists before it. */
		snprintf(eal, sizeof(eal), "--no-huge --no-pci -m 256 --no-shconf "
			 "--file-prefix=pvio-nb-%d --no-telemetry --log-level=error",
			 (int)getpid());
		rc = pvio_netback_dpdk_init(eal);
		if (rc && rc != -EALREADY) {
			side_fail(o, "--port ring: DPDK did not initialise: %s", strerror(-rc));
			goto out;
		}
		rc = net_port_gen_create(o->queues ? o->queues : 1, dev, sizeof(dev), &gen);
		if (rc) {
			side_fail(o, "--port ring: cannot create a net_ring ethdev: %s",
				  port_error(rc));
			goto out;
		}
	} else if (!o->port.tap) {
		net_port_dev(&o->port, &o->wl, dev, sizeof(dev));
	}
	if (o->status_fd >= 0) {
		uint32_t id = d->domid;

		blk_msg_send(o->status_fd, NET_MSG_DOMID, &id, sizeof(id));
	}

	for (bool first = true;; first = false) {
		struct pvio_xs_host bx_host = { .fd = -1 };
		struct pvio_xs bx;
		struct pvio_xs_event bx_ev[16];
		struct pvio_netback_config cfg = { 0 };
		struct pvio_netback *nb = NULL;
		struct pvio_netback_stats st;
		char dir[PVIO_XENBUS_PATH_MAX], state[PVIO_XENBUS_PATH_MAX + 16];
		pvio_domid_t fe = 0;
		bool created = false, gone = false;
		uint32_t devid = vif_devid(o);

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
			side_fail(o, "creating or finding vif %u in the store: %s", devid,
				  strerror(-rc));
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
		pvio_netback_config_from_domain(&cfg, d);
		cfg.fe = fe;
		cfg.xs = &bx;
		cfg.vif = o->vif;
		cfg.port = o->port.tap ? "tap" : "dpdk";
		cfg.port_dev = o->port.tap ? NULL : dev;
		cfg.netns = o->netns;
		cfg.max_queues = o->queues;
		cfg.zerocopy_off = o->wl.tx_copy == NET_TX_COPY_ALWAYS;
		cfg.copy_threshold = o->wl.tx_copy;
		cfg.run_script = o->port.tap;
		rc = pvio_netback_create(&cfg, &nb);
		if (rc == 0)
			rc = pvio_netback_start(nb);
		if (rc) {
			side_fail(o, "cannot serve vif %u on %s port %s: %s", devid, cfg.port,
				  o->port.tap ? "vif" : dev, port_error(rc));
			pvio_netback_destroy(nb);
			pvio_xs_host_close(&bx_host);
			if (created)
				pvio_xenbus_device_destroy(&ts, "vif", 0, fe, devid);
			break;
		}
		rc = wait_init_wait(nb);
		if (rc) {
			side_fail(o, "vif %u did not reach InitWait: %s", devid, strerror(-rc));
			pvio_netback_destroy(nb);
			pvio_xs_host_close(&bx_host);
			break;
		}
		if (gen && first) {
			rc = net_port_gen_start(gen, &o->wl, o->wl.dir != NET_DIR_TX, o->vif->mac);
			if (rc) {
				side_fail(o, "--port ring: cannot start its generator: %s",
					  strerror(-rc));
				pvio_netback_destroy(nb);
				pvio_xs_host_close(&bx_host);
				break;
			}
		}
		if (o->status_fd >= 0) {
			blk_msg_send(o->status_fd, NET_MSG_READY, NULL, 0);
		} else if (first || created) {
			char mac[18];

			pvio_netback_mac_format(o->vif->mac, mac);
			printf("pvio netback: serving vif %u (%s, mac %s) of domain %u on %s%s%s\n",
			       devid, pvio_netback_ifname(nb), mac, (unsigned)fe,
			       o->port.tap ? "a TAP device" : "DPDK port ",
			       o->port.tap ? "" : dev, o->port.tap ? "" : "");
			fflush(stdout);
		}

		pvio_xenbus_frontend_path(dir, sizeof(dir), "vif", fe, devid);
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
		pvio_netback_stop(nb);
		pvio_netback_stats(nb, &st);
		stats_add(&total.nb, &st);
		pvio_netback_destroy(nb);
		pvio_xs_host_close(&bx_host);
		if (created && !gone)
			pvio_xenbus_device_destroy(&ts, "vif", 0, fe, devid);
		if (gone && pvio_domain_hostd_alive(d) && o->status_fd < 0 && !blk_stop_requested) {
			printf("pvio netback: domain %u left; waiting for the next guest\n",
			       (unsigned)fe);
			fflush(stdout);
			continue;
		}
		if (pvio_domain_hostd_alive(d))
			status = PVIO_EXIT_OK;
		break;
	}
	net_port_gen_stop(gen, &total.port);
	if (o->status_fd >= 0)
		blk_msg_send(o->status_fd, NET_MSG_NSTATS, &total, sizeof(total));
	else if (status == PVIO_EXIT_OK)
		print_stats(o, &total);
out:
	net_port_gen_destroy(gen);
	pvio_xs_host_close(&ts_host);
	pvio_domain_disconnect(d);
	return status;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pvio netback [--vif SPEC] [--port PORT] [--run-dir DIR]\n"
		"                    [--frontend DOMID] [--queues N] [--netns NS]\n"
		"                    [--tx-copy auto|always|never|BYTES] [--json]\n"
		"\n"
		"Become the driver domain (domid 0) of the hostd serving DIR and serve\n"
		"one vif (a guest's network device) on a port until SIGINT or SIGTERM,\n"
		"then print the backend's counters. The vif is the devid SPEC names of\n"
		"one guest: with --frontend DOMID, once that domain exists, netback\n"
		"creates the device in the store itself (the toolstack's step, with the\n"
		"SPEC's MAC) unless it is there, and again for the next domain DOMID\n"
		"when the guest leaves; without it, netback serves a device the\n"
		"toolstack created under /local/domain/0/backend/vif.\n"
		"\n"
		"  --vif SPEC        the vif in xl's syntax (xl-network-configuration(5)):\n"
		"                    'mac=00:16:3e:00:00:01,bridge=xenbr0,script=vif-bridge,\n"
		"                    ip=10.0.0.2'; default: a random Xen MAC, devid 0\n"
		"  --port PORT       null (DPDK net_null: swallows what the guest sends),\n"
		"                    ring (a net_ring ethdev this process drains),\n"
		"                    tap (the TAP device vif<domid>.<devid>, connected by\n"
		"                    the SPEC's script: vif-bridge (default), vif-route,\n"
		"                    vif-nat from scripts/vif), af_packet (DPDK on lo),\n"
		"                    or any DPDK vdev string ('net_tap0,iface=dtap0');\n"
		"                    default null\n"
		"  --run-dir DIR     the hostd to join (default " DEFAULT_RUN_DIR ")\n"
		"  --frontend DOMID  create the device for this guest (0..32751)\n"
		"  --queues N        queues offered, 1..8 (default 4)\n"
		"  --netns NS        tap: create the vif in this network namespace\n"
		"%s"
		"  --json            print the counters as one JSON object\n"
		"  --help            this text\n"
		"\n"
		"If netback dies (even kill -9), run the same command again: it offers\n"
		"the vif anew, and a guest running pvio netfront --reconnect SECS\n"
		"reconnects to it (packets in flight are lost).\n"
		"exit status: 0 served and stopped, 1 a failed run (no hostd, a missing\n"
		"DPDK device, a script that failed), 2 bad usage.\n", net_tx_copy_help);
}

int cmd_netback(int argc, char **argv)
{
	struct pvio_netback_vif_spec spec;
	struct netback_side_opts o = { .run_dir = DEFAULT_RUN_DIR, .frontend = -1,
				       .status_fd = -1, .ctl_fd = -1, .vif = &spec };
	const char *v, *vif = "";
	char err[256];

	net_workload_defaults(&o.wl);
	net_parse_port("netback", "null", &o.port);
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return PVIO_EXIT_OK;
		} else if ((v = cli_flag_value("netback", "--vif", argc, argv, &i))) {
			vif = v;
		} else if ((v = cli_flag_value("netback", "--port", argc, argv, &i))) {
			net_parse_port("netback", v, &o.port);
		} else if ((v = cli_flag_value("netback", "--run-dir", argc, argv, &i))) {
			if (!*v)
				cli_usage_error("netback", "--run-dir needs a directory");
			o.run_dir = v;
		} else if ((v = cli_flag_value("netback", "--frontend", argc, argv, &i))) {
			o.frontend = (int)cli_parse_u64("netback", "--frontend", v, 0, 0x7fef);
		} else if ((v = cli_flag_value("netback", "--queues", argc, argv, &i))) {
			o.queues = (uint32_t)cli_parse_u64("netback", "--queues", v, 1,
							   PVIO_NETFRONT_MAX_QUEUES);
		} else if ((v = cli_flag_value("netback", "--netns", argc, argv, &i))) {
			if (!*v)
				cli_usage_error("netback", "--netns needs a namespace name");
			o.netns = v;
		} else if (!strcmp(argv[i], "--json")) {
			o.json = true;
		} else if (net_tx_copy_flag("netback", &o.wl, argc, argv, &i)) {
			continue;
		} else {
			cli_usage_error("netback", "unknown flag '%s'", argv[i]);
		}
	}
	if (pvio_netback_vif_spec_parse(vif, &spec, err, sizeof(err)))
		cli_usage_error("netback", "--vif: %s", err);
	if (o.queues)
		o.wl.queues = o.queues;
	o.wl.dir = NET_DIR_TX; /* standalone: the port side only swallows */
	blk_install_stop_handlers();
	return netback_side_run(&o);
}
