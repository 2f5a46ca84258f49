#!/usr/bin/env bash
# The one test command: formatting, lints, then every test of the workspace
# (unit, property, fuzz-corpus replay, doc tests). CI runs this via .ci/run.
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

step "cargo test"
cargo test --workspace --locked

step "fuzz targets build (cargo check)"
# The fuzz crate is its own workspace; checking it keeps the targets compiling
# without needing cargo-fuzz or a nightly compiler.
cargo check --manifest-path fuzz/Cargo.toml --bins --quiet
