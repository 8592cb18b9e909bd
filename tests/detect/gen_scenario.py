#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a small pcap of whole SMTP sessions for the detection scenarios.

usage: gen_scenario.py OUT.pcap
Guests (198.18.100.0/24, to MXs in 198.19.0.0/16):
  .10  transactional: one message every 90 s for 3 hours (40/hour), to 5 MXs
  .20  bulk newsletter, 600 messages in 10 minutes (whitelisted in the map)
  .30  the same newsletter from a VM that is not whitelisted
Deterministic; stdlib only; valid IPv4/TCP checksums.
"""
import struct
import sys

T0 = 1798761600
FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip(a):
    return bytes(int(x) for x in a.split("."))


class Pcap:
    def __init__(self, f):
        self.f = f
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def seg(self, t, src, dst, sp, dp, seq, ack, flags, data=b""):
        tcp = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 5 << 4, flags, 65535, 0, 0) + data
        ph = ip(src) + ip(dst) + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, ip(src), ip(dst))
        iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
        frame = b"\x52\x54\x00\x00\x00\x02" + b"\x52\x54\x00\x00\x00\x01" + b"\x08\x00" + iph + tcp
        us = int(round(t * 1e6))
        self.f.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(frame), len(frame)))
        self.f.write(frame)


def session(p, t, cli, srv, port, subject, msgid, body):
    """One SMTP session with one message, 1 ms per turn."""
    c, s = 1000, 5000
    p.seg(t, cli, srv, port, 25, c, 0, SYN); c += 1
    p.seg(t + 0.001, srv, cli, 25, port, s, c, SYN | ACK); s += 1
    p.seg(t + 0.002, cli, srv, port, 25, c, s, ACK)
    msg = ("From: news@shop.example\r\nTo: someone@example.test\r\nSubject: %s\r\n"
           "Message-ID: <%s>\r\nDate: Fri, 01 Jan 2027 00:00:00 +0000\r\n\r\n%s\r\n.\r\n"
           % (subject, msgid, body)).encode()
    turns = [(b"220 mx.example.test ESMTP\r\n", None),
             (b"250-mx.example.test\r\n250 PIPELINING\r\n", b"EHLO guest.example\r\n"),
             (b"250 2.1.0 Ok\r\n", b"MAIL FROM:<news@shop.example>\r\n"),
             (b"250 2.1.5 Ok\r\n", b"RCPT TO:<someone@example.test>\r\n"),
             (b"354 End data with <CR><LF>.<CR><LF>\r\n", b"DATA\r\n"),
             (b"250 2.0.0 Ok: queued\r\n", msg),
             (b"221 2.0.0 Bye\r\n", b"QUIT\r\n")]
    tt = t + 0.003
    for reply, cmd in turns:
        if cmd:
            p.seg(tt, cli, srv, port, 25, c, s, PSH | ACK, cmd); c += len(cmd); tt += 0.001
        p.seg(tt, srv, cli, 25, port, s, c, PSH | ACK, reply); s += len(reply); tt += 0.001
    p.seg(tt, cli, srv, port, 25, c, s, FIN | ACK); c += 1
    p.seg(tt + 0.001, srv, cli, 25, port, s, c, FIN | ACK); s += 1
    p.seg(tt + 0.002, cli, srv, port, 25, c, s, ACK)


def main():
    events = []
    for i in range(120):   # transactional: 40/hour for 3 hours
        events.append((T0 + 90 * i, "198.18.100.10", "198.19.%d.25" % (i % 5),
                       "Your order #%d has shipped" % (1000 + i), "order-%d@shop.example" % i,
                       "Hello,\r\nyour order %d is on its way.\r\nThanks" % (1000 + i)))
    for g in ("20", "30"):  # newsletter: one message per second for 10 minutes
        for i in range(600):
            events.append((T0 + 3600 + i, "198.18.100." + g, "198.19.%d.25" % (i % 40),
                           "Our spring newsletter", "nl-%s-%d@shop.example" % (g, i),
                           "Spring offers for our subscribers.\r\nUnsubscribe: https://shop.example/u"))
    events.sort()
    with open(sys.argv[1], "wb") as f:
        p = Pcap(f)
        for n, (t, cli, srv, subj, mid, body) in enumerate(events):
            session(p, t + (0.0001 * (n % 7)), cli, srv, 20000 + n % 40000, subj, mid, body)


if __name__ == "__main__":
    main()
