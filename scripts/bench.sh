#!/usr/bin/env bash
# Full-table benchmark (README.md, "Benchmarks"): one generated table fed
# to Sluice, BIRD 2 and GoBGP in turn, each in its own network namespace;
# prints time to the whole table and peak RSS side by side and writes
# target/bench/fulltable.json. Needs root. Arguments go to fulltable:
#   scripts/bench.sh                          # 1M IPv4 + 200k IPv6, both mixes, all three
#   scripts/bench.sh --v4 10000 --v6 2000     # a quick check
#   scripts/bench.sh --sets 260000 --only sluice,bird
#   scripts/bench.sh --only sluice,bird --dataplane all --runs 5   # the README's table
#   scripts/bench.sh --only sluice,bird --runs 3 --rpki 500000     # with RPKI validation (StayRTR)
#
# Data-plane benchmark (README.md, "Benchmarks"): `scripts/bench.sh xdp [ARGS]`
# runs xdp-forwarding — packets per second per forwarding core for Sluice's
# XDP FIB, its bpf_fib_lookup mode and kernel forwarding, with one route and
# with a 1M-prefix table, then again counting all of the forwarding CPU
# with the receiving veths' NAPI on it; the program's BPF_PROG_TEST_RUN
# cost, per stage too, for IPv4 and for IPv6 (the poptrie against the LPM
# trie); FIB load times; the uplink move. Arguments go to xdp-forwarding:
#   scripts/bench.sh xdp                      # everything, ~5 minutes
#   scripts/bench.sh xdp --json > xdp.json
#   scripts/bench.sh xdp --prefixes 100000 --seconds 2 --tables full
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "bench.sh: needs root (network namespaces); run it with sudo" >&2
  exit 2
fi
if [ "${1:-}" = xdp ]; then
  shift
  cargo build --release -p sluice-bench --bin xdp-forwarding
  echo "bench.sh: load average before: $(cut -d' ' -f1-3 /proc/loadavg) (figures are noisy while other work runs)" >&2
  target/release/xdp-forwarding "$@" &
else
  cargo build --release -p sluice -p sluice-bench
  target/release/fulltable "$@" &
fi
pid=$!
# An interrupted run cannot tear its labs down (namespaces sl<pid>x*, the
# daemons in them run in their own process groups, temporary directories):
# remove them here.
cleanup() {
  local ns p tmp="${TMPDIR:-/tmp}"
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^sl${pid}x" || true); do
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    echo "bench.sh: removed leftover namespace $ns" >&2
  done
  rm -rf "$tmp/sluice-sl${pid}x"* "$tmp/sluice-fulltable-${pid}-"*
  # (xdp-forwarding's BPF programs and links go with its process; its NAPI
  # threads go with the namespaces' veths.)
}
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM
status=0
wait "$pid" || status=$?
while kill -0 "$pid" 2>/dev/null; do
  status=0
  wait "$pid" || status=$?
done
cleanup
exit "$status"
