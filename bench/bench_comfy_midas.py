"""Our MiDaS node in a real ComfyUI server: first call, warm call (median of N), the server's peak
RSS, and its RSS before and after `POST /free` (ComfyUI's *Unload models*).

    DEPTH_TOOLS_COMFYUI=<ComfyUI folder> .venv-comfyui/bin/python bench/bench_comfy_midas.py [--calls 5]

The server is a copy of the given ComfyUI (tests/comfy/server.py: a temporary folder, this pack
cloned into custom_nodes/), with random DPT-hybrid weights (the published architecture and size)
in models/depth_tools/, a 640x360 picture, resolution 512. The seed node (comfyui_controlnet_aux's
MiDaS-DepthMapPreprocessor) is not run here yet: it needs that pack's own requirements.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_midas import random_checkpoint
from tests.comfy.server import Comfy, error_of, skip_reason, start, stop
from tests.comfy.test_model_nodes import midas_graph, picture, upload


def rss_mib(comfy: Comfy) -> float:
    return psutil.Process(comfy.process.pid).memory_info().rss / 2**20


def call(comfy: Comfy, graph: dict, step: int) -> float:
    """One run; `a` moved by a negligible step so that ComfyUI's output cache cannot answer it."""
    graph["midas"]["inputs"]["a"] = 6.28 + step * 1e-4
    start_time = time.perf_counter()
    problem = error_of(comfy.run(graph))
    if problem is not None:
        raise SystemExit(f"the MiDaS node failed: {problem}")
    return time.perf_counter() - start_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5, help="warm calls (their median is reported)")
    args = parser.parse_args()
    if (reason := skip_reason()) is not None:
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory() as tmp:
        comfy = start(Path(tmp))
        try:
            folder = comfy.root / "models" / "depth_tools"
            folder.mkdir(parents=True, exist_ok=True)
            weights = random_checkpoint(folder).name
            graph = midas_graph(upload(comfy, picture(Path(tmp) / "photo.png", 640, 360)), weights, 512)
            idle = rss_mib(comfy)
            first = call(comfy, graph, 0)
            warm = [call(comfy, graph, step) for step in range(1, args.calls + 1)]
            with open(f"/proc/{comfy.process.pid}/status") as status:
                hwm = next(float(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM"))
            before = rss_mib(comfy)
            comfy.post("/free", {"unload_models": True, "free_memory": True})
            time.sleep(3)
            after = rss_mib(comfy)
        finally:
            stop(comfy)
    print(f"| node | first call s | warm call s (median of {args.calls}) | peak RSS MiB | "
          "RSS before /free MiB | after /free MiB |")
    print("|---|---|---|---|---|---|")
    print(f"| DepthTools_MiDaS | {first:.2f} | {statistics.median(warm):.2f} | {hwm:.0f} | "
          f"{before:.0f} | {after:.0f} |")
    print(f"(server RSS idle before the first call: {idle:.0f} MiB)")


if __name__ == "__main__":
    main()
