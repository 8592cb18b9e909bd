/* SPDX-License-Identifier: MIT */
/*
 * lint: the message and request checks of a whitelist request
 * (doc/checks.md).  The sample message is parsed by the agent's own
 * message code (message.c with its header, MIME, HTML and link parts,
 * through their observer hooks): what the lint sees is what the agent
 * sees in guest traffic.  Pure code (controller and twctl's offline
 * `whitelist lint`); the sample is hostile input and has a fuzz target.
 */
#ifndef TAPWARDEN_LINT_H
#define TAPWARDEN_LINT_H

#include <stddef.h>
#include <stdint.h>

#include "checklist.h"

#define LINT_MAX_BYTES (4u << 20)      /* default cap on a sample */
#define LINT_DOMAIN_MAX 256
#define LINT_SELECTOR_MAX 128

struct lint_config {
	const char *const *shorteners;   /* borrowed; lower-case hosts */
	size_t n_shorteners;
	size_t max_bytes;                /* 0: LINT_MAX_BYTES */
};

/* The request's own fields (all borrowed, NUL-terminated; NULL: absent). */
struct lint_request {
	const char *unsubscribe_url;
	const char *signup_url;
	const char *consent_method;
};

/* What the DNS checks need from the sample. */
struct lint_result {
	char from_domain[LINT_DOMAIN_MAX];      /* "" when From has no domain */
	char dkim_domain[LINT_DOMAIN_MAX];      /* of the aligned signature, else the first */
	char dkim_selector[LINT_SELECTOR_MAX];
};

/*
 * Check the sample msg[0..len) (borrowed; CRLF or LF line ends) and, when
 * req is not NULL, the request's fields against it.  Lines are appended
 * to out in the order of doc/checks.md; res (may be NULL) receives the
 * domains.  Returns 0, or -ENOMEM (out then holds what was checked).
 */
int lint_run(const struct lint_config *cfg, const uint8_t *msg, size_t len,
	     const struct lint_request *req, struct checklist *out, struct lint_result *res);

/* The organisational domain of a lower-case domain name by the Public
 * Suffix List (libpsl; the last two labels when no list could be loaded).
 * Writes a NUL-terminated string of at most cap-1 bytes into out. */
void lint_org_domain(const char *domain, char *out, size_t cap);

#endif
