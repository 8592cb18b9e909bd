/* SPDX-License-Identifier: MIT */
/*
 * twctl: the operators' command line for tapwarden (its own process, on an
 * operator's host or the controller's).  A client of the controller's HTTP
 * API version 1 (doc/api.md) and nothing else: every argument is checked
 * here before a request is made, every change carries the actor and a
 * reason, and the answer is printed as aligned tables and "key: value"
 * blocks, or as the API's JSON with --json.
 *
 * Strings from the controller can hold guest-controlled text (EHLO names,
 * subjects inside evidence).  They reach the terminal only through esc(),
 * which writes control characters, bidi and zero-width format characters
 * and invalid UTF-8 as \xNN (the bytes), so a hostile string cannot move
 * the cursor, retitle the window or reorder what the operator reads.
 *
 * Exit status: 0 ok, 1 the controller answered with an error, 2 usage,
 * 3 the controller cannot be reached, 4 no such VM or entry (HTTP 404).
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#define TWCTL_VERSION "0.5.0"
#define TWCTL_DEFAULT_URL "http://127.0.0.1:8425"

/* The API's limits (doc/api.md; the controller's api.c for the ones the
 * document does not state), checked here so that a typo costs no request. */
#define REASON_MAX 500
#define ACTOR_MAX 64
#define CUSTOMER_MAX 128
#define TICKET_MAX 64
#define BLOCK_MIN_S 60
#define BLOCK_MAX_S 31536000LL
#define WL_MAX_S (10 * BLOCK_MAX_S)
#define DURATION_MAX (100 * BLOCK_MAX_S)
#define SCALE_MIN 2
#define SCALE_MAX 1000
#define AUDIT_LIMIT_MAX 1000

#define REPLY_MAX (32 << 20)     /* bytes of an answer; a larger one is an error */
#define CELL_MAX 60              /* code points of a table cell ... */
#define WIDE_MAX 160             /* ... of a last column or a value line */
#define ESC_CAP 2048             /* bytes of one escaped string (CELL_MAX * 16 fits) */
#define EVIDENCE_SHOWN 10
#define HISTORY_SHOWN 20

enum {
	TW_EXIT_OK = 0,
	TW_EXIT_ERROR = 1,           /* the controller answered with an error */
	TW_EXIT_USAGE = 2,
	TW_EXIT_UNREACHABLE = 3,
	TW_EXIT_NOTFOUND = 4,
};

/* The one context of the process: the global options, read-only once
 * main() has parsed them. */
struct cli {
	const char *url;             /* borrowed from argv or the environment */
	const char *url_from;        /* "--controller" or "TWCTL_CONTROLLER" */
	char host[256];              /* to resolve (no brackets) */
	char host_hdr[280];          /* Host: header */
	uint16_t port;
	char base[256];              /* path prefix, no trailing '/' */
	const char *actor;
	const char *actor_from;
	bool json;
	int timeout_s;
};

/* ---- messages and escaping ------------------------------------------------ */

/* Print "twctl: <message>" on stderr; returns code (for `return fail(...)`). */
static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("twctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* Length of the valid UTF-8 sequence at s (n bytes available) with its code
 * point in *cp; 0 when the bytes are not valid UTF-8 (overlong forms and
 * surrogates included). */
static size_t utf8_seq(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t len;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		len = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* Code points a terminal may act on instead of showing: C0, DEL, C1, and the
 * invisible format characters that hide or reorder text (zero-width, line
 * and paragraph separators, bidi embeddings, overrides and isolates, BOM). */
static bool cp_unsafe(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x200b && c <= 0x200f) ||
	       (c >= 0x2028 && c <= 0x202e) || (c >= 0x2060 && c <= 0x206f) || c == 0xfeff;
}

/*
 * Write n bytes of s (any bytes, NUL included) into out (cap >= 8) as text
 * that is safe on a terminal: unsafe code points and invalid UTF-8 as \xNN
 * per byte, a backslash as \\, everything else as it is.  Text wider than
 * max_cols columns (a code point is one, an escape its length), or longer
 * than fits, is cut and ends in "...".  Returns out.
 */
static const char *esc(char *out, size_t cap, const char *s, size_t n, size_t max_cols)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, cols = 0, i = 0;

	while (i < n) {
		uint32_t c = 0;
		size_t len = utf8_seq(p + i, n - i, &c);
		bool bad = len == 0 || cp_unsafe(c);
		size_t need;

		if (len == 0)
			len = 1;
		need = bad ? 4 * len : c == '\\' ? 2 : len;
		if (cols + (bad ? need : c == '\\' ? 2 : 1) > max_cols || o + need + 4 > cap) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (bad) {
			for (size_t k = 0; k < len; k++) {
				out[o++] = '\\';
				out[o++] = 'x';
				out[o++] = hex[p[i + k] >> 4];
				out[o++] = hex[p[i + k] & 15];
			}
		} else if (c == '\\') {
			out[o++] = '\\';
			out[o++] = '\\';
		} else {
			memcpy(out + o, p + i, len);
			o += len;
		}
		cols += bad ? need : c == '\\' ? 2 : 1;
		i += len;
	}
	out[o] = '\0';
	return out;
}

/* A NUL-terminated string from the command line, escaped for a message. */
static const char *esc_arg(char *out, size_t cap, const char *s)
{
	return esc(out, cap, s, strlen(s), 80);
}

/* ---- JSON members as text --------------------------------------------------- */

static bool jnum(const json_t *j, const char *k, long long *out)
{
	const json_t *v = json_object_get(j, k);

	if (json_is_integer(v))
		*out = (long long)json_integer_value(v);
	else if (json_is_real(v))
		*out = (long long)json_real_value(v);
	else
		return false;
	return true;
}

static long long jint(const json_t *j, const char *k)
{
	long long v = 0;

	jnum(j, k, &v);
	return v;
}

/* UTC ISO-8601 of t; "-" for 0 or less (the API's "not set"). */
static const char *fmt_time(char out[32], long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || !gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return "-";
	return out;
}

/* A span of seconds in its two largest units: "2d 3h", "59m 58s", "42s". */
static const char *fmt_span(char out[32], long long s)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(out, 32, "%lldd %lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(out, 32, "%lldh %lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(out, 32, "%lldm %llds", s / 60, s % 60);
	else
		snprintf(out, 32, "%llds", s);
	return out;
}

/* fmt_span() as one word, for key=value lists: "1h0m". */
static const char *fmt_span_word(char out[32], long long s)
{
	char *sp = strchr(fmt_span(out, s), ' ');

	if (sp)
		memmove(sp, sp + 1, strlen(sp));
	return out;
}

/*
 * Any JSON value as safe text into out (ESC_CAP bytes): strings escaped,
 * numbers as numbers, null or absent as "-", arrays of scalars joined with
 * ",", anything else as compact JSON (escaped too).  Returns out.
 */
static const char *jtext(char out[ESC_CAP], const json_t *v, size_t max_cols)
{
	char *s;

	if (!v || json_is_null(v))
		return strcpy(out, "-");
	if (json_is_string(v) && json_string_length(v) == 0)
		return strcpy(out, "-");
	if (json_is_string(v))
		return esc(out, ESC_CAP, json_string_value(v), json_string_length(v), max_cols);
	if (json_is_integer(v)) {
		snprintf(out, ESC_CAP, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return out;
	}
	if (json_is_real(v)) {
		snprintf(out, ESC_CAP, "%.6g", json_real_value(v));
		return out;
	}
	if (json_is_boolean(v))
		return strcpy(out, json_is_true(v) ? "yes" : "no");
	if (json_is_array(v)) {
		size_t i, o = 0;
		const json_t *e;
		char one[ESC_CAP];

		out[0] = '\0';
		json_array_foreach(v, i, e) {
			if (json_is_object(e) || json_is_array(e))
				goto dump;
			jtext(one, e, max_cols);
			if (o + strlen(one) + 5 > ESC_CAP) {
				strcpy(out + o, "...");
				return out;
			}
			o += (size_t)snprintf(out + o, ESC_CAP - o, "%s%s", i ? "," : "", one);
		}
		return o ? out : strcpy(out, "-");
	}
dump:
	s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
	if (!s)
		return strcpy(out, "?");
	esc(out, ESC_CAP, s, strlen(s), max_cols);
	free(s);
	return out;
}

/* Member k of j as safe text (see jtext). */
static const char *js(char out[ESC_CAP], const json_t *j, const char *k, size_t max_cols)
{
	return jtext(out, json_object_get(j, k), max_cols);
}

/* ---- tables -------------------------------------------------------------------- */

/* Rows of cells (the first row is the header), printed with aligned
 * columns.  Cells are copied; every text from the controller goes in
 * through table_json(), which escapes it. */
struct table {
	size_t ncol, n, cap;         /* n cells so far */
	char **cell;                 /* owned */
	bool oom;
};

static void table_init(struct table *t, size_t ncol)
{
	memset(t, 0, sizeof(*t));
	t->ncol = ncol;
}

static void table_fini(struct table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->cell[i]);
	free(t->cell);
}

/* Append a cell of safe text (borrowed, copied); rows fill left to right. */
static void table_add(struct table *t, const char *text)
{
	char *c;

	if (t->oom)
		return;
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16 * t->ncol;
		char **p = realloc(t->cell, cap * sizeof(*p));

		if (!p) {
			t->oom = true;
			return;
		}
		t->cell = p;
		t->cap = cap;
	}
	if (!(c = strdup(text))) {
		t->oom = true;
		return;
	}
	t->cell[t->n++] = c;
}

/* Append a JSON value from the controller as a cell (see jtext). */
static void table_json(struct table *t, const json_t *v, size_t max_cols)
{
	char buf[ESC_CAP];

	table_add(t, jtext(buf, v, max_cols));
}

static size_t rows(const struct table *t)
{
	return t->n / t->ncol;
}

/* Columns on the terminal: code points, since esc() left only printable ones. */
static size_t text_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

/* Print the table, each line after indent; 0, or 1 after an allocation failed. */
static int table_print(const struct table *t, const char *indent)
{
	size_t *w = calloc(t->ncol, sizeof(*w));

	if (!w || t->oom) {
		free(w);
		return fail(TW_EXIT_ERROR, "out of memory");
	}
	for (size_t i = 0; i < rows(t) * t->ncol; i++) {
		size_t cw = text_width(t->cell[i]);

		if (cw > w[i % t->ncol])
			w[i % t->ncol] = cw;
	}
	for (size_t r = 0; r < rows(t); r++) {
		fputs(indent, stdout);
		for (size_t c = 0; c < t->ncol; c++) {
			const char *s = t->cell[r * t->ncol + c];

			fputs(s, stdout);
			if (c + 1 < t->ncol)
				printf("%*s", (int)(w[c] - text_width(s) + 2), "");
		}
		putchar('\n');
	}
	free(w);
	return 0;
}

/* ---- HTTP ------------------------------------------------------------------------ */

/* One request in flight: what the callbacks saw. */
struct call {
	struct event_base *base;
	int status;                  /* HTTP status; 0 = no answer */
	char line[128];              /* its reason phrase, escaped */
	char *body;                  /* owned */
	size_t len;
	bool done, failed, timed_out, oom;
	enum evhttp_request_error error;   /* when failed */
};

static void on_reply(struct evhttp_request *req, void *arg)
{
	struct call *c = arg;

	c->done = true;
	if (req && evhttp_request_get_response_code(req) > 0) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		const char *line = evhttp_request_get_response_code_line(req);

		c->status = evhttp_request_get_response_code(req);
		esc(c->line, sizeof(c->line), line ? line : "", line ? strlen(line) : 0, 40);
		c->len = evbuffer_get_length(in);
		c->body = malloc(c->len + 1);
		if (!c->body) {
			c->oom = true;
		} else {
			evbuffer_remove(in, c->body, c->len);
			c->body[c->len] = '\0';
		}
	}
	event_base_loopbreak(c->base);
}

/* evhttp calls this before on_reply(NULL) when a connection that was made
 * fails; a connection that could not be made reaches on_reply alone. */
static void on_error(enum evhttp_request_error e, void *arg)
{
	struct call *c = arg;

	c->failed = true;
	c->error = e;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct call *c = arg;

	c->timed_out = true;
	event_base_loopbreak(c->base);
}

/*
 * Why a TCP connection to ai cannot be made: evhttp drops the cause of a
 * failed connect, so it is asked again, with a non-blocking connect waited
 * for at most ms.  Returns the errno, 0 if it connected after all.  Runs
 * after the event loop has returned, so blocking here blocks nothing else.
 */
static int connect_errno(const struct addrinfo *ai, int ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	int err = 0, r;
	socklen_t len = sizeof(err);
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	if (fd < 0)
		return errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto out;
	if (errno != EINPROGRESS) {
		err = errno;
		goto out;
	}
	r = poll(&pfd, 1, ms);
	if (r == 0)
		err = ETIMEDOUT;
	else if (r < 0)
		err = errno;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
out:
	close(fd);
	return err;
}

/*
 * Send one request to the address ai and run the loop until the answer, a
 * failure or the deadline (already armed on c->base).  payload: borrowed,
 * NULL for none.  0, or -ENOMEM.  The connection is freed before returning,
 * which also drops a request still in flight.
 */
static int attempt(const struct cli *cli, struct call *c, const struct addrinfo *ai,
		   enum evhttp_cmd_type method, const char *uri, const char *payload)
{
	char addr[NI_MAXHOST], clen[24];
	struct evhttp_connection *conn;
	struct evhttp_request *req;
	struct evkeyvalq *h;
	int r = -ENOMEM;

	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST))
		return -EINVAL;
	conn = evhttp_connection_base_new(c->base, NULL, addr, cli->port);
	if (!conn)
		return -ENOMEM;
	evhttp_connection_set_timeout(conn, cli->timeout_s);
	evhttp_connection_set_retries(conn, 0);
	evhttp_connection_set_max_body_size(conn, REPLY_MAX);
	evhttp_connection_set_max_headers_size(conn, 64 * 1024);
	req = evhttp_request_new(on_reply, c);
	if (!req)
		goto out;
	evhttp_request_set_error_cb(req, on_error);
	h = evhttp_request_get_output_headers(req);
	if (evhttp_add_header(h, "Host", cli->host_hdr) || evhttp_add_header(h, "Accept", "application/json") ||
	    evhttp_add_header(h, "User-Agent", "twctl/" TWCTL_VERSION) || evhttp_add_header(h, "Connection", "close"))
		goto drop;
	if (payload) {
		/* libevent adds Content-Length to POST and PUT only: a DELETE body
		 * without it would be read by the controller as no body at all */
		snprintf(clen, sizeof(clen), "%zu", strlen(payload));
		if (evhttp_add_header(h, "Content-Type", "application/json") ||
		    evhttp_add_header(h, "Content-Length", clen) ||
		    evbuffer_add(evhttp_request_get_output_buffer(req), payload, strlen(payload)))
			goto drop;
	}
	r = 0;
	/* on failure the request is freed: the connection could not be
	 * started, which the caller sees as an attempt without an answer */
	if (evhttp_make_request(conn, req, method, uri) == 0)
		event_base_dispatch(c->base);
	goto out;
drop:
	evhttp_request_free(req);
out:
	evhttp_connection_free(conn);
	return r;
}

static const char *request_error(enum evhttp_request_error e)
{
	switch (e) {
	case EVREQ_HTTP_TIMEOUT: return "no answer in time";
	case EVREQ_HTTP_EOF: return "the connection closed before a complete answer";
	case EVREQ_HTTP_INVALID_HEADER: return "the answer is not HTTP (is this the controller's API port?)";
	case EVREQ_HTTP_DATA_TOO_LONG: return "the answer is larger than 32 MiB";
	default: return "the connection failed";
	}
}

/*
 * Make one request and wait for its answer, cli->timeout_s in all.  path
 * starts with "/v1/" (query included); body: borrowed, NULL for none.  On
 * a 2xx answer *out gets its JSON object (owned) and 0 is returned;
 * otherwise the error is printed and the exit status returned: 1 an error
 * answer, 4 HTTP 404, 3 no answer.  change: the request changes state, so
 * a failure after it may have been sent says how to check.
 */
static int http_call(const struct cli *cli, enum evhttp_cmd_type method, const char *path,
		     const json_t *body, bool change, json_t **out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char port[8], uri[1024], cause[160] = "no address", msg[ESC_CAP];
	struct timeval tv = { .tv_sec = cli->timeout_s };
	struct call c = { 0 };
	struct event *deadline = NULL;
	char *payload = NULL;
	json_error_t je;
	json_t *j = NULL;
	int rc = TW_EXIT_ERROR, gai;

	*out = NULL;
	if ((size_t)snprintf(uri, sizeof(uri), "%s%s", cli->base, path) >= sizeof(uri))
		return fail(TW_EXIT_USAGE, "request path too long");
	if (body && !(payload = json_dumps(body, JSON_COMPACT)))
		return fail(TW_EXIT_ERROR, "out of memory");
	snprintf(port, sizeof(port), "%u", cli->port);
	gai = getaddrinfo(cli->host, port, &hints, &res);
	if (gai) {
		rc = fail(TW_EXIT_UNREACHABLE, "cannot reach the controller at %s: cannot resolve %s: %s", cli->url,
			  cli->host, gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
		goto out;
	}
	c.base = event_base_new();
	deadline = c.base ? evtimer_new(c.base, on_deadline, &c) : NULL;
	if (!deadline || evtimer_add(deadline, &tv) != 0) {
		rc = fail(TW_EXIT_ERROR, "out of memory");
		goto out;
	}
	/* every address of the host in turn, as long as connecting fails:
	 * nothing was sent then, so trying the next one is safe */
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int e;

		if (attempt(cli, &c, ai, method, uri, payload) == -ENOMEM || c.oom) {
			rc = fail(TW_EXIT_ERROR, "out of memory");
			goto out;
		}
		if (c.status || c.failed || c.timed_out)
			break;
		e = connect_errno(ai, 1000);
		snprintf(cause, sizeof(cause), "%s", e == ECONNREFUSED ? "connection refused (is tapwarden-controller running there?)" :
			 e == ETIMEDOUT ? "connection timed out" : e ? strerror(e) : "the connection failed");
		c.done = false;
	}
	if (!c.status) {
		if (c.timed_out || (c.failed && c.error == EVREQ_HTTP_TIMEOUT))
			snprintf(cause, sizeof(cause), "no answer within %d s (--timeout)", cli->timeout_s);
		else if (c.failed)
			snprintf(cause, sizeof(cause), "%s", request_error(c.error));
		rc = fail(TW_EXIT_UNREACHABLE, "cannot reach the controller at %s: %s%s", cli->url, cause,
			  change && (c.failed || c.timed_out) ?
			  "; the change may have been made: check before repeating it" : "");
		goto out;
	}
	j = json_loadb(c.body, c.len, JSON_ALLOW_NUL, &je);
	if (c.status < 200 || c.status >= 300) {
		const json_t *e = json_is_object(j) ? json_object_get(j, "error") : NULL;

		if (json_is_string(e))
			jtext(msg, e, 300);
		else
			snprintf(msg, sizeof(msg), "the controller at %s answered %s", cli->url, c.line[0] ? c.line : "an error");
		rc = fail(c.status == 404 ? TW_EXIT_NOTFOUND : TW_EXIT_ERROR, "%s (HTTP %d)", msg, c.status);
		goto out;
	}
	if (!json_is_object(j)) {
		rc = fail(TW_EXIT_ERROR, "the controller at %s answered HTTP %d, but not with a JSON object", cli->url,
			  c.status);
		goto out;
	}
	*out = j;
	j = NULL;
	rc = TW_EXIT_OK;
out:
	json_decref(j);
	free(c.body);
	if (deadline)
		event_free(deadline);
	if (c.base)
		event_base_free(c.base);
	if (res)
		freeaddrinfo(res);
	free(payload);
	return rc;
}

/* --json: the answer, indented; ASCII only, so that no byte of it can
 * reach the terminal unescaped (jansson escapes control characters). */
static int print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);

	if (!s)
		return fail(TW_EXIT_ERROR, "out of memory");
	puts(s);
	free(s);
	return TW_EXIT_OK;
}

/* The array member k of an answer, or NULL with the error printed. */
static const json_t *answer_list(const struct cli *cli, const json_t *j, const char *k)
{
	const json_t *a = json_object_get(j, k);

	if (!json_is_array(a))
		fail(TW_EXIT_ERROR, "the controller at %s answered without a \"%s\" list", cli->url, k);
	return json_is_array(a) ? a : NULL;
}

/* ---- arguments ------------------------------------------------------------------- */

enum opt {
	O_FOR, O_REASON, O_CUSTOMER, O_TICKET, O_EXPIRES, O_SCALE,
	O_VM, O_ACTOR, O_SINCE, O_UNTIL, O_LIMIT, O_JSON, O_COUNT
};

#define OPT(o) (1u << (o))

static const struct option cmd_lopts[] = {
	{ "for", required_argument, NULL, 256 + O_FOR },
	{ "reason", required_argument, NULL, 256 + O_REASON },
	{ "customer", required_argument, NULL, 256 + O_CUSTOMER },
	{ "ticket", required_argument, NULL, 256 + O_TICKET },
	{ "expires", required_argument, NULL, 256 + O_EXPIRES },
	{ "scale", required_argument, NULL, 256 + O_SCALE },
	{ "vm", required_argument, NULL, 256 + O_VM },
	{ "actor", required_argument, NULL, 256 + O_ACTOR },
	{ "since", required_argument, NULL, 256 + O_SINCE },
	{ "until", required_argument, NULL, 256 + O_UNTIL },
	{ "limit", required_argument, NULL, 256 + O_LIMIT },
	{ "json", no_argument, NULL, 256 + O_JSON },
	{ NULL, 0, NULL, 0 },
};

/* One command's arguments after its words (borrowed from argv). */
struct args {
	char name[32];               /* "whitelist add", for messages */
	const char *uuid_arg;        /* the positional UUID as given */
	char uuid[37];               /* ... checked and lower-cased */
	const char *opt[O_COUNT];
	time_t now;
};

struct command {
	const char *word1, *word2;   /* word2 NULL: a one-word command */
	const char *usage;
	bool takes_uuid;
	unsigned opts;               /* OPT() of the options it accepts */
	int (*run)(const struct cli *cli, struct args *a);
};

/* A domain UUID, canonical 8-4-4-4-12 hex of any case, into out lower-cased. */
static bool uuid_norm(const char *s, char out[37])
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		char ch = s[i];

		if (dash ? ch != '-' : !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')))
			return false;
		out[i] = (char)(ch >= 'A' && ch <= 'F' ? ch + 32 : ch);
	}
	out[36] = '\0';
	return true;
}

static int need_uuid(const struct args *a, const char *what, const char *s, char out[37])
{
	char e[ESC_CAP];

	if (!uuid_norm(s, out))
		return fail(TW_EXIT_USAGE, "%s: %s\"%s\" is not a domain UUID (8-4-4-4-12 hex digits)", a->name, what,
			    esc_arg(e, sizeof(e), s));
	return 0;
}

/* Text the API takes: 1..max bytes of UTF-8 without control characters. */
static int need_text(const struct args *a, const char *what, const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (!s || !n)
		return fail(TW_EXIT_USAGE, "%s: %s is required", a->name, what);
	if (n > max)
		return fail(TW_EXIT_USAGE, "%s: %s is %zu bytes, at most %zu are allowed", a->name, what, n, max);
	for (size_t i = 0; i < n;) {
		uint32_t c = 0;
		size_t len = utf8_seq((const unsigned char *)s + i, n - i, &c);

		if (!len)
			return fail(TW_EXIT_USAGE, "%s: %s is not valid UTF-8", a->name, what);
		if (c < 0x20 || c == 0x7f)
			return fail(TW_EXIT_USAGE, "%s: %s must not contain control characters", a->name, what);
		i += len;
	}
	return 0;
}

/* A decimal integer in [lo, hi], digits only. */
static bool parse_ll(const char *s, long long lo, long long hi, long long *out)
{
	long long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (hi - (*s - '0')) / 10)
			return false;
		v = v * 10 + (*s - '0');
	}
	if (v < lo)
		return false;
	*out = v;
	return true;
}

/* DURATION: plain seconds ("90"), or NUMBER UNIT groups with units s, m,
 * h, d, w ("90s", "1h30m", "2d").  More than 0, at most DURATION_MAX. */
static bool parse_duration(const char *s, long long *out)
{
	long long total = 0;
	const char *p = s;

	if (!*p)
		return false;
	while (*p) {
		const char *digits = p;
		long long v = 0, mul;

		for (; *p >= '0' && *p <= '9'; p++) {
			if (v > DURATION_MAX / 10)
				return false;
			v = v * 10 + (*p - '0');
		}
		if (p == digits)
			return false;
		switch (*p) {
		case '\0': mul = digits == s ? 1 : 0; break;   /* a bare number only on its own */
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		case 'w': mul = 7 * 86400; break;
		default: return false;
		}
		if (!mul || v > (DURATION_MAX - total) / mul)
			return false;
		total += v * mul;
		if (*p)
			p++;
	}
	if (total <= 0)
		return false;
	*out = total;
	return true;
}

/* WHEN: epoch seconds, YYYY-MM-DDTHH:MM:SSZ (as twctl prints times), or a
 * DURATION meaning that long before now. */
static bool parse_when(const char *s, time_t now, long long *out)
{
	struct tm tm = { 0 };
	const char *end;
	long long d;

	if (parse_ll(s, 0, 4LL * UINT32_MAX, out))
		return true;
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end && !*end) {
		*out = (long long)timegm(&tm);
		return *out >= 0;
	}
	if (!parse_duration(s, &d) || d > (long long)now)
		return false;
	*out = (long long)now - d;
	return true;
}

/* --for of a command: a DURATION in [lo, hi]. */
static int need_duration(const struct args *a, long long lo, long long hi, long long *out)
{
	char e[ESC_CAP], l[32], h[32];
	const char *s = a->opt[O_FOR];

	if (!s)
		return fail(TW_EXIT_USAGE, "%s: --for DURATION is required", a->name);
	if (!parse_duration(s, out))
		return fail(TW_EXIT_USAGE, "%s: --for \"%s\": expected a duration like 90s, 30m, 1h, 2d, 1w or seconds",
			    a->name, esc_arg(e, sizeof(e), s));
	if (*out < lo || *out > hi)
		return fail(TW_EXIT_USAGE, "%s: --for: from %s to %s", a->name, fmt_span(l, lo), fmt_span(h, hi));
	return 0;
}

/* The actor of a change: the API's rule for it, with where it came from. */
static int need_actor(const struct cli *cli, const struct args *a)
{
	char what[64];

	snprintf(what, sizeof(what), "the actor (%s)", cli->actor_from);
	return need_text(a, what, cli->actor, ACTOR_MAX);
}

/* ---- output helpers ---------------------------------------------------------------- */

static void kv(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void kv(const char *key, const char *fmt, ...)
{
	va_list ap;

	printf("%-13s", key);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* A whitelist record's limits: exempt (null or absent), or scaled thresholds. */
static const char *limits_text(char out[ESC_CAP], const json_t *rec)
{
	const json_t *l = json_object_get(rec, "limits"), *s = json_object_get(l, "scale");
	char n[ESC_CAP];

	if (!l || json_is_null(l))
		return strcpy(out, "exempt");
	if (json_is_number(s)) {
		snprintf(out, ESC_CAP, "scale %s", jtext(n, s, 20));
		return out;
	}
	return jtext(out, l, 60);
}

static const char *expires_text(char out[32], const json_t *rec)
{
	return jint(rec, "expires") == 0 ? "never" : fmt_time(out, jint(rec, "expires"));
}

/* The text of a string array, each capped, joined by sep, at most max items. */
static const char *join_strings(char out[ESC_CAP], const json_t *arr, const char *sep, size_t max,
				size_t max_cols)
{
	size_t i, o = 0;
	const json_t *v;
	char one[ESC_CAP];

	out[0] = '\0';
	json_array_foreach(arr, i, v) {
		if (i == max || o + strlen(sep) + max_cols * 4 + 8 > ESC_CAP) {
			o += (size_t)snprintf(out + o, ESC_CAP - o, "%s(+%zu)", sep, json_array_size(arr) - i);
			break;
		}
		o += (size_t)snprintf(out + o, ESC_CAP - o, "%s%s", i ? sep : "", jtext(one, v, max_cols));
	}
	return o ? out : strcpy(out, "-");
}

/* ---- commands ------------------------------------------------------------------- */

static int run_status(const struct cli *cli, struct args *a)
{
	const json_t *ag, *vms, *rep, *v;
	char b1[ESC_CAP], b2[ESC_CAP], b3[ESC_CAP];
	const char *k;
	bool first = true;
	json_t *j;
	int rc = http_call(cli, EVHTTP_REQ_GET, "/v1/status", NULL, false, &j);

	if (rc)
		return rc;
	if (cli->json) {
		rc = print_json(j);
		goto out;
	}
	ag = json_object_get(j, "agents");
	vms = json_object_get(j, "vms");
	rep = json_object_get(j, "reports");
	kv("controller:", "%s (version %s, schema %lld, prefix %s)", js(b1, j, "controller", CELL_MAX),
	   js(b2, j, "version", 20), jint(j, "schema"), js(b3, j, "prefix", 40));
	kv("agents:", "%lld up of %lld", jint(ag, "up"), jint(ag, "total"));
	kv("vms:", "%lld known, %lld blocked, %lld alerting", jint(vms, "known"), jint(vms, "blocked"),
	   jint(vms, "alerting"));
	kv("whitelist:", "%lld entries", jint(j, "whitelist"));
	kv("decisions:", "%lld not yet acknowledged by every agent", jint(j, "pending_decisions"));
	/* the report counters, whichever the controller has */
	printf("%-13s", "reports:");
	json_object_foreach((json_t *)rep, k, v) {
		printf("%s%s %s", first ? "" : ", ", jtext(b1, v, 20), esc(b2, sizeof(b2), k, strlen(k), 40));
		first = false;
	}
	puts(first ? "-" : "");
out:
	json_decref(j);
	return rc;
}

/* vm show: recent evidence.  An entry is {"ts", "agent", "verdict"}, where
 * verdict is the agent's verdict object (doc/api.md shows it as a word:
 * both are understood). */
static void evidence_rows(struct table *t, const json_t *ev)
{
	char b[ESC_CAP], tm[32];
	const json_t *e;
	size_t i;

	table_add(t, "TIME"), table_add(t, "AGENT"), table_add(t, "VERDICT"), table_add(t, "RULES");
	table_add(t, "SUBJECTS");
	json_array_foreach(ev, i, e) {
		const json_t *v = json_object_get(e, "verdict"), *rules = json_object_get(v, "rules"), *r;
		char names[ESC_CAP] = "";
		size_t k, o = 0;

		if (i == EVIDENCE_SHOWN)
			break;
		table_add(t, fmt_time(tm, jint(e, "ts")));
		table_json(t, json_object_get(e, "agent"), 30);
		if (json_is_object(v)) {
			js(b, v, "verdict", 20);
			if (json_is_true(json_object_get(v, "observe_only")))
				strcat(b, " (observe-only)");
			table_add(t, b);
		} else {
			table_json(t, v, 20);
			rules = json_object_get(e, "rules");
		}
		json_array_foreach(rules, k, r) {
			const json_t *name = json_is_object(r) ? json_object_get(r, "name") : r;

			if (o + CELL_MAX * 4 + 8 > sizeof(names))
				break;
			o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s", k ? "," : "", jtext(b, name, 40));
		}
		table_add(t, o ? names : "-");
		/* subjects are the guests' own text: capped and escaped */
		table_add(t, join_strings(b, json_object_get(json_object_get(v, "evidence"), "subjects"), " | ", 3, 40));
	}
}

/* vm show: one history entry's fields other than ts, event and actor, as
 * key=value; times and *_s spans made readable. */
static const char *history_details(char out[ESC_CAP], const json_t *h, const char *actor_key)
{
	static const char *const skip[] = { "ts", "event", "decision", "reason" };
	char b[ESC_CAP];
	const json_t *v;
	const char *k;
	size_t o = 0;

	out[0] = '\0';
	if (json_is_string(json_object_get(h, "reason")))
		o += (size_t)snprintf(out, ESC_CAP, "\"%s\"", js(b, h, "reason", 100));
	json_object_foreach((json_t *)h, k, v) {
		char name[ESC_CAP], tm[32];
		const json_t *scale = json_object_get(v, "scale");
		const char *key = k, *val;             /* key: as shown */
		size_t kl = strlen(k);
		bool skipped = !strcmp(k, actor_key);

		for (size_t s = 0; s < sizeof(skip) / sizeof(skip[0]); s++)
			skipped |= !strcmp(k, skip[s]);
		if (skipped)
			continue;
		if (json_is_number(v) && (!strcmp(k, "until") || !strcmp(k, "expires") || !strcmp(k, "created"))) {
			val = !strcmp(k, "expires") && jint(h, k) == 0 ? "never" : fmt_time(tm, jint(h, k));
		} else if (json_is_number(v) && kl > 2 && !strcmp(k + kl - 2, "_s")) {
			val = fmt_span_word(tm, jint(h, k));    /* duration_s=3600 -> duration=1h0m */
			kl -= 2;
		} else if (!strcmp(k, "limits") && json_is_number(scale)) {
			val = jtext(b, scale, 20);
			key = "scale";
			kl = 5;
		} else if (!strcmp(k, "limits")) {
			val = limits_text(b, h);
		} else {
			val = jtext(b, v, 60);
		}
		esc(name, sizeof(name), key, kl, 30);
		if (o + strlen(name) + strlen(val) + 3 >= ESC_CAP)
			break;
		o += (size_t)snprintf(out + o, ESC_CAP - o, "%s%s=%s", o ? " " : "", name, val);
	}
	return o ? out : strcpy(out, "-");
}

static void history_rows(struct table *t, const json_t *hist)
{
	char b[ESC_CAP], tm[32];
	const json_t *h;
	size_t i;

	table_add(t, "TIME"), table_add(t, "EVENT"), table_add(t, "ACTOR"), table_add(t, "DETAILS");
	json_array_foreach(hist, i, h) {
		const char *actor_key = json_object_get(h, "actor") ? "actor" : "agent";

		if (i == HISTORY_SHOWN)
			break;
		table_add(t, fmt_time(tm, jint(h, "ts")));
		table_json(t, json_object_get(h, "event"), 30);
		table_json(t, json_object_get(h, actor_key), 40);
		table_add(t, history_details(b, h, actor_key));
	}
}

/* A small table under a heading, with how many entries it left out. */
static int section(const char *title, struct table *t, size_t total)
{
	int rc = 0;

	printf("\n%s:\n", title);
	if (rows(t) <= 1)
		puts("  none");
	else
		rc = table_print(t, "  ");
	if (!rc && total > rows(t) - 1)
		printf("  (%zu older: --json shows every one)\n", total - (rows(t) - 1));
	return rc;
}

static int run_vm_show(const struct cli *cli, struct args *a)
{
	char path[64], b1[ESC_CAP], b2[ESC_CAP], b3[ESC_CAP], t1[32], t2[32];
	const json_t *blk, *wl, *ev, *hist;
	struct table te, th;
	json_t *j;
	int rc;

	snprintf(path, sizeof(path), "/v1/vms/%s", a->uuid);
	if ((rc = http_call(cli, EVHTTP_REQ_GET, path, NULL, false, &j)))
		return rc;
	if (cli->json) {
		rc = print_json(j);
		json_decref(j);
		return rc;
	}
	blk = json_object_get(j, "block");
	wl = json_object_get(j, "whitelist");
	ev = json_object_get(j, "evidence");
	hist = json_object_get(j, "history");
	kv("vm:", "%s", js(b1, j, "uuid", 40));
	kv("name:", "%s", js(b1, j, "name", WIDE_MAX));
	kv("state:", "%s", js(b1, j, "state", 20));
	kv("hypervisor:", "%s (last seen %s)", js(b1, j, "hypervisor", CELL_MAX), fmt_time(t1, jint(j, "last_seen")));
	if (json_is_object(blk)) {
		kv("block:", "%s, %s left (until %s)", js(b1, blk, "origin", 20), fmt_span(t1, jint(blk, "remaining_s")),
		   fmt_time(t2, jint(blk, "until")));
		kv("  reason:", "%s", js(b1, blk, "reason", WIDE_MAX));
		kv("  by:", "%s, decision %s", js(b1, blk, "actor", CELL_MAX), js(b2, blk, "decision", 40));
		kv("  pending:", "%s", json_array_size(json_object_get(blk, "pending_agents")) ?
		   join_strings(b1, json_object_get(blk, "pending_agents"), ",", 50, 40) : "none (every agent applied it)");
	} else {
		kv("block:", "none");
	}
	if (json_is_object(wl)) {
		long long ex = jint(wl, "expires");

		kv("whitelist:", "customer %s, ticket %s, approved by %s", js(b1, wl, "customer", CELL_MAX),
		   js(b2, wl, "ticket", CELL_MAX), js(b3, wl, "approver", CELL_MAX));
		kv("  expires:", "%s%s", expires_text(t1, wl), ex > 0 && ex <= (long long)a->now ? " (expired)" : "");
		kv("  limits:", "%s", limits_text(b1, wl));
	} else {
		kv("whitelist:", "no");
	}
	if (jint(j, "last_offence") > 0)
		kv("offences:", "%lld (last %s)", jint(j, "offences"), fmt_time(t1, jint(j, "last_offence")));
	else
		kv("offences:", "%lld", jint(j, "offences"));
	table_init(&te, 5);
	table_init(&th, 4);
	evidence_rows(&te, ev);
	history_rows(&th, hist);
	rc = section("recent evidence (newest first)", &te, json_array_size(ev));
	if (!rc)
		rc = section("history (newest first)", &th, json_array_size(hist));
	table_fini(&te);
	table_fini(&th);
	json_decref(j);
	return rc;
}

static int run_blocks(const struct cli *cli, struct args *a)
{
	const json_t *list, *b;
	char tm[32];
	struct table t;
	size_t i;
	json_t *j;
	int rc;

	if ((rc = http_call(cli, EVHTTP_REQ_GET, "/v1/blocks", NULL, false, &j)))
		return rc;
	if (cli->json || !(list = answer_list(cli, j, "blocks"))) {
		rc = cli->json ? print_json(j) : TW_EXIT_ERROR;
		json_decref(j);
		return rc;
	}
	table_init(&t, 6);
	table_add(&t, "UUID"), table_add(&t, "NAME"), table_add(&t, "REMAINING"), table_add(&t, "ORIGIN");
	table_add(&t, "REASON"), table_add(&t, "PENDING");
	json_array_foreach(list, i, b) {
		table_json(&t, json_object_get(b, "uuid"), 40);
		table_json(&t, json_object_get(b, "name"), 30);
		table_add(&t, fmt_span(tm, jint(b, "remaining_s")));
		table_json(&t, json_object_get(b, "origin"), 20);
		table_json(&t, json_object_get(b, "reason"), CELL_MAX);
		table_json(&t, json_object_get(b, "pending_agents"), CELL_MAX);
	}
	if (rows(&t) <= 1)
		puts("no blocks");
	else
		rc = table_print(&t, "");
	table_fini(&t);
	json_decref(j);
	return rc;
}

static int run_block(const struct cli *cli, struct args *a)
{
	char b1[ESC_CAP], b2[ESC_CAP], t1[32], t2[32];
	long long d;
	json_t *body, *j;
	int rc;

	if ((rc = need_duration(a, BLOCK_MIN_S, BLOCK_MAX_S, &d)) ||
	    (rc = need_text(a, "--reason", a->opt[O_REASON], REASON_MAX)) || (rc = need_actor(cli, a)))
		return rc;
	body = json_pack("{s:s, s:I, s:s, s:s}", "uuid", a->uuid, "duration_s", (json_int_t)d, "reason",
			 a->opt[O_REASON], "actor", cli->actor);
	if (!body)
		return fail(TW_EXIT_ERROR, "out of memory");
	rc = http_call(cli, EVHTTP_REQ_POST, "/v1/blocks", body, true, &j);
	json_decref(body);
	if (rc)
		return rc;
	if (cli->json) {
		rc = print_json(j);
	} else {
		const json_t *pending = json_object_get(j, "pending_agents");

		/* a longer block stays as it is: the answer is that block */
		if (jint(j, "until") > (long long)a->now + d + 5)
			printf("already blocked until %s (%s, longer than asked): unchanged, decision %s\n",
			       fmt_time(t1, jint(j, "until")), fmt_span(t2, jint(j, "remaining_s")), js(b1, j, "decision", 40));
		else
			printf("blocked %s until %s (%s), decision %s\n", a->uuid, fmt_time(t1, jint(j, "until")),
			       fmt_span(t2, jint(j, "remaining_s")), js(b1, j, "decision", 40));
		if (json_array_size(pending))
			printf("not yet applied by: %s\n", join_strings(b2, pending, ", ", 50, 40));
	}
	json_decref(j);
	return rc;
}

/* unblock and whitelist revoke: DELETE with {"reason", "actor"}. */
static int run_delete(const struct cli *cli, struct args *a, const char *what, const char *done)
{
	char path[64], b[ESC_CAP];
	json_t *body, *j;
	int rc;

	if ((rc = need_text(a, "--reason", a->opt[O_REASON], REASON_MAX)) || (rc = need_actor(cli, a)))
		return rc;
	snprintf(path, sizeof(path), "/v1/%s/%s", what, a->uuid);
	body = json_pack("{s:s, s:s}", "reason", a->opt[O_REASON], "actor", cli->actor);
	if (!body)
		return fail(TW_EXIT_ERROR, "out of memory");
	rc = http_call(cli, EVHTTP_REQ_DELETE, path, body, true, &j);
	json_decref(body);
	if (rc)
		return rc;
	if (cli->json)
		rc = print_json(j);
	else
		printf("%s %s, decision %s\n", done, a->uuid, js(b, j, "decision", 40));
	json_decref(j);
	return rc;
}

static int run_unblock(const struct cli *cli, struct args *a)
{
	return run_delete(cli, a, "blocks", "unblocked");
}

static int run_wl_revoke(const struct cli *cli, struct args *a)
{
	return run_delete(cli, a, "whitelist", "revoked the whitelist entry of");
}

static int run_wl_list(const struct cli *cli, struct args *a)
{
	const json_t *list, *e;
	char b[ESC_CAP], tm[32];
	struct table t;
	size_t i;
	json_t *j;
	int rc;

	if ((rc = http_call(cli, EVHTTP_REQ_GET, "/v1/whitelist", NULL, false, &j)))
		return rc;
	if (cli->json || !(list = answer_list(cli, j, "entries"))) {
		rc = cli->json ? print_json(j) : TW_EXIT_ERROR;
		json_decref(j);
		return rc;
	}
	table_init(&t, 6);
	table_add(&t, "UUID"), table_add(&t, "CUSTOMER"), table_add(&t, "TICKET"), table_add(&t, "APPROVER");
	table_add(&t, "EXPIRES"), table_add(&t, "LIMITS");
	json_array_foreach(list, i, e) {
		table_json(&t, json_object_get(e, "uuid"), 40);
		table_json(&t, json_object_get(e, "customer"), 30);
		table_json(&t, json_object_get(e, "ticket"), 30);
		table_json(&t, json_object_get(e, "approver"), 30);
		table_add(&t, expires_text(tm, e));
		table_add(&t, limits_text(b, e));
	}
	if (rows(&t) <= 1)
		puts("no whitelist entries");
	else
		rc = table_print(&t, "");
	table_fini(&t);
	json_decref(j);
	return rc;
}

static int run_wl_show(const struct cli *cli, struct args *a)
{
	char path[64], b[ESC_CAP], tm[32];
	json_t *j;
	int rc;

	snprintf(path, sizeof(path), "/v1/whitelist/%s", a->uuid);
	if ((rc = http_call(cli, EVHTTP_REQ_GET, path, NULL, false, &j)))
		return rc;
	if (cli->json) {
		rc = print_json(j);
	} else {
		long long ex = jint(j, "expires");

		kv("vm:", "%s", js(b, j, "uuid", 40));
		kv("customer:", "%s", js(b, j, "customer", WIDE_MAX));
		kv("ticket:", "%s", js(b, j, "ticket", WIDE_MAX));
		kv("approver:", "%s", js(b, j, "approver", WIDE_MAX));
		kv("reason:", "%s", js(b, j, "reason", WIDE_MAX));
		kv("created:", "%s", fmt_time(tm, jint(j, "created")));
		kv("expires:", "%s%s", expires_text(tm, j), ex > 0 && ex <= (long long)a->now ? " (expired)" : "");
		if (json_is_object(json_object_get(j, "limits")))
			kv("limits:", "%s (count thresholds multiplied; not exempt)", limits_text(b, j));
		else
			kv("limits:", "none: exempt from automatic blocks");
	}
	json_decref(j);
	return rc;
}

static int run_wl_add(const struct cli *cli, struct args *a)
{
	char b1[ESC_CAP], b2[ESC_CAP], e[ESC_CAP], tm[32];
	long long d = 0, expires = -1, scale = 0;
	json_t *body, *j;
	int rc;

	if ((rc = need_text(a, "--customer", a->opt[O_CUSTOMER], CUSTOMER_MAX)) ||
	    (rc = need_text(a, "--ticket", a->opt[O_TICKET], TICKET_MAX)) ||
	    (rc = need_text(a, "--reason", a->opt[O_REASON], REASON_MAX)))
		return rc;
	if (a->opt[O_FOR] && a->opt[O_EXPIRES])
		return fail(TW_EXIT_USAGE, "%s: give --for or --expires, not both", a->name);
	if (a->opt[O_FOR] && (rc = need_duration(a, BLOCK_MIN_S, WL_MAX_S, &d)))
		return rc;
	if (a->opt[O_EXPIRES] && strcmp(a->opt[O_EXPIRES], "never") &&
	    (!parse_ll(a->opt[O_EXPIRES], 0, 4LL * UINT32_MAX, &expires) || (expires && expires <= (long long)a->now)))
		return fail(TW_EXIT_USAGE, "%s: --expires \"%s\": expected a future time in seconds since the epoch, or never",
			    a->name, esc_arg(e, sizeof(e), a->opt[O_EXPIRES]));
	if (a->opt[O_EXPIRES] && !strcmp(a->opt[O_EXPIRES], "never"))
		expires = 0;
	if (a->opt[O_SCALE] && !parse_ll(a->opt[O_SCALE], SCALE_MIN, SCALE_MAX, &scale))
		return fail(TW_EXIT_USAGE, "%s: --scale \"%s\": expected a whole number from %d to %d", a->name,
			    esc_arg(e, sizeof(e), a->opt[O_SCALE]), SCALE_MIN, SCALE_MAX);
	if ((rc = need_actor(cli, a)))
		return rc;
	body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "uuid", a->uuid, "customer", a->opt[O_CUSTOMER], "ticket",
			 a->opt[O_TICKET], "reason", a->opt[O_REASON], "actor", cli->actor);
	if (body && d && json_object_set_new(body, "duration_s", json_integer(d)))
		json_decref(body), body = NULL;
	if (body && expires >= 0 && json_object_set_new(body, "expires", json_integer(expires)))
		json_decref(body), body = NULL;
	if (body && json_object_set_new(body, "limits", scale ? json_pack("{s:I}", "scale", (json_int_t)scale) : json_null()))
		json_decref(body), body = NULL;
	if (!body)
		return fail(TW_EXIT_ERROR, "out of memory");
	rc = http_call(cli, EVHTTP_REQ_POST, "/v1/whitelist", body, true, &j);
	json_decref(body);
	if (rc)
		return rc;
	if (cli->json)
		rc = print_json(j);
	else
		printf("whitelisted %s: customer %s, ticket %s, expires %s, limits %s\n", a->uuid,
		       js(b1, j, "customer", CELL_MAX), js(b2, j, "ticket", CELL_MAX), expires_text(tm, j),
		       limits_text(e, j));
	json_decref(j);
	return rc;
}

static int run_agents(const struct cli *cli, struct args *a)
{
	const json_t *list, *ag;
	char tm[32], n[24];
	struct table t;
	size_t i;
	json_t *j;
	int rc;

	if ((rc = http_call(cli, EVHTTP_REQ_GET, "/v1/agents", NULL, false, &j)))
		return rc;
	if (cli->json || !(list = answer_list(cli, j, "agents"))) {
		rc = cli->json ? print_json(j) : TW_EXIT_ERROR;
		json_decref(j);
		return rc;
	}
	table_init(&t, 5);
	table_add(&t, "ID"), table_add(&t, "VERSION"), table_add(&t, "HEARTBEAT-AGE"), table_add(&t, "UP");
	table_add(&t, "PENDING");
	json_array_foreach(list, i, ag) {
		long long age = -1;

		table_json(&t, json_object_get(ag, "id"), 40);
		table_json(&t, json_object_get(ag, "version"), 20);
		table_add(&t, jnum(ag, "heartbeat_age_s", &age) && age >= 0 ? fmt_span(tm, age) : "never");
		table_add(&t, json_is_true(json_object_get(ag, "up")) ? "yes" : "NO");
		snprintf(n, sizeof(n), "%lld", jint(ag, "pending"));
		table_add(&t, n);
	}
	if (rows(&t) <= 1)
		puts("no agents");
	else
		rc = table_print(&t, "");
	table_fini(&t);
	json_decref(j);
	return rc;
}

static int run_audit(const struct cli *cli, struct args *a)
{
	char path[512], vm[37], e[ESC_CAP], tm[32];
	long long since = 0, till = 0, limit = 100;
	const json_t *list, *en;
	struct table t;
	size_t i, o;
	json_t *j;
	int rc;

	if (a->opt[O_VM] && (rc = need_uuid(a, "--vm ", a->opt[O_VM], vm)))
		return rc;
	if (a->opt[O_ACTOR] && (rc = need_text(a, "--actor", a->opt[O_ACTOR], ACTOR_MAX)))
		return rc;
	if (a->opt[O_SINCE] && !parse_when(a->opt[O_SINCE], a->now, &since))
		return fail(TW_EXIT_USAGE, "%s: --since \"%s\": expected epoch seconds, YYYY-MM-DDTHH:MM:SSZ or a duration ago like 1h",
			    a->name, esc_arg(e, sizeof(e), a->opt[O_SINCE]));
	if (a->opt[O_UNTIL] && !parse_when(a->opt[O_UNTIL], a->now, &till))
		return fail(TW_EXIT_USAGE, "%s: --until \"%s\": expected epoch seconds, YYYY-MM-DDTHH:MM:SSZ or a duration ago like 1h",
			    a->name, esc_arg(e, sizeof(e), a->opt[O_UNTIL]));
	if (since && till && since > till)
		return fail(TW_EXIT_USAGE, "%s: --since is later than --until", a->name);
	if (a->opt[O_LIMIT] && !parse_ll(a->opt[O_LIMIT], 1, AUDIT_LIMIT_MAX, &limit))
		return fail(TW_EXIT_USAGE, "%s: --limit: expected 1 to %d", a->name, AUDIT_LIMIT_MAX);
	o = (size_t)snprintf(path, sizeof(path), "/v1/audit?limit=%lld", limit);
	if (a->opt[O_VM])
		o += (size_t)snprintf(path + o, sizeof(path) - o, "&vm=%s", vm);
	if (a->opt[O_ACTOR]) {
		char *enc = evhttp_uriencode(a->opt[O_ACTOR], -1, 0);

		if (!enc)
			return fail(TW_EXIT_ERROR, "out of memory");
		o += (size_t)snprintf(path + o, sizeof(path) - o, "&actor=%s", enc);
		free(enc);
	}
	if (since)
		o += (size_t)snprintf(path + o, sizeof(path) - o, "&since=%lld", since);
	if (till)
		snprintf(path + o, sizeof(path) - o, "&until=%lld", till);
	if ((rc = http_call(cli, EVHTTP_REQ_GET, path, NULL, false, &j)))
		return rc;
	if (cli->json || !(list = answer_list(cli, j, "entries"))) {
		rc = cli->json ? print_json(j) : TW_EXIT_ERROR;
		json_decref(j);
		return rc;
	}
	table_init(&t, 5);
	table_add(&t, "TIME"), table_add(&t, "ACTOR"), table_add(&t, "ACTION"), table_add(&t, "VM");
	table_add(&t, "REASON");
	json_array_foreach(list, i, en) {
		const json_t *v = json_object_get(en, "vm");

		table_add(&t, fmt_time(tm, jint(en, "ts")));
		table_json(&t, json_object_get(en, "actor"), 40);
		table_json(&t, json_object_get(en, "action"), 30);
		table_json(&t, json_string_length(v) ? v : NULL, 40);
		table_json(&t, json_object_get(en, "reason"), WIDE_MAX);
	}
	if (rows(&t) <= 1)
		puts("no audit entries");
	else
		rc = table_print(&t, "");
	table_fini(&t);
	json_decref(j);
	return rc;
}

/* ---- command line ----------------------------------------------------------------- */

static const struct command commands[] = {
	{ "status", NULL, "status", false, 0, run_status },
	{ "vm", "show", "vm show UUID", true, 0, run_vm_show },
	{ "blocks", "list", "blocks list", false, 0, run_blocks },
	{ "block", NULL, "block UUID --for DURATION --reason TEXT", true, OPT(O_FOR) | OPT(O_REASON), run_block },
	{ "unblock", NULL, "unblock UUID --reason TEXT", true, OPT(O_REASON), run_unblock },
	{ "whitelist", "list", "whitelist list", false, 0, run_wl_list },
	{ "whitelist", "show", "whitelist show UUID", true, 0, run_wl_show },
	{ "whitelist", "add",
	  "whitelist add UUID --customer C --ticket T --reason R [--for DURATION | --expires EPOCH] [--scale N]", true,
	  OPT(O_CUSTOMER) | OPT(O_TICKET) | OPT(O_REASON) | OPT(O_FOR) | OPT(O_EXPIRES) | OPT(O_SCALE), run_wl_add },
	{ "whitelist", "revoke", "whitelist revoke UUID --reason R", true, OPT(O_REASON), run_wl_revoke },
	{ "agents", NULL, "agents", false, 0, run_agents },
	{ "audit", NULL, "audit [--vm UUID] [--actor NAME] [--since WHEN] [--until WHEN] [--limit N]", false,
	  OPT(O_VM) | OPT(O_ACTOR) | OPT(O_SINCE) | OPT(O_UNTIL) | OPT(O_LIMIT), run_audit },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f,
"usage: twctl [--controller URL] [--json] [--actor NAME] [--timeout S] COMMAND ...\n"
"\n"
"The operators' command line for the tapwarden controller (HTTP API v1).\n"
"\n"
"  status                           installation summary\n"
"  vm show UUID                     state, block, whitelist, offences, evidence, history\n"
"  blocks list                      active blocks, soonest expiry first\n"
"  block UUID --for DURATION --reason TEXT\n"
"                                   manual block (also of a whitelisted VM)\n"
"  unblock UUID --reason TEXT       lift a block now\n"
"  whitelist list\n"
"  whitelist show UUID\n"
"  whitelist add UUID --customer C --ticket T --reason R\n"
"                [--for DURATION | --expires EPOCH] [--scale N]\n"
"                                   approve a bulk sender: exempt, or with\n"
"                                   count thresholds multiplied by N (2..1000)\n"
"  whitelist revoke UUID --reason R\n"
"  agents                           heartbeat, version, unacknowledged commands\n"
"  audit [--vm UUID] [--actor NAME] [--since WHEN] [--until WHEN] [--limit N]\n"
"                                   who did what, newest first (N 1..1000, default 100)\n"
"\n"
"      --controller URL  http://HOST[:PORT][/BASE] (default $TWCTL_CONTROLLER, else\n"
"                        " TWCTL_DEFAULT_URL "); http only: reach a remote controller\n"
"                        through a local ssh or stunnel tunnel\n"
"      --json            print the API's JSON answer, indented (also after COMMAND)\n"
"      --actor NAME      who makes the change, for the audit (default $TWCTL_ACTOR,\n"
"                        else $SUDO_USER, else $USER)\n"
"      --timeout S       give up after S seconds (default 10)\n"
"  -h, --help            this text\n"
"      --version         print the version\n"
"\n"
"DURATION: 90s, 30m, 1h, 2d, 1w, 1h30m, or plain seconds.  WHEN: epoch seconds,\n"
"YYYY-MM-DDTHH:MM:SSZ, or a duration meaning that long ago (--since 24h).\n"
"Reasons: 1 to 500 bytes.  UUIDs: libvirt domain UUIDs, 8-4-4-4-12 hex digits.\n"
"Exit status: 0 ok, 1 the controller answered with an error, 2 usage error,\n"
"3 cannot reach the controller, 4 no such VM or entry.  See twctl(1).\n");
}

/*
 * Parse one command's words, UUID and options (argv[0] is its first
 * word; argv is permuted by getopt) into a, after checking that only the
 * command's own options were given, each once.  *cmd gets the command.
 * 0 or a usage error, printed.
 */
static int parse_command(struct cli *cli, int argc, char **argv, const struct command **cmd, struct args *a)
{
	const struct command *c = NULL;
	char e[ESC_CAP], words[160] = "";
	bool known = false;
	int skip = 1, opt;

	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(argv[0], commands[i].word1))
			continue;
		known = true;
		if (!commands[i].word2) {
			c = &commands[i];
			break;
		}
		snprintf(words + strlen(words), sizeof(words) - strlen(words), "%s%s", words[0] ? ", " : "",
			 commands[i].word2);
		if (argc > 1 && !strcmp(argv[1], commands[i].word2)) {
			c = &commands[i];
			skip = 2;
			break;
		}
	}
	if (!known)
		return fail(TW_EXIT_USAGE, "unknown command \"%s\" (see twctl --help)", esc_arg(e, sizeof(e), argv[0]));
	if (!c)
		return fail(TW_EXIT_USAGE, "%s: expected %s (see twctl --help)", argv[0], words);
	snprintf(a->name, sizeof(a->name), "%s%s%s", c->word1, c->word2 ? " " : "", c->word2 ? c->word2 : "");
	argc -= skip - 1;
	argv += skip - 1;            /* argv[0]: the last word, skipped by getopt */
	optind = 0;                  /* GNU: start over, permuting */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", cmd_lopts, NULL)) != -1) {
		unsigned o = (unsigned)opt - 256;

		if (opt == '?')
			return fail(TW_EXIT_USAGE, "%s: unknown option \"%s\" (usage: twctl %s)", a->name,
				    esc_arg(e, sizeof(e), argv[optind - 1]), c->usage);
		if (opt == ':')
			return fail(TW_EXIT_USAGE, "%s: %s needs a value (usage: twctl %s)", a->name,
				    esc_arg(e, sizeof(e), argv[optind - 1]), c->usage);
		if (o == O_JSON) {
			cli->json = true;
			continue;
		}
		if (!(c->opts & OPT(o)))
			return fail(TW_EXIT_USAGE, "%s: --%s is not an option of this command (usage: twctl %s)", a->name,
				    cmd_lopts[o].name, c->usage);
		if (a->opt[o])
			return fail(TW_EXIT_USAGE, "%s: --%s given twice", a->name, cmd_lopts[o].name);
		a->opt[o] = optarg;
	}
	if (c->takes_uuid) {
		int rc;

		if (optind >= argc)
			return fail(TW_EXIT_USAGE, "%s: missing UUID (usage: twctl %s)", a->name, c->usage);
		a->uuid_arg = argv[optind++];
		if ((rc = need_uuid(a, "", a->uuid_arg, a->uuid)))
			return rc;
	}
	if (optind < argc)
		return fail(TW_EXIT_USAGE, "%s: unexpected argument \"%s\" (usage: twctl %s)", a->name,
			    esc_arg(e, sizeof(e), argv[optind]), c->usage);
	*cmd = c;
	return 0;
}

/*
 * Split cli->url, "http://HOST[:PORT][/BASE]" (HOST a name, an IPv4
 * address or [IPv6]), into host, Host header, port and base path.
 * 0 or a usage error, printed.
 */
static int parse_url(struct cli *cli)
{
	const char *u = cli->url, *p, *end, *host, *colon = NULL;
	char e[ESC_CAP];
	size_t hl;
	long long port = 80;

	if (!strncasecmp(u, "https://", 8))
		return fail(TW_EXIT_USAGE, "%s %s: https is not supported; reach the controller through a local TLS "
			    "tunnel (stunnel, ssh -L) and give its http:// address (see twctl(1))", cli->url_from,
			    esc_arg(e, sizeof(e), u));
	if (strncasecmp(u, "http://", 7))
		goto bad;
	p = u + 7;
	end = p + strcspn(p, "/");
	if (memchr(p, '@', (size_t)(end - p)) || strpbrk(u, "?# \t"))
		goto bad;
	host = p;
	if (*p == '[') {
		const char *close = memchr(p, ']', (size_t)(end - p));

		if (!close || (close + 1 != end && close[1] != ':'))
			goto bad;
		host = p + 1;
		hl = (size_t)(close - host);
		colon = close + 1 != end ? close + 1 : NULL;
		for (size_t i = 0; i < hl; i++)
			if (!strchr("0123456789abcdefABCDEF:.", host[i]))
				goto bad;
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
		hl = (size_t)((colon ? colon : end) - host);
		for (size_t i = 0; i < hl; i++)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-", host[i]))
				goto bad;
	}
	if (!hl || hl >= sizeof(cli->host) || (size_t)(end - p) >= sizeof(cli->host_hdr) - 8)
		goto bad;
	if (colon) {
		char num[8];
		size_t nl = (size_t)(end - colon - 1);

		if (!nl || nl >= sizeof(num))
			goto bad;
		memcpy(num, colon + 1, nl);
		num[nl] = '\0';
		if (!parse_ll(num, 1, 65535, &port))
			goto bad;
	}
	memcpy(cli->host, host, hl);
	cli->host[hl] = '\0';
	memcpy(cli->host_hdr, p, (size_t)(end - p));
	cli->host_hdr[end - p] = '\0';
	cli->port = (uint16_t)port;
	hl = strlen(end);
	while (hl && end[hl - 1] == '/')
		hl--;
	if (hl >= sizeof(cli->base))
		goto bad;
	for (size_t i = 0; i < hl; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/-._~", end[i]))
			goto bad;
	memcpy(cli->base, end, hl);
	cli->base[hl] = '\0';
	return 0;
bad:
	return fail(TW_EXIT_USAGE, "%s %s: expected http://HOST[:PORT][/BASE]", cli->url_from, esc_arg(e, sizeof(e), u));
}

/* The first of the environment variables that is set and not empty. */
static const char *env_first(const char *const *names, const char **which)
{
	for (; *names; names++) {
		const char *v = getenv(*names);

		if (v && *v) {
			*which = *names;
			return v;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	enum { G_CONTROLLER = 256, G_JSON, G_ACTOR, G_TIMEOUT, G_VERSION };
	static const struct option lopts[] = {
		{ "controller", required_argument, NULL, G_CONTROLLER },
		{ "json", no_argument, NULL, G_JSON },
		{ "actor", required_argument, NULL, G_ACTOR },
		{ "timeout", required_argument, NULL, G_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, G_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const actor_env[] = { "TWCTL_ACTOR", "SUDO_USER", "USER", NULL };
	static const char *const url_env[] = { "TWCTL_CONTROLLER", NULL };
	struct cli cli = { .timeout_s = 10, .url = TWCTL_DEFAULT_URL, .url_from = "--controller",
			   .actor = "unknown", .actor_from = "default" };
	const struct command *cmd = NULL;
	struct args a = { 0 };
	const char *env;
	char e[ESC_CAP];
	long long v;
	int opt, rc;

	if ((env = env_first(url_env, &cli.url_from)))
		cli.url = env;
	if ((env = env_first(actor_env, &cli.actor_from)))
		cli.actor = env;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", lopts, NULL)) != -1) {
		switch (opt) {
		case G_CONTROLLER: cli.url = optarg; cli.url_from = "--controller"; break;
		case G_JSON: cli.json = true; break;
		case G_ACTOR: cli.actor = optarg; cli.actor_from = "--actor"; break;
		case G_TIMEOUT:
			if (!parse_ll(optarg, 1, 3600, &v))
				return fail(TW_EXIT_USAGE, "--timeout \"%s\": expected 1 to 3600 seconds",
					    esc_arg(e, sizeof(e), optarg));
			cli.timeout_s = (int)v;
			break;
		case 'h': usage(stdout); return TW_EXIT_OK;
		case G_VERSION: puts("twctl " TWCTL_VERSION); return TW_EXIT_OK;
		case ':':
			return fail(TW_EXIT_USAGE, "%s needs a value (see twctl --help)",
				    esc_arg(e, sizeof(e), argv[optind - 1]));
		default:
			return fail(TW_EXIT_USAGE, "unknown option \"%s\" (see twctl --help)",
				    esc_arg(e, sizeof(e), argv[optind - 1]));
		}
	}
	if (optind >= argc)
		return fail(TW_EXIT_USAGE, "no command given (see twctl --help)");
	if ((rc = parse_url(&cli)) || (rc = parse_command(&cli, argc - optind, argv + optind, &cmd, &a)))
		return rc;
	a.now = time(NULL);
	rc = cmd->run(&cli, &a);
	if (fflush(stdout) != 0 || ferror(stdout))
		return rc ? rc : fail(TW_EXIT_ERROR, "cannot write the output: %s", strerror(errno));
	return rc;
}
