/* SPDX-License-Identifier: MIT */
/*
 * The machine of the netback and blkback integration tests and of the
 * malicious-peer tests (tests/fault: blkback, store, netback, tap): hostd
 * in threads mode, the driver domain (domid 0), a toolstack store connection, and
 * guest domains on it. Static functions: each test program includes it
 * once, after <cmocka.h>.
 */
#ifndef PVIO_TEST_MACHINE_H
#define PVIO_TEST_MACHINE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvio/domain.h>
#include <pvio/host.h>
#include <pvio/xenbus.h>

#define WAIT_MS 10000
#define BIT(s) PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_##s)

struct env {
	char dir[64];
	struct pvio_hostd *hostd;
	struct pvio_domain *be;          /* the driver domain, domid 0 */
	struct pvio_xs_host ts_host;     /* toolstack: privileged store */
	struct pvio_xs ts;
	struct pvio_xs_event ts_ev[8];
	void *mp;  /* the DPDK ring-port tests' own mbufs (the "wire") */
	int seq;   /* names of the ring ports made so far */
};

static struct env *E;

static inline void msleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static inline void xs_connect(struct pvio_xs_host *h, struct pvio_xs *xs,
			      struct pvio_xs_event *ev, uint32_t nev)
{
	assert_int_equal(pvio_xs_host_open(h, xs, E->dir, ev, nev, WAIT_MS), 0);
}

/* hostd with nr_frames of machine memory in a fresh run dir made from
 * dir_template (a mkdtemp() template of under 64 bytes); the driver domain
 * with be_pages and map_handles (0: default) grant mappings; E. */
static inline void env_up_in(const char *dir_template, uint32_t nr_frames,
			     uint32_t be_pages, uint32_t map_handles)
{
	struct env *e = calloc(1, sizeof(*e));
	struct pvio_hostd_config hc = { 0 };
	struct pvio_domain_config dc = { .name = "idd", .nr_pages = be_pages,
					 .driver_domain = true,
					 .nr_map_handles = map_handles };

	assert_non_null(e);
	E = e;
	assert_true(strlen(dir_template) < sizeof(e->dir));
	strcpy(e->dir, dir_template);
	assert_non_null(mkdtemp(e->dir));
	hc.run_dir = e->dir;
	hc.nr_frames = nr_frames;
	assert_int_equal(pvio_hostd_create(&hc, &e->hostd), 0);
	assert_int_equal(pvio_hostd_start(e->hostd), 0);
	assert_int_equal(pvio_domain_connect(e->dir, &dc, &e->be), 0);
	assert_int_equal(e->be->domid, 0);
	xs_connect(&e->ts_host, &e->ts, e->ts_ev, 8);
}

static inline void env_up(uint32_t nr_frames, uint32_t be_pages, uint32_t map_handles)
{
	env_up_in("/tmp/pvio-test-hostd-XXXXXX", nr_frames, be_pages, map_handles);
}

static inline void env_down(void)
{
	char path[128];

	pvio_xs_host_close(&E->ts_host);
	pvio_domain_disconnect(E->be);
	pvio_hostd_destroy(E->hostd);
	/* hostd leaves its lock file behind (by design). */
	snprintf(path, sizeof(path), "%s/hostd.lock", E->dir);
	unlink(path);
	rmdir(E->dir);
	free(E);
	E = NULL;
}

/* A guest domain of pages pages (never domid 0). */
static inline struct pvio_domain *domain_new_pages(const char *name, uint32_t pages)
{
	struct pvio_domain_config dc = { .name = name, .nr_pages = pages };
	struct pvio_domain *d;

	assert_int_equal(pvio_domain_connect(E->dir, &dc, &d), 0);
	assert_true(d->domid != 0);
	return d;
}

#endif /* PVIO_TEST_MACHINE_H */
