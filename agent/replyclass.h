/* SPDX-License-Identifier: MIT */
/*
 * replyclass: classify one SMTP reply (code, enhanced status code, text)
 * into the classes detection counts: ok / deferral / rejection by code, and
 * user_unknown, blocklist (naming the list) and rate_limit by the patterns
 * of policies/replies.yaml.  Pure code (agent, parser side).
 */
#ifndef TAPWARDEN_REPLYCLASS_H
#define TAPWARDEN_REPLYCLASS_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

enum replyclass_base { RC_OTHER, RC_OK, RC_DEFERRAL, RC_REJECTION };

struct replyclass {
	enum replyclass_base base;   /* 2xx ok, 4xx deferral, 5xx rejection */
	uint8_t bits;                /* RCLS_USER_UNKNOWN | RCLS_BLOCKLIST | RCLS_RATE_LIMIT */
	const char *list;            /* first blocklist named by a matching pattern, or NULL;
	                                borrowed from pats */
};

/*
 * Classify the reply code with text (the text after the code and its
 * separator, may start with the enhanced code, may be NULL).  Every
 * pattern is tried; a pattern matches when its code (if any), its enhanced
 * prefix (if any) and one of its strings (if any) all match,
 * case-insensitively.  Borrows pats and text.
 */
struct replyclass replyclass_classify(const struct reply_patterns *pats, int code,
				      const char *text);

/* "ok", "deferral", "rejection", "other". */
const char *replyclass_base_name(enum replyclass_base b);

#endif
