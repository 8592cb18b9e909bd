#!/usr/bin/env python3
"""Print a one-line-per-session table of tapwarden-agent session JSON (stdin)
and per-client totals: what `make demo` shows."""
import json
import sys
from collections import defaultdict

per_client = defaultdict(lambda: [0, 0, 0, 0])
print("%-22s %-22s %-5s %4s %4s %-6s %s" % ("start", "client", "end", "msgs", "rcpt", "codes", "subject"))
for line in sys.stdin:
    s = json.loads(line)
    msgs = [t for t in s["transactions"] if t["complete"]]
    rcpts = sum(len(t["rcpts"]) for t in s["transactions"])
    subj = next((t["subject"] for t in msgs if t["subject"]), "")
    rej = s["replies"]["4xx"] + s["replies"]["5xx"]
    c = per_client[s["client"].rsplit(":", 1)[0]]
    c[0] += 1; c[1] += len(msgs); c[2] += rcpts; c[3] += rej
    print("%-22.6f %-22s %-5s %4d %4d %-6s %s" % (s["ts"], s["client"], s["end"], len(msgs), rcpts,
          "%d/%d" % (s["replies"]["2xx"], rej), subj[:50]))
print()
print("%-40s %8s %8s %8s %8s" % ("client", "sessions", "messages", "rcpts", "4xx/5xx"))
for k, v in sorted(per_client.items(), key=lambda kv: -kv[1][1]):
    print("%-40s %8d %8d %8d %8d" % (k, *v))
