/* SPDX-License-Identifier: MIT */
/*
 * The store operations: one function per xs_wire request, each a payload
 * built from parts and a reply checked before it is used. Freestanding.
 */
#include "common.h"

/* path with its NUL, checked for length. 0, -EINVAL, -ENAMETOOLONG. */
static int path_part(const char *path, struct xs_part *part)
{
	size_t len;

	if (path == NULL || path[0] == '\0')
		return -EINVAL;
	len = xb_strnlen(path, PVIO_XS_ABS_PATH_MAX + 1);
	if (len > PVIO_XS_ABS_PATH_MAX)
		return -ENAMETOOLONG;
	part->ptr = path;
	part->len = len + 1;
	return 0;
}

/* A request whose payload is just "path\0" and whose reply is ignored. */
static int path_only(struct pvio_xs *xs, pvio_xs_tx_t t,
		     enum pvio_xs_type type, const char *path,
		     const char **reply, uint32_t *reply_len)
{
	struct xs_part part;
	int err = path_part(path, &part);

	if (err < 0)
		return err;
	return xs_request(xs, t, type, &part, 1, reply, reply_len);
}

int pvio_xs_read(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		 char *buf, size_t size, size_t *len)
{
	const char *reply;
	uint32_t reply_len;
	int err = path_only(xs, t, PVIO_XS_READ, path, &reply, &reply_len);

	if (err < 0)
		return err;
	if ((size_t)reply_len + 1 > size)
		return -ERANGE;
	__builtin_memcpy(buf, reply, reply_len);
	buf[reply_len] = '\0';
	if (len != NULL)
		*len = reply_len;
	return 0;
}

int pvio_xs_write(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		  const char *value)
{
	struct xs_part parts[2];
	int err = path_part(path, &parts[0]);

	if (err < 0)
		return err;
	if (value == NULL)
		return -EINVAL;
	parts[1].ptr = value;    /* the value goes without its NUL, as Xen's */
	parts[1].len = xb_strnlen(value, PVIO_XS_PAYLOAD_MAX + 1);
	return xs_request(xs, t, PVIO_XS_WRITE, parts, 2, NULL, NULL);
}

int pvio_xs_mkdir(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path)
{
	return path_only(xs, t, PVIO_XS_MKDIR, path, NULL, NULL);
}

int pvio_xs_rm(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path)
{
	return path_only(xs, t, PVIO_XS_RM, path, NULL, NULL);
}

int pvio_xs_directory(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		      char *buf, size_t size, unsigned *nr)
{
	const char *reply;
	uint32_t reply_len;
	unsigned count = 0;
	int err = path_only(xs, t, PVIO_XS_DIRECTORY, path, &reply,
			    &reply_len);

	if (err < 0)
		return err;
	/* Every name NUL-terminated and non-empty. */
	for (uint32_t i = 0; i < reply_len; i++) {
		if (reply[i] != '\0')
			continue;
		if (i == 0 || reply[i - 1] == '\0')
			return -EPROTO;
		count++;
	}
	if (reply_len > 0 && reply[reply_len - 1] != '\0')
		return -EPROTO;
	if ((size_t)reply_len + 1 > size)
		return -ERANGE;
	__builtin_memcpy(buf, reply, reply_len);
	buf[reply_len] = '\0';
	if (nr != NULL)
		*nr = count;
	return 0;
}

static bool access_valid(char a)
{
	return a == PVIO_XS_PERM_NONE || a == PVIO_XS_PERM_READ ||
	       a == PVIO_XS_PERM_WRITE || a == PVIO_XS_PERM_BOTH;
}

int pvio_xs_get_perms(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		      struct pvio_xs_perm *perms, unsigned max, unsigned *nr)
{
	const char *reply;
	uint32_t reply_len, pos = 0;
	unsigned count = 0;
	int err = path_only(xs, t, PVIO_XS_GET_PERMS, path, &reply,
			    &reply_len);

	if (err < 0)
		return err;
	if (reply_len == 0 || reply[reply_len - 1] != '\0')
		return -EPROTO;
	while (pos < reply_len) {
		const char *s = reply + pos;
		size_t len = xb_strlen(s);
		uint64_t domid;

		if (len < 2 || !access_valid(s[0]) ||
		    pvio_xs_parse_uint(s + 1, 0xffff, &domid) < 0)
			return -EPROTO;
		if (count == max)
			return -ERANGE;
		perms[count].access = s[0];
		perms[count].domid = (pvio_domid_t)domid;
		count++;
		pos += (uint32_t)len + 1;
	}
	*nr = count;
	return 0;
}

int pvio_xs_set_perms(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		      const struct pvio_xs_perm *perms, unsigned nr)
{
	/* "r65535\0" is 7 bytes; the payload bound is checked per entry. */
	char list[PVIO_XS_PAYLOAD_MAX];
	struct xs_part parts[2];
	size_t pos = 0;
	int err = path_part(path, &parts[0]);

	if (err < 0)
		return err;
	if (nr == 0 || perms == NULL)
		return -EINVAL;
	for (unsigned i = 0; i < nr; i++) {
		int n;

		if (!access_valid(perms[i].access))
			return -EINVAL;
		if (pos + 8 > sizeof(list))
			return -E2BIG;
		list[pos++] = perms[i].access;
		n = pvio_xs_format_uint(list + pos, sizeof(list) - pos,
					perms[i].domid);
		if (n < 0)
			return -E2BIG;
		pos += (size_t)n + 1;   /* keep the NUL */
	}
	parts[1].ptr = list;
	parts[1].len = pos;
	return xs_request(xs, t, PVIO_XS_SET_PERMS, parts, 2, NULL, NULL);
}

static int watch_req(struct pvio_xs *xs, enum pvio_xs_type type,
		     const char *path, const char *token)
{
	struct xs_part parts[2];
	int err = path_part(path, &parts[0]);

	if (err < 0)
		return err;
	if (token == NULL || token[0] == '\0')
		return -EINVAL;
	parts[1].ptr = token;
	parts[1].len = xb_strnlen(token, PVIO_XS_PAYLOAD_MAX) + 1;
	return xs_request(xs, PVIO_XS_TX_NONE, type, parts, 2, NULL, NULL);
}

int pvio_xs_watch(struct pvio_xs *xs, const char *path, const char *token)
{
	return watch_req(xs, PVIO_XS_WATCH, path, token);
}

int pvio_xs_unwatch(struct pvio_xs *xs, const char *path, const char *token)
{
	int err = watch_req(xs, PVIO_XS_UNWATCH, path, token);

	/* Events queued before the store forgot the watch go too. */
	if (err == 0 || err == -ENOENT)
		xs_purge_events(xs, path, token);
	return err;
}

int pvio_xs_transaction_start(struct pvio_xs *xs, pvio_xs_tx_t *t)
{
	static const char empty[1] = "";
	struct xs_part part = { empty, 1 };
	const char *reply;
	uint32_t reply_len;
	uint64_t id;
	int err = xs_request(xs, PVIO_XS_TX_NONE, PVIO_XS_TRANSACTION_START,
			     &part, 1, &reply, &reply_len);

	if (err < 0)
		return err;
	/* The reply is the id in decimal, NUL-terminated or not. */
	if (pvio_xs_parse_uint(reply, 0xffffffffu, &id) < 0 || id == 0)
		return -EPROTO;
	*t = (pvio_xs_tx_t)id;
	return 0;
}

int pvio_xs_transaction_end(struct pvio_xs *xs, pvio_xs_tx_t t, bool abort)
{
	struct xs_part part = { abort ? "F" : "T", 2 };

	if (t == PVIO_XS_TX_NONE)
		return -EINVAL;
	return xs_request(xs, t, PVIO_XS_TRANSACTION_END, &part, 1, NULL,
			  NULL);
}

int pvio_xs_transact(struct pvio_xs *xs, pvio_xs_tx_body_fn body, void *arg,
		     unsigned max_tries)
{
	int err = -EAGAIN;

	if (max_tries == 0)
		max_tries = 16;
	for (unsigned i = 0; i < max_tries; i++) {
		pvio_xs_tx_t t;

		err = pvio_xs_transaction_start(xs, &t);
		if (err < 0)
			return err;
		err = body(xs, t, arg);
		if (err < 0) {
			(void)pvio_xs_transaction_end(xs, t, true);
			if (err == -EAGAIN)
				continue;
			return err;
		}
		err = pvio_xs_transaction_end(xs, t, false);
		if (err != -EAGAIN)
			return err;
	}
	return err;
}

int pvio_xs_get_domain_path(struct pvio_xs *xs, pvio_domid_t domid,
			    char *buf, size_t size)
{
	char num[8];
	struct xs_part part = { num, 0 };
	const char *reply;
	uint32_t reply_len;
	size_t len;
	int n = pvio_xs_format_uint(num, sizeof(num), domid);
	int err;

	if (n < 0)
		return n;
	part.len = (size_t)n + 1;
	err = xs_request(xs, PVIO_XS_TX_NONE, PVIO_XS_GET_DOMAIN_PATH, &part,
			 1, &reply, &reply_len);
	if (err < 0)
		return err;
	len = xb_strnlen(reply, reply_len);
	if (len == 0)
		return -EPROTO;
	if (len + 1 > size)
		return -ERANGE;
	__builtin_memcpy(buf, reply, len);
	buf[len] = '\0';
	return 0;
}

int pvio_xs_read_uint(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		      uint64_t max, uint64_t *out)
{
	char buf[64];
	size_t len;
	int err = pvio_xs_read(xs, t, path, buf, sizeof(buf), &len);

	if (err == -ERANGE)
		return -EINVAL;     /* far longer than any uint64: garbage */
	if (err < 0)
		return err;
	if (xb_strlen(buf) != len)
		return -EINVAL;     /* "1\0junk" */
	return pvio_xs_parse_uint(buf, max, out);
}

int pvio_xs_write_uint(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		       uint64_t value)
{
	char buf[24];

	if (pvio_xs_format_uint(buf, sizeof(buf), value) < 0)
		return -ERANGE;
	return pvio_xs_write(xs, t, path, buf);
}
