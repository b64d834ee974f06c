#!/usr/bin/env bash
# The whole test suite: formatting, lints, every example config validated,
# unit and CLI tests, and (as root) the end-to-end tests in network
# namespaces. Fails if a test leaves a namespace or process behind.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all --check

step "lints"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "build"
cargo build --workspace --bins --quiet

step "aarch64 (edge boxes are often arm64)"
if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  cargo check --workspace --target aarch64-unknown-linux-gnu --quiet
else
  echo "SKIPPED: the aarch64-unknown-linux-gnu target is not installed (rustup target add aarch64-unknown-linux-gnu)"
fi

step "validate configs/"
target/debug/sluice validate configs/*.yaml

step "validate the Sluice configs of topologies/"
target/debug/sluice validate topologies/*/*/sluice.yml

# Namespaces the tests make: the harness's sl<pid>x… and the demo's sluice-….
ours() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^(sl[0-9]+x|sluice-|slab\.)' | sort || true; }
netns_before=$(ours)

if [[ $(id -u) -eq 0 ]]; then
  step "tests (as root: including end-to-end tests in network namespaces)"
  cargo test --workspace -- --include-ignored
else
  step "tests"
  echo "SKIPPED: end-to-end tests need root (network namespaces, veth, BPF); they are listed as ignored below. Run this script as root to include them."
  cargo test --workspace
fi

step "fuzz the BGP decoder (60 s)"
scripts/fuzz.sh 60
step "fuzz the RTR decoder and client (30 s)"
scripts/fuzz.sh 30 rtr

step "leftovers"
netns_after=$(ours)
leaked=$(comm -13 <(echo "$netns_before") <(echo "$netns_after") | grep -v '^$' || true)
if [[ -n "$leaked" ]]; then
  echo "the tests left network namespaces behind: $leaked" >&2
  exit 1
fi
if pgrep -f "$PWD/target/debug/sluice run" >/dev/null; then
  echo "the tests left sluice daemons running:" >&2
  pgrep -af "$PWD/target/debug/sluice run" >&2
  exit 1
fi
echo "no namespace or daemon left behind"
