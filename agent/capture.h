/* SPDX-License-Identifier: MIT */
/*
 * capture: the libpcap edge of the agent (agent process).  Offline mode
 * reads a pcap or pcapng file and feeds every frame through decode into the
 * session tracker; live capture on taps comes with the daemon.
 */
#ifndef TAPWARDEN_CAPTURE_H
#define TAPWARDEN_CAPTURE_H

#include <stdint.h>

#include "decode.h"
#include "session.h"

struct capture_counters {
	uint64_t frames;
	uint64_t bytes;
	uint64_t decode[DECODE_UNSUPPORTED + 1];   /* by enum decode_result */
	uint64_t ts_backwards;                      /* frames older than the previous one */
	uint64_t first_ts_us, last_ts_us;
};

/*
 * Read every frame of path into t, then flush t at the last timestamp.
 * Returns 0, or a negative errno with a message in err (cap bytes) when the
 * file cannot be opened or its link type is not supported.  A file that is
 * cut short is not an error: what was read counts (err says so).
 */
int capture_read_file(const char *path, struct session_tracker *t,
		      struct capture_counters *c, char *err, size_t cap);

#endif
