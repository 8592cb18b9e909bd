/* SPDX-License-Identifier: MIT */
/*
 * dnscheck: see dnscheck.h.  The lookups of the DNS checks on a libevent
 * loop (controller and twctl).
 *
 * Two transports share one resolver: evdns (one evdns_base per run, no
 * search domains, the run's timeout and attempts) for A, AAAA and PTR, and
 * for TXT and MX, which libevent 2.1.12's evdns has no call for, queries
 * built and answers parsed by dnsrules.c, sent on a connected UDP socket of
 * the run (random ids, the question checked, timeouts and retries on the
 * loop) and asked again over TCP when the answer comes back truncated.
 *
 * Every lookup is a struct dnscheck_q on the run's list; its callback
 * advances one check (a line per check and IP) and may start more
 * lookups.  The run ends when the list is empty or at the deadline; the
 * lines are then written in the order of doc/checks.md, unfinished ones
 * as "timed out".  evdns delivers even cancelled lookups' callbacks later
 * (deferred), so a cancelled evdns lookup outlives the run: its q is
 * detached (q->d = NULL) and freed by that last callback.
 */
#include "dnscheck.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <libpsl.h>

#include "dnsrules.h"

#define DNSCHECK_QUERIES_MAX 512        /* lookups one run may start */
#define DNSCHECK_RECV_BUDGET 64         /* datagrams read per wakeup */
#define DNSCHECK_SELECTOR_MAX 63

enum dnscheck_rc { RC_OK, RC_NXDOMAIN, RC_NODATA, RC_TIMEOUT, RC_FAIL };

/* What a lookup found; everything is borrowed for the callback. */
struct dnscheck_res {
	enum dnscheck_rc rc;
	const char *why;                /* RC_FAIL: what failed ("SERVFAIL", ...) */
	size_t n_addr;                  /* A: 4 bytes each, AAAA: 16 */
	const uint8_t *addr;
	const char *ptr;                /* PTR: the first name */
	const struct dnsrules_msg *msg; /* TXT, MX: records with answer set */
};

struct dnscheck;
struct dnscheck_q;
typedef void (*dnscheck_q_fn)(struct dnscheck *d, struct dnscheck_q *q, const struct dnscheck_res *r);

struct dnscheck_q {
	TAILQ_ENTRY(dnscheck_q) link;
	struct dnscheck *d;             /* NULL: the run is gone, evdns still owes the callback */
	dnscheck_q_fn fn;
	void *ctx;                      /* the check's state (an IP, or the run) */
	size_t idx;                     /* fn's own index: a term, a zone */
	uint16_t type;
	char name[DNSRULES_NAME_MAX + 1];
	struct evdns_request *er;       /* A, AAAA, PTR */
	/* TXT, MX */
	bool raw;
	uint16_t id;
	int sent;
	struct event *timer;
	struct bufferevent *tcp;
	size_t pkt_len;
	uint8_t pkt[DNSRULES_QUERY_MAX];
};

/* One line of the result, filled when its check ends. */
struct dnscheck_line {
	bool done;
	enum check_status st;
	char reason[CHECK_REASON_MAX];
};

enum spf_result { SPF_NONE, SPF_NEUTRAL, SPF_PASS, SPF_FAIL, SPF_SOFTFAIL, SPF_TEMPERROR, SPF_PERMERROR };

/* A record being evaluated: the top domain, an include, or a redirect (which replaces its frame). */
struct spf_frame {
	char domain[DNSRULES_NAME_MAX + 1];
	bool redirected;
	size_t next;                    /* the next term */
	struct dnsrules_spf rec;
};

struct spf_eval {
	struct spf_frame *f[DNSRULES_SPF_LOOKUPS_MAX + 2];
	size_t depth;
	unsigned lookups, voids;
	char skipped[80];               /* the first term not evaluated */
	bool skipped_pass;              /* one of them could have permitted the IP */
	char matched[340];              /* the term that decided, and where */
	char why[240];                  /* errors */
	size_t mx_pending;
	bool mx_hit, mx_temp;
};

struct dnscheck_ip {
	char text[INET6_ADDRSTRLEN];
	struct dnsrules_ip a;
	struct dnscheck_line ptr, fcrdns, spf;
	struct dnscheck_line dnsbl[DNSCHECK_DNSBLS_MAX];
	char ptr_name[DNSRULES_NAME_MAX + 1];
	struct spf_eval spf_eval;
};

struct dnscheck {
	struct event_base *base;
	struct evdns_base *evdns;
	evutil_socket_t udp;
	struct event *udp_ev, *deadline_ev, *finish_ev;
	struct sockaddr_storage ns;
	int ns_len;
	struct timeval timeout;
	int attempts;
	double deadline_s;
	dnscheck_cb cb;
	void *arg;
	TAILQ_HEAD(dnscheck_qs, dnscheck_q) qs;
	size_t n_started;
	bool over;                      /* the finish event is due: start nothing */

	int from_state;                 /* 0: none given, 1: valid, -1: not a valid name */
	char from[DNSRULES_NAME_MAX + 1];
	char org[DNSRULES_NAME_MAX + 1];
	int dkim_state;                 /* 0: no selector, 1: valid, -1: bad name */
	char dkim_name[DNSRULES_NAME_MAX + 1];
	int dmarc_stage;                /* 0: at the domain, 1: at the organisational domain */
	struct dnscheck_line dmarc, dkim;

	size_t n_ips;
	struct dnscheck_ip ip[DNSCHECK_IPS_MAX];
	size_t n_zones;
	char zone[DNSCHECK_DNSBLS_MAX][DNSRULES_NAME_MAX + 1];

	uint8_t rbuf[4096];             /* one UDP datagram (we advertise 1232 bytes) */
	struct dnsrules_msg msg;        /* the reply being handled */
};

static void line_set(struct dnscheck_line *l, enum check_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void line_set(struct dnscheck_line *l, enum check_status st, const char *fmt, ...)
{
	va_list ap;

	l->done = true;
	l->st = st;
	va_start(ap, fmt);
	vsnprintf(l->reason, sizeof(l->reason), fmt, ap);
	va_end(ap);
}

/* ---- the lookups ------------------------------------------------------------------ */

static void dnscheck_finish(struct dnscheck *d);

/* Free q and what it holds (not its list entry). */
static void q_free(struct dnscheck_q *q)
{
	if (q->timer)
		event_free(q->timer);
	if (q->tcp)
		bufferevent_free(q->tcp);
	free(q);
}

/* When nothing is outstanding, have the loop finish the run. */
static void maybe_done(struct dnscheck *d)
{
	if (!d->over && TAILQ_EMPTY(&d->qs)) {
		d->over = true;
		event_active(d->finish_ev, EV_TIMEOUT, 1);
	}
}

/* q has its answer r: take it off the list, run its callback, free it. */
static void q_done(struct dnscheck *d, struct dnscheck_q *q, const struct dnscheck_res *r)
{
	TAILQ_REMOVE(&d->qs, q, link);
	q->fn(d, q, r);
	q_free(q);
	maybe_done(d);
}

static void q_fail(struct dnscheck *d, struct dnscheck_q *q, enum dnscheck_rc rc, const char *why)
{
	struct dnscheck_res r = { .rc = rc, .why = why };

	q_done(d, q, &r);
}

/* The evdns callback of A, AAAA and PTR lookups (always from the loop, deferred). */
static void evdns_cb(int result, char type, int count, int ttl, void *addresses, void *arg)
{
	struct dnscheck_q *q = arg;
	struct dnscheck *d = q->d;
	struct dnscheck_res r = { .rc = RC_FAIL };

	if (!d) {
		free(q);
		return;
	}
	q->er = NULL;
	switch (result) {
	case DNS_ERR_NONE:
		r.rc = count > 0 ? RC_OK : RC_NODATA;
		if (type == DNS_PTR && count > 0)
			r.ptr = *(const char **)addresses;
		else if ((type == DNS_IPv4_A || type == DNS_IPv6_AAAA) && count > 0) {
			r.n_addr = (size_t)count;
			r.addr = addresses;
		} else
			r.rc = RC_NODATA;
		break;
	case DNS_ERR_NOTEXIST: r.rc = RC_NXDOMAIN; break;
	case DNS_ERR_NODATA: r.rc = RC_NODATA; break;
	case DNS_ERR_TIMEOUT: r.rc = RC_TIMEOUT; break;
	case DNS_ERR_SERVERFAILED: r.why = "SERVFAIL"; break;
	case DNS_ERR_REFUSED: r.why = "REFUSED"; break;
	case DNS_ERR_FORMAT: r.why = "FORMERR"; break;
	case DNS_ERR_NOTIMPL: r.why = "NOTIMP"; break;
	case DNS_ERR_TRUNCATED: r.why = "truncated reply"; break;
	default: r.why = "unusable reply"; break;
	}
	q_done(d, q, &r);
}

static int raw_send(struct dnscheck *d, struct dnscheck_q *q)
{
	/* an error queued by an earlier ICMP unreachable is not this query's: the timer retries */
	if (send(d->udp, q->pkt, q->pkt_len, 0) < 0 && errno != EAGAIN && errno != ECONNREFUSED &&
	    errno != EINTR)
		return -errno;
	q->sent++;
	return evtimer_add(q->timer, &d->timeout) ? -ENOMEM : 0;
}

static void raw_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct dnscheck_q *q = arg;
	struct dnscheck *d = q->d;

	if (!q->tcp && q->sent < d->attempts && raw_send(d, q) == 0)
		return;
	q_fail(d, q, RC_TIMEOUT, NULL);
}

static void tcp_start(struct dnscheck *d, struct dnscheck_q *q);

/*
 * A reply for the raw lookup q (over TCP), or for whichever raw lookup
 * has its id (UDP, q NULL).  Over UDP anything that does not parse or
 * does not match the question is ignored: it may be forged, and the real
 * answer or the timeout comes anyway.
 */
static void raw_reply(struct dnscheck *d, const uint8_t *pkt, size_t len, struct dnscheck_q *q)
{
	struct dnsrules_msg *m = &d->msg;
	struct dnscheck_res r = { .rc = RC_OK, .msg = m };
	int rc;

	rc = dnsrules_msg_parse(pkt, len, m);
	if (!q) {
		if (len < 12)
			return;
		TAILQ_FOREACH(q, &d->qs, link)
			if (q->raw && !q->tcp && q->id == m->id)
				break;
		if (!q || rc || !dnsrules_msg_matches(m, q->id, q->name, q->type))
			return;
		if (m->tc) {
			tcp_start(d, q);
			return;
		}
	} else if (rc || !dnsrules_msg_matches(m, q->id, q->name, q->type) || m->tc) {
		q_fail(d, q, RC_FAIL, "malformed reply over TCP");
		return;
	}
	switch (m->rcode) {
	case DNSRULES_NOERROR: r.rc = m->n_answers ? RC_OK : RC_NODATA; break;
	case DNSRULES_NXDOMAIN: r.rc = RC_NXDOMAIN; break;
	case DNSRULES_SERVFAIL: r.rc = RC_FAIL; r.why = "SERVFAIL"; break;
	case DNSRULES_REFUSED: r.rc = RC_FAIL; r.why = "REFUSED"; break;
	case DNSRULES_FORMERR: r.rc = RC_FAIL; r.why = "FORMERR"; break;
	default: r.rc = RC_FAIL; r.why = "error reply"; break;
	}
	evtimer_del(q->timer);
	q_done(d, q, &r);
}

static void udp_readable(evutil_socket_t fd, short what, void *arg)
{
	struct dnscheck *d = arg;

	for (int i = 0; i < DNSCHECK_RECV_BUDGET && !d->over; i++) {
		ssize_t n = recv(fd, d->rbuf, sizeof(d->rbuf), MSG_TRUNC);

		if (n < 0) {
			if (errno == ECONNREFUSED || errno == EINTR)
				continue;       /* ICMP unreachable: the timers decide */
			return;
		}
		if ((size_t)n > sizeof(d->rbuf))
			continue;       /* more than we said we take */
		raw_reply(d, d->rbuf, (size_t)n, NULL);
	}
}

static void tcp_readable(struct bufferevent *bev, void *arg)
{
	struct dnscheck_q *q = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	uint8_t hdr[2];
	size_t n;
	const uint8_t *p;

	if (evbuffer_copyout(in, hdr, 2) < 2)
		return;
	n = (size_t)hdr[0] << 8 | hdr[1];
	if (evbuffer_get_length(in) < 2 + n)
		return;
	p = evbuffer_pullup(in, (ev_ssize_t)(2 + n));
	if (!p) {
		q_fail(q->d, q, RC_FAIL, "out of memory");
		return;
	}
	raw_reply(q->d, p + 2, n, q);
}

static void tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct dnscheck_q *q = arg;

	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
		q_fail(q->d, q, RC_FAIL, "truncated reply and TCP failed");
}

/* The UDP answer of q was truncated: ask again over TCP (one attempt, one timeout). */
static void tcp_start(struct dnscheck *d, struct dnscheck_q *q)
{
	uint8_t hdr[2] = { (uint8_t)(q->pkt_len >> 8), (uint8_t)q->pkt_len };

	evtimer_del(q->timer);
	q->tcp = bufferevent_socket_new(d->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!q->tcp || bufferevent_write(q->tcp, hdr, 2) || bufferevent_write(q->tcp, q->pkt, q->pkt_len)) {
		q_fail(d, q, RC_FAIL, "truncated reply and TCP failed");
		return;
	}
	bufferevent_setcb(q->tcp, tcp_readable, NULL, tcp_event, q);
	bufferevent_enable(q->tcp, EV_READ | EV_WRITE);
	if (bufferevent_socket_connect(q->tcp, (struct sockaddr *)&d->ns, d->ns_len) ||
	    evtimer_add(q->timer, &d->timeout)) {
		q_fail(d, q, RC_FAIL, "truncated reply and TCP failed");
		return;
	}
}

/* A transaction id no outstanding raw lookup uses. */
static uint16_t raw_id(struct dnscheck *d)
{
	uint16_t id = 0;

	for (int tries = 0; tries < 16; tries++) {
		struct dnscheck_q *q;
		bool used = false;

		evutil_secure_rng_get_bytes(&id, sizeof(id));
		TAILQ_FOREACH(q, &d->qs, link)
			used |= q->raw && q->id == id;
		if (!used)
			break;
	}
	return id;
}

/*
 * Start a lookup of name/type (A, AAAA, TXT, MX) or, with ip, the PTR of
 * ip; fn(d, q, result) is called from the loop, q->ctx = ctx, q->idx =
 * idx.  Returns 0, -EINVAL (not a valid name), -ENOBUFS (the run's
 * lookup cap, or it is over) or -ENOMEM; then fn is not called.
 */
static int ask(struct dnscheck *d, const char *name, const struct dnsrules_ip *ip, uint16_t type,
	       dnscheck_q_fn fn, void *ctx, size_t idx)
{
	struct dnscheck_q *q;
	int rc = 0;

	if (d->over || d->n_started >= DNSCHECK_QUERIES_MAX)
		return -ENOBUFS;
	if (!ip && !dnsrules_name_valid(name))
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->d = d;
	q->fn = fn;
	q->ctx = ctx;
	q->idx = idx;
	q->type = type;
	if (name)
		snprintf(q->name, sizeof(q->name), "%s", name);
	switch (type) {
	case DNSRULES_A:
		q->er = evdns_base_resolve_ipv4(d->evdns, name, DNS_QUERY_NO_SEARCH, evdns_cb, q);
		break;
	case DNSRULES_AAAA:
		q->er = evdns_base_resolve_ipv6(d->evdns, name, DNS_QUERY_NO_SEARCH, evdns_cb, q);
		break;
	case DNSRULES_PTR:
		if (ip->family == AF_INET) {
			struct in_addr in;

			memcpy(&in, ip->a, 4);
			q->er = evdns_base_resolve_reverse(d->evdns, &in, DNS_QUERY_NO_SEARCH, evdns_cb, q);
		} else {
			struct in6_addr in6;

			memcpy(&in6, ip->a, 16);
			q->er = evdns_base_resolve_reverse_ipv6(d->evdns, &in6, DNS_QUERY_NO_SEARCH, evdns_cb, q);
		}
		break;
	default: {
		int n;

		q->raw = true;
		q->id = raw_id(d);
		n = dnsrules_query_encode(q->pkt, sizeof(q->pkt), q->id, name, type, true);
		q->timer = evtimer_new(d->base, raw_timeout, q);
		if (n < 0 || !q->timer) {
			rc = n < 0 ? n : -ENOMEM;
			goto fail;
		}
		q->pkt_len = (size_t)n;
		rc = raw_send(d, q);
		if (rc)
			goto fail;
		break;
	}
	}
	if (!q->raw && !q->er) {
		rc = -ENOMEM;
		goto fail;
	}
	TAILQ_INSERT_TAIL(&d->qs, q, link);
	d->n_started++;
	return 0;
fail:
	q_free(q);
	return rc;
}

static const char *ask_error(int rc)
{
	return rc == -ENOBUFS ? "too many lookups" : rc == -EINVAL ? "not a valid name" : strerror(-rc);
}

/* ---- ptr, fcrdns ------------------------------------------------------------------ */

static const char *addr_type(const struct dnscheck_ip *ip)
{
	return ip->a.family == AF_INET ? "A" : "AAAA";
}

/* How a lookup that got no answer ended, to follow "the X lookup ...":
 * "timed out", or "failed (SERVFAIL)" written into buf. */
static const char *no_answer(const struct dnscheck_res *r, char *buf, size_t cap)
{
	if (r->rc == RC_TIMEOUT)
		return "timed out";
	snprintf(buf, cap, "failed (%s)", r->why ? r->why : "error reply");
	return buf;
}

static void fcrdns_cb(struct dnscheck *d, struct dnscheck_q *q, const struct dnscheck_res *r)
{
	struct dnscheck_ip *ip = q->ctx;
	size_t w = ip->a.family == AF_INET ? 4 : 16;
	char first[INET6_ADDRSTRLEN] = "?", buf[64];

	switch (r->rc) {
	case RC_OK:
		for (size_t i = 0; i < r->n_addr; i++)
			if (!memcmp(r->addr + i * w, ip->a.a, w)) {
				line_set(&ip->fcrdns, CHECK_PASS, "%s: %s resolves back to %s", ip->text, ip->ptr_name,
					 ip->text);
				return;
			}
		inet_ntop(ip->a.family, r->addr, first, sizeof(first));
		line_set(&ip->fcrdns, CHECK_FAIL, "%s: %s resolves to %s%s, not to the IP", ip->text, ip->ptr_name,
			 first, r->n_addr > 1 ? " and others" : "");
		return;
	case RC_NXDOMAIN:
	case RC_NODATA:
		line_set(&ip->fcrdns, CHECK_FAIL, "%s: %s has no %s record", ip->text, ip->ptr_name, addr_type(ip));
		return;
	case RC_TIMEOUT:
	case RC_FAIL:
		line_set(&ip->fcrdns, CHECK_WARN, "%s: the %s lookup of %s %s", ip->text, addr_type(ip),
			 ip->ptr_name, no_answer(r, buf, sizeof(buf)));
		return;
	}
}

static void ptr_cb(struct dnscheck *d, struct dnscheck_q *q, const struct dnscheck_res *r)
{
	struct dnscheck_ip *ip = q->ctx;
	size_t n;
	int rc;
	char buf[64];
	const char *how;

	switch (r->rc) {
	case RC_OK:
		if (!dnsrules_name_valid(r->ptr)) {
			line_set(&ip->ptr, CHECK_FAIL, "%s: the PTR name \"%.64s\" is not a valid host name", ip->text,
				 r->ptr);
			line_set(&ip->fcrdns, CHECK_FAIL, "%s: no usable PTR name to confirm", ip->text);
			return;
		}
		snprintf(ip->ptr_name, sizeof(ip->ptr_name), "%s", r->ptr);
		n = strlen(ip->ptr_name);
		if (n && ip->ptr_name[n - 1] == '.')
			ip->ptr_name[n - 1] = '\0';
		if (dnsrules_ptr_generated(ip->text, ip->ptr_name))
			line_set(&ip->ptr, CHECK_FAIL, "%s: the PTR name %s is generated from the IP "
				 "(an access or dynamic range)", ip->text, ip->ptr_name);
		else
			line_set(&ip->ptr, CHECK_PASS, "%s: PTR %s", ip->text, ip->ptr_name);
		rc = ask(d, ip->ptr_name, NULL, ip->a.family == AF_INET ? DNSRULES_A : DNSRULES_AAAA, fcrdns_cb, ip, 0);
		if (rc)
			line_set(&ip->fcrdns, CHECK_WARN, "%s: cannot look up %s: %s", ip->text, ip->ptr_name,
				 ask_error(rc));
		return;
	case RC_NXDOMAIN:
	case RC_NODATA:
		line_set(&ip->ptr, CHECK_FAIL, "%s has no PTR record", ip->text);
		line_set(&ip->fcrdns, CHECK_FAIL, "%s: no PTR name to confirm", ip->text);
		return;
	case RC_TIMEOUT:
	case RC_FAIL:
		how = no_answer(r, buf, sizeof(buf));
		line_set(&ip->ptr, CHECK_WARN, "%s: the PTR lookup %s", ip->text, how);
		line_set(&ip->fcrdns, CHECK_WARN, "%s: the PTR lookup %s", ip->text, how);
		return;
	}
}

/* ---- spf ----------------------------------------------------------------------- */

static void spf_run(struct dnscheck *d, struct dnscheck_ip *ip);
static void spf_frame_done(struct dnscheck *d, struct dnscheck_ip *ip, enum spf_result res, bool inner);

static void spf_free_frames(struct spf_eval *s)
{
	while (s->depth)
		free(s->f[--s->depth]);
}

static const char *spf_qual_name(char q)
{
	return q == '-' ? "fail" : q == '~' ? "softfail" : q == '?' ? "neutral" : "pass";
}

/* The evaluation of ip ended with res: write its line. */
static void spf_end(struct dnscheck *d, struct dnscheck_ip *ip, enum spf_result res)
{
	struct spf_eval *s = &ip->spf_eval;
	struct dnscheck_line *l = &ip->spf;
	const char *dom = d->from;

	switch (res) {
	case SPF_PASS:
		if (!strcmp(s->matched, "all") || !strcmp(s->matched, "+all") || !strncmp(s->matched, "all ", 4) ||
		    !strncmp(s->matched, "+all ", 5))
			line_set(l, CHECK_WARN, "%s: the SPF record of %s permits every IP (%s)", ip->text, dom,
				 s->matched);
		else if (s->skipped[0])
			line_set(l, CHECK_WARN, "%s: the SPF record of %s permits the IP (%s), but %s was not "
				 "evaluated (macros, ptr and exists are not)", ip->text, dom, s->matched, s->skipped);
		else
			line_set(l, CHECK_PASS, "%s: the SPF record of %s permits the IP (%s)", ip->text, dom, s->matched);
		break;
	case SPF_FAIL:
	case SPF_SOFTFAIL:
	case SPF_NEUTRAL:
		if (s->skipped_pass)
			line_set(l, CHECK_WARN, "%s: the SPF record of %s does not permit the IP by the terms evaluated "
				 "(%s), but %s was not evaluated and might", ip->text, dom,
				 s->matched[0] ? s->matched : "no mechanism matches", s->skipped);
		else
			line_set(l, CHECK_FAIL, "%s: the SPF record of %s does not permit the IP (%s)", ip->text, dom,
				 s->matched[0] ? s->matched : "no mechanism matches: neutral");
		break;
	case SPF_NONE:
		line_set(l, CHECK_FAIL, "%s: no SPF record at %s", ip->text, dom);
		break;
	case SPF_PERMERROR:
		line_set(l, CHECK_FAIL, "%s: the SPF record of %s is broken: %s (permerror)", ip->text, dom, s->why);
		break;
	case SPF_TEMPERROR:
		line_set(l, CHECK_WARN, "%s: SPF of %s not checked: %s", ip->text, dom, s->why);
		break;
	}
	spf_free_frames(s);
}

static void spf_error(struct dnscheck *d, struct dnscheck_ip *ip, enum spf_result res, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void spf_error(struct dnscheck *d, struct dnscheck_ip *ip, enum spf_result res, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ip->spf_eval.why, sizeof(ip->spf_eval.why), fmt, ap);
	va_end(ap);
	spf_end(d, ip, res);
}

/* Count a DNS-querying term; false (and the evaluation ended) past the limit. */
static bool spf_count(struct dnscheck *d, struct dnscheck_ip *ip)
{
	if (++ip->spf_eval.lookups > DNSRULES_SPF_LOOKUPS_MAX) {
		spf_error(d, ip, SPF_PERMERROR, "more than %d DNS-querying terms (include, a, mx, ptr, exists, redirect)",
			  DNSRULES_SPF_LOOKUPS_MAX);
		return false;
	}
	return true;
}

/* Count a lookup that found nothing; false (and ended) past the limit. */
static bool spf_void(struct dnscheck *d, struct dnscheck_ip *ip)
{
	if (++ip->spf_eval.voids > DNSRULES_SPF_VOID_MAX) {
		spf_error(d, ip, SPF_PERMERROR, "more than %d lookups found nothing (void lookup limit)",
			  DNSRULES_SPF_VOID_MAX);
		return false;
	}
	return true;
}

static const struct dnsrules_spf_term *spf_term(const struct spf_frame *f, size_t i)
{
	return &f->rec.t[i];
}

/* Note a term of the top frame that is not evaluated (macros, ptr, exists). */
static void spf_skip(struct dnscheck_ip *ip, const struct spf_frame *f, size_t i)
{
	const struct dnsrules_spf_term *t = spf_term(f, i);
	struct spf_eval *s = &ip->spf_eval;

	if (!s->skipped[0])
		snprintf(s->skipped, sizeof(s->skipped), "%.*s", (int)(t->len > 64 ? 64 : t->len), f->rec.text + t->off);
	if (t->qual == '+')
		s->skipped_pass = true;
}

/* Term i of the top frame matched: the frame's result is its qualifier. */
static void spf_match(struct dnscheck *d, struct dnscheck_ip *ip, size_t i)
{
	struct spf_eval *s = &ip->spf_eval;
	const struct spf_frame *f = s->f[s->depth - 1];
	const struct dnsrules_spf_term *t = spf_term(f, i);
	enum spf_result res = t->qual == '-' ? SPF_FAIL : t->qual == '~' ? SPF_SOFTFAIL :
			      t->qual == '?' ? SPF_NEUTRAL : SPF_PASS;

	if (t->kind != DNSRULES_SPF_INCLUDE || res != SPF_PASS || !s->matched[0]) {
		if (s->depth > 1)
			snprintf(s->matched, sizeof(s->matched), "%.*s in %s: %s", (int)(t->len > 64 ? 64 : t->len),
				 f->rec.text + t->off, f->domain, spf_qual_name(t->qual));
		else
			snprintf(s->matched, sizeof(s->matched), "%.*s%s%s", (int)(t->len > 64 ? 64 : t->len),
				 f->rec.text + t->off, res == SPF_PASS ? "" : ": ", res == SPF_PASS ? "" :
				 spf_qual_name(t->qual));
	}
	spf_frame_done(d, ip, res, true);
}

static void spf_txt_cb(struct dnscheck *d, struct dnscheck_q *q, const struct dnscheck_res *r);

/* Fetch the record of domain into a new frame (include) or the top one (redirect). */
static void spf_fetch(struct dnscheck *d, struct dnscheck_ip *ip, const char *domain, bool redirect)
{
	struct spf_eval *s = &ip->spf_eval;
	struct spf_frame *f;
	int rc;

	if (redirect && s->depth) {
		f = s->f[s->depth - 1];
	} else {
		if (s->depth >= sizeof(s->f) / sizeof(s->f[0])) {
			spf_error(d, ip, SPF_PERMERROR, "includes nested too deep");
			return;
		}
		f = malloc(sizeof(*f));
		if (!f) {
			spf_error(d, ip, SPF_TEMPERROR, "out of memory");
			return;
		}
		s->f[s->depth++] = f;
	}
	snprintf(f->domain, sizeof(f->domain), "%s", domain);
	f->redirected = redirect;
	f->next = 0;
	f->rec.n = 0;
	rc = ask(d, domain, NULL, DNSRULES_TXT, spf_txt_cb, ip, 0);
	if (rc)
		spf_error(d, ip, SPF_TEMPERROR, "cannot look up %s: %s", domain, ask_error(rc));
}

/*
 * The top frame ended with res.  At the top that is the result; an
 * include's pass is a match of the include term in the frame below, its
 * fail, softfail or neutral lets that frame go on, and errors end it all
 * (RFC 7208 5.2).  inner: res comes from a match in this frame.
 */
static void spf_frame_done(struct dnscheck *d, struct dnscheck_ip *ip, enum spf_result res, bool inner)
{
	struct spf_eval *s = &ip->spf_eval;
	struct spf_frame *f = s->f[s->depth - 1];

	if (res == SPF_NONE && (s->depth > 1 || f->redirected)) {
		spf_error(d, ip, SPF_PERMERROR, "%s%s has no SPF record", f->redirected ? "redirect=" : "include:",
			  f->domain);
		return;
	}
	if (s->depth == 1 || res == SPF_TEMPERROR || res == SPF_PERMERROR) {
		spf_end(d, ip, res);
		return;
	}
	free(f);
	s->depth--;
	if (res != SPF_PASS)
		s->matched[0] = '\0';  /* what decided inside the include does not decide here */
	if (res == SPF_PASS) {
		struct spf_frame *p = s->f[s->depth - 1];

		spf_match(d, ip, p->next - 1);
		return;
	}
	spf_run(d, ip);
}

static void spf_txt_cb(struct dnscheck *d, struct dnscheck_q *q, const struct dnscheck_res *r)
{
	struct dnscheck_ip *ip = q->ctx;
	struct spf_eval *s = &ip->spf_eval;
	struct spf_frame *f = s->f[s->depth - 1];
	const struct dnsrules_rr *rec = NULL;
	size_t n = 0;
	char err[200];

	switch (r->rc) {
	case RC_TIMEOUT:
	case RC_FAIL:
		spf_error(d, ip, SPF_TEMPERROR, "the TXT lookup of %s %s", f->domain, no_answer(r, err, sizeof(err)));
		return;
	case RC_NXDOMAIN:
	case RC_NODATA:
		if ((s->depth > 1 || f->redirected) && !spf_void(d, ip))
			return;
		spf_frame_done(d, ip, SPF_NONE, false);
		return;
	case RC_OK:
		break;
	}
	for (size_t i = 0; i < r->msg->n; i++) {
		const struct dnsrules_rr *x = &r->msg->rr[i];

		if (x->answer && x->type == DNSRULES_TXT && dnsrules_spf_is_record(r->msg->text + x->data, x->len)) {
			rec = x;
			n++;
		}
	}
	if (n == 0) {
		spf_frame_done(d, ip, SPF_NONE, false);
		return;
	}
	if (n > 1) {
		spf_error(d, ip, SPF_PERMERROR, "%s has %zu SPF records", f->domain, n);
		return;
	}
	if (rec->cut) {
		spf_error(d, ip, SPF_PERMERROR, "the SPF record of %s is longer than %d bytes", f->domain,
			  DNSRULES_TXT_MAX);
		return;
	}
	if (dnsrules_spf_parse(r->msg->text + rec->data, rec->len, &f->rec, err, sizeof(err))) {
		spf_error(d, ip, SPF_PERMERROR, "%s: syntax error: %s", f->domain, err);
		return;
	}
	spf_run(d, ip);
}

static bool spf_addr_match(const struct dnscheck_ip *ip, const struct dnsrules_spf_term *t, const uint8_t *a)
{
	struct dnsrules_ip x = { .family = ip->a.family };

	memcpy(x.a, a, ip->a.family == AF_INET ? 4 : 16);
	return dnsrules_ip_in_net(&ip->a, &x, ip->a.family == AF_INET ? t->cidr4 : t->cidr6);
}

static void spf_a_cb(struct dnscheck *d, struct dnscheck_q *q, const struct dnscheck_res *r)
{
	struct dnscheck_ip *ip = q->ctx;
	struct spf_eval *s = &ip->spf_eval;
	const struct dnsrules_spf_term *t = spf_term(s->f[s->depth - 1], q->idx);
	size_t w = ip->a.family == AF_INET ? 4 : 16;
	char buf[64];

	switch (r->rc) {
	case RC_OK:
		for (size_t i = 0; i < r->n_addr; i++)
			if (spf_addr_match(ip, t, r->addr + i * w)) {
				spf_match(d, ip, q->idx);
				return;
			}
		spf_run(d, ip);
		return;
	case RC_NXDOMAIN:
	case RC_NODATA:
		if (spf_void(d, ip))
			spf_run(d, ip);
		return;
	case RC_TIMEOUT:
	case RC_FAIL:
		spf_error(d, ip, SPF_TEMPERROR, "the %s lookup of %s %s", addr_type(ip), q->name,
			  no_answer(r, buf, sizeof(buf)));
		return;
	}
}

/* One address lookup of an mx mechanism's names; the last one decides. */
static void spf_mxa_cb(struct dnscheck *d, struct dnscheck_q *q, const struct dnscheck_res *r)
{
	struct dnscheck_ip *ip = q->ctx;
	struct spf_eval *s = &ip->spf_eval;
	const struct dnsrules_spf_term *t = spf_term(s->f[s->depth - 1], q->idx);
	size_t w = ip->a.family == AF_INET ? 4 : 16;

	if (r->rc == RC_OK)
		for (size_t i = 0; i < r->n_addr; i++)
			s->mx_hit |= spf_addr_match(ip, t, r->addr + i * w);
	if (r->rc == RC_TIMEOUT || r->rc == RC_FAIL)
		s->mx_temp = true;
	if (--s->mx_pending)
		return;
	if (s->mx_hit)
		spf_match(d, ip, q->idx);
	else if (s->mx_temp)
		spf_error(d, ip, SPF_TEMPERROR, "an address lookup of the MX names of mx term %zu timed out or failed",
			  q->idx + 1);
	else
		spf_run(d, ip);
}

static void spf_mx_cb(struct dnscheck *d, struct dnscheck_q *q, const struct dnscheck_res *r)
{
	struct dnscheck_ip *ip = q->ctx;
	struct spf_eval *s = &ip->spf_eval;
	const char *names[DNSRULES_SPF_MX_MAX];
	size_t n = 0, all = 0;
	char buf[64];

	switch (r->rc) {
	case RC_OK:
		break;
	case RC_NXDOMAIN:
	case RC_NODATA:
		if (spf_void(d, ip))
			spf_run(d, ip);
		return;
	case RC_TIMEOUT:
	case RC_FAIL:
		spf_error(d, ip, SPF_TEMPERROR, "the MX lookup of %s %s", q->name, no_answer(r, buf, sizeof(buf)));
		return;
	}
	for (size_t i = 0; i < r->msg->n; i++) {
		const struct dnsrules_rr *x = &r->msg->rr[i];

		if (!x->answer || x->type != DNSRULES_MX)
			continue;
		if (++all > DNSRULES_SPF_MX_MAX) {
			spf_error(d, ip, SPF_PERMERROR, "%s has more than %d MX names", q->name, DNSRULES_SPF_MX_MAX);
			return;
		}
		if (x->len > 0)         /* "." is a null MX (RFC 7505): no mail */
			names[n++] = r->msg->text + x->data;
	}
	s->mx_pending = 0;
	s->mx_hit = s->mx_temp = false;
	for (size_t i = 0; i < n; i++) {
		/* count first: a callback may already come while we still ask */
		s->mx_pending++;
		if (ask(d, names[i], NULL, ip->a.family == AF_INET ? DNSRULES_A : DNSRULES_AAAA, spf_mxa_cb, ip,
			q->idx)) {
			s->mx_pending--;
			s->mx_temp = true;
		}
	}
	if (s->mx_pending)
		return;
	if (s->mx_temp)
		spf_error(d, ip, SPF_TEMPERROR, "cannot look up the MX names of %s", q->name);
	else
		spf_run(d, ip);
}

/* Evaluate the top frame from its next term until a lookup is needed or it ends. */
static void spf_run(struct dnscheck *d, struct dnscheck_ip *ip)
{
	struct spf_eval *s = &ip->spf_eval;
	struct spf_frame *f = s->f[s->depth - 1];
	char target[DNSRULES_NAME_MAX + 1];
	int rc;

	while (f->next < f->rec.n) {
		size_t i = f->next++;
		const struct dnsrules_spf_term *t = spf_term(f, i);

		switch (t->kind) {
		case DNSRULES_SPF_ALL:
			spf_match(d, ip, i);
			return;
		case DNSRULES_SPF_IP4:
		case DNSRULES_SPF_IP6:
			if (dnsrules_spf_ip_match(t, &ip->a)) {
				spf_match(d, ip, i);
				return;
			}
			continue;
		case DNSRULES_SPF_PTR:
		case DNSRULES_SPF_EXISTS:
			if (!spf_count(d, ip))
				return;
			spf_skip(ip, f, i);
			continue;
		case DNSRULES_SPF_A:
		case DNSRULES_SPF_MX:
		case DNSRULES_SPF_INCLUDE:
			if (!spf_count(d, ip))
				return;
			if (t->macro) {
				spf_skip(ip, f, i);
				continue;
			}
			if (dnsrules_spf_target(&f->rec, i, f->domain, target, sizeof(target))) {
				spf_error(d, ip, SPF_PERMERROR, "term %zu of %s: not a valid domain", i + 1, f->domain);
				return;
			}
			if (t->kind == DNSRULES_SPF_INCLUDE) {
				spf_fetch(d, ip, target, false);
				return;
			}
			rc = ask(d, target, NULL, t->kind == DNSRULES_SPF_MX ? DNSRULES_MX :
				 ip->a.family == AF_INET ? DNSRULES_A : DNSRULES_AAAA,
				 t->kind == DNSRULES_SPF_MX ? spf_mx_cb : spf_a_cb, ip, i);
			if (rc)
				spf_error(d, ip, SPF_TEMPERROR, "cannot look up %s: %s", target, ask_error(rc));
			return;
		default:
			continue;       /* modifiers */
		}
	}
	if (f->rec.redirect >= 0) {
		if (!spf_count(d, ip))
			return;
		if (spf_term(f, (size_t)f->rec.redirect)->macro) {
			spf_skip(ip, f, (size_t)f->rec.redirect);
			ip->spf_eval.skipped_pass = true;
			spf_frame_done(d, ip, SPF_NEUTRAL, false);
			return;
		}
		if (dnsrules_spf_target(&f->rec, (size_t)f->rec.redirect, f->domain, target, sizeof(target))) {
			spf_error(d, ip, SPF_PERMERROR, "redirect of %s: not a valid domain", f->domain);
			return;
		}
		spf_fetch(d, ip, target, true);
		return;
	}
	spf_frame_done(d, ip, SPF_NEUTRAL, false);
}

/* ---- dmarc, dkim_key, dnsbl ------------------------------------------------------ */

static void dmarc_ask(struct dnscheck *d, const char *domain);

static void dmarc_cb(struct dnscheck *d, struct dnscheck_q *q, const struct dnscheck_res *r)
{
	const struct dnsrules_rr *rec = NULL;
	struct dnsrules_dmarc dm;
	char err[200];
	size_t n = 0;
	int pol;
	static const char *const pname[] = { "none", "quarantine", "reject" };

	switch (r->rc) {
	case RC_TIMEOUT:
	case RC_FAIL:
		line_set(&d->dmarc, CHECK_WARN, "the TXT lookup of %s %s", q->name, no_answer(r, err, sizeof(err)));
		return;
	default:
		break;
	}
	if (r->rc == RC_OK)
		for (size_t i = 0; i < r->msg->n; i++) {
			const struct dnsrules_rr *x = &r->msg->rr[i];

			if (x->answer && x->type == DNSRULES_TXT && dnsrules_dmarc_is_record(r->msg->text + x->data, x->len)) {
				rec = x;
				n++;
			}
		}
	if (n == 0) {
		if (d->dmarc_stage == 0 && d->org[0] && strcasecmp(d->org, d->from)) {
			d->dmarc_stage = 1;
			dmarc_ask(d, d->org);
			return;
		}
		if (d->dmarc_stage == 1)
			line_set(&d->dmarc, CHECK_FAIL, "no DMARC record at _dmarc.%s nor at the organisational domain (%s)",
				 d->from, q->name);
		else
			line_set(&d->dmarc, CHECK_FAIL, "no DMARC record at %s", q->name);
		return;
	}
	if (n > 1) {
		line_set(&d->dmarc, CHECK_FAIL, "%s has %zu DMARC records (receivers ignore them all)", q->name, n);
		return;
	}
	if (rec->cut || dnsrules_dmarc_parse(r->msg->text + rec->data, rec->len, &dm, err, sizeof(err))) {
		line_set(&d->dmarc, CHECK_FAIL, "%s: invalid DMARC record: %s", q->name, rec->cut ? "too long" : err);
		return;
	}
	/* through the organisational domain, sp= is the policy of its subdomains */
	pol = d->dmarc_stage == 1 && dm.sp >= 0 ? dm.sp : dm.p;
	if (pol == DNSRULES_DMARC_NONE)
		line_set(&d->dmarc, CHECK_WARN, "%s: %s=none (monitoring only)", q->name,
			 d->dmarc_stage == 1 && dm.sp >= 0 ? "sp" : "p");
	else
		line_set(&d->dmarc, CHECK_PASS, "%s: %s=%s%s", q->name, d->dmarc_stage == 1 && dm.sp >= 0 ? "sp" : "p",
			 pname[pol], dm.pct < 100 ? " (pct below 100)" : "");
}

static void dmarc_ask(struct dnscheck *d, const char *domain)
{
	char name[DNSRULES_NAME_MAX + 16];
	int rc;

	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	rc = ask(d, name, NULL, DNSRULES_TXT, dmarc_cb, d, 0);
	if (rc)
		line_set(&d->dmarc, CHECK_WARN, "cannot look up _dmarc.%s: %s", domain, ask_error(rc));
}

static void dkim_cb(struct dnscheck *d, struct dnscheck_q *q, const struct dnscheck_res *r)
{
	struct dnsrules_dkim_key k;
	char err[200] = "";
	bool revoked = false;

	switch (r->rc) {
	case RC_NXDOMAIN:
	case RC_NODATA:
		line_set(&d->dkim, CHECK_FAIL, "no TXT record at %s (no key for the selector)", q->name);
		return;
	case RC_TIMEOUT:
	case RC_FAIL:
		line_set(&d->dkim, CHECK_WARN, "the TXT lookup of %s %s", q->name, no_answer(r, err, sizeof(err)));
		return;
	case RC_OK:
		break;
	}
	for (size_t i = 0; i < r->msg->n; i++) {
		const struct dnsrules_rr *x = &r->msg->rr[i];
		char e[200];

		if (!x->answer || x->type != DNSRULES_TXT)
			continue;
		if (x->cut) {
			snprintf(err, sizeof(err), "record longer than %d bytes", DNSRULES_TXT_MAX);
			continue;
		}
		if (dnsrules_dkim_key_parse(r->msg->text + x->data, x->len, &k, e, sizeof(e))) {
			if (!err[0])
				snprintf(err, sizeof(err), "%s", e);
			continue;
		}
		if (k.revoked) {
			revoked = true;
			continue;
		}
		line_set(&d->dkim, CHECK_PASS, "%s: %s key of %zu bytes%s", q->name, k.k, k.key_bytes,
			 k.testing ? " (testing mode, t=y)" : "");
		return;
	}
	if (revoked)
		line_set(&d->dkim, CHECK_FAIL, "%s: the key is revoked (empty p=)", q->name);
	else
		line_set(&d->dkim, CHECK_FAIL, "%s: not a usable DKIM key record: %s", q->name, err[0] ? err : "?");
}

static void dnsbl_cb(struct dnscheck *d, struct dnscheck_q *q, const struct dnscheck_res *r)
{
	struct dnscheck_ip *ip = q->ctx;
	struct dnscheck_line *l = &ip->dnsbl[q->idx];
	const char *zone = d->zone[q->idx];
	char why[160], first[160] = "";
	enum dnsrules_dnsbl worst = DNSRULES_DNSBL_UNEXPECTED;
	bool any = false;

	switch (r->rc) {
	case RC_NXDOMAIN:
	case RC_NODATA:
		line_set(l, CHECK_PASS, "%s is not listed on %s", ip->text, zone);
		return;
	case RC_TIMEOUT:
	case RC_FAIL:
		line_set(l, CHECK_WARN, "%s: the lookup on %s %s", ip->text, zone, no_answer(r, why, sizeof(why)));
		return;
	case RC_OK:
		break;
	}
	/* a listing wins over a refusal, a refusal over an odd answer */
	for (size_t i = 0; i < r->n_addr; i++) {
		enum dnsrules_dnsbl v = dnsrules_dnsbl_answer(zone, r->addr + 4 * i, why, sizeof(why));
		int rank = v == DNSRULES_DNSBL_LISTED ? 2 : v == DNSRULES_DNSBL_REFUSED ? 1 : 0;
		int have = worst == DNSRULES_DNSBL_LISTED ? 2 : worst == DNSRULES_DNSBL_REFUSED ? 1 : 0;

		if (!any || rank > have) {
			worst = v;
			snprintf(first, sizeof(first), "%s", why);
			any = true;
		}
	}
	if (worst == DNSRULES_DNSBL_LISTED)
		line_set(l, CHECK_FAIL, "%s is listed on %s: %s", ip->text, zone, first);
	else
		line_set(l, CHECK_WARN, "%s on %s: %s", ip->text, zone, first);
}

/* ---- the run ------------------------------------------------------------------------ */

/* Start every check's first lookup. */
static void dnscheck_begin(struct dnscheck *d)
{
	char name[DNSRULES_NAME_MAX + 1];
	int rc;

	for (size_t i = 0; i < d->n_ips; i++) {
		struct dnscheck_ip *ip = &d->ip[i];

		rc = ask(d, NULL, &ip->a, DNSRULES_PTR, ptr_cb, ip, 0);
		if (rc) {
			line_set(&ip->ptr, CHECK_WARN, "%s: cannot look up the PTR: %s", ip->text, ask_error(rc));
			line_set(&ip->fcrdns, CHECK_WARN, "%s: cannot look up the PTR: %s", ip->text, ask_error(rc));
		}
		if (d->from_state == 0)
			line_set(&ip->spf, CHECK_WARN, "%s: no From domain to check SPF for", ip->text);
		else if (d->from_state < 0)
			line_set(&ip->spf, CHECK_FAIL, "%s: the From domain \"%.64s\" is not a valid domain name", ip->text,
				 d->from);
		else
			spf_fetch(d, ip, d->from, false);
		for (size_t z = 0; z < d->n_zones; z++) {
			rc = dnsrules_reverse_name(&ip->a, d->zone[z], name, sizeof(name));
			if (rc == 0)
				rc = ask(d, name, NULL, DNSRULES_A, dnsbl_cb, ip, z);
			if (rc)
				line_set(&ip->dnsbl[z], CHECK_WARN, "%s: cannot look up on %s: %s", ip->text, d->zone[z],
					 ask_error(rc));
		}
	}
	if (d->from_state == 0)
		line_set(&d->dmarc, CHECK_WARN, "no From domain to check DMARC for");
	else if (d->from_state < 0)
		line_set(&d->dmarc, CHECK_FAIL, "the From domain \"%.64s\" is not a valid domain name", d->from);
	else
		dmarc_ask(d, d->from);
	if (d->dkim_state == 0) {
		line_set(&d->dkim, CHECK_WARN, "no DKIM selector given (the sample has no DKIM-Signature)");
	} else if (d->dkim_state < 0) {
		line_set(&d->dkim, CHECK_FAIL, "\"%.80s\" is not a valid DKIM key name", d->dkim_name);
	} else {
		rc = ask(d, d->dkim_name, NULL, DNSRULES_TXT, dkim_cb, d, 0);
		if (rc)
			line_set(&d->dkim, CHECK_WARN, "cannot look up %s: %s", d->dkim_name, ask_error(rc));
	}
}

/* Drop every outstanding lookup: raw ones now, evdns ones detached (their
 * cancelled callbacks free them later). */
static void dnscheck_drop_queries(struct dnscheck *d)
{
	struct dnscheck_q *q;

	while ((q = TAILQ_FIRST(&d->qs))) {
		TAILQ_REMOVE(&d->qs, q, link);
		if (q->raw) {
			q_free(q);
		} else {
			q->d = NULL;
			evdns_cancel_request(d->evdns, q->er);
		}
	}
}

static void dnscheck_free(struct dnscheck *d)
{
	dnscheck_drop_queries(d);
	for (size_t i = 0; i < d->n_ips; i++)
		spf_free_frames(&d->ip[i].spf_eval);
	if (d->evdns)
		evdns_base_free(d->evdns, 0);
	if (d->udp_ev)
		event_free(d->udp_ev);
	if (d->udp >= 0)
		evutil_closesocket(d->udp);
	if (d->deadline_ev)
		event_free(d->deadline_ev);
	if (d->finish_ev)
		event_free(d->finish_ev);
	free(d);
}

static void emit(struct checklist *cl, const char *name, const struct dnscheck_line *l, double deadline)
{
	if (l->done)
		checklist_add(cl, name, l->st, "%s", l->reason);
	else
		checklist_add(cl, name, CHECK_WARN, "timed out: no answer within the deadline of %g s", deadline);
}

/* Write the lines, call back, free the run (from the loop). */
static void dnscheck_finish(struct dnscheck *d)
{
	struct checklist cl;

	d->over = true;
	dnscheck_drop_queries(d);
	checklist_init(&cl);
	for (size_t i = 0; i < d->n_ips; i++)
		emit(&cl, "ptr", &d->ip[i].ptr, d->deadline_s);
	for (size_t i = 0; i < d->n_ips; i++)
		emit(&cl, "fcrdns", &d->ip[i].fcrdns, d->deadline_s);
	for (size_t i = 0; i < d->n_ips; i++)
		emit(&cl, "spf", &d->ip[i].spf, d->deadline_s);
	if (d->n_ips == 0) {
		checklist_add(&cl, "ptr", CHECK_WARN, "no sending IP given");
		checklist_add(&cl, "fcrdns", CHECK_WARN, "no sending IP given");
		checklist_add(&cl, "spf", CHECK_WARN, "no sending IP given");
	}
	emit(&cl, "dmarc", &d->dmarc, d->deadline_s);
	emit(&cl, "dkim_key", &d->dkim, d->deadline_s);
	for (size_t i = 0; i < d->n_ips; i++)
		for (size_t z = 0; z < d->n_zones; z++)
			emit(&cl, "dnsbl", &d->ip[i].dnsbl[z], d->deadline_s);
	if (d->n_zones == 0)
		checklist_add(&cl, "dnsbl", CHECK_WARN, "no DNS blocklist configured (--dnsbl none)");
	d->cb(&cl, d->arg);
	checklist_fini(&cl);
	dnscheck_free(d);
}

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
	dnscheck_finish(arg);
}

/* The first "nameserver" of /etc/resolv.conf into out; 0 or -EINVAL. */
static int resolv_conf_first(char *out, size_t cap)
{
	FILE *f = fopen("/etc/resolv.conf", "re");
	char line[512];
	int rc = -EINVAL;

	if (!f)
		return -EINVAL;
	for (int n = 0; n < 1000 && rc && fgets(line, sizeof(line), f); n++) {
		char *p = line, *e;

		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "nameserver", 10) || (p[10] != ' ' && p[10] != '\t'))
			continue;
		p += 10;
		while (*p == ' ' || *p == '\t')
			p++;
		for (e = p; *e && *e != ' ' && *e != '\t' && *e != '\n' && *e != '\r' && *e != '#'; e++)
			;
		*e = '\0';
		if (*p && (size_t)(e - p) < cap) {
			memcpy(out, p, (size_t)(e - p) + 1);
			rc = 0;
		}
	}
	fclose(f);
	return rc;
}

/* A copy of s (cap bytes) without a final dot, lower case. */
static void name_copy(char *out, size_t cap, const char *s)
{
	size_t n;

	snprintf(out, cap, "%s", s);
	n = strlen(out);
	if (n && out[n - 1] == '.')
		out[--n] = '\0';
	for (size_t i = 0; i < n; i++)
		if (out[i] >= 'A' && out[i] <= 'Z')
			out[i] = (char)(out[i] - 'A' + 'a');
}

/* The organisational domain of d->from by the Public Suffix List (libpsl),
 * or its last two labels when no list loads. */
static void org_domain(struct dnscheck *d)
{
	psl_ctx_t *own = psl_latest(NULL);
	const psl_ctx_t *psl = own ? own : psl_builtin();
	const char *r = psl ? psl_registrable_domain(psl, d->from) : NULL;

	if (r) {
		snprintf(d->org, sizeof(d->org), "%s", r);
	} else {
		const char *dot = strrchr(d->from, '.');

		r = d->from;
		if (dot)
			for (const char *p = dot - 1; p >= d->from; p--)
				if (*p == '.') {
					r = p + 1;
					break;
				}
		snprintf(d->org, sizeof(d->org), "%s", r);
	}
	psl_free(own);
}

static double clamp(double v, double def, double lo, double hi)
{
	if (!(v > 0))
		return def;
	return v < lo ? lo : v > hi ? hi : v;
}

static struct timeval tv_of(double s)
{
	struct timeval tv = { .tv_sec = (time_t)s, .tv_usec = (suseconds_t)((s - (double)(time_t)s) * 1e6) };

	return tv;
}

/* Copy and check the configuration and input into d; 0 or -EINVAL. */
static int dnscheck_setup(struct dnscheck *d, const struct dnscheck_config *cfg, const struct dnscheck_input *in)
{
	char rs[128];
	const char *res = cfg->resolver;
	struct sockaddr_in *sin = (struct sockaddr_in *)&d->ns;

	if (!res || !*res) {
		if (resolv_conf_first(rs, sizeof(rs)))
			return -EINVAL;
		res = rs;
	}
	d->ns_len = (int)sizeof(d->ns);
	if (evutil_parse_sockaddr_port(res, (struct sockaddr *)&d->ns, &d->ns_len))
		return -EINVAL;
	if (d->ns.ss_family != AF_INET && d->ns.ss_family != AF_INET6)
		return -EINVAL;
	if (sin->sin_port == 0)         /* the same place in sockaddr_in6 */
		sin->sin_port = htons(53);
	d->timeout = tv_of(clamp(cfg->timeout_s, 2, 0.05, 60));
	d->attempts = cfg->attempts <= 0 ? 2 : cfg->attempts > 10 ? 10 : cfg->attempts;
	d->deadline_s = clamp(cfg->deadline_s, 10, 0.05, 600);
	if (in->n_ips > DNSCHECK_IPS_MAX || (in->n_ips && !in->ips))
		return -EINVAL;
	d->n_ips = in->n_ips;
	for (size_t i = 0; i < in->n_ips; i++) {
		struct dnscheck_ip *ip = &d->ip[i];

		if (dnsrules_ip_parse(in->ips[i], &ip->a))
			return -EINVAL;
		inet_ntop(ip->a.family, ip->a.a, ip->text, sizeof(ip->text));
	}
	if (cfg->n_dnsbls > DNSCHECK_DNSBLS_MAX || (cfg->n_dnsbls && !cfg->dnsbls))
		return -EINVAL;
	d->n_zones = cfg->n_dnsbls;
	for (size_t z = 0; z < cfg->n_dnsbls; z++) {
		if (!dnsrules_name_valid(cfg->dnsbls[z]))
			return -EINVAL;
		name_copy(d->zone[z], sizeof(d->zone[z]), cfg->dnsbls[z]);
	}
	if (in->from_domain && *in->from_domain) {
		name_copy(d->from, sizeof(d->from), in->from_domain);
		d->from_state = dnsrules_name_valid(in->from_domain) && strlen(d->from) + 16 <= DNSRULES_NAME_MAX ? 1 : -1;
		if (d->from_state > 0)
			org_domain(d);
	}
	if (in->dkim_selector && *in->dkim_selector) {
		const char *dom = in->dkim_domain && *in->dkim_domain ? in->dkim_domain : in->from_domain;

		snprintf(d->dkim_name, sizeof(d->dkim_name), "%.63s._domainkey.%s", in->dkim_selector, dom ? dom : "");
		d->dkim_state = strlen(in->dkim_selector) <= DNSCHECK_SELECTOR_MAX && dom && *dom &&
				dnsrules_name_valid(d->dkim_name) && dnsrules_name_valid(dom) ? 1 : -1;
		if (d->dkim_state > 0) {
			char tmp[sizeof(d->dkim_name)];

			memcpy(tmp, d->dkim_name, sizeof(tmp));
			name_copy(d->dkim_name, sizeof(d->dkim_name), tmp);
		}
	}
	return 0;
}

/* The event_base, evdns_base, UDP socket and timers of d; 0 or -errno. */
static int dnscheck_open(struct dnscheck *d)
{
	char v[32];
	struct timeval dl = tv_of(d->deadline_s);

	d->evdns = evdns_base_new(d->base, 0);
	if (!d->evdns)
		return -ENOMEM;
	if (evdns_base_nameserver_sockaddr_add(d->evdns, (struct sockaddr *)&d->ns, (ev_socklen_t)d->ns_len, 0))
		return -EINVAL;
	snprintf(v, sizeof(v), "%.3f", (double)d->timeout.tv_sec + d->timeout.tv_usec / 1e6);
	if (evdns_base_set_option(d->evdns, "timeout:", v))
		return -EINVAL;
	snprintf(v, sizeof(v), "%d", d->attempts);
	if (evdns_base_set_option(d->evdns, "attempts:", v))
		return -EINVAL;
	/* no probes of a resolver that timed out while the run lives: a probe's
	 * callback due after evdns_base_free would use freed memory */
	if (evdns_base_set_option(d->evdns, "initial-probe-timeout:", "3600"))
		return -EINVAL;
	d->udp = socket(d->ns.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (d->udp < 0)
		return -errno;
	if (connect(d->udp, (struct sockaddr *)&d->ns, (socklen_t)d->ns_len))
		return -errno;
	d->udp_ev = event_new(d->base, d->udp, EV_READ | EV_PERSIST, udp_readable, d);
	d->deadline_ev = evtimer_new(d->base, finish_cb, d);
	d->finish_ev = event_new(d->base, -1, 0, finish_cb, d);
	if (!d->udp_ev || !d->deadline_ev || !d->finish_ev || event_add(d->udp_ev, NULL) ||
	    evtimer_add(d->deadline_ev, &dl))
		return -ENOMEM;
	return 0;
}

struct dnscheck *dnscheck_start(struct event_base *base, const struct dnscheck_config *cfg,
				const struct dnscheck_input *in, dnscheck_cb cb, void *arg)
{
	struct dnscheck *d;
	int rc;

	if (!base || !cfg || !in || !cb) {
		errno = EINVAL;
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		errno = ENOMEM;
		return NULL;
	}
	d->base = base;
	d->cb = cb;
	d->arg = arg;
	d->udp = -1;
	TAILQ_INIT(&d->qs);
	rc = dnscheck_setup(d, cfg, in);
	if (rc == 0)
		rc = dnscheck_open(d);
	if (rc) {
		dnscheck_free(d);
		errno = -rc;
		return NULL;
	}
	dnscheck_begin(d);
	maybe_done(d);
	return d;
}

void dnscheck_cancel(struct dnscheck *d)
{
	if (d)
		dnscheck_free(d);
}

struct run_ctx {
	struct checklist *out;
	bool called;
};

static void run_cb(struct checklist *result, void *arg)
{
	struct run_ctx *c = arg;

	checklist_take(c->out, result);
	c->called = true;
}

int dnscheck_run(const struct dnscheck_config *cfg, const struct dnscheck_input *in, struct checklist *out)
{
	struct event_base *base = event_base_new();
	struct run_ctx c = { .out = out };
	int rc = 0;

	if (!base)
		return -ENOMEM;
	if (!dnscheck_start(base, cfg, in, run_cb, &c))
		rc = -errno;
	else if (event_base_dispatch(base) < 0 || !c.called)
		rc = -EIO;
	event_base_free(base);
	return rc;
}
