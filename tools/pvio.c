/* SPDX-License-Identifier: MIT */
/* The pvio command: one binary, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "ring", cmd_ring,
	  "two domains (processes) exchange requests over a shared ring" },
	{ "hostd", cmd_hostd,
	  "serve domains: machine memory, grants, event channels, the store" },
	{ "blk", cmd_blk,
	  "block demo: hostd, blkback and blkfront domains, a verified workload" },
	{ "blkback", cmd_blkback,
	  "the driver domain: serve a virtual disk from an image or device" },
	{ "blkfront", cmd_blkfront,
	  "a guest domain: open its virtual disk and run a workload" },
	{ "net", cmd_net,
	  "network demo: hostd, netback and netfront domains, a packet workload" },
	{ "netback", cmd_netback,
	  "the driver domain: serve a vif on a DPDK port or a TAP device" },
	{ "netfront", cmd_netfront,
	  "a guest domain: open its vif, run a workload or bridge it to a TAP" },
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pvio COMMAND [FLAGS]\n"
		"\n"
		"pvio is a split-driver (paravirtual) I/O stack: a frontend puts\n"
		"requests on a shared-memory ring, a backend in the driver domain\n"
		"serves them and answers on the same ring.\n"
		"\n"
		"commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(out,
		"\n'pvio COMMAND --help' describes a command's flags.\n"
		"exit status: 0 success, 1 failed run, 2 bad usage.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return PVIO_EXIT_USAGE;
	}
	if (cli_is_help(argv[1])) {
		usage(stdout);
		return PVIO_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "pvio: unknown command '%s' (see 'pvio --help')\n",
		argv[1]);
	return PVIO_EXIT_USAGE;
}
