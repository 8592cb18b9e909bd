#!/bin/bash
# SPDX-License-Identifier: MIT
# The VM list under load (make bench):
#
#   TW_CONTROLLER=... TW_TWCTL=... bash tests/web/bench.sh
#
# A controller on a real Redis seeded through its own ingest with VMS
# (10,000) VMs from 8 agents; then wrk (DURATION s, 2 threads, 16
# connections) on GET /v1/vms?sort=messages_1h&limit=100 with a viewer
# token: requests/s and the latency distribution (target: p99 < 50 ms on
# loopback).  Peer in the same run: Python's http.server serving the same
# response bytes as a static file (a floor for "an HTTP server answering
# on loopback"), and the controller's own /healthz (no work at all).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../lib/tokens.sh
source "$ROOT/tests/lib/tokens.sh"
VMS=${VMS:-10000} DURATION=${DURATION:-10}
WORK=$(mktemp -d /tmp/tw-webbench.XXXXXX)
SOCK="$WORK/redis.sock"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
for tool in wrk redis-server redis-cli curl python3; do
	command -v "$tool" >/dev/null || { echo "bench-web: missing $tool"; exit 1; }
done
wait_for() { local t=$1; shift; local end=$((SECONDS + t)); until "$@"; do ((SECONDS >= end)) && return 1; sleep 0.1; done; }

redis-server --port 0 --unixsocket "$SOCK" --dir "$WORK" --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_for 10 bash -c "redis-cli -s $SOCK ping 2>/dev/null | grep -q PONG" || { echo "bench-web: redis did not start"; exit 1; }
make_tokens "$WORK" "$TW_TWCTL" || { echo "bench-web: cannot make tokens"; exit 1; }
python3 "$HERE/bench_seed.py" tw 8 "$VMS" 3 | redis-cli -s "$SOCK" --pipe >/dev/null
"$TW_CONTROLLER" --redis "unix:$SOCK" --policy "$ROOT/policies/default.yaml" --listen 127.0.0.1:18442 \
	--tokens "$WORK/tokens.yaml" --consumer bench >"$WORK/ctl.log" 2>&1 &
PIDS+=($!)
CPID=$!
TOK=$(cat "$WORK/viewer.tok")
total() { curl -sf -H "Authorization: Bearer $TOK" "http://127.0.0.1:18442/v1/vms?limit=1" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])' 2>/dev/null; }
t0=$SECONDS
wait_for 300 bash -c "[[ \$(redis-cli -s $SOCK XINFO GROUPS tw:reports:hv07 2>/dev/null | grep -A1 '^lag$' | tail -1) == 0 ]]" ||
	{ echo "bench-web: ingest did not finish"; tail "$WORK/ctl.log"; exit 1; }
wait_for 60 bash -c "[[ \$( $(declare -f total); TOK=$TOK; total) == $VMS ]]" ||
	{ echo "bench-web: the VM list has $(total) of $VMS VMs"; tail "$WORK/ctl.log"; exit 1; }
echo "bench-web: $VMS VMs ingested and in the controller's list after $((SECONDS - t0)) s; controller RSS $(awk '/VmRSS/ { print $2 }' /proc/$CPID/status) kB"

URL="http://127.0.0.1:18442/v1/vms?sort=messages_1h&limit=100"
curl -sf -H "Authorization: Bearer $TOK" "$URL" >"$WORK/page.json"
mkdir -p "$WORK/www" && cp "$WORK/page.json" "$WORK/www/vms.json"
python3 -m http.server 18443 --bind 127.0.0.1 --directory "$WORK/www" >/dev/null 2>&1 &
PIDS+=($!)
wait_for 10 curl -sf -o /dev/null http://127.0.0.1:18443/vms.json || { echo "bench-web: peer did not start"; exit 1; }

run_wrk() { # label url [header]
	local out
	out=$(wrk -t2 -c16 -d"${DURATION}s" --latency ${3:+-H "$3"} "$2" 2>&1)
	local rps p50 p99 errs
	rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
	p50=$(awk '$1 == "50%" { print $2 }' <<<"$out")
	p99=$(awk '$1 == "99%" { print $2 }' <<<"$out")
	errs=$(awk '/Non-2xx/ { print $NF }' <<<"$out")
	printf 'bench-web: %-58s %9s req/s  p50 %8s  p99 %8s%s\n' "$1" "$rps" "$p50" "$p99" "${errs:+  non-2xx $errs}"
	echo "$rps" >"$WORK/rps.$4"
	echo "$p99" >"$WORK/p99.$4"
}
run_wrk "controller GET /v1/vms (10k VMs, top 100 by messages_1h)" "$URL" "Authorization: Bearer $TOK" vms
run_wrk "controller GET /v1/vms?state=blocked&sort=name" "http://127.0.0.1:18442/v1/vms?state=blocked&sort=name&limit=100" \
	"Authorization: Bearer $TOK" blocked
run_wrk "controller GET /healthz (no work)" "http://127.0.0.1:18442/healthz" "" healthz
run_wrk "peer: python3 http.server, the same $(wc -c <"$WORK/page.json") bytes" "http://127.0.0.1:18443/vms.json" "" peer
python3 - "$WORK" <<'EOF'
import sys
w = sys.argv[1]
r = lambda n: float(open("%s/rps.%s" % (w, n)).read() or 0)
def ms(s):
    s = s.strip()
    for suf, f in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if s.endswith(suf):
            return float(s[:-len(suf)]) * f
    return float("nan")
p99 = ms(open("%s/p99.vms" % w).read())
print("bench-web: /v1/vms throughput vs the static-file peer: %.1fx; vs /healthz: %.2f" % (r("vms") / max(r("peer"), 1), r("vms") / max(r("healthz"), 1)))
print("bench-web: /v1/vms p99 %.2f ms (target < 50 ms): %s" % (p99, "met" if p99 < 50 else "MISSED"))
EOF
