/* SPDX-License-Identifier: MIT */
/*
 * metrics: a Prometheus text-format (0.0.4) endpoint on libevent's evhttp
 * (agent process, event-loop side).  The server answers GET /metrics by
 * calling the owner's render callback, which writes families and samples
 * with the helpers below; it knows nothing about what is measured.  Label
 * values are escaped (backslash, double quote, newline), so names that come
 * from libvirt or guests cannot break the format.
 */
#ifndef TAPWARDEN_METRICS_H
#define TAPWARDEN_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct metrics_server;

/* Write every metric to b (borrowed for the call). */
typedef void (*metrics_render_cb)(void *ctx, struct evbuffer *b);

/*
 * Listen on addr ("HOST:PORT", "[V6]:PORT" or ":PORT" for every address)
 * in base (borrowed).  render and ctx are borrowed for the server's life.
 * Returns 0 and *out (owned, metrics_server_free), or -EINVAL (bad
 * address, message in err), -EADDRINUSE / -EIO (cannot bind).
 */
int metrics_server_new(struct event_base *base, const char *addr, metrics_render_cb render,
		       void *ctx, struct metrics_server **out, char *err, size_t cap);
/* Requests answered so far. */
uint64_t metrics_server_requests(const struct metrics_server *s);
void metrics_server_free(struct metrics_server *s);

/* "# HELP name help\n# TYPE name type\n"; type is "counter" or "gauge". */
void metrics_family(struct evbuffer *b, const char *name, const char *type, const char *help);

/* Up to this many label pairs per sample. */
#define METRICS_MAX_LABELS 4
struct metrics_label {
	const char *key;             /* [a-zA-Z_][a-zA-Z0-9_]*, not checked */
	const char *value;           /* any bytes, escaped */
};
/* "name{k="v",...} value\n"; n labels (0..METRICS_MAX_LABELS). */
void metrics_sample(struct evbuffer *b, const char *name, const struct metrics_label *l,
		    size_t n, double value);
void metrics_sample_u64(struct evbuffer *b, const char *name, const struct metrics_label *l,
			size_t n, uint64_t value);

#endif
