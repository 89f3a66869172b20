/* SPDX-License-Identifier: MIT */
/* Transactions: private view, commit, abort, EAGAIN on conflict. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store_client.h"

static void transaction_sees_its_writes_others_see_them_at_commit(void **state)
{
	struct tc_fixture *f = *state;
	struct tc other;
	uint32_t tx;
	char buf[64];

	assert_int_equal(tc_connect(f, 0, &other), 0);
	assert_int_equal(tc_tx_start(&f->dom0, &tx), 0);
	assert_int_equal(tc_write(&f->dom0, tx, "/t/a", "1"), 0);
	assert_int_equal(tc_read(&f->dom0, tx, "/t/a", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1");
	assert_int_equal(tc_dir(&f->dom0, tx, "/t", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "a");
	assert_int_equal(tc_read(&other, 0, "/t/a", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(tc_read(&f->dom0, 0, "/t/a", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(tc_tx_end(&f->dom0, tx, true), 0);
	assert_int_equal(tc_read(&other, 0, "/t/a", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1");
	assert_int_equal(tc_dir(&other, 0, "/t", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "a");
	tc_close(&other);
}

static void abort_discards_everything(void **state)
{
	struct tc_fixture *f = *state;
	uint32_t tx;
	char buf[64];

	assert_int_equal(tc_write(&f->dom0, 0, "/keep", "k"), 0);
	assert_int_equal(tc_tx_start(&f->dom0, &tx), 0);
	assert_int_equal(tc_write(&f->dom0, tx, "/new/x", "1"), 0);
	assert_int_equal(tc_rm(&f->dom0, tx, "/keep"), 0);
	assert_int_equal(tc_read(&f->dom0, tx, "/keep", buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(tc_tx_end(&f->dom0, tx, false), 0);
	assert_int_equal(tc_read(&f->dom0, 0, "/keep", buf, sizeof(buf)), 0);
	assert_int_equal(tc_read(&f->dom0, 0, "/new", buf, sizeof(buf)), -ENOENT);
	/* The id is gone. */
	assert_int_equal(tc_tx_end(&f->dom0, tx, true), -ENOENT);
}

static void conflicting_write_makes_commit_eagain(void **state)
{
	struct tc_fixture *f = *state;
	struct tc other;
	uint32_t tx;
	char buf[64];

	assert_int_equal(tc_connect(f, 0, &other), 0);
	assert_int_equal(tc_write(&f->dom0, 0, "/c", "0"), 0);
	assert_int_equal(tc_tx_start(&f->dom0, &tx), 0);
	assert_int_equal(tc_read(&f->dom0, tx, "/c", buf, sizeof(buf)), 0);
	assert_int_equal(tc_write(&f->dom0, tx, "/c", "tx"), 0);
	assert_int_equal(tc_write(&other, 0, "/c", "other"), 0);
	assert_int_equal(tc_tx_end(&f->dom0, tx, true), -EAGAIN);
	assert_int_equal(tc_read(&f->dom0, 0, "/c", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "other");
	/* Retrying works. */
	assert_int_equal(tc_tx_start(&f->dom0, &tx), 0);
	assert_int_equal(tc_write(&f->dom0, tx, "/c", "tx"), 0);
	assert_int_equal(tc_tx_end(&f->dom0, tx, true), 0);
	assert_int_equal(tc_read(&other, 0, "/c", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "tx");
	tc_close(&other);
}

static void read_only_conflict_is_detected(void **state)
{
	struct tc_fixture *f = *state;
	uint32_t tx;
	char buf[64];

	assert_int_equal(tc_write(&f->dom0, 0, "/r", "0"), 0);
	assert_int_equal(tc_tx_start(&f->dom0, &tx), 0);
	assert_int_equal(tc_read(&f->dom0, tx, "/r", buf, sizeof(buf)), 0);
	assert_int_equal(tc_write(&f->dom0, tx, "/elsewhere", "1"), 0);
	assert_int_equal(tc_write(&f->dom0, 0, "/r", "1"), 0);
	assert_int_equal(tc_tx_end(&f->dom0, tx, true), -EAGAIN);
	assert_int_equal(tc_read(&f->dom0, 0, "/elsewhere", buf, sizeof(buf)),
			 -ENOENT);
}

static void both_creating_one_node_conflict(void **state)
{
	struct tc_fixture *f = *state;
	uint32_t t1, t2;

	assert_int_equal(tc_tx_start(&f->dom0, &t1), 0);
	assert_int_equal(tc_tx_start(&f->dom0, &t2), 0);
	assert_int_not_equal(t1, t2);
	assert_int_equal(tc_write(&f->dom0, t1, "/n", "1"), 0);
	assert_int_equal(tc_write(&f->dom0, t2, "/n", "2"), 0);
	assert_int_equal(tc_tx_end(&f->dom0, t1, true), 0);
	assert_int_equal(tc_tx_end(&f->dom0, t2, true), -EAGAIN);
}

static void unrelated_changes_do_not_conflict(void **state)
{
	struct tc_fixture *f = *state;
	uint32_t tx;
	char buf[64];

	assert_int_equal(tc_write(&f->dom0, 0, "/u/a", "0"), 0);
	assert_int_equal(tc_write(&f->dom0, 0, "/v/b", "0"), 0);
	assert_int_equal(tc_tx_start(&f->dom0, &tx), 0);
	assert_int_equal(tc_write(&f->dom0, tx, "/u/a", "1"), 0);
	assert_int_equal(tc_write(&f->dom0, 0, "/v/b", "1"), 0);
	assert_int_equal(tc_tx_end(&f->dom0, tx, true), 0);
	assert_int_equal(tc_read(&f->dom0, 0, "/u/a", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "1");
}

static void rm_inside_transaction_commits(void **state)
{
	struct tc_fixture *f = *state;
	uint32_t tx;
	char buf[64];

	assert_int_equal(tc_write(&f->dom0, 0, "/s/a/b", "1"), 0);
	assert_int_equal(tc_write(&f->dom0, 0, "/s/k", "1"), 0);
	assert_int_equal(tc_tx_start(&f->dom0, &tx), 0);
	assert_int_equal(tc_rm(&f->dom0, tx, "/s/a"), 0);
	assert_int_equal(tc_dir(&f->dom0, tx, "/s", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "k");
	assert_int_equal(tc_read(&f->dom0, 0, "/s/a/b", buf, sizeof(buf)), 0);
	assert_int_equal(tc_tx_end(&f->dom0, tx, true), 0);
	assert_int_equal(tc_read(&f->dom0, 0, "/s/a/b", buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(tc_dir(&f->dom0, 0, "/s", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "k");
}

static void bad_transaction_use_is_refused(void **state)
{
	struct tc_fixture *f = *state;
	struct tc other;
	uint32_t tx;
	char buf[16];
	const char *bad = "X";

	assert_int_equal(tc_read(&f->dom0, 12345, "/tool", buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(tc_tx_start(&f->dom0, &tx), 0);
	/* Another connection cannot use it. */
	assert_int_equal(tc_connect(f, 0, &other), 0);
	assert_int_equal(tc_read(&other, tx, "/tool", buf, sizeof(buf)), -ENOENT);
	tc_close(&other);
	/* No nesting. */
	const char *empty = "";

	assert_int_equal(tc_req_strs(&f->dom0, PVIO_XS_TRANSACTION_START, tx,
				     NULL, &empty, 1), -EBUSY);
	assert_int_equal(tc_req_strs(&f->dom0, PVIO_XS_TRANSACTION_END, tx, NULL,
				     &bad, 1), -EINVAL);
	assert_int_equal(tc_tx_end(&f->dom0, tx, false), 0);
}

static void watches_fire_at_commit_only(void **state)
{
	struct tc_fixture *f = *state;
	struct tc w;
	struct tc_event ev;
	uint32_t tx;

	assert_int_equal(tc_connect(f, 0, &w), 0);
	assert_int_equal(tc_watch(&w, "/wt", "tok"), 0);
	assert_int_equal(tc_drain(&w), 1); /* the registration event */
	assert_int_equal(tc_tx_start(&f->dom0, &tx), 0);
	assert_int_equal(tc_write(&f->dom0, tx, "/wt/a", "1"), 0);
	assert_int_equal(tc_write(&f->dom0, tx, "/wt/a", "2"), 0);
	assert_int_equal(tc_drain(&w), 0);
	assert_int_equal(tc_tx_end(&f->dom0, tx, true), 0);
	assert_int_equal(tc_sync(&w), 0);
	assert_int_equal(tc_events(&w), 1);
	assert_int_equal(tc_next_event(&w, &ev), 0);
	assert_string_equal(ev.path, "/wt/a");
	/* Aborted: nothing. */
	assert_int_equal(tc_tx_start(&f->dom0, &tx), 0);
	assert_int_equal(tc_write(&f->dom0, tx, "/wt/b", "1"), 0);
	assert_int_equal(tc_tx_end(&f->dom0, tx, false), 0);
	assert_int_equal(tc_drain(&w), 0);
	tc_close(&w);
}

static void guest_transaction_follows_permissions(void **state)
{
	struct tc_fixture *f = *state;
	struct tc g;
	uint32_t tx;
	char buf[64];

	assert_int_equal(pvio_xenstored_introduce_domain(f->srv, 4), 0);
	assert_int_equal(tc_connect(f, 4, &g), 0);
	assert_int_equal(tc_tx_start(&g, &tx), 0);
	assert_int_equal(tc_write(&g, tx, "/x", "1"), -EACCES);
	assert_int_equal(tc_write(&g, tx, "device/d", "1"), 0);
	assert_int_equal(tc_tx_end(&g, tx, true), 0);
	assert_int_equal(tc_get_perms(&f->dom0, 0, "/local/domain/4/device/d",
				      buf, sizeof(buf)), 0);
	assert_string_equal(buf, "n4");
	tc_close(&g);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tc_setup, tc_teardown)
	const struct CMUnitTest tests[] = {
		T(transaction_sees_its_writes_others_see_them_at_commit),
		T(abort_discards_everything),
		T(conflicting_write_makes_commit_eagain),
		T(read_only_conflict_is_detected),
		T(both_creating_one_node_conflict),
		T(unrelated_changes_do_not_conflict),
		T(rm_inside_transaction_commits),
		T(bad_transaction_use_is_refused),
		T(watches_fire_at_commit_only),
		T(guest_transaction_follows_permissions),
	};

	return cmocka_run_group_tests_name("store_txn", tests, NULL, NULL);
}
