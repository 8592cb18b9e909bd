/* SPDX-License-Identifier: MIT */
/*
 * session: glue of the packet path (agent process, parser side).
 * flow callbacks -> one SMTP parser per flow -> transactions, message facts
 * and the TLS ClientHello -> a struct session handed to the emit callback
 * when the flow ends.  Pure code: no I/O, no logging; every list is capped
 * and what does not fit is counted.
 */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

struct session_tracker {
	struct session_config cfg;
	struct flow_table *flows;
	session_emit_cb emit;
	void *ctx;
	uint64_t next_seq;
	uint64_t sample_threshold;   /* content parsed when hash < threshold */
	struct session_counters counters;
};

void session_config_default(struct session_config *c)
{
	memset(c, 0, sizeof(*c));
	flow_limits_default(&c->flow);
	smtp_limits_default(&c->smtp);
	message_config_default(&c->message);
	c->ports[0] = 25;
	c->n_ports = 1;
	c->content_sample = 1.0;
	c->max_transactions = 100;
	c->max_rcpts = 1000;
	c->max_text = 1024;
	c->max_parsers = 4096;
}

/* ---- small owned-string helpers ----------------------------------------- */

/* Owned NUL-terminated copy of at most cap bytes of s; NULL on ENOMEM. */
static char *dup_cap(struct session_tracker *t, const char *s, size_t len, size_t cap)
{
	if (len > cap)
		len = cap;
	char *p = malloc(len + 1);
	if (!p) {
		t->counters.oom++;
		return NULL;
	}
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

static void set_str(struct session_tracker *t, char **dst, const char *s, size_t len)
{
	free(*dst);
	*dst = dup_cap(t, s, len, t->cfg.max_text);
}

static char *dup_field(struct session_tracker *t, const char *s)
{
	return s ? dup_cap(t, s, strlen(s), t->cfg.message.max_field) : NULL;
}

/* ---- records -------------------------------------------------------------- */

static void msg_free(struct session_msg *m)
{
	if (!m)
		return;
	free(m->message_id);
	free(m->date);
	free(m->from);
	free(m->subject);
	free(m->list_unsubscribe);
	free(m->list_unsubscribe_post);
	free(m->precedence);
	free(m->dkim_domain);
	free(m->dkim_selector);
	free(m->x_mailer);
	free(m->content_type);
	free(m);
}

static void txn_fini(struct session_tracker *t, struct session_txn *x)
{
	free(x->mail_from);
	free(x->mail_params);
	for (uint32_t i = 0; i < x->n_rcpts; i++) {
		free(x->rcpts[i].addr);
		free(x->rcpts[i].text);
	}
	free(x->rcpts);
	free(x->data_text);
	if (x->msg) {
		message_free(x->msg);
		t->counters.parsers_active--;
	}
	msg_free(x->facts);
}

static void session_free(struct session *s)
{
	if (!s)
		return;
	smtp_free(s->smtp);
	free(s->banner_text);
	free(s->helo);
	free(s->helo_sent);
	free(s->esmtp.buf);
	free(s->auth_mech);
	free(s->tls);
	free(s->tls_buf);
	free(s->verbs.buf);
	for (uint32_t i = 0; i < s->n_txns; i++)
		txn_fini(s->tracker, &s->txns[i]);
	free(s->txns);
	free(s->codes);
	free(s);
}

/* New transaction at the end of the list; NULL when the cap is reached
 * (counted) or memory is short. */
static struct session_txn *txn_new(struct session *s)
{
	struct session_tracker *t = s->tracker;

	s->txns_total++;
	if (s->cur)
		s->cur->closed = true;
	s->cur = NULL;
	if (s->n_txns >= t->cfg.max_transactions) {
		t->counters.txns_dropped++;
		return NULL;
	}
	if (s->n_txns == s->cap_txns) {
		uint32_t cap = s->cap_txns ? s->cap_txns * 2 : 1;
		if (cap > t->cfg.max_transactions)
			cap = t->cfg.max_transactions;
		struct session_txn *p = realloc(s->txns, cap * sizeof(*p));
		if (!p) {
			t->counters.oom++;
			return NULL;
		}
		s->txns = p;
		s->cap_txns = cap;
	}
	struct session_txn *x = &s->txns[s->n_txns++];
	memset(x, 0, sizeof(*x));
	s->cur = x;
	return x;
}

/* The open transaction, creating one (without MAIL) for a stray RCPT/DATA. */
static struct session_txn *txn_current(struct session *s)
{
	if (s->cur && !s->cur->closed)
		return s->cur;
	return txn_new(s);
}

/* Transaction owning command id, searching from the newest. */
static struct session_txn *txn_by_mail_id(struct session *s, uint32_t id)
{
	for (uint32_t i = s->n_txns; i-- > 0;)
		if (s->txns[i].mail_cmd_id == id)
			return &s->txns[i];
	return NULL;
}

static struct session_rcpt *rcpt_by_id(struct session *s, uint32_t id)
{
	/* replies come soon after their command: look at the newest transactions */
	for (uint32_t i = s->n_txns; i-- > 0;) {
		struct session_txn *x = &s->txns[i];
		for (uint32_t j = x->n_rcpts; j-- > 0;)
			if (x->rcpts[j].cmd_id == id)
				return &x->rcpts[j];
		if (x->mail_cmd_id && x->mail_cmd_id < id)
			break;
	}
	return NULL;
}

static struct session_txn *txn_by_data_id(struct session *s, uint32_t id)
{
	for (uint32_t i = s->n_txns; i-- > 0;) {
		struct session_txn *x = &s->txns[i];
		if (x->data_verb != SMTP_CMD_NONE && x->mail_cmd_id <= id)
			return x;
	}
	return NULL;
}

static void add_code(struct session *s, int code)
{
	if (code >= 100 && code < 600)
		s->replies[code / 100]++;
	if (s->n_codes >= SESSION_MAX_CODES)
		return;
	if (s->n_codes == s->cap_codes) {
		uint32_t cap = s->cap_codes ? s->cap_codes * 2 : 16;
		uint16_t *p = realloc(s->codes, cap * sizeof(*p));
		if (!p) {
			s->tracker->counters.oom++;
			return;
		}
		s->codes = p;
		s->cap_codes = cap;
	}
	s->codes[s->n_codes++] = (uint16_t)code;
}

const char *session_list_next(const struct session_list *l, uint16_t *pos)
{
	if (*pos >= l->len)
		return NULL;
	const char *item = l->buf + *pos;
	*pos = (uint16_t)(*pos + strlen(item) + 1);
	return item;
}

/*
 * Append v (len bytes, cut at the first NUL and at max_item) to l unless
 * the list already has max_n items or SESSION_MAX_LIST_BYTES bytes, or
 * (dedupe) already holds it.  Memory errors are counted.
 */
static void list_add(struct session_tracker *t, struct session_list *l, const char *v,
		     size_t len, size_t max_item, unsigned max_n, bool dedupe)
{
	const char *nul = memchr(v, '\0', len);
	if (nul)
		len = (size_t)(nul - v);
	if (len > max_item)
		len = max_item;
	if (l->n >= max_n || l->len + len + 1 > SESSION_MAX_LIST_BYTES)
		return;
	if (dedupe) {
		uint16_t pos = 0;
		const char *it;
		while ((it = session_list_next(l, &pos)))
			if (strlen(it) == len && memcmp(it, v, len) == 0)
				return;
	}
	char *p = realloc(l->buf, l->len + len + 1);
	if (!p) {
		t->counters.oom++;
		return;
	}
	memcpy(p + l->len, v, len);
	p[l->len + len] = '\0';
	l->buf = p;
	l->len = (uint16_t)(l->len + len + 1);
	l->n++;
}

static void add_verb(struct session *s, const char *v, size_t len)
{
	list_add(s->tracker, &s->verbs, v, len, 32, SESSION_MAX_VERBS, true);
}

/* ---- message content ------------------------------------------------------ */

static void facts_copy(struct session_tracker *t, struct session_txn *x,
		       const struct message_facts *f)
{
	struct session_msg *m = calloc(1, sizeof(*m));
	if (!m) {
		t->counters.oom++;
		return;
	}
	m->message_id = dup_field(t, f->message_id);
	m->date = dup_field(t, f->date);
	m->from = dup_field(t, f->from);
	m->subject = dup_field(t, f->subject);
	m->list_unsubscribe = dup_field(t, f->list_unsubscribe);
	m->list_unsubscribe_post = dup_field(t, f->list_unsubscribe_post);
	m->precedence = dup_field(t, f->precedence);
	m->dkim_domain = dup_field(t, f->dkim_domain);
	m->dkim_selector = dup_field(t, f->dkim_selector);
	m->x_mailer = dup_field(t, f->x_mailer ? f->x_mailer : f->user_agent);
	m->content_type = dup_field(t, f->content_type);
	m->to_count = f->to_count;
	m->cc_count = f->cc_count;
	m->header_bytes = f->header_bytes;
	m->body_bytes = f->body_bytes;
	m->fingerprint = f->fingerprint;
	m->fingerprint_valid = !f->fingerprint.empty;
	m->links_count = f->links.count;
	m->links_ip_literal = f->links.ip_literal;
	m->links_encoded_host = f->links.encoded_host;
	m->links_shortener = f->links.shortener;
	m->links_mailto = f->links.mailto;
	m->links_distinct_hosts = f->links.distinct_hosts;
	m->html_present = f->html.present;
	m->html_script = f->html.script;
	m->html_iframe = f->html.iframe;
	m->html_form = f->html.form;
	m->html_meta_refresh = f->html.meta_refresh;
	m->html_external_css = f->html.external_css;
	m->html_object = f->html.object;
	msg_free(x->facts);
	x->facts = m;
}

/* Copy the facts of x's message out and release its parser. */
static void parser_done(struct session_tracker *t, struct session_txn *x)
{
	facts_copy(t, x, message_finish(x->msg));
	message_free(x->msg);
	x->msg = NULL;
	t->counters.parsers_active--;
}

static void body_begin(struct session *s)
{
	struct session_tracker *t = s->tracker;
	struct session_txn *x = txn_current(s);

	if (!x)
		return;
	x->content_seen = true;
	if (x->data_verb == SMTP_CMD_NONE)
		x->data_verb = SMTP_CMD_DATA;
	if (s->sampled && !x->msg) {
		if (t->counters.parsers_active >= t->cfg.max_parsers) {
			t->counters.parsers_exhausted++;
			x->parse_skipped = true;
			return;
		}
		x->msg = message_new(&t->cfg.message);
		if (!x->msg) {
			t->counters.oom++;
			return;
		}
		if (++t->counters.parsers_active > t->counters.parsers_peak)
			t->counters.parsers_peak = t->counters.parsers_active;
	}
}

static void body_end(struct session *s, const struct smtp_body_end *be)
{
	struct session_tracker *t = s->tracker;
	struct session_txn *x = s->cur;

	if (!x)
		return;
	x->complete = be->complete;
	x->body_bytes_seen = be->bytes;
	t->counters.messages++;
	if (x->msg) {
		parser_done(t, x);
		t->counters.messages_sampled++;
	}
}

/* ---- TLS ------------------------------------------------------------------ */

static void tls_data(struct session *s, const uint8_t *buf, size_t len)
{
	struct session_tracker *t = s->tracker;

	if (s->tls_done)
		return;
	size_t want = s->tls_len + len;
	if (want > TLS_MAX_STREAM)
		want = TLS_MAX_STREAM;
	if (want > s->tls_len) {
		uint8_t *p = realloc(s->tls_buf, want);
		if (!p) {
			t->counters.oom++;
			s->tls_done = true;
			return;
		}
		memcpy(p + s->tls_len, buf, want - s->tls_len);
		s->tls_buf = p;
		s->tls_len = want;
	}
	struct tls_hello hello;
	enum tls_result r = tls_parse_client_hello(s->tls_buf, s->tls_len, &hello);
	if (r == TLS_NEED_MORE && s->tls_len < TLS_MAX_STREAM)
		return;
	if (r == TLS_DONE) {
		s->tls = malloc(sizeof(*s->tls));
		if (s->tls)
			*s->tls = hello;
		else
			t->counters.oom++;
	}
	s->tls_done = true;
	free(s->tls_buf);
	s->tls_buf = NULL;
	s->tls_len = 0;
}

/* ---- SMTP events ---------------------------------------------------------- */

static void on_command(struct session *s, const struct smtp_command *c)
{
	struct session_tracker *t = s->tracker;
	struct session_txn *x;

	/* credentials are never kept; the final "." is not a client command */
	if (c->verb == SMTP_CMD_AUTH_DATA || c->verb == SMTP_CMD_DATA_END)
		return;
	s->commands++;
	if (c->pipelined)
		s->pipelining = true;
	if (c->bare_lf)
		s->bare_lf = true;
	add_verb(s, c->raw_verb, c->raw_verb_len);

	switch (c->verb) {
	case SMTP_CMD_HELO:
	case SMTP_CMD_EHLO:
	case SMTP_CMD_LHLO:
		s->helo_sent_verb = c->verb;
		set_str(t, &s->helo_sent, c->arg ? c->arg : "", c->arg ? c->arg_len : 0);
		if (!s->helo_accepted) {
			/* until one is accepted, report what was sent */
			s->helo_verb = c->verb;
			set_str(t, &s->helo, c->arg ? c->arg : "", c->arg ? c->arg_len : 0);
		}
		if (s->cur)
			s->cur->closed = true;   /* RFC 5321 4.1.4: EHLO resets the transaction */
		s->cur = NULL;
		break;
	case SMTP_CMD_MAIL:
		x = txn_new(s);
		if (!x)
			break;
		x->mail_cmd_id = c->id;
		if (c->addr_valid)
			x->mail_from = dup_cap(t, c->addr, c->addr_len, t->cfg.max_text);
		else
			x->mail_from = dup_cap(t, c->arg ? c->arg : "", c->arg ? c->arg_len : 0,
					       t->cfg.max_text);
		if (c->params && c->params_len)
			x->mail_params = dup_cap(t, c->params, c->params_len, t->cfg.max_text);
		break;
	case SMTP_CMD_RCPT:
		x = txn_current(s);
		if (!x)
			break;
		x->rcpts_total++;
		if (x->n_rcpts >= t->cfg.max_rcpts) {
			t->counters.rcpts_dropped++;
			break;
		}
		if (x->n_rcpts == x->cap_rcpts) {
			uint32_t cap = x->cap_rcpts ? x->cap_rcpts * 2 : 4;
			if (cap > t->cfg.max_rcpts)
				cap = t->cfg.max_rcpts;
			struct session_rcpt *p = realloc(x->rcpts, cap * sizeof(*p));
			if (!p) {
				t->counters.oom++;
				break;
			}
			x->rcpts = p;
			x->cap_rcpts = cap;
		}
		struct session_rcpt *r = &x->rcpts[x->n_rcpts++];
		memset(r, 0, sizeof(*r));
		r->cmd_id = c->id;
		if (c->addr_valid)
			r->addr = dup_cap(t, c->addr, c->addr_len, t->cfg.max_text);
		else
			r->addr = dup_cap(t, c->arg ? c->arg : "", c->arg ? c->arg_len : 0,
					  t->cfg.max_text);
		break;
	case SMTP_CMD_DATA:
		x = txn_current(s);
		if (x && x->data_verb == SMTP_CMD_NONE)
			x->data_verb = SMTP_CMD_DATA;
		break;
	case SMTP_CMD_BDAT:
		x = txn_current(s);
		if (!x)
			break;
		x->data_verb = SMTP_CMD_BDAT;
		if (c->bdat_last)
			x->bdat_last_id = c->id;
		break;
	case SMTP_CMD_RSET:
		if (s->cur)
			s->cur->closed = true;
		s->cur = NULL;
		break;
	case SMTP_CMD_QUIT:
		s->quit_sent = true;
		break;
	case SMTP_CMD_AUTH: {
		const char *a = c->arg ? c->arg : "";
		size_t n = c->arg ? c->arg_len : 0, i = 0;
		while (i < n && a[i] != ' ')
			i++;
		set_str(t, &s->auth_mech, a, i);
		break;
	}
	default:
		break;
	}
}

/* Capability lines of an EHLO reply: every line after the first. */
static void set_esmtp(struct session *s, const struct smtp_reply *r)
{
	free(s->esmtp.buf);
	memset(&s->esmtp, 0, sizeof(s->esmtp));
	const char *p = r->text, *end = r->text + r->text_len;
	const char *nl = memchr(p, '\n', r->text_len);
	if (!nl)
		return;
	p = nl + 1;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		const char *e = nl ? nl : end;
		while (e > p && (e[-1] == ' ' || e[-1] == '\r'))
			e--;
		if (e > p)
			list_add(s->tracker, &s->esmtp, p, (size_t)(e - p), 256, SESSION_MAX_ESMTP, false);
		if (!nl)
			break;
		p = nl + 1;
	}
}

static void on_reply(struct session *s, const struct smtp_reply *r)
{
	struct session_tracker *t = s->tracker;
	struct session_txn *x;

	add_code(s, r->code);
	if (r->greeting) {
		s->banner_code = r->code;
		set_str(t, &s->banner_text, r->text, r->text_len);
		return;
	}
	switch (r->answers) {
	case SMTP_CMD_HELO:
	case SMTP_CMD_EHLO:
	case SMTP_CMD_LHLO:
		if (r->code / 100 != 2)
			break;
		if (r->answers != SMTP_CMD_HELO)
			set_esmtp(s, r);
		if (s->helo_sent) {
			s->helo_accepted = true;
			s->helo_verb = s->helo_sent_verb;
			free(s->helo);
			s->helo = s->helo_sent;
			s->helo_sent = NULL;
		}
		break;
	case SMTP_CMD_MAIL:
		x = txn_by_mail_id(s, r->answers_id);
		if (x)
			x->mail_code = r->code;
		break;
	case SMTP_CMD_RCPT: {
		struct session_rcpt *rc = rcpt_by_id(s, r->answers_id);
		if (rc) {
			rc->code = r->code;
			set_str(t, &rc->text, r->text, r->text_len);
		}
		break;
	}
	case SMTP_CMD_DATA:
		if (r->code == 354)
			break;
		x = txn_by_data_id(s, r->answers_id);
		if (x && !x->data_code) {
			x->data_code = r->code;
			set_str(t, &x->data_text, r->text, r->text_len);
			x->closed = true;
		}
		break;
	case SMTP_CMD_DATA_END:
		x = txn_by_data_id(s, r->answers_id);
		if (x) {
			x->data_code = r->code;
			set_str(t, &x->data_text, r->text, r->text_len);
			x->closed = true;
		}
		break;
	case SMTP_CMD_BDAT:
		x = txn_by_data_id(s, r->answers_id);
		if (x && (r->answers_id == x->bdat_last_id || r->code / 100 != 2)) {
			x->data_code = r->code;
			set_str(t, &x->data_text, r->text, r->text_len);
			if (r->answers_id == x->bdat_last_id)
				x->closed = true;
		}
		break;
	case SMTP_CMD_AUTH:
		if (r->code != 334)
			s->auth_code = r->code;
		break;
	case SMTP_CMD_QUIT:
		s->quit_answered = true;
		break;
	default:
		break;
	}
}

static void on_smtp_event(void *ctx, const struct smtp_event *ev)
{
	struct session *s = ctx;

	switch (ev->type) {
	case SMTP_EV_COMMAND:
		s->parsed_after_gap = true;
		on_command(s, &ev->u.cmd);
		break;
	case SMTP_EV_REPLY:
		s->parsed_after_gap = true;
		on_reply(s, &ev->u.reply);
		break;
	case SMTP_EV_BODY_BEGIN:
		body_begin(s);
		break;
	case SMTP_EV_BODY_DATA:
		if (s->cur && s->cur->msg)
			message_feed(s->cur->msg, ev->u.data.buf, ev->u.data.len);
		break;
	case SMTP_EV_BODY_END:
		body_end(s, &ev->u.body_end);
		break;
	case SMTP_EV_TLS_START:
		s->starttls = true;
		break;
	case SMTP_EV_ENCRYPTED:
		if (ev->dir == SMTP_C2S)
			tls_data(s, ev->u.data.buf, ev->u.data.len);
		break;
	case SMTP_EV_ANOMALY:
		if (ev->u.anomaly < SMTP_AN_COUNT) {
			s->anomalies[ev->u.anomaly]++;
			s->tracker->counters.anomalies[ev->u.anomaly]++;
		}
		break;
	}
}

/* ---- flow callbacks ------------------------------------------------------- */

/* Deterministic sampling decision from the flow's addresses and ports. */
static bool sample_flow(struct session_tracker *t, const struct flow_info *fi)
{
	if (t->cfg.content_sample >= 1.0)
		return true;
	if (t->cfg.content_sample <= 0.0)
		return false;
	uint8_t key[40];
	memcpy(key, fi->client, 16);
	memcpy(key + 16, fi->server, 16);
	memcpy(key + 32, &fi->client_port, 2);
	memcpy(key + 34, &fi->server_port, 2);
	memcpy(key + 36, &fi->ts_us, 4);
	return XXH3_64bits(key, sizeof(key)) < t->sample_threshold;
}

static void *flow_open(void *ctx, const struct flow_info *fi)
{
	struct session_tracker *t = ctx;
	struct session *s = calloc(1, sizeof(*s));

	if (!s) {
		t->counters.oom++;
		return NULL;
	}
	s->tracker = t;
	s->fi = *fi;
	s->seq = t->next_seq++;
	s->ts_start_us = s->ts_end_us = fi->ts_us;
	s->sampled = sample_flow(t, fi);
	s->parsed_after_gap = true;
	s->smtp = smtp_new(&t->cfg.smtp, on_smtp_event, s);
	if (!s->smtp) {
		t->counters.oom++;
		free(s);
		return NULL;
	}
	t->counters.sessions_opened++;
	t->counters.sessions_active++;
	return s;
}

static void flow_packet(void *ctx, void *user, enum flow_dir dir, uint32_t payload_len,
			uint8_t tcp_flags, uint64_t ts_us)
{
	struct session *s = user;

	s->packets[dir]++;
	s->bytes[dir] += payload_len;
	if (ts_us > s->ts_end_us)
		s->ts_end_us = ts_us;
}

static void flow_data(void *ctx, void *user, enum flow_dir dir, const uint8_t *buf,
		      size_t len, uint64_t ts_us)
{
	struct session *s = user;

	if (!s->stream_started && len) {
		s->stream_started = true;
		/* a TLS handshake record before any SMTP: implicit TLS, nothing
		 * for the SMTP parser to read */
		if (dir == FLOW_C2S && len >= 3 && buf[0] == 0x16 && buf[1] == 0x03)
			s->implicit_tls = true;
	}
	if (s->implicit_tls) {
		if (dir == FLOW_C2S)
			tls_data(s, buf, len);
		return;
	}
	smtp_feed(s->smtp, (enum smtp_dir)dir, buf, len, ts_us);
}

static void flow_gap(void *ctx, void *user, enum flow_dir dir, uint64_t len, uint64_t ts_us)
{
	struct session *s = user;

	s->gaps++;
	s->gap_bytes += len;
	s->parsed_after_gap = false;
	smtp_gap(s->smtp, (enum smtp_dir)dir, len, ts_us);
}

static void flow_close(void *ctx, void *user, enum flow_end why, uint64_t ts_us)
{
	struct session_tracker *t = ctx;
	struct session *s = user;

	smtp_finish(s->smtp, ts_us);
	/* a message cut off by the end of the flow still yields its facts */
	for (uint32_t i = 0; i < s->n_txns; i++) {
		struct session_txn *x = &s->txns[i];
		if (x->msg)
			parser_done(t, x);
	}
	s->flow_end = why;
	t->counters.sessions_closed++;
	t->counters.sessions_active--;
	t->emit(t->ctx, s);
	session_free(s);
}

const char *session_end_name(const struct session *s)
{
	if (s->quit_answered || (s->quit_sent && s->flow_end == FLOW_END_FIN))
		return "quit";
	if (s->gaps && !s->parsed_after_gap)
		return "gap";
	switch (s->flow_end) {
	case FLOW_END_FIN: return "fin";
	case FLOW_END_RST: return "rst";
	case FLOW_END_TIMEOUT: return "timeout";
	case FLOW_END_EVICTED: return "evicted";
	case FLOW_END_SHUTDOWN: return "truncated";
	}
	return "truncated";
}

/* ---- tracker -------------------------------------------------------------- */

struct session_tracker *session_tracker_new(const struct session_config *cfg,
					    session_emit_cb emit, void *ctx)
{
	static const struct flow_callbacks cb = {
		.open = flow_open,
		.packet = flow_packet,
		.data = flow_data,
		.gap = flow_gap,
		.close = flow_close,
	};
	struct session_tracker *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cfg = *cfg;
	t->emit = emit;
	t->ctx = ctx;
	double f = cfg->content_sample;
	t->sample_threshold = f >= 1.0 ? UINT64_MAX : (uint64_t)(f * 18446744073709551615.0);
	t->flows = flow_table_new(&cfg->flow, cfg->ports, cfg->n_ports, &cb, t);
	if (!t->flows) {
		free(t);
		return NULL;
	}
	return t;
}

void session_tracker_packet(struct session_tracker *t, const struct decoded_pkt *pkt,
			    uint64_t ts_us)
{
	flow_table_packet(t->flows, pkt, ts_us);
}

void session_tracker_expire(struct session_tracker *t, uint64_t now_us)
{
	flow_table_expire(t->flows, now_us);
}

void session_tracker_flush(struct session_tracker *t, uint64_t now_us)
{
	flow_table_flush(t->flows, now_us);
}

const struct flow_counters *session_tracker_flow_counters(const struct session_tracker *t)
{
	return flow_table_counters(t->flows);
}

const struct session_counters *session_tracker_counters(const struct session_tracker *t)
{
	return &t->counters;
}

void session_tracker_free(struct session_tracker *t)
{
	if (!t)
		return;
	/* flow_table_free does not call close: flush first so sessions are freed */
	flow_table_flush(t->flows, 0);
	flow_table_free(t->flows);
	free(t);
}
