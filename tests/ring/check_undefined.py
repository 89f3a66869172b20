#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fail if an object, archive or executable needs a symbol it may not.

usage: check_undefined.py --nm NM [--allow sym,sym] FILE...

Lists each FILE's undefined symbols with nm and exits 1 if any is not in
--allow. The freestanding ring may need memcpy and memset (compilers emit
calls to them even with -ffreestanding) and nothing else.
"""
import argparse
import subprocess
import sys


def undefined(nm, path):
    out = subprocess.run([nm, '--undefined-only', '--portability', path],
                         check=True, capture_output=True, text=True).stdout
    syms = set()
    for line in out.splitlines():
        fields = line.split()
        # "name U" (or "name w"); archive member headers end in ':'.
        if len(fields) >= 2 and fields[1] in ('U', 'w', 'v'):
            syms.add(fields[0])
    return syms


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--nm', default='nm')
    p.add_argument('--allow', default='')
    p.add_argument('files', nargs='+')
    a = p.parse_args()
    allowed = {s for s in a.allow.split(',') if s}
    failed = False
    for path in a.files:
        syms = undefined(a.nm, path)
        bad = sorted(syms - allowed)
        print(f'{path}: undefined {sorted(syms) or "none"}')
        if bad:
            print(f'{path}: not allowed: {", ".join(bad)}', file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
