#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The integration cases: the messages the clients send, the Python clients,
and the sessions the agent must report for them.

    cases.py prep CASE DIR     write DIR/ inputs (messages) and DIR/expected.json
    cases.py client CASE DIR   run CASE's Python client (inside a guest namespace)
    cases.py list              the case names, in the order run.sh runs them

Expectations are written from what the client sends and from how the real
servers in lib.sh are configured (Postfix on 198.18.0.1 / fd00:198:18::1,
smtp-sink on .11 (accepts all), .12 (greylists RCPT with 451), .13 (421
after MAIL)).  Message sizes are computed from the exact bytes each client
puts on the wire (swaks/curl/smtplib/smtp-source transformations included),
so header_bytes/body_bytes are exact.

Field conventions where doc/sessions.md leaves room (kept in one place here):
  * "commands" counts command lines, like Postfix's own "commands=" count:
    message content and the "." that ends DATA are not commands.
  * reply "text" (banner, rcpts, data_text) is everything after "NNN " / "NNN-",
    enhanced status code included, lines joined with "\\n".
  * "header_bytes" includes the empty line that ends the header section, so
    header_bytes + body_bytes is the message size (dot-unstuffed, including
    the CRLF before the final ".").
  * "esmtp" holds the non-empty capability lines after the first (greeting)
    line of the EHLO reply, as sent.
"""
import json
import os
import socket
import sys
import time

ANY = {"$any": True}
PF4, PF6 = "198.18.0.1", "fd00:198:18::1"
SINK, GREY, DROP = "198.18.0.11", "198.18.0.12", "198.18.0.13"
G1, G1_6, G2, G2_LISTED = "198.18.0.2", "fd00:198:18::2", "198.18.0.3", "198.18.0.4"

PF_BANNER = {"code": 220, "text": "mx.tw.test ESMTP tapwarden-test"}
PF_ESMTP = ["PIPELINING", "SIZE 10240000", "VRFY", "ETRN", "STARTTLS",
            "ENHANCEDSTATUSCODES", "8BITMIME", "DSN", "SMTPUTF8", "CHUNKING"]
SINK_ESMTP = ["PIPELINING", "8BITMIME", "AUTH PLAIN LOGIN", "XCLIENT NAME HELO",
              "XFORWARD NAME ADDR PROTO HELO", "ENHANCEDSTATUSCODES", "DSN"]
PF_QUEUED = {"$re": r"2\.0\.0 Ok: queued as [0-9A-Za-z]+"}
HEX_FP = {"digest": {"$re": "[0-9a-f]{32}"}, "minhash": {"$re": "[0-9a-f]{256}"}}
NO_LINKS = {"count": 0, "ip_literal": 0, "encoded_host": 0, "shortener": 0,
            "mailto": 0, "distinct_hosts": 0}
DATE = "Mon, 01 Jan 2024 10:00:00 +0000"
CRLF = "\r\n"


# ---- builders --------------------------------------------------------------------

def crlf(lines):
    return CRLF.join(lines)


def split_msg(content):
    """(header section incl. the empty line, body) of a message as received."""
    i = content.find(b"\r\n\r\n")
    assert i >= 0, "message without an empty line"
    return content[:i + 4], content[i + 4:]


def no_message():
    """Message fields of a transaction whose content was never sent."""
    return {"complete": False, "message_id": None, "date": None, "from": None,
            "subject": None, "to_count": 0, "cc_count": 0, "list_unsubscribe": None,
            "list_unsubscribe_post": None, "precedence": None, "dkim_domain": None,
            "dkim_selector": None, "x_mailer": None, "content_type": None,
            "header_bytes": 0, "body_bytes": 0, "fingerprint": None,
            "links": NO_LINKS, "html": None}


def message(content, **fields):
    """Message fields for content (bytes as received, dot-unstuffed)."""
    hdr, body = split_msg(content)
    m = {"complete": True, "message_id": None, "date": None, "from": None,
         "subject": None, "to_count": 0, "cc_count": 0, "list_unsubscribe": None,
         "list_unsubscribe_post": None, "precedence": None, "dkim_domain": None,
         "dkim_selector": None, "x_mailer": None, "content_type": None,
         "header_bytes": len(hdr), "body_bytes": len(body), "fingerprint": HEX_FP,
         "links": NO_LINKS, "html": None}
    for k, v in fields.items():
        assert k in m, k
        m[k] = v
    return m


def rcpt(addr, code, text):
    return {"addr": addr, "code": code, "text": text}


def txn(mail_from, mail_code, rcpts, data_verb=None, data_code=None, data_text=None,
        msg=None, mail_params=None):
    t = {"mail_from": mail_from, "mail_params": mail_params, "mail_code": mail_code,
         "rcpts": rcpts, "data_verb": data_verb, "data_code": data_code,
         "data_text": data_text}
    t.update(msg if msg is not None else no_message())
    return t


def session(client_ip, server, helo_verb, helo, esmtp, verbs, reply_codes, commands,
            transactions, end, quit, pipelining=False, banner=PF_BANNER, starttls=False,
            tls=None, anomalies=None):
    classes = {"2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0}
    for c in reply_codes:
        classes["%dxx" % (c // 100)] += 1
    return {
        "client_ip": client_ip, "server": server, "midstream": False, "vlan": [],
        "banner": banner, "helo_verb": helo_verb, "helo": helo, "esmtp": esmtp,
        "auth": None, "auth_code": None, "starttls": starttls, "tls": tls,
        "dialect": {"verbs": verbs, "quit": quit, "pipelining": pipelining, "bare_lf": False},
        "transactions": transactions, "commands": commands, "replies": classes,
        "reply_codes": reply_codes, "end": end, "gaps": 0, "gap_bytes": 0,
        "anomalies": anomalies if anomalies is not None else {},
    }


def swaks_wire(data):
    """The message content swaks (with data fix-up) delivers for --data @FILE
    holding `data` (CRLF lines, no trailing newline, no %TOKENS%): the file
    plus the CRLF before swaks' final "." (dot-stuffing is undone by the
    receiver)."""
    assert not data.endswith("\n") and "%" not in data and "\\" not in data
    return (data + CRLF).encode("utf-8")


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


# ---- Postfix cases ------------------------------------------------------------------

SUBJ_UTF8 = "Grüße aus Köln – Angebot 50%"


def swaks_headers(data, headers):
    """data after swaks' --header handling: a header already in the message
    is replaced in place (its continuation lines dropped), the others are
    appended to the header section in order."""
    head, sep, body = data.partition(CRLF + CRLF)
    lines = head.split(CRLF)
    extra = []
    for h in headers:
        name = h.split(":", 1)[0]
        idx = [i for i, ln in enumerate(lines) if ln.startswith(name + ":")]
        if idx:
            i = idx[-1]
            j = i + 1
            while j < len(lines) and lines[j][:1] in (" ", "\t"):
                j += 1
            lines[i:j] = [h]
        else:
            extra.append(h)
    return CRLF.join(lines + extra) + sep + body


def prep_pf_swaks_pipeline(d):
    import base64
    enc = "=?UTF-8?B?%s?=" % base64.b64encode(SUBJ_UTF8.encode()).decode()
    data = crlf([
        "Date: " + DATE,
        "From: News <news@g1.tw.test>",
        "To: Alice <a@ext.test>, b@ext.test",
        "Cc: Carol <c@ext.test>",
        "Subject: replaced by swaks --header",
        "Message-ID: <p1.0001@g1.tw.test>",
        "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;",
        "\td=g1.tw.test; s=sel2024; t=1704103200;",
        "\th=from:to:subject:date:message-id;",
        "\tbh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;",
        "\tb=dGFwd2FyZGVuIGludGVncmF0aW9uIHRlc3Qgc2lnbmF0dXJlIG5vdCByZWFs",
        "X-Mailer: tapwarden-it/1.0",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
        "",
        "Hallo Alice,",
        "",
        "unser neues Angebot: https://g1.tw.test/offer",
        "und der Katalog: http://198.18.0.99/katalog.pdf",
        "",
        "Viele Grüße",
        "-- ",
        "News"])
    headers = [
        "Subject: " + enc,
        "List-Unsubscribe: <mailto:unsub@g1.tw.test?subject=unsubscribe>, <https://g1.tw.test/u/123>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Precedence: Bulk",
    ]
    write(d, "msg.eml", data)
    # run.sh passes these as swaks --header options, one a line
    write(d, "swaks_headers", "\n".join(headers) + "\n")
    content = swaks_wire(swaks_headers(data, headers))
    rc = [rcpt("a@ext.test", 250, "2.1.5 Ok"),
          rcpt("nosuchuser@tw.test", 550,
               "5.1.1 <nosuchuser@tw.test>: Recipient address rejected: User unknown"),
          rcpt("b@ext.test", 250, "2.1.5 Ok")]
    msg = message(content, message_id="p1.0001@g1.tw.test", date=DATE,
                  **{"from": "News <news@g1.tw.test>"}, subject=SUBJ_UTF8, to_count=2,
                  cc_count=1,
                  list_unsubscribe="<mailto:unsub@g1.tw.test?subject=unsubscribe>, <https://g1.tw.test/u/123>",
                  list_unsubscribe_post="List-Unsubscribe=One-Click", precedence="bulk",
                  dkim_domain="g1.tw.test", dkim_selector="sel2024",
                  x_mailer="tapwarden-it/1.0", content_type="text/plain",
                  links={"count": 2, "ip_literal": 1, "encoded_host": 0, "shortener": 0,
                         "mailto": 0, "distinct_hosts": 2})
    t = txn("news@g1.tw.test", 250, rc, "DATA", 250, PF_QUEUED, msg)
    return [session(G1, PF4 + ":25", "EHLO", "g1.tw.test", PF_ESMTP,
                    ["EHLO", "MAIL FROM:", "RCPT TO:", "DATA", "QUIT"],
                    [220, 250, 250, 250, 550, 250, 354, 250, 221], 7, [t], "quit",
                    quit=True, pipelining=True)]


def prep_pf_starttls(d):
    data = crlf(["From: x@g1.tw.test", "To: y@ext.test", "Subject: secret",
                 "Message-ID: <tls.1@g1.tw.test>", "", "hidden by TLS"])
    write(d, "msg.eml", data)
    tls = {"version": "1.3", "sni": "mx.tw.test", "alpn": None, "ja4": {"$ja4": True}}
    # After STARTTLS everything (EHLO, MAIL, ..., QUIT) is encrypted: no QUIT
    # is seen, so the session ends with FIN -- or with RST: swaks closes
    # without reading the server's last TLS record, and whether its kernel
    # sends FIN or RST depends on whether that record arrived first.
    return [session(G1, PF4 + ":25", "EHLO", "tls.g1.tw.test", PF_ESMTP,
                    ["EHLO", "STARTTLS"], [220, 250, 220], 2, [], {"$closed_by": True},
                    quit=False,
                    starttls=True, tls=tls)]


def prep_pf_curl(d):
    boundary = "=_tw_boundary_42"
    data = crlf([
        "Date: " + DATE,
        "From: Billing <billing@g2.tw.test>",
        "To: r1@ext.test, r2@ext.test, r3@ext.test",
        "Subject: Invoice 2024-001",
        "Message-ID: <curl-1@g2.tw.test>",
        "MIME-Version: 1.0",
        'Content-Type: multipart/alternative; boundary="%s"' % boundary,
        "",
        "This is a multi-part message in MIME format.",
        "--" + boundary,
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "Your invoice is attached. Please log in to pay.",
        "--" + boundary,
        "Content-Type: text/html; charset=us-ascii",
        "",
        "<html><body><p>Your invoice is ready.</p>",
        '<a href="https://pay.tw-bank.test/login">Log in</a>',
        '<form method="post"><input name="pw"><input type="submit" value="Pay"></form>',
        '<script src="https://cdn.tw-cdn.test/x.js"></script>',
        "</body></html>",
        "--" + boundary + "--",
        ""])
    raw = data.encode()
    write(d, "msg.eml", raw)
    # curl sends the file as is (it ends in CRLF, so only ".\r\n" follows).
    msg = message(raw, message_id="curl-1@g2.tw.test", date=DATE,
                  **{"from": "Billing <billing@g2.tw.test>"}, subject="Invoice 2024-001",
                  to_count=3, content_type="multipart/alternative",
                  links={"count": 2, "ip_literal": 0, "encoded_host": 0, "shortener": 0,
                         "mailto": 0, "distinct_hosts": 2},
                  html={"script": True, "iframe": False, "form": True,
                        "meta_refresh": False, "external_css": False, "object": False})
    rc = [rcpt("r1@ext.test", 250, "2.1.5 Ok"), rcpt("r2@ext.test", 250, "2.1.5 Ok")]
    t = txn("billing@g2.tw.test", 250, rc, "DATA", 250, PF_QUEUED, msg,
            mail_params="SIZE=%d" % len(raw))
    return [session(G2, PF4 + ":25", "EHLO", "curl.g2.tw.test", PF_ESMTP,
                    ["EHLO", "MAIL FROM:", "RCPT TO:", "DATA", "QUIT"],
                    [220, 250, 250, 250, 250, 354, 250, 221], 6, [t], "quit", quit=True)]


def _py_msg_ipv6():
    from email.message import EmailMessage
    m = EmailMessage()
    m["Date"] = DATE
    m["From"] = "Python Six <py6@g1.tw.test>"
    m["To"] = "One <one@ext.test>, two@ext.test"
    m["Cc"] = "three@ext.test"
    m["Subject"] = "Résumé – neue Preise"
    m["Message-ID"] = "<py6.1@g1.tw.test>"
    m["X-Mailer"] = "smtplib-it"
    m.set_content("Guten Tag,\n\nneue Preise ab Montag.\nBitte antworten Sie nicht.\n")
    return m


def _py_flat(m):
    """The bytes smtplib.send_message puts on the wire for m."""
    import copy
    import email.generator
    import io
    b = io.BytesIO()
    g = email.generator.BytesGenerator(b)      # as in smtplib.send_message
    g.flatten(copy.copy(m), linesep="\r\n")
    return b.getvalue()


def prep_pf_py_ipv6(d):
    raw = _py_flat(_py_msg_ipv6())
    msg = message(raw, message_id="py6.1@g1.tw.test", date=DATE,
                  **{"from": "Python Six <py6@g1.tw.test>"}, subject="Résumé – neue Preise",
                  to_count=2, cc_count=1, x_mailer="smtplib-it", content_type="text/plain")
    rc = [rcpt(a, 250, "2.1.5 Ok") for a in ("one@ext.test", "two@ext.test", "three@ext.test")]
    t = txn("py6@g1.tw.test", 250, rc, "DATA", 250, PF_QUEUED, msg,
            mail_params="size=%d" % len(raw))
    return [session(G1_6, "[%s]:25" % PF6, "EHLO", "py6.g1.tw.test", PF_ESMTP,
                    ["ehlo", "mail FROM:", "rcpt TO:", "data", "QUIT"],
                    [220, 250, 250, 250, 250, 250, 354, 250, 221], 7, [t], "quit", quit=True)]


def client_pf_py_ipv6(d):
    import smtplib
    with smtplib.SMTP(PF6, 25, local_hostname="py6.g1.tw.test", timeout=20,
                      source_address=(G1_6, 0)) as s:
        refused = s.send_message(_py_msg_ipv6(), "py6@g1.tw.test",
                                 ["one@ext.test", "two@ext.test", "three@ext.test"])
        assert not refused, refused


RSET_MSG = crlf(["Date: " + DATE, "From: ok@g1.tw.test", "To: r1@ext.test",
                 "Subject: second try", "Message-ID: <rset.2@g1.tw.test>", "",
                 "the second transaction of the session", ""]).encode()


def prep_pf_py_rset(d):
    t1 = txn("spammer@bad.test", 554, [])
    t2 = txn("ok@g1.tw.test", 250, [rcpt("r1@ext.test", 250, "2.1.5 Ok")])
    msg = message(RSET_MSG, message_id="rset.2@g1.tw.test", date=DATE,
                  **{"from": "ok@g1.tw.test"}, subject="second try", to_count=1)
    t3 = txn("ok@g1.tw.test", 250, [
        rcpt("r1@ext.test", 250, "2.1.5 Ok"),
        rcpt("nosuchuser@tw.test", 550,
             "5.1.1 <nosuchuser@tw.test>: Recipient address rejected: User unknown")],
        "DATA", 250, PF_QUEUED, msg)
    codes = [220, 250, 554, 250, 250, 250, 250, 250, 550, 354, 250, 221]
    return [session(G1, PF4 + ":25", "EHLO", "rset.g1.tw.test", PF_ESMTP,
                    ["ehlo", "mail FROM:", "rcpt TO:", "rset", "data", "QUIT"],
                    codes, 10, [t1, t2, t3], "quit", quit=True)]


def client_pf_py_rset(d):
    import smtplib
    with smtplib.SMTP(PF4, 25, local_hostname="rset.g1.tw.test", timeout=20,
                      source_address=(G1, 0)) as s:
        s.ehlo()
        assert s.mail("spammer@bad.test")[0] == 554
        assert s.mail("ok@g1.tw.test")[0] == 250
        assert s.rcpt("r1@ext.test")[0] == 250
        assert s.rset()[0] == 250
        assert s.mail("ok@g1.tw.test")[0] == 250
        assert s.rcpt("r1@ext.test")[0] == 250
        assert s.rcpt("nosuchuser@tw.test")[0] == 550
        assert s.data(RSET_MSG)[0] == 250
        # leaving the with-block sends "QUIT" (upper case, unlike s.quit())


NOQUIT_MSG = crlf(["Date: " + DATE, "From: promo@g1.tw.test", "To: r1@ext.test",
                   "Subject: FORBIDDEN offer", "Message-ID: <noquit.1@g1.tw.test>",
                   "", "header_checks reject this at the end of DATA", ""]).encode()


def prep_pf_py_noquit(d):
    msg = message(NOQUIT_MSG, message_id="noquit.1@g1.tw.test", date=DATE,
                  **{"from": "promo@g1.tw.test"}, subject="FORBIDDEN offer", to_count=1)
    t = txn("promo@g1.tw.test", 250, [rcpt("r1@ext.test", 250, "2.1.5 Ok")], "DATA", 550,
            "5.7.1 Message content rejected", msg)
    return [session(G1, PF4 + ":25", "EHLO", "noquit.g1.tw.test", PF_ESMTP,
                    ["ehlo", "mail FROM:", "rcpt TO:", "data"],
                    [220, 250, 250, 250, 354, 550], 4, [t], "fin", quit=False)]


def client_pf_py_noquit(d):
    import smtplib
    s = smtplib.SMTP(PF4, 25, local_hostname="noquit.g1.tw.test", timeout=20,
                     source_address=(G1, 0))
    s.ehlo()
    assert s.mail("promo@g1.tw.test")[0] == 250
    assert s.rcpt("r1@ext.test")[0] == 250
    code, text = s.data(NOQUIT_MSG)
    assert code == 550, (code, text)
    s.close()          # no QUIT: the client just closes (FIN)


class Raw:
    """A line-level SMTP client on a plain socket (for BDAT, RST, open sessions)."""

    def __init__(self, server, src, port=25):
        self.s = socket.create_connection((server, port), timeout=20, source_address=(src, 0))
        self.f = self.s.makefile("rb")

    def reply(self):
        lines = []
        for _ in range(100):
            ln = self.f.readline()
            if not ln:
                raise EOFError("server closed")
            lines.append(ln)
            if ln[3:4] != b"-":
                break
        return int(lines[0][:3]), lines

    def cmd(self, data, want):
        self.s.sendall(data)
        code, lines = self.reply()
        assert code == want, (data[:40], lines)
        return lines


def prep_pf_py_rst(d):
    t = txn("a@g1.tw.test", 250, [])
    return [session(G2, PF4 + ":25", "EHLO", "rst.g2.tw.test", PF_ESMTP,
                    ["EHLO", "MAIL FROM:"], [220, 250, 250], 2, [t], "rst", quit=False)]


def client_pf_py_rst(d):
    import struct
    c = Raw(PF4, G2)
    assert c.reply()[0] == 220
    c.cmd(b"EHLO rst.g2.tw.test\r\n", 250)
    c.cmd(b"MAIL FROM:<a@g1.tw.test>\r\n", 250)
    # linger 0: close() sends RST instead of FIN
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.f.close()
    c.s.close()


def prep_pf_blocklisted(d):
    data = crlf(["From: bulk@g2.tw.test", "To: victim@ext.test", "Subject: hi",
                 "Message-ID: <bl.1@g2.tw.test>", "", "never delivered"])
    write(d, "msg.eml", data)
    text = ("5.7.1 <unknown[198.18.0.4]>: Client host rejected: Service unavailable; "
            "Client host [198.18.0.4] blocked using zen.spamhaus.org")
    t = txn("bulk@g2.tw.test", 250, [rcpt("victim@ext.test", 554, text)])
    return [session(G2_LISTED, PF4 + ":25", "EHLO", "bl.g2.tw.test", PF_ESMTP,
                    ["EHLO", "MAIL FROM:", "RCPT TO:", "QUIT"], [220, 250, 250, 554, 221], 4,
                    [t], "quit", quit=True)]


BDAT_CHUNKS = [
    crlf(["Date: " + DATE, "From: chunky@g1.tw.test", "To: r1@ext.test",
          "Subject: =?ISO-8859-1?Q?Gr=FC=DFe_in_Chunks?=", "Message-ID: <bdat.1@g1.tw.test>",
          "", "first chunk of the body, "]).encode(),
    b"second chunk, with a line break\r\nand a last line\r\n",
]


def prep_pf_bdat(d):
    raw = b"".join(BDAT_CHUNKS)
    msg = message(raw, message_id="bdat.1@g1.tw.test", date=DATE,
                  **{"from": "chunky@g1.tw.test"}, subject="Grüße in Chunks", to_count=1)
    t = txn("chunky@g1.tw.test", 250, [rcpt("r1@ext.test", 250, "2.1.5 Ok")], "BDAT", 250,
            {"$re": r"2\.0\.0 Ok: %d bytes queued as [0-9A-Za-z]+" % len(raw)}, msg)
    return [session(G1, PF4 + ":25", "EHLO", "bdat.g1.tw.test", PF_ESMTP,
                    ["EHLO", "MAIL FROM:", "RCPT TO:", "BDAT", "QUIT"],
                    [220, 250, 250, 250, 250, 250, 221], 6, [t], "quit", quit=True)]


def client_pf_bdat(d):
    c = Raw(PF4, G1)
    assert c.reply()[0] == 220
    c.cmd(b"EHLO bdat.g1.tw.test\r\n", 250)
    c.cmd(b"MAIL FROM:<chunky@g1.tw.test>\r\n", 250)
    c.cmd(b"RCPT TO:<r1@ext.test>\r\n", 250)
    a, b = BDAT_CHUNKS
    c.cmd(b"BDAT %d\r\n" % len(a) + a, 250)
    c.cmd(b"BDAT %d LAST\r\n" % len(b) + b, 250)
    c.cmd(b"QUIT\r\n", 221)
    c.s.close()


RBM_MSG = crlf(["From: sloppy@g2.tw.test", "To: r1@ext.test", "Subject: rcpt first",
                "Message-ID: <rbm.1@g2.tw.test>", "", "a client that sends RCPT before MAIL",
                ""]).encode()


def prep_pf_rcpt_before_mail(d):
    # A RCPT outside a transaction opens a transaction without MAIL
    # (mail_from null) that keeps the rejected recipient: evidence of a
    # client that does not follow the protocol.
    msg = message(RBM_MSG, message_id="rbm.1@g2.tw.test", **{"from": "sloppy@g2.tw.test"},
                  subject="rcpt first", to_count=1)
    early = txn(None, None, [rcpt("early@ext.test", 503, "5.5.1 Error: need MAIL command")])
    t = txn("sloppy@g2.tw.test", 250, [rcpt("r1@ext.test", 250, "2.1.5 Ok")], "DATA", 250,
            PF_QUEUED, msg)
    return [session(G2, PF4 + ":25", "EHLO", "sloppy.g2.tw.test", PF_ESMTP,
                    ["EHLO", "RCPT TO:", "MAIL FROM:", "DATA", "QUIT"],
                    [220, 250, 503, 250, 250, 354, 250, 221], 6, [early, t], "quit", quit=True)]


def client_pf_rcpt_before_mail(d):
    c = Raw(PF4, G2)
    assert c.reply()[0] == 220
    c.cmd(b"EHLO sloppy.g2.tw.test\r\n", 250)
    c.cmd(b"RCPT TO:<early@ext.test>\r\n", 503)       # "need MAIL command"
    c.cmd(b"MAIL FROM:<sloppy@g2.tw.test>\r\n", 250)
    c.cmd(b"RCPT TO:<r1@ext.test>\r\n", 250)
    c.cmd(b"DATA\r\n", 354)
    c.cmd(RBM_MSG + b".\r\n", 250)
    c.cmd(b"QUIT\r\n", 221)
    c.s.close()


def prep_pf_truncated(d):
    return [session(G2, PF4 + ":25", "EHLO", "open.g2.tw.test", PF_ESMTP, ["EHLO"],
                    [220, 250], 1, [], "truncated", quit=False)]


def client_pf_truncated(d):
    """EHLO, then keep the session open until run.sh has stopped the capture."""
    c = Raw(PF4, G2)
    assert c.reply()[0] == 220
    c.cmd(b"EHLO open.g2.tw.test\r\n", 250)
    write(d, "ready", b"")
    go = os.path.join(d, "go")
    for _ in range(400):            # at most 20 s
        if os.path.exists(go):
            break
        time.sleep(0.05)
    c.cmd(b"QUIT\r\n", 221)
    c.s.close()


# ---- smtp-sink cases ------------------------------------------------------------------

def sink_session(client_ip, server, helo, verbs, codes, commands, txns, end="quit",
                 quit=True, helo_verb="EHLO", esmtp=SINK_ESMTP, banner_host="sink.tw.test",
                 pipelining=False):
    return session(client_ip, server + ":25", helo_verb, helo, esmtp, verbs, codes, commands,
                   txns, end, quit=quit, pipelining=pipelining,
                   banner={"code": 220, "text": banner_host + " ESMTP"})


def prep_sink_dotstuff(d):
    data = crlf([
        "Date: " + DATE,
        "From: dots@g2.tw.test",
        "To: r@ext.test",
        "Subject: lines that start with dots",
        "Message-ID: <dots.1@g2.tw.test>",
        "",
        ".a line starting with one dot",
        "..two dots",
        ".",
        "the line above is a lone dot; the next one too",
        ".",
        "... and three",
        "end"])
    write(d, "msg.eml", data)
    msg = message(swaks_wire(data), message_id="dots.1@g2.tw.test", date=DATE,
                  **{"from": "dots@g2.tw.test"}, subject="lines that start with dots",
                  to_count=1)
    t = txn("dots@g2.tw.test", 250, [rcpt("r@ext.test", 250, "2.1.5 Ok")], "DATA", 250,
            "2.0.0 Ok", msg)
    return [sink_session(G2, SINK, "dots.g2.tw.test",
                         ["EHLO", "MAIL FROM:", "RCPT TO:", "DATA", "QUIT"],
                         [220, 250, 250, 250, 354, 250, 221], 5, [t])]


def prep_sink_msmtp(d):
    # With a Date header present msmtp sends the file as it is (CRLF kept).
    raw = crlf(["Date: " + DATE, "From: m@g1.tw.test", "To: r@ext.test, r2@ext.test",
                "Subject: via msmtp", "Message-ID: <msmtp.1@g1.tw.test>", "",
                "hello", ".dot line", ""]).encode()
    write(d, "msg.eml", raw)
    msg = message(raw, message_id="msmtp.1@g1.tw.test", date=DATE,
                  **{"from": "m@g1.tw.test"}, subject="via msmtp", to_count=2)
    t = txn("m@g1.tw.test", 250, [rcpt("r@ext.test", 250, "2.1.5 Ok"),
                                  rcpt("r2@ext.test", 250, "2.1.5 Ok")],
            "DATA", 250, "2.0.0 Ok", msg)
    # msmtp sends MAIL alone, then RCPT, RCPT and DATA with separate writes
    # without waiting (PIPELINING); the sink often answers each before the
    # next write leaves, so whether the wire shows pipelining is timing.
    return [sink_session(G1, SINK, "msmtp.g1.tw.test",
                         ["EHLO", "MAIL FROM:", "RCPT TO:", "DATA", "QUIT"],
                         [220, 250, 250, 250, 250, 354, 250, 221], 6, [t], pipelining=ANY)]


def big_body():
    import random
    rnd = random.Random(1234)
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "tapwarden", "hypervisor", "guest",
             "newsletter", "unsubscribe", "offer", "price", "quality", "smtp", "relay"]
    lines, size = [], 0
    while size < 300 * 1024:
        ln = " ".join(rnd.choice(words) for _ in range(11))[:76]
        lines.append(ln)
        size += len(ln) + 2
    return lines


def prep_sink_bigbody(d):
    data = crlf(["Date: " + DATE, "From: big@g1.tw.test", "To: r@ext.test",
                 "Subject: a 300 KB body", "Message-ID: <big.1@g1.tw.test>",
                 "Content-Type: text/plain; charset=us-ascii", ""] + big_body())
    write(d, "msg.eml", data)
    content = swaks_wire(data)
    assert len(content) > 300 * 1024
    msg = message(content, message_id="big.1@g1.tw.test", date=DATE,
                  **{"from": "big@g1.tw.test"}, subject="a 300 KB body", to_count=1,
                  content_type="text/plain")
    t = txn("big@g1.tw.test", 250, [rcpt("r@ext.test", 250, "2.1.5 Ok")], "DATA", 250,
            "2.0.0 Ok", msg)
    return [sink_session(G1, SINK, "big.g1.tw.test",
                         ["EHLO", "MAIL FROM:", "RCPT TO:", "DATA", "QUIT"],
                         [220, 250, 250, 250, 354, 250, 221], 5, [t])]


def prep_sink_greylist(d):
    data = crlf(["From: grey@g2.tw.test", "To: r@ext.test", "Subject: later",
                 "Message-ID: <grey.1@g2.tw.test>", "", "try again"])
    write(d, "msg.eml", data)
    t = txn("grey@g2.tw.test", 250,
            [rcpt("r@ext.test", 451, "4.7.1 Greylisted, try again later")])
    # -r implies -p: this sink offers no PIPELINING
    esmtp = [c for c in SINK_ESMTP if c != "PIPELINING"]
    return [sink_session(G2, GREY, "grey.g2.tw.test", ["EHLO", "MAIL FROM:", "RCPT TO:", "QUIT"],
                         [220, 250, 250, 451, 221], 4, [t], esmtp=esmtp,
                         banner_host="grey.tw.test")]


def prep_sink_421(d):
    t = txn("late@g1.tw.test", 421, [])
    return [sink_session(G1, DROP, "drop.g1.tw.test", ["ehlo", "mail FROM:"],
                         [220, 250, 421], 2, [t], end="fin", quit=False,
                         banner_host="drop.tw.test")]


def client_sink_421(d):
    import smtplib
    s = smtplib.SMTP(DROP, 25, local_hostname="drop.g1.tw.test", timeout=20,
                     source_address=(G1, 0))
    s.ehlo()
    code, text = s.mail("late@g1.tw.test")
    assert code == 421, (code, text)
    s.close()


BURST_N = 20
BURST_FILE = ["Subject: burst from smtp-source", "Message-ID: <burst@g2.tw.test>", "",
              "identical body in every session", ".leading dot, stuffed by smtp-source", "bye"]


def prep_sink_burst(d):
    write(d, "msg.txt", "\n".join(BURST_FILE) + "\n")
    # smtp-source -F: each line + CRLF, dot-stuffed, then one more CRLF
    # (seen on the wire: "bye\r\n\r\n.\r\n"), then the ".".
    content = ("\r\n".join(BURST_FILE) + "\r\n\r\n").encode()
    msg = message(content, message_id="burst@g2.tw.test", subject="burst from smtp-source")
    t = txn("bulk@g2.tw.test", 250, [rcpt("r@ext.test", 250, "2.1.5 Ok")], "DATA", 250,
            "2.0.0 Ok", msg)
    one = sink_session(G2, SINK, "burst.g2.tw.test",
                       ["HELO", "MAIL FROM:", "RCPT TO:", "DATA", "QUIT"],
                       [220, 250, 250, 250, 354, 250, 221], 5, [t], helo_verb="HELO", esmtp=[])
    return [one] * BURST_N


CASES = [
    "pf_swaks_pipeline", "pf_starttls", "pf_curl", "pf_py_ipv6", "pf_py_rset",
    "pf_py_noquit", "pf_py_rst", "pf_blocklisted", "pf_bdat", "pf_rcpt_before_mail", "pf_truncated",
    "sink_dotstuff", "sink_msmtp", "sink_bigbody", "sink_greylist", "sink_421", "sink_burst",
]


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "list":
        print("\n".join(CASES))
        return 0
    if len(sys.argv) != 4 or sys.argv[1] not in ("prep", "client"):
        print(__doc__, file=sys.stderr)
        return 2
    what, case, d = sys.argv[1:]
    fn = globals().get("%s_%s" % (what, case))
    if fn is None:
        print("no %s for case %s" % (what, case), file=sys.stderr)
        return 2
    os.makedirs(d, exist_ok=True)
    if what == "prep":
        with open(os.path.join(d, "expected.json"), "w") as f:
            json.dump({"case": case, "sessions": fn(d)}, f, indent=1, ensure_ascii=False)
    else:
        fn(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
