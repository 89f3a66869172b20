/* SPDX-License-Identifier: MIT */
/*
 * Test harness for blkfront: one process plays Xen (machine memory, event
 * channels, the store daemon in a thread), a backend domain (0) and a
 * guest domain (1). harness.c also provides the platform's domain
 * functions of <pvio/domain.h> (page_alloc, vmap, map_ring ...) until
 * pvio hostd's library is available to link instead.
 *
 * fake_back.c is a blkback written for the test with the raw ring, grant,
 * event channel and xenbus APIs, with switches for every optional feature
 * and for misbehaviour.
 */
#ifndef BLKFRONT_HARNESS_H
#define BLKFRONT_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <pvio/blkfront.h>
#include <pvio/blkif.h>
#include <pvio/domain.h>
#include <pvio/evtchn_host.h>
#include <pvio/host_memory.h>
#include <pvio/xenstored.h>

#define H_BACK_ID 0
#define H_FRONT_ID 1
#define H_DEVID 51712u

struct h_env;

struct h_domain {
	struct pvio_domain d;       /* first: the driver sees this */
	struct h_env *env;
	pthread_mutex_t lock;
	uint8_t *used;              /* per pfn: allocated */
	struct pvio_xs_host host;
	struct pvio_xs xs;
	struct pvio_xs_event ev[64];
	struct pvio_evtchn evtchn;
};

struct h_env {
	struct pvio_mem *mem;
	const struct pvio_machine *m;
	int pool_fd;
	void *evr;
	size_t evr_bytes;
	int evr_fd;
	struct pvio_xenstored *xsd;
	pthread_t xsd_thread;
	struct h_domain back, front;  /* own machine (not H_HOSTD) */
	struct pvio_domain *backp, *frontp; /* the domains, either way */
	struct pvio_hostd *hostd;     /* H_HOSTD: the real platform */
	char dir[64];
};

struct h_env *h_env_new(void);
void h_env_free(struct h_env *env);
/* Toolstack: create vbd H_DEVID (backend dom 0, frontend dom 1). */
void h_device_create(struct h_env *env, bool readonly_mode);

enum fb_misbehave {
	FB_GOOD = 0,
	FB_BAD_ID,        /* id beyond the shadow table */
	FB_DUP_ID,        /* answer one request twice */
	FB_STALE_ID,      /* right index, wrong generation */
	FB_BAD_STATUS,    /* status 7 */
	FB_BAD_OP,        /* operation not the request's */
	FB_PROD_BEYOND,   /* rsp_prod far beyond what was requested */
	FB_DIE,           /* keep the request's first grant mapped and die */
	FB_STALL,         /* never answer */
};

struct fb_config {
	uint32_t max_ring_order;
	uint32_t max_queues;        /* 0: no multi-queue key */
	bool persistent;
	uint32_t max_indirect;
	bool flush, barrier, discard, secure;
	uint32_t sector_size;       /* 0: 512 */
	uint64_t sectors;           /* 0: 8192 (4 MiB) */
	uint32_t info;
	enum fb_misbehave misbehave;
	uint32_t misbehave_after;   /* requests answered well first */
	bool no_sectors;            /* omit the required key */
};

struct fake_back {
	struct h_env *env;
	struct fb_config cfg;
	pthread_t thr;
	unsigned char *disk;
	uint64_t disk_bytes;
	_Atomic bool stop;
	_Atomic int phase;          /* 1 connected, 2 closed, -1 failed */
	_Atomic bool dead;
	/* Set: the backend thread writes its state key "Closing" (the store
	 * connection is the thread's: one thread at a time) and clears it. */
	_Atomic bool leave;
	/* what the frontend published */
	uint32_t ring_order_seen, nr_queues_seen;
	bool fe_persistent, protocol_ok;
	/* served */
	_Atomic uint64_t nr_read, nr_write, nr_flush, nr_barrier, nr_discard,
			 nr_secure, nr_indirect, nr_requests, max_segs_seen;
	uint32_t held_handle;       /* FB_DIE: the mapping left behind */
	bool holding;
	char err[256];
};

struct fake_back *fb_start(struct h_env *env, const struct fb_config *cfg);
/* Wait for the backend thread to finish (after close). 0 or -1. */
int fb_join(struct fake_back *fb);
void fb_free(struct fake_back *fb);
/* Drop the mapping a dead backend left (hostd's clean-up). */
void fb_release_held(struct fake_back *fb);

#endif
