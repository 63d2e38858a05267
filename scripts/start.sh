#!/usr/bin/env bash
# Install the local runtime and start the example bot on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh local
exec .venv/bin/python -m chatstate run "$@"
