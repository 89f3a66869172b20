/* SPDX-License-Identifier: MIT */
/*
 * A small blocking store client for the tests: speaks the wire protocol
 * over one socket, keeps watch events that arrive before a reply in a
 * queue, and turns XS_ERROR replies into -errno. Also a fixture that runs
 * a server in a thread with connections over socketpairs.
 *
 * Determinism: "no event arrived" is checked with tc_sync(), a round trip
 * after which every event the server queued earlier has been received
 * (the server sends a connection's messages in order). Reads time out
 * after 60 s only so that a broken server fails a test instead of hanging.
 */
#ifndef PVIO_TESTS_STORE_CLIENT_H
#define PVIO_TESTS_STORE_CLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/xenstored.h>
#include <pvio/xs_wire.h>

struct tc_msg {
	struct pvio_xs_msg_hdr h;
	char data[PVIO_XS_PAYLOAD_MAX + 1]; /* NUL added after len bytes */
};

#define TC_MAX_EVENTS 1024

/* A watch event; longer paths or tokens than the tests use are cut. */
struct tc_event {
	char path[256];
	char token[128];
};

struct tc {
	int fd;
	uint32_t next_req;
	unsigned int nev, ev_head;
	struct tc_event *ev; /* ring of TC_MAX_EVENTS, allocated on use */
};

/* Client on fd (owned). Returns 0 or -errno. */
int tc_open(struct tc *c, int fd);
void tc_close(struct tc *c);

/* Raw bytes out; whole message in (blocking). 0 or -errno (-EPIPE: EOF). */
int tc_send_raw(struct tc *c, const void *buf, size_t len);
int tc_recv(struct tc *c, struct tc_msg *m);

/*
 * Send a request and wait for its reply (events meanwhile are queued).
 * Returns 0 and *reply, or -errno from an XS_ERROR reply, or -EPROTO.
 */
int tc_req(struct tc *c, uint32_t type, uint32_t tx, const void *payload,
	   uint32_t len, struct tc_msg *reply);

int tc_write(struct tc *c, uint32_t tx, const char *path, const char *value);
int tc_read(struct tc *c, uint32_t tx, const char *path, char *buf,
	    size_t size);
int tc_mkdir(struct tc *c, uint32_t tx, const char *path);
int tc_rm(struct tc *c, uint32_t tx, const char *path);
/* Children as "a,b,c" (commas for NULs). */
int tc_dir(struct tc *c, uint32_t tx, const char *path, char *buf,
	   size_t size);
/* perms: "n0,r5" style; reply likewise. */
int tc_set_perms(struct tc *c, uint32_t tx, const char *path,
		 const char *perms);
int tc_get_perms(struct tc *c, uint32_t tx, const char *path, char *buf,
		 size_t size);
int tc_watch(struct tc *c, const char *path, const char *token);
int tc_unwatch(struct tc *c, const char *path, const char *token);
int tc_tx_start(struct tc *c, uint32_t *tx);
int tc_tx_end(struct tc *c, uint32_t tx, bool commit);
/* A string-argument request: args joined by NULs (each terminated). */
int tc_req_strs(struct tc *c, uint32_t type, uint32_t tx,
		struct tc_msg *reply, const char *const *args, int nargs);

/* A round trip: afterwards every event queued for c before it is here. */
int tc_sync(struct tc *c);
/* Events received so far and not taken. */
unsigned int tc_events(const struct tc *c);
/* Take the oldest event, reading the socket if none is queued. 0/-errno. */
int tc_next_event(struct tc *c, struct tc_event *ev);
/* tc_sync(), then drop every queued event; returns how many. */
unsigned int tc_drain(struct tc *c);

/* A server in a thread plus connections to it. */
struct tc_fixture {
	struct pvio_xenstored *srv;
	pthread_t thread;
	struct tc dom0; /* privileged */
};

/* cfg may be NULL. 0 or -errno. */
int tc_fixture_start(struct tc_fixture *f,
		     const struct pvio_xenstored_config *cfg);
void tc_fixture_stop(struct tc_fixture *f);
/* A new connection acting as domid. */
int tc_connect(struct tc_fixture *f, uint16_t domid, struct tc *c);

/* CMocka group/test setup and teardown: *state is a struct tc_fixture. */
int tc_setup(void **state);
int tc_teardown(void **state);

/* errno for an xsd_errors name, or 0. */
int tc_errno_of(const char *name);

#endif /* PVIO_TESTS_STORE_CLIENT_H */
