/* SPDX-License-Identifier: MIT */
/*
 * twctl: what the command files of twctl share (twctl.c: the HTTP client,
 * output and argument helpers; twctl_wl.c: the whitelist commands;
 * twctl_dns.c: the offline DNS checks).
 */
#ifndef TAPWARDEN_TWCTL_H
#define TAPWARDEN_TWCTL_H

#include <stdbool.h>

#include <event2/http.h>
#include <jansson.h>

#define EX_REFUSED 1
#define EX_USAGE 2
#define EX_UNREACHABLE 3
#define EX_NOTFOUND 4
#define EX_AUTH 5
#define EX_NOFILE 6

#define TWCTL_EVIDENCE_MAX 8
#define TWCTL_IPS_MAX 16

extern bool g_json;
extern const char *g_actor;
extern int g_timeout;          /* seconds per request */

/* A table: rows of cells, printed with aligned columns. */
#define TMAX_COLS 8
struct table {
	int ncol;
	char *(*cell)[TMAX_COLS];
	int nrow, cap;
};

/* Options after the command words. */
struct cmdopts {
	const char *dur, *reason, *customer, *ticket, *expires, *scale, *vm, *actor, *since, *until, *limit;
	const char *action, *state, *sort, *hypervisor, *search, *name, *role;
	const char *consent, *signup, *unsub, *sample, *output;
	const char *evidence[TWCTL_EVIDENCE_MAX], *ips[TWCTL_IPS_MAX];
	int n_evidence, n_ips;
	bool force;
};

void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* s with terminal-driving bytes shown as \xNN, in one of 8 rotating
 * static buffers (at most 8 calls per printf). */
const char *safe(const char *str);
const char *jstr(json_t *j, const char *k);
long long jint(json_t *j, const char *k);
const char *when(long long t);
void trow(struct table *t, ...);
void tprint(struct table *t, const char *empty);
/* One request; returns the parsed JSON reply (owned).  Exits on transport
 * errors (3) and on error statuses (1, 4 for 404, 5 for 401/403). */
json_t *request(enum evhttp_cmd_type method, const char *path, json_t *body);
/* GET path: the answer's bytes (owned, *len of them); exits as request(). */
char *request_bytes(const char *path, size_t *len);
/* Print and release j. */
void print_json(json_t *j);
void need_uuid(const char *s, char out[37]);
long long parse_duration(const char *s, const char *opt);
void need_reason(const char *r);
void parse_cmdopts(int argc, char **argv, struct cmdopts *o);
void delete_path(char *out, size_t cap, const char *base, const char *uuid, const char *reason);

/* twctl_wl.c: `twctl whitelist ...`; argv[0] is "whitelist". */
void cmd_whitelist(int argc, char **argv);

#endif
