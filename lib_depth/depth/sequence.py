"""A sequence of frames -> depth maps that share one mapping (no flicker), resumably, on many cores.

Three passes, each streaming the frames one at a time (never all in memory): scan (each frame's
stage 1 summary: min/max), count (stage 2 on the merged range: histogram and compress steps; only
when compress or a histogram is wanted), convert (the shared mapping applied to every frame).
A pass runs in `jobs` processes; what comes back per frame is a few KiB. The command line, the
WebUI tab and farm chunks call these same functions: `scan_frames` (a chunk's summary),
`convert_frames` (a chunk with a given summary), `run_sequence` (both, on one machine).

Bad frames (missing, damaged, another size or channel) are reported, one line each, and skipped;
the others are converted. Outputs are written atomically with a record of what made them
(`provenance`), so a rerun converts only what is missing or stale.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from . import levels, provenance
from .errors import DepthError, failure_line
from .exr import DEFAULT_MAX_PIXELS
from .frames import Frame
from .levels import Summary
from .pipeline import ExrInput, InputKind, Job, SourceDepth, encode_source_maps, output_paths, output_stem
from .png import write_bytes_atomic
from .process import DepthMap, DepthOptions, Scan, make_depth_map, scan_depth
from .workers import process_pool


@dataclass(frozen=True, kw_only=True)
class SequenceJob:
    """What every frame of a sequence shares; picklable (sent to the worker processes).

    `input` reads a frame: `ExrInput` for renders; a source whose frames depend on each other (image
    frames aligned in order beforehand, `lib_depth.images.image_sequence`) gives a kind that reads
    each frame's prepared depth. Its `fingerprint()` is part of the outputs' digest."""

    options: DepthOptions = field(default_factory=DepthOptions)
    input: InputKind = field(default_factory=ExrInput)
    max_pixels: int = DEFAULT_MAX_PIXELS
    mask: bool = False
    output_dir: Path | None = None
    force: bool = False

    def job(self, frame: Frame) -> Job:
        """The one-file Job of a frame; its noise seed is the sequence's seed + the frame number."""
        options = replace(self.options, seed=self.options.seed + frame.seed_offset)
        return Job(source=frame.path, input=self.input, options=options, mask=self.mask,
                   output_dir=self.output_dir, max_pixels=self.max_pixels)


@dataclass(frozen=True)
class Expect:
    """The channel and size every frame must have, and the frame (or summary) that set them."""

    channel: str | None
    shape: tuple[int, int] | None
    label: str

    def check(self, channel: str | None, shape: tuple[int, int], path: Path) -> None:
        if self.shape is not None and shape != self.shape:
            raise DepthError(f"differently sized frame: {shape[1]} x {shape[0]}, the sequence is "
                             f"{self.shape[1]} x {self.shape[0]} ({self.label})", path)
        if self.channel is not None and channel != self.channel:
            raise DepthError(f"depth channel {channel!r} differs from {self.channel!r} of {self.label}: "
                             "choose one with --channel", path)


@dataclass
class FrameResult:
    frame: Frame
    summary: Summary | None = None  # scan: the frame's own summary
    outputs: list[str] = field(default_factory=list)
    skipped: bool = False  # convert: up to date, left as it was
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def guarded(frame: Frame, work: Callable[[], FrameResult]) -> FrameResult:
    """Every failure of one frame becomes its one-line result; the sequence goes on."""
    try:
        return work()
    except Exception as exc:  # MemoryError and our bugs included: one line each
        return FrameResult(frame, error=failure_line(exc, frame.path, "frame"))


def _read(frame: Frame, job: SequenceJob, expect: Expect | None) -> tuple[SourceDepth, Scan]:
    source = job.input.load(frame.path, max_pixels=job.max_pixels)
    depth = np.ascontiguousarray(source.depth, dtype=np.float32)
    if expect is not None:
        expect.check(source.channel, (int(depth.shape[0]), int(depth.shape[1])), frame.path)
    scan = scan_depth(depth, job.options.background_above, str(frame.path), allow_empty=True)
    return replace(source, depth=depth), scan


def scan_frame(
    frame: Frame, job: SequenceJob, whole: Summary | None = None, expect: Expect | None = None
) -> FrameResult:
    """The frame's stage 1 summary; with `whole` (the merged range), its stage 2 table as well."""
    def work() -> FrameResult:
        source, scan = _read(frame, job, expect)
        depth, channel = source.depth, source.channel
        summary = levels.frame_summary(depth, channel, scan, job.options.background_above, str(frame.path))
        if whole is not None:
            summary = replace(summary, table=levels.frame_table(depth, scan.valid, whole, job.options.cutoff))
        return FrameResult(frame, summary)
    return guarded(frame, work)


@dataclass(frozen=True)
class Mapping:
    """The shared mapping: the sequence's range and (compress) its occupied steps, with a digest of
    everything that decides a frame's bytes besides the frame itself."""

    near: float
    far: float
    occupied: np.ndarray | None
    expect: Expect
    digest: str

    @classmethod
    def of(cls, summary: Summary, job: SequenceJob) -> Mapping:
        summary.check(job.options.cutoff, need_table=job.options.compress)
        table = summary.table if job.options.compress else None
        occupied = None if table is None else table.occupied.copy()
        if occupied is not None:
            occupied[0] = True  # the far level is always there: the farthest frame has it
        settings = {
            "near": summary.near, "far": summary.far, "channel": summary.channel,
            "input": job.input.fingerprint(), "outputs": job.input.extra_outputs(),
            "options": asdict(replace(job.options, seed=0)), "mask": job.mask,
            "occupied": None if occupied is None else provenance.settings_digest({"b": np.packbits(occupied).tolist()}),
        }
        expect = Expect(summary.channel, summary.shape, summary.source or "the levels summary")
        return cls(summary.near, summary.far, occupied, expect, provenance.settings_digest(settings))


def map_frame(depth: np.ndarray, valid: np.ndarray, options: DepthOptions, mapping: Mapping,
              path: str | None = None) -> DepthMap:
    """One frame's depth map with the shared mapping (`options` carry this frame's noise seed)."""
    return make_depth_map(depth, options, path, Scan(valid, mapping.near, mapping.far), mapping.occupied)


def convert_frame(frame: Frame, job: SequenceJob, mapping: Mapping) -> FrameResult:
    """Write the frame's PNGs with the shared mapping, unless its record says they are up to date."""
    def work() -> FrameResult:
        one = job.job(frame)
        paths = output_paths(one)
        folder = paths["depth"].parent
        record = provenance.record_path(folder, output_stem(frame.path))
        digest = provenance.settings_digest({"mapping": mapping.digest, "seed": one.options.seed})
        if not frame.path.is_file():
            raise DepthError("file not found", frame.path)
        stamp = provenance.InputStamp.of(frame.path)
        if not job.force and provenance.is_up_to_date(record, stamp, digest, paths):
            return FrameResult(frame, outputs=[str(p) for p in paths.values()], skipped=True)
        source, scan = _read(frame, job, mapping.expect)
        depth_map = map_frame(source.depth, scan.valid, one.options, mapping, str(frame.path))
        encoded = encode_source_maps(source, scan, depth_map, one.options, job.mask)
        del source, depth_map
        try:
            folder.mkdir(parents=True, exist_ok=True)
            provenance.forget(record)
            for name, data in encoded.items():
                write_bytes_atomic(paths[name], data)
            provenance.write_record(record, stamp, digest, paths)
        except OSError as exc:
            raise DepthError(f"cannot write to {folder} ({exc.strerror})", frame.path) from None
        return FrameResult(frame, outputs=[str(p) for p in paths.values()])
    return guarded(frame, work)


def each_frame(
    fn: Callable[..., FrameResult], frames: Iterable[Frame], jobs: int, *args: object
) -> Iterator[FrameResult]:
    """fn(frame, *args) for every frame, in order; in `jobs` processes when more than one."""
    frames = list(frames)
    if jobs <= 1 or len(frames) <= 1:
        for frame in frames:
            yield fn(frame, *args)
        return
    pool = process_pool(min(jobs, len(frames)), ignore_interrupts=True)
    try:
        pending = collections.deque(pool.submit(fn, frame, *args) for frame in frames)
        while pending:  # popped as consumed: a done future's result is not kept to the end
            yield pending.popleft().result()
    finally:  # also on Ctrl-C or a consumer that stops: drop what has not started
        pool.shutdown(wait=True, cancel_futures=True)


def _reference(results: list[FrameResult]) -> Expect | None:
    """The channel and size most frames have (ties: the earliest), and its first frame."""
    good = [r for r in results if r.ok and r.summary is not None]
    if not good:
        return None
    kinds = collections.Counter((r.summary.channel, r.summary.shape) for r in good)
    (channel, shape), _ = kinds.most_common(1)[0]
    first = next(r for r in good if (r.summary.channel, r.summary.shape) == (channel, shape))
    return Expect(channel, shape, first.frame.path.name)


def scan_frames(frames: Iterable[Frame], job: SequenceJob, jobs: int = 1, whole: Summary | None = None,
                on_result: Callable[[FrameResult], None] | None = None) -> tuple[Summary, list[FrameResult]]:
    """The merged summary of the frames (stage 1; with `whole`, stage 2 on its range too), and each
    frame's result: frames of another channel or size than most are errors, left out of the summary.

    Stage 1 results are small, and all are needed to know what most frames are; stage 2 is checked
    against `whole` as it streams in, and each frame's table (64 KiB) is merged and dropped, so
    memory does not grow with the number of frames."""
    expect = None if whole is None else Expect(whole.channel, whole.shape, whole.source or "the levels summary")
    results: Iterable[FrameResult] = each_frame(scan_frame, frames, jobs, job, whole, expect)
    if expect is None:
        results = list(results)
        reference = _reference(results)
    else:
        reference = expect
    merged = levels.empty(None, None, job.options.background_above)
    done = []
    for r in results:
        if r.ok and r.summary is not None and reference is not None:
            try:
                reference.check(r.summary.channel, r.summary.shape or (0, 0), r.frame.path)
                merged = levels.merge(merged, replace(r.summary, source=""))
            except DepthError as exc:
                r.error, r.summary = str(exc), None
        if r.summary is not None and r.summary.table is not None:
            r.summary = replace(r.summary, table=None)
        if on_result is not None:
            on_result(r)
        done.append(r)
    return merged, done


def convert_frames(frames: Iterable[Frame], job: SequenceJob, summary: Summary, jobs: int = 1,
                   on_result: Callable[[FrameResult], None] | None = None) -> list[FrameResult]:
    """Convert the frames with the mapping of `summary` (raises DepthError if it cannot map them)."""
    mapping = Mapping.of(summary, job)
    done = []
    for result in each_frame(convert_frame, frames, jobs, job, mapping):
        done.append(result)
        if on_result is not None:
            on_result(result)
    return done


def cache_path(frames: list[Frame], job: SequenceJob, with_table: bool) -> Path | None:
    """Where a one-machine run keeps the whole sequence's summary, keyed by every frame's input
    stamp and the settings the summary depends on: a rerun (resume) scans nothing again."""
    try:
        stamps = [asdict(provenance.InputStamp.of(f.path)) for f in frames]
    except OSError:
        return None
    key = provenance.settings_digest({"frames": stamps, "input": job.input.fingerprint(),
                                      "background_above": job.options.background_above,
                                      "cutoff": job.options.cutoff if with_table else None, "table": with_table})
    folder = job.output_dir if job.output_dir is not None else frames[0].path.parent
    return folder / provenance.FOLDER / f"sequence-{key[:20]}.levels.json"


@dataclass
class SequenceRun:
    summary: Summary | None = None
    bad: list[FrameResult] = field(default_factory=list)  # frames that failed a scan
    converted: list[FrameResult] = field(default_factory=list)


def run_sequence(frames: list[Frame], job: SequenceJob, jobs: int = 1, want_table: bool = False,
                 on_scanned: Callable[[SequenceRun], None] | None = None,
                 on_result: Callable[[FrameResult], None] | None = None) -> SequenceRun:
    """One machine: scan, count (when compress or `want_table`), convert. `on_scanned` sees the
    summary (e.g. to print the histogram) before any frame is converted."""
    run = SequenceRun()
    with_table = want_table or job.options.compress
    cache = None if not frames else cache_path(frames, job, with_table)
    summary = None
    if cache is not None and cache.is_file() and not job.force:
        try:
            summary = levels.load(cache)
        except DepthError:
            summary = None
    if summary is None:
        summary, results = scan_frames(frames, job, jobs)
        run.bad = [r for r in results if not r.ok]
        if with_table and summary.has_depth:
            table, results = scan_frames([r.frame for r in results if r.ok], job, jobs, whole=summary)
            run.bad += [r for r in results if not r.ok]
            summary = replace(summary, table=table.table) if table.table is not None else summary
        if cache is not None and summary.has_depth and not run.bad:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(cache, summary.to_json().encode())
            except OSError:
                pass  # only a shortcut for the next run; the outputs report their own write errors
    run.summary = replace(summary, source=summary.source or f"the {summary.frames} frames")
    if on_scanned is not None:
        on_scanned(run)
    failed = {r.frame.path for r in run.bad}
    run.converted = convert_frames([f for f in frames if f.path not in failed], job, run.summary, jobs, on_result)
    return run


def summarise_depths(depths: list[np.ndarray], channel: str | None, job: SequenceJob,
                     want_table: bool = False) -> tuple[Summary, list[Scan]]:
    """The summary `run_sequence` makes of its frames, for frames a host already holds in memory
    (ComfyUI's nodes pass depths between them, not files), and each frame's scan for `map_frame`.

    The same stages as `scan_frames`: each frame's stage 1 merged, then (compress, or a histogram
    wanted) stage 2 counted on the merged range; so the maps are the command line's bytes."""
    background = job.options.background_above
    scans = [scan_depth(d, background, allow_empty=True) for d in depths]
    merged = levels.empty(None, None, background)
    for depth, scan in zip(depths, scans, strict=True):
        merged = levels.merge(merged, levels.frame_summary(depth, channel, scan, background))
    if (want_table or job.options.compress) and merged.has_depth:
        counted = levels.empty(None, None, background)
        for depth, scan in zip(depths, scans, strict=True):
            table = levels.frame_table(depth, scan.valid, merged, job.options.cutoff)
            counted = levels.merge(counted, replace(levels.frame_summary(depth, channel, scan, background),
                                                    table=table))
        merged = replace(merged, table=counted.table)
    return replace(merged, source=f"the {len(depths)} frames"), scans
