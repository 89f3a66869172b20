/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int cli_exec_self(char *const argv[])
{
	char path[4096];
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

	if (n <= 0 || (size_t)n >= sizeof(path) - 1)
		return n < 0 ? -errno : -ENAMETOOLONG;
	path[n] = '\0';
	execv(path, argv);
	return -errno;
}

void cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pvio %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'pvio %s --help')\n", cmd);
	exit(PVIO_EXIT_USAGE);
}

uint64_t cli_parse_u64(const char *cmd, const char *flag, const char *value,
		       uint64_t min, uint64_t max)
{
	char *end = NULL;
	unsigned long long v;
	uint64_t mult = 1;

	if (!value || !*value || *value == '-' || *value == '+')
		cli_usage_error(cmd, "%s needs a non-negative number, got '%s'",
				flag, value ? value : "");
	errno = 0;
	v = strtoull(value, &end, 10);
	if (errno || end == value)
		cli_usage_error(cmd, "%s: '%s' is not a number", flag, value);
	if (*end == 'k' || *end == 'K')
		mult = 1000, end++;
	else if (*end == 'm' || *end == 'M')
		mult = 1000000, end++;
	else if (*end == 'g' || *end == 'G')
		mult = 1000000000, end++;
	if (*end)
		cli_usage_error(cmd, "%s: '%s' is not a number", flag, value);
	if (v > UINT64_MAX / mult || v * mult < min || v * mult > max)
		cli_usage_error(cmd, "%s: %s is out of range %llu..%llu", flag,
				value, (unsigned long long)min,
				(unsigned long long)max);
	return v * mult;
}

const char *cli_flag_value(const char *cmd, const char *flag, int argc,
			   char **argv, int *i)
{
	const char *arg = argv[*i];
	size_t n = strlen(flag);

	if (strncmp(arg, flag, n) != 0)
		return NULL;
	if (arg[n] == '=')
		return arg + n + 1;
	if (arg[n] != '\0')
		return NULL;
	if (*i + 1 >= argc)
		cli_usage_error(cmd, "%s needs a value", flag);
	*i += 1;
	return argv[*i];
}

bool cli_is_help(const char *arg)
{
	return !strcmp(arg, "--help") || !strcmp(arg, "-h");
}
