/* SPDX-License-Identifier: MIT */
/* dnsrules: SPF records (every mechanism, qualifier, cidr form, macros,
 * and the syntax errors), target domains and address matching, the
 * generated-PTR heuristic both ways for IPv4 and IPv6, DNSBL codes,
 * DMARC and DKIM key records, names, and the DNS codec on crafted
 * packets: compression (and its loops), CNAME chains, truncation,
 * oversized counts, the caps on records and text. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "dnsrules.h"

/* ---- SPF ------------------------------------------------------------------- */

static int spf(const char *rec, struct dnsrules_spf *s, char *err)
{
	return dnsrules_spf_parse(rec, strlen(rec), s, err, 200);
}

static void test_spf_parse(void **state)
{
	struct dnsrules_spf *s = malloc(sizeof(*s));
	char err[200];
	char out[300];

	assert_non_null(s);
	assert_int_equal(spf("v=spf1 ip4:198.18.1.0/24 ip6:2001:db8::/32 a mx:mail.example.com/24//64 "
			     "include:_spf.example.net -ptr ?exists:%{i}.bl.example ~all", s, err), 0);
	assert_int_equal(s->n, 8);
	assert_int_equal(s->t[0].kind, DNSRULES_SPF_IP4);
	assert_int_equal(s->t[0].cidr4, 24);
	assert_int_equal(s->t[1].kind, DNSRULES_SPF_IP6);
	assert_int_equal(s->t[1].cidr6, 32);
	assert_int_equal(s->t[2].kind, DNSRULES_SPF_A);
	assert_int_equal(s->t[2].cidr4, 32);
	assert_int_equal(s->t[2].cidr6, 128);
	assert_int_equal(s->t[3].kind, DNSRULES_SPF_MX);
	assert_int_equal(s->t[3].cidr4, 24);
	assert_int_equal(s->t[3].cidr6, 64);
	assert_int_equal(s->t[4].kind, DNSRULES_SPF_INCLUDE);
	assert_int_equal(s->t[5].kind, DNSRULES_SPF_PTR);
	assert_int_equal(s->t[5].qual, '-');
	assert_int_equal(s->t[6].kind, DNSRULES_SPF_EXISTS);
	assert_int_equal(s->t[6].qual, '?');
	assert_true(s->t[6].macro);
	assert_int_equal(s->t[7].kind, DNSRULES_SPF_ALL);
	assert_int_equal(s->t[7].qual, '~');
	assert_int_equal(s->t[0].qual, '+');
	assert_int_equal(s->lookups, 5);
	assert_true(s->macros && s->has_ptr && s->has_exists);
	assert_int_equal(s->redirect, -1);
	assert_int_equal(dnsrules_spf_target(s, 2, "example.org", out, sizeof(out)), 0);
	assert_string_equal(out, "example.org");
	assert_int_equal(dnsrules_spf_target(s, 3, "example.org", out, sizeof(out)), 0);
	assert_string_equal(out, "mail.example.com");
	assert_int_equal(dnsrules_spf_target(s, 6, "example.org", out, sizeof(out)), -EINVAL);   /* macro */
	assert_int_equal(dnsrules_spf_target(s, 99, "example.org", out, sizeof(out)), -EINVAL);

	/* modifiers, case, spacing, the other cidr forms */
	assert_int_equal(spf("V=SPF1   a/24  mx//64 A:Example.COM./16//48 redirect=_spf.example.com. "
			     "exp=explain.%{d} x-custom=%{l}  ", s, err), 0);
	assert_int_equal(s->n, 6);
	assert_int_equal(s->t[0].cidr4, 24);
	assert_int_equal(s->t[1].cidr4, 32);
	assert_int_equal(s->t[1].cidr6, 64);
	assert_int_equal(s->t[2].cidr4, 16);
	assert_int_equal(s->t[2].cidr6, 48);
	assert_int_equal(s->redirect, 3);
	assert_int_equal(s->exp, 4);
	assert_int_equal(s->t[5].kind, DNSRULES_SPF_MODIFIER);
	assert_false(s->macros);        /* exp's macros are not evaluated anyway */
	assert_int_equal(s->lookups, 4);
	assert_int_equal(dnsrules_spf_target(s, 3, "x.org", out, sizeof(out)), 0);
	assert_string_equal(out, "_spf.example.com");
	assert_int_equal(dnsrules_spf_target(s, 2, "x.org", out, sizeof(out)), 0);
	assert_string_equal(out, "Example.COM");
	assert_int_equal(spf("v=spf1", s, err), 0);
	assert_int_equal(s->n, 0);
	assert_int_equal(spf("v=spf1 +all", s, err), 0);
	assert_int_equal(s->t[0].qual, '+');
	assert_int_equal(spf("v=spf1 ip4:10.0.0.1/0 ip6:::1/0 include:%{d}._spf.example.com -all", s, err), 0);
	assert_true(s->t[2].macro);

	static const char *const bad[] = {
		"", "v=spf2 -all", "v=spf1x -all", "spf1 -all", "v=spf1 foo", "v=spf1 ip4:1.2.3",
		"v=spf1 ip4:1.2.3.4/33", "v=spf1 ip6:2001:db8::/129", "v=spf1 ip4:1.2.3.4/024", "v=spf1 ip4:1.2.3.4/",
		"v=spf1 ip4:", "v=spf1 ip4", "v=spf1 ip6:1.2.3.4", "v=spf1 ip4:::1", "v=spf1 include:", "v=spf1 include",
		"v=spf1 exists", "v=spf1 all:foo", "v=spf1 all/24", "v=spf1 redirect=a.com redirect=b.com",
		"v=spf1 exp=a.com exp=b.com", "v=spf1 a:foo..com", "v=spf1 a:example.123", "v=spf1 exists:%{z}",
		"v=spf1 include:%", "v=spf1 include:%{d", "v=spf1\t-all", "v=spf1 -all\t", "v=spf1 ptr/24",
		"v=spf1 +redirect=x.com", "v=spf1 redirect=", "v=spf1 a/", "v=spf1 a//", "v=spf1 a/24/64",
		"v=spf1 mx/33", "v=spf1 a:-/24x", "v=spf1 =foo", "v=spf1 *all", "v=spf1 include:a_b .com",
		"v=spf1 x=%y", "v=spf1 a:\xc3\xa9.com",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (spf(bad[i], s, err) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(err[0] != '\0');
	}
	/* limits */
	{
		char big[DNSRULES_TXT_MAX + 64];
		size_t o = (size_t)snprintf(big, sizeof(big), "v=spf1");

		for (int i = 0; i < DNSRULES_SPF_TERMS_MAX + 1; i++)
			o += (size_t)snprintf(big + o, sizeof(big) - o, " a");
		assert_int_equal(spf(big, s, err), -EINVAL);
		assert_non_null(strstr(err, "terms"));
		memset(big, 'a', sizeof(big));
		memcpy(big, "v=spf1 a:", 9);
		big[DNSRULES_TXT_MAX + 1] = '\0';
		assert_int_equal(spf(big, s, err), -EINVAL);
		assert_non_null(strstr(err, "longer"));
	}
	/* a NUL inside the record */
	assert_int_equal(dnsrules_spf_parse("v=spf1 -all\0x", 13, s, err, sizeof(err)), -EINVAL);
	assert_true(dnsrules_spf_is_record("v=spf1", 6));
	assert_true(dnsrules_spf_is_record("v=SPF1 -all", 11));
	assert_false(dnsrules_spf_is_record("v=spf10", 7));
	assert_false(dnsrules_spf_is_record("v=spf", 5));
	free(s);
}

static void test_spf_match(void **state)
{
	struct dnsrules_spf *s = malloc(sizeof(*s));
	struct dnsrules_ip a, b, c, six;
	char err[200];

	assert_non_null(s);
	assert_int_equal(spf("v=spf1 ip4:198.18.1.0/24 ip4:203.0.113.7 ip6:2001:db8:1::/48 ip4:0.0.0.0/0", s, err), 0);
	assert_int_equal(dnsrules_ip_parse("198.18.1.200", &a), 0);
	assert_int_equal(dnsrules_ip_parse("198.18.2.1", &b), 0);
	assert_int_equal(dnsrules_ip_parse("203.0.113.7", &c), 0);
	assert_int_equal(dnsrules_ip_parse("2001:db8:1:ffff::9", &six), 0);
	assert_true(dnsrules_spf_ip_match(&s->t[0], &a));
	assert_false(dnsrules_spf_ip_match(&s->t[0], &b));
	assert_false(dnsrules_spf_ip_match(&s->t[0], &six));
	assert_true(dnsrules_spf_ip_match(&s->t[1], &c));
	assert_false(dnsrules_spf_ip_match(&s->t[1], &a));
	assert_true(dnsrules_spf_ip_match(&s->t[2], &six));
	assert_false(dnsrules_spf_ip_match(&s->t[2], &a));
	assert_true(dnsrules_spf_ip_match(&s->t[3], &b));
	assert_false(dnsrules_spf_ip_match(&s->t[3], &six));
	/* odd prefix lengths */
	assert_int_equal(dnsrules_ip_parse("10.0.0.0", &b), 0);
	assert_int_equal(dnsrules_ip_parse("10.0.1.255", &c), 0);
	assert_true(dnsrules_ip_in_net(&c, &b, 23));
	assert_false(dnsrules_ip_in_net(&c, &b, 24));
	assert_true(dnsrules_ip_in_net(&c, &b, 0));
	assert_false(dnsrules_ip_in_net(&c, &b, 200));      /* clamped to 32 */
	assert_int_equal(dnsrules_ip_parse("1.2.3", &b), -EINVAL);
	assert_int_equal(dnsrules_ip_parse(NULL, &b), -EINVAL);
	free(s);
}

/* ---- PTR names ---------------------------------------------------------- */

static void test_ptr_generated(void **state)
{
	static const char *const gen[][2] = {
		{ "243.53.2.231", "231.2.53.243.domain.isp.com" },
		{ "243.53.2.231", "243.53.2.231.static.example.net" },
		{ "198.18.1.2", "ip-198-18-1-2.example.net" },
		{ "198.18.1.2", "198_18_1_2.example.net" },
		{ "198.18.1.2", "host198018001002.example.net" },
		{ "198.18.1.2", "x-002-001-018-198.example.net" },
		{ "198.18.1.2", "1981812.example.net" },
		{ "198.18.1.2", "c-18-1-2.hsd1.example.net" },           /* three octets */
		{ "198.18.2.1", "c6120201.example.net" },                /* hex */
		{ "198.18.2.1", "p010212C6.dip0.example.de" },
		{ "54.1.2.3", "ec2-54-1-2-3.compute-1.example.com" },
		{ "198.18.1.2", "dsl-4711.example.net" },                /* words with digits */
		{ "198.18.1.2", "pool7.example.net" },
		{ "198.18.1.2", "77.dynamic.example.net" },
		{ "198.18.1.2", "dhcp-9-9.branch.example.net" },
		{ "198.18.1.2", "cable123.example.net" },
		{ "198.18.1.2", "ppp-1.example.co.uk" },
		{ "198.18.1.2", "client-44.example.net" },
		{ "198.18.1.2", "dialup5.example.net" },
		{ "198.18.1.2", "broadband77.example.net" },
		{ "198.18.1.2", "adsl-5.example.net." },
		{ "198.18.1.2", "DYN-8.Example.NET" },
		{ "2001:db8::1:2", "2001-db8--1-2.example.net" },
		{ "2001:db8::1:2", "20010db8000000000000000000010002.example.net" },
		{ "2001:db8:0:0:1234:5678:9abc:def0", "host-123456789abcdef0.example.net" },
		{ "2001:db8:0:0:1234:5678:9abc:def0", "0.f.e.d.c.b.a.9.8.7.6.5.4.3.2.1.ip6.example.net" },
		{ "2001:db8:0:0:1234:5678:9abc:def0", "1234-5678-9abc-def0.example.net" },
		{ "2001:db8::5", "dyn-5.example.net" },
	};
	static const char *const notgen[][2] = {
		{ "198.18.1.2", "mail.domain.com" },
		{ "198.18.1.2", "mx1.example.com" },
		{ "198.18.1.2", "mail.good-sender.example" },
		{ "198.18.1.2", "smtp-out2.example.net" },
		{ "198.18.1.2", "mail.dsl4you.com" },                    /* the word is the domain */
		{ "198.18.1.2", "dynamic.example.net" },                 /* the word without digits */
		{ "198.18.1.2", "mail.liverpool1.example.net" },         /* not a word of its own */
		{ "198.18.1.2", "18-1-3.example.net" },                  /* other octets */
		{ "198.18.1.2", "198.18.example.net" },                  /* two octets */
		{ "198.18.1.2", "mx198.example.net" },
		{ "198.18.2.1", "c6120202.example.net" },
		{ "2001:db8::1:2", "mail.example.net" },
		{ "2001:db8::1:2", "mx-1.example.net" },
		{ "2001:db8::25", "smtp6.example.net" },
		{ "198.18.1.2", "" },
		{ "not an ip", "1-2-3-4.example.net" },
	};
	for (size_t i = 0; i < sizeof(gen) / sizeof(gen[0]); i++)
		if (!dnsrules_ptr_generated(gen[i][0], gen[i][1]))
			fail_msg("%s %s: not seen as generated", gen[i][0], gen[i][1]);
	for (size_t i = 0; i < sizeof(notgen) / sizeof(notgen[0]); i++)
		if (dnsrules_ptr_generated(notgen[i][0], notgen[i][1]))
			fail_msg("%s %s: seen as generated", notgen[i][0], notgen[i][1]);
	assert_false(dnsrules_ptr_generated("198.18.1.2", NULL));
	{
		char longname[600];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		assert_false(dnsrules_ptr_generated("198.18.1.2", longname));
	}
}

/* ---- DNSBL ---------------------------------------------------------------- */

static void test_dnsbl(void **state)
{
	static const struct {
		const char *zone;
		uint8_t a[4];
		enum dnsrules_dnsbl v;
		const char *word;
	} cases[] = {
		{ "zen.spamhaus.org", { 127, 0, 0, 2 }, DNSRULES_DNSBL_LISTED, "SBL" },
		{ "zen.spamhaus.org", { 127, 0, 0, 3 }, DNSRULES_DNSBL_LISTED, "SBL CSS" },
		{ "zen.spamhaus.org", { 127, 0, 0, 4 }, DNSRULES_DNSBL_LISTED, "XBL" },
		{ "zen.spamhaus.org", { 127, 0, 0, 7 }, DNSRULES_DNSBL_LISTED, "XBL" },
		{ "zen.spamhaus.org", { 127, 0, 0, 9 }, DNSRULES_DNSBL_LISTED, "DROP" },
		{ "zen.spamhaus.org", { 127, 0, 0, 10 }, DNSRULES_DNSBL_LISTED, "PBL" },
		{ "ZEN.Spamhaus.ORG.", { 127, 0, 0, 11 }, DNSRULES_DNSBL_LISTED, "PBL" },
		{ "zen.spamhaus.org", { 127, 0, 0, 8 }, DNSRULES_DNSBL_LISTED, "127.0.0.8" },
		{ "zen.spamhaus.org", { 127, 255, 255, 252 }, DNSRULES_DNSBL_REFUSED, "typing error" },
		{ "zen.spamhaus.org", { 127, 255, 255, 254 }, DNSRULES_DNSBL_REFUSED, "public resolver" },
		{ "zen.spamhaus.org", { 127, 255, 255, 255 }, DNSRULES_DNSBL_REFUSED, "over limit" },
		{ "bl.spamcop.net", { 127, 255, 255, 1 }, DNSRULES_DNSBL_REFUSED, "refused" },
		{ "bl.spamcop.net", { 127, 0, 0, 2 }, DNSRULES_DNSBL_LISTED, "127.0.0.2" },
		{ "notspamhaus.org", { 127, 0, 0, 2 }, DNSRULES_DNSBL_LISTED, "listed (127.0.0.2)" },
		{ "bl.spamcop.net", { 127, 1, 0, 1 }, DNSRULES_DNSBL_LISTED, "127.1.0.1" },
		{ "zen.spamhaus.org", { 10, 0, 0, 2 }, DNSRULES_DNSBL_UNEXPECTED, "outside" },
		{ "zen.spamhaus.org", { 128, 0, 0, 2 }, DNSRULES_DNSBL_UNEXPECTED, "outside" },
	};
	char why[160];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		assert_int_equal(dnsrules_dnsbl_answer(cases[i].zone, cases[i].a, why, sizeof(why)), cases[i].v);
		if (!strstr(why, cases[i].word))
			fail_msg("%zu: \"%s\" lacks \"%s\"", i, why, cases[i].word);
	}
	assert_null(strstr((dnsrules_dnsbl_answer("notspamhaus.org", cases[0].a, why, sizeof(why)), why), "SBL"));
}

/* ---- DMARC, DKIM ----------------------------------------------------------- */

static int dmarc(const char *rec, struct dnsrules_dmarc *d, char *err)
{
	return dnsrules_dmarc_parse(rec, strlen(rec), d, err, 200);
}

static void test_dmarc(void **state)
{
	struct dnsrules_dmarc d;
	char err[200];

	assert_int_equal(dmarc("v=DMARC1; p=reject", &d, err), 0);
	assert_int_equal(d.p, DNSRULES_DMARC_REJECT);
	assert_int_equal(d.sp, -1);
	assert_int_equal(d.pct, 100);
	assert_int_equal(dmarc("v=DMARC1;p=none;sp=Reject;pct=50;rua=mailto:d@example.com;", &d, err), 0);
	assert_int_equal(d.p, DNSRULES_DMARC_NONE);
	assert_int_equal(d.sp, DNSRULES_DMARC_REJECT);
	assert_int_equal(d.pct, 50);
	assert_int_equal(dmarc(" v = DMARC1 ;\tp = quarantine ; ", &d, err), 0);
	assert_int_equal(d.p, DNSRULES_DMARC_QUARANTINE);
	assert_int_equal(dmarc("v=DMARC1; rua=mailto:a@b.example; p=reject", &d, err), 0);
	/* not DMARC records: ignored */
	assert_int_equal(dmarc("v=dmarc1; p=reject", &d, err), -ENOENT);
	assert_int_equal(dmarc("p=reject; v=DMARC1", &d, err), -ENOENT);
	assert_int_equal(dmarc("v=DMARC10; p=reject", &d, err), -ENOENT);
	assert_int_equal(dmarc("v=spf1 -all", &d, err), -ENOENT);
	assert_int_equal(dmarc("", &d, err), -ENOENT);
	assert_false(dnsrules_dmarc_is_record("v=DMARC", 7));
	assert_true(dnsrules_dmarc_is_record("v=DMARC1", 8));
	static const char *const bad[] = {
		"v=DMARC1", "v=DMARC1;", "v=DMARC1; p=bogus", "v=DMARC1; p=", "v=DMARC1; p=reject; p=none",
		"v=DMARC1; p=reject; sp=maybe", "v=DMARC1; p=reject; pct=101", "v=DMARC1; p=reject; pct=5x",
		"v=DMARC1; p=reject; pct=", "v=DMARC1; p reject", "v=DMARC1; 9p=reject", "v=DMARC1; p=rej\x01" "ect",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (dmarc(bad[i], &d, err) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(err[0] != '\0');
	}
}

/* base64 of n zero bytes ("AAAA" per three) */
static char *b64zeros(size_t n)
{
	char *s = malloc(n / 3 * 4 + 8);
	size_t o = 0;

	for (size_t i = 0; i < n / 3; i++)
		o += (size_t)sprintf(s + o, "AAAA");
	if (n % 3 == 1)
		o += (size_t)sprintf(s + o, "AA==");
	else if (n % 3 == 2)
		o += (size_t)sprintf(s + o, "AAA=");
	s[o] = '\0';
	return s;
}

static int dkim(const char *rec, struct dnsrules_dkim_key *k, char *err)
{
	return dnsrules_dkim_key_parse(rec, strlen(rec), k, err, 200);
}

static void test_dkim_key(void **state)
{
	struct dnsrules_dkim_key k;
	char err[200], rec[1200];
	char *rsa = b64zeros(294), *shortrsa = b64zeros(94), *ed = b64zeros(32);

	snprintf(rec, sizeof(rec), "v=DKIM1; k=rsa; p=%s", rsa);
	assert_int_equal(dkim(rec, &k, err), 0);
	assert_false(k.revoked);
	assert_string_equal(k.k, "rsa");
	assert_int_equal(k.key_bytes, 294);
	snprintf(rec, sizeof(rec), "p=%.40s %.40s\t%s; t=y:s", rsa, rsa + 40, rsa + 80);
	assert_int_equal(dkim(rec, &k, err), 0);
	assert_true(k.testing);
	assert_int_equal(k.key_bytes, 294);
	snprintf(rec, sizeof(rec), "v=DKIM1; k=ed25519; p=%s", ed);
	assert_int_equal(dkim(rec, &k, err), 0);
	assert_string_equal(k.k, "ed25519");
	assert_int_equal(dkim("v=DKIM1; p=", &k, err), 0);
	assert_true(k.revoked);
	assert_int_equal(dkim("v=DKIM1; k=rsa; p= ;", &k, err), 0);
	assert_true(k.revoked);

	snprintf(rec, sizeof(rec), "k=rsa; v=DKIM1; p=%s", rsa);
	assert_int_equal(dkim(rec, &k, err), -EINVAL);          /* v= not first */
	snprintf(rec, sizeof(rec), "v=DKIM2; p=%s", rsa);
	assert_int_equal(dkim(rec, &k, err), -EINVAL);
	snprintf(rec, sizeof(rec), "k=dsa; p=%s", rsa);
	assert_int_equal(dkim(rec, &k, err), -EINVAL);
	snprintf(rec, sizeof(rec), "p=%s", shortrsa);
	assert_int_equal(dkim(rec, &k, err), -EINVAL);
	assert_non_null(strstr(err, "1024"));
	snprintf(rec, sizeof(rec), "k=ed25519; p=%s", rsa);
	assert_int_equal(dkim(rec, &k, err), -EINVAL);
	snprintf(rec, sizeof(rec), "p=%s; p=%s", rsa, rsa);
	assert_int_equal(dkim(rec, &k, err), -EINVAL);
	static const char *const bad[] = {
		"", "v=DKIM1", "v=DKIM1; k=rsa", "p=abc$", "p=AAA", "p=AA=A", "p=A===", "v=DKIM1; p==AAA", "p",
		"=x", "v=DKIM1; p=AAAA\x7f",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (dkim(bad[i], &k, err) != -EINVAL)
			fail_msg("accepted \"%s\"", bad[i]);
		assert_true(err[0] != '\0');
	}
	free(rsa);
	free(shortrsa);
	free(ed);
}

/* ---- names ---------------------------------------------------------------- */

static void test_names(void **state)
{
	char out[300], l63[64], name[400];
	struct dnsrules_ip a;

	assert_true(dnsrules_name_valid("example.com"));
	assert_true(dnsrules_name_valid("example.com."));
	assert_true(dnsrules_name_valid("_dmarc.example.com"));
	assert_true(dnsrules_name_valid("x"));
	assert_false(dnsrules_name_valid(""));
	assert_false(dnsrules_name_valid("."));
	assert_false(dnsrules_name_valid("a..b"));
	assert_false(dnsrules_name_valid(".a"));
	assert_false(dnsrules_name_valid("a b.com"));
	assert_false(dnsrules_name_valid("a\\.b"));
	assert_false(dnsrules_name_valid(NULL));
	memset(l63, 'a', 63);
	l63[63] = '\0';
	snprintf(name, sizeof(name), "%s.com", l63);
	assert_true(dnsrules_name_valid(name));
	snprintf(name, sizeof(name), "%sa.com", l63);
	assert_false(dnsrules_name_valid(name));
	snprintf(name, sizeof(name), "%s.%s.%s.%.61s", l63, l63, l63, l63);      /* 253 */
	assert_int_equal(strlen(name), 253);
	assert_true(dnsrules_name_valid(name));
	snprintf(name, sizeof(name), "%s.%s.%s.%.62s", l63, l63, l63, l63);      /* 254 */
	assert_false(dnsrules_name_valid(name));

	assert_int_equal(dnsrules_ip_parse("198.18.1.2", &a), 0);
	assert_int_equal(dnsrules_reverse_name(&a, "zen.spamhaus.org.", out, sizeof(out)), 0);
	assert_string_equal(out, "2.1.18.198.zen.spamhaus.org");
	assert_int_equal(dnsrules_reverse_name(&a, "bad zone", out, sizeof(out)), -EINVAL);
	assert_int_equal(dnsrules_reverse_name(&a, "zen.spamhaus.org", out, 10), -ENAMETOOLONG);
	assert_int_equal(dnsrules_ip_parse("2001:db8::1", &a), 0);
	assert_int_equal(dnsrules_reverse_name(&a, "bl.example", out, sizeof(out)), 0);
	assert_string_equal(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example");
	snprintf(name, sizeof(name), "%s.%s.%.62s", l63, l63, l63);      /* 64 + 190 > 253 */
	assert_int_equal(dnsrules_reverse_name(&a, name, out, sizeof(out)), -ENAMETOOLONG);
}

/* ---- the codec -------------------------------------------------------------- */

struct pkt {
	uint8_t b[70000];
	size_t n;
};

static void p8(struct pkt *p, unsigned v)
{
	p->b[p->n++] = (uint8_t)v;
}

static void p16(struct pkt *p, unsigned v)
{
	p8(p, v >> 8);
	p8(p, v & 0xff);
}

static void p32(struct pkt *p, uint32_t v)
{
	p16(p, v >> 16);
	p16(p, v & 0xffff);
}

/* a name in wire form, uncompressed */
static void pname(struct pkt *p, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t l = dot ? (size_t)(dot - name) : strlen(name);

		p8(p, (unsigned)l);
		memcpy(p->b + p->n, name, l);
		p->n += l;
		name += l + (dot ? 1 : 0);
	}
	p8(p, 0);
}

static void phdr(struct pkt *p, unsigned id, unsigned flags, unsigned qd, unsigned an)
{
	p->n = 0;
	p16(p, id);
	p16(p, flags);
	p16(p, qd);
	p16(p, an);
	p16(p, 0);
	p16(p, 0);
}

/* a reply header and the question name/type */
static void preply(struct pkt *p, unsigned id, unsigned rcode, unsigned an, const char *q, unsigned type)
{
	phdr(p, id, 0x8180 | rcode, 1, an);
	pname(p, q);
	p16(p, type);
	p16(p, 1);
}

/* a record whose owner is a pointer to the question (offset 12) */
static void prr(struct pkt *p, unsigned type, const void *rd, size_t rdlen)
{
	p16(p, 0xc00c);
	p16(p, type);
	p16(p, 1);
	p32(p, 300);
	p16(p, (unsigned)rdlen);
	memcpy(p->b + p->n, rd, rdlen);
	p->n += rdlen;
}

static void test_codec_query(void **state)
{
	uint8_t q[DNSRULES_QUERY_MAX];
	struct dnsrules_msg *m = malloc(sizeof(*m));
	int n;
	char name[300];

	assert_non_null(m);
	n = dnsrules_query_encode(q, sizeof(q), 0xbeef, "_dmarc.Example.COM.", DNSRULES_TXT, true);
	assert_int_equal(n, 12 + 20 + 4 + 11);
	assert_int_equal(q[0], 0xbe);
	assert_int_equal(q[2], 0x01);
	assert_int_equal(q[11], 1);     /* arcount: the OPT */
	assert_memory_equal(q + 12, "\x06_dmarc\x07" "Example\x03" "COM\x00\x00\x10\x00\x01", 24);
	assert_int_equal(q[n - 11 + 3], DNSRULES_EDNS_UDP >> 8);
	assert_int_equal(dnsrules_msg_parse(q, (size_t)n, m), 0);
	assert_false(m->qr);
	assert_string_equal(m->qname, "_dmarc.Example.COM");
	assert_int_equal(m->qtype, DNSRULES_TXT);
	assert_false(dnsrules_msg_matches(m, 0xbeef, "_dmarc.example.com", DNSRULES_TXT));   /* not a reply */
	n = dnsrules_query_encode(q, sizeof(q), 1, "x", DNSRULES_MX, false);
	assert_int_equal(n, 12 + 3 + 4);
	assert_int_equal(dnsrules_query_encode(q, 20, 1, "example.com", DNSRULES_MX, false), -ENOSPC);
	assert_int_equal(dnsrules_query_encode(q, sizeof(q), 1, "a..b", DNSRULES_MX, false), -EINVAL);
	assert_int_equal(dnsrules_query_encode(q, sizeof(q), 1, "", DNSRULES_MX, false), -EINVAL);
	memset(name, 'a', 253);
	for (int i = 63; i < 253; i += 64)
		name[i] = '.';
	name[253] = '\0';
	n = dnsrules_query_encode(q, sizeof(q), 1, name, DNSRULES_TXT, true);
	assert_true(n > 0 && n <= DNSRULES_QUERY_MAX);
	assert_int_equal(dnsrules_msg_parse(q, (size_t)n, m), 0);
	assert_string_equal(m->qname, name);
	free(m);
}

static void test_codec_answers(void **state)
{
	struct pkt *p = malloc(sizeof(*p));
	struct dnsrules_msg *m = malloc(sizeof(*m));
	uint8_t rd[600];

	assert_non_null(p);
	assert_non_null(m);
	/* TXT: two strings joined, an A of another type, a record of class CH */
	preply(p, 7, 0, 3, "example.com", DNSRULES_TXT);
	memcpy(rd, "\x07v=spf1 \x04-all", 13);
	prr(p, DNSRULES_TXT, rd, 13);
	prr(p, DNSRULES_A, "\x01\x02\x03\x04", 4);
	p16(p, 0xc00c);
	p16(p, DNSRULES_TXT);
	p16(p, 3);
	p32(p, 0);
	p16(p, 2);
	p16(p, 0x0178);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), 0);
	assert_true(m->qr);
	assert_true(dnsrules_msg_matches(m, 7, "EXAMPLE.com.", DNSRULES_TXT));
	assert_false(dnsrules_msg_matches(m, 8, "example.com", DNSRULES_TXT));
	assert_false(dnsrules_msg_matches(m, 7, "example.org", DNSRULES_TXT));
	assert_false(dnsrules_msg_matches(m, 7, "example.com", DNSRULES_MX));
	assert_int_equal(m->n, 2);
	assert_int_equal(m->dropped, 1);
	assert_int_equal(m->n_answers, 1);
	assert_true(m->rr[0].answer);
	assert_false(m->rr[1].answer);
	assert_int_equal(m->rr[0].len, 11);
	assert_string_equal(m->text + m->rr[0].data, "v=spf1 -all");
	assert_string_equal(m->text + m->rr[0].owner, "example.com");
	assert_int_equal(m->rr[0].ttl, 300);
	assert_memory_equal(m->rr[1].addr, "\x01\x02\x03\x04", 4);

	/* MX through a CNAME, names compressed against the question and each other */
	preply(p, 9, 0, 3, "mail.example.com", DNSRULES_MX);
	{
		size_t cname_at;

		prr(p, DNSRULES_CNAME, "\x03" "alt\xc0\x11", 6);    /* alt.example.com */
		cname_at = p->n - 6;
		p16(p, 0xc000 | (unsigned)cname_at);                /* owner: alt.example.com */
		p16(p, DNSRULES_MX);
		p16(p, 1);
		p32(p, 60);
		p16(p, 6);
		p16(p, 10);
		p8(p, 2);
		p8(p, 'm');
		p8(p, 'x');
		p8(p, 0);
		p16(p, 0xc000 | (unsigned)cname_at);                /* a null MX at alt too */
		p16(p, DNSRULES_MX);
		p16(p, 1);
		p32(p, 60);
		p16(p, 3);
		p16(p, 0);
		p8(p, 0);
	}
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), 0);
	assert_int_equal(m->n, 3);
	assert_int_equal(m->n_answers, 2);
	assert_string_equal(m->text + m->rr[0].data, "alt.example.com");
	assert_string_equal(m->text + m->rr[1].owner, "alt.example.com");
	assert_int_equal(m->rr[1].pref, 10);
	assert_string_equal(m->text + m->rr[1].data, "mx");
	assert_int_equal(m->rr[2].len, 0);

	/* a CNAME loop: a -> b -> a, and records for a name off the chain */
	preply(p, 1, 0, 3, "a.example", DNSRULES_A);
	prr(p, DNSRULES_CNAME, "\x01" "b\x07" "example\x00", 11);
	p16(p, 0xc000 | (unsigned)(p->n - 11));
	p16(p, DNSRULES_CNAME);
	p16(p, 1);
	p32(p, 1);
	p16(p, 2);
	p16(p, 0xc00c);
	p8(p, 1);
	p8(p, 'z');
	p8(p, 0);
	p16(p, DNSRULES_A);
	p16(p, 1);
	p32(p, 1);
	p16(p, 4);
	p32(p, 0x7f000002);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), 0);
	assert_int_equal(m->n, 3);
	assert_int_equal(m->n_answers, 0);

	/* NXDOMAIN, no answers */
	preply(p, 2, 3, 0, "nx.example", DNSRULES_A);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), 0);
	assert_int_equal(m->rcode, DNSRULES_NXDOMAIN);
	assert_int_equal(m->n, 0);

	/* more records than kept */
	preply(p, 3, 0, 40, "many.example", DNSRULES_A);
	for (int i = 0; i < 40; i++)
		prr(p, DNSRULES_A, "\x7f\x00\x00\x02", 4);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), 0);
	assert_int_equal(m->n, DNSRULES_RR_MAX);
	assert_int_equal(m->dropped, 40 - DNSRULES_RR_MAX);
	assert_int_equal(m->n_answers, DNSRULES_RR_MAX);

	/* a TXT longer than DNSRULES_TXT_MAX is cut and says so */
	preply(p, 4, 0, 1, "long.example", DNSRULES_TXT);
	{
		size_t rdlen = 20 * 256, at;

		p16(p, 0xc00c);
		p16(p, DNSRULES_TXT);
		p16(p, 1);
		p32(p, 1);
		p16(p, (unsigned)rdlen);
		at = p->n;
		for (int s = 0; s < 20; s++) {
			p8(p, 255);
			memset(p->b + p->n, 'x', 255);
			p->n += 255;
		}
		assert_int_equal(p->n - at, rdlen);
	}
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), 0);
	assert_int_equal(m->n, 1);
	assert_true(m->rr[0].cut);
	assert_int_equal(m->rr[0].len, DNSRULES_TXT_MAX);

	/* TC: the question only */
	preply(p, 5, 0, 1, "tc.example", DNSRULES_TXT);
	p->b[2] |= 0x02;
	prr(p, DNSRULES_TXT, "\x03" "abc", 4);
	p->n -= 2;                      /* and cut short, as truncated answers are */
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), 0);
	assert_true(m->tc);
	assert_int_equal(m->n, 0);
	assert_string_equal(m->qname, "tc.example");

	/* a label with a dot or control byte in it: that record is dropped */
	preply(p, 6, 0, 2, "ptr.example", DNSRULES_PTR);
	prr(p, DNSRULES_PTR, "\x03" "a.b\x07" "example\x00", 13);
	prr(p, DNSRULES_PTR, "\x03" "a\x01" "b\x00", 5);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), 0);
	assert_int_equal(m->n, 0);
	assert_int_equal(m->dropped, 2);
	free(p);
	free(m);
}

static void test_codec_hostile(void **state)
{
	struct pkt *p = malloc(sizeof(*p));
	struct dnsrules_msg *m = malloc(sizeof(*m));
	size_t n;

	assert_non_null(p);
	assert_non_null(m);
	/* short headers */
	for (size_t len = 0; len < 12; len++) {
		memset(p->b, 0, 12);
		assert_int_equal(dnsrules_msg_parse(p->b, len, m), -EBADMSG);
	}
	/* no question, two questions */
	phdr(p, 1, 0x8180, 0, 0);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	phdr(p, 1, 0x8180, 2, 0);
	pname(p, "a");
	p32(p, 0x00010001);
	pname(p, "b");
	p32(p, 0x00010001);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	/* a question name pointing at itself, forwards, into the header */
	phdr(p, 1, 0x8180, 1, 0);
	p16(p, 0xc00c);
	p32(p, 0x00010001);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	phdr(p, 1, 0x8180, 1, 0);
	p16(p, 0xc00e);
	p8(p, 0);
	p32(p, 0x00010001);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	/* a pointer loop between two names: the answer's owner points to a
	 * label whose tail points back at the owner */
	preply(p, 1, 0, 1, "a", DNSRULES_A);
	n = p->n;
	p8(p, 1);
	p8(p, 'x');
	p16(p, 0xc000 | (unsigned)n);   /* "x" then back to itself */
	p16(p, DNSRULES_A);
	p16(p, 1);
	p32(p, 1);
	p16(p, 4);
	p32(p, 0);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	/* a name of 256+ wire bytes made of pointers to earlier labels */
	phdr(p, 1, 0x8180, 1, 0);
	for (int i = 0; i < 5; i++) {
		p8(p, 63);
		memset(p->b + p->n, 'a', 63);
		p->n += 63;
	}
	p8(p, 0);
	p32(p, 0x00010001);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	/* reserved label types 0x40, 0x80 */
	for (unsigned t = 0x40; t <= 0x80; t += 0x40) {
		phdr(p, 1, 0x8180, 1, 0);
		p8(p, t | 1);
		p8(p, 'a');
		p8(p, 0);
		p32(p, 0x00010001);
		assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	}
	/* a label running off the end; a question without type/class */
	phdr(p, 1, 0x8180, 1, 0);
	p8(p, 10);
	p8(p, 'a');
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	phdr(p, 1, 0x8180, 1, 0);
	pname(p, "a");
	p16(p, 1);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	/* ancount far beyond the records present */
	preply(p, 1, 0, 65535, "a", DNSRULES_A);
	prr(p, DNSRULES_A, "\x01\x02\x03\x04", 4);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	/* rdlength beyond the packet; a bad A length; an MX name that spills past its rdata */
	preply(p, 1, 0, 1, "a", DNSRULES_A);
	prr(p, DNSRULES_A, "\x01\x02\x03\x04", 4);
	p->b[p->n - 5] = 200;
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	preply(p, 1, 0, 1, "a", DNSRULES_A);
	prr(p, DNSRULES_A, "\x01\x02\x03", 3);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	preply(p, 1, 0, 1, "a", DNSRULES_MX);
	prr(p, DNSRULES_MX, "\x00\x0a\x02mx\x00", 6);
	p->b[p->n - 7] = 5;             /* rdlength 5: the name's root is outside */
	p8(p, 0);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	/* a TXT string longer than its rdata */
	preply(p, 1, 0, 1, "a", DNSRULES_TXT);
	prr(p, DNSRULES_TXT, "\x09" "abc", 4);
	assert_int_equal(dnsrules_msg_parse(p->b, p->n, m), -EBADMSG);
	/* every prefix of a good reply fails cleanly or parses */
	preply(p, 1, 0, 2, "mail.example.com", DNSRULES_MX);
	prr(p, DNSRULES_MX, "\x00\x0a\x02mx\xc0\x11", 7);
	prr(p, DNSRULES_MX, "\x00\x14\x03mx2\xc0\x11", 8);
	n = p->n;
	assert_int_equal(dnsrules_msg_parse(p->b, n, m), 0);
	assert_int_equal(m->n_answers, 2);
	assert_string_equal(m->text + m->rr[1].data, "mx2.example.com");
	for (size_t len = 0; len < n; len++)
		assert_int_equal(dnsrules_msg_parse(p->b, len, m), -EBADMSG);
	free(p);
	free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spf_parse),
		cmocka_unit_test(test_spf_match),
		cmocka_unit_test(test_ptr_generated),
		cmocka_unit_test(test_dnsbl),
		cmocka_unit_test(test_dmarc),
		cmocka_unit_test(test_dkim_key),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_codec_query),
		cmocka_unit_test(test_codec_answers),
		cmocka_unit_test(test_codec_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
