"""Depth Anything V2 (ViT-S/B/L) beside MiDaS DPT-hybrid, each model and precision in a fresh
interpreter, on the same picture at the same resolution:

  cold first call    interpreter start to the first map: imports, weights load and the first run
  warm call          the cached estimator's whole call (resize, forward, resize back), median
  bare forward       the network alone on a ready tensor of the same shape, same precision, timed
                     alternately with the warm call (what the call adds around the network)
  resize in          of the warm call, the picture's resize and normalisation on the CPU
  reload per call    load the weights and run, for every picture (the seed node's way)
  peak GPU / RSS     torch's peak allocation during the warm calls; the process's peak resident set

    .venv/bin/python bench/bench_anything.py [--models vits vitb vitl midas] [--runs 3]
                                             [--resolution 518] [--device cpu|cuda]
                                             [--precisions fp32 fp16] [--weights-dir DIR]

Without --weights-dir, random weights of each real architecture and size are written to a temporary
folder (latency and memory do not depend on the values; ViT-L's file is 1.3 GB). With it, the real
files are used when present there (`depth_anything_v2_vit?.pth` or ControlNet's `.safetensors`,
`dpt_hybrid-midas-501f0c75.pt`). The picture is 640x360; MiDaS gets the same `resolution` as its
short side (its sides then pad to multiples of 32, Depth Anything's round to multiples of 14).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import time
t0 = time.perf_counter()  # before torch is imported: the cold first call counts the imports
import gc, json, resource, statistics, sys
repo, model, weights, runs, resolution, device, precision = sys.argv[1:8]
runs, resolution = int(runs), int(resolution)
sys.path.insert(0, repo)
import numpy as np
import torch

from bench.pictures import picture

def sync():
    if torch.cuda.is_available() and device.startswith("cuda"):
        torch.cuda.synchronize()

def timed(fn):
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start

if model == "midas":
    from lib_depth import midas as package
    make = lambda: package.MidasEstimator.from_pretrained(
        package.MidasSettings(weights=weights, device=device, precision=precision))
else:
    from lib_depth import anything as package
    make = lambda: package.AnythingEstimator.from_pretrained(
        package.AnythingSettings(weights=weights, device=device, precision=precision))
from lib_depth.network_base.device import autocast

start = time.perf_counter()
est = make()
sync()
load = time.perf_counter() - start
done = est.estimate(picture(0), resolution)
sync()
cold = time.perf_counter() - t0
first = time.perf_counter() - start - load
batch, _ = est._prepare(picture(0), est._check_resolution(resolution))
x = est._network_input(batch[None])
if est.device.type == "cuda":
    torch.cuda.reset_peak_memory_stats()

def bare():
    with torch.inference_mode(), autocast(est.device, est.precision):
        est.model(x)

bare()
warm, forward = [], []
for i in range(runs):  # alternately, so that drift hits both
    warm.append(timed(lambda: est(picture(i + 1), resolution)))
    forward.append(timed(bare))
prep = [timed(lambda: est._prepare(picture(i), est._check_resolution(resolution))) for i in range(runs)]
gpu_mib = torch.cuda.max_memory_allocated() / 2**20 if est.device.type == "cuda" else None
precision_used = est.precision
est.free()
del est
gc.collect()

def reload_call():
    make()(picture(1), resolution)
    gc.collect()

reload = [timed(reload_call) for _ in range(max(1, min(runs, 3)))]
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"load": load, "first": first, "cold": cold, "warm": statistics.median(warm),
                  "bare": statistics.median(forward), "prepare": statistics.median(prep),
                  "reload": statistics.median(reload),
                  "network": list(done.shape.content), "precision": precision_used,
                  "gpu_mib": gpu_mib, "peak_rss_mib": rss}))
"""


def random_weights(model: str, folder: Path) -> Path:
    """A random checkpoint of the real architecture (ViT-S/B/L in the reference layout, or DPT-hybrid)."""
    import torch

    sys.path.insert(0, str(REPO))
    if model == "midas":
        from lib_depth import midas

        path = folder / midas.WEIGHTS_NAME
        if not path.exists():
            torch.manual_seed(0)
            net = midas.network_class()(path=None, backbone="vitb_rn50_384", non_negative=True)
            torch.save(net.state_dict(), str(path))
        return path
    from lib_depth.anything.config import AnythingConfig
    from lib_depth.anything.network import build

    path = folder / f"depth_anything_v2_{model}.pth"
    if not path.exists():
        torch.manual_seed(0)
        net = build(AnythingConfig.reference(model))
        for p in net.parameters():
            torch.nn.init.normal_(p, std=0.02)
        torch.save(net.state_dict(), str(path))
    return path


def weights_for(model: str, folder: Path | None, scratch: Path) -> Path:
    if folder is not None:
        names = ["dpt_hybrid-midas-501f0c75.pt"] if model == "midas" else [
            f"depth_anything_v2_{model}.pth", f"depth_anything_v2_{model}.safetensors"]
        for name in names:
            for path in (folder / name, folder / "depth_anything_v2" / name, folder / "midas" / name):
                if path.is_file():
                    return path
    return random_weights(model, scratch)


def run_child(model: str, weights: Path, args: argparse.Namespace, precision: str) -> dict:
    """One model in one precision, in a fresh interpreter (so that its first call is really cold)."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(REPO), model, str(weights), str(args.runs),
                          str(args.resolution), args.device, precision],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{model} {precision} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_table(rows: list[tuple[str, str, dict]], args: argparse.Namespace) -> None:
    print(f"640x360 picture, resolution {args.resolution}, {args.device}, median of {args.runs} warm calls "
          f"(reload per call: median of {min(args.runs, 3)})\n")
    print("| model | precision | network input | cold first call s | load s | warm call s | bare forward s "
          "| warm / bare | of which resize in s | reload per call s | reload / warm | peak GPU MiB | peak RSS MiB |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model, asked, r in rows:
        h, w = r["network"]
        used = r["precision"] if r["precision"] == asked else f"{asked} -> {r['precision']}"
        gpu = "-" if r["gpu_mib"] is None else f"{r['gpu_mib']:.0f}"
        print(f"| {model} | {used} | {w}x{h} | {r['cold']:.2f} | {r['load']:.2f} | {r['warm']:.4f} "
              f"| {r['bare']:.4f} | {r['warm'] / r['bare']:.2f} | {r['prepare']:.4f} | {r['reload']:.3f} "
              f"| {r['reload'] / r['warm']:.1f}x "
              f"| {gpu} | {r['peak_rss_mib']:.0f} |", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["vits", "midas"], choices=["vits", "vitb", "vitl", "midas"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=518)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", nargs="+", default=["fp32"], help="fp32 fp16 bf16 auto")
    parser.add_argument("--weights-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_anything_") as scratch:
        for model in args.models:
            weights = weights_for(model, args.weights_dir, Path(scratch))
            for precision in args.precisions:
                rows.append((model, precision, run_child(model, weights, args, precision)))
    print_table(rows, args)


if __name__ == "__main__":
    main()
