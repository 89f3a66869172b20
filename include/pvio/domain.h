/* SPDX-License-Identifier: MIT */
/*
 * Domains on the host platform, and pvio hostd, which plays Xen, xenstored
 * and the toolstack for them.
 *
 * hostd owns machine memory (<pvio/host_memory.h>), the event-channel
 * region (<pvio/evtchn_host.h>) and the store (<pvio/xenstored.h>). It
 * listens on DIR/hostd.sock for domains and serves the store on
 * DIR/socket (for Debian's xenstore-utils: XENSTORED_PATH=DIR/socket).
 * A process becomes a domain by connecting to DIR/hostd.sock: hostd builds
 * the domain (memory, grant table, event-channel page, the store's
 * /local/domain/<id>) and passes the memfds and a store connection back
 * with SCM_RIGHTS. When that control connection closes (the process exited
 * or was killed) hostd destroys the domain: its event channels close and
 * their peers are woken, its store entries and watches go, @releaseDomain
 * fires, and frames it granted stay valid until the backend unmaps them.
 *
 * The same code runs with hostd and domains as threads of one process
 * (pvio_hostd_start() then pvio_domain_connect() from any thread), which
 * is how tests and embedders use it.
 *
 * Every function returns 0 or a negative errno unless it says otherwise.
 */
#ifndef PVIO_DOMAIN_H
#define PVIO_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/evtchn.h>
#include <pvio/grant.h>
#include <pvio/types.h>
#include <pvio/xenbus.h>

/* ---- hostd ---------------------------------------------------------- */

struct pvio_hostd;

struct pvio_hostd_config {
	const char *run_dir;      /* sockets live here; created if missing */
	uint32_t nr_frames;       /* machine memory in 4 KiB frames; 0: 65536 */
	uint32_t max_domains;     /* 0: 64 */
	bool verbose;             /* log domain creation/destruction to stderr */
};

/*
 * Create hostd: machine memory, event channels, the store, and the
 * listening sockets. Does not serve until pvio_hostd_run() or
 * pvio_hostd_start(). Returns 0, -EINVAL, -EADDRINUSE (another hostd
 * serves run_dir), -errno.
 * One hostd per run_dir: it holds an flock() on run_dir/hostd.lock (the
 * file stays; the sockets are removed by destroy). nr_frames >= 2,
 * max_domains <= PVIO_EVTCHN_MAX_DOMAINS; a domain may have up to
 * nr_frames pages. The store removes a domain's home when it dies.
 */
int pvio_hostd_create(const struct pvio_hostd_config *cfg, struct pvio_hostd **out);

/* Serve until pvio_hostd_stop(). Calling thread. 0 or -errno.
 * Stopping is final: run() after a stop returns 0 at once. With run()
 * (not start()), call pvio_hostd_destroy() only after run() returned. */
int pvio_hostd_run(struct pvio_hostd *h);

/* Serve from a new thread of this process. 0 or -errno. */
int pvio_hostd_start(struct pvio_hostd *h);

/* Ask the serving thread to return; any thread or a signal handler. */
void pvio_hostd_stop(struct pvio_hostd *h);

/* Stop (joining a pvio_hostd_start() thread), destroy every domain, free. */
void pvio_hostd_destroy(struct pvio_hostd *h);

/* ---- a domain's view of itself -------------------------------------- */

struct pvio_domain_config {
	const char *name;         /* written to /local/domain/<id>/name */
	uint32_t nr_pages;        /* pseudo-physical memory; 0: 16384 (64 MiB) */
	bool driver_domain;       /* ask for domid 0 (the IDD); else 1, 2, ... */
	/* Added: grant mappings this domain may hold at once (its maptrack
	 * table, private memory of 20 bytes a handle); 0: 8192. */
	uint32_t nr_map_handles;
};

struct pvio_domain {
	pvio_domid_t domid;
	uint32_t nr_pages;
	const struct pvio_machine *machine; /* for pvio_mach_pfn_ptr() */
	struct pvio_gnt_front *gnt;         /* this domain's own grant table */
	struct pvio_gnt_back *gnt_back;     /* mapping other domains' grants */
	struct pvio_evtchn *evtchn;         /* this domain's event channels */
	struct pvio_xs *xs;                 /* store connection, as this domain */
};

/*
 * Become a domain of the hostd serving run_dir. *out stays valid until
 * pvio_domain_disconnect(). Returns 0, -ENOENT/-ECONNREFUSED (no hostd),
 * -EBUSY (driver_domain asked and domid 0 is taken), -ENOSPC (no domid
 * or memory left), -EPROTO (hostd answered something unexpected).
 * Also -EINVAL (name empty, longer than PVIO_DOMAIN_NAME_MAX or not
 * printable ASCII; nr_pages above hostd's limit), -ETIMEDOUT (hostd did
 * not answer within a minute).
 * Any thread; several domains may live in one process. Every fd the
 * domain holds is close-on-exec; a domain must not fork() while connected
 * (the child would inherit its lifeline and hostd would not see it die).
 * The store connection waits forever by default; pvio_xs_set_timeout() on
 * d->xs bounds it. d->xs belongs to one thread at a time (<pvio/xenbus.h>).
 */
#define PVIO_DOMAIN_NAME_MAX 63
int pvio_domain_connect(const char *run_dir, const struct pvio_domain_config *cfg,
			struct pvio_domain **out);

/* Leave: hostd destroys the domain. Safe on NULL. The caller has
 * stopped every thread that uses d, and unmapped what it mapped. */
void pvio_domain_disconnect(struct pvio_domain *d);

/*
 * This domain's free pseudo-physical pages, for rings and buffers.
 * pvio_domain_page_alloc gives n contiguous pfns (*pfn the first), zeroed:
 * 0, -EINVAL, -ENOMEM. pvio_domain_page_free returns them: 0, or -EINVAL
 * (out of range, or a page in the range is not allocated: nothing freed).
 * Any thread (an internal mutex). First fit over a bitmap.
 */
int pvio_domain_page_alloc(struct pvio_domain *d, uint32_t n, uint32_t *pfn);
int pvio_domain_page_free(struct pvio_domain *d, uint32_t pfn, uint32_t n);

/* The page at pfn as this domain sees it now (re-read after a flip). */
void *pvio_domain_page(struct pvio_domain *d, uint32_t pfn);

/*
 * Multi-page rings need their pages contiguous, and frames are not: these
 * map frames side by side in this process (pvio_mem_map_frames(): mmap of
 * the pool, or under TSan the pool's own view of consecutive frames; done
 * once at connect time, never on the data path).
 * pvio_domain_vmap: this domain's own pfns[0..n-1] -> *va.
 * pvio_domain_map_ring: grant-map refs[0..n-1] of domain dom (read-write,
 * checked and pinned as pvio_gnt_map() does; handles[] receive the grant
 * handles) and place them side by side at *va.
 * Both return 0, -EINVAL, -ENOMEM, or -EACCES (a grant failed: nothing
 * stays mapped). Undo with pvio_domain_vunmap() / pvio_domain_unmap_ring().
 * n is 1 .. PVIO_DOMAIN_VMAP_MAX. vmap maps the frames the pfns have now:
 * after a transfer into one of them, map again. map_ring returns -ENOMEM
 * also when the maptrack table is full. unmap_ring unmaps the view, then
 * every handle: 0, or -EINVAL (bad arguments, or a handle was not mapped;
 * the others are still unmapped). Any thread.
 */
#define PVIO_DOMAIN_VMAP_MAX 1024u
int pvio_domain_vmap(struct pvio_domain *d, const uint32_t *pfns, uint32_t n,
		     void **va);
int pvio_domain_vunmap(struct pvio_domain *d, void *va, uint32_t n);
int pvio_domain_map_ring(struct pvio_domain *d, pvio_domid_t dom,
			 const pvio_grant_ref_t *refs, uint32_t n, void **va,
			 uint32_t *handles);
int pvio_domain_unmap_ring(struct pvio_domain *d, void *va, uint32_t n,
			   const uint32_t *handles);

/* True while hostd is alive (the control connection is open). Once
 * false, stays false. Any thread; one non-blocking peek, no syscall once
 * false. */
bool pvio_domain_hostd_alive(struct pvio_domain *d);

#endif /* PVIO_DOMAIN_H */
