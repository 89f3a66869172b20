/* SPDX-License-Identifier: MIT */
/*
 * hostd as a thread of this process and domains as other threads
 * (<pvio/domain.h> threads mode). One binary, three groups, each a meson
 * test in the suite of the layer it exercises:
 *   test_host_threads store    connect, domids, homes, permissions,
 *                              @introduceDomain/@releaseDomain, a hostile
 *                              control client, hostd going away
 *   test_host_threads evtchn   notify/wait both ways; a frontend leaving
 *                              wakes its backend (the death variant)
 *   test_host_threads grant    the whole exchange (grant, map, revoke
 *                              -EBUSY, vmap, map_ring), page allocator,
 *                              map_ring failures
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include <pvio/domain.h>

#include "exchange.h"
#include "host_test_util.h"
#include "wire.h"

#define NS_PER_MS 1000000ull

struct fixture {
	char dir[64];
	struct pvio_hostd *h;
};

static int hostd_up(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct pvio_hostd_config cfg = { .nr_frames = 8192, .max_domains = 16 };

	if (!f || test_run_dir(f->dir))
		return -1;
	cfg.run_dir = f->dir;
	if (pvio_hostd_create(&cfg, &f->h) || pvio_hostd_start(f->h))
		return -1;
	*state = f;
	return 0;
}

static int hostd_down(void **state)
{
	struct fixture *f = *state;

	pvio_hostd_destroy(f->h);
	test_run_dir_remove(f->dir);
	free(f);
	return 0;
}

static struct pvio_domain *connect_as(struct fixture *f, const char *name,
				      bool driver, uint32_t pages)
{
	struct pvio_domain_config cfg = { .name = name, .nr_pages = pages,
					  .driver_domain = driver };
	struct pvio_domain *d = NULL;

	assert_int_equal(pvio_domain_connect(f->dir, &cfg, &d), 0);
	assert_non_null(d);
	return d;
}

/* ---- sides in threads ------------------------------------------------------- */

struct side_thread {
	pthread_t t;
	int (*fn)(const struct xchg *);
	struct xchg x;
	int rc;
};

static void *side_main(void *arg)
{
	struct side_thread *s = arg;

	s->rc = s->fn(&s->x);
	return NULL;
}

static void side_start(struct side_thread *s, int (*fn)(const struct xchg *),
		       const struct xchg *x)
{
	s->fn = fn;
	s->x = *x;
	s->rc = -1;
	assert_int_equal(pthread_create(&s->t, NULL, side_main, s), 0);
}

/* ---- store ------------------------------------------------------------------- */

static void driver_domain_is_0_and_a_second_one_is_refused(void **state)
{
	struct fixture *f = *state;
	struct pvio_domain *b = connect_as(f, "back", true, 16);
	struct pvio_domain_config cfg = { .name = "back2", .nr_pages = 16,
					  .driver_domain = true };
	struct pvio_domain *b2 = NULL;

	assert_int_equal(b->domid, 0);
	assert_int_equal(pvio_domain_connect(f->dir, &cfg, &b2), -EBUSY);
	assert_null(b2);
	pvio_domain_disconnect(b);
}

static void guests_get_1_then_2_and_own_their_home(void **state)
{
	struct fixture *f = *state;
	struct pvio_domain *g1 = connect_as(f, "guest-one", false, 16);
	struct pvio_domain *g2 = connect_as(f, "guest-two", false, 16);
	struct pvio_domain *b = connect_as(f, "back", true, 16);
	struct pvio_xs_perm perms[4];
	unsigned nr;
	char val[64];

	assert_int_equal(g1->domid, 1);
	assert_int_equal(g2->domid, 2);
	assert_int_equal(g1->nr_pages, 16);
	assert_int_equal(pvio_xs_read(b->xs, 0, "/local/domain/1/name", val,
				      sizeof(val), NULL), 0);
	assert_string_equal(val, "guest-one");
	assert_int_equal(pvio_xs_read(b->xs, 0, "/local/domain/2/domid", val,
				      sizeof(val), NULL), 0);
	assert_string_equal(val, "2");
	assert_int_equal(pvio_xs_get_perms(b->xs, 0, "/local/domain/1", perms, 4, &nr), 0);
	assert_int_equal(nr, 1);
	assert_int_equal(perms[0].domid, 1);
	assert_int_equal(perms[0].access, PVIO_XS_PERM_NONE);
	/* The guest writes and reads its own home. */
	assert_int_equal(pvio_xs_write(g1->xs, 0, "/local/domain/1/data/x", "42"), 0);
	assert_int_equal(pvio_xs_read(g1->xs, 0, "/local/domain/1/data/x", val,
				      sizeof(val), NULL), 0);
	assert_string_equal(val, "42");
	assert_int_equal(pvio_xs_read(b->xs, 0, "/local/domain/0/name", val,
				      sizeof(val), NULL), 0);
	assert_string_equal(val, "back");
	pvio_domain_disconnect(g1);
	pvio_domain_disconnect(g2);
	pvio_domain_disconnect(b);
}

static void guest_cannot_write_or_read_another_domains_home(void **state)
{
	struct fixture *f = *state;
	struct pvio_domain *b = connect_as(f, "back", true, 16);
	struct pvio_domain *g1 = connect_as(f, "g1", false, 16);
	struct pvio_domain *g2 = connect_as(f, "g2", false, 16);
	char path[64], val[64];

	snprintf(path, sizeof(path), "/local/domain/%u/x", g2->domid);
	assert_int_equal(pvio_xs_write(g1->xs, 0, path, "evil"), -EACCES);
	assert_int_equal(pvio_xs_write(g1->xs, 0, "/local/domain/0/x", "evil"), -EACCES);
	snprintf(path, sizeof(path), "/local/domain/%u/name", g2->domid);
	assert_int_equal(pvio_xs_read(g1->xs, 0, path, val, sizeof(val), NULL), -EACCES);
	assert_int_equal(pvio_xs_rm(g1->xs, 0, path), -EACCES);
	/* The driver domain is privileged: it writes anywhere. */
	snprintf(path, sizeof(path), "/local/domain/%u/from-back", g2->domid);
	assert_int_equal(pvio_xs_write(b->xs, 0, path, "ok"), 0);
	assert_int_equal(pvio_xs_read(g2->xs, 0, path, val, sizeof(val), NULL), 0);
	assert_string_equal(val, "ok");
	pvio_domain_disconnect(g1);
	pvio_domain_disconnect(g2);
	pvio_domain_disconnect(b);
}

static void leaving_domain_fires_release_and_loses_its_home(void **state)
{
	struct fixture *f = *state;
	struct pvio_domain *b = connect_as(f, "back", true, 16);
	struct pvio_domain *g;
	char path[64], val[64];

	assert_int_equal(pvio_xs_watch(b->xs, "@introduceDomain", "intro"), 0);
	assert_int_equal(pvio_xs_watch(b->xs, "@releaseDomain", "rel"), 0);
	/* Each special watch fires once when set. */
	assert_int_equal(pvio_xs_wait_token(b->xs, "intro", XCHG_TIMEOUT_MS), 1);
	assert_int_equal(pvio_xs_wait_token(b->xs, "rel", XCHG_TIMEOUT_MS), 1);

	g = connect_as(f, "short-lived", false, 16);
	assert_int_equal(pvio_xs_wait_token(b->xs, "intro", XCHG_TIMEOUT_MS), 1);
	snprintf(path, sizeof(path), "/local/domain/%u/name", g->domid);
	assert_int_equal(pvio_xs_read(b->xs, 0, path, val, sizeof(val), NULL), 0);
	assert_string_equal(val, "short-lived");

	pvio_domain_disconnect(g);
	assert_int_equal(pvio_xs_wait_token(b->xs, "rel", XCHG_TIMEOUT_MS), 1);
	assert_int_equal(pvio_xs_read(b->xs, 0, path, val, sizeof(val), NULL), -ENOENT);
	pvio_domain_disconnect(b);
}

static void connect_refuses_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct pvio_domain_config cfg = { .name = "", .nr_pages = 16 };
	struct pvio_domain *d = NULL;
	char dir[64];

	assert_int_equal(pvio_domain_connect(f->dir, &cfg, &d), -EINVAL);
	cfg.name = "bad\nname";
	assert_int_equal(pvio_domain_connect(f->dir, &cfg, &d), -EINVAL);
	cfg.name = "this-name-is-much-longer-than-sixty-three-characters-which-is-the-limit";
	assert_int_equal(pvio_domain_connect(f->dir, &cfg, &d), -EINVAL);
	/* hostd refuses what it cannot give. */
	cfg.name = "huge";
	cfg.nr_pages = 8193;
	assert_int_equal(pvio_domain_connect(f->dir, &cfg, &d), -EINVAL);
	assert_null(d);
	/* No hostd there. */
	assert_int_equal(test_run_dir(dir), 0);
	cfg.nr_pages = 16;
	assert_int_equal(pvio_domain_connect(dir, &cfg, &d), -ENOENT);
	test_run_dir_remove(dir);
}

static void second_hostd_on_a_run_dir_is_refused(void **state)
{
	struct fixture *f = *state;
	struct pvio_hostd_config cfg = { .run_dir = f->dir, .nr_frames = 64 };
	struct pvio_hostd *h2 = NULL;
	struct pvio_domain *g;

	assert_int_equal(pvio_hostd_create(&cfg, &h2), -EADDRINUSE);
	assert_null(h2);
	/* The first one still serves. */
	g = connect_as(f, "still-here", false, 16);
	pvio_domain_disconnect(g);
}

static int raw_connect(const char *dir)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, HOSTD_SOCK_NAME);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Read until EOF; returns the bytes read (bounded). */
static ssize_t read_to_eof(int fd, void *buf, size_t size)
{
	size_t have = 0;

	for (;;) {
		int b = test_read_byte(fd, XCHG_TIMEOUT_MS);

		if (b < 0)
			return (ssize_t)have;
		if (have < size)
			((unsigned char *)buf)[have] = (unsigned char)b;
		have++;
	}
}

static void hostd_closes_hostile_control_clients_and_keeps_serving(void **state)
{
	struct fixture *f = *state;
	struct hostd_wire_connect req;
	struct hostd_wire_reply rep;
	struct pvio_domain *g;
	int fd;

	/* Garbage: closed without an answer. */
	fd = raw_connect(f->dir);
	assert_int_equal(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	assert_int_equal(read_to_eof(fd, &rep, sizeof(rep)), 0);
	close(fd);

	/* A right header with a wrong length: closed without an answer. */
	memset(&req, 0, sizeof(req));
	req.hdr.magic = HOSTD_WIRE_MAGIC;
	req.hdr.version = HOSTD_WIRE_VERSION;
	req.hdr.type = HOSTD_MSG_CONNECT;
	req.hdr.len = 1u << 30;
	fd = raw_connect(f->dir);
	assert_int_equal(write(fd, &req, sizeof(req.hdr)), sizeof(req.hdr));
	assert_int_equal(read_to_eof(fd, &rep, sizeof(rep)), 0);
	close(fd);

	/* A future version: an ERROR reply, -EPROTO, then close. */
	req.hdr.len = sizeof(req);
	req.hdr.version = 99;
	req.nr_pages = 16;
	strcpy(req.name, "future");
	fd = raw_connect(f->dir);
	assert_int_equal(write(fd, &req, sizeof(req)), sizeof(req));
	assert_int_equal(read_to_eof(fd, &rep, sizeof(rep)), sizeof(rep));
	assert_int_equal(rep.hdr.type, HOSTD_MSG_ERROR);
	assert_int_equal(rep.status, -EPROTO);
	close(fd);

	/* Unknown flags, junk after the name, a name without its NUL. */
	for (int k = 0; k < 3; k++) {
		req.hdr.version = HOSTD_WIRE_VERSION;
		req.flags = k == 0 ? 0x80u : 0;
		memset(req.name, 0, sizeof(req.name));
		strcpy(req.name, "hostile");
		if (k == 1)
			req.name[40] = 'x';
		if (k == 2)
			memset(req.name, 'a', sizeof(req.name));
		fd = raw_connect(f->dir);
		assert_int_equal(write(fd, &req, sizeof(req)), sizeof(req));
		assert_int_equal(read_to_eof(fd, &rep, sizeof(rep)), sizeof(rep));
		assert_int_equal(rep.hdr.type, HOSTD_MSG_ERROR);
		assert_int_equal(rep.status, -EINVAL);
		close(fd);
	}

	/* A domain that talks after it was built is destroyed. */
	memset(req.name, 0, sizeof(req.name));
	strcpy(req.name, "chatty");
	fd = raw_connect(f->dir);
	assert_int_equal(write(fd, &req, sizeof(req)), sizeof(req));
	{
		unsigned char buf[sizeof(rep)];
		size_t have = 0;

		while (have < sizeof(buf)) {
			ssize_t n = read(fd, buf + have, sizeof(buf) - have);

			assert_true(n > 0);
			have += (size_t)n;
		}
		memcpy(&rep, buf, sizeof(rep));
	}
	assert_int_equal(rep.hdr.type, HOSTD_MSG_CONNECTED);
	assert_int_equal(rep.status, 0);
	assert_int_equal(write(fd, "more", 4), 4);
	assert_int_equal(read_to_eof(fd, &rep, sizeof(rep)), 0);
	close(fd);

	/* Still serving. */
	g = connect_as(f, "after-the-storm", false, 16);
	assert_true(pvio_domain_hostd_alive(g));
	pvio_domain_disconnect(g);
}

static void destroyed_hostd_is_noticed_and_store_calls_fail(void **state)
{
	struct fixture *f = *state;
	struct pvio_domain *g = connect_as(f, "orphan", false, 16);
	char val[64];

	assert_true(pvio_domain_hostd_alive(g));
	pvio_hostd_destroy(f->h);
	f->h = NULL;
	assert_false(pvio_domain_hostd_alive(g));
	assert_true(pvio_xs_read(g->xs, 0, "/local/domain/1/name", val, sizeof(val),
				 NULL) < 0);
	pvio_domain_disconnect(g);
}

/* ---- evtchn ------------------------------------------------------------------ */

struct pingpong {
	struct pvio_domain *d;
	uint32_t port;
	int rounds;
	bool first;   /* sends first */
	int rc;
};

static void *pingpong_main(void *arg)
{
	struct pingpong *p = arg;
	uint32_t got[4];

	p->rc = -1;
	for (int i = 0; i < p->rounds; i++) {
		if (p->first && pvio_evtchn_notify(p->d->evtchn, p->port))
			return NULL;
		int n = pvio_evtchn_wait(p->d->evtchn, PVIO_EVTCHN_BLOCK,
					 XCHG_TIMEOUT_MS * NS_PER_MS, got, 4);

		if (n != 1 || got[0] != p->port)
			return NULL;
		if (!p->first && pvio_evtchn_notify(p->d->evtchn, p->port))
			return NULL;
	}
	p->rc = 0;
	return NULL;
}

static void events_go_both_ways_between_domain_threads(void **state)
{
	struct fixture *f = *state;
	struct pvio_domain *b = connect_as(f, "back", true, 16);
	struct pvio_domain *g = connect_as(f, "front", false, 16);
	struct pingpong pb = { .d = b, .rounds = 200, .first = true };
	struct pingpong pg = { .d = g, .rounds = 200, .first = false };
	pthread_t tb, tg;
	uint32_t gport;
	uint64_t v;
	char path[64];

	/* The port travels through the store, as drivers pass it. */
	assert_int_equal(pvio_evtchn_alloc_unbound(g->evtchn, 0, &gport), 0);
	snprintf(path, sizeof(path), "/local/domain/%u/event-channel", g->domid);
	assert_int_equal(pvio_xs_write_uint(g->xs, 0, path, gport), 0);
	assert_int_equal(pvio_xs_read_uint(b->xs, 0, path, UINT32_MAX, &v), 0);
	assert_int_equal(pvio_evtchn_bind_interdomain(b->evtchn, g->domid, (uint32_t)v,
						      &pb.port), 0);
	pg.port = gport;
	assert_int_equal(pthread_create(&tg, NULL, pingpong_main, &pg), 0);
	assert_int_equal(pthread_create(&tb, NULL, pingpong_main, &pb), 0);
	pthread_join(tb, NULL);
	pthread_join(tg, NULL);
	assert_int_equal(pb.rc, 0);
	assert_int_equal(pg.rc, 0);
	pvio_domain_disconnect(g);
	pvio_domain_disconnect(b);
}

static void leaving_frontend_wakes_its_backend_which_keeps_its_pages(void **state)
{
	struct fixture *f = *state;
	struct side_thread back, front, front2;
	int back_ready[2], front2_ready[2], kill[2];
	struct xchg x = { .run_dir = f->dir, .death = true };

	assert_int_equal(pipe(back_ready), 0);
	assert_int_equal(pipe(front2_ready), 0);
	assert_int_equal(pipe(kill), 0);
	x.kill_fd = kill[0];
	side_start(&front, xchg_front, &x);
	x.ready_fd = front2_ready[1];
	side_start(&front2, xchg_front2, &x);
	x.ready_fd = back_ready[1];
	side_start(&back, xchg_back, &x);

	/* front2 lives before the death; back is waiting on the frontend. */
	assert_int_equal(test_read_byte(front2_ready[0], 2 * XCHG_TIMEOUT_MS), 'R');
	assert_int_equal(test_read_byte(back_ready[0], 2 * XCHG_TIMEOUT_MS), 'B');
	assert_int_equal(write(kill[1], "k", 1), 1);
	pthread_join(front.t, NULL);
	pthread_join(back.t, NULL);
	pthread_join(front2.t, NULL);
	assert_int_equal(front.rc, 0);
	assert_int_equal(back.rc, 0);
	assert_int_equal(front2.rc, 0);
	for (int i = 0; i < 2; i++) {
		close(back_ready[i]);
		close(front2_ready[i]);
		close(kill[i]);
	}
}

/* ---- grant ------------------------------------------------------------------- */

static void exchange_between_domain_threads(void **state)
{
	struct fixture *f = *state;
	struct side_thread back, front;
	struct xchg x = { .run_dir = f->dir, .ready_fd = -1, .kill_fd = -1 };

	side_start(&front, xchg_front, &x);
	side_start(&back, xchg_back, &x);
	pthread_join(front.t, NULL);
	pthread_join(back.t, NULL);
	assert_int_equal(front.rc, 0);
	assert_int_equal(back.rc, 0);
}

static void page_alloc_gives_contiguous_zeroed_pages(void **state)
{
	struct fixture *f = *state;
	struct pvio_domain *g = connect_as(f, "pages", false, 64);
	uint32_t a, b, c;

	assert_int_equal(pvio_domain_page_alloc(g, 0, &a), -EINVAL);
	assert_int_equal(pvio_domain_page_alloc(g, 65, &a), -EINVAL);
	assert_int_equal(pvio_domain_page_alloc(g, 8, &a), 0);
	assert_int_equal(pvio_domain_page_alloc(g, 8, &b), 0);
	assert_true(b >= a + 8 || b + 8 <= a);
	memset(pvio_domain_page(g, a + 7), 0xEE, PVIO_PAGE_SIZE);
	assert_int_equal(pvio_domain_page_free(g, a, 8), 0);
	assert_int_equal(pvio_domain_page_free(g, a, 8), -EINVAL); /* twice */
	assert_int_equal(pvio_domain_page_free(g, 60, 8), -EINVAL); /* past the end */
	assert_int_equal(pvio_domain_page_alloc(g, 56, &c), -ENOMEM); /* 8 in use */
	assert_int_equal(pvio_domain_page_free(g, b, 8), 0);
	/* All of it, the dirtied page zeroed again. */
	assert_int_equal(pvio_domain_page_alloc(g, 64, &c), 0);
	assert_int_equal(c, 0);
	for (uint32_t i = 0; i < 64; i++) {
		const uint8_t *pg = pvio_domain_page(g, c + i);

		assert_non_null(pg);
		assert_int_equal(pg[0] | pg[PVIO_PAGE_SIZE - 1], 0);
	}
	assert_int_equal(pvio_domain_page_alloc(g, 1, &a), -ENOMEM);
	assert_null(pvio_domain_page(g, 64));
	pvio_domain_disconnect(g);
}

static void map_ring_with_a_bad_ref_leaves_nothing_mapped(void **state)
{
	struct fixture *f = *state;
	struct pvio_domain *b = connect_as(f, "back", true, 16);
	struct pvio_domain *g = connect_as(f, "front", false, 16);
	pvio_grant_ref_t refs[3];
	uint32_t pfn, handles[3];
	void *va = NULL;

	assert_int_equal(pvio_domain_page_alloc(g, 2, &pfn), 0);
	assert_int_equal(pvio_gnt_grant(g->gnt, 0, pfn, false, &refs[0]), 0);
	assert_int_equal(pvio_gnt_grant(g->gnt, 0, pfn + 1, true, &refs[1]), 0);
	refs[2] = 4000; /* never granted */
	assert_int_equal(pvio_domain_map_ring(b, g->domid, refs, 3, &va, handles), -EACCES);
	/* A read-only grant cannot back a ring (mapped read-write). */
	assert_int_equal(pvio_domain_map_ring(b, g->domid, refs, 2, &va, handles), -EACCES);
	assert_null(va);
	assert_int_equal(pvio_gnt_nr_mapped(b->gnt_back), 0);
	assert_int_equal(pvio_gnt_revoke(g->gnt, refs[0]), 0);
	assert_int_equal(pvio_gnt_revoke(g->gnt, refs[1]), 0);
	assert_int_equal(pvio_domain_map_ring(b, g->domid, refs, 0, &va, handles), -EINVAL);
	pvio_domain_disconnect(g);
	pvio_domain_disconnect(b);
}

static void vmap_rejects_pages_the_domain_does_not_have(void **state)
{
	struct fixture *f = *state;
	struct pvio_domain *g = connect_as(f, "front", false, 16);
	uint32_t pfns[2] = { 3, 16 };
	void *va = NULL;

	assert_int_equal(pvio_domain_vmap(g, pfns, 2, &va), -EINVAL);
	assert_int_equal(pvio_domain_vmap(g, pfns, 0, &va), -EINVAL);
	assert_null(va);
	assert_int_equal(pvio_domain_vmap(g, pfns, 1, &va), 0);
	((uint8_t *)va)[9] = 0x5A;
	assert_int_equal(((uint8_t *)pvio_domain_page(g, 3))[9], 0x5A);
	assert_int_equal(pvio_domain_vunmap(g, va, 1), 0);
	pvio_domain_disconnect(g);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest store[] = {
		cmocka_unit_test_setup_teardown(driver_domain_is_0_and_a_second_one_is_refused,
						hostd_up, hostd_down),
		cmocka_unit_test_setup_teardown(guests_get_1_then_2_and_own_their_home,
						hostd_up, hostd_down),
		cmocka_unit_test_setup_teardown(guest_cannot_write_or_read_another_domains_home,
						hostd_up, hostd_down),
		cmocka_unit_test_setup_teardown(leaving_domain_fires_release_and_loses_its_home,
						hostd_up, hostd_down),
		cmocka_unit_test_setup_teardown(connect_refuses_bad_arguments,
						hostd_up, hostd_down),
		cmocka_unit_test_setup_teardown(second_hostd_on_a_run_dir_is_refused,
						hostd_up, hostd_down),
		cmocka_unit_test_setup_teardown(hostd_closes_hostile_control_clients_and_keeps_serving,
						hostd_up, hostd_down),
		cmocka_unit_test_setup_teardown(destroyed_hostd_is_noticed_and_store_calls_fail,
						hostd_up, hostd_down),
	};
	const struct CMUnitTest evtchn[] = {
		cmocka_unit_test_setup_teardown(events_go_both_ways_between_domain_threads,
						hostd_up, hostd_down),
		cmocka_unit_test_setup_teardown(leaving_frontend_wakes_its_backend_which_keeps_its_pages,
						hostd_up, hostd_down),
	};
	const struct CMUnitTest grant[] = {
		cmocka_unit_test_setup_teardown(exchange_between_domain_threads,
						hostd_up, hostd_down),
		cmocka_unit_test_setup_teardown(page_alloc_gives_contiguous_zeroed_pages,
						hostd_up, hostd_down),
		cmocka_unit_test_setup_teardown(map_ring_with_a_bad_ref_leaves_nothing_mapped,
						hostd_up, hostd_down),
		cmocka_unit_test_setup_teardown(vmap_rejects_pages_the_domain_does_not_have,
						hostd_up, hostd_down),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: %s store|evtchn|grant\n", argv[0]);
		return 2;
	}
	if (!strcmp(argv[1], "store"))
		return cmocka_run_group_tests_name("host_threads_store", store, NULL, NULL);
	if (!strcmp(argv[1], "evtchn"))
		return cmocka_run_group_tests_name("host_threads_evtchn", evtchn, NULL, NULL);
	if (!strcmp(argv[1], "grant"))
		return cmocka_run_group_tests_name("host_threads_grant", grant, NULL, NULL);
	fprintf(stderr, "%s: unknown group '%s'\n", argv[0], argv[1]);
	return 2;
}
