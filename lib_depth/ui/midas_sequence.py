"""The Image tab's "as one sequence" work: photo frames or one video -> the chosen model -> one
mapping for every frame -> the PNGs.

Through the command line's sequence core, so the PNGs are the bytes `python -m lib_depth --sequence
FRAMES --model ...` writes: `images.prepare_images` estimates each frame once, in order (a picture
model aligned frame to frame; Video Depth Anything all frames in one stream) and stores the depths
under the output folder's `.depth-tools/`, where a rerun finds them; `depth.sequence.run_sequence`
then maps them with one mapping (an output already up to date is skipped). A video is decoded into
numbered PNGs first, as the command line does (`images.video_file`). Plain values in, `DepthError`s
out; the handlers are in `midas_sequence_events.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..depth.errors import DepthError
from ..depth.frames import Frame, FrameList, expand_frames
from ..depth.process import DepthOptions
from ..depth.sequence import SequenceJob, run_sequence
from ..images import IMAGE_SUFFIXES, ImageInput, prepare_images, registry, video_file
from .midas import MidasControls, load, model_label, model_settings
from .sequences import Interrupted, Report, SequenceResult, Steps, counted, link_uploads, server_path, zip_written

#: What the upload box takes: picture frames, or one video file.
UPLOAD_SUFFIXES = (*IMAGE_SUFFIXES, *video_file.VIDEO_SUFFIXES)
#: One picture asked of a sequence model: what to do instead, in the tab's words.
SINGLE_PICTURE = ("{label} estimates sequences, not one picture: tick \u201cAs one sequence (video or frames)\u201d "
                  "and upload the frames or a video, or choose Depth Anything V2 for a single picture.")


def single_picture_message(model: str) -> str | None:
    """Why `model` cannot estimate one picture (None: it can)."""
    return SINGLE_PICTURE.format(label=model_label(model)) if registry.entry(model).video else None


def _video_frames(video: Path, output_dir: Path) -> FrameList:
    """A video's frames decoded into the output folder's `.depth-tools/`, as `-o` has them on the
    command line (a rerun finds them decoded)."""
    decoded, _ = video_file.decode_frames(video, output_dir)
    return expand_frames(decoded, IMAGE_SUFFIXES)


def upload_frames(paths: list[str], output_dir: Path, folder: Path) -> FrameList:
    """The uploads as one sequence: picture frames linked into `folder`, or one video decoded."""
    videos = [Path(p) for p in paths if video_file.is_video(Path(p))]
    if videos and len(paths) > 1:
        raise DepthError("upload one video, or the frames as pictures, not several files with a video", videos[0].name)
    if videos:
        return _video_frames(videos[0], output_dir)
    return link_uploads(paths, folder, IMAGE_SUFFIXES)


def server_sequence(spec: str, output_dir: Path) -> FrameList:
    """Frames named on the server: a folder, glob or frame pattern of pictures, or a video file."""
    path = server_path(spec)
    if video_file.is_video(path) and path.is_file():
        return _video_frames(path, output_dir)
    return expand_frames([path], IMAGE_SUFFIXES)


def cutoff_value(text: object) -> float | None:
    """The cutoff box's text as a number (empty: none). A text box, not a number box: gradio 3's
    number box shows and sends 0 for "nothing", and a cutoff of 0 makes every pixel far."""
    typed = "" if text is None else str(text).strip()
    if not typed:
        return None
    try:
        value = float(typed)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DepthError(f"the cutoff must be a number (leave it empty for no cutoff), not {typed!r}")
    return value


@dataclass(frozen=True, kw_only=True)
class SequenceChoice:
    """What the user chose for the sequence: the model, its resolution, the controls and the cutoff
    (depth 0 = the nearest, 1 = the farthest of the first frame, as on the command line)."""

    model: str
    resolution: int
    controls: MidasControls
    cutoff: float | None = None  # `cutoff_value` of the box

    def options(self) -> DepthOptions:
        return self.controls.options(cutoff=self.cutoff)

    def image_input(self) -> ImageInput:
        """The model's input kind, naming the weights file the tab's settings find (so the outputs'
        records say which file made them, as `--weights FILE` does)."""
        settings = model_settings(self.model)
        found = registry.entry(self.model).find_weights(settings)
        return ImageInput(model=self.model, resolution=int(self.resolution),
                          bg_threshold=float(self.controls.bg_threshold),
                          weights=None if found is None else str(found), device=settings.device,
                          precision=settings.precision)


@dataclass(frozen=True)
class Bars:
    """A run's two passes, each told frame by frame: estimating the depths, then writing the maps."""

    estimating: Report | None = None
    writing: Report | None = None
    interrupted: Callable[[], bool] = lambda: False


def make_image_sequence(frames: list[Frame], choice: SequenceChoice, output_dir: Path, zip_it: bool,
                        bars: Bars | None = None) -> SequenceResult:
    """Every frame's PNGs with one mapping (and with `zip_it` one zip of them all). The model is
    loaded first (WeightsError: a message naming where it looked). Interrupt is asked after every
    frame of both passes; the work then stops, with the depths and the maps written so far."""
    settings = choice.image_input()
    estimator = load(choice.model)  # the tab's own settings (its folders): loaded once, reused below
    job = SequenceJob(options=choice.options(), input=settings, mask=bool(choice.controls.mask),
                      output_dir=output_dir)
    bars = bars or Bars()
    result = SequenceResult()
    steps = Steps(len(frames), bars.estimating, bars.interrupted).begin()
    try:
        prepared = prepare_images(frames, job, settings, on_failed=counted(result, steps),
                                  on_stored=lambda frame: steps.step(), estimator=estimator)
        result.estimated = prepared.estimated
        writing = Steps(len(prepared.frames), bars.writing, bars.interrupted).begin()
        run_sequence(prepared.frames, prepared.job, on_result=counted(result, writing))
    except Interrupted:
        result.interrupted = True
    if zip_it:
        zip_written(result, output_dir)
    return result
