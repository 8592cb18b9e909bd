/* SPDX-License-Identifier: MIT */
/*
 * auth: the controller API's bearer tokens (controller process; twctl for
 * `twctl token generate`).  A token is "tw_" and 64 hex digits of random;
 * only its SHA-256 is ever stored (tokens file, Redis).  Pure code except
 * auth_generate (getrandom) and auth_load_file (reads the file).
 */
#ifndef TAPWARDEN_AUTH_H
#define TAPWARDEN_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_NAME_MAX 64
#define AUTH_TOKEN_LEN 67             /* "tw_" + 64 hex digits */
#define AUTH_PRESENTED_MAX 512        /* longer Authorization values are refused unhashed */
#define AUTH_MAX_TOKENS 4096
#define AUTH_ERRORS_MAX 8

enum auth_role { AUTH_NONE = 0, AUTH_VIEWER = 1, AUTH_SUPPORT = 2, AUTH_ADMIN = 3 };

struct auth_token {
	char name[AUTH_NAME_MAX + 1];
	enum auth_role role;
	uint8_t hash[32];
	bool from_redis;
	int64_t created;
	char created_by[AUTH_NAME_MAX + 1];
};

/* A set of tokens; the controller keeps one from the file and one from
 * Redis and looks a presented token up in both. */
struct auth_set {
	struct auth_token *t;
	size_t n;
};

struct auth_errors {
	char msg[AUTH_ERRORS_MAX][256];
	unsigned n;
};

const char *auth_role_name(enum auth_role r);
/* "viewer", "support", "admin"; AUTH_NONE otherwise. */
enum auth_role auth_role_parse(const char *s);
/* 1-64 of A-Z a-z 0-9 . _ - */
bool auth_name_valid(const char *s);

void auth_hash(const char *token, size_t len, uint8_t out[32]);
/* 64 lower-case hex digits and NUL. */
void auth_hex(const uint8_t hash[32], char out[65]);
/* 64 hex digits (any case) into out; false otherwise. */
bool auth_unhex(const char *s, uint8_t out[32]);

/* A new random token into out (AUTH_TOKEN_LEN + 1 bytes).  0 or -errno. */
int auth_generate(char out[AUTH_TOKEN_LEN + 1]);

/* The token of an "Authorization: Bearer X" value: *tok and *len borrow from
 * header.  false when the header is absent, not Bearer, empty or longer
 * than AUTH_PRESENTED_MAX. */
bool auth_bearer(const char *header, const char **tok, size_t *len);

/* The token in the sets whose hash matches tok, or NULL.  Every known hash
 * is compared, each in constant time, whether or not one matched earlier.
 * Borrows everything; the result points into a set. */
const struct auth_token *auth_lookup(const struct auth_set *const *sets, size_t nsets, const char *tok,
				     size_t len);

/* Parse a tokens file (YAML, see tapwarden-controller(8)):
 *   tokens:
 *     - {name: noc-wall, role: viewer, sha256: <64 hex>}
 * into out (returns owned entries; free with auth_set_fini).  Names must be
 * unique.  0, or -EINVAL with every problem as "name:line: why" in errs. */
int auth_parse(const char *name, const char *buf, size_t len, struct auth_set *out, struct auth_errors *errs);
int auth_load_file(const char *path, struct auth_set *out, struct auth_errors *errs);
void auth_set_fini(struct auth_set *s);

#endif
