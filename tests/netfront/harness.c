/* SPDX-License-Identifier: MIT */
/* pvio hostd in threads mode, a driver domain and a guest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvio/xenbus.h>

#include "harness.h"

struct h_env *h_env_new(void)
{
	struct h_env *env = calloc(1, sizeof(*env));
	struct pvio_hostd_config hc = { .nr_frames = 32768, .max_domains = 4 };
	struct pvio_domain_config bc = { .name = "idd", .nr_pages = 8192,
					 .driver_domain = true };
	struct pvio_domain_config gc = { .name = "guest", .nr_pages = 8192 };

	if (!env)
		abort();
	snprintf(env->dir, sizeof(env->dir), "/tmp/pvio-nf-test.XXXXXX");
	if (!mkdtemp(env->dir))
		abort();
	hc.run_dir = env->dir;
	if (pvio_hostd_create(&hc, &env->hostd) || pvio_hostd_start(env->hostd))
		abort();
	if (pvio_domain_connect(env->dir, &bc, &env->backp) ||
	    pvio_domain_connect(env->dir, &gc, &env->frontp))
		abort();
	if (env->backp->domid != H_BACK_ID || env->frontp->domid != H_FRONT_ID)
		abort();
	pvio_xs_set_timeout(env->backp->xs, 10000);
	pvio_xs_set_timeout(env->frontp->xs, 10000);
	return env;
}

void h_env_free(struct h_env *env)
{
	pvio_domain_disconnect(env->frontp);
	pvio_domain_disconnect(env->backp);
	pvio_hostd_destroy(env->hostd);
	char lock[96];
	snprintf(lock, sizeof(lock), "%s/hostd.lock", env->dir);
	unlink(lock);
	rmdir(env->dir);
	free(env);
}

void h_device_create(struct h_env *env, enum h_mac_where mac)
{
	struct pvio_xenbus_kv kv[] = { { "mac", H_MAC } };
	struct pvio_xenbus_device_keys keys = { 0 };

	if (mac != H_MAC_BACK) {
		keys.frontend = kv;
		keys.nr_frontend = 1;
	}
	if (mac != H_MAC_FRONT) {
		keys.backend = kv;
		keys.nr_backend = 1;
	}
	if (pvio_xenbus_device_create(env->backp->xs, "vif", H_BACK_ID, H_FRONT_ID,
				      H_DEVID, &keys))
		abort();
}
