#!/usr/bin/env bash
# The one test command: formatting, lints, then every test of the workspace
# (unit, property, fuzz-corpus replay, real-client round trips, crash test,
# doc tests) and the compatibility suite (boto3 against a real `sluice
# serve`). CI runs this via .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "python clients (target/venv)"
# botocore signs real requests for the SigV4 round-trip tests; pytest and
# boto3 drive the compatibility suite.
SLUICE_PYTHON=$(tools/venv.sh)
export SLUICE_PYTHON

step "system packages (haproxy, bindfs: tools/apt.sh)"
tools/apt.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "fuzz targets build (cargo check of the fuzz workspace: about a minute on a fresh machine, quiet)"
# The fuzz crate is its own workspace; checking it keeps the targets compiling
# without needing cargo-fuzz or a nightly compiler.
cargo check --manifest-path fuzz/Cargo.toml --bins --quiet

log=$(mktemp)
trap 'rm -f "$log"' EXIT

step "cargo test (unit, property, fuzz-corpus replay, crash, real-server tests; a few minutes)"
cargo test --workspace --locked 2>&1 | tee "$log"
cargo_passed=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')

step "compatibility suite (tests/compat, boto3 against sluice serve)"
cargo build --locked -p sluice-server -p sluice-bench
SLUICE_BIN="$PWD/target/debug/sluice" SLUICE_BENCH_BIN="$PWD/target/debug/sluice-bench" "$SLUICE_PYTHON" -m pytest -q -p no:cacheprovider tests/compat 2>&1 | tee "$log"
py_passed=$(grep -oE '[0-9]+ passed' "$log" | tail -1 | awk '{print $1 + 0}')

echo
echo "tests: $((cargo_passed + py_passed)) passed, 0 failed"
