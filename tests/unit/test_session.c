/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for agent/session.c: scripted TCP conversations fed as decoded
 * segments through the tracker; the emitted JSON is parsed with jansson and
 * checked field by field.
 */
#include "testutil.h"

#include <jansson.h>
#include <stdlib.h>

#include "jsonw.h"
#include "session.h"

struct conv {
	struct session_tracker *t;
	uint32_t seq[2];      /* next seq per direction: 0 client, 1 server */
	uint16_t cport;
	uint64_t ts;
	json_t *out[8];
	int n_out;
};

static void emit(void *ctx, const struct session *s)
{
	struct conv *c = ctx;
	struct jsonw w;
	json_error_t err;

	jsonw_init(&w);
	session_to_json(s, &w);
	assert_false(w.oom);
	assert_true(c->n_out < 8);
	c->out[c->n_out] = json_loadb(w.buf, w.len, 0, &err);
	if (!c->out[c->n_out])
		fail_msg("invalid JSON: %s: %.*s", err.text, (int)w.len, w.buf);
	c->n_out++;
	jsonw_fini(&w);
}

static void seg(struct conv *c, int dir, uint8_t flags, const char *data, size_t len)
{
	struct decoded_pkt p;

	memset(&p, 0, sizeof(p));
	p.family = 4;
	p.ifindex = -1;
	uint8_t cl[4] = { 198, 18, 0, 2 }, sv[4] = { 198, 18, 0, 1 };
	memcpy(dir ? p.src : p.dst, sv, 4);
	memcpy(dir ? p.dst : p.src, cl, 4);
	p.sport = dir ? 25 : c->cport;
	p.dport = dir ? c->cport : 25;
	p.seq = c->seq[dir];
	p.ack = c->seq[!dir];
	p.flags = flags | (flags & DECODE_TH_SYN && !dir ? 0 : DECODE_TH_ACK);
	p.payload = (const uint8_t *)data;
	p.payload_len = p.payload_wire_len = (uint32_t)len;
	p.window = 65535;
	c->ts += 1000;
	session_tracker_packet(c->t, &p, c->ts);
	c->seq[dir] += (uint32_t)len + ((flags & (DECODE_TH_SYN | DECODE_TH_FIN)) ? 1 : 0);
}

static void say(struct conv *c, int dir, const char *text)
{
	seg(c, dir, DECODE_TH_PSH, text, strlen(text));
}

static void open_conv(struct conv *c, double sample)
{
	struct session_config cfg;
	memset(c, 0, sizeof(*c));
	session_config_default(&cfg);
	cfg.content_sample = sample;
	c->t = session_tracker_new(&cfg, emit, c);
	assert_non_null(c->t);
	c->cport = 40000;
	c->seq[0] = 1000;
	c->seq[1] = 5000;
	c->ts = 1700000000000000ULL;
	seg(c, 0, DECODE_TH_SYN, NULL, 0);
	seg(c, 1, DECODE_TH_SYN, NULL, 0);
	seg(c, 0, 0, NULL, 0);
}

static void close_conv(struct conv *c)
{
	for (int i = 0; i < c->n_out; i++)
		json_decref(c->out[i]);
	session_tracker_free(c->t);
}

static const char *str_at(json_t *o, const char *path)
{
	json_t *v = json_object_get(o, path);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void test_pipelined_session(void **state __attribute__((unused)))
{
	struct conv c;
	open_conv(&c, 1.0);
	say(&c, 1, "220 mx.example.test ESMTP\r\n");
	say(&c, 0, "EHLO guest.example.test\r\n");
	say(&c, 1, "250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250 STARTTLS\r\n");
	say(&c, 0, "MAIL FROM:<a@guest.test> SIZE=100\r\nRCPT TO:<x@example.test>\r\n"
		   "RCPT TO:<unknown@example.test>\r\nDATA\r\n");
	say(&c, 1, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 <unknown@example.test>: User unknown\r\n"
		   "354 End data with <CR><LF>.<CR><LF>\r\n");
	say(&c, 0, "Message-ID: <m1@guest.test>\r\nSubject: =?UTF-8?B?SGVsbG8gd29ybGQ=?=\r\n"
		   "From: A <a@guest.test>\r\nPrecedence: bulk\r\n\r\nhello there\r\n..dot\r\n.\r\n");
	say(&c, 1, "250 2.0.0 Ok: queued as X\r\n");
	say(&c, 0, "QUIT\r\n");
	say(&c, 1, "221 2.0.0 Bye\r\n");
	seg(&c, 0, DECODE_TH_FIN, NULL, 0);
	seg(&c, 1, DECODE_TH_FIN, NULL, 0);
	seg(&c, 0, 0, NULL, 0);
	session_tracker_flush(c.t, c.ts + 1);
	assert_int_equal(c.n_out, 1);

	json_t *s = c.out[0];
	assert_string_equal(str_at(s, "client"), "198.18.0.2:40000");
	assert_string_equal(str_at(s, "server"), "198.18.0.1:25");
	assert_string_equal(str_at(s, "helo_verb"), "EHLO");
	assert_string_equal(str_at(s, "helo"), "guest.example.test");
	assert_string_equal(str_at(s, "end"), "quit");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "banner"), "code")), 220);
	json_t *esmtp = json_object_get(s, "esmtp");
	assert_int_equal(json_array_size(esmtp), 3);
	assert_string_equal(json_string_value(json_array_get(esmtp, 2)), "STARTTLS");
	assert_true(json_is_true(json_object_get(json_object_get(s, "dialect"), "pipelining")));
	json_t *txns = json_object_get(s, "transactions");
	assert_int_equal(json_array_size(txns), 1);
	json_t *x = json_array_get(txns, 0);
	assert_string_equal(str_at(x, "mail_from"), "a@guest.test");
	assert_string_equal(str_at(x, "mail_params"), "SIZE=100");
	assert_int_equal(json_integer_value(json_object_get(x, "mail_code")), 250);
	json_t *rcpts = json_object_get(x, "rcpts");
	assert_int_equal(json_array_size(rcpts), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(rcpts, 1), "code")), 550);
	assert_string_equal(str_at(json_array_get(rcpts, 1), "addr"), "unknown@example.test");
	assert_int_equal(json_integer_value(json_object_get(x, "data_code")), 250);
	assert_true(json_is_true(json_object_get(x, "complete")));
	assert_string_equal(str_at(x, "message_id"), "m1@guest.test");
	assert_string_equal(str_at(x, "subject"), "Hello world");
	assert_string_equal(str_at(x, "precedence"), "bulk");
	json_t *codes = json_object_get(s, "reply_codes");
	assert_int_equal(json_array_size(codes), 8);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "replies"), "5xx")), 1);
	close_conv(&c);
}

static void test_unsampled_and_rset(void **state __attribute__((unused)))
{
	struct conv c;
	open_conv(&c, 0.0);
	say(&c, 1, "220 mx ESMTP\r\n");
	say(&c, 0, "helo x\r\n");
	say(&c, 1, "250 mx\r\n");
	say(&c, 0, "mail from:<>\r\n");
	say(&c, 1, "250 ok\r\n");
	say(&c, 0, "RSET\r\n");
	say(&c, 1, "250 ok\r\n");
	say(&c, 0, "MAIL FROM:<b@c>\r\n");
	say(&c, 1, "250 ok\r\n");
	say(&c, 0, "RCPT TO:<d@e>\r\n");
	say(&c, 1, "250 ok\r\n");
	say(&c, 0, "DATA\r\n");
	say(&c, 1, "354 go\r\n");
	say(&c, 0, "Subject: not parsed\r\n\r\nbody\r\n.\r\n");
	say(&c, 1, "250 ok\r\n");
	seg(&c, 0, DECODE_TH_RST, NULL, 0);
	session_tracker_flush(c.t, c.ts + 1);
	assert_int_equal(c.n_out, 1);
	json_t *s = c.out[0];
	assert_string_equal(str_at(s, "helo_verb"), "HELO");
	assert_string_equal(str_at(s, "end"), "rst");
	assert_true(json_is_false(json_object_get(s, "sampled")));
	json_t *txns = json_object_get(s, "transactions");
	assert_int_equal(json_array_size(txns), 2);
	assert_string_equal(str_at(json_array_get(txns, 0), "mail_from"), "");
	json_t *x = json_array_get(txns, 1);
	assert_true(json_is_true(json_object_get(x, "complete")));
	assert_true(json_is_null(json_object_get(x, "subject")));
	assert_int_equal(json_integer_value(json_object_get(x, "data_code")), 250);
	json_t *verbs = json_object_get(json_object_get(s, "dialect"), "verbs");
	assert_string_equal(json_string_value(json_array_get(verbs, 0)), "helo");
	close_conv(&c);
}

static void test_truncated_capture(void **state __attribute__((unused)))
{
	struct conv c;
	open_conv(&c, 1.0);
	say(&c, 1, "220 mx ESMTP\r\n");
	say(&c, 0, "EHLO x\r\n");
	session_tracker_flush(c.t, c.ts + 1);
	assert_int_equal(c.n_out, 1);
	assert_string_equal(str_at(c.out[0], "end"), "truncated");
	assert_true(json_is_false(json_object_get(c.out[0], "midstream")));
	close_conv(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_session),
		cmocka_unit_test(test_unsampled_and_rset),
		cmocka_unit_test(test_truncated_capture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
