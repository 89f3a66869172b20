#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""`pvio hostd` as a command: help, bad usage, one hostd per dir, signals.

    test_hostd_cli.py PVIO
"""
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile

TIMEOUT = 60


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def run(pvio, *args):
    return subprocess.run([pvio, "hostd"] + list(args), capture_output=True,
                          text=True, timeout=TIMEOUT)


def start(pvio, run_dir):
    p = subprocess.Popen([pvio, "hostd", "--run-dir", run_dir, "--frames", "1024"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([p.stdout], [], [], TIMEOUT)
    line = p.stdout.readline() if ready else ""
    if line != "pvio hostd: serving %s\n" % run_dir:
        p.kill()
        fail("no ready line, got %r: %s" % (line, p.stderr.read()))
    return p


def main():
    pvio = sys.argv[1]
    run_dir = tempfile.mkdtemp(prefix="pvio-hostd-cli.")
    try:
        r = run(pvio, "--help")
        if r.returncode != 0:
            fail("--help exited %d" % r.returncode)
        for flag in ("--run-dir", "--frames", "--max-domains", "--verbose", "--help"):
            if flag not in r.stdout:
                fail("--help does not describe " + flag)
        top = subprocess.run([pvio, "--help"], capture_output=True, text=True,
                             timeout=TIMEOUT)
        if "hostd" not in top.stdout:
            fail("pvio --help does not list hostd")

        bad = [
            (["--frames", "abc"], "--frames"),
            (["--frames", "0"], "--frames"),
            (["--frames=-5"], "--frames"),
            (["--max-domains", "5000"], "--max-domains"),
            (["--max-domains", "0"], "--max-domains"),
            (["--run-dir"], "--run-dir"),
            (["--run-dir="], "--run-dir"),
            (["--bogus"], "--bogus"),
            (["--verbose=yes"], "--verbose"),
        ]
        for args, name in bad:
            r = run(pvio, "--run-dir", run_dir, *args) if args[0] != "--run-dir" \
                and not args[0].startswith("--run-dir=") else run(pvio, *args)
            lines = r.stderr.splitlines()
            if r.returncode != 2:
                fail("%r exited %d, want 2" % (args, r.returncode))
            if len(lines) != 1 or name not in lines[0]:
                fail("%r: want one stderr line naming %s, got %r" % (args, name, lines))
            if r.stdout:
                fail("%r printed on stdout: %r" % (args, r.stdout))

        # One hostd per run dir.
        first = start(pvio, run_dir)
        try:
            r = run(pvio, "--run-dir", run_dir, "--frames", "1024")
            lines = r.stderr.splitlines()
            if r.returncode != 1 or len(lines) != 1 or "another hostd" not in lines[0] \
                    or run_dir not in lines[0]:
                fail("second hostd: exit %d, stderr %r" % (r.returncode, lines))
            # The first still serves its sockets.
            for sock in ("socket", "hostd.sock"):
                if not os.path.exists(os.path.join(run_dir, sock)):
                    fail(sock + " vanished after the second hostd")
            first.send_signal(signal.SIGINT)
            if first.wait(timeout=TIMEOUT) != 0:
                fail("hostd exited %d on SIGINT" % first.returncode)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        for sock in ("socket", "hostd.sock"):
            if os.path.exists(os.path.join(run_dir, sock)):
                fail(sock + " left behind after SIGINT")
        # And the dir serves again afterwards.
        again = start(pvio, run_dir)
        again.send_signal(signal.SIGTERM)
        if again.wait(timeout=TIMEOUT) != 0:
            fail("hostd exited %d on SIGTERM" % again.returncode)

        # A run dir that cannot be made: exit 1, one line.
        r = run(pvio, "--run-dir", "/proc/pvio-cannot-be-here")
        lines = r.stderr.splitlines()
        if r.returncode != 1 or len(lines) != 1:
            fail("bad run dir: exit %d, stderr %r" % (r.returncode, lines))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    print("ok")


if __name__ == "__main__":
    main()
