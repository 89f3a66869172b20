/* SPDX-License-Identifier: MIT */
/*
 * blkfront's negotiation with its backend through the store: the state
 * machine and every key, as Linux's xen-blkfront does it. Never touches
 * ring slots. The keys are documented in <pvio/blkfront.h>.
 *
 *   Initialising --(backend InitWait)--> rings, grants, ports, keys
 *   --> Initialised --(backend Connected)--> geometry, features
 *   --> Connected ... Closing --(backend Closing/Closed)--> Closed
 */
#include "common.h"

#define BIT(s) PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_##s)

static int wait_ms(const struct pvio_blkfront *bf)
{
	return bf->cfg.timeout_ms;
}

static int join(struct pvio_blkfront *bf, char *buf, size_t size,
		const char *dir, const char *node)
{
	(void)bf;
	return pvio_xs_join(buf, size, dir, node);
}

/* An optional uint key of the backend: missing gives def. Garbage is the
 * backend misbehaving: -EPROTO. */
static int read_opt_uint(struct pvio_blkfront *bf, const char *node, uint64_t max,
			 uint64_t def, uint64_t *out)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];
	int err = join(bf, path, sizeof(path), bf->xb.otherend, node);

	if (err)
		return err;
	err = pvio_xs_read_uint(bf->d->xs, PVIO_XS_TX_NONE, path, max, out);
	if (err == -ENOENT) {
		*out = def;
		return 0;
	}
	if (err == -EINVAL || err == -ERANGE)
		return -EPROTO;
	return err;
}

static int read_feature(struct pvio_blkfront *bf, const char *name, bool *out)
{
	int err = pvio_xenbus_read_feature(bf->d->xs, PVIO_XS_TX_NONE,
					   bf->xb.otherend, name, false, out);
	return err == -EINVAL ? 0 : err; /* garbage reads as "not offered" */
}

static uint32_t log2_floor(uint32_t v)
{
	uint32_t r = 0;

	while (v > 1) {
		v >>= 1;
		r++;
	}
	return r;
}

/* ---- publishing the rings (one transaction) ---- */

struct publish_arg {
	struct pvio_blkfront *bf;
	uint32_t order;
	bool write_order;
};

static int write_uint_at(struct pvio_xs *xs, pvio_xs_tx_t t, const char *dir,
			 const char *node, uint64_t v)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];
	int err = pvio_xs_join(path, sizeof(path), dir, node);

	return err ? err : pvio_xs_write_uint(xs, t, path, v);
}

static int write_queue_keys(struct pvio_blkfront *bf, pvio_xs_tx_t t,
			    const char *dir, const struct bf_queue *q,
			    uint32_t nr_pages)
{
	struct pvio_xs *xs = bf->d->xs;
	char node[16] = "ring-ref";
	int err;

	if (nr_pages == 1) {
		err = write_uint_at(xs, t, dir, "ring-ref", q->ring_ref[0]);
	} else {
		err = 0;
		for (uint32_t i = 0; i < nr_pages && !err; i++) {
			/* "ring-ref<i>", i < 16 */
			node[8] = i < 10 ? (char)('0' + i) : '1';
			node[9] = i < 10 ? '\0' : (char)('0' + i - 10);
			node[10] = '\0';
			err = write_uint_at(xs, t, dir, node, q->ring_ref[i]);
		}
	}
	if (!err)
		err = write_uint_at(xs, t, dir, "event-channel", q->port);
	return err;
}

static int publish_body(struct pvio_xs *xs, pvio_xs_tx_t t, void *argp)
{
	struct publish_arg *a = argp;
	struct pvio_blkfront *bf = a->bf;
	const char *dir = bf->xb.nodename;
	char path[PVIO_XENBUS_PATH_MAX + 64];
	uint32_t nr_pages = 1u << a->order;
	int err = 0;

	if (a->write_order)
		err = write_uint_at(xs, t, dir, "ring-page-order", a->order);
	if (!err && bf->nr_queues == 1) {
		err = write_queue_keys(bf, t, dir, &bf->q[0], nr_pages);
	} else if (!err) {
		err = write_uint_at(xs, t, dir, "multi-queue-num-queues", bf->nr_queues);
		for (uint32_t n = 0; n < bf->nr_queues && !err; n++) {
			char qname[16] = "queue-";
			int len = pvio_xs_format_uint(qname + 6, sizeof(qname) - 6, n);
			if (len < 0)
				return len;
			err = pvio_xs_join(path, sizeof(path), dir, qname);
			if (!err)
				err = write_queue_keys(bf, t, path, &bf->q[n], nr_pages);
		}
	}
	if (!err) {
		err = pvio_xs_join(path, sizeof(path), dir, "protocol");
		if (!err)
			err = pvio_xs_write(xs, t, path, "x86_64-abi");
	}
	if (!err)
		err = pvio_xenbus_write_feature(xs, t, dir, "persistent",
						!bf->cfg.no_persistent);
	return err;
}

/* ---- geometry and features at Connected ---- */

static int read_connected(struct pvio_blkfront *bf)
{
	struct pvio_blkfront_info *in = &bf->info;
	uint64_t sectors, info, ss, pss, gran, align, ind;
	bool flush = false, barrier = false, discard = false, secure = false,
	     persistent = false;
	char mode[8];
	int err;

	/* Required: fatal for the device when missing or malformed. */
	err = pvio_xenbus_otherend_read_uint(&bf->xb, "sectors", UINT64_MAX, &sectors);
	if (err)
		return err == -ENOENT || err == -EINVAL || err == -ERANGE ? -EPROTO : err;
	err = pvio_xenbus_otherend_read_uint(&bf->xb, "sector-size", UINT32_MAX, &ss);
	if (err)
		return err == -ENOENT || err == -EINVAL || err == -ERANGE ? -EPROTO : err;
	if (ss < BF_SECTOR || ss > PVIO_PAGE_SIZE || (ss & (ss - 1))) {
		pvio_xenbus_dev_fatal(&bf->xb, -EPROTO, "bad sector-size");
		return -EPROTO;
	}
	err = read_opt_uint(bf, "info", UINT32_MAX, 0, &info);
	if (!err)
		err = read_opt_uint(bf, "physical-sector-size", UINT32_MAX, ss, &pss);
	if (!err)
		err = read_feature(bf, "flush-cache", &flush);
	if (!err)
		err = read_feature(bf, "barrier", &barrier);
	if (!err)
		err = read_feature(bf, "discard", &discard);
	if (!err)
		err = read_feature(bf, "persistent", &persistent);
	if (!err)
		err = read_opt_uint(bf, "feature-max-indirect-segments", UINT32_MAX, 0, &ind);
	if (err) {
		if (err == -EPROTO)
			pvio_xenbus_dev_fatal(&bf->xb, -EPROTO, "reading backend features");
		return err;
	}
	gran = align = 0;
	if (discard) {
		err = read_opt_uint(bf, "discard-granularity", UINT32_MAX, 0, &gran);
		if (!err)
			err = read_opt_uint(bf, "discard-alignment", UINT32_MAX, 0, &align);
		if (!err) {
			uint64_t s = 0;
			err = read_opt_uint(bf, "discard-secure", 1, 0, &s);
			secure = s != 0;
		}
		if (err) {
			discard = false; /* garbage discard keys: no discard */
			err = 0;
		}
	}
	char path[PVIO_XENBUS_PATH_MAX + 16];
	bool ro_mode = false;
	if (join(bf, path, sizeof(path), bf->xb.otherend, "mode") == 0 &&
	    pvio_xs_read(bf->d->xs, PVIO_XS_TX_NONE, path, mode, sizeof(mode), NULL) == 0)
		ro_mode = mode[0] == 'r';

	in->sectors = sectors;
	in->sector_size = (uint32_t)ss;
	in->physical_sector_size = pss >= ss ? (uint32_t)pss : (uint32_t)ss;
	in->vdisk_info = (uint32_t)info;
	in->readonly = ro_mode || (info & PVIO_BLKFRONT_VDISK_READONLY);
	in->flush = flush || barrier;
	in->flush_is_barrier = !flush && barrier;
	in->discard = discard;
	in->secure_discard = discard && secure;
	in->discard_granularity = discard ? (gran ? (uint32_t)gran : in->physical_sector_size) : 0;
	in->discard_alignment = discard ? (uint32_t)align : 0;
	bf->persistent = persistent && !bf->cfg.no_persistent;
	in->persistent = bf->persistent;

	uint64_t want = bf->cfg.max_indirect_segments;
	if (ind > want)
		ind = want;
	if (bf->cfg.no_indirect || ind <= PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST)
		ind = 0;
	bf->indirect = ind != 0;
	in->max_indirect_segments = (uint32_t)ind;
	bf->max_segs = ind ? (uint32_t)ind : PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST;
	bf->max_ind_pages = ind ? bf_indirect_pages((uint32_t)ind) : 0;
	in->max_segments = bf->max_segs;
	atomic_store(&bf->flush_ok, in->flush);
	atomic_store(&bf->discard_ok, in->discard);
	return 0;
}

/* Parse "/local/domain/<fe>/device/<type>/<devid>". */
static int parse_path(const char *path, pvio_domid_t *fe, char *type,
		      size_t type_size, uint32_t *devid)
{
	static const char pre[] = "/local/domain/";
	const char *p = path;
	uint64_t v = 0;
	size_t i;

	for (i = 0; pre[i]; i++)
		if (p[i] != pre[i])
			return -EINVAL;
	p += i;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (v = 0; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > 0x7fef)
			return -EINVAL;
	}
	*fe = (pvio_domid_t)v;
	static const char dev[] = "/device/";
	for (i = 0; dev[i]; i++)
		if (p[i] != dev[i])
			return -EINVAL;
	p += i;
	for (i = 0; *p && *p != '/'; p++, i++) {
		if (i + 1 >= type_size)
			return -EINVAL;
		type[i] = *p;
	}
	type[i] = '\0';
	if (i == 0 || *p != '/')
		return -EINVAL;
	p++;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (v = 0; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	*devid = (uint32_t)v;
	return 0;
}

int bf_xenbus_attach(struct pvio_blkfront *bf, const char *path)
{
	char type[32];
	pvio_domid_t fe;
	uint32_t devid;
	int err = parse_path(path, &fe, type, sizeof(type), &devid);

	if (err)
		return err;
	if (fe != bf->d->domid)
		return -EINVAL;
	err = pvio_xenbus_frontend_attach(&bf->xb, bf->d->xs, type, fe, devid);
	if (err)
		return err;
	bf->info.backend_id = bf->xb.otherend_id;
	bf->info.devid = devid;
	return 0;
}

/*
 * The handshake from Initialising to Connected. again: a reconnect, the
 * device already has its shadow and pool: the new backend must offer the
 * ring size and queue count negotiated first (the shadow is sized for
 * them), the queues' rings are renewed (bf_recover_rings) instead of
 * allocated, and the device goes CONNECTED through bf_recover_resume().
 */
static int handshake(struct pvio_blkfront *bf, bool again)
{
	enum pvio_xenbus_state st;
	uint64_t max_order, max_queues;
	int err;

	/* Initialising: the toolstack wrote it; make sure (reconnect). */
	err = pvio_xenbus_switch_state(&bf->xb, PVIO_XENBUS_INITIALISING);
	if (err)
		return err;
	err = pvio_xenbus_wait_otherend(&bf->xb, BIT(INIT_WAIT) | BIT(CONNECTED),
					wait_ms(bf), &st);
	if (err)
		return err;

	err = read_opt_uint(bf, "max-ring-page-order", 64, 0, &max_order);
	if (!err)
		err = read_opt_uint(bf, "multi-queue-max-queues", UINT32_MAX, 1, &max_queues);
	if (err) {
		if (err == -EPROTO)
			pvio_xenbus_dev_fatal(&bf->xb, -EPROTO, "reading backend limits");
		return err;
	}
	if (max_order > PVIO_RING_MAX_PAGE_ORDER)
		max_order = PVIO_RING_MAX_PAGE_ORDER;
	uint32_t order = log2_floor(bf->cfg.max_ring_pages);
	if (order > max_order)
		order = (uint32_t)max_order;
	uint32_t nq = bf->cfg.max_queues;
	if (nq > max_queues)
		nq = (uint32_t)max_queues;
	if (nq == 0)
		nq = 1;
	if (again) {
		if (nq != bf->nr_queues || (1u << order) != bf->info.ring_pages)
			return pvio_xenbus_dev_fatal(&bf->xb, -EPROTO,
				"the new backend offers fewer queues or ring pages");
		int taken = bf_recover_rings(bf);
		if (taken < 0)
			return pvio_xenbus_dev_fatal(&bf->xb, taken, "renewing rings");
	} else {
		bf->nr_queues = nq;
		bf->info.nr_queues = nq;
		bf->info.ring_pages = 1u << order;
		for (uint32_t n = 0; n < nq; n++) {
			struct bf_queue *q = &bf->q[n];
			q->bf = bf;
			q->idx = n;
			err = bf_queue_ring_alloc(q, 1u << order);
			if (err)
				return pvio_xenbus_dev_fatal(&bf->xb, err, "allocating rings");
		}
		bf->info.ring_slots = bf->q[0].nr_slots;
	}

	struct publish_arg a = { .bf = bf, .order = order, .write_order = order > 0 };
	err = pvio_xs_transact(bf->d->xs, publish_body, &a, 0);
	if (err)
		return pvio_xenbus_dev_fatal(&bf->xb, err, "writing ring keys");
	err = pvio_xenbus_switch_state(&bf->xb, PVIO_XENBUS_INITIALISED);
	if (err)
		return err;

	err = pvio_xenbus_wait_otherend(&bf->xb, BIT(CONNECTED), wait_ms(bf), &st);
	if (err)
		return err;
	if (again) {
		/* The shadow's segment arrays and the pool were sized by the
		 * first negotiation: ask for no more indirect segments. */
		uint32_t want = bf->cfg.max_indirect_segments;
		bf->cfg.max_indirect_segments = bf->q[0].seg_cap < want ?
						bf->q[0].seg_cap : want;
		err = read_connected(bf);
		bf->cfg.max_indirect_segments = want;
		if (err)
			return err;
		err = pvio_xenbus_switch_state(&bf->xb, PVIO_XENBUS_CONNECTED);
		if (err)
			return err;
		bf_recover_resume(bf);
		return 0;
	}
	err = read_connected(bf);
	if (err)
		return err;
	for (uint32_t n = 0; n < nq; n++) {
		err = bf_queue_data_alloc(&bf->q[n]);
		if (err)
			return pvio_xenbus_dev_fatal(&bf->xb, err, "allocating shadow");
	}
	atomic_store_explicit(&bf->state, BF_CONNECTED, memory_order_release);
	err = pvio_xenbus_switch_state(&bf->xb, PVIO_XENBUS_CONNECTED);
	if (err) {
		atomic_store_explicit(&bf->state, BF_GONE, memory_order_release);
		return err;
	}
	return 0;
}

int bf_xenbus_connect(struct pvio_blkfront *bf)
{
	return handshake(bf, false);
}

static int reattach(void *arg, const char *nodename)
{
	return bf_xenbus_attach(arg, nodename);
}

/* With no watch to wait on: a sleep on the domain, as the event path does. */
static void nap(void *arg, int ms)
{
	struct pvio_blkfront *bf = arg;
	const struct pvio_evtchn *h = bf->d->evtchn;
	_Atomic uint32_t word = 0;
	uint64_t until = h->ops->now_ns(h->ops_ctx) + (uint64_t)ms * 1000000u;

	h->ops->sleep(h->ops_ctx, bf->d->domid, &word, 0, until);
}

/*
 * Linux's blkfront_resume() path: Closed (a live backend lets the old
 * rings go; a new one sees a fresh start), wait for a backend in InitWait,
 * then the handshake again. The device is BF_RECOVERING throughout.
 */
int bf_xenbus_reconnect(struct pvio_blkfront *bf, int timeout_ms)
{
	int err = pvio_xenbus_switch_state(&bf->xb, PVIO_XENBUS_CLOSED);

	if (err && err != -ENOENT)
		return err;
	err = pvio_xenbus_frontend_wait_backend(&bf->xb, timeout_ms, reattach, nap, bf);
	if (err)
		return err;
	err = handshake(bf, true);
	if (err == 0)
		atomic_fetch_add_explicit(&bf->reconnects, 1, memory_order_relaxed);
	return err;
}

/*
 * Linux's order: Closing, wait for the backend to close (it answers
 * Closing, or Closed), then Closed, after which the backend unmaps
 * everything and goes Closed itself. A gone backend does not delay us
 * beyond the timeout.
 */
int bf_xenbus_disconnect(struct pvio_blkfront *bf)
{
	enum pvio_xenbus_state st;
	int err, ret = 0;

	err = pvio_xenbus_switch_state(&bf->xb, PVIO_XENBUS_CLOSING);
	if (err && err != -ENOENT)
		ret = err;
	if (!err) {
		err = pvio_xenbus_wait_otherend(&bf->xb, BIT(CLOSING) | BIT(CLOSED),
						wait_ms(bf), &st);
		(void)err; /* gone or silent: close anyway */
	}
	err = pvio_xenbus_switch_state(&bf->xb, PVIO_XENBUS_CLOSED);
	if (err && err != -ENOENT && !ret)
		ret = err;
	if (!err) {
		err = pvio_xenbus_wait_otherend(&bf->xb, BIT(CLOSED) | BIT(UNKNOWN),
						wait_ms(bf), &st);
		(void)err;
	}
	return ret;
}

int bf_xenbus_check(struct pvio_blkfront *bf, int timeout_ms)
{
	enum pvio_xenbus_state st;
	int err;

	if (timeout_ms != 0) {
		err = pvio_xs_wait_token(bf->d->xs, bf->xb.token, timeout_ms);
		if (err < 0)
			return err;
	}
	err = pvio_xenbus_read_otherend_state(&bf->xb, &st);
	if (err == -ENOENT || (err == 0 && st != PVIO_XENBUS_CONNECTED))
		return -ENOTCONN;
	return err;
}
