/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for message.c (and mime.c, links.c, html.c,
 * fingerprint.c).  Input: [config byte][2 seed bytes][message ...].
 * The message is analysed twice, in one piece and in pieces whose sizes
 * the seed decides; the facts must be identical, and memory must stay
 * within the configured caps.  Also exercises message_decode_words().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

static const char *const fz_shorteners[] = { "bit.ly", "t.co", "tinyurl.com" };

static int fz_str_eq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static int fz_facts_equal(const struct message_facts *a, const struct message_facts *b)
{
	return fz_str_eq(a->message_id, b->message_id) && fz_str_eq(a->date, b->date) &&
	       fz_str_eq(a->from, b->from) && fz_str_eq(a->from_addr, b->from_addr) &&
	       fz_str_eq(a->subject, b->subject) && fz_str_eq(a->subject_raw, b->subject_raw) &&
	       fz_str_eq(a->list_unsubscribe, b->list_unsubscribe) &&
	       fz_str_eq(a->list_unsubscribe_post, b->list_unsubscribe_post) &&
	       fz_str_eq(a->list_id, b->list_id) && fz_str_eq(a->precedence, b->precedence) &&
	       fz_str_eq(a->auto_submitted, b->auto_submitted) &&
	       fz_str_eq(a->dkim_domain, b->dkim_domain) &&
	       fz_str_eq(a->dkim_selector, b->dkim_selector) &&
	       a->dkim_signatures == b->dkim_signatures && fz_str_eq(a->x_mailer, b->x_mailer) &&
	       fz_str_eq(a->user_agent, b->user_agent) &&
	       fz_str_eq(a->content_type, b->content_type) &&
	       fz_str_eq(a->in_reply_to, b->in_reply_to) && a->to_count == b->to_count &&
	       a->cc_count == b->cc_count && a->received_count == b->received_count &&
	       a->header_count == b->header_count && a->header_bytes == b->header_bytes &&
	       a->body_bytes == b->body_bytes && a->parts == b->parts &&
	       a->attachments == b->attachments && a->header_truncated == b->header_truncated &&
	       a->mime_truncated == b->mime_truncated &&
	       memcmp(&a->links, &b->links, sizeof(a->links)) == 0 &&
	       memcmp(&a->html, &b->html, sizeof(a->html)) == 0 &&
	       memcmp(&a->fingerprint, &b->fingerprint, sizeof(a->fingerprint)) == 0;
}

static size_t fz_strlen_max(const char *s)
{
	return s ? strlen(s) : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct message_config c;
	struct message *whole, *parts;
	const struct message_facts *fw, *fp;
	uint32_t seed;
	size_t i, n;
	char words[64];

	if (size < 3)
		return 0;
	message_config_default(&c);
	c.shorteners = fz_shorteners;
	c.n_shorteners = 3;
	switch (data[0] & 3) {
	case 1:
		c.max_header_bytes = 300;
		c.max_field = 20;
		c.max_mime_depth = 2;
		break;
	case 2:
		c.max_mime_depth = 0;
		c.max_field = 16;
		break;
	case 3:
		c.max_mime_depth = 100;   /* clamped by message.c */
		break;
	default:
		break;
	}
	seed = (uint32_t)data[1] << 8 | data[2];
	seed = seed * 2654435761u + 1;
	data += 3;
	size -= 3;

	whole = message_new(&c);
	parts = message_new(&c);
	if (!whole || !parts)
		abort();
	message_feed(whole, data, size);
	for (i = 0; i < size; i += n) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		/* mostly tiny pieces, sometimes large ones */
		n = (seed & 0x300) ? 1 + (seed >> 24) % 16 : 1 + (seed >> 16) % 4096;
		if (n > size - i)
			n = size - i;
		message_feed(parts, data + i, n);
		if ((seed & 0xf000) == 0)
			message_feed(parts, data + i, 0);
	}
	fw = message_finish(whole);
	fp = message_finish(parts);
	if (!fz_facts_equal(fw, fp))
		abort();
	if (fw->header_bytes + fw->body_bytes != size)
		abort();
	if (fz_strlen_max(fw->subject) >= (c.max_field < 16 ? 16 : c.max_field) ||
	    fz_strlen_max(fw->from) >= (c.max_field < 16 ? 16 : c.max_field))
		abort();
	if (message_memory(whole) > 256 * 1024)
		abort();
	message_free(whole);
	message_free(parts);

	if (size == 0)
		return 0;
	n = size < 512 ? size : 512;
	message_decode_words((const char *)data, n, words, sizeof(words) - (data[0] & 31));
	if (strlen(words) >= sizeof(words))
		abort();
	return 0;
}
