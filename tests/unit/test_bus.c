/* SPDX-License-Identifier: MIT */
/* Unit tests: the Redis schema's parsing of commands and whitelist records. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bus.h"

#define U "AAAAAAAA-1111-4000-8000-00000000000A"
#define UL "aaaaaaaa-1111-4000-8000-00000000000a"

static int cmdp(const char *op, const char *body, struct bus_command *c, char *err)
{
	return bus_command_parse(op, strlen(op), body, strlen(body), c, err, 256);
}

static void test_commands(void **state)
{
	struct bus_command c;
	char err[256];

	(void)state;
	assert_int_equal(cmdp("block", "{\"uuid\":\"" U "\",\"until\":2000000000,\"origin\":\"manual\","
			  "\"reason\":\"spam\\u0007run\",\"decision\":\"17-0\",\"name\":\"web\"}", &c, err), 0);
	assert_int_equal(c.op, BUS_OP_BLOCK);
	assert_string_equal(c.uuid, UL);
	assert_true(c.manual);
	assert_int_equal(c.until_s, 2000000000);
	assert_string_equal(c.reason, "spam run");      /* control bytes never reach a log */
	assert_string_equal(c.decision, "17-0");
	/* every refusal says why */
	assert_int_equal(cmdp("block", "{\"uuid\":\"" U "\",\"origin\":\"auto\"}", &c, err), -EINVAL);
	assert_non_null(strstr(err, "until"));
	assert_int_equal(cmdp("block", "{\"uuid\":\"x\",\"until\":5,\"origin\":\"auto\"}", &c, err), -EINVAL);
	assert_non_null(strstr(err, "uuid"));
	assert_int_equal(cmdp("block", "{\"uuid\":\"" U "\",\"until\":5,\"origin\":\"admin\"}", &c, err), -EINVAL);
	assert_non_null(strstr(err, "origin"));
	assert_int_equal(cmdp("block", "{\"uuid\":\"" U "\",\"until\":-5,\"origin\":\"auto\"}", &c, err), -EINVAL);
	assert_int_equal(cmdp("block", "[1]", &c, err), -EINVAL);
	assert_int_equal(cmdp("block", "{\"uuid\":\"" U "\",\"uuid\":\"" U "\"}", &c, err), -EINVAL);
	assert_int_equal(cmdp("format_disk", "{}", &c, err), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "unknown op"));
	assert_int_equal(cmdp("unblock", "{\"uuid\":\"" U "\",\"reason\":\"ok\"}", &c, err), 0);
	assert_int_equal(c.op, BUS_OP_UNBLOCK);
	assert_int_equal(cmdp("reload", "{}", &c, err), 0);
	assert_int_equal(c.op, BUS_OP_RELOAD);
	assert_int_equal(cmdp("whitelist_set", "{\"decision\":\"9-1\",\"entry\":{\"uuid\":\"" U "\","
			  "\"expires\":0,\"ticket\":\"T-1\",\"limits\":{\"scale\":4}}}", &c, err), 0);
	assert_int_equal(c.op, BUS_OP_WL_SET);
	assert_true(c.scale == 4.0);
	assert_string_equal(c.decision, "9-1");
	assert_string_equal(c.ticket, "T-1");
	assert_int_equal(cmdp("whitelist_set", "{\"entry\":{\"uuid\":\"" U "\",\"limits\":{\"scale\":0.1}}}",
			      &c, err), -EINVAL);
	assert_non_null(strstr(err, "scale"));
	/* a reason longer than the field is refused, not cut */
	char big[1200];
	int n = snprintf(big, sizeof(big), "{\"uuid\":\"" U "\",\"reason\":\"");
	memset(big + n, 'x', 600);
	strcpy(big + n + 600, "\"}");
	assert_int_equal(cmdp("unblock", big, &c, err), -EINVAL);
}

static void test_records_and_ids(void **state)
{
	struct bus_command c;
	char err[256];
	uint64_t ms, seq;
	const char *r = "{\"uuid\":\"" U "\",\"customer\":\"C\",\"expires\":1900000000,\"limits\":null}";

	(void)state;
	assert_int_equal(bus_wl_record_parse(r, strlen(r), &c, err, sizeof(err)), 0);
	assert_string_equal(c.uuid, UL);
	assert_int_equal(c.until_s, 1900000000);
	assert_true(c.scale == 0);
	assert_int_equal(bus_wl_record_parse("{", 1, &c, err, sizeof(err)), -EINVAL);
	assert_int_equal(bus_id_parse("1796310228999-12", 16, &ms, &seq), 0);
	assert_int_equal(ms, 1796310228999ull);
	assert_int_equal(seq, 12);
	assert_int_equal(bus_id_parse("5", 1, &ms, &seq), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(bus_id_parse("-5", 2, &ms, &seq), -EINVAL);
	assert_int_equal(bus_id_parse("5-", 2, &ms, &seq), -EINVAL);
	assert_int_equal(bus_id_parse("99999999999999999999-1", 22, &ms, &seq), -EINVAL);
	assert_true(bus_id_cmp(2, 1, 10, 0) < 0);
	assert_true(bus_id_cmp(2, 3, 2, 1) > 0);
	assert_true(bus_name_valid("hv-01.dc1", 64));
	assert_false(bus_name_valid("hv 1", 64));
	assert_false(bus_name_valid("a:b", 64));
	assert_false(bus_name_valid("", 64));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_commands),
		cmocka_unit_test(test_records_and_ids),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
