/* SPDX-License-Identifier: MIT */
/*
 * lint: the checks of a whitelist request's sample message (controller and
 * twctl; pure code).  See lint.h and doc/checks.md.
 *
 * Three sources feed the checks: a scan of the raw lines (RFC 5322 line
 * structure, which the streaming parser forgives), message.c's facts, and
 * its observer hooks (every top-level header field; every link as the
 * link finder classifies it; the visible text of text and HTML parts).
 * The visible text is kept lower-cased, up to LINT_TEXT_MAX bytes, for the
 * wording heuristics and to place links next to their words.
 */
#include "lint.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpsl.h>

#include "links.h"
#include "message.h"
#include "mime.h"

#define LINT_TEXT_MAX (512u << 10)
#define LINT_URLS_MAX 64
#define LINT_URL_MAX 512
#define LINT_DKIM_MAX 8
#define LINT_FIELD_KEEP 1024
#define LINT_NEAR 120                /* bytes of text between a link and its words */

/* Fields RFC 5322 section 3.6 allows at most once. */
static const char *const lint_once[] = {
	"from", "sender", "reply-to", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references",
};
#define LINT_N_ONCE (sizeof(lint_once) / sizeof(lint_once[0]))

struct lint_link {
	char url[LINT_URL_MAX];        /* as written, cut */
	size_t at;                     /* offset in the visible text */
	unsigned flags;
};

struct lint {
	const struct lint_config *cfg;
	struct links_hooks hooks;
	/* header fields */
	unsigned once[LINT_N_ONCE];
	char sender[LINT_FIELD_KEEP], reply_to[LINT_FIELD_KEEP], return_path[LINT_FIELD_KEEP];
	char msgid_raw[LINT_FIELD_KEEP];   /* with its <>, which message_facts drops */
	bool have_mime_version, have_references;
	char dkim[LINT_DKIM_MAX][LINT_FIELD_KEEP];
	unsigned n_dkim;
	/* body */
	char *text;                    /* owned; lower-cased visible text, whitespace as ' ' */
	size_t text_len, text_cap;
	const char *chunk;             /* the text piece being fed (borrowed, for link offsets) */
	size_t chunk_len, chunk_at;
	struct lint_link *links;       /* owned */
	size_t n_links;
	char first_ip[LINT_URL_MAX], first_encoded[LINT_URL_MAX], first_redirect[LINT_URL_MAX];
	char first_shortener[LINT_URL_MAX];
	bool oom;
};

/* ---- small string helpers ------------------------------------------- */

static bool lint_ieq(const char *a, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n == l && strncasecmp(a, lit, l) == 0;
}

static void lint_keep(char *dst, size_t cap, const char *v, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* Copy for a reason line: at most 100 bytes, "..." when cut. */
static const char *lint_quote(const char *s, char *buf, size_t cap)
{
	size_t n = strlen(s), lim = cap - 4 < 100 ? cap - 4 : 100;

	if (n <= lim)
		return s;
	memcpy(buf, s, lim);
	memcpy(buf + lim, "...", 4);
	return buf;
}

/* Does hay (lower case, whitespace as ' ') contain needle, where a ' ' in
 * needle matches one or more spaces?  A '$' ending needle: the match must
 * end a word (no letter, ASCII or not, follows).  The text is not converted
 * from its charset, so a UTF-8 letter of U+00C0..U+00FF in needle ("é")
 * also matches its ISO-8859-1 (and Windows-1252) byte.  Returns the offset
 * or -1. */
static long lint_find(const char *hay, size_t n, const char *needle, size_t from)
{
	size_t nl = strlen(needle);
	bool word_end = nl && needle[nl - 1] == '$';

	if (word_end)
		nl--;
	for (size_t i = from; i < n; i++) {
		size_t h = i, k = 0;

		if (hay[i] != needle[0] && (unsigned char)needle[0] < 0x80)
			continue;
		while (k < nl && h < n) {
			if (needle[k] == ' ') {
				if (hay[h] != ' ')
					break;
				while (h < n && hay[h] == ' ')
					h++;
				k++;
			} else if (hay[h] == needle[k]) {
				h++;
				k++;
			} else if ((unsigned char)needle[k] == 0xc3 && k + 1 < nl &&
				   (unsigned char)hay[h] == (unsigned char)needle[k + 1] + 0x40) {
				h++;
				k += 2;
			} else {
				break;
			}
		}
		if (k == nl && (!word_end || h == n || !(isalpha((unsigned char)hay[h]) || (unsigned char)hay[h] > 127)))
			return (long)i;
	}
	return -1;
}

static bool lint_any(const char *hay, size_t n, const char *const *words)
{
	for (; *words; words++)
		if (lint_find(hay, n, *words, 0) >= 0)
			return true;
	return false;
}

/* ---- organisational domain ------------------------------------------ */

void lint_org_domain(const char *domain, char *out, size_t cap)
{
	static const psl_ctx_t *psl;
	static bool tried;
	const char *r = NULL;

	if (!tried) {
		/* the list is read-only after loading: one per process is enough */
		tried = true;
		psl = psl_latest(NULL);
		if (!psl)
			psl = psl_builtin();
	}
	if (psl)
		r = psl_registrable_domain(psl, domain);
	if (!r) {
		/* no list, or the name is itself a public suffix */
		const char *dot = strrchr(domain, '.');

		r = domain;
		if (dot)
			for (const char *p = dot - 1; p >= domain; p--)
				if (*p == '.') {
					r = p + 1;
					break;
				}
	}
	snprintf(out, cap, "%s", r);
}

static bool lint_aligned(const char *a, const char *b)
{
	char oa[LINT_DOMAIN_MAX], ob[LINT_DOMAIN_MAX];

	if (!*a || !*b)
		return false;
	lint_org_domain(a, oa, sizeof(oa));
	lint_org_domain(b, ob, sizeof(ob));
	return strcasecmp(oa, ob) == 0;
}

/* Domain of the first address in an address-list value (lower case, as
 * mime_first_addr() gives it). */
static void lint_addr_domain(const char *v, char *out, size_t cap)
{
	char addr[LINT_FIELD_KEEP];
	size_t n = mime_first_addr(v, strlen(v), addr, sizeof(addr));
	const char *at = n ? strrchr(addr, '@') : NULL;

	snprintf(out, cap, "%s", at ? at + 1 : "");
}

/* ---- hooks ------------------------------------------------------------ */

static void lint_on_field(void *ctx, const char *name, size_t nl, const char *v, size_t n)
{
	struct lint *l = ctx;

	for (size_t i = 0; i < LINT_N_ONCE; i++)
		if (lint_ieq(name, nl, lint_once[i]))
			l->once[i]++;
	if (lint_ieq(name, nl, "sender") && !*l->sender)
		lint_keep(l->sender, sizeof(l->sender), v, n);
	else if (lint_ieq(name, nl, "reply-to") && !*l->reply_to)
		lint_keep(l->reply_to, sizeof(l->reply_to), v, n);
	else if (lint_ieq(name, nl, "return-path") && !*l->return_path)
		lint_keep(l->return_path, sizeof(l->return_path), v, n);
	else if (lint_ieq(name, nl, "message-id") && !*l->msgid_raw)
		lint_keep(l->msgid_raw, sizeof(l->msgid_raw), v, n);
	else if (lint_ieq(name, nl, "mime-version"))
		l->have_mime_version = true;
	else if (lint_ieq(name, nl, "references"))
		l->have_references = true;
	else if (lint_ieq(name, nl, "dkim-signature") && l->n_dkim < LINT_DKIM_MAX)
		lint_keep(l->dkim[l->n_dkim++], LINT_FIELD_KEEP, v, n);
}

static void lint_on_text(void *ctx, const char *s, size_t n)
{
	struct lint *l = ctx;
	size_t room;

	l->chunk = s;
	l->chunk_len = n;
	l->chunk_at = l->text_len;
	room = LINT_TEXT_MAX - l->text_len;
	if (n > room)
		n = room;
	if (l->text_len + n > l->text_cap) {
		size_t cap = l->text_cap ? l->text_cap : 4096;
		char *t;

		while (cap < l->text_len + n)
			cap *= 2;
		if (cap > LINT_TEXT_MAX)
			cap = LINT_TEXT_MAX;
		t = realloc(l->text, cap);
		if (!t) {
			l->oom = true;
			return;
		}
		l->text = t;
		l->text_cap = cap;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		l->text[l->text_len++] = c < 0x20 ? ' ' : (char)tolower(c);
	}
}

/* Does s (a URL or a part of one, at most LINT_URL_MAX bytes looked at)
 * contain one of the lower-case words, in any case? */
static bool lint_url_has(const char *s, const char *const *words)
{
	char low[LINT_URL_MAX];
	size_t n = 0;

	for (; s[n] && n < sizeof(low) - 1; n++)
		low[n] = (char)tolower((unsigned char)s[n]);
	low[n] = '\0';
	for (; *words; words++)
		if (strstr(low, *words))
			return true;
	return false;
}

/* Does a URL read as an unsubscribe link by itself? */
static bool lint_unsub_url(const char *url)
{
	static const char *const w[] = {
		"unsub", "optout", "opt-out", "opt_out", "abmelden", "abbestellen", "desinscri", "desabonn",
		"baja", "afmelden", "uitschrijven", "disiscri", "cancellazione", "descadastr", "remove-me", NULL,
	};

	return lint_url_has(url, w);
}

/* A redirector: the query (or the fragment) carries another URL. */
static bool lint_redirector(const char *url)
{
	static const char *const w[] = { "=http:", "=https:", "=http%3a", "=https%3a", "=%2f%2f", "=//", "=www.", NULL };
	const char *q = strpbrk(url, "?#");

	return q && lint_url_has(q, w);
}

static void lint_on_link(void *ctx, const char *url, size_t n, unsigned flags)
{
	struct lint *l = ctx;
	char u[LINT_URL_MAX];
	struct lint_link *k;

	lint_keep(u, sizeof(u), url, n);
	if ((flags & LINKS_F_IP) && !*l->first_ip)
		snprintf(l->first_ip, sizeof(l->first_ip), "%s", u);
	if ((flags & LINKS_F_ENCODED) && !*l->first_encoded)
		snprintf(l->first_encoded, sizeof(l->first_encoded), "%s", u);
	if ((flags & LINKS_F_SHORTENER) && !*l->first_shortener)
		snprintf(l->first_shortener, sizeof(l->first_shortener), "%s", u);
	if ((flags & LINKS_F_LINK) && lint_redirector(u) && !*l->first_redirect)
		snprintf(l->first_redirect, sizeof(l->first_redirect), "%s", u);
	if (l->n_links >= LINT_URLS_MAX)
		return;
	if (!l->links) {
		l->links = calloc(LINT_URLS_MAX, sizeof(*l->links));
		if (!l->links) {
			l->oom = true;
			return;
		}
	}
	k = &l->links[l->n_links++];
	memcpy(k->url, u, sizeof(k->url));
	k->flags = flags;
	/* a link inside the text piece being fed sits where it is written;
	 * an href (or a token kept across pieces) sits at the end so far */
	uintptr_t p = (uintptr_t)url, c = (uintptr_t)l->chunk;

	if (l->chunk && p >= c && p < c + l->chunk_len)
		k->at = l->chunk_at + (size_t)(p - c);
	else
		k->at = l->text_len;
	if (k->at > l->text_len)
		k->at = l->text_len;
}

/* ---- raw structure ------------------------------------------------------ */

struct lint_raw {
	bool has_separator, bad_field, continuation_first, long_line, bare_lf, eight_bit;
	unsigned bad_line, long_lineno;
	size_t header_len;
};

/* Walk the lines: the header section up to the first empty line (field
 * syntax, 8-bit bytes), and every line for length and line ends. */
static void lint_scan(const uint8_t *m, size_t len, struct lint_raw *r)
{
	bool header = true;
	unsigned lineno = 0;

	memset(r, 0, sizeof(*r));
	for (size_t i = 0; i < len;) {
		const uint8_t *nl = memchr(m + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - m) : len, k = e;

		lineno++;
		if (nl && (k == i || m[k - 1] != '\r'))
			r->bare_lf = true;
		if (k > i && m[k - 1] == '\r')
			k--;
		if (k - i > 998 && !r->long_line) {
			r->long_line = true;
			r->long_lineno = lineno;
		}
		if (header) {
			if (k == i) {
				header = false;
				r->has_separator = true;
				r->header_len = e + 1 > len ? len : e + 1;
			} else if (m[i] == ' ' || m[i] == '\t') {
				if (lineno == 1)
					r->continuation_first = true;
			} else {
				size_t j = i;

				while (j < k && m[j] > 32 && m[j] < 127 && m[j] != ':')
					j++;
				if ((j == i || j >= k || m[j] != ':') && !r->bad_field) {
					r->bad_field = true;
					r->bad_line = lineno;
				}
			}
			for (size_t j = i; j < k; j++)
				if (m[j] > 127)
					r->eight_bit = true;
		}
		i = nl ? e + 1 : len;
	}
}

/* ---- individual checks -------------------------------------------------- */

/* One line per check: the first defect found (in this order) decides it. */
static void lint_structure(struct lint *l, const struct message_facts *f, const struct lint_raw *r,
			   size_t len, struct checklist *out)
{
	const char *N = "structure";
	size_t dup = 0;

	while (dup < LINT_N_ONCE && l->once[dup] <= 1)
		dup++;
	if (len == 0)
		checklist_add(out, N, CHECK_FAIL, "the message is empty");
	else if (r->continuation_first)
		checklist_add(out, N, CHECK_FAIL, "the first line is a continuation: there is no header field before it");
	else if (r->bad_field)
		checklist_add(out, N, CHECK_FAIL, "line %u is not a header field (name: value)%s", r->bad_line,
			      r->has_separator ? "" : "; there is no blank line between header and body");
	else if (!r->has_separator)
		checklist_add(out, N, CHECK_FAIL, "no blank line ends the header section: the message has no body");
	else if (r->long_line)
		checklist_add(out, N, CHECK_FAIL, "line %u is longer than 998 bytes (RFC 5322 2.1.1)", r->long_lineno);
	else if (dup < LINT_N_ONCE)
		checklist_add(out, N, CHECK_FAIL, "%s appears %u times; RFC 5322 allows it once", lint_once[dup],
			      l->once[dup]);
	else if (r->eight_bit && !l->have_mime_version)
		checklist_add(out, N, CHECK_FAIL, "raw 8-bit bytes in the header without MIME-Version (use RFC 2047 encoded-words)");
	else if (f->header_truncated)
		checklist_add(out, N, CHECK_FAIL, "a header field is longer than the parser keeps");
	else if (r->bare_lf)
		checklist_add(out, N, CHECK_WARN, "lines end in a bare LF (SMTP carries CRLF)");
	else
		checklist_add(out, N, CHECK_PASS, "%u header fields, a body of %llu bytes, %u MIME part%s", f->header_count,
			      (unsigned long long)f->body_bytes, f->parts, f->parts == 1 ? "" : "s");
}

/* RFC 5322 3.3 date-time (with the obsolete zones of 4.3). */
static bool lint_date_ok(const char *s)
{
	static const char *const mon[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec" };
	char m[4] = "", zone[8] = "";
	int day, year, hh, mm, ss = 0, used = 0;
	const char *p = s, *c;

	while (*p == ' ')
		p++;
	if ((c = strchr(p, ',')) && c - p <= 4)
		p = c + 1;
	if (sscanf(p, " %2d %3s %4d %2d:%2d%n", &day, m, &year, &hh, &mm, &used) != 5)
		return false;
	p += used;
	if (*p == ':' && sscanf(p, ":%2d%n", &ss, &used) == 1)
		p += used;
	/* a comment may follow the zone without a space: "+0100(CET)" */
	if (sscanf(p, " %7[^ \t(]", zone) != 1)
		return false;
	bool month = false;

	for (int i = 0; i < 12; i++)
		month |= strncasecmp(m, mon[i], 3) == 0 && strlen(m) == 3;
	if (!month || day < 1 || day > 31 || year < 1900 || hh > 23 || mm > 59 || ss > 60)
		return false;
	if ((zone[0] == '+' || zone[0] == '-') && strlen(zone) == 5)
		return isdigit((unsigned char)zone[1]) && isdigit((unsigned char)zone[2]) &&
		       isdigit((unsigned char)zone[3]) && isdigit((unsigned char)zone[4]);
	static const char *const obs[] = { "ut", "gmt", "est", "edt", "cst", "cdt", "mst", "mdt", "pst", "pdt", "z", NULL };

	for (int i = 0; obs[i]; i++)
		if (!strcasecmp(zone, obs[i]))
			return true;
	return false;
}

static bool lint_msgid_ok(const char *v)
{
	const char *lt = strchr(v, '<'), *gt = lt ? strchr(lt, '>') : NULL, *at;

	if (!lt || !gt)
		return false;
	at = memchr(lt, '@', (size_t)(gt - lt));
	if (!at || at == lt + 1 || at + 1 == gt)
		return false;
	for (const char *p = lt + 1; p < gt; p++)
		if (*p <= ' ' || *p == '<' || (unsigned char)*p > 126)
			return false;
	return true;
}

static void lint_required(struct lint *l, const struct message_facts *f, struct checklist *out)
{
	const char *N = "required_headers";
	char q[128];

	if (!f->from || !f->date || !f->message_id) {
		checklist_add(out, N, CHECK_FAIL, "missing:%s%s%s", f->from ? "" : " From", f->date ? "" : " Date",
			      f->message_id ? "" : " Message-ID");
		return;
	}
	if (!lint_date_ok(f->date)) {
		checklist_add(out, N, CHECK_FAIL, "Date \"%s\" is not an RFC 5322 date", lint_quote(f->date, q, sizeof(q)));
		return;
	}
	if (!lint_msgid_ok(l->msgid_raw)) {
		checklist_add(out, N, CHECK_FAIL, "Message-ID \"%s\" is not <left@right>",
			      lint_quote(l->msgid_raw, q, sizeof(q)));
		return;
	}
	checklist_add(out, N, CHECK_PASS, "From, Date and Message-ID are present and well formed");
}

static void lint_from(struct lint *l, const struct message_facts *f, struct lint_result *res,
		      struct checklist *out)
{
	const char *N = "from_domain";
	const char *at = f->from_addr ? strrchr(f->from_addr, '@') : NULL;
	struct { const char *what, *value; } other[] = {
		{ "Sender", l->sender }, { "Reply-To", l->reply_to }, { "Return-Path", l->return_path },
		{ "Message-ID", l->msgid_raw },
	};
	char from[LINT_DOMAIN_MAX];

	if (!at || !at[1] || !strchr(at + 1, '.')) {
		checklist_add(out, N, CHECK_FAIL, "From has no address with a domain");
		return;
	}
	snprintf(from, sizeof(from), "%s", at + 1);
	snprintf(res->from_domain, sizeof(res->from_domain), "%s", from);
	if (mime_addr_count(f->from, strlen(f->from)) > 1 && !*l->sender) {
		checklist_add(out, N, CHECK_FAIL, "From names several mailboxes and there is no Sender");
		return;
	}
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		char d[LINT_DOMAIN_MAX];

		if (!*other[i].value)
			continue;
		lint_addr_domain(other[i].value, d, sizeof(d));
		if (*d && !lint_aligned(d, from)) {
			checklist_add(out, N, CHECK_WARN, "%s domain %s is not the From domain %s", other[i].what, d, from);
			return;
		}
	}
	checklist_add(out, N, CHECK_PASS, "From domain %s; Sender, Reply-To, Return-Path and Message-ID agree", from);
}

static void lint_bulk(const struct message_facts *f, struct checklist *out)
{
	const char *N = "bulk_headers";
	const char *p = f->precedence ? f->precedence : "";

	if (!strcmp(p, "junk"))
		checklist_add(out, N, CHECK_WARN, "Precedence: junk (use bulk or list)");
	else if (!strcmp(p, "bulk") || !strcmp(p, "list"))
		checklist_add(out, N, CHECK_PASS, "Precedence: %s%s", p, f->list_id ? ", List-Id present" : "");
	else if (f->list_id)
		checklist_add(out, N, CHECK_PASS, "List-Id present");
	else
		checklist_add(out, N, CHECK_FAIL, "neither Precedence: bulk/list nor List-Id");
}

/* The <...> URIs of List-Unsubscribe, each call the next one: returns
 * false at the end.  *pos is the cursor. */
static bool lint_next_uri(const char *v, size_t *pos, char *out, size_t cap)
{
	const char *lt = strchr(v + *pos, '<'), *gt = lt ? strchr(lt, '>') : NULL;

	if (!gt)
		return false;
	lint_keep(out, cap, lt + 1, (size_t)(gt - lt - 1));
	*pos = (size_t)(gt - v) + 1;
	return true;
}

static void lint_unsub_header(const struct message_facts *f, struct checklist *out)
{
	char u[LINT_URL_MAX];
	size_t pos = 0;
	bool mailto = false, https = false, http = false;

	if (f->list_unsubscribe)
		while (lint_next_uri(f->list_unsubscribe, &pos, u, sizeof(u))) {
			mailto |= strncasecmp(u, "mailto:", 7) == 0 && u[7];
			https |= strncasecmp(u, "https://", 8) == 0 && u[8];
			http |= strncasecmp(u, "http://", 7) == 0 && u[7];
		}
	if (!f->list_unsubscribe)
		checklist_add(out, "list_unsubscribe", CHECK_FAIL, "no List-Unsubscribe header");
	else if (!mailto && !https && http)
		checklist_add(out, "list_unsubscribe", CHECK_WARN, "List-Unsubscribe has only http: URIs (no TLS)");
	else if (!mailto && !https)
		checklist_add(out, "list_unsubscribe", CHECK_FAIL, "List-Unsubscribe has no <mailto:...> or <https://...> URI");
	else
		checklist_add(out, "list_unsubscribe", CHECK_PASS, "List-Unsubscribe with %s%s%s", mailto ? "mailto" : "",
			      mailto && https ? " and " : "", https ? "https" : "");

	const char *post = f->list_unsubscribe_post;
	bool one = false;

	if (post) {
		char t[64];
		size_t n = 0;

		for (const char *p = post; *p && n < sizeof(t) - 1; p++)
			if (*p != ' ' && *p != '\t')
				t[n++] = (char)tolower((unsigned char)*p);
		t[n] = '\0';
		one = !strcmp(t, "list-unsubscribe=one-click");
	}
	if (!one)
		checklist_add(out, "one_click", CHECK_FAIL, post ? "List-Unsubscribe-Post is not \"List-Unsubscribe=One-Click\"" :
			      "no List-Unsubscribe-Post: List-Unsubscribe=One-Click (RFC 8058)");
	else if (!https)
		checklist_add(out, "one_click", CHECK_FAIL, "List-Unsubscribe-Post without an https: URI in List-Unsubscribe (RFC 8058)");
	else
		checklist_add(out, "one_click", CHECK_PASS, "one-click unsubscribe (RFC 8058)");
}

/* Stems, but the Italian "cancellati" is a whole word: English
 * "cancellation" is not an unsubscribe link. */
static const char *const lint_unsub_words[] = {
	"unsubscribe", "opt out", "opt-out", "optout", "abmelden", "abbestellen", "austragen", "désinscri",
	"desinscri", "désabonn", "desabonn", "de baja", "cancelar suscripci", "cancelar la suscripci",
	"anular suscripci", "disiscriv", "cancellati$", "annulla l'iscrizione", "afmelden", "uitschrijven",
	"cancelar inscri", "cancelar subscri", "descadastr", NULL,
};

/* The first link (or mailto) within LINT_NEAR bytes of the visible text's
 * offset at, or NULL. */
static const struct lint_link *lint_link_near(const struct lint *l, size_t at)
{
	for (size_t i = 0; i < l->n_links; i++) {
		const struct lint_link *k = &l->links[i];
		size_t d = k->at > at ? k->at - at : at - k->at;

		if ((k->flags & (LINKS_F_LINK | LINKS_F_MAILTO)) && d <= LINT_NEAR)
			return k;
	}
	return NULL;
}

static void lint_body_unsub(struct lint *l, struct checklist *out)
{
	const char *N = "body_unsubscribe";
	bool word = false;
	char q[128];

	for (size_t i = 0; i < l->n_links; i++)
		if ((l->links[i].flags & (LINKS_F_LINK | LINKS_F_MAILTO)) && lint_unsub_url(l->links[i].url)) {
			checklist_add(out, N, CHECK_PASS, "unsubscribe link %s", lint_quote(l->links[i].url, q, sizeof(q)));
			return;
		}
	for (const char *const *w = lint_unsub_words; *w; w++)
		for (long at = lint_find(l->text, l->text_len, *w, 0); at >= 0;
		     at = lint_find(l->text, l->text_len, *w, (size_t)at + 1)) {
			const struct lint_link *k = lint_link_near(l, (size_t)at);

			word = true;
			if (k) {
				checklist_add(out, N, CHECK_PASS, "\"%.*s\" next to the link %s", (int)strcspn(*w, "$"), *w,
					      lint_quote(k->url, q, sizeof(q)));
				return;
			}
		}
	if (word)
		checklist_add(out, N, CHECK_WARN, "unsubscribe wording in the body, but no link next to it");
	else
		checklist_add(out, N, CHECK_FAIL, "no unsubscribe link in the body");
}

static void lint_dkim(struct lint *l, struct lint_result *res, struct checklist *out)
{
	const char *N = "dkim";
	char d[LINT_DOMAIN_MAX], s[LINT_SELECTOR_MAX], tag[LINT_FIELD_KEEP];
	int best = -1;

	if (!l->n_dkim) {
		checklist_add(out, N, CHECK_FAIL, "no DKIM-Signature");
		return;
	}
	for (unsigned i = 0; i < l->n_dkim && best < 0; i++) {
		const char *v = l->dkim[i];

		if (mime_dkim_tag(v, strlen(v), "d", d, sizeof(d)) > 0 && lint_aligned(d, res->from_domain))
			best = (int)i;
	}
	const char *v = l->dkim[best < 0 ? 0 : best];

	if (mime_dkim_tag(v, strlen(v), "d", d, sizeof(d)) <= 0)
		d[0] = '\0';
	if (mime_dkim_tag(v, strlen(v), "s", s, sizeof(s)) <= 0)
		s[0] = '\0';
	for (char *p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	snprintf(res->dkim_domain, sizeof(res->dkim_domain), "%s", d);
	snprintf(res->dkim_selector, sizeof(res->dkim_selector), "%s", s);
	if (best < 0) {
		checklist_add(out, N, CHECK_FAIL, "DKIM d=%s is not aligned with the From domain %s", *d ? d : "(none)",
			      *res->from_domain ? res->from_domain : "(none)");
		return;
	}
	if (mime_dkim_tag(v, strlen(v), "l", tag, sizeof(tag)) >= 0) {
		checklist_add(out, N, CHECK_WARN, "d=%s s=%s signs only part of the body (l=%s)", d, s, tag);
		return;
	}
	bool from = false;

	if (mime_dkim_tag(v, strlen(v), "h", tag, sizeof(tag)) > 0)
		for (char *p = strtok(tag, ":"); p; p = strtok(NULL, ":"))
			from |= strcasecmp(p, "from") == 0;
	if (!from) {
		checklist_add(out, N, CHECK_WARN, "d=%s s=%s: h= does not list From", d, s);
		return;
	}
	checklist_add(out, N, CHECK_PASS, "d=%s s=%s, aligned with From", d, s);
}

static void lint_wording(struct lint *l, struct checklist *out)
{
	static const char *const pobox[] = { "p.o. box", "po box", "p.o.box", "postfach", "boîte postale", "apartado de correos", "postbus", "caixa postal", NULL };
	static const char *const street[] = {
		" street", " st.", " avenue", " ave.", " ave ", " road", " rd.", " blvd", " boulevard", " lane", " drive",
		" suite ", " floor", "straße", "strasse", "str.", "weg ", "platz", "gasse", "allee", "rue ", "avenue ",
		"chemin", "calle ", "avenida", "plaza", "via ", "viale", "piazza", "straat", "laan", "plein", "rua ",
		"travessa", NULL,
	};
	static const char *const why[] = {
		"you are receiving this", "you're receiving this", "you receive this", "you received this",
		"because you subscribed", "because you signed up", "you signed up", "you subscribed", "you opted in",
		"you registered", "as a subscriber", "you are subscribed", "you're subscribed", "sent to you because",
		"sie erhalten diese", "sie erhalten diesen", "weil sie", "newsletter abonniert", "angemeldet haben",
		"vous recevez ce", "vous recevez cet", "vous êtes inscrit", "vous avez souscrit", "vous êtes abonné",
		"recibes este", "recibe este", "recibes esta", "te has suscrito", "se ha suscrito", "ricevi questa",
		"hai ricevuto", "je ontvangt deze", "u ontvangt deze", "você está recebendo", "recebeu este", NULL,
	};
	bool addr = lint_any(l->text, l->text_len, pobox);

	/* a street word with a number close by, or a postcode */
	for (size_t w = 0; !addr && street[w]; w++)
		for (long at = lint_find(l->text, l->text_len, street[w], 0); at >= 0 && !addr;
		     at = lint_find(l->text, l->text_len, street[w], (size_t)at + 1)) {
			size_t a = (size_t)at > 24 ? (size_t)at - 24 : 0, b = (size_t)at + 24;

			if (b > l->text_len)
				b = l->text_len;
			for (size_t i = a; i < b && !addr; i++)
				addr = isdigit((unsigned char)l->text[i]);
		}
	for (size_t i = 0; !addr && i + 7 < l->text_len; i++) {
		const char *t = l->text + i;

		/* US "ca 94105", continental "75001 paris" (4-5 digits, a word);
		 * four digits from 1900 to 2099 are a year ("© 2026 acme",
		 * "spring 2026 collection"), not a postcode */
		if (isalpha((unsigned char)t[0]) && isalpha((unsigned char)t[1]) && t[2] == ' ' &&
		    (i == 0 || t[-1] == ' ' || t[-1] == ',') && isdigit((unsigned char)t[3]) && isdigit((unsigned char)t[4]) &&
		    isdigit((unsigned char)t[5]) && isdigit((unsigned char)t[6]) && isdigit((unsigned char)t[7]) &&
		    (i + 8 == l->text_len || !isdigit((unsigned char)t[8])))
			addr = true;
		else if ((i == 0 || t[-1] == ' ') && isdigit((unsigned char)t[0]) && isdigit((unsigned char)t[1]) &&
			 isdigit((unsigned char)t[2]) && isdigit((unsigned char)t[3]) &&
			 (t[4] == ' ' || (isdigit((unsigned char)t[4]) && t[5] == ' ')) &&
			 isalpha((unsigned char)t[t[4] == ' ' ? 5 : 6]) &&
			 !(t[4] == ' ' && (!strncmp(t, "19", 2) || !strncmp(t, "20", 2))))
			addr = true;
	}
	if (addr)
		checklist_add(out, "postal_address", CHECK_PASS, "a postal address is in the visible text");
	else
		checklist_add(out, "postal_address", CHECK_WARN, "no postal address found in the visible text");
	if (lint_any(l->text, l->text_len, why))
		checklist_add(out, "why_received", CHECK_PASS, "the text says why the recipient gets the message");
	else
		checklist_add(out, "why_received", CHECK_WARN, "no \"you receive this because\" wording found");
}

static void lint_html(const struct message_facts *f, struct checklist *out)
{
	char what[160] = "";
	struct { bool on; const char *name; } c[] = {
		{ f->html.script, "script" }, { f->html.iframe, "iframe/frame" }, { f->html.form, "form" },
		{ f->html.object, "object/embed/applet" }, { f->html.meta_refresh, "meta refresh" },
		{ f->html.external_css, "external style sheet" },
	};

	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		if (c[i].on) {
			size_t n = strlen(what);

			snprintf(what + n, sizeof(what) - n, "%s%s", n ? ", " : "", c[i].name);
		}
	if (*what)
		checklist_add(out, "html_content", CHECK_FAIL, "the HTML has %s", what);
	else
		checklist_add(out, "html_content", CHECK_PASS, f->html.present ? "the HTML has no active or external content" :
			      "no HTML part");
}

static void lint_links(struct lint *l, const struct message_facts *f, struct checklist *out)
{
	char q[128];

	if (*l->first_ip)
		checklist_add(out, "link_hosts", CHECK_FAIL, "%u link%s to an IP address, e.g. %s", f->links.ip_literal,
			      f->links.ip_literal == 1 ? "" : "s", lint_quote(l->first_ip, q, sizeof(q)));
	else if (*l->first_encoded)
		checklist_add(out, "link_hosts", CHECK_FAIL, "%u link%s with an encoded or disguised host, e.g. %s",
			      f->links.encoded_host, f->links.encoded_host == 1 ? "" : "s",
			      lint_quote(l->first_encoded, q, sizeof(q)));
	else
		checklist_add(out, "link_hosts", CHECK_PASS, "%u link%s to %u host%s, all by name", f->links.count,
			      f->links.count == 1 ? "" : "s", f->links.distinct_hosts, f->links.distinct_hosts == 1 ? "" : "s");
	if (*l->first_shortener)
		checklist_add(out, "link_redirects", CHECK_FAIL, "a URL shortener: %s", lint_quote(l->first_shortener, q, sizeof(q)));
	else if (*l->first_redirect)
		checklist_add(out, "link_redirects", CHECK_FAIL, "a redirector (the link carries another URL): %s",
			      lint_quote(l->first_redirect, q, sizeof(q)));
	else
		checklist_add(out, "link_redirects", CHECK_PASS, "no shorteners or redirectors");
}

static void lint_subject(struct lint *l, const struct message_facts *f, struct checklist *out)
{
	const char *N = "subject";
	const char *s = f->subject;
	unsigned up = 0, letters = 0;
	char q[128];

	while (s && (*s == ' ' || *s == '\t'))
		s++;
	if (!s || !*s) {
		checklist_add(out, N, CHECK_FAIL, s ? "the Subject is empty" : "no Subject");
		return;
	}
	for (const char *p = s; *p; p++)
		if (isalpha((unsigned char)*p) && (unsigned char)*p < 128) {
			letters++;
			up += isupper((unsigned char)*p) != 0;
		}
	size_t pl = strcspn(s, ":");
	bool reply = false;

	if (s[pl] == ':' && pl <= 4) {
		static const char *const pre[] = { "re", "fwd", "fw", "aw", "wg", "tr", NULL };
		char w[8];
		size_t n = 0;

		for (size_t i = 0; i < pl && n < sizeof(w) - 1; i++)
			if (s[i] != ' ')
				w[n++] = (char)tolower((unsigned char)s[i]);
		w[n] = '\0';
		for (size_t i = 0; pre[i]; i++)
			reply |= !strcmp(w, pre[i]);
	}
	if (reply && !f->in_reply_to && !l->have_references)
		checklist_add(out, N, CHECK_WARN, "\"%s\" looks like a reply or forward but has no In-Reply-To or References",
			      lint_quote(s, q, sizeof(q)));
	else if (letters >= 8 && up * 10 > letters * 7)
		checklist_add(out, N, CHECK_WARN, "the Subject is in capitals: \"%s\"", lint_quote(s, q, sizeof(q)));
	else
		checklist_add(out, N, CHECK_PASS, "\"%s\"", lint_quote(s, q, sizeof(q)));
}

/* ---- request checks ----------------------------------------------------- */

/* Two URLs are the same link: equal but for the case of scheme and host
 * and a trailing slash. */
static bool lint_same_url(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b), auth;
	const char *sep = strstr(a, "://");

	while (na && a[na - 1] == '/')
		na--;
	while (nb && b[nb - 1] == '/')
		nb--;
	if (na != nb)
		return false;
	/* scheme and host compare without case, the rest exactly */
	auth = sep ? (size_t)(sep - a) + 3 : 0;
	auth += strcspn(a + auth, "/?#");
	if (auth > na)
		auth = na;
	return strncasecmp(a, b, auth) == 0 && memcmp(a + auth, b + auth, na - auth) == 0;
}

static void lint_request(struct lint *l, const struct message_facts *f, const struct lint_request *req,
			 struct checklist *out)
{
	const char *u = req->unsubscribe_url ? req->unsubscribe_url : "";
	const char *su = req->signup_url ? req->signup_url : "";
	const char *cm = req->consent_method ? req->consent_method : "";
	char q[128], x[LINT_URL_MAX], host[LINKS_HOST_MAX];
	bool found = false;
	struct links probe;

	if (strncasecmp(u, "https://", 8) || !u[8]) {
		if (*u)
			checklist_add(out, "unsubscribe_url", CHECK_FAIL, "the unsubscribe URL %s is not https",
				      lint_quote(u, q, sizeof(q)));
		else
			checklist_add(out, "unsubscribe_url", CHECK_FAIL, "no unsubscribe URL given");
	} else {
		size_t pos = 0;

		while (!found && f->list_unsubscribe && lint_next_uri(f->list_unsubscribe, &pos, x, sizeof(x)))
			found = lint_same_url(x, u);
		for (size_t i = 0; !found && i < l->n_links; i++)
			found = lint_same_url(l->links[i].url, u);
		checklist_add(out, "unsubscribe_url", found ? CHECK_PASS : CHECK_FAIL, found ?
			      "%s is the sample's unsubscribe link" : "%s is neither in List-Unsubscribe nor a link of the sample",
			      lint_quote(u, q, sizeof(q)));
	}
	links_init(&probe, l->cfg->shorteners, l->cfg->n_shorteners);
	unsigned fl = *su ? links_classify(&probe, su, strlen(su), host) : 0;

	links_fini(&probe);
	bool web = !strncasecmp(su, "https://", 8) || !strncasecmp(su, "http://", 7);

	if (!web || !(fl & LINKS_F_LINK))
		if (*su)
			checklist_add(out, "signup_url", CHECK_FAIL, "the sign-up URL %s is not an http(s) URL",
				      lint_quote(su, q, sizeof(q)));
		else
			checklist_add(out, "signup_url", CHECK_FAIL, "no sign-up URL given");
	else if (fl & (LINKS_F_IP | LINKS_F_ENCODED))
		checklist_add(out, "signup_url", CHECK_FAIL, "the sign-up URL's host %s is an IP address or disguised", host);
	else if (!strncasecmp(su, "http://", 7))
		checklist_add(out, "signup_url", CHECK_WARN, "the sign-up page %s is plain http", lint_quote(su, q, sizeof(q)));
	else
		checklist_add(out, "signup_url", CHECK_PASS, "sign-up page on %s", host);
	size_t cl = strlen(cm);

	if (strspn(cm, " \t\r\n") == cl)
		checklist_add(out, "consent_method", CHECK_FAIL, "no description of how subscribers consent");
	else if (cl < 20)
		checklist_add(out, "consent_method", CHECK_WARN, "the consent description is very short (%zu characters)", cl);
	else
		checklist_add(out, "consent_method", CHECK_PASS, "described (%zu characters)", cl);
}

/* ---- driver --------------------------------------------------------------- */

int lint_run(const struct lint_config *cfg, const uint8_t *msg, size_t len,
	     const struct lint_request *req, struct checklist *out, struct lint_result *res)
{
	size_t max = cfg->max_bytes ? cfg->max_bytes : LINT_MAX_BYTES;
	struct message_config mc;
	struct lint_result dummy;
	struct lint_raw raw;
	struct message *m;
	struct lint *l;
	int rc = 0;

	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	if (req) {
		if (len == 0)
			checklist_add(out, "sample_size", CHECK_FAIL, "the sample is empty");
		else if (len > max)
			checklist_add(out, "sample_size", CHECK_FAIL, "the sample has %zu bytes, over the limit of %zu", len, max);
		else
			checklist_add(out, "sample_size", CHECK_PASS, "%zu bytes", len);
	}
	if (len > max)
		len = max;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cfg = cfg;
	l->hooks.ctx = l;
	l->hooks.link = lint_on_link;
	l->hooks.text = lint_on_text;
	message_config_default(&mc);
	mc.shorteners = cfg->shorteners;
	mc.n_shorteners = cfg->n_shorteners;
	mc.on_field = lint_on_field;
	mc.on_field_ctx = l;
	mc.link_hooks = &l->hooks;
	m = message_new(&mc);
	if (!m) {
		free(l);
		return -ENOMEM;
	}
	lint_scan(msg, len, &raw);
	message_feed(m, msg, len);
	const struct message_facts *f = message_finish(m);

	lint_structure(l, f, &raw, len, out);
	lint_required(l, f, out);
	lint_from(l, f, res, out);
	lint_bulk(f, out);
	lint_unsub_header(f, out);
	lint_body_unsub(l, out);
	lint_dkim(l, res, out);
	lint_wording(l, out);
	lint_html(f, out);
	lint_links(l, f, out);
	lint_subject(l, f, out);
	if (req)
		lint_request(l, f, req, out);
	if (l->oom)
		rc = -ENOMEM;
	message_free(m);
	free(l->text);
	free(l->links);
	free(l);
	return rc;
}
