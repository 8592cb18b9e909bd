/* SPDX-License-Identifier: MIT */
/* Unit tests of message.c (with mime.c, links.c, html.c): header facts,
 * RFC 2047, address lists, DKIM tags, MIME structure and transfer
 * encodings, link classification, HTML flags, caps, and split invariance. */
#include "testutil.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#endif
#ifdef TEST_ASAN
#include <sanitizer/allocator_interface.h>
#endif

#include "html.h"
#include "links.h"
#include "message.h"
#include "mime.h"

static const char *const shorteners[] = { "bit.ly", "tinyurl.com", "t.co", "goo.gl" };

static struct message_config cfg_default(void)
{
	struct message_config c;

	message_config_default(&c);
	c.shorteners = shorteners;
	c.n_shorteners = sizeof(shorteners) / sizeof(shorteners[0]);
	return c;
}

/* Feed text in pieces of `step` bytes (0: whole); returns the message. */
static struct message *feed(const struct message_config *c, const char *text, size_t step)
{
	struct message *m = message_new(c);
	size_t len = strlen(text), i;

	assert_non_null(m);
	if (step == 0)
		step = len ? len : 1;
	for (i = 0; i < len; i += step)
		message_feed(m, (const uint8_t *)text + i, len - i < step ? len - i : step);
	return m;
}

static bool str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static bool facts_equal(const struct message_facts *a, const struct message_facts *b)
{
	return str_eq(a->message_id, b->message_id) && str_eq(a->date, b->date) &&
	       str_eq(a->from, b->from) && str_eq(a->from_addr, b->from_addr) &&
	       str_eq(a->subject, b->subject) && str_eq(a->subject_raw, b->subject_raw) &&
	       str_eq(a->list_unsubscribe, b->list_unsubscribe) &&
	       str_eq(a->list_unsubscribe_post, b->list_unsubscribe_post) &&
	       str_eq(a->list_id, b->list_id) && str_eq(a->precedence, b->precedence) &&
	       str_eq(a->auto_submitted, b->auto_submitted) &&
	       str_eq(a->dkim_domain, b->dkim_domain) && str_eq(a->dkim_selector, b->dkim_selector) &&
	       a->dkim_signatures == b->dkim_signatures && str_eq(a->x_mailer, b->x_mailer) &&
	       str_eq(a->user_agent, b->user_agent) && str_eq(a->content_type, b->content_type) &&
	       str_eq(a->in_reply_to, b->in_reply_to) && a->to_count == b->to_count &&
	       a->cc_count == b->cc_count && a->received_count == b->received_count &&
	       a->header_count == b->header_count && a->header_bytes == b->header_bytes &&
	       a->body_bytes == b->body_bytes && a->parts == b->parts &&
	       a->attachments == b->attachments && a->header_truncated == b->header_truncated &&
	       a->mime_truncated == b->mime_truncated &&
	       memcmp(&a->links, &b->links, sizeof(a->links)) == 0 &&
	       memcmp(&a->html, &b->html, sizeof(a->html)) == 0 &&
	       memcmp(&a->fingerprint, &b->fingerprint, sizeof(a->fingerprint)) == 0;
}

static const char hdr_msg[] =
	"Received: from a by b; Mon, 2 Mar 2026 10:00:00 +0000\r\n"
	"Received: from c\r\n\tby d; Mon, 2 Mar 2026 10:00:01 +0000\r\n"
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=News.Exa\r\n"
	"\tmple.ORG; s=sel\r\n 2026; h=from:to; bh=47DEQ=;\r\n b=dGhp cyBp\r\n"
	"DKIM-Signature: v=1; d=other.example; s=x; b=abc\r\n"
	"From: \"Doe, John\" (the boss) <John.Doe@Example.COM>\r\n"
	"To: a@x.example, \"Smith, Ann\" <ann@x.example>, (c, d) bob@x.example\r\n"
	"to: undisclosed-recipients:;\r\n"
	"TO: Team: t1@x.example, t2@x.example;, last@x.example\r\n"
	"Cc: <c1@y.example>,\r\n c2@y.example\r\n"
	"SUBJECT:=?UTF-8?B?V2Vla2x5IGRpZ2VzdCDigJMgaXNzdWUgNDI=?=\r\n"
	" =?UTF-8?Q?_and_more?=\r\n"
	"Subject: second subject ignored\r\n"
	"message-id:  <digest-42@news.example.org> \r\n"
	"Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n"
	"List-Unsubscribe: <mailto:u@news.example.org>,\r\n <https://news.example.org/u/42>\r\n"
	"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
	"List-Id: Example News <news.example.org>\r\n"
	"Precedence: BULK\r\n"
	"Auto-Submitted: auto-generated\r\n"
	"X-Mailer: Mailer 1.0\r\n"
	"User-Agent: Agent/2\r\n"
	"In-Reply-To: <prev@example.org>\r\n"
	"Content-Type: Text/Plain; charset=utf-8\r\n"
	"\r\n"
	"Hello world, this is the body.\r\n";

static void test_headers(void **state)
{
	struct message_config c = cfg_default();
	struct message *m = feed(&c, hdr_msg, 0);
	const struct message_facts *f = message_finish(m);
	const char *body = strstr(hdr_msg, "\r\n\r\n") + 4;

	(void)state;
	assert_string_equal(f->message_id, "digest-42@news.example.org");
	assert_string_equal(f->date, "Mon, 02 Mar 2026 10:00:00 +0000");
	assert_string_equal(f->from, "\"Doe, John\" (the boss) <John.Doe@Example.COM>");
	assert_string_equal(f->from_addr, "John.Doe@example.com");
	assert_string_equal(f->subject, "Weekly digest \xe2\x80\x93 issue 42 and more");
	assert_string_equal(f->subject_raw,
			    "=?UTF-8?B?V2Vla2x5IGRpZ2VzdCDigJMgaXNzdWUgNDI=?= =?UTF-8?Q?_and_more?=");
	assert_string_equal(f->list_unsubscribe,
			    "<mailto:u@news.example.org>, <https://news.example.org/u/42>");
	assert_string_equal(f->list_unsubscribe_post, "List-Unsubscribe=One-Click");
	assert_string_equal(f->list_id, "Example News <news.example.org>");
	assert_string_equal(f->precedence, "bulk");
	assert_string_equal(f->auto_submitted, "auto-generated");
	assert_string_equal(f->dkim_domain, "news.example.org");
	assert_string_equal(f->dkim_selector, "sel2026");
	assert_int_equal(f->dkim_signatures, 2);
	assert_string_equal(f->x_mailer, "Mailer 1.0");
	assert_string_equal(f->user_agent, "Agent/2");
	assert_string_equal(f->in_reply_to, "<prev@example.org>");
	assert_string_equal(f->content_type, "text/plain");
	assert_int_equal(f->to_count, 3 + 0 + 3);
	assert_int_equal(f->cc_count, 2);
	assert_int_equal(f->received_count, 2);
	assert_int_equal(f->header_count, 22);
	assert_int_equal(f->header_bytes, (uint64_t)(body - hdr_msg));
	assert_int_equal(f->body_bytes, strlen(body));
	assert_int_equal(f->parts, 1);
	assert_int_equal(f->attachments, 0);
	assert_false(f->header_truncated);
	assert_false(f->mime_truncated);
	assert_int_equal(f->fingerprint.words, 6);
	assert_false(f->html.present);
	message_free(m);
}

static void test_headers_lf_only(void **state)
{
	struct message_config c = cfg_default();
	struct message *m = feed(&c,
		"From: a@B.example\nSubject: hi\n there\nTo: x@y, z@w\n\nbody text\n", 0);
	const struct message_facts *f = message_finish(m);

	(void)state;
	assert_string_equal(f->subject, "hi there");
	assert_string_equal(f->from_addr, "a@b.example");
	assert_int_equal(f->to_count, 2);
	assert_int_equal(f->header_count, 3);
	assert_int_equal(f->body_bytes, 10);
	assert_null(f->message_id);
	assert_null(f->content_type);
	assert_int_equal(f->fingerprint.words, 2);
	message_free(m);
}

static void test_decode_words(void **state)
{
	char out[256];
	size_t n;

	(void)state;
	n = message_decode_words("=?utf-8?q?caf=C3=A9?= =?utf-8?b?w6k=?=", 38, out, sizeof(out));
	assert_string_equal(out, "caf\xc3\xa9\xc3\xa9");
	assert_int_equal(n, 7);
	message_decode_words("=?utf-8?q?a?= b =?utf-8?q?c?=", 29, out, sizeof(out));
	assert_string_equal(out, "a b c");
	message_decode_words("x =?ISO-8859-1?Q?Gr=FC=DFe?=  y", 31, out, sizeof(out));
	assert_string_equal(out, "x Gr\xc3\xbc\xc3\x9f" "e  y");
	message_decode_words("=?iso-8859-15?q?=A4?=", 21, out, sizeof(out));
	assert_string_equal(out, "\xe2\x82\xac");
	message_decode_words("=?windows-1252?Q?=93hi=94?=", 27, out, sizeof(out));
	assert_string_equal(out, "\xe2\x80\x9chi\xe2\x80\x9d");
	message_decode_words("=?us-ascii?Q?plain_text?=", 25, out, sizeof(out));
	assert_string_equal(out, "plain text");
	/* unknown charset: kept as written, with the space after it */
	message_decode_words("=?koi8-r?B?8NLJ18XU?= =?utf-8?q?x?=", 35, out, sizeof(out));
	assert_string_equal(out, "=?koi8-r?B?8NLJ18XU?= x");
	/* malformed words are plain text */
	message_decode_words("=?utf-8?x?abc?= =?utf-8?q?no end", 32, out, sizeof(out));
	assert_string_equal(out, "=?utf-8?x?abc?= =?utf-8?q?no end");
	message_decode_words("=?utf-8?q?has space?=", 21, out, sizeof(out));
	assert_string_equal(out, "=?utf-8?q?has space?=");
	/* RFC 2231 language suffix; lower-case b */
	message_decode_words("=?UTF-8*en?b?aGk=?=", 19, out, sizeof(out));
	assert_string_equal(out, "hi");
	/* truncation never cuts a UTF-8 sequence */
	n = message_decode_words("=?utf-8?q?ab=C3=A9?=", 20, out, 4);
	assert_int_equal(n, 2);
	assert_string_equal(out, "ab");
	n = message_decode_words("=?iso-8859-1?q?a=E9?=", 21, out, 3);
	assert_string_equal(out, "a");
	n = message_decode_words("abc", 3, out, 1);
	assert_int_equal(n, 0);
	assert_string_equal(out, "");
}

static void test_addresses(void **state)
{
	char out[64];
	const char *v;

	(void)state;
	v = "undisclosed-recipients:;";
	assert_int_equal(mime_addr_count(v, strlen(v)), 0);
	v = "Group: a@b, c@d;";
	assert_int_equal(mime_addr_count(v, strlen(v)), 2);
	v = "\"Last, First\" <f@l.example>, (x, y) z@z.example, <@r1,@r2:u@v.example>";
	assert_int_equal(mime_addr_count(v, strlen(v)), 3);
	v = "a@b,,, ,c@d";
	assert_int_equal(mime_addr_count(v, strlen(v)), 2);
	v = "";
	assert_int_equal(mime_addr_count(v, 0), 0);
	v = "\"unterminated, quote <a@b>";
	assert_int_equal(mime_addr_count(v, strlen(v)), 1);
	v = "(nested (comment, here)) a@b";
	assert_int_equal(mime_addr_count(v, strlen(v)), 1);
	v = "<@r1,@r2:User@V.Example>";
	assert_int_equal(mime_first_addr(v, strlen(v), out, sizeof(out)), 14);
	assert_string_equal(out, "User@v.example");
	v = "user@Dom.Example (Real Name)";
	mime_first_addr(v, strlen(v), out, sizeof(out));
	assert_string_equal(out, "user@dom.example");
	v = "Team: x@Y.z;";
	mime_first_addr(v, strlen(v), out, sizeof(out));
	assert_string_equal(out, "x@y.z");
	assert_int_equal(mime_first_addr("", 0, out, sizeof(out)), 0);
}

static void test_mime_helpers(void **state)
{
	char out[64];
	const char *v;

	(void)state;
	v = "multipart/mixed; charset=x; boundary=\"=_a\\\"b;c\" ; name=foo";
	assert_int_equal(mime_media_type(v, strlen(v), out, sizeof(out)), 15);
	assert_string_equal(out, "multipart/mixed");
	assert_int_equal(mime_param(v, strlen(v), "boundary", false, out, sizeof(out)), 7);
	assert_string_equal(out, "=_a\"b;c");
	assert_int_equal(mime_param(v, strlen(v), "name", false, out, sizeof(out)), 3);
	assert_int_equal(mime_param(v, strlen(v), "filename", true, out, sizeof(out)), -1);
	v = "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf";
	assert_true(mime_param(v, strlen(v), "filename", true, out, sizeof(out)) > 0);
	assert_int_equal(mime_param(v, strlen(v), "filename", false, out, sizeof(out)), -1);
	v = "(comment) TEXT/HTML ; boundary=abc def ";
	mime_media_type(v, strlen(v), out, sizeof(out));
	assert_string_equal(out, "text/html");
	assert_int_equal(mime_param(v, strlen(v), "boundary", false, out, sizeof(out)), 7);
	assert_int_equal(mime_cte_parse(" Quoted-Printable ", 18), MIME_CTE_QP);
	assert_int_equal(mime_cte_parse("BASE64", 6), MIME_CTE_BASE64);
	assert_int_equal(mime_cte_parse("8bit", 4), MIME_CTE_RAW);
	v = "v=1; d = exa mple.com ; s=\r\n sel; dd=no";
	assert_int_equal(mime_dkim_tag(v, strlen(v), "d", out, sizeof(out)), 11);
	assert_string_equal(out, "example.com");
	assert_int_equal(mime_dkim_tag(v, strlen(v), "s", out, sizeof(out)), 3);
	assert_int_equal(mime_dkim_tag(v, strlen(v), "x", out, sizeof(out)), -1);
}

static void test_decoders(void **state)
{
	struct mime_decoder d;
	uint8_t out[128];
	const char *qp = "caf=C3=A9 soft=\r\nbreak =3d=\nx=ZZ end=";
	const char *b64 = "aGVs\r\nbG8g*d29y!bGQ=aGk";
	size_t n, i, total;
	char all[128];

	(void)state;
	mime_decoder_init(&d, MIME_CTE_QP);
	n = mime_decode(&d, (const uint8_t *)qp, strlen(qp), out);
	n += mime_decode_finish(&d, out + n);
	assert_int_equal(n, strlen("caf\xc3\xa9 softbreak =x=ZZ end="));
	assert_memory_equal(out, "caf\xc3\xa9 softbreak =x=ZZ end=", n);
	/* byte by byte gives the same */
	mime_decoder_init(&d, MIME_CTE_QP);
	for (total = 0, i = 0; i < strlen(qp); i++)
		total += mime_decode(&d, (const uint8_t *)qp + i, 1, (uint8_t *)all + total);
	total += mime_decode_finish(&d, (uint8_t *)all + total);
	assert_int_equal(total, n);
	assert_memory_equal(all, out, n);
	mime_decoder_init(&d, MIME_CTE_BASE64);
	n = mime_decode(&d, (const uint8_t *)b64, strlen(b64), out);
	n += mime_decode_finish(&d, out + n);
	assert_int_equal(n, 13);
	assert_memory_equal(out, "hello worldhi", 13);
}

static const char mp_msg[] =
	"From: a@b\r\n"
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
	"\r\n"
	"This is the preamble: ignored words.\r\n"
	"--outer\r\n"
	"Content-Type: multipart/alternative; boundary=inner\r\n"
	"\r\n"
	"--inner\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"Content-Transfer-Encoding: quoted-printable\r\n"
	"\r\n"
	"Visit http://bit.ly/abc or www.example.com for a caf=C3=A9 =\r\n"
	"offer.\r\n"
	"--inner\r\n"
	"Content-Type: text/html\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"PGh0bWw+PGJvZHk+PHA+SGVsbG8gPGEgaHJlZj0iaHR0cDovLzE5Mi4xNjguMS4xL3gi\r\n"
	"PndvcmxkPC9hPjwvcD48L2JvZHk+PC9odG1sPg==\r\n"
	"--inner--\r\n"
	"--outer\r\n"
	"Content-Type: application/pdf; name=\"x.pdf\"\r\n"
	"Content-Disposition: attachment; filename=\"x.pdf\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"JVBERi0xLjQK\r\n"
	"--outer\r\n"
	"Content-Type: text/plain\r\n"
	"Content-Disposition: attachment; filename=notes.txt\r\n"
	"\r\n"
	"attached text is not fingerprinted\r\n"
	"--outer--\r\n"
	"epilogue words are ignored too\r\n";

static void test_multipart(void **state)
{
	struct message_config c = cfg_default();
	struct message *m = feed(&c, mp_msg, 0), *m2;
	const struct message_facts *f = message_finish(m), *f2;

	(void)state;
	assert_string_equal(f->content_type, "multipart/mixed");
	assert_int_equal(f->parts, 4);
	assert_int_equal(f->attachments, 2);
	assert_false(f->mime_truncated);
	assert_true(f->html.present);
	assert_int_equal(f->links.count, 3);
	assert_int_equal(f->links.shortener, 1);
	assert_int_equal(f->links.ip_literal, 1);
	assert_int_equal(f->links.distinct_hosts, 3);
	/* the text of the two leaves, nothing else */
	m2 = feed(&c, "\r\nVisit http://bit.ly/abc or www.example.com for a caf\xc3\xa9 offer.\r\n"
		  " Hello world ", 0);
	f2 = message_finish(m2);
	assert_memory_equal(f->fingerprint.digest, f2->fingerprint.digest, 16);
	assert_int_equal(f->fingerprint.words, f2->fingerprint.words);
	message_free(m2);
	message_free(m);
}

static void test_encodings_same_fingerprint(void **state)
{
	struct message_config c = cfg_default();
	struct message *m1, *m2, *m3;
	const struct message_facts *f1, *f2, *f3;

	(void)state;
	m1 = feed(&c, "Content-Type: text/plain\r\n\r\nGr\xc3\xbc\xc3\x9f" "e aus Berlin, 100 Euro!\r\n", 0);
	m2 = feed(&c, "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		  "Gr=C3=BC=C3=9Fe aus =\r\nBerlin, 100 Euro!\r\n", 0);
	m3 = feed(&c, "Content-Transfer-Encoding: base64\r\n\r\n"
		  "R3LDvMOfZSBhdXMgQmVy\r\nbGluLCAxMDAgRXVybyEN\r\nCg==\r\n", 0);
	f1 = message_finish(m1);
	f2 = message_finish(m2);
	f3 = message_finish(m3);
	assert_int_equal(f1->fingerprint.words, 5);
	assert_memory_equal(f1->fingerprint.digest, f2->fingerprint.digest, 16);
	assert_memory_equal(f1->fingerprint.digest, f3->fingerprint.digest, 16);
	assert_memory_equal(f1->fingerprint.minhash, f3->fingerprint.minhash,
			    sizeof(f1->fingerprint.minhash));
	message_free(m1);
	message_free(m2);
	message_free(m3);
}

static void test_mime_depth(void **state)
{
	struct message_config c = cfg_default();
	char msg[4096];
	size_t off = 0;
	int i;
	struct message *m;
	const struct message_facts *f;

	(void)state;
	c.max_mime_depth = 3;
	off += (size_t)snprintf(msg + off, sizeof(msg) - off,
				"Content-Type: multipart/mixed; boundary=b0\r\n\r\n");
	for (i = 0; i < 5; i++)
		off += (size_t)snprintf(msg + off, sizeof(msg) - off,
					"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n",
					i, i + 1);
	off += (size_t)snprintf(msg + off, sizeof(msg) - off,
				"--b5\r\nContent-Type: text/plain\r\n\r\ndeep text\r\n--b5--\r\n");
	m = feed(&c, msg, 0);
	f = message_finish(m);
	assert_true(f->mime_truncated);
	assert_int_equal(f->parts, 1);
	assert_int_equal(f->fingerprint.words, 0);   /* opaque: not analysed */
	message_free(m);
}

static void test_links(void **state)
{
	struct message_config c = cfg_default();
	struct links l;
	char host[LINKS_HOST_MAX];
	struct message *m;
	const struct message_facts *f;

	(void)state;
	links_init(&l, shorteners, 4);
#define CL(u) links_classify(&l, u, strlen(u), host)
	assert_int_equal(CL("http://3232235777/"), LINKS_F_LINK | LINKS_F_IP);
	assert_int_equal(CL("http://0xC0.0xA8.1.1/x"), LINKS_F_LINK | LINKS_F_IP);
	assert_int_equal(CL("http://0300.0250.01.01"), LINKS_F_LINK | LINKS_F_IP);
	assert_int_equal(CL("https://192.168.1.1:8080/"), LINKS_F_LINK | LINKS_F_IP);
	assert_string_equal(host, "192.168.1.1");
	assert_int_equal(CL("http://[2001:db8::1]:80/"), LINKS_F_LINK | LINKS_F_IP);
	assert_string_equal(host, "2001:db8::1");
	assert_int_equal(CL("http://1.2.3.4.5/"), LINKS_F_LINK);
	assert_int_equal(CL("http://256.1.1.1/"), LINKS_F_LINK);
	assert_int_equal(CL("http://09.1.1.1/"), LINKS_F_LINK);   /* bad octal: a name */
	assert_int_equal(CL("http://paypal.com@evil.example/"), LINKS_F_LINK | LINKS_F_ENCODED);
	assert_string_equal(host, "evil.example");
	assert_int_equal(CL("http://%65vil.example/"), LINKS_F_LINK | LINKS_F_ENCODED);
	assert_string_equal(host, "evil.example");
	assert_int_equal(CL("http://xn--pple-43d.com/"), LINKS_F_LINK | LINKS_F_ENCODED);
	assert_int_equal(CL("HTTPS://WWW.Bit.Ly./x"), LINKS_F_LINK | LINKS_F_SHORTENER);
	assert_string_equal(host, "www.bit.ly");
	assert_int_equal(CL("http://notbit.ly/"), LINKS_F_LINK);
	assert_int_equal(CL("  //t.co/x"), LINKS_F_LINK | LINKS_F_SHORTENER);
	assert_int_equal(CL("http:\\\\goo.gl\\x"), LINKS_F_LINK | LINKS_F_SHORTENER);
	assert_int_equal(CL("www.example.com"), LINKS_F_LINK);
	assert_int_equal(CL("mailto:x@y"), LINKS_F_MAILTO);
	assert_int_equal(CL("javascript:alert(1)"), 0);
	assert_int_equal(CL("/relative/path"), 0);
	assert_int_equal(CL("cid:part1"), 0);
	assert_int_equal(CL("http:///"), 0);
#undef CL
	links_fini(&l);

	m = feed(&c, "Subject: links\r\n\r\n"
		 "See http://example.com/a, (https://Example.com/b) and <www.other.example>.\r\n"
		 "Mail mailto:x@y or visit ftp://files.example/f. Not a link: awww.x notwww.y\r\n"
		 "IP http://10.0.0.1/ and http://tinyurl.com/q https://x.t.co/z\r\n"
		 "\xe8\xaf\xb7\xe8\xae\xbf\xe9\x97\xaehttp://cn.example\xe3\x80\x82\r\n", 3);
	f = message_finish(m);
	assert_int_equal(f->links.count, 8);
	assert_int_equal(f->links.mailto, 1);
	assert_int_equal(f->links.ip_literal, 1);
	assert_int_equal(f->links.shortener, 2);
	assert_int_equal(f->links.encoded_host, 0);
	assert_int_equal(f->links.distinct_hosts, 7);
	message_free(m);
}

static const char html_msg[] =
	"Content-Type: text/html; charset=utf-8\r\n"
	"\r\n"
	"<!DOCTYPE html><HTML><head><STYLE>p{color:red} @import url( 'https://css.example/a.css' );"
	"</style><Script type=\"text/javascript\">var secret = \"<b>hidden words</b>\";</SCRIPT>\r\n"
	"<meta http-equiv='Refresh' content=\"0; URL=http://refresh.example/\"></head>\r\n"
	"<body><p>Caf&eacute; &amp; tea&nbsp;time &#8364;5 &#x41;BC vi&zwnj;agra</p><!-- comment words -->"
	"<a href=http://a.example/x?y=1&amp;z=2>click</a><IMG SRC=\"//img.example/p.png\">"
	"<iframe src=\"https://frame.example/\"></iframe><form action=\"/x\"></form>"
	"<embed src=x.swf><div>Hel<b>lo</b><br>there</div>"
	"<a href='mailto:someone@example.org'>mail</a></body></html>\r\n";

/* Named references are found by binary search in a sorted table: names
 * from both ends, the middle, case pairs and prefixes of one another all
 * decode (also without the ';', as browsers do), and a name that is only
 * a prefix of one, or another's case, does not. */
static void test_html_named_refs(void **state)
{
	char buf[512];
	const char in[] = "&AElig;&zwnj;x&zwj;&Ouml;&ouml;&ETH;&eth;&Eacute;&ordf;&ordm;&lt;&gt;&amp;&quot;"
			  "&szlig;&euro;&hellip;&yuml;&thorn;&THORN;&nbsp;&shy;|&et;&AMP;&zwn;&aelig";
	const char want[] = "\xc3\x86x\xc3\x96\xc3\xb6\xc3\x90\xc3\xb0\xc3\x89\xc2\xaa\xc2\xba<>&\""
			    "\xc3\x9f\xe2\x82\xac\xe2\x80\xa6\xc3\xbf\xc3\xbe\xc3\x9e |&et;&AMP;&zwn;\xc3\xa6";
	size_t n;

	(void)state;
	memcpy(buf, in, sizeof(in));
	n = html_decode_entities(buf, strlen(buf));
	assert_int_equal(n, strlen(want));
	assert_memory_equal(buf, want, n);
}

static void test_html(void **state)
{
	struct message_config c = cfg_default();
	struct message *m = feed(&c, html_msg, 0), *m2;
	const struct message_facts *f = message_finish(m), *f2;

	(void)state;
	assert_true(f->html.present);
	assert_true(f->html.script);
	assert_true(f->html.iframe);
	assert_true(f->html.form);
	assert_true(f->html.object);
	assert_true(f->html.meta_refresh);
	assert_true(f->html.external_css);
	assert_int_equal(f->links.count, 4);   /* meta refresh, a href, img src, iframe src */
	assert_int_equal(f->links.mailto, 1);
	assert_int_equal(f->links.distinct_hosts, 4);
	/* visible text only: no script, style or comment words */
	m2 = feed(&c, "\r\nCaf\xc3\xa9 & tea time \xe2\x82\xac" "5 ABC viagra click Hello there mail", 0);
	f2 = message_finish(m2);
	assert_int_equal(f->fingerprint.words, f2->fingerprint.words);
	assert_memory_equal(f->fingerprint.digest, f2->fingerprint.digest, 16);
	message_free(m2);
	message_free(m);
}

static void test_html_css_variants(void **state)
{
	struct message_config c = cfg_default();
	struct message *m;
	const struct message_facts *f;

	(void)state;
	m = feed(&c, "Content-Type: text/html\r\n\r\n"
		 "<link href=\"HTTPS://cdn.example/s.css\" REL=\"Stylesheet\"><p>x</p>", 1);
	f = message_finish(m);
	assert_true(f->html.external_css);
	assert_false(f->html.script);
	message_free(m);
	m = feed(&c, "Content-Type: text/html\r\n\r\n"
		 "<link rel=stylesheet href=\"/local.css\"><style>@import \"local.css\";</style>"
		 "<meta http-equiv=\"content-type\" content=\"text/html\">", 0);
	f = message_finish(m);
	assert_false(f->html.external_css);
	assert_false(f->html.meta_refresh);
	assert_int_equal(f->links.count, 0);
	message_free(m);
	/* a plain-text part mentioning tags sets nothing */
	m = feed(&c, "\r\n<script>alert(1)</script> <iframe>\r\n", 0);
	f = message_finish(m);
	assert_false(f->html.present);
	assert_false(f->html.script);
	assert_false(f->html.iframe);
	message_free(m);
}

static void test_caps(void **state)
{
	struct message_config c = cfg_default();
	char *msg;
	size_t off = 0, i;
	struct message *m;
	const struct message_facts *f;

	(void)state;
	c.max_header_bytes = 512;    /* per field */
	c.max_field = 32;
	msg = malloc(16384);
	assert_non_null(msg);
	/* many small fields: all parsed, values capped at max_field */
	off += (size_t)snprintf(msg + off, 16384 - off,
				"Subject: a very long subject line that goes on and on and on\r\n");
	for (i = 0; i < 40; i++)
		off += (size_t)snprintf(msg + off, 16384 - off, "Received: from h%02zu by x\r\n", i);
	off += (size_t)snprintf(msg + off, 16384 - off, "\r\nbody words here\r\n");
	m = feed(&c, msg, 7);
	f = message_finish(m);
	assert_false(f->header_truncated);
	assert_int_equal(f->header_count, 41);
	assert_int_equal(f->received_count, 40);
	assert_int_equal(strlen(f->subject), 31);
	assert_int_equal(strlen(f->subject_raw), 31);
	assert_int_equal(f->body_bytes, strlen("body words here\r\n"));
	assert_int_equal(f->fingerprint.words, 3);
	message_free(m);

	/* one field larger than the cap is cut; the fields after it count */
	off = 0;
	off += (size_t)snprintf(msg + off, 16384 - off, "To: a0@example.org");
	for (i = 1; i < 100; i++)
		off += (size_t)snprintf(msg + off, 16384 - off, ",\r\n a%zu@example.org", i);
	off += (size_t)snprintf(msg + off, 16384 - off,
				"\r\nCc: x@y\r\nFrom: f@g\r\nSubject: after\r\n\r\nbody\r\n");
	m = feed(&c, msg, 5);
	f = message_finish(m);
	assert_true(f->header_truncated);
	assert_true(f->to_count > 10 && f->to_count < 100);
	assert_int_equal(f->cc_count, 1);
	assert_string_equal(f->subject, "after");
	assert_string_equal(f->from_addr, "f@g");
	assert_int_equal(f->header_count, 4);
	assert_true(message_memory(m) < 64 * 1024);
	message_free(m);
	free(msg);
}

static void test_split_invariance(void **state)
{
	struct message_config c = cfg_default();
	const char *msgs[] = { hdr_msg, mp_msg, html_msg };
	size_t k, step;

	(void)state;
	for (k = 0; k < 3; k++) {
		struct message *whole = feed(&c, msgs[k], 0);
		const struct message_facts *fw = message_finish(whole);

		for (step = 1; step <= 67; step += (step < 8 ? 1 : 6)) {
			struct message *m = feed(&c, msgs[k], step);

			assert_true(facts_equal(fw, message_finish(m)));
			message_free(m);
		}
		message_free(whole);
	}
}

static uint32_t rng_next(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Heap bytes in use: ASan's count (requested sizes) under ASan, else
 * glibc's (chunk sizes, with their overhead). */
static size_t heap_in_use(void)
{
#ifdef TEST_ASAN
	return __sanitizer_get_current_allocated_bytes();
#else
	return mallinfo2().uordblks;
#endif
}

/* A typical multipart/alternative message (as tests/bench generates them:
 * Postfix headers with a DKIM signature, an 8bit text/plain part, a
 * quoted-printable HTML part with a link per paragraph). */
static char *typical_message(size_t *len)
{
	static const char *const words[] = {
		"meeting", "schedule", "project", "report", "the", "of", "and", "please",
		"attached", "find", "regards", "thanks", "customer", "invoice", "update",
		"tomorrow", "morning", "budget", "quarter", "review", "your", "with",
	};
	static const char boundary[] = "----=_Part_4711_123456789.1798761600_alt";
	size_t cap = 16384, n = 0, i, p;
	char *b = malloc(cap);
	uint32_t seed = 12345;

	assert_non_null(b);
	n += (size_t)snprintf(b + n, cap - n,
		"Received: by mail.example.org (Postfix, from userid 1000)\r\n"
		"\tid 5F3A2B1C0D; Fri, 01 Jan 2027 00:00:00 +0000\r\n"
		"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;\r\n"
		"\ts=mail; t=1798761600; bh=Qm9keWhhc2hmb3J0aGViZW5jaG1hcmtpbmd2YWx1ZT0=;\r\n"
		"\th=From:To:Subject:Date:Message-ID;\r\n"
		"\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaGFzIHRoZSByaWdodCBsZW5ndGgg"
		"Zm9yIGEgMjA0OCBiaXQga2V5IHNpZ25hdHVyZSB2YWx1ZSBpbiBiYXNlNjQgZW5jb2Rpbmc\r\n"
		"\t dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaGFzIHRoZSByaWdodCBsZW5ndGgg"
		"Zm9yIGEgMjA0OCBiaXQga2V5IHNpZ25hdHVyZSB2YWx1ZSBpbiBiYXNlNjQgZW5jb2Rpbmc=\r\n"
		"From: Anna Schmidt <anna.schmidt@example.org>\r\n"
		"To: <ben.mueller@gmail.com>,\r\n\t<carla.weber@gmx.de>\r\n"
		"Subject: Re: meeting on 01 Jan 2027\r\n"
		"Date: Fri, 01 Jan 2027 00:00:00 +0000\r\n"
		"Message-ID: <5f3a2b1c0d9e8f7a.12345@example.org>\r\n"
		"MIME-Version: 1.0\r\n"
		"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
		"Thunderbird/128.5.0\r\n"
		"Content-Type: multipart/alternative;\r\n\tboundary=\"%s\"\r\n\r\n"
		"This is a multi-part message in MIME format.\r\n\r\n"
		"--%s\r\nContent-Type: text/plain; charset=UTF-8\r\n"
		"Content-Transfer-Encoding: 8bit\r\n\r\n", boundary, boundary);
	for (p = 0; p < 2; p++) {
		for (i = 0; i < 60; i++)
			n += (size_t)snprintf(b + n, cap - n, "%s%s", words[rng_next(&seed) % 22],
					      i % 10 == 9 ? "\r\n" : " ");
		n += (size_t)snprintf(b + n, cap - n, "end.\r\n\r\n");
	}
	n += (size_t)snprintf(b + n, cap - n, "--%s\r\nContent-Type: text/html; charset=UTF-8\r\n"
			      "Content-Transfer-Encoding: quoted-printable\r\n\r\n<html><body>\r\n",
			      boundary);
	for (p = 0; p < 2; p++) {
		n += (size_t)snprintf(b + n, cap - n, "<p style=3D\"font-family:Arial,sans-serif;"
				      "font-size:14px;color:#333333\">");
		for (i = 0; i < 60; i++)
			n += (size_t)snprintf(b + n, cap - n, "%s%s", words[rng_next(&seed) % 22],
					      i % 10 == 9 ? "=\r\n" : " ");
		n += (size_t)snprintf(b + n, cap - n, "end. <a href=3D\"https://www.example.com/"
				      "track?id=3D%zu\">read more</a></p>\r\n", p);
	}
	n += (size_t)snprintf(b + n, cap - n, "</body></html>\r\n--%s--\r\n", boundary);
	assert_true(n < cap - 1);
	*len = n;
	return b;
}

/* 100,000 concurrent sessions must fit: a parser in the middle of a
 * typical message holds at most 4 KiB, every allocation counted. */
static void test_memory_per_parser(void **state)
{
	enum { N = 10000 };
	struct message_config c = cfg_default();
	struct message **v = calloc(N, sizeof(*v));
	size_t len, half, before, after, i, k, per;
	char *msg = typical_message(&len);

	(void)state;
	assert_non_null(v);
	half = len / 2;
	before = heap_in_use();
	for (i = 0; i < N; i++) {
		v[i] = message_new(&c);
		assert_non_null(v[i]);
		for (k = 0; k < half; k += 1460)
			message_feed(v[i], (const uint8_t *)msg + k, half - k < 1460 ? half - k : 1460);
	}
	after = heap_in_use();
	per = (after - before) / N;
	printf("message: %zu bytes per parser half-way through a %zu-byte multipart message "
	       "(message_memory %zu)\n", per, len, message_memory(v[0]));
	assert_true(per <= 4096);
	assert_true(message_memory(v[0]) <= 4096);
	for (i = 0; i < N; i++) {
		const struct message_facts *f = message_finish(v[i]);

		if (i == 0)
			assert_int_equal(f->parts, 1);    /* only the first half */
		message_free(v[i]);
	}
	/* the whole message, for the record */
	v[0] = feed(&c, msg, 1460);
	{
		const struct message_facts *f = message_finish(v[0]);

		assert_int_equal(f->parts, 2);
		assert_true(f->html.present);
		assert_int_equal(f->links.count, 2);
		assert_int_equal(f->links.distinct_hosts, 1);
		assert_string_equal(f->from_addr, "anna.schmidt@example.org");
		assert_string_equal(f->dkim_domain, "example.org");
	}
	message_free(v[0]);
	free(msg);
	free(v);
}

/* Buffers allocated on demand grow to their caps and give the same facts
 * however the input is split. */
static void test_lazy_buffers(void **state)
{
	struct message_config c = cfg_default();
	size_t cap = 65536, n = 0, i, step;
	char *msg = malloc(cap), *url = malloc(4000);
	struct message *whole, *m;
	const struct message_facts *fw;

	(void)state;
	assert_non_null(msg);
	assert_non_null(url);
	/* a 3000-byte href (value cut at HTML_VALUE_MAX), a long meta refresh,
	 * a 2500-byte text token with a link, and 200 distinct hosts in text
	 * (the set saturates at LINKS_SET_MAX), each host twice */
	memset(url, 'u', 3000);
	url[3000] = '\0';
	n += (size_t)snprintf(msg + n, cap - n, "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
			      "--b\r\nContent-Type: text/html\r\n\r\n<a href=\"http://long.example/%s\">x</a>"
			      "<meta http-equiv=refresh content='1; url=http://meta.example/%.900s'>\r\n"
			      "--b\r\nContent-Type: text/plain\r\n\r\nword http://token.example/%.2500s\r\n",
			      url, url, url);
	for (i = 0; i < 400; i++)
		n += (size_t)snprintf(msg + n, cap - n, "see http://h%zu.example/ now\r\n", i % 200);
	n += (size_t)snprintf(msg + n, cap - n, "--b--\r\n");
	assert_true(n < cap - 1);
	whole = feed(&c, msg, 0);
	fw = message_finish(whole);
	assert_int_equal(fw->links.count, 403);
	assert_int_equal(fw->links.distinct_hosts, LINKS_SET_MAX);
	assert_true(fw->html.meta_refresh);
	assert_true(message_memory(whole) < 16 * 1024);
	for (step = 1; step < 3000; step = step * 3 + 1) {
		m = feed(&c, msg, step);
		assert_true(facts_equal(fw, message_finish(m)));
		message_free(m);
	}
	message_free(whole);

	/* fewer hosts than the first set holds, then more: exact counts */
	for (n = 0, i = 0; i < 40; i++)
		n += (size_t)snprintf(msg + n, cap - n, "%shttp://g%zu.example/ ", i ? "" : "\r\n",
				      i % 37);
	m = feed(&c, msg, 0);
	assert_int_equal(message_finish(m)->links.distinct_hosts, 37);
	message_free(m);
	free(url);
	free(msg);
}

static void test_edge_cases(void **state)
{
	struct message_config c = cfg_default();
	struct message *m;
	const struct message_facts *f;

	(void)state;
	message_free(NULL);
	assert_int_equal(message_memory(NULL), 0);
	/* empty */
	m = message_new(&c);
	f = message_finish(m);
	assert_true(f->fingerprint.empty);
	assert_int_equal(f->parts, 0);
	assert_int_equal(f->header_bytes, 0);
	assert_true(message_finish(m) == f);     /* idempotent */
	message_feed(m, (const uint8_t *)"x", 1); /* ignored after finish */
	assert_int_equal(f->header_bytes, 0);
	message_free(m);
	/* headers only, no final newline */
	m = feed(&c, "Subject: only\r\nFrom: x@y", 0);
	f = message_finish(m);
	assert_string_equal(f->subject, "only");
	assert_string_equal(f->from_addr, "x@y");
	assert_int_equal(f->header_count, 2);
	assert_int_equal(f->parts, 1);
	message_free(m);
	/* body starts at once: no headers */
	m = feed(&c, "\r\nplain words only", 0);
	f = message_finish(m);
	assert_int_equal(f->header_count, 0);
	assert_int_equal(f->fingerprint.words, 3);
	message_free(m);
	/* empty parts, a boundary right after a boundary, close without newline */
	m = feed(&c, "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\n--zz\r\n\r\nabc def\r\n--zz--", 1);
	f = message_finish(m);
	assert_int_equal(f->parts, 2);
	assert_int_equal(f->fingerprint.words, 2);
	message_free(m);
	/* a boundary prefix is not a boundary; trailing blanks are allowed */
	m = feed(&c, "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz  \r\n\r\none\r\n--zzz\r\ntwo\r\n"
		 "-- zz\r\n--zz--\r\n", 0);
	f = message_finish(m);
	assert_int_equal(f->parts, 1);
	assert_int_equal(f->fingerprint.words, 4);   /* one zzz two zz */
	message_free(m);
	/* a boundary longer than we hold: an opaque leaf, flagged */
	{
		char msg[1024], b[300];

		memset(b, 'b', 299);
		b[299] = '\0';
		snprintf(msg, sizeof(msg), "Content-Type: multipart/mixed; boundary=\"%s\"\r\n\r\n"
			 "--%s\r\n\r\nhidden text\r\n--%s--\r\n", b, b, b);
		m = feed(&c, msg, 0);
		f = message_finish(m);
		assert_true(f->mime_truncated);
		assert_int_equal(f->parts, 1);
		assert_int_equal(f->fingerprint.words, 0);
		message_free(m);
	}
	/* multipart without boundary: read as text */
	m = feed(&c, "Content-Type: multipart/mixed\r\n\r\nsome text\r\n", 0);
	f = message_finish(m);
	assert_int_equal(f->fingerprint.words, 2);
	message_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_headers_lf_only),
		cmocka_unit_test(test_decode_words),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_mime_helpers),
		cmocka_unit_test(test_decoders),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_encodings_same_fingerprint),
		cmocka_unit_test(test_mime_depth),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_html_css_variants),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_split_invariance),
		cmocka_unit_test(test_edge_cases),
		cmocka_unit_test(test_memory_per_parser),
		cmocka_unit_test(test_lazy_buffers),
		cmocka_unit_test(test_html_named_refs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
