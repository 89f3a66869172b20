/* SPDX-License-Identifier: MIT */
/*
 * The whole backend, in one process: hostd in threads mode plays Xen,
 * xenstored and the toolstack; the driver domain (domid 0) runs blkback;
 * frontends are domains too, and this test plays each frontend with the
 * raw ring, grant, event-channel and xenbus APIs (no blkfront), so it can
 * also misbehave on purpose.
 *
 * Covered: the handshake and every backend key; read, write (partial
 * sectors), flush, barrier, discard, indirect; errors for bad requests;
 * persistent-grant reuse and map-per-request unmapping; multi-queue and
 * multi-page rings (orders 0 to 4, each with a full ring in flight); a
 * read-only disk and a cdrom (info bits, mode); a frontend and a backend
 * without the optional features; a foreign ABI refused; close and
 * reconnect; each engine; barrier and flush ordering against writes held
 * in flight (the "gated" engine below); discard and secure discard on a
 * loop device (root only); and a malicious frontend whose bad ring indices
 * break its own device while a second device keeps serving.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/fs.h>

#include <cmocka.h>

#include <pvio/domain.h>
#include <pvio/host.h>

#include "common.h"
#include "../common/test_machine.h" /* the machine: hostd, idd, toolstack */

#define DISK_BYTES (8u << 20)
#define NDATA 64

/* ---- a gated engine, for ordering ------------------------------------------
 *
 * blkback finds its engines through blkback_engine_find() (device.c) over
 * the explicit blkback_engines[] (include/pvio/blkback_engine.h): this test
 * links its own list, the real engines plus "gated", so blkback/engines.c
 * is not pulled from the archive. "gated" does the I/O synchronously
 * (blkback_io_do_sync, the sync engine's helper) but holds every write
 * while the gate is closed, as a slow disk would keep it in flight, and
 * logs each I/O in the order it reached the backing.
 */
extern const struct blkback_engine_ops blkback_uring_engine;
extern const struct blkback_engine_ops blkback_aio_engine;
extern const struct blkback_engine_ops blkback_sync_engine;
extern const struct blkback_engine_ops blkback_null_engine;

#define GATE_LOG 64

struct gate_entry {
	uint8_t op;
	uint64_t offset;
};

static struct {
	pthread_mutex_t lock;
	bool closed;
	uint32_t nlog;
	struct gate_entry log[GATE_LOG];
} gate = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct gated_ctx {
	const struct blkback_backing *b;
	struct blkback_io **held, **done;
	uint32_t depth, nheld, ndone;
};

static void gate_set(bool closed)
{
	pthread_mutex_lock(&gate.lock);
	gate.closed = closed;
	if (closed)
		gate.nlog = 0;
	pthread_mutex_unlock(&gate.lock);
}

static void gated_do(struct gated_ctx *c, struct blkback_io *io)
{
	blkback_io_do_sync(c->b, io);
	pthread_mutex_lock(&gate.lock);
	if (gate.nlog < GATE_LOG)
		gate.log[gate.nlog++] = (struct gate_entry){ io->op, io->offset };
	pthread_mutex_unlock(&gate.lock);
	c->done[c->ndone++] = io;
}

static int gated_open(const struct blkback_engine_params *p, void **out)
{
	struct gated_ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->b = p->backing;
	c->depth = p->depth;
	c->held = calloc(p->depth, sizeof(*c->held));
	c->done = calloc(p->depth, sizeof(*c->done));
	if (!c->held || !c->done) {
		free(c->held);
		free(c->done);
		free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

static bool gate_is_closed(void)
{
	bool closed;

	pthread_mutex_lock(&gate.lock);
	closed = gate.closed;
	pthread_mutex_unlock(&gate.lock);
	return closed;
}

static int gated_submit(void *ctx, struct blkback_io *const *ios, uint32_t n)
{
	struct gated_ctx *c = ctx;
	uint32_t i;

	for (i = 0; i < n && c->nheld + c->ndone < c->depth; i++) {
		if (ios[i]->op == BLKBACK_IO_WRITE && gate_is_closed())
			c->held[c->nheld++] = ios[i];
		else
			gated_do(c, ios[i]);
	}
	return (int)i;
}

static int gated_reap(void *ctx, struct blkback_io **done, uint32_t max, bool wait)
{
	struct gated_ctx *c = ctx;
	uint32_t n;

	if (c->nheld && !gate_is_closed()) {
		for (uint32_t i = 0; i < c->nheld; i++)
			gated_do(c, c->held[i]);
		c->nheld = 0;
	}
	if (c->ndone == 0 && wait) {
		struct timespec ts = { 0, 1000000 };

		nanosleep(&ts, NULL); /* a held write: the gate opens later */
	}
	n = c->ndone < max ? c->ndone : max;
	memcpy(done, c->done, n * sizeof(*done));
	memmove(c->done, c->done + n, (c->ndone - n) * sizeof(*c->done));
	c->ndone -= n;
	return (int)n;
}

static uint32_t gated_inflight(void *ctx)
{
	struct gated_ctx *c = ctx;

	return c->nheld + c->ndone;
}

static void gated_stats(void *ctx, struct blkback_engine_stats *st)
{
	(void)ctx;
	memset(st, 0, sizeof(*st));
}

static void gated_close(void *ctx)
{
	struct gated_ctx *c = ctx;

	free(c->held);
	free(c->done);
	free(c);
}

static const struct blkback_engine_ops gated_engine = {
	.name = "gated",
	.open = gated_open,
	.submit = gated_submit,
	.reap = gated_reap,
	.inflight = gated_inflight,
	.stats = gated_stats,
	.close = gated_close,
};

const struct blkback_engine_ops *const blkback_engines[] = {
	&blkback_uring_engine, &blkback_aio_engine, &blkback_sync_engine,
	&blkback_null_engine, &gated_engine, NULL,
};

/* ---- the machine (test_machine.h) and the backing files ------------------ */

static struct bb_extra {
	char disk[2][64];
	char loopdev[64];                /* a loop device to detach, or "" */
} BB;

static int setup(void **state)
{
	env_up_in("/tmp/pvio-bb-hostd-XXXXXX", 16384, 1024, 0);
	memset(&BB, 0, sizeof(BB));
	for (int i = 0; i < 2; i++) {
		int fd;

		snprintf(BB.disk[i], sizeof(BB.disk[i]), "/tmp/pvio-bb-disk-XXXXXX");
		fd = mkstemp(BB.disk[i]);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, DISK_BYTES), 0);
		close(fd);
	}
	*state = E;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (BB.loopdev[0]) { /* also after a failed check */
		char cmd[96];

		snprintf(cmd, sizeof(cmd), "losetup -d %s", BB.loopdev);
		if (system(cmd) != 0)
			fprintf(stderr, "could not detach %s\n", BB.loopdev);
	}
	env_down();
	for (int i = 0; i < 2; i++)
		unlink(BB.disk[i]);
	return 0;
}

/* ---- a backend device ------------------------------------------------------ */

struct bdev {
	struct pvio_xs_host host;
	struct pvio_xs xs;
	struct pvio_xs_event ev[16];
	struct pvio_blkback_disk_spec spec;
	struct pvio_blkback *bb;
	pvio_domid_t fe;
	uint32_t devid;
};

static struct bdev *bdev_new(pvio_domid_t fe, const char *spec,
			     void (*tweak)(struct pvio_blkback_config *))
{
	struct bdev *b = calloc(1, sizeof(*b));
	struct pvio_blkback_config cfg = { 0 };
	char err[128];

	assert_int_equal(pvio_blkback_disk_spec_parse(spec, &b->spec, err, sizeof(err)), 0);
	b->fe = fe;
	b->devid = b->spec.devid;
	/* The toolstack creates the device's two dirs. */
	assert_int_equal(pvio_xenbus_device_create(&E->ts, "vbd", 0, fe, b->devid, NULL), 0);
	xs_connect(&b->host, &b->xs, b->ev, 16);
	pvio_blkback_config_from_domain(&cfg, E->be);
	cfg.fe = fe;
	cfg.xs = &b->xs;
	cfg.disk = &b->spec;
	if (tweak)
		tweak(&cfg);
	assert_int_equal(pvio_blkback_create(&cfg, &b->bb), 0);
	assert_int_equal(pvio_blkback_start(b->bb), 0);
	return b;
}

static void bdev_free(struct bdev *b)
{
	pvio_blkback_destroy(b->bb);
	pvio_xs_host_close(&b->host);
	free(b);
}

/* ---- a frontend, played by hand ---------------------------------------------- */

struct fq {
	struct pvio_ring_front ring;
	void *va;
	uint32_t pfn;
	pvio_grant_ref_t refs[16];
	uint32_t port;
};

struct fe_opts {
	uint32_t nq;          /* 0: no multi-queue key */
	int order;            /* -1: no ring-page-order key */
	bool persistent;
	const char *protocol; /* NULL: no key */
};

struct fdev {
	struct pvio_domain *d;
	struct pvio_xenbus_device x;
	uint32_t devid, nq, pages;
	struct fq q[4];
	uint32_t data_pfn;
	pvio_grant_ref_t data_ref[NDATA];
	uint32_t ind_pfn;
	pvio_grant_ref_t ind_ref;
};

static struct pvio_domain *domain_new(const char *name)
{
	return domain_new_pages(name, 2048);
}

static void fe_write(struct fdev *f, const char *key, uint64_t v)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];

	assert_int_equal(pvio_xs_join(path, sizeof(path), f->x.nodename, key), 0);
	assert_int_equal(pvio_xs_write_uint(f->d->xs, 0, path, v), 0);
}

static void fe_write_str(struct fdev *f, const char *key, const char *v)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];

	assert_int_equal(pvio_xs_join(path, sizeof(path), f->x.nodename, key), 0);
	assert_int_equal(pvio_xs_write(f->d->xs, 0, path, v), 0);
}

static int be_read(struct fdev *f, const char *key, uint64_t *v)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];

	assert_int_equal(pvio_xs_join(path, sizeof(path), f->x.otherend, key), 0);
	return pvio_xs_read_uint(f->d->xs, 0, path, UINT64_MAX, v);
}

/* The backend's mode node ("r" or "w"). */
static const char *be_mode(struct fdev *f)
{
	static char mode[8];
	char path[PVIO_XENBUS_PATH_MAX + 32];

	snprintf(path, sizeof(path), "%s/mode", f->x.otherend);
	assert_int_equal(pvio_xs_read(f->d->xs, 0, path, mode, sizeof(mode), NULL), 0);
	return mode;
}

/* Attach, publish rings per opts, go Initialised. Returns the backend state
 * wait result (0 when it reached Connected). */
static int fe_connect(struct fdev *f, struct pvio_domain *d, uint32_t devid,
		      const struct fe_opts *o)
{
	uint32_t nq = o->nq ? o->nq : 1, order = o->order > 0 ? (uint32_t)o->order : 0;
	enum pvio_xenbus_state st;

	memset(f, 0, sizeof(*f));
	f->d = d;
	f->devid = devid;
	f->nq = nq;
	f->pages = 1u << order;
	assert_int_equal(pvio_xenbus_frontend_attach(&f->x, d->xs, "vbd", d->domid, devid), 0);
	assert_int_equal(pvio_xenbus_wait_otherend(&f->x, BIT(INIT_WAIT), WAIT_MS, &st), 0);
	for (uint32_t i = 0; i < nq; i++) {
		struct fq *q = &f->q[i];
		uint32_t pfns[16];
		char key[64], sub[32] = "";

		if (nq > 1)
			snprintf(sub, sizeof(sub), "queue-%u/", i);
		assert_int_equal(pvio_domain_page_alloc(d, f->pages, &q->pfn), 0);
		for (uint32_t k = 0; k < f->pages; k++) {
			pfns[k] = q->pfn + k;
			assert_int_equal(pvio_gnt_grant(d->gnt, 0, pfns[k], false, &q->refs[k]), 0);
			if (o->order >= 0)
				snprintf(key, sizeof(key), "%sring-ref%u", sub, k);
			else
				snprintf(key, sizeof(key), "%sring-ref", sub);
			fe_write(f, key, q->refs[k]);
		}
		assert_int_equal(pvio_domain_vmap(d, pfns, f->pages, &q->va), 0);
		assert_int_equal(pvio_blkif_front_init(&q->ring, q->va,
						       (size_t)f->pages * PVIO_PAGE_SIZE), 0);
		assert_int_equal(pvio_evtchn_alloc_unbound(d->evtchn, 0, &q->port), 0);
		snprintf(key, sizeof(key), "%sevent-channel", sub);
		fe_write(f, key, q->port);
	}
	if (o->order >= 0)
		fe_write(f, "ring-page-order", order);
	if (o->nq)
		fe_write(f, "multi-queue-num-queues", o->nq);
	if (o->protocol)
		fe_write_str(f, "protocol", o->protocol);
	if (o->persistent)
		fe_write(f, "feature-persistent", 1);
	/* Data pages and one indirect page, granted read-write. */
	assert_int_equal(pvio_domain_page_alloc(d, NDATA, &f->data_pfn), 0);
	for (uint32_t k = 0; k < NDATA; k++)
		assert_int_equal(pvio_gnt_grant(d->gnt, 0, f->data_pfn + k, false,
						&f->data_ref[k]), 0);
	assert_int_equal(pvio_domain_page_alloc(d, 1, &f->ind_pfn), 0);
	assert_int_equal(pvio_gnt_grant(d->gnt, 0, f->ind_pfn, true, &f->ind_ref), 0);
	assert_int_equal(pvio_xenbus_switch_state(&f->x, PVIO_XENBUS_INITIALISED), 0);
	return pvio_xenbus_wait_otherend(&f->x, BIT(CONNECTED), WAIT_MS, &st);
}

static unsigned char *data_page(struct fdev *f, uint32_t k)
{
	return pvio_domain_page(f->d, f->data_pfn + k);
}

static void fe_send(struct fdev *f, uint32_t qi, const void *req)
{
	struct fq *q = &f->q[qi];

	assert_int_equal(pvio_ring_front_put_req(&q->ring, req,
						 sizeof(struct pvio_blkif_request)), 0);
	if (pvio_ring_front_push(&q->ring) == 1)
		assert_int_equal(pvio_evtchn_notify(f->d->evtchn, q->port), 0);
}

/* Wait for one response (polling the ring; behaviour, not timing). */
static struct pvio_blkif_response fe_recv(struct fdev *f, uint32_t qi)
{
	struct pvio_blkif_response rsp;
	uint64_t end = pvio_now_ns() + (uint64_t)WAIT_MS * 1000000u;

	for (;;) {
		int r = pvio_blkif_front_get_rsp(&f->q[qi].ring, &rsp);

		assert_true(r >= 0);
		if (r == 1)
			return rsp;
		if (pvio_now_ns() > end)
			fail_msg("no response from the backend");
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL);
	}
}

static int16_t fe_do(struct fdev *f, uint32_t qi, const struct pvio_blkif_request *req)
{
	struct pvio_blkif_response rsp;

	fe_send(f, qi, req);
	rsp = fe_recv(f, qi);
	assert_int_equal(rsp.id, req->id);
	return rsp.status;
}

/* A read or write of n whole pages from data page first at sector. */
static struct pvio_blkif_request rw_req(struct fdev *f, uint8_t op, uint64_t sector,
					uint32_t first, uint8_t n)
{
	struct pvio_blkif_request r;
	static uint64_t id = 1000;

	memset(&r, 0, sizeof(r));
	r.operation = op;
	r.nr_segments = n;
	r.id = id++;
	r.sector_number = sector;
	for (uint8_t i = 0; i < n; i++) {
		r.seg[i].gref = f->data_ref[first + i];
		r.seg[i].first_sect = 0;
		r.seg[i].last_sect = 7;
	}
	return r;
}

static void fe_close(struct fdev *f)
{
	enum pvio_xenbus_state st;

	assert_int_equal(pvio_xenbus_switch_state(&f->x, PVIO_XENBUS_CLOSING), 0);
	assert_int_equal(pvio_xenbus_wait_otherend(&f->x, BIT(CLOSING) | BIT(CLOSED),
						   WAIT_MS, &st), 0);
	assert_int_equal(pvio_xenbus_switch_state(&f->x, PVIO_XENBUS_CLOSED), 0);
	assert_int_equal(pvio_xenbus_wait_otherend(&f->x, BIT(CLOSED), WAIT_MS, &st), 0);
}

/* Unmap the frontend's own views; hostd frees the rest with the domain. */
static void fe_release(struct fdev *f)
{
	for (uint32_t i = 0; i < f->nq; i++)
		(void)pvio_domain_vunmap(f->d, f->q[i].va, f->pages);
	(void)pvio_xenbus_detach(&f->x);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed);
}

/* Write pages then read them back into other pages and compare. */
static void write_read_check(struct fdev *f, uint32_t qi, uint64_t sector, uint8_t n,
			     unsigned seed)
{
	struct pvio_blkif_request r;

	for (uint8_t i = 0; i < n; i++)
		fill(data_page(f, i), PVIO_PAGE_SIZE, seed + i);
	r = rw_req(f, PVIO_BLKIF_OP_WRITE, sector, 0, n);
	assert_int_equal(fe_do(f, qi, &r), PVIO_BLKIF_RSP_OKAY);
	for (uint8_t i = 0; i < n; i++)
		memset(data_page(f, 32 + i), 0, PVIO_PAGE_SIZE);
	r = rw_req(f, PVIO_BLKIF_OP_READ, sector, 32, n);
	assert_int_equal(fe_do(f, qi, &r), PVIO_BLKIF_RSP_OKAY);
	for (uint8_t i = 0; i < n; i++)
		assert_memory_equal(data_page(f, i), data_page(f, 32 + i), PVIO_PAGE_SIZE);
}

/* ---- the tests ------------------------------------------------------------------ */

static char spec_buf[256];

static const char *spec_rw(int disk, const char *vdev)
{
	snprintf(spec_buf, sizeof(spec_buf), "format=raw,vdev=%s,access=rw,target=%s",
		 vdev, BB.disk[disk]);
	return spec_buf;
}

static void handshake_publishes_every_backend_key(void **s)
{
	struct pvio_domain *d = domain_new("guest");
	struct bdev *b = bdev_new(d->domid, spec_rw(0, "xvda"), NULL);
	struct fe_opts o = { .nq = 0, .order = -1, .protocol = "x86_64-abi" };
	struct fdev f;
	uint64_t v;
	char path[PVIO_XENBUS_PATH_MAX + 32], mode[8];

	(void)s;
	assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
	assert_int_equal(be_read(&f, "sectors", &v), 0);
	assert_int_equal(v, DISK_BYTES / 512);
	assert_int_equal(be_read(&f, "sector-size", &v), 0);
	assert_int_equal(v, 512);
	assert_int_equal(be_read(&f, "physical-sector-size", &v), 0);
	assert_true(v >= 512 && v % 512 == 0);
	assert_int_equal(be_read(&f, "info", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(be_read(&f, "feature-flush-cache", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(be_read(&f, "feature-barrier", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(be_read(&f, "feature-discard", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(be_read(&f, "discard-granularity", &v), 0);
	assert_true(v >= 512);
	assert_int_equal(be_read(&f, "discard-alignment", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(be_read(&f, "discard-secure", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(be_read(&f, "feature-persistent", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(be_read(&f, "feature-max-indirect-segments", &v), 0);
	assert_int_equal(v, 256);
	assert_int_equal(be_read(&f, "max-ring-page-order", &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(be_read(&f, "multi-queue-max-queues", &v), 0);
	assert_int_equal(v, 4);
	snprintf(path, sizeof(path), "%s/mode", f.x.otherend);
	assert_int_equal(pvio_xs_read(d->xs, 0, path, mode, sizeof(mode), NULL), 0);
	assert_string_equal(mode, "w");
	write_read_check(&f, 0, 0, 1, 1);
	fe_close(&f);
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

static void every_operation_round_trips(void **s)
{
	struct pvio_domain *d = domain_new("guest");
	struct bdev *b = bdev_new(d->domid, spec_rw(0, "xvda"), NULL);
	struct fe_opts o = { .order = 0 };
	struct pvio_blkback_stats st;
	struct pvio_blkif_request r;
	struct fdev f;

	(void)s;
	assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
	/* write + read, 11 segments */
	write_read_check(&f, 0, 64, 11, 7);
	/* partial sectors: sectors 2..5 of one page land at sector 100.. */
	fill(data_page(&f, 0), PVIO_PAGE_SIZE, 99);
	r = rw_req(&f, PVIO_BLKIF_OP_WRITE, 100, 0, 1);
	r.seg[0].first_sect = 2;
	r.seg[0].last_sect = 5;
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
	memset(data_page(&f, 40), 0xee, PVIO_PAGE_SIZE);
	r = rw_req(&f, PVIO_BLKIF_OP_READ, 100, 40, 1);
	r.seg[0].first_sect = 4;
	r.seg[0].last_sect = 7;
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
	assert_memory_equal(data_page(&f, 40) + 2048, data_page(&f, 0) + 1024, 2048);
	assert_int_equal(data_page(&f, 40)[0], 0xee); /* untouched sectors */
	/* flush without data */
	r = rw_req(&f, PVIO_BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0);
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
	/* barrier with data, then read it back */
	fill(data_page(&f, 0), PVIO_PAGE_SIZE, 55);
	r = rw_req(&f, PVIO_BLKIF_OP_WRITE_BARRIER, 800, 0, 1);
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
	r = rw_req(&f, PVIO_BLKIF_OP_READ, 800, 41, 1);
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
	assert_memory_equal(data_page(&f, 41), data_page(&f, 0), PVIO_PAGE_SIZE);
	/* discard sectors 64..71 (written above): reads back as zeroes */
	{
		struct pvio_blkif_request_discard dr = {
			.operation = PVIO_BLKIF_OP_DISCARD, .id = 5, .sector_number = 64,
			.nr_sectors = 8,
		};
		memset(&r, 0, sizeof(r));
		memcpy(&r, &dr, sizeof(dr));
		assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
		dr.flag = PVIO_BLKIF_DISCARD_SECURE;
		memcpy(&r, &dr, sizeof(dr));
		assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_EOPNOTSUPP);
		r = rw_req(&f, PVIO_BLKIF_OP_READ, 64, 42, 1);
		assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
		for (int i = 0; i < 4096; i++)
			assert_int_equal(data_page(&f, 42)[i], 0);
	}
	/* indirect: 20 segments through one indirect page, write then read */
	{
		struct pvio_blkif_segment *seg = pvio_domain_page(d, f.ind_pfn);
		struct pvio_blkif_request_indirect ind = {
			.operation = PVIO_BLKIF_OP_INDIRECT, .indirect_op = PVIO_BLKIF_OP_WRITE,
			.nr_segments = 20, .id = 77, .sector_number = 2048,
		};
		struct pvio_blkif_response rsp;

		for (int i = 0; i < 20; i++) {
			seg[i] = (struct pvio_blkif_segment){ .gref = f.data_ref[i],
							      .first_sect = 0, .last_sect = 7 };
			fill(data_page(&f, (uint32_t)i), PVIO_PAGE_SIZE, 200 + (unsigned)i);
		}
		ind.indirect_grefs[0] = f.ind_ref;
		memset(&r, 0, sizeof(r));
		memcpy(&r, &ind, sizeof(ind));
		fe_send(&f, 0, &r);
		rsp = fe_recv(&f, 0);
		assert_int_equal(rsp.status, PVIO_BLKIF_RSP_OKAY);
		assert_int_equal(rsp.operation, PVIO_BLKIF_OP_WRITE);
		for (int i = 0; i < 20; i++)
			seg[i].gref = f.data_ref[32 + i];
		ind.indirect_op = PVIO_BLKIF_OP_READ;
		ind.id = 78;
		memcpy(&r, &ind, sizeof(ind));
		fe_send(&f, 0, &r);
		rsp = fe_recv(&f, 0);
		assert_int_equal(rsp.status, PVIO_BLKIF_RSP_OKAY);
		for (int i = 0; i < 20; i++)
			assert_memory_equal(data_page(&f, (uint32_t)i), data_page(&f, 32u + (uint32_t)i),
					    PVIO_PAGE_SIZE);
	}
	/* a hostile request stream: each gets an error, the device lives on */
	r = rw_req(&f, 9, 0, 0, 1);
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_ERROR);
	r = rw_req(&f, PVIO_BLKIF_OP_READ, 0, 0, 1);
	r.nr_segments = 0;
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_ERROR);
	r.nr_segments = 12;
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_ERROR);
	r = rw_req(&f, PVIO_BLKIF_OP_READ, DISK_BYTES / 512 - 4, 0, 1);
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_ERROR);
	r = rw_req(&f, PVIO_BLKIF_OP_WRITE, 0, 0, 1);
	r.seg[0].last_sect = 9;
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_ERROR);
	r = rw_req(&f, PVIO_BLKIF_OP_WRITE, 0, 0, 2);
	r.seg[1].gref = 4000; /* never granted */
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_ERROR);
	write_read_check(&f, 0, 8, 2, 3);

	pvio_blkback_stats(b->bb, &st);
	assert_true(st.req_read >= 5);
	assert_true(st.req_write >= 4);
	assert_int_equal(st.req_flush, 1);
	assert_int_equal(st.req_barrier, 1);
	assert_int_equal(st.req_discard, 2);
	assert_int_equal(st.req_indirect, 2);
	assert_int_equal(st.err_op, 1);
	assert_int_equal(st.err_segments, 2);
	assert_int_equal(st.err_range, 1);
	assert_int_equal(st.err_sect, 1);
	assert_int_equal(st.err_grant, 1);
	assert_int_equal(st.err_unsupported, 1);
	assert_int_equal(st.err_protocol, 0);
	assert_false(st.broken);
	assert_true(st.sectors_written > 0 && st.sectors_read > 0);
	/* Not persistent: every map was unmapped. */
	assert_false(st.persistent);
	assert_int_equal(st.grant_maps, st.grant_unmaps);
	fe_close(&f);
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

static void persistent_grants_are_mapped_once_and_reused(void **s)
{
	struct pvio_domain *d = domain_new("guest");
	struct bdev *b = bdev_new(d->domid, spec_rw(0, "xvda"), NULL);
	struct fe_opts o = { .order = -1, .persistent = true };
	struct pvio_blkback_stats st;
	struct fdev f;

	(void)s;
	assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
	for (int i = 0; i < 10; i++)
		write_read_check(&f, 0, (uint64_t)i * 64, 8, (unsigned)i);
	pvio_blkback_stats(b->bb, &st);
	assert_true(st.persistent);
	/* 16 distinct refs (8 written, 8 read into), each mapped once. */
	assert_int_equal(st.persistent_misses, 16);
	assert_int_equal(st.persistent_hits, 10 * 16 - 16);
	assert_int_equal(st.grant_maps, 16);
	assert_int_equal(st.grant_unmaps, 0);
	fe_close(&f);
	pvio_blkback_stats(b->bb, &st);
	assert_int_equal(st.grant_unmaps, 16); /* flushed at disconnect */
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

static void tweak_small_cache(struct pvio_blkback_config *c)
{
	c->persistent_cap = 8;
}

static void persistent_cache_beyond_its_cap_still_serves(void **s)
{
	struct pvio_domain *d = domain_new("guest");
	struct bdev *b = bdev_new(d->domid, spec_rw(0, "xvda"), tweak_small_cache);
	struct fe_opts o = { .order = -1, .persistent = true };
	struct pvio_blkback_stats st;
	struct fdev f;

	(void)s;
	assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
	for (int i = 0; i < 20; i++)
		write_read_check(&f, 0, (uint64_t)i * 64, 11, (unsigned)i);
	pvio_blkback_stats(b->bb, &st);
	assert_true(st.persistent_evictions > 0 || st.grant_maps > st.persistent_misses);
	fe_close(&f);
	pvio_blkback_stats(b->bb, &st);
	assert_int_equal(st.grant_maps, st.grant_unmaps);
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

static void multi_queue_multi_page_rings_serve_each_queue(void **s)
{
	struct pvio_domain *d = domain_new("guest");
	struct bdev *b = bdev_new(d->domid, spec_rw(0, "xvda"), NULL);
	struct fe_opts o = { .nq = 3, .order = 2, .persistent = true };
	struct pvio_blkback_stats st;
	struct fdev f;

	(void)s;
	assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
	pvio_blkback_stats(b->bb, &st);
	assert_int_equal(st.nr_queues, 3);
	assert_int_equal(st.ring_pages, 4);
	assert_int_equal(pvio_blkif_ring_nr_slots(4 * PVIO_PAGE_SIZE), f.q[0].ring.nr_slots);
	for (uint32_t q = 0; q < 3; q++)
		write_read_check(&f, q, 512 * q, 4, q);
	/* Fill a queue's ring: every slot in flight at once. */
	{
		uint32_t n = f.q[1].ring.nr_slots;
		struct pvio_blkif_request r;

		for (uint32_t i = 0; i < n; i++) {
			r = rw_req(&f, PVIO_BLKIF_OP_READ, 8 * i, i % NDATA, 1);
			assert_int_equal(pvio_ring_front_put_req(&f.q[1].ring, &r, sizeof(r)), 0);
		}
		if (pvio_ring_front_push(&f.q[1].ring) == 1)
			pvio_evtchn_notify(d->evtchn, f.q[1].port);
		for (uint32_t i = 0; i < n; i++)
			assert_int_equal(fe_recv(&f, 1).status, PVIO_BLKIF_RSP_OKAY);
	}
	fe_close(&f);
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

static void readonly_disk_refuses_writes_and_says_so(void **s)
{
	struct pvio_domain *d = domain_new("guest");
	struct bdev *b;
	struct fe_opts o = { .order = -1 };
	struct pvio_blkback_stats st;
	struct pvio_blkif_request r;
	struct fdev f;
	uint64_t v;

	(void)s;
	snprintf(spec_buf, sizeof(spec_buf), "%s,raw,xvdb,ro", BB.disk[0]);
	b = bdev_new(d->domid, spec_buf, NULL);
	assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
	assert_int_equal(be_read(&f, "info", &v), 0);
	assert_int_equal(v, BB_VDISK_READONLY);
	assert_string_equal(be_mode(&f), "r");
	assert_int_equal(be_read(&f, "feature-discard", &v), 0);
	assert_int_equal(v, 0);
	r = rw_req(&f, PVIO_BLKIF_OP_WRITE, 0, 0, 1);
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_ERROR);
	r = rw_req(&f, PVIO_BLKIF_OP_READ, 0, 0, 1);
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
	pvio_blkback_stats(b->bb, &st);
	assert_int_equal(st.err_readonly, 1);
	fe_close(&f);
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

static void tweak_no_features(struct pvio_blkback_config *c)
{
	c->no_persistent = true;
	c->no_indirect = true;
	c->no_flush = true;
	c->no_discard = true;
	c->max_queues = 1;
}

static void backend_without_optional_features_serves_a_demanding_frontend(void **s)
{
	struct pvio_domain *d = domain_new("guest");
	struct bdev *b = bdev_new(d->domid, spec_rw(1, "xvdc"), tweak_no_features);
	struct fe_opts o = { .order = -1, .persistent = true };
	struct pvio_blkback_stats st;
	struct pvio_blkif_request r;
	struct fdev f;
	uint64_t v;

	(void)s;
	assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
	assert_int_equal(be_read(&f, "feature-persistent", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(be_read(&f, "feature-max-indirect-segments", &v), -ENOENT);
	write_read_check(&f, 0, 0, 3, 1);
	r = rw_req(&f, PVIO_BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0);
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_EOPNOTSUPP);
	r = rw_req(&f, PVIO_BLKIF_OP_WRITE_BARRIER, 0, 0, 0);
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_EOPNOTSUPP);
	pvio_blkback_stats(b->bb, &st);
	assert_false(st.persistent);
	assert_int_equal(st.persistent_hits, 0);
	fe_close(&f);
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

static void frontend_asking_too_much_is_refused(void **s)
{
	struct pvio_domain *d = domain_new("guest");
	struct bdev *b = bdev_new(d->domid, spec_rw(0, "xvda"), tweak_no_features);
	struct fe_opts o = { .nq = 2, .order = -1 }; /* max-queues is 1 */
	struct fdev f;

	(void)s;
	assert_int_equal(fe_connect(&f, d, b->devid, &o), -ECONNRESET);
	assert_int_equal(pvio_blkback_wait_state(b->bb, PVIO_XENBUS_CLOSED, WAIT_MS), 0);
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

static void foreign_abi_is_refused_with_an_error_node(void **s)
{
	struct pvio_domain *d = domain_new("guest");
	struct bdev *b = bdev_new(d->domid, spec_rw(0, "xvda"), NULL);
	struct fe_opts o = { .order = -1, .protocol = "x86_32-abi" };
	char path[PVIO_XENBUS_PATH_MAX + 16], msg[256];
	struct fdev f;

	(void)s;
	assert_int_equal(fe_connect(&f, d, b->devid, &o), -ECONNRESET);
	snprintf(path, sizeof(path), "%s/error", f.x.otherend);
	assert_int_equal(pvio_xs_read(&E->ts, 0, path, msg, sizeof(msg), NULL), 0);
	assert_non_null(strstr(msg, "x86_32-abi"));
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

static void close_and_reconnect_serves_again(void **s)
{
	struct pvio_domain *d = domain_new("guest");
	struct bdev *b = bdev_new(d->domid, spec_rw(0, "xvda"), NULL);
	struct fe_opts o = { .order = 1, .persistent = true };
	struct pvio_blkback_stats st;
	struct fdev f;

	(void)s;
	assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
	write_read_check(&f, 0, 0, 2, 1);
	fe_close(&f);
	fe_release(&f);
	/* A fresh handshake on the same device. */
	{
		struct pvio_xenbus_device x;
		enum pvio_xenbus_state st2;
		char path[PVIO_XENBUS_PATH_MAX + 16];

		assert_int_equal(pvio_xenbus_frontend_attach(&x, d->xs, "vbd", d->domid,
							     b->devid), 0);
		snprintf(path, sizeof(path), "%s/state", x.nodename);
		assert_int_equal(pvio_xs_write_uint(d->xs, 0, path, PVIO_XENBUS_INITIALISING), 0);
		/* The backend is Closed until it sees Initialising. */
		for (int i = 0; i < WAIT_MS; i++) {
			assert_int_equal(pvio_xenbus_read_otherend_state(&x, &st2), 0);
			if (st2 == PVIO_XENBUS_INIT_WAIT)
				break;
			usleep(1000);
		}
		assert_int_equal(st2, PVIO_XENBUS_INIT_WAIT);
		(void)pvio_xenbus_detach(&x);
	}
	assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
	write_read_check(&f, 0, 0, 2, 9);
	pvio_blkback_stats(b->bb, &st);
	assert_int_equal(st.connects, 2);
	fe_close(&f);
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

static const char *engine_name;
static void tweak_engine(struct pvio_blkback_config *c)
{
	c->engine = engine_name;
}

/*
 * A frontend that posts a whole ring at once. An engine with a device
 * behind it (libaio here; io_uring on a disk file system) gets the I/O a
 * few requests at a time as the backend takes them, so the device starts
 * on the first while the rest are prepared (blkback.c consume(),
 * engine_uring.c); the null engine, with nothing to start early, gets the
 * whole ring in one call. Every request is answered either way.
 */
static void full_ring_to(const char *engine, uint64_t min_submits, uint64_t max_submits)
{
	struct pvio_domain *d = domain_new("guest");
	struct bdev *b;
	struct fe_opts o = { .order = 0 };
	struct pvio_blkback_stats st;
	struct fdev f;
	uint32_t n;
	bool seen[64] = { false };
	uint64_t first_id = 0;

	engine_name = engine;
	b = bdev_new(d->domid, spec_rw(0, "xvda"), tweak_engine);
	assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
	n = f.q[0].ring.nr_slots;
	assert_true(n == 32 && n <= NDATA);
	for (uint32_t i = 0; i < n; i++) {
		struct pvio_blkif_request r = rw_req(&f, PVIO_BLKIF_OP_READ,
						     (uint64_t)i * 8, i, 1);

		if (i == 0)
			first_id = r.id;
		assert_int_equal(pvio_ring_front_put_req(&f.q[0].ring, &r, sizeof(r)), 0);
	}
	/* One push: the backend sees all n requests at once. */
	if (pvio_ring_front_push(&f.q[0].ring) == 1)
		assert_int_equal(pvio_evtchn_notify(d->evtchn, f.q[0].port), 0);
	for (uint32_t i = 0; i < n; i++) {
		struct pvio_blkif_response rsp = fe_recv(&f, 0);

		assert_int_equal(rsp.status, PVIO_BLKIF_RSP_OKAY);
		assert_true(rsp.id >= first_id && rsp.id < first_id + n);
		assert_false(seen[rsp.id - first_id]);
		seen[rsp.id - first_id] = true;
	}
	pvio_blkback_stats(b->bb, &st);
	assert_int_equal(st.req_read, n);
	assert_in_range(st.engine_submits, min_submits, max_submits);
	fe_close(&f);
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

static void a_full_ring_reaches_a_disk_engine_four_requests_at_a_time(void **s)
{
	(void)s;
	full_ring_to("libaio", 32 / 4, 32);
}

static void a_full_ring_reaches_the_null_engine_in_one_call(void **s)
{
	(void)s;
	full_ring_to("null", 1, 1);
}

static void one_engine_end_to_end(const char *name)
{
	struct pvio_domain *d = domain_new("guest");
	struct bdev *b;
	struct fe_opts o = { .order = 0 };
	struct pvio_blkif_request r;
	struct fdev f;

	engine_name = name;
	b = bdev_new(d->domid, spec_rw(1, "xvdd"), tweak_engine);
	assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
	if (strcmp(name, "null") == 0) {
		r = rw_req(&f, PVIO_BLKIF_OP_WRITE, 0, 0, 4);
		assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
		r = rw_req(&f, PVIO_BLKIF_OP_READ, 0, 0, 4);
		assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
	} else {
		write_read_check(&f, 0, 16, 11, 5);
	}
	r = rw_req(&f, PVIO_BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0);
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
	fe_close(&f);
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

static void libaio_engine_serves_a_frontend(void **s) { (void)s; one_engine_end_to_end("libaio"); }
static void sync_engine_serves_a_frontend(void **s) { (void)s; one_engine_end_to_end("sync"); }
static void null_engine_serves_a_frontend(void **s) { (void)s; one_engine_end_to_end("null"); }

static void tweak_gated(struct pvio_blkback_config *c)
{
	c->engine = "gated";
}

/* Queue n requests and kick once. */
static void fe_send_all(struct fdev *f, uint32_t qi, const struct pvio_blkif_request *r,
			uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(pvio_ring_front_put_req(&f->q[qi].ring, &r[i], sizeof(r[i])), 0);
	if (pvio_ring_front_push(&f->q[qi].ring) == 1)
		assert_int_equal(pvio_evtchn_notify(f->d->evtchn, f->q[qi].port), 0);
}

static void expect_log(uint32_t i, uint8_t op, uint64_t offset)
{
	assert_true(i < gate.nlog);
	assert_int_equal(gate.log[i].op, op);
	if (op != BLKBACK_IO_FLUSH)
		assert_int_equal(gate.log[i].offset, offset);
}

/*
 * Ordering against the real backend, with writes held in flight by the
 * gated engine. A barrier (blkif.h; Linux's blkback drains the same way)
 * waits until every earlier write has completed: nothing of it reaches
 * the backing, and it is not answered, while they are in flight. A flush
 * makes the writes acknowledged before it durable: it reaches the backing
 * after them and they are on the backing once it is answered.
 */
static void barrier_waits_for_earlier_writes_and_flush_follows_acked_ones(void **s)
{
	struct pvio_domain *d = domain_new("guest");
	struct bdev *b = bdev_new(d->domid, spec_rw(0, "xvda"), tweak_gated);
	struct fe_opts o = { .order = 0 };
	struct pvio_blkif_request r[5];
	struct pvio_blkif_response rsp;
	unsigned char back[PVIO_PAGE_SIZE];
	struct fdev f;
	int fd;

	(void)s;
	assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);

	/* 1. Four writes, then a barrier without data, in one kick. */
	gate_set(true);
	for (uint32_t i = 0; i < 4; i++) {
		fill(data_page(&f, i), PVIO_PAGE_SIZE, 10 + i);
		r[i] = rw_req(&f, PVIO_BLKIF_OP_WRITE, 8 * i, i, 1);
	}
	r[4] = rw_req(&f, PVIO_BLKIF_OP_WRITE_BARRIER, 0, 0, 0);
	fe_send_all(&f, 0, r, 5);
	/* The writes are held: nothing may be answered, whatever the wait. */
	for (int i = 0; i < 200; i++) {
		assert_int_equal(pvio_blkif_front_get_rsp(&f.q[0].ring, &rsp), 0);
		usleep(1000);
	}
	pthread_mutex_lock(&gate.lock);
	assert_int_equal(gate.nlog, 0); /* the barrier's flush waits too */
	pthread_mutex_unlock(&gate.lock);
	gate_set(false);
	for (uint32_t i = 0; i < 5; i++) {
		rsp = fe_recv(&f, 0);
		assert_int_equal(rsp.status, PVIO_BLKIF_RSP_OKAY);
		if (i < 4)
			assert_int_not_equal(rsp.id, r[4].id);
		else
			assert_int_equal(rsp.id, r[4].id); /* answered last */
	}
	pthread_mutex_lock(&gate.lock);
	assert_int_equal(gate.nlog, 5);
	for (uint32_t i = 0; i < 4; i++)
		expect_log(i, BLKBACK_IO_WRITE, (uint64_t)i * PVIO_PAGE_SIZE);
	expect_log(4, BLKBACK_IO_FLUSH, 0);
	pthread_mutex_unlock(&gate.lock);

	/* 2. Three writes, then a barrier carrying data: its write too waits. */
	gate_set(true);
	for (uint32_t i = 0; i < 4; i++) {
		fill(data_page(&f, i), PVIO_PAGE_SIZE, 20 + i);
		r[i] = rw_req(&f, i < 3 ? PVIO_BLKIF_OP_WRITE : PVIO_BLKIF_OP_WRITE_BARRIER,
			      64 + 8 * i, i, 1);
	}
	fe_send_all(&f, 0, r, 4);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(pvio_blkif_front_get_rsp(&f.q[0].ring, &rsp), 0);
		usleep(1000);
	}
	gate_set(false);
	for (uint32_t i = 0; i < 4; i++) {
		rsp = fe_recv(&f, 0);
		assert_int_equal(rsp.status, PVIO_BLKIF_RSP_OKAY);
		assert_true(i == 3 ? rsp.id == r[3].id : rsp.id != r[3].id);
	}
	pthread_mutex_lock(&gate.lock);
	assert_int_equal(gate.nlog, 5);
	for (uint32_t i = 0; i < 4; i++)
		expect_log(i, BLKBACK_IO_WRITE, (64 + 8 * i) * 512ull);
	expect_log(4, BLKBACK_IO_FLUSH, 0);
	pthread_mutex_unlock(&gate.lock);

	/* 3. Writes acknowledged, then a flush: it reaches the backing after
	 * them, and once it is answered their data is on the backing. */
	gate_set(false);
	pthread_mutex_lock(&gate.lock);
	gate.nlog = 0;
	pthread_mutex_unlock(&gate.lock);
	for (uint32_t i = 0; i < 4; i++) {
		fill(data_page(&f, i), PVIO_PAGE_SIZE, 30 + i);
		r[i] = rw_req(&f, PVIO_BLKIF_OP_WRITE, 256 + 8 * i, i, 1);
		assert_int_equal(fe_do(&f, 0, &r[i]), PVIO_BLKIF_RSP_OKAY);
	}
	r[4] = rw_req(&f, PVIO_BLKIF_OP_FLUSH_DISKCACHE, 0, 0, 0);
	assert_int_equal(fe_do(&f, 0, &r[4]), PVIO_BLKIF_RSP_OKAY);
	pthread_mutex_lock(&gate.lock);
	assert_int_equal(gate.nlog, 5);
	expect_log(4, BLKBACK_IO_FLUSH, 0);
	pthread_mutex_unlock(&gate.lock);
	fd = open(BB.disk[0], O_RDONLY);
	assert_true(fd >= 0);
	for (uint32_t i = 0; i < 4; i++) {
		assert_int_equal(pread(fd, back, sizeof(back), (256 + 8 * i) * 512),
				 (ssize_t)sizeof(back));
		assert_memory_equal(back, data_page(&f, i), sizeof(back));
	}
	close(fd);
	fe_close(&f);
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

/* Run a command, return its first line of output ("" on failure). */
static int sh_line(char *out, size_t size, const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	FILE *p;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	out[0] = '\0';
	p = popen(cmd, "r");
	if (!p)
		return -errno;
	if (fgets(out, (int)size, p))
		out[strcspn(out, "\n")] = '\0';
	rc = pclose(p);
	return rc == 0 ? 0 : -EIO;
}

/*
 * Discard on a block device (a loop device over a temp file): BLKDISCARD,
 * then the range reads back as zeroes. Secure discard is advertised
 * exactly when the kernel takes BLKSECDISCARD on the device; when it does
 * not (loop devices), a secure discard is EOPNOTSUPP and erases nothing.
 */
static void block_device_discard_then_read_and_secure_discard(void **s)
{
	struct pvio_domain *d;
	struct bdev *b;
	struct fe_opts o = { .order = 0 };
	struct pvio_blkif_request r;
	struct pvio_blkif_request_discard dr = {
		.operation = PVIO_BLKIF_OP_DISCARD, .id = 5, .sector_number = 64,
		.nr_sectors = 16,
	};
	char dev[64], spec[128];
	uint64_t v, secure_ok;
	struct fdev f;
	int fd;

	(void)s;
	if (geteuid() != 0)
		skip();
	assert_int_equal(sh_line(dev, sizeof(dev), "losetup -f --show %s", BB.disk[1]), 0);
	assert_true(strncmp(dev, "/dev/loop", 9) == 0);
	snprintf(BB.loopdev, sizeof(BB.loopdev), "%s", dev);
	fd = open(dev, O_RDWR);
	assert_true(fd >= 0);
	{
		/* The kernel's answer, on a block past the ones used below. */
		uint64_t range[2] = { DISK_BYTES - 4096, 4096 };

		secure_ok = ioctl(fd, BLKSECDISCARD, range) == 0;
	}
	close(fd);
	d = domain_new("guest");
	snprintf(spec, sizeof(spec), "format=raw,vdev=xvde,access=rw,target=%s", dev);
	b = bdev_new(d->domid, spec, NULL);
	assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
	assert_int_equal(be_read(&f, "feature-discard", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(be_read(&f, "discard-secure", &v), 0);
	assert_int_equal(v, secure_ok);

	write_read_check(&f, 0, 64, 2, 3);
	memset(&r, 0, sizeof(r));
	memcpy(&r, &dr, sizeof(dr));
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
	memset(data_page(&f, 40), 0xee, 2 * PVIO_PAGE_SIZE);
	r = rw_req(&f, PVIO_BLKIF_OP_READ, 64, 40, 2);
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
	for (uint32_t i = 0; i < 2 * PVIO_PAGE_SIZE; i++)
		assert_int_equal(data_page(&f, 40)[i], 0);

	/* Secure discard of freshly written data. */
	write_read_check(&f, 0, 128, 1, 4);
	dr.flag = PVIO_BLKIF_DISCARD_SECURE;
	dr.sector_number = 128;
	dr.nr_sectors = 8;
	memcpy(&r, &dr, sizeof(dr));
	assert_int_equal(fe_do(&f, 0, &r),
			 secure_ok ? PVIO_BLKIF_RSP_OKAY : PVIO_BLKIF_RSP_EOPNOTSUPP);
	r = rw_req(&f, PVIO_BLKIF_OP_READ, 128, 40, 1);
	assert_int_equal(fe_do(&f, 0, &r), PVIO_BLKIF_RSP_OKAY);
	if (secure_ok) {
		for (uint32_t i = 0; i < PVIO_PAGE_SIZE; i++)
			assert_int_equal(data_page(&f, 40)[i], 0);
	} else {
		assert_memory_equal(data_page(&f, 40), data_page(&f, 0), PVIO_PAGE_SIZE);
	}
	fe_close(&f);
	fe_release(&f);
	bdev_free(b);
	pvio_domain_disconnect(d);
}

/* A cdrom, in xl's syntax and in the legacy one ("path,raw,hdc:cdrom,r"):
 * info has the cdrom, removable and read-only bits (a cdrom is read-only),
 * and mode is "r". */
static void cdrom_disk_sets_info_bits_and_mode(void **s)
{
	static const struct { const char *access; uint64_t info; const char *mode; } c[] = {
		{ "ro", BB_VDISK_CDROM | BB_VDISK_REMOVABLE | BB_VDISK_READONLY, "r" },
		{ NULL, BB_VDISK_CDROM | BB_VDISK_REMOVABLE | BB_VDISK_READONLY, "r" },
	};

	(void)s;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct pvio_domain *d = domain_new("guest");
		struct fe_opts o = { .order = -1 };
		struct bdev *b;
		struct fdev f;
		uint64_t v;

		if (c[i].access)
			snprintf(spec_buf, sizeof(spec_buf),
				 "format=raw,vdev=xvdb,access=%s,devtype=cdrom,target=%s",
				 c[i].access, BB.disk[0]);
		else
			snprintf(spec_buf, sizeof(spec_buf), "%s,raw,hdc:cdrom,r", BB.disk[0]);
		b = bdev_new(d->domid, spec_buf, NULL);
		assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
		assert_int_equal(be_read(&f, "info", &v), 0);
		assert_int_equal(v, c[i].info);
		assert_string_equal(be_mode(&f), c[i].mode);
		fe_close(&f);
		fe_release(&f);
		bdev_free(b);
		pvio_domain_disconnect(d);
	}
}

/* Ring orders 0 to 4 (1 to 16 pages): each negotiated, served, and a
 * full ring of requests in flight at once answered. */
static void every_ring_order_serves_a_full_ring(void **s)
{
	(void)s;
	for (int order = 0; order <= 4; order++) {
		struct pvio_domain *d = domain_new("guest");
		struct bdev *b = bdev_new(d->domid, spec_rw(0, "xvda"), NULL);
		struct fe_opts o = { .order = order };
		struct pvio_blkback_stats st;
		struct pvio_blkif_request r;
		struct fdev f;
		uint64_t v;
		uint32_t n;

		assert_int_equal(fe_connect(&f, d, b->devid, &o), 0);
		pvio_blkback_stats(b->bb, &st);
		assert_int_equal(st.ring_pages, 1u << order);
		n = f.q[0].ring.nr_slots;
		assert_int_equal(n, pvio_blkif_ring_nr_slots((size_t)PVIO_PAGE_SIZE << order));
		write_read_check(&f, 0, 8 * (uint64_t)order, 4, (unsigned)order);
		for (uint32_t i = 0; i < n; i++) {
			r = rw_req(&f, PVIO_BLKIF_OP_READ, 8 * i, i % NDATA, 1);
			assert_int_equal(pvio_ring_front_put_req(&f.q[0].ring, &r, sizeof(r)), 0);
		}
		if (pvio_ring_front_push(&f.q[0].ring) == 1)
			assert_int_equal(pvio_evtchn_notify(d->evtchn, f.q[0].port), 0);
		for (uint32_t i = 0; i < n; i++)
			assert_int_equal(fe_recv(&f, 0).status, PVIO_BLKIF_RSP_OKAY);
		pvio_blkback_stats(b->bb, &st);
		assert_int_equal(st.req_read, n + 1);
		assert_int_equal(be_read(&f, "max-ring-page-order", &v), 0);
		assert_int_equal(v, 4);
		fe_close(&f);
		fe_release(&f);
		bdev_free(b);
		pvio_domain_disconnect(d);
	}
}

static void bad_ring_indices_break_only_that_device(void **s)
{
	struct pvio_domain *d1 = domain_new("evil"), *d2 = domain_new("good");
	struct bdev *b1 = bdev_new(d1->domid, spec_rw(0, "xvda"), NULL);
	struct bdev *b2 = bdev_new(d2->domid, spec_rw(1, "xvda"), NULL);
	struct fe_opts o = { .order = -1 };
	struct pvio_blkback_stats st;
	struct fdev f1, f2;
	char path[PVIO_XENBUS_PATH_MAX + 16], msg[256];
	enum pvio_xenbus_state state;

	(void)s;
	assert_int_equal(fe_connect(&f1, d1, b1->devid, &o), 0);
	assert_int_equal(fe_connect(&f2, d2, b2->devid, &o), 0);
	write_read_check(&f1, 0, 0, 1, 1);
	write_read_check(&f2, 0, 0, 1, 2);
	/* The evil frontend claims far more requests than the ring holds. */
	pvio_store_release(&f1.q[0].ring.sring->req_prod,
			   f1.q[0].ring.req_prod_pvt + f1.q[0].ring.nr_slots + 5);
	assert_int_equal(pvio_evtchn_notify(d1->evtchn, f1.q[0].port), 0);
	assert_int_equal(pvio_blkback_wait_state(b1->bb, PVIO_XENBUS_CLOSED, WAIT_MS), 0);
	pvio_blkback_stats(b1->bb, &st);
	assert_true(st.broken);
	assert_int_equal(st.err_protocol, 1);
	assert_int_equal(st.nr_queues, 0);
	snprintf(path, sizeof(path), "%s/error", f1.x.otherend);
	assert_int_equal(pvio_xs_read(&E->ts, 0, path, msg, sizeof(msg), NULL), 0);
	assert_non_null(strstr(msg, "ring"));
	assert_int_equal(pvio_xenbus_wait_otherend(&f1.x, BIT(CLOSED), WAIT_MS, &state), 0);
	/* The other device keeps serving, many times over. */
	for (int i = 0; i < 20; i++)
		write_read_check(&f2, 0, (uint64_t)i * 8, 2, (unsigned)i);
	pvio_blkback_stats(b2->bb, &st);
	assert_false(st.broken);
	assert_int_equal(st.state, PVIO_XENBUS_CONNECTED);
	fe_close(&f2);
	fe_release(&f1);
	fe_release(&f2);
	bdev_free(b1);
	bdev_free(b2);
	pvio_domain_disconnect(d1);
	pvio_domain_disconnect(d2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(handshake_publishes_every_backend_key, setup, teardown),
		cmocka_unit_test_setup_teardown(every_operation_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(persistent_grants_are_mapped_once_and_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(a_full_ring_reaches_a_disk_engine_four_requests_at_a_time, setup, teardown),
		cmocka_unit_test_setup_teardown(a_full_ring_reaches_the_null_engine_in_one_call, setup, teardown),
		cmocka_unit_test_setup_teardown(persistent_cache_beyond_its_cap_still_serves, setup, teardown),
		cmocka_unit_test_setup_teardown(multi_queue_multi_page_rings_serve_each_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(readonly_disk_refuses_writes_and_says_so, setup, teardown),
		cmocka_unit_test_setup_teardown(backend_without_optional_features_serves_a_demanding_frontend, setup, teardown),
		cmocka_unit_test_setup_teardown(frontend_asking_too_much_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(foreign_abi_is_refused_with_an_error_node, setup, teardown),
		cmocka_unit_test_setup_teardown(close_and_reconnect_serves_again, setup, teardown),
		cmocka_unit_test_setup_teardown(libaio_engine_serves_a_frontend, setup, teardown),
		cmocka_unit_test_setup_teardown(sync_engine_serves_a_frontend, setup, teardown),
		cmocka_unit_test_setup_teardown(null_engine_serves_a_frontend, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_ring_indices_break_only_that_device, setup, teardown),
		cmocka_unit_test_setup_teardown(barrier_waits_for_earlier_writes_and_flush_follows_acked_ones, setup, teardown),
		cmocka_unit_test_setup_teardown(block_device_discard_then_read_and_secure_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(cdrom_disk_sets_info_bits_and_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(every_ring_order_serves_a_full_ring, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
