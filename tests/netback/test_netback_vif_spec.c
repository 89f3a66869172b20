/* SPDX-License-Identifier: MIT */
/* xl vif specifications (netback/vif_spec.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <pvio/netback.h>

static struct pvio_netback_vif_spec sp;
static char err[256];

static int parse(const char *s)
{
	err[0] = 0;
	return pvio_netback_vif_spec_parse(s, &sp, err, sizeof(err));
}

static void full_spec_is_parsed(void **s)
{
	char mac[18];

	(void)s;
	assert_int_equal(parse("mac=00:16:3e:01:02:03,bridge=xenbr0,script=vif-bridge,"
			       "ip=10.0.0.2 10.0.0.3"), 0);
	pvio_netback_mac_format(sp.mac, mac);
	assert_string_equal(mac, "00:16:3e:01:02:03");
	assert_true(sp.mac_set);
	assert_string_equal(sp.bridge, "xenbr0");
	assert_string_equal(sp.script, "vif-bridge");
	assert_string_equal(sp.ip, "10.0.0.2 10.0.0.3");
	assert_string_equal(sp.type, "vif");
	assert_int_equal(sp.backend, -1);
	assert_int_equal(sp.trusted, -1);
}

static void keys_in_any_order_with_spaces(void **s)
{
	(void)s;
	assert_int_equal(parse(" bridge=br1 , devid=3, mtu=9000,vifname=guest0,"
			       "gatewaydev=eth1,model=e1000,type=ioemu,backend=0"), 0);
	assert_string_equal(sp.bridge, "br1 ");
	assert_true(sp.devid_set);
	assert_int_equal(sp.devid, 3);
	assert_int_equal(sp.mtu, 9000);
	assert_string_equal(sp.vifname, "guest0");
	assert_string_equal(sp.gatewaydev, "eth1");
	assert_string_equal(sp.type, "ioemu");
	assert_int_equal(sp.backend, 0);
}

static void missing_mac_gets_a_random_xen_oui_mac(void **s)
{
	(void)s;
	assert_int_equal(parse("bridge=xenbr0"), 0);
	assert_false(sp.mac_set);
	assert_int_equal(sp.mac[0], 0x00);
	assert_int_equal(sp.mac[1], 0x16);
	assert_int_equal(sp.mac[2], 0x3e);
	assert_int_equal(sp.mac[3] & 0x80, 0);
}

static void empty_spec_is_all_defaults(void **s)
{
	(void)s;
	assert_int_equal(parse(""), 0);
	assert_string_equal(sp.bridge, "");
	assert_false(sp.devid_set);
}

static void unknown_key_is_refused(void **s)
{
	(void)s;
	assert_int_equal(parse("mac=00:16:3e:01:02:03,colour=blue"), -EINVAL);
	assert_non_null(strstr(err, "colour"));
}

static void key_given_twice_is_refused(void **s)
{
	(void)s;
	assert_int_equal(parse("bridge=a,bridge=b"), -EINVAL);
	assert_non_null(strstr(err, "twice"));
}

static void malformed_mac_is_refused(void **s)
{
	(void)s;
	assert_int_equal(parse("mac=00:16:3e:01:02"), -EINVAL);
	assert_int_equal(parse("mac=00:16:3e:01:02:0g"), -EINVAL);
	assert_int_equal(parse("mac=00:16:3e:01:02:03:04"), -EINVAL);
	assert_int_equal(parse("mac=0:16:3e:1:2:3"), -EINVAL);
}

static void multicast_mac_is_refused(void **s)
{
	(void)s;
	assert_int_equal(parse("mac=01:16:3e:01:02:03"), -EINVAL);
	assert_non_null(strstr(err, "multicast"));
}

static void zero_mac_is_refused(void **s)
{
	(void)s;
	assert_int_equal(parse("mac=00:00:00:00:00:00"), -EINVAL);
}

static void rate_is_refused_as_unsupported(void **s)
{
	(void)s;
	assert_int_equal(parse("rate=10Mb/s"), -EINVAL);
	assert_non_null(strstr(err, "not supported"));
}

static void empty_value_is_refused(void **s)
{
	(void)s;
	assert_int_equal(parse("bridge="), -EINVAL);
	assert_int_equal(parse("bridge"), -EINVAL);
}

static void too_long_vifname_is_refused(void **s)
{
	(void)s;
	assert_int_equal(parse("vifname=abcdefghijklmnop"), -EINVAL);
}

static void bad_numbers_are_refused(void **s)
{
	(void)s;
	assert_int_equal(parse("mtu=20"), -EINVAL);
	assert_int_equal(parse("mtu=70000"), -EINVAL);
	assert_int_equal(parse("devid=-1"), -EINVAL);
	assert_int_equal(parse("devid=1x"), -EINVAL);
	assert_int_equal(parse("backend=driverdom"), -EINVAL);
}

static void trusted_flags_are_read_and_exclusive(void **s)
{
	(void)s;
	assert_int_equal(parse("trusted"), 0);
	assert_int_equal(sp.trusted, 1);
	assert_int_equal(parse("untrusted"), 0);
	assert_int_equal(sp.trusted, 0);
	assert_int_equal(parse("trusted,untrusted"), -EINVAL);
	assert_int_equal(parse("trusted=1"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_spec_is_parsed),
		cmocka_unit_test(keys_in_any_order_with_spaces),
		cmocka_unit_test(missing_mac_gets_a_random_xen_oui_mac),
		cmocka_unit_test(empty_spec_is_all_defaults),
		cmocka_unit_test(unknown_key_is_refused),
		cmocka_unit_test(key_given_twice_is_refused),
		cmocka_unit_test(malformed_mac_is_refused),
		cmocka_unit_test(multicast_mac_is_refused),
		cmocka_unit_test(zero_mac_is_refused),
		cmocka_unit_test(rate_is_refused_as_unsupported),
		cmocka_unit_test(empty_value_is_refused),
		cmocka_unit_test(too_long_vifname_is_refused),
		cmocka_unit_test(bad_numbers_are_refused),
		cmocka_unit_test(trusted_flags_are_read_and_exclusive),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
