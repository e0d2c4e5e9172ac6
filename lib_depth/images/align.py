"""Align MiDaS frames: each frame's relative nearness to its predecessor, by a robust scale and shift.

Why. MiDaS estimates nearness only up to an unknown scale and shift per image, and the per-image
min-max normalisation (`maps.normalised_nearness`) picks them from the frame's own extremes, so
an object that moves (and changes the nearest or farthest value) shifts the level of every still
pixel: the depth video flickers. A sequence instead fits frame k's raw nearness to frame k-1's
aligned nearness on the pixels both consider valid, and only then applies one shared mapping.

Why robust. The moving object (and whatever the network changes around it) disagrees between
the two frames; a plain least-squares fit would let it pull the scale. The fit starts from medians
(scale from the ratio of median absolute deviations, shift from the medians), then refits by least
squares on the pixels whose residual is within `TRIM` robust standard deviations, a few times.
Everything is vectorised numpy in float64 and has no randomness: the same frames, the same fit.

The chain is defined in the units of the first frame: its normalised nearness (0..1, 1 = nearest)
is the reference, so `bg_threshold` keeps the meaning it has for a single image in frame 0, and a
still pixel keeps its aligned value (hence its level) in every later frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..midas.maps import normalised_nearness

#: residuals beyond TRIM * 1.4826 * MAD are outliers (1.4826 * MAD = sigma for a normal distribution)
TRIM = 2.5
ITERATIONS = 4
#: fewer jointly valid pixels than this (or than this share of the frame) cannot fix a scale
MIN_PIXELS = 64
MIN_SHARE = 0.01


@dataclass(frozen=True)
class Fit:
    """aligned = scale * nearness + shift; `pixels` the inliers of the last refit (0: no fit)."""

    scale: float
    shift: float
    pixels: int

    def apply(self, nearness: np.ndarray) -> np.ndarray:
        return (np.asarray(nearness, np.float64) * self.scale + self.shift).astype(np.float32)


def _mad(values: np.ndarray) -> float:
    return float(np.median(np.abs(values - np.median(values))))


def fit_scale_shift(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> Fit | None:
    """The robust (scale, shift) that maps `source` onto `target` on `mask`, or None when the
    pixels cannot decide it (too few, or `source` flat there, or a scale that is not positive:
    nearness that turned over is no alignment)."""
    x = np.asarray(source, np.float64)[mask]
    y = np.asarray(target, np.float64)[mask]
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if x.size < max(MIN_PIXELS, int(MIN_SHARE * np.size(mask))):
        return None
    mad_x = _mad(x)
    if mad_x <= 0:
        spread = float(np.std(x))
        if spread <= 0:
            return None
        scale = float(np.std(y)) / spread
    else:
        scale = _mad(y) / mad_x
    shift = float(np.median(y - scale * x))
    inliers = np.ones(x.size, bool)
    for _ in range(ITERATIONS):
        residual = y - (scale * x + shift)
        sigma = 1.4826 * _mad(residual)
        # a floor: an exact fit has sigma 0, and float noise must not reject everything
        limit = TRIM * max(sigma, 1e-9 * (abs(float(np.median(np.abs(y)))) + 1e-12))
        inliers = np.abs(residual) <= limit
        if inliers.sum() < MIN_PIXELS:
            break
        xi, yi = x[inliers], y[inliers]
        mx, my = float(xi.mean()), float(yi.mean())
        var = float(np.mean((xi - mx) ** 2))
        if var <= 0:
            break
        scale = float(np.mean((xi - mx) * (yi - my))) / var
        shift = my - scale * mx
    if not (np.isfinite(scale) and np.isfinite(shift)) or scale <= 0:
        return None
    return Fit(scale, shift, int(inliers.sum()))


@dataclass
class Aligner:
    """Feeds frames in order; keeps only the previous frame's aligned nearness and validity."""

    bg_threshold: float
    previous: np.ndarray | None = None  # aligned nearness of the last frame (reference units)
    previous_valid: np.ndarray | None = None
    resets: int = 0  # frames that could not be fitted and started the chain again (own normalisation)

    def resume(self, depth: np.ndarray) -> None:
        """Continue after a frame aligned earlier (its `depth` from `to_depth`): resume a run."""
        valid = np.isfinite(depth)
        self.previous = np.where(valid, np.float32(1.0) - depth, np.float32(0.0)).astype(np.float32)
        self.previous_valid = valid

    def add(self, nearness: np.ndarray) -> tuple[np.ndarray, Fit | None]:
        """Frame k's nearness -> its aligned nearness (frame 0's normalised units), and the fit used
        (None for the first frame, or a reset to the frame's own normalisation)."""
        own = normalised_nearness(nearness)
        fit = None
        if self.previous is not None and self.previous_valid is not None and self.previous.shape == own.shape:
            mask = self.previous_valid & (own >= self.bg_threshold) & np.isfinite(nearness)
            fit = fit_scale_shift(nearness, self.previous, mask)
            if fit is None:
                self.resets += 1
        aligned = own if fit is None else fit.apply(nearness)
        aligned = np.where(np.isfinite(nearness), aligned, np.float32(0.0)).astype(np.float32)
        self.previous = aligned
        self.previous_valid = (aligned >= self.bg_threshold) & np.isfinite(nearness)
        return aligned, fit

    def to_depth(self, aligned: np.ndarray) -> np.ndarray:
        """Aligned nearness -> depth for `lib_depth.depth` (larger = farther; NaN = background below
        `bg_threshold` in frame 0's units), as `maps.nearness_to_depth` does for one image."""
        depth = (np.float32(1.0) - aligned).astype(np.float32)
        depth[aligned < self.bg_threshold] = np.nan
        return depth
