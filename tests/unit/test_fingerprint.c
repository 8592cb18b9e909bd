/* SPDX-License-Identifier: MIT */
/* Unit tests of fingerprint.c: normalisation, min-hash similarity, the
 * exact digest and split-feeding invariance. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#include "fingerprint.h"

/* The published algorithm, written plainly: pins the constants (stored
 * fingerprints depend on them) and checks the batched/SIMD code. */
static const uint64_t ref_mul[FP_MINHASH_K] = {
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
static const uint64_t ref_add[FP_MINHASH_K] = {
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

static uint64_t ref_rotl(uint64_t x, unsigned r)
{
	return (x << r) | (x >> (64 - r));
}

static uint64_t ref_fmix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

#define REF_P1 0x9e3779b185ebca87ULL
#define REF_P2 0xc2b2ae3d27d4eb4fULL
#define REF_P5 0x27d4eb2f165667c5ULL

/* The word hash as fingerprint.h defines it, one byte at a time. */
static uint64_t ref_word_hash(const char *w, size_t n)
{
	uint64_t v = 0, c;
	size_t j, b;

	for (j = 0; j * 8 < n; j++) {
		for (c = 0, b = 0; b < 8 && j * 8 + b < n; b++)
			c |= (uint64_t)(unsigned char)w[j * 8 + b] << (8 * b);
		v = j == 0 ? (REF_P5 + n) ^ c : ref_rotl(v * REF_P1, 31) ^ c;
	}
	v *= REF_P2;
	return v ^ (v >> 32);
}

/* Min-hash and digest of plain text t as fingerprint.h defines them. */
static void ref_fingerprint(const char *t, uint32_t out[FP_MINHASH_K], uint64_t *nwords,
			    uint8_t digest[16])
{
	uint64_t wh[3] = { 0, 0, 0 };
	uint64_t h1 = 0x85ebca77c2b2ae63ULL, h2 = 0x165667b19e3779f9ULL, d1, d2;
	size_t i = 0, n = strlen(t);
	int k;

	memset(out, 0xff, FP_MINHASH_K * sizeof(uint32_t));
	*nwords = 0;
	while (i < n) {
		char w[FP_MAX_WORD];
		size_t wl = 0;
		uint64_t h;

		while (i < n && !((unsigned char)t[i] >= 0x80 || (t[i] >= 'a' && t[i] <= 'z') ||
				  (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= '0' && t[i] <= '9')))
			i++;
		if (i >= n)
			break;
		while (i < n && ((unsigned char)t[i] >= 0x80 || (t[i] >= 'a' && t[i] <= 'z') ||
				 (t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= '0' && t[i] <= '9'))) {
			char c = t[i++];

			if (c >= 'A' && c <= 'Z')
				c = (char)(c + 32);
			if (c >= '0' && c <= '9')
				c = '0';
			assert_true(wl < FP_MAX_WORD);
			w[wl++] = c;
		}
		wh[0] = wh[1];
		wh[1] = wh[2];
		wh[2] = ref_word_hash(w, wl);
		h1 = ref_rotl((h1 ^ wh[2]) * REF_P1, 31);
		h2 = ref_rotl((h2 ^ wh[2]) * REF_P2, 29);
		if (++*nwords < 3)
			continue;
		h = ref_fmix64(ref_rotl(wh[0], 42) ^ ref_rotl(wh[1], 21) ^ wh[2]);
		for (k = 0; k < FP_MINHASH_K; k++) {
			uint32_t v = (uint32_t)((ref_mul[k] * h + ref_add[k]) >> 32);

			if (v < out[k])
				out[k] = v;
		}
	}
	d1 = ref_fmix64(h1 ^ *nwords);
	d2 = ref_fmix64(h2 ^ *nwords);
	for (k = 0; k < 8; k++) {
		digest[k] = (uint8_t)(d1 >> (56 - 8 * k));
		digest[8 + k] = (uint8_t)(d2 >> (56 - 8 * k));
	}
}

static const char *const vocab[] = {
	"account", "offer", "limited", "time", "click", "here", "free", "money",
	"please", "verify", "your", "details", "today", "bank", "transfer", "winner",
	"meeting", "tomorrow", "project", "report", "attached", "budget", "review",
	"thanks", "regards", "schedule", "invoice", "payment", "delivery", "order",
	"customer", "service", "update", "password", "security", "notice", "friend",
	"family", "holiday", "weather", "garden", "kitchen", "recipe", "football",
	"music", "concert", "ticket", "travel", "hotel", "flight", "airport", "coffee",
	"morning", "evening", "weekend", "market", "price", "discount", "sale", "shop",
	"river", "mountain", "forest", "ocean", "island", "village", "city", "street",
};
#define NVOCAB (sizeof(vocab) / sizeof(vocab[0]))

static uint32_t rng(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* n pseudo-random words from vocab into buf (NUL-terminated). */
static void make_text(char *buf, size_t cap, uint32_t seed, int n)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		const char *w = vocab[rng(&seed) % NVOCAB];
		int k = snprintf(buf + off, cap - off, "%s%s", i ? (i % 12 ? " " : ".\n") : "", w);

		assert_true(k > 0 && (size_t)k < cap - off);
		off += (size_t)k;
	}
}

static void fp_text(const char *t, struct fp_result *r)
{
	struct fp_state st;

	assert_int_equal(fp_init(&st), 0);
	fp_feed(&st, t, strlen(t));
	fp_final(&st, r);
	fp_fini(&st);
}

static void test_identical(void **state)
{
	char a[8192];
	struct fp_result r1, r2;

	(void)state;
	make_text(a, sizeof(a), 1, 300);
	fp_text(a, &r1);
	fp_text(a, &r2);
	assert_true(fp_similarity(&r1, &r2) == 1.0);
	assert_memory_equal(r1.digest, r2.digest, 16);
	assert_int_equal(r1.words, 300);
	assert_false(r1.empty);
}

static void test_normalisation(void **state)
{
	struct fp_result r1, r2, r3;

	(void)state;
	fp_text("Your order #12345 of 19.99 EUR ships on 2024-01-05, Mr Smith!", &r1);
	fp_text("your ORDER 98761 of 20.00 eur ships on 1999-12-31 mr  smith", &r2);
	assert_memory_equal(r1.digest, r2.digest, 16);
	assert_memory_equal(r1.minhash, r2.minhash, sizeof(r1.minhash));
	assert_true(fp_similarity(&r1, &r2) == 1.0);
	/* a different word order differs */
	fp_text("order your 12345 of 19.99 EUR ships on 2024-01-05, Mr Smith!", &r3);
	assert_memory_not_equal(r1.digest, r3.digest, 16);
}

static void test_template_numbers(void **state)
{
	char a[8192], b[8192];
	struct fp_result r1, r2;

	(void)state;
	snprintf(a, sizeof(a), "Dear customer 4711, your parcel 99812377 arrives on 12/03. "
		 "Track it with code 7781-2231 at our site. Amount due: 3.50 EUR. %s",
		 "Thank you for shopping with us, we hope to see you again soon.");
	snprintf(b, sizeof(b), "Dear customer 1234, your parcel 10000001 arrives on 31/12. "
		 "Track it with code 0000-9999 at our site. Amount due: 8.25 EUR. %s",
		 "Thank you for shopping with us, we hope to see you again soon.");
	fp_text(a, &r1);
	fp_text(b, &r2);
	assert_memory_equal(r1.digest, r2.digest, 16);
	assert_true(fp_similarity(&r1, &r2) == 1.0);
}

static void test_ten_percent_changed(void **state)
{
	char a[16384], b[16384];
	const char *w[400], *w2[400];
	size_t off;
	uint32_t seed = 7;
	struct fp_result r1, r2;
	int i, j;
	double sim;

	(void)state;
	for (i = 0; i < 400; i++)
		w[i] = w2[i] = vocab[rng(&seed) % NVOCAB];
	/* change 40 of 400 words: ten edits of four adjacent words */
	for (i = 0; i < 10; i++)
		for (j = 0; j < 4; j++)
			w2[i * 40 + 17 + j] = "CHANGED";
	for (off = 0, i = 0; i < 400; i++)
		off += (size_t)snprintf(a + off, sizeof(a) - off, "%s ", w[i]);
	for (off = 0, i = 0; i < 400; i++)
		off += (size_t)snprintf(b + off, sizeof(b) - off, "%s ", w2[i]);
	fp_text(a, &r1);
	fp_text(b, &r2);
	sim = fp_similarity(&r1, &r2);
	assert_true(sim > 0.5);
	assert_true(sim < 1.0);
	assert_memory_not_equal(r1.digest, r2.digest, 16);

	/* scattered: every tenth word changed */
	for (i = 0; i < 400; i++)
		w2[i] = (i % 10 == 5) ? vocab[(i * 7) % NVOCAB] : w[i];
	for (off = 0, i = 0; i < 400; i++)
		off += (size_t)snprintf(b + off, sizeof(b) - off, "%s ", w2[i]);
	fp_text(b, &r2);
	sim = fp_similarity(&r1, &r2);
	assert_true(sim > 0.35);   /* expected Jaccard 0.54: each change hits 3 shingles */
}

static void test_unrelated(void **state)
{
	char a[8192], b[8192];
	struct fp_result r1, r2;
	double sim;

	(void)state;
	make_text(a, sizeof(a), 11, 300);
	make_text(b, sizeof(b), 99, 300);
	fp_text(a, &r1);
	fp_text(b, &r2);
	sim = fp_similarity(&r1, &r2);
	assert_true(sim < 0.1);
}

static void test_split_feed(void **state)
{
	char a[8192];
	struct fp_result whole, part;
	struct fp_state st;
	size_t len, i, step;

	(void)state;
	make_text(a, sizeof(a), 5, 200);
	len = strlen(a);
	fp_text(a, &whole);
	assert_int_equal(fp_init(&st), 0);
	for (step = 1; step < 40; step += 3) {
		for (i = 0; i < len; i += step)
			fp_feed(&st, a + i, len - i < step ? len - i : step);
		fp_final(&st, &part);   /* also resets st for the next round */
		assert_memory_equal(whole.digest, part.digest, 16);
		assert_memory_equal(whole.minhash, part.minhash, sizeof(whole.minhash));
		assert_int_equal(whole.words, part.words);
	}

	/* words across 64-byte blocks, cut words, UTF-8 cut at the limit */
	memset(a, 0, sizeof(a));
	for (i = 0; i < 40; i++) {
		size_t off = strlen(a);

		memset(a + off, 'a' + (int)(i % 26), 20 + (i * 13) % 90);
		if (i % 3 == 0)
			memcpy(a + off + 63, "\xc3\xa9", 2);
		strcat(a, i % 5 ? " " : ",\r\n");
	}
	len = strlen(a);
	fp_text(a, &whole);
	for (step = 1; step < 140; step += 7) {
		for (i = 0; i < len; i += step)
			fp_feed(&st, a + i, len - i < step ? len - i : step);
		fp_final(&st, &part);
		assert_memory_equal(whole.digest, part.digest, 16);
		assert_memory_equal(whole.minhash, part.minhash, sizeof(whole.minhash));
		assert_int_equal(whole.words, part.words);
	}
	assert_int_equal(whole.words, 40);
	fp_fini(&st);
}

static void test_short_and_empty(void **state)
{
	struct fp_result e1, e2, s1, s2, s3;
	char hex[FP_MINHASH_K * 8 + 1], dhex[33];

	(void)state;
	fp_text("", &e1);
	fp_text("  ,.;  \r\n", &e2);
	assert_true(e1.empty);
	assert_true(e2.empty);
	assert_int_equal(e1.words, 0);
	assert_memory_equal(e1.digest, e2.digest, 16);
	assert_true(fp_similarity(&e1, &e2) == 1.0);
	fp_minhash_hex(&e1, hex);
	assert_int_equal(strlen(hex), FP_MINHASH_K * 8);
	assert_int_equal(strspn(hex, "f"), FP_MINHASH_K * 8);

	fp_text("hello world", &s1);
	fp_text("Hello,  WORLD", &s2);
	fp_text("hello there", &s3);
	assert_false(s1.empty);
	assert_int_equal(s1.words, 2);
	assert_true(fp_similarity(&s1, &s2) == 1.0);
	assert_true(fp_similarity(&s1, &s3) == 0.0);
	assert_true(fp_similarity(&s1, &e1) == 0.0);
	fp_digest_hex(&s1, dhex);
	assert_int_equal(strlen(dhex), 32);
	assert_int_equal(strspn(dhex, "0123456789abcdef"), 32);
}

static void test_long_words_and_utf8(void **state)
{
	char a[512], b[512];
	struct fp_result r1, r2, r3;
	size_t n;

	(void)state;
	/* words longer than FP_MAX_WORD are cut: differences past 64 bytes vanish */
	memset(a, 'x', 100);
	memcpy(a + 100, "Y tail end here", 16);
	memset(b, 'x', 100);
	memcpy(b + 100, "Z tail end here", 16);
	fp_text(a, &r1);
	fp_text(b, &r2);
	assert_memory_equal(r1.digest, r2.digest, 16);
	assert_int_equal(r1.words, 4);

	/* a cut inside a UTF-8 sequence drops the incomplete character */
	memset(a, 'a', 63);
	memcpy(a + 63, "\xc3\xa9" "bbb rest of it", 17);
	memset(b, 'a', 63);
	memcpy(b + 63, "\xc3\xa8" "ccc rest of it", 17);
	fp_text(a, &r1);
	fp_text(b, &r2);
	assert_memory_equal(r1.digest, r2.digest, 16);

	/* multi-byte characters are word characters */
	fp_text("caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9", &r1);
	fp_text("caf na ve r sum", &r3);
	assert_int_equal(r1.words, 3);
	assert_int_equal(r3.words, 5);
	n = strlen("x");
	assert_int_equal(n, 1);
}

static void test_reference(void **state)
{
	char a[16384];
	uint32_t ref[FP_MINHASH_K];
	uint8_t dref[16];
	uint64_t nw;
	struct fp_result r;
	char hex[33];
	int n;

	(void)state;
	for (n = 0; n < 400; n += 37) {
		make_text(a, sizeof(a), (uint32_t)n, n);
		ref_fingerprint(a, ref, &nw, dref);
		fp_text(a, &r);
		assert_int_equal(r.words, nw);
		assert_memory_equal(r.minhash, ref, sizeof(ref));
		assert_memory_equal(r.digest, dref, sizeof(dref));
	}
	fp_text("Gr\xc3\xbc\xc3\x9f" "e 12 UND 345 hallo Welt", &r);
	ref_fingerprint("gr\xc3\xbc\xc3\x9f" "e 00 und 000 hallo welt", ref, &nw, dref);
	assert_memory_equal(r.minhash, ref, sizeof(ref));
	assert_memory_equal(r.digest, dref, sizeof(dref));
	/* words of 8, 9, 16, 17 and 64 bytes: every chunk path of the word hash */
	snprintf(a, sizeof(a), "abcdefgh abcdefghi abcdefghijklmnop abcdefghijklmnopq %s x",
		 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl");
	ref_fingerprint(a, ref, &nw, dref);
	fp_text(a, &r);
	assert_int_equal(r.words, 6);
	assert_memory_equal(r.minhash, ref, sizeof(ref));
	assert_memory_equal(r.digest, dref, sizeof(dref));
	/* pinned values: a changed constant shows here, not only in stored data */
	fp_text("Hello, world: the quick brown fox 42", &r);
	fp_digest_hex(&r, hex);
	assert_string_equal(hex, "861df2fde1df3a8b8f634f87e2171569");
	assert_int_equal(r.minhash[0], 0x15749617);
}

static void test_reuse_after_final(void **state)
{
	struct fp_state st;
	struct fp_result r1, r2, r3;

	(void)state;
	assert_int_equal(fp_init(&st), 0);
	fp_feed(&st, "one two three four", 18);
	fp_final(&st, &r1);
	fp_feed(&st, "one two three four", 18);
	fp_final(&st, &r2);
	fp_final(&st, &r3);
	fp_fini(&st);
	fp_fini(&st);   /* twice is harmless */
	assert_memory_equal(&r1, &r2, sizeof(r1));
	assert_true(r3.empty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identical),
		cmocka_unit_test(test_normalisation),
		cmocka_unit_test(test_template_numbers),
		cmocka_unit_test(test_ten_percent_changed),
		cmocka_unit_test(test_unrelated),
		cmocka_unit_test(test_split_feed),
		cmocka_unit_test(test_short_and_empty),
		cmocka_unit_test(test_long_words_and_utf8),
		cmocka_unit_test(test_reference),
		cmocka_unit_test(test_reuse_after_final),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
