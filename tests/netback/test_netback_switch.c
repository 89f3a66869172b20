/* SPDX-License-Identifier: MIT */
/* The built-in L2 switch (netback/switch.c): learning, flooding, ageing,
 * anti-spoofing, counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common.h"

#define SEC 1000000000ull

static const uint8_t VIF1[6] = { 0x00, 0x16, 0x3e, 0, 0, 1 };
static const uint8_t VIF2[6] = { 0x00, 0x16, 0x3e, 0, 0, 2 };
static const uint8_t EXT1[6] = { 0x02, 0, 0, 0, 0, 0x11 };
static const uint8_t EXT2[6] = { 0x02, 0, 0, 0, 0, 0x22 };
static const uint8_t BCAST[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static const uint8_t MCAST[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };

struct env {
	struct nb_switch sw;
	uint32_t up, p1, p2;
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	assert_int_equal(nb_switch_init(&e->sw, 64, 300 * SEC), 0);
	assert_int_equal(nb_switch_port_add(&e->sw, NULL, &e->up), 0);
	assert_int_equal(nb_switch_port_add(&e->sw, VIF1, &e->p1), 0);
	assert_int_equal(nb_switch_port_add(&e->sw, VIF2, &e->p2), 0);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	nb_switch_fini(&e->sw);
	free(e);
	return 0;
}

static const uint8_t *frame(const uint8_t *dst, const uint8_t *src)
{
	static uint8_t f[14];

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
	return f;
}

static void uplink_is_port_zero_and_vifs_follow(void **state)
{
	struct env *e = *state;

	assert_int_equal(e->up, NB_SW_UPLINK);
	assert_int_equal(e->p1, 1);
	assert_int_equal(e->p2, 2);
}

static void source_seen_on_uplink_is_learned(void **state)
{
	struct env *e = *state;
	uint32_t out = 99;

	(void)nb_switch_forward(&e->sw, e->up, frame(VIF1, EXT1), SEC, &out);
	assert_true(nb_switch_lookup(&e->sw, EXT1, &out));
	assert_int_equal(out, NB_SW_UPLINK);
}

static void frame_to_learned_mac_goes_to_its_port_only(void **state)
{
	struct env *e = *state;
	uint32_t out = 99;

	(void)nb_switch_forward(&e->sw, e->up, frame(BCAST, EXT1), SEC, &out);
	assert_int_equal(nb_switch_forward(&e->sw, e->p1, frame(EXT1, VIF1), SEC, &out),
			 NB_SW_UNICAST);
	assert_int_equal(out, NB_SW_UPLINK);
}

static void frame_to_a_vif_mac_goes_to_that_vif(void **state)
{
	struct env *e = *state;
	uint32_t out = 99;

	assert_int_equal(nb_switch_forward(&e->sw, e->p1, frame(VIF2, VIF1), SEC, &out),
			 NB_SW_UNICAST);
	assert_int_equal(out, e->p2);
	assert_int_equal(nb_switch_forward(&e->sw, e->up, frame(VIF1, EXT1), SEC, &out),
			 NB_SW_UNICAST);
	assert_int_equal(out, e->p1);
}

static void unknown_unicast_is_flooded(void **state)
{
	struct env *e = *state;
	uint32_t out;

	assert_int_equal(nb_switch_forward(&e->sw, e->p1, frame(EXT2, VIF1), SEC, &out),
			 NB_SW_FLOOD);
}

static void broadcast_is_flooded(void **state)
{
	struct env *e = *state;
	uint32_t out;

	assert_int_equal(nb_switch_forward(&e->sw, e->p1, frame(BCAST, VIF1), SEC, &out),
			 NB_SW_FLOOD);
	assert_int_equal(nb_switch_forward(&e->sw, e->up, frame(BCAST, EXT1), SEC, &out),
			 NB_SW_FLOOD);
}

static void multicast_is_flooded(void **state)
{
	struct env *e = *state;
	uint32_t out;

	assert_int_equal(nb_switch_forward(&e->sw, e->p2, frame(MCAST, VIF2), SEC, &out),
			 NB_SW_FLOOD);
}

static void vif_sending_another_source_is_dropped(void **state)
{
	struct env *e = *state;
	struct nb_sw_stats st;
	uint32_t out;

	assert_int_equal(nb_switch_forward(&e->sw, e->p1, frame(BCAST, EXT1), SEC, &out),
			 NB_SW_DROP);
	assert_int_equal(nb_switch_forward(&e->sw, e->p1, frame(BCAST, VIF2), SEC, &out),
			 NB_SW_DROP);
	nb_switch_stats(&e->sw, &st);
	assert_int_equal(st.dropped_spoof, 2);
	/* and the spoofed source was not learned */
	assert_false(nb_switch_lookup(&e->sw, EXT1, &out));
}

static void uplink_cannot_take_a_vif_mac(void **state)
{
	struct env *e = *state;
	uint32_t out = 99;

	(void)nb_switch_forward(&e->sw, e->up, frame(BCAST, VIF1), SEC, &out);
	assert_true(nb_switch_lookup(&e->sw, VIF1, &out));
	assert_int_equal(out, e->p1);
}

static void learned_entry_ages_out(void **state)
{
	struct env *e = *state;
	uint32_t out;

	(void)nb_switch_forward(&e->sw, e->up, frame(BCAST, EXT1), SEC, &out);
	assert_int_equal(nb_switch_age(&e->sw, 200 * SEC), 0);
	assert_int_equal(nb_switch_age(&e->sw, 302 * SEC), 1);
	assert_false(nb_switch_lookup(&e->sw, EXT1, &out));
	/* static vif entries never age */
	assert_int_equal(nb_switch_age(&e->sw, 10000 * SEC), 0);
	assert_true(nb_switch_lookup(&e->sw, VIF1, &out));
}

static void traffic_refreshes_an_entry(void **state)
{
	struct env *e = *state;
	uint32_t out;

	(void)nb_switch_forward(&e->sw, e->up, frame(BCAST, EXT1), SEC, &out);
	(void)nb_switch_forward(&e->sw, e->up, frame(BCAST, EXT1), 250 * SEC, &out);
	assert_int_equal(nb_switch_age(&e->sw, 400 * SEC), 0);
	assert_true(nb_switch_lookup(&e->sw, EXT1, &out));
}

static void forwarding_ages_the_table_as_it_goes(void **state)
{
	struct env *e = *state;
	uint32_t out;

	(void)nb_switch_forward(&e->sw, e->up, frame(BCAST, EXT1), SEC, &out);
	(void)nb_switch_forward(&e->sw, e->p1, frame(EXT2, VIF1), 400 * SEC, &out);
	assert_false(nb_switch_lookup(&e->sw, EXT1, &out));
}

static void frame_back_to_its_ingress_is_dropped(void **state)
{
	struct env *e = *state;
	uint32_t out;

	(void)nb_switch_forward(&e->sw, e->up, frame(BCAST, EXT1), SEC, &out);
	(void)nb_switch_forward(&e->sw, e->up, frame(BCAST, EXT2), SEC, &out);
	assert_int_equal(nb_switch_forward(&e->sw, e->up, frame(EXT2, EXT1), SEC, &out),
			 NB_SW_DROP);
}

static void removed_port_loses_its_entries(void **state)
{
	struct env *e = *state;
	uint32_t out, p;

	nb_switch_port_del(&e->sw, e->p2);
	assert_false(nb_switch_lookup(&e->sw, VIF2, &out));
	assert_int_equal(nb_switch_forward(&e->sw, e->p2, frame(BCAST, VIF2), SEC, &out),
			 NB_SW_DROP);
	/* the port number is reused */
	assert_int_equal(nb_switch_port_add(&e->sw, VIF2, &p), 0);
	assert_int_equal(p, e->p2);
}

static void second_vif_with_the_same_mac_is_refused(void **state)
{
	struct env *e = *state;
	uint32_t p;

	assert_int_equal(nb_switch_port_add(&e->sw, VIF1, &p), -EEXIST);
	assert_int_equal(nb_switch_port_add(&e->sw, NULL, &p), -EEXIST);
}

static void full_table_stops_learning_but_keeps_forwarding(void **state)
{
	struct nb_switch sw;
	struct nb_sw_stats st;
	uint32_t up, out;
	uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0 };

	(void)state;
	assert_int_equal(nb_switch_init(&sw, 8, SEC), 0);
	assert_int_equal(nb_switch_port_add(&sw, NULL, &up), 0);
	for (int i = 0; i < 100; i++) {
		src[5] = (uint8_t)i;
		assert_int_not_equal(nb_switch_forward(&sw, up, frame(BCAST, src), 1, &out),
				     NB_SW_DROP);
	}
	nb_switch_stats(&sw, &st);
	assert_true(st.learned > 0 && st.learned < 100);
	assert_true(st.table_full > 0);
	assert_int_equal(st.flooded, 100);
	nb_switch_fini(&sw);
}

static void removal_keeps_probe_runs_intact(void **state)
{
	struct nb_switch sw;
	uint32_t up, out;
	uint8_t src[6] = { 0x02, 0, 0, 0, 0, 0 };

	(void)state;
	/* many entries in a small table: long probe runs, then age half */
	assert_int_equal(nb_switch_init(&sw, 48, 10 * SEC), 0);
	assert_int_equal(nb_switch_port_add(&sw, NULL, &up), 0);
	for (int i = 0; i < 40; i++) {
		src[5] = (uint8_t)i;
		(void)nb_switch_forward(&sw, up, frame(BCAST, src), i % 2 ? SEC : 5 * SEC, &out);
	}
	assert_int_equal(nb_switch_age(&sw, 12 * SEC), 20);
	for (int i = 0; i < 40; i++) {
		src[5] = (uint8_t)i;
		assert_int_equal(nb_switch_lookup(&sw, src, &out), i % 2 == 0);
	}
	nb_switch_fini(&sw);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(uplink_is_port_zero_and_vifs_follow),
		T(source_seen_on_uplink_is_learned),
		T(frame_to_learned_mac_goes_to_its_port_only),
		T(frame_to_a_vif_mac_goes_to_that_vif),
		T(unknown_unicast_is_flooded),
		T(broadcast_is_flooded),
		T(multicast_is_flooded),
		T(vif_sending_another_source_is_dropped),
		T(uplink_cannot_take_a_vif_mac),
		T(learned_entry_ages_out),
		T(traffic_refreshes_an_entry),
		T(forwarding_ages_the_table_as_it_goes),
		T(frame_back_to_its_ingress_is_dropped),
		T(removed_port_loses_its_entries),
		T(second_vif_with_the_same_mac_is_refused),
		cmocka_unit_test(full_table_stops_learning_but_keeps_forwarding),
		cmocka_unit_test(removal_keeps_probe_runs_intact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
