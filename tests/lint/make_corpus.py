#!/usr/bin/python3
"""Write the `twctl whitelist lint` regression corpus: tests/lint/good/*.eml,
tests/lint/bad/*.eml and tests/lint/expected.json.

The .eml files are committed; this script is how they were made and how to
remake them after a deliberate change (review the diff: an expectation is
written here by hand next to its message, never copied from twctl's output).

good/ holds legitimate bulk mail that must exit 0 (result pass, or warn for
the warn-only cases); bad/ holds messages that each fail one check (a few
cannot fail alone: a missing List-Unsubscribe also fails one_click).  The
bad messages are the newsletter of base() with one defect each, so every
other check keeps passing.  Expectations: "result", "fail" and "warn" (the
exact sets of checks with that status; absent: none) and "reason_contains"
(check name -> a substring of its reason, or a list of them).

Names and addresses: domains under .example, example.com/.net/.org; IP
literals from 198.18.0.0/15 (and 2001:db8::/32).  Lines end in CRLF unless
a message says otherwise.
"""
import base64
import hashlib
import json
import os
import quopri
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))

CORPUS = {}          # "good/x.eml" -> bytes
EXPECTED = {}        # "good/x.eml" -> expectation


def add(name, data, result, fail=(), warn=(), reason=None):
    assert name not in CORPUS, name
    if isinstance(data, str):
        data = data.encode("utf-8")
    CORPUS[name] = data
    e = {"result": result}
    if fail:
        e["fail"] = sorted(fail)
    if warn:
        e["warn"] = sorted(warn)
    if reason:
        e["reason_contains"] = reason
    EXPECTED[name] = e


def crlf(text):
    """LF-written text as CRLF lines."""
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def fake_b64(seed, n):
    """Deterministic base64-looking text of n characters (a fake hash or signature)."""
    out = b""
    i = 0
    while len(out) < n:
        out += base64.b64encode(hashlib.sha512(("%s/%d" % (seed, i)).encode()).digest())
        i += 1
    return out[:n].decode().replace("=", "A")


def dkim(d, s, h="From:To:Subject:Date:Message-ID:List-Id:List-Unsubscribe:\n  List-Unsubscribe-Post:MIME-Version:Content-Type",
         extra="", t=1772529300):
    """A DKIM-Signature field as signers fold it (the signature is not real:
    lint does not verify it)."""
    b = fake_b64("b" + d + s, 344)
    lines = ["DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s;" % d,
             " s=%s; t=%d;%s" % (s, t, (" " + extra) if extra else ""),
             " h=%s;" % h,
             " bh=%s=;" % fake_b64("bh" + d, 43),
             " b=" + b[:72]]
    for i in range(72, len(b), 76):
        lines.append("  " + b[i:i + 76])
    return "\n".join(lines) + "\n"


def b64_body(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    e = base64.b64encode(data).decode()
    return "\n".join(e[i:i + 76] for i in range(0, len(e), 76)) + "\n"


def qp_body(text):
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


# ---- the base newsletter (bad/ and the warn cases) ------------------------

BASE_HEADERS = [
    ("Return-Path", "<bounce-4711@bounces.shop.example.com>"),
    ("DKIM", None),
    ("From", "Acme Outdoor <news@shop.example.com>"),
    ("To", "Jane Doe <jane.doe@example.net>"),
    ("Subject", "Spring trail guide: five routes for the long weekend"),
    ("Date", "Tue, 03 Mar 2026 10:15:00 +0100"),
    ("Message-ID", "<20260303101500.4711.news@mail.shop.example.com>"),
    ("List-Id", "Acme Outdoor news <news.shop.example.com>"),
    ("List-Unsubscribe", "<mailto:unsubscribe@shop.example.com?subject=unsubscribe-4711>,\n"
                         " <https://shop.example.com/newsletter/unsubscribe?u=4711&t=9f2c>"),
    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ("Precedence", "bulk"),
    ("X-Mailer", "Acme Mailer 4.2"),
    ("MIME-Version", "1.0"),
    ("Content-Type", 'multipart/alternative; boundary="=_acme_4711_alt"'),
]

MAIN = "https://shop.example.com/journal/spring-trails-2026?utm_source=newsletter&utm_medium=email"
UNSUB = "https://shop.example.com/newsletter/unsubscribe?u=4711&t=9f2c"
PREFS = "https://shop.example.com/newsletter/preferences?u=4711"
WHY = "You are receiving this email because you subscribed to Acme Outdoor news at shop.example.com."
ADDRESS = "Acme Outdoor Ltd, 12 Market Street, Springfield, IL 62701, USA"

BASE_TEXT = """\
Acme Outdoor - Spring trail guide

View this email in your browser:
https://shop.example.com/newsletter/view?issue=2026-03

Five trails for the long weekend

Spring is here, and so are the long evenings. Our guides picked five
routes between 8 and 22 km, with a packing list for each.

Read the guide: {main}

{extra}This week only: 15% off all rain shells with the code TRAIL15.

--
{why}
{address}
{footer}"""

BASE_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Spring trail guide</title>
<style type="text/css">
  body {{ margin: 0; padding: 0; background: #f4f4f0; }}
  a {{ color: #2a6f3c; }}
  @media only screen and (max-width: 600px) {{ .col {{ width: 100% !important; }} }}
</style>
{head}</head>
<body>
<div style="display:none;max-height:0;overflow:hidden;">Five routes, one packing list, and 15% off rain shells.</div>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
<tr><td align="center">
<table role="presentation" class="col" width="600" cellpadding="0" cellspacing="0" border="0">
<tr><td style="padding:12px;font-size:12px;"><a href="https://shop.example.com/newsletter/view?issue=2026-03">View this email in your browser</a></td></tr>
<tr><td><img src="https://img.shop.example.com/nl/2026-03/header.jpg" width="600" height="200" alt="Acme Outdoor" style="display:block;border:0;"></td></tr>
<tr><td style="padding:24px;font-family:Helvetica,Arial,sans-serif;">
<h1 style="font-size:24px;">Five trails for the long weekend</h1>
<p>Spring is here, and so are the long evenings. Our guides picked five routes between 8 and 22&nbsp;km, with a packing list for each.</p>
<p><a href="{main}" style="background:#2a6f3c;color:#ffffff;padding:10px 18px;text-decoration:none;">Read the guide</a></p>
{body}<p>This week only: 15% off all rain shells with the code <strong>TRAIL15</strong>.</p>
</td></tr>
<tr><td style="padding:24px;font-size:12px;color:#666666;font-family:Helvetica,Arial,sans-serif;">
<p>{why}</p>
<p>{address}</p>
<p>{footer}</p>
</td></tr>
</table>
</td></tr>
</table>
{pixel}</body>
</html>
"""


def base(set_=None, drop=(), after=None, before=None, main=MAIN, main_text=None, text_extra="",
         html_head="", html_body="", why=WHY, address=ADDRESS, unsub=True, unsub_html=None,
         unsub_text=None, html=None, text=None, eol="\r\n", dkim_field=None, pixel=True,
         prefs=True):
    """The Acme newsletter with changes: set_ {name: value} replaces (a
    value None drops it), after {name: [lines]} inserts raw lines after a
    field, before likewise; the bodies take the main link, extra HTML and
    text, and the footer's parts."""
    set_ = dict(set_ or {})
    hdr = []
    for name, value in BASE_HEADERS:
        if name in drop:
            continue
        if before and name in before:
            hdr.extend(before[name])
        if name == "DKIM":
            field = dkim_field if dkim_field is not None else dkim("shop.example.com", "mail2026")
            if field:
                hdr.append(field.rstrip("\n"))
        else:
            value = set_.pop(name, value)
            if value is not None:
                hdr.append("%s: %s" % (name, value))
        if after and name in after:
            hdr.extend(after[name])
    assert not set_, set_
    if unsub_text is None:
        unsub_text = "Unsubscribe: " + UNSUB if unsub else ""
    if unsub_html is None:
        unsub_html = '<a href="%s">Unsubscribe</a>' % UNSUB.replace("&", "&amp;") if unsub else ""
    if text is None:
        footer = ("Manage preferences: %s\n" % PREFS if prefs else "") + unsub_text
        text = BASE_TEXT.format(main=main_text or main, extra=text_extra, why=why, address=address,
                                footer=footer)
    if html is None:
        footer = ('<a href="%s">Manage preferences</a> &middot; ' % PREFS if prefs else "") + unsub_html
        html = BASE_HTML.format(head=html_head, body=html_body, main=main.replace("&", "&amp;"), why=why,
                                address=address, footer=footer,
                           pixel='<img src="https://img.shop.example.com/o/4711.gif" width="1" height="1" alt="">\n'
                           if pixel else "")
    body = """\
This is a multi-part message in MIME format.

--=_acme_4711_alt
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

{text}

--=_acme_4711_alt
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 7bit

{html}
--=_acme_4711_alt--
""".format(text=text.rstrip("\n"), html=html.rstrip("\n"))
    msg = "\n".join(hdr) + "\n\n" + body
    msg = msg.replace("\r\n", "\n")
    return msg.replace("\n", eol)


ALL_OK = None   # readability: expectations below name only what is not pass


# ---- good: legitimate bulk mail -------------------------------------------

def good_newsletter_html():
    boundary = "----=_NWC_20260310_8f3a"
    text = """\
Northwind Coffee Roasters | March letter
https://northwind.example/letters/2026-03

New from the roastery: Huila washed, Colombia
Red apple, panela, a long cocoa finish. Roasted on Mondays, shipped on
Tuesdays.

Shop the Huila: https://northwind.example/coffee/huila-washed?ref=letter-2026-03

Brew guide of the month: the 1:16 pour-over
https://northwind.example/brew/pour-over-116

Cupping evening, Thursday 26 March, 19:00 at the roastery. Free, but
places are limited: https://northwind.example/events/cupping-2026-03-26

--
You're receiving this email because you signed up for the Northwind
letter at northwind.example or in our shop.
Northwind Coffee Roasters, 48 Harbour Road, Portland, ME 04101, USA

Update your preferences: https://northwind.example/account/email?id=ce81a0
Unsubscribe: https://northwind.example/unsubscribe/ce81a0d4e7
"""
    html = """\
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:o="urn:schemas-microsoft-com:office:office">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
<meta name="viewport" content="width=device-width, initial-scale=1.0" />
<meta name="x-apple-disable-message-reformatting" />
<title>Northwind Coffee Roasters | March letter</title>
<!--[if mso]><xml><o:OfficeDocumentSettings><o:PixelsPerInch>96</o:PixelsPerInch></o:OfficeDocumentSettings></xml><![endif]-->
<style type="text/css">
  body, table, td { font-family: Georgia, 'Times New Roman', serif; }
  img { border: 0; outline: none; text-decoration: none; }
  .btn a { background: #4b2e1e; color: #fff8f0 !important; }
  @media screen and (max-width: 620px) { .wrap { width: 100% !important; } }
</style>
</head>
<body style="margin:0;padding:0;background-color:#fff8f0;">
<span style="display:none !important;visibility:hidden;opacity:0;height:0;width:0;">Huila washed is back, a 1:16 pour-over guide, and a cupping evening.</span>
<center>
<table role="presentation" class="wrap" width="600" cellspacing="0" cellpadding="0" border="0">
  <tr>
    <td align="right" style="padding:10px 20px;font-size:11px;">
      <a href="https://northwind.example/letters/2026-03" style="color:#7a5c48;">Read online</a>
    </td>
  </tr>
  <tr>
    <td><a href="https://northwind.example/?ref=letter-2026-03"><img src="https://cdn.northwind.example/mail/2026-03/hero@2x.jpg" width="600" alt="Northwind Coffee Roasters" style="display:block;width:100%;max-width:600px;" /></a></td>
  </tr>
  <tr>
    <td style="padding:28px 32px;color:#2b1d14;font-size:16px;line-height:24px;">
      <h1 style="margin:0 0 12px;font-size:26px;">New from the roastery: Huila washed, Colombia</h1>
      <p>Red apple, panela, a long cocoa finish. Roasted on Mondays, shipped on Tuesdays.</p>
      <table role="presentation" cellspacing="0" cellpadding="0" border="0"><tr>
        <td class="btn" style="border-radius:4px;background:#4b2e1e;">
          <a href="https://northwind.example/coffee/huila-washed?ref=letter-2026-03" style="display:inline-block;padding:12px 22px;color:#fff8f0;text-decoration:none;">Shop the Huila &rarr;</a>
        </td>
      </tr></table>
      <h2 style="font-size:20px;margin:28px 0 8px;">Brew guide of the month: the 1:16 pour-over</h2>
      <p>Twenty grams of coffee, 320&nbsp;g of water at 94&nbsp;&deg;C, three pours. <a href="https://northwind.example/brew/pour-over-116" style="color:#4b2e1e;">The full guide</a>.</p>
      <h2 style="font-size:20px;margin:28px 0 8px;">Cupping evening</h2>
      <p>Thursday 26 March, 19:00 at the roastery. Free, but places are limited &ndash; <a href="https://northwind.example/events/cupping-2026-03-26" style="color:#4b2e1e;">save a seat</a>.</p>
    </td>
  </tr>
  <tr>
    <td style="padding:20px 32px;">
      <a href="https://social.example.net/@northwind"><img src="https://cdn.northwind.example/mail/icons/social.png" width="24" height="24" alt="Northwind on social.example.net" /></a>
    </td>
  </tr>
  <tr>
    <td style="padding:20px 32px 40px;font-size:12px;line-height:18px;color:#7a5c48;">
      You&rsquo;re receiving this email because you signed up for the Northwind letter at northwind.example or in our shop.<br />
      Northwind Coffee Roasters, 48 Harbour Road, Portland, ME 04101, USA<br /><br />
      <a href="https://northwind.example/account/email?id=ce81a0" style="color:#7a5c48;">Update your preferences</a> |
      <a href="https://northwind.example/unsubscribe/ce81a0d4e7" style="color:#7a5c48;">Unsubscribe</a>
    </td>
  </tr>
</table>
</center>
<img src="https://em.northwind.example/o/ce81a0d4e7.gif" width="1" height="1" alt="" style="display:block;" />
</body>
</html>
"""
    msg = dkim("northwind.example", "nw2026a",
               h="from:reply-to:subject:date:to:mime-version:content-type:message-id:\n"
                 "  list-unsubscribe:list-unsubscribe-post:list-id:feedback-id") + """\
Received: from mta-3.em.northwind.example (mta-3.em.northwind.example [198.18.7.3])
	by mx.example.net (Postfix) with ESMTPS id 4Zk2m81Qx3z9sR
	for <sam@example.net>; Tue, 10 Mar 2026 08:30:04 +0000 (UTC)
Return-Path: <bounces+ce81a0d4e7@em.northwind.example>
From: "Northwind Coffee, Roasters" <hello@northwind.example>
Reply-To: Northwind Coffee <hello@northwind.example>
To: sam@example.net
Subject: Huila is back, a pour-over guide and a cupping evening
Date: Tue, 10 Mar 2026 08:30:01 +0000
Message-ID: <0100018e2c5a.ce81a0d4e7@em.northwind.example>
List-Id: <letter.northwind.example>
List-Unsubscribe: <https://northwind.example/unsubscribe/one-click/ce81a0d4e7?sig=6f1d2c>,
 <mailto:unsubscribe+ce81a0d4e7@em.northwind.example?subject=unsubscribe>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Feedback-ID: letter-2026-03:northwind:em
Precedence: bulk
MIME-Version: 1.0
Content-Type: multipart/alternative;
	boundary="{b}"

--{b}
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 7bit

{text}
--{b}
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: 7bit

{html}
--{b}--
""".format(b=boundary, text=text, html=html)
    add("good/newsletter-html.eml", crlf(msg), "pass")


def good_plain_text():
    msg = dkim("makers.example.org", "lists",
               h="from:to:subject:date:message-id:list-id:list-post:list-help:\n  list-unsubscribe:list-unsubscribe-post") + """\
Return-Path: <digest-bounces@makers.example.org>
From: Riverside Makers Club <digest@makers.example.org>
To: Riverside Makers digest <digest@makers.example.org>
Subject: Riverside Makers weekly digest, week 11
Date: Mon, 9 Mar 2026 06:00:00 -0800
Message-ID: <digest-2026-w11@makers.example.org>
List-Id: Riverside Makers weekly digest <digest.makers.example.org>
List-Help: <https://makers.example.org/lists/digest/help>
List-Unsubscribe: <https://makers.example.org/lists/digest/leave?m=a81c33>,
 <mailto:digest-leave@makers.example.org>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Precedence: list
MIME-Version: 1.0
Content-Type: text/plain; charset=us-ascii; format=flowed
Content-Transfer-Encoding: 7bit

Riverside Makers Club - weekly digest, week 11
==============================================

This week in the workshop
-------------------------

* Laser cutter: the new honeycomb bed is in. Book slots at
  https://makers.example.org/tools/laser
* Open evening on Thursday from 18:00. Bring a friend, bring a broken
  toaster.
* The 3D printer queue moved to https://makers.example.org/queue/ - old
  links still work for a month.

Classes
-------

Intro to soldering, Saturday 14 March, 10:00-13:00, 4 places left.
Sign up: https://makers.example.org/classes/soldering-101

Members' projects
-----------------

Priya finished her CNC-cut walnut chess set; photos and the CAM files
are at https://makers.example.org/projects/walnut-chess

Thanks to everybody who helped clean the wood shop on Sunday!

-- 
The Riverside Makers Club is run by volunteers.
P.O. Box 1234, Portland, OR 97208

You get this digest because you subscribed as a club member. To
unsubscribe, go to https://makers.example.org/lists/digest/leave?m=a81c33
or reply with "leave" in the subject.
"""
    add("good/plain-text.eml", crlf(msg), "pass")


def good_encoded():
    """Quoted-printable text (UTF-8, soft breaks inside the unsubscribe URL)
    and a base64 HTML part; an encoded-word Subject and display name."""
    text = ("Bookworm Club \u2014 the April picks\n\n"
            "Hello Alex,\n\n"
            "this month\u2019s picks are here: a quiet novel about a lighthouse keeper, "
            "a very loud history of the printing press, and \u201cThe Cartographer\u2019s Daughter\u201d, "
            "which three of us read in one weekend.\n\n"
            "See all picks: https://books.example.net/club/picks/2026-04?member=77120&campaign=april-picks-2026\n\n"
            "Members save 10\u00a0% on every pick until 30 April.\n\n"
            "\u2014\n"
            "You are receiving this email because you are a member of the Bookworm Club.\n"
            "Bookworm Club, 221 Baker Avenue, Suite 4, Madison, WI 53703\n"
            "Unsubscribe from the monthly picks: https://books.example.net/club/email/unsubscribe?member=77120&token=4c1f9e02b7a6d3e8\n")
    html = ("<html><head><meta charset=\"utf-8\"><title>The April picks</title></head>\n"
            "<body style=\"font-family:Verdana,sans-serif;\">\n"
            "<h1>The April picks</h1>\n"
            "<p>Hello Alex,</p>\n"
            "<p>this month&rsquo;s picks are here: a quiet novel about a lighthouse keeper, a very loud history "
            "of the printing press, and &ldquo;The Cartographer&rsquo;s Daughter&rdquo;, which three of us read "
            "in one weekend.</p>\n"
            "<p><a href=\"https://books.example.net/club/picks/2026-04?member=77120&amp;campaign=april-picks-2026\">"
            "See all picks</a></p>\n"
            "<p>Members save 10&nbsp;% on every pick until 30 April.</p>\n"
            "<hr>\n"
            "<p style=\"font-size:11px;color:#777;\">You are receiving this email because you are a member of "
            "the Bookworm Club.<br>\nBookworm Club, 221 Baker Avenue, Suite 4, Madison, WI 53703<br>\n"
            "<a href=\"https://books.example.net/club/email/unsubscribe?member=77120&amp;token=4c1f9e02b7a6d3e8\">"
            "Unsubscribe</a> from the monthly picks.</p>\n"
            "</body></html>\n")
    msg = dkim("books.example.net", "s1024") + """\
From: =?UTF-8?Q?Bookworm_Club_=E2=80=94_Picks?= <picks@books.example.net>
To: alex@example.com
Subject: {subject}
Date: Wed, 1 Apr 2026 07:45:12 -0500 (CDT)
Message-ID: <ab12cd34.77120.april@books.example.net>
List-Id: "Bookworm Club monthly picks" <picks.books.example.net>
List-Unsubscribe: <https://books.example.net/club/email/unsubscribe?member=77120&token=4c1f9e02b7a6d3e8>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1_77120_april"

--b1_77120_april
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: quoted-printable

{qp}
--b1_77120_april
Content-Type: text/html; charset=UTF-8
Content-Transfer-Encoding: base64

{b64}
--b1_77120_april--
""".format(qp=qp_body(text).rstrip("\n"), b64=b64_body(html).rstrip("\n"),
           subject="=?UTF-8?B?%s?=" % base64.b64encode(
               "The April picks \u2013 \u201cThe Cartographer\u2019s Daughter\u201d".encode()).decode())
    add("good/encoded-qp-base64.eml", crlf(msg), "pass")


def good_german():
    text = ("Hallo Frau Berger,\n\n"
            "der Frühling kommt: Jetzt ist die beste Zeit, Tomaten und Paprika auf der Fensterbank "
            "vorzuziehen. In unserem Ratgeber zeigen wir Schritt für Schritt, wie es gelingt.\n\n"
            "Zum Ratgeber: https://garten.example/ratgeber/vorziehen?utm_campaign=nl-2026-03\n\n"
            "Bis Sonntag: 20 % auf alle Anzuchtsets.\n\n"
            "Viele Grüße\nIhr Team von Gartenfreunde\n\n"
            "--\n"
            "Sie erhalten diesen Newsletter, weil Sie sich auf garten.example dafür angemeldet haben.\n"
            "Newsletter abbestellen: https://garten.example/konto/newsletter?k=5e0f21\n\n"
            "Gartenfreunde GmbH, Lindenallee 5, 50667 Köln\n"
            "Geschäftsführerin: Anna Beispiel, Amtsgericht Köln HRB 12345\n")
    html = ("<!DOCTYPE html>\n<html lang=\"de\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<title>Gartenfreunde Newsletter März</title>\n</head>\n"
            "<body style=\"font-family:Arial,sans-serif;color:#223322;\">\n"
            "<p>Hallo Frau Berger,</p>\n"
            "<p>der Frühling kommt: Jetzt ist die beste Zeit, Tomaten und Paprika auf der Fensterbank "
            "vorzuziehen. In unserem Ratgeber zeigen wir Schritt für Schritt, wie es gelingt.</p>\n"
            "<p><a href=\"https://garten.example/ratgeber/vorziehen?utm_campaign=nl-2026-03\">Zum Ratgeber</a></p>\n"
            "<p>Bis Sonntag: <b>20&nbsp;%</b> auf alle Anzuchtsets.</p>\n"
            "<p>Viele Grüße<br>\nIhr Team von Gartenfreunde</p>\n"
            "<hr>\n"
            "<p style=\"font-size:11px;\">Sie erhalten diesen Newsletter, weil Sie sich auf garten.example dafür "
            "angemeldet haben. <a href=\"https://garten.example/konto/newsletter?k=5e0f21\">Newsletter abbestellen</a></p>\n"
            "<p style=\"font-size:11px;\">Gartenfreunde GmbH, Lindenallee 5, 50667 Köln<br>\n"
            "Geschäftsführerin: Anna Beispiel, Amtsgericht Köln HRB 12345<br>\n"
            "<a href=\"https://garten.example/impressum\">Impressum</a> | "
            "<a href=\"https://garten.example/datenschutz\">Datenschutz</a></p>\n"
            "</body>\n</html>\n")
    msg = dkim("garten.example", "nl") + """\
Return-Path: <nl-bounce@garten.example>
From: =?UTF-8?Q?Gartenfreunde_M=C3=BCnster?= <newsletter@garten.example>
To: Petra Berger <p.berger@example.com>
Subject: =?UTF-8?Q?Fr=C3=BChlingsstart:_Tomaten_jetzt_vorziehen?=
Date: Thu, 12 Mar 2026 09:00:00 +0100 (CET)
Message-ID: <nl-2026-03.5e0f21@garten.example>
List-Id: Gartenfreunde Newsletter <newsletter.garten.example>
List-Unsubscribe: <https://garten.example/abmelden/5e0f21?s=91ac>, <mailto:abmelden@garten.example?subject=5e0f21>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Precedence: bulk
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="gf-5e0f21"

--gf-5e0f21
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

{qp}
--gf-5e0f21
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

{qph}
--gf-5e0f21--
""".format(qp=qp_body(text).rstrip("\n"), qph=qp_body(html).rstrip("\n"))
    add("good/german.eml", crlf(msg), "pass")


def good_french():
    html = ("<html>\n<head><meta charset=\"utf-8\"><title>La lettre de mars</title></head>\n"
            "<body>\n"
            "<h1>Les nouveautés de mars</h1>\n"
            "<p>Bonjour Camille,</p>\n"
            "<p>Les premières asperges sont arrivées, et notre fromager a sélectionné trois chèvres frais "
            "pour le printemps.</p>\n"
            "<p><a href=\"https://epicerie.example/boutique/printemps?origine=lettre-mars\">Découvrir la sélection</a></p>\n"
            "<p>Livraison offerte dès 40&nbsp;€ jusqu'au 31 mars.</p>\n"
            "<p style=\"font-size:11px;color:#666;\">Vous recevez cet e-mail car vous êtes inscrite à la lettre "
            "de La Petite Épicerie.<br>\n"
            "La Petite Épicerie SARL, 12 rue des Martyrs, 75009 Paris<br>\n"
            "<a href=\"https://epicerie.example/compte/lettre?c=8d21f0\">Se désinscrire</a></p>\n"
            "</body>\n</html>\n")
    msg = dkim("epicerie.example", "mars",
               h="From:To:Subject:Date:Message-ID:List-Unsubscribe:List-Unsubscribe-Post:\n  MIME-Version:Content-Type") + """\
From: =?ISO-8859-1?Q?La_Petite_=C9picerie?= <lettre@epicerie.example>
To: camille@example.net
Subject: =?UTF-8?Q?Les_nouveaut=C3=A9s_de_mars_=3A_asperges_et_ch=C3=A8vres_frais?=
Date: Fri, 13 Mar 2026 11:02:37 +0100
Message-ID: <lettre-2026-03-8d21f0@epicerie.example>
List-Unsubscribe: <mailto:desinscription@epicerie.example?subject=8d21f0>,
	<https://epicerie.example/desinscription/8d21f0>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Precedence: bulk
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 8bit

""" + html
    add("good/french.eml", crlf(msg), "pass")
    # the same letter as many ESPs write it: HTML entities for every accented letter
    ent = html
    for ch, name in (("é", "eacute"), ("è", "egrave"), ("ê", "ecirc"), ("É", "Eacute"), ("à", "agrave")):
        ent = ent.replace(ch, "&" + name + ";")
    assert "&eacute;sinscrire" in ent
    add("good/french-entities.eml", crlf(msg.replace(html, ent).replace("8d21f0", "8d21f1")), "pass",
        reason={"body_unsubscribe": "sinscri"})


def good_subdomain():
    """From news.shop.example, signed d=shop.example: relaxed alignment."""
    msg = dkim("shop.example", "k2026") + """\
Return-Path: <b-20260315-881@bounce.shop.example>
From: Shop Example News <hello@news.shop.example>
To: kim@example.com
Subject: Your March picks from Shop Example
Date: Sun, 15 Mar 2026 16:20:00 +0000
Message-ID: <20260315162000.881.hello@mta2.shop.example>
List-Id: <news.shop.example>
List-Unsubscribe: <https://news.shop.example/u/881?h=2b1e>, <mailto:u-881@news.shop.example>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="se881"

--se881
Content-Type: text/plain; charset=us-ascii

Hi Kim,

three things we think you will like this month:

- The linen throw, now in sage: https://www.shop.example/p/linen-throw-sage
- Stoneware mugs, set of four: https://www.shop.example/p/stoneware-mugs
- Our spring candle, "Rain on Cedar": https://www.shop.example/p/candle-rain-cedar

You're getting this email because you opted in to Shop Example news.
Shop Example Inc., 500 Howard Street, San Francisco, CA 94105
Unsubscribe: https://news.shop.example/u/881?h=2b1e

--se881
Content-Type: text/html; charset=us-ascii

<html><body>
<p>Hi Kim,</p>
<p>three things we think you will like this month:</p>
<ul>
<li><a href="https://www.shop.example/p/linen-throw-sage">The linen throw, now in sage</a></li>
<li><a href="https://www.shop.example/p/stoneware-mugs">Stoneware mugs, set of four</a></li>
<li><a href="https://www.shop.example/p/candle-rain-cedar">Our spring candle, &quot;Rain on Cedar&quot;</a></li>
</ul>
<p><small>You're getting this email because you opted in to Shop Example news.<br>
Shop Example Inc., 500 Howard Street, San Francisco, CA 94105<br>
<a href="https://news.shop.example/u/881?h=2b1e">Unsubscribe</a></small></p>
</body></html>

--se881--
"""
    add("good/subdomain-relaxed.eml", crlf(msg), "pass", reason={"dkim": "d=shop.example"})


def good_two_signatures():
    """An ESP's own signature first, the sender's aligned one second."""
    sig = dkim("esp.example.net", "esp1", h="From:To:Subject:Date:Message-ID") + \
        dkim("shop.example.com", "mail2026")
    add("good/dkim-two-signatures.eml", base(dkim_field=sig), "pass",
        reason={"dkim": "d=shop.example.com"})


def good_list_reply():
    """A discussion-list reply: Re: with In-Reply-To and References."""
    msg = dkim("makers.example.org", "lists", h="from:to:subject:date:message-id:in-reply-to:references:list-id") + """\
From: Tomas Novak <tomas@makers.example.org>
Sender: makers-bounces@makers.example.org
To: makers@makers.example.org
Subject: Re: [makers] Laser cutter schedule for March
Date: Wed, 4 Mar 2026 21:14:09 +0100
Message-ID: <9c0e1d7b-5f2a-4e61-b3aa-1f0d2c9e8a11@makers.example.org>
In-Reply-To: <CAHx7b2Q=p1u@makers.example.org>
References: <CAHx7b2Q=p1u@makers.example.org>
List-Id: Riverside Makers discussion <makers.makers.example.org>
List-Post: <mailto:makers@makers.example.org>
List-Unsubscribe: <https://makers.example.org/lists/makers/leave>,
 <mailto:makers-leave@makers.example.org>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Precedence: list
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

On Tue, 3 Mar 2026, Priya wrote:
> Could we move the Thursday slots to the evening?

Fine by me. I have updated the calendar:
https://makers.example.org/tools/laser/calendar

Tomas

_______________________________________________
makers mailing list - you are subscribed as a club member
Riverside Makers Club, P.O. Box 1234, Portland, OR 97208
Unsubscribe: https://makers.example.org/lists/makers/leave
"""
    add("good/list-reply-threaded.eml", crlf(msg), "pass")


def good_french_latin1():
    """French in ISO-8859-1, quoted-printable: the words are not UTF-8."""
    text = ("Bonjour Camille,\n\n"
            "les premi\xe8res asperges sont arriv\xe9es : d\xe9couvrez la s\xe9lection de printemps.\n"
            "https://epicerie.example/boutique/printemps?origine=lettre-mars\n\n"
            "Vous recevez cet e-mail car vous \xeates inscrite \xe0 la lettre de La Petite \xc9picerie.\n"
            "La Petite \xc9picerie SARL, 12 rue des Martyrs, 75009 Paris\n"
            "Se d\xe9sinscrire : https://epicerie.example/compte/lettre?c=8d21f0\n")
    html = ("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"></head>\n"
            "<body>\n<p>Bonjour Camille,</p>\n"
            "<p>Les premi\xe8res asperges sont arriv\xe9es : "
            "<a href=\"https://epicerie.example/boutique/printemps?origine=lettre-mars\">d\xe9couvrez la s\xe9lection</a>.</p>\n"
            "<p style=\"font-size:11px\">Vous recevez cet e-mail car vous \xeates inscrite \xe0 la lettre de "
            "La Petite \xc9picerie.<br>\nLa Petite \xc9picerie SARL, 12 rue des Martyrs, 75009 Paris<br>\n"
            "<a href=\"https://epicerie.example/compte/lettre?c=8d21f0\">Se d\xe9sinscrire</a></p>\n"
            "</body></html>\n")
    qp = lambda t: quopri.encodestring(t.encode("latin-1")).decode("ascii").rstrip("\n")
    msg = dkim("epicerie.example", "mars") + """\
From: =?ISO-8859-1?Q?La_Petite_=C9picerie?= <lettre@epicerie.example>
To: camille@example.net
Subject: =?ISO-8859-1?Q?Les_premi=E8res_asperges_sont_arriv=E9es?=
Date: Fri, 20 Mar 2026 11:02:37 +0100
Message-ID: <lettre-2026-03b-8d21f0@epicerie.example>
List-Id: <lettre.epicerie.example>
List-Unsubscribe: <https://epicerie.example/desinscription/8d21f0>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="lpe-8d21f0"

--lpe-8d21f0
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

{t}
--lpe-8d21f0
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

{h}
--lpe-8d21f0--
""".format(t=qp(text), h=qp(html))
    add("good/french-latin1.eml", crlf(msg), "pass", reason={"body_unsubscribe": "next to the link"})


def good_italian():
    msg = dkim("libreria.example", "news") + """\
From: Libreria del Porto <newsletter@libreria.example>
To: giulia@example.com
Subject: =?UTF-8?Q?Le_novit=C3=A0_di_marzo?=
Date: Wed, 18 Mar 2026 17:30:00 +0100
Message-ID: <nl-2026-03-31f7@libreria.example>
List-Id: <novita.libreria.example>
List-Unsubscribe: <https://libreria.example/newsletter/rimuovi/31f7>, <mailto:rimuovi@libreria.example?subject=31f7>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Precedence: bulk
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 8bit

<html><body>
<p>Ciao Giulia,</p>
<p>a marzo arrivano in libreria tre romanzi che aspettavamo da tempo.
<a href="https://libreria.example/novita/marzo-2026">Scoprili sul sito</a>.</p>
<p>Presentazione con l'autrice venerdì 27 marzo alle 18:30.</p>
<hr>
<p style="font-size:11px">Hai ricevuto questa email perché sei iscritta alla newsletter della Libreria del Porto.<br>
Libreria del Porto, Via del Porto 14, 16128 Genova<br>
<a href="https://libreria.example/newsletter/profilo?id=31f7">Cancellati</a></p>
</body></html>
"""
    add("good/italian.eml", crlf(msg), "pass", reason={"body_unsubscribe": "\"cancellati\" next to the link"})


def good_spanish():
    msg = dkim("viajes.example", "s1") + """\
From: Viajes Sur <boletin@viajes.example>
To: lucia@example.net
Subject: =?UTF-8?Q?Escapadas_de_primavera_desde_89_=E2=82=AC?=
Date: Thu, 19 Mar 2026 09:10:00 +0100
Message-ID: <boletin-2026-03-a4c2@viajes.example>
List-Id: <boletin.viajes.example>
List-Unsubscribe: <https://viajes.example/boletin/salir/a4c2>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Hola Lucía:

Tres escapadas de primavera, con cancelación gratuita hasta 48 horas antes:
https://viajes.example/escapadas/primavera-2026

Recibes este correo porque te suscribiste al boletín de Viajes Sur.
Viajes Sur S.L., Calle Mayor 21, 28013 Madrid
Para darte de baja: https://viajes.example/boletin/salir/a4c2
"""
    add("good/spanish.eml", crlf(msg), "pass")


def good_nested():
    """multipart/mixed > related > alternative, an inline logo (cid:) and a
    PDF catalogue: only the text and HTML parts are read."""
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    pdf = (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
           b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
           b"% links in an attachment are not the message's: http://198.18.9.9/ https://bit.ly/x\n"
           b"trailer << /Root 1 0 R >>\n%%EOF\n")
    msg = dkim("tools.example.com", "cat26") + """\
From: Harbor Tools <catalog@tools.example.com>
To: orders@example.net
Subject: The 2026 spring catalogue (PDF inside)
Date: Mon, 16 Mar 2026 13:00:00 -0400
Message-ID: <catalog-2026-spring.19@tools.example.com>
List-Id: Harbor Tools catalogue <catalog.tools.example.com>
List-Unsubscribe: <https://tools.example.com/email/optout?c=19&k=e5a1>, <mailto:optout@tools.example.com>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Precedence: bulk
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mix-19"

--mix-19
Content-Type: multipart/related; boundary="rel-19"; type="multipart/alternative"

--rel-19
Content-Type: multipart/alternative; boundary="alt-19"

--alt-19
Content-Type: text/plain; charset=us-ascii

Our spring catalogue is attached (PDF, 2 pages) and online at
https://tools.example.com/catalogue/2026-spring

You are receiving this because you ordered from Harbor Tools.
Harbor Tools Inc., 77 Dock Street, Baltimore, MD 21231
Opt out of catalogue emails: https://tools.example.com/email/optout?c=19&k=e5a1

--alt-19
Content-Type: text/html; charset=us-ascii

<html><body>
<p><img src="cid:logo-19@tools.example.com" alt="Harbor Tools" width="120" height="40"></p>
<p>Our spring catalogue is attached (PDF, 2 pages) and
<a href="https://tools.example.com/catalogue/2026-spring">online</a>.</p>
<p style="font-size:11px">You are receiving this because you ordered from Harbor Tools.<br>
Harbor Tools Inc., 77 Dock Street, Baltimore, MD 21231<br>
<a href="https://tools.example.com/email/optout?c=19&amp;k=e5a1">Opt out of catalogue emails</a></p>
</body></html>

--alt-19--

--rel-19
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-ID: <logo-19@tools.example.com>
Content-Disposition: inline; filename="logo.png"

{png}
--rel-19--

--mix-19
Content-Type: application/pdf; name="harbor-tools-spring-2026.pdf"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="harbor-tools-spring-2026.pdf"

{pdf}
--mix-19--
""".format(png=b64_body(png).rstrip("\n"), pdf=b64_body(pdf).rstrip("\n"))
    add("good/nested-mixed-related.eml", crlf(msg), "pass", reason={"link_hosts": "4 links to 1 host"})


def good_more():
    add("good/date-zone-comment.eml", base(set_={"Date": "Tue, 03 Mar 2026 10:15:00 +0100(CET)"}), "pass")
    # the longest line RFC 5322 allows: 998 bytes
    line = ("<p>" + "&nbsp;" * 164 + "</p>").ljust(998)
    add("good/line-998-bytes.eml", base(html_body=line + "\n"), "pass")
    add("good/from-two-authors-with-sender.eml",
        base(set_={"From": "Anna Lind <anna@shop.example.com>, Ben Ortiz <ben@shop.example.com>"},
             after={"From": ["Sender: Acme Outdoor <news@shop.example.com>"]}), "pass")
    add("good/from-display-name-quoted-comma.eml",
        base(set_={"From": '"Acme Outdoor, Trails Team" <news@shop.example.com> (newsletter)'}), "pass")
    add("good/utf8-header-with-mime-version.eml",
        base(set_={"Subject": "Frühlingstouren – five routes for the long weekend"}), "pass")
    add("good/re-with-references.eml",
        base(set_={"Subject": "Re: your question about the Ridge trail"},
             after={"Date": ["References: <q-8812@shop.example.com>"]}), "pass")
    add("good/dkim-uppercase-domain.eml", base(dkim_field=dkim("Shop.Example.COM", "mail2026")), "pass",
        reason={"dkim": "d=shop.example.com"})


# ---- good: warn-only cases (exit 0) ----------------------------------------

def warns():
    add("good/warn-subject-caps.eml", base(set_={"Subject": "SPRING SALE: 15% OFF ALL RAIN SHELLS"}), "warn",
        warn=["subject"], reason={"subject": "capitals"})
    add("good/warn-subject-re-no-thread.eml", base(set_={"Subject": "RE: your spring trail guide"}), "warn",
        warn=["subject"], reason={"subject": "reply or forward"})
    add("good/warn-subject-fwd-no-thread.eml", base(set_={"Subject": "Fwd: five routes for the long weekend"}),
        "warn", warn=["subject"], reason={"subject": "no In-Reply-To or References"})
    add("good/warn-subject-aw-no-thread.eml", base(set_={"Subject": "AW: Ihre Bestellung"}), "warn",
        warn=["subject"], reason={"subject": "AW:"})
    add("good/warn-no-postal-address.eml", base(address="Acme Outdoor - gear for every trail"), "warn",
        warn=["postal_address"], reason={"postal_address": "no postal address"})
    add("good/warn-no-postal-copyright-year.eml",
        base(address="\u00a9 2026 Acme Outdoor. All rights reserved. Spring 2026 collection out now."), "warn",
        warn=["postal_address"], reason={"postal_address": "no postal address"})
    add("good/warn-no-why-wording.eml", base(why="Thanks for reading, and see you on the trail."), "warn",
        warn=["why_received"], reason={"why_received": "you receive this"})
    add("good/warn-bare-lf.eml", base(eol="\n"), "warn", warn=["structure"],
        reason={"structure": "bare LF"})
    add("good/warn-precedence-junk.eml", base(set_={"Precedence": "junk"}), "warn", warn=["bulk_headers"],
        reason={"bulk_headers": "junk"})
    add("good/warn-reply-to-other-domain.eml",
        base(after={"From": ["Reply-To: Acme support <support@helpdesk.example.net>"]}), "warn",
        warn=["from_domain"], reason={"from_domain": "Reply-To domain helpdesk.example.net"})
    add("good/warn-return-path-esp.eml",
        base(set_={"Return-Path": "<bounces+4711@mail.esp.example.net>"}), "warn",
        warn=["from_domain"], reason={"from_domain": "Return-Path"})
    add("good/warn-dkim-l-tag.eml",
        base(dkim_field=dkim("shop.example.com", "mail2026", extra="l=2048;")), "warn", warn=["dkim"],
        reason={"dkim": "l=2048"})
    add("good/warn-dkim-h-without-from.eml",
        base(dkim_field=dkim("shop.example.com", "mail2026", h="To:Subject:Date:Message-ID:MIME-Version")),
        "warn", warn=["dkim"], reason={"dkim": "h= does not list From"})
    add("good/warn-body-unsub-not-a-link.eml",
        base(unsub_text="To unsubscribe, reply to this email with STOP in the subject line.",
             unsub_html="To unsubscribe, reply to this email with STOP in the subject line.",
             prefs=False, pixel=False),
        "warn", warn=["body_unsubscribe"], reason={"body_unsubscribe": "no link next to it"})


# ---- bad: one failing check each -------------------------------------------

def bad_structure():
    add("bad/structure-duplicate-from.eml",
        base(after={"From": ["From: Acme Outdoor <news@shop.example.com>"]}), "fail", fail=["structure"],
        reason={"structure": "from appears 2 times"})
    add("bad/structure-duplicate-subject.eml",
        base(after={"Date": ["Subject: Spring trail guide"]}), "fail", fail=["structure"],
        reason={"structure": "subject appears 2 times"})
    add("bad/structure-duplicate-message-id.eml",
        base(after={"Message-ID": ["Message-ID: <20260303101500.4712.news@mail.shop.example.com>"]}), "fail",
        fail=["structure"], reason={"structure": "message-id appears 2 times"})
    # an ESP's invisible preheader padding on one line: 1,015 bytes
    pad = "&#847;&zwnj;&nbsp;" * 56
    assert len('<div style="display:none;">' + pad + '</div>') > 998
    add("bad/structure-long-line.eml",
        base(html_body='<div style="display:none;">' + pad + '</div>\n'), "fail", fail=["structure"],
        reason={"structure": "longer than 998 bytes"})
    add("bad/structure-not-a-field.eml", base(after={"X-Mailer": ["X-Campaign-Id 2026-03-spring"]}), "fail",
        fail=["structure"], reason={"structure": "is not a header field"})
    add("bad/structure-8bit-header-no-mime.eml", crlf("""\
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=shop.example.com; s=mail2026;
 h=from:to:subject:date:message-id; bh=%s=; b=%s
From: Acme Outdoor <news@shop.example.com>
To: jane.doe@example.net
Subject: Spring trail guide – five routes for the long weekend
Date: Tue, 03 Mar 2026 10:15:00 +0100
Message-ID: <20260303101500.4711.news@mail.shop.example.com>
List-Id: <news.shop.example.com>
List-Unsubscribe: <https://shop.example.com/newsletter/unsubscribe?u=4711&t=9f2c>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
Precedence: bulk

Five trails for the long weekend: %s

%s
%s
Unsubscribe: %s
""" % (fake_b64("bh8", 43), fake_b64("b8", 344), MAIN, WHY, ADDRESS, UNSUB)), "fail", fail=["structure"],
        reason={"structure": "8-bit"})
    add("bad/structure-continuation-first.eml",
        " by mta-1.shop.example.com with ESMTP id 4711; Tue, 03 Mar 2026 10:15:00 +0100\r\n" + base(),
        "fail", fail=["structure"], reason={"structure": "continuation"})
    # the blank line after the header section is lost: the body reads as
    # header lines (in a multipart, up to the first part's blank line)
    msg = base()
    cut = msg.index("\r\n\r\n")
    add("bad/structure-blank-line-lost.eml", msg[:cut] + "\r\n" + msg[cut + 4:], "fail", fail=["structure"],
        reason={"structure": "line 25 is not a header field"})
    add("bad/structure-no-blank-line.eml", crlf("""\
From: Acme Outdoor <news@shop.example.com>
To: jane.doe@example.net
Subject: Trail update
Date: Tue, 03 Mar 2026 10:15:00 +0100
Message-ID: <20260303101500.4713.news@mail.shop.example.com>
Precedence: bulk
Hello Jane, the Ridge trail is open again after the storm.
Unsubscribe: https://shop.example.com/newsletter/unsubscribe?u=4711&t=9f2c
"""), "fail", fail=["structure", "body_unsubscribe", "list_unsubscribe", "one_click", "dkim"],
        warn=["postal_address", "why_received"],
        reason={"structure": "line 7 is not a header field (name: value); there is no blank line"})
    add("bad/structure-line-999.eml", base(html_body=("<p>" + "&nbsp;" * 164 + "</p>").ljust(999) + "\n"), "fail",
        fail=["structure"], reason={"structure": "longer than 998 bytes"})
    add("bad/structure-headers-only.eml", msg[:cut] + "\r\n", "fail",
        fail=["structure", "body_unsubscribe"], warn=["postal_address", "why_received"],
        reason={"structure": "no blank line ends the header section"})
    add("bad/structure-empty.eml", b"", "fail",
        fail=["structure", "required_headers", "from_domain", "bulk_headers", "list_unsubscribe", "one_click",
              "body_unsubscribe", "dkim", "subject"],
        warn=["postal_address", "why_received"], reason={"structure": "empty"})


def bad_required():
    add("bad/required-no-date.eml", base(set_={"Date": None}), "fail", fail=["required_headers"],
        reason={"required_headers": "missing: Date"})
    add("bad/required-iso-date.eml", base(set_={"Date": "2026-03-03 10:15:00 +0100"}), "fail",
        fail=["required_headers"], reason={"required_headers": "not an RFC 5322 date"})
    add("bad/required-date-no-zone.eml", base(set_={"Date": "Tue, 03 Mar 2026 10:15:00"}), "fail",
        fail=["required_headers"], reason={"required_headers": "not an RFC 5322 date"})
    add("bad/required-no-message-id.eml", base(set_={"Message-ID": None}), "fail", fail=["required_headers"],
        reason={"required_headers": "missing: Message-ID"})
    add("bad/required-message-id-no-brackets.eml", base(set_={"Message-ID": "20260303101500.4711"}), "fail",
        fail=["required_headers"], reason={"required_headers": "is not <left@right>"})
    add("bad/required-message-id-no-at.eml", base(set_={"Message-ID": "<20260303101500.4711.news>"}), "fail",
        fail=["required_headers"], reason={"required_headers": "is not <left@right>"})
    # without From nothing can be aligned with it either
    add("bad/required-no-from.eml", base(set_={"From": None}), "fail",
        fail=["required_headers", "from_domain", "dkim"], reason={"required_headers": "missing: From"})


def bad_from():
    add("bad/from-several-mailboxes.eml",
        base(set_={"From": "Anna Lind <anna@shop.example.com>, Ben Ortiz <ben@shop.example.com>"}), "fail",
        fail=["from_domain"], reason={"from_domain": "several mailboxes"})
    # no domain: DKIM cannot be aligned with it either
    add("bad/from-no-domain.eml", base(set_={"From": "Acme Outdoor <news>"}), "fail",
        fail=["from_domain", "dkim"], reason={"from_domain": "no address with a domain"})
    add("bad/from-dotless-domain.eml", base(set_={"From": "Acme Outdoor <news@localhost>"}), "fail",
        fail=["from_domain", "dkim"], reason={"from_domain": "no address with a domain"})


def bad_bulk():
    add("bad/bulk-no-precedence-no-list-id.eml", base(set_={"Precedence": None, "List-Id": None}), "fail",
        fail=["bulk_headers"], reason={"bulk_headers": "neither"})
    add("bad/bulk-precedence-first-class.eml",
        base(set_={"Precedence": "first-class", "List-Id": None}), "fail", fail=["bulk_headers"],
        reason={"bulk_headers": "neither"})


def bad_list_unsub():
    # RFC 8058 needs List-Unsubscribe too: one_click fails with it
    add("bad/list-unsub-missing.eml", base(set_={"List-Unsubscribe": None}), "fail",
        fail=["list_unsubscribe", "one_click"], reason={"list_unsubscribe": "no List-Unsubscribe"})
    add("bad/list-unsub-no-angle-brackets.eml", base(set_={"List-Unsubscribe": UNSUB}), "fail",
        fail=["list_unsubscribe", "one_click"], reason={"list_unsubscribe": "no <mailto:...> or <https://...>"})
    add("bad/list-unsub-ftp-only.eml",
        base(set_={"List-Unsubscribe": "<ftp://shop.example.com/unsubscribe/4711>"}), "fail",
        fail=["list_unsubscribe", "one_click"], reason={"list_unsubscribe": "no <mailto:...> or <https://...>"})
    # http: only warns; one-click then has no https URI
    add("bad/list-unsub-http-only.eml",
        base(set_={"List-Unsubscribe": "<http://shop.example.com/newsletter/unsubscribe?u=4711&t=9f2c>"}),
        "fail", fail=["one_click"], warn=["list_unsubscribe"],
        reason={"list_unsubscribe": "only http:", "one_click": "without an https: URI"})


def bad_one_click():
    add("bad/one-click-missing.eml", base(set_={"List-Unsubscribe-Post": None}), "fail", fail=["one_click"],
        reason={"one_click": "no List-Unsubscribe-Post"})
    add("bad/one-click-mailto-only.eml",
        base(set_={"List-Unsubscribe": "<mailto:unsubscribe@shop.example.com?subject=unsubscribe-4711>"}),
        "fail", fail=["one_click"], reason={"one_click": "without an https: URI"})
    add("bad/one-click-wrong-value.eml", base(set_={"List-Unsubscribe-Post": "One-Click"}), "fail",
        fail=["one_click"], reason={"one_click": "is not \"List-Unsubscribe=One-Click\""})


def bad_body_unsub():
    add("bad/body-unsub-none.eml", base(unsub=False), "fail", fail=["body_unsubscribe"],
        reason={"body_unsubscribe": "no unsubscribe link"})
    # the word is there, but only in an image's alt text (no visible text, no link)
    # "free cancellation" is not the Italian "cancellati"
    add("bad/body-unsub-cancellation-wording.eml",
        base(unsub=False, text_extra="Free cancellation on every hut booking: https://shop.example.com/huts\n\n",
             html_body='<p>Free cancellation on every hut booking: '
                       '<a href="https://shop.example.com/huts">book a hut</a></p>\n'),
        "fail", fail=["body_unsubscribe"], reason={"body_unsubscribe": "no unsubscribe link"})
    add("bad/body-unsub-image-only.eml",
        base(unsub_text="", unsub_html='<img src="https://img.shop.example.com/nl/footer-links.png" '
                                       'alt="Unsubscribe" width="120" height="16">'),
        "fail", fail=["body_unsubscribe"], reason={"body_unsubscribe": "no unsubscribe link"})


def bad_dkim():
    add("bad/dkim-missing.eml", base(dkim_field=""), "fail", fail=["dkim"],
        reason={"dkim": "no DKIM-Signature"})
    add("bad/dkim-esp-domain.eml", base(dkim_field=dkim("esp.example.net", "esp1")), "fail", fail=["dkim"],
        reason={"dkim": "d=esp.example.net is not aligned with the From domain shop.example.com"})
    add("bad/dkim-lookalike-domain.eml", base(dkim_field=dkim("shop-example.com", "mail2026")), "fail",
        fail=["dkim"], reason={"dkim": "d=shop-example.com is not aligned"})
    add("bad/dkim-two-unaligned.eml",
        base(dkim_field=dkim("esp.example.net", "esp1") + dkim("mailer.example.org", "m1")), "fail",
        fail=["dkim"], reason={"dkim": "d=esp.example.net is not aligned"})
    add("bad/dkim-no-d-tag.eml",
        base(dkim_field="DKIM-Signature: v=1; a=rsa-sha256; s=mail2026; h=from:to:subject; bh=%s=; b=%s\n" %
             (fake_b64("x", 43), fake_b64("y", 344))), "fail", fail=["dkim"], reason={"dkim": "d=(none)"})


def bad_html():
    cases = [
        ("script", '<script type="text/javascript">window.dataLayer = window.dataLayer || [];</script>\n', "",
         "script"),
        ("script-uppercase", "", '<SCRIPT SRC="https://shop.example.com/js/track.js"></SCRIPT>\n', "script"),
        ("iframe", "", '<iframe src="https://shop.example.com/video/embed/trail-guide" width="560" height="315" '
                       'frameborder="0"></iframe>\n', "iframe"),
        ("frame", "", '<frameset cols="100%"><frame src="https://shop.example.com/journal/frame"></frameset>\n',
         "iframe/frame"),
        ("form", "", '<form action="https://shop.example.com/survey/spring" method="post">\n'
                     '<p>Which trail do you want first? <input type="text" name="trail">\n'
                     '<input type="submit" value="Vote"></p>\n</form>\n', "form"),
        ("object", "", '<object data="https://shop.example.com/media/map.swf" type="application/x-shockwave-flash" '
                       'width="560" height="315"></object>\n', "object/embed/applet"),
        ("embed", "", '<embed src="https://shop.example.com/media/trail.mp4" type="video/mp4" width="560">\n',
         "object/embed/applet"),
        ("applet", "", '<applet code="Map.class" archive="https://shop.example.com/media/map.jar"></applet>\n',
         "object/embed/applet"),
        ("meta-refresh", '<meta http-equiv="refresh" content="0; url=https://shop.example.com/newsletter/view?issue=2026-03">\n',
         "", "meta refresh"),
        ("external-css", '<link rel="stylesheet" type="text/css" href="https://fonts.example.net/css2?family=Inter:wght@400;700">\n',
         "", "external style sheet"),
        ("css-import", '<style type="text/css">@import url("https://fonts.example.net/css2?family=Inter");</style>\n',
         "", "external style sheet"),
    ]
    for name, head, body, why in cases:
        add("bad/html-%s.eml" % name, base(html_head=head, html_body=body), "fail", fail=["html_content"],
            reason={"html_content": why})


def bad_links():
    ip = 198 << 24 | 18 << 16 | 0 << 8 | 25
    cases = [
        ("ip-dotted", "http://198.18.0.25/journal/spring-trails-2026", "IP address", "198.18.0.25"),
        ("ip-decimal", "http://%d/journal/spring-trails-2026" % ip, "IP address", str(ip)),
        ("ip-hex", "http://0xc6.0x12.0x0.0x19/journal/spring-trails-2026", "IP address", "0xc6"),
        ("ip-hex-single", "http://0x%08X/journal/" % ip, "IP address", "0x"),
        ("ip-octal", "http://0306.022.0.031/journal/", "IP address", "0306"),
        ("ip-two-parts", "http://198.1179673/journal/", "IP address", "198.1179673"),
        ("ipv6", "http://[2001:db8::25]/journal/spring-trails-2026", "IP address", "2001:db8::25"),
        ("ip-port", "https://198.19.4.2:8443/journal/", "IP address", "198.19.4.2"),
        ("percent-host", "https://%73hop.example.com/journal/spring-trails-2026", "encoded or disguised", "%73hop"),
        ("userinfo", "https://paypal.com@evil.example/signin", "encoded or disguised", "paypal.com@evil.example"),
        ("userinfo-shop", "https://shop.example.com:login@evil.example/journal/", "encoded or disguised",
         "@evil.example"),
        ("punycode", "https://www.xn--shp-example-xeb.com/journal/", "encoded or disguised", "xn--"),
        ("homograph", "https://shop.ex\u0430mple.com/journal/", "encoded or disguised", "shop.ex"),
    ]
    for name, url, what, quoted in cases:
        add("bad/link-%s.eml" % name, base(main=url), "fail", fail=["link_hosts"],
            reason={"link_hosts": [what, quoted]})
    # an open-tracking pixel served from an IP (HTML only)
    add("bad/link-ip-pixel.eml",
        base(html_body='<img src="http://198.19.4.2/o/4711.gif" width="1" height="1" alt="">\n'), "fail",
        fail=["link_hosts"], reason={"link_hosts": "http://198.19.4.2/o/4711.gif"})
    # a link written in the text part only
    add("bad/link-ip-text-only.eml", base(text_extra="Map: http://198.18.3.7/maps/trails.pdf\n\n"), "fail",
        fail=["link_hosts"], reason={"link_hosts": "198.18.3.7"})


def bad_redirects():
    cases = [
        ("bitly", "https://bit.ly/3TrAiL5", "shortener"),
        ("bitly-subdomain", "https://acme.bit.ly/spring", "shortener"),
        ("tinyurl", "https://tinyurl.com/acme-spring-2026", "shortener"),
        ("t-co", "https://t.co/Ab12Cd34", "shortener"),
        ("url-param", "https://shop.example.com/out?url=https://evil.example/spring", "redirector"),
        ("url-param-encoded", "https://click.shop.example.com/track?c=4711&redirect=https%3A%2F%2Fevil.example%2Fspring",
         "redirector"),
        ("search-url-q", "https://search.example.net/url?q=https://evil.example/spring&sa=D", "redirector"),
        ("scheme-relative", "https://shop.example.com/login?next=//evil.example/spring", "redirector"),
        ("www-param", "https://shop.example.com/go?to=www.evil.example", "redirector"),
        ("fragment", "https://shop.example.com/r#dest=https://evil.example/", "redirector"),
    ]
    for name, url, what in cases:
        add("bad/redirect-%s.eml" % name, base(main=url), "fail", fail=["link_redirects"],
            reason={"link_redirects": what})
    add("bad/redirect-shortener-text-only.eml", base(text_extra="Short link to share: https://bit.ly/acme-spr\n\n"),
        "fail", fail=["link_redirects"], reason={"link_redirects": "https://bit.ly/acme-spr"})


def bad_subject():
    add("bad/subject-missing.eml", base(set_={"Subject": None}), "fail", fail=["subject"],
        reason={"subject": "no Subject"})
    add("bad/subject-empty.eml", base(set_={"Subject": ""}), "fail", fail=["subject"],
        reason={"subject": "empty"})
    add("bad/subject-blank.eml", base(set_={"Subject": "   "}), "fail", fail=["subject"],
        reason={"subject": "empty"})


def main():
    good_newsletter_html()
    good_plain_text()
    good_encoded()
    good_german()
    good_french()
    good_subdomain()
    good_two_signatures()
    good_list_reply()
    good_french_latin1()
    good_italian()
    good_spanish()
    good_nested()
    good_more()
    warns()
    bad_structure()
    bad_required()
    bad_from()
    bad_bulk()
    bad_list_unsub()
    bad_one_click()
    bad_body_unsub()
    bad_dkim()
    bad_html()
    bad_links()
    bad_redirects()
    bad_subject()
    for d in ("good", "bad"):
        shutil.rmtree(os.path.join(HERE, d), ignore_errors=True)
        os.makedirs(os.path.join(HERE, d))
    for name, data in CORPUS.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
    with open(os.path.join(HERE, "expected.json"), "w") as f:
        # one file a line: diffs stay readable
        f.write("{\n" + ",\n".join(" %s: %s" % (json.dumps(k), json.dumps(v, ensure_ascii=False))
                                     for k, v in sorted(EXPECTED.items())) + "\n}\n")
    print("wrote %d messages and expected.json" % len(CORPUS))


if __name__ == "__main__":
    main()
