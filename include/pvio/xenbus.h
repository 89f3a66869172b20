/* SPDX-License-Identifier: MIT */
/*
 * xenbus: the client side of the store, and the xenbus device state machine
 * that every split driver uses to find and connect to its other end.
 *
 * Two layers, one header:
 *
 *   pvio_xs_*      a store client speaking Xen's xs_wire (<pvio/xs_wire.h>)
 *                  through a const transport ops table. One request is in
 *                  flight at a time; replies are matched by req_id; watch
 *                  events that arrive while a reply is awaited are queued in
 *                  a bounded, caller-provided queue.
 *   pvio_xenbus_*  the standard key layout, the toolstack's device
 *                  create/destroy (as libxl does it), each end's state
 *                  machine, feature keys.
 *
 * Freestanding: the library pvio_xenbus needs no libc beyond <stdint.h>,
 * <stddef.h>, <stdbool.h>; it calls memcpy and memset, which an embedder
 * provides. The host (Unix socket) transport at the end of this header lives
 * in the separate library pvio_xenbus_host.
 *
 * Threads: a struct pvio_xs and every pvio_xenbus_device bound to it belong
 * to one thread at a time (the caller serialises). Use one connection per
 * thread that talks to the store independently.
 *
 * Errors: every function returns 0 (or a count where it says so) or a
 * negative errno. Store error replies map by name (Xen's xsd_errors:
 * "ENOENT" -> -ENOENT ...); an unknown name gives -EPROTO. The errno values
 * are Linux's (defined below when <errno.h> is not included).
 *
 * Sticky errors: a transport failure other than a timeout (-ECONNRESET,
 * -EIO ...) or a malformed message from the store (payload longer than
 * PVIO_XS_PAYLOAD_MAX: the stream cannot be resynchronised) breaks the
 * connection; every later call returns the same error.
 */
#ifndef PVIO_XENBUS_H
#define PVIO_XENBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/types.h>
#include <pvio/xs_wire.h>

/* Linux errno values, for freestanding users (same tokens as glibc's). */
#ifndef EPERM
#define EPERM 1
#endif
#ifndef ENOENT
#define ENOENT 2
#endif
#ifndef EIO
#define EIO 5
#endif
#ifndef E2BIG
#define E2BIG 7
#endif
#ifndef EAGAIN
#define EAGAIN 11
#endif
#ifndef ENOMEM
#define ENOMEM 12
#endif
#ifndef EACCES
#define EACCES 13
#endif
#ifndef EBUSY
#define EBUSY 16
#endif
#ifndef EEXIST
#define EEXIST 17
#endif
#ifndef EISDIR
#define EISDIR 21
#endif
#ifndef EINVAL
#define EINVAL 22
#endif
#ifndef ENOSPC
#define ENOSPC 28
#endif
#ifndef EROFS
#define EROFS 30
#endif
#ifndef ERANGE
#define ERANGE 34
#endif
#ifndef ENAMETOOLONG
#define ENAMETOOLONG 36
#endif
#ifndef ENOSYS
#define ENOSYS 38
#endif
#ifndef ENOTEMPTY
#define ENOTEMPTY 39
#endif
#ifndef EPROTO
#define EPROTO 71
#endif
#ifndef ECONNRESET
#define ECONNRESET 104
#endif
#ifndef EISCONN
#define EISCONN 106
#endif
#ifndef ETIMEDOUT
#define ETIMEDOUT 110
#endif

/* ------------------------------------------------------------------------
 * Transport: how the client reaches the store.
 * ------------------------------------------------------------------------ */

/*
 * A byte stream to the store. The client calls these from the thread that
 * owns the struct pvio_xs; ctx is the pointer given to pvio_xs_init().
 */
struct pvio_xs_transport_ops {
	/*
	 * Send all len bytes (one whole message: header and payload).
	 * Returns 0, or -errno (the connection is then broken).
	 */
	int (*send)(void *ctx, const void *buf, size_t len);
	/*
	 * Receive at most len (> 0) bytes, waiting at most timeout_ms
	 * (-1: forever, 0: do not wait). Returns the count received (> 0),
	 * -ETIMEDOUT (nothing arrived in time), -ECONNRESET (the store closed
	 * the stream) or another -errno (broken).
	 */
	int (*recv)(void *ctx, void *buf, size_t len, int timeout_ms);
	/*
	 * Optional: a monotonic clock in milliseconds. With it a call's
	 * timeout bounds the whole call; without it (NULL) it bounds each
	 * wait for bytes.
	 */
	uint64_t (*now_ms)(void *ctx);
};

/* ------------------------------------------------------------------------
 * The store client.
 * ------------------------------------------------------------------------ */

typedef uint32_t pvio_xs_tx_t;  /* transaction id; 0 is "no transaction" */
#define PVIO_XS_TX_NONE ((pvio_xs_tx_t)0)

/* A whole message as it crosses the transport (payload NUL-terminated). */
struct pvio_xs_msg {
	struct pvio_xs_msg_hdr hdr;
	char payload[PVIO_XS_PAYLOAD_MAX + 1];
};
_Static_assert(offsetof(struct pvio_xs_msg, payload) ==
	       sizeof(struct pvio_xs_msg_hdr), "payload follows the header");

/* One watch event: "path\0token\0" exactly as the store sent it. */
struct pvio_xs_event {
	uint32_t len;                       /* payload bytes, both NULs in */
	uint32_t seq;                       /* queue order (private) */
	char data[PVIO_XS_PAYLOAD_MAX + 1];
};

/* The path that changed and the token given to pvio_xs_watch(). */
static inline const char *pvio_xs_event_path(const struct pvio_xs_event *ev)
{
	return ev->data;
}
const char *pvio_xs_event_token(const struct pvio_xs_event *ev);

/* Counters, read freely by the owner thread. */
struct pvio_xs_stats {
	uint64_t requests;          /* requests sent */
	uint64_t replies_stale;     /* replies whose req_id was not awaited */
	uint64_t events_queued;     /* watch events stored in the queue */
	uint64_t events_coalesced;  /* duplicates of a queued event, dropped */
	uint64_t events_dropped;    /* lost: the queue was full (overflow) */
	uint64_t events_malformed;  /* events without "path\0token\0" */
};

/* Called by pvio_xs_dispatch() for each event, in arrival order. */
typedef void (*pvio_xs_event_fn)(void *arg, const char *path,
				 const char *token);

/* A connection to the store. Caller-allocated; fields are private. */
struct pvio_xs {
	const struct pvio_xs_transport_ops *ops;
	void *ctx;
	int timeout_ms;            /* per call; -1 forever (default) */
	int error;                 /* sticky: 0 or the error that broke it */
	uint32_t next_req_id;
	uint32_t next_seq;
	struct pvio_xs_event *q;   /* event queue: caller's array */
	uint32_t q_cap;
	uint32_t q_count;
	pvio_xs_event_fn event_fn;
	void *event_arg;
	struct pvio_xs_stats stats;
	size_t rx_have;            /* bytes of the message being received */
	struct pvio_xs_msg rx, tx;
};

/*
 * Bind xs to a transport. events[nr_events] (nr_events >= 1) holds watch
 * events until pvio_xs_next_event()/pvio_xs_dispatch() takes them: an event
 * equal to one already queued is coalesced; one that finds the queue full
 * is dropped and counted in stats.events_dropped (a watcher re-reads what
 * it watches, so size the queue for the watches you hold).
 * Called once by the owner before any other pvio_xs_* call.
 * Returns 0 or -EINVAL (NULL argument, no send/recv, nr_events 0).
 */
int pvio_xs_init(struct pvio_xs *xs, const struct pvio_xs_transport_ops *ops,
		 void *ctx, struct pvio_xs_event *events, uint32_t nr_events);

/*
 * Bound every later call to timeout_ms (-1: forever). A call that times
 * out returns -ETIMEDOUT; its late reply is recognised by req_id and
 * discarded (stats.replies_stale).
 */
void pvio_xs_set_timeout(struct pvio_xs *xs, int timeout_ms);

/*
 * Read path's value into buf[size], NUL-terminated; *len (may be NULL)
 * receives its length. Returns 0, -ENOENT, -EACCES, -ERANGE (buf too
 * small; nothing copied), -ENAMETOOLONG, -ETIMEDOUT, -EPROTO, a store error
 * or a transport error.
 */
int pvio_xs_read(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		 char *buf, size_t size, size_t *len);

/* Write a string value, creating path (and missing parents). 0 or -errno
 * as pvio_xs_read(), -E2BIG (path and value exceed one message). */
int pvio_xs_write(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		  const char *value);

/* Create path with an empty value; an existing node is left as it is. */
int pvio_xs_mkdir(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path);

/* Remove path and everything below it. -ENOENT if its parent is missing. */
int pvio_xs_rm(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path);

/*
 * List path's children into buf[size] as consecutive NUL-terminated names
 * followed by one more NUL (so `for (p = buf; *p; p += len(p) + 1)` walks
 * them); *nr (may be NULL) receives the count. Returns 0, -ERANGE (buf too
 * small), -EPROTO (reply not a list of strings), or as pvio_xs_read().
 */
int pvio_xs_directory(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		      char *buf, size_t size, unsigned *nr);

/*
 * Permissions, Xen's: the first entry names the owner (who may do
 * anything) and the access of every domain not listed; later entries give
 * one domain's access. Domain 0 (privileged) may always do anything.
 */
enum pvio_xs_perm_access {
	PVIO_XS_PERM_NONE = 'n',
	PVIO_XS_PERM_READ = 'r',
	PVIO_XS_PERM_WRITE = 'w',
	PVIO_XS_PERM_BOTH = 'b',
};
struct pvio_xs_perm {
	pvio_domid_t domid;
	char access;                /* enum pvio_xs_perm_access */
};

/* Up to max entries into perms; *nr the count. -ERANGE if more than max,
 * -EPROTO (malformed entry), or as pvio_xs_read(). */
int pvio_xs_get_perms(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		      struct pvio_xs_perm *perms, unsigned max, unsigned *nr);

/* Replace path's permissions (nr >= 1). -EINVAL (bad access letter, nr 0),
 * -EACCES/-EPERM, or as pvio_xs_write(). */
int pvio_xs_set_perms(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		      const struct pvio_xs_perm *perms, unsigned nr);

/*
 * Watch path and everything below it; events carry token. The store sends
 * one event at once (Xen does), so a watcher reads the initial value from
 * its first event. pvio_xs_unwatch() also drops queued events of that
 * path and token. Returns 0, -EEXIST (same path and token watched), -ENOENT
 * (unwatch: no such watch), or as pvio_xs_read().
 */
int pvio_xs_watch(struct pvio_xs *xs, const char *path, const char *token);
int pvio_xs_unwatch(struct pvio_xs *xs, const char *path, const char *token);

/*
 * Start a transaction; *t receives its id. Ending commits (abort false)
 * or discards (abort true). A commit that raced with another writer
 * returns -EAGAIN: nothing was written and the caller redoes the whole
 * transaction (pvio_xs_transact() does that). Returns 0, -EAGAIN, -ENOENT
 * (no such transaction), or as pvio_xs_read().
 */
int pvio_xs_transaction_start(struct pvio_xs *xs, pvio_xs_tx_t *t);
int pvio_xs_transaction_end(struct pvio_xs *xs, pvio_xs_tx_t t, bool abort);

/*
 * Run body inside a transaction, retrying while the commit returns -EAGAIN,
 * at most max_tries times (0 means 16). body returns 0 to commit, or
 * -errno to abort; that error is returned as is (an -EAGAIN from body also
 * retries). Returns 0, -EAGAIN (still racing after max_tries), body's
 * error, or a transaction error.
 */
typedef int (*pvio_xs_tx_body_fn)(struct pvio_xs *xs, pvio_xs_tx_t t,
				  void *arg);
int pvio_xs_transact(struct pvio_xs *xs, pvio_xs_tx_body_fn body, void *arg,
		     unsigned max_tries);

/* "/local/domain/<domid>" as the store says it, into buf[size].
 * 0, -ERANGE, or as pvio_xs_read(). */
int pvio_xs_get_domain_path(struct pvio_xs *xs, pvio_domid_t domid,
			    char *buf, size_t size);

/*
 * Take the oldest queued watch event into *ev. With the queue empty, read
 * from the store, waiting up to timeout_ms (0: only what has arrived,
 * -1: forever) for one.
 * Returns 1 (an event), 0 (none in time), or a sticky error.
 */
int pvio_xs_next_event(struct pvio_xs *xs, struct pvio_xs_event *ev,
		       int timeout_ms);

/*
 * Wait until an event with this token is queued or arrives, up to
 * timeout_ms, and remove every queued event with the token; events with
 * other tokens stay queued in order. Returns 1, 0 (timed out), or a sticky
 * error. The xenbus layer waits this way for the other end's state.
 */
int pvio_xs_wait_token(struct pvio_xs *xs, const char *token,
		       int timeout_ms);

/*
 * Event callback for pvio_xs_dispatch(): fn(arg, path, token). The
 * callback may call any pvio_xs_* function on xs (it runs after the event
 * left the queue). fn NULL removes it.
 */
void pvio_xs_set_event_handler(struct pvio_xs *xs, pvio_xs_event_fn fn,
			       void *arg);

/*
 * Deliver queued events to the handler; with none queued, wait up to
 * timeout_ms for one first. Returns the number delivered (>= 0), -EINVAL
 * (no handler), or a sticky error.
 */
int pvio_xs_dispatch(struct pvio_xs *xs, int timeout_ms);

/*
 * Strict unsigned decimal: only digits, no sign, no spaces, no leading
 * zero (except "0" itself), at most max. Returns 0, -EINVAL (empty or
 * garbage), -ERANGE (above max).
 */
int pvio_xs_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* value in decimal into buf[size]; returns its length, or -ERANGE. */
int pvio_xs_format_uint(char *buf, size_t size, uint64_t value);

/* Read path and parse it as pvio_xs_parse_uint() does. 0, -ENOENT,
 * -EINVAL, -ERANGE, or as pvio_xs_read(). */
int pvio_xs_read_uint(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		      uint64_t max, uint64_t *out);

/* Write value in decimal. 0 or as pvio_xs_write(). */
int pvio_xs_write_uint(struct pvio_xs *xs, pvio_xs_tx_t t, const char *path,
		       uint64_t value);

/*
 * Error names of Xen's xsd_errors. pvio_xs_error_errno("ENOENT") is
 * -ENOENT; an unknown name gives -EPROTO. pvio_xs_errno_name(-ENOENT) is
 * "ENOENT"; an errno without a store name gives "EIO" (as xenstored).
 */
int pvio_xs_error_errno(const char *name);
const char *pvio_xs_errno_name(int err);

/* dir + "/" + node into buf[size] (node NULL or "": dir alone).
 * 0 or -ENAMETOOLONG (longer than size - 1 or PVIO_XS_ABS_PATH_MAX). */
int pvio_xs_join(char *buf, size_t size, const char *dir, const char *node);

/* ------------------------------------------------------------------------
 * xenbus: key layout and the toolstack's side.
 *
 * Keys (Xen's io/xenbus.h and libxl; "fe" is the frontend domain, "be" the
 * backend domain, dirs as built by pvio_xenbus_*_path()):
 *
 * frontend dir  /local/domain/<fe>/device/<type>/<devid>
 *               owner fe, read for be
 *   backend     written by toolstack, read by frontend; string; no default.
 *               The backend dir.
 *   backend-id  written by toolstack, read by frontend; decimal domid;
 *               no default. The backend's domain.
 *   state       written by frontend (toolstack writes the initial 1); read
 *               by backend; decimal enum pvio_xenbus_state; missing means
 *               Unknown. The frontend's state.
 *   error       written by frontend on a fatal error; read by toolstack and
 *               backend; string "<errno> <message>"; absent normally.
 *
 * backend dir   /local/domain/<be>/backend/<type>/<fe>/<devid>
 *               owner be, read for fe
 *   frontend    written by toolstack, read by backend; string; no default.
 *               The frontend dir.
 *   frontend-id written by toolstack, read by backend; decimal domid;
 *               no default. Must equal <fe>.
 *   online      written by toolstack, read by backend; "0"/"1"; default 0.
 *               1 while the toolstack wants the device to exist.
 *   state       written by backend (toolstack writes the initial 1); read
 *               by frontend; as the frontend's.
 *   error       as the frontend's, written by the backend.
 *
 * error tree    /local/domain/<self>/error/<own dir without
 *               "/local/domain/<self>/">/error: the same "<errno> <message>",
 *               where Linux's xenbus_dev_fatal() puts it. Best effort.
 *
 * feature-<name> either end, in its own dir, read by the other; "0"/"1"
 *               (any decimal; non-zero is true); default false (or the
 *               driver's documented default). The driver's header lists its
 *               features.
 * ------------------------------------------------------------------------ */

/* Longest path the xenbus layer builds, with its NUL. */
#define PVIO_XENBUS_PATH_MAX 256

/* "/local/domain/<fe>/device/<type>/<devid>". 0 or -ENAMETOOLONG/-EINVAL
 * (type empty or containing '/'). */
int pvio_xenbus_frontend_path(char *buf, size_t size, const char *type,
			      pvio_domid_t fe, uint32_t devid);

/* "/local/domain/<be>/backend/<type>/<fe>/<devid>". As above. */
int pvio_xenbus_backend_path(char *buf, size_t size, const char *type,
			     pvio_domid_t be, pvio_domid_t fe, uint32_t devid);

/* One extra key the toolstack writes into a device dir. */
struct pvio_xenbus_kv {
	const char *key;    /* relative to the dir, no leading '/' */
	const char *value;
};

/* Extra keys for pvio_xenbus_device_create(), e.g. blkback's "params". */
struct pvio_xenbus_device_keys {
	const struct pvio_xenbus_kv *frontend;
	size_t nr_frontend;
	const struct pvio_xenbus_kv *backend;
	size_t nr_backend;
};

/*
 * Toolstack: create a device's two dirs in one transaction, as libxl's
 * libxl__device_generic_add(): remove any stale dirs; mkdir each; set
 * perms (frontend: owner fe, read for be; backend: owner be, read for fe);
 * write frontend backend, backend-id, state=1 and backend frontend,
 * frontend-id, online=1, state=1, then extra's keys. Called by the
 * toolstack (a privileged, dom0, connection). Returns 0, -EINVAL (bad
 * type or key), -ENAMETOOLONG, -EAGAIN (still racing after retries), or a
 * store error (-EACCES when not privileged).
 */
int pvio_xenbus_device_create(struct pvio_xs *xs, const char *type,
			      pvio_domid_t be, pvio_domid_t fe,
			      uint32_t devid,
			      const struct pvio_xenbus_device_keys *extra);

/*
 * Toolstack: remove both dirs in one transaction (the orderly close,
 * online=0 and waiting for the backend to reach Closed, comes first, done
 * by the caller with pvio_xenbus_device_set_online()). Removing a device
 * that is not there is not an error. Returns 0 or as create.
 */
int pvio_xenbus_device_destroy(struct pvio_xs *xs, const char *type,
			       pvio_domid_t be, pvio_domid_t fe,
			       uint32_t devid);

/* Toolstack: write the backend's online key (1 or 0). 0 or -errno. */
int pvio_xenbus_device_set_online(struct pvio_xs *xs, const char *type,
				  pvio_domid_t be, pvio_domid_t fe,
				  uint32_t devid, bool online);

/* ------------------------------------------------------------------------
 * xenbus: the device state machine, as Linux's xenbus drivers follow it.
 *
 * Frontend (own "state" in the frontend dir):
 *
 *   Unknown --> Initialising --+--> Initialised --> Connected --+--> Closing
 *                   ^          |   (ring published,     |       |      |
 *                   |          |    backend InitWait)   |       |      v
 *                   |          '---------------------->-'       '--> Closed
 *                   |           (netfront: straight to Connected)      |
 *                   '---------------- reconnect -----------------------'
 *   Connected --> Reconfiguring --> Reconfigured --> Connected
 *
 * Backend (own "state" in the backend dir):
 *
 *   Unknown --> Initialising --> InitWait --> Connected --+--> Closing
 *                                   ^  (frontend          |      |
 *                                   |   Initialised or    |      v
 *                                   |   Connected)        '--> Closed
 *                                   '------ reconnect --------------'
 *   Connected --> Reconfiguring --> Reconfigured --> Connected
 *
 * Both ends: every state other than Closed may go to Closing and to
 * Closed; Closing goes only to Closed; switching to the state one is in
 * is a no-op. A frontend never enters InitWait, a backend never
 * Initialised. Closed is the only state a fatal error leads to.
 *
 * The handshake:    backend                       frontend
 *                   Initialising                  Initialising
 *                   InitWait        ---->         (reads backend features)
 *                   (reads ring-ref...) <----     Initialised
 *                   Connected       ---->         Connected
 *                   ...                           Closing (to disconnect)
 *                   Closing         ---->         Closed
 *                   Closed
 * ------------------------------------------------------------------------ */

enum pvio_xenbus_role {
	PVIO_XENBUS_FRONTEND = 0,
	PVIO_XENBUS_BACKEND = 1,
};

/* Mask bit of one state for pvio_xenbus_wait_otherend(). */
#define PVIO_XENBUS_STATE_BIT(s) (1u << (unsigned)(s))

/* One end of one device, bound to a store connection. Caller-allocated;
 * read the fields, change them only through these functions. */
struct pvio_xenbus_device {
	struct pvio_xs *xs;
	enum pvio_xenbus_role role;
	pvio_domid_t self_id;
	pvio_domid_t otherend_id;
	uint32_t devid;
	enum pvio_xenbus_state state;          /* own, as last written */
	enum pvio_xenbus_state otherend_state; /* as last read */
	int error;                             /* 0 or the fatal error */
	bool watching;
	char type[32];
	char nodename[PVIO_XENBUS_PATH_MAX];   /* own dir */
	char otherend[PVIO_XENBUS_PATH_MAX];   /* the other end's dir */
	char token[PVIO_XENBUS_PATH_MAX];      /* watch token: nodename */
	char scratch[PVIO_XENBUS_PATH_MAX * 2];
};

/* Is from -> to a transition this role may make (table above)? */
bool pvio_xenbus_transition_valid(enum pvio_xenbus_role role,
				  enum pvio_xenbus_state from,
				  enum pvio_xenbus_state to);

/* "Initialising", "InitWait", ... ("Invalid" outside the enum). */
const char *pvio_xenbus_state_name(enum pvio_xenbus_state state);

/*
 * Frontend driver: bind dev to its frontend dir, read backend and
 * backend-id, read its own state, and watch the backend's state.
 * Returns 0; -ENOENT (a key or the dir missing) or -EINVAL (a key
 * malformed): fatal, dev's error node written and its state left Closed;
 * -ENAMETOOLONG/-EINVAL (bad arguments, nothing written); or a store error.
 */
int pvio_xenbus_frontend_attach(struct pvio_xenbus_device *dev,
				struct pvio_xs *xs, const char *type,
				pvio_domid_t fe, uint32_t devid);

/*
 * Backend driver: as pvio_xenbus_frontend_attach() for the backend dir
 * (reads frontend and frontend-id; frontend-id other than fe is -EINVAL,
 * fatal).
 */
int pvio_xenbus_backend_attach(struct pvio_xenbus_device *dev,
			       struct pvio_xs *xs, const char *type,
			       pvio_domid_t be, pvio_domid_t fe,
			       uint32_t devid);

/* Either driver: drop the watch and forget the device (the store keeps its
 * keys). 0 or -errno from unwatch (dev is detached anyway). */
int pvio_xenbus_detach(struct pvio_xenbus_device *dev);

/*
 * Either driver: write its own state, as Linux's xenbus_switch_state():
 * in a transaction, only if the "state" node exists, retried on -EAGAIN.
 * The transition is checked against the table from the state in the
 * store. Returns 0 (also when already in state); -EINVAL (not a valid
 * transition: fatal, error written, device left Closed); -ENOENT (the
 * state node is gone: the device was removed; dev->state becomes Closed);
 * or a store error (fatal as well).
 */
int pvio_xenbus_switch_state(struct pvio_xenbus_device *dev,
			     enum pvio_xenbus_state state);

/*
 * Either driver: read the other end's state into *state (and
 * dev->otherend_state). Returns 0, -ENOENT (no state node), -EINVAL (not a
 * state number: the peer misbehaves; not fatal here), or a store error.
 */
int pvio_xenbus_read_otherend_state(struct pvio_xenbus_device *dev,
				    enum pvio_xenbus_state *state);

/*
 * Either driver: wait until the other end's state is in mask (bits from
 * PVIO_XENBUS_STATE_BIT), up to timeout_ms (-1 forever), through the watch
 * set up by attach; *state (may be NULL) receives the last state seen.
 * Returns 0; -ECONNRESET (the other end went Closing or Closed and mask
 * holds neither: it will not reach what the caller waits for); -ENOENT (its state node vanished: device
 * removed); -ETIMEDOUT; -EINVAL (it wrote a non-state: fatal for dev); or
 * a store error.
 */
int pvio_xenbus_wait_otherend(struct pvio_xenbus_device *dev, uint32_t mask,
			      int timeout_ms, enum pvio_xenbus_state *state);

/*
 * Frontend driver, reconnecting: wait up to timeout_ms (-1 forever) for a
 * backend in InitWait at the dir the frontend's "backend" key names now
 * (the toolstack may have created the device afresh, even at another
 * backend). Each look detaches dev and calls attach(arg, nodename) with
 * dev's own dir, which must attach dev again (the driver's attach, which
 * records the backend it finds), then reads the backend's state. Between
 * looks it waits for dev's state watch, at most 200 ms (the "backend" key
 * itself is not watched); when the last attach failed and dev holds no
 * watch, through nap(arg, ms) if given. Time runs on the store
 * transport's now_ms, or, without one, by the slices waited.
 * Call from the thread that owns dev's store connection.
 * Returns 0 (dev attached, its backend in InitWait); -ETIMEDOUT; or the
 * first error of attach or the store other than -ENOENT, -EINVAL and
 * -EACCES (a device not there yet: a missing dir whose nearest ancestor
 * the frontend may not read answers -EACCES, as in Xen).
 */
int pvio_xenbus_frontend_wait_backend(struct pvio_xenbus_device *dev,
				      int timeout_ms,
				      int (*attach)(void *arg,
						    const char *nodename),
				      void (*nap)(void *arg, int ms),
				      void *arg);

/*
 * Either driver: the fatal path of Linux's xenbus_dev_fatal(): write
 * "<-err> <msg>" to the device's error node and to the error tree, then
 * switch to Closed without the transition check (best effort: the store
 * may already be gone). Sets dev->error. Returns err, so a caller can
 * `return pvio_xenbus_dev_fatal(dev, -ENOENT, "reading ring-ref");`.
 */
int pvio_xenbus_dev_fatal(struct pvio_xenbus_device *dev, int err,
			  const char *msg);

/*
 * Either driver: read the other end's key node (e.g. "ring-ref") as a
 * strict unsigned decimal at most max. A missing or malformed key is fatal
 * for dev (message "reading <path>"). Returns 0, -ENOENT, -EINVAL,
 * -ERANGE (fatal), or a store error.
 */
int pvio_xenbus_otherend_read_uint(struct pvio_xenbus_device *dev,
				   const char *node, uint64_t max,
				   uint64_t *out);

/*
 * Read dir/"feature-<name>" as a bool: missing gives def; a strict decimal
 * gives value != 0; anything else gives def and returns -EINVAL (the peer
 * wrote garbage; the caller decides). Returns 0, -EINVAL, -ENAMETOOLONG, or
 * a store error other than -ENOENT.
 */
int pvio_xenbus_read_feature(struct pvio_xs *xs, pvio_xs_tx_t t,
			     const char *dir, const char *name, bool def,
			     bool *out);

/* Write dir/"feature-<name>" = "1" or "0". 0 or as pvio_xs_write(). */
int pvio_xenbus_write_feature(struct pvio_xs *xs, pvio_xs_tx_t t,
			      const char *dir, const char *name, bool value);

/* ------------------------------------------------------------------------
 * Host transport (library pvio_xenbus_host, not freestanding): the store's
 * Unix socket, blocking I/O with poll() timeouts, CLOCK_MONOTONIC now_ms.
 * ------------------------------------------------------------------------ */

struct pvio_xs_host {
	int fd;
};

extern const struct pvio_xs_transport_ops pvio_xs_host_ops;

/* Connect to the store's Unix socket at path. 0 or -errno. */
int pvio_xs_host_connect(struct pvio_xs_host *h, const char *path);

/* Use an already-connected stream fd (e.g. a socketpair end); h owns it. */
void pvio_xs_host_attach_fd(struct pvio_xs_host *h, int fd);

/* Close the socket. Safe twice. */
void pvio_xs_host_close(struct pvio_xs_host *h);

/*
 * Connect a store client to the store of a host run directory (the
 * directory given to `pvio hostd --run-dir`): connect h to
 * "<run_dir>/socket", bind xs to it with events[nr_events] as for
 * pvio_xs_init(), and bound every call on xs to timeout_ms (-1: forever).
 * The caller owns h, xs and events, which must outlive xs's use; on
 * success it ends with pvio_xs_host_close(h). On failure h is closed
 * (h->fd == -1) and xs is not usable.
 * Returns 0, -EINVAL (NULL argument, nr_events 0), -ENAMETOOLONG (the
 * socket path does not fit a Unix address), or connect()'s -errno
 * (-ENOENT: no store there; -ECONNREFUSED: its hostd is gone).
 */
int pvio_xs_host_open(struct pvio_xs_host *h, struct pvio_xs *xs,
		      const char *run_dir, struct pvio_xs_event *events,
		      uint32_t nr_events, int timeout_ms);

#endif /* PVIO_XENBUS_H */
