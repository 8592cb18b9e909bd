#!/bin/bash
# SPDX-License-Identifier: MIT
# A whitelist request from filing to "this VM's burst is not blocked" (as
# root):
#
#   TW_AGENT=... TW_CONTROLLER=... TW_TWCTL=... bash tests/wlreq/run.sh
#
# One simulated hypervisor (namespace with a bridge, veth taps, smtp-sink,
# real nftables) with an agent, a real redis-server, a controller with a
# tokens file, and a real DNS server (unbound) serving fixture zones in the
# hypervisor's namespace: the newsletter domain shop.example (PTR
# mail.shop.example for N's address, forward-confirmed, SPF, DMARC, the
# DKIM key) and local copies of zen.spamhaus.org and bl.spamcop.net (S's
# address is listed on ZEN and has a generated PTR).  Then, with twctl:
#   - lint: N's sample passes, S's fails (exit 1) for the right reasons;
#   - a request for N: every message, request and DNS check is there and
#     nothing fails; a request for S: the approval is refused (409) without
#     --force, the rejection is recorded; a second request for a VM with a
#     pending one is refused;
#   - roles: a viewer may list but not file, approve or download; support
#     downloads the sample byte for byte;
#   - N's approval reaches the agent's whitelist cache; N's burst is then
#     not blocked while S's identical burst is (same policy, same agent);
#   - revoking N's entry marks the request revoked; a new request for N is
#     rechecked and approved for one minute, and expires (request and
#     agent); the audit log has every step.
# Every wait is bounded; cleanup stops processes by PID and deletes the
# namespaces.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=../lib/unbound.sh
source "$ROOT/tests/lib/unbound.sh"
# shellcheck source=../lib/daemon.sh
source "$ROOT/tests/lib/daemon.sh"
# shellcheck source=../lib/tokens.sh
source "$ROOT/tests/lib/tokens.sh"
# shellcheck source=../lib/hv.sh
source "$ROOT/tests/lib/hv.sh"

tw_require wlreq TW_AGENT TW_CONTROLLER TW_TWCTL -- nft redis-server redis-cli smtp-sink curl unbound

WORK=$(mktemp -d /tmp/tw-wlreq.XXXXXX)
chmod 755 "$WORK"
TAG="twwr$$"
NS="$TAG-hv" NS_S="$TAG-s" NS_N="$TAG-gn" NS_X="$TAG-gx"
UUID_N=dddddddd-7777-4000-8000-00000000000d
UUID_X=eeeeeeee-7777-4000-8000-00000000000e
SOCK="$WORK/redis.sock"
CTL=127.0.0.1:18461 MET=127.0.0.1:9193 DNS=127.0.0.1:5353
IP_N=198.18.8.3 IP_X=198.18.8.2
FAILED=0

tw_log() { printf '%s\n' "wlreq: $*" >&2; }
finish() {
	local rc=$?
	tw_cleanup_all
	if [[ -n "${TW_KEEP:-}" ]]; then tw_log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

in_hv() { ip netns exec "$NS" "$@"; }
twctl() { in_hv "$TW_TWCTL" --controller "http://$CTL" --operator wlreq-test "$@"; }
metric() { in_hv curl -sf --max-time 5 "http://$MET/metrics" | awk -v n="$1" -v l="${2:-}" '(index($0, n "{") == 1 || index($0, n " ") == 1) && (l == "" || index($0, l)) { print $NF; exit }'; }
m_is() { [[ "$(metric "$1" "$2")" == "$3" ]]; }
show() { tail -n "${2:-20}" "$WORK/$1" | sed 's/^/    | /'; }
blocked() { twctl --json blocks list 2>/dev/null | grep -q "\"$1\""; }
# status of check NAME in a checklist JSON on stdin (the first line of that name)
check_of() { python3 -c 'import json,sys
d = json.load(sys.stdin)
c = next((c for c in d["checks"] if c["name"] == sys.argv[1]), None)
print(c["status"] + "[" + c["reason"] + "]" if c and len(sys.argv) > 2 else c["status"] if c else "absent")' "$@"; }
expect_checks() { # file "name=status ..."
	local f=$1 pair got bad=""
	for pair in $2; do
		got=$(check_of "${pair%%=*}" <"$f")
		[[ $got == "${pair#*=}" ]] || bad+=" ${pair%%=*}:$(check_of "${pair%%=*}" why <"$f")(want ${pair#*=})"
	done
	[[ -z $bad ]] || { echo "$bad"; return 1; }
}

# ---- topology, DNS, Redis, agent, controller ---------------------------------------------------
make_tokens "$WORK" "$TW_TWCTL" || { tw_log "cannot make API tokens"; exit 1; }
export TWCTL_TOKEN_FILE="$WORK/support.tok"
hypervisor "$NS" "$NS_S" 198.18.8 || { tw_log "cannot make the hypervisor"; exit 1; }
for g in "$NS_N" "$NS_X"; do ns_new "$g" || exit 1; done
guest_on "$NS" "$NS_N" tapn0 52:54:00:7b:00:01 $IP_N &&
	guest_on "$NS" "$NS_X" tapx0 52:54:00:7a:00:01 $IP_X || { tw_log "cannot make the guests"; exit 1; }
{ echo "<node>"; domain news-n $UUID_N 52:54:00:7b:00:01 tapn0; domain spam-x $UUID_X 52:54:00:7a:00:01 tapx0
  echo "</node>"; } >"$WORK/node.xml"

# a real RSA public key for the DKIM key record (the sample's signature is not verified)
KEY=$(dkim_pubkey)
[[ -n $KEY ]] || { tw_log "openssl: cannot make a DKIM key"; exit 1; }
unbound_start "$NS" <<ZONES
  local-zone: "shop.example." static
  local-data: 'shop.example. TXT "v=spf1 ip4:198.18.8.0/29 -all"'
  local-data: "shop.example. MX 10 mail.shop.example."
  local-data: "mail.shop.example. A $IP_N"
  local-data: '_dmarc.shop.example. TXT "v=DMARC1; p=reject; rua=mailto:dmarc@shop.example"'
  local-data: 'sel1._domainkey.shop.example. TXT "v=DKIM1; k=rsa; p=$KEY"'
  local-zone: "prize.example." static
  local-data: 'prize.example. TXT "v=spf1 ~all"'
  local-zone: "8.18.198.in-addr.arpa." static
  local-data-ptr: "$IP_N mail.shop.example"
  local-data-ptr: "$IP_X 198-18-8-2.dyn.isp.example"
  local-zone: "zen.spamhaus.org." static
  local-data: "2.8.18.198.zen.spamhaus.org. A 127.0.0.2"
  local-zone: "bl.spamcop.net." static
ZONES
dns_up() { in_hv python3 - "$DNS" <<'PY'
import socket, struct, sys
host, port = sys.argv[1].rsplit(":", 1)
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(p)]) + p.encode() for p in "mail.shop.example".split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1); s.sendto(q, (host, int(port)))
r = s.recv(512); sys.exit(0 if r[:2] == b"\x12\x34" and struct.unpack(">H", r[6:8])[0] >= 1 else 1)
PY
}
in_hv ip link set lo up
spawn "$NS" redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --dir "$WORK" --save "" \
	--appendonly no >"$WORK/redis.log" 2>&1
wait_until 10 bash -c "redis-cli -s '$SOCK' ping 2>/dev/null | grep -q PONG" || { tw_log "redis did not start"; exit 1; }
spawn "$NS" "$TW_CONTROLLER" --redis "unix:$SOCK" --policy "$ROOT/policies/default.yaml" --listen "$CTL" --consumer wr1 \
	--tokens "$WORK/tokens.yaml" --resolver "$DNS" --dns-timeout 1 >"$WORK/ctl.log" 2>&1
spawn "$NS" "$TW_AGENT" --libvirt "test://$WORK/node.xml" --policy "$ROOT/policies/default.yaml" \
	--replies "$ROOT/policies/replies.yaml" --metrics "$MET" --redis "unix:$SOCK" --agent-id hv1 \
	--state-dir "$WORK/state" --heartbeat 1 --resync-interval 5 >"$WORK/agent.log" 2>&1
if wait_until 10 dns_up && wait_until 10 bash -c "ip netns exec '$NS' curl -sf http://$CTL/healthz >/dev/null" &&
	wait_until 20 m_is tapwarden_report_connected "" 1; then
	pass "unbound, redis, controller and agent up in the hypervisor's namespace"
else
	fail "start"; show unbound.log; show ctl.log; show agent.log; exit 1
fi

python3 "$HERE/sample.py" good shop.example >"$WORK/good.eml"
python3 "$HERE/sample.py" bad prize.example >"$WORK/bad.eml"
printf 'signup form screenshot' >"$WORK/signup-form.txt"

# ---- lint, offline ------------------------------------------------------------------------------------
"$TW_TWCTL" --json whitelist lint "$WORK/good.eml" >"$WORK/lint-good.json"; rc_good=$?
"$TW_TWCTL" --json whitelist lint "$WORK/bad.eml" >"$WORK/lint-bad.json"; rc_bad=$?
if ((rc_good == 0 && rc_bad == 1)) && [[ $(json_get result <"$WORK/lint-good.json") == pass ]] &&
	r=$(expect_checks "$WORK/lint-bad.json" "body_unsubscribe=fail dkim=fail html_content=fail link_redirects=fail list_unsubscribe=fail subject=warn structure=pass"); then
	pass "lint: the newsletter passes (exit 0), the spam fails (exit 1) on unsubscribe, DKIM, script, shortener"
else
	fail "lint" "rc_good=$rc_good rc_bad=$rc_bad ${r:-}"; cat "$WORK/lint-good.json"
fi

# ---- requests ---------------------------------------------------------------------------------------------
req() { # uuid sample ip ticket
	twctl --json whitelist request --vm "$1" --ticket "$4" --customer C-7 \
		--consent-method "double opt-in: sign-up form, then a confirmation link by mail" \
		--signup-url https://shop.example/newsletter --unsubscribe-url https://shop.example/unsubscribe/u42 \
		--sample "$2" --ip "$3" --evidence "$WORK/signup-form.txt"
}
t0=$(date +%s%N)
if req $UUID_N "$WORK/good.eml" $IP_N T-1 >"$WORK/req-n.json" 2>"$WORK/req-n.err"; then
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	ID_N=$(json_get id <"$WORK/req-n.json")
	if r=$(expect_checks "$WORK/req-n.json" "sample_size=pass structure=pass dkim=pass one_click=pass body_unsubscribe=pass unsubscribe_url=pass signup_url=pass consent_method=pass ptr=pass fcrdns=pass spf=pass dmarc=pass dkim_key=pass dnsbl=pass") &&
		[[ $(json_get result <"$WORK/req-n.json") != fail && $(json_get state <"$WORK/req-n.json") == pending ]]; then
		pass "request $ID_N for N: message, request and DNS checks all pass (answered in $ms ms)"
	else
		fail "N's checklist" "${r:-} result=$(json_get result <"$WORK/req-n.json")"
		python3 -c 'import json,sys; [print("   ", c["name"], c["status"], c["reason"]) for c in json.load(sys.stdin)["checks"]]' <"$WORK/req-n.json"
	fi
else
	fail "N's request" "$(cat "$WORK/req-n.err")"; show ctl.log; ID_N=0
fi
if req $UUID_X "$WORK/bad.eml" $IP_X T-2 >"$WORK/req-x.json" 2>"$WORK/req-x.err"; then
	ID_X=$(json_get id <"$WORK/req-x.json")
	if r=$(expect_checks "$WORK/req-x.json" "dkim=fail unsubscribe_url=fail ptr=fail dnsbl=fail spf=fail dmarc=fail") &&
		[[ $(json_get result <"$WORK/req-x.json") == fail ]]; then
		pass "request $ID_X for X: fails on DKIM, the unsubscribe URL, a generated PTR, ZEN, SPF and DMARC"
	else
		fail "X's checklist" "${r:-}"
	fi
else
	fail "X's request" "$(cat "$WORK/req-x.err")"; ID_X=0
fi
if ! req $UUID_N "$WORK/good.eml" $IP_N T-3 >/dev/null 2>"$WORK/dup.err" && grep -q "still pending" "$WORK/dup.err"; then
	pass "a second request for a VM with a pending one is refused"
else
	fail "duplicate request" "$(cat "$WORK/dup.err")"
fi
twctl whitelist approve "$ID_X" --for 1d --reason "try" >/dev/null 2>"$WORK/ax.err"; rc=$?
if ((rc == 1)) && grep -q "checks failed" "$WORK/ax.err" && twctl whitelist reject "$ID_X" --reason "spam sample" >/dev/null &&
	[[ $(twctl --json whitelist review "$ID_X" | json_get state) == rejected ]]; then
	pass "X: approval refused without --force (exit 1: $(head -c 80 "$WORK/ax.err")...), then rejected"
else
	fail "X's approval refusal" "rc=$rc $(cat "$WORK/ax.err")"
fi

# ---- roles and evidence ----------------------------------------------------------------------------------
V="$WORK/viewer.tok"
if twctl --token-file "$V" whitelist requests | grep -q "T-1" &&
	{ twctl --token-file "$V" whitelist request --vm $UUID_X --ticket T-9 --customer C --consent-method x \
		--signup-url https://a.example/ --unsubscribe-url https://a.example/u --sample "$WORK/good.eml" --ip $IP_X \
		>/dev/null 2>&1; [[ $? == 5 ]]; } &&
	{ twctl --token-file "$V" whitelist approve "$ID_N" --for 1d --reason r >/dev/null 2>&1; [[ $? == 5 ]]; } &&
	{ twctl --token-file "$V" whitelist evidence "$ID_N" sample --output "$WORK/v.eml" >/dev/null 2>&1; [[ $? == 5 ]]; }; then
	pass "viewer: lists requests; filing, approving and downloading evidence are refused (exit 5)"
else
	fail "viewer role on requests"
fi
if twctl whitelist evidence "$ID_N" sample --output "$WORK/dl.eml" 2>/dev/null && cmp -s "$WORK/dl.eml" "$WORK/good.eml" &&
	twctl whitelist evidence "$ID_N" signup-form.txt >"$WORK/dl.txt" && cmp -s "$WORK/dl.txt" "$WORK/signup-form.txt" &&
	[[ $(in_hv curl -s -o /dev/null -w '%{content_type}' -H "Authorization: Bearer $(cat "$WORK/support.tok")" \
		"http://$CTL/v1/requests/$ID_N/files/sample") == application/octet-stream ]]; then
	pass "support downloads the sample and the evidence byte for byte, as application/octet-stream"
else
	fail "evidence download"
fi

# ---- approval reaches the agent; N's burst is not blocked, X's is ------------------------------------------
if twctl whitelist approve "$ID_N" --for 30d --reason "double opt-in verified" >/dev/null &&
	wait_until 10 grep -q "$UUID_N" "$WORK/state/whitelist.cache" &&
	wait_until 10 m_is tapwarden_vm_whitelisted "vm=\"$UUID_N\"" 1; then
	pass "N's approval: the entry is in the agent's whitelist cache and /metrics"
else
	fail "N's approval on the agent"; show agent.log
fi
sent_n=$(burst "$NS_N" 198.18.8.1)
sent_x=$(burst "$NS_X" 198.18.8.1)
if [[ $sent_n == 200 ]] && wait_until 20 blocked "$UUID_X" && ! blocked "$UUID_N" &&
	[[ $(elems_vm "$NS" "$UUID_N") == 0 && $(elems_vm "$NS" "$UUID_X") == 1 ]] && smtp_ok "$NS_N" 198.18.8.1; then
	pass "the same burst: N (whitelisted) sent all $sent_n messages and is not blocked; X is blocked after $sent_x"
else
	fail "bursts" "sent_n=$sent_n sent_x=$sent_x n_elems=$(elems_vm "$NS" "$UUID_N")"; show agent.log
fi

# ---- revoke, audit -------------------------------------------------------------------------------------------
if twctl whitelist revoke "$UUID_N" --reason "customer ended the newsletter" >/dev/null &&
	[[ $(twctl --json whitelist review "$ID_N" | json_get state) == revoked ]] &&
	wait_until 10 m_is tapwarden_vm_whitelisted "vm=\"$UUID_N\"" 0; then
	pass "revoking N's entry marks request $ID_N revoked and reaches the agent"
else
	fail "revoke"
fi
# ---- a new request after the revocation: recheck, a one-minute approval that expires --------------------------
ID_3=$(twctl --json whitelist request --vm "$UUID_N" --ticket T-3 --customer C-7 \
	--consent-method "double opt-in: sign-up form, then a confirmation link by mail" \
	--signup-url https://shop.example/newsletter --unsubscribe-url https://shop.example/unsubscribe/u42 \
	--sample "$WORK/good.eml" --ip "$IP_N" 2>/dev/null | json_get id)
if [[ -n $ID_3 ]] && twctl --json whitelist recheck "$ID_3" >"$WORK/recheck.json" &&
	[[ $(json_get result <"$WORK/recheck.json") == pass ]] &&
	twctl whitelist approve "$ID_3" --for 1m --reason "trial minute" >/dev/null &&
	wait_until 10 m_is tapwarden_vm_whitelisted "vm=\"$UUID_N\"" 1; then
	pass "request $ID_3 for N after the revocation: rechecked (pass), approved for one minute"
else
	fail "request 3" "id=$ID_3 $(head -c 300 "$WORK/recheck.json" 2>/dev/null)"
fi
req_is() { [[ $(twctl --json whitelist review "$1" 2>/dev/null | json_get state) == "$2" ]]; }
if wait_until 90 req_is "$ID_3" expired &&
	wait_until 10 m_is tapwarden_vm_whitelisted "vm=\"$UUID_N\"" 0; then
	pass "the one-minute approval expired: request $ID_3 is expired and the agent dropped the entry"
else
	fail "expiry" "$(twctl --json whitelist review "$ID_3" | json_get state)"
fi
actions=$(twctl --json audit --limit 50 | python3 -c 'import json,sys; print(" ".join(sorted({e["action"] for e in json.load(sys.stdin)["entries"]})))')
if [[ $actions == *whitelist_request* && $actions == *whitelist_approve* && $actions == *whitelist_reject* && $actions == *whitelist_revoke* &&
	$actions == *whitelist_recheck* && $actions == *whitelist_expire* ]]; then
	pass "the audit log has the request, recheck, approval, rejection, revocation and expiry"
else
	fail "audit" "$actions"
fi

if ((FAILED)); then
	echo "wlreq: $FAILED check(s) failed"
	show ctl.log
	exit 1
fi
echo "wlreq: all checks passed"
