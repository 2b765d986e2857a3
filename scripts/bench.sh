#!/usr/bin/env bash
# The benchmarks in one command (as root): build, then per-packet cost (BPF_PROG_TEST_RUN), zone load time,
# the servers side by side under kxdpgun and the live-frames generator, and the same servers under a
# reflection attack with response rate limiting.
#   scripts/bench.sh [--quick] [--no-rps] [--out DIR]   (--quick: under 3 minutes; the full run: ~14)
# Results: bench/results/load.json, load.svg and attack.json, and the tables on the terminal.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
[ "$(id -u)" -eq 0 ] || { echo "scripts/bench.sh must run as root" >&2; exit 1; }
bash scripts/setup.sh
cargo build --release
# --quick: fewer runs of the per-packet cost too (its two tables take ~1 minute at 20,000).
runs=20000
for a in "$@"; do [ "$a" = --quick ] && runs=4000; done
target/release/bench xdp-cost --runs "$runs"
target/release/bench zone-load
target/release/bench load "$@"
# The attack takes --quick and --out of the same arguments (it always steers with RPS).
attack=()
prev=
for a in "$@"; do
    case "$a" in
        --quick) attack+=(--quick) ;;
        --out=*) attack+=("$a") ;;
    esac
    [ "$prev" = --out ] && attack+=(--out "$a")
    prev=$a
done
target/release/bench attack "${attack[@]}"
