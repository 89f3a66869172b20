/* SPDX-License-Identifier: MIT */
/* Strict integer values: parsing, formatting, read_uint/write_uint. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fake_xs.h"

static void parse_accepts_canonical_decimal(void **state)
{
	uint64_t v = 99;

	(void)state;
	assert_int_equal(pvio_xs_parse_uint("0", UINT64_MAX, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(pvio_xs_parse_uint("42", UINT64_MAX, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(pvio_xs_parse_uint("18446744073709551615",
					    UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(pvio_xs_parse_uint("255", 255, &v), 0);
	assert_int_equal(v, 255);
}

static void parse_rejects_garbage_signs_and_spaces(void **state)
{
	static const char *const bad[] = {
		"", "-1", "+1", " 1", "1 ", "1a", "a1", "0x10", "01", "00",
		"1.0", "1e3", "\t7", "12\n", "--", "99999999999999999999x",
	};
	uint64_t v = 7;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(pvio_xs_parse_uint(bad[i], UINT64_MAX, &v),
				 -EINVAL);
		assert_int_equal(v, 7);     /* untouched */
	}
	assert_int_equal(pvio_xs_parse_uint(NULL, 1, &v), -EINVAL);
}

static void parse_rejects_overflow_and_values_above_max(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(pvio_xs_parse_uint("18446744073709551616",
					    UINT64_MAX, &v), -ERANGE);
	assert_int_equal(pvio_xs_parse_uint("99999999999999999999999999",
					    UINT64_MAX, &v), -ERANGE);
	assert_int_equal(pvio_xs_parse_uint("256", 255, &v), -ERANGE);
	assert_int_equal(pvio_xs_parse_uint("65536", 0xffff, &v), -ERANGE);
	assert_int_equal(v, 7);
}

static void format_writes_decimal_or_erange(void **state)
{
	char buf[21];

	(void)state;
	assert_int_equal(pvio_xs_format_uint(buf, sizeof(buf), 0), 1);
	assert_string_equal(buf, "0");
	assert_int_equal(pvio_xs_format_uint(buf, sizeof(buf), UINT64_MAX), 20);
	assert_string_equal(buf, "18446744073709551615");
	assert_int_equal(pvio_xs_format_uint(buf, 3, 123), -ERANGE);
	assert_int_equal(pvio_xs_format_uint(buf, 4, 123), 3);
}

static void read_uint_round_trips_and_rejects_bad_values(void **state)
{
	struct fake_xs *fx = fake_xs_new();
	struct xb_client *cl = xb_client_new(fx, 0, 0);
	uint64_t v = 0;

	(void)state;
	assert_int_equal(pvio_xs_write_uint(&cl->xs, 0, "/n", 123456789), 0);
	assert_string_equal(fake_xs_value(fx, "/n"), "123456789");
	assert_int_equal(pvio_xs_read_uint(&cl->xs, 0, "/n", UINT64_MAX, &v), 0);
	assert_int_equal(v, 123456789);
	assert_int_equal(pvio_xs_read_uint(&cl->xs, 0, "/n", 1000, &v), -ERANGE);
	assert_int_equal(pvio_xs_read_uint(&cl->xs, 0, "/missing", 1, &v),
			 -ENOENT);
	fake_xs_set(fx, "/g", "12 ");
	assert_int_equal(pvio_xs_read_uint(&cl->xs, 0, "/g", UINT64_MAX, &v),
			 -EINVAL);
	fake_xs_set(fx, "/g", "-3");
	assert_int_equal(pvio_xs_read_uint(&cl->xs, 0, "/g", UINT64_MAX, &v),
			 -EINVAL);
	fake_xs_set(fx, "/g", "");
	assert_int_equal(pvio_xs_read_uint(&cl->xs, 0, "/g", UINT64_MAX, &v),
			 -EINVAL);
	fake_xs_set(fx, "/g", "184467440737095516150");
	assert_int_equal(pvio_xs_read_uint(&cl->xs, 0, "/g", UINT64_MAX, &v),
			 -ERANGE);
	fake_xs_set(fx, "/g", "1111111111111111111111111111111111111111111111"
			      "111111111111111111111111111111111111");
	assert_int_equal(pvio_xs_read_uint(&cl->xs, 0, "/g", UINT64_MAX, &v),
			 -EINVAL);
	xb_client_free(cl);
	fake_xs_free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_accepts_canonical_decimal),
		cmocka_unit_test(parse_rejects_garbage_signs_and_spaces),
		cmocka_unit_test(parse_rejects_overflow_and_values_above_max),
		cmocka_unit_test(format_writes_decimal_or_erange),
		cmocka_unit_test(read_uint_round_trips_and_rejects_bad_values),
	};

	return cmocka_run_group_tests_name("xs_uint", tests, NULL, NULL);
}
