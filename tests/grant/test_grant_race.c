/* SPDX-License-Identifier: MIT */
/*
 * Races between threads (run under TSan too): revoke against map, many
 * pins of one ref, grant/revoke from several threads, transfer against
 * the frontend withdrawing its offer. No timing assertions.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include <pvio/atomic.h>

#include "grant_test_util.h"

#define ROUNDS 20000

/* Wait politely: spin on the CPU, yield now and then (3 threads, 2 CPUs). */
static void relax(unsigned spin)
{
	if (spin % 1024 == 0)
		sched_yield();
	else
		pvio_cpu_relax();
}

struct race {
	struct gt_env *env;
	_Atomic pvio_grant_ref_t ref; /* current grant, or INVALID */
	_Atomic int held;             /* mappings the mappers hold */
	_Atomic int stop;
	_Atomic uint64_t maps, busy;
	_Atomic int bad;
	pthread_mutex_t mappers_lock;
};

/* Map the current ref, write to the page, unmap. */
static void *mapper(void *arg)
{
	struct race *r = arg;
	struct pvio_gnt_back *b = r->env->b;

	while (!atomic_load(&r->stop)) {
		pvio_grant_ref_t ref = atomic_load(&r->ref);
		unsigned char *page;
		uint32_t h;

		if (ref == PVIO_GNT_REF_INVALID) {
			sched_yield(); /* idle: give the revoker the CPU */
			continue;
		}
		if (pvio_gnt_map_one(b, FRONT_ID, ref, 0, (void **)&page, &h))
			continue;
		atomic_fetch_add(&r->held, 1);
		/*
		 * Plain writes: TSan flags them if a revoke overlaps a mapping.
		 * The mappers share the page writable, so they serialise among
		 * themselves; the frontend takes no part in this lock.
		 */
		pthread_mutex_lock(&r->mappers_lock);
		for (int k = 0; k < 64; k++) {
			page[k * 64]++;
			page[4095 - k]++;
		}
		pthread_mutex_unlock(&r->mappers_lock);
		atomic_fetch_add(&r->maps, 1);
		atomic_fetch_sub(&r->held, 1);
		if (pvio_gnt_unmap_one(b, h) != PVIO_GNTST_okay)
			atomic_store(&r->bad, 1);
		/* 3 threads on 2 CPUs: let the revoker run between mappings. */
		sched_yield();
	}
	return NULL;
}

static void revoke_succeeds_only_when_not_mapped(void **state)
{
	struct race r = { .env = *state, .mappers_lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t t[2];
	pvio_grant_ref_t ref;

	atomic_store(&r.ref, PVIO_GNT_REF_INVALID);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, mapper, &r), 0);
	for (int i = 0; i < ROUNDS / 2; i++) {
		uint32_t pfn = (uint32_t)i % 8;
		int rc;

		assert_int_equal(pvio_gnt_grant(r.env->f, BACK_ID, pfn, false, &ref), 0);
		atomic_store(&r.ref, ref);
		/* Pacing, not timing: on most rounds revoke while one is held. */
		for (unsigned spin = 1; i % 4 && atomic_load(&r.held) == 0; spin++)
			relax(spin);
		rc = pvio_gnt_revoke(r.env->f, ref);
		if (rc == -EBUSY) {
			/* Busy: tell the mappers to stop taking it, retry. */
			atomic_fetch_add(&r.busy, 1);
			atomic_store(&r.ref, PVIO_GNT_REF_INVALID);
			for (unsigned spin = 1; (rc = pvio_gnt_revoke(r.env->f, ref)) == -EBUSY; spin++)
				relax(spin);
		}
		assert_int_equal(rc, 0);
		/* No mapping outlives a successful revoke. */
		assert_int_equal(atomic_load(&r.held), 0);
		atomic_store(&r.ref, PVIO_GNT_REF_INVALID);
		/* The page is the frontend's alone again. */
		gt_front_page(r.env, pfn)[0] = 0;
		gt_front_page(r.env, pfn)[4095] = 0;
	}
	atomic_store(&r.stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&r.bad), 0);
	assert_int_equal(pvio_gnt_nr_mapped(r.env->b), 0);
	print_message("maps %lu, revokes refused while mapped %lu\n",
		      (unsigned long)atomic_load(&r.maps),
		      (unsigned long)atomic_load(&r.busy));
}

struct pinner {
	struct gt_env *env;
	pvio_grant_ref_t ref;
	int ro_every;
	int bad;
};

static void *pin_loop(void *arg)
{
	struct pinner *p = arg;

	for (int i = 0; i < ROUNDS; i++) {
		uint16_t fl = (i % p->ro_every) ? PVIO_GNTMAP_readonly : 0;
		void *page;
		uint32_t h[3];

		for (int k = 0; k < 3; k++)
			if (pvio_gnt_map_one(p->env->b, FRONT_ID, p->ref, fl, &page, &h[k]))
				p->bad++;
		for (int k = 0; k < 3; k++)
			if (pvio_gnt_unmap_one(p->env->b, h[k]))
				p->bad++;
	}
	return NULL;
}

static void concurrent_pins_of_one_ref_balance(void **state)
{
	struct gt_env *env = *state;
	struct pinner p[2];
	pthread_t t[2];
	pvio_grant_ref_t ref;
	uint32_t mfn = pvio_mach_pfn_to_mfn(env->m, FRONT_ID, 3);

	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 3, false, &ref), 0);
	for (int i = 0; i < 2; i++) {
		p[i] = (struct pinner){ .env = env, .ref = ref, .ro_every = 2 + i };
		assert_int_equal(pthread_create(&t[i], NULL, pin_loop, &p[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(p[i].bad, 0);
	}
	assert_int_equal(gt_flags(env, ref), PVIO_GTF_permit_access);
	assert_int_equal(pvio_frame_refs(gt_frame_word(env, mfn)), 0);
	struct pvio_mach_dom *d = pvio_mach_dom(env->m, FRONT_ID);
	uint32_t act = atomic_load(&d->act_frames[0]);
	uint32_t gnt = atomic_load(&d->gnt_frames[0]);
	assert_int_equal(pvio_frame_refs(gt_frame_word(env, act)), 0);
	assert_int_equal(pvio_frame_refs(gt_frame_word(env, gnt)), 0);
	assert_int_equal(atomic_load((_Atomic uint64_t *)pvio_mach_frame(env->m, act) + ref), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), 0);
}

static void *grant_loop(void *arg)
{
	struct gt_env *env = arg;
	pvio_grant_ref_t refs[16];

	for (int i = 0; i < ROUNDS / 4; i++) {
		for (int k = 0; k < 16; k++)
			if (pvio_gnt_grant(env->f, BACK_ID, (uint32_t)k, k & 1, &refs[k]))
				return (void *)1;
		for (int k = 0; k < 16; k++)
			if (pvio_gnt_revoke(env->f, refs[k]))
				return (void *)1;
	}
	return NULL;
}

static void grant_and_revoke_from_many_threads(void **state)
{
	struct gt_env *env = *state;
	pthread_t t[3];
	void *ret;
	uint32_t before = pvio_gnt_nr_free(env->f);

	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, grant_loop, env), 0);
	for (int i = 0; i < 3; i++) {
		pthread_join(t[i], &ret);
		assert_null(ret);
	}
	assert_int_equal(pvio_gnt_nr_free(env->f), before);
}

struct flip {
	struct gt_env *env;
	_Atomic pvio_grant_ref_t ref;
	_Atomic int stop;
	_Atomic uint64_t okay, tries;
};

static void *flipper(void *arg)
{
	struct flip *fl = arg;

	while (!atomic_load(&fl->stop)) {
		pvio_grant_ref_t ref = atomic_load(&fl->ref);
		struct pvio_gnt_transfer_op op = { .pfn = 5, .domid = FRONT_ID, .ref = ref };

		if (ref == PVIO_GNT_REF_INVALID) {
			sched_yield();
			continue;
		}
		pvio_gnt_transfer(fl->env->b, &op, 1);
		if (op.status == PVIO_GNTST_okay)
			atomic_fetch_add(&fl->okay, 1);
		atomic_fetch_add(&fl->tries, 1);
	}
	return NULL;
}

static void transfer_races_with_offer_withdrawal(void **state)
{
	struct flip fl = { .env = *state };
	struct pvio_mem_stats before, after;
	uint64_t arrived = 0;
	pthread_t t;

	pvio_mem_stats(fl.env->mem, &before);
	atomic_store(&fl.ref, PVIO_GNT_REF_INVALID);
	assert_int_equal(pthread_create(&t, NULL, flipper, &fl), 0);
	for (int i = 0; i < ROUNDS / 4; i++) {
		pvio_grant_ref_t ref;
		uint32_t mfn;
		int rc;

		uint64_t seen = atomic_load(&fl.tries);

		assert_int_equal(pvio_gnt_grant_transfer(fl.env->f, BACK_ID, 9, &ref), 0);
		atomic_store(&fl.ref, ref);
		/* Pacing: on odd rounds let the flipper try at least once. */
		for (unsigned spin = 1; i % 2 && atomic_load(&fl.tries) == seen; spin++)
			relax(spin);
		for (unsigned spin = 1; (rc = pvio_gnt_transfer_end(fl.env->f, ref, &mfn)) == -EBUSY; spin++)
			relax(spin);
		atomic_store(&fl.ref, PVIO_GNT_REF_INVALID);
		if (rc == 0) {
			assert_int_equal(pvio_mach_pfn_to_mfn(fl.env->m, FRONT_ID, 9), mfn);
			arrived++;
		} else {
			assert_int_equal(rc, -ENOENT);
		}
	}
	atomic_store(&fl.stop, 1);
	pthread_join(t, NULL);
	/* Every commit completed exactly once and was seen by the frontend. */
	assert_int_equal(arrived, atomic_load(&fl.okay));
	pvio_mem_stats(fl.env->mem, &after);
	assert_int_equal(after.nr_free, before.nr_free);
	assert_non_null(pvio_mach_pfn_ptr(fl.env->m, BACK_ID, 5));
	print_message("flips %lu of %d offers\n", (unsigned long)arrived, ROUNDS / 4);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, gt_setup, gt_teardown)
	const struct CMUnitTest tests[] = {
		T(revoke_succeeds_only_when_not_mapped),
		T(concurrent_pins_of_one_ref_balance),
		T(grant_and_revoke_from_many_threads),
		T(transfer_races_with_offer_withdrawal),
	};
	return cmocka_run_group_tests_name("grant_race", tests, NULL, NULL);
}
