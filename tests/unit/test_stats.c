/* SPDX-License-Identifier: MIT */
/* stats: sliding windows, distinct sketches, heavy hitters, baselines,
 * sample scrubbing. */
#include "testutil.h"

#include <stdlib.h>

#include "stats.h"

static const double floors[3] = { 20, 20, 40 };
#define T0 1800000000ULL   /* a 10-minute boundary */

static void obs_at(struct stats_obs *o, uint64_t s, uint32_t msgs, uint8_t dst_last)
{
	memset(o, 0, sizeof(*o));
	o->ts_us = s * 1000000;
	o->smtp = true;
	o->family = 4;
	o->dst[0] = 198; o->dst[1] = 18; o->dst[2] = dst_last; o->dst[3] = dst_last;
	o->n_msgs = msgs;
	o->rcpts = msgs;
	for (uint32_t i = 0; i < msgs && i < STATS_OBS_MAX_MSGS; i++) {
		o->msg[i].digest = 42;
		o->msg[i].subject = stats_subject_key("Invoice #1");
	}
}

static void test_windows_slide(void **state)
{
	struct stats_vm *vm = malloc(sizeof(*vm));
	struct stats_obs *o = malloc(sizeof(*o));
	struct stats_snapshot s;

	stats_vm_init(vm);
	for (uint64_t t = 0; t < 120; t++) {    /* one message per second for 2 min */
		obs_at(o, T0 + t, 1, 1);
		stats_vm_observe(vm, o, 86400);
	}
	stats_vm_snapshot(vm, T0 + 119, 86400, floors, &s);
	assert_true(s.v[PM_MESSAGES][PW_1M] == 60);
	assert_true(s.v[PM_MESSAGES][PW_10M] == 120);
	assert_true(s.v[PM_ATTEMPTS][PW_1H] == 120);
	assert_true(s.v[PM_TOP_DIGEST][PW_10M] == 120);
	assert_true(s.v[PM_TOP_SUBJECT][PW_10M] == 120);
	assert_true(s.v[PM_DST_IPS][PW_1M] == 1);
	/* ten minutes later the 1 min window is empty, the 1 h one is not */
	stats_vm_snapshot(vm, T0 + 119 + 600, 86400, floors, &s);
	assert_true(s.v[PM_MESSAGES][PW_1M] == 0);
	assert_true(s.v[PM_MESSAGES][PW_10M] == 0);
	assert_true(s.v[PM_MESSAGES][PW_1H] == 120);
	assert_true(s.v[PM_TOP_DIGEST][PW_1M] == 0);
	/* two hours later everything is gone */
	stats_vm_snapshot(vm, T0 + 7200, 86400, floors, &s);
	assert_true(s.v[PM_MESSAGES][PW_1H] == 0);
	assert_true(s.v[PM_DST_IPS][PW_1H] == 0);
	free(vm);
	free(o);
}

static void test_distinct_bounded(void **state)
{
	struct stats_vm *vm = malloc(sizeof(*vm));
	struct stats_obs *o = malloc(sizeof(*o));
	struct stats_snapshot s;

	stats_vm_init(vm);
	for (uint32_t i = 0; i < 200; i++) {
		obs_at(o, T0 + 1, 0, (uint8_t)i);
		stats_vm_observe(vm, o, 86400);
	}
	stats_vm_snapshot(vm, T0 + 1, 86400, floors, &s);
	assert_true(s.v[PM_DST_IPS][PW_1M] == STATS_SKETCH);   /* saturates at the cap */
	assert_true(s.v[PM_DST_NETS][PW_1M] == STATS_SKETCH);
	assert_true(vm->sketch_evictions == 2 * (200 - STATS_SKETCH));   /* IPs and /24s */
	free(vm);
	free(o);
}

static void test_baseline_and_spike(void **state)
{
	struct stats_vm *vm = malloc(sizeof(*vm));
	struct stats_obs *o = malloc(sizeof(*o));
	struct stats_snapshot s;

	stats_vm_init(vm);
	/* 30 messages every 10 minutes for 2 days, half-life 1 h */
	for (uint64_t p = 0; p < 288; p++) {
		obs_at(o, T0 + p * 600 + 5, 30, 1);
		stats_vm_observe(vm, o, 3600);
	}
	stats_vm_snapshot(vm, T0 + 288 * 600 + 5, 3600, floors, &s);
	assert_true(s.baseline[0] > 29 && s.baseline[0] < 31);
	assert_true(s.periods_seen >= 287);
	/* a period of 300 messages is a 10x spike against that baseline */
	obs_at(o, T0 + 288 * 600 + 10, 100, 1);
	for (int i = 0; i < 3; i++)
		stats_vm_observe(vm, o, 3600);
	stats_vm_snapshot(vm, T0 + 288 * 600 + 20, 3600, floors, &s);
	assert_true(s.v[PM_SPIKE_MESSAGES][PW_10M] > 9 && s.v[PM_SPIKE_MESSAGES][PW_10M] < 11);
	/* a new VM is measured against the floor */
	stats_vm_init(vm);
	obs_at(o, T0, 100, 1);
	stats_vm_observe(vm, o, 3600);
	stats_vm_snapshot(vm, T0, 3600, floors, &s);
	assert_true(s.v[PM_SPIKE_MESSAGES][PW_10M] == 5);
	free(vm);
	free(o);
}

static void test_late_observation(void **state)
{
	struct stats_vm *vm = malloc(sizeof(*vm));
	struct stats_obs *o = malloc(sizeof(*o));
	struct stats_snapshot s;

	stats_vm_init(vm);
	obs_at(o, T0 + 10000, 1, 1);
	stats_vm_observe(vm, o, 86400);
	obs_at(o, T0 + 9990, 1, 1);                 /* 10 s late: still counted */
	stats_vm_observe(vm, o, 86400);
	obs_at(o, T0, 1, 1);                        /* older than every ring */
	stats_vm_observe(vm, o, 86400);
	stats_vm_snapshot(vm, T0 + 10000, 86400, floors, &s);
	assert_true(s.v[PM_MESSAGES][PW_1M] == 2);
	assert_true(vm->late == 1);
	free(vm);
	free(o);
}

static void test_subject_template(void **state)
{
	assert_true(stats_subject_key("Your account statement #7468") ==
		    stats_subject_key("your account  STATEMENT #12"));
	assert_true(stats_subject_key("meeting notes 1") != stats_subject_key("lunch"));
	assert_true(stats_subject_key(NULL) == 0 && stats_subject_key("") == 0);
}

static void test_scrub(void **state)
{
	char out[64];
	stats_scrub(out, sizeof(out), "550 5.1.1 <bob@example.test>: User unknown\r\n");
	assert_string_equal(out, "550 5.1.1 <addr> User unknown  ");
	stats_scrub(out, 8, "abcdefghijk");
	assert_string_equal(out, "abcdefg");
	stats_scrub(out, sizeof(out), NULL);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_windows_slide),
		cmocka_unit_test(test_distinct_bounded),
		cmocka_unit_test(test_baseline_and_spike),
		cmocka_unit_test(test_late_observation),
		cmocka_unit_test(test_subject_template),
		cmocka_unit_test(test_scrub),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
