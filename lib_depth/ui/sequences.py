"""What both sub-tabs' "as one sequence" modes share, without gradio: where the frames come from
(uploads linked into one folder, or a folder or pattern on the server), what a run did (counted
frame by frame, with progress and Interrupt between two frames), and the zip of the PNGs written.

The EXR renders (`exr_sequence`) and the photo or video frames (`midas_sequence`) differ in how a
frame becomes a depth; everything around that is here once.
"""

from __future__ import annotations

import os
import shutil
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..depth.errors import DepthError
from ..depth.exr import EXR_SUFFIX
from ..depth.frames import FrameList, expand_frames
from ..depth.sequence import FrameResult

ZIP_NAME = "depth_maps.zip"

#: (frames done, of how many, "about 12 s left"): what a progress bar is told after each frame.
Report = Callable[[int, int, str], None]


class Interrupted(Exception):
    """Raised between two frames when the user pressed Interrupt: the frames written stay complete."""


def link_uploads(paths: Sequence[str], folder: Path, suffixes: tuple[str, ...] = (EXR_SUFFIX,)) -> FrameList:
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
    return expand_frames([folder], suffixes)


def server_path(spec: str) -> Path:
    """A folder, glob, frame pattern or file named on the server; DepthError for an empty box."""
    text = spec.strip().strip('"')
    if not text:
        raise DepthError("name a folder (or a pattern such as render_####.exr) on the server")
    return Path(os.path.expanduser(text))


def server_frames(spec: str, suffixes: tuple[str, ...] = (EXR_SUFFIX,)) -> FrameList:
    """A folder, glob or frame pattern (`render_####.exr`) on the server, as the command line takes it."""
    return expand_frames([server_path(spec)], suffixes)


@dataclass
class SequenceResult:
    """What one "Make depth maps" of a sequence did."""

    written: list[str] = field(default_factory=list)  # PNGs written (or found up to date)
    converted: int = 0
    skipped: int = 0  # up to date in the output folder, left as they were
    errors: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)
    interrupted: bool = False
    estimated: int | None = None  # photo frames run through the model this time (None: not known, or EXR)

    @property
    def done(self) -> int:
        return self.converted + self.skipped

    def record(self, frame: FrameResult) -> None:
        """One frame's result (written, up to date, or failed) counted in."""
        if frame.ok:
            self.written.extend(frame.outputs)
            self.skipped += frame.skipped
            self.converted += not frame.skipped
        else:
            self.errors.append(frame.error or "failed")


def eta(done: int, total: int, elapsed: float) -> str:
    """"about 12 s left" from the frames done so far (nothing to say before the first one)."""
    if done <= 0 or done >= total:
        return ""
    left = elapsed / done * (total - done)
    return f"about {left:.0f} s left" if left < 120 else f"about {left / 60:.0f} min left"


@dataclass
class Steps:
    """`total` frames, counted one by one: the progress bar hears of each, and Interrupt is asked
    between two (never after the last: a finished run is not an interrupted one)."""

    total: int
    progress: Report | None = None
    interrupted: Callable[[], bool] = lambda: False
    count: int = 0
    start: float = field(default_factory=time.monotonic)

    def begin(self) -> Steps:
        if self.progress is not None:
            self.progress(0, self.total, "")
        return self

    def step(self) -> None:
        """One more frame done; Interrupted when the user asked to stop."""
        self.count += 1
        if self.progress is not None:
            self.progress(self.count, self.total, eta(self.count, self.total, time.monotonic() - self.start))
        if self.count < self.total and self.interrupted():
            raise Interrupted


def counted(result: SequenceResult, steps: Steps) -> Callable[[FrameResult], None]:
    """The `on_result` of the sequence core: each frame's result recorded, then one step."""

    def on_result(frame: FrameResult) -> None:
        result.record(frame)
        steps.step()

    return on_result


def zip_written(result: SequenceResult, output_dir: Path) -> None:
    """One zip of every PNG written, offered as the run's download."""
    if not result.written:
        return
    archive = output_dir / ZIP_NAME
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:  # PNGs are compressed already
        for written in result.written:
            zf.write(written, Path(written).name)
    result.downloads = [str(archive)]
