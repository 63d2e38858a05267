#!/usr/bin/env bash
# Install everything and run the whole suite: lint, types, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
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
