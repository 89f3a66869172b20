/* SPDX-License-Identifier: MIT */
/*
 * Event channels: "look at the ring" between domains.
 *
 * The model is Xen's 2-level event channel ABI. Every domain has one shared
 * page (struct pvio_evtchn_shared, the evtchn part of Xen's shared_info):
 * a pending bitmap and a mask bitmap for PVIO_EVTCHN_NR_PORTS ports, a
 * selector word saying which pending words may hold unmasked events (Xen's
 * evtchn_pending_sel), a word saying the domain is (about to be) asleep,
 * and counters. Beside it sits the domain's port table, which only the
 * "hypervisor" control operations write: port -> free | unbound(remote
 * domid) | interdomain(remote domid, remote port).
 *
 * On the host platform all of it lives in one shared memory region (a
 * memfd) that the toolstack (pvio hostd) formats and every domain maps:
 *
 *   [region header, 1 page][shared page x nr_domains][port table x nr_domains]
 *
 * The control operations (alloc_unbound, bind_interdomain, close, domain
 * create/destroy) run in the caller's own process, like a hypercall, under
 * a spinlock in the region header; they are rare. The data path (notify,
 * mask, unmask, test_and_clear, consume, wait) takes no lock and never
 * calls the daemon: notify reads the local port's entry (one 64-bit word
 * that only control operations write, so it stays cached: this is the
 * domain's cached binding), sets the remote pending bit, and wakes the
 * remote domain through the platform only when the bit was clear, the port
 * is unmasked and the remote domain said it is asleep.
 *
 * Sleeping and waking go through a const ops table (struct
 * pvio_evtchn_wait_ops) so this layer compiles freestanding; the host
 * platform provides a futex and an eventfd implementation
 * (<pvio/evtchn_host.h>), tests pass fakes, an embedder passes its own.
 *
 * Differences from Xen, all deliberate:
 *  - notify on an unbound port returns -ENOTCONN (Xen drops it silently):
 *    a driver learns that its peer went away.
 *  - bind_interdomain to a port unbound for another domain returns -EACCES
 *    (Xen says -EINVAL) so the two mistakes can be told apart.
 *  - when a domain is destroyed, each of its peers' ports becomes unbound
 *    AND is raised (pending set, peer woken), so a peer blocked in
 *    pvio_evtchn_wait() returns and finds the port unbound. Plain close()
 *    does not raise the peer, as in Xen.
 *  - a new port starts unmasked and not pending.
 *  - a notify that races with a close of the same channel may leave one
 *    spurious pending bit on the old remote port. Drivers must tolerate
 *    spurious events anyway (Xen's do too).
 *
 * Threading: any thread of a domain may notify, mask, unmask and
 * test_and_clear. One thread per domain at a time consumes events
 * (pvio_evtchn_consume / pvio_evtchn_wait): the domain's "vCPU". Control
 * operations may be called from any thread of any process mapping the
 * region. The control lock is a plain spinlock: a process killed while
 * inside a control operation leaves it held, and every later control
 * operation on the region spins (the data path is unaffected). The lock
 * word records the holder's domid + 1 so hostd can see who died with it;
 * recovering is not implemented.
 *
 * Trust: the region is shared with every domain, as Dom0's view of Xen is
 * (see DESIGN.md decision 4). Values read from it are range-checked before
 * they are used as indices, so a corrupted table yields -EINVAL/-ENOTCONN,
 * never an access outside the region.
 *
 * Freestanding: needs only <stdint.h>, <stddef.h>, <stdbool.h>,
 * <stdatomic.h>. Functions return 0 (or a count) or a negative errno.
 */
#ifndef PVIO_EVTCHN_H
#define PVIO_EVTCHN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvio/types.h>

/*
 * Ports per domain: 4096, the 2-level ABI limit of a 64-bit Xen guest
 * (64 words of 64 bits, one selector bit per word). Port 0 is never
 * allocated (Xen reserves it), so 4095 are usable.
 */
#define PVIO_EVTCHN_NR_PORTS    4096u
#define PVIO_EVTCHN_WORD_BITS   64u
#define PVIO_EVTCHN_NR_WORDS    (PVIO_EVTCHN_NR_PORTS / PVIO_EVTCHN_WORD_BITS)
/* Largest region: domids 0 .. PVIO_EVTCHN_MAX_DOMAINS - 1. */
#define PVIO_EVTCHN_MAX_DOMAINS 1024u
/* Default bounded poll of PVIO_EVTCHN_ADAPTIVE before sleeping (see below). */
#define PVIO_EVTCHN_DEFAULT_SPIN_NS 50000u
/* timeout_ns meaning "no timeout". */
#define PVIO_EVTCHN_FOREVER     UINT64_MAX

#define PVIO_EVTCHN_REGION_MAGIC   0x4e484356u /* "VCHN" */
#define PVIO_EVTCHN_REGION_VERSION 1u

/* Domain slot states in struct pvio_evtchn_shared.state. */
enum pvio_evtchn_dom_state {
	PVIO_EVTCHN_DOM_FREE = 0, /* never created */
	PVIO_EVTCHN_DOM_ALIVE = 1,
	PVIO_EVTCHN_DOM_DEAD = 2, /* destroyed; may be created again */
};

/* Port states (struct pvio_evtchn_status.state). */
enum pvio_evtchn_port_state {
	PVIO_EVTCHN_PORT_FREE = 0,
	PVIO_EVTCHN_PORT_UNBOUND = 1,     /* waits for remote_dom to bind */
	PVIO_EVTCHN_PORT_INTERDOMAIN = 2, /* connected to remote_dom:remote_port */
};

/*
 * One domain's shared page. Shared memory: plain fixed-size struct, pinned.
 * Line 0 is what notifiers touch on the fast path (selector + sleeping
 * flag); line 1 holds counters only this domain writes; then the bitmaps.
 */
struct pvio_evtchn_shared {
	/* --- line 0: written by notifiers and by this domain's waiter --- */
	_Atomic uint64_t pending_sel; /* bit w: pending[w] may hold unmasked events */
	_Atomic uint32_t sleeping;    /* 1: the waiter is (about to be) asleep */
	_Atomic uint32_t state;       /* enum pvio_evtchn_dom_state */
	uint8_t pad0[48];
	/* --- line 1: counters, written by this domain only (relaxed) --- */
	_Atomic uint64_t sent;      /* successful notify calls (incl. coalesced) */
	_Atomic uint64_t coalesced; /* notifies that found the bit already pending */
	_Atomic uint64_t wakes;     /* platform wake calls made (syscalls) */
	_Atomic uint64_t received;  /* events consumed (wait, consume, test_and_clear) */
	_Atomic uint64_t sleeps;    /* platform sleep calls made by the waiter */
	_Atomic uint64_t spurious;  /* sleeps after which no event was found */
	uint8_t pad1[16];
	/* --- the bitmaps, Xen's evtchn_pending / evtchn_mask --- */
	_Atomic uint64_t pending[PVIO_EVTCHN_NR_WORDS];
	_Atomic uint64_t mask[PVIO_EVTCHN_NR_WORDS];
	uint8_t pad2[4096 - 128 - 2 * 8 * PVIO_EVTCHN_NR_WORDS];
};
_Static_assert(sizeof(struct pvio_evtchn_shared) == 4096, "shared page is one page");
_Static_assert(offsetof(struct pvio_evtchn_shared, sent) == 64, "counters on line 1");
_Static_assert(offsetof(struct pvio_evtchn_shared, pending) == 128, "bitmaps after line 1");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "shared words are 64-bit");

/*
 * One port table entry, one 64-bit word so that notify reads a consistent
 * binding with one load: bits 0-7 state, 16-31 remote domid, 32-63 remote
 * port (or 0).
 */
struct pvio_evtchn_port_table {
	_Atomic uint64_t entry[PVIO_EVTCHN_NR_PORTS];
};
_Static_assert(sizeof(struct pvio_evtchn_port_table) == 8 * PVIO_EVTCHN_NR_PORTS, "ABI");

/* The region header (first page). */
struct pvio_evtchn_region {
	uint32_t magic;       /* PVIO_EVTCHN_REGION_MAGIC */
	uint32_t version;     /* PVIO_EVTCHN_REGION_VERSION */
	uint32_t nr_domains;  /* domids 0 .. nr_domains - 1 */
	uint32_t nr_ports;    /* PVIO_EVTCHN_NR_PORTS */
	uint64_t bytes;       /* size of the whole region */
	_Atomic uint32_t lock;   /* control-operation spinlock: 0 free, 1 held */
	_Atomic uint32_t holder; /* domid + 1 of the lock holder, for debugging */
	uint8_t pad[4096 - 32];
};
_Static_assert(sizeof(struct pvio_evtchn_region) == 4096, "region header is one page");

/*
 * How a domain sleeps and is woken. Each function is called without locks
 * held and may be called concurrently from several threads.
 *
 * sleep: block the calling thread (the waiter of domain self) until
 *   wake(self) is called, or *word != val, or now_ns() >= deadline_ns
 *   (PVIO_EVTCHN_FOREVER: no deadline). It must not miss a wake() that
 *   happens after it was entered (the futex/eventfd contract); returning
 *   early for no reason is allowed. Returns 0 (woken, or maybe spurious),
 *   -ETIMEDOUT, -EINTR (treated as spurious).
 * wake: wake domain dom's waiter, which sleeps on word. 0 or -errno.
 * now_ns: a monotonic clock in nanoseconds.
 */
struct pvio_evtchn_wait_ops {
	const char *name;
	int (*sleep)(void *ctx, pvio_domid_t self, _Atomic uint32_t *word,
		     uint32_t val, uint64_t deadline_ns);
	int (*wake)(void *ctx, pvio_domid_t dom, _Atomic uint32_t *word);
	uint64_t (*now_ns)(void *ctx);
};

/*
 * A domain's private handle on the region. Plain private memory, filled by
 * pvio_evtchn_attach(); callers allocate it.
 */
struct pvio_evtchn {
	struct pvio_evtchn_region *region;
	struct pvio_evtchn_shared *shared;   /* this domain's page */
	struct pvio_evtchn_port_table *ports; /* this domain's table */
	const struct pvio_evtchn_wait_ops *ops;
	void *ops_ctx;
	uint64_t spin_ns;   /* ADAPTIVE poll budget */
	pvio_domid_t domid;
};

/* How pvio_evtchn_wait() waits. */
enum pvio_evtchn_wait_mode {
	/* Sleep in the platform until woken: no CPU while idle, ~40-55 us to
	 * wake on the reference machines. */
	PVIO_EVTCHN_BLOCK = 0,
	/* Busy-poll the selector word: ~1 cache-line transfer to notice an
	 * event, one full CPU while idle. Never calls sleep(). */
	PVIO_EVTCHN_POLL = 1,
	/* Poll for the handle's spin_ns (default PVIO_EVTCHN_DEFAULT_SPIN_NS,
	 * 50 us: about one wake-up's cost, so at most twice the cost of the
	 * better of the two other modes), then BLOCK. */
	PVIO_EVTCHN_ADAPTIVE = 2,
};

struct pvio_evtchn_status {
	uint32_t state;       /* enum pvio_evtchn_port_state */
	pvio_domid_t remote_dom;
	uint32_t remote_port; /* 0 unless interdomain */
	bool pending;
	bool masked;
};

struct pvio_evtchn_stats {
	uint64_t sent, coalesced, wakes, received, sleeps, spurious;
};

/* ---- Region and domains: the toolstack (hostd, a test's parent) ---- */

/* Bytes of a region for nr_domains domains; 0 if nr_domains is 0 or more
 * than PVIO_EVTCHN_MAX_DOMAINS. */
size_t pvio_evtchn_region_size(uint32_t nr_domains);

/*
 * Format zeroed (or reused) memory of bytes >= pvio_evtchn_region_size(n)
 * as a region with no domain created. Call before any domain maps it.
 * Returns 0, -EINVAL (NULL, misaligned to 64, n out of range, too small).
 */
int pvio_evtchn_region_init(void *mem, size_t bytes, uint32_t nr_domains);

/*
 * Create domain domid: all ports free, nothing pending or masked, counters
 * zero. Any thread; takes the region lock.
 * Returns 0, -EINVAL (bad region or domid out of range), -EEXIST (alive).
 */
int pvio_evtchn_domain_create(void *region, pvio_domid_t domid);

/*
 * Destroy domain domid (it died or is being torn down): each of its
 * interdomain ports' peers becomes unbound (remote_dom = domid) and is
 * raised, waking the peer through ops/ctx (may be NULL: no wake-up), then
 * all of its ports are freed and the domain is marked dead. Its handles
 * must not be used afterwards. Any thread; takes the region lock.
 * Returns 0, -EINVAL (bad region or domid), -ESRCH (not alive).
 */
int pvio_evtchn_domain_destroy(void *region, pvio_domid_t domid,
			       const struct pvio_evtchn_wait_ops *ops, void *ctx);

/* ---- A domain's handle ---- */

/*
 * Attach handle h to domain domid of the region at mem (bytes long, as
 * mapped in this process), sleeping and waking through ops/ctx (ops must
 * outlive the handle). The domain must have been created. Any thread.
 * Returns 0, -EINVAL (NULL argument, ops lacking a function, not a region,
 * wrong version, bytes smaller than the region says, domid out of range),
 * -ESRCH (domain not alive).
 */
int pvio_evtchn_attach(struct pvio_evtchn *h, void *mem, size_t bytes,
		       pvio_domid_t domid, const struct pvio_evtchn_wait_ops *ops,
		       void *ctx);

/* Forget the region; no port is closed (destroy the domain for that). */
void pvio_evtchn_detach(struct pvio_evtchn *h);

/* Set ADAPTIVE's poll budget in ns (0: BLOCK at once). Waiter thread. */
void pvio_evtchn_set_spin(struct pvio_evtchn *h, uint64_t spin_ns);

/* ---- Control operations (Xen EVTCHNOP_*): rare, take the region lock ---- */

/*
 * Allocate a port unbound for remote_dom to bind (EVTCHNOP_alloc_unbound).
 * remote_dom may be the local domain. *port receives the port.
 * Returns 0, -EINVAL (NULL), -ESRCH (remote_dom not alive), -ENOSPC (no
 * free port).
 */
int pvio_evtchn_alloc_unbound(struct pvio_evtchn *h, pvio_domid_t remote_dom,
			      uint32_t *port);

/*
 * Bind a new local port to remote_dom's remote_port, which must be unbound
 * for this domain (EVTCHNOP_bind_interdomain). Both ends become
 * interdomain. *local_port receives the new port.
 * Returns 0, -EINVAL (NULL, remote_port out of range or not unbound),
 * -ESRCH (remote_dom not alive), -EACCES (unbound for another domain),
 * -ENOSPC (no free local port).
 */
int pvio_evtchn_bind_interdomain(struct pvio_evtchn *h, pvio_domid_t remote_dom,
				 uint32_t remote_port, uint32_t *local_port);

/*
 * Close port (EVTCHNOP_close): it becomes free, its pending bit is
 * cleared; if it was interdomain the remote end becomes unbound for this
 * domain again (the remote may notify no more: -ENOTCONN).
 * Returns 0, -EINVAL (port out of range, 0, or already free).
 */
int pvio_evtchn_close(struct pvio_evtchn *h, uint32_t port);

/* State of a local port. Returns 0, -EINVAL (NULL or port out of range). */
int pvio_evtchn_status(struct pvio_evtchn *h, uint32_t port,
		       struct pvio_evtchn_status *st);

/* ---- Data path: no lock, no daemon ---- */

/*
 * Send an event on port to its remote end: set the remote pending bit; if
 * it was clear, the remote port unmasked and the remote domain asleep, wake
 * it. Notifications coalesce: several notifies before the remote consumes
 * are one event. Any thread of the domain.
 * Returns 0, -EINVAL (port out of range or free), -ENOTCONN (port unbound:
 * never bound, or the peer closed it or died).
 */
int pvio_evtchn_notify(struct pvio_evtchn *h, uint32_t port);

/*
 * Mask / unmask a local port. A masked port's events stay pending and are
 * neither returned by consume/wait nor wake the domain. Unmasking a port
 * that is pending raises it again and wakes the domain's waiter if asleep
 * (Xen's evtchn_unmask). Any thread of the domain; the port's state does
 * not matter (as in Xen).
 * Returns 0, -EINVAL (port 0 or out of range).
 */
int pvio_evtchn_mask(struct pvio_evtchn *h, uint32_t port);
int pvio_evtchn_unmask(struct pvio_evtchn *h, uint32_t port);

/*
 * Clear port's pending bit, masked or not. Any thread of the domain.
 * Returns 1 (was pending: one event consumed), 0 (was not), -EINVAL.
 */
int pvio_evtchn_test_and_clear(struct pvio_evtchn *h, uint32_t port);

/*
 * Without waiting, take up to max pending unmasked ports (clearing their
 * pending bits) into ports[], lowest word first. The waiter thread only.
 * Returns the count (0: none), -EINVAL (NULL, max 0).
 */
int pvio_evtchn_consume(struct pvio_evtchn *h, uint32_t *ports, uint32_t max);

/*
 * Wait in mode until at least one unmasked port is pending, then consume
 * as pvio_evtchn_consume(). timeout_ns is relative (PVIO_EVTCHN_FOREVER:
 * none; 0: only look). The waiter thread only.
 * No lost wake-ups: before sleeping the waiter stores sleeping = 1, then
 * (full fence) re-reads the selector; a notifier sets the selector, then
 * (full fence) reads sleeping (pairs W1/N1, see event.c).
 * Returns the count (> 0), -ETIMEDOUT, -EINVAL (NULL, max 0, bad mode).
 */
int pvio_evtchn_wait(struct pvio_evtchn *h, enum pvio_evtchn_wait_mode mode,
		     uint64_t timeout_ns, uint32_t *ports, uint32_t max);

/* Read this domain's counters (relaxed snapshot). Any thread. */
void pvio_evtchn_stats_get(const struct pvio_evtchn *h, struct pvio_evtchn_stats *st);

#endif /* PVIO_EVTCHN_H */
