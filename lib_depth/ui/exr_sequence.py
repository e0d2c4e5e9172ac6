"""The EXR tab's "as one sequence" work: frames -> one mapping -> a preview of any frame -> the PNGs.

Everything goes through the command line's sequence core (`depth.sequence`: `scan_frames` for the
levels summary, `Mapping`/`map_frame` for a frame's map, `convert_frames` for the PNGs), so a
sequence made in the tab has the bytes `python -m lib_depth --sequence` writes. Plain values in,
`DepthError`s out, as in `exr.py`; the handlers are in `exr_sequence_events.py`.
"""

from __future__ import annotations

import os
import shutil
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..depth.errors import DepthError
from ..depth.exr import EXR_SUFFIX, read_depth
from ..depth.frames import Frame, FrameList, expand_frames
from ..depth.levels import Summary
from ..depth.normals import NormalOptions
from ..depth.pipeline import ExrInput
from ..depth.process import DepthMap, DepthOptions, scan_depth
from ..depth.sequence import FrameResult, Mapping, SequenceJob, convert_frames, map_frame, scan_frames
from .exr import ExrView, MapControls, channel_choice, downscale

ZIP_NAME = "depth_maps.zip"


class Interrupted(Exception):
    """Raised between two frames when the user pressed Interrupt: the frames written stay complete."""


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


def link_uploads(paths: Sequence[str], folder: Path) -> FrameList:
    """The uploads as frames of one folder: gradio keeps each upload in a folder of its own, so
    natural order (and gaps) must come from the file names, as `expand_frames` reads them there.
    Hard links where the file system allows (no copy of hundreds of MiB), else copies."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in paths:
        source = Path(path)
        target = folder / source.name
        if target.exists():
            raise DepthError("two uploads have this name: one sequence needs one file per frame", source.name)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
    return expand_frames([folder], (EXR_SUFFIX,))


def server_frames(spec: str) -> FrameList:
    """A folder, glob or frame pattern (`render_####.exr`) on the server, as the command line takes it."""
    text = spec.strip().strip('"')
    if not text:
        raise DepthError("name a folder (or a pattern such as render_####.exr) on the server")
    return expand_frames([Path(os.path.expanduser(text))], (EXR_SUFFIX,))


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


@dataclass
class SequenceResult:
    """What one "Make depth maps" of a sequence did."""

    written: list[str] = field(default_factory=list)  # PNGs written (or found up to date)
    converted: int = 0
    skipped: int = 0  # up to date in the output folder, left as they were
    errors: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    interrupted: bool = False


def eta(done: int, total: int, elapsed: float) -> str:
    """"about 12 s left" from the frames done so far (nothing to say before the first one)."""
    if done <= 0 or done >= total:
        return ""
    left = elapsed / done * (total - done)
    return f"about {left:.0f} s left" if left < 120 else f"about {left / 60:.0f} min left"


def make_sequence(
    view: SequenceView,
    controls: MapControls,
    output_dir: Path,
    zip_it: bool,
    progress: Callable[[int, int, str], None] | None = None,
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
    total, start = len(view.frames), time.monotonic()

    def on_result(done: FrameResult) -> None:
        if done.ok:
            result.written.extend(done.outputs)
            result.skipped += done.skipped
            result.converted += not done.skipped
        else:
            result.errors.append(done.error or "failed")
        count = result.converted + result.skipped + len(result.errors)
        if progress is not None:
            progress(count, total, eta(count, total, time.monotonic() - start))
        if count < total and interrupted():
            raise Interrupted

    if progress is not None:
        progress(0, total, "")
    try:
        convert_frames(list(view.frames), job, summary, 1, on_result)
    except Interrupted:
        result.interrupted = True
    if zip_it and result.written:
        archive = output_dir / ZIP_NAME
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
            for written in result.written:
                zf.write(written, Path(written).name)
        result.downloads = [str(archive)]
    return result

