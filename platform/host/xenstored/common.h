/* SPDX-License-Identifier: MIT */
/*
 * Private to platform/host/xenstored: the tree (tree.c), the request
 * handlers with watches and domains (ops.c), the connections and the
 * event loop (server.c).
 *
 * The tree is a hash map from absolute path to node; a node holds its
 * children as Xen does, a blob of NUL-terminated names in creation order.
 * Every change to a node of the main tree gives it a fresh generation from
 * one counter. A transaction is an overlay map over the main tree: one
 * entry per path it touched, holding the generation it first saw there
 * (0: absent) and, once it writes, a private copy. Commit checks every
 * entry's generation against the main tree (-EAGAIN on any difference)
 * and then moves the copies in without allocating.
 */
#ifndef PVIO_XENSTORED_COMMON_H
#define PVIO_XENSTORED_COMMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/xenstored.h>
#include <pvio/xs_wire.h>

/* Permission bits, as Xen's enum xs_perm_type. OWNER is internal. */
#define XSD_PERM_NONE  0u
#define XSD_PERM_READ  1u
#define XSD_PERM_WRITE 2u
#define XSD_PERM_OWNER 8u

/* Room for a canonical path plus its terminating NUL. */
#define XSD_PATH_BUF (PVIO_XS_ABS_PATH_MAX + 1)

/* Replies a connection may have unsent before we stop reading from it. */
#define XSD_MAX_PENDING_REPLIES 16

struct xsd_perm {
	uint32_t id;   /* domid */
	uint32_t perm; /* XSD_PERM_* */
};

/* What an overlay entry says about its path; main-tree nodes are LIVE. */
enum xsd_kind {
	XSD_LIVE = 0,    /* a node with content */
	XSD_READ = 1,    /* overlay: seen only; content is the main tree's */
	XSD_DELETED = 2, /* overlay: absent in this transaction */
};

struct xsd_node {
	struct xsd_node *hnext;
	char *path;
	/* Main: generation of the last change. Overlay: main's when first seen. */
	uint64_t gen;
	enum xsd_kind kind;
	char *value;
	uint32_t vlen;
	uint32_t nperms;
	struct xsd_perm *perms;  /* [0] = owner + everyone else */
	char *children;          /* "a\0b\0" */
	uint32_t childlen;
};

struct xsd_map {
	struct xsd_node **tab;
	size_t size;   /* buckets, power of two */
	size_t count;
};

/* Per-domain bookkeeping; created on demand. */
struct xsd_domain {
	struct xsd_domain *next;
	uint32_t domid;
	uint32_t entries;     /* nodes owned in the main tree */
	bool introduced;
	bool has_target;
	uint32_t target;      /* SET_TARGET: acts as this domain too */
};

struct xsd_store {
	struct xsd_map nodes;
	uint64_t gen;
	struct xsd_domain *domains;
};

/* A watch fired by a transaction, held until commit. */
struct xsd_change {
	struct xsd_change *next;
	bool recurse;
	uint32_t nperms;
	struct xsd_perm *perms;  /* node perms to check the watcher against */
	char path[];
};

struct xsd_txn {
	struct xsd_txn *next;
	uint32_t id;
	uint32_t domid;        /* the connection's domid, for entry_delta */
	uint32_t max_nodes;    /* overlay entries allowed, 0 = no limit */
	int64_t entry_delta;   /* change in nodes owned by domid */
	struct xsd_map overlay;
	struct xsd_change *changes;
	struct xsd_change **changes_tail;
};

/* Who asks: the permission identity of a request. */
struct xsd_actor {
	uint32_t domid;
	bool priv;
};

/* The tree as one request sees it: the main tree, or through a transaction. */
struct xsd_view {
	struct xsd_store *st;
	struct xsd_txn *tx;    /* NULL: the main tree */
};

struct xsd_watch {
	struct xsd_watch *next;
	bool relative;         /* fire with the path below /local/domain/<id>/ */
	char *path;            /* canonical, or "@special" */
	char *token;
};

struct xsd_msg {
	struct xsd_msg *next;
	bool is_event;
	uint32_t len;          /* header + payload */
	uint32_t off;          /* bytes already sent */
	unsigned char data[];
};

struct xsd_conn {
	struct xsd_conn *next;
	struct pvio_xenstored *srv;
	int fd;
	struct xsd_actor who;
	bool dead;
	uint32_t epoll_mask;   /* events registered with epoll */
	/* Input: one message at a time, header then payload. */
	uint32_t in_have;
	unsigned char in[sizeof(struct pvio_xs_msg_hdr) + PVIO_XS_PAYLOAD_MAX];
	/* Output, in order: replies and watch events. */
	struct xsd_msg *out_head;
	struct xsd_msg *out_tail;
	uint32_t out_replies;
	uint32_t out_events;
	struct xsd_watch *watches;
	uint32_t nwatches;
	struct xsd_txn *txns;
	uint32_t ntxns;
};

struct xsd_special {
	const char *name;
	uint32_t nperms;
	struct xsd_perm *perms;
};

enum { XSD_SPECIAL_INTRODUCE, XSD_SPECIAL_RELEASE, XSD_SPECIAL_COUNT };

struct pvio_xenstored {
	pthread_mutex_t lock;
	struct pvio_xenstored_config cfg;
	int epfd;
	int listen_fd;
	int stop_fd;
	char *sock_path;
	struct xsd_store st;
	struct xsd_conn *conns;
	struct xsd_conn *graveyard;   /* closed, freed at the end of step() */
	uint32_t nconns;
	uint32_t next_txid;
	struct xsd_special special[XSD_SPECIAL_COUNT];
	struct pvio_xenstored_stats stats;
};

/* --- tree.c ------------------------------------------------------------ */

int xsd_map_init(struct xsd_map *m);
struct xsd_node *xsd_map_find(const struct xsd_map *m, const char *path);
void xsd_map_insert(struct xsd_map *m, struct xsd_node *n);
struct xsd_node *xsd_map_remove(struct xsd_map *m, const char *path);
void xsd_map_destroy(struct xsd_map *m);

struct xsd_node *xsd_node_new(const char *path);
void xsd_node_free(struct xsd_node *n);
int xsd_node_set_value(struct xsd_node *n, const void *v, uint32_t len);
int xsd_node_set_perms(struct xsd_node *n, const struct xsd_perm *p,
		       uint32_t np);
int xsd_node_add_child(struct xsd_node *n, const char *name);
void xsd_node_del_child(struct xsd_node *n, const char *name);

int xsd_store_init(struct xsd_store *st);
void xsd_store_destroy(struct xsd_store *st);
struct xsd_domain *xsd_domain_get(struct xsd_store *st, uint32_t domid,
				  bool create);
uint32_t xsd_domain_entries(struct xsd_store *st, uint32_t domid);

int xsd_view_get(struct xsd_view *v, const char *path,
		 const struct xsd_node **out);
int xsd_view_mut(struct xsd_view *v, const char *path, struct xsd_node **out);
int xsd_view_set_perms(struct xsd_view *v, struct xsd_node *n,
		       const struct xsd_perm *p, uint32_t np);
int xsd_view_create(struct xsd_view *v, const char *path, const void *value,
		    uint32_t vlen, const struct xsd_perm *p, uint32_t np);
int xsd_view_delete(struct xsd_view *v, const char *path);

struct xsd_txn *xsd_txn_new(uint32_t id, uint32_t domid, uint32_t max_nodes);
void xsd_txn_free(struct xsd_txn *tx);
int xsd_txn_add_change(struct xsd_txn *tx, const char *path, bool recurse,
		       const struct xsd_perm *p, uint32_t np);
int xsd_txn_check(struct xsd_store *st, const struct xsd_txn *tx);
void xsd_txn_apply(struct xsd_store *st, struct xsd_txn *tx);

/* --- ops.c ------------------------------------------------------------- */

void xsd_handle_msg(struct pvio_xenstored *srv, struct xsd_conn *c,
		    const struct pvio_xs_msg_hdr *h, const char *payload);
int xsd_introduce(struct pvio_xenstored *srv, uint32_t domid);
int xsd_release(struct pvio_xenstored *srv, uint32_t domid);
void xsd_conn_drop_state(struct xsd_conn *c);
int xsd_setup_tree(struct pvio_xenstored *srv);

/* --- server.c ---------------------------------------------------------- */

/* Queue a message; events beyond the limit are dropped and counted. */
int xsd_conn_send(struct xsd_conn *c, uint32_t type, uint32_t req_id,
		  uint32_t tx_id, const void *data, uint32_t len,
		  bool is_event);
void xsd_conn_close(struct xsd_conn *c, bool bad);

#endif /* PVIO_XENSTORED_COMMON_H */
