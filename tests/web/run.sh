#!/bin/bash
# SPDX-License-Identifier: MIT
# The controller's web side end to end (as root):
#
#   TW_AGENT=... TW_CONTROLLER=... TW_TWCTL=... bash tests/web/run.sh
#
# One simulated hypervisor (namespace with a bridge, veth taps, smtp-sink,
# real nftables) with an agent, a real redis-server and a controller with
# a tokens file (viewer, support, admin), all inside the hypervisor's
# namespace so that Chromium and Prometheus reach both on its loopback.
# Seeded by real traffic: guest X bursts spam whose subject is
# "<script>window.__xss=1</script>" and is blocked by the agent; guests N
# and W send a little normal mail (W is not whitelisted).  Then:
#   - tests/web/api_test.py: every endpoint with every role (401/403 where
#     it must be), responses validated against doc/openapi.yaml;
#   - tests/web/prom.sh: promtool on the alerting rules; a real Prometheus
#     scrapes the agent and the controller and PromQL answers as expected;
#   - tests/web/ui.mjs: the dashboard in headless Chromium (playwright-core):
#     a viewer sees no buttons and the subject as text; a support user
#     approves W and unblocks X through the UI;
#   - after the UI: X's element is gone from the hypervisor's nftables and
#     X sends mail again; W's entry reached the agent's whitelist cache.
# Screenshots and logs go to build/test-output/web/ (kept, not committed).
# Every wait is bounded; cleanup stops processes by PID and deletes the
# namespaces.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../integration/lib.sh
source "$ROOT/tests/integration/lib.sh"
# shellcheck source=../lib/daemon.sh
source "$ROOT/tests/lib/daemon.sh"
# shellcheck source=../lib/tokens.sh
source "$ROOT/tests/lib/tokens.sh"
# shellcheck source=../lib/hv.sh
source "$ROOT/tests/lib/hv.sh"

tw_require web TW_AGENT TW_CONTROLLER TW_TWCTL -- nft redis-server redis-cli smtp-sink curl node npm \
	/usr/bin/chromium /usr/bin/prometheus /usr/bin/promtool
/usr/bin/python3 -c 'import jsonschema, yaml' || { echo "web: python3-jsonschema and python3-yaml are needed" >&2; exit 2; }

WORK=$(mktemp -d /tmp/tw-web.XXXXXX)
chmod 755 "$WORK"
OUT="$ROOT/build/test-output/web"
rm -rf "$OUT" && mkdir -p "$OUT"
TAG="twweb$$"
NS="$TAG-hv" NS_S="$TAG-s" NS_X="$TAG-gx" NS_N="$TAG-gn" NS_W="$TAG-gw"
UUID_X=aaaaaaaa-6666-4000-8000-00000000000a
UUID_N=bbbbbbbb-6666-4000-8000-00000000000b
UUID_W=cccccccc-6666-4000-8000-00000000000c
SOCK="$WORK/redis.sock"
CTL=127.0.0.1:18451 MET=127.0.0.1:9192
XSS='<script>window.__xss=1</script>'
FAILED=0

tw_log() { printf '%s\n' "web: $*" >&2; }
finish() {
	local rc=$?
	cp "$WORK"/*.log "$OUT/" 2>/dev/null
	tw_cleanup_all
	if [[ -n "${TW_KEEP:-}" ]]; then tw_log "work directory kept: $WORK"; else rm -rf "$WORK"; fi
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

in_hv() { ip netns exec "$NS" "$@"; }
twctl() { in_hv "$TW_TWCTL" --controller "http://$CTL" --operator web-test "$@"; }
metric() { in_hv curl -sf --max-time 5 "http://$MET/metrics" | awk -v n="$1" -v l="${2:-}" '(index($0, n "{") == 1 || index($0, n " ") == 1) && (l == "" || index($0, l)) { print $NF; exit }'; }
m_is() { [[ "$(metric "$1" "$2")" == "$3" ]]; }
show() { tail -n "${2:-20}" "$WORK/$1" | sed 's/^/    | /'; }
blocked() { twctl --json blocks list 2>/dev/null | grep -q "\"$1\""; }
listed() { twctl --json vms --limit 10 2>/dev/null | grep -q "\"$1\""; }
has_series() { [[ -n $(twctl --json vm show "$1" 2>/dev/null | json_get series.0.ts) ]]; }

# ---- the dashboard test's driver (npm, once per checkout) ----------------------------------
if [[ ! -d "$HERE/node_modules/playwright-core" ]]; then
	(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) >"$WORK/npm.log" 2>&1 ||
		{ tw_log "npm ci failed"; show npm.log; exit 1; }
fi

# ---- topology, Redis, agent, controller ----------------------------------------------------
make_tokens "$WORK" "$TW_TWCTL" || { tw_log "cannot make API tokens"; exit 1; }
export TWCTL_TOKEN_FILE="$WORK/support.tok"
hypervisor "$NS" "$NS_S" 198.18.7 || { tw_log "cannot make the hypervisor"; exit 1; }
for g in "$NS_X" "$NS_N" "$NS_W"; do ns_new "$g" || exit 1; done
guest_on "$NS" "$NS_X" tapx0 52:54:00:6a:00:01 198.18.7.2 &&
	guest_on "$NS" "$NS_N" tapn0 52:54:00:6b:00:01 198.18.7.3 &&
	guest_on "$NS" "$NS_W" tapw0 52:54:00:6c:00:01 198.18.7.4 || { tw_log "cannot make the guests"; exit 1; }
{ echo "<node>"; domain web-x $UUID_X 52:54:00:6a:00:01 tapx0; domain web-n $UUID_N 52:54:00:6b:00:01 tapn0
  domain web-w $UUID_W 52:54:00:6c:00:01 tapw0; echo "</node>"; } >"$WORK/node.xml"
sed "s/^  ladder: \[1h, /  ladder: [10m, /" "$ROOT/policies/default.yaml" >"$WORK/policy.yaml"

spawn "$NS" redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --dir "$WORK" --save "" \
	--appendonly no >"$WORK/redis.log" 2>&1
wait_until 10 bash -c "redis-cli -s '$SOCK' ping 2>/dev/null | grep -q PONG" || { tw_log "redis did not start"; exit 1; }
spawn "$NS" "$TW_CONTROLLER" --redis "unix:$SOCK" --policy "$WORK/policy.yaml" --listen "$CTL" --consumer web1 \
	--tokens "$WORK/tokens.yaml" --resolver 127.0.0.1:9 --dns-timeout 0.3 >"$WORK/ctl.log" 2>&1
spawn "$NS" "$TW_AGENT" --libvirt "test://$WORK/node.xml" --policy "$WORK/policy.yaml" \
	--replies "$ROOT/policies/replies.yaml" --metrics "$MET" --redis "unix:$SOCK" --agent-id hv1 \
	--state-dir "$WORK/state" --heartbeat 1 --resync-interval 5 >"$WORK/agent.log" 2>&1
if wait_until 10 bash -c "ip netns exec '$NS' curl -sf http://$CTL/healthz >/dev/null" &&
	wait_until 20 m_is tapwarden_report_connected "" 1; then
	pass "redis, controller and agent up in the hypervisor's namespace"
else
	fail "start"; show ctl.log; show agent.log; exit 1
fi

# ---- seed state with real SMTP ---------------------------------------------------------------
timeout 60 ip netns exec "$NS_N" python3 "$ROOT/tests/live/send.py" 198.18.7.1 6 2 "orders@$NS_N.test" >/dev/null ||
	fail "N's normal mail"
timeout 30 ip netns exec "$NS_W" python3 "$ROOT/tests/live/send.py" 198.18.7.1 2 1 "news@$NS_W.test" >/dev/null ||
	fail "W's normal mail"
sent=$(burst "$NS_X" 198.18.7.1 --subject "$XSS")
if wait_until 20 blocked "$UUID_X" && [[ $(elems_vm "$NS" "$UUID_X") == 1 ]]; then
	pass "X's burst ($sent messages, subject $XSS): blocked by the agent, in nftables and at the controller"
else
	fail "X blocked" "sent=$sent"; show agent.log; show ctl.log
fi
# the stats reports (every 10 s) bring N and W into the VM list and X's
# burst into its series
if wait_until 30 listed "$UUID_W" && listed "$UUID_N" && wait_until 30 has_series "$UUID_X" && twctl --json vm show "$UUID_X" | grep -qF 'window.__xss=1'; then
	pass "the VM list holds N and W; X's evidence holds the hostile subject"
else
	fail "seeded state" "$(twctl vms 2>&1 | head -5)"
fi

# a pending whitelist request for N (its DNS checks time out: no resolver
# answers on 127.0.0.1:9 in this namespace)
python3 "$ROOT/tests/wlreq/sample.py" bad "$NS_N.test" >"$WORK/sample.eml"
REQ_ID=$(twctl --json whitelist request --vm "$UUID_N" --ticket T-W1 --customer C-W --consent-method "double opt-in" \
	--signup-url "https://$NS_N.test/signup" --unsubscribe-url "https://$NS_N.test/u" --sample "$WORK/sample.eml" \
	--ip 198.18.7.3 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') &&
	[[ -n $REQ_ID ]] && pass "a whitelist request for N is pending (request $REQ_ID)" ||
	{ fail "filing a whitelist request"; show ctl.log; }
export REQ_ID
export BASE_URL="http://$CTL" VM_KNOWN=$UUID_X VM_FREE=$UUID_N VM_BLOCKED=$UUID_X VM_APPROVE=$UUID_W
TOKEN_VIEWER=$(cat "$WORK/viewer.tok") TOKEN_SUPPORT=$(cat "$WORK/support.tok") TOKEN_ADMIN=$(cat "$WORK/admin.tok")
export TOKEN_VIEWER TOKEN_SUPPORT TOKEN_ADMIN OPENAPI="$ROOT/doc/openapi.yaml" SHOT_DIR="$OUT"

# ---- the API with every role ---------------------------------------------------------------------
if in_hv /usr/bin/python3 "$HERE/api_test.py" >"$WORK/api.log" 2>&1; then
	pass "API: every endpoint and role ($(grep -c '^PASS' "$WORK/api.log") checks, responses valid against openapi.yaml)"
else
	fail "API" "$(grep '^FAIL' "$WORK/api.log" | head -10 | tr '\n' ';')"; show api.log 30
fi
blocked "$UUID_X" || fail "the API test left X unblocked (the UI test needs it blocked)"

# ---- Prometheus ------------------------------------------------------------------------------------
mkdir -p "$WORK/prom"
cp "$WORK/viewer.tok" "$WORK/prom/viewer.tok"
if in_hv env CTL_ADDR="$CTL" CTL_TOKEN_FILE="$WORK/prom/viewer.tok" AGENT_ADDR="$MET" WORK="$WORK/prom" \
	PROM_PORT=18470 EXPECT_BLOCKED_VM="$UUID_X" EXPECT_AGENT=hv1 bash "$HERE/prom.sh" >"$WORK/prom.log" 2>&1; then
	pass "Prometheus: rules pass promtool, both endpoints scraped, PromQL answers ($(grep -c '^PASS' "$WORK/prom.log") checks)"
else
	fail "Prometheus" "$(grep '^FAIL' "$WORK/prom.log" | head -10 | tr '\n' ';')"; show prom.log 30
fi

# ---- the dashboard in Chromium ------------------------------------------------------------------
if in_hv node "$HERE/ui.mjs" >"$WORK/ui.log" 2>&1; then
	pass "dashboard: $(grep -c '^PASS' "$WORK/ui.log") checks in headless Chromium (screenshots in build/test-output/web)"
else
	fail "dashboard" "$(grep '^FAIL' "$WORK/ui.log" | head -10 | tr '\n' ';')"; show ui.log 30
fi
x_unblocked() { [[ $(elems_vm "$NS" "$UUID_X") == 0 ]]; }
if wait_until 10 x_unblocked && wait_until 15 smtp_ok "$NS_X" 198.18.7.1; then
	pass "after the UI's unblock: X's element left the hypervisor's nftables and X's SMTP works"
else
	fail "unblock reached the agent" "elements=$(elems_vm "$NS" "$UUID_X")"; show agent.log
fi
if wait_until 10 grep -q "$UUID_W" "$WORK/state/whitelist.cache"; then
	pass "the UI's whitelist approval of W reached the agent's whitelist cache"
else
	fail "W's approval on the agent" "$(ls "$WORK/state")"
fi
if ((FAILED)); then
	echo "web: $FAILED check(s) failed (logs in build/test-output/web)"
	exit 1
fi
echo "web: all checks passed"
