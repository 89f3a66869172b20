/* SPDX-License-Identifier: MIT */
/*
 * The store daemon of the host platform: xenstored as a library, embedded
 * in `pvio hostd`.
 *
 * It keeps Xen's hierarchical key/value tree with Xen's permissions,
 * transactions, watches and quotas, and speaks Xen's wire protocol
 * (<pvio/xs_wire.h>) over Unix stream sockets, so Debian's xenstore-utils
 * work against it unchanged:
 *
 *     XENSTORED_PATH=DIR/socket xenstore-ls /local/domain
 *
 * Connections come two ways:
 *   - DIR/socket, a listening Unix socket: every connection on it is
 *     privileged (acts as dom0), like xenstored's socket.
 *   - pvio_xenstored_adopt_fd(): hostd makes a socketpair per domain and
 *     hands one end here; that connection acts as the given domid, with
 *     that domain's permissions and quotas (the host counterpart of a
 *     guest's xenstore ring).
 *
 * Threads: the server is driven by one thread at a time, through
 * pvio_xenstored_run() or pvio_xenstored_step(). The control calls
 * (adopt_fd, introduce/release_domain, stats, stop) take the server lock
 * and may be called from any thread, also while another thread is inside
 * run() or step(). pvio_xenstored_destroy() must not race with anything.
 *
 * Every function returns 0 or a negative errno unless it says otherwise.
 */
#ifndef PVIO_XENSTORED_H
#define PVIO_XENSTORED_H

#include <stdbool.h>
#include <stdint.h>

struct pvio_xenstored;

/*
 * Limits, so that one domain cannot exhaust the daemon. "Unprivileged"
 * limits apply to guest connections (domid != 0) only, as in Xen's
 * domain_max_chk(); per-connection limits apply to every connection.
 * A limit of 0 means the default. The error a client sees is Xen's.
 */
struct pvio_xenstored_config {
	/* Nodes a guest may own (Xen quota-nb-entry-per-domain). ENOSPC. */
	uint32_t max_entries_per_domain;   /* default 1000 */
	/* Value bytes of one node written by a guest. ENOSPC. */
	uint32_t max_value_size;           /* default 4096 */
	/* Watches per connection (all connections). E2BIG. */
	uint32_t max_watches_per_conn;     /* default 128 */
	/* Open transactions per connection (all connections). ENOSPC. */
	uint32_t max_transactions_per_conn; /* default 10 */
	/* Nodes one guest transaction may touch (Xen quota-trans-nodes). ENOSPC. */
	uint32_t max_nodes_per_transaction; /* default 1024 */
	/* Permission entries per node set by a guest. ENOSPC. */
	uint32_t max_perms_per_node;       /* default 5 */
	/*
	 * Watch events queued for a connection that does not read them (all
	 * connections). Beyond this, events are dropped and counted in
	 * pvio_xenstored_stats.events_dropped.
	 */
	uint32_t max_queued_events_per_conn; /* default 1024 */
	/* Absolute path length, any connection. EINVAL. */
	uint32_t max_path_len;             /* default 3072, at most 3072 */
	/* Path length below /local/domain/<id>/ for guests. EINVAL. */
	uint32_t max_rel_path_len;         /* default 2048 */
	/* Open connections, listener and adopted. New ones beyond are closed. */
	uint32_t max_connections;          /* default 1024 */
	/*
	 * Whether releasing a domain also removes /local/domain/<domid>.
	 * Xen leaves that to the toolstack (false); hostd may set it.
	 */
	bool release_removes_domain_path;
};

/* Server counters, for tests and `pvio hostd` status. */
struct pvio_xenstored_stats {
	uint64_t requests;        /* messages handled */
	uint64_t errors;          /* XS_ERROR replies sent */
	uint64_t events_sent;     /* watch events queued */
	uint64_t events_dropped;  /* watch events dropped by the queue limit */
	uint64_t conns_closed_bad; /* connections closed for protocol abuse */
	uint32_t connections;     /* open connections now */
	uint32_t nodes;           /* nodes in the tree now */
};

/* Fill *cfg with the defaults above. Any thread. */
void pvio_xenstored_config_default(struct pvio_xenstored_config *cfg);

/*
 * Create a server. cfg may be NULL (defaults). If dir is not NULL, listen
 * on dir/socket (dir must exist; a stale socket there is replaced) for
 * privileged connections; with dir NULL only adopted fds are served.
 * The tree starts as Xen's: "/", "/tool", "/tool/xenstored", owned by
 * dom0 with "n0", and the special nodes @introduceDomain and
 * @releaseDomain. Any thread.
 * Returns 0, -EINVAL (bad argument, dir/socket path too long), -ENOMEM,
 * or the errno of socket/bind/listen/epoll_create1/eventfd.
 */
int pvio_xenstored_create(struct pvio_xenstored **out, const char *dir,
			  const struct pvio_xenstored_config *cfg);

/*
 * Close every connection and the listener (unlinking dir/socket), free
 * everything. srv may be NULL. No other call on srv may be in progress.
 */
void pvio_xenstored_destroy(struct pvio_xenstored *srv);

/*
 * Serve a connected stream socket as domain domid (0 = privileged). The
 * server takes ownership of fd (closes it on error too) and sets it
 * non-blocking. Any thread.
 * Returns 0, -EBADF, -EMFILE (max_connections reached), -ENOMEM.
 */
int pvio_xenstored_adopt_fd(struct pvio_xenstored *srv, int fd,
			    uint16_t domid);

/*
 * Introduce domid (as XS_INTRODUCE): mark it introduced, create
 * /local/domain/<domid> owned by domid ("n<domid>") if missing, fire
 * @introduceDomain. Introducing an introduced domain does nothing.
 * Any thread. Returns 0, -EINVAL (domid 0), -ENOSPC, -ENOMEM.
 */
int pvio_xenstored_introduce_domain(struct pvio_xenstored *srv,
				    uint16_t domid);

/*
 * Release domid (as XS_RELEASE; hostd calls it when the domain's process
 * dies): close the domain's connections (dropping their watches and
 * transactions), give the nodes it owned to dom0 and drop its per-domain
 * permission entries (as Xen since XSA-322), remove /local/domain/<domid>
 * if cfg.release_removes_domain_path, fire @releaseDomain. Any thread.
 * Returns 0, -EINVAL (domid 0), -ENOENT (not introduced).
 */
int pvio_xenstored_release_domain(struct pvio_xenstored *srv, uint16_t domid);

/*
 * Run the event loop until pvio_xenstored_stop(). One thread at a time.
 * Returns 0 after stop, or -errno of epoll_wait.
 */
int pvio_xenstored_run(struct pvio_xenstored *srv);

/*
 * Ask run() to return (also makes a pending or next step() return
 * -ECANCELED once). Async-signal-safe and thread-safe (an eventfd write).
 */
void pvio_xenstored_stop(struct pvio_xenstored *srv);

/*
 * For embedding in another loop: a file descriptor (an epoll fd) that
 * polls readable when step() has work. Do not read or close it.
 */
int pvio_xenstored_fd(const struct pvio_xenstored *srv);

/*
 * Wait up to timeout_ms (-1 forever, 0 not at all) for I/O and handle it.
 * One thread at a time (the same rule as run()).
 * Returns the number of I/O events handled (>= 0), -ECANCELED if stop()
 * was called, or -errno of epoll_wait (-EINTR included).
 */
int pvio_xenstored_step(struct pvio_xenstored *srv, int timeout_ms);

/* Snapshot the counters. Any thread. */
void pvio_xenstored_get_stats(struct pvio_xenstored *srv,
			      struct pvio_xenstored_stats *st);

#endif /* PVIO_XENSTORED_H */
