/* SPDX-License-Identifier: MIT */
/* policy: the shipped files load; every error is reported as file:line. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "policy.h"

static struct policy p;
static struct policy_errors e;

static int load(const char *y)
{
	return policy_load_buffer("t.yaml", y, strlen(y), &p, &e);
}

static bool has_error(const char *needle)
{
	for (uint32_t i = 0; i < e.n && i < POLICY_MAX_ERRORS; i++)
		if (strstr(e.msg[i], needle))
			return true;
	return false;
}

static void test_default_policy(void **state)
{
	assert_int_equal(policy_load_file("policies/default.yaml", &p, &e), 0);
	assert_false(p.observe_only);
	assert_int_equal(p.n_ladder, 4);
	assert_int_equal(p.ladder[0], 3600);
	assert_int_equal(p.ladder[1], 86400);
	assert_int_equal(p.ladder[2], 7 * 86400);
	assert_int_equal(p.ladder[3], POLICY_MANUAL);
	assert_true(policy_rule_index(&p, "burst-volume-10m") >= 0);
	const struct policy_plan *d = policy_plan_find(&p, "dedicated");
	assert_non_null(d);
	assert_true(d->disabled >> policy_rule_index(&p, "repeated-content") & 1);
	assert_int_equal(p.wl_mode, PWL_ALERT);
}

static void test_minimal_and_conditions(void **state)
{
	assert_int_equal(load("rules:\n  - name: r\n    action: block\n    duration: 2h\n"
			      "    any: [\"messages_10m >= 100\", \"spike_messages_10m > 3.5\"]\n"), 0);
	assert_int_equal(p.n_rules, 1);
	assert_true(p.rules[0].any);
	assert_int_equal(p.rules[0].duration_s, 7200);
	assert_int_equal(p.rules[0].conds[0].metric, PM_MESSAGES);
	assert_int_equal(p.rules[0].conds[0].window, PW_10M);
	assert_int_equal(p.rules[0].conds[1].op, PO_GT);
	assert_true(p.rules[0].conds[1].threshold == 3.5);
}

static void test_every_error_with_line(void **state)
{
	const char *y =
		"version: 1\n"                               /* 1 */
		"observe_only: maybe\n"                      /* 2 */
		"colour: blue\n"                             /* 3 */
		"rules:\n"                                   /* 4 */
		"  - name: a\n"                              /* 5 */
		"    action: nuke\n"                         /* 6 */
		"    all: [\"messages_2m >= 1\"]\n"          /* 7 */
		"  - name: a\n"                              /* 8 */
		"    action: alert\n"                        /* 9 */
		"    duration: 1h\n"                         /* 10 */
		"    all: [\"spike_messages_1m >= 2\", \"sessions_1h => 3\"]\n" /* 11 */
		"escalation:\n"                              /* 12 */
		"  ladder: [1h, manual, 7d]\n"               /* 13 */
		"plans:\n"                                   /* 14 */
		"  small:\n"                                 /* 15 */
		"    scale: -1\n"                            /* 16 */
		"    disable: [nope]\n"                      /* 17 */
		"whitelisted:\n"                             /* 18 */
		"  mode: block\n";                           /* 19 */
	assert_int_equal(load(y), -EINVAL);
	assert_true(has_error("t.yaml:2: observe_only"));
	assert_true(has_error("t.yaml:3: unknown key \"colour\""));
	assert_true(has_error("t.yaml:6: action"));
	assert_true(has_error("t.yaml:7: condition: unknown statistic"));
	assert_true(has_error("t.yaml:8: rule a: defined twice"));
	assert_true(has_error("t.yaml:8: rule a: duration applies to block rules only"));
	assert_true(has_error("t.yaml:11: condition: spike_messages exists for the 10m window only"));
	assert_true(has_error("t.yaml:11: condition: unknown operator"));
	assert_true(has_error("t.yaml:13: escalation.ladder: nothing may follow manual"));
	assert_true(has_error("t.yaml:16: scale"));
	assert_true(has_error("t.yaml:17: disable: no rule named \"nope\""));
	assert_true(has_error("t.yaml:19: whitelisted.mode"));
	assert_true(e.n >= 12);
}

static void test_syntax_error(void **state)
{
	assert_int_equal(load("rules:\n  - name: [unclosed\n"), -EINVAL);
	assert_int_equal(e.n, 1);
	assert_true(has_error("YAML syntax"));
	assert_int_equal(load(""), -EINVAL);
	assert_int_equal(load("- a\n- b\n"), -EINVAL);
	assert_int_equal(load("version: 1\n"), -EINVAL);
	assert_true(has_error("no rules"));
}

static void test_durations(void **state)
{
	uint32_t d;
	assert_true(policy_parse_duration("90", &d) && d == 90);
	assert_true(policy_parse_duration("10m", &d) && d == 600);
	assert_true(policy_parse_duration("7d", &d) && d == 7 * 86400);
	assert_false(policy_parse_duration("366d", &d));
	assert_false(policy_parse_duration("1w", &d));
	assert_false(policy_parse_duration("-1h", &d));
	assert_false(policy_parse_duration("99999999999999999999h", &d));
}

static void test_replies_errors(void **state)
{
	static struct reply_patterns rp;
	const char *y = "patterns:\n"
			"  - class: spam\n"            /* 2 */
			"    match: x\n"
			"  - class: blocklist\n"       /* 4 */
			"    code: 6xx\n"              /* 5 */
			"  - class: rate_limit\n"
			"    list: foo\n"
			"    enhanced: \"4.x\"\n"      /* 8 */
			"    match: [\"\"]\n";         /* 9 */
	assert_int_equal(policy_load_replies_buffer("r.yaml", y, strlen(y), &rp, &e), -EINVAL);
	assert_true(has_error("r.yaml:2: class"));
	assert_true(has_error("r.yaml:5: code"));
	assert_true(has_error("r.yaml:4: pattern: match or enhanced is required"));
	assert_true(has_error("r.yaml:8: enhanced"));
	assert_true(has_error("r.yaml:9: match"));
	assert_true(has_error("list applies to class blocklist only"));
	assert_int_equal(policy_load_replies_file("policies/replies.yaml", &rp, &e), 0);
	assert_true(rp.n >= 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_policy),
		cmocka_unit_test(test_minimal_and_conditions),
		cmocka_unit_test(test_every_error_with_line),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_replies_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
