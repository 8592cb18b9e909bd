#!/bin/bash
# SPDX-License-Identifier: MIT
# The bus in `make bench` (root not needed; run as root by make bench):
#
#   TW_AGENT=... TW_CONTROLLER=... TW_TWCTL=... bash tests/bus/bench.sh
#
# 1. Ingest: AGENTS x PER report entries (stats with fingerprints, verdicts,
#    acks, as agents write them) are loaded into a fresh redis-server; one
#    controller pinned to one core ingests them all (tw.lua per entry, then
#    XACK); entries/s against redis-benchmark's XADD rate on the same Redis
#    in the same run (the ceiling of a single writer of that stream).
# 2. Latency, on loopback: a verdict entry appearing in an agent's stream
#    until `twctl blocks list` shows the block; `twctl block` until a real
#    agent (libvirt test driver, dry-run enforcement) has applied and
#    acknowledged it; `twctl unblock` likewise.  ROUNDS each, median and max.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../lib/tokens.sh
source "$ROOT/tests/lib/tokens.sh"
AGENTS=${AGENTS:-4} PER=${PER:-10000} ROUNDS=${ROUNDS:-20}
WORK=$(mktemp -d /tmp/tw-busbench.XXXXXX)
SOCK="$WORK/redis.sock"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
R() { redis-cli -s "$SOCK" "$@"; }
now_ms() { date +%s%3N; }
wait_for() { local t=$1; shift; local end=$(( $(now_ms) + t * 1000 )); until "$@"; do (( $(now_ms) > end )) && return 1; sleep 0.002; done; }

redis-server --port 0 --unixsocket "$SOCK" --dir "$WORK" --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_for 10 bash -c "redis-cli -s $SOCK ping 2>/dev/null | grep -q PONG" || { echo "bench-bus: redis did not start"; exit 1; }
sed "s/^  ladder: \[1h, /  ladder: [10m, /" "$ROOT/policies/default.yaml" >"$WORK/policy.yaml"

# ---- 1. ingest rate --------------------------------------------------------------------
N=$((AGENTS * PER))
python3 "$HERE/bench_load.py" tw "$AGENTS" "$PER" | R --pipe >/dev/null
body=$(python3 -c 'import json; print(json.dumps({"interval_s": 10, "vms": [{"uuid": "aaaaaaaa-7777-4000-8000-000000000001", "sessions": 3, "messages": 5, "fps": {"digest": [["00000000deadbeef", 2]]}}]}))')
xadd=$(redis-benchmark -s "$SOCK" -n 200000 -P 16 -q XADD bench:xadd '*' v 1 type stats ts 1796310000000 body "$body" 2>/dev/null |
	awk '{ for (i = 1; i <= NF; i++) if ($i ~ /requests/) { print $(i - 1); exit } }' | tr -d ' ')
t0=$(now_ms)
make_tokens "$WORK" "$TW_TWCTL" || { echo "bench-bus: cannot make API tokens"; exit 1; }
export TWCTL_TOKEN_FILE="$WORK/support.tok"
taskset -c 0 "$TW_CONTROLLER" --redis "unix:$SOCK" --policy "$WORK/policy.yaml" --listen 127.0.0.1:18441 --tokens "$WORK/tokens.yaml" \
	--consumer bench >"$WORK/ctl.log" 2>&1 &
PIDS+=($!)
CPID=$!
wait_for 300 bash -c "[[ \$(redis-cli -s $SOCK GET tw:ingested) == $N ]]" || { echo "bench-bus: ingest did not finish: $(R GET tw:ingested)/$N"; tail "$WORK/ctl.log"; exit 1; }
t1=$(now_ms)
cpu=$(awk '{ print ($14 + $15) / 100 }' "/proc/$CPID/stat")
rate=$(python3 -c "print(int($N / (($t1 - $t0) / 1000.0)))")
echo "bench-bus: controller ingest: $N report entries from $AGENTS agents in $(( t1 - t0 )) ms = $rate entries/s on one core (controller CPU ${cpu}s; the rest is Redis running tw.lua)"
python3 -c "print('bench-bus: redis-benchmark XADD (same Redis, same body, pipeline 16): %s/s; controller ingest / XADD = %.3f' % ('$xadd', $rate / float('${xadd:-1}')))"

# ---- 2. latencies --------------------------------------------------------------------------
CTL=http://127.0.0.1:18441
twctl() { "$TW_TWCTL" --controller "$CTL" --operator bench "$@"; }
"$TW_AGENT" --libvirt "test://$ROOT/tests/live/node.xml" --policy "$WORK/policy.yaml" --replies "$ROOT/policies/replies.yaml" \
	--dry-run --redis "unix:$SOCK" --agent-id hvbench --state-dir "$WORK/state" --heartbeat 1 >"$WORK/agent.log" 2>&1 &
PIDS+=($!)
wait_for 20 bash -c "redis-cli -s $SOCK HGET tw:agent:hvbench heartbeat | grep -q ." || { echo "bench-bus: agent did not connect"; exit 1; }
# a stream the benchmark writes as if it were an agent's (its own ids)
R SADD tw:agents hvlat >/dev/null
R XGROUP CREATE tw:reports:hvlat controllers 0 MKSTREAM >/dev/null
wait_for 10 bash -c "grep -q 'agent discovered agent=hvlat' $WORK/ctl.log"
stats() { python3 -c 'import sys, statistics
v = sorted(int(x) for x in sys.argv[2:])
print("bench-bus: %s: median %d ms, max %d ms over %d rounds" % (sys.argv[1], statistics.median(v), v[-1], len(v)))' "$@"; }
acked() { # the agent's cmd_acked is at least the newest command of its stream
	local last acked
	last=$(R XREVRANGE tw:cmd:hvbench + - COUNT 1 | head -1)
	acked=$(R HGET tw:agent:hvbench cmd_acked)
	[[ -n $last && $last == "$acked" ]]
}
v_lat=() b_lat=() u_lat=()
for i in $(seq 1 "$ROUNDS"); do
	u=$(printf 'abcdef00-7777-4000-8000-%012d' "$i")
	body="{\"vm\":\"$u\",\"name\":\"lat$i\",\"verdict\":\"block\",\"duration\":600,\"observe_only\":false,\"rules\":[{\"name\":\"burst-volume-1m\"}]}"
	t0=$(now_ms)
	R XADD tw:reports:hvlat "1-$i" v 1 type verdict ts "$t0" body "$body" >/dev/null
	wait_for 10 bash -c "'$TW_TWCTL' --controller $CTL --json blocks list | grep -q $u" || { echo "bench-bus: verdict $i not visible"; exit 1; }
	v_lat+=($(( $(now_ms) - t0 )))
	m=aaaaaaaa-1111-4000-8000-00000000000a
	t0=$(now_ms)
	twctl block "$m" --for 1h --reason "bench $i" >/dev/null || { echo "bench-bus: twctl block failed"; exit 1; }
	wait_for 10 acked || { echo "bench-bus: block $i not acknowledged"; exit 1; }
	b_lat+=($(( $(now_ms) - t0 )))
	t0=$(now_ms)
	twctl unblock "$m" --reason "bench $i" >/dev/null || { echo "bench-bus: twctl unblock failed"; exit 1; }
	wait_for 10 acked || { echo "bench-bus: unblock $i not acknowledged"; exit 1; }
	u_lat+=($(( $(now_ms) - t0 )))
done
grep -q "result=applied" "$WORK/agent.log" || { echo "bench-bus: the agent applied nothing"; exit 1; }
stats "agent verdict -> block visible in twctl blocks list" "${v_lat[@]}"
stats "twctl block -> applied and acknowledged by the agent" "${b_lat[@]}"
stats "twctl unblock -> applied and acknowledged by the agent" "${u_lat[@]}"
echo "bench-bus: (the latencies include starting twctl and polling every 2 ms; target: well under 1000 ms)"
