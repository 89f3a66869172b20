/* SPDX-License-Identifier: MIT */
/* Permissions per domid, as Xen: owner + everyone else, then per-domain. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store_client.h"

/* dom0 plus guests 5 and 7, introduced. */
struct ctx {
	struct tc_fixture f;
	struct tc g5, g7;
};

static int setup(void **state)
{
	static struct ctx x;

	memset(&x, 0, sizeof(x));
	if (tc_fixture_start(&x.f, NULL) ||
	    pvio_xenstored_introduce_domain(x.f.srv, 5) ||
	    pvio_xenstored_introduce_domain(x.f.srv, 7) ||
	    tc_connect(&x.f, 5, &x.g5) || tc_connect(&x.f, 7, &x.g7))
		return -1;
	*state = &x;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *x = *state;

	tc_close(&x->g5);
	tc_close(&x->g7);
	tc_fixture_stop(&x->f);
	return 0;
}

static void introduce_gives_the_domain_its_home(void **state)
{
	struct ctx *x = *state;
	char buf[64];

	assert_int_equal(tc_get_perms(&x->f.dom0, 0, "/local/domain/5", buf,
				      sizeof(buf)), 0);
	assert_string_equal(buf, "n5");
	assert_int_equal(tc_get_perms(&x->f.dom0, 0, "/local/domain", buf,
				      sizeof(buf)), 0);
	assert_string_equal(buf, "n0");
}

static void guest_writes_in_its_home_and_owns_new_nodes(void **state)
{
	struct ctx *x = *state;
	char buf[64];

	assert_int_equal(tc_write(&x->g5, 0, "/local/domain/5/a/b", "v"), 0);
	assert_int_equal(tc_get_perms(&x->g5, 0, "/local/domain/5/a/b", buf,
				      sizeof(buf)), 0);
	assert_string_equal(buf, "n5");
	assert_int_equal(tc_get_perms(&x->g5, 0, "/local/domain/5/a", buf,
				      sizeof(buf)), 0);
	assert_string_equal(buf, "n5");
}

static void guest_writing_outside_its_area_gets_eacces(void **state)
{
	struct ctx *x = *state;
	char buf[16];

	assert_int_equal(tc_write(&x->g5, 0, "/evil", "x"), -EACCES);
	assert_int_equal(tc_write(&x->g5, 0, "/local/domain/7/x", "x"), -EACCES);
	assert_int_equal(tc_mkdir(&x->g5, 0, "/tool/x"), -EACCES);
	assert_int_equal(tc_rm(&x->g5, 0, "/tool"), -EACCES);
	assert_int_equal(tc_rm(&x->g5, 0, "/local/domain/7"), -EACCES);
	assert_int_equal(tc_read(&x->f.dom0, 0, "/evil", buf, sizeof(buf)),
			 -ENOENT);
}

static void guest_cannot_read_what_it_may_not_see(void **state)
{
	struct ctx *x = *state;
	char buf[16];

	assert_int_equal(tc_write(&x->g7, 0, "/local/domain/7/secret", "s"), 0);
	assert_int_equal(tc_read(&x->g5, 0, "/local/domain/7/secret", buf,
				 sizeof(buf)), -EACCES);
	assert_int_equal(tc_dir(&x->g5, 0, "/local/domain/7", buf, sizeof(buf)),
			 -EACCES);
	/* Missing below an unreadable parent: EACCES, not ENOENT. */
	assert_int_equal(tc_read(&x->g5, 0, "/local/domain/7/none", buf,
				 sizeof(buf)), -EACCES);
	/* Missing below its own: ENOENT. */
	assert_int_equal(tc_read(&x->g5, 0, "/local/domain/5/none", buf,
				 sizeof(buf)), -ENOENT);
}

static void per_domain_entries_grant_access(void **state)
{
	struct ctx *x = *state;
	char buf[16];

	assert_int_equal(tc_write(&x->g7, 0, "/local/domain/7/shared", "s"), 0);
	assert_int_equal(tc_set_perms(&x->g7, 0, "/local/domain/7/shared",
				      "n7,r5"), 0);
	assert_int_equal(tc_read(&x->g5, 0, "/local/domain/7/shared", buf,
				 sizeof(buf)), 0);
	assert_string_equal(buf, "s");
	assert_int_equal(tc_write(&x->g5, 0, "/local/domain/7/shared", "no"),
			 -EACCES);
	assert_int_equal(tc_set_perms(&x->g7, 0, "/local/domain/7/shared",
				      "n7,b5"), 0);
	assert_int_equal(tc_write(&x->g5, 0, "/local/domain/7/shared", "yes"), 0);
	/* The everyone-else entry: "r7" lets all read. */
	assert_int_equal(tc_write(&x->g7, 0, "/local/domain/7/pub", "p"), 0);
	assert_int_equal(tc_set_perms(&x->g7, 0, "/local/domain/7/pub", "r7"), 0);
	assert_int_equal(tc_read(&x->g5, 0, "/local/domain/7/pub", buf,
				 sizeof(buf)), 0);
}

static void guest_cannot_give_away_or_take_ownership(void **state)
{
	struct ctx *x = *state;

	assert_int_equal(tc_write(&x->g5, 0, "/local/domain/5/k", "v"), 0);
	assert_int_equal(tc_set_perms(&x->g5, 0, "/local/domain/5/k", "n7"),
			 -EPERM);
	assert_int_equal(tc_set_perms(&x->g7, 0, "/local/domain/5/k", "n7"),
			 -EACCES);
	/* Write access is not ownership. */
	assert_int_equal(tc_set_perms(&x->g5, 0, "/local/domain/5/k", "n5,w7"), 0);
	assert_int_equal(tc_set_perms(&x->g7, 0, "/local/domain/5/k", "n5,b7"),
			 -EACCES);
}

static void dom0_may_do_anything(void **state)
{
	struct ctx *x = *state;
	char buf[16];

	assert_int_equal(tc_write(&x->g7, 0, "/local/domain/7/q", "v"), 0);
	assert_int_equal(tc_read(&x->f.dom0, 0, "/local/domain/7/q", buf,
				 sizeof(buf)), 0);
	assert_int_equal(tc_set_perms(&x->f.dom0, 0, "/local/domain/7/q", "n5"),
			 0);
	assert_int_equal(tc_read(&x->g5, 0, "/local/domain/7/q", buf,
				 sizeof(buf)), 0);
	assert_int_equal(tc_rm(&x->f.dom0, 0, "/local/domain/7/q"), 0);
}

static void bad_permission_strings_are_einval(void **state)
{
	struct ctx *x = *state;

	assert_int_equal(tc_mkdir(&x->f.dom0, 0, "/p"), 0);
	assert_int_equal(tc_set_perms(&x->f.dom0, 0, "/p", "x0"), -EINVAL);
	assert_int_equal(tc_set_perms(&x->f.dom0, 0, "/p", "r"), -EINVAL);
	assert_int_equal(tc_set_perms(&x->f.dom0, 0, "/p", "r70000"), -EINVAL);
	assert_int_equal(tc_set_perms(&x->f.dom0, 0, "/p", "r1x"), -EINVAL);
	struct tc_msg m;

	/* No permission at all. */
	assert_int_equal(tc_req(&x->f.dom0, PVIO_XS_SET_PERMS, 0, "/p", 3, &m),
			 -EINVAL);
}

static void guests_may_not_introduce_or_release(void **state)
{
	struct ctx *x = *state;
	const char *intro[3] = { "9", "0", "0" }, *rel = "7";

	assert_int_equal(tc_req_strs(&x->g5, PVIO_XS_INTRODUCE, 0, NULL, intro,
				     3), -EACCES);
	assert_int_equal(tc_req_strs(&x->g5, PVIO_XS_RELEASE, 0, NULL, &rel, 1),
			 -EACCES);
	assert_int_equal(tc_req_strs(&x->g5, PVIO_XS_CONTROL, 0, NULL, &rel, 1),
			 -EACCES);
}

static void introduce_and_release_over_the_wire(void **state)
{
	struct ctx *x = *state;
	const char *intro[3] = { "9", "1234", "5" }, *d = "9";
	struct tc_msg m;

	assert_int_equal(tc_req_strs(&x->f.dom0, PVIO_XS_IS_DOMAIN_INTRODUCED, 0,
				     &m, &d, 1), 0);
	assert_string_equal(m.data, "F");
	assert_int_equal(tc_req_strs(&x->f.dom0, PVIO_XS_INTRODUCE, 0, &m, intro,
				     3), 0);
	assert_int_equal(tc_req_strs(&x->f.dom0, PVIO_XS_IS_DOMAIN_INTRODUCED, 0,
				     &m, &d, 1), 0);
	assert_string_equal(m.data, "T");
	assert_int_equal(tc_req_strs(&x->f.dom0, PVIO_XS_RELEASE, 0, &m, &d, 1), 0);
	assert_int_equal(tc_req_strs(&x->f.dom0, PVIO_XS_RELEASE, 0, &m, &d, 1),
			 -ENOENT);
	assert_int_equal(tc_req_strs(&x->f.dom0, PVIO_XS_IS_DOMAIN_INTRODUCED, 0,
				     &m, &d, 1), 0);
	assert_string_equal(m.data, "F");
}

static void release_gives_the_domains_nodes_to_dom0(void **state)
{
	struct ctx *x = *state;
	char buf[64];

	assert_int_equal(tc_write(&x->g7, 0, "/local/domain/7/x", "v"), 0);
	assert_int_equal(tc_set_perms(&x->g7, 0, "/local/domain/7/x", "n7,r5"), 0);
	assert_int_equal(tc_write(&x->g5, 0, "/local/domain/5/y", "v"), 0);
	assert_int_equal(tc_set_perms(&x->g5, 0, "/local/domain/5/y", "n5,r7"), 0);
	assert_int_equal(pvio_xenstored_release_domain(x->f.srv, 7), 0);
	assert_int_equal(tc_get_perms(&x->f.dom0, 0, "/local/domain/7/x", buf,
				      sizeof(buf)), 0);
	assert_string_equal(buf, "n0,r5");
	assert_int_equal(tc_get_perms(&x->f.dom0, 0, "/local/domain/5/y", buf,
				      sizeof(buf)), 0);
	assert_string_equal(buf, "n5");
	/* Its connection is closed. */
	assert_int_equal(tc_sync(&x->g7), -EPIPE);
	assert_int_equal(pvio_xenstored_release_domain(x->f.srv, 7), -ENOENT);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(introduce_gives_the_domain_its_home),
		T(guest_writes_in_its_home_and_owns_new_nodes),
		T(guest_writing_outside_its_area_gets_eacces),
		T(guest_cannot_read_what_it_may_not_see),
		T(per_domain_entries_grant_access),
		T(guest_cannot_give_away_or_take_ownership),
		T(dom0_may_do_anything),
		T(bad_permission_strings_are_einval),
		T(guests_may_not_introduce_or_release),
		T(introduce_and_release_over_the_wire),
		T(release_gives_the_domains_nodes_to_dom0),
	};

	return cmocka_run_group_tests_name("store_perms", tests, NULL, NULL);
}
