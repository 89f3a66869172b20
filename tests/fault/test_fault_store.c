/* SPDX-License-Identifier: MIT */
/*
 * A guest that abuses hostd's store: writes outside its permissions,
 * oversized values and paths, too many nodes, watch floods it never
 * reads, transactions it never ends. Each abuse is refused with Xen's
 * error or stays bounded, and a well-behaved guest's store round trips
 * (write, read back, compare) keep working between and during them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../common/test_machine.h" /* the machine: hostd, idd, toolstack */
#include "fault_log.h"

static struct pvio_domain *good, *evil;
static unsigned good_rounds;

static int setup(void **state)
{
	env_up(4096, 256, 0);
	good = domain_new_pages("good", 64);
	evil = domain_new_pages("evil", 64);
	good_rounds = 0;
	*state = E;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (fault_case_unfinished(false)) {
		E = NULL; /* leave the failed case's machine alone */
		return 0;
	}
	pvio_domain_disconnect(evil);
	pvio_domain_disconnect(good);
	env_down();
	return 0;
}

/* The good guest: write a fresh value under its home, read it back. */
static void good_round(void)
{
	char path[96], v[32], got[32];

	snprintf(path, sizeof(path), "/local/domain/%u/data/k%u", good->domid,
		 good_rounds % 8);
	snprintf(v, sizeof(v), "value-%u", good_rounds++);
	assert_int_equal(pvio_xs_write(good->xs, 0, path, v), 0);
	assert_int_equal(pvio_xs_read(good->xs, 0, path, got, sizeof(got), NULL), 0);
	assert_string_equal(got, v);
}

static void home(char *buf, size_t size, struct pvio_domain *d, const char *rel)
{
	snprintf(buf, size, "/local/domain/%u/%s", d->domid, rel);
}

static void writes_outside_its_permissions_are_refused(void **s)
{
	char path[128], buf[64];
	struct pvio_xs_perm p[2];

	(void)s;
	home(path, sizeof(path), good, "secret");
	assert_int_equal(pvio_xs_write(good->xs, 0, path, "42"), 0);
	/* another guest's home, the driver domain's, the toolstack's */
	assert_int_equal(pvio_xs_write(evil->xs, 0, path, "pwned"), -EACCES);
	assert_int_equal(pvio_xs_read(evil->xs, 0, path, buf, sizeof(buf), NULL), -EACCES);
	assert_int_equal(pvio_xs_rm(evil->xs, 0, path), -EACCES);
	p[0] = (struct pvio_xs_perm){ .domid = evil->domid, .access = PVIO_XS_PERM_BOTH };
	assert_int_equal(pvio_xs_set_perms(evil->xs, 0, path, p, 1), -EACCES);
	snprintf(path, sizeof(path), "/local/domain/%u", good->domid);
	assert_int_equal(pvio_xs_rm(evil->xs, 0, path), -EACCES);
	assert_int_equal(pvio_xs_write(evil->xs, 0, "/local/domain/0/evil", "x"), -EACCES);
	assert_int_equal(pvio_xs_write(evil->xs, 0, "/tool/evil", "x"), -EACCES);
	assert_int_equal(pvio_xs_write(evil->xs, 0, "/evil", "x"), -EACCES);
	assert_int_equal(pvio_xs_rm(evil->xs, 0, "/local"), -EACCES);
	good_round();
	/* its own device's backend dir: readable, never writable */
	assert_int_equal(pvio_xenbus_device_create(&E->ts, "vbd", 0, evil->domid, 51712, NULL), 0);
	snprintf(path, sizeof(path), "/local/domain/0/backend/vbd/%u/51712/state", evil->domid);
	assert_int_equal(pvio_xs_write(&E->ts, 0, path, "2"), 0);
	assert_int_equal(pvio_xs_read(evil->xs, 0, path, buf, sizeof(buf), NULL), 0);
	assert_int_equal(pvio_xs_write(evil->xs, 0, path, "4"), -EACCES);
	assert_int_equal(pvio_xs_set_perms(evil->xs, 0, path, p, 1), -EACCES);
	assert_int_equal(pvio_xs_read(&E->ts, 0, path, buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "2");
	/* its own home: writable; granting itself more elsewhere is not */
	home(path, sizeof(path), evil, "mine");
	assert_int_equal(pvio_xs_write(evil->xs, 0, path, "ok"), 0);
	home(path, sizeof(path), good, "secret");
	assert_int_equal(pvio_xs_read(&E->ts, 0, path, buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "42");
	good_round();
}

static void oversized_values_paths_and_node_counts_are_refused(void **s)
{
	char path[4200], *big = malloc(8192);
	struct pvio_xs_perm p[8];
	int made = 0, rc = 0;

	(void)s;
	assert_non_null(big);
	memset(big, 'v', 8192);
	/* A value as big as one message holds beside its path: accepted;
	 * anything bigger: refused (the 4096-byte payload bounds path and
	 * value together, below the store's 4096-byte value quota). */
	home(path, sizeof(path), evil, "v");
	big[4096 - strlen(path) - 1] = '\0';
	assert_int_equal(pvio_xs_write(evil->xs, 0, path, big), 0);
	big[4096 - strlen(path) - 1] = 'v';
	big[4097] = '\0';
	rc = pvio_xs_write(evil->xs, 0, path, big);
	assert_true(rc == -E2BIG || rc == -ENOSPC);
	big[4097] = 'v';
	big[8191] = '\0';
	rc = pvio_xs_write(evil->xs, 0, path, big);
	assert_true(rc == -E2BIG || rc == -ENOSPC);
	good_round();
	/* a path longer than a guest may use below its home */
	{
		int n = snprintf(path, sizeof(path), "/local/domain/%u/", evil->domid);

		while (n < 2200)
			n += snprintf(path + n, sizeof(path) - (size_t)n, "aaaaaaaa/");
		path[n - 1] = '\0';
		assert_int_equal(pvio_xs_write(evil->xs, 0, path, "x"), -EINVAL);
	}
	/* more permission entries than a node may carry */
	home(path, sizeof(path), evil, "perm");
	assert_int_equal(pvio_xs_write(evil->xs, 0, path, "x"), 0);
	for (int i = 0; i < 8; i++)
		p[i] = (struct pvio_xs_perm){ .domid = (pvio_domid_t)(i ? i + 10 : evil->domid),
					      .access = PVIO_XS_PERM_READ };
	assert_int_equal(pvio_xs_set_perms(evil->xs, 0, path, p, 8), -ENOSPC);
	assert_int_equal(pvio_xs_set_perms(evil->xs, 0, path, p, 3), 0);
	/* nodes: at most the per-domain quota, then ENOSPC */
	for (int i = 0; i < 2000; i++) {
		snprintf(path, sizeof(path), "/local/domain/%u/many/n%d", evil->domid, i);
		rc = pvio_xs_write(evil->xs, 0, path, "x");
		if (rc)
			break;
		made++;
		if (i % 200 == 0)
			good_round();
	}
	print_message("store quota: the guest made %d nodes, then %d\n", made, rc);
	assert_int_equal(rc, -ENOSPC);
	assert_true(made < 1000);
	good_round(); /* the good guest's quota is its own */
	/* removing gives the quota back */
	snprintf(path, sizeof(path), "/local/domain/%u/many", evil->domid);
	assert_int_equal(pvio_xs_rm(evil->xs, 0, path), 0);
	snprintf(path, sizeof(path), "/local/domain/%u/many/again", evil->domid);
	assert_int_equal(pvio_xs_write(evil->xs, 0, path, "x"), 0);
	free(big);
	good_round();
}

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, rss = 0;

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%lu %lu", &size, &rss), 2);
	fclose(f);
	return (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

/*
 * The evil guest watches its home with as many watches as it may hold
 * (the next is refused), then never reads: every write below its home
 * fires each watch at it. The store queues a bounded number of events per
 * connection and drops the rest; the toolstack's writes and the good
 * guest's round trips go on; memory stays bounded.
 */
static void watch_floods_are_bounded(void **s)
{
	char path[128], tok[16];
	uint64_t rss0, rss1, t0;
	int w = 0, rc = 0, writes = 0;

	(void)s;
	home(path, sizeof(path), evil, "flood");
	assert_int_equal(pvio_xs_write(evil->xs, 0, path, "0"), 0);
	for (;;) {
		snprintf(tok, sizeof(tok), "t%d", w);
		rc = pvio_xs_watch(evil->xs, path, tok);
		if (rc)
			break;
		w++;
		assert_true(w <= 4096);
	}
	print_message("watch flood: %d watches held, the next got %d\n", w, rc);
	assert_int_equal(rc, -E2BIG);
	rss0 = rss_bytes();
	t0 = pvio_now_ns();
	/* 2000 writes x w watches of events for a guest that reads none */
	for (writes = 0; writes < 2000; writes++) {
		char v[16];

		snprintf(v, sizeof(v), "%d", writes);
		assert_int_equal(pvio_xs_write(&E->ts, 0, path, v), 0);
		if (writes % 100 == 0)
			good_round();
	}
	rss1 = rss_bytes();
	print_message("watch flood: %d writes fired %d events each at a guest that reads none "
		      "in %.1f s; process memory grew %.1f MiB\n", writes, w,
		      (double)(pvio_now_ns() - t0) / 1e9, (double)(rss1 - rss0) / 1048576.0);
	/* 256000 events of ~40 bytes would be 10 MiB queued; the queue holds
	 * 1024 per connection. Loose: well under that. */
	assert_true(rss1 < rss0 + 8u * 1048576u);
	good_round();
	/* The guest's connection still works when it looks again, and what
	 * reaches it then is what the store queued for it and the socket
	 * held (the rest was dropped), not the 256000 events fired. */
	{
		char v[16];
		struct pvio_xs_stats a = evil->xs->stats, b;
		uint64_t got;

		assert_int_equal(pvio_xs_read(evil->xs, 0, path, v, sizeof(v), NULL), 0);
		assert_string_equal(v, "1999");
		b = evil->xs->stats;
		got = (b.events_queued - a.events_queued) + (b.events_coalesced - a.events_coalesced) +
		      (b.events_dropped - a.events_dropped);
		print_message("watch flood: the guest then received %llu events\n",
			      (unsigned long long)got);
		assert_true(got > 0);
		/* 1024 queued in the store plus what the socket buffers held */
		assert_true(got <= 20000);
	}
}

static void never_ending_transactions_are_bounded(void **s)
{
	pvio_xs_tx_t t[32], big;
	char path[128], v[32];
	int n = 0, rc = 0, touched = 0;

	(void)s;
	/* As many open transactions as it may hold, each with a write it
	 * never commits. */
	for (;;) {
		rc = pvio_xs_transaction_start(evil->xs, &t[n]);
		if (rc)
			break;
		snprintf(path, sizeof(path), "/local/domain/%u/tx%d", evil->domid, n);
		assert_int_equal(pvio_xs_write(evil->xs, t[n], path, "pending"), 0);
		n++;
		assert_true(n < 32);
	}
	print_message("transactions: %d held open, the next got %d\n", n, rc);
	assert_int_equal(rc, -ENOSPC);
	/* Nobody waits for them: the good guest and the toolstack write and
	 * commit their own. */
	for (int i = 0; i < 20; i++) {
		pvio_xs_tx_t gt;

		good_round();
		assert_int_equal(pvio_xs_transaction_start(good->xs, &gt), 0);
		home(path, sizeof(path), good, "txn");
		snprintf(v, sizeof(v), "%d", i);
		assert_int_equal(pvio_xs_write(good->xs, gt, path, v), 0);
		assert_int_equal(pvio_xs_transaction_end(good->xs, gt, false), 0);
	}
	/* The uncommitted writes are invisible. */
	snprintf(path, sizeof(path), "/local/domain/%u/tx0", evil->domid);
	assert_int_equal(pvio_xs_read(&E->ts, 0, path, v, sizeof(v), NULL), -ENOENT);
	/* Ending one frees a slot; a transaction touching too many nodes is
	 * refused. */
	assert_int_equal(pvio_xs_transaction_end(evil->xs, t[--n], true), 0);
	assert_int_equal(pvio_xs_transaction_start(evil->xs, &big), 0);
	for (int i = 0; i < 3000; i++) {
		snprintf(path, sizeof(path), "/local/domain/%u/bigtx/n%d", evil->domid, i);
		rc = pvio_xs_write(evil->xs, big, path, "x");
		if (rc)
			break;
		touched++;
	}
	print_message("transactions: one touched %d nodes, then %d\n", touched, rc);
	assert_int_equal(rc, -ENOSPC);
	(void)pvio_xs_transaction_end(evil->xs, big, true);
	good_round();
	/* A transaction left open while others commit over what it read
	 * cannot commit stale data. */
	{
		pvio_xs_tx_t old;

		home(path, sizeof(path), evil, "race");
		assert_int_equal(pvio_xs_write(evil->xs, 0, path, "a"), 0);
		assert_int_equal(pvio_xs_transaction_start(evil->xs, &old), 0);
		assert_int_equal(pvio_xs_read(evil->xs, old, path, v, sizeof(v), NULL), 0);
		assert_int_equal(pvio_xs_write(&E->ts, 0, path, "b"), 0);
		assert_int_equal(pvio_xs_write(evil->xs, old, path, "stale"), 0);
		assert_int_equal(pvio_xs_transaction_end(evil->xs, old, false), -EAGAIN);
		assert_int_equal(pvio_xs_read(&E->ts, 0, path, v, sizeof(v), NULL), 0);
		assert_string_equal(v, "b");
	}
	/* The guest dies with its transactions open: they go with it, and a
	 * new guest gets a clean store. */
	pvio_domain_disconnect(evil);
	evil = domain_new_pages("evil2", 64);
	good_round();
	for (int i = 0; i < 5; i++) {
		pvio_xs_tx_t x;

		assert_int_equal(pvio_xs_transaction_start(evil->xs, &x), 0);
		assert_int_equal(pvio_xs_transaction_end(evil->xs, x, false), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(writes_outside_its_permissions_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(oversized_values_paths_and_node_counts_are_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(watch_floods_are_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(never_ending_transactions_are_bounded, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
