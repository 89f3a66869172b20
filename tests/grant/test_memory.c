/* SPDX-License-Identifier: MIT */
/* Machine memory on the host: pool, allocator, P2M, domain life cycle. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvio/host.h>

#include "grant_test_util.h"

static void create_rejects_bad_geometry(void **state)
{
	struct pvio_mem *mem;
	struct pvio_mem_config one = { .nr_frames = 1 };
	struct pvio_mem_config doms = { .nr_frames = 16, .max_domains = 0x7ff1 };

	(void)state;
	assert_int_equal(pvio_mem_create(&one, &mem), -EINVAL);
	assert_int_equal(pvio_mem_create(&doms, &mem), -EINVAL);
	assert_int_equal(pvio_mem_create(NULL, NULL), -EINVAL);
}

static void domain_pages_are_distinct_zeroed_frames(void **state)
{
	struct pvio_mem_config cfg = { .nr_frames = 64, .max_domains = 4 };
	struct pvio_mem *mem;
	const struct pvio_machine *m;
	uint32_t seen[16];

	(void)state;
	assert_int_equal(pvio_mem_create(&cfg, &mem), 0);
	m = pvio_mem_machine(mem);
	assert_int_equal(pvio_mem_domain_create(mem, 1, 16, 0), 0);
	for (uint32_t pfn = 0; pfn < 16; pfn++) {
		unsigned char *p = pvio_mach_pfn_ptr(m, 1, pfn);
		uint32_t mfn = pvio_mach_pfn_to_mfn(m, 1, pfn);

		assert_non_null(p);
		assert_int_not_equal(mfn, PVIO_MFN_INVALID);
		for (uint32_t i = 0; i < pfn; i++)
			assert_int_not_equal(seen[i], mfn);
		seen[pfn] = mfn;
		assert_int_equal(p[0] | p[4095], 0);
		assert_int_equal(pvio_frame_owner(atomic_load(&m->frames[mfn])), 1);
	}
	assert_null(pvio_mach_pfn_ptr(m, 1, 16));  /* hole */
	assert_null(pvio_mach_pfn_ptr(m, 9, 0));   /* no such domid */
	assert_null(pvio_mach_pfn_ptr(m, 1, 1u << 30));
	pvio_mem_close(mem);
}

static void domain_create_rejects_duplicates_and_oversize(void **state)
{
	struct pvio_mem_config cfg = { .nr_frames = 32, .max_domains = 4, .max_pages = 8 };
	struct pvio_mem *mem;

	(void)state;
	assert_int_equal(pvio_mem_create(&cfg, &mem), 0);
	assert_int_equal(pvio_mem_domain_create(mem, 0, 8, 1), 0);
	assert_int_equal(pvio_mem_domain_create(mem, 0, 1, 1), -EEXIST);
	assert_int_equal(pvio_mem_domain_create(mem, 1, 9, 1), -EINVAL);
	assert_int_equal(pvio_mem_domain_create(mem, 4, 1, 1), -EINVAL);
	assert_int_equal(pvio_mem_domain_create(mem, 1, 1, PVIO_GNT_FRAMES_LIMIT + 1),
			 -EINVAL);
	assert_int_equal(pvio_mem_domain_destroy(mem, 2), -ESRCH);
	pvio_mem_close(mem);
}

static void pool_exhaustion_is_enomem_and_rolls_back(void **state)
{
	struct pvio_mem_config cfg = { .nr_frames = 16, .max_domains = 4 };
	struct pvio_mem *mem;
	struct pvio_mem_stats st;
	uint32_t mfn;

	(void)state;
	assert_int_equal(pvio_mem_create(&cfg, &mem), 0);
	assert_int_equal(pvio_mem_domain_create(mem, 0, 10, 1), 0);
	assert_int_equal(pvio_mem_domain_create(mem, 1, 10, 1), -ENOMEM);
	pvio_mem_stats(mem, &st);
	assert_int_equal(st.nr_free, 5);
	assert_int_equal(st.nr_owned, 10);
	for (int i = 0; i < 5; i++)
		assert_int_equal(pvio_mem_frame_alloc(mem, 1, &mfn), 0);
	assert_int_equal(pvio_mem_frame_alloc(mem, 1, &mfn), -ENOMEM);
	assert_int_equal(pvio_mem_frame_free(mem, 0, mfn), -EINVAL); /* not 0's */
	assert_int_equal(pvio_mem_frame_free(mem, 1, mfn), 0);
	assert_int_equal(pvio_mem_frame_free(mem, 1, mfn), -EINVAL); /* twice */
	assert_int_equal(pvio_mem_domain_destroy(mem, 0), 0);
	assert_int_equal(pvio_mem_domain_create(mem, 1, 10, 1), 0);
	pvio_mem_close(mem);
}

static void destroy_returns_every_frame(void **state)
{
	struct pvio_mem_config cfg = { .nr_frames = 256, .max_domains = 4 };
	struct pvio_mem *mem;
	struct pvio_mem_stats st;
	struct pvio_gnt_front *f;
	pvio_grant_ref_t ref;

	(void)state;
	assert_int_equal(pvio_mem_create(&cfg, &mem), 0);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(pvio_mem_domain_create(mem, 1, 100, 2), 0);
		assert_int_equal(pvio_gnt_front_create(pvio_mem_machine(mem), 1, &f), 0);
		assert_int_equal(pvio_gnt_grant(f, 0, 3, false, &ref), 0);
		assert_int_equal(pvio_mem_domain_destroy(mem, 1), 0);
		pvio_gnt_front_destroy(f);
		pvio_mem_stats(mem, &st);
		assert_int_equal(st.nr_free, 255);
		assert_int_equal(st.nr_owned + st.nr_orphan, 0);
	}
	pvio_mem_close(mem);
}

static void attach_by_fds_sees_the_same_frames(void **state)
{
	struct pvio_mem_config cfg = { .nr_frames = 64, .max_domains = 4 };
	struct pvio_mem *mem, *view;
	int pool_fd, hv_fd;

	(void)state;
	assert_int_equal(pvio_mem_create(&cfg, &mem), 0);
	assert_int_equal(pvio_mem_domain_create(mem, 2, 4, 1), 0);
	pvio_mem_fds(mem, &pool_fd, &hv_fd);
	assert_int_equal(pvio_mem_attach(pool_fd, hv_fd, &view), 0);
	unsigned char *a = pvio_mach_pfn_ptr(pvio_mem_machine(mem), 2, 3);
	unsigned char *b = pvio_mach_pfn_ptr(pvio_mem_machine(view), 2, 3);

	/* Two mappings of one frame; under TSan the process keeps one. */
	if (PVIO_SHM_ONE_VIEW)
		assert_ptr_equal(a, b);
	else
		assert_ptr_not_equal(a, b);
	a[17] = 0x5a;
	assert_int_equal(b[17], 0x5a);
	assert_int_equal(pvio_mem_machine(view)->nr_frames, 64);
	pvio_mem_close(view);
	pvio_mem_close(mem);
}

static void frames_map_side_by_side(void **state)
{
	struct pvio_mem_config cfg = { .nr_frames = 64, .max_domains = 4 };
	const struct pvio_machine *m;
	struct pvio_mem *mem;
	uint32_t mfns[3];
	unsigned char *va;

	(void)state;
	assert_int_equal(pvio_mem_create(&cfg, &mem), 0);
	m = pvio_mem_machine(mem);
	/* Consecutive frames, then frames out of order. */
	for (int round = 0; round < 2; round++) {
		uint32_t order[3] = { 5, 6, 7 };

		if (round)
			order[0] = 9, order[1] = 3, order[2] = 40;
		for (int i = 0; i < 3; i++) {
			mfns[i] = order[i];
			m->pool[((size_t)mfns[i] << PVIO_PAGE_SHIFT) + 100] =
				(unsigned char)(0x10 + i + 3 * round);
		}
		assert_int_equal(pvio_mem_map_frames(mem, mfns, 3, (void **)&va), 0);
		for (int i = 0; i < 3; i++)
			assert_int_equal(va[((size_t)i << PVIO_PAGE_SHIFT) + 100],
					 0x10 + i + 3 * round);
		va[(2u << PVIO_PAGE_SHIFT) + 7] = 0x77; /* written through */
		assert_int_equal(m->pool[((size_t)mfns[2] << PVIO_PAGE_SHIFT) + 7], 0x77);
		bool pooled = va >= m->pool &&
			      va < m->pool + ((size_t)m->nr_frames << PVIO_PAGE_SHIFT);
		assert_int_equal(pooled, PVIO_SHM_ONE_VIEW && round == 0);
		assert_int_equal(pvio_mem_unmap_frames(mem, va, 3), 0);
	}
	/* A view of the pool is not the caller's to unmap outside TSan. */
	assert_int_equal(pvio_mem_unmap_frames(mem, m->pool + PVIO_PAGE_SIZE, 1),
			 PVIO_SHM_ONE_VIEW ? 0 : -EINVAL);
	mfns[0] = 0; /* frame 0 is Xen's */
	assert_int_equal(pvio_mem_map_frames(mem, mfns, 1, (void **)&va), -EINVAL);
	mfns[0] = 64;
	assert_int_equal(pvio_mem_map_frames(mem, mfns, 1, (void **)&va), -EINVAL);
	assert_int_equal(pvio_mem_map_frames(mem, mfns, 0, (void **)&va), -EINVAL);
	assert_int_equal(pvio_mem_unmap_frames(mem, m->pool + 1, 1), -EINVAL);
	pvio_mem_close(mem);
}

static void attach_rejects_what_is_not_machine_memory(void **state)
{
	struct pvio_mem *mem;
	int fd = memfd_create("junk", 0);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	assert_int_equal(pvio_mem_attach(fd, fd, &mem), -EINVAL);
	assert_int_equal(pvio_mem_attach(-1, fd, &mem), -EINVAL);
	close(fd);
}

/* A machine of 16 frames with one of them, *mfn, allocated to domain 3:
 * what the frame reference tests start from. */
static const struct pvio_machine *one_frame_of_domain_3(struct pvio_mem **mem, uint32_t *mfn)
{
	struct pvio_mem_config cfg = { .nr_frames = 16, .max_domains = 4 };

	assert_int_equal(pvio_mem_create(&cfg, mem), 0);
	assert_int_equal(pvio_mem_frame_alloc(*mem, 3, mfn), 0);
	return pvio_mem_machine(*mem);
}

static void orphan_frame_is_freed_by_last_put(void **state)
{
	struct pvio_mem *mem;
	uint32_t mfn;
	const struct pvio_machine *m = one_frame_of_domain_3(&mem, &mfn);

	(void)state;
	assert_true(pvio_frame_get(m, mfn, 3));
	assert_false(pvio_frame_get(m, mfn, 2));     /* wrong owner */
	assert_false(pvio_frame_disown(m, mfn, 3));  /* referenced: orphaned */
	assert_int_equal(pvio_frame_state(atomic_load(&m->frames[mfn])), PVIO_FRAME_ORPHAN);
	assert_false(pvio_frame_get(m, mfn, 3));     /* no new references */
	assert_false(pvio_frame_move(m, mfn, 3, 4));
	assert_true(pvio_frame_put(m, mfn));         /* last one frees */
	assert_int_equal(atomic_load(&m->frames[mfn]), 0);
	assert_false(pvio_frame_put(m, mfn));        /* nothing to drop */
	assert_false(pvio_frame_get(m, 0, PVIO_DOMID_XEN)); /* mfn 0 reserved */
	pvio_mem_close(mem);
}

static void references_move_n_at_a_time(void **state)
{
	struct pvio_mem *mem;
	uint32_t mfn;
	const struct pvio_machine *m = one_frame_of_domain_3(&mem, &mfn);

	(void)state;
	assert_true(pvio_frame_get_n(m, mfn, 3, 5));
	assert_false(pvio_frame_get_n(m, mfn, 2, 1));          /* wrong owner */
	assert_false(pvio_frame_get_n(m, mfn, 3, UINT32_MAX)); /* would overflow */
	assert_int_equal(pvio_frame_refs(atomic_load(&m->frames[mfn])), 5);
	assert_false(pvio_frame_put_n(m, mfn, 6));             /* more than held */
	assert_false(pvio_frame_put_n(m, mfn, 0));
	assert_int_equal(pvio_frame_refs(atomic_load(&m->frames[mfn])), 5);
	assert_false(pvio_frame_put_n(m, mfn, 3));
	assert_false(pvio_frame_disown(m, mfn, 3));            /* 2 left: orphaned */
	assert_true(pvio_frame_put_n(m, mfn, 2));              /* the last two free it */
	assert_int_equal(atomic_load(&m->frames[mfn]), 0);
	pvio_mem_close(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(create_rejects_bad_geometry),
		cmocka_unit_test(domain_pages_are_distinct_zeroed_frames),
		cmocka_unit_test(domain_create_rejects_duplicates_and_oversize),
		cmocka_unit_test(pool_exhaustion_is_enomem_and_rolls_back),
		cmocka_unit_test(destroy_returns_every_frame),
		cmocka_unit_test(attach_by_fds_sees_the_same_frames),
		cmocka_unit_test(frames_map_side_by_side),
		cmocka_unit_test(attach_rejects_what_is_not_machine_memory),
		cmocka_unit_test(orphan_frame_is_freed_by_last_put),
		cmocka_unit_test(references_move_n_at_a_time),
	};
	return cmocka_run_group_tests_name("memory", tests, NULL, NULL);
}
