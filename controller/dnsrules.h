/* SPDX-License-Identifier: MIT */
/*
 * dnsrules: the pure half of the DNS checks of a whitelist request
 * (doc/checks.md, "DNS checks"): a small DNS message codec (queries for A,
 * AAAA, PTR, TXT, MX; answers with name compression), the SPF record
 * parser and its address matching (RFC 7208), the "generated PTR name"
 * heuristic, DNSBL answer codes, and the DMARC (RFC 7489) and DKIM key
 * (RFC 6376) record checks.  No I/O, no globals: dnscheck.c does the
 * lookups on the event loop and feeds the answers in here.  Every byte of
 * an answer is hostile (the record owner, or anybody spoofing the
 * resolver, writes it): every loop is bounded, every copy capped, and the
 * parsers have a fuzz target (tests/fuzz/fuzz_dnsrules.c).
 * Controller and twctl; in libtwcore.
 */
#ifndef TAPWARDEN_DNSRULES_H
#define TAPWARDEN_DNSRULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNSRULES_NAME_MAX 253           /* a name in text form, without the final dot */
#define DNSRULES_TXT_MAX 4096           /* one TXT record's strings joined */
#define DNSRULES_RR_MAX 32              /* answer records kept per message */
#define DNSRULES_MSG_TEXT_MAX 16384     /* names and TXT data of one message */
#define DNSRULES_QUERY_MAX 300          /* a query's wire size is below this */
#define DNSRULES_EDNS_UDP 1232          /* the UDP payload size we advertise */
#define DNSRULES_CNAME_MAX 8            /* CNAME hops followed inside one answer */

#define DNSRULES_SPF_TERMS_MAX 96
#define DNSRULES_SPF_LOOKUPS_MAX 10     /* RFC 7208 4.6.4 */
#define DNSRULES_SPF_VOID_MAX 2
#define DNSRULES_SPF_MX_MAX 10          /* names of one mx mechanism */

enum dnsrules_type {
	DNSRULES_A = 1, DNSRULES_NS = 2, DNSRULES_CNAME = 5, DNSRULES_SOA = 6, DNSRULES_PTR = 12,
	DNSRULES_MX = 15, DNSRULES_TXT = 16, DNSRULES_AAAA = 28, DNSRULES_OPT = 41,
};

enum dnsrules_rcode {
	DNSRULES_NOERROR = 0, DNSRULES_FORMERR = 1, DNSRULES_SERVFAIL = 2, DNSRULES_NXDOMAIN = 3,
	DNSRULES_NOTIMP = 4, DNSRULES_REFUSED = 5,
};

/* ---- addresses and names ---------------------------------------------- */

struct dnsrules_ip {
	int family;                     /* AF_INET or AF_INET6 */
	uint8_t a[16];                  /* network order; 4 bytes used for AF_INET */
};

/* Parse a textual IPv4 (dotted quad) or IPv6 address.  Returns 0 or -EINVAL. */
int dnsrules_ip_parse(const char *s, struct dnsrules_ip *ip);
/* True when ip is inside net/cidr (same family; cidr is clamped to the
 * family's width). */
bool dnsrules_ip_in_net(const struct dnsrules_ip *ip, const struct dnsrules_ip *net, unsigned cidr);
/* True when name is a host-style domain name we are willing to query:
 * 1..253 bytes (a final dot allowed), labels of 1..63 bytes of letters,
 * digits, '-' and '_'. */
bool dnsrules_name_valid(const char *name);
/*
 * The DNSBL query name of ip under zone ("4.3.2.1.zone", or 32 reversed
 * nibbles for IPv6) written to out (cap bytes).  Returns 0, -EINVAL (zone
 * not a valid name) or -ENAMETOOLONG.
 */
int dnsrules_reverse_name(const struct dnsrules_ip *ip, const char *zone, char *out, size_t cap);

/* ---- the message codec ------------------------------------------------- */

/*
 * Write a recursive query (RD) for name/type with transaction id to
 * buf[0..cap); with edns, an OPT record advertising DNSRULES_EDNS_UDP.
 * Returns the length, or -EINVAL (name not valid per dnsrules_name_valid)
 * or -ENOSPC.
 */
int dnsrules_query_encode(uint8_t *buf, size_t cap, uint16_t id, const char *name, uint16_t type, bool edns);

struct dnsrules_rr {
	uint16_t type;
	uint32_t ttl;
	uint16_t owner;                 /* offset of the owner name in msg.text */
	uint16_t data, len;             /* PTR, CNAME, MX: a name at text+data; TXT: len bytes at
					 * text+data (the strings joined, NUL after); A, AAAA: addr */
	uint16_t pref;                  /* MX preference */
	uint8_t addr[16];
	bool answer;                    /* owner on the question's CNAME chain and type asked */
	bool cut;                       /* TXT longer than DNSRULES_TXT_MAX: data cut there */
};

/*
 * A parsed reply.  Only the answer section is kept: records of class IN of
 * the types above; names in text form (no final dot, bytes as received,
 * which dnsrules_name_valid may refuse later).  Records past
 * DNSRULES_RR_MAX, past the text space, of other classes or with names
 * holding dots or unprintable bytes inside a label are counted in dropped.
 */
struct dnsrules_msg {
	uint16_t id;
	bool qr, tc;
	uint8_t rcode;
	char qname[DNSRULES_NAME_MAX + 1];
	uint16_t qtype, qclass;
	size_t ancount;                 /* as the header says */
	size_t n;
	size_t dropped;
	size_t n_answers;               /* records with answer set */
	size_t text_len;
	struct dnsrules_rr rr[DNSRULES_RR_MAX];
	char text[DNSRULES_MSG_TEXT_MAX];
};

/*
 * Parse pkt[0..len) (borrowed) into m (the caller's; about 17 KiB).  The
 * header and the single question are always parsed; with TC set the
 * answer section is not (it is incomplete: ask again over TCP).  Returns 0
 * or -EBADMSG (too short, not exactly one question, a name that runs off
 * the end, loops, uses a reserved label type or exceeds 255 bytes, a
 * record running past the end); m->id is valid whenever len >= 2.
 */
int dnsrules_msg_parse(const uint8_t *pkt, size_t len, struct dnsrules_msg *m);
/* True when m answers our query id/name/type (QR set, class IN, the name
 * compared without case). */
bool dnsrules_msg_matches(const struct dnsrules_msg *m, uint16_t id, const char *name, uint16_t type);

/* ---- SPF (RFC 7208) ------------------------------------------------------ */

enum dnsrules_spf_kind {
	DNSRULES_SPF_ALL, DNSRULES_SPF_INCLUDE, DNSRULES_SPF_A, DNSRULES_SPF_MX, DNSRULES_SPF_PTR,
	DNSRULES_SPF_IP4, DNSRULES_SPF_IP6, DNSRULES_SPF_EXISTS,
	DNSRULES_SPF_REDIRECT, DNSRULES_SPF_EXP, DNSRULES_SPF_MODIFIER,   /* modifiers */
};

struct dnsrules_spf_term {
	uint8_t kind;                   /* enum dnsrules_spf_kind */
	char qual;                      /* '+', '-', '~', '?' (modifiers: '+') */
	bool macro;                     /* the domain-spec has macros: not evaluated */
	uint8_t cidr4, cidr6;           /* a, mx, ip4, ip6; 32 and 128 when not given */
	uint16_t off, len;              /* the term's text in spf.text */
	uint16_t doff, dlen;            /* its domain-spec (dlen 0: none, the current domain) */
	struct dnsrules_ip net;         /* ip4, ip6 */
};

struct dnsrules_spf {
	size_t n;
	int redirect, exp;              /* index of the modifier, -1 when absent */
	unsigned lookups;               /* include a mx ptr exists redirect terms */
	bool macros, has_ptr, has_exists;
	struct dnsrules_spf_term t[DNSRULES_SPF_TERMS_MAX];
	char text[DNSRULES_TXT_MAX + 1];
};

/* True when txt[0..len) is an SPF record: "v=spf1" (any case) alone or
 * followed by a space. */
bool dnsrules_spf_is_record(const char *txt, size_t len);
/*
 * Parse the SPF record txt[0..len) (borrowed) into s (the caller's, about
 * 9 KiB).  Returns 0, or -EINVAL with a one-line reason in err (errcap
 * bytes; quoting at most 64 bytes of the record, all printable): not an
 * SPF record, an unknown mechanism, a bad qualifier, address, cidr length,
 * domain-spec or macro, redirect or exp twice, a byte outside visible
 * ASCII, longer than DNSRULES_TXT_MAX, more than DNSRULES_SPF_TERMS_MAX
 * terms.
 */
int dnsrules_spf_parse(const char *txt, size_t len, struct dnsrules_spf *s, char *err, size_t errcap);
/*
 * The domain a term of s queries: its domain-spec without a final dot, or
 * cur when it has none.  Written to out (cap bytes).  Returns 0, or
 * -EINVAL when the term uses macros or the result is not a valid name.
 */
int dnsrules_spf_target(const struct dnsrules_spf *s, size_t i, const char *cur, char *out, size_t cap);
/* True when an ip4/ip6 term covers ip (false for every other kind). */
bool dnsrules_spf_ip_match(const struct dnsrules_spf_term *t, const struct dnsrules_ip *ip);

/* ---- PTR names ------------------------------------------------------------- */

/*
 * True when the PTR name looks generated from the IP (text, IPv4 or IPv6):
 * its octets in either order joined by '.', '-', '_' or nothing
 * (zero-padded or not; three consecutive octets are enough), the address
 * in hex, IPv6 groups or nibbles, or an access-network word (dynamic,
 * dhcp, pool, dsl, cable, ppp, client, dialup, broadband, ...) together
 * with digits in that label or one left of it.  False for an unparsable
 * IP.
 */
bool dnsrules_ptr_generated(const char *ip, const char *name);

/* ---- DNSBL answers ---------------------------------------------------------- */

enum dnsrules_dnsbl {
	DNSRULES_DNSBL_LISTED,          /* 127.0.0.0/8 except 127.255.255.x */
	DNSRULES_DNSBL_REFUSED,         /* 127.255.255.x: the zone refused to answer */
	DNSRULES_DNSBL_UNEXPECTED,      /* outside 127.0.0.0/8 */
};

/*
 * Interpret one A answer of a DNSBL lookup in zone (addr: 4 bytes, network
 * order).  A one-line reason goes to why: the code and, for Spamhaus zones,
 * its meaning (SBL, SBL CSS, XBL, DROP, PBL; typo / public resolver / over
 * the limit for refusals).
 */
enum dnsrules_dnsbl dnsrules_dnsbl_answer(const char *zone, const uint8_t addr[4], char *why, size_t cap);

/* ---- DMARC and DKIM keys ------------------------------------------------- */

enum dnsrules_dmarc_policy { DNSRULES_DMARC_NONE, DNSRULES_DMARC_QUARANTINE, DNSRULES_DMARC_REJECT };

struct dnsrules_dmarc {
	int p;                          /* enum dnsrules_dmarc_policy */
	int sp;                         /* the subdomain policy, -1 when absent */
	int pct;                        /* 100 when absent */
};

/* True when txt[0..len) is meant as a DMARC record: its first tag is v=DMARC1. */
bool dnsrules_dmarc_is_record(const char *txt, size_t len);
/*
 * Check a DMARC record (RFC 7489 6.3): tag=value list, v=DMARC1 first,
 * p= none|quarantine|reject, sp= likewise, pct= 0..100, no tag twice.
 * Returns 0, -ENOENT (not a DMARC record: ignore it) or -EINVAL with a
 * reason in err.
 */
int dnsrules_dmarc_parse(const char *txt, size_t len, struct dnsrules_dmarc *d, char *err, size_t errcap);

struct dnsrules_dkim_key {
	bool revoked;                   /* p= empty */
	bool testing;                   /* t=y */
	char k[16];                     /* "rsa" or "ed25519" */
	size_t key_bytes;               /* the decoded p= */
};

/*
 * Check a DKIM key record (RFC 6376 3.6.1): tag=value list, v=DKIM1 first
 * when present, k= rsa|ed25519 (rsa when absent), p= base64 (empty:
 * revoked; an RSA key under 1024 bits or an Ed25519 key that is not 32
 * bytes is refused), no tag twice.  Returns 0 (a revoked key is a valid
 * record: check k->revoked) or -EINVAL with a reason in err.
 */
int dnsrules_dkim_key_parse(const char *txt, size_t len, struct dnsrules_dkim_key *k, char *err, size_t errcap);

#endif
