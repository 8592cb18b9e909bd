/* SPDX-License-Identifier: MIT */
/*
 * session: the agent's packet path above decode.  Owns the flow table and,
 * per flow, an SMTP parser, the message analysis of sampled transactions
 * and the TLS ClientHello parse after STARTTLS; assembles one struct
 * session record per SMTP session and hands it out when the session ends.
 * Pure code (agent process, parser side): packets in, records out.
 */
#ifndef TAPWARDEN_SESSION_H
#define TAPWARDEN_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decode.h"
#include "flow.h"
#include "message.h"
#include "smtp.h"
#include "tls.h"

#define SESSION_MAX_PORTS 16
#define SESSION_MAX_VERBS 16
#define SESSION_MAX_CODES 1000
#define SESSION_MAX_ESMTP 32
#define SESSION_MAX_LIST_BYTES 2048

struct session_config {
	struct flow_limits flow;
	struct smtp_limits smtp;
	struct message_config message;
	uint16_t ports[SESSION_MAX_PORTS];  /* server ports watched (default {25}) */
	size_t n_ports;
	double content_sample;       /* fraction of sessions whose content is parsed, 0..1 */
	uint32_t max_transactions;   /* kept per session; more are counted only */
	uint32_t max_rcpts;          /* kept per transaction; more are counted only */
	uint32_t max_text;           /* bytes kept of a reply text, EHLO name, address */
	uint32_t max_parsers;        /* messages whose content is parsed at the same time */
};

void session_config_default(struct session_config *c);

/* A short list of strings packed in one allocation, each NUL-terminated
 * (items never contain NUL): one malloc instead of one per item. */
struct session_list {
	char *buf;
	uint16_t len;                /* bytes used in buf */
	uint16_t n;                  /* items */
};

/* Next item after *pos (start with *pos = 0); NULL at the end. */
const char *session_list_next(const struct session_list *l, uint16_t *pos);

struct session_rcpt {
	char *addr;
	char *text;
	int code;                    /* 0: no reply seen */
	uint32_t cmd_id;
};

/* Facts of one message, copied out of the message parser (owned strings). */
struct session_msg {
	char *message_id, *date, *from, *subject, *list_unsubscribe,
	     *list_unsubscribe_post, *precedence, *dkim_domain, *dkim_selector,
	     *x_mailer, *content_type;
	uint32_t to_count, cc_count;
	uint64_t header_bytes, body_bytes;
	struct fp_result fingerprint;
	bool fingerprint_valid;
	uint32_t links_count, links_ip_literal, links_encoded_host, links_shortener,
		 links_mailto, links_distinct_hosts;
	bool html_present, html_script, html_iframe, html_form, html_meta_refresh,
	     html_external_css, html_object;
};

struct session_txn {
	char *mail_from;             /* NULL: RCPT/DATA without a MAIL */
	char *mail_params;
	int mail_code;
	uint32_t mail_cmd_id;
	struct session_rcpt *rcpts;
	uint32_t n_rcpts, cap_rcpts;
	uint32_t rcpts_total;        /* including those not kept */
	enum smtp_verb data_verb;    /* SMTP_CMD_NONE, _DATA or _BDAT */
	int data_code;
	char *data_text;
	uint32_t bdat_last_id;       /* cmd id of the BDAT ... LAST, 0 if none yet */
	bool content_seen;           /* BODY_BEGIN happened */
	bool parse_skipped;          /* sampled session, but no parser was free */
	bool complete;               /* BODY_END complete */
	bool closed;                 /* final reply seen, RSET, or new MAIL */
	uint64_t body_bytes_seen;    /* content bytes even when not sampled */
	struct message *msg;         /* while the content is being parsed */
	struct session_msg *facts;   /* after BODY_END when sampled */
};

struct session {
	uint64_t seq;                /* start order, from 0 */
	uint64_t ts_start_us, ts_end_us;
	struct flow_info fi;
	bool sampled;

	int banner_code;             /* 0: none */
	char *banner_text;
	enum smtp_verb helo_verb;    /* last HELO/EHLO/LHLO accepted (2xx), else last sent */
	char *helo;                  /* its argument; NULL when none was sent */
	bool helo_accepted;          /* helo/helo_verb come from an accepted command */
	enum smtp_verb helo_sent_verb;
	char *helo_sent;             /* last one sent, waiting for its reply */
	struct session_list esmtp;   /* capability lines of the EHLO reply */
	char *auth_mech;
	int auth_code;
	bool starttls;
	bool implicit_tls;           /* the client opened with a TLS record (port 465 style) */
	bool stream_started;         /* a stream byte was seen in either direction */
	bool tls_done;
	struct tls_hello *tls;       /* parsed ClientHello, or NULL */
	uint8_t *tls_buf;            /* client bytes after STARTTLS until parsed */
	size_t tls_len;

	struct session_list verbs;   /* raw verb forms, distinct */
	bool quit_sent, quit_answered, pipelining, bare_lf;

	struct session_txn *txns;
	uint32_t n_txns, cap_txns;
	uint32_t txns_total;
	struct session_txn *cur;     /* open transaction, or NULL */

	uint64_t commands;
	uint32_t replies[6];         /* by first digit: [2] = 2xx ... */
	uint16_t *codes;
	uint32_t n_codes, cap_codes;

	enum flow_end flow_end;
	bool parsed_after_gap;
	uint64_t gaps, gap_bytes;
	uint32_t anomalies[SMTP_AN_COUNT];
	uint64_t bytes[2], packets[2];

	struct smtp *smtp;
	struct session_tracker *tracker;
};

/* "quit", "fin", "rst", "timeout", "gap", "truncated", "evicted". */
const char *session_end_name(const struct session *s);

/* Called for every finished session; s is borrowed for the call. */
typedef void (*session_emit_cb)(void *ctx, const struct session *s);

struct session_tracker;

/* Returns owned or NULL.  Copies cfg (the shortener list it points to is
 * borrowed for the tracker's lifetime), borrows ctx. */
struct session_tracker *session_tracker_new(const struct session_config *cfg,
					    session_emit_cb emit, void *ctx);
/* One decoded packet (borrowed) at capture time ts_us. */
void session_tracker_packet(struct session_tracker *t, const struct decoded_pkt *pkt,
			    uint64_t ts_us);
/* Expire idle sessions (periodic). */
void session_tracker_expire(struct session_tracker *t, uint64_t now_us);
/* End every open session (end of capture / stop). */
void session_tracker_flush(struct session_tracker *t, uint64_t now_us);
const struct flow_counters *session_tracker_flow_counters(const struct session_tracker *t);
/* Sessions currently open and the counters of the session layer. */
struct session_counters {
	uint64_t sessions_opened, sessions_closed, sessions_active;
	uint64_t messages, messages_sampled;
	uint64_t parsers_active, parsers_peak;
	uint64_t parsers_exhausted;  /* cap: max_parsers; that content was not parsed */
	uint64_t txns_dropped, rcpts_dropped;
	uint64_t oom;                /* allocation failures: data dropped */
	uint64_t anomalies[SMTP_AN_COUNT];
};
const struct session_counters *session_tracker_counters(const struct session_tracker *t);
void session_tracker_free(struct session_tracker *t);

/* Append the JSON object of s (one line, no newline) to w. */
struct jsonw;
void session_to_json(const struct session *s, struct jsonw *w);

#endif
