/* SPDX-License-Identifier: MIT */
/*
 * xl disk specifications (xl-disk-configuration(5)) and Xen's virtual
 * device numbers. Used by `pvio blkback --disk SPEC`; strict: anything
 * pvio would have to guess at is an error with a one-line reason.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static int fail(char *err, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (err && size) {
		va_start(ap, fmt);
		vsnprintf(err, size, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* "a".."z" -> 0..25, "aa" -> 26 ... (bijective base 26), at most 3 letters. */
static int parse_disk_letters(const char **p, uint32_t *disk)
{
	uint32_t v = 0;
	int n = 0;

	while (**p >= 'a' && **p <= 'z') {
		if (++n > 3)
			return -EINVAL;
		v = v * 26 + (uint32_t)(**p - 'a' + 1);
		(*p)++;
	}
	if (n == 0)
		return -EINVAL;
	*disk = v - 1;
	return 0;
}

/* Optional decimal without leading zeros (except "0"); empty gives 0. */
static int parse_num(const char *p, uint32_t max, uint32_t *out, bool need)
{
	uint64_t v = 0;

	if (*p == '\0') {
		*out = 0;
		return need ? -EINVAL : 0;
	}
	if (p[0] == '0' && p[1] != '\0')
		return -EINVAL;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int pvio_blkback_vdev_to_devid(const char *vdev, uint32_t *devid)
{
	const char *p = vdev;
	uint32_t disk, part;

	if (!vdev || !devid || !*vdev)
		return -EINVAL;
	if (isdigit((unsigned char)*p))
		return parse_num(p, UINT32_MAX, devid, true);
	if (strncmp(p, "xvd", 3) == 0) {
		p += 3;
		if (parse_disk_letters(&p, &disk) || parse_num(p, 255, &part, false))
			return -EINVAL;
		if (disk < 16 && part < 16)
			*devid = 202u << 8 | disk << 4 | part;
		else if (disk < (1u << 20))
			*devid = 1u << 28 | disk << 8 | part;
		else
			return -EINVAL;
		return 0;
	}
	if (strncmp(p, "hd", 2) == 0) {
		p += 2;
		if (parse_disk_letters(&p, &disk) || disk > 3 ||
		    parse_num(p, 63, &part, false))
			return -EINVAL;
		*devid = (disk < 2 ? 3u : 22u) << 8 | (disk & 1u) << 6 | part;
		return 0;
	}
	if (strncmp(p, "sd", 2) == 0) {
		p += 2;
		if (parse_disk_letters(&p, &disk) || disk > 15 ||
		    parse_num(p, 15, &part, false))
			return -EINVAL;
		*devid = 8u << 8 | disk << 4 | part;
		return 0;
	}
	if (*p == 'd') {
		char buf[32];
		const char *sep = strchr(p, 'p');

		if (!sep || (size_t)(sep - p - 1) >= sizeof(buf))
			return -EINVAL;
		memcpy(buf, p + 1, (size_t)(sep - p - 1));
		buf[sep - p - 1] = '\0';
		if (parse_num(buf, (1u << 20) - 1, &disk, true) ||
		    parse_num(sep + 1, 255, &part, true))
			return -EINVAL;
		*devid = 1u << 28 | disk << 8 | part;
		return 0;
	}
	return -EINVAL;
}

/* Trim spaces at both ends of [b, e) in place; returns the new start. */
static char *trim(char *b, char *e)
{
	while (b < e && isspace((unsigned char)*b))
		b++;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	*e = '\0';
	return b;
}

enum { P_TARGET, P_FORMAT, P_VDEV, P_ACCESS, P_NR };
static const char *const pos_name[P_NR] = { "target", "format", "vdev", "access" };

struct spec_state {
	bool set[P_NR];
	char *val[P_NR];
	bool devtype_set, backendtype_set, backend_set, discard_set;
	bool legacy;
};

static int set_param(struct spec_state *st, int which, char *value,
		     char *err, size_t size)
{
	if (st->set[which])
		return fail(err, size, "disk spec: %s given twice", pos_name[which]);
	st->set[which] = true;
	st->val[which] = value;
	return 0;
}

/* Legacy "prefix:target": the format it implies, or an error. */
static int strip_legacy_prefix(struct spec_state *st, char **target,
			       char *err, size_t size)
{
	static const char *const raw_prefixes[] = {
		"tap2:aio:", "tap:aio:", "phy:", "file:", "raw:", "aio:",
	};
	static const char *const other_prefixes[] = {
		"tap2:", "tap:", "qcow2:", "qcow:", "vhd:", "qed:",
	};

	for (size_t i = 0; i < sizeof(raw_prefixes) / sizeof(raw_prefixes[0]); i++) {
		size_t n = strlen(raw_prefixes[i]);

		if (strncmp(*target, raw_prefixes[i], n) == 0) {
			*target += n;
			st->legacy = true;
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof(other_prefixes) / sizeof(other_prefixes[0]); i++) {
		size_t n = strlen(other_prefixes[i]);

		if (strncmp(*target, other_prefixes[i], n) == 0)
			return fail(err, size,
				    "disk spec: format \"%.*s\" is not supported (only raw)",
				    (int)(n - 1), other_prefixes[i]);
	}
	return 0;
}

static int handle_key(struct pvio_blkback_disk_spec *spec,
		      struct spec_state *st, char *key, char *value,
		      char *err, size_t size)
{
	if (strcmp(key, "format") == 0)
		return set_param(st, P_FORMAT, value, err, size);
	if (strcmp(key, "vdev") == 0)
		return set_param(st, P_VDEV, value, err, size);
	if (strcmp(key, "access") == 0)
		return set_param(st, P_ACCESS, value, err, size);
	if (strcmp(key, "devtype") == 0) {
		if (st->devtype_set)
			return fail(err, size, "disk spec: devtype given twice");
		st->devtype_set = true;
		if (strcmp(value, "cdrom") == 0)
			spec->cdrom = true;
		else if (strcmp(value, "disk") != 0)
			return fail(err, size, "disk spec: devtype \"%s\" (want cdrom or disk)",
				    value);
		return 0;
	}
	if (strcmp(key, "backendtype") == 0) {
		if (st->backendtype_set)
			return fail(err, size, "disk spec: backendtype given twice");
		st->backendtype_set = true;
		if (strcmp(value, "phy") && strcmp(value, "tap") && strcmp(value, "qdisk"))
			return fail(err, size,
				    "disk spec: backendtype \"%s\" (want phy, tap or qdisk)",
				    value);
		return 0;
	}
	if (strcmp(key, "backend") == 0) {
		if (st->backend_set)
			return fail(err, size, "disk spec: backend given twice");
		st->backend_set = true;
		if (strcmp(value, "0") && strcmp(value, "Domain-0"))
			return fail(err, size,
				    "disk spec: backend \"%s\": pvio serves from the driver domain only",
				    value);
		return 0;
	}
	if (strcmp(key, "script") == 0)
		return fail(err, size, "disk spec: script= is not supported");
	return fail(err, size, "disk spec: unknown key \"%s\"", key);
}

static int handle_flag(struct pvio_blkback_disk_spec *spec,
		       struct spec_state *st, const char *tok, bool *is_flag,
		       char *err, size_t size)
{
	*is_flag = true;
	if (strcmp(tok, "cdrom") == 0) {
		if (st->devtype_set)
			return fail(err, size, "disk spec: devtype given twice");
		st->devtype_set = true;
		spec->cdrom = true;
	} else if (strcmp(tok, "discard") == 0 || strcmp(tok, "no-discard") == 0) {
		if (st->discard_set)
			return fail(err, size, "disk spec: discard given twice");
		st->discard_set = true;
		spec->discard = tok[0] == 'd';
	} else if (strcmp(tok, "direct-io-safe") == 0) {
		spec->direct_io_safe = true;
	} else {
		*is_flag = false;
	}
	return 0;
}

int pvio_blkback_disk_spec_parse(const char *s,
				 struct pvio_blkback_disk_spec *spec,
				 char *err, size_t err_size)
{
	char buf[PVIO_BLKBACK_TARGET_MAX + 256];
	struct spec_state st = { 0 };
	char *p, *end;
	int next_pos = 0, rc;

	if (err && err_size)
		err[0] = '\0';
	if (!s || !spec)
		return fail(err, err_size, "disk spec: missing");
	if (strlen(s) >= sizeof(buf))
		return fail(err, err_size, "disk spec: longer than %zu bytes",
			    sizeof(buf) - 1);
	memset(spec, 0, sizeof(*spec));
	spec->discard = -1;
	strcpy(buf, s);
	p = buf;
	end = buf + strlen(buf);

	while (p <= end) {
		char *comma, *tok, *eq;
		bool is_flag;

		while (p < end && isspace((unsigned char)*p))
			p++;
		if (strncmp(p, "target=", 7) == 0) {
			/* target= takes the rest, commas and all. */
			rc = set_param(&st, P_TARGET, trim(p + 7, end), err, err_size);
			if (rc)
				return rc;
			break;
		}
		comma = strchr(p, ',');
		if (!comma)
			comma = end;
		tok = trim(p, comma);
		p = comma + 1;

		eq = strchr(tok, '=');
		if (eq) {
			*eq = '\0';
			rc = handle_key(spec, &st, trim(tok, eq), trim(eq + 1, eq + 1 + strlen(eq + 1)),
					err, err_size);
			if (rc)
				return rc;
			continue;
		}
		rc = handle_flag(spec, &st, tok, &is_flag, err, err_size);
		if (rc)
			return rc;
		if (is_flag)
			continue;
		/* Positional: the next parameter not yet given by name. */
		while (next_pos < P_NR && st.set[next_pos])
			next_pos++;
		if (next_pos >= P_NR) {
			if (*tok == '\0' && comma == end)
				break; /* a trailing comma */
			return fail(err, err_size,
				    "disk spec: too many positional parameters at \"%s\"", tok);
		}
		if (*tok != '\0') {
			if (next_pos == P_TARGET) {
				rc = strip_legacy_prefix(&st, &tok, err, err_size);
				if (rc)
					return rc;
			}
			rc = set_param(&st, next_pos, tok, err, err_size);
			if (rc)
				return rc;
		}
		/* The legacy form has no format field: target, vdev, access. */
		if (next_pos == P_TARGET && st.legacy && !st.set[P_FORMAT]) {
			st.set[P_FORMAT] = true;
			st.val[P_FORMAT] = (char *)"raw";
		}
		next_pos++;
	}

	if (st.set[P_FORMAT] && strcmp(st.val[P_FORMAT], "raw") != 0)
		return fail(err, err_size, "disk spec: format \"%s\" is not supported (only raw)",
			    st.val[P_FORMAT]);
	if (!st.set[P_TARGET] || st.val[P_TARGET][0] == '\0')
		return fail(err, err_size, "disk spec: no target (image file or block device)");
	if (strlen(st.val[P_TARGET]) >= sizeof(spec->target))
		return fail(err, err_size, "disk spec: target longer than %zu bytes",
			    sizeof(spec->target) - 1);
	strcpy(spec->target, st.val[P_TARGET]);

	if (!st.set[P_VDEV] || st.val[P_VDEV][0] == '\0')
		return fail(err, err_size, "disk spec: no vdev (e.g. vdev=xvda)");
	{
		char *vdev = st.val[P_VDEV], *colon = strchr(vdev, ':');

		if (colon) { /* legacy "hdc:cdrom" */
			*colon = '\0';
			if (strcmp(colon + 1, "cdrom") == 0)
				spec->cdrom = true;
			else if (strcmp(colon + 1, "disk") != 0)
				return fail(err, err_size,
					    "disk spec: vdev suffix \":%s\" (want :cdrom or :disk)",
					    colon + 1);
		}
		if (strlen(vdev) >= sizeof(spec->vdev) ||
		    pvio_blkback_vdev_to_devid(vdev, &spec->devid) != 0)
			return fail(err, err_size,
				    "disk spec: vdev \"%s\" is not xvdX, hdX, sdX, dNpM or a number",
				    vdev);
		strcpy(spec->vdev, vdev);
	}

	if (st.set[P_ACCESS]) {
		const char *a = st.val[P_ACCESS];

		if (strcmp(a, "r") == 0 || strcmp(a, "ro") == 0)
			spec->readonly = true;
		else if (strcmp(a, "w") == 0 || strcmp(a, "rw") == 0)
			spec->readonly = false;
		else
			return fail(err, err_size, "disk spec: access \"%s\" (want ro, r, rw or w)",
				    a);
		if (spec->cdrom && !spec->readonly)
			return fail(err, err_size, "disk spec: a cdrom is read-only (access=ro)");
	}
	if (spec->cdrom)
		spec->readonly = true;
	return 0;
}
