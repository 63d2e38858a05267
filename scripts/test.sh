#!/usr/bin/env bash
# Install everything and run the whole suite: lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
# The Redis flow-state adapter is tested against a real redis-server (Debian's package).
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq redis-server >/dev/null || { apt-get update -qq && apt-get install -y -qq redis-server >/dev/null; }
  else
    echo "redis-server is missing: sudo apt-get install redis-server" >&2
    exit 1
  fi
fi
# The workerd tier: the offline Pyodide bundle and the vendored `workers` SDK (quick when done).
tools=../shared/tools/workerd-python
if [ -d "$tools" ]; then
  "$tools/build-bundle.sh"
  "$tools/vendor-sdk.sh" .
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/pytest "$@"
