/* SPDX-License-Identifier: MIT */
/*
 * tls: parse a TLS ClientHello from the first client bytes after STARTTLS
 * (or implicit TLS) and compute a JA4 client fingerprint
 * (FoxIO JA4: t<ver><sni d|i><nn ciphers><nn exts><alpn 2 chars>_<sha256
 * of sorted ciphers, 12 hex>_<sha256 of sorted exts + sig algs, 12 hex>;
 * GREASE values ignored).  Handles a ClientHello split over several TLS
 * records and over several reads.  Pure code (agent process, parser side).
 */
#ifndef TAPWARDEN_TLS_H
#define TAPWARDEN_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_MAX_LIST 128   /* ciphers / extensions / sig algs kept */
#define TLS_MAX_HELLO 65536 /* a ClientHello larger than this is an error */
/* Stream bytes a caller needs to buffer at most: from this length on the
 * answer is never TLS_NEED_MORE (a hello not complete by then, e.g. cut
 * into very many tiny records, is TLS_ERROR). */
#define TLS_MAX_STREAM (TLS_MAX_HELLO + 4096)

enum tls_result {
	TLS_NEED_MORE = 0,   /* a prefix of a plausible ClientHello: feed more */
	TLS_DONE,            /* *out filled */
	TLS_NOT_TLS,         /* the bytes are not a TLS handshake record */
	TLS_ERROR,           /* malformed or over TLS_MAX_HELLO */
};

struct tls_hello {
	uint16_t record_version;
	uint16_t legacy_version;     /* ClientHello.legacy_version */
	uint16_t max_version;        /* highest non-GREASE supported_versions entry, else legacy */
	char sni[256];               /* "" when absent; printable ASCII only, else "" */
	char alpn[64];               /* first ALPN protocol, "" when absent */
	uint16_t ciphers[TLS_MAX_LIST];   uint16_t n_ciphers;   /* non-GREASE, in order */
	uint16_t extensions[TLS_MAX_LIST]; uint16_t n_extensions; /* non-GREASE, in order */
	uint16_t sig_algs[TLS_MAX_LIST];  uint16_t n_sig_algs;
	uint16_t groups[TLS_MAX_LIST];    uint16_t n_groups;
	bool lists_capped;           /* a list passed TLS_MAX_LIST: JA4 counts stay exact,
	                                its hashes cover the kept entries only */
	char ja4[48];                /* e.g. "t13d1516h2_8daaf6152771_e5627efa2ab1" */
};

/*
 * Parse buf[0..len) — the client's stream from the first byte after TLS
 * started, borrowed — as TLS records holding a ClientHello.  Stateless:
 * call again with a longer prefix after TLS_NEED_MORE.
 */
enum tls_result tls_parse_client_hello(const uint8_t *buf, size_t len, struct tls_hello *out);

/* "1.3", "1.2", ... or "0x%04x" into a static buffer; for JSON. */
const char *tls_version_name(uint16_t v);

#endif
