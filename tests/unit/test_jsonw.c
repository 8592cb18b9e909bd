/* SPDX-License-Identifier: MIT */
/* Unit tests for common/jsonw.c: structure, escaping, invalid UTF-8. */
#include "testutil.h"

#include <stdlib.h>

#include "jsonw.h"

static void expect(struct jsonw *w, const char *want)
{
	assert_false(w->oom);
	assert_int_equal(w->len, strlen(want));
	assert_memory_equal(w->buf, want, w->len);
}

static void test_structure(void **state __attribute__((unused)))
{
	struct jsonw w;
	jsonw_init(&w);
	jsonw_obj_begin(&w);
	jsonw_key(&w, "a");
	jsonw_int(&w, -5);
	jsonw_key(&w, "b");
	jsonw_arr_begin(&w);
	jsonw_uint(&w, 0);
	jsonw_uint(&w, 18446744073709551615ULL);
	jsonw_obj_begin(&w);
	jsonw_obj_end(&w);
	jsonw_null(&w);
	jsonw_arr_end(&w);
	jsonw_key(&w, "c");
	jsonw_bool(&w, true);
	jsonw_key(&w, "ts");
	jsonw_ts_us(&w, 1795458739290641ULL);
	jsonw_key(&w, "s");
	jsonw_cstr(&w, NULL);
	jsonw_obj_end(&w);
	expect(&w, "{\"a\":-5,\"b\":[0,18446744073709551615,{},null],\"c\":true,"
		   "\"ts\":1795458739.290641,\"s\":null}");
	jsonw_reset(&w);
	jsonw_arr_begin(&w);
	jsonw_arr_end(&w);
	expect(&w, "[]");
	jsonw_fini(&w);
}

static void test_escape(void **state __attribute__((unused)))
{
	struct jsonw w;
	jsonw_init(&w);
	const char in[] = "q\"b\\\n\r\t\x01\x7f" "\xc3\xa9" "\xe2\x82\xac" "\xf0\x9f\x98\x80";
	jsonw_str(&w, in, sizeof(in) - 1);
	expect(&w, "\"q\\\"b\\\\\\n\\r\\t\\u0001\x7f\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	jsonw_fini(&w);
}

static void test_invalid_utf8(void **state __attribute__((unused)))
{
	struct jsonw w;
	jsonw_init(&w);
	/* lone continuation, overlong, surrogate, truncated sequence, NUL */
	const char in[] = "\x80" "\xc0\xaf" "\xed\xa0\x80" "\xe2\x82" "\0";
	jsonw_str(&w, in, sizeof(in) - 1);
	expect(&w, "\"\\u0080\\u00c0\\u00af\\u00ed\\u00a0\\u0080\\u00e2\\u0082\\u0000\"");
	jsonw_fini(&w);
}

static void test_big(void **state __attribute__((unused)))
{
	struct jsonw w;
	jsonw_init(&w);
	char *big = malloc(1 << 20);
	assert_non_null(big);
	memset(big, 'x', 1 << 20);
	jsonw_str(&w, big, 1 << 20);
	assert_int_equal(w.len, (1 << 20) + 2);
	free(big);
	jsonw_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_big),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
