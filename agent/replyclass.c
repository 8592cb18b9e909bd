/* SPDX-License-Identifier: MIT */
/*
 * replyclass: reply classification against the patterns of
 * policies/replies.yaml (agent process, pure).  Patterns are few (tens), a
 * reply text is short (the session keeps at most max_text bytes), so a
 * linear scan with a case-insensitive substring search is enough.
 */
#include "replyclass.h"

#include <stdbool.h>
#include <string.h>

#define MAX_SCAN 1024   /* bytes of a reply text looked at */

static char lower(char c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* Does hay (len n, already lower case) contain needle (lower case), or
 * start with it when anchored? */
static bool contains(const char *hay, size_t n, const char *needle, bool anchored)
{
	size_t m = strlen(needle);
	if (m > n)
		return false;
	if (anchored)
		return memcmp(hay, needle, m) == 0;
	return memmem(hay, n, needle, m) != NULL;
}

/* The enhanced status code at the start of text ("5.7.1 ..."); its length or 0. */
static size_t enhanced_len(const char *t, size_t n)
{
	size_t i = 0, dots = 0;
	if (n < 5 || (t[0] != '2' && t[0] != '4' && t[0] != '5') || t[1] != '.')
		return 0;
	for (i = 1; i < n && (t[i] == '.' || (t[i] >= '0' && t[i] <= '9')); i++)
		dots += t[i] == '.';
	return dots == 2 && (i == n || t[i] == ' ' || t[i] == '\n' || t[i] == '\t') ? i : 0;
}

static bool code_matches(const struct reply_pattern *p, int code)
{
	if (!p->n_codes)
		return true;
	for (uint32_t i = 0; i < p->n_codes; i++)
		if (code >= p->code_lo[i] && code <= p->code_hi[i])
			return true;
	return false;
}

static bool pattern_matches(const struct reply_pattern *p, int code, const char *t, size_t n,
			    size_t elen)
{
	if (!code_matches(p, code))
		return false;
	if (p->enhanced[0]) {
		size_t pl = strlen(p->enhanced);
		/* "5.7.1" must not match "5.7.10": the prefix ends at a boundary */
		if (!elen || pl > elen || memcmp(t, p->enhanced, pl) ||
		    (pl < elen && t[pl] != '.' && p->enhanced[pl - 1] != '.'))
			return false;
	}
	if (!p->n_match)
		return true;
	for (uint32_t i = 0; i < p->n_match; i++) {
		const char *m = p->match[i];
		bool anch = m[0] == '^';
		/* anchored tokens match at the start of the text after the enhanced code */
		size_t skip = anch && elen && elen < n ? elen + 1 : 0;
		if (contains(t + skip, n - skip, m + anch, anch))
			return true;
	}
	return false;
}

/* Join a multi-line text into one lower-case line: "\n" and the repeated
 * enhanced code of a continuation line ("...not authorized to\n5.7.1 send
 * ...") become one space, so wordings match across line breaks. */
static size_t unfold(const char *t, size_t n, size_t elen, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (t[i] == '\r')
			continue;
		if (t[i] == '\n') {
			out[o++] = ' ';
			if (elen && i + 1 + elen < n && !memcmp(t + i + 1, t, elen) && t[i + 1 + elen] == ' ')
				i += elen + 1;
			continue;
		}
		out[o++] = lower(t[i]);
	}
	out[o] = '\0';
	return o;
}

struct replyclass replyclass_classify(const struct reply_patterns *pats, int code,
				      const char *raw)
{
	struct replyclass rc = { RC_OTHER, 0, NULL };
	char text[MAX_SCAN + 1];
	size_t n, elen;

	if (code >= 200 && code < 300)
		rc.base = RC_OK;
	else if (code >= 400 && code < 500)
		rc.base = RC_DEFERRAL;
	else if (code >= 500 && code < 600)
		rc.base = RC_REJECTION;
	/* success replies are never problems, whatever their text says */
	if (!pats || rc.base == RC_OK || rc.base == RC_OTHER)
		return rc;
	n = raw ? strnlen(raw, MAX_SCAN) : 0;
	elen = enhanced_len(raw ? raw : "", n);
	n = unfold(raw ? raw : "", n, elen, text);
	for (uint32_t i = 0; i < pats->n; i++) {
		const struct reply_pattern *p = &pats->p[i];
		if ((rc.bits & p->cls) && (p->cls != RCLS_BLOCKLIST || rc.list))
			continue;
		if (!pattern_matches(p, code, text, n, elen))
			continue;
		rc.bits |= p->cls;
		if (p->cls == RCLS_BLOCKLIST && p->list[0] && !rc.list)
			rc.list = p->list;
	}
	return rc;
}

const char *replyclass_base_name(enum replyclass_base b)
{
	static const char *const names[] = { "other", "ok", "deferral", "rejection" };
	return (unsigned)b <= RC_REJECTION ? names[b] : "other";
}
