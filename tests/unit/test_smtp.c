/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for agent/smtp.c: command/reply/address/BDAT parsing, DATA
 * dot-unstuffing, holding behind DATA/STARTTLS, gaps, limits, and real
 * transcripts from the corpus (/work/shared/corpus: suricata-verify, Zeek
 * traces, our synthetic Postfix captures), each also fed one byte at a time
 * and in random splits, which must give identical events.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#include "smtp.h"

#define C2S SMTP_C2S
#define S2C SMTP_S2C

struct chunk {
	enum smtp_dir dir;
	const char *s;
	size_t len;
	uint64_t gap;   /* s == NULL: a gap of this many bytes */
};

#define CH(d, str) { d, str, sizeof(str) - 1, 0 }
#define GAP(d, n) { d, NULL, 0, n }
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- event recorder: a text log plus invariant checks ---------------------- */

struct rec {
	char *log;
	size_t len, cap;
	bool with_ts;
	/* consecutive BODY_DATA / ENCRYPTED events are merged in the log */
	int pend;               /* 0, 'B' body, 'E' encrypted */
	enum smtp_dir pend_dir;
	uint64_t pend_n;
	uint32_t pend_fnv;
	uint64_t pend_ts;
	/* invariants */
	bool in_body;
	uint64_t body_seen;
	uint32_t last_id;
	enum smtp_verb verbs[4096];   /* verb of each command id seen */
	bool tls;
	/* collected facts */
	char body[65536];       /* content of the last body */
	size_t body_len;
	int bodies, complete_bodies;
	int codes[512];
	int ncodes;
	int an[SMTP_AN_COUNT];
	int cmds[SMTP_CMD_COUNT];
};

static void rec_printf(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void rec_printf(struct rec *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(r->log + r->len, r->cap - r->len, fmt, ap);
		va_end(ap);
		assert_true(n >= 0);
		if (r->len + (size_t)n < r->cap)
			break;
		r->cap = (r->cap + (size_t)n) * 2 + 256;
		r->log = realloc(r->log, r->cap);
		assert_non_null(r->log);
	}
	r->len += (size_t)n;
}

static void rec_str(struct rec *r, const char *p, size_t n)
{
	rec_printf(r, "[");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 32 && c < 127 && c != '\\')
			rec_printf(r, "%c", c);
		else
			rec_printf(r, "\\x%02x", c);
	}
	rec_printf(r, "]");
}

static void rec_ts(struct rec *r, uint64_t ts)
{
	if (r->with_ts)
		rec_printf(r, " @%llu", (unsigned long long)ts);
	rec_printf(r, "\n");
}

static void rec_flush(struct rec *r)
{
	if (r->pend == 'B')
		rec_printf(r, "BD %llu %08x", (unsigned long long)r->pend_n, r->pend_fnv);
	else if (r->pend == 'E')
		rec_printf(r, "E%c %llu", r->pend_dir == C2S ? 'c' : 's',
			   (unsigned long long)r->pend_n);
	if (r->pend)
		rec_ts(r, r->pend_ts);
	r->pend = 0;
}

static void rec_data(struct rec *r, int kind, const struct smtp_event *ev)
{
	if (r->pend != kind || r->pend_dir != ev->dir) {
		rec_flush(r);
		r->pend = kind;
		r->pend_dir = ev->dir;
		r->pend_n = 0;
		r->pend_fnv = 2166136261u;
	}
	r->pend_ts = ev->ts_us;
	r->pend_n += ev->u.data.len;
	for (size_t i = 0; i < ev->u.data.len; i++)
		r->pend_fnv = (r->pend_fnv ^ ev->u.data.buf[i]) * 16777619u;
}

static void rec_cb(void *ctx, const struct smtp_event *ev)
{
	struct rec *r = ctx;

	switch (ev->type) {
	case SMTP_EV_BODY_DATA:
		assert_true(r->in_body);
		assert_true(ev->u.data.len > 0);
		r->body_seen += ev->u.data.len;
		if (r->body_len + ev->u.data.len <= sizeof(r->body)) {
			memcpy(r->body + r->body_len, ev->u.data.buf, ev->u.data.len);
			r->body_len += ev->u.data.len;
		}
		rec_data(r, 'B', ev);
		return;
	case SMTP_EV_ENCRYPTED:
		assert_true(r->tls);
		rec_data(r, 'E', ev);
		return;
	default:
		break;
	}
	rec_flush(r);
	switch (ev->type) {
	case SMTP_EV_COMMAND: {
		const struct smtp_command *c = &ev->u.cmd;

		assert_int_equal(c->id, r->last_id + 1);
		r->last_id = c->id;
		if (c->id < N(r->verbs))
			r->verbs[c->id] = c->verb;
		r->cmds[c->verb]++;
		rec_printf(r, "C%u %s raw=", c->id, smtp_verb_name(c->verb));
		rec_str(r, c->raw_verb, c->raw_verb_len);
		rec_printf(r, " arg=");
		rec_str(r, c->arg, c->arg_len);
		if (c->verb == SMTP_CMD_MAIL || c->verb == SMTP_CMD_RCPT) {
			if (c->addr_valid) {
				rec_printf(r, " addr=");
				rec_str(r, c->addr, c->addr_len);
				rec_printf(r, " params=");
				rec_str(r, c->params, c->params_len);
			} else {
				rec_printf(r, " addr=-");
			}
		}
		if (c->verb == SMTP_CMD_BDAT) {
			if (c->bdat_valid)
				rec_printf(r, " bdat=%llu%s", (unsigned long long)c->bdat_size,
					   c->bdat_last ? " last" : "");
			else
				rec_printf(r, " bdat=bad");
		}
		if (c->truncated)
			rec_printf(r, " T");
		if (c->bare_lf)
			rec_printf(r, " LF");
		if (c->pipelined)
			rec_printf(r, " P");
		break;
	}
	case SMTP_EV_REPLY: {
		const struct smtp_reply *p = &ev->u.reply;

		assert_true(p->code >= 100 && p->code <= 599);
		assert_true(p->answers_id <= r->last_id);
		if (p->answers_id == 0) {
			assert_int_equal(p->answers, SMTP_CMD_NONE);
		} else if (p->answers_id < N(r->verbs)) {
			assert_int_equal(p->answers, r->verbs[p->answers_id]);
		}
		if (r->ncodes < (int)N(r->codes))
			r->codes[r->ncodes++] = p->code;
		rec_printf(r, "R%d", p->code);
		if (p->enhanced[0])
			rec_printf(r, " e=%s", p->enhanced);
		rec_printf(r, " ans=%s#%u n=%u ", smtp_verb_name(p->answers), p->answers_id, p->lines);
		rec_str(r, p->text, p->text_len);
		if (p->greeting)
			rec_printf(r, " greet");
		if (p->truncated)
			rec_printf(r, " T");
		break;
	}
	case SMTP_EV_BODY_BEGIN:
		assert_false(r->in_body);
		r->in_body = true;
		r->body_seen = 0;
		r->body_len = 0;
		r->bodies++;
		assert_true(ev->u.body_begin.cmd_id <= r->last_id);
		rec_printf(r, "BB %s#%u", smtp_verb_name(ev->u.body_begin.via), ev->u.body_begin.cmd_id);
		break;
	case SMTP_EV_BODY_END:
		assert_true(r->in_body);
		assert_int_equal(ev->u.body_end.bytes, r->body_seen);
		r->in_body = false;
		if (ev->u.body_end.complete)
			r->complete_bodies++;
		rec_printf(r, "BE %s %llu", ev->u.body_end.complete ? "complete" : "incomplete",
			   (unsigned long long)ev->u.body_end.bytes);
		break;
	case SMTP_EV_TLS_START:
		assert_false(r->tls);
		r->tls = true;
		rec_printf(r, "TLS");
		break;
	case SMTP_EV_ANOMALY:
		assert_true(ev->u.anomaly < SMTP_AN_COUNT);
		r->an[ev->u.anomaly]++;
		rec_printf(r, "A %s %c", smtp_anomaly_name(ev->u.anomaly), ev->dir == C2S ? 'c' : 's');
		break;
	default:
		fail();
	}
	rec_ts(r, ev->ts_us);
}

static struct rec *rec_new(bool with_ts)
{
	struct rec *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->with_ts = with_ts;
	r->cap = 4096;
	r->log = malloc(r->cap);
	assert_non_null(r->log);
	r->log[0] = '\0';
	return r;
}

static void rec_free(struct rec *r)
{
	if (r) {
		free(r->log);
		free(r);
	}
}

enum split { SPLIT_WHOLE = 0, SPLIT_BYTES, SPLIT_RANDOM };

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* Feed a transcript (chunk i has ts (i+1)*1000) and finish; returns the recorder. */
static struct rec *run_lim(const struct chunk *ch, size_t n, const struct smtp_limits *lim,
			   enum split mode, uint64_t seed)
{
	struct rec *r = rec_new(true);
	struct smtp *s = smtp_new(lim, rec_cb, r);
	uint64_t x = seed | 1;

	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		uint64_t ts = (i + 1) * 1000;
		size_t off = 0;

		if (!ch[i].s) {
			smtp_gap(s, ch[i].dir, ch[i].gap, ts);
			continue;
		}
		while (off < ch[i].len) {
			size_t k = ch[i].len - off;

			if (mode == SPLIT_BYTES)
				k = 1;
			else if (mode == SPLIT_RANDOM)
				k = 1 + (size_t)(rng_next(&x) % (k < 40 ? k : 40));
			if (k > ch[i].len - off)
				k = ch[i].len - off;
			smtp_feed(s, ch[i].dir, (const uint8_t *)ch[i].s + off, k, ts);
			off += k;
		}
		/* bounded memory at all times */
		assert_true(smtp_memory(s) < 4096 + 2 * (size_t)(lim ? lim->max_line : 8192) +
						 (lim ? lim->max_held : 65536) +
						 (lim ? lim->max_reply_text : 4096) + 8 * 1000);
	}
	smtp_finish(s, (n + 1) * 1000);
	assert_false(r->in_body);
	smtp_free(s);
	rec_flush(r);
	return r;
}

static struct rec *run(const struct chunk *ch, size_t n)
{
	return run_lim(ch, n, NULL, SPLIT_WHOLE, 0);
}

/* Whole, byte-at-a-time and random splits must all give the same log. */
static void check_splits(const struct chunk *ch, size_t n, const struct smtp_limits *lim)
{
	struct rec *a = run_lim(ch, n, lim, SPLIT_WHOLE, 0);
	struct rec *b = run_lim(ch, n, lim, SPLIT_BYTES, 0);

	assert_string_equal(a->log, b->log);
	rec_free(b);
	for (uint64_t seed = 1; seed <= 40; seed++) {
		b = run_lim(ch, n, lim, SPLIT_RANDOM, seed * 7919);
		assert_string_equal(a->log, b->log);
		rec_free(b);
	}
	rec_free(a);
}

static int count_of(const char *hay, const char *needle)
{
	int k = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		k++;
	return k;
}

static void assert_has(const struct rec *r, const char *needle)
{
	if (!strstr(r->log, needle)) {
		fprintf(stderr, "missing: %s\nin log:\n%s", needle, r->log);
		fail();
	}
}

static void assert_codes(const struct rec *r, const int *codes, int n)
{
	assert_int_equal(r->ncodes, n);
	for (int i = 0; i < n; i++)
		assert_int_equal(r->codes[i], codes[i]);
}

/* ---- transcripts from the corpus (extracted with tshark follow,tcp,raw;
 *      client chunks longer than 240 bytes in smtp.pcap / smtp-one-side-only
 *      are shortened in the middle, marked "[...]") ----------------------- */

static const struct chunk t_suri_pipe[] = {
	CH(S2C, "220 Air-de-catena.localdomain ESMTP Postfix\r\n"),
	CH(C2S, "EHLO ehlo.fr\r\n"),
	CH(S2C, "250-Air-de-catena.localdomain\r\n250-PIPELINING\r\n250-SIZE 10485760"
	   "\r\n250-VRFY\r\n250-ETRN\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME"
	   "\r\n250-DSN\r\n250 SMTPUTF8\r\n"),
	CH(C2S, "MAIL FROM:<username@domain.com>\r\nRCPT TO:<john.doe@example.com>\r\nDAT"
	   "A\r\nThis is a test\r\n.\r\n"),
	CH(S2C, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>"
	   "\r\n250 2.0.0 Ok: queued as BCB022014FB060\r\n"),
};
static const struct chunk t_synth_pipe[] = {
	CH(S2C, "220 mx.example.test ESMTP\r\n"),
	CH(C2S, "EHLO guest3.example.test\r\n"),
	CH(S2C, "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY"
	   "\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME"
	   "\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"),
	CH(C2S, "MAIL FROM:<bulk@guest3.example.test>\r\nRCPT TO:<a@example.test>\r\nRCPT"
	   " TO:<unknown@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n"),
	CH(S2C, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <unknown@example.test>: Recipi"
	   "ent address rejected: <unknown@example.test>: Recipient address rejected"
	   ": User unknown in local recipient table\r\n250 2.1.5 Ok\r\n354 End data "
	   "with <CR><LF>.<CR><LF>\r\n"),
	CH(C2S, "From: sender@guest.test\r\nTo: root@example.test\r\nSubject: pipelined o"
	   "ne\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <pipe-1@guest"
	   "3.example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charse"
	   "t=utf-8\r\n\r\nHello.\r\n.\r\n"),
	CH(S2C, "250 2.0.0 Ok: queued as E660911C2E8\r\n"),
	CH(C2S, "RSET\r\nMAIL FROM:<bulk@guest3.example.test>\r\nRCPT TO:<c@example.test>"
	   "\r\nDATA\r\n"),
	CH(S2C, "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><L"
	   "F>.<CR><LF>\r\n"),
	CH(C2S, "From: sender@guest.test\r\nTo: root@example.test\r\nSubject: pipelined t"
	   "wo\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: <pipe-2@guest"
	   "3.example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charse"
	   "t=utf-8\r\n\r\nHello.\r\n.\r\nQUIT\r\n"),
	CH(S2C, "250 2.0.0 Ok: queued as E7A1C11C3D1\r\n221 2.0.0 Bye\r\n"),
};
static const struct chunk t_invalid[] = {
	CH(C2S, "EHLO Bob-PC\r\n"),
	CH(S2C, "220 tinkyx390 ESMTP Exim 4.94.2 Mon, 27 Mar 2023 17:17:37 +0200\r\n250-t"
	   "inkyx390 Hello localhost [127.0.0.1]\r\n250-SIZE 52428800\r\n250-8BITMIM"
	   "E\r\n250-PIPELINING\r\n250-PIPE_CONNECT\r\n250-CHUNKING\r\n250-STARTTLS"
	   "\r\n250-PRDR\r\n250 HELP\r\n"),
	CH(C2S, "MAIL FROM:<bob@example.org>\r\n"),
	CH(S2C, "250 OK\r\n"),
	CH(C2S, "RCPT TO:<alice@example.org>\r\n"),
	CH(S2C, "250 Accepted\r\n"),
	CH(C2S, "DATA\r\n"),
	CH(S2C, "354 Enter message, ending with \".\" on a line by itself\r\n"),
	CH(C2S, "Hello, Alice (1)\r\n"),
	CH(C2S, ".\r\n"),
	CH(S2C, "250 OK id=1pgobK-001mwq-ED\r\n"),
	CH(C2S, "RCPT TO:<alice@example.org>\r\n"),
	CH(S2C, "503 sender not yet given\r\n"),
	CH(C2S, "DATA\r\n"),
	CH(S2C, "503-All RCPT commands were rejected with this error:\r\n503-503 sender n"
	   "ot yet given\r\n503 valid RCPT command must precede DATA\r\n"),
	CH(C2S, "Hello, Alice (2)\r\n"),
	CH(S2C, "500 unrecognized command\r\n"),
	CH(C2S, ".\r\n"),
	CH(S2C, "500 unrecognized command\r\n"),
	CH(C2S, "MAIL FROM:<bob@example.org>\r\n"),
	CH(S2C, "250 OK\r\n"),
	CH(C2S, "DATA\r\n"),
	CH(S2C, "503 valid RCPT command must precede DATA\r\n"),
	CH(C2S, "Hello, Alice (3)\r\n"),
	CH(S2C, "500 unrecognized command\r\n"),
	CH(C2S, ".\r\n"),
	CH(S2C, "500 unrecognized command\r\n"),
	CH(C2S, "DATA\r\n"),
	CH(S2C, "503 valid RCPT command must precede DATA\r\n"),
	CH(C2S, "Hello, Alice (4)\r\n"),
	CH(S2C, "500 unrecognized command\r\n"),
	CH(C2S, ".\r\n"),
	CH(S2C, "500 unrecognized command\r\n"),
	CH(C2S, "MAIL FROM:<bob@example.org>\r\n"),
	CH(S2C, "503 sender already given\r\n"),
	CH(C2S, "RCPT TO:<alice@example.org>\r\n"),
	CH(S2C, "250 Accepted\r\n"),
	CH(C2S, "DATA\r\n"),
	CH(S2C, "354 Enter message, ending with \".\" on a line by itself\r\n"),
	CH(C2S, "Hello, Alice... do you still like me?\r\n"),
	CH(C2S, ".\r\n"),
	CH(S2C, "250 OK id=1pgobM-001mwq-Vc\r\n"),
	CH(C2S, "QUIT\r\n"),
	CH(S2C, "221 tinkyx390 closing connection\r\n"),
};
static const struct chunk t_inject[] = {
	CH(S2C, "220 mx.example.test ESMTP\r\n"),
	CH(C2S, "EHLO guest6.example.test\r\n"),
	CH(S2C, "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY"
	   "\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME"
	   "\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"),
	CH(C2S, "STARTTLS\r\nMAIL FROM:<inject@evil.test>\r\n"),
	CH(S2C, "220 2.0.0 Ready to start TLS\r\n"),
};
static const struct chunk t_synth_bdat[] = {
	CH(S2C, "220 mx.example.test ESMTP\r\n"),
	CH(C2S, "EHLO guest3.example.test\r\n"),
	CH(S2C, "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY"
	   "\r\n250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME"
	   "\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"),
	CH(C2S, "MAIL FROM:<chunky@guest3.example.test> BODY=8BITMIME\r\n"),
	CH(S2C, "250 2.1.0 Ok\r\n"),
	CH(C2S, "RCPT TO:<root@example.test>\r\n"),
	CH(S2C, "250 2.1.5 Ok\r\n"),
	CH(C2S, "BDAT 97\r\nFrom: sender@guest.test\r\nTo: root@example.test\r\nSubject: "
	   "bdat two chunks\r\nDate: Mon, 02 Mar 2026 "),
	CH(S2C, "250 2.0.0 Ok: 97 bytes\r\n"),
	CH(C2S, "BDAT 166 LAST\r\n10:00:00 +0000\r\nMessage-ID: <bdat-1@guest3.example.te"
	   "st>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8"
	   "\r\n\r\nline one\r\n.\r\n.not stuffed in BDAT\r\nlast line\r\n"),
	CH(S2C, "250 2.0.0 Ok: 263 bytes queued as 33A1A11C2D6\r\n"),
	CH(C2S, "MAIL FROM:<chunky@guest3.example.test>\r\nRCPT TO:<root@example.test>"
	   "\r\nBDAT 224 LAST\r\nFrom: sender@guest.test\r\nTo: root@example.test"
	   "\r\nSubject: bdat pipelined\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000"
	   "\r\nMessage-ID: <bdat-2@guest3.example.test>\r\nMIME-Version: 1.0\r\nCon"
	   "tent-Type: text/plain; charset=utf-8\r\n\r\nHello.\r\n"),
	CH(S2C, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: 224 bytes queued as 3414A1"
	   "1C2E9\r\n"),
	CH(C2S, "MAIL FROM:<chunky@guest3.example.test>\r\n"),
	CH(S2C, "250 2.1.0 Ok\r\n"),
	CH(C2S, "RCPT TO:<root@example.test>\r\n"),
	CH(S2C, "250 2.1.5 Ok\r\n"),
	CH(C2S, "BDAT 224\r\nFrom: sender@guest.test\r\nTo: root@example.test\r\nSubject:"
	   " bdat zero last\r\nDate: Mon, 02 Mar 2026 10:00:00 +0000\r\nMessage-ID: "
	   "<bdat-3@guest3.example.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/"
	   "plain; charset=utf-8\r\n\r\nHello.\r\n"),
	CH(S2C, "250 2.0.0 Ok: 224 bytes\r\n"),
	CH(C2S, "BDAT 0 LAST\r\n"),
	CH(S2C, "250 2.0.0 Ok: 224 bytes queued as 35D6411C3D6\r\n"),
	CH(C2S, "QUIT\r\n"),
	CH(S2C, "221 2.0.0 Bye\r\n"),
};
static const struct chunk t_bdat_ex1[] = {
	CH(S2C, "220 example.com ESMTP Postfix (Debian/GNU)\r\n"),
	CH(C2S, "EHLO localhost\r\n"),
	CH(S2C, "250-example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ETRN"
	   "\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN"
	   "\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"),
	CH(C2S, "MAIL FROM:<zeek@localhost>\r\n"),
	CH(S2C, "250 2.1.0 Ok\r\n"),
	CH(C2S, "RCPT TO:<root@localhost>\r\n"),
	CH(S2C, "250 2.1.5 Ok\r\n"),
	CH(C2S, "BDAT 86 LAST\r\n"),
	CH(C2S, "To: Susan@random.com\r\nFrom: Sam@random.com\r\nSubject: This is a bodyl"
	   "ess test message\r\n"),
	CH(S2C, "250 2.0.0 Ok: 86 bytes queued as 1E2891CA025\r\n"),
	CH(C2S, "QUIT\r\n"),
	CH(S2C, "221 2.0.0 Bye\r\n"),
};
static const struct chunk t_bdat_0[] = {
	CH(S2C, "220 example.com ESMTP Postfix (Debian/GNU)\r\n"),
	CH(C2S, "EHLO localhost\r\n"),
	CH(S2C, "250-example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ETRN"
	   "\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN"
	   "\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"),
	CH(C2S, "MAIL FROM:<zeek@localhost>\r\n"),
	CH(S2C, "250 2.1.0 Ok\r\n"),
	CH(C2S, "RCPT TO:<root@localhost>\r\n"),
	CH(S2C, "250 2.1.5 Ok\r\n"),
	CH(C2S, "BDAT 0 LAST\r\n"),
	CH(S2C, "250 2.0.0 Ok: 0 bytes queued as 75A291CA025\r\n"),
	CH(C2S, "QUIT\r\n"),
	CH(S2C, "221 2.0.0 Bye\r\n"),
};
static const struct chunk t_bdat_huge[] = {
	CH(S2C, "220 example.com ESMTP Postfix (Debian/GNU)\r\n"),
	CH(C2S, "EHLO localhost\r\n"),
	CH(S2C, "250-example.com\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-ETRN"
	   "\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN"
	   "\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n"),
	CH(C2S, "MAIL FROM:<zeek@localhost>\r\n"),
	CH(S2C, "250 2.1.0 Ok\r\n"),
	CH(C2S, "RCPT TO:<root@localhost>\r\n"),
	CH(S2C, "250 2.1.5 Ok\r\n"),
	CH(C2S, "BDAT 15555555557777777777 LAST\r\r\n"),
	CH(S2C, "521 5.5.4 Syntax: BDAT count [LAST]\r\n"),
	CH(C2S, "QUIT\r\n"),
};
static const struct chunk t_bdat_gap[] = {
	CH(S2C, "220 mail.example.com ESMTP\r\n"),
	CH(C2S, "EHLO sender.example.com\r\n"),
	CH(S2C, "250-mail.example.com Hello\r\n250-CHUNKING\r\n250 OK\r\n"),
	CH(C2S, "MAIL FROM:<sender@example.com>\r\n"),
	CH(S2C, "250 OK\r\n"),
	CH(C2S, "RCPT TO:<recipient@example.com>\r\n"),
	CH(S2C, "250 OK\r\n"),
	CH(C2S, "BDAT 200\r\n"),
	CH(S2C, "250 OK\r\n"),
	CH(C2S, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	   "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
	CH(S2C, "250 OK\r\n"),
	GAP(C2S, 1000),
	CH(C2S, "DATA\r\n"),
	CH(S2C, "354 End data with <CR><LF>.<CR><LF>\r\n"),
	CH(C2S, "From: sender@example.com\r\nTo: recipient@example.com\r\nSubject: Test"
	   "\r\n\r\nHello!\r\n.\r\n"),
	CH(S2C, "250 OK: message queued\r\n"),
	CH(C2S, "QUIT\r\n"),
	CH(S2C, "221 Bye\r\n"),
};
static const struct chunk t_received[] = {
	CH(S2C, "220 smtpblah.mailserver.xxx.com ESMTP AAAAAAAAA"),
	CH(C2S, "EHLO Simone\r\n"),
	CH(S2C, "250-smtp001.mail.xxx.xxxxx.com\r\n"),
	CH(C2S, "MAIL FROM: <xxxxxx@xxxxx.co.uk>\r\n"),
	CH(S2C, "250 ok\r\n"),
	CH(C2S, "RCPT TO: <xxxxx@aba.com>\r\n"),
	CH(S2C, "250 ok\r\n"),
	CH(C2S, "RCPT TO: <xxxxx@example.com>\r\n"),
	CH(S2C, "250 ok\r\n"),
	CH(C2S, "RCPT TO: <cc0@example.com>\r\n"),
	CH(S2C, "250 ok\r\n"),
	CH(C2S, "RCPT TO: <cc1@example.com>\r\n"),
	CH(S2C, "250 ok\r\n"),
	CH(C2S, "RCPT TO: <cc2@example.com>\r\n"),
	CH(S2C, "250 ok\r\n"),
	CH(C2S, "DATA\r\n"),
	CH(S2C, "354 Start mail input; end with <CRLF>.<CRLF>\r\n"),
	CH(C2S, "Subject: Test Email\r\n"),
	CH(C2S, "Received: from client.local (client.local [10.0.0.1]) by smtp.relay1.com"
	   " with ESMTP id relay1abc; Thu, 10 Apr 2025 12:00:00 -0000\r\n"),
	CH(C2S, "Received: from smtp.relay1.com (smtp.relay1.com [10.0.0.10]) by smtp.rel"
	   "ay2.com with ESMTP id relay2xyz; Thu, 10 Apr 2025 12:01:00 -0000\r\n"),
	CH(C2S, "Received: from smtp.relay2.com (smtp.relay2.com [10.0.0.20]) by smtp.des"
	   "tination.com with ESMTP id final123; Thu, 10 Apr 2025 12:02:00 -0000\r\n"),
	CH(C2S, "From: <xxxxxx@xxxxx.co.uk>\r\n"),
	CH(C2S, "To: <xxxxx@aba.com>, <xxxxx@example.com>\r\n"),
	CH(C2S, "Cc: cc0 <cc0@example.com>, cc1 <cc1@example.com>, cc2 <cc2@example.com>"
	   "\r\n"),
	CH(C2S, "Content-Type: text/plain; charset=UTF-8\r\n"),
	CH(C2S, "\r\n"),
	CH(C2S, "Hello, this is a test email.\r\n"),
	CH(C2S, ".\r\n"),
	CH(S2C, "250 ok: queued as 12345\r\n"),
	CH(C2S, "QUIT\r\n"),
	CH(S2C, "221 smtp001.mail.xxx.xxxxx.com\r\n"),
};
static const struct chunk t_multi_addr[] = {
	CH(S2C, "220 cernmxlb4.cern.ch Microsoft ESMTP MAIL Service ready at Tue, 8 Dec 2"
	   "015 22:31:02 +0100\r\n"),
	CH(C2S, "EHLO gras-os-desk.cern.ch\r\n"),
	CH(S2C, "250-cernmxlb4.cern.ch Hello [188.184.129.157]\r\n250-SIZE 52428800"
	   "\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS"
	   "\r\n250-X-ANONYMOUSTLS\r\n250-AUTH\r\n250-X-EXPS NTLM\r\n250-8BITMIME"
	   "\r\n250-BINARYMIME\r\n250-CHUNKING\r\n250-XEXCH50\r\n250 XSHADOW\r\n"),
	CH(C2S, "MAIL From:<root@gras-os-desk.cern.ch> SIZE=695\r\n"),
	CH(S2C, "250 2.1.0 Sender OK\r\n"),
	CH(C2S, "RCPT To:<jan.grashofer@cern.ch>\r\nDATA\r\n"),
	CH(S2C, "250 2.1.5 Recipient OK\r\n354 Start mail input; end with <CRLF>.<CRLF>"
	   "\r\n"),
	CH(C2S, "Received: from gras-os-desk.cern.ch (localhost [127.0.0.1])\r\n\011by gr"
	   "as-os-desk.cern.ch (8.14.7/8.14.7) with ESMTP id tB8LU1sU014630;"
	   "\r\n\011Tue, 8 Dec 2015 22:30:01 +0100\r\nReceived: (from root@localhost"
	   ")\r\n\011by gras-os-desk.cern.ch (8.14.7/8.14.7/Submit) id tB8LU0vs01462"
	   "9;\r\n\011Tue, 8 Dec 2015 22:30:00 +0100\r\nDate: Tue, 8 Dec 2015 22:30:"
	   "00 +0100\r\nMessage-Id: <201512082130.tB8LU0vs014629@gras-os-desk.cern.c"
	   "h>\r\nTo: \"Jan Grashoefer\" <jan.grashoefer@gmail.com>,\r\n        "
	   "\"Test Group\":addr-spec@example.com, <angle-addr@example.com>,\r\n     "
	   "   \"Test Member\" <name-addr@example.com>;, jan.grashofer@cern.ch"
	   "\r\nFrom: jan.grashoefer@cern.ch (Jan Grashoefer)\r\nSubject: Testmail"
	   "\r\n\r\nThis is a test mail.\r\n"),
	CH(C2S, ".\r\n"),
	CH(S2C, "250 2.6.0 <201512082130.tB8LU0vs014629@gras-os-desk.cern.ch> [InternalId"
	   "=97779625] Queued mail for delivery\r\n"),
	CH(S2C, "451 4.7.0 Timeout waiting for client input\r\n"),
};
static const struct chunk t_auth[] = {
	CH(S2C, "220-xc90.websitewelcome.com ESMTP Exim 4.69 #1 Mon, 05 Oct 2009 01:05:54"
	   " -0500 \r\n220-We do not authorize the use of this system to transport u"
	   "nsolicited, \r\n220 and/or bulk e-mail.\r\n"),
	CH(C2S, "EHLO GP\r\n"),
	CH(S2C, "250-xc90.websitewelcome.com Hello GP [122.162.143.157]\r\n250-SIZE 52428"
	   "800\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250-STARTTLS\r\n250 HEL"
	   "P\r\n"),
	CH(C2S, "AUTH LOGIN\r\n"),
	CH(S2C, "334 VXNlcm5hbWU6\r\n"),
	CH(C2S, "Z3VycGFydGFwQHBhdHJpb3RzLmlu\r\n"),
	CH(S2C, "334 UGFzc3dvcmQ6\r\n"),
	CH(C2S, "cHVuamFiQDEyMw==\r\n"),
	CH(S2C, "235 Authentication succeeded\r\n"),
	CH(C2S, "MAIL FROM: <gurpartap@patriots.in>\r\n"),
	CH(S2C, "250 OK\r\n"),
	CH(C2S, "RCPT TO: <raj_deol2002in@yahoo.co.in>\r\n"),
	CH(S2C, "250 Accepted\r\n"),
	CH(C2S, "DATA\r\n"),
	CH(S2C, "354 Enter message, ending with \".\" on a line by itself\r\n"),
	CH(C2S, "From: \"Gurpartap Singh\" <gurpartap@patriots.in>\r\nTo: <raj_deol2002in"
	   "@yahoo.co.in>\r\nSubject: SMTP\r\nDate: Mon, 5 Oct 2009 [...]\"urn:schem"
	   "as-microsoft-com:vml\" =\r\nxmlns:o=3D\"urn:schemas-microsoft-com:office"
	   ":office\" =\r\nxmlns:w=3D\"urn:schemas-microso"),
	CH(C2S, "ft-com:office:word\" =\r\nxmlns:m=3D\"http://schemas.microsoft.com/offic"
	   "e/2004/12/omml\" =\r\nxmlns=3D\"http://www.w3.org/TR/REC[...]</o:shapela"
	   "yout></xml><![endif]-->\r\n</head>\r\n\r\n<body lang=3DEN-US link=3Dblue"
	   " vlink=3Dpurple>\r\n\r\n<div class=3DSection1>\r"),
	CH(C2S, "\n\r\n<p class=3DMsoNormal>Hello<o:p></o:p></p>\r\n\r\n<p class=3DMsoNor"
	   "mal><o:p>&nbsp;</o:p></p>\r\n\r\n<p class=3DMsoNormal>I sen[...]chine (i"
	   "386, i486, i586, =\r\ni686, pentium, pentium-mmx, pentiumpro, pentium2, "
	   "pentium3, pentium4,=20\r\n    k6, k6-2, k6-3"),
	CH(C2S, ", athlon, athlon-tbird, athlon-4, athlon-xp, =\r\nathlon-mp, winchip-c6,"
	   " winchip2, k8, c3 and c3-2)\r\n  - Enable use of pro[...]low user to spe"
	   "cify an alternate configuration file in Environment =\r\nOptions=20"
	   "\r\n  (still can be overriden by using \"-c"),
	CH(C2S, "\" command line parameter).\r\n* Lots of bug fixes.\r\n\r\nVersion 4.9.8"
	   ".1\r\n* When creating a DLL, the created static lib respe[...]ams\" in T"
	   "ools/Environment Options (for units =\r\n\"Open with\")\r\n* Added \"Ope"
	   "n with\" in project units context menu\r\n* Added"),
	CH(C2S, " \"Classes\" toolbar\r\n* Fixed pre-compilation dependency checks to wor"
	   "k correctly\r\n* Added new file menu entry: Save Proje[...]4.9.7.0"
	   "\r\n* Allow customizing of per-unit compile command in projects\r\n* Add"
	   "ed two new macros: <DATE> and <DATETIME>\r\n* A"),
	CH(C2S, "dded support for macros in the \"default source code\" (Tools/Editor ="
	   "\r\nOptions/Code)\r\n* Separated layout info from projec[...]g, for debu"
	   "gging and executing DLLs =\r\nunder Dev-C++.\r\n* New class browser opti"
	   "on: \"Show inherited members\"\r\n* Added sup"),
	CH(C2S, "port for the '::' member access operator in code-completion\r\n* Added *"
	   "working* function arguments hint\r\n* Added bracket [...]cause of many e"
	   "rrors (although it should be fixed by now), we are =\r\ngiving the"
	   "\r\n  user the option to disable this featu"),
	CH(C2S, "re.\r\n* New option in Editor Options (code-completion): Use code-comple"
	   "tion =\r\ncache.\r\n  Well, it adds caching to code-co[...]he bug report"
	   "!\r\n* Added new WebUpdate module (inactive temporarily).\r\n* Added new"
	   " code for code-completion caching of fi"),
	CH(C2S, "les (disabled - work =\r\nin progress).\r\n\r\nVersion 4.9.5.2\r\n* Adde"
	   "d new option in class-browser: Use colors\r\n  (available [...] gcc 2.95"
	   ".3\r\n* Profiling support\r\n* new update/packages checker (vUpdate)"
	   "\r\n* Lots of bugfixes\r\n\r\n------=_NextPart_000_00"),
	CH(C2S, "04_01CA45B0.095693F0--\r\n\r\n.\r\n"),
	CH(S2C, "250 OK id=1Mugho-0003Dg-Un\r\n"),
	CH(C2S, "QUIT\r\n"),
	CH(S2C, "221 xc90.websitewelcome.com closing connection\r\n"),
};
static const struct chunk t_one_side[] = {
	CH(C2S, "ehlo enzo.icir.org\r\n"),
	CH(C2S, "mail FROM:<robin@icir.org> size=9030\r\n"),
	CH(C2S, "rcpt TO:<robin@icir.org>\r\n"),
	CH(C2S, "data\r\n"),
	CH(C2S, "From: robin@icir.org\r\nTo: robin@icir.org\r\nSubject: Hello1!\r\nXXXXXX"
	   "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX[...]XXXXXXXXXXXXX"
	   "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\nXXXXXXXXXXXXXXXXXXXXXXX"
	   "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
	CH(C2S, "X\r\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	   "\r\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX[...]XXXXXX"
	   "\r\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\nThi"
	   "s message was sent with Python's smtplib.\r\n.\r\n"),
	CH(C2S, "mail FROM:<robin@icir.org> size=9031\r\n"),
	CH(C2S, "rcpt TO:<rsommer@lbl.gov>\r\n"),
	CH(C2S, "data\r\n"),
	CH(C2S, "From: robin@icir.org\r\nTo: rsommer@lbl.gov\r\nSubject: Hello2!\r\nXXXXX"
	   "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX[...]XXXXXXXXXXXXX"
	   "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\nXXXXXXXXXXXXXXXXXXXXXXXXXX"
	   "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\n"),
	CH(C2S, "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\nXXXXXXX"
	   "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX[...]XXXXXXXXXXXXXXXXX"
	   "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\nXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	   "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
	CH(C2S, "\r\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\nXXX"
	   "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX[...]XXXXXXXXXXXXXXX"
	   "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\nXXXXXXXXXXXXXXXXXXXXXXXX"
	   "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"),
	CH(C2S, "XX\r\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
	   "\r\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX[...]XXXXXX"
	   "\r\nXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\r\nThi"
	   "s message was sent with Python's smtplib.\r\n.\r\n"),
	CH(C2S, "quit\r\n"),
};

/* ---- helpers for synthetic sessions ---------------------------------------- */

/* Feed one string to a fresh parser per direction spec "C:..." / "S:..." items. */
static struct rec *run_strs(const char *const *items, size_t n, const struct smtp_limits *lim)
{
	struct chunk ch[64];

	assert_true(n <= N(ch));
	for (size_t i = 0; i < n; i++) {
		ch[i].dir = items[i][0] == 'S' ? S2C : C2S;
		ch[i].s = items[i] + 2;
		ch[i].len = strlen(items[i] + 2);
		ch[i].gap = 0;
		if (items[i][0] == 'G') {
			ch[i].dir = items[i][1] == 'S' ? S2C : C2S;
			ch[i].s = NULL;
			ch[i].len = 0;
			ch[i].gap = strtoull(items[i] + 2, NULL, 10);
		}
	}
	check_splits(ch, n, lim);
	return run_lim(ch, n, lim, SPLIT_WHOLE, 0);
}

/* One client line on a one-sided parser: the parsed command's log line. */
static struct rec *one_cmd(const char *line)
{
	const char *items[] = { line };

	return run_strs(items, 1, NULL);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_names(void **state)
{
	assert_string_equal(smtp_verb_name(SMTP_CMD_DATA_END), "DATA_END");
	assert_string_equal(smtp_verb_name(SMTP_CMD_XCLIENT), "XCLIENT");
	assert_string_equal(smtp_verb_name(SMTP_CMD_COUNT), "UNKNOWN");
	for (int v = 0; v < SMTP_CMD_COUNT; v++)
		assert_non_null(smtp_verb_name((enum smtp_verb)v));
	assert_string_equal(smtp_anomaly_name(SMTP_AN_STARTTLS_INJECTION), "starttls_injection");
	assert_string_equal(smtp_anomaly_name(SMTP_AN_LINE_TOO_LONG), "line_too_long");
	assert_string_equal(smtp_anomaly_name(SMTP_AN_BAD_BDAT), "bad_bdat");
	assert_string_equal(smtp_anomaly_name(SMTP_AN_UNMATCHED_REPLY), "unmatched_reply");
	for (int a = 0; a < SMTP_AN_COUNT; a++)
		assert_non_null(smtp_anomaly_name((enum smtp_anomaly)a));
	struct smtp_limits l;
	smtp_limits_default(&l);
	assert_int_equal(l.max_line, 8192);
	assert_int_equal(l.max_reply_text, 4096);
	assert_int_equal(l.max_pending, 1000);
	assert_int_equal(l.max_held, 65536);
	assert_null(smtp_new(&l, NULL, NULL));
	smtp_free(NULL);
	assert_int_equal(smtp_memory(NULL), 0);
}

static const struct {
	const char *line;
	const char *expect;
} cmd_cases[] = {
	{ "C:EHLO mx.example.org\r\n", "C1 EHLO raw=[EHLO] arg=[mx.example.org]" },
	{ "C:ehlo   spaced.example  \r\n", "C1 EHLO raw=[ehlo] arg=[spaced.example]" },
	{ "C:HELO\r\n", "C1 HELO raw=[HELO] arg=[]" },
	{ "C:LHLO lmtp\r\n", "C1 LHLO raw=[LHLO] arg=[lmtp]" },
	{ "C:MAIL FROM: <a@b>\r\n", "C1 MAIL raw=[MAIL FROM: ] arg=[<a@b>] addr=[a@b] params=[]" },
	{ "C:mail from:<a@b> SIZE=10\r\n",
	  "C1 MAIL raw=[mail from:] arg=[<a@b> SIZE=10] addr=[a@b] params=[SIZE=10]" },
	{ "C:MAIL FROM:<>\r\n", "C1 MAIL raw=[MAIL FROM:] arg=[<>] addr=[] params=[]" },
	{ "C:MAIL FROM:<> BODY=8BITMIME\r\n",
	  "C1 MAIL raw=[MAIL FROM:] arg=[<> BODY=8BITMIME] addr=[] params=[BODY=8BITMIME]" },
	{ "C:MAIL FROM:a@b SIZE=1\r\n", "C1 MAIL raw=[MAIL FROM:] arg=[a@b SIZE=1] addr=[a@b] params=[SIZE=1]" },
	{ "C:MAIL  From : <x@y>\r\n", "C1 MAIL raw=[MAIL  From : ] arg=[<x@y>] addr=[x@y] params=[]" },
	{ "C:MAIL <x@y>\r\n", "C1 MAIL raw=[MAIL] arg=[<x@y>] addr=-" },
	{ "C:MAIL FROM:\r\n", "C1 MAIL raw=[MAIL FROM:] arg=[] addr=-" },
	{ "C:MAIL FROM:<\r\n", "C1 MAIL raw=[MAIL FROM:] arg=[<] addr=-" },
	{ "C:MAIL FROM:<a@b\r\n", "C1 MAIL raw=[MAIL FROM:] arg=[<a@b] addr=[a@b] params=[]" },
	{ "C:RCPT TO:<@relay.example,@r2.example:a@b>\r\n",
	  "C1 RCPT raw=[RCPT TO:] arg=[<@relay.example,@r2.example:a@b>] addr=[a@b] params=[]" },
	{ "C:RCPT TO:<a@b> ORCPT=rfc822;a@b NOTIFY=NEVER\r\n",
	  "C1 RCPT raw=[RCPT TO:] arg=[<a@b> ORCPT=rfc822;a@b NOTIFY=NEVER] addr=[a@b] "
	  "params=[ORCPT=rfc822;a@b NOTIFY=NEVER]" },
	{ "C:RCPT TO:<\"john doe\"@example.org>\r\n",
	  "C1 RCPT raw=[RCPT TO:] arg=[<\"john doe\"@example.org>] addr=[\"john doe\"@example.org] params=[]" },
	{ "C:RCPT TO:<\"a>b\\\"c\"@x>  P=1 \r\n",
	  "C1 RCPT raw=[RCPT TO:] arg=[<\"a>b\\x5c\"c\"@x>  P=1] addr=[\"a>b\\x5c\"c\"@x] params=[P=1]" },
	{ "C:RCPT TO: \"john doe\"@x.org\r\n",
	  "C1 RCPT raw=[RCPT TO: ] arg=[\"john doe\"@x.org] addr=[\"john doe\"@x.org] params=[]" },
	{ "C:rcpt to:<J\xc3\xb6rg@b\xc3\xbc.de>\r\n",
	  "C1 RCPT raw=[rcpt to:] arg=[<J\\xc3\\xb6rg@b\\xc3\\xbc.de>] addr=[J\\xc3\\xb6rg@b\\xc3\\xbc.de] params=[]" },
	{ "C:RSET\r\n", "C1 RSET raw=[RSET] arg=[]" },
	{ "C:noop hello\r\n", "C1 NOOP raw=[noop] arg=[hello]" },
	{ "C:VRFY root\r\n", "C1 VRFY raw=[VRFY] arg=[root]" },
	{ "C:EXPN list\r\n", "C1 EXPN raw=[EXPN] arg=[list]" },
	{ "C:HELP\r\n", "C1 HELP raw=[HELP] arg=[]" },
	{ "C:ETRN example.org\r\n", "C1 ETRN raw=[ETRN] arg=[example.org]" },
	{ "C:XCLIENT ADDR=1.2.3.4\r\n", "C1 XCLIENT raw=[XCLIENT] arg=[ADDR=1.2.3.4]" },
	{ "C:AUTH PLAIN AGZvbwBiYXI=\r\n", "C1 AUTH raw=[AUTH] arg=[PLAIN AGZvbwBiYXI=]" },
	{ "C:Quit\r\n", "C1 QUIT raw=[Quit] arg=[]" },
	{ "C:FOO bar\r\n", "C1 UNKNOWN raw=[FOO] arg=[bar]" },
	{ "C:MAILFROM:<a@b>\r\n", "C1 UNKNOWN raw=[MAILFROM:<a@b>] arg=[]" },
	{ "C:\r\n", "C1 UNKNOWN raw=[] arg=[]" },
	{ "C:QUIT\n", "C1 QUIT raw=[QUIT] arg=[] LF" },
	{ "C:QUIT\r\r\n", "C1 QUIT raw=[QUIT] arg=[] @" },
	{ "C:BDAT 86 LAST\r\n", "C1 BDAT raw=[BDAT] arg=[86 LAST] bdat=86 last" },
	{ "C:bdat 86 last\r\n", "C1 BDAT raw=[bdat] arg=[86 last] bdat=86 last" },
	{ "C:BDAT 0\r\n", "C1 BDAT raw=[BDAT] arg=[0] bdat=0 @" },
	{ "C:BDAT 9223372036854775807\r\n", "bdat=9223372036854775807 @" },
	{ "C:BDAT 9223372036854775808\r\n", "bdat=bad" },
	{ "C:BDAT 18446744073709551615 LAST\r\n", "bdat=bad" },
	{ "C:BDAT 184467440737095516150\r\n", "bdat=bad" },
	{ "C:BDAT  86\r\n", "bdat=bad" },
	{ "C:BDAT 86LAST\r\n", "bdat=bad" },
	{ "C:BDAT 86 LASTX\r\n", "bdat=bad" },
	{ "C:BDAT 86 SCRAMBLE\r\n", "bdat=bad" },
	{ "C:BDAT -1 LAST\r\n", "bdat=bad" },
	{ "C:BDAT\r\n", "bdat=bad" },
	{ "C:BDAT 86 LAST\r\r\n", "bdat=86 last" },
};

static void test_command_parsing(void **state)
{
	for (size_t i = 0; i < N(cmd_cases); i++) {
		struct rec *r = one_cmd(cmd_cases[i].line);

		assert_has(r, cmd_cases[i].expect);
		rec_free(r);
	}
	/* a bad BDAT is an anomaly, and the bytes after it are commands again */
	const char *items[] = { "S:220 x\r\n", "C:BDAT 5 X\r\nQUIT\r\n", "S:501 no\r\n221 bye\r\n" };
	struct rec *r = run_strs(items, N(items), NULL);
	assert_int_equal(r->an[SMTP_AN_BAD_BDAT], 1);
	assert_int_equal(r->bodies, 0);
	assert_has(r, "C2 QUIT");
	assert_has(r, "R221 ans=QUIT#2");
	rec_free(r);
}

static void test_replies(void **state)
{
	const char *items[] = {
		"S:220-first line\r\n220-second\r\n220 3.\r\n",
		"C:EHLO a\r\n",
		"S:250-mx\r\n250-PIPELINING\r\n250 SIZE 100\r\n",
		"C:MAIL FROM:<a@b>\r\n",
		"S:250 2.1.0 Ok\r\n",
		"C:RCPT TO:<c@d>\r\n",
		"S:550-5.1.1 no such\r\n551 5.1.1 user\r\n",
		"C:NOOP\r\n",
		"S:250\r\n",
		"C:NOOP\r\n",
		"S:hello there\r\n25\r\n2500 x\r\n250 4.4.44 x\r\n",
		"C:NOOP\r\n",
		"S:250 2.0.0\r\n",
		"S:421 4.4.2 shutting down\r\n",
		"S:451 4.7.0 Timeout\r\n",
	};
	struct rec *r = run_strs(items, N(items), NULL);

	assert_has(r, "R220 ans=NONE#0 n=3 [first line\\x0asecond\\x0a3.] greet @1000");
	assert_has(r, "R250 ans=EHLO#1 n=3 [mx\\x0aPIPELINING\\x0aSIZE 100]");
	assert_has(r, "R250 e=2.1.0 ans=MAIL#2 n=1 [2.1.0 Ok]");
	assert_has(r, "A reply_code_mismatch s");
	assert_has(r, "R550 e=5.1.1 ans=RCPT#3 n=2 [5.1.1 no such\\x0a5.1.1 user]");
	assert_has(r, "R250 ans=NOOP#4 n=1 []");
	assert_int_equal(r->an[SMTP_AN_BAD_REPLY], 3);
	assert_has(r, "R250 ans=NOOP#5 n=1 [4.4.44 x]");   /* class differs: not enhanced */
	assert_has(r, "R250 e=2.0.0 ans=NOOP#6 n=1 [2.0.0]");
	assert_has(r, "R421 e=4.4.2 ans=NONE#0");
	assert_has(r, "R451 e=4.7.0 ans=NONE#0");
	assert_int_equal(r->an[SMTP_AN_UNMATCHED_REPLY], 1);  /* the 451, not the 421 */
	rec_free(r);
}

static void test_reply_caps(void **state)
{
	struct smtp_limits lim;
	char big[200];

	smtp_limits_default(&lim);
	lim.max_line = 64;
	lim.max_reply_text = 20;
	memset(big, 'x', sizeof(big));
	big[0] = 'S';
	big[1] = ':';
	memcpy(big + 2, "250 ", 4);
	memcpy(big + sizeof(big) - 3, "\r\n", 3);
	const char *items[] = { "S:220-aaaaaaaaaaaa\r\n220-bbbbbbbbbbbbbbbbb\r\n220 c\r\n",
				"C:NOOP\r\n", big };
	struct rec *r = run_strs(items, N(items), &lim);

	assert_has(r, "R220 ans=NONE#0 n=3 [aaaaaaaaaaaa\\x0abbbbbbb] greet T");
	assert_has(r, "A line_too_long s");
	assert_has(r, "R250 ans=NOOP#1 n=1 [xxxxxxxxxxxxxxxxxxxx] T");
	rec_free(r);
}

static void test_greeting_without_crlf(void **state)
{
	struct rec *r = run(t_received, N(t_received));
	static const int codes[] = { 220, 250, 250, 250, 250, 250, 250, 250, 354, 250, 221 };

	assert_codes(r, codes, N(codes));
	assert_has(r, "R220 ans=NONE#0 n=1 [smtpblah.mailserver.xxx.com ESMTP AAAAAAAAA] greet");
	assert_has(r, "R250 ans=EHLO#1 n=1 [smtp001.mail.xxx.xxxxx.com]");
	assert_has(r, "R250 ans=MAIL#2");
	assert_has(r, "R250 ans=DATA_END#");
	assert_int_equal(r->complete_bodies, 1);
	assert_has(r, "BE complete 648");   /* the oracle's byte count */
	assert_int_equal(r->an[SMTP_AN_BAD_REPLY], 0);
	check_splits(t_received, N(t_received), NULL);
	rec_free(r);
}

static void test_suricata_pipelining(void **state)
{
	struct rec *r = run(t_suri_pipe, N(t_suri_pipe));

	assert_string_equal(r->log,
		"R220 ans=NONE#0 n=1 [Air-de-catena.localdomain ESMTP Postfix] greet @1000\n"
		"C1 EHLO raw=[EHLO] arg=[ehlo.fr] @2000\n"
		"R250 ans=EHLO#1 n=9 [Air-de-catena.localdomain\\x0aPIPELINING\\x0aSIZE 10485760"
		"\\x0aVRFY\\x0aETRN\\x0aENHANCEDSTATUSCODES\\x0a8BITMIME\\x0aDSN\\x0aSMTPUTF8] @3000\n"
		"C2 MAIL raw=[MAIL FROM:] arg=[<username@domain.com>] addr=[username@domain.com] params=[] @4000\n"
		"C3 RCPT raw=[RCPT TO:] arg=[<john.doe@example.com>] addr=[john.doe@example.com] params=[] P @4000\n"
		"C4 DATA raw=[DATA] arg=[] P @4000\n"
		"R250 e=2.1.0 ans=MAIL#2 n=1 [2.1.0 Ok] @5000\n"
		"R250 e=2.1.5 ans=RCPT#3 n=1 [2.1.5 Ok] @5000\n"
		"R354 ans=DATA#4 n=1 [End data with <CR><LF>.<CR><LF>] @5000\n"
		"BB DATA#4 @5000\n"
		"BD 16 934d61a7 @5000\n"
		"BE complete 16 @5000\n"
		"C5 DATA_END raw=[] arg=[] @5000\n"
		"R250 e=2.0.0 ans=DATA_END#5 n=1 [2.0.0 Ok: queued as BCB022014FB060] @5000\n");
	assert_int_equal(r->body_len, 16);
	assert_memory_equal(r->body, "This is a test\r\n", 16);
	check_splits(t_suri_pipe, N(t_suri_pipe), NULL);
	rec_free(r);
}

static void test_synth_pipelining(void **state)
{
	struct rec *r = run(t_synth_pipe, N(t_synth_pipe));
	static const int codes[] = { 220, 250, 250, 250, 550, 250, 354, 250, 250, 250, 250, 354, 250, 221 };

	assert_codes(r, codes, N(codes));
	assert_int_equal(r->complete_bodies, 2);
	assert_int_equal(count_of(r->log, "BE complete 223"), 2);   /* oracle: 223 bytes each */
	assert_has(r, "R550 e=5.1.1 ans=RCPT#4");
	assert_has(r, "C7 DATA_END");
	assert_has(r, "C8 RSET raw=[RSET] arg=[] @");
	assert_has(r, "C9 MAIL raw=[MAIL FROM:] arg=[<bulk@guest3.example.test>] addr=[bulk@guest3.example.test] params=[] P");
	assert_has(r, "C12 DATA_END");
	assert_has(r, "C13 QUIT raw=[QUIT] arg=[] P");
	assert_has(r, "R250 e=2.0.0 ans=DATA_END#12");
	assert_has(r, "R221 e=2.0.0 ans=QUIT#13");
	for (int a = 0; a < SMTP_AN_COUNT; a++)
		assert_int_equal(r->an[a], 0);
	check_splits(t_synth_pipe, N(t_synth_pipe), NULL);
	rec_free(r);
}

static void test_rejected_data(void **state)
{
	struct rec *r = run(t_invalid, N(t_invalid));
	/* oracle-out/stream: the client spoke before the greeting; rejected DATA
	 * bodies are commands answered by 500 */
	static const int codes[] = { 220, 250, 250, 250, 354, 250, 503, 503, 500, 500, 250,
				     503, 500, 500, 503, 500, 500, 503, 250, 354, 250, 221 };

	assert_codes(r, codes, N(codes));
	assert_has(r, "R220 ans=NONE#0 n=1 [tinkyx390 ESMTP Exim 4.94.2 Mon, 27 Mar 2023 17:17:37 +0200] greet");
	assert_has(r, "R250 ans=EHLO#1 n=9");
	assert_int_equal(r->bodies, 2);
	assert_int_equal(r->complete_bodies, 2);
	assert_has(r, "BE complete 18");
	assert_has(r, "BE complete 39");
	assert_has(r, "R503 ans=DATA#7 n=3 [All RCPT commands were rejected with this error:\\x0a"
		      "503 sender not yet given\\x0avalid RCPT command must precede DATA]");
	assert_has(r, "C8 UNKNOWN raw=[Hello,] arg=[Alice (2)]");
	assert_has(r, "R500 ans=UNKNOWN#8");
	assert_has(r, "C9 UNKNOWN raw=[.] arg=[]");
	assert_has(r, "R500 ans=UNKNOWN#9");
	assert_int_equal(r->cmds[SMTP_CMD_DATA_END], 2);
	assert_int_equal(r->an[SMTP_AN_UNMATCHED_REPLY], 0);
	check_splits(t_invalid, N(t_invalid), NULL);
	rec_free(r);
}

static void test_starttls_injection(void **state)
{
	struct rec *r = run(t_inject, N(t_inject));

	assert_string_equal(r->log,
		"R220 ans=NONE#0 n=1 [mx.example.test ESMTP] greet @1000\n"
		"C1 EHLO raw=[EHLO] arg=[guest6.example.test] @2000\n"
		"R250 ans=EHLO#1 n=11 [mx.example.test\\x0aPIPELINING\\x0aSIZE 10240000\\x0aVRFY"
		"\\x0aETRN\\x0aSTARTTLS\\x0aENHANCEDSTATUSCODES\\x0a8BITMIME\\x0aDSN\\x0aSMTPUTF8"
		"\\x0aCHUNKING] @3000\n"
		"C2 STARTTLS raw=[STARTTLS] arg=[] @4000\n"
		"R220 e=2.0.0 ans=STARTTLS#2 n=1 [2.0.0 Ready to start TLS] @5000\n"
		"TLS @5000\n"
		"A starttls_injection c @5000\n");
	assert_int_equal(r->cmds[SMTP_CMD_MAIL], 0);
	check_splits(t_inject, N(t_inject), NULL);
	rec_free(r);
}

static void test_starttls_paths(void **state)
{
	/* accepted: both directions become opaque, even bytes that look like SMTP */
	const char *ok[] = { "S:220 x\r\n", "C:EHLO a\r\n", "S:250 x\r\n", "C:STARTTLS\r\n",
			     "S:220 go\r\n\x16\x03\x03", "C:\x16\x03\x01\x01\x05hello",
			     "S:250 not a reply\r\n", "C:QUIT\r\n" };
	struct rec *r = run_strs(ok, N(ok), NULL);

	assert_has(r, "R220 ans=STARTTLS#2 n=1 [go] @5000\nTLS @5000\nEs 3 @5000\nEc 10 @6000\n"
		      "Es 17 @7000\nEc 6 @8000\n");
	assert_int_equal(r->an[SMTP_AN_STARTTLS_INJECTION], 0);
	rec_free(r);

	/* refused: the held commands are parsed after the reply */
	const char *no[] = { "S:220 x\r\n", "C:STARTTLS\r\nMAIL FROM:<a@b>\r\n",
			     "C:RCPT TO:<c@d>\r\n", "S:454 4.7.0 TLS not available\r\n",
			     "S:250 ok\r\n250 ok\r\n" };
	r = run_strs(no, N(no), NULL);
	assert_has(r, "R454 e=4.7.0 ans=STARTTLS#1 n=1 [4.7.0 TLS not available] @4000\n"
		      "C2 MAIL raw=[MAIL FROM:] arg=[<a@b>] addr=[a@b] params=[] @4000\n"
		      "C3 RCPT raw=[RCPT TO:] arg=[<c@d>] addr=[c@d] params=[] P @4000\n"
		      "R250 ans=MAIL#2 n=1 [ok] @5000\nR250 ans=RCPT#3 n=1 [ok] @5000\n");
	assert_false(r->tls);
	rec_free(r);

	/* one-sided capture: a TLS record after STARTTLS means it was accepted */
	const char *one[] = { "C:EHLO a\r\nSTARTTLS\r\n", "C:\x16\x03\x01 binary\r\nMAIL FROM:<x@y>\r\n" };
	r = run_strs(one, N(one), NULL);
	assert_has(r, "C2 STARTTLS raw=[STARTTLS] arg=[] @1000\nTLS @2000\nEc 29 @2000\n");
	assert_int_equal(r->cmds[SMTP_CMD_MAIL], 0);
	rec_free(r);
	const char *one_no[] = { "C:EHLO a\r\nSTARTTLS\r\n", "C:MAIL FROM:<x@y>\r\n" };
	r = run_strs(one_no, N(one_no), NULL);
	assert_false(r->tls);
	assert_int_equal(r->cmds[SMTP_CMD_MAIL], 1);
	rec_free(r);
}

static void test_bdat_transcripts(void **state)
{
	struct rec *r = run(t_synth_bdat, N(t_synth_bdat));
	static const int codes[] = { 220, 250, 250, 250, 250, 250, 250, 250, 250, 250, 250, 250, 250, 221 };

	assert_codes(r, codes, N(codes));
	assert_int_equal(r->bodies, 3);
	assert_int_equal(r->complete_bodies, 3);
	assert_has(r, "C4 BDAT raw=[BDAT] arg=[97] bdat=97 @");
	assert_has(r, "BB BDAT#4");
	assert_has(r, "R250 e=2.0.0 ans=BDAT#4 n=1 [2.0.0 Ok: 97 bytes]");
	assert_has(r, "C5 BDAT raw=[BDAT] arg=[166 LAST] bdat=166 last");
	assert_has(r, "BE complete 263");
	assert_has(r, "BE complete 224");
	assert_has(r, "C8 BDAT raw=[BDAT] arg=[224 LAST] bdat=224 last P");
	assert_has(r, "R250 e=2.0.0 ans=BDAT#8 n=1 [2.0.0 Ok: 224 bytes queued as 3414A11C2E9]");
	assert_has(r, "C11 BDAT raw=[BDAT] arg=[224] bdat=224 @");
	assert_has(r, "C12 BDAT raw=[BDAT] arg=[0 LAST] bdat=0 last");
	assert_has(r, "R250 e=2.0.0 ans=BDAT#12");
	assert_int_equal(r->cmds[SMTP_CMD_UNKNOWN], 0);
	check_splits(t_synth_bdat, N(t_synth_bdat), NULL);
	rec_free(r);

	/* the first message: no dot-stuffing, "." and ".not stuffed" kept as sent */
	r = run(t_synth_bdat, 10);
	assert_int_equal(r->body_len, 263);
	assert_non_null(memmem(r->body, r->body_len, "\r\nline one\r\n.\r\n.not stuffed in BDAT\r\nlast line\r\n", 47));
	rec_free(r);

	r = run(t_bdat_ex1, N(t_bdat_ex1));
	assert_has(r, "C4 BDAT raw=[BDAT] arg=[86 LAST] bdat=86 last @8000\nBB BDAT#4 @8000\n");
	assert_has(r, "BE complete 86 @9000\nR250 e=2.0.0 ans=BDAT#4");
	assert_has(r, "R221 e=2.0.0 ans=QUIT#5");
	check_splits(t_bdat_ex1, N(t_bdat_ex1), NULL);
	rec_free(r);

	r = run(t_bdat_0, N(t_bdat_0));
	assert_has(r, "C4 BDAT raw=[BDAT] arg=[0 LAST] bdat=0 last @8000\nBB BDAT#4 @8000\nBE complete 0 @8000\n");
	check_splits(t_bdat_0, N(t_bdat_0), NULL);
	rec_free(r);

	r = run(t_bdat_huge, N(t_bdat_huge));
	assert_has(r, "A bad_bdat c @8000\nC4 BDAT raw=[BDAT] arg=[15555555557777777777 LAST] bdat=bad @8000\n");
	assert_has(r, "R521 e=5.5.4 ans=BDAT#4");
	assert_has(r, "C5 QUIT");
	assert_int_equal(r->bodies, 0);
	check_splits(t_bdat_huge, N(t_bdat_huge), NULL);
	rec_free(r);
}

static void test_bdat_gap(void **state)
{
	struct rec *r = run(t_bdat_gap, N(t_bdat_gap));

	assert_has(r, "C4 BDAT raw=[BDAT] arg=[200] bdat=200 @8000\nBB BDAT#4 @8000\n");
	assert_has(r, "A gap c @12000\nBE incomplete 100 @12000\n");
	assert_has(r, "C5 DATA raw=[DATA] arg=[] @13000\n"
		      "R354 ans=DATA#5 n=1 [End data with <CR><LF>.<CR><LF>] @14000\nBB DATA#5 @14000\n");
	assert_has(r, "BE complete 78 @15000\nC6 DATA_END");
	assert_has(r, "R250 ans=DATA_END#6 n=1 [OK: message queued]");
	assert_has(r, "R221 ans=QUIT#7");
	/* the server's second "250 OK" to one BDAT is unsolicited */
	assert_int_equal(r->an[SMTP_AN_UNMATCHED_REPLY], 1);
	check_splits(t_bdat_gap, N(t_bdat_gap), NULL);
	rec_free(r);

	/* a gap inside a chunk keeps the octet count */
	const char *items[] = { "C:BDAT 10 LAST\r\n0123", "GC3", "C:789QUIT\r\n" };
	r = run_strs(items, N(items), NULL);
	assert_has(r, "BB BDAT#1 @1000\nBD 4 cd1415b1 @1000\nA gap c @2000\nBD 3 91db9c09 @3000\n"
		      "BE incomplete 7 @3000\nC2 QUIT");
	rec_free(r);
	/* ... and a gap ending exactly at the chunk boundary */
	const char *items2[] = { "C:BDAT 10\r\n0123", "GC6", "C:BDAT 2 LAST\r\nxyRSET\r\n" };
	r = run_strs(items2, N(items2), NULL);
	assert_has(r, "C2 BDAT raw=[BDAT] arg=[2 LAST] bdat=2 last @3000\nBD 2 ");
	assert_has(r, "BE incomplete 6 @3000\nC3 RSET");
	rec_free(r);
}

static void test_auth(void **state)
{
	struct rec *r = run(t_auth, N(t_auth));

	assert_has(r, "R220 ans=NONE#0 n=3");
	assert_has(r, "C2 AUTH raw=[AUTH] arg=[LOGIN]");
	assert_has(r, "R334 ans=AUTH#2 n=1 [VXNlcm5hbWU6]");
	assert_has(r, "C3 AUTH_DATA raw=[] arg=[Z3VycGFydGFwQHBhdHJpb3RzLmlu]");
	assert_has(r, "R334 ans=AUTH_DATA#3");
	assert_has(r, "C4 AUTH_DATA raw=[] arg=[cHVuamFiQDEyMw==]");
	assert_has(r, "R235 ans=AUTH_DATA#4");
	assert_has(r, "C5 MAIL raw=[MAIL FROM: ] arg=[<gurpartap@patriots.in>] addr=[gurpartap@patriots.in]");
	assert_int_equal(r->cmds[SMTP_CMD_UNKNOWN], 0);
	assert_int_equal(r->complete_bodies, 1);
	check_splits(t_auth, N(t_auth), NULL);
	rec_free(r);

	/* a line that looks like a command is still SASL data after a 334 */
	const char *items[] = { "S:220 x\r\n", "C:AUTH LOGIN\r\n", "S:334 VXNlcm5hbWU6\r\n",
				"C:QUIT\r\n", "S:535 no\r\n", "C:QUIT\r\n", "S:221 bye\r\n" };
	r = run_strs(items, N(items), NULL);
	assert_has(r, "C2 AUTH_DATA raw=[] arg=[QUIT]");
	assert_has(r, "R535 ans=AUTH_DATA#2");
	assert_has(r, "C3 QUIT");
	rec_free(r);
}

static void test_one_sided(void **state)
{
	struct rec *r = run(t_one_side, N(t_one_side));

	assert_has(r, "C1 EHLO raw=[ehlo] arg=[enzo.icir.org]");
	assert_has(r, "C2 MAIL raw=[mail FROM:] arg=[<robin@icir.org> size=9030] addr=[robin@icir.org] params=[size=9030]");
	assert_has(r, "C3 RCPT raw=[rcpt TO:] arg=[<robin@icir.org>] addr=[robin@icir.org] params=[]");
	assert_has(r, "C4 DATA raw=[data] arg=[] @4000\nBB DATA#4 @4000\n");
	assert_int_equal(r->bodies, 2);
	assert_int_equal(r->complete_bodies, 2);
	assert_int_equal(r->ncodes, 0);
	assert_has(r, "C9 DATA_END");
	assert_has(r, "C10 QUIT");
	for (int a = 0; a < SMTP_AN_COUNT; a++)
		assert_int_equal(r->an[a], 0);
	assert_null(strstr(r->log, " P"));   /* pipelining is unknown without replies */
	check_splits(t_one_side, N(t_one_side), NULL);
	rec_free(r);

	/* one-sided AUTH LOGIN: the base64 lines are SASL data, not commands */
	const char *items[] = { "C:EHLO a\r\nAUTH LOGIN\r\ndXNlcg==\r\ncGFzcw==\r\nMAIL FROM:<a@b>\r\n" };
	r = run_strs(items, N(items), NULL);
	assert_int_equal(r->cmds[SMTP_CMD_AUTH_DATA], 2);
	assert_int_equal(r->cmds[SMTP_CMD_MAIL], 1);
	assert_int_equal(r->cmds[SMTP_CMD_UNKNOWN], 0);
	rec_free(r);
}

static void test_unsolicited(void **state)
{
	struct rec *r = run(t_multi_addr, N(t_multi_addr));

	assert_has(r, "C3 RCPT raw=[RCPT To:] arg=[<jan.grashofer@cern.ch>] addr=[jan.grashofer@cern.ch] params=[] @6000\n"
		      "C4 DATA raw=[DATA] arg=[] P @6000\n");
	assert_has(r, "R354 ans=DATA#4");
	assert_has(r, "R250 e=2.6.0 ans=DATA_END#5");
	assert_has(r, "A unmatched_reply s @11000\nR451 e=4.7.0 ans=NONE#0 n=1 [4.7.0 Timeout waiting for client input] @11000\n");
	assert_int_equal(r->complete_bodies, 1);
	check_splits(t_multi_addr, N(t_multi_addr), NULL);
	rec_free(r);
}

static void test_dot_stuffing(void **state)
{
	const char *items[] = {
		"S:220 x\r\n", "C:DATA\r\n", "S:354 go\r\n",
		"C:..leading\r\n.\r\n", /* wait: ".\r\n" ends it */
		"S:250 ok\r\n",
	};
	struct rec *r = run_strs(items, N(items), NULL);

	assert_int_equal(r->body_len, 10);
	assert_memory_equal(r->body, ".leading\r\n", 10);
	rec_free(r);

	/* dots everywhere, bare LF lines kept, ".\r" that is not an end, 8-bit */
	const char *items2[] = {
		"S:220 x\r\n", "C:DATA\r\n", "S:354 go\r\n",
		"C:a.b\r\n.x\n..\r\n.\rz\r\n\xc3\xa9\xff\x01.\r\n\r\n..\r\n",
		"C:.\n",
		"C:QUIT\r\n", "S:250 ok\r\n221 bye\r\n",
	};
	r = run_strs(items2, N(items2), NULL);
	static const char want[] = "a.b\r\nx\n.\r\n\rz\r\n\xc3\xa9\xff\x01.\r\n\r\n.\r\n";
	assert_int_equal(r->body_len, sizeof(want) - 1);
	assert_memory_equal(r->body, want, sizeof(want) - 1);
	assert_has(r, "BE complete 26 @5000\nC2 DATA_END");
	assert_has(r, "R250 ans=DATA_END#2");
	assert_has(r, "C3 QUIT raw=[QUIT] arg=[] P");
	rec_free(r);

	/* an empty message, then content cut by the end of the capture */
	const char *items3[] = { "S:220 x\r\n", "C:DATA\r\n", "S:354 go\r\n", "C:.\r\n",
				 "S:250 ok\r\n", "C:DATA\r\n", "S:354 go\r\n", "C:abc\r\n." };
	r = run_strs(items3, N(items3), NULL);
	assert_has(r, "BB DATA#1 @3000\nBE complete 0 @4000\n");
	assert_has(r, "BE incomplete 5 @9000\n");
	rec_free(r);
}

static void test_data_hold(void **state)
{
	struct smtp_limits lim;

	smtp_limits_default(&lim);
	lim.max_held = 32;
	/* content sent without waiting for 354: held, then content */
	const char *items[] = { "S:220 x\r\n", "C:DATA\r\n0123456789\r\n", "C:.\r\nQUIT\r\n",
				"S:354 go\r\n250 ok\r\n221 bye\r\n" };
	struct rec *r = run_strs(items, N(items), &lim);

	assert_has(r, "R354 ans=DATA#1 n=1 [go] @4000\nBB DATA#1 @4000\nBD 12 ");
	assert_has(r, "BE complete 12 @4000\nC2 DATA_END raw=[] arg=[] @4000\nC3 QUIT raw=[QUIT] arg=[] P @4000\n");
	assert_has(r, "R221 ans=QUIT#3");
	rec_free(r);

	/* more than max_held before the reply: assumed accepted */
	const char *items2[] = { "S:220 x\r\n", "C:DATA\r\n",
				 "C:0123456789012345678901234567890123456789\r\n.\r\n",
				 "S:354 go\r\n250 ok\r\n" };
	r = run_strs(items2, N(items2), &lim);
	assert_has(r, "A held_overflow c @3000\nBB DATA#1 @3000\nBD 42 ");
	assert_has(r, "BE complete 42 @3000\nC2 DATA_END");
	assert_has(r, "R354 ans=DATA#1");
	assert_has(r, "R250 ans=DATA_END#2");
	rec_free(r);

	/* STARTTLS hold overflow: bytes are dropped; 220 still counts as injection */
	const char *items3[] = { "S:220 x\r\n", "C:STARTTLS\r\n",
				 "C:MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nRCPT TO:<e@f>\r\n",
				 "S:220 go\r\n" };
	r = run_strs(items3, N(items3), &lim);
	assert_has(r, "A held_overflow c @3000\n");
	assert_has(r, "TLS @4000\nA starttls_injection c @4000\n");
	assert_int_equal(r->cmds[SMTP_CMD_MAIL], 0);
	rec_free(r);
}

static void test_quit(void **state)
{
	const char *items[] = { "S:220 x\r\n", "C:QUIT\r\n", "S:221 bye\r\n", "C:MAIL FROM:<a@b>\r\n",
				"C:RCPT TO:<a@b>\r\n" };
	struct rec *r = run_strs(items, N(items), NULL);

	assert_string_equal(r->log, "R220 ans=NONE#0 n=1 [x] greet @1000\n"
				    "C1 QUIT raw=[QUIT] arg=[] @2000\n"
				    "R221 ans=QUIT#1 n=1 [bye] @3000\n"
				    "A data_after_quit c @4000\n");
	rec_free(r);
}

static void test_gap_in_content(void **state)
{
	/* resynchronise on the end-of-data line */
	const char *items[] = { "S:220 x\r\n", "C:DATA\r\n", "S:354 go\r\n", "C:Subject: a\r\nbody li",
				"GC500", "C:ne tail\r\nMAIL me something\r\nHELO is it me\r\nQUIT\r\n.\r\nQUIT\r\n",
				"S:221 bye\r\n500 what\r\n221 bye\r\n" };
	struct rec *r = run_strs(items, N(items), NULL);

	assert_has(r, "A gap c @5000\nBE incomplete 19 @5000\n");
	assert_has(r, "C2 QUIT raw=[QUIT] arg=[] @6000\n");   /* "QUIT" alone is taken as a command */
	rec_free(r);

	const char *items2[] = { "S:220 x\r\n", "C:DATA\r\n", "S:354 go\r\n", "C:Subject: a\r\nbody li",
				 "GC500", "C:ne tail\r\nmore body\r\n.\r\nMAIL FROM:<a@b>\r\n",
				 "S:250 queued\r\n250 ok\r\n" };
	r = run_strs(items2, N(items2), NULL);
	assert_has(r, "A gap c @5000\nBE incomplete 19 @5000\nC2 DATA_END raw=[] arg=[] @6000\n"
		      "C3 MAIL raw=[MAIL FROM:] arg=[<a@b>] addr=[a@b] params=[] P @6000\n"
		      "R250 ans=DATA_END#2 n=1 [queued] @7000\nR250 ans=MAIL#3 n=1 [ok] @7000\n");
	assert_int_equal(r->an[SMTP_AN_UNMATCHED_REPLY], 0);
	rec_free(r);

	/* a server gap clears the queue; replies after it are not flagged */
	const char *items3[] = { "S:220 x\r\n", "C:NOOP\r\nNOOP\r\n", "S:250 o", "GS20",
				 "S:k\r\n250 ok\r\n", "C:NOOP\r\n", "S:250 ok\r\n" };
	r = run_strs(items3, N(items3), NULL);
	assert_int_equal(r->an[SMTP_AN_UNMATCHED_REPLY], 0);
	assert_has(r, "A gap s @4000\nR250 ans=NONE#0 n=1 [ok] @5000\nC3 NOOP");
	assert_has(r, "R250 ans=NOOP#3 n=1 [ok] @7000\n");
	rec_free(r);

	/* a gap while DATA waits for its reply: held bytes are resynchronised */
	const char *items4[] = { "S:220 x\r\n", "C:DATA\r\nbody\r\n", "GC100", "C:\r\n.\r\nQUIT\r\n",
				 "S:250 ok\r\n221 bye\r\n" };
	r = run_strs(items4, N(items4), NULL);
	assert_has(r, "A gap c @3000\nC2 DATA_END raw=[] arg=[] @4000\nC3 QUIT raw=[QUIT] arg=[] P @4000\n");
	assert_int_equal(r->bodies, 0);
	rec_free(r);
}

static void test_long_lines(void **state)
{
	/* the shape of synth-long_lines.pcap: 613-byte EHLO, 1213-byte RCPT
	 * address, 3000-byte Subject, 200 folded lines, 5000-byte body lines */
	static char ehlo[700], rcpt[1300], body[20000];
	size_t n = 0;
	struct smtp_limits lim;

	n = (size_t)sprintf(ehlo, "C:EHLO ");
	memset(ehlo + n, 'h', 600);
	n += 600;
	sprintf(ehlo + n, ".example.test\r\n");
	n = (size_t)sprintf(rcpt, "C:RCPT TO:<");
	memset(rcpt + n, 'x', 1200);
	n += 1200;
	sprintf(rcpt + n, "@example.test>\r\n");
	n = (size_t)sprintf(body, "C:Subject: ");
	memset(body + n, 'S', 3000);
	n += 3000;
	n += (size_t)sprintf(body + n, "\r\nX-Folded: k0,\r\n");
	for (int i = 1; i < 200; i++)
		n += (size_t)sprintf(body + n, " k%d,\r\n", i);
	n += (size_t)sprintf(body + n, "\r\n");
	for (int k = 0; k < 2; k++) {
		memset(body + n, 'B', 5000);
		n += 5000;
		n += (size_t)sprintf(body + n, "\r\n");
	}
	sprintf(body + n, ".\r\n");
	size_t body_bytes = n - 2;
	const char *items[] = { "S:220 x\r\n", ehlo, "S:250 ok\r\n", "C:MAIL FROM:<long@x>\r\n",
				"S:250 ok\r\n", rcpt, "S:250 ok\r\n", "C:DATA\r\n", "S:354 go\r\n",
				body, "S:250 ok\r\n", "C:QUIT\r\n", "S:221 bye\r\n" };

	struct rec *r = run_strs(items, N(items), NULL);
	char want[64];
	for (int a = 0; a < SMTP_AN_COUNT; a++)
		assert_int_equal(r->an[a], 0);
	snprintf(want, sizeof(want), "BE complete %zu", body_bytes);
	assert_has(r, want);
	assert_has(r, "@example.test] params=[] @6000");
	rec_free(r);

	smtp_limits_default(&lim);
	lim.max_line = 1000;
	r = run_strs(items, N(items), &lim);
	assert_int_equal(r->an[SMTP_AN_LINE_TOO_LONG], 1);   /* the RCPT; body lines are not capped */
	assert_has(r, "A line_too_long c @6000\nC3 RCPT raw=[RCPT TO:] arg=[<xxx");
	assert_has(r, "xxx] addr=[xxx");
	assert_has(r, "] params=[] T @6000\n");
	assert_has(r, "R250 ans=RCPT#3");
	assert_has(r, want);
	assert_has(r, "R221 ans=QUIT#6");
	rec_free(r);

	/* a truncated line takes effect at its end, whatever its verb */
	lim.max_line = 16;
	const char *items2[] = { "S:220 x\r\n", "C:DATA xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n", "S:501 no\r\n",
				 "C:QUIT\r\n", "S:221 bye\r\n" };
	r = run_strs(items2, N(items2), &lim);
	assert_has(r, "C1 DATA raw=[DATA] arg=[xxxxxxxxxxx] T @2000\nR501 ans=DATA#1");
	assert_has(r, "C2 QUIT");
	rec_free(r);
}

static void test_flags(void **state)
{
	static const struct chunk ch[] = { CH(S2C, "220 x\n"), CH(C2S, "EHLO a\nNOOP\0x\r\nNOOP\n"),
					   CH(S2C, "250 a\r\n250 b\n250 c\r\n") };
	struct rec *r = run(ch, N(ch));

	check_splits(ch, N(ch), NULL);

	assert_int_equal(r->an[SMTP_AN_BARE_LF], 2);  /* once per direction */
	assert_int_equal(r->an[SMTP_AN_NUL_BYTE], 1);
	assert_has(r, "C1 EHLO raw=[EHLO] arg=[a] LF");
	assert_has(r, "C2 UNKNOWN raw=[NOOP\\x00x] arg=[] P");
	assert_has(r, "C3 NOOP raw=[NOOP] arg=[] LF P");
	rec_free(r);
}

static void test_pending_overflow(void **state)
{
	struct smtp_limits lim;
	char cmds[2048] = "C:";

	smtp_limits_default(&lim);
	lim.max_pending = 10;
	for (int i = 0; i < 12; i++)
		strcat(cmds, "NOOP\r\n");
	const char *items[] = { "S:220 x\r\n", cmds, "S:250 a\r\n250 b\r\n250 c\r\n" };
	struct rec *r = run_strs(items, N(items), &lim);
	assert_int_equal(r->an[SMTP_AN_PENDING_OVERFLOW], 1);
	assert_has(r, "R250 ans=NOOP#11 n=1 [a]");
	assert_has(r, "R250 ans=NOOP#12 n=1 [b]");
	assert_has(r, "A unmatched_reply s");
	rec_free(r);
}

static void test_finish_flush(void **state)
{
	const char *items[] = { "S:220 x\r\n", "C:NOOP\r\n", "S:250-a\r\n250 b", "C:QUIT" };
	struct rec *r = run_strs(items, N(items), NULL);

	assert_has(r, "R250 ans=NOOP#1 n=2 [a\\x0ab] @5000\nC2 QUIT raw=[QUIT] arg=[] @5000\n");
	rec_free(r);
	const char *items2[] = { "S:220 x\r\n", "C:NOOP\r\n", "S:250-a\r\n" };
	r = run_strs(items2, N(items2), NULL);
	assert_has(r, "R250 ans=NOOP#1 n=1 [a] @4000\n");
	rec_free(r);
}

static void test_memory(void **state)
{
	struct rec *r = rec_new(false);
	struct smtp *s = smtp_new(NULL, rec_cb, r);
	size_t base = smtp_memory(s);
	static uint8_t junk[100000];

	assert_true(base < 400);
	memset(junk, 'a', sizeof(junk));
	smtp_feed(s, S2C, (const uint8_t *)"220 x\r\n", 7, 1);
	smtp_feed(s, C2S, (const uint8_t *)"EHLO x\r\nMA", 10, 1);
	assert_true(smtp_memory(s) > base);
	smtp_feed(s, C2S, (const uint8_t *)"IL FROM:<a@b>\r\n", 15, 1);
	assert_int_equal(smtp_memory(s), base);      /* the line buffer is gone again */
	smtp_feed(s, C2S, junk, sizeof(junk), 2);    /* an endless line: capped */
	assert_true(smtp_memory(s) <= base + 8192 + 1);
	smtp_feed(s, C2S, (const uint8_t *)"\r\n", 2, 3);
	assert_int_equal(smtp_memory(s), base);
	assert_int_equal(r->an[SMTP_AN_LINE_TOO_LONG], 1);
	smtp_finish(s, 4);
	assert_int_equal(smtp_memory(s), base);
	smtp_feed(s, C2S, (const uint8_t *)"NOOP\r\n", 6, 5);  /* ignored after finish */
	assert_int_equal(r->cmds[SMTP_CMD_NOOP], 0);
	smtp_free(s);
	rec_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_command_parsing),
		cmocka_unit_test(test_replies),
		cmocka_unit_test(test_reply_caps),
		cmocka_unit_test(test_greeting_without_crlf),
		cmocka_unit_test(test_suricata_pipelining),
		cmocka_unit_test(test_synth_pipelining),
		cmocka_unit_test(test_rejected_data),
		cmocka_unit_test(test_starttls_injection),
		cmocka_unit_test(test_starttls_paths),
		cmocka_unit_test(test_bdat_transcripts),
		cmocka_unit_test(test_bdat_gap),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_one_sided),
		cmocka_unit_test(test_unsolicited),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_data_hold),
		cmocka_unit_test(test_quit),
		cmocka_unit_test(test_gap_in_content),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_pending_overflow),
		cmocka_unit_test(test_finish_flush),
		cmocka_unit_test(test_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
