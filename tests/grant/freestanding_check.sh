#!/bin/sh
# Compile grant/'s core freestanding (no libc, no hosted headers) and check
# that, linked together, it needs nothing from outside but memcpy and memset.
# usage: freestanding_check.sh CC INCLUDE_DIR SOURCE...
set -eu
cc=$1; inc=$2; shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for src in "$@"; do
	obj="$tmp/$(basename "$src" .c).o"
	$cc -std=c11 -O2 -Wall -Wextra -Werror -ffreestanding -nostdlib -nostdinc \
		-isystem "$($cc -print-file-name=include)" \
		-I "$inc" -c "$src" -o "$obj"
done
ld -r -o "$tmp/core.o" "$tmp"/*.o
undef=$(nm -u "$tmp/core.o" | awk '{print $NF}' | grep -v ':$' | sort -u | grep -v '^$' || true)
bad=$(printf '%s\n' "$undef" | grep -v -x -e memcpy -e memset -e '' || true)
if [ -n "$bad" ]; then
	echo "grant core needs symbols beyond memcpy/memset:" >&2
	printf '%s\n' "$bad" >&2
	exit 1
fi
echo "freestanding OK; undefined: $(printf '%s ' $undef)"
