/* SPDX-License-Identifier: MIT */
/*
 * vmcache: the controller's in-memory copy of every VM's summary, the
 * source of GET /v1/vms (filter, sort, page) and of the per-VM series of
 * /metrics (controller process; pure code, no I/O).  Rows arrive from
 * tw.lua's poll (only the VMs that changed since the last poll), so the
 * list is served without asking Redis and costs the same at 10,000 VMs.
 */
#ifndef TAPWARDEN_VMCACHE_H
#define TAPWARDEN_VMCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jsonw.h"

#define VMCACHE_BUCKETS 6             /* 10-minute buckets: the last hour */
#define VMCACHE_BUCKET_S 600
#define VMCACHE_MAX_VMS 1000000

enum vm_state { VM_OK = 0, VM_ALERT = 1, VM_BLOCKED = 2 };
enum vm_total { VT_SESSIONS, VT_MESSAGES, VT_RCPTS, VT_REJECTED, VT_DEFERRED, VT_USER_UNKNOWN, VT_BLOCKLIST, VT_N };

struct vmrow {
	char uuid[37];
	char *name, *hypervisor, *block_origin, *block_reason;   /* owned */
	char *block_kind;             /* detection, campaign or manual (tw.lua's reason_kind); owned */
	enum vm_state state;          /* as stored; blocked only while block_until is ahead */
	bool whitelisted;
	double whitelist_scale;       /* 0: full exemption */
	int64_t whitelist_expires, first_seen, last_seen, offences, alert_since, block_until;
	int64_t totals[VT_N];
	int64_t recent[VMCACHE_BUCKETS][4];   /* bucket number, messages, rcpts, rejected */
};

struct vmcache {
	struct vmrow *rows;
	size_t n, cap;
	uint32_t *index;              /* open addressing: row + 1, 0 = empty */
	size_t index_cap;             /* a power of two, at least 2 * cap */
};

enum vmq_sort {
	VMQ_LAST_SEEN, VMQ_FIRST_SEEN, VMQ_MESSAGES_1H, VMQ_REJECTED_1H, VMQ_RCPTS_1H, VMQ_MESSAGES,
	VMQ_REJECTED, VMQ_NAME, VMQ_OFFENCES, VMQ_BLOCK_UNTIL,
};
enum vmq_state { VMQ_ANY, VMQ_OK, VMQ_ALERT, VMQ_BLOCKED, VMQ_WHITELISTED };

struct vmq {
	enum vmq_state state;
	enum vmq_sort sort;
	bool desc;
	char hypervisor[65];          /* "" = all */
	char q[65];                   /* "" = none; lower case */
	uint32_t limit, offset;
};

void vmcache_init(struct vmcache *c);
void vmcache_fini(struct vmcache *c);

/* Insert or replace the row for one poll item (borrowed).  0, -EINVAL for
 * an item without a valid uuid, -ENOMEM, -ENOSPC past VMCACHE_MAX_VMS. */
int vmcache_put(struct vmcache *c, json_t *item);
const struct vmrow *vmcache_get(const struct vmcache *c, const char *uuid);

/* The state now (a block that ended reads as ok until the row is renewed). */
enum vm_state vmcache_state(const struct vmrow *r, int64_t now);
const char *vmcache_state_name(enum vm_state s);
/* messages (k=1), rcpts (2) or rejected (3) in the buckets of the last hour. */
int64_t vmcache_1h(const struct vmrow *r, int k, int64_t now);

/* Parse a /v1/vms query string (NULL or "" = defaults) into q.  0, or
 * -EINVAL with a message for the client in err. */
int vmq_parse(const char *query, struct vmq *q, char *err, size_t errlen);

/* The page q asks for, as the /v1/vms JSON object, into w.  0 or -ENOMEM. */
int vmcache_query(const struct vmcache *c, const struct vmq *q, int64_t now, struct jsonw *w);

#endif
