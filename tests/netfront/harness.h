/* SPDX-License-Identifier: MIT */
/*
 * Test harness for netfront: pvio hostd in threads mode plays Xen, the
 * store and the toolstack; domain 0 is the driver domain, where
 * fake_back.c runs a netback written for the tests with the raw ring,
 * grant, event channel and xenbus APIs (every optional feature on a
 * switch, and misbehaviours); domain 1 is the guest running netfront.
 */
#ifndef NETFRONT_HARNESS_H
#define NETFRONT_HARNESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <pvio/domain.h>
#include <pvio/netfront.h>
#include <pvio/netif.h>

#define H_BACK_ID 0
#define H_FRONT_ID 1
#define H_DEVID 0u
#define H_MAC "00:16:3e:12:34:56"
#define H_PATH "/local/domain/1/device/vif/0"

struct h_env {
	struct pvio_hostd *hostd;
	struct pvio_domain *backp, *frontp;
	char dir[64];
};

struct h_env *h_env_new(void);
void h_env_free(struct h_env *env);
/* Toolstack: create vif H_DEVID; mac in the frontend dir, the backend
 * dir, or both. */
enum h_mac_where { H_MAC_BOTH = 0, H_MAC_FRONT, H_MAC_BACK };
void h_device_create(struct h_env *env, enum h_mac_where mac);

enum fnb_misbehave {
	FNB_GOOD = 0,
	FNB_TX_BAD_ID,        /* id beyond the shadow table */
	FNB_TX_DUP_ID,        /* answer one request twice */
	FNB_TX_STALE_ID,      /* right index, wrong generation */
	FNB_TX_BAD_STATUS,    /* status 7 */
	FNB_TX_NULL,          /* RSP_NULL for a data slot, no extras sent */
	FNB_TX_PROD_BEYOND,   /* rsp_prod far beyond the requests */
	FNB_RX_BAD_ID,        /* an id that was never posted there */
	FNB_RX_BAD_OFFSET,    /* offset + size past the page */
	FNB_RX_BAD_SIZE,      /* size past the page */
	FNB_RX_BAD_STATUS,    /* status -7 */
	FNB_RX_TOO_MANY_SLOTS,/* a packet of 20 data slots */
	FNB_RX_BAD_EXTRA,     /* extra info of an unknown type */
};

struct fnb_config {
	uint32_t max_queues;  /* 0: no multi-queue-max-queues key */
	bool split;           /* feature-split-event-channels */
	bool sg, gso4, gso6;
	bool no_csum, ipv6_csum;
	bool rx_copy, rx_flip;
	enum fnb_misbehave misbehave;
	uint32_t misbehave_after; /* frames handled well first */
};

/* A frame as it crossed the rings, with its netif flags. */
struct fnb_frame {
	uint32_t len;
	uint16_t flags;       /* tx: NETTXF_*; rx: NETRXF_* of slot 0 */
	uint16_t gso_type, gso_size;
	uint32_t slots;       /* data slots it used */
	uint32_t queue;
	pvio_grant_ref_t gref0; /* tx: the first data slot's grant and offset */
	uint16_t offset0;
	unsigned char data[PVIO_NETFRONT_MAX_FRAME];
};

struct fake_netback;
typedef void (*fnb_tx_fn)(struct fake_netback *fb, const struct fnb_frame *f, void *arg);

#define FNB_MAX_FRAMES 256

struct fake_netback {
	struct h_env *env;
	struct fnb_config cfg;
	pthread_t thr;
	_Atomic bool stop;
	_Atomic int phase;        /* 1 connected, 2 closed, -1 failed */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* tx frames received from the frontend (lock) */
	struct fnb_frame *tx[FNB_MAX_FRAMES];
	uint32_t nr_tx;
	/* rx frames to send to the frontend (lock) */
	struct fnb_frame *rx[FNB_MAX_FRAMES];
	uint32_t rx_head, rx_tail;
	_Atomic uint32_t rx_sent, rx_dropped, tx_handled;
	fnb_tx_fn on_tx;
	void *on_tx_arg;
	/* what the frontend published */
	uint32_t nr_queues_seen;
	bool split_seen, rx_copy_seen, rx_notify_seen, fe_sg, fe_gso4, fe_gso6,
	     fe_no_csum, fe_ipv6_csum;
	char err[256];
};

struct fake_netback *fnb_start(struct h_env *env, const struct fnb_config *cfg);
/* Stop serving (the frontend may still close), join, free. */
void fnb_stop(struct fake_netback *fb);
/* Queue a frame for the frontend (rx). flags NETRXF_csum_blank /
 * data_validated; gso_type/size add GSO extra info. */
void fnb_inject(struct fake_netback *fb, uint32_t queue, const void *data,
		uint32_t len, uint16_t flags, uint16_t gso_type, uint16_t gso_size);
/* Wait (up to 10 s) until at least n tx frames arrived; returns the
 * count. Frames stay owned by fb: read fb->tx[i] under no race after. */
uint32_t fnb_wait_tx(struct fake_netback *fb, uint32_t n);
/* Wait (up to 10 s) until the backend thread finished (phase 2). */
int fnb_wait_closed(struct fake_netback *fb);

#endif
