"""Video Depth Anything (Small, Large) and a Depth Anything V2 sequence on a device: the warm call
against the bare network on the same batch, as frames per second. Random weights in the official
layouts (speed does not depend on the values); bench/gpu.sh runs it with `--device cuda`.

  window        one 32-frame window: `estimate_window` (input on the device, maps resized and copied
                back) against the bare forward of the same prepared window
  sequence fps  `depths()` over a whole clip (frames prepared, windows, alignment, maps back) against
                the bare network's frames per second on the same windows
  DA2 batch     `estimate_batch` on 8 frames against the bare forward of the same 8-frame batch

    .venv/bin/python bench/bench_video_calls.py --device cuda [--precisions fp32 fp16]
    .venv/bin/python bench/bench_video_calls.py --device cpu --quick    # exercises every path in seconds
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_time(fn, runs: int, device: str) -> float:
    fn()
    times = []
    for _ in range(runs):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def precision_context(device: str, precision: str):
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.split(":")[0], dtype=torch.float16 if precision == "fp16" else torch.bfloat16)


def video_rows(args: argparse.Namespace, folder: Path) -> None:
    import numpy as np
    import torch

    from bench.pictures import picture
    from lib_depth.video import VideoEstimator
    from lib_depth.video.frames import network_size, prepare_frame
    from lib_depth.video.stream import INFER_LEN, STEP
    from tests.anything_support import save_pth
    from tests.video_support import video_state_dict

    frames = [picture(i) for i in range(args.frames)]
    size = network_size(*frames[0].shape[:2], args.input_size)
    window = torch.from_numpy(np.stack([prepare_frame(f, size) for f in frames[:INFER_LEN]]))
    print(f"Video Depth Anything, 640x360 frames, network {size[1]}x{size[0]}, {args.device}, "
          f"median of {args.runs}; clip of {args.frames} frames\n")
    print("| model | precision | window warm s | window bare s | warm / bare | sequence fps | bare fps "
          "| bare / sequence |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    windows = 1 + max(0, -(-(args.frames - INFER_LEN) // STEP))
    for encoder in args.encoders:
        weights = save_pth(folder / f"video_depth_anything_{encoder}.pth", video_state_dict(encoder))
        est = VideoEstimator.from_file(weights, device=args.device)
        for precision in args.precisions:
            warm, forward, seq = time_video(est, window, frames, args, precision)
            seq_fps, bare_fps = args.frames / seq, args.frames / (forward * windows)
            print(f"| {encoder} | {precision} | {warm:.4f} | {forward:.4f} | {warm / forward:.2f} | {seq_fps:.1f} "
                  f"| {bare_fps:.1f} | {bare_fps / seq_fps:.2f} |", flush=True)


def time_video(est, window, frames, args: argparse.Namespace, precision: str) -> tuple[float, float, float]:
    """(window warm call, window bare forward, whole clip) in seconds."""
    import torch

    x = window.to(args.device)[None]

    def bare() -> None:
        with torch.inference_mode():
            est.network(x)

    with precision_context(args.device, precision):
        warm = median_time(lambda: est.estimate_window(window.numpy(), (360, 640)), args.runs, args.device)
        forward = median_time(bare, args.runs, args.device)
        seq = median_time(lambda: sum(1 for _ in est.depths(iter(frames), input_size=args.input_size)),
                          1, args.device)
    return warm, forward, seq


def time_batch(est, frames, args: argparse.Namespace) -> tuple[float, float]:
    """(estimate_batch on the frames, bare forward of the same batch) in seconds."""
    import numpy as np
    import torch

    from lib_depth.network_base.device import autocast

    est.max_batch = len(frames)
    x = est._network_input(np.stack([est._prepare(f, args.resolution)[0] for f in frames]))

    def bare() -> None:
        with torch.inference_mode(), autocast(est.device, est.precision):
            est.model(x)

    return (median_time(lambda: est.estimate_batch(frames, args.resolution), args.runs, args.device),
            median_time(bare, args.runs, args.device))


def anything_rows(args: argparse.Namespace, folder: Path) -> None:
    from bench.bench_anything import random_weights
    from bench.pictures import picture
    from lib_depth import anything

    frames = [picture(i) for i in range(8)]
    print(f"\nDepth Anything V2, a sequence's batch of 8 640x360 frames at {args.resolution}, {args.device}\n")
    print("| model | precision | estimate_batch s | bare forward s | warm / bare | fps | bare fps |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for model in args.anything:
        weights = random_weights(model, folder)
        for precision in args.precisions:
            est = anything.AnythingEstimator.from_pretrained(
                anything.AnythingSettings(weights=str(weights), device=args.device, precision=precision))
            warm, forward = time_batch(est, frames, args)
            print(f"| {model} | {est.precision} | {warm:.4f} | {forward:.4f} | {warm / forward:.2f} "
                  f"| {8 / warm:.1f} | {8 / forward:.1f} |", flush=True)
            est.free()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16"])
    parser.add_argument("--encoders", nargs="+", default=["vits", "vitl"], choices=["vits", "vitl"])
    parser.add_argument("--anything", nargs="+", default=["vits", "vitb", "vitl"], choices=["vits", "vitb", "vitl"])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--input-size", type=int, default=518)
    parser.add_argument("--resolution", type=int, default=518)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, Small only, fp32: every path in seconds")
    args = parser.parse_args()
    if args.quick:
        args.precisions, args.encoders, args.anything = ["fp32"], ["vits"], ["vits"]
        args.frames, args.input_size, args.resolution, args.runs = 40, 70, 70, 1
    sys.path.insert(0, str(REPO))
    with tempfile.TemporaryDirectory(prefix="bench_video_calls_") as folder:
        video_rows(args, Path(folder))
        anything_rows(args, Path(folder))


if __name__ == "__main__":
    main()
