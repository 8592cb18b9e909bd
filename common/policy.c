/* SPDX-License-Identifier: MIT */
/*
 * policy: YAML loader for the detection policy and the reply patterns
 * (both processes).  libyaml builds a document tree whose nodes carry their
 * line; each section is read by a small function that checks every key
 * against a table and reports unknown keys, bad values and out-of-range
 * numbers as "file:line: message", collecting all of them.  The result is
 * a fixed-size struct: no allocation survives loading, so a reload can
 * build a new policy beside the old one and swap pointers.
 */
#include "policy.h"

#include "log.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#define MAX_FILE_BYTES (1u << 20)

static const char *const metric_names[PM_COUNT] = {
	"attempts", "sessions", "dst_ips", "dst_nets", "messages", "rcpts", "rcpts_ok",
	"replies_2xx", "replies_4xx", "replies_5xx", "user_unknown", "blocklist",
	"rate_limit", "top_digest", "top_minhash", "top_subject", "top_dialect", "top_ja4",
	"spike_messages", "spike_sessions", "spike_rcpts",
};
static const char *const window_names[PW_COUNT] = { "1m", "10m", "1h" };
static const char *const op_names[] = { ">=", ">", "<=", "<", "==" };
static const char *const action_names[] = { "ok", "alert", "block" };

const char *policy_metric_name(enum policy_metric m)
{
	return (unsigned)m < PM_COUNT ? metric_names[m] : NULL;
}

const char *policy_window_name(enum policy_window w)
{
	return (unsigned)w < PW_COUNT ? window_names[w] : NULL;
}

bool policy_metric_is_ratio(enum policy_metric m)
{
	return m >= PM_SPIKE_MESSAGES && m < PM_COUNT;
}

const char *policy_op_name(enum policy_op op)
{
	return (unsigned)op <= PO_EQ ? op_names[op] : "?";
}

const char *policy_action_name(enum policy_action a)
{
	return (unsigned)a <= PA_BLOCK ? action_names[a] : "?";
}

void policy_init(struct policy *p)
{
	memset(p, 0, sizeof(*p));
	p->alert_hold_s = 600;
	p->baseline_half_life_s = 86400;
	p->spike_floor[0] = 20;
	p->spike_floor[1] = 20;
	p->spike_floor[2] = 40;
	p->ladder[0] = 3600;
	p->n_ladder = 1;
	p->forget_after_s = 30 * 86400;
	p->campaign_enabled = true;
	p->campaign_window_s = 3600;
	p->campaign_min_vms = 5;
	p->campaign_min_messages = 3;
	p->campaign_block_s = 86400;
	p->wl_mode = PWL_ALERT;
	p->wl_scale = 1.0;
}

/* ---- error collection and node helpers ---------------------------------- */

struct ld {
	const char *name;
	yaml_document_t *doc;
	struct policy_errors *errs;
};

__attribute__((format(printf, 3, 4)))
static void err(struct ld *l, const yaml_node_t *n, const char *fmt, ...)
{
	struct policy_errors *e = l->errs;
	va_list ap;

	if (e->n < POLICY_MAX_ERRORS) {
		char *m = e->msg[e->n];
		int k = snprintf(m, sizeof(e->msg[0]), "%s:%lu: ", l->name,
				 n ? (unsigned long)n->start_mark.line + 1 : 0UL);
		if (k < 0 || (size_t)k >= sizeof(e->msg[0]))
			k = 0;
		va_start(ap, fmt);
		vsnprintf(m + k, sizeof(e->msg[0]) - (size_t)k, fmt, ap);
		va_end(ap);
	}
	e->n++;
}

static const char *scalar(const yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *node(struct ld *l, int id)
{
	return yaml_document_get_node(l->doc, id);
}

/* A scalar, or an error naming what was expected. */
static const char *want_scalar(struct ld *l, const yaml_node_t *n, const char *key)
{
	const char *s = scalar(n);
	if (!s)
		err(l, n, "%s: expected a scalar value", key);
	return s;
}

static bool want_type(struct ld *l, const yaml_node_t *n, yaml_node_type_t t, const char *what)
{
	if (n && n->type == t)
		return true;
	err(l, n, "%s: expected a %s", what,
	    t == YAML_MAPPING_NODE ? "mapping" : t == YAML_SEQUENCE_NODE ? "list" : "scalar");
	return false;
}

static bool get_bool(struct ld *l, const yaml_node_t *n, const char *key, bool *out)
{
	const char *s = want_scalar(l, n, key);
	if (!s)
		return false;
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) {
		*out = true;
		return true;
	}
	if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) {
		*out = false;
		return true;
	}
	err(l, n, "%s: expected true or false, got \"%.64s\"", key, s);
	return false;
}

static bool parse_number(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v))
		return false;
	*out = v;
	return true;
}

static bool get_number(struct ld *l, const yaml_node_t *n, const char *key,
		       double lo, double hi, double *out)
{
	const char *s = want_scalar(l, n, key);
	double v;
	if (!s)
		return false;
	if (!parse_number(s, &v) || v < lo || v > hi) {
		err(l, n, "%s: expected a number in %g..%g, got \"%.64s\"", key, lo, hi, s);
		return false;
	}
	*out = v;
	return true;
}

bool policy_parse_duration(const char *s, uint32_t *out)
{
	char *end;
	unsigned long long v, mul = 1;

	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return false;
	if (!strcmp(end, "") || !strcmp(end, "s"))
		mul = 1;
	else if (!strcmp(end, "m"))
		mul = 60;
	else if (!strcmp(end, "h"))
		mul = 3600;
	else if (!strcmp(end, "d"))
		mul = 86400;
	else
		return false;
	if (v > 365ULL * 86400 || v * mul > 365ULL * 86400)
		return false;
	*out = (uint32_t)(v * mul);
	return true;
}

/* Duration, or "manual" when allow_manual. */
static bool get_duration(struct ld *l, const yaml_node_t *n, const char *key,
			 bool allow_manual, uint32_t *out)
{
	const char *s = want_scalar(l, n, key);
	if (!s)
		return false;
	if (allow_manual && !strcmp(s, "manual")) {
		*out = POLICY_MANUAL;
		return true;
	}
	if (!policy_parse_duration(s, out)) {
		err(l, n, "%s: expected a duration like 90s, 10m, 1h, 7d (at most 365d)%s, got \"%.64s\"",
		    key, allow_manual ? " or manual" : "", s);
		return false;
	}
	return true;
}

static bool copy_name(struct ld *l, const yaml_node_t *n, const char *key, char *dst, size_t cap)
{
	const char *s = want_scalar(l, n, key);
	size_t len;
	if (!s)
		return false;
	len = strlen(s);
	if (!len || len >= cap) {
		err(l, n, "%s: expected 1..%zu characters", key, cap - 1);
		return false;
	}
	for (const char *p = s; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.')) {
			err(l, n, "%s: \"%.64s\": only letters, digits, '-', '_', '.'", key, s);
			return false;
		}
	}
	memcpy(dst, s, len + 1);
	return true;
}

/* Iterate a mapping: calls fn for each pair with the key string. */
typedef void (*pair_fn)(struct ld *l, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx);

static void each_pair(struct ld *l, yaml_node_t *map, const char *what, pair_fn fn, void *ctx)
{
	if (!want_type(l, map, YAML_MAPPING_NODE, what))
		return;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
		const char *ks = scalar(k);
		if (!ks) {
			err(l, k, "%s: keys must be scalars", what);
			continue;
		}
		fn(l, ks, k, v, ctx);
	}
}

/* ---- conditions and rules ------------------------------------------------ */

/* "messages_10m >= 100" */
static bool parse_cond(struct ld *l, const yaml_node_t *n, struct policy_cond *c)
{
	const char *s = want_scalar(l, n, "condition");
	char stat[64], op[4], num[64], extra[2];
	if (!s)
		return false;
	if (sscanf(s, "%63s %3s %63s %1s", stat, op, num, extra) != 3) {
		err(l, n, "condition: expected \"<metric>_<window> <op> <number>\", got \"%.64s\"", s);
		return false;
	}
	bool ok = true;
	char *us = strrchr(stat, '_');
	int m = -1, w = -1;
	if (us) {
		*us = '\0';
		for (int i = 0; i < PW_COUNT; i++)
			if (!strcmp(us + 1, window_names[i]))
				w = i;
		for (int i = 0; i < PM_COUNT; i++)
			if (!strcmp(stat, metric_names[i]))
				m = i;
	}
	if (m < 0 || w < 0) {
		err(l, n, "condition: unknown statistic \"%.64s\" (metric_1m|_10m|_1h, see policies/README.md)", s);
		ok = false;
	} else if (policy_metric_is_ratio((enum policy_metric)m) && w != PW_10M) {
		err(l, n, "condition: %s exists for the 10m window only", metric_names[m]);
		ok = false;
	}
	int o = -1;
	for (int i = 0; i <= PO_EQ; i++)
		if (!strcmp(op, op_names[i]))
			o = i;
	if (o < 0) {
		err(l, n, "condition: unknown operator \"%s\" (>=, >, <=, <, ==)", op);
		ok = false;
	}
	double v;
	if (!parse_number(num, &v) || v < 0 || v > 1e9) {
		err(l, n, "condition: threshold \"%.32s\" is not a number in 0..1e9", num);
		ok = false;
	}
	if (!ok)
		return false;
	c->metric = (enum policy_metric)m;
	c->window = (enum policy_window)w;
	c->op = (enum policy_op)o;
	c->threshold = v;
	return true;
}

struct rule_ctx {
	struct policy_rule *r;
	bool have_name, have_action, have_conds, have_duration;
};

static void parse_conds(struct ld *l, yaml_node_t *v, struct policy_rule *r, const char *key)
{
	if (!want_type(l, v, YAML_SEQUENCE_NODE, key))
		return;
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		yaml_node_t *cn = node(l, *it);
		if (r->n_conds >= POLICY_MAX_CONDS) {
			err(l, cn, "%s: more than %d conditions", key, POLICY_MAX_CONDS);
			return;
		}
		if (parse_cond(l, cn, &r->conds[r->n_conds]))
			r->n_conds++;
	}
}

static void rule_pair(struct ld *l, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct rule_ctx *rc = ctx;
	struct policy_rule *r = rc->r;

	if (!strcmp(key, "name")) {
		rc->have_name = copy_name(l, v, "name", r->name, sizeof(r->name));
	} else if (!strcmp(key, "action")) {
		const char *s = want_scalar(l, v, "action");
		rc->have_action = true;
		if (s && !strcmp(s, "alert"))
			r->action = PA_ALERT;
		else if (s && !strcmp(s, "block"))
			r->action = PA_BLOCK;
		else if (s)
			err(l, v, "action: expected alert or block, got \"%.64s\"", s);
	} else if (!strcmp(key, "duration")) {
		rc->have_duration = get_duration(l, v, "duration", false, &r->duration_s);
	} else if (!strcmp(key, "all") || !strcmp(key, "any")) {
		if (rc->have_conds)
			err(l, k, "rule: give either all or any, once");
		rc->have_conds = true;
		r->any = key[1] == 'n';
		parse_conds(l, v, r, key);
	} else if (!strcmp(key, "description")) {
		want_scalar(l, v, key);
	} else {
		err(l, k, "rule: unknown key \"%.64s\" (name, description, action, duration, all, any)", key);
	}
}

static void parse_rule(struct ld *l, yaml_node_t *n, struct policy *p)
{
	struct policy_rule *r = &p->rules[p->n_rules];
	struct rule_ctx rc = { .r = r };

	memset(r, 0, sizeof(*r));
	each_pair(l, n, "rule", rule_pair, &rc);
	if (!n || n->type != YAML_MAPPING_NODE)
		return;
	if (!rc.have_name)
		err(l, n, "rule: name is required");
	if (!rc.have_action)
		err(l, n, "rule: action is required (alert or block)");
	if (!rc.have_conds || !r->n_conds)
		err(l, n, "rule: at least one condition (all: or any:) is required");
	if (rc.have_duration && r->action == PA_ALERT)
		err(l, n, "rule %s: duration applies to block rules only", r->name);
	if (rc.have_name && policy_rule_index(p, r->name) >= 0)
		err(l, n, "rule %s: defined twice", r->name);
	p->n_rules++;
}

static void parse_rules(struct ld *l, yaml_node_t *v, struct policy *p)
{
	if (!want_type(l, v, YAML_SEQUENCE_NODE, "rules"))
		return;
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		if (p->n_rules >= POLICY_MAX_RULES) {
			err(l, node(l, *it), "rules: more than %d rules", POLICY_MAX_RULES);
			return;
		}
		parse_rule(l, node(l, *it), p);
	}
}

/* ---- other sections ------------------------------------------------------ */

static void escalation_pair(struct ld *l, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct policy *p = ctx;

	if (!strcmp(key, "ladder")) {
		if (!want_type(l, v, YAML_SEQUENCE_NODE, "escalation.ladder"))
			return;
		p->n_ladder = 0;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			yaml_node_t *dn = node(l, *it);
			uint32_t d;
			if (p->n_ladder >= POLICY_MAX_LADDER) {
				err(l, dn, "escalation.ladder: more than %d steps", POLICY_MAX_LADDER);
				return;
			}
			if (!get_duration(l, dn, "escalation.ladder", true, &d))
				continue;
			if (p->n_ladder && p->ladder[p->n_ladder - 1] == POLICY_MANUAL)
				err(l, dn, "escalation.ladder: nothing may follow manual");
			else if (p->n_ladder && d < p->ladder[p->n_ladder - 1])
				err(l, dn, "escalation.ladder: steps must not get shorter");
			p->ladder[p->n_ladder++] = d;
		}
		if (!p->n_ladder)
			err(l, v, "escalation.ladder: at least one step");
	} else if (!strcmp(key, "forget_after")) {
		get_duration(l, v, "escalation.forget_after", false, &p->forget_after_s);
	} else {
		err(l, k, "escalation: unknown key \"%.64s\" (ladder, forget_after)", key);
	}
}

/* The controller's global rule: the same message (body fingerprint or
 * subject template) from many VMs within a window. */
static void campaign_pair(struct ld *l, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct policy *p = ctx;
	double n;

	if (!strcmp(key, "window")) {
		get_duration(l, v, "campaign.window", false, &p->campaign_window_s);
	} else if (!strcmp(key, "min_vms")) {
		if (get_number(l, v, "campaign.min_vms", 2, 10000, &n))
			p->campaign_min_vms = (uint32_t)n;
	} else if (!strcmp(key, "min_messages")) {
		if (get_number(l, v, "campaign.min_messages", 1, 1000000, &n))
			p->campaign_min_messages = (uint32_t)n;
	} else if (!strcmp(key, "block")) {
		get_duration(l, v, "campaign.block", true, &p->campaign_block_s);
	} else if (!strcmp(key, "enabled")) {
		get_bool(l, v, "campaign.enabled", &p->campaign_enabled);
	} else {
		err(l, k, "campaign: unknown key \"%.64s\" (enabled, window, min_vms, min_messages, block)", key);
	}
}

static void baseline_pair(struct ld *l, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct policy *p = ctx;
	static const char *const floors[] = { "floor_messages_10m", "floor_sessions_10m", "floor_rcpts_10m" };

	if (!strcmp(key, "half_life")) {
		if (get_duration(l, v, "baseline.half_life", false, &p->baseline_half_life_s) &&
		    p->baseline_half_life_s < 600)
			err(l, v, "baseline.half_life: at least 10m (one baseline period)");
		return;
	}
	for (int i = 0; i < 3; i++) {
		if (!strcmp(key, floors[i])) {
			get_number(l, v, key, 1, 1e9, &p->spike_floor[i]);
			return;
		}
	}
	err(l, k, "baseline: unknown key \"%.64s\" (half_life, floor_messages_10m, floor_sessions_10m, floor_rcpts_10m)", key);
}

struct plan_ctx {
	struct policy_plan *pl;
	const struct policy *p;
};

static void plan_pair(struct ld *l, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct plan_ctx *pc = ctx;

	if (!strcmp(key, "scale")) {
		get_number(l, v, "scale", 0.01, 1000, &pc->pl->scale);
	} else if (!strcmp(key, "disable")) {
		if (!want_type(l, v, YAML_SEQUENCE_NODE, "disable"))
			return;
		for (yaml_node_item_t *it = v->data.sequence.items.start;
		     it < v->data.sequence.items.top; it++) {
			yaml_node_t *rn = node(l, *it);
			const char *s = want_scalar(l, rn, "disable");
			int i = s ? policy_rule_index(pc->p, s) : -1;
			if (s && i < 0)
				err(l, rn, "disable: no rule named \"%.64s\"", s);
			else if (i >= 0)
				pc->pl->disabled |= 1ULL << i;
		}
	} else {
		err(l, k, "plan %s: unknown key \"%.64s\" (scale, disable)", pc->pl->name, key);
	}
}

static void plans_pair(struct ld *l, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct policy *p = ctx;
	struct policy_plan *pl;

	if (p->n_plans >= POLICY_MAX_PLANS) {
		err(l, k, "plans: more than %d plans", POLICY_MAX_PLANS);
		return;
	}
	pl = &p->plans[p->n_plans];
	memset(pl, 0, sizeof(*pl));
	pl->scale = 1.0;
	if (!copy_name(l, k, "plan name", pl->name, sizeof(pl->name)))
		return;
	if (policy_plan_find(p, pl->name)) {
		err(l, k, "plan %s: defined twice", pl->name);
		return;
	}
	struct plan_ctx pc = { pl, p };
	each_pair(l, v, "plan", plan_pair, &pc);
	p->n_plans++;
}

static void whitelisted_pair(struct ld *l, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct policy *p = ctx;

	if (!strcmp(key, "mode")) {
		const char *s = want_scalar(l, v, "whitelisted.mode");
		if (s && !strcmp(s, "alert"))
			p->wl_mode = PWL_ALERT;
		else if (s && !strcmp(s, "ignore"))
			p->wl_mode = PWL_IGNORE;
		else if (s)
			err(l, v, "whitelisted.mode: expected alert or ignore, got \"%.64s\"", s);
	} else if (!strcmp(key, "scale")) {
		get_number(l, v, "whitelisted.scale", 0.01, 1000, &p->wl_scale);
	} else {
		err(l, k, "whitelisted: unknown key \"%.64s\" (mode, scale)", key);
	}
}

/* Top level.  rules are read before plans (plans name rules), so the
 * sections are visited in two passes. */
static void top_pair(struct ld *l, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct policy *p = ctx;

	if (!strcmp(key, "version")) {
		double ver;
		if (get_number(l, v, "version", 1, 1, &ver))
			(void)ver;
	} else if (!strcmp(key, "observe_only")) {
		get_bool(l, v, key, &p->observe_only);
	} else if (!strcmp(key, "alert_hold")) {
		get_duration(l, v, key, false, &p->alert_hold_s);
	} else if (!strcmp(key, "baseline")) {
		each_pair(l, v, "baseline", baseline_pair, p);
	} else if (!strcmp(key, "escalation")) {
		each_pair(l, v, "escalation", escalation_pair, p);
	} else if (!strcmp(key, "campaign")) {
		each_pair(l, v, "campaign", campaign_pair, p);
	} else if (!strcmp(key, "rules")) {
		parse_rules(l, v, p);
	} else if (!strcmp(key, "whitelisted")) {
		each_pair(l, v, "whitelisted", whitelisted_pair, p);
	} else if (!strcmp(key, "plans")) {
		/* second pass */
	} else {
		err(l, k, "unknown key \"%.64s\" (version, observe_only, alert_hold, baseline, escalation, campaign, rules, plans, whitelisted)", key);
	}
}

static void top_plans(struct ld *l, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	if (!strcmp(key, "plans"))
		each_pair(l, v, "plans", plans_pair, ctx);
}

/* ---- reply patterns ------------------------------------------------------ */

struct pat_ctx {
	struct reply_pattern *rp;
	bool have_class;
};

static void lower_copy(char *dst, const char *src, size_t cap)
{
	size_t i = 0;
	for (; src[i] && i + 1 < cap; i++)
		dst[i] = (char)(src[i] >= 'A' && src[i] <= 'Z' ? src[i] + 32 : src[i]);
	dst[i] = '\0';
}

/* One code: "550", or "5xx" / "55x" ranges. */
static bool parse_code(const char *s, uint16_t *lo, uint16_t *hi)
{
	if (strlen(s) != 3 || s[0] < '2' || s[0] > '5')
		return false;
	char a[4], b[4];
	for (int i = 0; i < 3; i++) {
		if (s[i] == 'x' || s[i] == 'X') {
			if (i == 0)
				return false;
			a[i] = '0';
			b[i] = '9';
		} else if (s[i] >= '0' && s[i] <= '9') {
			if (i && (s[i - 1] == 'x' || s[i - 1] == 'X'))
				return false;
			a[i] = b[i] = s[i];
		} else {
			return false;
		}
	}
	a[3] = b[3] = '\0';
	*lo = (uint16_t)atoi(a);
	*hi = (uint16_t)atoi(b);
	return true;
}

static void pattern_codes(struct ld *l, yaml_node_t *v, struct reply_pattern *rp)
{
	yaml_node_item_t *start = NULL, *top = NULL;
	int single = 0;

	if (v && v->type == YAML_SEQUENCE_NODE) {
		start = v->data.sequence.items.start;
		top = v->data.sequence.items.top;
	} else {
		single = 1;
	}
	for (int i = 0; single ? i < 1 : start + i < top; i++) {
		yaml_node_t *cn = single ? v : node(l, start[i]);
		const char *s = want_scalar(l, cn, "code");
		if (!s)
			continue;
		if (rp->n_codes >= REPLY_MAX_CODES) {
			err(l, cn, "code: more than %d codes", REPLY_MAX_CODES);
			return;
		}
		if (!parse_code(s, &rp->code_lo[rp->n_codes], &rp->code_hi[rp->n_codes]))
			err(l, cn, "code: expected a reply code like 550 or 4xx, got \"%.16s\"", s);
		else
			rp->n_codes++;
	}
}

static void pattern_match(struct ld *l, yaml_node_t *v, struct reply_pattern *rp)
{
	yaml_node_item_t *start = NULL, *top = NULL;
	bool single = !(v && v->type == YAML_SEQUENCE_NODE);

	if (!single) {
		start = v->data.sequence.items.start;
		top = v->data.sequence.items.top;
	}
	for (int i = 0; single ? i < 1 : start + i < top; i++) {
		yaml_node_t *mn = single ? v : node(l, start[i]);
		const char *s = want_scalar(l, mn, "match");
		if (!s)
			continue;
		if (rp->n_match >= REPLY_MAX_MATCH) {
			err(l, mn, "match: more than %d strings", REPLY_MAX_MATCH);
			return;
		}
		size_t len = strlen(s);
		if (!len || len >= REPLY_MAX_TEXT || (len == 1 && s[0] == '^')) {
			err(l, mn, "match: expected 1..%d characters", REPLY_MAX_TEXT - 1);
			continue;
		}
		lower_copy(rp->match[rp->n_match++], s, REPLY_MAX_TEXT);
	}
}

static void pattern_pair(struct ld *l, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	struct pat_ctx *pc = ctx;
	struct reply_pattern *rp = pc->rp;

	if (!strcmp(key, "class")) {
		const char *s = want_scalar(l, v, "class");
		pc->have_class = true;
		if (s && !strcmp(s, "user_unknown"))
			rp->cls = RCLS_USER_UNKNOWN;
		else if (s && !strcmp(s, "blocklist"))
			rp->cls = RCLS_BLOCKLIST;
		else if (s && !strcmp(s, "rate_limit"))
			rp->cls = RCLS_RATE_LIMIT;
		else if (s)
			err(l, v, "class: expected user_unknown, blocklist or rate_limit, got \"%.64s\"", s);
	} else if (!strcmp(key, "list")) {
		copy_name(l, v, "list", rp->list, sizeof(rp->list));
	} else if (!strcmp(key, "code")) {
		pattern_codes(l, v, rp);
	} else if (!strcmp(key, "enhanced")) {
		const char *s = want_scalar(l, v, "enhanced");
		size_t n = s ? strlen(s) : 0;
		bool ok = s && n && n < sizeof(rp->enhanced) && (s[0] == '4' || s[0] == '5' || s[0] == '2');
		for (size_t i = 0; ok && i < n; i++)
			ok = (s[i] >= '0' && s[i] <= '9') || s[i] == '.';
		if (!ok && s)
			err(l, v, "enhanced: expected a status code prefix like 5.7.1, got \"%.32s\"", s);
		else if (ok)
			memcpy(rp->enhanced, s, n + 1);
	} else if (!strcmp(key, "match")) {
		pattern_match(l, v, rp);
	} else if (!strcmp(key, "example")) {
		/* documentation only: a real reply text */
	} else {
		err(l, k, "pattern: unknown key \"%.64s\" (class, list, code, enhanced, match, example)", key);
	}
}

static void parse_patterns(struct ld *l, yaml_node_t *v, struct reply_patterns *out)
{
	if (!want_type(l, v, YAML_SEQUENCE_NODE, "patterns"))
		return;
	for (yaml_node_item_t *it = v->data.sequence.items.start;
	     it < v->data.sequence.items.top; it++) {
		yaml_node_t *pn = node(l, *it);
		if (out->n >= REPLY_MAX_PATTERNS) {
			err(l, pn, "patterns: more than %d patterns", REPLY_MAX_PATTERNS);
			return;
		}
		struct reply_pattern *rp = &out->p[out->n];
		struct pat_ctx pc = { rp, false };
		memset(rp, 0, sizeof(*rp));
		each_pair(l, pn, "pattern", pattern_pair, &pc);
		if (!pn || pn->type != YAML_MAPPING_NODE)
			continue;
		if (!pc.have_class)
			err(l, pn, "pattern: class is required");
		if (!rp->n_match && !rp->enhanced[0])
			err(l, pn, "pattern: match or enhanced is required");
		if (rp->list[0] && rp->cls != RCLS_BLOCKLIST)
			err(l, pn, "pattern: list applies to class blocklist only");
		out->n++;
	}
}

static void replies_top(struct ld *l, const char *key, yaml_node_t *k, yaml_node_t *v, void *ctx)
{
	if (!strcmp(key, "patterns"))
		parse_patterns(l, v, ctx);
	else if (strcmp(key, "version"))
		err(l, k, "unknown key \"%.64s\" (version, patterns)", key);
}

/* ---- documents ----------------------------------------------------------- */

/* Parse buf into one document and call top (and then top2, if set) on the
 * root mapping's pairs.  Returns 0 or -EINVAL. */
static int load_doc(const char *name, const char *buf, size_t len, struct policy_errors *errs,
		    pair_fn top, pair_fn top2, void *ctx)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct ld l = { name, &doc, errs };

	memset(errs, 0, sizeof(*errs));
	if (!yaml_parser_initialize(&parser)) {
		err(&l, NULL, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		struct policy_errors *e = errs;
		snprintf(e->msg[0], sizeof(e->msg[0]), "%s:%lu: YAML syntax: %s%s%s", name,
			 (unsigned long)parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "error",
			 parser.context ? " " : "", parser.context ? parser.context : "");
		e->n = 1;
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (!root) {
		err(&l, NULL, "empty document");
	} else {
		each_pair(&l, root, "document", top, ctx);
		if (top2 && root->type == YAML_MAPPING_NODE)
			each_pair(&l, root, "document", top2, ctx);
	}
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	return errs->n ? -EINVAL : 0;
}

int policy_load_buffer(const char *name, const char *buf, size_t len,
		       struct policy *out, struct policy_errors *errs)
{
	policy_init(out);
	int r = load_doc(name, buf, len, errs, top_pair, top_plans, out);
	if (!r && !out->n_rules) {
		struct ld l = { name, NULL, errs };
		err(&l, NULL, "no rules: a policy needs at least one rule");
		r = -EINVAL;
	}
	return r;
}

int policy_load_replies_buffer(const char *name, const char *buf, size_t len,
			       struct reply_patterns *out, struct policy_errors *errs)
{
	out->n = 0;
	return load_doc(name, buf, len, errs, replies_top, NULL, out);
}

/* Read a whole (small) file; returns owned buffer or NULL with errs set. */
static char *read_file(const char *path, size_t *len, struct policy_errors *errs)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;

	memset(errs, 0, sizeof(*errs));
	if (f)
		buf = malloc(MAX_FILE_BYTES + 1);
	if (!f || !buf) {
		snprintf(errs->msg[0], sizeof(errs->msg[0]), "%s:0: cannot read: %s", path,
			 strerror(f ? ENOMEM : errno));
		errs->n = 1;
		if (f)
			fclose(f);
		return NULL;
	}
	*len = fread(buf, 1, MAX_FILE_BYTES + 1, f);
	bool bad = ferror(f) || *len > MAX_FILE_BYTES;
	fclose(f);
	if (bad) {
		snprintf(errs->msg[0], sizeof(errs->msg[0]), "%s:0: cannot read (or larger than %u bytes)",
			 path, MAX_FILE_BYTES);
		errs->n = 1;
		free(buf);
		return NULL;
	}
	return buf;
}

int policy_load_file(const char *path, struct policy *out, struct policy_errors *errs)
{
	size_t len;
	char *buf = read_file(path, &len, errs);
	if (!buf)
		return -EIO;
	int r = policy_load_buffer(path, buf, len, out, errs);
	free(buf);
	return r;
}

int policy_load_replies_file(const char *path, struct reply_patterns *out,
			     struct policy_errors *errs)
{
	size_t len;
	char *buf = read_file(path, &len, errs);
	if (!buf)
		return -EIO;
	int r = policy_load_replies_buffer(path, buf, len, out, errs);
	free(buf);
	return r;
}

int policy_rule_index(const struct policy *p, const char *name)
{
	for (uint32_t i = 0; i < p->n_rules; i++)
		if (!strcmp(p->rules[i].name, name))
			return (int)i;
	return -1;
}

const struct policy_plan *policy_plan_find(const struct policy *p, const char *name)
{
	for (uint32_t i = 0; i < p->n_plans; i++)
		if (!strcmp(p->plans[i].name, name))
			return &p->plans[i];
	return NULL;
}

void policy_errors_log(const struct policy_errors *e)
{
	for (uint32_t i = 0; i < e->n && i < POLICY_MAX_ERRORS; i++)
		log_err("config: %s", e->msg[i]);
	if (e->n > POLICY_MAX_ERRORS)
		log_err("config: %u more errors", e->n - POLICY_MAX_ERRORS);
}
