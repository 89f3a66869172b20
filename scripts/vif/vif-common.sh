# SPDX-License-Identifier: MIT
# Shared by vif-bridge, vif-route and vif-nat: Xen's hotplug-script
# contract. Called as "<script> online|offline|add|remove" with, in the
# environment:
#   vif          the backend interface (vif<domid>.<devid>)      required
#   XENBUS_PATH  the backend dir in the store (bridge, ip, ... are read
#                from there when not in the environment; the result goes
#                to $XENBUS_PATH/hotplug-status)
#   bridge, ip, mac, netdev (gateway device)  optional overrides
# Store access uses xenstore-read/-write when present (XENSTORED_PATH
# points them at pvio hostd's store socket); without them the environment
# alone is used.

command="${1:-}"
case "$command" in
online|offline|add|remove) ;;
*) echo "usage: $0 online|offline|add|remove" >&2; exit 2 ;;
esac

if [ -z "${vif:-}" ]; then
  echo "$0: vif= not set" >&2
  exit 2
fi

have_xs() {
  [ -n "${XENBUS_PATH:-}" ] && command -v xenstore-read >/dev/null 2>&1
}

# xs_read_default KEY DEFAULT: $KEY from the environment, else the store.
xs_read_default() {
  eval "v=\${$1:-}"
  if [ -z "$v" ] && have_xs; then
    v=$(xenstore-read "$XENBUS_PATH/$1" 2>/dev/null || true)
  fi
  [ -n "$v" ] || v="$2"
  printf '%s' "$v"
}

hotplug_status() {
  if have_xs; then
    xenstore-write "$XENBUS_PATH/hotplug-status" "$1" 2>/dev/null || true
  fi
}

fatal() {
  echo "$0 $command $vif: $*" >&2
  hotplug_status error
  exit 1
}

link_up() {
  ip link set dev "$vif" up || fatal "cannot bring $vif up"
}

# nft_table: a per-vif table so offline removes exactly what online added.
nft_table() {
  printf 'pvio_%s' "$(printf '%s' "$vif" | tr '.-' '__')"
}
