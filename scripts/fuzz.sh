#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets, docs/testing.md "Fuzzing") for SECONDS each, one after the
# other, and fails if any finds a crash, a timeout or runaway memory. Usage:
#   scripts/fuzz.sh [SECONDS]   (default 600; scripts/test.sh runs it with 60)
# The corpus (fuzz/corpus/TARGET, not committed) starts from fuzz/seeds.sh's seeds and keeps what each run
# adds; every input in fuzz/regressions/TARGET (inputs that once failed) runs first, every time. A finding
# is left in fuzz/artifacts/TARGET/, and libFuzzer prints how to reproduce it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seconds=${1:-600}
targets=(zone_file query_answer splice_vs_answer)

# Query targets: a query longer than 1 KiB is padding (a root query is at most 12 + 259 + an OPT).
# zone_file: 16 KiB holds a few TLDs of the bundled zone with their DNSSEC records; larger inputs only
# slow each run down. -timeout: no input takes near a second, so 10 s is a hang.
declare -A max_len=([zone_file]=16384 [query_answer]=1024 [splice_vs_answer]=1024)

if [ ! -d fuzz/corpus/zone_file ] || [ ! -d fuzz/corpus/query_answer ] || [ ! -d fuzz/corpus/splice_vs_answer ]; then
    bash fuzz/seeds.sh
fi
nice -n 10 cargo +nightly fuzz build

status=0
for t in "${targets[@]}"; do
    dirs=("fuzz/corpus/$t")
    if [ -d "fuzz/regressions/$t" ]; then dirs+=("fuzz/regressions/$t"); fi
    printf '\n== fuzz %s: %s s\n' "$t" "$seconds"
    log=$(mktemp)
    set +e
    # `cargo fuzz run` resolves corpus paths itself; pass them absolute so both agree.
    nice -n 10 cargo +nightly fuzz run "$t" "${dirs[@]/#/$PWD/}" -- \
        -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        2>&1 | tee "$log" | grep --line-buffered -v -E '^#[0-9]+.*(NEW|REDUCE|pulse)|# Uses: |dictionary\. #'
    rc=${PIPESTATUS[0]}
    set -e
    # The figures docs/testing.md records: the last status line (coverage, corpus, exec/s) and the totals.
    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | sed "s/^/$t: /" || true
    rm -f "$log"
    if [ "$rc" -ne 0 ]; then
        echo "== fuzz $t FAILED (exit $rc): the input is in fuzz/artifacts/$t/"
        status=1
    fi
done
exit "$status"
