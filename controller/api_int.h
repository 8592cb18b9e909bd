/* SPDX-License-Identifier: MIT */
/*
 * api_int: what api.c shares with the other request handlers of the HTTP
 * API (wlreq.c).  Every function that answers sends exactly one reply.
 */
#ifndef TAPWARDEN_API_INT_H
#define TAPWARDEN_API_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "auth.h"
#include "ctl.h"

struct evhttp_request;
struct evkeyvalq;

#define API_BODY_MAX (64 * 1024)
#define API_REASON_MAX 500
#define API_OPERATOR_MAX 64
#define API_FILE_NAME_MAX 128         /* api_download's attachment name, with its NUL */

/* Headers every reply carries (no caching, nosniff, CSP). */
void api_headers(struct evhttp_request *req);
/* A JSON reply (body borrowed). */
void api_send(struct evhttp_request *req, int code, const char *body, size_t len);
/* {"error": "..."} with code. */
void api_error(struct ctl *c, struct evhttp_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The caller's token when its role is at least need; NULL with 401/403 sent. */
const struct auth_token *api_auth(struct ctl *c, struct evhttp_request *req, enum auth_role need);
/* 1..max bytes without control characters. */
bool api_text_ok(const char *s, size_t max);
/* Every query parameter is in allowed (NULL-terminated); false with 400 sent. */
bool api_query_known(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q, const char *const *allowed);
/* The JSON object body (owned) with only the allowed fields, at most
 * API_BODY_MAX (api_body) or max bytes; NULL with the error sent. */
json_t *api_body(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q, const char *const *allowed);
json_t *api_body_max(struct ctl *c, struct evhttp_request *req, struct evkeyvalq *q,
		     const char *const *allowed, size_t max);
/* The optional operator ("" when absent) / the required reason and the
 * operator of a change; false with 400 sent. */
bool api_operator(struct ctl *c, struct evhttp_request *req, json_t *j, const char **op);
bool api_why(struct ctl *c, struct evhttp_request *req, json_t *j, const char **reason, const char **op);
/* A whitelisting's limits (borrowed; NULL when absent): a JSON null for
 * a full exemption, or {"scale": N} with N from 2 to 1000.  Returns a new
 * reference, or NULL with 400 (500: out of memory) sent. */
json_t *api_limits(struct ctl *c, struct evhttp_request *req, const json_t *lim);
/* Run tw.lua's fn and pass its {"status":N,...} reply to the client
 * (args binary-safe with lens, or NUL-terminated with lens NULL; all
 * borrowed for the call). */
void api_call(struct ctl *c, struct evhttp_request *req, const char *fn, int argc, const char **argv,
	      const size_t *lens);
/* Run tw.lua's fn, whose reply is a file's bytes or nil, and send them as
 * a download named name (application/octet-stream, attachment), or 404
 * for nil. */
void api_download(struct ctl *c, struct evhttp_request *req, const char *fn, int argc, const char **argv,
		  const char *name);

/* Whitelist requests (wlreq.c): /v1/requests and below; rest is the path
 * after "/v1/requests" ("" or "/..."). */
void wlreq_route(struct ctl *c, struct evhttp_request *req, const char *rest, struct evkeyvalq *q);
/* Requests body limit: the sample and evidence, base64 in JSON. */
#define WLREQ_BODY_MAX (24u << 20)

#endif
