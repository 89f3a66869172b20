#!/bin/sh
# The evtchn core compiles freestanding: -ffreestanding -nostdlib, and the
# objects need no symbol but memcpy/memset (which a compiler may emit).
# Usage: freestanding_check.sh INCLUDE_DIR SOURCE... -- CC [CC ARGS...]
set -eu
inc=$1; shift
srcs=""
while [ "$1" != "--" ]; do srcs="$srcs $1"; shift; done
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for s in $srcs; do
	o="$tmp/$(basename "$s").o"
	"$@" -std=c11 -O2 -Wall -Wextra -Werror -ffreestanding -nostdlib \
		-I "$inc" -c "$s" -o "$o"
	undef=$(nm -u "$o" | awk '{print $2}' | grep -v -E '^(memcpy|memset)$' || true)
	# Symbols defined by the other core objects are fine.
	for u in $undef; do
		case "$u" in
		evt_*|pvio_evtchn_*) ;;
		*) echo "$(basename "$s"): needs $u (not freestanding)"; status=1 ;;
		esac
	done
done
[ $status -eq 0 ] && echo "evtchn core is freestanding:$srcs"
exit $status
