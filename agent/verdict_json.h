/* SPDX-License-Identifier: MIT */
/*
 * verdict_json: one verdict change as a JSON object (the --verdicts lines
 * and, later, the report to the controller).  Pure (agent process).
 */
#ifndef TAPWARDEN_VERDICT_JSON_H
#define TAPWARDEN_VERDICT_JSON_H

#include "detect.h"
#include "jsonw.h"

/* Append the object of v (borrowed) to w, no newline.  Evidence carries
 * numbers, Message-IDs, Subjects and scrubbed reply texts: never bodies or
 * recipient addresses. */
void verdict_to_json(const struct detect_verdict *v, struct jsonw *w);

/* The counts of one VM's entry in a "stats" report, in this order. */
enum { SJ_ATTEMPTS, SJ_SESSIONS, SJ_MESSAGES, SJ_RCPTS, SJ_REJECTED, SJ_DEFERRED, SJ_USER_UNKNOWN,
       SJ_BLOCKLIST, SJ_COUNTS };
#define STATS_JSON_TOP_FPS 3     /* fingerprints per kind in an entry */
#define STATS_REPORT_S 10        /* a stats report covers this many seconds */

/* Append one VM's entry of a "stats" report (the live agent's every 10 s,
 * the offline --reports lines): uuid, name, its counts n[SJ_COUNTS] for
 * the interval, and "fps", the fingerprints the controller's campaign
 * rule reads: the STATS_JSON_TOP_FPS most frequent body digests and
 * subject templates of the 10 minutes ending at now_s (st may be NULL). */
void stats_entry_to_json(struct jsonw *w, const char *uuid, const char *name, const uint64_t n[SJ_COUNTS],
			 const struct stats_vm *st, uint64_t now_s);

#endif
