/* SPDX-License-Identifier: MIT */
/*
 * Input formats of the fuzz targets, shared by the harnesses and by
 * gen_corpus.c (which writes the seed corpora). Every input is a small
 * header followed by a script of operations; each operation is one opcode
 * byte (taken modulo the count) and its operands. Bytes past the end of
 * the input read as zero, so every byte string is a valid script.
 */
#ifndef PVIO_FUZZ_FORMATS_H
#define PVIO_FUZZ_FORMATS_H

/* ---- fuzz_blkback_ring -------------------------------------------------
 * Header: u8 cfg (bit 0 readonly, 1 flush, 2 barrier, 3 discard, 4 secure,
 *         5 persistent negotiated, 6-7 grant policy), u8 ring (bits 0-1:
 *         ring pages 1 << (v % 3)), u8 max_indirect index (0, 16, 256,
 *         4096), u8 persistent cap (1 + v % 64), u16 disk sectors (+1).
 * Ops: */
enum {
	BR_OP_REQ = 0,    /* u8 op, u8 nseg, u64 id, u64 sector, nseg x
			     (u8 ref sel, u8 first, u8 last): a request at the
			     guest's next slot (nseg % 12) */
	BR_OP_INDIRECT,   /* u8 indirect_op, u16 nr_segments, u64 id,
			     u64 sector, u8 npages, npages x u8 ref sel */
	BR_OP_DISCARD,    /* u8 flag, u64 id, u64 sector, u64 nr_sectors */
	BR_OP_RAW_SLOT,   /* u8 slot, 112 raw bytes */
	BR_OP_SEGPAGE,    /* u8 page sel, u16 first seg, u8 n, n x (u8 ref sel,
			     u8 first, u8 last): segments in an indirect page */
	BR_OP_PUBLISH,    /* u8 mode: 0 req_prod = guest's next slot; 1 raw
			     u32; 2 += (int8) delta */
	BR_OP_HDR,        /* u8 field (req_event, rsp_prod, rsp_event), u32 */
	BR_OP_GRANT,      /* u8 data idx, u16 flags, u16 domid, u32 frame */
	BR_OP_RUN,        /* u8 engine mode, u32 seed: run the queue thread's
			     loop until it goes idle */
	BR_OP_COUNT
};

/* ---- fuzz_netback_tx ----------------------------------------------------
 * Header: u8 cfg (bit 0 gso4, 1 gso6, 2 mcast, 3 tx_copy_buf offered,
 *         4 the port lets go of held packets before tear-down, 5-7 all
 *         set: the real nb_tx_fini() even with nothing held),
 *         u8 max_slots (1 + v % 18), u8 fatal_slots (max_slots + v % 8),
 *         u16 copy_threshold.
 * Ops: */
enum {
	NT_OP_SLOT = 0,   /* u8 ref sel, u16 offset, u16 flags, u16 id,
			     u16 size: a tx request at the guest's next slot */
	NT_OP_EXTRA,      /* u8 type, u8 flags, 6 bytes of union: an extra */
	NT_OP_RAW_SLOT,   /* u8 slot, 12 raw bytes */
	NT_OP_DATA,       /* u8 page sel, u16 offset, u8 len, len bytes */
	NT_OP_PUBLISH,    /* as BR_OP_PUBLISH */
	NT_OP_GRANT,      /* as BR_OP_GRANT */
	NT_OP_RUN,        /* u8 port mode: rounds until idle */
	NT_OP_COMPLETE,   /* the port lets go of every held packet */
	NT_OP_CONSUME,    /* the guest takes every published response */
	NT_OP_COUNT
};

/* ---- fuzz_front_rsp -----------------------------------------------------
 * Header: u8 which (bit 0: 0 blkfront, 1 netfront), u8 cfg.
 * Ops: */
enum {
	FR_OP_SUBMIT = 0, /* blk: u8 op, u16 sectors, u32 sector, u8 flags;
			     net: u16 len, u8 flags (tx) */
	FR_OP_RSP,        /* u8 mode, u8 pick, u16 status/len, u16 offset,
			     u16 flags, u64 raw id: a response at the
			     backend's next slot; mode picks a real request
			     (pick) or raw */
	FR_OP_RAW_SLOT,   /* u8 ring, u8 slot, 16 raw bytes */
	FR_OP_PUBLISH,    /* u8 ring, u8 mode (as BR_OP_PUBLISH) */
	FR_OP_POLL,       /* the frontend reaps (and refills rx) */
	FR_OP_FLIP,       /* net: u8 pick, u16 len, u16 flags: complete a
			     posted rx request by transferring a frame */
	FR_OP_COUNT
};

/* ---- fuzz_store_wire ----------------------------------------------------
 * Byte 0 bit 0: 0 the store daemon, 1 the xenbus client.
 * Daemon: ops of u8 conn (0 privileged dom0, 1 guest dom1, 2 guest dom2),
 *   u8 type, u32 tx_id sel, u16 len, len payload bytes; or a raw chunk
 *   (type 0xff: u16 len, raw bytes, header included).
 * Client: ops of u8 call, call operands, then the replies the call gets:
 *   u8 n, n x (u8 type, u8 flags, u16 len, len payload bytes).
 */
enum {
	SW_RAW = 0xff,
};

#endif /* PVIO_FUZZ_FORMATS_H */
