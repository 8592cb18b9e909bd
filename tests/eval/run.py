#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make eval: detection quality on reproducible scenarios.

    run.py --agent A --controller C [--seeds N] [--scale S] [--scenarios a,b]
           [--pcap-dir DIR] [--out eval-results.json] [--require]

Each scenario (scenarios.py) and seed becomes a pcap with its --vm-map and
its labels.  The agent replays it offline (capture clock, the default
policy: --verdicts, --reports, --sessions); its reports then go through
the controller's own rules: tw.lua in a real redis-server started here,
called as the controller calls it (ingest, with the capture clock as now,
and the policy as `tapwarden-controller --print-policy` gives it), with
the scenario's whitelisted VMs whitelisted.  A VM's block is the first of
the agent's block verdicts and the controller's blocks (campaigns).

--pcap-dir DIR (make eval EVAL_PCAP_DIR=DIR) scores captures made
elsewhere instead: DIR/NAME.pcap, NAME.map.json, NAME.label.json
({"spam_vms": [...], "legit_vms": [...]}).

Per VM: blocked, time from its first spam message to the block (capture
seconds), messages and recipients that got out (250) before the block,
alerts.  A block of a legitimate or whitelisted VM is a false block.  The
table goes to stdout, everything to --out.  --require: exit 1 when a
target the default policy must meet is missed (no false blocks, every
burst spambot blocked within 30 s median and under 100 messages leaked,
the campaign rule blocking 90% of a campaign's VMs); the others are
reported, met or not."""
import argparse
import glob
import ipaddress
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

# which scenario's spam VMs a target is about
BURST = {("spambot", "bot"), ("evasion", "ehlo"), ("evasion", "words"), ("evasion", "padding")}
SLOW = {("low-and-slow", "slow"), ("campaign-20vms", None), ("evasion", "slower"), ("evasion", "clean-list")}
CAUGHT = {("dictionary", None), ("blocklisted", None)}
NEVER_BLOCKED = {"transactional", "small-business", "newsletter", "whitelisted-compromised"}


class Redis:
    """Enough of RESP for the replay (no client library in Debian's python3)."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def __call__(self, *args):
        b = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            b.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.s.sendall(b"".join(b))
        return self._read()

    def _read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError("redis: " + rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            d = self.f.read(n + 2)[:-2]
            return d.decode("utf-8", "replace")
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        raise RuntimeError("redis: unexpected reply %r" % line)


def replay(r, sha, policy, reports, whitelisted, t0):
    """The agent's reports through tw.lua; returns {uuid: (ts, reason, actor)}
    of the first block of each VM."""
    r("FLUSHALL")
    for u in whitelisted:
        rec = {"uuid": u, "customer": "eval", "ticket": "eval", "reason": "scenario: approved bulk sender",
               "operator": "eval", "expires": 0, "limits": None}
        r("EVALSHA", sha, "0", "tw", "wl_add", json.dumps(rec), "eval", str(int(t0) - 1))
    with open(reports) as f:
        for i, line in enumerate(f):
            d = json.loads(line)
            r("EVALSHA", sha, "0", "tw", "ingest", "eval", "%d-0" % (i + 1), d["type"], "%.6f" % d["ts"],
              json.dumps(d["body"]), str(int(d["ts"])), policy)
    blocks = {}
    for _eid, fields in r("XRANGE", "tw:audit", "-", "+") or []:
        e = dict(zip(fields[::2], fields[1::2]))
        if e.get("action") == "block" and e.get("vm") and e["vm"] not in blocks:
            blocks[e["vm"]] = (float(e["ts"]), e.get("reason", ""), e.get("actor", ""))
    return blocks


def is_ip(k):
    try:
        ipaddress.ip_address(k)
        return True
    except ValueError:
        return False


def whitelisted(vmmap, label):
    """The scenario's approved bulk senders: the label's list, else the map's flags."""
    return set(label.get("whitelisted") or [v["uuid"] for v in vmmap.values() if v.get("whitelisted")])


def score(name, seed, agent_blocks, ctl_blocks, verdicts, sessions, vmmap, label, wl):
    # sessions carry the client address: VMs mapped by MAC only get no
    # leak figures (None), and their first spam message must be labelled
    by_ip = {k: v["uuid"] for k, v in vmmap.items() if is_ip(k)}
    names = {v["uuid"]: v.get("name") or v["uuid"] for v in vmmap.values()}
    spam = set(label["spam_vms"])
    start = dict(label.get("spam_start") or {})
    expect = label.get("expect") or {}
    out_msgs = {}      # uuid -> [(ts_end, ts, accepted messages, accepted rcpts, encrypted)]
    for s in sorted(sessions, key=lambda x: x["ts"]):
        u = by_ip.get(s["client"].rsplit(":", 1)[0].strip("[]"))
        if not u:
            continue
        m = sum(1 for x in s["transactions"] if x.get("data_code") == 250)
        rc = sum(sum(1 for y in x["rcpts"] if y.get("code") == 250)
                 for x in s["transactions"] if x.get("data_code") == 250)
        out_msgs.setdefault(u, []).append((s["ts_end"], s["ts"], m, rc, bool(s.get("starttls"))))
        if u in spam and u not in start and (m or s.get("starttls")):
            start[u] = s["ts"]
    rows = []
    for u in label["spam_vms"] + label["legit_vms"]:
        a = agent_blocks.get(u)
        c = ctl_blocks.get(u)
        first = min([x for x in (a, c) if x], key=lambda x: x[0], default=None)
        t_block = first[0] if first else None
        st = start.get(u)
        alerts = [v for v in verdicts if v["vm"] == u and v["verdict"] == "alert"]
        # what got out between the first spam message and the block (all of
        # it when not blocked); unknown when it went encrypted (STARTTLS) or
        # the VM's sessions cannot be attributed
        leak_m = leak_r = None
        if u in spam and st is not None and u in by_ip.values():
            leak_m = leak_r = 0
            for te, ts, m, rc, enc in out_msgs.get(u, []):
                if ts >= st - 1e-6 and (t_block is None or te <= t_block):
                    if enc:
                        leak_m = leak_r = None
                        break
                    leak_m += m
                    leak_r += rc
        row = {"scenario": name, "seed": seed, "vm": u, "name": names.get(u, u), "legit": u not in spam,
               "whitelisted": u in wl, "expect": expect.get(u, "block" if u in spam else "ok"),
               "blocked": first is not None,
               "blocked_by": None if not first else ("controller" if c and first is c and
                                                     not c[2].startswith("agent:") else "agent"),
               "block_reason": first[1] if first else None,
               "time_to_block_s": round(t_block - st, 2) if first and st is not None else None,
               "messages_leaked": leak_m,
               "rcpts_leaked": leak_r,
               "alerts": len(alerts),
               "time_to_alert_s": (round(min(v["ts"] for v in alerts if v["ts"] >= st) - st, 2)
                                   if st is not None and any(v["ts"] >= st for v in alerts) else None)}
        rows.append(row)
    return rows


def run_one(args, r, sha, policy, work, base, name, seed):
    pol = ["--policy", os.path.join(ROOT, "policies", "default.yaml"),
           "--replies", os.path.join(ROOT, "policies", "replies.yaml")]
    v, rep, ses = (os.path.join(work, x) for x in ("verdicts.jsonl", "reports.jsonl", "sessions.jsonl"))
    p = subprocess.run([args.agent, "--read", base + ".pcap", "--vm-map", base + ".map.json", *pol,
                        "--verdicts", v, "--reports", rep, "--sessions", ses],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit("eval: the agent failed on %s: %s" % (base, p.stderr[-600:]))
    with open(base + ".map.json") as f:
        vmmap = json.load(f)
    with open(base + ".label.json") as f:
        label = json.load(f)
    verdicts = [json.loads(x) for x in open(v)]
    sessions = [json.loads(x) for x in open(ses)]
    agent_blocks = {}
    for x in verdicts:
        if x["verdict"] == "block" and not x.get("observe_only") and x["vm"] not in agent_blocks:
            agent_blocks[x["vm"]] = (x["ts"], "detection: " + ",".join(y["name"] for y in x.get("rules", [])), "agent")
    t0 = min((s["ts"] for s in sessions), default=0)
    wl = whitelisted(vmmap, label)
    ctl_blocks = replay(r, sha, policy, rep, sorted(wl), t0)
    return score(name, seed, agent_blocks, ctl_blocks, verdicts, sessions, vmmap, label, wl)


def pct(xs, q):
    if not xs:
        return None
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return round(xs[lo] + (xs[hi] - xs[lo]) * (k - lo), 2)


def summarize(rows):
    spam = [x for x in rows if not x["legit"]]
    legit = [x for x in rows if x["legit"]]
    blocked = [x for x in spam if x["blocked"]]
    ttb = [x["time_to_block_s"] for x in blocked if x["time_to_block_s"] is not None]
    # leaks of every spam VM, blocked or not (an unblocked one leaks it all)
    leak = [x["messages_leaked"] for x in spam if x["messages_leaked"] is not None]
    return {"spam_vms": len(spam), "spam_blocked": len(blocked),
            "detection_rate": round(len(blocked) / len(spam), 3) if spam else None,
            "legit_vms": len(legit), "false_blocks": sum(1 for x in legit if x["blocked"]),
            "false_positive_rate": round(sum(1 for x in legit if x["blocked"]) / len(legit), 3) if legit else None,
            "time_to_block_s": {"median": pct(ttb, 0.5), "p95": pct(ttb, 0.95)},
            "messages_leaked": {"median": pct(leak, 0.5), "p95": pct(leak, 0.95)},
            "alerts": sum(x["alerts"] for x in rows)}


def in_set(row, s):
    short = row["name"][len(row["scenario"]) + 1:] if row["name"].startswith(row["scenario"] + "-") else row["name"]
    return (row["scenario"], short) in s or (row["scenario"], None) in s


def targets(rows, generated):
    t = []

    def add(name, ok, detail, required, vms=True):
        if vms:      # a target about scenarios that did not run is not reported
            t.append({"target": name, "met": bool(ok), "detail": detail, "required": required})

    fb = [x for x in rows if x["legit"] and x["blocked"]]
    add("no false blocks (legitimate and whitelisted VMs, every seed)", not fb,
        "%d false blocks: %s" % (len(fb), ", ".join(sorted({"%s/%s" % (x["scenario"], x["name"]) for x in fb}))), True)
    if generated:
        b = [x for x in rows if not x["legit"] and in_set(x, BURST)]
        ttb = [x["time_to_block_s"] for x in b if x["blocked"] and x["time_to_block_s"] is not None]
        lk = [x["messages_leaked"] for x in b if x["messages_leaked"] is not None]
        add("every burst spambot blocked", b and all(x["blocked"] for x in b),
            "%d of %d" % (sum(x["blocked"] for x in b), len(b)), True, bool(b))
        add("burst spambots: median time to block < 30 s", ttb and pct(ttb, 0.5) < 30,
            "median %s s, p95 %s s" % (pct(ttb, 0.5), pct(ttb, 0.95)), True, bool(b))
        add("burst spambots: fewer than 100 messages leaked", lk and max(lk) < 100,
            "median %s, max %s" % (pct(lk, 0.5), max(lk) if lk else None), True, bool(b))
        for label, sel in (("low-and-slow and multi-VM campaigns caught within an hour", SLOW),
                           ("dictionary attacks and blocklisted senders caught", CAUGHT)):
            s = [x for x in rows if not x["legit"] and in_set(x, sel)]
            lim = 3600 if sel is SLOW else None
            ok = [x for x in s if x["blocked"] and (lim is None or (x["time_to_block_s"] or 0) <= lim)]
            add(label, s and len(ok) == len(s), "%d of %d" % (len(ok), len(s)), False, bool(s))
        cp = [x for x in rows if x["scenario"] == "campaign-20vms"]
        cb = [x for x in cp if x["blocked_by"] == "controller"]
        add("the controller's campaign rule blocks at least 90% of a campaign's VMs", cp and len(cb) >= 0.9 * len(cp),
            "%d of %d" % (len(cb), len(cp)), True, bool(cp))
        w = [x for x in rows if x["scenario"] == "whitelisted-compromised"]
        add("a compromised whitelisted VM raises an alert (and is not blocked)",
            w and all(x["alerts"] and not x["blocked"] for x in w),
            "%d of %d alerted" % (sum(1 for x in w if x["alerts"]), len(w)), False, bool(w))
    return t


def fmt(v, unit=""):
    return "-" if v is None else ("%g%s" % (v, unit))


def table(rows, order):
    def line(label, s):
        return "%-24s %5d %5d %8s %6d %9s %9s %8s %8s %6d" % (
            label, s["spam_vms"], s["legit_vms"], "%d/%d" % (s["spam_blocked"], s["spam_vms"]), s["false_blocks"],
            fmt(s["time_to_block_s"]["median"], "s"), fmt(s["time_to_block_s"]["p95"], "s"),
            fmt(s["messages_leaked"]["median"]), fmt(s["messages_leaked"]["p95"]), s["alerts"])

    out = ["%-24s %5s %5s %8s %6s %9s %9s %8s %8s %6s" % (
        "scenario", "spam", "legit", "blocked", "false", "ttb med", "ttb p95", "leak med", "leak p95", "alerts")]
    out += [line(sc, summarize([x for x in rows if x["scenario"] == sc])) for sc in order
            if any(x["scenario"] == sc for x in rows)]
    out.append(line("all", summarize(rows)))
    out.append("ttb: from a VM's first spam message to its block (blocked VMs); leak: messages accepted "
               "before the block (every spam VM whose mail is readable)")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agent", default=os.path.join(ROOT, "build", "tapwarden-agent"))
    ap.add_argument("--controller", default=os.path.join(ROOT, "build", "tapwarden-controller"))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--scenarios", default="")
    ap.add_argument("--pcap-dir", default=os.environ.get("EVAL_PCAP_DIR", ""))
    ap.add_argument("--out", default=os.path.join(ROOT, "eval-results.json"))
    ap.add_argument("--cache", default=os.path.join(ROOT, "build", "eval-cache"))
    ap.add_argument("--require", action="store_true")
    args = ap.parse_args()
    if not (0 < args.scale <= 1) or args.seeds < 1:
        ap.error("--scale in (0, 1], --seeds at least 1")
    for b in (args.agent, args.controller):
        if not os.access(b, os.X_OK):
            ap.error("%s is not built (make)" % b)
    t_start = time.time()
    policy = subprocess.run([args.controller, "--print-policy", "--policy",
                             os.path.join(ROOT, "policies", "default.yaml")],
                            capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(ROOT, "controller", "tw.lua")) as f:
        lua = f.read()
    work = tempfile.mkdtemp(prefix="tw-eval.")
    redis = None
    try:
        sock = os.path.join(work, "redis.sock")
        redis = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", sock, "--save", "",
                                  "--appendonly", "no", "--dir", work],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(sock):
                try:
                    r = Redis(sock)
                    r("PING")
                    break
                except OSError:
                    pass
            time.sleep(0.05)
        else:
            raise SystemExit("eval: redis-server did not start")
        sha = r("SCRIPT", "LOAD", lua)
        rows = []
        order = []
        if args.pcap_dir:
            for pcap in sorted(glob.glob(os.path.join(args.pcap_dir, "*.pcap"))):
                base = pcap[:-5]
                name = os.path.basename(base)
                if not (os.path.exists(base + ".map.json") and os.path.exists(base + ".label.json")):
                    raise SystemExit("eval: %s needs %s.map.json and %s.label.json" % (pcap, name, name))
                rows += run_one(args, r, sha, policy, work, base, name, 0)
                order.append(name)
            if not order:
                raise SystemExit("eval: no .pcap in %s" % args.pcap_dir)
            generated = False
        else:
            import corpus
            import scenarios
            names = [x for x in args.scenarios.split(",") if x] or list(scenarios.SCENARIOS)
            c = corpus.Corpus(args.cache)
            gen = os.path.join(work, "pcaps")
            os.makedirs(gen)
            for name in names:
                if name not in scenarios.SCENARIOS:
                    ap.error("unknown scenario %s (%s)" % (name, ", ".join(scenarios.SCENARIOS)))
                for seed in range(1, args.seeds + 1):
                    base = scenarios.generate(name, seed, gen, c, args.scale)
                    rows += run_one(args, r, sha, policy, work, base, name, seed)
                    os.remove(base + ".pcap")
                order.append(name)
            generated = True
    finally:
        if redis:
            redis.terminate()
            redis.wait(10)
        shutil.rmtree(work, ignore_errors=True)
    tg = targets(rows, generated)
    doc = {"generated": generated, "seeds": args.seeds if generated else None, "scale": args.scale if generated else None,
           "policy": "policies/default.yaml", "results": rows,
           "summary": dict(summarize(rows), per_scenario={sc: summarize([x for x in rows if x["scenario"] == sc])
                                                           for sc in order}),
           "targets": tg, "seconds": round(time.time() - t_start, 1)}
    with open(args.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(args.out + ".tmp", args.out)
    print(table(rows, order))
    print()
    for x in tg:
        print("%-4s %s: %s%s" % ("met" if x["met"] else "MISS", x["target"], x["detail"],
                                 "" if x["required"] else " (reported)"))
    print("\n%d VMs in %d runs, %.0f s; results in %s" % (len(rows), len({(x["scenario"], x["seed"]) for x in rows}),
                                                        time.time() - t_start, os.path.relpath(args.out)))
    if args.require and not all(x["met"] for x in tg if x["required"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
