/* SPDX-License-Identifier: MIT */
/*
 * session_json: the JSON line of one finished session (schema in
 * doc/sessions.md and the README).  Pure formatting (agent process): guest
 * strings are escaped by jsonw, never trusted.
 */
#include "session.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "jsonw.h"

/* "ip:port" or "[ip6]:port" into out (at least 56 bytes). */
static void endpoint(uint8_t family, const uint8_t *addr, uint16_t port, char *out, size_t cap)
{
	char *p = out;

	if (family == 6) {
		*p++ = '[';
		inet_ntop(AF_INET6, addr, p, (socklen_t)(cap - 10));
		p += strlen(p);
		*p++ = ']';
	} else {
		for (int i = 0; i < 4; i++) {
			unsigned v = addr[i];
			if (v >= 100)
				*p++ = (char)('0' + v / 100);
			if (v >= 10)
				*p++ = (char)('0' + v / 10 % 10);
			*p++ = (char)('0' + v % 10);
			*p++ = i < 3 ? '.' : ':';
		}
		p--;
	}
	*p++ = ':';
	char d[6], *e = d + sizeof(d), *q = e;
	do {
		*--q = (char)('0' + port % 10);
		port /= 10;
	} while (port);
	memcpy(p, q, (size_t)(e - q));
	p[e - q] = '\0';
}

static inline void kv_str(struct jsonw *w, const char *k, const char *v)
{
	jsonw_key(w, k);
	jsonw_cstr(w, v);
}

static inline void kv_code(struct jsonw *w, const char *k, int code)
{
	jsonw_key(w, k);
	if (code)
		jsonw_int(w, code);
	else
		jsonw_null(w);
}

static inline void kv_uint(struct jsonw *w, const char *k, uint64_t v)
{
	jsonw_key(w, k);
	jsonw_uint(w, v);
}

static inline void kv_bool(struct jsonw *w, const char *k, bool v)
{
	jsonw_key(w, k);
	jsonw_bool(w, v);
}

static void list_json(const struct session_list *l, struct jsonw *w)
{
	uint16_t pos = 0;
	const char *it;

	while ((it = session_list_next(l, &pos)))
		jsonw_cstr(w, it);
}

static void txn_json(const struct session_txn *x, struct jsonw *w)
{
	const struct session_msg *m = x->facts;

	jsonw_obj_begin(w);
	kv_str(w, "mail_from", x->mail_from);
	kv_str(w, "mail_params", x->mail_params);
	kv_code(w, "mail_code", x->mail_code);
	jsonw_key(w, "rcpts");
	jsonw_arr_begin(w);
	for (uint32_t i = 0; i < x->n_rcpts; i++) {
		jsonw_obj_begin(w);
		kv_str(w, "addr", x->rcpts[i].addr);
		kv_code(w, "code", x->rcpts[i].code);
		kv_str(w, "text", x->rcpts[i].text);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
	if (x->rcpts_total > x->n_rcpts)
		kv_uint(w, "rcpts_total", x->rcpts_total);
	kv_str(w, "data_verb", x->data_verb == SMTP_CMD_NONE ? NULL : smtp_verb_name(x->data_verb));
	kv_code(w, "data_code", x->data_code);
	kv_str(w, "data_text", x->data_text);
	kv_bool(w, "complete", x->complete);
	kv_bool(w, "parsed", x->facts != NULL);
	kv_str(w, "message_id", m ? m->message_id : NULL);
	kv_str(w, "date", m ? m->date : NULL);
	kv_str(w, "from", m ? m->from : NULL);
	kv_str(w, "subject", m ? m->subject : NULL);
	kv_uint(w, "to_count", m ? m->to_count : 0);
	kv_uint(w, "cc_count", m ? m->cc_count : 0);
	kv_str(w, "list_unsubscribe", m ? m->list_unsubscribe : NULL);
	kv_str(w, "list_unsubscribe_post", m ? m->list_unsubscribe_post : NULL);
	kv_str(w, "precedence", m ? m->precedence : NULL);
	kv_str(w, "dkim_domain", m ? m->dkim_domain : NULL);
	kv_str(w, "dkim_selector", m ? m->dkim_selector : NULL);
	kv_str(w, "x_mailer", m ? m->x_mailer : NULL);
	kv_str(w, "content_type", m ? m->content_type : NULL);
	kv_uint(w, "header_bytes", m ? m->header_bytes : 0);
	kv_uint(w, "body_bytes", m ? m->body_bytes : 0);
	jsonw_key(w, "fingerprint");
	if (m && m->fingerprint_valid) {
		char digest[33], minhash[FP_MINHASH_K * 8 + 1];
		fp_digest_hex(&m->fingerprint, digest);
		fp_minhash_hex(&m->fingerprint, minhash);
		jsonw_obj_begin(w);
		kv_str(w, "digest", digest);
		kv_str(w, "minhash", minhash);
		kv_uint(w, "words", m->fingerprint.words);
		jsonw_obj_end(w);
	} else {
		jsonw_null(w);
	}
	jsonw_key(w, "links");
	jsonw_obj_begin(w);
	kv_uint(w, "count", m ? m->links_count : 0);
	kv_uint(w, "ip_literal", m ? m->links_ip_literal : 0);
	kv_uint(w, "encoded_host", m ? m->links_encoded_host : 0);
	kv_uint(w, "shortener", m ? m->links_shortener : 0);
	kv_uint(w, "mailto", m ? m->links_mailto : 0);
	kv_uint(w, "distinct_hosts", m ? m->links_distinct_hosts : 0);
	jsonw_obj_end(w);
	jsonw_key(w, "html");
	if (m && m->html_present) {
		jsonw_obj_begin(w);
		kv_bool(w, "script", m->html_script);
		kv_bool(w, "iframe", m->html_iframe);
		kv_bool(w, "form", m->html_form);
		kv_bool(w, "meta_refresh", m->html_meta_refresh);
		kv_bool(w, "external_css", m->html_external_css);
		kv_bool(w, "object", m->html_object);
		jsonw_obj_end(w);
	} else {
		jsonw_null(w);
	}
	jsonw_obj_end(w);
}

void session_to_json(const struct session *s, struct jsonw *w)
{
	char ep[64];

	jsonw_obj_begin(w);
	jsonw_key(w, "ts");
	jsonw_ts_us(w, s->ts_start_us);
	jsonw_key(w, "ts_end");
	jsonw_ts_us(w, s->ts_end_us);
	endpoint(s->fi.family, s->fi.client, s->fi.client_port, ep, sizeof(ep));
	kv_str(w, "client", ep);
	endpoint(s->fi.family, s->fi.server, s->fi.server_port, ep, sizeof(ep));
	kv_str(w, "server", ep);
	jsonw_key(w, "vlan");
	jsonw_arr_begin(w);
	for (uint8_t i = 0; i < s->fi.vlan_count && i < DECODE_MAX_VLANS; i++)
		jsonw_uint(w, s->fi.vlan[i]);
	jsonw_arr_end(w);
	kv_bool(w, "midstream", !s->fi.syn_seen);
	kv_bool(w, "sampled", s->sampled);
	jsonw_key(w, "banner");
	if (s->banner_code) {
		jsonw_obj_begin(w);
		kv_code(w, "code", s->banner_code);
		kv_str(w, "text", s->banner_text);
		jsonw_obj_end(w);
	} else {
		jsonw_null(w);
	}
	kv_str(w, "helo_verb", s->helo_verb == SMTP_CMD_NONE ? NULL : smtp_verb_name(s->helo_verb));
	kv_str(w, "helo", s->helo);
	jsonw_key(w, "esmtp");
	jsonw_arr_begin(w);
	list_json(&s->esmtp, w);
	jsonw_arr_end(w);
	kv_str(w, "auth", s->auth_mech);
	kv_code(w, "auth_code", s->auth_code);
	kv_bool(w, "starttls", s->starttls);
	kv_bool(w, "implicit_tls", s->implicit_tls);
	jsonw_key(w, "tls");
	if (s->tls) {
		jsonw_obj_begin(w);
		kv_str(w, "version", tls_version_name(s->tls->max_version));
		kv_str(w, "sni", s->tls->sni[0] ? s->tls->sni : NULL);
		kv_str(w, "alpn", s->tls->alpn[0] ? s->tls->alpn : NULL);
		kv_str(w, "ja4", s->tls->ja4);
		jsonw_obj_end(w);
	} else {
		jsonw_null(w);
	}
	jsonw_key(w, "dialect");
	jsonw_obj_begin(w);
	jsonw_key(w, "verbs");
	jsonw_arr_begin(w);
	list_json(&s->verbs, w);
	jsonw_arr_end(w);
	kv_bool(w, "quit", s->quit_sent);
	kv_bool(w, "pipelining", s->pipelining);
	kv_bool(w, "bare_lf", s->bare_lf);
	jsonw_obj_end(w);
	jsonw_key(w, "transactions");
	jsonw_arr_begin(w);
	for (uint32_t i = 0; i < s->n_txns; i++)
		txn_json(&s->txns[i], w);
	jsonw_arr_end(w);
	if (s->txns_total > s->n_txns)
		kv_uint(w, "transactions_total", s->txns_total);
	kv_uint(w, "commands", s->commands);
	jsonw_key(w, "replies");
	jsonw_obj_begin(w);
	kv_uint(w, "2xx", s->replies[2]);
	kv_uint(w, "3xx", s->replies[3]);
	kv_uint(w, "4xx", s->replies[4]);
	kv_uint(w, "5xx", s->replies[5]);
	jsonw_obj_end(w);
	jsonw_key(w, "reply_codes");
	jsonw_arr_begin(w);
	for (uint32_t i = 0; i < s->n_codes; i++)
		jsonw_uint(w, s->codes[i]);
	jsonw_arr_end(w);
	kv_str(w, "end", session_end_name(s));
	kv_uint(w, "gaps", s->gaps);
	kv_uint(w, "gap_bytes", s->gap_bytes);
	jsonw_key(w, "anomalies");
	jsonw_obj_begin(w);
	for (int i = 0; i < SMTP_AN_COUNT; i++)
		if (s->anomalies[i])
			kv_uint(w, smtp_anomaly_name((enum smtp_anomaly)i), s->anomalies[i]);
	jsonw_obj_end(w);
	kv_uint(w, "bytes_c2s", s->bytes[0]);
	kv_uint(w, "bytes_s2c", s->bytes[1]);
	kv_uint(w, "packets_c2s", s->packets[0]);
	kv_uint(w, "packets_s2c", s->packets[1]);
	jsonw_obj_end(w);
}
