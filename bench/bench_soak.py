"""Long runs in one process: N MiDaS calls (the CLI core on PNG files, alternating sizes) and M EXR
conversions, checking that nothing accumulates: resident memory after the first calls (the
model and allocator warm-up) grows by less than a bound, and open file descriptors and
temporary files come back to their starting count.

    python bench/bench_soak.py --weights /path/to/dpt_hybrid-midas-501f0c75.pt [--calls 300] [--conversions 2000]

Exit status 1 when a bound is broken. A random-weight checkpoint (tests/fixtures_midas.py) does.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib_depth.depth.exr import write_depth
from lib_depth.depth.pipeline import Job, run_job
from lib_depth.depth.process import DepthOptions
from lib_depth.depth.sample import synthetic_scene
from lib_depth.images import ImageInput

WARM_UP = 20  # calls after which the model, caches and allocator pools are in place
MAX_GROWTH_MB = 30.0


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def temp_entries() -> int:
    """Entries in the temporary folder (and its depth-tools/ runs): a leak of any kind shows here.
    torch's per-user compile cache (`torchinductor_<user>`, made once when torch is imported and
    kept on purpose) is not ours and is left out."""
    root = Path(tempfile.gettempdir())
    own = root / "depth-tools"
    mine = [n for n in os.listdir(root) if not n.startswith("torchinductor_")]
    return len(mine) + (len(os.listdir(own)) if own.is_dir() else 0)


def soak(name: str, count: int, one: Callable[[int], None]) -> dict:
    """Run `one(i)` `count` times; RSS after the warm-up against the end, fds and temp files against the start."""
    fds, temps = open_fds(), temp_entries()
    start, warm, peak = time.perf_counter(), None, 0.0
    for i in range(count):
        one(i)
        rss = rss_mb()
        peak = max(peak, rss)
        if i + 1 == min(WARM_UP, count):
            warm = rss
    end = rss_mb()
    return {"run": name, "count": count, "seconds": time.perf_counter() - start, "rss_warm": warm, "rss_end": end,
            "rss_peak": peak, "growth": end - (warm or end), "fds": (fds, open_fds()), "temps": (temps, temp_entries())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True, help="the MiDaS checkpoint (a random-weight one will do)")
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--conversions", type=int, default=2000)
    parser.add_argument("--resolution", type=int, default=64)
    args = parser.parse_args(argv)
    # a private temporary folder: other processes' files in /tmp must not count as ours
    tempfile.tempdir = tempfile.mkdtemp(prefix="depth-tools-soak-")

    rows = []
    with tempfile.TemporaryDirectory(prefix="soak-") as folder_name:
        folder = Path(folder_name)
        rng = np.random.default_rng(0)
        images = []
        for i, (h, w) in enumerate([(48, 64), (72, 56)]):  # alternating sizes: two network shapes
            images.append(folder / f"photo{i}.png")
            cv2.imwrite(str(images[-1]), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        extra = {"weights": args.weights, "resolution": args.resolution, "device": "cpu", "precision": "fp32",
                 "normal": True}
        out = folder / "out"

        def midas_call(i: int) -> None:
            result = run_job(Job(source=images[i % 2], input=ImageInput(**extra), mask=True, output_dir=out))
            if not result.ok:
                raise SystemExit(f"MiDaS call {i} failed: {result.error}")

        renders = [folder / f"render{i}.exr" for i in range(2)]
        write_depth(renders[0], synthetic_scene(256, 192), channel="Y")
        write_depth(renders[1], synthetic_scene(192, 256), channel="Z", half=True)
        options = DepthOptions(compress=True, noise=True)

        def conversion(i: int) -> None:
            result = run_job(Job(source=renders[i % 2], options=options, mask=True, want_histogram=True,
                                 output_dir=out))
            if not result.ok:
                raise SystemExit(f"EXR conversion {i} failed: {result.error}")

        rows.append(soak(f"MiDaS (CLI core, res {args.resolution})", args.calls, midas_call))
        rows.append(soak("EXR conversions", args.conversions, conversion))

    print(f"| run | calls | s | RSS after {WARM_UP} (MB) | RSS at end | peak | growth (MB) | fds start→end "
          "| temp files start→end |")
    print("|---|---|---|---|---|---|---|---|---|")
    broken = []
    for r in rows:
        print(f"| {r['run']} | {r['count']} | {r['seconds']:.1f} | {r['rss_warm']:.1f} | {r['rss_end']:.1f} | "
              f"{r['rss_peak']:.1f} | {r['growth']:+.1f} | {r['fds'][0]}→{r['fds'][1]} | "
              f"{r['temps'][0]}→{r['temps'][1]} |")
        if r["growth"] >= MAX_GROWTH_MB:
            broken.append(f"{r['run']}: RSS grew {r['growth']:.1f} MB after the warm-up (bound {MAX_GROWTH_MB})")
        if r["fds"][1] != r["fds"][0]:
            broken.append(f"{r['run']}: open file descriptors {r['fds'][0]} -> {r['fds'][1]}")
        if r["temps"][1] != r["temps"][0]:
            broken.append(f"{r['run']}: temporary files {r['temps'][0]} -> {r['temps'][1]}")
    for line in broken:
        print(f"FAIL {line}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
