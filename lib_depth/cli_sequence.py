"""`python -m lib_depth --sequence ...`: animation frames with one mapping, resumable, in chunks.

Three ways to run, all over `lib_depth.depth.sequence`:
- one machine: `--sequence FRAMES` scans, counts if needed, converts (a rerun resumes);
- a chunk's summary: `--scan FILE` (with `--levels` of the merged range: stage 2 as well), no maps;
- a chunk's maps: `--levels FILE ...` merges the summaries and converts with that mapping.
Exit status as for files: 0 all converted, 1 some frame failed (one line each), 2 usage, 130 Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from . import IMAGE_SUFFIXES
from .depth import levels
from .depth.errors import DepthError, internal_error
from .depth.exr import EXR_SUFFIX
from .depth.frames import Frame, FrameList, expand_frames
from .depth.levels import Summary
from .depth.pipeline import JobResult
from .depth.png import write_bytes_atomic
from .depth.process import DepthOptions
from .depth.sequence import FrameResult, SequenceJob, SequenceRun, convert_frames, run_sequence, scan_frames


def add_sequence_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "animation sequences",
        "One mapping (range, histogram, compress table) for every frame: a depth that does not move keeps its "
        "level. FILE may be frames, a folder, a glob or a pattern (render_####.exr, render_%%04d.exr).",
    )
    group.add_argument("--sequence", action="store_true", help="treat the inputs as the frames of one animation")
    group.add_argument("--scan", type=Path, metavar="FILE",
                       help="write the levels summary of the frames to FILE (JSON, a few KiB) and no maps")
    group.add_argument("--levels", type=Path, action="append", metavar="FILE",
                       help="merge these summaries (repeatable) and convert the frames with that mapping; "
                       "with --scan: count the frames on the merged range (stage 2)")
    group.add_argument("--force", action="store_true", help="convert every frame again, even those up to date")


def wants_sequence(args: argparse.Namespace) -> bool:
    return bool(args.sequence or args.scan or args.levels)


def sequence_job(args: argparse.Namespace, options: DepthOptions, extra: dict) -> SequenceJob:
    return SequenceJob(options, args.channel, args.view, args.max_pixels, args.mask, args.output_dir,
                       args.force, extra)


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


def _histogram(summary: Summary, out: TextIO, label: str) -> None:
    from .cli import print_histogram

    print_histogram(JobResult(label, histogram=summary.histogram().as_dict()), out, several=True)


def _label(listing: FrameList) -> str:
    frames = listing.frames
    names = frames[0].path.name if len(frames) == 1 else f"{frames[0].path.name} .. {frames[-1].path.name}"
    return f"sequence of {len(frames)} frames ({names})"


def _merged(paths: list[Path]) -> Summary:
    return levels.merge_all([levels.load(p) for p in paths])


def _json_summary(summary: Summary | None, want_histogram: bool) -> dict | None:
    if summary is None:
        return None
    data = {k: v for k, v in summary.as_dict().items() if k != "table"}
    if want_histogram and summary.table is not None:
        data["histogram"] = summary.histogram().as_dict()
    return data


def _image_frames(listing: FrameList, args: argparse.Namespace) -> bool:
    """True for a sequence of images (MiDaS); DepthError for a mix, or images in farm chunks."""
    kinds = {f.path.suffix.lower() == EXR_SUFFIX for f in listing.frames}
    if len(kinds) > 1:
        first = next(f.path for f in listing.frames if f.path.suffix.lower() != EXR_SUFFIX)
        raise DepthError("a sequence is EXR renders or images, not both", first)
    images = kinds == {False}
    if images and (args.scan is not None or args.levels):
        raise DepthError("image sequences are aligned frame to frame in one process, in order: they cannot be "
                         "split into chunks (--scan, --levels); run --sequence on all the frames")
    return images


def _prepare_images(frames: list[Frame], job: SequenceJob, tally: Tally) -> tuple[SequenceJob, list[Frame]]:
    """MiDaS once per frame, in order, aligned to its predecessor (`midas.image_sequence`)."""
    from .midas.image_sequence import prepare_images

    prepared = prepare_images(frames, job, on_failed=tally.done)
    return prepared.job, prepared.frames


def main_sequence(args: argparse.Namespace, options: DepthOptions, extra: dict, histo: bool) -> int:
    out = sys.stdout
    tally = Tally(args, out)
    try:
        listing = expand_frames(list(args.files), (EXR_SUFFIX, *IMAGE_SUFFIXES))
        images = _image_frames(listing, args)
    except DepthError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    for gap in listing.gaps:
        sys.stderr.write(f"warning: {gap}\n")
    # EXR frames take no MiDaS settings: they would only make the outputs look stale
    job = sequence_job(args, options, extra if images else {})
    frames = list(listing.frames)
    label = _label(listing)
    summary: Summary | None = None
    todo = frames  # image frames that failed their estimate are left out (reported)
    try:
        if images:
            job, todo = _prepare_images(frames, job, tally)
        if args.scan is not None:
            whole = _merged(args.levels) if args.levels else None
            if whole is not None:
                whole.check(options.cutoff, need_table=False)
            summary, _ = scan_frames(frames, job, args.jobs, whole, tally.scanned)
            write_bytes_atomic(args.scan, summary.to_json().encode())
            if histo and summary.table is not None and not args.json:
                _histogram(summary, out, label)
            if not (args.quiet or args.json):
                stage = "stage 2" if summary.table is not None else "stage 1"
                out.write(f"wrote {args.scan} ({stage} levels summary of {summary.frames} frames)\n")
        elif args.levels:
            summary = _merged(args.levels)
            if histo and not args.json:
                _histogram(summary, out, f"{label}, mapping of {summary.source}")
            convert_frames(frames, job, summary, args.jobs, tally.done)
        else:
            def scanned(run: SequenceRun) -> None:
                for bad in run.bad:
                    tally.scanned(bad)
                if histo and not args.json and run.summary is not None and run.summary.table is not None:
                    _histogram(run.summary, out, label)

            summary = run_sequence(todo, job, args.jobs, histo or args.json, scanned, tally.done).summary
    except KeyboardInterrupt:
        sys.stderr.write(f"\ninterrupted: {tally.line(len(frames))}; outputs written so far are complete, "
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
        data = {"sequence": {"frames": len(frames), "converted": tally.converted, "skipped": tally.skipped,
                             "failed": len(tally.errors), "errors": tally.errors,
                             "gaps": [str(g) for g in listing.gaps], "levels": _json_summary(summary, True)},
                "files": [{"source": str(r.frame.path), "frame": r.frame.number, "outputs": r.outputs,
                           "skipped": r.skipped, "error": r.error} for r in tally.results]}
        json.dump(data, out, indent=2)
        out.write("\n")
    elif args.scan is None and not args.quiet:
        out.write(tally.line(len(frames)) + "\n")
    return 1 if tally.errors else 0
