#!/usr/bin/env bash
# The scrape, memory and CPU benchmark of BENCHMARKS.md: builds the release exporter and the
# standalone simulator (examples/simulator.rs), installs wrk and nginx-light if they are missing,
# then runs scripts/bench_scrape.py, which prints the table with each goal. Takes about 5 minutes.
#   bash scripts/bench-scrape.sh [--duration 10] [--rounds 3]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/debian.sh
. scripts/debian.sh
need_debian wrk wrk
need_debian nginx-light nginx
cargo build --release --locked --bin bedrock-exporter --example simulator
exec python3 scripts/bench_scrape.py \
    --exporter target/release/bedrock-exporter \
    --simulator target/release/examples/simulator "$@"
