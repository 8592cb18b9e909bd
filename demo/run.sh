#!/bin/bash
# SPDX-License-Identifier: MIT
# `make demo`: the whole system on one machine (as root):
#
#   TW_AGENT=... TW_CONTROLLER=... TW_TWCTL=... bash demo/run.sh
#
# A simulated hypervisor: a network namespace with a bridge and one veth
# "tap" per guest (tapNAME: libvirt renames vnetN targets), five guests (namespaces) described to the agent by a
# libvirt test-driver node file, and a real Postfix in its own namespace as
# the mail server every guest talks to.  A redis-server on a unix socket,
# the agent (capture, detection, nftables, in the hypervisor's namespace)
# and the controller (API and dashboard on DEMO_LISTEN, default
# 127.0.0.1:8425) run for real.  The guests:
#
#   shop    a transactional sender: one order mail every 6 s (swaks)
#   news    a newsletter support whitelisted: 300 list messages at once
#   spam    a compromised VM: a few ordinary mails, then a spam burst
#   listed  low volume from an address on a blocklist: each message is
#           refused "554 ... blocked using zen.spamhaus.org" (swaks)
#   quiet   a web server: no mail at all
#
# The terminal shows a live summary; the demo runs until Ctrl-C, or, with
# DEMO_SECONDS=N, for N seconds unattended.  Either way it then writes
# DEMO_SUMMARY (default demo-summary.json at the repository root), stops
# every process it started (by PID) and deletes its namespaces.
# Addresses are 198.18.0.0/24 (RFC 2544 benchmarking space); no namespace
# has a route out.  Every traffic loop is bounded in count and time.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=../tests/integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=../tests/lib/tokens.sh
source "$ROOT/tests/lib/tokens.sh"
# shellcheck source=../tests/lib/hv.sh
source "$ROOT/tests/lib/hv.sh"

tw_require demo TW_AGENT TW_CONTROLLER TW_TWCTL -- nft redis-server redis-cli postfix swaks curl openssl
SECONDS_RUN=${DEMO_SECONDS:-0}
[[ $SECONDS_RUN =~ ^[0-9]+$ ]] && ((SECONDS_RUN == 0 || (SECONDS_RUN >= 45 && SECONDS_RUN <= 86400))) ||
	{ echo "demo: DEMO_SECONDS: 0 (until Ctrl-C) or 45 to 86400 seconds" >&2; exit 2; }
LISTEN=${DEMO_LISTEN:-127.0.0.1:8425}
SUMMARY=${DEMO_SUMMARY:-$ROOT/demo-summary.json}

WORK=$(mktemp -d /tmp/tw-demo.XXXXXX)
chmod 755 "$WORK"
TAG="twd$$"
NS_HV="$TAG-hv" NS_SRV="$TAG-mx"
SOCK="$WORK/redis.sock" MET=127.0.0.1:9187 MX=198.18.0.1
# name role address (the listed guest's address is the one Postfix's
# client_access table refuses: tests/integration/lib.sh postfix_setup)
GUESTS=(
	"shop transactional 198.18.0.2"
	"news whitelisted-newsletter 198.18.0.3"
	"listed blocklisted-low-volume 198.18.0.4"
	"spam compromised-spammer 198.18.0.5"
	"quiet no-mail 198.18.0.6"
)
uuid_of() { printf '%08x-7e00-4000-8000-%012x\n' $((0xd0000000 + $1)) "$1"; }

say() { printf '\033[1mdemo:\033[0m %s\n' "$*"; }
[[ -t 1 ]] || say() { printf 'demo: %s\n' "$*"; }
tw_log() { printf 'demo: %s\n' "$*" >&2; }
DRIVERS=()
finish() {
	local rc=$? p
	trap - INT TERM
	for p in "${DRIVERS[@]}"; do stop_pid "$p" TERM 3; done
	# Ctrl-C reaches the whole terminal's process group, the daemons too:
	# then the last snapshot of the live summary is the summary
	if [[ -s "$WORK/guests.json" ]] &&
		python3 "$HERE/summary.py" json "$WORK" "http://$LISTEN" "$NS_HV" >"$SUMMARY.tmp" 2>"$WORK/summary.err"; then
		mv "$SUMMARY.tmp" "$SUMMARY" && say "summary written to $SUMMARY"
	elif [[ -s "$WORK/snapshot.json" ]]; then
		rm -f "$SUMMARY.tmp"
		mv "$WORK/snapshot.json" "$SUMMARY" && say "summary (the last live one) written to $SUMMARY"
	else
		rm -f "$SUMMARY.tmp"
	fi
	say "stopping every process the demo started and deleting its namespaces"
	tw_cleanup_all
	if [[ -n "${TW_KEEP:-}" ]]; then tw_log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

in_hv() { ip netns exec "$NS_HV" "$@"; }
twctl() { "$TW_TWCTL" --controller "http://$LISTEN" --token-file "$WORK/support.tok" --operator demo "$@"; }

# ---- the hypervisor: bridge, mail server, guests on taps -------------------------------------
rm -f "$SUMMARY"
say "building the simulated hypervisor ($NS_HV): a bridge, a Postfix mail server, ${#GUESTS[@]} guests on veth taps"
ns_new "$NS_HV" && ns_new "$NS_SRV" || exit 1
hv_bridge "$NS_HV" "$NS_SRV" "$MX/24" fd00:198:18::1/64 || { tw_log "cannot make the bridge"; exit 1; }
postfix_setup "$WORK/postfix" && postfix_start "$WORK/postfix" || { tw_log "Postfix did not start"; exit 1; }
echo "<node>" >"$WORK/node.xml"
echo "[" >"$WORK/guests.json"
i=0
for g in "${GUESTS[@]}"; do
	read -r name role addr <<<"$g"
	i=$((i + 1))
	mac=$(printf '52:54:00:7e:00:%02x' "$i") uuid=$(uuid_of "$i")
	ns_new "$TAG-$name" && guest_on "$NS_HV" "$TAG-$name" "tap$name" "$mac" "$addr" ||
		{ tw_log "cannot make guest $name"; exit 1; }
	domain "demo-$name" "$uuid" "$mac" "tap$name" >>"$WORK/node.xml"
	printf '%s {"name": "demo-%s", "uuid": "%s", "role": "%s", "address": "%s", "tap": "tap%s"}\n' \
		"$([[ $i == 1 ]] || echo ,)" "$name" "$uuid" "$role" "$addr" "$name" >>"$WORK/guests.json"
	declare "UUID_$name=$uuid"
done
echo "</node>" >>"$WORK/node.xml"
echo "]" >>"$WORK/guests.json"

# ---- Redis, controller, agent -----------------------------------------------------------------------
make_tokens "$WORK" "$TW_TWCTL" || { tw_log "cannot make API tokens"; exit 1; }
redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --dir "$WORK" --save "" \
	--appendonly no >"$WORK/redis.log" 2>&1 &
TW_PIDS+=("$!")
wait_until 10 bash -c "redis-cli -s '$SOCK' ping 2>/dev/null | grep -q PONG" || { tw_log "redis did not start"; exit 1; }
"$TW_CONTROLLER" --redis "unix:$SOCK" --policy "$ROOT/policies/default.yaml" --listen "$LISTEN" --consumer demo \
	--tokens "$WORK/tokens.yaml" >"$WORK/controller.log" 2>&1 &
TW_PIDS+=("$!")
spawn "$NS_HV" "$TW_AGENT" --libvirt "test://$WORK/node.xml" --policy "$ROOT/policies/default.yaml" \
	--replies "$ROOT/policies/replies.yaml" --metrics "$MET" --redis "unix:$SOCK" --agent-id demo-hv1 \
	--state-dir "$WORK/state" --heartbeat 1 >"$WORK/agent.log" 2>&1
agent_up() { in_hv curl -sf --max-time 2 "http://$MET/metrics" | grep -q '^tapwarden_report_connected 1'; }
if ! wait_until 15 curl -sf --max-time 2 "http://$LISTEN/healthz" -o /dev/null; then
	tw_log "the controller did not start (is $LISTEN taken? set DEMO_LISTEN):"; tail -n 5 "$WORK/controller.log" >&2; exit 1
fi
if ! wait_until 20 agent_up; then
	tw_log "the agent did not connect to Redis:"; tail -n 5 "$WORK/agent.log" >&2; exit 1
fi
say "redis-server, tapwarden-agent (in $NS_HV) and tapwarden-controller are up"

# support approved the newsletter VM (ticket, expiry); it reaches the agent
twctl whitelist add "$UUID_news" --customer C-1001 --ticket T-1001 --for 1d \
	--reason "double opt-in newsletter, checked by support" >/dev/null || { tw_log "whitelisting news failed"; exit 1; }
wait_until 10 grep -q "$UUID_news" "$WORK/state/whitelist.cache" || { tw_log "the whitelist did not reach the agent"; exit 1; }
say "support whitelisted demo-news (ticket T-1001, 1 day); the agent has the entry"

# ---- the guests' mail ------------------------------------------------------------------------------------
# Each driver is a subshell; what it runs is its one child at a time, which
# a TERM to the driver stops too (kill by PID, no process left behind).
# A line per message a guest got out (250 after DATA) goes to WORK/out-NAME,
# so the summary can count them live.
CHILD=
run_child() { "$@" & CHILD=$!; wait "$CHILD"; local rc=$?; CHILD=; return "$rc"; }
driver() { trap '[[ -n $CHILD ]] && kill "$CHILD" 2>/dev/null; exit 143' TERM; "$@"; }
nap() { run_child sleep "$1"; }
# swaks_one GUEST SUBJECT SENDER: one message; true when accepted
swaks_one() {
	run_child timeout 20 ip netns exec "$TAG-$1" swaks --server "$MX" --port 25 --timeout 10 \
		--helo "$1.guest.example" --from "$3@$1.guest.example" --to "customer$RANDOM@tw.test" \
		--header "Subject: $2" --body "Hello, this is $1's message: $2." >>"$WORK/swaks-$1.log" 2>&1
}
out() { date +%s.%N >>"$WORK/out-$1"; }
# bulk GUEST N PER_SESSION FROM [send.py options]: tests/live/send.py's
# count of accepted messages goes to WORK/bulk-GUEST and into out-GUEST
bulk() {
	local g=$1 n
	run_child timeout 180 ip netns exec "$TAG-$g" python3 "$ROOT/tests/live/send.py" "$MX" "${@:2}" \
		>"$WORK/bulk-$g" 2>>"$WORK/bulk-$g.err"
	n=$(tr -dc 0-9 <"$WORK/bulk-$g")
	for ((k = 0; k < ${n:-0}; k++)); do out "$g"; done
}
transactional() { # SECONDS: one order mail every 6 s (10 a minute)
	local n=0 end=$((SECONDS + $1))
	while ((SECONDS < end && n < 1200)); do
		n=$((n + 1))
		swaks_one shop "Your order $((4000 + n)) has shipped" orders && out shop
		nap 6
	done
}
newsletter() { nap 5; bulk news 300 20 letters@news.guest.example --newsletter; }
listed() { # three messages 15 s apart, each refused: below the 5-an-hour block rule
	local n
	for n in 1 2 3; do
		swaks_one listed "Invoice $n of December" billing && out listed
		nap 15
	done
}
spammer() { # three ordinary mails, then from t=20 s a burst until the block cuts it off
	local n
	for n in 1 2 3; do
		swaks_one spam "Meeting notes $n" staff && out spam
		nap 4
	done
	nap 8
	date +%s.%N >"$WORK/spam-start"
	bulk spam 3000 10 promo@spam.guest.example --same --until-blocked
}
if ((SECONDS_RUN)); then RUNFOR=$SECONDS_RUN; else RUNFOR=3600; fi
driver transactional "$RUNFOR" & DRIVERS+=("$!")
driver newsletter & DRIVERS+=("$!")
driver listed & DRIVERS+=("$!")
driver spammer & DRIVERS+=("$!")
TW_PIDS+=("${DRIVERS[@]}")

# ---- live summary ------------------------------------------------------------------------------------------
say "guests are sending; the dashboard: http://$LISTEN/"
say "  viewer token:  $(cat "$WORK/viewer.tok")"
say "  support token: $(cat "$WORK/support.tok")"
if ((SECONDS_RUN)); then say "running for $SECONDS_RUN s"; else say "Ctrl-C ends the demo and cleans up"; fi
start=$SECONDS
period=2
[[ -t 1 ]] || period=10
while ((SECONDS_RUN == 0 || SECONDS - start < SECONDS_RUN)); do
	table=$(python3 "$HERE/summary.py" table "$WORK" "http://$LISTEN" "$NS_HV" "$WORK/snapshot.json" 2>&1)
	if [[ -t 1 ]]; then
		printf '\033[H\033[J'
		say "dashboard http://$LISTEN/  support token $(cat "$WORK/support.tok")  (Ctrl-C to stop)"
	fi
	printf '%s\n' "--- t=$((SECONDS - start))s" "$table"
	sleep "$period" & wait $!
done
exit 0
