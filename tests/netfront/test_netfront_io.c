/* SPDX-License-Identifier: MIT */
/*
 * netfront against the test's netback (fake_back.c) over the real ring,
 * grant, event channel and store code, with pvio hostd in threads mode:
 * the handshake and its keys, tx in one and many slots, zero-copy and
 * copied, GSO extra info, checksum flags, rx-copy and rx-flip, multi-queue,
 * split event channels, a backend offering no optional feature, a
 * malicious backend, and a backend that dies.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pvio/xenbus.h>

#include "harness.h"

#define SEC 1000000000ull

static const struct fnb_config full_backend = {
	.max_queues = 4, .split = true, .sg = true, .gso4 = true, .gso6 = true,
	.ipv6_csum = true, .rx_copy = true, .rx_flip = true,
};
static const struct fnb_config bare_backend = { .rx_copy = true };

struct fx {
	struct h_env *env;
	struct fake_netback *fb;
	struct pvio_netfront *nf;
};

static struct fx *fx_open_mac(const struct fnb_config *bc,
			      const struct pvio_netfront_config *fc,
			      enum h_mac_where mac, int want)
{
	struct fx *x = calloc(1, sizeof(*x));

	x->env = h_env_new();
	h_device_create(x->env, mac);
	x->fb = fnb_start(x->env, bc);
	int err = pvio_netfront_open(x->env->frontp, H_PATH, fc, &x->nf);
	if (err != want)
		fprintf(stderr, "open: %d, backend: %s\n", err, x->fb->err);
	assert_int_equal(err, want);
	return x;
}

static struct fx *fx_open(const struct fnb_config *bc, const struct pvio_netfront_config *fc)
{
	return fx_open_mac(bc, fc, H_MAC_BOTH, 0);
}

static void fx_close(struct fx *x, int want_close)
{
	if (x->nf)
		assert_int_equal(pvio_netfront_close(x->nf), want_close);
	if (want_close == 0 && x->nf)
		assert_int_equal(fnb_wait_closed(x->fb), 0);
	fnb_stop(x->fb);
	h_env_free(x->env);
	free(x);
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 7 + seed + (i >> 8));
}

/* Receive one packet (waiting up to 10 s). Returns recv's count. */
static int recv_one(struct pvio_netfront *nf, uint32_t queue, struct pvio_netfront_pkt *pkt)
{
	for (int i = 0; i < 100; i++) {
		int n = pvio_netfront_recv_burst(nf, queue, pkt, 1);
		if (n != 0)
			return n;
		int err = pvio_netfront_wait(nf, PVIO_NETFRONT_WAIT_RX, SEC / 10);
		if (err && err != -ETIMEDOUT)
			return err;
	}
	return 0;
}

static int send_wait(struct pvio_netfront *nf, uint32_t queue, const struct pvio_netfront_pkt *p)
{
	int err = pvio_netfront_send(nf, queue, p);

	if (err)
		return err;
	return pvio_netfront_tx_drain(nf, 10 * SEC);
}

/* ---- handshake ---- */

static void handshake_publishes_keys_and_negotiates_features(void **state)
{
	struct pvio_netfront_config fc = { .max_queues = 2, .ipv6_csum_offload = true };
	struct pvio_netfront_info in;
	static const uint8_t mac[6] = { 0x00, 0x16, 0x3e, 0x12, 0x34, 0x56 };

	(void)state;
	struct fx *x = fx_open(&full_backend, &fc);
	assert_int_equal(pvio_netfront_get_info(x->nf, &in), 0);
	assert_memory_equal(in.mac, mac, 6);
	assert_int_equal(in.nr_queues, 2);
	assert_true(in.split_evtchn);
	assert_int_equal(in.rx_mode, PVIO_NETFRONT_RX_COPY);
	assert_true(in.tx_sg && in.tx_gso_tcpv4 && in.tx_gso_tcpv6);
	assert_true(in.tx_csum_ipv4 && in.tx_csum_ipv6);
	assert_int_equal(in.max_tx_slots, 18);
	assert_int_equal(in.max_tx_frame, 65535);
	assert_int_equal(in.tx_ring_slots, 256);
	assert_int_equal(in.rx_ring_slots, 256);
	assert_int_equal(in.mtu, 1500);
	assert_int_equal(x->fb->nr_queues_seen, 2);
	assert_true(x->fb->split_seen);
	assert_true(x->fb->rx_copy_seen);
	assert_true(x->fb->rx_notify_seen);
	assert_true(x->fb->fe_sg && x->fb->fe_gso4 && x->fb->fe_gso6);
	assert_false(x->fb->fe_no_csum);
	assert_true(x->fb->fe_ipv6_csum);
	assert_int_equal(pvio_netfront_error(x->nf), 0);
	assert_int_equal(pvio_netfront_check_backend(x->nf, 0), 0);
	fx_close(x, 0);
}

static void open_by_devid_reads_mac_from_backend_dir_and_closes(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));
	struct pvio_netfront_info in;
	char val[16];

	(void)state;
	x->env = h_env_new();
	h_device_create(x->env, H_MAC_BACK);
	x->fb = fnb_start(x->env, &bare_backend);
	assert_int_equal(pvio_netfront_open_devid(x->env->frontp, H_DEVID, NULL, &x->nf), 0);
	assert_int_equal(pvio_netfront_get_info(x->nf, &in), 0);
	assert_int_equal(in.mac[5], 0x56);
	assert_int_equal(pvio_netfront_close(x->nf), 0);
	x->nf = NULL;
	assert_int_equal(fnb_wait_closed(x->fb), 0);
	assert_int_equal(pvio_xs_read(x->env->frontp->xs, 0, H_PATH "/state", val,
				      sizeof(val), NULL), 0);
	assert_string_equal(val, "6");
	fx_close(x, 0);
}

static void backend_without_rx_copy_or_flip_fails_open(void **state)
{
	struct fnb_config bc = { 0 };

	(void)state;
	struct pvio_netfront_config fc = { .timeout_ms = 3000 };
	struct fx *x = fx_open_mac(&bc, &fc, H_MAC_BOTH, -EPROTO);
	x->nf = NULL;
	fx_close(x, 0);
}

/* ---- tx ---- */

static void tx_single_slot_frame_arrives_intact(void **state)
{
	unsigned char buf[1514];
	struct pvio_netfront_pkt p = { .data = buf, .len = sizeof(buf) };
	struct pvio_netfront_stats st;

	(void)state;
	struct fx *x = fx_open(&bare_backend, NULL);
	fill(buf, sizeof(buf), 1);
	assert_int_equal(send_wait(x->nf, 0, &p), 0);
	assert_int_equal(fnb_wait_tx(x->fb, 1), 1);
	assert_int_equal(x->fb->tx[0]->len, sizeof(buf));
	assert_int_equal(x->fb->tx[0]->slots, 1);
	assert_memory_equal(x->fb->tx[0]->data, buf, sizeof(buf));
	pvio_netfront_get_stats(x->nf, &st);
	assert_int_equal(st.tx_packets, 1);
	assert_int_equal(st.tx_bytes, sizeof(buf));
	assert_int_equal(st.tx_copied, 1);
	assert_int_equal(st.revokes_pending, 0);
	fx_close(x, 0);
}

static void tx_multi_slot_frames_copied_and_zero_copy_arrive_intact(void **state)
{
	static unsigned char big[9000];
	struct pvio_netfront_stats st;
	void *zc;

	(void)state;
	struct fx *x = fx_open(&full_backend, NULL);
	fill(big, sizeof(big), 3);
	struct pvio_netfront_pkt p = { .data = big, .len = sizeof(big) };
	assert_int_equal(send_wait(x->nf, 0, &p), 0);
	/* Zero-copy: 9000 bytes starting 1000 into a buffer page: 3 slots. */
	assert_int_equal(pvio_netfront_buf_alloc(x->nf, 4 * 4096, &zc), 0);
	memcpy((unsigned char *)zc + 1000, big, sizeof(big));
	p.data = (unsigned char *)zc + 1000;
	assert_int_equal(send_wait(x->nf, 0, &p), 0);
	/* The maximum frame. */
	static unsigned char max[65535];
	fill(max, sizeof(max), 9);
	p = (struct pvio_netfront_pkt){ .data = max, .len = sizeof(max) };
	assert_int_equal(send_wait(x->nf, 0, &p), 0);
	assert_int_equal(fnb_wait_tx(x->fb, 3), 3);
	assert_int_equal(x->fb->tx[0]->slots, 3);
	assert_int_equal(x->fb->tx[0]->len, sizeof(big));
	assert_memory_equal(x->fb->tx[0]->data, big, sizeof(big));
	assert_int_equal(x->fb->tx[1]->slots, 3);
	assert_memory_equal(x->fb->tx[1]->data, big, sizeof(big));
	assert_int_equal(x->fb->tx[2]->slots, 16);
	assert_int_equal(x->fb->tx[2]->len, sizeof(max));
	assert_memory_equal(x->fb->tx[2]->data, max, sizeof(max));
	pvio_netfront_get_stats(x->nf, &st);
	assert_int_equal(st.tx_zero_copy, 1);
	assert_int_equal(st.tx_copied, 2);
	assert_int_equal(st.tx_slots, 22);
	assert_int_equal(pvio_netfront_buf_free(x->nf, zc), 0);
	fx_close(x, 0);
}

static void tx_gso_frame_carries_extra_info_and_csum_blank(void **state)
{
	static unsigned char buf[30000];
	struct pvio_netfront_pkt p = { .data = buf, .len = sizeof(buf),
				       .flags = PVIO_NETFRONT_F_CSUM_BLANK,
				       .gso_type = PVIO_NETFRONT_GSO_TCPV4, .gso_size = 1448 };
	struct pvio_netfront_stats st;
	/* TCPv6 GSO needs IPv6 checksum offload, which is opt-in. */
	struct pvio_netfront_config fc = { .ipv6_csum_offload = true };

	(void)state;
	struct fx *x = fx_open(&full_backend, &fc);
	fill(buf, sizeof(buf), 5);
	assert_int_equal(send_wait(x->nf, 0, &p), 0);
	p.gso_type = PVIO_NETFRONT_GSO_TCPV6;
	p.gso_size = 1428;
	assert_int_equal(send_wait(x->nf, 0, &p), 0);
	assert_int_equal(fnb_wait_tx(x->fb, 2), 2);
	const struct fnb_frame *f = x->fb->tx[0];
	assert_int_equal(f->gso_type, PVIO_NETIF_GSO_TYPE_TCPV4);
	assert_int_equal(f->gso_size, 1448);
	assert_true(f->flags & PVIO_NETTXF_extra_info);
	assert_true(f->flags & PVIO_NETTXF_csum_blank);
	assert_true(f->flags & PVIO_NETTXF_data_validated);
	assert_memory_equal(f->data, buf, sizeof(buf));
	assert_int_equal(x->fb->tx[1]->gso_type, PVIO_NETIF_GSO_TYPE_TCPV6);
	assert_int_equal(x->fb->tx[1]->gso_size, 1428);
	pvio_netfront_get_stats(x->nf, &st);
	assert_int_equal(st.tx_gso, 2);
	assert_int_equal(st.tx_packets, 2);
	/* GSO without csum_blank, or of an unknown type: refused. */
	p.flags = 0;
	assert_int_equal(pvio_netfront_send(x->nf, 0, &p), -EINVAL);
	p.flags = PVIO_NETFRONT_F_CSUM_BLANK;
	p.gso_type = 9;
	assert_int_equal(pvio_netfront_send(x->nf, 0, &p), -EINVAL);
	fx_close(x, 0);
}

static void tx_checksum_flags_follow_the_packet(void **state)
{
	unsigned char buf[200];
	struct pvio_netfront_pkt p = { .data = buf, .len = sizeof(buf),
				       .flags = PVIO_NETFRONT_F_DATA_VALIDATED };

	(void)state;
	struct fx *x = fx_open(&full_backend, NULL);
	fill(buf, sizeof(buf), 2);
	assert_int_equal(send_wait(x->nf, 0, &p), 0);
	p.flags = 0;
	assert_int_equal(send_wait(x->nf, 0, &p), 0);
	p.flags = PVIO_NETFRONT_F_CSUM_BLANK;
	assert_int_equal(send_wait(x->nf, 0, &p), 0);
	assert_int_equal(fnb_wait_tx(x->fb, 3), 3);
	assert_int_equal(x->fb->tx[0]->flags, PVIO_NETTXF_data_validated);
	assert_int_equal(x->fb->tx[1]->flags, 0);
	assert_int_equal(x->fb->tx[2]->flags,
			 PVIO_NETTXF_csum_blank | PVIO_NETTXF_data_validated);
	fx_close(x, 0);
}

struct done_log {
	int calls;
	int status;
	void *user;
};

static void on_done(void *arg, void *user, int status)
{
	struct done_log *l = arg;

	l->calls++;
	l->status = status;
	l->user = user;
}

static void tx_done_reports_each_packet_and_burst_sends_all(void **state)
{
	struct done_log log = { 0 };
	struct pvio_netfront_config fc = { .tx_done = on_done, .tx_done_arg = &log };
	unsigned char buf[8][300];
	struct pvio_netfront_pkt p[8];

	(void)state;
	struct fx *x = fx_open(&full_backend, &fc);
	for (int i = 0; i < 8; i++) {
		fill(buf[i], sizeof(buf[i]), (unsigned)i);
		p[i] = (struct pvio_netfront_pkt){ .data = buf[i], .len = 300,
						   .user = &buf[i] };
	}
	assert_int_equal(pvio_netfront_send_burst(x->nf, 0, p, 8), 8);
	assert_int_equal(pvio_netfront_tx_drain(x->nf, 10 * SEC), 0);
	assert_int_equal(log.calls, 8);
	assert_int_equal(log.status, 0);
	assert_ptr_equal(log.user, &buf[7]);
	assert_int_equal(fnb_wait_tx(x->fb, 8), 8);
	for (int i = 0; i < 8; i++)
		assert_memory_equal(x->fb->tx[i]->data, buf[i], 300);
	fx_close(x, 0);
}

static void tx_many_packets_fill_and_drain_the_ring(void **state)
{
	unsigned char buf[1500];
	struct pvio_netfront_pkt p = { .data = buf, .len = sizeof(buf) };
	struct pvio_netfront_stats st;
	int sent = 0;

	(void)state;
	struct fx *x = fx_open(&full_backend, NULL);
	fill(buf, sizeof(buf), 4);
	while (sent < 2000) {
		int err = pvio_netfront_send(x->nf, 0, &p);
		if (err == -EAGAIN) {
			assert_int_equal(pvio_netfront_wait(x->nf, PVIO_NETFRONT_WAIT_TX, 10 * SEC), 0);
			continue;
		}
		assert_int_equal(err, 0);
		sent++;
	}
	assert_int_equal(pvio_netfront_tx_drain(x->nf, 10 * SEC), 0);
	pvio_netfront_get_stats(x->nf, &st);
	assert_int_equal(st.tx_packets, 2000);
	/* Copy pages stay granted: two 1500-byte frames share one, and at
	 * most the 256-slot ring's worth are in flight. Those 256 frames can
	 * start on the second chunk of one page and end on the first of
	 * another (129 pages), and the page being filled is kept too: 130
	 * at most, where a grant per packet would be thousands. The close
	 * ends them (fx_close wants 0: no grant left). */
	uint64_t held = st.grants - st.revokes, fixed = 2 * 1 /* rings */ + 256 /* rx posted */;
	if (held < fixed + 1 || held - fixed > 130)
		print_message("grants %llu revokes %llu (deferred %llu, pending %llu), "
			      "rx posted %llu\n", (unsigned long long)st.grants,
			      (unsigned long long)st.revokes,
			      (unsigned long long)st.revokes_deferred,
			      (unsigned long long)st.revokes_pending,
			      (unsigned long long)st.rx_posted);
	assert_true(held >= fixed + 1);
	assert_true(held - fixed <= 130);
	fx_close(x, 0);
}

/* A burst of small frames is copied into 64-byte aligned chunks of one
 * page, granted once, so the backend pins one page for the burst; the
 * page is reused, not granted again, once the frames are answered. */
static void tx_small_frames_share_one_persistently_granted_page(void **state)
{
	unsigned char buf[32][100];
	struct pvio_netfront_pkt p[32];
	struct pvio_netfront_stats st0, st;

	(void)state;
	struct fx *x = fx_open(&full_backend, NULL);
	for (int i = 0; i < 32; i++) {
		fill(buf[i], sizeof(buf[i]), (unsigned)i + 40);
		p[i] = (struct pvio_netfront_pkt){ .data = buf[i], .len = 60 + (uint32_t)i };
	}
	pvio_netfront_get_stats(x->nf, &st0);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(pvio_netfront_send_burst(x->nf, 0, p, 32), 32);
		assert_int_equal(pvio_netfront_tx_drain(x->nf, 10 * SEC), 0);
	}
	assert_int_equal(fnb_wait_tx(x->fb, 64), 64);
	for (int i = 0; i < 64; i++) {
		const struct fnb_frame *f = x->fb->tx[i];

		assert_int_equal(f->len, 60 + i % 32);
		assert_memory_equal(f->data, buf[i % 32], f->len);
		assert_int_equal(f->gref0, x->fb->tx[0]->gref0);
		assert_int_equal(f->offset0 % 64, 0);
		if (i % 32)
			assert_true(f->offset0 > x->fb->tx[i - 1]->offset0);
	}
	pvio_netfront_get_stats(x->nf, &st);
	assert_int_equal(st.grants - st0.grants, 1);
	assert_int_equal(st.revokes, st0.revokes);
	fx_close(x, 0);
}

/* ---- rx ---- */

static void rx_copy_delivers_identical_bytes_in_one_and_many_slots(void **state)
{
	static unsigned char frame[20000], got[65536];
	struct pvio_netfront_pkt p = { .data = got, .cap = sizeof(got) };
	struct pvio_netfront_stats st;

	(void)state;
	struct fx *x = fx_open(&full_backend, NULL);
	fill(frame, sizeof(frame), 11);
	fnb_inject(x->fb, 0, frame, 60, 0, 0, 0);
	fnb_inject(x->fb, 0, frame, sizeof(frame), PVIO_NETRXF_data_validated, 0, 0);
	assert_int_equal(recv_one(x->nf, 0, &p), 1);
	assert_int_equal(p.len, 60);
	assert_memory_equal(got, frame, 60);
	assert_int_equal(recv_one(x->nf, PVIO_NETFRONT_QUEUE_ANY, &p), 1);
	assert_int_equal(p.len, sizeof(frame));
	assert_int_equal(p.flags, PVIO_NETFRONT_F_DATA_VALIDATED);
	assert_memory_equal(got, frame, sizeof(frame));
	/* A buffer too small: cut and flagged. */
	fnb_inject(x->fb, 0, frame, 3000, 0, 0, 0);
	p.cap = 1000;
	assert_int_equal(recv_one(x->nf, 0, &p), 1);
	assert_int_equal(p.len, 3000);
	assert_true(p.flags & PVIO_NETFRONT_F_TRUNCATED);
	assert_memory_equal(got, frame, 1000);
	pvio_netfront_get_stats(x->nf, &st);
	assert_int_equal(st.rx_packets, 3);
	assert_int_equal(st.rx_slots, 1 + 5 + 1);
	assert_int_equal(st.rx_copies, 7);
	assert_int_equal(st.rx_truncated, 1);
	assert_int_equal(st.rx_errors, 0);
	fx_close(x, 0);
}

/*
 * An rx-copy pool page is granted once and keeps its grant while the vif
 * is connected: three ring-fulls of packets cost no more grants than the
 * pool has pages and no revokes; every byte still arrives; close ends
 * every one of those grants (it returns 0 only with none left).
 */
static void rx_copy_pages_keep_their_grants_while_connected(void **state)
{
	static unsigned char frame[1000], got[2048];
	struct pvio_netfront_pkt p = { .data = got, .cap = sizeof(got) };
	struct pvio_netfront_stats st;
	const unsigned total = 768, batch = 128;

	(void)state;
	struct fx *x = fx_open(&bare_backend, NULL);
	for (unsigned done = 0; done < total; done += batch) {
		for (unsigned i = 0; i < batch; i++) {
			fill(frame, sizeof(frame), done + i);
			fnb_inject(x->fb, 0, frame, 100 + (done + i) % 900, 0, 0, 0);
		}
		for (unsigned i = 0; i < batch; i++) {
			assert_int_equal(recv_one(x->nf, 0, &p), 1);
			fill(frame, sizeof(frame), done + i);
			assert_int_equal(p.len, 100 + (done + i) % 900);
			assert_memory_equal(got, frame, p.len);
		}
	}
	pvio_netfront_get_stats(x->nf, &st);
	assert_int_equal(st.rx_packets, total);
	assert_true(st.rx_posted > total);
	/* 2 rings + the pool: the ring's 256 pages and a few spare */
	assert_true(st.grants <= 2 + 256 + 32);
	assert_int_equal(st.revokes, 0);
	assert_int_equal(st.revokes_pending, 0);
	fx_close(x, 0);
}

struct cb_log {
	unsigned char data[65536];
	uint32_t len, frags;
	uint16_t flags, gso_type, gso_size;
};

static void on_rx(void *arg, const struct pvio_netfront_rx *pkt)
{
	struct cb_log *l = arg;
	uint32_t pos = 0;

	for (uint32_t i = 0; i < pkt->nr_frags; i++) {
		memcpy(l->data + pos, pkt->frags[i].data, pkt->frags[i].len);
		pos += pkt->frags[i].len;
	}
	l->len = pkt->len;
	l->frags = pkt->nr_frags;
	l->flags = pkt->flags;
	l->gso_type = pkt->gso_type;
	l->gso_size = pkt->gso_size;
}

static int recv_cb_one(struct pvio_netfront *nf, struct cb_log *l)
{
	for (int i = 0; i < 100; i++) {
		int n = pvio_netfront_recv_cb(nf, PVIO_NETFRONT_QUEUE_ANY, on_rx, l, 1);
		if (n != 0)
			return n;
		pvio_netfront_wait(nf, PVIO_NETFRONT_WAIT_RX, SEC / 10);
	}
	return 0;
}

static void rx_gso_extra_info_and_csum_flags_reach_the_callback(void **state)
{
	static unsigned char frame[40000];
	static struct cb_log l;
	struct pvio_netfront_stats st;

	(void)state;
	struct fx *x = fx_open(&full_backend, NULL);
	fill(frame, sizeof(frame), 21);
	fnb_inject(x->fb, 0, frame, sizeof(frame), PVIO_NETRXF_csum_blank,
		   PVIO_NETIF_GSO_TYPE_TCPV4, 1448);
	assert_int_equal(recv_cb_one(x->nf, &l), 1);
	assert_int_equal(l.len, sizeof(frame));
	assert_int_equal(l.frags, 10);
	assert_memory_equal(l.data, frame, sizeof(frame));
	assert_int_equal(l.flags, PVIO_NETFRONT_F_CSUM_BLANK | PVIO_NETFRONT_F_DATA_VALIDATED);
	assert_int_equal(l.gso_type, PVIO_NETFRONT_GSO_TCPV4);
	assert_int_equal(l.gso_size, 1448);
	pvio_netfront_get_stats(x->nf, &st);
	assert_int_equal(st.rx_gso, 1);
	assert_int_equal(st.rx_errors, 0);
	fx_close(x, 0);
}

static void rx_flip_delivers_the_same_bytes_as_rx_copy(void **state)
{
	static unsigned char frame[12000], got_copy[65536], got_flip[65536];
	struct pvio_netfront_config fc = { .rx_mode = PVIO_NETFRONT_RX_FLIP };
	struct pvio_netfront_info in;
	struct pvio_netfront_stats st;
	struct pvio_netfront_pkt p;

	(void)state;
	fill(frame, sizeof(frame), 33);
	/* rx-copy */
	struct fx *x = fx_open(&full_backend, NULL);
	fnb_inject(x->fb, 0, frame, sizeof(frame), 0, 0, 0);
	p = (struct pvio_netfront_pkt){ .data = got_copy, .cap = sizeof(got_copy) };
	assert_int_equal(recv_one(x->nf, 0, &p), 1);
	assert_int_equal(p.len, sizeof(frame));
	fx_close(x, 0);
	/* rx-flip */
	x = fx_open(&full_backend, &fc);
	assert_int_equal(pvio_netfront_get_info(x->nf, &in), 0);
	assert_int_equal(in.rx_mode, PVIO_NETFRONT_RX_FLIP);
	assert_false(x->fb->rx_copy_seen);
	for (int i = 0; i < 300; i++) /* more than the ring: buffers reposted */
		fnb_inject(x->fb, 0, frame, i == 299 ? sizeof(frame) : 100, 0, 0, 0);
	for (int i = 0; i < 300; i++) {
		p = (struct pvio_netfront_pkt){ .data = got_flip, .cap = sizeof(got_flip) };
		assert_int_equal(recv_one(x->nf, 0, &p), 1);
	}
	assert_int_equal(p.len, sizeof(frame));
	assert_memory_equal(got_flip, got_copy, sizeof(frame));
	assert_memory_equal(got_flip, frame, sizeof(frame));
	pvio_netfront_get_stats(x->nf, &st);
	assert_int_equal(st.rx_flips, 299 + 3);
	assert_int_equal(st.rx_copies, 0);
	assert_int_equal(st.rx_errors + st.rx_dropped, 0);
	fx_close(x, 0);
}

static void flip_asked_but_not_offered_falls_back_to_copy(void **state)
{
	struct pvio_netfront_config fc = { .rx_mode = PVIO_NETFRONT_RX_FLIP };
	struct pvio_netfront_info in;

	(void)state;
	struct fx *x = fx_open(&bare_backend, &fc);
	assert_int_equal(pvio_netfront_get_info(x->nf, &in), 0);
	assert_int_equal(in.rx_mode, PVIO_NETFRONT_RX_COPY);
	assert_true(x->fb->rx_copy_seen);
	fx_close(x, 0);
}

static void manual_refill_posts_only_what_is_asked(void **state)
{
	struct pvio_netfront_config fc = { .rx_buffers = 4, .manual_refill = true };
	unsigned char frame[100], got[2048];
	struct pvio_netfront_pkt p = { .data = got, .cap = sizeof(got) };
	struct pvio_netfront_stats st;

	(void)state;
	struct fx *x = fx_open(&bare_backend, &fc);
	fill(frame, sizeof(frame), 1);
	for (int i = 0; i < 6; i++)
		fnb_inject(x->fb, 0, frame, sizeof(frame), 0, 0, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(recv_one(x->nf, 0, &p), 1);
	/* No buffers left: nothing more arrives until we post. */
	assert_int_equal(pvio_netfront_wait(x->nf, PVIO_NETFRONT_WAIT_RX, SEC / 5), -ETIMEDOUT);
	assert_int_equal(pvio_netfront_recv_burst(x->nf, 0, &p, 1), 0);
	assert_int_equal(pvio_netfront_rx_refill(x->nf, 0, 2), 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(recv_one(x->nf, 0, &p), 1);
	pvio_netfront_get_stats(x->nf, &st);
	assert_int_equal(st.rx_packets, 6);
	assert_int_equal(st.rx_posted, 6);
	fx_close(x, 0);
}

/* ---- queues, event channels, minimal backend ---- */

static void multi_queue_carries_traffic_on_every_queue(void **state)
{
	struct pvio_netfront_config fc = { .max_queues = 8 };
	struct pvio_netfront_info in;
	unsigned char buf[700], got[2048];
	struct pvio_netfront_pkt p = { .data = buf, .len = sizeof(buf) };

	(void)state;
	struct fnb_config bc = full_backend;
	bc.split = false;
	struct fx *x = fx_open(&bc, &fc);
	assert_int_equal(pvio_netfront_get_info(x->nf, &in), 0);
	assert_int_equal(in.nr_queues, 4); /* the backend's max */
	assert_false(in.split_evtchn);
	assert_int_equal(x->fb->nr_queues_seen, 4);
	assert_false(x->fb->split_seen);
	for (uint32_t q = 0; q < 4; q++) {
		fill(buf, sizeof(buf), q);
		assert_int_equal(send_wait(x->nf, q, &p), 0);
		fnb_inject(x->fb, q, buf, sizeof(buf), 0, 0, 0);
	}
	assert_int_equal(fnb_wait_tx(x->fb, 4), 4);
	for (uint32_t q = 0; q < 4; q++) {
		assert_int_equal(x->fb->tx[q]->queue, q);
		struct pvio_netfront_pkt r = { .data = got, .cap = sizeof(got) };
		assert_int_equal(recv_one(x->nf, q, &r), 1);
		assert_int_equal(r.queue, q);
		fill(buf, sizeof(buf), q);
		assert_memory_equal(got, buf, sizeof(buf));
	}
	assert_int_equal(pvio_netfront_send(x->nf, 4, &p), -EINVAL);
	fx_close(x, 0);
}

static void split_event_channels_carry_tx_and_rx(void **state)
{
	struct pvio_netfront_info in;
	unsigned char buf[1000], got[2048];
	struct pvio_netfront_pkt p = { .data = buf, .len = sizeof(buf) };
	struct pvio_netfront_pkt r = { .data = got, .cap = sizeof(got) };

	(void)state;
	struct fx *x = fx_open(&full_backend, NULL);
	assert_int_equal(pvio_netfront_get_info(x->nf, &in), 0);
	assert_true(in.split_evtchn);
	assert_true(x->fb->split_seen);
	fill(buf, sizeof(buf), 8);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(send_wait(x->nf, 0, &p), 0);
		fnb_inject(x->fb, 0, buf, sizeof(buf), 0, 0, 0);
		assert_int_equal(recv_one(x->nf, 0, &r), 1);
		assert_memory_equal(got, buf, sizeof(buf));
	}
	assert_int_equal(fnb_wait_tx(x->fb, 50), 50);
	fx_close(x, 0);
}

static void backend_without_optional_features_still_works(void **state)
{
	unsigned char buf[1514], got[4096];
	static unsigned char big[5000];
	struct pvio_netfront_pkt p = { .data = buf, .len = sizeof(buf) };
	struct pvio_netfront_pkt r = { .data = got, .cap = sizeof(got) };
	struct pvio_netfront_info in;
	struct pvio_netfront_config fc = { .max_queues = 4 };
	void *zc;

	(void)state;
	struct fnb_config bc = bare_backend;
	bc.no_csum = true;
	struct fx *x = fx_open(&bc, &fc);
	assert_int_equal(pvio_netfront_get_info(x->nf, &in), 0);
	assert_int_equal(in.nr_queues, 1);
	assert_false(in.split_evtchn || in.tx_sg || in.tx_gso_tcpv4 || in.tx_csum_ipv4);
	assert_int_equal(in.max_tx_slots, 1);
	assert_int_equal(in.max_tx_frame, 4096);
	assert_int_equal(x->fb->nr_queues_seen, 1);
	fill(buf, sizeof(buf), 6);
	assert_int_equal(send_wait(x->nf, 0, &p), 0);
	/* A zero-copy frame across a page boundary goes out copied. */
	assert_int_equal(pvio_netfront_buf_alloc(x->nf, 8192, &zc), 0);
	memcpy((unsigned char *)zc + 4000, buf, sizeof(buf));
	p.data = (unsigned char *)zc + 4000;
	assert_int_equal(send_wait(x->nf, 0, &p), 0);
	assert_int_equal(fnb_wait_tx(x->fb, 2), 2);
	assert_int_equal(x->fb->tx[1]->slots, 1);
	assert_memory_equal(x->fb->tx[1]->data, buf, sizeof(buf));
	p.data = big;
	p.len = sizeof(big);
	assert_int_equal(pvio_netfront_send(x->nf, 0, &p), -EMSGSIZE);
	p.data = buf;
	p.len = sizeof(buf);
	p.flags = PVIO_NETFRONT_F_CSUM_BLANK;
	assert_int_equal(pvio_netfront_send(x->nf, 0, &p), -EOPNOTSUPP);
	fnb_inject(x->fb, 0, buf, sizeof(buf), 0, 0, 0);
	assert_int_equal(recv_one(x->nf, 0, &r), 1);
	assert_int_equal(r.len, sizeof(buf));
	assert_memory_equal(got, buf, sizeof(buf));
	assert_int_equal(pvio_netfront_buf_free(x->nf, zc), 0);
	fx_close(x, 0);
}

/* ---- a malicious backend ---- */

static void expect_tx_breaks(enum fnb_misbehave m)
{
	unsigned char buf[400];
	struct pvio_netfront_pkt p = { .data = buf, .len = sizeof(buf) };
	struct pvio_netfront_stats st;
	struct fnb_config bc = full_backend;
	int err = 0;

	bc.misbehave = m;
	bc.misbehave_after = 2;
	struct fx *x = fx_open(&bc, NULL);
	fill(buf, sizeof(buf), 1);
	for (int i = 0; i < 2; i++)
		assert_int_equal(send_wait(x->nf, 0, &p), 0);
	/* The third (and, for a duplicate, a fourth) meets the lie. */
	for (int i = 0; i < 4 && err == 0; i++) {
		err = pvio_netfront_send(x->nf, 0, &p);
		if (err == 0)
			err = pvio_netfront_tx_drain(x->nf, 10 * SEC);
	}
	assert_int_equal(err, -EIO);
	assert_int_equal(pvio_netfront_error(x->nf), -EPROTO);
	assert_int_equal(pvio_netfront_send(x->nf, 0, &p), -EIO);
	pvio_netfront_get_stats(x->nf, &st);
	assert_int_equal(st.protocol_errors, 1);
	assert_true(st.tx_packets >= 2);
	fx_close(x, 0);
}

static void tx_bad_id_breaks_the_device(void **state)
{
	(void)state;
	expect_tx_breaks(FNB_TX_BAD_ID);
}

static void tx_stale_id_breaks_the_device(void **state)
{
	(void)state;
	expect_tx_breaks(FNB_TX_STALE_ID);
}

static void tx_duplicate_id_breaks_the_device(void **state)
{
	(void)state;
	expect_tx_breaks(FNB_TX_DUP_ID);
}

static void tx_unknown_status_breaks_the_device(void **state)
{
	(void)state;
	expect_tx_breaks(FNB_TX_BAD_STATUS);
}

static void tx_null_without_extra_breaks_the_device(void **state)
{
	(void)state;
	expect_tx_breaks(FNB_TX_NULL);
}

static void tx_response_producer_beyond_requests_breaks_the_device(void **state)
{
	(void)state;
	expect_tx_breaks(FNB_TX_PROD_BEYOND);
}

static void rx_bad_id_breaks_the_device(void **state)
{
	unsigned char buf[300], got[4096];
	struct pvio_netfront_pkt r = { .data = got, .cap = sizeof(got) };
	struct fnb_config bc = full_backend;

	(void)state;
	bc.misbehave = FNB_RX_BAD_ID;
	bc.misbehave_after = 1;
	struct fx *x = fx_open(&bc, NULL);
	fill(buf, sizeof(buf), 1);
	fnb_inject(x->fb, 0, buf, sizeof(buf), 0, 0, 0);
	assert_int_equal(recv_one(x->nf, 0, &r), 1);
	fnb_inject(x->fb, 0, buf, sizeof(buf), 0, 0, 0);
	assert_int_equal(recv_one(x->nf, 0, &r), -EIO);
	assert_int_equal(pvio_netfront_error(x->nf), -EPROTO);
	fx_close(x, 0);
}

/* A bad packet is dropped and counted; the next good one arrives. */
static void expect_rx_drop(enum fnb_misbehave m, uint32_t len)
{
	static unsigned char buf[3000], got[65536];
	struct pvio_netfront_pkt r = { .data = got, .cap = sizeof(got) };
	struct pvio_netfront_stats st;
	struct fnb_config bc = full_backend;

	bc.misbehave = m;
	bc.misbehave_after = 1;
	struct fx *x = fx_open(&bc, NULL);
	fill(buf, sizeof(buf), 1);
	fnb_inject(x->fb, 0, buf, len, 0, 0, 0);
	assert_int_equal(recv_one(x->nf, 0, &r), 1);
	fnb_inject(x->fb, 0, buf, len, 0, PVIO_NETIF_GSO_TYPE_TCPV4, 1000);
	/* The backend misbehaves from now on: wait for the drop count. */
	for (int i = 0; i < 100; i++) {
		pvio_netfront_recv_burst(x->nf, 0, &r, 1);
		pvio_netfront_get_stats(x->nf, &st);
		if (st.rx_errors + st.rx_dropped)
			break;
		pvio_netfront_wait(x->nf, PVIO_NETFRONT_WAIT_RX, SEC / 10);
	}
	pvio_netfront_get_stats(x->nf, &st);
	assert_int_equal(st.rx_errors, 1);
	assert_int_equal(st.rx_packets, 1);
	assert_int_equal(st.protocol_errors, 0);
	assert_int_equal(pvio_netfront_error(x->nf), 0);
	fx_close(x, 0);
}

static void rx_offset_past_the_page_drops_the_packet(void **state)
{
	(void)state;
	expect_rx_drop(FNB_RX_BAD_OFFSET, 200);
}

static void rx_size_past_the_page_drops_the_packet(void **state)
{
	(void)state;
	expect_rx_drop(FNB_RX_BAD_SIZE, 200);
}

static void rx_unknown_status_drops_the_packet(void **state)
{
	(void)state;
	expect_rx_drop(FNB_RX_BAD_STATUS, 200);
}

static void rx_too_many_slots_drops_the_packet(void **state)
{
	(void)state;
	expect_rx_drop(FNB_RX_TOO_MANY_SLOTS, 1280);
}

static void rx_unknown_extra_type_drops_the_packet(void **state)
{
	(void)state;
	expect_rx_drop(FNB_RX_BAD_EXTRA, 200);
}

/* ---- a backend that dies ---- */

static void backend_dying_fails_io_and_close_completes(void **state)
{
	unsigned char buf[500], got[2048];
	struct pvio_netfront_pkt p = { .data = buf, .len = sizeof(buf) };
	struct pvio_netfront_pkt r = { .data = got, .cap = sizeof(got) };
	struct pvio_netfront_config fc = { .timeout_ms = 1000 };
	int err = 0;

	(void)state;
	struct fx *x = fx_open(&full_backend, &fc);
	fill(buf, sizeof(buf), 1);
	assert_int_equal(send_wait(x->nf, 0, &p), 0);
	/* The driver domain goes away: hostd destroys it, its event
	 * channels close and ours are raised. */
	fnb_stop(x->fb);
	x->fb = NULL;
	pvio_domain_disconnect(x->env->backp);
	x->env->backp = NULL;
	for (int i = 0; i < 100 && err != -EIO; i++) {
		err = pvio_netfront_send(x->nf, 0, &p);
		if (!err)
			err = pvio_netfront_wait(x->nf, PVIO_NETFRONT_WAIT_RX, SEC / 10);
		if (err == -ETIMEDOUT)
			err = 0;
	}
	assert_int_equal(err, -EIO);
	assert_int_equal(pvio_netfront_error(x->nf), -ENOTCONN);
	assert_int_equal(pvio_netfront_recv_burst(x->nf, 0, &r, 1), -EIO);
	/* Close does not hang; what the dead backend mapped is its problem. */
	err = pvio_netfront_close(x->nf);
	assert_true(err == 0 || err == -EBUSY || err == -ETIMEDOUT);
	h_env_free(x->env);
	free(x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(handshake_publishes_keys_and_negotiates_features),
		cmocka_unit_test(open_by_devid_reads_mac_from_backend_dir_and_closes),
		cmocka_unit_test(backend_without_rx_copy_or_flip_fails_open),
		cmocka_unit_test(tx_single_slot_frame_arrives_intact),
		cmocka_unit_test(tx_multi_slot_frames_copied_and_zero_copy_arrive_intact),
		cmocka_unit_test(tx_gso_frame_carries_extra_info_and_csum_blank),
		cmocka_unit_test(tx_checksum_flags_follow_the_packet),
		cmocka_unit_test(tx_done_reports_each_packet_and_burst_sends_all),
		cmocka_unit_test(tx_many_packets_fill_and_drain_the_ring),
		cmocka_unit_test(tx_small_frames_share_one_persistently_granted_page),
		cmocka_unit_test(rx_copy_delivers_identical_bytes_in_one_and_many_slots),
		cmocka_unit_test(rx_copy_pages_keep_their_grants_while_connected),
		cmocka_unit_test(rx_gso_extra_info_and_csum_flags_reach_the_callback),
		cmocka_unit_test(rx_flip_delivers_the_same_bytes_as_rx_copy),
		cmocka_unit_test(flip_asked_but_not_offered_falls_back_to_copy),
		cmocka_unit_test(manual_refill_posts_only_what_is_asked),
		cmocka_unit_test(multi_queue_carries_traffic_on_every_queue),
		cmocka_unit_test(split_event_channels_carry_tx_and_rx),
		cmocka_unit_test(backend_without_optional_features_still_works),
		cmocka_unit_test(tx_bad_id_breaks_the_device),
		cmocka_unit_test(tx_stale_id_breaks_the_device),
		cmocka_unit_test(tx_duplicate_id_breaks_the_device),
		cmocka_unit_test(tx_unknown_status_breaks_the_device),
		cmocka_unit_test(tx_null_without_extra_breaks_the_device),
		cmocka_unit_test(tx_response_producer_beyond_requests_breaks_the_device),
		cmocka_unit_test(rx_bad_id_breaks_the_device),
		cmocka_unit_test(rx_offset_past_the_page_drops_the_packet),
		cmocka_unit_test(rx_size_past_the_page_drops_the_packet),
		cmocka_unit_test(rx_unknown_status_drops_the_packet),
		cmocka_unit_test(rx_too_many_slots_drops_the_packet),
		cmocka_unit_test(rx_unknown_extra_type_drops_the_packet),
		cmocka_unit_test(backend_dying_fails_io_and_close_completes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
