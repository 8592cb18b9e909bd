/* SPDX-License-Identifier: MIT */
/* replyclass: real reply texts from mailbox providers and MTAs against
 * policies/replies.yaml (the shipped patterns, loaded by the policy loader). */
#include "testutil.h"

#include <stdlib.h>

#include "policy.h"
#include "replyclass.h"

static struct reply_patterns *pats;

static int setup(void **state)
{
	struct policy_errors errs;
	pats = malloc(sizeof(*pats));
	if (!pats || policy_load_replies_file("policies/replies.yaml", pats, &errs) < 0) {
		for (uint32_t i = 0; i < errs.n && i < POLICY_MAX_ERRORS; i++)
			print_error("%s\n", errs.msg[i]);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	free(pats);
	return 0;
}

struct sample { int code; const char *text; uint8_t bits; const char *list; };

/* Texts as the session record keeps them: after the code and separator,
 * continuation lines joined with "\n". */
static const struct sample samples[] = {
	/* Spamhaus, via Postfix reject_rbl_client, Exim, Yahoo, Microsoft */
	{ 554, "5.7.1 Service unavailable; Client host [198.18.0.9] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/198.18.0.9", RCLS_BLOCKLIST, "spamhaus" },
	{ 550, "Rejected because 198.18.0.9 is in a black list at zen.spamhaus.org", RCLS_BLOCKLIST, "spamhaus" },
	{ 553, "5.7.1 [BL21] Connections will not be accepted from 198.18.0.9, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes", RCLS_BLOCKLIST, "spamhaus" },
	{ 550, "5.7.1 Service unavailable, Client host [198.18.0.9] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/198.18.0.9 (AS3130). [BN8NAM11FT066.eop-nam11.prod.protection.outlook.com]", RCLS_BLOCKLIST, "spamhaus" },
	{ 554, "5.7.1 Service unavailable; Sender address [x.example] blocked using dbl.spamhaus.org; https://www.spamhaus.org/query/domain/x.example", RCLS_BLOCKLIST, "spamhaus" },
	/* SpamCop */
	{ 554, "5.7.1 Service unavailable; Client host [198.18.0.9] blocked using bl.spamcop.net; Blocked - see https://www.spamcop.net/bl.shtml?198.18.0.9", RCLS_BLOCKLIST, "spamcop" },
	{ 550, "198.18.0.9 is listed at bl.spamcop.net", RCLS_BLOCKLIST, "spamcop" },
	/* SORBS */
	{ 554, "5.7.1 Service unavailable; Client host [198.18.0.9] blocked using dnsbl.sorbs.net; Currently Sending Spam See: http://www.sorbs.net/lookup.shtml?198.18.0.9", RCLS_BLOCKLIST, "sorbs" },
	/* Barracuda */
	{ 554, "Service unavailable; Client host [198.18.0.9] blocked using Barracuda Reputation; http://www.barracudanetworks.com/reputation/?r=1&ip=198.18.0.9", RCLS_BLOCKLIST, "barracuda" },
	{ 554, "5.7.1 Service unavailable; Client host [198.18.0.9] blocked using b.barracudacentral.org", RCLS_BLOCKLIST, "barracuda" },
	/* Microsoft */
	{ 550, "5.7.1 Unfortunately, messages from [198.18.0.9] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [AM1EUR02FT011.eop-EUR02.prod.protection.outlook.com]", RCLS_BLOCKLIST, "microsoft" },
	{ 550, "5.7.1 Unfortunately, messages from [198.18.0.9] weren't sent. Please contact your Internet service provider. You can tell them that Hotmail does not relay dynamically-assigned IP ranges. (S3140)", RCLS_BLOCKLIST, "microsoft" },
	{ 550, "5.7.606 Access denied, banned sending IP [198.18.0.9]. To request removal from this list please visit https://sender.office.com/ and follow the directions. (AS16012609)", RCLS_BLOCKLIST, "microsoft" },
	{ 421, "4.7.650 The mail server [198.18.0.9] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://aka.ms/postmaster (S775)", RCLS_RATE_LIMIT, NULL },
	{ 451, "4.7.500 Server busy. Please try again later from [198.18.0.9]. (S77714)", RCLS_RATE_LIMIT, NULL },
	{ 550, "5.5.0 Requested action not taken: mailbox unavailable (S2017062302) [DM6NAM10FT015.eop-nam10.prod.protection.outlook.com]", RCLS_USER_UNKNOWN, NULL },
	{ 550, "5.4.1 Recipient address rejected: Access denied. AS(201806281) [DB5EUR03FT004.eop-EUR03.prod.protection.outlook.com]", RCLS_USER_UNKNOWN, NULL },
	{ 550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", RCLS_USER_UNKNOWN, NULL },
	/* Gmail */
	{ 421, "4.7.28 [198.18.0.9      15] Our system has detected an unusual rate of\n4.7.28 unsolicited mail originating from your IP address. To protect our\n4.7.28 users from spam, mail sent from your IP address has been temporarily\n4.7.28 rate limited.", RCLS_BLOCKLIST | RCLS_RATE_LIMIT, "gmail" },
	{ 550, "5.7.1 [198.18.0.9      12] Our system has detected that this message is\n5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail,\n5.7.1 this message has been blocked.", RCLS_BLOCKLIST, "gmail" },
	{ 550, "5.7.26 This mail is unauthenticated, which poses a security risk to the\n5.7.26 sender and Gmail users, and has been blocked. The sender must\n5.7.26 authenticate with at least one of SPF or DKIM.", RCLS_BLOCKLIST, "gmail" },
	{ 550, "5.7.1 [198.18.0.9] The IP you're using to send mail is not authorized to\n5.7.1 send email directly to our servers. Please use the SMTP relay at your\n5.7.1 service provider instead.", RCLS_BLOCKLIST, "gmail" },
	{ 550, "5.1.1 The email account that you tried to reach does not exist. Please try\n5.1.1 double-checking the recipient's email address for typos or\n5.1.1 unnecessary spaces.", RCLS_USER_UNKNOWN, NULL },
	{ 550, "5.2.1 The email account that you tried to reach is disabled.", RCLS_USER_UNKNOWN, NULL },
	{ 450, "4.2.1 The user you are trying to contact is receiving mail too quickly.", RCLS_RATE_LIMIT, NULL },
	{ 452, "4.2.1 The recipient you are trying to contact is receiving mail at a rate that\n4.2.1 prevents additional messages from being delivered.", RCLS_RATE_LIMIT, NULL },
	{ 421, "4.7.0 Try again later, closing connection. (EHLO)", RCLS_RATE_LIMIT, NULL },
	/* Yahoo */
	{ 421, "4.7.0 [TSS04] Messages from 198.18.0.9 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", RCLS_RATE_LIMIT, NULL },
	{ 421, "4.7.1 [TSS09] All messages from 198.18.0.9 will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes", RCLS_BLOCKLIST, "yahoo" },
	{ 554, "delivery error: dd This user doesn't have a yahoo.com account (bob@yahoo.test) [0] - mta1234.mail.ne1.yahoo.com", RCLS_USER_UNKNOWN, NULL },
	{ 554, "5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes", 0, NULL },
	/* Postfix, Exim, Sendmail, others */
	{ 550, "5.1.1 <unknown@example.test>: Recipient address rejected: <unknown@example.test>: Recipient address rejected: User unknown in local recipient table", RCLS_USER_UNKNOWN, NULL },
	{ 550, "5.1.1 <bob@example.test>: Recipient address rejected: User unknown in virtual mailbox table", RCLS_USER_UNKNOWN, NULL },
	{ 550, "Unrouteable address", RCLS_USER_UNKNOWN, NULL },
	{ 550, "No Such User Here", RCLS_USER_UNKNOWN, NULL },
	{ 550, "5.1.1 <bob@example.test>... User unknown", RCLS_USER_UNKNOWN, NULL },
	{ 421, "4.7.0 mx.example.test Error: too many connections from 198.18.0.9", RCLS_RATE_LIMIT, NULL },
	{ 452, "4.5.3 Error: too many recipients", RCLS_RATE_LIMIT, NULL },
	{ 554, "Blocked - see https://ipcheck.proofpoint.com/?ip=198.18.0.9", RCLS_BLOCKLIST, "proofpoint" },
	{ 550, "5.7.1 Rejected: 198.18.0.9 listed at dnsbl-1.uceprotect.net", RCLS_BLOCKLIST, "uceprotect" },
	{ 554, "resimta-ch2-18v.sys.comcast.net comcast 198.18.0.9 Comcast block for spam.  Please see http://postmaster.comcast.net/smtp-error-codes.php#BL000000 (RBL)", RCLS_BLOCKLIST, "generic" },
	{ 550, "5.7.1 Mail from 198.18.0.9 refused: listed at dnsbl.example.net", RCLS_BLOCKLIST, "generic" },
	/* deferrals and rejections that are none of the classes (synth-replies) */
	{ 450, "4.2.0 <greylist@example.test>: Recipient address rejected: Greylisted, try again later", 0, NULL },
	{ 451, "4.7.1 Message content deferred, try again later", 0, NULL },
	{ 452, "4.2.2 <full@example.test>: Recipient address rejected: Mailbox full", 0, NULL },
	{ 550, "5.7.1 Message content rejected", 0, NULL },
	{ 503, "5.5.1 Error: need MAIL command", 0, NULL },
	/* a 2xx is never a problem, whatever it says */
	{ 250, "2.0.0 Ok: queued, not listed at any RBL", 0, NULL },
};

static void test_real_texts(void **state)
{
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		const struct sample *s = &samples[i];
		struct replyclass rc = replyclass_classify(pats, s->code, s->text);
		if (rc.bits != s->bits || (s->list && (!rc.list || strcmp(rc.list, s->list))))
			fail_msg("sample %zu: %d %s: bits %u list %s, expected %u %s", i, s->code,
				 s->text, rc.bits, rc.list ? rc.list : "-", s->bits, s->list ? s->list : "-");
	}
}

static void test_base_classes(void **state)
{
	assert_int_equal(replyclass_classify(pats, 250, "2.0.0 Ok").base, RC_OK);
	assert_int_equal(replyclass_classify(pats, 451, NULL).base, RC_DEFERRAL);
	assert_int_equal(replyclass_classify(pats, 554, "").base, RC_REJECTION);
	assert_int_equal(replyclass_classify(pats, 0, NULL).base, RC_OTHER);
	assert_int_equal(replyclass_classify(NULL, 550, "5.1.1 user unknown").bits, 0);
}

static void test_enhanced_boundary(void **state)
{
	/* 5.1.1 must not match 5.1.10 through the enhanced prefix alone */
	struct reply_patterns p;
	struct policy_errors e;
	const char *y = "patterns:\n  - class: user_unknown\n    enhanced: \"5.1.1\"\n";
	assert_int_equal(policy_load_replies_buffer("t", y, strlen(y), &p, &e), 0);
	assert_int_equal(replyclass_classify(&p, 550, "5.1.1 x").bits, RCLS_USER_UNKNOWN);
	assert_int_equal(replyclass_classify(&p, 550, "5.1.10 x").bits, 0);
	assert_int_equal(replyclass_classify(&p, 550, "x 5.1.1").bits, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_texts),
		cmocka_unit_test(test_base_classes),
		cmocka_unit_test(test_enhanced_boundary),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
