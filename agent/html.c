/* SPDX-License-Identifier: MIT */
/*
 * html: a small, forgiving HTML tokenizer in the spirit of the WHATWG
 * states (data, tag open, tag name, attributes, comments, raw text of
 * script/style), driven byte by byte with bulk fast paths.  It never
 * builds a tree and never recurses; names and values longer than the caps
 * are cut.  The only allocations are an interesting attribute's value
 * (grown to HTML_VALUE_MAX at most, freed when the attribute ends) and a
 * meta refresh URL (freed with its tag).  Pure code (agent process,
 * parser side).
 */
#include "html.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define HTML_VALUE_MIN 128    /* first value buffer */

enum html_state {
	H_DATA = 0,
	H_ENTITY,
	H_TAG_OPEN,
	H_END_OPEN,
	H_TAG_NAME,
	H_BEFORE_ATTR,
	H_ATTR_NAME,
	H_AFTER_ATTR_NAME,
	H_BEFORE_VALUE,
	H_VALUE_Q,
	H_VALUE_UQ,
	H_BANG,
	H_COMMENT,
	H_BOGUS,
	H_RAW,
};

enum { RAW_NONE = 0, RAW_SCRIPT, RAW_STYLE };

enum { A_NONE = 0, A_HREF, A_SRC, A_REL, A_EQUIV, A_CONTENT };

static inline bool html_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static inline bool html_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool html_alnum(char c)
{
	return html_alpha(c) || (c >= '0' && c <= '9');
}

static inline char html_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
}

void html_init(struct html *h, struct fp_state *fp, struct links *links)
{
	memset(h, 0, sizeof(*h));
	h->fp = fp;
	h->links = links;
	h->imp_len = -1;
}

static void html_val_release(struct html *h)
{
	free(h->val);
	h->val = NULL;
	h->val_cap = 0;
	h->val_len = 0;
}

static void html_murl_release(struct html *h)
{
	free(h->murl);
	h->murl = NULL;
	h->murl_len = 0;
}

void html_fini(struct html *h)
{
	html_val_release(h);
	html_murl_release(h);
}

size_t html_memory(const struct html *h)
{
	return h->val_cap + (h->murl ? h->murl_len : 0);
}

static void html_text(struct html *h, const char *s, size_t n)
{
	fp_feed(h->fp, s, n);
	links_text(h->links, s, n);
}

/* ---- character references ------------------------------------------ */

struct html_named {
	const char *name;
	const char *utf8;
};

/* The references that carry words in real mail: punctuation, symbols
 * and the Latin-1 letters ("d&eacute;sinscrire", "Stra&szlig;e");
 * invisible ones decode to nothing so that "vi&zwnj;agra" reads as one
 * word.  Sorted by name in byte order: html_ref() looks a name up by
 * binary search, once per reference in every HTML body. */
static const struct html_named html_names[] = {
	{ "AElig", "\xc3\x86" }, { "Aacute", "\xc3\x81" }, { "Acirc", "\xc3\x82" },
	{ "Agrave", "\xc3\x80" }, { "Aring", "\xc3\x85" }, { "Atilde", "\xc3\x83" },
	{ "Auml", "\xc3\x84" }, { "Ccedil", "\xc3\x87" }, { "ETH", "\xc3\x90" },
	{ "Eacute", "\xc3\x89" }, { "Ecirc", "\xc3\x8a" }, { "Egrave", "\xc3\x88" },
	{ "Euml", "\xc3\x8b" }, { "Iacute", "\xc3\x8d" }, { "Icirc", "\xc3\x8e" },
	{ "Igrave", "\xc3\x8c" }, { "Iuml", "\xc3\x8f" }, { "Ntilde", "\xc3\x91" },
	{ "OElig", "\xc5\x92" }, { "Oacute", "\xc3\x93" }, { "Ocirc", "\xc3\x94" },
	{ "Ograve", "\xc3\x92" }, { "Oslash", "\xc3\x98" }, { "Otilde", "\xc3\x95" },
	{ "Ouml", "\xc3\x96" }, { "THORN", "\xc3\x9e" }, { "Uacute", "\xc3\x9a" },
	{ "Ucirc", "\xc3\x9b" }, { "Ugrave", "\xc3\x99" }, { "Uuml", "\xc3\x9c" },
	{ "Yacute", "\xc3\x9d" }, { "aacute", "\xc3\xa1" }, { "acirc", "\xc3\xa2" },
	{ "aelig", "\xc3\xa6" }, { "agrave", "\xc3\xa0" }, { "amp", "&" }, { "apos", "'" },
	{ "aring", "\xc3\xa5" }, { "atilde", "\xc3\xa3" }, { "auml", "\xc3\xa4" },
	{ "bull", "\xe2\x80\xa2" }, { "ccedil", "\xc3\xa7" }, { "cent", "\xc2\xa2" },
	{ "copy", "\xc2\xa9" }, { "deg", "\xc2\xb0" }, { "divide", "\xc3\xb7" },
	{ "eacute", "\xc3\xa9" }, { "ecirc", "\xc3\xaa" }, { "egrave", "\xc3\xa8" }, { "emsp", " " },
	{ "ensp", " " }, { "eth", "\xc3\xb0" }, { "euml", "\xc3\xab" }, { "euro", "\xe2\x82\xac" },
	{ "gt", ">" }, { "hellip", "\xe2\x80\xa6" }, { "iacute", "\xc3\xad" }, { "icirc", "\xc3\xae" },
	{ "iexcl", "\xc2\xa1" }, { "igrave", "\xc3\xac" }, { "iquest", "\xc2\xbf" },
	{ "iuml", "\xc3\xaf" }, { "laquo", "\xc2\xab" }, { "ldquo", "\xe2\x80\x9c" }, { "lrm", "" },
	{ "lsquo", "\xe2\x80\x98" }, { "lt", "<" }, { "mdash", "\xe2\x80\x94" },
	{ "middot", "\xc2\xb7" }, { "nbsp", " " }, { "ndash", "\xe2\x80\x93" },
	{ "ntilde", "\xc3\xb1" }, { "oacute", "\xc3\xb3" }, { "ocirc", "\xc3\xb4" },
	{ "oelig", "\xc5\x93" }, { "ograve", "\xc3\xb2" }, { "ordf", "\xc2\xaa" },
	{ "ordm", "\xc2\xba" }, { "oslash", "\xc3\xb8" }, { "otilde", "\xc3\xb5" },
	{ "ouml", "\xc3\xb6" }, { "pound", "\xc2\xa3" }, { "quot", "\"" }, { "raquo", "\xc2\xbb" },
	{ "rdquo", "\xe2\x80\x9d" }, { "reg", "\xc2\xae" }, { "rlm", "" }, { "rsquo", "\xe2\x80\x99" },
	{ "shy", "" }, { "szlig", "\xc3\x9f" }, { "thinsp", " " }, { "thorn", "\xc3\xbe" },
	{ "times", "\xc3\x97" }, { "trade", "\xe2\x84\xa2" }, { "uacute", "\xc3\xba" },
	{ "ucirc", "\xc3\xbb" }, { "ugrave", "\xc3\xb9" }, { "uuml", "\xc3\xbc" },
	{ "yacute", "\xc3\xbd" }, { "yen", "\xc2\xa5" }, { "yuml", "\xc3\xbf" }, { "zwj", "" },
	{ "zwnj", "" },
};

/* UTF-8 of code point cp into out (4 bytes); returns the length.
 * Spaces and invisible characters are normalised as for named refs. */
static size_t html_cp_utf8(uint32_t cp, char out[4])
{
	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp == 0xa0 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x202f || cp == 0x3000) {
		out[0] = ' ';
		return 1;
	}
	if (cp == 0xad || (cp >= 0x200b && cp <= 0x200f) || cp == 0x2060 || cp == 0xfeff)
		return 0;
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Decode the reference name e[0..n) (without '&' and ';') into out (at
 * least 4 bytes).  Returns the length, or -1 if it is not known. */
static int html_ref(const char *e, size_t n, char out[4])
{
	size_t i;

	if (n >= 2 && e[0] == '#') {
		uint32_t cp = 0;
		bool hex = e[1] == 'x' || e[1] == 'X';

		i = hex ? 2 : 1;
		if (i >= n)
			return -1;
		for (; i < n; i++) {
			char c = html_lower(e[i]);
			uint32_t d;

			if (c >= '0' && c <= '9')
				d = (uint32_t)(c - '0');
			else if (hex && c >= 'a' && c <= 'f')
				d = (uint32_t)(c - 'a' + 10);
			else
				return -1;
			cp = cp * (hex ? 16 : 10) + d;
			if (cp > 0x10ffff)
				cp = 0x110000;   /* saturate: stays invalid */
		}
		return (int)html_cp_utf8(cp, out);
	}
	for (size_t lo = 0, hi = sizeof(html_names) / sizeof(html_names[0]); lo < hi;) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k = html_names[mid].name;
		/* e holds no NUL: a shorter k compares below it */
		int c = strncmp(e, k, n);

		if (c == 0 && k[n] != '\0')
			c = -1;          /* e is a proper prefix of k */
		if (c == 0) {
			size_t l = strlen(html_names[mid].utf8);

			memcpy(out, html_names[mid].utf8, l);
			return (int)l;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

size_t html_decode_entities(char *buf, size_t len)
{
	size_t r = 0, w = 0;

	while (r < len) {
		size_t s, e;
		char dec[4];
		int k;

		if (buf[r] != '&') {
			buf[w++] = buf[r++];
			continue;
		}
		s = r + 1;
		for (e = s; e < len && e - s < HTML_ENTITY_MAX && (html_alnum(buf[e]) || buf[e] == '#'); e++)
			;
		k = html_ref(buf + s, e - s, dec);
		if (k < 0) {
			buf[w++] = buf[r++];
			continue;
		}
		/* the reference is at least as long as its UTF-8 (see html_cp_utf8) */
		memcpy(buf + w, dec, (size_t)k);
		w += (size_t)k;
		r = (e < len && buf[e] == ';') ? e + 1 : e;
	}
	return w;
}

/* End of a reference in text: decoded, or given back as it was. */
static void html_entity_end(struct html *h, bool semi)
{
	char dec[4];
	int k = html_ref(h->ent, h->ent_len, dec);

	if (k >= 0) {
		if (k > 0)
			html_text(h, dec, (size_t)k);
	} else {
		html_text(h, "&", 1);
		html_text(h, h->ent, h->ent_len);
		if (semi)
			html_text(h, ";", 1);
	}
	h->ent_len = 0;
	h->state = H_DATA;
}

/* ---- tags ----------------------------------------------------------- */

/* Tags that matter, identified once when the name is complete. */
enum {
	T_OTHER = 0, T_INLINE, T_SCRIPT, T_STYLE, T_IFRAME, T_FORM, T_OBJECT, T_META, T_LINK,
};

struct html_tag_name {
	const char *name;
	uint8_t id;
};

/* Inline formatting tags do not separate words ("<b>W</b>ord"). */
static const struct html_tag_name html_tags[] = {
	{ "a", T_INLINE }, { "abbr", T_INLINE }, { "acronym", T_INLINE }, { "applet", T_OBJECT },
	{ "b", T_INLINE }, { "bdi", T_INLINE }, { "bdo", T_INLINE }, { "big", T_INLINE },
	{ "cite", T_INLINE }, { "code", T_INLINE }, { "data", T_INLINE }, { "del", T_INLINE },
	{ "dfn", T_INLINE }, { "em", T_INLINE }, { "embed", T_OBJECT }, { "font", T_INLINE },
	{ "form", T_FORM }, { "frame", T_IFRAME }, { "i", T_INLINE }, { "iframe", T_IFRAME },
	{ "ins", T_INLINE }, { "kbd", T_INLINE }, { "link", T_LINK }, { "mark", T_INLINE },
	{ "meta", T_META }, { "o:p", T_INLINE }, { "object", T_OBJECT }, { "q", T_INLINE },
	{ "s", T_INLINE }, { "samp", T_INLINE }, { "script", T_SCRIPT }, { "small", T_INLINE },
	{ "span", T_INLINE }, { "strike", T_INLINE }, { "strong", T_INLINE }, { "style", T_STYLE },
	{ "sub", T_INLINE }, { "sup", T_INLINE }, { "time", T_INLINE }, { "tt", T_INLINE },
	{ "u", T_INLINE }, { "var", T_INLINE }, { "wbr", T_INLINE },
};

static uint8_t html_tag_lookup(const struct html *h)
{
	size_t i;

	if (h->tag_len == 0 || h->tag_len > 7)
		return T_OTHER;
	for (i = 0; i < sizeof(html_tags) / sizeof(html_tags[0]); i++)
		if (html_tags[i].name[0] == h->tag[0] && strcmp(html_tags[i].name, h->tag) == 0)
			return html_tags[i].id;
	return T_OTHER;
}

static void html_name_add(char *buf, uint8_t *len, char c)
{
	if (*len < HTML_NAME_MAX - 1) {
		buf[*len] = html_lower(c);
		buf[*len + 1] = '\0';
	}
	if (*len < HTML_NAME_MAX)
		(*len)++;
}

static void html_tag_start(struct html *h, bool end_tag)
{
	h->end_tag = end_tag;
	h->tag_len = 0;
	h->tag_id = T_OTHER;
	h->tag[0] = '\0';
	h->t_rel_css = h->t_refresh = h->t_href_remote = false;
	html_murl_release(h);
}

static bool html_has_prefix_ci(const char *s, size_t n, const char *p)
{
	size_t i;

	for (i = 0; p[i]; i++)
		if (i >= n || html_lower(s[i]) != p[i])
			return false;
	return true;
}

static void html_trim(const char **s, size_t *n)
{
	while (*n && html_wsp(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n && html_wsp((*s)[*n - 1]))
		(*n)--;
}

static bool html_remote(const char *s, size_t n)
{
	html_trim(&s, &n);
	return html_has_prefix_ci(s, n, "http:") || html_has_prefix_ci(s, n, "https:") ||
	       html_has_prefix_ci(s, n, "//");
}

static void html_attr_begin_value(struct html *h)
{
	h->val_len = 0;
	h->attr_kind = A_NONE;
	if (h->attr_len >= HTML_NAME_MAX)
		return;
	if (strcmp(h->attr, "href") == 0)
		h->attr_kind = A_HREF;
	else if (strcmp(h->attr, "src") == 0)
		h->attr_kind = A_SRC;
	else if (strcmp(h->attr, "rel") == 0)
		h->attr_kind = A_REL;
	else if (strcmp(h->attr, "http-equiv") == 0)
		h->attr_kind = A_EQUIV;
	else if (strcmp(h->attr, "content") == 0 && h->tag_id == T_META)
		h->attr_kind = A_CONTENT;
}

/* Append to an interesting value, growing its buffer (doubling, up to
 * HTML_VALUE_MAX); on ENOMEM the value is cut where it is. */
static void html_val_add(struct html *h, const char *s, size_t n)
{
	size_t room;

	if (h->attr_kind == A_NONE || h->val_len >= HTML_VALUE_MAX || n == 0)
		return;
	room = HTML_VALUE_MAX - h->val_len;
	if (n > room)
		n = room;
	if (h->val_len + n > h->val_cap) {
		size_t nc = h->val_cap ? (size_t)h->val_cap * 2 : HTML_VALUE_MIN;
		char *nb;

		while (nc < h->val_len + n)
			nc *= 2;
		if (nc > HTML_VALUE_MAX)
			nc = HTML_VALUE_MAX;
		nb = realloc(h->val, nc);
		if (!nb) {
			n = h->val_cap - h->val_len;
			if (n == 0)
				return;
		} else {
			h->val = nb;
			h->val_cap = (uint32_t)nc;
		}
	}
	memcpy(h->val + h->val_len, s, n);
	h->val_len += (uint32_t)n;
}

/* An attribute ended (with or without a value): act on the ones we know. */
static void html_attr_done(struct html *h)
{
	const char *v = h->val ? h->val : "", *p;
	size_t n;

	if (h->attr_kind == A_NONE)
		goto out;
	n = h->val ? html_decode_entities(h->val, h->val_len) : 0;
	switch (h->attr_kind) {
	case A_HREF:
		h->t_href_remote = html_remote(v, n);
		links_add_url(h->links, v, n);
		break;
	case A_SRC:
		links_add_url(h->links, v, n);
		break;
	case A_REL:
		for (p = v; p + 10 <= v + n; p++)
			if (html_has_prefix_ci(p, (size_t)(v + n - p), "stylesheet")) {
				h->t_rel_css = true;
				break;
			}
		break;
	case A_EQUIV:
		html_trim(&v, &n);
		h->t_refresh = n == 7 && html_has_prefix_ci(v, n, "refresh");
		break;
	case A_CONTENT:
		/* "5; url=http://example/" */
		for (p = v; p + 4 <= v + n; p++) {
			if (!html_has_prefix_ci(p, (size_t)(v + n - p), "url="))
				continue;
			p += 4;
			n = (size_t)(v + n - p);
			while (n && (html_wsp(*p) || *p == '\'' || *p == '"')) {
				p++;
				n--;
			}
			while (n && (html_wsp(p[n - 1]) || p[n - 1] == '\'' || p[n - 1] == '"'))
				n--;
			if (n > HTML_MURL_MAX)
				n = HTML_MURL_MAX;
			html_murl_release(h);
			if (n && (h->murl = malloc(n))) {
				memcpy(h->murl, p, n);
				h->murl_len = (uint16_t)n;
			}
			break;
		}
		break;
	default:
		break;
	}
out:
	h->attr_kind = A_NONE;
	h->attr_len = 0;
	h->attr[0] = '\0';
	html_val_release(h);
}

/* '>' of a tag: set flags, separate words, enter raw text if needed. */
static void html_tag_done(struct html *h)
{
	h->state = H_DATA;
	if (!h->end_tag) {
		switch (h->tag_id) {
		case T_SCRIPT:
			h->flags.script = true;
			h->raw = RAW_SCRIPT;
			break;
		case T_STYLE:
			h->raw = RAW_STYLE;
			h->imp_len = -1;
			break;
		case T_IFRAME:
			h->flags.iframe = true;
			break;
		case T_FORM:
			h->flags.form = true;
			break;
		case T_OBJECT:
			h->flags.object = true;
			break;
		case T_META:
			if (h->t_refresh) {
				h->flags.meta_refresh = true;
				if (h->murl_len)
					links_add_url(h->links, h->murl, h->murl_len);
			}
			break;
		case T_LINK:
			if (h->t_rel_css && h->t_href_remote)
				h->flags.external_css = true;
			break;
		default:
			break;
		}
		if (h->raw != RAW_NONE) {
			h->state = H_RAW;
			h->raw_match = 0;
		}
	}
	html_murl_release(h);
	if (h->tag_id != T_INLINE)
		fp_feed(h->fp, " ", 1);
	links_text_break(h->links);
}

/* "@import url(http://...)" or "@import 'https://...'" inside <style>. */
static void html_import_check(struct html *h)
{
	const char *p = h->imp;
	size_t n = h->imp_len > 0 ? (size_t)h->imp_len : 0;

	h->imp_len = -1;
	if (!html_has_prefix_ci(p, n, "import"))
		return;
	p += 6;
	n -= 6;
	while (n && html_wsp(*p)) {
		p++;
		n--;
	}
	if (html_has_prefix_ci(p, n, "url(")) {
		p += 4;
		n -= 4;
		while (n && html_wsp(*p)) {
			p++;
			n--;
		}
	}
	if (n && (*p == '"' || *p == '\'')) {
		p++;
		n--;
	}
	if (html_remote(p, n))
		h->flags.external_css = true;
}

/* Raw text of script/style from s[i]; returns the index after what was
 * consumed (the end tag's name switches to H_TAG_NAME). */
static size_t html_raw(struct html *h, const char *s, size_t n, size_t i)
{
	const char *pat = h->raw == RAW_SCRIPT ? "</script" : "</style";
	size_t plen = h->raw == RAW_SCRIPT ? 8 : 7;

	while (i < n) {
		char c;

		if (h->raw_match == 0 && h->raw == RAW_SCRIPT) {
			const char *lt = memchr(s + i, '<', n - i);

			if (!lt)
				return n;
			i = (size_t)(lt - s);
		}
		c = s[i++];
		if (h->raw == RAW_STYLE) {
			if (h->imp_len >= 0) {
				if (c == ';' || c == '\n' || c == '<' || c == '{' || c == '}' ||
				    h->imp_len >= HTML_IMPORT_MAX)
					html_import_check(h);
				else
					h->imp[h->imp_len++] = html_lower(c);
			}
			if (c == '@')
				h->imp_len = 0;
		}
		if (html_lower(c) == pat[h->raw_match]) {
			if (++h->raw_match == plen) {
				if (h->imp_len >= 0)
					html_import_check(h);
				html_tag_start(h, true);
				memcpy(h->tag, pat + 2, plen - 1);   /* with its NUL */
				h->tag_len = (uint8_t)(plen - 2);
				h->raw = RAW_NONE;
				h->raw_match = 0;
				h->state = H_TAG_NAME;
				return i;
			}
		} else {
			h->raw_match = c == '<' ? 1 : 0;
		}
	}
	return i;
}

/* Index of the first '<' or '&' in s[i..n), or n: text runs are the bulk
 * of HTML, so they are searched 16 bytes at a time where SSE2 is there. */
static size_t html_text_end(const char *s, size_t i, size_t n)
{
#if defined(__SSE2__)
	const __m128i lt = _mm_set1_epi8('<'), amp = _mm_set1_epi8('&');

	for (; i + 16 <= n; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(s + i));
		unsigned k = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, lt),
								       _mm_cmpeq_epi8(x, amp)));

		if (k)
			return i + (size_t)__builtin_ctz(k);
	}
#endif
	while (i < n && s[i] != '<' && s[i] != '&')
		i++;
	return i;
}

void html_feed(struct html *h, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		char c = s[i];

		switch (h->state) {
		case H_DATA: {
			size_t j = html_text_end(s, i, n);

			if (j > i)
				html_text(h, s + i, j - i);
			if (j >= n)
				return;
			if (s[j] == '<') {
				h->state = H_TAG_OPEN;
			} else {
				h->state = H_ENTITY;
				h->ent_len = 0;
			}
			i = j + 1;
			break;
		}
		case H_ENTITY:
			if ((html_alnum(c) || c == '#') && h->ent_len < HTML_ENTITY_MAX) {
				h->ent[h->ent_len++] = c;
				i++;
			} else if (c == ';') {
				html_entity_end(h, true);
				i++;
			} else {
				html_entity_end(h, false);   /* c is read again as text */
			}
			break;
		case H_TAG_OPEN:
			if (html_alpha(c)) {
				html_tag_start(h, false);
				html_name_add(h->tag, &h->tag_len, c);
				h->state = H_TAG_NAME;
				i++;
			} else if (c == '/') {
				h->state = H_END_OPEN;
				i++;
			} else if (c == '!') {
				h->state = H_BANG;
				h->dashes = 0;
				i++;
			} else if (c == '?') {
				h->state = H_BOGUS;
				i++;
			} else {
				html_text(h, "<", 1);
				h->state = H_DATA;
			}
			break;
		case H_END_OPEN:
			if (html_alpha(c)) {
				html_tag_start(h, true);
				html_name_add(h->tag, &h->tag_len, c);
				h->state = H_TAG_NAME;
			} else {
				h->state = c == '>' ? H_DATA : H_BOGUS;
			}
			i++;
			break;
		case H_TAG_NAME:
			if (html_wsp(c) || c == '/') {
				h->tag_id = html_tag_lookup(h);
				h->state = H_BEFORE_ATTR;
			} else if (c == '>') {
				h->tag_id = html_tag_lookup(h);
				html_tag_done(h);
			} else {
				html_name_add(h->tag, &h->tag_len, c);
			}
			i++;
			break;
		case H_BEFORE_ATTR:
			if (c == '>') {
				html_tag_done(h);
			} else if (!html_wsp(c) && c != '/') {
				h->attr_len = 0;
				html_name_add(h->attr, &h->attr_len, c);
				h->state = H_ATTR_NAME;
			}
			i++;
			break;
		case H_ATTR_NAME:
			if (html_wsp(c)) {
				h->state = H_AFTER_ATTR_NAME;
			} else if (c == '/') {
				html_attr_done(h);
				h->state = H_BEFORE_ATTR;
			} else if (c == '>') {
				html_attr_done(h);
				html_tag_done(h);
			} else if (c == '=') {
				html_attr_begin_value(h);
				h->state = H_BEFORE_VALUE;
			} else {
				html_name_add(h->attr, &h->attr_len, c);
			}
			i++;
			break;
		case H_AFTER_ATTR_NAME:
			if (c == '=') {
				html_attr_begin_value(h);
				h->state = H_BEFORE_VALUE;
			} else if (c == '>') {
				html_attr_done(h);
				html_tag_done(h);
			} else if (c == '/') {
				html_attr_done(h);
				h->state = H_BEFORE_ATTR;
			} else if (!html_wsp(c)) {
				html_attr_done(h);
				html_name_add(h->attr, &h->attr_len, c);
				h->state = H_ATTR_NAME;
			}
			i++;
			break;
		case H_BEFORE_VALUE:
			if (c == '"' || c == '\'') {
				h->quote = c;
				h->state = H_VALUE_Q;
			} else if (c == '>') {
				html_attr_done(h);
				html_tag_done(h);
			} else if (!html_wsp(c)) {
				html_val_add(h, &c, 1);
				h->state = H_VALUE_UQ;
			}
			i++;
			break;
		case H_VALUE_Q: {
			const char *q = memchr(s + i, h->quote, n - i);
			size_t j = q ? (size_t)(q - s) : n;

			html_val_add(h, s + i, j - i);
			i = j;
			if (q) {
				html_attr_done(h);
				h->state = H_BEFORE_ATTR;
				i++;
			}
			break;
		}
		case H_VALUE_UQ:
			if (html_wsp(c)) {
				html_attr_done(h);
				h->state = H_BEFORE_ATTR;
			} else if (c == '>') {
				html_attr_done(h);
				html_tag_done(h);
			} else {
				html_val_add(h, &c, 1);
			}
			i++;
			break;
		case H_BANG:
			if (c == '-' && h->dashes == 0) {
				h->dashes = 1;
				i++;
			} else if (c == '-') {
				h->dashes = 0;
				h->state = H_COMMENT;
				i++;
			} else {
				h->state = H_BOGUS;   /* <!DOCTYPE ...>, <![CDATA[ ... */
			}
			break;
		case H_COMMENT:
			for (; i < n; i++) {
				if (s[i] == '-') {
					if (h->dashes < 2)
						h->dashes++;
				} else if (s[i] == '>' && h->dashes >= 2) {
					h->state = H_DATA;
					i++;
					break;
				} else {
					h->dashes = 0;
				}
			}
			break;
		case H_BOGUS: {
			const char *gt = memchr(s + i, '>', n - i);

			if (!gt)
				return;
			h->state = H_DATA;
			links_text_break(h->links);
			i = (size_t)(gt - s) + 1;
			break;
		}
		case H_RAW:
			i = html_raw(h, s, n, i);
			break;
		default:
			h->state = H_DATA;
			break;
		}
	}
}

void html_finish(struct html *h)
{
	if (h->state == H_ENTITY)
		html_entity_end(h, false);
	else if (h->state == H_TAG_OPEN)
		html_text(h, "<", 1);
	if (h->raw == RAW_STYLE && h->imp_len >= 0)
		html_import_check(h);
	fp_feed(h->fp, " ", 1);
	links_text_break(h->links);
	h->state = H_DATA;
	h->raw = RAW_NONE;
	h->raw_match = 0;
	h->dashes = 0;
	h->attr_kind = A_NONE;
	h->attr_len = 0;
	h->tag_len = 0;
	h->ent_len = 0;
	h->imp_len = -1;
	html_val_release(h);
	html_murl_release(h);
}
