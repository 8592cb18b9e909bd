#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# The whitelist flow test's sample messages (tests/wlreq/run.sh), written
# with CRLF line ends: `good` is a newsletter that passes every message
# check for From domain DOMAIN (selector sel1); `bad` has no unsubscribe
# link, no DKIM, a shortener and a script.  Usage: sample.py good|bad DOMAIN
import sys

kind, dom = sys.argv[1], sys.argv[2]
if kind == "good":
    hdr = [
        f"From: Shop News <news@{dom}>",
        "To: subscriber@example.net",
        "Subject: Our December selection",
        "Date: Thu, 03 Dec 2026 10:00:00 +0000",
        f"Message-ID: <20261203100000.42@mail.{dom}>",
        f"List-Unsubscribe: <mailto:unsubscribe@{dom}?subject=u42>, <https://{dom}/unsubscribe/u42>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        f"List-Id: Shop News <news.{dom}>",
        "Precedence: bulk",
        f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={dom}; s=sel1;",
        " h=from:to:subject:date:message-id:list-unsubscribe; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;",
        " b=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZQ==",
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8",
    ]
    body = [
        "<html><body>",
        f"<p>Hello! Our <a href=\"https://{dom}/december\">December selection</a> is online.</p>",
        f"<p>You are receiving this because you subscribed to Shop News at {dom}.</p>",
        "<p>Shop Example Ltd, 12 Market Street, Springfield, IL 62701</p>",
        f"<p><a href=\"https://{dom}/unsubscribe/u42\">Unsubscribe</a></p>",
        "</body></html>",
    ]
else:
    hdr = [
        f"From: WIN <win@{dom}>",
        "To: you@example.net",
        "Subject: YOU HAVE WON A PRIZE TODAY",
        "Date: Thu, 03 Dec 2026 10:00:00 +0000",
        f"Message-ID: <1@{dom}>",
        "MIME-Version: 1.0",
        "Content-Type: text/html; charset=utf-8",
    ]
    body = ["<html><body><script>track()</script>",
            "<p>Claim it <a href=\"https://bit.ly/claim-now\">here</a>.</p></body></html>"]
sys.stdout.buffer.write(("\r\n".join(hdr) + "\r\n\r\n" + "\r\n".join(body) + "\r\n").encode())
