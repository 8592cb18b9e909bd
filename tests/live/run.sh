#!/bin/bash
# SPDX-License-Identifier: MIT
# Live integration test of tapwarden-agent's daemon mode (as root).
#
#   TW_AGENT=/abs/path/tapwarden-agent bash tests/live/run.sh
#
# A "hypervisor" namespace holds three veth taps (tapa0, tapb0, tapc0) on a
# bridge; their peers are the guests' eth0 in namespaces of their own
# (198.18.1.2/.3/.4, no default route), and a server namespace runs Postfix
# smtp-sink on 198.18.1.1.  libvirt's test driver (tests/live/node.xml)
# maps the taps to three domains.  The agent runs live inside the hv
# namespace (--libvirt test:///..., --verdicts, --metrics), and real
# clients (Python smtplib, swaks) send from the guests:
#   - guest A: a burst of 120 messages -> a block verdict ("would block")
#     for A's UUID, within seconds;
#   - guest B: 3 transactional messages (swaks) -> no verdict, stays ok;
#   - guest C: its tap is down when the agent starts (the agent retries),
#     then up, 2 messages;
#   - guest D: a whitelisted newsletter (--whitelist), 120 identical
#     messages with List-Unsubscribe, the same plan and pace as A's burst
#     -> never a block verdict;
#   - guest E: an MX receiving 40 messages from outside (smtp-sink in the
#     guest) -> counts nothing for E: only connections a guest opens are its
#     sending (the capture filter tests the kernel's packet direction);
#   - SIGHUP: a broken policy is refused (file:line logged, the agent runs
#     on), a good one and a changed whitelist are taken;
#   - /metrics: per-VM message counts equal what each guest sent; no drops;
#   - with the prometheus package's binaries (PATH or TW_PROMETHEUS_DIR):
#     promtool check metrics, and a real Prometheus scraping /metrics;
#   - SIGTERM: the agent stops cleanly (exit 0) with the final log line.
# The test driver keeps its state inside the agent's own libvirt connection,
# so lifecycle events (a VM stopping, a tap reused by another VM) cannot be
# caused from this script: tests/unit/test_vmmap.c covers those on the same
# driver in-process, and tests/lxc/run.sh with a real libvirtd.
#
# Every wait is bounded; cleanup (trap) stops processes by PID and deletes
# the namespaces.  TW_KEEP=1 keeps the work directory.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=../lib/daemon.sh
source "$ROOT/tests/lib/daemon.sh"

if [[ -z "${TW_AGENT:-}" || ! -x "${TW_AGENT}" ]]; then
	echo "live: TW_AGENT must name the tapwarden-agent binary (got '${TW_AGENT:-}')" >&2
	exit 2
fi
if [[ $(id -u) != 0 ]]; then
	echo "live: must run as root (network namespaces)" >&2
	exit 2
fi
for tool in ip ss swaks smtp-sink python3 curl timeout; do
	command -v "$tool" >/dev/null || { echo "live: missing tool: $tool" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/tw-live.XXXXXX)
chmod 755 "$WORK"
TAG="twlv$$"
NS_HV="$TAG-hv" NS_SRV="$TAG-srv" NS_A="$TAG-ga" NS_B="$TAG-gb" NS_C="$TAG-gc"
NS_D="$TAG-gd" NS_E="$TAG-ge"
UUID_A=aaaaaaaa-1111-4000-8000-00000000000a
UUID_B=bbbbbbbb-1111-4000-8000-00000000000b
UUID_C=cccccccc-1111-4000-8000-00000000000c
UUID_D=dddddddd-1111-4000-8000-00000000000d
UUID_E=eeeeeeee-1111-4000-8000-00000000000e
METRICS=127.0.0.1:9187
N_A=120 N_B=3 N_C=2 N_D=120 N_E=40
FAILED=0

finish() {
	local rc=$?
	tw_cleanup_all
	if [[ -n "${TW_KEEP:-}" ]]; then
		tw_log "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

tw_log() { printf '%s\n' "live: $*" >&2; }

# guest NS TAP MAC ADDR [down]: a guest namespace whose eth0 (MAC) is the
# peer of TAP, a port of br0 in the hv namespace.
guest() {
	local ns=$1 tap=$2 mac=$3 addr=$4
	ns_new "$ns" || return 1
	ip -n "$NS_HV" link add "$tap" type veth peer name eth0 netns "$ns" || return 1
	ip -n "$ns" link set eth0 address "$mac" up || return 1
	ip -n "$ns" addr add "$addr/24" dev eth0 || return 1
	ip -n "$NS_HV" link set "$tap" master br0 || return 1
	[[ "${5:-}" == down ]] || ip -n "$NS_HV" link set "$tap" up
}


# ---- topology ------------------------------------------------------------------
ns_new "$NS_HV" && ns_new "$NS_SRV" || { tw_log "cannot make namespaces"; exit 1; }
hv_bridge "$NS_HV" "$NS_SRV" 198.18.1.1/24 || { tw_log "cannot make the bridge"; exit 1; }
guest "$NS_A" tapa0 52:54:00:1a:00:01 198.18.1.2 &&
	guest "$NS_B" tapb0 52:54:00:1b:00:01 198.18.1.3 &&
	guest "$NS_C" tapc0 52:54:00:1c:00:01 198.18.1.4 down &&
	guest "$NS_D" tapd0 52:54:00:1d:00:01 198.18.1.5 &&
	guest "$NS_E" tape0 52:54:00:1e:00:01 198.18.1.6 || { tw_log "cannot make the guests"; exit 1; }
sink_start sink 198.18.1.1 || { tw_log "smtp-sink did not start"; exit 1; }
# guest E is a mail server: its own smtp-sink
ip netns exec "$NS_E" smtp-sink -u postfix 198.18.1.6:25 64 >"$WORK/sink-e.log" 2>&1 &
TW_PIDS+=("$!")
wait_until 10 tcp_listening "$NS_E" 198.18.1.6 25 || { tw_log "guest E's smtp-sink did not start"; exit 1; }
cp "$ROOT/policies/default.yaml" "$WORK/policy.yaml"
printf '# approved bulk senders\n%s  # ticket 4711, garden club newsletter\n' "$UUID_D" >"$WORK/whitelist.txt"

# ---- the agent -------------------------------------------------------------------
ip netns exec "$NS_HV" "$TW_AGENT" --libvirt "test://$HERE/node.xml" \
	--policy "$WORK/policy.yaml" --replies "$ROOT/policies/replies.yaml" --whitelist "$WORK/whitelist.txt" \
	--verdicts "$WORK/verdicts.jsonl" --metrics "$METRICS" --dry-run >"$WORK/agent.log" 2>&1 &
AGENT_PID=$!
TW_PIDS+=("$AGENT_PID")
if wait_until 20 metrics_up && wait_until 10 metric_is tapwarden_capture_up 'tap="tapa0"' 1 &&
	wait_until 10 metric_is tapwarden_capture_up 'tap="tapb0"' 1; then
	pass "agent maps the test driver's taps and opens tapa0, tapb0"
else
	fail "agent start"; show_agent_log; exit 1
fi
if metric_is tapwarden_capture_up 'tap="tapc0"' 0 && log_has "cannot open tap=tapc0"; then
	pass "tapc0 is down: not opened, retried"
else
	fail "tapc0 down" "$(metric tapwarden_capture_up 'tap="tapc0"')"
fi
ip -n "$NS_HV" link set tapc0 up
if wait_until 10 metric_is tapwarden_capture_up 'tap="tapc0"' 1; then
	pass "tapc0 opened once up"
else
	fail "tapc0 up"; show_agent_log
fi

# ---- traffic -------------------------------------------------------------------------
T0=$(date +%s%N)
if out=$(timeout 120 ip netns exec "$NS_A" python3 "$HERE/send.py" 198.18.1.1 "$N_A" 4 promo@a.tw.test --same 2>&1) &&
	[[ "$out" == "$N_A" ]]; then
	pass "guest A sent $N_A messages ($(( ($(date +%s%N) - T0) / 1000000 )) ms)"
else
	fail "guest A client" "$out"
fi
for i in $(seq 1 "$N_B"); do
	timeout 60 ip netns exec "$NS_B" swaks --server 198.18.1.1 --helo b.tw.test \
		--from "shop@b.tw.test" --to "customer$i@ext.test" \
		--header "Subject: Your order $((4711 + i)) has shipped" \
		--body "Order $((4711 + i)) is on its way." --timeout 20 >"$WORK/swaks-b$i.log" 2>&1 ||
		fail "guest B swaks $i" "$(tail -n 3 "$WORK/swaks-b$i.log")"
done
if out=$(timeout 60 ip netns exec "$NS_C" python3 "$HERE/send.py" 198.18.1.1 "$N_C" 1 c@c.tw.test 2>&1) &&
	[[ "$out" == "$N_C" ]]; then
	pass "guest C sent $N_C messages"
else
	fail "guest C client" "$out"
fi

if out=$(timeout 120 ip netns exec "$NS_D" python3 "$HERE/send.py" 198.18.1.1 "$N_D" 10 news@d.tw.test --newsletter 2>&1) &&
	[[ "$out" == "$N_D" ]]; then
	pass "guest D (whitelisted newsletter) sent $N_D messages"
else
	fail "guest D client" "$out"
fi
if out=$(timeout 120 ip netns exec "$NS_SRV" python3 "$HERE/send.py" 198.18.1.6 "$N_E" 4 mx@ext.test --same 2>&1) &&
	[[ "$out" == "$N_E" ]]; then
	pass "guest E (an MX) received $N_E messages from outside"
else
	fail "mail to guest E" "$out"
fi

# ---- verdicts ---------------------------------------------------------------------------
if wait_until 30 verdict_for "$UUID_A" block; then
	# the verdict's own timestamp (capture clock) against the burst's start
	ms=$(python3 -c 'import json,sys
t0 = int(sys.argv[2]) / 1e9
for l in open(sys.argv[1]):
    v = json.loads(l)
    if v["vm"] == sys.argv[3] and v["verdict"] == "block":
        print(round((v["ts"] - t0) * 1000)); break' "$WORK/verdicts.jsonl" "$T0" "$UUID_A")
	pass "block verdict for guest A ($UUID_A) at +${ms} ms after its burst began"
else
	fail "no block verdict for guest A"; show_agent_log
fi
if grep -q "\"vm\":\"$UUID_A\".*\"verdict\":\"block\".*\"observe_only\":true" "$WORK/verdicts.jsonl" &&
	log_has "detect: verdict vm=$UUID_A name=live-a verdict=block duration=3600 rules=.*would block"; then
	pass "A's block is observe-only: JSON line and log line say \"would block\""
else
	fail "observe-only block line"; show_agent_log 10
fi

# Per-VM counts: sessions end (FIN) a moment after the clients return.
want() { wait_until 20 metric_is tapwarden_vm_messages_total "vm=\"$1\"" "$2"; }
for pair in "$UUID_A:$N_A" "$UUID_B:$N_B" "$UUID_C:$N_C" "$UUID_D:$N_D"; do
	u=${pair%%:*} n=${pair##*:}
	if want "$u" "$n"; then
		pass "metrics: messages of $u = $n"
	else
		fail "metrics: messages of $u" "got $(metric tapwarden_vm_messages_total "vm=\"$u\"") want $n"
	fi
done
if metric_is tapwarden_vm_sessions_total "vm=\"$UUID_A\"" $(( N_A / 4 )) &&
	metric_is tapwarden_vm_recipients_total "vm=\"$UUID_A\"" "$N_A" &&
	metric_is tapwarden_vm_replies_total "vm=\"$UUID_B\",name=\"live-b\",class=\"5xx\"" 0; then
	pass "metrics: A's sessions $(( N_A / 4 )) and recipients $N_A, B has no 5xx"
else
	fail "metrics: sessions/recipients" "$(metrics | grep -E 'vm_(sessions|recipients)_total' | tr '\n' ' ')"
fi
# guest B: transactional mail stays ok (no verdict line at all)
# two more ticks of the agent: a late verdict for B would show by then
ticks() { metrics | awk '/^tapwarden_ticks_total / { print $2 }'; }
T_NOW=$(ticks)
ticked() { local t; t=$(ticks); [[ -n "$t" ]] && (( t >= ${T_NOW:-0} + 2 )); }
wait_until 10 ticked || fail "the agent's timer did not tick"
if ! grep -q "\"vm\":\"$UUID_D\".*\"verdict\":\"block\"" "$WORK/verdicts.jsonl" &&
	metric_is tapwarden_vm_whitelisted "vm=\"$UUID_D\"" 1 && metric_is tapwarden_vm_whitelisted "vm=\"$UUID_A\"" 0; then
	pass "guest D is whitelisted (gauge 1) and has no block verdict after $N_D messages"
else
	fail "guest D whitelisted" "$(grep "$UUID_D" "$WORK/verdicts.jsonl" | head -2)"
fi
# the mail E received is not E's sending; its frames were not even captured
if metric_is tapwarden_vm_attempts_total "vm=\"$UUID_E\"" 0 && metric_is tapwarden_vm_messages_total "vm=\"$UUID_E\"" 0 &&
	metric_is tapwarden_capture_frames_total 'tap="tape0"' 0 && ! grep -q "\"vm\":\"$UUID_E\"" "$WORK/verdicts.jsonl"; then
	pass "guest E: the $N_E messages it received count nothing for it (0 frames, 0 sessions, no verdict)"
else
	fail "guest E counted" "attempts $(metric tapwarden_vm_attempts_total "vm=\"$UUID_E\"") frames $(metric tapwarden_capture_frames_total 'tap="tape0"')"
fi
if ! grep -q "\"vm\":\"$UUID_B\"" "$WORK/verdicts.jsonl" && metric_is tapwarden_vm_verdict "vm=\"$UUID_B\"" 0 &&
	metric_is tapwarden_vm_verdict "vm=\"$UUID_A\"" 2; then
	pass "guest B stays ok; verdict gauges A=2 (block), B=0"
else
	fail "guest B verdict" "$(grep -c "$UUID_B" "$WORK/verdicts.jsonl")"
fi
drops=$(metrics | awk '/^tapwarden_capture_drops_total\{/ { s += $NF } END { print s + 0 }')
frames=$(metrics | awk '/^tapwarden_capture_frames_total\{/ { s += $NF } END { print s + 0 }')
if [[ "$drops" == 0 ]]; then
	pass "capture: $frames frames, 0 kernel drops"
else
	fail "capture drops" "$drops of $frames"
fi
if metrics | grep -q '^# TYPE tapwarden_vm_messages_total counter' &&
	! metrics | grep -vE '^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[^}]*\})? [0-9.e+-]+)$' | grep -q .; then
	pass "metrics: every line is text format 0.0.4"
else
	fail "metrics format" "$(metrics | grep -vE '^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[^}]*\})? [0-9.e+-]+)$' | head -3)"
fi

# A real Prometheus parser on the output, and a real Prometheus scraping it,
# when they are installed (package prometheus; PATH or TW_PROMETHEUS_DIR).
PROM_DIR=${TW_PROMETHEUS_DIR:-$(dirname "$(command -v promtool 2>/dev/null || echo /nonexistent/x)")}
prom_in_ns() { ip netns exec "$NS_HV" curl -sf --max-time 2 "http://127.0.0.1:9090/api/v1/query" \
	--data-urlencode "query=$1" 2>/dev/null | grep -q -- "$2"; }
if [[ -x "$PROM_DIR/promtool" ]]; then
	metrics >"$WORK/metrics.txt"
	if "$PROM_DIR/promtool" check metrics <"$WORK/metrics.txt" >"$WORK/promtool.log" 2>&1; then
		pass "promtool check metrics: no problems"
	else
		fail "promtool check metrics" "$(head -n 5 "$WORK/promtool.log")"
	fi
fi
if [[ -x "$PROM_DIR/prometheus" ]]; then
	cat >"$WORK/prometheus.yml" <<EOC
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: tapwarden
    static_configs: [ { targets: ["$METRICS"] } ]
EOC
	ip netns exec "$NS_HV" "$PROM_DIR/prometheus" --config.file="$WORK/prometheus.yml" \
		--storage.tsdb.path="$WORK/prom" --web.listen-address=127.0.0.1:9090 >"$WORK/prometheus.log" 2>&1 &
	TW_PIDS+=("$!")
	if wait_until 30 prom_in_ns "tapwarden_vm_messages_total{name=\"live-a\"}" "\"$N_A\"\]" &&
		prom_in_ns "tapwarden_vm_verdict{name=\"live-a\"}" '"2"\]'; then
		pass "Prometheus scraped /metrics: live-a messages $N_A, verdict 2"
	else
		fail "Prometheus scrape" "$(tail -n 3 "$WORK/prometheus.log")"
	fi
fi

# ---- SIGHUP: reload ------------------------------------------------------------------------------
reloads() { metric tapwarden_config_reloads_total "result=\"$1\""; }
printf 'rules:\n  - name: broken\n    action: explode\n' >>"$WORK/policy.yaml"
kill -HUP "$AGENT_PID"
if wait_until 10 metric_is tapwarden_config_reloads_total 'result="failed"' 1 && ! pid_gone "$AGENT_PID" &&
	log_has "config: $WORK/policy.yaml:[0-9]*:" && log_has "reload failed, the running policy"; then
	pass "SIGHUP with a broken policy: refused with file:line, the agent runs on"
else
	fail "SIGHUP broken policy" "failed=$(reloads failed)"; show_agent_log 5
fi
cp "$ROOT/policies/default.yaml" "$WORK/policy.yaml"
printf '# nobody\n' >"$WORK/whitelist.txt"
kill -HUP "$AGENT_PID"
if wait_until 10 metric_is tapwarden_config_reloads_total 'result="ok"' 1 &&
	metric_is tapwarden_vm_whitelisted "vm=\"$UUID_D\"" 0 && metrics | grep -qx "tapwarden_whitelist_entries 0" &&
	log_has "agent: reloaded policy=$WORK/policy.yaml"; then
	pass "SIGHUP with good files: policy reloaded, D no longer whitelisted"
else
	fail "SIGHUP good files" "ok=$(reloads ok) wl=$(metric tapwarden_vm_whitelisted "vm=\"$UUID_D\"")"; show_agent_log 5
fi

# ---- clean stop -------------------------------------------------------------------------------
kill -TERM "$AGENT_PID"
if wait_until 10 pid_gone "$AGENT_PID"; then
	wait "$AGENT_PID"; rc=$?
	untrack_pid "$AGENT_PID"
	if [[ $rc == 0 ]] && log_has "agent: stopped"; then
		pass "SIGTERM: clean stop, exit 0"
	else
		fail "SIGTERM" "exit $rc"; show_agent_log 5
	fi
else
	fail "SIGTERM: agent still running after 10 s"
fi
if [[ -n "${TW_VERBOSE:-}" ]]; then show_agent_log 40; fi

if (( FAILED )); then
	echo "live: $FAILED check(s) failed"
	show_agent_log 15
	exit 1
fi
echo "live: all checks passed"
