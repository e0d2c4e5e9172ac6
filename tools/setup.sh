#!/usr/bin/env bash
# Idempotent set-up: `tools/setup.sh core|dev|gradio4|browser`. Creates the virtual environment in
# the repo (ignored by git) and installs a pinned profile; a stamp keyed on the lock file's hash
# makes a second run a no-op.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-dev}
python=${PYTHON:-python3}

install_profile() {  # venv requirements-file
  local venv=$1 reqs=$2
  local stamp="$venv/.installed-$(basename "$reqs")-$(sha256sum "$reqs" requirements/constraints.txt | sha256sum | cut -c1-16)"
  [ -f "$stamp" ] && return 0
  echo "setting up $venv from $reqs (first run only)..." >&2
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r "$reqs" -c requirements/constraints.txt 2> >(grep -v "is ignored: it is neither" >&2)
  touch "$stamp"
}

case "$profile" in
  core) install_profile .venv requirements/core.txt ;;
  dev) install_profile .venv requirements/lock.txt ;;
  gradio4) install_profile .venv-gradio4 requirements/gradio4.lock.txt ;;
  browser)
    if ! command -v chromium >/dev/null 2>&1; then
      echo "installing Debian's chromium for the browser tests..." >&2
      if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
      $sudo apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
    fi ;;
  *) echo "usage: tools/setup.sh core|dev|gradio4|browser" >&2; exit 2 ;;
esac
