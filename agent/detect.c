/* SPDX-License-Identifier: MIT */
/*
 * detect: per-VM evaluation and verdict state (agent process, pure).  The
 * VM table is an array of lazily allocated entries with an open-addressing
 * index by UUID; its size is fixed at creation (max_vms), and a VM beyond
 * it is counted, not tracked.
 */
#include "detect.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct vm_entry {
	struct detect_vm_id id;
	struct stats_vm stats;
	enum policy_action state;    /* the last verdict reported */
	uint64_t block_until_s;      /* UINT64_MAX: manual */
	uint64_t alert_until_s;
	uint64_t last_block_s;
	uint32_t offences;
};

struct detect {
	const struct policy *policy;
	detect_cb cb;
	void *ctx;
	struct vm_entry **vms;
	uint32_t n_vms, max_vms;
	uint32_t *index;             /* entry number + 1, 0 = free */
	uint32_t index_size;         /* power of two >= 2 * max_vms */
	struct detect_counters ctr;
};

/* ---- evaluation ------------------------------------------------------------ */

static bool compare(enum policy_op op, double v, double t)
{
	switch (op) {
	case PO_GE: return v >= t;
	case PO_GT: return v > t;
	case PO_LE: return v <= t;
	case PO_LT: return v < t;
	case PO_EQ: return v == t;
	}
	return false;
}

/* Evaluate rule r with count thresholds multiplied by scale. */
static bool rule_fires(const struct policy_rule *r, const struct stats_snapshot *s, double scale,
		       struct detect_fired *f)
{
	bool all = true, any = false;
	for (uint32_t i = 0; i < r->n_conds; i++) {
		const struct policy_cond *c = &r->conds[i];
		double t = policy_metric_is_ratio(c->metric) ? c->threshold : c->threshold * scale;
		double v = s->v[c->metric][c->window];
		bool met = compare(c->op, v, t);
		f->value[i] = v;
		f->threshold[i] = t;
		f->met[i] = met;
		all &= met;
		any |= met;
	}
	return r->any ? any : all;
}

enum policy_action detect_evaluate(const struct policy *p, const struct detect_vm_id *id,
				   const struct stats_snapshot *s, struct detect_fired *fired,
				   uint32_t *n_fired, bool *downgraded, uint32_t *min_block_s)
{
	const struct policy_plan *plan = id->plan[0] ? policy_plan_find(p, id->plan) : NULL;
	double scale = plan ? plan->scale : 1.0;
	enum policy_action act = PA_NONE;

	*n_fired = 0;
	*downgraded = false;
	*min_block_s = 0;
	if (id->whitelisted) {
		if (p->wl_mode == PWL_IGNORE)
			return PA_NONE;
		scale *= p->wl_scale;
	} else if (id->limit_scale > 1) {
		scale *= id->limit_scale;
	}
	for (uint32_t i = 0; i < p->n_rules; i++) {
		const struct policy_rule *r = &p->rules[i];
		struct detect_fired *f = &fired[*n_fired];
		if (plan && (plan->disabled >> i & 1))
			continue;
		if (!rule_fires(r, s, scale, f))
			continue;
		f->rule = i;
		(*n_fired)++;
		if (r->action == PA_BLOCK && r->duration_s > *min_block_s)
			*min_block_s = r->duration_s;
		if (r->action > act)
			act = r->action;
	}
	if (act == PA_BLOCK && id->whitelisted) {
		*downgraded = true;
		act = PA_ALERT;
	}
	return act;
}

/* ---- verdict state ----------------------------------------------------------- */

/* Block duration for the VM's next offence: the ladder step, at least the
 * rules' own durations (manual stays manual). */
static uint32_t block_duration(const struct policy *p, struct vm_entry *e, uint64_t now_s,
			       uint32_t min_block_s)
{
	if (e->offences && now_s - e->last_block_s > p->forget_after_s)
		e->offences = 0;
	uint32_t step = e->offences < p->n_ladder ? e->offences : p->n_ladder - 1;
	uint32_t d = p->n_ladder ? p->ladder[step] : 3600;
	if (d != POLICY_MANUAL && min_block_s > d)
		d = min_block_s;
	return d;
}

static void report(struct detect *d, struct vm_entry *e, uint64_t ts_us, enum policy_action v,
		   uint32_t dur, bool downgraded, const char *reason,
		   const struct detect_fired *fired, uint32_t n_fired,
		   const struct stats_snapshot *snap)
{
	struct detect_verdict out = {
		.ts_us = ts_us, .vm = &e->id, .verdict = v, .duration_s = dur,
		.offence = v == PA_BLOCK ? e->offences : 0,
		.observe_only = d->policy->observe_only, .downgraded = downgraded,
		.reason = reason, .policy = d->policy, .fired = fired, .n_fired = n_fired,
		.snap = snap, .stats = &e->stats,
	};
	e->state = v;
	d->ctr.verdicts++;
	if (d->cb)
		d->cb(d->ctx, &out);
}

/* Evaluate e at ts_us and report a change of verdict. */
static void evaluate_vm(struct detect *d, struct vm_entry *e, uint64_t ts_us)
{
	const struct policy *p = d->policy;
	uint64_t now = ts_us / 1000000;
	struct detect_fired fired[POLICY_MAX_RULES];
	struct stats_snapshot snap;
	uint32_t n_fired, min_block;
	bool down;

	/* a block stands for its duration: nothing to evaluate */
	if (e->state == PA_BLOCK && now < e->block_until_s)
		return;
	d->ctr.evaluations++;
	stats_vm_snapshot(&e->stats, now, p->baseline_half_life_s, p->spike_floor, &snap);
	enum policy_action act = detect_evaluate(p, &e->id, &snap, fired, &n_fired, &down, &min_block);

	if (act == PA_BLOCK) {
		uint32_t dur = block_duration(p, e, now, min_block);
		e->offences++;
		e->last_block_s = now;
		e->block_until_s = dur == POLICY_MANUAL ? UINT64_MAX : now + dur;
		report(d, e, ts_us, PA_BLOCK, dur, false, "rules", fired, n_fired, &snap);
	} else if (act == PA_ALERT) {
		e->alert_until_s = now + p->alert_hold_s;
		if (e->state != PA_ALERT)
			report(d, e, ts_us, PA_ALERT, 0, down, "rules", fired, n_fired, &snap);
	} else if (e->state == PA_BLOCK) {
		report(d, e, ts_us, PA_NONE, 0, false, "block expired", NULL, 0, &snap);
	} else if (e->state == PA_ALERT && now >= e->alert_until_s) {
		report(d, e, ts_us, PA_NONE, 0, false, "alert hold ended", NULL, 0, &snap);
	}
}

/* ---- table ------------------------------------------------------------------- */

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 16777619u;
	}
	return h;
}

/* The entry of uuid, created if absent and there is room; NULL otherwise
 * (*full tells why). */
static struct vm_entry *lookup(struct detect *d, const char *uuid, bool *full)
{
	uint32_t mask = d->index_size - 1, i = hash_str(uuid) & mask;

	*full = false;
	for (;; i = (i + 1) & mask) {
		uint32_t slot = d->index[i];
		if (!slot)
			break;
		if (!strcmp(d->vms[slot - 1]->id.uuid, uuid))
			return d->vms[slot - 1];
	}
	if (d->n_vms >= d->max_vms) {
		*full = true;
		return NULL;
	}
	struct vm_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	stats_vm_init(&e->stats);
	d->vms[d->n_vms++] = e;
	d->index[i] = d->n_vms;
	d->ctr.vms = d->n_vms;
	return e;
}

struct detect *detect_new(uint32_t max_vms, const struct policy *p, detect_cb cb, void *ctx)
{
	struct detect *d;
	uint32_t size = 16;

	if (!max_vms || max_vms > (1u << 20))
		return NULL;
	while (size < 2 * max_vms)
		size <<= 1;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->vms = calloc(max_vms, sizeof(*d->vms));
	d->index = calloc(size, sizeof(*d->index));
	if (!d->vms || !d->index) {
		detect_free(d);
		return NULL;
	}
	d->policy = p;
	d->cb = cb;
	d->ctx = ctx;
	d->max_vms = max_vms;
	d->index_size = size;
	return d;
}

void detect_set_policy(struct detect *d, const struct policy *p)
{
	d->policy = p;
}

int detect_observe(struct detect *d, const struct detect_vm_id *id, const struct stats_obs *o)
{
	bool full;
	struct vm_entry *e = lookup(d, id->uuid, &full);

	if (!e) {
		d->ctr.vms_dropped++;
		return full ? -ENOSPC : -ENOMEM;
	}
	/* attributes may change (whitelist approval, plan change) */
	e->id = *id;
	e->id.uuid[DETECT_ID_LEN - 1] = e->id.name[DETECT_ID_LEN - 1] = '\0';
	e->id.plan[POLICY_MAX_NAME - 1] = '\0';
	stats_vm_observe(&e->stats, o, d->policy->baseline_half_life_s);
	evaluate_vm(d, e, o->ts_us);
	return 0;
}

void detect_tick(struct detect *d, uint64_t now_us)
{
	for (uint32_t i = 0; i < d->n_vms; i++)
		if (d->vms[i]->state != PA_NONE)
			evaluate_vm(d, d->vms[i], now_us);
}

const struct stats_vm *detect_stats(struct detect *d, const char *uuid)
{
	uint32_t mask = d->index_size - 1, i = hash_str(uuid) & mask;

	for (;; i = (i + 1) & mask) {
		uint32_t slot = d->index[i];

		if (!slot)
			return NULL;
		if (!strcmp(d->vms[slot - 1]->id.uuid, uuid))
			return &d->vms[slot - 1]->stats;
	}
}

const struct detect_counters *detect_counters(const struct detect *d)
{
	return &d->ctr;
}

void detect_free(struct detect *d)
{
	if (!d)
		return;
	for (uint32_t i = 0; i < d->n_vms; i++)
		free(d->vms[i]);
	free(d->vms);
	free(d->index);
	free(d);
}
