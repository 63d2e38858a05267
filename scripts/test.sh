#!/usr/bin/env bash
# Install everything and run the whole suite: lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
# Real services from Debian's packages: redis-server for the Redis flow-state adapter, and
# Chromium for the console's browser tests (driven by Playwright, which downloads no browser).
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq "${missing[@]}" >/dev/null \
      || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
  else
    echo "missing: sudo apt-get install ${missing[*]}" >&2
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
