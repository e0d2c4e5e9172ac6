"""A synthetic depth render: the demo's input, and realistic data for tests and benchmarks.

Shaped like the seed author's Daz scenes (scene units are cm): a subject near the camera, a
second subject further back, a back wall, and a strip of 'sky' where no surface was hit.
"""

from __future__ import annotations

import numpy as np

#: Depths in scene units (cm), as a Daz Studio render would have them.
SUBJECT_DEPTH = (190.0, 250.0)
SECOND_SUBJECT_DEPTH = (300.0, 330.0)
WALL_DEPTH = 600.0


def synthetic_scene(width: int = 768, height: int = 512, sky: float = np.inf) -> np.ndarray:
    """float32 HxW depth: wall slightly tilted, two ellipsoid subjects, `sky` above the wall."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    depth = WALL_DEPTH + 20.0 * u  # a wall, a little oblique so it is not one flat value
    depth = np.where(v < 0.12, np.float32(sky), depth).astype(np.float32)

    def ellipsoid(cx: float, cy: float, rx: float, ry: float, near: float, far: float) -> None:
        r2 = ((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2
        inside = r2 < 1.0
        surface = far - (far - near) * np.sqrt(np.clip(1.0 - r2, 0.0, 1.0))
        np.copyto(depth, np.minimum(depth, surface), where=inside)

    ellipsoid(0.64, 0.55, 0.13, 0.38, *SECOND_SUBJECT_DEPTH)
    ellipsoid(0.36, 0.60, 0.16, 0.42, *SUBJECT_DEPTH)
    return np.ascontiguousarray(depth, dtype=np.float32)
