/* SPDX-License-Identifier: MIT */
/* Quotas: one domain cannot exhaust the store. Errors are Xen's. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "store_client.h"

struct ctx {
	struct tc_fixture f;
	struct tc g;   /* domain 5 */
};

static int setup(void **state)
{
	static struct ctx x;
	struct pvio_xenstored_config cfg;

	pvio_xenstored_config_default(&cfg);
	cfg.max_entries_per_domain = 10;
	cfg.max_value_size = 16;
	cfg.max_watches_per_conn = 4;
	cfg.max_transactions_per_conn = 2;
	cfg.max_nodes_per_transaction = 8;
	cfg.max_perms_per_node = 3;
	cfg.max_queued_events_per_conn = 8;
	memset(&x, 0, sizeof(x));
	if (tc_fixture_start(&x.f, &cfg) ||
	    pvio_xenstored_introduce_domain(x.f.srv, 5) ||
	    tc_connect(&x.f, 5, &x.g))
		return -1;
	*state = &x;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *x = *state;

	tc_close(&x->g);
	tc_fixture_stop(&x->f);
	return 0;
}

static void guest_node_count_is_limited(void **state)
{
	struct ctx *x = *state;
	char path[64];
	int i, r = 0;

	/* The domain already owns /local/domain/5. */
	for (i = 0; i < 20 && !r; i++) {
		snprintf(path, sizeof(path), "n%d", i);
		r = tc_write(&x->g, 0, path, "v");
	}
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(i, 10);
	/* Missing parents count: all or nothing. */
	assert_int_equal(tc_rm(&x->g, 0, "n0"), 0);
	assert_int_equal(tc_write(&x->g, 0, "deep/er", "v"), -ENOSPC);
	assert_int_equal(tc_dir(&x->g, 0, "deep", path, sizeof(path)), -ENOENT);
	assert_int_equal(tc_write(&x->g, 0, "one", "v"), 0);
	/* dom0 has no such limit. */
	for (i = 0; i < 20; i++) {
		snprintf(path, sizeof(path), "/d0/n%d", i);
		assert_int_equal(tc_write(&x->f.dom0, 0, path, "v"), 0);
	}
}

static void guest_node_count_holds_inside_transactions(void **state)
{
	struct ctx *x = *state;
	char path[64];
	uint32_t tx;
	int i, r = 0;

	assert_int_equal(tc_tx_start(&x->g, &tx), 0);
	for (i = 0; i < 20 && !r; i++) {
		snprintf(path, sizeof(path), "t%d", i);
		r = tc_write(&x->g, tx, path, "v");
	}
	assert_int_equal(r, -ENOSPC);
	assert_true(i <= 10);
	assert_int_equal(tc_tx_end(&x->g, tx, false), 0);
}

static void guest_value_size_is_limited(void **state)
{
	struct ctx *x = *state;

	assert_int_equal(tc_write(&x->g, 0, "v", "0123456789abcdef"), 0);
	assert_int_equal(tc_write(&x->g, 0, "v", "0123456789abcdefg"), -ENOSPC);
}

static void watches_per_connection_are_limited(void **state)
{
	struct ctx *x = *state;
	char tok[16];

	for (int i = 0; i < 4; i++) {
		snprintf(tok, sizeof(tok), "t%d", i);
		assert_int_equal(tc_watch(&x->g, "w", tok), 0);
	}
	assert_int_equal(tc_watch(&x->g, "w", "t4"), -E2BIG);
	assert_int_equal(tc_unwatch(&x->g, "w", "t0"), 0);
	assert_int_equal(tc_watch(&x->g, "w", "t4"), 0);
	/* Also for dom0 connections. */
	for (int i = 0; i < 4; i++) {
		snprintf(tok, sizeof(tok), "t%d", i);
		assert_int_equal(tc_watch(&x->f.dom0, "/w", tok), 0);
	}
	assert_int_equal(tc_watch(&x->f.dom0, "/w", "t4"), -E2BIG);
}

static void open_transactions_are_limited(void **state)
{
	struct ctx *x = *state;
	uint32_t t1, t2, t3;

	assert_int_equal(tc_tx_start(&x->g, &t1), 0);
	assert_int_equal(tc_tx_start(&x->g, &t2), 0);
	assert_int_equal(tc_tx_start(&x->g, &t3), -ENOSPC);
	assert_int_equal(tc_tx_end(&x->g, t1, false), 0);
	assert_int_equal(tc_tx_start(&x->g, &t3), 0);
}

static void nodes_touched_by_a_guest_transaction_are_limited(void **state)
{
	struct ctx *x = *state;
	char path[64];
	uint32_t tx;
	int i, r = 0;

	assert_int_equal(tc_tx_start(&x->g, &tx), 0);
	for (i = 0; i < 20 && !r; i++) {
		snprintf(path, sizeof(path), "missing%d", i);
		r = tc_read(&x->g, tx, path, path, sizeof(path));
		if (r == -ENOENT)
			r = 0;
	}
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(tc_tx_end(&x->g, tx, false), 0);
}

static void guest_permission_entries_are_limited(void **state)
{
	struct ctx *x = *state;

	assert_int_equal(tc_write(&x->g, 0, "p", ""), 0);
	assert_int_equal(tc_set_perms(&x->g, 0, "p", "n5,r1,r2"), 0);
	assert_int_equal(tc_set_perms(&x->g, 0, "p", "n5,r1,r2,r3"), -ENOSPC);
}

static void long_paths_are_einval(void **state)
{
	struct ctx *x = *state;
	char *p = malloc(4000);

	assert_non_null(p);
	/* Absolute: 3072 is the limit for everyone. */
	memset(p, 'a', 3999);
	p[0] = '/';
	p[3073] = '\0';
	assert_int_equal(tc_write(&x->f.dom0, 0, p, ""), -EINVAL);
	p[3072] = '\0';
	assert_int_equal(tc_write(&x->f.dom0, 0, p, ""), 0);
	/* Relative to the domain: 2048 for guests. */
	memset(p, 'b', 3999);
	p[2049] = '\0';
	assert_int_equal(tc_write(&x->g, 0, p, ""), -EINVAL);
	p[2048] = '\0';
	assert_int_equal(tc_write(&x->g, 0, p, ""), 0);
	free(p);
}

static void events_for_a_reader_that_does_not_read_are_bounded(void **state)
{
	struct ctx *x = *state;
	struct pvio_xenstored_stats before, after;
	struct tc w;
	int sv[2], small = 1;
	unsigned int got = 0;
	const int writes = 400;

	/* A connection with tiny socket buffers, so the server's queue fills. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	assert_int_equal(pvio_xenstored_adopt_fd(x->f.srv, sv[1], 0), 0);
	assert_int_equal(tc_open(&w, sv[0]), 0);
	assert_int_equal(tc_watch(&w, "/flood", "a-rather-long-token-to-fill"
				  "-the-socket-buffers-quickly"), 0);
	pvio_xenstored_get_stats(x->f.srv, &before);
	for (int i = 0; i < writes; i++)
		assert_int_equal(tc_write(&x->f.dom0, 0, "/flood", "x"), 0);
	pvio_xenstored_get_stats(x->f.srv, &after);
	uint64_t queued = after.events_sent - before.events_sent;
	uint64_t dropped = after.events_dropped - before.events_dropped;

	assert_true(dropped > 0);
	assert_int_equal(queued + dropped, writes);
	/* Everything queued arrives (plus the registration event), in order. */
	assert_int_equal(tc_sync(&w), 0);
	struct tc_event ev;

	while (tc_events(&w)) {
		assert_int_equal(tc_next_event(&w, &ev), 0);
		assert_string_equal(ev.path, "/flood");
		got++;
	}
	assert_int_equal(got, queued + 1);
	tc_close(&w);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(guest_node_count_is_limited),
		T(guest_node_count_holds_inside_transactions),
		T(guest_value_size_is_limited),
		T(watches_per_connection_are_limited),
		T(open_transactions_are_limited),
		T(nodes_touched_by_a_guest_transaction_are_limited),
		T(guest_permission_entries_are_limited),
		T(long_paths_are_einval),
		T(events_for_a_reader_that_does_not_read_are_bounded),
	};

	return cmocka_run_group_tests_name("store_quota", tests, NULL, NULL);
}
