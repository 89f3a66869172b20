#!/bin/sh
# Build one libFuzzer target with clang, whatever compiler the meson build
# uses (CI builds with gcc; libFuzzer needs clang's -fsanitize=fuzzer).
#
#   build_fuzzer.sh OUT DEPFILE SRCROOT SOURCE...
#
# Every source is compiled with ASan + UBSan + the fuzzer's coverage
# instrumentation, so the library code under test is instrumented too, not
# only the harness. DEPFILE lists every header the sources included, so
# meson rebuilds the target when one changes.
set -eu

out=$1 dep=$2 root=$3
shift 3
CLANG=${CLANG:-clang}
# A private scratch dir: two builds of one target (two ninja runs in one
# build dir) must not trip over each other's objects.
objdir=$(mktemp -d "$out.objs.XXXXXX")
trap 'rm -rf "$objdir"' EXIT

flags="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
  -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
  -I$root/include -I$root/tests/fuzz"

objs=""
i=0
: > "$objdir/dep"
for src in "$@"; do
	i=$((i + 1))
	obj="$objdir/$i.o"
	# shellcheck disable=SC2086
	$CLANG $flags -c "$src" -o "$obj" -MD -MF "$obj.d" -MT "$out"
	cat "$obj.d" >> "$objdir/dep"
	objs="$objs $obj"
done
# shellcheck disable=SC2086
$CLANG -fsanitize=fuzzer,address,undefined $objs -o "$objdir/bin" -lpthread
mv "$objdir/bin" "$out"
mv "$objdir/dep" "$dep"
