#!/usr/bin/env bash
# The one test command: formatting, lints, then every test of the workspace
# (unit, property, fuzz-corpus replay, real-client round trips, crash test,
# doc tests). CI runs this via .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "python clients (target/venv)"
# botocore signs real requests for the SigV4 round-trip tests.
SLUICE_PYTHON=$(tools/venv.sh)
export SLUICE_PYTHON

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "fuzz targets build (cargo check)"
# The fuzz crate is its own workspace; checking it keeps the targets compiling
# without needing cargo-fuzz or a nightly compiler.
cargo check --manifest-path fuzz/Cargo.toml --bins --quiet

step "cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
passed=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -oE '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
echo
echo "tests: $passed passed, $failed failed"
