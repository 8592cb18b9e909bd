/* SPDX-License-Identifier: MIT */
/*
 * verdict_json: verdict change -> JSON (agent process, pure).
 */
#include "verdict_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void num(struct jsonw *w, double v)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%.6g", v);
	jsonw_raw(w, buf, (size_t)n);
}

static void stat_key(struct jsonw *w, enum policy_metric m, enum policy_window win)
{
	char key[48];
	snprintf(key, sizeof(key), "%s_%s", policy_metric_name(m), policy_window_name(win));
	jsonw_key_len(w, key, strlen(key));
}

static void rules_json(const struct detect_verdict *v, struct jsonw *w)
{
	jsonw_key(w, "rules");
	jsonw_arr_begin(w);
	for (uint32_t i = 0; i < v->n_fired; i++) {
		const struct detect_fired *f = &v->fired[i];
		const struct policy_rule *r = &v->policy->rules[f->rule];
		jsonw_obj_begin(w);
		jsonw_key(w, "name"); jsonw_cstr(w, r->name);
		jsonw_key(w, "action"); jsonw_cstr(w, policy_action_name(r->action));
		jsonw_key(w, "conditions");
		jsonw_arr_begin(w);
		for (uint32_t c = 0; c < r->n_conds; c++) {
			jsonw_obj_begin(w);
			stat_key(w, r->conds[c].metric, r->conds[c].window);
			num(w, f->value[c]);
			jsonw_key(w, "op"); jsonw_cstr(w, policy_op_name(r->conds[c].op));
			jsonw_key(w, "threshold"); num(w, f->threshold[c]);
			jsonw_key(w, "met"); jsonw_bool(w, f->met[c]);
			jsonw_obj_end(w);
		}
		jsonw_arr_end(w);
		jsonw_obj_end(w);
	}
	jsonw_arr_end(w);
}

static void samples_json(struct jsonw *w, const char *key, const struct stats_sample_ring *r)
{
	const char *s;
	jsonw_key(w, key);
	jsonw_arr_begin(w);
	for (uint32_t i = 0; (s = stats_sample(r, i)); i++)
		jsonw_cstr(w, s);
	jsonw_arr_end(w);
}

static void evidence_json(const struct detect_verdict *v, struct jsonw *w)
{
	static const enum policy_metric shown[] = {
		PM_ATTEMPTS, PM_SESSIONS, PM_MESSAGES, PM_RCPTS, PM_DST_IPS, PM_DST_NETS,
		PM_REPLIES_4XX, PM_REPLIES_5XX, PM_USER_UNKNOWN, PM_BLOCKLIST, PM_RATE_LIMIT,
		PM_TOP_DIGEST, PM_TOP_SUBJECT,
	};
	jsonw_key(w, "evidence");
	jsonw_obj_begin(w);
	jsonw_key(w, "stats");
	jsonw_obj_begin(w);
	for (size_t i = 0; i < sizeof(shown) / sizeof(shown[0]); i++) {
		for (int win = 0; win < PW_COUNT; win++) {
			stat_key(w, shown[i], (enum policy_window)win);
			num(w, v->snap->v[shown[i]][win]);
		}
	}
	jsonw_key(w, "spike_messages_10m"); num(w, v->snap->v[PM_SPIKE_MESSAGES][PW_10M]);
	jsonw_key(w, "baseline_messages_10m"); num(w, v->snap->baseline[0]);
	jsonw_key(w, "baseline_periods"); jsonw_uint(w, v->snap->periods_seen);
	jsonw_obj_end(w);
	samples_json(w, "message_ids", &v->stats->message_ids);
	samples_json(w, "subjects", &v->stats->subjects);
	samples_json(w, "replies", &v->stats->replies);
	jsonw_obj_end(w);
}

void verdict_to_json(const struct detect_verdict *v, struct jsonw *w)
{
	jsonw_obj_begin(w);
	jsonw_key(w, "ts"); jsonw_ts_us(w, v->ts_us);
	jsonw_key(w, "vm"); jsonw_cstr(w, v->vm->uuid);
	jsonw_key(w, "name"); jsonw_cstr(w, v->vm->name);
	jsonw_key(w, "plan");
	if (v->vm->plan[0])
		jsonw_cstr(w, v->vm->plan);
	else
		jsonw_null(w);
	jsonw_key(w, "whitelisted"); jsonw_bool(w, v->vm->whitelisted);
	jsonw_key(w, "verdict"); jsonw_cstr(w, policy_action_name(v->verdict));
	jsonw_key(w, "duration");
	if (v->verdict != PA_BLOCK)
		jsonw_null(w);
	else if (v->duration_s == POLICY_MANUAL)
		jsonw_cstr(w, "manual");
	else
		jsonw_uint(w, v->duration_s);
	jsonw_key(w, "offence"); jsonw_uint(w, v->offence);
	jsonw_key(w, "observe_only"); jsonw_bool(w, v->observe_only);
	jsonw_key(w, "downgraded"); jsonw_bool(w, v->downgraded);
	jsonw_key(w, "reason"); jsonw_cstr(w, v->reason);
	rules_json(v, w);
	evidence_json(v, w);
	jsonw_obj_end(w);
}

static void fps_json(struct jsonw *w, const char *name, const struct stats_vm *st, enum stats_fp kind,
		     uint64_t now_s)
{
	struct stats_fp_count top[STATS_JSON_TOP_FPS];
	uint32_t n = st ? stats_vm_top(st, kind, now_s, top, STATS_JSON_TOP_FPS) : 0;
	char hex[20];

	jsonw_key(w, name);
	jsonw_arr_begin(w);
	for (uint32_t i = 0; i < n; i++) {
		snprintf(hex, sizeof(hex), "%016" PRIx64, top[i].key);
		jsonw_arr_begin(w);
		jsonw_cstr(w, hex);
		jsonw_uint(w, top[i].count);
		jsonw_arr_end(w);
	}
	jsonw_arr_end(w);
}

void stats_entry_to_json(struct jsonw *w, const char *uuid, const char *name, const uint64_t n[SJ_COUNTS],
			 const struct stats_vm *st, uint64_t now_s)
{
	static const char *const k[SJ_COUNTS] = { "attempts", "sessions", "messages", "rcpts",
						  "rejected", "deferred", "user_unknown", "blocklist" };

	jsonw_obj_begin(w);
	jsonw_key(w, "uuid"); jsonw_cstr(w, uuid);
	jsonw_key(w, "name"); jsonw_cstr(w, name);
	for (int j = 0; j < SJ_COUNTS; j++) {
		jsonw_key(w, k[j]);
		jsonw_uint(w, n[j]);
	}
	jsonw_key(w, "fps");
	jsonw_obj_begin(w);
	fps_json(w, "digest", st, SF_DIGEST, now_s);
	fps_json(w, "subject", st, SF_SUBJECT, now_s);
	jsonw_obj_end(w);
	jsonw_obj_end(w);
}
