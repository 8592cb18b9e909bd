#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compare the agent's session JSON lines with what an integration case sent.

usage: check_sessions.py --case NAME --expected EXP.json --sessions OUT.jsonl
                         [--pcap CAPTURE.pcap]

EXP.json is {"sessions": [SPEC, ...]} written by cases.py from the bytes the
case's clients really sent.  The checker

  1. validates every line against the schema of doc/sessions.md (all keys
     present, types right, enums in range);
  2. derives from the pcap alone, with its own reader (pcapflows.py), the TCP
     port-25 flows in order of their first packet, and requires one session
     per flow, in that order (sessions ordered by "ts"), with "client",
     "server", "ts", "ts_end", "midstream", "vlan", "bytes_*" and
     "packets_*" equal to what the packets say;
  3. compares each SPEC field by field with the session at the same index.

SPEC values are exact JSON values, except objects with one "$" key:
  {"$re": PATTERN}        string fully matching PATTERN
  {"$range": [LO, HI]}    number with LO <= n <= HI
  {"$any": true}          anything (documents a field deliberately not checked)
  {"$has": {K: SPEC}}     object containing at least these keys (others free)
  {"$ja4": true}          the JA4 of this flow's ClientHello, computed with
                          tshark's dissection of the capture
  {"$closed_by": true}    "rst" or "fin": what closed this flow in the capture
Objects in a SPEC are compared key by key (keys missing from the SPEC are not
checked); an empty object {} means the value must be exactly {}.  Lists must
have the same length and match element by element.
Special SPEC keys: "client_ip" (the flow's client address).

Prints "PASS NAME" or "FAIL NAME" followed by one line per difference.
"""
import argparse
import hashlib
import json
import math
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcapflows  # noqa: E402

# ---- schema (doc/sessions.md) -----------------------------------------------

STR, INT, BOOL, NUM = "str", "int", "bool", "num"
ENDS = {"quit", "fin", "rst", "timeout", "gap", "truncated", "evicted"}
HELO_VERBS = {"EHLO", "HELO", "LHLO"}
DATA_VERBS = {"DATA", "BDAT"}


def _is(v, t):
    if t == STR:
        return isinstance(v, str)
    if t == BOOL:
        return isinstance(v, bool)
    if t == INT:
        return isinstance(v, int) and not isinstance(v, bool)
    if t == NUM:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    raise AssertionError(t)


def _type(errs, where, v, t, nullable=False):
    if v is None and nullable:
        return
    if not _is(v, t):
        errs.append("%s: expected %s%s, got %r" % (where, t, " or null" if nullable else "", v))


def _keys(errs, where, obj, required, optional=()):
    if not isinstance(obj, dict):
        errs.append("%s: expected an object, got %r" % (where, obj))
        return False
    for k in required:
        if k not in obj:
            errs.append("%s: missing key %r" % (where, k))
    return True


TXN_STR_NULL = ("mail_params", "data_text", "message_id", "date", "from", "subject",
                "list_unsubscribe", "list_unsubscribe_post", "precedence",
                "dkim_domain", "dkim_selector", "x_mailer", "content_type")
TXN_KEYS = ("mail_from", "mail_code", "rcpts", "data_verb", "data_code", "complete",
            "to_count", "cc_count", "header_bytes", "body_bytes", "fingerprint",
            "links", "html") + TXN_STR_NULL
LINK_KEYS = ("count", "ip_literal", "encoded_host", "shortener", "mailto", "distinct_hosts")
HTML_KEYS = ("script", "iframe", "form", "meta_refresh", "external_css", "object")
SESSION_KEYS = ("ts", "ts_end", "client", "server", "vlan", "midstream", "banner",
                "helo_verb", "helo", "esmtp", "auth", "auth_code", "starttls", "tls",
                "dialect", "transactions", "commands", "replies", "reply_codes", "end",
                "gaps", "gap_bytes", "anomalies", "bytes_c2s", "bytes_s2c",
                "packets_c2s", "packets_s2c")
HEX32 = re.compile(r"[0-9a-f]{32}")
HEX256 = re.compile(r"[0-9a-f]{256}")


def validate_session(s, where):
    """Schema errors of one session object (list of strings)."""
    e = []
    if not _keys(e, where, s, SESSION_KEYS):
        return e
    g = s.get
    _type(e, where + ".ts", g("ts"), NUM)
    _type(e, where + ".ts_end", g("ts_end"), NUM)
    if _is(g("ts"), NUM) and _is(g("ts_end"), NUM) and g("ts_end") < g("ts"):
        e.append("%s: ts_end %r < ts %r" % (where, g("ts_end"), g("ts")))
    for k in ("client", "server", "end"):
        _type(e, where + "." + k, g(k), STR)
    if g("end") is not None and g("end") not in ENDS:
        e.append("%s.end: %r not one of %s" % (where, g("end"), sorted(ENDS)))
    v = g("vlan")
    if not isinstance(v, list) or not all(_is(x, INT) and 0 <= x <= 4095 for x in v):
        e.append("%s.vlan: expected a list of VLAN ids, got %r" % (where, v))
    for k in ("midstream", "starttls"):
        _type(e, where + "." + k, g(k), BOOL)
    b = g("banner")
    if b is not None and _keys(e, where + ".banner", b, ("code", "text")):
        _type(e, where + ".banner.code", b.get("code"), INT)
        _type(e, where + ".banner.text", b.get("text"), STR)
    if g("helo_verb") is not None and g("helo_verb") not in HELO_VERBS:
        e.append("%s.helo_verb: %r" % (where, g("helo_verb")))
    _type(e, where + ".helo", g("helo"), STR, True)
    es = g("esmtp")
    if not isinstance(es, list) or not all(_is(x, STR) for x in es):
        e.append("%s.esmtp: expected a list of strings, got %r" % (where, es))
    _type(e, where + ".auth", g("auth"), STR, True)
    _type(e, where + ".auth_code", g("auth_code"), INT, True)
    t = g("tls")
    if t is not None and _keys(e, where + ".tls", t, ("version", "sni", "alpn", "ja4")):
        _type(e, where + ".tls.version", t.get("version"), STR)
        _type(e, where + ".tls.sni", t.get("sni"), STR, True)
        _type(e, where + ".tls.alpn", t.get("alpn"), STR, True)
        _type(e, where + ".tls.ja4", t.get("ja4"), STR)
    d = g("dialect")
    if _keys(e, where + ".dialect", d, ("verbs", "quit", "pipelining", "bare_lf")):
        vb = d.get("verbs")
        if not isinstance(vb, list) or not all(_is(x, STR) for x in vb) or len(vb) > 16 \
                or len(set(vb)) != len(vb):
            e.append("%s.dialect.verbs: expected <= 16 distinct strings, got %r" % (where, vb))
        for k in ("quit", "pipelining", "bare_lf"):
            _type(e, "%s.dialect.%s" % (where, k), d.get(k), BOOL)
    txs = g("transactions")
    if not isinstance(txs, list):
        e.append("%s.transactions: expected a list" % where)
        txs = []
    for i, x in enumerate(txs):
        e.extend(validate_txn(x, "%s.transactions[%d]" % (where, i)))
    _type(e, where + ".commands", g("commands"), INT)
    r = g("replies")
    if _keys(e, where + ".replies", r, ("2xx", "3xx", "4xx", "5xx")):
        for k in ("2xx", "3xx", "4xx", "5xx"):
            _type(e, "%s.replies.%s" % (where, k), r.get(k), INT)
    rc = g("reply_codes")
    if not isinstance(rc, list) or len(rc) > 1000 or \
            not all(_is(x, INT) and 100 <= x <= 599 for x in rc):
        e.append("%s.reply_codes: expected <= 1000 codes 100..599, got %r" % (where, rc))
    for k in ("gaps", "gap_bytes", "bytes_c2s", "bytes_s2c", "packets_c2s", "packets_s2c"):
        _type(e, where + "." + k, g(k), INT)
    an = g("anomalies")
    if not isinstance(an, dict) or not all(_is(x, INT) for x in an.values()):
        e.append("%s.anomalies: expected an object of counts, got %r" % (where, an))
    return e


def validate_txn(x, where):
    e = []
    if not _keys(e, where, x, TXN_KEYS):
        return e
    # null: a transaction opened by RCPT or DATA without a MAIL command
    _type(e, where + ".mail_from", x.get("mail_from"), STR, True)
    for k in TXN_STR_NULL:
        _type(e, where + "." + k, x.get(k), STR, True)
    for k in ("mail_code", "data_code"):
        _type(e, where + "." + k, x.get(k), INT, True)
    if x.get("data_verb") is not None and x.get("data_verb") not in DATA_VERBS:
        e.append("%s.data_verb: %r" % (where, x.get("data_verb")))
    _type(e, where + ".complete", x.get("complete"), BOOL)
    for k in ("to_count", "cc_count", "header_bytes", "body_bytes"):
        _type(e, where + "." + k, x.get(k), INT)
    rc = x.get("rcpts")
    if not isinstance(rc, list):
        e.append(where + ".rcpts: expected a list")
        rc = []
    for i, r in enumerate(rc):
        w = "%s.rcpts[%d]" % (where, i)
        if _keys(e, w, r, ("addr", "code", "text")):
            _type(e, w + ".addr", r.get("addr"), STR)
            _type(e, w + ".code", r.get("code"), INT, True)
            _type(e, w + ".text", r.get("text"), STR, True)
    fp = x.get("fingerprint")
    if fp is not None and _keys(e, where + ".fingerprint", fp, ("digest", "minhash")):
        if not (isinstance(fp.get("digest"), str) and HEX32.fullmatch(fp["digest"])):
            e.append("%s.fingerprint.digest: not 32 lower-case hex: %r" % (where, fp.get("digest")))
        if not (isinstance(fp.get("minhash"), str) and HEX256.fullmatch(fp["minhash"])):
            e.append("%s.fingerprint.minhash: not 256 lower-case hex" % where)
    ln = x.get("links")
    if _keys(e, where + ".links", ln, LINK_KEYS):
        for k in LINK_KEYS:
            _type(e, "%s.links.%s" % (where, k), ln.get(k), INT)
    h = x.get("html")
    if h is not None and _keys(e, where + ".html", h, HTML_KEYS):
        for k in HTML_KEYS:
            _type(e, "%s.html.%s" % (where, k), h.get(k), BOOL)
    return e


def load_sessions(path, errs):
    """Parse OUT.jsonl; every line must be one JSON object."""
    out = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as ex:
                errs.append("%s:%d: not UTF-8 (%s)" % (path, n, ex))
                continue
            if not line.endswith("\n"):
                errs.append("%s:%d: last line not terminated by a newline" % (path, n))
            try:
                obj = json.loads(line)
            except ValueError as ex:
                errs.append("%s:%d: not JSON (%s): %.200r" % (path, n, ex, line))
                continue
            if not isinstance(obj, dict):
                errs.append("%s:%d: not a JSON object" % (path, n))
                continue
            out.append(obj)
    return out


# ---- JA4 from tshark -----------------------------------------------------------

def _grease(v):
    return (v & 0x0F0F) == 0x0A0A and (v >> 8) == (v & 0xFF)


def ja4_by_client(pcap):
    """{client "ip:port": ja4} for every TLS ClientHello in the capture."""
    fields = ["ip.src", "ipv6.src", "tcp.srcport", "tls.handshake.ciphersuite",
              "tls.handshake.extension.type", "tls.handshake.extensions.supported_version",
              "tls.handshake.sig_hash_alg", "tls.handshake.extensions_server_name",
              "tls.handshake.extensions_alpn_str", "tls.handshake.version"]
    cmd = ["tshark", "-n", "-r", pcap, "-d", "tcp.port==25,smtp", "-Y", "tls.handshake.type == 1",
           "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for fl in fields:
        cmd += ["-e", fl]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    out = {}
    for line in res.stdout.splitlines():
        c = line.split("\t")
        c += [""] * (len(fields) - len(c))
        ip4, ip6, port, ciphers, exts, svers, sigs, sni, alpn, hver = c[:10]

        def nums(s):
            return [int(x, 0) for x in s.split(",") if x]

        ciphers = [v for v in nums(ciphers) if not _grease(v)]
        exts = [v for v in nums(exts) if not _grease(v)]
        svers = [v for v in nums(svers) if not _grease(v)]
        sigs = nums(sigs)
        ver = max(svers) if svers else (int(hver, 0) if hver else 0)
        vmap = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3"}
        alpn1 = alpn.split(",")[0] if alpn else ""
        a = "t%s%s%02d%02d%s" % (vmap.get(ver, "00"), "d" if sni else "i",
                                  min(len(ciphers), 99), min(len(exts), 99),
                                  (alpn1[0] + alpn1[-1]) if alpn1 else "00")
        cs = ",".join(sorted("%04x" % v for v in ciphers))
        b = hashlib.sha256(cs.encode()).hexdigest()[:12] if ciphers else "000000000000"
        ex = ",".join(sorted("%04x" % v for v in exts if v not in (0x0000, 0x0010)))
        if sigs:
            ex += "_" + ",".join("%04x" % v for v in sigs)
        cc = hashlib.sha256(ex.encode()).hexdigest()[:12] if exts else "000000000000"
        client = pcapflows.endpoint(6 if ip6 else 4, ip6 or ip4, int(port))
        out[client] = "%s_%s_%s" % (a, b, cc)
    return out


# ---- comparison ----------------------------------------------------------------

class Ctx:
    def __init__(self, pcap):
        self.pcap = pcap
        self._ja4 = None
        self.client = None
        self.flow = None

    def ja4(self):
        if self._ja4 is None:
            self._ja4 = ja4_by_client(self.pcap) if self.pcap else {}
        return self._ja4.get(self.client)


def compare(path, spec, got, probs, ctx):
    if isinstance(spec, dict) and len(spec) == 1 and next(iter(spec)).startswith("$"):
        op, arg = next(iter(spec.items()))
        if op == "$any":
            return
        if op == "$re":
            if not (isinstance(got, str) and re.fullmatch(arg, got, re.S)):
                probs.append("%s: expected match of /%s/, got %r" % (path, arg, got))
            return
        if op == "$range":
            if not (_is(got, NUM) and arg[0] <= got <= arg[1]):
                probs.append("%s: expected %r..%r, got %r" % (path, arg[0], arg[1], got))
            return
        if op == "$has":
            if not isinstance(got, dict):
                probs.append("%s: expected an object, got %r" % (path, got))
                return
            for k, v in arg.items():
                if k not in got:
                    probs.append("%s: missing key %r (have %r)" % (path, k, got))
                else:
                    compare("%s.%s" % (path, k), v, got[k], probs, ctx)
            return
        if op == "$closed_by":
            # "fin" or "rst", whichever closed this flow in the capture (for
            # sessions whose close races, e.g. a TLS client that closes with
            # unread data: RST or FIN depending on timing)
            fl = ctx.flow
            want = "truncated" if fl is None or not fl.closed else ("rst" if fl.rst else "fin")
            if got != want:
                probs.append("%s: expected %r (how the capture shows the close), got %r"
                             % (path, want, got))
            return
        if op == "$ja4":
            want = ctx.ja4()
            if want is None:
                probs.append("%s: tshark found no ClientHello for %s" % (path, ctx.client))
            elif got != want:
                probs.append("%s: expected %r (from tshark), got %r" % (path, want, got))
            return
        raise ValueError("unknown operator " + op)
    if isinstance(spec, dict):
        if not isinstance(got, dict):
            probs.append("%s: expected an object, got %r" % (path, got))
            return
        if not spec and got:
            probs.append("%s: expected {}, got %r" % (path, got))
            return
        for k, v in spec.items():
            if k not in got:
                probs.append("%s: missing key %r" % (path, k))
            else:
                compare("%s.%s" % (path, k), v, got[k], probs, ctx)
        return
    if isinstance(spec, list):
        if not isinstance(got, list):
            probs.append("%s: expected a list, got %r" % (path, got))
            return
        if len(spec) != len(got):
            probs.append("%s: expected %d elements, got %d: %s" % (
                path, len(spec), len(got), _short(got)))
        for i, (a, b) in enumerate(zip(spec, got)):
            compare("%s[%d]" % (path, i), a, b, probs, ctx)
        return
    # scalars: exact, with bool/int kept apart
    if type(spec) is not type(got) and not (
            isinstance(spec, (int, float)) and isinstance(got, (int, float))
            and not isinstance(spec, bool) and not isinstance(got, bool)):
        probs.append("%s: expected %r, got %r" % (path, spec, got))
    elif spec != got:
        probs.append("%s: expected %r, got %r" % (path, spec, got))


def _short(v, n=300):
    s = json.dumps(v, ensure_ascii=False)
    return s if len(s) <= n else s[:n] + "..."


def _align_ties(flows, sessions):
    """Flows that started in the same microsecond have no defined order:
    within such a group follow the order the agent chose."""
    out = list(flows)
    i = 0
    while i < len(out):
        j = i
        while j + 1 < len(out) and out[j + 1].first_us == out[i].first_us:
            j += 1
        if j > i:
            group = out[i:j + 1]
            want = [s.get("client") for s in sessions[i:j + 1]]
            if sorted(want, key=str) == sorted((f.client for f in group), key=str):
                out[i:j + 1] = [next(f for f in group if f.client == c) for c in want]
        i = j + 1
    return out


def check(case, spec_doc, sessions, pcap, probs):
    ctx = Ctx(pcap)
    specs = spec_doc["sessions"]
    if len(sessions) != len(specs):
        probs.append("sessions: expected %d, got %d" % (len(specs), len(sessions)))
    ts = [s.get("ts") for s in sessions]
    if all(_is(t, NUM) for t in ts) and ts != sorted(ts):
        probs.append("sessions are not in order of ts: %r" % ts)
    flows = pcapflows.flows(pcap) if pcap else None
    if flows is not None:
        flows = _align_ties(flows, sessions)
    if flows is not None and len(flows) != len(specs):
        probs.append("capture has %d port-25 flows, the case expects %d sessions"
                     % (len(flows), len(specs)))
    for i, fl in enumerate(flows or []):
        for d, name in ((0, "client->server"), (1, "server->client")):
            if fl.holes(d):
                probs.append("capture of flow %d (%s) lacks %d %s bytes: tcpdump lost packets, "
                             "the expectations cannot hold (test infrastructure, not the agent)"
                             % (i, fl.client, fl.holes(d), name))
    for i, spec in enumerate(specs):
        if i >= len(sessions):
            break
        got = sessions[i]
        where = "session[%d]" % i
        spec = dict(spec)
        if flows is not None and i < len(flows):
            fl = flows[i]
            ctx.client = fl.client
            ctx.flow = fl
            want_ip = spec.pop("client_ip", None)
            if want_ip is not None and fl.cip != want_ip:
                probs.append("%s: capture flow %d comes from %s, the case expected %s"
                             % (where, i, fl.cip, want_ip))
            derived = {
                "client": fl.client, "server": fl.server, "midstream": not fl.syn,
                "vlan": fl.vlans,
                "bytes_c2s": fl.bytes[0], "bytes_s2c": fl.bytes[1],
                "packets_c2s": fl.packets[0], "packets_s2c": fl.packets[1],
            }
            for k, v in derived.items():
                if k not in spec:
                    spec[k] = v
                elif spec[k] != v and not isinstance(spec[k], dict):
                    probs.append("%s: the case expects %s=%r but the capture says %r"
                                 % (where, k, spec[k], v))
            for k, us in (("ts", fl.first_us), ("ts_end", fl.last_us)):
                t = got.get(k)
                if not _is(t, NUM) or abs(t * 1e6 - us) > 1.5:
                    probs.append("%s.%s: expected %.6f (capture), got %r" % (where, k, us / 1e6, t))
        else:
            spec.pop("client_ip", None)
        compare(where, spec, got, probs, ctx)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--sessions", required=True)
    ap.add_argument("--pcap")
    a = ap.parse_args()
    probs = []
    sessions = load_sessions(a.sessions, probs)
    for i, s in enumerate(sessions):
        probs.extend(validate_session(s, "session[%d]" % i))
    with open(a.expected) as f:
        spec_doc = json.load(f)
    try:
        check(a.case, spec_doc, sessions, a.pcap, probs)
    except Exception as ex:  # a checker bug must fail loudly, not pass
        probs.append("checker error: %r" % ex)
    if probs:
        print("FAIL %s" % a.case)
        for p in probs:
            print("    %s" % p)
        with open(a.sessions, "rb") as f:
            head = f.read(4000)
        print("    (agent output %s, first bytes: %s)" % (a.sessions, head[:600]))
        return 1
    print("PASS %s" % a.case)
    return 0


if __name__ == "__main__":
    sys.exit(main())
