/* SPDX-License-Identifier: MIT */
/*
 * twctl_wl: `twctl whitelist ...` (operators' host; a client of the
 * controller's API, doc/api.md): the whitelist entries, the requests with
 * their evidence and checklist (doc/checks.md), their approval, and the
 * offline checks `lint` (the sample, with the agent's own message parser)
 * and `dns` (twctl_dns.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/http.h>
#include <jansson.h>
#include <nettle/base64.h>

#include "bus.h"
#include "checklist.h"
#include "datafile.h"
#include "lint.h"
#include "twctl.h"
#include "twctl_dns.h"

#define WL_FILE_MAX (4u << 20)

/* The whole file (owned, *len bytes; NUL-terminated for convenience);
 * exits 6 when it cannot be read, 2 when it is larger than max. */
static uint8_t *slurp(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	size_t n;

	if (!f)
		die(EX_NOFILE, "%s: %s", safe(path), strerror(errno));
	buf = malloc(max + 2);
	if (!buf)
		die(EX_UNREACHABLE, "out of memory");
	n = fread(buf, 1, max + 1, f);
	if (ferror(f))
		die(EX_NOFILE, "%s: %s", safe(path), strerror(errno));
	fclose(f);
	if (n > max)
		die(EX_USAGE, "%s: larger than %zu bytes", safe(path), max);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* Print a checklist ({"checks": [...], "result"}) as a table. */
static void print_checks(json_t *checks, const char *result)
{
	struct table t = { .ncol = 3 };
	size_t i;
	json_t *c;

	trow(&t, "CHECK", "STATUS", "REASON");
	json_array_foreach(checks, i, c)
		trow(&t, safe(jstr(c, "name")), safe(jstr(c, "status")), safe(jstr(c, "reason")));
	tprint(&t, "no checks");
	printf("result: %s\n", result ? result : "-");
}

static int exit_of(const char *result)
{
	return result && !strcmp(result, "fail") ? 1 : 0;
}

/* twctl whitelist lint FILE.eml: offline. */
static void cmd_lint(int argc, char **argv)
{
	char pathbuf[4096];
	const char *sp = datafile_path("shorteners.txt", pathbuf, sizeof(pathbuf));
	char **shorteners = NULL;
	size_t n_short = 0, len;
	struct lint_config lc = { 0 };
	struct checklist cl;
	uint8_t *msg;
	json_t *j;
	int rc;

	const char *file = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			g_json = true;
		else if (argv[i][0] == '-' || file)
			die(EX_USAGE, "usage: twctl whitelist lint FILE.eml [--json]");
		else
			file = argv[i];
	}
	if (!file)
		die(EX_USAGE, "usage: twctl whitelist lint FILE.eml [--json]");
	if (sp && datafile_hosts(sp, &shorteners, &n_short) < 0)
		die(EX_USAGE, "the shortener list %s is broken", sp);
	lc.shorteners = (const char *const *)shorteners;
	lc.n_shorteners = n_short;
	msg = slurp(file, LINT_MAX_BYTES, &len);
	checklist_init(&cl);
	if (lint_run(&lc, msg, len, NULL, &cl, NULL) < 0)
		die(EX_UNREACHABLE, "out of memory");
	j = checklist_json(&cl);
	if (!j)
		die(EX_UNREACHABLE, "out of memory");
	rc = exit_of(json_string_value(json_object_get(j, "result")));
	if (g_json)
		print_json(j);
	else {
		if (!sp)
			fprintf(stderr, "twctl: no shortener list found: shorteners are not flagged\n");
		print_checks(json_object_get(j, "checks"), json_string_value(json_object_get(j, "result")));
		json_decref(j);
	}
	checklist_fini(&cl);
	free(msg);
	for (size_t i = 0; i < n_short; i++)
		free(shorteners[i]);
	free(shorteners);
	exit(rc);
}

/* {"name", "content_base64"} of a file; the name is its base name made
 * safe (A-Z a-z 0-9 . _ -, no leading dot). */
static json_t *file_json(const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char name[101];
	size_t len, n = 0;
	uint8_t *data = slurp(path, WL_FILE_MAX, &len);
	char *b64 = malloc(BASE64_ENCODE_RAW_LENGTH(len) + 1);
	json_t *j;

	if (!b64)
		die(EX_UNREACHABLE, "out of memory");
	for (; *base && n < sizeof(name) - 1; base++)
		name[n++] = strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-", *base) ? *base : '_';
	name[n] = '\0';
	while (name[0] == '.')
		name[0] = '_';
	if (!n)
		die(EX_USAGE, "%s: no file name", safe(path));
	base64_encode_raw(b64, len, data);
	b64[BASE64_ENCODE_RAW_LENGTH(len)] = '\0';
	j = json_pack("{s:s, s:s}", "name", name, "content_base64", b64);
	free(b64);
	free(data);
	if (!j)
		die(EX_UNREACHABLE, "out of memory");
	return j;
}

static void show_request(json_t *j)
{
	json_t *ev = json_object_get(j, "evidence"), *e, *ips = json_object_get(j, "ips"), *ip;
	size_t i;

	printf("request:     %lld (%s)\n", jint(j, "id"), safe(jstr(j, "state")));
	printf("vm:          %s %s\n", safe(jstr(j, "uuid")), safe(jstr(j, "name")));
	printf("customer:    %s\nticket:      %s\n", safe(jstr(j, "customer")), safe(jstr(j, "ticket")));
	printf("requested:   %s by %s%s%s\n", when(jint(j, "created")), safe(jstr(j, "created_by")),
	       jstr(j, "operator") && *jstr(j, "operator") ? " / " : "",
	       jstr(j, "operator") && *jstr(j, "operator") ? safe(jstr(j, "operator")) : "");
	printf("consent:     %s\n", safe(jstr(j, "consent_method")));
	printf("sign-up:     %s\nunsubscribe: %s\n", safe(jstr(j, "signup_url")), safe(jstr(j, "unsubscribe_url")));
	printf("ips:        ");
	json_array_foreach(ips, i, ip)
		printf(" %s", safe(json_string_value(ip)));
	printf("\nsample:      %lld bytes, sha256 %s\n", jint(json_object_get(j, "sample"), "size"),
	       safe(jstr(json_object_get(j, "sample"), "sha256")));
	json_array_foreach(ev, i, e)
		printf("evidence:    %s, %lld bytes, sha256 %s\n", safe(jstr(e, "name")), jint(e, "size"),
		       safe(jstr(e, "sha256")));
	if (jint(j, "decided"))
		printf("decided:     %s by %s: %s\n", when(jint(j, "decided")), safe(jstr(j, "decided_by")),
		       safe(jstr(j, "decision_reason")));
	if (jint(j, "expires"))
		printf("expires:     %s\n", when(jint(j, "expires")));
	printf("\n");
	print_checks(json_object_get(j, "checks"), jstr(j, "result"));
}

static void need_id(const char *s)
{
	if (!s || !*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18 || s[0] == '0')
		die(EX_USAGE, "expected a request number (see twctl whitelist requests)");
}

static void cmd_request(int argc, char **argv)
{
	struct cmdopts o = { 0 };
	char uuid[37];
	json_t *b, *ips, *ev, *j;

	parse_cmdopts(argc, argv, &o);
	need_uuid(o.vm, uuid);
	if (!o.ticket || !o.customer || !o.consent || !o.signup || !o.unsub || !o.sample)
		die(EX_USAGE, "whitelist request: --vm, --ticket, --customer, --consent-method, --signup-url, "
			      "--unsubscribe-url and --sample are required");
	if (!o.n_ips)
		die(EX_USAGE, "whitelist request: --ip (the VM's sending addresses) is required for the DNS checks");
	ips = json_array();
	for (int i = 0; i < o.n_ips; i++)
		json_array_append_new(ips, json_string(o.ips[i]));
	ev = json_array();
	for (int i = 0; i < o.n_evidence; i++)
		json_array_append_new(ev, file_json(o.evidence[i]));
	b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:s}", "uuid", uuid, "ticket", o.ticket,
		      "customer", o.customer, "consent_method", o.consent, "signup_url", o.signup,
		      "unsubscribe_url", o.unsub, "ips", ips, "sample", file_json(o.sample), "evidence", ev,
		      "operator", g_actor);
	if (!b)
		die(EX_UNREACHABLE, "out of memory");
	if (g_timeout < 30)
		g_timeout = 30;        /* the controller runs the DNS checks before it answers */
	j = request(EVHTTP_REQ_POST, "/v1/requests", b);
	json_decref(b);
	if (g_json) {
		print_json(j);
		return;
	}
	show_request(j);
	printf("\nnext: twctl whitelist approve %lld --for 90d --reason ... (or reject)\n", jint(j, "id"));
	json_decref(j);
}

static void cmd_requests(int argc, char **argv)
{
	struct cmdopts o = { 0 };
	struct table t = { .ncol = 8 };
	char path[128];
	json_t *j, *r;
	size_t i;

	parse_cmdopts(argc, argv, &o);
	snprintf(path, sizeof(path), "/v1/requests%s%s", o.state ? "?state=" : "", o.state ? o.state : "");
	if (o.state && strspn(o.state, "abcdefghijklmnopqrstuvwxyz") != strlen(o.state))
		die(EX_USAGE, "--state: pending, approved, rejected, revoked or expired");
	j = request(EVHTTP_REQ_GET, path, NULL);
	if (g_json) {
		print_json(j);
		return;
	}
	trow(&t, "ID", "STATE", "CHECKS", "VM", "NAME", "CUSTOMER", "TICKET", "REQUESTED");
	json_array_foreach(json_object_get(j, "requests"), i, r) {
		char id[24];

		snprintf(id, sizeof(id), "%lld", jint(r, "id"));
		trow(&t, id, safe(jstr(r, "state")), safe(jstr(r, "result")), safe(jstr(r, "uuid")), safe(jstr(r, "name")),
		     safe(jstr(r, "customer")), safe(jstr(r, "ticket")), when(jint(r, "created")));
	}
	tprint(&t, "no whitelist requests");
	json_decref(j);
}

static void cmd_review(int argc, char **argv)
{
	struct cmdopts o = { 0 };
	char path[64];
	json_t *j;

	need_id(argc > 1 ? argv[1] : NULL);
	parse_cmdopts(argc - 1, argv + 1, &o);
	snprintf(path, sizeof(path), "/v1/requests/%s", argv[1]);
	j = request(EVHTTP_REQ_GET, path, NULL);
	if (g_json)
		print_json(j);
	else {
		show_request(j);
		json_decref(j);
	}
}

static void cmd_decide(int argc, char **argv, const char *action)
{
	struct cmdopts o = { 0 };
	char path[80];
	json_t *b, *j;

	need_id(argc > 1 ? argv[1] : NULL);
	parse_cmdopts(argc - 1, argv + 1, &o);
	snprintf(path, sizeof(path), "/v1/requests/%s/%s", argv[1], action);
	if (!strcmp(action, "recheck")) {
		b = json_pack("{s:s}", "operator", g_actor);
		if (g_timeout < 30)
			g_timeout = 30;
	} else {
		need_reason(o.reason);
		b = json_pack("{s:s, s:s}", "reason", o.reason, "operator", g_actor);
	}
	if (!strcmp(action, "approve")) {
		if (!o.dur == !o.expires)
			die(EX_USAGE, "whitelist approve: give --for DURATION or --expires EPOCH");
		if (o.dur)
			json_object_set_new(b, "duration_s", json_integer(parse_duration(o.dur, "--for")));
		else
			json_object_set_new(b, "expires", json_integer(strtoll(o.expires, NULL, 10)));
		if (o.scale) {
			char *end;
			double sc = strtod(o.scale, &end);

			if (*end || !(sc >= 2 && sc <= 1000))
				die(EX_USAGE, "--scale: a number from 2 to 1000");
			json_object_set_new(b, "limits", json_pack("{s:f}", "scale", sc));
		}
		if (o.force)
			json_object_set_new(b, "force", json_true());
	}
	j = request(EVHTTP_REQ_POST, path, b);
	json_decref(b);
	if (g_json) {
		print_json(j);
		return;
	}
	if (!strcmp(action, "recheck"))
		show_request(j);
	else
		printf("request %s %s: %s%s\n", argv[1], safe(jstr(j, "state")), safe(jstr(j, "uuid")),
		       json_is_true(json_object_get(j, "forced")) ? " (failed checks overridden)" : "");
	json_decref(j);
}

/* twctl whitelist evidence ID NAME [--output FILE]: the raw bytes (the
 * sample is "sample"); to a file, or to stdout when it is not a terminal. */
static void cmd_evidence(int argc, char **argv)
{
	struct cmdopts o = { 0 };
	char path[200];
	size_t len;
	char *b;
	FILE *f = stdout;

	if (argc < 3)
		die(EX_USAGE, "usage: twctl whitelist evidence ID NAME [--output FILE]");
	need_id(argv[1]);
	if (strlen(argv[2]) > 100 || strspn(argv[2], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") !=
	    strlen(argv[2]))
		die(EX_USAGE, "NAME: a file name as listed by twctl whitelist review (or \"sample\")");
	parse_cmdopts(argc - 2, argv + 2, &o);
	if (!o.output && isatty(1))
		die(EX_USAGE, "whitelist evidence: give --output FILE (or redirect stdout): the file is the customer's bytes");
	snprintf(path, sizeof(path), "/v1/requests/%s/files/%s", argv[1], argv[2]);
	b = request_bytes(path, &len);
	if (o.output && !(f = fopen(o.output, "wbx")))
		die(EX_NOFILE, "--output %s: %s", safe(o.output), strerror(errno));
	if (fwrite(b, 1, len, f) != len || (f != stdout && fclose(f) != 0))
		die(EX_NOFILE, "writing %s: %s", o.output ? safe(o.output) : "stdout", strerror(errno));
	if (o.output)
		fprintf(stderr, "twctl: wrote %zu bytes to %s\n", len, safe(o.output));
	free(b);
}

static void wl_row(struct table *t, json_t *e)
{
	json_t *lim = json_object_get(e, "limits");
	char l[32] = "exempt";

	if (json_is_object(lim))
		snprintf(l, sizeof(l), "scale %g", json_number_value(json_object_get(lim, "scale")));
	trow(t, safe(jstr(e, "uuid")), safe(jstr(e, "customer")), safe(jstr(e, "ticket")), safe(jstr(e, "approver")),
	     when(jint(e, "expires")), l);
}

static void cmd_entry(int argc, char **argv)
{
	struct cmdopts o = { 0 };
	char uuid[37], path[128];
	const char *sub = argc > 1 ? argv[1] : NULL;
	json_t *j, *body, *e;
	struct table t = { .ncol = 6 };
	size_t i;

	if (!sub)
		die(EX_USAGE, "whitelist: expected a subcommand (see twctl --help)");
	if (!strcmp(sub, "list")) {
		parse_cmdopts(argc - 1, argv + 1, &o);
		j = request(EVHTTP_REQ_GET, "/v1/whitelist", NULL);
		if (g_json) {
			print_json(j);
		} else {
			trow(&t, "UUID", "CUSTOMER", "TICKET", "APPROVER", "EXPIRES", "LIMITS");
			json_array_foreach(json_object_get(j, "entries"), i, e)
				wl_row(&t, e);
			tprint(&t, "no whitelist entries");
		}
		json_decref(j);
		return;
	}
	need_uuid(argc > 2 ? argv[2] : NULL, uuid);
	parse_cmdopts(argc - 2, argv + 2, &o);
	snprintf(path, sizeof(path), "/v1/whitelist/%s", uuid);
	if (!strcmp(sub, "show")) {
		j = request(EVHTTP_REQ_GET, path, NULL);
		if (g_json) {
			print_json(j);
		} else {
			printf("vm:        %s\ncustomer:  %s\nticket:    %s\napprover:  %s\nreason:    %s\ncreated:   %s\nexpires:   %s\n",
			       uuid, safe(jstr(j, "customer")), safe(jstr(j, "ticket")), safe(jstr(j, "approver")),
			       safe(jstr(j, "reason")), when(jint(j, "created")), when(jint(j, "expires")));
			if (json_is_object(json_object_get(j, "limits")))
				printf("limits:    thresholds x %g (not exempt)\n",
				       json_number_value(json_object_get(json_object_get(j, "limits"), "scale")));
			else
				printf("limits:    none (exempt from automatic blocks)\n");
		}
	} else if (!strcmp(sub, "add")) {
		need_reason(o.reason);
		if (!o.customer || !*o.customer || !o.ticket || !*o.ticket)
			die(EX_USAGE, "whitelist add: --customer and --ticket are required");
		if (o.dur && o.expires)
			die(EX_USAGE, "whitelist add: give --for or --expires, not both");
		body = json_pack("{s:s,s:s,s:s,s:s,s:s}", "uuid", uuid, "customer", o.customer, "ticket", o.ticket,
				 "reason", o.reason, "operator", g_actor);
		if (o.dur)
			json_object_set_new(body, "duration_s", json_integer(parse_duration(o.dur, "--for")));
		if (o.expires) {
			char *end;
			long long ex = strtoll(o.expires, &end, 10);

			if (*end || ex <= time(NULL))
				die(EX_USAGE, "--expires: a future time in seconds since the epoch");
			json_object_set_new(body, "expires", json_integer(ex));
		}
		if (o.scale) {
			char *end;
			double sc = strtod(o.scale, &end);

			if (*end || !(sc >= 2 && sc <= 1000))
				die(EX_USAGE, "--scale: a number from 2 to 1000");
			json_object_set_new(body, "limits", json_pack("{s:f}", "scale", sc));
		}
		j = request(EVHTTP_REQ_POST, "/v1/whitelist", body);
		json_decref(body);
		if (g_json)
			print_json(j);
		else
			printf("whitelisted %s (ticket %s, expires %s)%s\n", uuid, safe(jstr(j, "ticket")),
			       when(jint(j, "expires")), o.scale ? " with raised limits" : "");
	} else if (!strcmp(sub, "revoke")) {
		char dpath[1024];

		need_reason(o.reason);
		delete_path(dpath, sizeof(dpath), "/v1/whitelist/", uuid, o.reason);
		j = request(EVHTTP_REQ_DELETE, dpath, NULL);
		if (g_json)
			print_json(j);
		else
			printf("revoked the whitelisting of %s\n", uuid);
	} else {
		die(EX_USAGE, "whitelist: unknown subcommand \"%s\" (list, show, add, revoke, request, requests, review, "
		    "approve, reject, recheck, evidence, lint, dns)", safe(sub));
	}
	json_decref(j);
}

void cmd_whitelist(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "";

	if (!strcmp(sub, "lint"))
		cmd_lint(argc - 1, argv + 1);
	else if (!strcmp(sub, "dns"))
		exit(twctl_dns_main(argc - 1, argv + 1, g_json));
	else if (!strcmp(sub, "request"))
		cmd_request(argc - 1, argv + 1);
	else if (!strcmp(sub, "requests"))
		cmd_requests(argc - 1, argv + 1);
	else if (!strcmp(sub, "review"))
		cmd_review(argc - 1, argv + 1);
	else if (!strcmp(sub, "approve") || !strcmp(sub, "reject") || !strcmp(sub, "recheck"))
		cmd_decide(argc - 1, argv + 1, sub);
	else if (!strcmp(sub, "evidence"))
		cmd_evidence(argc - 1, argv + 1);
	else
		cmd_entry(argc, argv);
}
