/* SPDX-License-Identifier: MIT */
/*
 * The store daemon on DIR/socket for interop tests:
 *   xenstored_test_server DIR [DOMID...]
 * introduces each DOMID, prints "ready DIR/socket" on stdout, and serves
 * until SIGTERM/SIGINT or stdin closes. Exit 0, 1 on a server error, 2 on
 * bad usage.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvio/xenstored.h>

static struct pvio_xenstored *srv;

static void on_signal(int sig)
{
	(void)sig;
	pvio_xenstored_stop(srv);
}

int main(int argc, char **argv)
{
	struct pollfd pfd[2];
	int r;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR [DOMID...]\n", argv[0]);
		return 2;
	}
	r = pvio_xenstored_create(&srv, argv[1], NULL);
	if (r) {
		fprintf(stderr, "xenstored_test_server: %s: %s\n", argv[1],
			strerror(-r));
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		r = pvio_xenstored_introduce_domain(srv,
						    (uint16_t)atoi(argv[i]));
		if (r) {
			fprintf(stderr, "xenstored_test_server: introduce %s: %s\n",
				argv[i], strerror(-r));
			pvio_xenstored_destroy(srv);
			return 1;
		}
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	printf("ready %s/socket\n", argv[1]);
	fflush(stdout);
	pfd[0].fd = pvio_xenstored_fd(srv);
	pfd[0].events = POLLIN;
	pfd[1].fd = STDIN_FILENO;
	pfd[1].events = POLLIN;
	for (;;) {
		/* The embedding API: poll its fd with ours, then step. */
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents & (POLLIN | POLLHUP)) {
			char c;

			if (read(STDIN_FILENO, &c, 1) <= 0)
				break;
		}
		r = pvio_xenstored_step(srv, 0);
		if (r == -ECANCELED || (r < 0 && r != -EINTR))
			break;
	}
	pvio_xenstored_destroy(srv);
	return r < 0 && r != -ECANCELED && r != -EINTR ? 1 : 0;
}
