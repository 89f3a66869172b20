/* SPDX-License-Identifier: MIT */
/*
 * What every malicious-peer test uses: a capture of the backends' log
 * lines (stderr) to count them, and CPU clocks. Static functions: each
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

#include <pvio/host.h>

/* ---- the backends' log lines ----------------------------------------------- */

/*
 * Backends log on stderr. log_begin() sends fd 2 to a temporary file;
 * log_end() restores it, echoes what was captured (so a failing run shows
 * it) and returns how many lines contain `what`.
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
		if (strstr(line, what))
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

#endif /* FAULT_LOG_H */
