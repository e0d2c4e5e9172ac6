#!/usr/bin/env bash
# Idempotent set-up: `tools/setup.sh core|dev|forge|newest|comfyui|browser`. Each environment is a virtual
# environment in the repo (ignored by git) made from one pinned lock file, and stamped with that
# file's hash: a second run is a no-op, and a changed lock file rebuilds the environment from scratch
# (never an upgrade in place, so a developer's environment is the one CI makes).
#   dev    .venv         requirements/webui.lock.txt   A1111 1.10.1 + sd-webui-controlnet 1.1.455 (main)
#   forge  .venv-forge   requirements/forge.lock.txt   Forge: gradio 4.40, pydantic 2.8, mediapipe 1.2.3
#   newest .venv-newest  requirements/newest.lock.txt  the newest releases (numpy 2, opencv 5, gradio 4.44)
#   comfyui .venv-comfyui requirements/comfyui.lock.txt ComfyUI 0.3.64's requirements + this pack's (tests/comfy)
#   core   .venv         requirements/core.txt         the EXR command line only (a dev .venv has it all)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-dev}
python=${PYTHON:-python3}

stamp_of() { sha256sum "$1" requirements/constraints.txt | sha256sum | cut -c1-16; }

install_profile() {  # venv requirements-file [lock files whose environment already has it all ...]
  local venv=$1 reqs=$2 lock
  shift
  for lock in "$@"; do
    [ -f "$venv/.stamp-$(stamp_of "$lock")" ] && return 0
  done
  echo "setting up $venv from $reqs (first run only)..." >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$reqs" -c requirements/constraints.txt 2> >(grep -v "is ignored: it is neither" >&2)
  touch "$venv/.stamp-$(stamp_of "$reqs")"
}

case "$profile" in
  core) install_profile .venv requirements/core.txt requirements/webui.lock.txt ;;
  dev|webui) install_profile .venv requirements/webui.lock.txt ;;
  forge) install_profile .venv-forge requirements/forge.lock.txt ;;
  newest) install_profile .venv-newest requirements/newest.lock.txt ;;
  comfyui) install_profile .venv-comfyui requirements/comfyui.lock.txt ;;
  browser)
    if ! command -v chromium >/dev/null 2>&1; then
      echo "installing Debian's chromium for the browser tests..." >&2
      if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
      $sudo apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
    fi ;;
  *) echo "usage: tools/setup.sh core|dev|forge|newest|comfyui|browser" >&2; exit 2 ;;
esac
