/* SPDX-License-Identifier: MIT */
/*
 * output: session JSON lines in start order (agent process, offline mode).
 * A ring indexed by session sequence number holds the sessions that
 * finished before an earlier one.  Their lines stay in memory up to a byte
 * budget; beyond it they go to an unlinked temporary file and are copied
 * back when their turn comes, so a capture with 100,000 overlapping
 * sessions costs 24 bytes per waiting session, not a JSON line each.
 */
#include "output.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonw.h"

struct waiting {
	char *line;       /* in memory, or NULL */
	uint64_t off;     /* in the spill file when spilled */
	uint32_t len;
	bool done;        /* finished: line or spill holds it */
	bool spilled;
};

#define OUTPUT_MEM_BUDGET (8u << 20)    /* waiting lines kept in memory */

struct output {
	FILE *f;
	struct jsonw w;
	uint64_t next;            /* sequence number to write next */
	struct waiting *ring;     /* ring[(seq) % cap] for next <= seq < next + cap */
	uint32_t cap, max_waiting;
	uint64_t max_mem;         /* bytes of waiting lines kept in memory */
	uint64_t waiting;
	uint64_t waiting_bytes;   /* in memory */
	FILE *spill;              /* temporary file, created on first use */
	uint64_t spill_end;
	char *scratch;            /* a spilled line read back */
	size_t scratch_cap;
	struct output_counters c;
	int err;
};

struct output *output_new(FILE *f, uint32_t max_waiting, uint64_t max_mem)
{
	struct output *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->f = f;
	o->max_waiting = max_waiting ? max_waiting : 1;
	o->max_mem = max_mem;
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

static void set_err(struct output *o, int err)
{
	if (!o->err)
		o->err = err;
	o->c.write_errors++;
}

/* Write a finished waiting entry and release it. */
static void emit_waiting(struct output *o, struct waiting *e)
{
	if (e->spilled) {
		if (o->scratch_cap < e->len) {
			char *p = realloc(o->scratch, e->len);
			if (!p) {
				set_err(o, -ENOMEM);
				goto out;
			}
			o->scratch = p;
			o->scratch_cap = e->len;
		}
		if (pread(fileno(o->spill), o->scratch, e->len, (off_t)e->off) != (ssize_t)e->len)
			set_err(o, errno ? -errno : -EIO);
		else
			write_line(o, o->scratch, e->len);
	} else {
		write_line(o, e->line, e->len);
		o->waiting_bytes -= e->len;
		free(e->line);
	}
out:
	memset(e, 0, sizeof(*e));
	o->waiting--;
	if (!o->waiting && o->spill && o->spill_end) {
		/* nothing waits: give the disk back */
		if (ftruncate(fileno(o->spill), 0) == 0)
			o->spill_end = 0;
	}
}

/* Write the contiguous run of finished lines starting at next. */
static void drain(struct output *o)
{
	while (o->waiting && o->cap) {
		struct waiting *e = &o->ring[o->next % o->cap];
		if (!e->done)
			break;
		emit_waiting(o, e);
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
			if (e->done)
				emit_waiting(o, e);
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
	if (o->w.len > UINT32_MAX) {
		o->c.out_of_order++;
		write_line(o, o->w.buf, o->w.len);
		return;
	}
	e->len = (uint32_t)o->w.len;
	if (o->waiting_bytes + o->w.len <= o->max_mem)
		e->line = malloc(o->w.len);
	if (e->line) {
		memcpy(e->line, o->w.buf, o->w.len);
		o->waiting_bytes += o->w.len;
	} else {
		if (!o->spill)
			o->spill = tmpfile();
		if (!o->spill || pwrite(fileno(o->spill), o->w.buf, o->w.len,
					(off_t)o->spill_end) != (ssize_t)o->w.len) {
			/* cannot wait: write now, out of order, rather than lose it */
			o->c.out_of_order++;
			write_line(o, o->w.buf, o->w.len);
			e->len = 0;
			return;
		}
		e->spilled = true;
		e->off = o->spill_end;
		o->spill_end += o->w.len;
		o->c.spilled++;
	}
	e->done = true;
	o->waiting++;
	if (o->waiting > o->c.waiting_peak)
		o->c.waiting_peak = o->waiting;
}

int output_finish(struct output *o)
{
	/* every session has ended: whatever still waits is written in order */
	for (uint64_t s = o->next; o->waiting && o->cap && s < o->next + o->cap; s++) {
		struct waiting *e = &o->ring[s % o->cap];
		if (e->done)
			emit_waiting(o, e);
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
	free(o->scratch);
	if (o->spill)
		fclose(o->spill);
	jsonw_fini(&o->w);
	free(o);
}
