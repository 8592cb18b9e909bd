/* SPDX-License-Identifier: MIT */
/*
 * fingerprint: near-duplicate and exact fingerprints of message text.
 * A min-hash over word shingles (rspamd-style: FP_MINHASH_K hash functions,
 * shingles of FP_SHINGLE_WORDS words of normalised text) and an exact
 * digest (XXH3-128) of the normalised text.  Streaming: text arrives in
 * pieces, memory is constant.  Pure code (agent process, parser side).
 *
 * Normalisation: words are maximal runs of letters/digits (ASCII and any
 * UTF-8 multi-byte sequence), ASCII folded to lower case, every digit
 * mapped to '0' (order numbers and tracking ids must not make two copies of
 * one template differ); words longer than 64 bytes are cut.
 */
#ifndef TAPWARDEN_FINGERPRINT_H
#define TAPWARDEN_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FP_MINHASH_K 32
#define FP_SHINGLE_WORDS 3
#define FP_MAX_WORD 64

struct fp_result {
	uint32_t minhash[FP_MINHASH_K];  /* all 0xffffffff when fewer than FP_SHINGLE_WORDS words */
	uint8_t digest[16];              /* XXH3-128 of the normalised word sequence */
	uint64_t words;
	bool empty;                      /* no words at all */
};

struct fp_state {
	/* private */
	uint64_t window[FP_SHINGLE_WORDS];
	uint32_t window_fill;
	uint32_t min[FP_MINHASH_K];
	char word[FP_MAX_WORD];
	uint32_t word_len;
	uint32_t utf8_pending;   /* continuation bytes still expected */
	uint64_t words;
	void *xxh;               /* XXH3 state, owned */
};

/* 0 or -ENOMEM. */
int fp_init(struct fp_state *st);
/* Feed decoded text (borrowed).  Word boundaries across calls are handled. */
void fp_feed(struct fp_state *st, const char *text, size_t len);
/* Finish into *out; st is then reset for reuse. */
void fp_final(struct fp_state *st, struct fp_result *out);
void fp_fini(struct fp_state *st);

/* Estimated Jaccard similarity of two fingerprints' shingle sets, 0..1. */
double fp_similarity(const struct fp_result *a, const struct fp_result *b);

/* Lower-case hex: digest 32 chars + NUL; minhash FP_MINHASH_K*8 chars + NUL. */
void fp_digest_hex(const struct fp_result *r, char out[33]);
void fp_minhash_hex(const struct fp_result *r, char out[FP_MINHASH_K * 8 + 1]);

#endif
