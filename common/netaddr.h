/* SPDX-License-Identifier: MIT */
/*
 * netaddr: "HOST:PORT", "[V6]:PORT", ":PORT" (host "" = any) as every
 * address option of both daemons takes it (--metrics, --listen, --redis).
 * Pure.
 */
#ifndef TAPWARDEN_NETADDR_H
#define TAPWARDEN_NETADDR_H

#include <stddef.h>
#include <stdint.h>

/* Split addr into host (cap bytes) and *port (1..65535).  0 or -EINVAL
 * (a bare IPv6 address needs brackets). */
int netaddr_parse(const char *addr, char *host, size_t cap, uint16_t *port);

#endif
