/* SPDX-License-Identifier: MIT */
/*
 * tls: ClientHello parser and JA4 fingerprint.  The input is the client's
 * byte stream from the first byte after STARTTLS (or of implicit TLS); it
 * is read as TLS records whose fragments are concatenated into one
 * handshake message without copying (a cursor walks record by record), so
 * a ClientHello split over many records costs no extra memory.  Stateless:
 * the caller re-parses a longer prefix after TLS_NEED_MORE.  A cheap walk
 * over the record headers decides completeness first, so feeding one byte
 * at a time costs O(records) per call until the hello is complete.
 * Pure code, no I/O (agent process, parser side).
 */
#include "tls.h"

#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TLS_REC_HANDSHAKE 22
#define TLS_HS_CLIENT_HELLO 1
#define TLS_REC_HDR 5
#define TLS_HS_HDR 4
/* RFC 8446 5.1: plaintext fragments are at most 2^14 bytes; allow the
 * TLS 1.2 compression slack so that old clients are not rejected. */
#define TLS_MAX_FRAGMENT (16384 + 2048)

#define TLS_EXT_SNI 0x0000
#define TLS_EXT_GROUPS 0x000a
#define TLS_EXT_SIG_ALGS 0x000d
#define TLS_EXT_ALPN 0x0010
#define TLS_EXT_VERSIONS 0x002b

/* Cursor over the handshake bytes carried by consecutive records. */
struct tls_rd {
	const uint8_t *buf;
	size_t len;
	size_t pos;        /* next byte of buf */
	size_t frag_left;  /* bytes left in the current record's fragment */
	size_t lim;        /* bytes the current parse scope may still read */
	bool bad;          /* read past a scope, a record or the buffer */
};

enum tls_rec_check {
	TLS_REC_OK,
	TLS_REC_SHORT,   /* the header is not all there yet */
	TLS_REC_NOT_TLS, /* not a handshake record */
	TLS_REC_BAD,     /* handshake type, but an impossible length */
};

/* A GREASE value (RFC 8701): 0x0a0a, 0x1a1a, ... 0xfafa. */
static bool tls_is_grease(uint16_t v)
{
	return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

/*
 * Check the record header at buf[pos..]; on TLS_REC_OK store the fragment
 * length in *frag.  Any record of a ClientHello must be a handshake record
 * with a 3.x version and a non-empty fragment (RFC 8446 5.1 forbids empty
 * handshake fragments).
 */
static enum tls_rec_check tls_check_record(const uint8_t *buf, size_t len, size_t pos, size_t *frag)
{
	size_t have = len - pos;

	if (have >= 1 && buf[pos] != TLS_REC_HANDSHAKE)
		return TLS_REC_NOT_TLS;
	if (have >= 2 && buf[pos + 1] != 3)
		return TLS_REC_NOT_TLS;
	if (have < TLS_REC_HDR)
		return TLS_REC_SHORT;
	*frag = (size_t)buf[pos + 3] << 8 | buf[pos + 4];
	if (*frag == 0 || *frag > TLS_MAX_FRAGMENT)
		return TLS_REC_BAD;
	return TLS_REC_OK;
}

/*
 * Walk the record headers from the start of buf, counting handshake bytes,
 * until the whole handshake message (4-byte header plus its length) is
 * present.  Returns TLS_DONE when it is, TLS_NEED_MORE, TLS_NOT_TLS when
 * the first bytes are not a TLS handshake record, or TLS_ERROR (a later
 * record of another type, a bad length, not a ClientHello, too large).
 */
static enum tls_result tls_check_complete(const uint8_t *buf, size_t len)
{
	uint8_t hdr[TLS_HS_HDR];
	size_t hdr_have = 0, pos = 0, need = 0, got = 0;
	bool first = true;

	for (;;) {
		size_t frag, take, i;
		enum tls_rec_check rc = tls_check_record(buf, len, pos, &frag);

		if (rc == TLS_REC_SHORT)
			return TLS_NEED_MORE;
		if (rc == TLS_REC_NOT_TLS)
			return first ? TLS_NOT_TLS : TLS_ERROR;
		if (rc == TLS_REC_BAD)
			return TLS_ERROR;
		first = false;
		pos += TLS_REC_HDR;
		take = len - pos < frag ? len - pos : frag;
		for (i = 0; i < take && hdr_have < TLS_HS_HDR; i++)
			hdr[hdr_have++] = buf[pos + i];
		if (hdr_have >= 1 && hdr[0] != TLS_HS_CLIENT_HELLO)
			return TLS_ERROR;
		if (hdr_have == TLS_HS_HDR && need == 0) {
			need = (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
			if (need > TLS_MAX_HELLO)
				return TLS_ERROR;
			need += TLS_HS_HDR;
		}
		got += take;
		if (need != 0 && got >= need)
			return TLS_DONE;
		if (take < frag)
			return TLS_NEED_MORE;
		pos += frag;
	}
}

/* Next handshake byte, stepping over record headers; 0 and rd->bad set
 * when past the scope limit or the data. */
static uint8_t tls_rd_u8(struct tls_rd *rd)
{
	uint8_t v;

	if (rd->bad || rd->lim == 0)
		goto fail;
	while (rd->frag_left == 0) {
		size_t frag;

		if (tls_check_record(rd->buf, rd->len, rd->pos, &frag) != TLS_REC_OK)
			goto fail;
		rd->pos += TLS_REC_HDR;
		rd->frag_left = frag;
	}
	if (rd->pos >= rd->len)
		goto fail;
	v = rd->buf[rd->pos++];
	rd->frag_left--;
	rd->lim--;
	return v;
fail:
	rd->bad = true;
	return 0;
}

static uint16_t tls_rd_u16(struct tls_rd *rd)
{
	uint16_t hi = tls_rd_u8(rd);

	return (uint16_t)(hi << 8 | tls_rd_u8(rd));
}

static uint32_t tls_rd_u24(struct tls_rd *rd)
{
	uint32_t v = tls_rd_u8(rd);

	v = v << 8 | tls_rd_u8(rd);
	return v << 8 | tls_rd_u8(rd);
}

static void tls_rd_skip(struct tls_rd *rd, size_t n)
{
	while (n-- > 0 && !rd->bad)
		(void)tls_rd_u8(rd);
}

/*
 * Enter a sub-scope of n bytes: returns the outer limit to pass to
 * tls_rd_leave.  Sets rd->bad if n exceeds the current scope.
 */
static size_t tls_rd_enter(struct tls_rd *rd, size_t n)
{
	size_t outer = rd->lim;

	if (n > rd->lim) {
		rd->bad = true;
		return 0;
	}
	rd->lim = n;
	return outer - n;
}

/* Leave a sub-scope: its unread bytes are skipped (strict: they must be
 * none when 'exact'). */
static void tls_rd_leave(struct tls_rd *rd, size_t outer, bool exact)
{
	if (exact && rd->lim != 0)
		rd->bad = true;
	tls_rd_skip(rd, rd->lim);
	rd->lim = outer;
}

/* Read a list of n bytes of u16 values, keeping non-GREASE ones up to
 * TLS_MAX_LIST; returns how many non-GREASE values the list held. */
static size_t tls_rd_u16_list(struct tls_rd *rd, size_t n, uint16_t *vals, uint16_t *n_vals)
{
	size_t outer, total = 0;

	if (n % 2 != 0)
		rd->bad = true;
	outer = tls_rd_enter(rd, n);
	while (rd->lim > 0 && !rd->bad) {
		uint16_t v = tls_rd_u16(rd);

		if (rd->bad || tls_is_grease(v))
			continue;
		total++;
		if (*n_vals < TLS_MAX_LIST)
			vals[(*n_vals)++] = v;
	}
	tls_rd_leave(rd, outer, true);
	return total;
}

/* Printable ASCII without space or quote games: what we keep as a string. */
static bool tls_printable(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

/* server_name extension (RFC 6066 3): keep the first host_name if it is
 * printable and fits. */
static void tls_parse_sni(struct tls_rd *rd, struct tls_hello *out)
{
	size_t list_len = tls_rd_u16(rd), outer = tls_rd_enter(rd, list_len);

	while (rd->lim > 0 && !rd->bad) {
		uint8_t type = tls_rd_u8(rd), name[sizeof(out->sni)];
		size_t n = tls_rd_u16(rd), i;

		if (rd->bad || n > rd->lim) {
			rd->bad = true;
			break;
		}
		if (type != 0 || out->sni[0] != '\0' || n >= sizeof(out->sni)) {
			tls_rd_skip(rd, n);
			continue;
		}
		for (i = 0; i < n; i++)
			name[i] = tls_rd_u8(rd);
		if (!rd->bad && n > 0 && tls_printable(name, n)) {
			memcpy(out->sni, name, n);
			out->sni[n] = '\0';
		}
	}
	tls_rd_leave(rd, outer, true);
}

/* ALPN extension (RFC 7301 3.1): the first protocol's first and last byte
 * (for JA4) and the protocol itself when printable and short enough. */
static void tls_parse_alpn(struct tls_rd *rd, struct tls_hello *out, int *alpn_first, int *alpn_last)
{
	size_t list_len = tls_rd_u16(rd), outer = tls_rd_enter(rd, list_len);
	bool first = true;

	while (rd->lim > 0 && !rd->bad) {
		size_t n = tls_rd_u8(rd), i;
		uint8_t proto[sizeof(out->alpn)];

		if (rd->bad || n > rd->lim) {
			rd->bad = true;
			break;
		}
		if (!first || n == 0) {
			tls_rd_skip(rd, n);
			first = false;
			continue;
		}
		first = false;
		for (i = 0; i < n; i++) {
			uint8_t c = tls_rd_u8(rd);

			if (i == 0)
				*alpn_first = c;
			if (i == n - 1)
				*alpn_last = c;
			if (i < sizeof(proto))
				proto[i] = c;
		}
		if (!rd->bad && n < sizeof(out->alpn) && tls_printable(proto, n)) {
			memcpy(out->alpn, proto, n);
			out->alpn[n] = '\0';
		}
	}
	tls_rd_leave(rd, outer, true);
}

/* supported_versions (RFC 8446 4.2.1), client form: u8 length, u16 list. */
static void tls_parse_versions(struct tls_rd *rd, uint16_t *max)
{
	size_t n = tls_rd_u8(rd), outer;

	if (n % 2 != 0)
		rd->bad = true;
	outer = tls_rd_enter(rd, n);
	while (rd->lim > 0 && !rd->bad) {
		uint16_t v = tls_rd_u16(rd);

		if (!rd->bad && !tls_is_grease(v) && v > *max)
			*max = v;
	}
	tls_rd_leave(rd, outer, true);
}

/* One extension body of n bytes; the reader's scope is exactly the body. */
static void tls_parse_extension(struct tls_rd *rd, uint16_t type, struct tls_hello *out,
				int *alpn_first, int *alpn_last, uint16_t *sv_max)
{
	switch (type) {
	case TLS_EXT_SNI:
		if (rd->lim > 0)   /* a server's empty echo; tolerated */
			tls_parse_sni(rd, out);
		break;
	case TLS_EXT_ALPN:
		tls_parse_alpn(rd, out, alpn_first, alpn_last);
		break;
	case TLS_EXT_VERSIONS:
		tls_parse_versions(rd, sv_max);
		break;
	case TLS_EXT_SIG_ALGS:
		(void)tls_rd_u16_list(rd, tls_rd_u16(rd), out->sig_algs, &out->n_sig_algs);
		break;
	case TLS_EXT_GROUPS:
		(void)tls_rd_u16_list(rd, tls_rd_u16(rd), out->groups, &out->n_groups);
		break;
	default:
		break;
	}
}

static int tls_cmp_u16(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return (x > y) - (x < y);
}

static const char *tls_ja4_version(uint16_t v)
{
	switch (v) {
	case 0x0304: return "13";
	case 0x0303: return "12";
	case 0x0302: return "11";
	case 0x0301: return "10";
	case 0x0300: return "s3";
	case 0x0200: return "s2";
	case 0x0100: return "s1";
	default: return "00";
	}
}

/* Feed "xxxx,yyyy,..." (lower-case 4-hex, comma separated) to the hash. */
static void tls_hash_list(struct sha256_ctx *ctx, const uint16_t *v, size_t n)
{
	char item[6];

	for (size_t i = 0; i < n; i++) {
		snprintf(item, sizeof(item), "%s%04x", i ? "," : "", v[i]);
		sha256_update(ctx, strlen(item), (const uint8_t *)item);
	}
}

/* First 12 hex digits of a finished SHA-256 into out[13]. */
static void tls_hash_hex12(struct sha256_ctx *ctx, char out[13])
{
	uint8_t d[SHA256_DIGEST_SIZE];

	sha256_digest(ctx, sizeof(d), d);
	for (int i = 0; i < 6; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static bool tls_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/*
 * JA4 (FoxIO spec) from the parsed hello into out->ja4.  n_ciphers and
 * n_exts are the full non-GREASE counts (the stored lists stop at
 * TLS_MAX_LIST); alpn_first/last are -1 without a non-empty first ALPN.
 */
static void tls_ja4(struct tls_hello *out, size_t n_ciphers, size_t n_exts, bool has_sni,
		    int alpn_first, int alpn_last)
{
	static const char hex[] = "0123456789abcdef";
	uint16_t sorted[TLS_MAX_LIST];
	char alpn[3] = "00", part_b[13] = "000000000000", part_c[13] = "000000000000";
	struct sha256_ctx ctx;
	size_t n = 0;

	if (alpn_first >= 0) {
		if (tls_alnum(alpn_first) && tls_alnum(alpn_last)) {
			alpn[0] = (char)alpn_first;
			alpn[1] = (char)alpn_last;
		} else {
			alpn[0] = hex[alpn_first >> 4];
			alpn[1] = hex[alpn_last & 0xf];
		}
	}

	if (out->n_ciphers > 0) {
		memcpy(sorted, out->ciphers, out->n_ciphers * sizeof(sorted[0]));
		qsort(sorted, out->n_ciphers, sizeof(sorted[0]), tls_cmp_u16);
		sha256_init(&ctx);
		tls_hash_list(&ctx, sorted, out->n_ciphers);
		tls_hash_hex12(&ctx, part_b);
	}

	for (size_t i = 0; i < out->n_extensions; i++)
		if (out->extensions[i] != TLS_EXT_SNI && out->extensions[i] != TLS_EXT_ALPN)
			sorted[n++] = out->extensions[i];
	if (n > 0) {
		qsort(sorted, n, sizeof(sorted[0]), tls_cmp_u16);
		sha256_init(&ctx);
		tls_hash_list(&ctx, sorted, n);
		if (out->n_sig_algs > 0) {
			sha256_update(&ctx, 1, (const uint8_t *)"_");
			tls_hash_list(&ctx, out->sig_algs, out->n_sig_algs);
		}
		tls_hash_hex12(&ctx, part_c);
	}

	snprintf(out->ja4, sizeof(out->ja4), "t%s%c%02zu%02zu%s_%s_%s",
		 tls_ja4_version(out->max_version), has_sni ? 'd' : 'i',
		 n_ciphers > 99 ? (size_t)99 : n_ciphers, n_exts > 99 ? (size_t)99 : n_exts,
		 alpn, part_b, part_c);
}

/*
 * Parse the ClientHello body (after the 4-byte handshake header, whose
 * length is the reader's scope).  Returns TLS_DONE or TLS_ERROR.
 */
static enum tls_result tls_parse_body(struct tls_rd *rd, struct tls_hello *out)
{
	size_t n, outer, n_ciphers = 0, n_exts = 0;
	int alpn_first = -1, alpn_last = -1;
	uint16_t sv_max = 0;
	bool has_sni = false;

	out->legacy_version = tls_rd_u16(rd);
	tls_rd_skip(rd, 32);                  /* random */
	n = tls_rd_u8(rd);                    /* legacy_session_id */
	if (n > 32)
		return TLS_ERROR;
	tls_rd_skip(rd, n);
	n = tls_rd_u16(rd);                   /* cipher_suites */
	if (n < 2)
		return TLS_ERROR;
	n_ciphers = tls_rd_u16_list(rd, n, out->ciphers, &out->n_ciphers);
	n = tls_rd_u8(rd);                    /* legacy_compression_methods */
	if (n < 1)
		return TLS_ERROR;
	tls_rd_skip(rd, n);
	if (rd->bad)
		return TLS_ERROR;

	if (rd->lim > 0) {                    /* extensions are optional before TLS 1.3 */
		n = tls_rd_u16(rd);
		if (n != rd->lim)
			return TLS_ERROR;
		while (rd->lim > 0 && !rd->bad) {
			uint16_t type = tls_rd_u16(rd);
			size_t ext_len = tls_rd_u16(rd);

			if (rd->bad)
				break;
			outer = tls_rd_enter(rd, ext_len);
			if (rd->bad)
				break;
			if (tls_is_grease(type)) {
				tls_rd_leave(rd, outer, false);
				continue;
			}
			n_exts++;
			if (out->n_extensions < TLS_MAX_LIST)
				out->extensions[out->n_extensions++] = type;
			if (type == TLS_EXT_SNI)
				has_sni = true;
			tls_parse_extension(rd, type, out, &alpn_first, &alpn_last, &sv_max);
			tls_rd_leave(rd, outer, false);
		}
	}
	if (rd->bad)
		return TLS_ERROR;

	out->max_version = sv_max != 0 ? sv_max : out->legacy_version;
	if (n_ciphers > TLS_MAX_LIST || n_exts > TLS_MAX_LIST)
		out->lists_capped = true;
	tls_ja4(out, n_ciphers, n_exts, has_sni, alpn_first, alpn_last);
	return TLS_DONE;
}

enum tls_result tls_parse_client_hello(const uint8_t *buf, size_t len, struct tls_hello *out)
{
	struct tls_rd rd = { .buf = buf, .len = len, .lim = TLS_HS_HDR };
	enum tls_result r;
	size_t hs_len;

	memset(out, 0, sizeof(*out));
	r = tls_check_complete(buf, len);
	if (r == TLS_NEED_MORE && len >= TLS_MAX_STREAM)
		return TLS_ERROR;
	if (r != TLS_DONE)
		return r;

	out->record_version = (uint16_t)(buf[1] << 8 | buf[2]);
	(void)tls_rd_u8(&rd);                 /* handshake type, checked above */
	hs_len = tls_rd_u24(&rd);
	rd.lim = hs_len;
	r = tls_parse_body(&rd, out);
	if (r != TLS_DONE) {
		memset(out, 0, sizeof(*out));
		return r;
	}
	return TLS_DONE;
}

const char *tls_version_name(uint16_t v)
{
	static _Thread_local char other[8];

	switch (v) {
	case 0x0304: return "1.3";
	case 0x0303: return "1.2";
	case 0x0302: return "1.1";
	case 0x0301: return "1.0";
	case 0x0300: return "ssl3";
	default:
		snprintf(other, sizeof(other), "0x%04x", v);
		return other;
	}
}
