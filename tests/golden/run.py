#!/usr/bin/env python3
"""Golden corpus test: run tapwarden-agent --read on every capture under
tests/golden/corpus and compare its sessions field by field with two
independent views of the same captures:

  * the tshark-based oracle (expected/oracle/*.tsv, from the corpus'
    oracle.sh -m stream): client, server, helo, senders, recipients, reply
    codes in order, Message-IDs, Subjects, From, Precedence,
    List-Unsubscribe, DKIM d=, STARTTLS, complete messages;
  * Zeek's smtp.log baselines (expected/zeek/*/smtp.log): helo, senders,
    recipients, Message-IDs, Subjects, TLS.

Every disagreement must be listed in tests/golden/explained.json with the
exact values on both sides and the reason; anything else fails the test.
Set GOLDEN_UPDATE=1 to print the unexplained diffs as JSON entries (to be
reviewed and explained by hand, never pasted blindly).
"""
import email.header
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
ORACLE = os.path.join(HERE, "expected", "oracle")
ZEEK = os.path.join(HERE, "expected", "zeek")
AGENT = os.environ.get("TW_AGENT", os.path.join(HERE, "..", "..", "build", "tapwarden-agent"))

S_COLS = ["stream", "client", "server", "helo", "mail_from", "rcpt_to", "replies",
          "message_id", "subject", "from", "to", "precedence", "list_unsubscribe",
          "dkim_d", "starttls", "msgs", "ts_first", "gap"]
COMPARED = ["helo", "mail_from", "rcpt_to", "replies", "message_id", "subject", "from",
            "precedence", "list_unsubscribe", "dkim_d", "starttls", "msgs"]


def ws(s):
    return re.sub(r"\s+", " ", s).strip()


def decode_subject(raw):
    """RFC 2047-decode the oracle's raw Subject the way a mail client would."""
    if raw == "-":
        return raw
    try:
        return ws(str(email.header.make_header(email.header.decode_header(raw))))
    except Exception:
        return ws(raw)


def read_oracle(path):
    sessions = []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if not line.startswith("S\t"):
                continue
            cols = line.rstrip("\n").split("\t")[1:]
            sessions.append(dict(zip(S_COLS, cols)))
    return sessions


def join(values):
    values = [v for v in values]
    return "|".join(values) if values else "-"


def ours_view(s):
    """Map one of our session objects to the oracle's columns."""
    txns = s["transactions"]
    msgs = [t for t in txns if t["complete"]]
    def field(t, k):
        v = t.get(k)
        return "-" if v is None else ws(v)
    mail = [("<>" if t["mail_from"] == "" else t["mail_from"]) for t in txns
            if t["mail_from"] is not None]
    rcpts = [r["addr"] for t in txns for r in t["rcpts"]]
    return {
        "helo": s["helo"] if s["helo"] else "-",
        "mail_from": join(mail),
        "rcpt_to": join(rcpts),
        "replies": " ".join(str(c) for c in s["reply_codes"]) or "-",
        "message_id": join(["<%s>" % t["message_id"] for t in msgs if t["message_id"] is not None]),
        "subject": join([field(t, "subject") for t in msgs if t["subject"] is not None]),
        "from": join([field(t, "from") for t in msgs if t["from"] is not None]),
        "precedence": join([t["precedence"] for t in msgs if t["precedence"] is not None]),
        "list_unsubscribe": join([field(t, "list_unsubscribe") for t in msgs
                                  if t["list_unsubscribe"] is not None]),
        "dkim_d": join([t["dkim_domain"] for t in msgs if t["dkim_domain"] is not None]),
        "starttls": "yes" if s["starttls"] else "no",
        "msgs": str(len(msgs)),
    }


def oracle_view(o):
    v = {k: o[k] for k in COMPARED}
    v["subject"] = join([decode_subject(x) for x in o["subject"].split("|")]) if o["subject"] != "-" else "-"
    v["precedence"] = o["precedence"].lower()
    for k in ("from", "list_unsubscribe"):
        v[k] = ws(v[k]) if v[k] != "-" else "-"
    # the oracle lists every HELO/EHLO argument; we report the last one the
    # server accepted (else the last one sent): compare with the last non-empty
    helos = [h for h in o["helo"].split("|") if h and h != "-"]
    v["helo"] = helos[-1] if helos else "-"
    return v


def capture_name(rel):
    return rel.replace("/", "_")


def run_agent(path, ports, tmp):
    if path.endswith(".gz"):
        plain = os.path.join(tmp, os.path.basename(path)[:-3])
        with gzip.open(path, "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
        path = plain
    out = os.path.join(tmp, "out.jsonl")
    cmd = [AGENT, "--read", path, "--sessions", out, "--ports", ",".join(str(p) for p in sorted(ports))]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("agent failed (%d): %s" % (r.returncode, r.stderr.decode(errors="replace")[-2000:]))
    sessions = []
    with open(out, encoding="utf-8") as f:
        for line in f:
            sessions.append(json.loads(line))
    return sessions


def port_of(ep):
    return int(ep.rsplit(":", 1)[1])


def compare_oracle(name, oracle, ours, diffs):
    pending = {}
    for s in ours:
        if s["bytes_c2s"] + s["bytes_s2c"] == 0:
            continue
        pending.setdefault((s["client"], s["server"]), []).append(s)
    for o in oracle:
        key = (o["client"], o["server"])
        cands = pending.get(key)
        sess = "%s>%s" % key
        if not cands:
            diffs.append({"capture": name, "session": sess, "field": "session",
                          "ours": "missing", "oracle": "present"})
            continue
        s = cands.pop(0)
        a, b = ours_view(s), oracle_view(o)
        for k in COMPARED:
            if a[k] != b[k]:
                diffs.append({"capture": name, "session": sess, "field": k,
                              "ours": a[k], "oracle": b[k]})
    for key, rest in pending.items():
        for s in rest:
            diffs.append({"capture": name, "session": "%s>%s" % key, "field": "session",
                          "ours": "present", "oracle": "missing"})


def read_zeek():
    """{trace relative path: [rows]} from every baseline smtp.log."""
    out = {}
    with open(os.path.join(ZEEK, "index.tsv")) as f:
        next(f)
        for line in f:
            test, trace = line.split("\t")[:2]
            log = os.path.join(ZEEK, "scripts." + test, "smtp.log")
            if not os.path.exists(log):
                continue
            rows, fields = [], None
            with open(log, encoding="utf-8", errors="surrogateescape") as lf:
                for l in lf:
                    l = l.rstrip("\n")
                    if l.startswith("#fields"):
                        fields = l.split("\t")[1:]
                    elif not l.startswith("#") and fields:
                        rows.append(dict(zip(fields, l.split("\t"))))
            out.setdefault("zeek/traces/" + trace, []).append((test, rows))
    return out


def compare_zeek(name, test, rows, ours, diffs):
    by_client = {}
    for r in rows:
        by_client.setdefault("%s:%s" % (r["id.orig_h"], r["id.orig_p"]) if ":" not in r["id.orig_h"]
                             else "[%s]:%s" % (r["id.orig_h"], r["id.orig_p"]), []).append(r)
    for client, rs in by_client.items():
        sess = [s for s in ours if s["client"] == client]
        label = "%s %s" % (test, client)
        if not sess:
            diffs.append({"capture": name, "session": label, "field": "zeek:session",
                          "ours": "missing", "oracle": "present"})
            continue
        s = sess[0]
        txns = [t for t in s["transactions"] if t["mail_from"] is not None or t["rcpts"]]
        z = {
            "helo": rs[-1]["helo"],
            "mailfrom": join([r["mailfrom"] for r in rs]),
            "rcptto": join(sorted(a for r in rs if r["rcptto"] != "-" for a in r["rcptto"].split(","))),
            "msg_id": join([r["msg_id"] for r in rs if r["msg_id"] != "-"]),
            "subject": join([ws(r["subject"]) for r in rs if r["subject"] != "-"]),
            "tls": "T" if any(r["tls"] == "T" for r in rs) else "F",
        }
        a = {
            "helo": s["helo"] if s["helo"] else "-",
            "mailfrom": join([("-" if t["mail_from"] is None else t["mail_from"]) for t in txns]),
            "rcptto": join(sorted(r["addr"] for t in txns for r in t["rcpts"])),
            "msg_id": join(["<%s>" % t["message_id"] for t in s["transactions"] if t["message_id"]]),
            "subject": join([ws(t["subject"]) for t in s["transactions"] if t["subject"]]),
            "tls": "T" if s["starttls"] else "F",
        }
        for k in z:
            if a[k] != z[k]:
                diffs.append({"capture": name, "session": label, "field": "zeek:" + k,
                              "ours": a[k], "oracle": z[k]})


def main():
    if not os.access(AGENT, os.X_OK):
        print("golden: agent not found at %s" % AGENT, file=sys.stderr)
        return 2
    with open(os.path.join(HERE, "explained.json"), encoding="utf-8") as f:
        explained = json.load(f)
    zeek = read_zeek()
    captures = []
    for root, _, files in os.walk(CORPUS):
        for fn in files:
            if re.search(r"\.(pcap|pcapng|cap)(\.gz)?$", fn):
                captures.append(os.path.relpath(os.path.join(root, fn), CORPUS))
    captures.sort()
    diffs, checked, sessions_checked = [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for rel in captures:
            name = capture_name(rel)
            opath = os.path.join(ORACLE, name + ".tsv")
            oracle = read_oracle(opath) if os.path.exists(opath) else []
            ports = {port_of(o["server"]) for o in oracle} | {25}
            try:
                ours = run_agent(os.path.join(CORPUS, rel), ports, tmp)
            except Exception as e:  # a crash or timeout is always a failure
                diffs.append({"capture": name, "session": "*", "field": "run",
                              "ours": str(e)[:500], "oracle": "ok"})
                continue
            checked += 1
            sessions_checked += len(oracle)
            compare_oracle(name, oracle, ours, diffs)
            for test, rows in zeek.get(rel, []):
                compare_zeek(name, test, rows, ours, diffs)

    def explains(e, d):
        if (e["capture"], e["session"], e["field"]) != (d["capture"], d["session"], d["field"]):
            return False
        if e.get("match") == "prefix":
            # a value we cap: ours must be exactly the first ours_len bytes
            return len(d["ours"]) == e["ours_len"] and d["oracle"].startswith(d["ours"]) \
                and len(d["oracle"]) == e["oracle_len"]
        return (e["ours"], e["oracle"]) == (d["ours"], d["oracle"])
    unexplained = [d for d in diffs if not any(explains(e, d) for e in explained)]
    stale = [e for e in explained if not any(explains(e, d) for d in diffs)]
    print("golden: %d captures, %d oracle sessions, %d differences (%d explained, %d unexplained)"
          % (checked, sessions_checked, len(diffs), len(diffs) - len(unexplained), len(unexplained)))
    for e in stale:
        print("golden: stale explanation (no longer differs): %s %s %s" % (e["capture"], e["session"], e["field"]))
    for d in unexplained:
        print("golden: UNEXPLAINED %s %s %s\n   ours:   %s\n   oracle: %s"
              % (d["capture"], d["session"], d["field"], d["ours"][:300], d["oracle"][:300]))
    if os.environ.get("GOLDEN_UPDATE"):
        print(json.dumps(unexplained, indent=1, ensure_ascii=False))
    return 1 if unexplained or stale else 0


if __name__ == "__main__":
    sys.exit(main())
