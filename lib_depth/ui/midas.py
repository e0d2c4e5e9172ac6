"""The MiDaS tab's work: estimate once, then re-render depth, normal and mask as controls move.

The model runs only when the image or `resolution` changes; `bg_threshold`, `a` and the
post-processing are cheap functions of the stored nearness. `lib_depth.midas` imports torch only
when the model is loaded: importing the tab stays torch-free (gradio 4 check, EXR users).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..depth.errors import DepthError
from ..depth.png import encode_png, write_bytes_atomic
from ..depth.process import make_depth_map
from ..midas import get_estimator, nearness_to_depth, normal_map
from ..midas.maps import DEFAULT_A, DEFAULT_BG_THRESHOLD, DEFAULT_RESOLUTION, MAX_A
from . import hosting
from .controls import PostControls, control, slider
from .exr import to_display

if TYPE_CHECKING:
    from ..midas import MidasEstimator, MidasSettings

#: ControlNet's and the ComfyUI node's ranges and defaults for these parameters.
RESOLUTION = (64, 2048, 64, DEFAULT_RESOLUTION)  # minimum, maximum, step, default
BG_THRESHOLD = (0.0, 1.0, 0.01, DEFAULT_BG_THRESHOLD)
NORMAL_A = (0.0, round(MAX_A, 2), 0.05, round(DEFAULT_A, 2))
OUTPUT_STEM = "image"

#: (bytes done, bytes total or None), as midas_weights reports a download.
DownloadProgress = Callable[[int, "int | None"], None]


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
    """`settings()` for one registry model (the HTTP API serves every model): a weights *file* named
    on the command line is MiDaS's; a folder is searched by each model for its own files."""
    chosen = settings()
    if model == "midas" or chosen.weights is None or Path(chosen.weights).is_dir():
        return chosen
    return replace(chosen, weights=None, search_dirs=hosting.current().midas_settings().search_dirs)


@dataclass(frozen=True)
class Estimate:
    """The model's output for one image, kept in the session so the controls after it are live."""

    nearness: np.ndarray  # float32 HxW, larger = nearer, at the image's size
    resolution: int  # what it was estimated at (the normal map's gradients are scaled to it)
    notes: tuple[str, ...] = ()  # shown in the status line (e.g. the network input's long-side cap)


def load(download: DownloadProgress | None = None) -> MidasEstimator:
    """The process-wide estimator (loaded on first use). Raises WeightsError when the weights are
    missing, naming every folder searched; `download` hears of a weights download."""
    return get_estimator(settings(), download)


def estimate(image: np.ndarray, resolution: int, estimator: MidasEstimator | None = None) -> Estimate:
    """Run MiDaS on an RGB(A)/gray uint8 image (DepthError for a bad image or resolution)."""
    estimator = estimator or load()
    done = estimator.estimate(image, resolution=int(resolution))
    return Estimate(np.asarray(done.nearness, dtype=np.float32), int(resolution), done.notes)


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
