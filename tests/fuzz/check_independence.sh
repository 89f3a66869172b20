#!/bin/sh
# Does an input of a fuzz target run the same whatever ran before it?
#
#   check_independence.sh BINARY CORPUS_DIR [N]
#
# Takes the first N inputs of CORPUS_DIR (sorted by name; default 300),
# runs each alone in its own process, then all of them in one process in
# that order and once more in reverse order (so each input runs after two
# different predecessors, and after everything before it in the list), all
# with the harness's narration (PVIO_FUZZ_DEBUG=1). Pointer values are
# masked. Prints the inputs whose narration differs from their lone run and
# the count of differing (input, order) pairs; exits 1 if there is any.
# A crash input must replay alone, which needs every input to leave
# nothing behind that changes the next one.
set -eu

bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
corpus=$(cd "$2" && pwd)
n=${3:-300}
work=$(mktemp -d "${TMPDIR:-/tmp}/pvio-indep.XXXXXX")
trap 'rm -rf "$work"' EXIT

ls "$corpus" | sort | head -n "$n" > "$work/list"
total=$(wc -l < "$work/list")
[ "$total" -gt 1 ] || { echo "need at least 2 inputs in $corpus" >&2; exit 2; }

# Split one process's stderr into a file per input, between libFuzzer's
# "Running: PATH" and "Executed PATH" lines.
split_run() { # outdir < log
	awk -v out="$1" '
		/^Running: / { f = $2; sub(".*/", "", f); cur = out "/" f; printf "" > cur; next }
		/^Executed / { close(cur); cur = ""; next }
		cur != "" { gsub(/0x[0-9a-f]+/, "0xP"); print >> cur }'
}

run() { # outdir file...
	out=$1
	shift
	mkdir -p "$out"
	# -detect_leaks=0: libFuzzer reruns an input that seems to leak, which
	# would print its narration twice depending on the allocator's state.
	PVIO_FUZZ_DEBUG=1 "$bin" -detect_leaks=0 "$@" 2>&1 | split_run "$out"
}

cd "$work"
while read -r f; do
	run alone "$corpus/$f"
done < list
# shellcheck disable=SC2046
run fwd $(sed "s|^|$corpus/|" list)
# shellcheck disable=SC2046
run rev $(sed "s|^|$corpus/|" list | tac)

differ=0
for order in fwd rev; do
	while read -r f; do
		if ! cmp -s "alone/$f" "$order/$f"; then
			echo "differs ($order): $f"
			differ=$((differ + 1))
		fi
	done < list
done
echo "$differ of $((2 * total)) (input, order) pairs differ from the lone run ($total inputs)"
[ "$differ" -eq 0 ]
