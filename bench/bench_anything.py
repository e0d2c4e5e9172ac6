"""Depth Anything V2 (ViT-S/B/L) beside MiDaS DPT-hybrid: load time, first call, warm per-call time
and peak RSS, each model in a fresh interpreter, on the same picture at the same resolution.

    .venv/bin/python bench/bench_anything.py [--models vits vitb vitl midas] [--runs 3]
                                             [--resolution 518] [--device cpu] [--precision fp32]
                                             [--weights-dir DIR]

Without --weights-dir, random weights of each real architecture and size are written to a temporary
folder (latency and memory do not depend on the values; ViT-L's file is 1.3 GB). With it, the real
files are used when present there (`depth_anything_v2_vit?.pth` or ControlNet's `.safetensors`,
`dpt_hybrid-midas-501f0c75.pt`). The picture is 640x360; MiDaS gets the same `resolution` as its
short side (its sides then pad to multiples of 32, Depth Anything's round to multiples of 14).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, time
repo, model, weights, runs, resolution, device, precision = sys.argv[1:8]
sys.path.insert(0, repo)
import numpy as np

def picture(seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:360, 0:640]
    img = np.stack([xx * 255 // 640, yy * 255 // 360, np.full_like(xx, 90)], axis=2)
    return np.clip(img + rng.integers(0, 30, (360, 640, 3)), 0, 255).astype(np.uint8)

start = time.perf_counter()
if model == "midas":
    from lib_depth import midas
    est = midas.MidasEstimator.from_pretrained(midas.MidasSettings(weights=weights, device=device, precision=precision))
else:
    from lib_depth import anything
    est = anything.AnythingEstimator.from_pretrained(
        anything.AnythingSettings(weights=weights, device=device, precision=precision))
load = time.perf_counter() - start
start = time.perf_counter()
done = est.estimate(picture(0), int(resolution))
first = time.perf_counter() - start
warm = []
for i in range(int(runs)):
    start = time.perf_counter()
    est(picture(i + 1), int(resolution))
    warm.append(time.perf_counter() - start)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"load": load, "first": first, "warm": warm, "network": list(done.shape.content),
                  "precision": est.precision, "peak_rss_mib": rss}))
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["vits", "midas"], choices=["vits", "vitb", "vitl", "midas"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=518)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--weights-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_anything_") as scratch:
        for model in args.models:
            weights = weights_for(model, args.weights_dir, Path(scratch))
            out = subprocess.run([sys.executable, "-c", CHILD, str(REPO), model, str(weights), str(args.runs),
                                  str(args.resolution), args.device, args.precision],
                                 capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append((model, result))
    print(f"640x360 picture, resolution {args.resolution}, {args.device}, {args.precision}, "
          f"median of {args.runs} warm calls")
    print(f"{'model':6} {'network input':>14} {'load s':>7} {'first s':>8} {'warm s':>7} {'peak RSS MiB':>13}")
    for model, r in rows:
        h, w = r["network"]
        print(f"{model:6} {f'{w}x{h}':>14} {r['load']:7.2f} {r['first']:8.2f} {statistics.median(r['warm']):7.2f} "
              f"{r['peak_rss_mib']:13.0f}")


if __name__ == "__main__":
    main()
