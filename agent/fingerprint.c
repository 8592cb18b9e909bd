/* SPDX-License-Identifier: MIT */
/*
 * fingerprint: streaming near-duplicate (min-hash over word shingles) and
 * exact (XXH3-128) fingerprints of decoded message text.  Text is cut into
 * normalised words (see fingerprint.h); every run of FP_SHINGLE_WORDS
 * consecutive words is one shingle, its text ("w1 w2 w3", single spaces)
 * hashed once with XXH3-64; FP_MINHASH_K
 * cheap derived hashes (a_i * h + b_i) >> 32 keep their minimum.  The exact
 * digest covers the normalised words, each followed by one space.
 * Pure code, constant memory (agent process, parser side).
 */
#include "fingerprint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(FP_NO_SIMD)
#include <immintrin.h>
#define FP_AVX2 1
#endif

/* Inline XXH3: two short hashes per word are the hot path. */
#define XXH_INLINE_ALL
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

/* Private part behind st->xxh: the XXH3 state; the normalised text
 * ("word word word "), which feeds the digest a batch at a time and in
 * which the last FP_SHINGLE_WORDS words stay contiguous, so a shingle's
 * hash is one XXH3-64 over its own text; and a batch of shingle hashes
 * (the K minima are updated once per FP_SH_BATCH shingles: each a_i, b_i
 * and minimum stays in a register while several shingles go through). */
#define FP_BATCH 1024
#define FP_SH_BATCH 8
struct fp_priv {
	XXH3_state_t *xs;
	uint32_t n;                      /* bytes in buf */
	uint32_t dn;                     /* bytes of buf already digested */
	uint32_t ws[FP_SHINGLE_WORDS];   /* offsets of the last words, oldest first */
	uint32_t npend;
	uint64_t pend[FP_SH_BATCH];
	uint8_t buf[FP_BATCH];
};

/* Byte -> normalised word byte, 0 for a separator: ASCII letters folded
 * to lower case, digits to '0', bytes >= 0x80 (UTF-8) kept. */
static const uint8_t fp_map[256] = {
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
	0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
	0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
	0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f,
	0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
	0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
	0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
	0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
	0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef,
	0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff,
};

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
		p->dn = 0;
		p->npend = 0;
		XXH3_128bits_reset(p->xs);
	}
}

int fp_init(struct fp_state *st)
{
	struct fp_priv *p;

	memset(st, 0, sizeof(*st));
#ifdef FP_AVX2
	__builtin_cpu_init();
#endif
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

/* Room for one more word: digest what is pending and keep only the words
 * a later shingle still needs. */
static void fp_compact(struct fp_state *st, struct fp_priv *p)
{
	uint32_t keep, i;

	XXH3_128bits_update(p->xs, p->buf + p->dn, p->n - p->dn);
	keep = st->window_fill >= 2 ? p->ws[1] : st->window_fill == 1 ? p->ws[2] : p->n;
	memmove(p->buf, p->buf + keep, p->n - keep);
	for (i = 0; i < FP_SHINGLE_WORDS; i++)
		p->ws[i] = p->ws[i] >= keep ? p->ws[i] - keep : 0;
	p->n -= keep;
	p->dn = p->n;
}

static inline uint32_t fp_min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static inline uint32_t fp_derive(uint64_t a, uint64_t b, uint64_t h)
{
	return (uint32_t)((a * h + b) >> 32);
}

#ifdef FP_AVX2
/* The same derived hashes, eight at a time, from 32x32->64 multiplies:
 * with a = ah:al and h = hh:hl (32-bit halves),
 *   hi32(a*h + b) = hi32(al*hl + b) + lo32(al*hh) + lo32(ah*hl)  (mod 2^32).
 * Even lanes carry i = 8k, 8k+2, ..., odd lanes 8k+1, ...; a blend puts
 * them back in order, so min[] has the scalar layout. */
__attribute__((target("avx2")))
static void fp_flush_avx2(uint32_t *min, const uint64_t *x, uint32_t n)
{
	uint32_t k, j;

	for (k = 0; k < FP_MINHASH_K / 8; k++) {
		const uint64_t *a = fp_mul + 8 * k, *b = fp_add + 8 * k;
		__m256i ae = _mm256_set_epi64x((long long)a[6], (long long)a[4], (long long)a[2], (long long)a[0]);
		__m256i ao = _mm256_set_epi64x((long long)a[7], (long long)a[5], (long long)a[3], (long long)a[1]);
		__m256i be = _mm256_set_epi64x((long long)b[6], (long long)b[4], (long long)b[2], (long long)b[0]);
		__m256i bo = _mm256_set_epi64x((long long)b[7], (long long)b[5], (long long)b[3], (long long)b[1]);
		__m256i aeh = _mm256_srli_epi64(ae, 32), aoh = _mm256_srli_epi64(ao, 32);
		__m256i m = _mm256_loadu_si256((const __m256i *)(min + 8 * k));

		for (j = 0; j < n; j++) {
			__m256i hl = _mm256_set1_epi64x((long long)x[j]);
			__m256i hh = _mm256_set1_epi64x((long long)(x[j] >> 32));
			__m256i pe = _mm256_add_epi64(_mm256_mul_epu32(ae, hl), be);
			__m256i po = _mm256_add_epi64(_mm256_mul_epu32(ao, hl), bo);
			__m256i ve = _mm256_add_epi64(_mm256_srli_epi64(pe, 32),
				_mm256_add_epi64(_mm256_mul_epu32(ae, hh), _mm256_mul_epu32(aeh, hl)));
			__m256i vo = _mm256_add_epi64(_mm256_srli_epi64(po, 32),
				_mm256_add_epi64(_mm256_mul_epu32(ao, hh), _mm256_mul_epu32(aoh, hl)));

			m = _mm256_min_epu32(m, _mm256_blend_epi32(ve, _mm256_slli_epi64(vo, 32), 0xaa));
		}
		_mm256_storeu_si256((__m256i *)(min + 8 * k), m);
	}
}
#endif

/* Fold the pending shingle hashes into the K minima.  A full batch is
 * unrolled into independent chains (a minimum tree), so the multiplies
 * overlap instead of waiting on one running minimum; with AVX2 eight
 * minima move at once.  Both give bit-identical results. */
static void fp_flush_minhash(struct fp_state *st, struct fp_priv *p)
{
	const uint64_t *x = p->pend;
	uint32_t i, j, n = p->npend;

#ifdef FP_AVX2
	if (n == FP_SH_BATCH && __builtin_cpu_supports("avx2")) {
		fp_flush_avx2(st->min, x, n);
		p->npend = 0;
		return;
	}
#endif
	if (n == FP_SH_BATCH) {
		for (i = 0; i < FP_MINHASH_K; i++) {
			uint64_t a = fp_mul[i], b = fp_add[i];
			uint32_t m01 = fp_min32(fp_derive(a, b, x[0]), fp_derive(a, b, x[1]));
			uint32_t m23 = fp_min32(fp_derive(a, b, x[2]), fp_derive(a, b, x[3]));
			uint32_t m45 = fp_min32(fp_derive(a, b, x[4]), fp_derive(a, b, x[5]));
			uint32_t m67 = fp_min32(fp_derive(a, b, x[6]), fp_derive(a, b, x[7]));
			uint32_t m = fp_min32(fp_min32(m01, m23), fp_min32(m45, m67));

			st->min[i] = fp_min32(st->min[i], m);
		}
	} else {
		for (i = 0; i < FP_MINHASH_K; i++)
			for (j = 0; j < n; j++)
				st->min[i] = fp_min32(st->min[i], fp_derive(fp_mul[i], fp_add[i], x[j]));
	}
	p->npend = 0;
}

/* One finished word: append it to the normalised text, and queue the
 * hash of the shingle it completes. */
static void fp_word_end(struct fp_state *st)
{
	struct fp_priv *p = st->xxh;
	uint32_t len = st->word_len;

	if (len > FP_MAX_WORD)
		len = fp_utf8_trim(st->word, FP_MAX_WORD);
	st->word_len = 0;
	st->utf8_pending = 0;
	if (len == 0)
		return;
	if (p->n + len + 1 > FP_BATCH)
		fp_compact(st, p);
	p->ws[0] = p->ws[1];
	p->ws[1] = p->ws[2];
	p->ws[2] = p->n;
	memcpy(p->buf + p->n, st->word, len);
	p->n += len;
	p->buf[p->n++] = ' ';
	st->words++;
	if (st->window_fill < FP_SHINGLE_WORDS)
		st->window_fill++;
	if (st->window_fill < FP_SHINGLE_WORDS)
		return;
	/* "w1 w2 w3" without the trailing space */
	p->pend[p->npend++] = XXH3_64bits(p->buf + p->ws[0], p->n - 1 - p->ws[0]);
	if (p->npend == FP_SH_BATCH)
		fp_flush_minhash(st, p);
}

void fp_feed(struct fp_state *st, const char *text, size_t len)
{
	const uint8_t *s = (const uint8_t *)text, *end = s + len;
	char *w = st->word;
	uint32_t wl = st->word_len;   /* local: char stores would force reloads */

	if (!st->xxh)
		return;
	while (s < end) {
		uint8_t c = fp_map[*s++];

		if (c) {
			if (wl < FP_MAX_WORD)
				w[wl] = (char)c;
			if (wl <= FP_MAX_WORD)
				wl++;             /* FP_MAX_WORD + 1 marks "cut" */
		} else if (wl) {
			st->word_len = wl;
			fp_word_end(st);
			wl = 0;
		}
	}
	st->word_len = wl;
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
	if (p->npend)
		fp_flush_minhash(st, p);
	memset(out, 0, sizeof(*out));
	if (p->n > p->dn)
		XXH3_128bits_update(p->xs, p->buf + p->dn, p->n - p->dn);
	p->n = p->dn = 0;
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
