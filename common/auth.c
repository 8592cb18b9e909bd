/* SPDX-License-Identifier: MIT */
/*
 * auth: bearer tokens for the controller's API (see auth.h).  SHA-256 and
 * the constant-time comparison come from nettle (already a dependency of
 * the agent's fingerprints); the file is YAML read with libyaml, like the
 * policy.  Tokens are 256 bits of random, so an unsalted hash is enough:
 * nobody can search that space, and a leaked file gives no usable token.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/memops.h>
#include <nettle/sha2.h>
#include <yaml.h>

#include "auth.h"

#define AUTH_FILE_MAX (1024 * 1024)

static const char *const role_names[] = { "none", "viewer", "support", "admin" };

const char *auth_role_name(enum auth_role r)
{
	return r <= AUTH_ADMIN ? role_names[r] : "none";
}

enum auth_role auth_role_parse(const char *s)
{
	for (int r = AUTH_VIEWER; r <= AUTH_ADMIN; r++)
		if (s && strcmp(s, role_names[r]) == 0)
			return (enum auth_role)r;
	return AUTH_NONE;
}

bool auth_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > AUTH_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

void auth_hash(const char *token, size_t len, uint8_t out[32])
{
	struct sha256_ctx ctx;

	sha256_init(&ctx);
	sha256_update(&ctx, len, (const uint8_t *)token);
	sha256_digest(&ctx, SHA256_DIGEST_SIZE, out);
}

void auth_hex(const uint8_t hash[32], char out[65])
{
	static const char hx[] = "0123456789abcdef";

	for (int i = 0; i < 32; i++) {
		out[2 * i] = hx[hash[i] >> 4];
		out[2 * i + 1] = hx[hash[i] & 15];
	}
	out[64] = '\0';
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

bool auth_unhex(const char *s, uint8_t out[32])
{
	if (!s || strlen(s) != 64)
		return false;
	for (int i = 0; i < 32; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

int auth_generate(char out[AUTH_TOKEN_LEN + 1])
{
	uint8_t rnd[32];
	size_t got = 0;

	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	memcpy(out, "tw_", 3);
	auth_hex(rnd, out + 3);
	memset(rnd, 0, sizeof(rnd));
	return 0;
}

bool auth_bearer(const char *header, const char **tok, size_t *len)
{
	size_t n;

	if (!header || strncasecmp(header, "Bearer ", 7) != 0)
		return false;
	header += 7;
	while (*header == ' ')
		header++;
	n = strlen(header);
	while (n && (header[n - 1] == ' ' || header[n - 1] == '\t'))
		n--;
	if (n == 0 || n > AUTH_PRESENTED_MAX)
		return false;
	*tok = header;
	*len = n;
	return true;
}

const struct auth_token *auth_lookup(const struct auth_set *const *sets, size_t nsets, const char *tok,
				     size_t len)
{
	const struct auth_token *found = NULL;
	uint8_t h[32];

	auth_hash(tok, len, h);
	for (size_t s = 0; s < nsets; s++) {
		if (!sets[s])
			continue;
		for (size_t i = 0; i < sets[s]->n; i++) {
			/* no early exit: every entry costs the same */
			int eq = memeql_sec(h, sets[s]->t[i].hash, sizeof(h));

			if (eq && !found)
				found = &sets[s]->t[i];
		}
	}
	memset(h, 0, sizeof(h));
	return found;
}

void auth_set_fini(struct auth_set *s)
{
	if (!s)
		return;
	free(s->t);
	s->t = NULL;
	s->n = 0;
}

/* ---- the tokens file ------------------------------------------------------------- */

static void errf(struct auth_errors *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void errf(struct auth_errors *e, const char *fmt, ...)
{
	va_list ap;

	if (e->n >= AUTH_ERRORS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(e->msg[e->n++], sizeof(e->msg[0]), fmt, ap);
	va_end(ap);
}

static const char *scalar(yaml_document_t *d, yaml_node_t *n)
{
	(void)d;
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* One "- {name, role, sha256}" item. */
static void parse_item(const char *name, yaml_document_t *d, yaml_node_t *item, struct auth_set *out,
		       struct auth_errors *e)
{
	unsigned long line = (unsigned long)item->start_mark.line + 1;
	struct auth_token t = { 0 };
	bool have_hash = false;

	if (item->type != YAML_MAPPING_NODE) {
		errf(e, "%s:%lu: a token is a mapping with name, role and sha256", name, line);
		return;
	}
	for (yaml_node_pair_t *p = item->data.mapping.pairs.start; p < item->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(d, p->key), *vn = yaml_document_get_node(d, p->value);
		const char *k = scalar(d, kn), *v = scalar(d, vn);
		unsigned long l = vn ? (unsigned long)vn->start_mark.line + 1 : line;

		if (!k) {
			errf(e, "%s:%lu: keys are names", name, l);
		} else if (!v) {
			errf(e, "%s:%lu: %s: expected a plain value", name, l, k);
		} else if (strcmp(k, "name") == 0) {
			if (!auth_name_valid(v))
				errf(e, "%s:%lu: name: 1-%d of A-Z a-z 0-9 . _ -", name, l, AUTH_NAME_MAX);
			else
				snprintf(t.name, sizeof(t.name), "%s", v);
		} else if (strcmp(k, "role") == 0) {
			if ((t.role = auth_role_parse(v)) == AUTH_NONE)
				errf(e, "%s:%lu: role: viewer, support or admin (not \"%.32s\")", name, l, v);
		} else if (strcmp(k, "sha256") == 0) {
			if (!(have_hash = auth_unhex(v, t.hash)))
				errf(e, "%s:%lu: sha256: 64 hex digits (twctl token generate prints them)", name, l);
		} else {
			errf(e, "%s:%lu: unknown key \"%.32s\" (name, role, sha256)", name, l, k);
		}
	}
	if (!t.name[0] || t.role == AUTH_NONE || !have_hash) {
		errf(e, "%s:%lu: a token needs name, role and sha256", name, line);
		return;
	}
	for (size_t i = 0; i < out->n; i++) {
		if (strcmp(out->t[i].name, t.name) == 0) {
			errf(e, "%s:%lu: token name \"%s\" used twice", name, line, t.name);
			return;
		}
		if (memcmp(out->t[i].hash, t.hash, sizeof(t.hash)) == 0) {
			errf(e, "%s:%lu: token \"%s\" has the same hash as \"%s\"", name, line, t.name, out->t[i].name);
			return;
		}
	}
	if (out->n >= AUTH_MAX_TOKENS) {
		errf(e, "%s:%lu: more than %d tokens", name, line, AUTH_MAX_TOKENS);
		return;
	}
	out->t[out->n++] = t;
}

int auth_parse(const char *name, const char *buf, size_t len, struct auth_set *out, struct auth_errors *e)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *list = NULL;

	memset(e, 0, sizeof(*e));
	out->t = NULL;
	out->n = 0;
	if (!yaml_parser_initialize(&parser)) {
		errf(e, "%s: out of memory", name);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		errf(e, "%s:%lu: YAML syntax: %s", name, (unsigned long)parser.problem_mark.line + 1,
		     parser.problem ? parser.problem : "error");
		yaml_parser_delete(&parser);
		return -EINVAL;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root || root->type != YAML_MAPPING_NODE) {
		errf(e, "%s:1: expected a mapping with \"tokens:\"", name);
		goto done;
	}
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(&doc, p->key);
		const char *k = scalar(&doc, kn);

		if (k && strcmp(k, "tokens") == 0)
			list = yaml_document_get_node(&doc, p->value);
		else
			errf(e, "%s:%lu: unknown key \"%.32s\" (tokens)", name,
			     kn ? (unsigned long)kn->start_mark.line + 1 : 1ul, k ? k : "?");
	}
	if (!list) {
		errf(e, "%s:1: no \"tokens:\" list", name);
		goto done;
	}
	if (list->type == YAML_SCALAR_NODE && list->data.scalar.length == 0)
		goto done;              /* "tokens:" with nothing: no tokens, valid */
	if (list->type != YAML_SEQUENCE_NODE) {
		errf(e, "%s:%lu: tokens: expected a list", name, (unsigned long)list->start_mark.line + 1);
		goto done;
	}
	{
		size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);

		out->t = calloc(n ? n : 1, sizeof(*out->t));
		if (!out->t) {
			errf(e, "%s: out of memory", name);
			goto done;
		}
	}
	for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++)
		parse_item(name, &doc, yaml_document_get_node(&doc, *it), out, e);
done:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (e->n) {
		auth_set_fini(out);
		return -EINVAL;
	}
	return 0;
}

int auth_load_file(const char *path, struct auth_set *out, struct auth_errors *e)
{
	struct stat st;
	char *buf;
	ssize_t got;
	int fd, r;

	memset(e, 0, sizeof(*e));
	out->t = NULL;
	out->n = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		errf(e, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > AUTH_FILE_MAX) {
		errf(e, "%s: not a regular file of at most %d bytes", path, AUTH_FILE_MAX);
		close(fd);
		return -EINVAL;
	}
	if (st.st_mode & S_IWOTH) {
		errf(e, "%s: writable by everyone; whoever can write it can become admin", path);
		close(fd);
		return -EPERM;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		errf(e, "%s: out of memory", path);
		return -ENOMEM;
	}
	got = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (got != st.st_size) {
		errf(e, "%s: short read", path);
		free(buf);
		return -EIO;
	}
	r = auth_parse(path, buf, (size_t)got, out, e);
	free(buf);
	return r;
}
