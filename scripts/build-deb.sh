#!/usr/bin/env bash
# Builds the `weft` Debian package from already-built binaries with plain `dpkg-deb --build` from a
# staged tree: nothing to install beyond dpkg (cargo-deb would cost CI a crates.io build).
#
#   scripts/build-deb.sh [BIN_DIR [OUT_DIR]]
#     BIN_DIR  where weftd, weftctl and weft-discovery are (default: target/release)
#     OUT_DIR  where the .deb goes (default: target/debian)
#   WEFT_DEB_COMPRESS  dpkg-deb compressor (default xz; the tests use none: debug binaries are large)
#
# Prints the path of the package it wrote. What goes where (Debian's standard places):
#   /usr/bin/{weftd,weftctl,weft-discovery}
#   /usr/lib/systemd/system/{weftd,weft-discovery}.service       (dist/systemd)
#   /usr/share/man/man1/weftctl*.1.gz, man8/{weftd,weft-discovery}.8.gz   (man/, generated)
#   /usr/share/bash-completion/completions/weftctl, /usr/share/zsh/vendor-completions/_weftctl,
#   /usr/share/fish/vendor_completions.d/weftctl.fish                    (completions/, generated)
#   /usr/share/doc/weft/{copyright,README.md.gz}
# No maintainer scripts: nothing is enabled or started on install (`systemctl enable --now weftd`
# once /etc/weft/config.yaml exists), and the package installs into a foreign root (`dpkg --root`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${1:-$root/target/release}"
out="${2:-$root/target/debian}"
compress="${WEFT_DEB_COMPRESS:-xz}"

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n1)"
[[ -n "$version" ]] || { echo "error: no version in $root/Cargo.toml [workspace.package]" >&2; exit 1; }
arch="$(dpkg --print-architecture)"
for b in weftd weftctl weft-discovery; do
  [[ -x "$bin/$b" ]] || { echo "error: $bin/$b is missing: build it first (cargo build --release --workspace)" >&2; exit 1; }
done

mkdir -p "$out"
stage="$(mktemp -d "$out/stage.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/weft"

install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/lib/systemd/system" \
  "$pkg/usr/share/man/man1" "$pkg/usr/share/man/man8" "$pkg/usr/share/doc/weft" \
  "$pkg/usr/share/bash-completion/completions" "$pkg/usr/share/zsh/vendor-completions" \
  "$pkg/usr/share/fish/vendor_completions.d"
for b in weftd weftctl weft-discovery; do
  install -m 0755 "$bin/$b" "$pkg/usr/bin/$b"
done
install -m 0644 "$root/dist/systemd/weftd.service" "$root/dist/systemd/weft-discovery.service" \
  "$pkg/usr/lib/systemd/system/"
for page in "$root"/man/*.1 "$root"/man/*.8; do
  section="${page##*.}"
  # -n: no name or timestamp in the gzip header, so the package is reproducible.
  gzip -9n <"$page" >"$pkg/usr/share/man/man$section/$(basename "$page").gz"
done
install -m 0644 "$root/completions/weftctl.bash" "$pkg/usr/share/bash-completion/completions/weftctl"
install -m 0644 "$root/completions/_weftctl" "$pkg/usr/share/zsh/vendor-completions/_weftctl"
install -m 0644 "$root/completions/weftctl.fish" "$pkg/usr/share/fish/vendor_completions.d/weftctl.fish"
gzip -9n <"$root/README.md" >"$pkg/usr/share/doc/weft/README.md.gz"
cat >"$pkg/usr/share/doc/weft/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: weft
Source: https://github.com/weft-dev/weft

Files: *
License: MPL-2.0
 On Debian systems the full text of the Mozilla Public License 2.0 is in
 /usr/share/common-licenses/MPL-2.0.
EOF
chmod 0644 "$pkg/usr/share/doc/weft/copyright"

installed_kb="$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)"
# libc6: the binaries are linked against glibc. nftables: weftd runs `nft` for the traffic capture.
cat >"$pkg/DEBIAN/control" <<EOF
Package: weft
Version: $version
Architecture: $arch
Maintainer: Weft developers <weft@weft.dev>
Installed-Size: $installed_kb
Depends: libc6 (>= 2.34), nftables
Recommends: wireguard-tools
Section: net
Priority: optional
Homepage: https://github.com/weft-dev/weft
Description: full-mesh WireGuard between nodes, KubeSpan-style
 weftd configures a WireGuard mesh between the nodes of a cluster from a
 Talos-style machine config, finding peers through a discovery service;
 weftctl is its client; weft-discovery is the discovery service.
EOF

deb="$out/weft_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"$compress" --build "$pkg" "$deb" >/dev/null
echo "$deb"
