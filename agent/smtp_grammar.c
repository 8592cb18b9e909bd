/* SPDX-License-Identifier: MIT */
/*
 * smtp_grammar: what one SMTP line says (contracts in smtp_grammar.h).
 * Runs in the agent process, on the parser side, called by smtp.c for each
 * line it has assembled.  Pure code over hostile bytes: no state, no
 * allocation, no I/O; every index is checked against the line length, and
 * nothing here may read past the n bytes it was given (lines are not
 * NUL-terminated).  Also home of the verb vocabulary, so smtp_verb_name()
 * of the public API is defined here, next to the recognition table.
 */
#include "smtp_grammar.h"

#include <string.h>

#define SMTP_BDAT_MAX_ARG 25u     /* "18446744073709551615 LAST" */

/* ---- vocabulary ------------------------------------------------------------ */

static const char *const smtp_verb_names[SMTP_CMD_COUNT] = {
	[SMTP_CMD_NONE] = "NONE",         [SMTP_CMD_UNKNOWN] = "UNKNOWN",
	[SMTP_CMD_HELO] = "HELO",         [SMTP_CMD_EHLO] = "EHLO",
	[SMTP_CMD_LHLO] = "LHLO",         [SMTP_CMD_MAIL] = "MAIL",
	[SMTP_CMD_RCPT] = "RCPT",         [SMTP_CMD_DATA] = "DATA",
	[SMTP_CMD_DATA_END] = "DATA_END", [SMTP_CMD_BDAT] = "BDAT",
	[SMTP_CMD_RSET] = "RSET",         [SMTP_CMD_NOOP] = "NOOP",
	[SMTP_CMD_QUIT] = "QUIT",         [SMTP_CMD_STARTTLS] = "STARTTLS",
	[SMTP_CMD_AUTH] = "AUTH",         [SMTP_CMD_AUTH_DATA] = "AUTH_DATA",
	[SMTP_CMD_VRFY] = "VRFY",         [SMTP_CMD_EXPN] = "EXPN",
	[SMTP_CMD_HELP] = "HELP",         [SMTP_CMD_ETRN] = "ETRN",
	[SMTP_CMD_XCLIENT] = "XCLIENT",
};

const char *smtp_verb_name(enum smtp_verb v)
{
	if ((unsigned)v >= SMTP_CMD_COUNT)
		return "UNKNOWN";
	return smtp_verb_names[v];
}

struct smtp_verb_def {
	const char *word;
	uint8_t len;
	enum smtp_verb verb;
};

/* The verbs a client line can start with (pseudo-commands are not here). */
static const struct smtp_verb_def smtp_verbs[] = {
	{ "HELO", 4, SMTP_CMD_HELO },      { "EHLO", 4, SMTP_CMD_EHLO },
	{ "LHLO", 4, SMTP_CMD_LHLO },      { "MAIL", 4, SMTP_CMD_MAIL },
	{ "RCPT", 4, SMTP_CMD_RCPT },      { "DATA", 4, SMTP_CMD_DATA },
	{ "BDAT", 4, SMTP_CMD_BDAT },      { "RSET", 4, SMTP_CMD_RSET },
	{ "NOOP", 4, SMTP_CMD_NOOP },      { "QUIT", 4, SMTP_CMD_QUIT },
	{ "STARTTLS", 8, SMTP_CMD_STARTTLS }, { "AUTH", 4, SMTP_CMD_AUTH },
	{ "VRFY", 4, SMTP_CMD_VRFY },      { "EXPN", 4, SMTP_CMD_EXPN },
	{ "HELP", 4, SMTP_CMD_HELP },      { "ETRN", 4, SMTP_CMD_ETRN },
	{ "XCLIENT", 7, SMTP_CMD_XCLIENT },
};

/* ---- small helpers -------------------------------------------------------- */

static uint8_t ascii_upper(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
}

/* Case-insensitive ASCII compare of n bytes of p against upper-case word w. */
static bool ieq(const uint8_t *p, const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ascii_upper(p[i]) != (uint8_t)w[i])
			return false;
	return true;
}

static bool is_blank(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* ---- commands -------------------------------------------------------------- */

enum smtp_verb smtp_grammar_verb(const uint8_t *p, size_t n)
{
	for (size_t k = 0; k < sizeof(smtp_verbs) / sizeof(smtp_verbs[0]); k++)
		if (n == smtp_verbs[k].len && ieq(p, smtp_verbs[k].word, n))
			return smtp_verbs[k].verb;
	return SMTP_CMD_UNKNOWN;
}

bool smtp_grammar_bdat(const uint8_t *a, size_t n, uint64_t *size, bool *last)
{
	uint64_t v = 0;
	size_t i = 0;

	if (n == 0 || n > SMTP_BDAT_MAX_ARG || !is_digit(a[0]))
		return false;
	while (i < n && is_digit(a[i])) {
		uint64_t d = (uint64_t)(a[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
		i++;
	}
	if (v > (uint64_t)INT64_MAX)
		return false;
	*last = false;
	if (i < n) {
		if (n - i != 5 || a[i] != ' ' || !ieq(a + i + 1, "LAST", 4))
			return false;
		*last = true;
	}
	*size = v;
	return true;
}

void smtp_grammar_path(const uint8_t *a, size_t n, struct smtp_command *c)
{
	size_t i = 0, start, stop;
	bool quoted = false, bracket;

	bracket = n > 0 && a[0] == '<';
	if (bracket)
		i = 1;
	start = i;
	for (; i < n; i++) {
		uint8_t ch = a[i];

		if (quoted) {
			if (ch == '\\' && i + 1 < n)
				i++;
			else if (ch == '"')
				quoted = false;
			continue;
		}
		if (ch == '"')
			quoted = true;
		else if (bracket ? ch == '>' : (ch == ' ' || ch == '\t'))
			break;
	}
	stop = i;
	if (bracket && i == n) {
		/* no closing '>': take up to the first blank */
		for (stop = start; stop < n && a[stop] != ' ' && a[stop] != '\t'; stop++)
			;
		i = stop;
	} else if (bracket) {
		i++;            /* past '>' */
	}
	if (stop == start && (!bracket || i == stop))
		return;         /* nothing there, or a lone "<" */
	/* source route: "@hosta,@hostb:user@host" */
	if (stop > start && a[start] == '@') {
		const uint8_t *colon = memchr(a + start, ':', stop - start);

		if (colon)
			start = (size_t)(colon - a) + 1;
	}
	c->addr = (const char *)a + start;
	c->addr_len = stop - start;
	c->addr_valid = true;
	while (i < n && is_blank(a[i]))
		i++;
	while (n > i && is_blank(a[n - 1]))
		n--;
	c->params = (const char *)a + i;
	c->params_len = n - i;
}

void smtp_grammar_command(const uint8_t *p, size_t n, struct smtp_command *c)
{
	size_t i = 0, w0, w1, rv_end, a0, a1;

	while (i < n && is_blank(p[i]))
		i++;
	w0 = i;
	while (i < n && p[i] != ' ' && p[i] != '\t')
		i++;
	w1 = i;
	c->verb = smtp_grammar_verb(p + w0, w1 - w0);
	rv_end = w1;
	if (c->verb == SMTP_CMD_MAIL || c->verb == SMTP_CMD_RCPT) {
		const char *kw = c->verb == SMTP_CMD_MAIL ? "FROM" : "TO";
		size_t kl = strlen(kw), j = w1;

		while (j < n && is_blank(p[j]))
			j++;
		if (n - j >= kl && ieq(p + j, kw, kl)) {
			j += kl;
			while (j < n && is_blank(p[j]))
				j++;
			if (j < n && p[j] == ':') {
				j++;
				while (j < n && is_blank(p[j]))
					j++;
				rv_end = j;
				smtp_grammar_path(p + j, n - j, c);
			}
		}
	}
	a0 = rv_end;
	while (a0 < n && is_blank(p[a0]))
		a0++;
	a1 = n;
	while (a1 > a0 && is_blank(p[a1 - 1]))
		a1--;
	c->line = (const char *)p;
	c->line_len = n;
	c->raw_verb = (const char *)p + w0;
	c->raw_verb_len = rv_end - w0;
	c->arg = (const char *)p + a0;
	c->arg_len = a1 - a0;
	if (c->verb == SMTP_CMD_BDAT) {
		/* exactly one space after the verb, the rest untrimmed */
		if (w1 < n && p[w1] == ' ')
			c->bdat_valid = smtp_grammar_bdat(p + w1 + 1, n - w1 - 1, &c->bdat_size,
							  &c->bdat_last);
		if (!c->bdat_valid) {
			c->bdat_size = 0;
			c->bdat_last = false;
		}
	}
}

/* ---- replies ---------------------------------------------------------------- */

bool smtp_grammar_is_reply(const uint8_t *p, size_t n)
{
	return n >= 3 && p[0] >= '1' && p[0] <= '5' && is_digit(p[1]) && is_digit(p[2]) &&
	       (n == 3 || p[3] == ' ' || p[3] == '-');
}

bool smtp_grammar_reply(const uint8_t *p, size_t n, struct smtp_grammar_reply *out)
{
	if (!smtp_grammar_is_reply(p, n))
		return false;
	out->code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	out->cont = n > 3 && p[3] == '-';
	out->text = n > 4 ? p + 4 : p + n;
	out->text_len = n > 4 ? n - 4 : 0;
	return true;
}

void smtp_grammar_enhanced(const uint8_t *t, size_t n, int code, char out[16])
{
	size_t i = 0, k;

	out[0] = '\0';
	if (n < 5 || (t[0] != '2' && t[0] != '4' && t[0] != '5') || t[1] != '.' ||
	    t[0] - '0' != code / 100)
		return;
	i = 2;
	for (int part = 0; part < 2; part++) {
		for (k = 0; k < 3 && i < n && is_digit(t[i]); k++)
			i++;
		if (k == 0)
			return;
		if (part == 0) {
			if (i >= n || t[i] != '.')
				return;
			i++;
		}
	}
	if (i < n && t[i] != ' ' && t[i] != '\t')
		return;
	memcpy(out, t, i);      /* i <= 9 */
	out[i] = '\0';
}
