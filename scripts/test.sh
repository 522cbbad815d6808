#!/usr/bin/env bash
# The whole test suite: formatting, module layers, lints, every test, promtool over the demo's
# exposition and the golden one, the demo's status page in headless Chromium, `cargo install
# --path .`, then the Dockerfile, deploy/ and the workflows (scripts/check-deploy.sh, which ends
# on a real Prometheus). Ends with one line that counts every check (scripts/checks.sh).
# Installs what it lacks first: rustfmt and clippy (rustup), cargo-nextest (cargo install),
# promtool (Debian's prometheus package), Debian's chromium-headless-shell; check-deploy.sh
# installs its own Python tools.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/checks.sh
. scripts/checks.sh

if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    rustup component add rustfmt clippy
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi
# shellcheck source=scripts/debian.sh
. scripts/debian.sh
need_debian prometheus promtool

# A bearer token in the environment would switch the SDK away from SigV4.
unset AWS_BEARER_TOKEN_BEDROCK

step "cargo fmt --check"
cargo fmt --check
step "module layers (scripts/check_layers.py)"
python3 scripts/check_layers.py
step "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings
step "cargo nextest run"
# .config/nextest.toml: each test has a deadline (a hang fails as TIMEOUT, with its name, after
# 3 minutes), the run goes on past a failure, and the counts are written as JUnit.
junit=target/nextest/default/junit.xml
rm -f "$junit"
status=0
cargo nextest run --locked 2>&1 | tee target/test.log || status=$?
# The counts are the attributes of <testsuites>; a timed-out test is a failure there. No report
# (the build failed): the check fails as one.
if [ -f "$junit" ]; then
    counts=$(grep -m1 -o '<testsuites [^>]*>' "$junit")
    count() {
        local n
        n=$(echo "$counts" | grep -o " $1=\"[0-9]*\"" | tr -dc 0-9) || true
        echo "${n:-0}"
    }
    step_tests "$(($(count tests) - $(count failures) - $(count errors) - $(count skipped)))" \
        "$(($(count failures) + $(count errors)))"
fi
if [ "$status" -ne 0 ]; then
    exit "$status"
fi
step "promtool check metrics (--demo --once)"
exposition=target/demo-once.prom
cargo run --locked --quiet -- --demo --once --log.level=warn >"$exposition"
# promtool prints findings and exits non-zero on any.
promtool check metrics <"$exposition"
echo "promtool: $(grep -vc '^#' "$exposition") samples, no findings"
step "status page in headless Chromium (--demo)"
need_debian chromium-headless-shell chromium-headless-shell
python3 scripts/check_status_page.py target/debug/bedrock-exporter target/status-page.png
for golden in tests/golden/bedrock.prom tests/golden/lifecycle.prom; do
    step "promtool check metrics ($golden)"
    promtool check metrics <"$golden"
    echo "promtool: $(grep -vc '^#' "$golden") samples, no findings"
done
step "cargo install --path ., then --version"
# The README's install. --debug builds into the workspace's target directory, which holds the
# `cargo run` build above: nothing is compiled again (about a second). --root keeps it out of
# ~/.cargo/bin.
cargo install --path . --locked --debug --root target/install --quiet
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
installed=$(target/install/bin/bedrock-exporter --version)
echo "$installed"
if [[ "$installed" != "bedrock-exporter $version "* ]]; then
    echo "the installed binary's --version does not name Cargo.toml's version $version" >&2
    exit 1
fi
step_done
bash scripts/check-deploy.sh
