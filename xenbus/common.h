/* SPDX-License-Identifier: MIT */
/*
 * Private to xenbus/: freestanding string helpers and the client's internal
 * request path shared by the files of the layer. No libc: the compiler may
 * emit memcpy/memset, which the embedder provides.
 */
#ifndef PVIO_XENBUS_COMMON_H
#define PVIO_XENBUS_COMMON_H

#include <pvio/xenbus.h>

static inline size_t xb_strlen(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0')
		n++;
	return n;
}

static inline size_t xb_strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n] != '\0')
		n++;
	return n;
}

static inline bool xb_streq(const char *a, const char *b)
{
	while (*a != '\0' && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

static inline bool xb_memeq(const void *a, const void *b, size_t len)
{
	const unsigned char *x = a, *y = b;

	for (size_t i = 0; i < len; i++)
		if (x[i] != y[i])
			return false;
	return true;
}

/*
 * Append s to buf[size] at *pos, keeping buf NUL-terminated.
 * Returns 0 or -ENAMETOOLONG (buf then holds a truncated string).
 */
static inline int xb_append(char *buf, size_t size, size_t *pos, const char *s)
{
	while (*s != '\0') {
		if (*pos + 1 >= size) {
			buf[*pos] = '\0';
			return -ENAMETOOLONG;
		}
		buf[(*pos)++] = *s++;
	}
	buf[*pos] = '\0';
	return 0;
}

/* Append value in decimal. 0 or -ENAMETOOLONG. */
static inline int xb_append_uint(char *buf, size_t size, size_t *pos,
				 uint64_t value)
{
	char num[24];

	if (pvio_xs_format_uint(num, sizeof(num), value) < 0)
		return -ENAMETOOLONG;
	return xb_append(buf, size, pos, num);
}

/* One piece of a request payload. */
struct xs_part {
	const void *ptr;
	size_t len;
};

/*
 * Send one request of type on transaction t made of parts, and wait for its
 * reply. On success *reply points into xs->rx.payload (NUL-terminated,
 * valid until the next call on xs) and *reply_len is its length.
 * Returns 0 or -errno as the public calls document.
 */
int xs_request(struct pvio_xs *xs, pvio_xs_tx_t t, enum pvio_xs_type type,
	       const struct xs_part *parts, unsigned nr_parts,
	       const char **reply, uint32_t *reply_len);

/* Drop queued events with this path and token (after an unwatch). */
void xs_purge_events(struct pvio_xs *xs, const char *path, const char *token);

#endif /* PVIO_XENBUS_COMMON_H */
