/* SPDX-License-Identifier: MIT */
/*
 * output: session JSON lines in start order (agent process, offline mode).
 * A ring of serialised lines indexed by session sequence number holds the
 * sessions that finished before an earlier one.
 */
#include "output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"

struct waiting {
	char *line;       /* NULL: not finished yet */
	size_t len;
};

struct output {
	FILE *f;
	struct jsonw w;
	uint64_t next;            /* sequence number to write next */
	struct waiting *ring;     /* ring[(seq) % cap] for next <= seq < next + cap */
	uint32_t cap, max_waiting;
	uint64_t waiting;
	struct output_counters c;
	int err;
};

struct output *output_new(FILE *f, uint32_t max_waiting)
{
	struct output *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->f = f;
	o->max_waiting = max_waiting ? max_waiting : 1;
	jsonw_init(&o->w);
	return o;
}

static void write_line(struct output *o, const char *line, size_t len)
{
	if (fwrite(line, 1, len, o->f) != len || putc('\n', o->f) == EOF) {
		if (!o->err)
			o->err = errno ? -errno : -EIO;
		o->c.write_errors++;
	}
	o->c.written++;
}

/* Write the contiguous run of finished lines starting at next. */
static void drain(struct output *o)
{
	while (o->waiting && o->cap) {
		struct waiting *e = &o->ring[o->next % o->cap];
		if (!e->line)
			break;
		write_line(o, e->line, e->len);
		free(e->line);
		e->line = NULL;
		o->waiting--;
		o->next++;
	}
}

/* Grow the ring so that seq fits; false when over max_waiting. */
static bool ring_fit(struct output *o, uint64_t seq)
{
	uint64_t need = seq - o->next + 1;
	if (need <= o->cap)
		return true;
	if (need > o->max_waiting)
		return false;
	uint32_t cap = o->cap ? o->cap : 1024;
	while (cap < need)
		cap *= 2;
	if (cap > o->max_waiting)
		cap = o->max_waiting;
	struct waiting *r = calloc(cap, sizeof(*r));
	if (!r)
		return false;
	for (uint64_t s = o->next; s < o->next + o->cap; s++) {
		struct waiting *e = &o->ring[s % o->cap];
		r[s % cap] = *e;
	}
	free(o->ring);
	o->ring = r;
	o->cap = cap;
	return true;
}

/* Queue full: move next forward until seq fits, writing the finished lines
 * passed over; unfinished sessions passed over are written late, counted. */
static void force_advance(struct output *o, uint64_t seq)
{
	while (seq - o->next + 1 > o->max_waiting) {
		if (o->cap) {
			struct waiting *e = &o->ring[o->next % o->cap];
			if (e->line) {
				write_line(o, e->line, e->len);
				free(e->line);
				e->line = NULL;
				o->waiting--;
			}
		}
		o->next++;
	}
	drain(o);
}

void output_session(void *arg, const struct session *s)
{
	struct output *o = arg;

	jsonw_reset(&o->w);
	session_to_json(s, &o->w);
	if (o->w.oom)
		return;
	if (s->seq < o->next) {
		/* its place was skipped by force_advance */
		o->c.out_of_order++;
		write_line(o, o->w.buf, o->w.len);
		return;
	}
	if (s->seq == o->next) {
		write_line(o, o->w.buf, o->w.len);
		o->next++;
		drain(o);
		return;
	}
	if (!ring_fit(o, s->seq)) {
		o->c.out_of_order++;
		force_advance(o, s->seq);
		if (s->seq == o->next) {
			write_line(o, o->w.buf, o->w.len);
			o->next++;
			drain(o);
			return;
		}
		if (!ring_fit(o, s->seq)) {
			write_line(o, o->w.buf, o->w.len);
			return;
		}
	}
	struct waiting *e = &o->ring[s->seq % o->cap];
	e->line = malloc(o->w.len);
	if (!e->line) {
		write_line(o, o->w.buf, o->w.len);
		o->c.out_of_order++;
		return;
	}
	memcpy(e->line, o->w.buf, o->w.len);
	e->len = o->w.len;
	o->waiting++;
	if (o->waiting > o->c.waiting_peak)
		o->c.waiting_peak = o->waiting;
}

int output_finish(struct output *o)
{
	/* every session has ended: whatever still waits is written in order */
	for (uint64_t s = o->next; o->waiting && o->cap && s < o->next + o->cap; s++) {
		struct waiting *e = &o->ring[s % o->cap];
		if (e->line) {
			write_line(o, e->line, e->len);
			free(e->line);
			e->line = NULL;
			o->waiting--;
		}
	}
	if (fflush(o->f) != 0 && !o->err)
		o->err = -errno;
	return o->err;
}

const struct output_counters *output_counters(const struct output *o)
{
	return &o->c;
}

void output_free(struct output *o)
{
	if (!o)
		return;
	for (uint32_t i = 0; i < o->cap; i++)
		free(o->ring[i].line);
	free(o->ring);
	jsonw_fini(&o->w);
	free(o);
}
