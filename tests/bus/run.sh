#!/bin/bash
# SPDX-License-Identifier: MIT
# The Redis bus end to end (as root):
#
#   TW_AGENT=... TW_CONTROLLER=... TW_TWCTL=... bash tests/bus/run.sh
#
# A real redis-server (unix socket, AOF with fsync always so that a SIGKILL
# loses nothing it acknowledged), two "hypervisors" (namespaces hv1 and
# hv2, each with a bridge, veth taps, its own smtp-sink and its own
# nftables), one agent per hypervisor with real enforcement and libvirt's
# test driver, and two controllers.  Checked:
#   - A's burst on hv1: blocked by the agent's own verdict, and the block
#     shows in `twctl blocks list` / `twctl vm show` with its evidence;
#   - `twctl unblock A`: the element leaves hv1's nftables, A sends again;
#   - B's burst blocks B; `twctl whitelist add B` lifts the block on every
#     agent within seconds (hv1's kernel element too, and hv2's state);
#   - `twctl block M`, then M "migrates" (its tap moves from hv1 to hv2):
#     hv2 blocks its new tap, `twctl vm show M` names hv2 and the migration;
#   - Redis SIGKILLed for REDIS_DOWN_S (30) seconds while C bursts: hv1
#     blocks C locally meanwhile, its reports wait in the spool, and after
#     the restart every report is in the stream exactly once and in order
#     (seq 1..N of the agent's boot, no gap, N = what the agent published)
#     and the controller ingested each once;
#   - controller 1 holds delivered, unprocessed entries and is SIGKILLed:
#     controller 2 claims and processes them.
# Every wait is bounded; cleanup stops processes by PID and deletes the
# namespaces.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=../lib/daemon.sh
source "$ROOT/tests/lib/daemon.sh"     # pass, fail (its metric helpers are redefined below: two hypervisors)
# shellcheck source=../lib/tokens.sh
source "$ROOT/tests/lib/tokens.sh"
# shellcheck source=../lib/hv.sh
source "$ROOT/tests/lib/hv.sh"         # hypervisor, guest_on, domain, elems_vm, smtp_ok, burst, json_get

for v in TW_AGENT TW_CONTROLLER TW_TWCTL; do
	[[ -x "${!v:-}" ]] || { echo "bus: $v must name the binary" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "bus: must run as root" >&2; exit 2; }
for tool in nft redis-server redis-cli smtp-sink python3 curl; do
	command -v "$tool" >/dev/null || { echo "bus: missing tool: $tool" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/tw-bus.XXXXXX)
chmod 755 "$WORK"
TAG="twbus$$"
NS1="$TAG-hv1" NS2="$TAG-hv2" NS_S1="$TAG-s1" NS_S2="$TAG-s2"
NS_A="$TAG-ga" NS_B="$TAG-gb" NS_C="$TAG-gc" NS_M="$TAG-gm" NS_N="$TAG-gn"
UUID_A=aaaaaaaa-5555-4000-8000-00000000000a
UUID_B=bbbbbbbb-5555-4000-8000-00000000000b
UUID_C=cccccccc-5555-4000-8000-00000000000c
UUID_M=eeeeeeee-5555-4000-8000-00000000000e
UUID_N=ffffffff-5555-4000-8000-00000000000f
SOCK="$WORK/redis.sock"
CTL1=127.0.0.1:18431 CTL2=127.0.0.1:18432
MET1=127.0.0.1:9190 MET2=127.0.0.1:9191
REDIS_DOWN_S=${REDIS_DOWN_S:-30}
FAILED=0
REDIS_PID= C1_PID= C2_PID= A1_PID= A2_PID=

tw_log() { printf '%s\n' "bus: $*" >&2; }
finish() {
	local rc=$?
	tw_cleanup_all
	if [[ -n "${TW_KEEP:-}" ]]; then tw_log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

R() { redis-cli -s "$SOCK" --user tw-test --pass test-secret --no-auth-warning "$@"; }
twctl() { "$TW_TWCTL" --controller "http://$CTL" --operator alice "$@"; }
CTL=$CTL1
metrics() { ip netns exec "$1" curl -sf --max-time 5 "http://$2/metrics"; }
metric() { metrics "$1" "$2" | awk -v n="$3" -v l="${4:-}" '(index($0, n "{") == 1 || index($0, n " ") == 1) && (l == "" || index($0, l)) { print $NF; exit }'; }
m_is() { [[ "$(metric "$1" "$2" "$3" "$4")" == "$5" ]]; }
ifindex() { ip netns exec "$1" cat "/sys/class/net/$2/ifindex" 2>/dev/null; }
# the number of @blocked elements of hypervisor ns $1 whose comment names vm $2
vm_field() { twctl --json vm show "$1" 2>/dev/null | json_get "$2"; }
blocked_in_twctl() { twctl --json blocks list 2>/dev/null | grep -q "\"$1\""; }
not_blocked_in_twctl() { twctl --json blocks list >/dev/null 2>&1 && ! blocked_in_twctl "$1"; }

# the ACL users of the README: the agent and the controller each with its
# own password and only the commands it needs; the default user keeps a
# password of its own (see the README: Redis 7.0 checks the AOF it loads
# against the default user, so switching it off loses script effects)
cat >"$WORK/redis.conf" <<EOF
port 0
unixsocket $SOCK
unixsocketperm 700
dir $WORK
save ""
appendonly yes
appendfsync always
daemonize no
user default on >default-secret ~* &* +@all
user tw-agent on >agent-secret ~tw:* &* -@all +@read +@stream +hset +sadd +ping +auth +client
user tw-controller on >controller-secret ~tw:* &* -@all +@read +@write +@stream +@scripting +ping +auth +client
user tw-test on >test-secret ~* &* +@all
EOF
make_tokens "$WORK" "$TW_TWCTL" || { echo "bus: cannot make API tokens" >&2; exit 2; }
export TWCTL_TOKEN_FILE="$WORK/support.tok"
echo agent-secret >"$WORK/agent.pw"
echo controller-secret >"$WORK/controller.pw"
start_redis() {
	redis-server "$WORK/redis.conf" >>"$WORK/redis.log" 2>&1 &
	REDIS_PID=$!
	TW_PIDS+=("$REDIS_PID")
	wait_until 10 bash -c "redis-cli -s '$SOCK' --user tw-test --pass test-secret --no-auth-warning ping 2>/dev/null | grep -q PONG"
}
start_controller() { # n addr
	"$TW_CONTROLLER" --redis "unix:$SOCK" --redis-user tw-controller --redis-password-file "$WORK/controller.pw" --policy "$WORK/policy.yaml" --listen "$2" --consumer "ctl$1" --tokens "$WORK/tokens.yaml" \
		--claim-idle 3000 >>"$WORK/ctl$1.log" 2>&1 &
	local pid=$!
	TW_PIDS+=("$pid")
	eval "C$1_PID=$pid"
	wait_until 10 bash -c "curl -sf http://$2/healthz >/dev/null"
}
start_agent() { # n ns metrics
	ip netns exec "$2" "$TW_AGENT" --libvirt "test://$WORK/node$1.xml" --policy "$WORK/policy.yaml" \
		--replies "$ROOT/policies/replies.yaml" --metrics "$3" --redis "unix:$SOCK" --agent-id "hv$1" \
		--redis-user tw-agent --redis-password-file "$WORK/agent.pw" \
		--state-dir "$WORK/state$1" --heartbeat 1 --resync-interval 5 >>"$WORK/agent$1.log" 2>&1 &
	local pid=$!
	TW_PIDS+=("$pid")
	eval "A$1_PID=$pid"
	wait_until 20 m_is "$2" "$3" tapwarden_report_connected "" 1
}
show() { tail -n "${2:-20}" "$WORK/$1" | sed 's/^/    | /'; }

# ---- topology -----------------------------------------------------------------------------
hypervisor "$NS1" "$NS_S1" 198.18.5 && hypervisor "$NS2" "$NS_S2" 198.18.6 || { tw_log "cannot make the hypervisors"; exit 1; }
for g in "$NS_A" "$NS_B" "$NS_C" "$NS_M" "$NS_N"; do ns_new "$g" || exit 1; done
guest_on "$NS1" "$NS_A" tapa0 52:54:00:5a:00:01 198.18.5.2 &&
	guest_on "$NS1" "$NS_B" tapb0 52:54:00:5b:00:01 198.18.5.3 &&
	guest_on "$NS1" "$NS_C" tapc0 52:54:00:5c:00:01 198.18.5.4 &&
	guest_on "$NS1" "$NS_M" tapm0 52:54:00:5e:00:01 198.18.5.5 &&
	guest_on "$NS2" "$NS_N" tapn0 52:54:00:5f:00:01 198.18.6.2 || { tw_log "cannot make the guests"; exit 1; }
{ echo "<node>"; domain bus-a $UUID_A 52:54:00:5a:00:01 tapa0; domain bus-b $UUID_B 52:54:00:5b:00:01 tapb0
  domain bus-c $UUID_C 52:54:00:5c:00:01 tapc0; domain bus-m $UUID_M 52:54:00:5e:00:01 tapm0; echo "</node>"; } >"$WORK/node1.xml"
# M is defined on hv2 too (its migration target): its tap appears there when it moves
{ echo "<node>"; domain bus-n $UUID_N 52:54:00:5f:00:01 tapn0; domain bus-m $UUID_M 52:54:00:5e:00:01 tapm0; echo "</node>"; } >"$WORK/node2.xml"
# the default policy with a 10-minute first block (nothing expires during the test)
sed "s/^  ladder: \[1h, /  ladder: [10m, /" "$ROOT/policies/default.yaml" >"$WORK/policy.yaml"
grep -q "ladder: \[10m," "$WORK/policy.yaml" || { tw_log "cannot make the test policy"; exit 1; }

start_redis || { tw_log "redis-server did not start"; show redis.log; exit 1; }
if start_controller 1 "$CTL1" && start_agent 1 "$NS1" "$MET1" && start_agent 2 "$NS2" "$MET2"; then
	pass "redis, controller 1 and two agents up and connected"
else
	fail "start"; show ctl1.log; show agent1.log; show agent2.log; exit 1
fi
if wait_until 10 bash -c "'$TW_TWCTL' --controller http://$CTL1 --json agents | grep -q '\"id\": *\"hv2\"'" &&
	twctl agents | grep -q hv1; then
	pass "twctl agents lists hv1 and hv2"
else
	fail "twctl agents" "$(twctl agents 2>&1 | head -5)"
fi

# ---- an agent's own verdict, visible in twctl ----------------------------------------------
sent=$(burst "$NS_A" 198.18.5.1)
if wait_until 15 blocked_in_twctl "$UUID_A" && [[ $(elems_vm "$NS1" "$UUID_A") == 1 ]] &&
	[[ $(vm_field "$UUID_A" block.origin) == auto && $(vm_field "$UUID_A" block.actor) == agent:hv1 ]]; then
	pass "A's burst ($sent messages out): blocked by hv1's verdict, in nftables and in twctl blocks list"
else
	fail "A blocked and visible" "sent=$sent $(twctl blocks list 2>&1 | head -3)"; show agent1.log
fi
if twctl vm show "$UUID_A" | grep -q "burst-volume" && [[ $(vm_field "$UUID_A" evidence.0.agent) == hv1 ]]; then
	pass "twctl vm show A: the rules that fired and the agent's evidence"
else
	fail "vm show evidence" "$(twctl vm show "$UUID_A" 2>&1 | head -20 | tr '\n' ' ')"
fi
# hv2 does not host A but holds its block too (it follows A if A moves there)
if wait_until 10 m_is "$NS2" "$MET2" tapwarden_enforce_blocked_vms "" 1; then
	pass "hv2 holds A's block as well (no tap there: nothing installed)"
else
	fail "hv2 did not get A's block"
fi

# ---- manual unblock ------------------------------------------------------------------------------
t0=$(date +%s%N)
if twctl unblock "$UUID_A" --reason "customer cleaned the VM (ticket 4411)" >/dev/null &&
	wait_until 10 bash -c "[[ \$(ip netns exec $NS1 nft -j list set netdev tapwarden blocked | grep -c 'vm=$UUID_A') == 0 ]]"; then
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	if smtp_ok "$NS_A" 198.18.5.1; then
		pass "twctl unblock A: hv1's element gone after ${ms} ms, A's SMTP works again"
	else
		fail "A's SMTP after unblock"
	fi
else
	fail "manual unblock did not reach hv1"; show agent1.log
fi
if twctl audit --vm "$UUID_A" | grep -q "test-support (alice)" && twctl --json audit --vm "$UUID_A" | grep -q '"action": *"unblock"'; then
	pass "audit: the unblock with its actor and reason, the agent's block before it"
else
	fail "audit of A" "$(twctl audit --vm "$UUID_A" 2>&1 | head -5)"
fi

# ---- whitelist approval lifts a block on every agent ------------------------------------------------
sent=$(burst "$NS_B" 198.18.5.1)
if wait_until 15 blocked_in_twctl "$UUID_B" && [[ $(elems_vm "$NS1" "$UUID_B") == 1 ]] &&
	wait_until 10 m_is "$NS2" "$MET2" tapwarden_enforce_blocked_vms "" 1; then
	pass "B's burst: blocked on hv1 (kernel) and held on hv2"
else
	fail "B blocked" "sent=$sent"
fi
t0=$(date +%s%N)
if twctl whitelist add "$UUID_B" --customer C-2001 --ticket T-2001 --reason "double opt-in newsletter" --for 30d >/dev/null &&
	wait_until 10 bash -c "[[ \$(ip netns exec $NS1 nft -j list set netdev tapwarden blocked | grep -c 'vm=$UUID_B') == 0 ]]" &&
	wait_until 10 m_is "$NS2" "$MET2" tapwarden_enforce_blocked_vms "" 0 &&
	wait_until 10 m_is "$NS1" "$MET1" tapwarden_vm_whitelisted "vm=\"$UUID_B\"" 1; then
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	pass "whitelist approval of B: block lifted on hv1 and hv2 within ${ms} ms"
else
	fail "whitelist approval did not lift B's block"; show agent1.log 10; show agent2.log 10
fi
if smtp_ok "$NS_B" 198.18.5.1 && not_blocked_in_twctl "$UUID_B" && twctl whitelist show "$UUID_B" | grep -q T-2001 &&
	grep -q "$UUID_B" "$WORK/state1/whitelist.cache"; then
	pass "B sends again; twctl whitelist show B has the ticket; hv1 cached the whitelist on disk"
else
	fail "B after approval"
fi

# ---- a manual block follows a migrated VM ---------------------------------------------------------
if twctl block "$UUID_M" --for 1h --reason "abuse report 991" >/dev/null &&
	wait_until 10 bash -c "[[ \$(ip netns exec $NS1 nft -j list set netdev tapwarden blocked | grep -c 'vm=$UUID_M') == 1 ]]" &&
	! smtp_ok "$NS_M" 198.18.5.1; then
	pass "twctl block M: installed on hv1, M's SMTP fails"
else
	fail "manual block of M"
fi
# migrate: M's tap leaves hv1 and appears on hv2 (same guest, same MAC)
ip -n "$NS1" link del tapm0
guest_on "$NS2" "$NS_M" tapm0 52:54:00:5e:00:01 198.18.6.5
if wait_until 20 bash -c "[[ \$(ip netns exec $NS2 nft -j list set netdev tapwarden blocked | grep -c 'vm=$UUID_M') == 1 ]]" &&
	! smtp_ok "$NS_M" 198.18.6.1 && smtp_ok "$NS_N" 198.18.6.1; then
	pass "M moved to hv2: its new tap is blocked there, neighbour N's SMTP works"
else
	fail "migrated M not blocked on hv2"; show agent2.log
fi
if wait_until 15 bash -c "[[ \$('$TW_TWCTL' --controller http://$CTL --json vm show $UUID_M | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"hypervisor\"])') == hv2 ]]" &&
	twctl vm show "$UUID_M" | grep -q migrated; then
	pass "twctl vm show M: hypervisor hv2, the migration in its history, still blocked"
else
	fail "M's state after migration" "$(twctl vm show "$UUID_M" 2>&1 | head -12 | tr '\n' ' ')"
fi

# ---- Redis goes away for REDIS_DOWN_S seconds ----------------------------------------------------
kill -KILL "$REDIS_PID"
wait_until 10 pid_gone "$REDIS_PID"
untrack_pid "$REDIS_PID"
down_at=$(date +%s)
wait_until 15 m_is "$NS1" "$MET1" tapwarden_report_connected "" 0 || fail "hv1 did not notice Redis went away"
sent=$(burst "$NS_C" 198.18.5.1)
if wait_until 15 bash -c "[[ \$(ip netns exec $NS1 nft -j list set netdev tapwarden blocked | grep -c 'vm=$UUID_C') == 1 ]]"; then
	pass "Redis down: hv1 still detects and blocks C locally ($sent messages out)"
else
	fail "no local block while Redis is down"; show agent1.log
fi
pending=$(metric "$NS1" "$MET1" tapwarden_report_pending)
[[ ${pending:-0} -gt 0 ]] && pass "hv1's reports wait in its spool (pending=$pending)" || fail "nothing spooled" "pending=$pending"
while (( $(date +%s) - down_at < REDIS_DOWN_S )); do sleep 1; done
start_redis || { fail "redis restart"; exit 1; }
if wait_until 40 m_is "$NS1" "$MET1" tapwarden_report_connected "" 1 &&
	wait_until 20 m_is "$NS1" "$MET1" tapwarden_report_pending "" 0; then
	pass "Redis back after ${REDIS_DOWN_S}s: hv1 reconnected and replayed its spool"
else
	fail "replay after Redis restart"; show agent1.log
fi
if wait_until 20 blocked_in_twctl "$UUID_C"; then
	pass "C's block, decided while Redis was down, reached the controller"
else
	fail "C's verdict not ingested"; show ctl1.log
fi
# exactly once, in order: the stream holds seq 1..N of the agent's boot, N = published
check_stream() {
	local before after boot
	before=$(metric "$NS1" "$MET1" tapwarden_report_published_total)
	boot=$(R HGET tw:agent:hv1 boot)
	R --raw XRANGE tw:reports:hv1 - + >"$WORK/stream1.txt"
	after=$(metric "$NS1" "$MET1" tapwarden_report_published_total)
	python3 -c '
import sys
lines = open(sys.argv[1]).read().split("\n")
ids = [l for l in lines if l.count("-") == 1 and l.replace("-", "").isdigit()]
boot, before, after = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
seqs = [int(i.split("-")[1]) for i in ids if int(i.split("-")[0]) == boot]
ok = seqs == list(range(1, len(seqs) + 1)) and before <= len(seqs) <= after + 1
print("%s entries=%d published=%d..%d last_seq=%s" % ("ok" if ok else "BAD", len(seqs), before, after,
      seqs[-1:]))' "$WORK/stream1.txt" "$boot" "$before" "$after"
}
res=$(check_stream)
if [[ $res == ok* ]] && m_is "$NS1" "$MET1" tapwarden_report_dropped_total "" 0; then
	pass "hv1's report stream: every report exactly once and in order ($res), none dropped"
else
	fail "report stream" "$res"
fi
down_entries=$(R --raw XRANGE tw:reports:hv1 - + | grep -c '^ts$' ) # sanity: entries exist
ingested_ok() {
	local total=$(( $(R XLEN tw:reports:hv1) + $(R XLEN tw:reports:hv2) ))
	[[ $(R GET tw:ingested) == "$total" && $(R XPENDING tw:reports:hv1 controllers | head -1) == 0 ]]
}
if wait_until 20 ingested_ok; then
	pass "the controller ingested each of the $(R GET tw:ingested) entries once ($down_entries in hv1's stream)"
else
	fail "ingest count" "ingested=$(R GET tw:ingested) hv1=$(R XLEN tw:reports:hv1) hv2=$(R XLEN tw:reports:hv2) groups: $(R XINFO GROUPS tw:reports:hv1 | tr '\n' ' ') consumers: $(R XINFO CONSUMERS tw:reports:hv1 controllers | tr '\n' ' ')"
	show ctl1.log 8
fi

# ---- a controller dies holding entries; the other claims them --------------------------------------
kill -STOP "$C1_PID"
before=$(R XLEN tw:reports:hv2)
# commands straight onto hv2's stream: hv2 acknowledges each with a
# report, which the stopped controller's outstanding XREADGROUP receives:
# delivered, never processed
for i in 1 2 3; do
	R XADD tw:cmd:hv2 '*' v 1 op unblock body "{\"uuid\":\"$UUID_N\",\"reason\":\"claim test $i\"}" >/dev/null
done
held() { [[ $(R XPENDING tw:reports:hv2 controllers - + 10 ctl1 | grep -c -- '-') -gt 0 ]]; }
if wait_until 25 held; then
	n_held=$(R XPENDING tw:reports:hv2 controllers - + 100 ctl1 | grep -c -- '-')
	kill -KILL "$C1_PID"
	wait_until 10 pid_gone "$C1_PID"
	untrack_pid "$C1_PID"
	start_controller 2 "$CTL2"
	CTL=$CTL2
	if wait_until 30 bash -c "[[ \$(redis-cli -s '$SOCK' --user tw-test --pass test-secret --no-auth-warning XPENDING tw:reports:hv2 controllers | head -1) == 0 ]]" &&
		grep -q "claimed pending entries agent=hv2" "$WORK/ctl2.log" && wait_until 10 ingested_ok; then
		pass "controller 1 killed holding $n_held entries: controller 2 claimed and processed them (ingested=$(R GET tw:ingested))"
	else
		fail "claim by controller 2" "$(R XPENDING tw:reports:hv2 controllers)"; show ctl2.log
	fi
else
	kill -CONT "$C1_PID"
	fail "could not make controller 1 hold entries" "hv2 stream $before -> $(R XLEN tw:reports:hv2)"
fi
if twctl status | grep -qi "agents" && [[ $(twctl --json status | json_get agents.up) == 2 ]]; then
	pass "twctl status through controller 2: both agents up"
else
	fail "status via controller 2" "$(twctl status 2>&1 | head -5)"
fi
# no false block: N was never blocked anywhere
if [[ $(elems_vm "$NS2" "$UUID_N") == 0 ]] && [[ $(vm_field "$UUID_N" state) == ok ]]; then
	pass "neighbour N never blocked"
else
	fail "N blocked"
fi

if (( FAILED )); then
	echo "bus: $FAILED check(s) failed"
	exit 1
fi
echo "bus: all checks passed"
