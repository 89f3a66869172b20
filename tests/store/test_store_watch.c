/* SPDX-License-Identifier: MIT */
/* Watches: registration event, descendants, removal, specials, perms. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store_client.h"

static void expect_event(struct tc *c, const char *path, const char *token)
{
	struct tc_event ev;

	assert_int_equal(tc_next_event(c, &ev), 0);
	assert_string_equal(ev.path, path);
	assert_string_equal(ev.token, token);
}

static void watch_fires_once_on_registration(void **state)
{
	struct tc_fixture *f = *state;

	assert_int_equal(tc_watch(&f->dom0, "/nothing/yet", "t1"), 0);
	expect_event(&f->dom0, "/nothing/yet", "t1");
	assert_int_equal(tc_drain(&f->dom0), 0);
}

static void watch_fires_for_the_path_and_descendants_only(void **state)
{
	struct tc_fixture *f = *state;
	struct tc w;

	assert_int_equal(tc_connect(f, 0, &w), 0);
	assert_int_equal(tc_watch(&w, "/a/b", "tok"), 0);
	assert_int_equal(tc_drain(&w), 1);
	assert_int_equal(tc_write(&f->dom0, 0, "/a/b", "1"), 0);
	assert_int_equal(tc_write(&f->dom0, 0, "/a/b/c/d", "1"), 0);
	assert_int_equal(tc_write(&f->dom0, 0, "/a/bc", "1"), 0);  /* sibling */
	assert_int_equal(tc_write(&f->dom0, 0, "/a/x", "1"), 0);
	assert_int_equal(tc_mkdir(&f->dom0, 0, "/a/b/m"), 0);
	assert_int_equal(tc_mkdir(&f->dom0, 0, "/a/b/m"), 0);      /* exists */
	assert_int_equal(tc_set_perms(&f->dom0, 0, "/a/b", "n0,r3"), 0);
	assert_int_equal(tc_sync(&w), 0);
	assert_int_equal(tc_events(&w), 4);
	expect_event(&w, "/a/b", "tok");
	expect_event(&w, "/a/b/c/d", "tok");
	expect_event(&w, "/a/b/m", "tok");
	expect_event(&w, "/a/b", "tok");
	tc_close(&w);
}

static void rm_fires_watches_above_and_below(void **state)
{
	struct tc_fixture *f = *state;
	struct tc w;

	assert_int_equal(tc_write(&f->dom0, 0, "/r/s/t/u", "1"), 0);
	assert_int_equal(tc_connect(f, 0, &w), 0);
	assert_int_equal(tc_watch(&w, "/r", "up"), 0);
	assert_int_equal(tc_watch(&w, "/r/s/t", "down"), 0);
	assert_int_equal(tc_watch(&w, "/r/other", "no"), 0);
	assert_int_equal(tc_drain(&w), 3);
	assert_int_equal(tc_rm(&f->dom0, 0, "/r/s"), 0);
	assert_int_equal(tc_sync(&w), 0);
	assert_int_equal(tc_events(&w), 2);
	expect_event(&w, "/r/s", "up");
	expect_event(&w, "/r/s/t", "down");
	tc_close(&w);
}

static void watch_on_root_sees_everything(void **state)
{
	struct tc_fixture *f = *state;
	struct tc w;

	assert_int_equal(tc_connect(f, 0, &w), 0);
	assert_int_equal(tc_watch(&w, "/", "all"), 0);
	assert_int_equal(tc_drain(&w), 1);
	assert_int_equal(tc_write(&f->dom0, 0, "/x/y", "1"), 0);
	expect_event(&w, "/x/y", "all");
	tc_close(&w);
}

static void relative_watch_reports_relative_paths(void **state)
{
	struct tc_fixture *f = *state;
	struct tc g;

	assert_int_equal(pvio_xenstored_introduce_domain(f->srv, 6), 0);
	assert_int_equal(tc_connect(f, 6, &g), 0);
	assert_int_equal(tc_watch(&g, "device", "rel"), 0);
	expect_event(&g, "device", "rel");
	assert_int_equal(tc_write(&f->dom0, 0, "/local/domain/6/device/vif/0",
				  "x"), 0);
	expect_event(&g, "device/vif/0", "rel");
	tc_close(&g);
}

static void duplicate_and_missing_watches_are_refused(void **state)
{
	struct tc_fixture *f = *state;

	assert_int_equal(tc_watch(&f->dom0, "/d", "t"), 0);
	assert_int_equal(tc_watch(&f->dom0, "/d", "t"), -EEXIST);
	assert_int_equal(tc_watch(&f->dom0, "/d", "t2"), 0);
	assert_int_equal(tc_unwatch(&f->dom0, "/d", "t"), 0);
	assert_int_equal(tc_unwatch(&f->dom0, "/d", "t"), -ENOENT);
	assert_int_equal(tc_drain(&f->dom0), 2);
	assert_int_equal(tc_write(&f->dom0, 0, "/d", "1"), 0);
	expect_event(&f->dom0, "/d", "t2");
	assert_int_equal(tc_watch(&f->dom0, "/bad//path", "t"), -EINVAL);
	assert_int_equal(tc_drain(&f->dom0), 0);
}

static void reset_watches_drops_them_all(void **state)
{
	struct tc_fixture *f = *state;
	struct tc_msg m;

	assert_int_equal(tc_watch(&f->dom0, "/z", "t"), 0);
	assert_int_equal(tc_drain(&f->dom0), 1);
	assert_int_equal(tc_req(&f->dom0, PVIO_XS_RESET_WATCHES, 0, "", 1, &m), 0);
	assert_int_equal(tc_write(&f->dom0, 0, "/z", "1"), 0);
	assert_int_equal(tc_drain(&f->dom0), 0);
	assert_int_equal(tc_watch(&f->dom0, "/z", "t"), 0);
}

static void introduce_and_release_fire_special_watches(void **state)
{
	struct tc_fixture *f = *state;
	struct tc w, g;

	assert_int_equal(tc_connect(f, 0, &w), 0);
	assert_int_equal(tc_watch(&w, "@introduceDomain", "in"), 0);
	assert_int_equal(tc_watch(&w, "@releaseDomain", "out"), 0);
	assert_int_equal(tc_watch(&w, "/local/domain", "home"), 0);
	assert_int_equal(tc_drain(&w), 3);
	assert_int_equal(pvio_xenstored_introduce_domain(f->srv, 8), 0);
	assert_int_equal(tc_sync(&w), 0);
	assert_int_equal(tc_events(&w), 2);
	expect_event(&w, "/local/domain/8", "home");
	expect_event(&w, "@introduceDomain", "in");
	/* Introducing again changes nothing. */
	assert_int_equal(pvio_xenstored_introduce_domain(f->srv, 8), 0);
	assert_int_equal(tc_drain(&w), 0);
	/* The guest watches its own home and dies. */
	assert_int_equal(tc_connect(f, 8, &g), 0);
	assert_int_equal(tc_watch(&g, "@releaseDomain", "g"), 0);
	assert_int_equal(pvio_xenstored_release_domain(f->srv, 8), 0);
	assert_int_equal(tc_sync(&w), 0);
	assert_int_equal(tc_events(&w), 1);
	expect_event(&w, "@releaseDomain", "out");
	tc_close(&g);
	tc_close(&w);
}

static void guests_hear_special_events_only_if_permitted(void **state)
{
	struct tc_fixture *f = *state;
	struct tc g;

	assert_int_equal(pvio_xenstored_introduce_domain(f->srv, 3), 0);
	assert_int_equal(tc_connect(f, 3, &g), 0);
	assert_int_equal(tc_watch(&g, "@introduceDomain", "in"), 0);
	assert_int_equal(tc_drain(&g), 1); /* registration always fires */
	assert_int_equal(pvio_xenstored_introduce_domain(f->srv, 4), 0);
	assert_int_equal(tc_drain(&g), 0);
	assert_int_equal(tc_set_perms(&g, 0, "@introduceDomain", "r3"), -EACCES);
	assert_int_equal(tc_set_perms(&f->dom0, 0, "@introduceDomain", "n0,r3"),
			 0);
	assert_int_equal(pvio_xenstored_introduce_domain(f->srv, 5), 0);
	expect_event(&g, "@introduceDomain", "in");
	char buf[32];

	assert_int_equal(tc_get_perms(&g, 0, "@introduceDomain", buf,
				      sizeof(buf)), 0);
	assert_string_equal(buf, "n0,r3");
	tc_close(&g);
}

static void guests_hear_only_about_nodes_they_may_read(void **state)
{
	struct tc_fixture *f = *state;
	struct tc g;

	assert_int_equal(pvio_xenstored_introduce_domain(f->srv, 3), 0);
	assert_int_equal(tc_connect(f, 3, &g), 0);
	assert_int_equal(tc_watch(&g, "/shared", "s"), 0);
	assert_int_equal(tc_drain(&g), 1);
	assert_int_equal(tc_write(&f->dom0, 0, "/shared/secret", "1"), 0);
	assert_int_equal(tc_drain(&g), 0);
	assert_int_equal(tc_write(&f->dom0, 0, "/shared/open", "1"), 0);
	assert_int_equal(tc_set_perms(&f->dom0, 0, "/shared/open", "n0,r3"), 0);
	expect_event(&g, "/shared/open", "s");
	tc_close(&g);
}

static void closing_a_connection_drops_its_watches(void **state)
{
	struct tc_fixture *f = *state;
	struct tc w;
	struct pvio_xenstored_stats st;

	assert_int_equal(tc_connect(f, 0, &w), 0);
	assert_int_equal(tc_watch(&w, "/gone", "t"), 0);
	tc_close(&w);
	/* The server notices the close before this round trip ends? Not
	 * necessarily; but writing must not crash either way. */
	assert_int_equal(tc_write(&f->dom0, 0, "/gone", "1"), 0);
	assert_int_equal(tc_sync(&f->dom0), 0);
	pvio_xenstored_get_stats(f->srv, &st);
	assert_true(st.connections >= 1);
}

static void release_can_remove_the_domain_path(void **state)
{
	struct tc_fixture f;
	struct pvio_xenstored_config cfg;
	struct tc g1, g2, w;
	char buf[16];

	(void)state;
	pvio_xenstored_config_default(&cfg);
	cfg.release_removes_domain_path = true;
	assert_int_equal(tc_fixture_start(&f, &cfg), 0);
	assert_int_equal(pvio_xenstored_introduce_domain(f.srv, 5), 0);
	assert_int_equal(tc_connect(&f, 5, &g1), 0);
	assert_int_equal(tc_connect(&f, 5, &g2), 0);
	assert_int_equal(tc_write(&g1, 0, "device/vbd/768/state", "4"), 0);
	assert_int_equal(tc_connect(&f, 0, &w), 0);
	assert_int_equal(tc_watch(&w, "/local/domain/5/device/vbd/768", "dev"), 0);
	assert_int_equal(tc_watch(&w, "@releaseDomain", "rel"), 0);
	assert_int_equal(tc_drain(&w), 2);
	assert_int_equal(pvio_xenstored_release_domain(f.srv, 5), 0);
	expect_event(&w, "/local/domain/5/device/vbd/768", "dev");
	expect_event(&w, "@releaseDomain", "rel");
	assert_int_equal(tc_read(&f.dom0, 0, "/local/domain/5", buf, sizeof(buf)),
			 -ENOENT);
	/* Every connection of the domain is closed. */
	assert_int_equal(tc_sync(&g1), -EPIPE);
	assert_int_equal(tc_sync(&g2), -EPIPE);
	tc_close(&g1);
	tc_close(&g2);
	tc_close(&w);
	tc_fixture_stop(&f);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, tc_setup, tc_teardown)
	const struct CMUnitTest tests[] = {
		T(watch_fires_once_on_registration),
		T(watch_fires_for_the_path_and_descendants_only),
		T(rm_fires_watches_above_and_below),
		T(watch_on_root_sees_everything),
		T(relative_watch_reports_relative_paths),
		T(duplicate_and_missing_watches_are_refused),
		T(reset_watches_drops_them_all),
		T(introduce_and_release_fire_special_watches),
		T(guests_hear_special_events_only_if_permitted),
		T(guests_hear_only_about_nodes_they_may_read),
		T(closing_a_connection_drops_its_watches),
		cmocka_unit_test(release_can_remove_the_domain_path),
	};

	return cmocka_run_group_tests_name("store_watch", tests, NULL, NULL);
}
