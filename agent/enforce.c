/* SPDX-License-Identifier: MIT */
/*
 * enforce: desired blocks per VM against the kernel's mirror (agent
 * process, pure: the kernel is behind a backend).  See enforce.h.
 */
#include "enforce.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define SLACK_MS 1000            /* element expiries this close count as equal */
#define MAX_ATTEMPTS 3

struct etap {
	uint32_t ifindex;
	char ifname[ENFORCE_IFNAME_MAX];
	bool broken;                 /* the kernel refused its chain: skipped until re-added */
};

struct evm {
	char uuid[ENFORCE_UUID_LEN];
	char name[64];
	uint64_t until_ms;           /* 0: not blocked */
	enum enforce_origin origin;
	char reason[64];
	struct etap taps[ENFORCE_MAX_TAPS_PER_VM];
	uint32_t ntaps;
	uint64_t dropped_closed;     /* packets of chains that are gone */
};

struct kel {                     /* an element the kernel holds */
	uint32_t ifindex;
	uint64_t until_ms;
	char uuid[ENFORCE_UUID_LEN];
};

struct want {                   /* a tap that must be blocked now */
	uint32_t ifindex;
	const struct evm *vm;
	const struct etap *tap;
};

struct kdrop {
	uint32_t ifindex;
	uint64_t packets;
};

struct enforce {
	struct enforce_backend be;
	uint16_t ports[16];
	size_t nports;
	enforce_result_cb cb;
	void *arg;
	struct evm *vms;
	size_t nvms, cap_vms;
	struct kel *kel;
	size_t nkel, cap_kel;
	uint32_t *kch;
	size_t nkch, cap_kch;
	bool table;
	const struct whitelist *wl;
	int64_t wall_off_ms;         /* wall clock - monotonic */
	struct kdrop *drops;
	size_t ndrops, cap_drops;
	struct enforce_change *chg;
	size_t nchg, cap_chg;
	struct want *want;           /* desired taps by ifindex (build_want) */
	size_t nwant, cap_want;
	struct enforce_counters c;
};

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t nc = *cap ? *cap * 2 : 16;
	while (nc < need)
		nc *= 2;
	void *np = realloc(*p, nc * elem);
	if (!np)
		return false;
	*p = np;
	*cap = nc;
	return true;
}

static void copy(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

struct enforce *enforce_new(const struct enforce_backend *backend, const uint16_t *ports,
			    size_t n_ports, enforce_result_cb cb, void *arg)
{
	struct enforce *e;

	if (!backend || n_ports == 0 || n_ports > 16)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->be = *backend;
	memcpy(e->ports, ports, n_ports * sizeof(*ports));
	e->nports = n_ports;
	e->cb = cb;
	e->arg = arg;
	return e;
}

void enforce_free(struct enforce *e)
{
	if (!e)
		return;
	free(e->vms);
	free(e->kel);
	free(e->kch);
	free(e->drops);
	free(e->chg);
	free(e->want);
	free(e);
}

static struct evm *vm_find(const struct enforce *e, const char *uuid)
{
	for (size_t i = 0; i < e->nvms; i++)
		if (strcmp(e->vms[i].uuid, uuid) == 0)
			return &e->vms[i];
	return NULL;
}

static struct evm *vm_get(struct enforce *e, const char *uuid)
{
	struct evm *v = vm_find(e, uuid);

	if (v)
		return v;
	if (!grow((void **)&e->vms, &e->cap_vms, e->nvms + 1, sizeof(*e->vms)))
		return NULL;
	v = &e->vms[e->nvms++];
	memset(v, 0, sizeof(*v));
	copy(v->uuid, sizeof(v->uuid), uuid);
	return v;
}

static void report(struct enforce *e, enum enforce_action a, const struct evm *v, uint64_t now_ms,
		   int error, const char *message)
{
	struct enforce_result r = {
		.action = a, .uuid = v->uuid, .name = v->name, .origin = v->origin,
		.remaining_s = v->until_ms > now_ms ? (v->until_ms - now_ms + 999) / 1000 : 0,
		.error = error, .message = message, .taps = v->ntaps,
	};

	if (e->cb)
		e->cb(e->arg, &r);
}

/* ---- the difference between desired and mirror ------------------------------ */

static struct enforce_change *add_change(struct enforce *e, enum enforce_change_kind k, uint32_t ifindex)
{
	struct enforce_change *c;

	if (!grow((void **)&e->chg, &e->cap_chg, e->nchg + 1, sizeof(*e->chg)))
		return NULL;
	c = &e->chg[e->nchg++];
	memset(c, 0, sizeof(*c));
	c->kind = k;
	c->ifindex = ifindex;
	return c;
}

/* kel and kch are kept sorted by ifindex, want is built sorted: every
 * lookup is a binary search, so a sync with 10,000 blocked VMs costs
 * O(n log n), not O(n^2). */
static int cmp_kel(const void *a, const void *b)
{
	uint32_t x = ((const struct kel *)a)->ifindex, y = ((const struct kel *)b)->ifindex;

	return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_want(const void *a, const void *b)
{
	uint32_t x = ((const struct want *)a)->ifindex, y = ((const struct want *)b)->ifindex;

	return x < y ? -1 : x > y;
}

static void mirror_sort(struct enforce *e)
{
	if (e->nkel > 1)
		qsort(e->kel, e->nkel, sizeof(*e->kel), cmp_kel);
	if (e->nkch > 1)
		qsort(e->kch, e->nkch, sizeof(*e->kch), cmp_u32);
}

static struct kel *kel_find(const struct enforce *e, uint32_t ifindex)
{
	struct kel key = { .ifindex = ifindex };

	return e->nkel ? bsearch(&key, e->kel, e->nkel, sizeof(*e->kel), cmp_kel) : NULL;
}

static bool kch_has(const struct enforce *e, uint32_t ifindex)
{
	return e->nkch && bsearch(&ifindex, e->kch, e->nkch, sizeof(*e->kch), cmp_u32);
}

/* The taps that must be blocked at now_ms, sorted; an ifindex listed
 * twice keeps its first owner.  0 or -ENOMEM. */
static int build_want(struct enforce *e, uint64_t now_ms)
{
	size_t k = 0;

	e->nwant = 0;
	for (size_t i = 0; i < e->nvms; i++) {
		const struct evm *v = &e->vms[i];

		if (v->until_ms <= now_ms)
			continue;
		for (uint32_t t = 0; t < v->ntaps; t++) {
			if (v->taps[t].broken)
				continue;
			if (!grow((void **)&e->want, &e->cap_want, e->nwant + 1, sizeof(*e->want)))
				return -ENOMEM;
			e->want[e->nwant++] = (struct want){ v->taps[t].ifindex, v, &v->taps[t] };
		}
	}
	/* stable enough: duplicates are not expected (an index is one tap's) */
	if (e->nwant > 1)
		qsort(e->want, e->nwant, sizeof(*e->want), cmp_want);
	for (size_t i = 0; i < e->nwant; i++)
		if (k == 0 || e->want[k - 1].ifindex != e->want[i].ifindex)
			e->want[k++] = e->want[i];
	e->nwant = k;
	return 0;
}

/* The VM that wants ifindex blocked (after build_want), or NULL. */
static const struct evm *wanted(const struct enforce *e, uint32_t ifindex)
{
	struct want key = { .ifindex = ifindex };
	const struct want *w = e->nwant ? bsearch(&key, e->want, e->nwant, sizeof(*e->want), cmp_want) : NULL;

	return w ? w->vm : NULL;
}

static int diff(struct enforce *e, uint64_t now_ms)
{
	struct enforce_change *c;

	e->nchg = 0;
	if (build_want(e, now_ms) < 0)
		return -ENOMEM;
	if (!e->table && !add_change(e, EC_TABLE, 0))
		return -ENOMEM;
	for (size_t i = 0; i < e->nwant; i++) {
		const struct want *w = &e->want[i];
		const struct kel *k = kel_find(e, w->ifindex);

		if (!kch_has(e, w->ifindex)) {
			if (!(c = add_change(e, EC_CHAIN, w->ifindex)))
				return -ENOMEM;
			copy(c->ifname, sizeof(c->ifname), w->tap->ifname);
		}
		if (k && strcmp(k->uuid, w->vm->uuid) == 0 && k->until_ms + SLACK_MS >= w->vm->until_ms &&
		    k->until_ms <= w->vm->until_ms + SLACK_MS)
			continue;
		if (k && !add_change(e, EC_UNBLOCK, w->ifindex))
			return -ENOMEM;
		if (!(c = add_change(e, EC_BLOCK, w->ifindex)))
			return -ENOMEM;
		c->timeout_ms = w->vm->until_ms - now_ms;
		snprintf(c->comment, sizeof(c->comment), "vm=%s %s %s", w->vm->uuid,
			 w->vm->origin == ENFORCE_MANUAL ? "manual" : "auto", w->vm->reason);
	}
	for (size_t i = 0; i < e->nkel; i++)
		if (!wanted(e, e->kel[i].ifindex) && !add_change(e, EC_UNBLOCK, e->kel[i].ifindex))
			return -ENOMEM;
	for (size_t i = 0; i < e->nkch; i++)
		if (!wanted(e, e->kch[i]) && !add_change(e, EC_DEL_CHAIN, e->kch[i]))
			return -ENOMEM;
	return 0;
}

/* After a commit that worked: the kernel now holds the desired state
 * (e->want, as the diff just built it). */
static void mirror_is_desired(struct enforce *e)
{
	e->nkel = 0;
	e->nkch = 0;
	e->table = true;
	if (!grow((void **)&e->kel, &e->cap_kel, e->nwant + 1, sizeof(*e->kel)) ||
	    !grow((void **)&e->kch, &e->cap_kch, e->nwant + 1, sizeof(*e->kch))) {
		e->table = false;    /* unknown: the next sync re-reads */
		return;
	}
	for (size_t i = 0; i < e->nwant; i++) {
		e->kel[i].ifindex = e->want[i].ifindex;
		e->kel[i].until_ms = e->want[i].vm->until_ms;
		copy(e->kel[i].uuid, sizeof(e->kel[0].uuid), e->want[i].vm->uuid);
		e->kch[i] = e->want[i].ifindex;
	}
	e->nkel = e->nkch = e->nwant;    /* want is sorted: so are they */
}

/* "vm=UUID ..." -> UUID in out; false for comments that are not ours. */
static bool comment_uuid(const char *comment, char *out)
{
	if (strncmp(comment, "vm=", 3) != 0)
		return false;
	size_t n = strcspn(comment + 3, " ");
	if (!whitelist_uuid_valid(comment + 3, n))
		return false;
	memcpy(out, comment + 3, n);
	out[n] = '\0';
	return true;
}

/* Replace the mirror by the kernel's state.  adopt: also take the blocks
 * found as desired (start). */
static int read_kernel(struct enforce *e, uint64_t now_ms, bool adopt, char *err, size_t cap)
{
	struct enforce_kstate ks;
	int r;

	memset(&ks, 0, sizeof(ks));
	r = e->be.read(e->be.ctx, &ks, err, cap);
	if (r < 0)
		return r;
	e->table = ks.table;
	e->nkel = 0;
	e->nkch = 0;
	if (!grow((void **)&e->kel, &e->cap_kel, ks.n_elems + 1, sizeof(*e->kel)) ||
	    !grow((void **)&e->kch, &e->cap_kch, ks.n_chains + 1, sizeof(*e->kch)))
		return -ENOMEM;
	for (size_t i = 0; i < ks.n_elems; i++) {
		struct kel *k = &e->kel[e->nkel++];

		k->ifindex = ks.elems[i].ifindex;
		k->until_ms = now_ms + ks.elems[i].expires_ms;
		if (!comment_uuid(ks.elems[i].comment, k->uuid))
			k->uuid[0] = '\0';   /* not ours: removed by the next sync */
		if (adopt && k->uuid[0]) {
			struct evm *v = vm_get(e, k->uuid);

			if (!v)
				return -ENOMEM;
			if (k->until_ms > v->until_ms) {
				if (!v->until_ms)
					e->c.adopted++;
				v->until_ms = k->until_ms;
				v->origin = strstr(ks.elems[i].comment, " manual") ? ENFORCE_MANUAL : ENFORCE_AUTO;
				copy(v->reason, sizeof(v->reason), "adopted from the kernel");
			}
		}
	}
	if (ks.n_chains)
		memcpy(e->kch, ks.chains, ks.n_chains * sizeof(*e->kch));
	e->nkch = ks.n_chains;
	mirror_sort(e);
	return 0;
}

/* Mark the tap of the change the kernel refused as broken (its chain
 * cannot be made: the device went away); true when one was found. */
static bool mark_broken(struct enforce *e, size_t bad)
{
	if (bad >= e->nchg)
		return false;
	uint32_t idx = e->chg[bad].ifindex;
	bool found = false;

	for (size_t i = 0; i < e->nvms; i++)
		for (uint32_t t = 0; t < e->vms[i].ntaps; t++)
			if (e->vms[i].taps[t].ifindex == idx && idx) {
				e->vms[i].taps[t].broken = true;
				found = true;
			}
	return found;
}

/*
 * Bring the kernel to the desired state: the difference with the mirror in
 * one transaction; when the kernel refuses it, read its state and try the
 * new difference; when a tap's device is the reason, leave that tap out.
 * 0 or the last negative errno (message in err).
 */
static int sync_kernel(struct enforce *e, uint64_t now_ms, char *err, size_t cap)
{
	int r = 0;

	err[0] = '\0';
	for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		size_t bad = SIZE_MAX;

		r = diff(e, now_ms);
		if (r < 0) {
			snprintf(err, cap, "out of memory");
			return r;
		}
		if (e->nchg == 0)
			return 0;
		e->c.transactions++;
		r = e->be.commit(e->be.ctx, e->chg, e->nchg, &bad, err, cap);
		if (r == 0) {
			e->c.changes += e->nchg;
			mirror_is_desired(e);
			return 0;
		}
		e->c.transactions_failed++;
		log_info("enforce: transaction refused changes=%zu error=\"%s\" (reading the kernel's state)",
			 e->nchg, err);
		if (attempt > 0 && !mark_broken(e, bad))
			break;
		char rerr[ENFORCE_ERR_MAX];
		e->c.resyncs++;
		if (read_kernel(e, now_ms, false, rerr, sizeof(rerr)) < 0) {
			snprintf(err, cap, "reading the kernel's state: %s", rerr);
			return r;
		}
	}
	return r;
}

int enforce_start(struct enforce *e, uint64_t now_ms, char *err, size_t cap)
{
	int r = read_kernel(e, now_ms, true, err, cap);

	if (r < 0)
		return r;
	return e->table ? 0 : sync_kernel(e, now_ms, err, cap);
}

static bool whitelisted(const struct enforce *e, const char *uuid, uint64_t now_ms)
{
	int64_t wall = (int64_t)now_ms + e->wall_off_ms;

	return e->wl && whitelist_contains(e->wl, uuid, wall > 0 ? (uint64_t)wall / 1000 : 0);
}

void enforce_set_whitelist(struct enforce *e, const struct whitelist *wl, uint64_t now_s,
			   uint64_t now_ms)
{
	char err[ENFORCE_ERR_MAX];
	bool lifted = false;

	e->wl = wl;
	e->wall_off_ms = (int64_t)(now_s * 1000) - (int64_t)now_ms;
	for (size_t i = 0; i < e->nvms; i++) {
		struct evm *v = &e->vms[i];

		if (v->until_ms > now_ms && v->origin == ENFORCE_AUTO && whitelisted(e, v->uuid, now_ms)) {
			v->until_ms = 0;
			lifted = true;
		}
	}
	if (!lifted)
		return;
	int r = sync_kernel(e, now_ms, err, sizeof(err));
	for (size_t i = 0; i < e->nvms; i++) {
		struct evm *v = &e->vms[i];

		if (v->until_ms == 0 && v->origin == ENFORCE_AUTO && whitelisted(e, v->uuid, now_ms) &&
		    v->reason[0]) {
			e->c.unblocks += r == 0;
			report(e, EA_UNBLOCK, v, now_ms, r, r ? err : "whitelisted: automatic block lifted");
			v->reason[0] = '\0';
		}
	}
}

/* Forget ifindex from whichever VM had it (its chain's counter goes to
 * that VM's closed total); true when that VM is blocked now. */
static bool tap_forget(struct enforce *e, uint32_t ifindex, uint64_t now_ms)
{
	bool blocked_tap = false;

	for (size_t i = 0; i < e->nvms; i++) {
		struct evm *v = &e->vms[i];

		for (uint32_t t = 0; t < v->ntaps; t++) {
			if (v->taps[t].ifindex != ifindex)
				continue;
			for (size_t d = 0; d < e->ndrops; d++)
				if (e->drops[d].ifindex == ifindex) {
					v->dropped_closed += e->drops[d].packets;
					e->drops[d] = e->drops[--e->ndrops];
					break;
				}
			blocked_tap = blocked_tap || v->until_ms > now_ms;
			v->taps[t] = v->taps[--v->ntaps];
			break;
		}
	}
	return blocked_tap;
}

void enforce_tap_added(struct enforce *e, const char *uuid, const char *name, const char *ifname,
		       uint32_t ifindex, uint64_t now_ms)
{
	char err[ENFORCE_ERR_MAX];
	struct evm *v;

	if (!ifindex)
		return;
	v = vm_find(e, uuid);
	for (uint32_t t = 0; v && t < v->ntaps; t++)
		if (v->taps[t].ifindex == ifindex && strcmp(v->taps[t].ifname, ifname) == 0 &&
		    !v->taps[t].broken)
			return;              /* known already (mapped, then opened) */
	bool other_blocked = tap_forget(e, ifindex, now_ms);   /* an index is one tap's */
	v = vm_get(e, uuid);
	if (!v || v->ntaps >= ENFORCE_MAX_TAPS_PER_VM) {
		if (other_blocked)
			sync_kernel(e, now_ms, err, sizeof(err));
		return;
	}
	copy(v->name, sizeof(v->name), name);
	v->taps[v->ntaps].ifindex = ifindex;
	copy(v->taps[v->ntaps].ifname, sizeof(v->taps[0].ifname), ifname);
	v->taps[v->ntaps].broken = false;
	v->ntaps++;
	if (v->until_ms > now_ms) {
		int r = sync_kernel(e, now_ms, err, sizeof(err));

		report(e, EA_BLOCK, v, now_ms, r, r ? err : "block follows the VM to its new tap");
	} else if (other_blocked || kel_find(e, ifindex) || kch_has(e, ifindex)) {
		sync_kernel(e, now_ms, err, sizeof(err));
	}
}

void enforce_tap_removed(struct enforce *e, uint32_t ifindex, uint64_t now_ms)
{
	char err[ENFORCE_ERR_MAX];

	/* its element and chain go now: nothing of a VM that left stays */
	if (tap_forget(e, ifindex, now_ms) || kel_find(e, ifindex) || kch_has(e, ifindex))
		sync_kernel(e, now_ms, err, sizeof(err));
}

int enforce_block(struct enforce *e, const char *uuid, const char *name, uint64_t duration_s,
		  enum enforce_origin origin, const char *reason, uint64_t now_ms)
{
	char err[ENFORCE_ERR_MAX];
	struct evm *v;
	uint64_t until;
	int r;

	if (!whitelist_uuid_valid(uuid, strlen(uuid)) || duration_s == 0)
		return -EINVAL;
	v = vm_get(e, uuid);
	if (!v)
		return -ENOMEM;
	if (name && name[0])
		copy(v->name, sizeof(v->name), name);
	if (origin == ENFORCE_AUTO && whitelisted(e, uuid, now_ms)) {
		e->c.refused_whitelisted++;
		struct evm shown = *v;
		shown.origin = origin;
		report(e, EA_REFUSED, &shown, now_ms, 0, "whitelisted: automatic block refused");
		return -EPERM;
	}
	until = now_ms + duration_s * 1000;
	bool active = v->until_ms > now_ms;
	/* a manual block stays manual until it is lifted */
	enum enforce_origin o = origin == ENFORCE_MANUAL || (active && v->origin == ENFORCE_MANUAL) ?
		ENFORCE_MANUAL : ENFORCE_AUTO;
	if (active && v->until_ms >= until && o == v->origin) {
		report(e, EA_BLOCK, v, now_ms, 0, "already blocked for longer");
		return 0;
	}
	if (!active || v->until_ms < until)
		v->until_ms = until;
	v->origin = o;
	copy(v->reason, sizeof(v->reason), reason);
	for (char *p = v->reason; *p; p++)
		if (*p == ' ' || *p < 0x21 || *p > 0x7e)
			*p = '_';            /* one token in the element comment */
	r = sync_kernel(e, now_ms, err, sizeof(err));
	e->c.blocks += r == 0;
	report(e, EA_BLOCK, v, now_ms, r, r ? err : NULL);
	return r;
}

int enforce_unblock(struct enforce *e, const char *uuid, const char *reason, uint64_t now_ms)
{
	char err[ENFORCE_ERR_MAX];
	struct evm *v = vm_find(e, uuid);
	int r;

	if (!v || v->until_ms <= now_ms)
		return 0;
	v->until_ms = 0;
	r = sync_kernel(e, now_ms, err, sizeof(err));
	e->c.unblocks += r == 0;
	report(e, EA_UNBLOCK, v, now_ms, r, r ? err : reason);
	return r;
}

void enforce_tick(struct enforce *e, uint64_t now_ms)
{
	char err[ENFORCE_ERR_MAX];
	bool chains_left = false;

	/* the kernel expires elements itself: drop them from the mirror
	 * (keeping its order) */
	size_t kept = 0;
	for (size_t i = 0; i < e->nkel; i++)
		if (e->kel[i].until_ms > now_ms)
			e->kel[kept++] = e->kel[i];
	e->nkel = kept;
	for (size_t i = 0; i < e->nvms; i++) {
		struct evm *v = &e->vms[i];

		if (v->until_ms && v->until_ms <= now_ms) {
			e->c.expired++;
			report(e, EA_EXPIRE, v, now_ms, 0, "block expired");
			v->until_ms = 0;
		}
	}
	if (build_want(e, now_ms) < 0)
		return;
	for (size_t i = 0; i < e->nkch && !chains_left; i++)
		chains_left = !wanted(e, e->kch[i]);
	if (chains_left)
		sync_kernel(e, now_ms, err, sizeof(err));
}

int enforce_resync(struct enforce *e, uint64_t now_ms)
{
	char err[ENFORCE_ERR_MAX];
	int r;

	e->c.resyncs++;
	r = read_kernel(e, now_ms, false, err, sizeof(err));
	if (r < 0) {
		log_warn("enforce: cannot read the kernel's state error=\"%s\"", err);
		return r;
	}
	r = sync_kernel(e, now_ms, err, sizeof(err));
	if (r < 0)
		log_err("enforce: repair failed error=\"%s\"", err);
	return r;
}

bool enforce_is_blocked(const struct enforce *e, const char *uuid, uint64_t now_ms,
			uint64_t *remaining_s)
{
	const struct evm *v = vm_find(e, uuid);

	if (!v || v->until_ms <= now_ms)
		return false;
	if (remaining_s)
		*remaining_s = (v->until_ms - now_ms + 999) / 1000;
	return true;
}

size_t enforce_blocked_count(const struct enforce *e, uint64_t now_ms)
{
	size_t n = 0;

	for (size_t i = 0; i < e->nvms; i++)
		n += e->vms[i].until_ms > now_ms;
	return n;
}

const char *enforce_blocked_at(const struct enforce *e, size_t i, uint64_t now_ms,
			       uint64_t *remaining_s)
{
	for (size_t k = 0; k < e->nvms; k++) {
		if (e->vms[k].until_ms <= now_ms)
			continue;
		if (i-- == 0) {
			if (remaining_s)
				*remaining_s = (e->vms[k].until_ms - now_ms + 999) / 1000;
			return e->vms[k].uuid;
		}
	}
	return NULL;
}

const struct enforce_counters *enforce_counters(const struct enforce *e)
{
	return &e->c;
}

void enforce_note_dropped(struct enforce *e, uint32_t ifindex, uint64_t packets)
{
	for (size_t d = 0; d < e->ndrops; d++)
		if (e->drops[d].ifindex == ifindex) {
			e->drops[d].packets = packets;
			return;
		}
	if (grow((void **)&e->drops, &e->cap_drops, e->ndrops + 1, sizeof(*e->drops)))
		e->drops[e->ndrops++] = (struct kdrop){ ifindex, packets };
}

uint64_t enforce_dropped(const struct enforce *e, const char *uuid)
{
	const struct evm *v = vm_find(e, uuid);
	uint64_t sum;

	if (!v)
		return 0;
	sum = v->dropped_closed;
	for (uint32_t t = 0; t < v->ntaps; t++)
		for (size_t d = 0; d < e->ndrops; d++)
			if (e->drops[d].ifindex == v->taps[t].ifindex)
				sum += e->drops[d].packets;
	return sum;
}

/* ---- dry run ------------------------------------------------------------------- */

struct dryrun {
	struct enforce_backend be;
	struct enforce_kelem *elems;
	size_t n, cap;
	uint32_t *chains;
	size_t nch, capch;
	bool table;
};

static const char *kind_name(enum enforce_change_kind k)
{
	static const char *const n[] = { "table", "chain", "delete-chain", "block", "unblock" };
	return (unsigned)k <= EC_UNBLOCK ? n[k] : "?";
}

static int dry_commit(void *ctx, const struct enforce_change *c, size_t n, size_t *bad, char *err,
		      size_t cap)
{
	struct dryrun *d = ctx;

	(void)err;
	(void)cap;
	*bad = SIZE_MAX;
	for (size_t i = 0; i < n; i++) {
		log_info("enforce: dry-run would %s ifindex=%u%s%s timeout_ms=%llu %s", kind_name(c[i].kind),
			 c[i].ifindex, c[i].ifname[0] ? " tap=" : "", c[i].ifname,
			 (unsigned long long)c[i].timeout_ms, c[i].comment);
		switch (c[i].kind) {
		case EC_TABLE:
			d->table = true;
			break;
		case EC_CHAIN:
			if (grow((void **)&d->chains, &d->capch, d->nch + 1, sizeof(*d->chains)))
				d->chains[d->nch++] = c[i].ifindex;
			break;
		case EC_DEL_CHAIN:
			for (size_t k = 0; k < d->nch; k++)
				if (d->chains[k] == c[i].ifindex) {
					d->chains[k] = d->chains[--d->nch];
					break;
				}
			break;
		case EC_BLOCK:
			if (grow((void **)&d->elems, &d->cap, d->n + 1, sizeof(*d->elems))) {
				d->elems[d->n].ifindex = c[i].ifindex;
				d->elems[d->n].expires_ms = c[i].timeout_ms;
				copy(d->elems[d->n].comment, sizeof(d->elems[0].comment), c[i].comment);
				d->n++;
			}
			break;
		case EC_UNBLOCK:
			for (size_t k = 0; k < d->n; k++)
				if (d->elems[k].ifindex == c[i].ifindex) {
					d->elems[k] = d->elems[--d->n];
					break;
				}
			break;
		}
	}
	return 0;
}

/* The dry run has no clock: remaining times are as installed, which is
 * what read_kernel needs right after a commit. */
static int dry_read(void *ctx, struct enforce_kstate *out, char *err, size_t cap)
{
	struct dryrun *d = ctx;

	(void)err;
	(void)cap;
	out->table = d->table;
	out->elems = d->elems;
	out->n_elems = d->n;
	out->chains = d->chains;
	out->n_chains = d->nch;
	return 0;
}

struct enforce_backend *enforce_dryrun_new(void)
{
	struct dryrun *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->be = (struct enforce_backend){ "dry-run", dry_commit, dry_read, d };
	return &d->be;
}

void enforce_dryrun_free(struct enforce_backend *b)
{
	struct dryrun *d = (struct dryrun *)b;

	if (!d)
		return;
	free(d->elems);
	free(d->chains);
	free(d);
}
