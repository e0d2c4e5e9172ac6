"""Video Depth Anything's streamed inference: peak resident memory for videos of different lengths,
each in a fresh interpreter (Small's official layout, random weights: memory does not depend on the
values). Frames are made one at a time (bench/pictures.py, 640x360, a new seed per frame) and every
map is written to disk as it comes (float32 .npy), so nothing but the stream's windows is held.

  peak RSS        the process's peak resident set (ru_maxrss), imports and weights included
  held maps       what keeping every map would take (frames x 640 x 360 x 4 bytes): the official
                  `infer_video_depth` holds that twice over (raw and aligned lists) plus the frames

    .venv/bin/python bench/bench_video_memory.py [--frames 100 1000] [--input-size 518 126]

The network size follows the official rule (short side = input size, multiples of 14): 518 gives
518x924, the published setting; on a 2-core CPU a 1,000-frame run at 518 takes about an hour, so
the default table also measures at 126 (126x224), where the windows are the same and only the
network's activations are smaller.
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
import json, resource, sys, tempfile, time
repo, weights, count, size, out = sys.argv[1:6]
sys.path.insert(0, repo)
from pathlib import Path
import numpy as np
import torch
from bench.pictures import picture
from lib_depth.video import VideoEstimator

torch.set_num_threads(torch.get_num_threads())
estimator = VideoEstimator.from_file(weights)
start = time.perf_counter()
written = 0
for index, depth in enumerate(estimator.depths((picture(i) for i in range(int(count))), input_size=int(size))):
    np.save(Path(out) / f"{index:06d}.npy", depth)
    written += 1
seconds = time.perf_counter() - start
print(json.dumps({"frames": written, "seconds": seconds,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(weights: Path, frames: int, size: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, "-c", CHILD, str(REPO), str(weights), str(frames), str(size), out],
                              capture_output=True, text=True, check=True)
        result = json.loads(done.stdout.strip().splitlines()[-1])
        assert result["frames"] == frames == len(list(Path(out).iterdir())), result
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--input-size", type=int, nargs="+", default=[126])
    parser.add_argument("--encoder", choices=["vits", "vitl"], default="vits", help="Small or Large (random weights)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from tests.anything_support import save_pth
    from tests.video_support import video_state_dict

    with tempfile.TemporaryDirectory() as folder:
        weights = save_pth(Path(folder) / f"video_depth_anything_{args.encoder}.pth", video_state_dict(args.encoder))
        name = {"vits": "Small", "vitl": "Large"}[args.encoder]
        print(f"Video Depth Anything {name}, 640x360 frames streamed in, maps streamed to disk (fp32, CPU)\n")
        print("| frames | network size | peak RSS | held maps (not held) | time | per frame |")
        print("|---:|---|---:|---:|---:|---:|")
        for size in args.input_size:
            from lib_depth.video.frames import network_size

            h, w = network_size(360, 640, size)
            for count in args.frames:
                r = measure(weights, count, size)
                print(f"| {count} | {h}x{w} | {r['peak_mb']:.0f} MB | {count * 640 * 360 * 4 / 2**20:.0f} MB "
                      f"| {r['seconds']:.0f} s | {1000 * r['seconds'] / count:.0f} ms |", flush=True)


if __name__ == "__main__":
    main()
