# SPDX-License-Identifier: MIT
"""The evaluation's scenarios, generated as pcaps (tests/eval/run.py).

generate(name, seed, outdir, corpus, scale) writes outdir/NAME.pcap,
NAME.map.json (the agent's --vm-map) and NAME.label.json
({"spam_vms", "legit_vms", "spam_start": {uuid: ts}, "expect": {uuid:
"block"|"ok"|"alert"}, "whitelisted": [...]}).  Deterministic for (name,
seed, scale).  Guests are in 198.18.0.0/16, remote MXs in 198.19.0.0/16;
each MX speaks like a real provider (banners and reply texts as Gmail,
Microsoft 365, Yahoo, Postfix and Exim send them, including the
rejections: user unknown, blocklists, rate limits).  Bodies come from the
SpamAssassin corpus (corpus.py): ham for legitimate mail, spam for spam.

scale (0 < scale <= 1) shrinks volumes (the newsletter's recipients, burst
lengths) but not rates or durations: a scenario's detection time stays
comparable between the small run in make check and the full make eval."""
import json
import os
import random
import uuid as uuidlib

from smtpgen import Pcap

T0 = 1798761600          # 2027-01-01 00:00:00 UTC
NS = uuidlib.UUID("5a1e0000-7a77-4000-8000-000000000000")

# name, banner, OK for RCPT, OK for DATA (%s: a queue id), user unknown,
# blocklist, rate limit
PROVIDERS = [
    ("gmail", b"220 mx.google.example ESMTP a1si1234567wrb.112 - gsmtp\r\n",
     b"250 2.1.5 OK a1si1234567wrb.112 - gsmtp\r\n", b"250 2.0.0 OK  %s a1si1234567wrb.112 - gsmtp\r\n",
     b"550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
     b"550 5.1.1 double-checking the recipient's email address for typos. - gsmtp\r\n",
     b"550-5.7.1 [%(ip)s 12] Our system has detected that this message is likely\r\n"
     b"550 5.7.1 unsolicited mail. To reduce the amount of spam sent to Gmail, this message has been blocked. - gsmtp\r\n",
     b"421-4.7.28 [%(ip)s 15] Our system has detected an unusual rate of\r\n"
     b"421 4.7.28 unsolicited mail originating from your IP address. - gsmtp\r\n"),
    ("outlook", b"220 EUR01-VE1-obe.outbound.protection.outlook.example Microsoft ESMTP MAIL Service ready\r\n",
     b"250 2.1.5 Recipient OK\r\n", b"250 2.6.0 <%s@guest> [InternalId=1234] Queued mail for delivery\r\n",
     b"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup\r\n",
     b"550 5.7.1 Unfortunately, messages from [%(ip)s] weren't sent. Please contact your Internet service "
     b"provider since part of their network is on our block list (S3150).\r\n",
     b"451 4.7.500 Server busy. Please try again later from [%(ip)s]. (S77714)\r\n"),
    ("yahoo", b"220 mta7.am0.yahoodns.example ESMTP ready\r\n",
     b"250 recipient <ok> ok\r\n", b"250 ok dirdel %s\r\n",
     b"554 delivery error: dd This user doesn't have a yahoo.com account [0] - mta7.am0\r\n",
     b"553 5.7.1 [BL21] Connections will not be accepted from %(ip)s, because the ip is in "
     b"Spamhaus's list; see https://postmaster.yahooinc.com/error-codes\r\n",
     b"421 4.7.0 [TSS04] Messages from %(ip)s temporarily deferred due to unexpected volume or user complaints\r\n"),
    ("postfix", b"220 mail.example.net ESMTP Postfix (Debian/GNU)\r\n",
     b"250 2.1.5 Ok\r\n", b"250 2.0.0 Ok: queued as %s\r\n",
     b"550 5.1.1 <user@example.net>: Recipient address rejected: User unknown in local recipient table\r\n",
     b"554 5.7.1 Service unavailable; Client host [%(ip)s] blocked using zen.spamhaus.org; "
     b"https://www.spamhaus.org/query/ip/%(ip)s\r\n",
     b"450 4.7.1 Client host rejected: cannot find your reverse hostname, [%(ip)s]\r\n"),
    ("exim", b"220 mx1.example.org ESMTP Exim 4.96 Mon, 01 Jan 2027 00:00:00 +0000\r\n",
     b"250 Accepted\r\n", b"250 OK id=%s\r\n",
     b"550 Unrouteable address\r\n",
     b"550 5.7.1 Rejected: %(ip)s listed at dnsbl-1.uceprotect.net\r\n",
     b"451 4.7.1 Please try again later\r\n"),
]
EHLO_REPLY = b"250-mx\r\n250-PIPELINING\r\n250-SIZE 52428800\r\n250-8BITMIME\r\n250 STARTTLS\r\n"
WORDS = ("offer price deal money free bonus click today limited exclusive winner credit loan pharmacy "
         "watch replica discount save now order cheap best quality fast secure guaranteed").split()


class VM:
    def __init__(self, sc, name, ip, whitelisted=False, spam=False, plan="vps-s", expect=None):
        self.name, self.ip, self.whitelisted, self.spam = name, ip, whitelisted, spam
        self.uuid = str(uuidlib.uuid5(NS, "%s/%d/%s" % (sc.name, sc.seed, name)))
        self.plan = plan
        self.expect = expect or ("block" if spam else "ok")
        self.domain = "%s.guest.example" % name
        self.port = 30000
        self.first_spam = None


class Scenario:
    def __init__(self, name, seed, corpus, scale):
        self.name, self.seed, self.corpus, self.scale = name, seed, corpus, scale
        self.rng = random.Random("%s/%d" % (name, seed))
        self.vms = []
        self.sessions = []        # (t, vm, kwargs) written in one pass at the end
        self.qid = 0

    def vm(self, *a, **k):
        v = VM(self, *a, **k)
        self.vms.append(v)
        return v

    def mx(self, i=None, big=0.75):
        """(ip, provider): a remote MX.  i picks a stable one; else with
        probability big one of the large mailbox providers' MXs (a few
        addresses in two /24s each: most people's mail is there), else one
        of the long tail of domains, each on its own network."""
        if i is None and self.rng.random() < big:
            k = self.rng.randrange(3)
            return "198.19.%d.%d" % (200 + 2 * k + self.rng.randrange(2), 25 + self.rng.randrange(4)), PROVIDERS[k]
        n = self.rng.randrange(1 << 16) if i is None else i
        return "198.19.%d.%d" % (n % 190 + 1, 25 + n // 190 % 200), PROVIDERS[n % len(PROVIDERS)]

    def message(self, vm, kind, subject=None, headers=b"", rcpt="someone@example.test", src=None, mutation=None):
        """A message of vm: src (a corpus Message; else one of kind picked
        now) with its own MIME headers and body, mutated (mutate()) when
        asked, under vm's envelope headers and subject."""
        m = src or self.corpus.pick(kind, self.rng)
        self.qid += 1
        subj = subject if subject is not None else (m.subject or "(no subject)")
        date = "Fri, 01 Jan 2027 00:00:00 +0000"
        h = ("From: <%s@%s>\r\nTo: <%s>\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d.%s@%s>\r\n"
             % ("info" if not vm.spam else "mail", vm.domain, rcpt, subj, date, self.qid, self.seed, vm.domain)).encode()
        mime = (m.mime + "\r\n").encode("utf-8", "replace") if m.mime else b""
        b = m.body.encode("utf-8", "replace")
        if mutation:
            b = mutate(self.rng, b, mutation)
        return h + headers + mime + b"\r\n" + b

    def send(self, t, vm, msgs, ehlo=None, mx=None, starttls=False, outcome=None):
        """One session from vm at t carrying msgs [(message, n_rcpts)];
        outcome(provider) -> reply class per recipient: "ok", "unknown",
        "blocklist", "ratelimit" (default: all ok)."""
        vm.port = vm.port + 1 if vm.port < 60000 else 30001   # one flow per session
        ip, prov = mx or self.mx(big=0.4 if vm.spam else 0.75)
        txns = []
        ipb = vm.ip.encode()
        for msg, n in msgs:
            rcpts = []
            for k in range(n):
                o = outcome(prov) if outcome else "ok"
                reply = {"ok": prov[2], "unknown": prov[4], "blocklist": prov[5], "ratelimit": prov[6]}[o]
                rcpts.append((b"RCPT TO:<user%d@example.test>\r\n" % self.rng.randrange(10 ** 6),
                              reply.replace(b"%(ip)s", ipb)))
            self.qid += 1
            txns.append((b"MAIL FROM:<mail@%s>\r\n" % vm.domain.encode(), b"250 2.1.0 Ok\r\n", rcpts, msg,
                         prov[3].replace(b"%s", b"%X" % (0x4F1A2B3C + self.qid))))
        if vm.spam and vm.first_spam is None and msgs:
            vm.first_spam = t
        self.sessions.append((t, vm, vm.port, ip, prov, ehlo, txns, starttls))

    def write(self, outdir):
        path = os.path.join(outdir, "%s-s%d" % (self.name, self.seed))
        with open(path + ".pcap", "wb") as f:
            p = Pcap(f)
            for t, vm, port, ip, prov, ehlo, txns, starttls in self.sessions:
                p.session(t, vm.ip, ip, port, prov[1],
                          ehlo or b"EHLO %s\r\n" % vm.domain.encode(), EHLO_REPLY, txns,
                          rtt=0.02 + self.rng.random() * 0.06, starttls=starttls)
            p.close()
        vmmap = {v.ip: {"uuid": v.uuid, "name": "%s-%s" % (self.name, v.name), "plan": v.plan,
                        "whitelisted": v.whitelisted} for v in self.vms}
        with open(path + ".map.json", "w") as f:
            json.dump(vmmap, f, indent=1)
        label = {"scenario": self.name, "seed": self.seed,
                 "spam_vms": [v.uuid for v in self.vms if v.spam],
                 "legit_vms": [v.uuid for v in self.vms if not v.spam],
                 "whitelisted": [v.uuid for v in self.vms if v.whitelisted],
                 "spam_start": {v.uuid: v.first_spam for v in self.vms if v.first_spam},
                 "expect": {v.uuid: v.expect for v in self.vms}}
        with open(path + ".label.json", "w") as f:
            json.dump(label, f, indent=1)
        return path


def poisson(rng, rate_per_s, t0, t1):
    """Event times of a Poisson process in [t0, t1)."""
    t = t0
    while True:
        t += rng.expovariate(rate_per_s)
        if t >= t1:
            return
        yield t


def legit_outcome(rng, unknown=0.01, defer=0.0):
    def f(prov):
        x = rng.random()
        return "unknown" if x < unknown else "ratelimit" if x < unknown + defer else "ok"
    return f


def spam_outcome(rng, unknown=0.25, blocklist=0.1):
    def f(prov):
        x = rng.random()
        return "unknown" if x < unknown else "blocklist" if x < unknown + blocklist else "ok"
    return f


def mutate(rng, body, how):
    """Evasion: word substitution or padding of a spam body."""
    if how == "words":
        words = body.split(b" ")
        for _ in range(max(3, len(words) // 8)):
            words[rng.randrange(len(words))] = rng.choice(WORDS).encode()
        return b" ".join(words)
    if how == "padding":
        pad = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(20, 120)))
        return body + b"\r\n\r\n" + pad.encode()
    return body


# ---- the scenarios ----------------------------------------------------------------------------

def transactional(sc):
    """Order and password mails at 10-60 an hour per shop for 3 hours, and
    one shop's burst of order confirmations after a marketing mail."""
    for i, rate in enumerate((10, 30, 60)):
        v = sc.vm("shop%d" % i, "198.18.1.%d" % (10 + i))
        for t in poisson(sc.rng, rate / 3600, T0, T0 + 3 * 3600):
            kind = sc.rng.choice(("Your order #%d has shipped", "Reset your password (request %d)",
                                  "Your receipt %d"))
            sc.send(t, v, [(sc.message(v, "ham", kind % sc.rng.randrange(10000, 99999)), 1)],
                    outcome=legit_outcome(sc.rng))
        if i == 2:   # the marketing event: 120 orders in 20 minutes
            for t in poisson(sc.rng, 120 / 1200, T0 + 3600, T0 + 3600 + 1200):
                sc.send(t, v, [(sc.message(v, "ham", "Your order #%d is confirmed" % sc.rng.randrange(10 ** 5)), 1)],
                        outcome=legit_outcome(sc.rng))


def newsletter(sc):
    """A whitelisted list: 100k recipients in an hour (scaled), one body,
    List-Unsubscribe one-click and DKIM, 20 messages of 10 recipients per
    connection to the big providers."""
    v = sc.vm("news", "198.18.2.10", whitelisted=True)
    n_msgs = int(10000 * sc.scale)
    hdr = (b"List-Unsubscribe: <https://news.shop.example/u?id=%d>, <mailto:unsub@shop.example>\r\n"
           b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\nPrecedence: bulk\r\n"
           b"DKIM-Signature: v=1; a=rsa-sha256; d=shop.example; s=sel1; h=from:to:subject; bh=abc=; b=def=\r\n")
    src = sc.corpus.pick("ham", sc.rng)
    per = 20
    for k in range(n_msgs // per):
        t = T0 + 600 + 3600.0 * k / (n_msgs // per)
        msgs = [(sc.message(v, "ham", "Our December newsletter", headers=hdr % (k * per + j), src=src), 10)
                for j in range(per)]
        sc.send(t, v, msgs, mx=sc.mx(k % 5), outcome=legit_outcome(sc.rng, unknown=0.005, defer=0.005))


def small_business(sc):
    """A normal mail server: 5-30 messages an hour, 1-4 recipients, mail
    from the corpus's real subjects, some greylisting and a typo."""
    for i in range(2):
        v = sc.vm("office%d" % i, "198.18.3.%d" % (10 + i), plan="vps-l")
        for t in poisson(sc.rng, sc.rng.uniform(5, 30) / 3600, T0, T0 + 3 * 3600):
            sc.send(t, v, [(sc.message(v, "ham"), sc.rng.randint(1, 4))],
                    outcome=legit_outcome(sc.rng, unknown=0.02, defer=0.03))


def _normal_then(sc, v, t_spam):
    """A few ordinary mails before a VM turns into a spambot at t_spam."""
    for t in poisson(sc.rng, 6 / 3600, T0, t_spam):
        sc.send(t, v, [(sc.message(v, "ham"), 1)], outcome=legit_outcome(sc.rng))
    v.spam, v.expect = True, "block"


def _burst(sc, v, t0, seconds, per_min, mutation=None, ehlo=None, starttls=False, clean=False):
    base = sc.corpus.pick("spam", sc.rng)
    # a body that is changed must stay what its headers say: one part, not encoded
    for _ in range(500):
        if not mutation or sc.corpus.plain(base):
            break
        base = sc.corpus.pick("spam", sc.rng)
    subj = sc.corpus.pick("spam", sc.rng).subject or "Special offer"
    for t in poisson(sc.rng, per_min / 60, t0, t0 + seconds):
        msg = sc.message(v, "spam", "%s %d" % (subj, sc.rng.randrange(1000, 9999)), src=base, mutation=mutation)
        sc.send(t, v, [(msg, sc.rng.randint(1, 3))], ehlo=ehlo, starttls=starttls,
                outcome=spam_outcome(sc.rng, unknown=0.02, blocklist=0.0) if clean else spam_outcome(sc.rng))


def spambot(sc):
    """A compromised VM: after 20 minutes of ordinary mail, 300
    connections a minute to many MXs for 15 minutes (scaled), random
    subjects from a template, many 550s; its neighbour stays ordinary."""
    v = sc.vm("bot", "198.18.4.10")
    n = sc.vm("neighbour", "198.18.4.11")
    t_spam = T0 + 1200
    _normal_then(sc, v, t_spam)
    _burst(sc, v, t_spam, 900 * sc.scale + 60, 300, ehlo=b"EHLO localhost\r\n")
    for t in poisson(sc.rng, 20 / 3600, T0, T0 + 3600):
        sc.send(t, n, [(sc.message(n, "ham"), 1)], outcome=legit_outcome(sc.rng))


def low_and_slow(sc):
    """3 messages a minute of varied spam (a different corpus message each
    time) for 3 hours, to many MXs."""
    v = sc.vm("slow", "198.18.5.10", spam=True)
    for t in poisson(sc.rng, 3 / 60, T0, T0 + 3 * 3600):
        sc.send(t, v, [(sc.message(v, "spam"), 1)], outcome=spam_outcome(sc.rng, unknown=0.1, blocklist=0.05))


def dictionary(sc):
    """A directory-harvest attack: 10 guessed recipients per message, one
    message every 5 s, 85% of them 550 5.1.1."""
    v = sc.vm("harvest", "198.18.6.10", spam=True)
    for t in poisson(sc.rng, 1 / 5, T0, T0 + 1200):
        sc.send(t, v, [(sc.message(v, "spam"), 10)], mx=sc.mx(sc.rng.randrange(20)),
                outcome=spam_outcome(sc.rng, unknown=0.85, blocklist=0.0))


def blocklisted(sc):
    """A sender already listed: 2 messages a minute, and most MXs answer
    554 "blocked using" (Spamhaus, UCEPROTECT, Microsoft's, Yahoo's list)."""
    v = sc.vm("listed", "198.18.7.10", spam=True)
    for t in poisson(sc.rng, 2 / 60, T0, T0 + 3600):
        sc.send(t, v, [(sc.message(v, "spam"), 1)], outcome=spam_outcome(sc.rng, unknown=0.05, blocklist=0.8))


def campaign(sc):
    """The same campaign spread over 20 VMs: each sends 6 copies in 10
    minutes, within the same half hour: below every per-VM threshold."""
    subj = sc.corpus.pick("spam", sc.rng).subject or "Your chance"
    src = sc.corpus.pick("spam", sc.rng)
    for i in range(20):
        v = sc.vm("c%02d" % i, "198.18.8.%d" % (10 + i), spam=True)
        t0 = T0 + 600 + sc.rng.uniform(0, 1800)
        for k in range(6):
            sc.send(t0 + k * 100 + sc.rng.uniform(0, 30), v,
                    [(sc.message(v, "spam", "%s #%d" % (subj, sc.rng.randrange(100, 999)), src=src), 1)],
                    outcome=spam_outcome(sc.rng, unknown=0.1, blocklist=0.05))


def whitelisted_compromised(sc):
    """A whitelisted newsletter VM that gets compromised: its list mail,
    then a burst at 600 a minute.  Whitelisted VMs are never blocked (the
    policy's whitelisted.mode): the expected outcome is an alert."""
    v = sc.vm("wlnews", "198.18.9.10", whitelisted=True, expect="alert")
    for t in poisson(sc.rng, 30 / 60, T0, T0 + 1200):
        sc.send(t, v, [(sc.message(v, "ham", "Weekly digest"), 5)], outcome=legit_outcome(sc.rng))
    v.first_spam = T0 + 1200
    _burst(sc, v, T0 + 1200, 600 * sc.scale + 60, 600)


def starttls_spam(sc):
    """Spam hidden by STARTTLS: a burst of 300 TLS connections a minute,
    and a low-and-slow TLS sender at 2 a minute for 3 hours; only
    connection counts are visible."""
    v = sc.vm("tlsburst", "198.18.10.10", spam=True)
    _burst(sc, v, T0 + 600, 900 * sc.scale + 60, 300, starttls=True)
    w = sc.vm("tlsslow", "198.18.10.11", spam=True)
    for t in poisson(sc.rng, 2 / 60, T0, T0 + 3 * 3600):
        sc.send(t, w, [(sc.message(w, "spam"), 1)], starttls=True)


def evasion(sc):
    """Burst variants built to slip under the rules: 45 a minute (under
    the 1-minute ceiling), a proper EHLO and Postfix-like dialogue, word
    substitution, random padding (no two bodies alike), and all of these
    at once to a clean (bought, verified) list that is rarely refused."""
    variants = [("slower", dict(per_min=45)), ("ehlo", dict(per_min=200, ehlo=b"EHLO mail.shop-outlet.example\r\n")),
                ("words", dict(per_min=200, mutation="words")), ("padding", dict(per_min=200, mutation="padding")),
                ("clean-list", dict(per_min=45, mutation="padding", ehlo=b"EHLO mail.shop-outlet.example\r\n",
                                    clean=True))]
    for i, (name, kw) in enumerate(variants):
        v = sc.vm(name, "198.18.11.%d" % (10 + i), spam=True)
        per = kw.pop("per_min")
        _burst(sc, v, T0 + 300, 1800 * sc.scale + 120, per, **kw)


SCENARIOS = {
    "transactional": transactional, "newsletter": newsletter, "small-business": small_business,
    "spambot": spambot, "low-and-slow": low_and_slow, "dictionary": dictionary,
    "blocklisted": blocklisted, "campaign-20vms": campaign,
    "whitelisted-compromised": whitelisted_compromised, "starttls-spam": starttls_spam, "evasion": evasion,
}


def generate(name, seed, outdir, corpus, scale=1.0):
    sc = Scenario(name, seed, corpus, scale)
    SCENARIOS[name](sc)
    sc.sessions.sort(key=lambda x: x[0])
    return sc.write(outdir)
