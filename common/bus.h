/* SPDX-License-Identifier: MIT */
/*
 * bus: the Redis schema shared by the agent and the controller (both
 * processes; pure: key names and payload parsing, no I/O).  The schema is
 * versioned (BUS_SCHEMA); every stream entry carries "v".  The README's
 * "Redis schema" section is the reference; the names here are its code.
 *
 *   P:schema                 string  schema version, written by the controller
 *   P:agents                 set     agent ids that ever connected
 *   P:agent:ID               hash    version, boot, started, heartbeat (epoch s),
 *                                    heartbeat_interval, health (JSON), cmd_acked
 *   P:reports:ID             stream  the agent's reports; entry IDs BOOT-SEQ
 *                                    chosen by the agent (exactly once: Redis
 *                                    refuses an ID not above the top);
 *                                    fields v, type, ts (ms), body (JSON)
 *   P:cmd:ID                 stream  commands for one agent; fields v, op, body
 *   P:whitelist              hash    uuid -> JSON record (controller-owned)
 *   P:blocks                 hash    uuid -> JSON of the active block
 *   P:vm:UUID ...            controller state (see the README)
 *   P:audit                  stream  every decision and human action
 *
 * Guest-controlled strings only ever travel inside the JSON bodies, which
 * are passed to Redis as binary-safe arguments.
 */
#ifndef TAPWARDEN_BUS_H
#define TAPWARDEN_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BUS_SCHEMA 1
#define BUS_PREFIX_MAX 64
#define BUS_AGENT_ID_MAX 64
#define BUS_KEY_MAX 192
#define BUS_UUID_LEN 37
#define BUS_REASON_MAX 512
#define BUS_DECISION_MAX 48
#define BUS_BODY_MAX (256u * 1024u)    /* a command or whitelist body; more is refused */

/* s is a domain UUID (8-4-4-4-12 hex digits, any case): its canonical
 * lower-case form into out (may be s itself) and true; false otherwise. */
bool bus_uuid_norm(const char *s, char out[BUS_UUID_LEN]);

/* True for a key prefix or agent id: 1..max bytes of [A-Za-z0-9._-]. */
bool bus_name_valid(const char *s, size_t max);

/* "P:suffix" or "P:suffix:id" into key (cap >= BUS_KEY_MAX); id may be NULL. */
void bus_key(char *key, size_t cap, const char *prefix, const char *suffix, const char *id);

enum bus_op { BUS_OP_BLOCK, BUS_OP_UNBLOCK, BUS_OP_WL_SET, BUS_OP_WL_DEL, BUS_OP_RELOAD };

/* One command from the agent's command stream, validated. */
struct bus_command {
	enum bus_op op;
	char uuid[BUS_UUID_LEN];          /* lower case; empty for reload */
	char name[64];                    /* block: the VM's name if known */
	uint64_t until_s;                 /* block: ends then (epoch s); wl_set: expiry, 0 none */
	double scale;                     /* wl_set: 0 exemption, else raised limits */
	bool manual;                      /* block: manual (support staff) or automatic */
	char reason[BUS_REASON_MAX];
	char decision[BUS_DECISION_MAX];  /* the controller's decision id */
	char ticket[64];                  /* wl_set */
};

/*
 * Parse a command entry: op and body (JSON) as read from the stream
 * (borrowed, not NUL-terminated).  Returns 0 with *c filled, or -EINVAL
 * with a reason in err (the agent acknowledges the command as failed with
 * it), -EPROTONOSUPPORT for an op this agent does not know.
 */
int bus_command_parse(const char *op, size_t op_len, const char *body, size_t body_len,
		      struct bus_command *c, char *err, size_t cap);

/* A whitelist record (P:whitelist value, or a wl_set body's "entry"): uuid,
 * expires, limits.scale, ticket into c (op BUS_OP_WL_SET).  0 or -EINVAL. */
int bus_wl_record_parse(const char *json, size_t len, struct bus_command *c, char *err, size_t cap);

/* Stream IDs "MS-SEQ": parse, and compare (-1, 0, 1).  0 or -EINVAL. */
int bus_id_parse(const char *s, size_t len, uint64_t *ms, uint64_t *seq);
int bus_id_cmp(uint64_t ams, uint64_t aseq, uint64_t bms, uint64_t bseq);

#endif
