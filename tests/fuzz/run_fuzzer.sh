#!/bin/sh
# Run one libFuzzer target as a meson test:
#
#   run_fuzzer.sh BINARY CORPUS SECONDS RUNS
#
# PVIO_FUZZ_SECONDS and PVIO_FUZZ_RUNS in the environment override the last
# two (a long run: README.md).
#
# 1. replay every committed input of CORPUS (seeds and regression inputs):
#    any crash, sanitizer report, leak or harness assertion fails the test;
# 2. fuzz for at most SECONDS (and RUNS executions) starting from CORPUS,
#    writing new inputs to a scratch directory, never into the source tree.
# A crash leaves fuzz-artifacts/<target>-crash-* (or -leak-, -timeout-)
# in the build directory; copy it into CORPUS as a regression input once
# the bug is fixed.
set -eu

bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
corpus=$(cd "$2" && pwd)
secs=${PVIO_FUZZ_SECONDS:-$3}
runs=${PVIO_FUZZ_RUNS:-$4}
name=$(basename "$bin")
work=$(mktemp -d "${TMPDIR:-/tmp}/pvio-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Crash inputs are kept next to the build (meson runs tests from there).
art="$PWD/fuzz-artifacts"
mkdir -p "$art"

echo "== replay $(ls "$corpus" | wc -l) inputs of $corpus"
"$bin" -runs=0 -detect_leaks=1 "$corpus"

echo "== fuzz ${secs}s / ${runs} runs"
mkdir "$work/new"
cd "$work"
if ! "$bin" -max_total_time="$secs" -runs="$runs" -detect_leaks=1 \
	-print_final_stats=1 -artifact_prefix="$art/$name-" "$work/new" "$corpus"; then
	echo "fuzz target failed; artifacts in $art:" >&2
	ls -l "$art" >&2
	for f in "$art/$name"-*; do
		[ -e "$f" ] && od -A d -t x1 "$f" | head -20 >&2
	done
	exit 1
fi
