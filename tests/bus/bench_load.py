#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write Redis protocol for the controller's ingest benchmark to stdout
(for `redis-cli --pipe`): AGENTS report streams of PER entries each, as an
agent writes them (explicit BOOT-SEQ ids, v/type/ts/body), a realistic
mix: per-VM stats with fingerprints (most), verdicts with evidence, acks.

    bench_load.py PREFIX AGENTS PER"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from resp import cmd  # noqa: E402

prefix, agents, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def uuid(a, i):
    return "%08x-7777-4000-8000-%012x" % (a, i)


ts = 1796310000000
for a in range(agents):
    agent = "bench%d" % a
    cmd("SADD", prefix + ":agents", agent)
    for i in range(1, per + 1):
        vm = uuid(a, i % 200)
        if i % 20 == 0:
            typ = "verdict"
            body = {"ts": "2026-12-03T15:00:00Z", "vm": vm, "name": "vm%d" % (i % 200), "plan": "vps-s",
                    "whitelisted": False, "verdict": "alert", "duration": 0, "offence": 0,
                    "observe_only": False, "downgraded": False, "reason": "rules",
                    "rules": [{"name": "rejections-10m", "action": "alert", "conditions": []}],
                    "evidence": {"subjects": ["Invoice %d" % i], "message_ids": ["<%d@x.test>" % i]}}
        elif i % 20 == 1:
            typ = "ack"
            body = {"cmd": "1-%d" % i, "op": "unblock", "vm": vm, "decision": "", "result": "applied",
                    "message": "", "converging": False}
        else:
            typ = "stats"
            body = {"interval_s": 10, "vms": [{"uuid": vm, "name": "vm%d" % (i % 200), "attempts": 3,
                    "sessions": 3, "messages": 5, "rcpts": 7, "rejected": 0, "deferred": 1,
                    "user_unknown": 0, "blocklist": 0,
                    "fps": {"digest": [["%016x" % (i * 7919), 2]], "subject": [["%016x" % (i * 104729), 2]]}}]}
        cmd("XADD", "%s:reports:%s" % (prefix, agent), "1-%d" % i, "v", "1", "type", typ,
            "ts", ts + i, "body", json.dumps(body, separators=(",", ":")))
