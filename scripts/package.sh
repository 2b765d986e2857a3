#!/usr/bin/env bash
# Build the Debian package: scripts/package.sh [OUT_DIR]   (default target/debian)
# Prints the path of the .deb it wrote. BIN_DIR=DIR packages the binaries already built there instead of
# running `cargo build --release` (the package test does, as cargo holds its build lock while tests run). The release build, the manual pages and completions (generated
# by `m-root-xdp manual` from the code), the unit, tmpfiles.d entry, example config and maintainer
# scripts from packaging/, put together with dpkg-deb; Depends computed by dpkg-shlibdeps.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/target/debian}
export PATH="$HOME/.cargo/bin:$PATH"
cd "$ROOT"

if [ -z "${BIN_DIR:-}" ]; then
    cargo build --release -p m-root-user -p zonegen >&2
fi
BIN=${BIN_DIR:-$ROOT/target/release}
for b in m-root-xdp zonegen; do
    [ -x "$BIN/$b" ] || { echo "package.sh: $BIN/$b not built" >&2; exit 1; }
done
# "m-root-xdp 0.1.0": the version the binary itself reports (the workspace's).
VERSION=$("$BIN/m-root-xdp" --version | awk '{print $2}')
ARCH=$(dpkg --print-architecture)
# Reproducible: every date in the package is the commit's.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)

stage=$(mktemp -d /tmp/m-root-xdp-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
pkg=$stage/m-root-xdp
mkdir -p "$pkg/DEBIAN"

install -D -m 0755 "$BIN/m-root-xdp" "$pkg/usr/sbin/m-root-xdp"
install -D -m 0755 "$BIN/zonegen" "$pkg/usr/bin/zonegen"
# Debug info stays in target/ (the release profile keeps line tables for the eBPF object's BTF).
strip --strip-debug "$pkg/usr/sbin/m-root-xdp" "$pkg/usr/bin/zonegen"
install -D -m 0644 packaging/m-root-xdp.toml "$pkg/etc/m-root-xdp/m-root-xdp.toml"
install -D -m 0644 packaging/m-root-xdp.service "$pkg/lib/systemd/system/m-root-xdp.service"
install -D -m 0644 packaging/tmpfiles.conf "$pkg/usr/lib/tmpfiles.d/m-root-xdp.conf"
install -D -m 0644 zones/root.zone.2026073102 "$pkg/usr/share/m-root-xdp/zones/root.zone.2026073102"

gen=$stage/manual
"$BIN/m-root-xdp" manual --out "$gen" --date "$DATE" >&2
for sec in 1 5 8; do
    for page in "$gen/man$sec"/*; do
        install -D -m 0644 "$page" "$pkg/usr/share/man/man$sec/$(basename "$page")"
        gzip -9n "$pkg/usr/share/man/man$sec/$(basename "$page")"
    done
done
for name in m-root-xdp zonegen; do
    install -D -m 0644 "$gen/completions/bash/$name.bash" "$pkg/usr/share/bash-completion/completions/$name"
    install -D -m 0644 "$gen/completions/zsh/_$name" "$pkg/usr/share/zsh/vendor-completions/_$name"
    install -D -m 0644 "$gen/completions/fish/$name.fish" "$pkg/usr/share/fish/vendor_completions.d/$name.fish"
done

doc=$pkg/usr/share/doc/m-root-xdp
install -D -m 0644 README.md "$doc/README.md"
install -m 0644 docs/*.md "$doc/"
gzip -9n "$doc"/*.md
cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: m-root-xdp
Source: $(git remote get-url origin 2>/dev/null || echo "the m-root-xdp repository")

Files: *
License: MIT or Apache-2.0
 On Debian systems the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0.

Files: usr/share/m-root-xdp/zones/*
Copyright: Internet Assigned Numbers Authority (IANA)
License: public-data
 The DNS root zone as published by IANA, bundled as a sample and for tests.
EOF
printf 'm-root-xdp (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- m-root-xdp <m-root-xdp@localhost>  %s\n' \
    "$VERSION" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" \
    | gzip -9n > "$doc/changelog.Debian.gz"

install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$pkg/DEBIAN/"
echo /etc/m-root-xdp/m-root-xdp.toml > "$pkg/DEBIAN/conffiles"

# dpkg-shlibdeps reads a control file in the current directory.
mkdir -p "$stage/debian"
printf 'Source: m-root-xdp\n\nPackage: m-root-xdp\nArchitecture: any\n' > "$stage/debian/control"
depends=$(cd "$stage" && dpkg-shlibdeps -O "$pkg/usr/sbin/m-root-xdp" "$pkg/usr/bin/zonegen" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<EOF
Package: m-root-xdp
Version: $VERSION
Architecture: $ARCH
Maintainer: m-root-xdp <m-root-xdp@localhost>
Installed-Size: $size
Depends: $depends, adduser
Recommends: knot-dnsutils
Section: net
Priority: optional
Description: DNS root-server responder with an XDP fast path
 m-root-xdp answers the common root-zone queries (referrals, NXDOMAIN, the
 apex, signed or not) in the NIC driver with XDP, or in TC where XDP cannot
 send, from a table compiled from the zone; everything else is answered
 authoritatively in userspace over UDP and TCP, IPv4 and IPv6, with EDNS and
 DNSSEC. The zone is verified by its ZONEMD and reloaded atomically.
 .
 The package runs it as its own user with CAP_BPF, CAP_PERFMON,
 CAP_NET_ADMIN and CAP_NET_BIND_SERVICE only.
EOF
find "$pkg" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$OUT"
deb=$OUT/m-root-xdp_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$deb" >&2
echo "$deb"
