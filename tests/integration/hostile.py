#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Adversarial captures for tapwarden-agent's offline mode (stdlib only).

    hostile.py DIR                 write DIR/NAME.pcap (and .bin) plus NAME.spec.json
    hostile.py --args FILE         print the extra agent arguments for FILE, one a line
    hostile.py --check FILE --rc RC --rss-kb KB --max-rss-kb KB --timeout S
                                   judge one agent run on FILE (its output is FILE.jsonl);
                                   prints "PASS hostile_NAME" or "FAIL hostile_NAME ..."

A guest chooses every byte the agent parses.  These files are what a hostile
guest (or a broken NIC) can produce: garbage frames, frames cut at every
offset, megabyte command and reply lines, overlapping and out-of-order
segments whose copies disagree, a million 1-byte segments, 50,000 half-open
connections, random TCP flags.  Every run must exit normally, write valid
session JSON only, stay under a memory bound and finish in time; where the
right answer is known (the real data is in the capture), the session must
also be exactly right.

Each NAME.spec.json holds:
  "rc": [allowed exit codes], "args": [extra agent arguments],
  "sessions": [min, max] number of sessions,
  "match": [{"client": "ip:port", "spec": SPEC}]  (SPEC as in check_sessions.py;
          the session of that client must exist, be unique and match)
"""
import json
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ETH_SRC = b"\x52\x54\x00\x00\x00\x02"   # guest (client) MAC
ETH_DST = b"\x52\x54\x00\x00\x00\x01"   # server MAC
FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


class PcapWriter:
    def __init__(self, path, linktype=1):
        self.f = open(path, "wb", buffering=1 << 20)
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        self.ts = 1700000000 * 1000000
        self.n = 0

    def add(self, frame, caplen=None, origlen=None, dt=10):
        self.ts += dt
        if caplen is None:
            caplen = len(frame)
        self.f.write(struct.pack("<IIII", self.ts // 1000000, self.ts % 1000000, caplen,
                                 origlen if origlen is not None else len(frame)))
        self.f.write(frame[:caplen])
        self.n += 1

    def close(self):
        self.f.close()


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def ip6(s):
    import ipaddress
    return ipaddress.IPv6Address(s).packed


def eth(ethertype, payload, vlans=()):
    hdr = ETH_DST + ETH_SRC
    tpids = [0x88A8] + [0x8100] * (len(vlans) - 1) if len(vlans) > 1 else [0x8100]
    for tpid, vid in zip(tpids, vlans):
        hdr += struct.pack("!HH", tpid, vid)
    return hdr + struct.pack("!H", ethertype) + payload


def tcp_hdr(sport, dport, seq, ack, flags, win=64240, opts=b""):
    doff = (20 + len(opts)) // 4
    return struct.pack("!HHIIHHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                       (doff << 12) | flags, win, 0, 0) + opts


def ipv4_pkt(src, dst, proto, payload, ident=0, frag=0x4000):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, frag, 64,
                       proto, 0, src, dst) + payload


def ipv6_pkt(src, dst, nxt, payload, ext=b""):
    return struct.pack("!IHBB16s16s", 6 << 28, len(ext) + len(payload), nxt, 64, src, dst) \
        + ext + payload


class Conv:
    """One synthetic TCP connection between a client and a server."""

    def __init__(self, w, cip, cport, sip="198.18.0.1", sport=25, vlans=(), v6_ext=False):
        self.w = w
        self.v6 = ":" in cip
        self.cip, self.sip = (ip6(cip), ip6(sip)) if self.v6 else (ip4(cip), ip4(sip))
        self.cport, self.sport = cport, sport
        self.vlans = vlans
        self.v6_ext = v6_ext
        self.seq = [random.getrandbits(32), random.getrandbits(32)]
        self.ident = 1

    def frame(self, d, flags, payload=b"", seq=None, ack=None):
        src, dst = (self.cip, self.sip) if d == 0 else (self.sip, self.cip)
        sp, dp = (self.cport, self.sport) if d == 0 else (self.sport, self.cport)
        seg = tcp_hdr(sp, dp, self.seq[d] if seq is None else seq,
                      self.seq[1 - d] if ack is None else ack, flags) + payload
        if self.v6:
            ext = b""
            nxt = 6
            if self.v6_ext:   # hop-by-hop (PadN) then destination options (PadN)
                ext = bytes([60, 0, 1, 4, 0, 0, 0, 0]) + bytes([6, 0, 1, 4, 0, 0, 0, 0])
                nxt = 0
            return eth(0x86DD, ipv6_pkt(src, dst, nxt, seg, ext), self.vlans)
        self.ident += 1
        return eth(0x0800, ipv4_pkt(src, dst, 6, seg, self.ident), self.vlans)

    def handshake(self):
        self.w.add(self.frame(0, SYN, seq=self.seq[0], ack=0))
        self.seq[0] += 1
        self.w.add(self.frame(1, SYN | ACK))
        self.seq[1] += 1
        self.w.add(self.frame(0, ACK))

    def send(self, d, data, seg=1448, ack_after=True):
        for i in range(0, len(data), seg):
            part = data[i:i + seg]
            self.w.add(self.frame(d, PSH | ACK, part))
            self.seq[d] += len(part)
        if ack_after:
            self.w.add(self.frame(1 - d, ACK))

    def close(self):
        self.w.add(self.frame(0, FIN | ACK))
        self.seq[0] += 1
        self.w.add(self.frame(1, FIN | ACK))
        self.seq[1] += 1
        self.w.add(self.frame(0, ACK))


MSG = (b"From: ok@h.test\r\nTo: r@ext.test\r\nSubject: hostile\r\n"
       b"Message-ID: <h.1@h.test>\r\n\r\nthe body\r\n")


def dialogue(msg=MSG, helo=b"h.test"):
    """(direction, bytes) steps of a clean SMTP session."""
    return [
        (1, b"220 mx.hostile.test ESMTP\r\n"),
        (0, b"EHLO " + helo + b"\r\n"),
        (1, b"250-mx.hostile.test\r\n250 PIPELINING\r\n"),
        (0, b"MAIL FROM:<ok@h.test>\r\n"), (1, b"250 2.1.0 Ok\r\n"),
        (0, b"RCPT TO:<r@ext.test>\r\n"), (1, b"250 2.1.5 Ok\r\n"),
        (0, b"DATA\r\n"), (1, b"354 go ahead\r\n"),
        (0, msg + b".\r\n"), (1, b"250 2.0.0 Ok: queued\r\n"),
        (0, b"QUIT\r\n"), (1, b"221 2.0.0 Bye\r\n"),
    ]


def clean_spec(msg=MSG, helo="h.test", vlan=None, codes=(220, 250, 250, 250, 354, 250, 221)):
    hdr_end = msg.index(b"\r\n\r\n") + 4
    spec = {
        "midstream": False, "helo_verb": "EHLO", "helo": helo, "end": "quit",
        "reply_codes": list(codes),
        "transactions": [{
            "mail_from": "ok@h.test", "mail_code": 250,
            "rcpts": [{"addr": "r@ext.test", "code": 250, "text": "2.1.5 Ok"}],
            "data_verb": "DATA", "data_code": 250, "complete": True,
            "message_id": "h.1@h.test", "subject": "hostile",
            "header_bytes": hdr_end, "body_bytes": len(msg) - hdr_end,
        }],
        "gaps": 0,
    }
    if vlan is not None:
        spec["vlan"] = vlan
    return spec


def play(conv, steps, seg=1448):
    conv.handshake()
    for d, data in steps:
        conv.send(d, data, seg)
    conv.close()


def spec_file(path, rc=(0,), args=(), sessions=(0, 10 ** 9), match=()):
    with open(path + ".spec.json", "w") as f:
        json.dump({"rc": list(rc), "args": list(args), "sessions": list(sessions),
                   "match": list(match)}, f, indent=1)


# ---- the captures ------------------------------------------------------------------

def gen_garbage(d):
    """Random frames: pure noise, and valid Ethernet/IP/TCP port-25 headers
    with random fields (header lengths, total lengths, data offsets, options)
    followed by noise."""
    rnd = random.Random(1)
    p = os.path.join(d, "garbage.pcap")
    w = PcapWriter(p)
    for i in range(30000):
        kind = i % 4
        if kind == 0:
            fr = rnd.randbytes(rnd.randrange(0, 1600))
        elif kind == 1:
            ipl = bytearray(ipv4_pkt(ip4("198.18.%d.%d" % (rnd.randrange(256), rnd.randrange(256))),
                                     ip4("198.18.0.1"), 6,
                                     tcp_hdr(rnd.randrange(1024, 65536), 25, rnd.getrandbits(32),
                                             rnd.getrandbits(32), rnd.getrandbits(9))
                                     + rnd.randbytes(rnd.randrange(0, 600))))
            # break one field at random
            j = rnd.choice([0, 2, 3, 6, 9, 32])
            ipl[j] = rnd.randrange(256)
            fr = eth(0x0800, bytes(ipl))
        elif kind == 2:
            nxt = rnd.choice([0, 43, 44, 60, 6, 17, 59, 255])
            fr = eth(0x86DD, struct.pack("!IHBB16s16s", 6 << 28, rnd.randrange(65536), nxt, 64,
                                         rnd.randbytes(16), ip6("fd00:198:18::1"))
                     + rnd.randbytes(rnd.randrange(0, 200)))
        else:
            vl = [rnd.randrange(4096) for _ in range(rnd.randrange(1, 12))]
            fr = ETH_DST + ETH_SRC + b"".join(struct.pack("!HH", 0x8100, v) for v in vl) \
                + struct.pack("!H", rnd.choice([0x0800, 0x86DD, 0x8100])) + rnd.randbytes(80)
        w.add(fr)
    w.close()
    spec_file(p)


def gen_truncated_frames(d):
    """A clean session; before each frame, copies of it cut at every offset
    (caplen 0 .. len-1, the wire length kept in origlen)."""
    p = os.path.join(d, "truncated_frames.pcap")
    w = PcapWriter(p)

    class CutWriter:
        def add(self, frame, caplen=None, origlen=None, dt=10):
            for k in range(len(frame)):
                w.add(frame, caplen=k, origlen=len(frame), dt=1)
            w.add(frame, dt=dt)

    c = Conv(CutWriter(), "198.18.0.2", 40001)
    play(c, dialogue())
    w.close()
    spec_file(p, sessions=(1, 100), match=[{"client": "198.18.0.2:40001", "spec": {
        "server": "198.18.0.1:25", "midstream": False}}])


def gen_longlines(d):
    """A 1 MB MAIL command line and a 1 MB reply line, then a normal
    transaction in the same session."""
    p = os.path.join(d, "longlines.pcap")
    w = PcapWriter(p)
    c = Conv(w, "198.18.0.2", 40002)
    c.handshake()
    steps = dialogue()
    long_cmd = b"MAIL FROM:<" + b"a" * (1 << 20) + b"@h.test>\r\n"
    long_reply = b"501 5.1.7 " + b"x" * (1 << 20) + b"\r\n"
    steps = steps[:3] + [(0, long_cmd), (1, long_reply)] + steps[3:]
    for dd, data in steps:
        c.send(dd, data)
    c.close()
    w.close()
    spec = clean_spec(codes=(220, 250, 501, 250, 250, 354, 250, 221))
    normal = spec["transactions"][0]
    spec["transactions"] = [{"mail_code": 501, "data_verb": None, "rcpts": []}, normal]
    spec["anomalies"] = {"$has": {"line_too_long": {"$range": [1, 10]}}}
    spec["bytes_c2s"] = sum(len(x) for dd, x in steps if dd == 0)
    spec["bytes_s2c"] = sum(len(x) for dd, x in steps if dd == 1)
    spec_file(p, sessions=(1, 1), match=[{"client": "198.18.0.2:40002", "spec": spec}])


def gen_overlap(d):
    """The client stream arrives out of order in random-sized overlapping
    segments; after each window, copies of already-delivered ranges with
    conflicting (garbage) content are replayed.  The first copy of every
    byte is the true one, as the real server (Linux) keeps the first copy,
    so the session must come out exactly right."""
    rnd = random.Random(3)
    p = os.path.join(d, "overlap.pcap")
    w = PcapWriter(p)
    c = Conv(w, "198.18.0.2", 40003)
    c.handshake()
    body = b"".join(b"line %05d of a message sent in shuffled pieces\r\n" % i for i in range(400))
    msg = MSG.replace(b"the body\r\n", body)
    for dd, data in dialogue(msg):
        if dd == 1:
            c.send(1, data)
            continue
        base = c.seq[0]
        for wstart in range(0, len(data), 2000):
            wend = min(len(data), wstart + 2000)
            segs, pos = [], wstart
            while pos < wend:
                n = rnd.randrange(1, 60)
                s0 = max(wstart, pos - rnd.randrange(0, 20))      # overlap the previous piece
                segs.append((s0, min(wend, pos + n)))
                pos += n
            rnd.shuffle(segs)
            seen = bytearray(len(data))
            for s0, e0 in segs:
                w.add(c.frame(0, PSH | ACK, data[s0:e0], seq=base + s0))
                seen[s0:e0] = b"\x01" * (e0 - s0)
            for _ in range(20):                                  # conflicting replays
                s0 = rnd.randrange(wstart, wend)
                e0 = min(wend, s0 + rnd.randrange(1, 40))
                w.add(c.frame(0, PSH | ACK, rnd.randbytes(e0 - s0), seq=base + s0))
            # the server acknowledges the window only when all of it is there
            w.add(c.frame(1, ACK, ack=base + wend))
        c.seq[0] += len(data)
    c.close()
    w.close()
    spec_file(p, sessions=(1, 1), match=[{"client": "198.18.0.2:40003", "spec": clean_spec(msg)}])


def gen_tiny_segments(d, n_body=1000000):
    """One session whose commands and 1 MB message all travel in 1-byte
    segments (about a million packets)."""
    p = os.path.join(d, "tiny_segments.pcap")
    w = PcapWriter(p)
    c = Conv(w, "198.18.0.2", 40004)
    line = b"tiny segments, one byte each, for a very long time.\r\n"
    body = (line * (n_body // len(line) + 1))[:n_body - 2] + b"\r\n"
    msg = MSG.replace(b"the body\r\n", body)
    c.handshake()
    # One pre-built frame whose seq and payload byte are patched: fast enough
    # for a million packets in pure Python.
    rec = struct.Struct("<IIII")
    seqs = struct.Struct("!I")
    for dd, data in dialogue(msg):
        if dd == 1:
            c.send(1, data)
            continue
        tmpl = bytearray(c.frame(0, PSH | ACK, b"x"))
        seq_off = 14 + 20 + 4          # Ethernet, IPv4, then TCP's seq field
        seq = c.seq[0]
        f = w.f
        ts = w.ts
        hdr_len = len(tmpl)
        for i in range(len(data)):
            ts += 1
            seqs.pack_into(tmpl, seq_off, (seq + i) & 0xFFFFFFFF)
            tmpl[-1] = data[i]
            f.write(rec.pack(ts // 1000000, ts % 1000000, hdr_len, hdr_len))
            f.write(tmpl)
            if i % 20000 == 19999:        # the server acknowledges now and then
                w.ts = ts
                w.add(c.frame(1, ACK, ack=seq + i + 1))
                ts = w.ts
        w.n += len(data)
        w.ts = ts
        c.seq[0] += len(data)
        c.w.add(c.frame(1, ACK))
    c.close()
    w.close()
    spec = clean_spec(msg)
    spec_file(p, sessions=(1, 1), match=[{"client": "198.18.0.2:40004", "spec": spec}])


def gen_halfopen(d, n=50000):
    """50,000 connection attempts that never complete: SYN only, or SYN and
    SYN-ACK without the final ACK."""
    p = os.path.join(d, "halfopen.pcap")
    w = PcapWriter(p)
    for i in range(n):
        cip = "198.18.%d.%d" % (1 + (i >> 8) % 200, i & 0xFF)
        c = Conv(w, cip, 1024 + i % 60000)
        w.add(c.frame(0, SYN, seq=c.seq[0], ack=0), dt=1)
        if i % 2:
            c.seq[0] += 1
            w.add(c.frame(1, SYN | ACK), dt=1)
    w.close()
    spec_file(p, sessions=(0, n))
    # the same with a small flow table: eviction instead of growth
    small = os.path.join(d, "halfopen_small_table.pcap")
    spec_file(small, args=["--max-flows", "1000"], sessions=(0, n))
    if os.path.exists(small):
        os.unlink(small)
    os.link(p, small)


def gen_random_flags(d):
    """200 port-25 flows with random TCP flags (SYN+FIN, SYN+RST, no flags,
    URG ...), sequence numbers and SMTP-looking payloads in both directions."""
    rnd = random.Random(5)
    p = os.path.join(d, "random_flags.pcap")
    w = PcapWriter(p)
    words = [b"EHLO x\r\n", b"MAIL FROM:<a@b>\r\n", b"RCPT TO:<c@d>\r\n", b"DATA\r\n",
             b"BDAT 99999999999 LAST\r\n", b"STARTTLS\r\n", b"250 ok\r\n", b"354 go\r\n",
             b"220 hi\r\n", b".\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"\r\n"]
    flows = [Conv(w, "198.18.7.%d" % (i % 250 + 1), 30000 + i) for i in range(200)]
    for _ in range(40000):
        c = rnd.choice(flows)
        dd = rnd.randrange(2)
        flags = rnd.getrandbits(9)
        pl = b"".join(rnd.choice(words) for _ in range(rnd.randrange(0, 5)))
        if rnd.random() < 0.1:
            pl += rnd.randbytes(rnd.randrange(1, 300))
        seq = c.seq[dd] + rnd.choice([0, 0, 0, -5, 7, 1 << 31, rnd.getrandbits(32)])
        w.add(c.frame(dd, flags, pl, seq=seq, ack=rnd.getrandbits(32)))
        if rnd.random() < 0.7:
            c.seq[dd] += len(pl)
    w.close()
    spec_file(p)


def gen_vlan_ipv6(d):
    """Clean sessions the decoder must see through: QinQ-tagged IPv4 (outer
    802.1ad 200, inner 802.1Q 100), and IPv6 with hop-by-hop and destination
    options headers in front of TCP."""
    p = os.path.join(d, "vlan_ipv6ext.pcap")
    w = PcapWriter(p)
    play(Conv(w, "198.18.0.2", 40005, vlans=(200, 100)), dialogue())
    play(Conv(w, "fd00:198:18::2", 40006, sip="fd00:198:18::1", v6_ext=True), dialogue())
    w.close()
    spec_file(p, sessions=(2, 2), match=[
        {"client": "198.18.0.2:40005", "spec": clean_spec(vlan=[200, 100])},
        {"client": "[fd00:198:18::2]:40006", "spec": clean_spec(vlan=[])}])


def gen_files(d):
    """Not captures at all, or broken ones: the agent must refuse or stop
    cleanly (exit 0 or 1, never a crash), and write only valid JSON."""
    rnd = random.Random(7)
    with open(os.path.join(d, "not_a_pcap.bin"), "wb") as f:
        f.write(rnd.randbytes(65536))
    spec_file(os.path.join(d, "not_a_pcap.bin"), rc=(1,), sessions=(0, 0))
    p = os.path.join(d, "empty.pcap")
    PcapWriter(p).close()
    spec_file(p, sessions=(0, 0))
    # A clean session, the file cut in the middle of a record.
    p = os.path.join(d, "cut.pcap")
    w = PcapWriter(p)
    play(Conv(w, "198.18.0.2", 40007), dialogue())
    w.close()
    size = os.path.getsize(p)
    with open(p, "r+b") as f:
        f.truncate(size - 37)
    spec_file(p, rc=(0, 1), sessions=(0, 1))
    # A record header announcing a 4 GB frame.
    p = os.path.join(d, "huge_record.pcap")
    w = PcapWriter(p)
    play(Conv(w, "198.18.0.2", 40008), dialogue()[:3])
    w.f.write(struct.pack("<IIII", 1700000001, 0, 0xFFFFFFF0, 0xFFFFFFF0) + b"\x00" * 64)
    w.close()
    spec_file(p, rc=(0, 1), sessions=(0, 1))


GENERATORS = [gen_garbage, gen_truncated_frames, gen_longlines, gen_overlap, gen_tiny_segments,
              gen_halfopen, gen_random_flags, gen_vlan_ipv6, gen_files]


# ---- judging a run -------------------------------------------------------------------

def check(path, rc, rss_kb, max_rss_kb, timeout):
    import check_sessions as cs
    name = "hostile_" + os.path.splitext(os.path.basename(path))[0]
    with open(path + ".spec.json") as f:
        spec = json.load(f)
    probs = []
    if rc == 124:
        probs.append("timed out after %d s" % timeout)
    elif rc >= 128:
        probs.append("killed by signal %d" % (rc - 128))
    elif rc not in spec["rc"]:
        probs.append("exit status %d, expected one of %s" % (rc, spec["rc"]))
    if rss_kb > max_rss_kb:
        probs.append("peak RSS %d KB over the bound %d KB" % (rss_kb, max_rss_kb))
    out = path + ".jsonl"
    sessions = []
    if os.path.exists(out):
        sessions = cs.load_sessions(out, probs)
    elif rc == 0:
        probs.append("no output file")
    for i, s in enumerate(sessions):
        errs = cs.validate_session(s, "session[%d]" % i)
        probs.extend(errs[:5])
        if len(probs) > 20:
            break
    lo, hi = spec["sessions"]
    if not lo <= len(sessions) <= hi:
        probs.append("%d sessions, expected %d..%d" % (len(sessions), lo, hi))
    ts = [s.get("ts") for s in sessions if isinstance(s.get("ts"), (int, float))]
    if ts != sorted(ts):
        probs.append("sessions are not in order of ts")
    for m in spec["match"]:
        got = [s for s in sessions if s.get("client") == m["client"]]
        if len(got) != 1:
            probs.append("%d sessions of client %s, expected 1" % (len(got), m["client"]))
            continue
        cs.compare("session(%s)" % m["client"], m["spec"], got[0], probs, cs.Ctx(None))
    info = "%d sessions, exit %d, peak RSS %d MB" % (len(sessions), rc, rss_kb // 1024)
    if probs:
        print("FAIL %s (%s)" % (name, info))
        for p in probs[:30]:
            print("    %s" % p)
        return 1
    print("PASS %s (%s)" % (name, info))
    return 0


def main():
    a = sys.argv[1:]
    if len(a) == 2 and a[0] == "--args":
        with open(a[1] + ".spec.json") as f:
            for x in json.load(f)["args"]:
                print(x)
        return 0
    if a and a[0] == "--check":
        import argparse
        ap = argparse.ArgumentParser()
        ap.add_argument("--check", required=True)
        ap.add_argument("--rc", type=int, required=True)
        ap.add_argument("--rss-kb", type=int, required=True)
        ap.add_argument("--max-rss-kb", type=int, required=True)
        ap.add_argument("--timeout", type=int, required=True)
        o = ap.parse_args(a)
        return check(o.check, o.rc, o.rss_kb, o.max_rss_kb, o.timeout)
    if len(a) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    os.makedirs(a[0], exist_ok=True)
    random.seed(42)
    for g in GENERATORS:
        g(a[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
