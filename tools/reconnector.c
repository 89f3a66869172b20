/* SPDX-License-Identifier: MIT */
/* The frontend commands' reconnect thread (reconnector.h). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>

#include <pvio/domain.h>

#include "reconnector.h"

static void *reconnector_main(void *arg)
{
	struct reconnector *r = arg;

	while (!atomic_load(&r->stop)) {
		/* The data path marks a dead event channel itself; the store
		 * tells of a backend that closed or whose dir went. */
		if (!r->ops->recovering(r->dev) &&
		    r->ops->check(r->dev, 200) != -ENOTCONN)
			continue;
		if (!r->ops->recovering(r->dev))
			break; /* broken or closed, not merely lost */
		printf("pvio %s: backend lost; waiting up to %d s for a new one\n",
		       r->cmd, r->secs);
		fflush(stdout);
		int rc = r->ops->reconnect(r->dev, r->secs * 1000);
		if (rc) {
			/* The device is gone now: end the run, do not let it
			 * fail request after request until its runtime. */
			r->err = rc;
			if (r->give_up)
				*r->give_up = 1;
			break;
		}
		r->reconnects++;
		printf("pvio %s: reconnected\n", r->cmd);
		fflush(stdout);
	}
	return NULL;
}

int reconnector_start(struct reconnector *r, const struct reconnector_ops *ops,
		      void *dev, const char *cmd, int secs,
		      _Atomic int *give_up)
{
	r->give_up = give_up;
	r->ops = ops;
	r->dev = dev;
	r->cmd = cmd;
	r->secs = secs;
	r->err = 0;
	r->reconnects = 0;
	atomic_store(&r->stop, false);
	int rc = pthread_create(&r->thread, NULL, reconnector_main, r);
	r->running = rc == 0;
	return -rc;
}

void reconnector_stop(struct reconnector *r)
{
	if (!r->running)
		return;
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	r->running = false;
}

bool frontend_hostd_died(struct pvio_domain *d, int wait_ms)
{
	for (int ms = 0; ms <= wait_ms; ms += 20) {
		if (!pvio_domain_hostd_alive(d))
			return true;
		poll(NULL, 0, 20);
	}
	return false;
}
