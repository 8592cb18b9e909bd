/* SPDX-License-Identifier: MIT */
/*
 * flow: the TCP flow table and per-direction reassembly, in the agent's
 * parser side.  Pure code: segments in, ordered byte streams out through
 * the callbacks in flow.h; time is the capture clock given with each packet.
 *
 * Memory is bounded by construction: flow records come from slabs of
 * fixed-size records (at most max_flows of them, never returned to malloc
 * before flow_table_free); out-of-order bytes are copied into per-direction
 * sorted lists under three caps (bytes per direction, segments per
 * direction, bytes in all flows).  Reaching a cap declares the hole in front
 * of the buffered bytes a gap instead of growing.  In-order bytes are handed
 * to the data callback straight from the packet, without a copy.
 *
 * Sequence numbers are compared with serial arithmetic (RFC 1982), so every
 * offset kept is within 2^30 of the direction's next expected byte.
 */
#include "flow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/* Out-of-order segments per direction: bounds the sorted-list walk (a
 * guest sending 1-byte segments must not make insertion quadratic in the
 * byte cap) and the per-segment overhead. */
#define FLOW_MAX_SEGS      128
/* A segment starting farther than this past the next expected byte is out of
 * any window TCP can advertise (65535 << 14): dropped, never buffered. */
#define FLOW_MAX_AHEAD     (1u << 30)
/* A RST is honoured only within this distance of the sender's next expected
 * byte, so that a RST the receiver would ignore does not blind us. */
#define FLOW_RST_AHEAD     (1u << 24)
#define FLOW_RST_BEHIND    (1u << 16)
#define FLOW_SLAB_RECORDS  1024u
#define FLOW_MAX_BUCKETS   (1u << 22)
#define US_PER_S           1000000ull

/* half-connection flags */
#define HALF_VALID 0x01   /* next_seq is known */
#define HALF_SYN   0x02   /* isn came from a SYN */
#define HALF_FIN   0x04   /* fin_seq is known */
#define HALF_DONE  0x08   /* every byte up to the FIN delivered (or skipped) */
#define HALF_RST   0x10   /* this side sent the RST that closed the flow */

enum flow_state {
	FLOW_STATE_FREE = 0,
	FLOW_STATE_OPEN,     /* in the open LRU */
	FLOW_STATE_CLOSED,   /* close delivered; lingering in the closed LRU */
};

/* One buffered out-of-order segment; the data follows the header. */
struct flow_seg {
	struct flow_seg *next;
	uint32_t seq;
	uint32_t len;
	uint8_t data[];
};

/* One direction of a flow: the sender's byte stream. */
struct flow_half {
	struct flow_seg *segs;   /* sorted, disjoint, all starting after next_seq */
	uint32_t next_seq;       /* next byte to deliver */
	uint32_t isn;            /* SYN's seq when HALF_SYN */
	uint32_t fin_seq;        /* seq the FIN occupies when HALF_FIN */
	uint32_t max_end;        /* highest seq end seen: ACKs are not believed past it */
	uint32_t buffered;       /* bytes in segs */
	uint16_t nsegs;
	uint8_t flags;           /* HALF_* */
};

struct flow {
	struct flow *hnext;              /* hash chain, or the free list */
	struct flow *lprev, *lnext;      /* open or closed LRU, oldest first */
	void *user;                      /* open()'s answer; NULL: untracked */
	uint64_t last_us;                /* last packet (open) or close time (closed) */
	uint32_t hash;
	uint8_t state;                   /* enum flow_state */
	uint8_t family;
	uint16_t cport, sport;           /* client / server port */
	uint8_t caddr[16], saddr[16];
	struct flow_half half[2];        /* indexed by enum flow_dir: the sender */
};

struct flow_lru {
	struct flow *head, *tail;
};

struct flow_table {
	struct flow_limits lim;
	struct flow_callbacks cb;
	void *ctx;
	uint64_t seed;
	uint64_t idle_us, linger_us;
	struct flow **buckets;
	uint32_t mask;
	uint32_t n_records;              /* records carved from slabs */
	uint32_t n_used;                 /* records open or lingering */
	struct flow *free;
	void **slabs;
	uint32_t n_slabs, cap_slabs;
	struct flow_lru open, closed;
	struct flow_counters c;
	uint8_t watched[65536 / 8];
};

static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }

void flow_limits_default(struct flow_limits *l)
{
	l->max_flows = 262144;
	l->max_flow_buffer = 64 * 1024;
	l->max_total_buffer = 128ull * 1024 * 1024;
	l->idle_timeout_s = 300;
	l->closed_linger_s = 30;
}

/* ---- LRU lists and the hash ---------------------------------------------- */

static void lru_unlink(struct flow_lru *l, struct flow *f)
{
	if (f->lprev)
		f->lprev->lnext = f->lnext;
	else
		l->head = f->lnext;
	if (f->lnext)
		f->lnext->lprev = f->lprev;
	else
		l->tail = f->lprev;
	f->lprev = f->lnext = NULL;
}

static void lru_append(struct flow_lru *l, struct flow *f)
{
	f->lnext = NULL;
	f->lprev = l->tail;
	if (l->tail)
		l->tail->lnext = f;
	else
		l->head = f;
	l->tail = f;
}

static bool port_watched(const struct flow_table *t, uint16_t port)
{
	return t->watched[port >> 3] & (1u << (port & 7));
}

/* Direction-independent hash of the 4-tuple: the endpoints are ordered
 * first, so both directions land in the same bucket.  Seeded per table so
 * that a guest cannot aim many flows at one chain. */
static uint32_t flow_hash(const struct flow_table *t, const struct decoded_pkt *p)
{
	uint8_t k[37];
	const uint8_t *a = p->src, *b = p->dst;
	uint16_t ap = p->sport, bp = p->dport;
	int cmp = memcmp(a, b, 16);

	if (cmp > 0 || (cmp == 0 && ap > bp)) {
		a = p->dst; b = p->src;
		ap = p->dport; bp = p->sport;
	}
	memcpy(k, a, 16);
	memcpy(k + 16, b, 16);
	k[32] = (uint8_t)(ap >> 8); k[33] = (uint8_t)ap;
	k[34] = (uint8_t)(bp >> 8); k[35] = (uint8_t)bp;
	k[36] = p->family;
	return (uint32_t)XXH3_64bits_withSeed(k, sizeof(k), t->seed);
}

/* The flow of p, or NULL; *dir is set to p's direction when found. */
static struct flow *flow_lookup(const struct flow_table *t, const struct decoded_pkt *p,
				uint32_t h, enum flow_dir *dir)
{
	for (struct flow *f = t->buckets[h & t->mask]; f; f = f->hnext) {
		if (f->hash != h || f->family != p->family)
			continue;
		if (f->cport == p->sport && f->sport == p->dport &&
		    !memcmp(f->caddr, p->src, 16) && !memcmp(f->saddr, p->dst, 16)) {
			*dir = FLOW_C2S;
			return f;
		}
		if (f->sport == p->sport && f->cport == p->dport &&
		    !memcmp(f->saddr, p->src, 16) && !memcmp(f->caddr, p->dst, 16)) {
			*dir = FLOW_S2C;
			return f;
		}
	}
	return NULL;
}

static void hash_unlink(struct flow_table *t, struct flow *f)
{
	for (struct flow **pp = &t->buckets[f->hash & t->mask]; *pp; pp = &(*pp)->hnext) {
		if (*pp == f) {
			*pp = f->hnext;
			f->hnext = NULL;
			return;
		}
	}
}

/* ---- buffered segments ----------------------------------------------------- */

static void seg_pop(struct flow_table *t, struct flow_half *h)
{
	struct flow_seg *s = h->segs;

	h->segs = s->next;
	h->nsegs--;
	h->buffered -= s->len;
	t->c.buffered_bytes -= s->len;
	free(s);
}

static void half_free_segs(struct flow_table *t, struct flow_half *h)
{
	while (h->segs)
		seg_pop(t, h);
}

/* Bytes in a[0..n) that differ from b[0..n). */
static uint64_t count_diff(const uint8_t *a, const uint8_t *b, uint32_t n)
{
	uint64_t d = 0;

	if (!memcmp(a, b, n))
		return 0;
	for (uint32_t i = 0; i < n; i++)
		d += a[i] != b[i];
	return d;
}

/* ---- delivery ------------------------------------------------------------- */

static void half_deliver(struct flow_table *t, struct flow *f, enum flow_dir d,
			 const uint8_t *buf, uint32_t len, uint64_t ts)
{
	struct flow_half *h = &f->half[d];

	if (!len)
		return;
	if (t->cb.data)
		t->cb.data(t->ctx, f->user, d, buf, len, ts);
	h->next_seq += len;
	if (seq_gt(h->next_seq, h->max_end))
		h->max_end = h->next_seq;
}

static void half_gap(struct flow_table *t, struct flow *f, enum flow_dir d, uint32_t len,
		     uint64_t ts)
{
	struct flow_half *h = &f->half[d];

	if (!len)
		return;
	t->c.gaps++;
	t->c.gap_bytes += len;
	if (t->cb.gap)
		t->cb.gap(t->ctx, f->user, d, len, ts);
	h->next_seq += len;
	if (seq_gt(h->next_seq, h->max_end))
		h->max_end = h->next_seq;
}

/* Deliver buffered segments that have become contiguous with next_seq. */
static void half_drain(struct flow_table *t, struct flow *f, enum flow_dir d, uint64_t ts)
{
	struct flow_half *h = &f->half[d];

	while (h->segs && seq_le(h->segs->seq, h->next_seq)) {
		struct flow_seg *s = h->segs;
		uint32_t end = s->seq + s->len;

		if (seq_gt(end, h->next_seq)) {
			uint32_t off = h->next_seq - s->seq;
			half_deliver(t, f, d, s->data + off, s->len - off, ts);
		}
		seg_pop(t, h);
	}
}

/*
 * Move next_seq up to x (the endpoint is known to have these bytes):
 * buffered segments below x are delivered, the holes between them become
 * gaps.  Buffered bytes past x that follow contiguously are delivered too.
 */
static void half_advance_to(struct flow_table *t, struct flow *f, enum flow_dir d, uint32_t x,
			    uint64_t ts)
{
	struct flow_half *h = &f->half[d];

	while (seq_lt(h->next_seq, x)) {
		if (h->segs && seq_lt(h->segs->seq, x)) {
			if (seq_gt(h->segs->seq, h->next_seq))
				half_gap(t, f, d, h->segs->seq - h->next_seq, ts);
			half_drain(t, f, d, ts);
		} else {
			half_gap(t, f, d, x - h->next_seq, ts);
		}
	}
	half_drain(t, f, d, ts);
}

/*
 * The segment starts at next_seq: hand its bytes over without copying,
 * except where a buffered segment already covers them (first data wins:
 * those bytes come from the buffer, and differences are counted).
 */
static void half_in_order(struct flow_table *t, struct flow *f, enum flow_dir d, uint32_t seq,
			  const uint8_t *p, uint32_t len, uint64_t ts)
{
	struct flow_half *h = &f->half[d];
	uint32_t end = seq + len;

	while (seq_lt(h->next_seq, end)) {
		struct flow_seg *s = h->segs;
		uint32_t cur = h->next_seq;
		uint32_t lim = (s && seq_lt(s->seq, end)) ? s->seq : end;

		if (seq_lt(cur, lim)) {
			half_deliver(t, f, d, p + (cur - seq), lim - cur, ts);
			continue;
		}
		uint32_t s_end = s->seq + s->len;
		if (seq_gt(s_end, cur)) {
			uint32_t ov_end = seq_lt(end, s_end) ? end : s_end;
			uint32_t ov = ov_end - cur;
			t->c.retransmitted_bytes += ov;
			t->c.overlap_conflicts += count_diff(p + (cur - seq), s->data + (cur - s->seq), ov);
			half_deliver(t, f, d, s->data + (cur - s->seq), s_end - cur, ts);
		}
		seg_pop(t, h);
	}
	half_drain(t, f, d, ts);
}

/*
 * Place [seq, seq+len) (after next_seq) into the sorted list around what is
 * already there.  commit=false only measures what would be added; commit=true
 * copies the new pieces and counts the overlapping bytes.  Returns the new
 * bytes and segments.
 */
struct seg_need {
	uint32_t bytes, segs;
};

static struct seg_need half_place(struct flow_table *t, struct flow_half *h, uint32_t seq,
				  const uint8_t *p, uint32_t len, bool commit)
{
	struct seg_need n = { 0, 0 };
	struct flow_seg **pp = &h->segs;
	uint32_t cur = seq, end = seq + len;

	while (seq_lt(cur, end)) {
		while (*pp && seq_le((*pp)->seq + (*pp)->len, cur))
			pp = &(*pp)->next;
		struct flow_seg *s = *pp;
		uint32_t piece_end;

		if (s && seq_le(s->seq, cur)) {
			/* overlap with a buffered segment: it was first, it stays */
			uint32_t s_end = s->seq + s->len;
			uint32_t ov = (seq_lt(end, s_end) ? end : s_end) - cur;
			if (commit) {
				t->c.retransmitted_bytes += ov;
				t->c.overlap_conflicts += count_diff(p + (cur - seq),
								     s->data + (cur - s->seq), ov);
			}
			cur += ov;
			continue;
		}
		piece_end = (s && seq_lt(s->seq, end)) ? s->seq : end;
		uint32_t plen = piece_end - cur;
		n.bytes += plen;
		n.segs++;
		if (commit) {
			struct flow_seg *ns = malloc(sizeof(*ns) + plen);
			if (ns) {
				ns->seq = cur;
				ns->len = plen;
				memcpy(ns->data, p + (cur - seq), plen);
				ns->next = s;
				*pp = ns;
				pp = &ns->next;
				h->nsegs++;
				h->buffered += plen;
				t->c.buffered_bytes += plen;
				if (t->c.buffered_bytes > t->c.buffered_bytes_peak)
					t->c.buffered_bytes_peak = t->c.buffered_bytes;
			}
			/* without memory the piece stays a hole: a gap later */
		}
		cur = piece_end;
	}
	return n;
}

/*
 * Captured bytes [seq, seq+len) of direction d.  Drops what was already
 * delivered, delivers what is next, buffers what is ahead; when buffering
 * would pass a cap, skips the first hole (a gap) and tries again, so a
 * segment is never refused for want of room.
 */
static void half_data(struct flow_table *t, struct flow *f, enum flow_dir d, uint32_t seq,
		      const uint8_t *p, uint32_t len, uint64_t ts)
{
	struct flow_half *h = &f->half[d];
	bool counted = false;

	while (len) {
		if (seq_lt(seq, h->next_seq)) {
			uint32_t dup = h->next_seq - seq;
			if (dup >= len) {
				t->c.retransmitted_bytes += len;
				return;
			}
			t->c.retransmitted_bytes += dup;
			seq += dup;
			p += dup;
			len -= dup;
		}
		if (seq == h->next_seq) {
			half_in_order(t, f, d, seq, p, len, ts);
			return;
		}
		struct seg_need n = half_place(t, h, seq, p, len, false);
		bool flow_cap = (uint64_t)h->buffered + n.bytes > t->lim.max_flow_buffer ||
				h->nsegs + n.segs > FLOW_MAX_SEGS;
		bool total_cap = t->c.buffered_bytes + n.bytes > t->lim.max_total_buffer;
		if (!counted) {
			t->c.out_of_order_segments++;
			t->c.flow_buffer_cap_hits += flow_cap && n.bytes;
			t->c.total_buffer_cap_hits += total_cap && n.bytes;
			counted = true;
		}
		if (!n.bytes || (!flow_cap && !total_cap)) {
			half_place(t, h, seq, p, len, true);
			return;
		}
		/* a cap: give up on the first hole and retry */
		if (h->segs)
			half_advance_to(t, f, d, h->segs->seq, ts);
		else
			half_gap(t, f, d, seq - h->next_seq, ts);
	}
}

/* Drop buffered bytes at or past the FIN: a stream has nothing after it. */
static void half_trim_at(struct flow_table *t, struct flow_half *h, uint32_t fin)
{
	struct flow_seg **pp = &h->segs;

	while (*pp) {
		struct flow_seg *s = *pp;
		if (seq_ge(s->seq, fin)) {
			*pp = s->next;
			h->nsegs--;
			h->buffered -= s->len;
			t->c.buffered_bytes -= s->len;
			free(s);
			continue;
		}
		if (seq_gt(s->seq + s->len, fin)) {
			uint32_t cut = s->seq + s->len - fin;
			s->len -= cut;
			h->buffered -= cut;
			t->c.buffered_bytes -= cut;
		}
		pp = &s->next;
	}
}

/*
 * One data/FIN segment of direction d: captured bytes [seq, seq+len), wire
 * bytes [seq, seq+wire); a FIN when fin.
 */
static void half_segment(struct flow_table *t, struct flow *f, enum flow_dir d, uint32_t seq,
			 const uint8_t *p, uint32_t len, uint32_t wire, bool fin, uint64_t ts)
{
	struct flow_half *h = &f->half[d];

	if (!(h->flags & HALF_VALID)) {
		h->next_seq = h->max_end = seq;
		h->flags |= HALF_VALID;
	}
	if (seq_gt(seq, h->next_seq) && seq - h->next_seq > FLOW_MAX_AHEAD) {
		t->c.out_of_window++;
		return;
	}
	if (h->flags & HALF_FIN) {
		if (seq_ge(seq, h->fin_seq))
			return;
		if (seq_gt(seq + wire, h->fin_seq)) {
			wire = h->fin_seq - seq;
			if (len > wire)
				len = wire;
		}
		fin = false;
	}
	uint32_t end = seq + wire;
	if (seq_gt(end, h->max_end))
		h->max_end = end;

	half_data(t, f, d, seq, p, len, ts);
	/* the snaplen cut the tail: once delivery reaches it, it is a gap */
	if (wire > len && seq_ge(h->next_seq, seq + len) && seq_lt(h->next_seq, end))
		half_advance_to(t, f, d, end, ts);

	if (fin && seq_ge(end, h->next_seq)) {
		h->flags |= HALF_FIN;
		h->fin_seq = end;
		h->max_end = end;
		half_trim_at(t, h, end);
	}
}

/* The peer acknowledged ack for direction d: bytes below it reached the
 * endpoint, so a hole below it is capture loss, not reordering.  ack is
 * believed only up to the highest byte seen (a guest can send any ack). */
static void half_acked(struct flow_table *t, struct flow *f, enum flow_dir d, uint32_t ack,
		       uint64_t ts)
{
	struct flow_half *h = &f->half[d];
	uint32_t x = ack;

	if (!(h->flags & HALF_VALID))
		return;
	if (seq_gt(x, h->max_end))
		x = h->max_end;
	if ((h->flags & HALF_FIN) && seq_gt(x, h->fin_seq))
		x = h->fin_seq;
	if (seq_gt(x, h->next_seq))
		half_advance_to(t, f, d, x, ts);
}

static void half_update_done(struct flow_half *h)
{
	if ((h->flags & HALF_FIN) && seq_ge(h->next_seq, h->fin_seq))
		h->flags |= HALF_DONE;
}

/* End of the flow: buffered bytes are delivered with gaps before them, and
 * bytes known sent but never captured become a final gap. */
static void half_flush(struct flow_table *t, struct flow *f, enum flow_dir d, uint64_t ts)
{
	struct flow_half *h = &f->half[d];

	if (!(h->flags & HALF_VALID))
		return;
	while (h->segs)
		half_advance_to(t, f, d, h->segs->seq, ts);
	if (seq_gt(h->max_end, h->next_seq))
		half_advance_to(t, f, d, h->max_end, ts);
	half_update_done(h);
}

/* ---- flow records ---------------------------------------------------------- */

/* Forget f: out of the hash, its LRU, back to the free list. */
static void flow_release(struct flow_table *t, struct flow *f)
{
	half_free_segs(t, &f->half[0]);
	half_free_segs(t, &f->half[1]);
	hash_unlink(t, f);
	lru_unlink(f->state == FLOW_STATE_OPEN ? &t->open : &t->closed, f);
	f->state = FLOW_STATE_FREE;
	f->user = NULL;
	f->hnext = t->free;
	t->free = f;
	t->n_used--;
}

/*
 * End an open flow: deliver what is buffered, call close (tracked flows),
 * then linger (FIN, RST) or forget it.
 */
static void flow_end(struct flow_table *t, struct flow *f, enum flow_end why, uint64_t ts)
{
	if (f->user) {
		half_flush(t, f, FLOW_C2S, ts);
		half_flush(t, f, FLOW_S2C, ts);
		if (t->cb.close)
			t->cb.close(t->ctx, f->user, why, ts);
	}
	t->c.flows_active--;
	if ((why == FLOW_END_FIN || why == FLOW_END_RST) && t->linger_us) {
		half_free_segs(t, &f->half[0]);
		half_free_segs(t, &f->half[1]);
		lru_unlink(&t->open, f);
		f->state = FLOW_STATE_CLOSED;
		f->last_us = ts;
		lru_append(&t->closed, f);
	} else {
		flow_release(t, f);
	}
}

static bool flow_any_fin(const struct flow *f)
{
	return (f->half[0].flags | f->half[1].flags) & HALF_FIN;
}

/* Close or forget flows whose time is up: O(1) when none is. */
static void flow_expire_heads(struct flow_table *t, uint64_t now)
{
	struct flow *f;

	while ((f = t->closed.head) && now > f->last_us && now - f->last_us >= t->linger_us)
		flow_release(t, f);
	if (!t->idle_us)
		return;
	while ((f = t->open.head) && now > f->last_us && now - f->last_us >= t->idle_us) {
		t->c.flows_timed_out++;
		flow_end(t, f, flow_any_fin(f) ? FLOW_END_FIN : FLOW_END_TIMEOUT, now);
	}
}

/* A free record: from the free list, a new slab, or by evicting the least
 * recently active flow (lingering ones first: they cost no event). */
static struct flow *flow_alloc(struct flow_table *t, uint64_t ts)
{
	if (!t->free && t->n_records < t->lim.max_flows) {
		uint32_t n = t->lim.max_flows - t->n_records;
		if (n > FLOW_SLAB_RECORDS)
			n = FLOW_SLAB_RECORDS;
		if (t->n_slabs == t->cap_slabs) {
			uint32_t cap = t->cap_slabs ? t->cap_slabs * 2 : 16;
			void **ns = realloc(t->slabs, cap * sizeof(*ns));
			if (!ns)
				goto evict;
			t->slabs = ns;
			t->cap_slabs = cap;
		}
		struct flow *slab = calloc(n, sizeof(*slab));
		if (!slab)
			goto evict;
		t->slabs[t->n_slabs++] = slab;
		t->n_records += n;
		for (uint32_t i = n; i-- > 0;) {
			slab[i].hnext = t->free;
			t->free = &slab[i];
		}
	}
evict:
	if (!t->free) {
		if (t->closed.head) {
			flow_release(t, t->closed.head);
		} else if (t->open.head) {
			t->c.flows_evicted++;
			flow_end(t, t->open.head, FLOW_END_EVICTED, ts);
		}
	}
	struct flow *f = t->free;
	if (f) {
		t->free = f->hnext;
		t->n_used++;
	}
	return f;
}

/* Which side of p is the client (true: p's source). */
static bool flow_src_is_client(const struct flow_table *t, const struct decoded_pkt *p)
{
	bool sw = port_watched(t, p->sport), dw = port_watched(t, p->dport);

	if (dw != sw)
		return dw;
	if ((p->flags & (DECODE_TH_SYN | DECODE_TH_ACK)) == DECODE_TH_SYN)
		return true;
	if ((p->flags & (DECODE_TH_SYN | DECODE_TH_ACK)) == (DECODE_TH_SYN | DECODE_TH_ACK))
		return false;
	return p->sport >= p->dport;
}

/* Create the flow of p and ask open() whether to track it. */
static struct flow *flow_create(struct flow_table *t, const struct decoded_pkt *p, uint32_t h,
				uint64_t ts, enum flow_dir *dir)
{
	struct flow *f = flow_alloc(t, ts);

	if (!f)
		return NULL;
	bool src_client = flow_src_is_client(t, p);
	memset(f, 0, sizeof(*f));
	f->hash = h;
	f->family = p->family;
	f->state = FLOW_STATE_OPEN;
	f->last_us = ts;
	memcpy(f->caddr, src_client ? p->src : p->dst, 16);
	memcpy(f->saddr, src_client ? p->dst : p->src, 16);
	f->cport = src_client ? p->sport : p->dport;
	f->sport = src_client ? p->dport : p->sport;
	f->hnext = t->buckets[h & t->mask];
	t->buckets[h & t->mask] = f;
	lru_append(&t->open, f);
	*dir = src_client ? FLOW_C2S : FLOW_S2C;

	struct flow_info fi;
	memset(&fi, 0, sizeof(fi));
	fi.family = f->family;
	memcpy(fi.client, f->caddr, 16);
	memcpy(fi.server, f->saddr, 16);
	fi.client_port = f->cport;
	fi.server_port = f->sport;
	memcpy(fi.vlan, p->vlan, sizeof(fi.vlan));
	fi.vlan_count = p->vlan_count;
	fi.ifindex = p->ifindex;
	if (src_client && (p->mac_flags & DECODE_MAC_SRC)) {
		memcpy(fi.client_mac, p->src_mac, 6);
		fi.has_client_mac = true;
	} else if (!src_client && (p->mac_flags & DECODE_MAC_DST)) {
		memcpy(fi.client_mac, p->dst_mac, 6);
		fi.has_client_mac = true;
	}
	fi.syn_seen = p->flags & DECODE_TH_SYN;
	fi.ts_us = ts;
	t->c.flows_created++;
	t->c.flows_active++;
	if (!fi.syn_seen)
		t->c.flows_midstream++;
	f->user = t->cb.open(t->ctx, &fi);
	return f;
}

/*
 * A packet for a lingering (closed) flow: does it start a new one?  Yes for a
 * SYN with another ISN (port reuse), and for data past the end of a stream
 * whose sender finished it (a FIN or RST the receiver ignored must not blind
 * us to what follows).  Anything else is a late packet.
 */
static bool flow_closed_restarts(const struct flow *f, enum flow_dir d,
				 const struct decoded_pkt *p)
{
	const struct flow_half *h = &f->half[d];

	if ((p->flags & (DECODE_TH_SYN | DECODE_TH_ACK | DECODE_TH_RST)) == DECODE_TH_SYN)
		return !(d == FLOW_C2S && (h->flags & HALF_SYN) && h->isn == p->seq);
	if (!p->payload_wire_len || !(h->flags & (HALF_FIN | HALF_RST)))
		return false;
	return !(h->flags & HALF_VALID) || seq_gt(p->seq + p->payload_wire_len, h->next_seq);
}

/* ---- packets ------------------------------------------------------------------ */

/* A packet of a flow open() declined: only its end is followed. */
static void flow_untracked(struct flow_table *t, struct flow *f, enum flow_dir d,
			   const struct decoded_pkt *p, uint64_t ts)
{
	struct flow_half *h = &f->half[d];

	if (p->flags & DECODE_TH_RST) {
		h->flags |= HALF_RST;
		flow_end(t, f, FLOW_END_RST, ts);
		return;
	}
	if ((p->flags & DECODE_TH_SYN) && !(h->flags & HALF_SYN)) {
		h->flags |= HALF_SYN;
		h->isn = p->seq;
	}
	if (p->flags & DECODE_TH_FIN)
		h->flags |= HALF_FIN | HALF_DONE;
	if (f->half[0].flags & f->half[1].flags & HALF_DONE)
		flow_end(t, f, FLOW_END_FIN, ts);
}

/* Nothing past a SYN: no byte delivered or buffered, no FIN. */
static bool half_pristine(const struct flow_half *h)
{
	return (h->flags & (HALF_SYN | HALF_FIN)) == HALF_SYN && h->next_seq == h->isn + 1 &&
	       !h->segs;
}

/*
 * A connection attempt retried on the same 4-tuple with a new ISN (a client
 * re-binding its port after a timeout): a pure SYN with another ISN while
 * neither side has sent anything past its SYN.
 */
static bool flow_syn_retry(const struct flow *f, enum flow_dir d, const struct decoded_pkt *p)
{
	const struct flow_half *h = &f->half[d], *o = &f->half[d == FLOW_C2S ? FLOW_S2C : FLOW_C2S];

	if ((p->flags & (DECODE_TH_SYN | DECODE_TH_ACK)) != DECODE_TH_SYN || h->isn == p->seq)
		return false;
	return half_pristine(h) && (!(o->flags & HALF_VALID) || half_pristine(o));
}

/* A segment of a tracked flow, sent by direction d. */
static void flow_segment(struct flow_table *t, struct flow *f, enum flow_dir d,
			 const struct decoded_pkt *p, uint64_t ts)
{
	struct flow_half *h = &f->half[d];
	uint32_t seq = p->seq;

	if (t->cb.packet)
		t->cb.packet(t->ctx, f->user, d, p->payload_wire_len, p->flags, ts);

	if (p->flags & DECODE_TH_RST) {
		if (h->flags & HALF_VALID) {
			uint32_t ahead = seq - h->next_seq;
			if (ahead > FLOW_RST_AHEAD && 0u - ahead > FLOW_RST_BEHIND) {
				t->c.rst_ignored++;
				return;
			}
		}
		h->flags |= HALF_RST;
		flow_end(t, f, FLOW_END_RST, ts);
		return;
	}
	if (p->flags & DECODE_TH_SYN) {
		if (!(h->flags & HALF_VALID)) {
			h->flags |= HALF_VALID | HALF_SYN;
			h->isn = seq;
			h->next_seq = h->max_end = seq + 1;
		} else if (flow_syn_retry(f, d, p)) {
			/* the first attempt never got anywhere: this one replaces it */
			memset(&f->half[0], 0, sizeof(f->half[0]));
			memset(&f->half[1], 0, sizeof(f->half[1]));
			h->flags = HALF_VALID | HALF_SYN;
			h->isn = seq;
			h->next_seq = h->max_end = seq + 1;
		} else if (!(h->flags & HALF_SYN) || h->isn != seq) {
			return;   /* a SYN of some other connection: nothing in it is ours */
		}
		seq++;
	}
	if (p->payload_wire_len || (p->flags & DECODE_TH_FIN))
		half_segment(t, f, d, seq, p->payload, p->payload_len, p->payload_wire_len,
			     p->flags & DECODE_TH_FIN, ts);
	if (p->flags & DECODE_TH_ACK)
		half_acked(t, f, d == FLOW_C2S ? FLOW_S2C : FLOW_C2S, p->ack, ts);
	half_update_done(&f->half[0]);
	half_update_done(&f->half[1]);
	if (f->half[0].flags & f->half[1].flags & HALF_DONE)
		flow_end(t, f, FLOW_END_FIN, ts);
}

void flow_table_packet(struct flow_table *t, const struct decoded_pkt *p, uint64_t ts_us)
{
	enum flow_dir d = FLOW_C2S;

	t->c.packets++;
	flow_expire_heads(t, ts_us);
	if (!port_watched(t, p->sport) && !port_watched(t, p->dport)) {
		if ((p->flags & (DECODE_TH_SYN | DECODE_TH_ACK)) == DECODE_TH_SYN)
			t->c.flows_ignored++;
		return;
	}
	uint32_t h = flow_hash(t, p);
	struct flow *f = flow_lookup(t, p, h, &d);

	if (f && f->state == FLOW_STATE_CLOSED) {
		if (!flow_closed_restarts(f, d, p)) {
			t->c.late_packets++;
			return;
		}
		t->c.flows_reopened++;
		flow_release(t, f);
		f = NULL;
	} else if (f && (p->flags & (DECODE_TH_SYN | DECODE_TH_ACK | DECODE_TH_RST)) == DECODE_TH_SYN &&
		   flow_any_fin(f) &&
		   !((f->half[d].flags & HALF_SYN) && f->half[d].isn == p->seq)) {
		/* a new connection on a 4-tuple whose last one was ending */
		t->c.flows_reopened++;
		flow_end(t, f, FLOW_END_FIN, ts_us);
		if (f->state == FLOW_STATE_CLOSED)
			flow_release(t, f);
		f = NULL;
	}
	if (!f) {
		/* Only a SYN or data starts a flow: a lone ACK, FIN or RST is the
		 * tail of a connection this table no longer holds. */
		if ((p->flags & DECODE_TH_RST) ||
		    (!(p->flags & DECODE_TH_SYN) && !p->payload_wire_len)) {
			t->c.late_packets++;
			return;
		}
		f = flow_create(t, p, h, ts_us, &d);
		if (!f)
			return;
	} else {
		if (ts_us > f->last_us)
			f->last_us = ts_us;
		lru_unlink(&t->open, f);
		lru_append(&t->open, f);
	}
	if (f->user)
		flow_segment(t, f, d, p, ts_us);
	else
		flow_untracked(t, f, d, p, ts_us);
}

void flow_table_expire(struct flow_table *t, uint64_t now_us)
{
	flow_expire_heads(t, now_us);
}

void flow_table_flush(struct flow_table *t, uint64_t now_us)
{
	while (t->open.head)
		flow_end(t, t->open.head, FLOW_END_SHUTDOWN, now_us);
	while (t->closed.head)
		flow_release(t, t->closed.head);
}

const struct flow_counters *flow_table_counters(const struct flow_table *t)
{
	return &t->c;
}

struct flow_table *flow_table_new(const struct flow_limits *limits,
				  const uint16_t *ports, size_t n_ports,
				  const struct flow_callbacks *cb, void *ctx)
{
	struct flow_table *t;
	uint32_t nb = 16;

	if (!limits || !cb || !cb->open || (n_ports && !ports)) {
		errno = EINVAL;
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		goto fail;
	t->lim = *limits;
	if (t->lim.max_flows < 1)
		t->lim.max_flows = 1;
	t->cb = *cb;
	t->ctx = ctx;
	t->idle_us = (uint64_t)t->lim.idle_timeout_s * US_PER_S;
	t->linger_us = (uint64_t)t->lim.closed_linger_s * US_PER_S;
	for (size_t i = 0; i < n_ports; i++)
		t->watched[ports[i] >> 3] |= (uint8_t)(1u << (ports[i] & 7));
	while (nb < t->lim.max_flows && nb < FLOW_MAX_BUCKETS)
		nb <<= 1;
	t->buckets = calloc(nb, sizeof(*t->buckets));
	if (!t->buckets)
		goto fail;
	t->mask = nb - 1;
	/* No entropy source in pure code: the addresses ASLR gave us are the
	 * seed, enough that a guest cannot precompute colliding tuples. */
	uintptr_t mix[3] = { (uintptr_t)t, (uintptr_t)t->buckets, (uintptr_t)&flow_table_new };
	t->seed = XXH3_64bits(mix, sizeof(mix));
	return t;
fail:
	free(t);
	errno = ENOMEM;
	return NULL;
}

void flow_table_free(struct flow_table *t)
{
	if (!t)
		return;
	for (struct flow *f = t->open.head; f; f = f->lnext) {
		half_free_segs(t, &f->half[0]);
		half_free_segs(t, &f->half[1]);
	}
	for (uint32_t i = 0; i < t->n_slabs; i++)
		free(t->slabs[i]);
	free(t->slabs);
	free(t->buckets);
	free(t);
}
