#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The DNS checks of a whitelist request (doc/checks.md, "DNS checks")
# against a real DNS server: unbound in a network namespace made here,
# serving fixture zones on 127.0.0.1:5353 (no route out; never the
# internet).  Each case runs `twctl whitelist dns --json` for one sending
# IP and From domain and asserts the status of the checks that matter, the
# reason's key words and the exit code (1 exactly when a check fails):
# good senders (SPF through include, redirect and mx; DMARC at the
# organisational domain) and bad ones (a generated, missing or
# unconfirmed PTR; SPF that does not cover the IP, is missing or +all;
# DMARC missing or p=none; a revoked DKIM key; DNSBL listings on ZEN and
# SpamCop, and 127.255.255.x read as "query refused", not "listed"); and a
# resolver that does not answer (every line a warning, nothing passes).
#   TW_TWCTL=build/twctl bash tests/dns/run.sh      (root)
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=../lib/unbound.sh
source "$ROOT/tests/lib/unbound.sh"

tw_require dns TW_TWCTL -- unbound

WORK=$(mktemp -d /tmp/tw-dns.XXXXXX)
chmod 755 "$WORK"
NS="twdns$$"
DNS=127.0.0.1:5353
FAILED=0
tw_log() { printf '%s\n' "dns: $*" >&2; }
finish() {
	local rc=$?
	tw_cleanup_all
	if [[ -n "${TW_KEEP:-}" ]]; then tw_log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+: $2}"; FAILED=$((FAILED + 1)); }

ns_new "$NS" || { tw_log "cannot make the namespace"; exit 1; }
KEY=$(dkim_pubkey)
[[ -n $KEY ]] || { tw_log "openssl: cannot make a DKIM key"; exit 1; }

unbound_start "$NS" <<ZONES
  # good.example: every check passes for 198.18.9.10 (SPF through an include)
  local-zone: "good.example." static
  local-data: 'good.example. TXT "v=spf1 include:_spf.good.example -all"'
  local-data: '_spf.good.example. TXT "v=spf1 ip4:198.18.9.0/24 -all"'
  local-data: 'good.example. MX 10 mail.good.example.'
  local-data: 'mail.good.example. A 198.18.9.10'
  local-data: '_dmarc.good.example. TXT "v=DMARC1; p=reject; rua=mailto:dmarc@good.example"'
  local-data: 'sel1._domainkey.good.example. TXT "v=DKIM1; k=rsa; p=$KEY"'
  local-data: 'news.good.example. TXT "v=spf1 redirect=good.example"'
  local-data: 'sel1._domainkey.news.good.example. TXT "v=DKIM1; p=$KEY"'
  # SPF by mx, SPF that covers another network, +all, no SPF, weak DMARC, revoked key
  local-zone: "viamx.example." static
  local-data: 'viamx.example. TXT "v=spf1 mx -all"'
  local-data: 'viamx.example. MX 10 mail.good.example.'
  local-data: '_dmarc.viamx.example. TXT "v=DMARC1; p=quarantine"'
  local-zone: "elsewhere.example." static
  local-data: 'elsewhere.example. TXT "v=spf1 ip4:198.19.0.0/24 -all"'
  local-data: '_dmarc.elsewhere.example. TXT "v=DMARC1; p=reject"'
  local-zone: "open.example." static
  local-data: 'open.example. TXT "v=spf1 +all"'
  local-data: '_dmarc.open.example. TXT "v=DMARC1; p=none"'
  local-zone: "nothing.example." static
  local-data: 'nothing.example. A 198.18.9.10'
  local-zone: "revoked.example." static
  local-data: 'revoked.example. TXT "v=spf1 ip4:198.18.9.10 -all"'
  local-data: '_dmarc.revoked.example. TXT "v=DMARC1; p=reject"'
  local-data: 'sel1._domainkey.revoked.example. TXT "v=DKIM1; k=rsa; p="'
  # PTRs: good, generated from the IP, missing (.12), not forward-confirmed
  local-zone: "9.18.198.in-addr.arpa." static
  local-data-ptr: "198.18.9.10 mail.good.example"
  local-data-ptr: "198.18.9.11 11-9-18-198.pool.isp.example"
  local-data-ptr: "198.18.9.13 mail.unconfirmed.example"
  local-data-ptr: "198.18.9.20 mx1.good.example"
  local-data-ptr: "198.18.9.21 mx2.good.example"
  local-data-ptr: "198.18.9.22 mx3.good.example"
  local-data: 'mx1.good.example. A 198.18.9.20'
  local-data: 'mx2.good.example. A 198.18.9.21'
  local-data: 'mx3.good.example. A 198.18.9.22'
  local-zone: "unconfirmed.example." static
  local-data: 'mail.unconfirmed.example. A 198.18.9.99'
  # blocklists: .20 on ZEN's XBL, .21 refused by ZEN (127.255.255.254), .22 on SpamCop
  local-zone: "zen.spamhaus.org." static
  local-data: '20.9.18.198.zen.spamhaus.org. A 127.0.0.4'
  local-data: '20.9.18.198.zen.spamhaus.org. TXT "https://www.spamhaus.org/query/ip/198.18.9.20"'
  local-data: '21.9.18.198.zen.spamhaus.org. A 127.255.255.254'
  local-zone: "bl.spamcop.net." static
  local-data: '22.9.18.198.bl.spamcop.net. A 127.0.0.2'
ZONES
# ready when it answers a fixture name
dns_up() { in_ns "$NS" "$TW_TWCTL" --json whitelist dns --ip 198.18.9.10 --domain good.example \
	--resolver "$DNS" --dnsbl none --timeout 1 2>/dev/null | python3 -c 'import json,sys; sys.exit(0 if any(c["name"] == "ptr" and c["status"] == "pass" for c in json.load(sys.stdin)["checks"]) else 1)'; }
if wait_until 15 dns_up; then
	pass "unbound serves the fixture zones in namespace $NS"
else
	fail "unbound did not come up"; tail -n 20 "$WORK/unbound.log"; exit 1
fi

# case NAME IP DOMAIN SELECTOR|- WANT_RC "check=status[~reason word] ..." [RESOLVER]
case_() {
	local name=$1 ip=$2 dom=$3 sel=$4 want_rc=$5 expect=$6 resolver=${7:-$DNS} out rc bad
	local -a args=(--json whitelist dns --ip "$ip" --domain "$dom" --resolver "$resolver"
		--dnsbl zen.spamhaus.org --dnsbl bl.spamcop.net --timeout 2)
	[[ $sel == - ]] || args+=(--dkim-selector "$sel")
	out=$(in_ns "$NS" timeout 20 "$TW_TWCTL" "${args[@]}" 2>"$WORK/stderr"); rc=$?
	bad=$(printf '%s' "$out" | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    print("not JSON"); sys.exit()
for want in sys.argv[1].split():
    name, _, st = want.partition("=")
    st, _, word = st.partition("~")
    lines = [c for c in d["checks"] if c["name"] == name]   # one per IP and zone for dnsbl
    if not lines:
        print(name + ": absent"); continue
    if not any(c["status"] == st and word.replace("_", " ").lower() in c["reason"].lower() for c in lines):
        print("%s: %s, want %s%s" % (name, "; ".join("%s [%s]" % (c["status"], c["reason"]) for c in lines),
                                     st, " ~" + word if word else ""))
if sys.argv[2] and d["result"] != sys.argv[2]:
    print("result " + d["result"] + ", want " + sys.argv[2])
' "$expect" "${8:-}")
	if [[ -z $bad && $rc == "$want_rc" ]]; then
		pass "$name"
	else
		fail "$name" "rc=$rc (want $want_rc) $bad $(head -c 300 "$WORK/stderr")"
	fi
}

case_ "a good sender: meaningful, confirmed PTR; SPF through include; DMARC; DKIM key; not listed" \
	198.18.9.10 good.example sel1 0 "ptr=pass fcrdns=pass spf=pass dmarc=pass~reject dkim_key=pass dnsbl=pass" "" pass
case_ "a subdomain sender: SPF by redirect, DMARC found at the organisational domain" \
	198.18.9.10 news.good.example sel1 0 "spf=pass dmarc=pass dkim_key=pass" "" pass
case_ "SPF by the mx mechanism covers the IP" \
	198.18.9.10 viamx.example - 0 "spf=pass dmarc=pass dkim_key=warn"
case_ "a PTR generated from the IP fails, and names it" \
	198.18.9.11 good.example sel1 1 "ptr=fail~generated"
case_ "no PTR fails" \
	198.18.9.12 good.example sel1 1 "ptr=fail"
case_ "a PTR whose name does not resolve back to the IP fails forward confirmation" \
	198.18.9.13 good.example sel1 1 "ptr=pass fcrdns=fail"
case_ "SPF that covers another network fails for this IP" \
	198.18.9.10 elsewhere.example - 1 "spf=fail dmarc=pass"
case_ "SPF +all and DMARC p=none are warnings" \
	198.18.9.10 open.example - 0 "spf=warn dmarc=warn"
case_ "a domain without SPF and DMARC fails both" \
	198.18.9.10 nothing.example - 1 "spf=fail~no_spf dmarc=fail"
case_ "a revoked DKIM key (empty p=) fails" \
	198.18.9.10 revoked.example sel1 1 "dkim_key=fail~revoked spf=pass"
case_ "a DKIM selector without a key record fails" \
	198.18.9.10 good.example nosuch 1 "dkim_key=fail"
case_ "listed on Spamhaus ZEN (127.0.0.4, XBL) fails with the zone and the code" \
	198.18.9.20 good.example sel1 1 "dnsbl=fail~zen.spamhaus.org dnsbl=fail~127.0.0.4"
case_ "ZEN answering 127.255.255.254 is a refused query: a warning, not a listing" \
	198.18.9.21 good.example sel1 0 "dnsbl=warn~refused ptr=pass fcrdns=pass"
case_ "listed on SpamCop fails" \
	198.18.9.22 good.example sel1 1 "dnsbl=fail~bl.spamcop.net"

# a resolver that never answers: nothing passes and nothing is called a listing
spawn "$NS" python3 -c 'import socket,time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 5354)); time.sleep(60)'
start=$(date +%s%N)
case_ "a resolver that does not answer: every line a warning (timed out), exit 0" \
	198.18.9.10 good.example sel1 0 "ptr=warn fcrdns=warn spf=warn dmarc=warn dkim_key=warn dnsbl=warn" 127.0.0.1:5354 warn
ms=$(( ($(date +%s%N) - start) / 1000000 ))
if (( ms < 6000 )); then pass "the silent resolver run ended by its deadline (${ms} ms for --timeout 2)"; else fail "deadline" "${ms} ms"; fi

# usage errors
in_ns "$NS" "$TW_TWCTL" whitelist dns --ip 300.1.1.1 --domain good.example --resolver "$DNS" >/dev/null 2>&1; rc1=$?
in_ns "$NS" "$TW_TWCTL" whitelist dns --ip 198.18.9.10 --domain "bad domain" --resolver "$DNS" >/dev/null 2>&1; rc2=$?
if [[ $rc1 == 2 && $rc2 == 2 ]]; then pass "a bad IP or domain is a usage error (exit 2)"; else fail "usage" "rc=$rc1,$rc2"; fi

if ((FAILED)); then echo "dns: $FAILED check(s) failed"; exit 1; fi
echo "dns: all checks passed"
