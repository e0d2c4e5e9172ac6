#!/usr/bin/env bash
# Everything CI runs: set-up (idempotent), lint, then the whole test suite in each environment that
# mirrors a real host: webui (A1111 + ControlNet's pins: timm 0.9.5, pydantic 1.10, Pillow 9.5,
# gradio 3.41.2), forge (gradio 4.40, pydantic 2.8, mediapipe 1.2.3) and newest (numpy 2, opencv 5).
# Then tests/comfy alone in the comfyui environment (ComfyUI 0.3.64's requirements): they start one real
# ComfyUI server (from ../shared/hosts/ComfyUI) for the session; the other environments leave them out.
# The runs share one random MiDaS checkpoint. Arguments go to every pytest run.
#
# `tools/test.sh --quick [pytest arguments]`: lint and the unit tests of the webui environment only
# (-m "not browser and not slow": no MiDaS network, no chromium; tests/conftest.py says what is slow),
# about a minute; what a change should pass before the full run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh dev
if [ "${1:-}" = "--quick" ]; then
  shift
  .venv/bin/ruff check .
  DEPTH_TOOLS_TEST_ENV=webui exec .venv/bin/python -m pytest -m "not browser and not slow" "$@"
fi
bash tools/setup.sh forge
bash tools/setup.sh newest
bash tools/setup.sh comfyui
bash tools/setup.sh browser
.venv/bin/ruff check .

shared=$(mktemp -d -t depth-tools-test.XXXXXX)
trap 'rm -rf "$shared"' EXIT
export DEPTH_TOOLS_TEST_CHECKPOINT="$shared/dpt_hybrid-midas-501f0c75.pt"

failed=()
for env in webui forge newest; do
  case "$env" in webui) venv=.venv ;; *) venv=.venv-$env ;; esac
  versions=$("$venv/bin/python" -c 'from importlib.metadata import version as v
print(", ".join(f"{d} {v(d)}" for d in ("timm", "torch", "gradio", "pydantic", "numpy", "Pillow")))')
  echo "== tests in the $env environment ($versions)"
  DEPTH_TOOLS_TEST_ENV=$env "$venv/bin/python" -m pytest --ignore=tests/comfy "$@" || failed+=("$env")
done
echo "== ComfyUI tests in the comfyui environment"
DEPTH_TOOLS_TEST_ENV=comfyui .venv-comfyui/bin/python -m pytest tests/comfy "$@" || failed+=(comfyui)
if [ ${#failed[@]} -gt 0 ]; then
  echo "tests failed in: ${failed[*]}" >&2
  exit 1
fi
