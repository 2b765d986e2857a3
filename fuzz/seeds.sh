#!/usr/bin/env bash
# Writes the seed corpora into fuzz/corpus/<target>/ (cargo fuzz's default corpus, not committed): the
# standard query mix and hand-made envelopes for the query targets, parts of the bundled zone and small
# hand-written zones for zone_file. Deterministic; run again to get the same files. Usage:
#   fuzz/seeds.sh [MIX_QUERIES]   (default 2000)
set -euo pipefail
cd "$(dirname "$0")"
# Stable is enough here: only the fuzz targets need nightly (for the sanitizer and coverage flags).
nice -n 10 cargo run --quiet --release --example seeds -- corpus "${1:-2000}"
