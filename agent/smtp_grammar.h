/* SPDX-License-Identifier: MIT */
/*
 * smtp_grammar: the line grammar of SMTP, internal to the smtp parser
 * (agent process, parser side).  One line in, its parts out: command verbs,
 * MAIL/RCPT paths and parameters, BDAT arguments, reply codes and enhanced
 * status codes.  Pure functions: no state, no allocation, no I/O; every
 * pointer they hand out borrows from the line given to them.  The stream
 * state machine that decides which bytes form a line lives in smtp.c.
 */
#ifndef TAPWARDEN_SMTP_GRAMMAR_H
#define TAPWARDEN_SMTP_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp.h"

/* A reply line split into its parts (see smtp_grammar_reply()). */
struct smtp_grammar_reply {
	int code;               /* 100..599 */
	bool cont;              /* "ddd-": more lines of this reply follow */
	const uint8_t *text;    /* after "ddd " / "ddd-" (borrowed), maybe empty */
	size_t text_len;
};

/*
 * The verb word p[0..n) (no blanks), case-insensitively: SMTP_CMD_HELO ..
 * SMTP_CMD_XCLIENT, or SMTP_CMD_UNKNOWN.  Never returns a pseudo-command.
 */
enum smtp_verb smtp_grammar_verb(const uint8_t *p, size_t n);

/*
 * Parse one client command line p[0..n) (without EOL) into *c: verb, line,
 * raw_verb, arg, and for MAIL/RCPT addr/params/addr_valid, for BDAT
 * bdat_size/bdat_last/bdat_valid.  Leading blanks are skipped; the verb is
 * the first word; MAIL and RCPT take "FROM:"/"TO:" (any case, blanks
 * tolerated around the colon) into raw_verb.  Every pointer set borrows
 * from p.  *c must be zeroed by the caller; id, truncated, bare_lf and
 * pipelined are left alone.
 */
void smtp_grammar_command(const uint8_t *p, size_t n, struct smtp_command *c);

/*
 * The path of MAIL FROM:/RCPT TO: starting at a[0..n): "<...>" (quoted local
 * parts may hold blanks and '>'; a source route "@a,@b:" is skipped; "<>" is
 * the null sender, addr_len 0) or a bare address up to the first blank.
 * On success sets c->addr/addr_len/addr_valid and c->params/params_len
 * (blank-trimmed rest), borrowing from a; otherwise leaves *c alone.
 */
void smtp_grammar_path(const uint8_t *a, size_t n, struct smtp_command *c);

/*
 * BDAT argument a[0..n) (the bytes after "BDAT "), following Zeek's rules:
 * at most 25 bytes, a chunk size of at most 20 digits with no leading blank,
 * then nothing or " LAST" (any case).  Sizes above INT64_MAX are refused.
 * Returns true with *size and *last set, or false (*size, *last untouched
 * or partly set: the caller must not use them).
 */
bool smtp_grammar_bdat(const uint8_t *a, size_t n, uint64_t *size, bool *last);

/*
 * Whether p[0..n) starts like a reply line: three digits, the first 1..5,
 * then the end or ' ' or '-'.  Also used on a partial line.
 */
bool smtp_grammar_is_reply(const uint8_t *p, size_t n);

/*
 * Split the server line p[0..n) (without EOL): "ddd", "ddd text" or
 * "ddd-text".  Returns false (*out untouched) when it is not a reply line,
 * else true with *out borrowing from p.
 */
bool smtp_grammar_reply(const uint8_t *p, size_t n, struct smtp_grammar_reply *out);

/*
 * Enhanced status code "c.sss.ddd" (RFC 3463) at the start of the reply
 * text t[0..n) into out (NUL-terminated, at most 9 characters), or "" when
 * absent.  Its class must be 2, 4 or 5 and match the first digit of code,
 * and it must be followed by the end of the text or a blank.
 */
void smtp_grammar_enhanced(const uint8_t *t, size_t n, int code, char out[16]);

#endif
