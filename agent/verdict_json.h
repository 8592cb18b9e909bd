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

#endif
