/* SPDX-License-Identifier: MIT */
/* auth: tokens file parsing (errors with file:line), hashing, lookup in
 * two sets, the Authorization header, generated tokens. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "auth.h"

static const char *TOK_V = "tw_0000000000000000000000000000000000000000000000000000000000000001";
static const char *TOK_A = "tw_0000000000000000000000000000000000000000000000000000000000000002";

static char *entry(char *buf, size_t cap, const char *name, const char *role, const char *tok)
{
	uint8_t h[32];
	char hex[65];

	auth_hash(tok, strlen(tok), h);
	auth_hex(h, hex);
	snprintf(buf, cap, "  - name: %s\n    role: %s\n    sha256: %s\n", name, role, hex);
	return buf;
}

static void test_parse_and_lookup(void **state)
{
	char a[256], b[256], doc[700];
	struct auth_set s, redis = { 0 };
	struct auth_errors e;
	const struct auth_set *sets[2] = { &s, &redis };
	const struct auth_token *t;
	const char *tok;
	size_t len;

	snprintf(doc, sizeof(doc), "# comment\ntokens:\n%s%s", entry(a, sizeof(a), "noc-wall", "viewer", TOK_V),
		 entry(b, sizeof(b), "root.admin", "admin", TOK_A));
	assert_int_equal(auth_parse("t.yaml", doc, strlen(doc), &s, &e), 0);
	assert_int_equal(s.n, 2);
	assert_true(auth_bearer("Bearer tw_0000000000000000000000000000000000000000000000000000000000000001", &tok, &len));
	t = auth_lookup(sets, 2, tok, len);
	assert_non_null(t);
	assert_string_equal(t->name, "noc-wall");
	assert_int_equal(t->role, AUTH_VIEWER);
	t = auth_lookup(sets, 2, TOK_A, strlen(TOK_A));
	assert_non_null(t);
	assert_int_equal(t->role, AUTH_ADMIN);
	/* one character off, a prefix, empty: unknown */
	assert_null(auth_lookup(sets, 2, "tw_0000000000000000000000000000000000000000000000000000000000000003", 67));
	assert_null(auth_lookup(sets, 2, TOK_V, 66));
	assert_false(auth_bearer("Basic dXNlcjpwYXNz", &tok, &len));
	assert_false(auth_bearer("Bearer ", &tok, &len));
	assert_false(auth_bearer(NULL, &tok, &len));
	/* a token from Redis is found in the second set */
	redis.t = calloc(1, sizeof(*redis.t));
	redis.n = 1;
	snprintf(redis.t[0].name, sizeof(redis.t[0].name), "made-by-admin");
	redis.t[0].role = AUTH_SUPPORT;
	auth_hash("tw_x", 4, redis.t[0].hash);
	t = auth_lookup(sets, 2, "tw_x", 4);
	assert_non_null(t);
	assert_int_equal(t->role, AUTH_SUPPORT);
	auth_set_fini(&redis);
	auth_set_fini(&s);
}

static void test_errors_name_lines(void **state)
{
	const char *doc = "tokens:\n"
			  "  - name: ok\n    role: viewer\n    sha256: 0011\n"      /* line 4: short hash */
			  "  - name: bad name\n    role: boss\n"                    /* 5, 6 */
			  "    sha256: 6c30ac1c678286d2b128908861ceaf2f401490f2bdcf84516a9a47ff2898ad21\n";
	struct auth_set s;
	struct auth_errors e;
	char all[4096] = "";

	assert_int_equal(auth_parse("tok.yaml", doc, strlen(doc), &s, &e), -EINVAL);
	for (unsigned i = 0; i < e.n; i++)
		strcat(all, e.msg[i]), strcat(all, "\n");
	assert_non_null(strstr(all, "tok.yaml:4: sha256"));
	assert_non_null(strstr(all, "tok.yaml:5: name"));
	assert_non_null(strstr(all, "tok.yaml:6: role"));
	assert_null(s.t);

	doc = "tokens: [ {name: a, role: viewer, sha256: 6c30ac1c678286d2b128908861ceaf2f401490f2bdcf84516a9a47ff2898ad21},"
	      " {name: a, role: admin, sha256: 7c30ac1c678286d2b128908861ceaf2f401490f2bdcf84516a9a47ff2898ad21} ]\n";
	assert_int_equal(auth_parse("dup.yaml", doc, strlen(doc), &s, &e), -EINVAL);
	assert_non_null(strstr(e.msg[0], "used twice"));
	doc = "tokens: [ {name: a, role: viewer, sha256: 6c30ac1c678286d2b128908861ceaf2f401490f2bdcf84516a9a47ff2898ad21},"
	      " {name: b, role: admin, sha256: 6C30AC1C678286D2B128908861CEAF2F401490F2BDCF84516A9A47FF2898AD21} ]\n";
	assert_int_equal(auth_parse("samehash.yaml", doc, strlen(doc), &s, &e), -EINVAL);
	assert_non_null(strstr(e.msg[0], "same hash"));
	doc = "tokens: [ {name: a, role: viewer";
	assert_int_equal(auth_parse("syntax.yaml", doc, strlen(doc), &s, &e), -EINVAL);
	assert_non_null(strstr(e.msg[0], "YAML syntax"));
	doc = "tokns: []\n";
	assert_int_equal(auth_parse("key.yaml", doc, strlen(doc), &s, &e), -EINVAL);
	/* an empty list is valid: nobody gets in */
	doc = "tokens:\n";
	assert_int_equal(auth_parse("empty.yaml", doc, strlen(doc), &s, &e), 0);
	assert_int_equal(s.n, 0);
	auth_set_fini(&s);
}

static void test_generate(void **state)
{
	char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1];
	uint8_t h[32], back[32];
	char hex[65];

	assert_int_equal(auth_generate(a), 0);
	assert_int_equal(auth_generate(b), 0);
	assert_int_equal(strlen(a), AUTH_TOKEN_LEN);
	assert_memory_equal(a, "tw_", 3);
	assert_string_not_equal(a, b);
	/* SHA-256("abc"), FIPS 180-2 */
	auth_hash("abc", 3, h);
	auth_hex(h, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_true(auth_unhex(hex, back));
	assert_memory_equal(h, back, 32);
	assert_false(auth_unhex("zz", back));
	assert_int_equal(auth_role_parse("support"), AUTH_SUPPORT);
	assert_int_equal(auth_role_parse("root"), AUTH_NONE);
	assert_false(auth_name_valid("agent:hv1"));     /* cannot pose as an agent in the audit log */
	assert_true(auth_name_valid("noc-wall.1_a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_lookup),
		cmocka_unit_test(test_errors_name_lines),
		cmocka_unit_test(test_generate),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
