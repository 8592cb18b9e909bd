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
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "bpffilter.h"
#include "capture.h"
#include "detect.h"
#include "enforce.h"
#include "enforce_nft.h"
#include "jsonw.h"
#include "log.h"
#include "metrics.h"
#include "observe.h"
#include "verdict_json.h"
#include "vmmap.h"
#include "whitelist.h"
#include "daemon_int.h"
#include "report.h"

#define DAEMON_BUDGET      1024   /* frames per pcap_dispatch call */
#define DAEMON_TIMEOUT_MS  100    /* pcap block timeout: latency of a quiet tap */
#define DAEMON_RETRY_S     1      /* a tap that is not up is tried again this often */
#define DAEMON_SYNC_RETRY_S 5     /* first retry of a failed libvirt sync (doubling) */
#define DAEMON_COUNTERS_S  5      /* drop counters read from the kernel this often */
#define DAEMON_MANUAL_S    (3650u * 86400u)   /* "manual" blocks: until lifted */

static uint64_t now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (uint64_t)tv.tv_sec * 1000000ULL + (uint64_t)tv.tv_usec;
}

/* Block expiries run on the monotonic clock (the kernel's timeouts are
 * relative): a wall-clock step must not lengthen or end a block. */
static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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
	/* the agent's own decision; the dry-run backend logs instead */
	if (v->verdict == PA_BLOCK && d->enf)
		enforce_block(d->enf, v->vm->uuid, v->vm->name,
			      v->duration_s == POLICY_MANUAL ? DAEMON_MANUAL_S : v->duration_s, ENFORCE_AUTO,
			      v->n_fired ? v->policy->rules[v->fired[0].rule].name : "policy", mono_ms());
	dbus_verdict(d, v);
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

	observe_session(s, d->replies, o);
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
		d->inventory_dirty = true;
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
		.userspace_filter = d->filter_user,
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
	if (tap->ifindex && idx != tap->ifindex) {
		/* Not the device libvirt mapped: it was deleted and made again,
		 * perhaps for another VM whose event has not arrived.  Capture
		 * nothing for this mapping until a full sync says libvirt still
		 * gives this tap to this VM (a sync that moved it has closed
		 * this mapping). */
		struct vmmap_stats ms;

		vmmap_get_stats(d->map, &ms);
		if (!tap->stale_sync) {
			tap->stale_sync = ms.syncs + 1;
			d->next_sync_s = 0;
			log_warn("capture: tap is not the device libvirt mapped tap=%s vm=%s ifindex_mapped=%u ifindex_now=%u (not captured until libvirt confirms)",
				 tap->ifname, tap->id.uuid, tap->ifindex, idx);
		}
		if (ms.syncs < tap->stale_sync) {
			capture_live_close(tap->cap);
			tap->cap = NULL;
			tap->next_open_s = now_us() / 1000000 + DAEMON_RETRY_S;
			return -ESTALE;
		}
		log_info("capture: libvirt still maps tap=%s to vm=%s: capturing ifindex=%u",
			 tap->ifname, tap->id.uuid, idx);
		tap->stale_sync = 0;
	}
	tap->ifindex = idx;
	if (d->enf && idx)
		enforce_tap_added(d->enf, tap->id.uuid, tap->id.name, tap->ifname, idx, mono_ms());
	d->inventory_dirty = true;
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
	if (d->enf && tap->ifindex)
		enforce_tap_removed(d->enf, tap->ifindex, mono_ms());
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
	tap->id.whitelisted = whitelist_contains(&d->wl, tap->id.uuid, now_us() / 1000000);
	tap->id.limit_scale = whitelist_scale(&d->wl, tap->id.uuid, now_us() / 1000000);
	tap->t = session_tracker_new(&d->cfg->session, on_session, tap);
	if (!tap->t) {
		log_err("capture: out of memory, tap not watched tap=%s", vt->ifname);
		free(tap);
		return;
	}
	tap->vm = dvm_get(d, &tap->id);
	if (tap->vm) {
		tap->vm->taps++;
		tap->vm->whitelisted = tap->id.whitelisted;
	}
	d->taps[d->ntaps++] = tap;
	d->inventory_dirty = true;
	/* a blocked VM's new tap is blocked before it is even captured */
	if (d->enf && tap->ifindex)
		enforce_tap_added(d->enf, tap->id.uuid, tap->id.name, tap->ifname, tap->ifindex, mono_ms());
	log_info("vmmap: tap mapped tap=%s vm=%s name=%s plan=%s whitelisted=%d generation=%" PRIu64,
		 vt->ifname, vt->uuid, tap->id.name, vt->plan[0] ? vt->plan : "-",
		 tap->id.whitelisted, vt->generation);
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
			d->inventory_dirty = true;
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

/* Whitelist state of every mapped tap and known VM as of now_s: entries
 * expire, and reloads change the list. */
static void apply_whitelist(struct daemon *d, uint64_t now_s)
{
	for (size_t i = 0; i < d->ntaps; i++) {
		struct dtap *tap = d->taps[i];
		bool wl = whitelist_contains(&d->wl, tap->id.uuid, now_s);
		double scale = whitelist_scale(&d->wl, tap->id.uuid, now_s);

		if (wl != tap->id.whitelisted || scale != tap->id.limit_scale)
			log_info("agent: whitelist vm=%s name=%s whitelisted=%d limit_scale=%g", tap->id.uuid,
				 tap->id.name, wl, scale);
		tap->id.whitelisted = wl;
		tap->id.limit_scale = scale;
	}
	for (size_t i = 0; i < d->nvms; i++)
		d->vms[i]->whitelisted = whitelist_contains(&d->wl, d->vms[i]->uuid, now_s);
}

void daemon_set_whitelist(struct daemon *d, const struct whitelist *controller)
{
	struct whitelist m;

	if (whitelist_merge(&d->wl_file, controller, &m) < 0) {
		log_err("agent: out of memory merging the whitelist; the previous one stays in force");
		return;
	}
	whitelist_fini(&d->wl);
	d->wl = m;
	apply_whitelist(d, now_us() / 1000000);
	if (d->enf)
		enforce_set_whitelist(d->enf, &d->wl, now_us() / 1000000, mono_ms());
}

/* Enforcement's share of the tick: expiries, a repair someone else's
 * change asked for (at most once a second), the drop counters. */
static void enforce_periodic(struct daemon *d, uint64_t now_s)
{
	uint64_t ms = mono_ms();

	if (!d->enf)
		return;
	enforce_tick(d->enf, ms);
	if (d->resync_due && ms >= d->last_resync_ms + 1000) {
		d->resync_due = false;
		d->last_resync_ms = ms;
		log_info("enforce: nftables changed by another process: checking table netdev %s", NFT_TABLE);
		enforce_resync(d->enf, ms);
	}
	if (d->nftb && now_s >= d->next_counters_s) {
		struct nft_chain *ch = NULL;
		size_t n = 0;

		d->next_counters_s = now_s + DAEMON_COUNTERS_S;
		if (enforce_nft_counters(d->nftb, &ch, &n) == 0)
			for (size_t i = 0; i < n; i++)
				enforce_note_dropped(d->enf, ch[i].ifindex, ch[i].dropped);
		free(ch);
	}
}

static void on_nft(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int r = nft_monitor_read(enforce_nft_handle(d->nftb));

	(void)fd;
	(void)what;
	if (r != 0) {
		/* another process committed a change (or we lost track):
		 * re-read and repair soon, not on every notification */
		d->resync_due = true;
		if (mono_ms() >= d->last_resync_ms + 1000)
			enforce_periodic(d, now_us() / 1000000);
	}
}

static void on_enforce_result(void *arg, const struct enforce_result *r)
{
	struct daemon *d = arg;
	static const char *const an[] = { "block", "unblock", "expire", "refused" };

	if ((unsigned)r->action <= EA_REFUSED)
		d->results[r->action][r->error ? 1 : 0]++;
	dbus_enforce(d, r);
	if (r->error)
		log_err("enforce: %s FAILED vm=%s name=%s origin=%s error=\"%s\"", an[r->action], r->uuid,
			r->name, r->origin == ENFORCE_MANUAL ? "manual" : "auto", r->message ? r->message : "");
	else
		log_info("enforce: %s %s vm=%s name=%s origin=%s remaining=%llus taps=%u backend=%s%s%s%s",
			 an[r->action], r->action == EA_REFUSED ? "not applied" : "applied", r->uuid, r->name,
			 r->origin == ENFORCE_MANUAL ? "manual" : "auto", (unsigned long long)r->remaining_s,
			 r->taps, d->nftb ? "nftables" : "dry-run", r->message ? " note=\"" : "",
			 r->message ? r->message : "", r->message ? "\"" : "");
}

/* The periodic full sync with libvirt (safety net for lost events; also
 * reconnects after a libvirtd restart); failures back off from
 * DAEMON_SYNC_RETRY_S up to the configured interval. */
static void periodic_sync(struct daemon *d, uint64_t now_s)
{
	int r;

	if (now_s < d->next_sync_s)
		return;
	r = vmmap_sync(d->map);
	if (r < 0) {
		uint64_t wait = (uint64_t)DAEMON_SYNC_RETRY_S << (d->sync_failures < 10 ? d->sync_failures : 10);

		if (wait > d->cfg->resync_s)
			wait = d->cfg->resync_s;
		d->syncs_failed++;
		d->sync_failures++;
		d->next_sync_s = now_s + wait;
		if (log_ratelimit(&d->rl_err, now_s))
			log_warn("vmmap: sync with libvirt failed error=\"%s\" failures=%u retry_in=%" PRIu64 "s",
				 strerror(-r), d->sync_failures, wait);
		return;
	}
	if (d->sync_failures)
		log_info("vmmap: sync with libvirt works again after failures=%u taps=%zu",
			 d->sync_failures, d->ntaps);
	d->sync_failures = 0;
	d->next_sync_s = now_s + d->cfg->resync_s;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	uint64_t now = now_us();

	(void)fd;
	(void)what;
	periodic_sync(d, now / 1000000);
	apply_whitelist(d, now / 1000000);
	enforce_periodic(d, now / 1000000);
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
	dbus_tick(d, now / 1000000);
	d->ticks++;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	log_info("agent: stopping signal=%s", sig == SIGINT ? "INT" : "TERM");
	d->stopping = true;
	event_base_loopbreak(d->base);
}

/* SIGHUP: read the policy, the reply patterns and the whitelist again.
 * All or nothing: when any file has an error, every error is logged with
 * file:line and the running configuration stays. */
void daemon_reload(struct daemon *d)
{
	struct policy *np = malloc(sizeof(*np));
	struct reply_patterns *nr = malloc(sizeof(*nr));
	struct whitelist nw = { 0 };
	struct policy_errors errs;
	bool ok = np && nr;

	if (ok && policy_load_file(d->cfg->policy_path, np, &errs) < 0) {
		policy_errors_log(&errs);
		ok = false;
	}
	if (ok && policy_load_replies_file(d->cfg->replies_path, nr, &errs) < 0) {
		policy_errors_log(&errs);
		ok = false;
	}
	if (ok && d->cfg->whitelist_path && whitelist_load_file(d->cfg->whitelist_path, &nw, &errs) < 0) {
		policy_errors_log(&errs);
		ok = false;
	}
	if (!ok) {
		d->reloads_failed++;
		log_err("agent: reload failed, the running policy, replies and whitelist stay in force");
		free(np);
		free(nr);
		return;
	}
	if (d->cfg->dry_run)
		np->observe_only = true;
	detect_set_policy(d->detect, np);
	free(d->own_policy);
	free(d->own_replies);
	d->policy = d->own_policy = np;
	d->replies = d->own_replies = nr;
	whitelist_fini(&d->wl_file);
	d->wl_file = nw;
	daemon_set_whitelist(d, d->rep ? report_whitelist(d->rep) : NULL);
	d->reloads_ok++;
	log_info("agent: reloaded policy=%s rules=%u replies=%s patterns=%u whitelist=%s entries=%zu",
		 d->cfg->policy_path, np->n_rules, d->cfg->replies_path, nr->n,
		 d->cfg->whitelist_path ? d->cfg->whitelist_path : "none", d->wl.n);
}

static void on_hup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	log_info("agent: reloading signal=HUP");
	daemon_reload(arg);
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
	VM_FAMILY("tapwarden_vm_whitelisted", "gauge", "1: an approved bulk sender (never blocked by detection)",
		  whitelisted);
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
	metrics_family(b, "tapwarden_vmmap_sync_failures_total", "counter", "full syncs with libvirt that failed");
	metrics_sample_u64(b, "tapwarden_vmmap_sync_failures_total", NULL, 0, d->syncs_failed);
	metrics_family(b, "tapwarden_vmmap_reconnects_total", "counter", "libvirt connection opened again");
	metrics_sample_u64(b, "tapwarden_vmmap_reconnects_total", NULL, 0, ms.reconnects);
	metrics_family(b, "tapwarden_config_reloads_total", "counter", "SIGHUP reloads by result");
	l[0] = (struct metrics_label){ "result", "ok" };
	metrics_sample_u64(b, "tapwarden_config_reloads_total", l, 1, d->reloads_ok);
	l[0] = (struct metrics_label){ "result", "failed" };
	metrics_sample_u64(b, "tapwarden_config_reloads_total", l, 1, d->reloads_failed);
	metrics_family(b, "tapwarden_whitelist_entries", "gauge", "entries in the whitelist in force");
	metrics_sample_u64(b, "tapwarden_whitelist_entries", NULL, 0, d->wl.n);
	dbus_metrics(d, b);
	metrics_family(b, "tapwarden_vmmap_taps", "gauge", "taps mapped to running VMs");
	metrics_sample_u64(b, "tapwarden_vmmap_taps", NULL, 0, d->ntaps);
	metrics_family(b, "tapwarden_detect_vms", "gauge", "VMs in the detection table");
	metrics_sample_u64(b, "tapwarden_detect_vms", NULL, 0, dc->vms);
	metrics_family(b, "tapwarden_detect_verdicts_total", "counter", "verdict changes, all VMs");
	metrics_sample_u64(b, "tapwarden_detect_verdicts_total", NULL, 0, dc->verdicts);
	if (d->enf) {
		const struct enforce_counters *ec = enforce_counters(d->enf);
		uint64_t now_ms = mono_ms(), rem;
		static const char *const an[] = { "block", "unblock", "expire", "refused" };

		metrics_family(b, "tapwarden_vm_blocked", "gauge", "1: port 25 of the VM is blocked now");
		metrics_family(b, "tapwarden_vm_block_remaining_seconds", "gauge", "time left of the VM's block");
		metrics_family(b, "tapwarden_vm_dropped_packets_total", "counter",
			       "packets of the VM dropped by its block (kernel counters, every 5 s)");
		for (size_t i = 0; i < d->nvms; i++) {
			bool bl = enforce_is_blocked(d->enf, d->vms[i]->uuid, now_ms, &rem);

			l[0] = (struct metrics_label){ "vm", d->vms[i]->uuid };
			l[1] = (struct metrics_label){ "name", d->vms[i]->name };
			metrics_sample_u64(b, "tapwarden_vm_blocked", l, 2, bl);
			metrics_sample_u64(b, "tapwarden_vm_block_remaining_seconds", l, 2, bl ? rem : 0);
			metrics_sample_u64(b, "tapwarden_vm_dropped_packets_total", l, 2,
					   enforce_dropped(d->enf, d->vms[i]->uuid));
		}
		metrics_family(b, "tapwarden_enforce_blocked_vms", "gauge", "VMs blocked now (also those not running)");
		metrics_sample_u64(b, "tapwarden_enforce_blocked_vms", NULL, 0, enforce_blocked_count(d->enf, now_ms));
		metrics_family(b, "tapwarden_enforce_results_total", "counter",
			       "blocks, unblocks, expiries and refusals (whitelisted), applied or failed");
		for (int a = 0; a < 4; a++)
			for (int f = 0; f < 2; f++) {
				l[0] = (struct metrics_label){ "action", an[a] };
				l[1] = (struct metrics_label){ "result", f ? "failed" : "applied" };
				metrics_sample_u64(b, "tapwarden_enforce_results_total", l, 2, d->results[a][f]);
			}
		metrics_family(b, "tapwarden_enforce_transactions_total", "counter", "netlink transactions by result");
		l[0] = (struct metrics_label){ "result", "ok" };
		metrics_sample_u64(b, "tapwarden_enforce_transactions_total", l, 1,
				   ec->transactions - ec->transactions_failed);
		l[0] = (struct metrics_label){ "result", "refused" };
		metrics_sample_u64(b, "tapwarden_enforce_transactions_total", l, 1, ec->transactions_failed);
		metrics_family(b, "tapwarden_enforce_resyncs_total", "counter",
			       "kernel state re-read (a refused transaction, another process's change)");
		metrics_sample_u64(b, "tapwarden_enforce_resyncs_total", NULL, 0, ec->resyncs);
		metrics_family(b, "tapwarden_enforce_dry_run", "gauge", "1: blocks are logged, not installed");
		metrics_sample_u64(b, "tapwarden_enforce_dry_run", NULL, 0, d->nftb == NULL);
	}
	metrics_family(b, "tapwarden_ticks_total", "counter", "runs of the 1 s timer (expiry, detection)");
	metrics_sample_u64(b, "tapwarden_ticks_total", NULL, 0, d->ticks);
	metrics_family(b, "tapwarden_observe_only", "gauge",
		       "1: blocks are reported (would block), never enforced");
	metrics_sample_u64(b, "tapwarden_observe_only", NULL, 0, d->policy->observe_only);
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
	d->policy = cfg->policy;
	d->replies = cfg->replies;
	jsonw_init(&d->w);
	d->rl_open = (struct log_ratelimit){ .burst = 20, .interval_s = 60 };
	d->rl_err = (struct log_ratelimit){ .burst = 10, .interval_s = 60 };
	signal(SIGPIPE, SIG_IGN);
	if (cfg->dry_run)
		cfg->policy->observe_only = true;

	if (cfg->whitelist_path) {
		struct policy_errors errs;

		if (whitelist_load_file(cfg->whitelist_path, &d->wl_file, &errs) < 0) {
			policy_errors_log(&errs);
			return 1;
		}
	}
	d->filter = malloc(BPFFILTER_TEXT_MAX);
	d->filter_user = malloc(BPFFILTER_TEXT_MAX);
	d->vms = calloc(cfg->max_vms ? cfg->max_vms : 1, sizeof(*d->vms));
	d->detect = detect_new(cfg->max_vms, cfg->policy, on_verdict, d);
	d->base = event_base_new();
	if (!d->filter || !d->filter_user || !d->vms || !d->detect || !d->base) {
		log_err("agent: out of memory at start");
		goto out;
	}
	r = bpffilter_text(cfg->session.ports, cfg->session.n_ports, BPFFILTER_GUEST_CLIENT,
			   d->filter, BPFFILTER_TEXT_MAX);
	if (r == 0)
		r = bpffilter_text(cfg->session.ports, cfg->session.n_ports, BPFFILTER_ANY_DIRECTION,
				   d->filter_user, BPFFILTER_TEXT_MAX);
	if (r < 0) {
		log_err("capture: cannot build the capture filter error=\"%s\"", strerror(-r));
		goto out;
	}
	d->ev_tick = event_new(d->base, -1, EV_PERSIST, on_tick, d);
	d->ev_int = evsignal_new(d->base, SIGINT, on_signal, d);
	d->ev_term = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->ev_hup = evsignal_new(d->base, SIGHUP, on_hup, d);
	if (!d->ev_tick || !d->ev_int || !d->ev_term || !d->ev_hup || event_add(d->ev_int, NULL) ||
	    event_add(d->ev_term, NULL) || event_add(d->ev_hup, NULL)) {
		log_err("agent: cannot set up the event loop");
		goto out;
	}
	if (cfg->metrics_addr &&
	    metrics_server_new(d->base, cfg->metrics_addr, render, d, &d->metrics, err, sizeof(err)) < 0) {
		log_err("metrics: %s", err);
		goto out;
	}
	/* the controller's link first: its cached whitelist is in force
	 * before enforcement and detection start */
	if (dbus_start(d) < 0)
		goto out;
	daemon_set_whitelist(d, d->rep ? report_whitelist(d->rep) : NULL);
	/* enforcement before the tap map: its first sync already blocks the
	 * taps of VMs the kernel says are blocked */
	if (cfg->policy->observe_only) {
		d->dry = enforce_dryrun_new();
	} else if (!(d->nftb = enforce_nft_new(cfg->session.ports, cfg->session.n_ports, err, sizeof(err)))) {
		log_err("enforce: cannot reach nftables error=\"%s\" (CAP_NET_ADMIN?; --dry-run to run without)", err);
		goto out;
	}
	d->enf = enforce_new(d->nftb ? enforce_nft_backend(d->nftb) : d->dry, cfg->session.ports,
			     cfg->session.n_ports, on_enforce_result, d);
	if (!d->enf) {
		log_err("agent: out of memory at start");
		goto out;
	}
	enforce_set_whitelist(d->enf, &d->wl, now_us() / 1000000, mono_ms());
	if (enforce_start(d->enf, mono_ms(), err, sizeof(err)) < 0) {
		log_err("enforce: cannot read or create table netdev %s error=\"%s\"", NFT_TABLE, err);
		goto out;
	}
	if (d->nftb) {
		d->ev_nft = event_new(d->base, nft_monitor_fd(enforce_nft_handle(d->nftb)), EV_READ | EV_PERSIST,
				      on_nft, d);
		if (!d->ev_nft || event_add(d->ev_nft, NULL) != 0) {
			log_err("agent: cannot set up the event loop");
			goto out;
		}
	}
	log_info("enforce: ready backend=%s table=netdev:%s blocked_vms=%zu adopted=%llu",
		 d->nftb ? "nftables" : "dry-run", NFT_TABLE, enforce_blocked_count(d->enf, mono_ms()),
		 (unsigned long long)enforce_counters(d->enf)->adopted);
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
	log_info("agent: live libvirt=%s ports=%zu capture_buffer=%u max_flows_per_tap=%u metrics=%s verdicts=%s whitelist=%s entries=%zu resync=%us observe_only=%d",
		 uri, cfg->session.n_ports, cfg->capture_buffer, cfg->session.flow.max_flows,
		 cfg->metrics_addr ? cfg->metrics_addr : "off",
		 cfg->verdicts_path ? cfg->verdicts_path : "off",
		 cfg->whitelist_path ? cfg->whitelist_path : "none", d->wl.n, cfg->resync_s,
		 cfg->policy->observe_only);
	r = vmmap_sync(d->map);
	if (r < 0) {
		log_err("vmmap: first sync with libvirt failed uri=%s error=\"%s\"", uri, strerror(-r));
		goto out;
	}
	d->next_sync_s = now_us() / 1000000 + cfg->resync_s;
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
	dbus_stop(d);
	vmmap_free(d->map);
	metrics_server_free(d->metrics);
	/* blocks stay in the kernel (fail closed): their timeouts run there */
	if (d->ev_nft)
		event_free(d->ev_nft);
	enforce_free(d->enf);
	enforce_nft_free(d->nftb);
	enforce_dryrun_free(d->dry);
	if (d->ev_vm)
		event_free(d->ev_vm);
	if (d->ev_tick)
		event_free(d->ev_tick);
	if (d->ev_int)
		event_free(d->ev_int);
	if (d->ev_term)
		event_free(d->ev_term);
	if (d->ev_hup)
		event_free(d->ev_hup);
	if (d->base)
		event_base_free(d->base);
	detect_free(d->detect);
	free(d->own_policy);
	free(d->own_replies);
	whitelist_fini(&d->wl);
	whitelist_fini(&d->wl_file);
	for (size_t i = 0; i < d->nvms; i++)
		free(d->vms[i]);
	free(d->vms);
	free(d->taps);
	free(d->filter);
	free(d->filter_user);
	jsonw_fini(&d->w);
	return rc;
}
