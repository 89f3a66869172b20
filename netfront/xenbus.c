/* SPDX-License-Identifier: MIT */
/*
 * netfront's negotiation with its backend through the store, as Linux's
 * xen-netfront does it. Never touches ring slots (posting the first rx
 * buffers goes through rx.c). The keys are documented in
 * <pvio/netfront.h>.
 *
 *   Initialising --(backend InitWait)--> read mac and backend features;
 *   rings, grants, ports, rx buffers; write the keys (one transaction)
 *   --> Connected --(backend Connected)--> data path live
 *   ... Closing --(backend Closing/Closed)--> Closed
 */
#include "common.h"

#define BIT(s) PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_##s)
#define KEY_MAX (PVIO_XENBUS_PATH_MAX + 64)

/* ---- small parsers ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int nf_parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
		if (lo < 0)
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (i < 5 && *s++ != ':')
			return -EINVAL;
	}
	return *s == '\0' ? 0 : -EINVAL;
}

/* Digits at *p as a number <= max; advances *p. */
static int parse_num(const char **p, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -EINVAL;
	}
	*p = s;
	*out = v;
	return 0;
}

static int skip(const char **p, const char *lit)
{
	const char *s = *p;

	for (; *lit; lit++, s++)
		if (*s != *lit)
			return -EINVAL;
	*p = s;
	return 0;
}

/* "/local/domain/<fe>/device/vif/<devid>" */
static int parse_path(const char *path, pvio_domid_t *fe, uint32_t *devid)
{
	const char *p = path;
	uint64_t a, b;

	if (skip(&p, "/local/domain/") || parse_num(&p, 0x7fef, &a) ||
	    skip(&p, "/device/vif/") || parse_num(&p, UINT32_MAX, &b) || *p)
		return -EINVAL;
	*fe = (pvio_domid_t)a;
	*devid = (uint32_t)b;
	return 0;
}

/* ---- store helpers ---- */

static int read_be_uint(struct pvio_netfront *nf, const char *node, uint64_t max,
			uint64_t def, uint64_t *out)
{
	char path[KEY_MAX];
	int err = pvio_xs_join(path, sizeof(path), nf->xb.otherend, node);

	if (err)
		return err;
	err = pvio_xs_read_uint(nf->d->xs, PVIO_XS_TX_NONE, path, max, out);
	if (err == -ENOENT) {
		*out = def;
		return 0;
	}
	return err == -EINVAL || err == -ERANGE ? -EPROTO : err;
}

static bool be_feature(struct pvio_netfront *nf, const char *name, int *err)
{
	bool v = false;
	int e = pvio_xenbus_read_feature(nf->d->xs, PVIO_XS_TX_NONE, nf->xb.otherend,
					 name, false, &v);

	if (e && e != -EINVAL && !*err) /* garbage reads as "not offered" */
		*err = e;
	return v;
}

static int write_at(struct pvio_xs *xs, pvio_xs_tx_t t, const char *dir,
		    const char *node, uint64_t v)
{
	char path[KEY_MAX];
	int err = pvio_xs_join(path, sizeof(path), dir, node);

	return err ? err : pvio_xs_write_uint(xs, t, path, v);
}

/* mac: the toolstack writes it in the frontend dir (Linux reads it from
 * there) and usually in the backend dir too; take the first found. */
static int read_mac(struct pvio_netfront *nf)
{
	const char *dirs[2] = { nf->xb.nodename, nf->xb.otherend };
	char path[KEY_MAX], val[32];

	for (int i = 0; i < 2; i++) {
		int err = pvio_xs_join(path, sizeof(path), dirs[i], "mac");
		if (err)
			return err;
		err = pvio_xs_read(nf->d->xs, PVIO_XS_TX_NONE, path, val, sizeof(val), NULL);
		if (err == -ENOENT || err == -ERANGE)
			continue;
		if (err)
			return err;
		if (nf_parse_mac(val, nf->info.mac) == 0)
			return 0;
	}
	return -ENOENT;
}

static void read_mtu(struct pvio_netfront *nf)
{
	char path[KEY_MAX];
	uint64_t v;

	nf->info.mtu = 1500;
	if (pvio_xs_join(path, sizeof(path), nf->xb.nodename, "mtu") == 0 &&
	    pvio_xs_read_uint(nf->d->xs, PVIO_XS_TX_NONE, path, 65535, &v) == 0 &&
	    v >= 68)
		nf->info.mtu = (uint32_t)v;
}

/* ---- features ---- */

static int read_backend(struct pvio_netfront *nf, uint64_t *max_queues)
{
	const struct pvio_netfront_config *c = &nf->cfg;
	struct pvio_netfront_info *in = &nf->info;
	int err = 0;

	bool copy = be_feature(nf, "rx-copy", &err);
	bool flip = be_feature(nf, "rx-flip", &err);
	bool sg = be_feature(nf, "sg", &err);
	bool gso4 = be_feature(nf, "gso-tcpv4", &err);
	bool gso6 = be_feature(nf, "gso-tcpv6", &err);
	bool no_csum = be_feature(nf, "no-csum-offload", &err);
	bool csum6 = be_feature(nf, "ipv6-csum-offload", &err);
	bool split = be_feature(nf, "split-event-channels", &err);
	if (!err)
		err = read_be_uint(nf, "multi-queue-max-queues", UINT32_MAX, 1, max_queues);
	if (err)
		return err;
	if (!copy && !flip)
		return -EPROTO;
	in->rx_mode = (c->rx_mode == PVIO_NETFRONT_RX_FLIP && flip) || !copy ?
		      PVIO_NETFRONT_RX_FLIP : PVIO_NETFRONT_RX_COPY;
	in->split_evtchn = split && !c->no_split_evtchn;

	in->rx_sg = !c->no_sg;
	in->rx_gso_tcpv4 = in->rx_gso_tcpv6 = in->rx_sg && !c->no_gso;
	in->rx_csum_ipv4 = !c->no_csum_offload;
	in->rx_csum_ipv6 = c->ipv6_csum_offload;

	in->tx_sg = sg && !c->no_sg;
	in->tx_csum_ipv4 = !no_csum && !c->no_csum_offload;
	in->tx_csum_ipv6 = csum6 && c->ipv6_csum_offload;
	/* GSO packets are sent csum_blank and in several slots. */
	in->tx_gso_tcpv4 = gso4 && in->tx_sg && !c->no_gso && in->tx_csum_ipv4;
	in->tx_gso_tcpv6 = gso6 && in->tx_sg && !c->no_gso && in->tx_csum_ipv6;
	in->max_tx_slots = in->tx_sg ? PVIO_NETFRONT_MAX_SLOTS : 1;
	in->max_tx_frame = in->tx_sg ? PVIO_NETFRONT_MAX_FRAME : PVIO_PAGE_SIZE;
	return 0;
}

/* ---- ports ---- */

static int ports_alloc(struct nf_queue *q)
{
	struct pvio_netfront *nf = q->nf;
	struct pvio_evtchn *h = nf->d->evtchn;
	int err;

	err = pvio_evtchn_alloc_unbound(h, nf->info.backend_id, &q->port_tx);
	if (err)
		return err;
	q->port_tx_alloc = true;
	q->port_rx = q->port_tx;
	if (nf->info.split_evtchn) {
		err = pvio_evtchn_alloc_unbound(h, nf->info.backend_id, &q->port_rx);
		if (err)
			return err;
		q->port_rx_alloc = true;
	}
	if (nf->cfg.evtchn_waiter) {
		err = pvio_evtchn_bind_waiter(h, q->port_tx, nf->cfg.evtchn_waiter);
		if (!err && q->port_rx_alloc)
			err = pvio_evtchn_bind_waiter(h, q->port_rx, nf->cfg.evtchn_waiter);
	}
	return err;
}

/* ---- publishing (one transaction) ---- */

static int write_queue(struct pvio_netfront *nf, pvio_xs_tx_t t, const char *dir,
		       const struct nf_queue *q)
{
	struct pvio_xs *xs = nf->d->xs;
	int err = write_at(xs, t, dir, "tx-ring-ref", q->tx_ring_ref);

	if (!err)
		err = write_at(xs, t, dir, "rx-ring-ref", q->rx_ring_ref);
	if (err)
		return err;
	if (!nf->info.split_evtchn)
		return write_at(xs, t, dir, "event-channel", q->port_tx);
	err = write_at(xs, t, dir, "event-channel-tx", q->port_tx);
	return err ? err : write_at(xs, t, dir, "event-channel-rx", q->port_rx);
}

static int publish_body(struct pvio_xs *xs, pvio_xs_tx_t t, void *arg)
{
	struct pvio_netfront *nf = arg;
	const struct pvio_netfront_info *in = &nf->info;
	const char *dir = nf->xb.nodename;
	char qdir[KEY_MAX];
	int err = 0;

	if (nf->nr_queues == 1) {
		err = write_queue(nf, t, dir, &nf->q[0]);
	} else {
		err = write_at(xs, t, dir, "multi-queue-num-queues", nf->nr_queues);
		for (uint32_t n = 0; n < nf->nr_queues && !err; n++) {
			char name[16] = "queue-";
			int len = pvio_xs_format_uint(name + 6, sizeof(name) - 6, n);
			if (len < 0)
				return len;
			err = pvio_xs_join(qdir, sizeof(qdir), dir, name);
			if (!err)
				err = write_queue(nf, t, qdir, &nf->q[n]);
		}
	}
	if (!err)
		err = write_at(xs, t, dir, "request-rx-copy",
			       in->rx_mode == PVIO_NETFRONT_RX_COPY);
	if (!err)
		err = pvio_xenbus_write_feature(xs, t, dir, "rx-notify", true);
	if (!err)
		err = pvio_xenbus_write_feature(xs, t, dir, "sg", in->rx_sg);
	if (!err)
		err = pvio_xenbus_write_feature(xs, t, dir, "gso-tcpv4", in->rx_gso_tcpv4);
	if (!err)
		err = pvio_xenbus_write_feature(xs, t, dir, "gso-tcpv6", in->rx_gso_tcpv6);
	if (!err)
		err = pvio_xenbus_write_feature(xs, t, dir, "no-csum-offload",
						!in->rx_csum_ipv4);
	if (!err)
		err = pvio_xenbus_write_feature(xs, t, dir, "ipv6-csum-offload",
						in->rx_csum_ipv6);
	return err;
}

/* ---- the state machine ---- */

int nf_xenbus_attach(struct pvio_netfront *nf, const char *path)
{
	pvio_domid_t fe;
	uint32_t devid;
	int err = parse_path(path, &fe, &devid);

	if (err)
		return err;
	if (fe != nf->d->domid)
		return -EINVAL;
	err = pvio_xenbus_frontend_attach(&nf->xb, nf->d->xs, "vif", fe, devid);
	if (err)
		return err;
	nf->info.backend_id = nf->xb.otherend_id;
	nf->info.devid = devid;
	return 0;
}

static int fatal(struct pvio_netfront *nf, int err, const char *msg)
{
	return pvio_xenbus_dev_fatal(&nf->xb, err, msg);
}

/* Reconnect: the old ports go; the rings are renewed for the new
 * backend (rx buffers posted) and new ports allocated. */
static int queue_renew(struct nf_queue *q)
{
	struct pvio_evtchn *h = q->nf->d->evtchn;
	int err;

	if (q->port_tx_alloc)
		pvio_evtchn_close(h, q->port_tx);
	if (q->port_rx_alloc)
		pvio_evtchn_close(h, q->port_rx);
	q->port_tx_alloc = q->port_rx_alloc = false;
	err = nf_txq_renew(q);
	if (!err)
		err = nf_rxq_renew(q);
	return err ? err : ports_alloc(q);
}

/*
 * The handshake from Initialising to Connected. again: a reconnect; the
 * queues exist (their tx was cancelled and rx taken back by the caller):
 * their rings and ports are renewed instead of allocated, and the new
 * backend must allow the queue count negotiated first.
 */
static int handshake(struct pvio_netfront *nf, bool again)
{
	enum pvio_xenbus_state st;
	uint64_t max_queues;
	int to = nf->cfg.timeout_ms;
	int err;

	err = pvio_xenbus_switch_state(&nf->xb, PVIO_XENBUS_INITIALISING);
	if (err)
		return err;
	err = pvio_xenbus_wait_otherend(&nf->xb, BIT(INIT_WAIT) | BIT(CONNECTED), to, &st);
	if (err)
		return err;

	err = read_mac(nf);
	if (err)
		return fatal(nf, err, "parsing mac");
	read_mtu(nf);
	err = read_backend(nf, &max_queues);
	if (err == -EPROTO)
		return fatal(nf, err, "reading backend features");
	if (err)
		return err;
	uint32_t nq = nf->cfg.max_queues;
	if (nq > max_queues)
		nq = (uint32_t)max_queues;
	if (nq == 0)
		nq = 1;
	if (again && nq != nf->nr_queues)
		return fatal(nf, -EPROTO, "the new backend allows fewer queues");
	if (!again) {
		/* On a reconnect they hold nq already, and senders read
		 * them without a lock: no rewrite. */
		nf->nr_queues = nq;
		nf->info.nr_queues = nq;
	}

	for (uint32_t n = 0; n < nq; n++) {
		struct nf_queue *q = &nf->q[n];
		if (again) {
			err = queue_renew(q);
			if (err)
				return fatal(nf, err, "renewing queues");
			continue;
		}
		q->nf = nf;
		q->idx = n;
		err = nf_txq_alloc(q);
		if (!err)
			err = nf_rxq_alloc(q);
		if (!err)
			err = ports_alloc(q);
		if (err)
			return fatal(nf, err, "allocating queues");
		/* The first buffers, before the backend looks (Linux posts
		 * them in xennet_connect too); published, not kicked. */
		nf_lock(&q->rx_lock);
		nf_rx_post_locked(q, q->rx_target);
		pvio_ring_front_push(&q->rx);
		nf_unlock(&q->rx_lock);
	}
	nf->info.tx_ring_slots = nf->q[0].tx_nr;
	nf->info.rx_ring_slots = nf->q[0].rx_nr;
	nf->info.rx_buffers = nf->q[0].rx_target;

	err = pvio_xs_transact(nf->d->xs, publish_body, nf, 0);
	if (err)
		return fatal(nf, err, "writing ring keys");
	/* netfront has no Initialised step: straight to Connected. */
	err = pvio_xenbus_switch_state(&nf->xb, PVIO_XENBUS_CONNECTED);
	if (err)
		return err;
	err = pvio_xenbus_wait_otherend(&nf->xb, BIT(CONNECTED), to, &st);
	if (err)
		return err;
	if (again)
		atomic_fetch_add_explicit(&nf->epoch, 1, memory_order_acq_rel);
	atomic_store_explicit(&nf->state, NF_CONNECTED, memory_order_release);
	/* Tell the backend about the buffers (and wake its tx side). */
	for (uint32_t n = 0; n < nq; n++) {
		nf_kick(nf, nf->q[n].port_rx);
		if (nf->q[n].port_tx != nf->q[n].port_rx)
			nf_kick(nf, nf->q[n].port_tx);
	}
	if (again)
		nf_wake_waiters(nf); /* senders told -EAGAIN wait on it */
	return 0;
}

int nf_xenbus_connect(struct pvio_netfront *nf)
{
	return handshake(nf, false);
}

static int reattach(void *arg, const char *nodename)
{
	return nf_xenbus_attach(arg, nodename);
}

/* Linux's netfront_resume(): Closed, a backend in InitWait, then the
 * handshake again. NF_RECOVERING throughout. */
int nf_xenbus_reconnect(struct pvio_netfront *nf, int timeout_ms)
{
	int err = pvio_xenbus_switch_state(&nf->xb, PVIO_XENBUS_CLOSED);

	if (err && err != -ENOENT)
		return err;
	err = pvio_xenbus_frontend_wait_backend(&nf->xb, timeout_ms, reattach, NULL, nf);
	if (!err)
		err = handshake(nf, true);
	if (!err)
		atomic_fetch_add_explicit(&nf->reconnects, 1, memory_order_relaxed);
	return err;
}

/*
 * Linux's order: Closing, wait for the backend to answer Closing (or
 * Closed), then Closed and wait for it to reach Closed. A silent or dead
 * backend delays us at most the timeout per step.
 */
int nf_xenbus_disconnect(struct pvio_netfront *nf)
{
	enum pvio_xenbus_state st;
	int to = nf->cfg.timeout_ms;
	int err, ret = 0;

	err = pvio_xenbus_switch_state(&nf->xb, PVIO_XENBUS_CLOSING);
	if (err && err != -ENOENT)
		ret = err;
	if (!err)
		(void)pvio_xenbus_wait_otherend(&nf->xb, BIT(CLOSING) | BIT(CLOSED),
						to, &st);
	err = pvio_xenbus_switch_state(&nf->xb, PVIO_XENBUS_CLOSED);
	if (err && err != -ENOENT && !ret)
		ret = err;
	if (!err)
		(void)pvio_xenbus_wait_otherend(&nf->xb, BIT(CLOSED) | BIT(UNKNOWN),
						to, &st);
	return ret;
}

int nf_xenbus_check(struct pvio_netfront *nf, int timeout_ms)
{
	enum pvio_xenbus_state st;
	int err;

	if (timeout_ms != 0) {
		err = pvio_xs_wait_token(nf->d->xs, nf->xb.token, timeout_ms);
		if (err < 0)
			return err;
	}
	err = pvio_xenbus_read_otherend_state(&nf->xb, &st);
	if (err == -ENOENT || (err == 0 && st != PVIO_XENBUS_CONNECTED))
		return -ENOTCONN;
	return err;
}
