/* SPDX-License-Identifier: MIT */
/*
 * stats: per-VM sliding-window statistics (agent process, pure).  One
 * struct stats_vm per VM, fixed size, no allocation: counters in bucketed
 * rings (60 x 1 s, 60 x 10 s, 60 x 1 min for the 1 min, 10 min and 1 h
 * windows), bounded distinct-destination sketches, bounded heavy-hitter
 * tables for fingerprints, EWMA baselines over 10-minute periods, and a few
 * recent samples (Message-IDs, Subjects, problem reply texts) as evidence.
 * Driven by the capture/event clock given with each observation.
 */
#ifndef TAPWARDEN_STATS_H
#define TAPWARDEN_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

#define STATS_BUCKETS 60
#define STATS_SKETCH 128        /* distinct destinations remembered per kind */
#define STATS_TOPK 16           /* fingerprints tracked per kind */
#define STATS_SAMPLES 4
#define STATS_SAMPLE_LEN 120
#define STATS_OBS_MAX_MSGS 100  /* = the session's transaction cap */
#define STATS_BASELINE_PERIOD 600

/* Counters kept in rings (a subset of enum policy_metric). */
enum stats_ctr {
	SC_ATTEMPTS, SC_SESSIONS, SC_MESSAGES, SC_RCPTS, SC_RCPTS_OK,
	SC_2XX, SC_4XX, SC_5XX, SC_USER_UNKNOWN, SC_BLOCKLIST, SC_RATE_LIMIT, SC_COUNT
};
enum stats_fp { SF_DIGEST, SF_MINHASH, SF_SUBJECT, SF_DIALECT, SF_JA4, SF_COUNT };

struct stats_ring {
	uint32_t b[STATS_BUCKETS];
	uint64_t head;               /* absolute number of the newest bucket */
};

struct stats_sketch_entry { uint32_t hash, last_s; };

/* per-fingerprint counts: 6 x 10 s, 10 x 1 min, 12 x 5 min */
struct stats_fp_entry {
	uint64_t key;                /* 0: free */
	uint32_t last_s;
	uint64_t head[3];
	uint32_t b1m[6], b10m[10], b1h[12];
};

struct stats_sample_ring {
	char s[STATS_SAMPLES][STATS_SAMPLE_LEN];
	uint32_t next;               /* total written */
};

struct stats_vm {
	struct stats_ring ring[SC_COUNT][PW_COUNT];
	struct stats_sketch_entry ips[STATS_SKETCH], nets[STATS_SKETCH];
	uint64_t sketch_evictions;   /* a destination seen within 1 h was forgotten */
	struct stats_fp_entry fp[SF_COUNT][STATS_TOPK];
	/* baselines: EWMA of messages, sessions, rcpts per 10-minute period */
	double ewma[3];
	uint64_t period;             /* current period number (ts / 600) */
	uint32_t period_count[3];    /* counts of the current period */
	uint32_t periods_seen;       /* completed periods folded into ewma */
	uint64_t last_s;             /* newest observation time */
	uint64_t late;               /* observations older than a ring: dropped */
	struct stats_sample_ring message_ids, subjects, replies;
};

/* What one SMTP session contributed, derived from struct session by
 * observe.c.  Strings are borrowed for the call. */
struct stats_obs {
	uint64_t ts_us;              /* event time (session end) */
	bool smtp;                   /* the connection carried SMTP */
	uint8_t family;              /* 4 or 6 */
	uint8_t dst[16];
	uint32_t rcpts, rcpts_ok;
	uint32_t replies[3];         /* 2xx, 4xx, 5xx */
	uint32_t user_unknown, blocklist, rate_limit;
	uint64_t dialect, ja4;       /* keys, 0 = none */
	struct { uint64_t digest, minhash, subject; } msg[STATS_OBS_MAX_MSGS];
	uint32_t n_msgs;             /* complete messages (keys 0 when not parsed) */
	const char *message_id, *subject;   /* samples, may be NULL */
	char reply_text[2][STATS_SAMPLE_LEN];  /* problem replies "550 5.1.1 ...", "" = none */
};

/* The statistics a policy reads, computed at one instant. */
struct stats_snapshot {
	double v[PM_COUNT][PW_COUNT];
	double baseline[3];          /* messages, sessions, rcpts per 10 min */
	uint32_t periods_seen;
};

void stats_vm_init(struct stats_vm *vm);
/* Count o into vm.  half_life_s: baseline half-life (> 0).  Borrows o. */
void stats_vm_observe(struct stats_vm *vm, const struct stats_obs *o, uint32_t half_life_s);
/* Windows ending at now_s; spike ratios use floors[3] (messages, sessions,
 * rcpts).  Advances the baseline to now_s. */
void stats_vm_snapshot(struct stats_vm *vm, uint64_t now_s, uint32_t half_life_s,
		       const double floors[3], struct stats_snapshot *out);
/* The fingerprints of kind seen most in the 10 minutes ending at now_s,
 * most frequent first, at most max into out; returns how many. */
struct stats_fp_count { uint64_t key; uint32_t count; };
uint32_t stats_vm_top(const struct stats_vm *vm, enum stats_fp kind, uint64_t now_s,
		      struct stats_fp_count *out, uint32_t max);

/* Sample i (0 = newest) of a ring, or NULL. */
const char *stats_sample(const struct stats_sample_ring *r, uint32_t i);

/* Normalised subject template key: digits runs, hex-like tokens and case
 * folded, so "Invoice #1234" and "invoice #98" share a key; 0 for NULL/"". */
uint64_t stats_subject_key(const char *subject);
/* Copy s into dst (cap) with e-mail addresses replaced by "<addr>" and
 * control bytes by spaces: no recipient address leaves the agent. */
void stats_scrub(char *dst, size_t cap, const char *s);

#endif
