/* SPDX-License-Identifier: MIT */
/*
 * html: streaming HTML scanner for message bodies.  Visible text (tags
 * stripped, script/style contents skipped, common entities decoded) goes to
 * the fingerprint and the text link finder; href/src values go to the link
 * classifier; risky constructs (script, iframe/frame, form,
 * object/embed/applet, meta refresh, external style sheets) set flags.
 * A tag, attribute or entity split over any number of feeds is seen as if
 * it came in one piece: all state is in struct html, plus the value of an
 * interesting attribute (href, src, rel, http-equiv, meta content) and a
 * meta refresh URL, allocated while they are open and capped below.
 * Pure code (agent process, parser side).
 */
#ifndef TAPWARDEN_HTML_H
#define TAPWARDEN_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fingerprint.h"
#include "links.h"

#define HTML_NAME_MAX 16      /* tag and attribute names kept (longer: ignored) */
#define HTML_VALUE_MAX 2048   /* bytes of an interesting attribute value kept */
#define HTML_ENTITY_MAX 12
#define HTML_IMPORT_MAX 48
#define HTML_MURL_MAX 512     /* URL of a meta refresh */

struct html_flags {
	bool script, iframe, form, meta_refresh, external_css, object;
};

struct html {
	struct fp_state *fp;      /* borrowed */
	struct links *links;      /* borrowed */
	struct html_flags flags;  /* accumulated over every part fed */
	/* private */
	uint8_t state, raw, raw_match, dashes, attr_kind, tag_id;
	char quote;
	bool end_tag, t_rel_css, t_refresh, t_href_remote;
	uint8_t tag_len, attr_len, ent_len;
	int8_t imp_len;           /* -1: not inside an @-rule */
	uint16_t murl_len;
	uint32_t val_len, val_cap;
	char *val;                /* owned; the open attribute value, or NULL */
	char *murl;               /* owned; the open meta tag's refresh URL, or NULL */
	char tag[HTML_NAME_MAX], attr[HTML_NAME_MAX];
	char ent[HTML_ENTITY_MAX];
	char imp[HTML_IMPORT_MAX];
};

/* Borrows fp and links for the life of h. */
void html_init(struct html *h, struct fp_state *fp, struct links *links);
/* Frees what h owns (h itself is embedded). */
void html_fini(struct html *h);
/* Bytes allocated by h now (not counting struct html itself). */
size_t html_memory(const struct html *h);
/* Feed decoded HTML (borrowed). */
void html_feed(struct html *h, const char *s, size_t n);
/* End of one HTML part: flush a pending entity, drop a half-read tag and
 * reset the scanner for the next part; flags are kept. */
void html_finish(struct html *h);

/* Decode character references in buf[0..len) in place (the result is never
 * longer).  Returns the new length. */
size_t html_decode_entities(char *buf, size_t len);

#endif
