/* SPDX-License-Identifier: MIT */
/*
 * report: the agent's side of the Redis bus (agent process, I/O).  Two
 * hiredis async connections on the daemon's libevent loop: one writes the
 * report stream (from the on-disk spool, in order, exactly once) and the
 * agent's hash (heartbeat, acknowledged commands); the other blocks on the
 * agent's command stream.  Reports are pushed to the spool and never wait
 * for Redis, so the packet path never blocks; while Redis is away they stay
 * in the spool (bounded) and are replayed in order when it is back.
 *
 * On every (re)connection, before it reads live commands, the agent
 * converges: the controller's active blocks (P:blocks), then every command
 * after the last one it applied (its cursor, kept in the state directory),
 * then the whole whitelist (P:whitelist) as the final word.  The
 * controller's whitelist is also cached in the state directory so that an
 * agent that starts while Redis is down still knows who is approved.
 */
#ifndef TAPWARDEN_REPORT_H
#define TAPWARDEN_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "jsonw.h"
#include "whitelist.h"

struct event_base;

struct report_config {
	const char *redis;            /* "HOST:PORT", "unix:PATH" */
	const char *user;             /* ACL user (NULL: "default" with a password) */
	const char *password;         /* NULL: no AUTH */
	const char *prefix;           /* key prefix ("tw") */
	const char *agent_id;         /* this hypervisor's id */
	const char *state_dir;        /* spool, boot counter, cursor, whitelist cache */
	uint64_t spool_max;           /* bytes of pending reports on disk */
	uint32_t heartbeat_s;
	const char *version;
};

/* What the daemon does with what comes from the controller. */
struct report_hooks {
	/* Apply a command (block, unblock, reload; whitelist changes go to
	 * whitelist()).  Returns 0 applied, 1 nothing to do (e.g. the block
	 * has already ended), or a negative errno with the reason in msg. */
	int (*command)(void *arg, const struct bus_command *c, char *msg, size_t cap);
	/* The controller's whitelist changed; wl is borrowed for the call. */
	void (*whitelist)(void *arg, const struct whitelist *wl);
	/* Append the heartbeat's health object to w. */
	void (*health)(void *arg, struct jsonw *w);
	void *arg;
};

struct report_counters {
	uint64_t published, written, duplicates, dropped, spool_errors;
	uint64_t connects, connect_failures, disconnects;
	uint64_t commands, commands_failed, commands_ignored;
	uint64_t pending, pending_bytes;
	bool connected;               /* synced and writing */
};

struct report;

/*
 * Open the state directory and spool, load the whitelist cache and the
 * command cursor, and start connecting (in the background: a Redis that is
 * down is not an error).  Returns owned, or NULL with the reason in err
 * (state directory unusable, bad configuration).  Borrows base, cfg's
 * strings and hooks for the object's life.
 */
struct report *report_new(struct event_base *base, const struct report_config *cfg,
			  const struct report_hooks *hooks, char *err, size_t cap);
void report_free(struct report *r);

/* The controller's whitelist as last known (cache or Redis), borrowed. */
const struct whitelist *report_whitelist(const struct report *r);

/*
 * Queue one report: type ("verdict", "stats", "enforce", "ack",
 * "inventory", "heartbeat") and its JSON body (borrowed).  Never blocks;
 * returns 0, or -ENOSPC when the spool is full (the report is dropped,
 * counted and logged with a rate limit).
 */
int report_publish(struct report *r, const char *type, const char *json, size_t len);

/* Once a second from the daemon's tick (heartbeat, reconnect backoff). */
void report_tick(struct report *r, uint64_t now_s);

const struct report_counters *report_counters(const struct report *r);

#endif
