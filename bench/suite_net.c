/* SPDX-License-Identifier: MIT */
/*
 * Suite "net": the network path end to end against DPDK alone and against
 * the Linux stack, on the engine of suites grant and evtchn (suite_grant.c).
 *
 * Every body is one child process, run for a fixed time (never sized):
 *   dpdk S       pvio net --baseline: DPDK straight to net_null, S-byte frames
 *   tx S         pvio net: guest -> netfront -> ring -> netback -> net_null,
 *                netback's default copy threshold
 *   tx zc S      ... every frame mapped (--tx-copy never: zero copy)
 *   tx copy S    ... every frame copied by netback (--tx-copy always)
 *   rx copy S    net_null -> netback -> guest, grant copy (--direction rx)
 *   rx flip S    ... page flip
 *   iperf3 veth  iperf3 TCP over a plain veth pair between two namespaces
 *   iperf3 tap   iperf3 TCP guest namespace -> netfront --tap -> netback ->
 *                TAP vif -> bridge -> peer namespace (bench/net_iperf.sh)
 * for S = 64, 512 and 1500 bytes. pvio net starts its own hostd and two
 * domain processes each time; the three are not pinned. A repetition is
 * labelled near/far/mixed by the bare ping-pong probe before and after it,
 * as the other cross-core suites are: it says where the two vCPUs were.
 *
 * Rows (throughputs: ratio pvio/baseline, > 1 pvio wins):
 *   tx S B          Mpps vs dpdk S
 *   tx Gbit/s 1500  Gbit/s vs dpdk 1500
 *   tx zero-copy S  Mpps vs tx copy S (> 1: zero copy wins at S)
 *   rx flip S       Mpps vs rx copy S (> 1: flip wins at S)
 *   iperf3 TCP      Gbit/s vs veth
 *   kicks/pkt       tx 64 B and rx 64 B, every repetition (unpaired: no
 *                   baseline has kicks)
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pvio/host.h>

#include "bench_pvt.h"
#include "suite_common.h"

#define PROG "pvio-bench"
#define NSIZES 3
#define OUT_MAX 65536
#define MAX_REPS 1024

static const unsigned sizes[NSIZES] = { 64, 512, 1500 };

enum kind { K_DPDK, K_TX, K_ZC, K_COPY, K_RXC, K_RXF, K_NR_PKT };

enum {
	NB_PKT_END = K_NR_PKT * NSIZES,
	NB_IPERF_VETH = NB_PKT_END,
	NB_IPERF_TAP,
	NB_NR
};

static const char *const kind_names[K_NR_PKT] = {
	"dpdk", "tx", "tx zc", "tx copy", "rx copy", "rx flip",
};

struct nctx {
	char pvio[PATH_MAX], script[PATH_MAX];
	char state[64];                 /* net_iperf.sh's state dir */
	bool iperf_up;
	char duration[16];              /* --duration of a pvio net run */
	char iperf_secs[8];
	unsigned long timeout_ms;       /* a child that takes longer is killed */
	/* kicks per packet of tx 64 and rx copy 64, every repetition */
	double kicks[2][MAX_REPS];
	unsigned nr_kicks[2];
	char names[NB_NR][24];
	const char *name_ptrs[NB_NR];
	bool paired[16];
};

static unsigned body_of(enum kind k, unsigned s)
{
	return (unsigned)k * NSIZES + s;
}

/* ---- children ------------------------------------------------------------------------ */

static uint64_t now_ms(void)
{
	return pvio_now_ns() / 1000000u;
}

/*
 * Run argv with stdout captured into out (NUL-terminated) and stderr into
 * err; kill it after timeout_ms. Returns its exit status (0..255), or
 * -ETIMEDOUT, -errno.
 */
static int run_child(char *const argv[], unsigned long timeout_ms, char *out, size_t out_size,
		     char *err, size_t err_size)
{
	int po[2], pe[2], status;
	size_t no = 0, ne = 0;
	uint64_t deadline = now_ms() + timeout_ms;
	bool timed_out = false;
	pid_t pid;

	if (pipe2(po, O_CLOEXEC))
		return -errno;
	if (pipe2(pe, O_CLOEXEC)) {
		close(po[0]);
		close(po[1]);
		return -errno;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(po[0]);
		close(po[1]);
		close(pe[0]);
		close(pe[1]);
		return -e;
	}
	if (pid == 0) {
		dup2(po[1], STDOUT_FILENO);
		dup2(pe[1], STDERR_FILENO);
		execv(argv[0], argv);
		fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	struct pollfd pf[2] = { { .fd = po[0], .events = POLLIN },
				{ .fd = pe[0], .events = POLLIN } };
	int open_fds = 2;

	while (open_fds) {
		uint64_t t = now_ms();

		if (t >= deadline) {
			timed_out = true;
			kill(pid, SIGKILL);
			break;
		}
		if (poll(pf, 2, (int)(deadline - t)) < 0 && errno != EINTR)
			break;
		for (int k = 0; k < 2; k++) {
			char buf[4096], *dst = k ? err : out;
			size_t *n = k ? &ne : &no, cap = k ? err_size : out_size;
			ssize_t r;

			if (pf[k].fd < 0 || !(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			r = read(pf[k].fd, buf, sizeof(buf));
			if (r <= 0) {
				close(pf[k].fd);
				pf[k].fd = -1;
				open_fds--;
				continue;
			}
			size_t take = (size_t)r < cap - 1 - *n ? (size_t)r : cap - 1 - *n;

			memcpy(dst + *n, buf, take);
			*n += take;
		}
	}
	for (int k = 0; k < 2; k++)
		if (pf[k].fd >= 0)
			close(pf[k].fd);
	out[no] = '\0';
	err[ne] = '\0';
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (timed_out)
		return -ETIMEDOUT;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The number after "key": in a flat JSON object, NAN when absent. */
static double json_field(const char *doc, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\": ", key);
	p = strstr(doc, pat);
	if (!p)
		return NAN;
	return strtod(p + strlen(pat), NULL);
}

static void last_line(const char *s, char *buf, size_t size)
{
	size_t n = strlen(s);

	while (n && s[n - 1] == '\n')
		n--;
	size_t start = n;

	while (start && s[start - 1] != '\n')
		start--;
	snprintf(buf, size, "%.*s", (int)(n - start), s + start);
}

/* ---- bodies ------------------------------------------------------------------------------ */

static int pkt_body(struct nctx *c, unsigned body, struct pvio_bench_sample *s)
{
	enum kind k = (enum kind)(body / NSIZES);
	char size[8], out[OUT_MAX], err[4096], line[512];
	char *argv[20];
	int n = 0, rc;

	snprintf(size, sizeof(size), "%u", sizes[body % NSIZES]);
	argv[n++] = c->pvio;
	argv[n++] = "net";
	argv[n++] = "--json";
	argv[n++] = "--size";
	argv[n++] = size;
	argv[n++] = "--duration";
	argv[n++] = c->duration;
	switch (k) {
	case K_DPDK:
		argv[n++] = "--baseline";
		break;
	case K_TX:
		break;
	case K_ZC:
	case K_COPY:
		argv[n++] = "--tx-copy";
		argv[n++] = k == K_ZC ? "never" : "always";
		break;
	case K_RXC:
	case K_RXF:
		argv[n++] = "--direction";
		argv[n++] = "rx";
		argv[n++] = "--rx";
		argv[n++] = k == K_RXC ? "copy" : "flip";
		break;
	default:
		return -EINVAL;
	}
	argv[n] = NULL;
	rc = run_child(argv, c->timeout_ms, out, sizeof(out), err, sizeof(err));
	if (rc) {
		last_line(err, line, sizeof(line));
		fprintf(stderr, PROG ": net: pvio net (%s %s B) %s %d: %s\n", kind_names[k],
			size, rc < 0 ? "failed:" : "exited", rc < 0 ? -rc : rc,
			line[0] ? line : "(no message)");
		return rc < 0 ? rc : -EIO;
	}
	double secs = json_field(out, "seconds"), mpps = json_field(out, "mpps");
	double kpp = json_field(out, "kicks_per_packet");

	if (!(secs > 0) || !(mpps > 0) || isnan(kpp) || !strstr(out, "\"ok\": true")) {
		fprintf(stderr, PROG ": net: pvio net (%s %s B) printed no result: %.300s\n",
			kind_names[k], size, out);
		return -EIO;
	}
	s->value = mpps;
	s->ns = (uint64_t)(secs * 1e9);
	s->offcpu_ns = 0;
	if (body == body_of(K_TX, 0) || body == body_of(K_RXC, 0)) {
		unsigned w = body == body_of(K_TX, 0) ? 0 : 1;

		if (c->nr_kicks[w] < MAX_REPS)
			c->kicks[w][c->nr_kicks[w]++] = kpp;
	}
	return 0;
}

/* Run the iperf script with arguments a1.. (the first NULL ends them). */
static int script(struct nctx *c, const char *a1, const char *a2, const char *a3,
		  const char *a4, char *out, size_t out_size)
{
	char err[4096], line[512];
	char *argv[] = { "/bin/sh", c->script, (char *)a1, (char *)a2, (char *)a3, (char *)a4,
			 NULL };
	int rc;

	rc = run_child(argv, 120000, out, out_size, err, sizeof(err));
	if (rc) {
		last_line(err, line, sizeof(line));
		fprintf(stderr, PROG ": net: %s %s: %s\n", c->script, a1,
			line[0] ? line : rc < 0 ? strerror(-rc) : "failed");
		return rc < 0 ? rc : -EIO;
	}
	return 0;
}

static int iperf_body(struct nctx *c, unsigned body, struct pvio_bench_sample *s)
{
	char out[4096];
	uint64_t t0;
	int rc;

	if (!c->iperf_up) {
		if (!mkdtemp(strcpy(c->state, "/tmp/pvio-bench-net-XXXXXX"))) {
			c->state[0] = '\0';
			return -errno;
		}
		c->iperf_up = true; /* teardown from here on, even after a failed setup */
		if ((rc = script(c, "setup", c->pvio, c->state, NULL, out, sizeof(out))))
			return rc;
	}
	t0 = pvio_now_ns();
	rc = script(c, "run", c->state, body == NB_IPERF_VETH ? "veth" : "tap", c->iperf_secs,
		    out, sizeof(out));
	if (rc)
		return rc;
	double bps = strtod(out, NULL);

	if (!(bps > 0)) {
		fprintf(stderr, PROG ": net: iperf3 moved nothing: %.200s\n", out);
		return -EIO;
	}
	s->value = bps / 1e9;
	s->ns = pvio_now_ns() - t0;
	s->offcpu_ns = 0;
	return 0;
}

static void iperf_down(struct nctx *c)
{
	char out[256];

	if (!c->iperf_up)
		return;
	(void)script(c, "teardown", c->state, NULL, NULL, out, sizeof(out));
	rmdir(c->state);
	c->iperf_up = false;
}

static int net_run(void *ctx, unsigned body, uint64_t count, struct pvio_bench_sample *s)
{
	(void)count;
	return body < NB_PKT_END ? pkt_body(ctx, body, s) : iperf_body(ctx, body, s);
}

/* The bare ping-pong probe with the worker on CPU 1 for its duration.
 * Right after a pvio net run its processes may still hold the CPUs (and
 * a busy machine may starve the worker): a stalled probe (-ETIMEDOUT) is
 * tried again, three times in all. */
static double net_probe(void *ctx)
{
	double ns = -ETIMEDOUT;

	(void)ctx;
	for (int t = 0; t < 3 && ns == -ETIMEDOUT; t++) {
		int err = pvio_bench_worker_start(0, 1);

		if (err)
			return err;
		ns = pvio_bench_regime_probe();
		pvio_bench_worker_stop();
	}
	return ns;
}

/* ---- rows -------------------------------------------------------------------------------- */

struct pair {
	const char *name, *unit, *baseline;
	unsigned pvio, base;
	double scale; /* Gbit/s from Mpps: 8 * size / 1000; else 1 */
};

static unsigned pairs(struct pair *p)
{
	static char names[3][NSIZES][32];
	unsigned n = 0;

	for (unsigned s = 0; s < NSIZES; s++) {
		snprintf(names[0][s], sizeof(names[0][s]), "tx %u B", sizes[s]);
		p[n++] = (struct pair){ names[0][s], "Mpps", "dpdk", body_of(K_TX, s),
					body_of(K_DPDK, s), 1 };
	}
	p[n++] = (struct pair){ "tx Gbit/s 1500 B", "Gbit/s", "dpdk", body_of(K_TX, 2),
				body_of(K_DPDK, 2), 8.0 * 1500 / 1000 };
	for (unsigned s = 0; s < NSIZES; s++) {
		snprintf(names[1][s], sizeof(names[1][s]), "tx zero-copy %u B", sizes[s]);
		p[n++] = (struct pair){ names[1][s], "Mpps", "tx copy", body_of(K_ZC, s),
					body_of(K_COPY, s), 1 };
	}
	for (unsigned s = 0; s < NSIZES; s++) {
		snprintf(names[2][s], sizeof(names[2][s]), "rx flip %u B", sizes[s]);
		p[n++] = (struct pair){ names[2][s], "Mpps", "rx copy", body_of(K_RXF, s),
					body_of(K_RXC, s), 1 };
	}
	p[n++] = (struct pair){ "iperf3 TCP", "Gbit/s", "veth", NB_IPERF_TAP, NB_IPERF_VETH, 1 };
	return n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_of(double *v, unsigned n)
{
	if (!n)
		return NAN;
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Rows within each label; after the last one (local: the engine asks for
 * near, far, local in that order), unpaired rows for what found no common
 * label, and the kick rows. */
static bool net_extra(void *ctx, struct pvio_bench_engine *eng, unsigned label)
{
	struct nctx *c = ctx;
	struct pair p[16];
	unsigned n = pairs(p);
	bool any = false;

	for (unsigned k = 0; k < n; k++) {
		unsigned np, nb;
		double pv = pvio_bench_engine_median(eng, p[k].pvio, label, &np);
		double bv = pvio_bench_engine_median(eng, p[k].base, label, &nb);

		if (label == PVIO_BENCH_LOCAL && !c->paired[k]) {
			pv = pvio_bench_engine_median(eng, p[k].pvio, PVIO_BENCH_UNPAIRED, NULL);
			bv = pvio_bench_engine_median(eng, p[k].base, PVIO_BENCH_UNPAIRED, NULL);
			pvio_bench_engine_row(eng, p[k].name, p[k].unit, pv * p[k].scale,
					      p[k].baseline, bv * p[k].scale, NAN,
					      PVIO_BENCH_UNPAIRED);
			any = true;
			continue;
		}
		if (!np || !nb || label == PVIO_BENCH_LOCAL)
			continue;
		pvio_bench_engine_row(eng, p[k].name, p[k].unit, pv * p[k].scale, p[k].baseline,
				      bv * p[k].scale, bv > 0 ? pv / bv : NAN, label);
		c->paired[k] = true;
		any = true;
	}
	if (label == PVIO_BENCH_LOCAL) {
		static const char *const kn[2] = { "kicks/pkt tx 64 B", "kicks/pkt rx 64 B" };

		for (unsigned w = 0; w < 2; w++)
			pvio_bench_engine_row(eng, kn[w], "kicks/pkt",
					      median_of(c->kicks[w], c->nr_kicks[w]), "-", NAN,
					      NAN, PVIO_BENCH_UNPAIRED);
		any = true;
	}
	return any;
}

/* ---- the suite ----------------------------------------------------------------------------- */

/* pvio and the iperf script: PVIO_BENCH_PVIO, else ../tools/pvio next to
 * this program; the script is installed beside it by meson. */
static int find_tools(struct nctx *c)
{
	char self[PATH_MAX], *slash;
	const char *env = getenv("PVIO_BENCH_PVIO");
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if (env && *env)
		snprintf(c->pvio, sizeof(c->pvio), "%s", env);
	else
		snprintf(c->pvio, sizeof(c->pvio), "%.*s/../tools/pvio", PATH_MAX - 20, self);
	snprintf(c->script, sizeof(c->script), "%.*s/pvio-bench-net-iperf", PATH_MAX - 30,
		 self);
	if (access(c->pvio, X_OK)) {
		fprintf(stderr, PROG ": net: no pvio at %s (set PVIO_BENCH_PVIO)\n", c->pvio);
		return -ENOENT;
	}
	if (access(c->script, R_OK)) {
		fprintf(stderr, PROG ": net: no %s\n", c->script);
		return -ENOENT;
	}
	return 0;
}

int pvio_bench_suite_net(const struct pvio_bench_opts *opts)
{
	static struct nctx c;
	double secs = opts->smoke ? 0.05 : opts->quick ? 0.25 : 1.0;
	struct pvio_bench_suite_def def = {
		.name = "net",
		.title = "pvio net (hostd + netback + netfront processes) vs DPDK alone "
			 "to net_null; iperf3 TCP through the TAP path vs veth",
		.nr_bodies = NB_NR,
		.body_names = c.name_ptrs,
		.fixed_mask = (1ull << NB_NR) - 1,
		.target_ns = (uint64_t)(secs * 1e9),
		.first_count = 1,
		.reps = 5,
		.quick_reps = 2,
		.ctx = &c,
		.run = net_run,
		.probe = net_probe,
		.extra = net_extra,
	};
	static char notes[1536];
	int rc;

	memset(&c, 0, sizeof(c));
	for (unsigned b = 0; b < NB_PKT_END; b++)
		snprintf(c.names[b], sizeof(c.names[b]), "%s %u", kind_names[b / NSIZES],
			 sizes[b % NSIZES]);
	snprintf(c.names[NB_IPERF_VETH], sizeof(c.names[0]), "iperf3 veth");
	snprintf(c.names[NB_IPERF_TAP], sizeof(c.names[0]), "iperf3 tap");
	for (unsigned b = 0; b < NB_NR; b++)
		c.name_ptrs[b] = c.names[b];
	snprintf(c.duration, sizeof(c.duration), "%.2f", secs);
	snprintf(c.iperf_secs, sizeof(c.iperf_secs), "%u", opts->quick || opts->smoke ? 1u : 3u);
	c.timeout_ms = (unsigned long)(secs * 1000) + 90000;
	snprintf(notes, sizeof(notes),
		 "Mpps and Gbit/s of frame bytes; each pvio net run lasts %.2f s after its\n"
		 "processes start (pvio net --json). dpdk: pvio net --baseline, one thread\n"
		 "allocating mbufs in bulk, writing each frame, tx_burst of 32 to net_null.\n"
		 "tx: netback's copy threshold; zero-copy rows: every frame mapped vs\n"
		 "every frame copied; rx rows: net_null's frames into the guest.\n"
		 "pvio net's rows need its frontend and backend processes each on a\n"
		 "CPU of its own for the whole run: on a loaded machine they are\n"
		 "scheduling-bound (the labels do not see it; compare uptime's load).\n"
		 "iperf3 TCP, %s s, guest -> peer namespace: through netfront --tap,\n"
		 "netback and a TAP vif on a bridge, vs a plain veth pair.\n"
		 "kicks/pkt: event-channel notifications (both ends) per packet.\n"
		 "Mpps, Gbit/s: ratio pvio/baseline (> 1: pvio better).\n",
		 secs, c.iperf_secs);
	def.notes = notes;
	if (pvio_cpu_count() < 2) {
		fprintf(stderr, PROG ": net: needs CPUs 0 and 1\n");
		return 1;
	}
	if (find_tools(&c))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	rc = pvio_bench_engine_run(&def, opts);
	iperf_down(&c);
	return rc;
}
