/* SPDX-License-Identifier: MIT */
/*
 * twctl_dns: `twctl whitelist dns` (twctl; see twctl_dns.h).  The options
 * are checked here, the checks are dnscheck_run() on a private loop:
 * --timeout is the deadline of all checks, each query gets a quarter of it
 * (at most 2 s) and two attempts.
 */
#include "twctl_dns.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/dns.h>
#include <event2/util.h>
#include <jansson.h>

#include "checklist.h"
#include "dnscheck.h"
#include "dnsrules.h"
#include "twctl.h"

#define DNS_USAGE "usage: twctl whitelist dns --ip IP [--ip IP ...] --domain DOMAIN [--dkim-selector S] " \
	"[--dkim-domain D] [--resolver ADDR[:PORT]] [--dnsbl ZONE ...] [--timeout SECONDS] [--json]"

/* evdns reports a resolver it gives up on to stderr by default; the
 * checklist already says it. */
static void quiet_evdns(int severity, const char *msg)
{
	(void)severity;
	(void)msg;
}

/* Say what is wrong (fmt), then the usage; returns the exit code 2. */
static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *fmt, ...)
{
	va_list ap;

	fputs("twctl: whitelist dns: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s\n", DNS_USAGE);
	return EX_USAGE;
}

int twctl_dns_main(int argc, char **argv, bool json)
{
	static const struct option lo[] = {
		{ "ip", required_argument, 0, 'i' }, { "domain", required_argument, 0, 'd' },
		{ "dkim-selector", required_argument, 0, 's' }, { "dkim-domain", required_argument, 0, 'D' },
		{ "resolver", required_argument, 0, 'r' }, { "dnsbl", required_argument, 0, 'b' },
		{ "timeout", required_argument, 0, 't' }, { "json", no_argument, 0, 'j' }, { 0, 0, 0, 0 },
	};
	static const char *const default_zones[] = { "zen.spamhaus.org", "bl.spamcop.net" };
	const char *ips[DNSCHECK_IPS_MAX], *zones[DNSCHECK_DNSBLS_MAX];
	size_t n_ips = 0, n_zones = 0;
	bool no_zones = false;
	const char *domain = NULL, *sel = NULL, *dkdom = NULL, *resolver = NULL;
	double deadline = 10;
	struct checklist cl;
	int c, rc, code;

	optind = 0;                     /* GNU: start over, argv[0] is "dns" */
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'i': {
			struct dnsrules_ip a;

			if (dnsrules_ip_parse(optarg, &a))
				return usage("--ip %s is not an IPv4 or IPv6 address", safe(optarg));
			if (n_ips >= DNSCHECK_IPS_MAX)
				return usage("at most %d --ip", DNSCHECK_IPS_MAX);
			ips[n_ips++] = optarg;
			break;
		}
		case 'd': domain = optarg; break;
		case 's': sel = optarg; break;
		case 'D': dkdom = optarg; break;
		case 'r': {
			struct sockaddr_storage ss;
			int len = (int)sizeof(ss);

			if (evutil_parse_sockaddr_port(optarg, (struct sockaddr *)&ss, &len))
				return usage("--resolver %s is not IP, IP:PORT or [IPv6]:PORT", safe(optarg));
			resolver = optarg;
			break;
		}
		case 'b':
			if (!strcmp(optarg, "none")) {
				no_zones = true;
				break;
			}
			if (!dnsrules_name_valid(optarg))
				return usage("--dnsbl %s is not a DNS zone", safe(optarg));
			if (n_zones >= DNSCHECK_DNSBLS_MAX)
				return usage("at most %d --dnsbl", DNSCHECK_DNSBLS_MAX);
			zones[n_zones++] = optarg;
			break;
		case 't': {
			char *end;

			errno = 0;
			deadline = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(deadline >= 0.1 && deadline <= 600))
				return usage("--timeout %s is not 0.1 to 600 seconds", safe(optarg));
			break;
		}
		case 'j': json = true; break;
		default: return usage("bad option");
		}
	}
	if (optind < argc)
		return usage("unexpected argument \"%s\"", safe(argv[optind]));
	if (n_ips == 0 || !domain)
		return usage("--ip and --domain are required");
	if (!dnsrules_name_valid(domain))
		return usage("--domain %s is not a domain name", safe(domain));
	if (no_zones) {
		n_zones = 0;
	} else if (n_zones == 0) {
		zones[0] = default_zones[0];
		zones[1] = default_zones[1];
		n_zones = 2;
	}

	struct dnscheck_config cfg = {
		.resolver = resolver, .timeout_s = deadline / 4 < 2 ? deadline / 4 : 2, .attempts = 2,
		.deadline_s = deadline, .dnsbls = zones, .n_dnsbls = n_zones,
	};
	struct dnscheck_input in = {
		.ips = ips, .n_ips = n_ips, .from_domain = domain, .dkim_domain = dkdom, .dkim_selector = sel,
	};

	evdns_set_log_fn(quiet_evdns);
	checklist_init(&cl);
	rc = dnscheck_run(&cfg, &in, &cl);
	if (rc == -EINVAL) {
		checklist_fini(&cl);
		return resolver ? usage("bad --resolver, --ip or --dnsbl") :
			usage("no --resolver given and no nameserver in /etc/resolv.conf");
	}
	if (rc < 0) {
		fprintf(stderr, "twctl: whitelist dns: the checks could not run: %s\n", strerror(-rc));
		checklist_fini(&cl);
		return EX_REFUSED;
	}
	code = checklist_result(&cl) == CHECK_FAIL ? 1 : 0;
	if (json) {
		json_t *j = checklist_json(&cl);
		char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII) : NULL;

		if (!s) {
			fprintf(stderr, "twctl: whitelist dns: out of memory\n");
			code = EX_REFUSED;
		} else {
			puts(s);
		}
		free(s);
		json_decref(j);
	} else {
		struct table t = { .ncol = 3 };

		trow(&t, "CHECK", "STATUS", "REASON");
		for (size_t i = 0; i < cl.n; i++)
			trow(&t, safe(cl.v[i].name), check_status_name(cl.v[i].status), safe(cl.v[i].reason));
		tprint(&t, "no checks");
		printf("result: %s\n", check_status_name(checklist_result(&cl)));
	}
	checklist_fini(&cl);
	return code;
}
