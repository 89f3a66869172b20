/* SPDX-License-Identifier: MIT */
/*
 * Machine memory on the host platform: the frame pool (a sparse memfd),
 * hypervisor memory (a second memfd: frame table, domain table, P2Ms), the
 * frame allocator and the toolstack's domain build/destroy. Plus host
 * constructors that allocate the grant core's private state.
 *
 * Who calls what. pvio hostd (the toolstack; tests stand in for it) creates
 * machine memory and builds and destroys domains. Every domain process
 * attaches once (inherits the mapping across fork, or pvio_mem_attach()
 * on fds received with SCM_RIGHTS) and then uses pvio_mem_machine() with
 * <pvio/grant.h> and pvio_mach_pfn_ptr(). All functions are thread-safe
 * and work across processes; they return 0 or -errno unless stated.
 */
#ifndef PVIO_HOST_MEMORY_H
#define PVIO_HOST_MEMORY_H

#include <stdint.h>

#include <pvio/grant.h>
#include <pvio/memory.h>

struct pvio_mem; /* one process's attachment; private */

struct pvio_mem_config {
	uint32_t nr_frames;   /* pool size in 4 KiB frames; 0: 16384 (64 MiB) */
	uint32_t max_domains; /* domids 0..max_domains-1; 0: 64 */
	uint32_t max_pages;   /* largest domain, in pages; 0: nr_frames */
};

/*
 * Create machine memory (toolstack). Nothing is populated until used: both
 * memfds are sparse. Returns 0, -EINVAL (nr_frames < 2 or >= 2^31,
 * max_domains > 0x7ff0), -ENOMEM, or the errno of memfd_create/mmap.
 */
int pvio_mem_create(const struct pvio_mem_config *cfg, struct pvio_mem **out);

/*
 * Attach to machine memory another process created: maps both objects
 * (the pool once). The fds are duplicated; the caller keeps its own.
 * Returns 0, -EINVAL (not pvio machine memory, sizes inconsistent), -errno.
 */
int pvio_mem_attach(int pool_fd, int hv_fd, struct pvio_mem **out);

/* Unmap and close this process's attachment (create or attach). */
void pvio_mem_close(struct pvio_mem *mem);

/* The fds to pass to another process (still owned by mem). */
void pvio_mem_fds(const struct pvio_mem *mem, int *pool_fd, int *hv_fd);

/* The view to hand to the grant core and to pvio_mach_*(). */
const struct pvio_machine *pvio_mem_machine(const struct pvio_mem *mem);

/*
 * Build domain domid with nr_pages frames (pfn 0..nr_pages-1, zeroed) and
 * a grant table that may grow to max_gnt_frames (0: 32; at most
 * PVIO_GNT_FRAMES_LIMIT). Toolstack only.
 * Returns 0, -EINVAL (domid or sizes out of range), -EEXIST, -ENOMEM.
 */
int pvio_mem_domain_create(struct pvio_mem *mem, pvio_domid_t domid,
			   uint32_t nr_pages, uint32_t max_gnt_frames);

/*
 * Destroy domain domid, as Xen's domain_kill: first every grant it has
 * mapped is released (pvio_gnt_mapper_release(): the granters can revoke
 * again), then every frame it owns (P2M and grant table) goes back to the
 * pool, except frames a backend still has mapped, which stay valid
 * (ORPHAN) until the last unmap frees them. Toolstack only, once no thread
 * of domid runs (hostd: when its process is gone).
 * Returns 0, -EINVAL, -ESRCH (no such live domain).
 */
int pvio_mem_domain_destroy(struct pvio_mem *mem, pvio_domid_t domid);

/*
 * The frame allocator: one zeroed frame owned by owner, or give one back
 * (owner must own it; freed at once or when its last mapping goes).
 * alloc: 0 or -ENOMEM. free: 0 or -EINVAL (not owned by owner).
 */
int pvio_mem_frame_alloc(struct pvio_mem *mem, pvio_domid_t owner, uint32_t *mfn);
int pvio_mem_frame_free(struct pvio_mem *mem, pvio_domid_t owner, uint32_t mfn);

/*
 * Put frames mfns[0..n-1] side by side in this process (for multi-page
 * rings; set-up time, not the data path): a fresh mapping of each frame
 * of the pool, or, under ThreadSanitizer (PVIO_SHM_ONE_VIEW in
 * <pvio/host.h>) when the frames are consecutive, the pool's own view of
 * them, so that the process keeps one address per byte. Returns 0,
 * -EINVAL (n 0 or too large, an mfn 0 or beyond the pool), -ENOMEM.
 * Undo with pvio_mem_unmap_frames(mem, *va, n): 0, -EINVAL (bad
 * arguments, or va inside the pool where only a TSan build puts it),
 * -errno of munmap. The frames' ownership and pins are the caller's.
 */
int pvio_mem_map_frames(const struct pvio_mem *mem, const uint32_t *mfns,
			uint32_t n, void **va);
int pvio_mem_unmap_frames(const struct pvio_mem *mem, void *va, uint32_t n);

struct pvio_mem_stats {
	uint32_t nr_frames, nr_free, nr_owned, nr_orphan;
};
/* A snapshot by scanning the frame table (slow; tests and tools). */
void pvio_mem_stats(const struct pvio_mem *mem, struct pvio_mem_stats *st);

/*
 * Host constructors for the grant core's private state (malloc'd storage
 * sized from the domain record). Each returns 0, -EINVAL, -ENOMEM or the
 * core init's error; each _destroy frees what its _create allocated and
 * does not unmap or revoke anything.
 */
int pvio_gnt_front_create(const struct pvio_machine *m, pvio_domid_t domid,
			  struct pvio_gnt_front **out);
void pvio_gnt_front_destroy(struct pvio_gnt_front *f);
int pvio_gnt_back_create(const struct pvio_machine *m, pvio_domid_t domid,
			 uint32_t nr_handles, struct pvio_gnt_back **out);
void pvio_gnt_back_destroy(struct pvio_gnt_back *b);
/* cap 0: PVIO_GNT_CACHE_DEFAULT_CAP. */
int pvio_gnt_cache_create(struct pvio_gnt_back *b, uint32_t cap,
			  struct pvio_gnt_cache **out);
void pvio_gnt_cache_destroy(struct pvio_gnt_cache *c);

#endif /* PVIO_HOST_MEMORY_H */
