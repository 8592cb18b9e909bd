/* SPDX-License-Identifier: MIT */
/*
 * netaddr: the address syntax of every listening or connecting option
 * (both processes; pure).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netaddr.h"

int netaddr_parse(const char *addr, char *host, size_t cap, uint16_t *port)
{
	const char *colon, *h = addr;
	size_t hl;
	char *end;
	unsigned long v;

	if (!addr || !*addr)
		return -EINVAL;
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');
		if (!rb || rb[1] != ':')
			return -EINVAL;
		h = addr + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || memchr(addr, ':', (size_t)(colon - addr)))
			return -EINVAL;   /* bare IPv6 needs brackets */
		hl = (size_t)(colon - addr);
	}
	if (hl >= cap)
		return -EINVAL;
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || *end || v < 1 || v > 65535 || colon[1] == '-' || colon[1] == '+')
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*port = (uint16_t)v;
	return 0;
}
