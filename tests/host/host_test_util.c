/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host_test_util.h"

int test_run_dir(char *buf)
{
	strcpy(buf, "/tmp/pvio-hostd-test.XXXXXX");
	return mkdtemp(buf) ? 0 : -errno;
}

void test_run_dir_remove(const char *dir)
{
	static const char *const names[] = { "hostd.lock", "hostd.sock", "socket" };
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int test_hostd_spawn(const char *pvio, const char *dir, pid_t *pid)
{
	char want[256], line[512];
	size_t have = 0;
	int p[2];
	pid_t child;
	long deadline = now_ms() + 60000;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t parent = getpid();

	child = fork();
	if (child < 0)
		return -1;
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(p[1], STDOUT_FILENO);
		execl(pvio, pvio, "hostd", "--run-dir", dir, "--frames", "16384",
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	snprintf(want, sizeof(want), "pvio hostd: serving %s\n", dir);
	while (have < sizeof(line) - 1) {
		struct pollfd pfd = { .fd = p[0], .events = POLLIN };
		long left = deadline - now_ms();

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t n = read(p[0], line + have, sizeof(line) - 1 - have);

		if (n <= 0)
			break;
		have += (size_t)n;
		line[have] = '\0';
		if (strchr(line, '\n'))
			break;
	}
	close(p[0]);
	line[have] = '\0';
	if (strcmp(line, want) != 0) {
		fprintf(stderr, "hostd did not get ready: got '%s'\n", line);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		return -1;
	}
	*pid = child;
	return 0;
}

int test_waitpid(pid_t pid, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= deadline) {
			fprintf(stderr, "child %d hung: killing it\n", (int)pid);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(2000);
	}
}

int test_read_byte(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	unsigned char b;

	if (poll(&pfd, 1, timeout_ms) <= 0 || read(fd, &b, 1) != 1)
		return -1;
	return b;
}
