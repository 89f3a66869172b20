/* SPDX-License-Identifier: MIT */
/*
 * The xenbus key layout and the toolstack's side: device dirs created and
 * removed the way libxl does, and feature keys. Freestanding.
 */
#include "common.h"

/* A device type is one non-empty path component. */
static bool type_valid(const char *type)
{
	if (type == NULL || type[0] == '\0')
		return false;
	for (const char *p = type; *p != '\0'; p++)
		if (*p == '/')
			return false;
	return xb_strlen(type) < 32;
}

int pvio_xenbus_frontend_path(char *buf, size_t size, const char *type,
			      pvio_domid_t fe, uint32_t devid)
{
	size_t pos = 0;
	int err;

	if (!type_valid(type) || size == 0)
		return -EINVAL;
	err = xb_append(buf, size, &pos, "/local/domain/");
	if (err == 0)
		err = xb_append_uint(buf, size, &pos, fe);
	if (err == 0)
		err = xb_append(buf, size, &pos, "/device/");
	if (err == 0)
		err = xb_append(buf, size, &pos, type);
	if (err == 0)
		err = xb_append(buf, size, &pos, "/");
	if (err == 0)
		err = xb_append_uint(buf, size, &pos, devid);
	return err;
}

int pvio_xenbus_backend_path(char *buf, size_t size, const char *type,
			     pvio_domid_t be, pvio_domid_t fe, uint32_t devid)
{
	size_t pos = 0;
	int err;

	if (!type_valid(type) || size == 0)
		return -EINVAL;
	err = xb_append(buf, size, &pos, "/local/domain/");
	if (err == 0)
		err = xb_append_uint(buf, size, &pos, be);
	if (err == 0)
		err = xb_append(buf, size, &pos, "/backend/");
	if (err == 0)
		err = xb_append(buf, size, &pos, type);
	if (err == 0)
		err = xb_append(buf, size, &pos, "/");
	if (err == 0)
		err = xb_append_uint(buf, size, &pos, fe);
	if (err == 0)
		err = xb_append(buf, size, &pos, "/");
	if (err == 0)
		err = xb_append_uint(buf, size, &pos, devid);
	return err;
}

/* Both dirs of one device, and what the toolstack writes into them. */
struct device_ctx {
	pvio_domid_t be, fe;
	const struct pvio_xenbus_device_keys *extra;
	char fe_path[PVIO_XENBUS_PATH_MAX];
	char be_path[PVIO_XENBUS_PATH_MAX];
	char key[PVIO_XENBUS_PATH_MAX * 2];
	char num[8];
};

static int device_ctx_init(struct device_ctx *c, const char *type,
			   pvio_domid_t be, pvio_domid_t fe, uint32_t devid,
			   const struct pvio_xenbus_device_keys *extra)
{
	int err;

	c->be = be;
	c->fe = fe;
	c->extra = extra;
	err = pvio_xenbus_frontend_path(c->fe_path, sizeof(c->fe_path), type,
					fe, devid);
	if (err == 0)
		err = pvio_xenbus_backend_path(c->be_path, sizeof(c->be_path),
					       type, be, fe, devid);
	return err;
}

static int put(struct pvio_xs *xs, pvio_xs_tx_t t, struct device_ctx *c,
	       const char *dir, const char *node, const char *value)
{
	int err = pvio_xs_join(c->key, sizeof(c->key), dir, node);

	return err < 0 ? err : pvio_xs_write(xs, t, c->key, value);
}

static int put_extra(struct pvio_xs *xs, pvio_xs_tx_t t, struct device_ctx *c,
		     const char *dir, const struct pvio_xenbus_kv *kv,
		     size_t nr)
{
	for (size_t i = 0; i < nr; i++) {
		int err;

		if (kv[i].key == NULL || kv[i].key[0] == '\0' ||
		    kv[i].key[0] == '/' || kv[i].value == NULL)
			return -EINVAL;
		err = put(xs, t, c, dir, kv[i].key, kv[i].value);
		if (err < 0)
			return err;
	}
	return 0;
}

/* Remove path; a path that is already gone (or whose parent is) is fine. */
static int rm_quiet(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path)
{
	int err = pvio_xs_rm(xs, t, path);

	return err == -ENOENT ? 0 : err;
}

/* One dir: owner own, read access for peer (libxl's device perms). */
static int make_dir(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		    pvio_domid_t own, pvio_domid_t peer)
{
	const struct pvio_xs_perm perms[2] = {
		{ .domid = own, .access = PVIO_XS_PERM_NONE },
		{ .domid = peer, .access = PVIO_XS_PERM_READ },
	};
	int err = pvio_xs_mkdir(xs, t, path);

	return err < 0 ? err : pvio_xs_set_perms(xs, t, path, perms, 2);
}

static int create_body(struct pvio_xs *xs, pvio_xs_tx_t t, void *arg)
{
	struct device_ctx *c = arg;
	int err;

	/* libxl: stale dirs of a previous device go first. */
	err = rm_quiet(xs, t, c->fe_path);
	if (err == 0)
		err = rm_quiet(xs, t, c->be_path);
	/* Dirs and perms first: the keys below inherit the perms. */
	if (err == 0)
		err = make_dir(xs, t, c->fe_path, c->fe, c->be);
	if (err == 0)
		err = make_dir(xs, t, c->be_path, c->be, c->fe);
	if (err < 0)
		return err;

	(void)pvio_xs_format_uint(c->num, sizeof(c->num), c->be);
	err = put(xs, t, c, c->fe_path, "backend", c->be_path);
	if (err == 0)
		err = put(xs, t, c, c->fe_path, "backend-id", c->num);
	if (err == 0)
		err = put(xs, t, c, c->fe_path, "state", "1");
	(void)pvio_xs_format_uint(c->num, sizeof(c->num), c->fe);
	if (err == 0)
		err = put(xs, t, c, c->be_path, "frontend", c->fe_path);
	if (err == 0)
		err = put(xs, t, c, c->be_path, "frontend-id", c->num);
	if (err == 0)
		err = put(xs, t, c, c->be_path, "online", "1");
	if (err == 0)
		err = put(xs, t, c, c->be_path, "state", "1");
	if (err == 0 && c->extra != NULL)
		err = put_extra(xs, t, c, c->fe_path, c->extra->frontend,
				c->extra->nr_frontend);
	if (err == 0 && c->extra != NULL)
		err = put_extra(xs, t, c, c->be_path, c->extra->backend,
				c->extra->nr_backend);
	return err;
}

int pvio_xenbus_device_create(struct pvio_xs *xs, const char *type,
			      pvio_domid_t be, pvio_domid_t fe,
			      uint32_t devid,
			      const struct pvio_xenbus_device_keys *extra)
{
	struct device_ctx c;
	int err = device_ctx_init(&c, type, be, fe, devid, extra);

	if (err < 0)
		return err;
	return pvio_xs_transact(xs, create_body, &c, 0);
}

static int destroy_body(struct pvio_xs *xs, pvio_xs_tx_t t, void *arg)
{
	struct device_ctx *c = arg;
	int err = rm_quiet(xs, t, c->fe_path);

	return err < 0 ? err : rm_quiet(xs, t, c->be_path);
}

int pvio_xenbus_device_destroy(struct pvio_xs *xs, const char *type,
			       pvio_domid_t be, pvio_domid_t fe,
			       uint32_t devid)
{
	struct device_ctx c;
	int err = device_ctx_init(&c, type, be, fe, devid, NULL);

	if (err < 0)
		return err;
	return pvio_xs_transact(xs, destroy_body, &c, 0);
}

int pvio_xenbus_device_set_online(struct pvio_xs *xs, const char *type,
				  pvio_domid_t be, pvio_domid_t fe,
				  uint32_t devid, bool online)
{
	struct device_ctx c;
	int err = device_ctx_init(&c, type, be, fe, devid, NULL);

	if (err < 0)
		return err;
	return put(xs, PVIO_XS_TX_NONE, &c, c.be_path, "online",
		   online ? "1" : "0");
}

/* dir/"feature-<name>" into buf. 0, -EINVAL, -ENAMETOOLONG. */
static int feature_path(char *buf, size_t size, const char *dir,
			const char *name)
{
	size_t pos = 0;
	int err;

	if (dir == NULL || name == NULL || name[0] == '\0')
		return -EINVAL;
	err = xb_append(buf, size, &pos, dir);
	if (err == 0)
		err = xb_append(buf, size, &pos, "/feature-");
	if (err == 0)
		err = xb_append(buf, size, &pos, name);
	return err;
}

int pvio_xenbus_read_feature(struct pvio_xs *xs, pvio_xs_tx_t t,
			     const char *dir, const char *name, bool def,
			     bool *out)
{
	char path[PVIO_XENBUS_PATH_MAX * 2];
	uint64_t v;
	int err = feature_path(path, sizeof(path), dir, name);

	*out = def;
	if (err < 0)
		return err;
	err = pvio_xs_read_uint(xs, t, path, UINT64_MAX, &v);
	if (err == -ENOENT)
		return 0;
	if (err == -ERANGE)
		err = -EINVAL;
	if (err < 0)
		return err;
	*out = v != 0;
	return 0;
}

int pvio_xenbus_write_feature(struct pvio_xs *xs, pvio_xs_tx_t t,
			      const char *dir, const char *name, bool value)
{
	char path[PVIO_XENBUS_PATH_MAX * 2];
	int err = feature_path(path, sizeof(path), dir, name);

	return err < 0 ? err : pvio_xs_write(xs, t, path, value ? "1" : "0");
}
