/* SPDX-License-Identifier: MIT */
/*
 * daemon_int: the live daemon's state, shared by daemon.c (capture, taps,
 * detection, enforcement) and daemon_bus.c (its link to the controller).
 * Agent process; not an interface for anything else.
 */
#ifndef TAPWARDEN_DAEMON_INT_H
#define TAPWARDEN_DAEMON_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "capture.h"
#include "daemon.h"
#include "detect.h"
#include "domxml.h"
#include "enforce.h"
#include "enforce_nft.h"
#include "jsonw.h"
#include "log.h"
#include "session.h"
#include "stats.h"
#include "whitelist.h"

struct event_base;
struct event;
struct vmmap;
struct metrics_server;
struct report;
struct evbuffer;

/* Cumulative per-VM figures for the metrics (a VM keeps its entry after it
 * stops: Prometheus counters must not go backwards). */
struct dvm {
	char uuid[DETECT_ID_LEN];
	char name[DETECT_ID_LEN];
	uint64_t attempts, sessions, messages, rcpts, rcpts_ok;
	uint64_t replies[3], user_unknown, blocklist, rate_limit;
	uint64_t verdicts;
	enum policy_action verdict;
	bool would_block;            /* current block is observe-only */
	bool whitelisted;            /* as of the last tick or reload */
	uint32_t taps;               /* mapped taps right now */
	uint64_t sent[8];            /* daemon_bus.c: counters as of the last stats report */
};

struct daemon;

struct dtap {
	struct daemon *d;
	char ifname[DOMXML_IFNAME_MAX];
	char gen_str[24];
	uint64_t generation;
	unsigned ifindex;
	struct detect_vm_id id;      /* the owner of this mapping, fixed */
	struct dvm *vm;              /* NULL: VM table full (metrics only) */
	struct capture_live *cap;    /* NULL until the tap could be opened */
	struct event *ev;
	struct session_tracker *t;
	struct capture_counters cc;
	struct capture_live_stats ks;
	uint64_t next_open_s;
	uint64_t open_failures;
	uint64_t stale_sync;         /* ifindex changed: wait for this many syncs */
	int last_err;
};

/* What closed taps leave behind in the totals. */
struct retired {
	uint64_t frames, received, dropped, ifdropped;
	uint64_t flows_evicted, flow_buffer_caps, total_buffer_caps;
	uint64_t parsers_exhausted, txns_dropped, rcpts_dropped, oom;
	uint64_t sessions;
};

struct daemon {
	const struct daemon_config *cfg;
	struct event_base *base;
	struct event *ev_vm, *ev_tick, *ev_int, *ev_term, *ev_hup;
	const struct policy *policy;           /* in force: cfg's, or a reload's */
	const struct reply_patterns *replies;
	struct policy *own_policy;             /* a reload's (owned), or NULL */
	struct reply_patterns *own_replies;
	struct whitelist wl;                   /* in force: the file's and the controller's */
	struct whitelist wl_file;              /* --whitelist */
	uint64_t next_sync_s;
	uint32_t sync_failures;                /* in a row */
	uint64_t syncs_failed, reloads_ok, reloads_failed;
	uint64_t ticks;                        /* 1 s timer runs: lets tests wait for one */
	struct vmmap *map;
	struct metrics_server *metrics;
	struct detect *detect;
	char *filter;                /* kernel: connections the guest opened */
	char *filter_user;           /* libpcap's user-space superset (either direction) */
	struct dtap **taps;
	size_t ntaps, cap_taps;
	struct dvm **vms;
	size_t nvms;
	uint64_t vms_dropped;        /* VMs beyond max_vms: not in the metrics */
	uint64_t taps_opened, tap_open_failures, capture_errors;
	struct retired ret;
	struct jsonw w;
	struct stats_obs obs;        /* large: one per daemon, used on the loop */
	struct log_ratelimit rl_open, rl_err;
	bool write_failed;
	bool stopping;
	/* enforcement */
	struct enforce *enf;
	struct enforce_nft *nftb;              /* NULL: dry run */
	struct enforce_backend *dry;
	struct event *ev_nft;
	uint64_t next_counters_s, last_resync_ms;
	bool resync_due;
	uint64_t results[4][2];                /* enforce_action x {applied, failed} */
	/* the controller (daemon_bus.c); NULL: standalone */
	struct report *rep;
	struct jsonw bw;                       /* report bodies */
	uint64_t next_stats_s;
	bool inventory_dirty;
};


/* daemon.c: the whitelist in force is the file's merged with the
 * controller's (wl borrowed, may be NULL); applied to taps, detection and
 * enforcement at once. */
void daemon_set_whitelist(struct daemon *d, const struct whitelist *controller);
/* daemon.c: SIGHUP's reload (policy, replies, whitelist file). */
void daemon_reload(struct daemon *d);

/* daemon_bus.c */
int dbus_start(struct daemon *d);
void dbus_stop(struct daemon *d);
void dbus_verdict(struct daemon *d, const struct detect_verdict *v);
void dbus_enforce(struct daemon *d, const struct enforce_result *r);
void dbus_tick(struct daemon *d, uint64_t now_s);
void dbus_metrics(struct daemon *d, struct evbuffer *b);

#endif
