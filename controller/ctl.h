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

#include <jansson.h>

#include "auth.h"
#include "bus.h"
#include "policy.h"
#include "vmcache.h"

struct event_base;
struct evhttp;
struct evhttp_request;
struct event;

#ifndef TW_VERSION
#define TW_VERSION "0.0.0-unknown"   /* the Makefile passes VERSION */
#endif
#define CTL_VERSION TW_VERSION
#define CTL_GROUP "controllers"
#define CTL_MAX_AGENTS 4096
#define CTL_RING 1000                 /* events held for the live feed */
#define CTL_FEED_MAX 256              /* live feed clients at once */
#define CTL_MAX_DNSBLS 8               /* dnscheck.h: DNSCHECK_DNSBLS_MAX */
#define CTL_SCRIPT_ARGS 32            /* arguments of one tw.lua call, at most */

struct ctl_config {
	const char *redis, *user, *password, *prefix;
	const char *consumer;         /* this instance's name in the group */
	const char *listen;           /* HTTP API address:port */
	const char *policy_path;
	const char *tokens_path;      /* the tokens file; NULL: tokens from Redis only */
	uint32_t claim_idle_ms;       /* entries idle this long at another consumer are claimed */
	const char *resolver;         /* whitelist request DNS checks; NULL: /etc/resolv.conf */
	const char *dnsbls[CTL_MAX_DNSBLS];
	size_t n_dnsbls;
	double dns_timeout_s;
	const char *const *shorteners;   /* for the request lint */
	size_t n_shorteners;
};

struct ctl_counters {
	uint64_t ingested, duplicates, claimed, failed, decisions;
	uint64_t http_requests, http_errors, auth_failures, events, polls, poll_failures;
	uint64_t connects, disconnects;
	uint64_t last_batch_us;
};

struct feed_event {
	char id[32], type[32];
	char *json;                   /* owned */
};

struct feed_client;

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
	struct event *ev_tick, *ev_int, *ev_term, *ev_hup;
	struct ctl_counters ctr;
	char k_agents[BUS_KEY_MAX];

	/* caches refreshed by poll.c */
	struct vmcache vms;
	uint64_t vm_ver;              /* the last VM version read */
	bool vms_loaded;              /* the first full read is done */
	bool polling, poll_again;
	char ev_last[32];             /* the last event id read */
	bool ev_loaded;
	json_t *counters;             /* the shared counters (P:counters); owned */
	json_t *agents_view;          /* the last /v1/agents answer, for /metrics; owned */
	uint64_t last_agents_view_s;

	/* live feed (feed.c) */
	struct feed_event ring[CTL_RING];
	size_t ring_head, ring_n;
	struct feed_client *feed;
	size_t n_feed;
	uint64_t last_keepalive_s;

	/* tokens (api.c): the file's and Redis' */
	struct auth_set tok_file, tok_redis;
	int64_t tokens_ver;
};

/* Run tw.lua function fn with args (binary-safe; borrowed for the call)
 * on the command connection; the reply goes to cb(c, reply, priv).
 * Returns 0, -E2BIG (more than CTL_SCRIPT_ARGS), or -ENOTCONN when Redis
 * is not connected. */
int ctl_script(struct ctl *c, const char *fn, int argc, const char **argv, const size_t *lens,
	       redisCallbackFn *cb, void *priv);

/* HTTP API (api.c): listen on cfg->listen; 0 or -errno. */
int api_start(struct ctl *c);
void api_stop(struct ctl *c);
/* (Re)read the tokens file; on error the previous tokens stay.  0 or -errno. */
int api_load_tokens(struct ctl *c);

/* Caches (poll.c): called from the tick; poll_fini frees them. */
void poll_tick(struct ctl *c, uint64_t now);
void poll_fini(struct ctl *c);

/* Live feed (feed.c).  feed_push copies; broadcast = send to the clients. */
void feed_push(struct ctl *c, const char *id, const char *type, const char *json, bool broadcast);
/* Start the event stream on req: 0, -EBUSY (too many clients), -ENOMEM. */
int feed_open(struct ctl *c, struct evhttp_request *req, const char *last_id);
void feed_keepalive(struct ctl *c);
void feed_fini(struct ctl *c);

/* /metrics (cmetrics.c): the text exposition into b. */
struct evbuffer;
void cmetrics_write(struct ctl *c, struct evbuffer *b, int64_t now);

/* The dashboard's files (www.c): the file for path, or NULL. */
struct www_file {
	const char *path, *type;
	const char *data;
	size_t len;
};
const struct www_file *www_find(const char *path);

#endif
