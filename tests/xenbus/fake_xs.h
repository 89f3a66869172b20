/* SPDX-License-Identifier: MIT */
/*
 * A fake store server for the xenbus tests: an in-memory tree with Xen's
 * permissions (owner, per-domain access, dom0 privileged, children inherit
 * the parent's perms), watches that fire once on registration, and
 * optimistic transactions (a commit after any other commit or write gets
 * EAGAIN). It speaks xs_wire through byte buffers, so one process can drive
 * it through fake_transport_ops (single-threaded: a request is answered
 * while it is sent) and a forked process can serve sockets with
 * fake_xs_serve(). Test hooks let a connection's next reply be preceded by
 * events or a stale reply, replaced by an error, dropped, or malformed.
 */
#ifndef PVIO_TEST_FAKE_XS_H
#define PVIO_TEST_FAKE_XS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/xenbus.h>

struct fake_xs;
struct fake_conn;

/* One-shot hooks, applied to a connection's next reply, then cleared. */
struct fake_hooks {
	unsigned events_before_reply; /* "/hook/ev<i>" token "hooktok" */
	bool stale_before_reply;      /* a reply with req_id + 1000 first */
	const char *error_next;       /* reply with this error name instead */
	bool drop_next;               /* hold the reply (fake_conn_release) */
	bool bad_len_next;            /* send a header claiming 5000 bytes */
	bool wrong_type_next;         /* reply with another message type */
	size_t recv_chunk;            /* persistent: recv at most this many */
};

struct fake_xs *fake_xs_new(void);
void fake_xs_free(struct fake_xs *fx);

/* A connection acting as domid (0 is privileged). */
struct fake_conn *fake_xs_connect(struct fake_xs *fx, uint16_t domid);
struct fake_hooks *fake_conn_hooks(struct fake_conn *c);
/* Send the reply held by drop_next. */
void fake_conn_release(struct fake_conn *c);
/* Queue a watch event for c, as if a watch fired. */
void fake_conn_inject_event(struct fake_conn *c, const char *path,
			    const char *token);
/* Bytes waiting for the client. */
size_t fake_conn_pending(const struct fake_conn *c);

/* The next n transaction commits get EAGAIN. */
void fake_xs_force_eagain(struct fake_xs *fx, unsigned n);
/* Transaction commits and EAGAINs so far. */
unsigned fake_xs_commits(const struct fake_xs *fx);
unsigned fake_xs_eagains(const struct fake_xs *fx);

/* Direct tree access for assertions (no permission checks). */
const char *fake_xs_value(const struct fake_xs *fx, const char *path);
int fake_xs_get_perms(const struct fake_xs *fx, const char *path,
		      struct pvio_xs_perm *perms, unsigned max);
void fake_xs_set(struct fake_xs *fx, const char *path, const char *value);
void fake_xs_rm(struct fake_xs *fx, const char *path);

/* In-process transport: ctx is a struct fake_conn *. */
extern const struct pvio_xs_transport_ops fake_transport_ops;

/*
 * Serve n connected stream fds as domids[i] until every one is closed by
 * its peer. For a forked server process. Returns 0 or -errno.
 */
int fake_xs_serve(struct fake_xs *fx, const int *fds, const uint16_t *domids,
		  int n);

/* A client of the fake over the in-process transport, heap-allocated. */
#define XB_CLIENT_EVENTS 8
struct xb_client {
	struct fake_conn *conn;
	struct pvio_xs xs;
	struct pvio_xs_event ev[XB_CLIENT_EVENTS];
};
/* nr_events 1..XB_CLIENT_EVENTS (0: all). Aborts on failure. */
struct xb_client *xb_client_new(struct fake_xs *fx, uint16_t domid,
				unsigned nr_events);
void xb_client_free(struct xb_client *cl);

/* Give domid its home /local/domain/<domid>, owned by it with no access
 * for others, as libxl and xenstored do; through ts, a dom0 client.
 * Aborts on failure. */
void xb_make_home(struct xb_client *ts, uint16_t domid);

/*
 * The device tests' store: a fake with clients for the toolstack (dom0),
 * the frontend domain 2 and the backend domain 1, both homes made, and
 * the vif 0 between them created (XB_VIF_FE, XB_VIF_BE). Aborts on
 * failure; xb_vif_env_fini() frees it all.
 */
#define XB_VIF_FE "/local/domain/2/device/vif/0"
#define XB_VIF_BE "/local/domain/1/backend/vif/2/0"
struct xb_vif_env {
	struct fake_xs *fx;
	struct xb_client *ts, *fe, *be;
};
void xb_vif_env_init(struct xb_vif_env *v);
void xb_vif_env_fini(struct xb_vif_env *v);

#endif /* PVIO_TEST_FAKE_XS_H */
