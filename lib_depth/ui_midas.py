"""The MiDaS tab's work: estimate once, then re-render depth, normal and mask as controls move.

The model runs only when the image or `resolution` changes; `bg_threshold`, `a` and the
post-processing are cheap functions of the stored nearness. `midas` (torch) is imported inside
the functions that need it: importing the tab must stay torch-free (gradio 4 check, EXR users).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DepthError
from .png import encode_png, write_bytes_atomic
from .process import DepthOptions, make_depth_map
from .ui_exr import BITS_CHOICES, to_display

#: ControlNet's and the ComfyUI node's ranges and defaults for these parameters.
RESOLUTION = (64, 2048, 64, 512)  # minimum, maximum, step, default
BG_THRESHOLD = (0.0, 1.0, 0.01, 0.1)
NORMAL_A = (0.0, round(5 * math.pi, 2), 0.05, round(2 * math.pi, 2))
OUTPUT_STEM = "image"


@dataclass(frozen=True)
class MidasControls:
    """Everything after the model: thresholds and the same post-processing as the EXR tab."""

    bg_threshold: float = BG_THRESHOLD[3]
    a: float = NORMAL_A[3]
    compress: bool = False
    noise: bool = False
    seed: float | None = 0
    mask: bool = False
    invert: bool = False
    bits: str = BITS_CHOICES[0]

    def options(self) -> DepthOptions:
        return DepthOptions(
            compress=bool(self.compress),
            noise=bool(self.noise),
            invert=bool(self.invert),
            bits=16 if self.bits == BITS_CHOICES[1] else 8,
            seed=int(self.seed or 0),
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


def as_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 from what an image upload gives (gray, RGBA, other dtypes)."""
    array = np.asarray(image)
    if array.dtype != np.uint8:
        array = np.clip(np.nan_to_num(array), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 4:
        alpha = array[:, :, 3:4].astype(np.float32) / 255.0
        array = np.rint(array[:, :, :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)  # on white
    if array.ndim != 3 or array.shape[2] != 3 or array.size == 0:
        raise DepthError(f"expected an RGB image, got an array of shape {array.shape}")
    return np.ascontiguousarray(array)


def estimate(image: np.ndarray, resolution: int) -> np.ndarray:
    """float32 HxW nearness (larger = nearer) at the image's size. Raises DepthError (WeightsError
    when the weights are missing, naming every folder searched)."""
    from . import host, midas

    estimator = midas.get_estimator(host.midas_settings())
    return np.asarray(estimator(as_rgb(image), resolution=int(resolution)), dtype=np.float32)


def render(nearness: np.ndarray, controls: MidasControls) -> MidasMaps:
    from . import midas

    depth = midas.nearness_to_depth(nearness, float(controls.bg_threshold))
    normal = np.ascontiguousarray(midas.normal_map(nearness, float(controls.a), float(controls.bg_threshold)))
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
