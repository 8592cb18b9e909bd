#!/bin/bash
# SPDX-License-Identifier: MIT
# `make demo DEMO_SECONDS=N` as a test (as root):
#
#   TW_AGENT=... TW_CONTROLLER=... TW_TWCTL=... bash tests/demo/run.sh
#
# Runs demo/run.sh unattended (DEMO_SECONDS, default 60) and checks what it
# promises: demo-summary.json lists every guest with name, uuid, role,
# blocked, time_to_block_s and messages_out; the spammer is blocked (at the
# controller and in nftables) within seconds of its first spam message,
# with less than a minute's burst out; nobody else is blocked, and each of
# them got its mail out (the listed guest's was refused by the server);
# tapwarden saw the blocklist refusals; and afterwards not one namespace
# or process of the demo is left.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
for v in TW_AGENT TW_CONTROLLER TW_TWCTL; do
	[[ -x "${!v:-}" ]] || { echo "demo-test: $v must name the binary" >&2; exit 2; }
done
[[ $(id -u) == 0 ]] || { echo "demo-test: must run as root" >&2; exit 2; }
WORK=$(mktemp -d /tmp/tw-demotest.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
FAILED=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+: $2}"; FAILED=$((FAILED + 1)); }

secs=${DEMO_SECONDS:-60}
DEMO_SECONDS=$secs DEMO_SUMMARY="$WORK/demo-summary.json" DEMO_LISTEN=127.0.0.1:18480 \
	timeout $((secs + 120)) bash "$ROOT/demo/run.sh" >"$WORK/demo.out" 2>&1 &
pid=$!
wait "$pid"
rc=$?
if ((rc == 0)) && [[ -s $WORK/demo-summary.json ]]; then
	pass "the demo ran ${secs} s unattended (exit 0) and wrote its summary"
else
	fail "demo run" "exit $rc"; tail -n 30 "$WORK/demo.out" | sed 's/^/    | /'
fi
grep -q -- "--- t=" "$WORK/demo.out" && grep -q "http://127.0.0.1:18480/" "$WORK/demo.out" &&
	grep -Eq "support token: [^ ]{20,}" "$WORK/demo.out" &&
	pass "the terminal showed the live summary, the dashboard URL and the tokens" ||
	fail "terminal output" "$(head -c 600 "$WORK/demo.out")"

if python3 - "$WORK/demo-summary.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
g = {r["role"]: r for r in d["guests"]}
bad = []
for r in d["guests"]:
    for k in ("name", "uuid", "role", "blocked", "time_to_block_s", "messages_out"):
        if k not in r:
            bad.append("%s has no %s" % (r.get("name"), k))
want = {"transactional", "whitelisted-newsletter", "compromised-spammer", "blocklisted-low-volume", "no-mail"}
if set(g) != want or not 4 <= len(d["guests"]) <= 6:
    bad.append("roles %s" % sorted(g))
s = g.get("compromised-spammer", {})
if not (s.get("blocked") and s.get("enforced_in_nftables")):
    bad.append("spammer not blocked")
elif not (isinstance(s.get("time_to_block_s"), (int, float)) and 0 <= s["time_to_block_s"] < 10):
    bad.append("spammer time_to_block_s %r" % s.get("time_to_block_s"))
elif not 50 <= s["messages_out"] < 600:
    bad.append("spammer got %d out" % s["messages_out"])
for role, r in g.items():
    if role != "compromised-spammer" and (r["blocked"] or r["enforced_in_nftables"] or r["time_to_block_s"] is not None):
        bad.append("%s blocked" % role)
if g.get("whitelisted-newsletter", {}).get("messages_out") != 300 or not g["whitelisted-newsletter"]["whitelisted"]:
    bad.append("newsletter %r" % g.get("whitelisted-newsletter"))
if g.get("transactional", {}).get("messages_out", 0) < 5 or g["transactional"]["seen"]["messages"] < 5:
    bad.append("transactional %r" % g.get("transactional"))
b = g.get("blocklisted-low-volume", {})
if b.get("messages_out") != 0 or b.get("seen", {}).get("blocklist", 0) < 1:
    bad.append("listed %r" % b)
if g.get("no-mail", {}).get("seen", {}).get("messages") != 0:
    bad.append("quiet sent mail")
if not d.get("as_expected"):
    bad.append("as_expected false: %s" % d.get("unexpected"))
if bad:
    print("; ".join(bad))
    sys.exit(1)
s = g["compromised-spammer"]
print("spammer blocked %.2f s after its first spam message, %d messages out; newsletter 300 out, not blocked"
      % (s["time_to_block_s"], s["messages_out"]))
PY
then
	pass "summary: the spammer alone is blocked, within seconds; the others got their mail out"
else
	fail "summary"; tail -n 12 "$WORK/demo.out" | sed 's/^/    | /'
fi

left=$(ip netns list | awk -v p="twd$pid-" 'index($1, p) == 1')
procs=$(ps -eo pid=,args= | grep -F -- "tw-demo." | grep -v grep)
if [[ -z $left && -z $procs ]]; then
	pass "no namespace (twd$pid-*) and no process of the demo is left"
else
	fail "cleanup" "namespaces: $left; processes: $procs"
fi
if ((FAILED)); then
	echo "demo-test: $FAILED check(s) failed"
	exit 1
fi
echo "demo-test: all checks passed"
