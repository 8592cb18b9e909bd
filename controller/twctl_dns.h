/* SPDX-License-Identifier: MIT */
/*
 * twctl_dns: `twctl whitelist dns`, the DNS checks of a whitelist request
 * run from the operator's host against a resolver (doc/checks.md).
 */
#ifndef TAPWARDEN_TWCTL_DNS_H
#define TAPWARDEN_TWCTL_DNS_H

#include <stdbool.h>

/*
 * twctl whitelist dns --ip IP [--ip IP ...] --domain DOMAIN
 *   [--dkim-selector S] [--dkim-domain D] [--resolver ADDR[:PORT]]
 *   [--dnsbl ZONE ...] [--timeout SECONDS] [--json]
 * argv[0] is "dns" (argv borrowed).  Prints the checklist (a table, or
 * {"checks": [...], "result": ...} with json or --json) and returns the
 * exit code: 0 no check failed, 1 one did (or the checks could not run),
 * 2 usage.
 */
int twctl_dns_main(int argc, char **argv, bool json);

#endif
