#!/usr/bin/env bash
# The fuzz campaign of issue 18: every target of fuzz/ for SECONDS each
# (default 360: an hour of one core over the ten targets), seeded with the
# committed corpus (fuzz/corpus/<target>, which `cargo test` replays); new
# inputs go to target/fuzz-corpus/<target>, and those that add coverage are
# merged back into fuzz/corpus at the end. A crash stops the campaign with
# its input in fuzz/artifacts/<target>/ (make it a regression test: put it
# in the corpus once fixed). Prints one line per target and a total.
#
#   tools/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
per=${1:-360}
shift || true
export RUSTC_BOOTSTRAP=1
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
cargo fuzz build >&2
total_runs=0
total_secs=0
for t in "${targets[@]}"; do
  work=../target/fuzz-corpus/$t
  mkdir -p "$work" "corpus/$t"
  log=../target/fuzz-corpus/$t.log
  start=$(date +%s)
  if ! cargo fuzz run "$t" "$work" "corpus/$t" -- -max_total_time="$per" -max_len=8192 -print_final_stats=1 >"$log" 2>&1; then
    echo "$t: CRASH after $(( $(date +%s) - start )) s (see fuzz/artifacts/$t/ and $log)"
    tail -30 "$log" >&2
    exit 1
  fi
  secs=$(( $(date +%s) - start ))
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  # Keep what adds coverage to the committed corpus.
  cargo fuzz run "$t" "corpus/$t" "$work" -- -merge=1 >/dev/null 2>&1 || true
  printf '%-20s %6d s %12d runs, no crash, corpus %d inputs\n' "$t" "$secs" "$runs" "$(ls "corpus/$t" | wc -l)"
  total_runs=$((total_runs + runs))
  total_secs=$((total_secs + secs))
done
awk -v n="${#targets[@]}" -v s="$total_secs" -v r="$total_runs" \
  'BEGIN { printf "total: %d targets, %d s (%.2f CPU-hours), %d runs, no crash\n", n, s, s / 3600, r }'
