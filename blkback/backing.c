/* SPDX-License-Identifier: MIT */
/*
 * The backing store: opening and probing a raw image file or a block
 * device, and the synchronous I/O helper every engine may fall back on.
 *
 * O_DIRECT: a second fd opened with O_DIRECT serves requests aligned to
 * its alignment (probed with one aligned read: 512, else 4096); a file
 * system that refuses O_DIRECT (open or the probe fails with EINVAL: tmpfs
 * before Linux 6.6) leaves direct_fd at -1 and everything goes buffered.
 *
 * Discard: block devices use BLKDISCARD / BLKSECDISCARD, probed with a
 * deliberately misaligned range (the kernel answers EOPNOTSUPP before it
 * checks alignment when the device cannot discard, EINVAL after, so the
 * probe never discards anything); files use fallocate(PUNCH_HOLE |
 * KEEP_SIZE), probed past the end of the file, and never offer secure.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common.h"

static int rw_all(int fd, bool write, const struct iovec *iov, uint32_t nr,
		  uint64_t off, uint64_t *done)
{
	*done = 0;
	while (nr > 0) {
		int cnt = nr > IOV_MAX ? IOV_MAX : (int)nr;
		ssize_t r = write ? pwritev(fd, iov, cnt, (off_t)off)
				  : preadv(fd, iov, cnt, (off_t)off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO; /* past the end: the file shrank */
		*done += (uint64_t)r;
		off += (uint64_t)r;
		while (nr > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			nr--;
		}
		if (nr > 0 && r > 0) {
			/* A short transfer inside one iovec: finish that one. */
			char *base = (char *)iov->iov_base + r;
			size_t left = iov->iov_len - (size_t)r;

			while (left > 0) {
				ssize_t k = write ? pwrite(fd, base, left, (off_t)off)
						  : pread(fd, base, left, (off_t)off);

				if (k < 0 && errno == EINTR)
					continue;
				if (k < 0)
					return -errno;
				if (k == 0)
					return -EIO;
				base += k;
				left -= (size_t)k;
				*done += (uint64_t)k;
				off += (uint64_t)k;
			}
			iov++;
			nr--;
		}
	}
	return 0;
}

int64_t blkback_io_do_sync(const struct blkback_backing *b, struct blkback_io *io)
{
	int fd = blkback_io_fd(b, io);
	uint64_t done = 0;
	int rc = 0;

	switch (io->op) {
	case BLKBACK_IO_READ:
	case BLKBACK_IO_WRITE:
		rc = rw_all(fd, io->op == BLKBACK_IO_WRITE, io->iov, io->nr_iov,
			    io->offset, &done);
		io->result = rc ? rc : (int64_t)done;
		return io->result;
	case BLKBACK_IO_FLUSH:
		rc = fdatasync(b->fd) ? -errno : 0;
		break;
	case BLKBACK_IO_DISCARD:
	case BLKBACK_IO_SECURE_DISCARD:
		if (b->is_blockdev) {
			uint64_t range[2] = { io->offset, io->len };
			unsigned long req = io->op == BLKBACK_IO_DISCARD ? BLKDISCARD
									: BLKSECDISCARD;

			rc = ioctl(b->fd, req, range) ? -errno : 0;
		} else if (io->op == BLKBACK_IO_SECURE_DISCARD) {
			rc = -EOPNOTSUPP;
		} else {
			rc = fallocate(b->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				       (off_t)io->offset, (off_t)io->len) ? -errno : 0;
		}
		break;
	default:
		rc = -EINVAL;
	}
	io->result = rc;
	return rc;
}

static uint32_t sysfs_u32(dev_t rdev, const char *attr, uint32_t def)
{
	char path[128];
	unsigned long v;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/queue/%s",
		 major(rdev), minor(rdev), attr);
	f = fopen(path, "re");
	if (!f)
		return def;
	if (fscanf(f, "%lu", &v) != 1)
		v = def;
	fclose(f);
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* One aligned O_DIRECT read decides whether, and at what alignment. */
static void probe_direct(struct blkback_backing *b)
{
	static const uint32_t aligns[] = { 512, 4096 };
	void *buf;

	if (b->direct_fd < 0)
		return;
	if (posix_memalign(&buf, 4096, 4096)) {
		close(b->direct_fd);
		b->direct_fd = -1;
		return;
	}
	for (size_t i = 0; i < 2; i++) {
		uint32_t a = aligns[i] < b->logical_block ? b->logical_block : aligns[i];

		if (b->size < a) {
			b->direct_align = 4096;
			free(buf);
			return;
		}
		if (pread(b->direct_fd, buf, a, 0) == (ssize_t)a) {
			b->direct_align = a;
			free(buf);
			return;
		}
	}
	free(buf);
	close(b->direct_fd);
	b->direct_fd = -1;
}

int bb_backing_open(struct blkback_backing *b, const char *path, bool readonly)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	int rc;

	memset(b, 0, sizeof(*b));
	b->fd = b->direct_fd = -1;
	b->readonly = readonly;
	if (stat(path, &st))
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return -EINVAL; /* neither an image file nor a block device */
	b->fd = open(path, flags);
	if (b->fd < 0)
		return -errno;
	if (fstat(b->fd, &st)) {
		rc = -errno;
		goto fail;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t bytes;
		int lbs = 512;
		unsigned int pbs = 512;

		b->is_blockdev = true;
		if (ioctl(b->fd, BLKGETSIZE64, &bytes)) {
			rc = -errno;
			goto fail;
		}
		(void)ioctl(b->fd, BLKSSZGET, &lbs);
		(void)ioctl(b->fd, BLKPBSZGET, &pbs);
		b->size = bytes & ~(uint64_t)511;
		b->logical_block = lbs >= 512 ? (uint32_t)lbs : 512;
		b->physical_block = pbs >= b->logical_block ? pbs : b->logical_block;
		if (!readonly) {
			uint64_t probe[2] = { 1, 1 };

			b->can_discard = ioctl(b->fd, BLKDISCARD, probe) != 0 &&
					 errno == EINVAL;
			b->can_secure = ioctl(b->fd, BLKSECDISCARD, probe) != 0 &&
					errno == EINVAL;
		}
		b->discard_granularity = sysfs_u32(st.st_rdev, "discard_granularity",
						   b->logical_block);
		if (b->discard_granularity == 0)
			b->discard_granularity = b->logical_block;
	} else if (S_ISREG(st.st_mode)) {
		b->size = (uint64_t)st.st_size & ~(uint64_t)511;
		b->logical_block = 512;
		b->physical_block = st.st_blksize >= 512 && st.st_blksize <= 4096 ?
					    (uint32_t)st.st_blksize : 512;
		b->discard_granularity = b->physical_block;
		if (!readonly) {
			off_t past = (off_t)((b->size + 2 * 4096) & ~(uint64_t)4095);

			b->can_discard = fallocate(b->fd, FALLOC_FL_PUNCH_HOLE |
						   FALLOC_FL_KEEP_SIZE, past, 4096) == 0;
		}
	} else {
		rc = -EINVAL; /* neither an image file nor a block device */
		goto fail;
	}
	if (b->size == 0) {
		rc = -EINVAL;
		goto fail;
	}
	b->direct_align = b->logical_block;
	b->direct_fd = open(path, flags | O_DIRECT);
	probe_direct(b);
	return 0;
fail:
	close(b->fd);
	b->fd = -1;
	return rc;
}

void bb_backing_close(struct blkback_backing *b)
{
	if (b->direct_fd >= 0)
		close(b->direct_fd);
	if (b->fd >= 0)
		close(b->fd);
	b->fd = b->direct_fd = -1;
}
