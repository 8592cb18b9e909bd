/* SPDX-License-Identifier: MIT */
/*
 * poll: the controller's read caches (controller process).  Every tick
 * (200 ms) one tw.lua poll brings what changed since the last one: the
 * summaries of VMs whose version moved (GET /v1/vms and /metrics are
 * served from them), new events (the live feed), the shared counters, and
 * the tokens kept in Redis when their version moved.  Every 2 s the agents'
 * view is refreshed for /metrics.  Only one poll is out at a time; a poll
 * that could not bring everything asks for the next one at once.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "log.h"

#define POLL_MAX_ROWS "2000"
#define POLL_AGENTS_EVERY_S 2

static void set_tokens(struct ctl *c, json_t *list)
{
	struct auth_set s = { 0 };
	size_t i;
	json_t *r;

	s.t = calloc(json_array_size(list) ? json_array_size(list) : 1, sizeof(*s.t));
	if (!s.t)
		return;
	json_array_foreach(list, i, r) {
		struct auth_token *t = &s.t[s.n];
		const char *name = json_string_value(json_object_get(r, "name"));
		const char *role = json_string_value(json_object_get(r, "role"));
		const char *hash = json_string_value(json_object_get(r, "hash"));
		const char *by = json_string_value(json_object_get(r, "created_by"));

		if (!auth_name_valid(name) || (t->role = auth_role_parse(role)) == AUTH_NONE ||
		    !auth_unhex(hash, t->hash) || s.n >= AUTH_MAX_TOKENS) {
			log_warn("api: token record in Redis ignored name=\"%.64s\"", name ? name : "?");
			continue;
		}
		snprintf(t->name, sizeof(t->name), "%s", name);
		snprintf(t->created_by, sizeof(t->created_by), "%s", by && auth_name_valid(by) ? by : "");
		t->created = json_integer_value(json_object_get(r, "created"));
		t->from_redis = true;
		s.n++;
	}
	auth_set_fini(&c->tok_redis);
	c->tok_redis = s;
}

static void on_poll(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ctl *c = ac->data;
	const redisReply *rep = reply;
	json_error_t je;
	json_t *j, *rows, *evs, *item, *toks;
	size_t i;
	int64_t seq, now_seq;

	c->polling = false;
	if (!rep || rep->type != REDIS_REPLY_STRING) {
		c->ctr.poll_failures++;
		if (rep && rep->type == REDIS_REPLY_ERROR)
			log_err("controller: poll failed: %s", rep->str);
		return;
	}
	j = json_loadb(rep->str, rep->len, 0, &je);
	if (!j) {
		c->ctr.poll_failures++;
		log_err("controller: poll reply is not JSON: %s", je.text);
		return;
	}
	c->ctr.polls++;
	seq = json_integer_value(json_object_get(j, "seq"));
	now_seq = json_integer_value(json_object_get(j, "now_seq"));
	if (now_seq < (int64_t)c->vm_ver) {
		/* Redis lost its data (or was replaced): read every VM again */
		log_warn("controller: VM versions went back (%" PRId64 " < %" PRIu64 "), reloading the VM list",
			 now_seq, c->vm_ver);
		vmcache_fini(&c->vms);
		vmcache_init(&c->vms);
		c->vm_ver = 0;
		c->vms_loaded = false;
		c->poll_again = true;
		json_decref(j);
		return;
	}
	rows = json_object_get(j, "rows");
	json_array_foreach(rows, i, item) {
		int e = vmcache_put(&c->vms, item);

		if (e < 0 && e != -EINVAL)
			log_err("controller: VM list: %s", strerror(-e));
	}
	c->vm_ver = (uint64_t)seq;
	if (json_is_true(json_object_get(j, "more"))) {
		c->poll_again = true;
	} else if (!c->vms_loaded) {
		c->vms_loaded = true;
		log_info("controller: VM list loaded vms=%zu", c->vms.n);
	}
	evs = json_object_get(j, "events");
	json_array_foreach(evs, i, item) {
		const char *id = json_string_value(json_object_get(item, "id"));
		const char *type = json_string_value(json_object_get(item, "type"));
		char *s = json_dumps(item, JSON_COMPACT);

		if (id && type && s && strlen(id) < sizeof(c->ev_last)) {
			feed_push(c, id, type, s, c->ev_loaded);
			snprintf(c->ev_last, sizeof(c->ev_last), "%s", id);
		}
		free(s);
	}
	if (json_array_size(evs) >= 500)
		c->poll_again = true;
	c->ev_loaded = true;
	json_decref(c->counters);
	c->counters = json_incref(json_object_get(j, "counters"));
	toks = json_object_get(j, "tokens");
	if (json_is_array(toks)) {
		set_tokens(c, toks);
		c->tokens_ver = json_integer_value(json_object_get(j, "tokens_ver"));
	}
	json_decref(j);
	if (c->poll_again)
		poll_tick(c, (uint64_t)time(NULL));
}

static void on_agents_view(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ctl *c = ac->data;
	const redisReply *rep = reply;
	json_t *j;

	if (!rep || rep->type != REDIS_REPLY_STRING)
		return;
	j = json_loadb(rep->str, rep->len, 0, NULL);
	if (!j)
		return;
	json_decref(c->agents_view);
	c->agents_view = json_incref(json_object_get(j, "agents"));
	json_decref(j);
}

void poll_tick(struct ctl *c, uint64_t now)
{
	char ver[24], tv[24], ns[24];
	const char *argv[5] = { ver, c->ev_loaded ? (c->ev_last[0] ? c->ev_last : "0-0") : "", tv, ns,
				POLL_MAX_ROWS };

	if (!c->ready)
		return;
	snprintf(ns, sizeof(ns), "%" PRIu64, now);
	if (now >= c->last_agents_view_s + POLL_AGENTS_EVERY_S) {
		const char *a[1] = { ns };

		if (ctl_script(c, "agents", 1, a, NULL, on_agents_view, NULL) == 0)
			c->last_agents_view_s = now;
	}
	if (c->polling)
		return;
	c->poll_again = false;
	snprintf(ver, sizeof(ver), "%" PRIu64, c->vm_ver);
	snprintf(tv, sizeof(tv), "%" PRId64, c->tokens_ver);
	if (ctl_script(c, "poll", 5, argv, NULL, on_poll, NULL) == 0)
		c->polling = true;
}

void poll_fini(struct ctl *c)
{
	vmcache_fini(&c->vms);
	json_decref(c->counters);
	json_decref(c->agents_view);
	c->counters = c->agents_view = NULL;
	auth_set_fini(&c->tok_redis);
	auth_set_fini(&c->tok_file);
}
