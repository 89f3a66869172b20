/* SPDX-License-Identifier: MIT */
/*
 * Domains as processes. The parent plays the toolstack and the backend
 * domain; a forked child is the frontend domain, which attaches to machine
 * memory through fds passed with SCM_RIGHTS (as hostd will), grants pages
 * and checks what the backend did to them. Also: the granting process is
 * SIGKILLed while the backend holds a mapping; the mapping process is
 * SIGKILLed while mapped, or in the middle of map/unmap, and the
 * toolstack's destroy of its domain releases its pins.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "grant_test_util.h"

enum { NR_REFS = 8, REF_RW0 = 0, REF_RW1 = 1, REF_RO = 4, REF_XFER = 5, REF_BIG = 6 };

static int send_fds(int sock, int fd0, int fd1)
{
	char byte = 'F';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union { char buf[CMSG_SPACE(2 * sizeof(int))]; struct cmsghdr align; } u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	int fds[2] = { fd0, fd1 };

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -errno;
}

static int recv_fds(int sock, int *fd0, int *fd1)
{
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union { char buf[CMSG_SPACE(2 * sizeof(int))]; struct cmsghdr align; } u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c;
	int fds[2];

	if (recvmsg(sock, &msg, 0) != 1)
		return -EIO;
	c = CMSG_FIRSTHDR(&msg);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -EIO;
	memcpy(fds, CMSG_DATA(c), sizeof(fds));
	*fd0 = fds[0];
	*fd1 = fds[1];
	return 0;
}

static int xread(int fd, void *buf, size_t n)
{
	return read(fd, buf, n) == (ssize_t)n ? 0 : -1;
}

static int xwrite(int fd, const void *buf, size_t n)
{
	return write(fd, buf, n) == (ssize_t)n ? 0 : -1;
}

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "front: %s failed (line %d)\n", \
				#c, __LINE__); _exit(1); } } while (0)

/* The frontend domain: a child process that attached by fds. */
static void front_main(int sock)
{
	struct pvio_mem *mem;
	const struct pvio_machine *m;
	struct pvio_gnt_front *f;
	pvio_grant_ref_t refs[NR_REFS];
	int pool_fd, hv_fd;
	char done;
	uint32_t mfn;

	CHECK(recv_fds(sock, &pool_fd, &hv_fd) == 0);
	CHECK(pvio_mem_attach(pool_fd, hv_fd, &mem) == 0);
	close(pool_fd);
	close(hv_fd);
	m = pvio_mem_machine(mem);
	CHECK(pvio_gnt_front_create(m, FRONT_ID, &f) == 0);
	for (uint32_t pfn = 0; pfn < 8; pfn++)
		memset(pvio_mach_pfn_ptr(m, FRONT_ID, pfn), 0x10 + (int)pfn, 4096);
	CHECK(pvio_gnt_grant(f, BACK_ID, 0, false, &refs[REF_RW0]) == 0);
	CHECK(pvio_gnt_grant(f, BACK_ID, 1, false, &refs[REF_RW1]) == 0);
	CHECK(pvio_gnt_grant(f, BACK_ID, 2, false, &refs[2]) == 0);
	CHECK(pvio_gnt_grant(f, BACK_ID, 3, false, &refs[3]) == 0);
	CHECK(pvio_gnt_grant(f, BACK_ID, 4, true, &refs[REF_RO]) == 0);
	CHECK(pvio_gnt_grant_transfer(f, BACK_ID, 10, &refs[REF_XFER]) == 0);
	refs[REF_BIG] = 7; /* a reserved, never-granted ref */
	refs[7] = 0;
	CHECK(xwrite(sock, refs, sizeof(refs)) == 0);
	CHECK(xread(sock, &done, 1) == 0);

	unsigned char *p0 = pvio_mach_pfn_ptr(m, FRONT_ID, 0);
	unsigned char *p1 = pvio_mach_pfn_ptr(m, FRONT_ID, 1);
	CHECK(p0[0] == 0xee && p0[1] == 0x10);        /* written through a map */
	for (int i = 0; i < 4096; i++)
		CHECK(p1[i] == 0xc1);                   /* grant copy into us */
	CHECK(pvio_gnt_transfer_query(f, refs[REF_XFER], &mfn) == 0);
	CHECK(pvio_mach_pfn_to_mfn(m, FRONT_ID, 10) == mfn); /* re-read P2M */
	unsigned char *p10 = pvio_mach_pfn_ptr(m, FRONT_ID, 10);
	for (int i = 0; i < 4096; i++)
		CHECK(p10[i] == 0xb5);                  /* flipped in, not copied */
	CHECK(pvio_gnt_transfer_end(f, refs[REF_XFER], &mfn) == 0);
	for (int i = 0; i < 5; i++)
		CHECK(pvio_gnt_revoke(f, refs[i]) == 0); /* all unmapped */
	pvio_gnt_front_destroy(f);
	pvio_mem_close(mem);
	_exit(0);
}

static void frontend_process_grants_backend_maps_copies_and_flips(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t refs[NR_REFS];
	int sv[2], pool_fd, hv_fd, status;
	pid_t pid;

	/* The fixture's in-process frontend state is not used here. */
	pvio_gnt_front_destroy(env->f);
	env->f = NULL;
	assert_int_equal(pvio_mem_domain_destroy(env->mem, FRONT_ID), 0);
	assert_int_equal(pvio_mem_domain_create(env->mem, FRONT_ID, 64, 4), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(sv[0]);
		front_main(sv[1]);
	}
	close(sv[1]);
	pvio_mem_fds(env->mem, &pool_fd, &hv_fd);
	assert_int_equal(send_fds(sv[0], pool_fd, hv_fd), 0);
	assert_int_equal(xread(sv[0], refs, sizeof(refs)), 0);

	/* map, check, write */
	unsigned char *page;
	uint32_t h;
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, refs[REF_RW0], 0,
					  (void **)&page, &h), PVIO_GNTST_okay);
	assert_int_equal(page[4095], 0x10);
	page[0] = 0xee;
	assert_int_equal(pvio_gnt_unmap_one(env->b, h), PVIO_GNTST_okay);

	/* batch map of 4, read-only map, errors */
	struct pvio_gnt_map_op ops[6];
	for (int i = 0; i < 4; i++)
		ops[i] = (struct pvio_gnt_map_op){ .ref = refs[i], .dom = FRONT_ID,
						   .flags = PVIO_GNTMAP_readonly };
	ops[4] = (struct pvio_gnt_map_op){ .ref = refs[REF_RO], .dom = FRONT_ID };
	ops[5] = (struct pvio_gnt_map_op){ .ref = refs[REF_BIG], .dom = FRONT_ID };
	assert_int_equal(pvio_gnt_map(env->b, ops, 6), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(ops[i].status, PVIO_GNTST_okay);
		assert_int_equal(((unsigned char *)ops[i].addr)[100], 0x10 + i);
	}
	assert_int_equal(ops[4].status, PVIO_GNTST_permission_denied);
	assert_int_equal(ops[5].status, PVIO_GNTST_bad_gntref);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pvio_gnt_unmap_one(env->b, ops[i].handle), 0);

	/* copy: local page -> granted page 1; granted r/o page 4 -> local */
	memset(pvio_mach_pfn_ptr(env->m, BACK_ID, 2), 0xc1, 4096);
	struct pvio_gnt_copy_op cp[2] = {
		{ .source = { .u.pfn = 2, .domid = PVIO_DOMID_SELF },
		  .dest = { .u.ref = refs[REF_RW1], .domid = FRONT_ID },
		  .len = 4096, .flags = PVIO_GNTCOPY_dest_gref },
		{ .source = { .u.ref = refs[REF_RO], .domid = FRONT_ID },
		  .dest = { .u.pfn = 3, .domid = BACK_ID },
		  .len = 4096, .flags = PVIO_GNTCOPY_source_gref },
	};
	assert_int_equal(pvio_gnt_copy(env->b, cp, 2), 0);
	assert_int_equal(cp[0].status, PVIO_GNTST_okay);
	assert_int_equal(cp[1].status, PVIO_GNTST_okay);
	assert_int_equal(((unsigned char *)pvio_mach_pfn_ptr(env->m, BACK_ID, 3))[7], 0x14);

	/* flip our pfn 5 into the frontend's pfn 10 */
	memset(pvio_mach_pfn_ptr(env->m, BACK_ID, 5), 0xb5, 4096);
	struct pvio_gnt_transfer_op t = { .pfn = 5, .domid = FRONT_ID,
					  .ref = refs[REF_XFER] };
	assert_int_equal(pvio_gnt_transfer(env->b, &t, 1), 0);
	assert_int_equal(t.status, PVIO_GNTST_okay);
	assert_non_null(pvio_mach_pfn_ptr(env->m, BACK_ID, 5)); /* exchange frame */

	assert_int_equal(xwrite(sv[0], "d", 1), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(sv[0]);
}

static void granter_killed_while_mapped_frame_survives_until_unmap(void **state)
{
	struct gt_env *env = *state;
	int sv[2], status;
	pvio_grant_ref_t ref;
	pid_t pid;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Inherited mapping; the fixture's frontend state is ours now. */
		memset(gt_front_page(env, 6), 0x66, 4096);
		CHECK(pvio_gnt_grant(env->f, BACK_ID, 6, false, &ref) == 0);
		CHECK(xwrite(sv[1], &ref, sizeof(ref)) == 0);
		for (;;)
			pause();
	}
	assert_int_equal(xread(sv[0], &ref, sizeof(ref)), 0);
	unsigned char *page;
	uint32_t h, mfn = pvio_mach_pfn_to_mfn(env->m, FRONT_ID, 6);
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, 0, (void **)&page, &h),
			 PVIO_GNTST_okay);

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	/* The toolstack reaps the dead domain. */
	assert_int_equal(pvio_mem_domain_destroy(env->mem, FRONT_ID), 0);

	assert_int_equal(page[0], 0x66);
	page[1] = 0x67; /* still ours to use */
	assert_int_equal(pvio_frame_state(gt_frame_word(env, mfn)), PVIO_FRAME_ORPHAN);
	/* Allocate every free frame: the mapped one is never handed out. */
	static uint32_t got[4096];
	uint32_t n = 0;
	while (n < 4096 && pvio_mem_frame_alloc(env->mem, OTHER_ID, &got[n]) == 0) {
		assert_int_not_equal(got[n], mfn);
		n++;
	}
	assert_true(n > 0);
	assert_int_equal(page[1], 0x67); /* and nobody zeroed it */
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(pvio_mem_frame_free(env->mem, OTHER_ID, got[i]), 0);
	assert_int_equal(pvio_gnt_unmap_one(env->b, h), PVIO_GNTST_okay);
	assert_int_equal(gt_frame_word(env, mfn), 0); /* freed at last unmap */
	struct pvio_mem_stats st;
	pvio_mem_stats(env->mem, &st);
	assert_int_equal(st.nr_orphan, 0);
	close(sv[0]);
	close(sv[1]);
}

/* The frame word's reference count of the frame behind FRONT_ID's pfn. */
static uint32_t front_frame_refs(struct gt_env *env, uint32_t pfn)
{
	return pvio_frame_refs(gt_frame_word(env, pvio_mach_pfn_to_mfn(env->m, FRONT_ID, pfn)));
}

static void mapper_killed_while_mapped_pins_are_released(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t rw, ro;
	int sv[2], status;

	memset(gt_front_page(env, 2), 0x22, 4096);
	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 2, false, &rw), 0);
	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 3, true, &ro), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		/* The backend domain: three pins, then wait to be killed. */
		void *a;
		uint32_t h;

		CHECK(pvio_gnt_map_one(env->b, FRONT_ID, rw, 0, &a, &h) == 0);
		((unsigned char *)a)[0] = 0xbb;
		CHECK(pvio_gnt_map_one(env->b, FRONT_ID, rw, PVIO_GNTMAP_readonly, &a, &h) == 0);
		CHECK(pvio_gnt_map_one(env->b, FRONT_ID, ro, PVIO_GNTMAP_readonly, &a, &h) == 0);
		CHECK(xwrite(sv[1], "M", 1) == 0);
		for (;;)
			pause();
	}
	char byte;
	assert_int_equal(xread(sv[0], &byte, 1), 0);
	assert_int_equal(gt_front_page(env, 2)[0], 0xbb);
	assert_int_equal(pvio_gnt_revoke(env->f, rw), -EBUSY);
	assert_int_equal(pvio_gnt_revoke(env->f, ro), -EBUSY);
	assert_int_equal(front_frame_refs(env, 2), 1);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));

	/* The toolstack reaps the backend: every pin it held goes. */
	assert_int_equal(pvio_mem_domain_destroy(env->mem, BACK_ID), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, rw), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, ro), 0);
	assert_int_equal(front_frame_refs(env, 2), 0);
	assert_int_equal(front_frame_refs(env, 3), 0);
	/* No reference is left anywhere: the frontend's death frees all. */
	assert_int_equal(pvio_mem_domain_destroy(env->mem, FRONT_ID), 0);
	struct pvio_mem_stats st;
	pvio_mem_stats(env->mem, &st);
	assert_int_equal(st.nr_orphan, 0);
	close(sv[0]);
	close(sv[1]);
}

static void mapper_killed_mid_map_or_unmap_is_released(void **state)
{
	struct gt_env *env = *state;
	pvio_grant_ref_t ref;

	assert_int_equal(pvio_gnt_grant(env->f, BACK_ID, 4, false, &ref), 0);
	for (int round = 0; round < 8; round++) {
		int sv[2], status;
		char byte;

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		pid_t pid = fork();

		assert_true(pid >= 0);
		if (pid == 0) {
			/* Map and unmap, read-only and not, as fast as it goes. */
			CHECK(xwrite(sv[1], "R", 1) == 0);
			for (uint32_t i = 0;; i++) {
				void *a, *b;
				uint32_t h1, h2;

				CHECK(pvio_gnt_map_one(env->b, FRONT_ID, ref, 0, &a, &h1) == 0);
				CHECK(pvio_gnt_map_one(env->b, FRONT_ID, ref, PVIO_GNTMAP_readonly,
						       &b, &h2) == 0);
				CHECK(pvio_gnt_unmap_one(env->b, i % 2 ? h1 : h2) == 0);
				CHECK(pvio_gnt_unmap_one(env->b, i % 2 ? h2 : h1) == 0);
			}
		}
		assert_int_equal(xread(sv[0], &byte, 1), 0);
		usleep(200u + (unsigned)round * 300u);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));
		assert_int_equal(pvio_mem_domain_destroy(env->mem, BACK_ID), 0);
		/* Whatever it was doing, nothing of it holds the grant now. */
		assert_int_equal(gt_flags(env, ref) & (PVIO_GTF_reading | PVIO_GTF_writing), 0);
		assert_int_equal(pvio_mem_domain_create(env->mem, BACK_ID, 64, 4), 0);
		close(sv[0]);
		close(sv[1]);
	}
	/* And the live side still works: the grant maps and revokes. */
	pvio_gnt_back_destroy(env->b);
	assert_int_equal(pvio_gnt_back_create(env->m, BACK_ID, 64, &env->b), 0);
	void *a;
	uint32_t h;
	assert_int_equal(pvio_gnt_map_one(env->b, FRONT_ID, ref, 0, &a, &h), 0);
	assert_int_equal(pvio_gnt_unmap_one(env->b, h), 0);
	assert_int_equal(pvio_gnt_revoke(env->f, ref), 0);
}

static int mp_teardown(void **state)
{
	struct gt_env *env = *state;

	pvio_gnt_back_destroy(env->other);
	pvio_gnt_back_destroy(env->b);
	pvio_gnt_front_destroy(env->f);
	pvio_mem_close(env->mem);
	free(env);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			frontend_process_grants_backend_maps_copies_and_flips,
			gt_setup, mp_teardown),
		cmocka_unit_test_setup_teardown(
			granter_killed_while_mapped_frame_survives_until_unmap,
			gt_setup, mp_teardown),
		cmocka_unit_test_setup_teardown(
			mapper_killed_while_mapped_pins_are_released,
			gt_setup, mp_teardown),
		cmocka_unit_test_setup_teardown(
			mapper_killed_mid_map_or_unmap_is_released,
			gt_setup, mp_teardown),
	};
	return cmocka_run_group_tests_name("grant_multiproc", tests, NULL, NULL);
}
