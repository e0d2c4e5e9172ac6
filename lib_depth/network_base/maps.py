"""MiDaS nearness -> what the rest of Depth Tools draws: the depth `lib_depth.process` expects and
ControlNet's normal map. Pure numpy/OpenCV: no torch."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..depth.errors import DepthError, OptionsError

#: The seed node's (and ControlNet's depth_midas/normal_midas) parameters, shared by the command line,
#: the tab and the preprocessors.
DEFAULT_RESOLUTION = 512
DEFAULT_BG_THRESHOLD = 0.1
DEFAULT_A = 2 * math.pi
MAX_A = 5 * math.pi


def _check_threshold(bg_threshold: float) -> float:
    if not 0.0 <= bg_threshold <= 1.0:
        raise OptionsError(f"bg_threshold must be between 0 and 1, got {bg_threshold}")
    return float(bg_threshold)


def normalised_nearness(nearness: np.ndarray) -> np.ndarray:
    """Min-max normalised to [0, 1] (1 = nearest), as ControlNet's bg_th compares it; flat -> 1."""
    n = np.asarray(nearness, dtype=np.float32)
    finite = np.isfinite(n)
    if not finite.any():
        raise DepthError("the depth estimate has no finite value")
    lo = float(np.min(n, where=finite, initial=np.inf))
    hi = float(np.max(n, where=finite, initial=-np.inf))
    out = np.ones_like(n) if hi <= lo else (n - np.float32(lo)) * np.float32(1.0 / (hi - lo))
    out[~finite] = 0.0
    return out


def nearness_to_depth(nearness: np.ndarray, bg_threshold: float) -> np.ndarray:
    """Depth for `lib_depth.process`: 1 - normalised nearness (larger = farther), NaN where the
    normalised nearness is below `bg_threshold` (background: the far level, black in the map).

    Linear in nearness, so the default map equals ControlNet's depth_midas (rounded, not truncated).
    """
    bg_threshold = _check_threshold(bg_threshold)
    near = normalised_nearness(nearness)
    depth = np.float32(1.0) - near
    depth[near < bg_threshold] = np.nan
    return depth


def normal_map(nearness: np.ndarray, a: float, bg_threshold: float, resolution: int | None = None) -> np.ndarray:
    """ControlNet's normal_midas: Sobel x/y of the nearness, z = `a`, flat (x = y = 0) where the
    normalised nearness is below `bg_threshold`; uint8 HxWx3 with channels (z, y, x) as it returns.

    ControlNet takes the gradients at the network's resolution; give `resolution` (the one the
    nearness was estimated at) and gradients of a larger or smaller array are scaled to match, so
    the look does not depend on the input's size.
    """
    bg_threshold = _check_threshold(bg_threshold)
    depth = np.nan_to_num(np.asarray(nearness, dtype=np.float32))
    x = cv2.Sobel(depth, cv2.CV_32F, 1, 0, ksize=3)
    y = cv2.Sobel(depth, cv2.CV_32F, 0, 1, ksize=3)
    if resolution:
        if resolution < 1:
            raise DepthError(f"resolution must be positive, got {resolution}")
        scale = np.float32(min(depth.shape) / resolution)
        x *= scale
        y *= scale
    background = normalised_nearness(nearness) < bg_threshold
    x[background] = 0
    y[background] = 0
    normal = np.stack([x, y, np.full_like(x, a)], axis=2)
    length = np.sqrt(np.sum(normal**2, axis=2, keepdims=True))
    flat = length[:, :, 0] == 0  # a = 0 on a flat area: no direction; face the viewer
    normal[flat] = (0.0, 0.0, 1.0)
    length[flat] = 1.0
    normal /= length
    # ControlNet truncates (astype) and reverses the channels: kept identical, models were trained on it.
    return np.ascontiguousarray((normal * 127.5 + 127.5).clip(0, 255).astype(np.uint8)[:, :, ::-1])
