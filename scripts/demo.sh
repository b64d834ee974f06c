#!/usr/bin/env bash
# The demo: builds Sluice, gives it a network namespace with the interfaces
# configs/example.yaml names (veth pairs to a second namespace standing in
# for the access points and the LAN), where one BIRD plays both upstreams
# (iap-a with a few routes and a default, iap-b with a default only) and the
# internal iBGP neighbour. Runs the daemon, shows sessions, routes and what
# BIRD learned from Sluice, takes one access point's link down and back up,
# and stops. Everything it creates is removed on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $(id -u) -eq 0 ]] || { echo "demo: needs root (network namespaces); run it as root" >&2; exit 1; }

CONFIG=configs/example.yaml
SLUICE=$PWD/target/debug/sluice
RUN=sluice-demo-$$          # the router's namespace
WORLD=sluice-demo-w-$$      # the access points' and LAN's side of the links
WORK=$(mktemp -d /tmp/sluice-demo.XXXXXX)
SOCK=$WORK/sluice.sock
DAEMON=""
BIRD="bird -c $WORK/bird.conf -s $WORK/bird.ctl -P $WORK/bird.pid"

cleanup() {
  if [[ -n "$DAEMON" ]] && kill -0 "$DAEMON" 2>/dev/null; then kill -TERM "$DAEMON"; wait "$DAEMON" || true; fi
  [[ -f "$WORK/bird.pid" ]] && kill "$(cat "$WORK/bird.pid")" 2>/dev/null || true
  ip netns del "$RUN" 2>/dev/null || true
  ip netns del "$WORLD" 2>/dev/null || true
  umount -l "$WORK/bpf" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m## %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

say "build"
cargo build --quiet --bin sluice

say "validate $CONFIG"
show "$SLUICE" validate "$CONFIG"

# `ip netns exec` hides the host's /sys/fs/bpf: the data plane pins its
# maps in a bpffs of the demo's own (a restart would adopt them).
mkdir -p "$WORK/bpf" && mount -t bpf bpf "$WORK/bpf"
sed -e "s#bpffs: /sys/fs/bpf#bpffs: $WORK/bpf#" -e "s#instance: edge1#instance: demo-$$#" \
  "$CONFIG" > "$WORK/sluice.yaml"

say "network: namespace $RUN with eth1 (iap-a), eth2 (iap-b), eth3 (LAN)"
ip netns add "$RUN"
ip netns add "$WORLD"
ip -n "$RUN" link set lo up
# name in the router, address in the router, peer name, peer address
while read -r ifname addr peer peer_addr; do
  ip link add "$ifname" netns "$RUN" type veth peer name "$peer" netns "$WORLD"
  ip -n "$RUN" addr add "$addr" dev "$ifname"
  ip -n "$WORLD" addr add "$peer_addr" dev "$peer"
  ip -n "$RUN" link set "$ifname" up
  ip -n "$WORLD" link set "$peer" up
done <<'LINKS'
eth1 203.0.113.2/30 iap-a 203.0.113.1/30
eth2 203.0.113.6/30 iap-b 203.0.113.5/30
eth3 10.0.0.1/24 lan 10.0.0.2/24
LINKS
show ip -n "$RUN" -brief address

say "BIRD plays the upstreams (AS65001, AS65002) and the LAN router (AS64500)"
cat > "$WORK/bird.conf" <<BIRDCONF
router id 203.0.113.1;
log "$WORK/bird.log" all;
protocol device {}
protocol direct { ipv4; }
protocol static transit { ipv4; route 0.0.0.0/0 blackhole; route 8.8.8.0/24 blackhole; route 1.1.1.0/24 blackhole; }
template bgp t { connect retry time 1; hold time 9; graceful restart on; }
protocol bgp iap_a from t { local 203.0.113.1 as 65001; neighbor 203.0.113.2 as 64500; ipv4 { import all; export all; }; }
protocol bgp iap_b from t { local 203.0.113.5 as 65002; neighbor 203.0.113.6 as 64500;
  ipv4 { import all; export where net = 0.0.0.0/0; }; }
protocol bgp lan from t { local 10.0.0.2 as 64500; neighbor 10.0.0.1 as 64500; ipv4 { import all; export none; }; }
BIRDCONF
ip netns exec "$WORLD" $BIRD

say "start: sluice run -c $CONFIG (in $RUN)"
ip netns exec "$RUN" "$SLUICE" run -c "$WORK/sluice.yaml" --socket "$SOCK" --state-dir "$WORK/state" \
  --metrics 127.0.0.1:9179 2>"$WORK/daemon.log" &
DAEMON=$!
for _ in $(seq 100); do "$SLUICE" status --socket "$SOCK" >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 100); do
  [[ $("$SLUICE" show peers --socket "$SOCK" --json | grep -c '"established"') -ge 3 ]] && break; sleep 0.2
done
show "$SLUICE" status --socket "$SOCK"

say "BGP: sessions and the routes learned from the upstreams"
show "$SLUICE" show peers --socket "$SOCK"
show "$SLUICE" show routes --socket "$SOCK"

say "what BIRD learned from Sluice: 198.51.100.0/24 on both upstreams, a default on the LAN"
show birdc -s "$WORK/bird.ctl" show route where source = RTS_BGP

say "the data plane: what XDP forwards with, read back from its maps"
show "$SLUICE" show fib --socket "$SOCK"

say "traffic from the LAN to 8.8.8.8 leaves through iap-a (local-pref 200): the counters"
# Redirected frames need NAPI on the receiving veth (XDP-NOTES.md).
for i in iap-a iap-b lan; do ip netns exec "$WORLD" ethtool -K "$i" gro on tx off >/dev/null; done
ip -n "$WORLD" route add 8.8.8.0/24 via 10.0.0.1 src 10.0.0.2
ip netns exec "$WORLD" ping -q -c 20 -i 0.05 -W 1 8.8.8.8 >/dev/null || true   # nobody answers
show "$SLUICE" show counters --socket "$SOCK"

say "iap-b's link goes down"
show ip -n "$WORLD" link set iap-b down
sleep 1.5
show "$SLUICE" show uplinks --socket "$SOCK"
show ip -n "$WORLD" link set iap-b up
sleep 1.5

say "metrics (from inside $RUN)"
ip netns exec "$RUN" curl -fsS http://127.0.0.1:9179/metrics | grep -E '^sluice_(uplink_state\{.*\} 1|build_info)'

say "events"
show "$SLUICE" show events --socket "$SOCK"

say "stop"
kill -TERM "$DAEMON"
wait "$DAEMON"
echo "daemon exited with status $?"
DAEMON=""
cleanup
trap - EXIT
if ip netns list | grep -q "sluice-demo-.*$$"; then echo "demo: namespaces left behind" >&2; exit 1; fi
echo "demo done: nothing left behind"
