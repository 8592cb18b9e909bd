/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for flow.c: a recorder collects every callback per flow, and
 * each test drives synthetic segments through the table: ordering, loss,
 * overlaps, wraparound, the ways a flow ends, the caps, and memory per flow.
 */
#include "testutil.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "flow.h"

#define REC_MAX_FLOWS 8
#define REC_BUF 8192
#define S 1000000ull    /* one second in microseconds */

struct rec_flow {
	struct flow_info fi;
	int opened, closed;
	enum flow_end why;
	uint64_t close_ts;
	uint8_t data[2][REC_BUF];
	size_t len[2];
	uint64_t gaps[2], gap_bytes[2];
	uint64_t packets[2], wire_bytes[2];
	char log[2][256];   /* 'D<n>' for data, 'G<n>' for gaps, in order */
};

struct rec {
	struct rec_flow flows[REC_MAX_FLOWS];
	int n;
	bool decline;   /* open returns NULL */
	int events_after_close;
};

static void logf_(struct rec_flow *f, int d, char kind, uint64_t n)
{
	size_t l = strlen(f->log[d]);
	snprintf(f->log[d] + l, sizeof(f->log[d]) - l, "%c%llu ", kind, (unsigned long long)n);
}

static void *rec_open(void *ctx, const struct flow_info *fi)
{
	struct rec *r = ctx;
	if (r->decline)
		return NULL;
	assert_true(r->n < REC_MAX_FLOWS);
	struct rec_flow *f = &r->flows[r->n++];
	f->fi = *fi;
	f->opened++;
	return f;
}

static void rec_packet(void *ctx, void *user, enum flow_dir dir, uint32_t len, uint8_t flags,
		       uint64_t ts)
{
	struct rec *r = ctx;
	struct rec_flow *f = user;
	r->events_after_close += f->closed;
	f->packets[dir]++;
	f->wire_bytes[dir] += len;
}

static void rec_data(void *ctx, void *user, enum flow_dir dir, const uint8_t *buf, size_t len,
		     uint64_t ts)
{
	struct rec *r = ctx;
	struct rec_flow *f = user;
	r->events_after_close += f->closed;
	assert_true(f->len[dir] + len <= REC_BUF);
	memcpy(f->data[dir] + f->len[dir], buf, len);
	f->len[dir] += len;
	logf_(f, dir, 'D', len);
}

static void rec_gap(void *ctx, void *user, enum flow_dir dir, uint64_t len, uint64_t ts)
{
	struct rec *r = ctx;
	struct rec_flow *f = user;
	r->events_after_close += f->closed;
	f->gaps[dir]++;
	f->gap_bytes[dir] += len;
	logf_(f, dir, 'G', len);
}

static void rec_close(void *ctx, void *user, enum flow_end why, uint64_t ts)
{
	struct rec *r = ctx;
	struct rec_flow *f = user;
	r->events_after_close += f->closed;
	f->closed++;
	f->why = why;
	f->close_ts = ts;
}

static const struct flow_callbacks rec_cb = {
	.open = rec_open, .packet = rec_packet, .data = rec_data, .gap = rec_gap, .close = rec_close,
};

struct fixture {
	struct rec rec;
	struct flow_table *t;
	struct flow_limits lim;
	uint64_t now;
	uint16_t cport;         /* client port of the next segments */
	uint8_t caddr_last;     /* last byte of the client address */
};

static const uint16_t PORT25[] = { 25 };

static struct fixture *fx_new(const struct flow_limits *lim)
{
	struct fixture *x = calloc(1, sizeof(*x));
	assert_non_null(x);
	if (lim)
		x->lim = *lim;
	else
		flow_limits_default(&x->lim);
	x->t = flow_table_new(&x->lim, PORT25, 1, &rec_cb, &x->rec);
	assert_non_null(x->t);
	x->now = 1000 * S;
	x->cport = 40000;
	x->caddr_last = 1;
	return x;
}

static void fx_free(struct fixture *x)
{
	flow_table_flush(x->t, x->now);
	assert_int_equal(x->rec.events_after_close, 0);
	for (int i = 0; i < x->rec.n; i++)
		assert_int_equal(x->rec.flows[i].closed, 1);
	flow_table_free(x->t);
	free(x);
}

/* Send one segment; c2s: from the client. */
static void seg(struct fixture *x, bool c2s, uint8_t flags, uint32_t seq, uint32_t ack,
		const char *payload, uint32_t wire_extra)
{
	struct decoded_pkt p;
	uint8_t cl[16] = { 198, 18, 0, x->caddr_last }, sv[16] = { 198, 19, 0, 2 };
	uint32_t len = payload ? (uint32_t)strlen(payload) : 0;

	memset(&p, 0, sizeof(p));
	p.family = 4;
	memcpy(c2s ? p.src : p.dst, cl, 16);
	memcpy(c2s ? p.dst : p.src, sv, 16);
	p.sport = c2s ? x->cport : 25;
	p.dport = c2s ? 25 : x->cport;
	p.seq = seq;
	p.ack = ack;
	p.flags = flags;
	p.window = 65535;
	p.payload = (const uint8_t *)payload;
	p.payload_len = len;
	p.payload_wire_len = len + wire_extra;
	p.ifindex = -1;
	flow_table_packet(x->t, &p, x->now);
	x->now += 1000;
}

#define C2S_ true
#define S2C_ false
#define A DECODE_TH_ACK
#define SYN DECODE_TH_SYN
#define FIN DECODE_TH_FIN
#define RST DECODE_TH_RST

static const uint32_t CISN = 1000, SISN = 5000;

static void handshake(struct fixture *x)
{
	seg(x, C2S_, SYN, CISN, 0, NULL, 0);
	seg(x, S2C_, SYN | A, SISN, CISN + 1, NULL, 0);
	seg(x, C2S_, A, CISN + 1, SISN + 1, NULL, 0);
}

static void assert_stream(const struct rec_flow *f, int dir, const char *want)
{
	assert_int_equal(f->len[dir], strlen(want));
	assert_memory_equal(f->data[dir], want, strlen(want));
}

static void test_in_order_and_fin(void **state)
{
	struct fixture *x = fx_new(NULL);
	const struct flow_counters *c = flow_table_counters(x->t);

	handshake(x);
	seg(x, S2C_, A, SISN + 1, CISN + 1, "220 hi\r\n", 0);
	seg(x, C2S_, A, CISN + 1, SISN + 9, "EHLO a\r\n", 0);
	seg(x, S2C_, A, SISN + 9, CISN + 9, "250 ok\r\n", 0);
	seg(x, C2S_, A, CISN + 9, SISN + 17, "QUIT\r\n", 0);
	seg(x, S2C_, A | FIN, SISN + 17, CISN + 15, "221 bye\r\n", 0);
	assert_int_equal(x->rec.flows[0].closed, 0);
	seg(x, C2S_, A | FIN, CISN + 15, SISN + 27, NULL, 0);
	struct rec_flow *f = &x->rec.flows[0];
	assert_int_equal(x->rec.n, 1);
	assert_true(f->fi.syn_seen);
	assert_int_equal(f->fi.client_port, 40000);
	assert_int_equal(f->fi.server_port, 25);
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->why, FLOW_END_FIN);
	assert_stream(f, FLOW_C2S, "EHLO a\r\nQUIT\r\n");
	assert_stream(f, FLOW_S2C, "220 hi\r\n250 ok\r\n221 bye\r\n");
	assert_int_equal(f->gaps[0] + f->gaps[1], 0);
	assert_int_equal(f->packets[FLOW_C2S], 5);
	assert_int_equal(f->packets[FLOW_S2C], 4);
	assert_int_equal(f->wire_bytes[FLOW_C2S], 14);
	/* the last ACK and a retransmitted FIN are swallowed while lingering */
	seg(x, S2C_, A, SISN + 27, CISN + 16, NULL, 0);
	seg(x, C2S_, A | FIN, CISN + 15, SISN + 27, NULL, 0);
	assert_int_equal(c->late_packets, 2);
	assert_int_equal(c->flows_active, 0);
	assert_int_equal(c->flows_created, 1);
	assert_int_equal(c->flows_midstream, 0);
	assert_int_equal(c->packets, 11);
	/* the lingering record goes after closed_linger_s */
	flow_table_expire(x->t, x->now + (uint64_t)x->lim.closed_linger_s * S);
	seg(x, C2S_, A, CISN + 16, SISN + 28, NULL, 0);
	assert_int_equal(c->late_packets, 3);
	assert_int_equal(x->rec.n, 1);
	fx_free(x);
}

static void test_out_of_order(void **state)
{
	struct fixture *x = fx_new(NULL);
	const struct flow_counters *c = flow_table_counters(x->t);

	handshake(x);
	seg(x, C2S_, A, CISN + 1 + 8, SISN + 1, "CCCCDDDD", 0);
	seg(x, C2S_, A, CISN + 1 + 20, SISN + 1, "FFFF", 0);
	assert_int_equal(c->buffered_bytes, 12);
	seg(x, C2S_, A, CISN + 1 + 4, SISN + 1, "BBBB", 0);
	assert_int_equal(x->rec.flows[0].len[0], 0);
	seg(x, C2S_, A, CISN + 1, SISN + 1, "AAAA", 0);
	assert_stream(&x->rec.flows[0], 0, "AAAABBBBCCCCDDDD");
	assert_int_equal(c->buffered_bytes, 4);
	seg(x, C2S_, A, CISN + 1 + 16, SISN + 1, "EEEE", 0);
	assert_stream(&x->rec.flows[0], 0, "AAAABBBBCCCCDDDDEEEEFFFF");
	assert_int_equal(c->buffered_bytes, 0);
	assert_int_equal(c->buffered_bytes_peak, 16);
	assert_int_equal(c->out_of_order_segments, 3);
	assert_int_equal(c->gaps, 0);
	assert_int_equal(c->retransmitted_bytes, 0);
	fx_free(x);
}

static void test_retransmission(void **state)
{
	struct fixture *x = fx_new(NULL);
	const struct flow_counters *c = flow_table_counters(x->t);

	handshake(x);
	seg(x, C2S_, A, CISN + 1, SISN + 1, "hello ", 0);
	seg(x, C2S_, A, CISN + 1, SISN + 1, "hello ", 0);
	seg(x, C2S_, A, CISN + 4, SISN + 1, "lo world", 0);   /* partial overlap */
	assert_stream(&x->rec.flows[0], 0, "hello world");
	assert_int_equal(c->retransmitted_bytes, 6 + 3);
	/* retransmitted OOO segment */
	seg(x, C2S_, A, CISN + 20, SISN + 1, "xyz", 0);
	seg(x, C2S_, A, CISN + 20, SISN + 1, "xyz", 0);
	assert_int_equal(c->retransmitted_bytes, 6 + 3 + 3);
	assert_int_equal(c->buffered_bytes, 3);
	assert_int_equal(c->overlap_conflicts, 0);
	fx_free(x);
}

static void test_overlap_first_wins(void **state)
{
	struct fixture *x = fx_new(NULL);
	const struct flow_counters *c = flow_table_counters(x->t);

	handshake(x);
	/* buffered first: bytes 4..8 = "XXXX" */
	seg(x, C2S_, A, CISN + 1 + 4, SISN + 1, "XXXX", 0);
	/* a later OOO segment overlapping both sides of it */
	seg(x, C2S_, A, CISN + 1 + 2, SISN + 1, "..yyyy..", 0);
	/* then in order, covering everything with other content */
	seg(x, C2S_, A, CISN + 1, SISN + 1, "abcdefghijkl", 0);
	assert_stream(&x->rec.flows[0], 0, "ab..XXXX..kl");
	/* conflicts: y vs X (4); then "cdefghij" vs "..XXXX.." (8) */
	assert_int_equal(c->overlap_conflicts, 12);
	assert_int_equal(c->retransmitted_bytes, 4 + 8);
	assert_int_equal(c->buffered_bytes, 0);
	fx_free(x);
}

static void test_wraparound(void **state)
{
	struct fixture *x = fx_new(NULL);
	uint32_t isn = 0xfffffff8u;

	seg(x, C2S_, SYN, isn, 0, NULL, 0);
	seg(x, S2C_, SYN | A, SISN, isn + 1, NULL, 0);
	/* bytes at 0xfffffff9 .. 0x00000009: the middle one arrives last */
	seg(x, C2S_, A, isn + 1 + 10, SISN + 1, "KLMNOP", 0);
	seg(x, C2S_, A, isn + 1, SISN + 1, "ABCD", 0);
	seg(x, C2S_, A, isn + 1 + 4, SISN + 1, "EFGHIJ", 0);
	seg(x, C2S_, A, isn + 1 + 2, SISN + 1, "CDEF", 0);     /* old, across the wrap */
	assert_stream(&x->rec.flows[0], 0, "ABCDEFGHIJKLMNOP");
	seg(x, C2S_, A | FIN, isn + 1 + 16, SISN + 1, NULL, 0);
	seg(x, S2C_, A | FIN, SISN + 1, isn + 18, NULL, 0);
	assert_int_equal(x->rec.flows[0].closed, 1);
	assert_int_equal(x->rec.flows[0].why, FLOW_END_FIN);
	assert_int_equal(flow_table_counters(x->t)->gaps, 0);
	fx_free(x);
}

static void test_midstream(void **state)
{
	struct fixture *x = fx_new(NULL);
	const struct flow_counters *c = flow_table_counters(x->t);

	/* the server speaks first: still the server */
	seg(x, S2C_, A, 777, 12345, "250 ok\r\n", 0);
	seg(x, C2S_, A, 12345, 785, "DATA\r\n", 0);
	/* a pure ACK of an unknown flow does not create one */
	x->cport = 40001;
	seg(x, C2S_, A, 1, 1, NULL, 0);
	assert_int_equal(x->rec.n, 1);
	struct rec_flow *f = &x->rec.flows[0];
	assert_false(f->fi.syn_seen);
	assert_int_equal(f->fi.client_port, 40000);
	assert_int_equal(f->fi.server_port, 25);
	assert_int_equal(f->fi.client[3], 1);
	assert_stream(f, FLOW_S2C, "250 ok\r\n");
	assert_stream(f, FLOW_C2S, "DATA\r\n");
	assert_int_equal(c->flows_midstream, 1);
	assert_int_equal(c->late_packets, 1);
	/* neither port watched */
	struct decoded_pkt p;
	memset(&p, 0, sizeof(p));
	p.family = 4;
	p.sport = 1000;
	p.dport = 2000;
	p.flags = SYN;
	flow_table_packet(x->t, &p, x->now);
	assert_int_equal(c->flows_ignored, 1);
	fx_free(x);
}

static void test_rst(void **state)
{
	struct fixture *x = fx_new(NULL);
	const struct flow_counters *c = flow_table_counters(x->t);

	handshake(x);
	seg(x, C2S_, A, CISN + 1, SISN + 1, "MAIL", 0);
	seg(x, C2S_, A, CISN + 1 + 10, SISN + 1, "tail", 0);   /* a hole of 6 */
	/* a RST far from the sender's sequence is ignored */
	seg(x, S2C_, RST, SISN + 1 + (1u << 25), 0, NULL, 0);
	assert_int_equal(c->rst_ignored, 1);
	assert_int_equal(x->rec.flows[0].closed, 0);
	seg(x, S2C_, RST | A, SISN + 1, CISN + 5, NULL, 0);
	struct rec_flow *f = &x->rec.flows[0];
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->why, FLOW_END_RST);
	assert_string_equal(f->log[0], "D4 G6 D4 ");
	assert_int_equal(c->buffered_bytes, 0);
	/* in-flight data from the other side: late */
	seg(x, C2S_, A, CISN + 15, SISN + 1, "more", 0);
	assert_int_equal(c->late_packets, 1);
	/* but data past the RST from its sender means the RST was not obeyed */
	seg(x, S2C_, A, SISN + 1, CISN + 19, "250 still here\r\n", 0);
	assert_int_equal(x->rec.n, 2);
	assert_false(x->rec.flows[1].fi.syn_seen);
	assert_int_equal(c->flows_reopened, 1);
	fx_free(x);
}

static void test_refused(void **state)
{
	struct fixture *x = fx_new(NULL);

	seg(x, C2S_, SYN, CISN, 0, NULL, 0);
	seg(x, S2C_, RST | A, 0, CISN + 1, NULL, 0);
	assert_int_equal(x->rec.flows[0].closed, 1);
	assert_int_equal(x->rec.flows[0].why, FLOW_END_RST);
	assert_int_equal(x->rec.flows[0].gaps[0] + x->rec.flows[0].gaps[1], 0);
	fx_free(x);
}

static void test_idle_timeout(void **state)
{
	struct fixture *x = fx_new(NULL);
	const struct flow_counters *c = flow_table_counters(x->t);

	handshake(x);
	seg(x, C2S_, A, CISN + 1, SISN + 1, "EHLO", 0);
	x->cport = 40001;
	handshake(x);
	seg(x, C2S_, A | FIN, CISN + 1, SISN + 1, NULL, 0);   /* one FIN, then silence */
	x->cport = 40000;
	/* keep the first flow alive for a while */
	x->now += 200 * S;
	seg(x, C2S_, A, CISN + 5, SISN + 1, "\r\n", 0);
	flow_table_expire(x->t, x->now + 150 * S);
	assert_int_equal(x->rec.flows[1].closed, 1);
	assert_int_equal(x->rec.flows[1].why, FLOW_END_FIN);
	assert_int_equal(x->rec.flows[0].closed, 0);
	flow_table_expire(x->t, x->now + 301 * S);
	assert_int_equal(x->rec.flows[0].closed, 1);
	assert_int_equal(x->rec.flows[0].why, FLOW_END_TIMEOUT);
	assert_stream(&x->rec.flows[0], 0, "EHLO\r\n");
	assert_int_equal(c->flows_timed_out, 2);
	assert_int_equal(c->flows_active, 0);
	/* a packet after expiry starts a mid-stream flow */
	x->now += 400 * S;
	seg(x, C2S_, A, CISN + 7, SISN + 1, "QUIT\r\n", 0);
	assert_int_equal(x->rec.n, 3);
	assert_false(x->rec.flows[2].fi.syn_seen);
	fx_free(x);
}

static void test_eviction(void **state)
{
	struct flow_limits lim;
	flow_limits_default(&lim);
	lim.max_flows = 2;
	struct fixture *x = fx_new(&lim);
	const struct flow_counters *c = flow_table_counters(x->t);

	for (int i = 0; i < 3; i++) {
		x->cport = (uint16_t)(40000 + i);
		handshake(x);
	}
	/* the third flow pushed out the oldest */
	assert_int_equal(x->rec.flows[0].closed, 1);
	assert_int_equal(x->rec.flows[0].why, FLOW_END_EVICTED);
	x->cport = 40001;
	seg(x, C2S_, A, CISN + 1, SISN + 1, "x", 0);
	x->cport = 40003;
	handshake(x);
	/* flow 2 was the least recently active */
	assert_int_equal(x->rec.flows[2].closed, 1);
	assert_int_equal(x->rec.flows[1].closed, 0);
	assert_int_equal(c->flows_evicted, 2);
	assert_int_equal(c->flows_active, 2);
	/* lingering records are reclaimed first, silently */
	x->cport = 40001;
	seg(x, C2S_, A | FIN, CISN + 2, SISN + 1, NULL, 0);
	seg(x, S2C_, A | FIN, SISN + 1, CISN + 3, NULL, 0);
	assert_int_equal(x->rec.flows[1].why, FLOW_END_FIN);
	x->cport = 40004;
	handshake(x);
	assert_int_equal(c->flows_evicted, 2);
	assert_int_equal(x->rec.flows[3].closed, 0);
	fx_free(x);
}

static void test_flow_buffer_cap(void **state)
{
	struct flow_limits lim;
	flow_limits_default(&lim);
	lim.max_flow_buffer = 10;
	struct fixture *x = fx_new(&lim);
	const struct flow_counters *c = flow_table_counters(x->t);

	handshake(x);
	seg(x, C2S_, A, CISN + 1, SISN + 1, "ab", 0);
	seg(x, C2S_, A, CISN + 1 + 5, SISN + 1, "fghij", 0);    /* hole of 3 */
	seg(x, C2S_, A, CISN + 1 + 12, SISN + 1, "mno", 0);     /* hole of 2 */
	assert_int_equal(c->buffered_bytes, 8);
	seg(x, C2S_, A, CISN + 1 + 20, SISN + 1, "uvwx", 0);    /* 12 > 10: skip one hole */
	struct rec_flow *f = &x->rec.flows[0];
	assert_string_equal(f->log[0], "D2 G3 D5 ");
	assert_int_equal(c->flow_buffer_cap_hits, 1);
	assert_int_equal(c->buffered_bytes, 7);
	/* a segment larger than the cap on its own: everything before is skipped */
	seg(x, C2S_, A, CISN + 1 + 30, SISN + 1, "0123456789AB", 0);
	assert_string_equal(f->log[0], "D2 G3 D5 G2 D3 G5 D4 G6 D12 ");
	assert_int_equal(c->flow_buffer_cap_hits, 2);
	assert_int_equal(c->buffered_bytes, 0);
	assert_int_equal(c->gaps, 4);
	assert_int_equal(c->gap_bytes, 16);
	fx_free(x);
}

static void test_segment_count_cap(void **state)
{
	struct fixture *x = fx_new(NULL);
	const struct flow_counters *c = flow_table_counters(x->t);

	handshake(x);
	/* 1-byte segments with 1-byte holes: the segment cap bites first */
	for (uint32_t i = 0; i < 300; i++)
		seg(x, C2S_, A, CISN + 1 + 2 * i + 1, SISN + 1, "z", 0);
	assert_true(c->flow_buffer_cap_hits > 0);
	assert_true(c->buffered_bytes <= 128);
	fx_free(x);
}

static void test_total_buffer_cap(void **state)
{
	struct flow_limits lim;
	flow_limits_default(&lim);
	lim.max_total_buffer = 10;
	struct fixture *x = fx_new(&lim);
	const struct flow_counters *c = flow_table_counters(x->t);

	handshake(x);
	seg(x, C2S_, A, CISN + 1 + 2, SISN + 1, "12345678", 0);
	x->cport = 40001;
	handshake(x);
	seg(x, C2S_, A, CISN + 1 + 2, SISN + 1, "abcd", 0);   /* 12 > 10, nothing of its own */
	assert_int_equal(c->total_buffer_cap_hits, 1);
	assert_string_equal(x->rec.flows[1].log[0], "G2 D4 ");
	assert_int_equal(c->buffered_bytes, 8);
	assert_int_equal(x->rec.flows[0].len[0], 0);
	fx_free(x);
}

static void test_ack_driven_gap(void **state)
{
	struct fixture *x = fx_new(NULL);
	const struct flow_counters *c = flow_table_counters(x->t);

	handshake(x);
	seg(x, C2S_, A, CISN + 1, SISN + 1, "RCPT", 0);
	seg(x, C2S_, A, CISN + 1 + 10, SISN + 1, "second", 0);   /* 6 bytes lost */
	/* an ACK that covers only part of the hole: the endpoint got some */
	seg(x, S2C_, A, SISN + 1, CISN + 1 + 7, NULL, 0);
	struct rec_flow *f = &x->rec.flows[0];
	assert_string_equal(f->log[0], "D4 G3 ");
	/* an ACK past everything: the rest is a gap, the segment follows; an
	 * ACK beyond what was ever sent is believed only up to what was seen */
	seg(x, S2C_, A, SISN + 1, CISN + 1 + 5000, NULL, 0);
	assert_string_equal(f->log[0], "D4 G3 G3 D6 ");
	seg(x, C2S_, A, CISN + 1 + 16, SISN + 1, "third", 0);
	assert_string_equal(f->log[0], "D4 G3 G3 D6 D5 ");
	assert_int_equal(c->gaps, 2);
	/* loss with nothing after it yet: the ACK alone declares the gap */
	seg(x, C2S_, A | FIN, CISN + 1 + 25, SISN + 1, NULL, 0);   /* 4 bytes lost before FIN */
	seg(x, S2C_, A | FIN, SISN + 1, CISN + 1 + 26, NULL, 0);
	assert_string_equal(f->log[0], "D4 G3 G3 D6 D5 G4 ");
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->why, FLOW_END_FIN);
	fx_free(x);
}

static void test_port_reuse(void **state)
{
	struct fixture *x = fx_new(NULL);
	const struct flow_counters *c = flow_table_counters(x->t);

	handshake(x);
	seg(x, C2S_, A | FIN, CISN + 1, SISN + 1, NULL, 0);
	seg(x, S2C_, A | FIN, SISN + 1, CISN + 2, NULL, 0);
	assert_int_equal(x->rec.flows[0].closed, 1);
	seg(x, C2S_, SYN, CISN, 0, NULL, 0);              /* old SYN: late */
	assert_int_equal(x->rec.n, 1);
	assert_int_equal(c->late_packets, 1);
	seg(x, C2S_, SYN, 90000, 0, NULL, 0);             /* new ISN: new flow */
	assert_int_equal(x->rec.n, 2);
	assert_true(x->rec.flows[1].fi.syn_seen);
	seg(x, S2C_, SYN | A, 777, 90001, NULL, 0);
	seg(x, C2S_, A, 90001, 778, "EHLO", 0);
	assert_stream(&x->rec.flows[1], 0, "EHLO");
	/* a SYN while the flow is half closed also starts a new one */
	seg(x, C2S_, A | FIN, 90005, 778, NULL, 0);
	seg(x, C2S_, SYN, 123456, 0, NULL, 0);
	assert_int_equal(x->rec.flows[1].closed, 1);
	assert_int_equal(x->rec.flows[1].why, FLOW_END_FIN);
	assert_int_equal(x->rec.n, 3);
	assert_int_equal(c->flows_reopened, 2);
	/* a SYN inside a live connection is not a new one */
	seg(x, C2S_, SYN, 999, 0, NULL, 0);
	assert_int_equal(x->rec.n, 3);
	/* ...but a retried attempt before anything was sent replaces the first */
	seg(x, S2C_, SYN | A, 4444, 123457, NULL, 0);
	seg(x, C2S_, SYN, 555555, 0, NULL, 0);
	seg(x, S2C_, SYN | A, 8888, 555556, NULL, 0);
	seg(x, C2S_, A, 555556, 8889, "HELO x\r\n", 0);
	seg(x, S2C_, A, 8889, 555564, "250 ok\r\n", 0);
	assert_int_equal(x->rec.n, 3);
	assert_stream(&x->rec.flows[2], FLOW_C2S, "HELO x\r\n");
	assert_stream(&x->rec.flows[2], FLOW_S2C, "250 ok\r\n");
	assert_int_equal(c->gaps, 0);
	fx_free(x);
}

static void test_flush(void **state)
{
	struct fixture *x = fx_new(NULL);

	handshake(x);
	seg(x, C2S_, A, CISN + 1, SISN + 1, "12", 0);
	seg(x, C2S_, A, CISN + 1 + 4, SISN + 1, "56", 0);
	seg(x, C2S_, A, CISN + 1 + 8, SISN + 1, "90", 0);
	flow_table_flush(x->t, x->now);
	struct rec_flow *f = &x->rec.flows[0];
	assert_int_equal(f->closed, 1);
	assert_int_equal(f->why, FLOW_END_SHUTDOWN);
	assert_string_equal(f->log[0], "D2 G2 D2 G2 D2 ");
	assert_int_equal(flow_table_counters(x->t)->buffered_bytes, 0);
	assert_int_equal(flow_table_counters(x->t)->flows_active, 0);
	fx_free(x);
}

static void test_snaplen(void **state)
{
	struct fixture *x = fx_new(NULL);

	handshake(x);
	seg(x, C2S_, A, CISN + 1, SISN + 1, "abc", 7);              /* 10 on the wire */
	seg(x, C2S_, A, CISN + 1 + 10, SISN + 1, "klm", 0);
	seg(x, C2S_, A, CISN + 1 + 20, SISN + 1, "uv", 3);          /* OOO, cut */
	seg(x, C2S_, A, CISN + 1 + 13, SISN + 1, "nopqrst", 0);
	struct rec_flow *f = &x->rec.flows[0];
	assert_string_equal(f->log[0], "D3 G7 D3 D7 D2 ");
	/* the cut tail of a buffered segment is a hole like any other: the
	 * next ACK past it (or a cap, or the end) makes it a gap */
	seg(x, C2S_, A, CISN + 1 + 25, SISN + 1, "z", 0);
	assert_string_equal(f->log[0], "D3 G7 D3 D7 D2 ");
	seg(x, S2C_, A, SISN + 1, CISN + 1 + 26, NULL, 0);
	assert_string_equal(f->log[0], "D3 G7 D3 D7 D2 G3 D1 ");
	assert_int_equal(f->wire_bytes[0], 10 + 3 + 5 + 7 + 1);
	fx_free(x);
}

static void test_declined_and_both_ports(void **state)
{
	struct flow_limits lim;
	flow_limits_default(&lim);
	static const uint16_t ports[] = { 25, 587 };
	struct rec rec;
	memset(&rec, 0, sizeof(rec));
	rec.decline = true;
	struct flow_callbacks cb = { .open = rec_open };
	struct flow_table *t = flow_table_new(&lim, ports, 2, &cb, &rec);
	struct decoded_pkt p;

	memset(&p, 0, sizeof(p));
	p.family = 6;
	p.src[0] = 1; p.dst[0] = 2;
	p.sport = 587; p.dport = 25;   /* both watched, SYN sender is the client */
	p.flags = SYN;
	flow_table_packet(t, &p, 1);
	p.payload_wire_len = 5; p.payload_len = 0; p.flags = A;
	flow_table_packet(t, &p, 2);
	assert_int_equal(flow_table_counters(t)->flows_created, 1);
	assert_int_equal(flow_table_counters(t)->flows_active, 1);
	p.flags = RST;
	flow_table_packet(t, &p, 3);
	assert_int_equal(flow_table_counters(t)->flows_active, 0);
	flow_table_flush(t, 4);
	flow_table_free(t);
	flow_table_free(NULL);
	assert_null(flow_table_new(&lim, ports, 2, NULL, NULL));

	/* both watched, mid-stream: the higher port is the client */
	memset(&rec, 0, sizeof(rec));
	t = flow_table_new(&lim, ports, 2, &rec_cb, &rec);
	p.flags = A;
	p.payload = (const uint8_t *)"hello";
	p.payload_len = 5;
	flow_table_packet(t, &p, 1);
	assert_int_equal(rec.flows[0].fi.client_port, 587);
	assert_int_equal(rec.flows[0].fi.family, 6);
	assert_stream(&rec.flows[0], FLOW_C2S, "hello");
	flow_table_flush(t, 4);
	assert_int_equal(rec.flows[0].closed, 1);
	flow_table_free(t);
}

static void *open_dummy(void *ctx, const struct flow_info *fi)
{
	return ctx;
}

/* 100,000 concurrent flows, each with a few buffered bytes in one
 * direction: print the heap cost per flow. */
static void test_memory_100k(void **state)
{
	struct flow_limits lim;
	flow_limits_default(&lim);
	struct mallinfo2 before = mallinfo2();
	struct flow_callbacks cb3 = { .open = open_dummy };
	static int dummy;
	struct flow_table *t;

	t = flow_table_new(&lim, PORT25, 1, &cb3, &dummy);
	struct decoded_pkt p;
	memset(&p, 0, sizeof(p));
	p.family = 4;
	p.dst[0] = 198; p.dst[1] = 19;
	p.dport = 25;
	for (uint32_t i = 0; i < 100000; i++) {
		p.src[0] = 10;
		p.src[1] = (uint8_t)(i >> 16);
		p.src[2] = (uint8_t)(i >> 8);
		p.src[3] = (uint8_t)i;
		p.sport = (uint16_t)(1024 + i % 50000);
		p.flags = SYN;
		p.seq = i;
		p.payload_len = p.payload_wire_len = 0;
		flow_table_packet(t, &p, 1000 * S + i);
		/* a small out-of-order segment kept per flow */
		p.flags = A;
		p.seq = i + 1 + 10;
		p.payload = (const uint8_t *)"MAIL FROM:<x@y>\r\n";
		p.payload_len = p.payload_wire_len = 17;
		flow_table_packet(t, &p, 1000 * S + i);
	}
	struct mallinfo2 after = mallinfo2();
	const struct flow_counters *c = flow_table_counters(t);
	assert_int_equal(c->flows_active, 100000);
	assert_int_equal(c->buffered_bytes, 100000ull * 17);
	size_t used = (after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd);
	print_message("flow memory: %zu bytes for 100000 flows with one 17-byte OOO segment "
		      "each = %zu bytes/flow (table sized for %u flows)\n",
		      used, used / 100000, lim.max_flows);
	assert_true(used / 100000 < 400);
	flow_table_flush(t, 2000 * S);
	flow_table_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order_and_fin),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_retransmission),
		cmocka_unit_test(test_overlap_first_wins),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_midstream),
		cmocka_unit_test(test_rst),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_flow_buffer_cap),
		cmocka_unit_test(test_segment_count_cap),
		cmocka_unit_test(test_total_buffer_cap),
		cmocka_unit_test(test_ack_driven_gap),
		cmocka_unit_test(test_port_reuse),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_snaplen),
		cmocka_unit_test(test_declined_and_both_ports),
		cmocka_unit_test(test_memory_100k),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
