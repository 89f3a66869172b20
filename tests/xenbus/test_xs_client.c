/* SPDX-License-Identifier: MIT */
/*
 * The store client against the fake server: operations, reply matching by
 * req_id, watch events interleaved with replies, the bounded event queue,
 * error mapping, transactions and their retry.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_xs.h"

struct env {
	struct fake_xs *fx;
	struct xb_client *a;    /* dom0 */
	struct xb_client *b;    /* dom0, a second connection */
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	e->fx = fake_xs_new();
	e->a = xb_client_new(e->fx, 0, 0);
	e->b = xb_client_new(e->fx, 0, 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	xb_client_free(e->a);
	xb_client_free(e->b);
	fake_xs_free(e->fx);
	free(e);
	return 0;
}

static void read_returns_the_value_written(void **state)
{
	struct env *e = *state;
	char buf[64];
	size_t len;

	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/a/b", "hello"), 0);
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/a/b", buf, sizeof(buf),
				      &len), 0);
	assert_string_equal(buf, "hello");
	assert_int_equal(len, 5);
	/* The parent was created on the way, empty. */
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/a", buf, sizeof(buf),
				      &len), 0);
	assert_int_equal(len, 0);
}

static void read_of_a_missing_key_is_enoent(void **state)
{
	struct env *e = *state;
	char buf[8];

	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/nope", buf, sizeof(buf),
				      NULL), -ENOENT);
}

static void read_into_a_small_buffer_is_erange(void **state)
{
	struct env *e = *state;
	char buf[5];

	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/k", "hello"), 0);
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/k", buf, sizeof(buf),
				      NULL), -ERANGE);
}

static void mkdir_rm_and_directory_list_children(void **state)
{
	struct env *e = *state;
	char buf[64];
	unsigned nr;

	assert_int_equal(pvio_xs_mkdir(&e->a->xs, 0, "/d/x"), 0);
	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/d/y", "1"), 0);
	assert_int_equal(pvio_xs_mkdir(&e->a->xs, 0, "/d/x"), 0); /* again */
	assert_int_equal(pvio_xs_directory(&e->a->xs, 0, "/d", buf,
					   sizeof(buf), &nr), 0);
	assert_int_equal(nr, 2);
	assert_string_equal(buf, "x");
	assert_string_equal(buf + 2, "y");
	assert_int_equal(buf[4], '\0');
	assert_int_equal(pvio_xs_rm(&e->a->xs, 0, "/d"), 0);
	assert_int_equal(pvio_xs_directory(&e->a->xs, 0, "/d", buf,
					   sizeof(buf), &nr), -ENOENT);
	assert_int_equal(pvio_xs_directory(&e->a->xs, 0, "/", buf,
					   sizeof(buf), &nr), 0);
	assert_int_equal(nr, 0);
	assert_int_equal(buf[0], '\0');
	/* rm of a missing node under an existing parent is fine (Xen). */
	assert_int_equal(pvio_xs_rm(&e->a->xs, 0, "/gone"), 0);
	assert_int_equal(pvio_xs_rm(&e->a->xs, 0, "/gone/deeper"), -ENOENT);
}

static void perms_round_trip_and_are_enforced(void **state)
{
	struct env *e = *state;
	struct xb_client *g1 = xb_client_new(e->fx, 1, 0);
	struct xb_client *g2 = xb_client_new(e->fx, 2, 0);
	const struct pvio_xs_perm set[2] = {
		{ 1, PVIO_XS_PERM_NONE }, { 2, PVIO_XS_PERM_READ },
	};
	struct pvio_xs_perm got[4];
	unsigned nr;
	char buf[16];

	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/p", "v"), 0);
	assert_int_equal(pvio_xs_set_perms(&e->a->xs, 0, "/p", set, 2), 0);
	assert_int_equal(pvio_xs_get_perms(&e->a->xs, 0, "/p", got, 4, &nr), 0);
	assert_int_equal(nr, 2);
	assert_int_equal(got[0].domid, 1);
	assert_int_equal(got[0].access, 'n');
	assert_int_equal(got[1].domid, 2);
	assert_int_equal(got[1].access, 'r');
	assert_int_equal(pvio_xs_get_perms(&e->a->xs, 0, "/p", got, 1, &nr),
			 -ERANGE);

	/* Owner writes; reader reads but cannot write; others see nothing. */
	assert_int_equal(pvio_xs_write(&g1->xs, 0, "/p", "w1"), 0);
	assert_int_equal(pvio_xs_read(&g2->xs, 0, "/p", buf, sizeof(buf),
				      NULL), 0);
	assert_string_equal(buf, "w1");
	assert_int_equal(pvio_xs_write(&g2->xs, 0, "/p", "w2"), -EACCES);
	xb_client_free(g2);
	g2 = xb_client_new(e->fx, 3, 0);
	assert_int_equal(pvio_xs_read(&g2->xs, 0, "/p", buf, sizeof(buf),
				      NULL), -EACCES);

	const struct pvio_xs_perm bad = { 0, 'x' };

	assert_int_equal(pvio_xs_set_perms(&e->a->xs, 0, "/p", &bad, 1),
			 -EINVAL);
	assert_int_equal(pvio_xs_set_perms(&e->a->xs, 0, "/p", set, 0),
			 -EINVAL);
	xb_client_free(g1);
	xb_client_free(g2);
}

static void reply_matching_skips_a_stale_reply(void **state)
{
	struct env *e = *state;
	char buf[16];

	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/s", "real"), 0);
	fake_conn_hooks(e->a->conn)->stale_before_reply = true;
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/s", buf, sizeof(buf),
				      NULL), 0);
	assert_string_equal(buf, "real");
	assert_int_equal(e->a->xs.stats.replies_stale, 1);
}

static void late_reply_after_a_timeout_is_discarded(void **state)
{
	struct env *e = *state;
	char buf[16];

	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/t", "one"), 0);
	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/u", "two"), 0);
	fake_conn_hooks(e->a->conn)->drop_next = true;
	pvio_xs_set_timeout(&e->a->xs, 10);
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/t", buf, sizeof(buf),
				      NULL), -ETIMEDOUT);
	fake_conn_release(e->a->conn);  /* "one" arrives late */
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/u", buf, sizeof(buf),
				      NULL), 0);
	assert_string_equal(buf, "two");
	assert_int_equal(e->a->xs.stats.replies_stale, 1);
}

static void reply_split_into_single_bytes_is_reassembled(void **state)
{
	struct env *e = *state;
	char buf[16];

	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/c", "chunked"), 0);
	fake_conn_hooks(e->a->conn)->recv_chunk = 1;
	fake_conn_hooks(e->a->conn)->events_before_reply = 1;
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/c", buf, sizeof(buf),
				      NULL), 0);
	assert_string_equal(buf, "chunked");
	assert_int_equal(e->a->xs.q_count, 1);
}

static void events_before_a_reply_are_queued_in_order(void **state)
{
	struct env *e = *state;
	struct pvio_xs_event ev;
	char buf[16];

	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/e", "x"), 0);
	fake_conn_hooks(e->a->conn)->events_before_reply = 3;
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/e", buf, sizeof(buf),
				      NULL), 0);
	assert_string_equal(buf, "x");
	for (int i = 0; i < 3; i++) {
		char want[16];

		snprintf(want, sizeof(want), "/hook/ev%d", i);
		assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 0), 1);
		assert_string_equal(pvio_xs_event_path(&ev), want);
		assert_string_equal(pvio_xs_event_token(&ev), "hooktok");
	}
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 0), 0);
	assert_int_equal(e->a->xs.stats.events_queued, 3);
}

static void a_full_event_queue_counts_the_overflow(void **state)
{
	struct env *e = *state;
	struct xb_client *small = xb_client_new(e->fx, 0, 2);
	struct pvio_xs_event ev;
	char buf[16];

	assert_int_equal(pvio_xs_write(&small->xs, 0, "/o", "x"), 0);
	fake_conn_hooks(small->conn)->events_before_reply = 5;
	assert_int_equal(pvio_xs_read(&small->xs, 0, "/o", buf, sizeof(buf),
				      NULL), 0);
	assert_int_equal(small->xs.stats.events_queued, 2);
	assert_int_equal(small->xs.stats.events_dropped, 3);
	/* The two oldest survive, in order. */
	assert_int_equal(pvio_xs_next_event(&small->xs, &ev, 0), 1);
	assert_string_equal(pvio_xs_event_path(&ev), "/hook/ev0");
	assert_int_equal(pvio_xs_next_event(&small->xs, &ev, 0), 1);
	assert_string_equal(pvio_xs_event_path(&ev), "/hook/ev1");
	assert_int_equal(pvio_xs_next_event(&small->xs, &ev, 0), 0);
	xb_client_free(small);
}

static void a_duplicate_event_is_coalesced(void **state)
{
	struct env *e = *state;
	struct pvio_xs_event ev;

	fake_conn_inject_event(e->a->conn, "/x", "t");
	fake_conn_inject_event(e->a->conn, "/y", "t");
	fake_conn_inject_event(e->a->conn, "/x", "t");
	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/z", "1"), 0);
	assert_int_equal(e->a->xs.stats.events_coalesced, 1);
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 0), 1);
	assert_string_equal(pvio_xs_event_path(&ev), "/x");
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 0), 1);
	assert_string_equal(pvio_xs_event_path(&ev), "/y");
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 0), 0);
}

static void a_malformed_event_is_dropped_and_counted(void **state)
{
	struct env *e = *state;
	struct pvio_xs_event ev;

	fake_conn_inject_event(e->a->conn, "", "t");  /* empty path */
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 0), 0);
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 10), 0);
	assert_int_equal(e->a->xs.stats.events_malformed, 1);
}

static void error_reply_names_map_to_negative_errno(void **state)
{
	struct env *e = *state;
	static const struct {
		const char *name;
		int err;
	} map[] = {
		{ "EINVAL", -EINVAL }, { "EACCES", -EACCES },
		{ "EEXIST", -EEXIST }, { "EISDIR", -EISDIR },
		{ "ENOENT", -ENOENT }, { "ENOMEM", -ENOMEM },
		{ "ENOSPC", -ENOSPC }, { "EIO", -EIO },
		{ "ENOTEMPTY", -ENOTEMPTY }, { "ENOSYS", -ENOSYS },
		{ "EROFS", -EROFS }, { "EBUSY", -EBUSY },
		{ "EAGAIN", -EAGAIN }, { "EISCONN", -EISCONN },
		{ "E2BIG", -E2BIG }, { "EPERM", -EPERM },
		{ "EWHATEVER", -EPROTO }, { "", -EPROTO },
	};
	char buf[16];

	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/m", "v"), 0);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		fake_conn_hooks(e->a->conn)->error_next = map[i].name;
		assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/m", buf,
					      sizeof(buf), NULL), map[i].err);
		if (map[i].err != -EPROTO)
			assert_string_equal(pvio_xs_errno_name(map[i].err),
					    map[i].name);
	}
	assert_string_equal(pvio_xs_errno_name(-ERANGE), "EIO");
	/* The connection is fine afterwards. */
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/m", buf, sizeof(buf),
				      NULL), 0);
}

static void an_oversized_reply_breaks_the_connection(void **state)
{
	struct env *e = *state;
	char buf[16];

	fake_conn_hooks(e->a->conn)->bad_len_next = true;
	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/b", "v"), -EPROTO);
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/b", buf, sizeof(buf),
				      NULL), -EPROTO);
	assert_int_equal(e->a->xs.error, -EPROTO);
}

static void a_reply_of_the_wrong_type_is_eproto(void **state)
{
	struct env *e = *state;
	char buf[16];

	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/w", "v"), 0);
	fake_conn_hooks(e->a->conn)->wrong_type_next = true;
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/w", buf, sizeof(buf),
				      NULL), -EPROTO);
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/w", buf, sizeof(buf),
				      NULL), 0);
}

static int reset_recv(void *ctx, void *buf, size_t len, int timeout_ms)
{
	(void)ctx;
	(void)buf;
	(void)len;
	(void)timeout_ms;
	return -ECONNRESET;
}

static int sink_send(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	(void)len;
	return 0;
}

static void a_closed_transport_is_a_sticky_error(void **state)
{
	static const struct pvio_xs_transport_ops closed = {
		.send = sink_send, .recv = reset_recv,
	};
	struct pvio_xs *xs = malloc(sizeof(*xs));
	struct pvio_xs_event ev[1];
	char buf[8];

	(void)state;
	assert_int_equal(pvio_xs_init(xs, &closed, NULL, ev, 1), 0);
	assert_int_equal(pvio_xs_read(xs, 0, "/x", buf, sizeof(buf), NULL),
			 -ECONNRESET);
	assert_int_equal(pvio_xs_write(xs, 0, "/x", "1"), -ECONNRESET);
	assert_int_equal(pvio_xs_next_event(xs, &ev[0], 0), -ECONNRESET);
	assert_int_equal(pvio_xs_init(xs, NULL, NULL, ev, 1), -EINVAL);
	assert_int_equal(pvio_xs_init(xs, &closed, NULL, ev, 0), -EINVAL);
	free(xs);
}

static void bad_paths_are_rejected_before_sending(void **state)
{
	struct env *e = *state;
	char *long_path = malloc(PVIO_XS_ABS_PATH_MAX + 2);
	char buf[8];

	memset(long_path, 'a', PVIO_XS_ABS_PATH_MAX + 1);
	long_path[0] = '/';
	long_path[PVIO_XS_ABS_PATH_MAX + 1] = '\0';
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, long_path, buf,
				      sizeof(buf), NULL), -ENAMETOOLONG);
	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "", "v"), -EINVAL);
	assert_int_equal(pvio_xs_mkdir(&e->a->xs, 0, NULL), -EINVAL);
	assert_int_equal(e->a->xs.stats.requests, 0);
	free(long_path);
}

static void a_watch_fires_once_at_once_and_on_each_change(void **state)
{
	struct env *e = *state;
	struct pvio_xs_event ev;

	assert_int_equal(pvio_xs_watch(&e->a->xs, "/w", "tok"), 0);
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 0), 1);
	assert_string_equal(pvio_xs_event_path(&ev), "/w");
	assert_string_equal(pvio_xs_event_token(&ev), "tok");
	assert_int_equal(pvio_xs_watch(&e->a->xs, "/w", "tok"), -EEXIST);
	/* Another connection writes below the watched path. */
	assert_int_equal(pvio_xs_write(&e->b->xs, 0, "/w/child", "1"), 0);
	assert_int_equal(pvio_xs_write(&e->b->xs, 0, "/other", "1"), 0);
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 10), 1);
	/* The creation of /w and of /w/child: coalescing keeps distinct ones. */
	assert_string_equal(pvio_xs_event_path(&ev), "/w");
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 10), 1);
	assert_string_equal(pvio_xs_event_path(&ev), "/w/child");
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 10), 0);
}

static void unwatch_drops_the_watchs_queued_events(void **state)
{
	struct env *e = *state;
	struct pvio_xs_event ev;

	assert_int_equal(pvio_xs_watch(&e->a->xs, "/u", "t1"), 0);
	fake_conn_inject_event(e->a->conn, "/u/below", "t1");
	fake_conn_inject_event(e->a->conn, "/ux", "t1");  /* not the watch's */
	assert_int_equal(pvio_xs_watch(&e->a->xs, "/v", "t2"), 0);
	assert_int_equal(pvio_xs_unwatch(&e->a->xs, "/u", "t1"), 0);
	assert_int_equal(pvio_xs_unwatch(&e->a->xs, "/u", "t1"), -ENOENT);
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 0), 1);
	assert_string_equal(pvio_xs_event_path(&ev), "/ux");
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 0), 1);
	assert_string_equal(pvio_xs_event_token(&ev), "t2");
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 0), 0);
	assert_int_equal(pvio_xs_write(&e->b->xs, 0, "/u", "1"), 0);
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 10), 0);
}

static void wait_token_leaves_other_events_queued(void **state)
{
	struct env *e = *state;
	struct pvio_xs_event ev;

	fake_conn_inject_event(e->a->conn, "/a", "other");
	fake_conn_inject_event(e->a->conn, "/b", "mine");
	fake_conn_inject_event(e->a->conn, "/c", "mine");
	assert_int_equal(pvio_xs_wait_token(&e->a->xs, "mine", 10), 1);
	assert_int_equal(pvio_xs_next_event(&e->a->xs, &ev, 0), 1);
	assert_string_equal(pvio_xs_event_token(&ev), "other");
	/* "/c" may still be in the stream: the next wait takes it. */
	while (pvio_xs_wait_token(&e->a->xs, "mine", 0) == 1)
		;
	assert_int_equal(pvio_xs_wait_token(&e->a->xs, "mine", 10), 0);
}

struct seen {
	int n;
	char paths[4][32];
};

static void record(void *arg, const char *path, const char *token)
{
	struct seen *s = arg;

	assert_string_equal(token, "hooktok");
	snprintf(s->paths[s->n++], sizeof(s->paths[0]), "%s", path);
}

static void dispatch_calls_the_handler_for_each_event(void **state)
{
	struct env *e = *state;
	struct seen s = { 0 };
	char buf[8];

	assert_int_equal(pvio_xs_dispatch(&e->a->xs, 0), -EINVAL);
	pvio_xs_set_event_handler(&e->a->xs, record, &s);
	assert_int_equal(pvio_xs_write(&e->a->xs, 0, "/d", "1"), 0);
	fake_conn_hooks(e->a->conn)->events_before_reply = 2;
	assert_int_equal(pvio_xs_read(&e->a->xs, 0, "/d", buf, sizeof(buf),
				      NULL), 0);
	assert_int_equal(pvio_xs_dispatch(&e->a->xs, 0), 2);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.paths[0], "/hook/ev0");
	assert_string_equal(s.paths[1], "/hook/ev1");
	assert_int_equal(pvio_xs_dispatch(&e->a->xs, 0), 0);
}

static void get_domain_path_names_the_domains_home(void **state)
{
	struct env *e = *state;
	char buf[32];

	assert_int_equal(pvio_xs_get_domain_path(&e->a->xs, 7, buf,
						 sizeof(buf)), 0);
	assert_string_equal(buf, "/local/domain/7");
	assert_int_equal(pvio_xs_get_domain_path(&e->a->xs, 7, buf, 4),
			 -ERANGE);
}

static void a_transaction_commits_or_aborts_as_a_whole(void **state)
{
	struct env *e = *state;
	pvio_xs_tx_t t;
	char buf[8];

	assert_int_equal(pvio_xs_transaction_start(&e->a->xs, &t), 0);
	assert_int_not_equal(t, 0);
	assert_int_equal(pvio_xs_write(&e->a->xs, t, "/tx/a", "1"), 0);
	assert_int_equal(pvio_xs_read(&e->b->xs, 0, "/tx/a", buf, sizeof(buf),
				      NULL), -ENOENT);
	assert_int_equal(pvio_xs_transaction_end(&e->a->xs, t, false), 0);
	assert_string_equal(fake_xs_value(e->fx, "/tx/a"), "1");

	assert_int_equal(pvio_xs_transaction_start(&e->a->xs, &t), 0);
	assert_int_equal(pvio_xs_write(&e->a->xs, t, "/tx/b", "2"), 0);
	assert_int_equal(pvio_xs_transaction_end(&e->a->xs, t, true), 0);
	assert_null(fake_xs_value(e->fx, "/tx/b"));
	assert_int_equal(pvio_xs_transaction_end(&e->a->xs, t, false),
			 -ENOENT);
}

static void a_racing_commit_returns_eagain(void **state)
{
	struct env *e = *state;
	pvio_xs_tx_t t;

	assert_int_equal(pvio_xs_transaction_start(&e->a->xs, &t), 0);
	assert_int_equal(pvio_xs_write(&e->a->xs, t, "/r", "mine"), 0);
	assert_int_equal(pvio_xs_write(&e->b->xs, 0, "/r", "theirs"), 0);
	assert_int_equal(pvio_xs_transaction_end(&e->a->xs, t, false),
			 -EAGAIN);
	assert_string_equal(fake_xs_value(e->fx, "/r"), "theirs");
}

struct counter {
	int calls;
	int ret;
};

static int count_body(struct pvio_xs *xs, pvio_xs_tx_t t, void *arg)
{
	struct counter *c = arg;

	c->calls++;
	if (c->ret != 0)
		return c->ret;
	return pvio_xs_write(xs, t, "/retry", "done");
}

static void transact_retries_until_the_commit_holds(void **state)
{
	struct env *e = *state;
	struct counter c = { 0, 0 };

	fake_xs_force_eagain(e->fx, 3);
	assert_int_equal(pvio_xs_transact(&e->a->xs, count_body, &c, 0), 0);
	assert_int_equal(c.calls, 4);
	assert_int_equal(fake_xs_eagains(e->fx), 3);
	assert_string_equal(fake_xs_value(e->fx, "/retry"), "done");
}

static void transact_gives_up_after_max_tries(void **state)
{
	struct env *e = *state;
	struct counter c = { 0, 0 };

	fake_xs_force_eagain(e->fx, 100);
	assert_int_equal(pvio_xs_transact(&e->a->xs, count_body, &c, 5),
			 -EAGAIN);
	assert_int_equal(c.calls, 5);
	assert_null(fake_xs_value(e->fx, "/retry"));
}

static void transact_returns_the_bodys_error_and_aborts(void **state)
{
	struct env *e = *state;
	struct counter c = { 0, -EIO };

	assert_int_equal(pvio_xs_transact(&e->a->xs, count_body, &c, 0), -EIO);
	assert_int_equal(c.calls, 1);
	assert_int_equal(fake_xs_commits(e->fx), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(read_returns_the_value_written),
		T(read_of_a_missing_key_is_enoent),
		T(read_into_a_small_buffer_is_erange),
		T(mkdir_rm_and_directory_list_children),
		T(perms_round_trip_and_are_enforced),
		T(reply_matching_skips_a_stale_reply),
		T(late_reply_after_a_timeout_is_discarded),
		T(reply_split_into_single_bytes_is_reassembled),
		T(events_before_a_reply_are_queued_in_order),
		T(a_full_event_queue_counts_the_overflow),
		T(a_duplicate_event_is_coalesced),
		T(a_malformed_event_is_dropped_and_counted),
		T(error_reply_names_map_to_negative_errno),
		T(an_oversized_reply_breaks_the_connection),
		T(a_reply_of_the_wrong_type_is_eproto),
		T(a_closed_transport_is_a_sticky_error),
		T(bad_paths_are_rejected_before_sending),
		T(a_watch_fires_once_at_once_and_on_each_change),
		T(unwatch_drops_the_watchs_queued_events),
		T(wait_token_leaves_other_events_queued),
		T(dispatch_calls_the_handler_for_each_event),
		T(get_domain_path_names_the_domains_home),
		T(a_transaction_commits_or_aborts_as_a_whole),
		T(a_racing_commit_returns_eagain),
		T(transact_retries_until_the_commit_holds),
		T(transact_gives_up_after_max_tries),
		T(transact_returns_the_bodys_error_and_aborts),
#undef T
	};

	return cmocka_run_group_tests_name("xs_client", tests, NULL, NULL);
}
