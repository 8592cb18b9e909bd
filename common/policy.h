/* SPDX-License-Identifier: MIT */
/*
 * policy: the detection policy (thresholds, rules, escalation, per-plan
 * overrides, whitelisted-VM treatment) and the reply-text classification
 * patterns, loaded from YAML (libyaml) into fixed-size structs.  Shared by
 * the agent and the controller.  Loading from a buffer is pure code (fuzzed);
 * policy_load_file() only adds reading the file.  Every error is collected
 * as "file:line: message"; a policy with errors must not be used.
 * Format: policies/README.md.
 */
#ifndef TAPWARDEN_POLICY_H
#define TAPWARDEN_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Window statistics a condition can name: "<metric>_<window>". */
enum policy_metric {
	PM_ATTEMPTS,        /* TCP connections to port 25 (also those without data) */
	PM_SESSIONS,        /* connections that carried SMTP */
	PM_DST_IPS,         /* distinct destination IPs (bounded sketch) */
	PM_DST_NETS,        /* distinct destination /24s (IPv6: /48) */
	PM_MESSAGES,        /* complete DATA/BDAT contents */
	PM_RCPTS,           /* RCPT commands attempted */
	PM_RCPTS_OK,        /* RCPTs accepted (2xx) */
	PM_REPLIES_2XX,
	PM_REPLIES_4XX,
	PM_REPLIES_5XX,
	PM_USER_UNKNOWN,    /* replies classified user_unknown */
	PM_BLOCKLIST,       /* replies classified blocklist */
	PM_RATE_LIMIT,      /* replies classified rate_limit */
	PM_TOP_DIGEST,      /* messages of the most frequent exact body digest */
	PM_TOP_MINHASH,     /* messages of the most frequent body min-hash cluster */
	PM_TOP_SUBJECT,     /* messages of the most frequent subject template */
	PM_TOP_DIALECT,     /* sessions of the most frequent SMTP dialect */
	PM_TOP_JA4,         /* sessions of the most frequent TLS ClientHello (JA4) */
	PM_SPIKE_MESSAGES,  /* messages_10m / max(baseline, floor); window 10m only */
	PM_SPIKE_SESSIONS,
	PM_SPIKE_RCPTS,
	PM_COUNT
};
#define PM_WINDOWED_COUNT PM_SPIKE_MESSAGES   /* metrics kept per window */

enum policy_window { PW_1M, PW_10M, PW_1H, PW_COUNT };

/* "messages", "dst_ips", ...; NULL when out of range. */
const char *policy_metric_name(enum policy_metric m);
const char *policy_window_name(enum policy_window w);   /* "1m", "10m", "1h" */
/* true for the spike ratios (not scaled by plan/whitelist scale). */
bool policy_metric_is_ratio(enum policy_metric m);

enum policy_op { PO_GE, PO_GT, PO_LE, PO_LT, PO_EQ };
const char *policy_op_name(enum policy_op op);

enum policy_action { PA_NONE = 0, PA_ALERT, PA_BLOCK };
const char *policy_action_name(enum policy_action a);  /* "ok", "alert", "block" */

#define POLICY_MAX_NAME 48
#define POLICY_MAX_CONDS 8
#define POLICY_MAX_RULES 64
#define POLICY_MAX_PLANS 32
#define POLICY_MAX_LADDER 8
#define POLICY_MANUAL UINT32_MAX     /* a block that only an operator lifts */

struct policy_cond {
	enum policy_metric metric;
	enum policy_window window;
	enum policy_op op;
	double threshold;
};

struct policy_rule {
	char name[POLICY_MAX_NAME];
	enum policy_action action;
	uint32_t duration_s;         /* block: minimum duration; 0 = the ladder's */
	bool any;                    /* conditions combined with any (else all) */
	struct policy_cond conds[POLICY_MAX_CONDS];
	uint32_t n_conds;
};

struct policy_plan {
	char name[POLICY_MAX_NAME];
	double scale;                /* multiplies count thresholds (not ratios) */
	uint64_t disabled;           /* bit i: rules[i] off for this plan */
};

enum policy_wl_mode { PWL_ALERT, PWL_IGNORE };

struct policy {
	bool observe_only;           /* evaluate and report, never enforce */
	uint32_t alert_hold_s;       /* an alert stands this long after its last firing */
	uint32_t baseline_half_life_s;
	double spike_floor[3];       /* messages, sessions, rcpts per 10 min */
	uint32_t ladder[POLICY_MAX_LADDER];   /* block durations, POLICY_MANUAL last */
	uint32_t n_ladder;
	uint32_t forget_after_s;     /* offences older than this are forgotten */
	/* the controller: the same fingerprint from min_vms VMs (each with at
	 * least min_messages of it) within window blocks them all */
	bool campaign_enabled;
	uint32_t campaign_window_s, campaign_min_vms, campaign_min_messages, campaign_block_s;
	struct policy_rule rules[POLICY_MAX_RULES];
	uint32_t n_rules;
	struct policy_plan plans[POLICY_MAX_PLANS];
	uint32_t n_plans;
	enum policy_wl_mode wl_mode; /* whitelisted VMs: blocks become alerts, or nothing */
	double wl_scale;             /* whitelisted VMs: count thresholds multiplied */
};

/* Reply-text classification patterns (policies/replies.yaml). */
enum reply_cls_bit { RCLS_USER_UNKNOWN = 1, RCLS_BLOCKLIST = 2, RCLS_RATE_LIMIT = 4 };
#define REPLY_MAX_PATTERNS 128
#define REPLY_MAX_MATCH 24
#define REPLY_MAX_CODES 8
#define REPLY_MAX_TEXT 64

struct reply_pattern {
	uint8_t cls;                 /* one RCLS_ bit */
	char list[24];               /* blocklist name ("" otherwise) */
	uint16_t code_lo[REPLY_MAX_CODES], code_hi[REPLY_MAX_CODES];
	uint32_t n_codes;            /* 0: any code */
	char enhanced[16];           /* "" or a prefix of the enhanced status code */
	char match[REPLY_MAX_MATCH][REPLY_MAX_TEXT];  /* lower case; "^x": at the start */
	uint32_t n_match;            /* 0: no text condition; else any of them */
};

struct reply_patterns {
	struct reply_pattern p[REPLY_MAX_PATTERNS];
	uint32_t n;
};

#define POLICY_MAX_ERRORS 32
struct policy_errors {
	uint32_t n;                  /* errors found (may exceed what is kept) */
	char msg[POLICY_MAX_ERRORS][256];
};

/* Built-in defaults (no rules): what keys left out of a file take. */
void policy_init(struct policy *p);

/*
 * Parse a policy document.  name labels errors ("name:line: message").
 * Borrows buf.  Returns 0, or -EINVAL with every error found in *errs
 * (*out is then unspecified).  Pure: no I/O.
 */
int policy_load_buffer(const char *name, const char *buf, size_t len,
		       struct policy *out, struct policy_errors *errs);
/* Same for reply patterns. */
int policy_load_replies_buffer(const char *name, const char *buf, size_t len,
			       struct reply_patterns *out, struct policy_errors *errs);

/* Read path and parse it (the file's path labels errors); -errno when it
 * cannot be read (also reported in errs). */
int policy_load_file(const char *path, struct policy *out, struct policy_errors *errs);
int policy_load_replies_file(const char *path, struct reply_patterns *out,
			     struct policy_errors *errs);

/* Log every error of e (log_err, "config: " prefix) and how many more
 * there were than e keeps. */
void policy_errors_log(const struct policy_errors *e);

/* Index of rule name, or -1. */
int policy_rule_index(const struct policy *p, const char *name);
/* The plan of that name, or NULL. */
const struct policy_plan *policy_plan_find(const struct policy *p, const char *name);

/* "90", "30s", "10m", "1h", "7d" -> seconds; false on junk or > 365d. */
bool policy_parse_duration(const char *s, uint32_t *out);

#endif
