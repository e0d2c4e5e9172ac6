"""Per-call latency of the depth preprocessor as ControlNet calls it, next to the built-in depth_midas.

    .venv/bin/python bench/bench_preprocessor.py [--runs 3] [--precisions fp32 bf16 auto]
                                                 [--weights dpt_hybrid-midas-501f0c75.pt]
                                                 [--envs webui newest]

`--envs` runs the children in the environments tools/setup.sh makes (webui = .venv: A1111 +
ControlNet's timm 0.9.5; forge = .venv-forge; newest = .venv-newest), one table, same machine.

A 640x360 image at preprocessor resolution 512 (the map is 910x512), through the object registered
with ControlNet (>= 1.1.444, via the test host double) and called the way ControlNet calls it.
Each precision runs in a fresh interpreter, so that its first call is really the first:

  cold first call      nothing imported or loaded yet (controlnet_aux import + weights load + run)
  first after the tab  the model was loaded earlier by another caller (the tab, another
                       preprocessor): the first preprocessor call must not pay for a second load
  warm call            median of --runs later calls (a new picture each time: no result cache)

The built-in depth_midas figures were measured through /controlnet/detect in a real A1111 1.10.1
on this 2-core CPU (issue 4); the target is at least 2x faster per warm call. Without --weights a
random checkpoint of the real architecture and size is used (latency does not depend on values).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILTIN_WARM_S = 7.0
BUILTIN_FIRST_S = 11.0
IMAGE_HW = (360, 640)
RESOLUTION = 512

CHILD = r"""
import json, sys, time
repo, weights_dir, precision, runs, mode = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
sys.path.insert(0, repo)
from pathlib import Path
import numpy as np
from tests.host_double import webui_double

from bench.pictures import picture

with webui_double(Path(weights_dir) / "webui", "controlnet") as webui:
    webui.load_scripts(); webui.settings()
    webui.shared.opts.data.update(depth_tools_weights_dir=weights_dir, depth_tools_device="cpu",
                                  depth_tools_precision=precision, depth_tools_allow_download=False)
    webui.before_ui()
    p = webui.preprocessor("depth_tools_midas")
    result = {}
    if mode == "after_tab":
        from lib_depth.webui import models
        from lib_depth import midas
        start = time.perf_counter()
        midas.get_estimator(models.midas_settings())(picture(99), resolution=512)  # what the tab does
        result["tab_first"] = time.perf_counter() - start
        loads = midas.load_count()
    start = time.perf_counter()
    out = p(picture(0), resolution=512, slider_1=0.1)
    result["first"] = time.perf_counter() - start
    result["shape"] = list(out.shape)
    if mode == "after_tab":
        result["extra_loads"] = midas.load_count() - loads
    warm = []
    for i in range(runs):
        start = time.perf_counter()
        p(picture(i + 1), resolution=512, slider_1=0.1)
        warm.append(time.perf_counter() - start)
    result["warm"] = warm
    from lib_depth import midas
    from lib_depth.midas import device
    import timm
    result["precision"] = next(iter(midas.estimator._cache.estimators.values())).precision
    result["timm"] = timm.__version__
    result["native_bf16"] = device.cpu_bf16_support()
    print(json.dumps(result))
"""


ENVS = {"webui": REPO / ".venv", "forge": REPO / ".venv-forge", "newest": REPO / ".venv-newest"}


def run_child(python: str, weights_dir: Path, precision: str, runs: int, mode: str) -> dict:
    done = subprocess.run(
        [python, "-c", CHILD, str(REPO), str(weights_dir), precision, str(runs), mode],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if done.returncode != 0:
        raise SystemExit(f"benchmark child failed ({precision}, {mode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def weights_folder(explicit: str | None, scratch: Path) -> Path:
    sys.path.insert(0, str(REPO))
    from lib_depth.midas import WEIGHTS_NAME

    if explicit:
        folder = scratch / "named"
        folder.mkdir()
        (folder / WEIGHTS_NAME).symlink_to(Path(explicit).resolve())
        return folder
    sys.path.insert(0, str(REPO / "bench"))
    from bench_midas import random_checkpoint

    return random_checkpoint(scratch).parent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "auto"])
    parser.add_argument("--weights", help="the published file; default: a random checkpoint of the same network")
    parser.add_argument("--envs", nargs="+", choices=sorted(ENVS), help="default: this interpreter only")
    args = parser.parse_args(argv)
    chosen_envs = args.envs or []
    pythons = [(env, str(ENVS[env] / "bin" / "python")) for env in chosen_envs] or [("this", sys.executable)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-preprocessor-") as tmp:
        folder = weights_folder(args.weights, Path(tmp))
        for env, python in pythons:
            for precision in args.precisions:
                cold = run_child(python, folder, precision, args.runs, "cold")
                after = run_child(python, folder, precision, 0, "after_tab")
                rows.append((env, precision, cold, after))
                print(f"  {env} {precision}: done", file=sys.stderr)
    h, w = IMAGE_HW
    print(
        f"\ndepth_tools_midas, {w}x{h} image at resolution {RESOLUTION} (map {rows[0][2]['shape'][1]}x"
        f"{rows[0][2]['shape'][0]}), CPU, median of {args.runs} warm calls\n"
    )
    print(
        "| preprocessor | environment (timm) | precision | cold first call (s) | first call after the tab loaded it "
        "(s) | extra loads | warm call (s) | warm speed-up vs built-in |"
    )
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| depth_midas (built-in, A1111 1.10.1, /controlnet/detect) | A1111 (0.9.5) | fp32 | {BUILTIN_FIRST_S:.1f} "
        f"| - | - | {BUILTIN_WARM_S:.1f} | 1.0x |"
    )
    for env, precision, cold, after in rows:
        warm = statistics.median(cold["warm"])
        label = precision if precision != "auto" else f"auto ({cold['precision']})"
        print(
            f"| depth_tools_midas | {env} ({cold['timm']}) | {label} | {cold['first']:.2f} | {after['first']:.2f} "
            f"| {after['extra_loads']} | {warm:.2f} | {BUILTIN_WARM_S / warm:.1f}x |"
        )
    flags = rows[0][2]["native_bf16"]
    why = {True: "the CPU reports native bf16 (AVX-512 BF16/AMX), so a 128x128 probe timed fp32 against bf16",
           False: "the CPU has no native bf16: fp32 without measuring (bf16 would be ~20x slower)",
           None: "the CPU flags cannot be read here: a 128x128 probe timed fp32 against bf16"}[flags]
    chosen = sorted({cold["precision"] for _, p, cold, _ in rows if p == "auto"})
    if chosen:
        print(f"\nauto chose {', '.join(chosen)}: {why}.")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)", file=sys.stderr)
