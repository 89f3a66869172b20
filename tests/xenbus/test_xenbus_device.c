/* SPDX-License-Identifier: MIT */
/*
 * The toolstack's side of xenbus against the fake server: paths, device
 * creation (libxl's key layout and permissions), destruction, online, and
 * feature keys.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fake_xs.h"

#define FE "/local/domain/2/device/vbd/768"
#define BE "/local/domain/1/backend/vbd/2/768"

struct env {
	struct fake_xs *fx;
	struct xb_client *ts;   /* the toolstack, dom0 */
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	e->fx = fake_xs_new();
	e->ts = xb_client_new(e->fx, 0, 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	xb_client_free(e->ts);
	fake_xs_free(e->fx);
	free(e);
	return 0;
}

static void paths_follow_xens_layout(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(pvio_xenbus_frontend_path(buf, sizeof(buf), "vbd", 2,
						   768), 0);
	assert_string_equal(buf, FE);
	assert_int_equal(pvio_xenbus_backend_path(buf, sizeof(buf), "vbd", 1,
						  2, 768), 0);
	assert_string_equal(buf, BE);
	assert_int_equal(pvio_xenbus_frontend_path(buf, 10, "vbd", 2, 768),
			 -ENAMETOOLONG);
	assert_int_equal(pvio_xenbus_frontend_path(buf, sizeof(buf), "a/b", 2,
						   0), -EINVAL);
	assert_int_equal(pvio_xenbus_backend_path(buf, sizeof(buf), "", 1, 2,
						  0), -EINVAL);
}

static void expect_perms(struct fake_xs *fx, const char *path,
			 uint16_t owner, uint16_t reader)
{
	struct pvio_xs_perm p[4];

	assert_int_equal(fake_xs_get_perms(fx, path, p, 4), 2);
	assert_int_equal(p[0].domid, owner);
	assert_int_equal(p[0].access, PVIO_XS_PERM_NONE);
	assert_int_equal(p[1].domid, reader);
	assert_int_equal(p[1].access, PVIO_XS_PERM_READ);
}

static void create_writes_libxls_keys_and_perms(void **state)
{
	struct env *e = *state;
	const struct pvio_xenbus_kv fe_kv[] = { { "virtual-device", "768" } };
	const struct pvio_xenbus_kv be_kv[] = {
		{ "params", "/tmp/disk.img" }, { "mode", "w" },
	};
	const struct pvio_xenbus_device_keys extra = { fe_kv, 1, be_kv, 2 };

	assert_int_equal(pvio_xenbus_device_create(&e->ts->xs, "vbd", 1, 2,
						   768, &extra), 0);
	assert_string_equal(fake_xs_value(e->fx, FE "/backend"), BE);
	assert_string_equal(fake_xs_value(e->fx, FE "/backend-id"), "1");
	assert_string_equal(fake_xs_value(e->fx, FE "/state"), "1");
	assert_string_equal(fake_xs_value(e->fx, FE "/virtual-device"), "768");
	assert_string_equal(fake_xs_value(e->fx, BE "/frontend"), FE);
	assert_string_equal(fake_xs_value(e->fx, BE "/frontend-id"), "2");
	assert_string_equal(fake_xs_value(e->fx, BE "/online"), "1");
	assert_string_equal(fake_xs_value(e->fx, BE "/state"), "1");
	assert_string_equal(fake_xs_value(e->fx, BE "/params"),
			    "/tmp/disk.img");
	assert_string_equal(fake_xs_value(e->fx, BE "/mode"), "w");
	/* Frontend dir: owner fe, read for be; backend dir the mirror. */
	expect_perms(e->fx, FE, 2, 1);
	expect_perms(e->fx, BE, 1, 2);
	/* The keys inherit their dir's perms. */
	expect_perms(e->fx, FE "/state", 2, 1);
	expect_perms(e->fx, BE "/state", 1, 2);
	/* One transaction. */
	assert_int_equal(fake_xs_commits(e->fx), 1);
}

static void each_end_reads_the_other_and_writes_only_its_own(void **state)
{
	struct env *e = *state;
	struct xb_client *fe = xb_client_new(e->fx, 2, 0);
	struct xb_client *be = xb_client_new(e->fx, 1, 0);
	struct xb_client *other = xb_client_new(e->fx, 3, 0);
	char buf[64];

	assert_int_equal(pvio_xenbus_device_create(&e->ts->xs, "vbd", 1, 2,
						   768, NULL), 0);
	assert_int_equal(pvio_xs_read(&fe->xs, 0, BE "/state", buf,
				      sizeof(buf), NULL), 0);
	assert_int_equal(pvio_xs_read(&be->xs, 0, FE "/state", buf,
				      sizeof(buf), NULL), 0);
	assert_int_equal(pvio_xs_write(&fe->xs, 0, FE "/ring-ref", "8"), 0);
	assert_int_equal(pvio_xs_write(&be->xs, 0, BE "/feature-x", "1"), 0);
	assert_int_equal(pvio_xs_write(&fe->xs, 0, BE "/state", "4"), -EACCES);
	assert_int_equal(pvio_xs_write(&be->xs, 0, FE "/state", "4"), -EACCES);
	assert_int_equal(pvio_xs_read(&other->xs, 0, FE "/state", buf,
				      sizeof(buf), NULL), -EACCES);
	assert_int_equal(pvio_xs_read(&other->xs, 0, BE "/state", buf,
				      sizeof(buf), NULL), -EACCES);
	xb_client_free(fe);
	xb_client_free(be);
	xb_client_free(other);
}

static void create_replaces_a_stale_device(void **state)
{
	struct env *e = *state;

	fake_xs_set(e->fx, FE "/stale", "x");
	fake_xs_set(e->fx, BE "/state", "4");
	assert_int_equal(pvio_xenbus_device_create(&e->ts->xs, "vbd", 1, 2,
						   768, NULL), 0);
	assert_null(fake_xs_value(e->fx, FE "/stale"));
	assert_string_equal(fake_xs_value(e->fx, BE "/state"), "1");
}

static void create_retries_a_racing_transaction(void **state)
{
	struct env *e = *state;

	fake_xs_force_eagain(e->fx, 2);
	assert_int_equal(pvio_xenbus_device_create(&e->ts->xs, "vbd", 1, 2,
						   768, NULL), 0);
	assert_int_equal(fake_xs_eagains(e->fx), 2);
	assert_string_equal(fake_xs_value(e->fx, FE "/state"), "1");
}

static void create_by_a_guest_is_eacces(void **state)
{
	struct env *e = *state;
	struct xb_client *g = xb_client_new(e->fx, 5, 0);

	assert_int_equal(pvio_xenbus_device_create(&g->xs, "vbd", 1, 2, 768,
						   NULL), -EACCES);
	assert_null(fake_xs_value(e->fx, FE "/state"));
	xb_client_free(g);
}

static void create_rejects_bad_extra_keys(void **state)
{
	struct env *e = *state;
	const struct pvio_xenbus_kv bad[] = { { "/abs", "x" } };
	const struct pvio_xenbus_device_keys extra = { bad, 1, NULL, 0 };

	assert_int_equal(pvio_xenbus_device_create(&e->ts->xs, "vbd", 1, 2,
						   768, &extra), -EINVAL);
	assert_null(fake_xs_value(e->fx, FE "/state"));
	assert_int_equal(pvio_xenbus_device_create(&e->ts->xs, "v/bd", 1, 2,
						   768, NULL), -EINVAL);
}

static void destroy_removes_both_dirs_and_may_repeat(void **state)
{
	struct env *e = *state;

	assert_int_equal(pvio_xenbus_device_create(&e->ts->xs, "vbd", 1, 2,
						   768, NULL), 0);
	assert_int_equal(pvio_xenbus_device_set_online(&e->ts->xs, "vbd", 1, 2,
						       768, false), 0);
	assert_string_equal(fake_xs_value(e->fx, BE "/online"), "0");
	assert_int_equal(pvio_xenbus_device_destroy(&e->ts->xs, "vbd", 1, 2,
						    768), 0);
	assert_null(fake_xs_value(e->fx, FE));
	assert_null(fake_xs_value(e->fx, BE));
	assert_int_equal(pvio_xenbus_device_destroy(&e->ts->xs, "vbd", 1, 2,
						    768), 0);
}

static void features_read_as_bool_with_default(void **state)
{
	struct env *e = *state;
	struct pvio_xs *xs = &e->ts->xs;
	bool on = false;

	assert_int_equal(pvio_xenbus_read_feature(xs, 0, BE, "barrier", true,
						  &on), 0);
	assert_true(on);
	assert_int_equal(pvio_xenbus_read_feature(xs, 0, BE, "barrier", false,
						  &on), 0);
	assert_false(on);
	assert_int_equal(pvio_xenbus_write_feature(xs, 0, BE, "barrier", true),
			 0);
	assert_string_equal(fake_xs_value(e->fx, BE "/feature-barrier"), "1");
	assert_int_equal(pvio_xenbus_read_feature(xs, 0, BE, "barrier", false,
						  &on), 0);
	assert_true(on);
	assert_int_equal(pvio_xenbus_write_feature(xs, 0, BE, "barrier",
						   false), 0);
	assert_int_equal(pvio_xenbus_read_feature(xs, 0, BE, "barrier", true,
						  &on), 0);
	assert_false(on);
	fake_xs_set(e->fx, BE "/feature-barrier", "7");
	assert_int_equal(pvio_xenbus_read_feature(xs, 0, BE, "barrier", false,
						  &on), 0);
	assert_true(on);
	fake_xs_set(e->fx, BE "/feature-barrier", "yes");
	on = false;
	assert_int_equal(pvio_xenbus_read_feature(xs, 0, BE, "barrier", true,
						  &on), -EINVAL);
	assert_true(on);    /* the default */
	fake_xs_set(e->fx, BE "/feature-barrier", "99999999999999999999999");
	assert_int_equal(pvio_xenbus_read_feature(xs, 0, BE, "barrier", false,
						  &on), -EINVAL);
	assert_false(on);
	assert_int_equal(pvio_xenbus_read_feature(xs, 0, BE, "", false, &on),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(paths_follow_xens_layout),
		T(create_writes_libxls_keys_and_perms),
		T(each_end_reads_the_other_and_writes_only_its_own),
		T(create_replaces_a_stale_device),
		T(create_retries_a_racing_transaction),
		T(create_by_a_guest_is_eacces),
		T(create_rejects_bad_extra_keys),
		T(destroy_removes_both_dirs_and_may_repeat),
		T(features_read_as_bool_with_default),
#undef T
	};

	return cmocka_run_group_tests_name("xenbus_device", tests, NULL, NULL);
}
