#!/usr/bin/env python3
"""Behaviour of the pvio command line: usage errors and the ring demo.

Usage: test_pvio_cli.py PATH_TO_PVIO
Prints one line per check and '<N> passed, <M> failed' at the end.
"""
import json
import subprocess
import sys

PVIO = sys.argv[1]
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def run(*args, timeout=120):
    return subprocess.run([PVIO, *args], capture_output=True, text=True,
                          timeout=timeout)


# Usage errors: exit 2, exactly one line on stderr naming the problem.
for args, needle in [
    ([], "usage"),
    (["nosuchcommand"], "nosuchcommand"),
    (["ring", "--bogus"], "--bogus"),
    (["ring", "--batch", "0"], "--batch"),
    (["ring", "--batch", "33"], "--batch"),
    (["ring", "--batch", "abc"], "--batch"),
    (["ring", "--requests"], "--requests"),
    (["ring", "--requests", "-5"], "--requests"),
    (["ring", "--ring-pages", "3"], "--ring-pages"),
    (["ring", "--ring-pages", "32"], "--ring-pages"),
]:
    r = run(*args)
    lines = r.stderr.strip().splitlines()
    name = "usage error: pvio " + " ".join(args)
    if args:
        check(name, r.returncode == 2 and len(lines) == 1 and needle in lines[0],
              f"rc={r.returncode} stderr={r.stderr!r}")
    else:
        check(name, r.returncode == 2 and needle in r.stderr,
              f"rc={r.returncode} stderr={r.stderr!r}")

for args in (["--help"], ["ring", "--help"]):
    r = run(*args)
    check("help: pvio " + " ".join(args),
          r.returncode == 0 and "usage" in r.stdout and r.stderr == "",
          f"rc={r.returncode}")

# The demo: every request verified, in processes and threads, spinning and
# sleeping (--spin 0 forces the event-index + eventfd path on every wait).
for extra in ([], ["--threads"], ["--spin", "0"], ["--threads", "--spin", "0"],
              ["--batch", "1"], ["--batch", "32"], ["--ring-pages", "16", "--batch", "512"]):
    n = 20000 if "--spin" in extra else 200000
    r = run("ring", "--json", "--requests", str(n), *extra)
    name = "ring demo " + " ".join(extra or ["default"])
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        check(name, False, f"rc={r.returncode} stdout={r.stdout!r} stderr={r.stderr!r}")
        continue
    check(name, r.returncode == 0 and doc["ok"] is True and doc["verified"] == n
          and doc["bad"] == 0 and doc["requests"] == n,
          f"rc={r.returncode} doc={doc}")
    if "--spin" in extra:
        # With no polling every wait sleeps, so kicks must have happened.
        check(name + " kicks", doc["front_kicks"] > 0 and doc["back_kicks"] > 0, str(doc))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
