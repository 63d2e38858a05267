#!/usr/bin/env bash
# Run the Worker itself on the real workerd, offline, through ../shared/tools/workerd-python
# (wrangler dev with a locally built Pyodide bundle). Secrets come from .dev.vars.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${WORKERD_PYTHON_TOOLS:-../shared/tools/workerd-python}"
if [ ! -d "$tools" ]; then
  echo "no $tools: on a machine with internet, run: npx wrangler dev" >&2
  exit 1
fi
"$tools/build-bundle.sh"
"$tools/vendor-sdk.sh" .
if [ ! -f .dev.vars ]; then
  echo "note: no .dev.vars; the Worker serves /health only (see README: configuration)" >&2
fi
exec "$tools/wrangler-dev.sh" --ip 127.0.0.1 --port "${PORT:-8787}" "$@"
