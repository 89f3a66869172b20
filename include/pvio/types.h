/* SPDX-License-Identifier: MIT */
/* Types every protocol shares, with Xen's widths. Freestanding. */
#ifndef PVIO_TYPES_H
#define PVIO_TYPES_H

#include <stdint.h>

typedef uint32_t pvio_grant_ref_t; /* index into a domain's grant table */
typedef uint16_t pvio_domid_t;     /* 0 is the driver domain by default */

#endif /* PVIO_TYPES_H */
