"""Joining windows, as the official `infer_video_depth` does (`video_depth.py`, `utils/util.py`):
pure numpy, float32 throughout like the official arrays.

Each window after the first is brought to the previous ones by a least-squares scale and shift
fitted on two key frames it shares with them (its first two slots hold key frames 0 and 12 of the
previous window: video frame 0, always, and the previous window's frame 12), against the reference
maps those frames had (frame 0 of the first window, and the aligned frame 12 of the previous window).
Its slots 2-9 are frames the previous window also estimated: the two estimates are cross-faded
linearly over those 8 frames.
"""

from __future__ import annotations

import numpy as np


def scale_and_shift(prediction: np.ndarray, target: np.ndarray) -> tuple[np.float32, np.float32]:
    """util.py `compute_scale_and_shift_full` with an all-ones mask: the least-squares (s, t) of
    s * prediction + t ~ target, (1, 0) when the system is singular."""
    p, t = prediction.astype(np.float32), target.astype(np.float32)
    a_00, a_01, a_11 = np.sum(p * p), np.sum(p), np.sum(np.ones_like(p))
    b_0, b_1 = np.sum(p * t), np.sum(t)
    det = a_00 * a_11 - a_01 * a_01
    if det == 0:
        return np.float32(1), np.float32(0)
    return (a_11 * b_0 - a_01 * b_1) / det, (-a_01 * b_0 + a_00 * b_1) / det


def rescaled(depth: np.ndarray, scale: np.float32, shift: np.float32) -> np.ndarray:
    """scale * depth + shift, negatives set to 0 (the official `new_depth[new_depth < 0] = 0`)."""
    out = depth * scale + shift
    out[out < 0] = 0
    return out


def cross_fade(before: list[np.ndarray], after: list[np.ndarray]) -> list[np.ndarray]:
    """util.py `get_interpolate_frames`: weights of `after` from 0 to 1 in equal steps."""
    step = 1.0 / (len(before) - 1)
    weights = [0.0] + [i * step for i in range(1, len(before) - 1)] + [1.0]
    return [b * (1 - w) + a * w for b, a, w in zip(before, after, weights, strict=True)]
