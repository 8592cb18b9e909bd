/* SPDX-License-Identifier: MIT */
/* vmcache: rows from poll items (insert, replace, growth past the first
 * table), the /v1/vms query parser (defaults, every error), filters,
 * sorting with ties, paging, the last-hour buckets and block expiry. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "vmcache.h"

#define NOW 1796325000       /* bucket 2993875 */

static void put(struct vmcache *c, int i, const char *state, int64_t msgs_1h, int64_t block_until,
		const char *hv)
{
	char js[1024];
	json_t *j;

	snprintf(js, sizeof(js),
		 "{\"uuid\":\"%08x-0000-4000-8000-000000000000\",\"name\":\"vm-%04d\",\"state\":\"%s\","
		 "\"hypervisor\":\"%s\",\"first_seen\":%d,\"last_seen\":%d,\"offences\":%d,"
		 "\"whitelisted\":%s,\"whitelist_expires\":0,"
		 "\"block\":%s,\"recent\":[[%d,%lld,1,2],[%d,1000,0,0]],\"totals\":{\"messages\":%d}}",
		 i, i, state, hv, NOW - 100, NOW - i, i % 3, i % 10 == 0 ? "true" : "false",
		 block_until ? "{\"until\":9999999999,\"origin\":\"auto\",\"reason\":\"detection: burst\"}" : "null",
		 NOW / 600, (long long)msgs_1h, NOW / 600 - 7, i);
	if (block_until) {
		char *p = strstr(js, "9999999999");
		char u[11];

		snprintf(u, sizeof(u), "%010lld", (long long)block_until);
		memcpy(p, u, 10);
	}
	j = json_loads(js, 0, NULL);
	assert_non_null(j);
	assert_int_equal(vmcache_put(c, j), 0);
	json_decref(j);
}

static json_t *query(struct vmcache *c, const char *qs)
{
	struct vmq q;
	struct jsonw w;
	char err[256];
	json_t *j;

	assert_int_equal(vmq_parse(qs, &q, err, sizeof(err)), 0);
	jsonw_init(&w);
	assert_int_equal(vmcache_query(c, &q, NOW, &w), 0);
	j = json_loadb(w.buf, w.len, 0, NULL);
	assert_non_null(j);
	jsonw_fini(&w);
	return j;
}

static void test_query_parse(void **state)
{
	struct vmq q;
	char err[256];

	assert_int_equal(vmq_parse(NULL, &q, err, sizeof(err)), 0);
	assert_int_equal(q.limit, 100);
	assert_int_equal(q.sort, VMQ_LAST_SEEN);
	assert_true(q.desc);
	assert_int_equal(vmq_parse("sort=name", &q, err, sizeof(err)), 0);
	assert_false(q.desc);          /* names ascend by default */
	assert_int_equal(vmq_parse("sort=name&order=desc&q=Web%2D1&hypervisor=hv1", &q, err, sizeof(err)), 0);
	assert_true(q.desc);
	assert_string_equal(q.q, "web-1");
	assert_string_equal(q.hypervisor, "hv1");
	static const char *const bad[] = { "limit=0", "limit=1001", "limit=-1", "limit=1x", "offset=1000001",
					   "sort=bogus", "state=dead", "order=up", "x=1", "limit=5&limit=6", "q=",
					   "q=%zz", "q=%0a", "noequals", "q=%4" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(vmq_parse(bad[i], &q, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != '\0');
	}
}

static void test_filter_sort_page(void **state)
{
	struct vmcache c;
	json_t *j, *v;
	size_t i;
	int64_t prev = INT64_MAX;

	vmcache_init(&c);
	for (int k = 0; k < 2500; k++)       /* past the first table of 1024 */
		put(&c, k, k % 7 == 0 ? "alert" : "ok", (k * 37) % 1000, k % 50 == 0 ? NOW + 600 : 0,
		    k % 2 ? "hv1" : "hv2");
	assert_int_equal(c.n, 2500);
	put(&c, 5, "ok", 99999, 0, "hv1");   /* replace: still 2500 rows */
	assert_int_equal(c.n, 2500);
	assert_non_null(vmcache_get(&c, "00000005-0000-4000-8000-000000000000"));

	j = query(&c, "sort=messages_1h&limit=1000");
	assert_int_equal(json_integer_value(json_object_get(j, "total")), 2500);
	v = json_array_get(json_object_get(j, "vms"), 0);
	assert_string_equal(json_string_value(json_object_get(v, "uuid")), "00000005-0000-4000-8000-000000000000");
	/* the bucket 7 intervals old is not in the last hour */
	assert_int_equal(json_integer_value(json_object_get(v, "messages_1h")), 99999);
	json_array_foreach(json_object_get(j, "vms"), i, v) {
		int64_t m = json_integer_value(json_object_get(v, "messages_1h"));

		assert_true(m <= prev);
		prev = m;
	}
	json_decref(j);

	j = query(&c, "state=blocked");
	assert_int_equal(json_integer_value(json_object_get(j, "total")), 50);
	json_array_foreach(json_object_get(j, "vms"), i, v) {
		assert_string_equal(json_string_value(json_object_get(v, "state")), "blocked");
		assert_true(json_is_object(json_object_get(v, "block")));
	}
	json_decref(j);
	/* blocked wins over alert (k = 0, 350, ... are both) */
	j = query(&c, "state=alert&limit=1000");
	json_array_foreach(json_object_get(j, "vms"), i, v)
		assert_null(json_object_get(json_object_get(v, "block"), "until"));
	json_decref(j);

	j = query(&c, "hypervisor=hv1&state=whitelisted");
	assert_int_equal(json_integer_value(json_object_get(j, "total")), 0);   /* whitelisted are even */
	json_decref(j);
	j = query(&c, "q=VM-0042");
	assert_int_equal(json_integer_value(json_object_get(j, "total")), 1);
	json_decref(j);

	/* pages of the same order join up without gaps or repeats */
	{
		json_t *a = query(&c, "sort=offences&limit=10&offset=0"), *b = query(&c, "sort=offences&limit=20");

		for (size_t k = 0; k < 10; k++)
			assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(a, "vms"), k), "uuid")),
					    json_string_value(json_object_get(json_array_get(json_object_get(b, "vms"), k), "uuid")));
		json_decref(a);
		json_decref(b);
		a = query(&c, "sort=offences&limit=10&offset=10");
		b = query(&c, "sort=offences&limit=20");
		assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(a, "vms"), 0), "uuid")),
				    json_string_value(json_object_get(json_array_get(json_object_get(b, "vms"), 10), "uuid")));
		json_decref(a);
		json_decref(b);
	}
	/* the top few by quickselect equal the head of the full sort */
	{
		static const char *const keys[] = { "messages_1h", "offences", "name", "last_seen" };

		for (size_t k = 0; k < 4; k++) {
			char qa[64], qb[64];
			json_t *a, *b;

			snprintf(qa, sizeof(qa), "sort=%s&limit=37&offset=13", keys[k]);
			snprintf(qb, sizeof(qb), "sort=%s&limit=1000", keys[k]);
			a = query(&c, qa);
			b = query(&c, qb);
			for (size_t r = 0; r < 37; r++)
				assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(a, "vms"), r), "uuid")),
						    json_string_value(json_object_get(json_array_get(json_object_get(b, "vms"), r + 13), "uuid")));
			json_decref(a);
			json_decref(b);
		}
	}
	j = query(&c, "offset=3000");
	assert_int_equal(json_array_size(json_object_get(j, "vms")), 0);
	json_decref(j);
	vmcache_fini(&c);
}

static void test_block_expires(void **state)
{
	struct vmcache c;
	const struct vmrow *r;
	json_t *bad = json_loads("{\"uuid\":\"not-a-uuid\"}", 0, NULL);

	vmcache_init(&c);
	put(&c, 1, "ok", 0, NOW - 1, "hv1");     /* a block that ended: reads as ok */
	r = vmcache_get(&c, "00000001-0000-4000-8000-000000000000");
	assert_non_null(r);
	assert_int_equal(vmcache_state(r, NOW), VM_OK);
	assert_int_equal(vmcache_state(r, NOW - 10), VM_BLOCKED);
	assert_int_equal(vmcache_put(&c, bad), -EINVAL);
	assert_null(vmcache_get(&c, "00000001-0000-4000-8000-00000000000X"));
	json_decref(bad);
	vmcache_fini(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_parse),
		cmocka_unit_test(test_filter_sort_page),
		cmocka_unit_test(test_block_expires),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
