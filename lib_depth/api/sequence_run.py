"""One sequence job's work, without HTTP: the command line's `--sequence` on one machine, over the
same cores (`video_file.decode_frames`, `images.prepare_images`, `depth.sequence.run_sequence`,
`video_file.write_depth_video`), so a job's PNGs are the bytes `python -m lib_depth --sequence`
writes for the same frames and options, and a rerun skips what is up to date as the CLI's does.

`Progress` is what the job reports while it runs (the status route reads it) and how it hears an
interrupt: asked after every frame estimated or converted, it raises `Interrupted`, so the work
stops between two frames and leaves only complete files (the core writes each atomically).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

from ..depth.errors import DepthError
from ..depth.frames import Frame, FrameList, expand_frames
from ..depth.pipeline import ExrInput
from ..depth.process import DepthOptions
from ..depth.sequence import FrameResult, SequenceJob, SequenceRun, run_sequence
from ..images import ImageInput, prepare_images, registry, video_file
from ..images.registry import ModelSettings
from ..midas import WeightsError
from .models import SequenceOptions
from .sequence_input import FRAME_SUFFIXES, JobFolder, frames_are_images, list_zip_frames
from .work import SettingsFn

VIDEO_NAME = "depth.mp4"


class Interrupted(BaseException):  # not an Exception: no per-frame guard of the core takes it
    """Raised between two frames once the job was asked to stop."""


@dataclass
class Progress:
    """What a running job has done so far, and its stop flag."""

    stage: str = "waiting"
    frames: int = 0
    estimated: int = 0  # image frames through the network this run (the others were stored already)
    converted: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    outputs: dict[int, list[str]] = field(default_factory=dict)  # frame index -> its maps, for the zip's order
    stop: threading.Event = field(default_factory=threading.Event)
    relabel: Callable[[str], str] = str

    @property
    def done(self) -> int:
        return self.converted + self.skipped + len(self.errors)

    def check(self) -> None:
        if self.stop.is_set():
            raise Interrupted

    def record(self, result: FrameResult) -> None:
        """One frame finished (converted, up to date, or failed with its one line)."""
        if not result.ok:
            self.errors.append(self.relabel(result.error or "failed"))
        else:
            self.outputs[result.frame.index] = list(result.outputs)
            self.skipped += result.skipped
            self.converted += not result.skipped
        if self.done < self.frames:
            self.check()

    def maps(self) -> list[Path]:
        return [Path(p) for index in sorted(self.outputs) for p in self.outputs[index]]


def image_input(options: SequenceOptions, settings_fn: SettingsFn) -> tuple[ImageInput, ModelSettings]:
    """The model the frames go through and the host's settings it is loaded with (the same settings,
    hence the same cached network, as the host's own calls; found files verified as there). The file
    is looked up now, so a missing one is a 503 before the job is queued (WeightsError), naming where
    the host looks; the ImageInput records it (what a stored depth depends on)."""
    entry = registry.entry(options.model)  # OptionsError (422) for an unknown model
    settings = settings_fn(entry.name)
    if options.precision:
        settings = replace(settings, precision=options.precision)  # OptionsError for an unknown one
    report = registry.weights_report(entry.name, settings)
    if report.path is None and not report.download:
        raise WeightsError(report.problem)
    image = ImageInput(model=entry.name, resolution=options.resolution, bg_threshold=options.bg_threshold,
                       weights=None if report.path is None else str(report.path), download=report.download,
                       device=settings.device, precision=settings.precision)
    return image, settings


@dataclass(frozen=True, kw_only=True)
class SequenceWork:
    """Everything a job needs, checked before it is queued."""

    folder: JobFolder
    label: str  # the upload's name, for messages
    options: SequenceOptions
    depth: DepthOptions  # the options' mapping (checked: bits, background limit)
    image: ImageInput | None  # None: EXR frames
    model_settings: ModelSettings | None = None  # the host's, for loading the model (with `image`)
    max_pixels: int


def _frames(work: SequenceWork, progress: Progress) -> tuple[FrameList, Fraction | None]:
    """The frames: a zip's (unpacked before the job), or the video's, decoded here (once: reused on a rerun)."""
    if work.folder.is_zip:
        listing, _ = list_zip_frames(work.folder, work.label)
        return listing, None
    progress.stage = "decoding"
    decoded, fps = video_file.decode_frames(work.folder.upload, work.folder.maps)
    listing = expand_frames(decoded, FRAME_SUFFIXES)
    frames_are_images(listing, work.label)
    return listing, fps


def _prepared(work: SequenceWork, frames: list[Frame], job: SequenceJob,
              progress: Progress) -> tuple[SequenceJob, list[Frame]]:
    """Image frames estimated once and aligned (`prepare_images`); the stop flag is heard after every
    frame whose depth is stored (a picture model's, or one of Video Depth Anything's stream)."""
    assert work.image is not None
    progress.stage = "estimating"

    def stored(frame: Frame) -> None:
        progress.estimated += 1
        progress.check()

    estimator = registry.get_estimator(work.image.model, work.model_settings) if work.model_settings else None
    prepared = prepare_images(frames, job, work.image, on_failed=progress.record, on_stored=stored,
                              estimator=estimator)
    progress.estimated = prepared.estimated
    progress.check()
    return prepared.job, prepared.frames


def run_work(work: SequenceWork, progress: Progress) -> None:
    """The whole job: frames -> (estimate, align) -> one mapping -> PNGs (-> depth video). Raises
    DepthError for what stops the whole sequence, Interrupted when asked to stop."""
    listing, fps = _frames(work, progress)
    progress.frames = len(listing.frames)
    progress.gaps = [progress.relabel(str(g)) for g in listing.gaps]
    options = work.options
    job = SequenceJob(options=work.depth,
                      input=work.image if work.image is not None else ExrInput(channel=options.channel),
                      max_pixels=work.max_pixels, mask=options.mask, output_dir=work.folder.maps)
    frames = list(listing.frames)
    if work.image is not None:
        job, frames = _prepared(work, frames, job, progress)

    def scanned(run: SequenceRun) -> None:
        for bad in run.bad:
            progress.record(bad)
        progress.stage = "converting"

    progress.stage = "scanning"
    run_sequence(frames, job, 1, False, scanned, progress.record)
    if options.video_out:
        progress.stage = "video"
        depth_maps = [p for p in progress.maps() if p.name.endswith(".depth.png")]
        rate = Fraction(options.fps or fps or video_file.DEFAULT_FPS).limit_denominator(1001)
        if not depth_maps:
            raise DepthError("no frame was converted: no depth video to make", work.label)
        video_file.write_depth_video(depth_maps, work.folder.root / VIDEO_NAME, rate)
