/* SPDX-License-Identifier: MIT */
/* The exchange of exchange.h: front, back and a second guest. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvio/domain.h>

#include "exchange.h"

#define RING_PAGES 4u
#define NS_PER_MS  1000000ull

#define CHECK(side, cond) do { if (!(cond)) { \
	fprintf(stderr, "%s: check failed: %s (%s:%d)\n", side, #cond, \
		__FILE__, __LINE__); goto fail; } } while (0)
#define CHECK_RC(side, expr, want) do { int rc_ = (expr); if (rc_ != (want)) { \
	fprintf(stderr, "%s: %s returned %d (%s), want %d (%s:%d)\n", side, \
		#expr, rc_, rc_ < 0 ? strerror(-rc_) : "-", (want), __FILE__, \
		__LINE__); goto fail; } } while (0)

static uint8_t ring_byte(uint32_t page, uint32_t off)
{
	return (uint8_t)(page * 131u + off * 7u + 1u);
}

static const char hello_front[] = "hello from front";
static const char hello_back[] = "hello from back";

static int write_key(struct pvio_domain *d, const char *key, uint64_t v)
{
	char path[128];

	snprintf(path, sizeof(path), "/local/domain/%u/test/%s", d->domid, key);
	return pvio_xs_write_uint(d->xs, PVIO_XS_TX_NONE, path, v);
}

static int read_key(struct pvio_domain *d, unsigned dom, const char *key,
		    uint64_t *v)
{
	char path[128];

	snprintf(path, sizeof(path), "/local/domain/%u/test/%s", dom, key);
	return pvio_xs_read_uint(d->xs, PVIO_XS_TX_NONE, path, UINT32_MAX, v);
}

/* One event on port within the timeout: 0, or -1 with a message. */
static int wait_port(const char *side, struct pvio_domain *d, uint32_t port)
{
	uint32_t got[8];
	int n = pvio_evtchn_wait(d->evtchn, PVIO_EVTCHN_BLOCK,
				 XCHG_TIMEOUT_MS * NS_PER_MS, got, 8);

	CHECK_RC(side, n > 0 ? 0 : n, 0);
	for (int i = 0; i < n; i++)
		if (got[i] == port)
			return 0;
	fprintf(stderr, "%s: event on port %u, not %u\n", side, got[0], port);
fail:
	return -1;
}

/*
 * A frontend allocates its port for domain 0, which may not exist yet (the
 * sides start in any order): retry while it is missing, bounded.
 */
static int alloc_port_for_backend(struct pvio_domain *d, uint32_t *port)
{
	int rc;

	for (int i = 0; i < XCHG_TIMEOUT_MS; i++) {
		rc = pvio_evtchn_alloc_unbound(d->evtchn, 0, port);
		if (rc != -ESRCH)
			return rc;
		usleep(1000);
	}
	return rc;
}

/*
 * The backend's discovery: the guest called name whose test/state is
 * "ready", waiting on a watch of /local/domain (dom0 sees everything).
 */
static int find_ready(const char *side, struct pvio_domain *d, const char *name,
		      unsigned *domid)
{
	char list[4096], path[4200], val[128];
	int rc = -1, tries = 0;

	CHECK_RC(side, pvio_xs_watch(d->xs, "/local/domain", "scan"), 0);
	for (;;) {
		unsigned nr;

		CHECK_RC(side, pvio_xs_directory(d->xs, PVIO_XS_TX_NONE, "/local/domain",
						 list, sizeof(list), &nr), 0);
		for (const char *p = list; *p; p += strlen(p) + 1) {
			if (strlen(p) > 5) /* not a domid */
				continue;
			snprintf(path, sizeof(path), "/local/domain/%s/name", p);
			if (pvio_xs_read(d->xs, PVIO_XS_TX_NONE, path, val, sizeof(val), NULL) ||
			    strcmp(val, name))
				continue;
			snprintf(path, sizeof(path), "/local/domain/%s/test/state", p);
			if (pvio_xs_read(d->xs, PVIO_XS_TX_NONE, path, val, sizeof(val), NULL) ||
			    strcmp(val, "ready"))
				continue;
			*domid = (unsigned)strtoul(p, NULL, 10);
			rc = 0;
			goto out;
		}
		CHECK(side, ++tries < 10000);
		CHECK_RC(side, pvio_xs_wait_token(d->xs, "scan", XCHG_TIMEOUT_MS), 1);
	}
out:
	pvio_xs_unwatch(d->xs, "/local/domain", "scan");
	return rc;
fail:
	return -1;
}

/* ---- front ---------------------------------------------------------------- */

int xchg_front(const struct xchg *x)
{
	const char *side = "front";
	struct pvio_domain_config cfg = { .name = "front", .nr_pages = 1024 };
	struct pvio_domain *d = NULL;
	pvio_grant_ref_t refs[RING_PAGES + 1];
	uint32_t ring_pfn, data_pfn, port;
	uint32_t pfns[RING_PAGES];
	void *view = NULL;
	char path[128];

	CHECK_RC(side, pvio_domain_connect(x->run_dir, &cfg, &d), 0);
	CHECK(side, d->domid != 0);
	CHECK(side, pvio_domain_hostd_alive(d));

	/* A guest's store access stops at its own home. */
	CHECK_RC(side, pvio_xs_write(d->xs, PVIO_XS_TX_NONE, "/local/domain/0/evil", "x"),
		 -EACCES);
	snprintf(path, sizeof(path), "/local/domain/%u/name", d->domid);
	{
		char name[64];

		CHECK_RC(side, pvio_xs_read(d->xs, PVIO_XS_TX_NONE, path, name,
					    sizeof(name), NULL), 0);
		CHECK(side, !strcmp(name, "front"));
	}

	/* Pages: a 4-page ring and a data page, with patterns. */
	CHECK_RC(side, pvio_domain_page_alloc(d, RING_PAGES, &ring_pfn), 0);
	CHECK_RC(side, pvio_domain_page_alloc(d, 1, &data_pfn), 0);
	for (uint32_t i = 0; i < RING_PAGES; i++) {
		uint8_t *pg = pvio_domain_page(d, ring_pfn + i);

		CHECK(side, pg != NULL);
		for (uint32_t j = 0; j < PVIO_PAGE_SIZE; j++)
			pg[j] = ring_byte(i, j);
		pfns[i] = ring_pfn + i;
	}
	memcpy(pvio_domain_page(d, data_pfn), hello_front, sizeof(hello_front));
	/* vmap: the same frames side by side, both ways. */
	CHECK_RC(side, pvio_domain_vmap(d, pfns, RING_PAGES, &view), 0);
	for (uint32_t i = 0; i < RING_PAGES; i++)
		CHECK(side, !memcmp((uint8_t *)view + i * PVIO_PAGE_SIZE,
				    pvio_domain_page(d, ring_pfn + i), PVIO_PAGE_SIZE));

	for (uint32_t i = 0; i < RING_PAGES; i++)
		CHECK_RC(side, pvio_gnt_grant(d->gnt, 0, ring_pfn + i, false, &refs[i]), 0);
	CHECK_RC(side, pvio_gnt_grant(d->gnt, 0, data_pfn, false, &refs[RING_PAGES]), 0);
	CHECK_RC(side, alloc_port_for_backend(d, &port), 0);
	for (uint32_t i = 0; i < RING_PAGES; i++) {
		char key[16];

		snprintf(key, sizeof(key), "ring-ref%u", i);
		CHECK_RC(side, write_key(d, key, refs[i]), 0);
	}
	CHECK_RC(side, write_key(d, "data-ref", refs[RING_PAGES]), 0);
	CHECK_RC(side, write_key(d, "port", port), 0);
	snprintf(path, sizeof(path), "/local/domain/%u/test/state", d->domid);
	CHECK_RC(side, pvio_xs_write(d->xs, PVIO_XS_TX_NONE, path, "ready"), 0);

	/* The backend mapped, wrote, and told us. */
	CHECK_RC(side, wait_port(side, d, port), 0);
	CHECK(side, !memcmp(pvio_domain_page(d, data_pfn), hello_back, sizeof(hello_back)));
	CHECK(side, ((uint8_t *)pvio_domain_page(d, ring_pfn + 3))[PVIO_PAGE_SIZE - 1] == 0xA5);
	CHECK(side, ((uint8_t *)view)[4 * PVIO_PAGE_SIZE - 1] == 0xA5);
	CHECK_RC(side, pvio_gnt_revoke(d->gnt, refs[RING_PAGES]), -EBUSY);

	if (x->death) {
		char byte;

		if (x->kill_fd < 0) {
			/* Block until SIGKILLed: the harness does it. */
			uint32_t got[4];

			pvio_evtchn_wait(d->evtchn, PVIO_EVTCHN_BLOCK,
					 XCHG_TIMEOUT_MS * NS_PER_MS * 2, got, 4);
			fprintf(stderr, "front: was not killed\n");
			goto fail;
		}
		/* Threads mode: die by leaving, mappings and all. */
		CHECK(side, read(x->kill_fd, &byte, 1) == 1);
		pvio_domain_vunmap(d, view, RING_PAGES);
		pvio_domain_disconnect(d);
		return 0;
	}

	CHECK_RC(side, pvio_evtchn_notify(d->evtchn, port), 0);
	CHECK_RC(side, wait_port(side, d, port), 0);
	for (uint32_t i = 0; i <= RING_PAGES; i++)
		CHECK_RC(side, pvio_gnt_revoke(d->gnt, refs[i]), 0);
	CHECK_RC(side, pvio_domain_vunmap(d, view, RING_PAGES), 0);
	CHECK_RC(side, pvio_domain_page_free(d, ring_pfn, RING_PAGES), 0);
	CHECK_RC(side, pvio_domain_page_free(d, data_pfn, 1), 0);
	pvio_domain_disconnect(d);
	return 0;
fail:
	pvio_domain_disconnect(d);
	return -1;
}

/* ---- back ------------------------------------------------------------------ */

static int back_front2(const char *side, struct pvio_domain *d);

int xchg_back(const struct xchg *x)
{
	const char *side = "back";
	struct pvio_domain_config cfg = { .name = "back", .nr_pages = 256,
					  .driver_domain = true };
	struct pvio_domain *d = NULL;
	pvio_grant_ref_t ring_refs[RING_PAGES];
	uint32_t handles[RING_PAGES], data_handle, lport;
	uint64_t v, port;
	unsigned fe;
	void *ring = NULL, *data = NULL;
	char path[128], val[64];

	CHECK_RC(side, pvio_domain_connect(x->run_dir, &cfg, &d), 0);
	CHECK(side, d->domid == 0);
	CHECK_RC(side, find_ready(side, d, "front", &fe), 0);

	for (uint32_t i = 0; i < RING_PAGES; i++) {
		char key[16];

		snprintf(key, sizeof(key), "ring-ref%u", i);
		CHECK_RC(side, read_key(d, fe, key, &v), 0);
		ring_refs[i] = (pvio_grant_ref_t)v;
	}
	CHECK_RC(side, read_key(d, fe, "data-ref", &v), 0);
	CHECK_RC(side, read_key(d, fe, "port", &port), 0);
	CHECK_RC(side, pvio_evtchn_bind_interdomain(d->evtchn, (pvio_domid_t)fe,
						    (uint32_t)port, &lport), 0);

	CHECK_RC(side, pvio_gnt_map_one(d->gnt_back, (pvio_domid_t)fe,
					(pvio_grant_ref_t)v, 0, &data, &data_handle), 0);
	CHECK(side, !memcmp(data, hello_front, sizeof(hello_front)));
	memcpy(data, hello_back, sizeof(hello_back));

	CHECK_RC(side, pvio_domain_map_ring(d, (pvio_domid_t)fe, ring_refs, RING_PAGES,
					    &ring, handles), 0);
	for (uint32_t i = 0; i < RING_PAGES; i++)
		for (uint32_t j = 0; j < PVIO_PAGE_SIZE; j++)
			CHECK(side, ((uint8_t *)ring)[i * PVIO_PAGE_SIZE + j] == ring_byte(i, j));
	((uint8_t *)ring)[RING_PAGES * PVIO_PAGE_SIZE - 1] = 0xA5;
	CHECK_RC(side, pvio_evtchn_notify(d->evtchn, lport), 0);

	if (x->death) {
		struct pvio_evtchn_status st;
		char byte = 'B';

		/* @releaseDomain fires once at once (its initial event). */
		CHECK_RC(side, pvio_xs_watch(d->xs, "@releaseDomain", "rel"), 0);
		CHECK_RC(side, pvio_xs_wait_token(d->xs, "rel", XCHG_TIMEOUT_MS), 1);
		CHECK(side, write(x->ready_fd, &byte, 1) == 1);

		/* The frontend dies while we hold its pages and wait on it. */
		CHECK_RC(side, wait_port(side, d, lport), 0);
		CHECK_RC(side, pvio_evtchn_status(d->evtchn, lport, &st), 0);
		CHECK(side, st.state == PVIO_EVTCHN_PORT_UNBOUND);
		CHECK_RC(side, pvio_evtchn_notify(d->evtchn, lport), -ENOTCONN);
		/* Its frames stay ours to read until we unmap. */
		CHECK(side, !memcmp(data, hello_back, sizeof(hello_back)));
		CHECK(side, ((uint8_t *)ring)[0] == ring_byte(0, 0));
		CHECK(side, ((uint8_t *)ring)[2 * PVIO_PAGE_SIZE + 5] == ring_byte(2, 5));
		CHECK_RC(side, pvio_xs_wait_token(d->xs, "rel", XCHG_TIMEOUT_MS), 1);
		snprintf(path, sizeof(path), "/local/domain/%u/name", fe);
		CHECK_RC(side, pvio_xs_read(d->xs, PVIO_XS_TX_NONE, path, val, sizeof(val),
					    NULL), -ENOENT);
		snprintf(path, sizeof(path), "/local/domain/%u", fe);
		CHECK_RC(side, pvio_xs_read(d->xs, PVIO_XS_TX_NONE, path, val, sizeof(val),
					    NULL), -ENOENT);
		CHECK_RC(side, pvio_gnt_unmap_one(d->gnt_back, data_handle), 0);
		CHECK_RC(side, pvio_domain_unmap_ring(d, ring, RING_PAGES, handles), 0);
		CHECK_RC(side, pvio_xs_unwatch(d->xs, "@releaseDomain", "rel"), 0);
		CHECK_RC(side, back_front2(side, d), 0);
		pvio_domain_disconnect(d);
		return 0;
	}

	CHECK_RC(side, wait_port(side, d, lport), 0);
	CHECK_RC(side, pvio_gnt_unmap_one(d->gnt_back, data_handle), 0);
	CHECK_RC(side, pvio_domain_unmap_ring(d, ring, RING_PAGES, handles), 0);
	CHECK_RC(side, pvio_evtchn_notify(d->evtchn, lport), 0);
	pvio_domain_disconnect(d);
	return 0;
fail:
	pvio_domain_disconnect(d);
	return -1;
}

/* After the death: the second guest still works, both ways. */
static int back_front2(const char *side, struct pvio_domain *d)
{
	unsigned g2;
	uint64_t port, pong;
	uint32_t lport;

	CHECK_RC(side, find_ready(side, d, "front2", &g2), 0);
	CHECK_RC(side, read_key(d, g2, "port", &port), 0);
	CHECK_RC(side, pvio_evtchn_bind_interdomain(d->evtchn, (pvio_domid_t)g2,
						    (uint32_t)port, &lport), 0);
	CHECK_RC(side, pvio_evtchn_notify(d->evtchn, lport), 0);
	CHECK_RC(side, wait_port(side, d, lport), 0);
	CHECK_RC(side, read_key(d, g2, "pong", &pong), 0);
	CHECK(side, pong == 1);
	CHECK_RC(side, pvio_evtchn_notify(d->evtchn, lport), 0); /* "done" */
	return 0;
fail:
	return -1;
}

/* ---- front2 ---------------------------------------------------------------- */

int xchg_front2(const struct xchg *x)
{
	const char *side = "front2";
	struct pvio_domain_config cfg = { .name = "front2", .nr_pages = 64 };
	struct pvio_domain *d = NULL;
	uint32_t port;
	char path[128], byte = 'R';

	CHECK_RC(side, pvio_domain_connect(x->run_dir, &cfg, &d), 0);
	CHECK(side, d->domid != 0);
	CHECK_RC(side, alloc_port_for_backend(d, &port), 0);
	CHECK_RC(side, write_key(d, "port", port), 0);
	snprintf(path, sizeof(path), "/local/domain/%u/test/state", d->domid);
	CHECK_RC(side, pvio_xs_write(d->xs, PVIO_XS_TX_NONE, path, "ready"), 0);
	CHECK(side, write(x->ready_fd, &byte, 1) == 1);

	CHECK_RC(side, wait_port(side, d, port), 0);   /* ping */
	CHECK_RC(side, write_key(d, "pong", 1), 0);
	CHECK_RC(side, pvio_evtchn_notify(d->evtchn, port), 0);
	CHECK_RC(side, wait_port(side, d, port), 0);   /* done */
	CHECK(side, pvio_domain_hostd_alive(d));
	pvio_domain_disconnect(d);
	return 0;
fail:
	pvio_domain_disconnect(d);
	return -1;
}
