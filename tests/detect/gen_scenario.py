#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a small pcap of whole SMTP sessions for the detection scenarios.

usage: gen_scenario.py OUT.pcap
Guests (198.18.100.0/24, to MXs in 198.19.0.0/16):
  .10  transactional: one message every 90 s for 3 hours (40/hour), to 5 MXs
  .20  bulk newsletter, 600 messages in 10 minutes (whitelisted in the map)
  .30  the same newsletter from a VM that is not whitelisted
Deterministic; stdlib only; the frames are tests/eval/smtpgen.py's.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "eval"))
from smtpgen import Pcap  # noqa: E402

T0 = 1798761600


def session(p, t, cli, srv, port, subject, msgid, body):
    """One SMTP session with one message, a 2 ms round trip."""
    msg = ("From: news@shop.example\r\nTo: someone@example.test\r\nSubject: %s\r\n"
           "Message-ID: <%s>\r\nDate: Fri, 01 Jan 2027 00:00:00 +0000\r\n\r\n%s"
           % (subject, msgid, body)).encode()
    p.session(t, cli, srv, port, b"220 mx.example.test ESMTP\r\n", b"EHLO guest.example\r\n",
              b"250-mx.example.test\r\n250 PIPELINING\r\n",
              [(b"MAIL FROM:<news@shop.example>\r\n", b"250 2.1.0 Ok\r\n",
                [(b"RCPT TO:<someone@example.test>\r\n", b"250 2.1.5 Ok\r\n")], msg, b"250 2.0.0 Ok: queued\r\n")],
              rtt=0.002)


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
        p.close()


if __name__ == "__main__":
    main()
