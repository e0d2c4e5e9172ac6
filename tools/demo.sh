#!/usr/bin/env bash
# The main job on the sample render: histogram with suggested cuts, depth map and mask beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh core
exec .venv/bin/python -m lib_depth examples/scene.exr --depth_cutoff histo --mask "$@"
