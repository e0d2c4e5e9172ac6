"""The image sub-tab's work: estimate once with the chosen model, then re-render depth, normal and
mask as controls move.

The model runs only when the image, the model or `resolution` changes; `bg_threshold`, `a` and the
post-processing are cheap functions of the stored nearness. Every model is reached through
`images.registry` (the tab knows their labels, default resolutions and weights, never their
packages); the models import torch only when loaded: importing the tab stays torch-free (gradio 4
check, EXR users).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..depth.errors import DepthError
from ..depth.png import encode_png, write_bytes_atomic
from ..depth.process import make_depth_map
from ..images import registry
from ..images.registry import DEFAULT_MODEL, DownloadProgress, Estimator, WeightsReport
from ..midas import nearness_to_depth, normal_map
from ..midas.geometry import MIN_RESOLUTION
from ..midas.maps import DEFAULT_A, DEFAULT_BG_THRESHOLD, MAX_A
from ..midas.settings import MidasSettings
from . import hosting, status
from .controls import PostControls, control, slider
from .exr import to_display

#: ControlNet's and the ComfyUI node's ranges and defaults for these parameters.
MAX_RESOLUTION = 2048  # the slider's top, as ControlNet's (its bottom and step are each model's)
BG_THRESHOLD = (0.0, 1.0, 0.01, DEFAULT_BG_THRESHOLD)
NORMAL_A = (0.0, round(MAX_A, 2), 0.05, round(DEFAULT_A, 2))
OUTPUT_STEM = "image"
HINT = "Upload a photo or a render without depth, choose the model, then press Estimate depth."

#: The model choice as the dropdown shows it (labels; gradio 3.41 has no (label, value) choices).
MODEL_LABELS = {entry.label: entry.name for entry in registry.ESTIMATORS.values()}
#: The choice in sequence mode: the picture models (aligned frame to frame) and the sequence models.
SEQUENCE_LABELS = {**MODEL_LABELS, **{entry.label: entry.name for entry in registry.SEQUENCE_ESTIMATORS.values()}}


@dataclass(frozen=True, kw_only=True)
class MidasControls(PostControls):
    """Everything after the model: its own thresholds (laid out above the shared controls, and
    re-rendering when a slider is let go) and the same post-processing as the EXR tab."""

    bg_threshold: float = control(
        BG_THRESHOLD[3], slider(BG_THRESHOLD, "bg_threshold", "nearness below this is background"), "release"
    )
    a: float = control(
        NORMAL_A[3], slider(NORMAL_A, "a", "normal map: the z of the normals (smaller = stronger relief)"), "release"
    )


@dataclass(frozen=True)
class MidasMaps:
    levels: np.ndarray  # uint8/uint16 HxW depth map, as written
    normal: np.ndarray  # uint8 HxWx3
    mask: np.ndarray  # uint8 HxW, 255 = subject
    background: float  # share of pixels at the far level

    @property
    def depth_display(self) -> np.ndarray:
        return to_display(self.levels)


@dataclass(frozen=True)
class StandaloneOptions:
    """Set by `python -m lib_depth.ui --weights/--download/--device/--precision`: with no WebUI
    there is no settings page. None leaves the host's value."""

    weights: str | None = None
    allow_download: bool | None = None
    device: str | None = None
    precision: str | None = None


standalone = StandaloneOptions()


def settings() -> MidasSettings:
    """The host's MiDaS settings (WebUI settings, or the command line's defaults), with the launcher's flags."""
    base = hosting.current().midas_settings()
    changes: dict[str, object] = {}
    if standalone.weights:  # a named file or folder is the whole search, as in the WebUI's settings
        changes.update(weights=standalone.weights, search_dirs=())
    for name in ("allow_download", "device", "precision"):
        if getattr(standalone, name) is not None:
            changes[name] = getattr(standalone, name)
    return replace(base, **changes) if changes else base


def model_settings(model: str) -> MidasSettings:
    """`settings()` for one registry model (the tab and the HTTP API serve every model). In the
    WebUI its own rules per model (`TabHost.model_settings`); standalone a weights *file* named on
    the command line is MiDaS's, a folder is searched by each model for its own files."""
    host = hosting.current()
    if model != "midas" and host.model_settings is not None:
        return host.model_settings(model)
    chosen = settings()
    if model == "midas" or chosen.weights is None or Path(chosen.weights).is_dir():
        return chosen
    return replace(chosen, weights=None, search_dirs=host.midas_settings().search_dirs)


def model_name(choice: str | None) -> str:
    """The registry name of a dropdown value (its label; a name is taken too, as the settings store
    it); OptionsError for anything else."""
    return SEQUENCE_LABELS.get(str(choice)) or registry.entry(str(choice)).name


def model_label(model: str) -> str:
    return registry.entry(model).label


def default_model() -> str:
    """The model the tab starts with: the host's setting (the WebUI's "default model for pictures"),
    MiDaS when that names no known model (a setting left by another version must not break the tab)."""
    try:
        return registry.entry(hosting.current().default_model()).name
    except DepthError:
        return DEFAULT_MODEL


def resolution_spec(model: str) -> tuple[int, int, int, int]:
    """(minimum, maximum, step, default) of the resolution slider for `model`: its default, on a grid
    of its own step (Depth Anything's 518 = 37 patches of 14 is no multiple of MiDaS's 64)."""
    entry = registry.entry(model)
    step = entry.resolution_step
    minimum = -(-MIN_RESOLUTION // step) * step
    return minimum, MAX_RESOLUTION // step * step, step, entry.default_resolution


def weights_line(model: str) -> str:
    """The status-styled line beside the model choice: the weights file found (or where it was
    searched and how to get it) and its licence, read from that file (a model's sizes differ)."""
    report: WeightsReport = registry.weights_report(model, model_settings(model))
    licence = f"licence {status.esc(report.licence)}"
    if report.path is not None and not report.problem:
        return status.info([f"Weights {status.code(report.path)}", status.esc(report.what), licence])
    if report.path is not None:
        return status.error(f"Weights {report.path} cannot be used: {report.problem}")
    if report.download:
        return status.info([f"{status.esc(report.what)}: no weights found yet; downloaded on the first "
                            "Estimate (the settings allow it)", licence])
    return status.error(f"{report.what}: weights not found. {report.problem}", [f"licence: {report.licence}"])


@dataclass(frozen=True)
class Estimate:
    """The model's output for one image, kept in the session so the controls after it are live."""

    nearness: np.ndarray  # float32 HxW, larger = nearer, at the image's size
    resolution: int  # what it was estimated at (the normal map's gradients are scaled to it)
    notes: tuple[str, ...] = ()  # shown in the status line (e.g. the network input's long-side cap)
    model: str = DEFAULT_MODEL  # which registry model made it (the status line names it)


def load(model: str = DEFAULT_MODEL, download: DownloadProgress | None = None) -> Estimator:
    """The process-wide estimator of `model` (loaded on first use, every other model released).
    Raises WeightsError when the weights are missing, naming every folder searched; `download`
    hears of a weights download."""
    return registry.get_estimator(model, model_settings(model), download)


def estimate(image: np.ndarray, resolution: int, estimator: Estimator | None = None,
             model: str = DEFAULT_MODEL) -> Estimate:
    """Run `model` on an RGB(A)/gray uint8 image (DepthError for a bad image or resolution)."""
    estimator = estimator or load(model)
    done = estimator.estimate(image, resolution=int(resolution))
    return Estimate(np.asarray(done.nearness, dtype=np.float32), int(resolution), done.notes, model)


def render(result: Estimate, controls: MidasControls) -> MidasMaps:
    nearness, bg = result.nearness, float(controls.bg_threshold)
    depth = nearness_to_depth(nearness, bg)
    normal = np.ascontiguousarray(normal_map(nearness, float(controls.a), bg, result.resolution))
    options = controls.options()
    try:
        depth_map = make_depth_map(depth, options)
        levels, mask = depth_map.levels, depth_map.mask_image()
        background = float(np.mean(depth_map.background))
    except DepthError:  # the threshold removed every pixel: all background
        levels = np.full(depth.shape, options.top if options.invert else 0, options.dtype)
        mask = np.zeros(depth.shape, np.uint8)
        background = 1.0
    return MidasMaps(levels, normal.astype(np.uint8, copy=False), mask, background)


def write_maps(maps: MidasMaps, folder: Path, mask: bool, stem: str = OUTPUT_STEM) -> list[str]:
    """`<stem>.depth.png`, `<stem>.normal.png` (and `<stem>.mask.png`), written atomically."""
    files = {"depth": encode_png(maps.levels), "normal": encode_png(maps.normal)}
    if mask:
        files["mask"] = encode_png(maps.mask, bilevel=True)
    return [str(write_bytes_atomic(folder / f"{stem}.{name}.png", data)) for name, data in files.items()]
