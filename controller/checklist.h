/* SPDX-License-Identifier: MIT */
/*
 * checklist: the result of a whitelist request's checks, one line per
 * check: a name (a short stable identifier such as "dkim" or "ptr"), a
 * status (pass, warn, fail) and a human reason.  Filled by the message
 * lint (lint.c), the DNS checks (dnscheck.c) and the request checks, shown
 * by twctl, the API and the dashboard (controller and twctl; pure code).
 */
#ifndef TAPWARDEN_CHECKLIST_H
#define TAPWARDEN_CHECKLIST_H

#include <stddef.h>

#include <jansson.h>

#define CHECK_NAME_MAX 32
#define CHECK_REASON_MAX 480
#define CHECKLIST_MAX 256             /* lines kept at most; more are dropped */

enum check_status { CHECK_PASS = 0, CHECK_WARN = 1, CHECK_FAIL = 2 };

struct check {
	char name[CHECK_NAME_MAX];
	enum check_status status;
	char reason[CHECK_REASON_MAX];  /* UTF-8; may quote message bytes (escaped on output) */
};

struct checklist {
	struct check *v;                /* owned */
	size_t n, cap;
	size_t dropped;                 /* lines over CHECKLIST_MAX or lost to ENOMEM */
};

void checklist_init(struct checklist *cl);
void checklist_fini(struct checklist *cl);
/* Append a line; the reason is formatted (printf) and cut to fit.  Bytes
 * from messages or DNS answers may be passed as %s: they are made
 * printable here (control bytes become '?'), JSON escaping is done on
 * output.  Never fails: a line that cannot be kept is counted in dropped. */
void checklist_add(struct checklist *cl, const char *name, enum check_status st,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Move every line of src to the end of dst (src is left empty). */
void checklist_take(struct checklist *dst, struct checklist *src);
/* The worst status of all lines (pass for an empty list). */
enum check_status checklist_result(const struct checklist *cl);
const char *check_status_name(enum check_status st);
/* "pass", "warn", "fail" -> status; -1 for anything else. */
int check_status_parse(const char *s);
/* {"checks": [{"name", "status", "reason"}...], "result": "..."}; returns
 * a new reference (NULL on ENOMEM). */
json_t *checklist_json(const struct checklist *cl);
/* The "checks" array of such an object back into cl (lines with unknown
 * status are skipped).  Returns 0 or -EINVAL. */
int checklist_from_json(struct checklist *cl, const json_t *checks);

#endif
