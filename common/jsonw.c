/* SPDX-License-Identifier: MIT */
/*
 * jsonw: streaming JSON writer (see jsonw.h).  Used by the agent's session
 * output and reports; runs in whichever process formats JSON.
 */
#include "jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jsonw_init(struct jsonw *w)
{
	memset(w, 0, sizeof(*w));
}

void jsonw_fini(struct jsonw *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

void jsonw_reset(struct jsonw *w)
{
	w->len = 0;
	w->depth = 0;
	w->need_comma[0] = false;
	w->oom = false;
}

/* Grow for n more bytes; false (and oom set) when that fails. */
static bool grow(struct jsonw *w, size_t n)
{
	if (w->oom)
		return false;
	size_t cap = w->cap ? w->cap : 1024;
	while (cap < w->len + n)
		cap *= 2;
	char *p = realloc(w->buf, cap);
	if (!p) {
		w->oom = true;
		return false;
	}
	w->buf = p;
	w->cap = cap;
	return true;
}

/* Make room for n more bytes; false (and oom set) when that fails. */
static inline bool reserve(struct jsonw *w, size_t n)
{
	return w->len + n <= w->cap || grow(w, n);
}

static inline void put(struct jsonw *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static inline void putc_(struct jsonw *w, char c)
{
	if (!reserve(w, 1))
		return;
	w->buf[w->len++] = c;
}

/* Separator before a value or key at the current level. */
static inline void sep(struct jsonw *w)
{
	if (w->need_comma[w->depth])
		putc_(w, ',');
	w->need_comma[w->depth] = true;
}

void jsonw_obj_begin(struct jsonw *w)
{
	sep(w);
	putc_(w, '{');
	if (w->depth < JSONW_MAX_DEPTH)
		w->depth++;
	w->need_comma[w->depth] = false;
}

void jsonw_obj_end(struct jsonw *w)
{
	putc_(w, '}');
	if (w->depth)
		w->depth--;
}

void jsonw_arr_begin(struct jsonw *w)
{
	sep(w);
	putc_(w, '[');
	if (w->depth < JSONW_MAX_DEPTH)
		w->depth++;
	w->need_comma[w->depth] = false;
}

void jsonw_arr_end(struct jsonw *w)
{
	putc_(w, ']');
	if (w->depth)
		w->depth--;
}

void jsonw_key_len(struct jsonw *w, const char *key, size_t len)
{
	sep(w);
	if (!reserve(w, len + 3))
		return;
	w->buf[w->len++] = '"';
	memcpy(w->buf + w->len, key, len);
	w->len += len;
	w->buf[w->len++] = '"';
	w->buf[w->len++] = ':';
	/* the value that follows must not add a comma */
	w->need_comma[w->depth] = false;
}

/* After a value inside an object the next key needs a comma: keys set
 * need_comma false for their value, and the value's sep() sets it true. */

/* Length of a valid UTF-8 sequence starting at s (1..4), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

void jsonw_escape(struct jsonw *w, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		/* copy the longest run of plain printable ASCII in one go */
		size_t run = i;
		while (run < len && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
			run++;
		if (run > i) {
			put(w, s + i, run - i);
			i = run;
			continue;
		}
		unsigned char c = p[i];
		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			put(w, e, 2);
			i++;
		} else if (c < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
			switch (c) {
			case '\n': put(w, "\\n", 2); break;
			case '\r': put(w, "\\r", 2); break;
			case '\t': put(w, "\\t", 2); break;
			default: put(w, e, 6); break;
			}
			i++;
		} else {
			size_t n = utf8_len(p + i, len - i);
			if (n) {
				put(w, s + i, n);
				i += n;
			} else {
				char e[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
				put(w, e, 6);
				i++;
			}
		}
	}
}

void jsonw_str(struct jsonw *w, const char *s, size_t len)
{
	sep(w);
	putc_(w, '"');
	jsonw_escape(w, s, len);
	putc_(w, '"');
}

void jsonw_cstr(struct jsonw *w, const char *s)
{
	if (!s)
		jsonw_null(w);
	else
		jsonw_str(w, s, strlen(s));
}

/* Decimal digits of v written backwards ending at e; returns the start. */
static char *digits(uint64_t v, char *e)
{
	do {
		*--e = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return e;
}

void jsonw_int(struct jsonw *w, int64_t v)
{
	char b[24], *e = b + sizeof(b);
	char *p = digits(v < 0 ? 0 - (uint64_t)v : (uint64_t)v, e);
	if (v < 0)
		*--p = '-';
	sep(w);
	put(w, p, (size_t)(e - p));
}

void jsonw_uint(struct jsonw *w, uint64_t v)
{
	char b[24], *e = b + sizeof(b);
	char *p = digits(v, e);
	sep(w);
	put(w, p, (size_t)(e - p));
}

void jsonw_ts_us(struct jsonw *w, uint64_t us)
{
	char b[32], *e = b + sizeof(b), *p = e;
	uint64_t frac = us % 1000000;
	for (int i = 0; i < 6; i++) {
		*--p = (char)('0' + frac % 10);
		frac /= 10;
	}
	*--p = '.';
	p = digits(us / 1000000, p);
	sep(w);
	put(w, p, (size_t)(e - p));
}

void jsonw_bool(struct jsonw *w, bool v)
{
	sep(w);
	if (v)
		put(w, "true", 4);
	else
		put(w, "false", 5);
}

void jsonw_null(struct jsonw *w)
{
	sep(w);
	put(w, "null", 4);
}

void jsonw_raw(struct jsonw *w, const char *s, size_t len)
{
	sep(w);
	put(w, s, len);
}
