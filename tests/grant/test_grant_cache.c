/* SPDX-License-Identifier: MIT */
/* The persistent-grant cache: hits, LRU eviction, idle purge, in-use. */
#include <errno.h>

#include "grant_test_util.h"

static pvio_grant_ref_t grant(struct gt_env *env, uint32_t pfn, bool ro)
{
	pvio_grant_ref_t ref;

	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, pfn, ro, &ref), 0);
	return ref;
}

static void second_get_is_a_hit_on_the_same_mapping(void **state)
{
	struct gt_env *env = *state;
	struct pvio_gnt_cache *c;
	struct pvio_gnt_cache_entry *e1, *e2;
	struct pvio_gnt_cache_stats st;
	pvio_grant_ref_t ref = grant(env, 3, false);

	assert_int_equal(pvio_gnt_cache_create(env->b, 0, &c), 0);
	assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, ref, 0, 1, &e1), 0);
	assert_ptr_equal(e1->addr, gt_front_page(env, 3));
	pvio_gnt_cache_put(c, e1);
	assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, ref, 0, 2, &e2), 0);
	assert_ptr_equal(e2, e1);
	pvio_gnt_cache_put(c, e2);
	pvio_gnt_cache_stats(c, &st);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.nr_entries, 1);
	assert_int_equal(st.cap, PVIO_GNT_CACHE_DEFAULT_CAP);
	/* Persistent: the frontend cannot revoke until the cache lets go. */
	assert_int_equal(pvio_gnt_revoke(env->f, ref), -EBUSY);
	assert_int_equal(pvio_gnt_cache_flush(c), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), 0);
	pvio_gnt_cache_destroy(c);
}

static void least_recently_used_is_evicted_at_cap(void **state)
{
	struct gt_env *env = *state;
	struct pvio_gnt_cache *c;
	struct pvio_gnt_cache_entry *e;
	struct pvio_gnt_cache_stats st;
	pvio_grant_ref_t r[5];

	for (int i = 0; i < 5; i++)
		r[i] = grant(env, (uint32_t)i, false);
	assert_int_equal(pvio_gnt_cache_create(env->b, 4, &c), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, r[i], 0, (uint64_t)i, &e), 0);
		pvio_gnt_cache_put(c, e);
	}
	/* Touch r[0] so r[1] is the least recently used. */
	assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, r[0], 0, 10, &e), 0);
	pvio_gnt_cache_put(c, e);
	assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, r[4], 0, 11, &e), 0);
	pvio_gnt_cache_put(c, e);
	pvio_gnt_cache_stats(c, &st);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.nr_entries, 4);
	assert_int_equal(pvio_gnt_revoke(env->f, r[1]), 0);      /* unmapped */
	assert_int_equal(pvio_gnt_revoke(env->f, r[0]), -EBUSY); /* kept */
	pvio_gnt_cache_flush(c);
	pvio_gnt_cache_destroy(c);
}

static void entries_in_use_are_never_evicted(void **state)
{
	struct gt_env *env = *state;
	struct pvio_gnt_cache *c;
	struct pvio_gnt_cache_entry *e[3];

	assert_int_equal(pvio_gnt_cache_create(env->b, 2, &c), 0);
	assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, grant(env, 1, false), 0, 1, &e[0]), 0);
	assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, grant(env, 2, false), 0, 2, &e[1]), 0);
	assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, grant(env, 3, false), 0, 3, &e[2]),
			 -ENOSPC);
	assert_int_equal(pvio_gnt_cache_flush(c), 2); /* both in use */
	pvio_gnt_cache_put(c, e[0]);
	assert_int_equal(pvio_gnt_cache_flush(c), 1);
	pvio_gnt_cache_put(c, e[1]);
	assert_int_equal(pvio_gnt_cache_flush(c), 0);
	pvio_gnt_cache_destroy(c);
}

static void purge_unmaps_only_idle_entries(void **state)
{
	struct gt_env *env = *state;
	struct pvio_gnt_cache *c;
	struct pvio_gnt_cache_entry *e;
	struct pvio_gnt_cache_stats st;
	pvio_grant_ref_t r[4];

	assert_int_equal(pvio_gnt_cache_create(env->b, 8, &c), 0);
	for (int i = 0; i < 4; i++) {
		r[i] = grant(env, (uint32_t)i, false);
		assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, r[i], 0,
						    100 * (uint64_t)i, &e), 0);
		if (i != 0)
			pvio_gnt_cache_put(c, e); /* r[0] stays in use */
	}
	/* At 300 with idle 150: r[0] (in use), r[1] (t=100) idle; r[2], r[3] not. */
	assert_int_equal(pvio_gnt_cache_purge(c, 300, 150), 1);
	pvio_gnt_cache_stats(c, &st);
	assert_int_equal(st.purged, 1);
	assert_int_equal(st.nr_entries, 3);
	assert_int_equal(pvio_gnt_revoke(env->f, r[1]), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, r[0]), -EBUSY);
	assert_int_equal(pvio_gnt_revoke(env->f, r[2]), -EBUSY);
	pvio_gnt_cache_put(c, e);
	pvio_gnt_cache_flush(c);
	pvio_gnt_cache_destroy(c);
}

static void map_errors_come_back_as_errno(void **state)
{
	struct gt_env *env = *state;
	struct pvio_gnt_cache *c;
	struct pvio_gnt_cache_entry *e;
	pvio_grant_ref_t ro = grant(env, 1, true);

	assert_int_equal(pvio_gnt_cache_create(env->b, 4, &c), 0);
	assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, 300, 0, 1, &e), -ENOENT);
	assert_int_equal(pvio_gnt_cache_get(c, 6, 300, 0, 1, &e), -ESRCH);
	assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, ro, 0, 1, &e), -EACCES);
	assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, ro, PVIO_GNTMAP_readonly, 1, &e), 0);
	pvio_gnt_cache_put(c, e);
	/* Cached read-only; a writer is refused rather than given it. */
	assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, ro, 0, 1, &e), -EACCES);
	pvio_gnt_cache_flush(c);
	pvio_gnt_cache_destroy(c);
}

static void many_refs_hash_and_evict_consistently(void **state)
{
	struct gt_env *env = *state;
	struct pvio_gnt_cache *c;
	struct pvio_gnt_cache_entry *e;
	static pvio_grant_ref_t r[1500];
	struct pvio_gnt_cache_stats st;

	for (int i = 0; i < 1500; i++)
		r[i] = grant(env, (uint32_t)i % 64, false);
	assert_int_equal(pvio_gnt_cache_create(env->b, 0, &c), 0);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 1500; i++) {
			assert_int_equal(pvio_gnt_cache_get(c, FRONT_ID, r[i], 0,
							    (uint64_t)i, &e), 0);
			assert_int_equal(e->ref, r[i]);
			pvio_gnt_cache_put(c, e);
		}
	pvio_gnt_cache_stats(c, &st);
	assert_int_equal(st.nr_entries, PVIO_GNT_CACHE_DEFAULT_CAP);
	assert_int_equal(st.hits + st.misses, 3000);
	assert_int_equal(st.evictions, st.misses - PVIO_GNT_CACHE_DEFAULT_CAP);
	assert_int_equal(pvio_gnt_nr_mapped(env->b), PVIO_GNT_CACHE_DEFAULT_CAP);
	assert_int_equal(pvio_gnt_cache_flush(c), 0);
	assert_int_equal(pvio_gnt_nr_mapped(env->b), 0);
	pvio_gnt_cache_destroy(c);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, gt_setup, gt_teardown)
	const struct CMUnitTest tests[] = {
		T(second_get_is_a_hit_on_the_same_mapping),
		T(least_recently_used_is_evicted_at_cap),
		T(entries_in_use_are_never_evicted),
		T(purge_unmaps_only_idle_entries),
		T(map_errors_come_back_as_errno),
		T(many_refs_hash_and_evict_consistently),
	};
	return cmocka_run_group_tests_name("grant_cache", tests, NULL, NULL);
}
