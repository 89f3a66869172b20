/* SPDX-License-Identifier: MIT */
/*
 * fuzz_front_rsp: blkfront and netfront consuming a hostile backend's
 * responses. Byte 0 bit 0 picks the driver; the rest is the script
 * (fuzz_formats.h, FR_*). The drivers are built by their own internal
 * set-up functions (blkfront: bf_queue_ring_alloc/bf_queue_data_alloc;
 * netfront: nf_txq_alloc/nf_rxq_alloc, what xenbus.c calls once the
 * handshake is done), over the shared fuzz machine's guest domain with
 * real grant tables; no store is involved. The backend is the script: it
 * reads the requests the driver publishes and writes responses (ids that
 * answer real requests, or any ids), indices, and for netfront in flip
 * mode performs real grant transfers of its frames into posted buffers.
 * See front_blk.c and front_net.c for what each checks.
 */
#include <stdint.h>

#include "fuzz_formats.h"
#include "fuzz_machine.h"
#include "fuzz_util.h"

void front_blk_run(struct fz *in, uint8_t cfg);
void front_net_run(struct fz *in, uint8_t cfg);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in;
	uint8_t which, cfg;

	fz_init(&in, data, size);
	fm_restore(fm_get());
	fm_reset(fm_get());
	which = fz_u8(&in);
	cfg = fz_u8(&in);
	if (which & 1)
		front_net_run(&in, cfg);
	else
		front_blk_run(&in, cfg);
	FZ_CHECK(fz_domain_pages_used() == 0); /* every page given back */
	FZ_CHECK(fm_mapped(fm_get()) == 0);
	return 0;
}
