/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for agent/smtp.c.  Input: one byte choosing the limits,
 * then records: a header byte h (bit 0: direction; bits 1-3 == 7: a gap of
 * the next byte's length, otherwise data of (next byte + 1) bytes that
 * follow).  Every input is run three ways: as given, with each chunk cut in
 * small pieces, and with consecutive chunks of one direction merged; the
 * three event streams must agree (the first two exactly, timestamps
 * included).  Invariants checked on every event: command ids count up from
 * 1, every reply answers an earlier command of the stated verb, BODY_BEGIN
 * and BODY_END pair up, body bytes never exceed client bytes fed, ENCRYPTED
 * only after TLS_START, lengths within the limits, pointers inside lines,
 * and smtp_memory() within its bound.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp.h"

#define CHECK(c) do { if (!(c)) abort(); } while (0)
#define MAX_IDS 65536

struct fz {
	struct smtp_limits lim;
	bool with_ts;
	uint64_t hash;
	int run_type;           /* data run being hashed: 0, or event type + 1 */
	enum smtp_dir run_dir;
	uint32_t last_id;
	uint8_t verbs[MAX_IDS];
	bool in_body;
	uint64_t body_seen;
	uint64_t body_total;
	uint64_t enc[2];
	uint64_t fed[2];
	bool tls;
};

static void h_bytes(struct fz *f, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		f->hash = (f->hash ^ b[i]) * 1099511628211ull;
}

static void h_u64(struct fz *f, uint64_t v)
{
	h_bytes(f, &v, sizeof(v));
}

static bool inside(const char *p, size_t n, const char *line, size_t line_len)
{
	if (n == 0)
		return true;
	return p >= line && p + n <= line + line_len;
}

static void fz_cb(void *ctx, const struct smtp_event *ev)
{
	struct fz *f = ctx;

	CHECK(ev->dir == SMTP_C2S || ev->dir == SMTP_S2C);
	if (ev->type == SMTP_EV_BODY_DATA || ev->type == SMTP_EV_ENCRYPTED) {
		CHECK(ev->u.data.len > 0 && ev->u.data.buf);
		if (f->run_type != (int)ev->type + 1 || f->run_dir != ev->dir) {
			f->run_type = (int)ev->type + 1;
			f->run_dir = ev->dir;
			h_u64(f, 1000 + ev->type * 2 + ev->dir);
		}
		h_bytes(f, ev->u.data.buf, ev->u.data.len);
		if (ev->type == SMTP_EV_BODY_DATA) {
			CHECK(f->in_body);
			CHECK(ev->dir == SMTP_C2S);
			f->body_seen += ev->u.data.len;
			f->body_total += ev->u.data.len;
			CHECK(f->body_total <= f->fed[SMTP_C2S]);
		} else {
			CHECK(f->tls);
			f->enc[ev->dir] += ev->u.data.len;
			CHECK(f->enc[ev->dir] <= f->fed[ev->dir]);
		}
		return;
	}
	f->run_type = 0;
	h_u64(f, ev->type * 2 + ev->dir);
	if (f->with_ts)
		h_u64(f, ev->ts_us);
	switch (ev->type) {
	case SMTP_EV_COMMAND: {
		const struct smtp_command *c = &ev->u.cmd;

		CHECK(c->id == f->last_id + 1);
		f->last_id = c->id;
		CHECK(c->verb > SMTP_CMD_NONE && c->verb < SMTP_CMD_COUNT);
		if (c->id < MAX_IDS)
			f->verbs[c->id] = (uint8_t)c->verb;
		CHECK(c->line_len <= f->lim.max_line || c->line_len <= 16);
		CHECK(c->line || c->line_len == 0);
		CHECK(c->raw_verb && c->arg);
		CHECK(inside(c->raw_verb, c->raw_verb_len, c->line, c->line_len));
		CHECK(inside(c->arg, c->arg_len, c->line, c->line_len));
		if (c->addr_valid) {
			CHECK(c->verb == SMTP_CMD_MAIL || c->verb == SMTP_CMD_RCPT);
			CHECK(c->addr && inside(c->addr, c->addr_len, c->line, c->line_len));
			CHECK(inside(c->params, c->params_len, c->line, c->line_len));
		}
		if (c->bdat_valid)
			CHECK(c->verb == SMTP_CMD_BDAT && c->bdat_size <= (uint64_t)INT64_MAX);
		h_u64(f, c->verb);
		h_u64(f, c->id);
		h_bytes(f, c->line, c->line_len);
		h_u64(f, (uint64_t)(c->raw_verb_len << 16 | c->arg_len));
		h_u64(f, c->addr_valid ? c->addr_len + 1 : 0);
		h_u64(f, c->bdat_size);
		h_u64(f, (uint64_t)c->bdat_last | c->bdat_valid << 1 | c->truncated << 2 |
			     c->bare_lf << 3 | c->pipelined << 4);
		break;
	}
	case SMTP_EV_REPLY: {
		const struct smtp_reply *r = &ev->u.reply;

		CHECK(r->code >= 100 && r->code <= 599);
		CHECK(r->text_len <= f->lim.max_reply_text);
		CHECK(r->text || r->text_len == 0);
		CHECK(memchr(r->enhanced, '\0', sizeof(r->enhanced)));
		CHECK(r->answers_id <= f->last_id);
		CHECK((r->answers_id == 0) == (r->answers == SMTP_CMD_NONE));
		if (r->answers_id && r->answers_id < MAX_IDS)
			CHECK(f->verbs[r->answers_id] == r->answers);
		CHECK(!r->greeting || r->answers_id == 0);
		CHECK(r->lines >= 1);
		h_u64(f, (uint64_t)r->code << 32 | r->answers_id);
		h_bytes(f, r->text, r->text_len);
		h_bytes(f, r->enhanced, strlen(r->enhanced));
		h_u64(f, (uint64_t)r->lines << 8 | r->greeting | r->truncated << 1);
		break;
	}
	case SMTP_EV_BODY_BEGIN:
		CHECK(!f->in_body);
		CHECK(ev->u.body_begin.via == SMTP_CMD_DATA || ev->u.body_begin.via == SMTP_CMD_BDAT);
		CHECK(ev->u.body_begin.cmd_id >= 1 && ev->u.body_begin.cmd_id <= f->last_id);
		if (ev->u.body_begin.cmd_id < MAX_IDS)
			CHECK(f->verbs[ev->u.body_begin.cmd_id] == ev->u.body_begin.via);
		f->in_body = true;
		f->body_seen = 0;
		h_u64(f, ev->u.body_begin.cmd_id);
		break;
	case SMTP_EV_BODY_END:
		CHECK(f->in_body);
		CHECK(ev->u.body_end.bytes == f->body_seen);
		f->in_body = false;
		h_u64(f, ev->u.body_end.bytes << 1 | ev->u.body_end.complete);
		break;
	case SMTP_EV_TLS_START:
		CHECK(!f->tls);
		CHECK(!f->in_body);
		f->tls = true;
		break;
	case SMTP_EV_ANOMALY:
		CHECK(ev->u.anomaly < SMTP_AN_COUNT);
		h_u64(f, ev->u.anomaly);
		break;
	default:
		abort();
	}
}

enum fz_mode { FZ_AS_GIVEN, FZ_PIECES, FZ_MERGED };

/* Parse the records of data[1..size) and feed them in the given mode. */
static uint64_t fz_run(const uint8_t *data, size_t size, struct fz *f, enum fz_mode mode)
{
	struct smtp *s = smtp_new(&f->lim, fz_cb, f);
	size_t i = 1, bound;
	uint64_t ts = 0;
	uint8_t *merge = NULL;
	size_t mlen = 0;
	int mdir = -1;

	if (!s)
		return 0;
	bound = smtp_memory(s) + 2 * ((size_t)f->lim.max_line + 1) + f->lim.max_held +
		f->lim.max_reply_text + (size_t)f->lim.max_pending * 8;
	if (mode == FZ_MERGED)
		merge = malloc(size);
	while (i + 1 < size) {
		uint8_t h = data[i], n = data[i + 1];
		enum smtp_dir dir = (enum smtp_dir)(h & 1);
		bool gap = ((h >> 1) & 7) == 7;
		size_t len = gap ? 0 : (size_t)n + 1;

		i += 2;
		if (len > size - i)
			len = size - i;
		ts++;
		if (mode == FZ_MERGED && mdir >= 0 && (gap || (int)dir != mdir)) {
			smtp_feed(s, (enum smtp_dir)mdir, merge, mlen, 0);
			mdir = -1;
			mlen = 0;
		}
		if (gap) {
			smtp_gap(s, dir, n, mode == FZ_MERGED ? 0 : ts);
		} else if (mode == FZ_MERGED) {
			if (merge) {
				memcpy(merge + mlen, data + i, len);
				mlen += len;
				mdir = (int)dir;
			}
			f->fed[dir] += len;
		} else if (mode == FZ_PIECES) {
			size_t off = 0;

			f->fed[dir] += len;
			while (off < len) {
				size_t k = 1 + (size_t)(data[i + off] % 7);

				if (k > len - off)
					k = len - off;
				smtp_feed(s, dir, data + i + off, k, ts);
				off += k;
			}
		} else {
			f->fed[dir] += len;
			smtp_feed(s, dir, data + i, len, ts);
		}
		CHECK(smtp_memory(s) <= bound);
		i += len;
	}
	if (mode == FZ_MERGED && mdir >= 0)
		smtp_feed(s, (enum smtp_dir)mdir, merge, mlen, 0);
	smtp_finish(s, mode == FZ_MERGED ? 0 : ts + 1);
	CHECK(!f->in_body);
	CHECK(smtp_memory(s) <= bound);
	smtp_free(s);
	free(merge);
	return f->hash;
}

static void fz_limits(uint8_t sel, struct smtp_limits *l)
{
	static const uint32_t lines[4] = { 16, 64, 512, 8192 };
	static const uint32_t held[4] = { 0, 16, 300, 65536 };
	static const uint32_t pend[4] = { 1, 3, 50, 1000 };
	static const uint32_t text[4] = { 0, 10, 300, 4096 };

	l->max_line = lines[sel & 3];
	l->max_held = held[(sel >> 2) & 3];
	l->max_pending = pend[(sel >> 4) & 3];
	l->max_reply_text = text[(sel >> 6) & 3];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	uint64_t a, b, c;

	if (size < 1)
		return 0;
	memset(&f, 0, sizeof(f));
	fz_limits(data[0], &f.lim);
	f.with_ts = true;
	a = fz_run(data, size, &f, FZ_AS_GIVEN);

	memset(&f, 0, sizeof(f));
	fz_limits(data[0], &f.lim);
	f.with_ts = true;
	b = fz_run(data, size, &f, FZ_PIECES);
	CHECK(a == b);

	memset(&f, 0, sizeof(f));
	fz_limits(data[0], &f.lim);
	f.with_ts = false;
	c = fz_run(data, size, &f, FZ_MERGED);

	memset(&f, 0, sizeof(f));
	fz_limits(data[0], &f.lim);
	f.with_ts = false;
	a = fz_run(data, size, &f, FZ_AS_GIVEN);
	CHECK(a == c);
	return 0;
}
