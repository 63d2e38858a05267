#!/usr/bin/env bash
# Create .venv (if needed) and install the project with the given extra: local or dev.
# Skipped when that extra was installed from this very pyproject.toml (a stamp of its hash).
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-local}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
stamp=".venv/.chatstate-installed-$extra"
wanted="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extra]"
printf '%s' "$wanted" > "$stamp"
