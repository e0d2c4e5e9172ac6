"""EXR -> depth + mask PNG benchmark: end to end and per stage, median of several runs, peak memory.

    .venv/bin/python bench/bench_exr.py [--runs 7] [--sizes 1920x1080 4096x4096]

Prints tables (markdown). Inputs are synthetic renders (lib_depth.depth.sample) written as float32 ZIP
EXRs in a temporary folder. The targets of issue 2 are checked on the 4096x4096 row, and issue 17's:
what a normal map (`normals.normal_map`) adds to the depth map, as a ratio measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from lib_depth.depth import process  # noqa: E402
from lib_depth.depth.exr import read_depth, write_depth  # noqa: E402
from lib_depth.depth.normals import NormalOptions, normal_map  # noqa: E402
from lib_depth.depth.pipeline import ExrInput, Job, convert  # noqa: E402
from lib_depth.depth.png import encode_png, write_bytes_atomic  # noqa: E402
from lib_depth.depth.process import DepthOptions, histogram, make_depth_map  # noqa: E402
from lib_depth.depth.sample import synthetic_scene  # noqa: E402

CUTOFF = 340.0  # between the second subject and the wall of the synthetic scene
MAIN = DepthOptions(cutoff=CUTOFF, compress=True)


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up: page cache, lazy imports, allocator
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb(code: str) -> float:
    """Peak resident memory of a fresh interpreter running `code`, in MiB.

    VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (this benchmark,
    which holds big arrays), VmHWM starts afresh with the new program.
    """
    script = f"import sys; sys.path.insert(0, {str(REPO)!r})\n{code}\n" \
             "print(int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) / 1024)"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return float(out.strip().splitlines()[-1])


def stage_table(path: Path, runs: int) -> list[tuple[str, float]]:
    depth = read_depth(path).depth
    scan = process.scan_depth(depth)
    valid, near, far = scan.valid, scan.near, scan.far
    steps = process._levels_from_depth(depth, valid, near, min(far, CUTOFF), process.COMPRESS_STEPS - 1, np.uint16)
    result = make_depth_map(depth, MAIN)
    mask = result.mask_image()
    return [
        ("read EXR", median_seconds(lambda: read_depth(path), runs)),
        ("valid mask + range", median_seconds(lambda: process.scan_depth(depth), runs)),
        ("histogram (20 buckets)", median_seconds(lambda: histogram(depth, scan), runs)),
        ("cutoff + normalise (8-bit)",
         median_seconds(lambda: process._levels_from_depth(depth, valid, near, CUTOFF, 255, np.uint8), runs)),
        ("compress (rank + LUT)", median_seconds(lambda: process._compress(steps, 255, np.uint8), runs)),
        ("mask image", median_seconds(result.mask_image, runs)),
        ("encode depth PNG (8-bit)", median_seconds(lambda: encode_png(result.levels), runs)),
        ("encode mask PNG (1-bit)", median_seconds(lambda: encode_png(mask, bilevel=True), runs)),
    ]


def end_to_end(path: Path, out: Path, runs: int) -> dict[str, float]:
    job = Job(source=path, options=MAIN, mask=True, output_dir=out)
    histo = Job(source=path, want_histogram=True, output_dir=out)
    sixteen = Job(source=path, options=DepthOptions(cutoff=CUTOFF, compress=True, bits=16), mask=True, output_dir=out)
    levels = make_depth_map(read_depth(path).depth, MAIN)
    mask = levels.mask_image()

    def read_and_encode_only() -> None:
        read_depth(path)
        write_bytes_atomic(out / "a.png", encode_png(levels.levels))
        write_bytes_atomic(out / "b.png", encode_png(mask, bilevel=True))

    return {
        "pipeline": median_seconds(lambda: convert(job), runs),
        "read + encode alone": median_seconds(read_and_encode_only, runs),
        "histo": median_seconds(lambda: convert(histo), runs),
        "pipeline 16-bit": median_seconds(lambda: convert(sixteen), runs),
    }


def interleaved_medians(fns: dict[str, Callable[[], object]], runs: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each function, run in turn (a, b, c, a, b, c, ...): on a shared
    machine the load changes from second to second, and a ratio of two medians taken minutes apart
    means little. CPU time (all threads of this process) is the steadier figure under load."""
    for fn in fns.values():
        fn()  # warm-up
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: (statistics.median(wall[name]), statistics.median(cpu[name])) for name in fns}


def normal_timing(path: Path, runs: int) -> dict[str, tuple[float, float]]:
    """Issue 17: what a normal map adds to a depth map, measured interleaved in the same run. Depth
    only = read + map + its PNG; then + the normal map (array); then + its RGB PNG as well."""
    depth = read_depth(path).depth

    def depth_only() -> np.ndarray:
        depth = read_depth(path).depth
        encode_png(make_depth_map(depth, MAIN).levels)
        return depth

    def with_normals() -> None:
        normal_map(depth_only())

    def with_normal_png() -> None:
        encode_png(cv2.cvtColor(normal_map(depth_only()), cv2.COLOR_RGB2BGR))

    out = Path(tempfile.mkdtemp(prefix="bench-normals-"))
    plain = Job(source=path, output_dir=out / "plain")
    normal = Job(source=path, input=ExrInput(normals=NormalOptions()), output_dir=out / "normal")
    return interleaved_medians({
        "depth only": depth_only,
        "depth + normal map": with_normals,
        "depth + normal map + its PNG": with_normal_png,
        "normal map alone": lambda: normal_map(depth),
        "convert: depth PNG (the command line)": lambda: convert(plain),
        "convert: depth + normal PNGs (--normal)": lambda: convert(normal),
    }, runs)


def print_normals(timing: dict[str, tuple[float, float]], size: str) -> None:
    base, base_cpu = timing["depth only"]
    print(f"\n#### normal maps ({size}, issue 17; wall and CPU time, interleaved runs)\n")
    print("| run | ms | normals add (wall) | CPU ms | normals add (CPU) |\n|---|---:|---:|---:|---:|")
    for name, (seconds, cpu) in timing.items():
        if name.startswith("convert"):  # against the command line's own depth-only conversion
            base, base_cpu = timing["convert: depth PNG (the command line)"]
        added = (seconds - base) / base if name.startswith(("depth +", "convert: depth +")) else seconds / base
        added_cpu = (cpu - base_cpu) / base_cpu if name.startswith(("depth +", "convert: depth +")) else cpu / base_cpu
        shown = "" if name in ("depth only", "convert: depth PNG (the command line)") else f"{added:.2f}x"
        shown_cpu = "" if name in ("depth only", "convert: depth PNG (the command line)") else f"{added_cpu:.2f}x"
        print(f"| {name} | {seconds * 1000:.1f} | {shown} | {cpu * 1000:.1f} | {shown_cpu} |")


def cli_seconds(path: Path, out: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lib_depth", str(path), "-o", str(out), "-q", *args],
                   cwd=REPO, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", nargs="+", default=["1920x1080", "4096x4096"])
    parser.add_argument("--json", type=Path, help="also save the figures here")
    args = parser.parse_args()
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        for size in args.sizes:
            w, h = map(int, size.split("x"))
            path = tmpdir / f"scene_{size}.exr"
            write_depth(path, synthetic_scene(w, h), channel="Y")
            out = tmpdir / f"out_{size}"
            out.mkdir()
            stages = stage_table(path, args.runs)
            e2e = end_to_end(path, out, args.runs)
            normals = normal_timing(path, args.runs)
            job_code = (f"from lib_depth.depth.pipeline import Job, convert; "
                        f"from lib_depth.depth.process import DepthOptions; from pathlib import Path; "
                        f"convert(Job(source=Path({str(path)!r}), "
                        f"options=DepthOptions(cutoff={CUTOFF}, compress=True), mask=True, "
                        f"output_dir=Path({str(out)!r})))")
            rss = peak_rss_mb(job_code)
            rss_imports = peak_rss_mb("import lib_depth.depth.pipeline")
            cli = cli_seconds(path, out, "--depth_cutoff", "histo")
            figures[size] = {"stages": dict(stages), "end_to_end": e2e, "peak_rss_mb": rss,
                             "imports_rss_mb": rss_imports, "cli_histo_s": cli,
                             "exr_bytes": path.stat().st_size, "normals": normals}
            print(f"\n### {size} float32 ZIP EXR ({path.stat().st_size / 2**20:.1f} MiB), median of {args.runs}\n")
            print("| stage | ms |\n|---|---:|")
            for name, seconds in stages:
                print(f"| {name} | {seconds * 1000:.1f} |")
            base = e2e["read + encode alone"]
            print("\n| end to end | ms | vs read+encode |\n|---|---:|---:|")
            for name, seconds in e2e.items():
                print(f"| {name} | {seconds * 1000:.1f} | {seconds / base:.2f}x |")
            print(f"| CLI `--depth_cutoff histo` (new process, imports included) | {cli * 1000:.0f} | |")
            print(f"\npeak RSS, cutoff + compress + mask: {rss:.0f} MiB (imports alone: {rss_imports:.0f} MiB)")
            print_normals(normals, size)
    big = figures.get("4096x4096")
    if big:
        e2e = big["end_to_end"]
        ratio = e2e["pipeline"] / e2e["read + encode alone"]
        print("\n### issue 2 targets (4096x4096)\n")
        print("| target | measured | met |\n|---|---:|:-:|")
        print(f"| end to end <= 0.6 s | {e2e['pipeline']:.3f} s | {'yes' if e2e['pipeline'] <= 0.6 else 'NO'} |")
        print(f"| <= 1.5x read + encode | {ratio:.2f}x | {'yes' if ratio <= 1.5 else 'NO'} |")
        print(f"| peak RSS <= 400 MB | {big['peak_rss_mb'] * 1.048576:.0f} MB | "
              f"{'yes' if big['peak_rss_mb'] * 1.048576 <= 400 else 'NO'} |")
        print(f"| histo < 0.5 s (in process) | {e2e['histo']:.3f} s | {'yes' if e2e['histo'] < 0.5 else 'NO'} |")
        normals = big["normals"]
        # the depth is read once: a normal map adds normal_map(depth) (the difference of two medians
        # of the longer runs, printed above, is noisier on a loaded machine)
        added = normals["normal map alone"][0] / normals["depth only"][0]
        met = "yes" if added <= 0.5 else "NO"
        print(f"| issue 17: a normal map adds <= 0.5x of depth only (wall) | {added:.2f}x | {met} |")
        plain = normals["convert: depth PNG (the command line)"][0]
        both = normals["convert: depth + normal PNGs (--normal)"][0]
        met = "yes" if both - plain <= 0.5 * plain else "NO"
        print(f"| issue 17, end to end: --normal adds <= 0.5x of a depth-only conversion | "
              f"{(both - plain) / plain:.2f}x | {met} |")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
