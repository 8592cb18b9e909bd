/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for flow.c.  The input is a sequence of 6-byte segment
 * descriptors fed to a table with tiny caps (3 flows, 64 bytes per
 * direction, 100 in total, 5 s idle, 2 s linger):
 *   b0: bit 0 direction (1: server to client), bits 1-2 which of 4 client
 *       ports, bits 3-7 the TCP flags (FIN SYN RST PSH ACK)
 *   b1, b2: sequence offset (12 bits); b2 bit 4: corrupt the payload;
 *       bit 5: switch this port's ISN epoch; bits 6-7: jump (none, +64 KiB,
 *       -2 KiB, +1 GiB)
 *   b3: payload length (low 6 bits); top 2 bits: bytes cut by the "snaplen"
 *   b4: ack offset, in 16-byte units, into the other direction
 *   b5: time step; 250..255 jump seconds; 255 also runs flow_table_expire
 * Payload byte values are their own sequence numbers (low 8 bits) xor the
 * sender's port, so the harness can check delivered streams for continuity
 * and direction.  Every fifth open() declines the flow; port 40002 is
 * watched too, so those flows exercise the both-ports-watched orientation.
 * Checked: delivered bytes per direction never exceed the captured bytes
 * given to that flow; no callback after close (users are freed at close, so
 * ASan sees any); close exactly once per open; buffered bytes within the cap.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"

struct fz_user {
	uint8_t key[2];             /* payload bytes are seq ^ key, per direction */
	uint64_t given[2], delivered[2];
	bool corrupted;
	bool have_last[2];
	uint8_t next_expected[2];   /* low 8 bits of the next stream byte's seq */
};

struct fz {
	uint64_t open_calls, opens, closes;
	uint32_t cur_captured;
	bool cur_corrupt;
	uint64_t max_total;
};

static void *fz_open(void *ctx, const struct flow_info *fi)
{
	struct fz *z = ctx;
	if (++z->open_calls % 5 == 0)
		return NULL;    /* declined: untracked, and never closed */
	struct fz_user *u = calloc(1, sizeof(*u));
	if (!u)
		abort();
	u->key[FLOW_C2S] = (uint8_t)fi->client_port;
	u->key[FLOW_S2C] = (uint8_t)fi->server_port;
	z->opens++;
	return u;
}

static void fz_packet(void *ctx, void *user, enum flow_dir dir, uint32_t len, uint8_t flags,
		      uint64_t ts)
{
	struct fz *z = ctx;
	struct fz_user *u = user;
	u->given[dir] += z->cur_captured;
	if (z->cur_corrupt)
		u->corrupted = true;
	if (len < z->cur_captured)
		abort();
}

static void fz_data(void *ctx, void *user, enum flow_dir dir, const uint8_t *buf, size_t len,
		    uint64_t ts)
{
	struct fz_user *u = user;
	if (!len)
		abort();
	u->delivered[dir] += len;
	if (u->delivered[dir] > u->given[dir])
		abort();
	if (!u->corrupted) {
		for (size_t i = 0; i < len; i++) {
			uint8_t s = buf[i] ^ u->key[dir];
			if (u->have_last[dir] && s != u->next_expected[dir])
				abort();
			u->have_last[dir] = true;
			u->next_expected[dir] = (uint8_t)(s + 1);
		}
	}
}

static void fz_gap(void *ctx, void *user, enum flow_dir dir, uint64_t len, uint64_t ts)
{
	struct fz_user *u = user;
	if (!len)
		abort();
	u->next_expected[dir] = (uint8_t)(u->next_expected[dir] + len);
}

static void fz_close(void *ctx, void *user, enum flow_end why, uint64_t ts)
{
	struct fz *z = ctx;
	z->closes++;
	free(user);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* 40002 too: flows of client port 40002 have both ports watched */
	static const uint16_t ports[] = { 25, 40002 };
	struct flow_limits lim = {
		.max_flows = 3, .max_flow_buffer = 64, .max_total_buffer = 100,
		.idle_timeout_s = 5, .closed_linger_s = 2,
	};
	struct flow_callbacks cb = {
		.open = fz_open, .packet = fz_packet, .data = fz_data, .gap = fz_gap,
		.close = fz_close,
	};
	struct fz z = { .max_total = lim.max_total_buffer };
	struct flow_table *t = flow_table_new(&lim, ports, 2, &cb, &z);
	uint32_t epoch[4] = { 0, 0, 0, 0 };
	uint64_t ts = 1000000000ull;
	uint8_t payload[64];

	if (!t)
		abort();
	for (size_t i = 0; i + 6 <= size; i += 6) {
		const uint8_t *b = data + i;
		int dir = b[0] & 1;
		int sel = (b[0] >> 1) & 3;
		uint8_t flags = b[0] >> 3;
		if (b[2] & 0x20)
			epoch[sel] += 0x10000000u;
		uint32_t base_c = 0xffffff00u + (uint32_t)sel * 1000 + epoch[sel];
		uint32_t base_s = 0x7fffff00u + (uint32_t)sel * 1000 + epoch[sel];
		uint32_t seq = (dir ? base_s : base_c) + (b[1] | (uint32_t)(b[2] & 0x0f) << 8);
		static const uint32_t jumps[4] = { 0, 65536, (uint32_t)-2048, (1u << 30) + 5 };
		seq += jumps[b[2] >> 6];
		uint32_t len = b[3] & 0x3f;
		uint32_t cut = (uint32_t)(b[3] >> 6) * 8;
		uint32_t cap = len > cut ? len - cut : 0;
		uint32_t data_seq = seq + ((flags & DECODE_TH_SYN) ? 1 : 0);
		uint16_t cport = (uint16_t)(40000 + sel);
		uint8_t key = dir ? 25 : (uint8_t)cport;
		for (uint32_t k = 0; k < len; k++)
			payload[k] = (uint8_t)(data_seq + k) ^ key;
		if (b[2] & 0x10)
			for (uint32_t k = 0; k < len; k += 3)
				payload[k] ^= 0xff;

		struct decoded_pkt p;
		memset(&p, 0, sizeof(p));
		p.family = 4;
		uint8_t cl[4] = { 198, 18, 0, 1 }, sv[4] = { 198, 19, 0, 2 };
		memcpy(dir ? p.dst : p.src, cl, 4);
		memcpy(dir ? p.src : p.dst, sv, 4);
		p.sport = dir ? 25 : cport;
		p.dport = dir ? cport : 25;
		p.seq = seq;
		p.ack = (dir ? base_c : base_s) + (uint32_t)b[4] * 16;
		p.flags = flags;
		p.payload = payload;
		p.payload_len = cap;
		p.payload_wire_len = len;
		p.ifindex = -1;

		if (b[5] < 250)
			ts += (uint64_t)b[5] * 10000;
		else
			ts += (uint64_t)(b[5] - 249) * 3000000;
		z.cur_captured = cap;
		z.cur_corrupt = b[2] & 0x10;
		flow_table_packet(t, &p, ts);
		if (b[5] == 255)
			flow_table_expire(t, ts);

		const struct flow_counters *c = flow_table_counters(t);
		if (c->buffered_bytes > lim.max_total_buffer)
			abort();
		if (c->flows_active > lim.max_flows)
			abort();
	}
	flow_table_flush(t, ts);
	const struct flow_counters *c = flow_table_counters(t);
	if (z.opens != z.closes || c->flows_active != 0 || c->buffered_bytes != 0)
		abort();
	flow_table_free(t);
	return 0;
}
