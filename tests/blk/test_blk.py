#!/usr/bin/env python3
"""The block commands end to end: pvio blk, pvio blkback, pvio blkfront.

Usage: test_blk.py PVIO TEST_NAME
Every test runs real processes (pvio hostd, a backend domain, a frontend
domain) and checks behaviour only, never speed. Each workload runs 1 s.
Exit 0 pass, 1 fail (one line per failed check on stdout).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PVIO = sys.argv[1]
NAME = sys.argv[2]
failures = []


def check(what, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else " " + detail))
    if not ok:
        failures.append(what)


def run(*args, timeout=60):
    return subprocess.run([PVIO, *args], capture_output=True, text=True,
                          timeout=timeout)


def blk_json(*args):
    r = run("blk", "--runtime", "1", "--json", *args)
    try:
        doc = json.loads(r.stdout)
    except ValueError:
        doc = None
    return r, doc


def expect_pass(*args):
    r, doc = blk_json(*args)
    name = "pvio blk " + " ".join(args)
    check(name + ": exit 0 with one JSON object",
          r.returncode == 0 and doc is not None,
          f"rc={r.returncode} stdout={r.stdout!r} stderr={r.stderr!r}")
    if doc is None:
        return None
    want_verify = "off" if "null" in args else "ok"
    check(name + f": verify {want_verify}, errors 0, requests done",
          doc["verify"] == want_verify and doc["errors"] == 0 and
          doc["requests"] > 0 and doc["ok"] is True, str(doc))
    for key in ("iops", "mib_per_s", "errors", "verify", "kicks_per_req",
                "grant_maps_per_req", "persistent_hit_rate"):
        check(name + f": has {key}", key in doc, str(list(doc)))
    check(name + ": mib_per_s and iops above 0, kicks_per_req in (0, 1.5]",
          doc["mib_per_s"] > 0 and doc["iops"] > 0 and
          0 < doc["kicks_per_req"] <= 1.5, str(doc))
    check(name + ": lat_us has p50, p99, p999",
          all(k in doc.get("lat_us", {}) for k in ("p50", "p99", "p999")) and
          doc["lat_us"]["p50"] <= doc["lat_us"]["p99"] <= doc["lat_us"]["p999"],
          str(doc.get("lat_us")))
    return doc


def one_line_error(r, rc, needle, what):
    lines = r.stderr.strip().splitlines()
    check(what, r.returncode == rc and len(lines) == 1 and needle in lines[0],
          f"rc={r.returncode} stderr={r.stderr!r}")


class Hostd:
    """pvio hostd on a temp run dir, ready when it says so."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="pvio-blk-test-")
        self.p = subprocess.Popen([PVIO, "hostd", "--run-dir", self.dir],
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if "serving" not in line:
            raise RuntimeError("hostd did not start: " + line)

    def close(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def sparse_image(size=64 << 20, where="/var/tmp"):
    fd, path = tempfile.mkstemp(prefix="pvio-blk-test-", suffix=".img", dir=where)
    os.ftruncate(fd, size)
    os.close(fd)
    return path


def spec(path, access="rw"):
    return f"format=raw,vdev=xvda,access={access},target={path}"


# ---- the tests ---------------------------------------------------------------

def t_default_json():
    doc = expect_pass()
    if doc:
        check("default: 1 GiB temp image, randrw 4 KiB at depth 32",
              doc["size"] == 1 << 30 and doc["rw"] == "randrw" and
              doc["bs"] == 4096 and doc["iodepth"] == 32 and
              doc["reads"] > 0 and doc["writes"] > 0, str(doc))
        check("default: verified reads", doc["verify_checked"] > 0, str(doc))
        check("default: zero copy (no persistent grants; every segment is "
              "the workload's own page, granted per request)",
              doc["persistent"] is False and doc["persistent_hit_rate"] is None and
              doc["bounced_bytes"] == 0 and
              doc["zero_copy_segments"] >= doc["requests"], str(doc))


def t_text_summary():
    r = run("blk", "--runtime", "1")
    out = r.stdout
    check("text summary: exit 0", r.returncode == 0, f"rc={r.returncode} {r.stderr!r}")
    for needle in ("IOPS", "MiB/s", "latency (us): p50", "p99.9", "errors: 0",
                   "verify: ok", "kicks/request", "grant maps/request",
                   "persistent-grant hit rate"):
        check(f"text summary has '{needle}'", needle in out, out)
    check("text summary: no progress lines when stdout is not a terminal",
          "[  1s]" not in out, out)


def t_engine_libaio():
    expect_pass("--engine", "libaio")


def t_engine_sync():
    expect_pass("--engine", "sync")


def t_engine_null():
    doc = expect_pass("--engine", "null")
    if doc:
        check("null engine: the backend served every request",
              doc["backend"]["req_read"] + doc["backend"]["req_write"] == doc["requests"],
              str(doc))


def t_persistent_off():
    doc = expect_pass("--persistent", "off")
    if doc:
        check("persistent off: not negotiated, grants mapped per request",
              doc["persistent"] is False and doc["persistent_hit_rate"] is None and
              doc["grant_maps_per_req"] >= 0.9, str(doc))


def t_persistent_on():
    doc = expect_pass("--persistent", "on")
    if doc:
        check("persistent on: negotiated, data copied through pages the "
              "backend keeps mapped",
              doc["persistent"] is True and doc["persistent_hit_rate"] > 0.5 and
              doc["zero_copy_segments"] == 0 and doc["bounced_bytes"] > 0, str(doc))


def t_ring_pages():
    """Every multi-page ring (orders 1 to 4) through the processes."""
    for n in (2, 4, 8, 16):
        doc = expect_pass("--ring-pages", str(n), "--size", "64m")
        if doc:
            check(f"ring pages {n} negotiated", doc["ring_pages"] == n, str(doc))


def t_queues_2():
    doc = expect_pass("--queues", "2")
    if doc:
        check("2 queues negotiated", doc["queues"] == 2 and doc["numjobs"] == 2, str(doc))


def t_randread():
    doc = expect_pass("--rw", "randread")
    if doc:
        check("randread: reads only, all zeros verified",
              doc["writes"] == 0 and doc["verify_checked"] == doc["reads"], str(doc))


def t_write():
    doc = expect_pass("--rw", "write")
    if doc:
        check("write: writes only", doc["rw"] == "write" and doc["reads"] == 0 and
              doc["writes"] > 0, str(doc))
        check("write: --verify reads back what was written after the run",
              0 < doc["verify_checked"] <= doc["writes"], str(doc))


def t_rw_modes():
    doc = expect_pass("--rw", "read", "--size", "64m")
    if doc:
        check("read: reads only, each verified", doc["rw"] == "read" and
              doc["writes"] == 0 and doc["reads"] > 0 and
              doc["verify_checked"] == doc["reads"], str(doc))
    doc = expect_pass("--rw", "randwrite", "--size", "64m")
    if doc:
        check("randwrite: writes only, the blocks read back after the run",
              doc["rw"] == "randwrite" and doc["reads"] == 0 and doc["writes"] > 0 and
              0 < doc["verify_checked"] <= doc["writes"] and
              doc["backend"]["req_read"] == doc["verify_checked"], str(doc))


def t_numjobs_size():
    doc = expect_pass("--numjobs", "3", "--size", "16m")
    if doc:
        check("--numjobs 3: 3 jobs on 3 queues", doc["numjobs"] == 3 and
              doc["queues"] == 3, str(doc))
        check("--size 16m: the region and the temp image", doc["size"] == 16 << 20 and
              doc["backend"]["req_read"] + doc["backend"]["req_write"] == doc["requests"],
              str(doc))
    img = sparse_image(64 << 20)
    try:
        with open(img, "r+b") as f:  # a marker past the region: never read
            f.seek(32 << 20)
            f.write(b"\x5a" * 4096)
        doc = expect_pass("--disk", spec(img), "--size", "8m", "--rw", "write")
        if doc:
            check("--size 8m on a 64 MiB disk: only the first 8 MiB written",
                  doc["size"] == 8 << 20, str(doc))
        with open(img, "rb") as f:
            f.seek(8 << 20)
            rest = f.read(24 << 20)
            check("--size 8m: nothing written past 8 MiB", rest.count(0) == len(rest))
            check("--size 8m: the marker past the region is intact",
                  f.read(4096) == b"\x5a" * 4096)
    finally:
        os.unlink(img)


def t_runtime_default_and_progress():
    r = run("blk", "--help")
    check("--help: --runtime defaults to 5 s", "default 5)" in
          r.stdout.split("--runtime", 2)[-1].split("--size")[0], r.stdout)
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(PVIO, [PVIO, "blk", "--runtime", "2", "--size", "64m"])
    out = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = out.decode(errors="replace")
    check("on a terminal: exit 0", os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0,
          text)
    check("on a terminal: a progress line at 1 s, before the summary",
          "[  1s]" in text and text.index("[  1s]") < text.index("IOPS"), text)


def t_bs_1m_indirect():
    doc = expect_pass("--bs", "1m", "--iodepth", "8")
    if doc:
        check("1 MiB blocks go as indirect requests",
              doc["bs"] == 1 << 20 and doc["backend"]["req_indirect"] > 0, str(doc))


def run_sides(what, order="backend-first", be_extra=(), fe_extra=()):
    """pvio blkback (toolstack via --frontend) and pvio blkfront as separate
    processes on one hostd; checks both exit cleanly; returns the
    frontend's and the backend's JSON (None where a check failed)."""
    h = Hostd()
    img = sparse_image()
    try:
        be_args = [PVIO, "blkback", "--run-dir", h.dir, "--frontend", "1",
                   "--disk", spec(img), "--json", *be_extra]
        fe_args = [PVIO, "blkfront", "--run-dir", h.dir, "--runtime", "1",
                   "--json", *fe_extra]
        first, second = (be_args, fe_args) if order == "backend-first" else (fe_args, be_args)
        p1 = subprocess.Popen(first, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        time.sleep(0.2)
        p2 = subprocess.Popen(second, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
        be, fe = (p1, p2) if order == "backend-first" else (p2, p1)
        fout, ferr = fe.communicate(timeout=60)
        try:
            fdoc = json.loads(fout)
        except ValueError:
            fdoc = None
        check(f"{what}: blkfront exits 0 with verify ok",
              fe.returncode == 0 and fdoc is not None and
              fdoc["verify"] == "ok" and fdoc["errors"] == 0,
              f"rc={fe.returncode} out={fout!r} err={ferr!r}")
        be.send_signal(signal.SIGINT)
        bout, berr = be.communicate(timeout=30)
        lines = bout.strip().splitlines()
        try:
            bdoc = json.loads(lines[-1]) if lines else None
        except ValueError:
            bdoc = None
        check(f"{what}: blkback serves, stops on SIGINT with exit 0 and counters",
              be.returncode == 0 and "serving vbd 51712" in bout and
              bdoc is not None and bdoc["connects"] == 1 and bdoc["errors"] == 0,
              f"rc={be.returncode} out={bout!r} err={berr!r}")
        return fdoc, bdoc
    finally:
        h.close()
        os.unlink(img)


def t_separate_sides():
    """blkback and blkfront as separate processes, in both start orders."""
    for order in ("backend-first", "frontend-first"):
        fdoc, bdoc = run_sides(order, order)
        check(f"{order}: the backend served every request the frontend made",
              fdoc is not None and bdoc is not None and
              bdoc["req_read"] + bdoc["req_write"] == fdoc["requests"],
              f"{fdoc} {bdoc}")


def t_feature_matrix():
    """The optional features, both ways, as separate processes: a frontend
    asking for everything against a backend offering nothing optional, and
    a frontend asking for nothing against a backend offering everything."""
    fdoc, bdoc = run_sides("bare backend", be_extra=["--features", "none"],
                           fe_extra=["--persistent", "on", "--ring-pages", "16",
                                     "--queues", "4", "--bs", "64k", "--iodepth", "8"])
    if fdoc and bdoc:
        check("bare backend: one queue, one ring page, no persistent grants",
              fdoc["queues"] == 1 and fdoc["ring_pages"] == 1 and
              fdoc["persistent"] is False and bdoc["persistent_hits"] == 0 and
              bdoc["persistent_misses"] == 0, f"{fdoc} {bdoc}")
        check("bare backend: no flush, discard or indirect negotiated",
              fdoc["features"] == {"flush": "off", "discard": False,
                                   "secure_discard": False,
                                   "max_indirect_segments": 0},
              str(fdoc["features"]))
        # 64 KiB is 16 segments, more than 11: each block goes as 2 plain
        # requests, none indirect.
        check("bare backend: 64 KiB blocks split into 2 requests each",
              bdoc["req_indirect"] == 0 and
              bdoc["req_read"] + bdoc["req_write"] == 2 * fdoc["requests"],
              f"{fdoc['requests']} {bdoc}")
    fdoc, bdoc = run_sides("bare frontend",
                           fe_extra=["--persistent", "off", "--ring-pages", "1",
                                     "--queues", "1"])
    if fdoc and bdoc:
        check("bare frontend: one queue, one ring page, grants mapped per request",
              fdoc["queues"] == 1 and fdoc["ring_pages"] == 1 and
              fdoc["persistent"] is False and bdoc["persistent_hits"] == 0 and
              bdoc["grant_maps"] >= bdoc["req_read"] + bdoc["req_write"] > 0 and
              bdoc["req_indirect"] == 0, f"{fdoc} {bdoc}")
        check("bare frontend: the backend still offers flush, discard, indirect",
              fdoc["features"]["flush"] == "flush-cache" and
              fdoc["features"]["discard"] is True and
              fdoc["features"]["max_indirect_segments"] > 0,
              str(fdoc["features"]))


def t_run_dir():
    """pvio blk --run-dir: join an existing hostd instead of starting one."""
    h = Hostd()
    try:
        r, doc = blk_json("--run-dir", h.dir, "--size", "64m")
        check("--run-dir: exit 0, verify ok", r.returncode == 0 and doc and
              doc["verify"] == "ok" and doc["errors"] == 0,
              f"rc={r.returncode} {r.stderr!r}")
        check("--run-dir: hostd still serving afterwards", h.p.poll() is None)
    finally:
        h.close()


def t_readonly():
    img = sparse_image()
    try:
        r, doc = blk_json("--disk", spec(img, "ro"))
        check("read-only disk: exit 1", r.returncode == 1,
              f"rc={r.returncode} {r.stderr!r}")
        check("read-only disk: writes fail as errors, reads work and verify",
              doc is not None and doc["write_errors"] == doc["writes"] > 0 and
              doc["read_errors"] == 0 and doc["reads"] > 0 and
              doc["verify"] == "ok", str(doc))
        check("read-only disk: one stderr line naming the errors",
              len(r.stderr.strip().splitlines()) == 1 and "I/O errors" in r.stderr,
              r.stderr)
        with open(img, "rb") as f:
            check("read-only disk: the image is untouched",
                  f.read(1 << 20).count(0) == 1 << 20)
    finally:
        os.unlink(img)


def blk_json_scribbled(*args):
    """pvio blk on an 8 MiB image that another writer keeps overwriting
    with 0xaa for the whole run."""
    import threading
    img = sparse_image(8 << 20)
    stop = threading.Event()

    def scribble():
        junk = b"\xaa" * (8 << 20)
        while not stop.is_set():
            with open(img, "r+b") as f:
                f.write(junk)
            time.sleep(0.05)

    th = threading.Thread(target=scribble)
    th.start()
    try:
        return blk_json("--disk", spec(img), *args)
    finally:
        stop.set()
        th.join()
        os.unlink(img)


def t_verify_detects_corruption():
    """Another writer scribbles over the image during the run: reads of
    blocks the workload wrote must fail verification, with the offset."""
    r, doc = blk_json_scribbled()
    check("corruption: exit 1, verify failed with the offset",
          r.returncode == 1 and doc is not None and doc["verify"] == "failed" and
          doc["verify_failures"] > 0 and "offset" in doc.get("first_mismatch", {}),
          f"rc={r.returncode} {doc}")
    one_line_error(r, 1, "failed verification", "corruption: one stderr line")


def t_verify_write_only_detects_corruption():
    """A write-only run reads its blocks back at the end: a block someone
    else overwrote fails the run, with its offset."""
    r, doc = blk_json_scribbled("--rw", "randwrite")
    check("write-only corruption: exit 1, verify failed with the offset",
          r.returncode == 1 and doc is not None and doc["verify"] == "failed" and
          doc["verify_failures"] > 0 and doc["reads"] == 0 and
          doc["first_mismatch"]["offset"] % 4096 == 0 and
          doc["first_mismatch"]["offset"] < 8 << 20,
          f"rc={r.returncode} {doc}")
    one_line_error(r, 1, "failed verification", "write-only corruption: one stderr line")


def umount(mnt):
    # io_uring tears its rings down asynchronously: the file may stay
    # referenced for a few seconds after the backend process exited.
    for _ in range(150):
        if subprocess.run(["umount", mnt], capture_output=True).returncode == 0:
            return True
        time.sleep(0.2)
    return subprocess.run(["umount", "-l", mnt], capture_output=True).returncode == 0


def t_enospc():
    mnt = tempfile.mkdtemp(prefix="pvio-blk-enospc-")
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt],
                       capture_output=True, text=True)
    check("mount an 8 MiB tmpfs", m.returncode == 0, m.stderr)
    if m.returncode != 0:
        os.rmdir(mnt)
        return
    try:
        img = sparse_image(64 << 20, mnt)
        t0 = time.monotonic()
        r, doc = blk_json("--disk", spec(img), "--rw", "randwrite", "--iodepth", "16")
        took = time.monotonic() - t0
        check("ENOSPC: exit 1, no hang", r.returncode == 1 and took < 30,
              f"rc={r.returncode} took={took:.1f}s {r.stderr!r}")
        check("ENOSPC: errors counted per request, some writes succeeded",
              doc is not None and 0 < doc["write_errors"] < doc["writes"] and
              doc["drained"] is True, str(doc))
        check("ENOSPC: the backend says no space",
              doc is not None and doc["backend"]["err_nospc"] == doc["write_errors"],
              str(doc and doc.get("backend")))
        check("ENOSPC: one stderr line", len(r.stderr.strip().splitlines()) == 1,
              r.stderr)
        # Then reads: blocks whose write failed are not checked, the rest are.
        r2, doc2 = blk_json("--disk", spec(img), "--rw", "randread", "--verify", "on")
        check("after ENOSPC: reads work", r2.returncode == 0 and doc2 and
              doc2["errors"] == 0, f"rc={r2.returncode} {r2.stderr!r}")
        os.unlink(img)
    finally:
        check("tmpfs unmounted", umount(mnt))
        os.rmdir(mnt)


def t_sector_4096():
    img = sparse_image(64 << 20)
    lo = subprocess.run(["losetup", "-f", "--show", "-b", "4096", img],
                        capture_output=True, text=True)
    check("loop device with 4096-byte sectors", lo.returncode == 0, lo.stderr)
    if lo.returncode != 0:
        os.unlink(img)
        return
    dev = lo.stdout.strip()
    try:
        r, doc = blk_json("--disk", spec(dev))
        check("4096-byte sectors: exit 0, verify ok, whole device",
              r.returncode == 0 and doc and doc["sector_size"] == 4096 and
              doc["size"] == 64 << 20 and doc["verify"] == "ok" and doc["errors"] == 0,
              f"rc={r.returncode} {r.stderr!r} {doc}")
        r = run("blk", "--runtime", "1", "--disk", spec(dev), "--bs", "512")
        one_line_error(r, 2, "4096-byte sectors",
                       "4096-byte sectors: --bs 512 is bad usage, one line")
    finally:
        subprocess.run(["losetup", "-d", dev])
        os.unlink(img)


def t_usage_errors():
    cases = [
        (["blk", "--bogus"], "--bogus"),
        (["blk", "--engine", "nope"], "--engine"),
        (["blk", "--rw", "sideways"], "--rw"),
        (["blk", "--bs", "1000"], "--bs"),
        (["blk", "--bs", "8m"], "--bs"),
        (["blk", "--iodepth", "0"], "--iodepth"),
        (["blk", "--numjobs", "17"], "--numjobs"),
        (["blk", "--queues", "x"], "--queues"),
        (["blk", "--runtime", "0"], "--runtime"),
        (["blk", "--size", "huge"], "--size"),
        (["blk", "--verify", "maybe"], "--verify"),
        (["blk", "--persistent", "sometimes"], "--persistent"),
        (["blk", "--ring-pages", "3"], "--ring-pages"),
        (["blk", "--disk", "format=qcow2,vdev=xvda,target=/x"], "--disk"),
        (["blk", "--disk"], "--disk"),
        (["blk", "--engine", "null", "--verify", "on"], "--verify"),
        (["blkback"], "--disk"),
        (["blkback", "--disk", "file:/x,xvda,w", "--frontend", "0"], "--frontend"),
        (["blkback", "--disk", "file:/x,xvda,w", "--queues", "99"], "--queues"),
        (["blkback", "--disk", "file:/x,xvda,w", "--engine", "aio"], "--engine"),
        (["blkback", "--disk", "file:/x,xvda,w", "--what"], "--what"),
        (["blkback", "--disk", "file:/x,xvda,w", "--features", "some"], "--features"),
        (["blkback", "--disk", "file:/x,xvda,w", "--features", "none", "--queues", "2"],
         "--features"),
        (["blkfront", "--vdev", "floppy"], "--vdev"),
        (["blkfront", "--wait", "-1"], "--wait"),
        (["blkfront", "--bs", "0"], "--bs"),
        (["blkfront", "--nope"], "--nope"),
    ]
    for args, needle in cases:
        one_line_error(run(*args), 2, needle, "usage error: pvio " + " ".join(args))
    for cmd in ("blk", "blkback", "blkfront"):
        r = run(cmd, "--help")
        check(f"pvio {cmd} --help", r.returncode == 0 and "usage" in r.stdout and
              r.stderr == "", f"rc={r.returncode}")
        # Every flag the usage synopsis names is described below it.
        synopsis = r.stdout.split("\n\n")[0]
        for word in synopsis.split():
            flag = word.strip("[]|,.'()")
            if flag.startswith("--") and len(flag) > 2:
                check(f"pvio {cmd} --help describes {flag}",
                      ("  " + flag + " ") in r.stdout or ("  " + flag + "\n") in r.stdout
                      or ("  " + flag + " ") in r.stdout.replace("|", " "),
                      flag)


def t_failures():
    r = run("blk", "--disk", spec("/nonexistent/pvio.img"), "--runtime", "1")
    one_line_error(r, 1, "/nonexistent/pvio.img", "missing image: exit 1, one line")
    r = run("blkback", "--disk", spec("/nonexistent/pvio.img"), "--run-dir", "/nonexistent")
    one_line_error(r, 1, "/nonexistent/pvio.img", "blkback missing image: exit 1, one line")
    img = sparse_image(1 << 20)
    try:
        r = run("blkback", "--disk", spec(img), "--run-dir", "/nonexistent/run")
        one_line_error(r, 1, "no pvio hostd", "blkback without hostd: exit 1, one line")
        r = run("blkfront", "--run-dir", "/nonexistent/run", "--runtime", "1")
        one_line_error(r, 1, "no pvio hostd", "blkfront without hostd: exit 1, one line")
    finally:
        os.unlink(img)
    # Targets blkback refuses, each named for what is wrong with it.
    tmpdir = tempfile.mkdtemp(prefix="pvio-blk-test-")
    empty = sparse_image(0)
    tiny = sparse_image(100)
    small = sparse_image(1000)
    try:
        for target, needle in ((tmpdir, "is a directory"),
                               ("/dev/null", "not a regular file or a block device"),
                               (empty, "is empty"),
                               (tiny, "smaller than one 512-byte sector")):
            r = run("blk", "--disk", spec(target), "--runtime", "1")
            one_line_error(r, 1, needle, f"target {target}: exit 1, names the problem: {needle}")
            check(f"target {target}: no engine blamed", "engine" not in r.stderr,
                  r.stderr)
        # 1000 bytes: one 512-byte sector, less than one --bs block; no
        # --size was given, so the message must not blame one.
        r = run("blk", "--disk", spec(small), "--runtime", "1")
        one_line_error(r, 1, "less than one block of 4096 bytes",
                       "a disk smaller than --bs: exit 1, one line")
        check("a disk smaller than --bs: no --size named", "--size" not in r.stderr,
              r.stderr)
        r = run("blk", "--disk", spec(small), "--runtime", "1", "--size", "512")
        one_line_error(r, 2, "--size 512", "an explicit --size too small is bad usage")
    finally:
        os.rmdir(tmpdir)
        for p in (empty, tiny, small):
            os.unlink(p)
    h = Hostd()
    try:
        r = run("blkfront", "--run-dir", h.dir, "--wait", "1", "--runtime", "1")
        one_line_error(r, 1, "did not appear", "blkfront with no device: exit 1 after --wait")
    finally:
        h.close()


TESTS = {name[2:]: fn for name, fn in globals().items() if name.startswith("t_")}

if NAME not in TESTS:
    print(f"unknown test {NAME}; known: {' '.join(sorted(TESTS))}")
    sys.exit(2)
TESTS[NAME]()
print(f"{NAME}: {len(failures)} failed")
sys.exit(1 if failures else 0)
