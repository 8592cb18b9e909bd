/* SPDX-License-Identifier: MIT */
/*
 * checklist: see checklist.h (controller and twctl; pure code).
 */
#include "checklist.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void checklist_init(struct checklist *cl)
{
	memset(cl, 0, sizeof(*cl));
}

void checklist_fini(struct checklist *cl)
{
	free(cl->v);
	memset(cl, 0, sizeof(*cl));
}

static struct check *checklist_slot(struct checklist *cl)
{
	if (cl->n >= CHECKLIST_MAX)
		return NULL;
	if (cl->n == cl->cap) {
		size_t cap = cl->cap ? cl->cap * 2 : 16;
		struct check *v = realloc(cl->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		cl->v = v;
		cl->cap = cap;
	}
	return &cl->v[cl->n++];
}

/* Length of s[0..n) without the UTF-8 sequence a cut at n split, if any:
 * half a character would make the whole reason invalid UTF-8. */
static size_t checklist_utf8_cut(const char *s, size_t n)
{
	size_t j = n, want;
	unsigned char lead;

	while (j > 0 && ((unsigned char)s[j - 1] & 0xc0) == 0x80)
		j--;
	if (j == 0 || (lead = (unsigned char)s[j - 1]) < 0xc0)
		return n;
	want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
	return j - 1 + want > n ? j - 1 : n;
}

void checklist_add(struct checklist *cl, const char *name, enum check_status st, const char *fmt, ...)
{
	struct check *c = checklist_slot(cl);
	va_list ap;

	if (!c) {
		cl->dropped++;
		return;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->status = st;
	va_start(ap, fmt);
	int r = vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	size_t n = r < 0 ? 0 : strlen(c->reason);

	if (r >= (int)sizeof(c->reason))
		n = checklist_utf8_cut(c->reason, n);
	c->reason[n] = '\0';
	/* reasons quote guest-written headers */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)c->reason[i] < 0x20 || c->reason[i] == 0x7f)
			c->reason[i] = '?';
}

void checklist_take(struct checklist *dst, struct checklist *src)
{
	for (size_t i = 0; i < src->n; i++) {
		struct check *c = checklist_slot(dst);

		if (c)
			*c = src->v[i];
		else
			dst->dropped++;
	}
	dst->dropped += src->dropped;
	checklist_fini(src);
}

enum check_status checklist_result(const struct checklist *cl)
{
	enum check_status r = CHECK_PASS;

	for (size_t i = 0; i < cl->n; i++)
		if (cl->v[i].status > r)
			r = cl->v[i].status;
	return r;
}

const char *check_status_name(enum check_status st)
{
	return st == CHECK_FAIL ? "fail" : st == CHECK_WARN ? "warn" : "pass";
}

int check_status_parse(const char *s)
{
	if (!s)
		return -1;
	if (!strcmp(s, "pass"))
		return CHECK_PASS;
	if (!strcmp(s, "warn"))
		return CHECK_WARN;
	if (!strcmp(s, "fail"))
		return CHECK_FAIL;
	return -1;
}

json_t *checklist_json(const struct checklist *cl)
{
	json_t *o = json_object(), *a = json_array();

	if (!o || !a)
		goto fail;
	for (size_t i = 0; i < cl->n; i++) {
		const struct check *c = &cl->v[i];
		/* reasons may quote non-UTF-8 header bytes: jansson refuses those */
		json_t *r = json_string(c->reason);

		if (!r)
			r = json_string("(reason not valid UTF-8)");
		if (json_array_append_new(a, json_pack("{s:s, s:s, s:o}", "name", c->name, "status",
							 check_status_name(c->status), "reason", r)))
			goto fail;
	}
	if (json_object_set_new(o, "checks", a))
		goto fail_o;
	if (json_object_set_new(o, "result", json_string(check_status_name(checklist_result(cl)))))
		goto fail_o;
	return o;
fail:
	json_decref(a);
fail_o:
	json_decref(o);
	return NULL;
}

int checklist_from_json(struct checklist *cl, const json_t *checks)
{
	size_t i;
	json_t *c;

	if (!json_is_array(checks))
		return -EINVAL;
	json_array_foreach(checks, i, c) {
		const char *name = json_string_value(json_object_get(c, "name"));
		const char *reason = json_string_value(json_object_get(c, "reason"));
		int st = check_status_parse(json_string_value(json_object_get(c, "status")));

		if (!name || st < 0)
			continue;
		checklist_add(cl, name, (enum check_status)st, "%s", reason ? reason : "");
	}
	return 0;
}
