"""`python -m lib_depth`: the seed tool's interface, unchanged, plus the options it lacked.

Exit status: 0 when every file succeeded, 1 when some failed (one line each on stderr, the rest
still written), 2 for usage errors. A user's mistake never prints a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from .cli_sequence import add_sequence_arguments, main_sequence, wants_sequence
from .depth.errors import DepthError, internal_error
from .depth.exr import DEFAULT_MAX_PIXELS
from .depth.pipeline import SOURCES, Job, JobResult, run_job
from .depth.process import DEFAULT_BACKGROUND_ABOVE, DepthOptions
from .depth.workers import process_pool
from .midas.maps import DEFAULT_A, DEFAULT_BG_THRESHOLD, DEFAULT_RESOLUTION

HISTO = "histo"

EPILOG = """\
examples:
  python -m lib_depth render.exr                          render.depth.png beside the input
  python -m lib_depth render.exr --depth_cutoff histo     print where to cut, map unchanged
  python -m lib_depth render.exr --depth_cutoff 280.69 --compress_map --mask
  python -m lib_depth renders/*.exr --bits 16 -o maps/ --jobs 2
  python -m lib_depth --sequence renders/shot_####.exr --compress_map -o maps/   one mapping, resumable

Depth is near = white. Pixels that are NaN, inf or beyond --background-above are background:
they take the far level (black), and the mask marks them black too.
"""


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _cutoff(text: str) -> float | str:
    if text.strip().lower() == HISTO:
        return HISTO
    try:
        return _number(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc}; give a depth in scene units or 'histo'") from None


def _positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def _resolution(text: str) -> int:
    value = _positive_int(text)
    if value < 64:
        raise argparse.ArgumentTypeError(f"must be at least 64, got {text!r}")
    return value


def add_midas_arguments(parser: argparse.ArgumentParser) -> None:
    """Options for image inputs (PNG/JPEG/WebP), which go through MiDaS depth estimation."""
    group = parser.add_argument_group(
        "images (PNG, JPEG, WebP) through MiDaS",
        "MiDaS depth is relative: --depth_cutoff and the histogram use 0 (nearest) .. 1 (farthest).",
    )
    group.add_argument("--resolution", type=_resolution, default=DEFAULT_RESOLUTION, metavar="PX",
                       help="short side the network sees; the map keeps the image's size and shape (default 512)")
    group.add_argument("--bg-threshold", "--bg_threshold", type=_fraction, default=DEFAULT_BG_THRESHOLD, metavar="X",
                       help="normalised nearness below X is background: far level in the depth map, flat in "
                       "the normal map (default 0.1; 0 = ControlNet's depth_midas)")
    group.add_argument("-a", type=_number, default=DEFAULT_A, metavar="A",
                       help="z of the normal map, larger = flatter (default 2*pi, as ControlNet)")
    group.add_argument("--normal", action="store_true", help="also write <stem>.normal.png (ControlNet normal_midas)")
    group.add_argument("--weights", metavar="PATH",
                       help="dpt_hybrid-midas-501f0c75.pt or its folder (default: search ControlNet's, Forge's "
                       "and the Hugging Face folders)")
    group.add_argument("--download", action="store_true", help="download the weights (470 MiB) if none are found")
    group.add_argument("--device", metavar="DEV", help="auto (default: cuda, mps, else cpu), cpu, cuda, cuda:N, mps")
    group.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16"), default="auto",
                       help="auto (default): fp16 on a GPU; on a CPU fp32 or bf16, whichever measures faster")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lib_depth",
        description="Turn float depth passes (OpenEXR renders from Daz Studio, Blender, ...) into "
        "8- or 16-bit depth maps for ControlNet, choosing where the levels go.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = ", ".join(sorted(SOURCES))
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help=f"input files ({kinds}; any case)")
    levels = parser.add_argument_group("where the levels go")
    levels.add_argument(
        "--depth_cutoff", "--depth-cutoff", type=_cutoff, metavar="FLOAT|histo",
        help="clamp depths beyond this (scene units) to the far level; 'histo' prints a 20-bucket "
        "histogram with suggested cuts and leaves the map unchanged",
    )
    levels.add_argument(
        "--compress_map", "--compress-map", action="store_true",
        help="remove empty depth ranges: occupied depths are spread over all levels",
    )
    levels.add_argument("--invert", action="store_true", help="near = black instead of white")
    levels.add_argument("--bits", type=int, choices=(8, 16), default=8, help="PNG bit depth (default 8)")
    levels.add_argument(
        "--background-above", type=_positive_float, default=DEFAULT_BACKGROUND_ABOVE, metavar="X",
        help=f"depths with |d| > X count as background, like NaN and inf (default {DEFAULT_BACKGROUND_ABOVE:g})",
    )
    extras = parser.add_argument_group("extra outputs")
    extras.add_argument("--mask", action="store_true", help="also write <stem>.mask.png: white = subject")
    extras.add_argument("--noise", action="store_true", help="fill the far level with uniform noise")
    extras.add_argument("--seed", type=int, default=0, help="noise seed: same seed, same bytes (default 0)")
    add_sequence_arguments(parser)
    add_midas_arguments(parser)
    io = parser.add_argument_group("input and output")
    io.add_argument(
        "--channel", metavar="NAME", help="EXR channel to read (default: Y, Z, *.Depth.Z, R, or the only one)"
    )
    io.add_argument("--view", metavar="NAME", help="the view of a multi-view (stereo) EXR (default: the first)")
    io.add_argument(
        "--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
        help=f"refuse EXR and image files whose header claims more pixels than N, before decoding "
        f"(default {DEFAULT_MAX_PIXELS} = 2^28)",
    )
    io.add_argument("-o", "--output-dir", type=Path, metavar="DIR", help="write PNGs here instead of beside each input")
    io.add_argument("--json", action="store_true", help="print results (histogram, suggestions, outputs) as JSON")
    io.add_argument("-j", "--jobs", type=_positive_int, default=1, metavar="N", help="files converted in parallel")
    io.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    return parser


def make_options(args: argparse.Namespace) -> tuple[DepthOptions, dict]:
    """The depth options and the source settings (MiDaS) the arguments ask for."""
    histo = args.depth_cutoff == HISTO
    options = DepthOptions(
        cutoff=None if histo else args.depth_cutoff,
        compress=args.compress_map,
        noise=args.noise,
        invert=args.invert,
        bits=args.bits,
        seed=args.seed,
        background_above=args.background_above,
    )
    extra = {
        "resolution": args.resolution, "bg_threshold": args.bg_threshold, "a": args.a, "normal": args.normal,
        "weights": args.weights, "download": args.download, "device": args.device, "precision": args.precision,
    }
    return options, extra


def make_jobs(args: argparse.Namespace) -> list[Job]:
    histo = args.depth_cutoff == HISTO
    options, extra = make_options(args)
    return [
        Job(path, options, args.channel, args.mask, histo or args.json, args.output_dir, extra,
            view=args.view, max_pixels=args.max_pixels)
        for path in args.files
    ]


class Progress:
    """A one-line bar on a terminal; silent when output is piped (logs stay clean)."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.done, self.stream, self.enabled = total, 0, stream, enabled

    def advance(self, label: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 30
        filled = width * self.done // self.total
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {label[-40:]:<40}")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def run_jobs(jobs: Sequence[Job], workers: int) -> Iterator[JobResult]:
    """Results in input order; with several workers, files are converted in parallel processes."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(run_job, jobs)
        return
    with process_pool(min(workers, len(jobs))) as pool:
        yield from pool.map(run_job, jobs)


def print_histogram(result: JobResult, out: TextIO, several: bool) -> None:
    hist = result.histogram
    if several:
        out.write(f"** {result.source}\n")
    out.write("** providing cutting histogram advice, but leaving depthmap unchanged\n")
    for b in hist["buckets"]:
        out.write(f"** - {b['index']:02d} - {b['share'] * 100:.2f}% - {b['lower_edge']}\n")
    if hist["suggestions"]:
        cuts = ", ".join(f"{c:.2f}" for c in hist["suggestions"])
        out.write(f"** suggested cuts (--depth_cutoff): {cuts}\n")
    else:
        out.write("** no empty depth range found: no cut suggested\n")


def report(results: Iterable[JobResult], args: argparse.Namespace, progress: Progress) -> list[JobResult]:
    done: list[JobResult] = []
    several = len(args.files) > 1
    for result in results:
        done.append(result)
        progress.advance(Path(result.source).name)
        if not result.ok:
            sys.stderr.write(f"error: {result.error}\n")
            continue
        if not args.quiet:
            for note in result.notes:
                sys.stderr.write(f"note: {result.source}: {note}\n")
        if args.json or args.quiet:
            continue
        if result.histogram is not None and args.depth_cutoff == HISTO:
            print_histogram(result, sys.stdout, several)
        for output in result.outputs:
            sys.stdout.write(f"wrote {output}\n")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.force and not wants_sequence(args):
        parser.error("--force is for --sequence (a plain run always converts every file)")
    if wants_sequence(args):
        try:
            options, extra = make_options(args)
        except DepthError as exc:
            parser.error(str(exc))
        return main_sequence(args, options, extra, args.depth_cutoff == HISTO)
    try:
        jobs = make_jobs(args)
    except DepthError as exc:
        parser.error(str(exc))
    progress = Progress(len(jobs), sys.stderr, enabled=len(jobs) > 1 and sys.stderr.isatty() and not args.quiet)
    try:
        results = report(run_jobs(jobs, args.jobs), args, progress)
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        return 130
    except Exception as exc:  # a bug outside the per-file guard (a worker process died, ...): still one line
        sys.stderr.write(f"error: {internal_error(exc)}\n")
        return 1
    if args.json:
        json.dump({"files": [vars(r) for r in results]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    failed = sum(not r.ok for r in results)
    if failed and len(results) > 1:
        sys.stderr.write(f"{failed} of {len(results)} files failed\n")
    return 1 if failed else 0

