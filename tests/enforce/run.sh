#!/bin/bash
# SPDX-License-Identifier: MIT
# Enforcement with real nftables and real traffic (as root):
#
#   TW_AGENT=/abs/path/tapwarden-agent bash tests/enforce/run.sh
#
# A "hypervisor" namespace holds br0 and three veth taps (tapa0, tapb0,
# tapw0) whose guests live in namespaces of their own (198.18.3.2/.3/.4 and
# fd00:198:18:3::2/3/4); a server namespace runs smtp-sink on port 25 (IPv4
# and IPv6) and an HTTP server on port 80.  libvirt's test driver maps the
# taps to three domains; W is on the whitelist.  The agent runs in the hv
# namespace with real enforcement (table netdev tapwarden there only), a
# test policy whose first block lasts BLOCK_S seconds, and:
#   - A's burst blocks A: A's next SMTP connections (IPv4 and IPv6) fail,
#     its HTTP works, B's SMTP works, the kernel holds one element for
#     tapa0's ifindex with "vm=A" and one chain;
#   - A changes its MAC and its address: still blocked;
#   - W sends the same burst: never blocked (whitelist), its SMTP works;
#   - SIGKILL of the agent: the block stays in the kernel; a new agent
#     adopts it (no duplicate element or chain);
#   - `nft flush ruleset` by someone else: repaired within seconds;
#   - the block expires in the kernel: A's SMTP works again, the chain goes;
#   - --remove-enforcement deletes the table;
#   - (TW_NFTBULK) 10,000 blocks installed in one transaction and removed in
#     one, the kernel's set checked after each.
# Every wait is bounded; cleanup stops processes by PID and deletes the
# namespaces (which takes their nftables with them).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=../lib/daemon.sh
source "$ROOT/tests/lib/daemon.sh"

[[ -x "${TW_AGENT:-}" ]] || { echo "enforce: TW_AGENT must name the agent" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "enforce: must run as root" >&2; exit 2; }
for tool in nft swaks smtp-sink python3 curl; do
	command -v "$tool" >/dev/null || { echo "enforce: missing tool: $tool" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/tw-enforce.XXXXXX)
chmod 755 "$WORK"
TAG="twen$$"
NS_HV="$TAG-hv" NS_SRV="$TAG-srv" NS_A="$TAG-ga" NS_B="$TAG-gb" NS_W="$TAG-gw"
UUID_A=aaaaaaaa-3333-4000-8000-00000000000a
UUID_B=bbbbbbbb-3333-4000-8000-00000000000b
UUID_W=dddddddd-3333-4000-8000-00000000000d
METRICS=127.0.0.1:9189
BLOCK_S=${BLOCK_S:-25}
FAILED=0
AGENT_PID=

finish() {
	local rc=$?
	tw_cleanup_all
	if [[ -n "${TW_KEEP:-}" ]]; then tw_log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

tw_log() { printf '%s\n' "enforce: $*" >&2; }
nft_hv() { ip netns exec "$NS_HV" nft "$@"; }
ifindex() { ip netns exec "$NS_HV" cat "/sys/class/net/$1/ifindex"; }
# elements of @blocked for an ifindex (a count), and chains
elems_for() { nft_hv -j list set netdev tapwarden blocked 2>/dev/null |
	python3 -c 'import json,sys
n = 0
for o in json.load(sys.stdin)["nftables"]:
    for e in o.get("set", {}).get("elem", []):
        v = e["elem"]["val"] if isinstance(e, dict) and "elem" in e else e
        c = e["elem"].get("comment", "") if isinstance(e, dict) and "elem" in e else ""
        if str(v) in (sys.argv[1], sys.argv[2]) and c.startswith("vm=" + sys.argv[3]):
            n += 1
print(n)' "$1" "$2" "$3"; }
chain_count() { nft_hv list table netdev tapwarden 2>/dev/null | grep -c "chain tap$1 "; }
# smtp_ok NS ADDR: a full SMTP dialogue to ADDR:25 within 3 s
smtp_ok() { timeout 10 ip netns exec "$1" python3 -c 'import smtplib,sys
s = smtplib.SMTP(sys.argv[1], 25, timeout=3); s.ehlo("probe.tw.test"); s.quit()' "$2" 2>/dev/null; }
smtp_blocked() { ! smtp_ok "$@"; }
http_ok() { ip netns exec "$1" curl -sf --max-time 3 -o /dev/null "http://198.18.3.1/"; }

guest() {
	local ns=$1 tap=$2 mac=$3 addr=$4 addr6=$5
	ns_new "$ns" || return 1
	ip -n "$NS_HV" link add "$tap" type veth peer name eth0 netns "$ns" || return 1
	ip -n "$ns" link set eth0 address "$mac" up || return 1
	ip -n "$ns" addr add "$addr/24" dev eth0 && ip -n "$ns" addr add "$addr6/64" dev eth0 || return 1
	ip -n "$NS_HV" link set "$tap" master br0 up
}

start_agent() {
	ip netns exec "$NS_HV" "$TW_AGENT" --libvirt "test://$HERE/node.xml" \
		--policy "$WORK/policy.yaml" --replies "$ROOT/policies/replies.yaml" --whitelist "$WORK/whitelist.txt" \
		--verdicts "$WORK/verdicts.jsonl" --metrics "$METRICS" >>"$WORK/agent.log" 2>&1 &
	AGENT_PID=$!
	TW_PIDS+=("$AGENT_PID")
	wait_until 20 metrics_up && wait_until 10 metric_is tapwarden_capture_up 'tap="tapa0"' 1
}

# ---- topology ------------------------------------------------------------------------
ns_new "$NS_HV" && ns_new "$NS_SRV" || { tw_log "cannot make namespaces"; exit 1; }
hv_bridge "$NS_HV" "$NS_SRV" 198.18.3.1/24 fd00:198:18:3::1/64 || { tw_log "cannot make the bridge"; exit 1; }
guest "$NS_A" tapa0 52:54:00:3a:00:01 198.18.3.2 fd00:198:18:3::2 &&
	guest "$NS_B" tapb0 52:54:00:3b:00:01 198.18.3.3 fd00:198:18:3::3 &&
	guest "$NS_W" tapw0 52:54:00:3d:00:01 198.18.3.4 fd00:198:18:3::4 || { tw_log "cannot make the guests"; exit 1; }
ip netns exec "$NS_SRV" smtp-sink -u postfix 198.18.3.1:25 64 >"$WORK/sink4.log" 2>&1 &
TW_PIDS+=("$!")
ip netns exec "$NS_SRV" smtp-sink -u postfix '[fd00:198:18:3::1]:25' 64 >"$WORK/sink6.log" 2>&1 &
TW_PIDS+=("$!")
mkdir -p "$WORK/www" && echo hello >"$WORK/www/index.html"
ip netns exec "$NS_SRV" python3 -m http.server --bind 198.18.3.1 --directory "$WORK/www" 80 >"$WORK/http.log" 2>&1 &
TW_PIDS+=("$!")
wait_until 10 tcp_listening "$NS_SRV" 198.18.3.1 25 && wait_until 10 tcp_listening "$NS_SRV" 198.18.3.1 80 ||
	{ tw_log "servers did not start"; exit 1; }
wait_until 10 smtp_ok "$NS_A" fd00:198:18:3::1 || { tw_log "IPv6 SMTP does not work before any block"; exit 1; }
# the test policy: the default one with a short first block
sed "s/^  ladder: \[1h, /  ladder: [${BLOCK_S}s, /" "$ROOT/policies/default.yaml" >"$WORK/policy.yaml"
grep -q "ladder: \[${BLOCK_S}s," "$WORK/policy.yaml" || { tw_log "cannot make the test policy"; exit 1; }
printf '%s # ticket 7001, approved newsletter\n' "$UUID_W" >"$WORK/whitelist.txt"
IDX_A=$(ifindex tapa0)

# ---- the agent, enforcing --------------------------------------------------------------
if start_agent && nft_hv list set netdev tapwarden blocked >/dev/null 2>&1 && [[ $(chain_count "$IDX_A") == 0 ]]; then
	pass "agent started: table netdev tapwarden with its sets, no chain (nobody blocked)"
else
	fail "agent start / table"; show_agent_log; exit 1
fi
smtp_ok "$NS_A" 198.18.3.1 && pass "before any block: A's SMTP works" || fail "A's SMTP before the block"

# ---- A's burst ---------------------------------------------------------------------------
sent=$(timeout 120 ip netns exec "$NS_A" python3 "$ROOT/tests/live/send.py" 198.18.3.1 200 4 promo@a.tw.test --same --until-blocked)
if wait_until 15 metric_is tapwarden_vm_blocked "vm=\"$UUID_A\"" 1; then
	pass "A blocked after its burst ($sent messages got out)"
else
	fail "A not blocked" "sent $sent"; show_agent_log
fi
if [[ $(elems_for "$IDX_A" tapa0 "$UUID_A") == 1 && $(chain_count "$IDX_A") == 1 ]]; then
	pass "kernel: one element for tapa0 (ifindex $IDX_A) with vm=$UUID_A, one chain tap$IDX_A"
else
	fail "kernel state" "$(nft_hv list table netdev tapwarden | tr '\n' ' ' | cut -c1-400)"
fi
smtp_blocked "$NS_A" 198.18.3.1 && pass "A's SMTP over IPv4 fails" || fail "A's IPv4 SMTP still works"
smtp_blocked "$NS_A" fd00:198:18:3::1 && pass "A's SMTP over IPv6 fails" || fail "A's IPv6 SMTP still works"
http_ok "$NS_A" && pass "A's HTTP (port 80) still works" || fail "A's HTTP is blocked too"
smtp_ok "$NS_B" 198.18.3.1 && pass "neighbour B's SMTP works" || fail "B's SMTP blocked"
ip -n "$NS_A" link set eth0 down && ip -n "$NS_A" link set eth0 address 52:54:00:3a:99:99 &&
	ip -n "$NS_A" link set eth0 up && ip -n "$NS_A" addr add 198.18.3.99/24 dev eth0
if smtp_blocked "$NS_A" 198.18.3.1 && http_ok "$NS_A"; then
	pass "A changed its MAC and added 198.18.3.99: still blocked on port 25 only"
else
	fail "A evaded the block by changing MAC/IP"
fi
if [[ -n "$(metric tapwarden_vm_dropped_packets_total "vm=\"$UUID_A\"")" ]] &&
	wait_until 10 bash -c "[[ \$(ip netns exec $NS_HV curl -sf http://$METRICS/metrics | awk '/^tapwarden_vm_dropped_packets_total\\{vm=\"$UUID_A\"/ { print \$NF }') -gt 0 ]]"; then
	pass "A's dropped packets counted: $(metric tapwarden_vm_dropped_packets_total "vm=\"$UUID_A\"")"
else
	fail "drop counter for A"
fi

# ---- the whitelisted sender -------------------------------------------------------------------
sent=$(timeout 120 ip netns exec "$NS_W" python3 "$ROOT/tests/live/send.py" 198.18.3.1 200 4 news@w.tw.test --same --until-blocked)
if [[ "$sent" == 200 ]] && smtp_ok "$NS_W" 198.18.3.1 && metric_is tapwarden_vm_blocked "vm=\"$UUID_W\"" 0 &&
	[[ $(chain_count "$(ifindex tapw0)") == 0 ]]; then
	pass "whitelisted W sent the same burst (200 messages): not blocked, no chain"
else
	fail "whitelisted W" "sent $sent"
fi

# ---- SIGKILL and restart -------------------------------------------------------------------------
kill -KILL "$AGENT_PID"
wait_until 10 pid_gone "$AGENT_PID"
untrack_pid "$AGENT_PID"
if [[ $(elems_for "$IDX_A" tapa0 "$UUID_A") == 1 ]] && smtp_blocked "$NS_A" 198.18.3.1; then
	pass "agent killed (SIGKILL): the block stays in the kernel"
else
	fail "block gone with the agent"
fi
if start_agent && wait_until 10 metric_is tapwarden_vm_blocked "vm=\"$UUID_A\"" 1 &&
	grep -q "enforce: ready backend=nftables .*adopted=1" "$WORK/agent.log" &&
	[[ $(elems_for "$IDX_A" tapa0 "$UUID_A") == 1 && $(chain_count "$IDX_A") == 1 ]]; then
	pass "restarted agent adopted A's block: one element, one chain (no duplicates)"
else
	fail "restart reconcile"; show_agent_log 10
fi

# ---- someone flushes the ruleset ------------------------------------------------------------------
nft_hv flush ruleset
if wait_until 10 bash -c "[[ \$(ip netns exec $NS_HV nft list table netdev tapwarden 2>/dev/null | grep -c 'chain tap$IDX_A ') == 1 ]]" &&
	[[ $(elems_for "$IDX_A" tapa0 "$UUID_A") == 1 ]] && smtp_blocked "$NS_A" 198.18.3.1; then
	pass "nft flush ruleset by someone else: table, element and chain re-asserted"
else
	fail "flush not repaired"; show_agent_log 10
fi

# ---- expiry ------------------------------------------------------------------------------------------
if wait_until $((BLOCK_S + 15)) smtp_ok "$NS_A" 198.18.3.1 && wait_until 5 metric_is tapwarden_vm_blocked "vm=\"$UUID_A\"" 0 &&
	wait_until 5 bash -c "[[ \$(ip netns exec $NS_HV nft list table netdev tapwarden | grep -c 'chain tap') == 0 ]]"; then
	pass "the ${BLOCK_S}s block expired: A's SMTP works again, its chain is gone"
else
	fail "expiry"; show_agent_log 10
fi

# ---- stop, remove --------------------------------------------------------------------------------------
stop_pid "$AGENT_PID" TERM 10
untrack_pid "$AGENT_PID"
if out=$(ip netns exec "$NS_HV" "$TW_AGENT" --remove-enforcement) && [[ "$out" == "removed table netdev tapwarden" ]] &&
	! nft_hv list table netdev tapwarden >/dev/null 2>&1; then
	pass "--remove-enforcement deleted the table"
else
	fail "--remove-enforcement" "$out"
fi
# ---- 10,000 blocks in one transaction each, in a namespace of their own ---------------
if [[ -x "${TW_NFTBULK:-}" ]]; then
	ns_new "$TAG-bulk" || exit 1
	if out=$(timeout 120 ip netns exec "$TAG-bulk" "$TW_NFTBULK" 10000 2>&1); then
		pass "${out#nftbulk: }"
	else
		fail "10,000 blocks in one transaction" "$out"
	fi
fi
if (( FAILED )); then
	echo "enforce: $FAILED check(s) failed"
	show_agent_log 20
	exit 1
fi
echo "enforce: all checks passed"
