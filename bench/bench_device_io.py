"""The CPU path before and after the device-side pre/post-processing (network_base/device_io.py), in one
run: the input preparation and the output resize of MiDaS, Depth Anything V2 and Video Depth Anything,
timed in main's code (`git archive BASE lib_depth` into a temporary folder) and in this checkout, each in
its own interpreter, alternated so that the machine's load falls on both alike. On the CPU the
estimators keep the cv2 path, so the ratio should be 1 within noise; the last column shows what the
torch path would cost on this CPU (it is only used off the CPU; for Video Depth Anything its frame
preparation, video/device_frames.py).

    .venv/bin/python bench/bench_device_io.py [--base d472c6d] [--runs 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
runs = int(sys.argv[2])
import numpy as np, torch
torch.set_num_threads(1)
from lib_depth.midas import geometry as mg
from lib_depth.anything import geometry as ag
from lib_depth.video import frames as vf
rng = np.random.default_rng(0)
image = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
def best(fn):
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return 1000 * min(times)
def midas():
    x, shape = mg.prepare(image, 384)
    y = mg.to_network_input(x[None], torch.device("cpu"))
    mg.restore(y[0, 0], shape)
def anything():
    x, shape = ag.prepare(image, 518)
    ag.restore(torch.from_numpy(x[0]), shape)
size = vf.network_size(720, 1280, 518)
def video():
    vf.prepare_frame(image, size)
out = {"MiDaS 384": best(midas), "Depth Anything V2 518": best(anything), "Video Depth Anything 518": best(video)}
try:
    from lib_depth.network_base import device_io
    from lib_depth.midas.estimator import MidasEstimator
    from lib_depth.anything.estimator import AnythingEstimator
except ImportError:
    device_io = None
if device_io is not None:
    t = torch.from_numpy(image)[None]
    def torch_path(recipe, resolution):
        shape = recipe.shape(720, 1280, resolution)
        y = device_io.resize_input(t, shape, recipe)
        device_io.resize_output(y[:, 0], shape, recipe)
    out["torch MiDaS 384"] = best(lambda: torch_path(MidasEstimator.device_recipe, 384))
    out["torch Depth Anything V2 518"] = best(lambda: torch_path(AnythingEstimator.device_recipe, 518))
try:
    from lib_depth.video.device_frames import device_preparer
except ImportError:
    device_preparer = None
if device_preparer is not None:
    prepare_on_cpu = device_preparer("cpu")
    out["torch Video Depth Anything 518"] = best(lambda: prepare_on_cpu(image, size))
print(json.dumps(out))
"""


def timed(tree: Path, runs: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(runs)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="d472c6d", help="the commit before (default: main at the change)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", args.base, "lib_depth"], capture_output=True,
                             check=True).stdout
    with tempfile.TemporaryDirectory() as folder:
        with tarfile.open(fileobj=BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        before: list[dict[str, float]] = []
        after: list[dict[str, float]] = []
        for _ in range(args.rounds):
            before.append(timed(Path(folder), args.runs))
            after.append(timed(REPO, args.runs))
    print(f"CPU path, 1280x720 uint8 picture, best of {args.runs} x {args.rounds} rounds, 1 thread, ms\n")
    print(f"| step (prepare + restore) | before ({args.base}) | after | after / before | torch path on this CPU |")
    print("|---|---:|---:|---:|---:|")
    for name in before[0]:
        b, a = min(r[name] for r in before), min(r[name] for r in after)
        torch_ms = min(r.get(f"torch {name}", float("nan")) for r in after)
        print(f"| {name} | {b:.2f} | {a:.2f} | {a / b:.3f} | {torch_ms:.2f} |")


if __name__ == "__main__":
    main()
