# SPDX-License-Identifier: MIT
# Checks and /metrics reads for the tests that run the live agent (live,
# lxc, enforce, live bench).  Sourced after tests/integration/lib.sh; uses
# NS_HV (the namespace the agent runs in), METRICS (its ADDR:PORT) and WORK
# (agent.log, verdicts.jsonl there); fail() counts in FAILED.
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+: $2}"; FAILED=$((FAILED + 1)); }
show_agent_log() { tail -n "${1:-25}" "$WORK/agent.log" | sed 's/^/    | /'; }
metrics() { ip netns exec "$NS_HV" curl -sf --max-time 5 "http://$METRICS/metrics"; }
# metric NAME LABELSUBSTRING: the value of the first sample that matches
metric() { metrics | awk -v n="$1" -v l="$2" 'index($0, n "{") == 1 && index($0, l) { print $NF; exit }'; }
metric_is() { [[ "$(metric "$1" "$2")" == "$3" ]]; }
metrics_up() { metrics >/dev/null 2>&1; }
log_has() { grep -q -- "$1" "$WORK/agent.log"; }
verdict_for() { grep -q "\"vm\":\"$1\".*\"verdict\":\"$2\"" "$WORK/verdicts.jsonl" 2>/dev/null; }
