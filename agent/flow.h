/* SPDX-License-Identifier: MIT */
/*
 * flow: the TCP flow table and per-direction reassembly.  Segments go in,
 * ordered byte streams come out through callbacks (data, gap, close).
 * Pure code (agent process, parser side): no I/O, no logging; time is the
 * capture clock passed in with each packet.
 *
 * Overlap policy: first data wins.  Bytes already delivered or already
 * buffered for a sequence range are kept; a later segment covering the same
 * range contributes only the bytes not yet seen.
 *
 * Memory: every flow has a fixed-size record in a table of at most
 * max_flows entries (the oldest idle flow is evicted when full); out-of-order
 * bytes are buffered per direction up to max_flow_buffer, and in total up to
 * max_total_buffer.  Reaching a cap never grows memory: the hole in front of
 * the buffered bytes is declared a gap and delivery resumes after it.
 */
#ifndef TAPWARDEN_FLOW_H
#define TAPWARDEN_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode.h"

enum flow_dir { FLOW_C2S = 0, FLOW_S2C = 1 };

enum flow_end {
	FLOW_END_FIN = 0,    /* both directions closed with FIN (or one FIN then idle) */
	FLOW_END_RST,        /* a RST was seen */
	FLOW_END_TIMEOUT,    /* idle longer than idle_timeout */
	FLOW_END_EVICTED,    /* table full; this was the oldest idle flow */
	FLOW_END_SHUTDOWN,   /* flow_table_flush(): end of capture or agent stop */
};

struct flow_limits {
	uint32_t max_flows;          /* flows in the table */
	uint32_t max_flow_buffer;    /* out-of-order bytes buffered per direction */
	uint64_t max_total_buffer;   /* out-of-order bytes buffered in all flows */
	uint32_t idle_timeout_s;     /* no packet for this long: FLOW_END_TIMEOUT (0: never) */
	uint32_t closed_linger_s;    /* after FIN both ways / RST, keep for late packets (0: don't) */
};

/* Sensible defaults: 262144 flows, 64 KiB per direction, 128 MiB total, 300 s idle,
 * 30 s linger.  Also capped: 128 out-of-order segments per direction (counted
 * as flow_buffer_cap_hits).  Memory: ~152 bytes per flow record plus 8 bytes
 * per hash bucket (a power of two >= max_flows) plus buffered bytes. */
void flow_limits_default(struct flow_limits *l);

struct flow_counters {
	uint64_t packets;            /* segments given to flow_table_packet() */
	uint64_t flows_created;
	uint64_t flows_midstream;    /* created without a SYN (picked up mid-stream) */
	uint64_t flows_evicted;      /* cap: max_flows */
	uint64_t flows_timed_out;
	uint64_t flows_ignored;      /* SYNs (without ACK) where neither port is watched */
	uint64_t flows_active;       /* current */
	uint64_t retransmitted_bytes;/* bytes already seen, dropped (first data wins) */
	uint64_t overlap_conflicts;  /* overlapping bytes that differed from the kept ones */
	uint64_t out_of_order_segments;
	uint64_t gaps;               /* gap events delivered */
	uint64_t gap_bytes;
	uint64_t flow_buffer_cap_hits;   /* cap: max_flow_buffer */
	uint64_t total_buffer_cap_hits;  /* cap: max_total_buffer */
	uint64_t buffered_bytes;     /* current out-of-order bytes held */
	uint64_t buffered_bytes_peak;
	uint64_t late_packets;       /* packets for a flow already closed (lingering, or a lone
				      * ACK/FIN/RST that cannot start a flow), dropped */
	/* appended after the first interface draft: */
	uint64_t rst_ignored;        /* RST too far from the expected seq: ignored */
	uint64_t out_of_window;      /* segments starting > 1 GiB past the expected seq: dropped */
	uint64_t flows_reopened;     /* new flow on a 4-tuple still in the table (port reuse,
				      * or data after a FIN/RST of the same sender) */
};

/* What the open callback learns about a new flow. */
struct flow_info {
	uint8_t  family;                  /* 4 or 6 */
	uint8_t  client[16], server[16];
	uint16_t client_port, server_port;
	uint16_t vlan[DECODE_MAX_VLANS];
	uint8_t  vlan_count;
	int32_t  ifindex;
	uint8_t  client_mac[6];           /* link-layer address of the client ... */
	bool     has_client_mac;          /* ... when the first packet carried it */
	bool     syn_seen;                /* false: picked up mid-stream */
	uint64_t ts_us;                   /* first packet, capture clock, microseconds */
};

/*
 * Callbacks, all optional except open.  user is what open returned (NULL
 * means "do not track this flow": later packets of it are dropped cheaply
 * until it closes, and no other callback, close included, is ever called
 * for it).  Buffers passed to data are borrowed for the call only.
 * close is called exactly once per flow open returned non-NULL for; after it
 * returns the flow table forgets user.  Callbacks must not call back into the
 * flow table.  Only a SYN or a segment with payload creates a flow.
 */
struct flow_callbacks {
	void *(*open)(void *ctx, const struct flow_info *fi);
	/* every captured segment of the flow, in capture order, with its TCP
	 * payload length on the wire (retransmissions included): for counters */
	void (*packet)(void *ctx, void *user, enum flow_dir dir, uint32_t payload_len,
		       uint8_t tcp_flags, uint64_t ts_us);
	/* in-order, de-duplicated stream bytes */
	void (*data)(void *ctx, void *user, enum flow_dir dir, const uint8_t *buf,
		     size_t len, uint64_t ts_us);
	/* missing bytes in the stream (captured loss, or a cap forced a skip) */
	void (*gap)(void *ctx, void *user, enum flow_dir dir, uint64_t len, uint64_t ts_us);
	void (*close)(void *ctx, void *user, enum flow_end why, uint64_t ts_us);
};

struct flow_table;

/*
 * Create a table.  ports/n_ports: the server ports that make a flow
 * interesting (e.g. {25}); a segment where exactly one side uses a watched
 * port has that side as the server; when both do, the SYN sender (or the
 * higher port, mid-stream) is the client.  Copies limits and ports, borrows
 * cb and ctx for the table's lifetime.  Returns owned table or NULL (ENOMEM).
 */
struct flow_table *flow_table_new(const struct flow_limits *limits,
				  const uint16_t *ports, size_t n_ports,
				  const struct flow_callbacks *cb, void *ctx);

/* Feed one decoded segment; pkt is borrowed.  ts_us must not go backwards by
 * more than a little (capture clocks jitter); it drives idle expiry. */
void flow_table_packet(struct flow_table *t, const struct decoded_pkt *pkt, uint64_t ts_us);

/* Expire flows idle since before now_us - idle_timeout (call periodically;
 * flow_table_packet also expires opportunistically). */
void flow_table_expire(struct flow_table *t, uint64_t now_us);

/* Close every flow with FLOW_END_SHUTDOWN, delivering buffered bytes (with
 * gaps before them) first. */
void flow_table_flush(struct flow_table *t, uint64_t now_us);

/* Borrowed counters, valid for the table's lifetime. */
const struct flow_counters *flow_table_counters(const struct flow_table *t);

/* Frees every flow without calling close; accepts NULL. */
void flow_table_free(struct flow_table *t);

#endif
