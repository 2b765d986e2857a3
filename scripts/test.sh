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
log=$(mktemp /tmp/m-root-xdp-test.XXXXXX.log)
set +e
cargo test --workspace --release 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line over every test binary.
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
rm -f "$log"
echo "tests: $passed passed, $failed failed"
exit "$status"
