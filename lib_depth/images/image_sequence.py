"""Image frames (PNG/JPEG/WebP) as a sequence source: the model once per frame, aligned in frame order.

Why a preparation step. The EXR passes (scan, count, convert in `depth.sequence`) read each frame
up to three times, in any process; a MiDaS frame's depth, though, depends on its predecessor's
(`align`), and estimating it three times would triple the GPU time. So `prepare_images` estimates
each frame once, in order, in this process, aligns it, and stores its depth (float32 `.npy`, NaN =
background) in a folder under the output folder's `.depth-tools/`, keyed by every frame's stamp and
the model's settings. The shared-mapping pipeline then runs unchanged, reading those depths through
the job's input kind (`AlignedDepths`), with `--jobs` as for EXR. A rerun reuses the stored depths (resume: a frame
already aligned is not estimated again).

Limits: an image sequence is aligned in one process, in order (the chain runs through every frame),
so it cannot be split into farm chunks (`--scan`/`--levels`); the stored depths take 4 bytes a pixel
per frame until that folder is deleted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..depth import provenance
from ..depth.errors import DepthError
from ..depth.frames import Frame
from ..depth.pipeline import SourceDepth
from ..depth.sequence import FrameResult, SequenceJob, guarded
from . import registry, video_model
from .align import Aligner
from .decode import read_image
from .image_input import ImageInput
from .lookahead import Estimate, lookahead_estimate


@dataclass
class Prepared:
    """The job that reads the aligned depths, the frames that have one, and those that failed."""

    job: SequenceJob
    frames: list[Frame]
    failed: list[FrameResult] = field(default_factory=list)
    estimated: int = 0  # frames run through the network this time (the others were stored already)
    resets: int = 0  # frames that could not be fitted to their predecessor (own normalisation)


@dataclass(frozen=True, kw_only=True)
class AlignedDepths:
    """The input kind of prepared image frames: each frame's stored aligned depth, by its path."""

    folder: str
    key: str  # `chain_key`: what every stored depth depends on

    def stored(self, path: Path) -> Path:
        """A frame's depth file: named by its path, so a job needs no per-frame table."""
        name = hashlib.sha256(str(Path(path).absolute()).encode()).hexdigest()[:24]
        return Path(self.folder) / f"{name}.npy"

    def load(self, path: Path, *, max_pixels: int) -> SourceDepth:
        del max_pixels  # the image was bounded when it was estimated
        stored = self.stored(path)
        try:
            depth = np.load(stored)
        except FileNotFoundError:
            raise DepthError("this frame was not estimated (run the sequence again)", path) from None
        except (OSError, ValueError) as exc:
            raise DepthError(f"its stored depth {stored} is damaged ({exc}): run with --force", path) from None
        return SourceDepth(depth=np.ascontiguousarray(depth, dtype=np.float32))

    def fingerprint(self) -> dict[str, Any]:
        return {"aligned": self.key}

    def extra_outputs(self) -> dict[str, Any]:
        return {}


def _check(settings: ImageInput) -> ImageInput:
    if settings.normal:
        raise DepthError("--normal is not available for sequences yet: convert the frames without --sequence")
    return settings


def chain_key(frames: list[Frame], settings: ImageInput) -> str:
    """What every aligned depth depends on: all the frames (the chain) and the model's settings."""
    stamps = []
    for f in frames:
        try:
            stamps.append(asdict(provenance.InputStamp.of(f.path)))
        except OSError:
            stamps.append({"path": str(f.path), "missing": True})
    return provenance.settings_digest({"frames": stamps, "model": settings.fingerprint(), "align": 2})


def _store(path: Path, depth: np.ndarray) -> None:
    partial = path.with_name(path.name + ".partial.npy")
    np.save(partial, depth)
    os.replace(partial, path)


def prepare_images(frames: list[Frame], job: SequenceJob, settings: ImageInput, estimate: Estimate | None = None,
                   on_failed: Callable[[FrameResult], None] | None = None,
                   on_stored: Callable[[Frame], None] | None = None,
                   estimator: registry.Estimator | None = None) -> Prepared:
    """Estimate and align the frames in order; the job the sequence pipeline then runs them with.

    A frame that cannot be read or estimated is reported (`on_failed`) and left out; the next one
    is aligned to the last good frame. `estimate` replaces the network of a picture model (tests);
    `estimator` is a host's loaded one (its own folders: the same network, not a second copy).
    `on_stored` hears of each frame whose depth is stored (now or by an earlier run): a progress
    bar, and a stop between two frames (what it raises ends the preparation; the depths stored so
    far stay complete)."""
    video = estimate is None and registry.entry(settings.model).video
    if estimate is None:
        _check(settings)
    key = chain_key(frames, settings)
    base = job.output_dir if job.output_dir is not None else (frames[0].path.parent if frames else Path("."))
    folder = base / provenance.FOLDER / f"aligned-{key[:20]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DepthError(f"cannot create {folder} ({exc.strerror})") from None
    aligned = AlignedDepths(folder=str(folder), key=key)
    estimate = estimate or lookahead_estimate(frames, settings,
                                              lambda f: job.force or not aligned.stored(f.path).is_file(),
                                              estimator)
    prepared = Prepared(replace(job, input=aligned), [])
    if video:
        _prepare_video(frames, aligned, job, settings, prepared, on_failed, on_stored, estimator)
        return prepared
    aligner = Aligner(settings.bg_threshold)
    for frame in frames:
        result = guarded(frame, lambda frame=frame: _prepare_frame(frame, aligned.stored(frame.path), job.force,
                                                                    estimate, aligner, prepared))
        if result.ok:
            prepared.frames.append(frame)
            if on_stored is not None:
                on_stored(frame)
        else:
            prepared.failed.append(result)
            if on_failed is not None:
                on_failed(result)
    prepared.resets = aligner.resets
    return prepared


def _prepare_frame(frame: Frame, stored: Path, force: bool, estimate: Estimate, aligner: Aligner,
                   prepared: Prepared) -> FrameResult:
    """One frame aligned to the last good one and stored (or its stored depth taken up again)."""
    if stored.is_file() and not force:
        aligner.resume(np.load(stored))
        return FrameResult(frame)
    nearness = estimate(frame)
    prepared.estimated += 1
    aligned, _ = aligner.add(nearness)
    try:
        _store(stored, aligner.to_depth(aligned))
    except OSError as exc:
        raise DepthError(f"cannot write {stored} ({exc.strerror})", frame.path) from None
    return FrameResult(frame)


def _prepare_video(frames: list[Frame], aligned: AlignedDepths, job: SequenceJob, settings: ImageInput,
                   prepared: Prepared, on_failed: Callable[[FrameResult], None] | None,
                   on_stored: Callable[[Frame], None] | None = None, estimator: Any = None) -> None:
    """All frames through the video network in one stream, each map stored as it comes out (memory
    does not grow with the length). A rerun with every depth stored runs nothing; a frame that cannot
    be read, or has another size than the first, is reported and left out of the stream."""
    if not job.force and all(aligned.stored(f.path).is_file() for f in frames):
        for frame in frames:
            prepared.frames.append(frame)
            if on_stored is not None:
                on_stored(frame)
        return
    size: list[tuple[int, int]] = []

    def read(frame: Frame) -> np.ndarray:
        image = read_image(frame.path)
        size.append(size[0] if size else image.shape[:2])
        if image.shape[:2] != size[0]:
            raise DepthError(f"{image.shape[1]}x{image.shape[0]}, not the first frame's {size[0][1]}x{size[0][0]}",
                             frame.path)
        return image

    def images() -> Iterator[np.ndarray]:
        for frame in frames:
            box: list[np.ndarray] = []
            result = guarded(frame, lambda frame=frame, box=box: (box.append(read(frame)), FrameResult(frame))[1])
            if not result.ok:
                prepared.failed.append(result)
                if on_failed is not None:
                    on_failed(result)
                continue
            prepared.frames.append(frame)
            yield box[0]

    estimator = estimator or registry.get_estimator(settings.model, settings.model_settings())
    to_depth = Aligner(settings.bg_threshold).to_depth
    maps = video_model.aligned_stream(estimator.depths(images(), input_size=int(settings.resolution or 518)))
    for index, nearness in enumerate(maps):
        stored = aligned.stored(prepared.frames[index].path)
        try:
            _store(stored, to_depth(nearness))
        except OSError as exc:
            raise DepthError(f"cannot write {stored} ({exc.strerror})", prepared.frames[index].path) from None
        prepared.estimated += 1
        if on_stored is not None:
            on_stored(prepared.frames[index])
