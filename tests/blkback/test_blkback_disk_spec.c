/* SPDX-License-Identifier: MIT */
/* xl disk specifications and virtual device numbers (blkback/disk_spec.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <pvio/blkback.h>

static struct pvio_blkback_disk_spec sp;
static char err[256];

static int parse(const char *s)
{
	return pvio_blkback_disk_spec_parse(s, &sp, err, sizeof(err));
}

static void key_value_form_parses(void **s)
{
	(void)s;
	assert_int_equal(parse("format=raw, vdev=xvda, access=rw, target=/img/a.raw"), 0);
	assert_string_equal(sp.target, "/img/a.raw");
	assert_string_equal(sp.vdev, "xvda");
	assert_int_equal(sp.devid, 51712);
	assert_false(sp.readonly);
	assert_false(sp.cdrom);
	assert_int_equal(sp.discard, -1);
}

static void target_key_takes_the_rest_with_commas(void **s)
{
	(void)s;
	assert_int_equal(parse("vdev=xvdb,access=ro,target=/img/a,b,c.raw"), 0);
	assert_string_equal(sp.target, "/img/a,b,c.raw");
	assert_true(sp.readonly);
	assert_int_equal(sp.devid, 51728);
}

static void positional_form_parses(void **s)
{
	(void)s;
	assert_int_equal(parse("/dev/vg/guest,raw,xvdc,rw"), 0);
	assert_string_equal(sp.target, "/dev/vg/guest");
	assert_string_equal(sp.vdev, "xvdc");
	assert_false(sp.readonly);
	assert_int_equal(parse("/dev/vg/guest,,hda"), 0);
	assert_int_equal(sp.devid, 3u << 8);
	assert_false(sp.readonly);
}

static void legacy_file_prefix_parses(void **s)
{
	(void)s;
	assert_int_equal(parse("file:/img/disk.raw,xvda,w"), 0);
	assert_string_equal(sp.target, "/img/disk.raw");
	assert_string_equal(sp.vdev, "xvda");
	assert_false(sp.readonly);
	assert_int_equal(parse("phy:/dev/sdb,xvdb,r"), 0);
	assert_string_equal(sp.target, "/dev/sdb");
	assert_true(sp.readonly);
	assert_int_equal(parse("tap:aio:/img/x,xvdd,w"), 0);
	assert_string_equal(sp.target, "/img/x");
}

static void legacy_cdrom_suffix_parses(void **s)
{
	(void)s;
	assert_int_equal(parse("raw:/root/image.iso,hdc:cdrom,ro"), 0);
	assert_true(sp.cdrom);
	assert_true(sp.readonly);
	assert_string_equal(sp.vdev, "hdc");
	assert_int_equal(sp.devid, 22u << 8);
}

static void cdrom_flag_implies_readonly(void **s)
{
	(void)s;
	assert_int_equal(parse("/root/image.iso,,hdc,cdrom"), 0);
	assert_true(sp.cdrom);
	assert_true(sp.readonly);
	assert_int_equal(parse("/root/image.iso,raw,hdc,devtype=cdrom"), 0);
	assert_true(sp.cdrom);
}

static void discard_flags_parse(void **s)
{
	(void)s;
	assert_int_equal(parse("/i,raw,xvda,rw,no-discard"), 0);
	assert_int_equal(sp.discard, 0);
	assert_int_equal(parse("discard,/i,raw,xvda"), 0);
	assert_int_equal(sp.discard, 1);
}

static void unknown_key_is_an_error(void **s)
{
	(void)s;
	assert_int_equal(parse("vdev=xvda,colour=blue,target=/i"), -EINVAL);
	assert_non_null(strstr(err, "colour"));
}

static void non_raw_format_is_an_error(void **s)
{
	(void)s;
	assert_int_equal(parse("format=qcow2,vdev=xvda,target=/i"), -EINVAL);
	assert_non_null(strstr(err, "qcow2"));
	assert_int_equal(parse("qcow2:/i,xvda,w"), -EINVAL);
}

static void missing_target_is_an_error(void **s)
{
	(void)s;
	assert_int_equal(parse("vdev=xvda,access=rw"), -EINVAL);
	assert_non_null(strstr(err, "target"));
	assert_int_equal(parse(",raw,xvda,rw"), -EINVAL);
}

static void missing_vdev_is_an_error(void **s)
{
	(void)s;
	assert_int_equal(parse("target=/i"), -EINVAL);
	assert_non_null(strstr(err, "vdev"));
}

static void bad_access_is_an_error(void **s)
{
	(void)s;
	assert_int_equal(parse("/i,raw,xvda,rwx"), -EINVAL);
	assert_non_null(strstr(err, "access"));
}

static void bad_vdev_is_an_error(void **s)
{
	(void)s;
	assert_int_equal(parse("/i,raw,floppy,rw"), -EINVAL);
	assert_int_equal(parse("/i,raw,xvd,rw"), -EINVAL);
	assert_int_equal(parse("/i,raw,hde,rw"), -EINVAL);
	assert_int_equal(parse("/i,raw,xvda01,rw"), -EINVAL);
}

static void parameter_given_twice_is_an_error(void **s)
{
	(void)s;
	assert_int_equal(parse("/i,raw,xvda,rw,vdev=xvdb"), -EINVAL);
	assert_non_null(strstr(err, "twice"));
}

static void too_many_positionals_is_an_error(void **s)
{
	(void)s;
	assert_int_equal(parse("/i,raw,xvda,rw,extra"), -EINVAL);
}

static void writable_cdrom_is_an_error(void **s)
{
	(void)s;
	assert_int_equal(parse("/i,raw,hdc,rw,cdrom"), -EINVAL);
}

static void script_is_an_error(void **s)
{
	(void)s;
	assert_int_equal(parse("script=block-iscsi,vdev=xvda,target=iqn"), -EINVAL);
}

static void vdev_numbers_follow_xen(void **s)
{
	uint32_t d;

	(void)s;
	assert_int_equal(pvio_blkback_vdev_to_devid("xvda", &d), 0);
	assert_int_equal(d, 202u << 8);
	assert_int_equal(pvio_blkback_vdev_to_devid("xvdb3", &d), 0);
	assert_int_equal(d, 202u << 8 | 1 << 4 | 3);
	assert_int_equal(pvio_blkback_vdev_to_devid("xvdq", &d), 0);
	assert_int_equal(d, 1u << 28 | 16u << 8);
	assert_int_equal(pvio_blkback_vdev_to_devid("xvdaa", &d), 0);
	assert_int_equal(d, 1u << 28 | 26u << 8);
	assert_int_equal(pvio_blkback_vdev_to_devid("hdb", &d), 0);
	assert_int_equal(d, 3u << 8 | 64);
	assert_int_equal(pvio_blkback_vdev_to_devid("hdd1", &d), 0);
	assert_int_equal(d, 22u << 8 | 64 | 1);
	assert_int_equal(pvio_blkback_vdev_to_devid("sdc", &d), 0);
	assert_int_equal(d, 8u << 8 | 2 << 4);
	assert_int_equal(pvio_blkback_vdev_to_devid("d3p2", &d), 0);
	assert_int_equal(d, 1u << 28 | 3 << 8 | 2);
	assert_int_equal(pvio_blkback_vdev_to_devid("768", &d), 0);
	assert_int_equal(d, 768);
	assert_int_equal(pvio_blkback_vdev_to_devid("xvdA", &d), -EINVAL);
	assert_int_equal(pvio_blkback_vdev_to_devid("", &d), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(key_value_form_parses),
		cmocka_unit_test(target_key_takes_the_rest_with_commas),
		cmocka_unit_test(positional_form_parses),
		cmocka_unit_test(legacy_file_prefix_parses),
		cmocka_unit_test(legacy_cdrom_suffix_parses),
		cmocka_unit_test(cdrom_flag_implies_readonly),
		cmocka_unit_test(discard_flags_parse),
		cmocka_unit_test(unknown_key_is_an_error),
		cmocka_unit_test(non_raw_format_is_an_error),
		cmocka_unit_test(missing_target_is_an_error),
		cmocka_unit_test(missing_vdev_is_an_error),
		cmocka_unit_test(bad_access_is_an_error),
		cmocka_unit_test(bad_vdev_is_an_error),
		cmocka_unit_test(parameter_given_twice_is_an_error),
		cmocka_unit_test(too_many_positionals_is_an_error),
		cmocka_unit_test(writable_cdrom_is_an_error),
		cmocka_unit_test(script_is_an_error),
		cmocka_unit_test(vdev_numbers_follow_xen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
