/* SPDX-License-Identifier: MIT */
/*
 * The guest of test_kill.py's block cases: a domain of the hostd at
 * RUN_DIR that opens vbd DEVID with cfg.reconnect and runs verified
 * random writes until WRITES of them are acknowledged, reconnecting
 * whenever its backend is lost (the test kills it with SIGKILL and starts
 * a new one). Then it reads back every block whose write was acknowledged
 * and checks it.
 *
 *   kill_blk_guest RUN_DIR DEVID BLOCKS WRITES IODEPTH
 *
 * Each block (4096 bytes) carries {magic, offset, generation} and bytes
 * derived from both, so a read tells which write it holds. At most one
 * write per block is in flight, so the expected generation of an
 * acknowledged block is never ambiguous: it is the last acknowledged one.
 * A block never acknowledged must still be zero (the image is fresh).
 *
 * stdout: "domid N" once the domain exists; "acked N inflight M" about
 * every 200 acknowledgements and at each backend loss ("lost ..."), so
 * the test can time its kill; at the end one JSON object with the
 * figures. Exit 0: zero lost or corrupted blocks and no failed request;
 * 1 otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pvio/blkfront.h>
#include <pvio/domain.h>

#define BS 4096u
#define MAGIC 0x70766b6c6c6b6b31ull /* "pvkllkk1" */
#define MAX_DEPTH 256u
#define RECONNECT_MS 60000

struct slot {
	struct pvio_blkfront_req req;
	uint64_t block;
	uint32_t gen;
	bool busy;
	unsigned char *buf;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	/* xorshift64*: deterministic, so a failing run can be replayed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static void block_fill(unsigned char *buf, uint64_t block, uint32_t gen)
{
	uint64_t *w = (uint64_t *)buf;
	uint64_t x = (block + 1) * 0xff51afd7ed558ccdull ^ (uint64_t)gen << 40;

	w[0] = MAGIC;
	w[1] = block * BS;
	w[2] = gen;
	for (uint32_t i = 3; i < BS / 8; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		w[i] = x;
	}
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int wait_device(struct pvio_domain *d, uint32_t devid)
{
	char dir[PVIO_XENBUS_PATH_MAX], path[PVIO_XENBUS_PATH_MAX + 16], v[256];
	uint64_t deadline = mono_ms() + 60000;
	int rc = pvio_xenbus_frontend_path(dir, sizeof(dir), "vbd", d->domid, devid);

	if (rc == 0)
		rc = pvio_xs_join(path, sizeof(path), dir, "backend");
	while (rc == 0) {
		rc = pvio_xs_read(d->xs, PVIO_XS_TX_NONE, path, v, sizeof(v), NULL);
		if (rc != -ENOENT)
			return rc;
		if (mono_ms() > deadline)
			return -ETIMEDOUT;
		poll(NULL, 0, 50);
		rc = 0;
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: kill_blk_guest RUN_DIR DEVID BLOCKS WRITES IODEPTH\n");
		return 2;
	}
	const char *run_dir = argv[1];
	uint32_t devid = (uint32_t)strtoul(argv[2], NULL, 0);
	uint64_t nblocks = strtoull(argv[3], NULL, 0);
	uint64_t target = strtoull(argv[4], NULL, 0);
	uint32_t depth = (uint32_t)strtoul(argv[5], NULL, 0);
	struct pvio_domain_config dc = { .name = "kill-blk-guest", .nr_pages = 16384 };
	struct pvio_domain *d = NULL;
	struct pvio_blkfront *bf = NULL;
	int rc;

	if (nblocks < depth || depth == 0 || depth > MAX_DEPTH) {
		fprintf(stderr, "kill_blk_guest: need 0 < IODEPTH <= min(BLOCKS, %u)\n",
			MAX_DEPTH);
		return 2;
	}
	rc = pvio_domain_connect(run_dir, &dc, &d);
	if (rc) {
		fprintf(stderr, "kill_blk_guest: connect: %s\n", strerror(-rc));
		return 1;
	}
	pvio_xs_set_timeout(d->xs, 10000);
	printf("domid %u\n", (unsigned)d->domid);
	fflush(stdout);
	rc = wait_device(d, devid);
	if (rc) {
		fprintf(stderr, "kill_blk_guest: vbd %u: %s\n", devid, strerror(-rc));
		return 1;
	}
	struct pvio_blkfront_config fc = { .max_queues = 2, .max_ring_pages = 1,
					   .timeout_ms = 30000, .reconnect = true };
	rc = pvio_blkfront_open_devid(d, devid, &fc, &bf);
	if (rc) {
		fprintf(stderr, "kill_blk_guest: open: %s\n", strerror(-rc));
		return 1;
	}
	struct pvio_blkfront_info info;
	pvio_blkfront_get_info(bf, &info);
	if (info.sectors * 512 < nblocks * BS) {
		fprintf(stderr, "kill_blk_guest: the disk is smaller than %" PRIu64 " blocks\n",
			nblocks);
		return 2;
	}

	uint32_t *acked_gen = calloc(nblocks, sizeof(*acked_gen));
	bool *busy = calloc(nblocks, sizeof(*busy));
	struct slot *slots = calloc(depth, sizeof(*slots));
	unsigned char *check = aligned_alloc(BS, BS), *expect = aligned_alloc(BS, BS);
	if (!acked_gen || !busy || !slots || !check || !expect)
		return 1;
	for (uint32_t i = 0; i < depth; i++) {
		slots[i].buf = aligned_alloc(BS, BS);
		if (!slots[i].buf)
			return 1;
	}

	uint64_t acked = 0, failed = 0, submitted = 0, losses = 0, inflight_at_loss = 0;
	uint64_t last_print = 0, next_check = mono_ms() + 100;
	uint32_t inflight = 0, next_gen = 1;
	int first_err = 0;

	while (acked < target) {
		/* Keep depth writes in flight, each on a block not in flight. */
		for (uint32_t i = 0; i < depth && acked + inflight < target; i++) {
			struct slot *s = &slots[i];
			if (s->busy)
				continue;
			uint64_t b;
			do {
				b = rng() % nblocks;
			} while (busy[b]);
			s->block = b;
			s->gen = next_gen++;
			block_fill(s->buf, b, s->gen);
			memset(&s->req, 0, sizeof(s->req));
			s->req.op = PVIO_BLKFRONT_OP_WRITE;
			s->req.sector = b * (BS / 512);
			s->req.buf = s->buf;
			s->req.nr_bytes = BS;
			s->req.user = s;
			rc = pvio_blkfront_submit(bf, PVIO_BLKFRONT_QUEUE_ANY, &s->req);
			if (rc) {
				fprintf(stderr, "kill_blk_guest: submit: %s\n", strerror(-rc));
				return 1;
			}
			s->busy = true;
			busy[b] = true;
			inflight++;
			submitted++;
		}
		struct pvio_blkfront_req *done[MAX_DEPTH];
		int n = pvio_blkfront_getevents(bf, done, 1, depth, 50u * 1000 * 1000);
		for (int k = 0; k < n; k++) {
			struct slot *s = done[k]->user;
			if (done[k]->res == 0) {
				acked_gen[s->block] = s->gen;
				acked++;
			} else {
				failed++;
				if (!first_err)
					first_err = done[k]->res;
			}
			busy[s->block] = false;
			s->busy = false;
			inflight--;
		}
		if (acked - last_print >= 200) {
			last_print = acked;
			printf("acked %" PRIu64 " inflight %u\n", acked, inflight);
			fflush(stdout);
		}
		/* The control path: the data path notices a dead event channel
		 * itself; the store tells of a backend that closed. */
		bool lost = pvio_blkfront_recovering(bf);
		if (!lost && mono_ms() >= next_check) {
			next_check = mono_ms() + 100;
			lost = pvio_blkfront_check_backend(bf, 0) == -ENOTCONN;
		}
		if (!lost)
			continue;
		losses++;
		inflight_at_loss += inflight;
		printf("lost backend: acked %" PRIu64 " inflight %u\n", acked, inflight);
		fflush(stdout);
		rc = pvio_blkfront_reconnect(bf, RECONNECT_MS);
		if (rc) {
			fprintf(stderr, "kill_blk_guest: reconnect: %s\n", strerror(-rc));
			return 1;
		}
		printf("reconnected\n");
		fflush(stdout);
	}
	if (pvio_blkfront_drain(bf, 60ull * 1000 * 1000 * 1000) != 0) {
		fprintf(stderr, "kill_blk_guest: requests did not drain\n");
		return 1;
	}

	/* Every block: an acknowledged one holds its last acknowledged
	 * generation, the others are still zero. */
	uint64_t verified = 0, lost_blocks = 0, corrupt = 0, zero_ok = 0, read_err = 0;
	for (uint64_t b = 0; b < nblocks; b++) {
		rc = pvio_blkfront_pread(bf, check, BS, b * BS);
		if (rc) {
			read_err++;
			continue;
		}
		const uint64_t *w = (const uint64_t *)check;
		if (acked_gen[b] == 0) {
			bool zero = true;
			for (uint32_t i = 0; i < BS / 8 && zero; i++)
				zero = w[i] == 0;
			zero_ok += zero;
			corrupt += !zero;
			continue;
		}
		block_fill(expect, b, acked_gen[b]);
		if (memcmp(check, expect, BS) == 0) {
			verified++;
		} else if (w[0] == MAGIC && w[1] == b * BS && w[2] < acked_gen[b]) {
			lost_blocks++; /* an older write: the acknowledged one is lost */
		} else {
			corrupt++;
		}
	}
	struct pvio_blkfront_stats st;
	pvio_blkfront_get_stats(bf, &st);
	printf("{\"writes_submitted\": %" PRIu64 ", \"writes_acked\": %" PRIu64
	       ", \"writes_failed\": %" PRIu64 ", \"first_error\": %d, \"losses\": %" PRIu64
	       ", \"inflight_at_loss\": %" PRIu64 ", \"reconnects\": %" PRIu64
	       ", \"reissued\": %" PRIu64 ", \"rings_leaked\": %" PRIu64
	       ", \"revokes_pending\": %" PRIu64 ", \"blocks\": %" PRIu64
	       ", \"verified\": %" PRIu64 ", \"unwritten_zero\": %" PRIu64
	       ", \"lost\": %" PRIu64 ", \"corrupt\": %" PRIu64 ", \"read_errors\": %" PRIu64 "}\n",
	       submitted, acked, failed, first_err, losses, inflight_at_loss, st.reconnects,
	       st.reissued, st.rings_leaked, st.revokes_pending, nblocks, verified, zero_ok,
	       lost_blocks, corrupt, read_err);
	fflush(stdout);
	int status = failed || lost_blocks || corrupt || read_err ? 1 : 0;
	rc = pvio_blkfront_close(bf);
	if (rc && rc != -EBUSY)
		fprintf(stderr, "kill_blk_guest: close: %s\n", strerror(-rc));
	pvio_domain_disconnect(d);
	for (uint32_t i = 0; i < depth; i++)
		free(slots[i].buf);
	free(slots);
	free(acked_gen);
	free(busy);
	free(check);
	free(expect);
	return status;
}
