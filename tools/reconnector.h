/* SPDX-License-Identifier: MIT */
/*
 * The frontend commands' --reconnect SECS: the control path in a thread
 * of its own while the workload (or the TAP bridge) runs in the main
 * thread. Neither uses the store, so the thread owns d->xs meanwhile: it
 * watches the backend and, once it is lost, waits for a new one and
 * reconnects the device (blkfront or netfront, through three hooks).
 */
#ifndef PVIO_TOOLS_RECONNECTOR_H
#define PVIO_TOOLS_RECONNECTOR_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>

struct reconnector_ops {
	bool (*recovering)(void *dev);
	/* pvio_*_check_backend(dev, timeout_ms) */
	int (*check)(void *dev, int timeout_ms);
	/* pvio_*_reconnect(dev, timeout_ms) */
	int (*reconnect)(void *dev, int timeout_ms);
};

struct reconnector {
	const struct reconnector_ops *ops;
	void *dev;
	const char *cmd;          /* "blkfront", for the lines it prints */
	int secs;                 /* how long to wait for a new backend */
	_Atomic int *give_up; /* set when it gives up: the
					 * workload's stop flag; may be NULL */
	pthread_t thread;
	_Atomic bool stop;
	bool running;
	int err;                  /* the reconnect that gave up, or 0 */
	unsigned reconnects;
};

/* Start the thread. 0 or -errno (r->running false). */
int reconnector_start(struct reconnector *r, const struct reconnector_ops *ops,
		      void *dev, const char *cmd, int secs,
		      _Atomic int *give_up);
/* Stop and join it (before the device is closed). Safe if not started. */
void reconnector_stop(struct reconnector *r);

struct pvio_domain;
/*
 * After a failed run: did hostd die (the cause to report, not the I/O
 * errors it caused)? Its death reaches the backend's lifeline and ours in
 * no set order, and a backend that saw it first exits and fails our I/O:
 * so look for up to wait_ms.
 */
bool frontend_hostd_died(struct pvio_domain *d, int wait_ms);

#endif
