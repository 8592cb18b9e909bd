/* SPDX-License-Identifier: MIT */
/*
 * cmetrics: the controller's /metrics in the Prometheus text format
 * (controller process).  Fleet-wide figures come from the caches poll.c
 * keeps (VM list, agents' view, the shared counters in Redis, which every
 * controller reports alike); this instance's own work is prefixed
 * tapwarden_controller_ too and counted here.  Label values (VM names come
 * from libvirt, chosen by customers) are escaped as the format requires.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "ctl.h"

static void label(struct evbuffer *b, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(b, "\\n", 2);
		else if ((unsigned char)*s >= 0x20)
			evbuffer_add(b, s, 1);
	}
}

static void head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int64_t counter(struct ctl *c, const char *k)
{
	return json_integer_value(json_object_get(c->counters, k));
}

static void audit_actions(struct ctl *c, struct evbuffer *b)
{
	static const char *const actions[] = { "block", "unblock", "expire", "campaign", "escalate", "migrate",
					       "whitelist_add", "whitelist_revoke", "whitelist_expire", "whitelist_request",
					       "whitelist_approve", "whitelist_reject", "whitelist_recheck",
					       "agent_failed", "token_create", "token_revoke" };

	head(b, "tapwarden_controller_audit_actions_total", "counter", "Audit entries by action (fleet-wide).");
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		char k[64];

		snprintf(k, sizeof(k), "audit:%s", actions[i]);
		evbuffer_add_printf(b, "tapwarden_controller_audit_actions_total{action=\"%s\"} %" PRId64 "\n",
				    actions[i], counter(c, k));
	}
}

static void agents(struct ctl *c, struct evbuffer *b)
{
	static const struct { const char *metric, *field, *help; } per[] = {
		{ "tapwarden_controller_agent_up", "up", "1 when the agent's heartbeat is younger than 3 intervals." },
		{ "tapwarden_controller_agent_heartbeat_age_seconds", "heartbeat_age_s", "Seconds since the agent's last heartbeat (-1: never)." },
		{ "tapwarden_controller_agent_reports_pending", "reports_pending", "Report entries of the agent no controller has processed yet." },
		{ "tapwarden_controller_agent_commands_pending", "pending", "Commands the agent has not acknowledged." },
		{ "tapwarden_controller_agent_spool_pending", "spool_pending", "Reports waiting in the agent's disk spool." },
	};
	size_t n = json_array_size(c->agents_view), up = 0, i;
	json_t *a;

	json_array_foreach(c->agents_view, i, a)
		up += json_is_true(json_object_get(a, "up"));
	head(b, "tapwarden_controller_agents", "gauge", "Agents known.");
	evbuffer_add_printf(b, "tapwarden_controller_agents %zu\n", n);
	head(b, "tapwarden_controller_agents_up", "gauge", "Agents with a recent heartbeat.");
	evbuffer_add_printf(b, "tapwarden_controller_agents_up %zu\n", up);
	for (size_t m = 0; m < sizeof(per) / sizeof(per[0]); m++) {
		head(b, per[m].metric, "gauge", per[m].help);
		json_array_foreach(c->agents_view, i, a) {
			json_t *v = json_object_get(a, per[m].field);

			evbuffer_add_printf(b, "%s{agent=\"", per[m].metric);
			label(b, json_string_value(json_object_get(a, "id")));
			evbuffer_add_printf(b, "\"} %" PRId64 "\n",
					    json_is_boolean(v) ? (int64_t)json_is_true(v) : (int64_t)json_integer_value(v));
		}
	}
}

void cmetrics_write(struct ctl *c, struct evbuffer *b, int64_t now)
{
	static const char *const reasons[] = { "detection", "campaign", "manual" };
	size_t nstate[3] = { 0 }, wl = 0, blocks[2][3] = { { 0 } };

	head(b, "tapwarden_controller_info", "gauge", "The controller's version and consumer name.");
	evbuffer_add_printf(b, "tapwarden_controller_info{version=\"%s\",consumer=\"", CTL_VERSION);
	label(b, c->cfg->consumer);
	evbuffer_add(b, "\"} 1\n", 5);
	head(b, "tapwarden_controller_redis_up", "gauge", "1 while connected to Redis with the script loaded.");
	evbuffer_add_printf(b, "tapwarden_controller_redis_up %d\n", c->ready ? 1 : 0);

	head(b, "tapwarden_controller_vm_state", "gauge", "1 per VM seen in the last 24 h, labelled with its state.");
	for (size_t i = 0; i < c->vms.n; i++) {
		const struct vmrow *r = &c->vms.rows[i];
		enum vm_state st = vmcache_state(r, now);

		nstate[st]++;
		if (r->whitelisted && !(r->whitelist_expires > 0 && r->whitelist_expires <= now))
			wl++;
		if (st == VM_BLOCKED) {
			int o = r->block_origin && !strcmp(r->block_origin, "manual");
			int k = o ? 2 : r->block_kind && !strcmp(r->block_kind, "campaign") ? 1 : 0;

			blocks[o][k]++;
		}
		if (r->last_seen + 86400 < now && st != VM_BLOCKED)
			continue;
		evbuffer_add_printf(b, "tapwarden_controller_vm_state{vm=\"%s\",name=\"", r->uuid);
		label(b, r->name);
		evbuffer_add(b, "\",hypervisor=\"", 14);
		label(b, r->hypervisor);
		evbuffer_add_printf(b, "\",state=\"%s\"} 1\n", vmcache_state_name(st));
	}
	head(b, "tapwarden_controller_vms", "gauge", "VMs known, by state.");
	for (int s = 0; s < 3; s++)
		evbuffer_add_printf(b, "tapwarden_controller_vms{state=\"%s\"} %zu\n",
				    vmcache_state_name((enum vm_state)s), nstate[s]);
	head(b, "tapwarden_controller_whitelist_entries", "gauge", "Whitelist entries in force.");
	evbuffer_add_printf(b, "tapwarden_controller_whitelist_entries %zu\n", wl);
	head(b, "tapwarden_controller_blocks", "gauge", "Blocks in force, by origin and reason.");
	for (int o = 0; o < 2; o++)
		for (int k = 0; k < 3; k++)
			if (o == (k == 2))
				evbuffer_add_printf(b, "tapwarden_controller_blocks{origin=\"%s\",reason=\"%s\"} %zu\n",
						    o ? "manual" : "auto", reasons[k], blocks[o][k]);
	head(b, "tapwarden_controller_blocks_created_total", "counter", "Blocks decided, by reason (fleet-wide).");
	for (int k = 0; k < 3; k++) {
		char key[32];

		snprintf(key, sizeof(key), "block:%s", reasons[k]);
		evbuffer_add_printf(b, "tapwarden_controller_blocks_created_total{reason=\"%s\"} %" PRId64 "\n",
				    reasons[k], counter(c, key));
	}
	head(b, "tapwarden_controller_decisions_total", "counter", "Decisions sent to the agents (fleet-wide).");
	evbuffer_add_printf(b, "tapwarden_controller_decisions_total %" PRId64 "\n", counter(c, "decisions"));
	audit_actions(c, b);
	agents(c, b);
	{
		int64_t pending = 0;
		size_t i;
		json_t *a;

		json_array_foreach(c->agents_view, i, a)
			pending += json_integer_value(json_object_get(a, "pending"));
		head(b, "tapwarden_controller_commands_pending", "gauge",
		     "Commands sent to agents and not yet acknowledged, summed over agents.");
		evbuffer_add_printf(b, "tapwarden_controller_commands_pending %" PRId64 "\n", pending);
	}
	{
		const struct { const char *name, *type, *help; uint64_t v; } own[] = {
			{ "ingested_total", "counter", "Report entries this controller processed.", c->ctr.ingested },
			{ "duplicates_total", "counter", "Entries already processed (after a claim).", c->ctr.duplicates },
			{ "claimed_total", "counter", "Entries claimed from another controller.", c->ctr.claimed },
			{ "ingest_failures_total", "counter", "Entries the script failed on.", c->ctr.failed },
			{ "http_requests_total", "counter", "HTTP requests.", c->ctr.http_requests },
			{ "http_errors_total", "counter", "HTTP replies with an error status.", c->ctr.http_errors },
			{ "auth_failures_total", "counter", "Requests refused with 401.", c->ctr.auth_failures },
			{ "sse_clients", "gauge", "Live event feed clients.", c->n_feed },
			{ "redis_connects_total", "counter", "Connections made to Redis.", c->ctr.connects },
		};

		for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
			char name[96];

			snprintf(name, sizeof(name), "tapwarden_controller_%s", own[i].name);
			head(b, name, own[i].type, own[i].help);
			evbuffer_add_printf(b, "%s %" PRIu64 "\n", name, own[i].v);
		}
	}
}
