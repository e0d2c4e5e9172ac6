"""MiDaS per-image latency: reload per call (the seed node) vs the cached model vs the bare forward.

    .venv/bin/python bench/bench_midas.py [--device auto|cpu|cuda] [--resolutions 384 512]
                                          [--runs 3] [--weights dpt_hybrid-midas-501f0c75.pt]

For each resolution and each precision the device supports:
  (a) reload per call: `MidasDetector.from_pretrained(folder).to(device)` and its `__call__` for
      every image, exactly as the seed's ComfyUI node does (fp32: the detector has no precision
      option, and its `__call__` fails under bf16; its load time is shown apart), and our own
      loader per call in that precision;
  (b) the cached estimator (`get_estimator`) in that precision, the whole call: resize, pad,
      forward, crop, resize back to the image's size;
  (c) the bare torch forward of the same network on a ready tensor of the same shape, in the same
      precision; (b) and (c) are timed alternately so that drift in the machine's load hits both.
Median seconds per image of `--runs` runs after a warm-up. Peak memory: on CUDA torch's peak
allocation in the run; on a CPU the peak resident set of a fresh interpreter converting two
images that way (in-process numbers would carry the previous mode's heap). Without --weights a
random DPT-hybrid checkpoint (the published file's architecture and size) is built in a temporary
folder: latency does not depend on the weights' values. The image is a 1200x800 photo-sized array,
so the network sees resolution x 1.5*resolution.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from lib_depth import midas  # noqa: E402
from lib_depth.midas import WEIGHTS_NAME, MidasEstimator, MidasSettings, get_estimator  # noqa: E402
from lib_depth.midas.device import autocast, pick_device  # noqa: E402

IMAGE_SIZE = (800, 1200)  # (h, w): a 3:2 photo


def photo() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (*IMAGE_SIZE, 3), dtype=np.uint8)


def sync(device: object) -> None:
    import torch

    if getattr(device, "type", "") == "cuda":
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device: object) -> float:
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def random_checkpoint(folder: Path) -> Path:
    import torch

    torch.manual_seed(0)
    net = midas.network_class()(path=None, backbone="vitb_rn50_384", non_negative=True)
    path = folder / WEIGHTS_NAME
    torch.save(net.state_dict(), path)
    del net
    gc.collect()
    return path


def precisions_for(device: object) -> list[str]:
    import torch

    if device.type == "cpu":
        return ["fp32", "bf16"]
    found = ["fp32", "fp16"]
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        found.append("bf16")
    return found


# --------------------------------------------------------------------------------------------
# the three ways


def seed_call(weights: Path, image: np.ndarray, resolution: int, device: object) -> float:
    """The seed node for one image: load, move, run, drop. Returns the load's share in seconds."""
    from controlnet_aux.midas import MidasDetector

    start = time.perf_counter()
    model = MidasDetector.from_pretrained(str(weights.parent)).to(device)
    sync(device)
    loaded = time.perf_counter() - start
    model(image, detect_resolution=resolution, image_resolution=resolution)
    del model
    gc.collect()
    return loaded


def bench_seed(weights: Path, image: np.ndarray, resolution: int, device: object, runs: int) -> dict[str, float]:
    midas.network_class()  # the torchvision workaround, where this environment needs it
    seed_call(weights, image, resolution, device)  # warm-up: imports, page cache
    totals, loads = [], []
    for _ in range(runs):
        start = time.perf_counter()
        loads.append(seed_call(weights, image, resolution, device))
        totals.append(time.perf_counter() - start)
    return {"seed": statistics.median(totals), "seed_load": statistics.median(loads)}


def bench_precision(weights: Path, image: np.ndarray, resolution: int, device: object, precision: str,
                    runs: int) -> dict[str, float]:
    import torch

    settings = MidasSettings(weights=str(weights), device=str(device), precision=precision)
    row: dict[str, float] = {}

    def reload_call() -> None:
        MidasEstimator.from_pretrained(settings)(image, resolution)
        gc.collect()

    reload_call()
    row["reload"] = statistics.median(timed(reload_call, device) for _ in range(runs))

    midas.release_estimators(free=True)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    estimator = get_estimator(settings)
    estimator(image, resolution)  # warm-up
    shape = midas.network_shape(*image.shape[:2], resolution).padded
    x = torch.rand(1, 3, *shape, device=estimator.device).mul_(2).sub_(1)
    x = x.contiguous(memory_format=torch.channels_last)
    net = estimator.model

    def bare() -> None:
        with torch.inference_mode(), autocast(estimator.device, precision):
            net(x)

    bare()
    cached_times, bare_times = [], []
    for _ in range(runs):  # alternately
        cached_times.append(timed(lambda: estimator(image, resolution), device))
        bare_times.append(timed(bare, device))
    row["cached"], row["bare"] = statistics.median(cached_times), statistics.median(bare_times)
    if device.type == "cuda":
        row["cached_mib"] = torch.cuda.max_memory_allocated() / 2**20
    midas.release_estimators(free=True)
    return row


# --------------------------------------------------------------------------------------------
# peak memory (CPU): a fresh interpreter per mode


def peak_child(mode: str, weights: Path, resolution: int, precision: str, device: str) -> None:
    """Run in a fresh interpreter: two images the given way, then print the peak resident set."""
    warnings.filterwarnings("ignore")
    image = photo()
    midas.network_class()
    for _ in range(2):
        if mode == "seed":
            seed_call(weights, image, resolution, device)
        else:
            settings = MidasSettings(weights=str(weights), device=device, precision=precision)
            get_estimator(settings)(image, resolution)
    with open("/proc/self/status") as fh:
        print(json.dumps({"peak_mib": int(fh.read().split("VmHWM:")[1].split()[0]) / 1024}))


def peak_rss(mode: str, weights: Path, resolution: int, precision: str, device: object) -> float:
    cmd = [sys.executable, __file__, "--peak-child", mode, "--weights", str(weights), "--device", str(device),
           "--resolutions", str(resolution), "--precisions", precision]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    try:
        return float(json.loads(proc.stdout.strip().splitlines()[-1])["peak_mib"])
    except (IndexError, ValueError, KeyError):
        return float("nan")


# --------------------------------------------------------------------------------------------
# report


def print_header() -> None:
    print("| res | precision | (a) seed reload/call s (its load) | (a) our reload/call s | (b) cached s "
          "| (c) bare forward s | (b)/(c) | (a) seed / (b) | peak MiB: seed / cached |")
    print("|---|---|---|---|---|---|---|---|---|")


def print_row(resolution: int, precision: str, row: dict[str, float]) -> None:
    print(f"| {resolution} | {precision} | {row['seed']:.2f} ({row['seed_load']:.2f}) | {row['reload']:.2f} "
          f"| {row['cached']:.3f} | {row['bare']:.3f} | {row['cached'] / row['bare']:.2f} "
          f"| {row['seed'] / row['cached']:.1f}x | {row['seed_mib']:.0f} / {row['cached_mib']:.0f} |", flush=True)


def check_targets(rows: list[tuple[int, str, dict[str, float]]], device: object, auto: str) -> None:
    """Issue 3's targets, as PASS/FAIL lines; the speed-ups are judged in the precision users get
    by default (`auto`), the others are shown for information."""
    for resolution, precision, row in rows:
        ratio = row["cached"] / row["bare"]
        print(f"{'PASS' if ratio <= 1.1 else 'FAIL'}: warm latency {ratio:.2f}x the bare forward at {resolution} "
              f"{precision} (target <= 1.1x)")
    for resolution, precision, row in rows:
        speedup = row["seed"] / row["cached"]
        target = 2 if device.type == "cpu" else 20
        if (device.type == "cpu" and resolution != 512) or (device.type == "cuda" and precision != "fp16"):
            continue
        if precision != auto:
            load, forward = row["seed_load"], row["seed"] - row["seed_load"]
            print(f"info: cached {precision} {speedup:.1f}x faster per image than the seed's reload per call at "
                  f"{resolution} (same-precision bound ~ 1 + load/forward = 1 + {load:.2f} s / {forward:.2f} s)")
            continue
        verdict = "PASS" if speedup >= target else "FAIL"
        print(f"{verdict}: cached {precision} (the default here) {speedup:.1f}x faster per image than the seed's "
              f"reload per call at {resolution} (target >= {target}x)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto (cuda > mps > cpu), cpu, cuda, cuda:N, mps")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[384, 512])
    parser.add_argument("--precisions", nargs="+", help="default: every one the device supports")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--weights", type=Path, help="a DPT-hybrid checkpoint (default: a random one)")
    parser.add_argument("--peak-child", choices=("seed", "cached"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")  # controlnet_aux/timm import notices

    import torch

    device = pick_device(None if args.device == "auto" else args.device)
    precisions = args.precisions or precisions_for(device)
    if args.peak_child:
        peak_child(args.peak_child, args.weights, args.resolutions[0], precisions[0], str(device))
        return 0
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(f"# MiDaS DPT-hybrid on {device} ({name}), torch {torch.__version__}, image {IMAGE_SIZE[1]}x{IMAGE_SIZE[0]}, "
          f"median of {args.runs}\n")
    image = photo()
    rows: list[tuple[int, str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        weights = args.weights or random_checkpoint(Path(tmp))
        auto = get_estimator(MidasSettings(weights=str(weights), device=str(device))).precision
        midas.release_estimators(free=True)
        print(f"auto precision here: {auto}\n")
        print_header()
        for resolution in args.resolutions:
            seed = bench_seed(weights, image, resolution, device, args.runs)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
                seed_call(weights, image, resolution, device)
                seed["seed_mib"] = torch.cuda.max_memory_allocated() / 2**20
            else:
                seed["seed_mib"] = peak_rss("seed", weights, resolution, "fp32", device)
            for precision in precisions:
                row = {**seed, **bench_precision(weights, image, resolution, device, precision, args.runs)}
                if device.type != "cuda":
                    row["cached_mib"] = peak_rss("cached", weights, resolution, precision, device)
                rows.append((resolution, precision, row))
                print_row(resolution, precision, row)
    print()
    check_targets(rows, device, auto)
    return 0


if __name__ == "__main__":
    sys.exit(main())
