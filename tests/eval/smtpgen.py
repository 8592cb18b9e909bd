# SPDX-License-Identifier: MIT
"""Whole SMTP sessions as pcap frames, for the evaluation's scenarios
(tests/eval/scenarios.py) and the detection test (tests/detect).

Pcap(f) writes a classic pcap (Ethernet, IPv4, valid checksums) at close().
Pcap.session(...) writes one TCP connection from a guest to an MX: the
handshake, the server's banner, EHLO, any number of transactions (MAIL,
RCPT with a reply each, DATA and the message when a recipient was
accepted), QUIT and FIN both ways, one turn per round trip; or, with
starttls, EHLO, STARTTLS, a real ClientHello and opaque records (what a
passive observer sees of TLS).  Segments are cut at the MSS.  Stdlib only;
deterministic (no clock, no randomness of its own)."""
import os
import struct
import sys

MSS = 1460
FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10

# A real ClientHello (swaks/OpenSSL 3 after STARTTLS), shared with the
# speed benchmark's generator.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from gen_capture import CLIENT_HELLO  # noqa: E402


def _csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ip(a):
    return bytes(int(x) for x in a.split("."))


def _mac(a):
    """A stable guest MAC from its IPv4 address (52:54:00 is QEMU's prefix)."""
    return b"\x52\x54\x00" + _ip(a)[1:]


class Pcap:
    """Frames are kept and written in time order by close(): sessions of
    many guests overlap in time."""

    def __init__(self, f):
        self.f = f
        self.frames = []

    def close(self):
        self.frames.sort(key=lambda x: x[0])
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for us, frame in self.frames:
            self.f.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(frame), len(frame)))
            self.f.write(frame)
        self.frames = []

    def seg(self, t, src, dst, sp, dp, seq, ack, flags, data=b""):
        tcp = struct.pack("!HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags,
                          65535, 0, 0) + data
        ph = _ip(src) + _ip(dst) + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", _csum(ph + tcp)) + tcp[18:]
        iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0, _ip(src), _ip(dst))
        iph = iph[:10] + struct.pack("!H", _csum(iph)) + iph[12:]
        frame = _mac(dst) + _mac(src) + b"\x08\x00" + iph + tcp
        self.frames.append((int(round(t * 1e6)), frame))

    def send(self, t, src, dst, sp, dp, seq, ack, data):
        """data from src in MSS-sized segments at time t; returns the new seq."""
        for i in range(0, len(data), MSS):
            chunk = data[i:i + MSS]
            self.seg(t, src, dst, sp, dp, seq, ack, PSH | ACK, chunk)
            seq += len(chunk)
        return seq

    def session(self, t, cli, srv, sport, banner, ehlo_cmd, ehlo_reply, txns, rtt=0.02,
                starttls=False, quit=True):
        """One connection at time t; returns (end time, [(time, accepted)] of
        each transaction's end of DATA).  txns: [(mail_cmd, mail_reply,
        [(rcpt_cmd, rcpt_reply)], message or None, data_reply)], commands
        and replies as bytes with CRLF; the message without the final dot."""
        c, s = 1000 + sport * 7, 5000 + sport * 13
        self.seg(t, cli, srv, sport, 25, c, 0, SYN); c += 1
        self.seg(t + rtt / 2, srv, cli, 25, sport, s, c, SYN | ACK); s += 1
        t += rtt
        self.seg(t, cli, srv, sport, 25, c, s, ACK)
        t += 0.001
        s = self.send(t, srv, cli, 25, sport, s, c, banner)
        done = []

        def turn(cmd, reply):
            nonlocal c, s, t
            t += rtt / 2
            c = self.send(t, cli, srv, sport, 25, c, s, cmd)
            t += rtt / 2
            s = self.send(t, srv, cli, 25, sport, s, c, reply)

        turn(ehlo_cmd, ehlo_reply)
        if starttls:
            turn(b"STARTTLS\r\n", b"220 2.0.0 Ready to start TLS\r\n")
            turn(CLIENT_HELLO, b"\x16\x03\x03\x00\x7a" + bytes(122))
            for m in txns:      # each transaction, encrypted: sizes only
                n = len(m[3] or b"") + 120
                turn(b"\x17\x03\x03" + struct.pack("!H", min(n, 16384)) + bytes(min(n, 16384)),
                     b"\x17\x03\x03\x00\x40" + bytes(64))
                done.append((t, None))
        else:
            for mail, mail_reply, rcpts, msg, data_reply in txns:
                turn(mail, mail_reply)
                ok = False
                for rcpt, reply in rcpts:
                    turn(rcpt, reply)
                    ok = ok or reply.startswith(b"250")
                if ok and msg is not None:
                    turn(b"DATA\r\n", b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    body = msg.replace(b"\r\n.", b"\r\n..")
                    turn(body + b"\r\n.\r\n", data_reply)
                    done.append((t, data_reply.startswith(b"250")))
                else:
                    turn(b"RSET\r\n", b"250 2.0.0 Ok\r\n")
        if quit and not starttls:
            turn(b"QUIT\r\n", b"221 2.0.0 Bye\r\n")
        t += 0.001
        self.seg(t, cli, srv, sport, 25, c, s, FIN | ACK); c += 1
        self.seg(t + rtt / 2, srv, cli, 25, sport, s, c, FIN | ACK); s += 1
        self.seg(t + rtt, cli, srv, sport, 25, c, s, ACK)
        return t + rtt, done
