#!/usr/bin/env bash
# The Depth Tools tab without a WebUI, on http://127.0.0.1:7870 (this machine only).
# Arguments go to `python -m lib_depth.ui`: --port N, --weights FILE_OR_DIR, --download, --browser.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh dev
export GRADIO_ANALYTICS_ENABLED=False
exec .venv/bin/python -m lib_depth.ui "$@"
