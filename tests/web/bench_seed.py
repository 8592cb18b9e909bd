#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write Redis protocol (for `redis-cli --pipe`) that seeds a controller
with VMS VMs the way agents would: AGENTS report streams holding per-VM
stats (500 VMs per entry, as the agent chunks them), ROUNDS rounds with
varying counts, and alert and block verdicts for some VMs.  The
controller's real ingest then builds the VM list.

    bench_seed.py PREFIX AGENTS VMS ROUNDS"""
import json
import random
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from resp import cmd  # noqa: E402

prefix, agents, vms, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(42)


seq = {}


def xadd(agent, typ, body):
    seq[agent] = seq.get(agent, 0) + 1
    cmd("XADD", "%s:reports:%s" % (prefix, agent), "1-%d" % seq[agent], "v", "1", "type", typ,
        "ts", 1796310000000 + seq[agent], "body", json.dumps(body, separators=(",", ":")))


per_agent = vms // agents
for a in range(agents):
    agent = "hv%02d" % a
    cmd("SADD", prefix + ":agents", agent)
    for r in range(rounds):
        for start in range(0, per_agent, 500):
            chunk = []
            for i in range(start, min(start + 500, per_agent)):
                n = a * per_agent + i
                m = rnd.randint(0, 40)
                chunk.append({"uuid": "%08x-8888-4000-8000-%012x" % (a, n), "name": "cust%05d-vm" % n,
                              "attempts": m, "sessions": m // 4 + 1, "messages": m, "rcpts": m + rnd.randint(0, 5),
                              "rejected": rnd.randint(0, 3), "deferred": 0, "user_unknown": 0, "blocklist": 0,
                              "fps": {"digest": [], "subject": []}})
            xadd(agent, "stats", {"interval_s": 10, "vms": chunk})
    for i in range(0, per_agent, 97):
        n = a * per_agent + i
        verdict = "block" if i % 2 else "alert"
        xadd(agent, "verdict", {"ts": "2026-12-03T15:00:00Z", "vm": "%08x-8888-4000-8000-%012x" % (a, n),
                                "name": "cust%05d-vm" % n, "plan": None, "whitelisted": False, "verdict": verdict,
                                "duration": 3600 if verdict == "block" else None, "offence": 1,
                                "observe_only": False, "downgraded": False, "reason": "rules",
                                "rules": [{"name": "burst-volume", "action": verdict, "conditions": []}],
                                "evidence": {"subjects": ["Offer %d" % i], "message_ids": [], "replies": []}})
