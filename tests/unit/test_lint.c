/* SPDX-License-Identifier: MIT */
/* lint: a clean newsletter passes every check; each defect fails (or
 * warns) its own check for its reason; the request checks; hostile
 * structure (no body, long lines, NUL bytes, a sample of one byte). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>

#include "lint.h"

static const char *const shorteners[] = { "bit.ly", "tinyurl.com" };

#define HDR_FROM "From: Shop News <news@shop.example.com>\r\n"
#define HDR_DATE "Date: Thu, 03 Dec 2026 10:00:00 +0100\r\n"
#define HDR_MID "Message-ID: <20261203.1@mail.shop.example.com>\r\n"
#define HDR_LIST "List-Unsubscribe: <mailto:unsub@shop.example.com?subject=u>, <https://shop.example.com/u/abc>\r\n" \
		 "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nPrecedence: bulk\r\n"
#define HDR_DKIM "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.com; s=sel1;\r\n" \
		 " h=from:to:subject:date:message-id; bh=abc=; b=def=\r\n"
#define HDR_REST "To: someone@example.net\r\nSubject: December offers\r\nMIME-Version: 1.0\r\n" \
		 "Content-Type: text/html; charset=utf-8\r\n\r\n"
#define BODY "<html><body><p>Hello, our December offers are <a href=\"https://shop.example.com/dec\">here</a>.</p>" \
	     "<p>You are receiving this because you subscribed at shop.example.com.</p>" \
	     "<p>Shop Example Ltd, 12 Market Street, Springfield, IL 62701</p>" \
	     "<p><a href=\"https://shop.example.com/u/abc\">Unsubscribe</a></p></body></html>\r\n"

static const char good[] = HDR_FROM HDR_DATE HDR_MID HDR_LIST HDR_DKIM HDR_REST BODY;

static enum check_status status_of(const struct checklist *cl, const char *name)
{
	for (size_t i = 0; i < cl->n; i++)
		if (!strcmp(cl->v[i].name, name))
			return cl->v[i].status;
	fail_msg("no line %s", name);
	return CHECK_FAIL;
}

static const char *reason_of(const struct checklist *cl, const char *name)
{
	for (size_t i = 0; i < cl->n; i++)
		if (!strcmp(cl->v[i].name, name))
			return cl->v[i].reason;
	return "";
}

static void run(const char *msg, size_t len, const struct lint_request *req, struct checklist *cl,
		struct lint_result *res)
{
	struct lint_config c = { .shorteners = shorteners, .n_shorteners = 2 };

	checklist_init(cl);
	assert_int_equal(lint_run(&c, (const uint8_t *)msg, len, req, cl, res), 0);
}

static void test_good(void **state)
{
	struct checklist cl;
	struct lint_result res;
	static const char *const names[] = { "structure", "required_headers", "from_domain", "bulk_headers",
		"list_unsubscribe", "one_click", "body_unsubscribe", "dkim", "postal_address", "why_received",
		"html_content", "link_hosts", "link_redirects", "subject" };

	run(good, strlen(good), NULL, &cl, &res);
	for (size_t i = 0; i < cl.n; i++)
		if (cl.v[i].status != CHECK_PASS)
			fail_msg("%s: %s %s", cl.v[i].name, check_status_name(cl.v[i].status), cl.v[i].reason);
	assert_int_equal(cl.n, sizeof(names) / sizeof(names[0]));
	for (size_t i = 0; i < cl.n; i++)
		assert_string_equal(cl.v[i].name, names[i]);
	assert_string_equal(res.from_domain, "shop.example.com");
	assert_string_equal(res.dkim_domain, "example.com");
	assert_string_equal(res.dkim_selector, "sel1");
	assert_int_equal(checklist_result(&cl), CHECK_PASS);
	checklist_fini(&cl);
}

/* good with the first occurrence of `from` replaced by `to` */
static void variant(const char *from, const char *to, const char *name, enum check_status want, const char *in_reason)
{
	char *m = malloc(sizeof(good) + strlen(to) + 8);
	const char *p = strstr(good, from);
	struct checklist cl;

	assert_non_null(p);
	memcpy(m, good, (size_t)(p - good));
	strcpy(m + (p - good), to);
	strcat(m, p + strlen(from));
	run(m, strlen(m), NULL, &cl, NULL);
	if (status_of(&cl, name) != want || (in_reason && !strstr(reason_of(&cl, name), in_reason)))
		fail_msg("%s: got %s \"%s\", want %s with \"%s\"", name, check_status_name(status_of(&cl, name)),
			 reason_of(&cl, name), check_status_name(want), in_reason ? in_reason : "");
	checklist_fini(&cl);
	free(m);
}

static void test_defects(void **state)
{
	variant(HDR_MID, "", "required_headers", CHECK_FAIL, "Message-ID");
	variant(HDR_DATE, "Date: yesterday\r\n", "required_headers", CHECK_FAIL, "not an RFC 5322 date");
	variant(HDR_MID, "Message-ID: 12345\r\n", "required_headers", CHECK_FAIL, "<left@right>");
	variant(HDR_FROM, HDR_FROM HDR_FROM, "structure", CHECK_FAIL, "from appears 2 times");
	variant(HDR_FROM, "From: a@shop.example.com, b@shop.example.com\r\n", "from_domain", CHECK_FAIL, "several");
	variant(HDR_FROM, HDR_FROM "Return-Path: <bounce@other.example.org>\r\n", "from_domain", CHECK_WARN,
		"Return-Path");
	variant(HDR_FROM, HDR_FROM "Sender: x@mail.shop.example.com\r\n", "from_domain", CHECK_PASS, NULL);
	variant("Precedence: bulk\r\n", "", "bulk_headers", CHECK_FAIL, NULL);
	variant("Precedence: bulk\r\n", "List-Id: <news.shop.example.com>\r\n", "bulk_headers", CHECK_PASS, NULL);
	variant("Precedence: bulk\r\n", "Precedence: junk\r\n", "bulk_headers", CHECK_WARN, NULL);
	variant("<mailto:unsub@shop.example.com?subject=u>, <https://shop.example.com/u/abc>",
		"<http://shop.example.com/u/abc>", "list_unsubscribe", CHECK_WARN, "http:");
	variant("<mailto:unsub@shop.example.com?subject=u>, <https://shop.example.com/u/abc>",
		"<mailto:unsub@shop.example.com>", "one_click", CHECK_FAIL, "https");
	variant("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n", "", "one_click", CHECK_FAIL, NULL);
	variant("<p><a href=\"https://shop.example.com/u/abc\">Unsubscribe</a></p>", "", "body_unsubscribe",
		CHECK_FAIL, NULL);
	variant("<p><a href=\"https://shop.example.com/u/abc\">Unsubscribe</a></p>",
		"<p>To unsubscribe, reply with STOP.</p>", "body_unsubscribe", CHECK_WARN, NULL);
	variant("<a href=\"https://shop.example.com/u/abc\">Unsubscribe</a>",
		"<a href=\"https://shop.example.com/prefs?t=1\">Unsubscribe</a>", "body_unsubscribe", CHECK_PASS,
		"next to the link");
	variant(HDR_DKIM, "", "dkim", CHECK_FAIL, "no DKIM-Signature");
	variant("d=example.com", "d=esp.example.net", "dkim", CHECK_FAIL, "not aligned");
	variant("s=sel1;", "s=sel1; l=100;", "dkim", CHECK_WARN, "l=");
	variant("h=from:to:", "h=to:", "dkim", CHECK_WARN, "From");
	variant("12 Market Street, Springfield, IL 62701", "Springfield", "postal_address", CHECK_WARN, NULL);
	variant("You are receiving this because you subscribed at shop.example.com.", "Thanks.", "why_received",
		CHECK_WARN, NULL);
	variant("<html><body>", "<html><body><script>x()</script>", "html_content", CHECK_FAIL, "script");
	variant("<html><body>", "<html><body><iframe src=\"https://a.example/\"></iframe>", "html_content",
		CHECK_FAIL, "iframe");
	variant("<html><body>", "<html><body><form action=\"https://a.example/\"></form>", "html_content", CHECK_FAIL,
		"form");
	variant("<html><body>", "<html><head><meta http-equiv=\"refresh\" content=\"0;url=https://a.example/\"></head><body>",
		"html_content", CHECK_FAIL, "meta refresh");
	variant("https://shop.example.com/dec", "http://198.18.0.7/dec", "link_hosts", CHECK_FAIL, "198.18.0.7");
	variant("https://shop.example.com/dec", "http://3232235777/dec", "link_hosts", CHECK_FAIL, "IP address");
	variant("https://shop.example.com/dec", "http://paypal.com@evil.example/", "link_hosts", CHECK_FAIL, NULL);
	variant("https://shop.example.com/dec", "https://bit.ly/x1", "link_redirects", CHECK_FAIL, "shortener");
	variant("https://shop.example.com/dec", "https://www.google.com/url?q=https://evil.example/", "link_redirects",
		CHECK_FAIL, "redirector");
	variant("Subject: December offers", "Subject: DECEMBER OFFERS FOR YOU", "subject", CHECK_WARN, "capitals");
	variant("Subject: December offers", "Subject: RE: your order", "subject", CHECK_WARN, "reply");
	variant("Subject: December offers", "Subject: RE: your order\r\nIn-Reply-To: <a@b.example>", "subject",
		CHECK_PASS, NULL);
	variant("Subject: December offers", "Subject: ", "subject", CHECK_FAIL, "empty");
	variant("Subject: December offers", "Subject: =?utf-8?q?D=C3=A9cembre?=", "subject", CHECK_PASS, "Décembre");
}

static void test_structure(void **state)
{
	struct checklist cl;
	char *m;

	run("", 0, NULL, &cl, NULL);
	assert_int_equal(status_of(&cl, "structure"), CHECK_FAIL);
	assert_int_equal(checklist_result(&cl), CHECK_FAIL);
	checklist_fini(&cl);
	run("x", 1, NULL, &cl, NULL);
	assert_int_equal(status_of(&cl, "structure"), CHECK_FAIL);
	checklist_fini(&cl);
	/* headers only */
	run(HDR_FROM HDR_DATE, strlen(HDR_FROM HDR_DATE), NULL, &cl, NULL);
	assert_int_equal(status_of(&cl, "structure"), CHECK_FAIL);
	assert_non_null(strstr(reason_of(&cl, "structure"), "blank line"));
	checklist_fini(&cl);
	/* a header line that is not a field */
	variant(HDR_DATE, "this is not a header\r\n", "structure", CHECK_FAIL, "line 2");
	/* a 1200-byte line */
	m = calloc(1, sizeof(good) + 1300);
	strcpy(m, HDR_FROM "X-Long: ");
	memset(m + strlen(m), 'a', 1200);
	strcat(m, "\r\n" HDR_DATE HDR_MID HDR_LIST HDR_DKIM HDR_REST BODY);
	run(m, strlen(m), NULL, &cl, NULL);
	assert_int_equal(status_of(&cl, "structure"), CHECK_FAIL);
	assert_non_null(strstr(reason_of(&cl, "structure"), "998"));
	checklist_fini(&cl);
	free(m);
	/* bare LF: a warning */
	run("From: a@b.example\nDate: Thu, 03 Dec 2026 10:00:00 +0100\n\nhi\n", 59, NULL, &cl, NULL);
	assert_int_equal(status_of(&cl, "structure"), CHECK_WARN);
	checklist_fini(&cl);
	/* NUL bytes and 8-bit junk in headers: no crash, a fail */
	{
		char junk[64] = "From: \xff\xfe\x00\x01@x\r\nSubject: \x80\x81\r\n\r\n\x00\x00";

		run(junk, 40, NULL, &cl, NULL);
		assert_int_equal(checklist_result(&cl), CHECK_FAIL);
		checklist_fini(&cl);
	}
}

static void test_request(void **state)
{
	struct checklist cl;
	struct lint_request r = { .unsubscribe_url = "https://shop.example.com/u/abc",
				  .signup_url = "https://shop.example.com/newsletter",
				  .consent_method = "double opt-in via the sign-up form, confirmation e-mail" };

	run(good, strlen(good), &r, &cl, NULL);
	assert_int_equal(checklist_result(&cl), CHECK_PASS);
	assert_string_equal(cl.v[0].name, "sample_size");
	checklist_fini(&cl);
	r.unsubscribe_url = "https://SHOP.example.com/u/abc/";
	run(good, strlen(good), &r, &cl, NULL);
	assert_int_equal(status_of(&cl, "unsubscribe_url"), CHECK_PASS);
	checklist_fini(&cl);
	r.unsubscribe_url = "https://shop.example.com/other";
	run(good, strlen(good), &r, &cl, NULL);
	assert_int_equal(status_of(&cl, "unsubscribe_url"), CHECK_FAIL);
	checklist_fini(&cl);
	r.unsubscribe_url = "http://shop.example.com/u/abc";
	run(good, strlen(good), &r, &cl, NULL);
	assert_int_equal(status_of(&cl, "unsubscribe_url"), CHECK_FAIL);
	checklist_fini(&cl);
	r.signup_url = "http://198.18.0.9/signup";
	r.consent_method = "yes";
	run(good, strlen(good), &r, &cl, NULL);
	assert_int_equal(status_of(&cl, "signup_url"), CHECK_FAIL);
	assert_int_equal(status_of(&cl, "consent_method"), CHECK_WARN);
	checklist_fini(&cl);
	r.signup_url = "http://shop.example.com/signup";
	r.consent_method = "  ";
	run(good, strlen(good), &r, &cl, NULL);
	assert_int_equal(status_of(&cl, "signup_url"), CHECK_WARN);
	assert_int_equal(status_of(&cl, "consent_method"), CHECK_FAIL);
	checklist_fini(&cl);
	run("", 0, &r, &cl, NULL);
	assert_int_equal(status_of(&cl, "sample_size"), CHECK_FAIL);
	checklist_fini(&cl);
}

static void test_org_domain(void **state)
{
	char o[256];

	lint_org_domain("news.shop.example.co.uk", o, sizeof(o));
	assert_string_equal(o, "example.co.uk");
	lint_org_domain("a.b.example.com", o, sizeof(o));
	assert_string_equal(o, "example.com");
	lint_org_domain("example.com", o, sizeof(o));
	assert_string_equal(o, "example.com");
}

static void test_checklist_json(void **state)
{
	struct checklist a, b;
	json_t *j;

	checklist_init(&a);
	checklist_add(&a, "x", CHECK_WARN, "reason with \x01 control");
	checklist_add(&a, "y", CHECK_PASS, "ok");
	assert_non_null(strchr(a.v[0].reason, '?'));
	j = checklist_json(&a);
	assert_string_equal(json_string_value(json_object_get(j, "result")), "warn");
	checklist_init(&b);
	assert_int_equal(checklist_from_json(&b, json_object_get(j, "checks")), 0);
	assert_int_equal(b.n, 2);
	assert_int_equal(b.v[0].status, CHECK_WARN);
	checklist_take(&a, &b);
	assert_int_equal(a.n, 4);
	assert_int_equal(b.n, 0);
	for (int i = 0; i < CHECKLIST_MAX + 10; i++)
		checklist_add(&a, "z", CHECK_FAIL, "%d", i);
	assert_int_equal(a.n, CHECKLIST_MAX);
	assert_true(a.dropped >= 10);
	json_decref(j);
	checklist_fini(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_defects),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_org_domain),
		cmocka_unit_test(test_checklist_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
