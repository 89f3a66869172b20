/* SPDX-License-Identifier: MIT */
/*
 * Each engine (io_uring, libaio, sync; null for the protocol-only path)
 * doing read, write, flush and discard on a temp file, O_DIRECT and
 * buffered, a batch of many I/Os at once, and ENOSPC from a full 1 MiB
 * tmpfs mounted by the test (root; a failed mount fails the test).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "common.h"

#define FILE_BYTES (4u << 20)

static char *make_file_in(const char *dir, uint64_t bytes)
{
	char *path = malloc(strlen(dir) + sizeof("/pvio-bb-engine-XXXXXX"));
	int fd;

	assert_non_null(path);
	strcpy(path, dir);
	strcat(path, "/pvio-bb-engine-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)bytes), 0);
	close(fd);
	return path;
}

static char *make_file(uint64_t bytes)
{
	return make_file_in("/tmp", bytes);
}

/* A fresh tmpfs of opts on a new directory (dir: a mkdtemp template). */
static void mount_tmpfs(char *dir, const char *opts)
{
	assert_non_null(mkdtemp(dir));
	if (mount("tmpfs", dir, "tmpfs", 0, opts) != 0) {
		rmdir(dir);
		fail_msg("mount tmpfs on %s: %s (the test needs root)", dir, strerror(errno));
	}
}

static void umount_tmpfs(char *dir)
{
	assert_int_equal(umount2(dir, MNT_DETACH), 0);
	rmdir(dir);
}

static void *abuf(size_t n)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, 4096, n), 0);
	return p;
}

/* Submit one I/O and wait for it. */
static int64_t run1(const struct blkback_engine_ops *e, void *ctx, struct blkback_io *io)
{
	struct blkback_io *done[4];
	struct blkback_io *const one[1] = { io };
	int n;

	assert_int_equal(e->submit(ctx, one, 1), 1);
	do {
		n = e->reap(ctx, done, 4, true);
		assert_true(n >= 0);
	} while (n == 0);
	assert_int_equal(n, 1);
	assert_ptr_equal(done[0], io);
	return io->result;
}

static void open_engine(const struct blkback_engine_ops *e,
			const struct blkback_backing *b, void **ctx)
{
	struct blkback_engine_params p = { .backing = b, .depth = 64 };

	assert_int_equal(e->open(&p, ctx), 0);
}

/*
 * Write, flush, read, discard, read on a file in dir. want_inline: the
 * reads and writes io_uring must have done inline (3 on a memory file
 * system, else 0).
 */
static void rw_engine_in(const char *name, bool direct, const char *dir,
			 uint64_t want_inline)
{
	const struct blkback_engine_ops *e = blkback_engine_find(name);
	struct blkback_backing b;
	struct blkback_engine_stats st;
	char *path = make_file_in(dir, FILE_BYTES);
	unsigned char *w = abuf(16384), *r = abuf(16384);
	struct iovec wv[2] = { { w, 8192 }, { w + 8192, 8192 } };
	struct iovec rv[1] = { { r, 16384 } };
	struct blkback_io io;
	void *ctx;

	assert_non_null(e);
	assert_int_equal(bb_backing_open(&b, path, false), 0);
	assert_int_equal(b.size, FILE_BYTES);
	if (direct)
		assert_true(b.direct_fd >= 0);
	open_engine(e, &b, &ctx);
	for (int i = 0; i < 16384; i++)
		w[i] = (unsigned char)(i * 7 + 3);
	memset(r, 0, 16384);

	io = (struct blkback_io){ .op = BLKBACK_IO_WRITE, .direct = direct, .nr_iov = 2,
				  .offset = 65536, .len = 16384, .iov = wv };
	assert_int_equal(run1(e, ctx, &io), 16384);
	io = (struct blkback_io){ .op = BLKBACK_IO_FLUSH };
	assert_int_equal(run1(e, ctx, &io), 0);
	io = (struct blkback_io){ .op = BLKBACK_IO_READ, .direct = direct, .nr_iov = 1,
				  .offset = 65536, .len = 16384, .iov = rv };
	assert_int_equal(run1(e, ctx, &io), 16384);
	if (strcmp(name, "null") != 0) {
		assert_memory_equal(w, r, 16384);
		/* Discard the middle 8 KiB: reads back as zeroes. */
		assert_true(b.can_discard);
		io = (struct blkback_io){ .op = BLKBACK_IO_DISCARD, .offset = 65536 + 4096,
					  .len = 8192 };
		assert_int_equal(run1(e, ctx, &io), 0);
		io = (struct blkback_io){ .op = BLKBACK_IO_READ, .direct = direct, .nr_iov = 1,
					  .offset = 65536, .len = 16384, .iov = rv };
		assert_int_equal(run1(e, ctx, &io), 16384);
		assert_memory_equal(r, w, 4096);
		for (int i = 4096; i < 12288; i++)
			assert_int_equal(r[i], 0);
		assert_memory_equal(r + 12288, w + 12288, 4096);
		/* Files cannot discard securely. */
		io = (struct blkback_io){ .op = BLKBACK_IO_SECURE_DISCARD, .offset = 0,
					  .len = 4096 };
		assert_int_equal(run1(e, ctx, &io), -EOPNOTSUPP);
	}
	e->stats(ctx, &st);
	if (!strcmp(name, "io_uring"))
		assert_int_equal(st.inline_ios, want_inline);
	e->close(ctx);
	bb_backing_close(&b);
	unlink(path);
	free(path);
	free(w);
	free(r);
}

static void rw_one_engine(const char *name, bool direct)
{
	struct statfs sfs;
	bool mem;

	assert_int_equal(statfs("/tmp", &sfs), 0);
	mem = sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC;
	rw_engine_in(name, direct, "/tmp", mem ? 3 : 0);
}

/* On tmpfs io_uring would hand every read and write to an io-wq worker
 * (no nonblocking I/O there); the engine does them inline instead. A file
 * on a disk file system keeps using the ring: rw_one_engine checks that
 * none ran inline under /tmp unless /tmp is itself a tmpfs. */
static void io_uring_reads_and_writes_inline_on_tmpfs(void **s)
{
	char dir[] = "/tmp/pvio-bb-shm-XXXXXX";

	(void)s;
	mount_tmpfs(dir, "size=16m");
	rw_engine_in("io_uring", false, dir, 3);
	umount_tmpfs(dir);
}

/* A tmpfs file of n bytes, every byte written (no holes): byte i is i * 13. */
static char *full_file_in(const char *dir, size_t n)
{
	char *path = make_file_in(dir, 0);
	unsigned char *data = malloc(n);
	int fd;

	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 13);
	fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, n, 0), (ssize_t)n);
	close(fd);
	free(data);
	return path;
}

static int64_t read_at(const struct blkback_engine_ops *e, void *ctx, unsigned char *buf,
		       uint64_t off, uint32_t len)
{
	struct iovec v[2] = { { buf, len / 2 }, { buf + len / 2, len - len / 2 } };
	struct blkback_io io = { .op = BLKBACK_IO_READ, .nr_iov = 2, .offset = off,
				 .len = len, .iov = v };

	return run1(e, ctx, &io);
}

static void check_pattern(const unsigned char *buf, uint64_t off, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		assert_int_equal(buf[i], (unsigned char)((off + i) * 13));
}

/* The io_uring engine on path (opened into *b). */
static void *uring_on(const char *path, struct blkback_backing *b)
{
	void *ctx;

	assert_int_equal(bb_backing_open(b, path, false), 0);
	open_engine(blkback_engine_find("io_uring"), b, &ctx);
	return ctx;
}

/* Close what uring_on opened, remove and free path. */
static void uring_off(void *ctx, struct blkback_backing *b, char *path)
{
	blkback_engine_find("io_uring")->close(ctx);
	bb_backing_close(b);
	unlink(path);
	free(path);
}

/*
 * Reads from a tmpfs file without holes are copied from a mapping of it.
 * When the file shrinks under the mapping, the read past the new end
 * takes SIGBUS, which the engine survives: that read fails with an I/O
 * error, and later reads use preadv.
 */
static void io_uring_reads_tmpfs_through_a_mapping_and_survives_sigbus(void **s)
{
	const struct blkback_engine_ops *e = blkback_engine_find("io_uring");
	char dir[] = "/tmp/pvio-bb-map-XXXXXX";
	struct blkback_engine_stats st;
	struct blkback_backing b;
	unsigned char *buf = abuf(16384);
	char *path;
	void *ctx;

	(void)s;
	mount_tmpfs(dir, "size=16m");
	path = full_file_in(dir, 1 << 20);
	ctx = uring_on(path, &b);
	assert_int_equal(read_at(e, ctx, buf, 8192 + 512, 16384), 16384);
	check_pattern(buf, 8192 + 512, 16384);
	e->stats(ctx, &st);
	assert_int_equal(st.mapped_reads, 1);

	/* Another program truncates the image to 512 KiB. */
	assert_int_equal(truncate(path, 512 << 10), 0);
	assert_true(read_at(e, ctx, buf, 768 << 10, 4096) < 0);
	assert_int_equal(read_at(e, ctx, buf, 4096, 4096), 4096);
	check_pattern(buf, 4096, 4096);
	e->stats(ctx, &st);
	assert_int_equal(st.mapped_reads, 1); /* preadv from then on */
	assert_int_equal(st.inline_ios, 3);
	uring_off(ctx, &b, path);
	umount_tmpfs(dir);
	free(buf);
}

/* A hole, or a discard that punches one, keeps reads off the mapping: a
 * read fault would fill the hole with a page of tmpfs memory. */
static void io_uring_keeps_holes_off_the_mapping(void **s)
{
	const struct blkback_engine_ops *e = blkback_engine_find("io_uring");
	char dir[] = "/tmp/pvio-bb-map-XXXXXX";
	struct blkback_engine_stats st;
	struct blkback_backing b;
	struct blkback_io io;
	unsigned char *buf = abuf(16384);
	char *path;
	void *ctx;

	(void)s;
	mount_tmpfs(dir, "size=16m");
	/* Sparse: never mapped. */
	path = make_file_in(dir, 1 << 20);
	ctx = uring_on(path, &b);
	memset(buf, 0xff, 4096);
	assert_int_equal(read_at(e, ctx, buf, 4096, 4096), 4096);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(buf[i], 0);
	e->stats(ctx, &st);
	assert_int_equal(st.mapped_reads, 0);
	uring_off(ctx, &b, path);

	/* Written whole: mapped until a discard punches a hole. */
	path = full_file_in(dir, 1 << 20);
	ctx = uring_on(path, &b);
	assert_int_equal(read_at(e, ctx, buf, 0, 4096), 4096);
	check_pattern(buf, 0, 4096);
	io = (struct blkback_io){ .op = BLKBACK_IO_DISCARD, .offset = 65536, .len = 8192 };
	assert_int_equal(run1(e, ctx, &io), 0);
	assert_int_equal(read_at(e, ctx, buf, 65536 - 4096, 16384), 16384);
	check_pattern(buf, 65536 - 4096, 4096);
	for (int i = 4096; i < 12288; i++)
		assert_int_equal(buf[i], 0);
	check_pattern(buf + 12288, 65536 + 8192, 4096);
	e->stats(ctx, &st);
	assert_int_equal(st.mapped_reads, 1);
	uring_off(ctx, &b, path);
	umount_tmpfs(dir);
	free(buf);
}

static void io_uring_reads_writes_flushes_discards_direct(void **s) { (void)s; rw_one_engine("io_uring", true); }
static void io_uring_reads_writes_flushes_discards_buffered(void **s) { (void)s; rw_one_engine("io_uring", false); }
static void libaio_reads_writes_flushes_discards_direct(void **s) { (void)s; rw_one_engine("libaio", true); }
static void libaio_reads_writes_flushes_discards_buffered(void **s) { (void)s; rw_one_engine("libaio", false); }
static void sync_reads_writes_flushes_discards(void **s) { (void)s; rw_one_engine("sync", true); rw_one_engine("sync", false); }
static void null_completes_everything_at_once(void **s) { (void)s; rw_one_engine("null", false); }

/* A batch of 64 writes then 64 reads, each 4 KiB at its own offset. */
static void batch_one_engine(const char *name)
{
	const struct blkback_engine_ops *e = blkback_engine_find(name);
	struct blkback_backing b;
	char *path = make_file(FILE_BYTES);
	unsigned char *buf = abuf(64 * 4096), *rd = abuf(64 * 4096);
	struct blkback_io ios[64], *ptrs[64], *done[64];
	struct iovec v[64];
	void *ctx;

	assert_int_equal(bb_backing_open(&b, path, false), 0);
	open_engine(e, &b, &ctx);
	for (int pass = 0; pass < 2; pass++) {
		uint32_t sub = 0, got = 0;

		for (int i = 0; i < 64; i++) {
			unsigned char *p = (pass ? rd : buf) + i * 4096;

			if (!pass)
				memset(p, i + 1, 4096);
			v[i] = (struct iovec){ p, 4096 };
			ios[i] = (struct blkback_io){ .op = pass ? BLKBACK_IO_READ : BLKBACK_IO_WRITE,
						      .direct = true, .nr_iov = 1,
						      .offset = (uint64_t)(63 - i) * 8192,
						      .len = 4096, .iov = &v[i] };
			ptrs[i] = &ios[i];
		}
		while (got < 64) {
			if (sub < 64) {
				int k = e->submit(ctx, ptrs + sub, 64 - sub);

				assert_true(k >= 0);
				sub += (uint32_t)k;
			}
			int n = e->reap(ctx, done, 64, true);

			assert_true(n >= 0);
			for (int k = 0; k < n; k++)
				assert_int_equal(done[k]->result, 4096);
			got += (uint32_t)n;
		}
		assert_int_equal(e->inflight(ctx), 0);
	}
	assert_memory_equal(buf, rd, 64 * 4096);
	e->close(ctx);
	bb_backing_close(&b);
	unlink(path);
	free(path);
	free(buf);
	free(rd);
}

static void io_uring_batches_many_ios(void **s) { (void)s; batch_one_engine("io_uring"); }
static void libaio_batches_many_ios(void **s) { (void)s; batch_one_engine("libaio"); }
static void sync_batches_many_ios(void **s) { (void)s; batch_one_engine("sync"); }

/* ENOSPC: a 1 MiB tmpfs, a 4 MiB sparse file, write 2 MiB. */
static void enospc_one_engine(const char *name)
{
	const struct blkback_engine_ops *e = blkback_engine_find(name);
	char dir[] = "/tmp/pvio-bb-tiny-XXXXXX", path[64];
	struct blkback_backing b;
	unsigned char *buf = abuf(65536);
	struct iovec v = { buf, 65536 };
	struct blkback_io io;
	bool nospc = false;
	void *ctx;
	int fd;

	mount_tmpfs(dir, "size=1m");
	snprintf(path, sizeof(path), "%s/disk", dir);
	fd = open(path, O_CREAT | O_RDWR, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4 << 20), 0);
	close(fd);
	assert_int_equal(bb_backing_open(&b, path, false), 0);
	open_engine(e, &b, &ctx);
	memset(buf, 0xab, 65536);
	for (int i = 0; i < 32 && !nospc; i++) {
		io = (struct blkback_io){ .op = BLKBACK_IO_WRITE, .direct = true, .nr_iov = 1,
					  .offset = (uint64_t)i * 65536, .len = 65536, .iov = &v };
		int64_t r = run1(e, ctx, &io);

		if (r == -ENOSPC)
			nospc = true;
		else
			assert_int_equal(r, 65536);
	}
	assert_true(nospc);
	/* The engine keeps working after the error. */
	io = (struct blkback_io){ .op = BLKBACK_IO_READ, .direct = true, .nr_iov = 1,
				  .offset = 0, .len = 65536, .iov = &v };
	assert_int_equal(run1(e, ctx, &io), 65536);
	e->close(ctx);
	bb_backing_close(&b);
	unlink(path);
	umount_tmpfs(dir);
	free(buf);
}

static void io_uring_reports_enospc_from_a_full_tmpfs(void **s) { (void)s; enospc_one_engine("io_uring"); }
static void libaio_reports_enospc_from_a_full_tmpfs(void **s) { (void)s; enospc_one_engine("libaio"); }
static void sync_reports_enospc_from_a_full_tmpfs(void **s) { (void)s; enospc_one_engine("sync"); }

static void io_uring_uses_fixed_buffer_inside_registered_region(void **s)
{
	const struct blkback_engine_ops *e = blkback_engine_find("io_uring");
	struct blkback_backing b;
	char *path = make_file(FILE_BYTES);
	unsigned char *region = abuf(1 << 20);
	struct blkback_engine_params p = { .depth = 8, .buf_base = region,
					   .buf_len = 1 << 20, .fixed_buffers = true };
	struct blkback_engine_stats st;
	struct iovec v = { region + 8192, 4096 };
	struct blkback_io io;
	void *ctx;

	(void)s;
	assert_int_equal(bb_backing_open(&b, path, false), 0);
	p.backing = &b;
	assert_int_equal(e->open(&p, &ctx), 0);
	memset(region + 8192, 0x5a, 4096);
	io = (struct blkback_io){ .op = BLKBACK_IO_WRITE, .direct = true, .nr_iov = 1,
				  .offset = 4096, .len = 4096, .iov = &v };
	assert_int_equal(run1(e, ctx, &io), 4096);
	memset(region + 8192, 0, 4096);
	io = (struct blkback_io){ .op = BLKBACK_IO_READ, .direct = true, .nr_iov = 1,
				  .offset = 4096, .len = 4096, .iov = &v };
	assert_int_equal(run1(e, ctx, &io), 4096);
	assert_int_equal(region[8192], 0x5a);
	e->stats(ctx, &st);
	assert_int_equal(st.fixed_ios, 2);
	e->close(ctx);
	bb_backing_close(&b);
	unlink(path);
	free(path);
	free(region);
}

static void engines_are_listed_with_io_uring_first(void **s)
{
	(void)s;
	assert_string_equal(blkback_engine_find(NULL)->name, "io_uring");
	assert_non_null(blkback_engine_find("libaio"));
	assert_non_null(blkback_engine_find("sync"));
	assert_non_null(blkback_engine_find("null"));
	assert_null(blkback_engine_find("spdk"));
	for (size_t i = 0; blkback_engines[i]; i++) {
		const struct blkback_engine_ops *e = blkback_engines[i];

		assert_non_null(e->open);
		assert_non_null(e->submit);
		assert_non_null(e->reap);
		assert_non_null(e->inflight);
		assert_non_null(e->stats);
		assert_non_null(e->close);
	}
}

static void backing_refuses_what_is_not_a_file_or_disk(void **s)
{
	struct blkback_backing b;
	char *path = make_file(0);

	(void)s;
	assert_int_equal(bb_backing_open(&b, "/tmp", false), -EINVAL);
	assert_int_equal(bb_backing_open(&b, path, false), -EINVAL); /* empty */
	assert_int_equal(bb_backing_open(&b, "/nonexistent/x", false), -ENOENT);
	unlink(path);
	free(path);
}

static void readonly_backing_offers_no_discard(void **s)
{
	struct blkback_backing b;
	char *path = make_file(FILE_BYTES);

	(void)s;
	assert_int_equal(bb_backing_open(&b, path, true), 0);
	assert_true(b.readonly);
	assert_false(b.can_discard);
	bb_backing_close(&b);
	unlink(path);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(engines_are_listed_with_io_uring_first),
		cmocka_unit_test(io_uring_reads_writes_flushes_discards_direct),
		cmocka_unit_test(io_uring_reads_writes_flushes_discards_buffered),
		cmocka_unit_test(io_uring_reads_and_writes_inline_on_tmpfs),
		cmocka_unit_test(io_uring_reads_tmpfs_through_a_mapping_and_survives_sigbus),
		cmocka_unit_test(io_uring_keeps_holes_off_the_mapping),
		cmocka_unit_test(libaio_reads_writes_flushes_discards_direct),
		cmocka_unit_test(libaio_reads_writes_flushes_discards_buffered),
		cmocka_unit_test(sync_reads_writes_flushes_discards),
		cmocka_unit_test(null_completes_everything_at_once),
		cmocka_unit_test(io_uring_batches_many_ios),
		cmocka_unit_test(libaio_batches_many_ios),
		cmocka_unit_test(sync_batches_many_ios),
		cmocka_unit_test(io_uring_reports_enospc_from_a_full_tmpfs),
		cmocka_unit_test(libaio_reports_enospc_from_a_full_tmpfs),
		cmocka_unit_test(sync_reports_enospc_from_a_full_tmpfs),
		cmocka_unit_test(io_uring_uses_fixed_buffer_inside_registered_region),
		cmocka_unit_test(backing_refuses_what_is_not_a_file_or_disk),
		cmocka_unit_test(readonly_backing_offers_no_discard),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
