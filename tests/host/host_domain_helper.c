/* SPDX-License-Identifier: MIT */
/*
 * A domain as a process, for script tests:
 *   host_domain_helper RUN_DIR NAME [--driver]
 * connects to the hostd serving RUN_DIR, prints "domid N", and stays a
 * domain until its stdin closes. Exit 0, or 1 with a message.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <pvio/domain.h>

int main(int argc, char **argv)
{
	struct pvio_domain_config cfg = { .nr_pages = 64 };
	struct pvio_domain *d;
	char buf[64];
	int rc;

	if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "--driver"))) {
		fprintf(stderr, "usage: %s RUN_DIR NAME [--driver]\n", argv[0]);
		return 2;
	}
	cfg.name = argv[2];
	cfg.driver_domain = argc == 4;
	rc = pvio_domain_connect(argv[1], &cfg, &d);
	if (rc) {
		fprintf(stderr, "host_domain_helper: connect: %s\n", strerror(-rc));
		return 1;
	}
	printf("domid %u\n", d->domid);
	fflush(stdout);
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	pvio_domain_disconnect(d);
	return 0;
}
