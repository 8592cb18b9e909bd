/* SPDX-License-Identifier: MIT */
/*
 * metrics: Prometheus text endpoint on evhttp (agent process, main loop).
 * Only GET /metrics is served; every request is answered from the loop, so
 * the render callback sees a consistent state without locks.  Requests are
 * small and bounded (header and body size, a timeout).
 */
#include "metrics.h"
#include "netaddr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

struct metrics_server {
	struct evhttp *http;
	metrics_render_cb render;
	void *ctx;
	uint64_t requests;
};

/* A listening, non-blocking socket on a numeric host ("" = every address,
 * IPv6 and IPv4).  Not evhttp_bind_socket(): its getaddrinfo uses
 * AI_ADDRCONFIG, which refuses 127.0.0.1 in a namespace that has only
 * loopback.  fd or a negative errno. */
static int listen_socket(const char *host, uint16_t port)
{
	struct addrinfo hints, *ai = NULL;
	char pstr[8];
	int fd, one = 1, zero = 0, e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	snprintf(pstr, sizeof(pstr), "%u", port);
	if (getaddrinfo(host[0] ? host : "::", pstr, &hints, &ai) != 0 || !ai)
		return -EINVAL;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		freeaddrinfo(ai);
		return -e;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6 && !host[0])
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
		e = errno;
		close(fd);
		freeaddrinfo(ai);
		return -e;
	}
	freeaddrinfo(ai);
	return fd;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct metrics_server *s = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct evbuffer *b;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	if (!path || strcmp(path, "/metrics") != 0) {
		evhttp_send_error(req, 404, "Not Found");
		return;
	}
	b = evbuffer_new();
	if (!b) {
		evhttp_send_error(req, 500, "Out of memory");
		return;
	}
	s->requests++;
	s->render(s->ctx, b);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

int metrics_server_new(struct event_base *base, const char *addr, metrics_render_cb render,
		       void *ctx, struct metrics_server **out, char *err, size_t cap)
{
	char host[256];
	uint16_t port;
	struct metrics_server *s;

	*out = NULL;
	if (netaddr_parse(addr, host, sizeof(host), &port) < 0) {
		snprintf(err, cap, "expected HOST:PORT, [V6]:PORT or :PORT, got \"%s\"", addr);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->http = evhttp_new(base))) {
		free(s);
		snprintf(err, cap, "out of memory");
		return -ENOMEM;
	}
	s->render = render;
	s->ctx = ctx;
	evhttp_set_max_headers_size(s->http, 8192);
	evhttp_set_max_body_size(s->http, 1024);
	evhttp_set_timeout(s->http, 10);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_gencb(s->http, on_request, s);
	int fd = listen_socket(host, port);
	if (fd < 0 || !evhttp_accept_socket_with_handle(s->http, fd)) {
		int e = fd < 0 ? -fd : EIO;
		snprintf(err, cap, "cannot listen on %s: %s", addr, strerror(e));
		if (fd >= 0)
			close(fd);
		evhttp_free(s->http);
		free(s);
		return e == EADDRINUSE ? -EADDRINUSE : e == EINVAL ? -EINVAL : -EIO;
	}
	*out = s;
	return 0;
}

uint64_t metrics_server_requests(const struct metrics_server *s)
{
	return s->requests;
}

void metrics_server_free(struct metrics_server *s)
{
	if (!s)
		return;
	evhttp_free(s->http);
	free(s);
}

void metrics_family(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void add_labels(struct evbuffer *b, const struct metrics_label *l, size_t n)
{
	if (n == 0)
		return;
	evbuffer_add(b, "{", 1);
	for (size_t i = 0; i < n && i < METRICS_MAX_LABELS; i++) {
		if (i)
			evbuffer_add(b, ",", 1);
		evbuffer_add_printf(b, "%s=\"", l[i].key);
		for (const char *p = l[i].value ? l[i].value : ""; *p; p++) {
			if (*p == '\\')
				evbuffer_add(b, "\\\\", 2);
			else if (*p == '"')
				evbuffer_add(b, "\\\"", 2);
			else if (*p == '\n')
				evbuffer_add(b, "\\n", 2);
			else
				evbuffer_add(b, p, 1);
		}
		evbuffer_add(b, "\"", 1);
	}
	evbuffer_add(b, "}", 1);
}

void metrics_sample(struct evbuffer *b, const char *name, const struct metrics_label *l,
		    size_t n, double value)
{
	evbuffer_add_printf(b, "%s", name);
	add_labels(b, l, n);
	evbuffer_add_printf(b, " %.17g\n", value);
}

void metrics_sample_u64(struct evbuffer *b, const char *name, const struct metrics_label *l,
			size_t n, uint64_t value)
{
	evbuffer_add_printf(b, "%s", name);
	add_labels(b, l, n);
	evbuffer_add_printf(b, " %" PRIu64 "\n", value);
}
