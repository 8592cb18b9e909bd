/* SPDX-License-Identifier: MIT */
/*
 * links: find links in decoded message text and classify their hosts the
 * way a browser would read them (so that http://3232235777/ and
 * http://0xc0.0xa8.1.1/ are the IP literals they are).  A text token that
 * continues past a call is collected in a buffer (allocated then, grown to
 * the cap), so a link split over any number of feeds is seen exactly once.
 * Pure code (agent process, parser side); bounded memory per message.
 */
#include "links.h"

#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

static inline char links_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
}

static inline bool links_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Text byte classes: LC_DELIM ends a token (blanks, controls, < > " '),
 * LC_TRIG (':' '.') is needed in any token that holds a link. */
enum { LC_WORD = 0, LC_DELIM = 1, LC_TRIG = 2 };
static const uint8_t links_cls[256] = {
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 2, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0, 1, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static inline int links_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Case-insensitive: does s[0..n) start with lower-case literal p? */
static bool links_prefix(const char *s, size_t n, const char *p)
{
	size_t i;

	for (i = 0; p[i]; i++)
		if (i >= n || links_lower(s[i]) != p[i])
			return false;
	return true;
}

#define LINKS_TOK_MIN 64         /* first token buffer */
#define LINKS_TOK_KEEP 256       /* a larger one is released with its token */
#define LINKS_SET_MIN 16         /* first host set */

void links_init(struct links *l, const char *const *shorteners, size_t n)
{
	memset(l, 0, sizeof(*l));
	l->shorteners = shorteners;
	l->n_shorteners = shorteners ? n : 0;
}

void links_fini(struct links *l)
{
	free(l->set);
	free(l->tok);
	l->set = NULL;
	l->tok = NULL;
	l->set_slots = 0;
	l->tok_cap = 0;
	l->tok_len = 0;
	l->tok_trig = 0;
	l->tok_lost = false;
}

size_t links_memory(const struct links *l)
{
	return (size_t)l->set_slots * sizeof(uint64_t) + l->tok_cap;
}

/* One IPv4 number part as the WHATWG URL parser reads it: 0x-hex, 0-octal
 * or decimal.  False if it is not a number or exceeds 32 bits. */
static bool links_ipv4_part(const char *s, size_t n, uint64_t *v)
{
	unsigned base = 10;
	size_t i = 0;
	uint64_t x = 0;

	if (n == 0)
		return false;
	if (n >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	} else if (n >= 2 && s[0] == '0') {
		base = 8;
		i = 1;
	}
	for (; i < n; i++) {
		int d = links_hex((uint8_t)s[i]);

		if (d < 0 || (unsigned)d >= base || (base == 10 && s[i] > '9'))
			return false;
		x = x * base + (unsigned)d;
		if (x > 0xffffffffULL)
			return false;
	}
	*v = x;
	return true;
}

/* Is host (lower-case, no trailing dot) an IPv4 address in any of the
 * forms browsers accept (1 to 4 parts)? */
static bool links_is_ipv4(const char *h, size_t n)
{
	uint64_t v[4];
	size_t parts = 0, s = 0, i;

	for (i = 0; i <= n; i++) {
		if (i < n && h[i] != '.')
			continue;
		if (parts == 4 || !links_ipv4_part(h + s, i - s, &v[parts]))
			return false;
		parts++;
		s = i + 1;
	}
	for (i = 0; i + 1 < parts; i++)
		if (v[i] > 255)
			return false;
	return parts == 4 || v[parts - 1] < (1ULL << (8 * (5 - parts)));
}

/* Is host h[0..n) a listed shortener or a subdomain of one?  A match
 * starts at a label, so a shortener whose first byte starts no label of
 * h is skipped without measuring it (the list is long, hosts are short). */
static bool links_is_shortener(const struct links *l, const char *h, size_t n)
{
	uint64_t first[4] = { 0, 0, 0, 0 };   /* bytes that start a label of h */
	size_t i;

	for (i = 0; i < n; i++)
		if (i == 0 || h[i - 1] == '.')
			first[(uint8_t)h[i] >> 6] |= 1ULL << ((uint8_t)h[i] & 63);
	for (i = 0; i < l->n_shorteners; i++) {
		const char *s = l->shorteners[i];
		size_t sl;

		if (!s || !(first[(uint8_t)s[0] >> 6] & (1ULL << ((uint8_t)s[0] & 63))))
			continue;
		sl = strlen(s);
		if (sl == 0 || sl > n || memcmp(h + n - sl, s, sl) != 0)
			continue;
		if (sl == n || h[n - sl - 1] == '.')
			return true;
	}
	return false;
}

/* Any label starting with the IDNA ACE prefix? */
static bool links_has_punycode(const char *h, size_t n)
{
	size_t i;

	for (i = 0; i + 4 <= n; i++)
		if ((i == 0 || h[i - 1] == '.') && memcmp(h + i, "xn--", 4) == 0)
			return true;
	return false;
}

unsigned links_classify(const struct links *l, const char *url, size_t len,
			char host_out[LINKS_HOST_MAX])
{
	char host[LINKS_HOST_MAX];
	size_t i = 0, a_end, hl = 0, h_end;
	const char *at;
	unsigned flags = 0;

	if (host_out)
		host_out[0] = '\0';
	while (i < len && (uint8_t)url[i] <= 0x20)
		i++;
	url += i;
	len -= i;
	i = 0;
	if (links_prefix(url, len, "mailto:"))
		return LINKS_F_MAILTO;
	if (links_prefix(url, len, "http:"))
		i = 5;
	else if (links_prefix(url, len, "https:"))
		i = 6;
	else if (links_prefix(url, len, "ftp:"))
		i = 4;
	else if (links_prefix(url, len, "//") || links_prefix(url, len, "\\\\"))
		i = 2;
	else if (!links_prefix(url, len, "www."))
		return 0;
	/* browsers take any run of / and \ (and drop tabs/newlines) here */
	while (i < len && (url[i] == '/' || url[i] == '\\' || url[i] == '\t' ||
			   url[i] == '\r' || url[i] == '\n'))
		i++;
	for (a_end = i; a_end < len; a_end++) {
		char c = url[a_end];

		if (c == '/' || c == '\\' || c == '?' || c == '#' || (uint8_t)c <= 0x20 ||
		    c == '"' || c == '<' || c == '>')
			break;
	}
	at = memrchr(url + i, '@', a_end - i);
	if (at) {
		flags |= LINKS_F_ENCODED;     /* http://bank.com@evil.example/ */
		i = (size_t)(at - url) + 1;
	}
	if (i < a_end && url[i] == '[') {
		const char *rb = memchr(url + i, ']', a_end - i);

		h_end = rb ? (size_t)(rb - url) : a_end;
		for (i++; i < h_end && hl + 1 < sizeof(host); i++)
			host[hl++] = links_lower(url[i]);
		flags |= LINKS_F_IP;
	} else {
		for (h_end = i; h_end < a_end && url[h_end] != ':'; h_end++)
			;
		for (; i < h_end; i++) {
			uint8_t c = (uint8_t)url[i];
			int h1, h2;

			if (c == '%' && i + 2 < h_end && (h1 = links_hex((uint8_t)url[i + 1])) >= 0 &&
			    (h2 = links_hex((uint8_t)url[i + 2])) >= 0) {
				c = (uint8_t)(h1 * 16 + h2);
				i += 2;
				flags |= LINKS_F_ENCODED;
			}
			if (c >= 0x80)
				flags |= LINKS_F_ENCODED;   /* raw IDN: homograph risk */
			if (hl + 1 < sizeof(host))
				host[hl++] = links_lower((char)c);
		}
		while (hl && host[hl - 1] == '.')
			hl--;
	}
	if (hl == 0)
		return 0;
	host[hl] = '\0';
	flags |= LINKS_F_LINK;
	if (!(flags & LINKS_F_IP)) {
		if (links_has_punycode(host, hl))
			flags |= LINKS_F_ENCODED;
		if (links_is_ipv4(host, hl))
			flags |= LINKS_F_IP;
		else if (links_is_shortener(l, host, hl))
			flags |= LINKS_F_SHORTENER;
	}
	if (host_out)
		memcpy(host_out, host, hl + 1);
	return flags;
}

/* Insert h (non-zero) into set[0..slots) unless present; false if it was. */
static bool links_set_put(uint64_t *set, uint32_t slots, uint64_t h, bool *full)
{
	uint32_t i, k;

	for (k = 0, i = (uint32_t)h & (slots - 1); k < slots; k++, i = (i + 1) & (slots - 1)) {
		if (set[i] == h)
			return false;
		if (set[i] == 0) {
			if (*full)
				return false;
			set[i] = h;
			return true;
		}
	}
	return false;
}

/* Room for one more host: the set stays at most half full, so every
 * probe ends; it doubles up to LINKS_SET_SLOTS (whose half is
 * LINKS_SET_MAX).  False on ENOMEM (the host is then not counted). */
static bool links_set_room(struct links *l)
{
	uint32_t ns, i;
	uint64_t *nset;
	bool no = false;

	if (l->set && (l->c.distinct_hosts < l->set_slots / 2 || l->set_slots >= LINKS_SET_SLOTS))
		return true;
	ns = l->set ? l->set_slots * 2 : LINKS_SET_MIN;
	nset = calloc(ns, sizeof(*nset));
	if (!nset)
		return false;
	for (i = 0; i < l->set_slots; i++)
		if (l->set[i])
			links_set_put(nset, ns, l->set[i], &no);
	free(l->set);
	l->set = nset;
	l->set_slots = ns;
	return true;
}

/* Remember a host; the set saturates at LINKS_SET_MAX distinct hosts. */
static void links_host_seen(struct links *l, const char *host)
{
	uint64_t h = XXH3_64bits(host, strlen(host));
	bool full = l->c.distinct_hosts >= LINKS_SET_MAX;

	if (h == 0)
		h = 1;
	if (!links_set_room(l))
		return;
	if (links_set_put(l->set, l->set_slots, h, &full))
		l->c.distinct_hosts++;
}

void links_add_url(struct links *l, const char *url, size_t len)
{
	char host[LINKS_HOST_MAX];
	unsigned f = links_classify(l, url, len, host);

	if (l->hooks && l->hooks->link && f)
		l->hooks->link(l->hooks->ctx, url, len, f);
	if (f & LINKS_F_MAILTO)
		l->c.mailto++;
	if (!(f & LINKS_F_LINK))
		return;
	l->c.count++;
	if (f & LINKS_F_IP)
		l->c.ip_literal++;
	if (f & LINKS_F_ENCODED)
		l->c.encoded_host++;
	if (f & LINKS_F_SHORTENER)
		l->c.shortener++;
	links_host_seen(l, host);
}

/* A link found in text at t[s..n): it ends before the first non-ASCII
 * byte (text around it is often CJK without spaces) and loses trailing
 * punctuation. */
static void links_add_text_url(struct links *l, const char *t, size_t s, size_t n)
{
	size_t e = s;

	while (e < n && (uint8_t)t[e] < 0x80)
		e++;
	while (e > s && t[e - 1] && strchr(".,;:!?)]}*", t[e - 1]))
		e--;
	links_add_url(l, t + s, e - s);
}

/* Look for the first link in the finished token t[0..n). */
static void links_token(struct links *l, const char *t, size_t n)
{
	size_t i;

	if (n < 5)
		return;
	for (i = 0; i < n; i++) {
		char c = t[i];

		if (c == ':') {
			size_t s;

			if (i >= 6 && links_prefix(t + i - 6, 6, "mailto") &&
			    (i == 6 || !links_alnum(t[i - 7]))) {
				if (i + 1 == n)
					return;         /* "mailto:" alone */
				l->c.mailto++;
				if (l->hooks && l->hooks->link)
					l->hooks->link(l->hooks->ctx, t + i - 6, n - (i - 6), LINKS_F_MAILTO);
				return;
			}
			if (i + 2 >= n || t[i + 1] != '/' || t[i + 2] != '/')
				continue;
			if (i >= 5 && links_prefix(t + i - 5, 5, "https"))
				s = i - 5;
			else if (i >= 4 && links_prefix(t + i - 4, 4, "http"))
				s = i - 4;
			else if (i >= 3 && links_prefix(t + i - 3, 3, "ftp"))
				s = i - 3;
			else
				continue;
			if (s > 0 && links_alnum(t[s - 1]))
				continue;
			links_add_text_url(l, t, s, n);
			return;
		}
		if ((c == 'w' || c == 'W') && i + 4 < n && links_prefix(t + i, 4, "www.") &&
		    (i == 0 || (!links_alnum(t[i - 1]) && t[i - 1] != '.' && t[i - 1] != '-' &&
				t[i - 1] != '@' && t[i - 1] != '/'))) {
			links_add_text_url(l, t, i, n);
			return;
		}
	}
}

/* Keep bytes of a token that continues past this call, growing the
 * buffer (doubling, up to LINKS_TOKEN_MAX) as needed. */
static void links_tok_append(struct links *l, const char *s, size_t n)
{
	if (l->tok_len < LINKS_TOKEN_MAX && !l->tok_lost) {
		size_t room = LINKS_TOKEN_MAX - l->tok_len, k = n < room ? n : room;

		if (l->tok_len + k > l->tok_cap) {
			size_t nc = l->tok_cap ? (size_t)l->tok_cap * 2 : LINKS_TOK_MIN;
			char *nb;

			while (nc < l->tok_len + k)
				nc *= 2;
			if (nc > LINKS_TOKEN_MAX)
				nc = LINKS_TOKEN_MAX;
			nb = realloc(l->tok, nc);
			if (!nb) {
				l->tok_lost = true;
				k = 0;
			} else {
				l->tok = nb;
				l->tok_cap = (uint32_t)nc;
			}
		}
		if (k)
			memcpy(l->tok + l->tok_len, s, k);
	}
	if (n > LINKS_TOKEN_MAX)
		n = LINKS_TOKEN_MAX + 1;
	l->tok_len += (uint32_t)n;
	if (l->tok_len > LINKS_TOKEN_MAX)
		l->tok_len = LINKS_TOKEN_MAX + 1;   /* cut: only the head is analysed */
}

static void links_tok_end(struct links *l)
{
	if (l->tok_trig && !l->tok_lost)
		links_token(l, l->tok, l->tok_len > LINKS_TOKEN_MAX ? LINKS_TOKEN_MAX : l->tok_len);
	l->tok_len = 0;
	l->tok_trig = 0;
	l->tok_lost = false;
	if (l->tok_cap > LINKS_TOK_KEEP) {
		free(l->tok);
		l->tok = NULL;
		l->tok_cap = 0;
	}
}

/* Next ':' or '.' in s[from..end), or end; *nc and *nd cache the next
 * position of each (SIZE_MAX: not searched yet) so every byte is searched
 * at most once per char. */
static size_t links_next_trig(const uint8_t *s, size_t from, size_t end, size_t *nc, size_t *nd)
{
	const uint8_t *q;

	if (*nc == SIZE_MAX || *nc < from) {
		q = memchr(s + from, ':', end - from);
		*nc = q ? (size_t)(q - s) : end;
	}
	if (*nd == SIZE_MAX || *nd < from) {
		q = memchr(s + from, '.', end - from);
		*nd = q ? (size_t)(q - s) : end;
	}
	return *nc < *nd ? *nc : *nd;
}

/* Tokens that lie inside one call are analysed where they are; only a
 * token still open at the end is copied.  Either way a token is analysed
 * by its first LINKS_TOKEN_MAX bytes, and only if it holds ':' or '.':
 * those are found with memchr, then the token around them. */
void links_text(struct links *l, const char *text, size_t len)
{
	const uint8_t *s = (const uint8_t *)text;
	size_t i = 0, tail, p, nc, nd;
	unsigned trig = 0;

	if (l->hooks && l->hooks->text)
		l->hooks->text(l->hooks->ctx, text, len);
	if (l->tok_len) {
		for (trig = l->tok_trig; i < len; i++) {
			uint8_t k = links_cls[s[i]];

			if (k == LC_DELIM)
				break;
			trig |= k;
		}
		links_tok_append(l, text, i);
		l->tok_trig = (uint8_t)trig;
		if (i == len)
			return;
		links_tok_end(l);
	}
	/* the last token may go on in the next call */
	for (tail = len, trig = 0; tail > i; tail--) {
		uint8_t k = links_cls[s[tail - 1]];

		if (k == LC_DELIM)
			break;
		trig |= k;
	}
	nc = nd = SIZE_MAX;    /* not searched yet */
	for (p = i; p < tail;) {
		size_t q = links_next_trig(s, p, tail, &nc, &nd), ts, te;

		if (q >= tail)
			break;
		for (ts = q; ts > p && links_cls[s[ts - 1]] != LC_DELIM; ts--)
			;
		for (te = q + 1; te < tail && links_cls[s[te]] != LC_DELIM; te++)
			;
		links_token(l, text + ts, te - ts > LINKS_TOKEN_MAX ? LINKS_TOKEN_MAX : te - ts);
		p = te;
	}
	if (tail < len) {
		links_tok_append(l, text + tail, len - tail);
		l->tok_trig = (uint8_t)trig;
	}
}

void links_text_break(struct links *l)
{
	if (l->tok_len)
		links_tok_end(l);
}
