#!/bin/sh
# Check tests/model/ring_notify.pml with SPIN.
#
#   run_spin.sh MODEL fenced    the protocol as built: no assertion
#                               violation, no invalid end state (lost
#                               wake-up, missed request), no non-progress
#                               cycle. Fails on any error.
#   run_spin.sh MODEL nofence   the protocol with the F1-F4 fences removed
#                               (-DNOFENCE): SPIN must find a counter-
#                               example; the test fails if it does not.
#
# Bounds: PVIO_SPIN_N (requests, default 4), PVIO_SPIN_SLOTS (ring slots,
# default 2); the non-progress search uses N - 1 requests to stay small.
# The NOFENCE search is breadth-first, so its counterexample is shortest.
set -eu

src=$1
mode=$2
N=${PVIO_SPIN_N:-4}
N_NOFENCE=${PVIO_SPIN_N:-2}
SLOTS=${PVIO_SPIN_SLOTS:-2}
CC=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/pvio-spin.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$src" "$work/ring_notify.pml"
cd "$work"
model=ring_notify.pml

# build NAME SPIN_DEFINES PAN_DEFINES
build() {
	# shellcheck disable=SC2086
	spin $2 -a "$model" >/dev/null
	# shellcheck disable=SC2086
	$CC -O2 -w $3 -o "$1" pan.c
}

# Report, and the errors count of a pan run's output.
errors_of() {
	grep -E 'errors:|states, stored|pan:' "$1" | sed 's/^/  /'
	sed -n 's/.*errors: \([0-9]*\).*/\1/p' "$1" | tail -1
}

case $mode in
fenced)
	echo "== safety: N=$N SLOTS=$SLOTS (assertions, invalid end states)"
	build pan_safety "-DN=$N -DSLOTS=$SLOTS" "-DSAFETY"
	./pan_safety -m200000 >safety.out 2>&1 || true
	e=$(errors_of safety.out | tail -1)
	errors_of safety.out | sed '$d'
	if [ "$e" != 0 ]; then
		echo "SPIN found an error in the fenced protocol:" >&2
		spin -t -DN="$N" -DSLOTS="$SLOTS" "$model" | tail -40 >&2 || true
		exit 1
	fi
	np=$((N - 1))
	echo "== non-progress cycles, weak fairness: N=$np SLOTS=$SLOTS"
	build pan_np "-DN=$np -DSLOTS=$SLOTS" "-DNP"
	./pan_np -l -f -m200000 >np.out 2>&1 || true
	e=$(errors_of np.out | tail -1)
	errors_of np.out | sed '$d'
	if [ "$e" != 0 ]; then
		echo "SPIN found a non-progress cycle:" >&2
		spin -t -DN="$np" -DSLOTS="$SLOTS" "$model" | tail -40 >&2 || true
		exit 1
	fi
	echo "fenced protocol: no error"
	;;
nofence)
	echo "== safety without the fences: N=$N_NOFENCE SLOTS=$SLOTS (-DNOFENCE)"
	build pan_nofence "-DNOFENCE -DN=$N_NOFENCE -DSLOTS=$SLOTS" "-DSAFETY -DBFS"
	./pan_nofence -m200000 >nofence.out 2>&1 || true
	e=$(errors_of nofence.out | tail -1)
	errors_of nofence.out | sed '$d'
	if [ "$e" = 0 ] || [ ! -f "$model.trail" ]; then
		echo "SPIN found no counterexample without the fences" >&2
		exit 1
	fi
	echo "counterexample (as expected; the shortest, breadth-first):"
	spin -t -p -g -DNOFENCE -DN="$N_NOFENCE" -DSLOTS="$SLOTS" "$model" |
		grep -E 'proc|req_|rsp_|pending|queue' | tail -60
	;;
*)
	echo "usage: run_spin.sh MODEL fenced|nofence" >&2
	exit 2
	;;
esac
