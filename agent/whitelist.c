/* SPDX-License-Identifier: MIT */
/*
 * whitelist: parse and query the agent's local copy of the approved bulk
 * senders (agent process).  Parsing is pure; whitelist_load_file() adds
 * reading the file.  See whitelist.h for the format.
 */
#include "whitelist.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHITELIST_FILE_MAX (16u << 20)

bool whitelist_uuid_valid(const char *s, size_t len)
{
	if (len != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

static void add_err(struct policy_errors *errs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_err(struct policy_errors *errs, const char *fmt, ...)
{
	va_list ap;

	if (errs->n < POLICY_MAX_ERRORS) {
		va_start(ap, fmt);
		vsnprintf(errs->msg[errs->n], sizeof(errs->msg[0]), fmt, ap);
		va_end(ap);
	}
	errs->n++;
}

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct whitelist_entry *)a)->uuid,
		      ((const struct whitelist_entry *)b)->uuid);
}

/* Next blank-separated word of [*p, e): sets *w and *wl, advances *p. */
static bool next_word(const char **p, const char *e, const char **w, size_t *wl)
{
	while (*p < e && (**p == ' ' || **p == '\t'))
		(*p)++;
	if (*p >= e)
		return false;
	*w = *p;
	while (*p < e && **p != ' ' && **p != '\t')
		(*p)++;
	*wl = (size_t)(*p - *w);
	return true;
}

/* One line [p, e) without its comment; 0, or 1 when it was in error. */
static int parse_line(const char *name, unsigned lineno, const char *p, const char *e,
		      struct whitelist *out, size_t *cap, struct policy_errors *errs)
{
	const char *w;
	size_t wl;
	struct whitelist_entry ent;

	if (!next_word(&p, e, &w, &wl))
		return 0;
	if (!whitelist_uuid_valid(w, wl)) {
		add_err(errs, "%s:%u: \"%.*s\" is not a domain UUID (8-4-4-4-12 hex digits)",
			name, lineno, (int)(wl < 40 ? wl : 40), w);
		return 1;
	}
	memset(&ent, 0, sizeof(ent));
	for (size_t i = 0; i < 36; i++)
		ent.uuid[i] = (char)tolower((unsigned char)w[i]);
	while (next_word(&p, e, &w, &wl)) {
		char num[24];
		char *end;
		bool is_until = wl == 5 && memcmp(w, "until", 5) == 0;
		bool is_scale = wl == 5 && memcmp(w, "scale", 5) == 0;

		if (!is_until && !is_scale) {
			add_err(errs, "%s:%u: unexpected \"%.*s\" (expected \"until EPOCH-SECONDS\" or \"scale N\")",
				name, lineno, (int)(wl < 40 ? wl : 40), w);
			return 1;
		}
		if (!next_word(&p, e, &w, &wl) || wl >= sizeof(num)) {
			add_err(errs, "%s:%u: expected \"UUID [until EPOCH-SECONDS] [scale N]\"", name,
				lineno);
			return 1;
		}
		memcpy(num, w, wl);
		num[wl] = '\0';
		errno = 0;
		if (is_until) {
			ent.until_s = strtoull(num, &end, 10);
			if (errno || *end || num[0] == '-' || ent.until_s == 0) {
				add_err(errs, "%s:%u: until: \"%s\" is not a time in seconds since the epoch",
					name, lineno, num);
				return 1;
			}
		} else {
			ent.scale = strtod(num, &end);
			if (errno || *end || !(ent.scale >= WHITELIST_SCALE_MIN &&
					       ent.scale <= WHITELIST_SCALE_MAX)) {
				add_err(errs, "%s:%u: scale: \"%s\" is not a number from %g to %g", name,
					lineno, num, (double)WHITELIST_SCALE_MIN, (double)WHITELIST_SCALE_MAX);
				return 1;
			}
		}
	}
	if (out->n >= WHITELIST_MAX) {
		add_err(errs, "%s:%u: more than %d entries", name, lineno, WHITELIST_MAX);
		return 1;
	}
	if (out->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct whitelist_entry *ne = realloc(out->e, nc * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		out->e = ne;
		*cap = nc;
	}
	out->e[out->n++] = ent;
	return 0;
}

int whitelist_parse(const char *name, const char *buf, size_t len, struct whitelist *out,
		    struct policy_errors *errs)
{
	const char *p = buf, *end = buf + len;
	unsigned lineno = 0;
	size_t cap = 0;
	int errors = 0;

	memset(out, 0, sizeof(*out));
	memset(errs, 0, sizeof(*errs));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end;
		const char *hash = memchr(p, '#', (size_t)(le - p));
		const char *ce = hash ? hash : le;
		int r;

		lineno++;
		while (ce > p && (ce[-1] == '\r' || ce[-1] == ' ' || ce[-1] == '\t'))
			ce--;
		if (memchr(p, '\0', (size_t)(ce - p))) {
			add_err(errs, "%s:%u: NUL byte", name, lineno);
			errors++;
		} else {
			r = parse_line(name, lineno, p, ce, out, &cap, errs);
			if (r < 0) {
				whitelist_fini(out);
				return r;
			}
			errors += r;
		}
		p = le + (nl ? 1 : 0);
	}
	if (errors) {
		whitelist_fini(out);
		return -EINVAL;
	}
	whitelist_normalize(out);
	return 0;
}

/* Two entries for one VM: a full exemption beats raised limits, and of two
 * of the same kind the later expiry (none beats any) wins. */
static void combine(struct whitelist_entry *keep, const struct whitelist_entry *o)
{
	if (keep->scale > 0 && o->scale == 0) {
		*keep = *o;
		return;
	}
	if (keep->scale == 0 && o->scale > 0)
		return;
	if (keep->until_s && (!o->until_s || o->until_s > keep->until_s))
		keep->until_s = o->until_s;
	if (o->scale > keep->scale)
		keep->scale = o->scale;
}

void whitelist_normalize(struct whitelist *w)
{
	size_t k = 0;

	if (w->n < 2)
		return;
	qsort(w->e, w->n, sizeof(w->e[0]), cmp_entry);
	for (size_t i = 1; i < w->n; i++) {
		if (strcmp(w->e[k].uuid, w->e[i].uuid) == 0)
			combine(&w->e[k], &w->e[i]);
		else
			w->e[++k] = w->e[i];
	}
	w->n = k + 1;
}

int whitelist_merge(const struct whitelist *a, const struct whitelist *b, struct whitelist *out)
{
	size_t n = (a ? a->n : 0) + (b ? b->n : 0);

	memset(out, 0, sizeof(*out));
	if (n == 0)
		return 0;
	out->e = malloc(n * sizeof(out->e[0]));
	if (!out->e)
		return -ENOMEM;
	if (a && a->n)
		memcpy(out->e, a->e, a->n * sizeof(out->e[0]));
	if (b && b->n)
		memcpy(out->e + (a ? a->n : 0), b->e, b->n * sizeof(out->e[0]));
	out->n = n;
	whitelist_normalize(out);
	return 0;
}

int whitelist_load_file(const char *path, struct whitelist *out, struct policy_errors *errs)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;
	int r;

	memset(out, 0, sizeof(*out));
	memset(errs, 0, sizeof(*errs));
	if (!f) {
		r = -errno;
		add_err(errs, "%s: cannot open: %s", path, strerror(errno));
		return r;
	}
	buf = malloc(WHITELIST_FILE_MAX + 1);
	if (!buf) {
		fclose(f);
		return -ENOMEM;
	}
	n = fread(buf, 1, WHITELIST_FILE_MAX + 1, f);
	if (ferror(f)) {
		r = -EIO;
		add_err(errs, "%s: read error", path);
	} else if (n > WHITELIST_FILE_MAX) {
		r = -EFBIG;
		add_err(errs, "%s: larger than %u bytes", path, WHITELIST_FILE_MAX);
	} else {
		r = whitelist_parse(path, buf, n, out, errs);
	}
	fclose(f);
	free(buf);
	return r;
}

static const struct whitelist_entry *find(const struct whitelist *w, const char *uuid,
					  uint64_t now_s)
{
	struct whitelist_entry key;
	const struct whitelist_entry *e;
	size_t n = strlen(uuid);

	if (!w || w->n == 0 || !whitelist_uuid_valid(uuid, n))
		return NULL;
	memset(&key, 0, sizeof(key));
	for (size_t i = 0; i < 36; i++)
		key.uuid[i] = (char)tolower((unsigned char)uuid[i]);
	e = bsearch(&key, w->e, w->n, sizeof(w->e[0]), cmp_entry);
	return e && (e->until_s == 0 || now_s < e->until_s) ? e : NULL;
}

bool whitelist_contains(const struct whitelist *w, const char *uuid, uint64_t now_s)
{
	const struct whitelist_entry *e = find(w, uuid, now_s);

	return e && e->scale == 0;
}

double whitelist_scale(const struct whitelist *w, const char *uuid, uint64_t now_s)
{
	const struct whitelist_entry *e = find(w, uuid, now_s);

	return e ? e->scale : 0;
}

void whitelist_fini(struct whitelist *w)
{
	if (!w)
		return;
	free(w->e);
	w->e = NULL;
	w->n = 0;
}
