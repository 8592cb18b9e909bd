/* SPDX-License-Identifier: MIT */
/*
 * daemon: the live mode of tapwarden-agent (agent process).  One libevent
 * loop owns the libvirt tap map (vmmap), one pcap handle and one session
 * tracker per tap of a running domain, the per-VM detection, a 1 s timer
 * (flow expiry, detection ticks, capture counters, reopen of taps that were
 * not up yet, whitelist expiry, the periodic libvirt re-sync), the optional
 * Prometheus endpoint, SIGHUP (reload policy, replies and whitelist) and
 * SIGINT/SIGTERM, and enforcement (enforce.c on nftables, or its dry run
 * when the policy is observe-only or --dry-run is given).
 */
#ifndef TAPWARDEN_DAEMON_H
#define TAPWARDEN_DAEMON_H

#include <stdint.h>
#include <stdio.h>

#include "policy.h"
#include "report.h"
#include "session.h"

struct daemon_config {
	const char *libvirt_uri;         /* NULL: qemu:///system */
	const char *metrics_addr;        /* NULL: no endpoint */
	struct session_config session;   /* per tap: each tap has its own tracker */
	uint32_t capture_buffer;         /* kernel buffer per tap, bytes */
	uint32_t max_vms;
	struct policy *policy;           /* borrowed; the daemon sets observe_only */
	const struct reply_patterns *replies;   /* borrowed */
	const char *policy_path;         /* the files policy and replies came from, */
	const char *replies_path;        /* read again on SIGHUP */
	const char *whitelist_path;      /* NULL: nobody is whitelisted */
	uint32_t resync_s;               /* full libvirt sync this often */
	bool dry_run;                    /* log blocks, install nothing (also when
					    the policy says observe_only) */
	const struct report_config *report;   /* NULL: no controller (standalone) */
	FILE *verdicts;                  /* borrowed, may be NULL: JSON lines */
	const char *verdicts_path;       /* for messages */
};

/*
 * Run until SIGINT or SIGTERM.  Startup failures (libvirt unreachable,
 * metrics address in use, a bad whitelist, out of memory) are logged and
 * return 1 before
 * the loop runs; after a clean stop (every open session flushed into
 * detection, verdicts flushed) returns 0, or 2 when writing verdicts
 * failed.
 */
int daemon_run(const struct daemon_config *cfg);

#endif
