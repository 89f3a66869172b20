/* SPDX-License-Identifier: MIT */
/*
 * The TAP port: one TAP device per vif, named vif<domid>.<devid> as on Xen,
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR (| IFF_MULTI_QUEUE with more than one
 * queue: one fd per queue), so checksum and GSO offloads cross in both
 * directions as a struct virtio_net_hdr in front of each frame.
 *
 *   tx (guest -> stack): writev(hdr, the mapped guest pages): the kernel
 *      copies them, so every packet is done when writev returns (the map
 *      path without a second copy; tx_copy_buf is not offered).
 *   rx (stack -> guest): readv into backend-owned frames (a pool per
 *      queue), so netback grant-copies them, or flips a one-frame packet's
 *      frame to the guest.
 *
 * The device's MAC is fe:ff:ff:ff:ff:ff (Xen's, so a bridge never picks
 * it), it is brought up at open; the hotplug script adds it to a bridge.
 * With a network namespace the device is created inside it (the opening
 * thread enters it for the ioctls and comes back; the fds work anywhere).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common.h"

#define TAP_FRAMES 512u        /* receive frames per queue (2 MiB) */
#define TAP_MAX_READ_FRAMES 17u /* a 64 KiB GSO packet */

struct tap_q {
	int fd;
	uint32_t base;          /* first backend pfn of the frame pool */
	uint32_t nr;            /* frames in the pool (0: none) */
	uint32_t *free;         /* stack of free frame indices */
	uint32_t nr_free;
	bool *retired;          /* frame lost in a flip */
};

struct tap {
	char ifname[IFNAMSIZ];
	char netns[PVIO_NETBACK_STR_MAX];
	const struct netback_port_env *env;
	uint32_t max_queues, nq, offloads;
	bool mq;
	struct tap_q q[NB_MAX_QUEUES];
};

/* Run fn in the tap's namespace (this thread only). */
static int in_ns(struct tap *t, int (*fn)(struct tap *, void *), void *arg)
{
	char path[PVIO_NETBACK_STR_MAX + 16];
	int self, ns, rc;

	if (!t->netns[0])
		return fn(t, arg);
	if (strchr(t->netns, '/'))
		snprintf(path, sizeof(path), "%s", t->netns);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", t->netns);
	self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0) {
		rc = -errno;
		close(self);
		return rc;
	}
	if (setns(ns, CLONE_NEWNET) < 0) {
		rc = -errno;
	} else {
		rc = fn(t, arg);
		if (setns(self, CLONE_NEWNET) < 0)
			rc = rc ? rc : -errno; /* cannot happen: we came from it */
	}
	close(ns);
	close(self);
	return rc;
}

/* Open one queue's fd of the device (creating it for the first). */
static int tap_fd_open(struct tap *t, void *arg)
{
	struct tap_q *tq = arg;
	struct ifreq ifr;
	int fd, hdr = sizeof(struct virtio_net_hdr), rc;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (t->mq ? IFF_MULTI_QUEUE : 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->ifname);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	tq->fd = fd;
	return 0;
}

/* MAC fe:ff:ff:ff:ff:ff and IFF_UP, through a socket in the namespace. */
static int tap_link_up(struct tap *t, void *arg)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	(void)arg;
	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->ifname);
	ifr.ifr_hwaddr.sa_family = 1; /* ARPHRD_ETHER */
	memset(ifr.ifr_hwaddr.sa_data, 0xff, 6);
	ifr.ifr_hwaddr.sa_data[0] = (char)0xfe;
	if (ioctl(s, SIOCSIFHWADDR, &ifr) < 0)
		rc = -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", t->ifname);
	if (rc == 0 && ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		rc = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (rc == 0 && ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		rc = -errno;
	close(s);
	return rc;
}

static int tap_open(const struct netback_port_params *p, void **ctx)
{
	struct tap *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	snprintf(t->ifname, sizeof(t->ifname), "%s", p->ifname);
	snprintf(t->netns, sizeof(t->netns), "%s", p->netns ? p->netns : "");
	t->env = p->env;
	t->max_queues = p->max_queues;
	t->mq = p->max_queues > 1;
	for (uint32_t i = 0; i < NB_MAX_QUEUES; i++)
		t->q[i].fd = -1;
	rc = in_ns(t, tap_fd_open, &t->q[0]);
	if (rc == 0)
		rc = in_ns(t, tap_link_up, NULL);
	if (rc) {
		if (t->q[0].fd >= 0)
			close(t->q[0].fd);
		free(t);
		return rc;
	}
	*ctx = t;
	return 0;
}

static void pool_free(struct tap *t, struct tap_q *tq)
{
	if (tq->nr) {
		/* Frames lost in a flip are not ours to free any more. */
		for (uint32_t i = 0; i < tq->nr; i++)
			if (!tq->retired[i])
				(void)t->env->page_free(t->env->page_ctx, tq->base + i, 1);
	}
	free(tq->free);
	free(tq->retired);
	tq->free = NULL;
	tq->retired = NULL;
	tq->nr = tq->nr_free = 0;
}

static int pool_alloc(struct tap *t, struct tap_q *tq)
{
	int rc = t->env->page_alloc(t->env->page_ctx, TAP_FRAMES, &tq->base);

	if (rc)
		return rc;
	tq->free = calloc(TAP_FRAMES, sizeof(*tq->free));
	tq->retired = calloc(TAP_FRAMES, sizeof(*tq->retired));
	if (!tq->free || !tq->retired) {
		free(tq->free);
		free(tq->retired);
		(void)t->env->page_free(t->env->page_ctx, tq->base, TAP_FRAMES);
		return -ENOMEM;
	}
	tq->nr = TAP_FRAMES;
	for (uint32_t i = 0; i < TAP_FRAMES; i++)
		tq->free[i] = TAP_FRAMES - 1 - i;
	tq->nr_free = TAP_FRAMES;
	return 0;
}

static void tap_stop(void *ctx)
{
	struct tap *t = ctx;

	for (uint32_t i = 0; i < t->nq; i++) {
		if (i > 0 && t->q[i].fd >= 0) {
			close(t->q[i].fd);
			t->q[i].fd = -1;
		}
		pool_free(t, &t->q[i]);
	}
	t->nq = 0;
}

static int tap_start(void *ctx, uint32_t nq, uint32_t offl)
{
	struct tap *t = ctx;
	unsigned int f = 0;
	int rc = 0;

	if (nq > t->max_queues || (!t->mq && nq > 1))
		return -EINVAL;
	/* What the kernel may hand us: what the guest can take, or less. */
	if (offl & (NETBACK_RXOFF_CSUM4 | NETBACK_RXOFF_CSUM6))
		f |= TUN_F_CSUM;
	if ((f & TUN_F_CSUM) && (offl & NETBACK_RXOFF_TSO4))
		f |= TUN_F_TSO4;
	if ((f & TUN_F_CSUM) && (offl & NETBACK_RXOFF_TSO6))
		f |= TUN_F_TSO6;
	t->offloads = f;
	for (uint32_t i = 0; i < nq && rc == 0; i++) {
		if (i > 0)
			rc = in_ns(t, tap_fd_open, &t->q[i]);
		if (rc == 0 && ioctl(t->q[i].fd, TUNSETOFFLOAD, f) < 0)
			rc = -errno;
		if (rc == 0)
			rc = pool_alloc(t, &t->q[i]);
		t->nq = i + 1;
	}
	if (rc)
		tap_stop(t);
	return rc;
}

static void tap_close(void *ctx)
{
	struct tap *t = ctx;

	tap_stop(t);
	if (t->q[0].fd >= 0)
		close(t->q[0].fd);
	free(t);
}

static void *frame_addr(struct tap *t, uint32_t pfn)
{
	return pvio_mach_pfn_ptr(t->env->machine, t->env->be, pfn);
}

static void tap_xmit(void *ctx, uint32_t qi, struct netback_pkt **pkts, void **owners,
		     int *status, uint32_t n)
{
	struct tap *t = ctx;
	int fd = t->q[qi].fd;

	(void)owners;
	for (uint32_t i = 0; i < n; i++) {
		struct netback_pkt *p = pkts[i];
		struct virtio_net_hdr h;
		struct iovec iov[NETBACK_MAX_FRAGS + 1];

		memset(&h, 0, sizeof(h));
		if (p->flags & NETBACK_PKT_CSUM_PARTIAL) {
			h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
			h.csum_start = p->csum_start;
			h.csum_offset = p->csum_offset;
		} else if (p->flags & NETBACK_PKT_DATA_VALID) {
			h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
		}
		if (p->flags & NETBACK_PKT_GSO_MASK) {
			h.gso_type = (p->flags & NETBACK_PKT_GSO_TCPV6) ? VIRTIO_NET_HDR_GSO_TCPV6
									: VIRTIO_NET_HDR_GSO_TCPV4;
			h.gso_size = p->gso_size;
			h.hdr_len = (uint16_t)(p->l2_len + p->l3_len + p->l4_len);
		}
		iov[0].iov_base = &h;
		iov[0].iov_len = sizeof(h);
		for (uint32_t k = 0; k < p->nr_frags; k++) {
			iov[k + 1].iov_base = p->frag[k].addr;
			iov[k + 1].iov_len = p->frag[k].len;
		}
		status[i] = writev(fd, iov, (int)p->nr_frags + 1) ==
					    (ssize_t)(sizeof(h) + p->len)
				    ? NETBACK_TX_SENT : NETBACK_TX_DROPPED;
	}
}

static int tap_recv(void *ctx, uint32_t qi, struct netback_pkt *pkts, uint32_t max)
{
	struct tap *t = ctx;
	struct tap_q *tq = &t->q[qi];
	uint32_t want = (t->offloads & (TUN_F_TSO4 | TUN_F_TSO6)) ? TAP_MAX_READ_FRAMES : 2;
	uint32_t got = 0;

	while (got < max && tq->nr_free >= want) {
		struct netback_pkt *p = &pkts[got];
		struct virtio_net_hdr h;
		struct iovec iov[TAP_MAX_READ_FRAMES + 1];
		uint32_t idx[TAP_MAX_READ_FRAMES];
		ssize_t r;
		uint32_t len, used;

		iov[0].iov_base = &h;
		iov[0].iov_len = sizeof(h);
		for (uint32_t k = 0; k < want; k++) {
			idx[k] = tq->free[tq->nr_free - 1 - k];
			iov[k + 1].iov_base = frame_addr(t, tq->base + idx[k]);
			iov[k + 1].iov_len = PVIO_PAGE_SIZE;
		}
		r = readv(tq->fd, iov, (int)want + 1);
		if (r <= (ssize_t)sizeof(h))
			break; /* EAGAIN (or a runt) */
		len = (uint32_t)(r - (ssize_t)sizeof(h));
		used = (len + PVIO_PAGE_SIZE - 1) / PVIO_PAGE_SIZE;
		tq->nr_free -= used;
		memset(p, 0, offsetof(struct netback_pkt, frag));
		p->len = len;
		p->nr_frags = (uint16_t)used;
		for (uint32_t k = 0; k < used; k++) {
			p->frag[k].addr = iov[k + 1].iov_base;
			p->frag[k].len = len - k * PVIO_PAGE_SIZE < PVIO_PAGE_SIZE ?
					 len - k * PVIO_PAGE_SIZE : PVIO_PAGE_SIZE;
			p->frag[k].pfn = tq->base + idx[k];
		}
		if (used == 1)
			p->flags |= NETBACK_PKT_FLIPPABLE;
		if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			p->flags |= NETBACK_PKT_CSUM_PARTIAL;
			p->csum_start = h.csum_start;
			p->csum_offset = h.csum_offset;
		} else if (h.flags & VIRTIO_NET_HDR_F_DATA_VALID) {
			p->flags |= NETBACK_PKT_DATA_VALID;
		}
		switch (h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
		case VIRTIO_NET_HDR_GSO_TCPV4:
			p->flags |= NETBACK_PKT_GSO_TCPV4;
			p->gso_size = h.gso_size;
			break;
		case VIRTIO_NET_HDR_GSO_TCPV6:
			p->flags |= NETBACK_PKT_GSO_TCPV6;
			p->gso_size = h.gso_size;
			break;
		default:
			break;
		}
		got++;
	}
	return (int)got;
}

static void tap_rx_release(void *ctx, uint32_t qi, struct netback_pkt *pkts, uint32_t n)
{
	struct tap *t = ctx;
	struct tap_q *tq = &t->q[qi];

	for (uint32_t i = 0; i < n; i++) {
		struct netback_pkt *p = &pkts[i];

		for (uint32_t k = 0; k < p->nr_frags; k++) {
			uint32_t ix = p->frag[k].pfn - tq->base;

			if (ix >= tq->nr)
				continue;
			if ((p->flags & NETBACK_PKT_FLIPPED) && k == 0 &&
			    !frame_addr(t, p->frag[k].pfn)) {
				tq->retired[ix] = true; /* no frame came back */
				continue;
			}
			tq->free[tq->nr_free++] = ix;
		}
		p->nr_frags = 0;
	}
}

static int tap_rx_fd(void *ctx, uint32_t qi)
{
	struct tap *t = ctx;

	return t->q[qi].fd;
}

const struct netback_port_ops nb_port_tap = {
	.name = "tap",
	.open = tap_open,
	.close = tap_close,
	.start = tap_start,
	.stop = tap_stop,
	.xmit = tap_xmit,
	.recv = tap_recv,
	.rx_release = tap_rx_release,
	.rx_fd = tap_rx_fd,
};
