/* SPDX-License-Identifier: MIT */
/*
 * enforce: which taps must drop port-25 traffic, kept against what the
 * kernel holds (agent process; pure logic, the kernel is reached through a
 * backend: nftables in enforce_nft.c, or the dry-run backend here).
 *
 * The desired state is per VM (libvirt domain UUID): blocked until a time,
 * automatic (the agent's own verdict) or manual (support staff, through the
 * controller), and the VM's current taps (ifname, ifindex) from the tap
 * map.  The mirror is what the kernel holds: one element per blocked tap's
 * ifindex with its expiry and a "vm=UUID" comment, and one chain per such
 * tap.  Every operation changes the desired state and then brings the
 * kernel to it in one transaction made of the difference with the mirror;
 * when that transaction fails, the kernel's state is read again (it is the
 * truth) and the difference is applied once more.  So a restart of the
 * agent adopts the blocks it finds (their comment names the VM), a flush
 * by someone else is repaired on the next sync, and a reused tap name can
 * never inherit a block: elements and chains name interface indexes.
 *
 * Rules held here, not only in callers: a whitelisted VM is never blocked
 * by an automatic decision (a manual block may still block it); approving a
 * VM lifts its automatic block; a repeated block extends to the longest
 * remaining time; an unblock removes it at once; a blocked VM that stops
 * stays blocked and its block follows it to its next taps.
 */
#ifndef TAPWARDEN_ENFORCE_H
#define TAPWARDEN_ENFORCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "whitelist.h"

#define ENFORCE_IFNAME_MAX 16
#define ENFORCE_UUID_LEN 37
#define ENFORCE_COMMENT_MAX 128
#define ENFORCE_MAX_TAPS_PER_VM 16
#define ENFORCE_ERR_MAX 512

enum enforce_change_kind {
	EC_TABLE,            /* the table and its sets (ports) */
	EC_CHAIN,            /* chain for ifindex on ifname, with its rules */
	EC_DEL_CHAIN,
	EC_BLOCK,            /* element ifindex, timeout_ms, comment */
	EC_UNBLOCK,
};

struct enforce_change {
	enum enforce_change_kind kind;
	uint32_t ifindex;
	char ifname[ENFORCE_IFNAME_MAX];
	uint64_t timeout_ms;
	char comment[ENFORCE_COMMENT_MAX];
};

/* The kernel's state as a backend reads it. */
struct enforce_kelem {
	uint32_t ifindex;
	uint64_t expires_ms;                 /* remaining */
	char comment[ENFORCE_COMMENT_MAX];
};
struct enforce_kstate {
	bool table;                          /* table and sets present */
	struct enforce_kelem *elems;         /* owned by the backend until the next read */
	size_t n_elems;
	uint32_t *chains;                    /* ifindexes */
	size_t n_chains;
};

struct enforce_backend {
	const char *name;                    /* "nftables", "dry-run" */
	/* Apply changes as one transaction; 0 or a negative errno with the
	 * reason in err and, when known, the index of the change the kernel
	 * refused in *bad (else SIZE_MAX). */
	int (*commit)(void *ctx, const struct enforce_change *c, size_t n, size_t *bad, char *err,
		      size_t cap);
	/* Read the kernel's state into *out; 0 or a negative errno. */
	int (*read)(void *ctx, struct enforce_kstate *out, char *err, size_t cap);
	void *ctx;
};

enum enforce_origin { ENFORCE_AUTO, ENFORCE_MANUAL };

enum enforce_action { EA_BLOCK, EA_UNBLOCK, EA_EXPIRE, EA_REFUSED };

/* Reported for every block and unblock, applied or failed. */
struct enforce_result {
	enum enforce_action action;
	const char *uuid;
	const char *name;
	enum enforce_origin origin;
	uint64_t remaining_s;                /* block: seconds from now */
	int error;                           /* 0: applied (or refused: see action) */
	const char *message;                 /* error text, or why refused */
	uint32_t taps;                       /* taps the block covers now */
};
typedef void (*enforce_result_cb)(void *arg, const struct enforce_result *r);

struct enforce_counters {
	uint64_t transactions, transactions_failed, resyncs, changes;
	uint64_t blocks, unblocks, refused_whitelisted, expired, adopted;
	uint64_t last_latency_us;            /* last commit, monotonic */
};

struct enforce;

/* backend and cb are copied/borrowed for the object's life; ports 1..16. */
struct enforce *enforce_new(const struct enforce_backend *backend, const uint16_t *ports,
			    size_t n_ports, enforce_result_cb cb, void *arg);
void enforce_free(struct enforce *e);

/*
 * Read the kernel's state and adopt the blocks it holds (comment
 * "vm=UUID ..."; their VM has no taps until enforce_tap_added), then make
 * sure the table exists.  now_ms: monotonic milliseconds.  Returns 0 or a
 * negative errno (the agent then refuses to start: enforcement it cannot
 * see is enforcement it cannot vouch for).
 */
int enforce_start(struct enforce *e, uint64_t now_ms, char *err, size_t cap);
/* The whitelist (borrowed until the next call; NULL: empty) at wall-clock
 * now_s; automatic blocks of VMs it approves are lifted. */
void enforce_set_whitelist(struct enforce *e, const struct whitelist *wl, uint64_t now_s,
			   uint64_t now_ms);
/* Tap map: uuid's tap ifname (ifindex) appeared or went; a blocked VM's new
 * tap is blocked at once. */
void enforce_tap_added(struct enforce *e, const char *uuid, const char *name, const char *ifname,
		       uint32_t ifindex, uint64_t now_ms);
void enforce_tap_removed(struct enforce *e, uint32_t ifindex, uint64_t now_ms);
/*
 * Block uuid for duration_s (0: nothing) from now: the block ends at the
 * later of its current end and now + duration.  Returns 0 when applied (or
 * already longer), -EPERM when an automatic block of a whitelisted VM was
 * refused, another negative errno when the kernel refused it.  The result
 * callback says the same.
 */
int enforce_block(struct enforce *e, const char *uuid, const char *name, uint64_t duration_s,
		  enum enforce_origin origin, const char *reason, uint64_t now_ms);
/* Lift uuid's block now (0 when there was none). */
int enforce_unblock(struct enforce *e, const char *uuid, const char *reason, uint64_t now_ms);
/* Once a second: forget blocks the kernel has expired (reported as
 * EA_EXPIRE) and remove their chains. */
void enforce_tick(struct enforce *e, uint64_t now_ms);
/* Someone else changed nftables, or replies were lost: read the kernel's
 * state and repair it.  0 or a negative errno. */
int enforce_resync(struct enforce *e, uint64_t now_ms);

/* Is uuid blocked now?  *remaining_s is set when it is. */
bool enforce_is_blocked(const struct enforce *e, const char *uuid, uint64_t now_ms,
			uint64_t *remaining_s);
size_t enforce_blocked_count(const struct enforce *e, uint64_t now_ms);
const struct enforce_counters *enforce_counters(const struct enforce *e);
/* Packets dropped per chain (from the backend's counters): record them;
 * enforce_dropped() sums them per VM, keeping what closed chains had. */
void enforce_note_dropped(struct enforce *e, uint32_t ifindex, uint64_t packets);
uint64_t enforce_dropped(const struct enforce *e, const char *uuid);
/* Iterate blocked VMs: i in 0..; NULL at the end. */
const char *enforce_blocked_at(const struct enforce *e, size_t i, uint64_t now_ms,
			       uint64_t *remaining_s);

/* The dry-run backend: logs what it would install and keeps it as its
 * "kernel", so the same code paths run. */
struct enforce_backend *enforce_dryrun_new(void);
void enforce_dryrun_free(struct enforce_backend *b);

#endif
