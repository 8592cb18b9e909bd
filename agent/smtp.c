/* SPDX-License-Identifier: MIT */
/*
 * smtp: incremental SMTP parser for both directions of one session (see
 * smtp.h for the contract).  Runs in the agent process, on the parser side:
 * pure code, no I/O, no logging, no globals.  Guest bytes are hostile: every
 * buffer here is capped by struct smtp_limits, allocated only when a line
 * spans two feeds (or bytes must be held), and freed as soon as it is used.
 * This file is the stream state machine: it assembles lines and decides
 * what they are; what a single line says (verbs, paths, BDAT arguments,
 * reply codes) is parsed by smtp_grammar.c.
 *
 * Client side modes (enum smtp_cmode): command lines; bytes held while a
 * DATA/STARTTLS reply is awaited; DATA content (dot-unstuffing state
 * machine, streamed with memchr, never buffered); BDAT chunk (octet
 * counting); resynchronisation after a gap inside content; TLS.  The server
 * side is always line mode (replies) until TLS.
 *
 * Resynchronisation after a client-side gap (in content, in commands, or
 * while bytes were held behind DATA/STARTTLS): open content is ended with
 * complete=false, then each client line is examined, starting with the
 * bytes right after the gap.  A line "." is taken as the end of lost
 * content (a DATA_END pseudo-command is queued so that its reply matches);
 * a line that is a strictly-formed command (MAIL FROM:/RCPT TO: with a
 * path, HELO/EHLO/LHLO with a single word, DATA, RSET, QUIT, NOOP, STARTTLS
 * without argument, or a valid BDAT) puts the parser back into command
 * mode; every other line is dropped silently.  A gap inside a BDAT chunk
 * only shortens the octet count (the body ends complete=false); a gap that
 * ends exactly on the chunk boundary needs no resynchronisation.  After a
 * server-side gap the rest of the damaged reply line is dropped.  Either
 * way the pending queue is cleared and replies without a command are not
 * reported as unmatched until a reply matches again.
 *
 * Events produced while re-parsing held bytes carry the timestamp of the
 * reply that released them.
 */
#include "smtp.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "smtp_grammar.h"

enum smtp_cmode {
	SMTP_CM_CMD = 0,   /* command lines */
	SMTP_CM_HOLD,      /* waiting for the reply to DATA or STARTTLS */
	SMTP_CM_CONTENT,   /* DATA content, up to the end-of-data line */
	SMTP_CM_CHUNK,     /* BDAT chunk octets */
	SMTP_CM_RESYNC,    /* after a gap in content: looking for "." or a command */
	SMTP_CM_TLS,       /* after STARTTLS 220: opaque */
};

/* DATA content: where we are relative to the start of a line. */
enum smtp_dot {
	SMTP_DOT_BOL = 0,  /* at the first byte of a line */
	SMTP_DOT_DOT,      /* the line started with '.', dot withheld */
	SMTP_DOT_DOTCR,    /* the line is ".\r" so far */
	SMTP_DOT_MID,      /* inside a line */
};

enum smtp_hold_kind { SMTP_HOLD_NONE = 0, SMTP_HOLD_DATA, SMTP_HOLD_STARTTLS };

enum smtp_lr { SMTP_LR_NEED_MORE = 0, SMTP_LR_LINE };

/* Hard bounds on the caller's limits (a bad config must not become a hazard). */
#define SMTP_MIN_LINE     16u
#define SMTP_MAX_LINE     (1u << 24)
#define SMTP_MAX_PENDING  (1u << 20)
#define SMTP_MAX_HELD     (1u << 26)
#define SMTP_PQ_SMALL     8u

/* A line handed out by line_next(): borrowed, valid until line_release(). */
struct smtp_line {
	const uint8_t *p;
	size_t len;                 /* without EOL and trailing CRs, capped at max_line */
	bool truncated;
	bool bare_lf;
	bool eol;                   /* false: flushed without an EOL (finish, client spoke) */
};

/* Per-direction line assembler.  buf exists only while a line spans feeds. */
struct smtp_lines {
	uint8_t *buf;
	uint32_t len;               /* bytes of the partial line kept (<= max_line + 1) */
	uint32_t cap;
	bool overlong;              /* past max_line: buf frozen, bytes dropped up to LF */
	bool last_cr;               /* overlong: last dropped byte was CR */
	bool drop;                  /* after a gap: drop bytes up to and including LF */
	bool bare_lf_seen;          /* SMTP_AN_BARE_LF already raised */
};

struct smtp_pend {
	uint32_t id;
	uint32_t verb;
};

struct smtp {
	struct smtp_limits lim;
	smtp_event_cb cb;
	void *ctx;
	uint64_t now;               /* ts of the call being processed */

	struct smtp_lines ln[2];

	/* client side */
	enum smtp_cmode cmode;
	enum smtp_dot dot;
	uint32_t next_id;
	enum smtp_verb last_verb;
	bool auth_expect;           /* a 334 came: the next client line is AUTH_DATA */
	bool quit_answered;
	bool quit_reported;

	/* message content */
	bool body_open;
	bool body_damaged;          /* a gap hit a BDAT chunk */
	uint64_t body_bytes;
	uint64_t chunk_left;
	bool chunk_last;

	/* bytes held while a DATA/STARTTLS reply is awaited */
	enum smtp_hold_kind hold;
	uint32_t hold_id;
	uint8_t *held;
	uint32_t held_len;
	uint32_t held_cap;
	bool held_dropping;         /* STARTTLS hold overflowed: bytes are discarded */

	/* commands awaiting a reply: ring, inline until it needs to grow */
	struct smtp_pend *pq;
	uint32_t pq_head;
	uint32_t pq_count;
	uint32_t pq_cap;
	struct smtp_pend pq_small[SMTP_PQ_SMALL];

	/* server side: the reply being assembled */
	bool s2c_seen;              /* the server direction delivered a byte */
	bool any_reply;
	bool reply_open;            /* a "ddd-" line came, the final line not yet */
	bool reply_trunc;
	int reply_code;
	uint32_t reply_lines;
	char reply_enh[16];
	uint8_t *rtext;             /* joined text of a multi-line reply */
	uint32_t rtext_len;
	uint32_t rtext_cap;
	uint8_t swallow_eol;        /* 1: skip "\r\n"/"\n" next, 2: CR seen, skip "\n" */

	bool gap_recovery;          /* a gap cleared the queue: unmatched replies expected */
	bool finished;
};

static void client_process(struct smtp *s, const uint8_t *p, size_t n);
static void client_line(struct smtp *s, const struct smtp_line *ln);

static const char *const smtp_anomaly_names[SMTP_AN_COUNT] = {
	[SMTP_AN_LINE_TOO_LONG] = "line_too_long",
	[SMTP_AN_BARE_LF] = "bare_lf",
	[SMTP_AN_NUL_BYTE] = "nul_byte",
	[SMTP_AN_BAD_REPLY] = "bad_reply",
	[SMTP_AN_REPLY_CODE_MISMATCH] = "reply_code_mismatch",
	[SMTP_AN_UNMATCHED_REPLY] = "unmatched_reply",
	[SMTP_AN_PENDING_OVERFLOW] = "pending_overflow",
	[SMTP_AN_STARTTLS_INJECTION] = "starttls_injection",
	[SMTP_AN_BAD_BDAT] = "bad_bdat",
	[SMTP_AN_HELD_OVERFLOW] = "held_overflow",
	[SMTP_AN_GAP] = "gap",
	[SMTP_AN_DATA_AFTER_QUIT] = "data_after_quit",
};

const char *smtp_anomaly_name(enum smtp_anomaly a)
{
	if ((unsigned)a >= SMTP_AN_COUNT)
		return "unknown";
	return smtp_anomaly_names[a];
}

void smtp_limits_default(struct smtp_limits *l)
{
	l->max_line = 8192;
	l->max_reply_text = 4096;
	l->max_pending = 1000;
	l->max_held = 65536;
}

/* ---- small helpers -------------------------------------------------------- */

static void emit(struct smtp *s, struct smtp_event *ev)
{
	ev->ts_us = s->now;
	s->cb(s->ctx, ev);
}

static void anomaly(struct smtp *s, enum smtp_dir dir, enum smtp_anomaly a)
{
	struct smtp_event ev = { .type = SMTP_EV_ANOMALY, .dir = dir };

	ev.u.anomaly = a;
	emit(s, &ev);
}

static void emit_bytes(struct smtp *s, enum smtp_event_type t, enum smtp_dir dir,
		       const uint8_t *p, size_t n)
{
	struct smtp_event ev = { .type = t, .dir = dir };

	if (n == 0)
		return;
	ev.u.data.buf = p;
	ev.u.data.len = n;
	emit(s, &ev);
}

/*
 * Grow *buf (capacity *cap) to hold at least need bytes, never beyond limit.
 * Geometric growth from 128 bytes.  Returns 0 or -ENOMEM (buffer unchanged).
 */
static int buf_reserve(uint8_t **buf, uint32_t *cap, size_t need, size_t limit)
{
	size_t ncap;
	uint8_t *nb;

	if (need <= *cap)
		return 0;
	if (need > limit)
		return -ENOMEM;
	ncap = *cap ? (size_t)*cap * 2 : 128;
	while (ncap < need)
		ncap *= 2;
	if (ncap > limit)
		ncap = limit;
	nb = realloc(*buf, ncap);
	if (!nb)
		return -ENOMEM;
	*buf = nb;
	*cap = (uint32_t)ncap;
	return 0;
}

/* ---- line assembler -------------------------------------------------------- */

/*
 * Make the line view from the kept bytes of a line (at most max_line + 1 of
 * them; overlong: more were dropped).  The one definition used by every
 * path, so that how a line was split never changes what is delivered:
 * trailing CRs are stripped, and the line is truncated when more than
 * max_line bytes precede its trailing CR.
 */
static void line_make(const struct smtp *s, const uint8_t *kept, size_t n, bool overlong,
		      bool cr, bool eol, struct smtp_line *out)
{
	const size_t max = s->lim.max_line;

	out->p = kept ? kept : (const uint8_t *)"";
	out->truncated = overlong || (n > max && kept[max] != '\r');
	while (n > 0 && kept[n - 1] == '\r')
		n--;
	out->len = n > max ? max : n;
	out->bare_lf = eol && !cr;
	out->eol = eol;
}

/*
 * Take the next line of direction dir from [*pp, end).  Returns
 * SMTP_LR_LINE with *out filled (borrowed: points into the input or into the
 * direction's buffer, valid until line_release()) and *pp moved past the LF,
 * or SMTP_LR_NEED_MORE with all input consumed (a partial line is kept, at
 * most max_line + 1 bytes; the rest of an over-long line is dropped and the
 * line is delivered, truncated, when its LF arrives).  A line that lies
 * wholly inside the input is never copied.
 */
static enum smtp_lr line_next(struct smtp *s, enum smtp_dir dir, const uint8_t **pp,
			      const uint8_t *end, struct smtp_line *out)
{
	struct smtp_lines *l = &s->ln[dir];
	const size_t keep = (size_t)s->lim.max_line + 1;  /* +1: a CR before the LF */
	const uint8_t *p = *pp, *nl;
	size_t seg;

	if (l->drop) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			*pp = end;
			return SMTP_LR_NEED_MORE;
		}
		l->drop = false;
		p = nl + 1;
		if (p == end) {
			*pp = end;
			return SMTP_LR_NEED_MORE;
		}
	}
	nl = memchr(p, '\n', (size_t)(end - p));
	seg = (size_t)((nl ? nl : end) - p);
	if (l->len == 0 && !l->overlong && nl) {
		line_make(s, p, seg < keep ? seg : keep, seg > keep,
			  seg > 0 && p[seg - 1] == '\r', true, out);
		*pp = nl + 1;
		return SMTP_LR_LINE;
	}
	if (!l->overlong) {
		size_t take = seg < keep - l->len ? seg : keep - l->len;

		if (take && buf_reserve(&l->buf, &l->cap, l->len + take, keep) < 0) {
			take = 0;               /* out of memory: keep what we have */
			l->overlong = true;
		} else {
			if (take)
				memcpy(l->buf + l->len, p, take);
			l->len += (uint32_t)take;
			if (seg > take)
				l->overlong = true;
		}
	}
	if (l->overlong && seg > 0)
		l->last_cr = p[seg - 1] == '\r';
	if (!nl) {
		*pp = end;
		return SMTP_LR_NEED_MORE;
	}
	line_make(s, l->buf, l->len, l->overlong,
		  l->overlong ? l->last_cr : (l->len > 0 && l->buf[l->len - 1] == '\r'), true, out);
	l->len = 0;             /* the buffer itself lives until line_release() */
	l->overlong = false;
	l->last_cr = false;
	*pp = nl + 1;
	return SMTP_LR_LINE;
}

/*
 * Take the partial line of dir as a line without EOL (the caller then
 * processes *out and calls line_release()).  Returns false when none.
 */
static bool line_take_partial(struct smtp *s, enum smtp_dir dir, struct smtp_line *out)
{
	struct smtp_lines *l = &s->ln[dir];

	if ((!l->len && !l->overlong) || l->drop)
		return false;
	line_make(s, l->buf, l->len, l->overlong, false, false, out);
	l->len = 0;
	l->overlong = false;
	l->last_cr = false;
	return true;
}

/* Free the line buffer of dir unless a partial line is being assembled in it. */
static void line_release(struct smtp *s, enum smtp_dir dir)
{
	struct smtp_lines *l = &s->ln[dir];

	if (l->len || l->overlong)
		return;
	free(l->buf);
	l->buf = NULL;
	l->cap = 0;
}

/* Forget a partial line of dir; with drop, also the bytes up to the next LF. */
static void line_abandon(struct smtp *s, enum smtp_dir dir, bool drop)
{
	struct smtp_lines *l = &s->ln[dir];

	l->len = 0;
	l->overlong = false;
	l->last_cr = false;
	l->drop = drop;
	line_release(s, dir);
}

/* Raise the per-line anomalies for a command or reply line. */
static void line_anomalies(struct smtp *s, enum smtp_dir dir, const struct smtp_line *ln)
{
	if (ln->truncated)
		anomaly(s, dir, SMTP_AN_LINE_TOO_LONG);
	if (ln->eol && ln->bare_lf && !s->ln[dir].bare_lf_seen) {
		s->ln[dir].bare_lf_seen = true;
		anomaly(s, dir, SMTP_AN_BARE_LF);
	}
	if (ln->len && memchr(ln->p, '\0', ln->len))
		anomaly(s, dir, SMTP_AN_NUL_BYTE);
}

/* ---- pending-reply queue --------------------------------------------------- */

static void pq_clear(struct smtp *s)
{
	if (s->pq != s->pq_small)
		free(s->pq);
	s->pq = s->pq_small;
	s->pq_cap = SMTP_PQ_SMALL;
	s->pq_head = 0;
	s->pq_count = 0;
}

/*
 * Queue a command awaiting its reply.  A full queue is cleared (anomaly),
 * as Zeek does, except in a one-sided capture where replies never come and
 * the oldest entry is dropped silently.  A failed grow also drops the oldest.
 */
static void pq_push(struct smtp *s, enum smtp_verb verb, uint32_t id)
{
	if (s->pq_count >= s->lim.max_pending) {
		if (s->s2c_seen) {
			anomaly(s, SMTP_C2S, SMTP_AN_PENDING_OVERFLOW);
			pq_clear(s);
		} else {
			s->pq_head = (s->pq_head + 1) % s->pq_cap;
			s->pq_count--;
		}
	}
	if (s->pq_count == s->pq_cap) {
		uint32_t ncap = s->pq_cap * 2;
		struct smtp_pend *n;

		if (ncap > s->lim.max_pending)
			ncap = s->lim.max_pending;
		n = ncap > s->pq_cap ? malloc(ncap * sizeof(*n)) : NULL;
		if (n) {
			for (uint32_t i = 0; i < s->pq_count; i++)
				n[i] = s->pq[(s->pq_head + i) % s->pq_cap];
			if (s->pq != s->pq_small)
				free(s->pq);
			s->pq = n;
			s->pq_cap = ncap;
			s->pq_head = 0;
		} else {
			s->pq_head = (s->pq_head + 1) % s->pq_cap;
			s->pq_count--;
		}
	}
	s->pq[(s->pq_head + s->pq_count) % s->pq_cap] = (struct smtp_pend){ id, verb };
	s->pq_count++;
}

/* Pop the oldest pending command into *out.  Returns false when empty. */
static bool pq_pop(struct smtp *s, struct smtp_pend *out)
{
	if (s->pq_count == 0)
		return false;
	*out = s->pq[s->pq_head];
	s->pq_head = (s->pq_head + 1) % s->pq_cap;
	if (--s->pq_count == 0)
		pq_clear(s);            /* back to the inline ring */
	return true;
}

/* ---- message content ----------------------------------------------------- */

static void body_begin(struct smtp *s, enum smtp_verb via, uint32_t cmd_id)
{
	struct smtp_event ev = { .type = SMTP_EV_BODY_BEGIN, .dir = SMTP_C2S };

	s->body_open = true;
	s->body_damaged = false;
	s->body_bytes = 0;
	ev.u.body_begin.via = via;
	ev.u.body_begin.cmd_id = cmd_id;
	emit(s, &ev);
}

static void body_end(struct smtp *s, bool complete)
{
	struct smtp_event ev = { .type = SMTP_EV_BODY_END, .dir = SMTP_C2S };

	if (!s->body_open)
		return;
	s->body_open = false;
	ev.u.body_end.complete = complete && !s->body_damaged;
	ev.u.body_end.bytes = s->body_bytes;
	emit(s, &ev);
}

static void body_data(struct smtp *s, const uint8_t *p, size_t n)
{
	if (n == 0)
		return;
	s->body_bytes += n;
	emit_bytes(s, SMTP_EV_BODY_DATA, SMTP_C2S, p, n);
}

/* Emit a command event for a pseudo-command (DATA_END) and queue it. */
static void pseudo_command(struct smtp *s, enum smtp_verb verb, const uint8_t *line, size_t len)
{
	struct smtp_event ev = { .type = SMTP_EV_COMMAND, .dir = SMTP_C2S };
	struct smtp_command *c = &ev.u.cmd;

	c->verb = verb;
	c->id = ++s->next_id;
	c->line = (const char *)line;
	c->line_len = len;
	c->raw_verb = "";
	c->arg = "";
	c->pipelined = s->pq_count > 0 && s->s2c_seen;
	pq_push(s, verb, c->id);
	s->last_verb = verb;
	emit(s, &ev);
}

/* DATA content accepted: content mode from the next client byte. */
static void content_enter(struct smtp *s, uint32_t data_id)
{
	s->cmode = SMTP_CM_CONTENT;
	s->dot = SMTP_DOT_BOL;
	body_begin(s, SMTP_CMD_DATA, data_id);
}

/* The end-of-data line was consumed: close the body, queue DATA_END. */
static void content_done(struct smtp *s)
{
	s->cmode = SMTP_CM_CMD;
	body_end(s, true);
	pseudo_command(s, SMTP_CMD_DATA_END, (const uint8_t *)".", 1);
}

/*
 * DATA content: deliver [p, p+n) dot-unstuffed, line endings as sent, up to
 * the end-of-data line (".\r\n" or ".\n", not delivered).  Returns the
 * number of bytes consumed; when the end-of-data line was consumed the mode
 * is back to commands and the caller goes on with the rest.
 */
static size_t content_scan(struct smtp *s, const uint8_t *p, size_t n)
{
	size_t i = 0, run = 0;   /* [run, i) is pending delivery */

	while (i < n) {
		switch (s->dot) {
		case SMTP_DOT_BOL:
			if (p[i] == '.') {
				body_data(s, p + run, i - run);
				i++;
				run = i;
				s->dot = SMTP_DOT_DOT;
			} else {
				s->dot = SMTP_DOT_MID;
			}
			break;
		case SMTP_DOT_DOT:
			if (p[i] == '\r') {
				i++;
				run = i;
				s->dot = SMTP_DOT_DOTCR;
			} else if (p[i] == '\n') {
				content_done(s);
				return i + 1;
			} else {
				s->dot = SMTP_DOT_MID;  /* the stuffed dot stays dropped */
			}
			break;
		case SMTP_DOT_DOTCR:
			if (p[i] == '\n') {
				content_done(s);
				return i + 1;
			}
			/* ".\r" then more: the CR was content (run == i here) */
			body_data(s, (const uint8_t *)"\r", 1);
			s->dot = SMTP_DOT_MID;
			break;
		case SMTP_DOT_MID: {
			const uint8_t *nl = memchr(p + i, '\n', n - i);

			if (!nl) {
				i = n;
			} else {
				i = (size_t)(nl - p) + 1;
				s->dot = SMTP_DOT_BOL;
			}
			break;
		}
		}
	}
	body_data(s, p + run, i - run);
	return n;
}

/* All octets of the current BDAT chunk arrived. */
static void chunk_done(struct smtp *s)
{
	s->cmode = SMTP_CM_CMD;
	if (s->chunk_last)
		body_end(s, true);
}

/* ---- holding client bytes until a reply decides ------------------------- */

static void hold_begin(struct smtp *s, enum smtp_hold_kind kind, uint32_t id)
{
	s->cmode = SMTP_CM_HOLD;
	s->hold = kind;
	s->hold_id = id;
	s->held_len = 0;
	s->held_dropping = false;
}

/* Detach the held bytes (caller frees *buf) and leave hold mode. */
static void hold_take(struct smtp *s, uint8_t **buf, size_t *len)
{
	*buf = s->held;
	*len = s->held_len;
	s->held = NULL;
	s->held_len = 0;
	s->held_cap = 0;
	s->hold = SMTP_HOLD_NONE;
	s->hold_id = 0;
	s->held_dropping = false;
}

/* Leave hold mode and forget the held bytes. */
static void hold_drop(struct smtp *s)
{
	uint8_t *buf;
	size_t len;

	hold_take(s, &buf, &len);
	free(buf);
}

/* Leave hold mode in mode m and parse the held bytes again in that mode. */
static void hold_replay(struct smtp *s, enum smtp_cmode m)
{
	uint8_t *buf;
	size_t len;

	hold_take(s, &buf, &len);
	s->cmode = m;
	if (len)
		client_process(s, buf, len);
	free(buf);
}

/* STARTTLS was accepted: everything from now on is TLS. */
static void tls_start(struct smtp *s, bool held_is_tls)
{
	struct smtp_event ev = { .type = SMTP_EV_TLS_START, .dir = SMTP_S2C };
	uint8_t *buf;
	size_t len;
	bool dropped = s->held_dropping;

	hold_take(s, &buf, &len);
	s->cmode = SMTP_CM_TLS;
	emit(s, &ev);
	if (held_is_tls)
		emit_bytes(s, SMTP_EV_ENCRYPTED, SMTP_C2S, buf, len);
	else if (len || dropped)
		anomaly(s, SMTP_C2S, SMTP_AN_STARTTLS_INJECTION);
	free(buf);
}

/*
 * Client bytes while a DATA/STARTTLS reply is awaited: keep them, up to
 * max_held.  Returns the number of bytes consumed (the mode may change).
 * Overflow: a DATA hold is resolved as accepted (the client is obviously
 * sending content), a STARTTLS hold starts discarding.  In a one-sided
 * capture STARTTLS is decided by the first byte: a TLS handshake record
 * means it was accepted, anything else means it was refused.
 */
static size_t hold_feed(struct smtp *s, const uint8_t *p, size_t n)
{
	if (s->hold == SMTP_HOLD_STARTTLS && !s->s2c_seen && s->held_len == 0) {
		if (p[0] == 0x16) {
			tls_start(s, true);
		} else {
			hold_drop(s);
			s->cmode = SMTP_CM_CMD;
		}
		return 0;
	}
	if (s->held_dropping)
		return n;
	if (n > s->lim.max_held - s->held_len ||
	    buf_reserve(&s->held, &s->held_cap, s->held_len + n, s->lim.max_held) < 0) {
		anomaly(s, SMTP_C2S, SMTP_AN_HELD_OVERFLOW);
		if (s->hold == SMTP_HOLD_DATA) {
			uint32_t id = s->hold_id;

			content_enter(s, id);
			hold_replay(s, SMTP_CM_CONTENT);
			return 0;       /* the caller goes on in the new mode */
		}
		free(s->held);
		s->held = NULL;
		s->held_cap = 0;
		s->held_len = 0;
		s->held_dropping = true;
		return n;
	}
	memcpy(s->held + s->held_len, p, n);
	s->held_len += (uint32_t)n;
	return n;
}

/* ---- commands -------------------------------------------------------------- */

/*
 * Parse one client command line into *c (zeroed by the caller; pointers
 * borrow from ln): the grammar, plus what the line assembler knows.
 */
static void cmd_parse(const struct smtp_line *ln, struct smtp_command *c)
{
	smtp_grammar_command(ln->p, ln->len, c);
	c->truncated = ln->truncated;
	c->bare_lf = ln->bare_lf && ln->eol;
}

/* After a gap: is this parsed line strictly a command (see file comment)? */
static bool cmd_plausible(const struct smtp_command *c)
{
	switch (c->verb) {
	case SMTP_CMD_MAIL:
	case SMTP_CMD_RCPT:
		return c->addr_valid;
	case SMTP_CMD_HELO:
	case SMTP_CMD_EHLO:
	case SMTP_CMD_LHLO:
		return c->arg_len > 0 && !memchr(c->arg, ' ', c->arg_len) &&
		       !memchr(c->arg, '\t', c->arg_len);
	case SMTP_CMD_DATA:
	case SMTP_CMD_RSET:
	case SMTP_CMD_QUIT:
	case SMTP_CMD_NOOP:
	case SMTP_CMD_STARTTLS:
		return c->arg_len == 0;
	case SMTP_CMD_BDAT:
		return c->bdat_valid;
	default:
		return false;
	}
}

/* ---- replies ---------------------------------------------------------------- */

/* Append one line of reply text to the joined buffer ('\n' between lines), capped. */
static void rtext_add(struct smtp *s, const uint8_t *t, size_t n)
{
	size_t cap = s->lim.max_reply_text;
	bool sep = s->reply_lines > 1;
	size_t want = n + (sep ? 1 : 0);

	if (want > cap - s->rtext_len) {
		want = cap - s->rtext_len;
		s->reply_trunc = true;
	}
	if (want == 0)
		return;
	if (buf_reserve(&s->rtext, &s->rtext_cap, s->rtext_len + want, cap) < 0) {
		s->reply_trunc = true;
		return;
	}
	if (sep) {
		s->rtext[s->rtext_len++] = '\n';
		want--;
	}
	if (want)
		memcpy(s->rtext + s->rtext_len, t, want);
	s->rtext_len += (uint32_t)want;
}

static void rtext_free(struct smtp *s)
{
	free(s->rtext);
	s->rtext = NULL;
	s->rtext_len = 0;
	s->rtext_cap = 0;
}

/* What a complete reply does to the client side. */
static void reply_effects(struct smtp *s, int code, enum smtp_verb answers, uint32_t id)
{
	switch (answers) {
	case SMTP_CMD_DATA:
		if (s->hold == SMTP_HOLD_DATA && s->hold_id == id) {
			if (code == 354) {
				content_enter(s, id);
				hold_replay(s, SMTP_CM_CONTENT);
			} else {
				hold_replay(s, SMTP_CM_CMD);
			}
		}
		break;
	case SMTP_CMD_STARTTLS:
		if (s->hold == SMTP_HOLD_STARTTLS && s->hold_id == id) {
			if (code == 220)
				tls_start(s, false);
			else if (s->held_dropping) {
				hold_drop(s);
				s->cmode = SMTP_CM_CMD;
				line_abandon(s, SMTP_C2S, true);
			} else
				hold_replay(s, SMTP_CM_CMD);
		}
		break;
	case SMTP_CMD_QUIT:
		s->quit_answered = true;
		break;
	default:
		break;
	}
	s->auth_expect = code == 334 &&
			 (answers == SMTP_CMD_AUTH || answers == SMTP_CMD_AUTH_DATA);
}

/*
 * The reply being assembled is complete: match it to the oldest pending
 * command, emit it, then apply its effects.  text/len is the final line's
 * text when the reply had a single line (zero copy).
 */
static void reply_complete(struct smtp *s, const uint8_t *text, size_t len)
{
	struct smtp_event ev = { .type = SMTP_EV_REPLY, .dir = SMTP_S2C };
	struct smtp_reply *r = &ev.u.reply;
	struct smtp_pend pd = { 0, SMTP_CMD_NONE };
	int code = s->reply_code;

	r->code = code;
	memcpy(r->enhanced, s->reply_enh, sizeof(r->enhanced));
	r->lines = s->reply_lines;
	if (s->rtext) {
		r->text = (const char *)s->rtext;
		r->text_len = s->rtext_len;
	} else if (s->reply_lines > 1) {
		r->text = "";   /* joined text was empty or could not be kept */
		r->text_len = 0;
	} else {
		if (len > s->lim.max_reply_text) {
			len = s->lim.max_reply_text;
			s->reply_trunc = true;
		}
		r->text = (const char *)text;
		r->text_len = len;
	}
	r->truncated = s->reply_trunc;
	if (!s->any_reply && (s->pq_count == 0 ||
			      (code == 220 && s->pq[s->pq_head].verb != SMTP_CMD_STARTTLS))) {
		r->greeting = true;
	} else if (pq_pop(s, &pd)) {
		s->gap_recovery = false;
	} else if (code != 421 && !s->gap_recovery) {
		anomaly(s, SMTP_S2C, SMTP_AN_UNMATCHED_REPLY);
	}
	r->answers = (enum smtp_verb)pd.verb;
	r->answers_id = pd.id;
	s->any_reply = true;
	emit(s, &ev);
	rtext_free(s);
	s->reply_open = false;
	s->reply_trunc = false;
	s->reply_lines = 0;
	reply_effects(s, code, (enum smtp_verb)pd.verb, pd.id);
}

/* One server line: "ddd", "ddd text" or "ddd-text". */
static void reply_line(struct smtp *s, const struct smtp_line *ln)
{
	struct smtp_grammar_reply g;

	line_anomalies(s, SMTP_S2C, ln);
	if (!smtp_grammar_reply(ln->p, ln->len, &g)) {
		anomaly(s, SMTP_S2C, SMTP_AN_BAD_REPLY);
		return;
	}
	if (!s->reply_open) {
		s->reply_code = g.code;
		s->reply_lines = 0;
		s->reply_trunc = false;
		smtp_grammar_enhanced(g.text, g.text_len, g.code, s->reply_enh);
	} else if (g.code != s->reply_code) {
		anomaly(s, SMTP_S2C, SMTP_AN_REPLY_CODE_MISMATCH);
	}
	if (s->reply_lines < UINT32_MAX)
		s->reply_lines++;
	if (ln->truncated)
		s->reply_trunc = true;
	if (g.cont) {
		s->reply_open = true;
		rtext_add(s, g.text, g.text_len);
		return;
	}
	if (s->reply_open)
		rtext_add(s, g.text, g.text_len);
	reply_complete(s, g.text, g.text_len);
}

/*
 * The client spoke (a command line): a server line left without its EOL
 * (greeting without CRLF) is taken as complete, if it looks like a reply, and
 * a "ddd-" reply never finished is closed, as the oracle does.  Nothing to
 * do in the common case.
 */
static void server_close_open(struct smtp *s)
{
	struct smtp_lines *l = &s->ln[SMTP_S2C];

	if (s->cmode == SMTP_CM_TLS)
		return;
	if (l->len >= 3 && !l->drop && smtp_grammar_is_reply(l->buf, l->len)) {
		struct smtp_line ln;

		if (line_take_partial(s, SMTP_S2C, &ln)) {
			s->swallow_eol = 1;
			reply_line(s, &ln);
			line_release(s, SMTP_S2C);
		}
	}
	if (s->reply_open)
		reply_complete(s, (const uint8_t *)"", 0);
}

/* ---- the two directions ---------------------------------------------------- */

/* One client line in command mode. */
static void client_line(struct smtp *s, const struct smtp_line *ln)
{
	struct smtp_event ev = { .type = SMTP_EV_COMMAND, .dir = SMTP_C2S };
	struct smtp_command *c = &ev.u.cmd;
	bool one_sided_auth;

	server_close_open(s);
	line_anomalies(s, SMTP_C2S, ln);
	cmd_parse(ln, c);
	one_sided_auth = !s->s2c_seen && c->verb == SMTP_CMD_UNKNOWN &&
			 (s->last_verb == SMTP_CMD_AUTH || s->last_verb == SMTP_CMD_AUTH_DATA);
	if (s->auth_expect || one_sided_auth) {
		/* a SASL response: never a command, whatever it looks like */
		memset(c, 0, sizeof(*c));
		c->verb = SMTP_CMD_AUTH_DATA;
		c->line = (const char *)ln->p;
		c->line_len = ln->len;
		c->raw_verb = "";
		c->arg = (const char *)ln->p;
		c->arg_len = ln->len;
		c->truncated = ln->truncated;
		c->bare_lf = ln->bare_lf && ln->eol;
		s->auth_expect = false;
	}
	/* a BDAT message left open ends with anything but BDAT or NOOP */
	if (s->body_open && c->verb != SMTP_CMD_BDAT && c->verb != SMTP_CMD_NOOP)
		body_end(s, false);
	c->id = ++s->next_id;
	c->pipelined = s->pq_count > 0 && s->s2c_seen;
	pq_push(s, c->verb, c->id);
	s->last_verb = c->verb;
	if (c->verb == SMTP_CMD_BDAT && !c->bdat_valid)
		anomaly(s, SMTP_C2S, SMTP_AN_BAD_BDAT);
	emit(s, &ev);

	switch (c->verb) {
	case SMTP_CMD_DATA:
		if (!s->s2c_seen)
			content_enter(s, c->id);        /* one-sided capture */
		else
			hold_begin(s, SMTP_HOLD_DATA, c->id);
		break;
	case SMTP_CMD_STARTTLS:
		hold_begin(s, SMTP_HOLD_STARTTLS, c->id);
		break;
	case SMTP_CMD_BDAT:
		if (!c->bdat_valid)
			break;
		if (!s->body_open)
			body_begin(s, SMTP_CMD_BDAT, c->id);
		s->chunk_left = c->bdat_size;
		s->chunk_last = c->bdat_last;
		s->cmode = SMTP_CM_CHUNK;
		if (s->chunk_left == 0)
			chunk_done(s);
		break;
	default:
		break;
	}
}

/* One client line while resynchronising after a gap (see file comment). */
static void resync_line(struct smtp *s, const struct smtp_line *ln)
{
	struct smtp_command c;

	if (ln->len == 1 && ln->p[0] == '.') {
		s->cmode = SMTP_CM_CMD;
		pseudo_command(s, SMTP_CMD_DATA_END, ln->p, 1);
		return;
	}
	memset(&c, 0, sizeof(c));
	cmd_parse(ln, &c);
	if (ln->truncated || !cmd_plausible(&c))
		return;
	s->cmode = SMTP_CM_CMD;
	client_line(s, ln);
}

/* Client bytes in whatever mode the client side is in. */
static void client_process(struct smtp *s, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	struct smtp_line ln;

	while (p < end) {
		if (s->quit_answered && s->cmode != SMTP_CM_TLS) {
			/* checked per step: the reply may come while a feed is parsed */
			if (!s->quit_reported) {
				s->quit_reported = true;
				anomaly(s, SMTP_C2S, SMTP_AN_DATA_AFTER_QUIT);
			}
			return;
		}
		switch (s->cmode) {
		case SMTP_CM_TLS:
			emit_bytes(s, SMTP_EV_ENCRYPTED, SMTP_C2S, p, (size_t)(end - p));
			return;
		case SMTP_CM_CMD:
			if (line_next(s, SMTP_C2S, &p, end, &ln) == SMTP_LR_NEED_MORE)
				return;
			client_line(s, &ln);
			line_release(s, SMTP_C2S);
			break;
		case SMTP_CM_RESYNC:
			if (line_next(s, SMTP_C2S, &p, end, &ln) == SMTP_LR_NEED_MORE)
				return;
			resync_line(s, &ln);
			line_release(s, SMTP_C2S);
			break;
		case SMTP_CM_HOLD:
			p += hold_feed(s, p, (size_t)(end - p));
			break;
		case SMTP_CM_CONTENT:
			p += content_scan(s, p, (size_t)(end - p));
			break;
		case SMTP_CM_CHUNK: {
			size_t take = (size_t)(end - p);

			if (take > s->chunk_left)
				take = (size_t)s->chunk_left;
			body_data(s, p, take);
			p += take;
			s->chunk_left -= take;
			if (s->chunk_left == 0)
				chunk_done(s);
			break;
		}
		}
	}
}

/* Server bytes: reply lines until TLS starts. */
static void server_process(struct smtp *s, const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	struct smtp_line ln;

	while (s->swallow_eol && p < end) {
		if (*p == '\n') {
			p++;
			s->swallow_eol = 0;
		} else if (*p == '\r' && s->swallow_eol == 1) {
			p++;
			s->swallow_eol = 2;
		} else {
			s->swallow_eol = 0;
		}
	}
	while (p < end) {
		if (s->cmode == SMTP_CM_TLS) {
			emit_bytes(s, SMTP_EV_ENCRYPTED, SMTP_S2C, p, (size_t)(end - p));
			return;
		}
		if (line_next(s, SMTP_S2C, &p, end, &ln) == SMTP_LR_NEED_MORE)
			return;
		reply_line(s, &ln);
		line_release(s, SMTP_S2C);
	}
}

/* ---- public API -------------------------------------------------------------- */

struct smtp *smtp_new(const struct smtp_limits *limits, smtp_event_cb cb, void *ctx)
{
	struct smtp *s;

	if (!cb)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (limits)
		s->lim = *limits;
	else
		smtp_limits_default(&s->lim);
	if (s->lim.max_line < SMTP_MIN_LINE)
		s->lim.max_line = SMTP_MIN_LINE;
	if (s->lim.max_line > SMTP_MAX_LINE)
		s->lim.max_line = SMTP_MAX_LINE;
	if (s->lim.max_reply_text > SMTP_MAX_LINE)
		s->lim.max_reply_text = SMTP_MAX_LINE;
	if (s->lim.max_pending < 1)
		s->lim.max_pending = 1;
	if (s->lim.max_pending > SMTP_MAX_PENDING)
		s->lim.max_pending = SMTP_MAX_PENDING;
	if (s->lim.max_held > SMTP_MAX_HELD)
		s->lim.max_held = SMTP_MAX_HELD;
	s->cb = cb;
	s->ctx = ctx;
	s->pq = s->pq_small;
	s->pq_cap = SMTP_PQ_SMALL;
	s->cmode = SMTP_CM_CMD;
	return s;
}

void smtp_feed(struct smtp *s, enum smtp_dir dir, const uint8_t *buf, size_t len, uint64_t ts_us)
{
	if (!s || s->finished || !buf || len == 0)
		return;
	s->now = ts_us;
	if (dir == SMTP_S2C) {
		s->s2c_seen = true;
		server_process(s, buf, len);
		return;
	}
	client_process(s, buf, len);
}

/*
 * A gap while client bytes are held: the reply that would decide is unknown
 * (or its context is lost).  A TLS record behind STARTTLS means TLS; anything
 * else is parsed again in resynchronisation mode.
 */
static void gap_resolve_hold(struct smtp *s)
{
	if (s->hold == SMTP_HOLD_STARTTLS && s->held_len > 0 && s->held[0] == 0x16) {
		tls_start(s, true);
		return;
	}
	if (s->held_dropping) {
		hold_drop(s);
		s->cmode = SMTP_CM_RESYNC;
		line_abandon(s, SMTP_C2S, false);
		return;
	}
	hold_replay(s, SMTP_CM_RESYNC);
}

void smtp_gap(struct smtp *s, enum smtp_dir dir, uint64_t len, uint64_t ts_us)
{
	if (!s || s->finished)
		return;
	s->now = ts_us;
	anomaly(s, dir, SMTP_AN_GAP);
	if (s->cmode == SMTP_CM_TLS)
		return;
	pq_clear(s);
	s->gap_recovery = true;
	s->auth_expect = false;
	while (s->cmode == SMTP_CM_HOLD)
		gap_resolve_hold(s);    /* a replay may hold again, on a shorter suffix */
	if (s->cmode == SMTP_CM_TLS)
		return;
	if (dir == SMTP_S2C) {
		line_abandon(s, SMTP_S2C, true);
		rtext_free(s);
		s->reply_open = false;
		s->reply_trunc = false;
		s->reply_lines = 0;
		s->swallow_eol = 0;
		return;
	}
	if (s->body_open)
		s->body_damaged = true;
	switch (s->cmode) {
	case SMTP_CM_CHUNK:
		if (len < s->chunk_left) {
			s->chunk_left -= len;
			return;
		}
		if (len == s->chunk_left) {
			s->chunk_left = 0;
			chunk_done(s);  /* the gap ends on the chunk boundary */
			return;
		}
		body_end(s, false);
		break;
	case SMTP_CM_CONTENT:
		body_end(s, false);
		break;
	default:
		break;
	}
	s->cmode = SMTP_CM_RESYNC;
	line_abandon(s, SMTP_C2S, false);
}

void smtp_finish(struct smtp *s, uint64_t ts_us)
{
	struct smtp_line ln;

	if (!s || s->finished)
		return;
	s->now = ts_us;
	if (s->cmode != SMTP_CM_TLS) {
		/* server first: a partial reply answers a command already queued */
		if (line_take_partial(s, SMTP_S2C, &ln)) {
			reply_line(s, &ln);
			line_release(s, SMTP_S2C);
		}
		if (s->reply_open && s->cmode != SMTP_CM_TLS)
			reply_complete(s, (const uint8_t *)"", 0);
	}
	if (s->cmode == SMTP_CM_HOLD) {
		/* no reply came: content behind DATA is taken as content */
		if (s->hold == SMTP_HOLD_DATA && !s->held_dropping && s->held_len) {
			content_enter(s, s->hold_id);
			hold_replay(s, SMTP_CM_CONTENT);
		} else {
			hold_drop(s);
			s->cmode = SMTP_CM_CMD;
		}
	}
	if (s->cmode == SMTP_CM_CMD && !s->quit_answered && line_take_partial(s, SMTP_C2S, &ln)) {
		client_line(s, &ln);
		line_release(s, SMTP_C2S);
		if (s->cmode == SMTP_CM_HOLD) {
			hold_drop(s);
			s->cmode = SMTP_CM_CMD;
		}
	}
	body_end(s, false);
	s->finished = true;
	for (int d = 0; d < 2; d++) {
		s->ln[d].len = 0;
		s->ln[d].overlong = false;
		line_release(s, (enum smtp_dir)d);
	}
	rtext_free(s);
	free(s->held);
	s->held = NULL;
	s->held_len = s->held_cap = 0;
	pq_clear(s);
}

size_t smtp_memory(const struct smtp *s)
{
	size_t m;

	if (!s)
		return 0;
	m = sizeof(*s) + s->ln[0].cap + s->ln[1].cap + s->held_cap + s->rtext_cap;
	if (s->pq != s->pq_small)
		m += (size_t)s->pq_cap * sizeof(*s->pq);
	return m;
}

void smtp_free(struct smtp *s)
{
	if (!s)
		return;
	free(s->ln[0].buf);
	free(s->ln[1].buf);
	free(s->held);
	free(s->rtext);
	if (s->pq != s->pq_small)
		free(s->pq);
	free(s);
}
