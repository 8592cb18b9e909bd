/* SPDX-License-Identifier: MIT */
/*
 * api: the controller's HTTP API, version 1, and the dashboard's files
 * (controller process; libevent evhttp, jansson).  doc/api.md explains and
 * doc/openapi.yaml is the contract.  Every request is authenticated (bearer
 * token, role) and validated here (sizes, content type, known query
 * parameters and body fields, UUIDs, durations, reasons) before it becomes
 * the arguments of one tw.lua call; the script's answer is JSON made inside
 * Redis, passed through as it is, except API replies that start with
 * {"status":N, whose status becomes the HTTP status.  The VM list, the
 * event feed and /metrics are served from the caches poll.c keeps.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sys/queue.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <jansson.h>

#include "api_int.h"
#include "ctl.h"
#include "log.h"
#include "netaddr.h"

#define API_URI_MAX 2048
#define API_DURATION_MIN 60
#define API_DURATION_MAX (365u * 86400u)

#define CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " \
	    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

struct pending {
	struct ctl *c;
	struct evhttp_request *req;
	bool dead;                    /* the client went away */
	int ok_status;                /* for replies without {"status" */
	char token[AUTH_TOKEN_LEN + 1];   /* POST /v1/tokens: shown once in the reply */
	char name[AUTH_NAME_MAX + 1];     /* DELETE /v1/tokens: forget it here at once */
	char file[API_FILE_NAME_MAX];     /* api_download: the reply is this file's bytes */
};

void api_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

void api_send(struct evhttp_request *req, int code, const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	api_headers(req);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evbuffer_add(b, body, len);
	evbuffer_add(b, "\n", 1);
	evhttp_send_reply(req, code, code < 300 ? "OK" : "Error", b);
	evbuffer_free(b);
}

void api_error(struct ctl *c, struct evhttp_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void api_error(struct ctl *c, struct evhttp_request *req, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *j;
	char *s;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->ctr.http_errors++;
	j = json_pack("{s:s}", "error", msg);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	api_send(req, code, s ? s : "{\"error\":\"out of memory\"}", s ? strlen(s) : 25);
	free(s);
	json_decref(j);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
	struct pending *p = arg;

	p->dead = true;
}

/* POST /v1/tokens succeeded: the reply carries the token, this once. */
static void send_token(struct pending *p, const char *body, size_t len)
{
	json_t *j = json_loadb(body, len, 0, NULL);
	char *s;

	if (!j || json_object_set_new(j, "token", json_string(p->token)) < 0 ||
	    !(s = json_dumps(j, JSON_COMPACT))) {
		json_decref(j);
		api_error(p->c, p->req, 500, "out of memory");
		return;
	}
	api_send(p->req, 201, s, strlen(s));
	free(s);
	json_decref(j);
}

/* DELETE /v1/tokens/{name} succeeded: this controller forgets it now,
 * the others at their next poll. */
static void forget_token(struct ctl *c, const char *name)
{
	struct auth_set *s = &c->tok_redis;

	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->t[i].name, name) == 0) {
			s->t[i] = s->t[--s->n];
			return;
		}
	}
}

/* api_download's reply: the bytes as an attachment, never rendered by a
 * browser (a customer's file); nil is a 404. */
static void send_file(struct pending *p, const redisReply *rep)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(p->req);
	struct evbuffer *out;
	char disp[API_FILE_NAME_MAX + 32];

	if (rep->type != REDIS_REPLY_STRING) {
		api_error(p->c, p->req, 404, "no such file in this request");
		return;
	}
	out = evbuffer_new();
	if (!out) {
		api_error(p->c, p->req, 500, "out of memory");
		return;
	}
	api_headers(p->req);
	evhttp_add_header(h, "Content-Type", "application/octet-stream");
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", p->file);
	evhttp_add_header(h, "Content-Disposition", disp);
	evbuffer_add(out, rep->str, rep->len);
	evhttp_send_reply(p->req, 200, "OK", out);
	evbuffer_free(out);
}

/* The script's reply: pass it on. */
static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
	struct pending *p = priv;
	const redisReply *rep = reply;
	struct ctl *c = p->c;

	if (p->dead) {
		free(p);
		return;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(p->req), NULL, NULL);
	if (!rep) {
		api_error(c, p->req, 503, "redis connection lost");
	} else if (rep->type == REDIS_REPLY_ERROR) {
		log_err("api: script error: %s", rep->str);
		api_error(c, p->req, 500, "internal error (see the controller's log)");
	} else if (p->file[0]) {
		send_file(p, rep);
	} else if (rep->type != REDIS_REPLY_STRING) {
		api_error(c, p->req, 500, "internal error: unexpected reply");
	} else if (strncmp(rep->str, "{\"status\":", 10) == 0) {
		int code = atoi(rep->str + 10);
		const char *body = strstr(rep->str, ",\"body\":");

		if (body && code < 300) {
			size_t off = (size_t)(body + 8 - rep->str);

			if (p->token[0])
				send_token(p, body + 8, rep->len - off - 1);
			else
				api_send(p->req, code, body + 8, rep->len - off - 1);   /* without the final } */
			if (p->name[0])
				forget_token(c, p->name);
		} else {
			c->ctr.http_errors++;
			/* {"status":N,"error":"..."} -> {"error":"..."} */
			const char *e = strstr(rep->str, "\"error\":");
			char *out = malloc(rep->len + 2);

			if (!out || !e) {
				free(out);
				api_error(c, p->req, code >= 400 ? code : 500, "error");
			} else {
				int n = snprintf(out, rep->len + 2, "{%s", e);

				api_send(p->req, code >= 400 && code < 600 ? code : 500, out, (size_t)n);
				free(out);
			}
		}
	} else {
		api_send(p->req, p->ok_status, rep->str, rep->len);
	}
	explicit_bzero(p->token, sizeof(p->token));
	free(p);
}

static struct pending *call_ex(struct ctl *c, struct evhttp_request *req, const char *fn, int argc,
			       const char **argv, const size_t *lens)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p) {
		api_error(c, req, 500, "out of memory");
		return NULL;
	}
	p->c = c;
	p->req = req;
	p->ok_status = 200;
	if (ctl_script(c, fn, argc, argv, lens, on_reply, p) < 0) {
		free(p);
		api_error(c, req, 503, "redis is not connected");
		return NULL;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_close, p);
	return p;
}

static void call(struct ctl *c, struct evhttp_request *req, const char *fn, int argc, const char **argv)
{
	call_ex(c, req, fn, argc, argv, NULL);
}

void api_call(struct ctl *c, struct evhttp_request *req, const char *fn, int argc, const char **argv,
	      const size_t *lens)
{
	call_ex(c, req, fn, argc, argv, lens);
}

void api_download(struct ctl *c, struct evhttp_request *req, const char *fn, int argc, const char **argv,
		  const char *name)
{
	struct pending *p = call_ex(c, req, fn, argc, argv, NULL);

	if (p)
		snprintf(p->file, sizeof(p->file), "%s", name);
}

/* ---- authentication ------------------------------------------------------------- */

int api_load_tokens(struct ctl *c)
{
	struct auth_set s;
	struct auth_errors e;
	int r;

	if (!c->cfg->tokens_path)
		return 0;
	r = auth_load_file(c->cfg->tokens_path, &s, &e);
	if (r < 0) {
		for (unsigned i = 0; i < e.n; i++)
			log_err("config: %s", e.msg[i]);
		return r;
	}
	auth_set_fini(&c->tok_file);
	c->tok_file = s;
	log_info("api: tokens loaded file=%s tokens=%zu", c->cfg->tokens_path, s.n);
	return 0;
}

/* The request's token if its role is at least need; NULL with 401/403
 * sent otherwise.  The presented token is never logged. */
const struct auth_token *api_auth(struct ctl *c, struct evhttp_request *req, enum auth_role need)
{
	const char *hdr = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	const struct auth_set *sets[2] = { &c->tok_file, &c->tok_redis };
	const struct auth_token *t = NULL;
	const char *tok;
	size_t len;

	if (auth_bearer(hdr, &tok, &len))
		t = auth_lookup(sets, 2, tok, len);
	if (!t) {
		c->ctr.auth_failures++;
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
				  "Bearer realm=\"tapwarden\"");
		api_error(c, req, 401, hdr ? "unknown token" : "a bearer token is required (Authorization: Bearer ...)");
		return NULL;
	}
	if (t->role < need) {
		api_error(c, req, 403, "token \"%s\" has role %s; this needs %s", t->name, auth_role_name(t->role),
			   auth_role_name(need));
		return NULL;
	}
	return t;
}

/* ---- validation ---------------------------------------------------------------- */

/* Printable text of 1..max bytes (UTF-8 allowed, no control bytes). */
bool api_text_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* Every query parameter is one of allowed (NULL-terminated); false with
 * the error sent. */
bool api_query_known(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q,
			const char *const *allowed)
{
	struct evkeyval *kv;

	TAILQ_FOREACH(kv, q, next) {
		size_t i;

		for (i = 0; allowed[i]; i++)
			if (strcmp(kv->key, allowed[i]) == 0)
				break;
		if (!allowed[i]) {
			char list[256] = "";

			for (i = 0; allowed[i]; i++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", i ? ", " : "",
					 allowed[i]);
			api_error(c, req, 400, "unknown query parameter \"%.32s\"%s%s", kv->key,
				   allowed[0] ? "; known: " : "; this path takes none", list);
			return false;
		}
	}
	return true;
}

/* The request's JSON object body, or NULL with the error sent.  Every
 * field must be in allowed.  A DELETE without a body takes its fields from
 * the query string (libevent's HTTP client, and some proxies, send no body
 * with DELETE). */
json_t *api_body_max(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q,
		     const char *const *allowed, size_t max)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
	json_error_t je;
	const char *k;
	json_t *j, *v;

	if (n == 0 && evhttp_request_get_command(req) == EVHTTP_REQ_DELETE) {
		struct evkeyval *kv;

		if (!api_query_known(c, req, q, allowed))
			return NULL;
		j = json_object();
		TAILQ_FOREACH(kv, q, next)
			json_object_set_new(j, kv->key, json_string(kv->value));
		return j;
	}
	if (n > max) {
		api_error(c, req, 413, "body larger than %zu bytes", max);
		return NULL;
	}
	if (!ct || (strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' '))) {
		api_error(c, req, 415, "Content-Type must be application/json");
		return NULL;
	}
	if (!api_query_known(c, req, q, (const char *const[]){ NULL }))
		return NULL;
	j = json_loadb((const char *)evbuffer_pullup(in, -1), n, JSON_REJECT_DUPLICATES, &je);
	if (!j || !json_is_object(j)) {
		api_error(c, req, 400, "body: expected a JSON object%s%s", j ? "" : ": ", j ? "" : je.text);
		json_decref(j);
		return NULL;
	}
	json_object_foreach(j, k, v) {
		size_t i;

		for (i = 0; allowed[i]; i++)
			if (strcmp(k, allowed[i]) == 0)
				break;
		if (!allowed[i]) {
			api_error(c, req, 400, "body: unknown field \"%.32s\"", k);
			json_decref(j);
			return NULL;
		}
	}
	return j;
}

json_t *api_body(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q, const char *const *allowed)
{
	return api_body_max(c, req, q, allowed, API_BODY_MAX);
}

static const char *jstr(json_t *j, const char *k)
{
	json_t *v = json_object_get(j, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* The optional operator of a change ("" when absent); false with the
 * error sent. */
bool api_operator(struct ctl *c, struct evhttp_request *req, json_t *j, const char **op)
{
	*op = jstr(j, "operator");
	if (json_object_get(j, "operator") && !api_text_ok(*op, API_OPERATOR_MAX)) {
		api_error(c, req, 400, "operator: 1-%d characters without control characters", API_OPERATOR_MAX);
		return false;
	}
	if (!*op)
		*op = "";
	return true;
}

/* reason (required) and operator (optional) of a change; false with the
 * error sent. */
bool api_why(struct ctl *c, struct evhttp_request *req, json_t *j, const char **reason, const char **op)
{
	*reason = jstr(j, "reason");
	if (!api_text_ok(*reason, API_REASON_MAX)) {
		api_error(c, req, 400, "reason: required, 1-%d characters without control characters",
			   API_REASON_MAX);
		return false;
	}
	return api_operator(c, req, j, op);
}

json_t *api_limits(struct ctl *c, struct evhttp_request *req, const json_t *lim)
{
	const json_t *sc = json_object_get(lim, "scale");
	json_t *out;

	if (!lim || json_is_null(lim))
		return json_null();
	if (!json_is_object(lim) || json_object_size(lim) != 1 || !json_is_number(sc) ||
	    json_number_value(sc) < 2 || json_number_value(sc) > 1000) {
		api_error(c, req, 400, "limits: null (full exemption) or {\"scale\": N}, N from 2 to 1000");
		return NULL;
	}
	out = json_pack("{s:f}", "scale", json_number_value(sc));
	if (!out)
		api_error(c, req, 500, "out of memory");
	return out;
}

/* ---- handlers ------------------------------------------------------------------------- */

static void h_block(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q, const struct auth_token *t)
{
	static const char *const fields[] = { "uuid", "duration_s", "reason", "operator", NULL };
	json_t *j = api_body(c, req, q, fields), *d;
	const char *reason, *op;
	char uuid[BUS_UUID_LEN], dur[24], now[24];

	if (!j)
		return;
	d = json_object_get(j, "duration_s");
	if (!bus_uuid_norm(jstr(j, "uuid"), uuid)) {
		api_error(c, req, 400, "uuid: required, a domain UUID (8-4-4-4-12 hex digits)");
	} else if (!json_is_integer(d) || json_integer_value(d) < API_DURATION_MIN ||
		   json_integer_value(d) > API_DURATION_MAX) {
		api_error(c, req, 400, "duration_s: required, an integer from %d to %u", API_DURATION_MIN,
			   API_DURATION_MAX);
	} else if (api_why(c, req, j, &reason, &op)) {
		const char *argv[6] = { uuid, dur, reason, t->name, now, op };

		snprintf(dur, sizeof(dur), "%" JSON_INTEGER_FORMAT, json_integer_value(d));
		snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
		call(c, req, "block", 6, argv);
	}
	json_decref(j);
}

/* DELETE of a block or a whitelist entry: tw.lua's fn (unblock, wl_revoke)
 * with the reason. */
static void h_remove(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q, const struct auth_token *t,
		     const char *uuid, const char *fn)
{
	static const char *const fields[] = { "reason", "operator", NULL };
	json_t *j = api_body(c, req, q, fields);
	const char *reason, *op;
	char now[24];

	if (!j)
		return;
	if (api_why(c, req, j, &reason, &op)) {
		const char *argv[5] = { uuid, reason, t->name, now, op };

		snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
		call(c, req, fn, 5, argv);
	}
	json_decref(j);
}

static void h_wl_add(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q, const struct auth_token *t)
{
	static const char *const fields[] = { "uuid", "customer", "ticket", "reason", "operator", "expires",
					      "duration_s", "limits", NULL };
	json_t *j = api_body(c, req, q, fields), *rec = NULL, *lim, *exp, *dur;
	const char *reason, *op, *customer, *ticket;
	char uuid[BUS_UUID_LEN], now[24];
	json_int_t expires = 0;
	time_t tnow = time(NULL);
	char *s = NULL;

	if (!j)
		return;
	customer = jstr(j, "customer");
	ticket = jstr(j, "ticket");
	lim = json_object_get(j, "limits");
	exp = json_object_get(j, "expires");
	dur = json_object_get(j, "duration_s");
	if (!bus_uuid_norm(jstr(j, "uuid"), uuid)) {
		api_error(c, req, 400, "uuid: required, a domain UUID (8-4-4-4-12 hex digits)");
		goto out;
	}
	if (!api_text_ok(customer, 128) || !api_text_ok(ticket, 64)) {
		api_error(c, req, 400, "customer (1-128 characters) and ticket (1-64) are required");
		goto out;
	}
	if (!api_why(c, req, j, &reason, &op))
		goto out;
	if (exp && dur) {
		api_error(c, req, 400, "give expires or duration_s, not both");
		goto out;
	}
	if (exp) {
		if (!json_is_integer(exp) || json_integer_value(exp) < 0 ||
		    (json_integer_value(exp) != 0 && json_integer_value(exp) <= tnow)) {
			api_error(c, req, 400, "expires: 0 (never) or a future time in seconds since the epoch");
			goto out;
		}
		expires = json_integer_value(exp);
	} else if (dur) {
		if (!json_is_integer(dur) || json_integer_value(dur) < API_DURATION_MIN ||
		    json_integer_value(dur) > 10 * (json_int_t)API_DURATION_MAX) {
			api_error(c, req, 400, "duration_s: an integer from %d to %u", API_DURATION_MIN,
				   10 * API_DURATION_MAX);
			goto out;
		}
		expires = (json_int_t)tnow + json_integer_value(dur);
	}
	if (!(lim = api_limits(c, req, lim)))
		goto out;
	rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:o}", "uuid", uuid, "customer", customer, "ticket", ticket,
			"reason", reason, "operator", op, "expires", (json_int_t)expires, "limits", lim);
	s = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	if (!s) {
		api_error(c, req, 500, "out of memory");
		goto out;
	}
	{
		const char *argv[3] = { s, t->name, now };

		snprintf(now, sizeof(now), "%lld", (long long)tnow);
		call(c, req, "wl_add", 3, argv);
	}
out:
	free(s);
	json_decref(rec);
	json_decref(j);
}

/* Parse an unsigned query value; false (error sent) when malformed. */
static bool q_uint(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q, const char *k,
		   uint64_t lo, uint64_t hi, uint64_t *out)
{
	const char *v = evhttp_find_header(q, k);
	char *end;

	if (!v)
		return true;
	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno || *end || !*v || !isdigit((unsigned char)v[0]) || *out < lo || *out > hi) {
		api_error(c, req, 400, "%s: an integer from %" PRIu64 " to %" PRIu64, k, lo, hi);
		return false;
	}
	return true;
}

static void h_audit(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q)
{
	static const char *const params[] = { "vm", "actor", "action", "since", "until", "limit", NULL };
	const char *vm = evhttp_find_header(q, "vm"), *actor = evhttp_find_header(q, "actor");
	const char *action = evhttp_find_header(q, "action");
	uint64_t since = 0, till = 0, limit = 100;
	char uuid[BUS_UUID_LEN] = "", a1[24], a2[24], a3[24];

	if (!api_query_known(c, req, q, params))
		return;
	if (vm && !bus_uuid_norm(vm, uuid)) {
		api_error(c, req, 400, "vm: a domain UUID");
		return;
	}
	if (actor && !api_text_ok(actor, 80)) {
		api_error(c, req, 400, "actor: 1-80 characters");
		return;
	}
	if (action && !bus_name_valid(action, 32)) {
		api_error(c, req, 400, "action: an action name (block, unblock, whitelist_add, ...)");
		return;
	}
	if (!q_uint(c, req, q, "since", 0, UINT32_MAX * 4ull, &since) ||
	    !q_uint(c, req, q, "until", 0, UINT32_MAX * 4ull, &till) ||
	    !q_uint(c, req, q, "limit", 1, 1000, &limit))
		return;
	snprintf(a1, sizeof(a1), "%" PRIu64, since);
	snprintf(a2, sizeof(a2), "%" PRIu64, till);
	snprintf(a3, sizeof(a3), "%" PRIu64, limit);
	{
		const char *argv[6] = { uuid, actor ? actor : "", a1, a2, a3, action ? action : "" };

		call(c, req, "audit", 6, argv);
	}
}

static void h_vms(struct ctl *c, struct evhttp_request *req, const char *query)
{
	struct vmq vq;
	struct jsonw w;
	char err[256];

	if (vmq_parse(query, &vq, err, sizeof(err)) < 0) {
		api_error(c, req, 400, "%s", err);
		return;
	}
	if (!c->vms_loaded) {
		api_error(c, req, 503, "the VM list is still loading from Redis");
		return;
	}
	jsonw_init(&w);
	if (vmcache_query(&c->vms, &vq, (int64_t)time(NULL), &w) < 0)
		api_error(c, req, 500, "out of memory");
	else
		api_send(req, 200, w.buf, w.len);
	jsonw_fini(&w);
}

static void h_whoami(struct evhttp_request *req, const struct auth_token *t)
{
	json_t *j = json_pack("{s:s,s:s}", "name", t->name, "role", auth_role_name(t->role));
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

	api_send(req, 200, s ? s : "{}", s ? strlen(s) : 2);
	free(s);
	json_decref(j);
}

static void h_tokens_list(struct ctl *c, struct evhttp_request *req)
{
	json_t *list = json_array(), *j;
	const struct auth_set *sets[2] = { &c->tok_file, &c->tok_redis };
	char *s;

	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; i < sets[k]->n; i++) {
			const struct auth_token *t = &sets[k]->t[i];

			json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:I,s:s}", "name", t->name, "role",
							      auth_role_name(t->role), "source", k ? "redis" : "file",
							      "created", (json_int_t)t->created, "created_by", t->created_by));
		}
	}
	j = json_pack("{s:o}", "tokens", list);
	s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (s)
		api_send(req, 200, s, strlen(s));
	else
		api_error(c, req, 500, "out of memory");
	free(s);
	json_decref(j);
}

static bool token_named(const struct auth_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->t[i].name, name) == 0)
			return true;
	return false;
}

static void h_token_create(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q,
			   const struct auth_token *t)
{
	static const char *const fields[] = { "name", "role", "operator", NULL };
	json_t *j = api_body(c, req, q, fields), *rec = NULL;
	const char *name, *role, *op;
	char tok[AUTH_TOKEN_LEN + 1], hex[65], now[24];
	uint8_t h[32];
	char *s = NULL;
	struct pending *p;

	if (!j)
		return;
	name = jstr(j, "name");
	role = jstr(j, "role");
	if (!auth_name_valid(name)) {
		api_error(c, req, 400, "name: required, 1-%d of A-Z a-z 0-9 . _ -", AUTH_NAME_MAX);
	} else if (auth_role_parse(role) == AUTH_NONE) {
		api_error(c, req, 400, "role: viewer, support or admin");
	} else if (!api_operator(c, req, j, &op)) {
		/* sent */
	} else if (token_named(&c->tok_file, name)) {
		api_error(c, req, 409, "a token named %s is in the tokens file", name);
	} else if (auth_generate(tok) < 0) {
		api_error(c, req, 500, "no randomness available");
	} else {
		auth_hash(tok, strlen(tok), h);
		auth_hex(h, hex);
		rec = json_pack("{s:s,s:s,s:s}", "name", name, "role", role, "hash", hex);
		s = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
		if (!s) {
			api_error(c, req, 500, "out of memory");
		} else {
			const char *argv[4] = { s, t->name, now, op };

			snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
			if ((p = call_ex(c, req, "tok_create", 4, argv, NULL)))
				memcpy(p->token, tok, sizeof(tok));
		}
		explicit_bzero(tok, sizeof(tok));
	}
	free(s);
	json_decref(rec);
	json_decref(j);
}

static void h_token_revoke(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q,
			   const struct auth_token *t, const char *name)
{
	static const char *const fields[] = { "operator", NULL };
	json_t *j = api_body(c, req, q, fields);
	const char *op;
	char now[24];
	struct pending *p;

	if (!j)
		return;
	if (!api_operator(c, req, j, &op)) {
		/* sent */
	} else if (token_named(&c->tok_file, name) && !token_named(&c->tok_redis, name)) {
		api_error(c, req, 409, "token %s is in the tokens file: remove it there and send SIGHUP", name);
	} else {
		const char *argv[4] = { name, t->name, now, op };

		snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
		if ((p = call_ex(c, req, "tok_revoke", 4, argv, NULL)))
			snprintf(p->name, sizeof(p->name), "%s", name);
	}
	json_decref(j);
}

static void h_events(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q)
{
	static const char *const params[] = { "since_id", NULL };
	const char *last = evhttp_find_header(evhttp_request_get_input_headers(req), "Last-Event-ID");
	const char *since = evhttp_find_header(q, "since_id");
	unsigned long long ms, seq;
	char tail;
	int r;

	if (!api_query_known(c, req, q, params))
		return;
	if (since)
		last = since;
	if (last && (strlen(last) > 40 || sscanf(last, "%llu-%llu%c", &ms, &seq, &tail) != 2)) {
		api_error(c, req, 400, "Last-Event-ID / since_id: an event id (MS-SEQ)");
		return;
	}
	api_headers(req);
	r = feed_open(c, req, last);
	if (r == -EBUSY)
		api_error(c, req, 503, "too many event feed clients (%d)", CTL_FEED_MAX);
	else if (r < 0)
		api_error(c, req, 500, "out of memory");
}

static void h_metrics(struct ctl *c, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		api_error(c, req, 500, "out of memory");
		return;
	}
	cmetrics_write(c, b, (int64_t)time(NULL));
	api_headers(req);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain; version=0.0.4");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void h_static(struct evhttp_request *req, const struct www_file *f)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	api_headers(req);
	evhttp_add_header(h, "Content-Type", f->type);
	evhttp_add_header(h, "Content-Security-Policy", CSP);
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evbuffer_add_reference(b, f->data, f->len, NULL, NULL);
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void h_healthz(struct ctl *c, struct evhttp_request *req)
{
	if (c->ready)
		api_send(req, 200, "{\"ok\":true,\"redis\":true}", 24);
	else
		api_send(req, 503, "{\"ok\":false,\"redis\":false}", 26);
}

/* ---- routing -------------------------------------------------------------------------- */

static bool method_ok(struct ctl *c, struct evhttp_request *req, bool ok)
{
	if (!ok)
		api_error(c, req, 405, "method not allowed");
	return ok;
}

/* /v1/SEG1[/SEG2]: the authenticated part of the API. */
static void route_v1(struct ctl *c, struct evhttp_request *req, const char *seg1, const char *seg2,
		     struct evkeyvalq *q, const char *query)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	bool get = m == EVHTTP_REQ_GET, post = m == EVHTTP_REQ_POST, del = m == EVHTTP_REQ_DELETE;
	bool one = !seg2[0];
	static const char *const none[] = { NULL };
	enum auth_role need = !strcmp(seg1, "tokens") ? AUTH_ADMIN : (post || del) ? AUTH_SUPPORT : AUTH_VIEWER;
	const struct auth_token *t = api_auth(c, req, need);
	char uuid[BUS_UUID_LEN] = "", now[24];

	if (!t)
		return;
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	if (!one && strcmp(seg1, "tokens") != 0 && !bus_uuid_norm(seg2, uuid)) {
		api_error(c, req, 400, "\"%.40s\" is not a domain UUID", seg2);
		return;
	}
	if (!strcmp(seg1, "whoami") && one) {
		if (method_ok(c, req, get) && api_query_known(c, req, q, none))
			h_whoami(req, t);
	} else if (!strcmp(seg1, "status") && one) {
		const char *argv[3] = { now, c->cfg->consumer, CTL_VERSION };

		if (method_ok(c, req, get) && api_query_known(c, req, q, none))
			call(c, req, "status", 3, argv);
	} else if (!strcmp(seg1, "vms")) {
		const char *argv[2] = { uuid, now };

		if (!method_ok(c, req, get))
			return;
		if (one)
			h_vms(c, req, query);
		else if (api_query_known(c, req, q, none))
			call(c, req, "vm", 2, argv);
	} else if (!strcmp(seg1, "blocks")) {
		const char *argv[1] = { now };

		if (one && get) {
			if (api_query_known(c, req, q, none))
				call(c, req, "blocks", 1, argv);
		} else if (one && post) {
			h_block(c, req, q, t);
		} else if (!one && del) {
			h_remove(c, req, q, t, uuid, "unblock");
		} else {
			method_ok(c, req, false);
		}
	} else if (!strcmp(seg1, "whitelist")) {
		const char *argv[1] = { uuid };

		if (get && !api_query_known(c, req, q, none))
			return;
		if (one && get)
			call(c, req, "whitelist", 0, NULL);
		else if (one && post)
			h_wl_add(c, req, q, t);
		else if (!one && get)
			call(c, req, "wl_get", 1, argv);
		else if (!one && del)
			h_remove(c, req, q, t, uuid, "wl_revoke");
		else
			method_ok(c, req, false);
	} else if (!strcmp(seg1, "agents") && one) {
		const char *argv[1] = { now };

		if (method_ok(c, req, get) && api_query_known(c, req, q, none))
			call(c, req, "agents", 1, argv);
	} else if (!strcmp(seg1, "audit") && one) {
		if (method_ok(c, req, get))
			h_audit(c, req, q);
	} else if (!strcmp(seg1, "events") && one) {
		if (method_ok(c, req, get))
			h_events(c, req, q);
	} else if (!strcmp(seg1, "tokens")) {
		if (one && get) {
			if (api_query_known(c, req, q, none))
				h_tokens_list(c, req);
		} else if (one && post) {
			h_token_create(c, req, q, t);
		} else if (!one && del) {
			if (!auth_name_valid(seg2))
				api_error(c, req, 400, "\"%.40s\" is not a token name", seg2);
			else
				h_token_revoke(c, req, q, t, seg2);
		} else {
			method_ok(c, req, false);
		}
	} else {
		api_error(c, req, 404, "no such path: see doc/api.md");
	}
}

/* A request's connection: no Nagle (set on every request: libevent 2.1.12
 * has no callback for new connections, and the call costs a microsecond).  Replies are written as
 * headers and body; with Nagle the body's last segment waits for the
 * client's delayed ACK of the first (40 ms on Linux), for every request
 * larger than one segment. */
static void no_delay(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	int one = 1, fd = bev ? (int)bufferevent_getfd(bev) : -1;

	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void route(struct evhttp_request *req, void *arg)
{
	struct ctl *c = arg;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *uri = evhttp_request_get_uri(req);
	const char *path = evhttp_uri_get_path(u), *query = evhttp_uri_get_query(u);
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	struct evkeyvalq q;
	char seg1[32] = "", seg2[80] = "";
	const struct www_file *f;

	c->ctr.http_requests++;
	no_delay(req);
	TAILQ_INIT(&q);
	if (uri && strlen(uri) > API_URI_MAX) {
		api_error(c, req, 414, "URI longer than %d bytes", API_URI_MAX);
		return;
	}
	if (query && evhttp_parse_query_str(query, &q) < 0) {
		api_error(c, req, 400, "malformed query string");
		return;
	}
	if (!path || !*path)
		path = "/";
	if (strcmp(path, "/healthz") == 0) {
		if (method_ok(c, req, m == EVHTTP_REQ_GET))
			h_healthz(c, req);
	} else if (strcmp(path, "/metrics") == 0) {
		if (api_auth(c, req, AUTH_VIEWER) && method_ok(c, req, m == EVHTTP_REQ_GET))
			h_metrics(c, req);
	} else if ((f = www_find(path))) {
		if (method_ok(c, req, m == EVHTTP_REQ_GET))
			h_static(req, f);
	} else if (strncmp(path, "/v1/requests", 12) == 0 && (!path[12] || path[12] == '/')) {
		wlreq_route(c, req, path + 12, &q);
	} else if (strncmp(path, "/v1/", 4) == 0) {
		const char *p = path + 4, *slash = strchr(p, '/');
		size_t l1 = slash ? (size_t)(slash - p) : strlen(p);

		if (l1 == 0 || l1 >= sizeof(seg1) ||
		    (slash && (strlen(slash + 1) >= sizeof(seg2) || strchr(slash + 1, '/')))) {
			if (api_auth(c, req, AUTH_VIEWER))
				api_error(c, req, 404, "no such path: see doc/api.md");
		} else {
			memcpy(seg1, p, l1);
			if (slash && slash[1]) {
				char *dec = evhttp_uridecode(slash + 1, 0, NULL);

				snprintf(seg2, sizeof(seg2), "%s", dec ? dec : "");
				free(dec);
			}
			route_v1(c, req, seg1, seg2, &q, query);
		}
	} else {
		api_error(c, req, 404, "no such path: see doc/api.md");
	}
	evhttp_clear_headers(&q);
}

/* Listen on host:port.  A numeric address is bound directly: libevent's
 * own bind resolves with AI_ADDRCONFIG, which refuses 127.0.0.1 on a host
 * (or namespace) whose only IPv4 address is the loopback's. */
static int bind_listen(struct ctl *c, const char *host, uint16_t port)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char spec[300];
	struct evconnlistener *l;

	snprintf(spec, sizeof(spec), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
	if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &len) != 0)
		return evhttp_bind_socket(c->http, host, port);
	l = evconnlistener_new_bind(c->base, NULL, NULL, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
				    LEV_OPT_CLOSE_ON_EXEC, -1, (struct sockaddr *)&ss, len);
	if (!l)
		return -1;
	if (!evhttp_bind_listener(c->http, l)) {
		evconnlistener_free(l);
		return -1;
	}
	return 0;
}

int api_start(struct ctl *c)
{
	char host[256];
	uint16_t port;

	if (netaddr_parse(c->cfg->listen, host, sizeof(host), &port) < 0 || !host[0]) {
		log_err("config: --listen \"%s\": expected ADDRESS:PORT or [V6]:PORT", c->cfg->listen);
		return -EINVAL;
	}
	c->http = evhttp_new(c->base);
	if (!c->http)
		return -ENOMEM;
	/* larger than any limit of ours, which answer 413 in JSON (api_body) */
	evhttp_set_max_body_size(c->http, WLREQ_BODY_MAX + API_BODY_MAX);
	evhttp_set_max_headers_size(c->http, 16 * 1024);
	evhttp_set_timeout(c->http, 30);
	/* every method reaches route(), which answers 405 in JSON */
	evhttp_set_allowed_methods(c->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT |
					    EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(c->http, route, c);
	if (bind_listen(c, host, port) != 0) {
		log_err("api: cannot listen address=%s error=\"%s\"", c->cfg->listen, strerror(errno));
		evhttp_free(c->http);
		c->http = NULL;
		return -EADDRINUSE;
	}
	log_info("api: listening address=%s", c->cfg->listen);
	return 0;
}

void api_stop(struct ctl *c)
{
	feed_fini(c);
	if (c->http)
		evhttp_free(c->http);
	c->http = NULL;
}
