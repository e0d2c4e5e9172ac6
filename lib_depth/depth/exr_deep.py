"""Deep EXR (OpenEXR 2: a list of samples per pixel) -> flat depth: the front-most sample.

A deep pixel holds every surface along its ray; a depth map wants the nearest one, so each
pixel takes the value of its sample with the smallest Z. A pixel with no sample saw nothing:
background (NaN). Vectorised over all samples at once (one sort), not a per-pixel min.
"""

from __future__ import annotations

import numpy as np


def _counts(samples: np.ndarray) -> np.ndarray:
    return np.fromiter((0 if s is None else len(s) for s in samples.flat), np.int64, samples.size)


def _joined(samples: np.ndarray) -> np.ndarray:
    return np.concatenate([np.asarray(s, np.float32).ravel() for s in samples.flat if s is not None and len(s)])


def front_sample(values: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
    """`values` (HxW object array of per-pixel sample arrays) at each pixel's front-most sample,
    ordered by `z` (the same layout; `values` itself when None), as float32 HxW; NaN where empty.

    Raises ValueError when `values` and `z` disagree on how many samples a pixel has.
    """
    z = values if z is None else z
    if values.shape != z.shape:
        raise ValueError(f"sample arrays of shapes {values.shape} and {z.shape}")
    counts = _counts(z)
    out = np.full(values.shape, np.nan, np.float32)
    occupied = counts > 0
    if not occupied.any():
        return out
    if z is not values and not np.array_equal(counts, _counts(values)):
        raise ValueError("the depth and value channels hold different sample counts")
    depths = _joined(z)
    picked = depths if z is values else _joined(values)
    pixel = np.repeat(np.arange(int(occupied.sum())), counts[occupied])
    order = np.lexsort((depths, pixel))  # by pixel, then nearest first (NaN depths sort last)
    starts = np.concatenate(([0], np.cumsum(counts[occupied])[:-1]))
    out.ravel()[occupied] = picked[order[starts]]
    return out
