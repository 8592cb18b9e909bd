/* SPDX-License-Identifier: MIT */
/*
 * feed: GET /v1/events, the live event feed as Server-Sent Events
 * (controller process).  The events come from tw.lua's poll (the events
 * stream in Redis); the last CTL_RING are held here so a client that
 * reconnects with Last-Event-ID misses nothing that is still held.  A
 * client that stops reading is dropped once CTL_FEED_BACKLOG bytes wait
 * for it: one slow browser must not grow the controller's memory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>

#include "ctl.h"
#include "log.h"

#define CTL_FEED_BACKLOG (1024 * 1024)
#define CTL_FEED_FIRST 50           /* events a new client gets when it names none */

struct feed_client {
	struct feed_client *next;
	struct ctl *c;
	struct evhttp_request *req;
};

static void client_unlink(struct ctl *c, struct feed_client *fc)
{
	for (struct feed_client **pp = &c->feed; *pp; pp = &(*pp)->next) {
		if (*pp == fc) {
			*pp = fc->next;
			c->n_feed--;
			return;
		}
	}
}

static void on_client_close(struct evhttp_connection *evcon, void *arg)
{
	struct feed_client *fc = arg;

	client_unlink(fc->c, fc);
	free(fc);
}

/* Stream ids "ms-seq": a before b. */
static bool id_before(const char *a, const char *b)
{
	unsigned long long am = 0, as = 0, bm = 0, bs = 0;

	sscanf(a, "%llu-%llu", &am, &as);
	sscanf(b, "%llu-%llu", &bm, &bs);
	return am < bm || (am == bm && as < bs);
}

static void write_event(struct evbuffer *b, const struct feed_event *e)
{
	evbuffer_add_printf(b, "id: %s\nevent: %s\ndata: %s\n\n", e->id, e->type, e->json);
}

/* Send b to the client, or drop the client when too much waits for it. */
static bool client_send(struct feed_client *fc, struct evbuffer *b)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(fc->req);
	struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;

	if (bev && evbuffer_get_length(bufferevent_get_output(bev)) > CTL_FEED_BACKLOG) {
		log_warn("api: event feed client too slow, dropped");
		evhttp_connection_set_closecb(evcon, NULL, NULL);
		client_unlink(fc->c, fc);
		evhttp_send_reply_end(fc->req);
		free(fc);
		return false;
	}
	evhttp_send_reply_chunk(fc->req, b);
	return true;
}

void feed_push(struct ctl *c, const char *id, const char *type, const char *json, bool broadcast)
{
	struct feed_event *e = &c->ring[(c->ring_head + c->ring_n) % CTL_RING];
	struct evbuffer *b;

	if (c->ring_n == CTL_RING) {
		e = &c->ring[c->ring_head];
		c->ring_head = (c->ring_head + 1) % CTL_RING;
		c->ring_n--;
	}
	free(e->json);
	e->json = strdup(json);
	if (!e->json)
		return;
	snprintf(e->id, sizeof(e->id), "%s", id);
	snprintf(e->type, sizeof(e->type), "%s", type);
	c->ring_n++;
	c->ctr.events++;
	if (!broadcast || !c->feed)
		return;
	b = evbuffer_new();
	if (!b)
		return;
	write_event(b, e);           /* formatted once, copied to each client */
	{
		size_t len = evbuffer_get_length(b);
		const unsigned char *text = evbuffer_pullup(b, -1);

		for (struct feed_client *fc = c->feed, *next; fc; fc = next) {
			struct evbuffer *out = evbuffer_new();

			next = fc->next;
			if (!out)
				break;
			evbuffer_add(out, text, len);
			client_send(fc, out);
			evbuffer_free(out);
		}
	}
	evbuffer_free(b);
}

int feed_open(struct ctl *c, struct evhttp_request *req, const char *last_id)
{
	struct feed_client *fc;
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b;
	size_t first = c->ring_n > CTL_FEED_FIRST ? c->ring_n - CTL_FEED_FIRST : 0;

	if (c->n_feed >= CTL_FEED_MAX)
		return -EBUSY;
	fc = calloc(1, sizeof(*fc));
	b = evbuffer_new();
	if (!fc || !b) {
		free(fc);
		if (b)
			evbuffer_free(b);
		return -ENOMEM;
	}
	fc->c = c;
	fc->req = req;
	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "X-Accel-Buffering", "no");     /* nginx: do not buffer the feed */
	evhttp_send_reply_start(req, 200, "OK");
	evbuffer_add_printf(b, "retry: 3000\n\n");
	if (last_id && *last_id) {
		first = c->ring_n;
		for (size_t i = 0; i < c->ring_n; i++) {
			if (id_before(last_id, c->ring[(c->ring_head + i) % CTL_RING].id)) {
				first = i;
				break;
			}
		}
	}
	for (size_t i = first; i < c->ring_n; i++)
		write_event(b, &c->ring[(c->ring_head + i) % CTL_RING]);
	evhttp_send_reply_chunk(req, b);
	evbuffer_free(b);
	fc->next = c->feed;
	c->feed = fc;
	c->n_feed++;
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_client_close, fc);
	return 0;
}

void feed_keepalive(struct ctl *c)
{
	struct evbuffer *b = evbuffer_new();

	if (!b)
		return;
	for (struct feed_client *fc = c->feed, *next; fc; fc = next) {
		next = fc->next;
		evbuffer_add(b, ": keepalive\n\n", 13);
		client_send(fc, b);
		evbuffer_drain(b, evbuffer_get_length(b));
	}
	evbuffer_free(b);
}

void feed_fini(struct ctl *c)
{
	while (c->feed) {
		struct feed_client *fc = c->feed;

		evhttp_connection_set_closecb(evhttp_request_get_connection(fc->req), NULL, NULL);
		c->feed = fc->next;
		evhttp_send_reply_end(fc->req);
		free(fc);
	}
	c->n_feed = 0;
	for (size_t i = 0; i < CTL_RING; i++) {
		free(c->ring[i].json);
		c->ring[i].json = NULL;
	}
	c->ring_n = c->ring_head = 0;
}
