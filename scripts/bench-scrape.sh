#!/usr/bin/env bash
# The scrape, memory and CPU benchmark of BENCHMARKS.md: builds the release exporter and the
# standalone simulator (examples/simulator.rs), installs wrk and nginx-light if they are missing,
# then runs scripts/bench_scrape.py, which prints the table with each goal. Takes about 5 minutes.
# With --fleet first, runs scripts/bench_fleet.py instead: an Organization of 100 accounts of
# 1,000 resources, one replica and 4 shards (about 15 minutes).
#   bash scripts/bench-scrape.sh [--duration 10] [--rounds 3]
#   bash scripts/bench-scrape.sh --fleet [--accounts 100] [--shards 4]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/debian.sh
. scripts/debian.sh
need_debian wrk wrk
need_debian nginx-light nginx
cargo build --release --locked --bin bedrock-exporter --example simulator
bench=scripts/bench_scrape.py
if [ "${1:-}" = --fleet ]; then
    bench=scripts/bench_fleet.py
    shift
fi
exec python3 "$bench" \
    --exporter target/release/bedrock-exporter \
    --simulator target/release/examples/simulator "$@"
