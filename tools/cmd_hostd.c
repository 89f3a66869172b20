/* SPDX-License-Identifier: MIT */
/*
 * pvio hostd: run the host platform's Xen + xenstored + toolstack in the
 * foreground until SIGINT/SIGTERM (<pvio/domain.h>).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <pvio/domain.h>
#include <pvio/evtchn.h>

#include "cli.h"

#define DEFAULT_RUN_DIR "/run/pvio"

static struct pvio_hostd *g_hostd;

static void on_signal(int sig)
{
	(void)sig;
	pvio_hostd_stop(g_hostd); /* async-signal-safe */
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pvio hostd [--run-dir DIR] [--frames N] [--max-domains N]\n"
		"                  [--verbose]\n"
		"\n"
		"Serve domains on this host: machine memory and grant tables, event\n"
		"channels, the store (xenstored) and the toolstack. A process becomes a\n"
		"domain by connecting to DIR/hostd.sock; the store also listens on\n"
		"DIR/socket for Debian's xenstore-utils:\n"
		"  XENSTORED_PATH=DIR/socket xenstore-ls /local/domain\n"
		"Prints 'pvio hostd: serving DIR' once ready; runs until SIGINT or\n"
		"SIGTERM, then destroys every domain and removes its sockets.\n"
		"\n"
		"  --run-dir DIR     sockets and lock file live here, created if missing\n"
		"                    (default " DEFAULT_RUN_DIR "); one hostd per DIR\n"
		"  --frames N        machine memory in 4 KiB frames, 16..2147483647\n"
		"                    (default 65536 = 256 MiB, allocated as used)\n"
		"  --max-domains N   domids 0..N-1, 1..%u (default 64); domid 0 is\n"
		"                    the driver domain, guests get 1, 2, ...\n"
		"  --verbose         log each domain created or destroyed to stderr\n"
		"  --help            this text\n"
		"\n"
		"exit status: 0 after a signal, 1 if it cannot serve (another hostd\n"
		"serves DIR, no memory), 2 bad usage.\n",
		PVIO_EVTCHN_MAX_DOMAINS);
}

int cmd_hostd(int argc, char **argv)
{
	struct pvio_hostd_config cfg = { .run_dir = DEFAULT_RUN_DIR };
	struct sigaction sa;
	const char *v;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			usage(stdout);
			return PVIO_EXIT_OK;
		} else if ((v = cli_flag_value("hostd", "--run-dir", argc, argv, &i))) {
			if (!*v)
				cli_usage_error("hostd", "--run-dir needs a directory");
			cfg.run_dir = v;
		} else if ((v = cli_flag_value("hostd", "--frames", argc, argv, &i))) {
			cfg.nr_frames = (uint32_t)cli_parse_u64("hostd", "--frames", v,
								16, 0x7fffffffu);
		} else if ((v = cli_flag_value("hostd", "--max-domains", argc, argv, &i))) {
			cfg.max_domains = (uint32_t)cli_parse_u64("hostd", "--max-domains",
								  v, 1, PVIO_EVTCHN_MAX_DOMAINS);
		} else if (!strcmp(argv[i], "--verbose")) {
			cfg.verbose = true;
		} else {
			cli_usage_error("hostd", "unknown flag '%s'", argv[i]);
		}
	}

	rc = pvio_hostd_create(&cfg, &g_hostd);
	if (rc == -EADDRINUSE) {
		fprintf(stderr, "pvio hostd: another hostd is serving %s\n", cfg.run_dir);
		return PVIO_EXIT_FAIL;
	}
	if (rc) {
		fprintf(stderr, "pvio hostd: cannot serve %s: %s\n", cfg.run_dir,
			strerror(-rc));
		return PVIO_EXIT_FAIL;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	printf("pvio hostd: serving %s\n", cfg.run_dir);
	fflush(stdout);
	rc = pvio_hostd_run(g_hostd);
	/* No handler may touch the hostd being destroyed. */
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	if (rc)
		fprintf(stderr, "pvio hostd: serving %s failed: %s\n", cfg.run_dir,
			strerror(-rc));
	else if (cfg.verbose)
		fprintf(stderr, "pvio hostd: stopping, destroying every domain\n");
	pvio_hostd_destroy(g_hostd);
	g_hostd = NULL;
	return rc ? PVIO_EXIT_FAIL : PVIO_EXIT_OK;
}
