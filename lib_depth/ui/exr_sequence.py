"""The EXR tab's "as one sequence" work: frames -> one mapping -> a preview of any frame -> the PNGs.

Everything goes through the command line's sequence core (`depth.sequence`: `scan_frames` for the
levels summary, `Mapping`/`map_frame` for a frame's map, `convert_frames` for the PNGs), so a
sequence made in the tab has the bytes `python -m lib_depth --sequence` writes. Plain values in,
`DepthError`s out, as in `exr.py`; the handlers are in `exr_sequence_events.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..depth.errors import DepthError
from ..depth.exr import read_depth
from ..depth.frames import Frame, FrameList
from ..depth.levels import Summary
from ..depth.normals import NormalOptions
from ..depth.pipeline import ExrInput
from ..depth.process import DepthMap, DepthOptions, scan_depth
from ..depth.sequence import Mapping, SequenceJob, convert_frames, map_frame, scan_frames
from .exr import ExrView, MapControls, channel_choice, downscale
from .sequences import Interrupted, Report, SequenceResult, Steps, counted, zip_written


@dataclass(frozen=True)
class SequenceView(ExrView):
    """A sequence as the tab shows it: the histogram and suggestions of all frames (one levels
    summary) and one frame's preview, mapped with the sequence's range so that moving the frame
    slider shows what the PNGs will be (a still depth keeps its level from frame to frame)."""

    frames: tuple[Frame, ...] = ()
    index: int = 0
    summary: Summary | None = None  # stage 1 + stage 2 (histogram) counted without a cutoff
    bad: tuple[str, ...] = ()  # frames left out of the sequence, one line each
    gaps: tuple[str, ...] = ()
    #: Compress needs the occupied steps for the cutoff in force: counted once per cutoff, kept here.
    tables: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def frame(self) -> Frame:
        return self.frames[self.index]

    @property
    def note(self) -> str:
        return f"frame {self.index + 1} of {len(self.frames)}, one mapping for the whole sequence"

    def job(self, options: DepthOptions, mask: bool = False, output_dir: Path | None = None,
            normals: NormalOptions | None = None) -> SequenceJob:
        """The sequence core's job; `normals` only for the PNGs (scans need no normal map)."""
        assert self.summary is not None
        return SequenceJob(options=options, input=ExrInput(channel=self.summary.channel, normals=normals), mask=mask,
                           output_dir=output_dir)

    def summary_for(self, options: DepthOptions) -> Summary:
        """The summary that maps the frames with these options: compress with a cutoff needs the
        occupied steps counted with that cutoff (a second pass over the frames, once per cutoff)."""
        assert self.summary is not None
        if not options.compress or options.cutoff is None:
            return self.summary
        key = float(options.cutoff)
        if key not in self.tables:
            self.summary.check(key, need_table=False)  # a cutoff that leaves nothing: say so, count nothing
            whole = replace(self.summary, table=None)
            counted, _ = scan_frames(list(self.frames), self.job(options), whole=whole)
            self.tables[key] = replace(self.summary, table=counted.table)
        return self.tables[key]

    def depth_map(self, options: DepthOptions) -> DepthMap:
        mapping = Mapping.of(self.summary_for(options), self.job(options))
        valid = scan_depth(self.preview, options.background_above, self.name, allow_empty=True).valid
        seeded = replace(options, seed=options.seed + self.frame.seed_offset)  # as the PNG's noise
        return map_frame(self.preview, valid, seeded, mapping, self.name)

    def at(self, index: int) -> SequenceView:
        """The same sequence previewing frame `index` (clamped)."""
        index = max(0, min(int(index), len(self.frames) - 1))
        frame = self.frames[index]
        assert self.summary is not None
        exr = read_depth(frame.path, self.summary.channel)
        return replace(self, path=str(frame.path), index=index, preview=downscale(exr.depth))


def load_sequence(listing: FrameList, channel: str | None = None) -> SequenceView:
    """Scan every frame once (stage 1, then stage 2 on the whole range for the histogram) and
    preview the first good one. Frames of another size or channel are left out and listed."""
    frames = list(listing.frames)
    if not frames:
        raise DepthError("no frames")
    job = SequenceJob(options=DepthOptions(), input=ExrInput(channel=channel_choice(channel)))
    stage1, results = scan_frames(frames, job)
    bad = [r.error or "failed" for r in results if not r.ok]
    good = [r.frame for r in results if r.ok]
    if not good:  # the frames' own reason, not "no depth in any frame"
        raise DepthError(bad[0] if len(bad) == 1 else f"none of the {len(bad)} frames can be read; the first: {bad[0]}")
    stage1.check(None, need_table=False)  # no depth in any frame: the message says so
    counted, results = scan_frames(good, job, whole=stage1)
    bad += [r.error or "failed" for r in results if not r.ok]
    good = [r.frame for r in results if r.ok]
    summary = replace(stage1, table=counted.table, source=f"the {len(good)} frames")
    first = good[0]
    exr = read_depth(first.path, summary.channel)
    assert summary.shape is not None
    height, width = summary.shape
    background = 1.0 - summary.valid / max(summary.pixels, 1)
    return SequenceView(
        str(first.path), exr.channel, exr.channels, width, height, downscale(exr.depth), summary.histogram(),
        background, frames=tuple(good), index=0, summary=summary, bad=tuple(bad),
        gaps=tuple(str(g) for g in listing.gaps),
    )


def make_sequence(
    view: SequenceView,
    controls: MapControls,
    output_dir: Path,
    zip_it: bool,
    progress: Report | None = None,
    interrupted: Callable[[], bool] = lambda: False,
) -> SequenceResult:
    """Full-size PNGs of every frame (their normal maps too when asked for) with the sequence's
    mapping (`convert_frames`: the command line's names, atomic writes and resume records), and
    with `zip_it` one zip of them all.
    `interrupted` is asked after every frame; the work then stops, with the frames written so far."""
    options = controls.options()
    summary = view.summary_for(options)
    job = view.job(options, bool(controls.mask), output_dir, controls.normal_options())
    result = SequenceResult()
    steps = Steps(len(view.frames), progress, interrupted).begin()
    try:
        convert_frames(list(view.frames), job, summary, 1, counted(result, steps))
    except Interrupted:
        result.interrupted = True
    if zip_it:
        zip_written(result, output_dir)
    return result
