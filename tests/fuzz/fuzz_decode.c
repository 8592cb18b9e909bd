/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for decode.c.  Input: byte 0 selects the link type
 * (low 4 bits, modulo the supported list) and whether the wire length
 * claims more than was captured (bit 4: a snaplen cut); the rest is the frame.
 * Checks that a decoded payload lies inside the frame.
 */
#include <stdint.h>
#include <stdlib.h>

#include "decode.h"

static const int dlts[] = {
	DECODE_DLT_EN10MB, DECODE_DLT_RAW, DECODE_DLT_RAW_ALT, DECODE_DLT_IPV4,
	DECODE_DLT_IPV6, DECODE_DLT_LINUX_SLL, DECODE_DLT_LINUX_SLL2,
	DECODE_DLT_NULL, DECODE_DLT_LOOP,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 0x100000)
		return 0;
	int dlt = dlts[(data[0] & 0x0f) % (sizeof(dlts) / sizeof(dlts[0]))];
	const uint8_t *frame = data + 1;
	uint32_t caplen = (uint32_t)(size - 1);
	uint32_t wirelen = caplen + ((data[0] & 0x10) ? 1500u : 0u);
	struct decoded_pkt d;

	enum decode_result r = decode_packet(dlt, frame, caplen, wirelen, &d);
	if (r == DECODE_OK) {
		if (d.payload < frame || d.payload + d.payload_len > frame + caplen)
			abort();
		if (d.payload_len > d.payload_wire_len)
			abort();
		if (d.family != 4 && d.family != 6)
			abort();
		volatile uint8_t sink = 0;
		for (uint32_t i = 0; i < d.payload_len; i++)
			sink ^= d.payload[i];
		(void)sink;
	}
	if (!decode_result_name(r))
		abort();
	return 0;
}
