/* SPDX-License-Identifier: MIT */
/*
 * vmcache: the VM list the controller serves (see vmcache.h).  Rows live
 * in one array with an open-addressing index by UUID; a query filters
 * into an array of row numbers and sorts that, so a request for the top
 * 100 senders among 10,000 VMs is one pass and one sort in memory.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "vmcache.h"

void vmcache_init(struct vmcache *c)
{
	memset(c, 0, sizeof(*c));
}

static void row_fini(struct vmrow *r)
{
	free(r->name);
	free(r->hypervisor);
	free(r->block_origin);
	free(r->block_reason);
	free(r->block_kind);
}

void vmcache_fini(struct vmcache *c)
{
	for (size_t i = 0; i < c->n; i++)
		row_fini(&c->rows[i]);
	free(c->rows);
	free(c->index);
	memset(c, 0, sizeof(*c));
}

static uint64_t uuid_hash(const char *u)
{
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < 36; i++)
		h = (h ^ (unsigned char)u[i]) * 1099511628211ull;
	return h;
}

/* The slot of uuid in the index: its row, or the empty slot to take. */
static size_t slot_of(const struct vmcache *c, const char *uuid)
{
	size_t mask = c->index_cap - 1, i = (size_t)uuid_hash(uuid) & mask;

	while (c->index[i] && memcmp(c->rows[c->index[i] - 1].uuid, uuid, 36) != 0)
		i = (i + 1) & mask;
	return i;
}

static int grow(struct vmcache *c)
{
	size_t cap = c->cap ? c->cap * 2 : 1024, icap = 1;
	struct vmrow *rows;
	uint32_t *index;

	if (cap > VMCACHE_MAX_VMS)
		cap = VMCACHE_MAX_VMS;
	if (cap <= c->cap)
		return -ENOSPC;
	while (icap < 2 * cap)
		icap <<= 1;
	rows = realloc(c->rows, cap * sizeof(*rows));
	if (!rows)
		return -ENOMEM;
	c->rows = rows;
	index = calloc(icap, sizeof(*index));
	if (!index)
		return -ENOMEM;
	free(c->index);
	c->index = index;
	c->index_cap = icap;
	c->cap = cap;
	for (size_t r = 0; r < c->n; r++)
		c->index[slot_of(c, c->rows[r].uuid)] = (uint32_t)(r + 1);
	return 0;
}

const struct vmrow *vmcache_get(const struct vmcache *c, const char *uuid)
{
	char u[BUS_UUID_LEN];
	size_t s;

	if (!c->index_cap || !bus_uuid_norm(uuid, u))
		return NULL;
	s = slot_of(c, u);
	return c->index[s] ? &c->rows[c->index[s] - 1] : NULL;
}

static int64_t jint(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) :
	       json_is_real(v) ? (int64_t)json_real_value(v) : 0;
}

static char *jdup(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return strdup(json_is_string(v) ? json_string_value(v) : "");
}

int vmcache_put(struct vmcache *c, json_t *item)
{
	static const char *const tk[VT_N] = { "sessions", "messages", "rcpts", "rejected", "deferred",
					      "user_unknown", "blocklist" };
	json_t *u = json_object_get(item, "uuid"), *b, *tot, *rec, *st;
	struct vmrow r = { 0 };
	size_t s;
	int e;

	if (!json_is_string(u) || !bus_uuid_norm(json_string_value(u), r.uuid))
		return -EINVAL;
	r.name = jdup(item, "name");
	r.hypervisor = jdup(item, "hypervisor");
	st = json_object_get(item, "state");
	r.state = json_is_string(st) && !strcmp(json_string_value(st), "blocked") ? VM_BLOCKED :
		  json_is_string(st) && !strcmp(json_string_value(st), "alert") ? VM_ALERT : VM_OK;
	r.first_seen = jint(item, "first_seen");
	r.last_seen = jint(item, "last_seen");
	r.offences = jint(item, "offences");
	r.alert_since = jint(item, "alert_since");
	r.whitelisted = json_is_true(json_object_get(item, "whitelisted"));
	r.whitelist_expires = jint(item, "whitelist_expires");
	r.whitelist_scale = json_number_value(json_object_get(item, "whitelist_scale"));
	b = json_object_get(item, "block");
	if (json_is_object(b)) {
		r.block_until = jint(b, "until");
		r.block_origin = jdup(b, "origin");
		r.block_reason = jdup(b, "reason");
		r.block_kind = jdup(b, "kind");
	}
	tot = json_object_get(item, "totals");
	for (int k = 0; k < VT_N; k++)
		r.totals[k] = jint(tot, tk[k]);
	rec = json_object_get(item, "recent");
	for (size_t i = 0; i < VMCACHE_BUCKETS && i < json_array_size(rec); i++) {
		json_t *bk = json_array_get(rec, i);

		for (size_t k = 0; k < 4; k++)
			r.recent[i][k] = json_integer_value(json_array_get(bk, k));
	}
	if (!r.name || !r.hypervisor || (json_is_object(b) && (!r.block_origin || !r.block_reason || !r.block_kind))) {
		row_fini(&r);
		return -ENOMEM;
	}
	if (c->n + 1 > c->cap && (e = grow(c)) < 0) {
		if (!vmcache_get(c, r.uuid)) {
			row_fini(&r);
			return e;
		}
	}
	s = slot_of(c, r.uuid);
	if (c->index[s]) {
		row_fini(&c->rows[c->index[s] - 1]);
		c->rows[c->index[s] - 1] = r;
	} else {
		c->rows[c->n] = r;
		c->index[s] = (uint32_t)++c->n;
	}
	return 0;
}

enum vm_state vmcache_state(const struct vmrow *r, int64_t now)
{
	if (r->block_until > now)
		return VM_BLOCKED;
	return r->state == VM_ALERT ? VM_ALERT : VM_OK;
}

const char *vmcache_state_name(enum vm_state s)
{
	return s == VM_BLOCKED ? "blocked" : s == VM_ALERT ? "alert" : "ok";
}

int64_t vmcache_1h(const struct vmrow *r, int k, int64_t now)
{
	int64_t cur = now / VMCACHE_BUCKET_S, sum = 0;

	for (int i = 0; i < VMCACHE_BUCKETS; i++)
		if (r->recent[i][0] > cur - VMCACHE_BUCKETS && r->recent[i][0] <= cur)
			sum += r->recent[i][k];
	return sum;
}

/* ---- the query ------------------------------------------------------------------- */

static const struct { const char *name; enum vmq_sort s; bool asc; } sorts[] = {
	{ "last_seen", VMQ_LAST_SEEN, false }, { "first_seen", VMQ_FIRST_SEEN, false },
	{ "messages_1h", VMQ_MESSAGES_1H, false }, { "rejected_1h", VMQ_REJECTED_1H, false },
	{ "rcpts_1h", VMQ_RCPTS_1H, false }, { "messages", VMQ_MESSAGES, false },
	{ "rejected", VMQ_REJECTED, false }, { "name", VMQ_NAME, true },
	{ "offences", VMQ_OFFENCES, false }, { "block_until", VMQ_BLOCK_UNTIL, false },
};
static const char *const states[] = { "any", "ok", "alert", "blocked", "whitelisted" };

static int hexv(char ch)
{
	return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 :
	       ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

/* URL-decode s[0..n) into out (cap bytes with NUL); false when malformed,
 * too long, or it decodes to a control byte. */
static bool urldec(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int ch = (unsigned char)s[i];

		if (ch == '+') {
			ch = ' ';
		} else if (ch == '%') {
			if (i + 2 >= n || hexv(s[i + 1]) < 0 || hexv(s[i + 2]) < 0)
				return false;
			ch = hexv(s[i + 1]) << 4 | hexv(s[i + 2]);
			i += 2;
		}
		if (ch < 0x20 || ch == 0x7f || o + 1 >= cap)
			return false;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return true;
}

static bool parse_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long x;

	if (!*v || !isdigit((unsigned char)v[0]) || strlen(v) > 10)
		return false;
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno || *end || x < lo || x > hi)
		return false;
	*out = (uint32_t)x;
	return true;
}

int vmq_parse(const char *query, struct vmq *q, char *err, size_t errlen)
{
	unsigned seen = 0;
	int order = -1;                 /* -1 default, 0 asc, 1 desc */
	const char *p = query ? query : "";

	memset(q, 0, sizeof(*q));
	q->limit = 100;
	q->desc = true;
	while (*p) {
		const char *amp = strchr(p, '&'), *eq;
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		char key[16], val[129];
		unsigned bit;

		eq = memchr(p, '=', n);
		if (n == 0) {
			p += amp ? 1 : 0;
			if (!amp)
				break;
			continue;
		}
		if (!eq || !urldec(p, (size_t)(eq - p), key, sizeof(key)) ||
		    !urldec(eq + 1, n - (size_t)(eq + 1 - p), val, sizeof(val))) {
			snprintf(err, errlen, "query: expected NAME=VALUE pairs (state, hypervisor, q, sort, order, limit, offset)");
			return -EINVAL;
		}
		if (!strcmp(key, "state")) {
			bit = 1;
			q->state = (enum vmq_state)99;
			for (int i = 0; i < 5; i++)
				if (!strcmp(val, states[i]))
					q->state = (enum vmq_state)i;
			if (q->state == (enum vmq_state)99) {
				snprintf(err, errlen, "state: any, ok, alert, blocked or whitelisted");
				return -EINVAL;
			}
		} else if (!strcmp(key, "hypervisor")) {
			bit = 2;
			if (!val[0] || strlen(val) > 64) {
				snprintf(err, errlen, "hypervisor: an agent id of 1-64 characters");
				return -EINVAL;
			}
			memcpy(q->hypervisor, val, strlen(val) + 1);
		} else if (!strcmp(key, "q")) {
			bit = 4;
			if (!val[0] || strlen(val) > 64) {
				snprintf(err, errlen, "q: 1-64 characters");
				return -EINVAL;
			}
			for (size_t i = 0; val[i]; i++)
				q->q[i] = (char)tolower((unsigned char)val[i]);
		} else if (!strcmp(key, "sort")) {
			size_t i;

			bit = 8;
			for (i = 0; i < sizeof(sorts) / sizeof(sorts[0]); i++)
				if (!strcmp(val, sorts[i].name))
					break;
			if (i == sizeof(sorts) / sizeof(sorts[0])) {
				snprintf(err, errlen, "sort: messages_1h, rejected_1h, rcpts_1h, messages, rejected, "
					 "last_seen, first_seen, name, offences or block_until");
				return -EINVAL;
			}
			q->sort = sorts[i].s;
			q->desc = !sorts[i].asc;
		} else if (!strcmp(key, "order")) {
			bit = 16;
			if (strcmp(val, "asc") && strcmp(val, "desc")) {
				snprintf(err, errlen, "order: asc or desc");
				return -EINVAL;
			}
			order = !strcmp(val, "desc");
		} else if (!strcmp(key, "limit")) {
			bit = 32;
			if (!parse_u32(val, 1, 1000, &q->limit)) {
				snprintf(err, errlen, "limit: an integer from 1 to 1000");
				return -EINVAL;
			}
		} else if (!strcmp(key, "offset")) {
			bit = 64;
			if (!parse_u32(val, 0, 1000000, &q->offset)) {
				snprintf(err, errlen, "offset: an integer from 0 to 1000000");
				return -EINVAL;
			}
		} else {
			snprintf(err, errlen, "unknown query parameter \"%.15s\" (state, hypervisor, q, sort, order, "
				 "limit, offset)", key);
			return -EINVAL;
		}
		if (seen & bit) {
			snprintf(err, errlen, "%s: given twice", key);
			return -EINVAL;
		}
		seen |= bit;
		if (!amp)
			break;
		p = amp + 1;
	}
	if (order >= 0)
		q->desc = order == 1;
	return 0;
}

struct sortctx {
	const struct vmcache *c;
	const struct vmq *q;
	int64_t now;
	int64_t *key;                 /* per row number */
};

static int cmp_rows(const void *a, const void *b, void *arg)
{
	const struct sortctx *s = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	const struct vmrow *rx = &s->c->rows[x], *ry = &s->c->rows[y];
	int r;

	if (s->q->sort == VMQ_NAME)
		r = strcmp(rx->name, ry->name);
	else
		r = s->key[x] < s->key[y] ? -1 : s->key[x] > s->key[y];
	if (s->q->desc)
		r = -r;
	return r ? r : memcmp(rx->uuid, ry->uuid, 36);
}

/* Put the k first (in cmp_rows order) of sel[0..n) in front, in any
 * order: quickselect, O(n) on average, so the top 100 of 10,000 VMs cost
 * one pass and a sort of 100 instead of a sort of 10,000. */
static void select_first(uint32_t *sel, size_t n, size_t k, struct sortctx *s)
{
	size_t lo = 0, hi = n;          /* the k-th lies in [lo, hi) */
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	while (hi - lo > 1) {
		uint32_t pivot, t;
		size_t i = lo, j = hi - 1, store = lo;

		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		t = sel[lo + seed % (hi - lo)];
		sel[lo + seed % (hi - lo)] = sel[j];
		sel[j] = t;
		pivot = sel[j];
		for (i = lo; i < j; i++) {
			if (cmp_rows(&sel[i], &pivot, s) < 0) {
				t = sel[i], sel[i] = sel[store], sel[store] = t;
				store++;
			}
		}
		sel[j] = sel[store];
		sel[store] = pivot;
		if (store == k || store + 1 == k)
			return;
		if (store > k)
			hi = store;
		else
			lo = store + 1;
	}
}

static int64_t sort_key(const struct vmrow *r, enum vmq_sort s, int64_t now)
{
	switch (s) {
	case VMQ_LAST_SEEN: return r->last_seen;
	case VMQ_FIRST_SEEN: return r->first_seen;
	case VMQ_MESSAGES_1H: return vmcache_1h(r, 1, now);
	case VMQ_RCPTS_1H: return vmcache_1h(r, 2, now);
	case VMQ_REJECTED_1H: return vmcache_1h(r, 3, now);
	case VMQ_MESSAGES: return r->totals[VT_MESSAGES];
	case VMQ_REJECTED: return r->totals[VT_REJECTED];
	case VMQ_OFFENCES: return r->offences;
	case VMQ_BLOCK_UNTIL: return r->block_until > now ? r->block_until : 0;
	case VMQ_NAME: return 0;
	}
	return 0;
}

static bool matches(const struct vmrow *r, const struct vmq *q, int64_t now)
{
	enum vm_state st = vmcache_state(r, now);

	switch (q->state) {
	case VMQ_ANY: break;
	case VMQ_OK: if (st != VM_OK) return false; break;
	case VMQ_ALERT: if (st != VM_ALERT) return false; break;
	case VMQ_BLOCKED: if (st != VM_BLOCKED) return false; break;
	case VMQ_WHITELISTED:
		if (!r->whitelisted || (r->whitelist_expires > 0 && r->whitelist_expires <= now))
			return false;
		break;
	}
	if (q->hypervisor[0] && strcmp(q->hypervisor, r->hypervisor) != 0)
		return false;
	if (q->q[0] && !strstr(r->uuid, q->q) && !strcasestr(r->name, q->q))
		return false;
	return true;
}

static void row_json(struct jsonw *w, const struct vmrow *r, int64_t now)
{
	static const char *const tk[VT_N] = { "sessions", "messages", "rcpts", "rejected", "deferred",
					      "user_unknown", "blocklist" };
	enum vm_state st = vmcache_state(r, now);
	bool wl = r->whitelisted && !(r->whitelist_expires > 0 && r->whitelist_expires <= now);

	jsonw_obj_begin(w);
	jsonw_key(w, "uuid"); jsonw_str(w, r->uuid, 36);
	jsonw_key(w, "name"); jsonw_cstr(w, r->name);
	jsonw_key(w, "state"); jsonw_cstr(w, vmcache_state_name(st));
	jsonw_key(w, "hypervisor"); jsonw_cstr(w, r->hypervisor);
	jsonw_key(w, "first_seen"); jsonw_int(w, r->first_seen);
	jsonw_key(w, "last_seen"); jsonw_int(w, r->last_seen);
	jsonw_key(w, "offences"); jsonw_int(w, r->offences);
	jsonw_key(w, "alert_since"); jsonw_int(w, st == VM_ALERT ? r->alert_since : 0);
	jsonw_key(w, "whitelisted"); jsonw_bool(w, wl);
	jsonw_key(w, "whitelist_expires"); jsonw_int(w, wl ? r->whitelist_expires : 0);
	jsonw_key(w, "block");
	if (st == VM_BLOCKED) {
		jsonw_obj_begin(w);
		jsonw_key(w, "until"); jsonw_int(w, r->block_until);
		jsonw_key(w, "origin"); jsonw_cstr(w, r->block_origin ? r->block_origin : "");
		jsonw_key(w, "reason"); jsonw_cstr(w, r->block_reason ? r->block_reason : "");
		jsonw_obj_end(w);
	} else {
		jsonw_null(w);
	}
	jsonw_key(w, "messages_1h"); jsonw_int(w, vmcache_1h(r, 1, now));
	jsonw_key(w, "rcpts_1h"); jsonw_int(w, vmcache_1h(r, 2, now));
	jsonw_key(w, "rejected_1h"); jsonw_int(w, vmcache_1h(r, 3, now));
	jsonw_key(w, "totals");
	jsonw_obj_begin(w);
	for (int k = 0; k < VT_N; k++) {
		jsonw_key(w, tk[k]);
		jsonw_int(w, r->totals[k]);
	}
	jsonw_obj_end(w);
	jsonw_obj_end(w);
}

int vmcache_query(const struct vmcache *c, const struct vmq *q, int64_t now, struct jsonw *w)
{
	uint32_t *sel = malloc((c->n ? c->n : 1) * sizeof(*sel));
	int64_t *key = malloc((c->n ? c->n : 1) * sizeof(*key));
	struct sortctx s = { c, q, now, key };
	size_t m = 0;

	if (!sel || !key) {
		free(sel);
		free(key);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n; i++) {
		if (!matches(&c->rows[i], q, now))
			continue;
		key[i] = sort_key(&c->rows[i], q->sort, now);
		sel[m++] = (uint32_t)i;
	}
	{
		size_t want = (size_t)q->offset + q->limit;

		if (want < m / 4) {
			select_first(sel, m, want, &s);
			qsort_r(sel, want, sizeof(*sel), cmp_rows, &s);
		} else {
			qsort_r(sel, m, sizeof(*sel), cmp_rows, &s);
		}
	}
	jsonw_obj_begin(w);
	jsonw_key(w, "total"); jsonw_uint(w, m);
	jsonw_key(w, "offset"); jsonw_uint(w, q->offset);
	jsonw_key(w, "limit"); jsonw_uint(w, q->limit);
	jsonw_key(w, "generated"); jsonw_int(w, now);
	jsonw_key(w, "vms");
	jsonw_arr_begin(w);
	for (size_t i = q->offset; i < m && i < (size_t)q->offset + q->limit; i++)
		row_json(w, &c->rows[sel[i]], now);
	jsonw_arr_end(w);
	jsonw_obj_end(w);
	free(sel);
	free(key);
	return w->oom ? -ENOMEM : 0;
}
