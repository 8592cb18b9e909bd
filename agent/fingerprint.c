/* SPDX-License-Identifier: MIT */
/*
 * fingerprint: streaming near-duplicate (min-hash over word shingles) and
 * exact (XXH3-128) fingerprints of decoded message text.  Text is cut into
 * normalised words (see fingerprint.h); every run of FP_SHINGLE_WORDS
 * consecutive words is one shingle, hashed once with XXH3-64; FP_MINHASH_K
 * cheap derived hashes (a_i * h + b_i) >> 32 keep their minimum.  The exact
 * digest covers the normalised words, each followed by one space.
 * Pure code, constant memory (agent process, parser side).
 */
#include "fingerprint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

/* Odd multipliers and offsets of the derived hashes (splitmix64 output,
 * fixed forever: changing them changes every stored fingerprint). */
static const uint64_t fp_mul[FP_MINHASH_K] = {
	0xd952bbf185ad5a93ULL, 0xa5bdb17c5de6beb7ULL,
	0xae73fc5a83f4b3e9ULL, 0x63f8e86e5f09e4f3ULL,
	0xe69374af78a68051ULL, 0x6a884493e4c052ffULL,
	0x1621fe426fb4d86fULL, 0x349d5c10b88af5ddULL,
	0xef577195eb00b4b7ULL, 0x5b671781f4fb366dULL,
	0x9a2b8678c4a7ae55ULL, 0x4f1acbe73c73df57ULL,
	0x57cd89e57b31dd7fULL, 0x987308eda21c8103ULL,
	0x967fef5bf1aa8689ULL, 0x494f865f2679c3f5ULL,
	0x118c9a6bbd4e9e8dULL, 0x946b5dc971141aa1ULL,
	0x646e4d3fa44a8009ULL, 0xcf50f02cd3a0820bULL,
	0x4139ac0e2216d4edULL, 0x75347c21e32b970dULL,
	0x07f5add9d02c1095ULL, 0x2c52e6376987d449ULL,
	0x1ef83c8cec825f8fULL, 0xd3e9f3126ec7e1cdULL,
	0x534bb700e6e69e2dULL, 0x3432275e095b112fULL,
	0x46b2b193b20528bfULL, 0xc2e9f4cb42f0d90fULL,
	0xee611d72c41b9975ULL, 0x10568fc0b6454dcfULL,
};
static const uint64_t fp_add[FP_MINHASH_K] = {
	0x78adfa26c4643361ULL, 0x22dd9f8943af5ab6ULL,
	0xa746c805008dc1b7ULL, 0xa9ce03330a9756b4ULL,
	0x5aa356225feea47eULL, 0xf15439a859bd0284ULL,
	0xf305f66c5a2d4de4ULL, 0xf6166c7811711637ULL,
	0xa0d1832dc29e01d3ULL, 0x3e31ef1f5d8d6b3cULL,
	0x0824aac301d75e9aULL, 0x0e9698862f8143abULL,
	0xe23b9441e725968fULL, 0x1352bb05a680c779ULL,
	0x150a08903361edc5ULL, 0x451719757e6b86eeULL,
	0x516608a175d46537ULL, 0x856f89825bcafd04ULL,
	0x881b13229a855936ULL, 0x59bf5df26f34c73bULL,
	0x6279d55ed9fd19a0ULL, 0x4ec80a74cab265cfULL,
	0xdf73f62ec967dfe5ULL, 0x95abdfc2553c7088ULL,
	0x22557f79ba147781ULL, 0x22f456875ef4e7dfULL,
	0xb4142304e22e67faULL, 0x6c11a34833df51abULL,
	0x2c83e48af04f856eULL, 0x4eda6b422bc0e036ULL,
	0x7df235868c1df984ULL, 0x5f54e9ae0905635aULL,
};

/* Private part behind st->xxh: the XXH3 state and a batch of normalised
 * words, so the digest is updated once per few hundred bytes, not per word. */
#define FP_BATCH 512
struct fp_priv {
	XXH3_state_t *xs;
	size_t n;
	uint8_t buf[FP_BATCH];
};

/* 0 for a separator byte, else the normalised word byte. */
static inline uint8_t fp_norm(uint8_t c)
{
	if (c >= 0x80)
		return c;
	if ((uint8_t)(c - 'a') < 26)
		return c;
	if ((uint8_t)(c - 'A') < 26)
		return (uint8_t)(c | 0x20);
	if ((uint8_t)(c - '0') < 10)
		return '0';
	return 0;
}

static void fp_reset(struct fp_state *st)
{
	struct fp_priv *p = st->xxh;

	memset(st->window, 0, sizeof(st->window));
	st->window_fill = 0;
	memset(st->min, 0xff, sizeof(st->min));
	st->word_len = 0;
	st->utf8_pending = 0;
	st->words = 0;
	if (p) {
		p->n = 0;
		XXH3_128bits_reset(p->xs);
	}
}

int fp_init(struct fp_state *st)
{
	struct fp_priv *p;

	memset(st, 0, sizeof(*st));
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->xs = XXH3_createState();
	if (!p->xs) {
		free(p);
		return -ENOMEM;
	}
	st->xxh = p;
	fp_reset(st);
	return 0;
}

void fp_fini(struct fp_state *st)
{
	struct fp_priv *p;

	if (!st || !st->xxh)
		return;
	p = st->xxh;
	XXH3_freeState(p->xs);
	free(p);
	st->xxh = NULL;
}

/* Length of the longest prefix of w[0..len) that does not end inside a
 * UTF-8 multi-byte sequence (only used when a long word was cut). */
static uint32_t fp_utf8_trim(const char *w, uint32_t len)
{
	uint32_t i = len, back = 0;
	uint8_t c;
	uint32_t need;

	while (i > 0 && back < 4) {
		c = (uint8_t)w[i - 1];
		if ((c & 0xc0) != 0x80)
			break;
		i--;
		back++;
	}
	if (i == 0)
		return len;
	c = (uint8_t)w[i - 1];
	if (c < 0x80)
		return len;
	need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
	if (need == 0 || back >= need)
		return len;        /* complete, or not UTF-8 at all: keep */
	return i - 1;              /* drop the incomplete sequence */
}

static void fp_digest_add(struct fp_priv *p, const char *w, uint32_t len)
{
	if (p->n + len + 1 > FP_BATCH) {
		XXH3_128bits_update(p->xs, p->buf, p->n);
		p->n = 0;
	}
	memcpy(p->buf + p->n, w, len);
	p->n += len;
	p->buf[p->n++] = ' ';
}

/* One finished word: digest it, slide the shingle window, update minima. */
static void fp_word_end(struct fp_state *st)
{
	uint32_t len = st->word_len;
	uint64_t h;
	int i;

	if (len > FP_MAX_WORD)
		len = fp_utf8_trim(st->word, FP_MAX_WORD);
	st->word_len = 0;
	st->utf8_pending = 0;
	if (len == 0)
		return;
	fp_digest_add(st->xxh, st->word, len);
	st->words++;

	st->window[0] = st->window[1];
	st->window[1] = st->window[2];
	st->window[2] = XXH3_64bits(st->word, len);
	if (st->window_fill < FP_SHINGLE_WORDS)
		st->window_fill++;
	if (st->window_fill < FP_SHINGLE_WORDS)
		return;
	h = XXH3_64bits(st->window, sizeof(st->window));
	for (i = 0; i < FP_MINHASH_K; i++) {
		uint32_t v = (uint32_t)((fp_mul[i] * h + fp_add[i]) >> 32);

		if (v < st->min[i])
			st->min[i] = v;
	}
}

void fp_feed(struct fp_state *st, const char *text, size_t len)
{
	const uint8_t *s = (const uint8_t *)text, *end = s + len;

	while (s < end) {
		uint8_t c = fp_norm(*s++);

		if (c) {
			if (st->word_len < FP_MAX_WORD)
				st->word[st->word_len] = (char)c;
			if (st->word_len <= FP_MAX_WORD)
				st->word_len++;   /* FP_MAX_WORD + 1 marks "cut" */
		} else if (st->word_len) {
			fp_word_end(st);
		}
	}
}

void fp_final(struct fp_state *st, struct fp_result *out)
{
	struct fp_priv *p = st->xxh;
	XXH128_hash_t d;
	XXH128_canonical_t c;

	if (!p) {            /* fp_init failed: an empty, recognisable result */
		memset(out, 0, sizeof(*out));
		memset(out->minhash, 0xff, sizeof(out->minhash));
		out->empty = true;
		return;
	}
	if (st->word_len)
		fp_word_end(st);
	memset(out, 0, sizeof(*out));
	if (p->n)
		XXH3_128bits_update(p->xs, p->buf, p->n);
	p->n = 0;
	d = XXH3_128bits_digest(p->xs);
	XXH128_canonicalFromHash(&c, d);
	memcpy(out->digest, c.digest, sizeof(out->digest));
	if (st->window_fill >= FP_SHINGLE_WORDS)
		memcpy(out->minhash, st->min, sizeof(out->minhash));
	else
		memset(out->minhash, 0xff, sizeof(out->minhash));
	out->words = st->words;
	out->empty = st->words == 0;
	fp_reset(st);
}

static bool fp_has_shingles(const struct fp_result *r)
{
	int i;

	for (i = 0; i < FP_MINHASH_K; i++)
		if (r->minhash[i] != 0xffffffffu)
			return true;
	return false;
}

/* Fraction of equal minima.  Texts too short for one shingle compare by
 * their exact digest only (1 or 0). */
double fp_similarity(const struct fp_result *a, const struct fp_result *b)
{
	bool sa = fp_has_shingles(a), sb = fp_has_shingles(b);
	int i, eq = 0;

	if (!sa || !sb) {
		if (sa != sb)
			return 0.0;
		return memcmp(a->digest, b->digest, sizeof(a->digest)) == 0 ? 1.0 : 0.0;
	}
	for (i = 0; i < FP_MINHASH_K; i++)
		eq += a->minhash[i] == b->minhash[i];
	return (double)eq / FP_MINHASH_K;
}

static void fp_hex(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

void fp_digest_hex(const struct fp_result *r, char out[33])
{
	fp_hex(r->digest, sizeof(r->digest), out);
}

/* Each minimum as 8 hex digits, most significant first. */
void fp_minhash_hex(const struct fp_result *r, char out[FP_MINHASH_K * 8 + 1])
{
	static const char hx[] = "0123456789abcdef";
	int i, j;

	for (i = 0; i < FP_MINHASH_K; i++)
		for (j = 0; j < 8; j++)
			out[i * 8 + j] = hx[(r->minhash[i] >> (28 - 4 * j)) & 15];
	out[FP_MINHASH_K * 8] = '\0';
}
