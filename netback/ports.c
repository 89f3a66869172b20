/* SPDX-License-Identifier: MIT */
/*
 * The ports netback can use, in an explicit array (no constructor magic:
 * a build without DPDK leaves it out here and nowhere else).
 */
#include <string.h>

#include "common.h"

static const struct netback_port_ops *const ports[] = {
	&nb_port_tap,
#ifdef PVIO_NETBACK_HAVE_DPDK
	&nb_port_dpdk,
#endif
};

const struct netback_port_ops *nb_port_find(const char *name)
{
	if (!name || !*name)
		name = "tap";
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		if (strcmp(ports[i]->name, name) == 0)
			return ports[i];
	return NULL;
}

#ifndef PVIO_NETBACK_HAVE_DPDK
#include <errno.h>

int pvio_netback_dpdk_init(const char *args)
{
	(void)args;
	return -ENOTSUP;
}
#endif
