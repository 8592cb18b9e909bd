/* SPDX-License-Identifier: MIT */
/*
 * api: the controller's HTTP API, version 1 (controller process; libevent
 * evhttp, jansson).  doc/api.md is the contract.  Every request is
 * validated here (sizes, UUIDs, durations, reasons, actors) before it
 * becomes the arguments of one tw.lua call; the script's answer is JSON
 * made inside Redis, passed through as it is, except API replies that
 * start with {"status":N, whose status becomes the HTTP status.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "ctl.h"
#include "log.h"
#include "netaddr.h"

#define API_BODY_MAX (64 * 1024)
#define API_REASON_MAX 500
#define API_ACTOR_MAX 64
#define API_DURATION_MIN 60
#define API_DURATION_MAX (365u * 86400u)

struct pending {
	struct ctl *c;
	struct evhttp_request *req;
	bool dead;                    /* the client went away */
	int ok_status;                /* for replies without {"status" */
};

static void send_json(struct evhttp_request *req, int code, const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	if (!b) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evbuffer_add(b, body, len);
	evbuffer_add(b, "\n", 1);
	evhttp_send_reply(req, code, code < 300 ? "OK" : "Error", b);
	evbuffer_free(b);
}

static void send_error(struct ctl *c, struct evhttp_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void send_error(struct ctl *c, struct evhttp_request *req, int code, const char *fmt, ...)
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
	send_json(req, code, s ? s : "{\"error\":\"out of memory\"}", s ? strlen(s) : 25);
	free(s);
	json_decref(j);
}

static void on_close(struct evhttp_connection *evcon, void *arg)
{
	struct pending *p = arg;

	p->dead = true;
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
		send_error(c, p->req, 503, "redis connection lost");
	} else if (rep->type == REDIS_REPLY_ERROR) {
		log_err("api: script error: %s", rep->str);
		send_error(c, p->req, 500, "internal error (see the controller's log)");
	} else if (rep->type != REDIS_REPLY_STRING) {
		send_error(c, p->req, 500, "internal error: unexpected reply");
	} else if (strncmp(rep->str, "{\"status\":", 10) == 0) {
		int code = atoi(rep->str + 10);
		const char *body = strstr(rep->str, ",\"body\":");

		if (body && code < 300) {
			size_t off = (size_t)(body + 8 - rep->str);

			send_json(p->req, code, body + 8, rep->len - off - 1);   /* without the final } */
		} else {
			c->ctr.http_errors++;
			/* {"status":N,"error":"..."} -> {"error":"..."} */
			const char *e = strstr(rep->str, "\"error\":");
			char *out = malloc(rep->len + 2);

			if (!out || !e) {
				free(out);
				send_error(c, p->req, code >= 400 ? code : 500, "error");
			} else {
				int n = snprintf(out, rep->len + 2, "{%s", e);

				send_json(p->req, code >= 400 && code < 600 ? code : 500, out, (size_t)n);
				free(out);
			}
		}
	} else {
		send_json(p->req, p->ok_status, rep->str, rep->len);
	}
	free(p);
}

static void call(struct ctl *c, struct evhttp_request *req, const char *fn, int argc, const char **argv,
		 const size_t *lens)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p) {
		send_error(c, req, 500, "out of memory");
		return;
	}
	p->c = c;
	p->req = req;
	p->ok_status = 200;
	if (ctl_script(c, fn, argc, argv, lens, on_reply, p) < 0) {
		free(p);
		send_error(c, req, 503, "redis is not connected");
		return;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_close, p);
}

/* ---- validation ---------------------------------------------------------------- */

/* Canonical UUID (any case) into out (lower case); false otherwise. */
static bool uuid_norm(const char *s, char out[BUS_UUID_LEN])
{
	if (!s || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[36] = '\0';
	return true;
}

/* Printable text of 1..max bytes (UTF-8 allowed, no control bytes). */
static bool text_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* The request's JSON object body, or NULL with the error sent.  A DELETE
 * without a body takes reason and actor from the query string (libevent's
 * HTTP client, and some proxies, send no body with DELETE). */
static json_t *body_json(struct ctl *c, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	json_error_t je;
	json_t *j;

	if (n == 0 && evhttp_request_get_command(req) == EVHTTP_REQ_DELETE) {
		const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
		struct evkeyvalq q;
		const char *v;

		TAILQ_INIT(&q);
		j = json_object();
		if (query && evhttp_parse_query_str(query, &q) == 0) {
			if ((v = evhttp_find_header(&q, "reason")))
				json_object_set_new(j, "reason", json_string(v));
			if ((v = evhttp_find_header(&q, "actor")))
				json_object_set_new(j, "actor", json_string(v));
		}
		evhttp_clear_headers(&q);
		return j;
	}

	if (n > API_BODY_MAX) {
		send_error(c, req, 413, "body larger than %d bytes", API_BODY_MAX);
		return NULL;
	}
	j = json_loadb((const char *)evbuffer_pullup(in, -1), n, JSON_REJECT_DUPLICATES, &je);
	if (!j || !json_is_object(j)) {
		send_error(c, req, 400, "body: expected a JSON object%s%s", j ? "" : ": ", j ? "" : je.text);
		json_decref(j);
		return NULL;
	}
	return j;
}

static const char *jstr(json_t *j, const char *k)
{
	json_t *v = json_object_get(j, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* reason and actor of a change; false with the error sent. */
static bool who_why(struct ctl *c, struct evhttp_request *req, json_t *j, const char **reason,
		    const char **actor)
{
	*reason = jstr(j, "reason");
	*actor = jstr(j, "actor");
	if (!text_ok(*reason, API_REASON_MAX)) {
		send_error(c, req, 400, "reason: required, 1-%d characters without control characters",
			   API_REASON_MAX);
		return false;
	}
	if (!text_ok(*actor, API_ACTOR_MAX)) {
		send_error(c, req, 400, "actor: required, 1-%d characters without control characters",
			   API_ACTOR_MAX);
		return false;
	}
	return true;
}

/* ---- handlers ------------------------------------------------------------------------- */

static void h_block(struct ctl *c, struct evhttp_request *req)
{
	json_t *j = body_json(c, req), *d;
	const char *reason, *actor;
	char uuid[BUS_UUID_LEN], dur[24], now[24];

	if (!j)
		return;
	d = json_object_get(j, "duration_s");
	if (!uuid_norm(jstr(j, "uuid"), uuid)) {
		send_error(c, req, 400, "uuid: required, a domain UUID (8-4-4-4-12 hex digits)");
	} else if (!json_is_integer(d) || json_integer_value(d) < API_DURATION_MIN ||
		   json_integer_value(d) > API_DURATION_MAX) {
		send_error(c, req, 400, "duration_s: required, an integer from %d to %u", API_DURATION_MIN,
			   API_DURATION_MAX);
	} else if (who_why(c, req, j, &reason, &actor)) {
		const char *argv[5] = { uuid, dur, reason, actor, now };

		snprintf(dur, sizeof(dur), "%" JSON_INTEGER_FORMAT, json_integer_value(d));
		snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
		call(c, req, "block", 5, argv, NULL);
	}
	json_decref(j);
}

/* DELETE of a block or a whitelist entry: tw.lua's fn (unblock, wl_revoke)
 * with the reason and actor. */
static void h_remove(struct ctl *c, struct evhttp_request *req, const char *uuid, const char *fn)
{
	json_t *j = body_json(c, req);
	const char *reason, *actor;
	char now[24];

	if (!j)
		return;
	if (who_why(c, req, j, &reason, &actor)) {
		const char *argv[4] = { uuid, reason, actor, now };

		snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
		call(c, req, fn, 4, argv, NULL);
	}
	json_decref(j);
}

static void h_wl_add(struct ctl *c, struct evhttp_request *req)
{
	json_t *j = body_json(c, req), *rec = NULL, *lim, *exp, *dur;
	const char *reason, *actor, *customer, *ticket;
	char uuid[BUS_UUID_LEN], now[24];
	json_int_t expires = 0;
	time_t t = time(NULL);
	char *s = NULL;

	if (!j)
		return;
	customer = jstr(j, "customer");
	ticket = jstr(j, "ticket");
	lim = json_object_get(j, "limits");
	exp = json_object_get(j, "expires");
	dur = json_object_get(j, "duration_s");
	if (!uuid_norm(jstr(j, "uuid"), uuid)) {
		send_error(c, req, 400, "uuid: required, a domain UUID (8-4-4-4-12 hex digits)");
		goto out;
	}
	if (!text_ok(customer, 128) || !text_ok(ticket, 64)) {
		send_error(c, req, 400, "customer (1-128 characters) and ticket (1-64) are required");
		goto out;
	}
	if (!who_why(c, req, j, &reason, &actor))
		goto out;
	if (exp && dur) {
		send_error(c, req, 400, "give expires or duration_s, not both");
		goto out;
	}
	if (exp) {
		if (!json_is_integer(exp) || json_integer_value(exp) < 0 ||
		    (json_integer_value(exp) != 0 && json_integer_value(exp) <= t)) {
			send_error(c, req, 400, "expires: 0 (never) or a future time in seconds since the epoch");
			goto out;
		}
		expires = json_integer_value(exp);
	} else if (dur) {
		if (!json_is_integer(dur) || json_integer_value(dur) < API_DURATION_MIN ||
		    json_integer_value(dur) > 10 * (json_int_t)API_DURATION_MAX) {
			send_error(c, req, 400, "duration_s: an integer from %d to %u", API_DURATION_MIN,
				   10 * API_DURATION_MAX);
			goto out;
		}
		expires = (json_int_t)t + json_integer_value(dur);
	}
	if (lim && !json_is_null(lim)) {
		json_t *sc = json_object_get(lim, "scale");

		if (!json_is_object(lim) || json_object_size(lim) != 1 || !json_is_number(sc) ||
		    json_number_value(sc) < 2 || json_number_value(sc) > 1000) {
			send_error(c, req, 400, "limits: null (full exemption) or {\"scale\": N}, N from 2 to 1000");
			goto out;
		}
		lim = json_pack("{s:f}", "scale", json_number_value(sc));
	} else {
		lim = json_null();
	}
	rec = json_pack("{s:s,s:s,s:s,s:s,s:I,s:o}", "uuid", uuid, "customer", customer, "ticket", ticket,
			"reason", reason, "expires", (json_int_t)expires, "limits", lim);
	s = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	if (!s) {
		send_error(c, req, 500, "out of memory");
		goto out;
	}
	{
		const char *argv[3] = { s, actor, now };

		snprintf(now, sizeof(now), "%lld", (long long)t);
		call(c, req, "wl_add", 3, argv, NULL);
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
	if (errno || *end || !*v || v[0] == '-' || *out < lo || *out > hi) {
		send_error(c, req, 400, "%s: an integer from %" PRIu64 " to %" PRIu64, k, lo, hi);
		return false;
	}
	return true;
}

static void h_audit(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q)
{
	const char *vm = evhttp_find_header(q, "vm"), *actor = evhttp_find_header(q, "actor");
	uint64_t since = 0, till = 0, limit = 100;
	char uuid[BUS_UUID_LEN] = "", a1[24], a2[24], a3[24];

	if (vm && !uuid_norm(vm, uuid)) {
		send_error(c, req, 400, "vm: a domain UUID");
		return;
	}
	if (actor && !text_ok(actor, API_ACTOR_MAX)) {
		send_error(c, req, 400, "actor: 1-%d characters", API_ACTOR_MAX);
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
		const char *argv[5] = { uuid, actor ? actor : "", a1, a2, a3 };

		call(c, req, "audit", 5, argv, NULL);
	}
}

static void h_healthz(struct ctl *c, struct evhttp_request *req)
{
	if (c->ready)
		send_json(req, 200, "{\"ok\":true,\"redis\":true}", 24);
	else
		send_json(req, 503, "{\"ok\":false,\"redis\":false}", 26);
}

/* Route method + path; path segments after /v1/ are at most two. */
static void route(struct evhttp_request *req, void *arg)
{
	struct ctl *c = arg;
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = evhttp_uri_get_path(u), *query = evhttp_uri_get_query(u);
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	struct evkeyvalq q;
	char seg1[32] = "", seg2[64] = "", now[24], uuid[BUS_UUID_LEN];
	bool get = m == EVHTTP_REQ_GET, post = m == EVHTTP_REQ_POST, del = m == EVHTTP_REQ_DELETE;
	int nseg = 0;

	c->ctr.http_requests++;
	TAILQ_INIT(&q);
	if (query && evhttp_parse_query_str(query, &q) < 0) {
		send_error(c, req, 400, "malformed query string");
		return;
	}
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	if (!path)
		path = "/";
	if (strcmp(path, "/healthz") == 0) {
		if (get)
			h_healthz(c, req);
		else
			send_error(c, req, 405, "method not allowed");
		goto out;
	}
	if (strncmp(path, "/v1/", 4) != 0 || strlen(path) > 100) {
		send_error(c, req, 404, "no such path: see doc/api.md");
		goto out;
	}
	{
		const char *p = path + 4, *slash = strchr(p, '/');
		size_t l1 = slash ? (size_t)(slash - p) : strlen(p);

		if (l1 == 0 || l1 >= sizeof(seg1) || (slash && (strlen(slash + 1) >= sizeof(seg2) ||
							       strchr(slash + 1, '/')))) {
			send_error(c, req, 404, "no such path: see doc/api.md");
			goto out;
		}
		memcpy(seg1, p, l1);
		nseg = 1;
		if (slash && slash[1]) {
			snprintf(seg2, sizeof(seg2), "%s", slash + 1);
			nseg = 2;
		}
	}
	if (nseg == 2 && !uuid_norm(seg2, uuid)) {
		send_error(c, req, 400, "\"%.40s\" is not a domain UUID", seg2);
		goto out;
	}
	if (!strcmp(seg1, "status") && nseg == 1) {
		const char *argv[3] = { now, c->cfg->consumer, CTL_VERSION };

		if (get)
			call(c, req, "status", 3, argv, NULL);
		else
			send_error(c, req, 405, "method not allowed");
	} else if (!strcmp(seg1, "vms") && nseg == 2) {
		const char *argv[2] = { uuid, now };

		if (get)
			call(c, req, "vm", 2, argv, NULL);
		else
			send_error(c, req, 405, "method not allowed");
	} else if (!strcmp(seg1, "blocks")) {
		const char *argv[1] = { now };

		if (nseg == 1 && get)
			call(c, req, "blocks", 1, argv, NULL);
		else if (nseg == 1 && post)
			h_block(c, req);
		else if (nseg == 2 && del)
			h_remove(c, req, uuid, "unblock");
		else
			send_error(c, req, 405, "method not allowed");
	} else if (!strcmp(seg1, "whitelist")) {
		const char *argv[1] = { uuid };

		if (nseg == 1 && get)
			call(c, req, "whitelist", 0, NULL, NULL);
		else if (nseg == 1 && post)
			h_wl_add(c, req);
		else if (nseg == 2 && get)
			call(c, req, "wl_get", 1, argv, NULL);
		else if (nseg == 2 && del)
			h_remove(c, req, uuid, "wl_revoke");
		else
			send_error(c, req, 405, "method not allowed");
	} else if (!strcmp(seg1, "agents") && nseg == 1) {
		const char *argv[1] = { now };

		if (get)
			call(c, req, "agents", 1, argv, NULL);
		else
			send_error(c, req, 405, "method not allowed");
	} else if (!strcmp(seg1, "audit") && nseg == 1) {
		if (get)
			h_audit(c, req, &q);
		else
			send_error(c, req, 405, "method not allowed");
	} else {
		send_error(c, req, 404, "no such path: see doc/api.md");
	}
out:
	evhttp_clear_headers(&q);
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
	evhttp_set_max_body_size(c->http, API_BODY_MAX);
	evhttp_set_max_headers_size(c->http, 16 * 1024);
	evhttp_set_timeout(c->http, 30);
	evhttp_set_allowed_methods(c->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(c->http, route, c);
	if (evhttp_bind_socket(c->http, host, port) != 0) {
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
	if (c->http)
		evhttp_free(c->http);
	c->http = NULL;
}
