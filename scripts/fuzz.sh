#!/usr/bin/env bash
# Fuzzes a decoder for a bounded time: the BGP one (sluice-wire's `decode`
# target, router/wire/fuzz) or, with `rtr`, the RTR PDU decoder and client
# (sluice-rpki's `rtr` target, router/rpki/fuzz).
# Usage: scripts/fuzz.sh [SECONDS] [decode|rtr]   (default 60 decode)
#
# Needs the nightly toolchain and cargo-fuzz (`rustup toolchain install
# nightly`, `cargo install cargo-fuzz`); without them it says SKIPPED and
# exits 0. Starts from the committed seeds (<crate>/fuzz/seeds/<target>)
# plus whatever earlier runs kept in <crate>/fuzz/corpus/<target> (not
# committed). A crash exits non-zero and leaves the input under
# <crate>/fuzz/artifacts/<target>/; replay it with
#   cd router/wire && cargo +nightly fuzz run decode <file>   (router/rpki: rtr)
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-60}
[[ $secs =~ ^[0-9]+$ ]] || { echo "fuzz: SECONDS must be a whole number, got '$secs'" >&2; exit 2; }
target=${2:-decode}
case $target in
  decode) crate=$PWD/router/wire ;;
  rtr) crate=$PWD/router/rpki ;;
  *) echo "fuzz: the target is decode or rtr, got '$target'" >&2; exit 2 ;;
esac

skip() {
  echo "SKIPPED: fuzzing needs the nightly toolchain and cargo-fuzz ($1)"
  exit 0
}
command -v rustup >/dev/null 2>&1 || skip "rustup is not installed"
rustup toolchain list 2>/dev/null | grep -q '^nightly' \
  || skip "no nightly toolchain: rustup toolchain install nightly"
cargo +nightly fuzz --version >/dev/null 2>&1 \
  || skip "cargo-fuzz is not installed: cargo install cargo-fuzz"

mkdir -p "$crate/fuzz/corpus/$target"
cd "$crate"
# One job (the machines have two cores); messages are at most 64 KiB.
exec cargo +nightly fuzz run "$target" \
  "$crate/fuzz/corpus/$target" "$crate/fuzz/seeds/$target" \
  -- -max_total_time="$secs" -max_len=65600 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
