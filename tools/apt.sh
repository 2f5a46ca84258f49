#!/usr/bin/env bash
# Installs the Debian packages the tests drive where they are missing:
# haproxy (the balancer of the cluster test, tests/compat/test_cluster_haproxy.py)
# and bindfs (a FUSE view of the shared root per node in that test). As root
# (CI) with apt-get, otherwise through `sudo -n` where allowed; otherwise it
# says so and the tests that need them skip, saying why. Idempotent.
set -euo pipefail
want=()
command -v haproxy >/dev/null 2>&1 || want+=(haproxy)
command -v bindfs >/dev/null 2>&1 || want+=(bindfs)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
  run=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run=(sudo -n)
else
  echo "not root and no sudo: ${want[*]} not installed; the tests that need them will be skipped" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
"${run[@]}" apt-get install -y -q --no-install-recommends "${want[@]}" >&2 ||
  { "${run[@]}" apt-get update -q >&2 && "${run[@]}" apt-get install -y -q --no-install-recommends "${want[@]}" >&2; }
