/* SPDX-License-Identifier: MIT */
/*
 * The guest-side TAP bridge (see netfront_tap.h): a helper thread reads
 * frames from the TAP and sends them through netfront; the calling thread
 * receives from netfront and writes to the TAP.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <pvio/netfront.h>

#include "netfront_tap.h"

#define TAP_POLL_MS 50
#define TAP_VNET_LEN ((uint32_t)sizeof(struct virtio_net_hdr))
#define TAP_BUF (TAP_VNET_LEN + PVIO_NETFRONT_MAX_FRAME + 1)
/* Headers the offload code parses: Ethernet + VLAN + IPv6/IPv4 + TCP. */
#define TAP_HDR_MAX 192u

struct bridge {
	struct pvio_netfront *nf;
	struct pvio_netfront_info info;
	const struct pvio_netfront_tap_opts *opts;
	struct pvio_netfront_tap_stats local;
	struct pvio_netfront_tap_stats *st;
	int fd;
	_Atomic int quit;     /* 1: stop asked or a side failed */
	_Atomic int err;      /* the first failure */
	unsigned char buf[TAP_BUF];
};

static void count(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

static bool stopping(struct bridge *b)
{
	if (atomic_load(&b->quit))
		return true;
	if (b->opts && b->opts->stop && atomic_load(b->opts->stop)) {
		atomic_store(&b->quit, 1);
		return true;
	}
	return false;
}

static void fail(struct bridge *b, int err)
{
	int zero = 0;

	atomic_compare_exchange_strong(&b->err, &zero, err);
	atomic_store(&b->quit, 1);
}

/* ---- header parsing and checksums ---- */

struct l4 {
	uint32_t l3;        /* offset of the IP header */
	uint32_t off;       /* offset of the TCP/UDP header */
	uint32_t hdr_end;   /* end of the TCP (or UDP) header */
	uint16_t csum_off;  /* checksum field within the L4 header */
	uint8_t proto;
	bool v6;
};

/* Find the TCP/UDP header of an Ethernet frame (first len bytes in p).
 * IPv6 extension headers are not walked. Returns 0 or -1. */
static int parse_l4(const unsigned char *p, uint32_t len, struct l4 *o)
{
	uint32_t off = 14;

	if (len < 14)
		return -1;
	uint16_t type = (uint16_t)(p[12] << 8 | p[13]);
	if (type == 0x8100 || type == 0x88a8) {
		if (len < 18)
			return -1;
		type = (uint16_t)(p[16] << 8 | p[17]);
		off = 18;
	}
	o->l3 = off;
	if (type == 0x0800) {
		if (len < off + 20 || (p[off] >> 4) != 4)
			return -1;
		uint32_t ihl = (uint32_t)(p[off] & 0xf) * 4;
		if (ihl < 20)
			return -1;
		o->proto = p[off + 9];
		o->v6 = false;
		off += ihl;
	} else if (type == 0x86dd) {
		if (len < off + 40)
			return -1;
		o->proto = p[off + 6];
		o->v6 = true;
		off += 40;
	} else {
		return -1;
	}
	o->off = off;
	if (o->proto == 6) {
		if (len < off + 20)
			return -1;
		o->csum_off = 16;
		o->hdr_end = off + (uint32_t)(p[off + 12] >> 4) * 4;
		if (o->hdr_end < off + 20)
			return -1;
	} else if (o->proto == 17) {
		o->csum_off = 6;
		o->hdr_end = off + 8;
	} else {
		return -1;
	}
	return o->hdr_end <= len ? 0 : -1;
}

static uint32_t sum16(uint32_t sum, const unsigned char *p, uint32_t len)
{
	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The pseudo-header sum (not inverted) for an L4 segment of l4len bytes. */
static uint16_t pseudo_sum(const unsigned char *p, const struct l4 *h, uint32_t l4len)
{
	uint32_t sum = 0;

	if (h->v6) {
		sum = sum16(sum, p + h->l3 + 8, 32);
		sum += l4len >> 16;
	} else {
		sum = sum16(sum, p + h->l3 + 12, 8);
	}
	sum += l4len & 0xffff;
	sum += h->proto;
	return fold(sum);
}

/* ---- TAP -> netfront ---- */

/* Fill in a partial checksum: the field holds the pseudo-header sum. */
static int sw_csum(unsigned char *f, uint32_t len, uint32_t start, uint32_t off)
{
	if (start >= len || off + 2 > len - start)
		return -1;
	uint16_t c = (uint16_t)~fold(sum16(0, f + start, len - start));
	if (c == 0 && off == 6)
		c = 0xffff; /* UDP: 0 means "no checksum" */
	f[start + off] = (unsigned char)(c >> 8);
	f[start + off + 1] = (unsigned char)c;
	return 0;
}

static bool csum_offload_ok(const struct bridge *b, const unsigned char *f, uint32_t len)
{
	struct l4 h;

	if (parse_l4(f, len, &h) != 0)
		return false;
	return h.v6 ? b->info.tx_csum_ipv6 : b->info.tx_csum_ipv4;
}

static void tap_to_nf(struct bridge *b, uint32_t n)
{
	struct virtio_net_hdr vh;
	unsigned char *f = b->buf + TAP_VNET_LEN;
	uint32_t len = n - TAP_VNET_LEN;
	struct pvio_netfront_pkt pkt = { .data = f, .len = len };

	memcpy(&vh, b->buf, sizeof(vh));
	count(&b->st->tap_frames);
	switch (vh.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) {
	case VIRTIO_NET_HDR_GSO_NONE:
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		pkt.gso_type = PVIO_NETFRONT_GSO_TCPV4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		pkt.gso_type = PVIO_NETFRONT_GSO_TCPV6;
		break;
	default:
		count(&b->st->tx_dropped); /* never enabled (UFO/USO) */
		return;
	}
	pkt.gso_size = pkt.gso_type ? vh.gso_size : 0;
	if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		if (pkt.gso_type || csum_offload_ok(b, f, len)) {
			pkt.flags |= PVIO_NETFRONT_F_CSUM_BLANK;
		} else if (sw_csum(f, len, vh.csum_start, vh.csum_offset) == 0) {
			count(&b->st->tx_sw_csum);
			pkt.flags |= PVIO_NETFRONT_F_DATA_VALIDATED;
		} else {
			count(&b->st->tx_dropped);
			return;
		}
	} else if (vh.flags & VIRTIO_NET_HDR_F_DATA_VALID) {
		pkt.flags |= PVIO_NETFRONT_F_DATA_VALIDATED;
	}
	for (;;) {
		int err = pvio_netfront_send(b->nf, PVIO_NETFRONT_QUEUE_ANY, &pkt);
		if (err == 0) {
			count(&b->st->tx_sent);
			return;
		}
		if (err == -EIO) {
			fail(b, -EIO);
			return;
		}
		if (err != -EAGAIN) {
			count(&b->st->tx_dropped);
			return;
		}
		if (stopping(b))
			return;
		/* Ring or pages full: wait for completions. */
		err = pvio_netfront_wait(b->nf, PVIO_NETFRONT_WAIT_TX,
					 (uint64_t)TAP_POLL_MS * 1000000u);
		if (err == -EIO) {
			fail(b, -EIO);
			return;
		}
	}
}

static void *tx_main(void *arg)
{
	struct bridge *b = arg;
	struct pollfd pfd = { .fd = b->fd, .events = POLLIN };

	while (!stopping(b)) {
		int r = poll(&pfd, 1, TAP_POLL_MS);
		if (r < 0 && errno != EINTR) {
			fail(b, -errno);
			break;
		}
		if (r <= 0)
			continue;
		ssize_t n = read(b->fd, b->buf, sizeof(b->buf));
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			fail(b, -errno);
			break;
		}
		if ((size_t)n <= TAP_VNET_LEN || (size_t)n > TAP_VNET_LEN + PVIO_NETFRONT_MAX_FRAME) {
			count(&b->st->tx_dropped);
			continue;
		}
		tap_to_nf(b, (uint32_t)n);
	}
	return NULL;
}

/* ---- netfront -> TAP ---- */

static void nf_to_tap(void *arg, const struct pvio_netfront_rx *pkt)
{
	struct bridge *b = arg;
	struct virtio_net_hdr vh = { 0 };
	unsigned char hdr[TAP_HDR_MAX];
	struct iovec iov[2 + PVIO_NETFRONT_MAX_SLOTS];
	uint32_t nhdr = 0, niov = 1;

	count(&b->st->rx_frames);
	iov[0] = (struct iovec){ .iov_base = &vh, .iov_len = sizeof(vh) };
	if (pkt->flags & PVIO_NETFRONT_F_CSUM_BLANK || pkt->gso_type) {
		/* Headers into one buffer (they may span fragments), the
		 * pseudo-header sum into the checksum field, then the rest. */
		struct l4 h;
		for (uint32_t i = 0; i < pkt->nr_frags && nhdr < TAP_HDR_MAX; i++) {
			uint32_t k = pkt->frags[i].len < TAP_HDR_MAX - nhdr ?
				     pkt->frags[i].len : TAP_HDR_MAX - nhdr;
			memcpy(hdr + nhdr, pkt->frags[i].data, k);
			nhdr += k;
		}
		if (parse_l4(hdr, nhdr, &h) != 0) {
			count(&b->st->rx_dropped);
			return;
		}
		nhdr = h.hdr_end;
		uint16_t ps = pseudo_sum(hdr, &h, pkt->len - h.off);
		hdr[h.off + h.csum_off] = (unsigned char)(ps >> 8);
		hdr[h.off + h.csum_off + 1] = (unsigned char)ps;
		vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
		vh.csum_start = (uint16_t)h.off;
		vh.csum_offset = h.csum_off;
		if (pkt->gso_type) {
			if (h.proto != 6) {
				count(&b->st->rx_dropped);
				return;
			}
			vh.gso_type = pkt->gso_type == PVIO_NETFRONT_GSO_TCPV4 ?
				      VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
			vh.gso_size = pkt->gso_size;
			vh.hdr_len = (uint16_t)h.hdr_end;
		}
		iov[niov++] = (struct iovec){ .iov_base = hdr, .iov_len = nhdr };
	} else if (pkt->flags & PVIO_NETFRONT_F_DATA_VALIDATED) {
		vh.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	}
	/* The fragments, minus the nhdr bytes already in hdr. */
	uint32_t skip = nhdr;
	for (uint32_t i = 0; i < pkt->nr_frags; i++) {
		const unsigned char *d = pkt->frags[i].data;
		uint32_t l = pkt->frags[i].len;
		if (skip >= l) {
			skip -= l;
			continue;
		}
		iov[niov++] = (struct iovec){ .iov_base = (void *)(uintptr_t)(d + skip),
					      .iov_len = l - skip };
		skip = 0;
	}
	if (writev(b->fd, iov, (int)niov) < 0)
		count(&b->st->rx_dropped);
	else
		count(&b->st->rx_written);
}

/* ---- set-up ---- */

static int tap_open(const char *name, char *ifname)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (name && *name)
		snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	else
		snprintf(ifr.ifr_name, IFNAMSIZ, "pvio%%d");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	int sz = (int)TAP_VNET_LEN;
	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	snprintf(ifname, IFNAMSIZ, "%s", ifr.ifr_name);
	return fd;
}

/* MAC, MTU, up: best effort through an ordinary socket's ioctls. */
static void tap_configure(const char *ifname, const struct pvio_netfront_info *in,
			  bool set_mac)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	if (set_mac) {
		ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
		memcpy(ifr.ifr_hwaddr.sa_data, in->mac, 6);
		(void)ioctl(s, SIOCSIFHWADDR, &ifr);
	}
	ifr.ifr_mtu = (int)in->mtu;
	if (!in->tx_sg && in->mtu + 18 > in->max_tx_frame)
		ifr.ifr_mtu = (int)(in->max_tx_frame - 18);
	(void)ioctl(s, SIOCSIFMTU, &ifr);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		(void)ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
}

int pvio_netfront_tap_bridge_run(struct pvio_netfront *nf, const char *tap_name,
				 const struct pvio_netfront_tap_opts *opts)
{
	struct bridge *b;
	char ifname[IFNAMSIZ];
	pthread_t thr;
	int err;

	if (!nf)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->nf = nf;
	b->opts = opts;
	b->st = opts && opts->stats ? opts->stats : &b->local;
	err = pvio_netfront_get_info(nf, &b->info);
	if (!err) {
		b->fd = tap_open(tap_name, ifname);
		if (b->fd < 0)
			err = b->fd;
	}
	if (err) {
		free(b);
		return err;
	}
	unsigned off = 0;
	if (!(opts && opts->no_offload)) {
		/* TAP -> us: partial checksums (filled in software when
		 * netfront cannot offload), TSO as netfront can send it. */
		off = TUN_F_CSUM;
		if (b->info.tx_gso_tcpv4)
			off |= TUN_F_TSO4;
		if (b->info.tx_gso_tcpv6)
			off |= TUN_F_TSO6;
	}
	if (ioctl(b->fd, TUNSETOFFLOAD, off) < 0) {
		err = -errno;
		close(b->fd);
		free(b);
		return err;
	}
	tap_configure(ifname, &b->info, !(opts && opts->keep_mac));
	if (opts && opts->ready)
		opts->ready(opts->arg, ifname);

	err = pthread_create(&thr, NULL, tx_main, b);
	if (err) {
		close(b->fd);
		free(b);
		return -err;
	}
	while (!stopping(b)) {
		int n = pvio_netfront_recv_cb(nf, PVIO_NETFRONT_QUEUE_ANY, nf_to_tap, b, 64);
		if (n == -EIO) {
			fail(b, -EIO);
			break;
		}
		if (n > 0)
			continue;
		n = pvio_netfront_wait(nf, PVIO_NETFRONT_WAIT_RX,
				       (uint64_t)TAP_POLL_MS * 1000000u);
		if (n == -EIO)
			fail(b, -EIO);
	}
	atomic_store(&b->quit, 1);
	pthread_join(thr, NULL);
	close(b->fd);
	err = atomic_load(&b->err);
	free(b);
	return err;
}
