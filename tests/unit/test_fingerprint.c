/* SPDX-License-Identifier: MIT */
/* Unit tests of fingerprint.c: normalisation, min-hash similarity, the
 * exact digest and split-feeding invariance. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#include "fingerprint.h"

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
		cmocka_unit_test(test_reuse_after_final),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
