#!/usr/bin/env bash
# Builds the Debian package: target/debian/sluice_<version>_<arch>.deb with
# the binary, a systemd unit (packaging/sluice.service), /etc/sluice/sluice.yaml
# (a conffile), man pages and bash/zsh/fish completions generated from the
# command-line definitions, and the docs.
#
#   scripts/package.sh                 # release build, then the package
#   SLUICE_BINARY=target/debug/sluice SLUICE_DEB_COMPRESS=none scripts/package.sh
#                                      # (the tests: an existing binary, no compression)
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
out=${SLUICE_DEB_OUT:-target/debian}
binary=${SLUICE_BINARY:-}
if [[ -z $binary ]]; then
  cargo build --release --locked -p sluice --bin sluice
  binary=target/release/sluice
fi

root="$out/root"
rm -rf "$root"
mkdir -p "$root/DEBIAN"
install -Dm755 "$binary" "$root/usr/bin/sluice"
install -Dm644 packaging/sluice.service "$root/lib/systemd/system/sluice.service"
install -Dm644 packaging/sluice.yaml "$root/etc/sluice/sluice.yaml"

man="$root/usr/share/man/man1"
mkdir -p "$man"
"$binary" manpages "$man"
gzip -9n "$man"/*.1
"$binary" completions bash | install -Dm644 /dev/stdin "$root/usr/share/bash-completion/completions/sluice"
"$binary" completions zsh | install -Dm644 /dev/stdin "$root/usr/share/zsh/vendor-completions/_sluice"
"$binary" completions fish | install -Dm644 /dev/stdin "$root/usr/share/fish/vendor_completions.d/sluice.fish"

doc="$root/usr/share/doc/sluice"
install -Dm644 README.md "$doc/README.md"
install -Dm644 -t "$doc" docs/*.md
cat > "$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: sluice
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
COPYRIGHT

cat > "$root/DEBIAN/control" <<CONTROL
Package: sluice
Version: $version
Architecture: $arch
Maintainer: Sluice developers <sluice@localhost>
Depends: libc6, adduser
Recommends: iproute2
Section: net
Priority: optional
Description: edge router for sites with redundant internet access points
 Speaks BGP to the upstreams and internal peers, forwards in XDP, takes an
 uplink out of service gracefully for maintenance, and refuses configs that
 would misroute traffic in a drain or failure state nobody tried.
CONTROL
echo /etc/sluice/sluice.yaml > "$root/DEBIAN/conffiles"

cat > "$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  getent passwd sluice >/dev/null ||
    adduser --system --group --home /var/lib/sluice --no-create-home --quiet sluice
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null || true
  fi
fi
POSTINST
cat > "$root/DEBIAN/prerm" <<'PRERM'
#!/bin/sh
set -e
# Stopping leaves the data plane forwarding (dataplane.keep_on_exit).
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop sluice.service >/dev/null 2>&1 || true
fi
PRERM
chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm"

deb="$out/sluice_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"${SLUICE_DEB_COMPRESS:-xz}" --build "$root" "$deb" >/dev/null
echo "$deb"
