#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench_ring_runs: pvio-bench's ring suite runs end to end and says what it
should. Behaviour only (run under PVIO_BENCH_SMOKE=1, tiny repetitions):
usage errors exit 2 with one line, `ring --quick --json --reps 1` exits 0 and
prints exactly one JSON document whose cases cover every comparison, with
ratios oriented so that > 1 means pvio wins. No speed is checked."""
import json
import math
import re
import subprocess
import sys

BATCHES = (1, 4, 8, 16, 32)
UNITS = {"rt/s": "rt/s", "rtt": "ns", "kicks/req": "kicks/req"}
REGIMES = ("near", "far", "unpaired")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(exe, *args):
    return subprocess.run([exe, *args], capture_output=True, text=True,
                          timeout=100)


def check_usage(exe):
    for args, word in ((["nosuch"], "nosuch"), (["ring", "--bogus"], "--bogus"),
                       (["ring", "--reps", "0"], "0"), ([], "SUITE")):
        p = run(exe, *args)
        lines = p.stderr.strip().splitlines()
        if p.returncode != 2 or len(lines) != 1 or word not in lines[0]:
            fail(f"{args}: want exit 2 and one stderr line naming {word!r}, "
                 f"got {p.returncode} {p.stderr!r}")
        if p.stdout:
            fail(f"{args}: usage error printed on stdout: {p.stdout!r}")
    p = run(exe, "--help")
    if p.returncode != 0 or "--quick" not in p.stdout or "--reps" not in p.stdout:
        fail(f"--help: exit {p.returncode}, stdout {p.stdout!r}")


def base_of(name):
    m = re.fullmatch(r"(.+) \[([a-z]+)\]", name)
    if not m:
        fail(f"case name {name!r} does not end in ' [regime]'")
    return m.group(1), m.group(2)


def check_case(c):
    keys = {"name", "unit", "pvio", "baseline", "baseline_value", "ratio",
            "regime"}
    if set(c) != keys:
        fail(f"case keys {sorted(c)} != {sorted(keys)}")
    base, regime = base_of(c["name"])
    if regime != c["regime"] or regime not in REGIMES:
        fail(f"{c['name']}: regime field {c['regime']!r}")
    kind = base.split(" ")[0]
    if UNITS.get(kind) != c["unit"]:
        fail(f"{c['name']}: unit {c['unit']!r}")
    p, b, r = c["pvio"], c["baseline_value"], c["ratio"]
    for v in (p, b):
        if not isinstance(v, (int, float)) or v < 0 or not math.isfinite(v):
            fail(f"{c['name']}: bad value {v!r}")
    if c["unit"] != "kicks/req" and (p <= 0 or b <= 0):
        fail(f"{c['name']}: non-positive measurement {p} / {b}")
    if regime == "unpaired":
        if r is not None:
            fail(f"{c['name']}: unpaired row with a ratio")
        return base, c["baseline"]
    if c["unit"] == "rt/s":
        want = p / b
    elif c["unit"] == "ns":
        want = b / p
    elif p == 0:
        want = 1.0 if b == 0 else None
    else:
        want = b / p
    if want is None:
        if r is not None:
            fail(f"{c['name']}: want null ratio, got {r}")
    elif r is None or abs(r - want) > 1e-6 * max(1.0, abs(want)):
        fail(f"{c['name']}: ratio {r} but values give {want}")
    return base, c["baseline"]


# Suites grant and evtchn: (case, baseline) pairs and units; their rows
# carry regime near/far (cross-core), local (one CPU) or unpaired.
LOCAL_SUITES = {
    "grant": ({("map+unmap 1 page", "memcpy hot"),
               ("map+unmap batch=32 /page", "memcpy hot"),
               ("grant copy 4K hot", "memcpy hot"),
               ("grant copy 4K cold", "memcpy cold"),
               ("persistent-cache hit", "map+unmap"),
               ("flip 1 page", "memcpy hot"), ("flip 1 page", "memcpy cold"),
               ("flip batch=32 /page", "memcpy hot"),
               ("flip batch=32 /page", "memcpy cold"),
               ("flip 1 page", "mmap remap"),
               ("flip wins from (hot copy)", "page"),
               ("flip wins from (cold copy)", "page")}, 16),
    "evtchn": ({(f"rt {m}", b) for m in ("BLOCK", "POLL", "ADAPTIVE")
                for b in ("eventfd", "spin")} |
               {(f"idle CPU {m}", "eventfd poll")
                for m in ("BLOCK", "POLL", "ADAPTIVE")}, 9),
}


def check_local_case(c):
    keys = {"name", "unit", "pvio", "baseline", "baseline_value", "ratio",
            "regime"}
    if set(c) != keys:
        fail(f"case keys {sorted(c)} != {sorted(keys)}")
    base, regime = base_of(c["name"])
    if regime != c["regime"] or regime not in ("near", "far", "local",
                                               "unpaired"):
        fail(f"{c['name']}: regime field {c['regime']!r}")
    unit = c["unit"]
    want_unit = ("%cpu" if base.startswith("idle") else
                 "B" if base.startswith("flip wins") else "ns")
    if unit != want_unit:
        fail(f"{c['name']}: unit {unit!r}, want {want_unit!r}")
    if base.startswith("rt ") and regime == "local":
        fail(f"{c['name']}: a cross-core round trip labelled local")
    if (base.startswith("idle") or unit == "B" or
            c["baseline"] != "spin" and base.startswith(("map", "grant",
                                                          "flip", "pers"))) \
            and regime in ("near", "far"):
        fail(f"{c['name']}: a single-CPU case labelled {regime}")
    p, b, r = c["pvio"], c["baseline_value"], c["ratio"]
    for v in (p, b):
        if not isinstance(v, (int, float)) or v < 0 or not math.isfinite(v):
            fail(f"{c['name']}: bad value {v!r}")
    if unit != "%cpu" and (p <= 0 or b <= 0):
        fail(f"{c['name']}: non-positive measurement {p} / {b}")
    if regime == "unpaired":
        if r is not None:
            fail(f"{c['name']}: unpaired row with a ratio")
        return base, c["baseline"]
    if unit == "%cpu" and p == 0:
        want = 1.0 if b == 0 else None
    else:
        want = b / p
    if want is None:
        if r is not None:
            fail(f"{c['name']}: want null ratio, got {r}")
    elif r is None or abs(r - want) > 1e-6 * max(1.0, abs(want)):
        fail(f"{c['name']}: ratio {r} but values give {want}")
    return base, c["baseline"]


def check_local_suite(exe, suite):
    want, nr_bodies = LOCAL_SUITES[suite]
    p = run(exe, suite, "--quick", "--json", "--reps", "1")
    if p.returncode != 0:
        fail(f"{suite} --quick --json exited {p.returncode}: {p.stderr.strip()}")
    try:
        doc = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        fail(f"stdout is not one JSON document ({e}): {p.stdout[:200]!r}")
    if doc.get("suite") != suite or not isinstance(doc.get("cases"), list):
        fail(f"top level: {list(doc)}")
    seen = {check_local_case(c) for c in doc["cases"]}
    if seen != want:
        fail(f"missing {sorted(want - seen)}, unexpected {sorted(seen - want)}")
    reg = doc.get("regimes", {})
    if sum(reg.get(k, 0) for k in ("near", "far", "mixed", "busy",
                                   "local")) != nr_bodies:
        fail(f"regime counts {reg} do not add up to {nr_bodies} repetitions")
    print(f"ok: {suite}: {len(doc['cases'])} cases, regimes {reg}")


def main():
    if len(sys.argv) not in (2, 3):
        fail("usage: check_bench_json.py PVIO_BENCH [grant|evtchn]")
    exe = sys.argv[1]
    check_usage(exe)
    if len(sys.argv) == 3:
        check_local_suite(exe, sys.argv[2])
        return

    p = run(exe, "ring", "--quick", "--json", "--reps", "1")
    if p.returncode != 0:
        fail(f"ring --quick --json exited {p.returncode}: {p.stderr.strip()}")
    try:
        doc = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        fail(f"stdout is not one JSON document ({e}): {p.stdout[:200]!r}")
    if doc.get("suite") != "ring" or not isinstance(doc.get("cases"), list):
        fail(f"top level: {list(doc)}")
    seen = {check_case(c) for c in doc["cases"]}
    want = set()
    for b in BATCHES:
        want |= {(f"rt/s batch={b}", "xen"), (f"rt/s batch={b}", "dpdk"),
                 (f"kicks/req batch={b}", "xen")}
    want |= {("rtt", "xen"), ("rtt", "pingpong")}
    if seen != want:
        fail(f"missing {sorted(want - seen)}, unexpected {sorted(seen - want)}")
    reg = doc.get("regimes", {})
    if sum(reg.get(k, 0) for k in ("near", "far", "mixed", "busy")) != 6 * 3:
        fail(f"regime counts {reg} do not add up to 18 repetitions")
    print(f"ok: {len(doc['cases'])} cases, regimes {reg}")


main()
