/* SPDX-License-Identifier: MIT */
/* Helpers of the hostd tests: run dirs, hostd as a child process, joins. */
#ifndef PVIO_TESTS_HOST_UTIL_H
#define PVIO_TESTS_HOST_UTIL_H

#include <stdbool.h>
#include <sys/types.h>

/* mkdtemp a run dir into buf (64 bytes). 0 or -errno. */
int test_run_dir(char *buf);
/* Remove what hostd may leave (lock file, stale sockets) and the dir. */
void test_run_dir_remove(const char *dir);

/*
 * Start `pvio hostd --run-dir dir --frames 16384` as a child (killed if
 * the test dies) and wait, bounded, for its ready line.
 * 0 and *pid, or -1 with a message on stderr.
 */
int test_hostd_spawn(const char *pvio, const char *dir, pid_t *pid);

/*
 * Wait for child pid up to timeout_ms; on timeout SIGKILL it and return
 * -1. Else its wait status (>= 0).
 */
int test_waitpid(pid_t pid, int timeout_ms);

/* Read one byte from fd within timeout_ms: the byte, or -1. */
int test_read_byte(int fd, int timeout_ms);

#endif
