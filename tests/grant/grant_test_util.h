/* SPDX-License-Identifier: MIT */
/* Shared set-up for tests/grant: machine memory, a frontend, a backend. */
#ifndef GRANT_TEST_UTIL_H
#define GRANT_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <pvio/grant.h>
#include <pvio/host_memory.h>

#define BACK_ID  ((pvio_domid_t)0) /* driver domain */
#define FRONT_ID ((pvio_domid_t)1)
#define OTHER_ID ((pvio_domid_t)2)

struct gt_env {
	struct pvio_mem *mem;
	const struct pvio_machine *m;
	struct pvio_gnt_front *f;    /* FRONT_ID's */
	struct pvio_gnt_back *b;     /* BACK_ID's */
	struct pvio_gnt_back *other; /* OTHER_ID's */
};

/* Front and back with pages each, a third domain; grant table up to max. */
static inline struct gt_env *gt_env_new(uint32_t nr_frames, uint32_t pages,
					uint32_t max_gnt_frames)
{
	struct gt_env *env = calloc(1, sizeof(*env));
	struct pvio_mem_config cfg = { .nr_frames = nr_frames, .max_domains = 8 };

	assert_non_null(env);
	assert_int_equal(pvio_mem_create(&cfg, &env->mem), 0);
	env->m = pvio_mem_machine(env->mem);
	assert_int_equal(pvio_mem_domain_create(env->mem, BACK_ID, pages, 4), 0);
	assert_int_equal(pvio_mem_domain_create(env->mem, FRONT_ID, pages,
						max_gnt_frames), 0);
	assert_int_equal(pvio_mem_domain_create(env->mem, OTHER_ID, pages, 4), 0);
	assert_int_equal(pvio_gnt_front_create(env->m, FRONT_ID, &env->f), 0);
	assert_int_equal(pvio_gnt_back_create(env->m, BACK_ID, 4096, &env->b), 0);
	assert_int_equal(pvio_gnt_back_create(env->m, OTHER_ID, 64, &env->other), 0);
	return env;
}

static inline int gt_setup(void **state)
{
	*state = gt_env_new(4096, 64, 4);
	return 0;
}

static inline int gt_teardown(void **state)
{
	struct gt_env *env = *state;

	pvio_gnt_back_destroy(env->other);
	pvio_gnt_back_destroy(env->b);
	pvio_gnt_front_destroy(env->f);
	pvio_mem_close(env->mem);
	free(env);
	return 0;
}

/* The frontend's own view of its page pfn. */
static inline unsigned char *gt_front_page(struct gt_env *env, uint32_t pfn)
{
	return pvio_mach_pfn_ptr(env->m, FRONT_ID, pfn);
}

static inline struct pvio_grant_entry_v1 *gt_entry(struct gt_env *env,
						   pvio_grant_ref_t ref)
{
	return &env->f->table[ref / PVIO_GNT_PER_FRAME][ref % PVIO_GNT_PER_FRAME];
}

static inline uint16_t gt_flags(struct gt_env *env, pvio_grant_ref_t ref)
{
	return (uint16_t)atomic_load(&gt_entry(env, ref)->hdr);
}

static inline uint64_t gt_frame_word(struct gt_env *env, uint32_t mfn)
{
	return atomic_load(&env->m->frames[mfn]);
}

#endif /* GRANT_TEST_UTIL_H */
