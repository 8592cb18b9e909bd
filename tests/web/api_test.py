#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The controller's HTTP API against its contract, doc/openapi.yaml.

    BASE_URL=http://127.0.0.1:18451 TOKEN_VIEWER=tw_... TOKEN_SUPPORT=tw_... \\
    TOKEN_ADMIN=tw_... VM_KNOWN=UUID VM_FREE=UUID OPENAPI=doc/openapi.yaml \\
    /usr/bin/python3 tests/web/api_test.py

VM_KNOWN: a VM the controller has stats and a verdict for (only read).
VM_FREE: another known VM, neither blocked nor whitelisted at the start;
the test blocks, unblocks, whitelists and revokes it, and leaves it as it
found it.  Optional: VM_BLOCKED, a VM that must be blocked (only read).

Every endpoint without a token and with a garbage one (401), every
operation with every role (the least role is the operation's x-roles in
the OpenAPI document: 403 below it), every response body validated against
the response schema the document gives for its path, method and status,
the writes' effects (VM list, VM detail, audit log, event feed), token
management, and the strict validation of query strings and bodies.
Prints "PASS name" or "FAIL name: why" per check and a summary line;
exits 1 on any failure (2 when the environment is incomplete).  Every
network call has a timeout.
"""
import copy
import http.client
import json
import os
import queue
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

try:
    import jsonschema
    import yaml
except ImportError as e:  # pragma: no cover
    print("FAIL setup: %s (apt-get install python3-jsonschema python3-yaml)" % e)
    sys.exit(2)

TIMEOUT = 5.0          # every plain request
FEED_TIMEOUT = 20.0    # a feed's socket (keepalive comments come every 15 s)
CACHE_WAIT = 3.0       # the VM list and the tokens are caches refreshed within ~1 s
EVENT_WAIT = 5.0
ROLE_RANK = {"none": 0, "viewer": 1, "support": 2, "admin": 3}
ROLES = ("viewer", "support", "admin")
RUN = "%d-%d" % (os.getpid(), int(time.time()))

# The endpoints doc/api.md names: the OpenAPI document must hold them all.
DOC_ENDPOINTS = {
    ("get", "/healthz"), ("get", "/metrics"), ("get", "/v1/whoami"), ("get", "/v1/status"),
    ("get", "/v1/vms"), ("get", "/v1/vms/{uuid}"), ("get", "/v1/blocks"), ("post", "/v1/blocks"),
    ("delete", "/v1/blocks/{uuid}"), ("get", "/v1/whitelist"), ("post", "/v1/whitelist"),
    ("get", "/v1/whitelist/{uuid}"), ("delete", "/v1/whitelist/{uuid}"), ("get", "/v1/agents"),
    ("get", "/v1/audit"), ("get", "/v1/events"), ("get", "/v1/tokens"), ("post", "/v1/tokens"),
    ("delete", "/v1/tokens/{name}"), ("get", "/v1/requests"), ("post", "/v1/requests"),
    ("get", "/v1/requests/{id}"), ("get", "/v1/requests/{id}/files/{name}"),
    ("post", "/v1/requests/{id}/approve"), ("post", "/v1/requests/{id}/reject"),
    ("post", "/v1/requests/{id}/recheck"),
}
REQ_ID = os.environ.get("REQ_ID", "1")     # a pending whitelist request run.sh filed
STATIC = {"/": "text/html", "/ui/app.js": "text/javascript", "/ui/app.css": "text/css"}

# ---- results ---------------------------------------------------------------------------

PASSED = 0
FAILED = 0


def check(name, ok, why=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print("PASS %s" % name, flush=True)
    else:
        FAILED += 1
        print("FAIL %s: %s" % (name, why), flush=True)
    return bool(ok)


def env(name, required=True):
    v = os.environ.get(name, "")
    if required and not v:
        print("FAIL setup: environment variable %s is not set" % name)
        sys.exit(2)
    return v


BASE = env("BASE_URL").rstrip("/")
TOK = {"viewer": env("TOKEN_VIEWER"), "support": env("TOKEN_SUPPORT"), "admin": env("TOKEN_ADMIN")}
VM_KNOWN = env("VM_KNOWN").lower()
VM_FREE = env("VM_FREE").lower()
VM_BLOCKED = env("VM_BLOCKED", False).lower()
OPENAPI = env("OPENAPI")
NOBODY_UUID = "00000000-0000-4000-8000-%012d" % (os.getpid() % 10**12)   # a VM nobody heard of
GARBAGE = "tw_" + "0" * 64

# ---- the OpenAPI document as JSON Schema -----------------------------------------------------

with open(OPENAPI, encoding="utf-8") as f:
    SPEC = yaml.safe_load(f)

OAS_ONLY = {"nullable", "example", "examples", "discriminator", "xml", "externalDocs", "deprecated"}


def pointer(ref):
    if not ref.startswith("#/"):
        raise ValueError("only local $ref supported: %s" % ref)
    node = SPEC
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def deref(node):
    while isinstance(node, dict) and "$ref" in node:
        node = pointer(node["$ref"])
    return node


def to_jsonschema(s, stack=()):
    """An OpenAPI 3.0 schema as a self-contained JSON Schema (draft 7): $refs
    inlined, nullable: true turned into anyOf [..., null], OpenAPI-only
    keywords and x- extensions dropped."""
    if isinstance(s, list):
        return [to_jsonschema(x, stack) for x in s]
    if not isinstance(s, dict):
        return s
    if "$ref" in s:
        if s["$ref"] in stack:
            raise ValueError("recursive $ref %s" % s["$ref"])
        return to_jsonschema(pointer(s["$ref"]), stack + (s["$ref"],))
    out = {}
    for k, v in s.items():
        if k in OAS_ONLY or k.startswith("x-"):
            continue
        if k in ("properties", "patternProperties"):
            out[k] = {pk: to_jsonschema(pv, stack) for pk, pv in v.items()}
        elif k in ("enum", "required", "default"):
            out[k] = copy.deepcopy(v)
        else:
            out[k] = to_jsonschema(v, stack)
    if s.get("nullable") is True:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


_validators = {}


def validator(schema):
    key = json.dumps(schema, sort_keys=True)
    if key not in _validators:
        js = to_jsonschema(schema)
        jsonschema.Draft7Validator.check_schema(js)
        _validators[key] = jsonschema.Draft7Validator(js)
    return _validators[key]


def schema_errors(schema, obj):
    """'' when obj validates against the OpenAPI schema, else the reasons."""
    errs = sorted(validator(schema).iter_errors(obj), key=lambda e: list(e.absolute_path))
    if not errs:
        return ""
    out = []
    for e in errs[:3]:
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        best = jsonschema.exceptions.best_match([e])
        out.append("%s: %s" % (where, best.message[:160]))
    return "; ".join(out) + (" (+%d more)" % (len(errs) - 3) if len(errs) > 3 else "")


def component(name):
    return SPEC["components"]["schemas"][name]


TEMPLATES = []
for _t in SPEC.get("paths", {}):
    _rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(_t)) + "$"
    TEMPLATES.append((_t, re.compile(_rx)))


def template_of(path):
    p = urllib.parse.urlsplit(path).path
    exact = [t for t, rx in TEMPLATES if t == p]
    if exact:
        return exact[0]
    for t, rx in TEMPLATES:
        if rx.match(p):
            return t
    return None


# Statuses any path may answer (the document lists them once, in components).
ANY_PATH = {404: "NotFound", 405: "MethodNotAllowed", 414: "UriTooLong"}


def response_spec(method, path, status):
    """(response object, where) the document gives, or (None, why)."""
    t = template_of(path)
    op = SPEC["paths"].get(t, {}).get(method.lower()) if t else None
    if op is not None:
        r = op.get("responses", {}).get(str(status))
        if r is not None:
            return deref(r), "%s %s %s" % (method, t, status)
    if status in ANY_PATH:
        return deref(SPEC["components"]["responses"][ANY_PATH[status]]), "components/responses/" + ANY_PATH[status]
    if op is None:
        return None, "no operation %s %s in the document" % (method, t or path)
    return None, "%s %s does not declare status %d" % (method, t, status)


def json_schema_of(method, path, status):
    r, where = response_spec(method, path, status)
    if r is None:
        return None, where
    c = r.get("content", {}).get("application/json")
    if c is None or "schema" not in c:
        return None, where + " has no application/json schema"
    return c["schema"], where


# ---- HTTP ------------------------------------------------------------------------------------

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Resp:
    def __init__(self, status, headers, body, err=""):
        self.status, self.headers, self.body, self.err = status, headers, body, err
        self._json = None
        self.json_ok = False
        try:
            self._json = json.loads(body.decode("utf-8"))
            self.json_ok = True
        except (ValueError, UnicodeDecodeError):
            pass

    @property
    def json(self):
        return self._json

    def header(self, k):
        return self.headers.get(k) if self.headers is not None else None

    def brief(self):
        if self.err:
            return self.err
        return "status %d, body %r" % (self.status, self.body[:200])


def request(method, path, token=None, body=None, raw=None, ctype="application/json", headers=None,
            timeout=TIMEOUT):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None and ctype:
        req.add_header("Content-Type", ctype)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with OPENER.open(req, timeout=timeout) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        try:
            b = e.read()
        except (OSError, http.client.HTTPException):
            b = b""
        return Resp(e.code, e.headers, b)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        return Resp(0, None, b"", "%s %s: %s" % (method, path, e))


def expect(name, r, status, method, path, want_json=True):
    """r has status and, when JSON, a body valid against the document's
    schema for (path, method, status).  True when all holds."""
    if r.status != status:
        return check(name, False, "expected %d, got %s" % (status, r.brief()))
    if not want_json:
        return check(name, True)
    schema, where = json_schema_of(method, path, status)
    if schema is None:
        return check(name, False, where)
    ct = r.header("Content-Type") or ""
    if not ct.startswith("application/json"):
        return check(name, False, "Content-Type %r, expected application/json" % ct)
    if not r.json_ok:
        return check(name, False, "body is not JSON: %r" % r.body[:200])
    errs = schema_errors(schema, r.json)
    return check(name, not errs, "body does not match %s: %s; body %s" % (where, errs, r.body[:300]))


def poll_until(fn, timeout=CACHE_WAIT, step=0.15):
    """fn() until it returns a true value or timeout: its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


# ---- the event feed ------------------------------------------------------------------------------

def sid_key(s):
    m = re.match(r"^(\d+)-(\d+)$", s or "")
    return (int(m.group(1)), int(m.group(2))) if m else (-1, -1)


class Feed:
    """GET /v1/events read by a thread into a queue of events
    {id, event, data (parsed or None), raw}."""

    def __init__(self, token, query="", headers=None):
        self.q = queue.Queue()
        self.events = []
        self.comments = 0
        self.resp = None
        self.closed = False
        self.err = ""
        req = urllib.request.Request(BASE + "/v1/events" + query, method="GET")
        req.add_header("Authorization", "Bearer " + token)
        req.add_header("Accept", "text/event-stream")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            self.resp = OPENER.open(req, timeout=FEED_TIMEOUT)
            self.status = self.resp.status
            self.ctype = self.resp.headers.get("Content-Type") or ""
        except urllib.error.HTTPError as e:
            self.status, self.ctype = e.code, e.headers.get("Content-Type") or ""
            try:
                self.body = e.read()
            except (OSError, http.client.HTTPException):
                self.body = b""
            return
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            self.status, self.ctype, self.err = 0, "", str(e)
            return
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        ev, data = {}, []
        try:
            while not self.closed:
                line = self.resp.readline()
                if not line:
                    break
                line = line.decode("utf-8", "replace").rstrip("\r\n")
                if line == "":
                    if data:
                        raw = "\n".join(data)
                        try:
                            parsed = json.loads(raw)
                        except ValueError:
                            parsed = None
                        self.q.put({"id": ev.get("id"), "event": ev.get("event"), "data": parsed, "raw": raw})
                    ev, data = {}, []
                elif line.startswith(":"):
                    self.comments += 1
                else:
                    k, _, v = line.partition(":")
                    v = v[1:] if v.startswith(" ") else v
                    if k == "data":
                        data.append(v)
                    else:
                        ev[k] = v
        except Exception as e:   # socket timeout, closed under us
            if not self.closed:
                self.err = str(e)

    def wait_for(self, pred, timeout):
        """The first event (already received or arriving within timeout)
        for which pred(event) holds, or None."""
        for e in self.events:
            if pred(e):
                return e
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                e = self.q.get(timeout=left)
            except queue.Empty:
                return None
            self.events.append(e)
            if pred(e):
                return e

    def drain(self, quiet=0.5, timeout=3.0):
        """Collect what arrives until quiet seconds pass without an event."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.events.append(self.q.get(timeout=quiet))
            except queue.Empty:
                break
        return self.events

    def close(self):
        self.closed = True
        if self.resp is None:
            return
        try:
            sock = self.resp.fp.raw._sock   # unblock the reader's recv
            sock.shutdown(socket.SHUT_RDWR)
        except Exception:
            pass
        try:
            self.resp.close()
        except Exception:
            pass


def event_errors(e):
    """'' when the event's data validates against the document's event schema
    and its id/event lines agree with it."""
    op = SPEC["paths"]["/v1/events"]["get"]
    schema = deref(op["responses"]["200"]).get("x-event-data")
    if schema is None:
        return "the document gives no x-event-data schema for GET /v1/events 200"
    if e["data"] is None:
        return "data is not JSON: %r" % e["raw"][:200]
    errs = schema_errors(schema, e["data"])
    if errs:
        return errs + "; data " + e["raw"][:300]
    if e["id"] != e["data"].get("id"):
        return "id: line %r but data.id %r" % (e["id"], e["data"].get("id"))
    if e["event"] != e["data"].get("type"):
        return "event: line %r but data.type %r" % (e["event"], e["data"].get("type"))
    return ""


# ---- test data for every operation -------------------------------------------------------------------

def concrete(template, method):
    """A concrete path for an operation (writes name VM_FREE, reads VM_KNOWN)."""
    vm = VM_FREE if method != "get" or template.startswith("/v1/whitelist/") else VM_KNOWN
    if template.startswith("/v1/requests/"):
        return template.replace("{id}", REQ_ID).replace("{name}", "sample")
    return (template.replace("{uuid}", vm).replace("{name}", "api-test-none-" + RUN)
            .replace("{file}", "app.js"))


def valid_body(template, method):
    if method == "post" and template == "/v1/blocks":
        return {"uuid": VM_FREE, "duration_s": 600, "reason": "api test " + RUN}
    if method == "post" and template == "/v1/whitelist":
        return {"uuid": VM_FREE, "customer": "C-api", "ticket": "T-" + RUN, "reason": "api test " + RUN}
    if method == "post" and template == "/v1/tokens":
        return {"name": "api-test-forbidden-" + RUN, "role": "viewer"}
    if method == "post" and template == "/v1/requests":
        return {"uuid": VM_FREE, "ticket": "T-" + RUN, "customer": "C-api", "consent_method": "double opt-in",
                "signup_url": "https://a.example/s", "unsubscribe_url": "https://a.example/u", "ips": ["198.51.100.1"],
                "sample": {"name": "s.eml", "content_base64": "RnJvbTogYUBiLmV4YW1wbGUNCg0KaGkNCg=="}}
    if method == "post" and template.endswith("/approve"):
        return {"reason": "api test " + RUN, "duration_s": 3600}
    if method == "post" and template.endswith("/reject"):
        return {"reason": "api test " + RUN}
    if method == "post" and template.endswith("/recheck"):
        return {}
    if method == "delete" and template != "/v1/tokens/{name}":
        return {"reason": "api test " + RUN}
    if method == "delete":
        return {}
    return None


def operations():
    for t, item in SPEC["paths"].items():
        for m, op in item.items():
            if m in ("get", "post", "delete", "put", "patch", "head", "options"):
                yield t, m, op


# ---- the checks ---------------------------------------------------------------------------------------

NAMES = {}          # role -> token name (from whoami)
CLEANUP = []        # (description, callable) run at the end, newest first


def t_document():
    have = {(m, t) for t, m, _ in operations()}
    missing = sorted(DOC_ENDPOINTS - have)
    check("openapi: every endpoint of doc/api.md is documented", not missing, "missing %s" % missing)
    bad = []
    for t, m, op in operations():
        if op.get("x-roles") not in ROLE_RANK:
            bad.append("%s %s x-roles=%r" % (m, t, op.get("x-roles")))
    check("openapi: every operation has x-roles (none, viewer, support or admin)", not bad, "; ".join(bad))
    sec = SPEC.get("components", {}).get("securitySchemes", {}).get("bearer", {})
    check("openapi: securitySchemes bearer is http/bearer", sec.get("type") == "http" and sec.get("scheme") == "bearer",
          repr(sec))
    errs = []
    for name in SPEC["components"]["schemas"]:
        try:
            validator(component(name))
        except Exception as e:
            errs.append("%s: %s" % (name, e))
    for t, m, op in operations():
        for st, r in op.get("responses", {}).items():
            c = deref(r).get("content", {}).get("application/json")
            if c:
                try:
                    validator(c["schema"])
                except Exception as e:
                    errs.append("%s %s %s: %s" % (m, t, st, e))
    check("openapi: every schema is a valid JSON Schema (draft 7) once converted", not errs, "; ".join(errs[:5]))
    need = ["VmSummary", "VmDetail", "Block", "WhitelistRecord", "Agent", "AuditEntry", "Event", "Status", "Token",
            "Error"]
    missing = [n for n in need if n not in SPEC["components"]["schemas"]]
    check("openapi: component schemas " + ", ".join(need), not missing, "missing %s" % missing)


def t_public():
    r = request("GET", "/healthz")
    expect("GET /healthz without a token: 200 {ok, redis}", r, 200, "GET", "/healthz")
    if r.json_ok:
        check("GET /healthz: ok and redis are true", r.json.get("ok") is True and r.json.get("redis") is True,
              r.brief())
    for p, ct in STATIC.items():
        r = request("GET", p)
        if expect("GET %s without a token: 200" % p, r, 200, "GET", p, want_json=False):
            check("GET %s: Content-Type %s, CSP, X-Frame-Options DENY, nosniff" % (p, ct),
                  (r.header("Content-Type") or "").startswith(ct) and r.header("Content-Security-Policy") and
                  (r.header("X-Frame-Options") or "").upper() == "DENY" and
                  (r.header("X-Content-Type-Options") or "").lower() == "nosniff",
                  "headers %s" % dict(r.headers or {}))


def t_unauthenticated():
    ops = [(t, m, op) for t, m, op in operations() if op.get("x-roles") != "none"]
    for label, token in (("without a token", None), ("with a garbage token", GARBAGE)):
        for t, m, op in ops:
            path = concrete(t, m)
            r = request(m.upper(), path, token=token, body=valid_body(t, m))
            if expect("%s %s %s: 401" % (m.upper(), t, label), r, 401, m.upper(), path):
                www = r.header("WWW-Authenticate") or ""
                check("%s %s %s: WWW-Authenticate: Bearer" % (m.upper(), t, label), www.startswith("Bearer"),
                      "WWW-Authenticate %r" % www)
        r = request("GET", "/v1/no-such-thing", token=token)
        expect("GET /v1/no-such-thing %s: 401 before 404" % label, r, 401, "GET", "/v1/whoami")
    r = request("GET", "/v1/whoami", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    expect("GET /v1/whoami with Basic credentials: 401", r, 401, "GET", "/v1/whoami")
    r = request("GET", "/v1/whoami", headers={"Authorization": "Bearer " + TOK["viewer"] + "x"})
    expect("GET /v1/whoami with a token one character longer: 401", r, 401, "GET", "/v1/whoami")


def t_whoami():
    ok = True
    for role in ROLES:
        r = request("GET", "/v1/whoami", token=TOK[role])
        if expect("GET /v1/whoami as %s: 200" % role, r, 200, "GET", "/v1/whoami") and \
                check("GET /v1/whoami as %s: role is %s" % (role, role), r.json.get("role") == role, r.brief()):
            NAMES[role] = r.json["name"]
        else:
            ok = False
    return ok


def t_role_matrix():
    """Every operation with every role: 403 below its x-roles; GETs at or
    above it: 200 and a valid body (writes are exercised further below)."""
    for t, m, op in operations():
        need = op.get("x-roles")
        if need == "none" or t == "/v1/events":
            continue
        for role in ROLES:
            allowed = ROLE_RANK[role] >= ROLE_RANK.get(need, 99)
            path = concrete(t, m)
            if not allowed:
                r = request(m.upper(), path, token=TOK[role], body=valid_body(t, m))
                expect("%s %s as %s: 403 (needs %s)" % (m.upper(), t, role, need), r, 403, m.upper(), path)
            elif m == "get" and t != "/v1/whitelist/{uuid}":
                r = request("GET", path, token=TOK[role])
                if t.endswith("/files/{name}"):
                    if expect("GET %s as %s: 200" % (t, role), r, 200, "GET", path, want_json=False):
                        check("GET %s as %s: an attachment, application/octet-stream" % (t, role),
                              (r.header("Content-Type") or "") == "application/octet-stream" and
                              (r.header("Content-Disposition") or "").startswith("attachment"),
                              "headers %s" % dict(r.headers or {}))
                elif t == "/metrics":
                    if expect("GET /metrics as %s: 200" % role, r, 200, "GET", path, want_json=False):
                        check("GET /metrics as %s: text/plain with tapwarden_controller_vms{" % role,
                              (r.header("Content-Type") or "").startswith("text/plain") and
                              b"tapwarden_controller_vms{" in r.body,
                              "Content-Type %r, body %r" % (r.header("Content-Type"), r.body[:200]))
                else:
                    expect("GET %s as %s: 200, valid" % (t, role), r, 200, "GET", path)
    r = get_vm(VM_FREE)
    check("after the refused writes: VM_FREE is neither blocked nor whitelisted",
          r is not None and r.get("block") is None and r.get("whitelist") is None,
          "VM_FREE detail %s" % (json.dumps(r)[:300] if r else None))


def get_vm(uuid):
    r = request("GET", "/v1/vms/" + uuid, token=TOK["viewer"])
    return r.json if r.status == 200 and r.json_ok else None


def list_vms(query, token=None):
    p = "/v1/vms" + ("?" + query if query else "")
    return p, request("GET", p, token=token or TOK["viewer"])


def t_reads():
    r = request("GET", "/v1/vms/" + VM_KNOWN, token=TOK["viewer"])
    if expect("GET /v1/vms/VM_KNOWN: 200, valid VmDetail", r, 200, "GET", "/v1/vms/" + VM_KNOWN):
        d = r.json
        check("GET /v1/vms/VM_KNOWN: its uuid, with evidence (a verdict) and series (stats)",
              d["uuid"] == VM_KNOWN and len(d["evidence"]) >= 1 and len(d["series"]) >= 1,
              "uuid %s, %d evidence, %d series" % (d["uuid"], len(d["evidence"]), len(d["series"])))
        check("GET /v1/vms/VM_KNOWN: block is null exactly when state is not blocked",
              (d["state"] == "blocked") == (d["block"] is not None), "state %s, block %s" % (d["state"], d["block"]))
        check("GET /v1/vms/VM_KNOWN: evidence, history and series newest first",
              all(sorted([x["ts"] for x in d[k]], reverse=True) == [x["ts"] for x in d[k]]
                  for k in ("evidence", "history", "series")), "timestamps out of order")
    up = VM_KNOWN.upper()
    r = request("GET", "/v1/vms/" + up, token=TOK["viewer"])
    if expect("GET /v1/vms/{UPPER-CASE UUID}: 200", r, 200, "GET", "/v1/vms/" + up):
        check("GET /v1/vms/{UPPER-CASE UUID}: answered with the lower-case uuid", r.json["uuid"] == VM_KNOWN,
              r.json["uuid"])
    r = get_vm(VM_FREE)
    check("precondition: VM_FREE is known, neither blocked nor whitelisted",
          r is not None and r.get("block") is None and r.get("whitelist") is None,
          "VM_FREE detail %s" % (json.dumps(r)[:300] if r else None))

    r = request("GET", "/v1/status", token=TOK["viewer"])
    if r.status == 200 and r.json_ok:
        s = r.json
        check("GET /v1/status: up <= total agents, blocked and alerting <= known VMs",
              s["agents"]["up"] <= s["agents"]["total"] and s["vms"]["blocked"] <= s["vms"]["known"] and
              s["vms"]["alerting"] <= s["vms"]["known"], json.dumps(s))
    r = request("GET", "/v1/blocks", token=TOK["viewer"])
    if r.status == 200 and r.json_ok:
        until = [b["until"] for b in r.json["blocks"]]
        check("GET /v1/blocks: soonest expiry first", until == sorted(until), "until %s" % until)
        if VM_BLOCKED:
            check("GET /v1/blocks: holds VM_BLOCKED", any(b["uuid"] == VM_BLOCKED for b in r.json["blocks"]),
                  "uuids %s" % [b["uuid"] for b in r.json["blocks"]])
    r = request("GET", "/v1/whitelist", token=TOK["viewer"])
    if r.status == 200 and r.json_ok:
        u = [e["uuid"] for e in r.json["entries"]]
        check("GET /v1/whitelist: sorted by UUID", u == sorted(u), "uuids %s" % u)
    r = request("GET", "/v1/agents", token=TOK["viewer"])
    if r.status == 200 and r.json_ok:
        a = r.json["agents"]
        check("GET /v1/agents: at least one agent, up agents have a heartbeat",
              len(a) >= 1 and all(x["last_heartbeat"] > 0 for x in a if x["up"]), json.dumps(a)[:300])
    r = request("GET", "/v1/audit?limit=20", token=TOK["viewer"])
    if expect("GET /v1/audit?limit=20: 200", r, 200, "GET", "/v1/audit"):
        e = r.json["entries"]
        check("GET /v1/audit?limit=20: at most 20, newest first",
              len(e) <= 20 and [sid_key(x["id"]) for x in e] == sorted((sid_key(x["id"]) for x in e), reverse=True),
              "ids %s" % [x["id"] for x in e])
    r = request("GET", "/v1/audit?action=block&limit=5", token=TOK["viewer"])
    if expect("GET /v1/audit?action=block&limit=5: 200", r, 200, "GET", "/v1/audit"):
        check("GET /v1/audit?action=block: only block entries", all(x["action"] == "block" for x in r.json["entries"]),
              json.dumps(r.json)[:300])
    now = int(time.time())
    r = request("GET", "/v1/audit?since=%d&until=%d&limit=10" % (now - 86400, now + 60), token=TOK["viewer"])
    if expect("GET /v1/audit?since=..&until=..: 200", r, 200, "GET", "/v1/audit"):
        check("GET /v1/audit?since=..&until=..: entries within the window",
              all(now - 86400 <= x["ts"] <= now + 60 for x in r.json["entries"]), json.dumps(r.json)[:300])


SORT_KEYS = {
    "messages_1h": lambda v: v["messages_1h"], "rejected_1h": lambda v: v["rejected_1h"],
    "rcpts_1h": lambda v: v["rcpts_1h"], "messages": lambda v: v["totals"]["messages"],
    "rejected": lambda v: v["totals"]["rejected"], "last_seen": lambda v: v["last_seen"],
    "first_seen": lambda v: v["first_seen"], "name": lambda v: v["name"].encode("utf-8"),
    "offences": lambda v: v["offences"], "block_until": lambda v: v["block"]["until"] if v["block"] else 0,
}


def order_problem(vms, key, desc):
    """'' when vms are ordered by key (desc or asc), ties by UUID ascending."""
    for a, b in zip(vms, vms[1:]):
        ka, kb = key(a), key(b)
        if (ka < kb) if desc else (ka > kb):
            return "%s (%r) before %s (%r)" % (a["uuid"], ka, b["uuid"], kb)
        if ka == kb and a["uuid"] > b["uuid"]:
            return "tie %r: %s before %s (ties sort by UUID)" % (ka, a["uuid"], b["uuid"])
    return ""


def t_vm_list():
    p, r = list_vms("")
    if expect("GET /v1/vms: 200, valid", r, 200, "GET", p):
        j = r.json
        check("GET /v1/vms: defaults offset 0, limit 100, total >= rows",
              j["offset"] == 0 and j["limit"] == 100 and j["total"] >= len(j["vms"]) and len(j["vms"]) <= 100,
              "offset %s limit %s total %s rows %d" % (j["offset"], j["limit"], j["total"], len(j["vms"])))
        check("GET /v1/vms: default sort last_seen desc", not order_problem(j["vms"], SORT_KEYS["last_seen"], True),
              order_problem(j["vms"], SORT_KEYS["last_seen"], True))
        check("GET /v1/vms: block is null exactly when state is not blocked",
              all((v["state"] == "blocked") == (v["block"] is not None) for v in j["vms"]), "a row disagrees")
    for sort, key in SORT_KEYS.items():
        desc = sort != "name"
        for order in (None, "asc" if desc else "desc"):
            q = "sort=%s&limit=1000" % sort + ("&order=" + order if order else "")
            d = desc if order is None else order == "desc"
            p, r = list_vms(q)
            if expect("GET /v1/vms?%s: 200" % q, r, 200, "GET", p):
                why = order_problem(r.json["vms"], key, d)
                check("GET /v1/vms?%s: %s, ties by UUID" % (q, "non-increasing" if d else "non-decreasing"),
                      not why, why)
    for tries in range(3):
        totals = {}
        for st in ("any", "ok", "alert", "blocked", "whitelisted"):
            p, r = list_vms("state=%s&limit=1000" % st)
            if tries == 0:
                if not expect("GET /v1/vms?state=%s: 200" % st, r, 200, "GET", p):
                    break
            elif r.status != 200:
                break
            rows = r.json["vms"]
            totals[st] = r.json["total"]
            if tries == 0:
                if st in ("ok", "alert", "blocked"):
                    check("GET /v1/vms?state=%s: only %s VMs" % (st, st),
                          all(v["state"] == st and (v["block"] is not None) == (st == "blocked") for v in rows),
                          "states %s" % sorted({v["state"] for v in rows}))
                elif st == "whitelisted":
                    check("GET /v1/vms?state=whitelisted: only whitelisted VMs", all(v["whitelisted"] for v in rows),
                          "rows %s" % [v["uuid"] for v in rows if not v["whitelisted"]])
                if st == "blocked" and VM_BLOCKED:
                    check("GET /v1/vms?state=blocked: holds VM_BLOCKED", any(v["uuid"] == VM_BLOCKED for v in rows),
                          "uuids %s" % [v["uuid"] for v in rows])
        if len(totals) == 5 and totals["any"] == totals["ok"] + totals["alert"] + totals["blocked"]:
            break
        time.sleep(0.5)
    check("GET /v1/vms: total(any) = total(ok) + total(alert) + total(blocked)",
          len(totals) == 5 and totals["any"] == totals["ok"] + totals["alert"] + totals["blocked"], "totals %s" % totals)

    # pagination: pages of 2 by name agree with the whole list
    why = "no attempt"
    for tries in range(3):
        p, r = list_vms("sort=name&limit=1000")
        if r.status != 200:
            why = r.brief()
            break
        ref, total = [v["uuid"] for v in r.json["vms"]], r.json["total"]
        why = ""
        for off in range(0, min(len(ref), 10) + 1, 2):
            p, r = list_vms("sort=name&limit=2&offset=%d" % off)
            if not expect("GET /v1/vms?sort=name&limit=2&offset=%d: 200" % off, r, 200, "GET", p):
                why = "page failed"
                break
            j = r.json
            got = [v["uuid"] for v in j["vms"]]
            if j["total"] != total or j["offset"] != off or j["limit"] != 2 or got != ref[off:off + 2]:
                why = "offset %d: total %s (whole list %s), offset %s, limit %s, rows %s, expected %s" % (
                    off, j["total"], total, j["offset"], j["limit"], got, ref[off:off + 2])
                break
        if not why:
            break
        time.sleep(0.5)
    check("GET /v1/vms: offset/limit pages agree with the whole list and its total", not why, why)
    p, r = list_vms("offset=1000000")
    if expect("GET /v1/vms?offset=1000000: 200", r, 200, "GET", p):
        check("GET /v1/vms?offset=1000000: no rows, total still counted",
              r.json["vms"] == [] and r.json["offset"] == 1000000, r.brief())

    known = get_vm(VM_KNOWN)
    if known:
        q = VM_KNOWN[:8].upper()
        p, r = list_vms("q=%s&limit=1000" % q)
        if expect("GET /v1/vms?q=UUID-PREFIX: 200", r, 200, "GET", p):
            rows = r.json["vms"]
            check("GET /v1/vms?q=UUID-PREFIX (upper case): holds VM_KNOWN, every row matches",
                  any(v["uuid"] == VM_KNOWN for v in rows) and
                  all(q.lower() in v["uuid"] or q.lower() in v["name"].lower() for v in rows),
                  "uuids %s" % [v["uuid"] for v in rows])
        if known["name"]:
            q = urllib.parse.quote(known["name"][:64].upper())
            p, r = list_vms("q=%s&limit=1000" % q)
            if expect("GET /v1/vms?q=NAME: 200", r, 200, "GET", p):
                check("GET /v1/vms?q=NAME (upper case): holds VM_KNOWN",
                      any(v["uuid"] == VM_KNOWN for v in r.json["vms"]), r.brief())
        if known["hypervisor"]:
            hv = known["hypervisor"]
            p, r = list_vms("hypervisor=%s&limit=1000" % urllib.parse.quote(hv))
            if expect("GET /v1/vms?hypervisor=H: 200", r, 200, "GET", p):
                rows = r.json["vms"]
                check("GET /v1/vms?hypervisor=H: holds VM_KNOWN, only H's VMs",
                      any(v["uuid"] == VM_KNOWN for v in rows) and all(v["hypervisor"] == hv for v in rows),
                      "hypervisors %s" % sorted({v["hypervisor"] for v in rows}))
        p, r = list_vms("hypervisor=no-such-agent-%s" % RUN)
        if expect("GET /v1/vms?hypervisor=UNKNOWN: 200", r, 200, "GET", p):
            check("GET /v1/vms?hypervisor=UNKNOWN: empty, total 0", r.json["total"] == 0 and r.json["vms"] == [],
                  r.brief())


def in_list(query, uuid, present=True):
    def f():
        _, r = list_vms(query + "&limit=1000")
        if r.status != 200 or not r.json_ok:
            return None
        has = any(v["uuid"] == uuid for v in r.json["vms"])
        return r.json if has == present else None
    return poll_until(f)


def audit_find(vm, reason, action):
    """The newest audit entry (of the last 5 about vm) with action and reason."""
    def f():
        r = request("GET", "/v1/audit?vm=%s&limit=5" % vm, token=TOK["viewer"])
        if r.status != 200 or not r.json_ok:
            return None
        for e in r.json["entries"]:
            if e["action"] == action and e["reason"] == reason:
                return e
        return None
    return poll_until(f)


def t_blocks(feed):
    sup = TOK["support"]
    reason, op = "api test block " + RUN, "api-test-op"
    body = {"uuid": VM_FREE.upper(), "duration_s": 600, "reason": reason, "operator": op}
    t0 = int(time.time())
    r = request("POST", "/v1/blocks", token=sup, body=body)
    if not expect("POST /v1/blocks as support: 201, valid Block", r, 201, "POST", "/v1/blocks"):
        return
    CLEANUP.append(("unblock VM_FREE", lambda: request("DELETE", "/v1/blocks/" + VM_FREE, token=sup,
                                                         body={"reason": "api test cleanup"})))
    b = r.json
    check("POST /v1/blocks: the block is VM_FREE's (lower case), manual, by the support token, ~600 s",
          b["uuid"] == VM_FREE and b["origin"] == "manual" and b["actor"] == NAMES.get("support") and
          b["reason"] == reason and 590 <= b["remaining_s"] <= 600 and abs(b["until"] - (t0 + 600)) <= 5,
          json.dumps(b))
    ev = feed.wait_for(lambda e: e["data"] is not None and e["data"].get("type") == "block" and
                       e["data"].get("vm") == VM_FREE and e["data"].get("reason") == reason, EVENT_WAIT)
    if check("GET /v1/events: the block's event arrived within %d s" % EVENT_WAIT, ev is not None,
             "%d events seen, none for it%s" % (len(feed.events), " (" + feed.err + ")" if feed.err else "")):
        errs = event_errors(ev)
        check("GET /v1/events: the block's event is a valid Event", not errs, errs)
        d = ev["data"]
        check("GET /v1/events: the block's event names the actor and operator",
              d["actor"] == NAMES.get("support") and d["operator"] == op, json.dumps(d))
    e = audit_find(VM_FREE, reason, "block")
    if check("GET /v1/audit?vm=VM_FREE&limit=5: holds the block", e is not None, "not found"):
        check("GET /v1/audit: the block's actor is the support token's name, operator recorded",
              e["actor"] == NAMES.get("support") and e["operator"] == op, json.dumps(e))
    r = request("GET", "/v1/blocks", token=TOK["viewer"])
    if expect("GET /v1/blocks after the block: 200", r, 200, "GET", "/v1/blocks"):
        check("GET /v1/blocks: holds VM_FREE's block", any(x["uuid"] == VM_FREE for x in r.json["blocks"]),
              "uuids %s" % [x["uuid"] for x in r.json["blocks"]])
    d = get_vm(VM_FREE)
    check("GET /v1/vms/VM_FREE: state blocked, its block", d is not None and d["state"] == "blocked" and
          d["block"] is not None and d["block"]["decision"] == b["decision"], json.dumps(d)[:300] if d else "none")
    j = in_list("state=blocked", VM_FREE)
    if check("GET /v1/vms?state=blocked: VM_FREE appears within %.0f s" % CACHE_WAIT, j is not None, "it did not"):
        row = [v for v in j["vms"] if v["uuid"] == VM_FREE][0]
        check("GET /v1/vms?state=blocked: VM_FREE's row shows the manual block",
              row["state"] == "blocked" and row["block"] is not None and row["block"]["origin"] == "manual" and
              row["block"]["until"] == b["until"], json.dumps(row))
        p, r = list_vms("state=blocked&sort=block_until&limit=1000")
        if r.status == 200:
            check("GET /v1/vms?state=blocked&sort=block_until: non-increasing",
                  not order_problem(r.json["vms"], SORT_KEYS["block_until"], True),
                  order_problem(r.json["vms"], SORT_KEYS["block_until"], True))
    # blocks only get longer: a shorter manual block leaves it as it is
    r = request("POST", "/v1/blocks", token=sup, body={"uuid": VM_FREE, "duration_s": 60, "reason": reason + " shorter"})
    if expect("POST /v1/blocks shorter than the manual block in force: 201", r, 201, "POST", "/v1/blocks"):
        check("POST /v1/blocks shorter: the block is unchanged",
              r.json["until"] == b["until"] and r.json["decision"] == b["decision"], json.dumps(r.json))
    r = request("DELETE", "/v1/blocks/" + VM_FREE, token=sup, body={"reason": reason + " undo", "operator": op})
    if expect("DELETE /v1/blocks/VM_FREE (JSON body) as support: 200, valid", r, 200, "DELETE",
              "/v1/blocks/" + VM_FREE):
        check("DELETE /v1/blocks/VM_FREE: uuid, unblocked", r.json["uuid"] == VM_FREE and r.json["unblocked"] is True,
              r.brief())
    e = audit_find(VM_FREE, reason + " undo", "unblock")
    check("GET /v1/audit: the unblock, by the support token, with the operator",
          e is not None and e["actor"] == NAMES.get("support") and e["operator"] == op, json.dumps(e))
    r = request("DELETE", "/v1/blocks/" + VM_FREE, token=sup, body={"reason": reason + " again"})
    expect("DELETE /v1/blocks/VM_FREE when not blocked: 404", r, 404, "DELETE", "/v1/blocks/" + VM_FREE)
    j = in_list("state=blocked", VM_FREE, present=False)
    check("GET /v1/vms?state=blocked: VM_FREE leaves within %.0f s" % CACHE_WAIT, j is not None, "it did not")

    # the same with no operator, unblocked through the query string (no body)
    r = request("POST", "/v1/blocks", token=sup, body={"uuid": VM_FREE, "duration_s": 120, "reason": reason + " q"})
    if expect("POST /v1/blocks without operator: 201", r, 201, "POST", "/v1/blocks"):
        e = audit_find(VM_FREE, reason + " q", "block")
        check("GET /v1/audit: a block without operator has operator \"\"", e is not None and e["operator"] == "",
              json.dumps(e))
    q = urllib.parse.urlencode({"reason": reason + " q undo", "operator": "bob & co"}, quote_via=urllib.parse.quote)
    r = request("DELETE", "/v1/blocks/%s?%s" % (VM_FREE, q), token=sup)
    expect("DELETE /v1/blocks/VM_FREE?reason=..&operator=.. (no body): 200", r, 200, "DELETE",
           "/v1/blocks/" + VM_FREE)
    e = audit_find(VM_FREE, reason + " q undo", "unblock")
    check("GET /v1/audit: the query string's reason and operator (URL-decoded)",
          e is not None and e["operator"] == "bob & co", json.dumps(e))
    d = get_vm(VM_FREE)
    if check("VM_FREE is not blocked after the block tests", d is not None and d["block"] is None,
             json.dumps(d)[:300] if d else "none"):
        CLEANUP.pop()


def t_whitelist(feed):
    sup = TOK["support"]
    reason, op = "api test whitelist " + RUN, "api-test-op"
    path = "/v1/whitelist/" + VM_FREE
    r = request("GET", path, token=TOK["viewer"])
    expect("GET /v1/whitelist/VM_FREE before: 404", r, 404, "GET", path)
    t0 = int(time.time())
    body = {"uuid": VM_FREE, "customer": "C-1042", "ticket": "T-" + RUN, "reason": reason, "operator": op,
            "duration_s": 3600, "limits": {"scale": 5}}
    r = request("POST", "/v1/whitelist", token=sup, body=body)
    if not expect("POST /v1/whitelist as support: 201, valid WhitelistRecord", r, 201, "POST", "/v1/whitelist"):
        return
    CLEANUP.append(("revoke VM_FREE's whitelist entry",
                    lambda: request("DELETE", path, token=sup, body={"reason": "api test cleanup"})))
    w = r.json
    check("POST /v1/whitelist: the record (approver = the support token, expires ~ now + 3600, scale 5)",
          w["uuid"] == VM_FREE and w["customer"] == "C-1042" and w["ticket"] == "T-" + RUN and
          w["approver"] == NAMES.get("support") and w["operator"] == op and w["reason"] == reason and
          abs(w["expires"] - (t0 + 3600)) <= 5 and w["limits"] == {"scale": 5}, json.dumps(w))
    for role in ROLES:
        r = request("GET", path, token=TOK[role])
        if expect("GET /v1/whitelist/{uuid} as %s: 200, valid" % role, r, 200, "GET", path):
            check("GET /v1/whitelist/{uuid} as %s: the record" % role, r.json == w,
                  "%s vs %s" % (r.json, w))
    r = request("GET", "/v1/whitelist", token=TOK["viewer"])
    if expect("GET /v1/whitelist after the add: 200", r, 200, "GET", "/v1/whitelist"):
        check("GET /v1/whitelist: holds the record", w in r.json["entries"], r.brief())
    d = get_vm(VM_FREE)
    check("GET /v1/vms/VM_FREE: whitelist is the record", d is not None and d["whitelist"] == w,
          json.dumps(d)[:300] if d else "none")
    j = in_list("state=whitelisted", VM_FREE)
    if check("GET /v1/vms?state=whitelisted: VM_FREE appears within %.0f s" % CACHE_WAIT, j is not None, "it did not"):
        row = [v for v in j["vms"] if v["uuid"] == VM_FREE][0]
        check("GET /v1/vms?state=whitelisted: VM_FREE's row: whitelisted, whitelist_expires",
              row["whitelisted"] is True and row["whitelist_expires"] == w["expires"], json.dumps(row))
    e = audit_find(VM_FREE, reason, "whitelist_add")
    check("GET /v1/audit: whitelist_add by the support token with the operator",
          e is not None and e["actor"] == NAMES.get("support") and e["operator"] == op, json.dumps(e))
    ev = feed.wait_for(lambda e: e["data"] is not None and e["data"].get("type") == "whitelist_add" and
                       e["data"].get("vm") == VM_FREE, EVENT_WAIT)
    check("GET /v1/events: the whitelist_add event arrived, valid", ev is not None and not event_errors(ev),
          event_errors(ev) if ev else "not within %d s" % EVENT_WAIT)
    r = request("DELETE", path, token=sup, body={"reason": reason + " undo", "operator": op})
    if expect("DELETE /v1/whitelist/VM_FREE (JSON body) as support: 200, valid", r, 200, "DELETE", path):
        check("DELETE /v1/whitelist/VM_FREE: uuid, revoked", r.json["uuid"] == VM_FREE and r.json["revoked"] is True,
              r.brief())
    r = request("GET", path, token=TOK["viewer"])
    expect("GET /v1/whitelist/VM_FREE after the revoke: 404", r, 404, "GET", path)
    r = request("DELETE", path, token=sup, body={"reason": reason + " again"})
    expect("DELETE /v1/whitelist/VM_FREE when absent: 404", r, 404, "DELETE", path)
    e = audit_find(VM_FREE, reason + " undo", "whitelist_revoke")
    check("GET /v1/audit: whitelist_revoke by the support token", e is not None and e["actor"] == NAMES.get("support"),
          json.dumps(e))

    # a full exemption that never expires, revoked through the query string
    r = request("POST", "/v1/whitelist", token=sup,
                body={"uuid": VM_FREE, "customer": "C-1042", "ticket": "T2-" + RUN, "reason": reason + " full",
                      "expires": 0, "limits": None})
    if expect("POST /v1/whitelist full exemption, expires 0: 201", r, 201, "POST", "/v1/whitelist"):
        check("POST /v1/whitelist full exemption: limits null, expires 0, operator \"\"",
              r.json["limits"] is None and r.json["expires"] == 0 and r.json["operator"] == "", json.dumps(r.json))
    q = urllib.parse.urlencode({"reason": reason + " full undo"}, quote_via=urllib.parse.quote)
    r = request("DELETE", "%s?%s" % (path, q), token=sup)
    expect("DELETE /v1/whitelist/VM_FREE?reason=.. (no body): 200", r, 200, "DELETE", path)
    r = request("GET", path, token=TOK["viewer"])
    if check("VM_FREE is not whitelisted after the whitelist tests", r.status == 404, r.brief()):
        CLEANUP.pop()


def t_tokens():
    adm = TOK["admin"]
    r = request("GET", "/v1/tokens", token=adm)
    if expect("GET /v1/tokens as admin: 200, valid", r, 200, "GET", "/v1/tokens"):
        names = [t["name"] for t in r.json["tokens"]]
        check("GET /v1/tokens: lists the three test tokens", all(NAMES.get(x) in names for x in ROLES),
              "names %s" % names)
        check("GET /v1/tokens: no hash or token field", all("hash" not in t and "token" not in t
                                                           for t in r.json["tokens"]), r.brief())
    name = "api-test-" + RUN
    r = request("POST", "/v1/tokens", token=adm, body={"name": name, "role": "viewer", "operator": "api-test-op"})
    if not expect("POST /v1/tokens as admin: 201, valid", r, 201, "POST", "/v1/tokens"):
        return
    CLEANUP.append(("revoke token " + name, lambda: request("DELETE", "/v1/tokens/" + name, token=adm)))
    new = r.json["token"]
    check("POST /v1/tokens: name and role as asked", r.json["name"] == name and r.json["role"] == "viewer",
          json.dumps({k: v for k, v in r.json.items() if k != "token"}))
    r = request("POST", "/v1/tokens", token=adm, body={"name": name, "role": "admin"})
    expect("POST /v1/tokens with an existing name: 409", r, 409, "POST", "/v1/tokens")
    r = request("POST", "/v1/tokens", token=adm, body={"name": NAMES.get("viewer", "x"), "role": "viewer"})
    expect("POST /v1/tokens with a file token's name: 409", r, 409, "POST", "/v1/tokens")
    r = poll_until(lambda: (lambda x: x if x.status == 200 else None)(request("GET", "/v1/whoami", token=new)))
    if check("GET /v1/whoami with the new token: 200 within %.0f s" % CACHE_WAIT, r is not None, "it stayed refused"):
        expect("GET /v1/whoami with the new token: valid", r, 200, "GET", "/v1/whoami")
        check("GET /v1/whoami with the new token: its name, role viewer",
              r.json.get("name") == name and r.json.get("role") == "viewer", r.brief())
        r = request("GET", "/v1/status", token=new)
        expect("GET /v1/status with the new viewer token: 200", r, 200, "GET", "/v1/status")
        r = request("POST", "/v1/blocks", token=new, body=valid_body("/v1/blocks", "post"))
        expect("POST /v1/blocks with the new viewer token: 403", r, 403, "POST", "/v1/blocks")
        r = request("GET", "/v1/tokens", token=new)
        expect("GET /v1/tokens with the new viewer token: 403", r, 403, "GET", "/v1/tokens")
    r = request("GET", "/v1/tokens", token=adm)
    if expect("GET /v1/tokens after the create: 200, valid", r, 200, "GET", "/v1/tokens"):
        mine = [t for t in r.json["tokens"] if t["name"] == name]
        check("GET /v1/tokens: the new token, source redis, created by the admin, no hash or token",
              len(mine) == 1 and mine[0]["source"] == "redis" and mine[0]["role"] == "viewer" and
              mine[0]["created_by"] == NAMES.get("admin") and "hash" not in mine[0] and "token" not in mine[0] and
              new.encode() not in r.body, json.dumps(mine))
    r = request("GET", "/v1/audit?action=token_create&limit=20", token=TOK["viewer"])
    check("GET /v1/audit: token_create by the admin token",
          r.status == 200 and any(e["actor"] == NAMES.get("admin") and name in e["reason"] and
                                  e["operator"] == "api-test-op" for e in r.json["entries"]), r.brief())
    r = request("DELETE", "/v1/tokens/" + name, token=adm)
    if expect("DELETE /v1/tokens/NAME as admin: 200, valid", r, 200, "DELETE", "/v1/tokens/" + name):
        check("DELETE /v1/tokens/NAME: name, revoked", r.json["name"] == name and r.json["revoked"] is True, r.brief())
        CLEANUP.pop()
    r = poll_until(lambda: (lambda x: x if x.status == 401 else None)(request("GET", "/v1/whoami", token=new)))
    if check("GET /v1/whoami with the revoked token: 401 within %.0f s" % CACHE_WAIT, r is not None,
             "still accepted"):
        expect("GET /v1/whoami with the revoked token: valid 401", r, 401, "GET", "/v1/whoami")
    r = request("DELETE", "/v1/tokens/" + name, token=adm)
    expect("DELETE /v1/tokens/NAME again: 404", r, 404, "DELETE", "/v1/tokens/" + name)
    r = request("GET", "/v1/audit?action=token_revoke&limit=20", token=TOK["viewer"])
    check("GET /v1/audit: token_revoke by the admin token",
          r.status == 200 and any(e["actor"] == NAMES.get("admin") and name in e["reason"]
                                  for e in r.json["entries"]), r.brief())
    # a file token cannot be revoked through the API (409; 404 also tolerated: see doc/api.md)
    p = "/v1/tokens/" + NAMES.get("viewer", "x")
    r = request("DELETE", p, token=adm)
    if check("DELETE /v1/tokens/FILE-TOKEN: refused (409 or 404)", r.status in (404, 409), r.brief()):
        expect("DELETE /v1/tokens/FILE-TOKEN: valid error", r, r.status, "DELETE", p)
    r = request("GET", "/v1/whoami", token=TOK["viewer"])
    check("the file viewer token still works after that", r.status == 200, r.brief())


def t_events(feed):
    """The feed: 200 text/event-stream for every role; held events on
    connect; since_id / Last-Event-ID resume."""
    check("GET /v1/events as viewer: 200 text/event-stream", feed.status == 200 and
          feed.ctype.startswith("text/event-stream"), "status %s, Content-Type %r %s" % (feed.status, feed.ctype,
                                                                                      feed.err))
    for role in ("support", "admin"):
        f = Feed(TOK[role])
        check("GET /v1/events as %s: 200 text/event-stream" % role,
              f.status == 200 and f.ctype.startswith("text/event-stream"),
              "status %s, Content-Type %r %s" % (f.status, f.ctype, f.err))
        f.close()


def t_events_after(feed):
    evs = feed.drain()
    bad = [event_errors(e) for e in evs if event_errors(e)]
    check("GET /v1/events: received at least one event, every one a valid Event", evs and not bad,
          "%d events, %s" % (len(evs), bad[:2]))
    ids = [sid_key(e["id"]) for e in evs]
    check("GET /v1/events: ids increase", ids == sorted(ids) and len(set(ids)) == len(ids), "ids %s" %
          [e["id"] for e in evs][:20])
    if evs:
        newest = evs[-1]["id"]
        f = Feed(TOK["viewer"])
        e = f.wait_for(lambda e: e["id"] == newest, 3.0) if f.status == 200 else None
        check("GET /v1/events: a new feed first gets the held events (up to the newest, %s)" % newest,
              e is not None, "status %s, %d events, ids %s" % (f.status, len(f.events),
                                                               [x["id"] for x in f.events][-5:]))
        check("GET /v1/events: a new feed gets at most 50 held events", len(f.events) <= 50,
              "%d events" % len(f.events))
        f.close()
    if len(evs) >= 2:
        mark, nxt = evs[-2]["id"], evs[-1]["id"]
        for label, q, h in (("?since_id=ID", "?since_id=" + mark, None),
                            ("Last-Event-ID", "", {"Last-Event-ID": mark})):
            f = Feed(TOK["viewer"], q, h)
            e = f.wait_for(lambda e: True, 3.0) if f.status == 200 else None
            check("GET /v1/events with %s: resumes after that id" % label,
                  f.status == 200 and e is not None and e["id"] == nxt,
                  "status %s, first event %s, expected %s" % (f.status, e and e["id"], nxt))
            f.close()
    f = Feed(TOK["viewer"], "?since_id=bogus")
    check("GET /v1/events?since_id=bogus: 400", f.status == 400, "status %s" % f.status)
    if f.status == 400:
        r = Resp(400, {"Content-Type": f.ctype}, getattr(f, "body", b""))
        expect("GET /v1/events?since_id=bogus: valid error", r, 400, "GET", "/v1/events")
    f.close()


def t_validation():
    v, s, a = TOK["viewer"], TOK["support"], TOK["admin"]
    bad_uuid = VM_KNOWN[:-1] + "g"
    # (label, method, path, token, kwargs, status)
    cases = [
        ("bad UUID in the path", "GET", "/v1/vms/not-a-uuid", v, {}, 400),
        ("UUID with a non-hex digit", "GET", "/v1/vms/" + bad_uuid, v, {}, 400),
        ("bad UUID in the path", "GET", "/v1/whitelist/xyz", v, {}, 400),
        ("bad UUID in the path", "DELETE", "/v1/blocks/xyz", s, {"body": {"reason": "x"}}, 400),
        ("bad UUID in the path", "DELETE", "/v1/whitelist/" + VM_FREE[:35], s, {"body": {"reason": "x"}}, 400),
        ("bad token name in the path", "DELETE", "/v1/tokens/bad%20name", a, {}, 400),
        ("VM nobody heard of", "GET", "/v1/vms/" + NOBODY_UUID, v, {}, 404),
        ("no whitelist entry", "GET", "/v1/whitelist/" + NOBODY_UUID, v, {}, 404),
        ("unblock a VM not blocked", "DELETE", "/v1/blocks/" + NOBODY_UUID, s, {"body": {"reason": "x"}}, 404),
        ("revoke an absent entry", "DELETE", "/v1/whitelist/" + NOBODY_UUID, s, {"body": {"reason": "x"}}, 404),
        ("revoke an absent token", "DELETE", "/v1/tokens/no-such-token-" + RUN, a, {}, 404),
    ]
    for p, tok in (("/v1/whoami", v), ("/v1/status", v), ("/v1/vms", v), ("/v1/vms/" + VM_KNOWN, v),
                   ("/v1/blocks", v), ("/v1/whitelist", v), ("/v1/agents", v), ("/v1/audit", v),
                   ("/v1/events", v), ("/v1/tokens", a)):
        cases.append(("unknown query parameter", "GET", p + "?bogus=1", tok, {}, 400))
    for q in ("limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=", "offset=1000001", "offset=-1",
              "sort=bogus", "order=sideways", "state=bogus", "q=", "q=" + "x" * 65, "hypervisor=",
              "limit=1&limit=2"):
        cases.append(("VM list query", "GET", "/v1/vms?" + q, v, {}, 400))
    for q in ("limit=0", "limit=1001", "vm=nope", "since=abc", "until=-5", "action=no%20such"):
        cases.append(("audit query", "GET", "/v1/audit?" + q, v, {}, 400))
    good = {"uuid": VM_FREE, "duration_s": 600, "reason": "api test (must be refused) " + RUN}
    bodies = [
        ("malformed JSON", {"raw": b'{"uuid": '}, 400),
        ("a JSON array", {"raw": b"[]"}, 400),
        ("duplicate field", {"raw": ('{"uuid":"%s","uuid":"%s","duration_s":600,"reason":"x"}' %
                                     (VM_FREE, VM_FREE)).encode()}, 400),
        ("Content-Type text/plain", {"body": good, "ctype": "text/plain"}, 415),
        ("Content-Type form", {"body": good, "ctype": "application/x-www-form-urlencoded"}, 415),
        ("body over 64 KiB", {"body": dict(good, reason="x" * (70 * 1024))}, 413),
        ("unknown body field", {"body": dict(good, colour="red")}, 400),
        ("duration_s 59", {"body": dict(good, duration_s=59)}, 400),
        ("duration_s 31536001", {"body": dict(good, duration_s=31536001)}, 400),
        ("duration_s a string", {"body": dict(good, duration_s="600")}, 400),
        ("duration_s not an integer", {"body": dict(good, duration_s=600.5)}, 400),
        ("duration_s missing", {"body": {k: x for k, x in good.items() if k != "duration_s"}}, 400),
        ("reason missing", {"body": {k: x for k, x in good.items() if k != "reason"}}, 400),
        ("reason empty", {"body": dict(good, reason="")}, 400),
        ("reason with a control character", {"body": dict(good, reason="two\nlines")}, 400),
        ("reason with DEL", {"body": dict(good, reason="a\x7fb")}, 400),
        ("reason over 500 bytes", {"body": dict(good, reason="r" * 501)}, 400),
        ("operator over 64 bytes", {"body": dict(good, operator="o" * 65)}, 400),
        ("operator with a control character", {"body": dict(good, operator="al\x01ice")}, 400),
        ("operator empty", {"body": dict(good, operator="")}, 400),
        ("uuid invalid", {"body": dict(good, uuid="not-a-uuid")}, 400),
        ("uuid missing", {"body": {k: x for k, x in good.items() if k != "uuid"}}, 400),
    ]
    for label, kw, st in bodies:
        cases.append(("POST /v1/blocks " + label, "POST", "/v1/blocks", s, kw, st))
    cases.append(("POST /v1/blocks with a query string", "POST", "/v1/blocks?x=1", s, {"body": good}, 400))
    wl = {"uuid": VM_FREE, "customer": "C-1", "ticket": "T-1", "reason": "api test (must be refused) " + RUN}
    for label, b in (("unknown field", dict(wl, colour="red")),
                     ("customer missing", {k: x for k, x in wl.items() if k != "customer"}),
                     ("ticket missing", {k: x for k, x in wl.items() if k != "ticket"}),
                     ("customer over 128", dict(wl, customer="c" * 129)),
                     ("ticket over 64", dict(wl, ticket="t" * 65)),
                     ("reason with a control character", dict(wl, reason="a\tb")),
                     ("limits scale 1", dict(wl, limits={"scale": 1})),
                     ("limits scale 1001", dict(wl, limits={"scale": 1001})),
                     ("limits with another field", dict(wl, limits={"scale": 5, "x": 1})),
                     ("limits not an object", dict(wl, limits=5)),
                     ("expires and duration_s", dict(wl, expires=0, duration_s=3600)),
                     ("expires in the past", dict(wl, expires=1000)),
                     ("expires negative", dict(wl, expires=-1)),
                     ("duration_s 59", dict(wl, duration_s=59))):
        cases.append(("POST /v1/whitelist " + label, "POST", "/v1/whitelist", s, {"body": b}, 400))
    cases.append(("POST /v1/whitelist Content-Type text/plain", "POST", "/v1/whitelist", s,
                  {"body": wl, "ctype": "text/plain"}, 415))
    dp = "/v1/blocks/" + VM_FREE
    for label, kw, st in (("unknown body field", {"body": {"reason": "x", "colour": "red"}}, 400),
                          ("no reason", {"body": {"operator": "x"}}, 400),
                          ("no body and no reason", {}, 400),
                          ("unknown query parameter, no body", {"query": "reason=x&bogus=1"}, 400),
                          ("reason with a control character (query)", {"query": "reason=a%0Ab"}, 400),
                          ("Content-Type text/plain", {"body": {"reason": "x"}, "ctype": "text/plain"}, 415),
                          ("body over 64 KiB", {"body": {"reason": "x" * (70 * 1024)}}, 413)):
        cases.append(("DELETE /v1/blocks/{uuid} " + label, "DELETE", dp, s, kw, st))
    cases.append(("DELETE /v1/whitelist/{uuid} unknown query parameter", "DELETE",
                  "/v1/whitelist/" + VM_FREE, s, {"query": "reason=x&bogus=1"}, 400))
    tb = {"name": "api-test-refused-" + RUN, "role": "viewer"}
    for label, b, st in (("name with a space", dict(tb, name="bad name"), 400),
                         ("name over 64", dict(tb, name="n" * 65), 400),
                         ("name empty", dict(tb, name=""), 400),
                         ("role root", dict(tb, role="root"), 400),
                         ("role missing", {"name": tb["name"]}, 400),
                         ("unknown field", dict(tb, hash="00"), 400)):
        cases.append(("POST /v1/tokens " + label, "POST", "/v1/tokens", a, {"body": b}, st))
    cases.append(("POST /v1/tokens Content-Type text/plain", "POST", "/v1/tokens", a,
                  {"body": tb, "ctype": "text/plain"}, 415))
    cases += [
        ("URI over 2 KiB", "GET", "/v1/vms?q=" + "x" * 2100, v, {}, 414),
        ("PUT", "PUT", "/v1/blocks", s, {"body": good}, 405),
        ("PUT", "PUT", "/v1/status", v, {"body": {}}, 405),
        ("PATCH", "PATCH", "/v1/whitelist/" + VM_FREE, s, {"body": {}}, 405),
        ("DELETE on a read", "DELETE", "/v1/status", s, {}, 405),
        ("POST on a read", "POST", "/v1/vms", s, {"body": {}}, 405),
        ("GET on a delete", "GET", "/v1/blocks/" + VM_FREE, v, {}, 405),
        ("POST on a delete", "POST", "/v1/tokens/x", a, {"body": {}}, 405),
        ("PUT on /healthz", "PUT", "/healthz", None, {"body": {}}, 405),
        ("unknown path", "GET", "/v1/no-such-thing", v, {}, 404),
        ("unknown path", "GET", "/v1/vms/%s/more" % VM_KNOWN, v, {}, 404),
        ("unknown path", "GET", "/no-such-thing", None, {}, 404),
        ("unknown path", "GET", "/ui/no-such-file.js", None, {}, 404),
    ]
    for label, m, p, tok, kw, st in cases:
        kw = dict(kw)
        if "query" in kw:
            p = p + "?" + kw.pop("query")
        r = request(m, p, token=tok, **kw)
        shown = p if len(p) <= 90 else p[:80] + "...(%d bytes)" % len(p)
        expect("%s %s (%s): %d" % (m, shown, label, st), r, st, m, p)
    d = get_vm(VM_FREE)
    check("after the refused requests: VM_FREE is neither blocked nor whitelisted",
          d is not None and d["block"] is None and d["whitelist"] is None, json.dumps(d)[:300] if d else "none")


def main():
    print("api_test: %s, document %s" % (BASE, OPENAPI), flush=True)
    t_document()
    r = request("GET", "/healthz")
    if not check("the controller answers at BASE_URL", r.status in (200, 503), r.brief()):
        return
    t_public()
    if not t_whoami():
        check("the tokens have the roles their names say", False, "TOKEN_VIEWER/SUPPORT/ADMIN: see above")
        return
    feed = Feed(TOK["viewer"])
    try:
        t_events(feed)
        t_unauthenticated()
        t_reads()
        t_role_matrix()
        t_vm_list()
        t_validation()
        t_blocks(feed)
        t_whitelist(feed)
        t_tokens()
        t_events_after(feed)
    finally:
        feed.close()
        for what, fn in reversed(CLEANUP):
            r = fn()
            print("cleanup: %s: %s" % (what, r.status), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Exception as e:   # a crash is a failure, with its trace
        import traceback
        traceback.print_exc()
        check("api_test ran to the end", False, "%s: %s" % (type(e).__name__, e))
    print("api_test: %d passed, %d failed" % (PASSED, FAILED), flush=True)
    sys.exit(1 if FAILED else 0)
