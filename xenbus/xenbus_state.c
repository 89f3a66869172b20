/* SPDX-License-Identifier: MIT */
/*
 * The xenbus device state machine: binding one end of a device, switching
 * its state (checked against the transition table in <pvio/xenbus.h>),
 * following the other end's state through a watch, and the fatal path.
 * Freestanding.
 */
#include "common.h"

#define S(x) PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_##x)
#define ANY_CLOSE (S(CLOSING) | S(CLOSED))

/* to-masks indexed by from; the diagram in the header, as a table. */
static const uint32_t frontend_next[] = {
	[PVIO_XENBUS_UNKNOWN] = S(INITIALISING) | ANY_CLOSE,
	[PVIO_XENBUS_INITIALISING] = S(INITIALISED) | S(CONNECTED) | ANY_CLOSE,
	[PVIO_XENBUS_INIT_WAIT] = ANY_CLOSE,
	[PVIO_XENBUS_INITIALISED] = S(CONNECTED) | ANY_CLOSE,
	[PVIO_XENBUS_CONNECTED] = S(RECONFIGURING) | ANY_CLOSE,
	[PVIO_XENBUS_CLOSING] = S(CLOSED),
	[PVIO_XENBUS_CLOSED] = S(INITIALISING),
	[PVIO_XENBUS_RECONFIGURING] = S(RECONFIGURED) | ANY_CLOSE,
	[PVIO_XENBUS_RECONFIGURED] = S(CONNECTED) | ANY_CLOSE,
};

static const uint32_t backend_next[] = {
	[PVIO_XENBUS_UNKNOWN] = S(INITIALISING) | ANY_CLOSE,
	[PVIO_XENBUS_INITIALISING] = S(INIT_WAIT) | ANY_CLOSE,
	[PVIO_XENBUS_INIT_WAIT] = S(CONNECTED) | ANY_CLOSE,
	[PVIO_XENBUS_INITIALISED] = ANY_CLOSE,
	[PVIO_XENBUS_CONNECTED] = S(RECONFIGURING) | ANY_CLOSE,
	[PVIO_XENBUS_CLOSING] = S(CLOSED),
	[PVIO_XENBUS_CLOSED] = S(INITIALISING) | S(INIT_WAIT),
	[PVIO_XENBUS_RECONFIGURING] = S(RECONFIGURED) | ANY_CLOSE,
	[PVIO_XENBUS_RECONFIGURED] = S(CONNECTED) | ANY_CLOSE,
};

bool pvio_xenbus_transition_valid(enum pvio_xenbus_role role,
				  enum pvio_xenbus_state from,
				  enum pvio_xenbus_state to)
{
	const uint32_t *next = role == PVIO_XENBUS_BACKEND ? backend_next :
							     frontend_next;

	if ((unsigned)from > PVIO_XENBUS_RECONFIGURED ||
	    (unsigned)to > PVIO_XENBUS_RECONFIGURED ||
	    to == PVIO_XENBUS_UNKNOWN)
		return false;
	if (from == to)
		return true;
	return (next[from] & PVIO_XENBUS_STATE_BIT(to)) != 0;
}

const char *pvio_xenbus_state_name(enum pvio_xenbus_state state)
{
	static const char *const names[] = {
		"Unknown", "Initialising", "InitWait", "Initialised",
		"Connected", "Closing", "Closed", "Reconfiguring",
		"Reconfigured",
	};

	if ((unsigned)state >= sizeof(names) / sizeof(names[0]))
		return "Invalid";
	return names[state];
}

/* dev->scratch = dir/node. 0 or -ENAMETOOLONG. */
static int dev_path(struct pvio_xenbus_device *dev, const char *dir,
		    const char *node)
{
	return pvio_xs_join(dev->scratch, sizeof(dev->scratch), dir, node);
}

static int copy_str(char *dst, size_t size, const char *src)
{
	size_t pos = 0;

	dst[0] = '\0';
	return xb_append(dst, size, &pos, src);
}

/* Read a state number from path. 0, -ENOENT, -EINVAL, store errors. */
static int read_state(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		      enum pvio_xenbus_state *state)
{
	uint64_t v;
	int err = pvio_xs_read_uint(xs, t, path, PVIO_XENBUS_RECONFIGURED, &v);

	if (err == -ERANGE)
		err = -EINVAL;
	if (err == 0)
		*state = (enum pvio_xenbus_state)v;
	return err;
}

/* ---- the fatal path ---------------------------------------------------- */

struct switch_ctx {
	struct pvio_xenbus_device *dev;
	enum pvio_xenbus_state to;
	enum pvio_xenbus_state from;   /* as found in the store */
	bool checked;                  /* apply the transition table */
	char path[PVIO_XENBUS_PATH_MAX + 8];
};

/* Linux __xenbus_switch_state's body: write only if "state" exists. */
static int switch_body(struct pvio_xs *xs, pvio_xs_tx_t t, void *arg)
{
	struct switch_ctx *c = arg;
	int err = read_state(xs, t, c->path, &c->from);

	if (err == -EINVAL)
		c->from = PVIO_XENBUS_UNKNOWN;  /* we overwrite our own junk */
	else if (err < 0)
		return err;
	if (c->from == c->to)
		return 0;
	if (c->checked &&
	    !pvio_xenbus_transition_valid(c->dev->role, c->from, c->to))
		return -EINVAL;
	return pvio_xs_write_uint(xs, t, c->path, c->to);
}

static int switch_ctx_init(struct switch_ctx *c,
			   struct pvio_xenbus_device *dev,
			   enum pvio_xenbus_state to, bool checked)
{
	c->dev = dev;
	c->to = to;
	c->from = dev->state;
	c->checked = checked;
	return pvio_xs_join(c->path, sizeof(c->path), dev->nodename, "state");
}

/* Write the error nodes and go Closed; every step best effort. */
static void dev_fail(struct pvio_xenbus_device *dev, int err,
		     const char *msg1, const char *msg2)
{
	char text[PVIO_XENBUS_PATH_MAX * 2];
	char tree[PVIO_XENBUS_PATH_MAX * 2];
	struct switch_ctx c;
	size_t pos = 0, home = 0;

	dev->error = err;
	text[0] = '\0';
	(void)xb_append_uint(text, sizeof(text), &pos,
			     (uint64_t)(err < 0 ? -err : err));
	(void)xb_append(text, sizeof(text), &pos, " ");
	(void)xb_append(text, sizeof(text), &pos, msg1);
	if (msg2 != NULL)
		(void)xb_append(text, sizeof(text), &pos, msg2);

	if (dev_path(dev, dev->nodename, "error") == 0)
		(void)pvio_xs_write(dev->xs, PVIO_XS_TX_NONE, dev->scratch,
				    text);

	/* Linux: <home>/error/<nodename relative to home>/error. */
	tree[0] = '\0';
	if (xb_append(tree, sizeof(tree), &home, "/local/domain/") == 0 &&
	    xb_append_uint(tree, sizeof(tree), &home, dev->self_id) == 0 &&
	    xb_memeq(dev->nodename, tree, home) &&
	    dev->nodename[home] == '/') {
		pos = home;
		if (xb_append(tree, sizeof(tree), &pos, "/error") == 0 &&
		    xb_append(tree, sizeof(tree), &pos,
			      dev->nodename + home) == 0 &&
		    xb_append(tree, sizeof(tree), &pos, "/error") == 0)
			(void)pvio_xs_write(dev->xs, PVIO_XS_TX_NONE, tree,
					    text);
	}

	if (switch_ctx_init(&c, dev, PVIO_XENBUS_CLOSED, false) == 0)
		(void)pvio_xs_transact(dev->xs, switch_body, &c, 0);
	dev->state = PVIO_XENBUS_CLOSED;
}

int pvio_xenbus_dev_fatal(struct pvio_xenbus_device *dev, int err,
			  const char *msg)
{
	dev_fail(dev, err, msg != NULL ? msg : "fatal error", NULL);
	return err;
}

/* ---- binding ------------------------------------------------------------ */

static int dev_bind(struct pvio_xenbus_device *dev, struct pvio_xs *xs,
		    enum pvio_xenbus_role role, const char *type,
		    pvio_domid_t self, pvio_domid_t other, uint32_t devid)
{
	const char *path_key = role == PVIO_XENBUS_FRONTEND ? "backend" :
							      "frontend";
	const char *id_key = role == PVIO_XENBUS_FRONTEND ? "backend-id" :
							    "frontend-id";
	enum pvio_xenbus_state st = PVIO_XENBUS_UNKNOWN;
	uint64_t id;
	int err;

	if (dev == NULL || xs == NULL)
		return -EINVAL;
	dev->xs = xs;
	dev->role = role;
	dev->self_id = self;
	dev->otherend_id = other;
	dev->devid = devid;
	dev->state = PVIO_XENBUS_UNKNOWN;
	dev->otherend_state = PVIO_XENBUS_UNKNOWN;
	dev->error = 0;
	dev->watching = false;
	dev->otherend[0] = '\0';
	if (type == NULL || copy_str(dev->type, sizeof(dev->type), type) < 0)
		return -EINVAL;
	err = role == PVIO_XENBUS_FRONTEND ?
		pvio_xenbus_frontend_path(dev->nodename, sizeof(dev->nodename),
					  type, self, devid) :
		pvio_xenbus_backend_path(dev->nodename, sizeof(dev->nodename),
					 type, self, other, devid);
	if (err < 0)
		return err;
	err = copy_str(dev->token, sizeof(dev->token), dev->nodename);
	if (err < 0)
		return err;

	/* The other end's dir, as the toolstack wrote it. */
	err = dev_path(dev, dev->nodename, path_key);
	if (err == 0)
		err = pvio_xs_read(xs, PVIO_XS_TX_NONE, dev->scratch,
				   dev->otherend, sizeof(dev->otherend), NULL);
	if (err == -ERANGE)
		err = -EINVAL;
	if (err == 0 && dev->otherend[0] != '/')
		err = -EINVAL;
	if (err == -ENOENT || err == -EINVAL) {
		dev_fail(dev, err, "reading ", dev->scratch);
		return err;
	}
	if (err < 0)
		return err;

	err = dev_path(dev, dev->nodename, id_key);
	if (err == 0)
		err = pvio_xs_read_uint(xs, PVIO_XS_TX_NONE, dev->scratch,
					0xffff, &id);
	if (err == -ERANGE)
		err = -EINVAL;
	if (err == 0 && role == PVIO_XENBUS_BACKEND && id != other)
		err = -EINVAL;
	if (err == -ENOENT || err == -EINVAL) {
		dev_fail(dev, err, "reading ", dev->scratch);
		return err;
	}
	if (err < 0)
		return err;
	dev->otherend_id = (pvio_domid_t)id;

	err = dev_path(dev, dev->nodename, "state");
	if (err == 0)
		err = read_state(xs, PVIO_XS_TX_NONE, dev->scratch, &st);
	if (err == -ENOENT || err == -EINVAL) {
		dev_fail(dev, err, "reading ", dev->scratch);
		return err;
	}
	if (err < 0)
		return err;
	dev->state = st;

	/* Watch the other end's state; the first event comes at once. */
	err = dev_path(dev, dev->otherend, "state");
	if (err == 0)
		err = pvio_xs_watch(xs, dev->scratch, dev->token);
	if (err < 0)
		return err;
	dev->watching = true;
	return 0;
}

int pvio_xenbus_frontend_attach(struct pvio_xenbus_device *dev,
				struct pvio_xs *xs, const char *type,
				pvio_domid_t fe, uint32_t devid)
{
	return dev_bind(dev, xs, PVIO_XENBUS_FRONTEND, type, fe, 0, devid);
}

int pvio_xenbus_backend_attach(struct pvio_xenbus_device *dev,
			       struct pvio_xs *xs, const char *type,
			       pvio_domid_t be, pvio_domid_t fe,
			       uint32_t devid)
{
	return dev_bind(dev, xs, PVIO_XENBUS_BACKEND, type, be, fe, devid);
}

int pvio_xenbus_detach(struct pvio_xenbus_device *dev)
{
	int err = 0;

	if (dev->watching) {
		err = dev_path(dev, dev->otherend, "state");
		if (err == 0)
			err = pvio_xs_unwatch(dev->xs, dev->scratch,
					      dev->token);
		dev->watching = false;
	}
	return err;
}

/* ---- states ------------------------------------------------------------- */

int pvio_xenbus_switch_state(struct pvio_xenbus_device *dev,
			     enum pvio_xenbus_state state)
{
	struct switch_ctx c;
	int err;

	if ((unsigned)state > PVIO_XENBUS_RECONFIGURED ||
	    state == PVIO_XENBUS_UNKNOWN) {
		dev_fail(dev, -EINVAL, "switching to an invalid state", NULL);
		return -EINVAL;
	}
	if (state == dev->state)
		return 0;
	err = switch_ctx_init(&c, dev, state, true);
	if (err < 0)
		return err;
	err = pvio_xs_transact(dev->xs, switch_body, &c, 0);
	if (err == 0) {
		dev->state = state;
		return 0;
	}
	if (err == -ENOENT) {
		/* The state node is gone: the device was removed. */
		dev->state = PVIO_XENBUS_CLOSED;
		dev->error = err;
		return err;
	}
	if (err == -EINVAL) {
		char text[64];
		size_t pos = 0;

		text[0] = '\0';
		(void)xb_append(text, sizeof(text), &pos, "invalid transition ");
		(void)xb_append(text, sizeof(text), &pos,
				pvio_xenbus_state_name(c.from));
		(void)xb_append(text, sizeof(text), &pos, " -> ");
		(void)xb_append(text, sizeof(text), &pos,
				pvio_xenbus_state_name(state));
		dev_fail(dev, err, text, NULL);
		return err;
	}
	dev_fail(dev, err, "writing new state", NULL);
	return err;
}

int pvio_xenbus_read_otherend_state(struct pvio_xenbus_device *dev,
				    enum pvio_xenbus_state *state)
{
	enum pvio_xenbus_state st = PVIO_XENBUS_UNKNOWN;
	int err = dev_path(dev, dev->otherend, "state");

	if (err == 0)
		err = read_state(dev->xs, PVIO_XS_TX_NONE, dev->scratch, &st);
	if (err < 0)
		return err;
	dev->otherend_state = st;
	*state = st;
	return 0;
}

int pvio_xenbus_wait_otherend(struct pvio_xenbus_device *dev, uint32_t mask,
			      int timeout_ms, enum pvio_xenbus_state *state)
{
	const struct pvio_xs_transport_ops *ops = dev->xs->ops;
	bool clocked = ops->now_ms != NULL && timeout_ms > 0;
	uint64_t end = clocked ? ops->now_ms(dev->xs->ctx) +
					 (uint64_t)timeout_ms : 0;

	if (!dev->watching)
		return -EINVAL;
	for (;;) {
		enum pvio_xenbus_state st = PVIO_XENBUS_UNKNOWN;
		int left = timeout_ms;
		int err = pvio_xenbus_read_otherend_state(dev, &st);

		if (state != NULL)
			*state = st;
		if (err == -EINVAL) {
			dev_fail(dev, err, "other end wrote an invalid state at ",
				 dev->scratch);
			return err;
		}
		if (err == -ENOENT &&
		    (mask & PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_UNKNOWN)) == 0)
			return err;
		if (err < 0 && err != -ENOENT)
			return err;
		if (mask & PVIO_XENBUS_STATE_BIT(st))
			return 0;
		/* Shutting down while the caller waits for anything else. */
		if ((st == PVIO_XENBUS_CLOSING || st == PVIO_XENBUS_CLOSED) &&
		    (mask & (PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_CLOSING) |
			     PVIO_XENBUS_STATE_BIT(PVIO_XENBUS_CLOSED))) == 0)
			return -ECONNRESET;

		if (clocked) {
			uint64_t now = ops->now_ms(dev->xs->ctx);

			if (now >= end)
				return -ETIMEDOUT;
			left = end - now > 0x7fffffff ? 0x7fffffff :
							(int)(end - now);
		}
		err = pvio_xs_wait_token(dev->xs, dev->token, left);
		if (err < 0)
			return err;
		if (err == 0)
			return -ETIMEDOUT;
	}
}

int pvio_xenbus_frontend_wait_backend(struct pvio_xenbus_device *dev,
				      int timeout_ms,
				      int (*attach)(void *arg,
						    const char *nodename),
				      void (*nap)(void *arg, int ms),
				      void *arg)
{
	struct pvio_xs *xs = dev->xs;
	const struct pvio_xs_transport_ops *ops = xs->ops;
	bool clocked = ops->now_ms != NULL;
	uint64_t start = clocked ? ops->now_ms(xs->ctx) : 0;
	uint64_t limit = timeout_ms < 0 ? UINT64_MAX : (uint64_t)timeout_ms;
	uint64_t waited = 0;
	char path[PVIO_XENBUS_PATH_MAX];
	int err;

	/* attach() rewrites dev, nodename with it. */
	if (copy_str(path, sizeof(path), dev->nodename) < 0)
		return -EINVAL;
	for (;;) {
		enum pvio_xenbus_state st = PVIO_XENBUS_UNKNOWN;

		/* Attach again: the backend key may name a new dir. */
		(void)pvio_xenbus_detach(dev);
		err = attach(arg, path);
		if (err == 0) {
			err = pvio_xenbus_read_otherend_state(dev, &st);
			if (err == 0 && st == PVIO_XENBUS_INIT_WAIT)
				return 0;
		}
		if (err && err != -ENOENT && err != -EINVAL && err != -EACCES)
			return err;
		uint64_t spent = clocked ? ops->now_ms(xs->ctx) - start : waited;
		if (spent >= limit)
			return -ETIMEDOUT;
		uint64_t left = limit - spent;
		int slice = left < 200 ? (int)left + 1 : 200;

		if (dev->watching || nap == NULL) {
			err = pvio_xs_wait_token(xs, dev->token, slice);
			if (err < 0)
				return err;
		} else {
			nap(arg, slice);
		}
		waited += (uint64_t)slice;
	}
}

int pvio_xenbus_otherend_read_uint(struct pvio_xenbus_device *dev,
				   const char *node, uint64_t max,
				   uint64_t *out)
{
	int err = dev_path(dev, dev->otherend, node);

	if (err < 0)
		return err;
	err = pvio_xs_read_uint(dev->xs, PVIO_XS_TX_NONE, dev->scratch, max,
				out);
	if (err == -ENOENT || err == -EINVAL || err == -ERANGE)
		dev_fail(dev, err, "reading ", dev->scratch);
	return err;
}
