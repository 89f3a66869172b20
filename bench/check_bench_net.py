#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench_net_runs: `pvio-bench net --quick --json --reps 1` (under
PVIO_BENCH_SMOKE=1: 50 ms pvio net runs, 1 s iperf3 runs) exits 0 and prints
one JSON document with every row the suite promises, positive throughputs,
ratios pvio/baseline, and leaves no namespace or state directory behind. Behaviour,
not speed. Needs root (namespaces) and iperf3."""
import glob
import json
import math
import os
import re
import subprocess
import sys

SIZES = (64, 512, 1500)
WANT = ({(f"tx {s} B", "dpdk", "Mpps") for s in SIZES} |
        {("tx Gbit/s 1500 B", "dpdk", "Gbit/s")} |
        {(f"tx zero-copy {s} B", "tx copy", "Mpps") for s in SIZES} |
        {(f"rx flip {s} B", "rx copy", "Mpps") for s in SIZES} |
        {("iperf3 TCP", "veth", "Gbit/s"),
         ("kicks/pkt tx 64 B", "-", "kicks/pkt"),
         ("kicks/pkt rx 64 B", "-", "kicks/pkt")})
LABELS = ("near", "far", "unpaired")


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


STATE = "/tmp/pvio-bench-net-"


def leftovers():
    """net_iperf.sh's namespaces (pvb<tag>-g/p/d, tag = the state dir's
    suffix) whose state dir is gone: a run at the same time keeps its own."""
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True,
                        text=True).stdout
    left = []
    for ln in ns.splitlines():
        m = re.fullmatch(r"pvb(\w{6})-[gpd]", ln.split()[0]) if ln.split() else None
        if m and not os.path.isdir(STATE + m.group(1)):
            left.append(m.group(0))
    return left


def running(state):
    """Whether the state dir belongs to another run still going (its hostd
    alive)."""
    try:
        with open(os.path.join(state, "hostd.pid")) as f:
            os.kill(int(f.read().strip()), 0)
        return True
    except (OSError, ValueError):
        return False


def finite(v):
    return isinstance(v, (int, float)) and math.isfinite(v)


def main():
    exe = sys.argv[1]
    before = set(glob.glob(STATE + "*"))
    p = subprocess.run([exe, "net", "--bogus"], capture_output=True, text=True,
                       timeout=30)
    if p.returncode != 2 or "--bogus" not in p.stderr:
        fail(f"net --bogus: want exit 2 naming it, got {p.returncode} {p.stderr!r}")
    p = subprocess.run([exe, "net", "--quick", "--json", "--reps", "1"],
                       capture_output=True, text=True, timeout=280)
    if p.returncode != 0:
        fail(f"net --quick --json exited {p.returncode}: {p.stderr.strip()[-800:]}")
    try:
        doc = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        fail(f"stdout is not one JSON document ({e}): {p.stdout[:300]!r}")
    if doc.get("suite") != "net" or not isinstance(doc.get("cases"), list):
        fail(f"top level: {list(doc)}")
    seen = set()
    keys = {"name", "unit", "pvio", "baseline", "baseline_value", "ratio",
            "regime"}
    for c in doc["cases"]:
        if set(c) != keys:
            fail(f"case keys {sorted(c)}")
        name, _, rest = c["name"].rpartition(" [")
        if rest != c["regime"] + "]" or c["regime"] not in LABELS:
            fail(f"{c['name']}: regime {c['regime']!r}")
        seen.add((name, c["baseline"], c["unit"]))
        pv, bv, r = c["pvio"], c["baseline_value"], c["ratio"]
        if c["unit"] == "kicks/pkt":
            if not finite(pv) or pv < 0 or bv is not None or r is not None:
                fail(f"{c['name']}: kicks row {c}")
            continue
        if not finite(pv) or not finite(bv) or pv <= 0 or bv <= 0:
            fail(f"{c['name']}: non-positive measurement {pv} / {bv}")
        if c["regime"] == "unpaired":
            if r is not None:
                fail(f"{c['name']}: unpaired row with a ratio")
        elif r is None or abs(r - pv / bv) > 1e-6 * max(1.0, pv / bv):
            fail(f"{c['name']}: ratio {r}, values give {pv / bv}")
    if seen != WANT:
        fail(f"missing {sorted(WANT - seen)}, unexpected {sorted(seen - WANT)}")
    reg = doc.get("regimes", {})
    if sum(reg.get(k, 0) for k in ("near", "far", "mixed", "busy")) != 20:
        fail(f"regime counts {reg} do not add up to 20 bodies x 1 repetition")
    if leftovers():
        fail(f"namespaces left behind: {leftovers()}")
    left = {d for d in set(glob.glob(STATE + "*")) - before if not running(d)}
    if left:
        fail(f"state directories left behind: {sorted(left)}")
    print(f"ok: net: {len(doc['cases'])} cases, regimes {reg}")


main()
