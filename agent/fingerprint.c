/* SPDX-License-Identifier: MIT */
/*
 * fingerprint: streaming near-duplicate (min-hash over word shingles) and
 * exact fingerprints of decoded message text; the definition is in
 * fingerprint.h.  Text is normalised 64 bytes at a time (SSE2 on x86-64,
 * a table elsewhere) into a block and a bit mask of its word bytes; words
 * are found in the mask, and each is hashed once, straight from the block
 * (the next block starts at a word cut by the block's end; only a word
 * that runs past the end of a call, or past 64 bytes, is copied into
 * st->word).  Shingle
 * hashes mix the last three word hashes and are folded into the
 * FP_MINHASH_K minima FP_SH_BATCH at a time (AVX-512 or AVX2 when the
 * CPU has it);
 * the digest is two running states over the word hashes.
 * Pure code, constant memory, no allocation (agent process, parser side).
 */
#include "fingerprint.h"

#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(FP_NO_SIMD)
#include <immintrin.h>
#define FP_AVX2 1
#define FP_SSE2 1
#endif

#define FP_P1 0x9e3779b185ebca87ULL
#define FP_P2 0xc2b2ae3d27d4eb4fULL
#define FP_P5 0x27d4eb2f165667c5ULL
#define FP_H1_SEED 0x85ebca77c2b2ae63ULL
#define FP_H2_SEED 0x165667b19e3779f9ULL
#define FP_BLOCK 64

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

#ifndef FP_SSE2
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
#endif


static inline uint64_t fp_rotl(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t fp_fmix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Little-endian 8 bytes at p. */
static inline uint64_t fp_load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* The word hash of fingerprint.h over p[0..n), 1 <= n <= FP_MAX_WORD.
 * Reads the whole 8-byte chunks that cover n (the bytes past n must be
 * readable; they are masked off).  One multiply for a short word: the
 * shingle hash avalanches, the digest only needs distinct values (each
 * step is a bijection of the chunk). */
static inline uint64_t fp_word_hash(const uint8_t *p, size_t n)
{
	uint64_t v;
	size_t i;

	if (n <= 8) {
		v = ((FP_P5 + n) ^ (fp_load64(p) & (~0ULL >> (64 - 8 * n)))) * FP_P2;
		return v ^ (v >> 32);
	}
	v = (FP_P5 + n) ^ fp_load64(p);
	for (i = 8; i + 8 <= n; i += 8)
		v = fp_rotl(v * FP_P1, 31) ^ fp_load64(p + i);
	if (i < n)
		v = fp_rotl(v * FP_P1, 31) ^ (fp_load64(p + i) & (~0ULL >> (64 - 8 * (n - i))));
	v *= FP_P2;
	return v ^ (v >> 32);
}

static void fp_reset(struct fp_state *st)
{
	memset(st, 0, sizeof(*st));
	st->acc.h1 = FP_H1_SEED;
	st->acc.h2 = FP_H2_SEED;
	memset(st->min, 0xff, sizeof(st->min));
}

int fp_init(struct fp_state *st)
{
#ifdef FP_AVX2
	__builtin_cpu_init();
#endif
	fp_reset(st);
	return 0;
}

void fp_fini(struct fp_state *st)
{
	(void)st;
}

/* Length of the longest prefix of w[0..len) that does not end inside a
 * UTF-8 multi-byte sequence (only used when a long word was cut). */
static uint32_t fp_utf8_trim(const uint8_t *w, uint32_t len)
{
	uint32_t i = len, back = 0;
	uint8_t c;
	uint32_t need;

	while (i > 0 && back < 4) {
		c = w[i - 1];
		if ((c & 0xc0) != 0x80)
			break;
		i--;
		back++;
	}
	if (i == 0)
		return len;
	c = w[i - 1];
	if (c < 0x80)
		return len;
	need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc0 ? 1 : 0;
	if (need == 0 || back >= need)
		return len;        /* complete, or not UTF-8 at all: keep */
	return i - 1;              /* drop the incomplete sequence */
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

/* The same with AVX-512 DQ, for a full batch: a 64-bit multiply gives
 * bits 32..63 of a*h + b directly, and the minima run in 64-bit lanes
 * (values < 2^32), eight at a time, with the batch's hashes broadcast
 * once. */
__attribute__((target("avx512f,avx512dq")))
static void fp_flush_avx512(uint32_t *min, const uint64_t *x)
{
	__m512i h[FP_SH_BATCH];
	uint32_t k, j;

	for (j = 0; j < FP_SH_BATCH; j++)
		h[j] = _mm512_set1_epi64((long long)x[j]);
	for (k = 0; k < FP_MINHASH_K / 8; k++) {
		__m512i a = _mm512_loadu_si512((const void *)(fp_mul + 8 * k));
		__m512i b = _mm512_loadu_si512((const void *)(fp_add + 8 * k));
		__m512i m = _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(min + 8 * k)));

		for (j = 0; j < FP_SH_BATCH; j++)
			m = _mm512_min_epu64(m, _mm512_srli_epi64(
				_mm512_add_epi64(_mm512_mullo_epi64(a, h[j]), b), 32));
		_mm256_storeu_si256((__m256i *)(min + 8 * k), _mm512_cvtepi64_epi32(m));
	}
}
#endif

/* Fold the pending shingle hashes into the K minima.  A full batch is
 * unrolled into independent chains (a minimum tree), so the multiplies
 * overlap instead of waiting on one running minimum; with AVX2 eight
 * minima move at once.  Both give bit-identical results. */
static void fp_flush_minhash(struct fp_state *st, uint32_t n)
{
	const uint64_t *x = st->pend;
	uint32_t i, j;

#ifdef FP_AVX2
	if (n == FP_SH_BATCH && __builtin_cpu_supports("avx512dq")) {
		fp_flush_avx512(st->min, x);
		return;
	}
	if (n == FP_SH_BATCH && __builtin_cpu_supports("avx2")) {
		fp_flush_avx2(st->min, x, n);
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
}


/* One finished word, by its hash, into the running state a (a copy of
 * st->acc that the caller keeps in registers): the digest takes it, and
 * the shingle it completes is queued for the minima. */
static inline void fp_word(struct fp_state *st, struct fp_acc *a, uint64_t w)
{
	a->h1 = fp_rotl((a->h1 ^ w) * FP_P1, 31);
	a->h2 = fp_rotl((a->h2 ^ w) * FP_P2, 29);
	if (++a->words >= FP_SHINGLE_WORDS) {
		st->pend[a->npend++] = fp_fmix64(fp_rotl(a->prev[0], 42) ^ fp_rotl(a->prev[1], 21) ^ w);
		if (a->npend == FP_SH_BATCH) {
			fp_flush_minhash(st, a->npend);
			a->npend = 0;
		}
	}
	a->prev[0] = a->prev[1];
	a->prev[1] = w;
}

/* The open word (in st->word) ended. */
static void fp_word_close(struct fp_state *st)
{
	uint32_t len = st->word_len;

	if (len > FP_MAX_WORD)
		len = fp_utf8_trim(st->word, FP_MAX_WORD);
	st->word_len = 0;
	if (len)
		fp_word(st, &st->acc, fp_word_hash(st->word, len));
}

/* More bytes of the open word; past FP_MAX_WORD they only mark it cut. */
static void fp_word_append(struct fp_state *st, const uint8_t *p, size_t n)
{
	uint32_t wl = st->word_len;

	if (wl < FP_MAX_WORD)
		memcpy(st->word + wl, p, n < FP_MAX_WORD - wl ? n : FP_MAX_WORD - wl);
	st->word_len = wl + n > FP_MAX_WORD ? FP_MAX_WORD + 1 : wl + (uint32_t)n;
}

#ifdef FP_SSE2
/* Normalise 16 bytes; returns the mask of word bytes.  Signed compares
 * after a bias test ranges: letters are (c | 0x20) in 'a'..'z', digits
 * c in '0'..'9', and UTF-8 bytes are negative as signed. */
static inline uint32_t fp_norm16(const uint8_t *in, uint8_t *out)
{
	__m128i x = _mm_loadu_si128((const __m128i *)in);
	__m128i lo = _mm_or_si128(x, _mm_set1_epi8(0x20));
	__m128i ia = _mm_cmplt_epi8(_mm_add_epi8(lo, _mm_set1_epi8((char)(0x80 - 'a'))),
				    _mm_set1_epi8((char)(0x80 + 26)));
	__m128i id = _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - '0'))),
				    _mm_set1_epi8((char)(0x80 + 10)));
	__m128i ih = _mm_cmplt_epi8(x, _mm_setzero_si128());
	__m128i r = _mm_or_si128(_mm_or_si128(_mm_and_si128(ia, lo), _mm_and_si128(ih, x)),
				 _mm_and_si128(id, _mm_set1_epi8('0')));

	_mm_storeu_si128((__m128i *)out, r);
	return (uint32_t)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(ia, id), ih));
}
#endif

/* Normalise a block of FP_BLOCK bytes into out; returns the mask of its
 * word bytes (bit i for in[i]). */
static inline uint64_t fp_norm_block(const uint8_t *in, uint8_t *out)
{
#ifdef FP_SSE2
	return (uint64_t)fp_norm16(in, out) | (uint64_t)fp_norm16(in + 16, out + 16) << 16 |
	       (uint64_t)fp_norm16(in + 32, out + 32) << 32 |
	       (uint64_t)fp_norm16(in + 48, out + 48) << 48;
#else
	uint64_t m = 0;
	unsigned i;

	for (i = 0; i < FP_BLOCK; i++) {
		out[i] = fp_map[in[i]];
		m |= (uint64_t)(out[i] != 0) << i;
	}
	return m;
#endif
}

/* The words of one normalised block nb[0..vl) with word-byte mask m (no
 * bits at or past vl); returns the bytes consumed.  A word that touches vl
 * is left for the next block when more input follows and it did not start
 * the block (so it is hashed in place, not copied); otherwise it stays
 * open in st->word.  nb must be readable 8 bytes past FP_BLOCK (word hash
 * reads). */
static size_t fp_block(struct fp_state *st, const uint8_t *nb, uint64_t m, size_t vl, bool more)
{
	struct fp_acc a;
	size_t s, e, used = vl;
	uint64_t z;

	if (st->word_len) {
		z = ~m;
		e = z ? (size_t)__builtin_ctzll(z) : FP_BLOCK;
		if (e > vl)
			e = vl;
		fp_word_append(st, nb, e);
		if (e == vl)
			return vl;
		fp_word_close(st);
		m &= ~0ULL << e;
	}
	a = st->acc;
	while (m) {
		s = (size_t)__builtin_ctzll(m);
		z = ~m & (~0ULL << s);
		e = z ? (size_t)__builtin_ctzll(z) : FP_BLOCK;
		if (e >= vl) {
			if (more && s > 0)
				used = s;
			else
				fp_word_append(st, nb + s, vl - s);
			break;
		}
		fp_word(st, &a, fp_word_hash(nb + s, e - s));
		m &= ~0ULL << e;
	}
	st->acc = a;
	return used;
}

void fp_feed(struct fp_state *st, const char *text, size_t len)
{
	const uint8_t *s = (const uint8_t *)text;
	uint8_t nb[FP_BLOCK + 8];    /* the 8 bytes past a block: word hash reads */
	uint8_t tail[FP_BLOCK];
	uint64_t m;
	size_t k;

	memset(nb + FP_BLOCK, 0, 8);
	while (len >= FP_BLOCK) {
		m = fp_norm_block(s, nb);
		k = fp_block(st, nb, m, FP_BLOCK, len > FP_BLOCK);
		s += k;
		len -= k;
	}
	if (len) {
		memset(tail, 0, sizeof(tail));     /* NUL is a separator */
		memcpy(tail, s, len);
		m = fp_norm_block(tail, nb);
		fp_block(st, nb, m, len, false);
	}
}

void fp_final(struct fp_state *st, struct fp_result *out)
{
	uint64_t d1, d2;
	int i;

	if (st->word_len)
		fp_word_close(st);
	if (st->acc.npend)
		fp_flush_minhash(st, st->acc.npend);
	memset(out, 0, sizeof(*out));
	d1 = fp_fmix64(st->acc.h1 ^ st->acc.words);
	d2 = fp_fmix64(st->acc.h2 ^ st->acc.words);
	for (i = 0; i < 8; i++) {
		out->digest[i] = (uint8_t)(d1 >> (56 - 8 * i));
		out->digest[8 + i] = (uint8_t)(d2 >> (56 - 8 * i));
	}
	if (st->acc.words >= FP_SHINGLE_WORDS)
		memcpy(out->minhash, st->min, sizeof(out->minhash));
	else
		memset(out->minhash, 0xff, sizeof(out->minhash));
	out->words = st->acc.words;
	out->empty = st->acc.words == 0;
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
