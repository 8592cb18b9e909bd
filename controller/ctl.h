/* SPDX-License-Identifier: MIT */
/*
 * ctl: what the parts of tapwarden-controller share (controller process).
 * One libevent loop; two hiredis async connections (one for commands and
 * scripts, one blocked in XREADGROUP); the state transitions live in
 * tw.lua, run atomically inside Redis, so several controllers can work on
 * one Redis at once.
 */
#ifndef TAPWARDEN_CTL_H
#define TAPWARDEN_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include <hiredis/async.h>

#include "bus.h"
#include "policy.h"

struct event_base;
struct evhttp;
struct event;

#define CTL_VERSION "0.5.0"
#define CTL_GROUP "controllers"
#define CTL_MAX_AGENTS 4096

struct ctl_config {
	const char *redis, *user, *password, *prefix;
	const char *consumer;         /* this instance's name in the group */
	const char *listen;           /* HTTP API address:port */
	const char *policy_path;
	uint32_t claim_idle_ms;       /* entries idle this long at another consumer are claimed */
};

struct ctl_counters {
	uint64_t ingested, duplicates, claimed, failed, decisions;
	uint64_t http_requests, http_errors;
	uint64_t connects, disconnects;
	uint64_t last_batch_us;
};

struct ctl {
	struct event_base *base;
	const struct ctl_config *cfg;
	struct policy policy;
	char policy_json[512];        /* what tw.lua needs of the policy */
	redisAsyncContext *rc, *rx;   /* commands/scripts; XREADGROUP */
	bool ready;                   /* script loaded, schema checked */
	bool reading;                 /* an XREADGROUP is out */
	uint32_t failures;
	uint64_t next_connect_s;
	char sha[41];
	char *script;
	size_t script_len;
	char *agents[CTL_MAX_AGENTS];
	size_t n_agents;
	bool *grouped;                /* per agent: XGROUP CREATE done */
	uint64_t last_agents_s, last_claim_s, last_tick_s, last_trim_s;
	uint32_t outstanding;         /* ingest scripts of the batch not yet answered */
	struct evhttp *http;
	struct event *ev_tick, *ev_int, *ev_term;
	struct ctl_counters ctr;
	char k_agents[BUS_KEY_MAX];
};

/* Run tw.lua function fn with args (binary-safe; borrowed for the call)
 * on the command connection; the reply goes to cb(c, reply, priv).
 * Returns 0, or -ENOTCONN when Redis is not connected. */
int ctl_script(struct ctl *c, const char *fn, int argc, const char **argv, const size_t *lens,
	       redisCallbackFn *cb, void *priv);

/* HTTP API (api.c): listen on cfg->listen; 0 or -errno. */
int api_start(struct ctl *c);
void api_stop(struct ctl *c);

#endif
