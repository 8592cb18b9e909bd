/* SPDX-License-Identifier: MIT */
/*
 * dnscheck: the DNS checks of a whitelist request (doc/checks.md, "DNS
 * checks": ptr, fcrdns, spf, dmarc, dkim_key, dnsbl) run on a libevent
 * loop against one configured resolver, with a timeout per query and a
 * deadline for all.  A, AAAA and PTR go through evdns; TXT and MX, which
 * evdns 2.1 cannot ask for, through dnsrules' codec on our own UDP socket
 * (TCP when the answer is truncated).  The rules themselves are pure code
 * in dnsrules.c.  Controller and twctl.
 */
#ifndef TAPWARDEN_DNSCHECK_H
#define TAPWARDEN_DNSCHECK_H

#include <stddef.h>

#include "checklist.h"

#define DNSCHECK_IPS_MAX 16
#define DNSCHECK_DNSBLS_MAX 8

struct event_base;

struct dnscheck_config {
	const char *resolver;            /* "IP" or "IP:PORT" (IPv4 or [IPv6]:port); NULL or "": first nameserver of /etc/resolv.conf */
	double timeout_s;                /* per query (default 2) */
	int attempts;                    /* per query (default 2) */
	double deadline_s;               /* all checks (default 10): what is unanswered then is a warn "timed out" */
	const char *const *dnsbls;       /* zones, e.g. "zen.spamhaus.org"; NULL/0: none */
	size_t n_dnsbls;
};

struct dnscheck_input {
	const char *const *ips;  size_t n_ips;   /* sending IPs (IPv4/IPv6 text) */
	const char *from_domain;                 /* SPF, DMARC (NULL: those checks warn "no From domain") */
	const char *dkim_domain, *dkim_selector; /* dkim_key (NULL selector: warn) */
};

/* Called exactly once, from the loop (never inside dnscheck_start), with the lines in the order
 * of the table in doc/checks.md, per IP where the check is per IP.  result is borrowed for the call;
 * the callee may checklist_take() it. */
typedef void (*dnscheck_cb)(struct checklist *result, void *arg);

struct dnscheck;

/*
 * Start the checks of in on base.  Copies cfg and in (nothing is borrowed
 * past the call).  Returns an owned handle, or NULL with errno: EINVAL (a
 * bad resolver, IP or zone; more than DNSCHECK_IPS_MAX IPs or
 * DNSCHECK_DNSBLS_MAX zones; no nameserver in /etc/resolv.conf), ENOMEM,
 * or a socket error.  The handle frees itself after the callback.  A
 * From or DKIM domain that is not a valid name is not an error: its
 * checks fail.  Timeouts are clamped to 0.05..60 s per query, 1..10
 * attempts, and a deadline of at most 600 s.
 */
struct dnscheck *dnscheck_start(struct event_base *base, const struct dnscheck_config *cfg,
				const struct dnscheck_input *in, dnscheck_cb cb, void *arg);
/* Stop without calling the callback; frees the handle.  Not from inside the callback.
 * evdns may still owe callbacks for cancelled lookups: they come from base's
 * loop later and free what is left (a few bytes leak if base is freed first). */
void dnscheck_cancel(struct dnscheck *d);
/* Convenience for twctl: a private event_base, run to completion, lines appended to out. Returns 0 or -errno. */
int dnscheck_run(const struct dnscheck_config *cfg, const struct dnscheck_input *in, struct checklist *out);

#endif
