/* SPDX-License-Identifier: MIT */
/*
 * What the netback integration tests share: the machine (test_machine.h)
 * set up and torn down as a cmocka group, and a frontend played by hand
 * with the raw ring, grant, event-channel and xenbus APIs. Static
 * functions: each test program includes it once, after <cmocka.h>.
 */
#ifndef NB_TEST_FE_H
#define NB_TEST_FE_H

#include "../common/test_machine.h"

#define NDATA 64

/* ---- the machine ------------------------------------------------------------ */

/* The test's own part of the machine (its ports, its namespace). */
static int setup_more(struct env *e);

static int setup(void **state)
{
	env_up(65536, 32768, 0);
	assert_int_equal(setup_more(E), 0);
	*state = E;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	env_down();
	return 0;
}


/* ---- a frontend, played by hand ------------------------------------------------------- */

struct fq {
	struct pvio_ring_front tx, rx;
	uint32_t tx_pfn, rx_pfn;
	pvio_grant_ref_t tx_ref, rx_ref;
	uint32_t port_tx, port_rx;
};

struct fe_opts {
	uint32_t nq;      /* 0: no multi-queue key */
	bool split;
	bool flip;
	bool no_sg;
	bool gso4;
	bool gso6;        /* feature-gso-tcpv6 */
	bool gso4_prefix; /* feature-gso-tcpv4-prefix */
	bool gso6_prefix; /* feature-gso-tcpv6-prefix */
	bool csum6;       /* feature-ipv6-csum-offload */
	bool mcast;
};

struct fe {
	struct pvio_domain *d;
	struct pvio_xenbus_device x;
	uint32_t devid, nq;
	struct fe_opts o;
	struct fq q[4];
	uint32_t data_pfn;                 /* tx data pages */
	pvio_grant_ref_t data_ref[NDATA];
	uint32_t next_data;
	uint16_t next_id;
	uint32_t rx_buf_pfn;               /* rx buffers */
	pvio_grant_ref_t rx_ref[NDATA];
	uint32_t next_rx;
};

/* A guest: room for its rings and NDATA tx and rx pages, many times over. */
static struct pvio_domain *domain_new(const char *name)
{
	return domain_new_pages(name, 2048);
}

static void fe_write(struct fe *f, const char *key, uint64_t v)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];

	assert_int_equal(pvio_xs_join(path, sizeof(path), f->x.nodename, key), 0);
	assert_int_equal(pvio_xs_write_uint(f->d->xs, 0, path, v), 0);
}

static inline int be_read_str(struct fe *f, const char *key, char *buf, size_t size)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];

	assert_int_equal(pvio_xs_join(path, sizeof(path), f->x.otherend, key), 0);
	return pvio_xs_read(f->d->xs, 0, path, buf, size, NULL);
}

static inline uint64_t be_read(struct fe *f, const char *key)
{
	char path[PVIO_XENBUS_PATH_MAX + 64];
	uint64_t v = UINT64_MAX;

	assert_int_equal(pvio_xs_join(path, sizeof(path), f->x.otherend, key), 0);
	assert_int_equal(pvio_xs_read_uint(f->d->xs, 0, path, UINT64_MAX, &v), 0);
	return v;
}

/* Publish rings and keys, go Connected (as netfront: straight there).
 * Returns the wait for the backend's Connected. */
static int fe_connect(struct fe *f, struct pvio_domain *d, uint32_t devid,
		      const struct fe_opts *o)
{
	uint32_t nq = o->nq ? o->nq : 1;
	enum pvio_xenbus_state st;

	memset(f, 0, sizeof(*f));
	f->d = d;
	f->devid = devid;
	f->nq = nq;
	f->o = *o;
	assert_int_equal(pvio_xenbus_frontend_attach(&f->x, d->xs, "vif", d->domid, devid), 0);
	if (f->x.state == PVIO_XENBUS_CLOSED) { /* reconnect */
		uint64_t end = pvio_now_ns() + (uint64_t)WAIT_MS * 1000000u;

		assert_int_equal(pvio_xenbus_switch_state(&f->x, PVIO_XENBUS_INITIALISING), 0);
		/* the backend is Closed until it sees us: wait for InitWait */
		do {
			msleep(2);
			assert_true(pvio_now_ns() < end);
		} while (pvio_xenbus_read_otherend_state(&f->x, &st) != 0 ||
			 st != PVIO_XENBUS_INIT_WAIT);
	}
	assert_int_equal(pvio_xenbus_wait_otherend(&f->x, BIT(INIT_WAIT), WAIT_MS, &st), 0);
	for (uint32_t i = 0; i < nq; i++) {
		struct fq *q = &f->q[i];
		char key[64], sub[32] = "";

		if (nq > 1)
			snprintf(sub, sizeof(sub), "queue-%u/", i);
		assert_int_equal(pvio_domain_page_alloc(d, 1, &q->tx_pfn), 0);
		assert_int_equal(pvio_domain_page_alloc(d, 1, &q->rx_pfn), 0);
		assert_int_equal(pvio_gnt_grant(d->gnt, 0, q->tx_pfn, false, &q->tx_ref), 0);
		assert_int_equal(pvio_gnt_grant(d->gnt, 0, q->rx_pfn, false, &q->rx_ref), 0);
		assert_int_equal(pvio_netif_tx_front_init(&q->tx, pvio_domain_page(d, q->tx_pfn),
							  PVIO_PAGE_SIZE), 0);
		assert_int_equal(pvio_netif_rx_front_init(&q->rx, pvio_domain_page(d, q->rx_pfn),
							  PVIO_PAGE_SIZE), 0);
		snprintf(key, sizeof(key), "%stx-ring-ref", sub);
		fe_write(f, key, q->tx_ref);
		snprintf(key, sizeof(key), "%srx-ring-ref", sub);
		fe_write(f, key, q->rx_ref);
		assert_int_equal(pvio_evtchn_alloc_unbound(d->evtchn, 0, &q->port_tx), 0);
		if (o->split) {
			assert_int_equal(pvio_evtchn_alloc_unbound(d->evtchn, 0, &q->port_rx), 0);
			snprintf(key, sizeof(key), "%sevent-channel-tx", sub);
			fe_write(f, key, q->port_tx);
			snprintf(key, sizeof(key), "%sevent-channel-rx", sub);
			fe_write(f, key, q->port_rx);
		} else {
			q->port_rx = q->port_tx;
			snprintf(key, sizeof(key), "%sevent-channel", sub);
			fe_write(f, key, q->port_tx);
		}
	}
	if (o->nq)
		fe_write(f, "multi-queue-num-queues", o->nq);
	fe_write(f, "request-rx-copy", o->flip ? 0 : 1);
	fe_write(f, "feature-rx-notify", 1);
	fe_write(f, "feature-sg", o->no_sg ? 0 : 1);
	if (o->gso4)
		fe_write(f, "feature-gso-tcpv4", 1);
	if (o->gso6)
		fe_write(f, "feature-gso-tcpv6", 1);
	if (o->gso4_prefix)
		fe_write(f, "feature-gso-tcpv4-prefix", 1);
	if (o->gso6_prefix)
		fe_write(f, "feature-gso-tcpv6-prefix", 1);
	if (o->csum6)
		fe_write(f, "feature-ipv6-csum-offload", 1);
	if (o->mcast)
		fe_write(f, "request-multicast-control", 1);
	assert_int_equal(pvio_domain_page_alloc(d, NDATA, &f->data_pfn), 0);
	for (uint32_t k = 0; k < NDATA; k++)
		assert_int_equal(pvio_gnt_grant(d->gnt, 0, f->data_pfn + k, true,
						&f->data_ref[k]), 0);
	assert_int_equal(pvio_domain_page_alloc(d, NDATA, &f->rx_buf_pfn), 0);
	if (!o->flip)
		for (uint32_t k = 0; k < NDATA; k++)
			assert_int_equal(pvio_gnt_grant(d->gnt, 0, f->rx_buf_pfn + k, false,
							&f->rx_ref[k]), 0);
	assert_int_equal(pvio_xenbus_switch_state(&f->x, PVIO_XENBUS_CONNECTED), 0);
	return pvio_xenbus_wait_otherend(&f->x, BIT(CONNECTED), WAIT_MS, &st);
}

static void fe_close(struct fe *f)
{
	enum pvio_xenbus_state st;

	(void)pvio_xenbus_switch_state(&f->x, PVIO_XENBUS_CLOSING);
	(void)pvio_xenbus_wait_otherend(&f->x, BIT(CLOSING) | BIT(CLOSED), WAIT_MS, &st);
	(void)pvio_xenbus_switch_state(&f->x, PVIO_XENBUS_CLOSED);
	(void)pvio_xenbus_wait_otherend(&f->x, BIT(CLOSED), WAIT_MS, &st);
	(void)pvio_xenbus_detach(&f->x);
}

static void fe_kick(struct fe *f, uint32_t port)
{
	(void)pvio_evtchn_notify(f->d->evtchn, port);
}

/* Put raw requests on the tx ring and push. */
static void fe_put_raw(struct fe *f, uint32_t qi, const struct pvio_netif_tx_request *r,
		       uint32_t n)
{
	struct fq *q = &f->q[qi];

	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(pvio_ring_front_put_req(&q->tx, &r[i], sizeof(r[i])), 0);
	if (pvio_ring_front_push(&q->tx) == 1)
		fe_kick(f, q->port_tx);
}

/* Build a packet's slots: data copied into data pages, chunk bytes per
 * slot; an optional GSO extra (TCPv6 for an IPv6 frame, else TCPv4).
 * Returns the slot count (with extras). */
static uint32_t fe_tx(struct fe *f, uint32_t qi, const uint8_t *data, uint32_t len,
		      uint32_t chunk, uint16_t flags, uint16_t gso_size)
{
	struct pvio_netif_tx_request r[NB_FATAL_SLOTS_LIMIT];
	uint32_t n = 0, k = 0;

	for (uint32_t off = 0; off < len; off += chunk, k++) {
		uint32_t c = len - off < chunk ? len - off : chunk;
		uint32_t pg = f->next_data++ % NDATA;

		memcpy(pvio_domain_page(f->d, f->data_pfn + pg), data + off, c);
		r[n].gref = f->data_ref[pg];
		r[n].offset = 0;
		r[n].id = f->next_id++;
		r[n].size = (uint16_t)(k == 0 ? len : c);
		r[n].flags = off + c < len ? PVIO_NETTXF_more_data : 0;
		if (k == 0) {
			r[n].flags |= flags;
			if (gso_size) {
				struct pvio_netif_extra_info e;

				r[n].flags |= PVIO_NETTXF_extra_info;
				n++;
				memset(&e, 0, sizeof(e));
				e.type = PVIO_NETIF_EXTRA_TYPE_GSO;
				e.u.gso.size = gso_size;
				e.u.gso.type = data[12] == 0x86 && data[13] == 0xdd ?
					       PVIO_NETIF_GSO_TYPE_TCPV6 :
					       PVIO_NETIF_GSO_TYPE_TCPV4;
				memset(&r[n], 0, sizeof(r[n]));
				memcpy(&r[n], &e, sizeof(e));
			}
		}
		n++;
	}
	fe_put_raw(f, qi, r, n);
	return n;
}

static int fe_try_tx_rsp(struct fe *f, uint32_t qi, struct pvio_netif_tx_response *rsp)
{
	int r = pvio_netif_tx_front_get_rsp(&f->q[qi].tx, rsp);

	assert_true(r >= 0);
	return r;
}

/* Wait for n tx responses. */
static void fe_tx_rsps(struct fe *f, uint32_t qi, uint32_t n, struct pvio_netif_tx_response *out)
{
	uint64_t end = pvio_now_ns() + (uint64_t)WAIT_MS * 1000000u;

	for (uint32_t i = 0; i < n;) {
		if (fe_try_tx_rsp(f, qi, &out[i]) == 1) {
			i++;
			continue;
		}
		if (pvio_now_ns() > end)
			fail_msg("only %u of %u tx responses", i, n);
		msleep(1);
	}
}

/* Post n rx buffers (copy: the granted pages; flip: accept-transfer). */
static void fe_post_rx(struct fe *f, uint32_t qi, uint32_t n)
{
	struct fq *q = &f->q[qi];

	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = f->next_rx++ % NDATA;
		struct pvio_netif_rx_request r = { .id = (uint16_t)k };

		if (f->o.flip)
			assert_int_equal(pvio_gnt_grant_transfer(f->d->gnt, 0, f->rx_buf_pfn + k,
								 &f->rx_ref[k]), 0);
		r.gref = f->rx_ref[k];
		assert_int_equal(pvio_ring_front_put_req(&q->rx, &r, sizeof(r)), 0);
	}
	if (pvio_ring_front_push(&q->rx) == 1)
		fe_kick(f, q->port_rx);
}

static struct pvio_netif_rx_response fe_rx_rsp(struct fe *f, uint32_t qi)
{
	struct pvio_netif_rx_response r;
	uint64_t end = pvio_now_ns() + (uint64_t)WAIT_MS * 1000000u;

	for (;;) {
		int rc = pvio_netif_rx_front_get_rsp(&f->q[qi].rx, &r);

		assert_true(rc >= 0);
		if (rc == 1)
			return r;
		if (pvio_now_ns() > end)
			fail_msg("no rx response");
		msleep(1);
	}
}

struct rxinfo {
	uint32_t len;
	uint16_t flags;        /* first data slot */
	uint16_t gso_size;     /* from an extra or a prefix */
	uint8_t gso_type;
	bool prefix;           /* a gso_prefix slot came first */
	uint16_t prefix_status;
	uint32_t slots;
	uint32_t flipped_mfn;  /* flip: the frame that arrived */
};

/* Receive one packet into buf. */
static struct rxinfo fe_rx_pkt(struct fe *f, uint32_t qi, uint8_t *buf, size_t size)
{
	struct rxinfo in = { 0 };
	struct pvio_netif_rx_response r = fe_rx_rsp(f, qi);
	bool first = true, more;

	in.slots = 1;
	if (r.flags & PVIO_NETRXF_gso_prefix) {
		/* The prefix slot carries no data: it must say more follows. */
		assert_true(r.flags & PVIO_NETRXF_more_data);
		in.prefix = true;
		in.prefix_status = (uint16_t)r.status;
		in.gso_size = r.offset;
		r = fe_rx_rsp(f, qi);
		in.slots++;
	}
	do {
		uint32_t k = r.id % NDATA;
		const uint8_t *page;

		assert_true(r.status >= 0);
		if (f->o.flip) {
			uint32_t mfn = 0;

			assert_int_equal(pvio_gnt_transfer_end(f->d->gnt, f->rx_ref[k], &mfn), 0);
			in.flipped_mfn = mfn;
		}
		page = pvio_domain_page(f->d, f->rx_buf_pfn + k);
		assert_true(in.len + (uint32_t)r.status <= size);
		assert_true((uint32_t)r.offset + (uint32_t)r.status <= PVIO_PAGE_SIZE);
		memcpy(buf + in.len, page + r.offset, (size_t)r.status);
		in.len += (uint32_t)r.status;
		more = r.flags & PVIO_NETRXF_more_data;
		if (first) {
			in.flags = r.flags;
			first = false;
			if (r.flags & PVIO_NETRXF_extra_info) {
				struct pvio_netif_rx_response x = fe_rx_rsp(f, qi);
				struct pvio_netif_extra_info e;

				memcpy(&e, &x, sizeof(e));
				assert_int_equal(e.type, PVIO_NETIF_EXTRA_TYPE_GSO);
				in.gso_size = e.u.gso.size;
				in.gso_type = e.u.gso.type;
				in.slots++;
			}
		}
		if (more) {
			r = fe_rx_rsp(f, qi);
			in.slots++;
		}
	} while (more);
	return in;
}

/* ---- the wire -------------------------------------------------------------------------- */

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

/* An Ethernet frame dst <- src, ethertype 0x88b5, payload pattern. */
static void eth_frame(uint8_t *p, size_t n, const uint8_t *dst, const uint8_t *src,
		      unsigned seed)
{
	fill(p, n, seed);
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	p[12] = 0x88;
	p[13] = 0xb5;
}

/* An IPv4/TCP frame of n bytes (headers 54), checksum field = pseudo sum. */
static inline void tcp_frame(uint8_t *p, size_t n, const uint8_t *dst, const uint8_t *src)
{
	fill(p, n, 9);
	memcpy(p, dst, 6);
	memcpy(p + 6, src, 6);
	p[12] = 0x08;
	p[13] = 0x00;
	p[14] = 0x45;
	p[15] = 0;
	p[16] = (uint8_t)((n - 14) >> 8);
	p[17] = (uint8_t)(n - 14);
	p[20] = 0x40; /* DF */
	p[21] = 0;
	p[23] = 6;
	p[46] = 0x50; /* doff 5 */
}

#endif /* NB_TEST_FE_H */
