/* SPDX-License-Identifier: MIT */
/*
 * pvio xenbus backend driver SDK: the backend side of the xenbus state
 * machine, driven once for every device type. A backend (blkback, netback,
 * an embedder's own) attaches its struct pvio_xenbus_device, fills a
 * struct pvio_xenbus_backend with a const ops table of what is specific to
 * its device type (its feature keys, its connect and disconnect work), and
 * runs pvio_xenbus_backend_run() in the device's control thread.
 *
 * What the helper drives (own "state", as Linux's xen-blkback and
 * xen-netback frontend_changed() do):
 *
 *   Initialising --(ops->features written)--> InitWait
 *   InitWait --(frontend Initialised or Connected; ops->connect
 *              returned 0)--> Connected
 *   any --(frontend Closing: ops->disconnect)--> Closing
 *   any --(frontend Closed: ops->disconnect)--> Closed; the run ends
 *          unless the toolstack's "online" key (own dir) is 1
 *   Closed --(frontend Initialising again)--> InitWait      (reconnect)
 *   any --(frontend's state node gone: device removed)--> Closed, run ends
 *   any --(ops->poll returned false)--> Closing, Closed, run ends
 *
 * A failed read of the frontend's state (a store timeout under load, an
 * error reply) is retried: after 1, 2, 4, ... up to 20 poll periods, or at
 * once when the next watch event comes, whichever is first, for as long as
 * it keeps failing. A change whose read failed is therefore still seen; it
 * is not left waiting for a watch event that may never come. A state node
 * holding garbage is not retried: the frontend's next write fires the
 * watch again. A connect that failed without closing the device (a store
 * read in it failed) is retried the same way.
 *
 * Part of the freestanding xenbus core (no libc). Threads: the run belongs
 * to the thread that calls it, with the device and its store connection;
 * the ops are called from that thread only.
 */
#ifndef PVIO_XENBUS_BACKEND_H
#define PVIO_XENBUS_BACKEND_H

#include <pvio/xenbus.h>

/*
 * What a backend type does at each step. ctx is the struct
 * pvio_xenbus_backend's ctx. Only connect and disconnect are required.
 */
struct pvio_xenbus_backend_ops {
	/*
	 * Write what the backend offers (feature keys) before InitWait,
	 * inside a transaction the helper runs (pvio_xs_transact(), arg is
	 * ctx). 0 or -errno: the helper then writes the error node ("writing
	 * backend features") and ends the run. NULL: nothing to offer.
	 */
	pvio_xs_tx_body_fn features;
	/*
	 * The frontend is Initialised or Connected and the backend in
	 * InitWait: read the frontend's keys, map rings, bind event
	 * channels, start serving. Return 0 and the helper switches to
	 * Connected; or -errno after reporting the error with
	 * pvio_xenbus_dev_fatal() (the device is then Closed); or -errno
	 * with the device left in InitWait (a transient store error): the
	 * helper calls it again after a backoff.
	 */
	int (*connect)(void *ctx);
	/*
	 * Stop serving and release what connect took. Called on frontend
	 * Closing, Closed or removal, and when the run ends; must do
	 * nothing when not connected.
	 */
	void (*disconnect)(void *ctx);
	/*
	 * Once per poll period and before each look at the frontend, while
	 * idle: the backend's own events (a queue that found the frontend
	 * misbehaving, a stop request). Return false to end the run. NULL:
	 * run until the device goes.
	 */
	bool (*poll)(void *ctx);
	/*
	 * The helper changed the device's own state to state (the device's
	 * state field already says so): for a backend that publishes its
	 * state to other threads. May be NULL.
	 */
	void (*state_changed)(void *ctx, enum pvio_xenbus_state state);
};

/* One backend device's run. The caller fills the inputs, zeroes the rest. */
struct pvio_xenbus_backend {
	/* in */
	struct pvio_xenbus_device *dev;   /* attached as a backend */
	const struct pvio_xenbus_backend_ops *ops;
	void *ctx;
	int poll_ms;            /* ops->poll period and retry unit; 0: 50 */
	/* out, for the caller's logs and tests */
	unsigned long read_retries;       /* failed state reads retried */
	int last_read_error;              /* -errno of the last failed read */
	const char *failure;              /* why the run ended with an error */
};

/*
 * Drive dev (attached with pvio_xenbus_backend_attach(), its state
 * Initialising) through the state machine above until the device goes,
 * ops->poll returns false, or the store connection breaks. On the way out
 * it calls ops->disconnect and leaves the device Closed; the caller still
 * detaches it. Returns 0 (the device went or poll stopped it), -EINVAL
 * (be, dev, ops, connect or disconnect missing), ops->features's error
 * (error node written), or the store connection's sticky error. On an
 * error be->failure says which step failed, except for the broken store
 * connection, where it is NULL (nothing device-specific to log).
 */
int pvio_xenbus_backend_run(struct pvio_xenbus_backend *be);

#endif /* PVIO_XENBUS_BACKEND_H */
