#!/usr/bin/env bash
# Idempotent machine setup for m-root-xdp: apt packages, nightly rust-src, bpf-linker built against LLVM 22,
# cargo-fuzz.
# Run as root on a fresh machine of the project's kind. A second run finishes in seconds.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh must run as root (apt-get, bpf-linker install)" >&2
    exit 1
fi

# Packages: build toolchain for bpf-linker (LLVM 22), the peers and tools the tests and the lab use,
# and what scripts/package.sh and its tests use (dpkg-shlibdeps, adduser, systemd-analyze, man, strace;
# systemd-nspawn and debootstrap for scripts/systemd-lab.sh, whose root file system is built below;
# bind9 for tsig-keygen, whose key files the secondary tests read: named itself is never started).
APT_PACKAGES=(
    clang llvm-22-dev libpolly-22-dev libclang-22-dev zlib1g-dev libzstd-dev
    bpftool iproute2 ethtool tcpdump iputils-ping
    knot knot-dnsutils nsd ldnsutils xdp-tools dnsperf bind9
    bird2 frr
    python3-dnspython python3-yaml unbound-host
    python3-venv fstrm-bin golang-github-dnstap-golang-dnstap-cli
    dpkg-dev adduser systemd man-db strace
    systemd-container debootstrap
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing apt packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Never start the packaged daemons (knot, nsd, named, bird, frr) on install: tests start their own, in namespaces.
    policy_created=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_created=1
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
    if [ "$policy_created" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
else
    log "apt packages present"
fi

# Rust: the eBPF crate builds with nightly and -Z build-std, which needs rust-src.
if ! rustup toolchain list | grep -q '^nightly'; then
    log "installing nightly toolchain"
    rustup toolchain install nightly --profile minimal
fi
if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    log "adding rust-src to nightly"
    rustup component add rust-src --toolchain nightly
fi

# bpf-linker must link against the same LLVM major as nightly's rustc (22 here).
BPF_LINKER_VERSION=0.13.0
if command -v bpf-linker >/dev/null 2>&1 && bpf-linker --version 2>/dev/null | grep -q "$BPF_LINKER_VERSION"; then
    log "bpf-linker $BPF_LINKER_VERSION present"
else
    log "building bpf-linker $BPF_LINKER_VERSION against LLVM 22 (about a minute)"
    LLVM_PREFIX=/usr/lib/llvm-22 LLVM_SYS_221_PREFIX=/usr/lib/llvm-22 \
        cargo install --locked bpf-linker --version "$BPF_LINKER_VERSION" --no-default-features --features llvm-22 \
        || LLVM_PREFIX=/usr/lib/llvm-22 LLVM_SYS_221_PREFIX=/usr/lib/llvm-22 \
        cargo install bpf-linker --version "$BPF_LINKER_VERSION" --no-default-features --features llvm-22
fi

# cargo-fuzz for the fuzz tier (scripts/fuzz.sh; the targets themselves build with nightly). 0.13.2 builds
# with stable 1.95 and drives nightly 1.97; --locked keeps its dependencies at the versions it was released with.
CARGO_FUZZ_VERSION=0.13.2
if cargo fuzz --version >/dev/null 2>&1; then
    log "cargo-fuzz present ($(cargo fuzz --version))"
else
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION (about two minutes)"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi

# Python venv for the dnspython probe clients (m-root-user/tests/clients/rssac047_probe.py): Debian's
# python3-dnspython (2.3) is too old, and dnspython 2.9 validates DNSSEC only with cryptography >= 50.
# prometheus-client's parser reads GET /metrics back in m-root-user/tests/metrics.rs (tests/clients/metrics_scrape.py).
# dnstap-pb decodes the daemon's dnstap in m-root-user/tests/dnstap.rs (tests/clients/dnstap_read.py).
# Tests call $PY_VENV/bin/python3 directly. Built from Debian's /usr/bin/python3, never a pyenv shim.
PY_VENV=/opt/m-root-xdp/venv
PY_PINS=(dnspython==2.9.2 cryptography==50.0.2 cffi==2.1.1 pycparser==3.12 prometheus-client==0.26.0 dnstap-pb==0.11.3 protobuf==7.36.2)
py_venv_ok() {
    [ -x "$PY_VENV/bin/python3" ] && "$PY_VENV/bin/python3" - "${PY_PINS[@]}" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
for pin in sys.argv[1:]:
    name, want = pin.split("==")
    if version(name) != want:
        sys.exit(1)
import dns._features
sys.exit(0 if dns._features.have("dnssec") else 1)
PYEOF
}
if py_venv_ok; then
    log "python venv $PY_VENV present (${PY_PINS[*]})"
else
    log "making python venv $PY_VENV with ${PY_PINS[*]}"
    mkdir -p "$(dirname "$PY_VENV")"
    /usr/bin/python3 -m venv --clear "$PY_VENV"
    "$PY_VENV/bin/python3" -m pip install -q --disable-pip-version-check "${PY_PINS[@]}"
    py_venv_ok || { echo "setup.sh: $PY_VENV lacks ${PY_PINS[*]} with DNSSEC support" >&2; exit 1; }
fi

# BPF filesystem for pinning (present on most machines; mount when it is not).
if ! mountpoint -q /sys/fs/bpf 2>/dev/null; then
    mount -t bpf bpf /sys/fs/bpf 2>/dev/null || log "could not mount bpffs at /sys/fs/bpf (not fatal)"
fi

# The container with systemd as PID 1 that tests/systemd_unit.rs boots (debootstrap once, about a
# minute and 260 MB under /var/cache/m-root-xdp; later runs check a marker and return).
bash "$(dirname "$0")/systemd-lab.sh" setup

log "done"
