/* SPDX-License-Identifier: MIT */
/*
 * message: streaming RFC 5322/MIME analysis of one message's content
 * (agent process, parser side; pure code).  Bytes arrive in arbitrary
 * pieces; the result does not depend on where the pieces split.
 *
 * The header section (top level, then each MIME part's) is kept in one
 * buffer capped by max_header_bytes and parsed when its blank line comes;
 * the body is scanned line by line only where a boundary could start (a
 * line beginning with '-' inside a multipart), everything else is handed
 * on in bulk.  Leaf text/plain and text/html parts are decoded (QP,
 * base64) through a buffer on the stack into the fingerprint, the link
 * finder (links.c) and the HTML scanner (html.c).  Value grammars live in
 * mime.c.  Memory: one struct message (about 1.2 KiB) plus what is needed
 * now, each allocated when first needed and released when its element
 * ends: the field being collected (hbuf, grown to max_header_bytes at
 * most), the boundaries of the open multiparts (one arena, each at its
 * exact length), a '-' line split across feeds (peek), the links' and the
 * HTML scanner's buffers, and the kept header values; message_free()
 * frees them all.
 */
#include "message.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "html.h"
#include "links.h"
#include "mime.h"

#define MSG_MAX_DEPTH 32            /* hard cap on max_mime_depth */
#define MSG_BOUNDARY_MAX 256        /* RFC 2046 says 70; some senders exceed it */
#define MSG_PEEK_MAX (MSG_BOUNDARY_MAX + 64)  /* a '-' line held to test it */
#define MSG_PART_HDR_MAX 16384      /* a part's header section kept */
#define MSG_TYPE_MAX 96
#define MSG_DBUF 2048               /* decode chunk (on the stack) */
#define MSG_HBUF_MIN 256

enum msg_state {
	MSG_HEADERS = 0,     /* top-level header section */
	MSG_PART_HEADERS,    /* header section of a MIME part */
	MSG_BODY,            /* content of a leaf, or preamble/epilogue */
};

enum msg_kind {
	KIND_SKIP = 0,       /* not analysed (attachments, images, preambles) */
	KIND_TEXT,
	KIND_HTML,
};

/* Media type of an entity, as far as the parser cares. */
enum msg_type {
	TYPE_NONE = 0,       /* no Content-Type, or an empty media type */
	TYPE_PLAIN,          /* text/plain */
	TYPE_HTML,           /* text/html */
	TYPE_MULTIPART,      /* multipart/... */
	TYPE_OTHER,
};

/* What a header section says about its entity.  A multipart's boundary
 * (blen bytes) waits in the boundary arena just above the open levels,
 * at bnd + boff[depth], until the section ends. */
struct msg_entity {
	long blen;           /* -1 absent; > MSG_BOUNDARY_MAX: too long (or ENOMEM) */
	enum mime_cte cte;
	uint8_t type;        /* enum msg_type */
	bool attachment;
	bool have_type, have_cte, have_disp;
};

struct message {
	const struct message_config *cfg;
	struct message_facts f;
	uint32_t max_header, max_field, max_depth;
	bool finished;
	enum msg_state state;

	/* header section: the field being collected (raw lines) */
	char *hbuf;
	uint32_t hlen, hcap, hlimit;
	bool field_cut;          /* the field outgrew hlimit: the rest is dropped */
	uint32_t line_start;     /* offset of the current line in hbuf */
	uint64_t line_len;       /* bytes of the current line so far, LF excluded */
	char line_first;
	bool line_open;          /* a line has started and its LF not yet come */
	struct msg_entity ent;   /* what the section's fields said so far */

	/* MIME structure: the boundary of open level i is
	 * bnd[boff[i] .. boff[i + 1]) */
	char *bnd;               /* boundary arena, a stack like the levels */
	uint32_t bcap;
	uint16_t boff[MSG_MAX_DEPTH + 1];
	uint32_t depth;
	enum msg_kind kind;
	struct mime_decoder dec;
	bool bol;                /* body: at the beginning of a line */
	bool peeking;            /* body: holding a '-' line (in peek) */
	uint32_t peek_len;
	char *peek;              /* MSG_PEEK_MAX bytes while peeking, else NULL */

	struct fp_state fp;
	struct links links;
	struct html html;
	size_t mem;              /* bytes of the kept header values */
};

void message_config_default(struct message_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_header_bytes = 65536;
	c->max_field = 2048;
	c->max_mime_depth = 8;
}

size_t message_decode_words(const char *src, size_t len, char *dst, size_t cap)
{
	return mime_decode_words(src, len, dst, cap);
}

struct message *message_new(const struct message_config *cfg)
{
	struct message *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	if (fp_init(&m->fp) < 0) {
		free(m);
		return NULL;
	}
	m->cfg = cfg;
	m->max_header = cfg->max_header_bytes < 256 ? 256 : cfg->max_header_bytes;
	m->max_field = cfg->max_field < 16 ? 16 : cfg->max_field;
	if (m->max_field > (1u << 20))
		m->max_field = 1u << 20;
	m->max_depth = cfg->max_mime_depth > MSG_MAX_DEPTH ? MSG_MAX_DEPTH : cfg->max_mime_depth;
	m->state = MSG_HEADERS;
	m->hlimit = m->max_header;   /* the rest of the section state is zero */
	m->ent.blen = -1;
	links_init(&m->links, cfg->shorteners, cfg->n_shorteners);
	m->links.hooks = cfg->link_hooks;
	html_init(&m->html, &m->fp, &m->links);
	return m;
}

/* ---- kept strings ---------------------------------------------------- */

/* Copy of v[0..n) capped to max_field-1 bytes, or NULL (ENOMEM). */
static char *msg_keep(struct message *m, const char *v, size_t n)
{
	char *s;

	if (n > m->max_field - 1)
		n = m->max_field - 1;
	s = malloc(n + 1);
	if (!s)
		return NULL;
	memcpy(s, v, n);
	s[n] = '\0';
	m->mem += n + 1;
	return s;
}

static void msg_lower(char *s)
{
	for (; s && *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s | 0x20);
}

static bool msg_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Case-insensitive equality of a header name with a lower-case literal. */
static bool msg_name_is(const char *name, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = name[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c | 0x20);
		if (lit[i] == '\0' || c != lit[i])
			return false;
	}
	return lit[n] == '\0';
}

/* ---- header fields -------------------------------------------------- */

static enum msg_type msg_type_of(const char *t)
{
	if (t[0] == '\0')
		return TYPE_NONE;
	if (strcmp(t, "text/plain") == 0)
		return TYPE_PLAIN;
	if (strcmp(t, "text/html") == 0)
		return TYPE_HTML;
	if (strncmp(t, "multipart/", 10) == 0)
		return TYPE_MULTIPART;
	return TYPE_OTHER;
}

/* A multipart's boundary b[0..n) (n <= MSG_BOUNDARY_MAX): keep it in the
 * arena above the open levels.  False on ENOMEM. */
static bool msg_boundary_stash(struct message *m, const char *b, size_t n)
{
	size_t at = m->boff[m->depth], need = at + n;

	if (need > m->bcap) {
		char *nb = realloc(m->bnd, need);

		if (!nb)
			return false;
		m->bnd = nb;
		m->bcap = (uint32_t)need;
	}
	memcpy(m->bnd + at, b, n);
	return true;
}

static void msg_entity_field(struct message *m, const char *name, size_t nl,
			     const char *v, size_t n)
{
	struct msg_entity *e = &m->ent;
	char tmp[8];

	if (!e->have_type && msg_name_is(name, nl, "content-type")) {
		char type[MSG_TYPE_MAX];
		char b[MSG_BOUNDARY_MAX + 2];    /* one more: "too long" shows */

		e->have_type = true;
		mime_media_type(v, n, type, sizeof(type));
		e->type = (uint8_t)msg_type_of(type);
		e->blen = mime_param(v, n, "boundary", false, b, sizeof(b));
		if (e->type == TYPE_MULTIPART && e->blen > 0 && e->blen <= MSG_BOUNDARY_MAX &&
		    !msg_boundary_stash(m, b, (size_t)e->blen))
			e->blen = MSG_BOUNDARY_MAX + 1;   /* cannot hold it: as if too long */
		if (mime_param(v, n, "name", true, tmp, sizeof(tmp)) >= 0)
			e->attachment = true;
	} else if (!e->have_cte && msg_name_is(name, nl, "content-transfer-encoding")) {
		e->have_cte = true;
		e->cte = mime_cte_parse(v, n);
	} else if (!e->have_disp && msg_name_is(name, nl, "content-disposition")) {
		char disp[16];

		e->have_disp = true;
		mime_media_type(v, n, disp, sizeof(disp));
		if (strcmp(disp, "attachment") == 0 ||
		    mime_param(v, n, "filename", true, tmp, sizeof(tmp)) >= 0)
			e->attachment = true;
	}
}

static void msg_dkim(struct message *m, const char *v, size_t n)
{
	char *buf;
	long l;

	if (m->f.dkim_signatures++ > 0)
		return;
	buf = malloc(m->max_field);
	if (!buf)
		return;
	l = mime_dkim_tag(v, n, "d", buf, m->max_field);
	if (l >= 0) {
		m->f.dkim_domain = msg_keep(m, buf, (size_t)l);
		msg_lower(m->f.dkim_domain);
	}
	l = mime_dkim_tag(v, n, "s", buf, m->max_field);
	if (l >= 0)
		m->f.dkim_selector = msg_keep(m, buf, (size_t)l);
	free(buf);
}

static void msg_top_field(struct message *m, const char *name, size_t nl,
			  const char *v, size_t n)
{
	struct message_facts *f = &m->f;
	char **slot = NULL;

	if (msg_name_is(name, nl, "received")) {
		f->received_count++;
	} else if (msg_name_is(name, nl, "to")) {
		f->to_count += mime_addr_count(v, n);
	} else if (msg_name_is(name, nl, "cc")) {
		f->cc_count += mime_addr_count(v, n);
	} else if (msg_name_is(name, nl, "dkim-signature")) {
		msg_dkim(m, v, n);
	} else if (msg_name_is(name, nl, "message-id")) {
		if (!f->message_id) {
			const char *lt = memchr(v, '<', n), *gt;

			if (lt && (gt = memchr(lt, '>', n - (size_t)(lt - v))))
				f->message_id = msg_keep(m, lt + 1, (size_t)(gt - lt - 1));
			else
				f->message_id = msg_keep(m, v, n);
		}
	} else if (msg_name_is(name, nl, "from")) {
		if (!f->from) {
			char *buf = malloc(m->max_field);

			f->from = msg_keep(m, v, n);
			if (buf) {
				size_t l = mime_first_addr(v, n, buf, m->max_field);

				if (l)
					f->from_addr = msg_keep(m, buf, l);
				free(buf);
			}
		}
	} else if (msg_name_is(name, nl, "subject")) {
		if (!f->subject_raw) {
			char *buf = malloc(m->max_field);

			f->subject_raw = msg_keep(m, v, n);
			if (buf) {
				size_t l = mime_decode_words(v, n, buf, m->max_field);

				f->subject = msg_keep(m, buf, l);
				free(buf);
			}
		}
	} else if (msg_name_is(name, nl, "precedence")) {
		if (!f->precedence) {
			f->precedence = msg_keep(m, v, n);
			msg_lower(f->precedence);
		}
	} else if (msg_name_is(name, nl, "content-type")) {
		if (!f->content_type) {
			char t[MSG_TYPE_MAX];
			size_t l = mime_media_type(v, n, t, sizeof(t));

			if (l)
				f->content_type = msg_keep(m, t, l);
		}
	} else if (msg_name_is(name, nl, "date")) {
		slot = &f->date;
	} else if (msg_name_is(name, nl, "list-unsubscribe")) {
		slot = &f->list_unsubscribe;
	} else if (msg_name_is(name, nl, "list-unsubscribe-post")) {
		slot = &f->list_unsubscribe_post;
	} else if (msg_name_is(name, nl, "list-id")) {
		slot = &f->list_id;
	} else if (msg_name_is(name, nl, "auto-submitted")) {
		slot = &f->auto_submitted;
	} else if (msg_name_is(name, nl, "x-mailer")) {
		slot = &f->x_mailer;
	} else if (msg_name_is(name, nl, "user-agent")) {
		slot = &f->user_agent;
	} else if (msg_name_is(name, nl, "in-reply-to")) {
		slot = &f->in_reply_to;
	}
	if (slot && !*slot)
		*slot = msg_keep(m, v, n);
}

/* One complete header field b[0..n) (raw lines, line breaks included):
 * unfold it in place and hand it to the top-level facts and/or the
 * entity description. */
static void msg_field(struct message *m, bool top, char *b, size_t n)
{
	const char *colon, *nl;
	size_t name_len, first_end, r, w, vs;

	if (n == 0 || b[0] == ' ' || b[0] == '\t')
		return;                 /* continuation without a field */
	nl = memchr(b, '\n', n);
	first_end = nl ? (size_t)(nl - b) : n;
	colon = memchr(b, ':', first_end);
	if (!colon)
		return;                 /* not a header field */
	name_len = (size_t)(colon - b);
	while (name_len && (b[name_len - 1] == ' ' || b[name_len - 1] == '\t'))
		name_len--;
	if (name_len == 0)
		return;
	/* unfold: drop the line breaks (LF, and a CR right before it), keep
	 * the white space after them; a line at a time */
	vs = (size_t)(colon - b) + 1;
	for (r = w = vs; r < n;) {
		const char *lf = memchr(b + r, '\n', n - r);
		size_t e = lf ? (size_t)(lf - b) : n, k = e;

		if (lf && k > r && b[k - 1] == '\r')
			k--;
		if (w != r)
			memmove(b + w, b + r, k - r);
		w += k - r;
		r = lf ? e + 1 : n;
	}
	while (vs < w && msg_wsp(b[vs]))
		vs++;
	while (w > vs && msg_wsp(b[w - 1]))
		w--;
	if (top) {
		msg_top_field(m, b, name_len, b + vs, w - vs);
		if (m->cfg->on_field)
			m->cfg->on_field(m->cfg->on_field_ctx, b, name_len, b + vs, w - vs);
	}
	msg_entity_field(m, b, name_len, b + vs, w - vs);
}

/* ---- entities -------------------------------------------------------- */

/* Stop holding a '-' line: it was handed on, or it was a boundary. */
static void msg_peek_end(struct message *m)
{
	free(m->peek);
	m->peek = NULL;
	m->peek_len = 0;
	m->peeking = false;
}

static void msg_consume(struct message *m, const uint8_t *s, size_t n)
{
	if (m->kind == KIND_HTML) {
		html_feed(&m->html, (const char *)s, n);
	} else {
		fp_feed(&m->fp, (const char *)s, n);
		links_text(&m->links, (const char *)s, n);
	}
}

/* Content bytes of the current entity (borrowed). */
static void msg_deliver(struct message *m, const uint8_t *p, size_t n)
{
	uint8_t dbuf[MSG_DBUF + 8];

	if (m->kind == KIND_SKIP || n == 0)
		return;
	if (m->dec.cte == MIME_CTE_RAW) {
		msg_consume(m, p, n);
		return;
	}
	while (n) {
		size_t k = n > MSG_DBUF ? MSG_DBUF : n;
		size_t o = mime_decode(&m->dec, p, k, dbuf);

		msg_consume(m, dbuf, o);
		p += k;
		n -= k;
	}
}

/* End of the current entity's content. */
static void msg_entity_end(struct message *m)
{
	uint8_t tail[4];
	size_t k;

	if (m->kind == KIND_SKIP)
		return;
	k = mime_decode_finish(&m->dec, tail);
	if (k)
		msg_consume(m, tail, k);
	if (m->kind == KIND_HTML) {
		html_finish(&m->html);
	} else {
		fp_feed(&m->fp, " ", 1);   /* words never join across parts */
		links_text_break(&m->links);
	}
	m->kind = KIND_SKIP;
}

/* A header section ended: open a multipart level or start a leaf. */
static void msg_entity_begin(struct message *m, const struct msg_entity *e)
{
	bool multipart = e->type == TYPE_MULTIPART && e->blen > 0;

	m->state = MSG_BODY;
	m->bol = true;
	msg_peek_end(m);
	m->kind = KIND_SKIP;
	if (multipart) {
		if (m->depth < m->max_depth && e->blen <= MSG_BOUNDARY_MAX) {
			/* the stashed boundary becomes the new level's */
			m->boff[m->depth + 1] = (uint16_t)(m->boff[m->depth] + e->blen);
			m->depth++;
			return;             /* preamble: skipped */
		}
		/* too deep, or a boundary we cannot hold: one opaque leaf */
		m->f.mime_truncated = true;
	}
	m->f.parts++;
	if (e->attachment)
		m->f.attachments++;
	if (multipart || e->attachment)
		return;
	if (e->type == TYPE_HTML) {
		m->kind = KIND_HTML;
		m->f.html.present = true;
	} else if (e->type == TYPE_NONE || e->type == TYPE_PLAIN || e->type == TYPE_MULTIPART) {
		m->kind = KIND_TEXT;        /* no type, or a multipart without boundary */
	} else {
		return;
	}
	mime_decoder_init(&m->dec, e->cte);
}

/* Start a header section whose fields are kept up to limit bytes each. */
static void msg_section_begin(struct message *m, uint32_t limit)
{
	m->hlen = 0;
	m->hlimit = limit;
	m->field_cut = false;
	m->line_start = 0;
	m->line_len = 0;
	m->line_open = false;
	memset(&m->ent, 0, sizeof(m->ent));
	m->ent.blen = -1;
}

/* The pending field is complete: parse it and empty the buffer. */
static void msg_field_flush(struct message *m, bool top)
{
	msg_field(m, top, m->hbuf, m->hlen);
	m->hlen = 0;
	m->line_start = 0;
	m->field_cut = false;
}

static uint32_t msg_part_limit(const struct message *m)
{
	return m->max_header < MSG_PART_HDR_MAX ? m->max_header : MSG_PART_HDR_MAX;
}

/* The blank line (or the end of input) closed a header section. */
static void msg_section_end(struct message *m, bool top)
{
	struct msg_entity e;

	msg_field_flush(m, top);
	free(m->hbuf);               /* the body needs no field buffer */
	m->hbuf = NULL;
	m->hcap = 0;
	e = m->ent;
	msg_section_begin(m, msg_part_limit(m));
	msg_entity_begin(m, &e);
}

/* Is line l[0..n) (line break included or not) a boundary of an open
 * level?  Returns the level (innermost first) or -1; *close for "--b--". */
static int msg_boundary_match(const struct message *m, const char *l, size_t n, bool *close)
{
	int lvl;

	while (n && msg_wsp(l[n - 1]))
		n--;
	if (n < 2 || l[0] != '-' || l[1] != '-')
		return -1;
	for (lvl = (int)m->depth - 1; lvl >= 0; lvl--) {
		const char *b = m->bnd + m->boff[lvl];
		size_t blen = (size_t)(m->boff[lvl + 1] - m->boff[lvl]), rl;

		if (n < 2 + blen || memcmp(l + 2, b, blen) != 0)
			continue;
		rl = n - 2 - blen;
		if (rl == 0) {
			*close = false;
			return lvl;
		}
		if (rl >= 2 && l[2 + blen] == '-' && l[3 + blen] == '-') {
			*close = true;
			return lvl;
		}
	}
	return -1;
}

/* A boundary of level lvl: end the current entity, then open the next
 * part's header section or (close) fall back to the parent's epilogue. */
static void msg_boundary(struct message *m, int lvl, bool close)
{
	msg_entity_end(m);
	m->bol = true;
	msg_peek_end(m);
	if (close) {
		m->depth = (uint32_t)lvl;
		m->state = MSG_BODY;
		m->kind = KIND_SKIP;
		return;
	}
	m->depth = (uint32_t)lvl + 1;
	m->state = MSG_PART_HEADERS;
	msg_section_begin(m, msg_part_limit(m));
}

/* Append header bytes to the field in hbuf within hlimit (growing the
 * buffer geometrically); a field that outgrows it is cut there. */
static void msg_hstore(struct message *m, const uint8_t *p, size_t k, bool top)
{
	size_t room;

	if (m->field_cut)
		return;
	room = m->hlimit - m->hlen;
	if (k > room) {
		k = room;
		m->field_cut = true;
		if (top)
			m->f.header_truncated = true;
	}
	if (m->hlen + k > m->hcap) {
		size_t nc = m->hcap ? (size_t)m->hcap * 2 : MSG_HBUF_MIN;
		char *nb;

		if (nc < m->hlen + k)
			nc = m->hlen + k;
		if (nc > m->max_header)
			nc = m->max_header;
		nb = realloc(m->hbuf, nc);
		if (!nb) {
			m->field_cut = true;
			if (top)
				m->f.header_truncated = true;
			return;
		}
		m->hbuf = nb;
		m->hcap = (uint32_t)nc;
	}
	if (k == 0)
		return;
	memcpy(m->hbuf + m->hlen, p, k);
	m->hlen += (uint32_t)k;
}

/* Header section bytes, at most one line's worth per call; returns the
 * bytes consumed.  A field is complete when the next line starts with
 * something other than blank space: it is parsed then, so only one field
 * is ever held (max_header_bytes caps one field, not the section). */
static size_t msg_headers(struct message *m, const uint8_t *p, size_t n, bool top)
{
	const uint8_t *nl = memchr(p, '\n', n);
	size_t k = nl ? (size_t)(nl - p) + 1 : n;
	size_t body = nl ? k - 1 : k;
	bool close;
	int lvl;

	if (m->line_len == 0 && !m->line_open) {
		/* first byte of a line: p[0] ('\n' for an empty line) */
		m->line_open = true;
		m->line_first = (char)p[0];
		if (p[0] != ' ' && p[0] != '\t' && m->hlen)
			msg_field_flush(m, top);
		m->line_start = m->hlen;
	}
	msg_hstore(m, p, k, top);
	m->line_len += body;
	if (!nl)
		return k;
	m->line_open = false;
	if (m->line_len == 0 || (m->line_len == 1 && m->line_first == '\r')) {
		/* the blank line: it is not part of any field */
		m->hlen = m->line_start;
		m->line_len = 0;
		msg_section_end(m, top);
		return k;
	}
	m->line_len = 0;
	if (m->line_first == ' ' || m->line_first == '\t')
		return k;
	if (top) {
		m->f.header_count++;
	} else if (!m->field_cut && m->line_first == '-' &&
		   (lvl = msg_boundary_match(m, m->hbuf + m->line_start,
					     m->hlen - m->line_start, &close)) >= 0) {
		/* a boundary where part headers were expected: an empty part */
		m->hlen = m->line_start;
		msg_section_end(m, false);
		msg_boundary(m, lvl, close);
	}
	return k;
}

/* A '-' line l[0..n) is complete (or the input ended): a boundary of an
 * open level, or content.  Returns true for a boundary (the state changed). */
static bool msg_dash_line(struct message *m, const char *l, size_t n)
{
	bool close;
	int lvl = msg_boundary_match(m, l, n, &close);

	if (lvl >= 0) {
		msg_boundary(m, lvl, close);
		return true;
	}
	msg_deliver(m, (const uint8_t *)l, n);
	m->bol = true;
	return false;
}

/* The '-' line held in peek is complete (or the input ended). */
static bool msg_peek_line(struct message *m)
{
	bool b = msg_dash_line(m, m->peek, m->peek_len);

	msg_peek_end(m);
	return b;
}

/* Body bytes.  Returns the bytes consumed; stops early after a boundary
 * (the state changed).  A line that starts with '-' is tested where it
 * is when it is complete in this call; only one split across calls is
 * copied into peek. */
static size_t msg_body(struct message *m, const uint8_t *p, size_t n)
{
	size_t i = 0;

	if (m->depth == 0) {          /* single part, or the final epilogue */
		msg_deliver(m, p, n);
		return n;
	}
	while (i < n) {
		const uint8_t *nl, *q, *end = p + n;
		size_t e, k;

		if (m->peeking) {
			nl = memchr(p + i, '\n', n - i);
			e = nl ? (size_t)(nl - p) + 1 : n;
			k = e - i;
			if (m->peek_len + k > MSG_PEEK_MAX) {
				/* too long for a boundary line: hand it on */
				msg_deliver(m, (const uint8_t *)m->peek, m->peek_len);
				msg_peek_end(m);
				m->bol = false;
				continue;
			}
			memcpy(m->peek + m->peek_len, p + i, k);
			m->peek_len += (uint32_t)k;
			i = e;
			if (!nl)
				return n;
			if (msg_peek_line(m))
				return i;
			continue;
		}
		if (m->bol && p[i] == '-') {
			nl = memchr(p + i, '\n', n - i);
			e = nl ? (size_t)(nl - p) + 1 : n;
			if (e - i > MSG_PEEK_MAX) {
				m->bol = false;       /* too long for a boundary line */
				continue;
			}
			if (nl) {
				if (msg_dash_line(m, (const char *)p + i, e - i))
					return e;
				i = e;
				continue;
			}
			m->peek = malloc(MSG_PEEK_MAX);
			if (!m->peek) {
				m->bol = false;       /* ENOMEM: read as content */
				continue;
			}
			m->peeking = true;
			continue;
		}
		/* hand on whole lines up to a line that starts with '-' */
		for (q = p + i;;) {
			nl = memchr(q, '\n', (size_t)(end - q));
			if (!nl || nl + 1 == end) {
				e = n;
				m->bol = nl != NULL;
				break;
			}
			if (nl[1] == '-') {
				e = (size_t)(nl - p) + 1;
				m->bol = true;
				break;
			}
			q = nl + 1;
		}
		msg_deliver(m, p + i, e - i);
		i = e;
	}
	return n;
}

void message_feed(struct message *m, const uint8_t *buf, size_t len)
{
	size_t i = 0;

	if (!m || m->finished)
		return;
	while (i < len) {
		size_t k;

		switch (m->state) {
		case MSG_HEADERS:
			k = msg_headers(m, buf + i, len - i, true);
			m->f.header_bytes += k;
			break;
		case MSG_PART_HEADERS:
			k = msg_headers(m, buf + i, len - i, false);
			m->f.body_bytes += k;
			break;
		default:
			k = msg_body(m, buf + i, len - i);
			m->f.body_bytes += k;
			break;
		}
		i += k;
	}
}

const struct message_facts *message_finish(struct message *m)
{
	bool close;
	int lvl;

	if (m->finished)
		return &m->f;
	switch (m->state) {
	case MSG_HEADERS:
		/* headers without a body (or without the blank line) */
		if (m->line_open && m->line_first != ' ' && m->line_first != '\t' &&
		    !(m->line_len == 1 && m->line_first == '\r'))
			m->f.header_count++;
		if (m->f.header_bytes)
			msg_section_end(m, true);
		break;
	case MSG_PART_HEADERS:
		if (m->line_open && !m->field_cut && m->line_first == '-' &&
		    (lvl = msg_boundary_match(m, m->hbuf + m->line_start,
					      m->hlen - m->line_start, &close)) >= 0) {
			m->hlen = m->line_start;
			msg_section_end(m, false);
			msg_boundary(m, lvl, close);
		} else if (m->hlen || m->line_open) {
			msg_section_end(m, false);
		}
		break;
	default:
		if (m->peeking)
			msg_peek_line(m);
		break;
	}
	msg_entity_end(m);
	m->f.links.count = m->links.c.count;
	m->f.links.ip_literal = m->links.c.ip_literal;
	m->f.links.encoded_host = m->links.c.encoded_host;
	m->f.links.shortener = m->links.c.shortener;
	m->f.links.mailto = m->links.c.mailto;
	m->f.links.distinct_hosts = m->links.c.distinct_hosts;
	m->f.html.script = m->html.flags.script;
	m->f.html.iframe = m->html.flags.iframe;
	m->f.html.form = m->html.flags.form;
	m->f.html.meta_refresh = m->html.flags.meta_refresh;
	m->f.html.external_css = m->html.flags.external_css;
	m->f.html.object = m->html.flags.object;
	fp_final(&m->fp, &m->f.fingerprint);
	m->finished = true;
	return &m->f;
}

size_t message_memory(const struct message *m)
{
	if (!m)
		return 0;
	return sizeof(*m) + m->mem + m->hcap + m->bcap + (m->peek ? MSG_PEEK_MAX : 0) +
	       links_memory(&m->links) + html_memory(&m->html);
}

void message_free(struct message *m)
{
	struct message_facts *f;

	if (!m)
		return;
	f = &m->f;
	free(f->message_id);
	free(f->date);
	free(f->from);
	free(f->from_addr);
	free(f->subject);
	free(f->subject_raw);
	free(f->list_unsubscribe);
	free(f->list_unsubscribe_post);
	free(f->list_id);
	free(f->precedence);
	free(f->auto_submitted);
	free(f->dkim_domain);
	free(f->dkim_selector);
	free(f->x_mailer);
	free(f->user_agent);
	free(f->content_type);
	free(f->in_reply_to);
	free(m->hbuf);
	free(m->bnd);
	free(m->peek);
	html_fini(&m->html);
	links_fini(&m->links);
	fp_fini(&m->fp);
	free(m);
}
