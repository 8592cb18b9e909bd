/* SPDX-License-Identifier: MIT */
/*
 * bus: key names and the strict parsing of what the agent reads from
 * Redis (commands, whitelist records).  Redis is a shared service on a
 * management network, so its content is checked like any other input:
 * every field typed, bounded and validated, unknown ops refused, never
 * trusted to be well formed.  Pure (both processes).
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "bus.h"

bool bus_name_valid(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return false;
	return true;
}

void bus_key(char *key, size_t cap, const char *prefix, const char *suffix, const char *id)
{
	if (id)
		snprintf(key, cap, "%s:%s:%s", prefix, suffix, id);
	else
		snprintf(key, cap, "%s:%s", prefix, suffix);
}

static int fail(char *err, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

bool bus_uuid_norm(const char *s, char out[BUS_UUID_LEN])
{
	if (!s || strnlen(s, 37) != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	for (size_t i = 0; i < 36; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[36] = '\0';
	return true;
}

/* Lower-case canonical UUID from j[key] into out; 0 or -EINVAL. */
static int get_uuid(json_t *j, const char *key, char *out, char *err, size_t cap)
{
	json_t *v = json_object_get(j, key);

	if (!json_is_string(v))
		return fail(err, cap, "%s: missing or not a string", key);
	if (json_string_length(v) != 36 || !bus_uuid_norm(json_string_value(v), out))
		return fail(err, cap, "%s: not a domain UUID", key);
	return 0;
}

/* Optional string j[key] into out (cap); too long or not a string is an
 * error, control bytes become spaces (these strings reach logs). */
static int get_str(json_t *j, const char *key, char *out, size_t ocap, bool required, char *err,
		   size_t cap)
{
	json_t *v = json_object_get(j, key);
	size_t n;
	const char *s;

	out[0] = '\0';
	if (!v || json_is_null(v)) {
		if (required)
			return fail(err, cap, "%s: missing", key);
		return 0;
	}
	if (!json_is_string(v))
		return fail(err, cap, "%s: not a string", key);
	n = json_string_length(v);
	s = json_string_value(v);
	if (n >= ocap)
		return fail(err, cap, "%s: longer than %zu bytes", key, ocap - 1);
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
	out[n] = '\0';
	return 0;
}

/* Optional non-negative integer j[key] (at most max); absent: 0. */
static int get_uint(json_t *j, const char *key, uint64_t max, uint64_t *out, char *err, size_t cap)
{
	json_t *v = json_object_get(j, key);

	*out = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) > max)
		return fail(err, cap, "%s: not an integer from 0 to %llu", key, (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

#define BUS_TIME_MAX 32503680000ull      /* year 3000 */

static int wl_record(json_t *j, struct bus_command *c, char *err, size_t cap)
{
	json_t *lim;
	int r;

	if (!json_is_object(j))
		return fail(err, cap, "whitelist record: not an object");
	if ((r = get_uuid(j, "uuid", c->uuid, err, cap)) < 0 ||
	    (r = get_uint(j, "expires", BUS_TIME_MAX, &c->until_s, err, cap)) < 0 ||
	    (r = get_str(j, "ticket", c->ticket, sizeof(c->ticket), false, err, cap)) < 0)
		return r;
	lim = json_object_get(j, "limits");
	c->scale = 0;
	if (lim && !json_is_null(lim)) {
		json_t *sc = json_object_get(lim, "scale");

		if (!json_is_object(lim) || !json_is_number(sc))
			return fail(err, cap, "limits: expected {\"scale\": N}");
		c->scale = json_number_value(sc);
		if (!(c->scale >= 1.0 && c->scale <= 1000.0))
			return fail(err, cap, "limits.scale: not a number from 1 to 1000");
	}
	c->op = BUS_OP_WL_SET;
	return 0;
}

int bus_wl_record_parse(const char *json, size_t len, struct bus_command *c, char *err, size_t cap)
{
	json_error_t je;
	json_t *j;
	int r;

	memset(c, 0, sizeof(*c));
	if (len > BUS_BODY_MAX)
		return fail(err, cap, "whitelist record larger than %u bytes", BUS_BODY_MAX);
	j = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return fail(err, cap, "whitelist record: bad JSON: %s", je.text);
	r = wl_record(j, c, err, cap);
	json_decref(j);
	return r;
}

static const struct {
	const char *name;
	enum bus_op op;
} ops[] = {
	{ "block", BUS_OP_BLOCK }, { "unblock", BUS_OP_UNBLOCK }, { "whitelist_set", BUS_OP_WL_SET },
	{ "whitelist_del", BUS_OP_WL_DEL }, { "reload", BUS_OP_RELOAD },
};

int bus_command_parse(const char *op, size_t op_len, const char *body, size_t body_len,
		      struct bus_command *c, char *err, size_t cap)
{
	json_error_t je;
	json_t *j = NULL;
	char origin[16];
	size_t i;
	int r = 0;

	memset(c, 0, sizeof(*c));
	err[0] = '\0';
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strlen(ops[i].name) == op_len && memcmp(ops[i].name, op, op_len) == 0)
			break;
	if (i == sizeof(ops) / sizeof(ops[0])) {
		snprintf(err, cap, "unknown op \"%.*s\"", (int)(op_len < 32 ? op_len : 32), op);
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
		return -EPROTONOSUPPORT;
	}
	c->op = ops[i].op;
	if (body_len > BUS_BODY_MAX)
		return fail(err, cap, "body larger than %u bytes", BUS_BODY_MAX);
	j = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &je);
	if (!j || !json_is_object(j)) {
		r = fail(err, cap, "body: %s", j ? "not an object" : je.text);
		goto out;
	}
	if ((r = get_str(j, "decision", c->decision, sizeof(c->decision), false, err, cap)) < 0 ||
	    (r = get_str(j, "reason", c->reason, sizeof(c->reason), false, err, cap)) < 0)
		goto out;
	switch (c->op) {
	case BUS_OP_BLOCK:
		if ((r = get_uuid(j, "uuid", c->uuid, err, cap)) < 0 ||
		    (r = get_str(j, "name", c->name, sizeof(c->name), false, err, cap)) < 0 ||
		    (r = get_uint(j, "until", BUS_TIME_MAX, &c->until_s, err, cap)) < 0 ||
		    (r = get_str(j, "origin", origin, sizeof(origin), true, err, cap)) < 0)
			goto out;
		if (c->until_s == 0) {
			r = fail(err, cap, "until: missing");
			goto out;
		}
		if (strcmp(origin, "manual") != 0 && strcmp(origin, "auto") != 0) {
			r = fail(err, cap, "origin: expected \"manual\" or \"auto\"");
			goto out;
		}
		c->manual = origin[0] == 'm';
		break;
	case BUS_OP_UNBLOCK:
	case BUS_OP_WL_DEL:
		r = get_uuid(j, "uuid", c->uuid, err, cap);
		break;
	case BUS_OP_WL_SET:
		r = wl_record(json_object_get(j, "entry"), c, err, cap);
		break;
	case BUS_OP_RELOAD:
		break;
	}
out:
	json_decref(j);
	return r;
}

int bus_id_parse(const char *s, size_t len, uint64_t *ms, uint64_t *seq)
{
	uint64_t v[2] = { 0, 0 };
	int part = 0;
	bool digit = false;

	for (size_t i = 0; i < len; i++) {
		if (s[i] == '-' && part == 0 && digit) {
			part = 1;
			digit = false;
		} else if (s[i] >= '0' && s[i] <= '9') {
			if (v[part] > (UINT64_MAX - 9) / 10)
				return -EINVAL;
			v[part] = v[part] * 10 + (uint64_t)(s[i] - '0');
			digit = true;
		} else {
			return -EINVAL;
		}
	}
	if (!digit)
		return -EINVAL;
	*ms = v[0];
	*seq = v[1];
	return 0;
}

int bus_id_cmp(uint64_t ams, uint64_t aseq, uint64_t bms, uint64_t bseq)
{
	if (ams != bms)
		return ams < bms ? -1 : 1;
	if (aseq != bseq)
		return aseq < bseq ? -1 : 1;
	return 0;
}
