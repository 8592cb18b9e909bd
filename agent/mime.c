/* SPDX-License-Identifier: MIT */
/*
 * mime: grammars inside header values (media types and parameters, address
 * lists, DKIM tag lists, RFC 2047 encoded-words) and the streaming body
 * transfer-encoding decoders used by message.c.  Guest bytes throughout:
 * every loop is bounded by the input length, every write by a capacity,
 * nothing recurses.  Pure code (agent process, parser side).
 */
#include "mime.h"

#include <string.h>

/* base64 alphabet -> sextet; 0x40 for '=', 0xff for anything else. */
static const uint8_t mime_b64[256] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3e, 0xff, 0xff, 0xff, 0x3f,
	0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0xff, 0xff, 0xff, 0x40, 0xff, 0xff,
	0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
	0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
	0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/* Windows-1252 0x80..0x9f; the five undefined bytes map to C1 controls
 * as in the WHATWG encoding standard. */
static const uint16_t mime_cp1252[32] = {
	0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0x008d, 0x017d, 0x008f,
	0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0x009d, 0x017e, 0x0178,
};

/* QP decoder states (mime_decoder.n). */
enum {
	QP_TEXT = 0,
	QP_EQ,          /* after '=' */
	QP_EQ_HEX,      /* after '=' and one hex digit (kept in acc) */
	QP_EQ_CR,       /* after '=' CR: soft line break unless junk follows */
	QP_EQ_WSP,      /* after '=' and blanks: soft break with padding */
};

static inline bool mime_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline char mime_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
}

static inline int mime_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void mime_decoder_init(struct mime_decoder *d, enum mime_cte cte)
{
	d->cte = cte;
	d->acc = 0;
	d->n = 0;
}

static size_t mime_qp(struct mime_decoder *d, const uint8_t *in, size_t len, uint8_t *out)
{
	const uint8_t *end = in + len;
	uint8_t *o = out;

	while (in < end) {
		uint8_t c;
		int h;

		if (d->n == QP_TEXT) {
			const uint8_t *eq = memchr(in, '=', (size_t)(end - in));
			size_t run = eq ? (size_t)(eq - in) : (size_t)(end - in);

			memcpy(o, in, run);
			o += run;
			in += run;
			if (!eq)
				break;
			in++;
			d->n = QP_EQ;
			continue;
		}
		c = *in;
		switch (d->n) {
		case QP_EQ:
			if ((h = mime_hex(c)) >= 0) {
				d->acc = c;
				d->n = QP_EQ_HEX;
			} else if (c == '\n') {
				d->n = QP_TEXT;
			} else if (c == '\r') {
				d->n = QP_EQ_CR;
			} else if (c == ' ' || c == '\t') {
				d->n = QP_EQ_WSP;
			} else {
				*o++ = '=';      /* not an escape: keep it, reread c */
				d->n = QP_TEXT;
				continue;
			}
			in++;
			break;
		case QP_EQ_HEX:
			if ((h = mime_hex(c)) >= 0) {
				*o++ = (uint8_t)(mime_hex((uint8_t)d->acc) * 16 + h);
				in++;
			} else {
				*o++ = '=';
				*o++ = (uint8_t)d->acc;
			}
			d->n = QP_TEXT;
			break;
		case QP_EQ_CR:
			if (c == '\n')
				in++;
			d->n = QP_TEXT;
			break;
		case QP_EQ_WSP:
			if (c == ' ' || c == '\t') {
				in++;
			} else if (c == '\n') {
				in++;
				d->n = QP_TEXT;
			} else if (c == '\r') {
				in++;
				d->n = QP_EQ_CR;
			} else {
				*o++ = '=';
				*o++ = ' ';
				d->n = QP_TEXT;
			}
			break;
		default:
			d->n = QP_TEXT;
			break;
		}
	}
	return (size_t)(o - out);
}

static size_t mime_b64_run(struct mime_decoder *d, const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t *o = out;
	uint32_t acc = d->acc;
	unsigned n = d->n;
	size_t i;

	for (i = 0; i < len; i++) {
		uint8_t v = mime_b64[in[i]];

		if (v < 64) {
			acc = (acc << 6) | v;
			if (++n == 4) {
				o[0] = (uint8_t)(acc >> 16);
				o[1] = (uint8_t)(acc >> 8);
				o[2] = (uint8_t)acc;
				o += 3;
				n = 0;
				acc = 0;
			}
		} else if (v == 0x40) {
			/* padding ends a quantum; concatenated base64 may follow */
			if (n == 2) {
				*o++ = (uint8_t)(acc >> 4);
			} else if (n == 3) {
				*o++ = (uint8_t)(acc >> 10);
				*o++ = (uint8_t)(acc >> 2);
			}
			n = 0;
			acc = 0;
		}
	}
	d->acc = acc;
	d->n = (uint8_t)n;
	return (size_t)(o - out);
}

/* out must hold len + 4 bytes: a pending "=X" from the previous call may
 * come out together with this call's bytes. */
size_t mime_decode(struct mime_decoder *d, const uint8_t *in, size_t len, uint8_t *out)
{
	switch (d->cte) {
	case MIME_CTE_QP:
		return mime_qp(d, in, len, out);
	case MIME_CTE_BASE64:
		return mime_b64_run(d, in, len, out);
	default:
		memcpy(out, in, len);
		return len;
	}
}

size_t mime_decode_finish(struct mime_decoder *d, uint8_t out[4])
{
	size_t n = 0;

	if (d->cte == MIME_CTE_BASE64) {
		if (d->n == 2) {
			out[n++] = (uint8_t)(d->acc >> 4);
		} else if (d->n == 3) {
			out[n++] = (uint8_t)(d->acc >> 10);
			out[n++] = (uint8_t)(d->acc >> 2);
		}
	} else if (d->cte == MIME_CTE_QP) {
		if (d->n == QP_EQ || d->n == QP_EQ_WSP) {
			out[n++] = '=';
		} else if (d->n == QP_EQ_HEX) {
			out[n++] = '=';
			out[n++] = (uint8_t)d->acc;
		}
	}
	d->acc = 0;
	d->n = 0;
	return n;
}

/* Case-insensitive equality of v[0..n) with lower-case literal s. */
static bool mime_eq(const char *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == '\0' || mime_lower(v[i]) != s[i])
			return false;
	return s[n] == '\0';
}

static void mime_trim(const char **v, size_t *n)
{
	while (*n && mime_wsp(**v)) {
		(*v)++;
		(*n)--;
	}
	while (*n && mime_wsp((*v)[*n - 1]))
		(*n)--;
}

enum mime_cte mime_cte_parse(const char *v, size_t n)
{
	mime_trim(&v, &n);
	if (mime_eq(v, n, "quoted-printable"))
		return MIME_CTE_QP;
	if (mime_eq(v, n, "base64"))
		return MIME_CTE_BASE64;
	return MIME_CTE_RAW;
}

/* Skip a comment starting at v[i] == '(' (nesting counted, not recursed);
 * returns the index after it. */
static size_t mime_skip_comment(const char *v, size_t n, size_t i)
{
	uint32_t depth = 0;

	while (i < n) {
		char c = v[i++];

		if (c == '\\') {
			if (i < n)
				i++;
		} else if (c == '(') {
			depth++;
		} else if (c == ')') {
			if (--depth == 0)
				break;
		}
	}
	return i;
}

/* Skip a quoted string starting at v[i] == '"'; returns the index after. */
static size_t mime_skip_quoted(const char *v, size_t n, size_t i)
{
	i++;
	while (i < n) {
		char c = v[i++];

		if (c == '\\') {
			if (i < n)
				i++;
		} else if (c == '"') {
			break;
		}
	}
	return i;
}

static size_t mime_put_end(char *out, size_t cap, size_t len)
{
	if (cap)
		out[len] = '\0';
	return len;
}

size_t mime_media_type(const char *v, size_t n, char *out, size_t cap)
{
	size_t i = 0, len = 0;

	while (i < n && (mime_wsp(v[i]) || v[i] == '(')) {
		if (v[i] == '(')
			i = mime_skip_comment(v, n, i);
		else
			i++;
	}
	for (; i < n; i++) {
		char c = v[i];

		if (c == ';' || c == '(' || c == '"')
			break;
		if (mime_wsp(c))
			continue;     /* "text / plain" */
		if (len + 1 < cap)
			out[len++] = mime_lower(c);
	}
	return mime_put_end(out, cap, len);
}

/* Does attribute a[0..an) name `name`, exactly or (prefix) as name*...? */
static bool mime_attr_match(const char *a, size_t an, const char *name, bool prefix)
{
	size_t ln = strlen(name);

	if (an < ln || !mime_eq(a, ln, name))
		return false;
	if (an == ln)
		return true;
	return prefix && a[ln] == '*';
}

long mime_param(const char *v, size_t n, const char *name, bool prefix,
		char *out, size_t cap)
{
	size_t i = 0;

	/* past the media type (or disposition type) */
	while (i < n && v[i] != ';') {
		if (v[i] == '"')
			i = mime_skip_quoted(v, n, i);
		else if (v[i] == '(')
			i = mime_skip_comment(v, n, i);
		else
			i++;
	}
	while (i < n) {
		size_t a, an, len = 0;

		while (i < n && (v[i] == ';' || mime_wsp(v[i]) || v[i] == '(')) {
			if (v[i] == '(')
				i = mime_skip_comment(v, n, i);
			else
				i++;
		}
		a = i;
		while (i < n && v[i] != '=' && v[i] != ';' && !mime_wsp(v[i]))
			i++;
		an = i - a;
		while (i < n && mime_wsp(v[i]))
			i++;
		if (i >= n || v[i] != '=') {
			while (i < n && v[i] != ';')
				i++;
			continue;
		}
		i++;
		while (i < n && mime_wsp(v[i]))
			i++;
		if (!mime_attr_match(v + a, an, name, prefix)) {
			while (i < n && v[i] != ';') {
				if (v[i] == '"')
					i = mime_skip_quoted(v, n, i);
				else
					i++;
			}
			continue;
		}
		if (i < n && v[i] == '"') {
			i++;
			while (i < n && v[i] != '"') {
				if (v[i] == '\\' && i + 1 < n)
					i++;
				if (len + 1 < cap)
					out[len++] = v[i];
				i++;
			}
		} else {
			size_t s = i;

			while (i < n && v[i] != ';')
				i++;
			while (i > s && mime_wsp(v[i - 1]))
				i--;
			for (; s < i; s++)
				if (len + 1 < cap)
					out[len++] = v[s];
		}
		return (long)mime_put_end(out, cap, len);
	}
	return -1;
}

/* Address list scanner shared by mime_addr_count and mime_first_addr. */
#define MIME_ADDR_MAX 320
struct mime_addr {
	uint32_t count;
	bool content, angle, in_group, have_first;
	char bare[MIME_ADDR_MAX], ang[MIME_ADDR_MAX], first[MIME_ADDR_MAX];
	size_t blen, alen, flen;
};

static void mime_addr_seg_end(struct mime_addr *s)
{
	if (s->content) {
		s->count++;
		if (!s->have_first) {
			const char *src = s->angle ? s->ang : s->bare;
			size_t len = s->angle ? s->alen : s->blen;
			const char *colon;

			/* obsolete source route <@a,@b:user@dom> */
			if (len && src[0] == '@' && (colon = memchr(src, ':', len))) {
				len -= (size_t)(colon + 1 - src);
				src = colon + 1;
			}
			memcpy(s->first, src, len);
			s->flen = len;
			s->have_first = true;
		}
	}
	s->content = false;
	s->angle = false;
	s->blen = 0;
	s->alen = 0;
}

static void mime_addr_scan(const char *v, size_t n, struct mime_addr *s)
{
	size_t i = 0;

	s->count = 0;
	s->content = s->angle = s->in_group = s->have_first = false;
	s->blen = s->alen = s->flen = 0;
	while (i < n) {
		char c = v[i];
		size_t j;

		switch (c) {
		case '"':
			j = mime_skip_quoted(v, n, i);
			for (; i < j; i++)
				if (s->blen < MIME_ADDR_MAX)
					s->bare[s->blen++] = v[i];
			s->content = true;
			break;
		case '(':
			i = mime_skip_comment(v, n, i);
			break;
		case '<':
			s->content = true;
			s->angle = true;
			s->alen = 0;
			for (i++; i < n && v[i] != '>'; i++)
				if (!mime_wsp(v[i]) && s->alen < MIME_ADDR_MAX)
					s->ang[s->alen++] = v[i];
			if (i < n)
				i++;
			break;
		case ',':
			mime_addr_seg_end(s);
			i++;
			break;
		case ':':
			if (!s->in_group && !s->angle) {
				/* group: what came before is its display name */
				s->in_group = true;
				s->content = false;
				s->blen = 0;
			}
			i++;
			break;
		case ';':
			mime_addr_seg_end(s);
			s->in_group = false;
			i++;
			break;
		case ' ': case '\t': case '\r': case '\n':
			i++;
			break;
		default:
			s->content = true;
			if (s->blen < MIME_ADDR_MAX)
				s->bare[s->blen++] = c;
			i++;
			break;
		}
	}
	mime_addr_seg_end(s);
}

uint32_t mime_addr_count(const char *v, size_t n)
{
	struct mime_addr s;

	mime_addr_scan(v, n, &s);
	return s.count;
}

size_t mime_first_addr(const char *v, size_t n, char *out, size_t cap)
{
	struct mime_addr s;
	size_t len, i;
	char *at;

	mime_addr_scan(v, n, &s);
	if (cap == 0)
		return 0;
	len = s.flen < cap - 1 ? s.flen : cap - 1;
	memcpy(out, s.first, len);
	out[len] = '\0';
	at = memrchr(out, '@', len);
	if (at)
		for (i = (size_t)(at - out) + 1; i < len; i++)
			out[i] = mime_lower(out[i]);
	return len;
}

long mime_dkim_tag(const char *v, size_t n, const char *tag, char *out, size_t cap)
{
	size_t i = 0, tl = strlen(tag);

	while (i < n) {
		size_t a, an, len = 0;

		while (i < n && (v[i] == ';' || mime_wsp(v[i])))
			i++;
		a = i;
		while (i < n && v[i] != '=' && v[i] != ';' && !mime_wsp(v[i]))
			i++;
		an = i - a;
		while (i < n && mime_wsp(v[i]))
			i++;
		if (i >= n || v[i] != '=') {
			while (i < n && v[i] != ';')
				i++;
			continue;
		}
		i++;
		if (an != tl || memcmp(v + a, tag, tl) != 0) {
			while (i < n && v[i] != ';')
				i++;
			continue;
		}
		for (; i < n && v[i] != ';'; i++)
			if (!mime_wsp(v[i]) && len + 1 < cap)
				out[len++] = v[i];
		return (long)mime_put_end(out, cap, len);
	}
	return -1;
}

/* ---- RFC 2047 ------------------------------------------------------- */

enum mime_cs { CS_COPY, CS_LATIN1, CS_LATIN9, CS_CP1252, CS_OTHER };

/* RFC 2047 allows 75 characters per encoded-word; real mail is sloppier,
 * but the bound keeps a run of failed candidates linear in practice. */
#define MIME_EW_MAX_TEXT 1024
#define MIME_EW_MAX_CHARSET 64

struct mime_ew {
	size_t cs, cs_len, text, text_len;
	char enc;
};

struct mime_out {
	char *d;
	size_t cap, len;      /* cap includes the NUL */
	bool full;
};

static void out_bytes(struct mime_out *w, const char *s, size_t n)
{
	size_t room;

	if (w->full)
		return;
	room = w->cap - 1 - w->len;
	if (n > room) {
		n = room;
		w->full = true;
	}
	memcpy(w->d + w->len, s, n);
	w->len += n;
}

/* One code point as UTF-8, all or nothing. */
static void out_cp(struct mime_out *w, uint32_t cp)
{
	char b[4];
	size_t k;

	if (cp < 0x80) {
		b[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		k = 2;
	} else {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		k = 3;
	}
	if (w->full || w->len + k > w->cap - 1) {
		w->full = true;
		return;
	}
	memcpy(w->d + w->len, b, k);
	w->len += k;
}

static void out_charset_byte(struct mime_out *w, enum mime_cs cs, uint8_t b)
{
	uint32_t cp = b;

	if (b < 0x80 || cs == CS_COPY || cs == CS_OTHER) {
		char c = (char)b;

		out_bytes(w, &c, 1);
		return;
	}
	if (cs == CS_CP1252 && b < 0xa0) {
		cp = mime_cp1252[b - 0x80];
	} else if (cs == CS_LATIN9) {
		switch (b) {
		case 0xa4: cp = 0x20ac; break;
		case 0xa6: cp = 0x0160; break;
		case 0xa8: cp = 0x0161; break;
		case 0xb4: cp = 0x017d; break;
		case 0xb8: cp = 0x017e; break;
		case 0xbc: cp = 0x0152; break;
		case 0xbd: cp = 0x0153; break;
		case 0xbe: cp = 0x0178; break;
		default: break;
		}
	}
	out_cp(w, cp);
}

static enum mime_cs mime_charset(const char *s, size_t n)
{
	const char *star = memchr(s, '*', n);   /* RFC 2231 language suffix */

	if (star)
		n = (size_t)(star - s);
	if (mime_eq(s, n, "utf-8") || mime_eq(s, n, "utf8") || mime_eq(s, n, "us-ascii") ||
	    mime_eq(s, n, "ascii"))
		return CS_COPY;
	if (mime_eq(s, n, "iso-8859-1") || mime_eq(s, n, "iso8859-1") ||
	    mime_eq(s, n, "iso_8859-1") || mime_eq(s, n, "latin1") || mime_eq(s, n, "latin-1"))
		return CS_LATIN1;
	if (mime_eq(s, n, "iso-8859-15") || mime_eq(s, n, "iso8859-15") ||
	    mime_eq(s, n, "iso_8859-15") || mime_eq(s, n, "latin-9") || mime_eq(s, n, "latin9"))
		return CS_LATIN9;
	if (mime_eq(s, n, "windows-1252") || mime_eq(s, n, "cp1252") ||
	    mime_eq(s, n, "win-1252") || mime_eq(s, n, "x-cp1252"))
		return CS_CP1252;
	return CS_OTHER;
}

/* Parse "=?charset?e?text?=" at s[p]; returns the index after it, or 0. */
static size_t mime_ew_parse(const char *s, size_t len, size_t p, struct mime_ew *e)
{
	size_t i;

	if (p + 1 >= len || s[p] != '=' || s[p + 1] != '?')
		return 0;
	i = p + 2;
	e->cs = i;
	while (i < len && s[i] != '?') {
		if ((uint8_t)s[i] <= ' ' || i - e->cs >= MIME_EW_MAX_CHARSET)
			return 0;
		i++;
	}
	if (i >= len || i == e->cs)
		return 0;
	e->cs_len = i - e->cs;
	i++;
	if (i + 1 >= len || s[i + 1] != '?')
		return 0;
	e->enc = mime_lower(s[i]);
	if (e->enc != 'b' && e->enc != 'q')
		return 0;
	i += 2;
	e->text = i;
	while (i < len && s[i] != '?') {
		if ((uint8_t)s[i] <= ' ' || i - e->text >= MIME_EW_MAX_TEXT)
			return 0;
		i++;
	}
	if (i + 1 >= len || s[i + 1] != '=')
		return 0;
	e->text_len = i - e->text;
	return i + 2;
}

static void mime_ew_decode(const char *s, const struct mime_ew *e, enum mime_cs cs,
			   struct mime_out *w)
{
	const uint8_t *t = (const uint8_t *)s + e->text;
	size_t i, n = e->text_len;

	if (e->enc == 'b') {
		uint32_t acc = 0;
		unsigned k = 0;

		for (i = 0; i < n && !w->full; i++) {
			uint8_t v = mime_b64[t[i]];

			if (v == 0x40)
				break;
			if (v > 63)
				continue;
			acc = (acc << 6) | v;
			if (++k == 4) {
				out_charset_byte(w, cs, (uint8_t)(acc >> 16));
				out_charset_byte(w, cs, (uint8_t)(acc >> 8));
				out_charset_byte(w, cs, (uint8_t)acc);
				k = 0;
				acc = 0;
			}
		}
		if (k == 2) {
			out_charset_byte(w, cs, (uint8_t)(acc >> 4));
		} else if (k == 3) {
			out_charset_byte(w, cs, (uint8_t)(acc >> 10));
			out_charset_byte(w, cs, (uint8_t)(acc >> 2));
		}
		return;
	}
	for (i = 0; i < n && !w->full; i++) {
		int h1, h2;

		if (t[i] == '_') {
			out_charset_byte(w, cs, ' ');
		} else if (t[i] == '=' && i + 2 < n && (h1 = mime_hex(t[i + 1])) >= 0 &&
			   (h2 = mime_hex(t[i + 2])) >= 0) {
			out_charset_byte(w, cs, (uint8_t)(h1 * 16 + h2));
			i += 2;
		} else {
			out_charset_byte(w, cs, t[i]);
		}
	}
}

/* Drop a UTF-8 sequence cut by truncation at the end of w. */
static void out_trim_utf8(struct mime_out *w)
{
	size_t i = w->len, back = 0;
	uint8_t c;
	size_t need;

	while (i > 0 && back < 3 && ((uint8_t)w->d[i - 1] & 0xc0) == 0x80) {
		i--;
		back++;
	}
	if (i == 0)
		return;
	c = (uint8_t)w->d[i - 1];
	if (c < 0xc0)
		return;
	need = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
	if (back < need)
		w->len = i - 1;
}

size_t mime_decode_words(const char *src, size_t len, char *dst, size_t cap)
{
	struct mime_out w = { dst, cap, 0, false };
	struct mime_ew e;
	bool after_ew = false;
	size_t i = 0, end;

	if (cap == 0)
		return 0;
	while (i < len && !w.full) {
		if (src[i] == '=' && (end = mime_ew_parse(src, len, i, &e))) {
			enum mime_cs cs = mime_charset(src + e.cs, e.cs_len);

			if (cs == CS_OTHER) {
				/* unknown charset: the encoded-word stays as written */
				out_bytes(&w, src + i, end - i);
				after_ew = false;
			} else {
				mime_ew_decode(src, &e, cs, &w);
				after_ew = true;
			}
			i = end;
			continue;
		}
		if (after_ew && mime_wsp(src[i])) {
			size_t j = i;

			while (j < len && mime_wsp(src[j]))
				j++;
			if (j < len && src[j] == '=' && mime_ew_parse(src, len, j, &e) &&
			    mime_charset(src + e.cs, e.cs_len) != CS_OTHER) {
				i = j;     /* whitespace between encoded-words vanishes */
				continue;
			}
			out_bytes(&w, src + i, j - i);
			i = j;
			after_ew = false;
			continue;
		}
		out_bytes(&w, src + i, 1);
		after_ew = false;
		i++;
	}
	if (w.full)
		out_trim_utf8(&w);
	dst[w.len] = '\0';
	return w.len;
}
