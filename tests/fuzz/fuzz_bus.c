/* SPDX-License-Identifier: MIT */
/* libFuzzer target: what the agent reads from Redis is input.  The first
 * byte picks an op name, the rest is the body: every command body and
 * whitelist record must parse or be refused with a reason, never crash;
 * a parsed command has a canonical UUID and NUL-terminated strings.
 * Stream ids are parsed too. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const ops[] = { "block", "unblock", "whitelist_set", "whitelist_del", "reload", "bogus" };
	struct bus_command c;
	char err[256];
	uint64_t a, b;

	if (size < 1)
		return 0;
	const char *op = ops[data[0] % 6];
	if (bus_command_parse(op, strlen(op), (const char *)data + 1, size - 1, &c, err, sizeof(err)) == 0) {
		if (c.op != BUS_OP_RELOAD && strlen(c.uuid) != 36)
			abort();
		for (size_t i = 0; c.uuid[i]; i++)
			if (isupper((unsigned char)c.uuid[i]))
				abort();
		if (strlen(c.reason) >= sizeof(c.reason) || strlen(c.name) >= sizeof(c.name))
			abort();
	} else if (!err[0]) {
		abort();     /* a refusal always says why */
	}
	if (bus_wl_record_parse((const char *)data, size, &c, err, sizeof(err)) == 0 &&
	    (strlen(c.uuid) != 36 || (c.scale != 0 && (c.scale < 1 || c.scale > 1000))))
		abort();
	bus_id_parse((const char *)data, size, &a, &b);
	return 0;
}
