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
#include <nettle/sha2.h>

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
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > WLREQ_NAME_MAX || s[0] == '.')
		return false;
	return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
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
	uint8_t d[SHA256_DIGEST_SIZE];
	char hex[2 * SHA256_DIGEST_SIZE + 1];
	struct sha256_ctx h;

	sha256_init(&h);
	sha256_update(&h, f->len, f->data);
	sha256_digest(&h, sizeof(d), d);
	for (size_t i = 0; i < sizeof(d); i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	return json_pack("{s:s, s:I, s:s}", "name", f->name, "size", (json_int_t)f->len, "sha256", hex);
}

/* ---- storing ---------------------------------------------------------------------------- */

/* The checks are complete: put them in the record, then store it (a new
 * request: with its files) and answer the client. */
static void job_store(struct wlreq_job *j)
{
	json_t *cj = checklist_json(&j->cl);
	const char *argv[6 + 2 * (WLREQ_FILES_MAX + 1)];
	size_t lens[6 + 2 * (WLREQ_FILES_MAX + 1)];
	char now[24], *s = NULL;
	int argc = 0;

	evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), NULL, NULL);
	if (!cj) {
		api_error(j->c, j->req, 500, "out of memory");
		goto out;
	}
	json_object_set(j->rec, "checks", json_object_get(cj, "checks"));
	json_object_set(j->rec, "result", json_object_get(cj, "result"));
	json_object_set_new(j->rec, "checked", json_integer((json_int_t)time(NULL)));
	snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
	if (j->id[0]) {
		s = json_dumps(json_object_get(cj, "checks"), JSON_COMPACT);
		if (!s) {
			api_error(j->c, j->req, 500, "out of memory");
			goto out;
		}
		argv[argc++] = j->id;
		argv[argc++] = s;
		argv[argc++] = json_string_value(json_object_get(cj, "result"));
		argv[argc++] = j->actor;
		argv[argc++] = now;
		argv[argc++] = j->op;
		api_call(j->c, j->req, "wlreq_checks", argc, argv, NULL);
		goto out;
	}
	s = json_dumps(j->rec, JSON_COMPACT);
	if (!s) {
		api_error(j->c, j->req, 500, "out of memory");
		goto out;
	}
	argv[argc] = s; lens[argc++] = strlen(s);
	argv[argc] = j->actor; lens[argc++] = strlen(j->actor);
	argv[argc] = now; lens[argc++] = strlen(now);
	argv[argc] = j->op; lens[argc++] = strlen(j->op);
	for (size_t i = 0; i < j->n_files; i++) {
		argv[argc] = i ? j->files[i].name : "sample"; lens[argc] = strlen(argv[argc]); argc++;
		argv[argc] = (const char *)j->files[i].data; lens[argc++] = j->files[i].len;
	}
	api_call(j->c, j->req, "wlreq_create", argc, argv, lens);
out:
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

/* Run the lint on the sample (files[0]) and the record's fields, then the
 * DNS checks; the job continues in job_store. */
static void job_check(struct wlreq_job *j)
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

	if (lint_run(&lc, j->files[0].data, j->files[0].len, &lr, &j->cl, &res) < 0)
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
	job_check(j);
	j = NULL;
out:
	job_free(j);
	json_decref(b);
}

/* The reply to wlreq_file: the bytes, as a download. */
struct file_get {
	struct ctl *c;
	struct evhttp_request *req;
	bool dead;
	char name[WLREQ_NAME_MAX + 16];
};

static void file_closed(struct evhttp_connection *evcon, void *arg)
{
	((struct file_get *)arg)->dead = true;
}

static void on_file(redisAsyncContext *ac, void *reply, void *priv)
{
	struct file_get *g = priv;
	const redisReply *r = reply;

	if (g->dead) {
		free(g);
		return;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(g->req), NULL, NULL);
	if (!r) {
		api_error(g->c, g->req, 503, "redis connection lost");
	} else if (r->type != REDIS_REPLY_STRING) {
		api_error(g->c, g->req, 404, "no such file in this request");
	} else {
		struct evkeyvalq *h = evhttp_request_get_output_headers(g->req);
		struct evbuffer *out = evbuffer_new();
		char disp[200];

		/* evidence is the customer's bytes: never rendered by the browser */
		api_headers(g->req);
		evhttp_add_header(h, "Content-Type", "application/octet-stream");
		snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", g->name);
		evhttp_add_header(h, "Content-Disposition", disp);
		if (out) {
			evbuffer_add(out, r->str, r->len);
			evhttp_send_reply(g->req, 200, "OK", out);
			evbuffer_free(out);
		} else {
			api_error(g->c, g->req, 500, "out of memory");
		}
	}
	free(g);
}

static void h_file(struct ctl *c, struct evhttp_request *req, const char *id, const char *name)
{
	struct file_get *g;
	const char *argv[2] = { id, name };

	if (!name_ok(name)) {
		api_error(c, req, 404, "no such file in this request");
		return;
	}
	g = calloc(1, sizeof(*g));
	if (!g) {
		api_error(c, req, 500, "out of memory");
		return;
	}
	g->c = c;
	g->req = req;
	snprintf(g->name, sizeof(g->name), "%s%s", name, strcmp(name, "sample") ? "" : ".eml");
	if (ctl_script(c, "wlreq_file", 2, argv, NULL, on_file, g) < 0) {
		free(g);
		api_error(c, req, 503, "redis is not connected");
		return;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), file_closed, g);
}

static void h_decide(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q, const struct auth_token *t,
		     const char *id, bool approve)
{
	static const char *const fa[] = { "reason", "operator", "duration_s", "expires", "limits", "force", NULL };
	static const char *const fr[] = { "reason", "operator", NULL };
	json_t *b = api_body(c, req, q, approve ? fa : fr), *d = NULL;
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
		json_t *lim = json_object_get(b, "limits"), *force = json_object_get(b, "force");
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
		if (lim && !json_is_null(lim)) {
			json_t *sc = json_object_get(lim, "scale");

			if (!json_is_object(lim) || json_object_size(lim) != 1 || !json_is_number(sc) ||
			    json_number_value(sc) < 2 || json_number_value(sc) > 1000) {
				api_error(c, req, 400, "limits: null (full exemption) or {\"scale\": N}, N from 2 to 1000");
				goto out;
			}
			json_object_set_new(d, "limits", json_pack("{s:f}", "scale", json_number_value(sc)));
		} else {
			json_object_set_new(d, "limits", json_null());
		}
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

/* Recheck: read the record and the sample, then check as for a new one. */
struct recheck {
	struct wlreq_job *j;
	int step;                       /* 0: the record, 1: the sample */
};

static void on_recheck(redisAsyncContext *ac, void *reply, void *priv)
{
	struct recheck *r = priv;
	struct wlreq_job *j = r->j;
	const redisReply *rep = reply;

	if (j->dead) {
		job_free(j);
		free(r);
		return;
	}
	if (!rep || rep->type != REDIS_REPLY_STRING) {
		evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), NULL, NULL);
		api_error(j->c, j->req, rep ? 404 : 503, rep ? "no such request, or its sample is gone" : "redis connection lost");
		job_free(j);
		free(r);
		return;
	}
	if (r->step == 0) {
		/* {"status":200,"body":{...}} or an error */
		json_t *o = json_loadb(rep->str, rep->len, 0, NULL), *rec = json_object_get(o, "body");
		const char *argv[2] = { j->id, "sample" };

		if (!json_is_object(rec) || json_integer_value(json_object_get(o, "status")) != 200) {
			evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), NULL, NULL);
			api_error(j->c, j->req, 404, "no whitelist request %s", j->id);
			json_decref(o);
			job_free(j);
			free(r);
			return;
		}
		if (strcmp(jstr(rec, "state") ? jstr(rec, "state") : "", "pending")) {
			evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), NULL, NULL);
			api_error(j->c, j->req, 409, "request %s is %s, not pending", j->id, jstr(rec, "state"));
			json_decref(o);
			job_free(j);
			free(r);
			return;
		}
		j->rec = json_incref(rec);
		json_decref(o);
		r->step = 1;
		if (ctl_script(j->c, "wlreq_file", 2, argv, NULL, on_recheck, r) == 0)
			return;
		evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), NULL, NULL);
		api_error(j->c, j->req, 503, "redis is not connected");
		job_free(j);
		free(r);
		return;
	}
	free(r);
	j->files[0].data = malloc(rep->len ? rep->len : 1);
	if (!j->files[0].data) {
		evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), NULL, NULL);
		api_error(j->c, j->req, 500, "out of memory");
		job_free(j);
		return;
	}
	memcpy(j->files[0].data, rep->str, rep->len);
	j->files[0].len = rep->len;
	j->n_files = 1;
	evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), NULL, NULL);
	job_check(j);
}

static void recheck_closed(struct evhttp_connection *evcon, void *arg)
{
	((struct wlreq_job *)arg)->dead = true;
}

static void h_recheck(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q, const struct auth_token *t,
		      const char *id)
{
	static const char *const fields[] = { "operator", NULL };
	json_t *b = evbuffer_get_length(evhttp_request_get_input_buffer(req)) ? api_body(c, req, q, fields) : json_object();
	const char *op;
	struct wlreq_job *j;
	struct recheck *r;
	const char *argv[1] = { id };

	if (!b)
		return;
	if (!api_operator(c, req, b, &op) || !(j = job_new(c, req, t, op))) {
		json_decref(b);
		return;
	}
	json_decref(b);
	snprintf(j->id, sizeof(j->id), "%s", id);
	r = calloc(1, sizeof(*r));
	if (!r) {
		api_error(c, req, 500, "out of memory");
		job_free(j);
		return;
	}
	r->j = j;
	if (ctl_script(c, "wlreq_get", 1, argv, NULL, on_recheck, r) < 0) {
		api_error(c, req, 503, "redis is not connected");
		job_free(j);
		free(r);
		return;
	}
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), recheck_closed, j);
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
