/* SPDX-License-Identifier: MIT */
/*
 * What every malicious-peer test uses: a capture of the backends' log
 * lines (stderr) to count them, CPU clocks, and a way to use up the
 * driver domain's grant mappings. Static functions: each
 * test program includes it once, after <cmocka.h>.
 */
#ifndef FAULT_LOG_H
#define FAULT_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

/*
 * Take every free mapping handle of gnt (a driver domain's) by mapping
 * dom's grant ref over and over, read-only. Returns how many were taken
 * (their handles in a malloc'd *handles); maptrack_release() gives them
 * back.
 */
static inline uint32_t maptrack_fill(struct pvio_gnt_back *gnt, pvio_domid_t dom,
				     pvio_grant_ref_t ref, uint32_t **handles)
{
	const uint32_t max = 1u << 20;
	uint32_t *h = calloc(max, sizeof(*h)), n = 0;

	assert_non_null(h);
	for (;;) {
		void *va;
		int rc = pvio_gnt_map_one(gnt, dom, ref, PVIO_GNTMAP_readonly, &va, &h[n]);

		if (rc != PVIO_GNTST_okay) {
			assert_int_equal(rc, PVIO_GNTST_no_space);
			break;
		}
		assert_true(++n < max);
	}
	print_message("exhaustion: %u mapping handles taken\n", n);
	*handles = h;
	return n;
}

static inline void maptrack_release(struct pvio_gnt_back *gnt, uint32_t *handles, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(pvio_gnt_unmap_one(gnt, handles[i]), PVIO_GNTST_okay);
	free(handles);
}

#endif /* FAULT_LOG_H */
