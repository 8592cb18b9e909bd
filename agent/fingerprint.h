/* SPDX-License-Identifier: MIT */
/*
 * fingerprint: near-duplicate and exact fingerprints of message text.
 * A min-hash over word shingles (rspamd-style: FP_MINHASH_K hash functions,
 * shingles of FP_SHINGLE_WORDS words of normalised text) and an exact
 * digest of the normalised word sequence.  Streaming: text arrives in
 * pieces, memory is constant (struct fp_state, no allocation).  Pure code
 * (agent process, parser side).
 *
 * Normalisation: words are maximal runs of letters/digits (ASCII and any
 * byte >= 0x80, i.e. UTF-8 multi-byte sequences), ASCII folded to lower
 * case, every digit mapped to '0' (order numbers and tracking ids must not
 * make two copies of one template differ); words longer than FP_MAX_WORD
 * bytes are cut there, minus a UTF-8 sequence the cut left incomplete.
 *
 * Definition (stored fingerprints depend on every constant here; the unit
 * test pins it with a plain reference implementation).  rotl is a 64-bit
 * left rotation, all arithmetic is mod 2^64, and
 *   P1 = 0x9e3779b185ebca87  P2 = 0xc2b2ae3d27d4eb4f  P5 = 0x27d4eb2f165667c5
 *   fmix64(x): x ^= x >> 33; x *= 0xff51afd7ed558ccd; x ^= x >> 33;
 *              x *= 0xc4ceb9fe1a85ec53; x ^= x >> 33  (murmur3's finaliser)
 * - Word hash.  A normalised word b[0..n) (1 <= n <= FP_MAX_WORD) is read
 *   as k = ceil(n / 8) 8-byte little-endian chunks c0 .. c(k-1) (zero
 *   bytes past n);  v = (P5 + n) ^ c0;  then v = rotl(v * P1, 31) ^ cj for
 *   j = 1 .. k-1;  x = v * P2;  word hash w = x ^ (x >> 32).
 * - Shingle hash of three consecutive words with hashes a, b, c (in text
 *   order):  s = fmix64(rotl(a, 42) ^ rotl(b, 21) ^ c).
 * - Min-hash: minhash[i] = min over all shingles of
 *   (uint32_t)((A[i] * s + B[i]) >> 32) with the fixed odd A[i] and
 *   offsets B[i] of fingerprint.c; all 0xffffffff for fewer than
 *   FP_SHINGLE_WORDS words.
 * - Digest: two states, h1 = 0x85ebca77c2b2ae63 and h2 = 0x165667b19e3779f9,
 *   take each word hash w in text order:
 *     h1 = rotl((h1 ^ w) * P1, 31);   h2 = rotl((h2 ^ w) * P2, 29);
 *   with N words in all, digest = big-endian fmix64(h1 ^ N) followed by
 *   big-endian fmix64(h2 ^ N) (16 bytes).
 */
#ifndef TAPWARDEN_FINGERPRINT_H
#define TAPWARDEN_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FP_MINHASH_K 32
#define FP_SHINGLE_WORDS 3
#define FP_MAX_WORD 64
#define FP_SH_BATCH 8        /* shingles folded into the minima at once */

struct fp_result {
	uint32_t minhash[FP_MINHASH_K];  /* all 0xffffffff when fewer than FP_SHINGLE_WORDS words */
	uint8_t digest[16];              /* exact digest of the normalised word sequence */
	uint64_t words;
	bool empty;                      /* no words at all */
};

struct fp_acc {                          /* private: the per-word state */
	uint64_t h1, h2;                     /* digest states */
	uint64_t prev[FP_SHINGLE_WORDS - 1]; /* hashes of the last words, oldest first */
	uint64_t words;
	uint32_t npend;                      /* shingle hashes in fp_state.pend */
};

struct fp_state {
	/* private */
	struct fp_acc acc;
	uint64_t pend[FP_SH_BATCH];          /* shingle hashes not yet in min[] */
	uint32_t min[FP_MINHASH_K];
	uint32_t word_len;                   /* the open word; FP_MAX_WORD + 1: cut */
	uint8_t word[FP_MAX_WORD];
};

/* Always 0 (the state needs no allocation; kept fallible for callers). */
int fp_init(struct fp_state *st);
/* Feed decoded text (borrowed).  Word boundaries across calls are handled. */
void fp_feed(struct fp_state *st, const char *text, size_t len);
/* Finish into *out; st is then reset for reuse. */
void fp_final(struct fp_state *st, struct fp_result *out);
/* The state owns no memory: nothing to release (harmless twice). */
void fp_fini(struct fp_state *st);

/* Estimated Jaccard similarity of two fingerprints' shingle sets, 0..1. */
double fp_similarity(const struct fp_result *a, const struct fp_result *b);

/* Lower-case hex: digest 32 chars + NUL; minhash FP_MINHASH_K*8 chars + NUL. */
void fp_digest_hex(const struct fp_result *r, char out[33]);
void fp_minhash_hex(const struct fp_result *r, char out[FP_MINHASH_K * 8 + 1]);

#endif
