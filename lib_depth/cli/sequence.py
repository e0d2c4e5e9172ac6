"""`python -m lib_depth --sequence ...`: animation frames with one mapping, resumable, in chunks.

Three modes, one function each, all over `lib_depth.depth.sequence`:
- one machine (`--sequence FRAMES`): scans, counts if needed, converts (a rerun resumes);
- a chunk's summary (`--scan FILE`; with `--levels` of the merged range: stage 2 as well), no maps;
- a chunk's maps (`--levels FILE ...`): merges the summaries and converts with that mapping.
Image frames are estimated and aligned first (`images.prepare_images`), then run as one machine.
Exit status as for files: 0 all converted, 1 some frame failed (one line each), 2 usage, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, TextIO

from ..depth import levels
from ..depth.errors import DepthError, internal_error
from ..depth.exr import EXR_SUFFIX
from ..depth.frames import Frame, FrameList, expand_frames
from ..depth.levels import Summary
from ..depth.pipeline import ExrInput
from ..depth.png import write_bytes_atomic
from ..depth.process import DepthOptions
from ..depth.sequence import FrameResult, SequenceJob, SequenceRun, convert_frames, run_sequence, scan_frames
from ..images import ImageInput, prepare_images, video_file
from . import arguments
from .report import print_histogram


def wants_sequence(args: argparse.Namespace) -> bool:
    """A video file is a sequence by itself."""
    return bool(args.sequence or args.scan or args.levels or any(video_file.is_video(f) for f in args.files))


@dataclass(frozen=True, kw_only=True)
class Plan:
    """The typed settings of a sequence run, built (and checked) before any frame is looked at."""

    options: DepthOptions
    exr: ExrInput
    image: ImageInput
    histo: bool  # print the histogram advice

    def job(self, args: argparse.Namespace, images: bool) -> SequenceJob:
        return SequenceJob(options=self.options, input=self.image if images else self.exr,
                           max_pixels=args.max_pixels, mask=args.mask, output_dir=args.output_dir, force=args.force)


def plan(args: argparse.Namespace, options: DepthOptions) -> Plan:
    return Plan(options=options, exr=arguments.exr_input(args), image=arguments.image_input(args),
                histo=arguments.wants_histogram(args))


class Tally:
    """What a run did so far: printed at the end, and after Ctrl-C."""

    def __init__(self, args: argparse.Namespace, out: TextIO) -> None:
        self.args, self.out = args, out
        self.converted = self.skipped = 0
        self.errors: list[str] = []
        self.results: list[FrameResult] = []

    def scanned(self, result: FrameResult) -> None:
        if not result.ok:
            self.error(result.error or "")

    def error(self, text: str) -> None:
        self.errors.append(text)
        sys.stderr.write(f"error: {text}\n")

    def done(self, result: FrameResult) -> None:
        self.results.append(result)
        if not result.ok:
            self.error(result.error or "")
        elif result.skipped:
            self.skipped += 1
        else:
            self.converted += 1
            if not (self.args.quiet or self.args.json):
                for output in result.outputs:
                    self.out.write(f"wrote {output}\n")

    def line(self, frames: int) -> str:
        return (f"sequence: {frames} frames: {self.converted} converted, {self.skipped} already up to date, "
                f"{len(self.errors)} failed")


@dataclass(kw_only=True)
class Run:
    """One sequence run: its arguments, settings, frames and what it did so far."""

    args: argparse.Namespace
    plan: Plan
    listing: FrameList
    images: bool
    tally: Tally
    out: TextIO

    @property
    def frames(self) -> list[Frame]:
        return list(self.listing.frames)

    @property
    def label(self) -> str:
        frames = self.listing.frames
        names = frames[0].path.name if len(frames) == 1 else f"{frames[0].path.name} .. {frames[-1].path.name}"
        return f"sequence of {len(frames)} frames ({names})"

    def histogram(self, summary: Summary, heading: str) -> None:
        """The histogram advice, when asked for (never into the JSON output)."""
        if self.plan.histo and not self.args.json and summary.table is not None:
            print_histogram(summary.histogram(), self.out, heading)


def _merged(paths: list[Path]) -> Summary:
    return levels.merge_all([levels.load(p) for p in paths])


def _video_specs(args: argparse.Namespace) -> list[Path]:
    """The inputs with each video file replaced by its decoded frames (the maps go to `-o`, by default
    `<video>_depth/` beside it); remembers the video's frame rate for `--video-out`."""
    specs: list[Path] = []
    for spec in args.files:
        if not (video_file.is_video(spec) and spec.is_file()):
            specs.append(spec)
            continue
        if args.output_dir is None:
            args.output_dir = spec.with_name(f"{spec.stem}_depth")
        decoded, fps = video_file.decode_frames(spec, args.output_dir)
        args.fps = args.fps or float(fps)
        specs += decoded
    return specs


def _list_frames(args: argparse.Namespace) -> tuple[FrameList, bool]:
    """The frames, and True for a sequence of images; DepthError for a mix, or images in chunks."""
    listing = expand_frames(_video_specs(args), arguments.SUFFIXES)
    kinds = {f.path.suffix.lower() == EXR_SUFFIX for f in listing.frames}
    if len(kinds) > 1:
        first = next(f.path for f in listing.frames if f.path.suffix.lower() != EXR_SUFFIX)
        raise DepthError("a sequence is EXR renders or images, not both", first)
    images = kinds == {False}
    if images and (args.scan is not None or args.levels):
        raise DepthError("image sequences are aligned frame to frame in one process, in order: they cannot be "
                         "split into chunks (--scan, --levels); run --sequence on all the frames")
    return listing, images


def scan_mode(run: Run, job: SequenceJob) -> Summary:
    """`--scan FILE`: the frames' levels summary (stage 2 on the merged range of `--levels`)."""
    args = run.args
    whole = _merged(args.levels) if args.levels else None
    if whole is not None:
        whole.check(run.plan.options.cutoff, need_table=False)
    summary, _ = scan_frames(run.frames, job, args.jobs, whole, run.tally.scanned)
    write_bytes_atomic(args.scan, summary.to_json().encode())
    run.histogram(summary, run.label)
    if not (args.quiet or args.json):
        stage = "stage 2" if summary.table is not None else "stage 1"
        run.out.write(f"wrote {args.scan} ({stage} levels summary of {summary.frames} frames)\n")
    return summary


def levels_mode(run: Run, job: SequenceJob) -> Summary:
    """`--levels FILE...`: convert the frames with the mapping of the merged summaries."""
    summary = _merged(run.args.levels)
    if run.plan.histo and not run.args.json:
        print_histogram(summary.histogram(), run.out, f"{run.label}, mapping of {summary.source}")
    convert_frames(run.frames, job, summary, run.args.jobs, run.tally.done)
    return summary


def one_machine_mode(run: Run, job: SequenceJob) -> Summary | None:
    """`--sequence`: scan, count, convert here (image frames estimated and aligned first)."""
    todo = run.frames
    if run.images:  # image frames that failed their estimate are left out (reported)
        prepared = prepare_images(todo, job, run.plan.image, on_failed=run.tally.done)
        job, todo = prepared.job, prepared.frames

    def scanned(result: SequenceRun) -> None:
        for bad in result.bad:
            run.tally.scanned(bad)
        if result.summary is not None:
            run.histogram(result.summary, run.label)

    return run_sequence(todo, job, run.args.jobs, run.plan.histo or run.args.json, scanned, run.tally.done).summary


def _json_summary(summary: Summary | None) -> dict | None:
    if summary is None:
        return None
    data = {k: v for k, v in summary.as_dict().items() if k != "table"}
    if summary.table is not None:
        data["histogram"] = summary.histogram().as_dict()
    return data


def _json(run: Run, summary: Summary | None) -> dict[str, Any]:
    tally = run.tally
    return {"sequence": {"frames": len(run.listing.frames), "converted": tally.converted, "skipped": tally.skipped,
                         "failed": len(tally.errors), "errors": tally.errors,
                         "gaps": [str(g) for g in run.listing.gaps], "levels": _json_summary(summary)},
            "files": [{"source": str(r.frame.path), "frame": r.frame.number, "outputs": r.outputs,
                       "skipped": r.skipped, "error": r.error} for r in tally.results]}


def _run_mode(run: Run) -> Summary | None:
    job = run.plan.job(run.args, run.images)
    if run.args.scan is not None:
        return scan_mode(run, job)
    if run.args.levels:
        return levels_mode(run, job)
    return one_machine_mode(run, job)


def main_sequence(args: argparse.Namespace, plan: Plan) -> int:
    tally = Tally(args, sys.stdout)
    try:
        listing, images = _list_frames(args)
    except DepthError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    for gap in listing.gaps:
        sys.stderr.write(f"warning: {gap}\n")
    run = Run(args=args, plan=plan, listing=listing, images=images, tally=tally, out=sys.stdout)
    try:
        summary = _run_mode(run)
    except KeyboardInterrupt:
        sys.stderr.write(f"\ninterrupted: {tally.line(len(listing.frames))}; outputs written so far are complete, "
                         "run the same command again to convert the rest\n")
        return 130
    except DepthError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except OSError as exc:
        target = args.scan if args.scan is not None else "the output"
        sys.stderr.write(f"error: {target}: cannot write ({exc.strerror})\n")
        return 1
    except Exception as exc:  # a bug, or a worker process that died: still one line
        sys.stderr.write(f"error: {internal_error(exc)}\n")
        return 1
    if args.json:
        json.dump(_json(run, summary), run.out, indent=2)
        run.out.write("\n")
    elif args.scan is None and not args.quiet:
        run.out.write(tally.line(len(listing.frames)) + "\n")
    if args.video_out is not None and args.scan is None:
        return _video_out(run) or (1 if tally.errors else 0)
    return 1 if tally.errors else 0


def _video_out(run: Run) -> int:
    """`--video-out`: the frames' depth maps, in order, as one video (0, or 1 with one line)."""
    folder = run.args.output_dir
    maps = [(folder or f.path.parent) / f"{f.path.stem}.depth.png" for f in run.frames]  # in frame order
    fps = Fraction(run.args.fps or video_file.DEFAULT_FPS).limit_denominator(1001)
    try:
        count = video_file.write_depth_video([m for m in maps if m.is_file()], run.args.video_out, fps)
    except DepthError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    if not run.args.quiet:
        run.out.write(f"wrote {run.args.video_out} ({count} frames)\n")
    return 0
