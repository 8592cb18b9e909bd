/* SPDX-License-Identifier: MIT */
/*
 * output: writes finished sessions as JSON lines in the order the sessions
 * started (agent process, offline mode).  Sessions end out of order; a
 * finished session waits, already serialised, until every earlier one has
 * been written; past a memory budget the waiting lines go to an unlinked
 * temporary file.  The wait queue is capped in sessions: past it the
 * oldest waiting lines are written anyway and counted as out_of_order.
 */
#ifndef TAPWARDEN_OUTPUT_H
#define TAPWARDEN_OUTPUT_H

#include <stdint.h>
#include <stdio.h>

#include "session.h"

struct output_counters {
	uint64_t written;
	uint64_t out_of_order;      /* written before an earlier session (queue cap) */
	uint64_t waiting_peak;
	uint64_t spilled;           /* waiting lines kept in the temporary file */
	uint64_t write_errors;
};

struct output;

/* Borrows f (the caller closes it).  max_waiting: queue cap in sessions;
 * max_mem: bytes of waiting lines held in memory before spilling. */
struct output *output_new(FILE *f, uint32_t max_waiting, uint64_t max_mem);
/* session_emit_cb-compatible: serialise s and write what is in order. */
void output_session(void *out, const struct session *s);
/* Write every waiting line (end of input). 0 or -errno of a write error. */
int output_finish(struct output *o);
const struct output_counters *output_counters(const struct output *o);
void output_free(struct output *o);

#endif
