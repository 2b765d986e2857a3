#!/usr/bin/env bash
# The project's test command (what .ci/run runs): install what is needed, build, then the tiers in order:
#   lint  cargo fmt, clippy with warnings denied (host crates, the fuzz crate, and the eBPF crate for its
#         own target), and a build that prints no warnings
#   unit  the tests that need no root: zonegen, m-root-common, m-root-user's library
#   fuzz  each cargo-fuzz target (fuzz/) for 60 s from its seeds and the inputs that once failed
#   lab   everything else: BPF_PROG_TEST_RUN, lab namespaces, the daemon, differential vs NSD
# Every tier runs even when an earlier one failed; one closing line counts the tests of every tier and
# names the tiers that failed, and the exit status is non-zero if any did.
# Run as root on a machine of the project's kind: the lab tier loads BPF programs and creates network
# namespaces; its tests fail (never skip) when they cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh must run as root (sudo scripts/test.sh)" >&2
    exit 1
fi

bash scripts/setup.sh
# The lint tier's tools: clippy and rustfmt for the stable toolchain, clippy for nightly (the eBPF
# crate's own target builds only with nightly; setup.sh installs nightly's minimal profile).
if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
    rustup component add clippy rustfmt
fi
if ! rustup component list --toolchain nightly --installed | grep -q '^clippy'; then
    rustup component add clippy --toolchain nightly
fi

logs=$(mktemp -d /tmp/m-root-xdp-test.XXXXXX)
trap 'rm -rf "$logs"' EXIT
declare -A failed=()   # tier -> the names of its failed steps
n=0

# step TIER NAME CMD...: runs CMD with its output shown and kept for the closing count; a failure is
# recorded against TIER.
step() {
    local tier=$1 name=$2
    shift 2
    n=$((n + 1))
    printf '\n== %s/%s: %s\n' "$tier" "$name" "$*"
    set +e
    "$@" 2>&1 | tee "$logs/$(printf '%02d' "$n")-$name.log"
    local status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -ne 0 ]; then
        fail "$tier" "$name"
        printf '== %s/%s FAILED (exit %s)\n' "$tier" "$name" "$status"
    fi
    return 0
}
fail() { failed[$1]="${failed[$1]:+${failed[$1]}, }$2"; }

# closing: one line over every tier (the tests counted over all of them), then the exit status.
closing() {
    local passed nfailed tier summary=""
    # awk alone, so that no test result at all (a failed build) still counts 0 under pipefail.
    passed=$(cat "$logs"/*.log | awk '/^test result: / {for (i = 1; i < NF; i++) if ($(i + 1) == "passed;") s += $i} END {print s + 0}')
    nfailed=$(cat "$logs"/*.log | awk '/^test result: / {for (i = 1; i < NF; i++) if ($(i + 1) == "failed;") s += $i} END {print s + 0}')
    for tier in build lint unit fuzz lab; do
        if [ -n "${failed[$tier]:-}" ]; then
            summary+="${summary:+, }$tier FAILED (${failed[$tier]})"
        elif [ "$tier" = build ] || [ "$reached" = 1 ]; then
            summary+="${summary:+, }$tier ok"
        fi
    done
    echo "tiers: $summary"
    # Alone on the last line, as CI reads it.
    echo "tests: $passed passed, $nfailed failed"
    if [ "${#failed[@]}" -ne 0 ]; then
        exit 1
    fi
    exit 0
}
reached=0

# The build every tier shares (the tests too: --release, and the XDP object it embeds). Without it
# nothing else can run.
step build build cargo build --release
if [ "${#failed[@]}" -ne 0 ]; then
    closing
fi
reached=1

# Tier lint. A build that succeeds must also be quiet: a `warning:` line in its output is a real one
# (m-root-user/build.rs forwards only the eBPF build's real warnings, not its progress).
build_warnings=$(grep -c '^warning' "$logs"/01-build.log || true)
if [ "$build_warnings" -ne 0 ]; then
    echo "== build printed $build_warnings warning lines (above)"
    fail lint build-warnings
fi
step lint fmt cargo fmt --all --check
# Every workspace crate for the host, the eBPF crate included: it builds for the host too (its no_std,
# no_main and panic handler are for target_arch = "bpf" only), so unlike aya-template's workspace it
# needs no separate host run with -C panic=abort.
step lint clippy cargo clippy --release --workspace --all-targets -- -D warnings
# The eBPF crate for the target it runs on, as aya-build builds it (nightly, build-std): the code under
# cfg(target_arch = "bpf") (the pointer loop's assembly, the panic handler) exists only there.
step lint clippy-bpf cargo +nightly clippy --release --package m-root-ebpf --bins --target bpfel-unknown-none -Z build-std=core -- -D warnings
# The fuzz crate is a workspace of its own (its targets build with nightly), which `--all` and
# `--workspace` above do not reach.
step lint fmt-fuzz cargo fmt --manifest-path fuzz/Cargo.toml --check
step lint clippy-fuzz cargo +nightly clippy --release --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings

# Tier unit: no root, no BPF, no namespaces.
step unit zonegen cargo test --release --no-fail-fast --package zonegen --package m-root-common
step unit user-lib cargo test --release --no-fail-fast --package m-root-user --lib

# Tier fuzz: no root either. Every target for FUZZ_SECONDS (60 by default: three minutes, after a build
# of about two) from its seeds and the inputs that once failed; a crash, hang or runaway memory fails it.
step fuzz targets bash scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

# Tier lab (root): both kernel programs on 500,000 mutated frames each (bench fuzz-kernel: answers equal
# the answer function's, passes unchanged; about 10 s), then the rest of `cargo test --workspace --release`.
step lab kfuzz target/release/bench fuzz-kernel --frames 500000
# The rest of `cargo test --workspace --release`.
step lab rest cargo test --release --no-fail-fast --workspace --exclude zonegen --exclude m-root-common --bins --test '*'

closing
