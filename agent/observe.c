/* SPDX-License-Identifier: MIT */
/*
 * observe: session record -> statistics observation (agent process, pure).
 * Keys are 64-bit hashes: the exact body digest, one band of the body
 * min-hash (near-duplicate bodies share it with high probability), the
 * subject template, the dialect (verb forms, QUIT, pipelining, bare LF)
 * and the JA4 string.
 */
#include "observe.h"

#include <stdio.h>
#include <string.h>

#include "replyclass.h"

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
	const uint8_t *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

#define FNV0 1469598103934665603ULL

static void count_reply(const struct reply_patterns *pats, int code, const char *text,
			struct stats_obs *o, uint32_t *problems)
{
	struct replyclass rc;

	if (code < 400 || code >= 600)
		return;
	rc = replyclass_classify(pats, code, text);
	o->user_unknown += !!(rc.bits & RCLS_USER_UNKNOWN);
	o->blocklist += !!(rc.bits & RCLS_BLOCKLIST);
	o->rate_limit += !!(rc.bits & RCLS_RATE_LIMIT);
	/* samples: prefer classified replies, then any other problem */
	if (*problems < 2 && (rc.bits || !o->reply_text[0][0])) {
		uint32_t slot = rc.bits ? *problems : 0;
		char raw[STATS_SAMPLE_LEN];
		snprintf(raw, sizeof(raw), "%d %s", code, text ? text : "");
		stats_scrub(o->reply_text[slot], STATS_SAMPLE_LEN, raw);
		if (rc.bits)
			(*problems)++;
	}
}

static void observe_message(const struct session_txn *x, struct stats_obs *o)
{
	const struct session_msg *m = x->facts;
	uint32_t i = o->n_msgs++;

	if (i >= STATS_OBS_MAX_MSGS || !m)
		return;
	if (m->fingerprint_valid && !m->fingerprint.empty) {
		const struct fp_result *f = &m->fingerprint;
		o->msg[i].digest = fnv(f->digest, sizeof(f->digest), FNV0) | 1;
		if (f->minhash[0] != 0xffffffffu)
			o->msg[i].minhash = fnv(f->minhash, 4 * sizeof(f->minhash[0]), FNV0 ^ 7) | 1;
	}
	o->msg[i].subject = stats_subject_key(m->subject);
	if (m->message_id)
		o->message_id = m->message_id;
	if (m->subject)
		o->subject = m->subject;
}

static uint64_t dialect_key(const struct session *s)
{
	uint64_t h = FNV0;
	uint16_t pos = 0;
	const char *v;
	uint8_t flags = (uint8_t)(s->quit_sent | s->pipelining << 1 | s->bare_lf << 2);

	if (!s->verbs.n)
		return 0;
	while ((v = session_list_next(&s->verbs, &pos)))
		h = fnv(v, strlen(v) + 1, h);
	return fnv(&flags, 1, h) | 1;
}

void observe_session(const struct session *s, const struct reply_patterns *pats,
		     struct stats_obs *o)
{
	uint32_t problems = 0;

	memset(o, 0, sizeof(*o));
	o->ts_us = s->ts_end_us ? s->ts_end_us : s->ts_start_us;
	o->smtp = s->banner_code || s->commands || s->stream_started;
	o->family = s->fi.family;
	memcpy(o->dst, s->fi.server, sizeof(o->dst));
	o->replies[0] = s->replies[2];
	o->replies[1] = s->replies[4];
	o->replies[2] = s->replies[5];
	count_reply(pats, s->banner_code, s->banner_text, o, &problems);
	for (uint32_t t = 0; t < s->n_txns; t++) {
		const struct session_txn *x = &s->txns[t];
		o->rcpts += x->rcpts_total > x->n_rcpts ? x->rcpts_total : x->n_rcpts;
		for (uint32_t r = 0; r < x->n_rcpts; r++) {
			const struct session_rcpt *rc = &x->rcpts[r];
			o->rcpts_ok += rc->code >= 200 && rc->code < 300;
			count_reply(pats, rc->code, rc->text, o, &problems);
		}
		count_reply(pats, x->data_code, x->data_text, o, &problems);
		if (x->complete)
			observe_message(x, o);
	}
	o->dialect = dialect_key(s);
	if (s->tls && s->tls->ja4[0])
		o->ja4 = fnv(s->tls->ja4, strlen(s->tls->ja4), FNV0) | 1;
}
