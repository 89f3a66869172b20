/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpora of the fuzz targets: a handful of valid inputs
 * per target, each reaching one path the fuzzer would take long to find
 * alone (a well-formed indirect request, a GSO packet with real headers,
 * a store transaction, a full xenbus attach). Formats: fuzz_formats.h.
 *
 *   cc -I include -I tests/fuzz tests/fuzz/gen_corpus.c -o gen_corpus
 *   ./gen_corpus tests/fuzz/corpus
 *
 * The outputs are committed; rerun only when a format changes. Regression
 * inputs (crashes found and fixed) live beside the seeds as regress-*.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <pvio/blkif.h>
#include <pvio/netif.h>
#include <pvio/xs_wire.h>

#include "fuzz_formats.h"

struct buf {
	uint8_t d[65536];
	size_t n;
};

static void u8(struct buf *b, uint32_t v) { b->d[b->n++] = (uint8_t)v; }
static void u16(struct buf *b, uint32_t v) { u8(b, v); u8(b, v >> 8); }
static void u32(struct buf *b, uint32_t v) { u16(b, v); u16(b, v >> 16); }
static void u64(struct buf *b, uint64_t v) { u32(b, (uint32_t)v); u32(b, (uint32_t)(v >> 32)); }
static void bytes(struct buf *b, const void *p, size_t n)
{
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static const char *outdir;

static void emit(const char *target, const char *name, const struct buf *b)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/seed-%s", outdir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b->d, 1, b->n, f) != b->n || fclose(f)) {
		fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* ---- fuzz_blkback_ring ---------------------------------------------------- */

static void br_hdr(struct buf *b, uint8_t cfg, uint8_t ring, uint8_t ind,
		   uint8_t cap, uint16_t sectors)
{
	b->n = 0;
	u8(b, cfg);
	u8(b, ring);
	u8(b, ind);
	u8(b, cap);
	u16(b, sectors);
}

static void br_req(struct buf *b, uint8_t op, uint8_t nseg, uint64_t id,
		   uint64_t sector, uint8_t ref0)
{
	u8(b, BR_OP_REQ);
	u8(b, op);
	u8(b, nseg);
	u64(b, id);
	u64(b, sector);
	for (uint8_t i = 0; i < nseg; i++) {
		u8(b, (uint8_t)(ref0 + i));
		u8(b, i % 8 == 7 ? 0 : 0);
		u8(b, 7);
	}
}

static void br_publish(struct buf *b) { u8(b, BR_OP_PUBLISH); u8(b, 0); }
static void br_run(struct buf *b, uint8_t mode, uint32_t seed)
{
	u8(b, BR_OP_RUN);
	u8(b, mode);
	u32(b, seed);
}

static void gen_blkback(void)
{
	struct buf b;
	/* flush, barrier, discard, secure, persistent; policy auto */
	const uint8_t full = 2 | 4 | 8 | 16 | 32;

	br_hdr(&b, full, 0, 2, 31, 4095);
	br_req(&b, PVIO_BLKIF_OP_READ, 1, 1, 0, 0);
	br_publish(&b);
	br_run(&b, 0, 1);
	emit("fuzz_blkback_ring", "read", &b);

	br_hdr(&b, full, 1, 2, 63, 4095);
	br_req(&b, PVIO_BLKIF_OP_WRITE, 11, 2, 8, 0);
	br_req(&b, PVIO_BLKIF_OP_FLUSH_DISKCACHE, 0, 3, 0, 0);
	br_req(&b, PVIO_BLKIF_OP_WRITE_BARRIER, 2, 4, 100, 20);
	br_req(&b, PVIO_BLKIF_OP_READ, 3, 5, 200, 30);
	br_publish(&b);
	br_run(&b, 7, 12345);
	emit("fuzz_blkback_ring", "write-flush-barrier", &b);

	/* Indirect: 600 segments over two indirect pages (data 40, 41). */
	br_hdr(&b, full | 0x80 /* policy map */, 0, 3, 15, 65535);
	u8(&b, BR_OP_SEGPAGE);
	u8(&b, 40);
	u16(&b, 0);
	u8(&b, 255);
	for (int i = 0; i < 255; i++) {
		u8(&b, (uint8_t)(i % 40));
		u8(&b, 0);
		u8(&b, 7);
	}
	u8(&b, BR_OP_SEGPAGE);
	u8(&b, 40);
	u16(&b, 255);
	u8(&b, 255);
	for (int i = 0; i < 255; i++) {
		u8(&b, (uint8_t)(i % 40));
		u8(&b, 1);
		u8(&b, 6);
	}
	u8(&b, BR_OP_SEGPAGE);
	u8(&b, 41);
	u16(&b, 0);
	u8(&b, 88);
	for (int i = 0; i < 88; i++) {
		u8(&b, (uint8_t)(i % 40));
		u8(&b, 0);
		u8(&b, 0);
	}
	u8(&b, BR_OP_SEGPAGE);
	u8(&b, 40);
	u16(&b, 510);
	u8(&b, 2);
	for (int i = 0; i < 2; i++) {
		u8(&b, 3);
		u8(&b, 0);
		u8(&b, 7);
	}
	u8(&b, BR_OP_INDIRECT);
	u8(&b, PVIO_BLKIF_OP_READ);
	u16(&b, 600);
	u64(&b, 77);
	u64(&b, 16);
	u8(&b, 2);
	u8(&b, 40);
	u8(&b, 41);
	u8(&b, BR_OP_INDIRECT);
	u8(&b, PVIO_BLKIF_OP_WRITE);
	u16(&b, 40);
	u64(&b, 78);
	u64(&b, 6000);
	u8(&b, 1);
	u8(&b, 41);
	br_publish(&b);
	br_run(&b, 3, 99);
	emit("fuzz_blkback_ring", "indirect", &b);

	br_hdr(&b, full, 0, 1, 7, 2047);
	u8(&b, BR_OP_DISCARD);
	u8(&b, 0);
	u64(&b, 9);
	u64(&b, 0);
	u64(&b, 64);
	u8(&b, BR_OP_DISCARD);
	u8(&b, PVIO_BLKIF_DISCARD_SECURE);
	u64(&b, 10);
	u64(&b, 100);
	u64(&b, 8);
	u8(&b, BR_OP_DISCARD);
	u8(&b, 0);
	u64(&b, 11);
	u64(&b, 2040);
	u64(&b, 9);
	br_publish(&b);
	br_run(&b, 4, 5);
	emit("fuzz_blkback_ring", "discard", &b);

	/* Refused: read-only disk, bad op, bad sectors, RO grant, bad ref. */
	br_hdr(&b, 1 | 2, 0, 0, 1, 100);
	br_req(&b, PVIO_BLKIF_OP_WRITE, 1, 20, 0, 0);
	br_req(&b, 4, 1, 21, 0, 0);
	br_req(&b, PVIO_BLKIF_OP_READ, 0, 22, 0, 0);
	br_req(&b, PVIO_BLKIF_OP_READ, 1, 23, 96, 0);
	br_req(&b, PVIO_BLKIF_OP_READ, 1, 24, 0, 60);
	br_req(&b, PVIO_BLKIF_OP_READ, 1, 25, 0, 200);
	br_req(&b, PVIO_BLKIF_OP_WRITE_BARRIER, 0, 26, 0, 0);
	br_publish(&b);
	br_run(&b, 0, 0);
	emit("fuzz_blkback_ring", "refused", &b);

	/* A grant rewritten under a persistent mapping, then reused. */
	br_hdr(&b, 32 | 0x40 /* policy persistent */, 0, 0, 4, 4095);
	br_req(&b, PVIO_BLKIF_OP_READ, 2, 30, 0, 5);
	br_publish(&b);
	br_run(&b, 0, 1);
	u8(&b, BR_OP_GRANT);
	u8(&b, 5);
	u16(&b, 0x1 | 0x4);
	u16(&b, 0);
	u32(&b, 5);
	u8(&b, BR_OP_GRANT);
	u8(&b, 6);
	u16(&b, 0);
	u16(&b, 0);
	u32(&b, 6);
	br_req(&b, PVIO_BLKIF_OP_READ, 2, 31, 0, 5);
	br_req(&b, PVIO_BLKIF_OP_WRITE, 6, 32, 0, 5);
	br_publish(&b);
	br_run(&b, 0, 2);
	emit("fuzz_blkback_ring", "grant-rewritten", &b);

	/* Wrap around a 4-page ring (128 slots) in batches. */
	br_hdr(&b, full, 2, 2, 63, 4095);
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < 30; i++)
			br_req(&b, i % 2, (uint8_t)(1 + i % 4), (uint64_t)(round * 100 + i),
			       (uint64_t)(i * 8), (uint8_t)(i % 48));
		br_publish(&b);
		br_run(&b, (uint8_t)round, (uint32_t)round);
	}
	emit("fuzz_blkback_ring", "wrap", &b);

	/* Hostile indices: req_prod far ahead, then backwards. */
	br_hdr(&b, full, 0, 0, 1, 100);
	br_req(&b, PVIO_BLKIF_OP_READ, 1, 40, 0, 0);
	u8(&b, BR_OP_PUBLISH);
	u8(&b, 1);
	u32(&b, 1000);
	br_run(&b, 0, 0);
	emit("fuzz_blkback_ring", "prod-beyond", &b);
}

/* ---- fuzz_netback_tx -------------------------------------------------------- */

/* Ethernet + IPv4 + TCP (or UDP) headers of a packet of total bytes. */
static size_t frame_v4(uint8_t *f, uint32_t total, uint8_t proto)
{
	static const uint8_t eth[14] = { 0x00, 0x16, 0x3e, 0, 0, 1,
					 0x00, 0x16, 0x3e, 0, 0, 2, 0x08, 0x00 };
	uint32_t l4 = proto == 6 ? 20 : 8;

	memcpy(f, eth, 14);
	memset(f + 14, 0, 20 + l4);
	f[14] = 0x45;
	f[16] = (uint8_t)((total - 14) >> 8);
	f[17] = (uint8_t)(total - 14);
	f[22] = 64;
	f[23] = proto;
	f[26] = 10; f[29] = 1;
	f[30] = 10; f[33] = 2;
	f[34] = 0x30; f[35] = 0x39; f[36] = 0x00; f[37] = 0x50;
	if (proto == 6)
		f[46] = 0x50; /* data offset 5 */
	return 14 + 20 + l4;
}

static size_t frame_v6(uint8_t *f, uint32_t total)
{
	static const uint8_t eth[14] = { 0x00, 0x16, 0x3e, 0, 0, 1,
					 0x00, 0x16, 0x3e, 0, 0, 2, 0x86, 0xdd };

	memcpy(f, eth, 14);
	memset(f + 14, 0, 40 + 20);
	f[14] = 0x60;
	f[18] = (uint8_t)((total - 54) >> 8);
	f[19] = (uint8_t)(total - 54);
	f[20] = 6;
	f[21] = 64;
	f[37] = 1;
	f[53] = 2;
	f[54 + 12] = 0x50;
	return 14 + 40 + 20;
}

static void nt_data(struct buf *b, uint8_t page, uint16_t off, const uint8_t *p, uint8_t len)
{
	u8(b, NT_OP_DATA);
	u8(b, page);
	u16(b, off);
	u8(b, len);
	bytes(b, p, len);
}

static void nt_slot(struct buf *b, uint8_t ref, uint16_t off, uint16_t flags,
		    uint16_t id, uint16_t size)
{
	u8(b, NT_OP_SLOT);
	u8(b, ref);
	u16(b, off);
	u16(b, flags);
	u16(b, id);
	u16(b, size);
}

static void nt_extra_gso(struct buf *b, uint16_t mss, uint8_t type, uint8_t more)
{
	u8(b, NT_OP_EXTRA);
	u8(b, PVIO_NETIF_EXTRA_TYPE_GSO);
	u8(b, more);
	u16(b, mss);
	u8(b, type);
	u8(b, 0);
	u16(b, 0);
}

static void nt_publish(struct buf *b) { u8(b, NT_OP_PUBLISH); u8(b, 0); }
static void nt_run(struct buf *b, uint8_t mode, uint32_t seed)
{
	u8(b, NT_OP_RUN);
	u8(b, mode);
	u32(b, seed);
}

static void nt_hdr(struct buf *b, uint8_t cfg, uint8_t max_slots, uint8_t fatal,
		   uint16_t thresh)
{
	b->n = 0;
	u8(b, cfg);
	u8(b, max_slots);
	u8(b, fatal);
	u16(b, thresh);
}

static void gen_netback(void)
{
	struct buf b;
	uint8_t f[128];
	size_t h;

	/* One small UDP frame, copied into a port buffer. */
	nt_hdr(&b, 8, 17, 2, 256);
	h = frame_v4(f, 60, 17);
	nt_data(&b, 0, 0, f, (uint8_t)h);
	nt_slot(&b, 0, 0, 0, 1, 60);
	nt_publish(&b);
	nt_run(&b, 0, 1);
	emit("fuzz_netback_tx", "udp-copy", &b);

	/* A 3-slot TCP frame with checksum offload, zero copy, held. */
	nt_hdr(&b, 0, 17, 2, 0);
	h = frame_v4(f, 3000, 6);
	nt_data(&b, 1, 100, f, (uint8_t)h);
	nt_slot(&b, 1, 100, PVIO_NETTXF_csum_blank | PVIO_NETTXF_more_data, 2, 3000);
	nt_slot(&b, 2, 0, PVIO_NETTXF_more_data, 3, 1000);
	nt_slot(&b, 3, 96, 0, 4, 1000);
	nt_publish(&b);
	nt_run(&b, 1, 7);
	u8(&b, NT_OP_COMPLETE);
	nt_run(&b, 0, 8);
	emit("fuzz_netback_tx", "tcp-csum-zc", &b);

	/* GSO TCPv4 (copy path offered, too big for it), then a multicast
	 * filter change (a dummy request, answered, never sent). */
	nt_hdr(&b, 1 | 4 | 8, 17, 2, 128);
	h = frame_v4(f, 4000, 6);
	nt_data(&b, 4, 0, f, (uint8_t)h);
	nt_slot(&b, 4, 0, PVIO_NETTXF_csum_blank | PVIO_NETTXF_extra_info |
		PVIO_NETTXF_more_data, 5, 4000);
	nt_extra_gso(&b, 1448, PVIO_NETIF_GSO_TYPE_TCPV4, 0);
	nt_slot(&b, 5, 0, 0, 6, 1000);
	nt_slot(&b, 4, 0, PVIO_NETTXF_extra_info, 7, 60);
	u8(&b, NT_OP_EXTRA);
	u8(&b, PVIO_NETIF_EXTRA_TYPE_MCAST_ADD);
	u8(&b, 0);
	u8(&b, 0x01); u8(&b, 0x00); u8(&b, 0x5e); u8(&b, 0); u8(&b, 0); u8(&b, 1);
	nt_publish(&b);
	nt_run(&b, 1 | 2 | 4, 3);
	emit("fuzz_netback_tx", "gso4-mcast", &b);

	/* IPv6 TCP with GSO, offered. */
	nt_hdr(&b, 2, 17, 2, 0);
	h = frame_v6(f, 2000);
	nt_data(&b, 7, 0, f, (uint8_t)h);
	nt_slot(&b, 7, 0, PVIO_NETTXF_csum_blank | PVIO_NETTXF_extra_info, 8, 2000);
	nt_extra_gso(&b, 1400, PVIO_NETIF_GSO_TYPE_TCPV6, 0);
	nt_publish(&b);
	nt_run(&b, 1, 11);
	emit("fuzz_netback_tx", "gso6", &b);

	/* A chain published in two halves, then errors and a fatal chain. */
	nt_hdr(&b, 8, 4, 1, 2000);
	h = frame_v4(f, 200, 17);
	nt_data(&b, 8, 0, f, (uint8_t)h);
	nt_slot(&b, 8, 0, PVIO_NETTXF_more_data, 9, 200);
	nt_publish(&b);
	nt_run(&b, 0, 0);
	nt_slot(&b, 9, 0, 0, 10, 100);
	nt_publish(&b);
	nt_run(&b, 0, 0);
	nt_slot(&b, 10, 4000, 0, 11, 200);  /* past the page */
	nt_slot(&b, 10, 0, 0, 12, 10);      /* too short */
	nt_slot(&b, 60, 0, 0, 13, 60);      /* read-only grant: fine for tx */
	nt_slot(&b, 200, 0, 0, 14, 60);     /* bad ref */
	nt_publish(&b);
	nt_run(&b, 2 | 4, 5);
	for (int i = 0; i < 6; i++)
		nt_slot(&b, 11, 0, PVIO_NETTXF_more_data, (uint16_t)(20 + i), 100);
	nt_publish(&b);
	nt_run(&b, 0, 0);
	emit("fuzz_netback_tx", "chains-errors", &b);

	/* Many packets, held and completed, with the ring wrapping. */
	nt_hdr(&b, 8 | 16, 17, 2, 100);
	h = frame_v4(f, 300, 17);
	nt_data(&b, 12, 0, f, (uint8_t)h);
	for (int r = 0; r < 6; r++) {
		for (int i = 0; i < 60; i++)
			nt_slot(&b, 12, 0, 0, (uint16_t)(r * 60 + i), 300);
		nt_publish(&b);
		nt_run(&b, 1, (uint32_t)r);
		if (r % 2)
			u8(&b, NT_OP_COMPLETE);
	}
	emit("fuzz_netback_tx", "wrap-held", &b);
}

/* ---- fuzz_store_wire ---------------------------------------------------------- */

static void sw_msg(struct buf *b, uint8_t conn, uint8_t type, uint8_t txsel,
		   const char *p, size_t len)
{
	u8(b, conn);
	u8(b, type);
	u8(b, txsel);
	u16(b, (uint16_t)len);
	bytes(b, p, len);
}

#define SW(b, conn, type, tx, lit) sw_msg(b, conn, type, tx, lit, sizeof(lit) - 1)

static void sw_reply(struct buf *b, uint8_t sel, const char *p, size_t len)
{
	u8(b, sel);
	u8(b, 0);
	u16(b, (uint16_t)len);
	bytes(b, p, len);
}

#define RP(b, sel, lit) sw_reply(b, sel, lit, sizeof(lit) - 1)

static void gen_store(void)
{
	struct buf b;

	b.n = 0;
	u8(&b, 0);
	u8(&b, 0);
	SW(&b, 1, PVIO_XS_WRITE, 0, "/local/domain/1/data/x\0hello");
	SW(&b, 1, PVIO_XS_READ, 0, "data/x\0");
	SW(&b, 1, PVIO_XS_DIRECTORY, 0, "/local/domain/1\0");
	SW(&b, 1, PVIO_XS_GET_PERMS, 0, "data/x\0");
	SW(&b, 1, PVIO_XS_SET_PERMS, 0, "data/x\0n1\0r2\0");
	SW(&b, 2, PVIO_XS_READ, 0, "/local/domain/1/data/x\0");
	SW(&b, 1, PVIO_XS_MKDIR, 0, "data/y\0");
	SW(&b, 1, PVIO_XS_RM, 0, "data\0");
	SW(&b, 2, PVIO_XS_WRITE, 0, "/local/domain/1/x\0no");
	emit("fuzz_store_wire", "daemon-basic", &b);

	b.n = 0;
	u8(&b, 0);
	u8(&b, 0);
	SW(&b, 1, PVIO_XS_TRANSACTION_START, 0, "\0");
	SW(&b, 1, PVIO_XS_WRITE, 4, "data/a\0one");
	SW(&b, 1, PVIO_XS_READ, 4, "data/a\0");
	SW(&b, 1, PVIO_XS_WRITE, 0, "data/a\0two");
	SW(&b, 1, PVIO_XS_TRANSACTION_END, 4, "T\0");
	SW(&b, 0, PVIO_XS_TRANSACTION_START, 0, "\0");
	SW(&b, 0, PVIO_XS_RM, 4, "/local/domain/1/data\0");
	SW(&b, 0, PVIO_XS_TRANSACTION_END, 4, "F\0");
	emit("fuzz_store_wire", "daemon-transaction", &b);

	b.n = 0;
	u8(&b, 0);
	u8(&b, 0);
	SW(&b, 1, PVIO_XS_WATCH, 0, "data\0tok\0");
	SW(&b, 0, PVIO_XS_WATCH, 0, "@introduceDomain\0intro\0");
	SW(&b, 0, PVIO_XS_WATCH, 0, "/local/domain\0all\0");
	SW(&b, 0, PVIO_XS_WRITE, 0, "/local/domain/1/data/z\0v");
	SW(&b, 0, PVIO_XS_INTRODUCE, 0, "3\0" "0\0" "0\0");
	SW(&b, 0, PVIO_XS_IS_DOMAIN_INTRODUCED, 0, "3\0");
	SW(&b, 0, PVIO_XS_GET_DOMAIN_PATH, 0, "3\0");
	SW(&b, 0, PVIO_XS_SET_TARGET, 0, "2\0" "1\0");
	SW(&b, 2, PVIO_XS_READ, 0, "/local/domain/1/data/z\0");
	SW(&b, 0, PVIO_XS_DIRECTORY_PART, 0, "/local/domain\0" "0\0");
	SW(&b, 1, PVIO_XS_UNWATCH, 0, "data\0tok\0");
	SW(&b, 0, PVIO_XS_RELEASE, 0, "3\0");
	SW(&b, 0, PVIO_XS_RESET_WATCHES, 0, "");
	emit("fuzz_store_wire", "daemon-watch-domains", &b);

	/* Raw framing: a header split in two, then a length over the limit. */
	b.n = 0;
	u8(&b, 0);
	u8(&b, 0);
	u8(&b, 1);
	u8(&b, SW_RAW);
	u16(&b, 10);
	u32(&b, PVIO_XS_READ);
	u32(&b, 99);
	u16(&b, 0);
	u8(&b, 1);
	u8(&b, SW_RAW);
	u16(&b, 14);
	u16(&b, 0);
	u32(&b, 7);
	bytes(&b, "data/\0", 6);
	u8(&b, 2);
	u8(&b, SW_RAW);
	u16(&b, 16);
	u32(&b, PVIO_XS_WRITE);
	u32(&b, 1);
	u32(&b, 0);
	u32(&b, 5000);
	emit("fuzz_store_wire", "daemon-raw-framing", &b);

	/* The client: reads, directory, perms, a transaction. */
	b.n = 0;
	u8(&b, 1);
	u8(&b, 0); u16(&b, 64); u8(&b, 1);  /* read */
	RP(&b, 0, "4");
	u8(&b, 1); u16(&b, 64); u8(&b, 1);  /* directory */
	RP(&b, 0, "1\0" "2\0" "51712\0");
	u8(&b, 2); u16(&b, 64); u8(&b, 1);  /* get_perms */
	RP(&b, 0, "n0\0r1\0b2\0");
	u8(&b, 3); u16(&b, 0); u8(&b, 1);   /* transaction_start */
	RP(&b, 2, "backend/x\0tok\0");      /* an event first */
	RP(&b, 0, "17\0");
	u8(&b, 7); u16(&b, 0); u8(&b, 1); u32(&b, 1000); /* read_uint */
	RP(&b, 0, "999");
	u8(&b, 6); u16(&b, 0); u8(&b, 1);   /* next_event */
	u8(&b, 8); u16(&b, 64); u8(&b, 1); u8(&b, 1); /* get_domain_path */
	RP(&b, 0, "/local/domain/1\0");
	u8(&b, 9); u16(&b, 0); u8(&b, 1); u8(&b, 0); /* read_feature */
	RP(&b, 1, "ENOENT\0");
	emit("fuzz_store_wire", "client-calls", &b);

	/* The client: a frontend attach, the other end's state, a switch. */
	b.n = 0;
	u8(&b, 1);
	u8(&b, 10); u16(&b, 0); u8(&b, 1); u8(&b, 1);
	RP(&b, 0, "/local/domain/0/backend/vbd/1/51712");
	RP(&b, 0, "0");
	RP(&b, 0, "1");
	RP(&b, 0, "OK\0");
	u8(&b, 11); u16(&b, 0); u8(&b, 1);
	RP(&b, 2, "/local/domain/0/backend/vbd/1/51712/state\0"
		  "/local/domain/1/device/vbd/51712\0");
	RP(&b, 0, "2");
	u8(&b, 12); u16(&b, 0); u8(&b, 1); u8(&b, 3);
	RP(&b, 0, "5\0");
	RP(&b, 0, "1");
	RP(&b, 0, "OK\0");
	RP(&b, 0, "OK\0");
	u8(&b, 13); u16(&b, 1u << 4); u8(&b, 1);
	RP(&b, 0, "4");
	u8(&b, 14); u16(&b, 0); u8(&b, 1);
	RP(&b, 0, "2097152");
	u8(&b, 15); u16(&b, 0); u8(&b, 1);
	RP(&b, 0, "OK\0");
	emit("fuzz_store_wire", "client-attach", &b);
}

/* ---- fuzz_front_rsp ------------------------------------------------------------ */

static void fr_rsp(struct buf *b, uint8_t mode, uint8_t pick, uint16_t status,
		   uint16_t off, uint16_t flags, uint64_t raw)
{
	u8(b, FR_OP_RSP);
	u8(b, mode);
	u8(b, pick);
	u16(b, status);
	u16(b, off);
	u16(b, flags);
	u64(b, raw);
}

static void fr_publish(struct buf *b, uint8_t ring)
{
	u8(b, FR_OP_PUBLISH);
	u8(b, ring);
	u8(b, 0);
}

static void gen_front(void)
{
	struct buf b;

	/* blkfront: reads and writes (bounced, unaligned), a flush, answered
	 * out of order, one with an error; then a duplicate answer. */
	b.n = 0;
	u8(&b, 0);
	u8(&b, 1 | 2 | 4 | 8 | 0x10);
	for (int i = 0; i < 6; i++) {
		u8(&b, FR_OP_SUBMIT);
		u8(&b, (uint8_t)(i % 3));
		u16(&b, (uint16_t)(i * 37));
		u32(&b, (uint32_t)(i * 64));
		u8(&b, (uint8_t)(i & 1 ? 0x11 : 0));
	}
	fr_rsp(&b, 0, 3, 0, 0, 0, 0);
	fr_rsp(&b, 0, 1, 1, 0, 0, 0);
	fr_rsp(&b, 0, 0, 0, 0, 0, 0);
	fr_publish(&b, 0);
	u8(&b, FR_OP_POLL);
	fr_rsp(&b, 0, 0, 2, 0, 0, 0);
	fr_rsp(&b, 0, 0, 0, 0, 0, 0);
	fr_publish(&b, 0);
	u8(&b, FR_OP_POLL);
	fr_rsp(&b, 2, 0, 0, 0, 0, 0);
	fr_publish(&b, 0);
	u8(&b, FR_OP_POLL);
	emit("fuzz_front_rsp", "blk-out-of-order", &b);

	/* blkfront: a large read split into indirect requests, a discard. */
	b.n = 0;
	u8(&b, 0);
	u8(&b, 2 | 8 | 0x20);
	u8(&b, FR_OP_SUBMIT);
	u8(&b, 0);
	u16(&b, 511);
	u32(&b, 8);
	u8(&b, 0);
	u8(&b, FR_OP_SUBMIT);
	u8(&b, 3);
	u16(&b, 100);
	u32(&b, 1000);
	u8(&b, 0);
	for (int i = 0; i < 4; i++)
		fr_rsp(&b, 0, 0, 0, 0, 0, 0);
	fr_publish(&b, 0);
	u8(&b, FR_OP_POLL);
	emit("fuzz_front_rsp", "blk-indirect", &b);

	/* netfront copy mode: sends answered with NULLs for extras, rx
	 * responses in order, a multi-slot packet, then a stale id. */
	b.n = 0;
	u8(&b, 1);
	u8(&b, 2 | 4 | 8 | 16);
	for (int i = 0; i < 3; i++) {
		u8(&b, FR_OP_SUBMIT);
		u16(&b, (uint16_t)(60 + i * 2000));
		u8(&b, 0);
	}
	for (int i = 0; i < 3; i++)          /* copied: one slot each */
		fr_rsp(&b, 0, 0, (uint16_t)i, 0, 0, 0);
	fr_publish(&b, 0);
	fr_rsp(&b, 8, 0, 60, 0, PVIO_NETRXF_data_validated, 0);
	fr_rsp(&b, 8, 0, 4096, 0, PVIO_NETRXF_more_data | PVIO_NETRXF_extra_info, 0);
	fr_rsp(&b, 8, 0, 0, 0, 0, 0);
	fr_rsp(&b, 8, 0, 904, 0, 0, 0);
	fr_publish(&b, 1);
	u8(&b, FR_OP_POLL);
	u8(&b, 200);
	fr_rsp(&b, 9, 0, 60, 0, 0, 0x1234);
	fr_publish(&b, 1);
	u8(&b, FR_OP_POLL);
	u8(&b, 7);
	emit("fuzz_front_rsp", "net-copy", &b);

	/* netfront flip mode: frames transferred into posted buffers. */
	b.n = 0;
	u8(&b, 1);
	u8(&b, 1 | 2);
	for (int i = 0; i < 5; i++) {
		u8(&b, FR_OP_FLIP);
		u8(&b, (uint8_t)(1 + 2 * i));
		u16(&b, (uint16_t)(100 + i * 500));
		u16(&b, (uint16_t)(i == 1 ? PVIO_NETRXF_more_data : 0));
	}
	fr_publish(&b, 1);
	u8(&b, FR_OP_POLL);
	u8(&b, 100);
	u8(&b, FR_OP_FLIP);
	u8(&b, 2);                  /* a wrong ref: the transfer fails */
	u16(&b, 100);
	u16(&b, 0);
	fr_publish(&b, 1);
	u8(&b, FR_OP_POLL);
	u8(&b, 3);
	emit("fuzz_front_rsp", "net-flip", &b);
}

/* ---- fuzz_spec_parsers -------------------------------------------------------- */

static void spec(const char *name, int vif, const char *s)
{
	struct buf b;

	b.n = 0;
	u8(&b, (uint8_t)(vif | 2));
	u8(&b, 40);
	bytes(&b, s, strlen(s));
	emit("fuzz_spec_parsers", name, &b);
}

static void gen_specs(void)
{
	spec("disk-keys", 0, "format=raw, vdev=xvda, access=rw, target=/img/a,b.raw");
	spec("disk-positional", 0, "/dev/sdb,raw,hdc,ro");
	spec("disk-legacy", 0, "phy:/dev/vg/lv,xvdb:cdrom,r");
	spec("disk-flags", 0, "target=/x,vdev=d0p3,discard,direct-io-safe,"
	     "devtype=disk,backendtype=phy,backend=0");
	spec("disk-tap", 0, "tap2:aio:/var/x.img,sdz15,w,no-discard");
	spec("vif-full", 1, "mac=00:16:3e:01:02:03,bridge=xenbr0,script=vif-bridge,"
	     "ip=10.0.0.2 10.0.0.3,vifname=vif9,gatewaydev=eth0,model=e1000,"
	     "type=vif,devid=3,mtu=9000,backend=0,trusted");
	spec("vif-min", 1, "bridge=br0");
	spec("vif-route", 1, "script=vif-route,ip=192.168.1.5,untrusted,type=ioemu");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	mkdir(outdir, 0755);
	gen_blkback();
	gen_netback();
	gen_store();
	gen_front();
	gen_specs();
	return 0;
}
