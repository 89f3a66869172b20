/* SPDX-License-Identifier: MIT */
/*
 * struct pvio_evtchn_waiter_reg (<pvio/evtchn_waiter_reg.h>), the registry
 * of a driver's queue waiters: it hands out its range in order, up or
 * down, gives nothing past it, takes back what is put and hands it out
 * again, keeps handles apart, frees a handle's slot with its last waiter,
 * and two registries over disjoint ranges (blkback's and netback's) never
 * give the same waiter of one handle. The handles are never dereferenced,
 * so plain addresses stand in for them.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pvio/evtchn.h>
#include <pvio/evtchn_waiter_reg.h>

static char handles[PVIO_EVTCHN_WAITER_REG_HANDLES + 1];

/* The ranges blkback and netback take (blkback.c, netback/interface.c). */
#define BLK_FIRST 1u
#define BLK_LAST (PVIO_EVTCHN_NR_WAITERS / 2 - 1)
#define NET_FIRST (PVIO_EVTCHN_NR_WAITERS - 1)
#define NET_LAST (PVIO_EVTCHN_NR_WAITERS / 2)
/* Each taker thread asks for this many: four of them ask for more than
 * there are. */
#define TAKES 80

static const struct pvio_evtchn *H(unsigned i)
{
	return (const struct pvio_evtchn *)(void *)&handles[i];
}

static void it_hands_out_the_range_in_order_then_nothing(void **state)
{
	struct pvio_evtchn_waiter_reg up = PVIO_EVTCHN_WAITER_REG_INIT(BLK_FIRST, BLK_LAST);
	struct pvio_evtchn_waiter_reg down = PVIO_EVTCHN_WAITER_REG_INIT(NET_FIRST, NET_LAST);

	(void)state;
	for (uint32_t w = BLK_FIRST; w <= BLK_LAST; w++)
		assert_int_equal(pvio_evtchn_waiter_reg_get(&up, H(0)), w);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&up, H(0)), PVIO_EVTCHN_NO_WAITER);
	for (uint32_t w = NET_FIRST; w >= NET_LAST; w--)
		assert_int_equal(pvio_evtchn_waiter_reg_get(&down, H(0)), w);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&down, H(0)), PVIO_EVTCHN_NO_WAITER);
}

static void a_waiter_put_back_is_handed_out_again(void **state)
{
	struct pvio_evtchn_waiter_reg reg = PVIO_EVTCHN_WAITER_REG_INIT(1, 3);

	(void)state;
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(0)), 1);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(0)), 2);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(0)), 3);
	pvio_evtchn_waiter_reg_put(&reg, H(0), 2);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(0)), 2);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(0)), PVIO_EVTCHN_NO_WAITER);
	/* NO_WAITER (a queue that polls) and another handle's put change nothing */
	pvio_evtchn_waiter_reg_put(&reg, H(0), PVIO_EVTCHN_NO_WAITER);
	pvio_evtchn_waiter_reg_put(&reg, H(1), 3);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(0)), PVIO_EVTCHN_NO_WAITER);
}

static void each_handle_has_the_whole_range(void **state)
{
	struct pvio_evtchn_waiter_reg reg = PVIO_EVTCHN_WAITER_REG_INIT(1, 2);

	(void)state;
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(0)), 1);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(1)), 1);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(0)), 2);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(1)), 2);
	pvio_evtchn_waiter_reg_put(&reg, H(0), 1);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(1)), PVIO_EVTCHN_NO_WAITER);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(0)), 1);
}

static void a_handle_past_the_table_gets_none_until_a_slot_frees(void **state)
{
	struct pvio_evtchn_waiter_reg reg = PVIO_EVTCHN_WAITER_REG_INIT(BLK_FIRST, BLK_LAST);
	const unsigned n = PVIO_EVTCHN_WAITER_REG_HANDLES;

	(void)state;
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(i)), 1);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(n)), PVIO_EVTCHN_NO_WAITER);
	/* handle 3's last waiter back: its slot is free for the new handle */
	pvio_evtchn_waiter_reg_put(&reg, H(3), 1);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(n)), 1);
	assert_int_equal(pvio_evtchn_waiter_reg_get(&reg, H(3)), PVIO_EVTCHN_NO_WAITER);
}

/* blkback's and netback's registries on one handle, taken from many
 * threads at once: every waiter handed out is handed out once. */
static struct pvio_evtchn_waiter_reg blk_reg = PVIO_EVTCHN_WAITER_REG_INIT(BLK_FIRST, BLK_LAST);
static struct pvio_evtchn_waiter_reg net_reg = PVIO_EVTCHN_WAITER_REG_INIT(NET_FIRST, NET_LAST);

struct taker {
	struct pvio_evtchn_waiter_reg *reg;
	uint32_t got[TAKES];
};

static void *take_all(void *arg)
{
	struct taker *t = arg;

	for (int i = 0; i < TAKES; i++)
		t->got[i] = pvio_evtchn_waiter_reg_get(t->reg, H(0));
	return NULL;
}

static void two_registries_on_one_handle_never_give_one_waiter_twice(void **state)
{
	struct taker t[4] = { { &blk_reg, { 0 } }, { &net_reg, { 0 } },
			      { &blk_reg, { 0 } }, { &net_reg, { 0 } } };
	pthread_t th[4];
	unsigned seen[PVIO_EVTCHN_NR_WAITERS] = { 0 }, none = 0;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, take_all, &t[i]), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < 4; i++) {
		for (int k = 0; k < TAKES; k++) {
			uint32_t w = t[i].got[k];

			if (w == PVIO_EVTCHN_NO_WAITER) {
				none++;
				continue;
			}
			assert_in_range(w, 1, PVIO_EVTCHN_NR_WAITERS - 1);
			assert_int_equal(w <= BLK_LAST, t[i].reg == &blk_reg);
			seen[w]++;
		}
	}
	assert_int_equal(seen[0], 0);
	for (uint32_t w = 1; w < PVIO_EVTCHN_NR_WAITERS; w++)
		assert_int_equal(seen[w], 1);
	assert_int_equal(none, 4 * TAKES - (PVIO_EVTCHN_NR_WAITERS - 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(it_hands_out_the_range_in_order_then_nothing),
		cmocka_unit_test(a_waiter_put_back_is_handed_out_again),
		cmocka_unit_test(each_handle_has_the_whole_range),
		cmocka_unit_test(a_handle_past_the_table_gets_none_until_a_slot_frees),
		cmocka_unit_test(two_registries_on_one_handle_never_give_one_waiter_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
