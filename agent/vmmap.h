/* SPDX-License-Identifier: MIT */
/*
 * vmmap: which VM owns which tap, kept from libvirt (read-only connection)
 * by a full sync plus domain events.  Agent process, event-loop side.
 *
 * Threads: libvirt needs an event loop of its own to deliver events.  We use
 * libvirt's default implementation (virEventRegisterDefaultImpl) on one
 * dedicated thread, shared by all vmmaps of the process, with a guard timer
 * so that it wakes up and can be stopped (NOTES.md: the test driver's loop
 * blocks forever otherwise).  Why not virEventRegisterImpl on libevent:
 * the six add/update/remove callbacks must honour libvirt's re-entrancy and
 * deferred-free rules, which is much more code than this, and a slow
 * libvirtd would then block our packet loop.  The event thread does the
 * blocking part (virDomainGetXMLDesc, domxml parsing) and hands a parsed
 * record per event to the main loop through a bounded queue and a pipe:
 * the daemon registers vmmap_event_fd() with libevent and calls
 * vmmap_dispatch() when it is readable.  The map itself and every callback
 * run on the caller's (main) thread only.
 *
 * Records are state, not deltas: each says "domain U is running with these
 * taps" or "domain U is not running", as observed after the event, so
 * applying them in order converges on libvirt's state whatever was missed.
 * A full queue (VMMAP_QUEUE_MAX) or a tap name claimed by two running VMs
 * makes the next vmmap_dispatch() do a full vmmap_sync() instead.
 *
 * Generations (the no-leak rule): every mapping tap -> (VM UUID, runtime
 * domain id, MAC) gets a new process-unique, increasing generation when it
 * is created, and keeps it unchanged while that exact mapping lives.  When a
 * tap name disappears, or is reused by another VM, or by the same VM after
 * a restart (new domain id), or with another MAC, the old mapping is first
 * reported by tap_removed (old generation) and the new one by tap_added (new
 * generation).  Consumers tag everything they open or count for a tap with
 * (ifname, generation), close it on tap_removed of that generation, and
 * attribute traffic only through the generation's UUID, so nothing seen on
 * VM A's tap is ever accounted to VM B, even if B gets the same tap name a
 * moment later.  The capture layer should also compare the tap's ifindex
 * (if_nametoindex after opening) with vmmap_tap.ifindex.
 */
#ifndef TAPWARDEN_VMMAP_H
#define TAPWARDEN_VMMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "domxml.h"

struct vmmap;

#define VMMAP_MAX_TAPS  4096   /* further taps are counted (taps_dropped), not mapped */
#define VMMAP_MAX_VMS   4096
#define VMMAP_QUEUE_MAX 256    /* event records waiting for the main loop */

struct vmmap_tap {
	char ifname[DOMXML_IFNAME_MAX];
	char uuid[DOMXML_UUID_LEN];
	char vm_name[DOMXML_NAME_MAX];
	char customer[DOMXML_META_MAX];   /* hoster metadata, "" if none */
	char plan[DOMXML_META_MAX];
	char type[DOMXML_TYPE_MAX];       /* interface type */
	uint8_t mac[6];
	bool has_mac;
	long domid;                       /* libvirt runtime domain id */
	unsigned ifindex;                 /* if_nametoindex() when mapped, 0 if absent */
	uint64_t generation;              /* >= 1, see the rule above */
};

/* Called on the thread that runs vmmap_sync()/vmmap_dispatch(); the tap is
 * borrowed for the duration of the call.  A callback must not call
 * vmmap_sync(), vmmap_dispatch() or vmmap_free() on the same map. */
struct vmmap_callbacks {
	void (*tap_added)(void *arg, const struct vmmap_tap *tap);
	void (*tap_removed)(void *arg, const struct vmmap_tap *tap);
	void (*vm_stopped)(void *arg, const char *uuid);
	void *arg;
};

struct vmmap_stats {
	uint64_t syncs;            /* full syncs done */
	uint64_t events;           /* libvirt events received */
	uint64_t records;          /* records applied */
	uint64_t queue_overflows;  /* records dropped for a full queue (-> resync) */
	uint64_t conflicts;        /* a tap name claimed by two running VMs (-> resync) */
	uint64_t xml_errors;       /* domain XML that domxml refused or could not be read */
	uint64_t ifaces_skipped;   /* interfaces dropped or invalid in domxml */
	uint64_t taps_dropped;     /* beyond VMMAP_MAX_TAPS / VMMAP_MAX_VMS */
	uint64_t reconnects;       /* owned connection opened again after it died */
};

/*
 * Process-wide setup: registers libvirt's default event implementation
 * (must precede opening any libvirt connection whose events we want) and
 * routes libvirt's error printing away from stderr.  Idempotent.
 * Returns 0 or -EIO.
 */
int vmmap_global_init(void);

/*
 * Open uri read-only (NULL: libvirt's default), subscribe to lifecycle and
 * device events and start the event thread.  Does not sync: call
 * vmmap_sync().  cb is copied.  Returns 0 and *out (owned, vmmap_free) or a
 * negative errno (-ECONNREFUSED when libvirt cannot be reached).
 */
int vmmap_new(const char *uri, const struct vmmap_callbacks *cb, struct vmmap **out);

/* As vmmap_new on a connection the caller opened (borrowed: it must outlive
 * the map; the map never closes it).  For tests on the test driver, whose
 * state is private to one connection, and for a daemon that shares one. */
int vmmap_new_conn(virConnectPtr conn, const struct vmmap_callbacks *cb, struct vmmap **out);

/* Unsubscribe, stop the event thread when this was its last user, close an
 * owned connection, free.  No callbacks are called.  NULL is fine. */
void vmmap_free(struct vmmap *m);

/* Full sync: list running domains, read each one's XML, report the
 * differences with the current map through the callbacks.  A connection
 * the map opened itself (vmmap_new) that died, e.g. libvirtd restarted, is
 * opened again first.  Blocking (libvirt round trips).  Returns 0 or a
 * negative errno (the map is then unchanged). */
int vmmap_sync(struct vmmap *m);

/* A descriptor that becomes readable when events are waiting. */
int vmmap_event_fd(const struct vmmap *m);

/* Apply waiting event records (callbacks fire from here); does a full sync
 * first when one is due.  Never blocks on the descriptor.  Returns the
 * number of records applied, or a negative errno from a failed resync. */
int vmmap_dispatch(struct vmmap *m);

/* Current mapping of a tap, or NULL.  Borrowed: valid until the next
 * vmmap_sync()/vmmap_dispatch()/vmmap_free(). */
const struct vmmap_tap *vmmap_lookup_ifname(const struct vmmap *m, const char *ifname);
const struct vmmap_tap *vmmap_lookup_ifindex(const struct vmmap *m, unsigned ifindex);

/* Iteration: taps 0..vmmap_count()-1 in no particular order; same lifetime
 * as a lookup result. */
size_t vmmap_count(const struct vmmap *m);
const struct vmmap_tap *vmmap_at(const struct vmmap *m, size_t i);

void vmmap_get_stats(const struct vmmap *m, struct vmmap_stats *out);

#endif
