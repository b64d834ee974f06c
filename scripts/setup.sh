#!/usr/bin/env bash
# Installs what Sluice needs on a Debian machine. Idempotent: packages that
# are present are left alone, and apt-get runs only when something is missing.
# Later features add their packages to PACKAGES below; nothing else installs.
set -euo pipefail

PACKAGES=(
  # building the XDP program
  clang llvm libbpf-dev bpftool
  # namespaces, links and packets in tests and the demo
  iproute2 ethtool iputils-ping tcpdump procps psmisc curl
  # the BGP implementations Sluice is tested against
  bird2 gobgpd frr
  # the RPKI cache (RTR) the origin validation is tested against, and
  # ExaBGP as another upstream
  stayrtr exabgp
  # promtool, for the alert rules in deploy/ (the server is not started)
  prometheus
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing packages: ${missing[*]}; run this script as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The distribution's packages may start their daemons; tests start their own.
for svc in bird frr prometheus; do
  if pgrep -x "$svc" >/dev/null 2>&1 || pgrep -f "/usr/lib/frr/watchfrr" >/dev/null 2>&1; then
    (command -v service >/dev/null && service "$svc" stop >/dev/null 2>&1) || true
  fi
done

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust 1.95 or newer (https://rustup.rs) and run this again" >&2
  exit 1
fi
# Fuzzing (scripts/fuzz.sh) needs cargo-fuzz on the nightly toolchain;
# where there is no nightly, the fuzz step says it was skipped.
if rustup toolchain list 2>/dev/null | grep -q '^nightly' && ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "setup: installing cargo-fuzz"
  cargo install --quiet --locked cargo-fuzz
fi

echo "setup: ok ($(cargo --version), $(clang --version | head -n1))"
