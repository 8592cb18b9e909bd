/* SPDX-License-Identifier: MIT */
/*
 * twctl: the operators' command line for tapwarden (runs on an operator's
 * host; a client of the controller's HTTP API, doc/api.md, and nothing
 * else).  Arguments are checked before any request; changes carry the
 * actor and a reason; output is a human table, or the API's JSON with
 * --json.  Strings from the server may hold guest-controlled text (EHLO
 * names, subjects in evidence): control bytes are printed as \xNN so they
 * cannot drive the terminal.
 *
 * Exit codes: 0 ok, 1 the controller refused, 2 usage, 3 controller
 * unreachable, 4 no such VM or entry.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "auth.h"
#include "bus.h"
#include "rconn.h"
#include "twctl.h"

#ifndef TW_VERSION
#define TW_VERSION "0.0.0-unknown"   /* the Makefile passes VERSION */
#endif
#define TWCTL_VERSION TW_VERSION

static const char *g_url = "http://127.0.0.1:8425";
const char *g_actor;      /* the operator: recorded next to the token's name */
static char g_token[600];
bool g_json;
int g_timeout = 10;
static char g_host[256], g_base[256];
static int g_port;

void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
void die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("twctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: twctl [--controller URL] [--token-file F] [--json] [--operator NAME] [--timeout S] COMMAND ...\n"
"\n"
"  status                                  installation summary\n"
"  vms [--state S] [--sort K] [--hypervisor H] [--search TEXT] [--limit N]\n"
"                                          the VM list (S: any ok alert blocked whitelisted;\n"
"                                          K: messages_1h rejected_1h last_seen name ...)\n"
"  vm show UUID                            state, block, evidence, history\n"
"  blocks list                             active blocks\n"
"  block UUID --for DURATION --reason TEXT manual block (also of a whitelisted VM)\n"
"  unblock UUID --reason TEXT              lift a block now\n"
"  whitelist list\n"
"  whitelist show UUID\n"
"  whitelist add UUID --customer C --ticket T --reason R [--for DURATION | --expires EPOCH] [--scale N]\n"
"  whitelist revoke UUID --reason R\n"
"  whitelist request --vm UUID --ticket T --customer C --consent-method TEXT --signup-url URL\n"
"            --unsubscribe-url URL --sample FILE.eml --ip IP [--ip IP ...] [--evidence FILE ...]\n"
"                                          a request with its evidence; prints the checklist\n"
"  whitelist requests [--state pending|approved|rejected|revoked|expired]\n"
"  whitelist review ID                     one request: evidence and checklist\n"
"  whitelist approve ID --for DURATION --reason R [--scale N] [--force]   (support)\n"
"  whitelist reject ID --reason R | whitelist recheck ID                  (support)\n"
"  whitelist evidence ID NAME [--output FILE]  a request's file (NAME \"sample\": the sample)\n"
"  whitelist lint FILE.eml                 the message checks, offline (exit 1: a check failed)\n"
"  whitelist dns --ip IP --domain D [--dkim-selector S] [--resolver ADDR] [--dnsbl ZONE ...]\n"
"                                          the DNS checks, offline (exit 1: a check failed)\n"
"  agents                                  heartbeat, version, pending commands\n"
"  audit [--vm UUID] [--actor NAME] [--action A] [--since WHEN] [--until WHEN] [--limit N]\n"
"  token generate --name N --role R        a new token and its tokens-file entry (offline)\n"
"  token list | token create --name N --role R | token revoke NAME   (admin)\n"
"\n"
"DURATION: 90s, 30m, 1h, 2d, 1w or seconds.  WHEN: epoch seconds, or a\n"
"duration meaning that long ago.  --controller defaults to $TWCTL_CONTROLLER\n"
"or http://127.0.0.1:8425 (http only: reach a remote controller through an\n"
"ssh or stunnel tunnel).  The API token is read from --token-file, else\n"
"$TWCTL_TOKEN_FILE, else $TWCTL_TOKEN; the audit log records the token's\n"
"name, and --operator (default $TWCTL_OPERATOR, $SUDO_USER, $USER) next to it.\n"
"Exit: 0 ok, 1 refused by the controller, 2 usage, 3 unreachable, 4 not found,\n"
"5 not authorized (no or unknown token, or the role may not do this),\n"
"6 a file could not be read.  The checks are described in doc/checks.md.\n");
}

/* ---- text out ------------------------------------------------------------------ */

/* Bytes a terminal may act on: C0 controls, DEL, and the UTF-8 of C1
 * controls (U+0080..U+009F), zero-width and direction marks (U+200B..U+200F),
 * bidi embeddings and overrides (U+202A..U+202E) and isolates
 * (U+2066..U+2069).  Returns the length of such a sequence at s, or 0. */
static size_t dangerous(const unsigned char *s)
{
	if (s[0] < 0x20 || s[0] == 0x7f)
		return 1;
	if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
		return 2;
	if (s[0] == 0xe2 && s[1] == 0x80 && ((s[2] >= 0x8b && s[2] <= 0x8f) || (s[2] >= 0xaa && s[2] <= 0xae)))
		return 3;
	if (s[0] == 0xe2 && s[1] == 0x81 && s[2] >= 0xa6 && s[2] <= 0xa9)
		return 3;
	return 0;
}

/* Length of the valid UTF-8 sequence at s, or 0 (s[0] >= 0x80). */
static size_t utf8_len(const unsigned char *s)
{
	size_t n = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;

	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* s as the terminal may print it, in one of a few rotating buffers:
 * dangerous sequences and invalid UTF-8 as \xNN, a backslash doubled (so a
 * literal "\x41" from a guest cannot pass for an escape). */
const char *safe(const char *str)
{
	static char bufs[8][1024];
	static int k;
	char *o = bufs[k = (k + 1) % 8];
	const unsigned char *s = (const unsigned char *)str;
	size_t n = 0;

	if (!s)
		return "-";
	while (*s && n + 13 < sizeof(bufs[0])) {
		size_t d = dangerous(s), u = *s >= 0x80 ? utf8_len(s) : 1;

		if (d || !u) {
			for (size_t i = 0; i < (d ? d : 1); i++)
				n += (size_t)snprintf(o + n, 5, "\\x%02x", s[i]);
			s += d ? d : 1;
		} else if (*s == '\\') {
			o[n++] = '\\';
			o[n++] = '\\';
			s++;
		} else {
			memcpy(o + n, s, u);
			n += u;
			s += u;
		}
	}
	o[n] = '\0';
	return n ? o : "-";
}

const char *jstr(json_t *j, const char *k)
{
	json_t *v = json_object_get(j, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

long long jint(json_t *j, const char *k)
{
	json_t *v = json_object_get(j, k);

	return json_is_integer(v) ? (long long)json_integer_value(v) : json_is_real(v) ? (long long)json_real_value(v) : 0;
}

const char *when(long long t)
{
	static char bufs[4][32];
	static int k;
	time_t tt = (time_t)t;
	struct tm tm;
	char *o = bufs[k = (k + 1) % 4];

	if (t <= 0)
		return "never";
	gmtime_r(&tt, &tm);
	strftime(o, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return o;
}

static const char *span(long long s)
{
	static char bufs[4][32];
	static int k;
	char *o = bufs[k = (k + 1) % 4];

	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(o, 32, "%lldd %lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(o, 32, "%lldh %lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(o, 32, "%lldm %llds", s / 60, s % 60);
	else
		snprintf(o, 32, "%llds", s);
	return o;
}

void trow(struct table *t, ...)
{
	va_list ap;

	if (t->nrow == t->cap) {
		int nc = t->cap ? t->cap * 2 : 64;
		char *(*c)[TMAX_COLS] = realloc(t->cell, (size_t)nc * sizeof(*c));

		if (!c)
			die(EX_UNREACHABLE, "out of memory");
		t->cell = c;
		t->cap = nc;
	}
	va_start(ap, t);
	for (int i = 0; i < t->ncol; i++) {
		const char *s = va_arg(ap, const char *);

		t->cell[t->nrow][i] = strdup(s ? s : "-");
		if (!t->cell[t->nrow][i])
			die(EX_UNREACHABLE, "out of memory");
	}
	va_end(ap);
	t->nrow++;
}

void tprint(struct table *t, const char *empty)
{
	size_t w[TMAX_COLS] = { 0 };

	if (t->nrow <= 1) {
		printf("%s\n", empty);
		goto out;
	}
	for (int r = 0; r < t->nrow; r++)
		for (int c = 0; c < t->ncol; c++)
			if (strlen(t->cell[r][c]) > w[c])
				w[c] = strlen(t->cell[r][c]);
	for (int r = 0; r < t->nrow; r++) {
		for (int c = 0; c < t->ncol; c++)
			if (c + 1 < t->ncol)
				printf("%-*s  ", (int)w[c], t->cell[r][c]);
			else
				printf("%s", t->cell[r][c]);
		putchar('\n');
	}
out:
	for (int r = 0; r < t->nrow; r++)
		for (int c = 0; c < t->ncol; c++)
			free(t->cell[r][c]);
	free(t->cell);
}

/* ---- HTTP -------------------------------------------------------------------------- */

struct reply {
	int code;            /* 0: no answer */
	char *body;
	size_t len;
	const char *err;
	struct event_base *base;
};

static void on_done(struct evhttp_request *req, void *arg)
{
	struct reply *r = arg;

	if (!req || evhttp_request_get_response_code(req) == 0) {
		r->err = "no answer (connection refused or timed out)";
	} else {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);

		r->code = evhttp_request_get_response_code(req);
		r->body = malloc(n + 1);
		r->len = n;
		if (r->body) {
			evbuffer_remove(in, r->body, n);
			r->body[n] = '\0';
		}
	}
	event_base_loopexit(r->base, NULL);
}

static void parse_url(void)
{
	const char *p;
	const char *slash;
	char hostport[300];
	char *colon;

	if (strncmp(g_url, "https://", 8) == 0)
		die(EX_USAGE, "--controller %s: https is not supported; reach the controller through a local TLS tunnel (stunnel, ssh -L) and give its http:// address",
		    g_url);
	if (strncmp(g_url, "http://", 7) != 0)
		die(EX_USAGE, "--controller %s: expected http://HOST:PORT[/BASE]", g_url);
	p = g_url + 7;
	slash = strchr(p, '/');
	snprintf(hostport, sizeof(hostport), "%.*s", (int)(slash ? (size_t)(slash - p) : strlen(p)), p);
	snprintf(g_base, sizeof(g_base), "%s", slash ? slash : "");
	if (g_base[0] && g_base[strlen(g_base) - 1] == '/')
		g_base[strlen(g_base) - 1] = '\0';
	colon = strrchr(hostport, ':');
	g_port = 80;
	if (colon && !strchr(colon, ']')) {
		g_port = atoi(colon + 1);
		*colon = '\0';
	}
	if (hostport[0] == '[' && hostport[strlen(hostport) - 1] == ']') {
		hostport[strlen(hostport) - 1] = '\0';
		memmove(hostport, hostport + 1, strlen(hostport));
	}
	if (!hostport[0] || g_port <= 0 || g_port > 65535)
		die(EX_USAGE, "--controller %s: expected http://HOST:PORT[/BASE]", g_url);
	snprintf(g_host, sizeof(g_host), "%s", hostport);
}

/* One request (body: JSON text or NULL); returns the answer with a code,
 * or exits 3 when there is none. */
static struct reply transport(enum evhttp_cmd_type method, const char *path, const char *body)
{
	struct reply r = { 0 };
	struct evhttp_connection *conn;
	struct evhttp_request *req;
	char uri[1200];

	r.base = event_base_new();
	conn = r.base ? evhttp_connection_base_new(r.base, NULL, g_host, (unsigned short)g_port) : NULL;
	req = conn ? evhttp_request_new(on_done, &r) : NULL;
	if (!req)
		die(EX_UNREACHABLE, "out of memory");
	evhttp_connection_set_timeout(conn, g_timeout);
	snprintf(uri, sizeof(uri), "%s%s", g_base, path);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", g_host);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Accept", "application/json");
	if (g_token[0]) {
		char auth[sizeof(g_token) + 8];

		snprintf(auth, sizeof(auth), "Bearer %s", g_token);
		evhttp_add_header(evhttp_request_get_output_headers(req), "Authorization", auth);
		explicit_bzero(auth, sizeof(auth));
	}
	if (body) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
		evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
	}
	if (evhttp_make_request(conn, req, method, uri) != 0)
		die(EX_UNREACHABLE, "cannot send the request to %s", g_url);
	event_base_dispatch(r.base);
	evhttp_connection_free(conn);
	event_base_free(r.base);
	if (!r.code)
		die(EX_UNREACHABLE, "cannot reach the controller at %s: %s", g_url, r.err ? r.err : "no answer");
	return r;
}

/* An error status: print the controller's message and exit. */
static void refused(struct reply *r)
{
	json_error_t je;
	json_t *j = r->body ? json_loads(r->body, JSON_ALLOW_NUL, &je) : NULL;
	const char *msg = j ? jstr(j, "error") : NULL;

	fprintf(stderr, "twctl: %s (HTTP %d)\n", safe(msg ? msg : r->body), r->code);
	free(r->body);
	if (r->code == 401 && !g_token[0])
		fprintf(stderr, "twctl: give a token: --token-file FILE or $TWCTL_TOKEN_FILE\n");
	exit(r->code == 404 ? EX_NOTFOUND : r->code == 401 || r->code == 403 ? EX_AUTH : EX_REFUSED);
}

json_t *request(enum evhttp_cmd_type method, const char *path, json_t *body)
{
	char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct reply r;
	json_error_t je;
	json_t *j;

	if (body && !s)
		die(EX_UNREACHABLE, "out of memory");
	r = transport(method, path, s);
	free(s);
	if (r.code >= 300)
		refused(&r);
	/* a NUL inside a string (guest text) must not make the answer unreadable */
	j = r.body ? json_loads(r.body, JSON_ALLOW_NUL, &je) : NULL;
	if (!j)
		die(EX_REFUSED, "the controller's answer is not JSON (HTTP %d)", r.code);
	free(r.body);
	return j;
}

char *request_bytes(const char *path, size_t *len)
{
	struct reply r = transport(EVHTTP_REQ_GET, path, NULL);

	if (r.code >= 300)
		refused(&r);
	if (!r.body)
		die(EX_UNREACHABLE, "out of memory");
	*len = r.len;
	return r.body;
}

void print_json(json_t *j)
{
	/* ASCII only: every non-ASCII character (guest text) as \\uXXXX */
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);

	if (s)
		puts(s);
	free(s);
}

/* ---- argument checks ------------------------------------------------------------------ */

void need_uuid(const char *s, char out[37])
{
	if (!s)
		die(EX_USAGE, "missing UUID (see twctl --help)");
	if (!bus_uuid_norm(s, out))
		die(EX_USAGE, "\"%s\" is not a domain UUID (8-4-4-4-12 hex digits)", safe(s));
}

long long parse_duration(const char *s, const char *opt)
{
	char *end;
	long long v;

	errno = 0;
	v = s ? strtoll(s, &end, 10) : -1;
	if (!s || errno || end == s || v <= 0)
		die(EX_USAGE, "%s: expected a duration like 90s, 30m, 1h, 2d, 1w", opt);
	switch (*end) {
	case '\0': case 's': break;
	case 'm': v *= 60; break;
	case 'h': v *= 3600; break;
	case 'd': v *= 86400; break;
	case 'w': v *= 7 * 86400; break;
	default: die(EX_USAGE, "%s: \"%s\": unknown unit (s, m, h, d, w)", opt, safe(s));
	}
	if (*end && end[1])
		die(EX_USAGE, "%s: \"%s\": expected one number and one unit", opt, safe(s));
	return v;
}

void need_reason(const char *r)
{
	if (!r || !*r)
		die(EX_USAGE, "--reason is required");
	if (strlen(r) > 500)
		die(EX_USAGE, "--reason: at most 500 bytes");
}

void parse_cmdopts(int argc, char **argv, struct cmdopts *o)
{
	static const struct option lo[] = {
		{ "for", required_argument, 0, 'f' }, { "reason", required_argument, 0, 'r' },
		{ "customer", required_argument, 0, 'c' }, { "ticket", required_argument, 0, 't' },
		{ "expires", required_argument, 0, 'e' }, { "scale", required_argument, 0, 's' },
		{ "vm", required_argument, 0, 'v' }, { "actor", required_argument, 0, 'a' },
		{ "since", required_argument, 0, 'S' }, { "until", required_argument, 0, 'U' },
		{ "limit", required_argument, 0, 'l' }, { "action", required_argument, 0, 'A' },
		{ "state", required_argument, 0, 'x' }, { "sort", required_argument, 0, 'o' },
		{ "hypervisor", required_argument, 0, 'H' }, { "search", required_argument, 0, 'q' },
		{ "name", required_argument, 0, 'n' }, { "role", required_argument, 0, 'R' },
		{ "consent-method", required_argument, 0, 'C' }, { "signup-url", required_argument, 0, 'G' },
		{ "unsubscribe-url", required_argument, 0, 'u' }, { "sample", required_argument, 0, 'm' },
		{ "evidence", required_argument, 0, 'E' }, { "ip", required_argument, 0, 'i' },
		{ "force", no_argument, 0, 'F' }, { "output", required_argument, 0, 'O' }, { 0, 0, 0, 0 },
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': o->dur = optarg; break;
		case 'r': o->reason = optarg; break;
		case 'c': o->customer = optarg; break;
		case 't': o->ticket = optarg; break;
		case 'e': o->expires = optarg; break;
		case 's': o->scale = optarg; break;
		case 'v': o->vm = optarg; break;
		case 'a': o->actor = optarg; break;
		case 'S': o->since = optarg; break;
		case 'U': o->until = optarg; break;
		case 'l': o->limit = optarg; break;
		case 'A': o->action = optarg; break;
		case 'x': o->state = optarg; break;
		case 'o': o->sort = optarg; break;
		case 'H': o->hypervisor = optarg; break;
		case 'q': o->search = optarg; break;
		case 'n': o->name = optarg; break;
		case 'R': o->role = optarg; break;
		case 'C': o->consent = optarg; break;
		case 'G': o->signup = optarg; break;
		case 'u': o->unsub = optarg; break;
		case 'm': o->sample = optarg; break;
		case 'E':
			if (o->n_evidence >= TWCTL_EVIDENCE_MAX)
				die(EX_USAGE, "--evidence: at most %d files", TWCTL_EVIDENCE_MAX);
			o->evidence[o->n_evidence++] = optarg;
			break;
		case 'i':
			if (o->n_ips >= TWCTL_IPS_MAX)
				die(EX_USAGE, "--ip: at most %d addresses", TWCTL_IPS_MAX);
			o->ips[o->n_ips++] = optarg;
			break;
		case 'F': o->force = true; break;
		case 'O': o->output = optarg; break;
		default: exit(EX_USAGE);
		}
	}
	if (optind < argc)
		die(EX_USAGE, "unexpected argument \"%s\"", safe(argv[optind]));
}

/* epoch seconds, or a duration meaning that long ago */
long long parse_when(const char *s, const char *opt)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (end != s && !*end && v > 1000000000)
		return v;
	return (long long)time(NULL) - parse_duration(s, opt);
}

/* ---- commands ----------------------------------------------------------------------------- */

/* GET path: with --json the answer is printed and NULL returned; else
 * the answer (owned) for the caller to format. */
static json_t *get_view(const char *path)
{
	json_t *j = request(EVHTTP_REQ_GET, path, NULL);

	if (!g_json)
		return j;
	print_json(j);
	json_decref(j);
	return NULL;
}

static void show_block_line(json_t *b)
{
	printf("block:       %s (%s left, until %s)\n", safe(jstr(b, "origin")), span(jint(b, "remaining_s")),
	       when(jint(b, "until")));
	printf("  reason:    %s\n", safe(jstr(b, "reason")));
	printf("  by:        %s  decision %s\n", safe(jstr(b, "actor")), safe(jstr(b, "decision")));
}

static char *join_array(json_t *a)
{
	static char buf[512];
	size_t n = 0, i;
	json_t *v;

	buf[0] = '\0';
	json_array_foreach(a, i, v) {
		if (json_is_string(v))
			n += (size_t)snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0, "%s%s", i ? "," : "",
					      safe(json_string_value(v)));
		if (n >= sizeof(buf))
			break;
	}
	return buf[0] ? buf : (char *)"-";
}

static void cmd_vm_show(const char *uuid)
{
	char path[128];
	json_t *j, *b, *wl, *ev, *h, *v;
	size_t i;
	struct table t = { .ncol = 4 };

	snprintf(path, sizeof(path), "/v1/vms/%s", uuid);
	if (!(j = get_view(path)))
		return;
	printf("vm:          %s  %s\n", safe(jstr(j, "uuid")), safe(jstr(j, "name")));
	printf("state:       %s\n", safe(jstr(j, "state")));
	printf("hypervisor:  %s  (last seen %s)\n", safe(jstr(j, "hypervisor")), when(jint(j, "last_seen")));
	printf("offences:    %lld\n", jint(j, "offences"));
	b = json_object_get(j, "block");
	if (json_is_object(b)) {
		show_block_line(b);
		printf("  pending:   %s\n", join_array(json_object_get(b, "pending_agents")));
	} else {
		printf("block:       none\n");
	}
	wl = json_object_get(j, "whitelist");
	if (json_is_object(wl))
		printf("whitelist:   ticket %s, customer %s, approved by %s, expires %s%s\n", safe(jstr(wl, "ticket")),
		       safe(jstr(wl, "customer")), safe(jstr(wl, "approver")), when(jint(wl, "expires")),
		       json_is_object(json_object_get(wl, "limits")) ? " (raised limits)" : "");
	else
		printf("whitelist:   no\n");
	ev = json_object_get(j, "evidence");
	printf("\nrecent evidence:\n");
	trow(&t, "TIME", "AGENT", "VERDICT", "RULES / SUBJECTS");
	json_array_foreach(ev, i, v) {
		json_t *vd = json_object_get(v, "verdict"), *r, *x;
		char rules[400] = "";
		size_t k, n = 0;

		json_array_foreach(json_object_get(vd, "rules"), k, r)
			n += (size_t)snprintf(rules + n, n < sizeof(rules) ? sizeof(rules) - n : 0, "%s%s", k ? "," : "",
					      safe(jstr(r, "name")));
		x = json_object_get(json_object_get(vd, "evidence"), "subjects");
		if (json_array_size(x) && n < sizeof(rules))
			n += (size_t)snprintf(rules + n, sizeof(rules) - n, " / %s", join_array(x));
		trow(&t, when(jint(v, "ts")), safe(jstr(v, "agent")), safe(jstr(vd, "verdict")), rules[0] ? rules : "-");
	}
	tprint(&t, "  none");
	printf("\nhistory:\n");
	h = json_object_get(j, "history");
	struct table th = { .ncol = 4 };
	trow(&th, "TIME", "EVENT", "ACTOR", "DETAILS");
	json_array_foreach(h, i, v) {
		char det[300];
		const char *reason = jstr(v, "reason");

		if (jstr(v, "from"))
			snprintf(det, sizeof(det), "%s -> %s", safe(jstr(v, "from")), safe(jstr(v, "to")));
		else
			snprintf(det, sizeof(det), "%s", reason ? safe(reason) : jstr(v, "rules") ? safe(jstr(v, "rules")) : "-");
		trow(&th, when(jint(v, "ts")), safe(jstr(v, "event")),
		     jstr(v, "actor") ? safe(jstr(v, "actor")) : jstr(v, "agent") ? safe(jstr(v, "agent")) : "-", det);
	}
	tprint(&th, "  none");
	json_decref(j);
}

static void cmd_blocks(void)
{
	json_t *j = get_view("/v1/blocks"), *b;
	struct table t = { .ncol = 6 };
	size_t i;

	if (!j)
		return;
	trow(&t, "UUID", "NAME", "REMAINING", "ORIGIN", "REASON", "PENDING");
	json_array_foreach(json_object_get(j, "blocks"), i, b)
		trow(&t, safe(jstr(b, "uuid")), safe(jstr(b, "name")), span(jint(b, "remaining_s")),
		     safe(jstr(b, "origin")), safe(jstr(b, "reason")), join_array(json_object_get(b, "pending_agents")));
	tprint(&t, "no blocks");
	json_decref(j);
}

static void cmd_block(const char *uuid, struct cmdopts *o)
{
	long long d = parse_duration(o->dur, "--for");
	json_t *body, *j;

	need_reason(o->reason);
	if (d < 60 || d > 365LL * 86400)
		die(EX_USAGE, "--for: from 1m to 365d");
	body = json_pack("{s:s,s:I,s:s,s:s}", "uuid", uuid, "duration_s", (json_int_t)d, "reason", o->reason,
			 "operator", g_actor);
	j = request(EVHTTP_REQ_POST, "/v1/blocks", body);
	json_decref(body);
	if (g_json)
		print_json(j);
	else
		printf("blocked %s for %s (until %s), decision %s\n", uuid, span(jint(j, "remaining_s")),
		       when(jint(j, "until")), safe(jstr(j, "decision")));
	json_decref(j);
}

/* DELETE carries reason and operator in the query: libevent's client
 * sends no body with DELETE. */
void delete_path(char *out, size_t cap, const char *base, const char *uuid, const char *reason)
{
	char *r = evhttp_encode_uri(reason), *a = evhttp_encode_uri(g_actor);

	if (!r || !a)
		die(EX_UNREACHABLE, "out of memory");
	snprintf(out, cap, "%s%s?reason=%s&operator=%s", base, uuid, r, a);
	free(r);
	free(a);
}

static void cmd_unblock(const char *uuid, struct cmdopts *o)
{
	char path[1024];
	json_t *j;

	need_reason(o->reason);
	delete_path(path, sizeof(path), "/v1/blocks/", uuid, o->reason);
	j = request(EVHTTP_REQ_DELETE, path, NULL);
	if (g_json)
		print_json(j);
	else
		printf("unblocked %s, decision %s\n", uuid, safe(jstr(j, "decision")));
	json_decref(j);
}

static void cmd_agents(void)
{
	json_t *j = get_view("/v1/agents"), *a;
	struct table t = { .ncol = 6 };
	size_t i;

	if (!j)
		return;
	trow(&t, "ID", "VERSION", "HEARTBEAT-AGE", "UP", "PENDING", "REPORTS-PENDING");
	json_array_foreach(json_object_get(j, "agents"), i, a) {
		char p[24], r[24];

		snprintf(p, sizeof(p), "%lld", jint(a, "pending"));
		snprintf(r, sizeof(r), "%lld", jint(a, "reports_pending") + jint(a, "spool_pending"));
		trow(&t, safe(jstr(a, "id")), safe(jstr(a, "version")),
		     jint(a, "heartbeat_age_s") < 0 ? "never" : span(jint(a, "heartbeat_age_s")),
		     json_is_true(json_object_get(a, "up")) ? "yes" : "NO", p, r);
	}
	tprint(&t, "no agents");
	json_decref(j);
}

static void cmd_status(void)
{
	json_t *j = request(EVHTTP_REQ_GET, "/v1/status", NULL);
	json_t *ag = json_object_get(j, "agents"), *vm = json_object_get(j, "vms"), *rp = json_object_get(j, "reports");

	if (g_json) {
		print_json(j);
	} else {
		printf("controller:        %s (%s), schema %lld, prefix %s\n", safe(jstr(j, "controller")),
		       safe(jstr(j, "version")), jint(j, "schema"), safe(jstr(j, "prefix")));
		printf("agents:            %lld up of %lld\n", jint(ag, "up"), jint(ag, "total"));
		printf("vms:               %lld known, %lld blocked, %lld alerting\n", jint(vm, "known"),
		       jint(vm, "blocked"), jint(vm, "alerting"));
		printf("whitelist:         %lld entries\n", jint(j, "whitelist"));
		printf("pending decisions: %lld\n", jint(j, "pending_decisions"));
		printf("reports ingested:  %lld (malformed %lld)\n", jint(rp, "ingested"), jint(rp, "malformed"));
	}
	json_decref(j);
}

/* Append &key=value (URL-encoded) to path. */
static size_t qadd(char *path, size_t cap, size_t n, const char *key, const char *v)
{
	char *enc;

	if (!v)
		return n;
	enc = evhttp_encode_uri(v);
	if (!enc)
		die(EX_UNREACHABLE, "out of memory");
	if (n < cap)
		n += (size_t)snprintf(path + n, cap - n, "%c%s=%s", strchr(path, '?') ? '&' : '?', key, enc);
	free(enc);
	if (n >= cap)
		die(EX_USAGE, "arguments too long");
	return n;
}

static void cmd_audit(struct cmdopts *o)
{
	char path[512] = "/v1/audit", uuid[37], num[24];
	size_t n = strlen(path);
	json_t *j, *e;
	struct table t = { .ncol = 5 };
	size_t i;

	if (o->limit) {
		char *end;
		long v = strtol(o->limit, &end, 10);

		if (*end || v < 1 || v > 1000)
			die(EX_USAGE, "--limit: 1 to 1000");
	}
	n = qadd(path, sizeof(path), n, "limit", o->limit ? o->limit : "100");
	if (o->vm) {
		need_uuid(o->vm, uuid);
		n = qadd(path, sizeof(path), n, "vm", uuid);
	}
	n = qadd(path, sizeof(path), n, "actor", o->actor);
	n = qadd(path, sizeof(path), n, "action", o->action);
	if (o->since) {
		snprintf(num, sizeof(num), "%lld", parse_when(o->since, "--since"));
		n = qadd(path, sizeof(path), n, "since", num);
	}
	if (o->until) {
		snprintf(num, sizeof(num), "%lld", parse_when(o->until, "--until"));
		qadd(path, sizeof(path), n, "until", num);
	}
	if (!(j = get_view(path)))
		return;
	trow(&t, "TIME", "ACTOR", "ACTION", "VM", "REASON");
	json_array_foreach(json_object_get(j, "entries"), i, e) {
		char who[160];

		snprintf(who, sizeof(who), "%s%s%s%s", safe(jstr(e, "actor")), jstr(e, "operator") && *jstr(e, "operator") ? " (" : "",
			 jstr(e, "operator") && *jstr(e, "operator") ? safe(jstr(e, "operator")) : "",
			 jstr(e, "operator") && *jstr(e, "operator") ? ")" : "");
		trow(&t, when(jint(e, "ts")), who, safe(jstr(e, "action")), safe(jstr(e, "vm")), safe(jstr(e, "reason")));
	}
	tprint(&t, "no audit entries");
	json_decref(j);
}


static void cmd_vms(struct cmdopts *o)
{
	char path[1024] = "/v1/vms";
	size_t n = strlen(path);
	json_t *j, *v;
	struct table t = { .ncol = 7 };
	size_t i;

	n = qadd(path, sizeof(path), n, "state", o->state);
	n = qadd(path, sizeof(path), n, "sort", o->sort);
	n = qadd(path, sizeof(path), n, "hypervisor", o->hypervisor);
	n = qadd(path, sizeof(path), n, "q", o->search);
	qadd(path, sizeof(path), n, "limit", o->limit);
	if (!(j = get_view(path)))
		return;
	trow(&t, "UUID", "NAME", "STATE", "HYPERVISOR", "MSGS/1H", "REJ/1H", "LAST SEEN");
	json_array_foreach(json_object_get(j, "vms"), i, v) {
		char m[24], r[24];

		snprintf(m, sizeof(m), "%lld", jint(v, "messages_1h"));
		snprintf(r, sizeof(r), "%lld", jint(v, "rejected_1h"));
		trow(&t, safe(jstr(v, "uuid")), safe(jstr(v, "name")), safe(jstr(v, "state")), safe(jstr(v, "hypervisor")), m,
		     r, when(jint(v, "last_seen")));
	}
	tprint(&t, "no VMs match");
	if (json_integer_value(json_object_get(j, "total")) > (json_int_t)json_array_size(json_object_get(j, "vms")))
		printf("(%lld of %lld shown; --limit up to 1000)\n", (long long)json_array_size(json_object_get(j, "vms")),
		       jint(j, "total"));
	json_decref(j);
}

static void cmd_token(int argc, char **argv)
{
	struct cmdopts o = { 0 };
	const char *sub = argc > 1 ? argv[1] : NULL;
	json_t *j, *body, *e;
	size_t i;

	if (!sub)
		die(EX_USAGE, "usage: twctl token generate|list|create|revoke ...");
	if (!strcmp(sub, "revoke")) {
		char path[160];

		if (argc < 3 || !auth_name_valid(argv[2]))
			die(EX_USAGE, "usage: twctl token revoke NAME");
		parse_cmdopts(argc - 2, argv + 2, &o);
		snprintf(path, sizeof(path), "/v1/tokens/%s", argv[2]);
		j = request(EVHTTP_REQ_DELETE, path, NULL);
		if (g_json)
			print_json(j);
		else
			printf("revoked token %s\n", argv[2]);
		json_decref(j);
		return;
	}
	parse_cmdopts(argc - 1, argv + 1, &o);
	if (!strcmp(sub, "list")) {
		struct table t = { .ncol = 5 };

		if (!(j = get_view("/v1/tokens")))
			return;
		trow(&t, "NAME", "ROLE", "SOURCE", "CREATED", "BY");
		json_array_foreach(json_object_get(j, "tokens"), i, e)
			trow(&t, safe(jstr(e, "name")), safe(jstr(e, "role")), safe(jstr(e, "source")),
			     jint(e, "created") ? when(jint(e, "created")) : "-", safe(jstr(e, "created_by")));
		tprint(&t, "no tokens");
		json_decref(j);
		return;
	}
	if (strcmp(sub, "generate") && strcmp(sub, "create"))
		die(EX_USAGE, "unknown token command \"%s\" (generate, list, create, revoke)", safe(sub));
	if (!auth_name_valid(o.name))
		die(EX_USAGE, "--name: 1-%d of A-Z a-z 0-9 . _ -", AUTH_NAME_MAX);
	if (auth_role_parse(o.role) == AUTH_NONE)
		die(EX_USAGE, "--role: viewer, support or admin");
	if (!strcmp(sub, "generate")) {
		char tok[AUTH_TOKEN_LEN + 1], hex[65];
		uint8_t h[32];

		if (auth_generate(tok) < 0)
			die(EX_REFUSED, "no randomness available");
		auth_hash(tok, strlen(tok), h);
		auth_hex(h, hex);
		printf("token: %s\n\n# add to the tokens file (--tokens), then send SIGHUP to the controller:\n"
		       "  - name: %s\n    role: %s\n    sha256: %s\n", tok, o.name, o.role, hex);
		explicit_bzero(tok, sizeof(tok));
		return;
	}
	body = json_pack("{s:s,s:s,s:s}", "name", o.name, "role", o.role, "operator", g_actor);
	j = request(EVHTTP_REQ_POST, "/v1/tokens", body);
	json_decref(body);
	if (g_json)
		print_json(j);
	else
		printf("token %s (%s): %s\nIt is shown this once; store it now.\n", safe(jstr(j, "name")),
		       safe(jstr(j, "role")), safe(jstr(j, "token")));
	json_decref(j);
}

/* The token from --token-file, $TWCTL_TOKEN_FILE or $TWCTL_TOKEN. */
static void load_token(const char *file)
{
	const char *env = getenv("TWCTL_TOKEN");

	if (!file)
		file = getenv("TWCTL_TOKEN_FILE");
	if (file) {
		char err[600];
		char *t = rconn_read_secret(file, err, sizeof(err));

		if (!t)
			die(EX_USAGE, "token: %s", err);
		snprintf(g_token, sizeof(g_token), "%s", t);
		explicit_bzero(t, strlen(t));
		free(t);
	} else if (env) {
		snprintf(g_token, sizeof(g_token), "%s", env);
	}
	for (const char *p = g_token; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			die(EX_USAGE, "token: contains spaces or control characters");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "controller", required_argument, 0, 'c' }, { "json", no_argument, 0, 'j' },
		{ "actor", required_argument, 0, 'a' }, { "operator", required_argument, 0, 'a' },
		{ "token-file", required_argument, 0, 'T' }, { "timeout", required_argument, 0, 't' },
		{ "help", no_argument, 0, 'h' }, { "version", no_argument, 0, 'V' }, { 0, 0, 0, 0 },
	};
	struct cmdopts o = { 0 };
	char uuid[37];
	const char *cmd, *token_file = NULL;
	int c;

	if (getenv("TWCTL_CONTROLLER"))
		g_url = getenv("TWCTL_CONTROLLER");
	g_actor = getenv("TWCTL_OPERATOR") ? getenv("TWCTL_OPERATOR") : getenv("SUDO_USER") ? getenv("SUDO_USER") :
		  getenv("USER") ? getenv("USER") : "unknown";
	while ((c = getopt_long(argc, argv, "+h", lo, NULL)) != -1) {
		switch (c) {
		case 'c': g_url = optarg; break;
		case 'j': g_json = true; break;
		case 'a': g_actor = optarg; break;
		case 'T': token_file = optarg; break;
		case 't':
			g_timeout = atoi(optarg);
			if (g_timeout < 1 || g_timeout > 600)
				die(EX_USAGE, "--timeout: 1 to 600 seconds");
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("twctl %s\n", TWCTL_VERSION); return 0;
		default: usage(stderr); return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	if (!*g_actor || strlen(g_actor) > 64)
		die(EX_USAGE, "--operator: 1 to 64 characters");
	parse_url();
	load_token(token_file);
	argc -= optind;
	argv += optind;
	cmd = argv[0];
	if (!strcmp(cmd, "status")) {
		parse_cmdopts(argc, argv, &o);
		cmd_status();
	} else if (!strcmp(cmd, "vm")) {
		if (argc < 3 || strcmp(argv[1], "show"))
			die(EX_USAGE, "usage: twctl vm show UUID");
		need_uuid(argv[2], uuid);
		parse_cmdopts(argc - 2, argv + 2, &o);
		cmd_vm_show(uuid);
	} else if (!strcmp(cmd, "blocks")) {
		if (argc < 2 || strcmp(argv[1], "list"))
			die(EX_USAGE, "usage: twctl blocks list");
		parse_cmdopts(argc - 1, argv + 1, &o);
		cmd_blocks();
	} else if (!strcmp(cmd, "block") || !strcmp(cmd, "unblock")) {
		need_uuid(argc > 1 ? argv[1] : NULL, uuid);
		parse_cmdopts(argc - 1, argv + 1, &o);
		if (cmd[0] == 'b')
			cmd_block(uuid, &o);
		else
			cmd_unblock(uuid, &o);
	} else if (!strcmp(cmd, "whitelist")) {
		cmd_whitelist(argc, argv);
	} else if (!strcmp(cmd, "agents")) {
		parse_cmdopts(argc, argv, &o);
		cmd_agents();
	} else if (!strcmp(cmd, "audit")) {
		parse_cmdopts(argc, argv, &o);
		cmd_audit(&o);
	} else if (!strcmp(cmd, "vms")) {
		parse_cmdopts(argc, argv, &o);
		cmd_vms(&o);
	} else if (!strcmp(cmd, "token")) {
		cmd_token(argc, argv);
	} else {
		die(EX_USAGE, "unknown command \"%s\" (see twctl --help)", safe(cmd));
	}
	return 0;
}
