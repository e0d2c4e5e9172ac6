"""The benchmarks' picture: 640x360 RGB, a red ramp left to right and a green one top to bottom,
with seeded noise so that each round's input is new (ControlNet caches its results by input).
`disc=True` puts a blue disc on it: a shape whose place and polarity can be checked in a map."""

from __future__ import annotations

import numpy as np

HEIGHT, WIDTH = 360, 640


def picture(seed: int, disc: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    blue = 60 + ((xx - 420) ** 2 + (yy - 200) ** 2 < 90**2) * 160 if disc else np.full_like(xx, 90)
    img = np.stack([xx * 255 // WIDTH, yy * 255 // HEIGHT, blue], axis=2)
    return np.clip(img + rng.integers(0, 30, (HEIGHT, WIDTH, 3)), 0, 255).astype(np.uint8)
