/* SPDX-License-Identifier: MIT */
/*
 * smtp: incremental SMTP parser for both directions of one session.
 * Bytes of the client->server and server->client streams go in (in the
 * order they were captured); typed events come out through one callback.
 * Pure code (agent process, parser side): no I/O, no logging, no globals.
 *
 * What it does:
 *  - splits lines on CRLF or bare LF (bare LF is flagged), with a hard
 *    line-length cap per direction (the rest of an over-long line is skipped
 *    and the event carries truncated=true);
 *  - recognises commands case-insensitively and keeps the raw verb as sent
 *    (case and spacing are a client fingerprint);
 *  - matches replies (multi-line, enhanced status codes) to commands in
 *    order (PIPELINING) through a bounded queue;
 *  - enters message content only on 354 (DATA) or per BDAT chunk size,
 *    dot-unstuffs DATA up to CRLF.CRLF, counts BDAT chunks by octets;
 *  - holds client bytes sent after DATA or STARTTLS until the reply decides
 *    what they are; after a 220 to STARTTLS everything is TLS: commands that
 *    were pipelined behind STARTTLS in clear text are dropped and reported
 *    as an anomaly (CVE-2011-0411 style injection), never as commands;
 *  - after a gap, resynchronises at the next line boundary.
 *
 * Event order and conventions (see smtp.c for the gap policy):
 *  - DATA_END (the final ".") and AUTH_DATA (a SASL line after 334) arrive
 *    as SMTP_EV_COMMAND with their own id and raw_verb_len 0, so that the
 *    reply naming them in answers_id has a command; for AUTH_DATA, arg is
 *    the whole line (a secret: never log it).
 *  - DATA: COMMAND, then (after the 354 REPLY) BODY_BEGIN, BODY_DATA...,
 *    BODY_END, COMMAND DATA_END, later the REPLY answering DATA_END.
 *    BDAT: COMMAND, BODY_BEGIN (first chunk only), BODY_DATA...,
 *    BODY_END after the LAST chunk (or complete=false when any other
 *    command but BDAT/NOOP interrupts the chunks); every BDAT gets a REPLY.
 *  - An anomaly about a command or a reply is emitted just before it.
 */
#ifndef TAPWARDEN_SMTP_H
#define TAPWARDEN_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum smtp_dir { SMTP_C2S = 0, SMTP_S2C = 1 };  /* same values as enum flow_dir */

enum smtp_verb {
	SMTP_CMD_NONE = 0,   /* no command: greeting, unsolicited reply */
	SMTP_CMD_UNKNOWN,
	SMTP_CMD_HELO,
	SMTP_CMD_EHLO,
	SMTP_CMD_LHLO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_DATA_END,   /* pseudo-command: the final "." of DATA content */
	SMTP_CMD_BDAT,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH,
	SMTP_CMD_AUTH_DATA,  /* a client line answering a 334 challenge (never logged) */
	SMTP_CMD_VRFY,
	SMTP_CMD_EXPN,
	SMTP_CMD_HELP,
	SMTP_CMD_ETRN,
	SMTP_CMD_XCLIENT,
	SMTP_CMD_COUNT
};

/* Canonical upper-case name ("MAIL", "DATA_END", ...). Static string. */
const char *smtp_verb_name(enum smtp_verb v);

struct smtp_limits {
	uint32_t max_line;        /* command/reply line cap (bytes, without EOL) */
	uint32_t max_reply_text;  /* bytes of joined multi-line reply text kept */
	uint32_t max_pending;     /* commands awaiting a reply */
	uint32_t max_held;        /* client bytes held while waiting for a DATA/STARTTLS reply */
};

/* Defaults: 8192, 4096, 1000, 65536. */
void smtp_limits_default(struct smtp_limits *l);

enum smtp_anomaly {
	SMTP_AN_LINE_TOO_LONG = 0,     /* a line hit max_line (dir tells which side) */
	SMTP_AN_BARE_LF,               /* first bare-LF line ending in this direction */
	SMTP_AN_NUL_BYTE,              /* NUL inside a command/reply line */
	SMTP_AN_BAD_REPLY,             /* server line that is not "ddd[ -]..." */
	SMTP_AN_REPLY_CODE_MISMATCH,   /* continuation line with a different code */
	SMTP_AN_UNMATCHED_REPLY,       /* reply with no pending command (not greeting) */
	SMTP_AN_PENDING_OVERFLOW,      /* more than max_pending unanswered commands */
	SMTP_AN_STARTTLS_INJECTION,    /* clear-text bytes pipelined behind STARTTLS */
	SMTP_AN_BAD_BDAT,              /* BDAT argument invalid; chunk boundary lost */
	SMTP_AN_HELD_OVERFLOW,         /* max_held reached waiting for DATA/STARTTLS reply */
	SMTP_AN_GAP,                   /* a gap in the stream; parser resynchronised */
	SMTP_AN_DATA_AFTER_QUIT,       /* client bytes after QUIT was answered */
	SMTP_AN_COUNT
};

const char *smtp_anomaly_name(enum smtp_anomaly a);

enum smtp_event_type {
	SMTP_EV_COMMAND,      /* .cmd */
	SMTP_EV_REPLY,        /* .reply (complete: last line of a multi-line reply seen) */
	SMTP_EV_BODY_BEGIN,   /* message content starts (.body_begin) */
	SMTP_EV_BODY_DATA,    /* .data: content bytes, dot-unstuffed, line endings as sent */
	SMTP_EV_BODY_END,     /* .body_end */
	SMTP_EV_TLS_START,    /* STARTTLS got 220: from now on both directions are TLS */
	SMTP_EV_ENCRYPTED,    /* .data: bytes after TLS start (dir tells which side) */
	SMTP_EV_ANOMALY,      /* .anomaly */
};

struct smtp_command {
	enum smtp_verb verb;
	uint32_t id;                 /* sequence number in this session, from 1 */
	const char *line;            /* whole line without EOL (maybe truncated); NOT NUL-terminated */
	size_t line_len;
	const char *raw_verb;        /* the verb as sent, incl. "FROM:"/"TO:" and spacing for MAIL/RCPT */
	size_t raw_verb_len;
	const char *arg;             /* argument after the verb, leading/trailing blanks trimmed */
	size_t arg_len;
	const char *addr;            /* MAIL/RCPT: the path without <>, NULL sender = "" (len 0) */
	size_t addr_len;
	const char *params;          /* MAIL/RCPT: ESMTP parameters after the path (e.g. SIZE=) */
	size_t params_len;
	bool addr_valid;             /* MAIL/RCPT: a path was found */
	uint64_t bdat_size;          /* BDAT: chunk size */
	bool bdat_last;              /* BDAT: LAST given */
	bool bdat_valid;             /* BDAT: argument parsed */
	bool truncated;              /* line was cut at max_line */
	bool bare_lf;                /* line ended in LF without CR */
	bool pipelined;              /* sent while an earlier command still awaited its reply */
};

struct smtp_reply {
	int code;                    /* 100..599 */
	char enhanced[16];           /* "5.1.1" or "" when absent */
	const char *text;            /* lines after the code, joined with '\n', capped; NOT NUL-terminated */
	size_t text_len;
	uint32_t lines;
	enum smtp_verb answers;      /* the command this reply answers, SMTP_CMD_NONE for the greeting/unsolicited */
	uint32_t answers_id;         /* its smtp_command.id, 0 for none */
	bool greeting;               /* first reply of the session, before any command */
	bool truncated;
};

struct smtp_body_begin {
	enum smtp_verb via;          /* SMTP_CMD_DATA or SMTP_CMD_BDAT */
	uint32_t cmd_id;             /* the DATA command, or the first BDAT command */
};

struct smtp_body_end {
	bool complete;               /* CRLF.CRLF seen / last BDAT chunk fully received */
	uint64_t bytes;              /* content bytes delivered (after unstuffing) */
};

struct smtp_event {
	enum smtp_event_type type;
	enum smtp_dir dir;
	uint64_t ts_us;              /* capture time of the bytes that completed the event */
	union {
		struct smtp_command cmd;
		struct smtp_reply reply;
		struct smtp_body_begin body_begin;
		struct smtp_body_end body_end;
		struct { const uint8_t *buf; size_t len; } data;
		enum smtp_anomaly anomaly;
	} u;
};

/* Every pointer inside ev is borrowed for the duration of the call. */
typedef void (*smtp_event_cb)(void *ctx, const struct smtp_event *ev);

struct smtp;

/* Returns an owned parser or NULL (ENOMEM).  Copies limits; borrows ctx. */
struct smtp *smtp_new(const struct smtp_limits *limits, smtp_event_cb cb, void *ctx);

/*
 * Feed stream bytes of one direction (borrowed).  Events are delivered from
 * inside this call.  Never fails: malformed input yields anomalies.
 * One-sided captures work: if the server direction never delivered a byte,
 * DATA is assumed accepted and content is parsed anyway.
 */
void smtp_feed(struct smtp *s, enum smtp_dir dir, const uint8_t *buf, size_t len, uint64_t ts_us);

/* len bytes are missing in dir: abandon partial lines and content there,
 * clear the pending-reply queue, resynchronise at the next line. */
void smtp_gap(struct smtp *s, enum smtp_dir dir, uint64_t len, uint64_t ts_us);

/* End of session: flush a partial reply/line, end open content with
 * complete=false. */
void smtp_finish(struct smtp *s, uint64_t ts_us);

/* Bytes of memory held by this parser now (line and held buffers). */
size_t smtp_memory(const struct smtp *s);

/* Accepts NULL. Must not be called from inside its own callback. */
void smtp_free(struct smtp *s);

#endif
