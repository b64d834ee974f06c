#!/usr/bin/env bash
# The demo: an access point taken out of service under traffic, and back.
#
# Builds Sluice and runs the dual-iap site of topologies/ on network
# namespaces (`sluice lab`): Sluice (r1) with two access points, iap-a
# (BIRD, preferred, a partial table) and iap-b (FRR, a default route), an
# "internet" host behind both, a LAN host behind r1. While the LAN host
# sends 10,000 sequence-numbered packets a second to the internet host, it
# checks the drain of iap-a (--dry-run), drains it (--wait: the outbound
# counters fall), shows the traffic on iap-b and what iap-a's BIRD now
# thinks of our prefix, undrains, and counts what was lost. Everything it
# creates is removed on exit, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ $(id -u) -eq 0 ]] || { echo "demo: needs root (network namespaces); run it as root" >&2; exit 1; }

SLUICE=$PWD/target/debug/sluice
TOPO=topologies/dual-iap/dual-iap.clab.yml
LAB=demo$$
WORK=$(mktemp -d /tmp/sluice-demo.XXXXXX)

cleanup() {
  "$SLUICE" lab down "$LAB" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m## %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
# A command inside r1 (where Sluice runs), shown as typed there.
r1() { printf '(r1) $ %s\n' "$*"; "$SLUICE" lab exec "$LAB" r1 -- "$@"; }

say "build"
cargo build --quiet --bin sluice

say "validate the configs"
show "$SLUICE" validate configs/example.yaml topologies/dual-iap/r1/sluice.yml

say "the site: $TOPO on network namespaces"
show "$SLUICE" lab up --name "$LAB" "$TOPO"
for _ in $(seq 100); do
  "$SLUICE" lab exec "$LAB" r1 -- sluice show events 2>/dev/null | grep -q cold-start && break; sleep 0.2
done
r1 sluice show peers
r1 sluice show routes

say "traffic: host1 (LAN) to inet, 10,000 packets a second for 14 s, in the background"
"$SLUICE" lab traffic "$LAB" host1 inet --rate 10000 --duration 14s >"$WORK/traffic.out" 2>&1 &
TRAFFIC=$!
sleep 2
r1 sluice show uplinks

say "maintenance on iap-a: what would a drain do?"
r1 sluice drain iap-a --dry-run

say "drain iap-a, watching its outbound counters fall"
r1 sluice drain iap-a --wait --reason "demo: fibre work"
r1 sluice show uplinks
r1 sluice show fib 11.1.0.1

say "inbound: iap-a's BIRD gives our prefix local-pref 0 (65535:0, prepended)"
"$SLUICE" lab exec "$LAB" iap-a -- birdc -s /run/bird.ctl show route 198.51.100.0/24 all | grep -E 'as_path|local_pref|community'

say "the work is done: undrain"
sleep 2
r1 sluice undrain iap-a
sleep 1
r1 sluice show uplinks

say "what the traffic lost across drain and undrain"
wait "$TRAFFIC"
cat "$WORK/traffic.out"
r1 sluice show events

say "down"
show "$SLUICE" lab down "$LAB"
trap - EXIT
rm -rf "$WORK"
if ip netns list | grep -q "^slab\.$LAB\."; then echo "demo: namespaces left behind" >&2; exit 1; fi
echo "demo done: nothing left behind"
