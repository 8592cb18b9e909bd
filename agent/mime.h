/* SPDX-License-Identifier: MIT */
/*
 * mime: the small grammars inside header values and the body transfer
 * encodings that message.c needs: Content-Type media type and parameters
 * (RFC 2045/2231), address lists (RFC 5322), DKIM tag lists (RFC 6376),
 * RFC 2047 encoded-words with charset conversion to UTF-8, and streaming
 * quoted-printable / base64 decoders with constant state.
 * Pure code (agent process, parser side; the controller's lint reuses it).
 * Every function works on (pointer, length) input that need not be
 * NUL-terminated and writes at most the given capacity.
 */
#ifndef TAPWARDEN_MIME_H
#define TAPWARDEN_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mime_cte {
	MIME_CTE_RAW = 0,   /* 7bit, 8bit, binary, absent or unknown */
	MIME_CTE_QP,
	MIME_CTE_BASE64,
};

/* Streaming body decoder; state survives any split of the input. */
struct mime_decoder {
	enum mime_cte cte;
	uint32_t acc;       /* base64: bits collected; QP: first hex digit */
	uint8_t n;          /* base64: sextets in acc; QP: decoder state */
};

void mime_decoder_init(struct mime_decoder *d, enum mime_cte cte);
/* Decode len bytes of in (borrowed) into out, which must hold len bytes.
 * Returns the bytes written. */
size_t mime_decode(struct mime_decoder *d, const uint8_t *in, size_t len, uint8_t *out);
/* End of the part: write what a pending partial sequence yields (at most
 * 3 bytes) into out and reset.  Returns bytes written. */
size_t mime_decode_finish(struct mime_decoder *d, uint8_t out[4]);

/* Content-Transfer-Encoding value -> decoder kind. */
enum mime_cte mime_cte_parse(const char *v, size_t n);

/* Media type of a Content-Type value, lower-cased, comments and spaces
 * dropped ("multipart/alternative").  Writes a NUL-terminated string of at
 * most cap-1 bytes; returns its length. */
size_t mime_media_type(const char *v, size_t n, char *out, size_t cap);

/* Parameter `name` (lower-case) of a Content-Type/-Disposition value:
 * quoted-string or token, unquoted and unescaped into out (NUL-terminated,
 * at most cap-1 bytes).  Returns the value length, or -1 when absent.
 * With prefix set, also RFC 2231 forms name*, name*0, name*0* match. */
long mime_param(const char *v, size_t n, const char *name, bool prefix,
		char *out, size_t cap);

/* Number of mailboxes in an address list (To/Cc): quoted strings,
 * comments, angle addresses and groups ("undisclosed-recipients:;" is 0). */
uint32_t mime_addr_count(const char *v, size_t n);

/* First addr-spec of an address list (angle address if given, otherwise
 * the bare addr-spec without comments), domain lower-cased.  Writes a
 * NUL-terminated string of at most cap-1 bytes; returns its length (0 if
 * there is no mailbox). */
size_t mime_first_addr(const char *v, size_t n, char *out, size_t cap);

/* Value of tag `tag` in a DKIM-Signature tag list, all whitespace removed.
 * Returns its length or -1 when absent; out as above. */
long mime_dkim_tag(const char *v, size_t n, const char *tag, char *out, size_t cap);

/* RFC 2047: see message_decode_words() in message.h. */
size_t mime_decode_words(const char *src, size_t len, char *dst, size_t cap);

#endif
