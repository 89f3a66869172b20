/* SPDX-License-Identifier: MIT */
/*
 * xl vif specifications (xl-network-configuration(5)):
 * "mac=00:16:3e:01:02:03,bridge=xenbr0,script=vif-bridge,ip=10.0.0.2".
 * Strict: what pvio cannot honour is refused, not ignored.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <pvio/netback.h>

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

void pvio_netback_mac_format(const uint8_t mac[6], char *buf)
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "xx:xx:xx:xx:xx:xx", two hex digits each, ':' or '-' separators. */
static int parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		int h = hexval(s[0]), l = h < 0 ? -1 : hexval(s[1]);

		if (h < 0 || l < 0)
			return -EINVAL;
		mac[i] = (uint8_t)(h << 4 | l);
		s += 2;
		if (i < 5) {
			if (*s != ':' && *s != '-')
				return -EINVAL;
			s++;
		}
	}
	return *s ? -EINVAL : 0;
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static void random_mac(uint8_t mac[6])
{
	uint8_t r[3];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)mac;

		r[0] = (uint8_t)t;
		r[1] = (uint8_t)(t >> 8);
		r[2] = (uint8_t)(t >> 16);
	}
	mac[0] = 0x00;
	mac[1] = 0x16;
	mac[2] = 0x3e;
	mac[3] = r[0] & 0x7f; /* as libxl: the top bit of the fourth is clear */
	mac[4] = r[1];
	mac[5] = r[2];
}

static int set_str(char *dst, size_t size, const char *key, const char *v,
		   char *err, size_t err_size)
{
	if (!*v)
		return fail(err, err_size, "%s= needs a value", key);
	if (strlen(v) >= size)
		return fail(err, err_size, "%s= is longer than %zu characters", key, size - 1);
	strcpy(dst, v);
	return 0;
}

int pvio_netback_vif_spec_parse(const char *s, struct pvio_netback_vif_spec *spec,
				char *err, size_t err_size)
{
	char buf[2048];
	uint32_t seen = 0;
	char *save = NULL;

	if (!s || !spec)
		return fail(err, err_size, "no vif spec");
	if (strlen(s) >= sizeof(buf))
		return fail(err, err_size, "vif spec longer than %zu characters", sizeof(buf) - 1);
	memset(spec, 0, sizeof(*spec));
	spec->backend = -1;
	spec->trusted = -1;
	strcpy(buf, s);

	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		static const char *const keys[] = {
			"mac", "bridge", "script", "ip", "vifname", "gatewaydev",
			"model", "type", "devid", "mtu", "backend", "trusted", "untrusted",
		};
		char *eq, *key = tok, *val;
		size_t k;
		int rc = 0;

		while (*key == ' ' || *key == '\t')
			key++;
		if (!*key)
			continue; /* empty item ("a,,b" or a trailing comma) */
		eq = strchr(key, '=');
		val = eq ? eq + 1 : NULL;
		if (eq)
			*eq = 0;
		for (char *e = key + strlen(key); e > key && (e[-1] == ' ' || e[-1] == '\t');)
			*--e = 0;
		if (!strcmp(key, "rate") || !strcmp(key, "accel") ||
		    !strcmp(key, "forwarddev") || !strcmp(key, "connection") ||
		    !strcmp(key, "colo"))
			return fail(err, err_size, "%s= is not supported by pvio netback", key);
		for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (!strcmp(key, keys[k]))
				break;
		if (k == sizeof(keys) / sizeof(keys[0]))
			return fail(err, err_size, "unknown vif key \"%s\"", key);
		if (seen & (1u << k) || ((k == 11 || k == 12) && (seen & (3u << 11))))
			return fail(err, err_size, "%s given twice", key);
		seen |= 1u << k;
		if (k >= 11) { /* flags */
			if (val)
				return fail(err, err_size, "%s takes no value", key);
			spec->trusted = k == 11;
			continue;
		}
		if (!val)
			return fail(err, err_size, "%s needs a value (%s=...)", key, key);
		switch (k) {
		case 0:
			if (parse_mac(val, spec->mac))
				return fail(err, err_size, "mac=%s is not xx:xx:xx:xx:xx:xx", val);
			if (spec->mac[0] & 1)
				return fail(err, err_size, "mac=%s is a multicast address", val);
			if (!(spec->mac[0] | spec->mac[1] | spec->mac[2] | spec->mac[3] |
			      spec->mac[4] | spec->mac[5]))
				return fail(err, err_size, "mac=%s is all zero", val);
			spec->mac_set = true;
			break;
		case 1:
			rc = set_str(spec->bridge, sizeof(spec->bridge), key, val, err, err_size);
			break;
		case 2:
			rc = set_str(spec->script, sizeof(spec->script), key, val, err, err_size);
			break;
		case 3:
			rc = set_str(spec->ip, sizeof(spec->ip), key, val, err, err_size);
			break;
		case 4:
			rc = set_str(spec->vifname, sizeof(spec->vifname), key, val, err, err_size);
			if (!rc && (strchr(val, '/') || strchr(val, ' ')))
				return fail(err, err_size, "vifname=%s is not an interface name", val);
			break;
		case 5:
			rc = set_str(spec->gatewaydev, sizeof(spec->gatewaydev), key, val, err, err_size);
			break;
		case 6:
			rc = set_str(spec->model, sizeof(spec->model), key, val, err, err_size);
			break;
		case 7:
			if (strcmp(val, "vif") && strcmp(val, "ioemu"))
				return fail(err, err_size, "type=%s: only vif or ioemu", val);
			strcpy(spec->type, val);
			break;
		case 8:
			if (parse_u32(val, 0x7fffffff, &spec->devid))
				return fail(err, err_size, "devid=%s is not a number", val);
			spec->devid_set = true;
			break;
		case 9:
			if (parse_u32(val, 65535, &spec->mtu) || spec->mtu < 68)
				return fail(err, err_size, "mtu=%s is not 68..65535", val);
			break;
		case 10: {
			uint32_t d;

			if (parse_u32(val, 0x7fef, &d))
				return fail(err, err_size, "backend=%s: only a domid is supported", val);
			spec->backend = (int)d;
			break;
		}
		}
		if (rc)
			return rc;
	}
	if (!spec->mac_set)
		random_mac(spec->mac);
	if (!spec->type[0])
		strcpy(spec->type, "vif");
	return 0;
}
