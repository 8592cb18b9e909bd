#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Assertions of tests/detect/run.sh over the verdict JSON lines."""
import json
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def by_name(verdicts):
    out = {}
    for v in verdicts:
        out.setdefault(v["name"], []).append(v)
    return out


failures = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        failures.append(msg)


sessions, spike, scen = load(sys.argv[1]), by_name(load(sys.argv[2])), by_name(load(sys.argv[3]))

# --- synth-spam-spike ---
blocks = [v for v in spike.get("spike-5", []) if v["verdict"] == "block"]
check(len(blocks) >= 1, "spike-5 (volume spike) is blocked")
if blocks:
    first_spam = min(s["ts_end"] for s in sessions
                     if s["client"].startswith("10.77.0.5:") and any(t["complete"] for t in s["transactions"]))
    first_spam_start = min(s["ts"] for s in sessions if s["client"].startswith("10.77.0.5:"))
    b = blocks[0]
    print("     block after %.3f s from the first spam session's start (%.3f s after its first "
          "complete session); rules %s; duration %s"
          % (b["ts"] - first_spam_start, b["ts"] - first_spam, [r["name"] for r in b["rules"]], b["duration"]))
    check(b["ts"] - first_spam_start < 60, "spike-5 blocked within a minute")
    check(not any("@" in r for r in b["evidence"]["replies"]), "no addresses in reply samples")
for g in (6, 7, 8, 9):
    vs = spike.get("crypto-%d" % g, [])
    check(any(v["verdict"] in ("alert", "block") for v in vs), "crypto-%d (same mail, 20 in a minute) alerts" % g)
    check(all(v["verdict"] != "block" for v in vs), "crypto-%d is not blocked (single-VM view)" % g)
for g in (2, 3, 4):
    check(not spike.get("baseline-%d" % g), "baseline-%d stays ok" % g)

# --- generated scenario ---
check(not scen.get("shop-tx"), "transactional guest (40/hour) stays ok")
wl = scen.get("newsletter-wl", [])
check(all(v["verdict"] != "block" for v in wl), "whitelisted newsletter is never blocked")
check(any(v["verdict"] == "alert" for v in wl), "whitelisted newsletter raises an alert at 10x ceilings")
check(any(v["verdict"] == "block" for v in scen.get("newsletter", [])), "the same newsletter without whitelist is blocked")

if failures:
    print("%d detection scenario checks failed" % len(failures))
    sys.exit(1)
print("detection scenarios: all checks passed")
