/* SPDX-License-Identifier: MIT */
/*
 * Suite blk: `pvio blk` (hostd, a backend and a frontend domain as
 * processes) against fio on the same file, the same parameters and the
 * same CPUs, in one run.
 *
 * Both sides are separate programs: each run forks, sets the child's CPU
 * affinity (inherited by everything it starts: pvio's hostd and domains,
 * fio's io_uring kernel workers), execs it with JSON output on a pipe and
 * parses the one figure it needs. Two CPU sets (shared/BENCHMARKING.md,
 * section 4: fio's tmpfs figure moves 7x at QD1 with pinning):
 *   1cpu  everything on CPU 0 (fio pinned; pvio's two domains share it)
 *   2cpu  CPUs 0 and 1 (fio's io_uring workers take the second CPU; pvio's
 *         backend and frontend domains spread over both)
 * A row's regime is its CPU set; pvio and its baseline always ran on it.
 *
 * Files: one written (not sparse) image in /dev/shm (tmpfs) and one on
 * the root file system (/var/tmp), removed at the end. fio runs
 * ioengine=io_uring direct=1, pvio blk its default io_uring engine with
 * --verify off (fio does not verify either). Repetitions interleave pvio
 * and baseline (A B A B ...); rows are medians.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_pvt.h"

#define PROG "pvio-bench"

#ifndef PVIO_BENCH_PVIO_PATH
#define PVIO_BENCH_PVIO_PATH "pvio"
#endif

enum where { W_SHM = 0, W_ROOT, W_NR, W_NONE = W_NR };
enum cpus { C_1 = 0, C_2, C_NR };

static const char *const where_name[W_NR] = { "shm", "rootfs" };
static const char *const cpus_name[C_NR] = { "1cpu", "2cpu" };

/* One program run: what it does, not who runs it. */
struct side {
	bool fio;
	bool null;         /* pvio --engine null / fio ioengine=null */
	bool persistent;   /* pvio only */
	const char *name;  /* the row's pvio or baseline label */
};

/* A pair of runs, interleaved, and the rows taken from them. */
struct pair {
	const char *what;  /* "randread 4k QD1" */
	const char *rw;
	uint32_t bs, qd;
	enum where where;
	enum cpus cpus;
	struct side a, b;  /* a: pvio's side of the ratio */
	bool p50;          /* also a QD1 p50 latency row */
	double *iops[2], *lat[2];
	unsigned n;        /* repetitions done */
};

struct cfg {
	unsigned reps;
	uint32_t runtime_ms;
	uint64_t size;
	bool json;
	const char *pvio, *fio;
	char file[W_NR][256];
};

static volatile sig_atomic_t interrupted;
static char *cleanup_files[W_NR];

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void remove_files(void)
{
	for (int w = 0; w < W_NR; w++)
		if (cleanup_files[w] && cleanup_files[w][0])
			unlink(cleanup_files[w]);
}

/* ------------------------------------------------------------ programs */

static bool executable(const char *path)
{
	return access(path, X_OK) == 0;
}

/* path, or the first PATH entry holding name; NULL if none. */
static const char *find_program(const char *name, char *buf, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(name, '/'))
		return executable(name) ? name : NULL;
	while (path && *path) {
		const char *end = strchr(path, ':');
		size_t n = end ? (size_t)(end - path) : strlen(path);

		if (n && (size_t)snprintf(buf, len, "%.*s/%s", (int)n, path, name) < len &&
		    executable(buf))
			return buf;
		path = end ? end + 1 : NULL;
	}
	return NULL;
}

/* Make a written (not sparse) file of size bytes. 0 or -errno. */
static int make_file(const char *path, uint64_t size)
{
	static char chunk[1 << 20];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int rc = 0;

	if (fd < 0)
		return -errno;
	memset(chunk, 0x5a, sizeof(chunk));
	for (uint64_t off = 0; off < size && rc == 0; off += sizeof(chunk)) {
		size_t n = size - off < sizeof(chunk) ? (size_t)(size - off) : sizeof(chunk);

		if (pwrite(fd, chunk, n, (off_t)off) != (ssize_t)n)
			rc = errno ? -errno : -EIO;
	}
	if (rc == 0 && fsync(fd))
		rc = -errno;
	close(fd);
	return rc;
}

/*
 * Run argv on cpus with stdout captured into *out (malloc'd, NUL-ended)
 * and stderr into err[errlen]; kill it after timeout_ms. Returns its exit
 * status (0..255), or -errno / -ETIMEDOUT.
 */
static int run_capture(char *const argv[], enum cpus cpus, int timeout_ms,
		       char **out, char *err, size_t errlen)
{
	int po[2], pe[2], status;
	size_t have = 0, cap = 1 << 16, ehave = 0;
	char *buf = malloc(cap);
	struct timespec t0, t;
	pid_t pid;
	bool open_o = true, open_e = true;

	*out = NULL;
	err[0] = '\0';
	if (!buf)
		return -ENOMEM;
	if (pipe2(po, O_CLOEXEC) || pipe2(pe, O_CLOEXEC)) {
		free(buf);
		return -errno;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		free(buf);
		close(po[0]), close(po[1]), close(pe[0]), close(pe[1]);
		return -e;
	}
	if (pid == 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(0, &set);
		if (cpus == C_2)
			CPU_SET(1, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			dprintf(pe[1], "cannot pin to %s: %s\n", cpus_name[cpus],
				strerror(errno));
			_exit(126);
		}
		dup2(po[1], STDOUT_FILENO);
		dup2(pe[1], STDERR_FILENO);
		execv(argv[0], argv);
		dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (open_o || open_e) {
		struct pollfd p[2] = { { open_o ? po[0] : -1, POLLIN, 0 },
				       { open_e ? pe[0] : -1, POLLIN, 0 } };
		long ms;

		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms > timeout_ms || interrupted)
			break;
		if (poll(p, 2, 200) <= 0)
			continue;
		if (p[0].revents) {
			if (have + 4096 > cap) {
				char *nb = realloc(buf, cap * 2);

				if (!nb)
					break;
				buf = nb;
				cap *= 2;
			}
			ssize_t n = read(po[0], buf + have, cap - have - 1);

			if (n > 0)
				have += (size_t)n;
			else if (n == 0 || errno != EINTR)
				open_o = false;
		}
		if (p[1].revents) {
			char tmp[1024];
			ssize_t n = read(pe[0], tmp, sizeof(tmp));

			if (n > 0) {
				size_t k = (size_t)n < errlen - 1 - ehave ? (size_t)n : errlen - 1 - ehave;

				memcpy(err + ehave, tmp, k);
				ehave += k;
				err[ehave] = '\0';
			} else if (n == 0 || errno != EINTR) {
				open_e = false;
			}
		}
	}
	close(po[0]);
	close(pe[0]);
	buf[have] = '\0';
	if (open_o || open_e) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		free(buf);
		return interrupted ? -EINTR : -ETIMEDOUT;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			free(buf);
			return -errno;
		}
	*out = buf;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ------------------------------------------------------------ JSON scan */

/*
 * The number after "key": at or after from (and before end, if given);
 * NULL if there is none. *at gets where the number ends. Both programs'
 * JSON is known: a key search is enough, and every result is checked for
 * a sane value by the caller.
 */
static bool json_num(const char *from, const char *end, const char *key,
		     double *v, const char **at)
{
	char pat[64];
	const char *p;
	char *e;

	snprintf(pat, sizeof(pat), "\"%s\"", key);
	p = strstr(from, pat);
	if (!p || (end && p >= end))
		return false;
	p += strlen(pat);
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == ':')
		p++;
	*v = strtod(p, &e);
	if (e == p || !isfinite(*v))
		return false;
	if (at)
		*at = e;
	return true;
}

/* fio's JSON: the first job's read (or write) section. */
static int parse_fio(const char *out, bool write, double *iops, double *p50)
{
	const char *jobs = strstr(out, "\"jobs\"");
	const char *sec, *lat;
	double err = 0;

	if (!jobs)
		return -EPROTO;
	if (json_num(jobs, NULL, "error", &err, NULL) && err != 0)
		return -EIO;
	sec = strstr(jobs, write ? "\"write\"" : "\"read\"");
	if (!sec || !json_num(sec, NULL, "iops", iops, NULL))
		return -EPROTO;
	lat = strstr(sec, "\"lat_ns\"");
	if (!lat || !json_num(lat, NULL, "50.000000", p50, NULL))
		return -EPROTO;
	*p50 /= 1e3; /* us */
	return 0;
}

/* pvio blk --json: one object. */
static int parse_pvio(const char *out, double *iops, double *p50)
{
	const char *lat = strstr(out, "\"lat_us\"");
	double errors = 1;

	if (!strstr(out, "\"ok\": true") || !json_num(out, NULL, "errors", &errors, NULL) ||
	    errors != 0)
		return -EIO;
	if (!json_num(out, NULL, "iops", iops, NULL) || !lat ||
	    !json_num(lat, NULL, "p50", p50, NULL))
		return -EPROTO;
	return 0;
}

/* ------------------------------------------------------------ one run */

static int run_side(const struct cfg *c, const struct pair *pr, const struct side *s,
		    double *iops, double *p50)
{
	char a[24][300], *argv[25], *out = NULL, err[2048];
	unsigned n = 0;
	int rc, timeout = (int)c->runtime_ms + 90000;
	bool write = strstr(pr->rw, "write") != NULL;
	const char *file = pr->where == W_NONE ? c->file[W_SHM] : c->file[pr->where];

#define ARG(...) snprintf(a[n++], sizeof(a[0]), __VA_ARGS__)
	if (s->fio) {
		ARG("%s", c->fio);
		ARG("--name=pvio-bench-blk");
		if (s->null) {
			ARG("--ioengine=null");
		} else {
			ARG("--ioengine=io_uring");
			ARG("--direct=1");
			ARG("--filename=%s", file);
		}
		ARG("--rw=%s", pr->rw);
		ARG("--bs=%u", pr->bs);
		ARG("--iodepth=%u", pr->qd);
		ARG("--size=%llu", (unsigned long long)c->size);
		ARG("--runtime=%ums", c->runtime_ms);
		ARG("--time_based=1");
		ARG("--numjobs=1");
		ARG("--lat_percentiles=1");
		ARG("--clat_percentiles=0");
		ARG("--output-format=json");
	} else {
		ARG("%s", c->pvio);
		ARG("blk");
		ARG("--disk");
		ARG("format=raw,vdev=xvda,access=rw,target=%s", file);
		ARG("--engine");
		ARG("%s", s->null ? "null" : "io_uring");
		ARG("--rw=%s", pr->rw);
		ARG("--bs=%u", pr->bs);
		ARG("--iodepth=%u", pr->qd);
		ARG("--size=%llu", (unsigned long long)c->size);
		ARG("--runtime=%ums", c->runtime_ms);
		ARG("--verify=off");
		ARG("--persistent=%s", s->persistent ? "on" : "off");
		ARG("--json");
	}
#undef ARG
	for (unsigned i = 0; i < n; i++)
		argv[i] = a[i];
	argv[n] = NULL;

	rc = run_capture(argv, pr->cpus, timeout, &out, err, sizeof(err));
	if (rc == 0)
		rc = s->fio ? parse_fio(out, write, iops, p50) : parse_pvio(out, iops, p50);
	else if (rc > 0)
		rc = -ECHILD;
	if (rc == 0 && (*iops <= 0 || *p50 <= 0))
		rc = -EPROTO;
	if (rc) {
		char *nl = strchr(err, '\n');

		if (nl && nl[1] == '\0')
			*nl = '\0';
		fprintf(stderr, PROG ": blk: %s %s %s [%s]: %s failed (%s)%s%s\n",
			pr->what, pr->where == W_NONE ? "" : where_name[pr->where],
			s->name, cpus_name[pr->cpus], s->fio ? "fio" : "pvio blk",
			rc == -ECHILD ? "exit status" : strerror(-rc),
			err[0] ? ": " : "", err);
	}
	free(out);
	return rc;
}

/* ------------------------------------------------------------ the plan */

/* pvio's default: zero copy (the workload's buffers granted per request). */
static const struct side PVIO = { .fio = false, .persistent = false, .name = "pvio" };
static const struct side FIO = { .fio = true, .name = "fio io_uring" };
static const struct side PVIO_NULL = { .null = true, .persistent = false, .name = "pvio" };
static const struct side FIO_NULL = { .fio = true, .null = true, .name = "fio null" };
static const struct side PVIO_PERS = { .persistent = true, .name = "persistent" };

static struct pair mk(const char *what, const char *rw, uint32_t bs, uint32_t qd,
		      enum where w, enum cpus cp, const struct side *a,
		      const struct side *b)
{
	struct pair p = { .what = what, .rw = rw, .bs = bs, .qd = qd, .where = w,
			  .cpus = cp, .a = *a, .b = *b, .p50 = qd == 1 };

	return p;
}

static unsigned plan(struct pair *p)
{
	static const struct { const char *what, *rw; uint32_t bs, qd; } io[] = {
		{ "randread 4k QD1", "randread", 4096, 1 },
		{ "randread 4k QD32", "randread", 4096, 32 },
		{ "randwrite 4k QD32", "randwrite", 4096, 32 },
		{ "read 128k QD8", "read", 131072, 8 },
	};
	unsigned n = 0;

	for (int w = 0; w < W_NR; w++)
		for (int cp = 0; cp < C_NR; cp++)
			for (unsigned i = 0; i < sizeof(io) / sizeof(io[0]); i++)
				p[n++] = mk(io[i].what, io[i].rw, io[i].bs, io[i].qd,
					    (enum where)w, (enum cpus)cp, &PVIO, &FIO);
	for (int cp = 0; cp < C_NR; cp++)
		p[n++] = mk("null randread 4k QD32", "randread", 4096, 32, W_NONE,
			    (enum cpus)cp, &PVIO_NULL, &FIO_NULL);
	/* The default (zero copy) against persistent grants. */
	p[n++] = mk("zero-copy randread 4k QD32", "randread", 4096, 32, W_SHM, C_2,
		    &PVIO, &PVIO_PERS);
	p[n++] = mk("zero-copy read 128k QD8", "read", 131072, 8, W_SHM, C_2,
		    &PVIO, &PVIO_PERS);
	return n;
}

#define MAX_PAIRS 24

/* ------------------------------------------------------------ results */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of v[0..n-1], n >= 1; sorts v in place. */
static double median_of(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct row {
	char name[96];
	const char *unit, *baseline, *regime;
	double pvio, base, ratio;
};

static unsigned rows_of(struct pair *p, unsigned np, struct row *r)
{
	unsigned n = 0;

	for (unsigned i = 0; i < np; i++) {
		struct pair *q = &p[i];
		char where[16] = "";
		double a, b;

		if (!q->n)
			continue;
		if (q->where != W_NONE)
			snprintf(where, sizeof(where), " %s", where_name[q->where]);
		a = median_of(q->iops[0], q->n);
		b = median_of(q->iops[1], q->n);
		snprintf(r[n].name, sizeof(r[n].name), "%s%s [%s]", q->what, where,
			 cpus_name[q->cpus]);
		r[n].unit = "IOPS";
		r[n].baseline = q->b.name;
		r[n].regime = cpus_name[q->cpus];
		r[n].pvio = a;
		r[n].base = b;
		r[n].ratio = a / b;
		n++;
		if (!q->p50)
			continue;
		a = median_of(q->lat[0], q->n);
		b = median_of(q->lat[1], q->n);
		snprintf(r[n].name, sizeof(r[n].name), "p50 %s%s [%s]", q->what, where,
			 cpus_name[q->cpus]);
		r[n].unit = "us";
		r[n].baseline = q->b.name;
		r[n].regime = cpus_name[q->cpus];
		r[n].pvio = a;
		r[n].base = b;
		r[n].ratio = b / a;
		n++;
	}
	return n;
}

static void print_json(const struct row *r, unsigned n, const unsigned *reg)
{
	printf("{\"suite\": \"blk\", \"cases\": [");
	for (unsigned i = 0; i < n; i++)
		printf("%s\n  {\"name\": \"%s\", \"unit\": \"%s\", \"pvio\": %.9g, "
		       "\"baseline\": \"%s\", \"baseline_value\": %.9g, \"ratio\": %.9g, "
		       "\"regime\": \"%s\"}", i ? "," : "", r[i].name, r[i].unit, r[i].pvio,
		       r[i].baseline, r[i].base, r[i].ratio, r[i].regime);
	printf("\n], \"regimes\": {\"1cpu\": %u, \"2cpu\": %u}}\n", reg[C_1], reg[C_2]);
}

static void print_table(const struct cfg *c, const struct row *r, unsigned n, double secs)
{
	printf("pvio-bench blk: %u repetition%s of %u ms per run, %llu MiB files, %.0f s\n\n",
	       c->reps, c->reps == 1 ? "" : "s", c->runtime_ms,
	       (unsigned long long)(c->size >> 20), secs);
	printf("%-44s | %12s | %-14s | %14s | %6s\n", "case", "pvio", "baseline",
	       "baseline value", "ratio");
	printf("---------------------------------------------+--------------+"
	       "----------------+----------------+-------\n");
	for (unsigned i = 0; i < n; i++) {
		char pv[32], bv[32];

		if (!strcmp(r[i].unit, "us")) {
			snprintf(pv, sizeof(pv), "%.1f us", r[i].pvio);
			snprintf(bv, sizeof(bv), "%.1f us", r[i].base);
		} else {
			snprintf(pv, sizeof(pv), "%.0f", r[i].pvio);
			snprintf(bv, sizeof(bv), "%.0f", r[i].base);
		}
		printf("%-44s | %12s | %-14s | %14s | %6.2f\n", r[i].name, pv,
		       r[i].baseline, bv, r[i].ratio);
	}
	printf("\nfiles: %s (tmpfs), %s (root file system); fio ioengine=io_uring "
	       "direct=1,\npvio blk --engine io_uring --verify off. [1cpu]: both "
	       "pinned to CPU 0 with\neverything they start; [2cpu]: both on CPUs 0-1. "
	       "IOPS ratio pvio/baseline,\nlatency (us) baseline/pvio: > 1 means pvio "
	       "is better.\n", c->file[W_SHM], c->file[W_ROOT]);
}

/* ------------------------------------------------------------ the suite */

int pvio_bench_suite_blk(const struct pvio_bench_opts *opts)
{
	static struct pair pairs[MAX_PAIRS];
	static struct row rows[2 * MAX_PAIRS];
	char fio_buf[PATH_MAX], pvio_buf[PATH_MAX];
	const char *env = getenv("PVIO_BENCH_PVIO");
	struct cfg c = { 0 };
	struct timespec t0, t1;
	unsigned np, nr, reg[C_NR] = { 0 };
	int status = 0;
	struct sigaction sa = { .sa_handler = on_signal };

	c.json = opts->json;
	c.reps = opts->reps ? opts->reps : opts->smoke || opts->quick ? 1 : 3;
	c.runtime_ms = opts->smoke ? 100 : opts->quick ? 300 : 2000;
	c.size = opts->smoke ? (16ull << 20) : opts->quick ? (256ull << 20) : (1ull << 30);
	c.pvio = find_program(env && *env ? env : PVIO_BENCH_PVIO_PATH, pvio_buf,
			      sizeof(pvio_buf));
	if (!c.pvio)
		c.pvio = find_program("pvio", pvio_buf, sizeof(pvio_buf));
	c.fio = find_program("fio", fio_buf, sizeof(fio_buf));
	if (!c.pvio || !c.fio) {
		fprintf(stderr, PROG ": blk: %s not found (%s)\n", c.pvio ? "fio" : "pvio",
			c.pvio ? "apt-get install fio" : "set PVIO_BENCH_PVIO to the pvio tool");
		return 1;
	}
	{
		cpu_set_t set;

		if (sched_getaffinity(0, sizeof(set), &set) || !CPU_ISSET(0, &set) ||
		    !CPU_ISSET(1, &set)) {
			fprintf(stderr, PROG ": blk: CPUs 0 and 1 are not both available\n");
			return 1;
		}
	}
	snprintf(c.file[W_SHM], sizeof(c.file[0]), "/dev/shm/pvio-bench-blk-%d.img",
		 (int)getpid());
	snprintf(c.file[W_ROOT], sizeof(c.file[0]), "/var/tmp/pvio-bench-blk-%d.img",
		 (int)getpid());
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int w = 0; w < W_NR; w++) {
		int rc;

		cleanup_files[w] = c.file[w];
		rc = make_file(c.file[w], c.size);
		if (rc) {
			fprintf(stderr, PROG ": blk: cannot write %s: %s\n", c.file[w],
				strerror(-rc));
			remove_files();
			return 1;
		}
	}

	np = plan(pairs);
	for (unsigned i = 0; i < np; i++)
		for (int s = 0; s < 2; s++) {
			pairs[i].iops[s] = calloc(c.reps, sizeof(double));
			pairs[i].lat[s] = calloc(c.reps, sizeof(double));
			if (!pairs[i].iops[s] || !pairs[i].lat[s]) {
				fprintf(stderr, PROG ": out of memory\n");
				status = 1;
				goto out;
			}
		}
	/* A B A B: each pair's two runs back to back, every pair each rep. */
	for (unsigned rep = 0; rep < c.reps && !status; rep++) {
		for (unsigned i = 0; i < np && !status; i++) {
			struct pair *q = &pairs[i];
			const struct side *s[2] = { &q->a, &q->b };

			if (!c.json)
				fprintf(stderr, "\rblk: repetition %u/%u, %u/%u %-30s", rep + 1,
					c.reps, i + 1, np, q->what);
			for (int k = 0; k < 2 && !status; k++)
				if (run_side(&c, q, s[k], &q->iops[k][rep], &q->lat[k][rep]))
					status = 1;
			if (!status) {
				q->n = rep + 1;
				reg[q->cpus]++;
			}
			if (interrupted)
				status = 1;
		}
	}
	if (!c.json)
		fprintf(stderr, "\r%78s\r", "");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!status) {
		nr = rows_of(pairs, np, rows);
		if (c.json)
			print_json(rows, nr, reg);
		else
			print_table(&c, rows, nr, (double)(t1.tv_sec - t0.tv_sec) +
				    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
out:
	remove_files();
	for (unsigned i = 0; i < np; i++)
		for (int s = 0; s < 2; s++) {
			free(pairs[i].iops[s]);
			free(pairs[i].lat[s]);
			pairs[i].iops[s] = pairs[i].lat[s] = NULL;
		}
	return status;
}
