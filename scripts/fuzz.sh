#!/usr/bin/env bash
# Fuzzes the BGP decoder (sluice-wire's `decode` target, router/wire/fuzz)
# for a bounded time. Usage: scripts/fuzz.sh [SECONDS]   (default 60)
#
# Needs the nightly toolchain and cargo-fuzz (`rustup toolchain install
# nightly`, `cargo install cargo-fuzz`); without them it says SKIPPED and
# exits 0. Starts from the committed seeds (router/wire/fuzz/seeds/decode)
# plus whatever earlier runs kept in router/wire/fuzz/corpus/decode (not
# committed). A crash exits non-zero and leaves the input under
# router/wire/fuzz/artifacts/decode/; replay it with
#   cd router/wire && cargo +nightly fuzz run decode <file>
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
[[ $secs =~ ^[0-9]+$ ]] || { echo "fuzz: SECONDS must be a whole number, got '$secs'" >&2; exit 2; }

skip() {
  echo "SKIPPED: fuzzing needs the nightly toolchain and cargo-fuzz ($1)"
  exit 0
}
command -v rustup >/dev/null 2>&1 || skip "rustup is not installed"
rustup toolchain list 2>/dev/null | grep -q '^nightly' \
  || skip "no nightly toolchain: rustup toolchain install nightly"
cargo +nightly fuzz --version >/dev/null 2>&1 \
  || skip "cargo-fuzz is not installed: cargo install cargo-fuzz"

wire=$PWD/router/wire
mkdir -p "$wire/fuzz/corpus/decode"
cd "$wire"
# One job (the machines have two cores); messages are at most 64 KiB.
exec cargo +nightly fuzz run decode \
  "$wire/fuzz/corpus/decode" "$wire/fuzz/seeds/decode" \
  -- -max_total_time="$secs" -max_len=65600 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
