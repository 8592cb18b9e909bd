/* SPDX-License-Identifier: MIT */
/*
 * whitelist: the set of VMs (libvirt domain UUIDs) that support staff
 * approved as bulk senders, as the agent keeps it locally (agent process,
 * pure).  The file format is one entry per line:
 *
 *     UUID [until EPOCH-SECONDS] [scale N] [# ticket, note]
 *
 * '#' starts a comment, blank lines are ignored, UUIDs are the canonical
 * 36-character form (any case, stored lower case), and an entry "until" a
 * time is no longer whitelisted from that second on.  An entry with "scale N"
 * is not an exemption but raised limits: the VM is judged like any other
 * with the policy's count thresholds multiplied by N.  The controller
 * becomes the source of truth later and writes the same cache; until then
 * operators write the file (--whitelist) and SIGHUP reloads it.
 */
#ifndef TAPWARDEN_WHITELIST_H
#define TAPWARDEN_WHITELIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

#define WHITELIST_MAX 65536          /* entries; more is an error, not a truncation */
#define WHITELIST_UUID_LEN 37
#define WHITELIST_SCALE_MIN 1.0
#define WHITELIST_SCALE_MAX 1000.0

struct whitelist_entry {
	char uuid[WHITELIST_UUID_LEN];   /* lower case */
	uint64_t until_s;                /* 0: no expiry */
	double scale;                    /* 0: full exemption; else raised limits */
};

struct whitelist {
	struct whitelist_entry *e;       /* sorted by uuid, unique */
	size_t n;
};

/* True when s is a canonical UUID (8-4-4-4-12 hex digits). */
bool whitelist_uuid_valid(const char *s, size_t len);

/*
 * Parse buf (borrowed, len bytes).  name labels errors ("name:line:
 * message", every error found, in errs).  Returns 0 with *out owned
 * (whitelist_fini), or -EINVAL/-ENOMEM (*out empty).  A UUID listed twice
 * keeps the later expiry (none beats any).
 */
int whitelist_parse(const char *name, const char *buf, size_t len, struct whitelist *out,
		    struct policy_errors *errs);
/* Read path and parse it; -errno when it cannot be read (also in errs). */
int whitelist_load_file(const char *path, struct whitelist *out, struct policy_errors *errs);
/* Is uuid exempt (a full whitelisting) at now_s (seconds since the epoch)? */
bool whitelist_contains(const struct whitelist *w, const char *uuid, uint64_t now_s);
/* The raised-limits factor of uuid at now_s, or 0 (none, or a full exemption). */
double whitelist_scale(const struct whitelist *w, const char *uuid, uint64_t now_s);
/* Sort w's entries and fold duplicates (a full exemption beats raised
 * limits; the later expiry wins). */
void whitelist_normalize(struct whitelist *w);
/* out (owned) = a and b (borrowed, either NULL) merged and normalized;
 * 0 or -ENOMEM. */
int whitelist_merge(const struct whitelist *a, const struct whitelist *b, struct whitelist *out);
void whitelist_fini(struct whitelist *w);

#endif
