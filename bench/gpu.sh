#!/usr/bin/env bash
# One command for a machine with a CUDA GPU: the MiDaS and Depth Anything V2 benchmarks and the
# estimator tests on the GPU, in well under 8 minutes. Written for a machine that has Python with
# torch and timm but no OpenEXR or controlnet_aux and cannot reach a package registry: it installs
# the wheels brought along in bench/gpu-wheels/ (made beforehand, where pip works, by
# `bash bench/gpu_wheels.sh`) into a private folder, never into the machine's Python.
#
#   bash bench/gpu.sh [OUT_DIR]         # logs and tables also go to OUT_DIR (default: ./artifacts/gpu)
#   bash bench/gpu.sh --device cpu --quick [OUT_DIR]   # every bench path on tiny sizes, no GPU needed
#
# What it prints:
#   bench_midas     per resolution and precision (fp32, fp16, bf16): the seed node's reload per call
#                   (controlnet_aux's MidasDetector), our reload per call, the cached warm call, the
#                   bare forward, their ratios, peak GPU memory of the seed and of the cached model
#   bench_anything  ViT-S/B/L and MiDaS at 518 in fp32 and fp16: cold first call (fresh process),
#                   load, warm call, bare forward, reload per call, peak GPU memory and RSS
#   bench_video_calls  Video Depth Anything S/L at fp32 and fp16: a window's warm call / bare forward,
#                   a clip's frames per second against the bare network's on the same windows; and
#                   Depth Anything V2 S/B/L on a sequence's 8-frame batch against its bare forward
#   pytest          the estimator and reference tests with DEPTH_TOOLS_TEST_DEVICE=cuda
# Each step has its own time limit; a failing step is reported and the others still run.
set -u
cd "$(dirname "$0")/.."
DEVICE=cuda QUICK=0
while [ $# -gt 0 ]; do
    case $1 in
        --device) DEVICE=$2; shift 2 ;;
        --quick) QUICK=1; shift ;;
        *) break ;;
    esac
done
OUT_DIR=${1:-artifacts/gpu}
mkdir -p "$OUT_DIR"
PY=${PYTHON:-python3}
SITE=${DEPTH_TOOLS_GPU_SITE:-/tmp/depth-tools-gpu-site}
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PYTHONWARNINGS=ignore

if compgen -G "bench/gpu-wheels/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
        bench/gpu-wheels/*.whl || { echo "FAILED: installing bench/gpu-wheels"; exit 1; }
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi

"$PY" - <<'PYEOF' 2>&1 | tee "$OUT_DIR/machine.txt"
import platform, torch, timm, numpy
print(f"python {platform.python_version()}, torch {torch.__version__}, timm {timm.__version__}, numpy {numpy.__version__}")
print(f"cuda: {torch.cuda.is_available()}, {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
for name in ("controlnet_aux", "OpenEXR", "transformers"):
    try:
        module = __import__(name)
        print(f"{name} {getattr(module, '__version__', '?')}")
    except Exception as exc:
        print(f"{name}: not importable ({type(exc).__name__}: {exc})")
PYEOF

status=0
step() {  # step NAME SECONDS COMMAND...: run with a limit, keep its log, say how it ended
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    echo; echo "## $name"
    timeout "$limit" "$@" 2>&1 | tee "$OUT_DIR/$name.log"
    local rc=${PIPESTATUS[0]}
    echo "-- $name: exit $rc in $((SECONDS - start)) s"
    [ "$rc" = 0 ] || status=1
}

if [ "$QUICK" = 1 ]; then  # the same scripts on tiny sizes, so the paths are exercised without a GPU
    step bench_anything 120 "$PY" bench/bench_anything.py --device "$DEVICE" --models vits midas \
        --precisions fp32 --runs 1 --resolution 70
    step bench_video_calls 200 "$PY" bench/bench_video_calls.py --device "$DEVICE" --quick
    exit $status
fi
step bench_midas 140 "$PY" bench/bench_midas.py --device "$DEVICE" --resolutions 384 512 --runs 3
step bench_anything 230 "$PY" bench/bench_anything.py --device "$DEVICE" --models vits vitb vitl midas \
    --precisions fp32 fp16 --runs 10
step bench_video_calls 200 "$PY" bench/bench_video_calls.py --device "$DEVICE" --precisions fp32 fp16
step pytest_cuda 140 env DEPTH_TOOLS_TEST_DEVICE=cuda "$PY" -m pytest -q -p no:cacheprovider -rs \
    tests/test_anything_estimator.py tests/test_anything_reference.py tests/test_midas.py
exit $status
