/* SPDX-License-Identifier: MIT */
/*
 * wlreq: whitelist requests in the HTTP API (controller process).
 *
 *   POST /v1/requests                 a request with its evidence (support)
 *   GET  /v1/requests[?state=S]       the list (viewer)
 *   GET  /v1/requests/ID              one request with its checklist (viewer)
 *   GET  /v1/requests/ID/files/NAME   the sample or an evidence file (support)
 *   POST /v1/requests/ID/approve      whitelist the VM (support)
 *   POST /v1/requests/ID/reject       (support)
 *   POST /v1/requests/ID/recheck      run the checks again (support)
 *
 * A new request is checked before it is stored: the lint (lint.c) on the
 * sample and the request's fields, then the DNS checks (dnscheck.c) on the
 * loop; the request, its checklist and its files then go to Redis in one
 * tw.lua call.  A client that goes away while the checks run loses the
 * request (it got no 201), nothing half-stored stays behind.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <nettle/base64.h>

#include "api_int.h"
#include "bus.h"
#include "checklist.h"
#include "dnscheck.h"
#include "lint.h"
#include "log.h"

#define WLREQ_FILE_MAX (4u << 20)       /* one evidence file, decoded */
#define WLREQ_FILES_MAX 8               /* evidence files per request */
#define WLREQ_IPS_MAX 16
#define WLREQ_NAME_MAX 100
#define WLREQ_URL_MAX 2000
#define WLREQ_TEXT_MAX 4000

_Static_assert(4 + 2 * (WLREQ_FILES_MAX + 1) <= CTL_SCRIPT_ARGS, "wlreq_create's arguments fit one tw.lua call");
_Static_assert(WLREQ_IPS_MAX <= DNSCHECK_IPS_MAX && CTL_MAX_DNSBLS <= DNSCHECK_DNSBLS_MAX,
	       "every address and blocklist a request may have reaches dnscheck_start");

struct wlreq_file {
	char name[WLREQ_NAME_MAX + 1];
	uint8_t *data;                  /* owned */
	size_t len;
};

/* A request between its arrival and its reply. */
struct wlreq_job {
	struct ctl *c;
	struct evhttp_request *req;
	bool dead;                      /* the client went away */
	char actor[AUTH_NAME_MAX + 1], op[API_OPERATOR_MAX + 1];
	char id[24];                    /* recheck: the request id; "" for a new request */
	json_t *rec;                    /* owned: the record being built */
	struct checklist cl;
	struct wlreq_file files[WLREQ_FILES_MAX + 1];   /* [0] is the sample */
	size_t n_files;
	struct dnscheck *dns;
};

static void job_free(struct wlreq_job *j)
{
	if (!j)
		return;
	json_decref(j->rec);
	checklist_fini(&j->cl);
	for (size_t i = 0; i < j->n_files; i++)
		free(j->files[i].data);
	free(j);
}

static void job_closed(struct evhttp_connection *evcon, void *arg)
{
	struct wlreq_job *j = arg;

	j->dead = true;
	if (j->dns) {
		dnscheck_cancel(j->dns);
		j->dns = NULL;
		job_free(j);
	}
}

static const char *jstr(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A file name kept as given when it is safe on any file system and in a
 * URL path: 1-100 of A-Z a-z 0-9 . _ -, not starting with a dot. */
static bool name_ok(const char *s)
{
	return bus_name_valid(s, WLREQ_NAME_MAX) && s[0] != '.';
}

/* {"name": N, "content_base64": B} into f; false with a reason in err. */
static bool file_of(const json_t *o, struct wlreq_file *f, size_t max, char *err, size_t cap)
{
	const char *name = jstr(o, "name"), *b64 = jstr(o, "content_base64");
	struct base64_decode_ctx ctx;
	size_t n, out;

	if (!json_is_object(o) || json_object_size(o) != 2 || !b64) {
		snprintf(err, cap, "expected {\"name\", \"content_base64\"}");
		return false;
	}
	if (!name_ok(name)) {
		snprintf(err, cap, "name: 1-%d of A-Z a-z 0-9 . _ - (not starting with a dot)", WLREQ_NAME_MAX);
		return false;
	}
	n = strlen(b64);
	if (BASE64_DECODE_LENGTH(n) > max + 3) {
		snprintf(err, cap, "%s: larger than %zu bytes", name, max);
		return false;
	}
	f->data = malloc(BASE64_DECODE_LENGTH(n) + 1);
	if (!f->data) {
		snprintf(err, cap, "out of memory");
		return false;
	}
	base64_decode_init(&ctx);
	out = BASE64_DECODE_LENGTH(n);
	if (!base64_decode_update(&ctx, &out, f->data, n, b64) || !base64_decode_final(&ctx)) {
		snprintf(err, cap, "%s: content_base64 is not base64", name);
		free(f->data);
		f->data = NULL;
		return false;
	}
	if (out > max) {
		snprintf(err, cap, "%s: larger than %zu bytes", name, max);
		free(f->data);
		f->data = NULL;
		return false;
	}
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->len = out;
	return true;
}

static json_t *file_meta(const struct wlreq_file *f)
{
	uint8_t d[32];
	char hex[65];

	auth_hash((const char *)f->data, f->len, d);      /* SHA-256, as for tokens */
	auth_hex(d, hex);
	return json_pack("{s:s, s:I, s:s}", "name", f->name, "size", (json_int_t)f->len, "sha256", hex);
}

/* ---- storing ---------------------------------------------------------------------------- */

/* Answer the client with an error and drop the job. */
static void job_fail(struct wlreq_job *j, int code, const char *msg)
{
	evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), NULL, NULL);
	api_error(j->c, j->req, code, "%s", msg);
	job_free(j);
}

/* The checks are complete: store them (a new request: in its record, with
 * its files; a recheck: alone) and let tw.lua's reply answer the client. */
static void job_store(struct wlreq_job *j)
{
	json_t *cj = checklist_json(&j->cl);
	time_t t = time(NULL);
	char now[24], *s = NULL;

	evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), NULL, NULL);
	snprintf(now, sizeof(now), "%lld", (long long)t);
	if (cj && !j->id[0]) {
		json_object_set(j->rec, "checks", json_object_get(cj, "checks"));
		json_object_set(j->rec, "result", json_object_get(cj, "result"));
		json_object_set_new(j->rec, "checked", json_integer((json_int_t)t));
	}
	s = cj ? json_dumps(j->id[0] ? json_object_get(cj, "checks") : j->rec, JSON_COMPACT) : NULL;
	if (!s) {
		api_error(j->c, j->req, 500, "out of memory");
	} else if (j->id[0]) {
		const char *argv[6] = { j->id, s, json_string_value(json_object_get(cj, "result")), j->actor, now, j->op };

		api_call(j->c, j->req, "wlreq_checks", 6, argv, NULL);
	} else {
		const char *argv[4 + 2 * (WLREQ_FILES_MAX + 1)] = { s, j->actor, now, j->op };
		size_t lens[4 + 2 * (WLREQ_FILES_MAX + 1)] = { strlen(s), strlen(j->actor), strlen(now), strlen(j->op) };
		int argc = 4;

		for (size_t i = 0; i < j->n_files; i++) {
			argv[argc] = i ? j->files[i].name : "sample"; lens[argc] = strlen(argv[argc]); argc++;
			argv[argc] = (const char *)j->files[i].data; lens[argc++] = j->files[i].len;
		}
		api_call(j->c, j->req, "wlreq_create", argc, argv, lens);
	}
	free(s);
	json_decref(cj);
	job_free(j);
}

static void job_dns_done(struct checklist *result, void *arg)
{
	struct wlreq_job *j = arg;

	j->dns = NULL;
	if (j->dead) {
		job_free(j);
		return;
	}
	checklist_take(&j->cl, result);
	job_store(j);
}

/* Run the lint on the sample msg (borrowed: only the lint reads it) and
 * the record's fields, then the DNS checks; the job continues in
 * job_store. */
static void job_check(struct wlreq_job *j, const uint8_t *msg, size_t len)
{
	struct lint_config lc = { .shorteners = j->c->cfg->shorteners, .n_shorteners = j->c->cfg->n_shorteners,
				  .max_bytes = WLREQ_FILE_MAX };
	struct lint_request lr = { .unsubscribe_url = jstr(j->rec, "unsubscribe_url"),
				   .signup_url = jstr(j->rec, "signup_url"),
				   .consent_method = jstr(j->rec, "consent_method") };
	struct lint_result res;
	const char *ips[WLREQ_IPS_MAX];
	size_t n_ips = 0, i;
	json_t *v;

	if (lint_run(&lc, msg, len, &lr, &j->cl, &res) < 0)
		checklist_add(&j->cl, "lint", CHECK_WARN, "out of memory: some checks did not run");
	json_array_foreach(json_object_get(j->rec, "ips"), i, v)
		if (n_ips < WLREQ_IPS_MAX)
			ips[n_ips++] = json_string_value(v);
	struct dnscheck_config dc = {
		.resolver = j->c->cfg->resolver, .timeout_s = j->c->cfg->dns_timeout_s, .attempts = 2,
		.deadline_s = 5 * j->c->cfg->dns_timeout_s, .dnsbls = j->c->cfg->dnsbls,
		.n_dnsbls = j->c->cfg->n_dnsbls,
	};
	struct dnscheck_input in = {
		.ips = ips, .n_ips = n_ips, .from_domain = res.from_domain[0] ? res.from_domain : NULL,
		.dkim_domain = res.dkim_domain[0] ? res.dkim_domain : NULL,
		.dkim_selector = res.dkim_selector[0] ? res.dkim_selector : NULL,
	};

	json_object_set_new(j->rec, "from_domain", json_string(res.from_domain));
	j->dns = dnscheck_start(j->c->base, &dc, &in, job_dns_done, j);
	if (!j->dns) {
		checklist_add(&j->cl, "dns", CHECK_WARN, "the DNS checks could not start: %s", strerror(errno));
		job_store(j);
		return;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), job_closed, j);
}

static struct wlreq_job *job_new(struct ctl *c, struct evhttp_request *req, const struct auth_token *t,
				 const char *op)
{
	struct wlreq_job *j = calloc(1, sizeof(*j));

	if (!j) {
		api_error(c, req, 500, "out of memory");
		return NULL;
	}
	j->c = c;
	j->req = req;
	snprintf(j->actor, sizeof(j->actor), "%s", t->name);
	snprintf(j->op, sizeof(j->op), "%s", op);
	checklist_init(&j->cl);
	return j;
}

/* ---- handlers -------------------------------------------------------------------------------- */

static bool url_ok(const char *s)
{
	return api_text_ok(s, WLREQ_URL_MAX) && !strchr(s, ' ');
}

static void h_create(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q, const struct auth_token *t)
{
	static const char *const fields[] = { "uuid", "ticket", "customer", "consent_method", "signup_url",
					      "unsubscribe_url", "ips", "sample", "evidence", "operator", NULL };
	json_t *b = api_body_max(c, req, q, fields, WLREQ_BODY_MAX), *ips, *ev, *v;
	const char *op, *consent;
	char uuid[BUS_UUID_LEN], err[200];
	struct wlreq_job *j = NULL;
	size_t i;

	if (!b)
		return;
	ips = json_object_get(b, "ips");
	ev = json_object_get(b, "evidence");
	consent = jstr(b, "consent_method");
	if (!bus_uuid_norm(jstr(b, "uuid"), uuid)) {
		api_error(c, req, 400, "uuid: required, a domain UUID (8-4-4-4-12 hex digits)");
		goto out;
	}
	if (!api_text_ok(jstr(b, "ticket"), 64) || !api_text_ok(jstr(b, "customer"), 128)) {
		api_error(c, req, 400, "ticket (1-64 characters) and customer (1-128) are required");
		goto out;
	}
	if (consent && strlen(consent) > WLREQ_TEXT_MAX) {
		api_error(c, req, 400, "consent_method: at most %d bytes", WLREQ_TEXT_MAX);
		goto out;
	}
	if ((json_object_get(b, "signup_url") && !url_ok(jstr(b, "signup_url"))) ||
	    (json_object_get(b, "unsubscribe_url") && !url_ok(jstr(b, "unsubscribe_url")))) {
		api_error(c, req, 400, "signup_url, unsubscribe_url: a URL of at most %d bytes", WLREQ_URL_MAX);
		goto out;
	}
	if (!json_is_array(ips) || json_array_size(ips) < 1 || json_array_size(ips) > WLREQ_IPS_MAX) {
		api_error(c, req, 400, "ips: required, the VM's sending addresses (1-%d)", WLREQ_IPS_MAX);
		goto out;
	}
	json_array_foreach(ips, i, v) {
		char tmp[sizeof(struct in6_addr)];
		const char *s = json_string_value(v);

		if (!s || (evutil_inet_pton(AF_INET, s, tmp) != 1 && evutil_inet_pton(AF_INET6, s, tmp) != 1)) {
			api_error(c, req, 400, "ips[%zu]: not an IPv4 or IPv6 address", i);
			goto out;
		}
	}
	if (ev && (!json_is_array(ev) || json_array_size(ev) > WLREQ_FILES_MAX)) {
		api_error(c, req, 400, "evidence: a list of at most %d files", WLREQ_FILES_MAX);
		goto out;
	}
	if (!api_operator(c, req, b, &op))
		goto out;
	if (!(j = job_new(c, req, t, op)))
		goto out;
	if (!file_of(json_object_get(b, "sample"), &j->files[0], WLREQ_FILE_MAX, err, sizeof(err))) {
		api_error(c, req, 400, "sample: %s", err);
		goto out;
	}
	j->n_files = 1;
	json_array_foreach(ev, i, v) {
		if (!file_of(v, &j->files[j->n_files], WLREQ_FILE_MAX, err, sizeof(err))) {
			api_error(c, req, 400, "evidence[%zu]: %s", i, err);
			goto out;
		}
		for (size_t k = 1; k < j->n_files; k++)
			if (!strcmp(j->files[k].name, j->files[j->n_files].name)) {
				api_error(c, req, 400, "evidence[%zu]: a second file named %s", i, j->files[k].name);
				j->n_files++;
				goto out;
			}
		if (!strcmp(j->files[j->n_files].name, "sample")) {
			api_error(c, req, 400, "evidence[%zu]: the name \"sample\" is the sample's", i);
			j->n_files++;
			goto out;
		}
		j->n_files++;
	}
	{
		json_t *meta = json_array();

		j->rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:o}", "uuid", uuid, "ticket", jstr(b, "ticket"),
				   "customer", jstr(b, "customer"), "consent_method", consent ? consent : "",
				   "signup_url", jstr(b, "signup_url") ? jstr(b, "signup_url") : "",
				   "unsubscribe_url", jstr(b, "unsubscribe_url") ? jstr(b, "unsubscribe_url") : "",
				   "ips", ips, "sample", file_meta(&j->files[0]));
		for (i = 1; meta && i < j->n_files; i++)
			json_array_append_new(meta, file_meta(&j->files[i]));
		if (!j->rec || !meta || json_object_set_new(j->rec, "evidence", meta)) {
			api_error(c, req, 500, "out of memory");
			goto out;
		}
	}
	job_check(j, j->files[0].data, j->files[0].len);
	j = NULL;
out:
	job_free(j);
	json_decref(b);
}

static void h_file(struct ctl *c, struct evhttp_request *req, const char *id, const char *name)
{
	const char *argv[2] = { id, name };
	char download[WLREQ_NAME_MAX + 5];

	if (!name_ok(name)) {
		api_error(c, req, 404, "no such file in this request");
		return;
	}
	snprintf(download, sizeof(download), "%s%s", name, strcmp(name, "sample") ? "" : ".eml");
	api_download(c, req, "wlreq_file", 2, argv, download);
}

static void h_decide(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q, const struct auth_token *t,
		     const char *id, bool approve)
{
	static const char *const fa[] = { "reason", "operator", "duration_s", "expires", "limits", "force", NULL };
	static const char *const fr[] = { "reason", "operator", NULL };
	json_t *b = api_body(c, req, q, approve ? fa : fr), *d = NULL, *lim;
	const char *reason, *op;
	time_t now = time(NULL);
	char *s = NULL, nows[24];

	if (!b)
		return;
	if (!api_why(c, req, b, &reason, &op))
		goto out;
	d = json_pack("{s:s, s:s}", "action", approve ? "approve" : "reject", "reason", reason);
	if (approve) {
		json_t *exp = json_object_get(b, "expires"), *dur = json_object_get(b, "duration_s");
		json_t *force = json_object_get(b, "force");
		json_int_t e;

		if (!exp == !dur) {
			api_error(c, req, 400, "give duration_s or expires (a whitelisting always ends)");
			goto out;
		}
		e = dur ? (json_is_integer(dur) ? (json_int_t)now + json_integer_value(dur) : 0) :
			  (json_is_integer(exp) ? json_integer_value(exp) : 0);
		if (e <= now + 59 || e > (json_int_t)now + 3 * 365 * 86400) {
			api_error(c, req, 400, "%s: the whitelisting must end between 1 minute and 3 years from now",
				  dur ? "duration_s" : "expires");
			goto out;
		}
		json_object_set_new(d, "expires", json_integer(e));
		if (!(lim = api_limits(c, req, json_object_get(b, "limits"))))
			goto out;
		json_object_set_new(d, "limits", lim);
		if (force && !json_is_boolean(force)) {
			api_error(c, req, 400, "force: true or false");
			goto out;
		}
		json_object_set_new(d, "force", json_boolean(json_is_true(force)));
	}
	s = json_dumps(d, JSON_COMPACT);
	if (!s) {
		api_error(c, req, 500, "out of memory");
		goto out;
	}
	{
		const char *argv[5] = { id, s, t->name, nows, op };

		snprintf(nows, sizeof(nows), "%lld", (long long)now);
		api_call(c, req, "wlreq_decide", 5, argv, NULL);
	}
out:
	free(s);
	json_decref(d);
	json_decref(b);
}

/* Recheck: read the record (on_recheck_rec), then the sample
 * (on_recheck_sample), then check as for a new request.  The job's close
 * callback (job_closed) marks it dead meanwhile. */
static void on_recheck_sample(redisAsyncContext *ac, void *reply, void *priv)
{
	struct wlreq_job *j = priv;
	const redisReply *rep = reply;

	if (j->dead)
		job_free(j);
	else if (!rep)
		job_fail(j, 503, "redis connection lost");
	else if (rep->type != REDIS_REPLY_STRING)
		job_fail(j, 404, "no such request, or its sample is gone");
	else
		job_check(j, (const uint8_t *)rep->str, rep->len);   /* the lint is done before hiredis frees rep */
}

static void on_recheck_rec(redisAsyncContext *ac, void *reply, void *priv)
{
	struct wlreq_job *j = priv;
	const redisReply *rep = reply;
	const char *argv[2] = { j->id, "sample" };
	json_t *o, *rec;
	char msg[80];

	if (j->dead) {
		job_free(j);
		return;
	}
	if (!rep || rep->type != REDIS_REPLY_STRING) {
		job_fail(j, rep ? 404 : 503, rep ? "no such request, or its sample is gone" : "redis connection lost");
		return;
	}
	/* {"status":200,"body":{...}} or an error */
	o = json_loadb(rep->str, rep->len, 0, NULL);
	rec = json_object_get(o, "body");
	if (!json_is_object(rec) || json_integer_value(json_object_get(o, "status")) != 200) {
		snprintf(msg, sizeof(msg), "no whitelist request %s", j->id);
		job_fail(j, 404, msg);
	} else if (strcmp(jstr(rec, "state") ? jstr(rec, "state") : "-", "pending")) {
		snprintf(msg, sizeof(msg), "request %s is %.16s, not pending", j->id,
			 jstr(rec, "state") ? jstr(rec, "state") : "-");
		job_fail(j, 409, msg);
	} else {
		j->rec = json_incref(rec);
		if (ctl_script(j->c, "wlreq_file", 2, argv, NULL, on_recheck_sample, j) < 0)
			job_fail(j, 503, "redis is not connected");
	}
	json_decref(o);
}

static void h_recheck(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q, const struct auth_token *t,
		      const char *id)
{
	static const char *const fields[] = { "operator", NULL };
	const char *argv[1] = { id }, *op = "";
	struct wlreq_job *j;
	json_t *b = NULL;

	/* the body is optional; without one, the query must be empty as for any POST */
	if (evbuffer_get_length(evhttp_request_get_input_buffer(req))) {
		if (!(b = api_body(c, req, q, fields)))
			return;
		if (!api_operator(c, req, b, &op))
			goto out;
	} else if (!api_query_known(c, req, q, (const char *const[]){ NULL })) {
		return;
	}
	if (!(j = job_new(c, req, t, op)))
		goto out;
	snprintf(j->id, sizeof(j->id), "%s", id);
	if (ctl_script(c, "wlreq_get", 1, argv, NULL, on_recheck_rec, j) < 0) {
		api_error(c, req, 503, "redis is not connected");
		job_free(j);
		goto out;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), job_closed, j);
out:
	json_decref(b);
}

static bool id_ok(const char *s, size_t n)
{
	return n >= 1 && n <= 18 && strspn(s, "0123456789") == n && s[0] != '0';
}

void wlreq_route(struct ctl *c, struct evhttp_request *req, const char *rest, struct evkeyvalq *q)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	bool get = m == EVHTTP_REQ_GET, post = m == EVHTTP_REQ_POST;
	const struct auth_token *t;
	char id[24] = "", action[16] = "", name[WLREQ_NAME_MAX + 2] = "";
	const char *p = rest, *s;
	size_t n;

	if (!(t = api_auth(c, req, AUTH_VIEWER)))
		return;
	if (*p == '/')
		p++;
	if (*p) {
		n = strcspn(p, "/");
		if (!id_ok(p, n)) {
			api_error(c, req, 404, "no such path: request ids are numbers (see doc/api.md)");
			return;
		}
		memcpy(id, p, n);
		p += n;
		if (*p == '/') {
			p++;
			n = strcspn(p, "/");
			if (n >= sizeof(action)) {
				api_error(c, req, 404, "no such path: see doc/api.md");
				return;
			}
			memcpy(action, p, n);
			p += n;
			if (*p == '/') {
				s = p + 1;
				if (strcmp(action, "files") || strlen(s) > WLREQ_NAME_MAX || strchr(s, '/')) {
					api_error(c, req, 404, "no such path: see doc/api.md");
					return;
				}
				snprintf(name, sizeof(name), "%s", s);
				p = "";
			} else if (!*action) {
				api_error(c, req, 404, "no such path: see doc/api.md");
				return;
			}
		}
	}
	if (!*id) {
		static const char *const lq[] = { "state", "limit", NULL };
		static const char *const states[] = { "pending", "approved", "rejected", "revoked", "expired", NULL };

		if (post) {
			if ((t = api_auth(c, req, AUTH_SUPPORT)))
				h_create(c, req, q, t);
		} else if (get) {
			const char *st = evhttp_find_header(q, "state"), *lim = evhttp_find_header(q, "limit");
			char *end = NULL;
			long l = lim ? strtol(lim, &end, 10) : 100;
			bool st_ok = !st;

			if (!api_query_known(c, req, q, lq))
				return;
			for (size_t i = 0; st && states[i]; i++)
				st_ok |= !strcmp(st, states[i]);
			if (!st_ok) {
				api_error(c, req, 400, "state: pending, approved, rejected, revoked or expired");
			} else if ((lim && (*end || l < 1 || l > 1000))) {
				api_error(c, req, 400, "limit: 1 to 1000");
			} else {
				char ls[16];
				const char *argv[2] = { st ? st : "", ls };

				snprintf(ls, sizeof(ls), "%ld", l);
				api_call(c, req, "wlreq_list", 2, argv, NULL);
			}
		} else {
			api_error(c, req, 405, "method not allowed here");
		}
	} else if (!*action) {
		if (get && api_query_known(c, req, q, (const char *const[]){ NULL })) {
			const char *argv[1] = { id };

			api_call(c, req, "wlreq_get", 1, argv, NULL);
		} else if (!get) {
			api_error(c, req, 405, "method not allowed here");
		}
	} else if (!strcmp(action, "files") && *name) {
		if (!get)
			api_error(c, req, 405, "method not allowed here");
		else if (api_query_known(c, req, q, (const char *const[]){ NULL }) && (t = api_auth(c, req, AUTH_SUPPORT)))
			h_file(c, req, id, name);
	} else if (!strcmp(action, "approve") || !strcmp(action, "reject") || !strcmp(action, "recheck")) {
		if (!post)
			api_error(c, req, 405, "method not allowed here");
		else if ((t = api_auth(c, req, AUTH_SUPPORT)) && action[2] == 'c')
			h_recheck(c, req, q, t, id);
		else if (t)
			h_decide(c, req, q, t, id, action[0] == 'a');
	} else {
		api_error(c, req, 404, "no such path: see doc/api.md");
	}
}
