#!/usr/bin/env bash
# The wheels bench/gpu.sh installs on a GPU machine that cannot reach a package registry: the
# packages such a machine's Python (3.12, torch, timm, numpy, opencv, scipy, scikit-image,
# huggingface_hub, einops present) lacks. Run here, where pip works; they land in bench/gpu-wheels/
# (ignored by git, about 2 MB). Versions are the lock files'.
set -eu
cd "$(dirname "$0")/.."
PYVER=${1:-3.12}
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d bench/gpu-wheels controlnet_aux==0.0.10 OpenEXR==3.5.3 importlib_metadata==10.2.0 zipp==4.1.2
ls -l bench/gpu-wheels
