/* SPDX-License-Identifier: MIT */
/*
 * What every malicious-peer test uses: a capture of the backends' log
 * lines (stderr) to count them, CPU clocks, an event storm, and a way to
 * use up the driver domain's grant mappings. Static functions: each
 * test program includes it once, after <cmocka.h>.
 */
#ifndef FAULT_LOG_H
#define FAULT_LOG_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <pvio/domain.h>
#include <pvio/evtchn.h>
#include <pvio/grant.h>
#include <pvio/host.h>

/* ---- the backends' log lines ----------------------------------------------- */

/*
 * Backends log on stderr. log_begin() sends fd 2 to a temporary file;
 * log_end() restores it, echoes what was captured (so a failing run shows
 * it) and returns how many of the backends' lines contain `what`.
 */
static struct {
	int saved;
	char path[64];
	uint64_t t0;
} LOG = { .saved = -1 };

static inline void log_begin(void)
{
	int fd;

	strcpy(LOG.path, "/tmp/pvio-fault-log-XXXXXX");
	fd = mkstemp(LOG.path);
	assert_true(fd >= 0);
	fflush(stderr);
	LOG.saved = dup(2);
	assert_true(LOG.saved >= 0);
	assert_true(dup2(fd, 2) == 2);
	close(fd);
	LOG.t0 = pvio_now_ns();
}

/* Lines containing what; *secs (may be NULL) gets the whole seconds the
 * capture lasted, rounded up. */
static inline unsigned log_end(const char *what, unsigned *secs)
{
	char line[512];
	unsigned n = 0, total = 0;
	FILE *f;

	fflush(stderr);
	assert_true(dup2(LOG.saved, 2) == 2);
	close(LOG.saved);
	LOG.saved = -1;
	if (secs)
		*secs = (unsigned)((pvio_now_ns() - LOG.t0) / 1000000000ull) + 1;
	f = fopen(LOG.path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		total++;
		/* a backend's own lines only (a sanitizer's report on the
		 * same stderr names functions too) */
		if ((!strncmp(line, "blkback ", 8) || !strncmp(line, "netback ", 8)) &&
		    strstr(line, what))
			n++;
		if (total <= 40)
			fprintf(stderr, "  [log] %s", line);
	}
	fclose(f);
	unlink(LOG.path);
	if (total > 40)
		fprintf(stderr, "  [log] ... %u lines in all\n", total);
	return n;
}

/*
 * After a case: if it failed it left its log capture open (show what it
 * captured) and its devices running against hostd. Returns true then: the
 * caller stops its own threads and leaves this machine as it is (leaked,
 * never torn down under live threads), so that cmocka can report and the
 * next case starts on a fresh machine.
 */
static inline bool fault_case_unfinished(bool unfinished)
{
	char line[512];
	FILE *f;

	if (LOG.saved >= 0) {
		fflush(stderr);
		(void)dup2(LOG.saved, 2);
		close(LOG.saved);
		LOG.saved = -1;
		f = fopen(LOG.path, "r");
		while (f && fgets(line, sizeof(line), f))
			fprintf(stderr, "  [captured] %s", line);
		if (f)
			fclose(f);
		unlink(LOG.path);
		unfinished = true;
	}
	if (unfinished)
		fprintf(stderr, "the case failed with devices running: its machine is left as is\n");
	return unfinished;
}

/* A thread's CPU time in ns (0 if its clock cannot be read). */
static inline uint64_t thread_cpu_ns(pthread_t t)
{
	clockid_t c;
	struct timespec ts;

	if (pthread_getcpuclockid(t, &c) || clock_gettime(c, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- an event storm ------------------------------------------------------------ */

/*
 * A thread that notifies one port of a guest as fast as it can until
 * stopped: the storm of the event-storm cases. A case storms while
 * stormer_going(): at least 2 s, and until a million notifies are sent
 * or 10 s have passed.
 */
struct stormer {
	struct pvio_host_thread t;
	struct pvio_domain *d;
	uint32_t port;
	uint64_t t0;             /* when the storm began */
	_Atomic uint64_t sent;   /* published every 1024 notifies */
};

static inline void *stormer_main(void *arg)
{
	struct stormer *s = arg;
	uint64_t n = 0;

	while (!pvio_host_thread_stopping(&s->t)) {
		(void)pvio_evtchn_notify(s->d->evtchn, s->port);
		if ((++n & 1023) == 0)
			atomic_store_explicit(&s->sent, n, memory_order_relaxed);
	}
	atomic_store(&s->sent, n);
	return NULL;
}

static inline void stormer_start(struct stormer *s, struct pvio_domain *d, uint32_t port)
{
	memset(s, 0, sizeof(*s));
	s->d = d;
	s->port = port;
	s->t0 = pvio_now_ns();
	assert_int_equal(pvio_host_thread_start(&s->t, stormer_main, s), 0);
}

static inline bool stormer_going(struct stormer *s)
{
	uint64_t t = pvio_now_ns() - s->t0;

	return t < 2000000000ull || (atomic_load(&s->sent) < 1000000 && t < 10000000000ull);
}

/* Stop and join the stormer. Returns how long the storm lasted (ns). */
static inline uint64_t stormer_stop(struct stormer *s)
{
	pvio_host_thread_stop(&s->t);
	return pvio_now_ns() - s->t0;
}

/*
 * Every free mapping handle of a driver domain, taken by mapping grants of
 * one page of a guest, read-only. A grant holds at most 255 pins of a kind
 * (Xen's limit; the next map is refused with GNTST_no_space, as when the
 * maptrack is full), so the page is granted afresh each time a grant is
 * full, and a refusal of a grant with fewer pins means no handle is left.
 */
#define MAPTRACK_PINS_PER_GRANT 255u

struct maptrack_hog {
	struct pvio_gnt_back *gnt;    /* the driver domain's */
	struct pvio_gnt_front *guest; /* whose page is mapped */
	uint32_t *handles, nh;
	pvio_grant_ref_t *refs;
	uint32_t nrefs;
};

/* Fill gnt's maptrack with mappings of page pfn of guest (domid), granted
 * to backend. Returns how many handles were taken; maptrack_release()
 * gives them back and ends the grants. */
static inline uint32_t maptrack_fill(struct maptrack_hog *m, struct pvio_gnt_back *gnt,
				     struct pvio_gnt_front *guest, pvio_domid_t domid,
				     pvio_domid_t backend, uint32_t pfn)
{
	const uint32_t max = 1u << 20;
	uint32_t pins = MAPTRACK_PINS_PER_GRANT;

	*m = (struct maptrack_hog){ .gnt = gnt, .guest = guest };
	m->handles = calloc(max, sizeof(*m->handles));
	m->refs = calloc(max / MAPTRACK_PINS_PER_GRANT + 1, sizeof(*m->refs));
	assert_non_null(m->handles);
	assert_non_null(m->refs);
	for (;;) {
		void *va;
		int rc;

		if (pins == MAPTRACK_PINS_PER_GRANT) {
			assert_int_equal(pvio_gnt_grant(guest, backend, pfn, true,
							&m->refs[m->nrefs]), 0);
			m->nrefs++;
			pins = 0;
		}
		rc = pvio_gnt_map_one(gnt, domid, m->refs[m->nrefs - 1],
				      PVIO_GNTMAP_readonly, &va, &m->handles[m->nh]);
		if (rc != PVIO_GNTST_okay) {
			assert_int_equal(rc, PVIO_GNTST_no_space);
			break;
		}
		pins++;
		assert_true(++m->nh < max);
	}
	print_message("exhaustion: %u mapping handles taken (%u grants of one page)\n",
		      m->nh, m->nrefs);
	return m->nh;
}

static inline void maptrack_release(struct maptrack_hog *m)
{
	for (uint32_t i = 0; i < m->nh; i++)
		assert_int_equal(pvio_gnt_unmap_one(m->gnt, m->handles[i]), PVIO_GNTST_okay);
	for (uint32_t i = 0; i < m->nrefs; i++)
		assert_int_equal(pvio_gnt_revoke(m->guest, m->refs[i]), 0);
	free(m->handles);
	free(m->refs);
	*m = (struct maptrack_hog){ 0 };
}

#endif /* FAULT_LOG_H */
