/* SPDX-License-Identifier: MIT */
/*
 * detect: per-VM verdicts (agent process, pure).  Keeps a bounded table of
 * VMs, each with its window statistics (stats.c) and its verdict state;
 * after every observation (and on clock ticks) evaluates the VM's
 * statistics against the policy and reports verdict changes only: ok,
 * alert, block with a duration from the escalation ladder.  A block stands
 * for its duration; an alert for the policy's alert_hold after it last
 * fired.  Whitelisted VMs are never blocked.  No I/O: verdicts go to a
 * callback.
 */
#ifndef TAPWARDEN_DETECT_H
#define TAPWARDEN_DETECT_H

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"
#include "stats.h"

#define DETECT_ID_LEN 64

/* Identity and attributes of a VM (libvirt metadata or --vm-map). */
struct detect_vm_id {
	char uuid[DETECT_ID_LEN];
	char name[DETECT_ID_LEN];
	char plan[POLICY_MAX_NAME];
	bool whitelisted;
	double limit_scale;          /* > 1: raised limits from the whitelist (not exempt) */
};

/* A rule that fired, with the values it saw. */
struct detect_fired {
	uint32_t rule;               /* index into policy->rules */
	double value[POLICY_MAX_CONDS];
	double threshold[POLICY_MAX_CONDS];   /* after plan/whitelist scaling */
	bool met[POLICY_MAX_CONDS];
};

/* One verdict change; every pointer is borrowed for the callback only. */
struct detect_verdict {
	uint64_t ts_us;
	const struct detect_vm_id *vm;
	enum policy_action verdict;  /* PA_NONE = ok */
	uint32_t duration_s;         /* block: seconds, or POLICY_MANUAL */
	uint32_t offence;            /* block: 1 for the first, 2 for a repeat ... */
	bool observe_only;           /* "would block": nothing is enforced */
	bool downgraded;             /* whitelisted: a block rule fired, reported as alert */
	const char *reason;          /* "rules", "block expired", "alert hold ended" */
	const struct policy *policy;
	const struct detect_fired *fired;
	uint32_t n_fired;
	const struct stats_snapshot *snap;
	const struct stats_vm *stats;   /* samples */
};

typedef void (*detect_cb)(void *ctx, const struct detect_verdict *v);

/*
 * Evaluate one VM's snapshot against p (pure).  Fills fired[] (room for
 * POLICY_MAX_RULES) and returns the strongest action after the
 * whitelisted treatment; *downgraded tells that a block became an alert;
 * *min_block_s is the longest duration the firing block rules ask for.
 */
enum policy_action detect_evaluate(const struct policy *p, const struct detect_vm_id *id,
				   const struct stats_snapshot *s, struct detect_fired *fired,
				   uint32_t *n_fired, bool *downgraded, uint32_t *min_block_s);

struct detect;

/* Returns owned or NULL.  Borrows p (until detect_set_policy) and ctx. */
struct detect *detect_new(uint32_t max_vms, const struct policy *p, detect_cb cb, void *ctx);
/* Switch to another policy (reload); borrows p.  Verdict states stay. */
void detect_set_policy(struct detect *d, const struct policy *p);
/*
 * Count one observation for VM id (borrowed; its attributes are updated)
 * and evaluate it.  Returns 0, or -ENOSPC when the VM table is full (the
 * observation is counted in detect_counters and dropped), -ENOMEM.
 */
int detect_observe(struct detect *d, const struct detect_vm_id *id, const struct stats_obs *o);
/* Clock tick: end expired blocks and alerts of every VM not ok. */
void detect_tick(struct detect *d, uint64_t now_us);

struct detect_counters {
	uint64_t vms;                /* in the table */
	uint64_t vms_dropped;        /* observations dropped: table full */
	uint64_t evaluations, verdicts;
};
const struct detect_counters *detect_counters(const struct detect *d);
/* The window statistics of uuid (borrowed until the next observe), or NULL. */
const struct stats_vm *detect_stats(struct detect *d, const char *uuid);
void detect_free(struct detect *d);

#endif
