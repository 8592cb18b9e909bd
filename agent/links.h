/* SPDX-License-Identifier: MIT */
/*
 * links: link facts of a message body.  Finds http://, https://, ftp://,
 * www. and mailto: links in streaming plain text, takes href/src values
 * from the HTML scanner, and classifies each link's host: IP literal
 * (dotted, decimal, hex, octal IPv4 as browsers read them; [IPv6]),
 * encoded (userinfo "@", %-escapes, punycode or raw non-ASCII in the host),
 * URL shortener (host or a parent domain in the configured list).
 * Distinct hosts are kept as 64-bit hashes in a small set.
 * Pure code (agent process, parser side).  Memory is bounded by the caps
 * below and allocated only when needed: the token buffer when a token
 * continues past a call (grown to LINKS_TOKEN_MAX at most), the host set
 * when the first host is seen (grown to LINKS_SET_SLOTS at most).
 */
#ifndef TAPWARDEN_LINKS_H
#define TAPWARDEN_LINKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LINKS_TOKEN_MAX 2048     /* bytes of one text token kept for analysis */
#define LINKS_HOST_MAX 256       /* bytes of one host kept */
#define LINKS_SET_SLOTS 256      /* distinct-host hash set (open addressing), at most */
#define LINKS_SET_MAX 128        /* distinct hosts counted at most */

/* links_classify() result bits */
#define LINKS_F_LINK      0x01u  /* http(s)/ftp/www./scheme-relative with a host */
#define LINKS_F_MAILTO    0x02u
#define LINKS_F_IP        0x04u
#define LINKS_F_ENCODED   0x08u
#define LINKS_F_SHORTENER 0x10u

struct links_counts {
	uint32_t count, ip_literal, encoded_host, shortener, mailto, distinct_hosts;
};

/* Optional observers (the whitelist lint; the agent sets none, and then
 * pays one untaken branch per link and per text piece): every link as it
 * is counted (flags as links_classify(), never 0), and every piece of
 * visible text.  Arguments are borrowed for the call. */
struct links_hooks {
	void *ctx;
	void (*link)(void *ctx, const char *url, size_t len, unsigned flags);
	void (*text)(void *ctx, const char *text, size_t len);
};

struct links {
	const char *const *shorteners;   /* borrowed */
	const struct links_hooks *hooks; /* borrowed; NULL: none */
	size_t n_shorteners;
	struct links_counts c;
	/* private */
	uint64_t *set;                   /* owned; 0: free slot; NULL until a host */
	char *tok;                       /* owned; the open token's kept bytes */
	uint32_t set_slots;              /* power of two, <= LINKS_SET_SLOTS */
	uint32_t tok_cap;
	uint32_t tok_len;                /* open token; LINKS_TOKEN_MAX + 1: cut */
	uint8_t tok_trig;                /* the open token holds ':' or '.' */
	bool tok_lost;                   /* ENOMEM: the open token is not analysed */
};

/* Borrows the shortener list (lower-case hosts) for the object's life. */
void links_init(struct links *l, const char *const *shorteners, size_t n);
/* Frees what l owns (l itself is embedded); l may be initialised again. */
void links_fini(struct links *l);
/* Bytes allocated by l now (not counting struct links itself). */
size_t links_memory(const struct links *l);

/* Classify one link (borrowed, not NUL-terminated); host (lower-cased,
 * %-decoded, NUL-terminated, at most LINKS_HOST_MAX-1 bytes) goes to
 * host_out when not NULL.  Returns LINKS_F_* bits; 0 for anything that is
 * not a link (relative paths, javascript:, cid:, empty host ...). */
unsigned links_classify(const struct links *l, const char *url, size_t len,
			char host_out[LINKS_HOST_MAX]);

/* Count one href/src value (entity-decoded by the caller). */
void links_add_url(struct links *l, const char *url, size_t len);

/* Streaming plain text (borrowed); links may span calls. */
void links_text(struct links *l, const char *text, size_t len);
/* A hard boundary in the text (HTML tag, end of part): ends a pending link. */
void links_text_break(struct links *l);

#endif
