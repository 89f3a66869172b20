/* SPDX-License-Identifier: MIT */
/*
 * fuzz_spec_parsers: the xl DISKSPEC parser (pvio_blkback_disk_spec_parse,
 * with the vdev -> devid encoder it uses) and the xl VIFSPEC parser
 * (pvio_netback_vif_spec_parse), on arbitrary strings.
 *
 * Input: byte 0 picks the parser (bit 0: 0 disk, 1 vif; bit 1: pass an
 * error buffer of 1..64 bytes sized by byte 1, else NULL); the rest is the
 * spec string (a NUL in it ends the string early, as in C).
 *
 * Oracle besides the sanitizers: on success every string field is
 * NUL-terminated inside its array, the devid agrees with the vdev, and a
 * MAC is unicast; on failure an error buffer holds a NUL-terminated line.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pvio/blkback.h>
#include <pvio/netback.h>

#include "fuzz_util.h"

#define TERMINATED(arr) (memchr((arr), '\0', sizeof(arr)) != NULL)

static void check_disk(const char *s, char *err, size_t err_size)
{
	struct pvio_blkback_disk_spec spec;
	uint32_t devid;

	memset(&spec, 0xa5, sizeof(spec));
	if (pvio_blkback_disk_spec_parse(s, &spec, err, err_size) == 0) {
		FZ_CHECK(TERMINATED(spec.target));
		FZ_CHECK(TERMINATED(spec.vdev));
		FZ_CHECK(spec.target[0] != '\0');
		FZ_CHECK(pvio_blkback_vdev_to_devid(spec.vdev, &devid) == 0);
		FZ_CHECK(devid == spec.devid);
		FZ_CHECK(spec.discard >= -1 && spec.discard <= 1);
		FZ_CHECK(!spec.cdrom || spec.readonly);
	} else if (err) {
		FZ_CHECK(memchr(err, '\0', err_size) != NULL);
	}
	/* The encoder alone, on the whole string as a vdev. */
	(void)pvio_blkback_vdev_to_devid(s, &devid);
}

static void check_vif(const char *s, char *err, size_t err_size)
{
	struct pvio_netback_vif_spec spec;
	char mac[18];

	memset(&spec, 0xa5, sizeof(spec));
	if (pvio_netback_vif_spec_parse(s, &spec, err, err_size) == 0) {
		FZ_CHECK(TERMINATED(spec.bridge));
		FZ_CHECK(TERMINATED(spec.script));
		FZ_CHECK(TERMINATED(spec.ip));
		FZ_CHECK(TERMINATED(spec.vifname));
		FZ_CHECK(TERMINATED(spec.gatewaydev));
		FZ_CHECK(TERMINATED(spec.model));
		FZ_CHECK(TERMINATED(spec.type));
		FZ_CHECK((spec.mac[0] & 1) == 0);
		FZ_CHECK(spec.trusted >= -1 && spec.trusted <= 1);
		pvio_netback_mac_format(spec.mac, mac);
		FZ_CHECK(strlen(mac) == 17);
	} else if (err) {
		FZ_CHECK(memchr(err, '\0', err_size) != NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char errbuf[64];
	char *s, *err = NULL;
	size_t err_size = 0;
	uint8_t sel, esz;

	if (size < 2)
		return 0;
	sel = data[0];
	esz = data[1];
	if (sel & 2) {
		err_size = 1 + esz % sizeof(errbuf);
		err = errbuf;
	}
	/* An exact-size heap copy: ASan sees any read past the string. */
	s = malloc(size - 2 + 1);
	if (!s)
		return 0;
	memcpy(s, data + 2, size - 2);
	s[size - 2] = '\0';
	if (sel & 1)
		check_vif(s, err, err_size);
	else
		check_disk(s, err, err_size);
	free(s);
	return 0;
}
