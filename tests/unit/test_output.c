/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for agent/output.c: sessions that end out of order are
 * written in start order, in memory and through the spill file, and the
 * session-count cap writes late sessions rather than losing them.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#include "output.h"

/* Emit sessions with the given seq order; return the seqs as written. */
static int run(const uint64_t *order, int n, uint32_t max_waiting, uint64_t max_mem,
	       uint64_t *written, struct output_counters *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	struct output *o = output_new(f, max_waiting, max_mem);
	assert_non_null(o);
	for (int i = 0; i < n; i++) {
		struct session s;
		memset(&s, 0, sizeof(s));
		s.seq = order[i];
		s.ts_start_us = 1000000 * (order[i] + 1);
		output_session(o, &s);
	}
	assert_int_equal(output_finish(o), 0);
	*c = *output_counters(o);
	output_free(o);
	fclose(f);
	int k = 0;
	for (char *p = buf; p && *p; k++) {
		unsigned long long sec;
		char *ts = strstr(p, "\"ts\":");
		assert_non_null(ts);
		assert_int_equal(sscanf(ts, "\"ts\":%llu.", &sec), 1);
		written[k] = sec - 1;
		char *nl = strchr(p, '\n');
		assert_non_null(nl);
		p = nl + 1;
	}
	free(buf);
	return k;
}

static void test_reorder_in_memory(void **state __attribute__((unused)))
{
	uint64_t order[] = { 3, 1, 0, 2, 5, 4, 6 }, out[16];
	struct output_counters c;
	int n = run(order, 7, 1024, 1 << 20, out, &c);
	assert_int_equal(n, 7);
	for (int i = 0; i < n; i++)
		assert_int_equal(out[i], i);
	assert_int_equal(c.out_of_order, 0);
	assert_int_equal(c.spilled, 0);
}

static void test_reorder_spilled(void **state __attribute__((unused)))
{
	enum { N = 2000 };
	uint64_t order[N], out[N];
	struct output_counters c;
	/* everything ends in reverse: every line but the last waits */
	for (int i = 0; i < N; i++)
		order[i] = N - 1 - (uint64_t)i;
	int n = run(order, N, 1u << 20, 4096, out, &c);
	assert_int_equal(n, N);
	for (int i = 0; i < n; i++)
		assert_int_equal(out[i], i);
	assert_true(c.spilled > N / 2);
	assert_int_equal(c.out_of_order, 0);
}

static void test_queue_cap_loses_nothing(void **state __attribute__((unused)))
{
	enum { N = 100 };
	uint64_t order[N], out[N];
	struct output_counters c;
	/* session 0 ends last; the queue holds only 10 */
	for (int i = 0; i < N - 1; i++)
		order[i] = (uint64_t)i + 1;
	order[N - 1] = 0;
	int n = run(order, N, 10, 1 << 20, out, &c);
	assert_int_equal(n, N);
	assert_true(c.out_of_order > 0);
	int seen[N] = { 0 };
	for (int i = 0; i < n; i++)
		seen[out[i]]++;
	for (int i = 0; i < N; i++)
		assert_int_equal(seen[i], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reorder_in_memory),
		cmocka_unit_test(test_reorder_spilled),
		cmocka_unit_test(test_queue_cap_loses_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
