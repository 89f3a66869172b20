#!/bin/sh
# SPDX-License-Identifier: MIT
# Debian's xenstore-utils, unchanged, against pvio's store daemon:
#   test_store_interop.sh PATH/TO/xenstored_test_server
# Fails (never skips) when xenstore-utils is missing: scripts/deps.sh
# installs it. Deterministic: no timing assertions, every wait is bounded
# (60 s) only so that a broken server fails instead of hanging.
set -eu

server=${1:?usage: test_store_interop.sh XENSTORED_TEST_SERVER}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

for t in xenstore-read xenstore-write xenstore-ls xenstore-rm xenstore-watch \
	xenstore-list xenstore-exists xenstore-chmod timeout; do
	command -v "$t" >/dev/null 2>&1 ||
		fail "$t not found: install xenstore-utils (scripts/deps.sh)"
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/pvio-store.XXXXXX")
srv_pid=
watch_pid=
cleanup() {
	[ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null || :
	exec 3>&- 2>/dev/null || :
	[ -n "$srv_pid" ] && wait "$srv_pid" 2>/dev/null || :
	rm -rf "$dir"
}
trap cleanup EXIT

# The server reads its stdin from a fifo we hold open: if this script dies,
# the fifo closes and the server exits.
mkfifo "$dir/in"
"$server" "$dir" 3 >"$dir/server.out" 2>"$dir/server.err" <"$dir/in" &
srv_pid=$!
exec 3>"$dir/in"

# Wait (bounded) until the first line of the
# output file contains the word ready.
wait_for() { # file pattern
	i=0
	while ! grep -q -- "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ "$i" -le 600 ] || fail "timed out waiting for '$2' in $1"
		kill -0 "$srv_pid" 2>/dev/null || fail "server died: $(cat "$dir/server.err")"
		sleep 0.1
	done
}
wait_for "$dir/server.out" "^ready "

XENSTORED_PATH="$dir/socket"
export XENSTORED_PATH
T="timeout 60"

expect() { # what got want
	[ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# write / read, several keys at once, values with spaces
$T xenstore-write /local/domain/3/name guest3 /test/a 1 /test/b "two words"
expect "read /test/b" "$($T xenstore-read /test/b)" "two words"
expect "read two" "$($T xenstore-read /test/a /local/domain/3/name)" "1
guest3"

# list / exists / ls
expect "list /test" "$($T xenstore-list /test)" "a
b"
$T xenstore-exists /test/a || fail "exists /test/a"
if $T xenstore-exists /test/none 2>/dev/null; then fail "exists /test/none"; fi

$T xenstore-write /local/domain/3/device/vbd/768/state 1
ls_out=$($T xenstore-ls /local/domain)
expect "ls /local/domain" "$ls_out" '3 = ""
 name = "guest3"
 device = ""
  vbd = ""
   768 = ""
    state = "1"'

# permissions: chmod, ls -p shows them; the domain owns its home
$T xenstore-chmod /test/b n0 r3
ls_p=$($T xenstore-ls -p /test)
case "$ls_p" in
*'b = "two words"'*'(n0,r3)'*) ;;
*) fail "ls -p /test: $ls_p" ;;
esac
ls_p=$($T xenstore-ls -p /local/domain)
case "$ls_p" in
'3 = ""'*'(n3)'*) ;;
*) fail "ls -p /local/domain: $ls_p" ;;
esac

# rm: gone afterwards, read fails
$T xenstore-rm /test/a
if $T xenstore-read /test/a 2>/dev/null; then fail "read after rm"; fi
expect "list after rm" "$($T xenstore-list /test)" "b"

# watch: fires once on registration, then for a write below the path
$T xenstore-write /w ""
$T xenstore-watch -n 3 /w >"$dir/watch.out" 2>"$dir/watch.err" &
watch_pid=$!
wait_for "$dir/watch.out" "^/w\$"
$T xenstore-write /w/x 1
wait_for "$dir/watch.out" "^/w/x\$"
$T xenstore-rm /w
i=0
while kill -0 "$watch_pid" 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -le 600 ] || fail "xenstore-watch -n 3 did not finish"
	sleep 0.1
done
wait "$watch_pid" || fail "xenstore-watch failed: $(cat "$dir/watch.err")"
watch_pid=
expect "watch events" "$(cat "$dir/watch.out")" "/w
/w/x
/w"

# The full tree, for the record.
echo "--- xenstore-ls / from pvio's store daemon:"
$T xenstore-ls /
# Closing its stdin stops the server; it must exit cleanly (no leaks
# under ASan either).
exec 3>&-
status=0
wait "$srv_pid" || status=$?
srv_pid=
[ "$status" -eq 0 ] || fail "server exit status $status: $(cat "$dir/server.err")"
[ ! -e "$dir/socket" ] || fail "server left $dir/socket behind"
echo "interop: ok"
