#!/bin/sh
# SPDX-License-Identifier: MIT
#
# pvio-bench net's iperf3 rows (bench/suite_net.c runs this): iperf3 TCP
# through the split driver's TAP path against a plain veth pair, in network
# namespaces this script creates and removes. Needs root, iproute2, iperf3.
#
#   net_iperf.sh setup PVIO STATE   namespaces, veth pair, and the TAP path:
#                                   pvio hostd, pvio netfront --tap eth0 in
#                                   the guest namespace, pvio netback --port
#                                   tap in the dom0 one (vif-bridge on xenbr0
#                                   with the uplink to the peer namespace);
#                                   pids and names go to STATE/
#   net_iperf.sh run STATE veth|tap SECS
#                                   one iperf3 TCP run guest -> peer; prints
#                                   the receiver's bits/s
#   net_iperf.sh teardown STATE     stop what setup started, remove the
#                                   namespaces it created (and only those)
#
# Paths: veth  guest veth0 10.88.1.2 <-> peer veth1 10.88.1.1
#        tap   guest eth0 10.88.0.2 -> netfront -> ring -> netback ->
#              vifN.0 -> xenbr0 (dom0) -> uplink <-> peer eth0 10.88.0.1
# The namespaces are pvb<tag>-g, -p and -d, the tag being the last six
# letters and digits of STATE's name (mkdtemp's unique suffix when
# pvio-bench makes it: at most 11 characters, within IFNAMSIZ), so two runs
# at once (each with its own STATE) and tests/net's namespaces never
# collide, and a namespace whose STATE is gone is known to be leaked. Every
# device is created inside its namespace, so device names cannot collide
# either. STATE/names holds the names for run and teardown; STATE/netns
# lists the namespaces this run created, one a line, for teardown to
# remove (and nothing else).
set -u

VIF="mac=00:16:3e:88:00:02,bridge=xenbr0,script=vif-bridge"

die() {
	echo "net_iperf.sh: $*" >&2
	exit 1
}

# Wait up to $1 tenths of a second for command "$2..." to succeed.
wait_for() {
	n=$1
	shift
	while [ "$n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# The namespace names of the run whose state dir is $1 (setup wrote them).
load_names() {
	[ -f "$1/names" ] || die "no namespaces recorded in $1 (setup not run?)"
	. "$1/names"
}

# A line in file $1 matching $2, within $3 tenths of a second.
wait_line() {
	wait_for "$3" grep -q "$2" "$1"
}

teardown() {
	st=$1
	for p in netfront netback hostd; do
		if [ -f "$st/$p.pid" ]; then
			pid=$(cat "$st/$p.pid")
			kill -TERM "$pid" 2>/dev/null
			# netfront first: it closes the vif; then the backend
			i=0
			while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
				sleep 0.1
				i=$((i + 1))
			done
			kill -KILL "$pid" 2>/dev/null
			rm -f "$st/$p.pid"
		fi
	done
	if [ -f "$st/netns" ]; then
		while read -r ns; do
			[ -n "$ns" ] && ip netns del "$ns" 2>/dev/null
		done <"$st/netns"
	fi
	[ -d "$st/run" ] && rm -rf "$st/run"
	rm -f "$st/hostd.out" "$st/netfront.out" "$st/netfront.err" \
		"$st/netback.out" "$st/netback.err" "$st/netns" "$st/names"
	return 0
}

setup() {
	pvio=$1 st=$2
	command -v iperf3 >/dev/null || die "iperf3 not found (apt-get install iperf3)"
	command -v ip >/dev/null || die "ip (iproute2) not found"
	[ -x "$pvio" ] || die "no pvio at $pvio"
	mkdir -p "$st" || die "cannot create $st"
	teardown "$st"
	tag=$(basename "$st" | tr -cd 'A-Za-z0-9' | tail -c 6)
	[ -n "$tag" ] || die "state dir $st: no letters or digits in its name to tag namespaces with"
	G=pvb$tag-g P=pvb$tag-p D=pvb$tag-d
	printf 'G=%s P=%s D=%s\n' $G $P $D >"$st/names" || die "cannot write $st/names"
	for ns in $G $P $D; do
		ip netns add $ns ||
			die "cannot create namespace $ns (root needed; or another run uses a state dir named like $st)"
		echo $ns >>"$st/netns"
		ip -n $ns link set lo up
	done
	# the plain path
	ip link add veth0 netns $G type veth peer name veth1 netns $P || die "veth"
	ip -n $G addr add 10.88.1.2/24 dev veth0
	ip -n $P addr add 10.88.1.1/24 dev veth1
	ip -n $G link set veth0 up
	ip -n $P link set veth1 up
	# dom0's bridge and uplink to the peer
	ip link add uplink netns $D type veth peer name eth0 netns $P || die "uplink"
	ip -n $D link add xenbr0 type bridge
	ip -n $D link set uplink master xenbr0
	ip -n $D link set uplink up
	ip -n $D link set xenbr0 up
	ip -n $P addr add 10.88.0.1/24 dev eth0
	ip -n $P link set eth0 up
	# the split driver
	mkdir -p "$st/run"
	"$pvio" hostd --run-dir "$st/run" >"$st/hostd.out" 2>&1 &
	echo $! >"$st/hostd.pid"
	wait_line "$st/hostd.out" serving 100 || die "hostd did not start: $(cat "$st/hostd.out")"
	ip netns exec $G "$pvio" netfront --run-dir "$st/run" --tap eth0 \
		>"$st/netfront.out" 2>"$st/netfront.err" &
	echo $! >"$st/netfront.pid"
	wait_line "$st/netfront.err" "waits" 100 || die "netfront: $(cat "$st/netfront.err")"
	domid=$(sed -n 's/.*domain \([0-9]*\) waits.*/\1/p' "$st/netfront.err" | head -n 1)
	[ -n "$domid" ] || die "netfront did not say its domain"
	"$pvio" netback --run-dir "$st/run" --frontend "$domid" --port tap \
		--netns $D --vif "$VIF" >"$st/netback.out" 2>"$st/netback.err" &
	echo $! >"$st/netback.pid"
	wait_line "$st/netback.out" "serving vif" 150 || die "netback: $(cat "$st/netback.err")"
	wait_line "$st/netfront.out" "eth0 is up" 150 || die "netfront: no eth0: $(cat "$st/netfront.err")"
	wait_for 100 ip -n $D link show "vif$domid.0" || die "no vif$domid.0 in $D"
	ip -n $G addr add 10.88.0.2/24 dev eth0
	wait_for 30 ip netns exec $G ping -c 1 -W 1 10.88.0.1 || die "tap path: no ping reply"
	wait_for 30 ip netns exec $G ping -c 1 -W 1 10.88.1.1 || die "veth path: no ping reply"
}

run() {
	load_names "$1"
	path=$2 secs=$3
	case $path in
	veth) srv=10.88.1.1 cli=10.88.1.2 ;;
	tap) srv=10.88.0.1 cli=10.88.0.2 ;;
	*) die "run: veth or tap, not $path" ;;
	esac
	ip netns exec $P iperf3 -s -1 -B $srv >/dev/null 2>&1 &
	spid=$!
	out=
	i=0
	# the server needs a moment to listen; retry the connection
	while [ $i -lt 30 ]; do
		out=$(ip netns exec $G iperf3 -c $srv -B $cli -t "$secs" -J 2>&1)
		printf '%s' "$out" | grep -q '"error"' || break
		sleep 0.1
		i=$((i + 1))
	done
	kill $spid 2>/dev/null
	wait $spid 2>/dev/null
	bps=$(printf '%s\n' "$out" | python3 -c \
		'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"])' \
		2>/dev/null) || die "iperf3 $path: $(printf '%s' "$out" | tail -c 300)"
	echo "$bps"
}

case ${1:-} in
setup) [ $# -eq 3 ] || die "usage: setup PVIO STATE"; setup "$2" "$3" ;;
run) [ $# -eq 4 ] || die "usage: run STATE veth|tap SECS"; run "$2" "$3" "$4" ;;
teardown) [ $# -eq 2 ] || die "usage: teardown STATE"; teardown "$2" ;;
*) die "usage: setup PVIO STATE | run STATE veth|tap SECS | teardown STATE" ;;
esac
