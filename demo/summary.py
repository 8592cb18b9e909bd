#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The demo's summary (demo/run.sh calls it):

    summary.py table WORK CONTROLLER_URL HV_NETNS [SNAPSHOT]
                                         a table for the terminal (and the
                                         JSON below written to SNAPSHOT)
    summary.py json  WORK CONTROLLER_URL HV_NETNS    demo-summary.json

WORK holds guests.json (name, uuid, role, address, tap of every guest),
out-NAME (one line per message that guest got out: 250 after DATA),
spam-start (when the spam burst began, epoch seconds) and viewer.tok.
What tapwarden saw and decided comes from the controller's API (the VM
list and the blocks) and from the hypervisor's nftables set, each asked
once per call."""
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request


def api(base, path, token):
    req = urllib.request.Request(base + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def nft_blocked(netns):
    """The VM UUIDs that have an element in the agent's nftables set."""
    try:
        out = subprocess.run(["ip", "netns", "exec", netns, "nft", "-j", "list", "set", "netdev",
                              "tapwarden", "blocked"], capture_output=True, text=True, timeout=10).stdout
        objs = json.loads(out)["nftables"]
    except (OSError, ValueError, KeyError, subprocess.TimeoutExpired):
        return set()
    vms = set()
    for o in objs:
        for e in o.get("set", {}).get("elem", []):
            c = e.get("elem", {}).get("comment", "") if isinstance(e, dict) else ""
            if c.startswith("vm="):
                vms.add(c[3:].split()[0])
    return vms


def lines(path):
    try:
        with open(path) as f:
            return [ln for ln in f.read().split("\n") if ln]
    except OSError:
        return []


def block_time(ev):
    """When a block was decided: the decision's Redis stream id holds
    milliseconds; the event's ts only seconds."""
    d = str(ev.get("decision") or "")
    if "-" in d and d.split("-")[0].isdigit():
        return int(d.split("-")[0]) / 1000.0
    return float(ev.get("ts") or ev.get("created") or 0) or None


def vm_detail(base, uuid, token):
    """The controller's page of one VM (history: newest first), or {}."""
    try:
        return api(base, "/v1/vms/" + uuid, token)
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return {}
        raise


def collect(work, base, netns):
    with open(os.path.join(work, "guests.json")) as f:
        guests = json.load(f)
    with open(os.path.join(work, "viewer.tok")) as f:
        token = f.read().strip()
    vms = {v["uuid"]: v for v in api(base, "/v1/vms?limit=1000", token)["vms"]}
    in_nft = nft_blocked(netns)
    spam_start = lines(os.path.join(work, "spam-start"))
    spam_start = float(spam_start[0]) if spam_start else None
    rows = []
    for g in guests:
        short = g["name"].removeprefix("demo-")
        v = vms.get(g["uuid"], {})
        # blocked at any time during the demo (a block may have expired
        # since: the first offence lasts an hour)
        hist = vm_detail(base, g["uuid"], token).get("history") or [] if v else []
        blocks = [e for e in hist if e.get("event") == "blocked"]
        b = blocks[-1] if blocks else None
        totals = v.get("totals") or {}
        ttb = None
        if b and g["role"] == "compromised-spammer" and spam_start:
            t = block_time(b)
            ttb = round(max(0.0, t - spam_start), 2) if t else None
        rows.append({
            "name": g["name"], "uuid": g["uuid"], "role": g["role"], "address": g["address"],
            "tap": g["tap"],
            "blocked": b is not None,
            "blocked_now": (v.get("block") or None) is not None,
            "enforced_in_nftables": g["uuid"] in in_nft,
            "time_to_block_s": ttb,
            "messages_out": len(lines(os.path.join(work, "out-" + short))),
            "state": v.get("state", "unseen"),
            "whitelisted": bool(v.get("whitelisted")),
            "block_reason": b.get("reason") if b else None,
            "seen": {k: totals.get(k, 0) for k in ("sessions", "messages", "rcpts", "rejected", "blocklist")},
        })
    return rows


def expected(rows):
    """The demo's claim: the spammer was blocked, nobody else ever was."""
    bad = []
    for r in rows:
        if r["role"] == "compromised-spammer":
            if not r["blocked"]:
                bad.append("%s not blocked" % r["name"])
        elif r["blocked"] or r["enforced_in_nftables"]:
            bad.append("%s blocked" % r["name"])
    return bad


def table(rows):
    out = ["%-12s %-26s %5s %6s %5s %-12s %s" % ("guest", "role", "out", "seen", "bl", "state", "decision")]
    for r in rows:
        s = r["seen"]
        if r["blocked"]:
            why = "BLOCKED (%s)%s" % (r["block_reason"], "" if r["time_to_block_s"] is None
                                      else " %.1f s after its first spam" % r["time_to_block_s"])
        elif r["whitelisted"]:
            why = "whitelisted: not blocked"
        elif s["blocklist"]:
            why = "%d blocklist refusal(s): watched, not blocked" % s["blocklist"]
        else:
            why = "-"
        out.append("%-12s %-26s %5d %6d %5d %-12s %s" % (r["name"], r["role"], r["messages_out"], s["messages"],
                                                       s["blocklist"], r["state"], why))
    out.append("out: messages the guest got out (250 after DATA); seen: messages tapwarden counted; "
               "bl: blocklist refusals")
    return "\n".join(out)


def main():
    if len(sys.argv) not in (5, 6) or sys.argv[1] not in ("table", "json"):
        sys.exit(__doc__)
    mode, work, base, netns = sys.argv[1:5]
    try:
        rows = collect(work, base, netns)
    except (OSError, ValueError, KeyError) as e:
        sys.exit("summary: %s" % e)
    bad = expected(rows)
    doc = json.dumps({"guests": rows, "as_expected": not bad, "unexpected": bad}, indent=2) + "\n"
    if mode == "json":
        sys.stdout.write(doc)
        return
    print(table(rows))
    if len(sys.argv) == 6:
        with open(sys.argv[5] + ".tmp", "w") as f:
            f.write(doc)
        os.replace(sys.argv[5] + ".tmp", sys.argv[5])


if __name__ == "__main__":
    main()
