/* SPDX-License-Identifier: MIT */
/* detect: evaluation, hysteresis, escalation, whitelist, plans,
 * observe-only; vmmap_file: the --vm-map loader. */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>

#include "detect.h"
#include "vmmap_file.h"

#define T0 1800000000ULL

static const char *pol_yaml =
	"alert_hold: 10m\n"
	"escalation: {ladder: [1h, 24h, manual], forget_after: 30d}\n"
	"rules:\n"
	"  - {name: burst, action: block, all: [\"messages_1m >= 50\"]}\n"
	"  - {name: fast, action: alert, all: [\"messages_1m >= 20\"]}\n"
	"plans:\n"
	"  big: {scale: 4}\n"
	"  quiet: {disable: [fast]}\n"
	"whitelisted: {mode: alert, scale: 10}\n";

struct rec { int n; enum policy_action last; uint32_t dur; bool down, observe; uint64_t ts; };

static void cb(void *ctx, const struct detect_verdict *v)
{
	struct rec *r = ctx;
	r->n++;
	r->last = v->verdict;
	r->dur = v->duration_s;
	r->down = v->downgraded;
	r->observe = v->observe_only;
	r->ts = v->ts_us / 1000000;
}

static struct policy *load_policy(void)
{
	struct policy *p = malloc(sizeof(*p));
	struct policy_errors e;
	assert_non_null(p);
	assert_int_equal(policy_load_buffer("t", pol_yaml, strlen(pol_yaml), p, &e), 0);
	return p;
}

static void send(struct detect *d, const struct detect_vm_id *id, uint64_t s, uint32_t msgs)
{
	static struct stats_obs o;
	memset(&o, 0, sizeof(o));
	o.ts_us = s * 1000000;
	o.smtp = true;
	o.n_msgs = msgs;
	assert_int_equal(detect_observe(d, id, &o), 0);
}

static void test_block_escalation_expiry(void **state)
{
	struct policy *p = load_policy();
	struct rec r = { 0 };
	struct detect *d = detect_new(8, p, cb, &r);
	struct detect_vm_id id = { .uuid = "u1", .name = "vm1" };

	send(d, &id, T0, 10);                 /* ok: no verdict */
	assert_int_equal(r.n, 0);
	send(d, &id, T0 + 1, 15);             /* 25/min: alert */
	assert_int_equal(r.last, PA_ALERT);
	send(d, &id, T0 + 2, 30);             /* 55/min: block 1h */
	assert_int_equal(r.n, 2);
	assert_int_equal(r.last, PA_BLOCK);
	assert_int_equal(r.dur, 3600);
	send(d, &id, T0 + 3, 100);            /* the block stands: no change */
	assert_int_equal(r.n, 2);
	detect_tick(d, (T0 + 3602) * 1000000);   /* expired, windows empty: ok */
	assert_int_equal(r.n, 3);
	assert_int_equal(r.last, PA_NONE);
	send(d, &id, T0 + 4000, 60);          /* repeat offence: 24 h */
	assert_int_equal(r.last, PA_BLOCK);
	assert_int_equal(r.dur, 86400);
	detect_tick(d, (T0 + 4000 + 86401) * 1000000);
	send(d, &id, T0 + 4000 + 86500, 60);  /* third: manual */
	assert_int_equal(r.dur, POLICY_MANUAL);
	detect_tick(d, (T0 + 365 * 86400ULL) * 1000000);  /* manual never expires */
	assert_int_equal(r.last, PA_BLOCK);
	detect_free(d);
	free(p);
}

static void test_alert_hold(void **state)
{
	struct policy *p = load_policy();
	struct rec r = { 0 };
	struct detect *d = detect_new(8, p, cb, &r);
	struct detect_vm_id id = { .uuid = "u2" };

	send(d, &id, T0, 25);
	assert_int_equal(r.last, PA_ALERT);
	detect_tick(d, (T0 + 300) * 1000000);    /* within the hold */
	assert_int_equal(r.n, 1);
	detect_tick(d, (T0 + 601) * 1000000);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.last, PA_NONE);
	detect_free(d);
	free(p);
}

static void test_whitelist_plans_observe(void **state)
{
	struct policy *p = load_policy();
	struct rec r = { 0 };
	struct detect *d = detect_new(8, p, cb, &r);
	struct detect_vm_id wl = { .uuid = "wl", .whitelisted = true };
	struct detect_vm_id big = { .uuid = "big", .plan = "big" };
	struct detect_vm_id quiet = { .uuid = "q", .plan = "quiet" };

	send(d, &wl, T0, 100);                /* 100 < 10 x 20: nothing */
	assert_int_equal(r.n, 0);
	send(d, &wl, T0 + 1, 900);            /* block rule at 10x: alert, downgraded */
	assert_int_equal(r.last, PA_ALERT);
	assert_true(r.down);
	send(d, &big, T0, 60);                /* 4 x thresholds: 60 is not 80 */
	assert_int_equal(r.n, 1);
	send(d, &big, T0 + 1, 150);
	assert_int_equal(r.last, PA_BLOCK);
	send(d, &quiet, T0, 30);              /* fast disabled for this plan */
	assert_int_equal(r.n, 2);
	detect_free(d);

	p->observe_only = true;
	d = detect_new(8, p, cb, &r);
	send(d, &big, T0, 400);
	assert_int_equal(r.last, PA_BLOCK);
	assert_true(r.observe);
	detect_free(d);

	p->wl_mode = PWL_IGNORE;
	d = detect_new(8, p, cb, &r);
	r.n = 0;
	send(d, &wl, T0, 100000);
	assert_int_equal(r.n, 0);
	detect_free(d);
	free(p);
}

static void test_table_cap(void **state)
{
	struct policy *p = load_policy();
	struct detect *d = detect_new(2, p, NULL, NULL);
	struct detect_vm_id a = { .uuid = "a" }, b = { .uuid = "b" }, c = { .uuid = "c" };
	static struct stats_obs o;
	o.ts_us = T0 * 1000000;
	assert_int_equal(detect_observe(d, &a, &o), 0);
	assert_int_equal(detect_observe(d, &b, &o), 0);
	assert_int_equal(detect_observe(d, &c, &o), -ENOSPC);
	assert_int_equal(detect_observe(d, &a, &o), 0);
	assert_int_equal(detect_counters(d)->vms, 2);
	assert_int_equal(detect_counters(d)->vms_dropped, 1);
	detect_free(d);
	free(p);
}

static void test_vmmap_file(void **state)
{
	struct vmmap_file m;
	char err[1024];
	const char *ok = "{\"198.18.100.10\": {\"uuid\": \"u-1\", \"name\": \"web-1\", \"plan\": \"vps-s\", \"whitelisted\": false},"
			 " \"2001:db8::5\": {\"uuid\": \"u-2\", \"whitelisted\": true},"
			 " \"52:54:00:12:34:56\": {\"uuid\": \"u-3\"}}";
	struct flow_info v4 = { .family = 4, .client = { 198, 18, 100, 10 } };
	struct flow_info v6 = { .family = 6, .client = { 0x20, 0x01, 0x0d, 0xb8, [15] = 5 } };
	static const uint8_t mac3[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
	assert_int_equal(vmmap_file_parse("m", ok, strlen(ok), &m, err, sizeof(err)), 0);
	assert_int_equal(m.n, 3);
	const struct detect_vm_id *id = vmmap_file_lookup(&m, &v4);
	assert_non_null(id);
	assert_string_equal(id->name, "web-1");
	assert_string_equal(id->plan, "vps-s");
	id = vmmap_file_lookup(&m, &v6);
	assert_non_null(id);
	assert_true(id->whitelisted);
	assert_string_equal(id->name, "u-2");
	/* the MAC wins over the address: the guest changed its IP */
	memcpy(v4.client_mac, mac3, 6);
	v4.has_client_mac = true;
	id = vmmap_file_lookup(&m, &v4);
	assert_non_null(id);
	assert_string_equal(id->uuid, "u-3");
	v4.client_mac[5] = 0x57;     /* a MAC not in the map: the address decides */
	assert_string_equal(vmmap_file_lookup(&m, &v4)->uuid, "u-1");
	v4.client[3] = 11;
	assert_null(vmmap_file_lookup(&m, &v4));
	memcpy(v4.client_mac, mac3, 6);
	assert_string_equal(vmmap_file_lookup(&m, &v4)->uuid, "u-3");
	vmmap_file_fini(&m);

	const char *bad = "{\"nope\": {\"uuid\": \"x\"}, \"198.18.0.1\": {\"name\": \"n\", \"colour\": 1, \"whitelisted\": \"yes\"}}";
	assert_int_equal(vmmap_file_parse("m", bad, strlen(bad), &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not an IPv4/IPv6 address or MAC"));
	assert_non_null(strstr(err, "uuid is required"));
	assert_non_null(strstr(err, "unknown key \"colour\""));
	assert_non_null(strstr(err, "whitelisted must be true or false"));
	assert_int_equal(vmmap_file_parse("m", "{", 1, &m, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "m:1:"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_escalation_expiry),
		cmocka_unit_test(test_alert_hold),
		cmocka_unit_test(test_whitelist_plans_observe),
		cmocka_unit_test(test_table_cap),
		cmocka_unit_test(test_vmmap_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
