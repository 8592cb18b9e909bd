#!/usr/bin/python3
"""The message checks' regression corpus: `twctl whitelist lint` on every
tests/lint/{good,bad}/*.eml, compared with tests/lint/expected.json.

For each file: `lint --json FILE` gives every check once, the overall
result, the exact sets of failing and warning checks and the reasons the
expectation names; `lint FILE` (the table) exits the same way (1 for a
fail, 0 otherwise) and names every check and the result.  good/ files
must exit 0, bad/ files must fail.  Also: every .eml has an expectation
and every expectation a file; a missing file exits 6.

Expectation keys: "result" (pass|warn|fail), "fail" and "warn" (exact
sets of check names; absent: none), "reason_contains" (check name -> a
substring, or a list of them, of that check's reason).

TW_TWCTL names the twctl binary (default: build/twctl).  Standard library
only; exits 1 on any mismatch.
"""
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TWCTL = os.environ.get("TW_TWCTL", os.path.join(HERE, "..", "..", "build", "twctl"))
CHECKS = ["structure", "required_headers", "from_domain", "bulk_headers", "list_unsubscribe", "one_click",
          "body_unsubscribe", "dkim", "postal_address", "why_received", "html_content", "link_hosts",
          "link_redirects", "subject"]
KEYS = {"result", "fail", "warn", "reason_contains"}
TIMEOUT = 30


def lint(path, json_out):
    argv = [TWCTL, "whitelist", "lint"] + (["--json"] if json_out else []) + [path]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=TIMEOUT)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def check_expectation(name, exp):
    """Problems of the expectation itself (a typo must not pass silently)."""
    bad = []
    if set(exp) - KEYS:
        bad.append("unknown keys %s" % sorted(set(exp) - KEYS))
    if exp.get("result") not in ("pass", "warn", "fail"):
        bad.append("result must be pass, warn or fail")
    for k in ("fail", "warn"):
        for c in exp.get(k, []):
            if c not in CHECKS:
                bad.append("%s names an unknown check %r" % (k, c))
    for c in exp.get("reason_contains", {}):
        if c not in CHECKS:
            bad.append("reason_contains names an unknown check %r" % c)
    want = "fail" if exp.get("fail") else "warn" if exp.get("warn") else "pass"
    if exp.get("result") != want:
        bad.append("result %s does not follow from fail/warn (%s)" % (exp.get("result"), want))
    if name.startswith("good/") and exp.get("result") == "fail":
        bad.append("a good/ message cannot be expected to fail")
    if name.startswith("bad/") and exp.get("result") != "fail":
        bad.append("a bad/ message must be expected to fail")
    return bad


def run_one(name, exp):
    path = os.path.join(HERE, name)
    errs = []
    rc, out, err = lint(path, True)
    try:
        j = json.loads(out)
    except ValueError:
        return ["--json: exit %d, not JSON: %r %r" % (rc, out[:200], err[:200])]
    checks = j.get("checks", [])
    names = [c.get("name") for c in checks]
    if names != CHECKS:
        errs.append("checks %s, want %s" % (names, CHECKS))
    status = {c.get("name"): c.get("status") for c in checks}
    reason = {c.get("name"): c.get("reason", "") for c in checks}
    for c in checks:
        if c.get("status") not in ("pass", "warn", "fail"):
            errs.append("%s: status %r" % (c.get("name"), c.get("status")))
    got_fail = sorted(n for n, s in status.items() if s == "fail")
    got_warn = sorted(n for n, s in status.items() if s == "warn")
    if j.get("result") != exp["result"]:
        errs.append("result %s, want %s" % (j.get("result"), exp["result"]))
    if got_fail != sorted(exp.get("fail", [])):
        errs.append("fail %s, want %s" % (got_fail, sorted(exp.get("fail", []))))
    if got_warn != sorted(exp.get("warn", [])):
        errs.append("warn %s, want %s" % (got_warn, sorted(exp.get("warn", []))))
    for c, subs in exp.get("reason_contains", {}).items():
        for s in [subs] if isinstance(subs, str) else subs:
            if s not in reason.get(c, ""):
                errs.append("%s reason %r does not contain %r" % (c, reason.get(c, ""), s))
    want_rc = 1 if exp["result"] == "fail" else 0
    if rc != want_rc:
        errs.append("--json exit %d, want %d" % (rc, want_rc))
    # the table form: same exit, every check named, the result line
    rc2, out2, err2 = lint(path, False)
    if rc2 != want_rc:
        errs.append("text exit %d, want %d (%s)" % (rc2, want_rc, err2.strip()[:200]))
    lines = out2.splitlines()
    for c in CHECKS:
        if not any(line.split()[:1] == [c] for line in lines):
            errs.append("text output has no line for %s" % c)
    if "result: %s" % exp["result"] not in lines:
        errs.append("text output has no \"result: %s\" line" % exp["result"])
    if "no shortener list" in err2:
        errs.append("twctl found no shortener list: %s" % err2.strip())
    return errs


def main():
    if not os.access(TWCTL, os.X_OK):
        print("FAIL: %s is not an executable (set TW_TWCTL)" % TWCTL)
        return 1
    with open(os.path.join(HERE, "expected.json"), encoding="utf-8") as f:
        expected = json.load(f)
    files = sorted(os.path.relpath(p, HERE) for d in ("good", "bad")
                   for p in glob.glob(os.path.join(HERE, d, "*.eml")))
    failed = passed = 0
    for name in sorted(set(files) - set(expected)):
        print("FAIL %s: no expectation in expected.json" % name)
        failed += 1
    for name in sorted(set(expected) - set(files)):
        print("FAIL %s: expected.json names it, but there is no such file" % name)
        failed += 1
    for name in files:
        if name not in expected:
            continue
        errs = check_expectation(name, expected[name]) or run_one(name, expected[name])
        if errs:
            failed += 1
            print("FAIL %s" % name)
            for e in errs:
                print("     %s" % e)
        else:
            passed += 1
            print("PASS %s (%s)" % (name, expected[name]["result"]))
    # an unreadable file exits 6, in both forms
    missing = os.path.join(HERE, "no-such-file.eml")
    for json_out in (True, False):
        rc, _, err = lint(missing, json_out)
        what = "missing file%s" % (" --json" if json_out else "")
        if rc != 6:
            failed += 1
            print("FAIL %s: exit %d, want 6 (%s)" % (what, rc, err.strip()))
        else:
            passed += 1
            print("PASS %s (exit 6)" % what)
    n_good = sum(1 for f in files if f.startswith("good/"))
    print("lint corpus: %d passed, %d failed (%d good, %d bad messages)" %
          (passed, failed, n_good, len(files) - n_good))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
