/* SPDX-License-Identifier: MIT */
/* The test's Xen: machine memory, event channels, the store; and the
 * domain functions of <pvio/domain.h> over them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define NR_FRAMES 32768u
#define DOM_PAGES 8192u

/* ---- the environment ---- */

#ifndef H_HOSTD
static void *xsd_main(void *arg)
{
	pvio_xenstored_run(arg);
	return NULL;
}

static void domain_init(struct h_env *env, struct h_domain *h, pvio_domid_t id)
{
	int sv[2];

	h->env = env;
	pthread_mutex_init(&h->lock, NULL);
	h->d.domid = id;
	h->d.nr_pages = DOM_PAGES;
	h->d.machine = env->m;
	h->used = calloc(DOM_PAGES, 1);
	if (pvio_mem_domain_create(env->mem, id, DOM_PAGES, 32) ||
	    pvio_gnt_front_create(env->m, id, &h->d.gnt) ||
	    pvio_gnt_back_create(env->m, id, 8192, &h->d.gnt_back) ||
	    pvio_evtchn_domain_create(env->evr, id) ||
	    pvio_evtchn_attach(&h->evtchn, env->evr, env->evr_bytes, id,
			       &pvio_evtchn_host_futex_ops, NULL))
		abort();
	h->d.evtchn = &h->evtchn;
	if (id != 0 && pvio_xenstored_introduce_domain(env->xsd, id))
		abort();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) ||
	    pvio_xenstored_adopt_fd(env->xsd, sv[0], id))
		abort();
	pvio_xs_host_attach_fd(&h->host, sv[1]);
	if (pvio_xs_init(&h->xs, &pvio_xs_host_ops, &h->host, h->ev, 64))
		abort();
	pvio_xs_set_timeout(&h->xs, 10000);
	h->d.xs = &h->xs;
}

static void domain_fini(struct h_domain *h)
{
	pvio_xs_host_close(&h->host);
	pvio_gnt_back_destroy(h->d.gnt_back);
	pvio_gnt_front_destroy(h->d.gnt);
	free(h->used);
	pthread_mutex_destroy(&h->lock);
}
#endif

#ifdef H_HOSTD
/* pvio hostd in threads mode: the real platform. */
struct h_env *h_env_new(void)
{
	struct h_env *env = calloc(1, sizeof(*env));
	struct pvio_hostd_config hc = { .nr_frames = NR_FRAMES, .max_domains = 4 };
	struct pvio_domain_config bc = { .name = "idd", .nr_pages = DOM_PAGES,
					 .driver_domain = true };
	struct pvio_domain_config gc = { .name = "guest", .nr_pages = DOM_PAGES };

	if (!env)
		abort();
	snprintf(env->dir, sizeof(env->dir), "/tmp/pvio-bf-test.XXXXXX");
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
	return env;
}

void h_env_free(struct h_env *env)
{
	pvio_domain_disconnect(env->frontp);
	pvio_domain_disconnect(env->backp);
	pvio_hostd_destroy(env->hostd);
	/* hostd keeps its lock file (a daemon's lock outlives it); the
	 * run dir is ours. */
	char lock[sizeof(env->dir) + 16];
	snprintf(lock, sizeof(lock), "%s/hostd.lock", env->dir);
	unlink(lock);
	rmdir(env->dir);
	free(env);
}
#else
struct h_env *h_env_new(void)
{
	struct h_env *env = calloc(1, sizeof(*env));
	struct pvio_mem_config mc = { .nr_frames = NR_FRAMES, .max_domains = 4,
				      .max_pages = DOM_PAGES };
	int hv_fd;

	if (!env || pvio_mem_create(&mc, &env->mem))
		abort();
	env->m = pvio_mem_machine(env->mem);
	pvio_mem_fds(env->mem, &env->pool_fd, &hv_fd);
	if (pvio_evtchn_host_region_create(4, &env->evr_fd, &env->evr, &env->evr_bytes))
		abort();
	if (pvio_xenstored_create(&env->xsd, NULL, NULL))
		abort();
	if (pthread_create(&env->xsd_thread, NULL, xsd_main, env->xsd))
		abort();
	domain_init(env, &env->back, H_BACK_ID);
	domain_init(env, &env->front, H_FRONT_ID);
	env->backp = &env->back.d;
	env->frontp = &env->front.d;
	return env;
}

void h_env_free(struct h_env *env)
{
	domain_fini(&env->front);
	domain_fini(&env->back);
	pvio_xenstored_stop(env->xsd);
	pthread_join(env->xsd_thread, NULL);
	pvio_xenstored_destroy(env->xsd);
	pvio_evtchn_host_region_unmap(env->evr, env->evr_bytes);
	close(env->evr_fd);
	pvio_mem_close(env->mem);
	free(env);
}
#endif

void h_device_create(struct h_env *env, bool readonly_mode)
{
	struct pvio_xenbus_kv be[] = { { "mode", readonly_mode ? "r" : "w" },
				       { "params", "ram" } };
	struct pvio_xenbus_device_keys keys = { .backend = be, .nr_backend = 2 };

	if (pvio_xenbus_device_create(env->backp->xs, "vbd", H_BACK_ID, H_FRONT_ID,
				      H_DEVID, &keys))
		abort();
}
