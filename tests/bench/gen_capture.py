#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Generate a realistic port-25 capture for the speed benchmark (make bench).

N SMTP sessions from VM guests to remote MXs, written straight to a pcap
file (Ethernet, IPv4 with some IPv6 and some 802.1Q-tagged guests): TCP
handshake, banner, EHLO with a multi-line 250, MAIL/RCPT (1-5 recipients,
some 550/450/554 rejections), DATA 354, a 1-20 KB message (headers, text,
multipart/alternative HTML, base64 attachments, dot-stuffed lines), QUIT
221 and FIN both ways; some sessions do STARTTLS with a real ClientHello.
Dialogues are modelled on Postfix, swaks, Outlook and spam-bot clients
talking to Postfix, Gmail, Microsoft 365 and Exim servers.  Segments are
cut at MSS 1460 with consistent seq/ack and valid IPv4/TCP checksums.

--concurrency C keeps C sessions open at once and advances them round
robin one turn (one side's transmission) at a time: with C = N every SYN
comes first, which measures memory with N concurrent sessions.

Deterministic for a given --seed.  The expected counts go to a sidecar
JSON (OUT.json unless --meta).  Stdlib only; the per-packet work is a few
struct.pack calls on byte templates, so 100k sessions take about a minute.
"""
import argparse
import base64
import collections
import json
import quopri
import random
import struct
import sys
import time

MSS = 1460
T0 = 1798761600  # 2027-01-01 00:00:00 UTC, the capture's first second

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

# A real ClientHello (swaks/OpenSSL 3 after STARTTLS, from the corpus's
# synthetic/pcaps/synth-starttls.pcap): 517 bytes, TLS 1.3, no SNI.
CLIENT_HELLO = bytes.fromhex(
    "1603010200010001fc03030424490a0dca521d54509cc8cd195f1cf04f0c6be87039b6145051"
    "2eeb74b3102049c97881b76d12674017f388d0a0fad1085053ff785fe81f1f3a92ffa011fd98"
    "003e130213031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067"
    "c00ac0140039c009c0130033009d009c003d003c0035002f00ff01000175000b000403000102"
    "000a00160014001d0017001e0019001801000101010201030104002300000016000000170000"
    "000d002a0028040305030603080708080809080a080b08040805080604010501060103030301"
    "0302040205020602002b0009080304030303020301002d00020101003300260024001d00206a"
    "9879f8400e54228123c5049df42d9efe539203e9011a43e2687b8bba7d6305001500d8000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000")

WORDS = (
    "the of and to in is you that it he was for on are as with his they at be this have from "
    "or one had by word but not what all were we when your can said there use an each which "
    "she do how their if will up other about out many then them these so some her would make "
    "like him into time has look two more write go see number no way could people my than "
    "first water been call who oil its now find long down day did get come made may part "
    "order invoice account payment shipment delivery meeting schedule project report update "
    "please attached find regards thanks team customer service support request review "
    "contract offer price discount newsletter event registration confirm password security "
    "server backup database release version feature issue ticket deadline budget quarter "
    "office holiday weekend tomorrow yesterday morning afternoon evening colleague manager"
).split()

FIRST = ("Anna Ben Carla David Elena Frank Greta Hans Ines Jonas Katrin Lukas Maria Nils Olga "
         "Paul Rita Sven Tanja Uwe Vera Walter Yara Zoe").split()
LAST = ("Schmidt Mueller Weber Fischer Wagner Becker Hoffmann Koch Richter Klein Wolf Neumann "
        "Schwarz Braun Zimmermann Krueger Hartmann Lange Werner Krause").split()
TLDS = ("com", "net", "org", "de", "eu", "io", "co.uk", "fr", "nl")
PROVIDERS = ("gmail.com", "outlook.com", "yahoo.com", "gmx.de", "web.de", "t-online.de",
             "hotmail.com", "icloud.com", "aol.com", "mail.ru")
SUBJECTS = (
    "Invoice {n} for your order", "Re: meeting on {d}", "Your account statement {n}",
    "Weekly newsletter #{n}", "Fwd: project update", "Delivery notification {n}",
    "Re: Re: quarterly report", "Password reset request", "Confirm your registration",
    "Special offer: {n}% discount only today", "Backup report for {d}", "Ticket #{n} updated",
    "Cron <root@vm{n}> /usr/local/bin/backup.sh", "Your order {n} has shipped",
    "URGENT: verify your account", "Cheap meds online {n}", "You have won {n} EUR")


def fold(lines):
    return "\r\n".join(lines) + "\r\n"


def dot_stuff(text):
    return "\r\n".join(("." + l) if l.startswith(".") else l for l in text.split("\r\n"))


class Pools:
    """Message building blocks, made once; messages are joins of these."""

    def __init__(self, rng):
        self.text = [self._paragraph(rng, i) for i in range(600)]
        self.html = [self._html(p) for p in self.text]
        self.b64 = []
        for i in range(48):
            raw = (b"%PDF-1.4\n" if i % 2 else b"PK\x03\x04") + rng.randbytes(rng.randint(600, 9000))
            enc = base64.encodebytes(raw).decode().replace("\n", "\r\n")
            self.b64.append(enc)
        self.noise = rng.randbytes(1 << 16)  # TLS ciphertext stand-in
        self.dkim = base64.b64encode(rng.randbytes(256)).decode()

    @staticmethod
    def _paragraph(rng, i):
        words = [rng.choice(WORDS) for _ in range(rng.randint(25, 110))]
        words[0] = words[0].capitalize()
        lines, cur = [], ""
        for w in words:
            if len(cur) + len(w) + 1 > 72:
                lines.append(cur)
                cur = w
            else:
                cur = (cur + " " + w) if cur else w
        lines.append(cur + ".")
        # About 1 in 12 paragraphs has lines that SMTP must dot-stuff.
        if i % 12 == 3:
            lines.insert(rng.randrange(len(lines)), "...and that is all for now.")
        if i % 24 == 7:
            lines.insert(rng.randrange(len(lines)), ".")
        return dot_stuff("\r\n".join(lines)) + "\r\n\r\n"

    @staticmethod
    def _html(par):
        plain = par.replace("\r\n..", "\r\n.").strip()
        body = ('<p style="font-family:Arial,sans-serif;font-size:14px;color:#333333">%s '
                '<a href="https://www.example.com/track?id=%d">read more</a></p>\n'
                % (plain.replace("\r\n", " "), len(plain)))
        enc = quopri.encodestring(body.encode()).decode().replace("\n", "\r\n")
        return dot_stuff(enc)


# ---- remote server dialects -------------------------------------------------

SERVERS = {
    "postfix": dict(
        banner="220 {h} ESMTP Postfix (Debian/GNU)\r\n",
        ehlo=["250-{h}", "250-PIPELINING", "250-SIZE 52428800", "250-VRFY", "250-ETRN",
              "250-STARTTLS", "250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250-DSN",
              "250-SMTPUTF8", "250 CHUNKING"],
        helo="250 {h}\r\n",
        mail="250 2.1.0 Ok\r\n", rcpt="250 2.1.5 Ok\r\n", data="354 End data with <CR><LF>.<CR><LF>\r\n",
        queued="250 2.0.0 Ok: queued as {q}\r\n", quit="221 2.0.0 Bye\r\n",
        unknown="550 5.1.1 <{r}>: Recipient address rejected: User unknown in virtual mailbox table\r\n",
        grey="450 4.2.0 <{r}>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/{d}.html\r\n",
        rbl="554 5.7.1 Service unavailable; Client host [{ip}] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/{ip}\r\n",
        nodata="554 5.5.1 Error: no valid recipients\r\n",
        tls="220 2.0.0 Ready to start TLS\r\n"),
    "gmail": dict(
        banner="220 mx.google.com ESMTP {q} - gsmtp\r\n",
        ehlo=["250-mx.google.com at your service, [{ip}]", "250-SIZE 157286400", "250-8BITMIME",
              "250-STARTTLS", "250-ENHANCEDSTATUSCODES", "250-PIPELINING", "250-CHUNKING",
              "250 SMTPUTF8"],
        helo="250 mx.google.com at your service\r\n",
        mail="250 2.1.0 OK {q} - gsmtp\r\n", rcpt="250 2.1.5 OK {q} - gsmtp\r\n",
        data="354 Go ahead {q} - gsmtp\r\n", queued="250 2.0.0 OK  {t} {q} - gsmtp\r\n",
        quit="221 2.0.0 closing connection {q} - gsmtp\r\n",
        unknown="550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
                "550-5.1.1 double-checking the recipient's email address for typos or\r\n"
                "550-5.1.1 unnecessary spaces. For more information, go to\r\n"
                "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser {q} - gsmtp\r\n",
        grey="450-4.2.1 The user you are trying to contact is receiving mail at a rate that\r\n"
             "450 4.2.1 prevents additional messages from being delivered. {q} - gsmtp\r\n",
        rbl="421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating\r\n"
            "421-4.7.28 from your IP address [{ip}]. To protect our users from spam,\r\n"
            "421 4.7.28 mail sent from your IP address has been temporarily rate limited. {q} - gsmtp\r\n",
        nodata="554 5.5.1 Error: no valid recipients {q} - gsmtp\r\n",
        tls="220 2.0.0 Ready to start TLS {q} - gsmtp\r\n"),
    "m365": dict(
        banner="220 {h} Microsoft ESMTP MAIL Service ready at {date}\r\n",
        ehlo=["250-{h} Hello [{ip}]", "250-SIZE 157286400", "250-PIPELINING", "250-DSN",
              "250-ENHANCEDSTATUSCODES", "250-STARTTLS", "250-8BITMIME", "250-BINARYMIME",
              "250-CHUNKING", "250 SMTPUTF8"],
        helo="250 {h} Hello [{ip}]\r\n",
        mail="250 2.1.0 Sender OK\r\n", rcpt="250 2.1.5 Recipient OK\r\n",
        data="354 Start mail input; end with <CRLF>.<CRLF>\r\n",
        queued="250 2.6.0 <{m}> [InternalId={t}, Hostname={h}] Queued mail for delivery\r\n",
        quit="221 2.0.0 Service closing transmission channel\r\n",
        unknown="550 5.4.1 Recipient address rejected: Access denied. [{h}]\r\n",
        grey="451 4.7.500 Server busy. Please try again later from [{ip}]. (S77719) [{h}]\r\n",
        rbl="550 5.7.1 Service unavailable, Client host [{ip}] blocked using Spamhaus. (S3150) [{h}]\r\n",
        nodata="554 5.5.1 Error: no valid recipients\r\n",
        tls="220 2.0.0 SMTP server ready\r\n"),
    "exim": dict(
        banner="220 {h} ESMTP Exim 4.96 {date}\r\n",
        ehlo=["250-{h} Hello {c} [{ip}]", "250-SIZE 52428800", "250-8BITMIME", "250-PIPELINING",
              "250-PIPE_CONNECT", "250-CHUNKING", "250-STARTTLS", "250-PRDR", "250 HELP"],
        helo="250 {h} Hello {c} [{ip}]\r\n",
        mail="250 OK\r\n", rcpt="250 Accepted\r\n", data="354 Enter message, ending with \".\" on a line by itself\r\n",
        queued="250 OK id={q}\r\n", quit="221 {h} closing connection\r\n",
        unknown="550 Unrouteable address\r\n",
        grey="451 Temporary local problem - please try later\r\n",
        rbl="550 Administrative prohibition: {ip} is listed in bl.spamcop.net\r\n",
        nodata="503-All RCPT commands were rejected with this error:\r\n503-Unrouteable address\r\n503 Valid RCPT command must precede DATA\r\n",
        tls="220 TLS go ahead\r\n"),
}
SERVER_WEIGHTS = (("postfix", 40), ("gmail", 25), ("m365", 20), ("exim", 15))


# ---- packets ------------------------------------------------------------------

def csum_fold(s):
    s = (s & 0xffff) + (s >> 16)
    s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def words_sum(b):
    """Sum of the 16-bit big-endian words of b, mod 0xffff (one's complement)."""
    if len(b) & 1:
        b += b"\0"
    return int.from_bytes(b, "big") % 0xffff


class Conn:
    """One TCP connection: builds Ethernet frames for both directions."""
    __slots__ = ("l2", "v6", "cip", "sip", "cport", "sport", "cseq", "sseq", "ipid",
                 "ipsum", "pseudo", "iphdr6")

    def __init__(self, vm, sip, sport, cport, v6, cseq, sseq, ipid):
        cmac, gmac, vlan = vm["mac"], vm["gw"], vm["vlan"]
        et = b"\x86\xdd" if v6 else b"\x08\x00"
        tag = struct.pack("!HH", 0x8100, vlan) if vlan else b""
        self.l2 = (gmac + cmac + tag + et, cmac + gmac + tag + et)  # (c2s, s2c)
        self.v6 = v6
        self.cip = vm["ip6"] if v6 else vm["ip4"]
        self.sip = sip
        self.cport, self.sport = cport, sport
        self.cseq, self.sseq = cseq, sseq
        self.ipid = ipid
        addr = words_sum(self.cip + self.sip)
        self.pseudo = addr + 6
        self.ipsum = addr + 0x4500 + 0x4000 + 0x4006  # ver/ihl, DF, ttl 64/proto 6

    def frame(self, c2s, flags, payload=b"", opts=b""):
        """One segment; advances the sender's sequence number."""
        if c2s:
            sp, dp, seq, ack, src, dst = self.cport, self.sport, self.cseq, self.sseq, self.cip, self.sip
        else:
            sp, dp, seq, ack, src, dst = self.sport, self.cport, self.sseq, self.cseq, self.sip, self.cip
        if not flags & ACK:
            ack = 0
        hl = 20 + len(opts)
        tcp = struct.pack("!HHIIBBHHH", sp, dp, seq, ack, hl << 2, flags, 502, 0, 0) + opts + payload
        tl = len(tcp)
        c = csum_fold(self.pseudo + tl + words_sum(tcp))
        tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
        if self.v6:
            ip = struct.pack("!IHBB", 0x60000000, tl, 6, 64) + src + dst
        else:
            self.ipid = (self.ipid + 1) & 0xffff
            ipc = csum_fold(self.ipsum + tl + 20 + self.ipid)
            ip = struct.pack("!BBHHHBBH", 0x45, 0, tl + 20, self.ipid, 0x4000, 64, 6, ipc) + src + dst
        n = len(payload) + (1 if flags & (SYN | FIN) else 0)
        if c2s:
            self.cseq = (self.cseq + n) & 0xffffffff
        else:
            self.sseq = (self.sseq + n) & 0xffffffff
        return self.l2[0 if c2s else 1] + ip + tcp

    def send(self, c2s, data, ack_every=0):
        """data from one side, cut at MSS; with ack_every=k the peer sends a
        pure ACK after every k segments (delayed ACK on bulk data)."""
        out = []
        n = len(data)
        k = 0
        for off in range(0, n, MSS):
            out.append(self.frame(c2s, PSH | ACK if off + MSS >= n else ACK, data[off:off + MSS]))
            k += 1
            if ack_every and k % ack_every == 0 and off + MSS < n:
                out.append(self.frame(not c2s, ACK))
        return out


# MSS 1460, SACK permitted, window scale 7 (no timestamps: data segments
# carry none either).
SYN_OPTS_C = bytes.fromhex("020405b4" "01030307" "01010402")
SYN_OPTS_S = bytes.fromhex("020405b4" "01010402" "01030307")


# ---- sessions ---------------------------------------------------------------

class Gen:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        rng = self.rng
        self.pools = Pools(rng)
        self.stats = collections.Counter()
        self.vms = []
        for i in range(args.vms):
            vlan = rng.randint(100, 4000) if rng.random() < args.vlan_frac else 0
            a = 0xc6120000 + 2 + i * 7 % 65000  # 198.18.x.y
            self.vms.append(dict(
                mac=bytes((0x52, 0x54, 0x00, rng.randrange(256), rng.randrange(256), rng.randrange(256))),
                gw=bytes.fromhex("fe5400c0ffee"),
                ip4=struct.pack("!I", a),
                ip6=bytes.fromhex("20010db80000") + struct.pack("!HI", i >> 16, 0x10000 | i) + b"\0\0\0\x01",
                v6=rng.random() < args.ipv6_frac * 2,  # half of its sessions go over IPv6
                vlan=vlan,
                kind=rng.choices(("postfix", "swaks", "outlook", "bot"), (45, 15, 30, 10))[0],
                domain="%s%d.%s" % (rng.choice(WORDS), i, rng.choice(TLDS)),
                port=rng.randint(32768, 60999)))
        self.mxs = []
        for i in range(4000):
            kind = rng.choices([k for k, _ in SERVER_WEIGHTS], [w for _, w in SERVER_WEIGHTS])[0]
            host = {"gmail": "mx.google.com",
                    "m365": "am%dpr0%dmb%d.eurprd0%d.prod.outlook.com" % (i % 9, i % 7, i, i % 5)}.get(
                kind, "mx%d.%s%d.%s" % (i % 3, rng.choice(WORDS), i, rng.choice(TLDS)))
            self.mxs.append((kind, host, struct.pack("!I", 0xc6130000 + 1 + i * 13 % 65000),
                             bytes.fromhex("20010db8ffff") + struct.pack("!HI", 0, i) + b"\0\0\0\x19"))
        self.ipid = 1

    def _addr(self, rng, domain=None):
        name = "%s.%s" % (rng.choice(FIRST).lower(), rng.choice(LAST).lower())
        return "%s@%s" % (name, domain or rng.choice(PROVIDERS))

    def _message(self, rng, vm, sender, rcpts, idx):
        p = self.pools
        kind = vm["kind"]
        date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(T0 + idx // 50))
        mid = "%016x.%d@%s" % (rng.getrandbits(64), idx, vm["domain"])
        subj = rng.choice(SUBJECTS).format(n=rng.randint(1000, 99999), d=date[5:16])
        hdr = []
        if kind == "postfix":
            hdr.append("Received: by mail.%s (Postfix, from userid 1000)\r\n\tid %X; %s" %
                       (vm["domain"], rng.getrandbits(40), date))
            hdr.append("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s;\r\n\ts=mail; t=%d;"
                       " bh=%s;\r\n\th=From:To:Subject:Date:Message-ID;\r\n\tb=%s\r\n\t %s" %
                       (vm["domain"], T0 + idx // 50, p.dkim[:44], p.dkim[:172], p.dkim[172:]))
        hdr.append("From: %s %s <%s>" % (rng.choice(FIRST), rng.choice(LAST), sender))
        hdr.append("To: " + ",\r\n\t".join("<%s>" % r for r in rcpts))
        hdr.append("Subject: " + subj)
        hdr.append("Date: " + date)
        if kind != "bot" or rng.random() < 0.3:
            hdr.append("Message-ID: <%s>" % mid)
        hdr.append("MIME-Version: 1.0")
        if kind == "outlook":
            hdr.append("X-Mailer: Microsoft Outlook 16.0")
        elif kind == "swaks":
            hdr.append("X-Mailer: swaks v20240103.0 jetmore.org/john/code/swaks/")
        else:
            hdr.append("User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0")
        bulk = rng.random() < 0.15
        if bulk:
            hdr.append("List-Unsubscribe: <https://news.%s/unsub?u=%d>, <mailto:unsub-%d@%s>" %
                       (vm["domain"], idx, idx, vm["domain"]))
            hdr.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
            hdr.append("Precedence: bulk")
        # Target size 1-20 KB, skewed to small (median ~3 KB), spam bots small.
        target = int(1000 * (20 ** (rng.random() ** 1.5))) if kind != "bot" else rng.randint(900, 3000)
        shape = rng.random()
        parts = []
        size = 0
        if shape < 0.5 or kind == "bot":
            hdr.append("Content-Type: text/plain; charset=UTF-8; format=flowed")
            hdr.append("Content-Transfer-Encoding: 8bit")
            while size < target:
                t = rng.choice(p.text)
                parts.append(t)
                size += len(t)
        else:
            b = "----=_Part_%d_%d.%d" % (idx, rng.getrandbits(30), T0)
            mixed = shape >= 0.8
            b2 = b + "_alt"
            top = b if mixed else b2
            hdr.append('Content-Type: multipart/%s;\r\n\tboundary="%s"' %
                       ("mixed" if mixed else "alternative", top))
            parts.append("This is a multi-part message in MIME format.\r\n\r\n")
            if mixed:
                parts.append('--%s\r\nContent-Type: multipart/alternative; boundary="%s"\r\n\r\n' % (b, b2))
            n = 1 + rng.randrange(3)
            i0 = rng.randrange(len(p.text) - n)
            parts.append("--%s\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                         "Content-Transfer-Encoding: 8bit\r\n\r\n" % b2)
            parts.extend(p.text[i0:i0 + n])
            parts.append("--%s\r\nContent-Type: text/html; charset=UTF-8\r\n"
                         "Content-Transfer-Encoding: quoted-printable\r\n\r\n<html><body>\r\n" % b2)
            parts.extend(p.html[i0:i0 + n])
            parts.append("</body></html>\r\n--%s--\r\n" % b2)
            size = sum(map(len, parts))
            if mixed:
                att = rng.choice(p.b64)
                name = "invoice-%d.pdf" % idx
                parts.append('--%s\r\nContent-Type: application/pdf; name="%s"\r\n'
                             'Content-Disposition: attachment; filename="%s"\r\n'
                             "Content-Transfer-Encoding: base64\r\n\r\n" % (b, name, name))
                parts.append(att)
                parts.append("\r\n--%s--\r\n" % b)
        body = "\r\n".join(hdr) + "\r\n\r\n" + "".join(parts)
        return body.encode() + b".\r\n"

    def session(self, idx):
        """Generator of turns (lists of frames) for session idx."""
        rng = self.rng
        st = self.stats
        vm = self.vms[rng.randrange(len(self.vms))]
        skind, shost, sip4, sip6 = self.mxs[int(len(self.mxs) * rng.random() ** 3)]
        srv = SERVERS[skind]
        v6 = vm["v6"] and rng.random() < 0.5
        vm["port"] = vm["port"] + 1 if vm["port"] < 60999 else 32768
        self.ipid = (self.ipid * 1103515245 + 12345) & 0xffff
        c = Conn(vm, sip6 if v6 else sip4, 25, vm["port"], v6,
                 rng.getrandbits(32), rng.getrandbits(32), self.ipid)
        st["sessions"] += 1
        st["ipv6_sessions"] += v6
        st["vlan_sessions"] += vm["vlan"] != 0
        ckind = vm["kind"]
        ipstr = ".".join(map(str, vm["ip4"])) if not v6 else "IPv6:2001:db8::1"
        fmt = dict(h=shost, ip=ipstr, c="mail." + vm["domain"], q="%010X" % rng.getrandbits(40),
                   date=time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(T0 + idx // 50)),
                   t=rng.randint(10 ** 9, 10 ** 10), m="", r="", d="")

        def reply(key, **kw):
            f = dict(fmt, **kw) if kw else fmt
            return srv[key].format(**f).encode()

        yield [c.frame(True, SYN, opts=SYN_OPTS_C)]
        yield [c.frame(False, SYN | ACK, opts=SYN_OPTS_S)]
        yield [c.frame(True, ACK)]
        # A listed client may be refused at the banner.
        if ckind == "bot" and rng.random() < 0.25:
            yield c.send(False, reply("rbl"))
            yield c.send(True, b"QUIT\r\n")
            yield c.send(False, reply("quit"))
            st["banner_rejects"] += 1
            yield from self._close(c, rng)
            return
        yield c.send(False, reply("banner"))
        if ckind == "bot" and rng.random() < 0.5:
            yield c.send(True, ("HELO %s\r\n" % rng.choice((ipstr, "localhost", "user-pc", rng.choice(WORDS)))).encode())
            yield c.send(False, reply("helo"))
            pipelining = False
        else:
            ehlo = {"outlook": "EHLO DESKTOP-%05X\r\n" % rng.getrandbits(20),
                    "swaks": "EHLO vm%d.localdomain\r\n" % (idx % 997)}.get(ckind, "EHLO mail.%s\r\n" % vm["domain"])
            yield c.send(True, ehlo.encode())
            yield c.send(False, "\r\n".join(srv["ehlo"]).format(**fmt).encode() + b"\r\n")
            pipelining = ckind == "postfix"
            if ckind in ("postfix", "outlook") and rng.random() < self.args.starttls_frac:
                yield from self._tls(c, rng, srv, fmt)
                return
        sender = self._addr(rng, vm["domain"]) if ckind != "bot" else self._addr(rng)
        nr = rng.choices((1, 2, 3, 4, 5), (60, 18, 10, 6, 6))[0] if ckind != "bot" else rng.randint(3, 5)
        rcpts = [self._addr(rng) for _ in range(nr)]
        reject_p = 0.5 if ckind == "bot" else 0.04
        verdicts = []
        for r in rcpts:
            x = rng.random()
            if x < reject_p:
                verdicts.append(reply("unknown", r=r))
            elif x < reject_p * 1.3:
                verdicts.append(reply("grey", r=r, d=r.split("@")[1]))
            else:
                verdicts.append(None)
        ok = sum(v is None for v in verdicts)
        st["rcpt_accepted"] += ok
        st["rcpt_rejected"] += nr - ok
        mailcmd = {"outlook": "MAIL FROM: <%s>\r\n", "bot": "mail from:<%s>\r\n"}.get(ckind, "MAIL FROM:<%s>\r\n") % sender
        rcptfmt = {"outlook": "RCPT TO: <%s>\r\n", "bot": "rcpt to:<%s>\r\n"}.get(ckind, "RCPT TO:<%s>\r\n")
        rreplies = [v if v else reply("rcpt") for v in verdicts]
        if pipelining:
            msg = self._message(rng, vm, sender, rcpts, idx)
            cmds = mailcmd.replace(">\r\n", "> SIZE=%d BODY=8BITMIME\r\n" % len(msg))
            cmds += "".join(rcptfmt % r for r in rcpts) + "DATA\r\n"
            yield c.send(True, cmds.encode())
            yield c.send(False, reply("mail") + b"".join(rreplies) + (reply("data") if ok else reply("nodata")))
        else:
            msg = None
            yield c.send(True, mailcmd.encode())
            yield c.send(False, reply("mail"))
            for r, rr in zip(rcpts, rreplies):
                yield c.send(True, (rcptfmt % r).encode())
                yield c.send(False, rr)
            if ok:
                yield c.send(True, b"DATA\r\n")
                yield c.send(False, reply("data"))
        if ok:
            if msg is None:
                msg = self._message(rng, vm, sender, [r for r, v in zip(rcpts, verdicts) if v is None], idx)
            yield c.send(True, msg, ack_every=2)
            yield c.send(False, reply("queued", m=fmt["q"]))
            st["messages"] += 1
            st["message_bytes"] += len(msg)
        if ckind == "bot" and rng.random() < 0.4:
            st["no_quit"] += 1
        else:
            yield c.send(True, b"QUIT\r\n")
            yield c.send(False, reply("quit"))
        yield from self._close(c, rng)

    def _tls(self, c, rng, srv, fmt):
        """STARTTLS, a real ClientHello, then ciphertext-like records."""
        st = self.stats
        st["starttls_sessions"] += 1
        noise = self.pools.noise
        yield c.send(True, b"STARTTLS\r\n")
        yield c.send(False, srv["tls"].format(**fmt).encode())
        yield c.send(True, CLIENT_HELLO)

        def records(kind, total):
            out = []
            while total > 0:
                n = min(total, 16384)
                o = rng.randrange(len(noise) - n)
                out.append(bytes((kind, 3, 3, n >> 8, n & 0xff)) + noise[o:o + n])
                total -= n
            return b"".join(out)

        yield c.send(False, records(22, rng.randint(2500, 5200)), ack_every=2)
        yield c.send(True, records(23, 80))
        yield c.send(True, records(23, int(1000 * (20 ** rng.random()))), ack_every=2)
        yield c.send(False, records(23, 120))
        yield from self._close(c, rng)

    def _close(self, c, rng):
        yield [c.frame(True, FIN | ACK)]
        yield [c.frame(False, FIN | ACK)]
        yield [c.frame(True, ACK)]

    def run(self, out):
        a = self.args
        st = self.stats
        out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        buf = []
        buflen = 0
        ts = 0  # microseconds since T0
        pack = struct.Struct("<IIII").pack
        q = collections.deque()
        started = 0
        while started < min(a.concurrency, a.sessions):
            q.append(self.session(started))
            started += 1
        frames = 0
        while q:
            g = q.popleft()
            try:
                turn = next(g)
            except StopIteration:
                if started < a.sessions:
                    q.append(self.session(started))
                    started += 1
                continue
            q.append(g)
            for f in turn:
                ts += 11
                n = len(f)
                buf.append(pack(T0 + ts // 1000000, ts % 1000000, n, n))
                buf.append(f)
                buflen += n + 16
            frames += len(turn)
            if buflen > 1 << 22:
                out.write(b"".join(buf))
                buf.clear()
                buflen = 0
        out.write(b"".join(buf))
        st["packets"] = frames


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", "-n", type=int, default=100000)
    ap.add_argument("--concurrency", "-c", type=int, default=200,
                    help="sessions open at once (default 200; = --sessions for all SYNs first)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vms", type=int, default=400, help="number of guest VMs (client addresses)")
    ap.add_argument("--ipv6-frac", type=float, default=0.08)
    ap.add_argument("--vlan-frac", type=float, default=0.1)
    ap.add_argument("--starttls-frac", type=float, default=0.05)
    ap.add_argument("--out", "-o", required=True)
    ap.add_argument("--meta", help="sidecar JSON (default OUT.json)")
    args = ap.parse_args()
    if args.sessions < 0 or args.concurrency < 1 or args.vms < 1:
        ap.error("bad counts")
    t = time.time()
    g = Gen(args)
    with open(args.out, "wb") as f:
        g.run(f)
        size = f.tell()
    meta = dict(g.stats)
    meta.update(file=args.out, bytes=size, seed=args.seed, concurrency=args.concurrency,
                vms=args.vms, generator="tests/bench/gen_capture.py")
    meta.setdefault("messages", 0)
    with open(args.meta or args.out + ".json", "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
        f.write("\n")
    print("gen_capture: %d sessions, %d messages, %d packets, %.1f MB in %.1f s" %
          (meta["sessions"], meta["messages"], meta["packets"], size / 1e6, time.time() - t),
          file=sys.stderr)


if __name__ == "__main__":
    main()
