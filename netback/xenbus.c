/* SPDX-License-Identifier: MIT */
/*
 * netback's negotiation: the store keys and the xenbus state machine, as
 * Linux's xen-netback/xenbus.c follows them. Runs in the vif's control
 * thread; never touches ring slots (STYLE practice 11).
 *
 * Backend state machine (own "state"), driven by the shared helper in
 * xenbus/backend.c (pvio/xenbus_backend.h) through nb_xenbus_ops:
 *
 *   Initialising --(features written)--> InitWait
 *   InitWait --(frontend Connected: rings mapped, event channels bound,
 *              queue threads started)--> Connected
 *   any --(frontend Closing)--> Closing
 *   any --(frontend Closed: queues torn down)--> Closed
 *   Closed --(frontend Initialising again)--> InitWait      (reconnect)
 *   any --(ring protocol violation, tx packet past the fatal slot limit,
 *          bad frontend keys)--> Closed + error node (pvio_xenbus_dev_fatal)
 *   any --(pvio_netback_stop, or online=0 with frontend Closed)--> Closed
 *
 * netfront goes straight from Initialising to Connected (it never writes
 * Initialised); both are accepted.
 *
 * Keys in the backend dir (/local/domain/<be>/backend/vif/<fe>/<devid>),
 * written by the backend, read by the frontend unless noted; values as
 * xen/io/netif.h defines them ("0"/"1" booleans, decimal numbers):
 *   handle                 uint32: the devid (normally the toolstack's)
 *   mac                    "xx:xx:xx:xx:xx:xx": the guest's MAC (toolstack)
 *   bridge, script, ip     strings from the vif spec, when set (toolstack;
 *                          read by the hotplug script)
 *   feature-sg             1: tx packets may span slots (more_data)
 *   feature-gso-tcpv4      1 unless no_gso: tx GSO extra of TCPv4 taken
 *   feature-gso-tcpv6      as above for TCPv6
 *   feature-ipv6-csum-offload 1: tx csum_blank on IPv6 taken
 *   feature-rx-copy        1: rx by grant copy
 *   feature-rx-flip        1 unless no_rx_flip: rx by page transfer
 *   feature-multicast-control 1 unless no_multicast: MCAST_ADD/DEL extras
 *                          kept; filter applied when requested
 *   feature-split-event-channels 1 unless no_split_evtchn
 *   multi-queue-max-queues uint32: the most queues a frontend may ask for
 *   (feature-ctrl-ring, feature-dynamic-multicast-control: not offered)
 *
 * Keys read from the frontend dir (/local/domain/<fe>/device/vif/<devid>):
 *   multi-queue-num-queues uint32, default 1; 1..multi-queue-max-queues.
 *                          With more than 1, each queue's keys are in
 *                          queue-<n>/ and none at the top level.
 *   tx-ring-ref, rx-ring-ref  uint32 grant refs (per queue), one page each
 *   event-channel          uint32: the frontend's unbound port (per queue)
 *   event-channel-tx/-rx   instead of event-channel, when split offered
 *   request-rx-copy        0/1, default 0: 1 copy, 0 flip (refused with a
 *                          fatal error if rx-flip is not offered)
 *   feature-rx-notify      0/1, default 0: the frontend kicks after posting
 *                          rx buffers (without it netback polls the ring)
 *   feature-sg             0/1, default 0: rx packets may span slots;
 *                          without it no GSO either
 *   feature-gso-tcpv4, feature-gso-tcpv6   0/1, default 0: rx GSO with an
 *                          extra-info slot
 *   feature-gso-tcpv4-prefix, -tcpv6-prefix 0/1, default 0: rx GSO with a
 *                          gso_prefix slot before the packet
 *   feature-no-csum-offload 0/1, default 0: 1 = rx IPv4 packets must carry
 *                          complete checksums (netback computes them)
 *   feature-ipv6-csum-offload 0/1, default 0: 1 = rx IPv6 csum_blank taken
 *   request-multicast-control 0/1, default 0: sampled at connect; 1 = rx
 *                          multicast dropped unless in the guest's filter
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvio/xenbus_backend.h>

#include "common.h"

#define POLL_MS 50

static int write_key(struct pvio_xs *xs, pvio_xs_tx_t t, const char *dir,
		     const char *key, const char *value)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];
	int rc = pvio_xs_join(path, sizeof(path), dir, key);

	return rc ? rc : pvio_xs_write(xs, t, path, value);
}

static int write_u64(struct pvio_xs *xs, pvio_xs_tx_t t, const char *dir,
		     const char *key, uint64_t v)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];
	int rc = pvio_xs_join(path, sizeof(path), dir, key);

	return rc ? rc : pvio_xs_write_uint(xs, t, path, v);
}

/* What the backend offers: written before InitWait (Linux: netback_probe). */
static int write_features(struct pvio_xs *xs, pvio_xs_tx_t t, void *arg)
{
	struct pvio_netback *nb = arg;
	const char *dir = nb->xdev.nodename;
	char mac[18];
	int rc = 0;

	pvio_netback_mac_format(nb->vif.mac, mac);
	if (nb->port->tx_caps && !(nb->port->tx_caps(nb->port_ctx) & NETBACK_TXCAP_GSO))
		nb->offer_gso = false; /* the port could not send them */
	nb->lim.gso_tcpv4 = nb->lim.gso_tcpv6 = nb->offer_gso;
	rc = rc ? rc : write_u64(xs, t, dir, "handle", nb->devid);
	rc = rc ? rc : write_key(xs, t, dir, "mac", mac);
	if (nb->vif.bridge[0])
		rc = rc ? rc : write_key(xs, t, dir, "bridge", nb->vif.bridge);
	if (nb->vif.script[0])
		rc = rc ? rc : write_key(xs, t, dir, "script", nb->vif.script);
	if (nb->vif.ip[0])
		rc = rc ? rc : write_key(xs, t, dir, "ip", nb->vif.ip);
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "sg", true);
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "gso-tcpv4", nb->offer_gso);
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "gso-tcpv6", nb->offer_gso);
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "ipv6-csum-offload", true);
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "rx-copy", true);
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "rx-flip", nb->offer_flip);
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "multicast-control",
						 nb->offer_mcast);
	rc = rc ? rc : pvio_xenbus_write_feature(xs, t, dir, "split-event-channels",
						 nb->offer_split);
	rc = rc ? rc : write_u64(xs, t, dir, "multi-queue-max-queues", nb->max_queues);
	return rc;
}

static int fatal(struct pvio_netback *nb, int err, const char *msg)
{
	nb_log(nb, "netback %u/%u: %s (%d)", nb->cfg.fe, nb->devid, msg, err);
	pvio_xenbus_dev_fatal(&nb->xdev, err, msg);
	atomic_store(&nb->state, (uint32_t)nb->xdev.state);
	return err;
}

/* Read an optional unsigned key of the frontend; absent gives def. */
static int read_opt(struct pvio_netback *nb, const char *node, uint64_t max,
		    uint64_t def, uint64_t *out)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];
	int rc = pvio_xs_join(path, sizeof(path), nb->xdev.otherend, node);

	if (rc)
		return rc;
	rc = pvio_xs_read_uint(nb->cfg.xs, PVIO_XS_TX_NONE, path, max, out);
	if (rc == -ENOENT) {
		*out = def;
		return 0;
	}
	return rc;
}

static bool fe_feature(struct pvio_netback *nb, const char *name)
{
	bool v = false;

	if (pvio_xenbus_read_feature(nb->cfg.xs, PVIO_XS_TX_NONE, nb->xdev.otherend,
				     name, false, &v) != 0)
		return false; /* garbage reads as not offered */
	return v;
}

/* One queue's rings and channels (Linux: connect_data_rings). */
static int read_queue_keys(struct pvio_netback *nb, struct nb_queue *q, const char *sub)
{
	char node[96];
	uint64_t v;
	int rc;

	snprintf(node, sizeof(node), "%stx-ring-ref", sub);
	rc = pvio_xenbus_otherend_read_uint(&nb->xdev, node, UINT32_MAX, &v);
	if (rc)
		return rc; /* fatal already */
	q->tx_ref = (pvio_grant_ref_t)v;
	snprintf(node, sizeof(node), "%srx-ring-ref", sub);
	rc = pvio_xenbus_otherend_read_uint(&nb->xdev, node, UINT32_MAX, &v);
	if (rc)
		return rc;
	q->rx_ref = (pvio_grant_ref_t)v;
	if (nb->split) {
		snprintf(node, sizeof(node), "%sevent-channel-tx", sub);
		rc = pvio_xenbus_otherend_read_uint(&nb->xdev, node, PVIO_EVTCHN_NR_PORTS - 1, &v);
		if (rc)
			return rc;
		q->remote_tx_port = (uint32_t)v;
		snprintf(node, sizeof(node), "%sevent-channel-rx", sub);
		rc = pvio_xenbus_otherend_read_uint(&nb->xdev, node, PVIO_EVTCHN_NR_PORTS - 1, &v);
		if (rc)
			return rc;
		q->remote_rx_port = (uint32_t)v;
	} else {
		snprintf(node, sizeof(node), "%sevent-channel", sub);
		rc = pvio_xenbus_otherend_read_uint(&nb->xdev, node, PVIO_EVTCHN_NR_PORTS - 1, &v);
		if (rc)
			return rc;
		q->remote_tx_port = q->remote_rx_port = (uint32_t)v;
	}
	return 0;
}

/* Does the frontend use split channels? (Linux: event-channel-tx present.) */
static bool wants_split(struct pvio_netback *nb, uint32_t nq)
{
	char path[PVIO_XENBUS_PATH_MAX + 64], buf[16];

	if (!nb->offer_split)
		return false;
	if (pvio_xs_join(path, sizeof(path), nb->xdev.otherend,
			 nq > 1 ? "queue-0/event-channel-tx" : "event-channel-tx"))
		return false;
	return pvio_xs_read(nb->cfg.xs, PVIO_XS_TX_NONE, path, buf, sizeof(buf), NULL) == 0;
}

/* Map the frontend's rings and start serving (Linux: connect()). */
static int connect(struct pvio_netback *nb)
{
	uint64_t nq, rx_copy;
	uint32_t offl = 0;
	struct nb_queue *q;
	int rc;

	rc = read_opt(nb, "multi-queue-num-queues", UINT32_MAX, 1, &nq);
	if (rc || nq == 0 || nq > nb->max_queues)
		return fatal(nb, rc ? rc : -EINVAL,
			     "multi-queue-num-queues is 0, above multi-queue-max-queues, or garbage");
	rc = read_opt(nb, "request-rx-copy", 1, 0, &rx_copy);
	if (rc)
		return fatal(nb, rc, "reading request-rx-copy");
	if (!rx_copy && !nb->offer_flip)
		return fatal(nb, -EOPNOTSUPP,
			     "request-rx-copy is 0 (page flipping) but feature-rx-flip is not offered");
	bool rx_flip = !rx_copy, mcast_ctrl = false, split;

	nb->fe_rx_notify = fe_feature(nb, "rx-notify");
	nb->fe_sg = fe_feature(nb, "sg");
	nb->fe_gso4 = nb->fe_sg && fe_feature(nb, "gso-tcpv4");
	nb->fe_gso6 = nb->fe_sg && fe_feature(nb, "gso-tcpv6");
	nb->fe_gso4_prefix = nb->fe_sg && !nb->fe_gso4 && fe_feature(nb, "gso-tcpv4-prefix");
	nb->fe_gso6_prefix = nb->fe_sg && !nb->fe_gso6 && fe_feature(nb, "gso-tcpv6-prefix");
	nb->fe_csum4 = !fe_feature(nb, "no-csum-offload");
	nb->fe_csum6 = fe_feature(nb, "ipv6-csum-offload");
	{
		char path[PVIO_XENBUS_PATH_MAX + 64];
		uint64_t v = 0;

		if (nb->offer_mcast &&
		    pvio_xs_join(path, sizeof(path), nb->xdev.otherend,
				 "request-multicast-control") == 0 &&
		    pvio_xs_read_uint(nb->cfg.xs, PVIO_XS_TX_NONE, path, UINT64_MAX, &v) == 0)
			mcast_ctrl = v != 0;
	}
	pthread_mutex_lock(&nb->mcast_lock);
	nb->nr_mcast = 0;
	pthread_mutex_unlock(&nb->mcast_lock);
	split = wants_split(nb, (uint32_t)nq);
	/* pvio_netback_stats() reads these under the lock, any time. */
	pthread_mutex_lock(&nb->lock);
	nb->rx_flip = rx_flip;
	nb->mcast_ctrl = mcast_ctrl;
	nb->split = split;
	pthread_mutex_unlock(&nb->lock);

	q = calloc(nq, sizeof(*q));
	if (!q)
		return fatal(nb, -ENOMEM, "allocating queues");
	for (uint32_t i = 0; i < nq; i++) {
		char sub[32] = "";

		if (nq > 1)
			snprintf(sub, sizeof(sub), "queue-%u/", i);
		q[i].idx = i;
		rc = read_queue_keys(nb, &q[i], sub);
		if (rc) {
			free(q);
			/* The read was fatal already (xenbus): mirror the
			 * state it left and log, as fatal() does. */
			atomic_store(&nb->state, (uint32_t)nb->xdev.state);
			nb_log(nb, "netback %u/%u: ring refs or event channels missing or "
			       "garbage (%d)", nb->cfg.fe, nb->devid, rc);
			return rc;
		}
	}
	if (nb->fe_csum4)
		offl |= NETBACK_RXOFF_CSUM4;
	if (nb->fe_csum6)
		offl |= NETBACK_RXOFF_CSUM6;
	if ((nb->fe_gso4 || nb->fe_gso4_prefix) && nb->fe_csum4 && !nb->rx_flip)
		offl |= NETBACK_RXOFF_TSO4;
	if ((nb->fe_gso6 || nb->fe_gso6_prefix) && nb->fe_csum6 && !nb->rx_flip)
		offl |= NETBACK_RXOFF_TSO6;
	rc = nb->port->start(nb->port_ctx, (uint32_t)nq, offl);
	if (rc) {
		free(q);
		return fatal(nb, rc, "starting the port");
	}
	atomic_store(&nb->broken, false);
	atomic_store(&nb->fatal_done, false);
	nb->fatal_msg[0] = 0;
	for (uint32_t i = 0; i < nq; i++) {
		rc = nb_queue_connect(nb, &q[i]);
		if (rc) {
			char msg[80];

			for (uint32_t k = 0; k < i; k++)
				nb_queue_disconnect(&q[k]);
			nb->port->stop(nb->port_ctx);
			free(q);
			snprintf(msg, sizeof(msg),
				 "mapping rings or binding event channels of queue %u", i);
			return fatal(nb, rc, msg);
		}
	}
	pthread_mutex_lock(&nb->lock);
	nb->q = q;
	nb->nr_q = (uint32_t)nq;
	pthread_mutex_unlock(&nb->lock);
	for (uint32_t i = 0; i < nq; i++) {
		rc = nb_queue_start(&q[i]);
		if (rc) {
			nb_queues_destroy(nb);
			return fatal(nb, rc, "starting queue threads");
		}
	}
	/* The helper publishes Connected after this returns. */
	atomic_fetch_add(&nb->connects, 1);
	return 0;
}

static int nb_connect(void *arg)
{
	return connect(arg);
}

static void nb_disconnect(void *arg)
{
	nb_queues_destroy(arg);
}

/* Between looks at the frontend: the vif's own events. */
static bool nb_poll(void *arg)
{
	struct pvio_netback *nb = arg;

	if (atomic_load(&nb->broken) && !atomic_load(&nb->fatal_done)) {
		/* A queue disabled the vif (Linux: xenvif_fatal_tx_err /
		 * carrier off): tear down, error node, Closed. */
		char msg[200];

		atomic_store(&nb->fatal_done, true);
		nb_queues_destroy(nb);
		snprintf(msg, sizeof(msg), "%s", nb->fatal_msg);
		fatal(nb, -EPROTO, msg);
	}
	return !pvio_host_thread_stopping(&nb->ctl);
}

static void nb_state_changed(void *arg, enum pvio_xenbus_state s)
{
	struct pvio_netback *nb = arg;

	atomic_store(&nb->state, (uint32_t)s);
}

static const struct pvio_xenbus_backend_ops nb_xenbus_ops = {
	.features = write_features,
	.connect = nb_connect,
	.disconnect = nb_disconnect,
	.poll = nb_poll,
	.state_changed = nb_state_changed,
};

void *nb_xenbus_main(void *arg)
{
	struct pvio_netback *nb = arg;
	struct pvio_xenbus_backend run = {
		.dev = &nb->xdev, .ops = &nb_xenbus_ops, .ctx = nb, .poll_ms = POLL_MS,
	};
	int rc;

	rc = pvio_xenbus_backend_attach(&nb->xdev, nb->cfg.xs, "vif", nb->cfg.be, nb->cfg.fe, nb->devid);
	if (rc) {
		nb_log(nb, "netback %u/%u: backend dir not usable (%d)", nb->cfg.fe, nb->devid, rc);
		atomic_store(&nb->state, PVIO_XENBUS_CLOSED);
		return NULL;
	}
	atomic_store(&nb->state, (uint32_t)nb->xdev.state);
	rc = pvio_xenbus_backend_run(&run);
	if (rc && run.failure)
		nb_log(nb, "netback %u/%u: %s (%d)", nb->cfg.fe, nb->devid, run.failure, rc);
	(void)pvio_xenbus_detach(&nb->xdev);
	return NULL;
}
