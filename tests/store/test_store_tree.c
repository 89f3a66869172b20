/* SPDX-License-Identifier: MIT */
/* The tree through the wire: read, write, mkdir, rm, directory, paths. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "store_client.h"

static void write_then_read_returns_value(void **state)
{
	struct tc_fixture *f = *state;
	char buf[64];

	assert_int_equal(tc_write(&f->dom0, 0, "/a", "hello"), 0);
	assert_int_equal(tc_read(&f->dom0, 0, "/a", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "hello");
	assert_int_equal(tc_write(&f->dom0, 0, "/a", "again"), 0);
	assert_int_equal(tc_read(&f->dom0, 0, "/a", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "again");
}

static void replies_use_xen_formats(void **state)
{
	struct tc_fixture *f = *state;
	struct tc_msg m;
	const char *path = "/v";

	assert_int_equal(tc_write(&f->dom0, 0, "/v", "abc"), 0);
	/* READ: the value bytes, no NUL added. */
	assert_int_equal(tc_req_strs(&f->dom0, PVIO_XS_READ, 0, &m, &path, 1), 0);
	assert_int_equal(m.h.len, 3);
	assert_memory_equal(m.data, "abc", 3);
	/* WRITE: "OK\0". */
	assert_int_equal(tc_req(&f->dom0, PVIO_XS_WRITE, 0, "/v\0x", 4, &m), 0);
	assert_int_equal(m.h.len, 3);
	assert_memory_equal(m.data, "OK", 3);
	/* ERROR: the errno name with its NUL; req_id echoed. */
	path = "/nope";
	assert_int_equal(tc_req_strs(&f->dom0, PVIO_XS_READ, 0, &m, &path, 1),
			 -ENOENT);
	assert_int_equal(m.h.type, PVIO_XS_ERROR);
	assert_int_equal(m.h.len, 7);
	assert_memory_equal(m.data, "ENOENT", 7);
	/* GET_DOMAIN_PATH: NUL-terminated. */
	path = "7";
	assert_int_equal(tc_req_strs(&f->dom0, PVIO_XS_GET_DOMAIN_PATH, 0, &m,
				     &path, 1), 0);
	assert_int_equal(m.h.len, sizeof("/local/domain/7"));
	assert_string_equal(m.data, "/local/domain/7");
}

static void values_are_binary(void **state)
{
	struct tc_fixture *f = *state;
	static const char req[] = "/bin\0a\0b\xff\x01";
	struct tc_msg m;
	const char *path = "/bin";

	assert_int_equal(tc_req(&f->dom0, PVIO_XS_WRITE, 0, req,
				sizeof(req) - 1, &m), 0);
	assert_int_equal(tc_req_strs(&f->dom0, PVIO_XS_READ, 0, &m, &path, 1), 0);
	assert_int_equal(m.h.len, 5);
	assert_memory_equal(m.data, "a\0b\xff\x01", 5);
}

static void initial_tree_is_xens(void **state)
{
	struct tc_fixture *f = *state;
	char buf[256];

	assert_int_equal(tc_dir(&f->dom0, 0, "/", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "tool");
	assert_int_equal(tc_dir(&f->dom0, 0, "/tool", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "xenstored");
	assert_int_equal(tc_get_perms(&f->dom0, 0, "/", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "n0");
}

static void read_of_missing_node_is_enoent(void **state)
{
	struct tc_fixture *f = *state;
	char buf[16];

	assert_int_equal(tc_read(&f->dom0, 0, "/missing", buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(tc_dir(&f->dom0, 0, "/missing/x", buf, sizeof(buf)),
			 -ENOENT);
}

static void write_creates_missing_parents(void **state)
{
	struct tc_fixture *f = *state;
	char buf[64];

	assert_int_equal(tc_write(&f->dom0, 0, "/p/q/r", "v"), 0);
	assert_int_equal(tc_read(&f->dom0, 0, "/p/q", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(tc_dir(&f->dom0, 0, "/p", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "q");
	assert_int_equal(tc_get_perms(&f->dom0, 0, "/p/q", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "n0");
}

static void parents_inherit_permissions(void **state)
{
	struct tc_fixture *f = *state;
	char buf[64];

	assert_int_equal(tc_mkdir(&f->dom0, 0, "/h"), 0);
	assert_int_equal(tc_set_perms(&f->dom0, 0, "/h", "n3,r4"), 0);
	assert_int_equal(tc_write(&f->dom0, 0, "/h/x/y", "1"), 0);
	assert_int_equal(tc_get_perms(&f->dom0, 0, "/h/x", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "n3,r4");
	assert_int_equal(tc_get_perms(&f->dom0, 0, "/h/x/y", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "n3,r4");
}

static void directory_lists_children_in_creation_order(void **state)
{
	struct tc_fixture *f = *state;
	char buf[64];

	assert_int_equal(tc_write(&f->dom0, 0, "/d/zz", ""), 0);
	assert_int_equal(tc_write(&f->dom0, 0, "/d/aa", ""), 0);
	assert_int_equal(tc_mkdir(&f->dom0, 0, "/d/mm"), 0);
	assert_int_equal(tc_dir(&f->dom0, 0, "/d", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "zz,aa,mm");
	assert_int_equal(tc_dir(&f->dom0, 0, "/d/aa", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

static void mkdir_of_existing_node_keeps_it(void **state)
{
	struct tc_fixture *f = *state;
	char buf[64];

	assert_int_equal(tc_write(&f->dom0, 0, "/m", "keep"), 0);
	assert_int_equal(tc_mkdir(&f->dom0, 0, "/m"), 0);
	assert_int_equal(tc_read(&f->dom0, 0, "/m", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "keep");
}

static void rm_removes_the_subtree(void **state)
{
	struct tc_fixture *f = *state;
	char buf[64];

	assert_int_equal(tc_write(&f->dom0, 0, "/r/a/b", "1"), 0);
	assert_int_equal(tc_write(&f->dom0, 0, "/r/a/c", "2"), 0);
	assert_int_equal(tc_write(&f->dom0, 0, "/r/k", "3"), 0);
	assert_int_equal(tc_rm(&f->dom0, 0, "/r/a"), 0);
	assert_int_equal(tc_read(&f->dom0, 0, "/r/a/b", buf, sizeof(buf)),
			 -ENOENT);
	assert_int_equal(tc_read(&f->dom0, 0, "/r/a", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(tc_dir(&f->dom0, 0, "/r", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "k");
	/* Re-creating gives a fresh, empty node. */
	assert_int_equal(tc_mkdir(&f->dom0, 0, "/r/a"), 0);
	assert_int_equal(tc_dir(&f->dom0, 0, "/r/a", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
}

static void rm_of_missing_node_is_ok_only_if_parent_exists(void **state)
{
	struct tc_fixture *f = *state;

	assert_int_equal(tc_mkdir(&f->dom0, 0, "/e"), 0);
	assert_int_equal(tc_rm(&f->dom0, 0, "/e/none"), 0);
	assert_int_equal(tc_rm(&f->dom0, 0, "/none/none"), -ENOENT);
	assert_int_equal(tc_rm(&f->dom0, 0, "/"), -EINVAL);
}

static void relative_paths_are_below_the_domain_path(void **state)
{
	struct tc_fixture *f = *state;
	struct tc g;
	char buf[64];

	assert_int_equal(pvio_xenstored_introduce_domain(f->srv, 5), 0);
	assert_int_equal(tc_connect(f, 5, &g), 0);
	assert_int_equal(tc_write(&g, 0, "data/x", "rel"), 0);
	assert_int_equal(tc_read(&f->dom0, 0, "/local/domain/5/data/x", buf,
				 sizeof(buf)), 0);
	assert_string_equal(buf, "rel");
	assert_int_equal(tc_read(&g, 0, "data/x", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "rel");
	/* dom0's relative paths are below /local/domain/0. */
	assert_int_equal(tc_write(&f->dom0, 0, "z", "0"), 0);
	assert_int_equal(tc_read(&f->dom0, 0, "/local/domain/0/z", buf,
				 sizeof(buf)), 0);
	tc_close(&g);
}

static void directory_part_pages_a_large_directory(void **state)
{
	struct tc_fixture *f = *state;
	char name[64], off[16];
	struct tc_msg m;
	unsigned int seen = 0;
	unsigned long pos = 0;

	for (int i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "/big/child-with-a-long-name-%03d", i);
		assert_int_equal(tc_mkdir(&f->dom0, 0, name), 0);
	}
	const char *big = "/big";

	/* 300 * 32 bytes do not fit one reply. */
	assert_int_equal(tc_req_strs(&f->dom0, PVIO_XS_DIRECTORY, 0, &m, &big, 1),
			 -E2BIG);
	for (int rounds = 0; rounds < 10; rounds++) {
		const char *a[2] = { "/big", off };

		snprintf(off, sizeof(off), "%lu", pos);
		assert_int_equal(tc_req_strs(&f->dom0, PVIO_XS_DIRECTORY_PART, 0,
					     &m, a, 2), 0);
		/* "generation\0" then names, "\0" after the last one. */
		size_t gl = strlen(m.data) + 1;
		size_t i = gl;

		assert_true(m.h.len >= gl + 1);
		while (i < m.h.len && m.data[i]) {
			snprintf(name, sizeof(name), "child-with-a-long-name-%03u",
				 seen);
			assert_string_equal(m.data + i, name);
			pos += strlen(m.data + i) + 1;
			i += strlen(m.data + i) + 1;
			seen++;
		}
		if (i < m.h.len)
			break; /* the empty string: end of list */
	}
	assert_int_equal(seen, 300);
}

static void get_domain_path_names_the_domain(void **state)
{
	struct tc_fixture *f = *state;
	struct tc_msg m;
	const char *a = "12";

	assert_int_equal(tc_req_strs(&f->dom0, PVIO_XS_GET_DOMAIN_PATH, 0, &m,
				     &a, 1), 0);
	assert_string_equal(m.data, "/local/domain/12");
	a = "x";
	assert_int_equal(tc_req_strs(&f->dom0, PVIO_XS_GET_DOMAIN_PATH, 0, &m,
				     &a, 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(write_then_read_returns_value, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(replies_use_xen_formats, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(values_are_binary, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(initial_tree_is_xens, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(read_of_missing_node_is_enoent, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(write_creates_missing_parents, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(parents_inherit_permissions, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(directory_lists_children_in_creation_order, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(mkdir_of_existing_node_keeps_it, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(rm_removes_the_subtree, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(rm_of_missing_node_is_ok_only_if_parent_exists, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(relative_paths_are_below_the_domain_path, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(directory_part_pages_a_large_directory, tc_setup, tc_teardown),
		cmocka_unit_test_setup_teardown(get_domain_path_names_the_domain, tc_setup, tc_teardown),
	};

	return cmocka_run_group_tests_name("store_tree", tests, NULL, NULL);
}
