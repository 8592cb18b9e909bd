/* SPDX-License-Identifier: MIT */
/*
 * daemon_bus: the live daemon's link to the controller (agent process).
 * Turns what the daemon sees into reports (verdicts, enforcement results,
 * per-VM statistics every STATS_REPORT_S with the fingerprints the
 * controller's campaign rule needs, the inventory of VMs on this
 * hypervisor when it changes, health for the heartbeat) and applies the
 * controller's commands through the same enforcement path as the agent's
 * own verdicts, so every rule of enforce.c (whitelist, longest block wins,
 * blocks follow the VM) holds for both.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon_int.h"
#include "metrics.h"
#include "report.h"
#include "verdict_json.h"

#define DBUS_CHUNK 500        /* VMs per stats or inventory entry */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void publish(struct daemon *d, const char *type)
{
	if (d->bw.oom) {
		log_err("report: out of memory building a %s report", type);
		return;
	}
	report_publish(d->rep, type, d->bw.buf, d->bw.len);
}

void dbus_verdict(struct daemon *d, const struct detect_verdict *v)
{
	if (!d->rep)
		return;
	jsonw_reset(&d->bw);
	verdict_to_json(v, &d->bw);
	publish(d, "verdict");
}

void dbus_enforce(struct daemon *d, const struct enforce_result *r)
{
	static const char *const an[] = { "block", "unblock", "expire", "refused" };

	if (!d->rep)
		return;
	jsonw_reset(&d->bw);
	jsonw_obj_begin(&d->bw);
	jsonw_key(&d->bw, "action"); jsonw_cstr(&d->bw, an[r->action]);
	jsonw_key(&d->bw, "vm"); jsonw_cstr(&d->bw, r->uuid ? r->uuid : "");
	jsonw_key(&d->bw, "name"); jsonw_cstr(&d->bw, r->name ? r->name : "");
	jsonw_key(&d->bw, "origin"); jsonw_cstr(&d->bw, r->origin == ENFORCE_MANUAL ? "manual" : "auto");
	jsonw_key(&d->bw, "remaining_s"); jsonw_uint(&d->bw, r->remaining_s);
	jsonw_key(&d->bw, "error"); jsonw_int(&d->bw, r->error);
	jsonw_key(&d->bw, "message"); jsonw_cstr(&d->bw, r->message ? r->message : "");
	jsonw_key(&d->bw, "taps"); jsonw_uint(&d->bw, r->taps);
	jsonw_key(&d->bw, "backend"); jsonw_cstr(&d->bw, d->nftb ? "nftables" : "dry-run");
	jsonw_obj_end(&d->bw);
	publish(d, "enforce");
}

/* ---- commands from the controller --------------------------------------------- */

static int on_command(void *arg, const struct bus_command *c, char *msg, size_t cap)
{
	struct daemon *d = arg;
	uint64_t now = (uint64_t)time(NULL);
	int r;

	switch (c->op) {
	case BUS_OP_BLOCK:
		if (c->until_s <= now) {
			snprintf(msg, cap, "the block ended before it arrived");
			return 1;
		}
		r = enforce_block(d->enf, c->uuid, c->name[0] ? c->name : c->uuid, c->until_s - now,
				  c->manual ? ENFORCE_MANUAL : ENFORCE_AUTO,
				  c->reason[0] ? c->reason : "controller", mono_ms());
		if (r == -EPERM) {
			snprintf(msg, cap, "not applied: the VM is whitelisted and the block is automatic");
			return 1;
		}
		if (r < 0)
			snprintf(msg, cap, "enforcement failed: %s", strerror(-r));
		return r;
	case BUS_OP_UNBLOCK:
		r = enforce_unblock(d->enf, c->uuid, c->reason[0] ? c->reason : "controller", mono_ms());
		if (r < 0)
			snprintf(msg, cap, "enforcement failed: %s", strerror(-r));
		return r;
	case BUS_OP_RELOAD: {
		uint64_t failed = d->reloads_failed;

		daemon_reload(d);
		if (d->reloads_failed != failed) {
			snprintf(msg, cap, "reload failed: see the agent's log");
			return -EINVAL;
		}
		return 0;
	}
	case BUS_OP_WL_SET:
	case BUS_OP_WL_DEL:
		break;       /* report.c keeps the list and calls on_whitelist */
	}
	return 1;
}

static void on_whitelist(void *arg, const struct whitelist *wl)
{
	daemon_set_whitelist(arg, wl);
}

static void on_health(void *arg, struct jsonw *w)
{
	struct daemon *d = arg;
	uint64_t dropped = d->ret.dropped, failed = 0;

	for (size_t i = 0; i < d->ntaps; i++)
		dropped += d->taps[i]->ks.dropped;
	for (int i = 0; i < 4; i++)
		failed += d->results[i][1];
	jsonw_key(w, "taps"); jsonw_uint(w, d->ntaps);
	jsonw_key(w, "vms"); jsonw_uint(w, d->nvms);
	jsonw_key(w, "blocked"); jsonw_uint(w, d->enf ? enforce_blocked_count(d->enf, mono_ms()) : 0);
	jsonw_key(w, "enforcement"); jsonw_cstr(w, d->nftb ? "nftables" : "dry-run");
	jsonw_key(w, "enforce_failed"); jsonw_uint(w, failed);
	jsonw_key(w, "capture_dropped"); jsonw_uint(w, dropped);
	jsonw_key(w, "whitelist"); jsonw_uint(w, d->wl.n);
	jsonw_key(w, "libvirt_sync_failures"); jsonw_uint(w, d->sync_failures);
}

/* ---- periodic reports ------------------------------------------------------------- */

/* Per-VM counts since the last report, for VMs that did something. */
static void stats_report(struct daemon *d, uint64_t now_s)
{
	size_t in_chunk = 0;

	for (size_t i = 0; i <= d->nvms; i++) {
		struct dvm *vm = i < d->nvms ? d->vms[i] : NULL;
		uint64_t cur[SJ_COUNTS];
		const struct stats_vm *st;

		if (vm) {
			cur[0] = vm->attempts; cur[1] = vm->sessions; cur[2] = vm->messages;
			cur[3] = vm->rcpts; cur[4] = vm->replies[2]; cur[5] = vm->replies[1];
			cur[6] = vm->user_unknown; cur[7] = vm->blocklist;
			if (memcmp(cur, vm->sent, sizeof(cur)) == 0)
				vm = NULL;
		}
		if (vm) {
			uint64_t n[SJ_COUNTS];

			if (in_chunk == 0) {
				jsonw_reset(&d->bw);
				jsonw_obj_begin(&d->bw);
				jsonw_key(&d->bw, "interval_s"); jsonw_uint(&d->bw, STATS_REPORT_S);
				jsonw_key(&d->bw, "vms");
				jsonw_arr_begin(&d->bw);
			}
			for (int j = 0; j < SJ_COUNTS; j++)
				n[j] = cur[j] - vm->sent[j];
			st = detect_stats(d->detect, vm->uuid);
			stats_entry_to_json(&d->bw, vm->uuid, vm->name, n, st, now_s);
			memcpy(vm->sent, cur, sizeof(cur));
			in_chunk++;
		}
		if (in_chunk && (in_chunk == DBUS_CHUNK || i == d->nvms)) {
			jsonw_arr_end(&d->bw);
			jsonw_obj_end(&d->bw);
			publish(d, "stats");
			in_chunk = 0;
		}
	}
}

/* The VMs whose taps are being captured here now: the controller follows
 * migrations with it.  A tap libvirt maps but that does not exist yet (a
 * domain defined here, running elsewhere) does not count. */
static void inventory_report(struct daemon *d)
{
	size_t listed = 0;

	jsonw_reset(&d->bw);
	jsonw_obj_begin(&d->bw);
	jsonw_key(&d->bw, "vms");
	jsonw_arr_begin(&d->bw);
	for (size_t i = 0; i < d->ntaps; i++) {
		struct dtap *t = d->taps[i];
		bool dup = false;

		if (!t->cap)
			continue;
		for (size_t j = 0; j < i && !dup; j++)
			dup = d->taps[j]->cap && strcmp(d->taps[j]->id.uuid, t->id.uuid) == 0;
		if (dup)
			continue;
		if (listed && listed % DBUS_CHUNK == 0) {
			jsonw_arr_end(&d->bw);
			jsonw_key(&d->bw, "last"); jsonw_bool(&d->bw, false);
			jsonw_obj_end(&d->bw);
			publish(d, "inventory");
			jsonw_reset(&d->bw);
			jsonw_obj_begin(&d->bw);
			jsonw_key(&d->bw, "vms");
			jsonw_arr_begin(&d->bw);
		}
		jsonw_obj_begin(&d->bw);
		jsonw_key(&d->bw, "uuid"); jsonw_cstr(&d->bw, t->id.uuid);
		jsonw_key(&d->bw, "name"); jsonw_cstr(&d->bw, t->id.name);
		jsonw_key(&d->bw, "tap"); jsonw_cstr(&d->bw, t->ifname);
		jsonw_obj_end(&d->bw);
		listed++;
	}
	jsonw_arr_end(&d->bw);
	jsonw_key(&d->bw, "last"); jsonw_bool(&d->bw, true);
	jsonw_obj_end(&d->bw);
	publish(d, "inventory");
}

void dbus_tick(struct daemon *d, uint64_t now_s)
{
	if (!d->rep)
		return;
	if (d->inventory_dirty) {
		d->inventory_dirty = false;
		inventory_report(d);
	}
	if (now_s >= d->next_stats_s) {
		d->next_stats_s = now_s + STATS_REPORT_S;
		stats_report(d, now_s);
	}
	report_tick(d->rep, now_s);
}

int dbus_start(struct daemon *d)
{
	struct report_hooks h = {
		.command = on_command, .whitelist = on_whitelist, .health = on_health, .arg = d,
	};
	char err[512];

	jsonw_init(&d->bw);
	if (!d->cfg->report)
		return 0;
	d->rep = report_new(d->base, d->cfg->report, &h, err, sizeof(err));
	if (!d->rep) {
		log_err("report: %s", err);
		return -EINVAL;
	}
	d->next_stats_s = (uint64_t)time(NULL) + STATS_REPORT_S;
	return 0;
}

void dbus_stop(struct daemon *d)
{
	report_free(d->rep);
	d->rep = NULL;
	jsonw_fini(&d->bw);
}

void dbus_metrics(struct daemon *d, struct evbuffer *b)
{
	const struct report_counters *c;

	if (!d->rep)
		return;
	c = report_counters(d->rep);
#define C(name, help, v) do { \
		metrics_family(b, "tapwarden_report_" name, "counter", help); \
		metrics_sample_u64(b, "tapwarden_report_" name, NULL, 0, v); \
	} while (0)
#define G(name, help, v) do { \
		metrics_family(b, "tapwarden_report_" name, "gauge", help); \
		metrics_sample_u64(b, "tapwarden_report_" name, NULL, 0, v); \
	} while (0)
	G("connected", "1: connected to Redis and synced with the controller", c->connected);
	C("published_total", "reports queued", c->published);
	C("written_total", "reports written to Redis", c->written);
	C("duplicates_total", "reports Redis already had (replayed after a lost reply)", c->duplicates);
	C("dropped_total", "reports LOST: the spool was full", c->dropped);
	C("spool_errors_total", "spool file I/O errors", c->spool_errors);
	G("pending", "reports in the spool not yet in Redis", c->pending);
	G("pending_bytes", "bytes in the spool not yet in Redis", c->pending_bytes);
	C("connects_total", "connections to Redis that completed their sync", c->connects);
	C("disconnects_total", "connections to Redis lost", c->disconnects);
	C("connect_failures_total", "connection attempts that failed", c->connect_failures);
	C("commands_total", "controller commands processed", c->commands);
	C("commands_failed_total", "controller commands that failed", c->commands_failed);
	C("commands_ignored_total", "controller commands with nothing to do", c->commands_ignored);
#undef C
#undef G
}
