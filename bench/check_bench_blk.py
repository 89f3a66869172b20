#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench_blk_runs: pvio-bench's blk suite runs end to end (pvio blk and fio
as programs) and says what it should. Behaviour only, under
PVIO_BENCH_SMOKE=1 (100 ms runs on 16 MiB files): `blk --quick --json
--reps 1` exits 0 and prints one JSON document whose cases cover every
comparison, each on its CPU set, with ratios oriented so that > 1 means
pvio wins. No speed is checked. fio is a dependency (scripts/deps.sh installs
it): without it the test fails rather than skips."""
import json
import math
import shutil
import subprocess
import sys

IO = ("randread 4k QD1", "randread 4k QD32", "randwrite 4k QD32",
      "read 128k QD8")
CPUS = ("1cpu", "2cpu")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def want_cases():
    want = set()
    for where in ("shm", "rootfs"):
        for cpus in CPUS:
            for io in IO:
                want.add((f"{io} {where} [{cpus}]", "IOPS", "fio io_uring"))
            want.add((f"p50 randread 4k QD1 {where} [{cpus}]", "us",
                      "fio io_uring"))
    for cpus in CPUS:
        want.add((f"null randread 4k QD32 [{cpus}]", "IOPS", "fio null"))
    for io in ("randread 4k QD32", "read 128k QD8"):
        want.add((f"zero-copy {io} shm [2cpu]", "IOPS", "persistent"))
    return want


def main():
    if len(sys.argv) != 2:
        fail("usage: check_bench_blk.py PVIO_BENCH")
    if not shutil.which("fio"):
        fail("fio is not installed (scripts/deps.sh installs it)")
    exe = sys.argv[1]
    p = subprocess.run([exe, "blk", "--bogus"], capture_output=True, text=True,
                       timeout=30)
    if p.returncode != 2 or "--bogus" not in p.stderr or p.stdout:
        fail(f"blk --bogus: exit {p.returncode}, {p.stderr!r}")
    p = subprocess.run([exe, "blk", "--quick", "--json", "--reps", "1"],
                       capture_output=True, text=True, timeout=280)
    if p.returncode != 0:
        fail(f"blk --quick --json exited {p.returncode}: {p.stderr.strip()}")
    try:
        doc = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        fail(f"stdout is not one JSON document ({e}): {p.stdout[:200]!r}")
    if doc.get("suite") != "blk" or not isinstance(doc.get("cases"), list):
        fail(f"top level: {list(doc)}")
    seen = set()
    keys = {"name", "unit", "pvio", "baseline", "baseline_value", "ratio",
            "regime"}
    for c in doc["cases"]:
        if set(c) != keys:
            fail(f"case keys {sorted(c)} != {sorted(keys)}")
        name = c["name"]
        if c["regime"] not in CPUS or not name.endswith(f"[{c['regime']}]"):
            fail(f"{name}: regime {c['regime']!r}")
        pv, b, r = c["pvio"], c["baseline_value"], c["ratio"]
        for v in (pv, b, r):
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                fail(f"{name}: bad value {v!r}")
        want = pv / b if c["unit"] == "IOPS" else b / pv
        if abs(r - want) > 1e-6 * max(1.0, want):
            fail(f"{name}: ratio {r} but values give {want}")
        seen.add((name, c["unit"], c["baseline"]))
    want = want_cases()
    if seen != want:
        fail(f"missing {sorted(want - seen)}, unexpected {sorted(seen - want)}")
    reg = doc.get("regimes", {})
    if sum(reg.get(k, 0) for k in CPUS) != 20:
        fail(f"regime counts {reg} do not add up to 20 pairs of runs")
    print(f"ok: {len(doc['cases'])} cases, regimes {reg}")


main()
