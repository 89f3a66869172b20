/* SPDX-License-Identifier: MIT */
/*
 * The built-in L2 switch, for DPDK deployments where many vifs share one
 * uplink port (what a Linux bridge does for TAP vifs).
 *
 *   - port 0 is the uplink; vif ports 1.. each have one MAC, installed as
 *     a static entry that never ages and that traffic from the uplink
 *     cannot move;
 *   - a frame from a vif whose source MAC is not that vif's is dropped
 *     (anti-spoofing: what vif-bridge's ebtables rules do on Xen);
 *   - sources seen on the uplink are learned, refreshed, moved, and aged
 *     out after ageing_ns idle (Linux bridge default 300 s);
 *   - broadcast, multicast and unknown unicast are flooded to every port
 *     but the ingress; a frame whose destination is behind its ingress is
 *     dropped.
 *
 * The table is open addressing with linear probing and backward-shift
 * deletion, sized at create; one mutex (vif threads and the uplink poller
 * call in concurrently; the critical section is a hash lookup or two).
 * Pure otherwise: no I/O, the caller gives the clock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define NIL UINT32_MAX
#define AGE_EVERY_NS 1000000000ull

static uint32_t mac_hash(const uint8_t *m)
{
	uint64_t v = 0;

	memcpy(&v, m, 6);
	v *= 0x9e3779b97f4a7c15ull;
	return (uint32_t)(v >> 32);
}

static uint32_t find(const struct nb_switch *sw, const uint8_t *mac)
{
	uint32_t mask = sw->nr_slots - 1;

	for (uint32_t i = mac_hash(mac) & mask, n = 0; n < sw->nr_slots; i = (i + 1) & mask, n++) {
		if (!sw->tab[i].used)
			return NIL;
		if (memcmp(sw->tab[i].mac, mac, 6) == 0)
			return i;
	}
	return NIL;
}

/* Remove slot i, shifting later entries of its probe run back. */
static void remove_at(struct nb_switch *sw, uint32_t i)
{
	uint32_t mask = sw->nr_slots - 1, j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (!sw->tab[j].used)
			break;
		uint32_t home = mac_hash(sw->tab[j].mac) & mask;

		/* Move j into the hole at i if its home is not in (i, j]. */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			sw->tab[i] = sw->tab[j];
			i = j;
		}
	}
	memset(&sw->tab[i], 0, sizeof(sw->tab[i]));
	sw->nr_used--;
}

static int insert(struct nb_switch *sw, const uint8_t *mac, uint32_t port, uint8_t kind,
		  uint64_t now)
{
	uint32_t mask = sw->nr_slots - 1, i;

	if (sw->nr_used >= sw->nr_slots - sw->nr_slots / 4) {
		sw->st.table_full++;
		return -ENOSPC;
	}
	for (i = mac_hash(mac) & mask; sw->tab[i].used; i = (i + 1) & mask)
		;
	memcpy(sw->tab[i].mac, mac, 6);
	sw->tab[i].used = kind;
	sw->tab[i].port = port;
	sw->tab[i].seen_ns = now;
	sw->nr_used++;
	return 0;
}

int nb_switch_init(struct nb_switch *sw, uint32_t nr_entries, uint64_t ageing_ns)
{
	uint32_t n = 16;

	memset(sw, 0, sizeof(*sw));
	while (n < nr_entries + nr_entries / 3 && n < (1u << 24))
		n <<= 1;
	sw->tab = calloc(n, sizeof(*sw->tab));
	if (!sw->tab)
		return -ENOMEM;
	sw->nr_slots = n;
	sw->ageing_ns = ageing_ns ? ageing_ns : NB_SW_DEFAULT_AGEING_NS;
	pthread_mutex_init(&sw->lock, NULL);
	return 0;
}

void nb_switch_fini(struct nb_switch *sw)
{
	if (!sw->tab)
		return;
	pthread_mutex_destroy(&sw->lock);
	free(sw->tab);
	sw->tab = NULL;
}

int nb_switch_port_add(struct nb_switch *sw, const uint8_t *mac, uint32_t *port)
{
	int rc = 0;

	pthread_mutex_lock(&sw->lock);
	if (!mac) {
		if (sw->ports_used & 1) {
			rc = -EEXIST;
		} else {
			sw->ports_used |= 1;
			*port = NB_SW_UPLINK;
		}
		goto out;
	}
	uint32_t i = find(sw, mac), p;

	if (i != NIL && sw->tab[i].used == 2) {
		rc = -EEXIST; /* another vif has this MAC */
		goto out;
	}
	for (p = 1; p < NB_SW_MAX_PORTS && (sw->ports_used & (1ull << p)); p++)
		;
	if (p == NB_SW_MAX_PORTS) {
		rc = -ENOSPC;
		goto out;
	}
	if (i != NIL)
		remove_at(sw, i); /* learned on the uplink before: now ours */
	rc = insert(sw, mac, p, 2, 0);
	if (rc)
		goto out;
	sw->ports_used |= 1ull << p;
	memcpy(sw->port_mac[p], mac, 6);
	*port = p;
out:
	pthread_mutex_unlock(&sw->lock);
	return rc;
}

void nb_switch_port_del(struct nb_switch *sw, uint32_t port)
{
	if (port >= NB_SW_MAX_PORTS)
		return;
	pthread_mutex_lock(&sw->lock);
	for (uint32_t i = 0; i < sw->nr_slots;) {
		if (sw->tab[i].used && sw->tab[i].port == port)
			remove_at(sw, i); /* re-look at i: something moved in */
		else
			i++;
	}
	sw->ports_used &= ~(1ull << port);
	memset(sw->port_mac[port], 0, 6);
	pthread_mutex_unlock(&sw->lock);
}

static uint32_t age_locked(struct nb_switch *sw, uint64_t now)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < sw->nr_slots;) {
		/* signed: threads read the clock before the lock, so now may
		 * trail an entry's stamp by a little */
		if (sw->tab[i].used == 1 &&
		    (int64_t)(now - sw->tab[i].seen_ns) > (int64_t)sw->ageing_ns) {
			remove_at(sw, i);
			n++;
		} else {
			i++;
		}
	}
	sw->st.aged += n;
	sw->last_age_ns = now;
	return n;
}

uint32_t nb_switch_age(struct nb_switch *sw, uint64_t now_ns)
{
	uint32_t n;

	pthread_mutex_lock(&sw->lock);
	n = age_locked(sw, now_ns);
	pthread_mutex_unlock(&sw->lock);
	return n;
}

enum nb_sw_action nb_switch_forward(struct nb_switch *sw, uint32_t in_port,
				    const uint8_t *frame, uint64_t now_ns, uint32_t *out)
{
	const uint8_t *dst = frame, *src = frame + 6;
	enum nb_sw_action act;
	uint32_t i;

	pthread_mutex_lock(&sw->lock);
	if (in_port >= NB_SW_MAX_PORTS || !(sw->ports_used & (1ull << in_port))) {
		act = NB_SW_DROP;
		goto out;
	}
	if (in_port != NB_SW_UPLINK) {
		if (memcmp(src, sw->port_mac[in_port], 6) != 0) {
			sw->st.dropped_spoof++;
			act = NB_SW_DROP;
			goto out;
		}
	} else if (!(src[0] & 1)) {
		i = find(sw, src);
		if (i == NIL) {
			if (insert(sw, src, in_port, 1, now_ns) == 0)
				sw->st.learned++;
		} else if (sw->tab[i].used == 1) {
			if (sw->tab[i].port != in_port) {
				sw->tab[i].port = in_port;
				sw->st.moved++;
			}
			sw->tab[i].seen_ns = now_ns;
		} /* a vif's own MAC seen on the uplink: not moved */
	}
	if ((int64_t)(now_ns - sw->last_age_ns) > (int64_t)AGE_EVERY_NS)
		(void)age_locked(sw, now_ns);
	if (dst[0] & 1) {
		sw->st.flooded++;
		act = NB_SW_FLOOD;
		goto out;
	}
	i = find(sw, dst);
	if (i == NIL) {
		sw->st.flooded++;
		act = NB_SW_FLOOD;
	} else if (sw->tab[i].port == in_port) {
		sw->st.dropped_self++;
		act = NB_SW_DROP;
	} else {
		sw->st.unicast++;
		*out = sw->tab[i].port;
		act = NB_SW_UNICAST;
	}
out:
	pthread_mutex_unlock(&sw->lock);
	return act;
}

bool nb_switch_lookup(struct nb_switch *sw, const uint8_t *mac, uint32_t *port)
{
	uint32_t i;

	pthread_mutex_lock(&sw->lock);
	i = find(sw, mac);
	if (i != NIL)
		*port = sw->tab[i].port;
	pthread_mutex_unlock(&sw->lock);
	return i != NIL;
}

void nb_switch_stats(struct nb_switch *sw, struct nb_sw_stats *st)
{
	pthread_mutex_lock(&sw->lock);
	*st = sw->st;
	pthread_mutex_unlock(&sw->lock);
}
