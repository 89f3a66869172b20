/* SPDX-License-Identifier: MIT */
/*
 * fuzz_front_rsp, netfront half: netfront's tx completion path
 * (nf_tx_reap -> reap_locked -> nf_tx_check, RSP_NULL for extras, grant
 * ends, tx_done) and its rx path (pvio_netfront_recv_burst -> rx_run ->
 * take_extra / take_data -> nf_rx_check_id -> rx_buf_end, in copy mode a
 * revoke, in flip mode pvio_gnt_transfer_end after the script's backend
 * really transferred one of its frames into the posted buffer ->
 * reassembly -> delivery into the caller's buffers; refill) under
 * responses the script writes.
 *
 * Oracles, besides the sanitizers: every packet sent completes exactly
 * once (tx_done), a received packet's length fits its fragments and what
 * is copied fits the caller's buffer, and at tear-down every grant ends
 * (this backend maps nothing, and transfers complete at once) and every
 * page is given back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../netfront/common.h"

#include "fuzz_formats.h"
#include "fuzz_machine.h"
#include "fuzz_util.h"

void front_net_run(struct fz *in, uint8_t cfg);

#define NSEND 256
#define BE_FLIP_PFN0 256u   /* backend pfns given away by flips */
#define BE_FLIP_PFNS 128u

static struct {
	int done[NSEND];
	void *mem[NSEND];
	uint32_t n;
} sends;

/* The callers' buffers (fz_arena_get): one arena per packet sent, one per
 * receive buffer of a poll. */
#define SEND_ARENA 9000u
#define RECV_ARENA 9100u

static unsigned char *send_arena[NSEND], *recv_arena[8];

static void __attribute__((destructor)) arenas_free(void)
{
	fz_arenas_free(send_arena, NSEND, SEND_ARENA);
	fz_arenas_free(recv_arena, 8, RECV_ARENA);
}

static void tx_done(void *arg, void *user, int status)
{
	uint32_t i = (uint32_t)(uintptr_t)user;

	(void)arg;
	if (fz_debug())
		fprintf(stderr, "tx_done %u: %d\n", i, status);
	FZ_CHECK(i < sends.n);
	FZ_CHECK(sends.done[i]++ == 0);  /* exactly once */
	FZ_CHECK(status <= 0);
}

/* The backend's view of both rings. */
struct nback {
	struct nf_queue *q;
	unsigned char *tx_slots, *rx_slots;
	uint32_t tx_cons, tx_rsp;
	uint16_t tx_open[256];
	uint32_t tx_nopen;
	uint32_t rx_cons, rx_rsp;
	struct { uint16_t id; pvio_grant_ref_t gref; } rx_req[256]; /* by pos */
	uint32_t flip_next;
};

static void nback_refresh(struct nback *b)
{
	uint32_t prod = pvio_load_acquire(&b->q->tx.sring->req_prod);

	while (b->tx_cons != prod && b->tx_nopen < 256) {
		struct pvio_netif_tx_request r;

		memcpy(&r, b->tx_slots + (size_t)(b->tx_cons & (b->q->tx_nr - 1)) *
		       sizeof(union pvio_netif_tx_slot), sizeof(r));
		if (fz_debug())
			fprintf(stderr, "tx req %u: id %#x flags %#x size %u\n",
				b->tx_cons, r.id, r.flags, r.size);
		b->tx_open[b->tx_nopen++] = r.id;
		b->tx_cons++;
	}
	prod = pvio_load_acquire(&b->q->rx.sring->req_prod);
	while (b->rx_cons != prod && b->rx_cons - b->rx_rsp < 256) {
		struct pvio_netif_rx_request r;

		memcpy(&r, b->rx_slots + (size_t)(b->rx_cons & (b->q->rx_nr - 1)) *
		       sizeof(union pvio_netif_rx_slot), sizeof(r));
		b->rx_req[b->rx_cons % 256].id = r.id;
		b->rx_req[b->rx_cons % 256].gref = r.gref;
		b->rx_cons++;
	}
}

static void tx_put(struct nback *b, uint16_t id, int16_t status)
{
	struct pvio_netif_tx_response rsp = { .id = id, .status = status };

	if (fz_debug())
		fprintf(stderr, "tx rsp %u: id %#x status %d\n", b->tx_rsp, id, status);

	memcpy(b->tx_slots + (size_t)(b->tx_rsp++ & (b->q->tx_nr - 1)) *
	       sizeof(union pvio_netif_tx_slot), &rsp, sizeof(rsp));
}

static void rx_put(struct nback *b, uint16_t id, uint16_t off, uint16_t flags,
		   int16_t status)
{
	struct pvio_netif_rx_response rsp = { .id = id, .offset = off,
					      .flags = flags, .status = status };

	memcpy(b->rx_slots + (size_t)(b->rx_rsp++ & (b->q->rx_nr - 1)) *
	       sizeof(union pvio_netif_rx_slot), &rsp, sizeof(rsp));
}

static void op_send(struct pvio_netfront *nf, struct fz *in)
{
	uint32_t len = fz_u16(in) % 9000;
	uint8_t flags = fz_u8(in);
	struct pvio_netfront_pkt pkt;
	uint32_t i = sends.n;

	if (i == NSEND)
		return;
	memset(&pkt, 0, sizeof(pkt));
	sends.mem[i] = fz_arena_get(&send_arena[i], SEND_ARENA, len ? len : 1);
	memset(sends.mem[i], 0x44, len ? len : 1);
	pkt.data = sends.mem[i];
	pkt.len = len;
	pkt.flags = flags & 3;
	if (flags & 4) {
		pkt.gso_type = (uint16_t)(1 + (flags >> 3) % 2);
		pkt.gso_size = (uint16_t)(536 + flags);
	}
	pkt.user = (void *)(uintptr_t)i;
	sends.done[i] = 0;
	sends.n++;
	if (pvio_netfront_send(nf, 0, &pkt) != 0) {
		sends.n--;
		FZ_CHECK(sends.done[i] == 0); /* refused: never completes */
		fz_arena_put(send_arena[i], SEND_ARENA);
	}
}

static void op_rsp(struct nback *b, struct fz *in)
{
	uint8_t mode = fz_u8(in), pick = fz_u8(in);
	uint16_t status = fz_u16(in), off = fz_u16(in), flags = fz_u16(in);
	uint64_t raw = fz_u64(in);

	nback_refresh(b);
	if (mode & 8) {
		/* rx: the response at the next position answers the buffer
		 * posted there (mode 1: any id). */
		uint16_t id = mode % 4 == 1 || b->rx_rsp == b->rx_cons ?
			      (uint16_t)raw : b->rx_req[b->rx_rsp % 256].id;
		int16_t st = mode & 4 ? (int16_t)status : (int16_t)(status % 4097);

		rx_put(b, id, mode & 16 ? off : off % 4096, flags, st);
		return;
	}
	if (mode % 4 == 0 && b->tx_nopen) {
		uint32_t k = pick % b->tx_nopen;
		static const int16_t sts[4] = { PVIO_NETIF_RSP_OKAY, PVIO_NETIF_RSP_ERROR,
						PVIO_NETIF_RSP_DROPPED, PVIO_NETIF_RSP_NULL };

		tx_put(b, b->tx_open[k], mode & 4 ? (int16_t)status : sts[status % 4]);
		b->tx_open[k] = b->tx_open[--b->tx_nopen];
	} else {
		tx_put(b, (uint16_t)raw, (int16_t)status);
	}
}

/* The backend flips one of its frames into the next posted rx buffer. */
static void op_flip(struct pvio_netfront *nf, struct nback *b, struct fz *in)
{
	uint8_t pick = fz_u8(in);
	uint16_t len = fz_u16(in), flags = fz_u16(in);
	struct fm *f = fm_get();
	struct pvio_gnt_transfer_op op;
	uint32_t pfn = BE_FLIP_PFN0 + b->flip_next++ % BE_FLIP_PFNS;
	unsigned char *page;

	nback_refresh(b);
	if (b->rx_rsp == b->rx_cons)
		return;
	page = pvio_mach_pfn_ptr(f->m, FM_BE, pfn);
	if (page)
		memset(page, pick, PVIO_PAGE_SIZE);
	op.pfn = pfn;
	op.domid = FM_FE;
	op.status = 0;
	op.ref = pick & 1 ? b->rx_req[b->rx_rsp % 256].gref : fm_ref(f, pick);
	(void)pvio_gnt_transfer(f->gb, &op, 1);
	(void)nf;
	rx_put(b, b->rx_req[b->rx_rsp % 256].id, 0, flags,
	       op.status == PVIO_GNTST_okay ? (int16_t)(len % 4097) : PVIO_NETIF_RSP_ERROR);
}

static void op_publish(struct nback *b, struct fz *in)
{
	uint8_t ring = fz_u8(in) & 1, mode = fz_u8(in) % 3;
	_Atomic uint32_t *p = ring ? &b->q->rx.sring->rsp_prod : &b->q->tx.sring->rsp_prod;
	uint32_t v = ring ? b->rx_rsp : b->tx_rsp;

	if (mode == 1)
		v = fz_u32(in);
	else if (mode == 2)
		v = pvio_load_relaxed(p) + (uint32_t)(int32_t)(int8_t)fz_u8(in);
	pvio_store_release(p, v);
}

static void op_poll(struct pvio_netfront *nf, struct nf_queue *q, uint8_t cap)
{
	struct pvio_netfront_pkt pkts[8];
	unsigned char *bufs[8];
	int n;

	(void)nf_tx_reap(q);
	for (int i = 0; i < 8; i++) {
		uint32_t c = (uint32_t)(cap + i * 977) % RECV_ARENA;

		bufs[i] = fz_arena_get(&recv_arena[i], RECV_ARENA, c ? c : 1);
		memset(&pkts[i], 0, sizeof(pkts[i]));
		pkts[i].data = bufs[i];
		pkts[i].cap = c;
	}
	n = pvio_netfront_recv_burst(nf, 0, pkts, 1 + cap % 8);
	for (int i = 0; i < n; i++) {
		FZ_CHECK(pkts[i].len <= NF_MAX_RX_FRAGS * PVIO_PAGE_SIZE);
		if (pkts[i].len > pkts[i].cap)
			FZ_CHECK(pkts[i].flags & PVIO_NETFRONT_F_TRUNCATED);
	}
	for (int i = 0; i < 8; i++)
		fz_arena_put(recv_arena[i], RECV_ARENA);
}

void front_net_run(struct fz *in, uint8_t cfg)
{
	struct fm *f = fm_get();
	struct pvio_netfront *nf = calloc(1, sizeof(*nf));
	struct nf_queue *q;
	struct nback b;
	uint32_t ops = 0, grant_frames = f->gf->nr_frames, free_refs;

	FZ_CHECK(nf);
	free_refs = pvio_gnt_nr_free(f->gf);
	memset(&sends, 0, sizeof(sends));
	nf->d = fz_domain();
	nf->info.backend_id = FM_BE;
	nf->info.mtu = 1500;
	nf->info.rx_mode = cfg & 1 ? PVIO_NETFRONT_RX_FLIP : PVIO_NETFRONT_RX_COPY;
	nf->info.rx_sg = cfg & 2;
	nf->info.rx_gso_tcpv4 = cfg & 4;
	nf->info.rx_gso_tcpv6 = cfg & 4;
	nf->info.tx_sg = cfg & 8;
	nf->info.tx_gso_tcpv4 = cfg & 16;
	nf->info.tx_gso_tcpv6 = cfg & 16;
	nf->info.tx_csum_ipv4 = true;
	/* As xenbus.c's read_backend() derives them. */
	nf->info.max_tx_slots = nf->info.tx_sg ? PVIO_NETFRONT_MAX_SLOTS : 1;
	nf->info.max_tx_frame = nf->info.tx_sg ? PVIO_NETFRONT_MAX_FRAME : PVIO_PAGE_SIZE;
	nf->cfg.rx_buffers = cfg & 32 ? 16 : 0;
	nf->cfg.manual_refill = cfg & 64;
	nf->cfg.tx_pages = 32;
	nf->cfg.tx_done = tx_done;
	nf->nr_queues = 1;
	nf->info.nr_queues = 1;
	q = &nf->q[0];
	q->nf = nf;
	q->idx = 0;
	FZ_CHECK(nf_txq_alloc(q) == 0);
	FZ_CHECK(nf_rxq_alloc(q) == 0);
	q->port_tx = q->port_rx = 1;
	nf_lock(&q->rx_lock);
	nf_rx_post_locked(q, q->rx_target);
	pvio_ring_front_push(&q->rx);
	nf_unlock(&q->rx_lock);
	atomic_store(&nf->state, NF_CONNECTED);

	memset(&b, 0, sizeof(b));
	b.q = q;
	b.tx_slots = (unsigned char *)q->tx_sring + sizeof(struct pvio_sring_hdr);
	b.rx_slots = (unsigned char *)q->rx_sring + sizeof(struct pvio_sring_hdr);

	while (fz_left(in) > 0 && ops++ < 512) {
		switch (fz_u8(in) % FR_OP_COUNT) {
		case FR_OP_SUBMIT:
			op_send(nf, in);
			break;
		case FR_OP_RSP:
			op_rsp(&b, in);
			break;
		case FR_OP_RAW_SLOT: {
			uint8_t ring = fz_u8(in) & 1, slot = fz_u8(in);

			if (ring)
				fz_bytes(in, b.rx_slots + (size_t)(slot & (q->rx_nr - 1)) * 8, 8);
			else
				fz_bytes(in, b.tx_slots + (size_t)(slot & (q->tx_nr - 1)) * 12, 12);
			(void)fz_u32(in);
			break;
		}
		case FR_OP_PUBLISH:
			op_publish(&b, in);
			break;
		case FR_OP_POLL:
			op_poll(nf, q, fz_u8(in));
			break;
		case FR_OP_FLIP:
			op_flip(nf, &b, in);
			break;
		}
	}
	/* An honest backend from here: complete every packet sent. A round
	 * that completes nothing while packets are open is a lost packet. */
	for (;;) {
		uint32_t open = 0, open1 = 0;

		if (!nf_alive(nf))
			break;
		nback_refresh(&b);
		for (uint32_t i = 0; i < sends.n; i++)
			open += sends.done[i] == 0;
		if (open == 0)
			break;
		while (b.tx_nopen)
			tx_put(&b, b.tx_open[--b.tx_nopen], PVIO_NETIF_RSP_OKAY);
		pvio_store_release(&q->tx.sring->rsp_prod, b.tx_rsp);
		(void)nf_tx_reap(q);
		for (uint32_t i = 0; i < sends.n; i++)
			open1 += sends.done[i] == 0;
		FZ_CHECK(open1 < open || !nf_alive(nf));
	}
	if (fz_debug())
		fprintf(stderr, "net: state %u sends %u tx_packets %llu tx_errors %llu "
			"rx_packets %llu rx_flips %llu rx_copies %llu rx_errors %llu\n",
			atomic_load(&nf->state), sends.n,
			(unsigned long long)atomic_load(&q->tx_packets),
			(unsigned long long)atomic_load(&q->tx_errors),
			(unsigned long long)atomic_load(&q->rx_packets),
			(unsigned long long)atomic_load(&q->rx_flips),
			(unsigned long long)atomic_load(&q->rx_copies),
			(unsigned long long)atomic_load(&q->rx_errors));
	if (nf_alive(nf))
		for (uint32_t i = 0; i < sends.n; i++)
			FZ_CHECK(sends.done[i] == 1); /* none lost */

	/* Tear down as xenbus.c does on close. */
	nf_mark_dead(nf, NF_GONE);
	FZ_CHECK(nf_tx_revoke_all(q) == 0);
	FZ_CHECK(nf_rx_revoke_all(q) == 0);
	nf_txq_free(q);
	nf_rxq_free(q);
	for (uint32_t i = 0; i < sends.n; i++) {
		FZ_CHECK(sends.done[i] == 1);
		fz_arena_put(send_arena[i], SEND_ARENA);
	}
	if (f->gf->nr_frames == grant_frames)
		FZ_CHECK(pvio_gnt_nr_free(f->gf) == free_refs);
	free(nf);
}
