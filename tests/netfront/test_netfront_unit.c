/* SPDX-License-Identifier: MIT */
/*
 * netfront's pure logic: splitting a frame into slots, tx response id
 * validation through the generation-tagged shadow table, rx response id
 * validation by ring position, status mapping, the mac parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../netfront/common.h"

static void slot_count_is_one_per_page_touched(void **state)
{
	(void)state;
	assert_int_equal(nf_slot_count(0, 1), 1);
	assert_int_equal(nf_slot_count(0, 4096), 1);
	assert_int_equal(nf_slot_count(0, 4097), 2);
	assert_int_equal(nf_slot_count(4000, 200), 2);
	assert_int_equal(nf_slot_count(100, 65535), 17);
	assert_int_equal(nf_slot_count(0, 65535), 16);
	assert_int_equal(nf_slot_count(0, 0), 0);
}

static void slot_lengths_add_up_and_split_at_page_ends(void **state)
{
	uint16_t off;
	uint32_t total = 0;

	(void)state;
	/* 9000 bytes starting 1000 into a page: 3096 + 4096 + 1808. */
	assert_int_equal(nf_slot_len(1000, 9000, 0, &off), 3096);
	assert_int_equal(off, 1000);
	assert_int_equal(nf_slot_len(1000, 9000, 1, &off), 4096);
	assert_int_equal(off, 0);
	assert_int_equal(nf_slot_len(1000, 9000, 2, &off), 1808);
	assert_int_equal(off, 0);
	assert_int_equal(nf_slot_len(1000, 9000, 3, &off), 0);
	for (uint32_t k = 0; k < nf_slot_count(123, 65535); k++)
		total += nf_slot_len(123, 65535, k, &off);
	assert_int_equal(total, 65535);
	/* Within one page. */
	assert_int_equal(nf_slot_len(10, 60, 0, &off), 60);
	assert_int_equal(off, 10);
}

/* A tx queue with an 8-entry shadow (3 index bits), entry 5 in flight
 * at generation 9. */
static void make_txq(struct nf_queue *q, struct nf_txslot *s)
{
	memset(q, 0, sizeof(*q));
	memset(s, 0, 8 * sizeof(*s));
	q->txs = s;
	q->tx_nr = 8;
	q->tx_bits = 3;
	s[5].state = NF_TX_INFLIGHT;
	s[5].gen = 9;
}

static void tx_id_in_flight_with_same_generation_is_accepted(void **state)
{
	struct nf_queue q;
	struct nf_txslot s[8];
	struct pvio_netif_tx_response r = { .id = nf_make_id(5, 9, 3),
					    .status = PVIO_NETIF_RSP_OKAY };
	uint32_t idx = 99;

	(void)state;
	make_txq(&q, s);
	assert_int_equal(nf_tx_check(&q, &r, &idx), 0);
	assert_int_equal(idx, 5);
	r.status = PVIO_NETIF_RSP_ERROR;
	assert_int_equal(nf_tx_check(&q, &r, &idx), 0);
	r.status = PVIO_NETIF_RSP_DROPPED;
	assert_int_equal(nf_tx_check(&q, &r, &idx), 0);
}

static void tx_bad_stale_duplicate_ids_and_statuses_are_rejected(void **state)
{
	struct nf_queue q;
	struct nf_txslot s[8];
	struct pvio_netif_tx_response r = { .status = PVIO_NETIF_RSP_OKAY };
	uint32_t idx;

	(void)state;
	make_txq(&q, s);
	r.id = nf_make_id(5, 8, 3);          /* stale generation */
	assert_int_equal(nf_tx_check(&q, &r, &idx), -EPROTO);
	r.id = nf_make_id(4, 9, 3);          /* not in flight */
	assert_int_equal(nf_tx_check(&q, &r, &idx), -EPROTO);
	s[5].state = NF_TX_ANSWERED;         /* answered already */
	r.id = nf_make_id(5, 9, 3);
	assert_int_equal(nf_tx_check(&q, &r, &idx), -EPROTO);
	s[5].state = NF_TX_INFLIGHT;
	r.status = 7;                        /* no such status */
	assert_int_equal(nf_tx_check(&q, &r, &idx), -EPROTO);
	/* An index beyond a table smaller than the id space. */
	q.tx_nr = 4;
	r.status = PVIO_NETIF_RSP_OKAY;
	assert_int_equal(nf_tx_check(&q, &r, &idx), -EPROTO);
}

static void tx_null_response_needs_an_extra_slot_outstanding(void **state)
{
	struct nf_queue q;
	struct nf_txslot s[8];
	struct pvio_netif_tx_response r = { .id = 0xffff, .status = PVIO_NETIF_RSP_NULL };
	uint32_t idx;

	(void)state;
	make_txq(&q, s);
	assert_int_equal(nf_tx_check(&q, &r, &idx), -EPROTO);
	q.tx_null_expected = 1;
	assert_int_equal(nf_tx_check(&q, &r, &idx), 1);
}

static void tx_status_maps_to_errno(void **state)
{
	(void)state;
	assert_int_equal(nf_tx_status_to_errno(PVIO_NETIF_RSP_OKAY), 0);
	assert_int_equal(nf_tx_status_to_errno(PVIO_NETIF_RSP_ERROR), -EIO);
	assert_int_equal(nf_tx_status_to_errno(PVIO_NETIF_RSP_DROPPED), -ENOBUFS);
	assert_int_equal(nf_tx_status_to_errno(PVIO_NETIF_RSP_NULL), -EPROTO);
	assert_int_equal(nf_tx_status_to_errno(-5), -EPROTO);
}

static void rx_id_must_be_the_one_posted_at_that_position(void **state)
{
	struct nf_queue q;
	struct nf_rxslot s[8];
	struct pvio_netif_rx_response r = { 0 };

	(void)state;
	memset(&q, 0, sizeof(q));
	memset(s, 0, sizeof(s));
	q.rxs = s;
	q.rx_nr = 8;
	q.rx_bits = 3;
	s[2].state = NF_RX_POSTED;
	s[2].id = nf_make_id(2, 3, 3);
	r.id = s[2].id;
	assert_int_equal(nf_rx_check_id(&q, 2, &r), 0);
	/* The same position one lap later (index bits wrap). */
	assert_int_equal(nf_rx_check_id(&q, 10, &r), 0);
	/* Another position, an older generation, an unposted slot. */
	assert_int_equal(nf_rx_check_id(&q, 3, &r), -EPROTO);
	r.id = nf_make_id(2, 2, 3);
	assert_int_equal(nf_rx_check_id(&q, 2, &r), -EPROTO);
	s[2].state = NF_RX_EMPTY;
	r.id = s[2].id;
	assert_int_equal(nf_rx_check_id(&q, 2, &r), -EPROTO);
}

static void mac_parser_takes_six_hex_pairs_only(void **state)
{
	uint8_t mac[6];
	static const uint8_t want[6] = { 0x00, 0x16, 0x3e, 0xab, 0xCD, 0xef };

	(void)state;
	assert_int_equal(nf_parse_mac("00:16:3e:ab:CD:ef", mac), 0);
	assert_memory_equal(mac, want, 6);
	assert_int_equal(nf_parse_mac("00:16:3e:ab:cd", mac), -EINVAL);
	assert_int_equal(nf_parse_mac("00:16:3e:ab:cd:ef:", mac), -EINVAL);
	assert_int_equal(nf_parse_mac("00-16-3e-ab-cd-ef", mac), -EINVAL);
	assert_int_equal(nf_parse_mac("0g:16:3e:ab:cd:ef", mac), -EINVAL);
	assert_int_equal(nf_parse_mac("", mac), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(slot_count_is_one_per_page_touched),
		cmocka_unit_test(slot_lengths_add_up_and_split_at_page_ends),
		cmocka_unit_test(tx_id_in_flight_with_same_generation_is_accepted),
		cmocka_unit_test(tx_bad_stale_duplicate_ids_and_statuses_are_rejected),
		cmocka_unit_test(tx_null_response_needs_an_extra_slot_outstanding),
		cmocka_unit_test(tx_status_maps_to_errno),
		cmocka_unit_test(rx_id_must_be_the_one_posted_at_that_position),
		cmocka_unit_test(mac_parser_takes_six_hex_pairs_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
