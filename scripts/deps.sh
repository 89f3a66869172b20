#!/bin/sh
# Install, from Debian's packages, what pvio needs to build, test and
# benchmark. Idempotent: when everything is present it returns at once.
set -eu

PVIO_PACKAGES="meson ninja-build pkg-config gcc g++ clang libclang-rt-14-dev \
python3 libcmocka-dev libxen-dev libdpdk-dev libbenchmark-dev binutils xenstore-utils \
liburing-dev libaio-dev \
nbdkit nbdkit-plugin-dev libnbd-bin file qemu-utils fio \
iperf3 iproute2 procps nftables iputils-ping bridge-utils spin valgrind"

missing=""
for p in $PVIO_PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "pvio: installing:$missing"
	if [ "$(id -u)" -ne 0 ]; then
		echo "pvio: need root to install packages (run as root or with sudo)" >&2
		exit 2
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq $missing >/dev/null
fi
