#!/usr/bin/env python3
"""valgrind memcheck over a `pvio blk` and a `pvio net` run (issue 7).

Usage: test_valgrind.py PVIO SUPPRESSIONS [blk|net|blk_indirect|net_ring_flip ...]
Each run goes under `valgrind --leak-check=full --trace-children=yes`,
one log per process (the command, hostd, the backend and frontend
domains). A run passes when pvio exits 0 and every process's log says
0 errors and 0 bytes definitely lost. Exit 0 pass, 1 fail (also when
valgrind is missing: scripts/deps.sh installs it).
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

PVIO, SUPP = sys.argv[1], sys.argv[2]
RUNS = {
    # the defaults: io_uring, zero copy (grants mapped per request);
    # net_null, tx copies
    "blk": ["blk", "--runtime", "1"],
    "net": ["net", "--duration", "1"],
    # the other paths: indirect requests through persistent grants on libaio;
    # rx into the guest by page flip, zero-copy tx, a net_ring port
    "blk_indirect": ["blk", "--runtime", "1", "--bs", "1m", "--persistent", "on",
                     "--engine", "libaio"],
    "net_ring_flip": ["net", "--port", "ring", "--direction", "both", "--rx", "flip",
                      "--duration", "1"],
}
names = sys.argv[3:] or list(RUNS)
failures = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else " " + detail))
    if not ok:
        failures.append(what)


if not shutil.which("valgrind"):
    print("valgrind is not installed (scripts/deps.sh installs it)")
    sys.exit(1)

for name in names:
    logdir = tempfile.mkdtemp(prefix="pvio-vg-" + name + "-")
    cmd = ["valgrind", "--error-exitcode=1", "--leak-check=full",
           "--trace-children=yes", "--suppressions=" + SUPP,
           "--log-file=" + os.path.join(logdir, "%p.log"), PVIO] + RUNS[name]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    check(f"pvio {' '.join(RUNS[name])} under valgrind exits 0",
          r.returncode == 0, f"rc={r.returncode} stderr={r.stderr[-2000:]!r}")
    logs = sorted(glob.glob(os.path.join(logdir, "*.log")))
    # the command, hostd, the backend and the frontend
    check(f"{name}: every process ran under valgrind ({len(logs)} logs)",
          len(logs) >= 4, str(logs))
    for log in logs:
        text = open(log, errors="replace").read()
        m = re.search(r"Command: (.*)", text)
        who = f"{name} {os.path.basename(log)} ({m.group(1) if m else '?'})"
        errs = re.search(r"ERROR SUMMARY: (\d+) errors", text)
        lost = re.search(r"definitely lost: ([\d,]+) bytes", text)
        check(who + ": 0 errors", errs is not None and errs.group(1) == "0",
              "\n" + text[-6000:])
        check(who + ": nothing definitely lost",
              lost is None or lost.group(1) == "0", "\n" + text[-6000:])
    if not failures:
        shutil.rmtree(logdir, ignore_errors=True)
    else:
        print("logs kept in " + logdir)

sys.exit(1 if failures else 0)
