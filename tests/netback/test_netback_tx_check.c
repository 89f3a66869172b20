/* SPDX-License-Identifier: MIT */
/*
 * tx request checks (netback/tx.c) on copied-out slot chains, one rule
 * per test, as Linux's xen-netback applies them; the header parser and
 * the software checksum the offload paths rely on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common.h"

static struct nb_tx_limits lim(void)
{
	struct nb_tx_limits l = { .max_slots = 18, .gso_tcpv4 = true,
				  .gso_tcpv6 = true, .mcast = true };
	return l;
}

static struct pvio_netif_tx_request slot(uint16_t id, uint16_t off, uint16_t size,
					 uint16_t flags)
{
	struct pvio_netif_tx_request r = { .gref = 100u + id, .offset = off,
					   .flags = flags, .id = id, .size = size };
	return r;
}

static struct pvio_netif_tx_request extra(uint8_t type, uint8_t flags, uint16_t gso_size,
					  uint8_t gso_type)
{
	struct pvio_netif_tx_request r;
	struct pvio_netif_extra_info e;

	memset(&r, 0, sizeof(r));
	memset(&e, 0, sizeof(e));
	e.type = type;
	e.flags = flags;
	e.u.gso.size = gso_size;
	e.u.gso.type = gso_type;
	memcpy(&r, &e, sizeof(e));
	return r;
}

static void single_slot_packet_passes(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[1] = { slot(7, 100, 60, 0) };
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_chain_complete(c, 1), 1);
	assert_int_equal(nb_tx_check(&l, c, 1, &d), NB_TX_OK);
	assert_int_equal(d.nr_data, 1);
	assert_int_equal(d.len, 60);
	assert_int_equal(d.size[0], 60);
	assert_int_equal(d.id[0], 7);
	assert_int_equal(d.gref[0], 107);
}

static void first_slot_keeps_what_later_slots_leave(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[3] = {
		slot(1, 0, 5000, PVIO_NETTXF_more_data),
		slot(2, 0, 2000, PVIO_NETTXF_more_data),
		slot(3, 0, 1000, 0),
	};
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_check(&l, c, 3, &d), NB_TX_OK);
	assert_int_equal(d.nr_data, 3);
	assert_int_equal(d.size[0], 2000);
	assert_int_equal(d.size[1], 2000);
	assert_int_equal(d.size[2], 1000);
}

static void size_below_ethernet_header_is_refused(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[1] = { slot(1, 0, 13, 0) };
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_check(&l, c, 1, &d), NB_TX_BAD_SIZE);
}

static void size_zero_is_refused(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[1] = { slot(1, 0, 0, 0) };
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_check(&l, c, 1, &d), NB_TX_BAD_SIZE);
}

static void later_slots_above_first_size_are_refused(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[2] = {
		slot(1, 0, 100, PVIO_NETTXF_more_data), slot(2, 0, 101, 0),
	};
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_check(&l, c, 2, &d), NB_TX_BAD_SIZE);
}

static void offset_plus_size_past_the_page_is_refused(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[1] = { slot(1, 4000, 100, 0) };
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_check(&l, c, 1, &d), NB_TX_BAD_OFFSET);
}

static void later_slot_past_the_page_is_refused(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[2] = {
		slot(1, 0, 3000, PVIO_NETTXF_more_data), slot(2, 2000, 2500, 0),
	};
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_check(&l, c, 2, &d), NB_TX_BAD_OFFSET);
}

static void max_slots_pass(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[18];
	struct nb_tx_desc d;

	(void)s;
	c[0] = slot(0, 0, 18 * 100, PVIO_NETTXF_more_data);
	for (uint16_t i = 1; i < 18; i++)
		c[i] = slot(i, 0, 100, i < 17 ? PVIO_NETTXF_more_data : 0);
	assert_int_equal(nb_tx_chain_complete(c, 18), 1);
	assert_int_equal(nb_tx_check(&l, c, 18, &d), NB_TX_OK);
	assert_int_equal(d.nr_data, 18);
}

static void more_than_max_slots_is_refused(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[19];
	struct nb_tx_desc d;

	(void)s;
	c[0] = slot(0, 0, 19 * 100, PVIO_NETTXF_more_data);
	for (uint16_t i = 1; i < 19; i++)
		c[i] = slot(i, 0, 100, i < 18 ? PVIO_NETTXF_more_data : 0);
	assert_int_equal(nb_tx_check(&l, c, 19, &d), NB_TX_TOO_MANY_SLOTS);
	/* every slot can still be answered */
	assert_int_equal(d.nr_data, 19);
	assert_int_equal(d.id[18], 18);
}

static void chain_is_incomplete_until_its_last_slot(void **s)
{
	struct pvio_netif_tx_request c[3] = {
		slot(1, 0, 300, PVIO_NETTXF_more_data | PVIO_NETTXF_extra_info),
		extra(PVIO_NETIF_EXTRA_TYPE_GSO, 0, 1448, PVIO_NETIF_GSO_TYPE_TCPV4),
		slot(2, 0, 100, 0),
	};

	(void)s;
	assert_int_equal(nb_tx_chain_complete(c, 1), 0);
	assert_int_equal(nb_tx_chain_complete(c, 2), 0);
	assert_int_equal(nb_tx_chain_complete(c, 3), 1);
}

static void extra_with_more_flag_continues_the_chain(void **s)
{
	struct pvio_netif_tx_request c[3] = {
		slot(1, 0, 60, PVIO_NETTXF_extra_info),
		extra(PVIO_NETIF_EXTRA_TYPE_GSO, PVIO_NETIF_EXTRA_FLAG_MORE, 1448,
		      PVIO_NETIF_GSO_TYPE_TCPV4),
		extra(PVIO_NETIF_EXTRA_TYPE_HASH, 0, 0, 0),
	};
	struct nb_tx_limits l = lim();
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_chain_complete(c, 2), 0);
	assert_int_equal(nb_tx_chain_complete(c, 3), 1);
	assert_int_equal(nb_tx_check(&l, c, 3, &d), NB_TX_OK);
	assert_int_equal(d.nr_extras, 2);
	assert_int_equal(d.nr_data, 1);
}

static void extra_of_type_none_is_refused(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[2] = {
		slot(1, 0, 60, PVIO_NETTXF_extra_info), extra(0, 0, 0, 0),
	};
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_check(&l, c, 2, &d), NB_TX_BAD_EXTRA);
	assert_int_equal(d.nr_extras, 1);
}

static void extra_of_unknown_type_is_refused(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[2] = {
		slot(1, 0, 60, PVIO_NETTXF_extra_info), extra(9, 0, 0, 0),
	};
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_check(&l, c, 2, &d), NB_TX_BAD_EXTRA);
}

static void extra_type_given_twice_is_refused(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[3] = {
		slot(1, 0, 60, PVIO_NETTXF_extra_info),
		extra(PVIO_NETIF_EXTRA_TYPE_GSO, PVIO_NETIF_EXTRA_FLAG_MORE, 100, 1),
		extra(PVIO_NETIF_EXTRA_TYPE_GSO, 0, 100, 1),
	};
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_check(&l, c, 3, &d), NB_TX_BAD_EXTRA);
}

static void gso_of_size_zero_is_refused(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[2] = {
		slot(1, 0, 60, PVIO_NETTXF_extra_info),
		extra(PVIO_NETIF_EXTRA_TYPE_GSO, 0, 0, PVIO_NETIF_GSO_TYPE_TCPV4),
	};
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_check(&l, c, 2, &d), NB_TX_BAD_GSO);
}

static void gso_of_unknown_type_is_refused(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[2] = {
		slot(1, 0, 60, PVIO_NETTXF_extra_info),
		extra(PVIO_NETIF_EXTRA_TYPE_GSO, 0, 1448, 7),
	};
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_check(&l, c, 2, &d), NB_TX_BAD_GSO);
}

static void gso_not_offered_is_refused(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[2] = {
		slot(1, 0, 60, PVIO_NETTXF_extra_info),
		extra(PVIO_NETIF_EXTRA_TYPE_GSO, 0, 1448, PVIO_NETIF_GSO_TYPE_TCPV6),
	};
	struct nb_tx_desc d;

	(void)s;
	l.gso_tcpv6 = false;
	assert_int_equal(nb_tx_check(&l, c, 2, &d), NB_TX_BAD_GSO);
}

static void gso_extra_is_read(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[2] = {
		slot(1, 0, 60, PVIO_NETTXF_extra_info | PVIO_NETTXF_csum_blank),
		extra(PVIO_NETIF_EXTRA_TYPE_GSO, 0, 1448, PVIO_NETIF_GSO_TYPE_TCPV4),
	};
	struct nb_tx_desc d;

	(void)s;
	assert_int_equal(nb_tx_check(&l, c, 2, &d), NB_TX_OK);
	assert_int_equal(d.gso_size, 1448);
	assert_int_equal(d.gso_type, PVIO_NETIF_GSO_TYPE_TCPV4);
	assert_true(d.flags & PVIO_NETTXF_csum_blank);
}

static void multicast_add_and_del_are_read(void **s)
{
	struct nb_tx_limits l = lim();
	struct pvio_netif_tx_request c[3];
	struct pvio_netif_extra_info e;
	struct nb_tx_desc d;
	const uint8_t a[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 }, b[6] = { 0x33, 0x33, 0, 0, 0, 1 };

	(void)s;
	c[0] = slot(1, 0, 14, PVIO_NETTXF_extra_info);
	memset(&e, 0, sizeof(e));
	e.type = PVIO_NETIF_EXTRA_TYPE_MCAST_ADD;
	e.flags = PVIO_NETIF_EXTRA_FLAG_MORE;
	memcpy(e.u.mcast.addr, a, 6);
	memset(&c[1], 0, sizeof(c[1]));
	memcpy(&c[1], &e, sizeof(e));
	e.type = PVIO_NETIF_EXTRA_TYPE_MCAST_DEL;
	e.flags = 0;
	memcpy(e.u.mcast.addr, b, 6);
	memset(&c[2], 0, sizeof(c[2]));
	memcpy(&c[2], &e, sizeof(e));
	assert_int_equal(nb_tx_chain_complete(c, 3), 1);
	assert_int_equal(nb_tx_check(&l, c, 3, &d), NB_TX_OK);
	assert_true(d.mcast_add);
	assert_true(d.mcast_del);
	assert_memory_equal(d.mcast_add_addr, a, 6);
	assert_memory_equal(d.mcast_del_addr, b, 6);
}

/* ---- headers and checksums ---------------------------------------------------- */

static size_t ipv4_udp(uint8_t *f, uint16_t payload)
{
	size_t n = 14 + 20 + 8 + payload;

	memset(f, 0, n);
	f[12] = 0x08;
	f[13] = 0x00;
	f[14] = 0x45;
	f[16] = (uint8_t)((20 + 8 + payload) >> 8);
	f[17] = (uint8_t)(20 + 8 + payload);
	f[22] = 64;
	f[23] = 17;
	f[26] = 10; f[29] = 1;  /* 10.0.0.1 */
	f[30] = 10; f[33] = 2;  /* 10.0.0.2 */
	f[34] = 0x12; f[35] = 0x34; f[36] = 0x56; f[37] = 0x78;
	f[38] = (uint8_t)((8 + payload) >> 8);
	f[39] = (uint8_t)(8 + payload);
	for (uint16_t i = 0; i < payload; i++)
		f[42 + i] = (uint8_t)(i * 7 + 3);
	return n;
}

static void ipv4_udp_header_is_parsed(void **s)
{
	uint8_t f[128];
	struct netback_pkt p;

	(void)s;
	memset(&p, 0, sizeof(p));
	ipv4_udp(f, 20);
	assert_int_equal(nb_pkt_parse(f, 62, &p), 0);
	assert_int_equal(p.l2_len, 14);
	assert_int_equal(p.l3_len, 20);
	assert_int_equal(p.l4_len, 8);
	assert_int_equal(p.l4_proto, 17);
	assert_int_equal(p.csum_start, 34);
	assert_int_equal(p.csum_offset, 6);
	assert_int_equal(p.ipv6, 0);
}

static void ipv6_tcp_behind_vlan_is_parsed(void **s)
{
	uint8_t f[128];
	struct netback_pkt p;

	(void)s;
	memset(f, 0, sizeof(f));
	memset(&p, 0, sizeof(p));
	f[12] = 0x81; f[13] = 0x00; f[16] = 0x86; f[17] = 0xdd;
	f[18] = 0x60;
	f[18 + 6] = 6;
	f[18 + 40 + 12] = 0x80; /* doff 8: 32 bytes */
	assert_int_equal(nb_pkt_parse(f, 18 + 40 + 32, &p), 0);
	assert_int_equal(p.l2_len, 18);
	assert_int_equal(p.l3_len, 40);
	assert_int_equal(p.l4_len, 32);
	assert_int_equal(p.ipv6, 1);
	assert_int_equal(p.csum_offset, 16);
}

static void ipv4_fragment_is_not_parsed(void **s)
{
	uint8_t f[128];
	struct netback_pkt p;

	(void)s;
	ipv4_udp(f, 20);
	f[20] = 0x20; /* more fragments */
	assert_int_equal(nb_pkt_parse(f, 62, &p), -EINVAL);
}

static void truncated_header_is_not_parsed(void **s)
{
	uint8_t f[128];
	struct netback_pkt p;

	(void)s;
	ipv4_udp(f, 20);
	assert_int_equal(nb_pkt_parse(f, 40, &p), -EINVAL);
}

/* Reference: RFC 1071 sum with the IPv4 pseudo header. */
static uint16_t ref_udp_csum(const uint8_t *f, size_t n)
{
	uint32_t sum = 0;
	size_t l4 = n - 34;

	for (int i = 26; i < 34; i += 2)
		sum += (uint32_t)(f[i] << 8 | f[i + 1]);
	sum += 17 + (uint32_t)l4;
	for (size_t i = 34; i < n; i += 2)
		sum += (uint32_t)(f[i] << 8 | (i + 1 < n ? f[i + 1] : 0)) *
		       (i == 40 ? 0 : 1);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum ? (uint16_t)~sum : 0xffff;
}

static void software_checksum_over_fragments_matches_rfc1071(void **s)
{
	uint8_t f[256], a[256], b[256];
	struct netback_pkt p;
	size_t n = ipv4_udp(f, 101); /* odd length */
	uint16_t want = ref_udp_csum(f, n);
	uint32_t pseudo = 0;

	(void)s;
	/* csum_blank convention: the field holds the pseudo-header sum */
	for (int i = 26; i < 34; i += 2)
		pseudo += (uint32_t)(f[i] << 8 | f[i + 1]);
	pseudo += 17 + (uint32_t)(n - 34);
	while (pseudo >> 16)
		pseudo = (pseudo & 0xffff) + (pseudo >> 16);
	f[40] = (uint8_t)(pseudo >> 8);
	f[41] = (uint8_t)pseudo;
	/* split at an odd offset inside the payload */
	memcpy(a, f, 77);
	memcpy(b, f + 77, n - 77);
	memset(&p, 0, sizeof(p));
	p.nr_frags = 2;
	p.frag[0].addr = a;
	p.frag[0].len = 77;
	p.frag[1].addr = b;
	p.frag[1].len = (uint32_t)(n - 77);
	p.len = (uint32_t)n;
	p.csum_start = 34;
	p.csum_offset = 6;
	p.l4_proto = 17;
	nb_pkt_csum_complete(&p);
	assert_int_equal(a[40] << 8 | a[41], want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(single_slot_packet_passes),
		cmocka_unit_test(first_slot_keeps_what_later_slots_leave),
		cmocka_unit_test(size_below_ethernet_header_is_refused),
		cmocka_unit_test(size_zero_is_refused),
		cmocka_unit_test(later_slots_above_first_size_are_refused),
		cmocka_unit_test(offset_plus_size_past_the_page_is_refused),
		cmocka_unit_test(later_slot_past_the_page_is_refused),
		cmocka_unit_test(max_slots_pass),
		cmocka_unit_test(more_than_max_slots_is_refused),
		cmocka_unit_test(chain_is_incomplete_until_its_last_slot),
		cmocka_unit_test(extra_with_more_flag_continues_the_chain),
		cmocka_unit_test(extra_of_type_none_is_refused),
		cmocka_unit_test(extra_of_unknown_type_is_refused),
		cmocka_unit_test(extra_type_given_twice_is_refused),
		cmocka_unit_test(gso_of_size_zero_is_refused),
		cmocka_unit_test(gso_of_unknown_type_is_refused),
		cmocka_unit_test(gso_not_offered_is_refused),
		cmocka_unit_test(gso_extra_is_read),
		cmocka_unit_test(multicast_add_and_del_are_read),
		cmocka_unit_test(ipv4_udp_header_is_parsed),
		cmocka_unit_test(ipv6_tcp_behind_vlan_is_parsed),
		cmocka_unit_test(ipv4_fragment_is_not_parsed),
		cmocka_unit_test(truncated_header_is_not_parsed),
		cmocka_unit_test(software_checksum_over_fragments_matches_rfc1071),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
