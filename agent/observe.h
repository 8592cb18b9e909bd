/* SPDX-License-Identifier: MIT */
/*
 * observe: turn one finished SMTP session (struct session) into the
 * counts and keys the per-VM statistics take (struct stats_obs): reply
 * classes, messages and their fingerprint keys, the destination, the SMTP
 * dialect and TLS keys, and a few samples.  Pure (agent process).
 */
#ifndef TAPWARDEN_OBSERVE_H
#define TAPWARDEN_OBSERVE_H

#include "policy.h"
#include "session.h"
#include "stats.h"

/* Fill *o from s (both borrowed; o's string pointers point into s and are
 * valid while s is).  pats may be NULL (no text classes). */
void observe_session(const struct session *s, const struct reply_patterns *pats,
		     struct stats_obs *o);

#endif
