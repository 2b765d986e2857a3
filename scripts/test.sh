#!/usr/bin/env bash
# The project's test command (what .ci/run runs): install what is needed, build, run every test.
# Run as root on a machine of the project's kind: the XDP and lab tests load BPF programs and create
# network namespaces; they fail (never skip) when they cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh must run as root (sudo scripts/test.sh)" >&2
    exit 1
fi

bash scripts/setup.sh
cargo build --release
# --release: the tests share the build above (and the XDP object it embeds).
cargo test --workspace --release
