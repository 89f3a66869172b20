/* SPDX-License-Identifier: MIT */
/* Shared helpers of the pvio command: flag parsing and usage errors. */
#ifndef PVIO_TOOLS_CLI_H
#define PVIO_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>

/* Exit codes every pvio command keeps (shared/DESIGN.md). */
#define PVIO_EXIT_OK    0
#define PVIO_EXIT_FAIL  1 /* the run failed: mismatch, I/O errors */
#define PVIO_EXIT_USAGE 2 /* bad flag or value */

/* Print "pvio CMD: MSG" on stderr, one line, and exit 2. */
_Noreturn void cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Parse a decimal unsigned value for flag, with optional k/m/g suffix
 * (powers of 1000), within [min, max]; on any error exit 2 naming the flag.
 */
uint64_t cli_parse_u64(const char *cmd, const char *flag, const char *value,
		       uint64_t min, uint64_t max);

/*
 * Return the value of a "--flag VALUE" or "--flag=VALUE" argument at
 * argv[*i] when it names flag, advancing *i past it; NULL otherwise.
 * A flag given without its value exits 2.
 */
const char *cli_flag_value(const char *cmd, const char *flag, int argc,
			   char **argv, int *i);

bool cli_is_help(const char *arg);

/*
 * Exec this program again as "pvio ARGS..." (argv[0] "pvio"; argv ends
 * with NULL). The path is readlink("/proc/self/exe"), not the magic link
 * itself: under valgrind --trace-children the link names valgrind's tool,
 * while readlink answers the client's path. Returns only on failure
 * (-errno); the caller reports it.
 */
int cli_exec_self(char *const argv[]);

int cmd_ring(int argc, char **argv);
int cmd_hostd(int argc, char **argv);
int cmd_blk(int argc, char **argv);
int cmd_blkback(int argc, char **argv);
int cmd_blkfront(int argc, char **argv);
int cmd_net(int argc, char **argv);
int cmd_netback(int argc, char **argv);
int cmd_netfront(int argc, char **argv);

#endif
