/* SPDX-License-Identifier: MIT */
/*
 * report: the agent's Redis connections (agent process, I/O on the
 * daemon's loop; see report.h for the contract).
 *
 * Exactly once, in order: every report gets its stream ID BOOT-SEQ from the
 * spool when it is queued, and the spool keeps it until Redis has it.  On a
 * (re)connection everything pending is written again, in order; Redis
 * refuses an ID that is not above the stream's top ("equal or smaller"),
 * which is exactly the case of an entry that reached Redis before the
 * connection broke, so that refusal is counted as a duplicate and the
 * entry confirmed.  The stream's top is read first so that a lost state
 * directory (boot counter back at 1) is noticed and the boot moved above
 * it instead of every new report being refused.
 *
 * Lifetimes (hiredis 0.14): a context is freed by hiredis after its
 * connect callback fails or its disconnect callback runs, and
 * redisAsyncFree() inside a callback is deferred.  Every callback checks
 * that its context is still the current one (r->pub, r->cmd): replies of a
 * connection being torn down arrive as NULL and are ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "rconn.h"
#include "report.h"
#include "spool.h"

#define REPORT_WINDOW 64              /* XADDs in flight */
#define REPORT_BACKLOG_BATCH 256      /* commands read per XRANGE while converging */
#define REPORT_XREAD_BLOCK_MS 5000
#define REPORT_BACKOFF_MAX_S 30
#define REPORT_STREAM_MAXLEN "1000000"   /* safety cap; the controller trims */
#define REPORT_HEARTBEAT_ENTRY 6      /* a heartbeat report every this many beats */

enum report_state { RS_DOWN, RS_CONNECTING, RS_SYNCING, RS_READY };

struct report {
	struct event_base *base;
	struct report_config cfg;
	struct report_hooks hooks;
	struct spool *spool;
	redisAsyncContext *pub, *cmd;
	enum report_state state;
	uint32_t inflight;
	uint32_t failures;             /* connection attempts failed in a row */
	uint64_t next_connect_s, last_beat_s, beats;
	char cursor[BUS_DECISION_MAX]; /* last command applied */
	char cursor_acked[BUS_DECISION_MAX];   /* last written to the agent's hash */
	struct whitelist wl;           /* the controller's */
	char k_reports[BUS_KEY_MAX], k_cmd[BUS_KEY_MAX], k_agent[BUS_KEY_MAX];
	char k_agents[BUS_KEY_MAX], k_wl[BUS_KEY_MAX], k_blocks[BUS_KEY_MAX];
	char path_cursor[512], path_wl[512];
	uint64_t started_s;
	struct report_counters ctr;
	struct log_ratelimit rl_drop, rl_err;
	struct jsonw w;
};

static uint64_t wall_s(void)
{
	return (uint64_t)time(NULL);
}

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- state files ------------------------------------------------------------ */

/* Write data to path atomically (tmp, fsync, rename); 0 or -errno. */
static int write_atomic(const char *path, const char *data, size_t len)
{
	char tmp[600];
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) < 0)
		r = errno ? -errno : -EIO;
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && rename(tmp, path) < 0)
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

static void save_cursor(struct report *r)
{
	char buf[BUS_DECISION_MAX + 2];
	int n = snprintf(buf, sizeof(buf), "%s\n", r->cursor);
	int e = write_atomic(r->path_cursor, buf, (size_t)n);

	if (e < 0 && log_ratelimit(&r->rl_err, wall_s()))
		log_err("report: cannot save the command cursor path=%s error=\"%s\"", r->path_cursor,
			strerror(-e));
}

static void load_cursor(struct report *r)
{
	FILE *f = fopen(r->path_cursor, "r");
	char buf[BUS_DECISION_MAX];
	uint64_t ms, seq;

	strcpy(r->cursor, "0-0");
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = '\0';
		if (bus_id_parse(buf, strlen(buf), &ms, &seq) == 0)
			snprintf(r->cursor, sizeof(r->cursor), "%" PRIu64 "-%" PRIu64, ms, seq);
		else
			log_warn("report: ignoring a bad command cursor path=%s", r->path_cursor);
	}
	fclose(f);
}

/* The cache is the whitelist file format, so an operator can read it. */
static void save_wl_cache(struct report *r)
{
	size_t cap = 64 + r->wl.n * 96, len;
	char *buf = malloc(cap);
	int e;

	if (!buf)
		return;
	len = (size_t)snprintf(buf, cap, "# the controller's whitelist, cached by tapwarden-agent; do not edit\n");
	for (size_t i = 0; i < r->wl.n && len < cap; i++) {
		const struct whitelist_entry *x = &r->wl.e[i];
		int n = snprintf(buf + len, cap - len, "%s", x->uuid);

		if (n > 0)
			len += (size_t)n;
		if (x->until_s && len < cap && (n = snprintf(buf + len, cap - len, " until %" PRIu64, x->until_s)) > 0)
			len += (size_t)n;
		if (x->scale > 0 && len < cap && (n = snprintf(buf + len, cap - len, " scale %g", x->scale)) > 0)
			len += (size_t)n;
		if (len < cap)
			buf[len++] = '\n';
	}
	if (len > cap)
		len = cap;
	e = write_atomic(r->path_wl, buf, len);
	if (e < 0)
		log_err("report: cannot save the whitelist cache path=%s error=\"%s\"", r->path_wl, strerror(-e));
	free(buf);
}

static void load_wl_cache(struct report *r)
{
	struct policy_errors errs;

	if (access(r->path_wl, F_OK) != 0)
		return;
	if (whitelist_load_file(r->path_wl, &r->wl, &errs) < 0) {
		log_warn("report: ignoring an unreadable whitelist cache path=%s error=\"%s\"", r->path_wl,
			 errs.n ? errs.msg[0] : "?");
		return;
	}
	log_info("report: whitelist cache loaded path=%s entries=%zu", r->path_wl, r->wl.n);
}

/* ---- connection handling ------------------------------------------------------ */

/* The steps of converging after a connection (0 is no step: on_sync's
 * priv carries the step of each reply). */
enum { SY_TOP = 1, SY_REGISTER, SY_BLOCKS, SY_BACKLOG, SY_WL, SY_DONE };

static void pump(struct report *r);
static void sync_step(struct report *r, int step);
static void cmd_read(struct report *r);

/* Tear both connections down and retry after a backoff. */
static void drop(struct report *r, const char *why)
{
	redisAsyncContext *p = r->pub, *c = r->cmd;
	uint64_t wait;

	if (r->state == RS_DOWN)
		return;
	if (r->state == RS_READY || r->state == RS_SYNCING)
		r->ctr.disconnects++;
	else
		r->ctr.connect_failures++;
	wait = (uint64_t)1 << (r->failures < 5 ? r->failures : 5);
	if (wait > REPORT_BACKOFF_MAX_S)
		wait = REPORT_BACKOFF_MAX_S;
	if (r->failures == 0 || log_ratelimit(&r->rl_err, wall_s()))
		log_warn("report: redis unavailable redis=%s reason=\"%s\" retry_in=%" PRIu64 "s pending=%" PRIu64,
			 r->cfg.redis, why, wait, spool_counters(r->spool)->pending);
	r->failures++;
	r->state = RS_DOWN;
	r->ctr.connected = false;
	r->pub = r->cmd = NULL;
	r->inflight = 0;
	spool_rewind(r->spool);
	r->next_connect_s = wall_s() + wait;
	if (p)
		redisAsyncFree(p);
	if (c)
		redisAsyncFree(c);
}

static void on_disconnect(const redisAsyncContext *c, int status)
{
	struct report *r = c->data;

	if (c != r->pub && c != r->cmd)
		return;
	if (c == r->pub)
		r->pub = NULL;
	else
		r->cmd = NULL;
	drop(r, status == REDIS_OK ? "connection closed" : (c->errstr[0] ? c->errstr : "connection lost"));
}

static void on_connect(const redisAsyncContext *c, int status)
{
	struct report *r = c->data;

	if (c != r->pub && c != r->cmd)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees c after this callback */
		if (c == r->pub)
			r->pub = NULL;
		else
			r->cmd = NULL;
		drop(r, c->errstr[0] ? c->errstr : "connect failed");
	}
}

static redisAsyncContext *open_conn(struct report *r)
{
	struct rconn_config rc = { r->cfg.redis, r->cfg.user, r->cfg.password };
	char err[256];
	redisAsyncContext *c = rconn_open(&rc, r->base, r, on_connect, on_disconnect, err, sizeof(err));

	if (!c)
		log_warn("report: connect failed redis=%s error=\"%s\"", r->cfg.redis, err);
	return c;
}

static void connect_now(struct report *r)
{
	r->state = RS_CONNECTING;
	r->pub = open_conn(r);
	if (!r->pub) {
		r->state = RS_CONNECTING;
		drop(r, "cannot create a connection");
		return;
	}
	sync_step(r, SY_TOP);
}

/* A reply that is an error (or missing) ends the connection; true when so. */
static bool failed(struct report *r, const redisAsyncContext *c, const redisReply *rep,
		   const char *what)
{
	char why[300];

	if (c != r->pub && c != r->cmd)
		return true;        /* a torn-down connection's reply */
	if (rep && rep->type != REDIS_REPLY_ERROR)
		return false;
	snprintf(why, sizeof(why), "%s: %s", what, rep ? rep->str : (c->errstr[0] ? c->errstr : "no reply"));
	drop(r, why);
	return true;
}

/* ---- converging on (re)connection ----------------------------------------------- */

static void apply_command(struct report *r, const char *id, const char *op, size_t op_len,
			  const char *body, size_t body_len, bool converging);

static void on_sync(redisAsyncContext *c, void *reply, void *priv);

static void cmd_argv(struct report *r, int step, int argc, const char **argv, const size_t *lens)
{
	redisAsyncCommandArgv(r->pub, on_sync, (void *)(intptr_t)step, argc, argv, lens);
}

#define ARGV(st, ...) do { \
		const char *a_[] = { __VA_ARGS__ }; \
		size_t l_[sizeof(a_) / sizeof(a_[0])]; \
		for (size_t i_ = 0; i_ < sizeof(a_) / sizeof(a_[0]); i_++) \
			l_[i_] = strlen(a_[i_]); \
		cmd_argv(r, (st), (int)(sizeof(a_) / sizeof(a_[0])), a_, l_); \
	} while (0)


/* Issue the request of step (its reply continues at on_sync with step + 1
 * for most steps). */
static void sync_step(struct report *r, int step)
{
	char boot[24], started[24], beat[24], ival[24];
	char start[BUS_DECISION_MAX + 2];

	switch (step) {
	case SY_TOP:
		ARGV(SY_TOP, "XREVRANGE", r->k_reports, "+", "-", "COUNT", "1");
		return;
	case SY_REGISTER:
		snprintf(boot, sizeof(boot), "%" PRIu64, spool_boot(r->spool));
		snprintf(started, sizeof(started), "%" PRIu64, r->started_s);
		snprintf(beat, sizeof(beat), "%" PRIu64, wall_s());
		snprintf(ival, sizeof(ival), "%u", r->cfg.heartbeat_s);
		{
			const char *a1[] = { "SADD", r->k_agents, r->cfg.agent_id };
			size_t l1[] = { 4, strlen(r->k_agents), strlen(r->cfg.agent_id) };

			redisAsyncCommandArgv(r->pub, NULL, NULL, 3, a1, l1);
		}
		ARGV(SY_REGISTER, "HSET", r->k_agent, "version", r->cfg.version, "boot", boot, "started", started,
		     "heartbeat", beat, "heartbeat_interval", ival, "schema", "1");
		return;
	case SY_BLOCKS:
		ARGV(SY_BLOCKS, "HGETALL", r->k_blocks);
		return;
	case SY_BACKLOG: {
		char count[12];

		snprintf(start, sizeof(start), "(%s", r->cursor);
		snprintf(count, sizeof(count), "%d", REPORT_BACKLOG_BATCH);
		ARGV(SY_BACKLOG, "XRANGE", r->k_cmd, start, "+", "COUNT", count);
		return;
	}
	case SY_WL:
		ARGV(SY_WL, "HGETALL", r->k_wl);
		return;
	case SY_DONE:
		r->state = RS_READY;
		r->ctr.connected = true;
		r->ctr.connects++;
		if (r->failures)
			log_info("report: redis connected again redis=%s after_failures=%u pending=%" PRIu64,
				 r->cfg.redis, r->failures, spool_counters(r->spool)->pending);
		else
			log_info("report: redis connected redis=%s agent=%s prefix=%s boot=%" PRIu64 " pending=%" PRIu64,
				 r->cfg.redis, r->cfg.agent_id, r->cfg.prefix, spool_boot(r->spool),
				 spool_counters(r->spool)->pending);
		r->failures = 0;
		r->cmd = open_conn(r);
		if (!r->cmd) {
			drop(r, "cannot create the command connection");
			return;
		}
		cmd_read(r);
		r->last_beat_s = 0;
		report_tick(r, wall_s());
		pump(r);
		return;
	}
}

/* The stream's top entry: confirm what Redis already has, and move the
 * boot above the top when the state directory was lost. */
static void sync_top(struct report *r, const redisReply *rep)
{
	uint64_t tb = 0, ts = 0;
	struct spool_rec rec;

	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
	    rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements >= 1) {
		const redisReply *id = rep->element[0]->element[0];

		if (id->type == REDIS_REPLY_STRING)
			bus_id_parse(id->str, id->len, &tb, &ts);
	}
	/* Redis holds a later boot, or entries of this boot this run never
	 * wrote: the state directory was lost or copied */
	if (tb > spool_boot(r->spool) || (tb == spool_boot(r->spool) && ts > spool_last_seq(r->spool))) {
		log_warn("report: the report stream holds boot=%" PRIu64 " but this agent's is %" PRIu64
			 " (state directory lost?): continuing with boot=%" PRIu64,
			 tb, spool_boot(r->spool), tb + 1);
		spool_set_min_boot(r->spool, tb + 1);
	}
	/* entries already in Redis (written before the connection broke) */
	size_t dup = 0;

	spool_rewind(r->spool);
	while (spool_next(r->spool, &rec) == 0 && bus_id_cmp(rec.boot, rec.seq, tb, ts) <= 0)
		dup++;
	spool_rewind(r->spool);
	if (dup) {
		spool_confirm(r->spool, dup);
		r->ctr.duplicates += dup;
		log_info("report: entries already in redis confirmed=%zu", dup);
	}
}

static void sync_blocks(struct report *r, const redisReply *rep)
{
	if (rep->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		const redisReply *v = rep->element[i + 1];

		if (v->type == REDIS_REPLY_STRING)
			apply_command(r, NULL, "block", 5, v->str, v->len, true);
	}
}

/* Apply a batch of stream entries [id, [field, value, ...]]; true when the
 * batch was full (more may follow). */
static size_t apply_entries(struct report *r, const redisReply *rep, bool converging)
{
	size_t n = 0;

	if (rep->type != REDIS_REPLY_ARRAY)
		return 0;
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *e = rep->element[i];
		const char *op = NULL, *body = "{}";
		size_t op_len = 0, body_len = 2;

		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY)
			continue;
		for (size_t f = 0; f + 1 < e->element[1]->elements; f += 2) {
			const redisReply *k = e->element[1]->element[f], *v = e->element[1]->element[f + 1];

			if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
				continue;
			if (k->len == 2 && memcmp(k->str, "op", 2) == 0) {
				op = v->str;
				op_len = v->len;
			} else if (k->len == 4 && memcmp(k->str, "body", 4) == 0) {
				body = v->str;
				body_len = v->len;
			}
		}
		apply_command(r, e->element[0]->str, op ? op : "", op_len, body, body_len, converging);
		n++;
	}
	return n;
}

static void set_acked(struct report *r)
{
	const char *argv[4] = { "HSET", r->k_agent, "cmd_acked", r->cursor };
	size_t lens[4];

	if (!r->pub || strcmp(r->cursor, r->cursor_acked) == 0)
		return;
	for (int i = 0; i < 4; i++)
		lens[i] = strlen(argv[i]);
	redisAsyncCommandArgv(r->pub, NULL, NULL, 4, argv, lens);
	memcpy(r->cursor_acked, r->cursor, sizeof(r->cursor));
	save_cursor(r);
}

static void sync_wl(struct report *r, const redisReply *rep)
{
	struct whitelist nw = { 0 };
	size_t cap = 0, bad = 0;

	if (rep->type != REDIS_REPLY_ARRAY)
		return;
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		const redisReply *v = rep->element[i + 1];
		struct bus_command c;
		char err[160];

		if (v->type != REDIS_REPLY_STRING || bus_wl_record_parse(v->str, v->len, &c, err, sizeof(err)) < 0) {
			bad++;
			continue;
		}
		if (nw.n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct whitelist_entry *ne = realloc(nw.e, nc * sizeof(*ne));

			if (!ne) {
				whitelist_fini(&nw);
				log_err("report: out of memory reading the whitelist");
				return;
			}
			nw.e = ne;
			cap = nc;
		}
		memset(&nw.e[nw.n], 0, sizeof(nw.e[0]));
		memcpy(nw.e[nw.n].uuid, c.uuid, sizeof(c.uuid));
		nw.e[nw.n].until_s = c.until_s;
		nw.e[nw.n].scale = c.scale;
		nw.n++;
	}
	whitelist_normalize(&nw);
	if (bad)
		log_warn("report: whitelist records ignored (malformed) count=%zu", bad);
	whitelist_fini(&r->wl);
	r->wl = nw;
	save_wl_cache(r);
	if (r->hooks.whitelist)
		r->hooks.whitelist(r->hooks.arg, &r->wl);
	log_info("report: whitelist synced entries=%zu", r->wl.n);
}

static void on_sync(redisAsyncContext *c, void *reply, void *priv)
{
	struct report *r = c->data;
	const redisReply *rep = reply;
	int step = (int)(intptr_t)priv;

	if (failed(r, c, rep, "converging"))
		return;
	switch (step) {
	case SY_TOP:
		r->state = RS_SYNCING;
		sync_top(r, rep);
		sync_step(r, SY_REGISTER);
		break;
	case SY_REGISTER:
		sync_step(r, SY_BLOCKS);
		break;
	case SY_BLOCKS:
		sync_blocks(r, rep);
		sync_step(r, SY_BACKLOG);
		break;
	case SY_BACKLOG:
		if (apply_entries(r, rep, true) == REPORT_BACKLOG_BATCH) {
			sync_step(r, SY_BACKLOG);
		} else {
			set_acked(r);
			sync_step(r, SY_WL);
		}
		break;
	case SY_WL:
		sync_wl(r, rep);
		sync_step(r, SY_DONE);
		break;
	}
}

/* ---- commands ------------------------------------------------------------------------ */

static const char *op_name(enum bus_op op)
{
	static const char *const n[] = { "block", "unblock", "whitelist_set", "whitelist_del", "reload" };

	return n[op];
}

/* Replace or remove uuid in the controller's whitelist. */
static void wl_change(struct report *r, const struct bus_command *c)
{
	size_t i;

	for (i = 0; i < r->wl.n; i++)
		if (strcmp(r->wl.e[i].uuid, c->uuid) == 0)
			break;
	if (c->op == BUS_OP_WL_DEL) {
		if (i < r->wl.n) {
			memmove(&r->wl.e[i], &r->wl.e[i + 1], (r->wl.n - i - 1) * sizeof(r->wl.e[0]));
			r->wl.n--;
		}
	} else {
		if (i == r->wl.n) {
			struct whitelist_entry *ne = realloc(r->wl.e, (r->wl.n + 1) * sizeof(*ne));

			if (!ne)
				return;
			r->wl.e = ne;
			r->wl.n++;
		}
		memset(&r->wl.e[i], 0, sizeof(r->wl.e[0]));
		memcpy(r->wl.e[i].uuid, c->uuid, sizeof(c->uuid));
		r->wl.e[i].until_s = c->until_s;
		r->wl.e[i].scale = c->scale;
		whitelist_normalize(&r->wl);
	}
	save_wl_cache(r);
	if (r->hooks.whitelist)
		r->hooks.whitelist(r->hooks.arg, &r->wl);
}

/* Parse, apply and acknowledge one command; id NULL: from the blocks
 * snapshot (applied, not acknowledged).  While converging, whitelist
 * changes are skipped: the snapshot read afterwards is the final word. */
static void apply_command(struct report *r, const char *id, const char *op, size_t op_len,
			  const char *body, size_t body_len, bool converging)
{
	struct bus_command c;
	char msg[BUS_REASON_MAX];
	const char *result;
	int e;

	msg[0] = '\0';
	e = bus_command_parse(op, op_len, body, body_len, &c, msg, sizeof(msg));
	if (e == 0) {
		if (c.op == BUS_OP_WL_SET || c.op == BUS_OP_WL_DEL) {
			if (!converging)
				wl_change(r, &c);
			e = converging ? 1 : 0;
		} else {
			e = r->hooks.command(r->hooks.arg, &c, msg, sizeof(msg));
		}
	}
	if (!id)
		return;
	r->ctr.commands++;
	if (e < 0) {
		r->ctr.commands_failed++;
		result = "failed";
	} else if (e > 0) {
		r->ctr.commands_ignored++;
		result = "ignored";
	} else {
		result = "applied";
	}
	if (e < 0 || !converging)
		log_info("report: command id=%s op=%s vm=%s decision=%s result=%s%s%s%s", id,
			 e == -EPROTONOSUPPORT || e == -EINVAL ? "?" : op_name(c.op), c.uuid[0] ? c.uuid : "-",
			 c.decision[0] ? c.decision : "-", result, msg[0] ? " message=\"" : "", msg,
			 msg[0] ? "\"" : "");
	snprintf(r->cursor, sizeof(r->cursor), "%s", id);
	jsonw_reset(&r->w);
	jsonw_obj_begin(&r->w);
	jsonw_key(&r->w, "cmd"); jsonw_cstr(&r->w, id);
	jsonw_key(&r->w, "op");
	if (e == -EPROTONOSUPPORT)
		jsonw_str(&r->w, op, op_len);
	else
		jsonw_cstr(&r->w, op_name(c.op));
	jsonw_key(&r->w, "vm"); jsonw_cstr(&r->w, c.uuid);
	jsonw_key(&r->w, "decision"); jsonw_cstr(&r->w, c.decision);
	jsonw_key(&r->w, "result"); jsonw_cstr(&r->w, result);
	jsonw_key(&r->w, "message"); jsonw_cstr(&r->w, msg);
	jsonw_key(&r->w, "converging"); jsonw_bool(&r->w, converging);
	jsonw_obj_end(&r->w);
	report_publish(r, "ack", r->w.buf, r->w.len);
}

static void on_xread(redisAsyncContext *c, void *reply, void *priv)
{
	struct report *r = c->data;
	const redisReply *rep = reply;

	if (failed(r, c, rep, "reading commands"))
		return;
	/* [[stream, [entries]]] or nil on timeout */
	if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
	    rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2) {
		apply_entries(r, rep->element[0]->element[1], false);
		set_acked(r);
	}
	cmd_read(r);
}

static void cmd_read(struct report *r)
{
	char block[16];
	const char *argv[8];
	size_t lens[8];

	snprintf(block, sizeof(block), "%d", REPORT_XREAD_BLOCK_MS);
	argv[0] = "XREAD"; argv[1] = "COUNT"; argv[2] = "64"; argv[3] = "BLOCK"; argv[4] = block;
	argv[5] = "STREAMS"; argv[6] = r->k_cmd; argv[7] = r->cursor;
	for (int i = 0; i < 8; i++)
		lens[i] = strlen(argv[i]);
	redisAsyncCommandArgv(r->cmd, on_xread, NULL, 8, argv, lens);
}

/* ---- writing reports ------------------------------------------------------------------- */

static void on_xadd(redisAsyncContext *c, void *reply, void *priv)
{
	struct report *r = c->data;
	const redisReply *rep = reply;

	if (c != r->pub)
		return;
	if (rep && rep->type == REDIS_REPLY_ERROR && strstr(rep->str, "equal or smaller")) {
		r->ctr.duplicates++;
	} else if (failed(r, c, rep, "writing a report")) {
		return;
	} else {
		r->ctr.written++;
	}
	r->inflight--;
	spool_confirm(r->spool, 1);
	pump(r);
}

/* Payload in the spool: "type\nts_ms\njson". */
static void pump(struct report *r)
{
	struct spool_rec rec;

	while (r->state == RS_READY && r->inflight < REPORT_WINDOW && spool_next(r->spool, &rec) == 0) {
		const char *p = (const char *)rec.payload, *e = p + rec.len;
		const char *nl1 = memchr(p, '\n', rec.len), *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(e - nl1 - 1)) : NULL;
		char id[48];
		const char *argv[14];
		size_t lens[14];

		if (!nl2) {
			/* cannot happen (we wrote it): send it as it is rather than
			 * confirm out of order */
			p = "corrupt\n0\n";
			nl1 = p + 7;
			nl2 = p + 9;
			e = p + 10;
		}
		snprintf(id, sizeof(id), "%" PRIu64 "-%" PRIu64, rec.boot, rec.seq);
		argv[0] = "XADD"; argv[1] = r->k_reports; argv[2] = "MAXLEN"; argv[3] = "~";
		argv[4] = REPORT_STREAM_MAXLEN; argv[5] = id; argv[6] = "v"; argv[7] = "1";
		argv[8] = "type"; argv[9] = p; argv[10] = "ts"; argv[11] = nl1 + 1;
		argv[12] = "body"; argv[13] = nl2 + 1;
		for (int i = 0; i < 9; i++)
			lens[i] = strlen(argv[i]);
		lens[9] = (size_t)(nl1 - p);
		lens[10] = 2;
		lens[11] = (size_t)(nl2 - nl1 - 1);
		lens[12] = 4;
		lens[13] = (size_t)(e - nl2 - 1);
		redisAsyncCommandArgv(r->pub, on_xadd, NULL, 14, argv, lens);
		r->inflight++;
	}
}

int report_publish(struct report *r, const char *type, const char *json, size_t len)
{
	size_t tl = strlen(type);
	char ts[24];
	int tsl = snprintf(ts, sizeof(ts), "%" PRIu64, wall_ms());
	size_t n = tl + 1 + (size_t)tsl + 1 + len;
	char stackbuf[4096];
	char *buf = n <= sizeof(stackbuf) ? stackbuf : malloc(n);
	uint64_t boot, seq;
	int e;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, type, tl);
	buf[tl] = '\n';
	memcpy(buf + tl + 1, ts, (size_t)tsl);
	buf[tl + 1 + tsl] = '\n';
	memcpy(buf + tl + 2 + tsl, json, len);
	e = spool_push(r->spool, buf, n, &boot, &seq);
	if (buf != stackbuf)
		free(buf);
	if (e < 0) {
		r->ctr.dropped++;
		if (log_ratelimit(&r->rl_drop, wall_s()))
			log_err("report: report DROPPED type=%s error=\"%s\" dropped_total=%" PRIu64
				" pending_bytes=%" PRIu64 " spool_max=%" PRIu64,
				type, strerror(-e), r->ctr.dropped, spool_counters(r->spool)->pending_bytes,
				r->cfg.spool_max);
		return e;
	}
	r->ctr.published++;
	pump(r);
	return 0;
}

/* ---- heartbeat and lifecycle ------------------------------------------------------------ */

static void heartbeat(struct report *r, uint64_t now_s)
{
	char beat[24], pend[24];
	const char *argv[10];
	size_t lens[10];

	jsonw_reset(&r->w);
	jsonw_obj_begin(&r->w);
	if (r->hooks.health)
		r->hooks.health(r->hooks.arg, &r->w);
	jsonw_key(&r->w, "reports_pending"); jsonw_uint(&r->w, spool_counters(r->spool)->pending);
	jsonw_key(&r->w, "reports_dropped"); jsonw_uint(&r->w, r->ctr.dropped);
	jsonw_obj_end(&r->w);
	snprintf(beat, sizeof(beat), "%" PRIu64, now_s);
	snprintf(pend, sizeof(pend), "%" PRIu64, spool_counters(r->spool)->pending);
	argv[0] = "HSET"; argv[1] = r->k_agent; argv[2] = "heartbeat"; argv[3] = beat;
	argv[4] = "health"; argv[5] = r->w.buf; argv[6] = "reports_pending"; argv[7] = pend;
	argv[8] = "version"; argv[9] = r->cfg.version;
	for (int i = 0; i < 10; i++)
		lens[i] = strlen(argv[i]);
	lens[5] = r->w.len;
	redisAsyncCommandArgv(r->pub, NULL, NULL, 10, argv, lens);
	if (r->beats++ % REPORT_HEARTBEAT_ENTRY == 0) {
		char *copy = malloc(r->w.len);

		if (copy) {
			size_t len = r->w.len;

			memcpy(copy, r->w.buf, len);
			report_publish(r, "heartbeat", copy, len);
			free(copy);
		}
	}
}

void report_tick(struct report *r, uint64_t now_s)
{
	if (r->state == RS_DOWN && now_s >= r->next_connect_s)
		connect_now(r);
	if (r->state == RS_READY && now_s >= r->last_beat_s + r->cfg.heartbeat_s) {
		r->last_beat_s = now_s;
		heartbeat(r, now_s);
	}
}

struct report *report_new(struct event_base *base, const struct report_config *cfg,
			  const struct report_hooks *hooks, char *err, size_t cap)
{
	struct report *r;

	if (!bus_name_valid(cfg->prefix, BUS_PREFIX_MAX)) {
		snprintf(err, cap, "redis prefix \"%s\": expected 1-%d of A-Z a-z 0-9 . _ -", cfg->prefix,
			 BUS_PREFIX_MAX);
		return NULL;
	}
	if (!bus_name_valid(cfg->agent_id, BUS_AGENT_ID_MAX)) {
		snprintf(err, cap, "agent id \"%s\": expected 1-%d of A-Z a-z 0-9 . _ -", cfg->agent_id,
			 BUS_AGENT_ID_MAX);
		return NULL;
	}
	if (!rconn_addr_valid(cfg->redis)) {
		snprintf(err, cap, "redis address \"%s\": expected HOST:PORT, [V6]:PORT or unix:PATH", cfg->redis);
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	r->base = base;
	r->cfg = *cfg;
	r->hooks = *hooks;
	r->started_s = wall_s();
	jsonw_init(&r->w);
	r->rl_drop = (struct log_ratelimit){ .burst = 5, .interval_s = 60 };
	r->rl_err = (struct log_ratelimit){ .burst = 5, .interval_s = 60 };
	err[0] = '\0';
	r->spool = spool_open(cfg->state_dir, cfg->spool_max, err, cap);
	if (r->spool && err[0])
		log_warn("report: spool: %s", err);
	if (!r->spool) {
		jsonw_fini(&r->w);
		free(r);
		return NULL;
	}
	bus_key(r->k_reports, sizeof(r->k_reports), cfg->prefix, "reports", cfg->agent_id);
	bus_key(r->k_cmd, sizeof(r->k_cmd), cfg->prefix, "cmd", cfg->agent_id);
	bus_key(r->k_agent, sizeof(r->k_agent), cfg->prefix, "agent", cfg->agent_id);
	bus_key(r->k_agents, sizeof(r->k_agents), cfg->prefix, "agents", NULL);
	bus_key(r->k_wl, sizeof(r->k_wl), cfg->prefix, "whitelist", NULL);
	bus_key(r->k_blocks, sizeof(r->k_blocks), cfg->prefix, "blocks", NULL);
	snprintf(r->path_cursor, sizeof(r->path_cursor), "%s/cmd.cursor", cfg->state_dir);
	snprintf(r->path_wl, sizeof(r->path_wl), "%s/whitelist.cache", cfg->state_dir);
	load_cursor(r);
	memcpy(r->cursor_acked, r->cursor, sizeof(r->cursor));
	load_wl_cache(r);
	r->state = RS_DOWN;
	r->next_connect_s = 0;
	log_info("report: spool dir=%s boot=%" PRIu64 " pending=%" PRIu64 " cursor=%s", cfg->state_dir,
		 spool_boot(r->spool), spool_counters(r->spool)->pending, r->cursor);
	return r;
}

void report_free(struct report *r)
{
	redisAsyncContext *p, *c;

	if (!r)
		return;
	p = r->pub;
	c = r->cmd;
	r->pub = r->cmd = NULL;
	r->state = RS_DOWN;
	if (p)
		redisAsyncFree(p);
	if (c)
		redisAsyncFree(c);
	spool_free(r->spool);
	whitelist_fini(&r->wl);
	jsonw_fini(&r->w);
	free(r);
}

const struct whitelist *report_whitelist(const struct report *r)
{
	return &r->wl;
}

const struct report_counters *report_counters(const struct report *r)
{
	struct report *m = (struct report *)r;
	const struct spool_counters *s = spool_counters(r->spool);

	m->ctr.pending = s->pending;
	m->ctr.pending_bytes = s->pending_bytes;
	m->ctr.spool_errors = s->io_errors;
	return &r->ctr;
}
