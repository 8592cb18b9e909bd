#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Send N messages with Python smtplib to SERVER:25, PER_SESSION per
connection (tests/live/run.sh runs it inside a guest namespace).

    send.py SERVER N PER_SESSION FROM [--same]

--same: every message has the same subject and body (a campaign);
--subject TEXT: that subject instead (with --same);
--until-blocked: stop quietly at the first connection refused or timed
out (3 s);
--newsletter: the same issue of a list to every recipient, with
List-Unsubscribe (one-click) and Precedence: bulk; otherwise each is a
distinct transactional mail.  Prints the number of messages the
server accepted (250 after DATA) and exits 1 if any was refused."""
import smtplib
import sys
from email.message import EmailMessage

server, n, per, sender = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
same = "--same" in sys.argv[5:]
# --until-blocked: stop at the first connection that cannot be made (the
# sender was blocked) and exit 0 with the number sent
until_blocked = "--until-blocked" in sys.argv[5:]
newsletter = "--newsletter" in sys.argv[5:]
subject = sys.argv[sys.argv.index("--subject") + 1] if "--subject" in sys.argv[5:] else None
sent = 0
i = 0
def message(i):
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "rcpt%d@ext.test" % i
    if newsletter:
        m["Subject"] = "Garden club news, December"
        m["List-Unsubscribe"] = "<https://news.d.tw.test/u/%d>" % i
        m["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        m["Precedence"] = "bulk"
        m.set_content("This month: winter pruning.\n\nUnsubscribe: https://news.d.tw.test/u\n")
    elif same:
        m["Subject"] = subject or "Cheap watches, best prices"
        m.set_content("Buy now at http://198.18.9.9/w\n")
    else:
        m["Subject"] = "Your order %d has shipped" % (1000 + i * 7)
        m.set_content("Hello,\n\norder %d is on its way (%s).\n" % (1000 + i * 7, "x" * (i % 13)))
    m["Message-ID"] = "<live-%d-%d@guest.tw.test>" % (i, len(sender))
    return m


while i < n:
    try:
        with smtplib.SMTP(server, 25, local_hostname="guest.tw.test",
                          timeout=3 if until_blocked else 20) as s:
            for _ in range(min(per, n - i)):
                s.send_message(message(i))
                sent += 1
                i += 1
    except (OSError, smtplib.SMTPException):
        # a blocked sender: new connections time out, open ones are cut
        if until_blocked:
            break
        raise
print(sent)
sys.exit(0 if sent == n or until_blocked else 1)
