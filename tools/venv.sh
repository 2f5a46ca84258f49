#!/usr/bin/env bash
# Creates target/venv with the Python clients the tests use (tools/requirements.txt)
# and prints the path of its python. Idempotent: reinstalls only when the
# requirements changed.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/venv
stamp=$venv/.requirements
if [ ! -x "$venv/bin/python" ] || ! cmp -s tools/requirements.txt "$stamp"; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tools/requirements.txt >&2
  cp tools/requirements.txt "$stamp"
fi
echo "$PWD/$venv/bin/python"
