"""Image frames (PNG/JPEG/WebP) as a sequence source: MiDaS once per frame, aligned in frame order.

Why a preparation step. The EXR passes (scan, count, convert in `depth.sequence`) read each frame
up to three times, in any process; a MiDaS frame's depth, though, depends on its predecessor's
(`align`), and estimating it three times would triple the GPU time. So `prepare_images` estimates
each frame once, in order, in this process, aligns it, and stores its depth (float32 `.npy`, NaN =
background) in a folder under the output folder's `.depth-tools/`, keyed by every frame's stamp and
the MiDaS settings. The shared-mapping pipeline then runs unchanged, reading those depths through
`SequenceJob.reader`, with `--jobs` as for EXR. A rerun reuses the stored depths (resume: a frame
already aligned is not estimated again).

Limits: an image sequence is aligned in one process, in order (the chain runs through every frame),
so it cannot be split into farm chunks (`--scan`/`--levels`); the stored depths take 4 bytes a pixel
per frame until that folder is deleted.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..depth import provenance
from ..depth.errors import DepthError
from ..depth.frames import Frame
from ..depth.pipeline import SourceDepth
from ..depth.sequence import FrameResult, SequenceJob, guarded
from .align import Aligner
from .source import ImageSettings, read_image

READER = "lib_depth.midas.image_sequence:load_aligned"
#: the ImageSettings that change the estimated depth (not the normal map's `a`, nor `download`)
DEPTH_SETTINGS = ("resolution", "bg_threshold", "weights", "device", "precision")

Estimate = Callable[[Frame], np.ndarray]


@dataclass
class Prepared:
    """The job that reads the aligned depths, the frames that have one, and those that failed."""

    job: SequenceJob
    frames: list[Frame]
    failed: list[FrameResult] = field(default_factory=list)
    estimated: int = 0  # frames run through the network this time (the others were stored already)
    resets: int = 0  # frames that could not be fitted to their predecessor (own normalisation)


def _settings(job: SequenceJob) -> ImageSettings:
    settings = ImageSettings.from_extra(job.extra)
    if settings.normal:
        raise DepthError("--normal is not available for sequences yet: convert the frames without --sequence")
    return settings


def chain_key(frames: list[Frame], settings: ImageSettings) -> str:
    """What every aligned depth depends on: all the frames (the chain) and the MiDaS settings."""
    stamps = []
    for f in frames:
        try:
            stamps.append(asdict(provenance.InputStamp.of(f.path)))
        except OSError:
            stamps.append({"path": str(f.path), "missing": True})
    chosen = {k: getattr(settings, k) for k in DEPTH_SETTINGS}
    return provenance.settings_digest({"frames": stamps, "midas": chosen, "align": 1})


def network_estimate(settings: ImageSettings) -> Estimate:
    """Frame -> raw MiDaS nearness with the per-process cached estimator (loaded on first frame)."""
    from .estimator import get_estimator
    from .settings import MidasSettings

    def estimate(frame: Frame) -> np.ndarray:
        image = read_image(frame.path)
        estimator = get_estimator(MidasSettings(weights=settings.weights, allow_download=settings.download,
                                                device=settings.device, precision=settings.precision))
        return estimator(image, settings.resolution)

    return estimate


def _store(path: Path, depth: np.ndarray) -> None:
    partial = path.with_name(path.name + ".partial.npy")
    np.save(partial, depth)
    os.replace(partial, path)


def prepare_images(frames: list[Frame], job: SequenceJob, estimate: Estimate | None = None,
                   on_failed: Callable[[FrameResult], None] | None = None) -> Prepared:
    """Estimate and align the frames in order; the job the sequence pipeline then runs them with.

    A frame that cannot be read or estimated is reported (`on_failed`) and left out; the next one
    is aligned to the last good frame. `estimate` replaces the network (tests)."""
    settings = _settings(job)
    estimate = estimate or network_estimate(settings)
    key = chain_key(frames, settings)
    base = job.output_dir if job.output_dir is not None else (frames[0].path.parent if frames else Path("."))
    folder = base / provenance.FOLDER / f"midas-{key[:20]}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DepthError(f"cannot create {folder} ({exc.strerror})") from None
    aligned_job = replace(job, reader=READER, reader_data=str(folder), extra={"midas-aligned": key})
    prepared = Prepared(aligned_job, [])
    aligner = Aligner(settings.bg_threshold)
    for frame in frames:
        stored = folder / f"{frame.index:06d}.npy"

        def work(frame: Frame = frame, stored: Path = stored) -> FrameResult:
            if stored.is_file() and not job.force:
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

        result = guarded(frame, work)
        if result.ok:
            prepared.frames.append(frame)
        else:
            prepared.failed.append(result)
            if on_failed is not None:
                on_failed(result)
    prepared.resets = aligner.resets
    return prepared


def load_aligned(frame: Frame, job: SequenceJob) -> SourceDepth:
    """`SequenceJob.reader` for prepared image frames: the frame's stored aligned depth."""
    path = Path(job.reader_data) / f"{frame.index:06d}.npy"
    try:
        depth = np.load(path)
    except FileNotFoundError:
        raise DepthError("this frame was not estimated (run the sequence again)", frame.path) from None
    except (OSError, ValueError) as exc:
        raise DepthError(f"its stored depth {path} is damaged ({exc}): run with --force", frame.path) from None
    return SourceDepth(np.ascontiguousarray(depth, dtype=np.float32), None)
