/* SPDX-License-Identifier: MIT */
/*
 * dnsrules: see dnsrules.h.  The DNS codec, the SPF parser, the PTR
 * heuristic, DNSBL codes and the DMARC and DKIM key checks of a whitelist
 * request's DNS checks (controller and twctl; pure code, hostile input).
 */
#include "dnsrules.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

/* ---- small helpers ----------------------------------------------------------- */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Case-insensitive compare of s[0..n) with the NUL-terminated word w. */
static bool eq_word(const char *s, size_t n, const char *w)
{
	return strlen(w) == n && !strncasecmp(s, w, n);
}

/* ---- addresses and names ----------------------------------------------------- */

int dnsrules_ip_parse(const char *s, struct dnsrules_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, ip->a) == 1) {
		ip->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, ip->a) == 1) {
		ip->family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

bool dnsrules_ip_in_net(const struct dnsrules_ip *ip, const struct dnsrules_ip *net, unsigned cidr)
{
	unsigned width = ip->family == AF_INET ? 32 : 128, full;

	if (ip->family != net->family)
		return false;
	if (cidr > width)
		cidr = width;
	full = cidr / 8;
	if (memcmp(ip->a, net->a, full))
		return false;
	if (cidr % 8) {
		uint8_t mask = (uint8_t)(0xff << (8 - cidr % 8));

		if ((ip->a[full] & mask) != (net->a[full] & mask))
			return false;
	}
	return true;
}

/* The name rules of dnsrules_name_valid on s[0..n). */
static bool name_valid_n(const char *s, size_t n)
{
	size_t label = 0;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > DNSRULES_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

bool dnsrules_name_valid(const char *name)
{
	return name && name_valid_n(name, strnlen(name, DNSRULES_NAME_MAX + 2));
}

int dnsrules_reverse_name(const struct dnsrules_ip *ip, const char *zone, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	char rev[80];
	size_t o = 0;
	int n;

	if (!dnsrules_name_valid(zone))
		return -EINVAL;
	if (ip->family == AF_INET) {
		o = (size_t)snprintf(rev, sizeof(rev), "%u.%u.%u.%u", ip->a[3], ip->a[2], ip->a[1], ip->a[0]);
	} else if (ip->family == AF_INET6) {
		for (int i = 15; i >= 0; i--) {
			rev[o++] = hex[ip->a[i] & 15];
			rev[o++] = '.';
			rev[o++] = hex[ip->a[i] >> 4];
			if (i)
				rev[o++] = '.';
		}
		rev[o] = '\0';
	} else {
		return -EINVAL;
	}
	n = snprintf(out, cap, "%s.%s", rev, zone);
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	if (out[n - 1] == '.')
		out[--n] = '\0';
	if (n > DNSRULES_NAME_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* ---- the message codec ------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int dnsrules_query_encode(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t type, bool edns)
{
	size_t n, o = 12, label = 0, lenpos;

	if (!dnsrules_name_valid(name))
		return -EINVAL;
	n = strlen(name);
	if (name[n - 1] == '.')
		n--;
	/* header + one more length byte than dots + root + type, class + OPT */
	if (cap < 12 + n + 2 + 4 + (edns ? 11 : 0))
		return -ENOSPC;
	memset(buf, 0, 12);
	put16(buf, id);
	buf[2] = 0x01;                  /* RD */
	put16(buf + 4, 1);
	put16(buf + 10, edns ? 1 : 0);
	/* labels: a length byte, then the bytes up to the next dot */
	lenpos = o++;
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '.') {
			buf[lenpos] = (uint8_t)label;
			lenpos = o++;
			label = 0;
		} else {
			buf[o++] = (uint8_t)name[i];
			label++;
		}
	}
	buf[lenpos] = (uint8_t)label;
	buf[o++] = 0;                   /* the root */
	put16(buf + o, type);
	put16(buf + o + 2, 1);          /* IN */
	o += 4;
	if (edns) {
		buf[o] = 0;             /* root owner */
		put16(buf + o + 1, DNSRULES_OPT);
		put16(buf + o + 3, DNSRULES_EDNS_UDP);
		memset(buf + o + 5, 0, 6);     /* extended rcode, version, flags, rdlen */
		o += 11;
	}
	return (int)o;
}

/* Bytes allowed inside a label of a name we keep: printable, no dot (it
 * would make the text form ambiguous) and no backslash. */
static bool label_byte_ok(uint8_t c)
{
	return c > 0x20 && c < 0x7f && c != '.' && c != '\\';
}

/*
 * Read the (possibly compressed) name at pkt[*off] into out (cap bytes, at
 * least 256).  A compression pointer must point before the start of the
 * stretch of labels being read, so every jump goes strictly backwards and
 * the walk ends; 255 wire bytes at most.  On success *off is past the
 * name's bytes at its own place and *bad says a label held a byte outside
 * label_byte_ok (replaced by '?').  Returns 0 or -EBADMSG.
 */
static int read_name(const uint8_t *pkt, size_t len, size_t *off, char *out, size_t cap, bool *bad)
{
	size_t pos = *off, seg = *off, end = 0, o = 0, wire = 0;
	bool jumped = false;

	*bad = false;
	for (;;) {
		uint8_t c;

		if (pos >= len)
			return -EBADMSG;
		c = pkt[pos];
		if (c == 0) {
			if (!jumped)
				end = pos + 1;
			break;
		}
		if ((c & 0xc0) == 0xc0) {
			size_t to;

			if (pos + 1 >= len)
				return -EBADMSG;
			to = (size_t)(c & 0x3f) << 8 | pkt[pos + 1];
			if (to >= seg)
				return -EBADMSG;
			if (!jumped)
				end = pos + 2;
			jumped = true;
			pos = seg = to;
			continue;
		}
		if (c & 0xc0)
			return -EBADMSG;        /* 0x40, 0x80: extended and reserved label types */
		wire += (size_t)c + 1;
		if (wire > 254 || pos + 1 + c > len)
			return -EBADMSG;
		if (o + (o > 0) + c + 1 > cap)
			return -EBADMSG;
		if (o > 0)
			out[o++] = '.';
		for (size_t i = 0; i < c; i++) {
			uint8_t b = pkt[pos + 1 + i];

			if (!label_byte_ok(b)) {
				*bad = true;
				b = '?';
			}
			out[o++] = (char)b;
		}
		pos += 1 + (size_t)c;
	}
	out[o] = '\0';
	*off = end;
	return 0;
}

/* Copy the NUL-terminated s into m's text; returns its offset or -1. */
static int text_put(struct dnsrules_msg *m, const char *s, size_t n)
{
	size_t at = m->text_len;

	if (n + 1 > sizeof(m->text) - m->text_len)
		return -1;
	memcpy(m->text + at, s, n);
	m->text[at + n] = '\0';
	m->text_len += n + 1;
	return (int)at;
}

/* Parse the rdata of one kept record; returns 0 (stored), 1 (drop it) or -EBADMSG. */
static int parse_rdata(const uint8_t *pkt, size_t len, size_t rd, size_t rdlen, struct dnsrules_msg *m,
		       struct dnsrules_rr *r)
{
	char name[256];
	size_t p = rd;
	bool bad;
	int at;

	switch (r->type) {
	case DNSRULES_A:
	case DNSRULES_AAAA:
		if (rdlen != (r->type == DNSRULES_A ? 4u : 16u))
			return -EBADMSG;
		memcpy(r->addr, pkt + rd, rdlen);
		return 0;
	case DNSRULES_MX:
		if (rdlen < 3)
			return -EBADMSG;
		r->pref = get16(pkt + rd);
		p += 2;
		/* fall through */
	case DNSRULES_PTR:
	case DNSRULES_CNAME:
		if (read_name(pkt, rd + rdlen, &p, name, sizeof(name), &bad) || p != rd + rdlen)
			return -EBADMSG;
		if (bad)
			return 1;
		at = text_put(m, name, strlen(name));
		if (at < 0)
			return 1;
		r->data = (uint16_t)at;
		r->len = (uint16_t)strlen(name);
		return 0;
	case DNSRULES_TXT: {
		size_t room = sizeof(m->text) - m->text_len, n = 0;
		char *dst = m->text + m->text_len;

		if (room < 2)
			return 1;
		/* character-strings: a length byte and that many bytes, joined (RFC 7208 3.3) */
		while (p < rd + rdlen) {
			size_t sl = pkt[p++];

			if (p + sl > rd + rdlen)
				return -EBADMSG;
			for (size_t i = 0; i < sl; i++) {
				if (n >= DNSRULES_TXT_MAX || n + 1 >= room) {
					r->cut = true;
					break;
				}
				dst[n++] = (char)pkt[p + i];
			}
			p += sl;
		}
		dst[n] = '\0';
		r->data = (uint16_t)m->text_len;
		r->len = (uint16_t)n;
		m->text_len += n + 1;
		return 0;
	}
	default:
		return 1;
	}
}

/* Mark the records answering the question: the CNAME chain from qname
 * (DNSRULES_CNAME_MAX hops), then records of qtype owned by a name on it. */
static void mark_answers(struct dnsrules_msg *m)
{
	const char *chain[DNSRULES_CNAME_MAX + 1];
	size_t nc = 1;

	chain[0] = m->qname;
	while (nc <= DNSRULES_CNAME_MAX) {
		const char *next = NULL;

		for (size_t i = 0; i < m->n && !next; i++)
			if (m->rr[i].type == DNSRULES_CNAME && !strcasecmp(m->text + m->rr[i].owner, chain[nc - 1]))
				next = m->text + m->rr[i].data;
		if (!next)
			break;
		for (size_t k = 0; k < nc && next; k++)
			if (!strcasecmp(chain[k], next))
				next = NULL;    /* a CNAME loop */
		if (!next)
			break;
		chain[nc++] = next;
	}
	m->n_answers = 0;
	for (size_t i = 0; i < m->n; i++) {
		struct dnsrules_rr *r = &m->rr[i];

		r->answer = false;
		if (r->type != m->qtype)
			continue;
		for (size_t k = 0; k < nc && !r->answer; k++)
			if (!strcasecmp(m->text + r->owner, chain[k]))
				r->answer = true;
		m->n_answers += r->answer;
	}
}

int dnsrules_msg_parse(const uint8_t *pkt, size_t len, struct dnsrules_msg *m)
{
	size_t p = 12, qd;
	bool bad;

	m->id = len >= 2 ? get16(pkt) : 0;
	m->qr = m->tc = false;
	m->rcode = 0;
	m->qname[0] = '\0';
	m->qtype = m->qclass = 0;
	m->ancount = m->n = m->dropped = m->n_answers = m->text_len = 0;
	if (len < 12)
		return -EBADMSG;
	m->qr = pkt[2] & 0x80;
	m->tc = pkt[2] & 0x02;
	m->rcode = pkt[3] & 0x0f;
	qd = get16(pkt + 4);
	m->ancount = get16(pkt + 6);
	if (qd != 1)
		return -EBADMSG;
	if (read_name(pkt, len, &p, m->qname, sizeof(m->qname), &bad) || p + 4 > len)
		return -EBADMSG;
	m->qtype = get16(pkt + p);
	m->qclass = get16(pkt + p + 2);
	p += 4;
	if (m->tc)
		return 0;
	/* each record takes at least 11 bytes, so this ends with the packet */
	for (size_t i = 0; i < m->ancount; i++) {
		char owner[256];
		uint16_t type, class, rdlen;
		struct dnsrules_rr *r;
		int at, rc;

		if (read_name(pkt, len, &p, owner, sizeof(owner), &bad) || p + 10 > len)
			return -EBADMSG;
		type = get16(pkt + p);
		class = get16(pkt + p + 2);
		rdlen = get16(pkt + p + 8);
		if (p + 10 + rdlen > len)
			return -EBADMSG;
		if (bad || class != 1 || m->n >= DNSRULES_RR_MAX) {
			m->dropped++;
			p += 10 + (size_t)rdlen;
			continue;
		}
		r = &m->rr[m->n];
		memset(r, 0, sizeof(*r));
		r->type = type;
		r->ttl = get32(pkt + p + 4);
		at = text_put(m, owner, strlen(owner));
		if (at < 0) {
			m->dropped++;
			p += 10 + (size_t)rdlen;
			continue;
		}
		r->owner = (uint16_t)at;
		rc = parse_rdata(pkt, len, p + 10, rdlen, m, r);
		if (rc < 0)
			return rc;
		if (rc == 0)
			m->n++;
		else
			m->dropped++;
		p += 10 + (size_t)rdlen;
	}
	mark_answers(m);
	return 0;
}

bool dnsrules_msg_matches(const struct dnsrules_msg *m, uint16_t id, const char *name, uint16_t type)
{
	size_t n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	return m->qr && m->id == id && m->qtype == type && m->qclass == 1 && strlen(m->qname) == n &&
	       !strncasecmp(m->qname, name, n);
}

/* ---- SPF ------------------------------------------------------------------------ */

/* printf into err, the way every parser here reports; returns -EINVAL. */
static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (cap) {
		va_start(ap, fmt);
		vsnprintf(err, cap, fmt, ap);
		va_end(ap);
		/* a reason quotes the record: keep it one printable line */
		for (char *c = err; *c; c++)
			if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
				*c = '?';
	}
	return -EINVAL;
}

bool dnsrules_spf_is_record(const char *txt, size_t len)
{
	return len >= 6 && !strncasecmp(txt, "v=spf1", 6) && (len == 6 || txt[6] == ' ');
}

/* A macro-expand at s[0..n) (s[0] == '%'); returns its length or 0 when malformed. */
static size_t macro_len(const char *s, size_t n)
{
	size_t i = 2;

	if (n < 2)
		return 0;
	if (s[1] == '%' || s[1] == '_' || s[1] == '-')
		return 2;
	if (s[1] != '{' || n < 4 || !s[2] || !strchr("slodiphcrtvSLODIPHCRTV", s[2]))
		return 0;
	i = 3;
	while (i < n && is_digit(s[i]))
		i++;
	if (i < n && (s[i] == 'r' || s[i] == 'R'))
		i++;
	while (i < n && s[i] && strchr(".-+,/_=", s[i]))
		i++;
	return i < n && s[i] == '}' ? i + 1 : 0;
}

/*
 * Check a domain-spec s[0..n) (RFC 7208 7.1, 4.6.1): with macros only the
 * macro syntax; without, a valid name whose last label is not all digits.
 * Sets *macro.  Returns 0 or -EINVAL with err.
 */
static int domain_spec(const char *s, size_t n, bool *macro, char *err, size_t cap, const char *term, size_t tlen)
{
	size_t last;

	*macro = false;
	if (n == 0)
		return fail(err, cap, "\"%.*s\": empty domain", (int)(tlen > 64 ? 64 : tlen), term);
	for (size_t i = 0; i < n; i++)
		if (s[i] == '%') {
			size_t ml = macro_len(s + i, n - i);

			if (!ml)
				return fail(err, cap, "\"%.*s\": bad macro", (int)(tlen > 64 ? 64 : tlen), term);
			*macro = true;
			i += ml - 1;
		}
	if (*macro)
		return 0;
	if (!name_valid_n(s, n))
		return fail(err, cap, "\"%.*s\": bad domain", (int)(tlen > 64 ? 64 : tlen), term);
	if (s[n - 1] == '.')
		n--;
	last = n;
	while (last > 0 && s[last - 1] != '.')
		last--;
	for (size_t i = last; i < n; i++)
		if (!is_digit(s[i]))
			return 0;
	return fail(err, cap, "\"%.*s\": numeric top-level label", (int)(tlen > 64 ? 64 : tlen), term);
}

/* A cidr length of at most max, without leading zeros, at s[0..n); -1 when malformed. */
static int cidr_num(const char *s, size_t n, unsigned max)
{
	unsigned v = 0;

	if (n == 0 || n > 3 || (s[0] == '0' && n > 1))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	return v <= max ? (int)v : -1;
}

/* Parse "/N", "//M" or "/N//M" at s[0..n) into t.  Returns 0 or -1. */
static int dual_cidr(const char *s, size_t n, struct dnsrules_spf_term *t, bool v4, bool v6)
{
	const char *v6at = NULL;
	int c;

	if (n < 2 || s[0] != '/')
		return -1;
	if (s[1] == '/') {
		v6at = s + 2;
	} else {
		const char *slash = memchr(s + 1, '/', n - 1);
		size_t l4 = slash ? (size_t)(slash - s - 1) : n - 1;

		if (!v4 || (c = cidr_num(s + 1, l4, 32)) < 0)
			return -1;
		t->cidr4 = (uint8_t)c;
		if (!slash)
			return 0;
		if ((size_t)(slash - s) + 1 >= n || slash[1] != '/')
			return -1;
		v6at = slash + 2;
	}
	if (!v6 || (c = cidr_num(v6at, n - (size_t)(v6at - s), 128)) < 0)
		return -1;
	t->cidr6 = (uint8_t)c;
	return 0;
}

/* Parse one term s[0..n) at offset off of the record text into s->t[s->n]. */
static int spf_term(struct dnsrules_spf *spf, size_t off, size_t n, char *err, size_t cap)
{
	const char *s = spf->text + off;
	struct dnsrules_spf_term *t = &spf->t[spf->n];
	int q = (int)(n > 64 ? 64 : n);
	size_t i = 0, name_end;
	static const struct {
		const char *name;
		enum dnsrules_spf_kind kind;
	} mechs[] = {
		{ "all", DNSRULES_SPF_ALL }, { "include", DNSRULES_SPF_INCLUDE }, { "a", DNSRULES_SPF_A },
		{ "mx", DNSRULES_SPF_MX }, { "ptr", DNSRULES_SPF_PTR }, { "ip4", DNSRULES_SPF_IP4 },
		{ "ip6", DNSRULES_SPF_IP6 }, { "exists", DNSRULES_SPF_EXISTS },
	};
	int kind = -1;
	const char *rest;
	size_t rn;

	memset(t, 0, sizeof(*t));
	t->off = (uint16_t)off;
	t->len = (uint16_t)n;
	t->cidr4 = 32;
	t->cidr6 = 128;
	t->qual = '+';
	/* a modifier: name "=" with name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
	name_end = 0;
	while (name_end < n && (is_alpha(s[name_end]) || (name_end && (is_digit(s[name_end]) ||
			strchr("-_.", s[name_end])))))
		name_end++;
	if (name_end > 0 && name_end < n && s[name_end] == '=') {
		const char *v = s + name_end + 1;
		size_t vn = n - name_end - 1;
		bool macro;

		if (eq_word(s, name_end, "redirect") || eq_word(s, name_end, "exp")) {
			bool redir = eq_word(s, name_end, "redirect");
			int *slot = redir ? &spf->redirect : &spf->exp;

			if (*slot >= 0)
				return fail(err, cap, "\"%.*s\": %s given twice", q, s, redir ? "redirect" : "exp");
			if (domain_spec(v, vn, &macro, err, cap, s, n))
				return -EINVAL;
			*slot = (int)spf->n;
			t->kind = redir ? DNSRULES_SPF_REDIRECT : DNSRULES_SPF_EXP;
			t->doff = (uint16_t)(off + name_end + 1);
			t->dlen = (uint16_t)vn;
			t->macro = macro;
			if (redir) {
				spf->lookups++;
				spf->macros |= macro;
			}
			return 0;
		}
		/* unknown modifiers are ignored, but their macro-string must parse */
		for (size_t k = 0; k < vn; k++)
			if (v[k] == '%') {
				size_t ml = macro_len(v + k, vn - k);

				if (!ml)
					return fail(err, cap, "\"%.*s\": bad macro", q, s);
				k += ml - 1;
			}
		t->kind = DNSRULES_SPF_MODIFIER;
		return 0;
	}
	if (strchr("+-~?", s[0])) {
		t->qual = s[0];
		i = 1;
	}
	name_end = i;
	while (name_end < n && s[name_end] != ':' && s[name_end] != '/')
		name_end++;
	for (size_t k = 0; k < sizeof(mechs) / sizeof(mechs[0]); k++)
		if (eq_word(s + i, name_end - i, mechs[k].name))
			kind = (int)mechs[k].kind;
	if (kind < 0)
		return fail(err, cap, "\"%.*s\": unknown mechanism", q, s);
	t->kind = (uint8_t)kind;
	rest = s + name_end;
	rn = n - name_end;
	switch (kind) {
	case DNSRULES_SPF_ALL:
		if (rn)
			return fail(err, cap, "\"%.*s\": all takes no argument", q, s);
		return 0;
	case DNSRULES_SPF_INCLUDE:
	case DNSRULES_SPF_EXISTS:
	case DNSRULES_SPF_PTR:
	case DNSRULES_SPF_A:
	case DNSRULES_SPF_MX: {
		size_t dn = 0;
		bool cidr = kind == DNSRULES_SPF_A || kind == DNSRULES_SPF_MX;
		const char *slash = NULL;

		spf->lookups++;
		spf->has_ptr |= kind == DNSRULES_SPF_PTR;
		spf->has_exists |= kind == DNSRULES_SPF_EXISTS;
		if (rn && rest[0] == ':') {
			/* the domain-spec ends where a cidr length starts */
			slash = cidr ? memchr(rest + 1, '/', rn - 1) : NULL;
			dn = slash ? (size_t)(slash - rest - 1) : rn - 1;
			if (domain_spec(rest + 1, dn, &t->macro, err, cap, s, n))
				return -EINVAL;
			t->doff = (uint16_t)(off + name_end + 1);
			t->dlen = (uint16_t)dn;
			spf->macros |= t->macro;
		} else if (rn) {
			slash = rest;
		} else if (kind == DNSRULES_SPF_INCLUDE || kind == DNSRULES_SPF_EXISTS) {
			return fail(err, cap, "\"%.*s\": needs a domain", q, s);
		}
		if (slash) {
			if (!cidr || dual_cidr(slash, rn - (size_t)(slash - rest), t, true, true))
				return fail(err, cap, "\"%.*s\": bad cidr length", q, s);
		}
		return 0;
	}
	case DNSRULES_SPF_IP4:
	case DNSRULES_SPF_IP6: {
		char addr[64];
		const char *slash;
		size_t an;
		bool v4 = kind == DNSRULES_SPF_IP4;

		if (rn < 2 || rest[0] != ':')
			return fail(err, cap, "\"%.*s\": needs an address", q, s);
		slash = memchr(rest + 1, '/', rn - 1);
		an = slash ? (size_t)(slash - rest - 1) : rn - 1;
		if (an == 0 || an >= sizeof(addr))
			return fail(err, cap, "\"%.*s\": bad address", q, s);
		memcpy(addr, rest + 1, an);
		addr[an] = '\0';
		t->net.family = v4 ? AF_INET : AF_INET6;
		if (inet_pton(t->net.family, addr, t->net.a) != 1)
			return fail(err, cap, "\"%.*s\": bad address", q, s);
		if (slash) {
			size_t sn = rn - (size_t)(slash - rest);
			int c = cidr_num(slash + 1, sn - 1, v4 ? 32 : 128);

			if (c < 0)
				return fail(err, cap, "\"%.*s\": bad cidr length", q, s);
			if (v4)
				t->cidr4 = (uint8_t)c;
			else
				t->cidr6 = (uint8_t)c;
		}
		return 0;
	}
	}
	return fail(err, cap, "\"%.*s\": unknown mechanism", q, s);
}

int dnsrules_spf_parse(const char *txt, size_t len, struct dnsrules_spf *s, char *err, size_t errcap)
{
	size_t p;

	s->n = 0;
	s->redirect = s->exp = -1;
	s->lookups = 0;
	s->macros = s->has_ptr = s->has_exists = false;
	s->text[0] = '\0';
	if (errcap)
		err[0] = '\0';
	if (len > DNSRULES_TXT_MAX)
		return fail(err, errcap, "record longer than %d bytes", DNSRULES_TXT_MAX);
	if (!dnsrules_spf_is_record(txt, len))
		return fail(err, errcap, "not an SPF record (no v=spf1)");
	for (size_t i = 0; i < len; i++)
		if ((uint8_t)txt[i] < 0x20 || (uint8_t)txt[i] > 0x7e)
			return fail(err, errcap, "byte 0x%02x at offset %zu", (uint8_t)txt[i], i);
	memcpy(s->text, txt, len);
	s->text[len] = '\0';
	p = 6;
	for (;;) {
		size_t start, end;

		while (p < len && s->text[p] == ' ')
			p++;
		if (p >= len)
			break;
		start = p;
		while (p < len && s->text[p] != ' ')
			p++;
		end = p;
		if (s->n >= DNSRULES_SPF_TERMS_MAX)
			return fail(err, errcap, "more than %d terms", DNSRULES_SPF_TERMS_MAX);
		if (spf_term(s, start, end - start, err, errcap))
			return -EINVAL;
		s->n++;
	}
	return 0;
}

int dnsrules_spf_target(const struct dnsrules_spf *s, size_t i, const char *cur, char *out, size_t cap)
{
	const struct dnsrules_spf_term *t;
	const char *d = cur;
	size_t n;

	if (i >= s->n)
		return -EINVAL;
	t = &s->t[i];
	if (t->macro)
		return -EINVAL;
	n = strlen(cur);
	if (t->dlen) {
		d = s->text + t->doff;
		n = t->dlen;
	}
	if (n > 0 && d[n - 1] == '.')
		n--;
	if (!name_valid_n(d, n) || n >= cap)
		return -EINVAL;
	memcpy(out, d, n);
	out[n] = '\0';
	return 0;
}

bool dnsrules_spf_ip_match(const struct dnsrules_spf_term *t, const struct dnsrules_ip *ip)
{
	if (t->kind == DNSRULES_SPF_IP4)
		return ip->family == AF_INET && dnsrules_ip_in_net(ip, &t->net, t->cidr4);
	if (t->kind == DNSRULES_SPF_IP6)
		return ip->family == AF_INET6 && dnsrules_ip_in_net(ip, &t->net, t->cidr6);
	return false;
}

/* ---- PTR names ----------------------------------------------------------------- */

#define PTR_RUNS_MAX 64

/* A maximal run of digits (or hex digits) in the name, and the separator before it. */
struct run {
	unsigned long v;                /* its value (saturated) */
	size_t at, n;
	char sep;                       /* the one byte before it when that is . - _ ; else 0 */
};

/* Maximal runs of (hex) digits of name into r (at most PTR_RUNS_MAX). */
static size_t ptr_runs(const char *name, bool hex, struct run *r)
{
	size_t k = 0, i = 0, n = strlen(name);

	while (i < n && k < PTR_RUNS_MAX) {
		size_t j = i;

		while (j < n && (hex ? is_hex(name[j]) : is_digit(name[j])))
			j++;
		if (j == i) {
			i++;
			continue;
		}
		r[k].at = i;
		r[k].n = j - i;
		r[k].v = 0;
		for (size_t d = i; d < j; d++) {
			unsigned long dv = (unsigned long)(is_digit(name[d]) ? name[d] - '0' : lower(name[d]) - 'a' + 10);

			r[k].v = r[k].v > 0xfffffffUL ? 0xffffffffUL : r[k].v * (hex ? 16 : 10) + dv;
		}
		r[k].sep = i > 0 && strchr(".-_", name[i - 1]) ? name[i - 1] : 0;
		k++;
		i = j;
	}
	return k;
}

/* True when the runs hold want[0..n) as consecutive runs, each of at most
 * maxdigits digits and joined by single . - _ bytes. */
static bool runs_hold(const struct run *r, size_t nr, const unsigned long *want, size_t n, size_t maxdigits)
{
	for (size_t i = 0; i + n <= nr; i++) {
		size_t k = 0;

		for (; k < n; k++) {
			const struct run *x = &r[i + k];

			if (x->v != want[k] || x->n > maxdigits)
				break;
			if (k > 0 && (!x->sep || x->at != r[i + k - 1].at + r[i + k - 1].n + 1))
				break;
		}
		if (k == n)
			return true;
	}
	return false;
}

static bool ptr_v4(const uint8_t *a, const char *name)
{
	struct run r[PTR_RUNS_MAX];
	size_t nr = ptr_runs(name, false, r);
	unsigned long fw[4] = { a[0], a[1], a[2], a[3] }, bw[4] = { a[3], a[2], a[1], a[0] };
	char s[40];

	/* separated octets: all four, or three in a row, either order */
	if (runs_hold(r, nr, fw, 4, 3) || runs_hold(r, nr, bw, 4, 3) || runs_hold(r, nr, fw, 3, 3) ||
	    runs_hold(r, nr, fw + 1, 3, 3) || runs_hold(r, nr, bw, 3, 3) || runs_hold(r, nr, bw + 1, 3, 3))
		return true;
	/* joined by nothing: the whole digit run is the address */
	for (size_t i = 0; i < nr; i++) {
		const char *d = name + r[i].at;
		char f[6][16];

		snprintf(f[0], sizeof(f[0]), "%03u%03u%03u%03u", a[0], a[1], a[2], a[3]);
		snprintf(f[1], sizeof(f[1]), "%03u%03u%03u%03u", a[3], a[2], a[1], a[0]);
		snprintf(f[2], sizeof(f[2]), "%u%u%u%u", a[0], a[1], a[2], a[3]);
		snprintf(f[3], sizeof(f[3]), "%u%u%u%u", a[3], a[2], a[1], a[0]);
		snprintf(f[4], sizeof(f[4]), "%03u%03u%03u", a[1], a[2], a[3]);
		snprintf(f[5], sizeof(f[5]), "%03u%03u%03u", a[2], a[1], a[0]);
		for (size_t k = 0; k < 6; k++)
			if (strlen(f[k]) == r[i].n && !strncmp(d, f[k], r[i].n))
				return true;
	}
	/* hex, either byte order */
	snprintf(s, sizeof(s), "%02x%02x%02x%02x", a[0], a[1], a[2], a[3]);
	if (strstr(name, s))
		return true;
	snprintf(s, sizeof(s), "%02x%02x%02x%02x", a[3], a[2], a[1], a[0]);
	return strstr(name, s) != NULL;
}

/* Replace every ':' of s by c (in place). */
static void colons(char *s, char c)
{
	for (; *s; s++)
		if (*s == ':')
			*s = c;
}

static bool ptr_v6(const uint8_t *a, const char *name)
{
	static const char hx[] = "0123456789abcdef";
	char s[128], t[128];
	size_t o = 0;
	struct run r[PTR_RUNS_MAX];
	size_t nr = ptr_runs(name, true, r);
	unsigned long g[8];

	/* the whole address in hex, or its interface identifier */
	for (int i = 0; i < 16; i++)
		o += (size_t)snprintf(s + o, sizeof(s) - o, "%02x", a[i]);
	if (strstr(name, s) || strstr(name, s + 16))
		return true;
	/* nibbles reversed (ip6.arpa style) of the low 64 bits, dotted or not */
	o = 0;
	for (int i = 15; i >= 8; i--) {
		s[o++] = hx[a[i] & 15];
		s[o++] = '.';
		s[o++] = hx[a[i] >> 4];
		s[o++] = '.';
	}
	s[o - 1] = '\0';
	if (strstr(name, s))
		return true;
	o = 0;
	for (int i = 15; i >= 8; i--) {
		t[o++] = hx[a[i] & 15];
		t[o++] = hx[a[i] >> 4];
	}
	t[o] = '\0';
	if (strstr(name, t))
		return true;
	/* the compressed text form with '-', '.' or '_' for ':' ("2001-db8--1-2") */
	if (inet_ntop(AF_INET6, a, s, sizeof(s))) {
		static const char seps[] = "-._";

		for (int k = 0; k < 3; k++) {
			memcpy(t, s, sizeof(t));
			colons(t, seps[k]);
			if (strlen(t) >= 7 && strstr(name, t))
				return true;
		}
	}
	/* the groups as separate hex runs: all eight, or the last four when they
	 * are not all zero */
	for (int i = 0; i < 8; i++)
		g[i] = (unsigned long)a[2 * i] << 8 | a[2 * i + 1];
	if (runs_hold(r, nr, g, 8, 4))
		return true;
	if ((g[4] | g[5] | g[6] | g[7]) && (g[4] || g[5]) && runs_hold(r, nr, g + 4, 4, 4))
		return true;
	return false;
}

/* Words of access networks: a name with one of them and digits is generated. */
static bool ptr_words(const char *name)
{
	static const char *const words[] = {
		"dynamic", "dyn", "dynip", "dhcp", "pool", "dsl", "adsl", "vdsl", "xdsl", "sdsl", "cable",
		"ppp", "pppoe", "client", "clients", "dialup", "dial", "dialin", "broadband", "cpe", "dip",
		"cust", "customer", "resnet", "residential", NULL,
	};
	bool digits_left = false;       /* a digit in this label or one left of it */
	const char *label = name;
	size_t labels = 1, at = 0;

	/* the last two labels are (about) the operator's domain: "dsl4you.com"
	 * says nothing about the host */
	for (const char *c = name; *c; c++)
		labels += *c == '.';
	while (*label && at + 2 < labels) {
		const char *end = strchr(label, '.');
		size_t ln = end ? (size_t)(end - label) : strlen(label);
		bool digits_here = false;

		for (size_t i = 0; i < ln; i++)
			digits_here |= is_digit(label[i]);
		/* the label's letter runs are its words */
		for (size_t i = 0; i < ln;) {
			size_t j = i;

			while (j < ln && is_alpha(label[j]))
				j++;
			if (j > i && (digits_here || digits_left))
				for (size_t k = 0; words[k]; k++)
					if (eq_word(label + i, j - i, words[k]))
						return true;
			i = j > i ? j : i + 1;
		}
		digits_left |= digits_here;
		if (!end)
			break;
		label = end + 1;
		at++;
	}
	return false;
}

bool dnsrules_ptr_generated(const char *ip, const char *name)
{
	struct dnsrules_ip a;
	char n[DNSRULES_NAME_MAX + 2];
	size_t len;

	if (!name || dnsrules_ip_parse(ip, &a))
		return false;
	len = strnlen(name, sizeof(n));
	if (len >= sizeof(n))
		return false;
	for (size_t i = 0; i < len; i++)
		n[i] = lower(name[i]);
	n[len] = '\0';
	if (len > 0 && n[len - 1] == '.')
		n[--len] = '\0';
	if (ptr_words(n))
		return true;
	return a.family == AF_INET ? ptr_v4(a.a, n) : ptr_v6(a.a, n);
}

/* ---- DNSBL answers -------------------------------------------------------- */

/* True when zone is name or a subdomain of it. */
static bool in_zone(const char *zone, const char *name)
{
	size_t z = strlen(zone), n = strlen(name);

	if (z > 0 && zone[z - 1] == '.')
		z--;
	if (z < n || strncasecmp(zone + z - n, name, n))
		return false;
	return z == n || zone[z - n - 1] == '.';
}

enum dnsrules_dnsbl dnsrules_dnsbl_answer(const char *zone, const uint8_t addr[4], char *why, size_t cap)
{
	bool spamhaus = in_zone(zone, "spamhaus.org") || in_zone(zone, "spamhaus.net");
	const char *what = NULL;

	if (addr[0] != 127) {
		snprintf(why, cap, "unexpected answer %u.%u.%u.%u (outside 127.0.0.0/8)", addr[0], addr[1], addr[2],
			 addr[3]);
		return DNSRULES_DNSBL_UNEXPECTED;
	}
	if (addr[1] == 255 && addr[2] == 255) {
		switch (addr[3]) {
		case 252: what = "typing error in the DNSBL name"; break;
		case 254: what = "public resolver (Spamhaus refuses queries from open/public resolvers)"; break;
		case 255: what = "over limit (excessive number of queries)"; break;
		default: what = "refused"; break;
		}
		snprintf(why, cap, "query refused: %s (127.255.255.%u)", what, addr[3]);
		return DNSRULES_DNSBL_REFUSED;
	}
	if (spamhaus && addr[1] == 0 && addr[2] == 0) {
		switch (addr[3]) {
		case 2: what = "SBL: Spamhaus Block List, a known spam source"; break;
		case 3: what = "SBL CSS: snowshoe spam source"; break;
		case 4: case 5: case 6: case 7: what = "XBL: exploited host (malware, open proxy)"; break;
		case 9: what = "DROP: hijacked or criminal netblock"; break;
		case 10: what = "PBL: end-user range the ISP says must not send direct mail"; break;
		case 11: what = "PBL: end-user range per Spamhaus, not meant to send direct mail"; break;
		}
	}
	if (what)
		snprintf(why, cap, "listed (127.0.0.%u: %s)", addr[3], what);
	else
		snprintf(why, cap, "listed (%u.%u.%u.%u)", addr[0], addr[1], addr[2], addr[3]);
	return DNSRULES_DNSBL_LISTED;
}

/* ---- tag=value lists (DMARC, DKIM) ------------------------------------------ */

#define TAGS_MAX 32

struct tag {
	const char *name, *val;
	size_t nlen, vlen;
};

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Split txt[0..len) into tag=value pairs (RFC 6376 3.2: whitespace around
 * names, '=' and values; a final ';' allowed; names ALPHA *(ALNUM / "_");
 * values of bytes 0x21..0x7e except ';', with inner whitespace).  At most
 * TAGS_MAX; a name twice is an error.  Returns the count or -EINVAL.
 */
static int tag_list(const char *txt, size_t len, struct tag *t, char *err, size_t cap)
{
	size_t p = 0;
	int n = 0;

	for (;;) {
		size_t ns, vs, ve;

		while (p < len && is_wsp(txt[p]))
			p++;
		if (p >= len)
			break;
		ns = p;
		if (!is_alpha(txt[p]))
			return fail(err, cap, "bad tag name at offset %zu", p);
		while (p < len && (is_alpha(txt[p]) || is_digit(txt[p]) || txt[p] == '_'))
			p++;
		if (n >= TAGS_MAX)
			return fail(err, cap, "more than %d tags", TAGS_MAX);
		t[n].name = txt + ns;
		t[n].nlen = p - ns;
		while (p < len && is_wsp(txt[p]))
			p++;
		if (p >= len || txt[p] != '=')
			return fail(err, cap, "tag \"%.*s\" without '='", (int)(t[n].nlen > 32 ? 32 : t[n].nlen),
				    t[n].name);
		p++;
		while (p < len && is_wsp(txt[p]))
			p++;
		vs = ve = p;
		while (p < len && txt[p] != ';') {
			uint8_t c = (uint8_t)txt[p];

			if (!is_wsp((char)c) && (c < 0x21 || c > 0x7e))
				return fail(err, cap, "byte 0x%02x at offset %zu", c, p);
			if (!is_wsp((char)c))
				ve = p + 1;
			p++;
		}
		t[n].val = txt + vs;
		t[n].vlen = ve - vs;
		for (int k = 0; k < n; k++)
			if (t[k].nlen == t[n].nlen && !memcmp(t[k].name, t[n].name, t[n].nlen))
				return fail(err, cap, "tag \"%.*s\" given twice", (int)(t[n].nlen > 32 ? 32 : t[n].nlen),
					    t[n].name);
		n++;
		if (p < len)
			p++;            /* the ';' */
	}
	return n;
}

static const struct tag *tag_get(const struct tag *t, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strlen(name) == t[i].nlen && !memcmp(t[i].name, name, t[i].nlen))
			return &t[i];
	return NULL;
}

/* ---- DMARC ---------------------------------------------------------------------- */

bool dnsrules_dmarc_is_record(const char *txt, size_t len)
{
	size_t p = 0;

	while (p < len && is_wsp(txt[p]))
		p++;
	if (len - p < 1 || txt[p] != 'v')
		return false;
	p++;
	while (p < len && is_wsp(txt[p]))
		p++;
	if (p >= len || txt[p++] != '=')
		return false;
	while (p < len && is_wsp(txt[p]))
		p++;
	if (len - p < 6 || memcmp(txt + p, "DMARC1", 6))
		return false;
	p += 6;
	while (p < len && is_wsp(txt[p]))
		p++;
	return p == len || txt[p] == ';';
}

static int dmarc_policy(const struct tag *t)
{
	if (eq_word(t->val, t->vlen, "none"))
		return DNSRULES_DMARC_NONE;
	if (eq_word(t->val, t->vlen, "quarantine"))
		return DNSRULES_DMARC_QUARANTINE;
	if (eq_word(t->val, t->vlen, "reject"))
		return DNSRULES_DMARC_REJECT;
	return -1;
}

int dnsrules_dmarc_parse(const char *txt, size_t len, struct dnsrules_dmarc *d, char *err, size_t errcap)
{
	struct tag t[TAGS_MAX];
	const struct tag *p, *sp, *pct;
	int n;

	d->p = DNSRULES_DMARC_NONE;
	d->sp = -1;
	d->pct = 100;
	if (errcap)
		err[0] = '\0';
	if (!dnsrules_dmarc_is_record(txt, len))
		return -ENOENT;
	n = tag_list(txt, len, t, err, errcap);
	if (n < 0)
		return -EINVAL;
	p = tag_get(t, n, "p");
	if (!p)
		return fail(err, errcap, "no p= tag");
	if ((d->p = dmarc_policy(p)) < 0)
		return fail(err, errcap, "p=%.*s is not none, quarantine or reject", (int)(p->vlen > 32 ? 32 : p->vlen),
			    p->val);
	sp = tag_get(t, n, "sp");
	if (sp && (d->sp = dmarc_policy(sp)) < 0)
		return fail(err, errcap, "sp=%.*s is not none, quarantine or reject",
			    (int)(sp->vlen > 32 ? 32 : sp->vlen), sp->val);
	pct = tag_get(t, n, "pct");
	if (pct) {
		int v = 0;

		if (pct->vlen == 0 || pct->vlen > 3)
			return fail(err, errcap, "pct= is not 0..100");
		for (size_t i = 0; i < pct->vlen; i++) {
			if (!is_digit(pct->val[i]))
				return fail(err, errcap, "pct= is not 0..100");
			v = v * 10 + pct->val[i] - '0';
		}
		if (v > 100)
			return fail(err, errcap, "pct= is not 0..100");
		d->pct = v;
	}
	return 0;
}

/* ---- DKIM keys ------------------------------------------------------------------ */

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (is_digit(c))
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int dnsrules_dkim_key_parse(const char *txt, size_t len, struct dnsrules_dkim_key *k, char *err, size_t errcap)
{
	struct tag t[TAGS_MAX];
	const struct tag *v, *kt, *p, *fl;
	size_t chars = 0, pad = 0;
	int n;

	memset(k, 0, sizeof(*k));
	snprintf(k->k, sizeof(k->k), "rsa");
	if (errcap)
		err[0] = '\0';
	n = tag_list(txt, len, t, err, errcap);
	if (n < 0)
		return -EINVAL;
	v = tag_get(t, n, "v");
	if (v && (v != &t[0] || v->vlen != 5 || memcmp(v->val, "DKIM1", 5)))
		return fail(err, errcap, "v= must be DKIM1 and the first tag");
	kt = tag_get(t, n, "k");
	if (kt) {
		if (!eq_word(kt->val, kt->vlen, "rsa") && !eq_word(kt->val, kt->vlen, "ed25519"))
			return fail(err, errcap, "unknown key type k=%.*s", (int)(kt->vlen > 32 ? 32 : kt->vlen),
				    kt->val);
		snprintf(k->k, sizeof(k->k), "%.*s", (int)kt->vlen, kt->val);
		for (char *c = k->k; *c; c++)
			*c = lower(*c);
	}
	fl = tag_get(t, n, "t");
	if (fl)
		for (size_t i = 0; i < fl->vlen; i++)
			if (fl->val[i] == 'y' && (i == 0 || fl->val[i - 1] == ':' || is_wsp(fl->val[i - 1])) &&
			    (i + 1 == fl->vlen || fl->val[i + 1] == ':' || is_wsp(fl->val[i + 1])))
				k->testing = true;
	p = tag_get(t, n, "p");
	if (!p)
		return fail(err, errcap, "no p= tag (the public key)");
	for (size_t i = 0; i < p->vlen; i++) {
		char c = p->val[i];

		if (is_wsp(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (b64_value(c) < 0 || pad)
			return fail(err, errcap, "p= is not base64");
		chars++;
	}
	if (chars == 0 && pad == 0) {
		k->revoked = true;
		return 0;
	}
	if (pad > 2 || (chars + pad) % 4)
		return fail(err, errcap, "p= is not base64");
	k->key_bytes = (chars + pad) / 4 * 3 - pad;
	if (!strcmp(k->k, "rsa") && k->key_bytes < 128)
		return fail(err, errcap, "RSA key shorter than 1024 bits (%zu bytes)", k->key_bytes);
	if (!strcmp(k->k, "ed25519") && k->key_bytes != 32)
		return fail(err, errcap, "Ed25519 key of %zu bytes, not 32", k->key_bytes);
	return 0;
}
