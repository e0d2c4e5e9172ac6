#!/usr/bin/env bash
# Everything CI runs: set-up (idempotent), lint, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh dev
bash tools/setup.sh gradio4
bash tools/setup.sh browser
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
