/* SPDX-License-Identifier: MIT */
/* Unit tests of agent/whitelist.c: the local whitelist file. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "whitelist.h"

#define U1 "aaaaaaaa-1111-4000-8000-00000000000a"
#define U2 "bbbbbbbb-1111-4000-8000-00000000000b"
#define U3 "cccccccc-1111-4000-8000-00000000000c"

static int parse(const char *text, struct whitelist *w, struct policy_errors *e)
{
	return whitelist_parse("wl", text, strlen(text), w, e);
}

static void test_entries_and_expiry(void **state)
{
	struct whitelist w;
	struct policy_errors e;
	const char *text =
		"# approved bulk senders\n"
		"\n"
		U1 "   # ticket 4711, newsletter\n"
		"BBBBBBBB-1111-4000-8000-00000000000B until 2000000000\r\n"
		"\t" U3 " until 1000 # expired long ago\n"
		U3 " until 1500\n";   /* the later expiry wins */

	(void)state;
	assert_int_equal(parse(text, &w, &e), 0);
	assert_int_equal(w.n, 3);
	assert_true(whitelist_contains(&w, U1, 1));
	assert_true(whitelist_contains(&w, U1, 4000000000u));
	assert_true(whitelist_contains(&w, U2, 1999999999));   /* stored lower case */
	assert_true(whitelist_contains(&w, "BBBBBBBB-1111-4000-8000-00000000000b", 1));
	assert_false(whitelist_contains(&w, U2, 2000000000));  /* from that second on */
	assert_true(whitelist_contains(&w, U3, 1499));
	assert_false(whitelist_contains(&w, U3, 1500));
	assert_false(whitelist_contains(&w, "dddddddd-1111-4000-8000-00000000000d", 1));
	assert_false(whitelist_contains(&w, "not-a-uuid", 1));
	assert_false(whitelist_contains(NULL, U1, 1));
	whitelist_fini(&w);
	assert_int_equal(w.n, 0);

	/* no expiry beats any expiry, whatever the order */
	assert_int_equal(parse(U1 " until 100\n" U1 "\n", &w, &e), 0);
	assert_int_equal(w.n, 1);
	assert_true(whitelist_contains(&w, U1, 5000));
	whitelist_fini(&w);
	assert_int_equal(parse("", &w, &e), 0);
	assert_int_equal(w.n, 0);
	assert_false(whitelist_contains(&w, U1, 1));
	whitelist_fini(&w);
}

/* "scale N": raised limits, not an exemption; merging and duplicates */
static void test_scale_and_merge(void **state)
{
	struct whitelist a, b, m;
	struct policy_errors e;

	(void)state;
	assert_int_equal(parse(U1 " scale 5\n" U2 " until 100 scale 2\n", &a, &e), 0);
	assert_false(whitelist_contains(&a, U1, 1));
	assert_true(whitelist_scale(&a, U1, 1) == 5.0);
	assert_true(whitelist_scale(&a, U2, 99) == 2.0);
	assert_true(whitelist_scale(&a, U2, 100) == 0.0);
	assert_int_equal(parse(U1 "\n" U3 " scale 3\n", &b, &e), 0);
	assert_int_equal(whitelist_merge(&a, &b, &m), 0);
	assert_int_equal(m.n, 3);
	/* a full exemption beats raised limits for the same VM */
	assert_true(whitelist_contains(&m, U1, 1));
	assert_true(whitelist_scale(&m, U1, 1) == 0.0);
	assert_true(whitelist_scale(&m, U3, 1) == 3.0);
	whitelist_fini(&m);
	assert_int_equal(whitelist_merge(&a, NULL, &m), 0);
	assert_int_equal(m.n, 2);
	whitelist_fini(&m);
	whitelist_fini(&a);
	whitelist_fini(&b);
	assert_int_equal(parse(U1 " scale 0.5\n" U2 " scale\n" U3 " scale x\n", &a, &e), -EINVAL);
	assert_int_equal(e.n, 3);
	assert_non_null(strstr(e.msg[0], "scale"));
}

static void test_errors_name_every_line(void **state)
{
	struct whitelist w;
	struct policy_errors e;
	const char *text =
		U1 "\n"
		"aaaaaaaa-1111-4000-8000-00000000000\n"          /* short */
		U2 " until\n"
		U2 " until -5\n"
		U2 " until 12x\n"
		U3 " forever\n"
		U3 " until 5 extra\n"
		"zzzzzzzz-1111-4000-8000-00000000000a\n";

	(void)state;
	assert_int_equal(parse(text, &w, &e), -EINVAL);
	assert_int_equal(w.n, 0);
	assert_null(w.e);
	assert_int_equal(e.n, 7);
	assert_non_null(strstr(e.msg[0], "wl:2: "));
	assert_non_null(strstr(e.msg[0], "not a domain UUID"));
	assert_non_null(strstr(e.msg[1], "wl:3: "));
	assert_non_null(strstr(e.msg[2], "wl:4: "));
	assert_non_null(strstr(e.msg[3], "wl:5: "));
	assert_non_null(strstr(e.msg[4], "wl:6: "));
	assert_non_null(strstr(e.msg[5], "wl:7: unexpected"));
	assert_non_null(strstr(e.msg[6], "wl:8: "));

	/* the buffer is not a C string: errors quote only what is there
	 * (under ASan, a read past the end fails this test) */
	char *raw = malloc(6);
	assert_non_null(raw);
	memcpy(raw, "x-uuid", 6);
	assert_int_equal(whitelist_parse("wl", raw, 6, &w, &e), -EINVAL);
	assert_non_null(strstr(e.msg[0], "\"x-uuid\" is not"));
	memcpy(raw, U1, 6);
	free(raw);
	raw = malloc(36 + 10);
	memcpy(raw, U1 " until 5 x", 46);
	assert_int_equal(whitelist_parse("wl", raw, 46, &w, &e), -EINVAL);
	assert_non_null(strstr(e.msg[0], "unexpected \"x\""));
	free(raw);

	/* a NUL byte inside a line */
	static const char nul[] = U1 "\0x\n";
	assert_int_equal(whitelist_parse("wl", nul, sizeof(nul) - 1, &w, &e), -EINVAL);
	assert_non_null(strstr(e.msg[0], "wl:1: NUL"));
}

static void test_file(void **state)
{
	struct whitelist w;
	struct policy_errors e;
	char path[] = "/tmp/tw-wl-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fprintf(f, "%s\n%s until 3000000000\n", U1, U2);
	fclose(f);
	assert_int_equal(whitelist_load_file(path, &w, &e), 0);
	assert_int_equal(w.n, 2);
	assert_true(whitelist_contains(&w, U2, 1));
	whitelist_fini(&w);
	unlink(path);
	assert_int_equal(whitelist_load_file(path, &w, &e), -ENOENT);
	assert_non_null(strstr(e.msg[0], "cannot open"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries_and_expiry),
		cmocka_unit_test(test_errors_name_every_line),
		cmocka_unit_test(test_scale_and_merge),
		cmocka_unit_test(test_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
