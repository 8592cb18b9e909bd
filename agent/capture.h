/* SPDX-License-Identifier: MIT */
/*
 * capture: the libpcap edge of the agent (agent process).  Offline mode
 * reads a pcap or pcapng file and feeds every frame through decode into the
 * session tracker.  Live mode opens one handle per guest tap (non-blocking,
 * kernel buffer and filter from the daemon) and reads it with
 * pcap_dispatch() and a per-call budget from the daemon's event loop.
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


/* ---- live capture on one interface ---------------------------------- */

struct capture_live;

struct capture_live_config {
	uint32_t buffer_bytes;   /* kernel ring (pcap_set_buffer_size) */
	int timeout_ms;          /* block retire timeout (non-immediate mode) */
	const char *filter;      /* pcap-filter text (bpffilter_text), borrowed */
	/* NULL, or a filter libpcap can also run in user space that passes
	 * at least what filter passes.  Needed when filter tests the packet
	 * type (inbound/outbound): see capture_live_open in capture.c. */
	const char *userspace_filter;
};

struct capture_live_stats {
	uint64_t received;       /* pcap_stats ps_recv: frames that passed the filter */
	uint64_t dropped;        /* ps_drop: no room in the kernel buffer */
	uint64_t ifdropped;      /* ps_ifdrop */
};

/*
 * Open ifname for live capture: pcap_create, the buffer size of cfg,
 * immediate mode off, snaplen 262144, then activate (the interface must
 * exist and be up), non-blocking, cfg->filter compiled on the live handle
 * and installed, link type checked.  Returns 0 and *out (owned,
 * capture_live_close), or a negative errno with a message in err:
 * -ENODEV (no such interface), -ENETDOWN (not up), -EPERM, -EINVAL (filter),
 * -ENOTSUP (link type), -EIO (anything else).
 */
int capture_live_open(const char *ifname, const struct capture_live_config *cfg,
		      struct capture_live **out, char *err, size_t cap);
/* The selectable descriptor of l (readable when frames are waiting). */
int capture_live_fd(const struct capture_live *l);
/*
 * Read at most budget frames that are waiting (never blocks), decode each
 * into t and count it in c (frames, bytes, decode results; timestamps are
 * the kernel's, wall clock).  Returns the number of frames read (< budget:
 * the buffer is drained for now), or a negative errno (message in err) when
 * the handle failed, e.g. the interface went away (-ENETDOWN).
 */
int capture_live_dispatch(struct capture_live *l, int budget, struct session_tracker *t,
			  struct capture_counters *c, char *err, size_t cap);
/* Kernel counters of the handle since it was opened; 0 or -EIO. */
int capture_live_get_stats(struct capture_live *l, struct capture_live_stats *out);
/* NULL is fine. */
void capture_live_close(struct capture_live *l);

#endif
