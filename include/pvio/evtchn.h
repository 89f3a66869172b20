/* SPDX-License-Identifier: MIT */
/*
 * Event channels: "look at the ring" between domains.
 *
 * The model is Xen's 2-level event channel ABI. Every domain has one shared
 * page (struct pvio_evtchn_shared, the evtchn part of Xen's shared_info,
 * laid out like it): PVIO_EVTCHN_SHARED_WAITERS waiter lines (Xen's
 * vcpu_info[32]), then a pending bitmap and a mask bitmap for
 * PVIO_EVTCHN_NR_PORTS ports, then counters. Each waiter line holds that
 * waiter's selector word saying which pending words may hold unmasked
 * events routed to it (Xen's per-vCPU evtchn_pending_sel) and a word saying
 * it is (about to be) asleep. Beside the page sits the domain's port table,
 * which only the "hypervisor" control operations write: port -> free |
 * unbound(remote domid) | interdomain(remote domid, remote port), plus the
 * waiter the port is routed to.
 *
 * On the host platform all of it lives in one shared memory region (a
 * memfd) that the toolstack (pvio hostd) formats and every domain maps:
 *
 *   [region header, 1 page][shared page x nr_domains][port table x nr_domains]
 *   [more waiter lines x nr_domains]
 *
 * The shared page has room for 32 waiter lines, as Xen's shared_info has
 * for 32 vCPUs; a Xen guest with more vCPUs places the vcpu_info of the
 * others elsewhere (VCPUOP_register_vcpu_info). Here lines 32 ..
 * PVIO_EVTCHN_NR_WAITERS - 1 sit in a block of the domain's own after the
 * port tables (struct pvio_evtchn_more_waiters). A backend serving 64
 * guests needs a waiter per queue thread (see below); 32 left half of them
 * polling.
 *
 * The control operations (alloc_unbound, bind_interdomain, close, domain
 * create/destroy) run in the caller's own process, like a hypercall, under
 * a spinlock in the region header; they are rare. The data path (notify,
 * mask, unmask, test_and_clear, consume, wait) takes no lock and never
 * calls the daemon: notify reads the local port's entry (one 64-bit word
 * that only control operations write, so it stays cached: this is the
 * domain's cached binding), sets the remote pending bit, reads the remote
 * port's entry for the waiter it is routed to, and wakes that waiter
 * through the platform only when the bit was clear, the port is unmasked
 * and that waiter said it is asleep.
 *
 * Waiters (Xen's per-vCPU delivery, EVTCHNOP_bind_vcpu): a domain has
 * PVIO_EVTCHN_NR_WAITERS waiter slots, 0 .. NR_WAITERS - 1. Every port is
 * routed to one (0 when allocated, so a domain that never calls
 * pvio_evtchn_bind_waiter() has the single waiter it always had);
 * pvio_evtchn_wait_on()/consume_on() on waiter w return only ports routed
 * to w and sleep on w's own word, so one thread per ring waits for its own
 * ports with no dispatcher thread in between. pvio_evtchn_wait() and
 * pvio_evtchn_consume() are waiter 0.
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
 * Threading: any thread of a domain may notify, mask, unmask, bind_waiter
 * and test_and_clear. One thread per waiter at a time consumes that
 * waiter's events (pvio_evtchn_consume_on / pvio_evtchn_wait_on; waiter 0
 * also through pvio_evtchn_consume / pvio_evtchn_wait): the domain's
 * "vCPUs". Threads of different waiters may share one handle. Control
 * operations may be called from any thread of any process mapping the
 * region. The control lock is a spinlock whose word names its holder
 * (domid + 1, taken in the same compare-and-swap as the lock): a process
 * killed inside a control operation leaves it held, and other control
 * operations spin (the data path is unaffected) until the toolstack reaps
 * the dead domain (pvio_evtchn_domain_reap(), which hostd calls when a
 * domain's process is gone): it takes the lock over, and destroying the
 * domain repairs whatever half-done operation it left, since every
 * operation of a domain writes only its own table and ends of channels
 * bound to it.
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
/* 2: per-waiter lines (selector, sleeping, counters) at the start of the
 * shared page, bitmaps at Xen's offsets, a waiter field in port entries. */
/* 3: waiters 32-255 in a block per domain after the port tables. */
#define PVIO_EVTCHN_REGION_VERSION 3u
/* Waiter slots per domain; port entries have 8 bits for the waiter, so at
 * most 256. */
#define PVIO_EVTCHN_NR_WAITERS     256u
/* Of those, the lines in the shared page (Xen's XEN_LEGACY_MAX_VCPUS). */
#define PVIO_EVTCHN_SHARED_WAITERS 32u

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
 * One waiter's line of a shared page (Xen's vcpu_info): what a notifier of
 * a port routed to this waiter touches (selector + sleeping flag), and the
 * waiter's own counters, written only by the thread waiting on it. One
 * line per waiter, so waiters of one domain never share a line.
 */
struct pvio_evtchn_waiter {
	_Atomic uint64_t pending_sel; /* bit w: pending[w] may hold unmasked
				       * events routed to this waiter */
	_Atomic uint32_t sleeping;    /* 1: the waiter is (about to be) asleep;
				       * the futex word */
	uint32_t pad0;
	_Atomic uint64_t received;    /* events consumed (wait_on, consume_on) */
	_Atomic uint64_t sleeps;      /* platform sleep calls made */
	_Atomic uint64_t spurious;    /* sleeps after which no event was found */
	uint8_t pad1[24];
};
_Static_assert(sizeof(struct pvio_evtchn_waiter) == 64, "one waiter per cache line");
_Static_assert(offsetof(struct pvio_evtchn_waiter, sleeping) == 8, "waiter line is ABI");
_Static_assert(offsetof(struct pvio_evtchn_waiter, received) == 16, "waiter line is ABI");

/*
 * One domain's shared page. Shared memory: plain fixed-size struct, pinned.
 * The shape of Xen's x86-64 shared_info: 32 lines of 64 bytes (one per
 * waiter, Xen's vcpu_info[32]), evtchn_pending at 2048, evtchn_mask at
 * 2560; then a line with the domain state and the domain's counters.
 */
struct pvio_evtchn_shared {
	/* --- lines 0-31: one per waiter --- */
	struct pvio_evtchn_waiter waiter[PVIO_EVTCHN_SHARED_WAITERS];
	/* --- the bitmaps, Xen's evtchn_pending / evtchn_mask --- */
	_Atomic uint64_t pending[PVIO_EVTCHN_NR_WORDS];
	_Atomic uint64_t mask[PVIO_EVTCHN_NR_WORDS];
	/* --- state and counters, the counters written by this domain only
	 * (relaxed) --- */
	_Atomic uint32_t state;     /* enum pvio_evtchn_dom_state */
	uint32_t pad0;
	_Atomic uint64_t sent;      /* successful notify calls (incl. coalesced) */
	_Atomic uint64_t coalesced; /* notifies that found the bit already pending */
	_Atomic uint64_t wakes;     /* platform wake calls made (syscalls) */
	_Atomic uint64_t received;  /* events consumed by test_and_clear (the
				     * waiters count their own) */
	uint8_t pad1[4096 - 2048 - 2 * 8 * PVIO_EVTCHN_NR_WORDS - 40];
};
_Static_assert(PVIO_EVTCHN_SHARED_WAITERS * 64 == 2048, "waiter lines fill 2 KiB, as in Xen");
_Static_assert(PVIO_EVTCHN_NR_WAITERS <= 256, "the waiter field of a port entry is 8 bits");
_Static_assert(offsetof(struct pvio_evtchn_shared, pending) == 2048, "Xen's evtchn_pending offset");
_Static_assert(offsetof(struct pvio_evtchn_shared, mask) == 2560, "Xen's evtchn_mask offset");
_Static_assert(offsetof(struct pvio_evtchn_shared, state) == 3072, "state after the bitmaps");
_Static_assert(offsetof(struct pvio_evtchn_shared, sent) == 3080, "counters after state");
_Static_assert(sizeof(struct pvio_evtchn_shared) == 4096, "shared page is one page");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "shared words are 64-bit");

/*
 * One port table entry, one 64-bit word so that notify reads a consistent
 * binding with one load: bits 0-7 state, 8-15 the waiter the port is
 * routed to (values >= PVIO_EVTCHN_NR_WAITERS are read as 0), 16-31 remote
 * domid, 32-63 remote port (or 0).
 */
struct pvio_evtchn_port_table {
	_Atomic uint64_t entry[PVIO_EVTCHN_NR_PORTS];
};
_Static_assert(sizeof(struct pvio_evtchn_port_table) == 8 * PVIO_EVTCHN_NR_PORTS, "ABI");

/* A domain's waiter lines past the shared page's: line i is waiter
 * PVIO_EVTCHN_SHARED_WAITERS + i. */
struct pvio_evtchn_more_waiters {
	struct pvio_evtchn_waiter line[PVIO_EVTCHN_NR_WAITERS - PVIO_EVTCHN_SHARED_WAITERS];
};
_Static_assert(sizeof(struct pvio_evtchn_more_waiters) % 64 == 0, "whole lines");

/* The region header (first page). */
struct pvio_evtchn_region {
	uint32_t magic;       /* PVIO_EVTCHN_REGION_MAGIC */
	uint32_t version;     /* PVIO_EVTCHN_REGION_VERSION */
	uint32_t nr_domains;  /* domids 0 .. nr_domains - 1 */
	uint32_t nr_ports;    /* PVIO_EVTCHN_NR_PORTS */
	uint64_t bytes;       /* size of the whole region */
	_Atomic uint32_t lock;   /* control-operation spinlock: 0 free, else
				  * its holder: domid + 1, or 0xffffffff for
				  * the toolstack (domain create/destroy) */
	_Atomic uint32_t unused_holder; /* 0 (was the holder, now in lock) */
	uint32_t nr_waiters;  /* PVIO_EVTCHN_NR_WAITERS (version 2) */
	uint8_t pad[4096 - 36];
};
_Static_assert(offsetof(struct pvio_evtchn_region, bytes) == 16, "region header is ABI");
_Static_assert(offsetof(struct pvio_evtchn_region, lock) == 24, "region header is ABI");
_Static_assert(offsetof(struct pvio_evtchn_region, nr_waiters) == 32, "region header is ABI");
_Static_assert(sizeof(struct pvio_evtchn_region) == 4096, "region header is one page");

/*
 * How a waiter sleeps and is woken. Each function is called without locks
 * held and may be called concurrently from several threads.
 *
 * sleep: block the calling thread (waiter 0 of domain self) until
 *   wake(self) is called, or *word != val, or now_ns() >= deadline_ns
 *   (PVIO_EVTCHN_FOREVER: no deadline). It must not miss a wake() that
 *   happens after it was entered (the futex/eventfd contract); returning
 *   early for no reason is allowed. Returns 0 (woken, or maybe spurious),
 *   -ETIMEDOUT, -EINTR (treated as spurious), or another -errno (the wait
 *   fails with it: the platform cannot sleep, e.g. no eventfd).
 * wake: wake domain dom's waiter 0, which sleeps on word. 0 or -errno.
 * now_ns: a monotonic clock in nanoseconds.
 * sleep_on / wake_on (optional, added with waiters): the same for waiter
 *   `waiter` of the domain; word is that waiter's own sleeping word. When
 *   present they are used for every waiter, 0 included, and sleep/wake may
 *   be NULL. When absent, sleep/wake are called with the waiter's word for
 *   every waiter: right for a platform that keys on the word (a futex),
 *   wrong for one that keys on the domain (one eventfd per domain), which
 *   must provide sleep_on/wake_on before waiters other than 0 are used.
 */
struct pvio_evtchn_wait_ops {
	const char *name;
	int (*sleep)(void *ctx, pvio_domid_t self, _Atomic uint32_t *word,
		     uint32_t val, uint64_t deadline_ns);
	int (*wake)(void *ctx, pvio_domid_t dom, _Atomic uint32_t *word);
	uint64_t (*now_ns)(void *ctx);
	int (*sleep_on)(void *ctx, pvio_domid_t self, uint32_t waiter,
			_Atomic uint32_t *word, uint32_t val, uint64_t deadline_ns);
	int (*wake_on)(void *ctx, pvio_domid_t dom, uint32_t waiter,
		       _Atomic uint32_t *word);
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

/* How pvio_evtchn_wait() / pvio_evtchn_wait_on() wait. */
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
	uint32_t waiter;      /* the waiter the port is routed to */
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
 * interdomain ports' peers becomes unbound (remote_dom = domid; its
 * routing kept) and is raised on the waiter it is routed to, waking that
 * waiter through ops/ctx (may be NULL: no wake-up): every waiter of a peer
 * with a port bound to domid returns from its wait and finds it unbound; then
 * all of its ports are freed and the domain is marked dead. Its handles
 * must not be used afterwards. Any thread; takes the region lock.
 * Returns 0, -EINVAL (bad region or domid), -ESRCH (not alive).
 */
int pvio_evtchn_domain_destroy(void *region, pvio_domid_t domid,
			       const struct pvio_evtchn_wait_ops *ops, void *ctx);

/*
 * Reap domain domid, whose every thread is gone (its process died): as
 * pvio_evtchn_domain_destroy(), but if it died inside a control operation
 * holding the region lock, take the lock over (never released otherwise),
 * and also unbind any end of another domain still bound to it, which an
 * operation it did not finish may have left. Only the toolstack, and only
 * once domid can run no more: its own lock would be taken from under it.
 * Returns 0, -EINVAL (bad region or domid), -ESRCH (not alive).
 */
int pvio_evtchn_domain_reap(void *region, pvio_domid_t domid,
			    const struct pvio_evtchn_wait_ops *ops, void *ctx);

/* ---- A domain's handle ---- */

/*
 * Attach handle h to domain domid of the region at mem (bytes long, as
 * mapped in this process), sleeping and waking through ops/ctx (ops must
 * outlive the handle). The domain must have been created. Any thread.
 * Returns 0, -EINVAL (NULL argument, ops lacking a function (sleep or
 * sleep_on, wake or wake_on, now_ns), not a region,
 * wrong version, bytes smaller than the region says, domid out of range),
 * -ESRCH (domain not alive).
 */
int pvio_evtchn_attach(struct pvio_evtchn *h, void *mem, size_t bytes,
		       pvio_domid_t domid, const struct pvio_evtchn_wait_ops *ops,
		       void *ctx);

/* Forget the region; no port is closed (destroy the domain for that). */
void pvio_evtchn_detach(struct pvio_evtchn *h);

/* Set ADAPTIVE's poll budget in ns (0: BLOCK at once). Waiter thread;
 * a handle shared by several waiters' threads is set before it is shared
 * (or each thread attaches its own handle). */
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

/*
 * Route local port to waiter (EVTCHNOP_bind_vcpu): from now on its events
 * raise that waiter's selector and wake that waiter, and only
 * pvio_evtchn_wait_on()/consume_on() of that waiter return it. An event
 * pending (and unmasked) on the port is raised again on the new waiter, so
 * it moves with the port; an event the old waiter is consuming at that
 * very moment may still be returned to it (as an upcall in flight on the
 * old vCPU in Xen). The routing survives the remote end binding, closing
 * or dying; it resets to 0 when the port is closed. Any thread of the
 * domain; takes the region lock.
 * Returns 0, -EINVAL (NULL, port 0, out of range or free, waiter >=
 * PVIO_EVTCHN_NR_WAITERS).
 */
int pvio_evtchn_bind_waiter(struct pvio_evtchn *h, uint32_t port, uint32_t waiter);

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
 * that is pending raises it again on the waiter the port is routed to and
 * wakes that waiter if asleep (Xen's evtchn_unmask). Any thread of the domain; the port's state does
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
 * Without waiting, take up to max pending unmasked ports routed to waiter 0
 * (clearing their pending bits) into ports[], lowest word first. Waiter
 * 0's thread only. pvio_evtchn_consume_on(h, 0, ports, max).
 * Returns the count (0: none), -EINVAL (NULL, max 0).
 */
int pvio_evtchn_consume(struct pvio_evtchn *h, uint32_t *ports, uint32_t max);

/*
 * pvio_evtchn_consume() for waiter: only ports routed to it. The thread
 * waiting on waiter only (one at a time per waiter; different waiters'
 * threads run concurrently).
 * Returns the count (0: none), -EINVAL (NULL, max 0, waiter >=
 * PVIO_EVTCHN_NR_WAITERS).
 */
int pvio_evtchn_consume_on(struct pvio_evtchn *h, uint32_t waiter, uint32_t *ports,
			   uint32_t max);

/*
 * Wait in mode until at least one unmasked port routed to waiter 0 is
 * pending, then consume as pvio_evtchn_consume(). timeout_ns is relative
 * (PVIO_EVTCHN_FOREVER: none; 0: only look). Waiter 0's thread only.
 * pvio_evtchn_wait_on(h, 0, ...).
 * No lost wake-ups: before sleeping the waiter stores sleeping = 1, then
 * (full fence) re-reads the selector; a notifier sets the selector, then
 * (full fence) reads sleeping (pairs W1/N1, see event.c).
 * Returns the count (> 0), -ETIMEDOUT, -EINVAL (NULL, max 0, bad mode), or
 * an error of the platform's sleep other than -ETIMEDOUT/-EINTR.
 */
int pvio_evtchn_wait(struct pvio_evtchn *h, enum pvio_evtchn_wait_mode mode,
		     uint64_t timeout_ns, uint32_t *ports, uint32_t max);

/*
 * pvio_evtchn_wait() for waiter: waits for ports routed to it only,
 * polling its own selector and sleeping on its own word (the pairs W1/N1
 * hold per waiter). The thread waiting on waiter only.
 * Returns as pvio_evtchn_wait(); also -EINVAL (waiter >=
 * PVIO_EVTCHN_NR_WAITERS).
 */
int pvio_evtchn_wait_on(struct pvio_evtchn *h, uint32_t waiter,
			enum pvio_evtchn_wait_mode mode, uint64_t timeout_ns,
			uint32_t *ports, uint32_t max);

/* This domain's line of waiter v: in its shared page for v <
 * PVIO_EVTCHN_SHARED_WAITERS, else in its block of more lines. For code
 * that watches a waiter's words (tests, a platform's debugging); the
 * data path above is the way to use them. Returns NULL for a NULL or
 * detached handle or v >= PVIO_EVTCHN_NR_WAITERS. */
struct pvio_evtchn_waiter *pvio_evtchn_waiter_line(const struct pvio_evtchn *h, uint32_t v);

/* Read this domain's counters, summed over its waiters (relaxed
 * snapshot). Any thread. */
void pvio_evtchn_stats_get(const struct pvio_evtchn *h, struct pvio_evtchn_stats *st);

/* One waiter's counters: received, sleeps and spurious are the waiter's;
 * sent, coalesced and wakes are per domain and read 0 here. Any thread.
 * Returns 0, -EINVAL (NULL, waiter >= PVIO_EVTCHN_NR_WAITERS). */
int pvio_evtchn_stats_get_on(const struct pvio_evtchn *h, uint32_t waiter,
			     struct pvio_evtchn_stats *st);

#endif /* PVIO_EVTCHN_H */
