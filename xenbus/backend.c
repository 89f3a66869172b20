/* SPDX-License-Identifier: MIT */
/*
 * The backend side of the xenbus state machine, once for every device type
 * (include/pvio/xenbus_backend.h has the diagram). Freestanding like the
 * rest of the core: the retry backoff counts poll periods of
 * pvio_xs_wait_token() instead of reading a clock.
 */
#include <pvio/xenbus_backend.h>

#include "common.h"

#define DEFAULT_POLL_MS 50
/* The longest wait before re-reading after failed reads, in poll periods
 * (1 s at the default period): long enough not to add load to a store
 * that is timing out, short enough that a frontend is not kept waiting. */
#define RETRY_MAX_PERIODS 20u

static void set_state(struct pvio_xenbus_backend *be, enum pvio_xenbus_state s)
{
	(void)pvio_xenbus_switch_state(be->dev, s);
	if (be->ops->state_changed != NULL)
		be->ops->state_changed(be->ctx, be->dev->state);
}

/* Is the toolstack still wanting the device ("online" = 1 in own dir)? */
static bool online(struct pvio_xenbus_backend *be)
{
	char path[PVIO_XENBUS_PATH_MAX + 16];
	size_t pos = 0;
	uint64_t v = 0;

	if (xb_append(path, sizeof(path), &pos, be->dev->nodename) != 0 ||
	    xb_append(path, sizeof(path), &pos, "/online") != 0)
		return false;
	return pvio_xs_read_uint(be->dev->xs, PVIO_XS_TX_NONE, path, 1, &v) == 0 &&
	       v == 1;
}

/* Linux: frontend_changed(). Returns false when the device is gone;
 * *again is set when connect failed without closing the device. */
static bool frontend_changed(struct pvio_xenbus_backend *be,
			     enum pvio_xenbus_state fe, bool *again)
{
	struct pvio_xenbus_device *dev = be->dev;

	*again = false;
	switch (fe) {
	case PVIO_XENBUS_INITIALISING:
		if (dev->state == PVIO_XENBUS_CLOSED) {
			/* Reconnect: a fresh handshake. */
			dev->error = 0;
			set_state(be, PVIO_XENBUS_INIT_WAIT);
		}
		break;
	case PVIO_XENBUS_INITIALISED:
	case PVIO_XENBUS_CONNECTED:
		if (dev->state != PVIO_XENBUS_INIT_WAIT)
			break;
		if (be->ops->connect(be->ctx) == 0)
			set_state(be, PVIO_XENBUS_CONNECTED);
		else
			/* A store read failed (timed out, say) and connect
			 * left the device in InitWait rather than closing it
			 * as for bad keys. The frontend is Connected and
			 * waits: no watch event will come, so try again. */
			*again = dev->state == PVIO_XENBUS_INIT_WAIT;
		break;
	case PVIO_XENBUS_CLOSING:
		be->ops->disconnect(be->ctx);
		set_state(be, PVIO_XENBUS_CLOSING);
		break;
	case PVIO_XENBUS_CLOSED:
		be->ops->disconnect(be->ctx);
		set_state(be, PVIO_XENBUS_CLOSED);
		if (!online(be))
			return false;
		break;
	case PVIO_XENBUS_UNKNOWN:
		/* The frontend's state node is gone: the device was removed. */
		be->ops->disconnect(be->ctx);
		set_state(be, PVIO_XENBUS_CLOSED);
		return false;
	default:
		break;
	}
	return true;
}

int pvio_xenbus_backend_run(struct pvio_xenbus_backend *be)
{
	struct pvio_xenbus_device *dev;
	/* look: read the state now (at start, and when a retry is due);
	 * retry_in: poll periods left before re-reading after a failed
	 * read, 0 when none failed; retry_step: the current backoff. */
	bool look = true;
	unsigned retry_in = 0, retry_step = 0;
	int poll_ms, rc = 0;

	if (be == NULL || be->dev == NULL || be->ops == NULL ||
	    be->ops->connect == NULL || be->ops->disconnect == NULL)
		return -EINVAL;
	dev = be->dev;
	poll_ms = be->poll_ms > 0 ? be->poll_ms : DEFAULT_POLL_MS;
	be->failure = NULL;

	if (be->ops->features != NULL) {
		rc = pvio_xs_transact(dev->xs, be->ops->features, be->ctx, 0);
		if (rc != 0) {
			be->failure = "writing backend features";
			(void)pvio_xenbus_dev_fatal(dev, rc, be->failure);
			if (be->ops->state_changed != NULL)
				be->ops->state_changed(be->ctx, dev->state);
			goto out;
		}
	}
	set_state(be, PVIO_XENBUS_INIT_WAIT);

	while (be->ops->poll == NULL || be->ops->poll(be->ctx)) {
		enum pvio_xenbus_state fe = PVIO_XENBUS_UNKNOWN;
		bool again;
		int err;

		if (!look) {
			err = pvio_xs_wait_token(dev->xs, dev->token, poll_ms);
			if (err < 0) {
				/* hostd died: no device problem to log; the
				 * embedder's own store connection fails too and
				 * it reports that once. */
				rc = err;
				be->failure = NULL;
				break;
			}
			/* A quiet period: re-read only when a retry is due. */
			if (err == 0 && (retry_in == 0 || --retry_in > 0))
				continue;
		}
		look = false;
		err = pvio_xenbus_read_otherend_state(dev, &fe);
		if (err == -ENOENT) {
			fe = PVIO_XENBUS_UNKNOWN;
			err = 0;
		}
		if (err == -EINVAL) {
			/* Garbage in the node: its next write fires the watch. */
			retry_in = retry_step = 0;
			continue;
		}
		if (err == 0) {
			if (!frontend_changed(be, fe, &again))
				break;
			if (!again) {
				retry_in = retry_step = 0;
				continue;
			}
		} else {
			/* The read failed, not the frontend: what it wrote is
			 * still to be seen, and maybe no watch event will come
			 * to say so. */
			be->read_retries++;
			be->last_read_error = err;
		}
		/* Re-read (and retry connect) after a backoff. */
		retry_step = retry_step == 0 ? 1 : retry_step * 2;
		if (retry_step > RETRY_MAX_PERIODS)
			retry_step = RETRY_MAX_PERIODS;
		retry_in = retry_step;
	}
out:
	be->ops->disconnect(be->ctx);
	if (dev->state != PVIO_XENBUS_CLOSED) {
		set_state(be, PVIO_XENBUS_CLOSING);
		set_state(be, PVIO_XENBUS_CLOSED);
	}
	return rc;
}
