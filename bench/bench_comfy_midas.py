"""Our MiDaS node against the seed node (comfyui_controlnet_aux's `MiDaS-DepthMapPreprocessor`, the
same code as Inference-Core's, which builds the model on every call) in ONE real ComfyUI server: first
call, warm call (median of N), the server's peak RSS while each runs, and its RSS before and after
`POST /free` (ComfyUI's *Unload models*).

    DEPTH_TOOLS_COMFYUI=<ComfyUI folder> .venv-comfyui/bin/python bench/bench_comfy_midas.py \\
        [--calls 5] [--seed-pack <checkout of Fannovel16/comfyui_controlnet_aux>]

The server is a copy of the given ComfyUI (tests/comfy/server.py: a temporary folder, this pack
cloned into custom_nodes/, the seed pack copied beside it). Both nodes read the same random
DPT-hybrid weights (the published architecture and size): ours from models/depth_tools/, the seed's
from its ckpts/lllyasviel/Annotators/ as it expects. A 640x360 picture, resolution 512, each result
previewed (PreviewImage) so both end alike. Every call moves `a` by a negligible step, so ComfyUI's
output cache cannot answer it. Without --seed-pack only our node runs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bench_midas import random_checkpoint
from tests.comfy.server import Comfy, error_of, skip_reason, start, stop, upload
from tests.comfy.test_model_nodes import picture

SEED_CLASS = "MiDaS-DepthMapPreprocessor"
SEED_WEIGHTS = Path("ckpts/lllyasviel/Annotators/dpt_hybrid-midas-501f0c75.pt")


def rss_mib(comfy: Comfy) -> float:
    return psutil.Process(comfy.process.pid).memory_info().rss / 2**20


def peak_mib(comfy: Comfy) -> float:
    with open(f"/proc/{comfy.process.pid}/status") as status:
        return next(float(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM"))


def reset_peak(comfy: Comfy) -> None:
    """Linux: writing 5 to clear_refs resets the process's peak RSS (VmHWM) to its current RSS."""
    Path(f"/proc/{comfy.process.pid}/clear_refs").write_text("5")


def graph(node: str, image: str, weights: str | None) -> dict:
    inputs = {"image": ["image", 0], "a": 6.28, "bg_threshold": 0.1, "resolution": 512}
    if weights is not None:
        inputs["weights"] = weights
    return {"image": {"class_type": "LoadImage", "inputs": {"image": image}},
            "midas": {"class_type": node, "inputs": inputs},
            "preview": {"class_type": "PreviewImage", "inputs": {"images": ["midas", 0]}}}


def call(comfy: Comfy, made: dict, step: int) -> float:
    made["midas"]["inputs"]["a"] = 6.28 + step * 1e-4
    start_time = time.perf_counter()
    problem = error_of(comfy.run(made))
    if problem is not None:
        raise SystemExit(f"{made['midas']['class_type']} failed: {problem}")
    return time.perf_counter() - start_time


def measure(comfy: Comfy, made: dict, calls: int) -> dict[str, float]:
    """First and warm calls, peak RSS, then RSS before and after /free."""
    reset_peak(comfy)
    first = call(comfy, made, 0)
    warm = statistics.median(call(comfy, made, step) for step in range(1, calls + 1))
    peak, before = peak_mib(comfy), rss_mib(comfy)
    comfy.post("/free", {"unload_models": True, "free_memory": True})
    time.sleep(3)
    return {"first": first, "warm": warm, "peak": peak, "before": before, "after": rss_mib(comfy)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5, help="warm calls (their median is reported)")
    parser.add_argument("--seed-pack", type=Path, help="a checkout of comfyui_controlnet_aux (not shipped)")
    args = parser.parse_args()
    if (reason := skip_reason()) is not None:
        raise SystemExit(reason)
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        packs = () if args.seed_pack is None else (args.seed_pack.resolve(),)
        comfy = start(Path(tmp), extra_packs=packs)
        try:
            folder = comfy.root / "models" / "depth_tools"
            folder.mkdir(parents=True, exist_ok=True)
            weights = random_checkpoint(folder)
            image = upload(comfy, picture(Path(tmp) / "photo.png", 640, 360))
            idle = rss_mib(comfy)
            if packs:
                placed = comfy.root / "custom_nodes" / packs[0].name / SEED_WEIGHTS
                placed.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(weights, placed)
                rows[f"seed {SEED_CLASS}"] = measure(comfy, graph(SEED_CLASS, image, None), args.calls)
            rows["DepthTools_MiDaS"] = measure(comfy, graph("DepthTools_MiDaS", image, weights.name), args.calls)
        finally:
            stop(comfy)
    print(f"| node | first call s | warm call s (median of {args.calls}) | peak RSS MiB | "
          "RSS before /free MiB | after /free MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {row['first']:.2f} | {row['warm']:.2f} | {row['peak']:.0f} | "
              f"{row['before']:.0f} | {row['after']:.0f} |")
    print(f"(server RSS idle before the first call: {idle:.0f} MiB)")


if __name__ == "__main__":
    main()
