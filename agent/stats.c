/* SPDX-License-Identifier: MIT */
/*
 * stats: per-VM window statistics (agent process, pure).  Rings are
 * advanced lazily by the event clock: a bucket is cleared when the clock
 * first reaches it again.  Observations older than a ring's span are
 * dropped and counted (the capture clock is nearly monotonic: sessions are
 * reported at their end, so small reorderings land in older buckets).
 */
#include "stats.h"

#include <math.h>
#include <string.h>

static const uint32_t ring_width[PW_COUNT] = { 1, 10, 60 };
static const uint32_t window_s[PW_COUNT] = { 60, 600, 3600 };
/* fingerprint entries: bucket width and count per window */
static const uint32_t fp_width[3] = { 10, 60, 300 };
static const uint32_t fp_n[3] = { 6, 10, 12 };

void stats_vm_init(struct stats_vm *vm)
{
	memset(vm, 0, sizeof(*vm));
}

/* ---- rings --------------------------------------------------------------- */

/* Add v at time t_s to a ring of n buckets of width seconds; false when t_s
 * is older than the ring. */
static bool ring_add(uint32_t *b, uint32_t n, uint32_t width, uint64_t *head,
		     uint64_t t_s, uint32_t v)
{
	uint64_t idx = t_s / width;

	if (idx > *head) {
		uint64_t gap = idx - *head;
		for (uint64_t k = 1; k <= gap && k <= n; k++)
			b[(*head + k) % n] = 0;
		*head = idx;
	} else if (*head - idx >= n) {
		return false;
	}
	uint32_t *slot = &b[idx % n];
	*slot = *slot > UINT32_MAX - v ? UINT32_MAX : *slot + v;
	return true;
}

/* Sum of the buckets within the n buckets ending at now_s. */
static uint64_t ring_sum(const uint32_t *b, uint32_t n, uint32_t width, uint64_t head,
			 uint64_t now_s)
{
	uint64_t now_idx = now_s / width, sum = 0;
	for (uint32_t i = 0; i < n && i <= head; i++) {
		uint64_t k = head - i;
		if (k <= now_idx && now_idx - k < n)
			sum += b[k % n];
	}
	return sum;
}

static void ctr_add(struct stats_vm *vm, enum stats_ctr c, uint64_t t_s, uint32_t v)
{
	if (!v)
		return;
	for (int w = 0; w < PW_COUNT; w++) {
		struct stats_ring *r = &vm->ring[c][w];
		ring_add(r->b, STATS_BUCKETS, ring_width[w], &r->head, t_s, v);
	}
}

/* ---- distinct destinations ------------------------------------------------ */

static uint32_t mix32(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	uint32_t h = (uint32_t)x;
	return h ? h : 1;
}

static uint64_t hash_bytes(const void *p, size_t n, uint64_t seed)
{
	const uint8_t *s = p;
	uint64_t h = 1469598103934665603ULL ^ seed;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Remember hash at t_s; when full, the least recently seen entry goes. */
static void sketch_add(struct stats_vm *vm, struct stats_sketch_entry *e, uint32_t hash,
		       uint32_t t_s)
{
	uint32_t oldest = 0;
	bool have_free = false;
	for (uint32_t i = 0; i < STATS_SKETCH; i++) {
		if (e[i].hash == hash) {
			if (t_s > e[i].last_s)
				e[i].last_s = t_s;
			return;
		}
		if (!e[i].hash) {
			if (!have_free)
				oldest = i;
			have_free = true;
		} else if (!have_free && e[i].last_s < e[oldest].last_s) {
			oldest = i;
		}
	}
	if (e[oldest].hash && e[oldest].last_s + 3600 > t_s)
		vm->sketch_evictions++;
	e[oldest].hash = hash;
	e[oldest].last_s = t_s;
}

static uint32_t sketch_count(const struct stats_sketch_entry *e, uint64_t now_s, uint32_t win)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < STATS_SKETCH; i++)
		if (e[i].hash && e[i].last_s <= now_s && now_s - e[i].last_s < win)
			n++;
	return n;
}

/* ---- fingerprint heavy hitters ------------------------------------------- */

static uint32_t *fp_buckets(struct stats_fp_entry *e, int w)
{
	return w == 0 ? e->b1m : w == 1 ? e->b10m : e->b1h;
}

static void fp_add(struct stats_fp_entry *tab, uint64_t key, uint64_t t_s)
{
	struct stats_fp_entry *e = NULL, *victim = &tab[0];
	bool have_free = false;
	if (!key)
		return;
	for (uint32_t i = 0; i < STATS_TOPK && !e; i++) {
		if (tab[i].key == key) {
			e = &tab[i];
		} else if (!tab[i].key) {
			if (!have_free)
				victim = &tab[i];
			have_free = true;
		} else if (!have_free && tab[i].last_s < victim->last_s) {
			victim = &tab[i];
		}
	}
	if (!e) {
		e = victim;
		memset(e, 0, sizeof(*e));
		e->key = key;
	}
	if (t_s > e->last_s)
		e->last_s = (uint32_t)t_s;
	for (int w = 0; w < 3; w++)
		ring_add(fp_buckets(e, w), fp_n[w], fp_width[w], &e->head[w], t_s, 1);
}

static uint32_t fp_top(struct stats_fp_entry *tab, uint64_t now_s, int w)
{
	uint64_t best = 0;
	for (uint32_t i = 0; i < STATS_TOPK; i++) {
		if (!tab[i].key)
			continue;
		uint64_t c = ring_sum(fp_buckets(&tab[i], w), fp_n[w], fp_width[w],
				      tab[i].head[w], now_s);
		if (c > best)
			best = c;
	}
	return (uint32_t)best;
}

uint32_t stats_vm_top(const struct stats_vm *vm, enum stats_fp kind, uint64_t now_s,
		      struct stats_fp_count *out, uint32_t max)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < STATS_TOPK; i++) {
		const struct stats_fp_entry *e = &vm->fp[kind][i];
		uint64_t c;
		uint32_t j;

		if (!e->key)
			continue;
		c = ring_sum(e->b10m, fp_n[1], fp_width[1], e->head[1], now_s);
		if (!c)
			continue;
		/* insertion into the descending top-max */
		for (j = n; j > 0 && out[j - 1].count < c; j--)
			if (j < max)
				out[j] = out[j - 1];
		if (j < max) {
			out[j].key = e->key;
			out[j].count = (uint32_t)(c > UINT32_MAX ? UINT32_MAX : c);
			if (n < max)
				n++;
		}
	}
	return n;
}

/* ---- baselines ------------------------------------------------------------ */

/* Fold completed 10-minute periods up to now_s into the EWMAs. */
static void baseline_advance(struct stats_vm *vm, uint64_t now_s, uint32_t half_life_s)
{
	uint64_t p = now_s / STATS_BASELINE_PERIOD;
	double alpha = 1.0 - exp2(-(double)STATS_BASELINE_PERIOD / (half_life_s ? half_life_s : 86400));

	if (!vm->period) {
		vm->period = p;
		return;
	}
	if (p <= vm->period)
		return;
	for (int i = 0; i < 3; i++) {
		vm->ewma[i] += alpha * ((double)vm->period_count[i] - vm->ewma[i]);
		vm->period_count[i] = 0;
	}
	vm->periods_seen++;
	/* idle periods count as zero; after ~30 half-lives nothing is left */
	uint64_t idle = p - vm->period - 1;
	if (idle) {
		double keep = pow(1.0 - alpha, (double)(idle > 100000 ? 100000 : idle));
		for (int i = 0; i < 3; i++)
			vm->ewma[i] *= keep;
		vm->periods_seen += idle > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)idle;
	}
	vm->period = p;
}

static void baseline_count(struct stats_vm *vm, uint64_t t_s, const uint32_t add[3])
{
	/* a late observation of an earlier period goes to the current one */
	(void)t_s;
	for (int i = 0; i < 3; i++)
		vm->period_count[i] += add[i];
}

/* ---- samples and scrubbing ------------------------------------------------ */

void stats_scrub(char *dst, size_t cap, const char *s)
{
	size_t o = 0;
	if (!cap)
		return;
	for (size_t i = 0; s && s[i] && o + 1 < cap;) {
		/* a token containing '@' is an address: drop it whole */
		size_t j = i;
		bool at = false;
		while (s[j] && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r') {
			at |= s[j] == '@';
			j++;
		}
		if (j > i && at) {
			const char *r = "<addr>";
			for (size_t k = 0; r[k] && o + 1 < cap; k++)
				dst[o++] = r[k];
			i = j;
			continue;
		}
		for (; i < j && o + 1 < cap; i++)
			dst[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
		if (s[i] && o + 1 < cap) {
			dst[o++] = ' ';
			i++;
		}
	}
	dst[o] = '\0';
}

static void sample_put(struct stats_sample_ring *r, const char *s, bool scrub)
{
	char *slot;
	if (!s || !*s)
		return;
	slot = r->s[r->next % STATS_SAMPLES];
	if (scrub) {
		stats_scrub(slot, STATS_SAMPLE_LEN, s);
	} else {
		size_t n = strnlen(s, STATS_SAMPLE_LEN - 1);
		memcpy(slot, s, n);
		slot[n] = '\0';
	}
	r->next++;
}

const char *stats_sample(const struct stats_sample_ring *r, uint32_t i)
{
	if (i >= STATS_SAMPLES || i >= r->next)
		return NULL;
	return r->s[(r->next - 1 - i) % STATS_SAMPLES];
}

uint64_t stats_subject_key(const char *subject)
{
	char buf[256];
	size_t o = 0;
	bool in_num = false;

	if (!subject || !*subject)
		return 0;
	for (size_t i = 0; subject[i] && o + 1 < sizeof(buf); i++) {
		char c = subject[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c + 32);
		if (c >= '0' && c <= '9') {
			if (!in_num)
				buf[o++] = '0';
			in_num = true;
			continue;
		}
		in_num = false;
		if (c == ' ' || c == '\t') {
			if (o && buf[o - 1] == ' ')
				continue;
			c = ' ';
		}
		buf[o++] = c;
	}
	return hash_bytes(buf, o, 0x5b) | 1;
}

/* ---- observe and snapshot -------------------------------------------------- */

void stats_vm_observe(struct stats_vm *vm, const struct stats_obs *o, uint32_t half_life_s)
{
	uint64_t t = o->ts_us / 1000000;
	uint32_t msgs = o->n_msgs > STATS_OBS_MAX_MSGS ? STATS_OBS_MAX_MSGS : o->n_msgs;

	/* older than every window: it can no longer matter */
	if (vm->last_s && t + 3600 <= vm->last_s) {
		vm->late++;
		return;
	}
	baseline_advance(vm, t, half_life_s);
	if (t > vm->last_s)
		vm->last_s = t;
	ctr_add(vm, SC_ATTEMPTS, t, 1);
	ctr_add(vm, SC_SESSIONS, t, o->smtp);
	ctr_add(vm, SC_MESSAGES, t, o->n_msgs);
	ctr_add(vm, SC_RCPTS, t, o->rcpts);
	ctr_add(vm, SC_RCPTS_OK, t, o->rcpts_ok);
	ctr_add(vm, SC_2XX, t, o->replies[0]);
	ctr_add(vm, SC_4XX, t, o->replies[1]);
	ctr_add(vm, SC_5XX, t, o->replies[2]);
	ctr_add(vm, SC_USER_UNKNOWN, t, o->user_unknown);
	ctr_add(vm, SC_BLOCKLIST, t, o->blocklist);
	ctr_add(vm, SC_RATE_LIMIT, t, o->rate_limit);
	baseline_count(vm, t, (const uint32_t[3]){ o->n_msgs, o->smtp, o->rcpts });

	if (o->family == 4 || o->family == 6) {
		size_t alen = o->family == 4 ? 4 : 16, plen = o->family == 4 ? 3 : 6;
		sketch_add(vm, vm->ips, mix32(hash_bytes(o->dst, alen, o->family)), (uint32_t)t);
		sketch_add(vm, vm->nets, mix32(hash_bytes(o->dst, plen, o->family)), (uint32_t)t);
	}
	for (uint32_t i = 0; i < msgs; i++) {
		fp_add(vm->fp[SF_DIGEST], o->msg[i].digest, t);
		fp_add(vm->fp[SF_MINHASH], o->msg[i].minhash, t);
		fp_add(vm->fp[SF_SUBJECT], o->msg[i].subject, t);
	}
	if (o->smtp) {
		fp_add(vm->fp[SF_DIALECT], o->dialect, t);
		fp_add(vm->fp[SF_JA4], o->ja4, t);
	}
	sample_put(&vm->message_ids, o->message_id, false);   /* ids contain "@" by design */
	sample_put(&vm->subjects, o->subject, true);
	for (int i = 0; i < 2; i++)
		sample_put(&vm->replies, o->reply_text[i], true);
}

void stats_vm_snapshot(struct stats_vm *vm, uint64_t now_s, uint32_t half_life_s,
		       const double floors[3], struct stats_snapshot *out)
{
	static const int ctr_metric[SC_COUNT] = {
		PM_ATTEMPTS, PM_SESSIONS, PM_MESSAGES, PM_RCPTS, PM_RCPTS_OK, PM_REPLIES_2XX,
		PM_REPLIES_4XX, PM_REPLIES_5XX, PM_USER_UNKNOWN, PM_BLOCKLIST, PM_RATE_LIMIT,
	};
	static const int fp_metric[SF_COUNT] = {
		PM_TOP_DIGEST, PM_TOP_MINHASH, PM_TOP_SUBJECT, PM_TOP_DIALECT, PM_TOP_JA4,
	};

	memset(out, 0, sizeof(*out));
	baseline_advance(vm, now_s, half_life_s);
	for (int w = 0; w < PW_COUNT; w++) {
		for (int c = 0; c < SC_COUNT; c++) {
			const struct stats_ring *r = &vm->ring[c][w];
			out->v[ctr_metric[c]][w] = (double)ring_sum(r->b, STATS_BUCKETS, ring_width[w],
								     r->head, now_s);
		}
		out->v[PM_DST_IPS][w] = sketch_count(vm->ips, now_s, window_s[w]);
		out->v[PM_DST_NETS][w] = sketch_count(vm->nets, now_s, window_s[w]);
		for (int f = 0; f < SF_COUNT; f++)
			out->v[fp_metric[f]][w] = fp_top(vm->fp[f], now_s, w);
	}
	static const int cur[3] = { PM_MESSAGES, PM_SESSIONS, PM_RCPTS };
	for (int i = 0; i < 3; i++) {
		double base = vm->ewma[i], fl = floors[i] > 0 ? floors[i] : 1;
		out->baseline[i] = base;
		for (int w = 0; w < PW_COUNT; w++)
			out->v[PM_SPIKE_MESSAGES + i][w] = out->v[cur[i]][PW_10M] / (base > fl ? base : fl);
	}
	out->periods_seen = vm->periods_seen;
}
