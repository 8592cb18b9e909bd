/* SPDX-License-Identifier: MIT */
/*
 * vmmap_file: --vm-map JSON loader and lookup (agent process).  Maps are
 * small (one hypervisor's guests); lookups scan linearly.
 */
#include "vmmap_file.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

__attribute__((format(printf, 4, 5)))
static void add_err(char *err, size_t cap, size_t *used, const char *fmt, ...)
{
	va_list ap;
	if (*used + 1 >= cap)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(err + *used, cap - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used += (size_t)n < cap - *used ? (size_t)n : cap - *used - 1;
	if (*used + 1 < cap) {
		err[(*used)++] = '\n';
		err[*used] = '\0';
	}
}

static bool parse_mac(const char *s, uint8_t out[6])
{
	unsigned v[6];
	char extra;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)v[i];
	return true;
}

static bool copy_str(json_t *obj, const char *key, char *dst, size_t cap, bool required,
		     const char *name, const char *guest, char *err, size_t ecap, size_t *used)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		if (required)
			add_err(err, ecap, used, "%s: \"%s\": %s is required", name, guest, key);
		return !required;
	}
	if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) >= cap ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		add_err(err, ecap, used, "%s: \"%s\": %s must be a string of 1..%zu bytes", name, guest, key, cap - 1);
		return false;
	}
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return true;
}

/* One "guest": {...} pair into e; false (with errors) when invalid. */
static bool parse_entry(const char *name, const char *guest, json_t *v, struct vmmap_file_entry *e,
			char *err, size_t cap, size_t *used)
{
	bool ok = true;
	const char *key;
	json_t *x;

	memset(e, 0, sizeof(*e));
	if (inet_pton(AF_INET, guest, e->addr) == 1)
		e->kind = 4;
	else if (inet_pton(AF_INET6, guest, e->addr) == 1)
		e->kind = 6;
	else if (parse_mac(guest, e->addr))
		e->kind = 'm';
	else {
		add_err(err, cap, used, "%s: \"%.64s\": not an IPv4/IPv6 address or MAC", name, guest);
		ok = false;
	}
	if (!json_is_object(v)) {
		add_err(err, cap, used, "%s: \"%.64s\": expected an object {uuid, name, plan, whitelisted}", name, guest);
		return false;
	}
	ok &= copy_str(v, "uuid", e->id.uuid, sizeof(e->id.uuid), true, name, guest, err, cap, used);
	ok &= copy_str(v, "name", e->id.name, sizeof(e->id.name), false, name, guest, err, cap, used);
	ok &= copy_str(v, "plan", e->id.plan, sizeof(e->id.plan), false, name, guest, err, cap, used);
	if (!e->id.name[0])
		memcpy(e->id.name, e->id.uuid, sizeof(e->id.name));
	x = json_object_get(v, "whitelisted");
	if (x && !json_is_boolean(x)) {
		add_err(err, cap, used, "%s: \"%.64s\": whitelisted must be true or false", name, guest);
		ok = false;
	}
	e->id.whitelisted = x && json_is_true(x);
	json_object_foreach(v, key, x) {
		if (strcmp(key, "uuid") && strcmp(key, "name") && strcmp(key, "plan") && strcmp(key, "whitelisted")) {
			add_err(err, cap, used, "%s: \"%.64s\": unknown key \"%.64s\" (uuid, name, plan, whitelisted)",
				name, guest, key);
			ok = false;
		}
	}
	return ok;
}

int vmmap_file_parse(const char *name, const char *buf, size_t len, struct vmmap_file *m,
		     char *err, size_t cap)
{
	json_error_t je;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	size_t used = 0, n = 0;
	const char *guest;
	json_t *v;

	memset(m, 0, sizeof(*m));
	if (cap)
		err[0] = '\0';
	if (!root) {
		add_err(err, cap, &used, "%s:%d: %s", name, je.line, je.text);
		return -EINVAL;
	}
	if (!json_is_object(root) || json_object_size(root) > VMMAP_FILE_MAX) {
		add_err(err, cap, &used, "%s: expected an object of at most %d guests", name, VMMAP_FILE_MAX);
		json_decref(root);
		return -EINVAL;
	}
	m->e = calloc(json_object_size(root) + 1, sizeof(*m->e));
	if (!m->e) {
		json_decref(root);
		return -ENOMEM;
	}
	json_object_foreach(root, guest, v) {
		if (parse_entry(name, guest, v, &m->e[n], err, cap, &used))
			n++;
	}
	json_decref(root);
	m->n = n;
	if (used) {
		vmmap_file_fini(m);
		return -EINVAL;
	}
	return 0;
}

int vmmap_file_load(const char *path, struct vmmap_file *m, char *err, size_t cap)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	size_t len;
	int r;

	memset(m, 0, sizeof(*m));
	if (!f) {
		snprintf(err, cap, "%s: cannot open: %s\n", path, strerror(errno));
		return -errno;
	}
	buf = malloc(16u << 20);
	len = buf ? fread(buf, 1, 16u << 20, f) : 0;
	fclose(f);
	if (!buf) {
		snprintf(err, cap, "%s: out of memory\n", path);
		return -ENOMEM;
	}
	r = vmmap_file_parse(path, buf, len, m, err, cap);
	free(buf);
	return r;
}

const struct detect_vm_id *vmmap_file_lookup(const struct vmmap_file *m, const struct flow_info *fi)
{
	size_t alen = fi->family == 4 ? 4 : 16;
	const struct detect_vm_id *by_ip = NULL;

	for (size_t i = 0; i < m->n; i++) {
		const struct vmmap_file_entry *e = &m->e[i];

		if (e->kind == 'm') {
			if (fi->has_client_mac && !memcmp(e->addr, fi->client_mac, 6))
				return &e->id;
		} else if (!by_ip && e->kind == fi->family && !memcmp(e->addr, fi->client, alen)) {
			by_ip = &e->id;
		}
	}
	return by_ip;
}

void vmmap_file_fini(struct vmmap_file *m)
{
	free(m->e);
	m->e = NULL;
	m->n = 0;
}
