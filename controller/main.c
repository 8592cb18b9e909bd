/* SPDX-License-Identifier: MIT */
/*
 * main: tapwarden-controller (controller process).  Consumes every agent's
 * report stream through one consumer group ("controllers"), so several
 * instances share the work and an instance that dies leaves its pending
 * entries to be claimed by another (XAUTOCLAIM after --claim-idle); runs
 * each entry through tw.lua (state, global decisions, audit, commands to
 * the agents) and acknowledges it; runs the periodic expiry; serves the
 * HTTP API (api.c) that twctl uses.
 *
 * tw.lua is embedded (.incbin) and loaded with SCRIPT LOAD on every
 * connection, so a Redis restart or SCRIPT FLUSH costs nothing but a reload.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "ctl.h"
#include "datafile.h"
#include "log.h"
#include "rconn.h"

__asm__(".section .rodata\n"
	".balign 16\n"
	"ctl_tw_lua_:\n"
	".incbin \"controller/tw.lua\"\n"
	".byte 0\n"
	".previous\n");
extern const char ctl_tw_lua_[] __asm__("ctl_tw_lua_");

#define CTL_READ_COUNT 256
#define CTL_READ_BLOCK_MS 2000
#define CTL_AGENTS_EVERY_S 2
#define CTL_CLAIM_EVERY_S 5
#define CTL_TRIM_EVERY_S 60
#define CTL_TRIM_KEEP "100000"    /* processed entries a report stream keeps at least */
#define CTL_BACKOFF_MAX_S 30

static uint64_t wall_s(void)
{
	return (uint64_t)time(NULL);
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- connections -------------------------------------------------------------- */

static void drop(struct ctl *c, const char *why);
static void read_more(struct ctl *c);

static void on_disconnect(const redisAsyncContext *ac, int status)
{
	struct ctl *c = ac->data;

	if (ac != c->rc && ac != c->rx)
		return;
	if (ac == c->rc)
		c->rc = NULL;
	else
		c->rx = NULL;
	drop(c, status == REDIS_OK ? "connection closed" : (ac->errstr[0] ? ac->errstr : "connection lost"));
}

static void on_connect(const redisAsyncContext *ac, int status)
{
	struct ctl *c = ac->data;

	if ((ac != c->rc && ac != c->rx) || status == REDIS_OK)
		return;
	if (ac == c->rc)
		c->rc = NULL;
	else
		c->rx = NULL;
	drop(c, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void drop(struct ctl *c, const char *why)
{
	redisAsyncContext *a = c->rc, *b = c->rx;
	uint64_t wait = (uint64_t)1 << (c->failures < 5 ? c->failures : 5);

	if (c->next_connect_s > wall_s() && !a && !b)
		return;
	if (wait > CTL_BACKOFF_MAX_S)
		wait = CTL_BACKOFF_MAX_S;
	if (c->ready)
		c->ctr.disconnects++;
	log_warn("controller: redis unavailable redis=%s reason=\"%s\" retry_in=%" PRIu64 "s", c->cfg->redis,
		 why, wait);
	c->failures++;
	c->ready = false;
	c->reading = false;
	c->outstanding = 0;
	c->rc = c->rx = NULL;
	for (size_t i = 0; i < c->n_agents; i++)
		c->grouped[i] = false;
	c->next_connect_s = wall_s() + wait;
	if (a)
		redisAsyncFree(a);
	if (b)
		redisAsyncFree(b);
}

static redisAsyncContext *open_conn(struct ctl *c)
{
	struct rconn_config rc = { c->cfg->redis, c->cfg->user, c->cfg->password };
	char err[256];
	redisAsyncContext *ac = rconn_open(&rc, c->base, c, on_connect, on_disconnect, err, sizeof(err));

	if (!ac)
		log_warn("controller: connect failed redis=%s error=\"%s\"", c->cfg->redis, err);
	return ac;
}

/* true when reply is an error or missing (and the connection is dropped). */
static bool failed(struct ctl *c, const redisAsyncContext *ac, const redisReply *rep, const char *what)
{
	char why[300];

	if (ac != c->rc && ac != c->rx)
		return true;
	if (rep && rep->type != REDIS_REPLY_ERROR)
		return false;
	snprintf(why, sizeof(why), "%s: %s", what, rep ? rep->str : (ac->errstr[0] ? ac->errstr : "no reply"));
	drop(c, why);
	return true;
}

static void cmd(struct ctl *c, redisCallbackFn *cb, void *priv, int argc, const char **argv)
{
	size_t lens[16];

	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	redisAsyncCommandArgv(c->rc, cb, priv, argc, argv, lens);
}

static void on_schema(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ctl *c = ac->data;
	const redisReply *rep = reply;

	if (failed(c, ac, rep, "schema"))
		return;
	if (rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "1") != 0) {
		log_err("controller: redis holds schema %s under prefix %s; this controller speaks schema %d",
			rep->str, c->cfg->prefix, BUS_SCHEMA);
		drop(c, "schema mismatch");
		return;
	}
	if (c->failures)
		log_info("controller: redis connected again redis=%s after_failures=%u", c->cfg->redis,
			 c->failures);
	else
		log_info("controller: redis connected redis=%s prefix=%s consumer=%s script=%s", c->cfg->redis,
			 c->cfg->prefix, c->cfg->consumer, c->sha);
	c->failures = 0;
	c->ready = true;
	c->ctr.connects++;
	c->last_agents_s = 0;
	c->last_claim_s = 0;
}

static void on_script_loaded(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ctl *c = ac->data;
	const redisReply *rep = reply;
	char key[BUS_KEY_MAX];
	const char *argv[5];

	if (failed(c, ac, rep, "SCRIPT LOAD"))
		return;
	snprintf(c->sha, sizeof(c->sha), "%.40s", rep->str);
	bus_key(key, sizeof(key), c->cfg->prefix, "schema", NULL);
	argv[0] = "SET"; argv[1] = key; argv[2] = "1"; argv[3] = "NX"; argv[4] = "GET";
	cmd(c, on_schema, NULL, 5, argv);
}

static void connect_now(struct ctl *c)
{
	const char *argv[3] = { "SCRIPT", "LOAD", c->script };
	size_t lens[3] = { 6, 4, c->script_len };

	c->rc = open_conn(c);
	c->rx = c->rc ? open_conn(c) : NULL;
	if (!c->rc || !c->rx) {
		drop(c, "cannot create a connection");
		return;
	}
	redisAsyncCommandArgv(c->rc, on_script_loaded, NULL, 3, argv, lens);
}

int ctl_script(struct ctl *c, const char *fn, int argc, const char **argv, const size_t *lens,
	       redisCallbackFn *cb, void *priv)
{
	const char *a[5 + CTL_SCRIPT_ARGS];
	size_t l[5 + CTL_SCRIPT_ARGS];

	if (argc > CTL_SCRIPT_ARGS)
		return -E2BIG;
	if (!c->ready || !c->rc)
		return -ENOTCONN;
	a[0] = "EVALSHA"; l[0] = 7;
	a[1] = c->sha; l[1] = 40;
	a[2] = "0"; l[2] = 1;
	a[3] = c->cfg->prefix; l[3] = strlen(c->cfg->prefix);
	a[4] = fn; l[4] = strlen(fn);
	for (int i = 0; i < argc; i++) {
		a[5 + i] = argv[i];
		l[5 + i] = lens ? lens[i] : strlen(argv[i]);
	}
	redisAsyncCommandArgv(c->rc, cb, priv, 5 + argc, a, l);
	return 0;
}

/* ---- agents and their groups ------------------------------------------------------- */

static void on_group(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ctl *c = ac->data;
	const redisReply *rep = reply;
	size_t i = (size_t)(uintptr_t)priv;

	if (ac != c->rc || !rep)
		return;
	if (rep->type == REDIS_REPLY_ERROR && !strstr(rep->str, "BUSYGROUP")) {
		failed(c, ac, rep, "XGROUP CREATE");
		return;
	}
	if (i < c->n_agents)
		c->grouped[i] = true;
}

static void on_agents(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ctl *c = ac->data;
	const redisReply *rep = reply;

	if (failed(c, ac, rep, "SMEMBERS") || rep->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *e = rep->element[i];
		size_t j;

		if (e->type != REDIS_REPLY_STRING || !bus_name_valid(e->str, BUS_AGENT_ID_MAX))
			continue;
		for (j = 0; j < c->n_agents; j++)
			if (strcmp(c->agents[j], e->str) == 0)
				break;
		if (j == c->n_agents) {
			if (c->n_agents == CTL_MAX_AGENTS)
				continue;
			c->agents[c->n_agents] = strdup(e->str);
			if (!c->agents[c->n_agents])
				continue;
			c->grouped[c->n_agents++] = false;
			log_info("controller: agent discovered agent=%s", e->str);
		}
	}
	for (size_t j = 0; j < c->n_agents; j++) {
		if (!c->grouped[j]) {
			char key[BUS_KEY_MAX];
			const char *argv[6];

			bus_key(key, sizeof(key), c->cfg->prefix, "reports", c->agents[j]);
			argv[0] = "XGROUP"; argv[1] = "CREATE"; argv[2] = key; argv[3] = CTL_GROUP;
			argv[4] = "0"; argv[5] = "MKSTREAM";
			cmd(c, on_group, (void *)(uintptr_t)j, 6, argv);
		}
	}
}

/* ---- ingest ----------------------------------------------------------------------- */

struct entry_ref {
	size_t agent;
	char id[48];
};

static void on_ingested(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ctl *c = ac->data;
	const redisReply *rep = reply;
	struct entry_ref *ref = priv;
	char key[BUS_KEY_MAX];

	if (ac != c->rc || !rep) {
		free(ref);
		return;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		/* NOSCRIPT (Redis restarted, SCRIPT FLUSH) or a script error: the
		 * entry stays pending and is retried after a reconnection */
		c->ctr.failed++;
		log_err("controller: ingest failed agent=%s entry=%s error=\"%s\"", c->agents[ref->agent], ref->id,
			rep->str);
		free(ref);
		drop(c, "ingest script failed");
		return;
	}
	if (rep->type == REDIS_REPLY_STRING && strstr(rep->str, "\"duplicate\""))
		c->ctr.duplicates++;
	else
		c->ctr.ingested++;
	if (rep->type == REDIS_REPLY_STRING && (strstr(rep->str, "\"blocks\"") || strstr(rep->str, "\"campaigns\"")))
		c->ctr.decisions++;
	if (ref->agent < c->n_agents) {
		const char *argv[4];

		bus_key(key, sizeof(key), c->cfg->prefix, "reports", c->agents[ref->agent]);
		argv[0] = "XACK"; argv[1] = key; argv[2] = CTL_GROUP; argv[3] = ref->id;
		cmd(c, NULL, NULL, 4, argv);
	}
	free(ref);
	if (c->outstanding && --c->outstanding == 0)
		read_more(c);
}

/* Run one stream entry [id, [field, value ...]] of agent i through tw.lua. */
static void ingest_entry(struct ctl *c, size_t agent, const redisReply *e)
{
	const char *type = "", *ts = "0", *body = "{}";
	size_t type_l = 0, ts_l = 1, body_l = 2;
	char now[24];
	struct entry_ref *ref;
	const char *argv[7];
	size_t lens[7];

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
		return;
	ref = calloc(1, sizeof(*ref));
	if (!ref)
		return;
	ref->agent = agent;
	snprintf(ref->id, sizeof(ref->id), "%s", e->element[0]->str);
	if (e->element[1]->type == REDIS_REPLY_ARRAY) {
		for (size_t f = 0; f + 1 < e->element[1]->elements; f += 2) {
			const redisReply *k = e->element[1]->element[f], *v = e->element[1]->element[f + 1];

			if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
				continue;
			if (!strcmp(k->str, "type")) {
				type = v->str;
				type_l = v->len;
			} else if (!strcmp(k->str, "ts")) {
				ts = v->str;
				ts_l = v->len;
			} else if (!strcmp(k->str, "body")) {
				body = v->str;
				body_l = v->len;
			}
		}
	}
	/* a deleted entry (nil fields) is acknowledged with an empty body */
	snprintf(now, sizeof(now), "%" PRIu64, wall_s());
	argv[0] = c->agents[agent]; lens[0] = strlen(argv[0]);
	argv[1] = ref->id; lens[1] = strlen(ref->id);
	argv[2] = type; lens[2] = type_l;
	argv[3] = ts; lens[3] = ts_l;
	argv[4] = body; lens[4] = body_l;
	argv[5] = now; lens[5] = strlen(now);
	argv[6] = c->policy_json; lens[6] = strlen(c->policy_json);
	if (ctl_script(c, "ingest", 7, argv, lens, on_ingested, ref) < 0) {
		free(ref);
		return;
	}
	c->outstanding++;
}

static size_t agent_of_key(struct ctl *c, const char *key)
{
	const char *id = strrchr(key, ':');

	for (size_t i = 0; id && i < c->n_agents; i++)
		if (strcmp(c->agents[i], id + 1) == 0)
			return i;
	return SIZE_MAX;
}

static void on_read(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ctl *c = ac->data;
	const redisReply *rep = reply;
	uint64_t t0 = mono_us();

	if (failed(c, ac, rep, "XREADGROUP"))
		return;
	c->reading = false;
	if (rep->type == REDIS_REPLY_ARRAY) {
		for (size_t s = 0; s < rep->elements; s++) {
			const redisReply *st = rep->element[s];
			size_t a;

			if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
			    st->element[0]->type != REDIS_REPLY_STRING)
				continue;
			a = agent_of_key(c, st->element[0]->str);
			if (a == SIZE_MAX || st->element[1]->type != REDIS_REPLY_ARRAY)
				continue;
			for (size_t i = 0; i < st->element[1]->elements; i++)
				ingest_entry(c, a, st->element[1]->element[i]);
		}
	}
	c->ctr.last_batch_us = mono_us() - t0;
	if (c->outstanding == 0)
		read_more(c);
}

/* The next XREADGROUP over every agent stream whose group exists. */
static void read_more(struct ctl *c)
{
	const char **argv;
	size_t *lens;
	char (*keys)[BUS_KEY_MAX];
	size_t n = 0, argc = 0;
	char count[12], block[12];

	if (!c->ready || c->reading || c->outstanding || !c->rx || c->n_agents == 0)
		return;
	/* 9 fixed arguments, then a key and an id per stream */
	argv = calloc(9 + 2 * c->n_agents, sizeof(*argv));
	lens = calloc(9 + 2 * c->n_agents, sizeof(*lens));
	keys = calloc(c->n_agents + 1, sizeof(*keys));
	if (!argv || !lens || !keys)
		goto out;
	snprintf(count, sizeof(count), "%d", CTL_READ_COUNT);
	snprintf(block, sizeof(block), "%d", CTL_READ_BLOCK_MS);
	argv[argc++] = "XREADGROUP"; argv[argc++] = "GROUP"; argv[argc++] = CTL_GROUP;
	argv[argc++] = c->cfg->consumer; argv[argc++] = "COUNT"; argv[argc++] = count;
	argv[argc++] = "BLOCK"; argv[argc++] = block; argv[argc++] = "STREAMS";
	for (size_t i = 0; i < c->n_agents; i++)
		if (c->grouped[i])
			bus_key(keys[n++], BUS_KEY_MAX, c->cfg->prefix, "reports", c->agents[i]);
	if (n == 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		argv[argc++] = keys[i];
	for (size_t i = 0; i < n; i++)
		argv[argc++] = ">";
	for (size_t i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	redisAsyncCommandArgv(c->rx, on_read, NULL, (int)argc, argv, lens);
	c->reading = true;
out:
	free(argv);
	free(lens);
	free(keys);
}

/* XAUTOCLAIM reply: [next-id, [entries], [deleted ids]] */
static void on_claim(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ctl *c = ac->data;
	const redisReply *rep = reply;
	size_t a = (size_t)(uintptr_t)priv;

	if (failed(c, ac, rep, "XAUTOCLAIM"))
		return;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 || a >= c->n_agents ||
	    rep->element[1]->type != REDIS_REPLY_ARRAY)
		return;
	if (rep->element[1]->elements)
		log_info("controller: claimed pending entries agent=%s count=%zu (another controller stopped?)",
			 c->agents[a], rep->element[1]->elements);
	c->ctr.claimed += rep->element[1]->elements;
	for (size_t i = 0; i < rep->element[1]->elements; i++)
		ingest_entry(c, a, rep->element[1]->element[i]);
}

static void claim(struct ctl *c)
{
	char idle[16];

	snprintf(idle, sizeof(idle), "%u", c->cfg->claim_idle_ms);
	for (size_t i = 0; i < c->n_agents; i++) {
		char key[BUS_KEY_MAX];
		const char *argv[8];

		if (!c->grouped[i])
			continue;
		bus_key(key, sizeof(key), c->cfg->prefix, "reports", c->agents[i]);
		argv[0] = "XAUTOCLAIM"; argv[1] = key; argv[2] = CTL_GROUP; argv[3] = c->cfg->consumer;
		argv[4] = idle; argv[5] = "0-0"; argv[6] = "COUNT"; argv[7] = "256";
		cmd(c, on_claim, (void *)(uintptr_t)i, 8, argv);
	}
}

static void on_tick_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct ctl *c = ac->data;
	const redisReply *rep = reply;

	if (failed(c, ac, rep, "tick"))
		return;
	/* quiet when nothing happened: {} or zero expiries */
	if (rep->type == REDIS_REPLY_STRING && strcmp(rep->str, "{}") != 0 &&
	    !(strstr(rep->str, "\"expired_blocks\":0") && strstr(rep->str, "\"expired_whitelist\":0")))
		log_info("controller: housekeeping %s", rep->str);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *c = arg;
	uint64_t now = wall_s();

	if (!c->rc && !c->rx && now >= c->next_connect_s) {
		connect_now(c);
		return;
	}
	if (!c->ready)
		return;
	if (now >= c->last_agents_s + CTL_AGENTS_EVERY_S) {
		const char *argv[2] = { "SMEMBERS", c->k_agents };

		c->last_agents_s = now;
		cmd(c, on_agents, NULL, 2, argv);
	}
	if (now >= c->last_claim_s + CTL_CLAIM_EVERY_S) {
		c->last_claim_s = now;
		claim(c);
	}
	if (now >= c->last_trim_s + CTL_TRIM_EVERY_S) {
		const char *argv[1] = { CTL_TRIM_KEEP };

		c->last_trim_s = now;
		ctl_script(c, "trim", 1, argv, NULL, on_tick_reply, NULL);
	}
	if (now != c->last_tick_s) {
		char ns[24];
		const char *argv[1] = { ns };

		snprintf(ns, sizeof(ns), "%" PRIu64, now);
		c->last_tick_s = now;
		ctl_script(c, "tick", 1, argv, NULL, on_tick_reply, NULL);
	}
	poll_tick(c, now);
	if (now >= c->last_keepalive_s + 15) {
		c->last_keepalive_s = now;
		feed_keepalive(c);
	}
	read_more(c);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct ctl *c = arg;

	log_info("controller: SIGHUP, re-reading the tokens file");
	if (api_load_tokens(c) < 0)
		log_err("controller: tokens file not reloaded; the previous tokens stay in force");
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct ctl *c = arg;

	log_info("controller: stopping signal=%s", sig == SIGINT ? "INT" : "TERM");
	event_base_loopbreak(c->base);
}

/* ---- command line --------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: tapwarden-controller [options]\n"
"\n"
"The central controller of tapwarden: reads every agent's reports from\n"
"Redis, keeps per-VM state across hypervisors, decides globally (campaigns,\n"
"repeat offenders, manual blocks, whitelist), sends the decisions to the\n"
"agents, records every decision in the audit stream, and serves the HTTP\n"
"API that twctl uses, the NOC dashboard (at /) and /metrics.\n"
"\n"
"  --redis ADDR             HOST:PORT or unix:PATH (default 127.0.0.1:6379)\n"
"  --redis-user NAME        Redis ACL user (with --redis-password-file)\n"
"  --redis-password-file F  file holding the Redis password (first line)\n"
"  --prefix P               key prefix (default tw)\n"
"  --consumer NAME          this instance's name in the consumer group\n"
"                           (default: the host name and PID)\n"
"  --listen ADDR:PORT       HTTP API and dashboard (default 127.0.0.1:8425;\n"
"                           plain HTTP: put a TLS reverse proxy in front)\n"
"  --tokens FILE            API tokens (YAML: name, role, sha256; re-read on\n"
"                           SIGHUP); admins can add more, kept in Redis.\n"
"                           Without tokens every request but /healthz is 401\n"
"  --policy FILE            policy: escalation ladder, forget_after and the\n"
"                           campaign rule (default %s/policies/default.yaml)\n"
"  --claim-idle MS          claim entries another instance left pending this\n"
"                           long (default 15000)\n"
"  --resolver ADDR[:PORT]   DNS resolver for whitelist request checks (PTR,\n"
"                           SPF, DMARC, DKIM, blocklists; default: the first\n"
"                           nameserver of /etc/resolv.conf)\n"
"  --dnsbl ZONE             a DNS blocklist to check request IPs against;\n"
"                           repeat for more, \"none\" for none (default\n"
"                           zen.spamhaus.org and bl.spamcop.net)\n"
"  --dns-timeout S          seconds per DNS query (default 2; all checks of a\n"
"                           request finish within 5 times that)\n"
"  -n, --check              check the configuration, print \"configuration OK\"\n"
"      --print-policy       print the policy as the controller's rules (tw.lua)\n"
"                           get it, as JSON, and exit (make eval replays agent\n"
"                           reports through tw.lua with it)\n"
"  -h, --help               this text\n"
"      --version            print the version\n",
		TW_DATADIR);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "redis", required_argument, 0, 'R' }, { "redis-user", required_argument, 0, 'U' },
		{ "redis-password-file", required_argument, 0, 'P' }, { "prefix", required_argument, 0, 'x' },
		{ "consumer", required_argument, 0, 'c' }, { "listen", required_argument, 0, 'l' },
		{ "policy", required_argument, 0, 'p' }, { "claim-idle", required_argument, 0, 'i' },
		{ "tokens", required_argument, 0, 'T' }, { "resolver", required_argument, 0, 'D' },
		{ "dnsbl", required_argument, 0, 'B' }, { "dns-timeout", required_argument, 0, 'W' },
		{ "check", no_argument, 0, 'n' }, { "help", no_argument, 0, 'h' },
		{ "print-policy", no_argument, 0, 'Q' },
		{ "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 },
	};
	struct ctl_config cfg = { .redis = "127.0.0.1:6379", .prefix = "tw", .listen = "127.0.0.1:8425",
				  .claim_idle_ms = 15000 };
	static struct ctl c;
	struct policy_errors errs;
	char consumer[128], host[64];
	const char *pwfile = NULL;
	bool check = false, no_dnsbl = false, print_policy = false;
	int o, rc = 1;

	while ((o = getopt_long(argc, argv, "nh", lo, NULL)) != -1) {
		switch (o) {
		case 'R': cfg.redis = optarg; break;
		case 'U': cfg.user = optarg; break;
		case 'P': pwfile = optarg; break;
		case 'x': cfg.prefix = optarg; break;
		case 'c': cfg.consumer = optarg; break;
		case 'l': cfg.listen = optarg; break;
		case 'p': cfg.policy_path = optarg; break;
		case 'T': cfg.tokens_path = optarg; break;
		case 'i': cfg.claim_idle_ms = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'D': cfg.resolver = optarg; break;
		case 'B':
			if (!strcmp(optarg, "none")) {
				cfg.n_dnsbls = 0;
				no_dnsbl = true;
			} else if (cfg.n_dnsbls >= CTL_MAX_DNSBLS || !bus_name_valid(optarg, 253) || !strchr(optarg, '.')) {
				log_err("config: --dnsbl \"%s\": a DNS zone name, at most %d zones", optarg, CTL_MAX_DNSBLS);
				return 1;
			} else {
				cfg.dnsbls[cfg.n_dnsbls++] = optarg;
			}
			break;
		case 'W': {
			char *end;

			cfg.dns_timeout_s = strtod(optarg, &end);
			if (*end || !(cfg.dns_timeout_s >= 0.1 && cfg.dns_timeout_s <= 30)) {
				log_err("config: --dns-timeout: 0.1 to 30 seconds");
				return 1;
			}
			break;
		}
		case 'n': check = true; break;
		case 'Q': print_policy = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("tapwarden-controller %s\n", CTL_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "tapwarden-controller: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (!cfg.n_dnsbls && !no_dnsbl) {
		cfg.dnsbls[cfg.n_dnsbls++] = "zen.spamhaus.org";
		cfg.dnsbls[cfg.n_dnsbls++] = "bl.spamcop.net";
	}
	if (!cfg.dns_timeout_s)
		cfg.dns_timeout_s = 2;
	if (!cfg.consumer) {
		if (gethostname(host, sizeof(host)) != 0)
			strcpy(host, "controller");
		host[sizeof(host) - 1] = '\0';
		snprintf(consumer, sizeof(consumer), "%s-%d", host, (int)getpid());
		cfg.consumer = consumer;
	}
	if (!bus_name_valid(cfg.prefix, BUS_PREFIX_MAX)) {
		log_err("config: --prefix \"%s\": expected 1-%d of A-Z a-z 0-9 . _ -", cfg.prefix, BUS_PREFIX_MAX);
		return 1;
	}
	if (!rconn_addr_valid(cfg.redis)) {
		log_err("config: --redis \"%s\": expected HOST:PORT, [V6]:PORT or unix:PATH", cfg.redis);
		return 1;
	}
	if (cfg.claim_idle_ms < 1000) {
		log_err("config: --claim-idle: at least 1000 ms");
		return 1;
	}
	if (pwfile) {
		char err[600];

		if (!(cfg.password = rconn_read_secret(pwfile, err, sizeof(err)))) {
			log_err("config: %s", err);
			return 1;
		}
	}
	if (!cfg.policy_path)
		cfg.policy_path = TW_DATADIR "/policies/default.yaml";
	if (policy_load_file(cfg.policy_path, &c.policy, &errs) < 0) {
		policy_errors_log(&errs);
		return 1;
	}
	{
		char ladder[256];
		size_t used = 0;

		for (uint32_t i = 0; i < c.policy.n_ladder && used < sizeof(ladder) - 16; i++)
			used += (size_t)snprintf(ladder + used, sizeof(ladder) - used, "%s%u", i ? "," : "",
						 c.policy.ladder[i] == POLICY_MANUAL ? 0 : c.policy.ladder[i]);
		ladder[used] = '\0';
		snprintf(c.policy_json, sizeof(c.policy_json),
			 "{\"ladder\":[%s],\"forget_after\":%u,\"campaign_enabled\":%s,\"campaign_window\":%u,"
			 "\"campaign_min_vms\":%u,\"campaign_min_messages\":%u,\"campaign_block\":%u}",
			 used ? ladder : "3600", c.policy.forget_after_s, c.policy.campaign_enabled ? "true" : "false",
			 c.policy.campaign_window_s, c.policy.campaign_min_vms, c.policy.campaign_min_messages,
			 c.policy.campaign_block_s == POLICY_MANUAL ? 10u * 365 * 86400 : c.policy.campaign_block_s);
	}
	if (print_policy) {
		printf("%s\n", c.policy_json);
		return 0;
	}
	{
		/* the request lint flags the same shorteners as the agents */
		char path[4096];
		const char *sp = datafile_path("shorteners.txt", path, sizeof(path));
		char **list = NULL;
		size_t n = 0;

		if (!sp)
			log_warn("config: no shortener list found; whitelist request checks will not flag shorteners");
		else if (datafile_hosts(sp, &list, &n) < 0)
			return 1;
		cfg.shorteners = (const char *const *)list;
		cfg.n_shorteners = n;
	}
	c.cfg = &cfg;
	if (api_load_tokens(&c) < 0)
		return 1;
	if (check) {
		printf("configuration OK\n");
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	c.cfg = &cfg;
	c.script = (char *)ctl_tw_lua_;
	c.script_len = strlen(ctl_tw_lua_);
	c.grouped = calloc(CTL_MAX_AGENTS, sizeof(*c.grouped));
	c.base = event_base_new();
	if (!c.base || !c.grouped) {
		log_err("controller: out of memory");
		return 1;
	}
	bus_key(c.k_agents, sizeof(c.k_agents), cfg.prefix, "agents", NULL);
	if (api_start(&c) < 0)
		goto out;
	c.ev_tick = event_new(c.base, -1, EV_PERSIST, on_tick, &c);
	c.ev_int = evsignal_new(c.base, SIGINT, on_signal, &c);
	c.ev_term = evsignal_new(c.base, SIGTERM, on_signal, &c);
	c.ev_hup = evsignal_new(c.base, SIGHUP, on_hup, &c);
	{
		struct timeval tv = { 0, 200000 };

		event_add(c.ev_tick, &tv);
	}
	event_add(c.ev_int, NULL);
	event_add(c.ev_term, NULL);
	event_add(c.ev_hup, NULL);
	log_info("controller: started version=%s redis=%s prefix=%s consumer=%s listen=%s policy=%s",
		 CTL_VERSION, cfg.redis, cfg.prefix, cfg.consumer, cfg.listen, cfg.policy_path);
	connect_now(&c);
	event_base_dispatch(c.base);
	rc = 0;
out:
	api_stop(&c);
	if (c.rc)
		redisAsyncFree(c.rc);
	if (c.rx)
		redisAsyncFree(c.rx);
	c.rc = c.rx = NULL;
	if (c.ev_tick)
		event_free(c.ev_tick);
	if (c.ev_int)
		event_free(c.ev_int);
	if (c.ev_term)
		event_free(c.ev_term);
	if (c.ev_hup)
		event_free(c.ev_hup);
	poll_fini(&c);
	for (size_t i = 0; i < c.n_agents; i++)
		free(c.agents[i]);
	free(c.grouped);
	free((char *)cfg.password);
	event_base_free(c.base);
	return rc;
}
