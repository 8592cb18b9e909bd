/* SPDX-License-Identifier: MIT */
/*
 * daemon: live mode of tapwarden-agent (agent process, main thread).  The
 * libevent loop drives everything: libvirt's tap map (vmmap, its records
 * arrive through a pipe), one pcap handle per guest tap read with
 * pcap_dispatch and a budget, one session tracker per tap whose finished
 * sessions go to detection attributed to the VM that owned the tap mapping
 * (UUID + generation), a 1 s timer, the metrics endpoint and the signals.
 *
 * Why one handle and one tracker per tap rather than one "any" handle:
 * attribution is by the tap a frame arrived on, and vmmap reports taps one
 * by one, so a handle tagged with its mapping's generation can never count
 * a frame for the VM that gets the tap name next (an "any" handle gives only
 * an ifindex per frame, and ifindexes are reused too).  Guests of different
 * customers may use the same private addresses: per-tap flow tables keep
 * their flows apart, and closing a tap flushes exactly its sessions, to the
 * VM that made them.  Each handle has its own kernel buffer and pcap_stats,
 * so drops are seen per tap, and a flooding guest fills only its own ring.
 * The cost is one descriptor and one ring per tap (--capture-buffer).
 */
#include "daemon.h"

#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "bpffilter.h"
#include "capture.h"
#include "detect.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "observe.h"
#include "verdict_json.h"
#include "vmmap.h"

#define DAEMON_BUDGET      256    /* frames per pcap_dispatch call */
#define DAEMON_TIMEOUT_MS  100    /* pcap block timeout: latency of a quiet tap */
#define DAEMON_RETRY_S     1      /* a tap that is not up is tried again this often */

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
	uint32_t taps;               /* mapped taps right now */
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
	struct event *ev_vm, *ev_tick, *ev_int, *ev_term;
	struct vmmap *map;
	struct metrics_server *metrics;
	struct detect *detect;
	char *filter;
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
};

static uint64_t now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000ULL + (uint64_t)tv.tv_usec;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ---- VMs ------------------------------------------------------------------ */

static struct dvm *dvm_find(struct daemon *d, const char *uuid)
{
	for (size_t i = 0; i < d->nvms; i++)
		if (strcmp(d->vms[i]->uuid, uuid) == 0)
			return d->vms[i];
	return NULL;
}

/* The entry of uuid, made on first sight; NULL when max_vms are known. */
static struct dvm *dvm_get(struct daemon *d, const struct detect_vm_id *id)
{
	struct dvm *v = dvm_find(d, id->uuid);

	if (v) {
		memcpy(v->name, id->name, sizeof(v->name));
		return v;
	}
	if (d->nvms >= d->cfg->max_vms || !(v = calloc(1, sizeof(*v)))) {
		d->vms_dropped++;
		return NULL;
	}
	memcpy(v->uuid, id->uuid, sizeof(v->uuid));
	memcpy(v->name, id->name, sizeof(v->name));
	d->vms[d->nvms++] = v;
	return v;
}

/* ---- verdicts and sessions ---------------------------------------------- */

static void on_verdict(void *ctx, const struct detect_verdict *v)
{
	struct daemon *d = ctx;
	struct dvm *vm = dvm_find(d, v->vm->uuid);
	char rules[512];
	size_t used = 0;

	rules[0] = '\0';
	for (uint32_t i = 0; i < v->n_fired && used + 2 < sizeof(rules); i++) {
		int n = snprintf(rules + used, sizeof(rules) - used, "%s%s", i ? "," : "",
				 v->policy->rules[v->fired[i].rule].name);
		if (n < 0)
			break;
		used += (size_t)n < sizeof(rules) - used ? (size_t)n : sizeof(rules) - used - 1;
	}
	if (v->verdict == PA_BLOCK && v->duration_s == POLICY_MANUAL)
		log_info("detect: verdict vm=%s name=%s verdict=block duration=manual rules=%s reason=\"%s\"%s",
			 v->vm->uuid, v->vm->name, rules[0] ? rules : "-", v->reason,
			 v->observe_only ? " action=\"would block\" (observe only)" : "");
	else
		log_info("detect: verdict vm=%s name=%s verdict=%s duration=%u rules=%s reason=\"%s\"%s",
			 v->vm->uuid, v->vm->name, policy_action_name(v->verdict),
			 v->verdict == PA_BLOCK ? v->duration_s : 0, rules[0] ? rules : "-", v->reason,
			 v->verdict == PA_BLOCK && v->observe_only ?
				" action=\"would block\" (observe only)" : "");
	if (vm) {
		vm->verdict = v->verdict;
		vm->would_block = v->verdict == PA_BLOCK && v->observe_only;
		vm->verdicts++;
	}
	if (!d->cfg->verdicts)
		return;
	jsonw_reset(&d->w);
	verdict_to_json(v, &d->w);
	if (fwrite(d->w.buf, 1, d->w.len, d->cfg->verdicts) != d->w.len ||
	    fputc('\n', d->cfg->verdicts) == EOF || fflush(d->cfg->verdicts) != 0) {
		if (!d->write_failed)
			log_err("agent: writing verdicts failed file=%s", d->cfg->verdicts_path);
		d->write_failed = true;
	}
}

/* A finished session of tap (the tracker's ctx): count it for the VM that
 * owned this mapping, whoever owns the tap name now. */
static void on_session(void *ctx, const struct session *s)
{
	struct dtap *tap = ctx;
	struct daemon *d = tap->d;
	struct stats_obs *o = &d->obs;
	struct dvm *vm = tap->vm;

	observe_session(s, d->cfg->replies, o);
	if (vm) {
		vm->attempts++;
		vm->sessions += o->smtp;
		vm->messages += o->n_msgs;
		vm->rcpts += o->rcpts;
		vm->rcpts_ok += o->rcpts_ok;
		for (int i = 0; i < 3; i++)
			vm->replies[i] += o->replies[i];
		vm->user_unknown += o->user_unknown;
		vm->blocklist += o->blocklist;
		vm->rate_limit += o->rate_limit;
	}
	/* counted in detect_counters when the table is full */
	(void)detect_observe(d->detect, &tap->id, o);
}

/* ---- taps ------------------------------------------------------------------ */

static void tap_read(struct dtap *tap)
{
	struct daemon *d = tap->d;
	char err[256];
	int n;

	if (!tap->cap)
		return;
	n = capture_live_dispatch(tap->cap, DAEMON_BUDGET, tap->t, &tap->cc, err, sizeof(err));
	if (n < 0) {
		/* the interface went away before libvirt told us: reopen later */
		d->capture_errors++;
		if (log_ratelimit(&d->rl_err, now_us() / 1000000))
			log_warn("capture: read failed tap=%s vm=%s generation=%" PRIu64 " error=\"%s\"",
				 tap->ifname, tap->id.uuid, tap->generation, err);
		capture_live_get_stats(tap->cap, &tap->ks);
		d->ret.received += tap->ks.received;
		d->ret.dropped += tap->ks.dropped;
		d->ret.ifdropped += tap->ks.ifdropped;
		memset(&tap->ks, 0, sizeof(tap->ks));
		event_free(tap->ev);
		tap->ev = NULL;
		capture_live_close(tap->cap);
		tap->cap = NULL;
		tap->next_open_s = now_us() / 1000000 + DAEMON_RETRY_S;
		return;
	}
	/* budget used up: more may wait.  Come back after the other ready
	 * events of this round (fairness between taps), not in a loop here. */
	if (n >= DAEMON_BUDGET)
		event_active(tap->ev, EV_READ, 0);
}

static void on_tap_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tap_read(arg);
}

/* Try to open the tap's handle; a tap that is not up yet is retried by the
 * timer.  0 or a negative errno. */
static int tap_open(struct dtap *tap)
{
	struct daemon *d = tap->d;
	struct capture_live_config cc = {
		.buffer_bytes = d->cfg->capture_buffer,
		.timeout_ms = DAEMON_TIMEOUT_MS,
		.filter = d->filter,
	};
	char err[512];
	int r = capture_live_open(tap->ifname, &cc, &tap->cap, err, sizeof(err));

	if (r < 0) {
		tap->open_failures++;
		d->tap_open_failures++;
		tap->next_open_s = now_us() / 1000000 + DAEMON_RETRY_S;
		/* the first failure (or a new reason) at warning level, the
		 * retries once a second at debug level */
		if (r != tap->last_err && log_ratelimit(&d->rl_open, now_us() / 1000000))
			log_warn("capture: cannot open tap=%s vm=%s generation=%" PRIu64 " error=\"%s\" (retrying every %ds)",
				 tap->ifname, tap->id.uuid, tap->generation, err, DAEMON_RETRY_S);
		else
			log_debug("capture: cannot open tap=%s error=\"%s\" attempts=%" PRIu64,
				  tap->ifname, err, tap->open_failures);
		tap->last_err = r;
		return r;
	}
	unsigned idx = if_nametoindex(tap->ifname);
	if (tap->ifindex && idx != tap->ifindex)
		log_warn("capture: tap ifindex changed since libvirt mapped it tap=%s was=%u now=%u",
			 tap->ifname, tap->ifindex, idx);
	tap->ifindex = idx;
	tap->ev = event_new(d->base, capture_live_fd(tap->cap), EV_READ | EV_PERSIST,
			    on_tap_readable, tap);
	if (!tap->ev || event_add(tap->ev, NULL) != 0) {
		log_err("capture: cannot watch tap=%s: out of memory", tap->ifname);
		event_free(tap->ev);
		tap->ev = NULL;
		capture_live_close(tap->cap);
		tap->cap = NULL;
		tap->next_open_s = now_us() / 1000000 + DAEMON_RETRY_S;
		return -ENOMEM;
	}
	d->taps_opened++;
	tap->last_err = 0;
	log_info("capture: tap opened tap=%s vm=%s name=%s generation=%" PRIu64 " ifindex=%u buffer=%u",
		 tap->ifname, tap->id.uuid, tap->id.name, tap->generation, idx, d->cfg->capture_buffer);
	return 0;
}

/* Close tap: read what is waiting, end its open sessions (they go to the
 * mapping's VM), keep its counters in the totals, free it. */
static void tap_close(struct daemon *d, struct dtap *tap, const char *why)
{
	const struct flow_counters *fc;
	const struct session_counters *sc;

	if (tap->cap) {
		tap_read(tap);
		if (tap->cap) {
			capture_live_get_stats(tap->cap, &tap->ks);
			d->ret.received += tap->ks.received;
			d->ret.dropped += tap->ks.dropped;
			d->ret.ifdropped += tap->ks.ifdropped;
		}
	}
	session_tracker_flush(tap->t, now_us());
	fc = session_tracker_flow_counters(tap->t);
	sc = session_tracker_counters(tap->t);
	d->ret.frames += tap->cc.frames;
	d->ret.flows_evicted += fc->flows_evicted;
	d->ret.flow_buffer_caps += fc->flow_buffer_cap_hits;
	d->ret.total_buffer_caps += fc->total_buffer_cap_hits;
	d->ret.parsers_exhausted += sc->parsers_exhausted;
	d->ret.txns_dropped += sc->txns_dropped;
	d->ret.rcpts_dropped += sc->rcpts_dropped;
	d->ret.oom += sc->oom;
	d->ret.sessions += sc->sessions_closed;
	log_info("capture: tap closed tap=%s vm=%s generation=%" PRIu64 " why=%s frames=%" PRIu64
		 " sessions=%" PRIu64 " messages=%" PRIu64 " kernel_drops=%" PRIu64,
		 tap->ifname, tap->id.uuid, tap->generation, why, tap->cc.frames,
		 sc->sessions_closed, sc->messages, tap->ks.dropped);
	if (tap->vm && tap->vm->taps)
		tap->vm->taps--;
	if (tap->ev)
		event_free(tap->ev);
	capture_live_close(tap->cap);
	session_tracker_free(tap->t);
	free(tap);
}

static void on_tap_added(void *arg, const struct vmmap_tap *vt)
{
	struct daemon *d = arg;
	struct dtap *tap;

	/* vmmap reports the removal of an older mapping first; be safe anyway */
	for (size_t i = 0; i < d->ntaps; i++)
		if (strcmp(d->taps[i]->ifname, vt->ifname) == 0) {
			tap_close(d, d->taps[i], "replaced");
			d->taps[i] = d->taps[--d->ntaps];
			break;
		}
	if (d->ntaps == d->cap_taps) {
		size_t nc = d->cap_taps ? d->cap_taps * 2 : 16;
		struct dtap **n = realloc(d->taps, nc * sizeof(*n));

		if (!n) {
			log_err("capture: out of memory, tap not watched tap=%s", vt->ifname);
			return;
		}
		d->taps = n;
		d->cap_taps = nc;
	}
	tap = calloc(1, sizeof(*tap));
	if (!tap) {
		log_err("capture: out of memory, tap not watched tap=%s", vt->ifname);
		return;
	}
	tap->d = d;
	memcpy(tap->ifname, vt->ifname, sizeof(tap->ifname));
	tap->generation = vt->generation;
	snprintf(tap->gen_str, sizeof(tap->gen_str), "%" PRIu64, vt->generation);
	tap->ifindex = vt->ifindex;
	copy_str(tap->id.uuid, sizeof(tap->id.uuid), vt->uuid);
	copy_str(tap->id.name, sizeof(tap->id.name), vt->vm_name);
	copy_str(tap->id.plan, sizeof(tap->id.plan), vt->plan);
	tap->id.whitelisted = false;   /* the whitelist comes with the controller */
	tap->t = session_tracker_new(&d->cfg->session, on_session, tap);
	if (!tap->t) {
		log_err("capture: out of memory, tap not watched tap=%s", vt->ifname);
		free(tap);
		return;
	}
	tap->vm = dvm_get(d, &tap->id);
	if (tap->vm)
		tap->vm->taps++;
	d->taps[d->ntaps++] = tap;
	log_info("vmmap: tap mapped tap=%s vm=%s name=%s plan=%s generation=%" PRIu64,
		 vt->ifname, vt->uuid, tap->id.name, vt->plan[0] ? vt->plan : "-", vt->generation);
	tap_open(tap);
}

static void on_tap_removed(void *arg, const struct vmmap_tap *vt)
{
	struct daemon *d = arg;

	for (size_t i = 0; i < d->ntaps; i++)
		if (strcmp(d->taps[i]->ifname, vt->ifname) == 0 &&
		    d->taps[i]->generation == vt->generation) {
			tap_close(d, d->taps[i], "unmapped");
			d->taps[i] = d->taps[--d->ntaps];
			return;
		}
}

static void on_vm_stopped(void *arg, const char *uuid)
{
	(void)arg;
	log_info("vmmap: vm stopped vm=%s", uuid);
}

/* ---- loop events ------------------------------------------------------------ */

static void on_vmmap(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int r;

	(void)fd;
	(void)what;
	r = vmmap_dispatch(d->map);
	if (r < 0 && log_ratelimit(&d->rl_err, now_us() / 1000000))
		log_warn("vmmap: resync with libvirt failed error=\"%s\"", strerror(-r));
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	uint64_t now = now_us();

	(void)fd;
	(void)what;
	for (size_t i = 0; i < d->ntaps; i++) {
		struct dtap *tap = d->taps[i];

		if (!tap->cap && now / 1000000 >= tap->next_open_s)
			tap_open(tap);
		/* a quiet tap's last block is also picked up here */
		tap_read(tap);
		if (tap->cap)
			capture_live_get_stats(tap->cap, &tap->ks);
		session_tracker_expire(tap->t, now);
	}
	detect_tick(d->detect, now);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	log_info("agent: stopping signal=%s", sig == SIGINT ? "INT" : "TERM");
	d->stopping = true;
	event_base_loopbreak(d->base);
}

/* ---- metrics ------------------------------------------------------------------ */

static void render(void *ctx, struct evbuffer *b)
{
	struct daemon *d = ctx;
	struct metrics_label l[METRICS_MAX_LABELS];
	struct vmmap_stats ms;
	const struct detect_counters *dc = detect_counters(d->detect);
	uint64_t flows = 0, sessions_active = 0, evicted = d->ret.flows_evicted,
		 fbuf = d->ret.flow_buffer_caps, tbuf = d->ret.total_buffer_caps,
		 parsers = d->ret.parsers_exhausted, txns = d->ret.txns_dropped,
		 rcpts = d->ret.rcpts_dropped, oom = d->ret.oom;

#define VM_FAMILY(metric, type, help, field) do {                                  \
		metrics_family(b, metric, type, help);                             \
		for (size_t i = 0; i < d->nvms; i++) {                             \
			l[0] = (struct metrics_label){ "vm", d->vms[i]->uuid };    \
			l[1] = (struct metrics_label){ "name", d->vms[i]->name };  \
			metrics_sample_u64(b, metric, l, 2, d->vms[i]->field);     \
		}                                                                  \
	} while (0)
	VM_FAMILY("tapwarden_vm_attempts_total", "counter",
		  "TCP connections to a watched port (sessions ended)", attempts);
	VM_FAMILY("tapwarden_vm_sessions_total", "counter", "connections that carried SMTP", sessions);
	VM_FAMILY("tapwarden_vm_messages_total", "counter", "complete messages (DATA/BDAT)", messages);
	VM_FAMILY("tapwarden_vm_recipients_total", "counter", "RCPT commands", rcpts);
	VM_FAMILY("tapwarden_vm_recipients_accepted_total", "counter", "RCPT commands answered 2xx",
		  rcpts_ok);
	VM_FAMILY("tapwarden_vm_verdict_changes_total", "counter", "verdict changes", verdicts);
	VM_FAMILY("tapwarden_vm_taps", "gauge", "taps of the VM mapped now", taps);
	metrics_family(b, "tapwarden_vm_replies_total", "counter",
		       "server replies by class (2xx, 4xx, 5xx, and the text classes of replies.yaml)");
	for (size_t i = 0; i < d->nvms; i++) {
		const struct dvm *v = d->vms[i];
		static const char *cls[] = { "2xx", "4xx", "5xx", "user_unknown", "blocklist", "rate_limit" };
		uint64_t val[] = { v->replies[0], v->replies[1], v->replies[2], v->user_unknown,
				   v->blocklist, v->rate_limit };

		l[0] = (struct metrics_label){ "vm", v->uuid };
		l[1] = (struct metrics_label){ "name", v->name };
		for (int c = 0; c < 6; c++) {
			l[2] = (struct metrics_label){ "class", cls[c] };
			metrics_sample_u64(b, "tapwarden_vm_replies_total", l, 3, val[c]);
		}
	}
	metrics_family(b, "tapwarden_vm_verdict", "gauge",
		       "current verdict: 0 ok, 1 alert, 2 block (observe only: would block)");
	for (size_t i = 0; i < d->nvms; i++) {
		l[0] = (struct metrics_label){ "vm", d->vms[i]->uuid };
		l[1] = (struct metrics_label){ "name", d->vms[i]->name };
		metrics_sample_u64(b, "tapwarden_vm_verdict", l, 2, (uint64_t)d->vms[i]->verdict);
	}
#undef VM_FAMILY

#define TAP_FAMILY(metric, type, help, expr) do {                                  \
		metrics_family(b, metric, type, help);                             \
		for (size_t i = 0; i < d->ntaps; i++) {                            \
			const struct dtap *tap = d->taps[i];                       \
			l[0] = (struct metrics_label){ "tap", tap->ifname };       \
			l[1] = (struct metrics_label){ "vm", tap->id.uuid };       \
			l[2] = (struct metrics_label){ "generation", tap->gen_str };\
			metrics_sample_u64(b, metric, l, 3, (uint64_t)(expr));     \
		}                                                                  \
	} while (0)
	TAP_FAMILY("tapwarden_capture_up", "gauge", "1 when the tap's handle is open", tap->cap != NULL);
	TAP_FAMILY("tapwarden_capture_packets_total", "counter",
		   "frames that passed the filter (pcap_stats ps_recv)", tap->ks.received);
	TAP_FAMILY("tapwarden_capture_drops_total", "counter",
		   "frames dropped for lack of buffer (pcap_stats ps_drop)", tap->ks.dropped);
	TAP_FAMILY("tapwarden_capture_if_drops_total", "counter",
		   "frames dropped by the interface (pcap_stats ps_ifdrop)", tap->ks.ifdropped);
	TAP_FAMILY("tapwarden_capture_frames_total", "counter", "frames read by the agent",
		   tap->cc.frames);
	TAP_FAMILY("tapwarden_capture_decode_errors_total", "counter",
		   "frames that were malformed or truncated",
		   tap->cc.decode[DECODE_MALFORMED] + tap->cc.decode[DECODE_TRUNCATED]);
	TAP_FAMILY("tapwarden_capture_open_failures_total", "counter",
		   "failed attempts to open the tap (not up yet, gone)", tap->open_failures);
	TAP_FAMILY("tapwarden_flows_active", "gauge", "flows in the tap's table",
		   session_tracker_flow_counters(tap->t)->flows_active);
#undef TAP_FAMILY
	for (size_t i = 0; i < d->ntaps; i++) {
		const struct flow_counters *fc = session_tracker_flow_counters(d->taps[i]->t);
		const struct session_counters *sc = session_tracker_counters(d->taps[i]->t);

		flows += fc->flows_active;
		sessions_active += sc->sessions_active;
		evicted += fc->flows_evicted;
		fbuf += fc->flow_buffer_cap_hits;
		tbuf += fc->total_buffer_cap_hits;
		parsers += sc->parsers_exhausted;
		txns += sc->txns_dropped;
		rcpts += sc->rcpts_dropped;
		oom += sc->oom;
	}
	metrics_family(b, "tapwarden_flow_table_flows", "gauge", "flows tracked, all taps");
	metrics_sample_u64(b, "tapwarden_flow_table_flows", NULL, 0, flows);
	metrics_family(b, "tapwarden_flow_table_capacity", "gauge",
		       "flows that fit, all taps (--max-flows per tap)");
	metrics_sample_u64(b, "tapwarden_flow_table_capacity", NULL, 0,
			   (uint64_t)d->cfg->session.flow.max_flows * d->ntaps);
	metrics_family(b, "tapwarden_sessions_active", "gauge", "SMTP sessions open, all taps");
	metrics_sample_u64(b, "tapwarden_sessions_active", NULL, 0, sessions_active);

	vmmap_get_stats(d->map, &ms);
	metrics_family(b, "tapwarden_caps_hit_total", "counter",
		       "a hard cap was reached: data dropped or counted only");
	{
		static const char *names[] = { "flows_evicted", "flow_buffer", "total_buffer", "parsers",
					       "transactions", "recipients", "out_of_memory", "vms_detect",
					       "vms_metrics", "taps_vmmap" };
		uint64_t vals[] = { evicted, fbuf, tbuf, parsers, txns, rcpts, oom, dc->vms_dropped,
				    d->vms_dropped, ms.taps_dropped };

		for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
			l[0] = (struct metrics_label){ "cap", names[i] };
			metrics_sample_u64(b, "tapwarden_caps_hit_total", l, 1, vals[i]);
		}
	}
	metrics_family(b, "tapwarden_capture_closed_taps_frames_total", "counter",
		       "frames read on taps that are closed now");
	metrics_sample_u64(b, "tapwarden_capture_closed_taps_frames_total", NULL, 0, d->ret.frames);
	metrics_family(b, "tapwarden_capture_closed_taps_drops_total", "counter",
		       "kernel drops on taps that are closed now");
	metrics_sample_u64(b, "tapwarden_capture_closed_taps_drops_total", NULL, 0, d->ret.dropped);
	metrics_family(b, "tapwarden_vmmap_events_total", "counter", "libvirt domain events");
	metrics_sample_u64(b, "tapwarden_vmmap_events_total", NULL, 0, ms.events);
	metrics_family(b, "tapwarden_vmmap_syncs_total", "counter", "full syncs with libvirt");
	metrics_sample_u64(b, "tapwarden_vmmap_syncs_total", NULL, 0, ms.syncs);
	metrics_family(b, "tapwarden_vmmap_taps", "gauge", "taps mapped to running VMs");
	metrics_sample_u64(b, "tapwarden_vmmap_taps", NULL, 0, d->ntaps);
	metrics_family(b, "tapwarden_detect_vms", "gauge", "VMs in the detection table");
	metrics_sample_u64(b, "tapwarden_detect_vms", NULL, 0, dc->vms);
	metrics_family(b, "tapwarden_detect_verdicts_total", "counter", "verdict changes, all VMs");
	metrics_sample_u64(b, "tapwarden_detect_verdicts_total", NULL, 0, dc->verdicts);
	metrics_family(b, "tapwarden_observe_only", "gauge",
		       "1: blocks are reported (would block), never enforced");
	metrics_sample_u64(b, "tapwarden_observe_only", NULL, 0, d->cfg->policy->observe_only);
}

/* ---- run ---------------------------------------------------------------------- */

int daemon_run(const struct daemon_config *cfg)
{
	struct daemon dd, *d = &dd;
	struct vmmap_callbacks cb = {
		.tap_added = on_tap_added, .tap_removed = on_tap_removed,
		.vm_stopped = on_vm_stopped, .arg = d,
	};
	const char *uri = cfg->libvirt_uri ? cfg->libvirt_uri : "qemu:///system";
	struct timeval one_s = { 1, 0 };
	char err[512];
	int rc = 1, r;

	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	jsonw_init(&d->w);
	d->rl_open = (struct log_ratelimit){ .burst = 20, .interval_s = 60 };
	d->rl_err = (struct log_ratelimit){ .burst = 10, .interval_s = 60 };
	signal(SIGPIPE, SIG_IGN);
	/* enforcement is the next step: until then every block is "would block" */
	cfg->policy->observe_only = true;

	d->filter = malloc(BPFFILTER_TEXT_MAX);
	d->vms = calloc(cfg->max_vms ? cfg->max_vms : 1, sizeof(*d->vms));
	d->detect = detect_new(cfg->max_vms, cfg->policy, on_verdict, d);
	d->base = event_base_new();
	if (!d->filter || !d->vms || !d->detect || !d->base) {
		log_err("agent: out of memory at start");
		goto out;
	}
	r = bpffilter_text(cfg->session.ports, cfg->session.n_ports, d->filter, BPFFILTER_TEXT_MAX);
	if (r < 0) {
		log_err("capture: cannot build the capture filter error=\"%s\"", strerror(-r));
		goto out;
	}
	d->ev_tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	d->ev_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->ev_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	if (!d->ev_tick || !d->ev_int || !d->ev_term || event_add(d->ev_int, NULL) ||
	    event_add(d->ev_term, NULL)) {
		log_err("agent: cannot set up the event loop");
		goto out;
	}
	if (cfg->metrics_addr &&
	    metrics_server_new(d->base, cfg->metrics_addr, render, d, &d->metrics, err, sizeof(err)) < 0) {
		log_err("metrics: %s", err);
		goto out;
	}
	r = vmmap_new(uri, &cb, &d->map);
	if (r < 0) {
		log_err("vmmap: cannot connect to libvirt uri=%s error=\"%s\"", uri, strerror(-r));
		goto out;
	}
	d->ev_vm = event_new(d->base, vmmap_event_fd(d->map), EV_READ | EV_PERSIST, on_vmmap, d);
	if (!d->ev_vm || event_add(d->ev_vm, NULL) != 0 || event_add(d->ev_tick, &one_s) != 0) {
		log_err("agent: cannot set up the event loop");
		goto out;
	}
	log_info("agent: live libvirt=%s ports=%zu capture_buffer=%u max_flows_per_tap=%u metrics=%s verdicts=%s observe_only=1",
		 uri, cfg->session.n_ports, cfg->capture_buffer, cfg->session.flow.max_flows,
		 cfg->metrics_addr ? cfg->metrics_addr : "off",
		 cfg->verdicts_path ? cfg->verdicts_path : "off");
	r = vmmap_sync(d->map);
	if (r < 0) {
		log_err("vmmap: first sync with libvirt failed uri=%s error=\"%s\"", uri, strerror(-r));
		goto out;
	}
	log_info("agent: running taps=%zu vms=%zu", d->ntaps, d->nvms);
	if (event_base_dispatch(d->base) < 0) {
		log_err("agent: event loop failed");
		goto out;
	}
	rc = 0;
out:
	/* clean stop: every open session is ended and counted */
	while (d->ntaps > 0)
		tap_close(d, d->taps[--d->ntaps], "shutdown");
	if (d->detect) {
		const struct detect_counters *dc = detect_counters(d->detect);

		detect_tick(d->detect, now_us());
		if (rc == 0)
			log_info("agent: stopped vms=%llu verdicts=%llu sessions=%llu kernel_drops=%llu",
				 (unsigned long long)dc->vms, (unsigned long long)dc->verdicts,
				 (unsigned long long)d->ret.sessions, (unsigned long long)d->ret.dropped);
	}
	if (cfg->verdicts && fflush(cfg->verdicts) != 0)
		d->write_failed = true;
	if (rc == 0 && d->write_failed)
		rc = 2;
	vmmap_free(d->map);
	metrics_server_free(d->metrics);
	if (d->ev_vm)
		event_free(d->ev_vm);
	if (d->ev_tick)
		event_free(d->ev_tick);
	if (d->ev_int)
		event_free(d->ev_int);
	if (d->ev_term)
		event_free(d->ev_term);
	if (d->base)
		event_base_free(d->base);
	detect_free(d->detect);
	for (size_t i = 0; i < d->nvms; i++)
		free(d->vms[i]);
	free(d->vms);
	free(d->taps);
	free(d->filter);
	jsonw_fini(&d->w);
	return rc;
}
