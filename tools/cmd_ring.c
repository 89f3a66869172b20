/* SPDX-License-Identifier: MIT */
/*
 * pvio ring: the ring layer's demo. A frontend domain and a backend domain
 * (two processes by default, or two threads) share a blkif ring in a memfd;
 * the frontend sends read requests in batches, the backend validates each
 * copied-out request and answers, the frontend checks every response.
 * Kicks are eventfd writes; each side polls a bounded number of times, arms
 * its event index and only then sleeps, so kicks/request shows how well the
 * event-index protocol suppresses notifications.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvio/blkif.h>
#include <pvio/host.h>

#include "cli.h"

struct side_stats {
	uint64_t messages;  /* requests served / responses checked */
	uint64_t bad;       /* failed validation */
	uint64_t kicks;     /* eventfd writes to the peer */
	uint64_t wakeups;   /* times this side slept and was woken */
	uint64_t pushes;
};

/* Lives in the shared memfd after the ring pages. */
struct demo_ctl {
	_Atomic uint32_t stop;  /* frontend -> backend: no more requests */
	_Atomic uint32_t ready; /* backend attached */
	struct side_stats back;
};

struct demo {
	unsigned pages;
	uint64_t requests;
	unsigned batch;
	uint64_t spin;
	bool threads, pin, json;
	void *mem;
	struct demo_ctl *ctl;
	int kick_back;  /* eventfd: frontend kicks backend */
	int kick_front; /* eventfd: backend kicks frontend */
	pid_t peer;     /* backend pid in process mode */
	pid_t parent;   /* frontend pid, for the backend's liveness check */
};

static size_t ring_bytes(const struct demo *d)
{
	return (size_t)d->pages * PVIO_PAGE_SIZE;
}

static void kick(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Sleep until kicked; false if the peer is gone. */
static bool sleep_for_kick(const struct demo *d, int fd, bool is_front)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v;

	for (;;) {
		int rc = poll(&p, 1, 1000);
		if (rc > 0) {
			if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				return false;
			return true;
		}
		if (rc < 0 && errno != EINTR)
			return false;
		if (d->threads)
			continue;
		if (is_front ? waitpid(d->peer, NULL, WNOHANG) != 0
			     : getppid() != d->parent)
			return false;
	}
}

static void *backend_main(void *arg)
{
	struct demo *d = arg;
	struct pvio_ring_back b;
	struct side_stats st = { 0 };
	struct pvio_blkif_request req;

	if (pvio_blkif_back_attach(&b, d->mem, ring_bytes(d), 0)) {
		fprintf(stderr, "pvio ring: backend cannot attach\n");
		return NULL;
	}
	atomic_store(&d->ctl->ready, 1);
	for (;;) {
		int n = 0;
		for (uint64_t s = 0; s < d->spin && n == 0; s++) {
			n = pvio_ring_back_unconsumed(&b);
			if (n == 0)
				pvio_cpu_relax();
		}
		if (n == 0)
			n = pvio_ring_back_final_check(&b);
		if (n < 0) {
			fprintf(stderr, "pvio ring: backend: frontend broke the ring protocol (%s)\n",
				strerror(-n));
			break;
		}
		if (n == 0) {
			if (atomic_load(&d->ctl->stop))
				break;
			if (!sleep_for_kick(d, d->kick_back, false))
				break;
			st.wakeups++;
			continue;
		}
		while (pvio_blkif_back_get_req(&b, &req) == 1) {
			/* Validate the copy, never the slot. */
			bool ok = (req.operation == PVIO_BLKIF_OP_READ ||
				   req.operation == PVIO_BLKIF_OP_WRITE) &&
				  req.nr_segments >= 1 &&
				  req.nr_segments <= PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST &&
				  req.sector_number == req.id * 8;
			for (unsigned i = 0; ok && i < req.nr_segments; i++)
				ok = req.seg[i].first_sect <= req.seg[i].last_sect &&
				     req.seg[i].last_sect < 8 &&
				     req.seg[i].gref == (uint32_t)(req.id + i);
			struct pvio_blkif_response *rsp = pvio_blkif_back_next_rsp(&b);
			rsp->id = req.id;
			rsp->operation = req.operation;
			rsp->status = ok ? PVIO_BLKIF_RSP_OKAY : PVIO_BLKIF_RSP_ERROR;
			st.messages++;
			st.bad += !ok;
		}
		if (pvio_ring_back_push(&b) == 1) {
			kick(d->kick_front);
			st.kicks++;
		}
	}
	st.pushes = b.stats.pushes;
	d->ctl->back = st;
	return NULL;
}

static int frontend_run(struct demo *d, struct side_stats *st)
{
	struct pvio_ring_front f;
	struct pvio_blkif_response rsp;
	uint64_t sent = 0, done = 0;

	/* The ring was initialised before the backend started. */
	if (pvio_ring_front_attach(&f, d->mem, ring_bytes(d),
				   sizeof(union pvio_blkif_slot), 0))
		return -EINVAL;
	while (done < d->requests) {
		while (sent < d->requests && sent - done < d->batch) {
			struct pvio_blkif_request *req = pvio_blkif_front_next_req(&f);
			if (!req)
				break;
			unsigned nseg = 1 + (unsigned)(sent % PVIO_BLKIF_MAX_SEGMENTS_PER_REQUEST);
			req->operation = (sent & 1) ? PVIO_BLKIF_OP_WRITE : PVIO_BLKIF_OP_READ;
			req->nr_segments = (uint8_t)nseg;
			req->handle = 0;
			req->id = sent;
			req->sector_number = sent * 8;
			for (unsigned i = 0; i < nseg; i++)
				req->seg[i] = (struct pvio_blkif_segment){
					.gref = (uint32_t)(sent + i),
					.first_sect = 0, .last_sect = 7 };
			sent++;
		}
		if (pvio_ring_front_push(&f) == 1) {
			kick(d->kick_back);
			st->kicks++;
		}
		while (done < sent) {
			int n = 0;
			for (uint64_t s = 0; s < d->spin && n == 0; s++) {
				n = pvio_ring_front_unconsumed(&f);
				if (n == 0)
					pvio_cpu_relax();
			}
			if (n == 0)
				n = pvio_ring_front_final_check(&f);
			if (n < 0) {
				fprintf(stderr, "pvio ring: frontend: backend broke the ring protocol (%s)\n",
					strerror(-n));
				return n;
			}
			if (n == 0) {
				if (!sleep_for_kick(d, d->kick_front, true)) {
					fprintf(stderr, "pvio ring: frontend: backend domain died\n");
					return -EPIPE;
				}
				st->wakeups++;
				continue;
			}
			while (done < sent && pvio_blkif_front_get_rsp(&f, &rsp) == 1) {
				uint8_t op = (done & 1) ? PVIO_BLKIF_OP_WRITE : PVIO_BLKIF_OP_READ;
				if (rsp.id != done || rsp.operation != op ||
				    rsp.status != PVIO_BLKIF_RSP_OKAY)
					st->bad++;
				done++;
				st->messages++;
			}
		}
	}
	st->pushes = f.stats.pushes;
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pvio ring [--requests N] [--batch N] [--ring-pages N]\n"
		"                 [--spin N] [--threads] [--no-pin] [--json]\n"
		"\n"
		"A frontend domain sends blkif read/write requests over a shared ring\n"
		"to a backend domain, which validates each one and answers; every\n"
		"response is checked. Prints round trips/s and kicks/request.\n"
		"\n"
		"  --requests N    requests to send (default 2000000; k/m suffixes)\n"
		"  --batch N       requests in flight per round (1..ring slots, default 8)\n"
		"  --ring-pages N  ring size in pages: 1, 2, 4, 8 or 16 (default 1)\n"
		"  --spin N        polls before arming the event and sleeping (default 20000)\n"
		"  --threads       run both domains as threads of one process\n"
		"  --no-pin        do not pin the domains to CPUs 0 and 1\n"
		"  --json          print one JSON object instead of text\n"
		"\n"
		"exit status: 0 all verified, 1 a response failed verification or a\n"
		"domain died, 2 bad usage.\n");
}

static void parse(struct demo *d, int argc, char **argv)
{
	const char *v;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			exit(PVIO_EXIT_OK);
		} else if ((v = cli_flag_value("ring", "--requests", argc, argv, &i))) {
			d->requests = cli_parse_u64("ring", "--requests", v, 1, 1000000000000ull);
		} else if ((v = cli_flag_value("ring", "--batch", argc, argv, &i))) {
			d->batch = (unsigned)cli_parse_u64("ring", "--batch", v, 1, 1u << 16);
		} else if ((v = cli_flag_value("ring", "--ring-pages", argc, argv, &i))) {
			uint64_t p = cli_parse_u64("ring", "--ring-pages", v, 1, 16);
			if (p & (p - 1))
				cli_usage_error("ring", "--ring-pages must be 1, 2, 4, 8 or 16, got %s", v);
			d->pages = (unsigned)p;
		} else if ((v = cli_flag_value("ring", "--spin", argc, argv, &i))) {
			d->spin = cli_parse_u64("ring", "--spin", v, 0, 1000000000ull);
		} else if (!strcmp(argv[i], "--threads")) {
			d->threads = true;
		} else if (!strcmp(argv[i], "--no-pin")) {
			d->pin = false;
		} else if (!strcmp(argv[i], "--json")) {
			d->json = true;
		} else {
			cli_usage_error("ring", "unknown flag '%s'", argv[i]);
		}
	}
	uint32_t slots = pvio_blkif_ring_nr_slots(ring_bytes(d));
	if (d->batch > slots)
		cli_usage_error("ring", "--batch %u is more than the ring's %u slots",
				d->batch, slots);
}

int cmd_ring(int argc, char **argv)
{
	struct demo d = { .pages = 1, .requests = 2000000, .batch = 8,
			  .spin = 20000, .pin = true };
	struct side_stats front = { 0 };
	size_t bytes;
	int memfd, rc;

	parse(&d, argc, argv);
	bytes = ring_bytes(&d) + PVIO_PAGE_SIZE;
	rc = pvio_shm_create("pvio-ring", bytes, &memfd, &d.mem);
	if (rc) {
		fprintf(stderr, "pvio ring: cannot create shared memory: %s\n", strerror(-rc));
		return PVIO_EXIT_FAIL;
	}
	d.ctl = (struct demo_ctl *)((char *)d.mem + ring_bytes(&d));
	d.kick_back = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d.kick_front = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d.kick_back < 0 || d.kick_front < 0) {
		fprintf(stderr, "pvio ring: eventfd: %s\n", strerror(errno));
		return PVIO_EXIT_FAIL;
	}
	pvio_sring_init(d.mem, 0);
	d.parent = getpid();

	bool pin = d.pin && pvio_cpu_count() >= 2;
	pthread_t thr;
	if (d.threads) {
		if (pthread_create(&thr, NULL, backend_main, &d)) {
			fprintf(stderr, "pvio ring: cannot start the backend thread\n");
			return PVIO_EXIT_FAIL;
		}
		if (pin) {
			cpu_set_t set;
			CPU_ZERO(&set);
			CPU_SET(1, &set);
			pthread_setaffinity_np(thr, sizeof(set), &set);
		}
	} else {
		fflush(NULL);
		d.peer = fork();
		if (d.peer < 0) {
			fprintf(stderr, "pvio ring: fork: %s\n", strerror(errno));
			return PVIO_EXIT_FAIL;
		}
		if (d.peer == 0) {
			if (pin)
				pvio_cpu_pin(1);
			backend_main(&d);
			_exit(0);
		}
	}
	if (pin)
		pvio_cpu_pin(0);

	uint64_t t0 = pvio_now_ns();
	rc = frontend_run(&d, &front);
	uint64_t t1 = pvio_now_ns();

	atomic_store(&d.ctl->stop, 1);
	kick(d.kick_back);
	if (d.threads) {
		pthread_join(thr, NULL);
	} else if (rc == -EPIPE) {
		waitpid(d.peer, NULL, 0);
	} else {
		int status;
		waitpid(d.peer, &status, 0);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			rc = rc ? rc : -EPIPE;
	}

	struct side_stats back = d.ctl->back;
	double secs = (double)(t1 - t0) / 1e9;
	double rts = secs > 0 ? (double)front.messages / secs : 0;
	double kpr = front.messages ?
		(double)(front.kicks + back.kicks) / (double)front.messages : 0;
	bool ok = rc == 0 && front.bad == 0 && back.bad == 0 &&
		  front.messages == d.requests && back.messages == d.requests;

	if (d.json) {
		printf("{\"command\": \"ring\", \"mode\": \"%s\", \"ring_pages\": %u, "
		       "\"batch\": %u, \"requests\": %llu, \"seconds\": %.6f, "
		       "\"round_trips_per_s\": %.0f, \"kicks_per_request\": %.6f, "
		       "\"front_kicks\": %llu, \"back_kicks\": %llu, "
		       "\"front_wakeups\": %llu, \"back_wakeups\": %llu, "
		       "\"verified\": %llu, \"bad\": %llu, \"ok\": %s}\n",
		       d.threads ? "threads" : "processes", d.pages, d.batch,
		       (unsigned long long)d.requests, secs, rts, kpr,
		       (unsigned long long)front.kicks, (unsigned long long)back.kicks,
		       (unsigned long long)front.wakeups, (unsigned long long)back.wakeups,
		       (unsigned long long)(front.messages - front.bad),
		       (unsigned long long)(front.bad + back.bad), ok ? "true" : "false");
	} else {
		printf("pvio ring: %s, %u-page blkif ring (%u slots), batch %u\n",
		       d.threads ? "two threads" : "two processes", d.pages,
		       pvio_blkif_ring_nr_slots(ring_bytes(&d)), d.batch);
		printf("  %llu round trips in %.3f s: %.2f M round trips/s\n",
		       (unsigned long long)front.messages, secs, rts / 1e6);
		printf("  kicks/request %.4f (frontend %llu, backend %llu), "
		       "wake-ups frontend %llu backend %llu\n", kpr,
		       (unsigned long long)front.kicks, (unsigned long long)back.kicks,
		       (unsigned long long)front.wakeups, (unsigned long long)back.wakeups);
		printf("  verified %llu/%llu responses, %llu bad\n",
		       (unsigned long long)(front.messages - front.bad),
		       (unsigned long long)d.requests,
		       (unsigned long long)(front.bad + back.bad));
	}
	if (!ok)
		fprintf(stderr, "pvio ring: run failed: %s\n",
			rc ? strerror(-rc) : "responses failed verification");
	return ok ? PVIO_EXIT_OK : PVIO_EXIT_FAIL;
}
