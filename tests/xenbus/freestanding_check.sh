#!/bin/sh
# The xenbus core compiles freestanding: with no libc headers at all
# (-nostdinc, only the compiler's own <stdint.h>/<stddef.h>/<stdbool.h>),
# linked into one relocatable object with -nostdlib, and it calls nothing
# but memcpy/memset. Usage: freestanding_check.sh SRCDIR INCDIR CC...
set -eu
src=$1; inc=$2; shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for cc in "$@"; do
	command -v "$cc" >/dev/null 2>&1 || continue
	cinc=$("$cc" -print-file-name=include)
	objs=
	for f in "$src"/xs_client.c "$src"/xs_ops.c "$src"/xs_util.c \
		 "$src"/xenbus_device.c "$src"/xenbus_state.c "$src"/backend.c; do
		o="$tmp/$(basename "$f" .c).$cc.o"
		"$cc" -std=c11 -O2 -ffreestanding -fno-builtin -nostdinc \
			-isystem "$cinc" -I"$inc" -I"$src" \
			-Wall -Wextra -Werror -c "$f" -o "$o"
		objs="$objs $o"
	done
	# shellcheck disable=SC2086
	"$cc" -nostdlib -r -o "$tmp/xenbus.$cc.o" $objs
	undef=$(nm -u "$tmp/xenbus.$cc.o" | awk '{print $2}' | sort -u)
	bad=$(printf '%s\n' "$undef" | grep -v -x -e memcpy -e memset -e '' || true)
	echo "$cc: undefined: $(echo $undef)"
	if [ -n "$bad" ]; then
		echo "$cc: FAIL: the freestanding core needs: $bad"
		status=1
	fi
done
exit $status
