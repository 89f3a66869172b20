/* SPDX-License-Identifier: MIT */
/*
 * Store values and names: strict decimal parsing and formatting, Xen's
 * error names, path joining. Freestanding, no I/O.
 */
#include "common.h"

int pvio_xs_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (s == NULL || s[0] == '\0')
		return -EINVAL;
	if (s[0] == '0' && s[1] != '\0')
		return -EINVAL;         /* "007": not canonical (octal?) */
	for (const char *p = s; *p != '\0'; p++) {
		unsigned d;

		if (*p < '0' || *p > '9')
			return -EINVAL;
		d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10) {
			/* Overflow: still reject garbage later in s first. */
			for (p++; *p != '\0'; p++)
				if (*p < '0' || *p > '9')
					return -EINVAL;
			return -ERANGE;
		}
		v = v * 10 + d;
	}
	if (v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int pvio_xs_format_uint(char *buf, size_t size, uint64_t value)
{
	char rev[20];
	int n = 0;

	do {
		rev[n++] = (char)('0' + value % 10);
		value /= 10;
	} while (value != 0);
	if ((size_t)n + 1 > size)
		return -ERANGE;
	for (int i = 0; i < n; i++)
		buf[i] = rev[n - 1 - i];
	buf[n] = '\0';
	return n;
}

/* Xen's xsd_errors, in its order. */
static const struct {
	int err;
	const char *name;
} xsd_errors[] = {
	{ EINVAL, "EINVAL" },
	{ EACCES, "EACCES" },
	{ EEXIST, "EEXIST" },
	{ EISDIR, "EISDIR" },
	{ ENOENT, "ENOENT" },
	{ ENOMEM, "ENOMEM" },
	{ ENOSPC, "ENOSPC" },
	{ EIO, "EIO" },
	{ ENOTEMPTY, "ENOTEMPTY" },
	{ ENOSYS, "ENOSYS" },
	{ EROFS, "EROFS" },
	{ EBUSY, "EBUSY" },
	{ EAGAIN, "EAGAIN" },
	{ EISCONN, "EISCONN" },
	{ E2BIG, "E2BIG" },
	{ EPERM, "EPERM" },
};

int pvio_xs_error_errno(const char *name)
{
	for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (xb_streq(name, xsd_errors[i].name))
			return -xsd_errors[i].err;
	return -EPROTO;
}

const char *pvio_xs_errno_name(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
		if (xsd_errors[i].err == err)
			return xsd_errors[i].name;
	return "EIO";
}

int pvio_xs_join(char *buf, size_t size, const char *dir, const char *node)
{
	size_t pos = 0;
	int err;

	if (size == 0)
		return -ENAMETOOLONG;
	buf[0] = '\0';
	err = xb_append(buf, size, &pos, dir);
	if (err == 0 && node != NULL && node[0] != '\0') {
		err = xb_append(buf, size, &pos, "/");
		if (err == 0)
			err = xb_append(buf, size, &pos, node);
	}
	if (err == 0 && pos > PVIO_XS_ABS_PATH_MAX)
		err = -ENAMETOOLONG;
	return err;
}
