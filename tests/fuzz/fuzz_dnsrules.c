/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for dnsrules.c: everything a resolver (or whoever
 * spoofs it, or a record's owner) can put in front of the controller's
 * DNS checks.  Input: [selector byte][data ...]; the selector's low three
 * bits pick the parser:
 *   0  a DNS reply (dnsrules_msg_parse), then every kept record's text
 *      through the record parsers below, as dnscheck.c would;
 *   1  an SPF record, then every term's target and address match;
 *   2  a DMARC record;  3  a DKIM key record;
 *   4  "IP\nNAME": the generated-PTR heuristic and the DNSBL query name;
 *   5  a DNSBL answer (the first 4 bytes) under the data's zone name.
 * Invariants: reasons are NUL-terminated and printable, offsets stay
 * inside the text they index, answer counts never exceed the kept ones.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dnsrules.h"

static struct dnsrules_msg fz_msg;
static struct dnsrules_spf fz_spf;

static void fz_printable(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		abort();
	for (size_t i = 0; i < n; i++)
		if (!isprint((unsigned char)s[i]))
			abort();
}

static void fz_records(const char *txt, size_t len)
{
	struct dnsrules_dmarc d;
	struct dnsrules_dkim_key k;
	struct dnsrules_ip ip = { .family = AF_INET, .a = { 198, 18, 0, 1 } };
	char err[160], out[DNSRULES_NAME_MAX + 1];

	err[0] = '\0';
	if (dnsrules_spf_parse(txt, len, &fz_spf, err, sizeof(err)) == 0) {
		if (fz_spf.n > DNSRULES_SPF_TERMS_MAX)
			abort();
		for (size_t i = 0; i < fz_spf.n; i++) {
			const struct dnsrules_spf_term *t = &fz_spf.t[i];

			if ((size_t)t->off + t->len > sizeof(fz_spf.text) || (size_t)t->doff + t->dlen > sizeof(fz_spf.text))
				abort();
			if (dnsrules_spf_target(&fz_spf, i, "example.com", out, sizeof(out)) == 0 &&
			    !dnsrules_name_valid(out))
				abort();
			(void)dnsrules_spf_ip_match(t, &ip);
		}
	} else {
		fz_printable(err, sizeof(err));
	}
	(void)dnsrules_spf_is_record(txt, len);
	err[0] = '\0';
	if (dnsrules_dmarc_parse(txt, len, &d, err, sizeof(err)) == -EINVAL)
		fz_printable(err, sizeof(err));
	(void)dnsrules_dmarc_is_record(txt, len);
	err[0] = '\0';
	if (dnsrules_dkim_key_parse(txt, len, &k, err, sizeof(err)) != 0)
		fz_printable(err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[DNSRULES_TXT_MAX + 1], out[512], why[160];
	unsigned sel;

	if (size < 1)
		return 0;
	sel = data[0] & 7;
	data++;
	size--;
	switch (sel) {
	case 0:
		if (dnsrules_msg_parse(data, size, &fz_msg) != 0)
			break;
		if (fz_msg.n > DNSRULES_RR_MAX || fz_msg.n_answers > fz_msg.n || fz_msg.text_len > sizeof(fz_msg.text))
			abort();
		for (size_t i = 0; i < fz_msg.n; i++) {
			const struct dnsrules_rr *r = &fz_msg.rr[i];

			if (r->owner >= fz_msg.text_len || (size_t)r->data + r->len > fz_msg.text_len)
				abort();
			if (r->type == DNSRULES_TXT)
				fz_records(fz_msg.text + r->data, r->len);
		}
		(void)dnsrules_msg_matches(&fz_msg, 1, "example.com", DNSRULES_TXT);
		break;
	case 1: case 2: case 3: {
		size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;

		memcpy(buf, data, n);
		buf[n] = '\0';
		fz_records(buf, n);
		break;
	}
	case 4: {
		size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;
		char *nl;
		struct dnsrules_ip ip;

		memcpy(buf, data, n);
		buf[n] = '\0';
		nl = strchr(buf, '\n');
		if (!nl)
			break;
		*nl = '\0';
		(void)dnsrules_ptr_generated(buf, nl + 1);
		if (dnsrules_ip_parse(buf, &ip) == 0 && dnsrules_reverse_name(&ip, nl + 1, out, sizeof(out)) == 0 &&
		    !dnsrules_name_valid(out))
			abort();
		break;
	}
	default: {
		size_t n;

		if (size < 4)
			break;
		n = size - 4 < sizeof(buf) - 1 ? size - 4 : sizeof(buf) - 1;
		memcpy(buf, data + 4, n);
		buf[n] = '\0';
		why[0] = '\0';
		(void)dnsrules_dnsbl_answer(buf, data, why, sizeof(why));
		fz_printable(why, sizeof(why));
		break;
	}
	}
	return 0;
}
