/* SPDX-License-Identifier: MIT */
/*
 * jsonw: a small streaming JSON writer into a growable buffer, used for the
 * per-session JSON lines and reports (both processes).  Building a jansson
 * DOM per session cost more than the whole SMTP parse in `make bench`, so
 * the hot output path writes directly.  Strings are escaped; bytes that are
 * not valid UTF-8 (guest data is arbitrary) are written as \u00XX, so the
 * output is always valid JSON.  Pure code, no I/O.
 */
#ifndef TAPWARDEN_JSONW_H
#define TAPWARDEN_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSONW_MAX_DEPTH 16

struct jsonw {
	char *buf;
	size_t len, cap;
	uint32_t depth;
	bool need_comma[JSONW_MAX_DEPTH + 1];
	bool oom;          /* an allocation failed: output is incomplete */
};

void jsonw_init(struct jsonw *w);
void jsonw_fini(struct jsonw *w);
/* Forget the content, keep the buffer. */
void jsonw_reset(struct jsonw *w);

void jsonw_obj_begin(struct jsonw *w);
void jsonw_obj_end(struct jsonw *w);
void jsonw_arr_begin(struct jsonw *w);
void jsonw_arr_end(struct jsonw *w);
/* Object key of len bytes (borrowed, trusted ASCII, no escaping). */
void jsonw_key_len(struct jsonw *w, const char *key, size_t len);

/* Object key (borrowed, NUL-terminated, trusted ASCII); inline so that the
 * length of a literal is computed at compile time. */
static inline void jsonw_key(struct jsonw *w, const char *key)
{
	jsonw_key_len(w, key, __builtin_strlen(key));
}

void jsonw_str(struct jsonw *w, const char *s, size_t len);
/* NUL-terminated string, or null when s is NULL. */
void jsonw_cstr(struct jsonw *w, const char *s);
void jsonw_int(struct jsonw *w, int64_t v);
void jsonw_uint(struct jsonw *w, uint64_t v);
/* Fixed-point with 6 decimals (timestamps). */
void jsonw_ts_us(struct jsonw *w, uint64_t us);
void jsonw_bool(struct jsonw *w, bool v);
void jsonw_null(struct jsonw *w);
/* A pre-formatted JSON value (trusted). */
void jsonw_raw(struct jsonw *w, const char *s, size_t len);

/* Escape len bytes of s as a JSON string body into w without quotes. */
void jsonw_escape(struct jsonw *w, const char *s, size_t len);

#endif
