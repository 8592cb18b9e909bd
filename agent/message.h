/* SPDX-License-Identifier: MIT */
/*
 * message: streaming RFC 5322/MIME analysis of one message's content.
 * The dot-unstuffed DATA (or BDAT) bytes go in, in pieces; facts come out:
 * selected headers (unfolded; Subject with RFC 2047 encoded-words decoded
 * to UTF-8), counts, body size, a body fingerprint over the decoded text of
 * text/plain and text/html parts (quoted-printable and base64 decoded, HTML
 * tags stripped), link facts, and risky HTML constructs.
 * Pure code (agent process, parser side; also reused by the controller's
 * whitelist lint).  Memory is bounded by struct message_config caps.
 */
#ifndef TAPWARDEN_MESSAGE_H
#define TAPWARDEN_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fingerprint.h"
#include "links.h"

struct message_config {
	const char *const *shorteners;  /* borrowed; lower-case host names (e.g. "bit.ly") */
	size_t n_shorteners;
	uint32_t max_header_bytes;      /* bytes of one header field kept for parsing (default
					 * 65536); fields are parsed one at a time, so a long
					 * header section costs no memory, only a longer field
					 * is cut (header_truncated) */
	uint32_t max_field;             /* bytes kept of one header value (default 2048) */
	uint32_t max_mime_depth;        /* nested multiparts followed (default 8) */
	/* Optional observers for the whitelist lint (the agent sets none):
	 * every header field of the top-level section, unfolded (name and
	 * value borrowed for the call), and the link finder's hooks (links.h). */
	void (*on_field)(void *ctx, const char *name, size_t name_len, const char *value, size_t len);
	void *on_field_ctx;
	const struct links_hooks *link_hooks;   /* borrowed */
};

void message_config_default(struct message_config *c);

/* A kept header value: NUL-terminated, at most max_field bytes, UTF-8 or raw
 * bytes as sent (callers escape on output).  NULL when the header is absent. */
struct message_facts {
	char *message_id;        /* without surrounding <> */
	char *date;
	char *from;              /* the From field as written (unfolded) */
	char *from_addr;         /* first addr-spec of From, lower-cased domain */
	char *subject;           /* encoded-words decoded */
	char *subject_raw;       /* unfolded, not decoded */
	char *list_unsubscribe;
	char *list_unsubscribe_post;
	char *list_id;
	char *precedence;        /* lower-cased */
	char *auto_submitted;
	char *dkim_domain;       /* d= of the first DKIM-Signature */
	char *dkim_selector;     /* s= of the first DKIM-Signature */
	uint32_t dkim_signatures;
	char *x_mailer;
	char *user_agent;
	char *content_type;      /* media type only, lower-cased ("multipart/alternative") */
	char *in_reply_to;
	uint32_t to_count;       /* addresses in To (all To fields) */
	uint32_t cc_count;
	uint32_t received_count; /* Received: fields */
	uint32_t header_count;
	uint64_t header_bytes;
	uint64_t body_bytes;     /* bytes after the blank line, as transmitted */
	uint32_t parts;          /* leaf MIME parts */
	uint32_t attachments;    /* parts with Content-Disposition: attachment or a filename */
	bool header_truncated;   /* a header field exceeded max_header_bytes and was cut */
	bool mime_truncated;     /* nesting exceeded max_mime_depth */
	struct {
		uint32_t count;          /* http(s)/ftp/www. links in text and href/src in HTML */
		uint32_t ip_literal;     /* host is an IPv4/IPv6 literal (incl. decimal/hex forms) */
		uint32_t encoded_host;   /* host contains %-escapes or punycode tricks like @ userinfo */
		uint32_t shortener;      /* host (or a parent domain) is in the shortener list */
		uint32_t mailto;
		uint32_t distinct_hosts;
	} links;
	struct {
		bool present;            /* a text/html part was seen */
		bool script, iframe, form, meta_refresh, external_css, object;
	} html;
	struct fp_result fingerprint;
};

struct message;

/* Returns owned or NULL (ENOMEM).  Borrows cfg (and its shortener list)
 * for the message's lifetime. */
struct message *message_new(const struct message_config *cfg);

/* Feed content bytes (borrowed); line endings CRLF or LF. */
void message_feed(struct message *m, const uint8_t *buf, size_t len);

/* Finish parsing (a truncated message is finished as far as it went).
 * Returns facts borrowed from m, valid until message_free(m). */
const struct message_facts *message_finish(struct message *m);

/* Bytes of memory held now. */
size_t message_memory(const struct message *m);

/* Accepts NULL. */
void message_free(struct message *m);

/* Decode RFC 2047 encoded-words in src (len bytes) into a NUL-terminated
 * UTF-8 string of at most cap-1 bytes in dst (charsets UTF-8, US-ASCII,
 * ISO-8859-1/15 and Windows-1252; others are kept raw).  Returns bytes written. */
size_t message_decode_words(const char *src, size_t len, char *dst, size_t cap);

#endif
