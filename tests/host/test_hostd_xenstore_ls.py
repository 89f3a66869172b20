#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Debian's xenstore-ls against a running `pvio hostd` with two domains.

    test_hostd_xenstore_ls.py PVIO HOST_DOMAIN_HELPER

Fails (never skips) when xenstore-utils is missing. Every wait is bounded
(60 s) only so that a hang fails instead of blocking; no timing asserts.
"""
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TIMEOUT = 60


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def readline(proc, what):
    ready, _, _ = select.select([proc.stdout], [], [], TIMEOUT)
    if not ready:
        fail(what + ": no output in time")
    line = proc.stdout.readline()
    if not line:
        fail(what + ": exited: " + proc.stderr.read())
    return line


def xenstore_ls(env, path):
    r = subprocess.run(["xenstore-ls", path], env=env, capture_output=True,
                       text=True, timeout=TIMEOUT)
    return r.returncode, r.stdout, r.stderr


def main():
    pvio, helper = sys.argv[1], sys.argv[2]
    if shutil.which("xenstore-ls") is None:
        fail("xenstore-ls not found: install xenstore-utils (scripts/deps.sh)")
    run_dir = tempfile.mkdtemp(prefix="pvio-hostd-ls.")
    env = dict(os.environ, XENSTORED_PATH=os.path.join(run_dir, "socket"))
    procs = []
    try:
        hostd = subprocess.Popen([pvio, "hostd", "--run-dir", run_dir,
                                  "--frames", "4096"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        procs.append(hostd)
        line = readline(hostd, "hostd")
        if line != "pvio hostd: serving %s\n" % run_dir:
            fail("unexpected ready line %r" % line)

        doms = {}
        for name, extra in (("backend", ["--driver"]), ("guest-a", [])):
            p = subprocess.Popen([helper, run_dir, name] + extra,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            procs.append(p)
            words = readline(p, name).split()
            if len(words) != 2 or words[0] != "domid":
                fail("%s said %r" % (name, words))
            doms[name] = (p, int(words[1]))
        if doms["backend"][1] != 0 or doms["guest-a"][1] == 0:
            fail("domids %r" % {k: v[1] for k, v in doms.items()})

        rc, out, err = xenstore_ls(env, "/local/domain")
        print("$ XENSTORED_PATH=%s xenstore-ls /local/domain" % env["XENSTORED_PATH"])
        print(out, end="")
        if rc != 0:
            fail("xenstore-ls exited %d: %s" % (rc, err))
        gid = doms["guest-a"][1]
        for want in ('0 = ""', ' name = "backend"', '%d = ""' % gid,
                     ' name = "guest-a"', ' domid = "%d"' % gid):
            if want not in out.splitlines():
                fail("xenstore-ls output lacks %r" % want)

        # The guest leaves: its home goes.
        g = doms["guest-a"][0]
        g.stdin.close()
        if g.wait(timeout=TIMEOUT) != 0:
            fail("guest-a helper failed: " + g.stderr.read())
        deadline = time.monotonic() + TIMEOUT
        while True:
            rc, out, err = xenstore_ls(env, "/local/domain")
            if rc == 0 and '%d = ""' % gid not in out.splitlines():
                break
            if time.monotonic() > deadline:
                fail("/local/domain/%d still there after the guest left:\n%s"
                     % (gid, out))
            time.sleep(0.05)

        hostd.send_signal(signal.SIGTERM)
        if hostd.wait(timeout=TIMEOUT) != 0:
            fail("hostd exited %d on SIGTERM" % hostd.returncode)
        for sock in ("socket", "hostd.sock"):
            if os.path.exists(os.path.join(run_dir, sock)):
                fail(sock + " left behind")
        b = doms["backend"][0]
        b.stdin.close()
        if b.wait(timeout=TIMEOUT) != 0:
            fail("backend helper failed: " + b.stderr.read())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(run_dir, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
