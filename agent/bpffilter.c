/* SPDX-License-Identifier: MIT */
/*
 * bpffilter: expand the capture-filter template (bpf/capture.filter) for the
 * configured ports.  Runs in the agent (capture side) at startup and when
 * the port list changes.
 *
 * Why .incbin: the Makefile compiles agent/ and common/ only and has no
 * generator step; the assembler pastes the file into .rodata verbatim, so
 * there is one source of truth and nothing to install or open at run time.
 * tests/unit/test_bpf.c checks that the embedded copy equals the file in
 * the tree, which catches a stale object (the -MMD dependency files do not
 * see .incbin).
 */
#include "bpffilter.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* bpf/capture.filter followed by a NUL.  The path is relative to the top of
 * the tree, where make runs the compiler. */
__asm__(".section .rodata\n"
	".balign 16\n"
	"bpffilter_embedded_:\n"
	".incbin \"bpf/capture.filter\"\n"
	".byte 0\n"
	".previous\n");
extern const char bpffilter_embedded_[] __asm__("bpffilter_embedded_");

const char *bpffilter_template(void)
{
	return bpffilter_embedded_;
}

struct bf_def {
	char name[32];
	const char *text;
	size_t len;
};

struct bf_ctx {
	const uint16_t *ports;
	size_t nports;
	enum bpffilter_dir dir;
	struct bf_def defs[BPFFILTER_MAX_DEFINES];
	size_t ndefs;
	char *buf;
	size_t cap, len;
	bool space;          /* whitespace seen since the last emitted char */
	int err;
};

/* Append c, folding runs of whitespace into one space; no space after '('
 * or before ')', none at the start. */
static void emit(struct bf_ctx *c, char ch)
{
	if (c->err)
		return;
	if (isspace((unsigned char)ch)) {
		c->space = true;
		return;
	}
	if (c->space && c->len > 0 && c->buf[c->len - 1] != '(' && ch != ')') {
		if (c->len + 1 >= c->cap) {
			c->err = -ENOSPC;
			return;
		}
		c->buf[c->len++] = ' ';
	}
	c->space = false;
	if (c->len + 1 >= c->cap) {
		c->err = -ENOSPC;
		return;
	}
	c->buf[c->len++] = ch;
}

static void emit_n(struct bf_ctx *c, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		emit(c, s[i]);
}

static void emit_s(struct bf_ctx *c, const char *s)
{
	emit_n(c, s, strlen(s));
}

static void emit_port(struct bf_ctx *c, uint16_t port)
{
	char num[8];

	snprintf(num, sizeof(num), "%u", (unsigned)port);
	emit_s(c, num);
}

/* "ip6[(expr) + off:2] = P or ..." for every watched port P. */
static void emit_port_at(struct bf_ctx *c, const char *expr, size_t n, const char *off)
{
	for (size_t i = 0; i < c->nports; i++) {
		if (i > 0)
			emit_s(c, " or ");
		emit_s(c, "ip6[");
		if (off) {
			emit(c, '(');
			emit_n(c, expr, n);
			emit_s(c, ") + ");
			emit_s(c, off);
		} else {
			emit_n(c, expr, n);
		}
		emit_s(c, ":2] = ");
		emit_port(c, c->ports[i]);
	}
}

/* @PORTAT(expr)@: the source or destination port at ip6 offset expr is
 * watched; with BPFFILTER_GUEST_CLIENT the destination port of frames the
 * guest sent (inbound on the host's side of the tap) or the source port of
 * frames sent to it. */
static void emit_portat(struct bf_ctx *c, const char *expr, size_t n)
{
	emit(c, '(');
	if (c->dir == BPFFILTER_GUEST_CLIENT) {
		emit_s(c, "(inbound and (");
		emit_port_at(c, expr, n, "2");
		emit_s(c, ")) or (outbound and (");
		emit_port_at(c, expr, n, NULL);
		emit_s(c, "))");
	} else {
		for (size_t i = 0; i < c->nports; i++) {
			if (i > 0)
				emit_s(c, " or ");
			emit_s(c, "ip6[");
			emit_n(c, expr, n);
			emit_s(c, ":2] = ");
			emit_port(c, c->ports[i]);
			emit_s(c, " or ip6[(");
			emit_n(c, expr, n);
			emit_s(c, ") + 2:2] = ");
			emit_port(c, c->ports[i]);
		}
	}
	emit(c, ')');
}

static void emit_ports(struct bf_ctx *c)
{
	for (size_t p = 0; p < c->nports; p++) {
		if (p > 0)
			emit_s(c, " or ");
		emit_port(c, c->ports[p]);
	}
}

/* @TCPPORTS@: TCP with a watched port, in the direction c->dir asks for. */
static void emit_tcpports(struct bf_ctx *c)
{
	if (c->dir == BPFFILTER_GUEST_CLIENT) {
		emit_s(c, "((inbound and tcp dst port (");
		emit_ports(c);
		emit_s(c, ")) or (outbound and tcp src port (");
		emit_ports(c);
		emit_s(c, ")))");
	} else {
		emit_s(c, "tcp port (");
		emit_ports(c);
		emit(c, ')');
	}
}

static void expand(struct bf_ctx *c, const char *s, size_t n, int depth)
{
	if (depth > BPFFILTER_MAX_DEPTH) {
		c->err = -EINVAL;
		return;
	}
	for (size_t i = 0; i < n && !c->err; i++) {
		if (s[i] != '@') {
			emit(c, s[i]);
			continue;
		}
		size_t start = ++i;

		while (i < n && (isupper((unsigned char)s[i]) || isdigit((unsigned char)s[i]) ||
				 s[i] == '_'))
			i++;
		size_t nlen = i - start;

		if (nlen == 0 || i >= n) {
			c->err = -EINVAL;
			return;
		}
		if (s[i] == '(' && nlen == 6 && memcmp(s + start, "PORTAT", 6) == 0) {
			size_t e = ++i;
			int level = 1;

			for (; i < n; i++) {
				if (s[i] == '@')
					break;
				if (s[i] == '(')
					level++;
				else if (s[i] == ')' && --level == 0)
					break;
			}
			if (i + 1 >= n || s[i] != ')' || s[i + 1] != '@') {
				c->err = -EINVAL;
				return;
			}
			emit_portat(c, s + e, i - e);
			i++;            /* the closing '@' */
			continue;
		}
		if (s[i] != '@') {
			c->err = -EINVAL;
			return;
		}
		if (nlen == 5 && memcmp(s + start, "PORTS", 5) == 0) {
			emit_ports(c);
			continue;
		}
		if (nlen == 8 && memcmp(s + start, "TCPPORTS", 8) == 0) {
			emit_tcpports(c);
			continue;
		}
		size_t d;

		for (d = 0; d < c->ndefs; d++)
			if (strlen(c->defs[d].name) == nlen &&
			    memcmp(c->defs[d].name, s + start, nlen) == 0)
				break;
		if (d == c->ndefs) {
			c->err = -EINVAL;
			return;
		}
		/* parenthesised: "vlan and @L3@" must not bind to L3's first term */
		c->space = true;
		emit(c, '(');
		expand(c, c->defs[d].text, c->defs[d].len, depth + 1);
		emit(c, ')');
		c->space = true;
	}
}

/* Does line [p, e) (comments already blanked) start with word w after
 * blanks?  Sets *rest past it. */
static bool line_word(const char *p, const char *e, const char *w, const char **rest)
{
	size_t wl = strlen(w);

	while (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	if ((size_t)(e - p) < wl || memcmp(p, w, wl) != 0)
		return false;
	p += wl;
	if (p < e && !isspace((unsigned char)*p))
		return false;
	*rest = p;
	return true;
}

/*
 * Split the template: comments become blanks, @define blocks are recorded
 * in c->defs (pointing into work) and blanked out of main.  work and main
 * are copies of tmpl of the same length.
 */
static int split_template(struct bf_ctx *c, char *work, char *main, size_t n)
{
	bool comment = false;
	int in_def = -1;

	for (size_t i = 0; i < n; i++) {
		if (work[i] == '\n')
			comment = false;
		else if (work[i] == '#')
			comment = true;
		if (comment)
			work[i] = ' ';
	}
	memcpy(main, work, n);
	for (size_t ls = 0; ls < n;) {
		const char *nl = memchr(work + ls, '\n', n - ls);
		size_t le = nl ? (size_t)(nl - work) : n;
		const char *rest;

		if (line_word(work + ls, work + le, "@define", &rest)) {
			if (in_def >= 0 || c->ndefs == BPFFILTER_MAX_DEFINES)
				return -EINVAL;
			while (rest < work + le && isspace((unsigned char)*rest))
				rest++;
			const char *ne = rest;

			while (ne < work + le && (isupper((unsigned char)*ne) ||
						  isdigit((unsigned char)*ne) || *ne == '_'))
				ne++;
			size_t nlen = (size_t)(ne - rest);

			if (nlen == 0 || nlen >= sizeof(c->defs[0].name))
				return -EINVAL;
			for (const char *t = ne; t < work + le; t++)
				if (!isspace((unsigned char)*t))
					return -EINVAL;
			in_def = (int)c->ndefs++;
			memcpy(c->defs[in_def].name, rest, nlen);
			c->defs[in_def].name[nlen] = '\0';
			c->defs[in_def].text = work + le;
			c->defs[in_def].len = 0;
		} else if (line_word(work + ls, work + le, "@end", &rest)) {
			if (in_def < 0)
				return -EINVAL;
			for (const char *t = rest; t < work + le; t++)
				if (!isspace((unsigned char)*t))
					return -EINVAL;
			c->defs[in_def].len = (size_t)(work + ls - c->defs[in_def].text);
			in_def = -1;
			memset(main + ls, ' ', le - ls);
		}
		if (in_def >= 0)
			memset(main + ls, ' ', le - ls);
		ls = le + 1;
	}
	return in_def >= 0 ? -EINVAL : 0;
}

int bpffilter_expand(const char *tmpl, const uint16_t *ports, size_t nports,
		     enum bpffilter_dir dir, char *buf, size_t cap)
{
	struct bf_ctx c = { .ports = ports, .nports = nports, .dir = dir, .buf = buf, .cap = cap };
	size_t n;
	char *work = NULL, *main_text = NULL;
	int err;

	if (buf == NULL || cap == 0)
		return -ENOSPC;
	buf[0] = '\0';
	if (tmpl == NULL || ports == NULL || nports == 0 || nports > BPFFILTER_MAX_PORTS ||
	    (dir != BPFFILTER_ANY_DIRECTION && dir != BPFFILTER_GUEST_CLIENT))
		return -EINVAL;
	for (size_t i = 0; i < nports; i++)
		if (ports[i] == 0)
			return -EINVAL;
	n = strlen(tmpl);
	work = malloc(n + 1);
	main_text = malloc(n + 1);
	if (work == NULL || main_text == NULL) {
		err = -ENOMEM;
		goto fail;
	}
	memcpy(work, tmpl, n + 1);
	err = split_template(&c, work, main_text, n);
	if (err)
		goto fail;
	expand(&c, main_text, n, 0);
	err = c.err;
	if (err)
		goto fail;
	if (c.len == 0) {
		err = -EINVAL;  /* an empty filter would pass everything */
		goto fail;
	}
	buf[c.len] = '\0';
	free(main_text);
	free(work);
	return 0;
fail:
	buf[0] = '\0';
	free(main_text);
	free(work);
	return err;
}

int bpffilter_text(const uint16_t *ports, size_t nports, enum bpffilter_dir dir,
		   char *buf, size_t cap)
{
	return bpffilter_expand(bpffilter_template(), ports, nports, dir, buf, cap);
}
