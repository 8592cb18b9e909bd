#!/bin/bash
# SPDX-License-Identifier: MIT
# Prometheus side of the web test (run by tests/web/run.sh, as root, inside
# the hypervisor's namespace):
#
#   CTL_ADDR=127.0.0.1:18451 CTL_TOKEN_FILE=viewer.tok AGENT_ADDR=127.0.0.1:9192 \
#   WORK=/tmp/x PROM_PORT=18470 EXPECT_BLOCKED_VM=UUID EXPECT_AGENT=hv1 \
#   [PROMETHEUS=/usr/bin/prometheus] [PROMTOOL=/usr/bin/promtool] bash tests/web/prom.sh
#
#   1. promtool: check the rules, run their unit tests (every alert must have
#      a case where it fires), check the example and the generated config;
#   2. a real Prometheus (scrape and rule evaluation every 1 s) scrapes the
#      controller (bearer token) and the agent; both targets must be up and
#      every rule evaluate without error;
#   3. PromQL: the blocked VM, the agent up, the blocks, agent metrics, the
#      VM-blocked alert firing and no agent-down alert;
#   4. every expr of the Grafana dashboard (template variables substituted)
#      and every rule runs without error, and every metric name, label name
#      and literal label value they use exists in the scraped series.
#
# Prints "PASS name" / "FAIL name: why"; exit 1 on any failure, 2 on bad
# usage.  Prometheus is stopped by its PID on exit.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PROMETHEUS=${PROMETHEUS:-/usr/bin/prometheus}
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
PROM_PORT=${PROM_PORT:-18470}
PY=/usr/bin/python3
RULES="$ROOT/packaging/prometheus/tapwarden-rules.yml"
RULE_TESTS="$ROOT/packaging/prometheus/tests/rules_test.yml"
EXAMPLE="$ROOT/packaging/prometheus/prometheus.yml"
DASHBOARD="$ROOT/packaging/grafana/tapwarden-dashboard.json"

for v in CTL_ADDR CTL_TOKEN_FILE AGENT_ADDR WORK EXPECT_BLOCKED_VM EXPECT_AGENT; do
	[[ -n "${!v:-}" ]] || { echo "prom.sh: $v must be set" >&2; exit 2; }
done
for x in "$PROMETHEUS" "$PROMTOOL" "$PY"; do
	[[ -x "$x" ]] || { echo "prom.sh: $x is not executable" >&2; exit 2; }
done
[[ -r "$CTL_TOKEN_FILE" ]] || { echo "prom.sh: cannot read $CTL_TOKEN_FILE" >&2; exit 2; }
mkdir -p "$WORK" || exit 2

FAILS=0
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; FAILS=$((FAILS + 1)); }
oneline() { tr '\n' ' ' | sed 's/  */ /g' | cut -c1-400; }

PROM_PID=
stop_prometheus() {
	if [[ -n "$PROM_PID" ]] && kill -0 "$PROM_PID" 2>/dev/null; then
		kill "$PROM_PID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$PROM_PID" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$PROM_PID" 2>/dev/null && kill -9 "$PROM_PID" 2>/dev/null
		wait "$PROM_PID" 2>/dev/null
	fi
	PROM_PID=
}
# shellcheck disable=SC2317  # invoked by the trap
finish() {
	local rc=$?
	stop_prometheus
	((rc == 0 && FAILS > 0)) && rc=1
	exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---- 1. promtool ----------------------------------------------------------------------------
if out=$("$PROMTOOL" check rules "$RULES" 2>&1); then
	pass "promtool check rules ($(grep -o '[0-9]* rules found' <<<"$out"))"
else
	fail "promtool check rules" "$(oneline <<<"$out")"
fi
if out=$("$PROMTOOL" test rules "$RULE_TESTS" 2>&1); then
	pass "promtool test rules"
else
	fail "promtool test rules" "$(oneline <<<"$out")"
fi

# The example config, with its paths pointed at this checkout and a dummy token.
sed -e "s#/etc/prometheus/tapwarden-rules.yml#$RULES#" \
	-e "s#/etc/prometheus/tapwarden.token#$WORK/example.token#" "$EXAMPLE" >"$WORK/example.yml"
echo dummy >"$WORK/example.token"
if out=$("$PROMTOOL" check config "$WORK/example.yml" 2>&1); then
	pass "promtool check config packaging/prometheus/prometheus.yml"
else
	fail "promtool check config packaging/prometheus/prometheus.yml" "$(oneline <<<"$out")"
fi

CONFIG="$WORK/prometheus.yml"
cat >"$CONFIG" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - '$RULES'
scrape_configs:
  - job_name: tapwarden-controller
    authorization:
      type: Bearer
      credentials_file: '$CTL_TOKEN_FILE'
    static_configs:
      - targets: ['$CTL_ADDR']
  - job_name: tapwarden-agent
    static_configs:
      - targets: ['$AGENT_ADDR']
        labels: {hypervisor: '$EXPECT_AGENT'}
EOF
if out=$("$PROMTOOL" check config "$CONFIG" 2>&1); then
	pass "promtool check config (generated, scrape every 1s)"
else
	fail "promtool check config (generated)" "$(oneline <<<"$out")"
	exit 1
fi

# ---- 2. a real Prometheus -----------------------------------------------------------------
rm -rf "$WORK/prom-data"
# Something else on the port would answer our queries: refuse.
if (exec 3<>"/dev/tcp/127.0.0.1/$PROM_PORT") 2>/dev/null; then
	fail "Prometheus port" "127.0.0.1:$PROM_PORT is already in use"
	exit 1
fi
"$PROMETHEUS" --config.file="$CONFIG" --storage.tsdb.path="$WORK/prom-data" \
	--web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
export PROM_URL="http://127.0.0.1:$PROM_PORT" PROM_PID
export RULE_TESTS DASHBOARD EXPECT_BLOCKED_VM EXPECT_AGENT

# Everything that talks to the HTTP API: python3, stdlib only.
"$PY" - <<'PYEOF'
import json, os, re, sys, time, urllib.error, urllib.parse, urllib.request

URL = os.environ["PROM_URL"]
PID = int(os.environ["PROM_PID"])
VM = os.environ["EXPECT_BLOCKED_VM"]
AGENT = os.environ["EXPECT_AGENT"]
fails = 0

def ok(name):
    print("PASS " + name, flush=True)

def bad(name, why):
    global fails
    fails += 1
    print("FAIL %s: %s" % (name, str(why).replace("\n", " ")[:500]), flush=True)

def alive():
    try:
        os.kill(PID, 0)
        return True
    except OSError:
        return False

def get(path, **params):
    """JSON from the API; (data, None) or (None, error text)."""
    q = urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(URL + path + ("?" + q if q else ""), timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except Exception:
            return None, "HTTP %d" % e.code
    except Exception as e:
        return None, repr(e)
    if body.get("status") != "success":
        return None, "%s: %s" % (body.get("errorType"), body.get("error"))
    return body.get("data"), None

def query(expr):
    """Instant query: (list of (labels, float), None) or (None, error)."""
    d, err = get("/api/v1/query", query=expr)
    if err:
        return None, err
    if d["resultType"] == "scalar":
        return [({}, float(d["result"][1]))], None
    if d["resultType"] != "vector":
        return None, "result type %s" % d["resultType"]
    return [(s["metric"], float(s["value"][1])) for s in d["result"]], None

def wait_until(seconds, fn):
    end = time.time() + seconds
    while True:
        r = fn()
        if r or time.time() >= end or not alive():
            return r
        time.sleep(0.5)

# ---- Prometheus up, targets up -------------------------------------------------------
def ready():
    try:
        with urllib.request.urlopen(URL + "/-/ready", timeout=2) as r:
            return r.status == 200
    except Exception:
        return False

if not wait_until(30, ready):
    log = open(os.path.join(os.environ.get("WORK", "."), "prometheus.log"), errors="replace").read()[-600:] \
        if os.path.exists(os.path.join(os.environ.get("WORK", "."), "prometheus.log")) else ""
    bad("Prometheus ready", ("exited: " if not alive() else "not ready after 30 s: ") + log)
    sys.exit(1)
ok("Prometheus ready at " + URL)

JOBS = ("tapwarden-controller", "tapwarden-agent")
def targets_up():
    d, err = get("/api/v1/targets", state="active")
    if err:
        return None
    health = {}
    for t in d["activeTargets"]:
        health.setdefault(t["labels"].get("job"), []).append(t)
    if all(j in health and all(t["health"] == "up" for t in health[j]) for j in JOBS):
        return health
    targets_up.last = health
    return None
targets_up.last = {}

health = wait_until(30, targets_up)
for j in JOBS:
    if health:
        ok("target %s up (%s)" % (j, ", ".join(t["scrapeUrl"] for t in health[j])))
    else:
        ts = targets_up.last.get(j, [])
        if ts and all(t["health"] == "up" for t in ts):
            ok("target %s up" % j)
        else:
            bad("target %s up" % j, "; ".join("%s %s %s" % (t["scrapeUrl"], t["health"], t["lastError"]) for t in ts)
                or "no such target")
if not health:
    sys.exit(1)

# ---- rules loaded and evaluated without error ----------------------------------------------
def rules_evaluated():
    d, err = get("/api/v1/rules")
    if err:
        return None
    rules = [r for g in d["groups"] for r in g["rules"]]
    if rules and all(not r.get("lastEvaluation", "0001").startswith("0001") for r in rules):
        return rules
    return None

rules = wait_until(15, rules_evaluated)
if not rules:
    bad("rules evaluated", "not every rule was evaluated within 15 s")
    d, _ = get("/api/v1/rules")
    rules = [r for g in (d or {}).get("groups", []) for r in g["rules"]]
else:
    broken = ["%s: %s" % (r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
    if broken:
        bad("rules healthy", "; ".join(broken))
    else:
        ok("%d rules loaded and evaluated, health ok" % len(rules))

# every alerting rule has a unit test case in which it fires
tests = open(os.environ["RULE_TESTS"]).read()
fired = set(re.findall(r"alertname:\s*(\S+)\s*\n\s*eval_time:\s*\S+\s*\n\s*exp_alerts:\s*\n\s*-\s*exp_labels", tests))
alerts = sorted({r["name"] for r in rules if r["type"] == "alerting"})
missing = [a for a in alerts if a not in fired]
if not alerts:
    bad("rule tests cover every alert", "no alerting rules loaded")
elif missing:
    bad("rule tests cover every alert", "no firing case for " + ", ".join(missing))
else:
    ok("rule tests: each of the %d alerts has a case where it fires" % len(alerts))

# ---- PromQL answers ----------------------------------------------------------------------
def expect(name, expr, pred, want):
    # the first scrapes may lag a rule evaluation; retry briefly
    res = {"r": None, "e": None}
    def attempt():
        res["r"], res["e"] = query(expr)
        return res["r"] is not None and len(res["r"]) > 0 and pred([v for _, v in res["r"]])
    if wait_until(5, attempt):
        ok("%s: %s -> %s" % (name, expr, ", ".join("%g" % v for _, v in res["r"][:5])))
    elif res["e"]:
        bad(name, "%s: %s" % (expr, res["e"]))
    else:
        bad(name, "%s: got %s, want %s" % (expr, [v for _, v in (res["r"] or [])][:5] or "no series", want))

expect("blocked VM at the controller", 'tapwarden_controller_vm_state{vm="%s",state="blocked"}' % VM,
       lambda v: all(x == 1 for x in v), "1")
expect("blocked VM only once", 'count(tapwarden_controller_vm_state{vm="%s"})' % VM,
       lambda v: v == [1], "1 (one state per VM)")
expect("agent up at the controller", 'tapwarden_controller_agent_up{agent="%s"}' % AGENT,
       lambda v: all(x == 1 for x in v), "1")
expect("agent heartbeat recent", 'tapwarden_controller_agent_heartbeat_age_seconds{agent="%s"}' % AGENT,
       lambda v: all(0 <= x < 60 for x in v), "0 <= age < 60")
expect("agent scraped", 'up{job="tapwarden-agent"}', lambda v: all(x == 1 for x in v), "1")
expect("controller scraped", 'up{job="tapwarden-controller"}', lambda v: all(x == 1 for x in v), "1")
expect("controller has Redis", 'tapwarden_controller_redis_up', lambda v: all(x == 1 for x in v), "1")
expect("active blocks", 'sum(tapwarden_controller_blocks)', lambda v: v[0] >= 1, ">= 1")
expect("blocked VMs counted", 'tapwarden_controller_vms{state="blocked"}', lambda v: all(x >= 1 for x in v), ">= 1")
expect("agent capture metrics", 'count(tapwarden_capture_up)', lambda v: v[0] >= 1, ">= 1 tap")
expect("agent connected to Redis", 'tapwarden_report_connected', lambda v: all(x == 1 for x in v), "1")
expect("VM blocked in the agent's nftables", 'tapwarden_vm_blocked{vm="%s"}' % VM,
       lambda v: all(x == 1 for x in v), "1")

def alerts_now():
    d, err = get("/api/v1/alerts")
    return [] if err else d["alerts"]

def vm_alert_firing():
    return [a for a in alerts_now() if a["labels"].get("alertname") == "TapwardenVMBlocked"
            and a["labels"].get("vm") == VM and a["state"] == "firing"]
a = wait_until(10, vm_alert_firing)
if a:
    ok("alert TapwardenVMBlocked firing for %s (%s)" % (VM, a[0]["annotations"].get("summary")))
else:
    bad("alert TapwardenVMBlocked firing", "not firing for %s; alerts: %s" %
        (VM, [(x["labels"].get("alertname"), x["state"]) for x in alerts_now()]))

down = [x for x in alerts_now() if x["labels"].get("alertname") in
        ("TapwardenAgentDown", "TapwardenAgentHeartbeatMissing", "TapwardenControllerDown",
         "TapwardenControllerRedisDown", "TapwardenAgentRedisDisconnected", "TapwardenCaptureDown")]
if down:
    bad("no down alert", ["%s %s %s" % (x["labels"]["alertname"], x["state"], x["labels"]) for x in down])
else:
    ok("no agent, controller, Redis or capture down alert pending or firing")

# ---- every dashboard and rule expression -------------------------------------------------
# Metric names that legitimately exist only after an event, so a healthy
# test fleet does not have them: ALERTS (series only while an alert is
# pending or firing; TapwardenVMBlocked normally makes it exist here, but
# the check must not depend on it).  Keep this list tiny: every other
# metric the dashboard or the rules use is rendered by the daemons from the
# start (counters at 0), so a missing one is a wrong name.
ALLOW_ABSENT = {"ALERTS"}

try:
    dash = json.load(open(os.environ["DASHBOARD"]))
    ok("dashboard JSON parses (%d panels)" % len(dash.get("panels", [])))
except Exception as e:
    bad("dashboard JSON parses", e)
    dash = {}

# structure: data source variable, every panel on it, unique ids
problems = []
tv = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
if tv.get("DS_PROMETHEUS", {}).get("type") != "datasource" or tv["DS_PROMETHEUS"].get("query") != "prometheus":
    problems.append("no datasource variable DS_PROMETHEUS of type prometheus")
if not (30 <= int(dash.get("schemaVersion", 0)) <= 40):
    problems.append("schemaVersion %s" % dash.get("schemaVersion"))
ids = [p.get("id") for p in dash.get("panels", [])]
if len(ids) != len(set(ids)):
    problems.append("duplicate panel ids")
for p in dash.get("panels", []):
    if p.get("type") == "row":
        continue
    for t in [p] + p.get("targets", []):
        if t.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
            problems.append("panel %r: datasource %s" % (p.get("title"), t.get("datasource")))
    if not p.get("targets"):
        problems.append("panel %r has no query" % p.get("title"))
if problems:
    bad("dashboard structure", "; ".join(problems))
elif dash:
    ok("dashboard structure: DS_PROMETHEUS variable on every panel, unique ids, schemaVersion %s" % dash["schemaVersion"])

def walk_exprs(o, where, out):
    if isinstance(o, dict):
        title = o.get("title") or o.get("name") or where
        for k, v in o.items():
            if k == "expr" and isinstance(v, str):
                out.append((title, v))
            else:
                walk_exprs(v, title if isinstance(title, str) else where, out)
    elif isinstance(o, list):
        for v in o:
            walk_exprs(v, where, out)
    return out

exprs = [("dashboard: " + w, e) for w, e in walk_exprs(dash, "dashboard", [])]
for v in dash.get("templating", {}).get("list", []):
    if v.get("type") != "query":
        continue
    q = v.get("query")
    q = q.get("query", "") if isinstance(q, dict) else (q or "")
    m = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_]\w*\s*\)\s*", q)
    if m:
        exprs.append(("dashboard variable " + v["name"], m.group(1)))
    elif not re.fullmatch(r"\s*label_values\(\s*[A-Za-z_]\w*\s*\)\s*", q):
        exprs.append(("dashboard variable " + v["name"], q))
exprs += [("rule " + r["name"], r["query"]) for r in rules]
# the queries in annotation templates: {{ with printf `expr{l="%s"}` $labels.l | query }}
for r in rules:
    for k, text in sorted(r.get("annotations", {}).items()):
        for q in re.findall(r"printf\s+`([^`]*)`", text):
            exprs.append(("rule %s annotation %s" % (r["name"], k), re.sub(r'="%s"', '=~".+"', q)))

def substitute(e):
    e = re.sub(r"\$\{?__(rate_interval|interval|range)\}?", "1m", e)
    e = re.sub(r"\$__interval_ms|\$\{__interval_ms\}", "60000", e)
    e = re.sub(r"\$\{[A-Za-z_]\w*(:[a-z]+)?\}|\$[A-Za-z_]\w*|\[\[[A-Za-z_]\w*\]\]", ".*", e)
    return e

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan", "atan2"}
LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
                "topk", "quantile", "limitk", "limit_ratio"}

def skip_string(s, i):
    q = s[i]
    i += 1
    while i < len(s) and s[i] != q:
        i += 2 if s[i] == "\\" and q != "`" else 1
    return i + 1

def skip_to(s, i, close):
    while i < len(s) and s[i] != close:
        i = skip_string(s, i) if s[i] in "\"'`" else i + 1
    return i + 1

def selectors(e):
    """(metric name, [(label, op, value)]) for every vector selector."""
    out, i, n = [], 0, len(e)
    while i < n:
        c = e[i]
        if c in "\"'`":
            i = skip_string(e, i)
        elif c == "[":
            i = skip_to(e, i, "]")
        elif c == "{":
            j = skip_to(e, i, "}")
            out.append((None, matchers(e[i + 1:j - 1])))
            i = j
        elif (c.isalpha() or c in "_:") and (i == 0 or not (e[i - 1].isalnum() or e[i - 1] in "_:.")):
            m = re.match(r"[A-Za-z_:][\w:]*", e[i:])
            word = m.group(0)
            j = i + len(word)
            while j < n and e[j].isspace():
                j += 1
            if word in LISTS and j < n and e[j] == "(":
                i = skip_to(e, j, ")")
            elif j < n and e[j] == "(" or word in KEYWORDS or word in AGGREGATIONS:
                i = j
            elif j < n and e[j] == "{":
                k = skip_to(e, j, "}")
                out.append((word, matchers(e[j + 1:k - 1])))
                i = k
            else:
                out.append((word, []))
                i = j
        else:
            i += 1
    return out

def matchers(s):
    return [(m.group(1), m.group(2), json.loads(m.group(3)))
            for m in re.finditer(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*("(?:\\.|[^"\\])*")', s)]

# 4a. each expression runs
errors = []
for where, e in exprs:
    r, err = query(substitute(e))
    if err:
        errors.append("%s: %s: %s" % (where, substitute(e), err))
if errors:
    for x in errors:
        bad("expression runs", x)
else:
    ok("all %d expressions (dashboard, variables, rules) run without error" % len(exprs))

# 4b. every metric name is in the scraped series (recording rules' too)
used = {}
for where, e in exprs:
    for name, ms in selectors(substitute(e)):
        if name is None:
            name = next((v for l, op, v in ms if l == "__name__" and op == "="), None)
        if name:
            used.setdefault(name, set()).add(where)
def names_present():
    d, err = get("/api/v1/label/__name__/values")
    have = set(d or [])
    names_present.missing = sorted(n for n in used if n not in have and n not in ALLOW_ABSENT)
    return not names_present.missing
names_present.missing = []
if wait_until(10, names_present):
    ok("all %d metric names used exist in the scraped series (allowed absent: %s)" %
       (len(used), ", ".join(sorted(ALLOW_ABSENT & set(used))) or "none"))
else:
    for n in names_present.missing:
        bad("metric name exists", "%s (used by %s)" % (n, "; ".join(sorted(used[n]))))

# 4c. label names used in matchers exist on that metric; literal values
# (= and plain |-alternations of =~) exist for that label somewhere
label_values = {}
def values_of(label):
    if label not in label_values:
        d, _ = get("/api/v1/label/%s/values" % label)
        label_values[label] = set(d or [])
    return label_values[label]
checked, problems = set(), []
all_labels = set(get("/api/v1/labels")[0] or [])
for where, e in exprs:
    for name, ms in selectors(substitute(e)):
        if not name or name in ALLOW_ABSENT:
            continue
        for l, op, v in ms:
            if (name, l, op, v) in checked or l == "__name__":
                continue
            checked.add((name, l, op, v))
            r, err = query('count(%s{%s!=""})' % (name, l))
            if not err and not r:
                # absent (empty) on this metric now: fine only for a matcher
                # that matches "" (a template variable's .*) on a label that
                # exists somewhere, e.g. hypervisor of a VM no agent reported
                if not (l in all_labels and re.fullmatch(v, "") if op == "=~" else False):
                    problems.append("%s: %s has no label %s" % (where, name, l))
                continue
            if op == "=" and v:
                lits = [v]
            elif op == "=~" and re.fullmatch(r"[\w\-]+(\|[\w\-]+)*", v):
                lits = v.split("|")
            else:
                lits = []
            for x in lits:
                if x not in values_of(l):
                    problems.append("%s: %s{%s%s%r}: no series has %s=%r" % (where, name, l, op, v, l, x))
if problems:
    for p in problems:
        bad("label used exists", p)
else:
    ok("all %d label matchers use labels that exist on their metric and known values" % len(checked))

sys.exit(min(fails, 100))
PYEOF
rc=$?
FAILS=$((FAILS + rc))
if ! kill -0 "$PROM_PID" 2>/dev/null; then
	fail "Prometheus still running" "it exited: $(tail -n 5 "$WORK/prometheus.log" | oneline)"
fi
stop_prometheus
if ((FAILS)); then
	echo "prom.sh: $FAILS failure(s); Prometheus log: $WORK/prometheus.log"
	exit 1
fi
echo "prom.sh: all checks passed"
exit 0
